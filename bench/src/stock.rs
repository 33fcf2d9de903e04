//! Scenario `stock`: the till feed and what HQ hears of availability.
//!
//! - receipts: `clients` closed-loop tills post 3-line sale receipts
//!   (`POST /api/v1/till/receipts`) for `seconds`: receipts/s, latency to
//!   the durable answer, log bytes per receipt line;
//! - till to HQ: with the link up (Mosquitto, one bridge, a webhook
//!   receiver), a sale, then the time until HQ's webhook has the SKU's new
//!   availability (p50/p99 of `samples`), at the default coalescing window;
//! - the availability snapshot of a `snapshot_skus`-SKU catalog: events and
//!   log bytes.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use storenode_tests::cloud::{Bridge, Mosquitto, Sink};
use storenode_tests::{Node, Opts};

use crate::common;

/// A catalog of `n` SKUs (`K-000001` …), `on_hand` each.
fn catalog(n: usize, on_hand: u64) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                json!({"sku": format!("K-{i:06}"), "name": format!("Item {i}"),
                       "barcodes": [storenode_tests::ean13(500_000_000_000 + i as u64)],
                       "aisle": 1 + i / 1000, "bay": 1 + i % 1000 / 10, "shelf": 1 + i % 10,
                       "zone": "ambient", "unit_price_cents": 100, "on_hand": on_hand})
            })
            .collect(),
    )
}

async fn import(node: &Node, n: usize, on_hand: u64) -> Result<()> {
    // In parts: one import body holds at most 50,000 rows.
    let all = catalog(n, on_hand);
    for chunk in all
        .as_array()
        .map(|a| a.chunks(10_000))
        .into_iter()
        .flatten()
    {
        let (status, v) = node
            .post("/api/v1/catalog/import", &Value::Array(chunk.to_vec()))
            .await?;
        if status != 200 {
            bail!("import: {status} {v}");
        }
    }
    Ok(())
}

pub async fn run(
    clients: usize,
    seconds: u64,
    samples: usize,
    snapshot_skus: usize,
) -> Result<Value> {
    let receipts = receipts(clients, seconds).await?;
    let hq = till_to_hq(samples, snapshot_skus).await?;
    Ok(json!({
        "scenario": "stock",
        "receipts": receipts,
        "till_to_hq": hq,
        "machine": common::machine(),
        "date": common::date(),
    }))
}

async fn receipts(clients: usize, seconds: u64) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let node = Node::start_with(
        dir.path(),
        Opts {
            no_catalog: true,
            ..Opts::default()
        },
    )
    .await?;
    import(&node, 1_000, 1_000_000_000).await?;
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
        let url = node.url("/api/v1/till/receipts");
        let token = node.token.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let lines: Vec<Value> = (0..3)
                    .map(|j| {
                        json!({"sku": format!("K-{:06}", (c * 37 + k as usize * 3 + j) % 1000),
                               "quantity": 1 + j})
                    })
                    .collect();
                let body = json!({"receipt_id": format!("T{c}-{k}"), "till": format!("till-{c}"),
                                  "at": storenode_tests::now_rfc3339(), "kind": "sale", "lines": lines});
                k += 1;
                let t = Instant::now();
                let ok = match http.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(r) => r.status().as_u16() == 200,
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
    let bytes_before = node.metric("storenode_event_bytes_total", "").await?;
    let measured_from = hist.lock().map(|h| h.len()).unwrap_or(0);
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let bytes = node.metric("storenode_event_bytes_total", "").await? - bytes_before;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let h = hist.lock().map_err(|_| anyhow::anyhow!("histogram lock"))?;
    let n = h.len() - measured_from;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Ok(json!({
        "clients": clients,
        "seconds": seconds,
        "lines_per_receipt": 3,
        "receipts": n,
        "receipts_per_s": (n as f64 / elapsed).round(),
        "p50_ms": ms(0.50),
        "p99_ms": ms(0.99),
        "errors": errors.load(Ordering::Relaxed),
        // Every event of the window was a receipt (no cloud link: no
        // availability events).
        "log_bytes_per_receipt_line": if n > 0 { (bytes / (n as f64 * 3.0)).round() } else { 0.0 },
    }))
}

async fn till_to_hq(samples: usize, snapshot_skus: usize) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let broker = Mosquitto::start(dir.path()).await?;
    let sink = Sink::start().await?;
    let _bridge = Bridge::start(dir.path(), &broker.url(), &sink.url, "a").await?;
    let store = "bench-stock";
    let node = Node::start_with(
        &dir.path().join("node"),
        Opts {
            store_id: Some(store.into()),
            no_catalog: true,
            env: vec![("STORENODE_CLOUD_URL".into(), broker.url())],
            ..Opts::default()
        },
    )
    .await?;
    storenode_tests::cloud::wait_link(&node, true).await?;
    import(&node, snapshot_skus, 1_000_000).await?;
    // Let the catalog's availability reach HQ, then measure one sale at a
    // time: posted → HQ's webhook has the new value.
    let drained = |sink: &Sink, head: u64| sink.applied(store) >= head;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !drained(&sink, node.head().await?) {
        if Instant::now() > deadline {
            bail!("HQ did not catch up with the catalog");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let http = reqwest::Client::new();
    for k in 0..samples {
        let sku = format!("K-{:06}", k % snapshot_skus.max(1));
        let seen = sink.events(store).len();
        let t = Instant::now();
        let r = http
            .post(node.url("/api/v1/till/receipts"))
            .bearer_auth(&node.token)
            .json(&json!({"receipt_id": format!("H-{k}"), "till": "till-1",
                          "at": storenode_tests::now_rfc3339(), "kind": "sale",
                          "lines": [{"sku": sku, "quantity": 1}]}))
            .send()
            .await?;
        if r.status().as_u16() != 200 {
            bail!("receipt refused: {}", r.status());
        }
        loop {
            let got = sink.events(store);
            let hit = got[seen.min(got.len())..].iter().any(|e| {
                e["type"] == "availability_changed"
                    && e["data"]["event"]["availability_changed"]["items"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|i| i["sku"] == sku.as_str()))
            });
            if hit {
                break;
            }
            if t.elapsed() > Duration::from_secs(30) {
                bail!("HQ never heard of the sale of {sku}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        hist.record((t.elapsed().as_micros() as u64).max(1))?;
    }
    // The whole catalog's availability, as HQ asks for it: the events and
    // the log bytes they took (nothing else is appended meanwhile).
    let before_events = sink.events(store).len();
    let bytes_before = node.metric("storenode_event_bytes_total", "").await?;
    let (status, v) = _bridge
        .post(
            &format!("/api/v1/stores/{store}/commands"),
            &json!({"request_availability": {}}),
        )
        .await?;
    if status != 202 {
        bail!("request_availability: {status} {v}");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let (parts, items) = loop {
        let got = sink.events(store);
        let snap: Vec<&Value> = got[before_events.min(got.len())..]
            .iter()
            .filter(|e| e["type"] == "availability_snapshot")
            .collect();
        let parts = snap
            .first()
            .and_then(|e| e["data"]["event"]["availability_snapshot"]["parts"].as_u64())
            .unwrap_or(u64::MAX);
        if snap.len() as u64 >= parts {
            let items: u64 = snap
                .iter()
                .filter_map(|e| {
                    e["data"]["event"]["availability_snapshot"]["items"]
                        .as_array()
                        .map(|a| a.len() as u64)
                })
                .sum();
            break (parts, items);
        }
        if Instant::now() > deadline {
            bail!("the snapshot did not reach HQ");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let bytes = node.metric("storenode_event_bytes_total", "").await? - bytes_before;
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    Ok(json!({
        "samples": samples,
        "window_ms": 1000,
        "sale_to_webhook_p50_ms": ms(0.50),
        "sale_to_webhook_p99_ms": ms(0.99),
        "sale_to_webhook_max_ms": hist.max() as f64 / 1000.0,
        "snapshot_skus": snapshot_skus,
        "snapshot_parts": parts,
        "snapshot_items": items,
        "snapshot_log_bytes": bytes,
        "snapshot_bytes_per_sku": if items > 0 { (bytes / items as f64 * 10.0).round() / 10.0 } else { 0.0 },
    }))
}
