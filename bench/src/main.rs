//! `storenode-bench`: starts the real node (release build) and drives it
//! over its real interfaces; prints a table and, with `--json`, one JSON
//! object. Figures are printed, never asserted.
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Parser, Subcommand};
use serde_json::{json, Map, Value};

mod chain;
mod common;
mod create;
mod floor;
mod footprint;
mod lifecycle;
mod mqtt;
mod stock;
mod sync;
mod web;

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
    /// The durable-append floor of this disk: a plain file, fdatasync per batch.
    Floor {
        #[arg(long, default_value_t = 200)]
        record_bytes: usize,
        #[arg(long, default_value_t = 64)]
        batch: usize,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// The whole BOPIS order flow from closed-loop clients (orders/s,
    /// latency): create → accepted/processed/prepared (reactions) → picked
    /// → staged (pickup code read back) → handed over with the code; with
    /// RSS and disk bytes per event sampled under that load.
    Lifecycle {
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 15)]
        seconds: u64,
    },
    /// Open loop at a fixed rate: order → pick list latency.
    OpenLoop {
        #[arg(long, default_value_t = 500)]
        rate: u64,
        #[arg(long, default_value_t = 15)]
        seconds: u64,
    },
    /// Binary size, idle RSS, loaded RSS, cold start with a full store (`orders`
    /// orders, each at its pick list).
    Footprint {
        #[arg(long, default_value_t = 100_000)]
        orders: u64,
    },
    /// Every scenario, sized to finish in under 5 minutes on 2 cores; one
    /// JSON object with the performance issue's keys.
    All {
        /// Orders in the store for the cold-start figure.
        #[arg(long, default_value_t = 100_000)]
        orders: u64,
    },
    /// The staff pages: the pick-queue page with `open` orders waiting
    /// (p50/p99 of `requests` loads by a logged-in picker, bytes of a first
    /// load), then on a fresh node how fast a new order shows in `clients`
    /// connected pick queues (server-sent events) while `rate` orders/s
    /// arrive for `seconds`.
    Web {
        #[arg(long, default_value_t = 5_000)]
        open: usize,
        #[arg(long, default_value_t = 500)]
        requests: usize,
        #[arg(long, default_value_t = 200)]
        rate: u64,
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        #[arg(long, default_value_t = 50)]
        clients: usize,
    },
    /// The sync link through Mosquitto, the cloud bridge and a webhook
    /// receiver: a backlog of `backlog_orders` orders (4 events each)
    /// drained with 1 and 2 bridge instances; a busy store's week
    /// (`week_orders` whole lifecycles) from reconnect to converged; and
    /// `stores` simulated stores of `store_events` events each with 1 and
    /// 2 bridge instances, then again with instances capped at 4 calls at
    /// once to a webhook taking `delay_ms` per call.
    Sync {
        #[arg(long, default_value_t = 25_000)]
        backlog_orders: u64,
        #[arg(long, default_value_t = 5_000)]
        week_orders: u64,
        #[arg(long, default_value_t = 1_000)]
        stores: usize,
        #[arg(long, default_value_t = 1_000)]
        store_events: u64,
        #[arg(long, default_value_t = 20)]
        delay_ms: u64,
    },
    /// The till feed and availability for HQ: receipts/s and log bytes
    /// per receipt line from `clients` tills; a till sale to HQ's webhook
    /// (p50/p99 of `samples`, link up); the availability snapshot of a
    /// `snapshot_skus`-SKU catalog.
    Stock {
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 50)]
        samples: usize,
        #[arg(long, default_value_t = 20_000)]
        snapshot_skus: usize,
    },
    /// HQ at chain scale through a 3-node RMQTT cluster: `stores`
    /// simulated stores with 1, 2, 3 bridge instances (capped at 4 calls
    /// at once to a webhook taking `delay_ms`); then a regional outage:
    /// `outage_stores` stores with a day's `day_events` reconnecting at
    /// random within `reconnect_s`, the others with `live_events`.
    Chain {
        #[arg(long, default_value_t = 2_000)]
        stores: usize,
        #[arg(long, default_value_t = 500)]
        outage_stores: usize,
        #[arg(long, default_value_t = 100)]
        live_events: u64,
        #[arg(long, default_value_t = 1_500)]
        day_events: u64,
        #[arg(long, default_value_t = 60)]
        reconnect_s: u64,
        #[arg(long, default_value_t = 20)]
        delay_ms: u64,
    },
    /// QoS1 throughput: embedded broker (auth on) against Mosquitto.
    Broker {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 200)]
        message_bytes: usize,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if std::env::var_os("STORENODE_BIN").is_none() {
        std::env::set_var("STORENODE_BIN", common::release_binary()?);
    }
    let result = match cli.scenario {
        Scenario::Create {
            clients,
            seconds,
            lines,
            durability,
        } => create::create(clients, seconds, lines, &durability).await?,
        Scenario::Floor {
            record_bytes,
            batch,
            seconds,
        } => floor::run(record_bytes, batch, seconds)?,
        Scenario::Broker {
            seconds,
            message_bytes,
        } => mqtt::run(seconds, message_bytes).await?,
        Scenario::Lifecycle { clients, seconds } => {
            let (_dir, node) = common::start_node("fdatasync").await?;
            lifecycle::lifecycle(&node, clients, seconds).await?
        }
        Scenario::OpenLoop { rate, seconds } => {
            let (_dir, node) = common::start_node("fdatasync").await?;
            lifecycle::order_to_picklist(&node, rate, seconds).await?
        }
        Scenario::Footprint { orders } => {
            let (_dir, node) = common::start_node("fdatasync").await?;
            let mut v = footprint::cold_start(orders).await?;
            v["idle_rss_mb"] = json!(footprint::idle_rss_mb(&node, Duration::from_secs(3)).await);
            v["binary_mb"] = json!(footprint::binary_mb(storenode_tests::binary()));
            // Under qemu-user (STORENODE_RUNNER) the RSS is the emulator's,
            // the guest's memory and its translation cache together.
            v["runner"] = json!(std::env::var("STORENODE_RUNNER").ok());
            v
        }
        Scenario::Web {
            open,
            requests,
            rate,
            seconds,
            clients,
        } => web_figures(open, requests, rate, seconds, clients).await?,
        Scenario::Sync {
            backlog_orders,
            week_orders,
            stores,
            store_events,
            delay_ms,
        } => sync::run(backlog_orders, week_orders, stores, store_events, delay_ms).await?,
        Scenario::Chain {
            stores,
            outage_stores,
            live_events,
            day_events,
            reconnect_s,
            delay_ms,
        } => {
            chain::run(
                stores,
                outage_stores,
                live_events,
                day_events,
                reconnect_s,
                delay_ms,
            )
            .await?
        }
        Scenario::Stock {
            clients,
            seconds,
            samples,
            snapshot_skus,
        } => stock::run(clients, seconds, samples, snapshot_skus).await?,
        Scenario::All { orders } => all(orders).await?,
    };
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print_table(&result);
    }
    Ok(())
}

/// The staff pages' figures, each on a fresh node.
async fn web_figures(
    open: usize,
    requests: usize,
    rate: u64,
    seconds: u64,
    clients: usize,
) -> Result<Value> {
    let mut out = Map::new();
    {
        let (_dir, node) = common::start_node("fdatasync").await?;
        if let Value::Object(m) = web::picklist_page(&node, open, requests).await? {
            out.extend(m);
        }
    }
    {
        let (_dir, node) = common::start_node("fdatasync").await?;
        if let Value::Object(m) = web::sse_visible(&node, rate, seconds, clients).await? {
            out.extend(m);
        }
    }
    Ok(Value::Object(out))
}

fn print_table(v: &Value) {
    println!("{:<40} value", "figure");
    if let Some(map) = v.as_object() {
        for (k, val) in map {
            println!("{k:<40} {val}");
        }
    }
}

/// Every scenario in one run. Keys the performance issue names are always
/// present; `null` where the part they measure does not exist yet.
async fn all(orders: u64) -> Result<Value> {
    let started = Instant::now();
    let mut out = Map::new();
    fn merge(out: &mut Map<String, Value>, v: Value) {
        if let Value::Object(m) = v {
            out.extend(m);
        }
    }
    {
        // Idle first, on a fresh node, then the lifecycle load on it.
        let (_dir, node) = common::start_node("fdatasync").await?;
        merge(
            &mut out,
            json!({ "idle_rss_mb": footprint::idle_rss_mb(&node, Duration::from_secs(3)).await }),
        );
        merge(&mut out, lifecycle::lifecycle(&node, 32, 15).await?);
    }
    {
        let (_dir, node) = common::start_node("fdatasync").await?;
        merge(
            &mut out,
            lifecycle::order_to_picklist(&node, 500, 15).await?,
        );
    }
    let payload = out
        .get("payload_bytes_per_event")
        .and_then(Value::as_f64)
        .unwrap_or(200.0)
        .round() as usize;
    // The floor with the node's own batching (events per group commit in
    // the lifecycle run) and its own event size.
    let batch = out
        .get("events_per_group_commit")
        .and_then(Value::as_f64)
        .unwrap_or(64.0)
        .round()
        .max(1.0) as usize;
    let floor = floor::run(payload.max(1), batch, 5.0)?;
    merge(
        &mut out,
        json!({
            "fsync_floor_events_per_s": floor.get("records_per_s").cloned(),
            "fsync_floor_sync_each_events_per_s": floor.get("records_per_s_sync_each").cloned(),
            "fsync_floor_record_bytes": payload,
        "fsync_floor_batch": batch,
        }),
    );
    merge(&mut out, mqtt::run(8, 200).await?);
    merge(&mut out, footprint::cold_start(orders).await?);
    merge(&mut out, web_figures(5_000, 500, 200, 15, 50).await?);
    {
        let mut s = sync::run(25_000, 5_000, 1_000, 300, 20).await?;
        if let Value::Object(m) = &mut s {
            // The headline keys at the top level; the details under `sync`.
            let keys: Vec<String> = m
                .keys()
                .filter(|k| {
                    k.starts_with("sync_") || k.starts_with("fleet_") || k.starts_with("reconnect_")
                })
                .cloned()
                .collect();
            for k in keys {
                if let Some(v) = m.remove(&k) {
                    out.insert(k, v);
                }
            }
            m.remove("machine");
            m.remove("date");
        }
        out.insert("sync".into(), s);
    }
    merge(
        &mut out,
        json!({
            "binary_mb": footprint::binary_mb(storenode_tests::binary()),
            "machine": common::machine(),
            "date": common::date(),
        }),
    );
    let ratio = match (
        out.get("append_ack_events_per_s"),
        out.get("fsync_floor_events_per_s"),
    ) {
        (Some(a), Some(f)) => a.as_f64().zip(f.as_f64()).map(|(a, f)| common::r3(a / f)),
        _ => None,
    };
    out.insert("append_ack_to_floor_ratio".into(), json!(ratio));
    out.insert("bench_seconds".into(), json!(started.elapsed().as_secs()));
    for key in [
        "scenario",
        "seconds",
        "message_bytes",
        "record_bytes",
        "batch",
    ] {
        out.remove(key);
    }
    Ok(Value::Object(out))
}
