//! The sync link: a store's backlog through Mosquitto and the cloud bridge
//! to a webhook receiver, and a fleet of simulated stores.
//!
//! Everything real except, in the fleet, the stores: 1,000 nodes do not fit
//! one machine, so each simulated store is the sync agent's protocol in
//! miniature (its own MQTT client with a persistent session, an in-memory
//! hash-chained log of real envelopes, one batch in flight, resend after a
//! timeout), driven from this process.
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use protocol::sync::{LogBytes, UpAck, UpBatch};
use protocol::{codec, topic, Actor, ChainHash, Envelope, Event, EventId, OrderId, StoreId};
use rumqttc::{AsyncClient, Event as MqttEvent, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use storenode_tests::cloud::{Bridge, Mosquitto, Sink};
use storenode_tests::{Node, Opts};

use crate::common;

/// Build the release bridge and point the harness at it.
pub fn release_bridge() -> Result<()> {
    if std::env::var_os("CLOUD_BRIDGE_BIN").is_none() {
        let bin = common::release_build("cloud-bridge", "cloud-bridge")?;
        std::env::set_var("CLOUD_BRIDGE_BIN", bin);
    }
    Ok(())
}

/// The harness's store id (the lifecycle scenario watches its topics).
const STORE: &str = "test-store";

fn node_opts(cloud: &str) -> Opts {
    let mut o = common::opts("fdatasync");
    o.env.push(("STORENODE_CLOUD_URL".into(), cloud.into()));
    o
}

/// Fill a store's log while its link is down: `orders` orders, either left
/// at their pick list (4 events each) or worked through their whole life
/// (12 events each). Returns the data directory (node stopped) and its head.
async fn backlog(dir: &Path, orders: u64, whole_life: bool) -> Result<u64> {
    // Nothing listens at this port: the node works offline.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut node = Node::start_with(dir, node_opts(&format!("mqtt://{dead}"))).await?;
    common::seed_catalog(&node).await?;
    if whole_life {
        // Closed-loop lifecycles for about as long as `orders` take (the
        // whole flow runs at ≈1,200 orders/s here); the head says how many.
        crate::lifecycle::lifecycle(&node, 32, (orders / 900).max(3)).await?;
    } else {
        crate::footprint::populate(&node, orders, 32).await?;
        // Wait for the services' reactions.
        let want = 2 + orders * common::EVENTS_TO_PICK_LIST;
        let deadline = Instant::now() + Duration::from_secs(120);
        while node.head().await? < want {
            if Instant::now() > deadline {
                bail!("the store did not reach {want} events");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let head = node.head().await?;
    node.terminate().await?;
    Ok(head)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else if !e.file_name().to_string_lossy().ends_with(".log") {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

/// Start the node on `dir` against `broker` with `bridges` instances, and
/// time it: link up, first event at the receiver, all of them, and the
/// node's backlog at 0.
async fn drain(dir: &Path, head: u64, bridges: usize) -> Result<Value> {
    let broker = Mosquitto::start(dir).await?;
    let sink = Sink::start().await?;
    sink.state.count_only.store(true, Ordering::Relaxed);
    let mut bs = Vec::new();
    for i in 0..bridges {
        bs.push(
            Bridge::start(
                &dir.join("bridges"),
                &broker.url(),
                &sink.url,
                &format!("b{i}"),
            )
            .await?,
        );
    }
    let started = Instant::now();
    let node = Node::start_with(&dir.join("node"), node_opts(&broker.url())).await?;
    let mut first = None;
    let mut up = None;
    loop {
        if up.is_none() && node.metric("storenode_sync_online", "").await? >= 1.0 {
            up = Some(started.elapsed());
        }
        let n = sink.applied(STORE);
        if first.is_none() && n > 0 {
            first = Some(started.elapsed());
        }
        if n >= head {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("only {n} of {head} events arrived in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = started.elapsed();
    loop {
        let (_, v) = node.get("/api/v1/sync").await?;
        if v["backlog_events"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let converged = started.elapsed();
    let first = first.unwrap_or_default();
    let drain_s = (all - first).as_secs_f64().max(1e-6);
    let batches = node
        .metric("storenode_sync_batches_total", "kind=\"first\"")
        .await?;
    let resent = node
        .metric("storenode_sync_batches_total", "kind=\"resend\"")
        .await?;
    let (_, dropped) = sink.counts();
    let (mut webhook_s, mut failures) = (0.0, 0.0);
    for b in &bs {
        webhook_s += b.metric("cloud_bridge_webhook_seconds_sum").await?;
        failures += b.metric("cloud_bridge_webhook_failures_total").await?;
    }
    Ok(json!({
        "bridges": bridges,
        "events": head,
        "webhook_seconds_total": common::r3(webhook_s),
        "webhook_failures": failures,
        "link_up_s": common::r3(up.unwrap_or_default().as_secs_f64()),
        "first_event_s": common::r3(first.as_secs_f64()),
        "all_events_s": common::r3(all.as_secs_f64()),
        "converged_s": common::r3(converged.as_secs_f64()),
        "drain_events_per_s": (head as f64 / drain_s).round(),
        "batches": batches,
        "batches_resent": resent,
        "redeliveries_dropped": dropped,
        "webhook_calls": sink.state.calls.load(Ordering::Relaxed),
    }))
}

/// One simulated store's log: `n` real envelopes (an order created with
/// two lines each), hash-chained.
pub(crate) fn sim_log(store: &StoreId, n: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(n as usize);
    let mut prev = [0u8; 32];
    for seq in 1..=n {
        let env = Envelope {
            event_id: EventId::generate(),
            causation_id: None,
            store_id: store.clone(),
            order_id: OrderId::new(format!("F-{seq}")).unwrap_or_else(|_| OrderId::store_stream()),
            order_seq: 1,
            log_seq: seq,
            time_ms: 1_796_000_000_000 + seq,
            schema: protocol::SCHEMA_VERSION,
            actor: Actor::Cloud,
            event: Event::StockAdjusted {
                sku: format!("SKU-{:03}", seq % 100),
                delta: -1,
                reason: "fleet simulation".into(),
            },
            prev_hash: ChainHash(prev),
        };
        let bytes = codec::encode(&env);
        prev = Sha256::digest(&bytes).into();
        out.push(bytes);
    }
    out
}

/// Drive one simulated store until HQ acknowledged its whole log; records
/// each batch's time from publish to ack.
pub(crate) async fn sim_store(
    broker: std::net::SocketAddr,
    store: StoreId,
    log: Vec<Vec<u8>>,
    batch: usize,
    lags: Arc<Mutex<Histogram<u64>>>,
) -> Result<Duration> {
    let mut o = MqttOptions::new(store.as_str(), broker.ip().to_string(), broker.port());
    o.set_clean_session(false)
        .set_keep_alive(Duration::from_secs(60))
        .set_max_packet_size(4 << 20, 4 << 20);
    let (client, mut events) = AsyncClient::new(o, 64);
    let (tx, mut acks) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let poll = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                    if let Ok(a) = codec::decode::<UpAck>(&p.payload) {
                        let _ = tx.send(a.last_seq);
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    client
        .subscribe(topic::sync_ack(&store), QoS::AtLeastOnce)
        .await?;
    let started = Instant::now();
    let mut acked = 0usize;
    let mut local = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    while acked < log.len() {
        let end = (acked + batch).min(log.len());
        let up = UpBatch {
            store_id: store.clone(),
            first_seq: acked as u64 + 1,
            last_seq: end as u64,
            last_hash: ChainHash(Sha256::digest(&log[end - 1]).into()),
            events: log[acked..end]
                .iter()
                .map(|b| LogBytes(b.clone()))
                .collect(),
        };
        let payload = codec::encode(&up);
        let t = Instant::now();
        client
            .publish(
                topic::sync_up(&store),
                QoS::AtLeastOnce,
                false,
                payload.clone(),
            )
            .await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), acks.recv()).await {
                Ok(Some(seq)) if seq >= end as u64 => break,
                Ok(Some(_)) => {}
                Ok(None) => bail!("connection task ended"),
                Err(_) => {
                    // As the agent does: the same run again.
                    client
                        .publish(
                            topic::sync_up(&store),
                            QoS::AtLeastOnce,
                            false,
                            payload.clone(),
                        )
                        .await?;
                }
            }
        }
        let _ = local.record(t.elapsed().as_micros().max(1) as u64);
        acked = end;
    }
    let took = started.elapsed();
    if let Ok(mut h) = lags.lock() {
        let _ = h.add(&local);
    }
    let _ = client.disconnect().await;
    poll.abort();
    Ok(took)
}

/// `stores` simulated stores of `events` each through `bridges` instances
/// (each delivering at most `parallel` batches at once, if given) to a
/// webhook taking `delay_ms` per call.
async fn fleet_run(
    stores: usize,
    events: u64,
    batch: usize,
    bridges: usize,
    delay_ms: u64,
    parallel: Option<usize>,
) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let broker = Mosquitto::start(dir.path()).await?;
    let sink = Sink::start().await?;
    sink.state.count_only.store(true, Ordering::Relaxed);
    sink.state.delay_ms.store(delay_ms, Ordering::Relaxed);
    let mut bs = Vec::new();
    for i in 0..bridges {
        let p = parallel.unwrap_or(64).to_string();
        bs.push(
            Bridge::start_delivering(
                dir.path(),
                &broker.url(),
                &sink.url,
                &format!("f{i}"),
                &["--max-parallel", &p],
            )
            .await?,
        );
    }
    let logs: Vec<(StoreId, Vec<Vec<u8>>)> = (0..stores)
        .map(|i| {
            let id = StoreId::new(format!("sim-{i:04}")).expect("store id");
            let log = sim_log(&id, events);
            (id, log)
        })
        .collect();
    let lags = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1,
        600_000_000,
        3,
    )?));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (id, log) in logs {
        tasks.push(tokio::spawn(sim_store(
            broker.addr(),
            id,
            log,
            batch,
            lags.clone(),
        )));
    }
    let mut drains = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    for t in tasks {
        let took = t.await??;
        let _ = drains.record(took.as_micros().max(1) as u64);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = stores as u64 * events;
    let lag = lags.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    let ms = |h: &Histogram<u64>, q: f64| common::r3(h.value_at_quantile(q) as f64 / 1000.0);
    let (applied, dropped) = sink.counts();
    if applied < total {
        bail!("the receiver applied {applied} of {total} events");
    }
    Ok(json!({
        "bridges": bridges,
        "max_parallel": parallel.unwrap_or(64),
        "webhook_delay_ms": delay_ms,
        "stores": stores,
        "events": total,
        "seconds": common::r3(elapsed),
        "events_per_s": (total as f64 / elapsed).round(),
        "batch_ack_p50_ms": ms(&lag, 0.5),
        "batch_ack_p99_ms": ms(&lag, 0.99),
        "store_drained_p99_ms": ms(&drains, 0.99),
        "redeliveries_dropped": dropped,
    }))
}

pub async fn run(
    backlog_orders: u64,
    week_orders: u64,
    stores: usize,
    store_events: u64,
    delay_ms: u64,
) -> Result<Value> {
    release_bridge()?;
    let t = Instant::now();
    let phase = |what: &str| eprintln!("sync bench: {what} at {:.1} s", t.elapsed().as_secs_f64());
    // 1. A 100k-event backlog (orders at their pick list: 4 events each),
    //    drained through 1, then 2 bridge instances (the same backlog,
    //    copied before the first run).
    let dir = tempfile::tempdir()?;
    let head = backlog(&dir.path().join("node"), backlog_orders, false).await?;
    let copy = tempfile::tempdir()?;
    copy_dir(&dir.path().join("node"), &copy.path().join("node"))?;
    phase("backlog made");
    let one = drain(dir.path(), head, 1).await?;
    phase("drained with 1 bridge");
    let two = drain(copy.path(), head, 2).await?;
    phase("drained with 2 bridges");
    // 2. A busy store's week offline: whole lifecycles.
    let week_dir = tempfile::tempdir()?;
    let week_head = backlog(&week_dir.path().join("node"), week_orders, true).await?;
    phase("week made");
    let week = drain(week_dir.path(), week_head, 1).await?;
    phase("week drained");
    // 3. The fleet, with 1 then 2 bridge instances.
    let batch = 100;
    let f1 = fleet_run(stores, store_events, batch, 1, 0, None).await?;
    let f2 = fleet_run(stores, store_events, batch, 2, 0, None).await?;
    // Instances that are themselves the limit (4 calls at once to a
    // webhook taking `delay_ms`), so that the machine's two cores are not:
    // what a second instance adds when the instances are the bottleneck.
    let d1 = fleet_run(stores, store_events, batch, 1, delay_ms, Some(4)).await?;
    let d2 = fleet_run(stores, store_events, batch, 2, delay_ms, Some(4)).await?;
    phase("fleet done");
    let gain = |a: &Value, b: &Value| {
        common::r3(
            b["events_per_s"].as_f64().unwrap_or(0.0)
                / a["events_per_s"].as_f64().unwrap_or(1.0).max(1.0)
                / 2.0,
        )
    };
    Ok(json!({
        "scenario": "sync",
        "sync_drain_events_per_s": one["drain_events_per_s"],
        "sync_drain_events_per_s_2_bridges": two["drain_events_per_s"],
        "reconnect_to_converged_s": week["converged_s"],
        "reconnect_week_events": week["events"],
        "fleet_events_per_s_1_bridge": f1["events_per_s"],
        "fleet_events_per_s_2_bridges": f2["events_per_s"],
        "fleet_second_bridge_of_linear": gain(&f1, &f2),
        "fleet_capped_webhook_delay_ms": delay_ms,
        "fleet_capped_events_per_s_1_bridge": d1["events_per_s"],
        "fleet_capped_events_per_s_2_bridges": d2["events_per_s"],
        "fleet_capped_second_bridge_of_linear": gain(&d1, &d2),
        "drain_1_bridge": one,
        "drain_2_bridges": two,
        "week": week,
        "fleet_1_bridge": f1,
        "fleet_2_bridges": f2,
        "fleet_capped_1_bridge": d1,
        "fleet_capped_2_bridges": d2,
        "machine": common::machine(),
        "date": common::date(),
    }))
}
