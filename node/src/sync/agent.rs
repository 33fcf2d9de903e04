//! Up: the log to HQ, one batch in flight. Down: HQ's commands, once each.
//!
//! Ordering: a batch is `anchor+1 ..= last`, and the next is built only
//! after HQ acknowledged it (or, after `ack_timeout_s`, the same run is
//! sent again). Two bridge instances sharing the stream never hold two
//! different batches of one store, so HQ's receiver sees each store's
//! events in log order, with redeliveries it drops by sequence.
//!
//! The cursor (the HQ anchor) moves only on an acknowledgement naming an
//! event this log has, with the hash this log has for it: not on MQTT's
//! PUBACK, which rumqttc cannot tie to a publish, and which only means the
//! broker has it in memory.
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::sync::{DownCommand, DownReply, LogBytes, StoreStatus, UpAck, UpBatch};
use protocol::topic::{self, SyncTopic};
use protocol::{codec, ChainHash, CommandReply, EventId, ReplyStatus};
use rumqttc::{AsyncClient, Publish, QoS};
use tokio::sync::mpsc;

use super::decisions::{self as proto, AckOutcome, Limits, Next, UpSender};
use super::link::{self, FromLink};
use super::SyncStatus;
use crate::config::CloudConfig;
use crate::metrics::Metrics;
use crate::services::{commands, ServiceError};
use crate::shutdown::Shutdown;
use crate::store::{chain_hash, now_ms, Store, WriterHandle};

pub const NAME: &str = "sync";

/// The inbox scope of HQ's command ids.
pub const HQ_SCOPE: &str = "hq";

#[derive(Clone)]
pub struct Agent {
    pub store: Store,
    pub writer: WriterHandle,
    pub metrics: Arc<Metrics>,
    pub rules: commands::Rules,
    pub config: CloudConfig,
    pub status: Arc<SyncStatus>,
}

struct State {
    /// The protocol's decisions (`protocol::UpSender`), on the time since
    /// the agent started.
    sender: UpSender,
    started: Instant,
    /// The encoded batch in flight, for a resend.
    payload: Option<Vec<u8>>,
    status_sent: Option<Instant>,
    gauges_set: Option<Instant>,
    /// When the link last returned with an availability snapshot.
    snapshot_sent: Option<Instant>,
}

impl State {
    fn new() -> Self {
        State {
            sender: UpSender::default(),
            started: Instant::now(),
            payload: None,
            status_sent: None,
            gauges_set: None,
            snapshot_sent: None,
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// An HQ command's answer, ready once its outcome is durable; `None` when
/// the write failed (no answer and no PUBACK: the broker redelivers).
type Done = Option<(DownReply, Publish)>;

impl Agent {
    pub async fn run(self, mut shutdown: Shutdown) -> Result<(), ServiceError> {
        let store_id = self.store.store_id().clone();
        let (client, events, brokers) = link::client(&self.config, &store_id);
        let (link_tx, mut link_rx) = mpsc::unbounded_channel();
        let poller = AbortOnDrop(tokio::spawn(link::poll(events, brokers, link_tx)));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut st = State::new();
        let mut waiting = 0usize;
        let mut tick = tokio::time::interval(Duration::from_millis(
            self.config.batch_linger_ms.clamp(5, 250),
        ));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tracing::info!(broker = %self.config.url, store = %store_id, "sync link starting");
        loop {
            tokio::select! {
                _ = shutdown.fired(), if waiting == 0 => break,
                Some(msg) = link_rx.recv() => match msg {
                    FromLink::Up { session } => self.on_up(&client, &mut st, session)?,
                    FromLink::Down(reason) => self.on_down_link(&mut st, reason),
                    FromLink::Message(p) => {
                        if self.on_message(&client, &mut st, p, &done_tx).await? {
                            waiting += 1;
                        }
                    }
                },
                Some(done) = done_rx.recv() => {
                    waiting -= 1;
                    if let Some((reply, publish)) = done {
                        self.answer(&client, &reply, &publish);
                    }
                }
                _ = tick.tick() => self.pump(&client, &mut st)?,
            }
        }
        // A clean goodbye: the will is only sent for a lost connection.
        if st.sender.online() {
            self.send_status(&client, false);
            let _ = client.try_disconnect();
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while let Some(m) = link_rx.recv().await {
                    if matches!(m, FromLink::Down(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        drop(poller);
        self.metrics.sync_online.set(0);
        Ok(())
    }

    fn on_up(
        &self,
        client: &AsyncClient,
        st: &mut State,
        session: bool,
    ) -> Result<(), ServiceError> {
        let id = self.store.store_id();
        let now = st.now();
        st.sender.connected(now, &self.limits());
        self.metrics.sync_online.set(1);
        self.metrics.sync_reconnects.inc();
        self.status.update(|l| {
            l.online = true;
            l.since_ms = Some(now_ms());
            l.last_error = None;
            l.connections += 1;
        });
        tracing::info!(session, "sync link up");
        // Subscriptions live in the broker's session; after a fresh one
        // (or to be sure) they are made again: subscribing twice is harmless.
        for t in [topic::sync_ack(id), topic::sync_down(id)] {
            client
                .try_subscribe(t, QoS::AtLeastOnce)
                .map_err(|e| ServiceError::Link(e.to_string()))?;
        }
        // Whatever was in flight may be lost with the old connection (and
        // rumqttc drops its own retries when the session is new): it is
        // sent again now (`connected`). HQ drops a duplicate by sequence.
        self.send_status(client, true);
        st.status_sent = Some(Instant::now());
        // The link is back: HQ gets the whole catalog's availability (at
        // most once per `SNAPSHOT_EVERY`, a flapping link would otherwise
        // write it again and again), behind whatever waited.
        let due = st
            .snapshot_sent
            .is_none_or(|t| t.elapsed() >= super::availability::SNAPSHOT_EVERY);
        if due {
            st.snapshot_sent = Some(Instant::now());
            let writer = self.writer.clone();
            tokio::spawn(async move {
                if let Err(e) = writer.write(super::availability::snapshot()).await {
                    tracing::warn!(error = %e, "availability snapshot not appended");
                }
            });
        }
        self.pump(client, st)
    }

    fn on_down_link(&self, st: &mut State, reason: String) {
        if st.sender.online() {
            tracing::warn!(
                reason,
                "sync link down; the store carries on, the backlog waits"
            );
        } else {
            tracing::debug!(reason, "sync link still down");
        }
        let was_online = st.sender.online();
        st.sender.disconnected();
        self.metrics.sync_online.set(0);
        self.status.update(|l| {
            if was_online || l.since_ms.is_none() {
                l.since_ms = Some(now_ms());
            }
            l.online = false;
            l.last_error = Some(reason);
        });
    }

    /// Returns whether an answer is now awaited from the writer.
    async fn on_message(
        &self,
        client: &AsyncClient,
        st: &mut State,
        p: Publish,
        done: &mpsc::UnboundedSender<Done>,
    ) -> Result<bool, ServiceError> {
        let me = self.store.store_id();
        match topic::parse_sync(&p.topic) {
            Some((s, SyncTopic::Ack)) if s == *me => {
                self.on_ack(&p)?;
                let _ = client.try_ack(&p);
                let anchor = self.store.sync_anchor()?.seq;
                let now = st.now();
                if st.sender.acked(anchor, now, &self.limits()) {
                    st.payload = None;
                    // More waiting: send the next batch now, without linger.
                    self.pump(client, st)?;
                }
                Ok(false)
            }
            Some((s, SyncTopic::Down)) if s == *me => self.on_command(client, p, done).await,
            _ => {
                tracing::warn!(topic = %p.topic, "message on a topic the sync link does not use; ignored");
                let _ = client.try_ack(&p);
                Ok(false)
            }
        }
    }

    fn on_ack(&self, p: &Publish) -> Result<(), ServiceError> {
        let ack = match codec::decode::<UpAck>(&p.payload) {
            Ok(a) => a,
            Err(e) => return self.refuse(p, &format!("not an acknowledgement: {e}")),
        };
        let anchor = self.store.sync_anchor()?;
        let head = self.store.head();
        let bytes = if ack.last_seq > anchor.seq && ack.last_seq <= head {
            self.store.log_bytes(ack.last_seq)?
        } else {
            None
        };
        let moved =
            match proto::check_ack(&ack, anchor.seq, head, |_| bytes.as_deref().map(chain_hash)) {
                AckOutcome::Stale => return Ok(()), // a late copy of an older acknowledgement
                AckOutcome::Refused(reason) => return self.refuse(p, &reason),
                AckOutcome::Advance(to) => to,
            };
        self.store.set_sync_anchor(moved)?;
        let n = ack.last_seq - anchor.seq;
        self.metrics.sync_events_acked.inc_by(n);
        self.metrics.sync_acked_seq.set(ack.last_seq as i64);
        self.metrics
            .sync_backlog_events
            .set(self.store.head().saturating_sub(ack.last_seq) as i64);
        self.status.acked(n, now_ms());
        tracing::debug!(acked = ack.last_seq, events = n, "HQ acknowledged");
        Ok(())
    }

    /// Something from the cloud broker that cannot be used: kept for the
    /// operator, changes nothing.
    fn refuse(&self, p: &Publish, reason: &str) -> Result<(), ServiceError> {
        tracing::warn!(topic = %p.topic, reason, "unusable message from the cloud broker; ignored");
        self.metrics.dead_letter("cloud");
        self.store
            .dead_letter("cloud", &p.topic, reason, &p.payload)?;
        Ok(())
    }

    async fn on_command(
        &self,
        client: &AsyncClient,
        p: Publish,
        done: &mpsc::UnboundedSender<Done>,
    ) -> Result<bool, ServiceError> {
        let store_id = self.store.store_id().clone();
        let answer_now = |hq_id: String, hq_seq, status, reason: String, outcome| {
            self.metrics
                .sync_down
                .get_or_create(&vec![("outcome", outcome)])
                .inc();
            let reply = DownReply {
                store_id: store_id.clone(),
                hq_id: hq_id.clone(),
                hq_seq,
                reply: CommandReply {
                    id: hq_id,
                    status,
                    reason: Some(reason),
                    log_seqs: vec![],
                },
            };
            self.answer(client, &reply, &p);
        };
        let cmd = match codec::decode::<DownCommand>(&p.payload)
            .map_err(|e| e.to_string())
            .and_then(|c| commands::check_id(&c.hq_id).map(|()| c))
        {
            Ok(c) => c,
            Err(reason) => {
                self.refuse(&p, &reason)?;
                answer_now(
                    String::new(),
                    0,
                    ReplyStatus::Invalid,
                    reason,
                    "invalid".into(),
                );
                return Ok(false);
            }
        };
        if let proto::Down::Repeat { floor } = proto::down(cmd.hq_seq, self.store.hq_floor()?) {
            // Forgotten by the inbox long ago, so applied long ago.
            answer_now(
                cmd.hq_id,
                cmd.hq_seq,
                ReplyStatus::Accepted,
                format!("already applied: HQ sequence {} is at or below {floor}, which this store has applied", cmd.hq_seq),
                "repeat".into(),
            );
            return Ok(false);
        }
        let (hq_id, hq_seq) = (cmd.hq_id.clone(), cmd.hq_seq);
        let req = commands::prepare(
            cmd.command,
            &commands::Principal::Cloud,
            Some((HQ_SCOPE.to_string(), hq_id.clone())),
            &self.rules,
            &self.store,
        );
        let mut req = match req {
            Ok(r) => r,
            Err(refused) => {
                answer_now(
                    hq_id,
                    hq_seq,
                    ReplyStatus::Rejected,
                    refused.to_string(),
                    "rejected".into(),
                );
                return Ok(false);
            }
        };
        // Its events name the HQ command that caused them.
        req.causation = ulid::Ulid::from_string(&hq_id).ok().map(EventId);
        self.store.note_hq_command(hq_seq, now_ms())?;
        let pending = self.writer.submit(req).await?;
        let done = done.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            let answer = match pending.await {
                Ok(Ok(written)) => {
                    let reply = commands::reply(&hq_id, written);
                    let outcome = crate::services::intake::outcome_name(reply.status);
                    metrics
                        .sync_down
                        .get_or_create(&vec![("outcome", outcome.to_string())])
                        .inc();
                    Some((
                        DownReply {
                            store_id,
                            hq_id,
                            hq_seq,
                            reply,
                        },
                        p,
                    ))
                }
                _ => None,
            };
            let _ = done.send(answer);
        });
        Ok(true)
    }

    /// Reply, then acknowledge the command's message (in that order: a
    /// PUBACK lets the broker forget it; if the reply is lost with the
    /// connection, the redelivered command is answered from the inbox).
    fn answer(&self, client: &AsyncClient, reply: &DownReply, p: &Publish) {
        let t = topic::sync_reply(self.store.store_id());
        if let Err(e) = client.try_publish(t, QoS::AtLeastOnce, false, codec::encode(reply)) {
            tracing::warn!(error = %e, hq_id = reply.hq_id, "could not queue the reply; HQ's broker will redeliver the command");
            return;
        }
        let _ = client.try_ack(p);
    }

    fn limits(&self) -> Limits {
        Limits {
            batch_max_events: self.config.batch_max_events,
            linger_ms: self.config.batch_linger_ms,
            ack_timeout_ms: self.config.ack_timeout_s.saturating_mul(1000),
        }
    }

    /// Send the next batch, or the one in flight again after the timeout.
    fn pump(&self, client: &AsyncClient, st: &mut State) -> Result<(), ServiceError> {
        let anchor = self.store.sync_anchor()?;
        let head = self.store.head();
        self.gauges(st, anchor.seq, head)?;
        if !st.sender.online() {
            return Ok(());
        }
        if st
            .status_sent
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(self.config.status_interval_s))
        {
            self.send_status(client, true);
            st.status_sent = Some(Instant::now());
        }
        let up = topic::sync_up(self.store.store_id());
        let now = st.now();
        match st.sender.next(now, anchor.seq, head, &self.limits()) {
            Next::Wait => Ok(()),
            Next::Resend { last, .. } => {
                if let Some(payload) = &st.payload {
                    if client
                        .try_publish(up, QoS::AtLeastOnce, false, payload.clone())
                        .is_ok()
                    {
                        self.count_batch("resend");
                        tracing::debug!(last, "batch not acknowledged in time; sent again");
                    }
                }
                st.sender.resent(now);
                Ok(())
            }
            Next::Send { first, max_events } => {
                let run = self
                    .store
                    .log_run(first, max_events, self.config.batch_max_bytes)?;
                let (Some((first, _)), Some((last, last_bytes))) = (run.first(), run.last()) else {
                    return Ok(());
                };
                let batch = UpBatch {
                    store_id: self.store.store_id().clone(),
                    first_seq: *first,
                    last_seq: *last,
                    last_hash: ChainHash(chain_hash(last_bytes)),
                    events: run.iter().map(|(_, b)| LogBytes(b.to_vec())).collect(),
                };
                let payload = codec::encode(&batch);
                if client
                    .try_publish(up, QoS::AtLeastOnce, false, payload.clone())
                    .is_err()
                {
                    // The request queue is full (the link is stalling): later.
                    return Ok(());
                }
                self.count_batch("first");
                st.sender.sent(batch.first_seq, batch.last_seq, now);
                st.payload = Some(payload);
                self.status
                    .update(|l| l.in_flight = Some((batch.first_seq, batch.last_seq)));
                Ok(())
            }
        }
    }

    fn count_batch(&self, kind: &str) {
        self.metrics
            .sync_batches
            .get_or_create(&vec![("kind", kind.to_string())])
            .inc();
    }

    /// Backlog gauges, about once a second (the oldest age costs a read).
    fn gauges(&self, st: &mut State, acked: u64, head: u64) -> Result<(), ServiceError> {
        if st
            .gauges_set
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return Ok(());
        }
        st.gauges_set = Some(Instant::now());
        self.metrics.sync_acked_seq.set(acked as i64);
        self.metrics
            .sync_backlog_events
            .set(head.saturating_sub(acked) as i64);
        let oldest = match self.store.event(acked + 1)? {
            Some(e) if acked < head => now_ms().saturating_sub(e.time_ms) / 1000,
            _ => 0,
        };
        self.metrics.sync_backlog_oldest_seconds.set(oldest as i64);
        if st.sender.in_flight().is_none() {
            self.status.update(|l| l.in_flight = None);
        }
        Ok(())
    }

    /// The retained status HQ's fleet view reads.
    fn send_status(&self, client: &AsyncClient, online: bool) {
        let status = match self.status.view(&self.store) {
            Ok(v) => {
                let counts = self.store.state_counts();
                let open = counts
                    .iter()
                    .filter(|(s, _)| !s.is_final())
                    .map(|(_, n)| *n as u64)
                    .sum();
                StoreStatus {
                    store_id: self.store.store_id().clone(),
                    online,
                    time_ms: now_ms(),
                    head_seq: v.head_seq,
                    backlog_events: v.backlog_events,
                    oldest_backlog_ms: v.oldest_backlog_ms,
                    open_orders: open,
                    late_orders: self.store.overdue_orders().len() as u64,
                    version: env!("CARGO_PKG_VERSION").to_string(),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the backlog for the status failed");
                return;
            }
        };
        let t = topic::sync_status(self.store.store_id());
        let _ = client.try_publish(t, QoS::AtLeastOnce, true, codec::to_json(&status));
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
