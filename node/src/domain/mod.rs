//! Business rules as pure functions: (state, command or event) → events or
//! a typed rejection. No I/O, no tokio, no clock: callers pass time in
//! ([`Ctx::now_ms`]) and the store's state as a read-only [`StoreView`].
//!
//! One module per service: `order` (intake), `inventory`, `fulfillment`,
//! `warehouse` (picking), `handover` (staging, check-in, hand-over,
//! expiry; the pickup code itself is `pickup`), `notification`; who may
//! do what, for every door, is `permissions`.
pub mod device;
pub mod effects;
pub mod fulfillment;
pub mod handover;
pub mod inventory;
pub mod notification;
pub mod order;
pub(crate) mod permissions;
pub mod pickup;
pub mod staff;
pub mod stock;
pub mod warehouse;

pub use device::Device;
pub use inventory::{Site, StockItem};
pub use order::{Order, OrderState};
pub use staff::StaffMember;
pub use warehouse::QueueKey;

use protocol::Event;

/// A refusal a user can cause, in words a store manager understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("order {0} is not known in this store")]
    UnknownOrder(String),
    #[error("cannot {action}: the order is {state}")]
    WrongState {
        action: &'static str,
        state: OrderState,
    },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("order {0} already exists with different content")]
    ConflictingOrder(String),
    #[error("receipt {0} was already recorded with other content; a till's receipt ids must be unique in the store")]
    ConflictingReceipt(String),
    #[error("SKU {0} is not in this store's catalog")]
    UnknownSku(String),
    #[error("barcode {0} is not in this store's catalog")]
    UnknownBarcode(String),
    #[error("wrong item: barcode {scanned} is {found}, line {line_no} wants {wanted}")]
    WrongBarcode {
        scanned: String,
        found: String,
        line_no: u32,
        wanted: String,
    },
    #[error("order has no line {0}")]
    UnknownLine(u32),
    #[error("line {line_no} is already {state}")]
    LineSettled { line_no: u32, state: &'static str },
    #[error("line {line_no} needs {open} more, not {asked}")]
    TooMany { line_no: u32, open: u32, asked: u32 },
    #[error("the customer did not allow a substitute for line {0}")]
    NoSubstitution(u32),
    /// The order holds chilled or frozen items and the slot does not keep
    /// them cold (`zone`: the coldest item taken).
    #[error("{}", staging_words(*zone))]
    StagingTooWarm { zone: protocol::Zone },
    #[error("{0}")]
    Pickup(String),
    #[error("pickup code does not match this order")]
    CodeMismatch,
    #[error(
        "the order has age-restricted items: check the customer's ID, then confirm id_checked"
    )]
    IdCheckNeeded,
    #[error("no order is ready for pickup under code {0}")]
    UnknownCode(String),
    /// A cancel after hand-over. The first one is recorded in the log
    /// (`record`: a CancelRejected event); repeats are only answered.
    #[error("cancel refused: {reason}")]
    CancelRefused { reason: String, record: bool },
    #[error("no staff member {0} in this store")]
    UnknownStaff(String),
    #[error("staff id {0} is already in use")]
    StaffExists(String),
    #[error("the store needs at least one enabled manager")]
    LastManager,
    #[error("wrong item: {item} is not on this pick list (or its line is done)")]
    NotOnPickList { item: String },
}

fn staging_words(zone: protocol::Zone) -> &'static str {
    match zone {
        protocol::Zone::Frozen => "the order has frozen items: stage it in the freezer",
        _ => "the order has chilled items: stage it in cold storage",
    }
}

impl Rejection {
    /// Events a refusal itself appends — the log's record that something
    /// was asked and refused — although the request changes nothing else.
    pub fn recorded(&self) -> Vec<Event> {
        match self {
            Rejection::CancelRefused {
                reason,
                record: true,
            } => vec![Event::CancelRejected {
                reason: reason.clone(),
            }],
            _ => vec![],
        }
    }
}

/// What a decision produces: events to append, or nothing to do.
pub type Decision = Result<Vec<Event>, Rejection>;

/// What the store knows besides the order being decided: catalog, stock
/// and settings. The writer supplies it from its projections; tests from
/// plain maps.
pub trait StoreView {
    fn item(&self, sku: &str) -> Option<StockItem>;
    /// The SKU a barcode belongs to.
    fn sku_for_barcode(&self, barcode: &str) -> Option<String>;
    fn site(&self) -> Site;
    /// One staff account.
    fn staff(&self, id: &str) -> Option<StaffMember>;
    /// Every staff account (a store has tens, not thousands).
    fn staff_list(&self) -> Vec<StaffMember>;
    /// One registered device.
    fn device(&self, name: &str) -> Option<Device>;
    /// Every registered device (tens).
    fn device_list(&self) -> Vec<Device>;
    /// A stock document (receipt, delivery, count task).
    fn doc(&self, key: &stock::DocKey) -> Option<stock::StockDoc>;
    /// The first log position stamped after `time_ms` (events are
    /// stamped in log order).
    fn seq_after(&self, time_ms: u64) -> u64;
    /// The sum of `sku`'s on-hand movements at log positions `from` and
    /// later (its movement journal, with what this group appended).
    fn moves_from(&self, sku: &str, from: u64) -> i64;
    /// Every SKU the store keeps stock of (listed or not).
    fn stock_skus(&self) -> Vec<String>;
    /// Orders taken on and not yet closed (for the store's capacity).
    fn open_orders(&self) -> usize;
}

/// Everything a decision may read.
pub struct Ctx<'a> {
    /// The stream's order (`None` for a new order or the store stream).
    pub order: Option<&'a Order>,
    pub view: &'a dyn StoreView,
    /// The time the decision's events will carry (unix ms).
    pub now_ms: u64,
}

#[cfg(test)]
pub(crate) mod testing {
    //! A store view from plain values, for table-driven rule tests.
    use std::collections::HashMap;

    use protocol::{CatalogItem, Location, Zone};

    use super::*;

    #[derive(Default, Clone)]
    pub struct Shelf {
        pub items: HashMap<String, StockItem>,
        pub site: Site,
        pub staff: HashMap<String, StaffMember>,
        pub devices: HashMap<String, Device>,
        pub docs: HashMap<stock::DocKey, stock::StockDoc>,
        /// (sku, log position, delta): the movement journal. The log
        /// position stands for the time too (`seq_after(t)` is `t + 1`).
        pub moves: Vec<(String, u64, i64)>,
        /// Open orders (the store's capacity).
        pub open: usize,
    }

    impl Shelf {
        pub fn add_device(&mut self, d: Device) {
            self.devices.insert(d.name.clone(), d);
        }

        /// SKU `sku` with barcode `barcode`, at aisle `aisle`, `on_hand` units.
        pub fn with(
            mut self,
            sku: &str,
            barcode: &str,
            aisle: u16,
            zone: Zone,
            on_hand: i64,
        ) -> Self {
            let mut item = StockItem::new(CatalogItem {
                sku: sku.into(),
                name: format!("{sku} name"),
                barcodes: vec![barcode.into()],
                location: Location {
                    aisle,
                    bay: 1,
                    shelf: 1,
                },
                zone,
                unit_price_cents: 250,
                age_restricted: false,
            });
            item.on_hand = on_hand;
            self.items.insert(sku.to_string(), item);
            self
        }
    }

    impl StoreView for Shelf {
        fn item(&self, sku: &str) -> Option<StockItem> {
            self.items.get(sku).cloned().map(|i| self.site.resolve(i))
        }
        fn doc(&self, key: &stock::DocKey) -> Option<stock::StockDoc> {
            self.docs.get(key).cloned()
        }
        fn seq_after(&self, time_ms: u64) -> u64 {
            time_ms + 1
        }
        fn moves_from(&self, sku: &str, from: u64) -> i64 {
            self.moves
                .iter()
                .filter(|(s, seq, _)| s == sku && *seq >= from)
                .map(|(_, _, d)| d)
                .sum()
        }
        fn stock_skus(&self) -> Vec<String> {
            self.items.keys().cloned().collect()
        }
        fn open_orders(&self) -> usize {
            self.open
        }
        fn sku_for_barcode(&self, barcode: &str) -> Option<String> {
            self.items
                .values()
                .find(|i| i.item.barcodes.iter().any(|b| b == barcode))
                .map(|i| i.item.sku.clone())
        }
        fn site(&self) -> Site {
            self.site.clone()
        }
        fn staff(&self, id: &str) -> Option<StaffMember> {
            self.staff.get(id).cloned()
        }
        fn staff_list(&self) -> Vec<StaffMember> {
            self.staff.values().cloned().collect()
        }
        fn device(&self, name: &str) -> Option<Device> {
            self.devices.get(name).cloned()
        }
        fn device_list(&self) -> Vec<Device> {
            self.devices.values().cloned().collect()
        }
    }
}
