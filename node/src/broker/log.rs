//! What rumqttd says only in its log, counted and throttled.
//!
//! rumqttd has no hook for a refused login other than the node's password
//! check: a CONNECT without credentials, with keep-alive 0 or another
//! protocol level, or none in time, and a failed TLS handshake, are each
//! an error line in its log and nothing else. And its lines come one per
//! connection, so a client that reconnects in a loop floods the journal.
//! This layer sits in the node's subscriber:
//! - it counts those lines (`storenode_mqtt_auth_failures_total`, every
//!   refused login; `storenode_mqtt_connections_refused_total{listener=
//!   "mqtts",reason="tls"}`, failed handshakes);
//! - it writes each kind of rumqttd warning or error at most once per
//!   [`EVERY`], with how many it held back; rumqttd's own lines are left out
//!   of the output unless `log.level` names `rumqttd`.
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::metrics::Metrics;

/// At most one line per kind of rumqttd message per this.
pub const EVERY: Duration = Duration::from_secs(10);

/// rumqttd's line for a CONNECT it refused (any reason).
const CONNECT_REFUSED: &str = "Error while handling MQTT connect packet";
/// rumqttd's line for a failed TLS handshake.
const TLS_FAILED: &str = "Tls accept error";

static METRICS: OnceLock<Arc<Metrics>> = OnceLock::new();

/// Count into `metrics` from now on (the first node of the process).
pub fn attach(metrics: Arc<Metrics>) {
    let _ = METRICS.set(metrics);
}

/// Whether an event is rumqttd's (to keep it out of the plain output).
pub fn is_rumqttd(meta: &tracing::Metadata<'_>) -> bool {
    meta.target().starts_with("rumqttd")
}

/// The layer; see the module docs.
#[derive(Default)]
pub struct BrokerLog {
    /// By callsite name: when a line was last written, how many since.
    lines: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, "{}={value:?} ", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, "{}={value} ", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for BrokerLog {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !is_rumqttd(meta) || *meta.level() > Level::WARN {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        if let Some(m) = METRICS.get() {
            if f.message == CONNECT_REFUSED {
                m.mqtt_auth_failures.inc();
            } else if f.message == TLS_FAILED {
                m.mqtt_connections_refused
                    .get_or_create(&vec![
                        ("listener", "mqtts".to_string()),
                        ("reason", "tls".to_string()),
                    ])
                    .inc();
            }
        }
        let held = {
            let Ok(mut lines) = self.lines.lock() else {
                return;
            };
            let now = Instant::now();
            match lines.get_mut(meta.name()) {
                Some((last, n)) if now.duration_since(*last) < EVERY => {
                    *n += 1;
                    return;
                }
                Some((last, n)) => {
                    *last = now;
                    std::mem::take(n)
                }
                None => {
                    lines.insert(meta.name(), (now, 0));
                    0
                }
            }
        };
        let detail = f.rest.trim_end();
        if *meta.level() == Level::ERROR {
            tracing::error!(target: "storenode::broker", rumqttd = %f.message, detail, held_back = held, "broker: {}", f.message);
        } else {
            tracing::warn!(target: "storenode::broker", rumqttd = %f.message, detail, held_back = held, "broker: {}", f.message);
        }
    }
}
