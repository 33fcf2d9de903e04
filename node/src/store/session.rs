//! Staff sessions: kept in sled so that a restart of the node does not log
//! the store out. Not events: a login is not a fact about the store's
//! business, and a session is touched far too often for the log.
//!
//! The key is the SHA-256 of the session token: reading the database does
//! not give anyone a cookie that works.
use serde::{Deserialize, Serialize};

use super::{key, Store, StoreError};
use protocol::codec;

/// One logged-in staff member on one browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub staff_id: String,
    /// The member's PIN epoch at login: a PIN reset ends the session.
    pub pin_epoch: u32,
    /// Sent back with every state-changing request (forms, scripts).
    pub csrf: String,
    pub created_ms: u64,
    /// Refreshed at most once a minute (to spare the SD card).
    pub seen_ms: u64,
}

fn session_key(token_hash: &[u8; 32]) -> Vec<u8> {
    key(b'n', &[token_hash])
}

impl Store {
    /// Save a session (new or touched). Not flushed on its own: it rides on
    /// the next group commit or [`Store::flush_sessions`].
    pub fn put_session(
        &self,
        token_hash: &[u8; 32],
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        self.tree()
            .insert(session_key(token_hash), codec::encode(record))?;
        Ok(())
    }

    pub fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        let Some(bytes) = self.tree().get(session_key(token_hash))? else {
            return Ok(None);
        };
        // An unreadable session is no session: the member logs in again.
        Ok(codec::decode(&bytes).ok())
    }

    pub fn end_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.tree().remove(session_key(token_hash))?;
        Ok(())
    }

    /// End the sessions `doomed` picks (expired, a disabled member's);
    /// returns how many ended.
    pub fn end_sessions_where(
        &self,
        doomed: impl Fn(&SessionRecord) -> bool,
    ) -> Result<usize, StoreError> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for kv in self.tree().scan_prefix([b'n']) {
            let (k, v) = kv?;
            let end = match codec::decode::<SessionRecord>(&v) {
                Ok(r) => doomed(&r),
                Err(_) => true,
            };
            if end {
                batch.remove(k);
                n += 1;
            }
        }
        if n > 0 {
            self.tree().apply_batch(batch)?;
        }
        Ok(n)
    }

    /// Every session, for the manager's list.
    pub fn sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree().scan_prefix([b'n']) {
            let (_, v) = kv?;
            if let Ok(r) = codec::decode(&v) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Make session changes durable now (sled's flush; a lost session only
    /// means logging in again, so no fdatasync). Blocking.
    pub fn flush_sessions(&self) -> Result<(), StoreError> {
        self.db().flush()?;
        Ok(())
    }
}
