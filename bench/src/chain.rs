//! HQ at chain scale (issue #25): simulated stores (as in the fleet part of
//! `sync`: each its own MQTT client with a persistent session and a
//! hash-chained log, one batch in flight) through a 3-node RMQTT cluster
//! (tests/src/rmqtt.rs) to 1, 2 and 3 bridge instances, each store on one
//! of the nodes. Two parts:
//! - **scaling**: every store at once, each instance capped at 4 webhook
//!   calls at once to a webhook taking `delay_ms` (so the instances, not
//!   this machine's 2 cores, are the limit): events/s per instance count;
//! - **regional outage**: `stores` stores, of which `outage_stores` were
//!   offline for a day (`day_events` each) and reconnect evenly over
//!   `reconnect_s`, the others with `live_events` each connected from the
//!   start; 3 instances, uncapped: time to converge, events/s per
//!   instance, bridge RSS, webhook call p99.
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use protocol::StoreId;
use serde_json::{json, Value};
use storenode_tests::cloud::{Bridge, Sink};
use storenode_tests::rmqtt::RmqttCluster;

use crate::common;
use crate::sync::{sim_log, sim_store};

/// One run: `plan` is (events, start delay) per store.
async fn run_once(
    plan: &[(u64, Duration)],
    bridges: usize,
    delay_ms: u64,
    parallel: Option<usize>,
) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let cluster = RmqttCluster::start(&dir.path().join("cluster"), 3).await?;
    let sink = Sink::start().await?;
    sink.state.count_only.store(true, Ordering::Relaxed);
    sink.state.delay_ms.store(delay_ms, Ordering::Relaxed);
    let mut bs = Vec::new();
    for i in 0..bridges {
        let p = parallel.unwrap_or(64).to_string();
        let list = (0..3)
            .map(|k| cluster.url((i + k) % 3))
            .collect::<Vec<_>>()
            .join(",");
        bs.push(
            Bridge::start_delivering(
                dir.path(),
                &list,
                &sink.url,
                &format!("h{i}"),
                &["--max-parallel", &p],
            )
            .await?,
        );
    }
    let lags = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1,
        600_000_000,
        3,
    )?));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, (events, delay)) in plan.iter().enumerate() {
        let id = StoreId::new(format!("chain-{i:04}")).expect("store id");
        let log = sim_log(&id, *events);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], cluster.port(i % 3)));
        let (lags, delay) = (lags.clone(), *delay);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            sim_store(addr, id, log, 100, lags).await
        }));
    }
    let mut last_done = Duration::ZERO;
    for t in tasks {
        t.await??;
        last_done = last_done.max(started.elapsed());
    }
    let elapsed = last_done.as_secs_f64();
    let total: u64 = plan.iter().map(|(e, _)| e).sum();
    let (applied, dropped) = sink.counts();
    if applied < total {
        bail!("the receiver applied {applied} of {total} events");
    }
    let mut per_instance = Vec::new();
    let mut rss_kb = Vec::new();
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for b in &bs {
        per_instance.push(b.metric("cloud_bridge_events_delivered").await? / elapsed);
        rss_kb.push(b.pid().map_or(0, peak_rss_kb));
        merge_buckets(&mut buckets, &b.metrics_text().await?);
    }
    let lag = lags.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    let ms = |q: f64| common::r3(lag.value_at_quantile(q) as f64 / 1000.0);
    Ok(json!({
        "bridges": bridges,
        "max_parallel": parallel.unwrap_or(64),
        "webhook_delay_ms": delay_ms,
        "stores": plan.len(),
        "events": total,
        "seconds": common::r3(elapsed),
        "events_per_s": (total as f64 / elapsed).round(),
        "events_per_s_per_instance": per_instance.iter().map(|v| v.round()).collect::<Vec<_>>(),
        "bridge_peak_rss_mib": rss_kb.iter().map(|k| common::r3(*k as f64 / 1024.0)).collect::<Vec<_>>(),
        "webhook_call_p99_ms": quantile_ms(&buckets, 0.99),
        "batch_ack_p50_ms": ms(0.5),
        "batch_ack_p99_ms": ms(0.99),
        "redeliveries_dropped": dropped,
    }))
}

/// Peak resident memory of process `pid` (VmHWM), KiB.
fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Add the cumulative `cloud_bridge_webhook_seconds` buckets of one
/// instance's metrics to `into` ((upper bound s, count)).
fn merge_buckets(into: &mut Vec<(f64, f64)>, text: &str) {
    for l in text
        .lines()
        .filter(|l| l.starts_with("cloud_bridge_webhook_seconds_bucket"))
    {
        let le = l
            .split("le=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(|v| {
                if v == "+Inf" {
                    f64::INFINITY
                } else {
                    v.parse().unwrap_or(f64::NAN)
                }
            });
        let n = l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let (Some(le), Some(n)) = (le, n) {
            match into.iter_mut().find(|(b, _)| *b == le) {
                Some(e) => e.1 += n,
                None => into.push((le, n)),
            }
        }
    }
    into.sort_by(|a, b| a.0.total_cmp(&b.0));
}

/// The upper bound (ms) of the bucket holding quantile `q`.
fn quantile_ms(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    let want = total * q;
    buckets
        .iter()
        .find(|(_, n)| *n >= want)
        .map(|(le, _)| common::r3(le * 1000.0))
}

pub async fn run(
    stores: usize,
    outage_stores: usize,
    live_events: u64,
    day_events: u64,
    reconnect_s: u64,
    delay_ms: u64,
) -> Result<Value> {
    crate::sync::release_bridge()?;
    let t = Instant::now();
    let phase = |what: &str| eprintln!("chain bench: {what} at {:.1} s", t.elapsed().as_secs_f64());
    // Scaling: every store at once with its live backlog, capped instances.
    let all_at_once: Vec<(u64, Duration)> =
        (0..stores).map(|_| (live_events, Duration::ZERO)).collect();
    let mut scaling = Vec::new();
    for bridges in 1..=3 {
        scaling.push(run_once(&all_at_once, bridges, delay_ms, Some(4)).await?);
        phase(&format!("scaling with {bridges} instance(s)"));
    }
    let rate = |v: &Value| v["events_per_s"].as_f64().unwrap_or(0.0);
    let of_linear = common::r3(rate(&scaling[2]) / rate(&scaling[0]).max(1.0) / 3.0);
    // The regional outage, 3 instances, uncapped.
    // The first `outage_stores` (spread over the three nodes) come back
    // evenly over `reconnect_s`.
    let plan: Vec<(u64, Duration)> = (0..stores)
        .map(|i| {
            if i < outage_stores {
                let at = reconnect_s * 1000 * i as u64 / outage_stores as u64;
                (day_events, Duration::from_millis(at))
            } else {
                (live_events, Duration::ZERO)
            }
        })
        .collect();
    let outage = run_once(&plan, 3, 0, None).await?;
    phase("regional outage");
    Ok(json!({
        "scenario": "chain",
        "chain_stores": stores,
        "chain_outage_stores": outage_stores,
        "chain_converged_s": outage["seconds"],
        "chain_events_per_s": outage["events_per_s"],
        "chain_events_per_s_per_instance": outage["events_per_s_per_instance"],
        "chain_bridge_peak_rss_mib": outage["bridge_peak_rss_mib"],
        "chain_webhook_call_p99_ms": outage["webhook_call_p99_ms"],
        "chain_capped_events_per_s_1_2_3": [rate(&scaling[0]), rate(&scaling[1]), rate(&scaling[2])],
        "chain_capped_third_instance_of_linear": of_linear,
        "scaling": scaling,
        "outage": outage,
        "machine": common::machine(),
        "date": common::date(),
    }))
}
