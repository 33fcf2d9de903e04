//! Scenario: the raw durable-append floor of this disk — the same record
//! sizes appended to a plain file with `fdatasync`, with the same
//! group-commit batching as the node. (To be written.)
use anyhow::{bail, Result};
use serde_json::Value;

/// Append `record_bytes`-sized records to a plain file in `dir` for
/// `seconds`, one `fdatasync` per `batch` records; records/s.
pub fn run(_record_bytes: usize, _batch: usize, _seconds: f64) -> Result<Value> {
    bail!("floor scenario not written yet")
}
