//! `cloud-bridge`: the HQ side of storenode.
//!
//! Stateless instances on the chain's cloud broker (MQTT 3.1.1 or 5 with
//! shared subscriptions: Mosquitto 2, EMQX, HiveMQ, VerneMQ):
//! - [`ingest`]: every store's log in, as a share of `stores/+/up`,
//!   delivered to the cloud order service as signed CloudEvents
//!   ([`webhook`]), acknowledged to the store after a 2xx;
//! - [`hq`]: HQ's API (commands to stores, their status, the fleet) and
//!   the fleet page; [`fleet`]: what they read, rebuilt from the broker;
//! - [`broker`]: `--embedded-broker` for a one-machine trial.
//!
//! docs/sync.md explains the protocol; docs/hq-api.yaml the API.
#![forbid(unsafe_code)]

pub mod broker;
pub mod fleet;
pub mod hq;
pub mod ingest;
pub mod metrics;
pub mod view;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use protocol::link::CloudUrl;

/// Where deliveries go.
#[derive(Clone)]
pub enum Delivery {
    /// POST to the cloud order service, signed with `secret`.
    Webhook {
        url: String,
        secret: webhook::Secret,
    },
    /// One CloudEvent per line on stdout (a trial, or a pipe into a tool).
    Stdout,
}

/// One instance's settings.
#[derive(Clone)]
pub struct BridgeConfig {
    pub broker: CloudUrl,
    /// The cluster's other nodes (`--broker` lists them after the first):
    /// tried in turn when one fails.
    pub other_brokers: Vec<CloudUrl>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub credentials: Option<(String, String)>,
    /// The shared-subscription group; instances in one group split the stores.
    pub group: String,
    /// This instance's name (its MQTT client id is `cloud-bridge-{instance}`).
    pub instance: String,
    pub delivery: Delivery,
    pub http_listen: SocketAddr,
    /// Bearer token of the HQ API.
    pub token: String,
    /// Most store batches delivered at once.
    pub max_parallel: usize,
    /// An HQ command (sent by any instance) its store has not answered is
    /// published again after this long (then after twice as long, up to
    /// 10 min) while the store is online, by the first instance whose pause
    /// runs out: a broker that lost it (a cluster node that held the
    /// store's session died) gets another copy; the store applies a
    /// command id once.
    pub command_resend_ms: u64,
}

/// What the parts of one instance share.
pub struct Shared {
    pub config: BridgeConfig,
    pub http: reqwest::Client,
    pub fleet: fleet::Fleet,
    pub commands: fleet::Commands,
    /// Availability and order outcomes (see [`view`]).
    pub view: view::View,
    pub metrics: metrics::Metrics,
    /// Whether the connection to the cloud broker is up.
    pub broker_up: std::sync::atomic::AtomicBool,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Run one instance until `shutdown` turns true: ingest and the HQ API.
pub async fn run(
    config: BridgeConfig,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let shared = Arc::new(Shared {
        config: config.clone(),
        http,
        fleet: fleet::Fleet::default(),
        commands: fleet::Commands::default(),
        view: view::View::default(),
        metrics: metrics::Metrics::new(),
        broker_up: false.into(),
    });
    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .map_err(|e| anyhow::anyhow!("--http {}: cannot listen: {e}", config.http_listen))?;
    let http_addr = listener.local_addr()?;
    let (client, events, brokers) = ingest::client(&config);
    let hq = hq::Hq {
        shared: shared.clone(),
        client: client.clone(),
        clock: Arc::default(),
    };
    let mut web_shutdown = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, hq::app(hq))
            .with_graceful_shutdown(async move {
                let _ = web_shutdown.changed().await;
            })
            .await
    });
    tracing::info!(
        instance = config.instance,
        broker = %config.broker,
        group = config.group,
        http = %http_addr,
        "cloud-bridge ready"
    );
    println!("cloud-bridge ready: instance {} broker {} HQ API http://{http_addr}/api/v1/ fleet page http://{http_addr}/", config.instance, config.broker);
    let resender = tokio::spawn(resend_unanswered(shared.clone(), client.clone()));
    ingest::run(shared, client.clone(), events, brokers, shutdown).await;
    resender.abort();
    let _ = client.try_disconnect();
    let _ = server.await;
    Ok(())
}

/// Publish again the commands whose stores are online and have not
/// answered (see [`BridgeConfig::command_resend_ms`]).
async fn resend_unanswered(shared: Arc<Shared>, client: rumqttc::AsyncClient) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        shared
            .metrics
            .commands_unanswered
            .set(shared.commands.unanswered() as i64);
        if !shared.broker_up.load(std::sync::atomic::Ordering::Acquire) {
            continue;
        }
        for (store, payload) in shared
            .commands
            .due(now_ms(), |store| shared.fleet.online_since(store))
        {
            let Ok(store) = protocol::StoreId::new(&store) else {
                continue;
            };
            tracing::info!(store = %store, "HQ command unanswered; publishing it again");
            shared.metrics.commands_resent.inc();
            let publish = client.publish(
                protocol::topic::sync_down(&store),
                rumqttc::QoS::AtLeastOnce,
                false,
                payload,
            );
            if tokio::time::timeout(Duration::from_secs(5), publish)
                .await
                .is_err()
            {
                break;
            }
        }
    }
}
