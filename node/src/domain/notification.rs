//! Notification: what screens, lockers and the customer hear about an event.
use protocol::{Envelope, Event};
use serde::Serialize;

/// A JSON message for the store's devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// Device channel (topic suffix): `orders` for every status change,
    /// `pickup-screen` when an order is ready.
    #[serde(skip)]
    pub channel: &'static str,
    pub order_id: String,
    pub event: &'static str,
    pub log_seq: u64,
    pub order_seq: u64,
    pub time_ms: u64,
    pub message: String,
}

/// The notices one event produces, in the order to publish them.
pub fn notices(env: &Envelope) -> Vec<Notice> {
    let notice = |channel, message: String| Notice {
        channel,
        order_id: env.order_id.to_string(),
        event: env.event.kind().name(),
        log_seq: env.log_seq,
        order_seq: env.order_seq,
        time_ms: env.time_ms,
        message,
    };
    let status = match &env.event {
        Event::OrderCreated(o) => format!("New order for {}", o.customer_name),
        Event::OrderAccepted => "Order accepted".to_string(),
        Event::OrderRejected { reason } => format!("Order rejected: {reason}"),
        Event::OrderProcessed { .. } => "Payment settled".to_string(),
        Event::ShipmentPrepared { lines } => match lines.len() {
            1 => "Pick list ready (1 line)".to_string(),
            n => format!("Pick list ready ({n} lines)"),
        },
        Event::ShipmentProcessed { .. } => "Ready for pickup".to_string(),
        Event::OrderFulfilled { .. } => "Handed over".to_string(),
    };
    let mut out = vec![notice("orders", status)];
    if let Event::ShipmentProcessed { .. } = env.event {
        out.push(notice(
            "pickup-screen",
            format!("Order {} is ready", env.order_id),
        ));
    }
    out
}
