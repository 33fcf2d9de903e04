//! `storenode backup` and `storenode restore`: the whole store in one file.
//!
//! A backup holds every key of the database and the data directory's
//! secrets (API token, pickup key, staff secret, device CA), taken between
//! two group commits: the writer runs it (see
//! [`super::WriterHandle::exclusive`]), so the log, the projections, the
//! inbox and the checkpoints are of one moment, and writes wait meanwhile.
//! (Staff sessions, pending notices and dead letters, written beside the
//! writer, are each whole but may be a moment newer.)
//!
//! Layout: `MAGIC`, a length-prefixed JSON [`Header`], records (`f`: a
//! file; `k`: a key and its value; `e`: the end, with the number of keys),
//! then the SHA-256 of everything before it. A restore checks the hash
//! before it writes anything.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{chain_head_of, format, open_db, Store, StoreError};

pub const MAGIC: &[u8; 17] = b"storenode-backup\n";
/// The layout of the backup file itself.
pub const BACKUP_FORMAT: u32 = 1;

/// The data directory's files a backup carries (the broker's and HTTPS
/// certificates are made again from the CA at start).
pub const FILES: [&str; 5] = [
    "api-token",
    "pickup-key",
    "staff-secret",
    "tls/ca.key",
    "tls/ca.pem",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub backup_format: u32,
    pub store_id: String,
    /// The database format (see [`format`]).
    pub db_format: u32,
    pub release: String,
    pub log_head: u64,
    /// The hash of the log entry at `log_head` (hex).
    pub chain_hash: String,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub header: Header,
    pub keys: u64,
    pub files: Vec<String>,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] crate::pki::PkiError),
    #[error("{0} is not a storenode backup: {1}")]
    NotABackup(String, String),
    #[error("{0} is damaged or cut short: {1}; nothing was restored")]
    Damaged(String, String),
    #[error("{path} is a backup of store {found:?}, not {wanted:?}; nothing was restored")]
    OtherStore {
        path: String,
        found: String,
        wanted: String,
    },
    #[error("{0} already holds a database (log head {1}); stop the node and give --force to move it aside, or restore into an empty data directory")]
    Occupied(String, u64),
    #[error("the restored database does not match its backup: {0}")]
    Mismatch(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn put_bytes(w: &mut impl Write, b: &[u8]) -> std::io::Result<()> {
    w.write_all(&(b.len() as u64).to_be_bytes())?;
    w.write_all(b)
}

impl Store {
    /// Write a backup of this store and of the secrets in `data_dir` to
    /// `out`. Consistent only while nothing writes the log: run it through
    /// the writer while the node runs, or with the node stopped.
    pub fn backup(&self, data_dir: &Path, out: impl Write) -> Result<Summary, BackupError> {
        let tree = self.tree();
        let head = chain_head_of(tree)?;
        let header = Header {
            backup_format: BACKUP_FORMAT,
            store_id: self.store_id().to_string(),
            db_format: format::FORMAT,
            release: format::RELEASE.to_string(),
            log_head: self.head(),
            chain_hash: hex::encode(head.hash),
            created_ms: super::now_ms(),
        };
        let target = Path::new("(backup)");
        let mut w = Hashing {
            inner: std::io::BufWriter::with_capacity(1 << 20, out),
            hash: Sha256::new(),
            bytes: 0,
        };
        let json = serde_json::to_vec(&header).map_err(|e| BackupError::Mismatch(e.to_string()))?;
        w.write_all(MAGIC).map_err(io(target))?;
        put_bytes(&mut w, &json).map_err(io(target))?;
        let mut files = Vec::new();
        for name in FILES {
            let path = data_dir.join(name);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&path)(e)),
            };
            w.write_all(b"f").map_err(io(target))?;
            put_bytes(&mut w, name.as_bytes()).map_err(io(target))?;
            put_bytes(&mut w, &bytes).map_err(io(target))?;
            files.push(name.to_string());
        }
        let mut keys = 0u64;
        for kv in tree.iter() {
            let (k, v) = kv.map_err(StoreError::from)?;
            w.write_all(b"k").map_err(io(target))?;
            put_bytes(&mut w, &k).map_err(io(target))?;
            put_bytes(&mut w, &v).map_err(io(target))?;
            keys += 1;
        }
        w.write_all(b"e").map_err(io(target))?;
        w.write_all(&keys.to_be_bytes()).map_err(io(target))?;
        let digest = w.hash.clone().finalize();
        w.inner.write_all(&digest).map_err(io(target))?;
        w.inner.flush().map_err(io(target))?;
        Ok(Summary {
            header,
            keys,
            files,
            bytes: w.bytes + 32,
        })
    }
}

/// One record of a backup file.
enum Record {
    File(String, Vec<u8>),
    Key(Vec<u8>, Vec<u8>),
    End(u64),
}

struct Reader<R> {
    inner: R,
    hash: Sha256,
    what: String,
}

impl<R: Read> Reader<R> {
    fn exact(&mut self, n: usize) -> Result<Vec<u8>, BackupError> {
        let mut b = vec![0; n];
        self.inner
            .read_exact(&mut b)
            .map_err(|e| BackupError::Damaged(self.what.clone(), format!("it ends early ({e})")))?;
        self.hash.update(&b);
        Ok(b)
    }
    fn bytes(&mut self) -> Result<Vec<u8>, BackupError> {
        let n = u64::from_be_bytes(self.exact(8)?.try_into().unwrap_or_default());
        // sled keys and values, and the secrets, are far smaller.
        if n > 1 << 28 {
            return Err(BackupError::Damaged(
                self.what.clone(),
                format!("a record claims {n} bytes"),
            ));
        }
        self.exact(n as usize)
    }
    fn record(&mut self) -> Result<Record, BackupError> {
        match self.exact(1)?[0] {
            b'f' => {
                let name = String::from_utf8_lossy(&self.bytes()?).into_owned();
                Ok(Record::File(name, self.bytes()?))
            }
            b'k' => Ok(Record::Key(self.bytes()?, self.bytes()?)),
            b'e' => Ok(Record::End(u64::from_be_bytes(
                self.exact(8)?.try_into().unwrap_or_default(),
            ))),
            other => Err(BackupError::Damaged(
                self.what.clone(),
                format!("unknown record type {other:#04x}"),
            )),
        }
    }
}

/// Read a backup's header and check its hash and record counts, writing
/// nothing. `each` sees every record on the way (a file or a key).
fn read(
    path: &Path,
    mut each: impl FnMut(&Record) -> Result<(), BackupError>,
) -> Result<Summary, BackupError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let what = path.display().to_string();
    let mut r = Reader {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        hash: Sha256::new(),
        what: what.clone(),
    };
    let magic = r
        .exact(MAGIC.len())
        .map_err(|_| BackupError::NotABackup(what.clone(), "it is too short".into()))?;
    if magic != MAGIC {
        return Err(BackupError::NotABackup(
            what,
            "it does not begin with storenode-backup".into(),
        ));
    }
    let header: Header = serde_json::from_slice(&r.bytes()?)
        .map_err(|e| BackupError::Damaged(what.clone(), format!("its header: {e}")))?;
    if header.backup_format != BACKUP_FORMAT {
        return Err(BackupError::NotABackup(
            what,
            format!(
                "backup layout {} (this release reads {BACKUP_FORMAT})",
                header.backup_format
            ),
        ));
    }
    let (mut keys, mut files) = (0u64, Vec::new());
    let end = loop {
        let rec = r.record()?;
        match &rec {
            Record::File(name, _) => files.push(name.clone()),
            Record::Key(..) => keys += 1,
            Record::End(n) => break *n,
        }
        each(&rec)?;
    };
    let digest = r.hash.clone().finalize();
    let mut stored = [0u8; 32];
    r.inner.read_exact(&mut stored).map_err(|e| {
        BackupError::Damaged(what.clone(), format!("its checksum is missing ({e})"))
    })?;
    if stored[..] != digest[..] {
        return Err(BackupError::Damaged(
            what,
            "its SHA-256 does not match".into(),
        ));
    }
    if end != keys {
        return Err(BackupError::Damaged(
            what,
            format!("it says {end} keys but holds {keys}"),
        ));
    }
    let bytes = std::fs::metadata(path).map_err(io(path))?.len();
    Ok(Summary {
        header,
        keys,
        files,
        bytes,
    })
}

/// A new file only its owner can read: a backup holds the store's secrets.
pub(crate) fn private_file(path: &Path) -> Result<std::fs::File, FileError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| FileError {
            path: path.to_path_buf(),
            source,
        })
}

/// A file that could not be written or read, with its path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    pub fn at(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
        move |source| FileError {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Check a backup file whole (its hash and counts) without restoring it.
pub fn check(path: &Path) -> Result<Summary, BackupError> {
    read(path, |_| Ok(()))
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub summary: Summary,
    /// Where the data directory's previous database and secrets went.
    pub moved_aside: Option<PathBuf>,
    /// The restored store checked against its log.
    pub report: super::VerifyReport,
}

/// Restore the backup at `path` into `data_dir` for store `store_id` (the
/// node stopped). The file is checked whole first; the database is built
/// beside the old one and moved into place only when complete; an old
/// database is moved aside only with `force`. Afterwards the restored
/// store is opened (migrating an older format) and its log head and hash
/// must be the backup's.
pub fn restore(
    path: &Path,
    data_dir: &Path,
    store_id: &protocol::StoreId,
    force: bool,
) -> Result<Restored, BackupError> {
    let summary = check(path)?;
    if summary.header.store_id != store_id.as_str() {
        return Err(BackupError::OtherStore {
            path: path.display().to_string(),
            found: summary.header.store_id,
            wanted: store_id.to_string(),
        });
    }
    let db_dir = data_dir.join("db");
    let mut moved_aside = None;
    if db_dir.exists() {
        let existing = {
            let db = open_db(&db_dir)?;
            let tree = db.open_tree("storenode").map_err(StoreError::from)?;
            super::chain_head_of(&tree)?.seq
        };
        if !force {
            return Err(BackupError::Occupied(
                db_dir.display().to_string(),
                existing,
            ));
        }
        let aside = data_dir.join(format!(
            "replaced-{}",
            jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ")
        ));
        std::fs::create_dir_all(aside.join("tls")).map_err(io(&aside))?;
        std::fs::rename(&db_dir, aside.join("db")).map_err(io(&db_dir))?;
        for name in FILES {
            let from = data_dir.join(name);
            if from.exists() {
                std::fs::rename(&from, aside.join(name)).map_err(io(&from))?;
            }
        }
        moved_aside = Some(aside);
    }
    std::fs::create_dir_all(data_dir.join("tls")).map_err(io(data_dir))?;
    let building = data_dir.join("db.restoring");
    if building.exists() {
        std::fs::remove_dir_all(&building).map_err(io(&building))?;
    }
    {
        let db = open_db(&building)?;
        let tree = db.open_tree("storenode").map_err(StoreError::from)?;
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        read(path, |rec| {
            match rec {
                Record::Key(k, v) => {
                    batch.insert(k.as_slice(), v.as_slice());
                    in_batch += 1;
                    if in_batch == 10_000 {
                        tree.apply_batch(std::mem::take(&mut batch))
                            .map_err(StoreError::from)?;
                        in_batch = 0;
                    }
                }
                Record::File(name, bytes) => {
                    if !FILES.contains(&name.as_str()) {
                        return Err(BackupError::Damaged(
                            path.display().to_string(),
                            format!("it carries an unexpected file {name:?}"),
                        ));
                    }
                    write_secret(&data_dir.join(name), bytes)?;
                }
                Record::End(_) => {}
            }
            Ok(())
        })?;
        tree.apply_batch(batch).map_err(StoreError::from)?;
        db.flush().map_err(StoreError::from)?;
    }
    std::fs::rename(&building, &db_dir).map_err(io(&building))?;
    // Opened as the node opens it: an older format is migrated here. (sled
    // lets go of the file lock of the database just built a moment after
    // it is dropped.)
    let mut tries = 0;
    let store = loop {
        match Store::open(&db_dir, store_id.clone()) {
            Err(StoreError::Locked { .. }) if tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => break other?,
        }
    };
    let head = chain_head_of(store.tree())?;
    if store.head() != summary.header.log_head
        || hex::encode(head.hash) != summary.header.chain_hash
    {
        return Err(BackupError::Mismatch(format!(
            "log head {} hash {}, the backup says {} hash {}",
            store.head(),
            hex::encode(head.hash),
            summary.header.log_head,
            summary.header.chain_hash
        )));
    }
    let report = store.verify()?;
    Ok(Restored {
        summary,
        moved_aside,
        report,
    })
}

/// Write a secret file with mode 0600 (the CA certificate is not secret
/// but gets the same: only the node reads it from disk).
fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    Ok(crate::pki::write_mode(path, bytes, 0o600)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use protocol::StoreId;

    #[test]
    fn a_backup_restores_every_key_and_secret_and_refuses_a_changed_byte() {
        let from = tempfile::tempdir().unwrap();
        let id = StoreId::new("unit-1").unwrap();
        let store = Store::open(&from.path().join("db"), id.clone()).unwrap();
        for i in 0..2_500u32 {
            store
                .tree()
                .insert(
                    super::super::checkpoint_key(&format!("c{i}")),
                    &i.to_be_bytes(),
                )
                .unwrap();
        }
        std::fs::write(from.path().join("pickup-key"), b"k".repeat(64)).unwrap();
        let file = from.path().join("b.snbackup");
        let summary = store
            .backup(from.path(), std::fs::File::create(&file).unwrap())
            .unwrap();
        assert_eq!(summary.files, vec!["pickup-key".to_string()]);
        assert_eq!(check(&file).unwrap().keys, summary.keys);
        let want: Vec<_> = store.tree().iter().map(|kv| kv.unwrap()).collect();
        drop(store);

        let to = tempfile::tempdir().unwrap();
        let r = restore(&file, to.path(), &id, false).unwrap();
        assert!(r.report.problems.is_empty(), "{:?}", r.report.problems);
        assert_eq!(
            std::fs::read(to.path().join("pickup-key")).unwrap(),
            b"k".repeat(64)
        );
        // sled lets go of the restore's file lock a moment after it is
        // dropped (as `restore` itself waits for).
        let db = (0..100)
            .find_map(|_| match open_db(&to.path().join("db")) {
                Err(StoreError::Locked { .. }) => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    None
                }
                other => Some(other.unwrap()),
            })
            .expect("the restored database is released");
        let got: Vec<_> = db
            .open_tree("storenode")
            .unwrap()
            .iter()
            .map(|kv| kv.unwrap())
            .collect();
        assert_eq!(got, want);

        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 40;
        bytes[last] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        let e = check(&file).unwrap_err().to_string();
        assert!(e.contains("damaged"), "{e}");
    }
}
