//! A pick walk: one order, or a batch of orders each in its own tote, as
//! the lines to collect in walking order (aisle, bay, shelf).
use protocol::{Location, OrderId, Zone};
use serde::Serialize;
use serde_json::{json, Value};

use crate::domain::order::{LineState, Substitute};
use crate::domain::{Order, OrderState, Rejection};
use crate::store::{Store, StoreError};

/// Which walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkRef {
    /// One order, picked on its own.
    Order(OrderId),
    /// A batch walk by its id.
    Walk(String),
}

/// One line to collect.
#[derive(Debug, Clone, Serialize)]
pub struct WalkLine {
    pub order_id: OrderId,
    pub tote: u32,
    pub line_no: u32,
    pub sku: String,
    pub name: String,
    pub barcodes: Vec<String>,
    pub location: Location,
    pub zone: Zone,
    pub quantity: u32,
    pub picked: u32,
    pub state: LineState,
    pub substitute: Option<Substitute>,
    pub substitution_allowed: bool,
}

impl WalkLine {
    pub fn is_open(&self) -> bool {
        self.state == LineState::Open
    }
}

/// The walk as it stands.
#[derive(Debug, Clone, Serialize)]
pub struct Walk {
    pub walk_id: Option<String>,
    pub orders: Vec<Order>,
    /// In walking order; a location shared by several orders lists them
    /// by tote.
    pub lines: Vec<WalkLine>,
}

/// The states of a batch walk's orders while the walk goes on: being
/// picked, or picked and waiting for a staging slot (`staged` is only the
/// moment before `ready`). These sets stay small, so finding a walk's
/// orders reads little; a ready order has left its walk.
const WALK_STATES: [OrderState; 3] = [OrderState::Picking, OrderState::Picked, OrderState::Staged];

/// Load a walk; `None` if it names no order, or, for a batch walk, once
/// every order of it is staged (or cancelled).
pub fn load(store: &Store, walk: &WalkRef) -> Result<Option<Walk>, StoreError> {
    let (walk_id, orders) = match walk {
        WalkRef::Order(id) => match store.order(id)? {
            Some(o) => (None, vec![o]),
            None => return Ok(None),
        },
        WalkRef::Walk(w) => {
            let mut members = Vec::new();
            for st in WALK_STATES {
                members.extend(
                    store
                        .all_in_state(st)?
                        .into_iter()
                        .filter(|o| o.walk_id.as_deref() == Some(w.as_str())),
                );
            }
            if members.is_empty() {
                return Ok(None);
            }
            members.sort_by_key(|o| o.tote.unwrap_or(0));
            (Some(w.clone()), members)
        }
    };
    let mut lines = Vec::new();
    for o in &orders {
        for (l, p) in o.pick_lines.iter().zip(&o.progress) {
            let item = store.item(&l.sku);
            let allowed = o
                .content
                .lines
                .get((l.line_no as usize).saturating_sub(1))
                .is_some_and(|c| c.substitution_allowed);
            lines.push(WalkLine {
                order_id: o.id.clone(),
                tote: o.tote.unwrap_or(1),
                line_no: l.line_no,
                sku: l.sku.clone(),
                name: item
                    .as_ref()
                    .map_or_else(|| l.sku.clone(), |i| i.item.name.clone()),
                barcodes: item.map(|i| i.item.barcodes).unwrap_or_default(),
                location: l.location,
                zone: l.zone,
                quantity: l.quantity,
                picked: p.picked,
                state: p.state,
                substitute: p.substitute.clone(),
                substitution_allowed: allowed,
            });
        }
    }
    lines.sort_by(|a, b| (a.location, &a.sku, a.tote).cmp(&(b.location, &b.sku, b.tote)));
    Ok(Some(Walk {
        walk_id,
        orders,
        lines,
    }))
}

impl Walk {
    pub fn open(&self) -> impl Iterator<Item = &WalkLine> {
        self.lines.iter().filter(|l| l.is_open())
    }

    pub fn done(&self) -> impl Iterator<Item = &WalkLine> {
        self.lines.iter().filter(|l| !l.is_open())
    }

    /// Orders of the walk that are picked and wait for a staging slot.
    pub fn to_stage(&self) -> impl Iterator<Item = &Order> {
        self.orders.iter().filter(|o| o.state == OrderState::Picked)
    }

    /// The open line a scanned barcode picks: the first in walking order
    /// whose item it is. A barcode of no open line is refused with what it
    /// is, in the picker's words.
    pub fn match_scan(&self, store: &Store, barcode: &str) -> Result<&WalkLine, Rejection> {
        let code = barcode.trim();
        let Some(sku) = store.sku_for_barcode(code) else {
            return Err(Rejection::UnknownBarcode(code.to_string()));
        };
        if let Some(line) = self.open().find(|l| l.sku == sku) {
            return Ok(line);
        }
        let name = store
            .item(&sku)
            .map_or_else(|| sku.clone(), |i| format!("{} ({sku})", i.item.name));
        Err(Rejection::NotOnPickList { item: name })
    }

    /// The JSON API's view: each shelf location once, with what to put in
    /// which tote.
    pub fn stops_json(&self) -> Value {
        let totes: Vec<Value> = self
            .orders
            .iter()
            .map(|o| json!({ "order_id": o.id, "tote": o.tote, "state": o.state, "customer_name": o.content.customer_name }))
            .collect();
        struct Stop<'a> {
            line: &'a WalkLine,
            items: Vec<Value>,
        }
        let mut stops: Vec<Stop> = Vec::new();
        for l in &self.lines {
            let entry = json!({
                "order_id": l.order_id, "tote": l.tote, "line_no": l.line_no,
                "quantity": l.quantity, "picked": l.picked, "state": l.state,
            });
            match stops
                .iter_mut()
                .find(|s| s.line.location == l.location && s.line.sku == l.sku)
            {
                Some(s) => s.items.push(entry),
                None => stops.push(Stop {
                    line: l,
                    items: vec![entry],
                }),
            }
        }
        let stops: Vec<Value> = stops
            .into_iter()
            .map(|s| {
                json!({ "location": s.line.location, "sku": s.line.sku, "name": s.line.name,
                        "barcodes": s.line.barcodes, "zone": s.line.zone, "items": s.items })
            })
            .collect();
        json!({ "walk_id": self.walk_id, "totes": totes, "stops": stops })
    }
}
