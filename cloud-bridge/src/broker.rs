//! `--embedded-broker`: a rumqttd broker in the bridge's process, for a
//! one-machine trial (a node and the bridge on a laptop). No TLS and no
//! logins: it listens where it is told, so keep it on loopback. Shared
//! subscriptions, retained messages and persistent sessions work as the
//! sync link needs them. Production uses the chain's clustered broker.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rumqttd::{Broker, ConnectionSettings, RouterConfig, ServerSettings};

pub fn start(listen: SocketAddr) -> anyhow::Result<SocketAddr> {
    // rumqttd binds inside its own thread and only logs a failure: bind
    // here first for a clear error (and to resolve port 0).
    let addr = std::net::TcpListener::bind(listen)
        .and_then(|l| l.local_addr())
        .map_err(|e| anyhow::anyhow!("--embedded-broker {listen}: cannot listen: {e}"))?;
    let server = ServerSettings {
        name: "hq".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: 64 << 20,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = rumqttd::Config {
        id: 0,
        router: RouterConfig {
            max_connections: 10_010,
            max_outgoing_packet_count: 1024,
            max_segment_size: 8 << 20,
            max_segment_count: 16,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("hq".to_string(), server)])),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    };
    let mut broker = Broker::new(config);
    std::thread::Builder::new()
        .name("embedded-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !answers_mqtt(addr) {
        if Instant::now() > deadline {
            anyhow::bail!("the embedded broker did not listen on {addr} within 5 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::info!(%addr, "embedded broker listening (trial use: no TLS, no logins)");
    Ok(addr)
}

/// Whether an MQTT broker answers at `addr`: a CONNECT (3.1.1, clean
/// session, client id `probe`) gets a CONNACK, then a DISCONNECT. A bare
/// TCP probe would make rumqttd log an error for the aborted connection.
fn answers_mqtt(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    const CONNECT: [u8; 19] = [
        0x10, 17, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10, 0, 5, b'p', b'r', b'o', b'b', b'e',
    ];
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut ack = [0u8; 4];
    let ok = s.write_all(&CONNECT).is_ok() && s.read_exact(&mut ack).is_ok() && ack[0] == 0x20;
    // Leave the router a moment to register the connection before it goes
    // (otherwise it logs that a connection vanished under it).
    std::thread::sleep(Duration::from_millis(50));
    let _ = s.write_all(&[0xe0, 0]);
    ok
}
