//! Staff PINs: generated, hashed and checked with Argon2id.
//!
//! OWASP's parameters for Argon2id (19 MiB, 2 passes, 1 lane), keyed with
//! the node's staff secret (Argon2's `secret` input, a "pepper"): the log
//! holds the PIN hashes so that staff accounts are a projection like
//! everything else, and it travels (to backups, to HQ). A PIN has at most
//! 10^8 values, so a hash alone would be cheap to reverse; without the
//! 32-byte secret, which never leaves `<data_dir>/staff-secret`, it is not.
//!
//! Hashing costs ≈40 ms of one core on purpose: callers run it on the
//! blocking pool, never on the writer thread or an async worker.
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;

/// Shortest and longest PIN.
pub const MIN_LEN: usize = 4;
pub const MAX_LEN: usize = 8;
/// Length of the PINs the node makes up.
pub const GENERATED_LEN: usize = 6;

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("a PIN is {MIN_LEN} to {MAX_LEN} digits")]
    Format,
    #[error("hashing the PIN failed: {0}")]
    Hash(String),
}

/// Hashes and checks PINs with the node's staff secret.
#[derive(Clone)]
pub struct PinHasher {
    secret: [u8; 32],
}

impl std::fmt::Debug for PinHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinHasher(..)")
    }
}

impl PinHasher {
    pub fn new(secret: [u8; 32]) -> Self {
        PinHasher { secret }
    }

    fn argon2(&self) -> Result<Argon2<'_>, PinError> {
        let params =
            Params::new(19 * 1024, 2, 1, None).map_err(|e| PinError::Hash(e.to_string()))?;
        Argon2::new_with_secret(&self.secret, Algorithm::Argon2id, Version::V0x13, params)
            .map_err(|e| PinError::Hash(e.to_string()))
    }

    /// The PHC string of `pin` (a fresh random salt each time).
    pub fn hash(&self, pin: &str) -> Result<String, PinError> {
        check(pin)?;
        let salt: [u8; 16] = rand::random();
        let hash = self
            .argon2()?
            .hash_password_with_salt(pin.as_bytes(), &salt)
            .map_err(|e| PinError::Hash(e.to_string()))?;
        Ok(hash.to_string())
    }

    /// Whether `pin` is the one `phc` was made from.
    pub fn verify(&self, pin: &str, phc: &str) -> bool {
        let Ok(argon2) = self.argon2() else {
            return false;
        };
        check(pin).is_ok() && argon2.verify_password(pin.as_bytes(), phc).is_ok()
    }

    /// Spend the time a real check takes, for an unknown staff id: the
    /// answer and its timing must not tell an unknown id from a wrong PIN.
    pub fn verify_nobody(&self, pin: &str) {
        const NOBODY: &str =
            "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let _ = self.verify(pin, NOBODY);
    }
}

/// A PIN is 4 to 8 digits.
pub fn check(pin: &str) -> Result<(), PinError> {
    if (MIN_LEN..=MAX_LEN).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(PinError::Format)
    }
}

/// A random PIN of [`GENERATED_LEN`] digits, not a trivially guessed one
/// (all the same digit, or a straight run).
pub fn generate() -> String {
    let mut rng = rand::thread_rng();
    loop {
        let pin: String = (0..GENERATED_LEN)
            .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
            .collect();
        if !weak(&pin) {
            return pin;
        }
    }
}

fn weak(pin: &str) -> bool {
    let b = pin.as_bytes();
    let same = b.windows(2).all(|w| w[0] == w[1]);
    let up = b.windows(2).all(|w| w[1] == w[0] + 1);
    let down = b.windows(2).all(|w| w[0] == w[1] + 1);
    same || up || down
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = PinHasher::new([7; 32]);
        let phc = h.hash("482913").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify("482913", &phc));
        assert!(!h.verify("482914", &phc));
        // Another node's secret cannot check it: the hash alone is useless.
        assert!(!PinHasher::new([8; 32]).verify("482913", &phc));
        assert!(!h.verify("482913", "not a hash"));
        h.verify_nobody("1234");
    }

    #[test]
    fn pins_are_four_to_eight_digits() {
        for (pin, ok) in [
            ("1234", true),
            ("12345678", true),
            ("123", false),
            ("123456789", false),
            ("12a4", false),
            ("", false),
        ] {
            assert_eq!(check(pin).is_ok(), ok, "{pin}");
        }
        for _ in 0..200 {
            let p = generate();
            assert!(check(&p).is_ok() && !weak(&p), "{p}");
        }
        assert!(weak("111111") && weak("123456") && weak("654321") && !weak("123457"));
    }
}
