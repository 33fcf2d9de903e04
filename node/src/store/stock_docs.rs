//! Stock documents (till receipts, deliveries, count tasks: prefix `r`)
//! and each SKU's movement journal (prefix `j`): projections of the log
//! the writer keeps in the same batch as the events that change them.
//!
//! The journal holds one entry per change of an SKU's on-hand stock,
//! keyed by SKU, log position and a number within the event: the stock card a manager reads ("why
//! is it 3?"), and what an HQ snapshot "as of T" adds back (the movements
//! after T that HQ could not have seen).
use protocol::codec;
use serde::{Deserialize, Serialize};

use super::{be_u64, key, Store, StoreError};
use crate::domain::inventory::Move;
use crate::domain::stock::{CountTask, DeliveryRecord, DocKey, StockDoc};

/// One change of an SKU's on-hand stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub delta: i64,
    pub kind: Move,
}

pub(crate) fn doc_key(k: &DocKey) -> Vec<u8> {
    key(b'r', &[&[k.tag()], k.id().as_bytes()])
}

/// The journal key of the `n`-th movement of `sku` by the event at `seq`.
pub(crate) fn journal_key(sku: &str, seq: u64, n: u8) -> Vec<u8> {
    let mut at = [0u8; 9];
    at[..8].copy_from_slice(&seq.to_be_bytes());
    at[8] = n;
    key(b'j', &[sku.as_bytes(), &at])
}

/// A movement on the stock card: where in the log, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub log_seq: u64,
    pub entry: JournalEntry,
}

impl Store {
    /// One stock document.
    pub fn doc(&self, k: &DocKey) -> Result<Option<StockDoc>, StoreError> {
        match self.tree().get(doc_key(k))? {
            Some(v) => codec::decode(&v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    key: format!("stock document {}", k.id()),
                    reason: e.to_string(),
                }),
            None => Ok(None),
        }
    }

    fn docs_tagged(&self, tag: u8) -> Result<Vec<StockDoc>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree().scan_prefix([b'r', tag]) {
            let (k, v) = kv?;
            out.push(codec::decode(&v).map_err(|e| StoreError::Corrupt {
                key: format!("stock document {}", String::from_utf8_lossy(&k[2..])),
                reason: e.to_string(),
            })?);
        }
        Ok(out)
    }

    /// Every count task, oldest first.
    pub fn count_tasks(&self) -> Result<Vec<CountTask>, StoreError> {
        let mut out: Vec<CountTask> = self
            .docs_tagged(b'T')?
            .into_iter()
            .filter_map(|d| match d {
                StockDoc::CountTask(t) => Some(t),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| (a.opened_ms, &a.task_id).cmp(&(b.opened_ms, &b.task_id)));
        Ok(out)
    }

    /// Every delivery, newest announcement first.
    pub fn goods_deliveries(&self) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut out: Vec<DeliveryRecord> = self
            .docs_tagged(b'D')?
            .into_iter()
            .filter_map(|d| match d {
                StockDoc::Delivery(d) => Some(d),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| {
            let t = |d: &DeliveryRecord| {
                d.announced_ms
                    .or(d.received.as_ref().map(|r| r.at_ms))
                    .unwrap_or(0)
            };
            (t(b), &b.delivery_id).cmp(&(t(a), &a.delivery_id))
        });
        Ok(out)
    }

    /// The sum of `sku`'s movements at log positions `from` and later.
    pub fn moves_from(&self, sku: &str, from: u64) -> Result<i64, StoreError> {
        let mut sum = 0i64;
        for kv in self
            .tree()
            .range(journal_key(sku, from, 0)..journal_key(sku, u64::MAX, 0))
        {
            let (_, v) = kv?;
            let e: JournalEntry = codec::decode(&v).map_err(|e| StoreError::Corrupt {
                key: format!("journal of {sku}"),
                reason: e.to_string(),
            })?;
            sum = sum.saturating_add(e.delta);
        }
        Ok(sum)
    }

    /// `sku`'s newest movements, newest first, at most `limit`.
    pub fn stock_card(&self, sku: &str, limit: usize) -> Result<Vec<Movement>, StoreError> {
        let mut out = Vec::new();
        for kv in self
            .tree()
            .range(journal_key(sku, 0, 0)..journal_key(sku, u64::MAX, 0))
            .rev()
            .take(limit)
        {
            let (k, v) = kv?;
            let seq = be_u64(&k[k.len() - 9..k.len() - 1], "journal key")?;
            let entry: JournalEntry = codec::decode(&v).map_err(|e| StoreError::Corrupt {
                key: format!("journal of {sku}"),
                reason: e.to_string(),
            })?;
            out.push(Movement {
                log_seq: seq,
                entry,
            });
        }
        Ok(out)
    }

    /// The first log position stamped after `time_ms`.
    pub fn seq_after(&self, time_ms: u64) -> Result<u64, StoreError> {
        self.first_seq_at(time_ms.saturating_add(1))
    }
}
