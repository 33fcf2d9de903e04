//! The embedded rumqttd broker: built in code, authentication on, console
//! off, node services connected through in-process links.
//!
//! rumqttd has no ACLs and no per-publish hook, so the broker cannot stop an
//! authenticated device from publishing on `store/{id}/events/…`. The node
//! never trusts a broker payload on those topics: every consumer verifies
//! each message against the log (see `services::consumer`), and the intake
//! guard dead-letters and counts what the log does not hold.
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::{Broker, ConnectionSettings, RouterConfig, ServerSettings};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("mqtt.listen {addr}: cannot listen: {reason}")]
    Bind { addr: SocketAddr, reason: String },
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

/// The running broker: its address and the links made before it started.
pub struct EmbeddedBroker {
    pub addr: SocketAddr,
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

/// Start the broker on its own threads with one link per name in `links`.
pub fn start(
    config: &Config,
    store: Store,
    metrics: Arc<Metrics>,
    links: &[&'static str],
) -> Result<EmbeddedBroker, BrokerError> {
    // rumqttd binds inside its own thread and only logs a failure; check
    // the address here so a taken port stops start-up with a clear error.
    // Port 0 is resolved to a concrete free port the same way.
    let addr = {
        let probe = TcpListener::bind(config.mqtt_listen).map_err(|e| BrokerError::Bind {
            addr: config.mqtt_listen,
            reason: e.to_string(),
        })?;
        probe.local_addr().map_err(|e| BrokerError::Bind {
            addr: config.mqtt_listen,
            reason: e.to_string(),
        })?
    };

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
    connections.set_auth_handler(move |client_id: String, user: String, pass: String| {
        if reserved.contains(&client_id) {
            metrics.mqtt_auth_failures.inc();
            tracing::warn!(
                client_id,
                user,
                "mqtt login refused: the client id is one of the node's own links"
            );
            return std::future::ready(false);
        }
        let ok = store.check_device(&user, &pass);
        if !ok {
            metrics.mqtt_auth_failures.inc();
            tracing::warn!(client_id, user, "mqtt login refused");
        }
        std::future::ready(ok)
    });
    let server = ServerSettings {
        name: "store".to_string(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    let broker_config = rumqttd::Config {
        id: 0,
        router: RouterConfig {
            // RouterConfig::default() has zero limits: set every one.
            max_connections: config.mqtt_max_connections + links.len(),
            max_outgoing_packet_count: 1024,
            // Per topic, rumqttd keeps up to size × count bytes in memory
            // and drops the oldest segment (a slow subscriber's backlog)
            // when full. 4 × 256 KiB per topic keeps a Pi's memory small;
            // node services never depend on the backlog (they catch up
            // from the log), devices reconcile through the API.
            max_segment_size: 256 << 10,
            max_segment_count: 4,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("store".to_string(), server)])),
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
            addr,
            reason: e.to_string(),
        })?;

    let deadline = Instant::now() + Duration::from_secs(5);
    while !is_listening(addr) {
        if Instant::now() > deadline {
            return Err(BrokerError::NotListening(addr));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(EmbeddedBroker { addr, links: made })
}

/// Whether something listens on `addr`'s port. Read from /proc/net/tcp on
/// Linux, because a probe connection makes rumqttd log an error; elsewhere
/// a plain connect.
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
