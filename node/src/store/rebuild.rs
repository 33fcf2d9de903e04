//! `storenode rebuild`: every projection written again from the log, with
//! the node stopped — the way out when the log is sound but what is derived
//! from it is not (a projection that does not decode stops the node at
//! open; one that differs shows in `storenode verify`).
use std::path::Path;

use protocol::{codec, StoreId};

use super::*;

/// What a rebuild wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub events: u64,
    pub orders: usize,
    pub skus: usize,
    pub staff: usize,
    pub devices: usize,
    /// Projection keys there were before (all replaced).
    pub replaced: usize,
}

/// The key prefixes of the projections (see the table in `store`).
const PROJECTIONS: [u8; 9] = [b'o', b'k', b's', b'i', b'g', b'u', b'v', b'r', b'j'];

/// Rebuild the projections of the database in `dir` (store `store_id`)
/// from its log: orders (status and content), stream positions, stock and
/// catalog, store settings, staff accounts, devices. The log, the inbox,
/// checkpoints, sessions, the sync anchor and the chain head stay as they
/// are. Refused, with nothing written, when the log itself is damaged
/// (gaps, the hash chain, HQ's anchor): a projection rebuilt from it would
/// bless the damage — restore from a backup instead.
pub fn rebuild(dir: &Path, store_id: &StoreId) -> Result<RebuildReport, StoreError> {
    let db = open_db(dir)?;
    let tree = db.open_tree("storenode")?;
    format::open(&db, &tree, dir)?;
    if let Some(found) = tree.get(key(b'm', &[b"store_id"]))? {
        let found = String::from_utf8_lossy(&found).into_owned();
        if found != store_id.as_str() {
            return Err(StoreError::OtherStore {
                path: dir.display().to_string(),
                found,
                wanted: store_id.to_string(),
            });
        }
    }
    let mut batch = sled::Batch::default();
    let report = projections(&tree, dir, &mut batch)?;
    tree.apply_batch(batch)?;
    db.flush()?;
    // sled's flush does not reach the drive's cache: as the writer does.
    std::fs::File::open(dir.join("db"))?.sync_data()?;
    Ok(report)
}

/// Put into `batch` the removal of every projection key of `tree` and the
/// projections replayed from its log (the rebuild, and the format step
/// that adds a projection). Refused when the log itself is damaged.
pub(crate) fn projections(
    tree: &sled::Tree,
    dir: &Path,
    batch: &mut sled::Batch,
) -> Result<RebuildReport, StoreError> {
    let hq = sync::anchor_of(tree)?;
    let mut check = verify::VerifyReport::default();
    let r = verify::replay(tree, hq, &mut check)?;
    if !check.problems.is_empty() {
        return Err(StoreError::Damaged {
            path: dir.display().to_string(),
            detail: format!("the log itself: {}", check.problems.join("; ")),
        });
    }
    let mut report = RebuildReport {
        events: check.events,
        orders: r.orders.len(),
        skus: r.items.len(),
        staff: r.staff.len(),
        devices: r.devices.len(),
        replaced: 0,
    };
    for p in PROJECTIONS {
        for k in tree.scan_prefix([p]).keys() {
            batch.remove(k?);
            report.replaced += 1;
        }
    }
    for o in r.orders.values() {
        batch.insert(order_key(&o.id), codec::encode(&o.status));
        batch.insert(content_key(&o.id), codec::encode(&o.content));
    }
    for (id, seq) in &r.streams {
        batch.insert(stream_key(id), &seq.to_be_bytes());
    }
    for (sku, item) in &r.items {
        batch.insert(item_key(sku), codec::encode(item));
    }
    batch.insert(site_key(), codec::encode(&r.site));
    for (id, m) in &r.staff {
        batch.insert(staff_key(id), codec::encode(m));
    }
    for (name, d) in &r.devices {
        batch.insert(devices::device_key(name), codec::encode(d));
    }
    for (k, d) in &r.docs {
        batch.insert(k.as_slice(), codec::encode(d));
    }
    for (k, e) in &r.journal {
        batch.insert(k.as_slice(), codec::encode(e));
    }
    Ok(report)
}
