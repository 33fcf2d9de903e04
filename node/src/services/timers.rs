//! Timers: late orders, pickup reminders and expiry.
//!
//! Driven from durable state, not from sleeps: every tick the service looks
//! at open orders (walking the in-memory by-state index) and asks the
//! domain what is due at this moment. A decision that is due is written
//! like any other; the events themselves (OrderLate, PickupReminded,
//! PickupExpired) mark it done, so a restart, however long, fires what fell
//! due while the node was down, once.
//!
//! Work per tick is bounded: the walk reads at most `PER_TICK` orders and
//! goes on from there at the next tick. A store's few hundred open orders
//! are all looked at every second; a backlog of 100,000 costs the same per
//! second as 500 and is walked through in a few minutes.
//!
//! Time is the store's clock (`crate::clock`): it never goes back, and an
//! order's times that a forward clock step left behind (a Pi that ran on
//! its saved time until NTP put it three days on) are counted from where a
//! right clock would have put them.
use std::borrow::Cow;
use std::time::Duration;

use protocol::Actor;

use super::ServiceError;
use crate::clock::{corrected, Step};
use crate::domain::inventory::PickupTimes;
use crate::domain::{self, OrderState};
use crate::shutdown::Shutdown;
use crate::store::{Dedup, Store, WriteRequest, WriterHandle};

pub const NAME: &str = "timers";
const TICK: Duration = Duration::from_secs(1);
/// Most orders read per tick.
const PER_TICK: usize = 500;

/// Where the walk over the open orders stands between ticks.
#[derive(Debug, Default)]
struct Cursor {
    /// Index into the open states.
    state: usize,
    /// Last order id looked at in that state.
    after: Option<protocol::OrderId>,
}

#[derive(Clone)]
pub struct Timers {
    pub store: Store,
    pub writer: WriterHandle,
    pub expiry_ms: u64,
    pub remind_ms: u64,
    pub payment_timeout_ms: u64,
}

impl Timers {
    pub async fn run(self, mut shutdown: Shutdown) -> Result<(), ServiceError> {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cursor = Cursor::default();
        loop {
            tokio::select! {
                _ = shutdown.fired() => return Ok(()),
                _ = tick.tick() => self.fire_due(&mut cursor).await?,
            }
        }
    }

    /// Write the decisions due now among the next `PER_TICK` open orders.
    async fn fire_due(&self, cursor: &mut Cursor) -> Result<(), ServiceError> {
        let now = self.store.clock().now_ms();
        // A step seen by this reading or by the writer's since the last
        // tick is written down before anything is decided on it.
        self.store.save_clock_steps()?;
        let steps = std::sync::Arc::new(self.store.clock().steps());
        // The store's own pickup window if a manager set one, else the
        // configuration's.
        let default = PickupTimes {
            expiry_s: self.expiry_ms / 1000,
            reminder_s: self.remind_ms / 1000,
        };
        let pay = self.payment_timeout_ms;
        let due_now = move |o: &domain::Order, now: u64, site: &domain::Site| {
            let o = &*as_counted(o, &steps);
            let times = site.pickup_times(default);
            let mut events = domain::order::on_clock(o, now);
            events.extend(domain::order::payment_overdue(o, now, pay));
            events.extend(domain::handover::on_clock(
                o,
                now,
                times.expiry_s * 1000,
                times.reminder_s * 1000,
            ));
            events
        };
        let site = self.store.site();
        let open: Vec<OrderState> = OrderState::ALL
            .into_iter()
            .filter(|s| !s.is_closed())
            .collect();
        let mut due = Vec::new();
        let (mut looked, mut states_ended) = (0, 0);
        while looked < PER_TICK && states_ended < open.len() {
            let state = open[cursor.state % open.len()];
            let want = PER_TICK - looked;
            let page = self
                .store
                .orders_in_state(state, cursor.after.as_ref(), want)?;
            looked += page.len();
            let ended = page.len() < want;
            cursor.after = page.last().map(|o| o.id.clone());
            due.extend(
                page.into_iter()
                    .filter(|o| !due_now(o, now, &site).is_empty()),
            );
            if ended {
                cursor.state = (cursor.state + 1) % open.len();
                cursor.after = None;
                states_ended += 1;
            }
        }
        for o in due {
            let due_now = due_now.clone();
            // Decided again inside the writer on the current state, so
            // a staff action that won the race is respected.
            let req = WriteRequest {
                order_id: o.id.clone(),
                actor: Actor::Service(NAME.into()),
                causation: None,
                dedup: Dedup::None,
                decide: Box::new(move |c| {
                    let site = c.view.site();
                    Ok(c.order.map_or(vec![], |o| due_now(o, c.now_ms, &site)))
                }),
            };
            match self.writer.write(req).await {
                Ok(crate::store::Written::Applied { log_seqs, order }) if !log_seqs.is_empty() => {
                    tracing::info!(
                        order = %o.id,
                        state = order.as_ref().map_or("", |o| o.state.name()),
                        events = log_seqs.len(),
                        "timer fired"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(order = %o.id, error = %e, "timer write failed; retrying next tick");
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// `o` with the times the timers count from (creation, ready, check-in)
/// corrected for the clock's forward steps; borrowed when there are none.
fn as_counted<'a>(o: &'a domain::Order, steps: &[Step]) -> Cow<'a, domain::Order> {
    if steps.is_empty() {
        return Cow::Borrowed(o);
    }
    let mut c = o.clone();
    c.status.created_ms = corrected(steps, c.created_ms);
    c.status.ready_ms = c.ready_ms.map(|t| corrected(steps, t));
    if let Some(a) = c.status.arrival.as_mut() {
        a.at_ms = corrected(steps, a.at_ms);
    }
    Cow::Owned(c)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use protocol::{Event, OrderId, StoreId};

    use super::*;
    use crate::clock::Manual;
    use crate::config::Durability;
    use crate::domain::order::tests::content;
    use crate::store::writer::EventSink;
    use crate::store::{StoreError, Writer};

    const DAY: u64 = 86_400_000;
    const EXPIRY: u64 = 2 * DAY;

    struct Nowhere;
    impl EventSink for Nowhere {
        fn publish(&mut self, _topic: String, _payload: Vec<u8>) {}
    }

    type Started = (
        Store,
        WriterHandle,
        std::thread::JoinHandle<Result<(), StoreError>>,
    );

    /// A real sled directory and writer thread on a hand-driven clock.
    fn start(dir: &Path, clock: Arc<Manual>) -> Started {
        // Reopened in the same process: sled lets go of the file lock a
        // moment after the store before is dropped (failed once in CI).
        let store =
            Store::open_when_free(dir, StoreId::new("s1").expect("id"), clock).expect("open");
        let (w, h) = Writer::new(
            store.clone(),
            dir,
            Nowhere,
            Durability::Fdatasync,
            16,
            Duration::ZERO,
            Arc::new(crate::metrics::Metrics::new()),
        )
        .expect("writer");
        (store, h, std::thread::spawn(move || w.run()))
    }

    fn timers_on(store: &Store, writer: &WriterHandle) -> Timers {
        Timers {
            store: store.clone(),
            writer: writer.clone(),
            expiry_ms: EXPIRY,
            remind_ms: 0,
            payment_timeout_ms: DAY,
        }
    }

    async fn write(h: &WriterHandle, id: &OrderId, events: Vec<Event>) {
        let req = WriteRequest {
            order_id: id.clone(),
            actor: Actor::Cli,
            causation: None,
            dedup: Dedup::None,
            decide: Box::new(move |_| Ok(events)),
        };
        h.write(req).await.expect("write");
    }

    /// The Pi after a three-day power cut: it boots an hour behind its
    /// newest event, an order is made ready on that clock, and five
    /// minutes later NTP puts the clock three days on. The order must
    /// wait out its whole pickup window from when it really was ready,
    /// also across a restart, and no event may be stamped before an
    /// earlier one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_clock_step_does_not_expire_what_was_ready_minutes_ago() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t0 = 20_000 * DAY;
        let id = OrderId::new("o1").expect("id");
        // An earlier run, on a right clock.
        let clock = Manual::at(t0);
        let (store, h, t) = start(dir.path(), clock.clone());
        write(
            &h,
            &OrderId::new("old").expect("id"),
            vec![Event::OrderCreated(content())],
        )
        .await;
        let newest = store
            .event(store.head())
            .expect("read")
            .expect("event")
            .time_ms;
        h.close().await;
        t.join().expect("join").expect("writer");
        drop(store);

        // The power cut: the board comes back an hour behind that event.
        let clock = Manual::at(t0 - 3_600_000);
        let (store, h, t) = start(dir.path(), clock.clone());
        write(
            &h,
            &id,
            vec![Event::OrderCreated(content()), Event::OrderAccepted],
        )
        .await;
        let created = store
            .event(store.head())
            .expect("read")
            .expect("event")
            .time_ms;
        assert!(
            created > newest,
            "stamped {created}, before the log's {newest}"
        );
        write(
            &h,
            &id,
            vec![Event::ReadyForPickup {
                code: "K7Q2".into(),
                token: "t".into(),
            }],
        )
        .await;
        assert!(
            store.clock().behind_ms() > 0,
            "the node knows its clock is behind"
        );
        clock.advance(300_000);
        // NTP: three days on.
        clock.set_wall(t0 + 3 * DAY);
        let timers = timers_on(&store, &h);
        let mut cursor = Cursor::default();
        timers.fire_due(&mut cursor).await.expect("tick");
        let o = store.order(&id).expect("read").expect("order");
        assert_eq!(o.state, OrderState::Ready, "expired by the clock step");
        assert_eq!(store.clock().behind_ms(), 0);
        h.close().await;
        t.join().expect("join").expect("writer");
        drop((store, timers));

        // A restart keeps what the step means.
        clock.advance(60_000);
        let (store, h, t) = start(dir.path(), clock.clone());
        assert_eq!(store.clock().steps().len(), 1, "the step was written down");
        let timers = timers_on(&store, &h);
        let mut cursor = Cursor::default();
        timers.fire_due(&mut cursor).await.expect("tick");
        let o = store.order(&id).expect("read").expect("order");
        assert_eq!(o.state, OrderState::Ready, "expired after the restart");
        // The whole window, counted from when it really was ready: it
        // expires then and not before.
        clock.advance(EXPIRY - 360_000 - 1_000);
        timers.fire_due(&mut cursor).await.expect("tick");
        assert_eq!(
            store.order(&id).expect("read").expect("order").state,
            OrderState::Ready
        );
        clock.advance(2_000);
        timers.fire_due(&mut cursor).await.expect("tick");
        let o = store.order(&id).expect("read").expect("order");
        assert_eq!(o.state, OrderState::Expired);
        h.close().await;
        t.join().expect("join").expect("writer");
    }
}
