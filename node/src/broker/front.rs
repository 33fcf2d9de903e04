//! The front of each device listener: the node accepts every MQTT
//! connection itself and hands it to rumqttd's own listener on loopback
//! only when it is admitted.
//!
//! rumqttd's accept loop has no limits of its own: 1,100 idle connections
//! used up the node's descriptors, device logins stopped and the loop wrote
//! "Unable to accept socket" at megabytes per second. And it performs each
//! TLS handshake inside that loop, one after the other, with no deadline —
//! one connection that never finishes its handshake would stop every other
//! device from connecting. So here, before rumqttd sees a byte:
//! - each client address may hold at most `per_client` connections, all
//!   together at most `total`; over either, the connection is closed at
//!   once and counted;
//! - the first bytes (MQTT CONNECT or a TLS ClientHello) must come within
//!   [`FIRST_BYTES`], so idle connections go;
//! - on the TLS listener, handshakes pass to rumqttd one at a time (that is
//!   all its loop does anyway), at most one per client address waiting or
//!   under way, each done within [`HANDSHAKE`] of its turn or cut, so a
//!   stalled handshake delays the others by at most that long;
//! - refusals are logged at most every [`LOG_EVERY`] with a count.
//!
//! The bytes are passed through unchanged: TLS ends in rumqttd, which takes
//! the device's tenant from its certificate (see [`super`]).
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::net::{Admission, Caps, Throttled};

/// A new connection must send its first bytes within this.
pub const FIRST_BYTES: Duration = Duration::from_secs(10);
/// A TLS handshake must be done within this once it has its turn…
pub const HANDSHAKE: Duration = Duration::from_secs(3);
/// …which it waits for at most this long (then it is closed and counted).
pub const TURN_WAIT: Duration = Duration::from_secs(10);
/// At most one refusal line per listener per this.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// One listener's front.
pub struct Front {
    /// `mqtt` (plain) or `mqtts` (TLS): the metrics' `listener` label.
    pub name: &'static str,
    pub listener: TcpListener,
    /// rumqttd's listener for it, on loopback.
    pub backend: SocketAddr,
    pub caps: Caps,
    pub tls: bool,
}

/// Why a connection was closed before rumqttd saw it.
#[derive(Debug, Clone, Copy)]
enum Refused {
    /// The address or the listener holds its most connections.
    Limit,
    /// No first bytes in time.
    Idle,
    /// This address already has a handshake waiting or under way.
    HandshakeBusy,
    /// The handshake was not done in time.
    HandshakeTimeout,
}

impl Refused {
    fn name(self) -> &'static str {
        match self {
            Refused::Limit => "limit",
            Refused::Idle => "idle",
            Refused::HandshakeBusy => "handshake_busy",
            Refused::HandshakeTimeout => "handshake_timeout",
        }
    }
}

struct Shared {
    name: &'static str,
    backend: SocketAddr,
    tls: bool,
    metrics: Arc<Metrics>,
    /// rumqttd's single handshake slot.
    slot: Semaphore,
    /// Addresses with a handshake waiting or under way.
    handshaking: Mutex<HashSet<IpAddr>>,
    refusals: Throttled,
}

impl Shared {
    fn refuse(&self, addr: SocketAddr, why: Refused) {
        self.metrics
            .mqtt_connections_refused
            .get_or_create(&vec![
                ("listener", self.name.to_string()),
                ("reason", why.name().to_string()),
            ])
            .inc();
        if let Some(held) = self.refusals.ready() {
            tracing::warn!(
                listener = self.name,
                client = %addr,
                reason = why.name(),
                refused_since_last_line = held,
                "mqtt connection closed before login (more are counted in storenode_mqtt_connections_refused_total)"
            );
        }
    }
}

/// Run the front until the process ends.
pub async fn run(front: Front, metrics: Arc<Metrics>) {
    let shared = Arc::new(Shared {
        name: front.name,
        backend: front.backend,
        tls: front.tls,
        metrics,
        slot: Semaphore::new(1),
        handshaking: Mutex::new(HashSet::new()),
        refusals: Throttled::new(LOG_EVERY),
    });
    let accept_errors = Throttled::new(LOG_EVERY);
    let admission = Admission::default();
    loop {
        let (stream, addr) = match front.listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors, most likely: pause rather than spin.
                if let Some(held) = accept_errors.ready() {
                    tracing::warn!(listener = front.name, error = %e, failed_since_last_line = held, "accepting an MQTT connection failed");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(admitted) = admission.admit(addr.ip(), front.caps) else {
            shared.refuse(addr, Refused::Limit);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _admitted = admitted;
            if let Err(why) = pass(stream, addr, &shared).await {
                shared.refuse(addr, why);
            }
        });
    }
}

/// Take one admitted connection to rumqttd; returns when it ends.
async fn pass(mut client: TcpStream, addr: SocketAddr, shared: &Shared) -> Result<(), Refused> {
    let _ = client.set_nodelay(true);
    let mut first = vec![0u8; 4096];
    let n = match tokio::time::timeout(FIRST_BYTES, client.read(&mut first)).await {
        Ok(Ok(n)) if n > 0 => n,
        Ok(_) => return Ok(()), // closed or failed: nothing to count
        Err(_) => return Err(Refused::Idle),
    };
    first.truncate(n);
    if !shared.tls {
        let Ok(mut server) = connect(shared.backend).await else {
            return Ok(());
        };
        if server.write_all(&first).await.is_ok() {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
        return Ok(());
    }
    // One handshake per address waiting or under way.
    let _turn = {
        let Ok(mut set) = shared.handshaking.lock() else {
            return Ok(());
        };
        if !set.insert(addr.ip()) {
            return Err(Refused::HandshakeBusy);
        }
        Turn {
            set: &shared.handshaking,
            ip: addr.ip(),
        }
    };
    let Ok(Ok(_slot)) = tokio::time::timeout(TURN_WAIT, shared.slot.acquire()).await else {
        return Err(Refused::HandshakeBusy);
    };
    let handshake = async {
        let mut server = connect(shared.backend).await.map_err(|_| ())?;
        server.write_all(&first).await.map_err(|_| ())?;
        handshake(&mut client, &mut server).await?;
        Ok::<TcpStream, ()>(server)
    };
    let mut server = match tokio::time::timeout(HANDSHAKE, handshake).await {
        Ok(Ok(server)) => server,
        Ok(Err(())) => return Ok(()), // closed by either side
        Err(_) => return Err(Refused::HandshakeTimeout),
    };
    drop(_slot);
    drop(_turn);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    Ok(())
}

/// Removes an address from the handshaking set when dropped.
struct Turn<'a> {
    set: &'a Mutex<HashSet<IpAddr>>,
    ip: IpAddr,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.ip);
        }
    }
}

async fn connect(backend: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(backend).await?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// Relay until the TLS handshake is over, as seen from outside: the client
/// spoke (ClientHello, already sent), the server answered, the client sent
/// its second flight (certificate, finished), and the server spoke again
/// (session tickets or the CONNACK; an alert when it refused). TLS 1.2 and
/// 1.3 both take these four turns; rumqttd's loop is free after the third.
async fn handshake(client: &mut TcpStream, server: &mut TcpStream) -> Result<(), ()> {
    let mut from_client = vec![0u8; 8192];
    let mut from_server = vec![0u8; 8192];
    let mut turns = 1u8;
    let mut client_last = true;
    loop {
        tokio::select! {
            r = client.read(&mut from_client) => {
                let n = r.map_err(|_| ())?;
                if n == 0 {
                    return Err(());
                }
                if !client_last {
                    turns += 1;
                    client_last = true;
                }
                server.write_all(&from_client[..n]).await.map_err(|_| ())?;
            }
            r = server.read(&mut from_server) => {
                let n = r.map_err(|_| ())?;
                if n == 0 {
                    return Err(());
                }
                if client_last {
                    turns += 1;
                    client_last = false;
                }
                client.write_all(&from_server[..n]).await.map_err(|_| ())?;
                if turns >= 4 {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend that echoes, and a front for it with small caps.
    async fn front(tls: bool, caps: Caps) -> (SocketAddr, Arc<Metrics>) {
        let backend = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let backend_addr = backend.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = backend.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrics = Arc::new(Metrics::new());
        tokio::spawn(run(
            Front {
                name: "test",
                listener,
                backend: backend_addr,
                caps,
                tls,
            },
            metrics.clone(),
        ));
        (addr, metrics)
    }

    async fn echoes(s: &mut TcpStream, text: &[u8]) -> bool {
        if s.write_all(text).await.is_err() {
            return false;
        }
        let mut buf = vec![0u8; text.len()];
        matches!(
            tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf)).await,
            Ok(Ok(_)) if buf == text
        )
    }

    #[tokio::test]
    async fn over_the_cap_a_connection_is_closed_and_counted() {
        let caps = Caps {
            total: 10,
            per_client: 2,
        };
        let (addr, metrics) = front(false, caps).await;
        let mut a = TcpStream::connect(addr).await.expect("a");
        let mut b = TcpStream::connect(addr).await.expect("b");
        assert!(echoes(&mut a, b"one").await);
        assert!(echoes(&mut b, b"two").await);
        let mut c = TcpStream::connect(addr).await.expect("c");
        assert!(!echoes(&mut c, b"three").await, "the third is closed");
        assert!(metrics.render().contains(
            r#"storenode_mqtt_connections_refused_total{listener="test",reason="limit"} 1"#
        ));
        drop(a);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut d = TcpStream::connect(addr).await.expect("d");
        assert!(echoes(&mut d, b"four").await, "a place came free");
    }

    #[tokio::test]
    async fn one_handshake_per_address_at_a_time() {
        let caps = Caps {
            total: 10,
            per_client: 10,
        };
        let (addr, metrics) = front(true, caps).await;
        // A "ClientHello" that the echoing backend answers: turn 2; the
        // client never sends its second flight, so it holds the slot.
        let mut stalled = TcpStream::connect(addr).await.expect("stalled");
        assert!(echoes(&mut stalled, b"hello").await);
        let mut second = TcpStream::connect(addr).await.expect("second");
        assert!(!echoes(&mut second, b"hello").await, "same address refused");
        assert!(metrics.render().contains(r#"reason="handshake_busy"} 1"#));
        // After the deadline the stalled one is cut and the slot is free.
        tokio::time::sleep(HANDSHAKE + Duration::from_millis(200)).await;
        assert!(!echoes(&mut stalled, b"x").await, "cut");
        assert!(metrics
            .render()
            .contains(r#"reason="handshake_timeout"} 1"#));
        let mut third = TcpStream::connect(addr).await.expect("third");
        assert!(echoes(&mut third, b"hello").await);
        assert!(echoes(&mut third, b"flight").await, "four turns: passed");
        assert!(echoes(&mut third, b"data").await);
    }
}
