//! The MQTT link between a store and HQ's cloud broker, as both ends set it
//! up: the broker URL and the TLS client configuration (rustls with ring,
//! which cross-builds for a Raspberry Pi without a C toolchain). Built
//! with the `link` feature (the node's sync agent and the cloud bridge).
use std::sync::Arc;

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

/// The pause before the next attempt after `failures` failures in a row:
/// doubling from `base_ms` up to `max_ms`, drawn from the upper half, so
/// that a fleet that lost its broker together does not return together.
pub fn backoff(failures: u32, base_ms: u64, max_ms: u64) -> std::time::Duration {
    let ceiling = base_ms
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(max_ms);
    let ms = rand::Rng::gen_range(&mut rand::thread_rng(), ceiling / 2..=ceiling.max(1));
    std::time::Duration::from_millis(ms)
}

/// Reconnecting to a broker, or to one of a cluster's nodes: every
/// 0.25–1 s during the first minute of an outage, so a broker restart or a
/// cluster node's failover costs a link at most about a second once a
/// broker takes connections again; after that, [`backoff`] from 1 s up to
/// `max_ms`, so that a fleet that lost its broker for long does not return
/// all at once. With several broker addresses, a failure moves on to the
/// next at once, and the pause comes after a round of all of them. A
/// refusal (credentials, certificate) is not an outage: it backs off from
/// the first round.
#[derive(Debug, Clone)]
pub struct Reconnect {
    max_ms: u64,
    brokers: usize,
    current: usize,
    /// Failures since the last pause (a round ends at `brokers`).
    in_round: usize,
    down_since: Option<std::time::Instant>,
    slow_failures: u32,
}

/// How long an outage counts as short (retried about every second).
pub const SHORT_OUTAGE: std::time::Duration = std::time::Duration::from_secs(60);

impl Reconnect {
    /// For `brokers` addresses (at least one), starting with the first.
    pub fn new(max_ms: u64, brokers: usize) -> Self {
        Reconnect {
            max_ms,
            brokers: brokers.max(1),
            current: 0,
            in_round: 0,
            down_since: None,
            slow_failures: 0,
        }
    }

    /// Connected: the next outage starts short again.
    pub fn connected(&mut self) {
        self.down_since = None;
        self.slow_failures = 0;
        self.in_round = 0;
    }

    /// The address to try next and the pause before, after a failed or
    /// lost connection; `refused` when the broker answered and said no.
    pub fn failed(&mut self, refused: bool) -> (usize, std::time::Duration) {
        let since = *self.down_since.get_or_insert_with(std::time::Instant::now);
        self.current = (self.current + 1) % self.brokers;
        self.in_round += 1;
        if self.in_round < self.brokers {
            return (self.current, std::time::Duration::ZERO);
        }
        self.in_round = 0;
        if !refused && since.elapsed() < SHORT_OUTAGE {
            let ms = rand::Rng::gen_range(&mut rand::thread_rng(), 250..=1000);
            return (self.current, std::time::Duration::from_millis(ms));
        }
        self.slow_failures = self.slow_failures.saturating_add(1);
        (self.current, backoff(self.slow_failures, 1000, self.max_ms))
    }
}

/// A comma-separated list of broker URLs (a cluster's nodes), all
/// `mqtts://` or all `mqtt://`.
pub fn parse_brokers(text: &str) -> Result<Vec<CloudUrl>, String> {
    let urls = text
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| CloudUrl::parse(u).map_err(|e| format!("{u}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    match urls.first() {
        None => Err("names no broker".into()),
        Some(first) if urls.iter().any(|u| u.tls != first.tls) => {
            Err("mixes mqtts:// and mqtt:// (one cluster, one scheme)".into())
        }
        Some(_) => Ok(urls),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_outage_is_retried_within_a_second_a_refusal_backs_off() {
        let mut r = Reconnect::new(30_000, 1);
        for _ in 0..20 {
            let (i, p) = r.failed(false);
            assert_eq!(i, 0);
            assert!((250..=1000).contains(&p.as_millis()), "{p:?}");
        }
        let mut refused = Reconnect::new(30_000, 1);
        let pauses: Vec<u128> = (0..8).map(|_| refused.failed(true).1.as_millis()).collect();
        assert!((500..=1000).contains(&pauses[0]), "{pauses:?}");
        assert!((15_000..=30_000).contains(&pauses[7]), "{pauses:?}");
        refused.connected();
        let p = refused.failed(false).1.as_millis();
        assert!(
            (250..=1000).contains(&p),
            "after a connection the next outage is short again: {p}"
        );
    }

    #[test]
    fn a_cluster_s_nodes_are_tried_in_turn_the_pause_after_a_round() {
        let mut r = Reconnect::new(30_000, 3);
        assert_eq!(
            r.failed(false),
            (1, std::time::Duration::ZERO),
            "the next node at once"
        );
        assert_eq!(r.failed(false), (2, std::time::Duration::ZERO));
        let (i, p) = r.failed(false);
        assert_eq!(i, 0);
        assert!(
            (250..=1000).contains(&p.as_millis()),
            "a round failed: {p:?}"
        );
        r.connected();
        assert_eq!(
            r.failed(false),
            (1, std::time::Duration::ZERO),
            "a lost node: the next at once"
        );
        let urls = parse_brokers("mqtts://a:8883, mqtts://b").expect("two");
        assert_eq!((urls[1].host.as_str(), urls[1].port), ("b", 8883));
        assert!(parse_brokers("mqtts://a,mqtt://b")
            .expect_err("refused")
            .contains("mixes"));
        assert!(parse_brokers(" , ")
            .expect_err("refused")
            .contains("no broker"));
    }

    #[test]
    fn urls() {
        let u = CloudUrl::parse("mqtts://hq.example.com").expect("ok");
        assert_eq!(
            (u.tls, u.host.as_str(), u.port),
            (true, "hq.example.com", 8883)
        );
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
