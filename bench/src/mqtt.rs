//! Scenario: QoS1 throughput of the embedded broker (authentication on)
//! over its plaintext listener and over its TLS device listener (mutual
//! TLS, the device confined to its namespace), against Mosquitto started by
//! the bench without and with TLS (client certificates required), same
//! client and message size, same run; and the time a device takes to
//! connect (TCP, TLS handshake, MQTT CONNECT/CONNACK) on each.
//!
//! Load, identical for every broker: two publishers publish QoS1 on
//! `/tenants/benchdevice/qos1/{n}` (the namespace of the bench's device, so
//! that the TLS listener allows it) as fast as the client lets them
//! (rumqttc 0.25 through the test harness: 100 in flight, 1024 queued
//! requests), one subscriber holds a QoS1 subscription to
//! `/tenants/benchdevice/qos1/+` and counts. After a 1 s warm-up, messages
//! received by the subscriber are counted for `seconds`. Then the
//! publishers stop and the subscriber drains, so a broker that drops QoS1
//! messages shows up as `lost`, not as a higher rate.
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use storenode_tests::Mqtt;
use tempfile::TempDir;

use crate::common::{self, r3};
use crate::floor::Fill;

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const PUBLISHERS: usize = 2;
const WARM_UP: Duration = Duration::from_secs(1);
/// Outgoing QoS1 window per client in Mosquitto: the embedded broker's
/// `max_inflight_count`, so both brokers may have as many un-acked
/// messages towards the subscriber.
const MOSQUITTO_INFLIGHT: u32 = 100;
/// The bench device's name and namespace.
const DEVICE: &str = "bench-device";
const PREFIX: &str = "/tenants/benchdevice/qos1";
/// Connects timed per listener.
const CONNECTS: usize = 30;

/// Run the comparison; a JSON object with both figures and their ratio.
pub async fn run(seconds: u64, message_bytes: usize) -> Result<Value> {
    if seconds == 0 {
        bail!("seconds must be at least 1");
    }
    let load_before = crate::floor::load_average();
    let mut payload = vec![0u8; message_bytes];
    Fill::new().bytes(&mut payload);

    let (embedded, tls, cursor_jumps, connect_plain, connect_tls, rss) = {
        let (_dir, node) = common::start_node("fdatasync").await?;
        let rss_idle = common::rss_mb(node.pid());
        // One device; each client connects with its own client id.
        let creds = node.add_tls_device(DEVICE, "scanner").await?;
        let plain = Way::Plain {
            user: creds.name.clone(),
            password: creds.password.clone(),
        };
        let embedded = measure(node.mqtt, &plain, seconds, &payload)
            .await
            .context("embedded broker")?;
        let connect_plain = connect_times(node.mqtt, &plain).await?;
        let tls_way = Way::Tls {
            login: Some((creds.name.clone(), creds.password.clone())),
            ca: creds.ca_pem.clone(),
            cert: creds.cert_pem.clone(),
            key: creds.key_pem.clone(),
        };
        let tls = measure(node.mqtts, &tls_way, seconds, &payload)
            .await
            .context("embedded broker over TLS")?;
        let connect_tls = connect_times(node.mqtts, &tls_way).await?;
        // rumqttd logs (at warn) each time a subscriber's read cursor is
        // moved past segments it dropped: the evidence for `broker_lost`.
        let cursor_jumps = node.logs().matches("Read cursor start jumped").count();
        // What the broker's buffers cost: resident now (both runs' topics
        // still buffered) and at the peak.
        let rss = json!({
            "before_mb": rss_idle.map(r3),
            "after_mb": common::rss_mb(node.pid()).map(r3),
            "peak_mb": common::peak_rss_mb(node.pid()).map(r3),
        });
        // The node stops here, before Mosquitto starts.
        (embedded, tls, cursor_jumps, connect_plain, connect_tls, rss)
    };

    let mut out = json!({
        "scenario": "broker",
        "message_bytes": message_bytes,
        "seconds": seconds,
        "publishers": PUBLISHERS,
        "subscribers": 1,
        "broker_qos1_msgs_per_s": embedded.received_per_s.round(),
        "broker_published_per_s": embedded.published_per_s.round(),
        "broker_lost": embedded.lost,
        "broker_lost_fraction": embedded.lost_fraction(),
        "broker_cursor_jumps": cursor_jumps,
        "node_rss": rss,
        // The node's per-subscription buffer for this run (its default
        // unless STORENODE_MQTT_SUBSCRIBER_BUFFER_KIB is set).
        "subscriber_buffer_kib": std::env::var("STORENODE_MQTT_SUBSCRIBER_BUFFER_KIB").ok(),
        "broker_tls_qos1_msgs_per_s": tls.received_per_s.round(),
        "broker_tls_published_per_s": tls.published_per_s.round(),
        "broker_tls_lost": tls.lost,
        "broker_tls_lost_fraction": tls.lost_fraction(),
        "ratio_tls_to_plain": r3(tls.received_per_s / embedded.received_per_s.max(1.0)),
        "connect_ms_plain": connect_plain,
        "connect_ms_tls": connect_tls,
        // The load generator is this program: a debug build (plain
        // `cargo run`) caps the client, and so both brokers, lower.
        "client_build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "mosquitto_qos1_msgs_per_s": null,
        "mosquitto_published_per_s": null,
        "ratio_embedded_to_mosquitto": null,
    });

    if embedded.lost > 0 {
        out["broker_note"] = json!(format!(
            "the embedded broker acknowledged QoS1 publishes faster than it delivered them and \
             dropped {} of {} for the subscriber ({} read-cursor jumps: rumqttd drops a slow \
             subscriber's backlog when its segments roll); broker_qos1_msgs_per_s counts \
             only delivered messages",
            embedded.lost, embedded.published_total, cursor_jumps
        ));
    }

    match Mosquitto::start(None) {
        Ok(mosquitto) => {
            let way = Way::Plain {
                user: "unused".into(),
                password: "unused".into(),
            };
            let figures = measure(mosquitto.addr, &way, seconds, &payload)
                .await
                .with_context(|| format!("mosquitto\n{}", mosquitto.log()))?;
            out["mosquitto_qos1_msgs_per_s"] = json!(figures.received_per_s.round());
            out["mosquitto_published_per_s"] = json!(figures.published_per_s.round());
            out["mosquitto_lost"] = json!(figures.lost);
            out["mosquitto_lost_fraction"] = json!(figures.lost_fraction());
            out["mosquitto_version"] = json!(mosquitto.version);
            out["mosquitto_config"] = json!(mosquitto.config);
            if figures.received_per_s > 0.0 {
                out["ratio_embedded_to_mosquitto"] =
                    json!(r3(embedded.received_per_s / figures.received_per_s));
            }
        }
        Err(e) => out["mosquitto_note"] = json!(format!("not measured: {e:#}")),
    }
    let pki_dir = tempfile::tempdir()?;
    let pki = storenode_tests::cloud::TestPki::new(pki_dir.path(), "bench")?;
    let (client_cert, client_key) = pki.issue("bench-device", "client")?;
    match Mosquitto::start(Some(&pki.files)) {
        Ok(mosquitto) => {
            let way = Way::Tls {
                login: None,
                ca: std::fs::read_to_string(&pki.files.ca)?,
                cert: std::fs::read_to_string(&client_cert)?,
                key: std::fs::read_to_string(&client_key)?,
            };
            let figures = measure(mosquitto.addr, &way, seconds, &payload)
                .await
                .with_context(|| format!("mosquitto over TLS\n{}", mosquitto.log()))?;
            out["mosquitto_tls_qos1_msgs_per_s"] = json!(figures.received_per_s.round());
            out["mosquitto_tls_published_per_s"] = json!(figures.published_per_s.round());
            out["mosquitto_tls_lost"] = json!(figures.lost);
            out["mosquitto_tls_lost_fraction"] = json!(figures.lost_fraction());
            out["mosquitto_tls_connect_ms"] = connect_times(mosquitto.addr, &way).await?;
            if figures.received_per_s > 0.0 {
                out["ratio_embedded_tls_to_mosquitto_tls"] =
                    json!(r3(tls.received_per_s / figures.received_per_s));
            }
        }
        Err(e) => out["mosquitto_tls_note"] = json!(format!("not measured: {e:#}")),
    }
    out["load_average_before"] = load_before;
    out["machine"] = common::machine();
    out["date"] = json!(common::date());
    Ok(out)
}

/// How a client connects: plain TCP with a login (Mosquitto allows
/// anonymous clients and ignores it), or TLS with a client certificate.
enum Way {
    Plain {
        user: String,
        password: String,
    },
    Tls {
        login: Option<(String, String)>,
        ca: String,
        cert: String,
        key: String,
    },
}

impl Way {
    async fn connect(&self, addr: SocketAddr, client_id: &str) -> Result<Mqtt> {
        match self {
            Way::Plain { user, password } => Mqtt::connect(addr, client_id, user, password).await,
            Way::Tls {
                login,
                ca,
                cert,
                key,
            } => {
                Mqtt::connect_tls(
                    addr,
                    client_id,
                    login.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
                    ca,
                    Some((cert, key)),
                )
                .await
            }
        }
    }
}

/// Connect `CONNECTS` times, one after the other (TCP, TLS if any, MQTT
/// CONNECT until CONNACK): median and p99 in ms.
async fn connect_times(addr: SocketAddr, way: &Way) -> Result<Value> {
    let mut ms = Vec::with_capacity(CONNECTS);
    for i in 0..CONNECTS {
        let t = Instant::now();
        let c = way.connect(addr, &format!("bench-connect-{i}")).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        drop(c);
    }
    ms.sort_by(f64::total_cmp);
    Ok(json!({
        "connects": CONNECTS,
        "p50": r3(ms[CONNECTS / 2]),
        "p99": r3(ms[(CONNECTS * 99 / 100).min(CONNECTS - 1)]),
    }))
}

/// What one broker sustained.
struct Figures {
    received_per_s: f64,
    published_per_s: f64,
    /// Published but never delivered to the subscriber after the drain.
    lost: u64,
    /// Published over the whole run, warm-up and drain included.
    published_total: u64,
}

impl Figures {
    fn lost_fraction(&self) -> f64 {
        r3(self.lost as f64 / self.published_total.max(1) as f64)
    }
}

/// Drive `addr` with the publishers and the subscriber, each connecting
/// `way`.
async fn measure(addr: SocketAddr, way: &Way, seconds: u64, payload: &[u8]) -> Result<Figures> {
    let mut sub = way.connect(addr, "bench-sub").await?;
    sub.subscribe(&format!("{PREFIX}/+")).await?;
    let received = Arc::new(AtomicU64::new(0));
    let counter = {
        let received = received.clone();
        tokio::spawn(async move {
            while sub.rx.recv().await.is_some() {
                received.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let published = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut publishers = Vec::new();
    for n in 0..PUBLISHERS {
        let client = way.connect(addr, &format!("bench-pub-{n}")).await?;
        let (published, stop) = (published.clone(), stop.clone());
        let topic = format!("{PREFIX}/{n}");
        let payload = payload.to_vec();
        publishers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // Returns once the request is queued; the client holds at
                // most 100 un-acked and 1024 queued, so this is paced by
                // the broker's PUBACKs.
                client.publish(&topic, payload.clone()).await?;
                published.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(client)
        }));
    }

    tokio::time::sleep(WARM_UP).await;
    let (r0, p0) = (
        received.load(Ordering::Relaxed),
        published.load(Ordering::Relaxed),
    );
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (r1, p1) = (
        received.load(Ordering::Relaxed),
        published.load(Ordering::Relaxed),
    );
    let elapsed = started.elapsed().as_secs_f64();

    stop.store(true, Ordering::Relaxed);
    // Keep the publishers' connections open until the drain is over, so
    // their queued requests still go out.
    let mut clients = Vec::new();
    for task in publishers {
        let client = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .context("publisher did not stop within 10 s")?
            .context("publisher task")?
            .context("publish")?;
        clients.push(client);
    }
    let published_total = published.load(Ordering::Relaxed);
    // Drain: until everything arrived, or nothing arrived for 2 s.
    let mut last = received.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    while last < published_total && last_change.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = received.load(Ordering::Relaxed);
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
    counter.abort();
    drop(clients);

    Ok(Figures {
        received_per_s: (r1 - r0) as f64 / elapsed,
        published_per_s: (p1 - p0) as f64 / elapsed,
        lost: published_total.saturating_sub(last),
        published_total,
    })
}

/// A Mosquitto started by the bench on a free port of 127.0.0.1, with a
/// generated config; killed when dropped.
struct Mosquitto {
    child: Child,
    addr: SocketAddr,
    version: String,
    config: Vec<String>,
    dir: TempDir,
}

impl Mosquitto {
    /// Start it and wait until it accepts connections; an error (for the
    /// report, not the run) if it is missing or does not come up.
    fn start(tls: Option<&storenode_tests::cloud::TlsFiles>) -> Result<Mosquitto> {
        if !Path::new(MOSQUITTO).exists() {
            bail!("{MOSQUITTO} is missing (Debian package mosquitto)");
        }
        let version = Command::new(MOSQUITTO)
            .arg("-h")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("pick a free port")?;
        let mut config = vec![format!("listener {} 127.0.0.1", addr.port())];
        if let Some(t) = tls {
            config.extend([
                format!("cafile {}", t.ca.display()),
                format!("certfile {}", t.server_cert.display()),
                format!("keyfile {}", t.server_key.display()),
                "require_certificate true".to_string(),
            ]);
        }
        config.extend([
            "allow_anonymous true".to_string(),
            // The default 1000 silently drops QoS1 messages for a
            // subscriber that falls behind: no limit, like a fair peer.
            "max_queued_messages 0".to_string(),
            format!("max_inflight_messages {MOSQUITTO_INFLIGHT}"),
            "persistence false".to_string(),
            "log_dest none".to_string(),
            // The node's listeners set TCP_NODELAY; without it Mosquitto's
            // TLS handshake waits ~40 ms for a delayed ACK.
            "set_tcp_nodelay true".to_string(),
        ]);
        let dir = tempfile::tempdir().context("temp dir for mosquitto")?;
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(&conf, config.join("\n") + "\n").context("write mosquitto.conf")?;
        let log = std::fs::File::create(dir.path().join("mosquitto.log"))?;
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {MOSQUITTO}"))?;
        let mut mosquitto = Mosquitto {
            child,
            addr,
            version,
            config,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = mosquitto.child.try_wait()? {
                bail!("mosquitto exited with {status}: {}", mosquitto.log());
            }
            if Instant::now() > deadline {
                bail!(
                    "mosquitto not listening on {addr} after 5 s: {}",
                    mosquitto.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(mosquitto)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
