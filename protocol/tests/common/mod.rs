//! Fixed values shared by the protocol's integration tests. Every field is
//! spelled out so that an encoding of them is fully determined.
#![allow(dead_code)] // each test crate uses a different part

use protocol::{
    Actor, ArrivalChannel, CancelStage, CatalogEntry, CatalogItem, ChainHash, Command,
    CommandEnvelope, CommandReply, CountReason, DeviceKind, Envelope, Event, EventId, Location,
    NewOrder, OrderId, OrderLine, Partial, PaymentMode, PickLine, PickupProof, Receipt,
    ReceiptKind, ReceiptLine, Reconciled, RejectCode, RejectedLine, ReplyStatus, Role, SafetyScope,
    ShortReason, SkuAvailability, SkuQuantity, SlotKind, SnapshotLine, StaffRejectReason,
    StagingSlot, StoreId, WriteOffReason, Zone, SCHEMA_VERSION,
};

/// A till receipt with two lines.
pub fn receipt() -> Receipt {
    Receipt {
        receipt_id: s("T1-0042"),
        till: s("till-1"),
        at_ms: 1_717_171_717_000,
        kind: ReceiptKind::Sale,
        voids: None,
        lines: vec![
            ReceiptLine {
                sku: s("MILK-1L"),
                quantity: 2,
                damaged: false,
            },
            ReceiptLine {
                sku: s("EGGS-6"),
                quantity: 1,
                damaged: true,
            },
        ],
    }
}

fn avail(sku: &str, available: u64, on_hand: i64) -> SkuAvailability {
    SkuAvailability {
        sku: s(sku),
        available,
        on_hand,
    }
}

/// The event id of every golden envelope.
pub const EVENT_ID: [u8; 16] = [
    0x01, 0x90, 0x2a, 0x3b, 0x4c, 0x5d, 0x6e, 0x7f, 0x80, 0x91, 0xa2, 0xb3, 0xc4, 0xd5, 0xe6, 0xf7,
];
/// The causation id of every golden envelope that has one.
pub const CAUSATION_ID: [u8; 16] = [
    0x01, 0x90, 0x2a, 0x3b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,
];
/// The previous-entry hash of every golden envelope: 0xe0, 0xe1 … 0xff, so
/// byte order shows and the hex has both digits and letters.
pub const PREV_HASH: [u8; 32] = {
    let mut h = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        h[i] = 0xe0 + i as u8;
        i += 1;
    }
    h
};
/// A pickup token as text: the wire types carry it opaquely (its shape is
/// `pickup`'s business and pinned in `tests/pickup.rs`).
pub const TOKEN: &str = "SNP1.Y2xhaW0.c2ln";

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
        pickup_token: Some(TOKEN.to_owned()),
    }
}

fn s(text: &str) -> String {
    text.to_owned()
}

fn sku_quantity(sku: &str, quantity: u32) -> SkuQuantity {
    SkuQuantity {
        sku: s(sku),
        quantity,
    }
}

/// Two catalog items: frozen with two barcodes, and an age-restricted
/// chilled one without any.
pub fn catalog_items() -> Vec<CatalogItem> {
    vec![
        CatalogItem {
            sku: s("SKU-PEAS-1KG"),
            name: s("Frozen peas 1 kg"),
            barcodes: vec![s("5012345678900"), s("96385074")],
            location: Location {
                aisle: 9,
                bay: 1,
                shelf: 4,
            },
            zone: Zone::Frozen,
            unit_price_cents: 250,
            age_restricted: false,
        },
        CatalogItem {
            sku: s("SKU-LAGER-6"),
            name: s("Lager 6x330ml"),
            barcodes: Vec::new(),
            location: Location {
                aisle: 14,
                bay: 2,
                shelf: 1,
            },
            zone: Zone::Chilled,
            unit_price_cents: 899,
            age_restricted: true,
        },
    ]
}

pub fn cold_slot() -> StagingSlot {
    StagingSlot {
        kind: SlotKind::ColdStorage,
        id: s("C2"),
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
                        location: Location {
                            aisle: 1,
                            bay: 2,
                            shelf: 3,
                        },
                        zone: Zone::Chilled,
                    },
                    PickLine {
                        line_no: 1,
                        sku: "SKU-APPLE-1KG".to_owned(),
                        quantity: 2,
                        location: Location {
                            aisle: 4,
                            bay: 130,
                            shelf: 0,
                        },
                        zone: Zone::Ambient,
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
                proof: PickupProof::Code,
                id_checked: true,
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
        (
            "pick_started",
            Event::PickStarted {
                walk_id: Some(s("walk-3")),
                tote: 2,
                by: s("staff-7"),
            },
            Actor::Device(s("picker-2")),
        ),
        (
            "item_picked",
            Event::ItemPicked {
                line_no: 1,
                quantity: 2,
                barcode: Some(s("4006381333931")),
                by: s("staff-7"),
            },
            Actor::Device(s("picker-2")),
        ),
        (
            "item_shorted",
            Event::ItemShorted {
                line_no: 2,
                found: 0,
                by: s("staff-7"),
            },
            Actor::Device(s("picker-2")),
        ),
        (
            "item_substituted",
            Event::ItemSubstituted {
                line_no: 2,
                sku: s("SKU-OATMILK-1L"),
                quantity: 1,
                unit_price_cents: 189,
                barcode: s("96385074"),
                by: s("staff-7"),
            },
            Actor::Device(s("picker-2")),
        ),
        (
            "order_staged",
            Event::OrderStaged {
                slot: cold_slot(),
                by: s("staff-7"),
            },
            Actor::Staff(s("staff-7")),
        ),
        (
            "ready_for_pickup",
            Event::ReadyForPickup {
                code: s("K7P2QX"),
                token: s(TOKEN),
            },
            Actor::Service(s("pickup")),
        ),
        (
            "customer_arrived",
            Event::CustomerArrived {
                channel: ArrivalChannel::Curbside,
                note: Some(s("bay 4, red van")),
            },
            Actor::Device(s("kiosk-1")),
        ),
        (
            "pickup_expired",
            Event::PickupExpired,
            Actor::Service(s("timers")),
        ),
        (
            "order_cancelled",
            Event::OrderCancelled {
                reason: s("customer request"),
                stage: CancelStage::AfterStaging,
                by: s("hq-support"),
            },
            Actor::Cloud,
        ),
        (
            "cancel_rejected",
            Event::CancelRejected {
                reason: s("already handed over"),
            },
            Actor::Cloud,
        ),
        (
            "restocked",
            Event::Restocked {
                items: vec![
                    sku_quantity("SKU-APPLE-1KG", 2),
                    sku_quantity("SKU-MILK-1L", 300),
                ],
                reason: s("pickup expired"),
            },
            Actor::Service(s("pickup")),
        ),
        (
            "stock_adjusted",
            Event::StockAdjusted {
                sku: s("SKU-MILK-1L"),
                delta: -3,
                reason: s("damaged"),
            },
            Actor::Staff(s("mgr-1")),
        ),
        (
            "stock_counted",
            Event::StockCounted {
                counts: vec![
                    sku_quantity("SKU-APPLE-1KG", 0),
                    sku_quantity("SKU-MILK-1L", 128),
                ],
                by: s("staff-7"),
            },
            Actor::Device(s("picker-2")),
        ),
        (
            "catalog_imported",
            Event::CatalogImported {
                items: catalog_items(),
            },
            Actor::Cloud,
        ),
        (
            "order_late",
            Event::OrderLate {
                due_at_ms: 1_717_171_717_171,
            },
            Actor::Service(s("timers")),
        ),
        (
            "pickup_reminded",
            Event::PickupReminded {
                expires_at_ms: 1_717_178_917_171,
            },
            Actor::Service(s("timers")),
        ),
        (
            "store_closed",
            Event::StoreClosed {
                reason: s("power cut"),
                by: s("mgr-1"),
            },
            Actor::Staff(s("mgr-1")),
        ),
        (
            "store_opened",
            Event::StoreOpened { by: s("mgr-1") },
            Actor::Api,
        ),
        (
            "locker_door_reported",
            Event::LockerDoorReported {
                compartment: s("12"),
                open: false,
            },
            Actor::Device(s("locker-1")),
        ),
        (
            "staff_added",
            Event::StaffAdded {
                staff_id: s("1003"),
                name: s("Ann"),
                role: Role::Picker,
                pin_hash: s(PIN_HASH),
            },
            Actor::Staff(s("1001")),
        ),
        (
            "staff_role_changed",
            Event::StaffRoleChanged {
                staff_id: s("1003"),
                role: Role::Manager,
            },
            Actor::Staff(s("1001")),
        ),
        (
            "staff_disabled",
            Event::StaffDisabled {
                staff_id: s("1003"),
            },
            Actor::Api,
        ),
        (
            "staff_enabled",
            Event::StaffEnabled {
                staff_id: s("1003"),
            },
            Actor::Cli,
        ),
        (
            "staff_pin_reset",
            Event::StaffPinReset {
                staff_id: s("1003"),
                pin_hash: s(PIN_HASH),
            },
            Actor::Staff(s("1001")),
        ),
        (
            "pickup_times_changed",
            Event::PickupTimesChanged {
                expiry_s: 86_400,
                reminder_s: 3_600,
            },
            Actor::Staff(s("1001")),
        ),
        (
            "item_shorted_with_reason",
            Event::ItemShortedWithReason {
                line_no: 2,
                found: 0,
                reason: ShortReason::Damaged,
                by: s("1003"),
            },
            Actor::Staff(s("1003")),
        ),
        (
            "device_registered",
            Event::DeviceRegistered {
                name: s("locker-1"),
                kind: DeviceKind::Locker,
                tenant: s("locker1"),
                compartments: vec![s("1"), s("2")],
                salt: s("s4lt"),
                password_hash: s("h4sh"),
                cert_sha256: s("f1ng"),
            },
            Actor::Cli,
        ),
        (
            "device_removed",
            Event::DeviceRemoved {
                name: s("locker-1"),
            },
            Actor::Api,
        ),
        (
            "order_rejected_with_code",
            Event::OrderRejectedWithCode {
                code: RejectCode::OutOfStock,
                skus: vec![s("MILK-1L")],
                note: s("2 available, 3 ordered"),
            },
            Actor::Service(s("order")),
        ),
        (
            "order_lines_rejected",
            Event::OrderLinesRejected {
                lines: vec![RejectedLine {
                    line_no: 2,
                    sku: s("EGGS-6"),
                    quantity: 1,
                    code: RejectCode::OutOfStock,
                }],
                reason: Some(StaffRejectReason::Damaged),
                by: s("1001"),
            },
            Actor::Staff(s("1001")),
        ),
        (
            "till_receipt_recorded",
            Event::TillReceiptRecorded {
                receipt: receipt(),
                reverses: None,
                voided: false,
            },
            Actor::Device(s("till-1")),
        ),
        (
            "stock_written_off",
            Event::StockWrittenOff {
                sku: s("MILK-1L"),
                quantity: 3,
                reason: WriteOffReason::OutOfDate,
                note: s("shelf check"),
                by: s("1001"),
            },
            Actor::Staff(s("1001")),
        ),
        (
            "safety_stock_set",
            Event::SafetyStockSet {
                scope: SafetyScope::Category(s("dairy")),
                safety: Some(2),
                by: s("1001"),
            },
            Actor::Staff(s("1001")),
        ),
        (
            "delivery_announced",
            Event::DeliveryAnnounced {
                delivery_id: s("D-77"),
                lines: vec![sku_quantity("MILK-1L", 24)],
                expected_ms: Some(1_717_200_000_000),
            },
            Actor::Cloud,
        ),
        (
            "delivery_received",
            Event::DeliveryReceived {
                delivery_id: s("D-77"),
                lines: vec![sku_quantity("MILK-1L", 22)],
                by: s("1003"),
            },
            Actor::Staff(s("1003")),
        ),
        (
            "stock_snapshot_reconciled",
            Event::StockSnapshotReconciled {
                as_of_ms: 1_717_100_000_000,
                items: vec![Reconciled {
                    sku: s("MILK-1L"),
                    hq_on_hand: 40,
                    local_after: -3,
                    on_hand: 37,
                }],
                ignored: vec![s("EGGS-6")],
            },
            Actor::Cloud,
        ),
        (
            "count_task_opened",
            Event::CountTaskOpened {
                task_id: s("C18f"),
                sku: s("MILK-1L"),
                reason: CountReason::NotFound,
                note: s("short on ORD-9"),
            },
            Actor::Staff(s("1003")),
        ),
        (
            "count_recorded",
            Event::CountRecorded {
                task_id: s("C18f"),
                counted: 7,
                expected: 12,
                by: s("1003"),
            },
            Actor::Staff(s("1003")),
        ),
        (
            "count_applied",
            Event::CountApplied {
                task_id: s("C18f"),
                sku: s("MILK-1L"),
                counted: 7,
                moved_since: -1,
                by: s("1001"),
            },
            Actor::Staff(s("1001")),
        ),
        (
            "count_task_cancelled",
            Event::CountTaskCancelled {
                task_id: s("C18f"),
                sku: s("MILK-1L"),
                reason: s("counted by HQ"),
                by: s("1001"),
            },
            Actor::Staff(s("1001")),
        ),
        (
            "availability_changed",
            Event::AvailabilityChanged {
                items: vec![avail("MILK-1L", 5, 9)],
            },
            Actor::Service(s("availability")),
        ),
        (
            "availability_snapshot",
            Event::AvailabilitySnapshot {
                snapshot_id: s("A18f"),
                part: 1,
                parts: 2,
                items: vec![avail("EGGS-6", 0, -1)],
            },
            Actor::Service(s("availability")),
        ),
        (
            "catalog_entries_imported",
            Event::CatalogEntriesImported {
                items: vec![CatalogEntry {
                    item: catalog_items().remove(0),
                    category: Some(s("dairy")),
                }],
            },
            Actor::Api,
        ),
        (
            "order_partial_policy",
            Event::OrderPartialPolicy {
                partial: Partial::Allow,
            },
            Actor::Cloud,
        ),
    ]
}

/// A (short, made-up) Argon2id PHC string: what staff events carry.
pub const PIN_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

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
        schema: SCHEMA_VERSION,
        actor,
        event,
        prev_hash: ChainHash(PREV_HASH),
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
                    code: s("K7P2QX"),
                    id_checked: true,
                },
            },
        ),
        (
            "confirm_payment",
            CommandEnvelope {
                id: s("cmd-0004"),
                command: Command::ConfirmPayment {
                    order_id: order_id(),
                },
            },
        ),
        (
            "start_pick",
            CommandEnvelope {
                id: s("cmd-0005"),
                command: Command::StartPick {
                    order_id: order_id(),
                    staff: s("staff-7"),
                    walk_id: Some(s("walk-3")),
                    tote: 2,
                },
            },
        ),
        (
            "pick_item",
            CommandEnvelope {
                id: s("cmd-0006"),
                command: Command::PickItem {
                    order_id: order_id(),
                    line_no: 1,
                    barcode: s("4006381333931"),
                    quantity: 2,
                    staff: s("staff-7"),
                },
            },
        ),
        (
            "short_item",
            CommandEnvelope {
                id: s("cmd-0007"),
                command: Command::ShortItem {
                    order_id: order_id(),
                    line_no: 2,
                    found: 0,
                    staff: s("staff-7"),
                },
            },
        ),
        (
            "substitute_item",
            CommandEnvelope {
                id: s("cmd-0008"),
                command: Command::SubstituteItem {
                    order_id: order_id(),
                    line_no: 2,
                    barcode: s("96385074"),
                    quantity: 1,
                    staff: s("staff-7"),
                },
            },
        ),
        (
            "stage",
            CommandEnvelope {
                id: s("cmd-0009"),
                command: Command::Stage {
                    order_id: order_id(),
                    slot: cold_slot(),
                    staff: s("staff-7"),
                },
            },
        ),
        (
            "check_in",
            CommandEnvelope {
                id: s("cmd-0010"),
                command: Command::CheckIn {
                    order_id: order_id(),
                    channel: ArrivalChannel::Curbside,
                    note: Some(s("bay 4, red van")),
                },
            },
        ),
        (
            "cancel",
            CommandEnvelope {
                id: s("cmd-0011"),
                command: Command::Cancel {
                    order_id: order_id(),
                    reason: s("customer request"),
                    by: s("hq-support"),
                },
            },
        ),
        (
            "count_stock",
            CommandEnvelope {
                id: s("cmd-0012"),
                command: Command::CountStock {
                    counts: vec![
                        sku_quantity("SKU-APPLE-1KG", 0),
                        sku_quantity("SKU-MILK-1L", 128),
                    ],
                    staff: s("staff-7"),
                },
            },
        ),
        (
            "adjust_stock",
            CommandEnvelope {
                id: s("cmd-0013"),
                command: Command::AdjustStock {
                    sku: s("SKU-MILK-1L"),
                    delta: -3,
                    reason: s("damaged"),
                    staff: s("mgr-1"),
                },
            },
        ),
        (
            "import_catalog",
            CommandEnvelope {
                id: s("cmd-0014"),
                command: Command::ImportCatalog {
                    items: catalog_items(),
                    stock: vec![sku_quantity("SKU-PEAS-1KG", 40)],
                },
            },
        ),
        (
            "set_store_open",
            CommandEnvelope {
                id: s("cmd-0015"),
                command: Command::SetStoreOpen {
                    open: false,
                    reason: s("power cut"),
                    staff: s("mgr-1"),
                },
            },
        ),
        (
            "check_in_by_code",
            CommandEnvelope {
                id: s("cmd-0016"),
                // A scanned QR token; a typed short code is carried the same.
                command: Command::CheckInByCode {
                    code: s(TOKEN),
                    channel: ArrivalChannel::Kiosk,
                    note: Some(s("entrance B")),
                },
            },
        ),
        (
            "report_locker_door",
            CommandEnvelope {
                id: s("cmd-0017"),
                command: Command::ReportLockerDoor {
                    compartment: s("12"),
                    open: true,
                },
            },
        ),
        (
            "short_item_with_reason",
            CommandEnvelope {
                id: s("cmd-0018"),
                command: Command::ShortItemWithReason {
                    order_id: order_id(),
                    line_no: 2,
                    found: 0,
                    reason: ShortReason::OutOfDate,
                },
            },
        ),
        (
            "add_staff",
            CommandEnvelope {
                id: s("cmd-0019"),
                command: Command::AddStaff {
                    staff_id: s("1003"),
                    name: s("Ann"),
                    role: Role::Picker,
                    pin_hash: s(PIN_HASH),
                },
            },
        ),
        (
            "set_staff_role",
            CommandEnvelope {
                id: s("cmd-0020"),
                command: Command::SetStaffRole {
                    staff_id: s("1003"),
                    role: Role::Desk,
                },
            },
        ),
        (
            "set_staff_enabled",
            CommandEnvelope {
                id: s("cmd-0021"),
                command: Command::SetStaffEnabled {
                    staff_id: s("1003"),
                    enabled: false,
                },
            },
        ),
        (
            "reset_staff_pin",
            CommandEnvelope {
                id: s("cmd-0022"),
                command: Command::ResetStaffPin {
                    staff_id: s("1003"),
                    pin_hash: s(PIN_HASH),
                },
            },
        ),
        (
            "set_pickup_times",
            CommandEnvelope {
                id: s("cmd-0023"),
                command: Command::SetPickupTimes {
                    expiry_s: 86_400,
                    reminder_s: 3_600,
                },
            },
        ),
        (
            "register_device",
            CommandEnvelope {
                id: s("cmd-0024"),
                command: Command::RegisterDevice {
                    name: s("locker-1"),
                    kind: DeviceKind::Locker,
                    compartments: vec![s("1"), s("2")],
                    salt: s("s4lt"),
                    password_hash: s("h4sh"),
                    cert_sha256: s("f1ng"),
                },
            },
        ),
        (
            "remove_device",
            CommandEnvelope {
                id: s("cmd-0025"),
                command: Command::RemoveDevice {
                    name: s("locker-1"),
                },
            },
        ),
        (
            "record_receipt",
            CommandEnvelope {
                id: s("cmd-0026"),
                command: Command::RecordReceipt { receipt: receipt() },
            },
        ),
        (
            "write_off",
            CommandEnvelope {
                id: s("cmd-0027"),
                command: Command::WriteOff {
                    sku: s("MILK-1L"),
                    quantity: 1,
                    reason: WriteOffReason::Damaged,
                    note: s("dropped"),
                },
            },
        ),
        (
            "set_safety_stock",
            CommandEnvelope {
                id: s("cmd-0028"),
                command: Command::SetSafetyStock {
                    scope: SafetyScope::Sku(s("MILK-1L")),
                    safety: Some(3),
                },
            },
        ),
        (
            "announce_delivery",
            CommandEnvelope {
                id: s("cmd-0029"),
                command: Command::AnnounceDelivery {
                    delivery_id: s("D-77"),
                    lines: vec![sku_quantity("MILK-1L", 24)],
                    expected_ms: None,
                },
            },
        ),
        (
            "receive_delivery",
            CommandEnvelope {
                id: s("cmd-0030"),
                command: Command::ReceiveDelivery {
                    delivery_id: Some(s("D-77")),
                    lines: vec![sku_quantity("MILK-1L", 22)],
                },
            },
        ),
        (
            "reconcile_snapshot",
            CommandEnvelope {
                id: s("cmd-0031"),
                command: Command::ReconcileSnapshot {
                    as_of_ms: 1_717_100_000_000,
                    lines: vec![SnapshotLine {
                        sku: s("MILK-1L"),
                        on_hand: 40,
                    }],
                },
            },
        ),
        (
            "open_count_task",
            CommandEnvelope {
                id: s("cmd-0032"),
                command: Command::OpenCountTask {
                    sku: s("MILK-1L"),
                    note: s("looks low"),
                },
            },
        ),
        (
            "record_count",
            CommandEnvelope {
                id: s("cmd-0033"),
                command: Command::RecordCount {
                    task_id: s("C18f"),
                    counted: 7,
                },
            },
        ),
        (
            "approve_count",
            CommandEnvelope {
                id: s("cmd-0034"),
                command: Command::ApproveCount { task_id: s("C18f") },
            },
        ),
        (
            "cancel_count_task",
            CommandEnvelope {
                id: s("cmd-0035"),
                command: Command::CancelCountTask {
                    task_id: s("C18f"),
                    reason: s("counted by HQ"),
                },
            },
        ),
        (
            "reject_order",
            CommandEnvelope {
                id: s("cmd-0036"),
                command: Command::RejectOrder {
                    order_id: order_id(),
                    reason: StaffRejectReason::NotInStock,
                    lines: vec![2],
                    note: s("shelf empty"),
                },
            },
        ),
        (
            "request_availability",
            CommandEnvelope {
                id: s("cmd-0037"),
                command: Command::RequestAvailability {},
            },
        ),
        (
            "short_item_with_write_off",
            CommandEnvelope {
                id: s("cmd-0038"),
                command: Command::ShortItemWithWriteOff {
                    order_id: order_id(),
                    line_no: 1,
                    found: 1,
                    reason: ShortReason::Damaged,
                    written_off: 2,
                },
            },
        ),
        (
            "import_catalog_entries",
            CommandEnvelope {
                id: s("cmd-0039"),
                command: Command::ImportCatalogEntries {
                    items: vec![CatalogEntry {
                        item: catalog_items().remove(1),
                        category: None,
                    }],
                    stock: vec![sku_quantity("SKU-LAGER-6", 12)],
                },
            },
        ),
        (
            "create_order_with_policy",
            CommandEnvelope {
                id: s("cmd-0040"),
                command: Command::CreateOrderWithPolicy {
                    order_id: order_id(),
                    order: new_order(),
                    partial: Partial::None,
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
