//! Customer messages: what the customer is told, derived from the log.
//!
//! The node shows them to staff; the cloud bridge turns them into
//! CloudEvents of their own type for HQ's notification service. Both use
//! this one function, so the store and HQ never disagree on what was said.
use serde::Serialize;

use crate::{Envelope, Event, RejectCode};

/// A message for the customer, queued for the cloud to deliver (e-mail,
/// SMS, app). The queue is the log itself: a message exists as soon as
/// its event is durable, and the sync link carries them
/// to HQ in log order (the cloud bridge derives them with this function).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerMessage {
    pub log_seq: u64,
    pub order_id: String,
    /// `ready`, `reminder`, `expired`, `cancelled`, `rejected`,
    /// `lines_rejected`.
    pub kind: &'static str,
    pub time_ms: u64,
    pub text: String,
    /// The pickup code and QR token, for `ready` (the cloud renders the QR).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pickup_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pickup_token: Option<String>,
}

/// The customer-facing message an event calls for, if any.
pub fn customer_message(env: &Envelope) -> Option<CustomerMessage> {
    let (kind, text, code, token) = match &env.event {
        Event::ReadyForPickup { code, token } => (
            "ready",
            format!(
                "Your order is ready for pickup. Show code {code} or your QR code at the desk."
            ),
            Some(code.clone()),
            Some(token.clone()),
        ),
        Event::PickupReminded { .. } => (
            "reminder",
            "Reminder: your order is waiting for you and will be returned to the shelves soon."
                .to_string(),
            None,
            None,
        ),
        Event::PickupExpired => (
            "expired",
            "Your order was not collected in time and has been cancelled.".to_string(),
            None,
            None,
        ),
        Event::OrderCancelled { reason, .. } => (
            "cancelled",
            format!("Your order was cancelled: {reason}"),
            None,
            None,
        ),
        Event::OrderRejected { reason } => (
            "rejected",
            format!("We could not take your order: {reason}"),
            None,
            None,
        ),
        // Words for the customer, not the store's note (which may name
        // staff or stock figures).
        Event::OrderRejectedWithCode { code, .. } => (
            "rejected",
            match code {
                RejectCode::OutOfStock | RejectCode::UnknownSku => {
                    "We could not take your order at this store: some items are not available here."
                }
                RejectCode::StoreClosed => {
                    "We could not take your order: the store is closed for orders."
                }
                RejectCode::Capacity => "We could not take your order: the store is too busy right now.",
                RejectCode::Invalid => "We could not take your order: something in it is not valid.",
                RejectCode::StaffRejected => "We are sorry: this store cannot fill your order.",
            }
            .to_string(),
            None,
            None,
        ),
        Event::OrderLinesRejected { lines, .. } => (
            "lines_rejected",
            match lines.len() {
                1 => "One item of your order cannot be supplied by this store; the rest is on its way."
                    .to_string(),
                n => format!(
                    "{n} items of your order cannot be supplied by this store; the rest is on its way."
                ),
            },
            None,
            None,
        ),
        _ => return None,
    };
    Some(CustomerMessage {
        log_seq: env.log_seq,
        order_id: env.order_id.to_string(),
        kind,
        time_ms: env.time_ms,
        text,
        pickup_code: code,
        pickup_token: token,
    })
}
