//! Events: facts the node has durably recorded.
//!
//! The five names of the serverless retail seed flow are kept (OrderCreated,
//! OrderProcessed, ShipmentPrepared, ShipmentProcessed, OrderFulfilled); the
//! BOPIS steps are appended after them. Never reorder variants: postcard
//! encodes the variant index.
use serde::{Deserialize, Serialize};

/// How the order is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMode {
    /// Paid online; the cloud confirms authorisation.
    Prepaid,
    /// Paid at the desk on hand-over; processed immediately.
    PayAtPickup,
}

/// One line of an order as the customer placed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    pub sku: String,
    pub quantity: u32,
    /// Unit price in the currency's minor unit (cents).
    pub unit_price_cents: i64,
    #[serde(default)]
    pub substitution_allowed: bool,
}

/// The content of a new order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub customer_name: String,
    pub lines: Vec<OrderLine>,
    /// When the customer was promised the order (unix ms), if known.
    #[serde(default)]
    pub due_at_ms: Option<u64>,
    pub payment: PaymentMode,
}

/// One line of a pick task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickLine {
    pub line_no: u32,
    pub sku: String,
    pub quantity: u32,
}

/// A fact about an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// An order reached the store (from the cloud or the local API).
    OrderCreated(NewOrder),
    /// Payment or authorisation is settled (or deferred to the desk).
    OrderProcessed { payment: PaymentMode },
    /// A pick task exists for the order, lines in walking order.
    ShipmentPrepared { lines: Vec<PickLine> },
    /// Every line is picked and packed.
    ShipmentProcessed { picked_by: String },
    /// The customer has the order.
    OrderFulfilled { handed_over_by: String },
    /// The store takes the order on.
    OrderAccepted,
    /// The store cannot take the order on; `reason` is for a manager.
    OrderRejected { reason: String },
}

/// The kind of an event without its data: names topics and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    OrderCreated,
    OrderProcessed,
    ShipmentPrepared,
    ShipmentProcessed,
    OrderFulfilled,
    OrderAccepted,
    OrderRejected,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::OrderCreated,
        EventKind::OrderProcessed,
        EventKind::ShipmentPrepared,
        EventKind::ShipmentProcessed,
        EventKind::OrderFulfilled,
        EventKind::OrderAccepted,
        EventKind::OrderRejected,
    ];

    /// The snake_case name used in topics, JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::OrderCreated => "order_created",
            EventKind::OrderProcessed => "order_processed",
            EventKind::ShipmentPrepared => "shipment_prepared",
            EventKind::ShipmentProcessed => "shipment_processed",
            EventKind::OrderFulfilled => "order_fulfilled",
            EventKind::OrderAccepted => "order_accepted",
            EventKind::OrderRejected => "order_rejected",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::OrderCreated(_) => EventKind::OrderCreated,
            Event::OrderProcessed { .. } => EventKind::OrderProcessed,
            Event::ShipmentPrepared { .. } => EventKind::ShipmentPrepared,
            Event::ShipmentProcessed { .. } => EventKind::ShipmentProcessed,
            Event::OrderFulfilled { .. } => EventKind::OrderFulfilled,
            Event::OrderAccepted => EventKind::OrderAccepted,
            Event::OrderRejected { .. } => EventKind::OrderRejected,
        }
    }
}
