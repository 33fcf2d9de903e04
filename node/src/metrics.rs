//! Prometheus metrics. Every notable thing the node does is counted here
//! and logged where it happens.
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
    pub events_appended: Family<Labels, Counter>,
    pub event_bytes: Counter,
    pub commands: Family<Labels, Counter>,
    pub group_commits: Counter,
    pub group_commit_size: Histogram,
    pub group_commit_seconds: Histogram,
    pub forged_events: Family<Labels, Counter>,
    pub dead_letters: Family<Labels, Counter>,
    pub service_restarts: Family<Labels, Counter>,
    pub service_up: Family<Labels, Gauge>,
    pub service_events: Family<Labels, Counter>,
    /// Each supervised service: running (`true`) or waiting to restart.
    services: Mutex<std::collections::BTreeMap<&'static str, bool>>,
    pub consumer_lag: Family<Labels, Gauge>,
    pub log_head: Gauge,
    pub orders: Family<Labels, Gauge>,
    pub db_bytes: Gauge,
    pub writer_queue: Gauge,
    pub orders_late: Gauge,
    pub skus_out_of_stock: Gauge,
    pub http_requests: Family<Labels, Counter>,
    pub mqtt_auth_failures: Counter,
    pub broker_publish_deferred: Counter,
    pub staff_logins: Family<Labels, Counter>,
    pub staff_lockouts: Family<Labels, Counter>,
    pub staff_locked: Gauge,
    pub staff_sessions: Gauge,
    pub csrf_refused: Counter,
    pub live_clients: Gauge,
    pub live_lagged: Counter,
    pub sync_online: Gauge,
    pub sync_backlog_events: Gauge,
    pub sync_backlog_oldest_seconds: Gauge,
    pub sync_acked_seq: Gauge,
    pub sync_events_acked: Counter,
    pub sync_batches: Family<Labels, Counter>,
    pub sync_reconnects: Counter,
    pub sync_down: Family<Labels, Counter>,
    pub http_connections_refused: Counter,
    pub mqtt_connections_refused: Family<Labels, Counter>,
    pub device_commands_refused: Family<Labels, Counter>,
    pub clock_steps: Family<Labels, Counter>,
    pub clock_synchronised: Gauge,
    pub clock_behind_seconds: Gauge,
    pub notices_pending: Gauge,
    pub receipts: Family<Labels, Counter>,
    pub count_tasks_open: Gauge,
    pub skus_short_for_orders: Gauge,
    pub writes_refused: Family<Labels, Counter>,
    pub disk_free_bytes: Gauge,
    pub disk_writable: Gauge,
    pub notice_sends: Family<Labels, Counter>,
    pub notice_acks: Family<Labels, Counter>,
    pub notices_dropped: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("storenode")),
            events_appended: Family::default(),
            event_bytes: Counter::default(),
            commands: Family::default(),
            group_commits: Counter::default(),
            group_commit_size: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            group_commit_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            forged_events: Family::default(),
            dead_letters: Family::default(),
            service_restarts: Family::default(),
            service_up: Family::default(),
            service_events: Family::default(),
            services: Mutex::default(),
            consumer_lag: Family::default(),
            log_head: Gauge::default(),
            orders: Family::default(),
            db_bytes: Gauge::default(),
            writer_queue: Gauge::default(),
            orders_late: Gauge::default(),
            skus_out_of_stock: Gauge::default(),
            http_requests: Family::default(),
            mqtt_auth_failures: Counter::default(),
            broker_publish_deferred: Counter::default(),
            staff_logins: Family::default(),
            staff_lockouts: Family::default(),
            staff_locked: Gauge::default(),
            staff_sessions: Gauge::default(),
            csrf_refused: Counter::default(),
            live_clients: Gauge::default(),
            live_lagged: Counter::default(),
            sync_online: Gauge::default(),
            sync_backlog_events: Gauge::default(),
            sync_backlog_oldest_seconds: Gauge::default(),
            sync_acked_seq: Gauge::default(),
            sync_events_acked: Counter::default(),
            sync_batches: Family::default(),
            sync_reconnects: Counter::default(),
            sync_down: Family::default(),
            http_connections_refused: Counter::default(),
            mqtt_connections_refused: Family::default(),
            device_commands_refused: Family::default(),
            clock_steps: Family::default(),
            clock_synchronised: Gauge::default(),
            clock_behind_seconds: Gauge::default(),
            notices_pending: Gauge::default(),
            receipts: Family::default(),
            count_tasks_open: Gauge::default(),
            skus_short_for_orders: Gauge::default(),
            writes_refused: Family::default(),
            disk_free_bytes: Gauge::default(),
            disk_writable: Gauge::default(),
            notice_sends: Family::default(),
            notice_acks: Family::default(),
            notices_dropped: Family::default(),
        };
        if let Ok(mut r) = m.registry.lock() {
            r.register(
                "writes_refused",
                "Writes refused before touching the disk, by reason (disk_full: under storage.min_free_mib free; read_only)",
                m.writes_refused.clone(),
            );
            r.register(
                "disk_free_bytes",
                "Bytes free for the node on the data directory's filesystem (read at scrape time)",
                m.disk_free_bytes.clone(),
            );
            r.register(
                "disk_writable",
                "1 while new work is accepted; 0 while the disk is full (under storage.min_free_mib) or read-only",
                m.disk_writable.clone(),
            );
            r.register(
                "till_receipts",
                "Till receipts posted over HTTP, by outcome (recorded; repeat: a resend, answered from the first time; unauthorized: a wrong till credential)",
                m.receipts.clone(),
            );
            r.register(
                "count_tasks_open",
                "Count tasks open (counting, recount, waiting for approval), read at scrape time",
                m.count_tasks_open.clone(),
            );
            r.register(
                "skus_short_for_orders",
                "SKUs whose open orders hold more than the node believes is on the shelf (their orders are at risk), read at scrape time",
                m.skus_short_for_orders.clone(),
            );
            r.register(
                "notices_pending",
                "Notices a device must act on, sent and not yet acknowledged by it",
                m.notices_pending.clone(),
            );
            r.register(
                "notice_sends",
                "Sends of notices a device must act on, by attempt (first, again)",
                m.notice_sends.clone(),
            );
            r.register(
                "notice_acks",
                "Acknowledgements from devices, by outcome (acknowledged; unknown: a repeat or an id nothing waits for; invalid; unregistered)",
                m.notice_acks.clone(),
            );
            r.register(
                "notices_dropped",
                "Notices no longer sent, by reason (superseded, order_closed, device_removed; expired: unacknowledged for a day; full: over 10,000 waiting)",
                m.notices_dropped.clone(),
            );
            r.register(
                "clock_steps",
                "Steps of the wall clock (over 2 s against the monotonic clock) since start, by direction",
                m.clock_steps.clone(),
            );
            r.register(
                "clock_synchronised",
                "0 while the wall clock reads more than 2 s before the node's time (the newest event, counted on by real time), else 1",
                m.clock_synchronised.clone(),
            );
            r.register(
                "clock_behind_log_seconds",
                "How far the wall clock reads before the newest event (0: it does not)",
                m.clock_behind_seconds.clone(),
            );
            r.register(
                "device_commands_refused",
                "Device commands refused before any write, by the device's kind (`unregistered`: from a namespace no registered device has)",
                m.device_commands_refused.clone(),
            );
            r.register(
                "mqtt_connections_refused",
                "MQTT connections closed before rumqttd saw them, by listener and reason (limit, idle, handshake_busy, handshake_timeout)",
                m.mqtt_connections_refused.clone(),
            );
            r.register(
                "http_connections_refused",
                "HTTP connections closed at once: over the per-client or total limit",
                m.http_connections_refused.clone(),
            );
            r.register(
                "sync_online",
                "1 while the link to the cloud broker is up (0 when down or not configured)",
                m.sync_online.clone(),
            );
            r.register(
                "sync_backlog_events",
                "Events not yet acknowledged by HQ",
                m.sync_backlog_events.clone(),
            );
            r.register(
                "sync_backlog_oldest_seconds",
                "Age of the oldest event not yet acknowledged by HQ",
                m.sync_backlog_oldest_seconds.clone(),
            );
            r.register(
                "sync_acked_seq",
                "The last log position HQ acknowledged",
                m.sync_acked_seq.clone(),
            );
            r.register(
                "sync_events_acked",
                "Events HQ acknowledged (the drain rate is its rate)",
                m.sync_events_acked.clone(),
            );
            r.register(
                "sync_batches",
                "Upload batches sent, by kind (first, resend)",
                m.sync_batches.clone(),
            );
            r.register(
                "sync_reconnects",
                "Connections made to the cloud broker",
                m.sync_reconnects.clone(),
            );
            r.register(
                "sync_down_commands",
                "HQ commands received, by outcome",
                m.sync_down.clone(),
            );
            r.register(
                "events_appended",
                "Events appended to the log, by kind",
                m.events_appended.clone(),
            );
            r.register(
                "event_bytes",
                "Encoded bytes of the events appended (the log's payload)",
                m.event_bytes.clone(),
            );
            r.register(
                "commands",
                "Commands received, by source and outcome",
                m.commands.clone(),
            );
            r.register(
                "group_commits",
                "Group commits (one flush each)",
                m.group_commits.clone(),
            );
            r.register(
                "group_commit_size",
                "Requests per group commit",
                m.group_commit_size.clone(),
            );
            r.register(
                "group_commit_seconds",
                "Time to make a group durable",
                m.group_commit_seconds.clone(),
            );
            r.register(
                "forged_events",
                "Messages on node event topics that the log does not hold, by consumer",
                m.forged_events.clone(),
            );
            r.register(
                "dead_letters",
                "Unusable messages kept for the operator, by source",
                m.dead_letters.clone(),
            );
            r.register(
                "service_restarts",
                "Service tasks restarted after a panic or error",
                m.service_restarts.clone(),
            );
            r.register(
                "service_events",
                "Log events a consumer service read (direction=in) and the reactions it made: a write to the log (written) or notices to devices (published)",
                m.service_events.clone(),
            );
            r.register(
                "service_up",
                "1 while a service task runs, 0 while it waits to be restarted after a failure",
                m.service_up.clone(),
            );
            r.register(
                "consumer_lag",
                "Log events a consumer has not processed yet",
                m.consumer_lag.clone(),
            );
            r.register(
                "log_head",
                "Sequence number of the last appended event",
                m.log_head.clone(),
            );
            r.register(
                "orders",
                "Orders in the store, by state (read at scrape time)",
                m.orders.clone(),
            );
            r.register(
                "writer_queue",
                "Requests waiting for the store writer (read when scraped); it stays near 0 unless the disk is slow",
                m.writer_queue.clone(),
            );
            r.register(
                "db_bytes",
                "Bytes the database occupies on disk (read at scrape time)",
                m.db_bytes.clone(),
            );
            r.register(
                "orders_late",
                "Open orders past their promise time (read at scrape time)",
                m.orders_late.clone(),
            );
            r.register(
                "skus_out_of_stock",
                "Catalog SKUs with nothing available to promise (read at scrape time)",
                m.skus_out_of_stock.clone(),
            );
            r.register(
                "http_requests",
                "HTTP API requests, by route and status",
                m.http_requests.clone(),
            );
            r.register(
                "mqtt_auth_failures",
                "Refused MQTT logins: unknown device or wrong password, no credentials, keep-alive 0, not MQTT 3.1.1, no CONNECT in time, a reserved client id",
                m.mqtt_auth_failures.clone(),
            );
            r.register(
                "broker_publish_deferred",
                "Notices and replies queued on their link because the broker was busy",
                m.broker_publish_deferred.clone(),
            );
            r.register(
                "staff_logins",
                "Staff login attempts, by outcome (ok, refused, locked)",
                m.staff_logins.clone(),
            );
            r.register(
                "staff_lockouts",
                "Lockouts after repeated wrong PINs, by what was locked (staff id, address)",
                m.staff_lockouts.clone(),
            );
            r.register(
                "staff_locked",
                "Staff ids and addresses locked out now (read at scrape time)",
                m.staff_locked.clone(),
            );
            r.register(
                "staff_sessions",
                "Staff sessions stored (read at scrape time)",
                m.staff_sessions.clone(),
            );
            r.register(
                "csrf_refused",
                "State changes refused for a missing or wrong CSRF token or a foreign origin",
                m.csrf_refused.clone(),
            );
            r.register(
                "live_clients",
                "Pages following the live feed (server-sent events)",
                m.live_clients.clone(),
            );
            r.register(
                "live_lagged",
                "Times a live page fell behind the feed and was told to reload its lists",
                m.live_lagged.clone(),
            );
        }
        m
    }

    pub fn login(&self, outcome: &'static str) {
        self.staff_logins
            .get_or_create(&vec![("outcome", outcome.to_string())])
            .inc();
    }

    pub fn lockout(&self, by: &'static str) {
        self.staff_lockouts
            .get_or_create(&vec![("by", by.to_string())])
            .inc();
    }

    pub fn csrf_refused(&self) {
        self.csrf_refused.inc();
    }

    pub fn observe_group_commit(&self, size: usize, seconds: f64) {
        self.group_commits.inc();
        self.group_commit_size.observe(size as f64);
        self.group_commit_seconds.observe(seconds);
    }

    pub fn event_appended(&self, kind: &'static str) {
        self.events_appended
            .get_or_create(&vec![("kind", kind.to_string())])
            .inc();
    }

    /// A device command refused before any write.
    pub fn device_refused(&self, kind: &str) {
        self.device_commands_refused
            .get_or_create(&vec![("kind", kind.to_string())])
            .inc();
    }

    /// A till's HTTP credential refused.
    pub fn till_auth_failure(&self) {
        self.receipts
            .get_or_create(&vec![("outcome", "unauthorized".to_string())])
            .inc();
    }

    /// A till receipt posted, by outcome.
    pub fn receipt(&self, outcome: &'static str) {
        self.receipts
            .get_or_create(&vec![("outcome", outcome.to_string())])
            .inc();
    }

    pub fn command(&self, source: &str, outcome: &'static str) {
        self.commands
            .get_or_create(&vec![
                ("source", source.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
    }

    pub fn forged(&self, consumer: &'static str) {
        self.forged_events
            .get_or_create(&vec![("consumer", consumer.to_string())])
            .inc();
    }

    pub fn write_refused(&self, reason: &'static str) {
        self.writes_refused
            .get_or_create(&vec![("reason", reason.to_string())])
            .inc();
    }

    pub fn notice_sent(&self, attempt: &'static str) {
        self.notice_sends
            .get_or_create(&vec![("attempt", attempt.to_string())])
            .inc();
    }

    pub fn notice_ack(&self, outcome: &'static str) {
        self.notice_acks
            .get_or_create(&vec![("outcome", outcome.to_string())])
            .inc();
    }

    pub fn notice_dropped(&self, reason: &'static str) {
        self.notices_dropped
            .get_or_create(&vec![("reason", reason.to_string())])
            .inc();
    }

    pub fn dead_letter(&self, source: &'static str) {
        self.dead_letters
            .get_or_create(&vec![("source", source.to_string())])
            .inc();
    }

    pub fn restart(&self, service: &'static str) {
        self.service_restarts
            .get_or_create(&vec![("service", service.to_string())])
            .inc();
    }

    /// A consumer read an event (`in`) or reacted (`written`, `published`).
    pub fn service_event(&self, service: &'static str, direction: &'static str) {
        self.service_events
            .get_or_create(&vec![
                ("service", service.to_string()),
                ("direction", direction.to_string()),
            ])
            .inc();
    }

    /// A supervised service started (`true`) or failed (`false`).
    pub fn service_up(&self, service: &'static str, up: bool) {
        self.service_up
            .get_or_create(&vec![("service", service.to_string())])
            .set(i64::from(up));
        if let Ok(mut m) = self.services.lock() {
            m.insert(service, up);
        }
    }

    /// The services that are not running now (waiting to restart).
    pub fn services_down(&self) -> Vec<&'static str> {
        self.services
            .lock()
            .map(|m| m.iter().filter(|(_, up)| !**up).map(|(s, _)| *s).collect())
            .unwrap_or_default()
    }

    /// Every supervised service seen so far.
    pub fn services(&self) -> Vec<&'static str> {
        self.services
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    pub fn lag(&self, consumer: &'static str, lag: u64) {
        self.consumer_lag
            .get_or_create(&vec![("consumer", consumer.to_string())])
            .set(lag as i64);
    }

    pub fn orders(&self, state: &'static str, n: usize) {
        self.orders
            .get_or_create(&vec![("state", state.to_string())])
            .set(n as i64);
    }

    /// The clock's state, read at scrape time.
    pub fn clock(&self, clock: &crate::clock::Clock) {
        use crate::clock::Direction;
        for d in [Direction::Forward, Direction::Backward] {
            let c = self
                .clock_steps
                .get_or_create(&vec![("direction", d.name().to_string())]);
            // The clock counts; this counter follows it.
            c.inc_by(clock.step_count(d).saturating_sub(c.get()));
        }
        let behind = clock.behind_ms();
        self.clock_synchronised
            .set(i64::from(behind <= crate::clock::STEP_MS));
        self.clock_behind_seconds.set((behind / 1000) as i64);
    }

    pub fn http(&self, route: String, status: u16) {
        self.http_requests
            .get_or_create(&vec![("route", route), ("status", status.to_string())])
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = encode(&mut out, &r);
        }
        out
    }
}
