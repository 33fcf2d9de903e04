//! `storenode-bench`: starts the real node (release build) and drives it
//! over its real interfaces; prints a table and, with `--json`, one JSON
//! object. Figures are printed, never asserted.
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use storenode_tests::{order_body, Node, Opts};

#[derive(Parser)]
#[command(
    name = "storenode-bench",
    about = "Measure storenode over its real interfaces"
)]
struct Cli {
    /// Print one JSON object instead of the table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// POST /api/v1/orders from concurrent closed-loop clients: orders/s and
    /// latency until the durable 2xx.
    Create {
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// Lines per order.
        #[arg(long, default_value_t = 3)]
        lines: usize,
        /// storage.durability of the node under test: fdatasync | flush.
        #[arg(long, default_value = "fdatasync")]
        durability: String,
    },
}

fn machine() -> Value {
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

fn release_binary() -> Result<PathBuf> {
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

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if std::env::var_os("STORENODE_BIN").is_none() {
        std::env::set_var("STORENODE_BIN", release_binary()?);
    }
    let result = match cli.scenario {
        Scenario::Create {
            clients,
            seconds,
            lines,
            durability,
        } => create(clients, seconds, lines, &durability).await?,
    };
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print_table(&result);
    }
    Ok(())
}

fn print_table(v: &Value) {
    println!("{:<28} value", "figure");
    if let Some(map) = v.as_object() {
        for (k, val) in map {
            println!("{k:<28} {val}");
        }
    }
}

async fn create(clients: usize, seconds: u64, lines: usize, durability: &str) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let node = Node::start_with(
        dir.path(),
        Opts {
            env: vec![
                ("STORENODE_STORAGE_DURABILITY".into(), durability.into()),
                ("STORENODE_LOG_LEVEL".into(), "warn".into()),
            ],
            ..Opts::default()
        },
    )
    .await?;
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (hist, errors, stop, measuring) = (
            hist.clone(),
            errors.clone(),
            stop.clone(),
            measuring.clone(),
        );
        let url = node.url("/api/v1/orders");
        let token = node.token.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = order_body(&format!("B{c}-{k}"), lines);
                k += 1;
                let t = Instant::now();
                let ok = match http.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(r) => r.status().as_u16() == 201,
                    Err(_) => false,
                };
                let us = t.elapsed().as_micros() as u64;
                if measuring.load(Ordering::Relaxed) {
                    if ok {
                        let _ = local.record(us.max(1));
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if let Ok(mut h) = hist.lock() {
                let _ = h.add(&local);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // warm-up
    let before = node.metric("storenode_group_commits_total", "").await?;
    let head_before = node.head().await?;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let commits = node.metric("storenode_group_commits_total", "").await? - before;
    let events = node.head().await? - head_before;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let h = hist.lock().map_err(|_| anyhow::anyhow!("histogram lock"))?;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Ok(json!({
        "scenario": "create",
        "clients": clients,
        "seconds": seconds,
        "lines_per_order": lines,
        "durability": durability,
        "orders": h.len(),
        "orders_per_s": (h.len() as f64 / elapsed).round(),
        "p50_ms": ms(0.50),
        "p99_ms": ms(0.99),
        "p999_ms": ms(0.999),
        "max_ms": h.max() as f64 / 1000.0,
        "errors": errors.load(Ordering::Relaxed),
        "events_appended_per_s": (events as f64 / elapsed).round(),
        "group_commits_per_s": (commits / elapsed).round(),
        "machine": machine(),
        "date": date(),
    }))
}

fn date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
