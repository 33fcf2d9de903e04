//! Fixed values shared by the protocol's integration tests. Every field is
//! spelled out so that an encoding of them is fully determined.
#![allow(dead_code)] // each test crate uses a different part

use protocol::{
    Actor, Command, CommandEnvelope, CommandReply, Envelope, Event, EventId, NewOrder, OrderId,
    OrderLine, PaymentMode, PickLine, ReplyStatus, StoreId,
};

/// The event id of every golden envelope.
pub const EVENT_ID: [u8; 16] = [
    0x01, 0x90, 0x2a, 0x3b, 0x4c, 0x5d, 0x6e, 0x7f, 0x80, 0x91, 0xa2, 0xb3, 0xc4, 0xd5, 0xe6, 0xf7,
];
/// The causation id of every golden envelope that has one.
pub const CAUSATION_ID: [u8; 16] = [
    0x01, 0x90, 0x2a, 0x3b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,
];

pub fn store_id() -> StoreId {
    StoreId::new("store-042").expect("fixture store id is valid")
}

pub fn order_id() -> OrderId {
    OrderId::new("ORD-1001.b_2").expect("fixture order id is valid")
}

/// An order with two lines, a due time and a non-ASCII customer name.
pub fn new_order() -> NewOrder {
    NewOrder {
        customer_name: "Zoë Ng".to_owned(),
        lines: vec![
            OrderLine {
                sku: "SKU-APPLE-1KG".to_owned(),
                quantity: 2,
                unit_price_cents: 349,
                substitution_allowed: true,
            },
            OrderLine {
                sku: "SKU-MILK-1L".to_owned(),
                quantity: 300,
                unit_price_cents: -50,
                substitution_allowed: false,
            },
        ],
        due_at_ms: Some(1_717_171_717_171),
        payment: PaymentMode::Prepaid,
    }
}

/// One event of every variant, named, each with a different actor so that
/// every `Actor` variant appears too.
pub fn events() -> Vec<(&'static str, Event, Actor)> {
    vec![
        (
            "order_created",
            Event::OrderCreated(new_order()),
            Actor::Cloud,
        ),
        (
            "order_processed",
            Event::OrderProcessed {
                payment: PaymentMode::PayAtPickup,
            },
            Actor::Service("payment".to_owned()),
        ),
        (
            "shipment_prepared",
            Event::ShipmentPrepared {
                lines: vec![
                    PickLine {
                        line_no: 2,
                        sku: "SKU-MILK-1L".to_owned(),
                        quantity: 300,
                    },
                    PickLine {
                        line_no: 1,
                        sku: "SKU-APPLE-1KG".to_owned(),
                        quantity: 2,
                    },
                ],
            },
            Actor::Service("picking".to_owned()),
        ),
        (
            "shipment_processed",
            Event::ShipmentProcessed {
                picked_by: "staff-7".to_owned(),
            },
            Actor::Staff("staff-7".to_owned()),
        ),
        (
            "order_fulfilled",
            Event::OrderFulfilled {
                handed_over_by: "staff-9".to_owned(),
            },
            Actor::Device("desk-1".to_owned()),
        ),
        ("order_accepted", Event::OrderAccepted, Actor::Api),
        (
            "order_rejected",
            Event::OrderRejected {
                reason: "Store closes before the due time".to_owned(),
            },
            Actor::Service("intake".to_owned()),
        ),
    ]
}

/// An envelope with every field set (the causation id is `Some`).
pub fn envelope(event: Event, actor: Actor) -> Envelope {
    Envelope {
        event_id: EventId::from_bytes(EVENT_ID),
        causation_id: Some(EventId::from_bytes(CAUSATION_ID)),
        store_id: store_id(),
        order_id: order_id(),
        order_seq: 3,
        log_seq: 300,
        time_ms: 1_717_171_717_171,
        schema: 1,
        actor,
        event,
    }
}

/// One command of every variant, named.
pub fn commands() -> Vec<(&'static str, CommandEnvelope)> {
    vec![
        (
            "create_order",
            CommandEnvelope {
                id: "cmd-0001".to_owned(),
                command: Command::CreateOrder {
                    order_id: order_id(),
                    order: new_order(),
                },
            },
        ),
        (
            "mark_picked",
            CommandEnvelope {
                id: "cmd-0002".to_owned(),
                command: Command::MarkPicked {
                    order_id: order_id(),
                    staff: "staff-7".to_owned(),
                },
            },
        ),
        (
            "hand_over",
            CommandEnvelope {
                id: "cmd-0003".to_owned(),
                command: Command::HandOver {
                    order_id: order_id(),
                    staff: "staff-9".to_owned(),
                },
            },
        ),
    ]
}

/// A reply with every field set.
pub fn full_reply() -> CommandReply {
    CommandReply {
        id: "cmd-0001".to_owned(),
        status: ReplyStatus::Accepted,
        reason: Some("Order ORD-1001.b_2 already existed; first answer repeated".to_owned()),
        log_seqs: vec![299, 300],
    }
}
