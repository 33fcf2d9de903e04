//! What the store keeps for the sync link (prefix `m` and `h`).
//!
//! | key                 | value                                        |
//! |---------------------|----------------------------------------------|
//! | `m` `hq_anchor`     | [`ChainHead`]: last event HQ acknowledged     |
//! | `m` `hq_floor`      | u64 BE: HQ sequence at or below which every   |
//! |                     | HQ command counts as already applied          |
//! | `h` hq_seq (u64 BE) | u64 BE: when the node decided that command    |
//!
//! The anchor is the upload cursor: events after it are the backlog. It is
//! written straight to sled, not through the writer, and rides on the next
//! group commit: losing its newest value in a crash only resends a batch,
//! which HQ drops by sequence. It never moves past what HQ acknowledged.
//!
//! HQ commands are deduplicated by their id in the inbox (scope `hq`) for
//! `inbox_retention_days`, and beyond that by the floor: when the inbox
//! forgets an HQ command, the floor rises to its sequence, so a copy
//! redelivered after a month-long outage is still recognised.
use super::{be_u64, key, ChainHead, Store, StoreError};

fn anchor_key() -> Vec<u8> {
    key(b'm', &[b"hq_anchor"])
}
/// HQ's anchor as recorded in `tree`.
pub(super) fn anchor_of(tree: &sled::Tree) -> Result<ChainHead, StoreError> {
    match tree.get(anchor_key())? {
        Some(v) => protocol::codec::decode(&v).map_err(|e| StoreError::Corrupt {
            key: "hq anchor".into(),
            reason: e.to_string(),
        }),
        None => Ok(ChainHead::default()),
    }
}

fn floor_key() -> Vec<u8> {
    key(b'm', &[b"hq_floor"])
}
fn hq_key(seq: u64) -> Vec<u8> {
    key(b'h', &[&seq.to_be_bytes()])
}

impl Store {
    /// The last event HQ acknowledged, with the hash it saw (seq 0: none).
    pub fn sync_anchor(&self) -> Result<ChainHead, StoreError> {
        anchor_of(&self.tree)
    }

    /// Record HQ's acknowledgement of every event up to `anchor.seq`.
    /// Never moves back.
    pub fn set_sync_anchor(&self, anchor: ChainHead) -> Result<(), StoreError> {
        if anchor.seq > self.head() {
            return Err(StoreError::Corrupt {
                key: "hq anchor".into(),
                reason: format!(
                    "HQ acknowledged log {} but the log ends at {}",
                    anchor.seq,
                    self.head()
                ),
            });
        }
        let new = protocol::codec::encode(&anchor);
        self.tree
            .fetch_and_update(anchor_key(), |old| {
                let older = old
                    .and_then(|o| protocol::codec::decode::<ChainHead>(o).ok())
                    .is_none_or(|o| o.seq < anchor.seq);
                if older {
                    Some(new.clone())
                } else {
                    old.map(<[u8]>::to_vec)
                }
            })
            .map(|_| ())
            .map_err(StoreError::from)
    }

    /// Durable log entries from `from` on, as the log holds them: at most
    /// `max_events`, and no more than `max_bytes` in all unless the first
    /// alone is larger (it goes alone, or the link would stall on it).
    pub fn log_run(
        &self,
        from: u64,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, sled::IVec)>, StoreError> {
        let mut out: Vec<(u64, sled::IVec)> = Vec::new();
        let mut bytes = 0;
        let end = super::log_key(self.head().saturating_add(1));
        for kv in self.tree.range(super::log_key(from)..end).take(max_events) {
            let (k, v) = kv?;
            if !out.is_empty() && bytes + v.len() > max_bytes {
                break;
            }
            bytes += v.len();
            out.push((be_u64(&k[1..], "log key")?, v));
        }
        Ok(out)
    }

    /// Make every write so far durable (for tools working on a stopped
    /// node's store; the running node's writer flushes on its own).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// HQ sequence numbers at or below this count as applied.
    pub fn hq_floor(&self) -> Result<u64, StoreError> {
        match self.tree.get(floor_key())? {
            Some(v) => be_u64(&v, "hq floor"),
            None => Ok(0),
        }
    }

    /// Note that the HQ command with `hq_seq` is being decided (written
    /// before the command goes to the writer, so it is durable with it).
    pub fn note_hq_command(&self, hq_seq: u64, time_ms: u64) -> Result<(), StoreError> {
        self.tree.insert(hq_key(hq_seq), &time_ms.to_be_bytes())?;
        Ok(())
    }

    /// Forget HQ commands decided before `cutoff_ms`, raising the floor to
    /// the highest of their sequences. Rides on the next group commit.
    pub(super) fn prune_hq(
        &self,
        cutoff_ms: u64,
        batch: &mut sled::Batch,
    ) -> Result<(), StoreError> {
        let mut floor = self.hq_floor()?;
        let before = floor;
        for kv in self.tree.scan_prefix([b'h']) {
            let (k, v) = kv?;
            if be_u64(&v, "hq command time")? >= cutoff_ms {
                continue;
            }
            floor = floor.max(be_u64(&k[1..], "hq command key")?);
            batch.remove(k);
        }
        if floor > before {
            batch.insert(floor_key(), &floor.to_be_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path(), protocol::StoreId::new("t").expect("id")).expect("open");
        (dir, s)
    }

    #[test]
    fn the_floor_rises_only_over_forgotten_commands() {
        let (_d, s) = store();
        s.note_hq_command(10, 1_000).unwrap_or_default();
        s.note_hq_command(20, 5_000).unwrap_or_default();
        s.note_hq_command(30, 9_000).unwrap_or_default();
        assert_eq!(s.hq_floor().ok(), Some(0));
        s.prune_inbox(6_000).expect("prune");
        assert_eq!(s.hq_floor().ok(), Some(20), "10 and 20 were forgotten");
        s.prune_inbox(6_000).expect("prune again");
        assert_eq!(s.hq_floor().ok(), Some(20));
        s.prune_inbox(u64::MAX).expect("prune all");
        assert_eq!(s.hq_floor().ok(), Some(30));
    }

    /// Regression: the writer's newest group sits in sled before its
    /// flush; a reader that saw it could hand HQ (or the outbox's caller)
    /// an event a crash then replaces.
    #[test]
    fn a_reader_never_sees_past_the_durable_head() {
        let (_d, s) = store();
        let env = protocol::Envelope {
            event_id: protocol::EventId::generate(),
            causation_id: None,
            store_id: s.store_id().clone(),
            order_id: protocol::OrderId::new("A-1").expect("id"),
            order_seq: 1,
            log_seq: 1,
            time_ms: 1,
            schema: protocol::SCHEMA_VERSION,
            actor: protocol::Actor::Api,
            event: protocol::Event::PickupExpired,
            prev_hash: protocol::ChainHash::default(),
        };
        // As the writer's `apply_batch` leaves it, before the flush.
        s.tree
            .insert(super::super::log_key(1), protocol::codec::encode(&env))
            .expect("insert");
        assert_eq!(s.head(), 0);
        assert!(s.events_from(1, 10).expect("read").is_empty());
        assert!(s.events_before(u64::MAX, 10).expect("read").is_empty());
        // Once durable (the writer advances the head), it is readable.
        s.advance_head(1);
        assert_eq!(s.events_from(1, 10).expect("read").len(), 1);
        assert_eq!(s.events_before(u64::MAX, 10).expect("read").len(), 1);
    }

    #[test]
    fn verify_holds_the_log_to_what_hq_acknowledged() {
        let (_d, s) = store();
        let env = |seq: u64, prev: [u8; 32]| protocol::Envelope {
            event_id: protocol::EventId::generate(),
            causation_id: None,
            store_id: s.store_id().clone(),
            order_id: protocol::OrderId::store_stream(),
            order_seq: seq,
            log_seq: seq,
            time_ms: seq,
            schema: protocol::SCHEMA_VERSION,
            actor: protocol::Actor::Cli,
            event: protocol::Event::StockAdjusted {
                sku: "A".into(),
                delta: 1,
                reason: "r".into(),
            },
            prev_hash: protocol::ChainHash(prev),
        };
        // A two-entry log whose chain is whole (as a forger would leave it).
        let one = protocol::codec::encode(&env(1, [0; 32]));
        let two = protocol::codec::encode(&env(2, super::super::chain_hash(&one)));
        s.tree
            .insert(super::super::log_key(1), one.clone())
            .expect("insert");
        s.tree
            .insert(super::super::log_key(2), two.clone())
            .expect("insert");
        s.tree
            .insert(
                super::super::chain_key(),
                protocol::codec::encode(&ChainHead {
                    seq: 2,
                    hash: super::super::chain_hash(&two),
                }),
            )
            .expect("insert");
        s.advance_head(2);
        let hq_problems = |s: &Store| {
            s.verify()
                .expect("verify")
                .problems
                .into_iter()
                .filter(|p| p.contains("HQ"))
                .collect::<Vec<_>>()
        };
        s.set_sync_anchor(ChainHead {
            seq: 1,
            hash: super::super::chain_hash(&one),
        })
        .expect("anchor");
        assert!(hq_problems(&s).is_empty());
        // HQ saw another entry 1 than the (re-chained) log holds now.
        s.tree
            .insert(
                anchor_key(),
                protocol::codec::encode(&ChainHead {
                    seq: 1,
                    hash: [9; 32],
                }),
            )
            .expect("insert");
        let found = hq_problems(&s);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("log 1 is not the entry HQ acknowledged"));
    }

    #[test]
    fn the_anchor_never_moves_back_nor_past_the_head() {
        let (_d, s) = store();
        assert_eq!(s.sync_anchor().ok(), Some(ChainHead::default()));
        let past = s.set_sync_anchor(ChainHead {
            seq: 1,
            hash: [1; 32],
        });
        assert!(past.is_err(), "the log is empty");
    }
}
