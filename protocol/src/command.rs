//! Commands: requests to change something, which the node may refuse.
//!
//! Every command carries an id chosen by the sender; the node applies a
//! command id once and answers a repeat with the first answer. A sender
//! retries until it gets a [`CommandReply`]: an MQTT PUBACK only means the
//! broker has the message in memory.
use serde::{Deserialize, Serialize};

use crate::event::{
    ArrivalChannel, CatalogEntry, CatalogItem, DeviceKind, NewOrder, Role, ShortReason, StagingSlot,
};
use crate::ids::OrderId;
use crate::stock::{
    Partial, Receipt, SafetyScope, SkuQuantity, SnapshotLine, StaffRejectReason, WriteOffReason,
};

/// What a device, the cloud or an API caller asks the node to do.
///
/// Every door (HTTP, device topics, the cloud topic) takes the same
/// commands and the node decides them with the same rules.
///
/// **Who did it is not part of a command.** The node records the door's
/// authenticated principal (the logged-in staff member, the device, the
/// cloud, the API token) as the event's actor. The `staff` and `by` fields
/// of the older commands stay in the wire format (postcard cannot drop a
/// field) but are optional in JSON and never decide the actor; the node
/// keeps what an API-token caller names there as a label only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Take a new order (OrderCreated).
    CreateOrder { order_id: OrderId, order: NewOrder },
    /// Staff confirm every open line picked in full without scanning
    /// (ItemPicked per open line, then ShipmentProcessed).
    MarkPicked {
        order_id: OrderId,
        #[serde(default)]
        staff: String,
    },
    /// Hand the order to the customer (OrderFulfilled). `code` is the short
    /// pickup code or the scanned QR token; `id_checked` is required for
    /// orders with age-restricted lines.
    HandOver {
        order_id: OrderId,
        #[serde(default)]
        staff: String,
        code: String,
        #[serde(default)]
        id_checked: bool,
    },
    // ---- BOPIS (appended; never reorder) ----
    /// The cloud confirms a `pending` order's payment (OrderProcessed).
    ConfirmPayment { order_id: OrderId },
    /// A picker takes the order (PickStarted); `walk_id` groups a batch.
    StartPick {
        order_id: OrderId,
        #[serde(default)]
        staff: String,
        #[serde(default)]
        walk_id: Option<String>,
        #[serde(default = "one")]
        tote: u32,
    },
    /// A scan of `quantity` units for a line (ItemPicked). A barcode that is
    /// not the line's item is refused.
    PickItem {
        order_id: OrderId,
        line_no: u32,
        barcode: String,
        #[serde(default = "one")]
        quantity: u32,
        #[serde(default)]
        staff: String,
    },
    /// The shelf had only `found` units for the line (ItemShorted).
    ShortItem {
        order_id: OrderId,
        line_no: u32,
        found: u32,
        #[serde(default)]
        staff: String,
    },
    /// Settle the line with the scanned other item (ItemSubstituted), if the
    /// customer allowed substitutes.
    SubstituteItem {
        order_id: OrderId,
        line_no: u32,
        barcode: String,
        quantity: u32,
        #[serde(default)]
        staff: String,
    },
    /// Put the picked order on a staging slot (OrderStaged, ReadyForPickup).
    Stage {
        order_id: OrderId,
        slot: StagingSlot,
        #[serde(default)]
        staff: String,
    },
    /// The customer checked in at the desk, a kiosk or curbside.
    CheckIn {
        order_id: OrderId,
        channel: ArrivalChannel,
        #[serde(default)]
        note: Option<String>,
    },
    /// Cancel the order; the rule depends on how far it got.
    Cancel {
        order_id: OrderId,
        reason: String,
        #[serde(default)]
        by: String,
    },
    /// A count of SKUs at one location (StockCounted).
    CountStock {
        counts: Vec<SkuQuantity>,
        #[serde(default)]
        staff: String,
    },
    /// Correct on-hand stock (StockAdjusted).
    AdjustStock {
        sku: String,
        delta: i64,
        reason: String,
        #[serde(default)]
        staff: String,
    },
    /// Add or replace catalog items and, optionally, set their stock.
    ImportCatalog {
        items: Vec<CatalogItem>,
        #[serde(default)]
        stock: Vec<SkuQuantity>,
    },
    /// Stop or resume taking orders.
    SetStoreOpen {
        open: bool,
        #[serde(default)]
        reason: String,
        #[serde(default)]
        staff: String,
    },
    /// A check-in (desk, kiosk or curbside) by the customer's short pickup
    /// code or QR token (the node finds the order).
    CheckInByCode {
        code: String,
        channel: ArrivalChannel,
        #[serde(default)]
        note: Option<String>,
    },
    /// A locker reports a compartment door opened or closed.
    ReportLockerDoor { compartment: String, open: bool },
    // ---- Staff pages (appended; never reorder) ----
    /// [`Command::ShortItem`] with the picker's reason (ItemShorted).
    ShortItemWithReason {
        order_id: OrderId,
        line_no: u32,
        found: u32,
        #[serde(default)]
        reason: ShortReason,
    },
    /// Create a staff account. The PIN travels only as its keyed Argon2id
    /// hash (see [`crate::Event::StaffAdded`]).
    AddStaff {
        staff_id: String,
        name: String,
        role: Role,
        pin_hash: String,
    },
    /// Change a staff member's role.
    SetStaffRole { staff_id: String, role: Role },
    /// Disable (ending their sessions) or re-enable a staff account.
    SetStaffEnabled { staff_id: String, enabled: bool },
    /// Replace a staff member's PIN (its keyed hash).
    ResetStaffPin { staff_id: String, pin_hash: String },
    /// How long a ready order waits (seconds) and how long before expiry
    /// the customer is reminded (0: never).
    SetPickupTimes { expiry_s: u64, reminder_s: u64 },
    /// Register a device (made by the node's own doors, which generate the
    /// password and certificate; see [`crate::Event::DeviceRegistered`]).
    RegisterDevice {
        name: String,
        kind: DeviceKind,
        #[serde(default)]
        compartments: Vec<String>,
        salt: String,
        password_hash: String,
        cert_sha256: String,
    },
    /// Remove a device: it may no longer log in, and what it sends is
    /// refused from now.
    RemoveDevice { name: String },
    // ---- Stock that tells the truth (appended; never reorder) ----
    /// A till transaction (TillReceiptRecorded): applied once per
    /// `receipt_id`, never refused for stock.
    RecordReceipt { receipt: Receipt },
    /// Write units off (StockWrittenOff).
    WriteOff {
        sku: String,
        quantity: u32,
        reason: WriteOffReason,
        #[serde(default)]
        note: String,
    },
    /// Keep units back from online orders (SafetyStockSet); `safety: null`
    /// removes the setting.
    SetSafetyStock {
        scope: SafetyScope,
        safety: Option<u32>,
    },
    /// HQ announces a delivery (DeliveryAnnounced).
    AnnounceDelivery {
        delivery_id: String,
        lines: Vec<SkuQuantity>,
        #[serde(default)]
        expected_ms: Option<u64>,
    },
    /// Staff book goods received (DeliveryReceived): an announced delivery
    /// (by id, with what arrived) or one HQ never announced (no id).
    ReceiveDelivery {
        #[serde(default)]
        delivery_id: Option<String>,
        lines: Vec<SkuQuantity>,
    },
    /// HQ's stock as of `as_of_ms`, to reconcile (StockSnapshotReconciled).
    ReconcileSnapshot {
        as_of_ms: u64,
        lines: Vec<SnapshotLine>,
    },
    /// Ask for a count of one SKU (CountTaskOpened).
    OpenCountTask {
        sku: String,
        #[serde(default)]
        note: String,
    },
    /// A count of a task's SKU (CountRecorded; CountApplied when it is
    /// close enough to what was expected, or a recount or approval is
    /// asked for).
    RecordCount { task_id: String, counted: u32 },
    /// A manager applies a count that needed approval (CountApplied).
    ApproveCount { task_id: String },
    /// Drop a count task (CountTaskCancelled).
    CancelCountTask {
        task_id: String,
        #[serde(default)]
        reason: String,
    },
    /// Staff reject an accepted order before picking: all of it (`lines`
    /// empty) or some lines (OrderRejectedWithCode or OrderLinesRejected).
    RejectOrder {
        order_id: OrderId,
        reason: StaffRejectReason,
        #[serde(default)]
        lines: Vec<u32>,
        #[serde(default)]
        note: String,
    },
    /// HQ asks for the whole catalog's availability (AvailabilitySnapshot).
    RequestAvailability {},
    /// [`Command::ShortItemWithReason`] with the units the picker found
    /// bad (`written_off`, for `damaged` and `out_of_date`): written off.
    ShortItemWithWriteOff {
        order_id: OrderId,
        line_no: u32,
        found: u32,
        reason: ShortReason,
        written_off: u32,
    },
    /// [`Command::ImportCatalog`] with each item's category (set, or
    /// cleared when `null`).
    ImportCatalogEntries {
        items: Vec<CatalogEntry>,
        #[serde(default)]
        stock: Vec<SkuQuantity>,
    },
    /// [`Command::CreateOrder`] with the order's own partial-fulfilment
    /// policy (OrderCreated, then OrderPartialPolicy).
    CreateOrderWithPolicy {
        order_id: OrderId,
        order: NewOrder,
        partial: Partial,
    },
}

fn one() -> u32 {
    1
}

impl Command {
    /// The stream the command writes to: its order, or the store's own
    /// stream ([`OrderId::store_stream`]) for stock, settings and locker
    /// reports. A check-in by code names no order until the node resolves
    /// the code.
    pub fn stream(&self) -> OrderId {
        match self {
            Command::CreateOrder { order_id, .. }
            | Command::CreateOrderWithPolicy { order_id, .. }
            | Command::MarkPicked { order_id, .. }
            | Command::HandOver { order_id, .. }
            | Command::ConfirmPayment { order_id }
            | Command::StartPick { order_id, .. }
            | Command::PickItem { order_id, .. }
            | Command::ShortItem { order_id, .. }
            | Command::SubstituteItem { order_id, .. }
            | Command::Stage { order_id, .. }
            | Command::CheckIn { order_id, .. }
            | Command::Cancel { order_id, .. }
            | Command::ShortItemWithReason { order_id, .. }
            | Command::RejectOrder { order_id, .. }
            | Command::ShortItemWithWriteOff { order_id, .. } => order_id.clone(),
            Command::CountStock { .. }
            | Command::AdjustStock { .. }
            | Command::ImportCatalog { .. }
            | Command::SetStoreOpen { .. }
            | Command::ReportLockerDoor { .. }
            | Command::AddStaff { .. }
            | Command::SetStaffRole { .. }
            | Command::SetStaffEnabled { .. }
            | Command::ResetStaffPin { .. }
            | Command::SetPickupTimes { .. }
            | Command::RegisterDevice { .. }
            | Command::RemoveDevice { .. }
            | Command::RecordReceipt { .. }
            | Command::WriteOff { .. }
            | Command::SetSafetyStock { .. }
            | Command::AnnounceDelivery { .. }
            | Command::ReceiveDelivery { .. }
            | Command::ReconcileSnapshot { .. }
            | Command::OpenCountTask { .. }
            | Command::RecordCount { .. }
            | Command::ApproveCount { .. }
            | Command::CancelCountTask { .. }
            | Command::RequestAvailability {}
            | Command::ImportCatalogEntries { .. } => OrderId::store_stream(),
            // Resolved to its order by the node before deciding; unresolved
            // it names no order and is refused as unknown.
            Command::CheckInByCode { .. } => OrderId::store_stream(),
        }
    }
}

/// A command with the sender's id, as sent on a command topic.
///
/// `id` is the sender's idempotency key: 1 to 64 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandEnvelope {
    pub id: String,
    pub command: Command,
}

/// A device's word that it acted on a notice (JSON on
/// `/tenants/{tenant}/ack`): the `notice_id` the notice carried. Until it
/// comes, the node sends the notice again (contract 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeAck {
    pub notice_id: String,
}

/// The outcome of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStatus {
    /// Applied and durable (its events are flushed to disk).
    Accepted,
    /// Understood but refused by a business rule; nothing changed.
    Rejected,
    /// Not understood (malformed); nothing changed.
    Invalid,
}

/// The node's answer to a command, sent only after the outcome is durable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandReply {
    /// The command's id; empty if the command was too malformed to have one.
    pub id: String,
    pub status: ReplyStatus,
    /// Why it was rejected or invalid, in words a store manager understands.
    /// (Always present, `null` when accepted: postcard cannot skip fields.)
    #[serde(default)]
    pub reason: Option<String>,
    /// The log sequence numbers of the events the command produced.
    #[serde(default)]
    pub log_seqs: Vec<u64>,
}
