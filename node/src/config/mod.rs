//! Configuration: built-in defaults < file (`--config`, TOML) < environment
//! (`STORENODE_…`) < command-line flags.
//!
//! Every layer is flattened to dotted keys (`mqtt.listen`), then the merged
//! map is validated in one place, before anything binds. A bad value stops
//! start-up with the key, the value, where it came from and the reason.
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use protocol::link::CloudUrl;
use protocol::StoreId;

mod keys;
mod layers;
mod validate;

pub use keys::{describe_keys, env_name};
pub use layers::Layers;

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

#[cfg(test)]
mod tests;
