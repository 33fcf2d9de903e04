//! Intake: commands from the store's devices (JSON), and the guard over the
//! node's event topics.
//!
//! HQ's commands do not come this way: any device that can log in to the
//! store broker could send them. They arrive over the sync link's own
//! connection to the cloud broker (`crate::sync`).
//!
//! A command gets its reply on the sender's reply topic only after its
//! outcome is flushed (the broker's PUBACK only means "in memory"). Senders
//! retry until they get a reply; the command id makes the retry harmless.
//! A message that cannot be used is dead-lettered, answered `invalid` when
//! there is someone to answer, and changes nothing else.
use std::sync::Arc;

use protocol::topic::{self, Parsed};
use protocol::{codec, CommandEnvelope, CommandReply, Envelope, ReplyStatus};
use rumqttd::Notification;
use tokio::sync::{mpsc, Mutex};

use super::{commands, ServiceError};
use crate::broker::Link;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError, WriterHandle};

pub const NAME: &str = "intake";

/// What became of one message.
enum Handled {
    /// Refused before any write: answer now.
    ReplyNow(ReplyTo, CommandReply),
    /// Submitted: the answer comes after the flush.
    Pending,
    /// Nothing to answer.
    Done,
}

/// The namespace (tenant id) a reply goes to.
type ReplyTo = String;

#[derive(Clone)]
pub struct Intake {
    store: Store,
    writer: WriterHandle,
    metrics: Arc<Metrics>,
    link: Arc<Mutex<Link>>,
    rules: commands::Rules,
    /// Dead-letter allowance per sender (a registered device's name; one
    /// for all unregistered names; one for forged events), so one
    /// misbehaving client cannot keep writing to the SD card.
    letters: Arc<std::sync::Mutex<std::collections::HashMap<String, Allowance>>>,
}

/// A token bucket: `DEAD_LETTER_BURST` at once, then `DEAD_LETTERS_PER_S`.
#[derive(Debug, Clone, Copy)]
struct Allowance {
    tokens: f64,
    last: std::time::Instant,
}

const DEAD_LETTER_BURST: f64 = 100.0;
const DEAD_LETTERS_PER_S: f64 = 10.0;
/// The allowance shared by commands from names nobody registered.
const UNREGISTERED: &str = "(unregistered device names)";
/// Most senders tracked; beyond it the table starts over (bounded memory).
const MAX_TRACKED: usize = 4096;

impl Intake {
    pub fn new(
        store: Store,
        writer: WriterHandle,
        metrics: Arc<Metrics>,
        link: Link,
        rules: commands::Rules,
    ) -> Self {
        Intake {
            rules,
            store,
            writer,
            metrics,
            link: Arc::new(Mutex::new(link)),
            letters: Arc::default(),
        }
    }

    pub async fn run(self, mut shutdown: Shutdown) -> Result<(), ServiceError> {
        let mut link = self.link.clone().lock_owned().await;
        let store_id = self.store.store_id().clone();
        for filter in [topic::all_tenant_commands(), topic::events_tree(&store_id)] {
            link.tx
                .subscribe(filter)
                .map_err(|e| ServiceError::Link(e.to_string()))?;
        }
        // Replies come back from the tasks awaiting durability; `None` when
        // the write failed (the sender will retry).
        let (reply_tx, mut reply_rx) = mpsc::channel::<Option<(ReplyTo, CommandReply)>>(1024);
        let mut in_flight = 0usize;
        loop {
            tokio::select! {
                _ = shutdown.fired(), if in_flight == 0 => break,
                Some(done) = reply_rx.recv() => {
                    in_flight -= 1;
                    if let Some((to, reply)) = done {
                        self.send_reply(&mut link, &to, &reply)?;
                    }
                }
                n = link.rx.next(), if !shutdown.is_fired() => match n.map_err(|e| ServiceError::Link(e.to_string()))? {
                    Some(Notification::Forward(f)) => {
                        let topic = String::from_utf8_lossy(&f.publish.topic).into_owned();
                        match self.on_message(&topic, &f.publish.payload, &reply_tx).await? {
                            Handled::ReplyNow(to, reply) => self.send_reply(&mut link, &to, &reply)?,
                            Handled::Pending => in_flight += 1,
                            Handled::Done => {}
                        }
                    }
                    Some(Notification::Unschedule) => {
                        link.rx.wake().await.map_err(|e| ServiceError::Link(e.to_string()))?;
                    }
                    _ => {}
                },
            }
        }
        Ok(())
    }

    /// Handle one message.
    async fn on_message(
        &self,
        topic_name: &str,
        payload: &[u8],
        replies: &mpsc::Sender<Option<(ReplyTo, CommandReply)>>,
    ) -> Result<Handled, ServiceError> {
        let store_id = self.store.store_id().clone();
        let (to, device, decoded) = match topic::parse(&store_id, topic_name) {
            Parsed::Event(_) | Parsed::UnknownEvent(_) => {
                self.guard(topic_name, payload)?;
                return Ok(Handled::Done);
            }
            // Acknowledgements are the deliveries service's.
            Parsed::Other | Parsed::DeviceAck { .. } => return Ok(Handled::Done),
            Parsed::DeviceCommand { tenant } => {
                // The namespace says who sent it (the broker lets a device
                // publish in its own only). Removed devices land here too,
                // at once, while their connection is still open.
                let Some(device) = self.store.device_by_tenant(tenant) else {
                    self.metrics.device_refused("unregistered");
                    // All unknown namespaces share one allowance.
                    self.dead_letter(
                        "device",
                        UNREGISTERED,
                        topic_name,
                        "command from a namespace no registered device has (unknown or removed)",
                        payload,
                    )?;
                    return Ok(Handled::Done);
                };
                let decoded =
                    codec::from_json::<CommandEnvelope>(payload).map_err(|e| e.to_string());
                (tenant.to_string(), device, decoded)
            }
        };
        let metric_source = "device";
        let cmd = match decoded.and_then(|c| commands::check_id(&c.id).map(|_| c)) {
            Ok(c) => c,
            Err(reason) => {
                self.dead_letter(metric_source, &device.name, topic_name, &reason, payload)?;
                self.metrics.command(metric_source, "invalid");
                let id = salvage_id(payload);
                let reply = CommandReply {
                    id,
                    status: ReplyStatus::Invalid,
                    reason: Some(reason),
                    log_seqs: vec![],
                };
                return Ok(Handled::ReplyNow(to, reply));
            }
        };
        let door = commands::Principal::Device {
            name: device.name.clone(),
            kind: device.kind,
        };
        let id = cmd.id.clone();
        let resend = Some((format!("device/{}", device.name), cmd.id));
        let req = match commands::prepare(cmd.command, &door, resend, &self.rules, &self.store) {
            Ok(req) => req,
            Err(reason) => {
                self.metrics.command(metric_source, "rejected");
                self.metrics.device_refused(device.kind.name());
                tracing::debug!(device = %device.name, kind = device.kind.name(), reason = %reason, "device command refused");
                let reply = CommandReply {
                    id,
                    status: ReplyStatus::Rejected,
                    reason: Some(reason.to_string()),
                    log_seqs: vec![],
                };
                return Ok(Handled::ReplyNow(to, reply));
            }
        };
        let pending = self.writer.submit(req).await?;
        let replies = replies.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            // No reply if the write failed: the sender retries, and the
            // command id keeps the retry from applying twice.
            let done = match pending.await {
                Ok(Ok(written)) => {
                    let reply = commands::reply(&id, written);
                    metrics.command(metric_source, outcome_name(reply.status));
                    Some((to, reply))
                }
                // Refused before anything was written (a full or read-only
                // disk): say so, the device may try again later.
                Ok(Err(StoreError::Disk(trouble))) => {
                    metrics.command(metric_source, "rejected");
                    Some((
                        to,
                        CommandReply {
                            id,
                            status: ReplyStatus::Rejected,
                            reason: Some(trouble.to_string()),
                            log_seqs: vec![],
                        },
                    ))
                }
                _ => None,
            };
            let _ = replies.send(done).await;
        });
        Ok(Handled::Pending)
    }

    fn send_reply(
        &self,
        link: &mut Link,
        to: &ReplyTo,
        reply: &CommandReply,
    ) -> Result<(), ServiceError> {
        let (t, payload) = (topic::tenant_reply(to), codec::to_json(reply));
        crate::broker::publish_nonblocking(&mut link.tx, t, payload, &self.metrics);
        Ok(())
    }

    /// Only the node writes node events. Anything on an event topic that
    /// the log does not hold byte for byte was forged by a client.
    fn guard(&self, topic_name: &str, payload: &[u8]) -> Result<(), ServiceError> {
        // Genuine: the log holds these exact bytes, and they came on their
        // own kind's topic (a real event replayed elsewhere is forged too).
        let genuine = match codec::decode::<Envelope>(payload) {
            Ok(env) => {
                topic_name == topic::event(self.store.store_id(), env.event.kind())
                    && matches!(self.store.log_bytes(env.log_seq)?, Some(b) if b.as_ref() == payload)
            }
            Err(_) => false,
        };
        if !genuine {
            self.metrics.forged(NAME);
            tracing::warn!(
                topic = topic_name,
                bytes = payload.len(),
                "forged message on a node event topic; ignored"
            );
            self.dead_letter(
                "forged-event",
                "forged-event",
                topic_name,
                "not a node event: the log does not hold it",
                payload,
            )?;
        }
        Ok(())
    }

    /// Keep an unusable message for the operator, within `sender`'s
    /// allowance (per sender, not per topic: a sender picks its topics).
    fn dead_letter(
        &self,
        source: &'static str,
        sender: &str,
        topic_name: &str,
        reason: &str,
        payload: &[u8],
    ) -> Result<(), ServiceError> {
        self.metrics.dead_letter(source);
        if !self.allow_letter(sender) {
            tracing::debug!(
                source,
                sender,
                topic = topic_name,
                reason,
                "dead letter not stored: over the sender's allowance"
            );
            return Ok(());
        }
        let seq = self
            .store
            .dead_letter(source, topic_name, reason, payload)?;
        tracing::warn!(
            source,
            topic = topic_name,
            reason,
            dead_letter = seq,
            "message dead-lettered"
        );
        Ok(())
    }
}

impl Intake {
    /// Whether a dead letter from `sender` may be stored now.
    fn allow_letter(&self, sender: &str) -> bool {
        let Ok(mut table) = self.letters.lock() else {
            return true;
        };
        if table.len() >= MAX_TRACKED && !table.contains_key(sender) {
            table.clear();
        }
        let now = std::time::Instant::now();
        let a = table.entry(sender.to_string()).or_insert(Allowance {
            tokens: DEAD_LETTER_BURST,
            last: now,
        });
        let refill = now.duration_since(a.last).as_secs_f64() * DEAD_LETTERS_PER_S;
        a.tokens = (a.tokens + refill).min(DEAD_LETTER_BURST);
        a.last = now;
        if a.tokens >= 1.0 {
            a.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The id of a command too malformed to decode, if it has a readable one,
/// so the sender can match the `invalid` reply to what it sent.
fn salvage_id(payload: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string))
        .filter(|id| commands::check_id(id).is_ok())
        .unwrap_or_default()
}

pub fn outcome_name(status: ReplyStatus) -> &'static str {
    match status {
        ReplyStatus::Accepted => "accepted",
        ReplyStatus::Rejected => "rejected",
        ReplyStatus::Invalid => "invalid",
    }
}
