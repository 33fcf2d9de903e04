//! The command inbox (prefix `x`, by scope and command id): each command
//! id a sender used, with the answer it got, so a retry gets the first
//! answer and a different command under the same id is refused. Entries
//! are written in the writer's group commit with the command's events.
use protocol::{codec, CommandReply};
use serde::{Deserialize, Serialize};

use super::{inbox_key, Store, StoreError};

/// What the inbox keeps of a command to tell a retry from a different
/// command reusing its id: the SHA-256 of its encoding (32 bytes, however
/// large the command; a whole command of `mqtt.max_payload_bytes` would
/// land in one of sled's blob files, which are never fsynced).
pub fn fingerprint(encoded_command: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(encoded_command).to_vec()
}

/// A command id already applied, with the answer it got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxEntry {
    /// [`fingerprint`] of the command (entries written before it was a
    /// hash hold the whole encoded command).
    pub fingerprint: Vec<u8>,
    pub reply: CommandReply,
    /// When the command was decided (unix ms): entries expire after the
    /// inbox retention.
    pub time_ms: u64,
}

impl InboxEntry {
    /// Whether `fp` (a [`fingerprint`]) is this entry's command.
    pub fn same_command(&self, fp: &[u8]) -> bool {
        self.fingerprint == fp
            || (self.fingerprint.len() != 32 && fingerprint(&self.fingerprint) == fp)
    }
}

impl Store {
    pub fn inbox(&self, scope: &str, id: &str) -> Result<Option<InboxEntry>, StoreError> {
        self.tree
            .get(inbox_key(scope, id))?
            .map(|b| {
                codec::decode(&b).map_err(|e| StoreError::Corrupt {
                    key: format!("inbox {scope}/{id}"),
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    /// Forget command ids decided before `cutoff_ms` (a sender retries
    /// within seconds; a year of ids would only wear the disk). A retry
    /// after that is decided again. Returns how many were dropped. Not
    /// flushed on its own: it rides on the next group commit.
    pub fn prune_inbox(&self, cutoff_ms: u64) -> Result<usize, StoreError> {
        let mut batch = sled::Batch::default();
        let mut dropped = 0;
        for kv in self.tree.scan_prefix([b'x']) {
            let (k, v) = kv?;
            match codec::decode::<InboxEntry>(&v) {
                Ok(e) if e.time_ms >= cutoff_ms => {}
                // Old, or unreadable (an older layout): drop it.
                _ => {
                    batch.remove(k);
                    dropped += 1;
                }
            }
        }
        self.prune_hq(cutoff_ms, &mut batch)?;
        self.tree.apply_batch(batch)?;
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (#12): the inbox kept the whole command as its
    /// fingerprint.
    #[test]
    fn the_fingerprint_is_a_hash_and_old_entries_still_match() {
        let big = vec![7u8; 1 << 20];
        let fp = fingerprint(&big);
        assert_eq!(fp.len(), 32);
        let reply = CommandReply {
            id: "c".into(),
            status: protocol::ReplyStatus::Accepted,
            reason: None,
            log_seqs: vec![],
        };
        let new = InboxEntry {
            fingerprint: fp.clone(),
            reply: reply.clone(),
            time_ms: 0,
        };
        let old = InboxEntry {
            fingerprint: big.clone(),
            reply,
            time_ms: 0,
        };
        assert!(new.same_command(&fp) && old.same_command(&fp));
        assert!(!new.same_command(&fingerprint(b"another")));
        assert!(!old.same_command(&fingerprint(b"another")));
    }
}
