//! The store: the only module that touches sled.
//!
//! One sled tree holds every key, under one-byte prefixes, so that the
//! effects of a whole group commit (log entries, projections,
//! inbox entries, checkpoints) go in one atomic `apply_batch`: a crash never
//! leaves them disagreeing. Writes go through the [`writer`] (group commit);
//! reads are direct.
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
#[cfg(feature = "test-hooks")]
mod power_cuts;
mod rebuild;
mod session;
mod stock_docs;
mod sync;
mod verify;
mod watermark;
pub mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use protocol::{codec, Envelope, OrderId, StoreId};

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::order::OrderStatus;
use crate::domain::{Order, OrderState, Site, StaffMember, StockItem};

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

/// The newest log entry's hash: anchors the hash chain's end, so removing
/// or editing the last entries shows too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: [u8; 32],
}

/// SHA-256 of an encoded log entry: the next entry's `prev_hash`
/// (`protocol::ChainHash::of`, the rule the bridge checks too).
pub fn chain_hash(bytes: &[u8]) -> [u8; 32] {
    protocol::ChainHash::of(bytes).0
}

/// Catalog, stock and settings, kept in memory (a store has thousands of
/// SKUs, not millions) and persisted per SKU under `i`.
#[derive(Debug, Default)]
pub(crate) struct Stock {
    items: std::collections::HashMap<String, StockItem>,
    /// Barcode → SKU.
    barcodes: std::collections::HashMap<String, String>,
    site: Site,
    /// Short pickup code → order, for orders ready for pickup.
    codes: std::collections::HashMap<String, OrderId>,
    /// Staff accounts by id.
    staff: std::collections::HashMap<String, StaffMember>,
}

/// Where an order stands in the pick queue: late orders first, then by
/// promise time (orders without one after those with one), then in the
/// order they arrived.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueKey {
    /// 0 for late orders, 1 for the others.
    pub rank: u8,
    /// The promise time, `u64::MAX` when there is none.
    pub due_ms: u64,
    pub created_log_seq: u64,
    pub id: OrderId,
}

impl QueueKey {
    /// The order's place in the pick queue, if it is waiting for a picker.
    pub fn of(o: &Order) -> Option<QueueKey> {
        (o.state == OrderState::Prepared).then(|| QueueKey {
            rank: if o.late { 0 } else { 1 },
            due_ms: o.content.due_at_ms.unwrap_or(u64::MAX),
            created_log_seq: o.created_log_seq,
            id: o.id.clone(),
        })
    }
}

/// The pick queue: orders waiting for a picker, in queue order. Built on
/// first use (it needs each waiting order's promise time, which is not in
/// the statuses read at open) and kept by the writer's state moves.
#[derive(Debug, Default)]
struct Queue {
    keys: std::collections::BTreeSet<QueueKey>,
    by_id: std::collections::HashMap<OrderId, QueueKey>,
}

impl Queue {
    fn set(&mut self, id: &OrderId, key: Option<QueueKey>) {
        if let Some(old) = self.by_id.remove(id) {
            self.keys.remove(&old);
        }
        if let Some(k) = key {
            self.by_id.insert(id.clone(), k.clone());
            self.keys.insert(k);
        }
    }
}

impl Stock {
    fn put(&mut self, item: StockItem) {
        if let Some(old) = self.items.get(&item.item.sku) {
            for b in &old.item.barcodes {
                // Only if it still names this SKU: a barcode may have moved
                // to another SKU in the same group.
                if self.barcodes.get(b) == Some(&item.item.sku) {
                    self.barcodes.remove(b);
                }
            }
        }
        for b in &item.item.barcodes {
            self.barcodes.insert(b.clone(), item.item.sku.clone());
        }
        self.items.insert(item.item.sku.clone(), item);
    }
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

pub(crate) fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    k.push(prefix);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p);
    }
    k
}

/// Open the sled database in `dir` as the node always does.
pub(crate) fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
    sled::Config::new()
        .path(dir)
        .cache_capacity(32 << 20)
        // sled writes an item larger than a quarter segment to its own
        // file under blobs/, which it never fsyncs; 8 MiB segments put
        // that threshold (2 MiB) above anything the order limits allow,
        // so everything stays in the one fdatasync-ed log file.
        .segment_size(8 << 20)
        // Flushing is ours (group commit), not a background timer's.
        .flush_every_ms(None)
        .open()
        .map_err(|e| match e {
            // sled reports a held lock as an `Other` I/O error with this text.
            sled::Error::Io(ref io) if io.to_string().contains("could not acquire lock") => {
                StoreError::Locked {
                    path: dir.display().to_string(),
                }
            }
            other => StoreError::Sled(other),
        })
}

/// The recorded end of the hash chain in `tree`.
pub(crate) fn chain_head_of(tree: &sled::Tree) -> Result<ChainHead, StoreError> {
    match tree.get(chain_key())? {
        Some(v) => codec::decode(&v).map_err(|e| StoreError::Corrupt {
            key: "chain head".into(),
            reason: e.to_string(),
        }),
        None => Ok(ChainHead::default()),
    }
}

pub(crate) fn log_key(seq: u64) -> Vec<u8> {
    key(b'l', &[&seq.to_be_bytes()])
}
pub(crate) fn order_key(id: &OrderId) -> Vec<u8> {
    key(b'o', &[id.as_str().as_bytes()])
}
pub(crate) fn content_key(id: &OrderId) -> Vec<u8> {
    key(b'k', &[id.as_str().as_bytes()])
}
pub(crate) fn checkpoint_key(consumer: &str) -> Vec<u8> {
    key(b'c', &[consumer.as_bytes()])
}
pub(crate) fn inbox_key(scope: &str, id: &str) -> Vec<u8> {
    key(b'x', &[scope.as_bytes(), id.as_bytes()])
}
pub(crate) fn item_key(sku: &str) -> Vec<u8> {
    key(b'i', &[sku.as_bytes()])
}
pub(crate) fn site_key() -> Vec<u8> {
    key(b'g', &[])
}
pub(crate) fn stream_key(id: &OrderId) -> Vec<u8> {
    key(b's', &[id.as_str().as_bytes()])
}
pub(crate) fn chain_key() -> Vec<u8> {
    key(b'm', &[b"chain"])
}
pub(crate) fn staff_key(id: &str) -> Vec<u8> {
    key(b'u', &[id.as_bytes()])
}

fn be_u64(bytes: &[u8], what: &str) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            key: what.to_string(),
            reason: format!("expected 8 bytes, found {}", bytes.len()),
        })
}

/// The system clock, raw: for what is not a decision about an order (a
/// login session, a dead letter's time). Decisions read [`Store::clock`].
pub fn now_ms() -> u64 {
    crate::clock::wall_ms()
}

pub(crate) fn clock_steps_key() -> Vec<u8> {
    key(b'm', &[b"clock_steps"])
}

impl Store {
    /// Open (or create) the database under `dir`, on the machine's clock.
    pub fn open(dir: &Path, store_id: StoreId) -> Result<Self, StoreError> {
        Store::open_with_clock(dir, store_id, Arc::new(crate::clock::System::default()))
    }

    /// [`Store::open_with_clock`] for tests that open a directory again
    /// in the same process: sled lets go of the file lock a moment after
    /// the store before is dropped (5 s at most).
    #[cfg(test)]
    pub(crate) fn open_when_free(
        dir: &Path,
        store_id: StoreId,
        source: Arc<dyn crate::clock::Source>,
    ) -> Result<Self, StoreError> {
        let mut tries = 0;
        loop {
            match Store::open_with_clock(dir, store_id.clone(), source.clone()) {
                Err(StoreError::Locked { .. }) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    /// Open (or create) the database under `dir`, reading time from
    /// `source` (tests drive a [`crate::clock::Manual`] one). A database
    /// whose checksums fail is [`StoreError::Damaged`].
    pub fn open_with_clock(
        dir: &Path,
        store_id: StoreId,
        source: Arc<dyn crate::clock::Source>,
    ) -> Result<Self, StoreError> {
        Store::open_inner(dir, store_id, source).map_err(|e| match e {
            StoreError::Sled(sled::Error::Corruption { at, .. }) => StoreError::Damaged {
                path: dir.display().to_string(),
                detail: match at {
                    Some(at) => {
                        let byte: String = format!("{at:?}")
                            .chars()
                            .filter(char::is_ascii_digit)
                            .collect();
                        format!("a checksum failed reading its log near byte {byte}")
                    }
                    None => "a checksum failed reading it".into(),
                },
            },
            StoreError::Sled(sled::Error::Io(io))
                if io.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                StoreError::Damaged {
                    path: dir.display().to_string(),
                    detail: format!("a file ends early: {io}"),
                }
            }
            other => other,
        })
    }

    fn open_inner(
        dir: &Path,
        store_id: StoreId,
        source: Arc<dyn crate::clock::Source>,
    ) -> Result<Self, StoreError> {
        let db = open_db(dir)?;
        let tree = db.open_tree("storenode")?;
        // Before anything is read: an older format is migrated, a newer
        // one refused.
        format::open(&db, &tree, dir)?;
        // A data directory belongs to one store: its log carries that id.
        let id_key = key(b'm', &[b"store_id"]);
        match tree.compare_and_swap(
            &id_key,
            None as Option<&[u8]>,
            Some(store_id.as_str().as_bytes()),
        )? {
            Ok(()) => {}
            Err(cas) => {
                let found = cas
                    .current
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_default();
                if found != store_id.as_str() {
                    return Err(StoreError::OtherStore {
                        path: dir.display().to_string(),
                        found,
                        wanted: store_id.to_string(),
                    });
                }
            }
        }
        let head = match tree.scan_prefix([b'l']).next_back() {
            Some(kv) => be_u64(&kv?.0[1..], "log head")?,
            None => 0,
        };
        let dead = match tree.scan_prefix([b'd']).next_back() {
            Some(kv) => be_u64(&kv?.0[1..], "dead letter")?,
            None => 0,
        };
        let mut states = std::collections::BTreeSet::new();
        let mut overdue = std::collections::BTreeSet::new();
        let mut arrivals = std::collections::BTreeMap::new();
        let mut stock = Stock::default();
        for kv in tree.scan_prefix([b'o']) {
            let (_, v) = kv?;
            let status: OrderStatus = codec::decode(&v).map_err(|e| StoreError::Corrupt {
                key: "order status".into(),
                reason: e.to_string(),
            })?;
            if let (OrderState::Ready, Some(code)) = (status.state, &status.pickup_code) {
                stock
                    .codes
                    .insert(code.to_ascii_uppercase(), status.id.clone());
            }
            if status.overdue() {
                overdue.insert(status.id.clone());
            }
            if let Some(at) = status.waiting_since() {
                arrivals.insert(status.id.clone(), at);
            }
            states.insert((status.state, status.id));
        }
        for kv in tree.scan_prefix([b'u']) {
            let (k, v) = kv?;
            let m: StaffMember = codec::decode(&v).map_err(|e| StoreError::Corrupt {
                key: format!("staff {}", String::from_utf8_lossy(&k[1..])),
                reason: e.to_string(),
            })?;
            stock.staff.insert(m.id.clone(), m);
        }
        for kv in tree.scan_prefix([b'i']) {
            let (k, v) = kv?;
            let item: StockItem = codec::decode(&v).map_err(|e| StoreError::Corrupt {
                key: format!("stock {}", String::from_utf8_lossy(&k[1..])),
                reason: e.to_string(),
            })?;
            stock.put(item);
        }
        if let Some(v) = tree.get(site_key())? {
            stock.site = codec::decode::<Site>(&v).map_err(|e| StoreError::Corrupt {
                key: "site".into(),
                reason: e.to_string(),
            })?;
        }
        let devices = Store::load_devices(&tree)?;
        let last_event_ms = match tree.get(log_key(head))? {
            Some(b) => decode_env(head, &b)?.time_ms,
            None => 0,
        };
        let steps = match tree.get(clock_steps_key())? {
            Some(v) => codec::decode(&v).map_err(|e| StoreError::Corrupt {
                key: "clock steps".into(),
                reason: e.to_string(),
            })?,
            None => Vec::new(),
        };
        let clock = Clock::new(source, last_event_ms, steps);
        let store = Store {
            db,
            tree,
            head: Arc::new(AtomicU64::new(head)),
            head_moved: Arc::default(),
            dead_seq: Arc::new(AtomicU64::new(dead)),
            store_id,
            states: Arc::new(std::sync::RwLock::new(states)),
            overdue: Arc::new(std::sync::RwLock::new(overdue)),
            stock: Arc::new(std::sync::RwLock::new(stock)),
            queue: Arc::default(),
            arrivals: Arc::new(std::sync::RwLock::new(arrivals)),
            devices: Arc::new(std::sync::RwLock::new(devices)),
            clock,
            disk: Arc::default(),
        };
        // A log cut short or replaced under the node is refused here.
        store.check_watermark(dir)?;
        Ok(store)
    }

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

    /// The last appended log sequence number (0 for an empty log). Entries
    /// up to it are readable; they are durable once their writer group
    /// has been flushed.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// The raw encoded event at `seq`.
    pub fn log_bytes(&self, seq: u64) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.tree.get(log_key(seq))?)
    }

    pub fn event(&self, seq: u64) -> Result<Option<Envelope>, StoreError> {
        self.log_bytes(seq)?
            .map(|b| decode_env(seq, &b))
            .transpose()
    }

    /// Durable events with `from <= log_seq`, at most `limit`, in log
    /// order. Only up to the head: the writer's newest group is in sled
    /// before it is flushed, and a crash then would replace it, so a
    /// reader (the sync link, the outbox) must never see it.
    pub fn events_from(&self, from: u64, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        let mut out = Vec::new();
        for kv in self
            .tree
            .range(log_key(from)..log_key(self.head().saturating_add(1)))
            .take(limit)
        {
            let (k, v) = kv?;
            let seq = be_u64(&k[1..], "log key")?;
            out.push(decode_env(seq, &v)?);
        }
        Ok(out)
    }

    /// Events with `log_seq < before`, newest first, at most `limit`.
    pub fn events_before(&self, before: u64, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        let mut out = Vec::new();
        for kv in self
            .tree
            .range(log_key(1)..log_key(before.clamp(1, self.head().saturating_add(1))))
            .rev()
            .take(limit)
        {
            let (k, v) = kv?;
            let seq = be_u64(&k[1..], "log key")?;
            out.push(decode_env(seq, &v)?);
        }
        Ok(out)
    }

    /// The first log position whose event is at or after `time_ms` (the
    /// head + 1 if none is). Event times follow the log (the writer stamps
    /// them in order), so this is a binary search.
    pub fn first_seq_at(&self, time_ms: u64) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (1u64, self.head() + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.event(mid)? {
                Some(e) if e.time_ms < time_ms => lo = mid + 1,
                _ => hi = mid,
            }
        }
        Ok(lo)
    }

    /// The order projection: its status record joined with its content.
    pub fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let corrupt = |what: &str, e: protocol::DecodeError| StoreError::Corrupt {
            key: format!("order {id} {what}"),
            reason: e.to_string(),
        };
        let Some(status) = self.tree.get(order_key(id))? else {
            return Ok(None);
        };
        let status: OrderStatus = codec::decode(&status).map_err(|e| corrupt("status", e))?;
        let content = self
            .tree
            .get(content_key(id))?
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("order {id} content"),
                reason: "missing".into(),
            })?;
        let content = codec::decode(&content).map_err(|e| corrupt("content", e))?;
        Ok(Some(Order { status, content }))
    }

    /// The order's events in `order_seq` order.
    pub fn order_events(&self, id: &OrderId) -> Result<Vec<Envelope>, StoreError> {
        let Some(status) = self.tree.get(order_key(id))? else {
            return Ok(vec![]);
        };
        let status: OrderStatus = codec::decode(&status).map_err(|e| StoreError::Corrupt {
            key: format!("order {id} status"),
            reason: e.to_string(),
        })?;
        let mut out = Vec::with_capacity(status.log_seqs.len());
        for seq in status.log_seqs {
            match self.event(seq)? {
                Some(env) => out.push(env),
                None => {
                    return Err(StoreError::Corrupt {
                        key: format!("order {id} timeline"),
                        reason: format!("log {seq} is missing"),
                    })
                }
            }
        }
        Ok(out)
    }

    /// Orders in `state` with ids after `after` (a paging cursor), in id
    /// order, at most `limit`.
    pub fn orders_in_state(
        &self,
        state: OrderState,
        after: Option<&OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        use std::ops::Bound;
        let mut out = Vec::with_capacity(limit.min(1024));
        let mut cursor = after.cloned();
        while out.len() < limit {
            let ids: Vec<OrderId> = {
                let states = self.states.read().map_err(|_| StoreError::Closed)?;
                let start = match &cursor {
                    Some(a) => Bound::Excluded((state, a.clone())),
                    // "-" is the smallest valid order id.
                    None => match OrderId::new("-") {
                        Ok(min) => Bound::Included((state, min)),
                        Err(_) => Bound::Unbounded,
                    },
                };
                states
                    .range((start, Bound::Unbounded))
                    .take_while(|(s, _)| *s == state)
                    .take(limit - out.len())
                    .map(|(_, id)| id.clone())
                    .collect()
            };
            let Some(last) = ids.last().cloned() else {
                break;
            };
            for id in ids {
                // The status may already be past `state` (its group is
                // being flushed): list only what is in the state asked
                // for, and keep reading so a page is not cut short.
                match self.order(&id)? {
                    Some(o) if o.state == state => out.push(o),
                    _ => {}
                }
            }
            cursor = Some(last);
        }
        Ok(out)
    }

    /// Every order in `state`, in id order (for the small, open states:
    /// picking, picked, staged).
    pub fn all_in_state(&self, state: OrderState) -> Result<Vec<Order>, StoreError> {
        let mut out = Vec::new();
        loop {
            let page = self.orders_in_state(state, out.last().map(|o: &Order| &o.id), 500)?;
            let full = page.len() == 500;
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
    }

    /// Count of orders per state.
    pub fn state_counts(&self) -> Vec<(OrderState, usize)> {
        let states = match self.states.read() {
            Ok(s) => s,
            Err(_) => return vec![],
        };
        let mut counts: Vec<(OrderState, usize)> =
            OrderState::ALL.into_iter().map(|st| (st, 0)).collect();
        for (st, _) in states.iter() {
            if let Some(c) = counts.iter_mut().find(|(s, _)| s == st) {
                c.1 += 1;
            }
        }
        counts
    }

    /// Record durable state changes in the by-state index (and the
    /// pickup-code index: codes of orders ready for pickup).
    pub(crate) fn move_states(&self, moves: &[StateMove]) {
        if let Ok(mut states) = self.states.write() {
            for m in moves {
                if let Some(b) = m.before {
                    states.remove(&(b, m.id.clone()));
                }
                states.insert((m.after, m.id.clone()));
            }
        }
        if let Ok(mut overdue) = self.overdue.write() {
            for m in moves {
                if m.overdue {
                    overdue.insert(m.id.clone());
                } else {
                    overdue.remove(&m.id);
                }
            }
        }
        if let Ok(mut queue) = self.queue.write() {
            if let Some(q) = queue.as_mut() {
                for m in moves {
                    q.set(&m.id, m.queue.clone());
                }
            }
        }
        if let Ok(mut arrivals) = self.arrivals.write() {
            for m in moves {
                match m.waiting_since {
                    Some(at) => arrivals.insert(m.id.clone(), at),
                    None => arrivals.remove(&m.id),
                };
            }
        }
        if let Ok(mut stock) = self.stock.write() {
            for m in moves {
                // Codes are matched case-insensitively (HQ may issue
                // lower case); an entry is removed only by its own order.
                if let Some(code) = &m.code {
                    let code = code.to_ascii_uppercase();
                    if m.after == OrderState::Ready {
                        stock.codes.insert(code, m.id.clone());
                    } else if m.before == Some(OrderState::Ready)
                        && stock.codes.get(&code) == Some(&m.id)
                    {
                        stock.codes.remove(&code);
                    }
                }
            }
        }
    }

    /// Publish durable stock, settings and staff changes to readers.
    pub(crate) fn update_stock(
        &self,
        items: Vec<StockItem>,
        site: Option<Site>,
        staff: Vec<StaffMember>,
    ) {
        if let Ok(mut stock) = self.stock.write() {
            for i in items {
                stock.put(i);
            }
            if let Some(site) = site {
                stock.site = site;
            }
            for m in staff {
                stock.staff.insert(m.id.clone(), m);
            }
        }
    }

    /// One staff account.
    pub fn staff(&self, id: &str) -> Option<StaffMember> {
        self.stock.read().ok()?.staff.get(id).cloned()
    }

    /// Every staff account, by id.
    pub fn staff_list(&self) -> Vec<StaffMember> {
        let mut out: Vec<StaffMember> = self
            .stock
            .read()
            .map(|s| s.staff.values().cloned().collect())
            .unwrap_or_default();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Orders waiting for a picker, in queue order (late first, then by
    /// promise time): at most `limit` after `after`, and how many wait in
    /// all. The first call builds the queue from the orders in `prepared`.
    pub fn pick_queue(
        &self,
        after: Option<&QueueKey>,
        limit: usize,
    ) -> Result<(Vec<Order>, usize), StoreError> {
        use std::ops::Bound;
        self.build_queue()?;
        let (keys, total) = {
            let queue = self.queue.read().map_err(|_| StoreError::Closed)?;
            let Some(q) = queue.as_ref() else {
                return Ok((vec![], 0));
            };
            let start = match after {
                Some(a) => Bound::Excluded(a.clone()),
                None => Bound::Unbounded,
            };
            // Read a few more than asked: an order may have moved on
            // while its group is being flushed.
            let keys: Vec<QueueKey> = q
                .keys
                .range((start, Bound::Unbounded))
                .take(limit + 8)
                .cloned()
                .collect();
            (keys, q.keys.len())
        };
        let mut out = Vec::with_capacity(limit.min(keys.len()));
        for k in keys {
            if out.len() == limit {
                break;
            }
            if let Some(o) = self.order(&k.id)? {
                if o.state == OrderState::Prepared {
                    out.push(o);
                }
            }
        }
        Ok((out, total))
    }

    fn build_queue(&self) -> Result<(), StoreError> {
        if self.queue.read().map_err(|_| StoreError::Closed)?.is_some() {
            return Ok(());
        }
        // Holding the write lock while reading keeps the writer's moves
        // from racing the build: they wait, then apply on top of it.
        let mut queue = self.queue.write().map_err(|_| StoreError::Closed)?;
        if queue.is_some() {
            return Ok(());
        }
        let ids: Vec<OrderId> = {
            let states = self.states.read().map_err(|_| StoreError::Closed)?;
            states
                .iter()
                .filter(|(s, _)| *s == OrderState::Prepared)
                .map(|(_, id)| id.clone())
                .collect()
        };
        let mut q = Queue::default();
        for id in ids {
            if let Some(o) = self.order(&id)? {
                q.set(&id, QueueKey::of(&o));
            }
        }
        *queue = Some(q);
        Ok(())
    }

    /// Customers waiting for an open order (checked in), longest waiting
    /// first: (order, since when).
    pub fn arrivals(&self) -> Vec<(OrderId, u64)> {
        let mut out: Vec<(OrderId, u64)> = self
            .arrivals
            .read()
            .map(|a| a.iter().map(|(id, at)| (id.clone(), *at)).collect())
            .unwrap_or_default();
        out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        out
    }

    /// Open orders past their promise time and not yet ready, by id.
    pub fn overdue_orders(&self) -> Vec<OrderId> {
        self.overdue
            .read()
            .map(|o| o.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// One SKU's catalog entry and stock, its safety stock resolved.
    pub fn item(&self, sku: &str) -> Option<StockItem> {
        let stock = self.stock.read().ok()?;
        stock.items.get(sku).cloned().map(|i| stock.site.resolve(i))
    }

    /// Every SKU the store keeps stock of (listed or not).
    pub fn stock_skus(&self) -> Vec<String> {
        self.stock
            .read()
            .map(|s| s.items.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The listed SKUs whose availability HQ has not heard yet.
    pub fn unpublished(&self) -> Vec<String> {
        self.stock
            .read()
            .map(|s| {
                s.items
                    .values()
                    .filter(|i| {
                        let i = s.site.resolve((*i).clone());
                        i.listed && i.published != u64::try_from(i.available()).ok()
                    })
                    .map(|i| i.item.sku.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Orders taken on and not yet closed.
    pub fn open_orders(&self) -> usize {
        self.states
            .read()
            .map(|s| {
                s.iter()
                    .filter(|(st, _)| !st.is_closed() && *st != OrderState::Created)
                    .count()
            })
            .unwrap_or(0)
    }

    pub fn sku_for_barcode(&self, barcode: &str) -> Option<String> {
        self.stock.read().ok()?.barcodes.get(barcode).cloned()
    }

    pub fn site(&self) -> Site {
        self.stock
            .read()
            .map(|s| s.site.clone())
            .unwrap_or_default()
    }

    /// Every SKU, sorted by walking order (location, then SKU), safety
    /// stock resolved.
    pub fn stock_items(&self) -> Vec<StockItem> {
        let mut out: Vec<StockItem> = self
            .stock
            .read()
            .map(|s| {
                s.items
                    .values()
                    .map(|i| s.site.resolve(i.clone()))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| (a.item.location, &a.item.sku).cmp(&(b.item.location, &b.item.sku)));
        out
    }

    /// The order ready for pickup under a short code (case-insensitive).
    pub fn order_by_code(&self, code: &str) -> Option<OrderId> {
        let code = code.trim().to_ascii_uppercase();
        self.stock.read().ok()?.codes.get(&code).cloned()
    }

    /// The last `order_seq` of one of the node's own streams.
    pub fn stream_seq(&self, id: &OrderId) -> Result<u64, StoreError> {
        match self.tree.get(stream_key(id))? {
            Some(v) => be_u64(&v, "stream seq"),
            None => Ok(0),
        }
    }

    /// Where the hash chain ends (seq 0 for an empty log).
    pub fn chain_head(&self) -> Result<ChainHead, StoreError> {
        chain_head_of(&self.tree)
    }

    pub fn checkpoint(&self, consumer: &str) -> Result<u64, StoreError> {
        match self.tree.get(checkpoint_key(consumer))? {
            Some(v) => be_u64(&v, "checkpoint"),
            None => Ok(0),
        }
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

    pub(crate) fn advance_head(&self, seq: u64) {
        self.head.store(seq, Ordering::Release);
        self.head_moved.notify_waiters();
    }

    /// Wait until the log is durable up to `seq` (the writer's fsync moved
    /// the head there), at most `within`; whether it is. Woken by the
    /// writer, not by polling.
    pub async fn durable(&self, seq: u64, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Registered before the head is read: a move between the read
            // and the wait still wakes this waiter.
            let moved = self.head_moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if self.head() >= seq {
                return true;
            }
            if tokio::time::timeout_at(deadline, moved).await.is_err() {
                return self.head() >= seq;
            }
        }
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

fn decode_env(seq: u64, bytes: &[u8]) -> Result<Envelope, StoreError> {
    codec::decode(bytes).map_err(|e| StoreError::Corrupt {
        key: format!("log {seq}"),
        reason: e.to_string(),
    })
}

/// A durable change of an order's state (for the in-memory indexes).
#[derive(Debug, Clone)]
pub(crate) struct StateMove {
    pub id: OrderId,
    pub before: Option<OrderState>,
    pub after: OrderState,
    /// The pickup code, for orders entering or leaving `Ready`.
    pub code: Option<String>,
    /// Whether the order is now past its promise time and not yet ready.
    pub overdue: bool,
    /// Its place in the pick queue, if it waits for a picker.
    pub queue: Option<QueueKey>,
    /// Since when its customer waits, if checked in and the order is open.
    pub waiting_since: Option<u64>,
}

#[cfg(test)]
mod tests;
