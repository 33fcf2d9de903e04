//! Deliveries: the notices a device must act on — a locker's `open`, a
//! pickup screen's `show` and `remove`, a printer's jobs, the gateway's
//! `send` — kept until that device acknowledges them on its `ack` topic,
//! and sent again until it does.
//!
//! The broker is no place to keep them: it holds nothing across a restart
//! of the node, a device that is away misses what is published meanwhile,
//! and rumqttd drops the oldest messages of a topic for a subscriber that
//! falls behind. So the notification service queues each actionable
//! notice here (kept in the store beside the log), and this service sends
//! it at once, then again after 2, 4, 8 and every 15 s, until the device
//! answers with its `notice_id`. What can no longer be acted on is
//! dropped: a screen's older notice for an order when a newer one comes,
//! a locker's `open` once the order is handed over, expired or cancelled,
//! everything for a removed device, and anything a day old.
use crate::domain::notification::NoticeChannel;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::topic::{self, Parsed};
use protocol::{codec, CommandReply, Envelope, Event, NoticeAck, ReplyStatus};
use rumqttd::Notification;
use tokio::sync::{Mutex, Notify};

use super::ServiceError;
use crate::broker::Link;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::{PendingNotice, Store, StoreError};

pub const NAME: &str = "deliveries";

/// A notice not acknowledged after this long is given up (logged, counted).
pub const MAX_AGE_MS: u64 = 24 * 3600 * 1000;
/// Most notices kept waiting; beyond it the oldest is given up.
pub const MAX_PENDING: usize = 10_000;
/// The longest wait between two sends of one notice.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// How often due notices are looked for (besides a wake-up when one is queued).
const TICK: Duration = Duration::from_millis(500);
/// The longest notice id a device may send back.
const MAX_ID_LEN: usize = 64;

/// The wait after the `sends`-th send: 2, 4, 8, then 15 s.
pub fn backoff(sends: u32) -> Duration {
    let secs = 1u64 << sends.clamp(1, 4);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

/// One device's notice to be queued: (tenant, channel, notice id, JSON).
pub struct Outgoing {
    pub tenant: String,
    pub channel: NoticeChannel,
    pub notice_id: String,
    pub payload: Vec<u8>,
}

struct Entry {
    notice: PendingNotice,
    sends: u32,
    due: Instant,
}

type Key = (String, String);

/// The notices waiting for acknowledgement, shared by the notification
/// service (which queues) and this service (which sends and takes acks).
#[derive(Clone)]
pub struct Deliveries {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    metrics: Arc<Metrics>,
    pending: std::sync::Mutex<BTreeMap<Key, Entry>>,
    wake: Notify,
    link: Arc<Mutex<Link>>,
}

impl Deliveries {
    /// Load what was waiting when the node stopped: all of it is due now.
    pub fn new(store: Store, metrics: Arc<Metrics>, link: Link) -> Result<Self, StoreError> {
        let now = Instant::now();
        let pending: BTreeMap<Key, Entry> = store
            .deliveries()?
            .into_iter()
            .map(|notice| {
                let key = (notice.tenant.clone(), notice.notice_id.clone());
                (
                    key,
                    Entry {
                        notice,
                        sends: 0,
                        due: now,
                    },
                )
            })
            .collect();
        if !pending.is_empty() {
            tracing::info!(
                pending = pending.len(),
                "notices still waiting for their devices; sending them again"
            );
        }
        metrics.notices_pending.set(pending.len() as i64);
        Ok(Deliveries {
            inner: Arc::new(Inner {
                store,
                metrics,
                pending: std::sync::Mutex::new(pending),
                wake: Notify::new(),
                link: Arc::new(Mutex::new(link)),
            }),
        })
    }

    /// Queue the actionable notices `env` produced, after dropping what it
    /// makes moot. Called again for the same event after a crash (the
    /// notification service replays from its checkpoint): a notice still
    /// waiting is left as it is.
    pub fn queue(&self, env: &Envelope, out: Vec<Outgoing>) {
        let closes = matches!(
            env.event,
            Event::OrderFulfilled { .. } | Event::PickupExpired | Event::OrderCancelled { .. }
        );
        if out.is_empty() && !closes {
            return;
        }
        let inner = &self.inner;
        let Ok(mut pending) = inner.pending.lock() else {
            return;
        };
        let order = env.order_id.as_str();
        // Nothing to open for an order that is gone.
        if closes {
            self.drop_where(&mut pending, "order_closed", |n| {
                n.order_id == order && n.channel == NoticeChannel::Locker.name()
            });
        }
        let now_ms = inner.store.clock().now_ms();
        for o in out {
            let key = (o.tenant.clone(), o.notice_id.clone());
            if pending.contains_key(&key) {
                continue;
            }
            // A screen shows the newest state of an order: its older
            // notice for the order need not come again.
            if o.channel == NoticeChannel::PickupScreen {
                self.drop_where(&mut pending, "superseded", |n| {
                    n.tenant == o.tenant && n.order_id == order && n.channel == o.channel.name()
                });
            }
            if pending.len() >= MAX_PENDING {
                let oldest = pending
                    .iter()
                    .min_by_key(|(_, e)| e.notice.queued_ms)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.drop_where(&mut pending, "full", |n| {
                        n.tenant == k.0 && n.notice_id == k.1
                    });
                }
            }
            let notice = PendingNotice {
                tenant: o.tenant,
                notice_id: o.notice_id,
                order_id: order.to_string(),
                channel: o.channel.name().to_string(),
                payload: o.payload,
                queued_ms: now_ms,
            };
            // In memory even if the disk refuses: it is still sent, and
            // the writer stops the node on a failing disk anyway.
            if let Err(e) = inner.store.put_delivery(&notice) {
                tracing::error!(error = %e, notice_id = %notice.notice_id, "could not keep a pending notice");
            }
            pending.insert(
                key,
                Entry {
                    notice,
                    sends: 0,
                    due: Instant::now(),
                },
            );
        }
        inner.metrics.notices_pending.set(pending.len() as i64);
        drop(pending);
        inner.wake.notify_one();
    }

    /// Remove every waiting notice `doomed` picks, counted under `reason`.
    fn drop_where(
        &self,
        pending: &mut BTreeMap<Key, Entry>,
        reason: &'static str,
        doomed: impl Fn(&PendingNotice) -> bool,
    ) {
        let keys: Vec<Key> = pending
            .iter()
            .filter(|(_, e)| doomed(&e.notice))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            pending.remove(&k);
            if let Err(e) = self.inner.store.remove_delivery(&k.0, &k.1) {
                tracing::error!(error = %e, notice_id = %k.1, "could not forget a pending notice");
            }
            self.inner.metrics.notice_dropped(reason);
            if reason == "expired" || reason == "full" {
                tracing::warn!(
                    tenant = %k.0,
                    notice_id = %k.1,
                    reason,
                    "gave up on a notice its device never acknowledged"
                );
            }
        }
    }

    /// Run until shutdown: send what is due, take acknowledgements.
    pub async fn run(self, mut shutdown: Shutdown) -> Result<(), ServiceError> {
        let mut link = self.inner.link.clone().lock_owned().await;
        link.tx
            .subscribe(topic::all_tenant_acks())
            .map_err(|e| ServiceError::Link(e.to_string()))?;
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                _ = shutdown.fired() => break,
                n = link.rx.next() => match n.map_err(|e| ServiceError::Link(e.to_string()))? {
                    Some(Notification::Forward(f)) => {
                        let t = String::from_utf8_lossy(&f.publish.topic).into_owned();
                        self.on_ack(&mut link, &t, &f.publish.payload);
                    }
                    Some(Notification::Unschedule) => {
                        link.rx.wake().await.map_err(|e| ServiceError::Link(e.to_string()))?;
                    }
                    _ => {}
                },
                _ = self.inner.wake.notified() => self.send_due(&mut link),
                _ = tick.tick() => self.send_due(&mut link),
            }
        }
        Ok(())
    }

    /// Send every notice whose time has come; give up on what no longer can
    /// be delivered.
    fn send_due(&self, link: &mut Link) {
        let inner = &self.inner;
        let now = Instant::now();
        let now_ms = inner.store.clock().now_ms();
        let mut to_send = Vec::new();
        {
            let Ok(mut pending) = inner.pending.lock() else {
                return;
            };
            self.drop_where(&mut pending, "device_removed", |n| {
                inner.store.device_by_tenant(&n.tenant).is_none()
            });
            self.drop_where(&mut pending, "expired", |n| {
                now_ms.saturating_sub(n.queued_ms) > MAX_AGE_MS
            });
            for e in pending.values_mut().filter(|e| e.due <= now) {
                inner
                    .metrics
                    .notice_sent(if e.sends == 0 { "first" } else { "again" });
                e.sends = e.sends.saturating_add(1);
                e.due = now + backoff(e.sends);
                to_send.push((
                    topic::tenant_notify(&e.notice.tenant, &e.notice.channel),
                    e.notice.payload.clone(),
                ));
            }
            inner.metrics.notices_pending.set(pending.len() as i64);
        }
        for (t, payload) in to_send {
            crate::broker::publish_nonblocking(&mut link.tx, t, payload, &inner.metrics);
        }
    }

    /// A device's acknowledgement. Only its own namespace can name it (the
    /// broker confines TLS devices), so a device can settle only its own
    /// notices. A repeat, or an id nothing waits for, is harmless.
    fn on_ack(&self, link: &mut Link, topic_name: &str, payload: &[u8]) {
        let inner = &self.inner;
        let Parsed::DeviceAck { tenant } = topic::parse(inner.store.store_id(), topic_name) else {
            return;
        };
        if inner.store.device_by_tenant(tenant).is_none() {
            inner.metrics.notice_ack("unregistered");
            return;
        }
        let ack = codec::from_json::<NoticeAck>(payload)
            .map_err(|e| format!("not a notice acknowledgement: {e}"))
            .and_then(|a| match a.notice_id.len() {
                1..=MAX_ID_LEN => Ok(a),
                _ => Err(format!(
                    "not a notice acknowledgement: notice_id must be 1 to {MAX_ID_LEN} characters"
                )),
            });
        let ack = match ack {
            Ok(a) => a,
            Err(reason) => {
                inner.metrics.notice_ack("invalid");
                tracing::debug!(tenant, reason = %reason, "invalid notice acknowledgement");
                let reply = CommandReply {
                    id: String::new(),
                    status: ReplyStatus::Invalid,
                    reason: Some(reason),
                    log_seqs: vec![],
                };
                crate::broker::publish_nonblocking(
                    &mut link.tx,
                    topic::tenant_reply(tenant),
                    codec::to_json(&reply),
                    &inner.metrics,
                );
                return;
            }
        };
        let key = (tenant.to_string(), ack.notice_id);
        let found = match inner.pending.lock() {
            Ok(mut pending) => {
                let found = pending.remove(&key);
                inner.metrics.notices_pending.set(pending.len() as i64);
                found
            }
            Err(_) => None,
        };
        match found {
            Some(e) => {
                inner.metrics.notice_ack("acknowledged");
                if let Err(err) = inner.store.remove_delivery(&key.0, &key.1) {
                    tracing::error!(error = %err, notice_id = %key.1, "could not forget an acknowledged notice");
                }
                tracing::debug!(tenant, notice_id = %key.1, sends = e.sends, "notice acknowledged");
            }
            None => inner.metrics.notice_ack("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_sends_back_off_to_fifteen_seconds() {
        let waits: Vec<u64> = (1..=6).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, vec![2, 4, 8, 15, 15, 15]);
    }
}
