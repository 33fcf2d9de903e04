//! `storenode-rmqttd`: an RMQTT 0.24 broker node for the integration tests
//! (tests/src/rmqtt.rs), started as `rmqttd` starts one, with only the
//! plugins the tests use: rmqtt-cluster-raft, rmqtt-retainer (RAM storage)
//! and rmqtt-shared-subscription. Plain TCP listeners only.
//!
//! Same command line and config files as `rmqttd`:
//! `storenode-rmqttd -f rmqtt.toml --id 1`.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::Parser as _;
use rmqtt::args::CommandArgs;
use rmqtt::context::{
    CircuitBreakerConfig, CountBasedWindowConfig, ServerContext, TimeBasedWindowConfig,
    WindowConfig,
};
use rmqtt::net::Builder;
use rmqtt::node::Node;
use rmqtt::server::MqttServer;
use rmqtt_conf::listener::Listener;
use rmqtt_conf::logging::{Level, Log, To};
use rmqtt_conf::{Options, Settings};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        log::error!("{e:#}");
        eprintln!("storenode-rmqttd: {e:#}");
        std::process::exit(1);
    }
}

/// The rmqtt crate's own version (`Node::version()` is
/// `rmqtt/<version>-<build time>`).
fn rmqtt_version() -> String {
    let v = Node::version();
    let v = v.strip_prefix("rmqtt/").unwrap_or(&v);
    v.split('-').next().unwrap_or(v).to_string()
}

async fn run() -> anyhow::Result<()> {
    let opts = Options::parse();
    if opts.version {
        println!(
            "{} {} (rmqtt {})",
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            rmqtt_version()
        );
        return Ok(());
    }

    let conf = Settings::init(opts).context("reading the configuration")?;
    init_logger(&conf.log)?;

    let node = Node::new(
        conf.node.id,
        conf.node.busy.loadavg,
        conf.node.busy.cpuloadavg,
        conf.node.busy.update_interval,
    );
    log::info!(
        "Starting {} {} (rmqtt {}, rustc {})",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        rmqtt_version(),
        Node::rustc_version()
    );
    let _ = Settings::logs();

    let scx = ServerContext::new()
        .args(CommandArgs {
            node_id: conf.opts.node_id,
            plugins_default_startups: conf.opts.plugins_default_startups.clone(),
            node_grpc_addrs: conf.opts.node_grpc_addrs.clone(),
            raft_peer_addrs: conf.opts.raft_peer_addrs.clone(),
            raft_leader_id: conf.opts.raft_leader_id,
        })
        .node(node)
        .task_exec_workers(conf.task.exec_workers)
        .task_exec_queue_max(conf.task.exec_queue_max)
        .busy_check_enable(conf.node.busy.check_enable)
        .busy_handshaking_limit(conf.node.busy.handshaking)
        .mqtt_max_sessions(conf.mqtt.max_sessions)
        .plugins_config_dir(conf.plugins.dir.as_str())
        .circuit_breaker_config(circuit_breaker(conf))
        .build()
        .await;

    // The node's gRPC server: the other nodes forward publishes, kicks and
    // session takeovers to it.
    scx.node.start_grpc_server(
        scx.clone(),
        conf.rpc.server_addr,
        conf.rpc.reuseaddr,
        conf.rpc.reuseport,
    );

    register_plugins(
        &scx,
        &conf.plugins.default_startups,
        &conf.plugins.disabled_default_startups,
    )
    .await?;

    let listeners = &conf.listeners;
    if !(listeners.tlss.is_empty()
        && listeners.wss.is_empty()
        && listeners.wsss.is_empty()
        && listeners.quics.is_empty())
    {
        log::warn!(
            "only [listener.tcp.*] is supported: TLS, WebSocket and QUIC listeners are ignored"
        );
    }
    let mut server = MqttServer::new(scx);
    for cfg in listeners.tcps.values() {
        let listener = builder(cfg)
            .bind()
            .map_err(|e| anyhow!("binding the TCP listener on {}: {e}", cfg.addr))?
            .tcp()?;
        server = server.listener(listener);
    }
    server.build().start();

    shutdown_signal().await;
    log::info!("shutting down");
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::process::exit(0);
}

/// Register the three plugins; a plugin starts when it is in
/// `[plugins] default_startups` and not in `disabled_default_startups`
/// (as rmqttd does for a plugin without `default_startup`). The cluster
/// plugin is immutable: it cannot be stopped once started.
async fn register_plugins(
    scx: &ServerContext,
    startups: &[String],
    disabled: &[String],
) -> anyhow::Result<()> {
    let start =
        |name: &str| startups.iter().any(|s| s == name) && !disabled.iter().any(|s| s == name);
    let name = "rmqtt-cluster-raft";
    rmqtt_cluster_raft::register_named(scx, name, start(name), true)
        .await
        .map_err(|e| anyhow!("registering the {name} plugin: {e}"))?;
    let name = "rmqtt-retainer";
    rmqtt_retainer::register_named(scx, name, start(name), false)
        .await
        .map_err(|e| anyhow!("registering the {name} plugin: {e}"))?;
    let name = "rmqtt-shared-subscription";
    rmqtt_shared_subscription::register_named(scx, name, start(name), false)
        .await
        .map_err(|e| anyhow!("registering the {name} plugin: {e}"))?;
    for name in startups {
        if ![
            "rmqtt-cluster-raft",
            "rmqtt-retainer",
            "rmqtt-shared-subscription",
        ]
        .contains(&name.as_str())
        {
            log::warn!("plugin {name} is not built into this broker: ignored");
        }
    }
    Ok(())
}

/// The gRPC client's circuit breaker, from `[circuit_breaker]`.
fn circuit_breaker(conf: &Settings) -> CircuitBreakerConfig {
    let cb = &conf.circuit_breaker;
    let window = if cb.sliding_window_type == "CountBased" {
        WindowConfig::CountBased(CountBasedWindowConfig {
            sliding_window_size: cb.sliding_window_size,
        })
    } else {
        WindowConfig::TimeBased(TimeBasedWindowConfig {
            sliding_window_duration: cb.sliding_window_duration,
            sliding_window_size: cb.sliding_window_size,
        })
    };
    CircuitBreakerConfig {
        failure_rate_threshold: cb.failure_rate_threshold,
        window,
        minimum_number_of_calls: cb.minimum_number_of_calls,
        wait_duration_in_open: cb.wait_duration_in_open,
        slow_call_duration_threshold: cb.slow_call_duration_threshold,
        slow_call_rate_threshold: cb.slow_call_rate_threshold,
        name: "grpc".into(),
    }
}

/// A TCP listener's settings, from `[listener.tcp.<name>]`.
fn builder(cfg: &Listener) -> Builder {
    Builder::new()
        .name(cfg.name.as_str())
        .laddr(cfg.addr)
        .max_connections(cfg.max_connections)
        .max_handshaking_limit(cfg.max_handshaking_limit)
        .max_packet_size(cfg.max_packet_size.as_u32())
        .backlog(cfg.backlog)
        .nodelay(cfg.nodelay)
        .reuseaddr(cfg.reuseaddr)
        .reuseport(cfg.reuseport)
        .tcp_keepalive(cfg.tcp_keepalive)
        .allow_anonymous(cfg.allow_anonymous)
        .min_keepalive(cfg.min_keepalive)
        .max_keepalive(cfg.max_keepalive)
        .allow_zero_keepalive(cfg.allow_zero_keepalive)
        .keepalive_backoff(cfg.keepalive_backoff)
        .max_inflight(cfg.max_inflight)
        .handshake_timeout(cfg.handshake_timeout)
        .max_mqueue_len(cfg.max_mqueue_len)
        .mqueue_rate_limit(cfg.mqueue_rate_limit.0, cfg.mqueue_rate_limit.1)
        .max_clientid_len(cfg.max_clientid_len)
        .max_qos_allowed(cfg.max_qos_allowed)
        .max_topic_levels(cfg.max_topic_levels)
        .session_expiry_interval(cfg.session_expiry_interval)
        .max_session_expiry_interval(cfg.max_session_expiry_interval)
        .message_retry_interval(cfg.message_retry_interval)
        .message_expiry_interval(cfg.message_expiry_interval)
        .max_subscriptions(cfg.max_subscriptions)
        .max_topic_aliases(cfg.max_topic_aliases)
        .limit_subscription(cfg.limit_subscription)
        .proxy_protocol(cfg.proxy_protocol)
        .proxy_protocol_timeout(cfg.proxy_protocol_timeout)
        .idle_timeout(cfg.idle_timeout)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// A plain `log` logger for `[log]`: `to` = console (stdout), file or both,
/// at `level`, one line per record.
struct Logger {
    console: bool,
    file: Option<Mutex<std::fs::File>>,
}

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let line = format!(
            "{} {:5} {}: {}\n",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            record.level(),
            record.target(),
            record.args()
        );
        if self.console {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
        if let Some(f) = &self.file {
            if let Ok(mut f) = f.lock() {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }

    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

fn init_logger(cfg: &Log) -> anyhow::Result<()> {
    let level = match cfg.level {
        Level::Trace => log::LevelFilter::Trace,
        Level::Debug => log::LevelFilter::Debug,
        Level::Info => log::LevelFilter::Info,
        Level::Warn => log::LevelFilter::Warn,
        Level::Error => log::LevelFilter::Error,
    };
    let (console, file) = match cfg.to {
        To::Off => (false, false),
        To::Console => (true, false),
        To::File => (false, true),
        To::Both => (true, true),
    };
    let file = if file {
        let path = cfg.filename();
        if let Some(dir) = std::path::Path::new(&path).parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening the log file {path}"))?;
        Some(Mutex::new(f))
    } else {
        None
    };
    log::set_boxed_logger(Box::new(Logger { console, file }))
        .map_err(|e| anyhow!("installing the logger: {e}"))?;
    log::set_max_level(level);
    Ok(())
}
