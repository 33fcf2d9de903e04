//! What every scenario shares: the node under test, the machine, the date.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use storenode_tests::{Node, Opts};
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
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--quiet",
                "--release",
                "-p",
                "storenode",
                "--bin",
                "storenode",
            ])
            .current_dir(&root)
            .status()
            .context("cargo build --release")?;
    if !status.success() {
        bail!("building the release binary failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join("target"));
    Ok(target.join("release").join("storenode"))
}

/// Start the node under test on a fresh data directory (kept until the
/// returned `TempDir` drops).
pub async fn start_node(durability: &str) -> Result<(TempDir, Node)> {
    let dir = tempfile::tempdir()?;
    let node = Node::start_with(dir.path(), opts(durability)).await?;
    Ok((dir, node))
}

pub fn opts(durability: &str) -> Opts {
    Opts {
        env: vec![
            ("STORENODE_STORAGE_DURABILITY".into(), durability.into()),
            ("STORENODE_LOG_LEVEL".into(), "warn".into()),
        ],
        ..Opts::default()
    }
}

/// Resident set size of a process in MiB, from /proc.
pub fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
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
