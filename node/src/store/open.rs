//! Opening the database: the format check, the owner store, then the
//! in-memory indexes and the clock, from what is on disk.
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use protocol::{codec, OrderId, StoreId};

use super::keys::{be_u64, clock_steps_key, key, log_key, site_key};
use super::log::decode_env;
use super::stock::Stock;
use super::{format, Store, StoreError};
use crate::clock::Clock;
use crate::domain::order::OrderStatus;
use crate::domain::{OrderState, Site, StaffMember, StockItem};

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
        check_owner(&tree, dir, &store_id)?;
        let head = match tree.scan_prefix([b'l']).next_back() {
            Some(kv) => be_u64(&kv?.0[1..], "log head")?,
            None => 0,
        };
        let dead = match tree.scan_prefix([b'd']).next_back() {
            Some(kv) => be_u64(&kv?.0[1..], "dead letter")?,
            None => 0,
        };
        let mut stock = Stock::default();
        let orders = OrderIndexes::load(&tree, &mut stock)?;
        load_stock(&tree, &mut stock)?;
        let devices = Store::load_devices(&tree)?;
        let clock = load_clock(&tree, head, source)?;
        let store = Store {
            db,
            tree,
            head: Arc::new(AtomicU64::new(head)),
            head_moved: Arc::default(),
            dead_seq: Arc::new(AtomicU64::new(dead)),
            store_id,
            states: Arc::new(std::sync::RwLock::new(orders.states)),
            overdue: Arc::new(std::sync::RwLock::new(orders.overdue)),
            stock: Arc::new(std::sync::RwLock::new(stock)),
            queue: Arc::default(),
            arrivals: Arc::new(std::sync::RwLock::new(orders.arrivals)),
            devices: Arc::new(std::sync::RwLock::new(devices)),
            clock,
            disk: Arc::default(),
        };
        // A log cut short or replaced under the node is refused here.
        store.check_watermark(dir)?;
        Ok(store)
    }
}

/// A data directory belongs to one store: its log carries that id.
fn check_owner(tree: &sled::Tree, dir: &Path, store_id: &StoreId) -> Result<(), StoreError> {
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
    Ok(())
}

/// The in-memory order indexes, derived from the order statuses.
struct OrderIndexes {
    states: std::collections::BTreeSet<(OrderState, OrderId)>,
    overdue: std::collections::BTreeSet<OrderId>,
    arrivals: std::collections::BTreeMap<OrderId, u64>,
}

impl OrderIndexes {
    /// Read every order status; the pickup codes of orders ready go into
    /// `stock`.
    fn load(tree: &sled::Tree, stock: &mut Stock) -> Result<OrderIndexes, StoreError> {
        let mut states = std::collections::BTreeSet::new();
        let mut overdue = std::collections::BTreeSet::new();
        let mut arrivals = std::collections::BTreeMap::new();
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
        Ok(OrderIndexes {
            states,
            overdue,
            arrivals,
        })
    }
}

/// Staff, catalog and stock, and the store's settings into `stock`.
fn load_stock(tree: &sled::Tree, stock: &mut Stock) -> Result<(), StoreError> {
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
    Ok(())
}

/// The clock, never behind the newest event's time, with the forward
/// steps it saw before the restart.
fn load_clock(
    tree: &sled::Tree,
    head: u64,
    source: Arc<dyn crate::clock::Source>,
) -> Result<Clock, StoreError> {
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
    Ok(Clock::new(source, last_event_ms, steps))
}
