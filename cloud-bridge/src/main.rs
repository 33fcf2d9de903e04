//! `cloud-bridge`: see the library's documentation and docs/sync.md.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use cloud_bridge::{BridgeConfig, Delivery};
use protocol::link::CloudUrl;
use protocol::topic::{self, SyncTopic};

#[derive(Parser, Debug)]
#[command(
    name = "cloud-bridge",
    version,
    about = "HQ side of storenode: store streams to the cloud order service, HQ commands to the stores, the fleet view"
)]
struct Cli {
    /// Cloud broker URL, e.g. mqtts://broker.example:8883 (mqtt:// only on
    /// loopback or with --allow-plaintext), or a cluster's nodes,
    /// comma-separated (tried in turn when one fails).
    #[arg(long, env = "CLOUD_BRIDGE_BROKER", required_unless_present_any = ["embedded_broker", "print_topics"])]
    broker: Option<String>,
    /// Run a broker in this process on this address (a one-machine trial)
    /// and connect to it.
    #[arg(long, env = "CLOUD_BRIDGE_EMBEDDED_BROKER")]
    embedded_broker: Option<SocketAddr>,
    #[arg(long, env = "CLOUD_BRIDGE_ALLOW_PLAINTEXT")]
    allow_plaintext: bool,
    /// PEM CA file for the broker's certificate (default: the system's).
    #[arg(long, env = "CLOUD_BRIDGE_CA_FILE")]
    ca_file: Option<String>,
    /// PEM client certificate and key for the broker.
    #[arg(long, env = "CLOUD_BRIDGE_CERT_FILE", requires = "key_file")]
    cert_file: Option<String>,
    #[arg(long, env = "CLOUD_BRIDGE_KEY_FILE", requires = "cert_file")]
    key_file: Option<String>,
    #[arg(long, env = "CLOUD_BRIDGE_USERNAME", requires = "password")]
    username: Option<String>,
    #[arg(long, env = "CLOUD_BRIDGE_PASSWORD", requires = "username")]
    password: Option<String>,
    /// Shared-subscription group; instances in one group split the stores' streams.
    #[arg(long, default_value = "cloud-bridge", env = "CLOUD_BRIDGE_GROUP")]
    group: String,
    /// This instance's name, its MQTT client id `cloud-bridge-{name}`
    /// (default: a random one; the packaged service uses the host name).
    /// Restart a crashed instance under its name: a clustered broker may
    /// keep its turn in the shared group until it returns (docs/hq.md).
    #[arg(long, env = "CLOUD_BRIDGE_INSTANCE")]
    instance: Option<String>,
    /// The cloud order service's webhook (CloudEvents batches, signed).
    #[arg(long, env = "CLOUD_BRIDGE_WEBHOOK", required_unless_present_any = ["stdout", "print_topics"])]
    webhook: Option<String>,
    /// The Standard Webhooks secret (whsec_… or at least 16 characters).
    #[arg(long, env = "CLOUD_BRIDGE_WEBHOOK_SECRET", required_unless_present_any = ["stdout", "print_topics"])]
    webhook_secret: Option<String>,
    /// Print every CloudEvent as a JSON line instead of calling a webhook.
    #[arg(long, conflicts_with = "webhook")]
    stdout: bool,
    /// HQ API and fleet page listener.
    #[arg(long, default_value = "127.0.0.1:8090", env = "CLOUD_BRIDGE_HTTP")]
    http: SocketAddr,
    /// Bearer token of the HQ API (at least 16 characters; default: a new
    /// one, printed at start).
    #[arg(long, env = "CLOUD_BRIDGE_TOKEN")]
    token: Option<String>,
    /// Most store batches delivered at once.
    #[arg(long, default_value_t = 64, env = "CLOUD_BRIDGE_MAX_PARALLEL")]
    max_parallel: usize,
    /// Seconds after which an HQ command (any instance's) its online store
    /// has not answered is published again (doubling up to 10 min; the
    /// store applies a command once).
    #[arg(long, default_value_t = 30, env = "CLOUD_BRIDGE_COMMAND_RESEND_S")]
    command_resend_s: u64,
    /// Print the topic filters this instance subscribes to and exit.
    #[arg(long)]
    print_topics: bool,
}

fn config(cli: Cli) -> Result<BridgeConfig, String> {
    let mut brokers = match (&cli.broker, cli.embedded_broker) {
        (Some(b), None) => {
            protocol::link::parse_brokers(b).map_err(|e| format!("--broker {b}: {e}"))?
        }
        (None, Some(addr)) => {
            let addr = cloud_bridge::broker::start(addr).map_err(|e| e.to_string())?;
            vec![CloudUrl {
                tls: false,
                host: addr.ip().to_string(),
                port: addr.port(),
            }]
        }
        (Some(_), Some(_)) => {
            return Err("--broker and --embedded-broker exclude each other".into())
        }
        (None, None) => return Err("--broker (or --embedded-broker) is required".into()),
    };
    let broker = brokers.remove(0);
    let all_loopback = broker.is_loopback() && brokers.iter().all(CloudUrl::is_loopback);
    if !(broker.tls || all_loopback || cli.allow_plaintext) {
        return Err(format!("--broker {broker}: mqtt:// is unencrypted over the network; use mqtts:// (or --allow-plaintext on a trusted network)"));
    }
    let read = |flag: &str, p: &Option<String>| -> Result<Option<Vec<u8>>, String> {
        p.as_ref()
            .map(|p| std::fs::read(p).map_err(|e| format!("{flag} {p}: {e}")))
            .transpose()
    };
    let ca = read("--ca-file", &cli.ca_file)?;
    let cert = read("--cert-file", &cli.cert_file)?;
    let key = read("--key-file", &cli.key_file)?;
    let tls = if broker.tls {
        Some(
            protocol::link::tls_config(ca.as_deref(), cert.as_deref().zip(key.as_deref()))
                .map_err(|e| format!("TLS: {e}"))?,
        )
    } else {
        None
    };
    let delivery = if cli.stdout {
        Delivery::Stdout
    } else {
        let url = cli.webhook.ok_or("--webhook is required")?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "--webhook {url}: must be an http:// or https:// URL"
            ));
        }
        let secret = cli.webhook_secret.ok_or("--webhook-secret is required")?;
        let secret = cloud_bridge::webhook::Secret::new(&secret)
            .map_err(|e| format!("--webhook-secret: {e}"))?;
        Delivery::Webhook { url, secret }
    };
    let token = match cli.token {
        Some(t) if t.len() >= 16 && t.chars().all(|c| c.is_ascii_graphic()) => t,
        Some(_) => {
            return Err("--token: must be at least 16 printable characters without spaces".into())
        }
        None => {
            let t = ulid::Ulid::new().to_string().to_lowercase();
            println!("HQ API token (new, this run only; set --token to keep one): {t}");
            t
        }
    };
    if cli.command_resend_s == 0 {
        return Err("--command-resend-s: must be at least 1".into());
    }
    if cli.max_parallel == 0 {
        return Err("--max-parallel: must be at least 1".into());
    }
    Ok(BridgeConfig {
        broker,
        other_brokers: brokers,
        tls,
        credentials: cli.username.zip(cli.password),
        group: cli.group,
        instance: cli
            .instance
            .unwrap_or_else(|| ulid::Ulid::new().to_string().to_lowercase()),
        delivery,
        http_listen: cli.http,
        token,
        max_parallel: cli.max_parallel,
        command_resend_ms: cli.command_resend_s.saturating_mul(1000),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLOUD_BRIDGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rumqttd=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if cli.print_topics {
        for t in [
            topic::sync_shared(&cli.group, SyncTopic::Up),
            topic::sync_all(SyncTopic::Status),
            topic::sync_all(SyncTopic::Reply),
            topic::sync_all(SyncTopic::Down),
            topic::sync_all(SyncTopic::View),
            topic::sync_all(SyncTopic::Ack),
        ] {
            println!("{t}");
        }
        return ExitCode::SUCCESS;
    }
    // TLS (broker and webhook) uses ring: no C toolchain to cross-build.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cloud-bridge: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let config = config(cli)?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        // SIGTERM (systemd, docker) or ctrl-c: stop taking batches; what
        // is unacknowledged is sent again by its store.
        tokio::spawn(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                match signal(SignalKind::terminate()) {
                    Ok(mut term) => {
                        tokio::select! {
                            _ = term.recv() => {}
                            _ = tokio::signal::ctrl_c() => {}
                        }
                    }
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            let _ = tx.send(true);
        });
        cloud_bridge::run(config, rx)
            .await
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cloud-bridge: {e}");
            ExitCode::from(2)
        }
    }
}
