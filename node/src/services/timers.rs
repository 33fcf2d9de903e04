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
use std::time::Duration;

use protocol::Actor;

use super::ServiceError;
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
        let now = crate::store::now_ms();
        // The store's own pickup window if a manager set one, else the
        // configuration's.
        let default = PickupTimes {
            expiry_s: self.expiry_ms / 1000,
            reminder_s: self.remind_ms / 1000,
        };
        let pay = self.payment_timeout_ms;
        let due_now = move |o: &domain::Order, now: u64, site: &domain::Site| {
            let times = site.pickup_times(default);
            let mut events = domain::order::on_clock(o, now);
            events.extend(domain::order::payment_overdue(o, now, pay));
            events.extend(domain::pickup::on_clock(
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
