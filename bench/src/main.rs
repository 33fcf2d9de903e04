//! `storenode-bench`: starts the real node (release build) and drives it
//! over its real interfaces; prints a table and, with `--json`, one JSON
//! object. Figures are printed, never asserted.
use anyhow::Result;
use clap::{Parser, Subcommand};
use serde_json::Value;

mod common;
mod create;
mod floor;
mod mqtt;

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
    };
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print_table(&result);
    }
    Ok(())
}

fn print_table(v: &Value) {
    println!("{:<40} value", "figure");
    if let Some(map) = v.as_object() {
        for (k, val) in map {
            println!("{k:<40} {val}");
        }
    }
}
