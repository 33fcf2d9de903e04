//! Configuration: built-in defaults < file (`--config`, TOML) < environment
//! (`STORENODE_…`) < command-line flags.
//!
//! Every layer is flattened to dotted keys (`mqtt.listen`), then the merged
//! map is validated in one place, before anything binds. A bad value stops
//! start-up with the key, the value, where it came from and the reason.
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use protocol::link::CloudUrl;
use protocol::StoreId;

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("built-in default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(v) => write!(f, "environment variable {v}"),
            Source::Flag(v) => write!(f, "flag {v}"),
        }
    }
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config key `{key}` = {value:?} (from {origin}): {reason}")]
    Invalid {
        key: String,
        value: String,
        origin: Source,
        reason: String,
    },
    #[error("config file {path}: unknown key `{key}` (known keys: {known})")]
    UnknownKey {
        path: PathBuf,
        key: String,
        known: String,
    },
    #[error("config file {path}: cannot read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("config file {path}: not valid TOML: {reason}")]
    Syntax { path: PathBuf, reason: String },
}

/// How hard the store pushes a group commit to disk before acknowledging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// sled's flush, then `fdatasync` of its log file: survives power loss.
    Fdatasync,
    /// sled's flush only (`sync_file_range`): survives a process crash, may
    /// lose the last acknowledged writes on power loss.
    Flush,
}

/// Whether and how the HTTP listener speaks TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpTls {
    Off,
    /// A certificate from the node's own CA for the node's names.
    NodeCa,
    /// The chain's own certificate and key (PEM files).
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON when stdout is not a terminal, text otherwise.
    Auto,
    Json,
    Text,
}

/// The validated configuration of one node.
#[derive(Debug, Clone)]
pub struct Config {
    pub store_id: StoreId,
    pub data_dir: PathBuf,
    pub mqtt_listen: SocketAddr,
    pub mqtt_max_connections: usize,
    pub mqtt_max_connections_per_client: usize,
    /// The TLS device listener (mutual TLS, one namespace per device).
    pub mqtt_tls_listen: Option<SocketAddr>,
    /// Extra names (DNS or IP) for the broker's certificate.
    pub mqtt_tls_names: Vec<String>,
    /// The plaintext listener may face the LAN (loudly insecure).
    pub mqtt_insecure_plaintext_lan: bool,
    pub mqtt_max_payload_bytes: usize,
    /// Per device subscription, the broker's buffer for a subscriber that
    /// falls behind (bytes).
    pub mqtt_subscriber_buffer_bytes: usize,
    pub http_listen: SocketAddr,
    pub http_max_body_bytes: usize,
    /// DNS names the HTTP listener answers to (besides addresses,
    /// `localhost` and `*.local`).
    pub http_hostnames: Vec<String>,
    /// Serve `/metrics` without the API token.
    pub http_metrics_open: bool,
    /// HTTPS for the pages and the API.
    pub http_tls: HttpTls,
    /// Most HTTP connections open at once, and per client address.
    pub http_max_connections: usize,
    pub http_max_connections_per_client: usize,
    /// A request head must arrive within this (idle connections close).
    pub http_header_timeout_s: u64,
    pub api_token: Option<String>,
    pub durability: Durability,
    /// Free bytes kept on the data directory's disk (`storage.min_free_mib`).
    pub min_free_bytes: u64,
    pub max_batch: usize,
    pub linger_us: u64,
    pub inbox_retention_days: u64,
    pub log_level: String,
    pub log_format: LogFormat,
    pub shutdown_grace_ms: u64,
    /// How long a ready order waits for its customer.
    pub pickup_expiry_s: u64,
    /// How long before expiry the customer is reminded.
    pub pickup_reminder_s: u64,
    /// HQ public keys whose pickup tokens this node accepts.
    pub pickup_hq_keys: Vec<ed25519_dalek::VerifyingKey>,
    /// How long an order may wait for its payment to be confirmed.
    pub payment_timeout_s: u64,
    /// Partial fulfilment, the store's capacity, counting (`orders.partial`,
    /// `orders.max_open`, `stock.recount_above`).
    pub policy: crate::domain::order::Policy,
    /// The window in which availability changes are coalesced before HQ
    /// hears them (`stock.availability_window_ms`).
    pub availability_window_ms: u64,
    /// The staff pages' language and text.
    pub web_messages: crate::i18n::Messages,
    /// The store's time zone, for times shown to staff.
    pub web_time_zone: jiff::tz::TimeZone,
    /// A staff session ends after this long without a request…
    pub session_idle_s: u64,
    /// …and after this long in any case (a shift).
    pub session_max_s: u64,
    /// The link to the chain's cloud broker; `None`: offline only.
    pub cloud: Option<CloudConfig>,
}

/// The validated `[cloud]` section.
#[derive(Clone)]
pub struct CloudConfig {
    pub url: CloudUrl,
    /// The cluster's other nodes (`cloud.url` lists them after the first,
    /// comma-separated): tried in turn when one fails.
    pub others: Vec<CloudUrl>,
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
            .field("others", &self.others.len())
            .field(
                "client_certificate",
                &self
                    .tls
                    .as_ref()
                    .map(|t| t.client_auth_cert_resolver.has_certs()),
            )
            .field("username", &self.credentials.as_ref().map(|c| &c.0))
            .field("batch_max_events", &self.batch_max_events)
            .field("batch_max_bytes", &self.batch_max_bytes)
            .finish_non_exhaustive()
    }
}

struct KeySpec {
    key: &'static str,
    default: Option<&'static str>,
    help: &'static str,
}

/// Every key the node understands, with its default.
const KEYS: &[KeySpec] = &[
    KeySpec {
        key: "store_id",
        default: Some("store-local"),
        help: "this store's id (letters, digits, - _ .)",
    },
    KeySpec {
        key: "data_dir",
        default: Some("./storenode-data"),
        help: "where the database, token and keys live",
    },
    KeySpec {
        key: "mqtt.listen",
        default: Some("127.0.0.1:1883"),
        help: "store broker listener (devices)",
    },
    KeySpec {
        key: "mqtt.tls_listen",
        default: Some(""),
        help: "store broker TLS listener for devices (client certificates from the node's CA), e.g. 0.0.0.0:8883; empty: none",
    },
    KeySpec {
        key: "mqtt.tls_names",
        default: Some(""),
        help: "comma-separated DNS names and IP addresses devices use for this node, written into the broker's certificate (besides localhost, 127.0.0.1 and this machine's host name)",
    },
    KeySpec {
        key: "mqtt.insecure_plaintext_lan",
        default: Some("false"),
        help: "INSECURE: let mqtt.listen (no TLS, no confinement) listen beyond loopback",
    },
    KeySpec {
        key: "mqtt.max_connections",
        default: Some("256"),
        help: "most simultaneous MQTT clients",
    },
    KeySpec {
        key: "mqtt.max_connections_per_client",
        default: Some("16"),
        help: "most MQTT connections one client address may hold",
    },
    KeySpec {
        key: "mqtt.max_payload_bytes",
        default: Some("65536"),
        help: "largest MQTT message accepted",
    },
    KeySpec {
        key: "mqtt.subscriber_buffer_kib",
        default: Some("4096"),
        help: "per device subscription, how much recent traffic the broker keeps for a subscriber that falls behind (KiB); the node's own event subscriptions keep 1 MiB",
    },
    KeySpec {
        key: "http.listen",
        default: Some("127.0.0.1:8080"),
        help: "staff pages and JSON API listener",
    },
    KeySpec {
        key: "http.max_body_bytes",
        default: Some("262144"),
        help: "largest HTTP request body accepted",
    },
    KeySpec {
        key: "http.hostnames",
        default: Some(""),
        help: "comma-separated DNS names staff use for this node (addresses, localhost and *.local always work); other Host names are refused (DNS rebinding)",
    },
    KeySpec {
        key: "http.max_connections",
        default: Some("512"),
        help: "most HTTP connections open at once (keep below the open-files limit)",
    },
    KeySpec {
        key: "http.max_connections_per_client",
        default: Some("64"),
        help: "most HTTP connections one client address may hold",
    },
    KeySpec {
        key: "http.header_timeout_s",
        default: Some("10"),
        help: "a connection must send a whole request head within this many seconds (also when idle between requests)",
    },
    KeySpec {
        key: "http.tls",
        default: Some("off"),
        help: "HTTPS for the pages and API: off | node-ca (a certificate from the node's CA for its names; staff devices trust /ca.pem) | files (http.tls_cert and http.tls_key)",
    },
    KeySpec {
        key: "http.tls_cert",
        default: Some(""),
        help: "PEM certificate chain for HTTPS (with http.tls = files)",
    },
    KeySpec {
        key: "http.tls_key",
        default: Some(""),
        help: "PEM private key of http.tls_cert",
    },
    KeySpec {
        key: "http.metrics_open",
        default: Some("false"),
        help: "serve /metrics without the API token (it shows the store's business counts)",
    },
    KeySpec {
        key: "api.token",
        default: None,
        help: "bearer token for the API (default: generated into data_dir)",
    },
    KeySpec {
        key: "storage.durability",
        default: Some("fdatasync"),
        help: "fdatasync | flush",
    },
    KeySpec {
        key: "storage.max_batch",
        default: Some("512"),
        help: "most commands in one group commit",
    },
    KeySpec {
        key: "storage.inbox_retention_days",
        default: Some("7"),
        help: "how long a command id is remembered (retries within it get the first answer)",
    },
    KeySpec {
        key: "storage.min_free_mib",
        default: Some("128"),
        help: "keep this much of the data directory's disk free: below it new work is refused (reads go on) until space is freed",
    },
    KeySpec {
        key: "storage.linger_us",
        default: Some("1000"),
        help: "under load, wait this long for a group to grow (0: never)",
    },
    KeySpec {
        key: "pickup.expiry_s",
        default: Some("259200"),
        help: "seconds a ready order waits before it expires and is restocked (3 days)",
    },
    KeySpec {
        key: "pickup.reminder_s",
        default: Some("86400"),
        help: "seconds before expiry the customer is reminded (0: never)",
    },
    KeySpec {
        key: "pickup.hq_keys",
        default: Some(""),
        help: "comma-separated HQ public keys (base64url Ed25519) trusted for pickup tokens",
    },
    KeySpec {
        key: "payment.timeout_s",
        default: Some("86400"),
        help: "seconds a `pending` order waits for the cloud to confirm payment before it is cancelled (1 day)",
    },
    KeySpec {
        key: "orders.partial",
        default: Some("none"),
        help: "when a line cannot be filled: `none` rejects the whole order, `allow` fills the other lines and rejects that one (each with its code)",
    },
    KeySpec {
        key: "orders.max_open",
        default: Some("0"),
        help: "most open orders the store works at once; beyond it new orders are rejected `capacity` (0: no limit)",
    },
    KeySpec {
        key: "stock.recount_above",
        default: Some("3"),
        help: "a count further than this many units from what the node expected is counted again, then approved by a manager",
    },
    KeySpec {
        key: "stock.availability_window_ms",
        default: Some("1000"),
        help: "availability changes within this window reach HQ as one value per SKU",
    },
    KeySpec {
        key: "web.language",
        default: Some("en"),
        help: "language of the staff pages: en | de",
    },
    KeySpec {
        key: "web.messages",
        default: Some(""),
        help: "a TOML file of the chain's own page texts (keys as in the built-in catalog; overrides web.language's)",
    },
    KeySpec {
        key: "web.time_zone",
        default: Some(""),
        help: "IANA time zone for times shown to staff, e.g. Europe/Berlin (default: the system's)",
    },
    KeySpec {
        key: "web.session_idle_s",
        default: Some("3600"),
        help: "a staff login ends after this many seconds without use",
    },
    KeySpec {
        key: "web.session_max_s",
        default: Some("36000"),
        help: "a staff login ends after this many seconds in any case (a shift)",
    },
    KeySpec {
        key: "cloud.url",
        default: Some(""),
        help: "the chain's cloud broker, mqtts://host:8883 (mqtt:// only on loopback or with cloud.allow_plaintext), or its cluster's nodes comma-separated (tried in turn); empty: offline only",
    },
    KeySpec {
        key: "cloud.ca_file",
        default: Some(""),
        help: "PEM file of the CA(s) the cloud broker's certificate must chain to (default: the system's)",
    },
    KeySpec {
        key: "cloud.cert_file",
        default: Some(""),
        help: "PEM client certificate for the cloud broker (with cloud.key_file)",
    },
    KeySpec {
        key: "cloud.key_file",
        default: Some(""),
        help: "PEM private key of cloud.cert_file",
    },
    KeySpec {
        key: "cloud.username",
        default: Some(""),
        help: "username for the cloud broker (with cloud.password)",
    },
    KeySpec {
        key: "cloud.password",
        default: Some(""),
        help: "password for the cloud broker (prefer the environment variable)",
    },
    KeySpec {
        key: "cloud.allow_plaintext",
        default: Some("false"),
        help: "allow mqtt:// (no TLS) to a broker that is not on this machine",
    },
    KeySpec {
        key: "cloud.keep_alive_s",
        default: Some("30"),
        help: "MQTT keep-alive to the cloud broker (seconds)",
    },
    KeySpec {
        key: "cloud.batch_max_events",
        default: Some("2000"),
        help: "most events in one upload batch",
    },
    KeySpec {
        key: "cloud.batch_max_bytes",
        default: Some("524288"),
        help: "largest upload batch (bytes of events)",
    },
    KeySpec {
        key: "cloud.batch_linger_ms",
        default: Some("20"),
        help: "how long a small batch waits for more events",
    },
    KeySpec {
        key: "cloud.ack_timeout_s",
        default: Some("10"),
        help: "a batch not acknowledged in this time is sent again",
    },
    KeySpec {
        key: "cloud.status_interval_s",
        default: Some("30"),
        help: "how often the store's status is refreshed at HQ",
    },
    KeySpec {
        key: "log.level",
        default: Some("info"),
        help: "tracing filter, e.g. info or storenode=debug",
    },
    KeySpec {
        key: "log.format",
        default: Some("auto"),
        help: "auto | json | text",
    },
    KeySpec {
        key: "shutdown.grace_ms",
        default: Some("10000"),
        help: "how long a shutdown may drain",
    },
];

/// The environment variable that sets `key`.
pub fn env_name(key: &str) -> String {
    format!("STORENODE_{}", key.to_ascii_uppercase().replace('.', "_"))
}

/// Known keys with their help, for `--help` texts and docs.
pub fn describe_keys() -> String {
    let mut out = String::new();
    for k in KEYS {
        out.push_str(&format!(
            "  {:<24} {:<18} {}  [{}]\n",
            k.key,
            k.default.unwrap_or("(none)"),
            k.help,
            env_name(k.key)
        ));
    }
    out
}

/// Raw values by key, each with where it came from.
#[derive(Debug, Default, Clone)]
pub struct Layers {
    values: BTreeMap<String, (String, Source)>,
}

impl Layers {
    /// Start from the built-in defaults.
    pub fn defaults() -> Self {
        let mut l = Layers::default();
        for k in KEYS {
            if let Some(d) = k.default {
                l.values
                    .insert(k.key.to_string(), (d.to_string(), Source::Default));
            }
        }
        l
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>, source: Source) {
        self.values.insert(key.to_string(), (value.into(), source));
    }

    /// Overlay a TOML file.
    pub fn file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        self.toml_text(&text, path)
    }

    /// Overlay TOML text (as if read from `path`).
    pub fn toml_text(&mut self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let at = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line} column {column}: ")
            });
            ConfigError::Syntax {
                path: path.to_path_buf(),
                reason: format!(
                    "{}{}",
                    at.unwrap_or_default(),
                    e.message().replace('\n', " ")
                ),
            }
        })?;
        let mut flat = Vec::new();
        flatten("", &toml::Value::Table(table), &mut flat);
        for (key, value) in flat {
            if !KEYS.iter().any(|k| k.key == key) {
                return Err(ConfigError::UnknownKey {
                    path: path.to_path_buf(),
                    key,
                    known: KEYS.iter().map(|k| k.key).collect::<Vec<_>>().join(", "),
                });
            }
            self.set(&key, value, Source::File(path.to_path_buf()));
        }
        Ok(())
    }

    /// Overlay `STORENODE_…` variables from `vars`.
    pub fn env(&mut self, vars: impl IntoIterator<Item = (String, String)>) {
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        for k in KEYS {
            let name = env_name(k.key);
            if let Some(v) = vars.get(&name) {
                self.set(k.key, v.clone(), Source::Env(name));
            }
        }
    }

    fn get(&self, key: &str) -> Option<&(String, Source)> {
        self.values.get(key)
    }

    fn http_tls(&self) -> Result<HttpTls, ConfigError> {
        let file = |key: &'static str| -> Result<Option<PathBuf>, ConfigError> {
            match self.get(key) {
                Some((v, _)) if !v.trim().is_empty() => {
                    let path = PathBuf::from(v.trim());
                    self.parse(key, |_| {
                        let text = std::fs::read_to_string(&path)
                            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                        if text.contains("-----BEGIN ") {
                            Ok(())
                        } else {
                            Err(format!("{} is not a PEM file", path.display()))
                        }
                    })?;
                    Ok(Some(path))
                }
                _ => Ok(None),
            }
        };
        let (cert, key) = (file("http.tls_cert")?, file("http.tls_key")?);
        let mode = self.parse("http.tls", |v| match v.trim() {
            "off" | "node-ca" | "files" => Ok(v.trim().to_string()),
            _ => Err("must be `off`, `node-ca` or `files`".to_string()),
        })?;
        match (mode.as_str(), cert, key) {
            ("files", Some(cert), Some(key)) => Ok(HttpTls::Files { cert, key }),
            ("files", _, _) => Err(self.invalid(
                "http.tls",
                "is `files` but http.tls_cert and http.tls_key are not both set",
            )),
            (_, Some(_), _) | (_, _, Some(_)) => {
                Err(self.invalid("http.tls_cert", "is set but http.tls is not `files`"))
            }
            ("node-ca", None, None) => Ok(HttpTls::NodeCa),
            _ => Ok(HttpTls::Off),
        }
    }

    /// Validate every key and build the [`Config`].
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let store_id = self.parse("store_id", |v| {
            StoreId::new(v).map_err(|e| format!("store id {e}"))
        })?;
        let data_dir = self.parse("data_dir", |v| {
            if v.trim().is_empty() {
                Err("must not be empty".to_string())
            } else {
                Ok(PathBuf::from(v))
            }
        })?;
        let mqtt_listen = self.parse("mqtt.listen", socket_addr)?;
        let mqtt_insecure_plaintext_lan = self.parse("mqtt.insecure_plaintext_lan", boolean)?;
        if !mqtt_listen.ip().is_loopback() && !mqtt_insecure_plaintext_lan {
            return Err(self.invalid(
                "mqtt.listen",
                "is reachable from the store network without TLS: passwords and pickup codes would cross the LAN in clear, and a plaintext client is confined to no namespace; serve devices on mqtt.tls_listen, keep mqtt.listen on 127.0.0.1 (or set mqtt.insecure_plaintext_lan = true)",
            ));
        }
        let mqtt_tls_listen = match self.get("mqtt.tls_listen") {
            Some((v, _)) if !v.trim().is_empty() => {
                Some(self.parse("mqtt.tls_listen", socket_addr)?)
            }
            _ => None,
        };
        let http_listen = self.parse("http.listen", socket_addr)?;
        let overlap = mqtt_listen.ip() == http_listen.ip()
            || mqtt_listen.ip().is_unspecified()
            || http_listen.ip().is_unspecified();
        if overlap && mqtt_listen.port() == http_listen.port() && mqtt_listen.port() != 0 {
            return Err(self.invalid("http.listen", "is the same address as mqtt.listen"));
        }
        let config = Config {
            store_id,
            data_dir,
            mqtt_listen,
            mqtt_max_connections: self.parse("mqtt.max_connections", |v| number(v, 1, 100_000))?,
            mqtt_max_connections_per_client: self
                .parse("mqtt.max_connections_per_client", |v| number(v, 1, 100_000))?,
            mqtt_tls_listen,
            mqtt_insecure_plaintext_lan,
            mqtt_tls_names: self.parse("mqtt.tls_names", |v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(|n| {
                        if n.parse::<std::net::IpAddr>().is_ok() || dns_name(n) {
                            Ok(n.to_ascii_lowercase())
                        } else {
                            Err(format!("{n:?} is neither an IP address nor a DNS name"))
                        }
                    })
                    .collect()
            })?,
            mqtt_max_payload_bytes: self
                .parse("mqtt.max_payload_bytes", |v| number(v, 1024, 16 << 20))?,
            mqtt_subscriber_buffer_bytes: self
                .parse("mqtt.subscriber_buffer_kib", |v| number(v, 256, 1 << 20))?
                * 1024,
            http_listen,
            http_max_body_bytes: self
                .parse("http.max_body_bytes", |v| number(v, 1024, 64 << 20))?,
            http_metrics_open: self.parse("http.metrics_open", boolean)?,
            http_tls: self.http_tls()?,
            http_max_connections: self.parse("http.max_connections", |v| number(v, 8, 100_000))?,
            http_max_connections_per_client: self
                .parse("http.max_connections_per_client", |v| number(v, 1, 100_000))?,
            http_header_timeout_s: self.parse("http.header_timeout_s", |v| number(v, 1, 3600))?
                as u64,
            http_hostnames: self.parse("http.hostnames", |v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(|n| {
                        if dns_name(n) {
                            Ok(n.to_ascii_lowercase())
                        } else {
                            Err(format!("{n:?} is not a DNS name"))
                        }
                    })
                    .collect()
            })?,
            api_token: match self.get("api.token") {
                None => None,
                Some(_) => Some(self.parse("api.token", token)?),
            },
            durability: self.parse("storage.durability", |v| match v {
                "fdatasync" => Ok(Durability::Fdatasync),
                "flush" => Ok(Durability::Flush),
                _ => Err("must be `fdatasync` or `flush`".to_string()),
            })?,
            max_batch: self.parse("storage.max_batch", |v| number(v, 1, 100_000))?,
            min_free_bytes: self.parse("storage.min_free_mib", |v| number(v, 1, 1 << 20))? as u64
                * (1 << 20),
            linger_us: self.parse("storage.linger_us", |v| number(v, 0, 100_000))? as u64,
            inbox_retention_days: self
                .parse("storage.inbox_retention_days", |v| number(v, 1, 3650))?
                as u64,
            log_level: self.parse("log.level", |v| {
                tracing_subscriber::EnvFilter::try_new(v)
                    .map(|_| v.to_string())
                    .map_err(|e| format!("not a log filter: {e}"))
            })?,
            log_format: self.parse("log.format", |v| match v {
                "auto" => Ok(LogFormat::Auto),
                "json" => Ok(LogFormat::Json),
                "text" => Ok(LogFormat::Text),
                _ => Err("must be `auto`, `json` or `text`".to_string()),
            })?,
            shutdown_grace_ms: self.parse("shutdown.grace_ms", |v| number(v, 0, 600_000))? as u64,
            pickup_expiry_s: self.parse("pickup.expiry_s", |v| number(v, 1, 90 * 86_400))? as u64,
            pickup_reminder_s: self.parse("pickup.reminder_s", |v| number(v, 0, 90 * 86_400))?
                as u64,
            pickup_hq_keys: self.parse("pickup.hq_keys", |v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(|k| {
                        protocol::pickup::key_from_text(k).map_err(|e| format!("key {k:?}: {e}"))
                    })
                    .collect()
            })?,
            payment_timeout_s: self.parse("payment.timeout_s", |v| number(v, 60, 90 * 86_400))?
                as u64,
            policy: crate::domain::order::Policy {
                partial: self.parse("orders.partial", |v| match v.trim() {
                    "none" => Ok(false),
                    "allow" => Ok(true),
                    _ => Err("must be `none` or `allow`".to_string()),
                })?,
                max_open: self.parse("orders.max_open", |v| number(v, 0, 1_000_000))? as u32,
                recount_above: self.parse("stock.recount_above", |v| number(v, 0, 100_000))? as u32,
            },
            availability_window_ms: self
                .parse("stock.availability_window_ms", |v| number(v, 50, 600_000))?
                as u64,
            web_messages: {
                let language = self.parse("web.language", |v| {
                    crate::i18n::Language::from_name(v.trim())
                        .ok_or_else(|| "must be `en` or `de`".to_string())
                })?;
                let mut m = crate::i18n::Messages::new(language);
                let file = self.get("web.messages").map(|(v, _)| v.trim().to_string());
                if let Some(path) = file.filter(|p| !p.is_empty()) {
                    self.parse("web.messages", |_| {
                        let text = std::fs::read_to_string(&path)
                            .map_err(|e| format!("cannot read {path}: {e}"))?;
                        m.overlay(&text).map_err(|e| format!("{path}: {e}"))
                    })?;
                }
                m
            },
            web_time_zone: self.parse("web.time_zone", |v| {
                let v = v.trim();
                if v.is_empty() {
                    return Ok(jiff::tz::TimeZone::system());
                }
                jiff::tz::TimeZone::get(v)
                    .map_err(|e| format!("not a time zone of this system's database: {e}"))
            })?,
            session_idle_s: self.parse("web.session_idle_s", |v| number(v, 60, 7 * 86_400))? as u64,
            session_max_s: self.parse("web.session_max_s", |v| number(v, 60, 30 * 86_400))? as u64,
            cloud: None,
        };
        let config = Config {
            cloud: self.cloud()?,
            ..config
        };
        if config.session_idle_s > config.session_max_s {
            return Err(self.invalid(
                "web.session_idle_s",
                "must not be longer than web.session_max_s",
            ));
        }
        if config.pickup_reminder_s >= config.pickup_expiry_s && config.pickup_reminder_s > 0 {
            return Err(self.invalid(
                "pickup.reminder_s",
                "must be less than pickup.expiry_s (or 0 for no reminder)",
            ));
        }
        Ok(config)
    }

    /// The `[cloud]` keys: none set (no URL) means offline only.
    fn cloud(&self) -> Result<Option<CloudConfig>, ConfigError> {
        let text = |key: &str| {
            self.get(key)
                .map(|(v, _)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let Some(url) = text("cloud.url") else {
            return Ok(None);
        };
        let mut urls = self.parse("cloud.url", |_| protocol::link::parse_brokers(&url))?;
        let url: CloudUrl = urls.remove(0);
        let allow_plaintext = self.parse("cloud.allow_plaintext", boolean)?;
        let all_loopback = url.is_loopback() && urls.iter().all(CloudUrl::is_loopback);
        if !(url.tls || all_loopback || allow_plaintext) {
            return Err(self.invalid(
                "cloud.url",
                "mqtt:// sends orders, pickup codes and credentials unencrypted over the network: use mqtts:// (or set cloud.allow_plaintext = true for a trusted network)",
            ));
        }
        let pem = |key: &str| -> Result<Option<Vec<u8>>, ConfigError> {
            match text(key) {
                None => Ok(None),
                Some(path) => self
                    .parse(key, |_| {
                        std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))
                    })
                    .map(Some),
            }
        };
        let ca = pem("cloud.ca_file")?;
        let cert = pem("cloud.cert_file")?;
        let key = pem("cloud.key_file")?;
        if cert.is_some() != key.is_some() {
            let missing = if cert.is_some() {
                "cloud.key_file"
            } else {
                "cloud.cert_file"
            };
            return Err(self.invalid(missing, "cloud.cert_file and cloud.key_file go together"));
        }
        let username = text("cloud.username");
        let password = text("cloud.password");
        if username.is_some() != password.is_some() {
            let missing = if username.is_some() {
                "cloud.password"
            } else {
                "cloud.username"
            };
            return Err(self.invalid(missing, "cloud.username and cloud.password go together"));
        }
        if !url.tls && (cert.is_some() || ca.is_some()) {
            return Err(self.invalid(
                "cloud.url",
                "certificates are set but the URL is mqtt:// (no TLS): use mqtts://",
            ));
        }
        let cloud = CloudConfig {
            url,
            others: urls,
            tls: None,
            credentials: username.zip(password),
            keep_alive_s: self.parse("cloud.keep_alive_s", |v| number(v, 5, 3600))? as u64,
            batch_max_events: self.parse("cloud.batch_max_events", |v| number(v, 1, 100_000))?,
            batch_max_bytes: self.parse("cloud.batch_max_bytes", |v| number(v, 4096, 64 << 20))?,
            batch_linger_ms: self.parse("cloud.batch_linger_ms", |v| number(v, 0, 60_000))? as u64,
            ack_timeout_s: self.parse("cloud.ack_timeout_s", |v| number(v, 1, 3600))? as u64,
            status_interval_s: self.parse("cloud.status_interval_s", |v| number(v, 1, 86_400))?
                as u64,
        };
        let tls = if cloud.url.tls {
            let key_name = if cert.is_some() {
                "cloud.cert_file"
            } else {
                "cloud.ca_file"
            };
            Some(self.parse(key_name, |_| {
                protocol::link::tls_config(ca.as_deref(), cert.as_deref().zip(key.as_deref()))
            })?)
        } else {
            None
        };
        Ok(Some(CloudConfig { tls, ..cloud }))
    }

    fn parse<T>(
        &self,
        key: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (value, source) = self
            .get(key)
            .cloned()
            .unwrap_or_else(|| (String::new(), Source::Default));
        f(&value).map_err(|reason| ConfigError::Invalid {
            key: key.to_string(),
            value,
            origin: source,
            reason,
        })
    }

    fn invalid(&self, key: &str, reason: &str) -> ConfigError {
        let (value, source) = self
            .get(key)
            .cloned()
            .unwrap_or_else(|| (String::new(), Source::Default));
        ConfigError::Invalid {
            key: key.to_string(),
            value,
            origin: source,
            reason: reason.to_string(),
        }
    }
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// Whether `n` is a DNS name (labels of letters, digits and '-').
fn dns_name(n: &str) -> bool {
    n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn socket_addr(v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| "not a socket address like 127.0.0.1:1883 or 0.0.0.0:8080".to_string())
}

fn number(v: &str, min: usize, max: usize) -> Result<usize, String> {
    let n: usize = v
        .trim()
        .parse()
        .map_err(|_| "not a whole number".to_string())?;
    if n < min || n > max {
        return Err(format!("must be between {min} and {max}"));
    }
    Ok(n)
}

fn boolean(v: &str) -> Result<bool, String> {
    match v.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be true or false".to_string()),
    }
}

fn token(v: &str) -> Result<String, String> {
    if v.len() < 16 {
        return Err("must be at least 16 characters".to_string());
    }
    if !v.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".to_string());
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests;
