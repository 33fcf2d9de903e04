//! Golden vectors: the exact bytes and text of the wire format.
//!
//! Logs on disk, other nodes and the cloud bridge read these encodings. If a
//! test here fails, the wire format changed. Do not just paste the new
//! bytes: either bump `codec::FORMAT_VERSION` (old readers must refuse the
//! new bytes), or make the change compatible (append enum variants at the
//! end; never insert, reorder, rename or retype fields or variants).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::fmt::Debug;

use protocol::codec::{self, FORMAT_VERSION};
use protocol::{
    Actor, Command, CommandEnvelope, CommandReply, Envelope, Event, EventKind, ReplyStatus,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(hex: &str) -> Vec<u8> {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("golden hex is ASCII");
            assert_eq!(pair.len(), 2, "odd-length hex {hex:?}");
            u8::from_str_radix(pair, 16).expect("golden hex is hex")
        })
        .collect()
}

/// Checks every case and reports all mismatches at once, with the bytes
/// actually produced, so one run shows the whole extent of a format change.
fn check_postcard<T>(cases: &[(&str, T, &str)])
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut failures = Vec::new();
    for (name, value, want) in cases {
        let got = to_hex(&codec::encode(value));
        if got != *want {
            failures.push(format!("{name}:\n  want {want}\n  got  {got}"));
            continue;
        }
        match codec::decode::<T>(&from_hex(want)) {
            Ok(back) if back == *value => {}
            other => failures.push(format!("{name}: golden bytes decode to {other:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "wire format changed (see the note at the top of golden.rs):\n{}",
        failures.join("\n")
    );
}

fn check_json<T>(cases: &[(&str, T, &str)])
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut failures = Vec::new();
    for (name, value, want) in cases {
        let got = String::from_utf8(codec::to_json(value)).expect("JSON is UTF-8");
        if got != *want {
            failures.push(format!("{name}:\n  want {want}\n  got  {got}"));
            continue;
        }
        match codec::from_json::<T>(want.as_bytes()) {
            Ok(back) if back == *value => {}
            other => failures.push(format!("{name}: golden JSON decodes to {other:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "JSON format changed (see the note at the top of golden.rs):\n{}",
        failures.join("\n")
    );
}

// The vectors are spelled field by field so a reviewer can see what each
// byte is; `concat!` makes each one a single literal. postcard writes
// integers as varints (signed ones zigzagged), strings and sequences with a
// varint length, `Option` as a 0/1 tag, enum variants by index, and an
// `EventId` as its 16 raw bytes.

/// `common::new_order()`.
macro_rules! new_order {
    () => {
        concat!(
            "075a6fc3ab204e67",             // customer_name "Zoë Ng" (UTF-8)
            "02",                           // 2 lines
            "0d534b552d4150504c452d314b47", // sku "SKU-APPLE-1KG"
            "02",                           // quantity 2
            "ba05",                         // unit_price_cents 349
            "01",                           // substitution_allowed
            "0b534b552d4d494c4b2d314c",     // sku "SKU-MILK-1L"
            "ac02",                         // quantity 300
            "63",                           // unit_price_cents -50
            "00",                           // substitution not allowed
            "01b388a4fbfc31",               // due_at_ms Some(1_717_171_717_171)
            "00",                           // payment Prepaid
        )
    };
}

/// `common::envelope(..)` up to its `actor`.
macro_rules! envelope_head {
    () => {
        concat!(
            "01",                                 // FORMAT_VERSION
            "01902a3b4c5d6e7f8091a2b3c4d5e6f7",   // event_id
            "0101902a3b00000000000000000000002a", // causation_id Some
            "0973746f72652d303432",               // store_id "store-042"
            "0c4f52442d313030312e625f32",         // order_id "ORD-1001.b_2"
            "03",                                 // order_seq 3
            "ac02",                               // log_seq 300
            "b388a4fbfc31",                       // time_ms 1_717_171_717_171
            "01",                                 // schema 1
        )
    };
}

/// The postcard encoding of `common::envelope(event, actor)` for each entry
/// of `common::events()`, by name.
const ENVELOPES: &[(&str, &str)] = &[
    (
        "order_created",
        concat!(
            envelope_head!(),
            "03", // actor Cloud
            "00", // OrderCreated
            new_order!(),
        ),
    ),
    (
        "order_processed",
        concat!(
            envelope_head!(),
            "00077061796d656e74", // actor Service("payment")
            "01",                 // OrderProcessed
            "01",                 // payment PayAtPickup
        ),
    ),
    (
        "shipment_prepared",
        concat!(
            envelope_head!(),
            "00077069636b696e67",               // actor Service("picking")
            "02",                               // ShipmentPrepared
            "02",                               // 2 lines
            "020b534b552d4d494c4b2d314cac02",   // 2, "SKU-MILK-1L", 300
            "010d534b552d4150504c452d314b4702", // 1, "SKU-APPLE-1KG", 2
        ),
    ),
    (
        "shipment_processed",
        concat!(
            envelope_head!(),
            "040773746166662d37", // actor Staff("staff-7")
            "03",                 // ShipmentProcessed
            "0773746166662d37",   // picked_by "staff-7"
        ),
    ),
    (
        "order_fulfilled",
        concat!(
            envelope_head!(),
            "02066465736b2d31", // actor Device("desk-1")
            "04",               // OrderFulfilled
            "0773746166662d39", // handed_over_by "staff-9"
        ),
    ),
    (
        "order_accepted",
        concat!(
            envelope_head!(),
            "01", // actor Api
            "05", // OrderAccepted
        ),
    ),
    (
        "order_rejected",
        concat!(
            envelope_head!(),
            "0006696e74616b65", // actor Service("intake")
            "06",               // OrderRejected
            // reason "Store closes before the due time"
            "2053746f726520636c6f736573206265666f726520746865206475652074696d65",
        ),
    ),
];

/// Pairs fixtures with their expected encodings by name; both lists must
/// name the same cases in the same order.
fn by_name<T>(
    fixtures: Vec<(&'static str, T)>,
    want: &[(&'static str, &'static str)],
) -> Vec<(&'static str, T, &'static str)> {
    assert_eq!(
        fixtures.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        want.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "one golden vector per fixture"
    );
    fixtures
        .into_iter()
        .zip(want)
        .map(|((name, value), (_, encoded))| (name, value, *encoded))
        .collect()
}

/// A new variant must get a fixture, and so a golden vector: the matches
/// below stop compiling, and the sets must be complete.
#[test]
fn fixtures_cover_every_variant() {
    fn actor_name(actor: &Actor) -> &'static str {
        match actor {
            Actor::Service(_) => "service",
            Actor::Api => "api",
            Actor::Device(_) => "device",
            Actor::Cloud => "cloud",
            Actor::Staff(_) => "staff",
        }
    }
    fn command_name(command: &Command) -> &'static str {
        match command {
            Command::CreateOrder { .. } => "create_order",
            Command::MarkPicked { .. } => "mark_picked",
            Command::HandOver { .. } => "hand_over",
        }
    }

    let events = common::events();
    let kinds: BTreeSet<_> = events.iter().map(|(_, e, _)| e.kind().name()).collect();
    let all_kinds: BTreeSet<_> = EventKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(kinds, all_kinds);
    for (name, event, _) in &events {
        assert_eq!(*name, event.kind().name());
    }

    let actors: BTreeSet<_> = events.iter().map(|(_, _, a)| actor_name(a)).collect();
    assert_eq!(actors.len(), 5, "every actor appears: {actors:?}");

    let commands = common::commands();
    let names: BTreeSet<_> = commands
        .iter()
        .map(|(_, c)| command_name(&c.command))
        .collect();
    assert_eq!(names.len(), 3, "every command appears: {names:?}");
    for (name, command) in &commands {
        assert_eq!(*name, command_name(&command.command));
    }
}

#[test]
fn format_version_is_the_first_byte() {
    assert_eq!(FORMAT_VERSION, 1);
    assert_eq!(codec::encode(&0u8), [FORMAT_VERSION, 0]);
}

#[test]
fn envelope_of_every_event_variant() {
    let envelopes = common::events()
        .into_iter()
        .map(|(name, event, actor)| (name, common::envelope(event, actor)))
        .collect();
    check_postcard::<Envelope>(&by_name(envelopes, ENVELOPES));
}

#[test]
fn envelope_without_causation() {
    let mut envelope = common::envelope(Event::OrderAccepted, Actor::Api);
    envelope.causation_id = None;
    let want = concat!(
        "01",                               // FORMAT_VERSION
        "01902a3b4c5d6e7f8091a2b3c4d5e6f7", // event_id
        "00",                               // causation_id None
        "0973746f72652d303432",             // store_id
        "0c4f52442d313030312e625f32",       // order_id
        "03",                               // order_seq 3
        "ac02",                             // log_seq 300
        "b388a4fbfc31",                     // time_ms 1_717_171_717_171
        "01",                               // schema 1
        "01",                               // actor Api
        "05",                               // OrderAccepted
    );
    check_postcard::<Envelope>(&[("no_causation", envelope, want)]);
}

#[test]
fn command_of_every_variant() {
    let want = [
        (
            "create_order",
            concat!(
                "01",                         // FORMAT_VERSION
                "08636d642d30303031",         // id "cmd-0001"
                "00",                         // CreateOrder
                "0c4f52442d313030312e625f32", // order_id
                new_order!(),
            ),
        ),
        (
            "mark_picked",
            concat!(
                "01",
                "08636d642d30303032",         // id "cmd-0002"
                "01",                         // MarkPicked
                "0c4f52442d313030312e625f32", // order_id
                "0773746166662d37",           // staff "staff-7"
            ),
        ),
        (
            "hand_over",
            concat!(
                "01",
                "08636d642d30303033",         // id "cmd-0003"
                "02",                         // HandOver
                "0c4f52442d313030312e625f32", // order_id
                "0773746166662d39",           // staff "staff-9"
            ),
        ),
    ];
    check_postcard::<CommandEnvelope>(&by_name(common::commands(), &want));
}

#[test]
fn command_reply() {
    let want = concat!(
        "01",                 // FORMAT_VERSION
        "08636d642d30303031", // id "cmd-0001"
        "00",                 // status Accepted
        "0139",               // reason Some, 57 bytes:
        // "Order ORD-1001.b_2 already existed"
        "4f72646572204f52442d313030312e625f3220616c72656164792065786973746564",
        // "; first answer repeated"
        "3b20666972737420616e73776572207265706561746564",
        "02ab02ac02", // log_seqs [299, 300]
    );
    check_postcard::<CommandReply>(&[("full", common::full_reply(), want)]);
}

/// Devices speak JSON on `store/{store}/device/{device}/cmd` and `…/reply`.
#[test]
fn command_json_as_devices_send_it() {
    let want = [
        (
            "create_order",
            concat!(
                r#"{"id":"cmd-0001","command":{"create_order":{"order_id":"ORD-1001.b_2","order":{"#,
                r#""customer_name":"Zoë Ng","lines":["#,
                r#"{"sku":"SKU-APPLE-1KG","quantity":2,"unit_price_cents":349,"substitution_allowed":true},"#,
                r#"{"sku":"SKU-MILK-1L","quantity":300,"unit_price_cents":-50,"substitution_allowed":false}],"#,
                r#""due_at_ms":1717171717171,"payment":"prepaid"}}}}"#,
            ),
        ),
        (
            "mark_picked",
            r#"{"id":"cmd-0002","command":{"mark_picked":{"order_id":"ORD-1001.b_2","staff":"staff-7"}}}"#,
        ),
        (
            "hand_over",
            r#"{"id":"cmd-0003","command":{"hand_over":{"order_id":"ORD-1001.b_2","staff":"staff-9"}}}"#,
        ),
    ];
    check_json::<CommandEnvelope>(&by_name(common::commands(), &want));
}

#[test]
fn command_reply_json_as_devices_receive_it() {
    check_json::<CommandReply>(&[
        (
            "full",
            common::full_reply(),
            concat!(
                r#"{"id":"cmd-0001","status":"accepted","#,
                r#""reason":"Order ORD-1001.b_2 already existed; first answer repeated","#,
                r#""log_seqs":[299,300]}"#,
            ),
        ),
        (
            "accepted_bare",
            CommandReply {
                id: "cmd-0002".to_owned(),
                status: ReplyStatus::Accepted,
                reason: None,
                log_seqs: Vec::new(),
            },
            r#"{"id":"cmd-0002","status":"accepted","reason":null,"log_seqs":[]}"#,
        ),
        (
            "invalid_without_id",
            CommandReply {
                id: String::new(),
                status: ReplyStatus::Invalid,
                reason: Some("Not a command: expected an object".to_owned()),
                log_seqs: Vec::new(),
            },
            r#"{"id":"","status":"invalid","reason":"Not a command: expected an object","log_seqs":[]}"#,
        ),
    ]);
}

/// Screens and the web view read envelopes as JSON: the ids as strings, unit
/// variants as bare names, the others as one-key objects.
#[test]
fn envelope_json() {
    let envelope = |event, actor| {
        let mut e = common::envelope(event, actor);
        e.causation_id = None;
        e
    };
    check_json::<Envelope>(&[
        (
            "order_accepted",
            envelope(Event::OrderAccepted, Actor::Api),
            concat!(
                r#"{"event_id":"01J0N3PK2XDSZR14D2PF2DBSQQ","causation_id":null,"#,
                r#""store_id":"store-042","order_id":"ORD-1001.b_2","order_seq":3,"#,
                r#""log_seq":300,"time_ms":1717171717171,"schema":1,"#,
                r#""actor":"api","event":"order_accepted"}"#,
            ),
        ),
        (
            "shipment_processed",
            common::envelope(
                Event::ShipmentProcessed {
                    picked_by: "staff-7".to_owned(),
                },
                Actor::Staff("staff-7".to_owned()),
            ),
            concat!(
                r#"{"event_id":"01J0N3PK2XDSZR14D2PF2DBSQQ","causation_id":"01J0N3P000000000000000001A","#,
                r#""store_id":"store-042","order_id":"ORD-1001.b_2","order_seq":3,"#,
                r#""log_seq":300,"time_ms":1717171717171,"schema":1,"#,
                r#""actor":{"staff":"staff-7"},"event":{"shipment_processed":{"picked_by":"staff-7"}}}"#,
            ),
        ),
    ]);
}
