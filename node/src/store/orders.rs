//! Orders: the projection's reads, and the in-memory indexes kept beside
//! it (by state, overdue, the pick queue, arrivals, pickup codes).
use protocol::{codec, Envelope, OrderId};

use super::keys::{content_key, order_key};
use super::{Store, StoreError};
use crate::domain::order::OrderStatus;
use crate::domain::{Order, OrderState, QueueKey};

/// The pick queue: orders waiting for a picker, in queue order. Built on
/// first use (it needs each waiting order's promise time, which is not in
/// the statuses read at open) and kept by the writer's state moves.
#[derive(Debug, Default)]
pub(super) struct Queue {
    pub(super) keys: std::collections::BTreeSet<QueueKey>,
    by_id: std::collections::HashMap<OrderId, QueueKey>,
}

impl Queue {
    fn set(&mut self, id: &OrderId, key: Option<QueueKey>) {
        if let Some(old) = self.by_id.remove(id) {
            self.keys.remove(&old);
        }
        if let Some(k) = key {
            self.by_id.insert(id.clone(), k.clone());
            self.keys.insert(k);
        }
    }
}

/// A durable change of an order's state (for the in-memory indexes).
#[derive(Debug, Clone)]
pub(crate) struct StateMove {
    pub id: OrderId,
    pub before: Option<OrderState>,
    pub after: OrderState,
    /// The pickup code, for orders entering or leaving `Ready`.
    pub code: Option<String>,
    /// Whether the order is now past its promise time and not yet ready.
    pub overdue: bool,
    /// Its place in the pick queue, if it waits for a picker.
    pub queue: Option<QueueKey>,
    /// Since when its customer waits, if checked in and the order is open.
    pub waiting_since: Option<u64>,
}

impl Store {
    /// The order projection: its status record joined with its content.
    pub fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let corrupt = |what: &str, e: protocol::DecodeError| StoreError::Corrupt {
            key: format!("order {id} {what}"),
            reason: e.to_string(),
        };
        let Some(status) = self.tree.get(order_key(id))? else {
            return Ok(None);
        };
        let status: OrderStatus = codec::decode(&status).map_err(|e| corrupt("status", e))?;
        let content = self
            .tree
            .get(content_key(id))?
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("order {id} content"),
                reason: "missing".into(),
            })?;
        let content = codec::decode(&content).map_err(|e| corrupt("content", e))?;
        Ok(Some(Order { status, content }))
    }

    /// The order's events in `order_seq` order.
    pub fn order_events(&self, id: &OrderId) -> Result<Vec<Envelope>, StoreError> {
        let Some(status) = self.tree.get(order_key(id))? else {
            return Ok(vec![]);
        };
        let status: OrderStatus = codec::decode(&status).map_err(|e| StoreError::Corrupt {
            key: format!("order {id} status"),
            reason: e.to_string(),
        })?;
        let mut out = Vec::with_capacity(status.log_seqs.len());
        for seq in status.log_seqs {
            match self.event(seq)? {
                Some(env) => out.push(env),
                None => {
                    return Err(StoreError::Corrupt {
                        key: format!("order {id} timeline"),
                        reason: format!("log {seq} is missing"),
                    })
                }
            }
        }
        Ok(out)
    }

    /// Orders in `state` with ids after `after` (a paging cursor), in id
    /// order, at most `limit`.
    pub fn orders_in_state(
        &self,
        state: OrderState,
        after: Option<&OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        use std::ops::Bound;
        let mut out = Vec::with_capacity(limit.min(1024));
        let mut cursor = after.cloned();
        while out.len() < limit {
            let ids: Vec<OrderId> = {
                let states = self.states.read().map_err(|_| StoreError::Closed)?;
                let start = match &cursor {
                    Some(a) => Bound::Excluded((state, a.clone())),
                    // "-" is the smallest valid order id.
                    None => match OrderId::new("-") {
                        Ok(min) => Bound::Included((state, min)),
                        Err(_) => Bound::Unbounded,
                    },
                };
                states
                    .range((start, Bound::Unbounded))
                    .take_while(|(s, _)| *s == state)
                    .take(limit - out.len())
                    .map(|(_, id)| id.clone())
                    .collect()
            };
            let Some(last) = ids.last().cloned() else {
                break;
            };
            for id in ids {
                // The status may already be past `state` (its group is
                // being flushed): list only what is in the state asked
                // for, and keep reading so a page is not cut short.
                match self.order(&id)? {
                    Some(o) if o.state == state => out.push(o),
                    _ => {}
                }
            }
            cursor = Some(last);
        }
        Ok(out)
    }

    /// Every order in `state`, in id order (for the small, open states:
    /// picking, picked, staged).
    pub fn all_in_state(&self, state: OrderState) -> Result<Vec<Order>, StoreError> {
        let mut out = Vec::new();
        loop {
            let page = self.orders_in_state(state, out.last().map(|o: &Order| &o.id), 500)?;
            let full = page.len() == 500;
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
    }

    /// Count of orders per state.
    pub fn state_counts(&self) -> Vec<(OrderState, usize)> {
        let states = match self.states.read() {
            Ok(s) => s,
            Err(_) => return vec![],
        };
        let mut counts: Vec<(OrderState, usize)> =
            OrderState::ALL.into_iter().map(|st| (st, 0)).collect();
        for (st, _) in states.iter() {
            if let Some(c) = counts.iter_mut().find(|(s, _)| s == st) {
                c.1 += 1;
            }
        }
        counts
    }

    /// Record durable state changes in the by-state index (and the
    /// pickup-code index: codes of orders ready for pickup).
    pub(crate) fn move_states(&self, moves: &[StateMove]) {
        if let Ok(mut states) = self.states.write() {
            for m in moves {
                if let Some(b) = m.before {
                    states.remove(&(b, m.id.clone()));
                }
                states.insert((m.after, m.id.clone()));
            }
        }
        if let Ok(mut overdue) = self.overdue.write() {
            for m in moves {
                if m.overdue {
                    overdue.insert(m.id.clone());
                } else {
                    overdue.remove(&m.id);
                }
            }
        }
        if let Ok(mut queue) = self.queue.write() {
            if let Some(q) = queue.as_mut() {
                for m in moves {
                    q.set(&m.id, m.queue.clone());
                }
            }
        }
        if let Ok(mut arrivals) = self.arrivals.write() {
            for m in moves {
                match m.waiting_since {
                    Some(at) => arrivals.insert(m.id.clone(), at),
                    None => arrivals.remove(&m.id),
                };
            }
        }
        if let Ok(mut stock) = self.stock.write() {
            for m in moves {
                // Codes are matched case-insensitively (HQ may issue
                // lower case); an entry is removed only by its own order.
                if let Some(code) = &m.code {
                    let code = code.to_ascii_uppercase();
                    if m.after == OrderState::Ready {
                        stock.codes.insert(code, m.id.clone());
                    } else if m.before == Some(OrderState::Ready)
                        && stock.codes.get(&code) == Some(&m.id)
                    {
                        stock.codes.remove(&code);
                    }
                }
            }
        }
    }

    /// Orders waiting for a picker, in queue order (late first, then by
    /// promise time): at most `limit` after `after`, and how many wait in
    /// all. The first call builds the queue from the orders in `prepared`.
    pub fn pick_queue(
        &self,
        after: Option<&QueueKey>,
        limit: usize,
    ) -> Result<(Vec<Order>, usize), StoreError> {
        use std::ops::Bound;
        self.build_queue()?;
        let (keys, total) = {
            let queue = self.queue.read().map_err(|_| StoreError::Closed)?;
            let Some(q) = queue.as_ref() else {
                return Ok((vec![], 0));
            };
            let start = match after {
                Some(a) => Bound::Excluded(a.clone()),
                None => Bound::Unbounded,
            };
            // Read a few more than asked: an order may have moved on
            // while its group is being flushed.
            let keys: Vec<QueueKey> = q
                .keys
                .range((start, Bound::Unbounded))
                .take(limit + 8)
                .cloned()
                .collect();
            (keys, q.keys.len())
        };
        let mut out = Vec::with_capacity(limit.min(keys.len()));
        for k in keys {
            if out.len() == limit {
                break;
            }
            if let Some(o) = self.order(&k.id)? {
                if o.state == OrderState::Prepared {
                    out.push(o);
                }
            }
        }
        Ok((out, total))
    }

    fn build_queue(&self) -> Result<(), StoreError> {
        if self.queue.read().map_err(|_| StoreError::Closed)?.is_some() {
            return Ok(());
        }
        // Holding the write lock while reading keeps the writer's moves
        // from racing the build: they wait, then apply on top of it.
        let mut queue = self.queue.write().map_err(|_| StoreError::Closed)?;
        if queue.is_some() {
            return Ok(());
        }
        let ids: Vec<OrderId> = {
            let states = self.states.read().map_err(|_| StoreError::Closed)?;
            states
                .iter()
                .filter(|(s, _)| *s == OrderState::Prepared)
                .map(|(_, id)| id.clone())
                .collect()
        };
        let mut q = Queue::default();
        for id in ids {
            if let Some(o) = self.order(&id)? {
                q.set(&id, QueueKey::of(&o));
            }
        }
        *queue = Some(q);
        Ok(())
    }

    /// Customers waiting for an open order (checked in), longest waiting
    /// first: (order, since when).
    pub fn arrivals(&self) -> Vec<(OrderId, u64)> {
        let mut out: Vec<(OrderId, u64)> = self
            .arrivals
            .read()
            .map(|a| a.iter().map(|(id, at)| (id.clone(), *at)).collect())
            .unwrap_or_default();
        out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        out
    }

    /// Open orders past their promise time and not yet ready, by id.
    pub fn overdue_orders(&self) -> Vec<OrderId> {
        self.overdue
            .read()
            .map(|o| o.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Orders taken on and not yet closed.
    pub fn open_orders(&self) -> usize {
        self.states
            .read()
            .map(|s| {
                s.iter()
                    .filter(|(st, _)| !st.is_closed() && *st != OrderState::Created)
                    .count()
            })
            .unwrap_or(0)
    }

    /// The order ready for pickup under a short code (case-insensitive).
    pub fn order_by_code(&self, code: &str) -> Option<OrderId> {
        let code = code.trim().to_ascii_uppercase();
        self.stock.read().ok()?.codes.get(&code).cloned()
    }
}
