//! The data directory's disk: new work is refused before it fills up, and
//! while it is read-only, instead of the writer failing on a write it
//! cannot make (sled, once an I/O error has hit it, needs a reopen).
//!
//! A full SD card is an ordinary day in a store: the journal, a forgotten
//! export, a copy of something. So the node keeps `storage.min_free_mib`
//! free: below it, every write is refused with a clear error (HTTP 507, a
//! device reply `rejected`, the manager's page, the log), reads go on, and
//! the moment there is room again — checked at every group and every
//! second — work is accepted again, without a restart.
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why new work is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DiskTrouble {
    #[error(
        "the data directory's disk is full ({} MiB free, {} MiB must stay free): new work is refused until space is freed; everything saved so far is safe and can be read",
        free / MIB,
        reserve / MIB
    )]
    Full { free: u64, reserve: u64 },
    #[error(
        "the data directory is read-only (the disk may be failing): new work is refused until it is writable again; everything saved so far is safe and can be read"
    )]
    ReadOnly,
}

impl DiskTrouble {
    /// A short name for metrics and API error codes.
    pub fn name(self) -> &'static str {
        match self {
            DiskTrouble::Full { .. } => "disk_full",
            DiskTrouble::ReadOnly => "read_only",
        }
    }
}

const MIB: u64 = 1 << 20;
/// How stale a reading may be when a group is written.
const FRESH: Duration = Duration::from_millis(250);

const OK: u8 = 0;
const FULL: u8 = 1;
const READ_ONLY: u8 = 2;

/// The disk's last reading, shared by the writer (which refuses), the
/// pages and the metrics.
pub struct Disk {
    dir: PathBuf,
    reserve: u64,
    state: AtomicU8,
    free: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl Disk {
    /// Watch the filesystem holding `dir`, keeping `reserve` bytes free.
    pub fn new(dir: PathBuf, reserve: u64) -> Disk {
        let disk = Disk {
            dir,
            reserve,
            state: AtomicU8::new(OK),
            free: AtomicU64::new(u64::MAX),
            last: Mutex::new(None),
        };
        disk.refresh();
        disk
    }

    /// The trouble as last read, without reading the disk.
    pub fn trouble(&self) -> Option<DiskTrouble> {
        match self.state.load(Ordering::Acquire) {
            FULL => Some(DiskTrouble::Full {
                free: self.free_bytes(),
                reserve: self.reserve,
            }),
            READ_ONLY => Some(DiskTrouble::ReadOnly),
            _ => None,
        }
    }

    /// Free bytes for the node at the last reading.
    pub fn free_bytes(&self) -> u64 {
        self.free.load(Ordering::Acquire)
    }

    /// The trouble now, reading the disk if the last reading is older
    /// than 250 ms.
    pub fn check(&self) -> Option<DiskTrouble> {
        let stale = self
            .last
            .lock()
            .map(|l| l.is_none_or(|t| t.elapsed() >= FRESH))
            .unwrap_or(true);
        if stale {
            self.refresh();
        }
        self.trouble()
    }

    /// Read the disk; log a change either way.
    pub fn refresh(&self) {
        let (state, free) = match rustix::fs::statvfs(&self.dir) {
            Ok(s) => {
                let free = s.f_bavail.saturating_mul(s.f_frsize);
                let before = self.state.load(Ordering::Acquire);
                let state = if s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
                    READ_ONLY
                } else if free < self.reserve {
                    FULL
                } else if before == FULL && free < self.reserve + self.reserve / 8 {
                    // Back by an eighth of the reserve before resuming, so
                    // that a disk on the edge does not flap.
                    FULL
                } else {
                    OK
                };
                (state, free)
            }
            // Unreadable: keep what was last known (a write will tell).
            Err(e) => {
                tracing::debug!(error = %e, dir = %self.dir.display(), "could not read the disk's free space");
                (self.state.load(Ordering::Acquire), self.free_bytes())
            }
        };
        self.free.store(free, Ordering::Release);
        let before = self.state.swap(state, Ordering::AcqRel);
        if let Ok(mut l) = self.last.lock() {
            *l = Some(Instant::now());
        }
        if before != state {
            match self.trouble() {
                Some(t) => tracing::error!(
                    reason = t.name(),
                    free_mib = free / MIB,
                    reserve_mib = self.reserve / MIB,
                    dir = %self.dir.display(),
                    "{t}"
                ),
                None => tracing::warn!(
                    free_mib = free / MIB,
                    dir = %self.dir.display(),
                    "the data directory's disk has room again: new work is accepted"
                ),
            }
        }
    }
}
