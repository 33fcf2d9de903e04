//! The sync agent: the store's own link to the chain's cloud broker.
//!
//! Offline first: nothing in the store waits for this link. The log is the
//! outbox: the agent uploads it in order from a durable cursor (the HQ
//! anchor, `store::sync`), one batch in flight, and moves the cursor only
//! when a bridge acknowledges that batch. HQ's commands come down the same
//! connection, are applied once (inbox plus the HQ floor), and are
//! answered, and their MQTT PUBACK sent, only once their outcome is
//! durable. docs/sync.md has the protocol and its failure cases.
//!
//! - [`link`]: the connection (rumqttc, TLS, persistent session, last
//!   will), polled by a task that never publishes.
//! - [`agent`]: uploads, acknowledgements, HQ commands, the status.
pub mod agent;
mod link;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::store::{Store, StoreError};

/// Where the cloud broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudUrl {
    /// `mqtts://` (TLS) or `mqtt://`.
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl CloudUrl {
    /// `mqtts://host[:port]` (default 8883) or `mqtt://host[:port]` (1883).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = text.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err("must start with mqtts:// (or mqtt://)".into());
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('@') || rest.contains('?') {
            return Err("must be only scheme, host and port (credentials go in cloud.username and cloud.password)".into());
        }
        let (host, port) = match rest.rsplit_once(':') {
            // An IPv6 literal is bracketed: [::1]:8883.
            Some((h, p)) if !h.is_empty() && !p.contains(']') => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("port {p:?} is not a port number"))?;
                (h, port)
            }
            _ => (rest, if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("has no host".into());
        }
        Ok(CloudUrl {
            tls,
            host: host.to_string(),
            port,
        })
    }

    /// Whether the broker is on this machine (plain MQTT is harmless there).
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl std::fmt::Display for CloudUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// The validated `[cloud]` section.
#[derive(Clone)]
pub struct CloudConfig {
    pub url: CloudUrl,
    /// Present exactly when `url.tls`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub credentials: Option<(String, String)>,
    pub keep_alive_s: u64,
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    pub batch_linger_ms: u64,
    pub ack_timeout_s: u64,
    pub status_interval_s: u64,
}

impl std::fmt::Debug for CloudConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudConfig")
            .field("url", &self.url.to_string())
            .field("client_certificate", &self.tls.as_ref().map(|t| t.client_auth_cert_resolver.has_certs()))
            .field("username", &self.credentials.as_ref().map(|c| &c.0))
            .field("batch_max_events", &self.batch_max_events)
            .field("batch_max_bytes", &self.batch_max_bytes)
            .finish_non_exhaustive()
    }
}

/// The TLS client configuration: the broker's certificate must chain to
/// `ca` (PEM; the system's roots without it); `client` is a PEM
/// certificate chain and its key. Uses ring (no C toolchain needed to
/// cross-build for a Raspberry Pi).
pub fn tls_config(
    ca: Option<&[u8]>,
    client: Option<(&[u8], &[u8])>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(pem) => {
            let certs: Vec<CertificateDer> = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("not a PEM certificate file: {e}"))?;
            if certs.is_empty() {
                return Err("holds no PEM certificate".into());
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("not a usable CA certificate: {e}"))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err("no cloud.ca_file and no system CA certificates found".into());
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("cloud.cert_file is not a PEM certificate: {e}"))?;
            if chain.is_empty() {
                return Err("cloud.cert_file holds no PEM certificate".into());
            }
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| format!("cloud.key_file is not a PEM private key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the client certificate and key do not fit: {e}"))?
        }
    };
    Ok(Arc::new(config))
}

/// The link's state, shared with the pages, the API and the metrics.
#[derive(Debug, Default)]
pub struct SyncStatus {
    inner: Mutex<LinkState>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkState {
    /// Whether `[cloud]` is set at all.
    pub configured: bool,
    pub broker: Option<String>,
    pub online: bool,
    /// Online since, or offline since (unix ms); `None` before the first
    /// attempt.
    pub since_ms: Option<u64>,
    pub last_ack_ms: Option<u64>,
    /// Why the last attempt or connection failed.
    pub last_error: Option<String>,
    pub connections: u64,
    /// The batch waiting for its acknowledgement.
    pub in_flight: Option<(u64, u64)>,
    /// Events acknowledged per second over the last few seconds.
    pub drain_per_s: f64,
    #[serde(skip)]
    acked: std::collections::VecDeque<(Instant, u64)>,
}

/// What `GET /api/v1/sync` and the manager page show.
#[derive(Debug, Clone, Serialize)]
pub struct SyncView {
    #[serde(flatten)]
    pub link: LinkState,
    pub head_seq: u64,
    pub acked_seq: u64,
    pub backlog_events: u64,
    pub oldest_backlog_ms: Option<u64>,
}

/// How far back the drain rate looks.
const RATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

impl SyncStatus {
    pub fn new(cloud: Option<&CloudConfig>) -> Self {
        let s = SyncStatus::default();
        s.update(|l| {
            l.configured = cloud.is_some();
            l.broker = cloud.map(|c| c.url.to_string());
        });
        s
    }

    fn update(&self, f: impl FnOnce(&mut LinkState)) {
        if let Ok(mut l) = self.inner.lock() {
            f(&mut l);
        }
    }

    pub fn link(&self) -> LinkState {
        self.inner.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Count acknowledged events, for the drain rate.
    fn acked(&self, events: u64, now_ms: u64) {
        self.update(|l| {
            let now = Instant::now();
            l.last_ack_ms = Some(now_ms);
            l.acked.push_back((now, events));
            while l
                .acked
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
            {
                l.acked.pop_front();
            }
            l.drain_per_s = rate(&l.acked, now);
        });
    }

    /// The link plus the backlog, read from the store.
    pub fn view(&self, store: &Store) -> Result<SyncView, StoreError> {
        let mut link = self.link();
        // A rate with no recent acks decays to 0.
        let now = Instant::now();
        link.drain_per_s = rate(&link.acked, now);
        let anchor = store.sync_anchor()?;
        let head = store.head();
        let oldest = match store.event(anchor.seq + 1)? {
            Some(e) if anchor.seq < head => {
                Some(crate::store::now_ms().saturating_sub(e.time_ms))
            }
            _ => None,
        };
        Ok(SyncView {
            link,
            head_seq: head,
            acked_seq: anchor.seq,
            backlog_events: head.saturating_sub(anchor.seq),
            oldest_backlog_ms: oldest,
        })
    }
}

fn rate(acked: &std::collections::VecDeque<(Instant, u64)>, now: Instant) -> f64 {
    let recent: u64 = acked
        .iter()
        .filter(|(t, _)| now.duration_since(*t) <= RATE_WINDOW)
        .map(|(_, n)| n)
        .sum();
    recent as f64 / RATE_WINDOW.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = CloudUrl::parse("mqtts://hq.example.com").expect("ok");
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "hq.example.com", 8883));
        let u = CloudUrl::parse("mqtt://127.0.0.1:1999").expect("ok");
        assert_eq!((u.tls, u.port), (false, 1999));
        assert!(u.is_loopback());
        let u = CloudUrl::parse("mqtts://[::1]:8883").expect("ok");
        assert_eq!(u.host, "::1");
        assert!(u.is_loopback());
        for (bad, words) in [
            ("https://hq", "must start with mqtts://"),
            ("mqtt://", "has no host"),
            ("mqtts://hq:0", "not a port"),
            ("mqtts://hq:99999", "not a port"),
            ("mqtts://user:pw@hq", "credentials go in"),
            ("mqtts://hq/path", "only scheme, host and port"),
        ] {
            let e = CloudUrl::parse(bad).expect_err(bad);
            assert!(e.contains(words), "{bad}: {e}");
        }
    }
}
