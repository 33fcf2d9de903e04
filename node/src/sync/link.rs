//! The connection to the cloud broker.
//!
//! rumqttc's event loop is polled by a task of its own that only forwards
//! what arrives: it never publishes (a publish waits for room in the
//! request channel, which only polling makes, so publishing from the
//! polling task deadlocks under load). Its channel to the agent is
//! unbounded, but what comes in is bounded by the broker's in-flight
//! window: every message is acknowledged by hand (manual acks), only once
//! it has been dealt with.
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, QoS, Transport};
use tokio::sync::mpsc;

use crate::config::CloudConfig;
use protocol::{topic, StoreId};

/// What the polling task reports.
#[derive(Debug)]
pub enum FromLink {
    /// Connected; `session` is whether the broker kept our session.
    Up {
        session: bool,
    },
    /// The connection failed or dropped; the poller retries after a pause.
    Down(String),
    Message(rumqttc::Publish),
}

/// Room for requests to rumqttc (publishes, acks, subscribes).
const REQUESTS: usize = 256;

/// The client for `store` (client id = the store id, persistent session,
/// an offline last will) and its event loop, on the first broker; and the
/// options for each broker of `cloud.url`, for [`poll`] to move between.
pub fn client(config: &CloudConfig, store: &StoreId) -> (AsyncClient, EventLoop, Vec<MqttOptions>) {
    let brokers: Vec<MqttOptions> = std::iter::once(&config.url)
        .chain(&config.others)
        .map(|url| options(config, store, url))
        .collect();
    let (client, mut events) = AsyncClient::new(brokers[0].clone(), REQUESTS);
    // Acks and replies are small: without this, Nagle holds each one until
    // the peer's delayed ACK (up to 40 ms), and one batch in flight makes
    // that the drain rate's limit.
    events.network_options.set_tcp_nodelay(true);
    (client, events, brokers)
}

fn options(config: &CloudConfig, store: &StoreId, url: &protocol::link::CloudUrl) -> MqttOptions {
    let mut o = MqttOptions::new(store.as_str(), &url.host, url.port);
    o.set_clean_session(false)
        .set_keep_alive(Duration::from_secs(config.keep_alive_s))
        .set_manual_acks(true)
        // Room for the largest batch plus its framing, and for a catalog
        // coming down.
        .set_max_packet_size(
            config.batch_max_bytes.max(1 << 20) + 64 * 1024,
            config.batch_max_bytes + 64 * 1024,
        )
        .set_last_will(LastWill::new(
            topic::sync_status(store),
            protocol::codec::to_json(&protocol::sync::StoreStatus::offline(store.clone())),
            QoS::AtLeastOnce,
            true,
        ));
    if let Some((user, password)) = &config.credentials {
        o.set_credentials(user, password);
    }
    if let Some(tls) = &config.tls {
        o.set_transport(Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(tls.clone()),
        ));
    }
    o
}

/// Poll `events` until the agent goes away, reconnecting as
/// [`protocol::link::Reconnect`] says: about every second in the first
/// minute of an outage (a broker restart or a cluster node's failover),
/// then with jittered exponential backoff up to 30 s, so that a fleet that
/// lost HQ for long does not return all at once. With several `brokers`
/// (a cluster's nodes), a failure moves on to the next one at once.
pub async fn poll(
    mut events: EventLoop,
    brokers: Vec<MqttOptions>,
    to_agent: mpsc::UnboundedSender<FromLink>,
) {
    let mut reconnect = protocol::link::Reconnect::new(30_000, brokers.len());
    loop {
        let sent = match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                reconnect.connected();
                to_agent.send(FromLink::Up {
                    session: ack.session_present,
                })
            }
            Ok(Event::Incoming(Packet::Publish(p))) => to_agent.send(FromLink::Message(p)),
            Ok(_) => Ok(()),
            Err(e) => {
                let refused = matches!(
                    e,
                    rumqttc::ConnectionError::ConnectionRefused(_)
                        | rumqttc::ConnectionError::Tls(_)
                );
                let sent = to_agent.send(FromLink::Down(describe(&e)));
                let (next, pause) = reconnect.failed(refused);
                if brokers.len() > 1 {
                    let (host, port) = brokers[next].broker_address();
                    tracing::debug!(host, port, "next cloud broker");
                    events.mqtt_options = brokers[next].clone();
                }
                tokio::time::sleep(pause).await;
                sent
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// A connection error in words an operator can act on.
fn describe(e: &rumqttc::ConnectionError) -> String {
    use rumqttc::ConnectionError as E;
    match e {
        E::ConnectionRefused(code) => format!(
            "the cloud broker refused the connection ({code:?}): check cloud.username/cloud.password or the client certificate"
        ),
        E::Tls(t) => format!("TLS with the cloud broker failed: {t}"),
        E::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "nothing listens at the cloud broker's address (connection refused)".to_string()
        }
        other => format!("cloud broker connection: {other}"),
    }
}
