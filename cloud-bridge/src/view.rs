//! HQ's view of what the stores can promise and what became of HQ's
//! orders, for the HQ API (`GET /api/v1/stores/{store}/availability`,
//! `GET /api/v1/availability/{sku}`, command status).
//!
//! Built from the stores' own events: the instance that delivers a batch
//! (HQ has it: the webhook answered 2xx) reads its availability and order
//! outcomes, applies them and publishes them as a [`ViewUpdate`] on
//! `stores/{store}/view`, which every instance follows; so every instance
//! answers the same whichever of them a store's batches went to. Per SKU
//! and per order the higher log position wins: a repeat, or an older
//! update arriving late, changes nothing. The view lives in memory: an
//! instance started later learns it from the updates that follow, the
//! snapshot every store sends when its link returns, and
//! `request_availability`.
use std::collections::HashMap;
use std::sync::RwLock;

use protocol::sync::{AvailabilityFact, OrderOutcome, SnapshotOutcome, ViewUpdate};
use protocol::{Envelope, Event, StoreId};

/// Most order outcomes remembered per instance (the oldest go first).
const MAX_ORDERS: usize = 500_000;

/// Most stock snapshot outcomes remembered per instance.
const MAX_SNAPSHOTS: usize = 10_000;

/// (store, order id).
type OrderKey = (String, String);

/// Order outcomes, and their keys oldest first (to forget the oldest).
#[derive(Debug, Default)]
struct Outcomes {
    by_order: HashMap<OrderKey, OrderOutcome>,
    age: std::collections::VecDeque<OrderKey>,
}

/// What the stores applied of HQ's snapshots, by (store, log_seq), and
/// the keys oldest first.
#[derive(Debug, Default)]
struct Snapshots {
    by_seq: HashMap<(String, u64), SnapshotOutcome>,
    age: std::collections::VecDeque<(String, u64)>,
}

#[derive(Debug, Default)]
pub struct View {
    availability: RwLock<HashMap<String, HashMap<String, AvailabilityFact>>>,
    orders: RwLock<Outcomes>,
    snapshots: RwLock<Snapshots>,
}

/// What a run of a store's events tells the view.
pub fn update_of(store: &StoreId, events: &[Envelope]) -> ViewUpdate {
    let mut availability: Vec<AvailabilityFact> = Vec::new();
    let mut orders = Vec::new();
    let mut snapshots = Vec::new();
    for env in events {
        match &env.event {
            Event::StockSnapshotReconciled {
                as_of_ms,
                items,
                ignored,
            } => snapshots.push(SnapshotOutcome {
                log_seq: env.log_seq,
                as_of_ms: *as_of_ms,
                items: items.clone(),
                ignored: ignored.clone(),
            }),
            Event::AvailabilityChanged { items } | Event::AvailabilitySnapshot { items, .. } => {
                for a in items {
                    availability.push(AvailabilityFact {
                        sku: a.sku.clone(),
                        available: a.available,
                        on_hand: a.on_hand,
                        log_seq: env.log_seq,
                        time_ms: env.time_ms,
                    });
                }
            }
            Event::OrderAccepted => orders.push(outcome(env, "accepted")),
            Event::OrderRejected { reason } => {
                let mut o = outcome(env, "rejected");
                o.note = reason.clone();
                orders.push(o);
            }
            Event::OrderRejectedWithCode { code, skus, note } => {
                let mut o = outcome(env, "rejected");
                o.code = Some(*code);
                o.skus = skus.clone();
                o.note = note.clone();
                orders.push(o);
            }
            Event::OrderLinesRejected { lines, .. } => {
                let mut o = outcome(env, "lines_rejected");
                o.lines = lines.clone();
                o.skus = lines.iter().map(|l| l.sku.clone()).collect();
                orders.push(o);
            }
            _ => {}
        }
    }
    ViewUpdate {
        store_id: store.clone(),
        availability,
        orders,
        snapshots,
    }
}

/// Add the refused `lines` an outcome lacks (by line number): an order
/// the store accepted in part says `accepted` with the lines it refused,
/// whichever of its events HQ heard last.
fn merge_lines(o: &mut OrderOutcome, lines: &[protocol::RejectedLine]) {
    let mut added = false;
    for l in lines {
        if !o.lines.iter().any(|have| have.line_no == l.line_no) {
            o.lines.push(l.clone());
            added = true;
        }
    }
    if added {
        o.lines.sort_by_key(|l| l.line_no);
        if o.outcome != "rejected" {
            o.skus = o.lines.iter().map(|l| l.sku.clone()).collect();
            o.skus.dedup();
        }
    }
}

fn outcome(env: &Envelope, what: &str) -> OrderOutcome {
    OrderOutcome {
        order_id: env.order_id.clone(),
        log_seq: env.log_seq,
        outcome: what.to_string(),
        code: None,
        skus: vec![],
        lines: vec![],
        note: String::new(),
    }
}

impl View {
    /// Apply an update (again is harmless: the higher log position wins).
    pub fn apply(&self, u: &ViewUpdate) {
        if !u.availability.is_empty() {
            if let Ok(mut all) = self.availability.write() {
                let store = all.entry(u.store_id.to_string()).or_default();
                for a in &u.availability {
                    match store.get(&a.sku) {
                        Some(have) if have.log_seq >= a.log_seq => {}
                        _ => {
                            store.insert(a.sku.clone(), a.clone());
                        }
                    }
                }
            }
        }
        if !u.snapshots.is_empty() {
            if let Ok(mut g) = self.snapshots.write() {
                let Snapshots { by_seq: map, age } = &mut *g;
                for s in &u.snapshots {
                    let k = (u.store_id.to_string(), s.log_seq);
                    if map.insert(k.clone(), s.clone()).is_none() {
                        age.push_back(k);
                    }
                }
                while age.len() > MAX_SNAPSHOTS {
                    if let Some(old) = age.pop_front() {
                        map.remove(&old);
                    }
                }
            }
        }
        if !u.orders.is_empty() {
            if let Ok(mut g) = self.orders.write() {
                let Outcomes {
                    by_order: map,
                    age: order,
                } = &mut *g;
                for o in &u.orders {
                    let k = (u.store_id.to_string(), o.order_id.to_string());
                    match map.get_mut(&k) {
                        // Older or again: only its refused lines count
                        // (an order accepted in part keeps them).
                        Some(have) if have.log_seq >= o.log_seq => merge_lines(have, &o.lines),
                        Some(have) => {
                            let mut newer = o.clone();
                            merge_lines(&mut newer, &have.lines);
                            *have = newer;
                        }
                        None => {
                            order.push_back(k.clone());
                            map.insert(k, o.clone());
                        }
                    }
                }
                while order.len() > MAX_ORDERS {
                    if let Some(old) = order.pop_front() {
                        map.remove(&old);
                    }
                }
            }
        }
    }

    /// What a store applied of an HQ snapshot, by its event's position.
    pub fn snapshot(&self, store: &str, log_seq: u64) -> Option<SnapshotOutcome> {
        self.snapshots
            .read()
            .ok()?
            .by_seq
            .get(&(store.to_string(), log_seq))
            .cloned()
    }

    /// A store's availability, by SKU.
    pub fn store(&self, store: &str) -> Option<Vec<AvailabilityFact>> {
        let all = self.availability.read().ok()?;
        let mut items: Vec<AvailabilityFact> = all.get(store)?.values().cloned().collect();
        items.sort_by(|a, b| a.sku.cmp(&b.sku));
        Some(items)
    }

    /// One SKU across the fleet: (store, fact), stores in id order.
    pub fn sku(&self, sku: &str) -> Vec<(String, AvailabilityFact)> {
        let Ok(all) = self.availability.read() else {
            return vec![];
        };
        let mut out: Vec<(String, AvailabilityFact)> = all
            .iter()
            .filter_map(|(store, items)| items.get(sku).map(|a| (store.clone(), a.clone())))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// What became of an order.
    pub fn order(&self, store: &str, order_id: &str) -> Option<OrderOutcome> {
        self.orders
            .read()
            .ok()?
            .by_order
            .get(&(store.to_string(), order_id.to_string()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Actor, ChainHash, EventId, OrderId, RejectCode, RejectedLine};

    fn env(seq: u64, event: Event) -> Envelope {
        Envelope {
            event_id: EventId::from_bytes([seq as u8; 16]),
            causation_id: None,
            store_id: StoreId::new("s").expect("valid"),
            order_id: OrderId::new("o1").expect("valid"),
            order_seq: seq,
            log_seq: seq,
            time_ms: 1000 + seq,
            schema: 2,
            actor: Actor::Service("order".into()),
            event,
            prev_hash: ChainHash::default(),
        }
    }

    /// An order accepted in part: HQ sees `accepted` with the refused line
    /// however its two events reach the view (one update, two in order, two
    /// out of order, again).
    #[test]
    fn an_order_accepted_in_part_keeps_its_refused_lines() {
        let store = StoreId::new("s").expect("valid");
        let refused = Event::OrderLinesRejected {
            lines: vec![RejectedLine {
                line_no: 2,
                sku: "A-2".into(),
                quantity: 3,
                code: RejectCode::OutOfStock,
            }],
            reason: None,
            by: "order".into(),
        };
        let both = [env(5, refused), env(6, Event::OrderAccepted)];
        let runs: Vec<Vec<Vec<Envelope>>> = vec![
            vec![both.to_vec()],
            vec![vec![both[0].clone()], vec![both[1].clone()]],
            vec![vec![both[1].clone()], vec![both[0].clone()]],
            vec![both.to_vec(), both.to_vec()],
        ];
        for (i, run) in runs.into_iter().enumerate() {
            let view = View::default();
            for events in run {
                view.apply(&update_of(&store, &events));
            }
            let o = view.order("s", "o1").expect("known");
            assert_eq!(o.outcome, "accepted", "run {i}");
            assert_eq!(o.log_seq, 6, "run {i}");
            assert_eq!(o.lines.len(), 1, "run {i}: {o:?}");
            assert_eq!(o.skus, vec!["A-2".to_string()], "run {i}");
        }
    }
}
