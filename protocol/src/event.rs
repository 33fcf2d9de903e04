//! Events: facts the node has durably recorded.
//!
//! The five names of the serverless retail seed flow are kept (OrderCreated,
//! OrderProcessed, ShipmentPrepared, ShipmentProcessed, OrderFulfilled); the
//! BOPIS steps are appended after them. Never reorder variants: postcard
//! encodes the variant index.
use serde::{Deserialize, Serialize};

use crate::stock::{
    CountReason, Partial, Receipt, Reconciled, RejectCode, RejectedLine, SafetyScope,
    SkuAvailability, SkuQuantity, StaffRejectReason, WriteOffReason,
};

/// How the order is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMode {
    /// Paid online and authorised at checkout: processed on acceptance.
    Prepaid,
    /// Paid at the desk on hand-over; processed immediately.
    PayAtPickup,
    /// Paid online, authorisation not yet confirmed: the order waits for
    /// the cloud's `ConfirmPayment` before it is picked.
    Pending,
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
    /// The QR pickup token HQ issued for this order (signed with an HQ
    /// key); `None` for orders taken locally, which the node signs itself.
    #[serde(default)]
    pub pickup_token: Option<String>,
}

/// Temperature zone of an item: decides where a picked order is staged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Zone {
    Ambient,
    Chilled,
    Frozen,
}

/// Where an item sits on the shop floor; pick lists walk in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub aisle: u16,
    pub bay: u16,
    pub shelf: u16,
}

/// One item of the store's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogItem {
    pub sku: String,
    pub name: String,
    /// GTIN/EAN codes (8, 12, 13 or 14 digits, check digit verified).
    pub barcodes: Vec<String>,
    pub location: Location,
    pub zone: Zone,
    /// Shelf price in minor units; the price a substitute is charged at.
    pub unit_price_cents: i64,
    /// Hand-over needs an ID check (alcohol, tobacco, knives).
    #[serde(default)]
    pub age_restricted: bool,
}

/// A catalog item with its category (for safety stock by category): what
/// the node records since categories ([`Event::CatalogEntriesImported`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    pub item: CatalogItem,
    #[serde(default)]
    pub category: Option<String>,
}

/// One line of a pick task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickLine {
    pub line_no: u32,
    pub sku: String,
    pub quantity: u32,
    pub location: Location,
    pub zone: Zone,
}

/// Where a picked order waits for its customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    /// The ambient pickup shelf.
    Shelf,
    /// Cold room or fridge (chilled items).
    ColdStorage,
    /// Freezer (frozen items).
    Freezer,
    /// A locker compartment the customer opens with the pickup code.
    Locker,
}

/// A staging place: kind plus the place's label (shelf "A3", locker "12").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagingSlot {
    pub kind: SlotKind,
    pub id: String,
}

/// How the customer checked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalChannel {
    Desk,
    Kiosk,
    Curbside,
}

/// How the hand-over was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PickupProof {
    /// The short code was typed or read out.
    Code,
    /// The QR token was scanned and its signature verified.
    SignedToken,
}

/// At which point of the order's life a cancellation landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelStage {
    /// Nothing picked yet: the reservation is released.
    BeforePick,
    /// Picking had started: the task stops, picked items go back.
    DuringPick,
    /// Picked but not staged: the tote goes back to the shelves.
    AfterPick,
    /// Staged: take it off the staging slot, then back to the shelves.
    AfterStaging,
}

/// What a staff member may do on the store's pages (a manager may do
/// everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works pick lists: picks, shorts, substitutes, stages.
    Picker,
    /// The pickup desk: finds orders, checks customers in, hands over.
    Desk,
    /// Runs the store: everything, plus staff, stock and settings.
    Manager,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Picker, Role::Desk, Role::Manager];

    /// The snake_case name used in JSON, URLs and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Role::Picker => "picker",
            Role::Desk => "desk",
            Role::Manager => "manager",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// What a store device is, which decides what it may send and hear
/// (docs/security.md has the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// A handheld for pickers: picks, shorts, substitutes, stages on shelves.
    Scanner,
    /// A pickup locker: loads and hands over its own compartments, reports
    /// their doors; alone hears their `open` commands.
    Locker,
    /// The screen by the desk: hears ready / arrived / removed (no codes).
    PickupScreen,
    /// A self-service kiosk: checks customers in by code, takes orders
    /// paid at the desk.
    Kiosk,
    /// A label printer: hears labels and put-back lists.
    Printer,
    /// The store's customer-messaging box: hears the customer messages.
    Gateway,
    /// A till (point of sale): sends its receipts (sales, returns, voids).
    Till,
}

impl DeviceKind {
    pub const ALL: [DeviceKind; 7] = [
        DeviceKind::Scanner,
        DeviceKind::Locker,
        DeviceKind::PickupScreen,
        DeviceKind::Kiosk,
        DeviceKind::Printer,
        DeviceKind::Gateway,
        DeviceKind::Till,
    ];

    /// The kebab-case name used in JSON and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Scanner => "scanner",
            DeviceKind::Locker => "locker",
            DeviceKind::PickupScreen => "pickup-screen",
            DeviceKind::Kiosk => "kiosk",
            DeviceKind::Printer => "printer",
            DeviceKind::Gateway => "gateway",
            DeviceKind::Till => "till",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A device's tenant id: the letters and digits of its name (the broker
/// takes it from the certificate's Organization and allows nothing else).
/// Two devices whose names give the same tenant cannot both be registered.
pub fn device_tenant(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// Why a picker could not find what a line needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShortReason {
    /// Not on the shelf (or not enough of it).
    #[default]
    NotFound,
    /// On the shelf but damaged.
    Damaged,
    /// On the shelf but past its date.
    OutOfDate,
    /// Anything else.
    Other,
}

impl ShortReason {
    pub const ALL: [ShortReason; 4] = [
        ShortReason::NotFound,
        ShortReason::Damaged,
        ShortReason::OutOfDate,
        ShortReason::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ShortReason::NotFound => "not_found",
            ShortReason::Damaged => "damaged",
            ShortReason::OutOfDate => "out_of_date",
            ShortReason::Other => "other",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
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
    /// The customer has the order: who handed it over and the proof.
    OrderFulfilled {
        handed_over_by: String,
        proof: PickupProof,
        /// Staff checked the customer's ID (needed for age-restricted lines).
        id_checked: bool,
    },
    /// The store takes the order on (and reserves its lines' stock).
    OrderAccepted,
    /// The store cannot take the order on; `reason` is for a manager.
    OrderRejected { reason: String },
    // ---- BOPIS steps (appended; never reorder) ----
    /// A picker took the order on, alone or in a batch walk (`walk_id`),
    /// into tote number `tote`.
    PickStarted {
        walk_id: Option<String>,
        tote: u32,
        by: String,
    },
    /// Units of a line taken from the shelf; `barcode` is what was scanned
    /// (`None` when confirmed without a scan).
    ItemPicked {
        line_no: u32,
        quantity: u32,
        barcode: Option<String>,
        by: String,
    },
    /// The shelf had fewer than the line needs: `found` units in all
    /// (including any already picked); the line is settled.
    ItemShorted {
        line_no: u32,
        found: u32,
        by: String,
    },
    /// The line is settled with another SKU, charged at `unit_price_cents`.
    ItemSubstituted {
        line_no: u32,
        sku: String,
        quantity: u32,
        unit_price_cents: i64,
        barcode: String,
        by: String,
    },
    /// The picked order is on a staging slot.
    OrderStaged { slot: StagingSlot, by: String },
    /// The customer can collect: short `code` and the signed QR `token`.
    ReadyForPickup { code: String, token: String },
    /// The customer checked in.
    CustomerArrived {
        channel: ArrivalChannel,
        /// E.g. the curbside bay or car, for the runner.
        note: Option<String>,
    },
    /// Not collected in time; its items go back to stock (Restocked).
    PickupExpired,
    /// The order is cancelled at `stage`; reservations are released.
    OrderCancelled {
        reason: String,
        stage: CancelStage,
        by: String,
    },
    /// A cancellation came too late (e.g. after hand-over); nothing changed.
    CancelRejected { reason: String },
    /// Items back on the shelves (cancellation after picking, expiry).
    Restocked {
        items: Vec<SkuQuantity>,
        reason: String,
    },
    /// On-hand stock corrected by `delta` (a short pick, damage, a manager).
    StockAdjusted {
        sku: String,
        delta: i64,
        reason: String,
    },
    /// A count of SKUs (a cycle count of one location, or an import):
    /// on-hand becomes the counted quantity.
    StockCounted {
        counts: Vec<SkuQuantity>,
        by: String,
    },
    /// Catalog items added or replaced.
    CatalogImported { items: Vec<CatalogItem> },
    /// The order passed its promise time before it was ready.
    OrderLate { due_at_ms: u64 },
    /// The customer was reminded that the pickup expires at `expires_at_ms`.
    PickupReminded { expires_at_ms: u64 },
    /// The store stopped taking orders.
    StoreClosed { reason: String, by: String },
    /// The store takes orders again.
    StoreOpened { by: String },
    /// A locker reported a compartment's door opened or closed.
    LockerDoorReported { compartment: String, open: bool },
    // ---- Staff and store settings (appended; never reorder) ----
    /// A staff account was created. `pin_hash` is an Argon2id PHC string
    /// keyed with the node's secret (`<data_dir>/staff-secret`): without
    /// that secret it cannot be checked, so the log may travel.
    StaffAdded {
        staff_id: String,
        name: String,
        role: Role,
        pin_hash: String,
    },
    /// A staff member's role changed.
    StaffRoleChanged { staff_id: String, role: Role },
    /// A staff account may no longer log in; its sessions end.
    StaffDisabled { staff_id: String },
    /// A disabled staff account may log in again.
    StaffEnabled { staff_id: String },
    /// A staff member's PIN was replaced; sessions made with the old one end.
    StaffPinReset { staff_id: String, pin_hash: String },
    /// The store changed how long a ready order waits for its customer and
    /// when the customer is reminded (0: no reminder).
    PickupTimesChanged { expiry_s: u64, reminder_s: u64 },
    /// [`Event::ItemShorted`] with the picker's reason; the form the node
    /// writes since the staff pages (the older form stays readable). Its
    /// kind is `item_shorted`.
    ItemShortedWithReason {
        line_no: u32,
        found: u32,
        reason: ShortReason,
        by: String,
    },
    // ---- Devices (appended; never reorder) ----
    /// A device may log in to the store broker. `password_hash` is the
    /// salted SHA-256 (hex) of a 24-character random password; `cert_sha256`
    /// the fingerprint of the client certificate issued with it.
    DeviceRegistered {
        name: String,
        kind: DeviceKind,
        tenant: String,
        /// A locker's compartments (empty for other kinds).
        compartments: Vec<String>,
        salt: String,
        password_hash: String,
        cert_sha256: String,
    },
    /// A device may no longer log in; what it sends is refused from now.
    DeviceRemoved { name: String },
    // ---- Stock that tells the truth (appended; never reorder) ----
    /// [`Event::OrderRejected`] with a code HQ can route on and the SKUs it
    /// concerns; `note` is for people. The form the node writes since
    /// codes; its kind is `order_rejected`.
    OrderRejectedWithCode {
        code: RejectCode,
        skus: Vec<String>,
        note: String,
    },
    /// Lines the store will not fill: by partial fulfilment at acceptance
    /// (`reason: None`), or by staff before picking. The rest of the order
    /// goes on; the lines' reservations are released.
    OrderLinesRejected {
        lines: Vec<RejectedLine>,
        reason: Option<StaffRejectReason>,
        by: String,
    },
    /// A till transaction (on the store's stream). `reverses`: for a void,
    /// the receipt it cancels, as the node recorded it (`None` if that
    /// receipt has not arrived: it is then recorded voided when it does).
    /// `voided`: this receipt was voided before it arrived (no effect).
    TillReceiptRecorded {
        receipt: Receipt,
        reverses: Option<Receipt>,
        voided: bool,
    },
    /// Units written off: they leave stock unsold.
    StockWrittenOff {
        sku: String,
        quantity: u32,
        reason: WriteOffReason,
        note: String,
        by: String,
    },
    /// Units the store keeps back from online orders (`None`: the setting
    /// is removed, the next wider one applies).
    SafetyStockSet {
        scope: SafetyScope,
        safety: Option<u32>,
        by: String,
    },
    /// HQ announced a delivery to the store.
    DeliveryAnnounced {
        delivery_id: String,
        lines: Vec<SkuQuantity>,
        expected_ms: Option<u64>,
    },
    /// Goods received at the back door: what arrived, not what was
    /// announced (a delivery HQ never announced too).
    DeliveryReceived {
        delivery_id: String,
        lines: Vec<SkuQuantity>,
        by: String,
    },
    /// HQ's stock as of `as_of_ms`, reconciled: on hand becomes HQ's
    /// figure plus the store's movements after that time. `ignored`: SKUs
    /// counted in the store after `as_of_ms` (the count is newer).
    StockSnapshotReconciled {
        as_of_ms: u64,
        items: Vec<Reconciled>,
        ignored: Vec<String>,
    },
    /// A count of one SKU is asked for.
    CountTaskOpened {
        task_id: String,
        sku: String,
        reason: CountReason,
        note: String,
    },
    /// Someone counted the task's SKU: `counted` units on the shelf where
    /// the node expected `expected`.
    CountRecorded {
        task_id: String,
        counted: u32,
        expected: i64,
        by: String,
    },
    /// A count applies: on hand becomes `counted` plus `moved_since`, the
    /// movements between the count and now (sales and picks while it
    /// waited for approval are not lost). Closes the task.
    CountApplied {
        task_id: String,
        sku: String,
        counted: u32,
        moved_since: i64,
        by: String,
    },
    /// A count task dropped without changing stock.
    CountTaskCancelled {
        task_id: String,
        sku: String,
        reason: String,
        by: String,
    },
    /// What the store can promise of the SKUs whose availability changed
    /// (coalesced: the latest value of each within a short window).
    AvailabilityChanged { items: Vec<SkuAvailability> },
    /// The whole catalog's availability, in `parts` events (after the
    /// link returns, and on HQ's request).
    AvailabilitySnapshot {
        snapshot_id: String,
        part: u32,
        parts: u32,
        items: Vec<SkuAvailability>,
    },
    /// [`Event::CatalogImported`] with each item's category; the form the
    /// node writes since categories. Its kind is `catalog_imported`.
    CatalogEntriesImported { items: Vec<CatalogEntry> },
    /// The order's own partial-fulfilment policy, right after its
    /// OrderCreated (only when the order says; otherwise the store's
    /// `orders.partial` decides).
    OrderPartialPolicy { partial: Partial },
}

/// The kind of an event without its data: names topics and metrics.
/// (Ordered by declaration, for sets; never encoded.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    OrderCreated,
    OrderProcessed,
    ShipmentPrepared,
    ShipmentProcessed,
    OrderFulfilled,
    OrderAccepted,
    OrderRejected,
    PickStarted,
    ItemPicked,
    ItemShorted,
    ItemSubstituted,
    OrderStaged,
    ReadyForPickup,
    CustomerArrived,
    PickupExpired,
    OrderCancelled,
    CancelRejected,
    Restocked,
    StockAdjusted,
    StockCounted,
    CatalogImported,
    OrderLate,
    PickupReminded,
    StoreClosed,
    StoreOpened,
    LockerDoorReported,
    StaffAdded,
    StaffRoleChanged,
    StaffDisabled,
    StaffEnabled,
    StaffPinReset,
    PickupTimesChanged,
    DeviceRegistered,
    DeviceRemoved,
    OrderLinesRejected,
    TillReceiptRecorded,
    StockWrittenOff,
    SafetyStockSet,
    DeliveryAnnounced,
    DeliveryReceived,
    StockSnapshotReconciled,
    CountTaskOpened,
    CountRecorded,
    CountApplied,
    CountTaskCancelled,
    AvailabilityChanged,
    AvailabilitySnapshot,
    OrderPartialPolicy,
}

impl EventKind {
    pub const ALL: [EventKind; 48] = [
        EventKind::OrderCreated,
        EventKind::OrderProcessed,
        EventKind::ShipmentPrepared,
        EventKind::ShipmentProcessed,
        EventKind::OrderFulfilled,
        EventKind::OrderAccepted,
        EventKind::OrderRejected,
        EventKind::PickStarted,
        EventKind::ItemPicked,
        EventKind::ItemShorted,
        EventKind::ItemSubstituted,
        EventKind::OrderStaged,
        EventKind::ReadyForPickup,
        EventKind::CustomerArrived,
        EventKind::PickupExpired,
        EventKind::OrderCancelled,
        EventKind::CancelRejected,
        EventKind::Restocked,
        EventKind::StockAdjusted,
        EventKind::StockCounted,
        EventKind::CatalogImported,
        EventKind::OrderLate,
        EventKind::PickupReminded,
        EventKind::StoreClosed,
        EventKind::StoreOpened,
        EventKind::LockerDoorReported,
        EventKind::StaffAdded,
        EventKind::StaffRoleChanged,
        EventKind::StaffDisabled,
        EventKind::StaffEnabled,
        EventKind::StaffPinReset,
        EventKind::PickupTimesChanged,
        EventKind::DeviceRegistered,
        EventKind::DeviceRemoved,
        EventKind::OrderLinesRejected,
        EventKind::TillReceiptRecorded,
        EventKind::StockWrittenOff,
        EventKind::SafetyStockSet,
        EventKind::DeliveryAnnounced,
        EventKind::DeliveryReceived,
        EventKind::StockSnapshotReconciled,
        EventKind::CountTaskOpened,
        EventKind::CountRecorded,
        EventKind::CountApplied,
        EventKind::CountTaskCancelled,
        EventKind::AvailabilityChanged,
        EventKind::AvailabilitySnapshot,
        EventKind::OrderPartialPolicy,
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
            EventKind::PickStarted => "pick_started",
            EventKind::ItemPicked => "item_picked",
            EventKind::ItemShorted => "item_shorted",
            EventKind::ItemSubstituted => "item_substituted",
            EventKind::OrderStaged => "order_staged",
            EventKind::ReadyForPickup => "ready_for_pickup",
            EventKind::CustomerArrived => "customer_arrived",
            EventKind::PickupExpired => "pickup_expired",
            EventKind::OrderCancelled => "order_cancelled",
            EventKind::CancelRejected => "cancel_rejected",
            EventKind::Restocked => "restocked",
            EventKind::StockAdjusted => "stock_adjusted",
            EventKind::StockCounted => "stock_counted",
            EventKind::CatalogImported => "catalog_imported",
            EventKind::OrderLate => "order_late",
            EventKind::PickupReminded => "pickup_reminded",
            EventKind::StoreClosed => "store_closed",
            EventKind::StoreOpened => "store_opened",
            EventKind::LockerDoorReported => "locker_door_reported",
            EventKind::StaffAdded => "staff_added",
            EventKind::StaffRoleChanged => "staff_role_changed",
            EventKind::StaffDisabled => "staff_disabled",
            EventKind::StaffEnabled => "staff_enabled",
            EventKind::StaffPinReset => "staff_pin_reset",
            EventKind::PickupTimesChanged => "pickup_times_changed",
            EventKind::DeviceRegistered => "device_registered",
            EventKind::DeviceRemoved => "device_removed",
            EventKind::OrderLinesRejected => "order_lines_rejected",
            EventKind::TillReceiptRecorded => "till_receipt_recorded",
            EventKind::StockWrittenOff => "stock_written_off",
            EventKind::SafetyStockSet => "safety_stock_set",
            EventKind::DeliveryAnnounced => "delivery_announced",
            EventKind::DeliveryReceived => "delivery_received",
            EventKind::StockSnapshotReconciled => "stock_snapshot_reconciled",
            EventKind::CountTaskOpened => "count_task_opened",
            EventKind::CountRecorded => "count_recorded",
            EventKind::CountApplied => "count_applied",
            EventKind::CountTaskCancelled => "count_task_cancelled",
            EventKind::AvailabilityChanged => "availability_changed",
            EventKind::AvailabilitySnapshot => "availability_snapshot",
            EventKind::OrderPartialPolicy => "order_partial_policy",
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
            Event::PickStarted { .. } => EventKind::PickStarted,
            Event::ItemPicked { .. } => EventKind::ItemPicked,
            Event::ItemShorted { .. } => EventKind::ItemShorted,
            Event::ItemSubstituted { .. } => EventKind::ItemSubstituted,
            Event::OrderStaged { .. } => EventKind::OrderStaged,
            Event::ReadyForPickup { .. } => EventKind::ReadyForPickup,
            Event::CustomerArrived { .. } => EventKind::CustomerArrived,
            Event::PickupExpired => EventKind::PickupExpired,
            Event::OrderCancelled { .. } => EventKind::OrderCancelled,
            Event::CancelRejected { .. } => EventKind::CancelRejected,
            Event::Restocked { .. } => EventKind::Restocked,
            Event::StockAdjusted { .. } => EventKind::StockAdjusted,
            Event::StockCounted { .. } => EventKind::StockCounted,
            Event::CatalogImported { .. } => EventKind::CatalogImported,
            Event::OrderLate { .. } => EventKind::OrderLate,
            Event::PickupReminded { .. } => EventKind::PickupReminded,
            Event::StoreClosed { .. } => EventKind::StoreClosed,
            Event::StoreOpened { .. } => EventKind::StoreOpened,
            Event::LockerDoorReported { .. } => EventKind::LockerDoorReported,
            Event::StaffAdded { .. } => EventKind::StaffAdded,
            Event::StaffRoleChanged { .. } => EventKind::StaffRoleChanged,
            Event::StaffDisabled { .. } => EventKind::StaffDisabled,
            Event::StaffEnabled { .. } => EventKind::StaffEnabled,
            Event::StaffPinReset { .. } => EventKind::StaffPinReset,
            Event::PickupTimesChanged { .. } => EventKind::PickupTimesChanged,
            Event::ItemShortedWithReason { .. } => EventKind::ItemShorted,
            Event::DeviceRegistered { .. } => EventKind::DeviceRegistered,
            Event::DeviceRemoved { .. } => EventKind::DeviceRemoved,
            Event::OrderRejectedWithCode { .. } => EventKind::OrderRejected,
            Event::OrderLinesRejected { .. } => EventKind::OrderLinesRejected,
            Event::TillReceiptRecorded { .. } => EventKind::TillReceiptRecorded,
            Event::StockWrittenOff { .. } => EventKind::StockWrittenOff,
            Event::SafetyStockSet { .. } => EventKind::SafetyStockSet,
            Event::DeliveryAnnounced { .. } => EventKind::DeliveryAnnounced,
            Event::DeliveryReceived { .. } => EventKind::DeliveryReceived,
            Event::StockSnapshotReconciled { .. } => EventKind::StockSnapshotReconciled,
            Event::CountTaskOpened { .. } => EventKind::CountTaskOpened,
            Event::CountRecorded { .. } => EventKind::CountRecorded,
            Event::CountApplied { .. } => EventKind::CountApplied,
            Event::CountTaskCancelled { .. } => EventKind::CountTaskCancelled,
            Event::AvailabilityChanged { .. } => EventKind::AvailabilityChanged,
            Event::AvailabilitySnapshot { .. } => EventKind::AvailabilitySnapshot,
            Event::CatalogEntriesImported { .. } => EventKind::CatalogImported,
            Event::OrderPartialPolicy { .. } => EventKind::OrderPartialPolicy,
        }
    }

    /// Whether the event is about staff accounts.
    pub fn is_staff(&self) -> bool {
        matches!(
            self.kind(),
            EventKind::StaffAdded
                | EventKind::StaffRoleChanged
                | EventKind::StaffDisabled
                | EventKind::StaffEnabled
                | EventKind::StaffPinReset
        )
    }

    /// Whether the event is about who may log in (staff accounts, device
    /// credentials): kept in the log, never published on the store broker
    /// (devices have no business with it).
    pub fn is_private(&self) -> bool {
        self.is_staff()
            || matches!(
                self.kind(),
                EventKind::DeviceRegistered | EventKind::DeviceRemoved
            )
    }
}
