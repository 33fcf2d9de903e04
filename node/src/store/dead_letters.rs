//! Dead letters (prefix `d`, by sequence): what was received and could
//! not be used, kept for the operator — at most [`MAX_DEAD_LETTERS`], and
//! within each sender's allowance (`services::intake`).
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::{key, now_ms, Store, StoreError};

/// Most dead letters kept; older ones are dropped first.
pub const MAX_DEAD_LETTERS: u64 = 10_000;

/// Something received that could not be used, kept for the operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    pub seq: u64,
    pub time_ms: u64,
    pub source: String,
    pub topic: String,
    pub reason: String,
    /// The first bytes of the payload, hex-encoded.
    pub payload_hex: String,
    pub payload_len: usize,
}

impl Store {
    /// Keep something unusable for the operator. Not flushed on its own:
    /// it rides on the next group commit (a dead letter is a diagnostic,
    /// nobody was promised it).
    pub fn dead_letter(
        &self,
        source: &str,
        topic: &str,
        reason: &str,
        payload: &[u8],
    ) -> Result<u64, StoreError> {
        let seq = self.dead_seq.fetch_add(1, Ordering::AcqRel) + 1;
        let shown = &payload[..payload.len().min(256)];
        let letter = DeadLetter {
            seq,
            time_ms: now_ms(),
            source: source.to_string(),
            topic: topic.to_string(),
            reason: reason.to_string(),
            payload_hex: hex::encode(shown),
            payload_len: payload.len(),
        };
        let bytes = serde_json::to_vec(&letter).map_err(|e| StoreError::Corrupt {
            key: "dead letter".into(),
            reason: e.to_string(),
        })?;
        self.tree.insert(key(b'd', &[&seq.to_be_bytes()]), bytes)?;
        if seq > MAX_DEAD_LETTERS {
            self.tree
                .remove(key(b'd', &[&(seq - MAX_DEAD_LETTERS).to_be_bytes()]))?;
        }
        Ok(seq)
    }

    /// The newest dead letters, newest first.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix([b'd']).rev().take(limit) {
            let (_, v) = kv?;
            if let Ok(d) = serde_json::from_slice(&v) {
                out.push(d);
            }
        }
        Ok(out)
    }
}
