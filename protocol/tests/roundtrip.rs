//! Property tests: every wire type survives both encodings, and decoding
//! hostile bytes returns an error instead of panicking.
#![allow(clippy::unwrap_used)]

use std::fmt::Debug;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use protocol::codec::{self, DecodeError, FORMAT_VERSION};
use protocol::{
    Actor, Command, CommandEnvelope, CommandReply, Envelope, Event, EventId, NewOrder, OrderId,
    OrderLine, PaymentMode, PickLine, ReplyStatus, StoreId,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Modest, so the whole file runs in a few seconds.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

// ---- strategies ----

/// Free text as people and devices send it: any characters, including
/// quotes, newlines, control characters and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    "(?s).{0,24}"
}

fn order_id() -> impl Strategy<Value = OrderId> {
    "[A-Za-z0-9._-]{1,64}".prop_map(|s| OrderId::new(s).expect("the regex only makes valid ids"))
}

fn store_id() -> impl Strategy<Value = StoreId> {
    "[A-Za-z0-9._-]{1,32}".prop_map(|s| StoreId::new(s).expect("the regex only makes valid ids"))
}

fn event_id() -> impl Strategy<Value = EventId> {
    any::<[u8; 16]>().prop_map(EventId::from_bytes)
}

fn payment() -> impl Strategy<Value = PaymentMode> {
    prop_oneof![Just(PaymentMode::Prepaid), Just(PaymentMode::PayAtPickup)]
}

fn order_line() -> impl Strategy<Value = OrderLine> {
    (text(), any::<u32>(), any::<i64>(), any::<bool>()).prop_map(
        |(sku, quantity, unit_price_cents, substitution_allowed)| OrderLine {
            sku,
            quantity,
            unit_price_cents,
            substitution_allowed,
        },
    )
}

fn new_order() -> impl Strategy<Value = NewOrder> {
    (
        text(),
        vec(order_line(), 0..4),
        option::of(any::<u64>()),
        payment(),
    )
        .prop_map(|(customer_name, lines, due_at_ms, payment)| NewOrder {
            customer_name,
            lines,
            due_at_ms,
            payment,
        })
}

fn pick_line() -> impl Strategy<Value = PickLine> {
    (any::<u32>(), text(), any::<u32>()).prop_map(|(line_no, sku, quantity)| PickLine {
        line_no,
        sku,
        quantity,
    })
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        new_order().prop_map(Event::OrderCreated),
        payment().prop_map(|payment| Event::OrderProcessed { payment }),
        vec(pick_line(), 0..4).prop_map(|lines| Event::ShipmentPrepared { lines }),
        text().prop_map(|picked_by| Event::ShipmentProcessed { picked_by }),
        text().prop_map(|handed_over_by| Event::OrderFulfilled { handed_over_by }),
        Just(Event::OrderAccepted),
        text().prop_map(|reason| Event::OrderRejected { reason }),
    ]
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        text().prop_map(Actor::Service),
        Just(Actor::Api),
        text().prop_map(Actor::Device),
        Just(Actor::Cloud),
        text().prop_map(Actor::Staff),
    ]
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        event_id(),
        option::of(event_id()),
        store_id(),
        order_id(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u16>(),
        actor(),
        event(),
    )
        .prop_map(
            |(
                event_id,
                causation_id,
                store_id,
                order_id,
                order_seq,
                log_seq,
                time_ms,
                schema,
                actor,
                event,
            )| Envelope {
                event_id,
                causation_id,
                store_id,
                order_id,
                order_seq,
                log_seq,
                time_ms,
                schema,
                actor,
                event,
            },
        )
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (order_id(), new_order())
            .prop_map(|(order_id, order)| Command::CreateOrder { order_id, order }),
        (order_id(), text()).prop_map(|(order_id, staff)| Command::MarkPicked { order_id, staff }),
        (order_id(), text()).prop_map(|(order_id, staff)| Command::HandOver { order_id, staff }),
    ]
}

fn command_envelope() -> impl Strategy<Value = CommandEnvelope> {
    (text(), command()).prop_map(|(id, command)| CommandEnvelope { id, command })
}

fn reply_status() -> impl Strategy<Value = ReplyStatus> {
    prop_oneof![
        Just(ReplyStatus::Accepted),
        Just(ReplyStatus::Rejected),
        Just(ReplyStatus::Invalid),
    ]
}

fn command_reply() -> impl Strategy<Value = CommandReply> {
    (
        text(),
        reply_status(),
        option::of(text()),
        vec(any::<u64>(), 0..4),
    )
        .prop_map(|(id, status, reason, log_seqs)| CommandReply {
            id,
            status,
            reason,
            log_seqs,
        })
}

/// Replies whose optional fields are all present (see
/// `command_reply_without_reason_survives_postcard`).
fn command_reply_with_every_field() -> impl Strategy<Value = CommandReply> {
    (text(), reply_status(), text(), vec(any::<u64>(), 1..4)).prop_map(
        |(id, status, reason, log_seqs)| CommandReply {
            id,
            status,
            reason: Some(reason),
            log_seqs,
        },
    )
}

// ---- round trips ----

fn postcard_round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = codec::encode(value);
    prop_assert_eq!(bytes.first(), Some(&FORMAT_VERSION));
    let back = codec::decode::<T>(&bytes);
    prop_assert_eq!(back.as_ref(), Ok(value), "bytes {:02x?}", bytes);
    Ok(())
}

fn json_round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let json = codec::to_json(value);
    let back = codec::from_json::<T>(&json);
    prop_assert_eq!(
        back.as_ref(),
        Ok(value),
        "JSON {}",
        String::from_utf8_lossy(&json)
    );
    Ok(())
}

/// One module per type, each with a `postcard` and a `json` property.
macro_rules! round_trips {
    ($($module:ident: $strategy:expr;)*) => {$(
        mod $module {
            use super::*;
            proptest! {
                #![proptest_config(config())]
                #[test]
                fn postcard(value in $strategy) {
                    postcard_round_trip(&value)?;
                }
                #[test]
                fn json(value in $strategy) {
                    json_round_trip(&value)?;
                }
            }
        }
    )*};
}

round_trips! {
    order_id: order_id();
    store_id: store_id();
    event_id: event_id();
    payment_mode: payment();
    order_line: order_line();
    new_order: new_order();
    pick_line: pick_line();
    event: event();
    actor: actor();
    envelope: envelope();
    command: command();
    command_envelope: command_envelope();
    reply_status: reply_status();
}

mod command_reply {
    use super::*;
    proptest! {
        #![proptest_config(config())]
        #[test]
        fn json(value in command_reply()) {
            json_round_trip(&value)?;
        }

        #[test]
        fn postcard_with_every_field(value in command_reply_with_every_field()) {
            postcard_round_trip(&value)?;
        }

        #[test]
        fn postcard(value in command_reply()) {
            postcard_round_trip(&value)?;
        }
    }
}

/// The cloud link sends replies in postcard (`protocol::topic`), and most
/// replies have no reason or no log sequence numbers.
#[test]
fn command_reply_without_reason_survives_postcard() {
    for reply in [
        CommandReply {
            id: "cmd-1".to_owned(),
            status: ReplyStatus::Accepted,
            reason: None,
            log_seqs: vec![7],
        },
        CommandReply {
            id: "cmd-2".to_owned(),
            status: ReplyStatus::Rejected,
            reason: Some("Order is already handed over".to_owned()),
            log_seqs: Vec::new(),
        },
        CommandReply {
            id: "cmd-3".to_owned(),
            status: ReplyStatus::Invalid,
            reason: None,
            log_seqs: Vec::new(),
        },
    ] {
        let bytes = codec::encode(&reply);
        assert_eq!(codec::decode::<CommandReply>(&bytes), Ok(reply));
    }
}

// ---- hostile input ----

/// Arbitrary bytes, half of them behind the right version byte so they
/// reach the postcard decoder.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..128),
        vec(any::<u8>(), 0..128).prop_map(|mut body| {
            body.insert(0, FORMAT_VERSION);
            body
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in hostile_bytes()) {
        let _ = codec::decode::<Envelope>(&bytes);
        let _ = codec::decode::<CommandEnvelope>(&bytes);
        let _ = codec::decode::<CommandReply>(&bytes);
        let _ = codec::from_json::<Envelope>(&bytes);
        let _ = codec::from_json::<CommandEnvelope>(&bytes);
        let _ = codec::from_json::<CommandReply>(&bytes);
    }

    /// postcard encodings are self-delimiting, so no strict prefix of a
    /// valid envelope is itself valid.
    #[test]
    fn every_truncation_is_an_error(value in envelope(), cut in any::<Index>()) {
        let bytes = codec::encode(&value);
        let len = cut.index(bytes.len());
        match codec::decode::<Envelope>(&bytes[..len]) {
            Err(DecodeError::Empty) => prop_assert_eq!(len, 0),
            Err(DecodeError::Postcard(_)) => prop_assert!(len > 0),
            other => prop_assert!(false, "prefix of {} bytes gave {:?}", len, other),
        }
    }

    #[test]
    fn single_byte_corruption_never_panics(
        value in envelope(),
        at in any::<Index>(),
        flip in 1..=u8::MAX,
    ) {
        let mut bytes = codec::encode(&value);
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        let _ = codec::decode::<Envelope>(&bytes);
    }

    #[test]
    fn json_corruption_never_panics(
        value in command_envelope(),
        at in any::<Index>(),
        flip in 1..=u8::MAX,
    ) {
        let mut json = codec::to_json(&value);
        let i = at.index(json.len());
        json[i] ^= flip;
        let _ = codec::from_json::<CommandEnvelope>(&json);
    }
}
