//! Pickup tokens: HQ signs them, any node verifies them offline, so their
//! text is a wire format like the others and is pinned here.
#![allow(clippy::unwrap_used)]

mod common;

use ed25519_dalek::SigningKey;
use protocol::pickup::{self, PickupClaim, TokenError};

/// HQ's key in these tests (RFC 8032 seed 07 07 … 07).
fn hq() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn claim() -> PickupClaim {
    PickupClaim {
        store_id: common::store_id(),
        order_id: common::order_id(),
        code: "K7P2QX".to_owned(),
        issued_ms: 1_717_171_717_171,
    }
}

/// The token of `claim()` signed by `hq()`:
/// `SNP1.` base64url(claim) `.` base64url(signature), no padding, where the
/// claim is postcard without a format-version byte:
///   0973746f72652d303432         store_id "store-042"
///   0c4f52442d313030312e625f32   order_id "ORD-1001.b_2"
///   064b3750325158               code "K7P2QX"
///   b388a4fbfc31                 issued_ms 1_717_171_717_171
/// (36 bytes, 48 base64 characters), and the signature is Ed25519 over
/// "storenode pickup token v1\0" followed by those 36 bytes. The signature
/// was computed independently of this crate (Python `cryptography`,
/// Ed25519 is deterministic), so this pins the signing input too.
const TOKEN: &str = concat!(
    "SNP1.",
    "CXN0b3JlLTA0MgxPUkQtMTAwMS5iXzIGSzdQMlFYs4ik-_wx",
    ".",
    "bvtLg5nLjy4J-1qYS9v6j-6QNoklt7CFyiOlvKqHi0nkXvtVHdww43p8qgzvXvmwCAtCNRqVBKeGIH6YmA7TAw",
);

/// `hq()`'s public key as `key_to_text` writes it (base64url, 43 chars).
const HQ_KEY: &str = "6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw";

#[test]
fn golden_token() {
    assert_eq!(pickup::sign(&hq(), &claim()), TOKEN);
    assert_eq!(pickup::verify(TOKEN, &[hq().verifying_key()]), Ok(claim()));
    assert_eq!(pickup::peek(TOKEN), Ok(claim()));
}

#[test]
fn golden_key_text() {
    assert_eq!(pickup::key_to_text(&hq().verifying_key()), HQ_KEY);
    assert_eq!(pickup::key_from_text(HQ_KEY), Ok(hq().verifying_key()));
    // Config files end lines with newlines.
    assert_eq!(
        pickup::key_from_text(&format!(" {HQ_KEY}\n")),
        Ok(hq().verifying_key())
    );
}

#[test]
fn any_trusted_key_verifies() {
    let node = SigningKey::from_bytes(&[9; 32]);
    let other = SigningKey::from_bytes(&[8; 32]);
    let trusted = [node.verifying_key(), hq().verifying_key()];
    assert_eq!(pickup::verify(TOKEN, &trusted), Ok(claim()));
    let by_node = pickup::sign(&node, &claim());
    assert_eq!(pickup::verify(&by_node, &trusted), Ok(claim()));
    assert_eq!(
        pickup::verify(TOKEN, &[other.verifying_key()]),
        Err(TokenError::BadSignature)
    );
    assert_eq!(pickup::verify(TOKEN, &[]), Err(TokenError::BadSignature));
}

/// A scanner may add a line end; the token still verifies.
#[test]
fn surrounding_whitespace_is_ignored() {
    let key = [hq().verifying_key()];
    assert_eq!(pickup::verify(&format!("{TOKEN}\r\n"), &key), Ok(claim()));
    assert_eq!(pickup::verify(&format!("  {TOKEN}"), &key), Ok(claim()));
}

#[test]
fn tampering_is_refused() {
    let key = [hq().verifying_key()];
    let (head, sig) = TOKEN.rsplit_once('.').unwrap();

    // A valid claim for another order, with HQ's signature of this one.
    let mut forged = claim();
    forged.order_id = protocol::OrderId::new("ORD-1002").unwrap();
    let forged_head = pickup::sign(&SigningKey::from_bytes(&[1; 32]), &forged);
    let (forged_head, _) = forged_head.rsplit_once('.').unwrap();
    let spliced = format!("{forged_head}.{sig}");
    assert_eq!(pickup::peek(&spliced), Ok(forged));
    assert_eq!(
        pickup::verify(&spliced, &key),
        Err(TokenError::BadSignature)
    );

    // One bit of the signature.
    let mut sig_bytes = sig.as_bytes().to_vec();
    sig_bytes[10] = if sig_bytes[10] == b'A' { b'B' } else { b'A' };
    let flipped = format!("{head}.{}", String::from_utf8(sig_bytes).unwrap());
    assert_eq!(
        pickup::verify(&flipped, &key),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn malformed_tokens() {
    let key = [hq().verifying_key()];
    let (head, sig) = TOKEN.rsplit_once('.').unwrap();
    let body = head.strip_prefix("SNP1.").unwrap();
    let cases = [
        ("empty", String::new()),
        ("a short code", "K7P2QX".to_owned()),
        ("prefix only", "SNP1".to_owned()),
        ("other version", format!("SNP2.{body}.{sig}")),
        ("lower-case prefix", format!("snp1.{body}.{sig}")),
        ("no signature", format!("SNP1.{body}")),
        ("empty signature", format!("SNP1.{body}.")),
        ("a fourth part", format!("{TOKEN}.x")),
        ("padded base64", format!("SNP1.{body}.{sig}==")),
        ("standard base64 alphabet", TOKEN.replace('-', "+")),
        (
            "signature one byte short",
            format!("SNP1.{body}.{}", &sig[..83]),
        ),
        ("claim cut short", format!("SNP1.{}.{sig}", &body[..40])),
        ("claim not postcard", format!("SNP1.AAAA.{sig}")),
    ];
    for (name, token) in cases {
        assert_eq!(
            pickup::verify(&token, &key),
            Err(TokenError::Malformed),
            "{name}: {token}"
        );
        assert_eq!(pickup::peek(&token), Err(TokenError::Malformed), "{name}");
    }
}

#[test]
fn tokens_and_short_codes_are_told_apart() {
    assert!(pickup::is_token(TOKEN));
    // As `verify` does, with what a scanner adds around it.
    assert!(pickup::is_token(&format!(" {TOKEN}\r\n")));
    for code in ["K7P2QX", "", "SNP1", "snp1.x.y", " K7P2QX\n", "SNP1 .x.y"] {
        assert!(!pickup::is_token(code), "{code}");
    }
}

#[test]
fn bad_key_text() {
    for (text, want) in [
        ("", "an Ed25519 public key is 32 bytes"),
        (&HQ_KEY[..42], "not base64url"),
        (&HQ_KEY[..40], "an Ed25519 public key is 32 bytes"),
        (
            "6kpsY+KcUgq/9VB7Ey7F+ZVHdq6/vnuSQh7qaRRG0iw",
            "not base64url",
        ),
    ] {
        match pickup::key_from_text(text) {
            Err(message) if message.contains(want) => {}
            other => panic!("{text:?}: got {other:?}"),
        }
    }
}

#[test]
fn error_messages_for_the_desk() {
    let cases = [
        (
            TokenError::Malformed,
            "not a pickup code this store can read",
        ),
        (
            TokenError::BadSignature,
            "pickup code signature does not verify (tampered, or signed by an unknown key)",
        ),
        (
            TokenError::OtherStore("store-7".to_owned()),
            "pickup code is for store store-7, not this one",
        ),
        (
            TokenError::OtherOrder("ORD-2".to_owned()),
            "pickup code is for order ORD-2, not this one",
        ),
    ];
    for (error, want) in cases {
        assert_eq!(error.to_string(), want);
    }
}
