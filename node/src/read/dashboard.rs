//! What the store manager looks at: what is late and why, today's orders
//! and exceptions, who is picking what, empty shelves.
use std::sync::Mutex;

use protocol::{Event, OrderId, ShortReason};
use serde::Serialize;

use crate::domain::{Order, OrderState, Site, StockItem};
use crate::store::{Store, StoreError};

/// Why a late order is not ready yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LateWhy {
    /// Not yet checked by the order service.
    AwaitingAcceptance,
    /// Accepted, the cloud has not confirmed the payment.
    AwaitingPayment,
    /// On the pick queue, nobody has taken it.
    WaitingForPick,
    /// A picker has it.
    BeingPicked { by: String },
    /// Picked, not yet on a staging slot.
    PickedNotStaged,
}

#[derive(Debug, Clone, Serialize)]
pub struct LateOrder {
    pub order: Order,
    pub why: LateWhy,
    /// Since when it has been in that situation (unix ms).
    pub since_ms: u64,
}

/// A picker and the orders they hold, with when each was started.
#[derive(Debug, Clone, Serialize)]
pub struct PickerLoad {
    pub staff_id: String,
    pub orders: Vec<(Order, u64)>,
}

/// A short pick or a substitution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exception {
    pub time_ms: u64,
    pub order_id: OrderId,
    pub line_no: u32,
    pub by: String,
    pub kind: ExceptionKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    Short {
        sku: String,
        wanted: u32,
        found: u32,
        reason: Option<ShortReason>,
    },
    Substitute {
        sku: String,
        with_sku: String,
        quantity: u32,
    },
}

/// Today (since the store's local midnight), read from the log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Today {
    pub day_start_ms: u64,
    /// The log has been read up to here.
    pub read_to: u64,
    /// Orders created today.
    pub created: Vec<OrderId>,
    pub handed_over: usize,
    pub exceptions: Vec<Exception>,
}

/// Most events one refresh reads (bounded work per page load).
const MAX_READ: usize = 200_000;
/// Most exceptions kept for the page.
const MAX_EXCEPTIONS: usize = 500;

/// Today's figures, kept between page loads: each load reads only the
/// events appended since the last.
#[derive(Default)]
pub struct TodayCache(Mutex<Option<Today>>);

impl TodayCache {
    pub fn get(&self, store: &Store, day_start_ms: u64) -> Result<Today, StoreError> {
        let mut cache = self.0.lock().map_err(|_| StoreError::Closed)?;
        let mut today = match cache.take() {
            Some(t) if t.day_start_ms == day_start_ms => t,
            _ => Today {
                day_start_ms,
                read_to: store.first_seq_at(day_start_ms)?.saturating_sub(1),
                ..Today::default()
            },
        };
        let head = store.head();
        let mut read = 0;
        while today.read_to < head && read < MAX_READ {
            let batch = store.events_from(today.read_to + 1, 2_000.min(MAX_READ - read))?;
            if batch.is_empty() {
                break;
            }
            read += batch.len();
            for env in batch {
                today.read_to = env.log_seq;
                if env.time_ms < day_start_ms {
                    continue;
                }
                match &env.event {
                    Event::OrderCreated(_) => today.created.push(env.order_id.clone()),
                    Event::OrderFulfilled { .. } => today.handed_over += 1,
                    Event::ItemShorted { line_no, found, by }
                    | Event::ItemShortedWithReason {
                        line_no, found, by, ..
                    } => {
                        let reason = match &env.event {
                            Event::ItemShortedWithReason { reason, .. } => Some(*reason),
                            _ => None,
                        };
                        let line = line_of(store, &env.order_id, *line_no)?;
                        today.exceptions.push(Exception {
                            time_ms: env.time_ms,
                            order_id: env.order_id.clone(),
                            line_no: *line_no,
                            by: by.clone(),
                            kind: ExceptionKind::Short {
                                sku: line.0,
                                wanted: line.1,
                                found: *found,
                                reason,
                            },
                        });
                    }
                    Event::ItemSubstituted {
                        line_no,
                        sku,
                        quantity,
                        by,
                        ..
                    } => {
                        let line = line_of(store, &env.order_id, *line_no)?;
                        today.exceptions.push(Exception {
                            time_ms: env.time_ms,
                            order_id: env.order_id.clone(),
                            line_no: *line_no,
                            by: by.clone(),
                            kind: ExceptionKind::Substitute {
                                sku: line.0,
                                with_sku: sku.clone(),
                                quantity: *quantity,
                            },
                        });
                    }
                    _ => {}
                }
            }
            if today.exceptions.len() > MAX_EXCEPTIONS {
                let cut = today.exceptions.len() - MAX_EXCEPTIONS;
                today.exceptions.drain(..cut);
            }
        }
        *cache = Some(today.clone());
        Ok(today)
    }
}

/// (SKU, quantity) of an order's line.
fn line_of(store: &Store, id: &OrderId, line_no: u32) -> Result<(String, u32), StoreError> {
    Ok(store
        .order(id)?
        .and_then(|o| o.line(line_no).map(|(l, _)| (l.sku.clone(), l.quantity)))
        .unwrap_or_default())
}

/// The manager's page, as data.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub site: Site,
    pub late: Vec<LateOrder>,
    /// Ready, reminded, still not collected: about to expire.
    pub uncollected: Vec<Order>,
    pub pickers: Vec<PickerLoad>,
    pub out_of_stock: Vec<StockItem>,
    /// Open count tasks, oldest first.
    pub count_tasks: Vec<crate::domain::stock::CountTask>,
    /// Orders waiting for a picker that hold more of an SKU than the node
    /// believes is on the shelf: a picker may find it empty.
    pub at_risk: Vec<Order>,
    /// Listed nowhere but sold at the till: SKUs the catalog lacks.
    pub unlisted: Vec<StockItem>,
    /// Orders in each state now (all of them).
    pub states: Vec<(OrderState, usize)>,
    /// Today's orders by the state they are in now.
    pub today_states: Vec<(OrderState, usize)>,
    pub today: Today,
}

/// When the order entered its present situation: the time of its last
/// event of `kind` (or its last change).
fn since(store: &Store, o: &Order, kind: protocol::EventKind) -> Result<u64, StoreError> {
    for seq in o.log_seqs.iter().rev() {
        if let Some(env) = store.event(*seq)? {
            if env.event.kind() == kind {
                return Ok(env.time_ms);
            }
        }
    }
    Ok(o.updated_ms)
}

/// Late orders, with why and since when.
pub fn late(store: &Store) -> Result<Vec<LateOrder>, StoreError> {
    use protocol::EventKind as K;
    let mut out = Vec::new();
    for id in store.overdue_orders() {
        let Some(o) = store.order(&id)? else {
            continue;
        };
        if !o.overdue() {
            continue;
        }
        let (why, since_ms) = match o.state {
            OrderState::Created => (LateWhy::AwaitingAcceptance, o.created_ms),
            OrderState::Accepted | OrderState::Processed => (
                LateWhy::AwaitingPayment,
                since(store, &o, K::OrderAccepted)?,
            ),
            OrderState::Prepared => (
                LateWhy::WaitingForPick,
                since(store, &o, K::ShipmentPrepared)?,
            ),
            OrderState::Picking => (
                LateWhy::BeingPicked {
                    by: o.picker.clone().unwrap_or_default(),
                },
                since(store, &o, K::PickStarted)?,
            ),
            _ => (
                LateWhy::PickedNotStaged,
                since(store, &o, K::ShipmentProcessed)?,
            ),
        };
        out.push(LateOrder {
            order: o,
            why,
            since_ms,
        });
    }
    out.sort_by_key(|l| l.order.content.due_at_ms.unwrap_or(u64::MAX));
    Ok(out)
}

/// Everything on the manager's page. `day_start_ms` is the store's local
/// midnight.
pub fn dashboard(
    store: &Store,
    cache: &TodayCache,
    day_start_ms: u64,
) -> Result<Dashboard, StoreError> {
    let today = cache.get(store, day_start_ms)?;
    let mut pickers: Vec<PickerLoad> = Vec::new();
    for o in store.all_in_state(OrderState::Picking)? {
        let started = since(store, &o, protocol::EventKind::PickStarted)?;
        let who = o.picker.clone().unwrap_or_default();
        match pickers.iter_mut().find(|p| p.staff_id == who) {
            Some(p) => p.orders.push((o, started)),
            None => pickers.push(PickerLoad {
                staff_id: who,
                orders: vec![(o, started)],
            }),
        }
    }
    pickers.sort_by(|a, b| a.staff_id.cmp(&b.staff_id));
    let uncollected = store
        .orders_in_state(OrderState::Ready, None, 5_000)?
        .into_iter()
        .filter(|o| o.reminded)
        .collect();
    let mut today_states: Vec<(OrderState, usize)> =
        OrderState::ALL.into_iter().map(|s| (s, 0)).collect();
    for id in today.created.iter().take(20_000) {
        if let Some(o) = store.order(id)? {
            if let Some(c) = today_states.iter_mut().find(|(s, _)| *s == o.state) {
                c.1 += 1;
            }
        }
    }
    let at_risk = store
        .all_in_state(OrderState::Prepared)?
        .into_iter()
        .filter(|o| crate::read::queue::at_risk(store, o))
        .take(200)
        .collect();
    Ok(Dashboard {
        site: store.site(),
        late: late(store)?,
        uncollected,
        pickers,
        out_of_stock: out_of_stock(store),
        count_tasks: store
            .count_tasks()?
            .into_iter()
            .filter(|t| t.state.is_open())
            .collect(),
        at_risk,
        unlisted: store
            .stock_items()
            .into_iter()
            .filter(|i| !i.listed)
            .collect(),
        states: store.state_counts(),
        today_states,
        today,
    })
}

/// Listed SKUs with nothing available to promise.
pub fn out_of_stock(store: &Store) -> Vec<StockItem> {
    store
        .stock_items()
        .into_iter()
        .filter(|i| i.listed && i.available() <= 0)
        .collect()
}
