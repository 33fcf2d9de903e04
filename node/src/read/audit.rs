//! The audit log: every event, newest first, filtered by order, staff
//! member, kind and time, in pages.
use protocol::{Actor, Envelope, Event, EventKind, OrderId};
use serde::Serialize;

use crate::store::{Store, StoreError};

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub order: Option<OrderId>,
    /// Events caused by this staff member (as the actor).
    pub staff: Option<String>,
    pub kind: Option<EventKind>,
    /// Unix ms, inclusive / exclusive.
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    /// Paging: only events before this log position.
    pub before: Option<u64>,
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub entries: Vec<Envelope>,
    /// The cursor for the next (older) page, if there may be one.
    pub next_before: Option<u64>,
}

/// Most log entries one page reads looking for matches: a filter that
/// matches little pages through the log in steps of this size.
pub const SCAN_BUDGET: usize = 20_000;

/// The event with secrets blanked: PIN hashes are kept in the log (the
/// log is the truth) but never shown.
pub fn redacted(mut env: Envelope) -> Envelope {
    match &mut env.event {
        Event::StaffAdded { pin_hash, .. } | Event::StaffPinReset { pin_hash, .. } => {
            *pin_hash = "(hidden)".into();
        }
        _ => {}
    }
    env
}

fn matches(f: &AuditFilter, e: &Envelope) -> bool {
    f.order.as_ref().is_none_or(|o| *o == e.order_id)
        && f.staff
            .as_ref()
            .is_none_or(|s| matches!(&e.actor, Actor::Staff(a) if a == s))
        && f.kind.is_none_or(|k| e.event.kind() == k)
        && f.from_ms.is_none_or(|t| e.time_ms >= t)
        && f.to_ms.is_none_or(|t| e.time_ms < t)
}

/// One page of the audit log.
pub fn page(store: &Store, f: &AuditFilter) -> Result<AuditPage, StoreError> {
    let limit = f.limit.clamp(1, 500);
    // One order: its own timeline, no scan.
    if let Some(id) = &f.order {
        if !id.is_reserved() {
            let mut all: Vec<Envelope> = store
                .order_events(id)?
                .into_iter()
                .filter(|e| f.before.is_none_or(|b| e.log_seq < b) && matches(f, e))
                .collect();
            all.reverse();
            let more = all.len() > limit;
            all.truncate(limit);
            let next_before = if more {
                all.last().map(|e| e.log_seq)
            } else {
                None
            };
            return Ok(AuditPage {
                entries: all.into_iter().map(redacted).collect(),
                next_before,
            });
        }
    }
    let mut before = f.before.unwrap_or(store.head() + 1).min(store.head() + 1);
    if let Some(to) = f.to_ms {
        before = before.min(store.first_seq_at(to)?);
    }
    let mut entries = Vec::new();
    let mut scanned = 0;
    while entries.len() < limit && before > 1 && scanned < SCAN_BUDGET {
        let batch = store.events_before(before, 1_000.min(SCAN_BUDGET - scanned))?;
        if batch.is_empty() {
            break;
        }
        for e in batch {
            scanned += 1;
            before = e.log_seq;
            if f.from_ms.is_some_and(|t| e.time_ms < t) {
                return Ok(AuditPage {
                    entries,
                    next_before: None,
                });
            }
            if matches(f, &e) {
                entries.push(redacted(e));
                if entries.len() == limit {
                    break;
                }
            }
        }
    }
    let next_before = (before > 1).then_some(before);
    Ok(AuditPage {
        entries,
        next_before,
    })
}
