//! Availability up to HQ: what the store can promise of each SKU, as
//! events in the log (so they reach HQ over the sync link with the
//! guarantees of every other event: durable, in order, acknowledged).
//!
//! Coalesced: every `stock.availability_window_ms` the service asks which
//! listed SKUs' availability differs from what HQ last heard (kept on each
//! SKU, `published`) and appends one `availability_changed` with their
//! current values — a busy till moves an SKU many times a second, HQ hears
//! it once a window. While the link is down nothing is appended: the
//! changes of the whole outage reach HQ as one event per SKU's latest
//! value in the first window after the link returns. A full
//! `availability_snapshot` follows a reconnect of the link (at most once
//! per `SNAPSHOT_EVERY`) and every HQ request.
use std::sync::Arc;
use std::time::Duration;

use protocol::{Actor, OrderId};

use super::SyncStatus;
use crate::domain;
use crate::services::ServiceError;
use crate::shutdown::Shutdown;
use crate::store::{Dedup, Store, WriteRequest, WriterHandle, Written};

pub const NAME: &str = "availability";

/// A reconnect sends a full snapshot at most this often (a flapping link
/// would otherwise write the catalog into the log again and again).
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(600);

/// The write that appends what changed among `candidates`.
pub fn changes(candidates: Vec<String>) -> WriteRequest {
    WriteRequest {
        order_id: OrderId::store_stream(),
        actor: Actor::Service(NAME.into()),
        causation: None,
        dedup: Dedup::None,
        decide: Box::new(move |c| domain::stock::decide_availability(c, &candidates)),
    }
}

/// The write that appends a full snapshot.
pub fn snapshot() -> WriteRequest {
    WriteRequest {
        order_id: OrderId::store_stream(),
        actor: Actor::Service(NAME.into()),
        causation: None,
        dedup: Dedup::None,
        decide: Box::new(domain::stock::decide_availability_snapshot),
    }
}

/// Append what changed, every `window` while the link is up, until
/// shutdown.
pub async fn run(
    store: Store,
    writer: WriterHandle,
    window: Duration,
    link: Arc<SyncStatus>,
    mut shutdown: Shutdown,
) -> Result<(), ServiceError> {
    let mut tick = tokio::time::interval(window);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.fired() => return Ok(()),
            _ = tick.tick() => {}
        }
        // Offline, a value per window would only lengthen the backlog
        // with figures HQ no longer needs: the latest goes when it returns.
        if !link.online() {
            continue;
        }
        let candidates = store.unpublished();
        if candidates.is_empty() {
            continue;
        }
        match writer.write(changes(candidates)).await {
            Ok(Written::Applied { log_seqs, .. }) => {
                tracing::debug!(events = log_seqs.len(), "availability changes appended");
            }
            Ok(other) => tracing::warn!(?other, "availability changes not appended"),
            // A full disk refuses it like any write; the next window tries
            // again.
            Err(e) => tracing::warn!(error = %e, "availability changes not appended"),
        }
    }
}
