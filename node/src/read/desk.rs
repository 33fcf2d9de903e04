//! The pickup desk: find an order by pickup code, scanned QR token, order
//! id or customer name; say whether it is ready; list who is waiting.
use protocol::OrderId;
use serde::Serialize;

use crate::domain::pickup::PickupKeys;
use crate::domain::{Order, OrderState};
use crate::store::{Store, StoreError};

/// How the desk's search found what it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FoundBy {
    /// A scanned QR token whose signature checked out: it is the proof.
    Token,
    /// The short pickup code of a ready order: it is the proof.
    Code,
    /// The order id.
    OrderId,
    /// Part of the customer's name or of the order id.
    Text,
}

/// The answer to one search at the desk.
#[derive(Debug, Clone, Serialize)]
pub struct DeskSearch {
    pub query: String,
    pub found_by: Option<FoundBy>,
    /// The code or token that proves the customer's claim, when the search
    /// itself was one: the hand-over may use it.
    #[serde(skip)]
    pub proof: Option<String>,
    pub orders: Vec<Order>,
    /// Why a scanned token was refused (another store's, forged…).
    pub problem: Option<String>,
}

/// Most orders a text search lists, and looks at.
pub const MAX_HITS: usize = 20;
const MAX_LOOKED_AT: usize = 20_000;

/// Search the way the desk does: a QR token, else a ready order's code,
/// else an order id, else text.
pub fn search(store: &Store, keys: &PickupKeys, q: &str) -> Result<DeskSearch, StoreError> {
    let query = q.trim().to_string();
    let mut out = DeskSearch {
        query: query.clone(),
        found_by: None,
        proof: None,
        orders: vec![],
        problem: None,
    };
    if query.is_empty() {
        return Ok(out);
    }
    if protocol::pickup::is_token(&query) {
        let checked = protocol::pickup::peek(&query)
            .map_err(|e| e.to_string())
            .and_then(|claim| {
                keys.check(&query, &claim.order_id)
                    .map(|_| claim.order_id)
                    .map_err(|e| e.to_string())
            });
        match checked {
            Ok(id) => {
                if let Some(o) = store.order(&id)? {
                    out.found_by = Some(FoundBy::Token);
                    out.proof = Some(query);
                    out.orders.push(o);
                }
            }
            Err(e) => out.problem = Some(e),
        }
        return Ok(out);
    }
    if let Some(id) = store.order_by_code(&query) {
        if let Some(o) = store.order(&id)? {
            out.found_by = Some(FoundBy::Code);
            out.proof = Some(query);
            out.orders.push(o);
            return Ok(out);
        }
    }
    if let Ok(id) = OrderId::new(query.as_str()) {
        if let Some(o) = store.order(&id)? {
            out.found_by = Some(FoundBy::OrderId);
            out.orders.push(o);
            return Ok(out);
        }
    }
    out.orders = text_search(store, &query, None, MAX_HITS)?;
    if !out.orders.is_empty() {
        out.found_by = Some(FoundBy::Text);
    }
    Ok(out)
}

/// Orders whose customer name or id contains `text` (any letter case):
/// ready ones first, then the other open ones, then closed ones; at most
/// `limit`, looking at no more than 20,000 orders.
pub fn text_search(
    store: &Store,
    text: &str,
    only: Option<OrderState>,
    limit: usize,
) -> Result<Vec<Order>, StoreError> {
    let text = text.trim().to_lowercase();
    let mut states = vec![OrderState::Ready];
    states.extend(
        OrderState::ALL
            .into_iter()
            .filter(|s| *s != OrderState::Ready && !s.is_closed()),
    );
    states.extend(OrderState::ALL.into_iter().filter(|s| s.is_closed()));
    if let Some(only) = only {
        states.retain(|s| *s == only);
    }
    let mut found = Vec::new();
    let mut looked = 0;
    for st in states {
        let mut after = None;
        loop {
            let page = store.orders_in_state(st, after.as_ref(), 500)?;
            let full = page.len() == 500;
            after = page.last().map(|o| o.id.clone());
            for o in page {
                looked += 1;
                let hit = o.content.customer_name.to_lowercase().contains(&text)
                    || o.id.as_str().to_lowercase().contains(&text);
                if hit {
                    found.push(o);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
            if !full || looked >= MAX_LOOKED_AT {
                break;
            }
        }
        if looked >= MAX_LOOKED_AT {
            break;
        }
    }
    Ok(found)
}

/// What the desk tells the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    Ready,
    NotYet,
    Expired,
    Cancelled,
    Collected,
    Rejected,
}

pub fn readiness(o: &Order) -> Readiness {
    match o.state {
        OrderState::Ready => Readiness::Ready,
        OrderState::Fulfilled => Readiness::Collected,
        OrderState::Expired => Readiness::Expired,
        OrderState::Cancelled => Readiness::Cancelled,
        OrderState::Rejected => Readiness::Rejected,
        _ => Readiness::NotYet,
    }
}

/// Customers who checked in and are waiting, longest first.
pub fn waiting(store: &Store) -> Result<Vec<(Order, u64)>, StoreError> {
    let mut out = Vec::new();
    for (id, at) in store.arrivals() {
        if let Some(o) = store.order(&id)? {
            out.push((o, at));
        }
    }
    Ok(out)
}
