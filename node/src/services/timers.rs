//! Timers: late orders, pickup reminders and expiry.
//!
//! Driven from durable state, not from sleeps: every tick the service looks
//! at the open orders (the in-memory by-state index) and asks the domain
//! what is due at this moment. A decision that is due is written like any
//! other; the events themselves (OrderLate, PickupReminded, PickupExpired)
//! mark it done, so a restart, however long, fires what fell due while the
//! node was down, once.
use std::time::Duration;

use protocol::Actor;

use super::ServiceError;
use crate::domain::{self, OrderState};
use crate::shutdown::Shutdown;
use crate::store::{Dedup, Store, WriteRequest, WriterHandle};

pub const NAME: &str = "timers";
const TICK: Duration = Duration::from_secs(1);
/// Orders read per page while looking at every open order.
const PAGE: usize = 500;

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
        loop {
            tokio::select! {
                _ = shutdown.fired() => return Ok(()),
                _ = tick.tick() => self.fire_due().await?,
            }
        }
    }

    /// Write every decision that is due now.
    async fn fire_due(&self) -> Result<(), ServiceError> {
        let now = crate::store::now_ms();
        let (expiry, remind, pay) = (self.expiry_ms, self.remind_ms, self.payment_timeout_ms);
        let due_now = move |o: &domain::Order, now: u64| {
            let mut events = domain::order::on_clock(o, now);
            events.extend(domain::order::payment_overdue(o, now, pay));
            events.extend(domain::pickup::on_clock(o, now, expiry, remind));
            events
        };
        let mut due = Vec::new();
        for state in OrderState::ALL.into_iter().filter(|s| !s.is_closed()) {
            let mut after = None;
            loop {
                let page = self.store.orders_in_state(state, after.as_ref(), PAGE)?;
                after = page.last().map(|o| o.id.clone());
                let full = page.len() == PAGE;
                due.extend(page.into_iter().filter(|o| !due_now(o, now).is_empty()));
                if !full {
                    break;
                }
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
                decide: Box::new(move |c| Ok(c.order.map_or(vec![], |o| due_now(o, c.now_ms)))),
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
