//! The database's format version.
//!
//! Recorded in the store (`m`/`format`, u32 BE) with the release that last
//! opened it (`m`/`release`). Every open checks it before reading anything
//! else:
//!
//! - an older format is migrated in place, one step at a time, each step
//!   one atomic batch written together with its new format number, then
//!   flushed — a crash mid-migration leaves the old format, and the next
//!   start runs the step again;
//! - a newer format is refused with both releases named, so a downgrade
//!   never misreads a record it does not know;
//! - a new, empty database gets the current format.
//!
//! | format | releases | change |
//! |--------|----------|--------|
//! | 1 | 0.1.x | (no `format` key; the store settings may be in the layout before pickup windows) |
//! | 2 | 0.2.x | `format` and `release` recorded; the store settings always in the current layout |
//! | 3 | 0.3.0 – | stock that tells the truth: the stock ledger, safety stock, stock documents (`r`) and movement journal (`j`); the projections are rebuilt from the log |
use std::path::Path;

use protocol::codec;

use super::{key, site_key, StoreError};
use crate::domain::inventory::{SiteV1, SiteV2};

/// The format this release writes and reads.
pub const FORMAT: u32 = 3;
/// The oldest format this release migrates from.
pub const OLDEST: u32 = 1;
/// This release.
pub const RELEASE: &str = env!("CARGO_PKG_VERSION");

fn format_key() -> Vec<u8> {
    key(b'm', &[b"format"])
}
fn release_key() -> Vec<u8> {
    key(b'm', &[b"release"])
}

/// What [`open`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The format the database had (`FORMAT` for a new one).
    pub found: u32,
    /// The release that opened it last (`None`: before releases were
    /// recorded, or a new database).
    pub last_release: Option<String>,
    /// Formats migrated through, e.g. `[2]` for a step 1 → 2.
    pub migrated: Vec<u32>,
}

/// The format recorded in `tree`: `None` for a new, empty database.
pub fn recorded(tree: &sled::Tree) -> Result<Option<(u32, Option<String>)>, StoreError> {
    let release = tree
        .get(release_key())?
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    match tree.get(format_key())? {
        Some(v) => {
            let n = <[u8; 4]>::try_from(v.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    key: "format".into(),
                    reason: format!("expected 4 bytes, found {}", v.len()),
                })?;
            Ok(Some((n, release)))
        }
        // Written before formats were recorded: format 1, if anything is
        // in it at all.
        None if !tree.is_empty() => Ok(Some((1, release))),
        None => Ok(None),
    }
}

/// Check the format of the database in `tree` (at `path`, for messages),
/// migrate an older one and record this release. Refuses a newer format.
pub fn open(db: &sled::Db, tree: &sled::Tree, path: &Path) -> Result<Opened, StoreError> {
    let Some((found, last_release)) = recorded(tree)? else {
        let mut b = sled::Batch::default();
        b.insert(format_key(), &FORMAT.to_be_bytes());
        b.insert(release_key(), RELEASE.as_bytes());
        tree.apply_batch(b)?;
        db.flush()?;
        return Ok(Opened {
            found: FORMAT,
            last_release: None,
            migrated: Vec::new(),
        });
    };
    if found > FORMAT {
        return Err(StoreError::TooNew {
            path: path.display().to_string(),
            found,
            by: last_release.unwrap_or_else(|| "a newer storenode".into()),
        });
    }
    if found < OLDEST {
        return Err(StoreError::Corrupt {
            key: "format".into(),
            reason: format!(
                "format {found} is older than any release this one migrates from ({OLDEST})"
            ),
        });
    }
    let mut migrated = Vec::new();
    let mut at = found;
    while at < FORMAT {
        let mut b = sled::Batch::default();
        step(tree, path, at, &mut b)?;
        at += 1;
        b.insert(format_key(), &at.to_be_bytes());
        b.insert(release_key(), RELEASE.as_bytes());
        tree.apply_batch(b)?;
        db.flush()?;
        tracing::info!(from = at - 1, to = at, "database format migrated");
        migrated.push(at);
    }
    if last_release.as_deref() != Some(RELEASE) && migrated.is_empty() {
        tree.insert(release_key(), RELEASE.as_bytes())?;
        db.flush()?;
    }
    Ok(Opened {
        found,
        last_release,
        migrated,
    })
}

/// The records one step from format `from` to `from + 1` rewrites.
fn step(tree: &sled::Tree, path: &Path, from: u32, b: &mut sled::Batch) -> Result<(), StoreError> {
    match from {
        // 1 → 2: store settings written before pickup windows are
        // rewritten in the layout of format 2.
        1 => {
            if let Some(v) = tree.get(site_key())? {
                if codec::decode::<SiteV2>(&v).is_err() {
                    let old: SiteV1 = codec::decode(&v).map_err(|e| StoreError::Corrupt {
                        key: "site".into(),
                        reason: e.to_string(),
                    })?;
                    let new = SiteV2 {
                        closed: old.closed,
                        pickup: None,
                    };
                    b.insert(site_key(), codec::encode(&new));
                }
            }
            Ok(())
        }
        // 2 → 3: stock items gain their ledger, the settings safety stock,
        // and two projections appear (stock documents, the movement
        // journal): every projection is written again from the log, as
        // `storenode rebuild` does (a damaged log is refused, nothing
        // written).
        2 => super::rebuild::projections(tree, path, b).map(|r| {
            tracing::info!(
                events = r.events,
                orders = r.orders,
                skus = r.skus,
                "projections rebuilt from the log for format 3"
            );
        }),
        other => Err(StoreError::Corrupt {
            key: "format".into(),
            reason: format!("no migration from format {other}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_unversioned_database_is_migrated_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::open_db(dir.path()).unwrap();
        let tree = db.open_tree("storenode").unwrap();
        // A format-1 database: a store id, old-layout settings, no format.
        tree.insert(key(b'm', &[b"store_id"]), b"s1".as_slice())
            .unwrap();
        let v1 = SiteV1 {
            closed: Some("inventory".into()),
        };
        tree.insert(site_key(), codec::encode(&v1)).unwrap();
        assert!(codec::decode::<SiteV2>(&tree.get(site_key()).unwrap().unwrap()).is_err());

        let o = open(&db, &tree, dir.path()).unwrap();
        assert_eq!((o.found, o.migrated.clone()), (1, vec![2, 3]));
        // Step 2 → 3 writes the settings again from the log (empty here:
        // the defaults), in the current layout.
        let site: crate::domain::Site =
            codec::decode(&tree.get(site_key()).unwrap().unwrap()).unwrap();
        assert_eq!(site, crate::domain::Site::default());
        assert_eq!(
            recorded(&tree).unwrap(),
            Some((FORMAT, Some(RELEASE.into())))
        );
        // Opening again migrates nothing.
        assert!(open(&db, &tree, dir.path()).unwrap().migrated.is_empty());

        tree.insert(format_key(), &(FORMAT + 1).to_be_bytes())
            .unwrap();
        tree.insert(release_key(), b"9.9.9".as_slice()).unwrap();
        let e = open(&db, &tree, dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("format {}", FORMAT + 1))
                && e.contains("9.9.9")
                && e.contains(RELEASE),
            "{e}"
        );
        // Refused without writing: the newer release is still recorded.
        assert_eq!(
            recorded(&tree).unwrap(),
            Some((FORMAT + 1, Some("9.9.9".into())))
        );
    }

    #[test]
    fn a_new_database_gets_the_current_format() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::open_db(dir.path()).unwrap();
        let tree = db.open_tree("storenode").unwrap();
        assert_eq!(recorded(&tree).unwrap(), None);
        let o = open(&db, &tree, dir.path()).unwrap();
        assert_eq!((o.found, o.last_release), (FORMAT, None));
        assert_eq!(
            recorded(&tree).unwrap(),
            Some((FORMAT, Some(RELEASE.into())))
        );
    }
}
