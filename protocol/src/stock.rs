//! Stock that tells the truth: the types of every stock movement the store
//! makes (till receipts, deliveries, write-offs, counts, HQ snapshots),
//! what the store keeps back (safety stock), what it tells HQ it can
//! promise (availability), and the codes of the orders and lines it
//! refuses. docs/stock.md explains the model.
//!
//! Every enum here is encoded by variant index: append, never reorder.
use serde::{Deserialize, Serialize};

/// A quantity of one SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkuQuantity {
    pub sku: String,
    pub quantity: u32,
}

/// Why the store refuses an order, or some of its lines: a code HQ's order
/// routing branches on (re-route to another store, cancel, wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// Availability does not cover it (on hand minus reserved minus safety
    /// stock); `skus` names which.
    OutOfStock,
    /// The store's catalog does not have the SKU.
    UnknownSku,
    /// The store is closed for orders.
    StoreClosed,
    /// The store has as many open orders as it can work (`orders.max_open`).
    Capacity,
    /// The order itself is not valid (a field, a pickup token).
    Invalid,
    /// Staff rejected it before picking (the reason is in the event).
    StaffRejected,
}

impl RejectCode {
    pub const ALL: [RejectCode; 6] = [
        RejectCode::OutOfStock,
        RejectCode::UnknownSku,
        RejectCode::StoreClosed,
        RejectCode::Capacity,
        RejectCode::Invalid,
        RejectCode::StaffRejected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RejectCode::OutOfStock => "out_of_stock",
            RejectCode::UnknownSku => "unknown_sku",
            RejectCode::StoreClosed => "store_closed",
            RejectCode::Capacity => "capacity",
            RejectCode::Invalid => "invalid",
            RejectCode::StaffRejected => "staff_rejected",
        }
    }
}

/// Why staff reject an accepted order, or some of its lines, before
/// picking. Each has the stock effect of the short reason it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRejectReason {
    /// Not on the shelf: the SKU's count is in doubt (a count task opens).
    NotInStock,
    /// On the shelf but damaged: the bad units are written off.
    Damaged,
    /// The store cannot pick it in time (no stock effect).
    CannotFulfilInTime,
    /// The customer asked (no stock effect).
    CustomerRequest,
}

impl StaffRejectReason {
    pub const ALL: [StaffRejectReason; 4] = [
        StaffRejectReason::NotInStock,
        StaffRejectReason::Damaged,
        StaffRejectReason::CannotFulfilInTime,
        StaffRejectReason::CustomerRequest,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StaffRejectReason::NotInStock => "not_in_stock",
            StaffRejectReason::Damaged => "damaged",
            StaffRejectReason::CannotFulfilInTime => "cannot_fulfil_in_time",
            StaffRejectReason::CustomerRequest => "customer_request",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// One line the store will not fill, with its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectedLine {
    /// The order line's number (1-based, as placed).
    pub line_no: u32,
    pub sku: String,
    pub quantity: u32,
    pub code: RejectCode,
}

/// Why units leave stock without being sold or picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteOffReason {
    Damaged,
    OutOfDate,
    /// Stolen, lost, eaten: known gone, reason unknown.
    Shrinkage,
    /// Returned by a customer in a state that cannot be sold again.
    DamagedReturn,
}

impl WriteOffReason {
    pub const ALL: [WriteOffReason; 4] = [
        WriteOffReason::Damaged,
        WriteOffReason::OutOfDate,
        WriteOffReason::Shrinkage,
        WriteOffReason::DamagedReturn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WriteOffReason::Damaged => "damaged",
            WriteOffReason::OutOfDate => "out_of_date",
            WriteOffReason::Shrinkage => "shrinkage",
            WriteOffReason::DamagedReturn => "damaged_return",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// What a till transaction was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    /// Units sold: off the shelf.
    Sale,
    /// Units brought back: on the shelf again, unless damaged.
    Return,
    /// An earlier receipt (`voids`) cancelled at the till: its effect is
    /// reversed.
    Void,
}

impl ReceiptKind {
    pub fn name(self) -> &'static str {
        match self {
            ReceiptKind::Sale => "sale",
            ReceiptKind::Return => "return",
            ReceiptKind::Void => "void",
        }
    }
}

/// One SKU of a receipt (the node merges a receipt's lines per SKU and
/// condition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptLine {
    pub sku: String,
    pub quantity: u32,
    /// A returned unit that cannot be sold again (written off, not put
    /// back).
    #[serde(default)]
    pub damaged: bool,
}

/// One till transaction, as the node records it (barcodes resolved to
/// SKUs, lines merged per SKU).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The till's id for it: applied once, whatever the till resends.
    pub receipt_id: String,
    /// Which till.
    pub till: String,
    /// When the till rang it up (unix ms).
    pub at_ms: u64,
    pub kind: ReceiptKind,
    /// The receipt a void cancels.
    #[serde(default)]
    pub voids: Option<String>,
    pub lines: Vec<ReceiptLine>,
}

/// Why a count of one SKU is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountReason {
    /// A picker did not find what the node thought was on the shelf.
    NotFound,
    /// The till sold more than the node thought was on hand.
    TillDiscrepancy,
    /// A count was far from what the node expected: counted again.
    Variance,
    /// A manager asked for it.
    Manager,
}

impl CountReason {
    pub fn name(self) -> &'static str {
        match self {
            CountReason::NotFound => "not_found",
            CountReason::TillDiscrepancy => "till_discrepancy",
            CountReason::Variance => "variance",
            CountReason::Manager => "manager",
        }
    }
}

/// Which SKUs a safety-stock setting covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SafetyScope {
    /// Every SKU without a setting of its own or of its category.
    Store,
    /// One category (the catalog's `category`).
    Category(String),
    /// One SKU.
    Sku(String),
}

/// What the store can promise of one SKU, as HQ hears it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkuAvailability {
    pub sku: String,
    /// `max(0, on_hand - reserved - safety)`: what a new order may take.
    pub available: u64,
    /// What the node believes is on the shelf (negative: the till sold
    /// more than it knew of; a count is open).
    pub on_hand: i64,
}

/// A quantity of one SKU that HQ's stock system holds as of a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotLine {
    pub sku: String,
    /// On hand in HQ's books at `as_of_ms`.
    pub on_hand: i64,
}

/// One SKU of an HQ snapshot, as reconciled: on hand becomes
/// `hq_on_hand + local_after` (the store's movements after the snapshot's
/// time, which HQ could not have seen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciled {
    pub sku: String,
    pub hq_on_hand: i64,
    pub local_after: i64,
    /// `hq_on_hand + local_after`.
    pub on_hand: i64,
}

/// A delivery line: `SkuQuantity` under the name staff use.
pub type DeliveryLine = SkuQuantity;

/// What the store does with an order one of whose lines availability does
/// not cover: fill the others and reject that line (`allow`), or reject
/// the whole order (`none`). Each order may say; the store's
/// `orders.partial` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partial {
    Allow,
    None,
}

impl Partial {
    pub fn name(self) -> &'static str {
        match self {
            Partial::Allow => "allow",
            Partial::None => "none",
        }
    }
}
