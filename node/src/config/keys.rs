//! Every key the node understands, with its default and help.

pub(super) struct KeySpec {
    pub(super) key: &'static str,
    pub(super) default: Option<&'static str>,
    help: &'static str,
}

/// Every key the node understands, with its default.
pub(super) const KEYS: &[KeySpec] = &[
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
