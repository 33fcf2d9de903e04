//! Staff accounts from any door (pages, API, command line): the next free
//! staff number and a PIN with its hash. The rules (ids unique, a store
//! keeps a manager) are `domain::staff`'s; hashing is slow on purpose, so
//! it runs on the blocking pool and its result travels in the command.
use crate::pin::{self, PinError, PinHasher};
use crate::store::Store;

/// The first staff number a store hands out.
pub const FIRST_ID: u64 = 1001;

/// The next free staff number: one more than the highest numeric id.
pub fn next_id(store: &Store) -> String {
    let top = store
        .staff_list()
        .iter()
        .filter_map(|m| m.id.parse::<u64>().ok())
        .max()
        .map_or(FIRST_ID, |n| (n + 1).max(FIRST_ID));
    top.to_string()
}

/// The PIN to use: the one given (checked), else a generated one.
fn choose(given: Option<String>) -> Result<String, PinError> {
    match given {
        Some(p) => pin::check(&p).map(|()| p),
        None => Ok(pin::generate()),
    }
}

/// A PIN (the one given, else a generated one) and its hash, hashed on the
/// blocking pool.
pub async fn pin_and_hash(
    pins: &PinHasher,
    given: Option<String>,
) -> Result<(String, String), PinError> {
    let pin = choose(given)?;
    let pins = pins.clone();
    let p = pin.clone();
    let hash = tokio::task::spawn_blocking(move || pins.hash(&p))
        .await
        .map_err(|e| PinError::Hash(e.to_string()))??;
    Ok((pin, hash))
}

/// The same, for the command line (no runtime).
pub fn pin_and_hash_blocking(
    pins: &PinHasher,
    given: Option<String>,
) -> Result<(String, String), PinError> {
    let pin = choose(given)?;
    let hash = pins.hash(&pin)?;
    Ok((pin, hash))
}
