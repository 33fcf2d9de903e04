//! The key layout: one builder per prefix of the table in the module docs.
use protocol::OrderId;

use super::StoreError;

pub(crate) fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    k.push(prefix);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p);
    }
    k
}

pub(crate) fn log_key(seq: u64) -> Vec<u8> {
    key(b'l', &[&seq.to_be_bytes()])
}

pub(crate) fn order_key(id: &OrderId) -> Vec<u8> {
    key(b'o', &[id.as_str().as_bytes()])
}

pub(crate) fn content_key(id: &OrderId) -> Vec<u8> {
    key(b'k', &[id.as_str().as_bytes()])
}

pub(crate) fn checkpoint_key(consumer: &str) -> Vec<u8> {
    key(b'c', &[consumer.as_bytes()])
}

pub(crate) fn inbox_key(scope: &str, id: &str) -> Vec<u8> {
    key(b'x', &[scope.as_bytes(), id.as_bytes()])
}

pub(crate) fn item_key(sku: &str) -> Vec<u8> {
    key(b'i', &[sku.as_bytes()])
}

pub(crate) fn site_key() -> Vec<u8> {
    key(b'g', &[])
}

pub(crate) fn stream_key(id: &OrderId) -> Vec<u8> {
    key(b's', &[id.as_str().as_bytes()])
}

pub(crate) fn chain_key() -> Vec<u8> {
    key(b'm', &[b"chain"])
}

pub(crate) fn staff_key(id: &str) -> Vec<u8> {
    key(b'u', &[id.as_bytes()])
}

pub(super) fn be_u64(bytes: &[u8], what: &str) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            key: what.to_string(),
            reason: format!("expected 8 bytes, found {}", bytes.len()),
        })
}

pub(crate) fn clock_steps_key() -> Vec<u8> {
    key(b'm', &[b"clock_steps"])
}
