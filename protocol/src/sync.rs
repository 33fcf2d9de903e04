//! The store ↔ HQ link, carried by the chain's cloud broker.
//!
//! Every store's node (the sync agent) and every `cloud-bridge` instance
//! speak these messages; docs/sync.md explains the protocol. All are
//! postcard ([`crate::codec::encode`]) except [`StoreStatus`], which is
//! JSON so that any MQTT tool at HQ can read the fleet's state.
//!
//! - Up: [`UpBatch`] on `stores/{store}/up`, the store's log in order, one
//!   batch in flight; [`UpAck`] on `stores/{store}/ack` acknowledges every
//!   event up to `last_seq` (acks are cumulative).
//! - Down: [`DownCommand`] on `stores/{store}/down`; [`DownReply`] on
//!   `stores/{store}/reply` once its outcome is durable in the store.
//! - [`StoreStatus`] retained on `stores/{store}/status` (the last will
//!   marks the store offline).
//! - [`ViewUpdate`] on `stores/{store}/view` (JSON, bridge to bridge): what
//!   the instance that delivered a batch learned of the store's
//!   availability and orders, so that every instance's HQ API answers
//!   the same.
use serde::{Deserialize, Serialize};

use crate::command::{Command, CommandReply};
use crate::envelope::ChainHash;
use crate::ids::{OrderId, StoreId};
use crate::stock::{Reconciled, RejectCode, RejectedLine};

/// A run of the store's log, `first_seq..=last_seq` without gaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpBatch {
    pub store_id: StoreId,
    pub first_seq: u64,
    pub last_seq: u64,
    /// The chain hash of the event at `last_seq` (SHA-256 of its bytes):
    /// the next event's `prev_hash`, and what the bridge acknowledges.
    pub last_hash: ChainHash,
    /// Each event exactly as the log holds it (an encoded
    /// [`crate::Envelope`]), in log order: the bridge can check the hash
    /// chain across the batch.
    pub events: Vec<LogBytes>,
}

/// The bytes of one log entry (postcard bytes, not a sequence of numbers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LogBytes(#[serde(with = "serde_bytes")] pub Vec<u8>);

/// HQ has every event of the store up to `last_seq` (cumulative).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpAck {
    pub store_id: StoreId,
    pub last_seq: u64,
    /// The chain hash the bridge saw for `last_seq`: the store keeps it as
    /// its HQ-anchored head.
    pub last_hash: ChainHash,
}

/// A command from HQ to one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownCommand {
    /// HQ's id for the command (a ULID from the bridge): the store's dedup
    /// key, and the causation of the events it causes.
    pub hq_id: String,
    /// HQ's per-store sequence number, increasing in the order HQ issued
    /// the commands (the bridge uses microseconds since the epoch).
    pub hq_seq: u64,
    pub command: Command,
}

/// The store's answer to a [`DownCommand`], sent once its outcome is
/// durable in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownReply {
    pub store_id: StoreId,
    pub hq_id: String,
    pub hq_seq: u64,
    pub reply: CommandReply,
}

/// What HQ's fleet view shows of a store (JSON, retained).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStatus {
    pub store_id: StoreId,
    pub online: bool,
    /// When the node wrote this status (unix ms); 0 in the last will.
    #[serde(default)]
    pub time_ms: u64,
    #[serde(default)]
    pub head_seq: u64,
    /// Events not yet acknowledged by HQ.
    #[serde(default)]
    pub backlog_events: u64,
    /// Age of the oldest unacknowledged event (ms), if any.
    #[serde(default)]
    pub oldest_backlog_ms: Option<u64>,
    #[serde(default)]
    pub open_orders: u64,
    #[serde(default)]
    pub late_orders: u64,
    #[serde(default)]
    pub version: String,
}

impl StoreStatus {
    /// The last will: what the broker publishes when the store's link dies.
    pub fn offline(store_id: StoreId) -> Self {
        StoreStatus {
            store_id,
            online: false,
            time_ms: 0,
            head_seq: 0,
            backlog_events: 0,
            oldest_backlog_ms: None,
            open_orders: 0,
            late_orders: 0,
            version: String::new(),
        }
    }
}

/// What the bridge instance that delivered a store's batch learned from
/// it once HQ had it (JSON on `stores/{store}/view`, to every instance):
/// the store's availability and its orders' outcomes, for the HQ API.
/// Applying one twice, or an older one after a newer, changes nothing
/// (per SKU and per order, the higher `log_seq` wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewUpdate {
    pub store_id: StoreId,
    #[serde(default)]
    pub availability: Vec<AvailabilityFact>,
    #[serde(default)]
    pub orders: Vec<OrderOutcome>,
    /// HQ's stock snapshots as the store reconciled them.
    #[serde(default)]
    pub snapshots: Vec<SnapshotOutcome>,
}

impl ViewUpdate {
    /// Nothing for the view: not published.
    pub fn is_empty(&self) -> bool {
        self.availability.is_empty() && self.orders.is_empty() && self.snapshots.is_empty()
    }
}

/// What the store applied of an HQ stock snapshot (`reconcile_snapshot`):
/// the event at `log_seq`, for the command's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotOutcome {
    pub log_seq: u64,
    pub as_of_ms: u64,
    /// Per SKU: HQ's figure, the store's movements after `as_of_ms`, and
    /// the on-hand that came of them.
    pub items: Vec<Reconciled>,
    /// SKUs left as they were: counted in the store after `as_of_ms`.
    pub ignored: Vec<String>,
}

/// One SKU's availability in a store, as of a log position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityFact {
    pub sku: String,
    pub available: u64,
    pub on_hand: i64,
    pub log_seq: u64,
    pub time_ms: u64,
}

/// What became of an order HQ sent: taken on, refused (with the code HQ
/// routes on), or some lines refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderOutcome {
    pub order_id: OrderId,
    pub log_seq: u64,
    /// `accepted`, `rejected` or `lines_rejected`.
    pub outcome: String,
    #[serde(default)]
    pub code: Option<RejectCode>,
    #[serde(default)]
    pub skus: Vec<String>,
    #[serde(default)]
    pub lines: Vec<RejectedLine>,
    #[serde(default)]
    pub note: String,
}
