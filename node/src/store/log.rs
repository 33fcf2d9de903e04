//! The log: entries by position, the hash chain's end, the durable head
//! readers stop at, consumers' checkpoints and the node's own streams.
use protocol::{codec, Envelope, OrderId};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;

use super::keys::{be_u64, chain_key, checkpoint_key, log_key, stream_key};
use super::{Store, StoreError};

/// The newest log entry's hash: anchors the hash chain's end, so removing
/// or editing the last entries shows too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: [u8; 32],
}

/// SHA-256 of an encoded log entry: the next entry's `prev_hash`
/// (`protocol::ChainHash::of`, the rule the bridge checks too).
pub fn chain_hash(bytes: &[u8]) -> [u8; 32] {
    protocol::ChainHash::of(bytes).0
}

/// The recorded end of the hash chain in `tree`.
pub(crate) fn chain_head_of(tree: &sled::Tree) -> Result<ChainHead, StoreError> {
    match tree.get(chain_key())? {
        Some(v) => codec::decode(&v).map_err(|e| StoreError::Corrupt {
            key: "chain head".into(),
            reason: e.to_string(),
        }),
        None => Ok(ChainHead::default()),
    }
}

pub(super) fn decode_env(seq: u64, bytes: &[u8]) -> Result<Envelope, StoreError> {
    codec::decode(bytes).map_err(|e| StoreError::Corrupt {
        key: format!("log {seq}"),
        reason: e.to_string(),
    })
}

impl Store {
    /// The last appended log sequence number (0 for an empty log). Entries
    /// up to it are readable; they are durable once their writer group
    /// has been flushed.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// The raw encoded event at `seq`.
    pub fn log_bytes(&self, seq: u64) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.tree.get(log_key(seq))?)
    }

    pub fn event(&self, seq: u64) -> Result<Option<Envelope>, StoreError> {
        self.log_bytes(seq)?
            .map(|b| decode_env(seq, &b))
            .transpose()
    }

    /// Durable events with `from <= log_seq`, at most `limit`, in log
    /// order. Only up to the head: the writer's newest group is in sled
    /// before it is flushed, and a crash then would replace it, so a
    /// reader (the sync link, the outbox) must never see it.
    pub fn events_from(&self, from: u64, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        let mut out = Vec::new();
        for kv in self
            .tree
            .range(log_key(from)..log_key(self.head().saturating_add(1)))
            .take(limit)
        {
            let (k, v) = kv?;
            let seq = be_u64(&k[1..], "log key")?;
            out.push(decode_env(seq, &v)?);
        }
        Ok(out)
    }

    /// Events with `log_seq < before`, newest first, at most `limit`.
    pub fn events_before(&self, before: u64, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        let mut out = Vec::new();
        for kv in self
            .tree
            .range(log_key(1)..log_key(before.clamp(1, self.head().saturating_add(1))))
            .rev()
            .take(limit)
        {
            let (k, v) = kv?;
            let seq = be_u64(&k[1..], "log key")?;
            out.push(decode_env(seq, &v)?);
        }
        Ok(out)
    }

    /// The first log position whose event is at or after `time_ms` (the
    /// head + 1 if none is). Event times follow the log (the writer stamps
    /// them in order), so this is a binary search.
    pub fn first_seq_at(&self, time_ms: u64) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (1u64, self.head() + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.event(mid)? {
                Some(e) if e.time_ms < time_ms => lo = mid + 1,
                _ => hi = mid,
            }
        }
        Ok(lo)
    }

    /// The last `order_seq` of one of the node's own streams.
    pub fn stream_seq(&self, id: &OrderId) -> Result<u64, StoreError> {
        match self.tree.get(stream_key(id))? {
            Some(v) => be_u64(&v, "stream seq"),
            None => Ok(0),
        }
    }

    /// Where the hash chain ends (seq 0 for an empty log).
    pub fn chain_head(&self) -> Result<ChainHead, StoreError> {
        chain_head_of(&self.tree)
    }

    pub fn checkpoint(&self, consumer: &str) -> Result<u64, StoreError> {
        match self.tree.get(checkpoint_key(consumer))? {
            Some(v) => be_u64(&v, "checkpoint"),
            None => Ok(0),
        }
    }

    pub(crate) fn advance_head(&self, seq: u64) {
        self.head.store(seq, Ordering::Release);
        self.head_moved.notify_waiters();
    }

    /// Wait until the log is durable up to `seq` (the writer's fsync moved
    /// the head there), at most `within`; whether it is. Woken by the
    /// writer, not by polling.
    pub async fn durable(&self, seq: u64, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Registered before the head is read: a move between the read
            // and the wait still wakes this waiter.
            let moved = self.head_moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if self.head() >= seq {
                return true;
            }
            if tokio::time::timeout_at(deadline, moved).await.is_err() {
                return self.head() >= seq;
            }
        }
    }
}
