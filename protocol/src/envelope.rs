//! The event envelope: what the node's log stores and its topics carry.
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::ids::{EventId, OrderId, StoreId};

/// Schema version of [`Envelope`]; bumped when its fields change meaning.
pub const SCHEMA_VERSION: u16 = 1;

/// Who caused an event: the audit trail's "who".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// One of the node's own services (by name).
    Service(String),
    /// A caller of the HTTP API.
    Api,
    /// A device authenticated on the store broker (by its name).
    Device(String),
    /// The chain's cloud, through the cloud command topic.
    Cloud,
    /// A staff member (by staff id).
    Staff(String),
}

/// One fact in the node's log.
///
/// `log_seq` is the position in the node's log (1, 2, 3 … without gaps);
/// `order_seq` is the position in the order's own stream (1, 2, 3 … without
/// gaps). Consumers apply an order's events in `order_seq` order and treat a
/// jump as a gap to fill from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: EventId,
    /// The event or command that led to this event, if any.
    pub causation_id: Option<EventId>,
    pub store_id: StoreId,
    pub order_id: OrderId,
    pub order_seq: u64,
    pub log_seq: u64,
    /// Unix time in milliseconds when the event was appended.
    pub time_ms: u64,
    pub schema: u16,
    pub actor: Actor,
    pub event: Event,
}
