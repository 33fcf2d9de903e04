//! The durable-head watermark: a 40-byte file beside the database
//! (`storenode-head`: a durable `log_seq`, big-endian, and that entry's
//! chain hash), rewritten after a group commit's `fdatasync` at most once
//! a second, at start and at a clean stop.
//!
//! sled cannot tell a file cut short (a copy cut off, a failing card, a
//! full disk during a restore) from a crash that tore its newest write: it
//! recovers to the last whole record and starts, acknowledged events gone.
//! The watermark remembers how far the log was durable. It is written
//! after the database's `fdatasync` and not synced itself, so whatever of it
//! reaches the disk names a point the log had reached: a log that ends
//! before it, or holds another entry there, lost or changed acknowledged
//! events. The node then refuses to start ([`StoreError::Damaged`]).
//!
//! Once a second, not per group: each rewrite changes the file's inode,
//! and on ext4 that turns the next `fdatasync` of the database (which
//! overwrites preallocated space, a data-only flush) into a journal
//! commit — 13% off the 16-request group rate when done per group
//! (docs/performance.md). A cut that takes only the last second's events
//! is therefore not caught.
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{chain_hash, ChainHead, Store, StoreError};

const FILE: &str = "storenode-head";

pub(crate) fn path(db_dir: &Path) -> PathBuf {
    db_dir.join(FILE)
}

/// The watermark a data directory holds, if any (a missing or short file
/// is none: it is a safety net, not the truth).
pub(crate) fn read(db_dir: &Path) -> Option<ChainHead> {
    let bytes = std::fs::read(path(db_dir)).ok()?;
    if bytes.len() != 40 {
        tracing::warn!(
            len = bytes.len(),
            "the durable-head watermark is not 40 bytes; ignored"
        );
        return None;
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&bytes[..8]);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[8..]);
    Some(ChainHead {
        seq: u64::from_be_bytes(seq),
        hash,
    })
}

/// The open watermark file the writer rewrites in place.
pub(crate) struct Watermark {
    file: File,
    /// The newest durable head not yet written, and when it was last.
    pending: Option<ChainHead>,
    written: std::time::Instant,
}

/// How often the watermark is rewritten under load.
const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Watermark {
    pub(crate) fn open(db_dir: &Path) -> Result<Watermark, StoreError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path(db_dir))?;
        Ok(Watermark {
            file,
            pending: None,
            written: std::time::Instant::now(),
        })
    }

    /// `head` is durable: written now if the last write is a second old,
    /// else at the next chance.
    pub(crate) fn advance(&mut self, head: ChainHead) {
        self.pending = Some(head);
        if self.written.elapsed() >= EVERY {
            self.flush();
        }
    }

    /// Write what is pending (at a clean stop).
    pub(crate) fn flush(&mut self) {
        if let Some(head) = self.pending.take() {
            if let Err(e) = self.set(head) {
                // Only the safety net is lost: the log itself is durable.
                tracing::warn!(error = %e, "writing the durable-head watermark failed");
            }
            self.written = std::time::Instant::now();
        }
    }

    /// Record `head` as durable (call only after the database's sync).
    pub(crate) fn set(&self, head: ChainHead) -> Result<(), StoreError> {
        let mut buf = [0u8; 40];
        buf[..8].copy_from_slice(&head.seq.to_be_bytes());
        buf[8..].copy_from_slice(&head.hash);
        self.file.write_all_at(&buf, 0)?;
        Ok(())
    }
}

impl Store {
    /// Refuse a log that ends before the watermark or holds another entry
    /// at it.
    pub(crate) fn check_watermark(&self, db_dir: &Path) -> Result<(), StoreError> {
        let Some(mark) = read(db_dir) else {
            return Ok(());
        };
        let damaged = |detail: String| StoreError::Damaged {
            path: db_dir.display().to_string(),
            detail,
        };
        if mark.seq == 0 {
            return Ok(());
        }
        if self.head() < mark.seq {
            return Err(damaged(format!(
                "its log ends at {} but reached {} before: {} acknowledged events are gone",
                self.head(),
                mark.seq,
                mark.seq - self.head()
            )));
        }
        match self.log_bytes(mark.seq)? {
            Some(b) if chain_hash(&b) == mark.hash => Ok(()),
            _ => Err(damaged(format!(
                "its log entry {} is not the one that was made durable",
                mark.seq
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advanced_at_most_once_a_second_and_flushed_at_a_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = Watermark::open(dir.path()).expect("open");
        let at = |seq| ChainHead { seq, hash: [1; 32] };
        w.set(at(1)).expect("set");
        w.advance(at(2));
        assert_eq!(read(dir.path()).map(|h| h.seq), Some(1), "held back");
        w.written -= EVERY;
        w.advance(at(3));
        assert_eq!(read(dir.path()).map(|h| h.seq), Some(3));
        w.advance(at(4));
        w.flush();
        assert_eq!(read(dir.path()).map(|h| h.seq), Some(4));
    }

    #[test]
    fn round_trip_and_a_short_file_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(dir.path()), None);
        let w = Watermark::open(dir.path()).expect("open");
        let head = ChainHead {
            seq: 77,
            hash: [9; 32],
        };
        w.set(head).expect("set");
        assert_eq!(read(dir.path()), Some(head));
        w.set(ChainHead { seq: 78, ..head }).expect("set");
        assert_eq!(read(dir.path()).map(|h| h.seq), Some(78));
        std::fs::write(path(dir.path()), b"short").expect("write");
        assert_eq!(read(dir.path()), None);
    }
}
