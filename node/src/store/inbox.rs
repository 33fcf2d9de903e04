//! The command inbox (prefix `x`, by scope and command id): each command
//! id a sender used, with the answer it got, so a retry gets the first
//! answer and a different command under the same id is refused. Entries
//! are written in the writer's group commit with the command's events.
use protocol::{codec, CommandReply};
use serde::{Deserialize, Serialize};

use super::{inbox_key, Store, StoreError};

/// A command id already applied, with the answer it got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxEntry {
    /// The encoded command, to tell a retry from a different command
    /// reusing the id.
    pub fingerprint: Vec<u8>,
    pub reply: CommandReply,
    /// When the command was decided (unix ms): entries expire after the
    /// inbox retention.
    pub time_ms: u64,
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
