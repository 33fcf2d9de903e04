//! Scenario: the raw durable-append floor of this disk — the same record
//! sizes appended to a plain file with `fdatasync`, with the same
//! group-commit batching as the node. It is the peer for the node's
//! append-and-ack figure: no store, no index, no serialisation, just
//! `write_all` and `sync_data` on the filesystem the node's data directory
//! lives on (the system temp directory, as `common::start_node` uses).
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};

use crate::common;

/// Append `record_bytes`-sized records to a plain file in a fresh temp
/// directory for `seconds`, one `fdatasync` per `batch` records; then the
/// same for `seconds` more with a sync per record. Only synced records
/// count.
pub fn run(record_bytes: usize, batch: usize, seconds: f64) -> Result<Value> {
    ensure!(record_bytes > 0, "record_bytes must be at least 1");
    ensure!(batch > 0, "batch must be at least 1");
    ensure!(
        seconds.is_finite() && seconds > 0.0,
        "seconds must be a positive number"
    );
    let load_before = load_average();
    let duration = Duration::from_secs_f64(seconds);
    let dir = tempfile::tempdir().context("create a temp directory")?;
    let batched = append(
        &dir.path().join("batched.log"),
        record_bytes,
        batch,
        duration,
    )?;
    let sync_each = append(&dir.path().join("sync-each.log"), record_bytes, 1, duration)?;
    Ok(json!({
        "scenario": "floor",
        "record_bytes": record_bytes,
        "batch": batch,
        "seconds": seconds,
        "records_per_s": batched.per_second().round(),
        "records_per_s_sync_each": sync_each.per_second().round(),
        "bytes_written": batched.bytes,
        "bytes_written_sync_each": sync_each.bytes,
        "load_average_before": load_before,
        "machine": common::machine(),
        "date": common::date(),
    }))
}

/// What one append run achieved.
struct Appended {
    records: u64,
    bytes: u64,
    elapsed: Duration,
}

impl Appended {
    fn per_second(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }
}

/// Append records to a new file at `path` until `duration` has passed,
/// `fdatasync` after every `batch` records. The run stops on a batch
/// boundary, so every counted record is durable.
fn append(path: &Path, record_bytes: usize, batch: usize, duration: Duration) -> Result<Appended> {
    let mut file = File::create(path).with_context(|| format!("create {}", path.display()))?;
    // Records are windows into a pool of noise filled up front, so the loop
    // costs the same in a debug build (the usual `cargo run`) as in release.
    const POOL: usize = 1 << 16;
    let mut pool = vec![0u8; POOL + record_bytes];
    Fill::new().bytes(&mut pool);
    let mut records = 0u64;
    let started = Instant::now();
    while started.elapsed() < duration {
        for i in 0..batch as u64 {
            let at = ((records + i) * 4099) as usize % POOL;
            file.write_all(&pool[at..at + record_bytes])
                .with_context(|| format!("write to {}", path.display()))?;
        }
        file.sync_data()
            .with_context(|| format!("fdatasync {}", path.display()))?;
        records += batch as u64;
    }
    let elapsed = started.elapsed();
    Ok(Appended {
        records,
        bytes: records * record_bytes as u64,
        elapsed,
    })
}

/// Cheap non-repeating bytes (xorshift64, fixed seed), so no layer below
/// can shortcut identical or zero blocks; the broker scenario uses it for
/// its payload.
pub(crate) struct Fill(u64);

impl Fill {
    pub(crate) fn new() -> Fill {
        Fill(0x9E37_79B9_7F4A_7C15)
    }

    pub(crate) fn bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// The 1-, 5- and 15-minute load averages, taken before a run: a busy
/// machine (a build, another bench) slows every `fdatasync` and steals the
/// brokers' CPU, so the figures carry it.
pub(crate) fn load_average() -> Value {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let loads: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    json!(loads)
}
