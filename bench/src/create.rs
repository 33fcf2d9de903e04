//! Scenario: `POST /api/v1/orders` from closed-loop clients; latency until
//! the durable 201.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use storenode_tests::order_body;

use crate::common::{self, start_node};

pub async fn create(clients: usize, seconds: u64, lines: usize, durability: &str) -> Result<Value> {
    let (_dir, node) = start_node(durability).await?;
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
    // Every event appended in the window: the creates and the services'
    // reactions to them (common::EVENTS_TO_PICK_LIST per order in all).
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
        "machine": common::machine(),
        "date": common::date(),
    }))
}
