//! Wires the parts; owns start-up and shutdown order.
//!
//! Start: validate config → open store → token → bind HTTP → broker (+
//! links) → writer thread → services → serve. Shutdown (SIGTERM/ctrl-c):
//! stop HTTP and intake → services settle and save checkpoints → the writer
//! drains its queue and flushes → exit 0. rumqttd has no stop API: its
//! threads end with the process.
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttd::local::{LinkRx, LinkTx};

use crate::broker::{self, BrokerError};
use crate::config::{Config, LogFormat};
use crate::data_dir::{api_token, open_store, pickup_keys, pin_hasher, DataDirError};
use crate::metrics::Metrics;
use crate::services::{self, consumer::Consumer, intake::Intake};
use crate::shutdown::{self, Shutdown};
use crate::store::writer::EventSink;
use crate::store::{Store, StoreError, Writer};
use crate::web::{self, AppState};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data_dir {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("http.listen {addr}: cannot listen: {reason}")]
    HttpBind { addr: SocketAddr, reason: String },
    #[error("the store writer stopped: {0}")]
    Writer(String),
    #[error("device CA: {0}")]
    Pki(#[from] crate::pki::PkiError),
}

impl From<DataDirError> for StartError {
    fn from(e: DataDirError) -> Self {
        match e {
            DataDirError::Dir { path, reason } => StartError::DataDir { path, reason },
            DataDirError::Store(e) => StartError::Store(e),
        }
    }
}

/// Install the log subscriber: JSON when stdout is not a terminal. rumqttd's
/// own lines go through [`crate::broker::log`] (counted, at most one per
/// kind every 10 s) unless `level` names `rumqttd`.
pub fn init_tracing(level: &str, format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::filter::{filter_fn, FilterExt as _};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let show_rumqttd = level.contains("rumqttd");
    // rumqttd logs every connection at info; keep it at warn unless asked.
    let filter = if show_rumqttd {
        level.to_string()
    } else {
        format!("{level},rumqttd=warn")
    };
    let env = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let shown = env.and(filter_fn(move |m| {
        show_rumqttd || !crate::broker::log::is_rumqttd(m)
    }));
    let broker = crate::broker::log::BrokerLog::default().with_filter(filter_fn(|m| {
        crate::broker::log::is_rumqttd(m) && *m.level() <= tracing::Level::WARN
    }));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let registry = tracing_subscriber::registry().with(broker);
    let _ = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_filter(shown),
            )
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_filter(shown))
            .try_init()
    };
}

/// The names of the in-process broker links, one per part.
const LINKS: [&str; 6] = [
    "writer",
    "intake",
    "order",
    "fulfillment",
    "notification",
    services::deliveries::NAME,
];

/// Publishes durable events through the writer's broker link, and hands
/// each durable group to the staff pages' live feed.
struct LinkSink {
    tx: LinkTx,
    // Kept alive so the router keeps the link; nothing is subscribed.
    _rx: LinkRx,
    live: tokio::sync::broadcast::Sender<Arc<Vec<protocol::Envelope>>>,
}

impl EventSink for LinkSink {
    /// Never blocks: `LinkTx::publish` waits when the broker's router
    /// channel is full, and the writer would stop acknowledging anything
    /// while the broker is busy. `try_publish` queues the message on the
    /// link and only its wake-up of the router can fail; it goes out with
    /// the next wake-up, and consumers catch up from the log in any case.
    fn publish(&mut self, topic: String, payload: Vec<u8>) {
        if let Err(e) = self.tx.try_publish(topic, payload) {
            tracing::debug!(error = %e, "broker busy; the event goes with the link's next wake-up");
        }
    }

    fn durable(&mut self, events: Vec<protocol::Envelope>) {
        // Moved, not copied: the writer is done with them.
        let _ = self.live.send(Arc::new(events));
    }
}

/// Run the node until SIGTERM or ctrl-c; with `demo`, seed a demo store
/// and keep a trickle of orders coming.
pub async fn run(config: Config, demo: bool) -> Result<(), StartError> {
    let (trigger, shutdown) = shutdown::channel();
    let signal = tokio::spawn(async move {
        shutdown::os_signal().await;
        trigger.fire();
    });
    let result = run_until(config, shutdown, demo).await;
    signal.abort();
    result
}

/// Run the node until `shutdown` fires.
pub async fn run_until(config: Config, shutdown: Shutdown, demo: bool) -> Result<(), StartError> {
    let started = Instant::now();
    let store = open_store(&config)?;
    let (token, token_file) = api_token(&config)?;
    let rules = services::commands::Rules {
        keys: Arc::new(pickup_keys(&config)?),
        policy: config.policy,
    };
    let pins = pin_hasher(&config)?;
    let metrics = Arc::new(Metrics::new());
    metrics.log_head.set(store.head() as i64);
    let live = web::live::Live::new();

    let http = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .map_err(|e| StartError::HttpBind {
            addr: config.http_listen,
            reason: e.to_string(),
        })?;
    let http_addr = http.local_addr().map_err(|e| StartError::HttpBind {
        addr: config.http_listen,
        reason: e.to_string(),
    })?;

    match crate::net::raise_open_files_limit() {
        Ok((before, after)) if after > before => {
            tracing::info!(before, after, "open-files limit raised to the hard limit")
        }
        Ok((before, _)) => tracing::debug!(limit = before, "open-files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot read or raise the open-files limit"),
    }
    let ca = Arc::new(crate::pki::NodeCa::open(
        &config.data_dir,
        config.store_id.as_str(),
    )?);
    let tls_files = match config.mqtt_tls_listen {
        Some(_) => Some(ca.server_files(&crate::pki::server_names(&config.mqtt_tls_names))?),
        None => None,
    };
    let https = match &config.http_tls {
        crate::config::HttpTls::Off => None,
        crate::config::HttpTls::NodeCa => {
            let mut names = crate::pki::server_names(&config.http_hostnames);
            for n in &config.mqtt_tls_names {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
            let ip = config.http_listen.ip();
            if !ip.is_unspecified() && !names.contains(&ip.to_string()) {
                names.push(ip.to_string());
            }
            let files = ca.https_files(&names)?;
            Some(crate::pki::https_config(&files.cert, &files.key)?)
        }
        crate::config::HttpTls::Files { cert, key } => Some(crate::pki::https_config(cert, key)?),
    }
    .map(|c| tokio_rustls::TlsAcceptor::from(Arc::new(c)));
    if config.mqtt_insecure_plaintext_lan {
        tracing::warn!(
            listen = %config.mqtt_listen,
            "INSECURE: mqtt.insecure_plaintext_lan is set: the plaintext broker listener faces the network; its clients are confined to no namespace and send passwords in clear"
        );
    }
    let mut broker = broker::start(&config, store.clone(), metrics.clone(), &LINKS, tls_files)?;
    let mut link = |name: &'static str| {
        broker.take_link(name).ok_or_else(|| BrokerError::Link {
            name: name.to_string(),
            reason: "not made at start".into(),
        })
    };
    let writer_link = link("writer")?;
    let sink = LinkSink {
        tx: writer_link.tx,
        _rx: writer_link.rx,
        live: live.sender(),
    };
    let (writer, handle) = Writer::new(
        store.clone(),
        &config.data_dir.join("db"),
        sink,
        config.durability,
        config.max_batch,
        Duration::from_micros(config.linger_us),
        metrics.clone(),
    )?;
    // The writer's end, whether a clean close or a failed disk.
    let (writer_tx, mut writer_done) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer.run()));
            let _ = writer_tx.send(match result {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("writer thread panicked".to_string()),
            });
        })
        .map_err(|e| StartError::Writer(e.to_string()))?;

    let mut tasks = Vec::new();
    macro_rules! consumer {
        ($reactor:expr, $link:expr) => {{
            let c = Consumer::new(
                $reactor,
                store.clone(),
                handle.clone(),
                metrics.clone(),
                link($link)?,
            );
            let sd = shutdown.clone();
            let name = $link;
            tasks.push(tokio::spawn(services::supervise(
                name,
                metrics.clone(),
                shutdown.clone(),
                move || c.clone().run(sd.clone()),
            )));
        }};
    }
    consumer!(
        services::OrderService {
            keys: rules.keys.clone(),
            policy: rules.policy,
        },
        "order"
    );
    consumer!(services::FulfillmentService, "fulfillment");
    let deliveries = services::deliveries::Deliveries::new(
        store.clone(),
        metrics.clone(),
        link(services::deliveries::NAME)?,
    )?;
    {
        let (d, sd) = (deliveries.clone(), shutdown.clone());
        tasks.push(tokio::spawn(services::supervise(
            services::deliveries::NAME,
            metrics.clone(),
            shutdown.clone(),
            move || d.clone().run(sd.clone()),
        )));
    }
    consumer!(
        services::NotificationService {
            store: store.clone(),
            deliveries,
        },
        "notification"
    );
    {
        let (store, days) = (store.clone(), config.inbox_retention_days);
        tasks.push(tokio::spawn(every(
            Duration::from_secs(3600),
            move || prune_inbox(&store, days),
            shutdown.clone(),
        )));
    }
    let sync = Arc::new(crate::sync::SyncStatus::new(config.cloud.as_ref()));
    if config.cloud.is_some() {
        // HQ hears availability only over the cloud link.
        let (store, writer, link) = (store.clone(), handle.clone(), sync.clone());
        let (window, sd) = (
            Duration::from_millis(config.availability_window_ms),
            shutdown.clone(),
        );
        tasks.push(tokio::spawn(services::supervise(
            crate::sync::availability::NAME,
            metrics.clone(),
            shutdown.clone(),
            move || {
                crate::sync::availability::run(
                    store.clone(),
                    writer.clone(),
                    window,
                    link.clone(),
                    sd.clone(),
                )
            },
        )));
    }
    match &config.cloud {
        Some(cloud) => {
            let agent = crate::sync::agent::Agent {
                store: store.clone(),
                writer: handle.clone(),
                metrics: metrics.clone(),
                rules: rules.clone(),
                config: cloud.clone(),
                status: sync.clone(),
            };
            let sd = shutdown.clone();
            tasks.push(tokio::spawn(services::supervise(
                crate::sync::agent::NAME,
                metrics.clone(),
                shutdown.clone(),
                move || agent.clone().run(sd.clone()),
            )));
        }
        None => tracing::info!(
            "no [cloud] configured: offline only; the log keeps everything for HQ until a cloud link is set"
        ),
    }
    let intake = Intake::new(
        store.clone(),
        handle.clone(),
        metrics.clone(),
        link("intake")?,
        rules.clone(),
    );
    {
        let timers = services::timers::Timers {
            store: store.clone(),
            writer: handle.clone(),
            expiry_ms: config.pickup_expiry_s * 1000,
            remind_ms: config.pickup_reminder_s * 1000,
            payment_timeout_ms: config.payment_timeout_s * 1000,
        };
        let sd = shutdown.clone();
        tasks.push(tokio::spawn(services::supervise(
            services::timers::NAME,
            metrics.clone(),
            shutdown.clone(),
            move || timers.clone().run(sd.clone()),
        )));
    }
    {
        let sd = shutdown.clone();
        tasks.push(tokio::spawn(services::supervise(
            services::intake::NAME,
            metrics.clone(),
            shutdown.clone(),
            move || intake.clone().run(sd.clone()),
        )));
    }

    if demo {
        let staff = crate::demo::seed_staff(&handle, &store, &rules, &pins).await;
        crate::demo::announce_staff(&staff);
        tasks.push(tokio::spawn(crate::demo::run(
            handle.clone(),
            store.clone(),
            rules.clone(),
            staff,
            shutdown.clone(),
        )));
    }

    let sessions = Arc::new(web::auth::Sessions::new(
        store.clone(),
        pins.clone(),
        metrics.clone(),
        config.session_idle_s,
        config.session_max_s,
    ));
    {
        let sessions = sessions.clone();
        tasks.push(tokio::spawn(every(
            Duration::from_secs(600),
            move || prune_sessions(&sessions),
            shutdown.clone(),
        )));
    }
    let state = AppState {
        store: store.clone(),
        writer: handle.clone(),
        metrics: metrics.clone(),
        token: token.clone().into(),
        started,
        max_body_bytes: config.http_max_body_bytes,
        rules: rules.clone(),
        sessions,
        messages: config.web_messages.clone(),
        clock: web::time::StoreClock::new(config.web_time_zone.clone()),
        live,
        today: Arc::default(),
        pickup_default: crate::domain::inventory::PickupTimes {
            expiry_s: config.pickup_expiry_s,
            reminder_s: config.pickup_reminder_s,
        },
        tls: https.is_some(),
        flashes: Arc::default(),
        sync,
        hostnames: config.http_hostnames.clone().into(),
        metrics_open: config.http_metrics_open,
        ca: ca.clone(),
        device_broker: broker.tls_addr,
        broker_listeners: std::iter::once(broker.addr)
            .chain(broker.tls_addr)
            .collect(),
        data_dir: config.data_dir.as_path().into(),
    };
    tasks.push(tokio::spawn(web::live::feed(
        state.clone(),
        shutdown.clone(),
    )));
    let limits = web::serve::Limits {
        caps: crate::net::Caps {
            total: config.http_max_connections,
            per_client: config.http_max_connections_per_client,
        },
        header_timeout: Duration::from_secs(config.http_header_timeout_s),
        tls: https.clone(),
    };
    let server = tokio::spawn(web::serve::serve(
        http,
        web::app(state),
        limits,
        metrics.clone(),
        shutdown.clone(),
    ));

    announce(
        &config,
        https.is_some(),
        http_addr,
        broker.addr,
        broker.tls_addr,
        token_file.as_deref(),
        store.head(),
        started,
    );

    // Run until the signal; then drain in order, within the grace period.
    // If the disk fails, stop at once (fail-stop): nothing more can be
    // acknowledged, and a supervisor (systemd) restarts the node, which
    // recovers from the log.
    let mut sd = shutdown.clone();
    tokio::select! {
        _ = sd.fired() => {}
        result = &mut writer_done => {
            let reason = match result {
                Ok(Err(e)) => e,
                _ => "stopped unexpectedly".to_string(),
            };
            tracing::error!(error = %reason, "the store writer failed; stopping the node");
            return Err(StartError::Writer(reason));
        }
    }
    let grace = Duration::from_millis(config.shutdown_grace_ms);
    let drain = async {
        let _ = server.await;
        for t in tasks {
            let _ = t.await;
        }
    };
    if tokio::time::timeout(grace, drain).await.is_err() {
        tracing::warn!(
            grace_ms = config.shutdown_grace_ms,
            "drain took longer than the grace period; flushing what is queued"
        );
    }
    // The final flush gets its own bounded wait: a stalled disk must not
    // hold the process past its supervisor's patience. Nothing already
    // acknowledged depends on it.
    let finish = async {
        handle.close().await;
        writer_done.await
    };
    match tokio::time::timeout(grace.max(Duration::from_secs(1)), finish).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(StartError::Writer(e)),
        Ok(Err(_)) => return Err(StartError::Writer("writer thread vanished".into())),
        Err(_) => {
            return Err(StartError::Writer(
                "the final flush did not finish within the grace period".into(),
            ))
        }
    }
    tracing::info!(head = store.head(), "storenode stopped cleanly");
    Ok(())
}

/// Run `job` on the blocking pool at start and then every `period`, until
/// shutdown (housekeeping that reads the whole store).
async fn every<F>(period: Duration, job: F, mut shutdown: Shutdown)
where
    F: Fn() + Clone + Send + 'static,
{
    loop {
        if let Err(e) = tokio::task::spawn_blocking(job.clone()).await {
            tracing::warn!(error = %e, "housekeeping task failed");
        }
        tokio::select! {
            _ = shutdown.fired() => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}

/// Forget expired staff sessions (and those of disabled accounts).
fn prune_sessions(sessions: &web::auth::Sessions) {
    let n = sessions.prune();
    if n > 0 {
        tracing::info!(ended = n, "ended expired staff sessions");
    }
}

/// Forget command ids older than the retention.
fn prune_inbox(store: &Store, days: u64) {
    let cutoff = crate::store::now_ms().saturating_sub(days * 86_400_000);
    match store.prune_inbox(cutoff) {
        Ok(0) => {}
        Ok(n) => tracing::info!(dropped = n, days, "forgot old command ids"),
        Err(e) => tracing::warn!(error = %e, "pruning the command inbox failed"),
    }
}

#[allow(clippy::too_many_arguments)]
fn announce(
    config: &Config,
    https: bool,
    http: SocketAddr,
    mqtt: SocketAddr,
    mqtts: Option<SocketAddr>,
    token_file: Option<&Path>,
    head: u64,
    started: Instant,
) {
    tracing::info!(
        store_id = %config.store_id,
        http = %http,
        mqtt = %mqtt,
        mqtts = %mqtts.map_or("none".to_string(), |a| a.to_string()),
        data_dir = %config.data_dir.display(),
        log_head = head,
        start_ms = started.elapsed().as_millis() as u64,
        "storenode ready"
    );
    let mut out = std::io::stdout().lock();
    let scheme = if https { "https" } else { "http" };
    let _ = writeln!(out, "storenode ready: store {}", config.store_id);
    let _ = writeln!(
        out,
        "  staff pages  {scheme}://{http}/  (log in with a staff id and PIN; first manager: storenode staff add NAME --role manager)"
    );
    let _ = writeln!(
        out,
        "  staff API    {scheme}://{http}/api/v1/  (health /healthz, metrics /metrics)"
    );
    match mqtts {
        Some(a) => {
            let _ = writeln!(
                out,
                "  device TLS   mqtts://{a}  (add a device: storenode device add NAME --kind KIND)"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  device TLS   none (set mqtt.tls_listen to serve the store's devices)"
            );
        }
    }
    let _ = writeln!(
        out,
        "  device MQTT  mqtt://{mqtt}  (plaintext, this machine's tools)"
    );
    let _ = writeln!(out, "  data         {}", config.data_dir.display());
    match &config.cloud {
        Some(c) => {
            let _ = writeln!(
                out,
                "  cloud link   {}  (store {} syncs with HQ)",
                c.url, config.store_id
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  cloud link   none: offline only (set [cloud] url to sync with HQ)"
            );
        }
    }
    match token_file {
        Some(p) => {
            // The token itself stays out of stdout, which is the journal.
            let _ = writeln!(
                out,
                "  API token    new, saved to {} (mode 0600: read it there)",
                p.display()
            );
        }
        None if config.api_token.is_some() => {
            let _ = writeln!(out, "  API token    from configuration");
        }
        None => {
            let _ = writeln!(
                out,
                "  API token    in {}",
                config.data_dir.join("api-token").display()
            );
        }
    }
    let _ = out.flush();
}
