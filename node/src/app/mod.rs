//! Wires the parts; owns start-up and shutdown order.
//!
//! Start: validate config → open store → token → bind HTTP → broker (+
//! links) → writer thread → services → serve. Shutdown (SIGTERM/ctrl-c):
//! stop HTTP and intake → services settle and save checkpoints → the writer
//! drains its queue and flushes → exit 0. rumqttd has no stop API: its
//! threads end with the process. The start-up steps are in [`start`].
mod start;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::broker::BrokerError;
use crate::config::{Config, LogFormat};
use crate::data_dir::{api_token, open_store, pickup_keys, pin_hasher, DataDirError};
use crate::metrics::Metrics;
use crate::services;
use crate::shutdown::{self, Shutdown};
use crate::store::{Store, StoreError, WriterHandle};
use crate::web;
use start::{
    bind_http, raise_open_files_limit, start_broker, start_demo, start_intake, start_services,
    start_sync, start_tls, start_web, start_writer, take_link, WebParts,
};

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

    let (http, http_addr) = bind_http(&config).await?;
    raise_open_files_limit();
    let tls = start_tls(&config)?;
    let mut broker = start_broker(&config, &store, &metrics, tls.broker_files).await?;
    let (handle, writer_done) = start_writer(
        &config,
        &store,
        &metrics,
        take_link(&mut broker, "writer")?,
        &live,
    )?;

    let p = Parts {
        config: &config,
        store: &store,
        writer: &handle,
        metrics: &metrics,
        rules: &rules,
        shutdown: &shutdown,
    };
    let mut tasks = Vec::new();
    start_services(&p, &mut broker, &mut tasks)?;
    let sync = start_sync(&p, &mut tasks);
    start_intake(&p, &mut broker, &mut tasks)?;
    if demo {
        start_demo(&p, &pins, &mut tasks).await;
    }
    let web = WebParts {
        http,
        token,
        started,
        live,
        pins,
        sync,
        ca: tls.ca,
        https: tls.https,
    };
    let https = web.https.is_some();
    let server = start_web(&p, web, &broker, &mut tasks);

    announce(
        &config,
        https,
        http_addr,
        broker.addr,
        broker.tls_addr,
        token_file.as_deref(),
        store.head(),
        started,
    );
    wait_and_drain(&p, server, tasks, writer_done).await
}

/// What every part is started with.
struct Parts<'a> {
    config: &'a Config,
    store: &'a Store,
    writer: &'a WriterHandle,
    metrics: &'a Arc<Metrics>,
    rules: &'a services::commands::Rules,
    shutdown: &'a Shutdown,
}

type Tasks = Vec<tokio::task::JoinHandle<()>>;

/// The writer thread's end: a clean close or a failed disk.
type WriterDone = tokio::sync::oneshot::Receiver<Result<(), String>>;

/// Run until the signal; then drain in order, within the grace period.
/// If the disk fails, stop at once (fail-stop): nothing more can be
/// acknowledged, and a supervisor (systemd) restarts the node, which
/// recovers from the log.
async fn wait_and_drain(
    p: &Parts<'_>,
    server: tokio::task::JoinHandle<()>,
    tasks: Tasks,
    mut writer_done: WriterDone,
) -> Result<(), StartError> {
    let config = p.config;
    let mut sd = p.shutdown.clone();
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
        p.writer.close().await;
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
    tracing::info!(head = p.store.head(), "storenode stopped cleanly");
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
    print_ready(config, https, http, mqtt, mqtts, token_file);
}

/// Where to reach the node, on stdout for whoever started it.
fn print_ready(
    config: &Config,
    https: bool,
    http: SocketAddr,
    mqtt: SocketAddr,
    mqtts: Option<SocketAddr>,
    token_file: Option<&Path>,
) {
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
