//! The store: the only module that touches sled.
//!
//! One sled tree holds every key, under one-byte prefixes, so that the
//! effects of a whole group commit (log entries, projections,
//! inbox entries, checkpoints) go in one atomic `apply_batch`: a crash never
//! leaves them disagreeing. Writes go through the [`writer`] (group commit);
//! reads are direct.
//!
//! Reads live by concept, each an `impl Store` of its own: `log` (entries,
//! hash-chain head, durable head, checkpoints), `orders` (the projection
//! and its in-memory indexes), `stock` (catalog, stock, settings, staff),
//! `devices`, `session`, `stock_docs`, `sync`; `open` loads them, `keys`
//! builds the keys of the table below.
//!
//! | prefix | key                         | value                          |
//! |--------|-----------------------------|--------------------------------|
//! | `l`    | log_seq (u64 BE)            | encoded [`Envelope`]           |
//! | `o`    | order id                    | order status (changes)         |
//! | `k`    | order id                    | order content (written once)   |
//! | `c`    | consumer name               | checkpoint log_seq (u64 BE)    |
//! | `x`    | scope, 0, command id        | [`InboxEntry`]                 |
//! | `d`    | dead-letter seq (u64 BE)    | [`DeadLetter`] (JSON)          |
//! | `v`    | device name                 | [`Device`] (projection; `devices`) |
//! | `i`    | SKU                         | [`StockItem`] (catalog + stock) |
//! | `g`    | —                           | [`Site`] (store settings)      |
//! | `s`    | node stream id (`_store`)   | last `order_seq` (u64 BE)      |
//! | `m`    | `store_id`, `chain`         | owner store; [`ChainHead`]     |
//! | `u`    | staff id                    | [`StaffMember`] (projection)   |
//! | `n`    | SHA-256 of a session token  | [`SessionRecord`]              |
//! | `h`    | HQ command seq (u64 BE)     | when it was decided (see `sync`) |
//! | `a`    | device tenant, 0, notice id | [`PendingNotice`] until acknowledged |
//! | `r`    | tag (`R`/`D`/`T`), id       | a stock document: till receipt, delivery, count task |
//! | `j`    | SKU, 0, log_seq (u64 BE)    | [`JournalEntry`]: one change of the SKU's on-hand stock |
pub mod backup;
mod dead_letters;
mod deliveries;
mod devices;
pub mod disk;
pub mod format;
mod inbox;
mod keys;
mod log;
mod open;
mod orders;
#[cfg(feature = "test-hooks")]
mod power_cuts;
mod rebuild;
mod session;
mod stock;
mod stock_docs;
mod sync;
mod verify;
mod watermark;
pub mod writer;

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use protocol::{codec, OrderId, StoreId};

use crate::clock::Clock;
use crate::domain::{OrderState, Site, StaffMember, StockItem};

// The submodules' crate-wide names, where they have always been
// (`store::log_key`, `store::ChainHead`, ...).
pub(crate) use keys::*;
pub(crate) use log::chain_head_of;
use log::decode_env;
pub use log::{chain_hash, ChainHead};
pub(crate) use open::open_db;
use orders::Queue;
pub(crate) use orders::StateMove;
pub(crate) use stock::Stock;

pub use dead_letters::{DeadLetter, MAX_DEAD_LETTERS};
pub use deliveries::PendingNotice;
pub use devices::new_password;
pub use inbox::{fingerprint, InboxEntry};
pub use rebuild::{rebuild, RebuildReport};
pub use session::SessionRecord;
pub use stock_docs::{JournalEntry, Movement};
pub use verify::VerifyReport;
pub use writer::{Dedup, WriteRequest, Writer, WriterHandle, Written};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    #[error("database {path} is in use by another process (is the node already running?)")]
    Locked { path: String },
    #[error("stored record {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    #[error(
        "the database in {path} is damaged ({detail}); nothing is started on it. Keep the damaged directory for inspection, restore the data directory from the last backup (docs/operations.md, \"A damaged data directory\"), run `storenode verify` on the restored copy, then start the node"
    )]
    Damaged { path: String, detail: String },
    #[error("disk sync failed: {0}")]
    Sync(#[from] std::io::Error),
    #[error("the store is shutting down")]
    Closed,
    /// New work refused: the disk is full or read-only (nothing written).
    #[error(transparent)]
    Disk(#[from] disk::DiskTrouble),
    /// Written by a newer release, in a format this one does not know.
    #[error(
        "the database in {path} has format {found}, written by storenode {by}; this is storenode {}, which reads formats {} to {}. A downgrade is refused so that no newer record is misread: install storenode {by} (or newer) again, or restore a backup taken with this release",
        format::RELEASE, format::OLDEST, format::FORMAT
    )]
    TooNew {
        path: String,
        found: u32,
        by: String,
    },
    #[error(
        "database {path} belongs to store {found:?}, not {wanted:?} (check store_id or data_dir)"
    )]
    OtherStore {
        path: String,
        found: String,
        wanted: String,
    },
}

/// Cheap to clone handle on the node's database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
    head: Arc<AtomicU64>,
    /// Woken whenever the durable head moves ([`Store::durable`]).
    head_moved: Arc<tokio::sync::Notify>,
    dead_seq: Arc<AtomicU64>,
    store_id: StoreId,
    /// Orders by state, for listing. Derived from the order statuses at
    /// open and kept in memory: in sled it would cost two keys per state
    /// change, and sled's cost is per key.
    states: Arc<std::sync::RwLock<std::collections::BTreeSet<(OrderState, OrderId)>>>,
    /// Open orders past their promise time and not yet ready (the
    /// manager's list), kept like `states`.
    overdue: Arc<std::sync::RwLock<std::collections::BTreeSet<OrderId>>>,
    stock: Arc<std::sync::RwLock<Stock>>,
    /// The pick queue (`None` until first asked for).
    queue: Arc<std::sync::RwLock<Option<Queue>>>,
    /// Customers who checked in for an order still open: order → when.
    arrivals: Arc<std::sync::RwLock<std::collections::BTreeMap<OrderId, u64>>>,
    /// Registered devices (the `v` projection, in memory).
    devices: Arc<std::sync::RwLock<devices::Devices>>,
    /// The time every decision and event reads (see `crate::clock`).
    clock: Clock,
    disk: Arc<std::sync::OnceLock<disk::Disk>>,
}

/// The system clock, raw: for what is not a decision about an order (a
/// login session, a dead letter's time). Decisions read [`Store::clock`].
pub fn now_ms() -> u64 {
    crate::clock::wall_ms()
}

impl Store {
    /// Refuse new work while the disk holding `dir` has less than
    /// `reserve` bytes free or is read-only (see [`disk`]). Once per store.
    pub fn watch_disk(&self, dir: &Path, reserve: u64) {
        let _ = self.disk.set(disk::Disk::new(dir.to_path_buf(), reserve));
    }

    /// The disk's watch, if [`Store::watch_disk`] started one.
    pub fn disk(&self) -> Option<&disk::Disk> {
        self.disk.get()
    }

    /// The time every decision and event reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Write down the clock's forward steps if it saw one since the last
    /// call (timers correct what was stamped before them, also after a
    /// restart). Flushed: a step is rare and its loss would expire orders.
    pub fn save_clock_steps(&self) -> Result<(), StoreError> {
        if let Some(steps) = self.clock.take_unsaved() {
            self.tree.insert(clock_steps_key(), codec::encode(&steps))?;
            self.db.flush()?;
        }
        Ok(())
    }

    pub fn store_id(&self) -> &StoreId {
        &self.store_id
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    pub(crate) fn db(&self) -> &sled::Db {
        &self.db
    }
}

/// What the rules may read, straight from the durable projections (the
/// writer overlays its group on top of this for decisions).
impl crate::domain::StoreView for Store {
    fn item(&self, sku: &str) -> Option<StockItem> {
        Store::item(self, sku)
    }
    fn sku_for_barcode(&self, barcode: &str) -> Option<String> {
        Store::sku_for_barcode(self, barcode)
    }
    fn site(&self) -> Site {
        Store::site(self)
    }
    fn staff(&self, id: &str) -> Option<StaffMember> {
        Store::staff(self, id)
    }
    fn staff_list(&self) -> Vec<StaffMember> {
        Store::staff_list(self)
    }
    fn device(&self, name: &str) -> Option<crate::domain::Device> {
        Store::device(self, name)
    }
    fn device_list(&self) -> Vec<crate::domain::Device> {
        Store::device_list(self)
    }
    fn doc(&self, key: &crate::domain::stock::DocKey) -> Option<crate::domain::stock::StockDoc> {
        Store::doc(self, key).ok().flatten()
    }
    fn seq_after(&self, time_ms: u64) -> u64 {
        Store::seq_after(self, time_ms).unwrap_or(u64::MAX)
    }
    fn moves_from(&self, sku: &str, from: u64) -> i64 {
        Store::moves_from(self, sku, from).unwrap_or(0)
    }
    fn stock_skus(&self) -> Vec<String> {
        Store::stock_skus(self)
    }
    fn open_orders(&self) -> usize {
        Store::open_orders(self)
    }
}

#[cfg(test)]
mod tests;
