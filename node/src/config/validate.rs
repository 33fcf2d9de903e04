//! The merged layers checked in one place, before anything binds: each
//! key parsed into the [`Config`] it sets, or refused with its value,
//! where it came from and why.
use std::net::SocketAddr;
use std::path::PathBuf;

use protocol::link::CloudUrl;
use protocol::StoreId;

use super::{CloudConfig, Config, ConfigError, Durability, HttpTls, Layers, LogFormat, Source};

impl Layers {
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
