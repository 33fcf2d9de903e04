//! Footprint: binary size, idle RSS, and cold start with a large store.
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{json, Value};
use storenode_tests::{order_body, Node};

use crate::common;

/// Size of the (stripped, release) binary in MiB.
pub fn binary_mb(path: &Path) -> Option<f64> {
    std::fs::metadata(path)
        .ok()
        .map(|m| common::r3(m.len() as f64 / (1 << 20) as f64))
}

/// RSS of a freshly started, idle node after `settle`.
pub async fn idle_rss_mb(node: &Node, settle: Duration) -> Option<f64> {
    tokio::time::sleep(settle).await;
    common::rss_mb(node.pid()).map(common::r3)
}

/// Create `orders` orders as fast as `clients` closed-loop clients can;
/// an error if any create was not accepted (201).
pub async fn populate(node: &Node, orders: u64, clients: usize) -> Result<f64> {
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, failed) = (next.clone(), failed.clone());
        let url = node.url("/api/v1/orders");
        let token = node.token.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= orders {
                    return;
                }
                let sent = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&order_body(&format!("P-{i}"), 3))
                    .send()
                    .await;
                if !sent.is_ok_and(|r| r.status().as_u16() == 201) {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let failed = failed.load(Ordering::Relaxed);
    anyhow::ensure!(
        failed == 0,
        "{failed} of {orders} creates were not accepted"
    );
    Ok(orders as f64 / started.elapsed().as_secs_f64())
}

/// Fill a store with `orders` orders (each left at its pick list: created,
/// accepted, processed, prepared), stop the node (SIGTERM), and time a
/// fresh start until it serves. `cold_start_events` counts every event in
/// the store, the catalog import's too.
pub async fn cold_start(orders: u64) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let mut node = Node::start_with(dir.path(), common::opts("fdatasync")).await?;
    common::seed_catalog(&node).await?;
    let head0 = node.head().await?; // the catalog import
    let fill_rate = populate(&node, orders, 64).await?;
    // Let the services finish their reactions (every order at its pick
    // list, state "prepared") before stopping.
    let target = head0 + orders * common::EVENTS_TO_PICK_LIST;
    let deadline = Instant::now() + Duration::from_secs(120);
    while node.head().await? < target && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let head = node.head().await?;
    // Loaded: the most the node was resident while the orders poured in
    // and its services worked them to their pick lists.
    let load_peak_rss_mb = common::peak_rss_mb(node.pid()).map(common::r3);
    let load_rss_mb = common::rss_mb(node.pid()).map(common::r3);
    node.terminate().await?;
    let db_bytes = dir_size(&dir.path().join("db"));
    let t = Instant::now();
    let _node = Node::start_with(dir.path(), common::opts("fdatasync")).await?;
    let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
    Ok(json!({
        "cold_start_orders": orders,
        "cold_start_events": head,
        "cold_start_ms_100k_orders": if orders == 100_000 { json!(common::r3(wall_ms)) } else { Value::Null },
        "cold_start_ms": common::r3(wall_ms),
        "db_bytes_on_disk": db_bytes,
        "db_bytes_per_event": common::r3(db_bytes as f64 / head.max(1) as f64),
        "populate_orders_per_s": fill_rate.round(),
        "load_rss_mb": load_rss_mb,
        "load_peak_rss_mb": load_peak_rss_mb,
    }))
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
