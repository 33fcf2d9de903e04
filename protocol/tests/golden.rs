//! Golden vectors: the exact bytes and text of the wire format.
//!
//! Logs on disk, other nodes and the cloud bridge read these encodings. If a
//! test here fails, the wire format changed. Do not just paste the new
//! bytes: either bump `codec::FORMAT_VERSION` (old readers must refuse the
//! new bytes), or make the change compatible (append enum variants at the
//! end; never insert, reorder, rename or retype fields or variants).
//!
//! History: envelope schema 2 (`SCHEMA_VERSION`) added `Envelope::prev_hash`,
//! `NewOrder::pickup_token`, `PickLine::{location, zone}`,
//! `OrderFulfilled::{proof, id_checked}` and `HandOver::{code, id_checked}`
//! in place, without a `FORMAT_VERSION` bump, because schema 1 was never
//! deployed (see `protocol::envelope`). That exception is spent: from here
//! on the rule above holds. The staff pages followed it: staff and settings
//! events, `ItemShortedWithReason` (a short with its reason, in place of
//! changing `ItemShorted`), six commands and `Actor::Cli` were appended;
//! the commands' `staff`/`by` fields stay in postcard and became optional in
//! JSON only (the actor now comes from the door's principal).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::fmt::Debug;

use protocol::codec::{self, FORMAT_VERSION};
use protocol::{
    Actor, ArrivalChannel, CancelStage, ChainHash, Command, CommandEnvelope, CommandReply,
    Envelope, Event, EventKind, NewOrder, OrderLine, PaymentMode, PickupProof, ReplyStatus, Role,
    ShortReason, SkuQuantity, SlotKind, StagingSlot, Zone, SCHEMA_VERSION,
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
// varint length, `Option` as a 0/1 tag, enum variants by index, structs as
// their fields in declaration order with nothing between them, fixed-size
// arrays (`EventId`, `ChainHash`) as their raw bytes without a length.

/// `common::TOKEN`, "SNP1.Y2xhaW0.c2ln" (17 bytes).
macro_rules! token {
    () => {
        "11534e50312e593278686157302e63326c6e"
    };
}

/// `common::PIN_HASH`, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA" (44
/// bytes).
macro_rules! pin_hash {
    () => {
        concat!(
            "2c",                                   // length 44
            "246172676f6e32696424763d3139246d3d31", // "$argon2id$v=19$m=1"
            "393435362c743d322c703d312463324673",   // "9456,t=2,p=1$c2Fs"
            "6441246147467a6141",                   // "dA$aGFzaA"
        )
    };
}

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
            "01",                           // pickup_token Some:
            token!(),
        )
    };
}

/// `common::catalog_items()`.
macro_rules! catalog_items {
    () => {
        concat!(
            "02",                                 // 2 items
            "0c534b552d504541532d314b47",         // sku "SKU-PEAS-1KG"
            "1046726f7a656e20706561732031206b67", // name "Frozen peas 1 kg"
            "02",                                 // 2 barcodes
            "0d35303132333435363738393030",       // "5012345678900"
            "083936333835303734",                 // "96385074"
            "090104",                             // location aisle 9, bay 1, shelf 4
            "02",                                 // zone Frozen
            "f403",                               // unit_price_cents 250
            "00",                                 // not age_restricted
            "0b534b552d4c414745522d36",           // sku "SKU-LAGER-6"
            "0d4c616765722036783333306d6c",       // name "Lager 6x330ml"
            "00",                                 // no barcodes
            "0e0201",                             // location aisle 14, bay 2, shelf 1
            "01",                                 // zone Chilled
            "860e",                               // unit_price_cents 899
            "01",                                 // age_restricted
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
            "02",                                 // schema 2
        )
    };
}

/// `common::PREV_HASH`, the last field of every envelope: 32 raw bytes.
macro_rules! prev_hash {
    () => {
        concat!(
            "e0e1e2e3e4e5e6e7e8e9eaebecedeeef", // prev_hash 0xe0 …
            "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", // … 0xff
        )
    };
}

/// The same in JSON: 64 lowercase hex digits.
macro_rules! prev_hash_json {
    () => {
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
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
            prev_hash!(),
        ),
    ),
    (
        "order_processed",
        concat!(
            envelope_head!(),
            "00077061796d656e74", // actor Service("payment")
            "01",                 // OrderProcessed
            "01",                 // payment PayAtPickup
            prev_hash!(),
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
            "010203",                           // location aisle 1, bay 2, shelf 3
            "01",                               // zone Chilled
            "010d534b552d4150504c452d314b4702", // 1, "SKU-APPLE-1KG", 2
            "04820100",                         // location aisle 4, bay 130, shelf 0
            "00",                               // zone Ambient
            prev_hash!(),
        ),
    ),
    (
        "shipment_processed",
        concat!(
            envelope_head!(),
            "040773746166662d37", // actor Staff("staff-7")
            "03",                 // ShipmentProcessed
            "0773746166662d37",   // picked_by "staff-7"
            prev_hash!(),
        ),
    ),
    (
        "order_fulfilled",
        concat!(
            envelope_head!(),
            "02066465736b2d31", // actor Device("desk-1")
            "04",               // OrderFulfilled
            "0773746166662d39", // handed_over_by "staff-9"
            "00",               // proof Code
            "01",               // id_checked
            prev_hash!(),
        ),
    ),
    (
        "order_accepted",
        concat!(
            envelope_head!(),
            "01", // actor Api
            "05", // OrderAccepted
            prev_hash!(),
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
            prev_hash!(),
        ),
    ),
    (
        "pick_started",
        concat!(
            envelope_head!(),
            "02087069636b65722d32", // actor Device("picker-2")
            "07",                   // PickStarted
            "01",                   // walk_id Some:
            "0677616c6b2d33",       // "walk-3"
            "02",                   // tote 2
            "0773746166662d37",     // by "staff-7"
            prev_hash!(),
        ),
    ),
    (
        "item_picked",
        concat!(
            envelope_head!(),
            "02087069636b65722d32",         // actor Device("picker-2")
            "08",                           // ItemPicked
            "01",                           // line_no 1
            "02",                           // quantity 2
            "01",                           // barcode Some:
            "0d34303036333831333333393331", // "4006381333931"
            "0773746166662d37",             // by "staff-7"
            prev_hash!(),
        ),
    ),
    (
        "item_shorted",
        concat!(
            envelope_head!(),
            "02087069636b65722d32", // actor Device("picker-2")
            "09",                   // ItemShorted
            "02",                   // line_no 2
            "00",                   // found 0
            "0773746166662d37",     // by "staff-7"
            prev_hash!(),
        ),
    ),
    (
        "item_substituted",
        concat!(
            envelope_head!(),
            "02087069636b65722d32",           // actor Device("picker-2")
            "0a",                             // ItemSubstituted
            "02",                             // line_no 2
            "0e534b552d4f41544d494c4b2d314c", // sku "SKU-OATMILK-1L"
            "01",                             // quantity 1
            "fa02",                           // unit_price_cents 189
            "083936333835303734",             // barcode "96385074"
            "0773746166662d37",               // by "staff-7"
            prev_hash!(),
        ),
    ),
    (
        "order_staged",
        concat!(
            envelope_head!(),
            "040773746166662d37", // actor Staff("staff-7")
            "0b",                 // OrderStaged
            "01",                 // slot kind ColdStorage
            "024332",             // slot id "C2"
            "0773746166662d37",   // by "staff-7"
            prev_hash!(),
        ),
    ),
    (
        "ready_for_pickup",
        concat!(
            envelope_head!(),
            "00067069636b7570", // actor Service("pickup")
            "0c",               // ReadyForPickup
            "064b3750325158",   // code "K7P2QX"
            token!(),           // token
            prev_hash!(),
        ),
    ),
    (
        "customer_arrived",
        concat!(
            envelope_head!(),
            "02076b696f736b2d31",             // actor Device("kiosk-1")
            "0d",                             // CustomerArrived
            "02",                             // channel Curbside
            "01",                             // note Some:
            "0e62617920342c207265642076616e", // "bay 4, red van"
            prev_hash!(),
        ),
    ),
    (
        "pickup_expired",
        concat!(
            envelope_head!(),
            "000674696d657273", // actor Service("timers")
            "0e",               // PickupExpired
            prev_hash!(),
        ),
    ),
    (
        "order_cancelled",
        concat!(
            envelope_head!(),
            "03",                                 // actor Cloud
            "0f",                                 // OrderCancelled
            "10637573746f6d65722072657175657374", // reason "customer request"
            "03",                                 // stage AfterStaging
            "0a68712d737570706f7274",             // by "hq-support"
            prev_hash!(),
        ),
    ),
    (
        "cancel_rejected",
        concat!(
            envelope_head!(),
            "03", // actor Cloud
            "10", // CancelRejected
            // reason "already handed over"
            "13616c72656164792068616e646564206f766572",
            prev_hash!(),
        ),
    ),
    (
        "restocked",
        concat!(
            envelope_head!(),
            "00067069636b7570",               // actor Service("pickup")
            "11",                             // Restocked
            "02",                             // 2 items
            "0d534b552d4150504c452d314b4702", // "SKU-APPLE-1KG", 2
            "0b534b552d4d494c4b2d314cac02",   // "SKU-MILK-1L", 300
            "0e7069636b75702065787069726564", // reason "pickup expired"
            prev_hash!(),
        ),
    ),
    (
        "stock_adjusted",
        concat!(
            envelope_head!(),
            "04056d67722d31",           // actor Staff("mgr-1")
            "12",                       // StockAdjusted
            "0b534b552d4d494c4b2d314c", // sku "SKU-MILK-1L"
            "05",                       // delta -3 (zigzag 5)
            "0764616d61676564",         // reason "damaged"
            prev_hash!(),
        ),
    ),
    (
        "stock_counted",
        concat!(
            envelope_head!(),
            "02087069636b65722d32",           // actor Device("picker-2")
            "13",                             // StockCounted
            "02",                             // 2 counts
            "0d534b552d4150504c452d314b4700", // "SKU-APPLE-1KG", 0
            "0b534b552d4d494c4b2d314c8001",   // "SKU-MILK-1L", 128
            "0773746166662d37",               // by "staff-7"
            prev_hash!(),
        ),
    ),
    (
        "catalog_imported",
        concat!(
            envelope_head!(),
            "03", // actor Cloud
            "14", // CatalogImported
            catalog_items!(),
            prev_hash!(),
        ),
    ),
    (
        "order_late",
        concat!(
            envelope_head!(),
            "000674696d657273", // actor Service("timers")
            "15",               // OrderLate
            "b388a4fbfc31",     // due_at_ms 1_717_171_717_171
            prev_hash!(),
        ),
    ),
    (
        "pickup_reminded",
        concat!(
            envelope_head!(),
            "000674696d657273", // actor Service("timers")
            "16",               // PickupReminded
            "b3c2dbfefc31",     // expires_at_ms 1_717_178_917_171 (2 h later)
            prev_hash!(),
        ),
    ),
    (
        "store_closed",
        concat!(
            envelope_head!(),
            "04056d67722d31",       // actor Staff("mgr-1")
            "17",                   // StoreClosed
            "09706f77657220637574", // reason "power cut"
            "056d67722d31",         // by "mgr-1"
            prev_hash!(),
        ),
    ),
    (
        "store_opened",
        concat!(
            envelope_head!(),
            "01",           // actor Api
            "18",           // StoreOpened
            "056d67722d31", // by "mgr-1"
            prev_hash!(),
        ),
    ),
    (
        "locker_door_reported",
        concat!(
            envelope_head!(),
            "02086c6f636b65722d31", // actor Device("locker-1")
            "19",                   // LockerDoorReported
            "023132",               // compartment "12"
            "00",                   // open false
            prev_hash!(),
        ),
    ),
    (
        "staff_added",
        concat!(
            envelope_head!(),
            "040431303031", // actor Staff("1001")
            "1a",           // StaffAdded
            "0431303033",   // staff_id "1003"
            "03416e6e",     // name "Ann"
            "00",           // role Picker
            pin_hash!(),
            prev_hash!(),
        ),
    ),
    (
        "staff_role_changed",
        concat!(
            envelope_head!(),
            "040431303031", // actor Staff("1001")
            "1b",           // StaffRoleChanged
            "0431303033",   // staff_id "1003"
            "02",           // role Manager
            prev_hash!(),
        ),
    ),
    (
        "staff_disabled",
        concat!(
            envelope_head!(),
            "01",         // actor Api
            "1c",         // StaffDisabled
            "0431303033", // staff_id "1003"
            prev_hash!(),
        ),
    ),
    (
        "staff_enabled",
        concat!(
            envelope_head!(),
            "05",         // actor Cli
            "1d",         // StaffEnabled
            "0431303033", // staff_id "1003"
            prev_hash!(),
        ),
    ),
    (
        "staff_pin_reset",
        concat!(
            envelope_head!(),
            "040431303031", // actor Staff("1001")
            "1e",           // StaffPinReset
            "0431303033",   // staff_id "1003"
            pin_hash!(),
            prev_hash!(),
        ),
    ),
    (
        "pickup_times_changed",
        concat!(
            envelope_head!(),
            "040431303031", // actor Staff("1001")
            "1f",           // PickupTimesChanged
            "80a305",       // expiry_s 86_400
            "901c",         // reminder_s 3_600
            prev_hash!(),
        ),
    ),
    (
        "item_shorted_with_reason",
        concat!(
            envelope_head!(),
            "040431303033", // actor Staff("1003")
            "20",           // ItemShortedWithReason
            "02",           // line_no 2
            "00",           // found 0
            "01",           // reason Damaged
            "0431303033",   // by "1003"
            prev_hash!(),
        ),
    ),
    (
        "device_registered",
        concat!(
            envelope_head!(),
            "05",                 // actor Cli
            "21",                 // DeviceRegistered
            "086c6f636b65722d31", // name "locker-1"
            "01",                 // kind Locker
            "076c6f636b657231",   // tenant "locker1"
            "0201310132",         // compartments ["1", "2"]
            "0473346c74",         // salt "s4lt"
            "0468347368",         // password_hash "h4sh"
            "0466316e67",         // cert_sha256 "f1ng"
            prev_hash!(),
        ),
    ),
    (
        "device_removed",
        concat!(
            envelope_head!(),
            "01",                 // actor Api
            "22",                 // DeviceRemoved
            "086c6f636b65722d31", // name "locker-1"
            prev_hash!(),
        ),
    ),
    (
        "order_rejected_with_code",
        concat!(
            envelope_head!(),
            "00056f72646572", // actor Service "order"
            "23", // OrderRejectedWithCode (35)
            "0001074d494c4b2d314c163220617661696c61626c652c2033206f726465726564",
            prev_hash!(),
        ),
    ),
    (
        "order_lines_rejected",
        concat!(
            envelope_head!(),
            "040431303031", // actor Staff "1001"
            "24", // OrderLinesRejected (36)
            "010206454747532d36010001010431303031",
            prev_hash!(),
        ),
    ),
    (
        "till_receipt_recorded",
        concat!(
            envelope_head!(),
            "020674696c6c2d31", // actor Device "till-1"
            "25", // TillReceiptRecorded (37)
            "0754312d303034320674696c6c2d318887a4fbfc31000002074d494c4b2d314c020006454747532d3601010000",
            prev_hash!(),
        ),
    ),
    (
        "stock_written_off",
        concat!(
            envelope_head!(),
            "040431303031", // actor Staff "1001"
            "26", // StockWrittenOff (38)
            "074d494c4b2d314c03010b7368656c6620636865636b0431303031",
            prev_hash!(),
        ),
    ),
    (
        "safety_stock_set",
        concat!(
            envelope_head!(),
            "040431303031", // actor Staff "1001"
            "27", // SafetyStockSet (39)
            "0105646169727901020431303031",
            prev_hash!(),
        ),
    ),
    (
        "delivery_announced",
        concat!(
            envelope_head!(),
            "03", // actor Cloud
            "28", // DeliveryAnnounced (40)
            "04442d373701074d494c4b2d314c180180a8e288fd31",
            prev_hash!(),
        ),
    ),
    (
        "delivery_received",
        concat!(
            envelope_head!(),
            "040431303033", // actor Staff "1003"
            "29", // DeliveryReceived (41)
            "04442d373701074d494c4b2d314c160431303033",
            prev_hash!(),
        ),
    ),
    (
        "stock_snapshot_reconciled",
        concat!(
            envelope_head!(),
            "03", // actor Cloud
            "2a", // StockSnapshotReconciled (42)
            "80e68ad9fc3101074d494c4b2d314c50054a0106454747532d36",
            prev_hash!(),
        ),
    ),
    (
        "count_task_opened",
        concat!(
            envelope_head!(),
            "040431303033", // actor Staff "1003"
            "2b", // CountTaskOpened (43)
            "0443313866074d494c4b2d314c000e73686f7274206f6e204f52442d39",
            prev_hash!(),
        ),
    ),
    (
        "count_recorded",
        concat!(
            envelope_head!(),
            "040431303033", // actor Staff "1003"
            "2c", // CountRecorded (44)
            "044331386607180431303033",
            prev_hash!(),
        ),
    ),
    (
        "count_applied",
        concat!(
            envelope_head!(),
            "040431303031", // actor Staff "1001"
            "2d", // CountApplied (45)
            "0443313866074d494c4b2d314c07010431303031",
            prev_hash!(),
        ),
    ),
    (
        "count_task_cancelled",
        concat!(
            envelope_head!(),
            "040431303031", // actor Staff "1001"
            "2e", // CountTaskCancelled (46)
            "0443313866074d494c4b2d314c0d636f756e7465642062792048510431303031",
            prev_hash!(),
        ),
    ),
    (
        "availability_changed",
        concat!(
            envelope_head!(),
            "000c617661696c6162696c697479", // actor Service "availability"
            "2f", // AvailabilityChanged (47)
            "01074d494c4b2d314c0512",
            prev_hash!(),
        ),
    ),
    (
        "availability_snapshot",
        concat!(
            envelope_head!(),
            "000c617661696c6162696c697479", // actor Service "availability"
            "30", // AvailabilitySnapshot (48)
            "044131386601020106454747532d360001",
            prev_hash!(),
        ),
    ),
    (
        "catalog_entries_imported",
        concat!(
            envelope_head!(),
            "01", // actor Api
            "31", // CatalogEntriesImported (49)
            "010c534b552d504541532d314b471046726f7a656e20706561732031206b67020d3530313233343536373839303008393633383530373409010402f4030001056461697279",
            prev_hash!(),
        ),
    ),
    (
        "order_partial_policy",
        concat!(
            envelope_head!(),
            "03", // actor Cloud
            "32", // OrderPartialPolicy (50)
            "00",
            prev_hash!(),
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
            Actor::Cli => "cli",
        }
    }
    fn command_name(command: &Command) -> &'static str {
        match command {
            Command::CreateOrder { .. } => "create_order",
            Command::MarkPicked { .. } => "mark_picked",
            Command::HandOver { .. } => "hand_over",
            Command::ConfirmPayment { .. } => "confirm_payment",
            Command::StartPick { .. } => "start_pick",
            Command::PickItem { .. } => "pick_item",
            Command::ShortItem { .. } => "short_item",
            Command::SubstituteItem { .. } => "substitute_item",
            Command::Stage { .. } => "stage",
            Command::CheckIn { .. } => "check_in",
            Command::Cancel { .. } => "cancel",
            Command::CountStock { .. } => "count_stock",
            Command::AdjustStock { .. } => "adjust_stock",
            Command::ImportCatalog { .. } => "import_catalog",
            Command::SetStoreOpen { .. } => "set_store_open",
            Command::CheckInByCode { .. } => "check_in_by_code",
            Command::ReportLockerDoor { .. } => "report_locker_door",
            Command::ShortItemWithReason { .. } => "short_item_with_reason",
            Command::AddStaff { .. } => "add_staff",
            Command::SetStaffRole { .. } => "set_staff_role",
            Command::SetStaffEnabled { .. } => "set_staff_enabled",
            Command::ResetStaffPin { .. } => "reset_staff_pin",
            Command::SetPickupTimes { .. } => "set_pickup_times",
            Command::RegisterDevice { .. } => "register_device",
            Command::RemoveDevice { .. } => "remove_device",
            Command::RecordReceipt { .. } => "record_receipt",
            Command::WriteOff { .. } => "write_off",
            Command::SetSafetyStock { .. } => "set_safety_stock",
            Command::AnnounceDelivery { .. } => "announce_delivery",
            Command::ReceiveDelivery { .. } => "receive_delivery",
            Command::ReconcileSnapshot { .. } => "reconcile_snapshot",
            Command::OpenCountTask { .. } => "open_count_task",
            Command::RecordCount { .. } => "record_count",
            Command::ApproveCount { .. } => "approve_count",
            Command::CancelCountTask { .. } => "cancel_count_task",
            Command::RejectOrder { .. } => "reject_order",
            Command::RequestAvailability {} => "request_availability",
            Command::ShortItemWithWriteOff { .. } => "short_item_with_write_off",
            Command::ImportCatalogEntries { .. } => "import_catalog_entries",
            Command::CreateOrderWithPolicy { .. } => "create_order_with_policy",
        }
    }

    let events = common::events();
    let kinds: BTreeSet<_> = events.iter().map(|(_, e, _)| e.kind().name()).collect();
    let all_kinds: BTreeSet<_> = EventKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(kinds, all_kinds);
    // In declaration order, so the vectors below read as variant indices.
    // Three kinds have two variants each: `item_shorted`, `order_rejected`
    // and `catalog_imported`, and their later forms (with a reason, a code,
    // categories), in the places they were appended.
    let names: Vec<_> = events.iter().map(|(name, _, _)| *name).collect();
    let mut all_names: Vec<_> = EventKind::ALL.iter().map(|k| k.name()).collect();
    let after = all_names
        .iter()
        .position(|n| *n == "pickup_times_changed")
        .expect("pickup_times_changed")
        + 1;
    all_names.insert(after, "item_shorted_with_reason");
    let after = all_names
        .iter()
        .position(|n| *n == "device_removed")
        .expect("device_removed")
        + 1;
    all_names.insert(after, "order_rejected_with_code");
    let at = all_names
        .iter()
        .position(|n| *n == "order_partial_policy")
        .expect("order_partial_policy");
    all_names.insert(at, "catalog_entries_imported");
    assert_eq!(names, all_names);

    let actors: BTreeSet<_> = events.iter().map(|(_, _, a)| actor_name(a)).collect();
    assert_eq!(actors.len(), 6, "every actor appears: {actors:?}");

    let commands = common::commands();
    let names: BTreeSet<_> = commands
        .iter()
        .map(|(_, c)| command_name(&c.command))
        .collect();
    assert_eq!(names.len(), 40, "every command appears: {names:?}");
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
fn schema_version() {
    assert_eq!(SCHEMA_VERSION, 2);
    assert_eq!(
        common::envelope(Event::OrderAccepted, Actor::Api).schema,
        SCHEMA_VERSION
    );
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
        "02",                               // schema 2
        "01",                               // actor Api
        "05",                               // OrderAccepted
        prev_hash!(),
    );
    check_postcard::<Envelope>(&[("no_causation", envelope, want)]);
}

/// The first entry of a log chains to the all-zero hash.
#[test]
fn chain_hash_of_the_first_entry() {
    check_postcard::<ChainHash>(&[(
        "zeros",
        ChainHash::default(),
        concat!(
            "01",                               // FORMAT_VERSION
            "00000000000000000000000000000000", // 32 zero bytes,
            "00000000000000000000000000000000", // no length prefix
        ),
    )]);
    check_json::<ChainHash>(&[
        (
            "zeros",
            ChainHash::default(),
            r#""0000000000000000000000000000000000000000000000000000000000000000""#,
        ),
        (
            "pattern",
            ChainHash(common::PREV_HASH),
            concat!(r#"""#, prev_hash_json!(), r#"""#),
        ),
    ]);
}

/// The small enums, one case per variant in declaration order: postcard
/// writes the index as one byte, JSON the snake_case name.
#[test]
fn unit_enums() {
    // Each postcard vector is FORMAT_VERSION (01) then the variant index.
    check_postcard(&[
        ("prepaid", PaymentMode::Prepaid, "0100"),
        ("pay_at_pickup", PaymentMode::PayAtPickup, "0101"),
        ("pending", PaymentMode::Pending, "0102"),
    ]);
    check_json(&[
        ("prepaid", PaymentMode::Prepaid, r#""prepaid""#),
        (
            "pay_at_pickup",
            PaymentMode::PayAtPickup,
            r#""pay_at_pickup""#,
        ),
        ("pending", PaymentMode::Pending, r#""pending""#),
    ]);
    check_postcard(&[
        ("ambient", Zone::Ambient, "0100"),
        ("chilled", Zone::Chilled, "0101"),
        ("frozen", Zone::Frozen, "0102"),
    ]);
    check_json(&[
        ("ambient", Zone::Ambient, r#""ambient""#),
        ("chilled", Zone::Chilled, r#""chilled""#),
        ("frozen", Zone::Frozen, r#""frozen""#),
    ]);
    check_postcard(&[
        ("shelf", SlotKind::Shelf, "0100"),
        ("cold_storage", SlotKind::ColdStorage, "0101"),
        ("freezer", SlotKind::Freezer, "0102"),
        ("locker", SlotKind::Locker, "0103"),
    ]);
    check_json(&[
        ("shelf", SlotKind::Shelf, r#""shelf""#),
        ("cold_storage", SlotKind::ColdStorage, r#""cold_storage""#),
        ("freezer", SlotKind::Freezer, r#""freezer""#),
        ("locker", SlotKind::Locker, r#""locker""#),
    ]);
    check_postcard(&[
        ("desk", ArrivalChannel::Desk, "0100"),
        ("kiosk", ArrivalChannel::Kiosk, "0101"),
        ("curbside", ArrivalChannel::Curbside, "0102"),
    ]);
    check_json(&[
        ("desk", ArrivalChannel::Desk, r#""desk""#),
        ("kiosk", ArrivalChannel::Kiosk, r#""kiosk""#),
        ("curbside", ArrivalChannel::Curbside, r#""curbside""#),
    ]);
    check_postcard(&[
        ("code", PickupProof::Code, "0100"),
        ("signed_token", PickupProof::SignedToken, "0101"),
    ]);
    check_json(&[
        ("code", PickupProof::Code, r#""code""#),
        (
            "signed_token",
            PickupProof::SignedToken,
            r#""signed_token""#,
        ),
    ]);
    check_postcard(&[
        ("picker", Role::Picker, "0100"),
        ("desk", Role::Desk, "0101"),
        ("manager", Role::Manager, "0102"),
    ]);
    check_json(&[
        ("picker", Role::Picker, r#""picker""#),
        ("desk", Role::Desk, r#""desk""#),
        ("manager", Role::Manager, r#""manager""#),
    ]);
    check_postcard(&[
        ("not_found", ShortReason::NotFound, "0100"),
        ("damaged", ShortReason::Damaged, "0101"),
        ("out_of_date", ShortReason::OutOfDate, "0102"),
        ("other", ShortReason::Other, "0103"),
    ]);
    check_json(&[
        ("not_found", ShortReason::NotFound, r#""not_found""#),
        ("damaged", ShortReason::Damaged, r#""damaged""#),
        ("out_of_date", ShortReason::OutOfDate, r#""out_of_date""#),
        ("other", ShortReason::Other, r#""other""#),
    ]);
    check_postcard(&[
        ("before_pick", CancelStage::BeforePick, "0100"),
        ("during_pick", CancelStage::DuringPick, "0101"),
        ("after_pick", CancelStage::AfterPick, "0102"),
        ("after_staging", CancelStage::AfterStaging, "0103"),
    ]);
    check_json(&[
        ("before_pick", CancelStage::BeforePick, r#""before_pick""#),
        ("during_pick", CancelStage::DuringPick, r#""during_pick""#),
        ("after_pick", CancelStage::AfterPick, r#""after_pick""#),
        (
            "after_staging",
            CancelStage::AfterStaging,
            r#""after_staging""#,
        ),
    ]);
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
                "064b3750325158",             // code "K7P2QX"
                "01",                         // id_checked
            ),
        ),
        (
            "confirm_payment",
            concat!(
                "01",
                "08636d642d30303034",         // id "cmd-0004"
                "03",                         // ConfirmPayment
                "0c4f52442d313030312e625f32", // order_id
            ),
        ),
        (
            "start_pick",
            concat!(
                "01",
                "08636d642d30303035",         // id "cmd-0005"
                "04",                         // StartPick
                "0c4f52442d313030312e625f32", // order_id
                "0773746166662d37",           // staff "staff-7"
                "01",                         // walk_id Some:
                "0677616c6b2d33",             // "walk-3"
                "02",                         // tote 2
            ),
        ),
        (
            "pick_item",
            concat!(
                "01",
                "08636d642d30303036",           // id "cmd-0006"
                "05",                           // PickItem
                "0c4f52442d313030312e625f32",   // order_id
                "01",                           // line_no 1
                "0d34303036333831333333393331", // barcode "4006381333931"
                "02",                           // quantity 2
                "0773746166662d37",             // staff "staff-7"
            ),
        ),
        (
            "short_item",
            concat!(
                "01",
                "08636d642d30303037",         // id "cmd-0007"
                "06",                         // ShortItem
                "0c4f52442d313030312e625f32", // order_id
                "02",                         // line_no 2
                "00",                         // found 0
                "0773746166662d37",           // staff "staff-7"
            ),
        ),
        (
            "substitute_item",
            concat!(
                "01",
                "08636d642d30303038",         // id "cmd-0008"
                "07",                         // SubstituteItem
                "0c4f52442d313030312e625f32", // order_id
                "02",                         // line_no 2
                "083936333835303734",         // barcode "96385074"
                "01",                         // quantity 1
                "0773746166662d37",           // staff "staff-7"
            ),
        ),
        (
            "stage",
            concat!(
                "01",
                "08636d642d30303039",         // id "cmd-0009"
                "08",                         // Stage
                "0c4f52442d313030312e625f32", // order_id
                "01",                         // slot kind ColdStorage
                "024332",                     // slot id "C2"
                "0773746166662d37",           // staff "staff-7"
            ),
        ),
        (
            "check_in",
            concat!(
                "01",
                "08636d642d30303130",             // id "cmd-0010"
                "09",                             // CheckIn
                "0c4f52442d313030312e625f32",     // order_id
                "02",                             // channel Curbside
                "01",                             // note Some:
                "0e62617920342c207265642076616e", // "bay 4, red van"
            ),
        ),
        (
            "cancel",
            concat!(
                "01",
                "08636d642d30303131",                 // id "cmd-0011"
                "0a",                                 // Cancel
                "0c4f52442d313030312e625f32",         // order_id
                "10637573746f6d65722072657175657374", // reason "customer request"
                "0a68712d737570706f7274",             // by "hq-support"
            ),
        ),
        (
            "count_stock",
            concat!(
                "01",
                "08636d642d30303132",             // id "cmd-0012"
                "0b",                             // CountStock
                "02",                             // 2 counts
                "0d534b552d4150504c452d314b4700", // "SKU-APPLE-1KG", 0
                "0b534b552d4d494c4b2d314c8001",   // "SKU-MILK-1L", 128
                "0773746166662d37",               // staff "staff-7"
            ),
        ),
        (
            "adjust_stock",
            concat!(
                "01",
                "08636d642d30303133",       // id "cmd-0013"
                "0c",                       // AdjustStock
                "0b534b552d4d494c4b2d314c", // sku "SKU-MILK-1L"
                "05",                       // delta -3 (zigzag 5)
                "0764616d61676564",         // reason "damaged"
                "056d67722d31",             // staff "mgr-1"
            ),
        ),
        (
            "import_catalog",
            concat!(
                "01",
                "08636d642d30303134", // id "cmd-0014"
                "0d",                 // ImportCatalog
                catalog_items!(),
                "01",                           // 1 stock entry:
                "0c534b552d504541532d314b4728", // "SKU-PEAS-1KG", 40
            ),
        ),
        (
            "set_store_open",
            concat!(
                "01",
                "08636d642d30303135",   // id "cmd-0015"
                "0e",                   // SetStoreOpen
                "00",                   // open false
                "09706f77657220637574", // reason "power cut"
                "056d67722d31",         // staff "mgr-1"
            ),
        ),
        (
            "check_in_by_code",
            concat!(
                "01",
                "08636d642d30303136",     // id "cmd-0016"
                "0f",                     // CheckInByCode
                token!(),                 // code: the QR token
                "01",                     // channel Kiosk
                "01",                     // note Some:
                "0a656e7472616e63652042", // "entrance B"
            ),
        ),
        (
            "report_locker_door",
            concat!(
                "01",
                "08636d642d30303137", // id "cmd-0017"
                "10",                 // ReportLockerDoor
                "023132",             // compartment "12"
                "01",                 // open true
            ),
        ),
        (
            "short_item_with_reason",
            concat!(
                "01",
                "08636d642d30303138",         // id "cmd-0018"
                "11",                         // ShortItemWithReason
                "0c4f52442d313030312e625f32", // order_id
                "02",                         // line_no 2
                "00",                         // found 0
                "02",                         // reason OutOfDate
            ),
        ),
        (
            "add_staff",
            concat!(
                "01",
                "08636d642d30303139", // id "cmd-0019"
                "12",                 // AddStaff
                "0431303033",         // staff_id "1003"
                "03416e6e",           // name "Ann"
                "00",                 // role Picker
                pin_hash!(),
            ),
        ),
        (
            "set_staff_role",
            concat!(
                "01",
                "08636d642d30303230", // id "cmd-0020"
                "13",                 // SetStaffRole
                "0431303033",         // staff_id "1003"
                "01",                 // role Desk
            ),
        ),
        (
            "set_staff_enabled",
            concat!(
                "01",
                "08636d642d30303231", // id "cmd-0021"
                "14",                 // SetStaffEnabled
                "0431303033",         // staff_id "1003"
                "00",                 // enabled false
            ),
        ),
        (
            "reset_staff_pin",
            concat!(
                "01",
                "08636d642d30303232", // id "cmd-0022"
                "15",                 // ResetStaffPin
                "0431303033",         // staff_id "1003"
                pin_hash!(),
            ),
        ),
        (
            "set_pickup_times",
            concat!(
                "01",
                "08636d642d30303233", // id "cmd-0023"
                "16",                 // SetPickupTimes
                "80a305",             // expiry_s 86_400
                "901c",               // reminder_s 3_600
            ),
        ),
        (
            "register_device",
            concat!(
                "01",
                "08636d642d30303234", // id "cmd-0024"
                "17",                 // RegisterDevice
                "086c6f636b65722d31", // name "locker-1"
                "01",                 // kind Locker
                "0201310132",         // compartments ["1", "2"]
                "0473346c74",         // salt "s4lt"
                "0468347368",         // password_hash "h4sh"
                "0466316e67",         // cert_sha256 "f1ng"
            ),
        ),
        (
            "remove_device",
            concat!(
                "01",
                "08636d642d30303235", // id "cmd-0025"
                "18",                 // RemoveDevice
                "086c6f636b65722d31", // name "locker-1"
            ),
        ),
        (
            "record_receipt",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303236", // id
                "19", // RecordReceipt (25)
                "0754312d303034320674696c6c2d318887a4fbfc31000002074d494c4b2d314c020006454747532d360101",
            ),
        ),
        (
            "write_off",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303237", // id
                "1a", // WriteOff (26)
                "074d494c4b2d314c01000764726f70706564",
            ),
        ),
        (
            "set_safety_stock",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303238", // id
                "1b", // SetSafetyStock (27)
                "02074d494c4b2d314c0103",
            ),
        ),
        (
            "announce_delivery",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303239", // id
                "1c", // AnnounceDelivery (28)
                "04442d373701074d494c4b2d314c1800",
            ),
        ),
        (
            "receive_delivery",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303330", // id
                "1d", // ReceiveDelivery (29)
                "0104442d373701074d494c4b2d314c16",
            ),
        ),
        (
            "reconcile_snapshot",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303331", // id
                "1e", // ReconcileSnapshot (30)
                "80e68ad9fc3101074d494c4b2d314c50",
            ),
        ),
        (
            "open_count_task",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303332", // id
                "1f", // OpenCountTask (31)
                "074d494c4b2d314c096c6f6f6b73206c6f77",
            ),
        ),
        (
            "record_count",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303333", // id
                "20", // RecordCount (32)
                "044331386607",
            ),
        ),
        (
            "approve_count",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303334", // id
                "21", // ApproveCount (33)
                "0443313866",
            ),
        ),
        (
            "cancel_count_task",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303335", // id
                "22", // CancelCountTask (34)
                "04433138660d636f756e746564206279204851",
            ),
        ),
        (
            "reject_order",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303336", // id
                "23", // RejectOrder (35)
                "0c4f52442d313030312e625f320001020b7368656c6620656d707479",
            ),
        ),
        (
            "request_availability",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303337", // id
                "24", // RequestAvailability (36)
            ),
        ),
        (
            "short_item_with_write_off",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303338", // id
                "25", // ShortItemWithWriteOff (37)
                "0c4f52442d313030312e625f3201010102",
            ),
        ),
        (
            "import_catalog_entries",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303339", // id
                "26", // ImportCatalogEntries (38)
                "010b534b552d4c414745522d360d4c616765722036783333306d6c000e020101860e0100010b534b552d4c414745522d360c",
            ),
        ),
        (
            "create_order_with_policy",
            concat!(
                "01", // FORMAT_VERSION
                "08636d642d30303430", // id
                "27", // CreateOrderWithPolicy (39)
                "0c4f52442d313030312e625f32075a6fc3ab204e67020d534b552d4150504c452d314b4702ba05010b534b552d4d494c4b2d314cac02630001b388a4fbfc31000111534e50312e593278686157302e63326c6e01",
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

/// `common::new_order()` in JSON.
macro_rules! new_order_json {
    () => {
        concat!(
            r#"{"customer_name":"Zoë Ng","lines":["#,
            r#"{"sku":"SKU-APPLE-1KG","quantity":2,"unit_price_cents":349,"substitution_allowed":true},"#,
            r#"{"sku":"SKU-MILK-1L","quantity":300,"unit_price_cents":-50,"substitution_allowed":false}],"#,
            r#""due_at_ms":1717171717171,"payment":"prepaid","pickup_token":"SNP1.Y2xhaW0.c2ln"}"#,
        )
    };
}

/// `common::catalog_items()` in JSON.
macro_rules! catalog_items_json {
    () => {
        concat!(
            r#"[{"sku":"SKU-PEAS-1KG","name":"Frozen peas 1 kg","#,
            r#""barcodes":["5012345678900","96385074"],"location":{"aisle":9,"bay":1,"shelf":4},"#,
            r#""zone":"frozen","unit_price_cents":250,"age_restricted":false},"#,
            r#"{"sku":"SKU-LAGER-6","name":"Lager 6x330ml","#,
            r#""barcodes":[],"location":{"aisle":14,"bay":2,"shelf":1},"#,
            r#""zone":"chilled","unit_price_cents":899,"age_restricted":true}]"#,
        )
    };
}

/// Devices speak JSON on `store/{store}/device/{device}/cmd` and `…/reply`.
#[test]
fn command_json_as_devices_send_it() {
    let want = [
        (
            "create_order",
            concat!(
                r#"{"id":"cmd-0001","command":{"create_order":{"order_id":"ORD-1001.b_2","order":"#,
                new_order_json!(),
                r#"}}}"#,
            ),
        ),
        (
            "mark_picked",
            r#"{"id":"cmd-0002","command":{"mark_picked":{"order_id":"ORD-1001.b_2","staff":"staff-7"}}}"#,
        ),
        (
            "hand_over",
            concat!(
                r#"{"id":"cmd-0003","command":{"hand_over":{"order_id":"ORD-1001.b_2","staff":"staff-9","#,
                r#""code":"K7P2QX","id_checked":true}}}"#,
            ),
        ),
        (
            "confirm_payment",
            r#"{"id":"cmd-0004","command":{"confirm_payment":{"order_id":"ORD-1001.b_2"}}}"#,
        ),
        (
            "start_pick",
            concat!(
                r#"{"id":"cmd-0005","command":{"start_pick":{"order_id":"ORD-1001.b_2","staff":"staff-7","#,
                r#""walk_id":"walk-3","tote":2}}}"#,
            ),
        ),
        (
            "pick_item",
            concat!(
                r#"{"id":"cmd-0006","command":{"pick_item":{"order_id":"ORD-1001.b_2","line_no":1,"#,
                r#""barcode":"4006381333931","quantity":2,"staff":"staff-7"}}}"#,
            ),
        ),
        (
            "short_item",
            concat!(
                r#"{"id":"cmd-0007","command":{"short_item":{"order_id":"ORD-1001.b_2","line_no":2,"#,
                r#""found":0,"staff":"staff-7"}}}"#,
            ),
        ),
        (
            "substitute_item",
            concat!(
                r#"{"id":"cmd-0008","command":{"substitute_item":{"order_id":"ORD-1001.b_2","line_no":2,"#,
                r#""barcode":"96385074","quantity":1,"staff":"staff-7"}}}"#,
            ),
        ),
        (
            "stage",
            concat!(
                r#"{"id":"cmd-0009","command":{"stage":{"order_id":"ORD-1001.b_2","#,
                r#""slot":{"kind":"cold_storage","id":"C2"},"staff":"staff-7"}}}"#,
            ),
        ),
        (
            "check_in",
            concat!(
                r#"{"id":"cmd-0010","command":{"check_in":{"order_id":"ORD-1001.b_2","#,
                r#""channel":"curbside","note":"bay 4, red van"}}}"#,
            ),
        ),
        (
            "cancel",
            concat!(
                r#"{"id":"cmd-0011","command":{"cancel":{"order_id":"ORD-1001.b_2","#,
                r#""reason":"customer request","by":"hq-support"}}}"#,
            ),
        ),
        (
            "count_stock",
            concat!(
                r#"{"id":"cmd-0012","command":{"count_stock":{"counts":["#,
                r#"{"sku":"SKU-APPLE-1KG","quantity":0},{"sku":"SKU-MILK-1L","quantity":128}],"#,
                r#""staff":"staff-7"}}}"#,
            ),
        ),
        (
            "adjust_stock",
            concat!(
                r#"{"id":"cmd-0013","command":{"adjust_stock":{"sku":"SKU-MILK-1L","delta":-3,"#,
                r#""reason":"damaged","staff":"mgr-1"}}}"#,
            ),
        ),
        (
            "import_catalog",
            concat!(
                r#"{"id":"cmd-0014","command":{"import_catalog":{"items":"#,
                catalog_items_json!(),
                r#","stock":[{"sku":"SKU-PEAS-1KG","quantity":40}]}}}"#,
            ),
        ),
        (
            "set_store_open",
            concat!(
                r#"{"id":"cmd-0015","command":{"set_store_open":{"open":false,"#,
                r#""reason":"power cut","staff":"mgr-1"}}}"#,
            ),
        ),
        (
            "check_in_by_code",
            concat!(
                r#"{"id":"cmd-0016","command":{"check_in_by_code":{"code":"SNP1.Y2xhaW0.c2ln","#,
                r#""channel":"kiosk","note":"entrance B"}}}"#,
            ),
        ),
        (
            "report_locker_door",
            r#"{"id":"cmd-0017","command":{"report_locker_door":{"compartment":"12","open":true}}}"#,
        ),
        (
            "short_item_with_reason",
            concat!(
                r#"{"id":"cmd-0018","command":{"short_item_with_reason":{"order_id":"ORD-1001.b_2","#,
                r#""line_no":2,"found":0,"reason":"out_of_date"}}}"#,
            ),
        ),
        (
            "add_staff",
            concat!(
                r#"{"id":"cmd-0019","command":{"add_staff":{"staff_id":"1003","name":"Ann","role":"picker","#,
                r#""pin_hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}}}"#,
            ),
        ),
        (
            "set_staff_role",
            r#"{"id":"cmd-0020","command":{"set_staff_role":{"staff_id":"1003","role":"desk"}}}"#,
        ),
        (
            "set_staff_enabled",
            r#"{"id":"cmd-0021","command":{"set_staff_enabled":{"staff_id":"1003","enabled":false}}}"#,
        ),
        (
            "reset_staff_pin",
            concat!(
                r#"{"id":"cmd-0022","command":{"reset_staff_pin":{"staff_id":"1003","#,
                r#""pin_hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}}}"#,
            ),
        ),
        (
            "set_pickup_times",
            r#"{"id":"cmd-0023","command":{"set_pickup_times":{"expiry_s":86400,"reminder_s":3600}}}"#,
        ),
        (
            "register_device",
            concat!(
                r#"{"id":"cmd-0024","command":{"register_device":{"name":"locker-1","kind":"locker","#,
                r#""compartments":["1","2"],"salt":"s4lt","password_hash":"h4sh","cert_sha256":"f1ng"}}}"#,
            ),
        ),
        (
            "remove_device",
            r#"{"id":"cmd-0025","command":{"remove_device":{"name":"locker-1"}}}"#,
        ),
        (
            "record_receipt",
            r#"{"id":"cmd-0026","command":{"record_receipt":{"receipt":{"receipt_id":"T1-0042","till":"till-1","at_ms":1717171717000,"kind":"sale","voids":null,"lines":[{"sku":"MILK-1L","quantity":2,"damaged":false},{"sku":"EGGS-6","quantity":1,"damaged":true}]}}}}"#,
        ),
        (
            "write_off",
            r#"{"id":"cmd-0027","command":{"write_off":{"sku":"MILK-1L","quantity":1,"reason":"damaged","note":"dropped"}}}"#,
        ),
        (
            "set_safety_stock",
            r#"{"id":"cmd-0028","command":{"set_safety_stock":{"scope":{"sku":"MILK-1L"},"safety":3}}}"#,
        ),
        (
            "announce_delivery",
            r#"{"id":"cmd-0029","command":{"announce_delivery":{"delivery_id":"D-77","lines":[{"sku":"MILK-1L","quantity":24}],"expected_ms":null}}}"#,
        ),
        (
            "receive_delivery",
            r#"{"id":"cmd-0030","command":{"receive_delivery":{"delivery_id":"D-77","lines":[{"sku":"MILK-1L","quantity":22}]}}}"#,
        ),
        (
            "reconcile_snapshot",
            r#"{"id":"cmd-0031","command":{"reconcile_snapshot":{"as_of_ms":1717100000000,"lines":[{"sku":"MILK-1L","on_hand":40}]}}}"#,
        ),
        (
            "open_count_task",
            r#"{"id":"cmd-0032","command":{"open_count_task":{"sku":"MILK-1L","note":"looks low"}}}"#,
        ),
        (
            "record_count",
            r#"{"id":"cmd-0033","command":{"record_count":{"task_id":"C18f","counted":7}}}"#,
        ),
        (
            "approve_count",
            r#"{"id":"cmd-0034","command":{"approve_count":{"task_id":"C18f"}}}"#,
        ),
        (
            "cancel_count_task",
            r#"{"id":"cmd-0035","command":{"cancel_count_task":{"task_id":"C18f","reason":"counted by HQ"}}}"#,
        ),
        (
            "reject_order",
            r#"{"id":"cmd-0036","command":{"reject_order":{"order_id":"ORD-1001.b_2","reason":"not_in_stock","lines":[2],"note":"shelf empty"}}}"#,
        ),
        (
            "request_availability",
            r#"{"id":"cmd-0037","command":{"request_availability":{}}}"#,
        ),
        (
            "short_item_with_write_off",
            r#"{"id":"cmd-0038","command":{"short_item_with_write_off":{"order_id":"ORD-1001.b_2","line_no":1,"found":1,"reason":"damaged","written_off":2}}}"#,
        ),
        (
            "import_catalog_entries",
            r#"{"id":"cmd-0039","command":{"import_catalog_entries":{"items":[{"item":{"sku":"SKU-LAGER-6","name":"Lager 6x330ml","barcodes":[],"location":{"aisle":14,"bay":2,"shelf":1},"zone":"chilled","unit_price_cents":899,"age_restricted":true},"category":null}],"stock":[{"sku":"SKU-LAGER-6","quantity":12}]}}}"#,
        ),
        (
            "create_order_with_policy",
            r#"{"id":"cmd-0040","command":{"create_order_with_policy":{"order_id":"ORD-1001.b_2","order":{"customer_name":"Zoë Ng","lines":[{"sku":"SKU-APPLE-1KG","quantity":2,"unit_price_cents":349,"substitution_allowed":true},{"sku":"SKU-MILK-1L","quantity":300,"unit_price_cents":-50,"substitution_allowed":false}],"due_at_ms":1717171717171,"payment":"prepaid","pickup_token":"SNP1.Y2xhaW0.c2ln"},"partial":"none"}}}"#,
        ),
    ];
    check_json::<CommandEnvelope>(&by_name(common::commands(), &want));
}

/// What a device may leave out: the fields with a default. (The node always
/// writes every field, so these are decode-only.)
#[test]
fn command_json_defaults() {
    let order_id = common::order_id;
    let cases: Vec<(&str, &str, Command)> = vec![
        (
            "hand_over without id_checked",
            r#"{"hand_over":{"order_id":"ORD-1001.b_2","staff":"staff-9","code":"K7P2QX"}}"#,
            Command::HandOver {
                order_id: order_id(),
                staff: "staff-9".to_owned(),
                code: "K7P2QX".to_owned(),
                id_checked: false,
            },
        ),
        (
            "start_pick alone, tote 1",
            r#"{"start_pick":{"order_id":"ORD-1001.b_2","staff":"staff-7"}}"#,
            Command::StartPick {
                order_id: order_id(),
                staff: "staff-7".to_owned(),
                walk_id: None,
                tote: 1,
            },
        ),
        (
            "pick_item one unit per scan",
            r#"{"pick_item":{"order_id":"ORD-1001.b_2","line_no":1,"barcode":"4006381333931","staff":"staff-7"}}"#,
            Command::PickItem {
                order_id: order_id(),
                line_no: 1,
                barcode: "4006381333931".to_owned(),
                quantity: 1,
                staff: "staff-7".to_owned(),
            },
        ),
        (
            "check_in without a note",
            r#"{"check_in":{"order_id":"ORD-1001.b_2","channel":"desk"}}"#,
            Command::CheckIn {
                order_id: order_id(),
                channel: ArrivalChannel::Desk,
                note: None,
            },
        ),
        (
            "check_in with a null note",
            r#"{"check_in":{"order_id":"ORD-1001.b_2","channel":"kiosk","note":null}}"#,
            Command::CheckIn {
                order_id: order_id(),
                channel: ArrivalChannel::Kiosk,
                note: None,
            },
        ),
        (
            "check_in_by_code without a note",
            r#"{"check_in_by_code":{"code":"K7P2QX","channel":"desk"}}"#,
            Command::CheckInByCode {
                code: "K7P2QX".to_owned(),
                channel: ArrivalChannel::Desk,
                note: None,
            },
        ),
        (
            "check_in_by_code with a null note",
            r#"{"check_in_by_code":{"code":"K7P2QX","channel":"kiosk","note":null}}"#,
            Command::CheckInByCode {
                code: "K7P2QX".to_owned(),
                channel: ArrivalChannel::Kiosk,
                note: None,
            },
        ),
        (
            "set_store_open without a reason",
            r#"{"set_store_open":{"open":true,"staff":"mgr-1"}}"#,
            Command::SetStoreOpen {
                open: true,
                reason: String::new(),
                staff: "mgr-1".to_owned(),
            },
        ),
        (
            "import_catalog without stock or age_restricted",
            concat!(
                r#"{"import_catalog":{"items":[{"sku":"S-1","name":"Tea","barcodes":["96385074"],"#,
                r#""location":{"aisle":1,"bay":1,"shelf":1},"zone":"ambient","unit_price_cents":99}]}}"#,
            ),
            Command::ImportCatalog {
                items: vec![protocol::CatalogItem {
                    sku: "S-1".to_owned(),
                    name: "Tea".to_owned(),
                    barcodes: vec!["96385074".to_owned()],
                    location: protocol::Location {
                        aisle: 1,
                        bay: 1,
                        shelf: 1,
                    },
                    zone: Zone::Ambient,
                    unit_price_cents: 99,
                    age_restricted: false,
                }],
                stock: Vec::new(),
            },
        ),
        (
            "create_order without due time, pickup token or substitution flag",
            concat!(
                r#"{"create_order":{"order_id":"ORD-1001.b_2","order":{"customer_name":"Ada","#,
                r#""lines":[{"sku":"S-1","quantity":1,"unit_price_cents":99}],"payment":"pending"}}}"#,
            ),
            Command::CreateOrder {
                order_id: order_id(),
                order: NewOrder {
                    customer_name: "Ada".to_owned(),
                    lines: vec![OrderLine {
                        sku: "S-1".to_owned(),
                        quantity: 1,
                        unit_price_cents: 99,
                        substitution_allowed: false,
                    }],
                    due_at_ms: None,
                    payment: PaymentMode::Pending,
                    pickup_token: None,
                },
            },
        ),
    ];
    for (name, json, want) in cases {
        assert_eq!(
            codec::from_json::<Command>(json.as_bytes()),
            Ok(want),
            "{name}"
        );
    }
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

/// Screens and the web view read events as JSON: unit variants as bare
/// names, the others as one-key objects.
#[test]
fn event_json_of_every_variant() {
    let want = [
        (
            "order_created",
            concat!(r#"{"order_created":"#, new_order_json!(), "}"),
        ),
        (
            "order_processed",
            r#"{"order_processed":{"payment":"pay_at_pickup"}}"#,
        ),
        (
            "shipment_prepared",
            concat!(
                r#"{"shipment_prepared":{"lines":["#,
                r#"{"line_no":2,"sku":"SKU-MILK-1L","quantity":300,"#,
                r#""location":{"aisle":1,"bay":2,"shelf":3},"zone":"chilled"},"#,
                r#"{"line_no":1,"sku":"SKU-APPLE-1KG","quantity":2,"#,
                r#""location":{"aisle":4,"bay":130,"shelf":0},"zone":"ambient"}]}}"#,
            ),
        ),
        (
            "shipment_processed",
            r#"{"shipment_processed":{"picked_by":"staff-7"}}"#,
        ),
        (
            "order_fulfilled",
            r#"{"order_fulfilled":{"handed_over_by":"staff-9","proof":"code","id_checked":true}}"#,
        ),
        ("order_accepted", r#""order_accepted""#),
        (
            "order_rejected",
            r#"{"order_rejected":{"reason":"Store closes before the due time"}}"#,
        ),
        (
            "pick_started",
            r#"{"pick_started":{"walk_id":"walk-3","tote":2,"by":"staff-7"}}"#,
        ),
        (
            "item_picked",
            r#"{"item_picked":{"line_no":1,"quantity":2,"barcode":"4006381333931","by":"staff-7"}}"#,
        ),
        (
            "item_shorted",
            r#"{"item_shorted":{"line_no":2,"found":0,"by":"staff-7"}}"#,
        ),
        (
            "item_substituted",
            concat!(
                r#"{"item_substituted":{"line_no":2,"sku":"SKU-OATMILK-1L","quantity":1,"#,
                r#""unit_price_cents":189,"barcode":"96385074","by":"staff-7"}}"#,
            ),
        ),
        (
            "order_staged",
            r#"{"order_staged":{"slot":{"kind":"cold_storage","id":"C2"},"by":"staff-7"}}"#,
        ),
        (
            "ready_for_pickup",
            r#"{"ready_for_pickup":{"code":"K7P2QX","token":"SNP1.Y2xhaW0.c2ln"}}"#,
        ),
        (
            "customer_arrived",
            r#"{"customer_arrived":{"channel":"curbside","note":"bay 4, red van"}}"#,
        ),
        ("pickup_expired", r#""pickup_expired""#),
        (
            "order_cancelled",
            r#"{"order_cancelled":{"reason":"customer request","stage":"after_staging","by":"hq-support"}}"#,
        ),
        (
            "cancel_rejected",
            r#"{"cancel_rejected":{"reason":"already handed over"}}"#,
        ),
        (
            "restocked",
            concat!(
                r#"{"restocked":{"items":[{"sku":"SKU-APPLE-1KG","quantity":2},"#,
                r#"{"sku":"SKU-MILK-1L","quantity":300}],"reason":"pickup expired"}}"#,
            ),
        ),
        (
            "stock_adjusted",
            r#"{"stock_adjusted":{"sku":"SKU-MILK-1L","delta":-3,"reason":"damaged"}}"#,
        ),
        (
            "stock_counted",
            concat!(
                r#"{"stock_counted":{"counts":[{"sku":"SKU-APPLE-1KG","quantity":0},"#,
                r#"{"sku":"SKU-MILK-1L","quantity":128}],"by":"staff-7"}}"#,
            ),
        ),
        (
            "catalog_imported",
            concat!(
                r#"{"catalog_imported":{"items":"#,
                catalog_items_json!(),
                "}}"
            ),
        ),
        (
            "order_late",
            r#"{"order_late":{"due_at_ms":1717171717171}}"#,
        ),
        (
            "pickup_reminded",
            r#"{"pickup_reminded":{"expires_at_ms":1717178917171}}"#,
        ),
        (
            "store_closed",
            r#"{"store_closed":{"reason":"power cut","by":"mgr-1"}}"#,
        ),
        ("store_opened", r#"{"store_opened":{"by":"mgr-1"}}"#),
        (
            "locker_door_reported",
            r#"{"locker_door_reported":{"compartment":"12","open":false}}"#,
        ),
        (
            "staff_added",
            concat!(
                r#"{"staff_added":{"staff_id":"1003","name":"Ann","role":"picker","#,
                r#""pin_hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}}"#,
            ),
        ),
        (
            "staff_role_changed",
            r#"{"staff_role_changed":{"staff_id":"1003","role":"manager"}}"#,
        ),
        (
            "staff_disabled",
            r#"{"staff_disabled":{"staff_id":"1003"}}"#,
        ),
        ("staff_enabled", r#"{"staff_enabled":{"staff_id":"1003"}}"#),
        (
            "staff_pin_reset",
            concat!(
                r#"{"staff_pin_reset":{"staff_id":"1003","#,
                r#""pin_hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}}"#,
            ),
        ),
        (
            "pickup_times_changed",
            r#"{"pickup_times_changed":{"expiry_s":86400,"reminder_s":3600}}"#,
        ),
        (
            "item_shorted_with_reason",
            r#"{"item_shorted_with_reason":{"line_no":2,"found":0,"reason":"damaged","by":"1003"}}"#,
        ),
        (
            "device_registered",
            concat!(
                r#"{"device_registered":{"name":"locker-1","kind":"locker","tenant":"locker1","#,
                r#""compartments":["1","2"],"salt":"s4lt","password_hash":"h4sh","cert_sha256":"f1ng"}}"#,
            ),
        ),
        (
            "device_removed",
            r#"{"device_removed":{"name":"locker-1"}}"#,
        ),
        (
            "order_rejected_with_code",
            r#"{"order_rejected_with_code":{"code":"out_of_stock","skus":["MILK-1L"],"note":"2 available, 3 ordered"}}"#,
        ),
        (
            "order_lines_rejected",
            r#"{"order_lines_rejected":{"lines":[{"line_no":2,"sku":"EGGS-6","quantity":1,"code":"out_of_stock"}],"reason":"damaged","by":"1001"}}"#,
        ),
        (
            "till_receipt_recorded",
            r#"{"till_receipt_recorded":{"receipt":{"receipt_id":"T1-0042","till":"till-1","at_ms":1717171717000,"kind":"sale","voids":null,"lines":[{"sku":"MILK-1L","quantity":2,"damaged":false},{"sku":"EGGS-6","quantity":1,"damaged":true}]},"reverses":null,"voided":false}}"#,
        ),
        (
            "stock_written_off",
            r#"{"stock_written_off":{"sku":"MILK-1L","quantity":3,"reason":"out_of_date","note":"shelf check","by":"1001"}}"#,
        ),
        (
            "safety_stock_set",
            r#"{"safety_stock_set":{"scope":{"category":"dairy"},"safety":2,"by":"1001"}}"#,
        ),
        (
            "delivery_announced",
            r#"{"delivery_announced":{"delivery_id":"D-77","lines":[{"sku":"MILK-1L","quantity":24}],"expected_ms":1717200000000}}"#,
        ),
        (
            "delivery_received",
            r#"{"delivery_received":{"delivery_id":"D-77","lines":[{"sku":"MILK-1L","quantity":22}],"by":"1003"}}"#,
        ),
        (
            "stock_snapshot_reconciled",
            r#"{"stock_snapshot_reconciled":{"as_of_ms":1717100000000,"items":[{"sku":"MILK-1L","hq_on_hand":40,"local_after":-3,"on_hand":37}],"ignored":["EGGS-6"]}}"#,
        ),
        (
            "count_task_opened",
            r#"{"count_task_opened":{"task_id":"C18f","sku":"MILK-1L","reason":"not_found","note":"short on ORD-9"}}"#,
        ),
        (
            "count_recorded",
            r#"{"count_recorded":{"task_id":"C18f","counted":7,"expected":12,"by":"1003"}}"#,
        ),
        (
            "count_applied",
            r#"{"count_applied":{"task_id":"C18f","sku":"MILK-1L","counted":7,"moved_since":-1,"by":"1001"}}"#,
        ),
        (
            "count_task_cancelled",
            r#"{"count_task_cancelled":{"task_id":"C18f","sku":"MILK-1L","reason":"counted by HQ","by":"1001"}}"#,
        ),
        (
            "availability_changed",
            r#"{"availability_changed":{"items":[{"sku":"MILK-1L","available":5,"on_hand":9}]}}"#,
        ),
        (
            "availability_snapshot",
            r#"{"availability_snapshot":{"snapshot_id":"A18f","part":1,"parts":2,"items":[{"sku":"EGGS-6","available":0,"on_hand":-1}]}}"#,
        ),
        (
            "catalog_entries_imported",
            r#"{"catalog_entries_imported":{"items":[{"item":{"sku":"SKU-PEAS-1KG","name":"Frozen peas 1 kg","barcodes":["5012345678900","96385074"],"location":{"aisle":9,"bay":1,"shelf":4},"zone":"frozen","unit_price_cents":250,"age_restricted":false},"category":"dairy"}]}}"#,
        ),
        (
            "order_partial_policy",
            r#"{"order_partial_policy":{"partial":"allow"}}"#,
        ),
    ];
    let events = common::events()
        .into_iter()
        .map(|(name, event, _)| (name, event))
        .collect();
    check_json::<Event>(&by_name(events, &want));
}

/// Screens and the web view read envelopes as JSON: the ids as strings, unit
/// variants as bare names, the others as one-key objects, the chain hash as
/// hex.
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
                r#""log_seq":300,"time_ms":1717171717171,"schema":2,"#,
                r#""actor":"api","event":"order_accepted","#,
                r#""prev_hash":""#,
                prev_hash_json!(),
                r#""}"#,
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
                r#""log_seq":300,"time_ms":1717171717171,"schema":2,"#,
                r#""actor":{"staff":"staff-7"},"event":{"shipment_processed":{"picked_by":"staff-7"}},"#,
                r#""prev_hash":""#,
                prev_hash_json!(),
                r#""}"#,
            ),
        ),
        (
            "order_staged",
            envelope(
                Event::OrderStaged {
                    slot: StagingSlot {
                        kind: SlotKind::Locker,
                        id: "12".to_owned(),
                    },
                    by: "staff-7".to_owned(),
                },
                Actor::Device("picker-2".to_owned()),
            ),
            concat!(
                r#"{"event_id":"01J0N3PK2XDSZR14D2PF2DBSQQ","causation_id":null,"#,
                r#""store_id":"store-042","order_id":"ORD-1001.b_2","order_seq":3,"#,
                r#""log_seq":300,"time_ms":1717171717171,"schema":2,"#,
                r#""actor":{"device":"picker-2"},"#,
                r#""event":{"order_staged":{"slot":{"kind":"locker","id":"12"},"by":"staff-7"}},"#,
                r#""prev_hash":""#,
                prev_hash_json!(),
                r#""}"#,
            ),
        ),
    ]);
}

/// `SkuQuantity` on its own, as the stock screens post it.
#[test]
fn sku_quantity() {
    let value = SkuQuantity {
        sku: "SKU-MILK-1L".to_owned(),
        quantity: 300,
    };
    check_postcard(&[(
        "milk",
        value.clone(),
        concat!(
            "01",                       // FORMAT_VERSION
            "0b534b552d4d494c4b2d314c", // sku "SKU-MILK-1L"
            "ac02",                     // quantity 300
        ),
    )]);
    check_json(&[("milk", value, r#"{"sku":"SKU-MILK-1L","quantity":300}"#)]);
}

/// The sync link's messages (`protocol::sync`), store ↔ HQ.
#[test]
fn sync_messages() {
    use protocol::sync::{DownCommand, DownReply, LogBytes, StoreStatus, UpAck, UpBatch};
    let store = protocol::StoreId::new("s-7").unwrap();
    let batch = UpBatch {
        store_id: store.clone(),
        first_seq: 300,
        last_seq: 301,
        last_hash: ChainHash([0xab; 32]),
        events: vec![LogBytes(vec![1, 2, 3]), LogBytes(vec![])],
    };
    let ack = UpAck {
        store_id: store.clone(),
        last_seq: 301,
        last_hash: ChainHash([0xab; 32]),
    };
    let down = DownCommand {
        hq_id: "01J0HQ".into(),
        hq_seq: 1_700_000_000_000_000,
        command: Command::ConfirmPayment {
            order_id: protocol::OrderId::new("W-1").unwrap(),
        },
    };
    let reply = DownReply {
        store_id: store.clone(),
        hq_id: "01J0HQ".into(),
        hq_seq: 1_700_000_000_000_000,
        reply: CommandReply {
            id: "01J0HQ".into(),
            status: ReplyStatus::Accepted,
            reason: None,
            log_seqs: vec![302],
        },
    };
    check_postcard(&[(
        "up batch",
        batch,
        concat!(
            "01",                                                               // FORMAT_VERSION
            "03732d37",                                                         // store_id "s-7"
            "ac02",                                                             // first_seq 300
            "ad02",                                                             // last_seq 301
            "abababababababababababababababababababababababababababababababab", // last_hash
            "02",                                                               // 2 events
            "03010203",                                                         // 3 bytes
            "00",                                                               // 0 bytes
        ),
    )]);
    check_postcard(&[(
        "ack",
        ack,
        concat!(
            "01",
            "03732d37", // store_id
            "ad02",     // last_seq 301
            "abababababababababababababababababababababababababababababababab",
        ),
    )]);
    check_postcard(&[(
        "down",
        down,
        concat!(
            "01",
            "0630314a304851",   // hq_id "01J0HQ"
            "8080f9c0c1c48203", // hq_seq 1_700_000_000_000_000
            "03",               // Command::ConfirmPayment
            "03572d31",         // order_id "W-1"
        ),
    )]);
    check_postcard(&[(
        "reply",
        reply,
        concat!(
            "01",
            "03732d37",         // store_id
            "0630314a304851",   // hq_id
            "8080f9c0c1c48203", // hq_seq
            "0630314a304851",   // reply.id
            "00",               // Accepted
            "00",               // reason None
            "01ae02",           // log_seqs [302]
        ),
    )]);
    check_json(&[(
        "status",
        StoreStatus {
            store_id: store.clone(),
            online: true,
            time_ms: 1_717_171_717_171,
            head_seq: 9,
            backlog_events: 2,
            oldest_backlog_ms: Some(1500),
            open_orders: 3,
            late_orders: 1,
            version: "0.1.0".into(),
        },
        concat!(
            r#"{"store_id":"s-7","online":true,"time_ms":1717171717171,"head_seq":9,"#,
            r#""backlog_events":2,"oldest_backlog_ms":1500,"open_orders":3,"late_orders":1,"version":"0.1.0"}"#
        ),
    )]);
    check_json(&[(
        "last will",
        StoreStatus::offline(store),
        concat!(
            r#"{"store_id":"s-7","online":false,"time_ms":0,"head_seq":0,"backlog_events":0,"#,
            r#""oldest_backlog_ms":null,"open_orders":0,"late_orders":0,"version":""}"#
        ),
    )]);
}
