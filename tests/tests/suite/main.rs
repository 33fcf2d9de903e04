//! storenode's black-box tests, one binary: the real node, cloud-bridge,
//! brokers (rumqttd inside the node, Mosquitto, an RMQTT cluster) and a
//! headless Chromium, each started by the test that needs it on free
//! loopback ports. One module per area; `scripts/test.sh` runs them with
//! cargo-nextest, each test in its own process, several at once.
//!
//! One binary rather than one per file: each file linked the whole node,
//! the bridge and the browser driver again (23 links, minutes of a clean
//! CI run).
#![allow(clippy::unwrap_used)]

mod aarch64;
mod bad_input;
mod bopis;
mod clock;
mod config_cli;
mod crash;
mod damage;
mod data_dir;
mod deliveries;
mod disk;
mod hq_cluster;
mod http_fuzz;
mod idempotency;
mod packaging;
mod power;
mod rmqtt_cluster;
mod security;
mod seed_flow;
mod stock;
mod stock_sync;
mod sync;
mod sync_sim;
mod web;
