//! The embedded rumqttd broker: built in code, authentication on, console
//! off, node services connected through in-process links.
//!
//! Two device listeners, each behind the node's own bounded front
//! ([`front`]):
//! - `mqtt.tls_listen`: mutual TLS with a certificate from the node's CA
//!   ([`crate::pki`]). rumqttd (features `verify-client-cert`,
//!   `validate-tenant-prefix`) takes the device's tenant from the
//!   certificate's Organization and refuses every publish and subscribe
//!   outside `/tenants/{tenant}/`: a device reaches its own namespace and
//!   nothing else. Its client id becomes `{tenant}.{id}`.
//! - `mqtt.listen`: plaintext, for tools on the node's own machine
//!   (loopback unless `mqtt.insecure_plaintext_lan`). A plaintext client has
//!   no tenant: once logged in it can publish and subscribe anywhere, as the
//!   node's own in-process links can. So the node never trusts a broker
//!   payload on its event topics: every consumer verifies each message
//!   against the log (see `services::consumer`), and the intake guard
//!   dead-letters and counts what the log does not hold.
pub mod front;
pub mod log;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::{Broker, ConnectionSettings, RouterConfig, ServerSettings};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::net::Caps;
use crate::pki::ServerFiles;
use crate::store::Store;

/// Segments per subscription filter in rumqttd's in-memory log.
const SEGMENTS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("{key} {addr}: cannot listen: {reason}")]
    Bind {
        key: &'static str,
        addr: SocketAddr,
        reason: String,
    },
    #[error("embedded broker refused link {name}: {reason}")]
    Link { name: String, reason: String },
    #[error("embedded broker did not start listening on {0} within 5 s")]
    NotListening(SocketAddr),
}

/// An in-process connection to the broker.
pub struct Link {
    pub tx: LinkTx,
    pub rx: LinkRx,
}

/// The running broker: its addresses and the links made before it started.
pub struct EmbeddedBroker {
    /// The plaintext listener (the front's address).
    pub addr: SocketAddr,
    /// The TLS listener, when configured.
    pub tls_addr: Option<SocketAddr>,
    links: HashMap<&'static str, Link>,
}

impl EmbeddedBroker {
    /// Take the link made for `name` at start.
    pub fn take_link(&mut self, name: &'static str) -> Option<Link> {
        self.links.remove(name)
    }
}

/// Publish from async code without blocking a runtime worker.
///
/// `LinkTx::publish` blocks when the router's channel is full. rumqttd's
/// `try_publish` queues the message in the link's buffer first and only
/// the wake-up of the router can fail; the message then goes out with the
/// link's next wake-up. At worst a notice or reply is late, and a device
/// waiting for a reply retries, which wakes the router again.
pub fn publish_nonblocking(tx: &mut LinkTx, topic: String, payload: Vec<u8>, metrics: &Metrics) {
    if let Err(e) = tx.try_publish(topic, payload) {
        metrics.broker_publish_deferred.inc();
        tracing::debug!(error = %e, "broker busy; message queued on the link");
    }
}

/// Bind `addr` for a front (its port resolved when 0).
fn bind_front(key: &'static str, addr: SocketAddr) -> Result<tokio::net::TcpListener, BrokerError> {
    let err = |e: std::io::Error| BrokerError::Bind {
        key,
        addr,
        reason: e.to_string(),
    };
    let l = TcpListener::bind(addr).map_err(err)?;
    l.set_nonblocking(true).map_err(err)?;
    tokio::net::TcpListener::from_std(l).map_err(err)
}

/// A free loopback port for one of rumqttd's own listeners (rumqttd binds
/// inside its thread and only logs a failure).
fn loopback_port(key: &'static str) -> Result<SocketAddr, BrokerError> {
    let any: SocketAddr = ([127, 0, 0, 1], 0).into();
    let err = |e: std::io::Error| BrokerError::Bind {
        key,
        addr: any,
        reason: e.to_string(),
    };
    let probe = TcpListener::bind(any).map_err(err)?;
    probe.local_addr().map_err(err)
}

/// Start the broker on its own threads with one link per name in `links`,
/// and its fronts on the runtime. `tls`: the broker's certificate files,
/// when `mqtt.tls_listen` is set.
pub async fn start(
    config: &Config,
    store: Store,
    metrics: Arc<Metrics>,
    links: &[&'static str],
    tls: Option<ServerFiles>,
) -> Result<EmbeddedBroker, BrokerError> {
    let plain = bind_front("mqtt.listen", config.mqtt_listen)?;
    let addr = plain.local_addr().map_err(|e| BrokerError::Bind {
        key: "mqtt.listen",
        addr: config.mqtt_listen,
        reason: e.to_string(),
    })?;
    let tls_front = match (config.mqtt_tls_listen, &tls) {
        (Some(a), Some(_)) => Some(bind_front("mqtt.tls_listen", a)?),
        _ => None,
    };
    let tls_addr = match &tls_front {
        Some(l) => Some(l.local_addr().map_err(|e| BrokerError::Bind {
            key: "mqtt.tls_listen",
            addr: config.mqtt_tls_listen.unwrap_or(addr),
            reason: e.to_string(),
        })?),
        None => None,
    };
    let plain_backend = loopback_port("mqtt.listen")?;
    let tls_backend = match tls_front {
        Some(_) => Some(loopback_port("mqtt.tls_listen")?),
        None => None,
    };
    let metrics_for_auth = metrics.clone();

    let mut connections = ConnectionSettings {
        connection_timeout_ms: 10_000,
        max_payload_size: config.mqtt_max_payload_bytes,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    // rumqttd lets a new connection take over the session of a client id
    // already connected, the node's in-process links included: a device
    // that connected as `intake` and left would take command intake down.
    let reserved: Vec<String> = links.iter().map(|l| l.to_string()).collect();
    // A refusal is counted by `log` (rumqttd logs every refused CONNECT);
    // the reason is written here, at most every 10 s.
    log::attach(metrics_for_auth);
    let refusals = Arc::new(crate::net::Throttled::new(log::EVERY));
    connections.set_auth_handler(move |client_id: String, user: String, pass: String| {
        let why = if reserved.contains(&client_id) {
            Some("the client id is one of the node's own links")
        } else if !store.check_device(&user, &pass) {
            Some("unknown device or wrong password")
        } else {
            None
        };
        if let (Some(why), Some(held)) = (why, why.and_then(|_| refusals.ready())) {
            tracing::warn!(
                client_id,
                user,
                held_back = held,
                "mqtt login refused: {why}"
            );
        }
        std::future::ready(why.is_none())
    });
    let server = |name: &str, listen, tls| ServerSettings {
        name: name.to_string(),
        listen,
        tls,
        next_connection_delay_ms: 1,
        connections: connections.clone(),
    };
    let mut servers = HashMap::from([("store".to_string(), server("store", plain_backend, None))]);
    if let (Some(backend), Some(files)) = (tls_backend, &tls) {
        let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
        servers.insert(
            "store-tls".to_string(),
            server(
                "store-tls",
                backend,
                Some(rumqttd::TlsConfig::Rustls {
                    capath: Some(path(&files.ca)),
                    certpath: path(&files.cert),
                    keypath: path(&files.key),
                }),
            ),
        );
    }
    let broker_config = rumqttd::Config {
        id: 0,
        router: RouterConfig {
            // RouterConfig::default() has zero limits: set every one.
            max_connections: config.mqtt_max_connections + links.len(),
            max_outgoing_packet_count: 1024,
            // Per subscription filter, rumqttd keeps up to size × count
            // bytes of the matching messages in memory (never less: a
            // segment is dropped only when a fifth one starts) and moves a
            // subscriber that is further behind past the dropped segment:
            // it loses those messages. Device subscriptions get
            // `mqtt.subscriber_buffer_kib`; the node's own event
            // subscriptions 4 × 256 KiB (its services catch up from the
            // log). Measured in docs/performance.md ("The broker").
            max_segment_size: (config.mqtt_subscriber_buffer_bytes / SEGMENTS).max(1024),
            max_segment_count: SEGMENTS,
            custom_segment: Some(HashMap::from([(
                protocol::topic::events_tree(&config.store_id),
                rumqttd::SegmentConfig {
                    max_segment_size: 256 << 10,
                    max_segment_count: SEGMENTS,
                },
            )])),
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(servers),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    };

    let mut broker = Broker::new(broker_config);
    let mut made = HashMap::new();
    for name in links {
        let (tx, rx) = broker.link(name).map_err(|e| BrokerError::Link {
            name: name.to_string(),
            reason: e.to_string(),
        })?;
        made.insert(*name, Link { tx, rx });
    }
    std::thread::Builder::new()
        .name("broker".into())
        .spawn(move || {
            // No stop API: the broker lives until the process exits.
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })
        .map_err(|e| BrokerError::Bind {
            key: "mqtt.listen",
            addr,
            reason: e.to_string(),
        })?;

    let deadline = Instant::now() + Duration::from_secs(5);
    for backend in std::iter::once(plain_backend).chain(tls_backend) {
        while !is_listening(backend) {
            if Instant::now() > deadline {
                return Err(BrokerError::NotListening(backend));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let caps = Caps {
        total: config.mqtt_max_connections,
        per_client: config.mqtt_max_connections_per_client,
    };
    tokio::spawn(front::run(
        front::Front {
            name: "mqtt",
            listener: plain,
            backend: plain_backend,
            caps,
            tls: false,
        },
        metrics.clone(),
    ));
    if let (Some(listener), Some(backend)) = (tls_front, tls_backend) {
        tokio::spawn(front::run(
            front::Front {
                name: "mqtts",
                listener,
                backend,
                caps,
                tls: true,
            },
            metrics.clone(),
        ));
    }
    Ok(EmbeddedBroker {
        addr,
        tls_addr,
        links: made,
    })
}

/// Whether something listens on `addr`'s port. Read from /proc/net/tcp on
/// Linux, because a probe connection makes rumqttd log an error; elsewhere
/// a plain connect. rumqttd 0.20 binds its listeners itself from a
/// `SocketAddr` inside its own threads (`Server::start`) and tells nobody,
/// so the node cannot hand it a bound listener or wait on one.
fn is_listening(addr: SocketAddr) -> bool {
    let port = format!(":{:04X} ", addr.port());
    let mut found_table = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            found_table = true;
            // columns: sl local_address rem_address st …; st 0A = LISTEN
            if text.lines().skip(1).any(|l| {
                let mut cols = l.split_whitespace().skip(1);
                let local = cols.next().unwrap_or("");
                let state = cols.nth(1).unwrap_or("");
                state == "0A" && format!("{local} ").contains(&port)
            }) {
                return true;
            }
        }
    }
    !found_table && std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}
