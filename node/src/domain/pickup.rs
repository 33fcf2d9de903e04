//! The pickup code: the short code a customer reads out at the desk, the
//! signed token behind it, and the keys that sign and check them. Knows
//! nothing of orders: the hand-over rules (`handover`) and order intake
//! (`order`) use it.
use ed25519_dalek::{SigningKey, VerifyingKey};
use protocol::pickup::{self as token, PickupClaim, TokenError};
use protocol::{OrderId, StoreId};
use sha2::{Digest, Sha256};

/// The keys pickup tokens are signed and checked with: the node's own
/// (for orders taken locally) and the HQ keys it trusts.
#[derive(Clone)]
pub struct PickupKeys {
    store_id: StoreId,
    signing: SigningKey,
    trusted: Vec<VerifyingKey>,
}

impl PickupKeys {
    pub fn new(store_id: StoreId, signing: SigningKey, hq: Vec<VerifyingKey>) -> Self {
        let mut trusted = hq;
        trusted.push(signing.verifying_key());
        PickupKeys {
            store_id,
            signing,
            trusted,
        }
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Verify a token offline: a trusted signature, this store, this order.
    pub fn check(&self, token_text: &str, order: &OrderId) -> Result<PickupClaim, TokenError> {
        let claim = token::verify(token_text, &self.trusted)?;
        if claim.store_id != self.store_id {
            return Err(TokenError::OtherStore(claim.store_id.to_string()));
        }
        if claim.order_id != *order {
            return Err(TokenError::OtherOrder(claim.order_id.to_string()));
        }
        Ok(claim)
    }

    /// A short code and signed token for an order taken locally. Pure: the
    /// code is derived from the node's secret, the order and the time.
    pub(crate) fn issue(&self, order: &OrderId, now_ms: u64) -> (String, String) {
        let mut h = Sha256::new();
        h.update(self.signing.to_bytes());
        h.update(order.as_str().as_bytes());
        h.update(now_ms.to_be_bytes());
        let code = short_code(&h.finalize());
        let claim = PickupClaim {
            store_id: self.store_id.clone(),
            order_id: order.clone(),
            code: code.clone(),
            issued_ms: now_ms,
        };
        let t = token::sign(&self.signing, &claim);
        (code, t)
    }
}

/// Whether an HQ-issued short code is usable: 4 to 12 ASCII letters and
/// digits (matched in any letter case).
pub fn valid_code(code: &str) -> bool {
    (4..=12).contains(&code.len()) && code.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Six characters a person reads out without confusion (no 0/O, 1/I).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

fn short_code(hash: &[u8]) -> String {
    hash.iter()
        .take(6)
        .map(|b| CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char)
        .collect()
}
