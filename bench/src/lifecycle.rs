//! Scenarios on the whole order flow:
//! - lifecycle: closed-loop clients each take one order (3 lines) through
//!   the whole BOPIS flow and time it from the create to the hand-over's
//!   durable 200 (see [`FLOW`]):
//!   1. `POST /orders` (201); the services react: OrderAccepted and
//!      OrderProcessed (stock reserved, prepaid), then ShipmentPrepared
//!      (the pick list), which the client waits for on the broker;
//!   2. `POST /orders/{id}/picked`: PickStarted, one ItemPicked per line,
//!      ShipmentProcessed (state "picked");
//!   3. `POST /orders/{id}/stage` on a shelf: OrderStaged, ReadyForPickup
//!      (state "ready"); the stage reply (`order_id`, `state`, `log_seqs`)
//!      carries no pickup code, so the client reads it back with
//!      `GET /orders/{id}` (`order.pickup_code`), standing in for the
//!      customer who shows it: one read more in the measured time;
//!   4. `POST /orders/{id}/handed-over` with that code: OrderFulfilled.
//!
//!   That is 12 events per order ([`common::lifecycle_events`]);
//! - order → pick list at a fixed offered load (open loop: the latency of
//!   each order counts from when it was *due* to be sent, so a stall is not
//!   hidden by clients that stopped sending, i.e. no coordinated omission).
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use hdrhistogram::Histogram;
use protocol::{topic, StoreId};
use serde_json::{json, Value};
use storenode_tests::{order_body, Mqtt, Node};
use tokio::sync::oneshot;

use crate::common;

/// Orders waiting for their pick list, by order id.
type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Instant>>>>;

/// Watch `shipment_prepared` events and wake whoever waits for that order.
async fn watch_pick_lists(node: &Node) -> Result<(Waiters, tokio::task::JoinHandle<()>)> {
    let pw = node.add_device("bench-watch", "scanner").await?;
    let mut watch = node.mqtt("bench-watch", &pw).await?;
    let store = StoreId::new("test-store").map_err(|e| anyhow!("{e}"))?;
    watch
        .subscribe(&topic::event(&store, protocol::EventKind::ShipmentPrepared))
        .await?;
    let waiters: Waiters = Arc::new(Mutex::new(HashMap::new()));
    let w = waiters.clone();
    let task = tokio::spawn(async move {
        while let Some(p) = watch.rx.recv().await {
            let at = Instant::now();
            if let Ok(env) = Mqtt::envelope(&p) {
                let waiter = w
                    .lock()
                    .ok()
                    .and_then(|mut m| m.remove(env.order_id.as_str()));
                if let Some(tx) = waiter {
                    let _ = tx.send(at);
                }
            }
        }
    });
    Ok((waiters, task))
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

/// What one lifecycle is, for the JSON.
pub const FLOW: &str = "create → accepted/processed/prepared (reactions) → picked \
(PickStarted + ItemPicked per line + ShipmentProcessed) → staged (OrderStaged + \
ReadyForPickup; code read back with GET) → handed over (OrderFulfilled, with the code)";

/// Lines per lifecycle order.
const LINES: usize = 3;

/// Closed-loop full lifecycle. Also samples the node's RSS and disk writes.
pub async fn lifecycle(node: &Node, clients: usize, seconds: u64) -> Result<Value> {
    let (waiters, watcher) = watch_pick_lists(node).await?;
    let done = Arc::new(Mutex::new(hist()));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (done, errors, first_error, stop, measuring, waiters) = (
            done.clone(),
            errors.clone(),
            first_error.clone(),
            stop.clone(),
            measuring.clone(),
            waiters.clone(),
        );
        let client = Client {
            http: reqwest::Client::new(),
            base: format!("http://{}/api/v1/orders", node.http),
            token: node.token.clone(),
        };
        tasks.push(tokio::spawn(async move {
            let mut local = hist();
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("L{c}-{k}");
                k += 1;
                let (tx, rx) = oneshot::channel();
                if let Ok(mut m) = waiters.lock() {
                    m.insert(id.clone(), tx);
                }
                let t0 = Instant::now();
                let outcome = client.one_order(&id, rx).await;
                if measuring.load(Ordering::Relaxed) {
                    match outcome {
                        Ok(()) => {
                            let _ = local.record((t0.elapsed().as_micros() as u64).max(1));
                        }
                        Err(e) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut f) = first_error.lock() {
                                f.get_or_insert(format!("{id}: {e}"));
                            }
                        }
                    }
                }
                // An order that failed before its pick list leaves a waiter.
                if let Ok(mut m) = waiters.lock() {
                    m.remove(&id);
                }
            }
            if let Ok(mut h) = done.lock() {
                let _ = h.add(&local);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // warm-up
    let pid = node.pid();
    let (head0, io0, bytes0, commits0) = (
        node.head().await?,
        common::write_bytes(pid).unwrap_or(0),
        node.metric("storenode_event_bytes_total", "").await?,
        node.metric("storenode_group_commits_total", "").await?,
    );
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let mut max_rss: f64 = 0.0;
    while started.elapsed() < Duration::from_secs(seconds) {
        max_rss = max_rss.max(common::rss_mb(pid).unwrap_or(0.0));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let (head1, io1, bytes1, commits1) = (
        node.head().await?,
        common::write_bytes(pid).unwrap_or(0),
        node.metric("storenode_event_bytes_total", "").await?,
        node.metric("storenode_group_commits_total", "").await?,
    );
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    watcher.abort();
    let events = (head1 - head0).max(1) as f64;
    let h = done.lock().map_err(|_| anyhow!("histogram lock"))?;
    let ms = |q: f64| common::r3(h.value_at_quantile(q) as f64 / 1000.0);
    let first_error = first_error.lock().ok().and_then(|f| f.clone());
    Ok(json!({
        "lifecycle_flow": FLOW,
        "lifecycle_lines_per_order": LINES,
        "lifecycle_events_per_order": common::lifecycle_events(LINES as u64),
        // Events appended in the window per order finished in it: the
        // expected figure above, give or take the orders in flight.
        "lifecycle_events_per_order_measured": common::r3(events / (h.len().max(1) as f64)),
        "lifecycle_orders_per_s": (h.len() as f64 / elapsed).round(),
        "lifecycle_p50_ms": ms(0.5),
        "lifecycle_p99_ms": ms(0.99),
        "lifecycle_p999_ms": ms(0.999),
        "lifecycle_errors": errors.load(Ordering::Relaxed),
        "lifecycle_first_error": first_error,
        "lifecycle_clients": clients,
        "append_ack_events_per_s": (events / elapsed).round(),
        "group_commits_per_s": ((commits1 - commits0) / elapsed).round(),
        "events_per_group_commit": common::r3(events / (commits1 - commits0).max(1.0)),
        "load_rss_mb": common::r3(max_rss),
        "disk_bytes_per_event": common::r3((io1.saturating_sub(io0)) as f64 / events),
        "payload_bytes_per_event": common::r3((bytes1 - bytes0) / events),
    }))
}

/// One closed-loop client of the lifecycle scenario.
struct Client {
    http: reqwest::Client,
    /// `http://…/api/v1/orders`
    base: String,
    token: String,
}

impl Client {
    /// Take order `id` through the whole flow; `pick_list` fires when its
    /// ShipmentPrepared is on the broker. The error names the failed step.
    async fn one_order(&self, id: &str, pick_list: oneshot::Receiver<Instant>) -> Result<()> {
        let base = &self.base;
        self.post(base, &order_body(id, LINES), 201).await?;
        tokio::time::timeout(Duration::from_secs(10), pick_list)
            .await
            .map_err(|_| anyhow!("no pick list (ShipmentPrepared) within 10 s"))?
            .map_err(|_| anyhow!("pick list watcher gone"))?;
        self.post(
            &format!("{base}/{id}/picked"),
            &json!({"staff": "bench"}),
            200,
        )
        .await?;
        self.post(
            &format!("{base}/{id}/stage"),
            &json!({"staff": "bench", "slot": {"kind": "shelf", "id": "A1"}}),
            200,
        )
        .await?;
        let code = self.pickup_code(id).await?;
        self.post(
            &format!("{base}/{id}/handed-over"),
            &json!({"staff": "bench", "code": code}),
            200,
        )
        .await?;
        Ok(())
    }

    async fn post(&self, url: &str, body: &Value, want: u16) -> Result<()> {
        let r = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| anyhow!("POST {url}: {e}"))?;
        let status = r.status().as_u16();
        if status != want {
            let text = r.text().await.unwrap_or_default();
            return Err(anyhow!("POST {url}: {status} {text}"));
        }
        Ok(())
    }

    /// The short pickup code of a staged order (`order.pickup_code`).
    async fn pickup_code(&self, id: &str) -> Result<String> {
        let url = format!("{}/{id}", self.base);
        let r = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| anyhow!("GET {url}: {e}"))?;
        let status = r.status().as_u16();
        if status != 200 {
            return Err(anyhow!("GET {url}: {status}"));
        }
        let v: Value = r.json().await.map_err(|e| anyhow!("GET {url}: {e}"))?;
        v["order"]["pickup_code"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("GET {url}: no order.pickup_code"))
    }
}

/// POST a JSON body; whether the status is `want`.
async fn step(http: &reqwest::Client, token: &str, url: &str, body: &Value, want: u16) -> bool {
    match http.post(url).bearer_auth(token).json(body).send().await {
        Ok(r) => r.status().as_u16() == want,
        Err(_) => false,
    }
}

/// Open loop at `rate` orders/s for `seconds`: latency from each order's
/// scheduled send time to its ShipmentPrepared on the broker.
pub async fn order_to_picklist(node: &Node, rate: u64, seconds: u64) -> Result<Value> {
    let (waiters, watcher) = watch_pick_lists(node).await?;
    let http = reqwest::Client::new();
    let url = node.url("/api/v1/orders");
    let token = node.token.clone();
    let total = rate * seconds;
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        let (http, url, token, waiters) =
            (http.clone(), url.clone(), token.clone(), waiters.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due).await;
            let id = format!("OL-{i}");
            let (tx, rx) = oneshot::channel();
            if let Ok(mut m) = waiters.lock() {
                m.insert(id.clone(), tx);
            }
            if !step(&http, &token, &url, &order_body(&id, 3), 201).await {
                return None;
            }
            let at = tokio::time::timeout(Duration::from_secs(30), rx)
                .await
                .ok()?
                .ok()?;
            Some(at.saturating_duration_since(due.into_std()))
        }));
    }
    let mut h = hist();
    let mut failed = 0u64;
    for t in tasks {
        match t.await? {
            Some(d) => {
                let _ = h.record((d.as_micros() as u64).max(1));
            }
            None => failed += 1,
        }
    }
    watcher.abort();
    let ms = |q: f64| common::r3(h.value_at_quantile(q) as f64 / 1000.0);
    Ok(json!({
        "order_to_picklist_rate_per_s": rate,
        "order_to_picklist_orders": total,
        "order_to_picklist_p50_ms": ms(0.5),
        "order_to_picklist_p99_ms_at_500_per_s": if rate == 500 { json!(ms(0.99)) } else { Value::Null },
        "order_to_picklist_p99_ms": ms(0.99),
        "order_to_picklist_max_ms": common::r3(h.max() as f64 / 1000.0),
        "order_to_picklist_failed": failed,
    }))
}
