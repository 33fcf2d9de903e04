//! The pick queue: orders waiting for a picker, late ones first, then by
//! promise time; and what a picker has in hand.
use protocol::Zone;
use serde::Serialize;

use crate::domain::{Order, OrderState, QueueKey};
use crate::store::{Store, StoreError};

/// One order in the queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueueEntry {
    pub order_id: String,
    pub customer_name: String,
    pub due_at_ms: Option<u64>,
    pub late: bool,
    pub lines: usize,
    pub units: u32,
    /// The temperature zones among its lines, besides ambient.
    pub zones: Vec<Zone>,
    pub created_ms: u64,
    /// Sorts like the queue (for pages that insert live updates).
    pub sort_key: String,
    /// It holds more of an SKU than the node believes is on the shelf
    /// (after a short or a till sale): a picker may find it empty.
    pub at_risk: bool,
}

/// Whether `o` holds stock of an SKU whose open orders hold more than the
/// node believes is on hand.
pub fn at_risk(store: &Store, o: &Order) -> bool {
    o.holds_reservation()
        && o.outstanding()
            .iter()
            .any(|q| store.item(&q.sku).is_some_and(|i| i.short_for_orders()))
}

impl QueueEntry {
    pub fn of(o: &Order, store: &Store) -> Option<QueueEntry> {
        let key = QueueKey::of(o)?;
        let mut zones: Vec<Zone> = o
            .pick_lines
            .iter()
            .map(|l| l.zone)
            .filter(|z| *z != Zone::Ambient)
            .collect();
        zones.sort();
        zones.dedup();
        Some(QueueEntry {
            order_id: o.id.to_string(),
            customer_name: o.content.customer_name.clone(),
            due_at_ms: o.content.due_at_ms,
            late: o.late,
            lines: o.pick_lines.len(),
            units: o.pick_lines.iter().map(|l| l.quantity).sum(),
            zones,
            created_ms: o.created_ms,
            sort_key: sort_key(&key),
            at_risk: at_risk(store, o),
        })
    }
}

/// A text that sorts like the queue.
pub fn sort_key(k: &QueueKey) -> String {
    format!(
        "{}{:020}{:020}{}",
        k.rank, k.due_ms, k.created_log_seq, k.id
    )
}

/// The head of the queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueueView {
    /// Orders waiting in all.
    pub total: usize,
    pub entries: Vec<QueueEntry>,
}

/// The first `limit` orders waiting for a picker.
pub fn pick_queue(store: &Store, limit: usize) -> Result<QueueView, StoreError> {
    let (orders, total) = store.pick_queue(None, limit)?;
    Ok(QueueView {
        total,
        entries: orders
            .iter()
            .filter_map(|o| QueueEntry::of(o, store))
            .collect(),
    })
}

/// Orders `staff` is picking now (to resume a walk).
pub fn picking_by(store: &Store, staff: &str) -> Result<Vec<Order>, StoreError> {
    Ok(store
        .all_in_state(OrderState::Picking)?
        .into_iter()
        .filter(|o| o.picker.as_deref() == Some(staff))
        .collect())
}
