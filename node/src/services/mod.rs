//! The node's services: each its own supervised task, talking only through
//! the broker, keeping a durable checkpoint in the store.
//!
//! - `order` (intake rules): OrderCreated → OrderAccepted (stock reserved)
//!   or OrderRejected; OrderProcessed unless payment is pending
//! - `fulfillment`: OrderProcessed → ShipmentPrepared (the pick task)
//! - `notification`: every event → JSON notices on device topics; those a
//!   device must act on go through `deliveries`
//! - `deliveries`: sends those until their device acknowledges them
//! - `timers`: late orders, pickup reminders and expiry, from durable state
//! - `intake`: device and cloud commands in, replies out after the flush;
//!   also the guard that dead-letters forged events
//!
//! Staff and device actions (picking, staging, check-in, hand-over,
//! cancellation, stock) arrive through the HTTP API and the command topics
//! as commands decided by `domain::*` (see `commands`).
pub mod commands;
pub mod consumer;
pub mod deliveries;
pub mod devices;
pub mod intake;
pub mod staff;
pub mod timers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use protocol::{codec, topic, Envelope, Event};

use crate::store::Store;

use crate::domain;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::{writer::Decide, StoreError};

pub use consumer::{Reaction, Reactor};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("broker link failed: {0}")]
    Link(String),
}

/// Run a service, restarting it (with a growing pause) if it panics or
/// fails, until shutdown. Other services keep going meanwhile.
pub async fn supervise<F, Fut>(
    name: &'static str,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
    mut start: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ServiceError>> + Send + 'static,
{
    let mut pause = Duration::from_millis(100);
    loop {
        metrics.service_up(name, true);
        let outcome = tokio::spawn(start()).await;
        if shutdown.is_fired() {
            return;
        }
        match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => tracing::error!(service = name, error = %e, "service failed; restarting"),
            Err(e) if e.is_panic() => {
                tracing::error!(service = name, "service panicked; restarting")
            }
            Err(e) => tracing::error!(service = name, error = %e, "service task ended; restarting"),
        }
        metrics.service_up(name, false);
        metrics.restart(name);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// The order service: accepts (reserving stock) or rejects new orders and
/// settles payment.
pub struct OrderService {
    pub keys: Arc<domain::pickup::PickupKeys>,
    pub policy: domain::order::Policy,
}

impl Reactor for OrderService {
    fn name(&self) -> &'static str {
        "order"
    }
    fn react(&self, env: &Envelope) -> Reaction {
        match env.event {
            Event::OrderCreated(_) => {
                let (keys, policy) = (self.keys.clone(), self.policy);
                Reaction::Write(Box::new(move |c: &domain::Ctx| {
                    domain::order::on_created(c, &keys, policy)
                }) as Decide)
            }
            _ => Reaction::None,
        }
    }
}

/// The fulfillment service: turns processed orders into pick tasks.
pub struct FulfillmentService;

impl Reactor for FulfillmentService {
    fn name(&self) -> &'static str {
        "fulfillment"
    }
    fn react(&self, env: &Envelope) -> Reaction {
        match env.event {
            Event::OrderProcessed { .. } => {
                Reaction::Write(Box::new(domain::fulfillment::on_processed) as Decide)
            }
            _ => Reaction::None,
        }
    }
}

/// The notification service: tells each device what its kind hears, in
/// its own namespace (nothing to devices that do not need it: pickup codes
/// go only to the gateway, a locker's `open` only to that locker). Hints
/// (`orders`, `stock`, door reports) are published once; what a device must
/// act on is queued with `deliveries`, which sends it until acknowledged.
pub struct NotificationService {
    pub store: Store,
    pub deliveries: deliveries::Deliveries,
}

impl Reactor for NotificationService {
    fn name(&self) -> &'static str {
        "notification"
    }
    fn react(&self, env: &Envelope) -> Reaction {
        let (mut hints, mut acts) = (Vec::new(), Vec::new());
        for n in domain::notification::notices(env) {
            let json = codec::to_json(&n);
            for tenant in self
                .store
                .tenants_hearing(n.channel, n.compartment.as_deref())
            {
                match &n.notice_id {
                    Some(id) => acts.push(deliveries::Outgoing {
                        tenant,
                        channel: n.channel,
                        notice_id: id.clone(),
                        payload: json.clone(),
                    }),
                    None => hints.push((
                        topic::tenant_notify(&tenant, n.channel.name()),
                        json.clone(),
                    )),
                }
            }
        }
        self.deliveries.queue(env, acts);
        Reaction::Publish(hints)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_panicking_service_is_restarted_and_counted() {
        let metrics = Arc::new(Metrics::new());
        let (_trigger, shutdown) = crate::shutdown::channel();
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let supervised = supervise("flaky", metrics.clone(), shutdown, move || {
            let n = r.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => panic!("boom"),
                    1 => Err(ServiceError::Link("lost".into())),
                    _ => Ok(()),
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(5), supervised)
            .await
            .expect("finished");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert!(metrics
            .render()
            .contains("storenode_service_restarts_total{service=\"flaky\"} 2"));
    }
}
