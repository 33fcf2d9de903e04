//! The bridge's Prometheus metrics (`GET /metrics`).
use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

pub struct Metrics {
    registry: Mutex<Registry>,
    /// Store batches by outcome: delivered, duplicate (a copy of one being
    /// delivered), already_delivered (an instance acknowledged it: only
    /// acknowledged again), broken (hash chain or numbering wrong).
    pub batches: Family<Labels, Counter>,
    pub events_delivered: Counter,
    pub webhook_failures: Counter,
    pub webhook_seconds: Histogram,
    pub commands_sent: Counter,
    pub commands_republished: Counter,
    pub commands_resent: Counter,
    pub commands_unanswered: Gauge,
    pub replies: Family<Labels, Counter>,
    pub broker_online: Gauge,
    pub deliveries_in_progress: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("cloud_bridge")),
            batches: Family::default(),
            events_delivered: Counter::default(),
            webhook_failures: Counter::default(),
            webhook_seconds: Histogram::new(exponential_buckets(0.000_5, 2.0, 16)),
            commands_sent: Counter::default(),
            commands_republished: Counter::default(),
            commands_resent: Counter::default(),
            commands_unanswered: Gauge::default(),
            replies: Family::default(),
            broker_online: Gauge::default(),
            deliveries_in_progress: Gauge::default(),
        };
        if let Ok(mut r) = m.registry.lock() {
            r.register(
                "batches",
                "Store batches received, by outcome",
                m.batches.clone(),
            );
            r.register(
                "events_delivered",
                "Store events delivered to the webhook (2xx)",
                m.events_delivered.clone(),
            );
            r.register(
                "webhook_failures",
                "Webhook calls that failed or answered non-2xx (each is retried)",
                m.webhook_failures.clone(),
            );
            r.register(
                "webhook_seconds",
                "Time of one webhook call",
                m.webhook_seconds.clone(),
            );
            r.register(
                "commands_sent",
                "HQ commands the broker took for their stores (answered 202)",
                m.commands_sent.clone(),
            );
            r.register(
                "commands_republished",
                "copies of HQ commands published again because the broker had not routed the first back within 1 s",
                m.commands_republished.clone(),
            );
            r.register(
                "commands_resent",
                "copies of HQ commands this instance published again because their online store had not answered",
                m.commands_resent.clone(),
            );
            r.register(
                "commands_unanswered",
                "HQ commands seen going down that their stores have not answered (every instance keeps them)",
                m.commands_unanswered.clone(),
            );
            r.register(
                "replies",
                "Store replies seen, by status",
                m.replies.clone(),
            );
            r.register(
                "broker_online",
                "1 while connected to the cloud broker",
                m.broker_online.clone(),
            );
            r.register(
                "deliveries_in_progress",
                "Store batches being delivered now",
                m.deliveries_in_progress.clone(),
            );
        }
        m
    }

    pub fn batch(&self, outcome: &str) {
        self.batches
            .get_or_create(&vec![("outcome", outcome.to_string())])
            .inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = encode(&mut out, &r);
        }
        out
    }
}
