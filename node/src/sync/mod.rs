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
//! - [`availability`]: what the store can promise of each SKU, coalesced,
//!   appended for HQ while the link is up (a service task of its own).
pub mod agent;
pub mod availability;
pub mod decisions;
mod link;

use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::config::CloudConfig;
use crate::store::{Store, StoreError};

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

    /// Whether the link to the cloud broker is up now.
    pub fn online(&self) -> bool {
        self.inner.lock().map(|l| l.online).unwrap_or(false)
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
            Some(e) if anchor.seq < head => Some(crate::store::now_ms().saturating_sub(e.time_ms)),
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
