//! Notification: what screens, lockers, printers and the customer hear.
//!
//! Device notices are JSON on `store/{id}/notify/{channel}` (see
//! docs/topics.md). Customer messages are derived from the log: the log is
//! the cloud outbox, so a message is "queued" the moment its event is
//! durable, and the sync agent forwards it.
use protocol::{Envelope, Event, SlotKind};
use serde::Serialize;

/// A device notice channel: the topic suffix of `…/notify/{channel}`, and
/// what a device kind hears (`domain::device::channels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeChannel {
    /// Every order event (scanners).
    Orders,
    /// Ready, arrived, no longer waiting (the screen by the desk).
    PickupScreen,
    /// Compartments to open, door reports (lockers).
    Locker,
    /// Labels and put-back slips (printers).
    Printer,
    /// Stock changes (scanners).
    Stock,
    /// Messages for the customer (the gateway that sends them).
    Customer,
}

impl NoticeChannel {
    /// The name in topics, bundles and stored pending notices.
    pub fn name(self) -> &'static str {
        match self {
            NoticeChannel::Orders => "orders",
            NoticeChannel::PickupScreen => "pickup-screen",
            NoticeChannel::Locker => "locker",
            NoticeChannel::Printer => "printer",
            NoticeChannel::Stock => "stock",
            NoticeChannel::Customer => "customer",
        }
    }
}

impl std::fmt::Display for NoticeChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a device should do with a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeAction {
    Show,
    Remove,
    Open,
    PrintLabel,
    PrintPutBack,
    Send,
    /// A locker's own door report, echoed: nothing to act on.
    DoorOpen,
    /// A locker's own door report, echoed: nothing to act on.
    DoorClosed,
}

impl NoticeAction {
    /// Whether the device must act on it (and acknowledge it): every
    /// action but the door reports.
    pub fn is_actionable(self) -> bool {
        !matches!(self, NoticeAction::DoorOpen | NoticeAction::DoorClosed)
    }
}

/// A JSON message for the store's devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// Device channel (topic suffix).
    #[serde(skip)]
    pub channel: NoticeChannel,
    pub order_id: String,
    pub event: &'static str,
    pub log_seq: u64,
    pub order_seq: u64,
    pub time_ms: u64,
    pub message: String,
    /// What a device should do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<NoticeAction>,
    /// Locker compartment or staging slot the action is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compartment: Option<String>,
    /// Present on a notice the device must act on (every action but the
    /// door reports, which echo the locker's own): the device acknowledges
    /// it on its `ack` topic, and the node sends it again until it does.
    /// `{log_seq}-{channel}`: one per event and channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice_id: Option<String>,
}

impl Notice {
    /// Whether the device must act on it (and acknowledge it).
    pub fn is_actionable(&self) -> bool {
        self.action.is_some_and(NoticeAction::is_actionable)
    }
}

/// The notices one event produces, in the order to publish them.
pub fn notices(env: &Envelope) -> Vec<Notice> {
    let notice = |channel, message: String, action, compartment| Notice {
        channel,
        order_id: env.order_id.to_string(),
        event: env.event.kind().name(),
        log_seq: env.log_seq,
        order_seq: env.order_seq,
        time_ms: env.time_ms,
        message,
        action,
        compartment,
        notice_id: None,
    };
    let id = &env.order_id;
    if let Event::LockerDoorReported { compartment, open } = &env.event {
        let (action, words) = if *open {
            (NoticeAction::DoorOpen, "open")
        } else {
            (NoticeAction::DoorClosed, "closed")
        };
        return vec![notice(
            NoticeChannel::Locker,
            format!("Compartment {compartment} door {words}"),
            Some(action),
            Some(compartment.clone()),
        )];
    }
    // Staff accounts are no device's business.
    if env.event.is_staff() {
        return vec![];
    }
    // What HQ hears of availability, and each till receipt, are no
    // device's business (a busy till would flood the stock screens).
    if matches!(
        env.event,
        Event::AvailabilityChanged { .. }
            | Event::AvailabilitySnapshot { .. }
            | Event::TillReceiptRecorded { .. }
    ) {
        return vec![];
    }
    if id.is_reserved() {
        return vec![notice(
            NoticeChannel::Stock,
            stock_words(&env.event),
            None,
            None,
        )];
    }
    let status = match &env.event {
        Event::OrderCreated(o) => format!("New order for {}", o.customer_name),
        Event::OrderAccepted => "Order accepted".to_string(),
        Event::OrderRejected { reason } => format!("Order rejected: {reason}"),
        Event::OrderRejectedWithCode { code, note, .. } => {
            format!("Order rejected ({}): {note}", code.name())
        }
        Event::OrderLinesRejected { lines, .. } => format!(
            "Not filled: line {}",
            lines
                .iter()
                .map(|l| l.line_no.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Event::OrderProcessed { .. } => "Payment settled".to_string(),
        Event::ShipmentPrepared { lines } => match lines.len() {
            1 => "Pick list ready (1 line)".to_string(),
            n => format!("Pick list ready ({n} lines)"),
        },
        Event::PickStarted { by, tote, .. } => format!("{by} is picking (tote {tote})"),
        Event::ItemPicked {
            line_no, quantity, ..
        } => format!("Line {line_no}: {quantity} picked"),
        Event::ItemShorted { line_no, found, .. }
        | Event::ItemShortedWithReason { line_no, found, .. } => {
            format!("Line {line_no}: short, {found} found")
        }
        Event::ItemSubstituted { line_no, sku, .. } => {
            format!("Line {line_no}: substituted with {sku}")
        }
        Event::ShipmentProcessed { .. } => "Picked and packed: stage it".to_string(),
        Event::OrderStaged { slot, .. } => format!("Staged at {}", slot.id),
        Event::ReadyForPickup { .. } => "Ready for pickup".to_string(),
        Event::CustomerArrived { channel, note } => {
            let how = match channel {
                protocol::ArrivalChannel::Desk => "desk",
                protocol::ArrivalChannel::Kiosk => "kiosk",
                protocol::ArrivalChannel::Curbside => "curbside",
            };
            match note {
                Some(n) => format!("Customer arrived ({how}: {n})"),
                None => format!("Customer arrived ({how})"),
            }
        }
        Event::StockAdjusted { sku, .. } => format!("Shelf count of {sku} corrected"),
        Event::OrderFulfilled { .. } => "Handed over".to_string(),
        Event::PickupExpired => "Pickup expired".to_string(),
        Event::OrderCancelled { reason, .. } => format!("Cancelled: {reason}"),
        Event::CancelRejected { reason } => format!("Cancel refused: {reason}"),
        Event::Restocked { items, .. } => format!("Put back {} item(s)", items.len()),
        Event::OrderLate { .. } => "Late: past its promise time".to_string(),
        Event::PickupReminded { .. } => "Customer reminded".to_string(),
        other => other.kind().name().to_string(),
    };
    let mut out = vec![notice(NoticeChannel::Orders, status, None, None)];
    match &env.event {
        Event::ShipmentProcessed { .. } => out.push(notice(
            NoticeChannel::Printer,
            format!("Label for order {id}"),
            Some(NoticeAction::PrintLabel),
            None,
        )),
        Event::OrderStaged { slot, .. } if slot.kind == SlotKind::Locker => out.push(notice(
            NoticeChannel::Locker,
            format!("Open compartment {} for order {id}", slot.id),
            Some(NoticeAction::Open),
            Some(slot.id.clone()),
        )),
        Event::ReadyForPickup { .. } => out.push(notice(
            NoticeChannel::PickupScreen,
            format!("Order {id} is ready"),
            Some(NoticeAction::Show),
            None,
        )),
        Event::CustomerArrived { .. } => out.push(notice(
            NoticeChannel::PickupScreen,
            format!("Customer for order {id} is here"),
            Some(NoticeAction::Show),
            None,
        )),
        Event::OrderFulfilled { .. } | Event::PickupExpired | Event::OrderCancelled { .. } => out
            .push(notice(
                NoticeChannel::PickupScreen,
                format!("Order {id} is no longer waiting"),
                Some(NoticeAction::Remove),
                None,
            )),
        Event::Restocked { items, reason } => out.push(notice(
            NoticeChannel::Printer,
            format!(
                "Put back for order {id} ({reason}): {}",
                items
                    .iter()
                    .map(|q| format!("{} × {}", q.quantity, q.sku))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(NoticeAction::PrintPutBack),
            None,
        )),
        _ => {}
    }
    // A short pick's stock effect (a correction, a write-off, a count
    // task) is on the order's stream; stock screens hear of it like of any
    // other stock change.
    if matches!(
        env.event,
        Event::StockAdjusted { .. }
            | Event::StockCounted { .. }
            | Event::StockWrittenOff { .. }
            | Event::CountTaskOpened { .. }
    ) {
        out.push(notice(
            NoticeChannel::Stock,
            stock_words(&env.event),
            None,
            None,
        ));
    }
    if let Some(m) = customer_message(env) {
        out.push(notice(
            NoticeChannel::Customer,
            m.text,
            Some(NoticeAction::Send),
            None,
        ));
    }
    for n in &mut out {
        if n.is_actionable() {
            n.notice_id = Some(format!("{}-{}", n.log_seq, n.channel));
        }
    }
    out
}

pub use protocol::message::{customer_message, CustomerMessage};

fn stock_words(event: &Event) -> String {
    match event {
        Event::CatalogImported { items } => format!("{} catalog item(s) imported", items.len()),
        Event::StockCounted { counts, by } => format!("{} SKU(s) counted by {by}", counts.len()),
        Event::StockAdjusted { sku, delta, reason } => format!("{sku} {delta:+}: {reason}"),
        Event::StoreClosed { reason, .. } => format!("Store closed for orders: {reason}"),
        Event::StoreOpened { .. } => "Store open for orders".to_string(),
        Event::StockWrittenOff {
            sku,
            quantity,
            reason,
            ..
        } => format!("{sku} -{quantity}: written off ({})", reason.name()),
        Event::SafetyStockSet { scope, safety, .. } => {
            let what = match scope {
                protocol::SafetyScope::Store => "the store".to_string(),
                protocol::SafetyScope::Category(c) => format!("category {c}"),
                protocol::SafetyScope::Sku(s) => s.clone(),
            };
            match safety {
                Some(n) => format!("Safety stock of {what}: {n}"),
                None => format!("Safety stock of {what} removed"),
            }
        }
        Event::DeliveryAnnounced {
            delivery_id, lines, ..
        } => {
            format!("Delivery {delivery_id} announced ({} line(s))", lines.len())
        }
        Event::DeliveryReceived {
            delivery_id,
            lines,
            by,
        } => {
            format!(
                "Delivery {delivery_id} received by {by} ({} line(s))",
                lines.len()
            )
        }
        Event::StockSnapshotReconciled { items, .. } => {
            format!("HQ's stock of {} SKU(s) reconciled", items.len())
        }
        Event::CountTaskOpened { sku, reason, .. } => {
            format!("Count {sku} ({})", reason.name().replace('_', " "))
        }
        Event::CountRecorded {
            task_id, counted, ..
        } => {
            format!("Count {task_id}: {counted} counted")
        }
        Event::CountApplied { sku, counted, .. } => format!("{sku} counted: {counted}"),
        Event::CountTaskCancelled { sku, .. } => format!("Count of {sku} cancelled"),
        Event::PickupTimesChanged {
            expiry_s,
            reminder_s,
        } => format!(
            "Pickup window {} h, reminder {} h before expiry",
            expiry_s / 3600,
            reminder_s / 3600
        ),
        other => other.kind().name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::tests::env;
    use protocol::StagingSlot;

    #[test]
    fn devices_hear_what_concerns_them() {
        type Row = (Event, Vec<(NoticeChannel, Option<NoticeAction>)>);
        let rows: Vec<Row> = vec![
            (Event::OrderAccepted, vec![(NoticeChannel::Orders, None)]),
            (
                Event::ShipmentProcessed {
                    picked_by: "p".into(),
                },
                vec![
                    (NoticeChannel::Orders, None),
                    (NoticeChannel::Printer, Some(NoticeAction::PrintLabel)),
                ],
            ),
            (
                Event::OrderStaged {
                    slot: StagingSlot {
                        kind: SlotKind::Locker,
                        id: "12".into(),
                    },
                    by: "s".into(),
                },
                vec![
                    (NoticeChannel::Orders, None),
                    (NoticeChannel::Locker, Some(NoticeAction::Open)),
                ],
            ),
            (
                Event::OrderStaged {
                    slot: StagingSlot {
                        kind: SlotKind::Shelf,
                        id: "A1".into(),
                    },
                    by: "s".into(),
                },
                vec![(NoticeChannel::Orders, None)],
            ),
            (
                Event::ReadyForPickup {
                    code: "K7P2QX".into(),
                    token: "t".into(),
                },
                vec![
                    (NoticeChannel::Orders, None),
                    (NoticeChannel::PickupScreen, Some(NoticeAction::Show)),
                    (NoticeChannel::Customer, Some(NoticeAction::Send)),
                ],
            ),
            (
                Event::PickupExpired,
                vec![
                    (NoticeChannel::Orders, None),
                    (NoticeChannel::PickupScreen, Some(NoticeAction::Remove)),
                    (NoticeChannel::Customer, Some(NoticeAction::Send)),
                ],
            ),
        ];
        for (event, want) in rows {
            let got: Vec<(NoticeChannel, Option<NoticeAction>)> = notices(&env(1, event.clone()))
                .iter()
                .map(|n| (n.channel, n.action))
                .collect();
            assert_eq!(got, want, "{event:?}");
        }
        let ready = notices(&env(
            1,
            Event::ReadyForPickup {
                code: "K7P2QX".into(),
                token: "t".into(),
            },
        ));
        assert!(ready[2].message.contains("K7P2QX"));
        // What a device must act on carries an id to acknowledge; the
        // hints and the locker's own door reports do not.
        let ids: Vec<Option<&str>> = ready.iter().map(|n| n.notice_id.as_deref()).collect();
        let seq = ready[0].log_seq;
        assert_eq!(
            ids,
            vec![
                None,
                Some(format!("{seq}-pickup-screen").as_str()),
                Some(format!("{seq}-customer").as_str())
            ]
        );
        let door = notices(&env(
            1,
            Event::LockerDoorReported {
                compartment: "12".into(),
                open: true,
            },
        ));
        assert_eq!(door[0].action, Some(NoticeAction::DoorOpen));
        assert_eq!(door[0].notice_id, None);
        // Staff accounts: nothing for devices, whatever the stream.
        let mut added = env(
            1,
            Event::StaffAdded {
                staff_id: "1003".into(),
                name: "Ann".into(),
                role: protocol::Role::Picker,
                pin_hash: "$argon2id$…".into(),
            },
        );
        assert!(notices(&added).is_empty());
        added.order_id = protocol::OrderId::store_stream();
        assert!(notices(&added).is_empty());
    }
}
