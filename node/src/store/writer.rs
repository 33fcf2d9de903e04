//! Group commit: the single writer of the log.
//!
//! Requests queue on a channel. The writer takes every request waiting (up
//! to `max_batch`), applies each as one atomic sled batch (dedup check,
//! decide against the current projection, log entries, index, projection,
//! inbox or checkpoint), then makes the whole group durable with one flush
//! (and one `fdatasync`), and only then publishes the new events on the
//! broker and answers the requests. Nothing is answered before it is on
//! disk; a crash before the flush loses only unanswered requests.
//!
//! The writer runs on its own OS thread: sled calls and `fdatasync` block.
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use protocol::{
    codec, topic, Actor, ChainHash, CommandReply, Envelope, Event, EventId, OrderId, ReplyStatus,
    SCHEMA_VERSION,
};
use tokio::sync::{mpsc, oneshot};

use super::{
    chain_hash, chain_key, checkpoint_key, content_key, devices::device_key, inbox_key, item_key,
    log_key, now_ms, order_key, site_key, staff_key, stream_key, ChainHead, InboxEntry, StateMove,
    Store, StoreError,
};
use crate::config::Durability;
use crate::domain::inventory::{self, Effect};
use crate::domain::stock::{self, DocKey, StockDoc};
use crate::domain::{
    self, Ctx, Decision, Device, Order, QueueKey, Rejection, Site, StaffMember, StockItem,
    StoreView,
};
use crate::metrics::Metrics;

/// Decides what a request appends, given the stream's order (if any), the
/// store's stock and settings, and the time. Runs inside the writer, so no
/// other write can interleave between what it reads and what it appends.
pub type Decide = Box<dyn FnOnce(&Ctx) -> Decision + Send>;

/// How a request is kept from applying twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dedup {
    /// The decision is itself idempotent (e.g. "mark picked" on a picked
    /// order is a no-op).
    None,
    /// A command id: applied once per (scope, id); a retry gets the first
    /// answer; the same id with a different command is refused.
    Inbox {
        scope: String,
        id: String,
        fingerprint: Vec<u8>,
    },
    /// A service's reaction to the event at `trigger_seq`: applied once per
    /// consumer, since the checkpoint moves in the same atomic batch.
    Reaction {
        consumer: &'static str,
        trigger_seq: u64,
    },
}

pub struct WriteRequest {
    pub order_id: OrderId,
    pub actor: Actor,
    pub causation: Option<EventId>,
    pub dedup: Dedup,
    pub decide: Decide,
}

/// The durable outcome of a request. (Moved once per request; boxing the
/// order would cost an allocation per write for nothing.)
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Written {
    /// Decided and flushed. `log_seqs` is empty when there was nothing to do.
    Applied {
        log_seqs: Vec<u64>,
        order: Option<Order>,
    },
    /// Refused by a business rule. Nothing changed; `log_seqs` holds the
    /// refusal's own record, if the rule keeps one (see
    /// [`Rejection::recorded`]).
    Rejected {
        rejection: Rejection,
        log_seqs: Vec<u64>,
    },
    /// The command id was applied before; this is the answer it got.
    Repeat(CommandReply),
    /// The command id was used before for a different command.
    IdReused,
    /// The consumer had already reacted to this trigger.
    AlreadyReacted,
}

enum Msg {
    Write(WriteRequest, oneshot::Sender<Result<Written, StoreError>>),
    /// Move a consumer's checkpoint forward (events it had no reaction to).
    Checkpoint {
        consumer: &'static str,
        seq: u64,
    },
    /// Finish everything queued before this, flush, stop.
    Close(oneshot::Sender<()>),
    /// Run this between two group commits, with everything before it
    /// durable and the head advanced, while later requests wait (a
    /// consistent backup).
    Exclusive(Box<dyn FnOnce() + Send>),
}

/// Sends requests to the writer. Cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Msg>,
}

impl WriterHandle {
    /// Whether the writer still takes requests (it stops for good when a
    /// write to the disk fails).
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Queue a request and wait until its outcome is durable.
    pub async fn write(&self, req: WriteRequest) -> Result<Written, StoreError> {
        self.submit(req)
            .await?
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Queue a request; the returned receiver resolves once it is durable.
    /// Requests are applied in the order they were submitted.
    pub async fn submit(
        &self,
        req: WriteRequest,
    ) -> Result<oneshot::Receiver<Result<Written, StoreError>>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Write(req, tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(rx)
    }

    /// Requests waiting in the writer's queue now.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Run `f` on the writer's thread between two group commits: every
    /// request queued before it is durable and visible, and none after it
    /// starts until `f` returns.
    pub async fn exclusive<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.tx
            .send(Msg::Exclusive(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
    }

    pub async fn checkpoint(&self, consumer: &'static str, seq: u64) -> Result<(), StoreError> {
        self.tx
            .send(Msg::Checkpoint { consumer, seq })
            .await
            .map_err(|_| StoreError::Closed)
    }

    /// Drain what is queued, flush, and stop the writer.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Run an exclusive job; a panic in it is its own failure (its caller's
/// answer is dropped), not the writer's.
fn run_exclusive(job: Box<dyn FnOnce() + Send>) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
        tracing::error!("an exclusive job (a backup) panicked; the writer goes on");
    }
}

/// Group size from which the writer lingers for more (see `Writer::run`).
const LINGER_MIN_GROUP: usize = 4;

/// Where the writer announces durable events.
pub trait EventSink: Send + 'static {
    /// One event for the store broker (staff events are never published).
    fn publish(&mut self, topic: String, payload: Vec<u8>);
    /// A group's events, once durable, in log order: the node's own live
    /// feed (the staff pages follow it).
    fn durable(&mut self, _events: Vec<Envelope>) {}
}

pub struct Writer<S: EventSink> {
    store: Store,
    rx: mpsc::Receiver<Msg>,
    sink: S,
    durability: Durability,
    max_batch: usize,
    sync_file: Option<File>,
    metrics: Arc<Metrics>,
    linger: std::time::Duration,
    /// Hash of the newest log entry: the next entry's `prev_hash`.
    last_hash: [u8; 32],
    /// How far the log is durable, beside the database (see `watermark`).
    watermark: super::watermark::Watermark,
    /// Tests of power loss only: copy the database here at every sync.
    #[cfg(feature = "test-hooks")]
    copies: Option<super::power_cuts::PowerCuts>,
}

impl<S: EventSink> Writer<S> {
    /// `db_dir` is the directory sled was opened on.
    pub fn new(
        store: Store,
        db_dir: &Path,
        sink: S,
        durability: Durability,
        max_batch: usize,
        linger: std::time::Duration,
        metrics: Arc<Metrics>,
    ) -> Result<(Self, WriterHandle), StoreError> {
        // sled keeps its log in `<dir>/db`; its own flush only issues
        // sync_file_range, which does not reach the drive's cache or the
        // file's metadata. An fdatasync per group commit closes that gap.
        let sync_file = match durability {
            Durability::Fdatasync => Some(File::open(db_dir.join("db"))?),
            Durability::Flush => None,
        };
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let last_hash = match store.log_bytes(store.head())? {
            Some(bytes) => chain_hash(&bytes),
            None => [0; 32],
        };
        // Chaining onto a log whose end was edited or cut would bless the
        // change: the recorded chain head must name the log's last entry.
        let anchor = store.chain_head()?;
        let expected = ChainHead {
            seq: store.head(),
            hash: if store.head() == 0 {
                [0; 32]
            } else {
                last_hash
            },
        };
        if anchor != expected {
            return Err(StoreError::Corrupt {
                key: "log".into(),
                reason: format!(
                    "the hash chain head names log {} but the log ends at {} with another hash: entries were changed or removed (run `storenode verify`; restore the data directory from a backup)",
                    anchor.seq,
                    store.head()
                ),
            });
        }
        let watermark = super::watermark::Watermark::open(db_dir)?;
        let writer = Writer {
            #[cfg(feature = "test-hooks")]
            copies: super::power_cuts::PowerCuts::from_env(db_dir),
            watermark,
            last_hash,
            store,
            rx,
            sink,
            durability,
            max_batch,
            sync_file,
            metrics,
            linger,
        };
        // What the log holds now is made durable before the watermark
        // says so (a killed run may have left it in the page cache only).
        let mut writer = writer;
        writer.sync()?;
        writer.watermark.set(expected)?;
        // (Written once a second after this; see `watermark`.)
        Ok((writer, WriterHandle { tx }))
    }

    /// Run until closed. Returns an error only if the disk failed, in which
    /// case nothing after the failure was acknowledged.
    pub fn run(mut self) -> Result<(), StoreError> {
        tracing::info!(durability = ?self.durability, max_batch = self.max_batch, "writer started");
        let mut batch = Vec::with_capacity(self.max_batch);
        loop {
            let Some(first) = self.rx.blocking_recv() else {
                let synced = self.sync();
                self.watermark.flush();
                return synced;
            };
            batch.push(first);
            self.drain(&mut batch);
            // Under sustained load (a big group already waiting), linger
            // briefly so the group grows: sled's cost is per batch. A lone
            // request or a small burst is not delayed.
            if batch.len() >= LINGER_MIN_GROUP
                && batch.len() < self.max_batch
                && !self.linger.is_zero()
            {
                std::thread::sleep(self.linger);
                self.drain(&mut batch);
            }
            // A full or read-only disk: refuse the group's writes before
            // sled tries one it cannot make, and write nothing (a consumer's
            // checkpoint is dropped: after a restart it replays a little
            // more, harmlessly; a close still closes).
            if let Some(trouble) = self.store.disk().and_then(|d| d.check()) {
                let mut close = None;
                for msg in batch.drain(..) {
                    match msg {
                        Msg::Write(_, reply) => {
                            self.metrics.write_refused(trouble.name());
                            let _ = reply.send(Err(StoreError::Disk(trouble)));
                        }
                        Msg::Checkpoint { .. } => {}
                        Msg::Exclusive(job) => run_exclusive(job),
                        Msg::Close(done) => close = Some(done),
                    }
                }
                if let Some(done) = close {
                    self.watermark.flush();
                    let _ = done.send(());
                    tracing::info!(head = self.store.head(), "writer closed");
                    return Ok(());
                }
                continue;
            }
            // The whole group is one sled batch: sled's cost is per batch
            // far more than per key (≈5.5 KB written per `apply_batch`
            // measured on this disk), so one batch per group commit cuts
            // both bytes written and CPU. Requests in the group see each
            // other's effects through the overlay.
            let mut group = Group::new(self.store.head(), self.last_hash);
            let mut replies = Vec::with_capacity(batch.len());
            let mut published = Vec::new();
            let mut close = None;
            let mut checkpoints = 0;
            let mut failed = None;
            let mut exclusive = Vec::new();
            for msg in batch.drain(..) {
                match msg {
                    Msg::Write(req, reply) => match self.apply(req, &mut group) {
                        Ok((written, envs)) => {
                            published.extend(envs);
                            replies.push((reply, written));
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "reading the store failed");
                            failed = Some(e);
                            let _ = reply.send(Err(StoreError::Closed));
                        }
                    },
                    Msg::Checkpoint { consumer, seq } => {
                        checkpoints += 1;
                        if let Err(e) = self.advance_checkpoint(consumer, seq, &mut group) {
                            tracing::error!(error = %e, consumer, "reading a checkpoint failed");
                        }
                    }
                    Msg::Exclusive(job) => exclusive.push(job),
                    Msg::Close(done) => close = Some(done),
                }
            }
            let n = replies.len() + checkpoints;
            let started = Instant::now();
            let head = group.head;
            let group_moves = std::mem::take(&mut group.moves);
            let (touched, site, staff) = group.finish(self.last_hash);
            let group_devices: Vec<_> = group.devices.drain().collect();
            let new_hash = group.last_hash;
            let committed = match failed {
                Some(e) => Err(e),
                None => self
                    .store
                    .tree()
                    .apply_batch(group.batch)
                    .map_err(StoreError::from)
                    .and_then(|()| self.sync()),
            };
            self.metrics
                .observe_group_commit(n, started.elapsed().as_secs_f64());
            if let Err(e) = committed {
                // A failing disk: answer nothing as done, stop (fail-stop).
                tracing::error!(error = %e, "group commit failed; stopping the writer");
                for (reply, _) in replies {
                    let _ = reply.send(Err(StoreError::Closed));
                }
                return Err(e);
            }
            // Durable: readers may see it, the broker may hear of it, the
            // senders may be told.
            if head > self.store.head() {
                self.watermark.advance(ChainHead {
                    seq: head,
                    hash: new_hash,
                });
            }
            self.last_hash = new_hash;
            self.store.move_states(&group_moves);
            self.store.update_stock(touched, site, staff);
            self.store.update_devices(group_devices);
            self.store.advance_head(head);
            let mut envs = Vec::with_capacity(published.len());
            for (env, bytes) in published {
                self.metrics.event_appended(env.event.kind().name());
                self.metrics.event_bytes.inc_by(bytes.len() as u64);
                // Staff accounts are no device's business (consumers read
                // them from the log, seeing the gap).
                if !env.event.is_private() {
                    self.sink
                        .publish(topic::event(self.store.store_id(), env.event.kind()), bytes);
                }
                envs.push(env);
            }
            if !envs.is_empty() {
                self.sink.durable(envs);
            }
            self.metrics.log_head.set(head as i64);
            for (reply, written) in replies {
                let _ = reply.send(Ok(written));
            }
            // After the group is durable and visible; the next group waits.
            for job in exclusive {
                run_exclusive(job);
            }
            if let Some(done) = close {
                self.watermark.flush();
                let _ = done.send(());
                tracing::info!(head, "writer closed");
                return Ok(());
            }
        }
    }

    fn drain(&mut self, batch: &mut Vec<Msg>) {
        while batch.len() < self.max_batch {
            match self.rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.store.db().flush()?;
        if let Some(f) = &self.sync_file {
            f.sync_data()?;
        }
        #[cfg(feature = "test-hooks")]
        if let Some(c) = &mut self.copies {
            c.take()?;
        }
        Ok(())
    }

    fn checkpoint(&self, consumer: &str, group: &Group) -> Result<u64, StoreError> {
        match group.checkpoints.get(consumer) {
            Some(seq) => Ok(*seq),
            None => self.store.checkpoint(consumer),
        }
    }

    fn advance_checkpoint(
        &self,
        consumer: &'static str,
        seq: u64,
        group: &mut Group,
    ) -> Result<(), StoreError> {
        if self.checkpoint(consumer, group)? < seq {
            group.set_checkpoint(consumer, seq);
        }
        Ok(())
    }

    /// Decide one request against the store plus the group so far and add
    /// its effects to the group's batch. Not yet durable.
    #[allow(clippy::type_complexity)]
    fn apply(
        &mut self,
        req: WriteRequest,
        group: &mut Group,
    ) -> Result<(Written, Vec<(Envelope, Vec<u8>)>), StoreError> {
        let store = &self.store;
        match &req.dedup {
            Dedup::Inbox {
                scope,
                id,
                fingerprint,
            } => {
                let known = match group.inbox.get(&(scope.clone(), id.clone())) {
                    Some(e) => Some(e.clone()),
                    None => store.inbox(scope, id)?,
                };
                if let Some(entry) = known {
                    return Ok(if entry.same_command(fingerprint) {
                        (Written::Repeat(entry.reply), vec![])
                    } else {
                        (Written::IdReused, vec![])
                    });
                }
            }
            Dedup::Reaction {
                consumer,
                trigger_seq,
            } => {
                if self.checkpoint(consumer, group)? >= *trigger_seq {
                    return Ok((Written::AlreadyReacted, vec![]));
                }
            }
            Dedup::None => {}
        }

        let node_stream = req.order_id.is_reserved();
        let current = match group.orders.get(&req.order_id) {
            Some(o) => o.clone(),
            None if node_stream => None,
            None => store.order(&req.order_id)?,
        };
        let now = store.clock().now_ms();
        let decision = {
            let view = GroupView { store, group };
            let ctx = Ctx {
                order: current.as_ref(),
                view: &view,
                now_ms: now,
            };
            (req.decide)(&ctx)
        };
        // Only an OrderCreated may start an order's stream.
        let decision = decision.and_then(|events| match (&current, events.first()) {
            (None, Some(e)) if !node_stream && !matches!(e, Event::OrderCreated(_)) => {
                Err(Rejection::UnknownOrder(req.order_id.to_string()))
            }
            _ => Ok(events),
        });
        // A refusal appends only its own record, if the rule keeps one.
        let (events, refusal) = match decision {
            Ok(events) => (events, None),
            Err(rejection) => (rejection.recorded(), Some(rejection)),
        };

        let mut order = current.clone();
        let last_seq = match &current {
            Some(o) => o.last_seq,
            None if node_stream => match group.streams.get(&req.order_id) {
                Some(seq) => *seq,
                None => store.stream_seq(&req.order_id)?,
            },
            None => 0,
        };
        let mut envs = Vec::with_capacity(events.len());
        let mut log_seqs = Vec::with_capacity(events.len());
        for (order_seq, event) in (last_seq + 1..).zip(events) {
            group.head += 1;
            let env = Envelope {
                event_id: EventId::generate(),
                causation_id: req.causation,
                store_id: store.store_id().clone(),
                order_id: req.order_id.clone(),
                order_seq,
                log_seq: group.head,
                time_ms: now,
                schema: SCHEMA_VERSION,
                actor: req.actor.clone(),
                event,
                prev_hash: ChainHash(group.last_hash),
            };
            let bytes = codec::encode(&env);
            group.last_hash = chain_hash(&bytes);
            group.batch.insert(log_key(group.head), bytes.as_slice());
            for effect in crate::domain::effects::effects(order.as_ref(), &env.event, env.time_ms) {
                group.apply_effect(store, &effect, env.log_seq)?;
            }
            for key in stock::doc_keys(&env.event) {
                let current = match group.docs.remove(&key) {
                    Some(d) => d,
                    None => store.doc(&key)?,
                };
                let next = stock::apply_doc(&key, current, &env.event, env.log_seq, env.time_ms);
                group.docs.insert(key, next);
            }
            if let Some(id) = domain::staff::staff_id_of(&env.event) {
                let current = match group.staff.remove(id) {
                    Some(m) => m,
                    None => store.staff(id),
                };
                let next = domain::staff::apply(current, &env.event, env.time_ms);
                group.staff.insert(id.to_string(), next);
            }
            if let Some(name) = domain::device::device_name_of(&env.event) {
                let current = match group.devices.remove(name) {
                    Some(d) => d,
                    None => store.device(name),
                };
                let next = domain::device::apply(current, &env.event, env.time_ms);
                group.devices.insert(name.to_string(), next);
            }
            if node_stream {
                group.streams.insert(req.order_id.clone(), order_seq);
            } else {
                order = domain::order::apply(order, &env);
            }
            log_seqs.push(group.head);
            envs.push((env, bytes));
        }
        if !envs.is_empty() {
            if let Some(o) = &order {
                group
                    .batch
                    .insert(order_key(&o.id), codec::encode(&o.status));
                if current.is_none() {
                    group
                        .batch
                        .insert(content_key(&o.id), codec::encode(&o.content));
                }
                let before = current.as_ref().map(|c| c.state);
                let was_overdue = current.as_ref().is_some_and(|c| c.overdue());
                let queue = QueueKey::of(o);
                let waiting_since = o.waiting_since();
                let moved = before != Some(o.state)
                    || was_overdue != o.overdue()
                    || current.as_ref().and_then(QueueKey::of) != queue
                    || current.as_ref().and_then(|c| c.waiting_since()) != waiting_since;
                if moved {
                    let code = o
                        .pickup_code
                        .clone()
                        .or_else(|| current.as_ref().and_then(|c| c.pickup_code.clone()));
                    group.moves.push(StateMove {
                        id: o.id.clone(),
                        before,
                        after: o.state,
                        code,
                        overdue: o.overdue(),
                        queue,
                        waiting_since,
                    });
                }
            }
            if !node_stream {
                group.orders.insert(req.order_id.clone(), order.clone());
            }
        }
        match refusal {
            // A refused reaction is still a decision about its trigger: the
            // checkpoint moves past it, so a restart does not decide it
            // again; a refused command id keeps its answer.
            Some(rejection) => {
                let reason = Some(rejection.to_string());
                group.record(&req.dedup, ReplyStatus::Rejected, reason, log_seqs.clone());
                Ok((
                    Written::Rejected {
                        rejection,
                        log_seqs,
                    },
                    envs,
                ))
            }
            None => {
                group.record(&req.dedup, ReplyStatus::Accepted, None, log_seqs.clone());
                Ok((Written::Applied { log_seqs, order }, envs))
            }
        }
    }
}

/// What a decision sees: the store as of the start of the group plus the
/// group's own changes so far.
struct GroupView<'a> {
    store: &'a Store,
    group: &'a Group,
}

impl StoreView for GroupView<'_> {
    fn item(&self, sku: &str) -> Option<StockItem> {
        match self.group.items.get(sku) {
            Some(i) => i.clone().map(|i| self.site().resolve(i)),
            None => match &self.group.site {
                // The store's settings changed in this group: resolve anew.
                Some(site) => self.store.item(sku).map(|i| site.resolve(i)),
                None => self.store.item(sku),
            },
        }
    }
    fn doc(&self, key: &DocKey) -> Option<StockDoc> {
        match self.group.docs.get(key) {
            Some(d) => d.clone(),
            None => self.store.doc(key).ok().flatten(),
        }
    }
    fn seq_after(&self, time_ms: u64) -> u64 {
        // The log holds the durable events; the group's own come after
        // them, stamped now: after any time the log does not reach.
        self.store
            .seq_after(time_ms)
            .unwrap_or(self.store.head() + 1)
    }
    fn moves_from(&self, sku: &str, from: u64) -> i64 {
        let durable = self.store.moves_from(sku, from).unwrap_or(0);
        let group: i64 = self
            .group
            .journal
            .iter()
            .filter(|(s, seq, _)| s == sku && *seq >= from)
            .map(|(_, _, e)| e.delta)
            .sum();
        durable.saturating_add(group)
    }
    fn stock_skus(&self) -> Vec<String> {
        let mut skus = self.store.stock_skus();
        skus.extend(
            self.group
                .items
                .iter()
                .filter(|(k, v)| v.is_some() && self.store.item(k).is_none())
                .map(|(k, _)| k.clone()),
        );
        skus
    }
    fn open_orders(&self) -> usize {
        self.store.open_orders()
    }
    fn sku_for_barcode(&self, barcode: &str) -> Option<String> {
        let in_group = self
            .group
            .items
            .values()
            .flatten()
            .find(|i| i.item.barcodes.iter().any(|b| b == barcode));
        match in_group {
            Some(i) => Some(i.item.sku.clone()),
            None => self
                .store
                .sku_for_barcode(barcode)
                .filter(|sku| !self.group.items.contains_key(sku)),
        }
    }
    fn site(&self) -> Site {
        match &self.group.site {
            Some(s) => s.clone(),
            None => self.store.site(),
        }
    }
    fn staff(&self, id: &str) -> Option<StaffMember> {
        match self.group.staff.get(id) {
            Some(m) => m.clone(),
            None => self.store.staff(id),
        }
    }
    fn staff_list(&self) -> Vec<StaffMember> {
        overlay(self.store.staff_list(), |m| &m.id, &self.group.staff)
    }
    fn device(&self, name: &str) -> Option<Device> {
        match self.group.devices.get(name) {
            Some(d) => d.clone(),
            None => self.store.device(name),
        }
    }
    fn device_list(&self) -> Vec<Device> {
        overlay(self.store.device_list(), |d| &d.name, &self.group.devices)
    }
}

/// The durable `base` with the group's changes laid over it (`None`: gone).
fn overlay<T: Clone>(
    base: Vec<T>,
    key: impl Fn(&T) -> &String,
    changes: &HashMap<String, Option<T>>,
) -> Vec<T> {
    let mut all: HashMap<String, T> = base.into_iter().map(|t| (key(&t).clone(), t)).collect();
    for (k, v) in changes {
        match v {
            Some(v) => all.insert(k.clone(), v.clone()),
            None => all.remove(k),
        };
    }
    all.into_values().collect()
}

/// One group commit in the making: its sled batch, and what it has changed
/// so far, so later requests in the group decide on up-to-date state.
struct Group {
    batch: sled::Batch,
    head: u64,
    last_hash: [u8; 32],
    orders: HashMap<OrderId, Option<Order>>,
    checkpoints: HashMap<&'static str, u64>,
    inbox: HashMap<(String, String), InboxEntry>,
    /// State changes, applied to the in-memory indexes once durable.
    moves: Vec<StateMove>,
    /// SKUs changed by the group (`None`: not in the catalog).
    items: HashMap<String, Option<StockItem>>,
    site: Option<Site>,
    /// Staff accounts changed by the group.
    staff: HashMap<String, Option<StaffMember>>,
    /// Devices registered or removed by the group.
    devices: HashMap<String, Option<Device>>,
    /// Node streams' last `order_seq`.
    streams: HashMap<OrderId, u64>,
    /// Stock documents changed by the group.
    docs: HashMap<DocKey, Option<StockDoc>>,
    /// On-hand movements of the group: (SKU, log_seq, entry).
    journal: Vec<(String, u64, crate::store::JournalEntry)>,
}

impl Group {
    fn new(head: u64, last_hash: [u8; 32]) -> Self {
        Group {
            batch: sled::Batch::default(),
            head,
            last_hash,
            orders: HashMap::new(),
            checkpoints: HashMap::new(),
            inbox: HashMap::new(),
            moves: Vec::new(),
            items: HashMap::new(),
            site: None,
            staff: HashMap::new(),
            devices: HashMap::new(),
            streams: HashMap::new(),
            docs: HashMap::new(),
            journal: Vec::new(),
        }
    }

    /// Apply one effect of the event at `log_seq`; a change of on-hand
    /// stock goes in the SKU's journal too.
    fn apply_effect(
        &mut self,
        store: &Store,
        effect: &Effect,
        log_seq: u64,
    ) -> Result<(), StoreError> {
        match inventory::effect_sku(effect) {
            Some(sku) => {
                let current = match self.items.remove(sku) {
                    Some(i) => i,
                    None => store.item(sku),
                };
                if let Some((delta, kind)) = inventory::movement(current.as_ref(), effect) {
                    self.journal.push((
                        sku.to_string(),
                        log_seq,
                        crate::store::JournalEntry { delta, kind },
                    ));
                }
                self.items
                    .insert(sku.to_string(), inventory::apply_to_item(current, effect));
            }
            None => {
                let site = self.site.take().unwrap_or_else(|| store.site());
                self.site = Some(inventory::apply_to_site(site, effect));
            }
        }
        Ok(())
    }

    /// Put the group's stock, settings, stream positions and chain head in
    /// its batch (one key per SKU touched, however many events touched it).
    /// Returns what readers should see once the batch is durable.
    fn finish(
        &mut self,
        hash_before: [u8; 32],
    ) -> (Vec<StockItem>, Option<Site>, Vec<StaffMember>) {
        let mut touched = Vec::with_capacity(self.items.len());
        for (sku, item) in self.items.drain() {
            if let Some(item) = item {
                self.batch.insert(item_key(&sku), codec::encode(&item));
                touched.push(item);
            }
        }
        if let Some(site) = &self.site {
            self.batch.insert(site_key(), codec::encode(site));
        }
        let mut staff = Vec::with_capacity(self.staff.len());
        for (id, m) in self.staff.drain() {
            if let Some(m) = m {
                self.batch.insert(staff_key(&id), codec::encode(&m));
                staff.push(m);
            }
        }
        for (name, d) in &self.devices {
            match d {
                Some(d) => self.batch.insert(device_key(name), codec::encode(d)),
                None => self.batch.remove(device_key(name)),
            }
        }
        for (id, seq) in &self.streams {
            self.batch.insert(stream_key(id), &seq.to_be_bytes());
        }
        for (k, d) in self.docs.drain() {
            match d {
                Some(d) => self
                    .batch
                    .insert(super::stock_docs::doc_key(&k), codec::encode(&d)),
                None => self.batch.remove(super::stock_docs::doc_key(&k)),
            }
        }
        // One event may move one SKU more than once (a damaged return:
        // back, then written off): numbered within the event.
        let mut n: HashMap<(String, u64), u8> = HashMap::new();
        for (sku, seq, e) in self.journal.drain(..) {
            let i = n.entry((sku.clone(), seq)).or_insert(0);
            self.batch.insert(
                super::stock_docs::journal_key(&sku, seq, *i),
                codec::encode(&e),
            );
            *i = i.saturating_add(1);
        }
        if self.last_hash != hash_before {
            let head = ChainHead {
                seq: self.head,
                hash: self.last_hash,
            };
            self.batch.insert(chain_key(), codec::encode(&head));
        }
        (touched, self.site.clone(), staff)
    }

    fn set_checkpoint(&mut self, consumer: &'static str, seq: u64) {
        self.batch
            .insert(checkpoint_key(consumer), &seq.to_be_bytes());
        self.checkpoints.insert(consumer, seq);
    }

    /// Record a request's outcome against its dedup key: the answer for a
    /// command id, the checkpoint for a reaction.
    fn record(
        &mut self,
        dedup: &Dedup,
        status: ReplyStatus,
        reason: Option<String>,
        log_seqs: Vec<u64>,
    ) {
        match dedup {
            Dedup::Inbox {
                scope,
                id,
                fingerprint,
            } => {
                let reply = CommandReply {
                    id: id.clone(),
                    status,
                    reason,
                    log_seqs,
                };
                let entry = InboxEntry {
                    fingerprint: fingerprint.clone(),
                    reply,
                    time_ms: now_ms(),
                };
                self.set_inbox(scope, id, entry);
            }
            Dedup::Reaction {
                consumer,
                trigger_seq,
            } => self.set_checkpoint(consumer, *trigger_seq),
            Dedup::None => {}
        }
    }

    fn set_inbox(&mut self, scope: &str, id: &str, entry: InboxEntry) {
        self.batch
            .insert(inbox_key(scope, id), codec::encode(&entry));
        self.inbox
            .insert((scope.to_string(), id.to_string()), entry);
    }
}
