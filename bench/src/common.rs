//! What every scenario shares: the node under test, the machine, the date.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use storenode_tests::{test_catalog, Node, Opts};
use tempfile::TempDir;

/// Describe the machine the figures come from.
pub fn machine() -> Value {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("")
        .trim()
        .to_string();
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": kernel.trim(),
        "cpu": cpu,
    })
}

pub fn date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Build the release node and return its path.
pub fn release_binary() -> Result<PathBuf> {
    release_build("storenode", "storenode")
}

/// Build `bin` of `package` in release mode and return its path.
pub fn release_build(package: &str, bin: &str) -> Result<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // Without `cargo run`'s own variables for the bench (they rebuilt
    // ring and all above it: storenode_tests::cargo).
    let status = storenode_tests::cargo()
        .args(["build", "--quiet", "--release", "-p", package, "--bin", bin])
        .current_dir(&root)
        .status()
        .context("cargo build --release")?;
    if !status.success() {
        bail!("building the release {bin} failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join("target"));
    Ok(target.join("release").join(bin))
}

/// Units of each catalog SKU the bench stocks. Orders reserve stock when
/// accepted and take it at hand-over; the busiest SKU of
/// `order_body(_, 3)` goes 3 units per order, so the harness's own
/// 1,000,000 would run out after ~333k orders (a long run, or a large
/// `footprint --orders`) and later orders would be rejected.
pub const STOCK_PER_SKU: u32 = 1_000_000_000;

/// Events one order appends up to its pick list, all written by the
/// services' reactions after the create: OrderCreated, then OrderAccepted
/// and OrderProcessed (one reaction, prepaid), then ShipmentPrepared.
pub const EVENTS_TO_PICK_LIST: u64 = 4;

/// Events of one whole lifecycle of an order with `lines` lines, all in
/// stock and picked in full: up to the pick list (4), picked (PickStarted,
/// one ItemPicked per line, ShipmentProcessed), staged (OrderStaged,
/// ReadyForPickup), handed over (OrderFulfilled).
pub fn lifecycle_events(lines: u64) -> u64 {
    EVENTS_TO_PICK_LIST + (1 + lines + 1) + 2 + 1
}

/// Start the node under test on a fresh data directory (kept until the
/// returned `TempDir` drops), with the bench's catalog.
pub async fn start_node(durability: &str) -> Result<(TempDir, Node)> {
    let dir = tempfile::tempdir()?;
    let node = Node::start_with(dir.path(), opts(durability)).await?;
    seed_catalog(&node).await?;
    Ok((dir, node))
}

/// The node options of every bench run. The catalog is left to
/// [`seed_catalog`] (more stock than the harness's), so a restart on the
/// same data directory with these options imports nothing.
pub fn opts(durability: &str) -> Opts {
    Opts {
        env: vec![
            ("STORENODE_STORAGE_DURABILITY".into(), durability.into()),
            // rumqttd's own lines unthrottled: the broker bench counts its
            // "Read cursor start jumped" warnings.
            ("STORENODE_LOG_LEVEL".into(), "warn,rumqttd=warn".into()),
            // The bench is one address standing in for a store's many
            // devices and tills: up to 64 load clients plus its own
            // probes. With the default per-address limit (64) some of its
            // connections were refused and the figures counted refusals.
            (
                "STORENODE_HTTP_MAX_CONNECTIONS_PER_CLIENT".into(),
                "1024".into(),
            ),
        ],
        no_catalog: true,
        ..Opts::default()
    }
}

/// Import the harness's test catalog (the SKUs `order_body` uses) with
/// [`STOCK_PER_SKU`] units each. Two events (one CatalogImported, one
/// StockCounted) on the log before the first order: figures that need a
/// baseline take the log head after this.
pub async fn seed_catalog(node: &Node) -> Result<()> {
    let (status, body) = node
        .post("/api/v1/catalog/import", &test_catalog(STOCK_PER_SKU))
        .await?;
    if status != 200 {
        bail!("importing the bench catalog failed: {status} {body}");
    }
    Ok(())
}

/// Resident set size of a process in MiB, from /proc.
pub fn rss_mb(pid: u32) -> Option<f64> {
    proc_status_mb(pid, "VmRSS:")
}

/// The most a process has ever been resident, in MiB, from /proc.
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    proc_status_mb(pid, "VmHWM:")
}

fn proc_status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Bytes a process has caused to be written to storage, from /proc.
pub fn write_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find(|l| l.starts_with("write_bytes:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Round to 3 decimals for printing.
pub fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
