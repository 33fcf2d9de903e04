//! The consumer loop every event-driven service runs.
//!
//! Broker messages are notifications, not data: the broker keeps nothing
//! across restarts, drops a slow subscriber's backlog and cannot stop a
//! device from publishing on event topics. So a consumer
//! 1. starts from its durable checkpoint and catches up from the log,
//! 2. follows the live topic, taking a message only if it is the next
//!    `log_seq` and its bytes equal the log's (else: forged, counted),
//! 3. on a gap (a genuine message with a later `log_seq` than expected)
//!    catches up from the log,
//! 4. every tick, catches up if the log head is ahead (a dropped tail).
//!
//! Reactions are written with the trigger as causation and
//! `Dedup::Reaction`, which moves the checkpoint in the same atomic batch:
//! a replay after a crash produces no second reaction.
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{codec, topic, Actor, Envelope};
use rumqttd::Notification;
use tokio::sync::{oneshot, Mutex};

use super::ServiceError;
use crate::broker::Link;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::writer::Decide;
use crate::store::{Dedup, Store, StoreError, WriteRequest, WriterHandle, Written};

/// What a service does about one event.
pub enum Reaction {
    None,
    /// Append what `Decide` returns for the event's order.
    Write(Decide),
    /// Publish these (topic, payload) messages; at least once.
    Publish(Vec<(String, Vec<u8>)>),
}

/// A service's pure reaction to an event.
pub trait Reactor: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn react(&self, env: &Envelope) -> Reaction;
}

/// Reactions in flight before the consumer waits for the oldest.
const MAX_IN_FLIGHT: usize = 256;
/// How often the consumer checks the log head and persists its checkpoint.
const TICK: Duration = Duration::from_millis(250);

pub struct Consumer<R: Reactor> {
    reactor: Arc<R>,
    store: Store,
    writer: WriterHandle,
    metrics: Arc<Metrics>,
    link: Arc<Mutex<Link>>,
}

impl<R: Reactor> Clone for Consumer<R> {
    fn clone(&self) -> Self {
        Consumer {
            reactor: self.reactor.clone(),
            store: self.store.clone(),
            writer: self.writer.clone(),
            metrics: self.metrics.clone(),
            link: self.link.clone(),
        }
    }
}

struct Progress {
    /// Every event up to here has been handed to the reactor.
    cursor: u64,
    /// Checkpoint known to be queued for writing.
    saved: u64,
    last_save: Instant,
    in_flight: VecDeque<oneshot::Receiver<Result<Written, StoreError>>>,
}

impl<R: Reactor> Consumer<R> {
    /// `link` survives restarts of the consumer: it is kept behind a mutex
    /// that a panicking task releases.
    pub fn new(
        reactor: R,
        store: Store,
        writer: WriterHandle,
        metrics: Arc<Metrics>,
        link: Link,
    ) -> Self {
        Consumer {
            reactor: Arc::new(reactor),
            store,
            writer,
            metrics,
            link: Arc::new(Mutex::new(link)),
        }
    }

    /// Run until shutdown. An error means the service must restart from
    /// its durable checkpoint.
    pub async fn run(self, mut shutdown: Shutdown) -> Result<(), ServiceError> {
        let name = self.reactor.name();
        let mut link = self.link.clone().lock_owned().await;
        link.tx
            .subscribe(topic::all_events(self.store.store_id()))
            .map_err(|e| ServiceError::Link(e.to_string()))?;
        let start = self.store.checkpoint(name)?;
        let mut p = Progress {
            cursor: start,
            saved: start,
            last_save: Instant::now(),
            in_flight: VecDeque::new(),
        };
        self.catch_up(&mut p, &mut link).await?;
        tracing::info!(
            service = name,
            checkpoint = start,
            head = self.store.head(),
            "service following live events"
        );
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                _ = shutdown.fired() => break,
                n = link.rx.next() => match n.map_err(|e| ServiceError::Link(e.to_string()))? {
                    Some(Notification::Forward(f)) => {
                        self.on_message(&mut p, &mut link, &f.publish.payload).await?;
                    }
                    Some(Notification::Unschedule) => {
                        link.rx.wake().await.map_err(|e| ServiceError::Link(e.to_string()))?;
                    }
                    _ => {}
                },
                _ = tick.tick() => {
                    if self.store.head() > p.cursor {
                        self.catch_up(&mut p, &mut link).await?;
                    }
                    self.settle(&mut p, false).await?;
                    self.save(&mut p, false).await?;
                    self.metrics.lag(name, self.store.head().saturating_sub(p.cursor));
                }
            }
        }
        self.settle(&mut p, true).await?;
        self.save(&mut p, true).await?;
        tracing::info!(service = name, checkpoint = p.cursor, "service stopped");
        Ok(())
    }

    async fn on_message(
        &self,
        p: &mut Progress,
        link: &mut Link,
        payload: &[u8],
    ) -> Result<(), ServiceError> {
        let Ok(env) = codec::decode::<Envelope>(payload) else {
            self.metrics.forged(self.reactor.name());
            return Ok(());
        };
        if env.log_seq <= p.cursor {
            return Ok(()); // seen already
        }
        // The bytes first, also for a message from the future: a forgery
        // naming a later log_seq used to skip this check and start an
        // uncounted catch-up.
        let genuine = matches!(
            self.store.log_bytes(env.log_seq)?,
            Some(logged) if logged.as_ref() == payload && env.log_seq <= self.store.head()
        );
        if !genuine {
            self.metrics.forged(self.reactor.name());
            tracing::debug!(
                service = self.reactor.name(),
                log_seq = env.log_seq,
                "ignored a message the log does not hold"
            );
            return Ok(());
        }
        if env.log_seq > p.cursor + 1 {
            return self.catch_up(p, link).await; // gap: the log has it all
        }
        self.handle(p, link, env).await
    }

    async fn catch_up(&self, p: &mut Progress, link: &mut Link) -> Result<(), ServiceError> {
        loop {
            // Only up to the durable head: a group being flushed is
            // already visible in sled but not yet promised to anyone.
            let head = self.store.head();
            if p.cursor >= head {
                return Ok(());
            }
            let batch = self
                .store
                .events_from(p.cursor + 1, (head - p.cursor).min(512) as usize)?;
            if batch.is_empty() {
                return Ok(());
            }
            for env in batch {
                self.handle(p, link, env).await?;
            }
        }
    }

    async fn handle(
        &self,
        p: &mut Progress,
        link: &mut Link,
        env: Envelope,
    ) -> Result<(), ServiceError> {
        let seq = env.log_seq;
        let name = self.reactor.name();
        self.metrics.service_event(name, "in");
        match self.reactor.react(&env) {
            Reaction::None => {}
            Reaction::Publish(msgs) => {
                self.metrics.service_event(name, "published");
                for (t, payload) in msgs {
                    crate::broker::publish_nonblocking(&mut link.tx, t, payload, &self.metrics);
                }
            }
            Reaction::Write(decide) => {
                self.metrics.service_event(name, "written");
                let req = WriteRequest {
                    order_id: env.order_id.clone(),
                    actor: Actor::Service(self.reactor.name().to_string()),
                    causation: Some(env.event_id),
                    dedup: Dedup::Reaction {
                        consumer: self.reactor.name(),
                        trigger_seq: seq,
                    },
                    decide,
                };
                p.in_flight.push_back(self.writer.submit(req).await?);
                p.saved = p.saved.max(seq); // the reaction moves the checkpoint
                if p.in_flight.len() >= MAX_IN_FLIGHT {
                    self.settle(p, false).await?;
                }
            }
        }
        p.cursor = seq;
        Ok(())
    }

    /// Collect finished reactions; with `all`, wait for every one. A failed
    /// write fails the service, which restarts from its durable checkpoint.
    async fn settle(&self, p: &mut Progress, all: bool) -> Result<(), ServiceError> {
        loop {
            let must_wait = all || p.in_flight.len() >= MAX_IN_FLIGHT;
            let Some(front) = p.in_flight.front_mut() else {
                return Ok(());
            };
            let result = if must_wait {
                front.await.map_err(|_| StoreError::Closed)?
            } else {
                match front.try_recv() {
                    Ok(r) => r,
                    Err(oneshot::error::TryRecvError::Empty) => return Ok(()),
                    Err(oneshot::error::TryRecvError::Closed) => {
                        return Err(StoreError::Closed.into())
                    }
                }
            };
            p.in_flight.pop_front();
            if let Written::Rejected { rejection: r, .. } = result? {
                tracing::warn!(service = self.reactor.name(), reason = %r, "reaction refused");
            }
        }
    }

    /// Queue the checkpoint for events that needed no write. Rides on the
    /// next group commit; at most once a second, to spare the SD card.
    async fn save(&self, p: &mut Progress, now: bool) -> Result<(), ServiceError> {
        if p.cursor > p.saved && (now || p.last_save.elapsed() >= Duration::from_secs(1)) {
            self.writer
                .checkpoint(self.reactor.name(), p.cursor)
                .await?;
            p.saved = p.cursor;
            p.last_save = Instant::now();
        }
        Ok(())
    }
}
