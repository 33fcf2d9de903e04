//! The staff pages under load, over the real HTTP interface with real
//! staff logins: the pick-queue page with thousands of open orders, the
//! bytes of its first load, and how fast a new order shows in connected
//! pick queues (server-sent events) while orders pour in.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use storenode_tests::{order_body, Node};

use crate::common::r3;

fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// Log a staff member in through the login form; the session cookie.
pub async fn login(node: &Node, staff_id: &str, pin: &str) -> Result<String> {
    node.session_cookie(staff_id, pin).await
}

/// Create `n` orders from 32 concurrent clients and wait until all are on
/// the pick queue.
async fn fill_queue(node: &Node, n: usize) -> Result<()> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let next = next.clone();
        let http = client()?;
        let url = node.url("/api/v1/orders");
        let token = node.token.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), anyhow::Error>(());
                }
                let resp = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&order_body(&format!("Q-{i:06}"), 3))
                    .send()
                    .await?;
                if resp.status() != 201 {
                    bail!("create failed: {}", resp.status());
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (_, v) = node.get("/api/v1/pick-queue?limit=1").await?;
        if v["total"].as_u64() == Some(n as u64) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("queue has {} of {n} orders after 300 s", v["total"]);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The pick-queue page with `open` orders waiting: `requests` sequential
/// page loads by a logged-in picker (after the first, which builds the
/// queue index), p50/p99; and the bytes of a first page load.
pub async fn picklist_page(node: &Node, open: usize, requests: usize) -> Result<Value> {
    fill_queue(node, open).await?;
    let (id, pin) = node.add_staff("Bench Picker", "picker").await?;
    let cookie = login(node, &id, &pin).await?;
    let http = client()?;
    let get = |path: &str| {
        http.get(node.url(path))
            .header("cookie", &cookie)
            .header("accept", "text/html")
    };
    let t = Instant::now();
    let first = get("/pick").send().await?;
    if first.status() != 200 {
        bail!("GET /pick: {}", first.status());
    }
    let html = first.text().await?;
    let first_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut h = Histogram::<u64>::new(3)?;
    for _ in 0..requests {
        let t = Instant::now();
        let resp = get("/pick").send().await?;
        let status = resp.status();
        let _ = resp.bytes().await?;
        if status != 200 {
            bail!("GET /pick: {status}");
        }
        h.record(t.elapsed().as_micros() as u64)?;
    }
    // What a first visit downloads: the page, its stylesheet and script
    // (uncompressed: the node does not compress).
    let asset = |attr: &str| {
        html.split(attr)
            .nth(1)
            .and_then(|r| r.split('"').nth(1))
            .map(str::to_string)
    };
    let mut sizes = serde_json::Map::new();
    sizes.insert("html".into(), json!(html.len()));
    let mut total = html.len();
    for (name, attr) in [("css", "rel=\"stylesheet\" href="), ("js", "<script src=")] {
        let path = asset(attr).with_context(|| format!("no {name} in the page"))?;
        let bytes = get(&path).send().await?.bytes().await?.len();
        total += bytes;
        sizes.insert(name.into(), json!(bytes));
    }
    Ok(json!({
        "picklist_page_open_orders": open,
        "picklist_page_requests": requests,
        "picklist_page_first_ms_5k_open": r3(first_ms),
        "picklist_page_p50_ms_5k_open": r3(h.value_at_quantile(0.50) as f64 / 1e3),
        "picklist_page_p99_ms_5k_open": r3(h.value_at_quantile(0.99) as f64 / 1e3),
        "picklist_page_max_ms_5k_open": r3(h.max() as f64 / 1e3),
        "picklist_first_load_bytes": total,
        "picklist_first_load": Value::Object(sizes),
    }))
}

/// One SSE client: every `upsert` of a queue row it receives, by order.
async fn follow(
    url: String,
    cookie: String,
    seen: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
    reloads: Arc<std::sync::atomic::AtomicU64>,
    until: Instant,
) -> Result<()> {
    let mut resp = client()?
        .get(url)
        .header("cookie", cookie)
        .header("accept", "text/event-stream")
        .timeout(Duration::from_secs(3600))
        .send()
        .await?;
    if resp.status() != 200 {
        bail!("GET /live: {}", resp.status());
    }
    let mut buf = String::new();
    while Instant::now() < until {
        let chunk = match tokio::time::timeout(Duration::from_millis(500), resp.chunk()).await {
            Ok(c) => c?,
            Err(_) => continue,
        };
        let Some(chunk) = chunk else { break };
        let now = Instant::now();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let name = event
                .lines()
                .find_map(|l| l.strip_prefix("event:"))
                .map(str::trim)
                .unwrap_or("");
            if name == "reload" {
                reloads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            if name != "upsert" {
                continue;
            }
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if let Ok(v) = serde_json::from_str::<Value>(&data) {
                if let Some(id) = v["id"].as_str().and_then(|i| i.strip_prefix("q-")) {
                    if let Ok(mut s) = seen.lock() {
                        s.entry(id.to_string()).or_default().push(now);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Orders created at `rate` per second for `seconds`, open loop, while
/// `clients` logged-in pick-queue pages follow the live feed: from the
/// create request to the row arriving on each page, p50/p99.
pub async fn sse_visible(node: &Node, rate: u64, seconds: u64, clients: usize) -> Result<Value> {
    let (id, pin) = node.add_staff("Bench Picker", "picker").await?;
    let mut cookies = Vec::new();
    for _ in 0..clients {
        cookies.push(login(node, &id, &pin).await?);
    }
    let seen: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
    let reloads = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds + 8);
    let mut followers = Vec::new();
    for c in cookies {
        followers.push(tokio::spawn(follow(
            node.url("/live?ch=queue"),
            c,
            seen.clone(),
            reloads.clone(),
            until,
        )));
    }
    // Let every stream connect before the first order.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let http = client()?;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = rate * seconds;
    let mut creates = Vec::new();
    for i in 0..total {
        tick.tick().await;
        let id = format!("L-{i:06}");
        let body = order_body(&id, 3);
        let req = http
            .post(node.url("/api/v1/orders"))
            .bearer_auth(&node.token)
            .json(&body);
        let sent = sent.clone();
        creates.push(tokio::spawn(async move {
            sent.lock().map(|mut s| s.insert(id, Instant::now())).ok();
            req.send().await.map(|r| r.status().as_u16())
        }));
    }
    let mut failed = 0;
    for c in creates {
        if !matches!(c.await?, Ok(201)) {
            failed += 1;
        }
    }
    for f in followers {
        f.await??;
    }
    let sent = sent.lock().map_err(|_| anyhow!("poisoned"))?.clone();
    let seen = seen.lock().map_err(|_| anyhow!("poisoned"))?.clone();
    let mut h = Histogram::<u64>::new(3)?;
    let mut missed = 0u64;
    for (id, at) in &sent {
        let arrivals = seen.get(id).map_or(&[][..], Vec::as_slice);
        missed += (clients as u64).saturating_sub(arrivals.len() as u64);
        for a in arrivals.iter().take(clients) {
            h.record(a.saturating_duration_since(*at).as_micros() as u64)?;
        }
    }
    Ok(json!({
        "sse_clients": clients,
        "sse_orders_per_s": rate,
        "sse_orders": total,
        "sse_create_failures": failed,
        "sse_deliveries": h.len(),
        "sse_missed_deliveries": missed,
        "sse_reloads": reloads.load(std::sync::atomic::Ordering::Relaxed),
        "sse_visible_p50_ms_at_200_per_s": r3(h.value_at_quantile(0.50) as f64 / 1e3),
        "sse_visible_p99_ms_at_200_per_s": r3(h.value_at_quantile(0.99) as f64 / 1e3),
        "sse_visible_max_ms": r3(h.max() as f64 / 1e3),
    }))
}
