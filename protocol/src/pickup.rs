//! Pickup tokens: the QR payload a customer shows at the desk or locker.
//!
//! A token is `SNP1.<claim>.<signature>` (both base64url without padding):
//! the claim names the store, the order and the short code; the signature
//! is Ed25519 over a domain-separation prefix plus the claim bytes. HQ signs
//! the tokens of the orders it routes to a store; a node signs the tokens
//! of orders taken locally with its own key (which HQ trusts). Any node
//! verifies a token offline against the public keys it trusts.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::ids::{OrderId, StoreId};

const PREFIX: &str = "SNP1";
const CONTEXT: &[u8] = b"storenode pickup token v1\0";

/// What a pickup token vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickupClaim {
    pub store_id: StoreId,
    pub order_id: OrderId,
    /// The short code staff can type instead of scanning.
    pub code: String,
    pub issued_ms: u64,
}

/// Why a token was refused, in words for the pickup desk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a pickup code this store can read")]
    Malformed,
    #[error("pickup code signature does not verify (tampered, or signed by an unknown key)")]
    BadSignature,
    #[error("pickup code is for store {0}, not this one")]
    OtherStore(String),
    #[error("pickup code is for order {0}, not this one")]
    OtherOrder(String),
}

/// Sign a claim into a token.
pub fn sign(key: &SigningKey, claim: &PickupClaim) -> String {
    let body = postcard::to_stdvec(claim).unwrap_or_default();
    let sig = key.sign(&signed_bytes(&body));
    format!(
        "{PREFIX}.{}.{}",
        URL_SAFE_NO_PAD.encode(&body),
        URL_SAFE_NO_PAD.encode(sig.to_bytes())
    )
}

/// Read a token's claim without checking the signature (to route it).
pub fn peek(token: &str) -> Result<PickupClaim, TokenError> {
    split(token).map(|(claim, _, _)| claim)
}

/// Verify a token against the trusted keys and return its claim.
pub fn verify(token: &str, trusted: &[VerifyingKey]) -> Result<PickupClaim, TokenError> {
    let (claim, body, sig) = split(token)?;
    let msg = signed_bytes(&body);
    if trusted.iter().any(|k| k.verify(&msg, &sig).is_ok()) {
        Ok(claim)
    } else {
        Err(TokenError::BadSignature)
    }
}

/// Whether `text` looks like a token (rather than a short code).
pub fn is_token(text: &str) -> bool {
    text.trim().starts_with("SNP1.")
}

fn split(token: &str) -> Result<(PickupClaim, Vec<u8>, Signature), TokenError> {
    let mut parts = token.trim().split('.');
    let (Some(PREFIX), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let body = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| TokenError::Malformed)?;
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(sig)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or(TokenError::Malformed)?;
    let claim: PickupClaim = postcard::from_bytes(&body).map_err(|_| TokenError::Malformed)?;
    Ok((claim, body, Signature::from_bytes(&sig)))
}

fn signed_bytes(body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + body.len());
    m.extend_from_slice(CONTEXT);
    m.extend_from_slice(body);
    m
}

/// A public key as text (base64url, 43 characters), for configs and logs.
pub fn key_to_text(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// Parse a public key written by [`key_to_text`].
pub fn key_from_text(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|e| format!("not base64url: {e}"))?
        .try_into()
        .map_err(|_| "an Ed25519 public key is 32 bytes".to_string())?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> PickupClaim {
        PickupClaim {
            store_id: StoreId::new("s1").expect("valid"),
            order_id: OrderId::new("o1").expect("valid"),
            code: "K7P2QX".into(),
            issued_ms: 1,
        }
    }

    #[test]
    fn sign_verify_tamper() {
        let hq = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let token = sign(&hq, &claim());
        assert!(is_token(&token));
        assert_eq!(verify(&token, &[hq.verifying_key()]), Ok(claim()));
        assert_eq!(
            verify(&token, &[other.verifying_key()]),
            Err(TokenError::BadSignature)
        );
        // Change one character of the claim: the signature no longer holds
        // (or the claim no longer decodes).
        let mut chars: Vec<char> = token.chars().collect();
        let i = PREFIX.len() + 3;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(verify(&tampered, &[hq.verifying_key()]).is_err());
        for bad in ["", "SNP1", "SNP1.a.b", "XX.a.b", "SNP1.a.b.c"] {
            assert_eq!(
                verify(bad, &[hq.verifying_key()]),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
        let text = key_to_text(&hq.verifying_key());
        assert_eq!(key_from_text(&text), Ok(hq.verifying_key()));
        assert!(key_from_text("short").is_err());
    }
}
