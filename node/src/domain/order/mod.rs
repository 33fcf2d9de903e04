//! The order service's rules and the order projection every service reads.
use std::fmt;
use std::ops::{Deref, DerefMut};

use protocol::{
    ArrivalChannel, CancelStage, Envelope, Event, NewOrder, OrderId, Partial, PaymentMode,
    PickLine, PickupProof, RejectCode, RejectedLine, SkuQuantity, StaffRejectReason, StagingSlot,
};
use serde::{Deserialize, Serialize};

use super::inventory::check_sku;
use super::{pickup, Ctx, Decision, Rejection};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Received, not yet checked.
    Created,
    /// Checked and taken on (stock reserved), awaiting payment confirmation.
    Accepted,
    /// Refused by the store.
    Rejected,
    /// Payment settled; waiting for a pick task.
    Processed,
    /// A pick task exists: ready to pick.
    Prepared,
    /// Picked and packed, waiting to be staged.
    Picked,
    /// Handed over to the customer.
    Fulfilled,
    // Appended with the BOPIS flow (the persisted status encodes the index).
    /// A picker is working the pick task.
    Picking,
    /// On a staging slot (momentarily, before the pickup code is issued).
    Staged,
    /// Staged with a pickup code: the customer can collect.
    Ready,
    /// Cancelled (see `cancel` for when and why).
    Cancelled,
    /// Not collected in time; items went back to stock.
    Expired,
}

impl OrderState {
    pub const ALL: [OrderState; 12] = [
        OrderState::Created,
        OrderState::Accepted,
        OrderState::Rejected,
        OrderState::Processed,
        OrderState::Prepared,
        OrderState::Picking,
        OrderState::Picked,
        OrderState::Staged,
        OrderState::Ready,
        OrderState::Fulfilled,
        OrderState::Cancelled,
        OrderState::Expired,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OrderState::Created => "created",
            OrderState::Accepted => "accepted",
            OrderState::Rejected => "rejected",
            OrderState::Processed => "processed",
            OrderState::Prepared => "prepared",
            OrderState::Picking => "picking",
            OrderState::Picked => "picked",
            OrderState::Staged => "staged",
            OrderState::Ready => "ready",
            OrderState::Fulfilled => "fulfilled",
            OrderState::Cancelled => "cancelled",
            OrderState::Expired => "expired",
        }
    }

    /// Whether nothing more happens to an order in this state.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderState::Rejected
                | OrderState::Fulfilled
                | OrderState::Cancelled
                | OrderState::Expired
        )
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// No further step of the flow can happen.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            OrderState::Rejected
                | OrderState::Fulfilled
                | OrderState::Cancelled
                | OrderState::Expired
        )
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = match self {
            OrderState::Created => "new",
            OrderState::Accepted => "accepted, awaiting payment",
            OrderState::Rejected => "rejected",
            OrderState::Processed => "paid, awaiting a pick task",
            OrderState::Prepared => "ready to pick",
            OrderState::Picking => "being picked",
            OrderState::Picked => "picked and packed, not yet staged",
            OrderState::Staged => "staged",
            OrderState::Ready => "ready for pickup",
            OrderState::Fulfilled => "already handed over",
            OrderState::Cancelled => "cancelled",
            OrderState::Expired => "expired (not collected in time)",
        };
        f.write_str(words)
    }
}

/// How far one pick line got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineState {
    Open,
    Picked,
    Shorted,
    Substituted,
    /// Staff rejected the line before picking: it is not filled.
    Rejected,
}

impl LineState {
    pub fn name(self) -> &'static str {
        match self {
            LineState::Open => "open",
            LineState::Picked => "picked",
            LineState::Shorted => "shorted",
            LineState::Substituted => "substituted",
            LineState::Rejected => "rejected",
        }
    }
}

/// A substitute taken for a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Substitute {
    pub sku: String,
    pub quantity: u32,
    pub unit_price_cents: i64,
}

/// Progress of one pick line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineProgress {
    pub line_no: u32,
    pub state: LineState,
    /// Units of the line's own SKU taken from the shelf.
    pub picked: u32,
    pub substitute: Option<Substitute>,
}

/// A cancellation, as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    pub reason: String,
    pub stage: CancelStage,
    pub by: String,
    /// The slot to clear (cancelled after staging).
    pub unstage: Option<StagingSlot>,
}

/// A check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    pub channel: ArrivalChannel,
    pub note: Option<String>,
    pub at_ms: u64,
}

/// The hand-over, as proven.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandOver {
    pub by: String,
    pub proof: PickupProof,
    pub id_checked: bool,
    pub at_ms: u64,
}

/// The part of an order that changes with its events (the store rewrites
/// it per event; the content is written once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatus {
    pub id: OrderId,
    pub state: OrderState,
    /// `order_seq` of the last applied event.
    pub last_seq: u64,
    /// `log_seq` of the OrderCreated event (stable answer to a repeated create).
    pub created_log_seq: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub pick_lines: Vec<PickLine>,
    /// Per pick line (same order as `pick_lines`).
    pub progress: Vec<LineProgress>,
    pub reject_reason: Option<String>,
    pub picker: Option<String>,
    pub walk_id: Option<String>,
    pub tote: Option<u32>,
    pub picked_by: Option<String>,
    pub slot: Option<StagingSlot>,
    pub pickup_code: Option<String>,
    pub pickup_token: Option<String>,
    pub ready_ms: Option<u64>,
    pub arrival: Option<Arrival>,
    pub handed_over: Option<HandOver>,
    pub cancel: Option<Cancellation>,
    pub cancel_rejected: Option<String>,
    /// Items to put back on the shelves (cancelled after picking, expired).
    pub put_back: Vec<SkuQuantity>,
    pub late: bool,
    pub reminded: bool,
    /// `log_seq` of each of the order's events, in `order_seq` order: the
    /// order's timeline in the log.
    pub log_seqs: Vec<u64>,
    /// Why the store refused the order (a code HQ routes on).
    pub reject_code: Option<RejectCode>,
    /// Lines the store will not fill (partial fulfilment, staff).
    pub rejected_lines: Vec<RejectedLine>,
    /// The order's own partial-fulfilment policy, if it said
    /// (OrderPartialPolicy); otherwise the store's `orders.partial`.
    pub partial: Option<Partial>,
}

impl OrderStatus {
    /// Past its promise time and still not ready for the customer: what
    /// the manager must act on.
    pub fn overdue(&self) -> bool {
        self.late && !self.state.is_closed() && self.state != OrderState::Ready
    }

    /// Since when the customer has been waiting (checked in, the order not
    /// yet handed over or closed): the desk's list.
    pub fn waiting_since(&self) -> Option<u64> {
        self.arrival
            .as_ref()
            .filter(|_| !self.state.is_closed())
            .map(|a| a.at_ms)
    }
}

/// The order projection: derived from the order's events by [`apply`].
/// Reads like its status (`order.state`) through `Deref`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    #[serde(flatten)]
    pub status: OrderStatus,
    pub content: NewOrder,
}

impl Deref for Order {
    type Target = OrderStatus;
    fn deref(&self) -> &OrderStatus {
        &self.status
    }
}

impl DerefMut for Order {
    fn deref_mut(&mut self) -> &mut OrderStatus {
        &mut self.status
    }
}

impl Order {
    /// The pick line and its progress.
    pub fn line(&self, line_no: u32) -> Option<(&PickLine, &LineProgress)> {
        let i = self.pick_lines.iter().position(|l| l.line_no == line_no)?;
        Some((&self.pick_lines[i], self.progress.get(i)?))
    }

    /// Whether order line `line_no` (1-based) was rejected.
    pub fn line_rejected(&self, line_no: u32) -> bool {
        self.rejected_lines.iter().any(|r| r.line_no == line_no)
    }

    /// The order's lines the store fills: every line but the rejected
    /// ones, as (line number, line).
    pub fn lines_to_fill(&self) -> impl Iterator<Item = (u32, &protocol::OrderLine)> {
        self.content
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u32 + 1, l))
            .filter(|(n, _)| !self.line_rejected(*n))
    }

    /// What accepting the order reserves: its lines to fill.
    pub fn reservable(&self) -> Vec<SkuQuantity> {
        self.lines_to_fill()
            .map(|(_, l)| SkuQuantity {
                sku: l.sku.clone(),
                quantity: l.quantity,
            })
            .collect()
    }

    /// What order line `line_no` holds reserved now (`None` if nothing).
    pub fn reserved_for_line(&self, line_no: u32) -> Option<SkuQuantity> {
        if !self.holds_reservation() {
            return None;
        }
        if self.pick_lines.is_empty() {
            let l = self.content.lines.get(line_no.checked_sub(1)? as usize)?;
            return (!self.line_rejected(line_no)).then(|| SkuQuantity {
                sku: l.sku.clone(),
                quantity: l.quantity,
            });
        }
        let (l, p) = self.line(line_no)?;
        (p.state == LineState::Open && l.quantity > p.picked).then(|| SkuQuantity {
            sku: l.sku.clone(),
            quantity: l.quantity - p.picked,
        })
    }

    /// Units still reserved for each open line (quantity not yet taken).
    pub fn outstanding(&self) -> Vec<SkuQuantity> {
        if self.state == OrderState::Accepted || self.state == OrderState::Processed {
            // No pick task yet: the lines to fill are reserved whole.
            return self.reservable();
        }
        self.pick_lines
            .iter()
            .zip(&self.progress)
            .filter(|(_, p)| p.state == LineState::Open)
            .map(|(l, p)| SkuQuantity {
                sku: l.sku.clone(),
                quantity: l.quantity - p.picked,
            })
            .filter(|q| q.quantity > 0)
            .collect()
    }

    /// Everything taken from the shelves for this order so far.
    pub fn taken(&self) -> Vec<SkuQuantity> {
        let mut out = Vec::new();
        for (l, p) in self.pick_lines.iter().zip(&self.progress) {
            if p.picked > 0 {
                out.push(SkuQuantity {
                    sku: l.sku.clone(),
                    quantity: p.picked,
                });
            }
            if let Some(s) = &p.substitute {
                out.push(SkuQuantity {
                    sku: s.sku.clone(),
                    quantity: s.quantity,
                });
            }
        }
        out
    }

    /// Was the order's stock reserved (accepted and not yet released)?
    pub fn holds_reservation(&self) -> bool {
        matches!(
            self.state,
            OrderState::Accepted
                | OrderState::Processed
                | OrderState::Prepared
                | OrderState::Picking
        )
    }
}

/// Fold one event into the projection. Events of an order arrive in
/// `order_seq` order; an event that cannot start an order leaves `None`.
pub fn apply(order: Option<Order>, env: &Envelope) -> Option<Order> {
    let mut o = match (order, &env.event) {
        (None, Event::OrderCreated(content)) => {
            return Some(Order {
                status: OrderStatus {
                    id: env.order_id.clone(),
                    state: OrderState::Created,
                    last_seq: env.order_seq,
                    created_log_seq: env.log_seq,
                    created_ms: env.time_ms,
                    updated_ms: env.time_ms,
                    pick_lines: Vec::new(),
                    progress: Vec::new(),
                    reject_reason: None,
                    picker: None,
                    walk_id: None,
                    tote: None,
                    picked_by: None,
                    slot: None,
                    pickup_code: None,
                    pickup_token: None,
                    ready_ms: None,
                    arrival: None,
                    handed_over: None,
                    cancel: None,
                    cancel_rejected: None,
                    put_back: Vec::new(),
                    late: false,
                    reminded: false,
                    log_seqs: vec![env.log_seq],
                    reject_code: None,
                    rejected_lines: Vec::new(),
                    partial: None,
                },
                content: content.clone(),
            })
        }
        (None, _) => return None,
        (Some(o), _) => o,
    };
    o.last_seq = env.order_seq;
    o.log_seqs.push(env.log_seq);
    o.updated_ms = env.time_ms;
    let line_mut = |o: &mut Order, line_no: u32| -> Option<usize> {
        o.pick_lines.iter().position(|l| l.line_no == line_no)
    };
    match &env.event {
        Event::OrderCreated(_) => {}
        Event::OrderPartialPolicy { partial } => o.partial = Some(*partial),
        Event::OrderAccepted => o.state = OrderState::Accepted,
        Event::OrderRejected { reason } => {
            o.state = OrderState::Rejected;
            o.reject_reason = Some(reason.clone());
        }
        Event::OrderRejectedWithCode { code, note, .. } => {
            o.state = OrderState::Rejected;
            o.reject_reason = Some(note.clone());
            o.reject_code = Some(*code);
        }
        Event::OrderLinesRejected { lines, .. } => {
            for l in lines {
                if let Some(i) = line_mut(&mut o, l.line_no) {
                    if o.progress[i].state == LineState::Open {
                        o.progress[i].state = LineState::Rejected;
                    }
                }
                if !o.rejected_lines.iter().any(|r| r.line_no == l.line_no) {
                    o.rejected_lines.push(l.clone());
                }
            }
        }
        Event::OrderProcessed { .. } => o.state = OrderState::Processed,
        Event::ShipmentPrepared { lines } => {
            o.state = OrderState::Prepared;
            o.pick_lines = lines.clone();
            o.progress = lines
                .iter()
                .map(|l| LineProgress {
                    line_no: l.line_no,
                    state: LineState::Open,
                    picked: 0,
                    substitute: None,
                })
                .collect();
        }
        Event::PickStarted { walk_id, tote, by } => {
            o.state = OrderState::Picking;
            o.walk_id = walk_id.clone();
            o.tote = Some(*tote);
            o.picker = Some(by.clone());
        }
        Event::ItemPicked {
            line_no, quantity, ..
        } => {
            if let Some(i) = line_mut(&mut o, *line_no) {
                let want = o.pick_lines[i].quantity;
                let p = &mut o.progress[i];
                p.picked += quantity;
                if p.picked >= want {
                    p.state = LineState::Picked;
                }
            }
        }
        Event::ItemShorted { line_no, found, .. }
        | Event::ItemShortedWithReason { line_no, found, .. } => {
            if let Some(i) = line_mut(&mut o, *line_no) {
                let p = &mut o.progress[i];
                p.picked = *found;
                p.state = LineState::Shorted;
            }
        }
        Event::ItemSubstituted {
            line_no,
            sku,
            quantity,
            unit_price_cents,
            ..
        } => {
            if let Some(i) = line_mut(&mut o, *line_no) {
                let p = &mut o.progress[i];
                p.state = LineState::Substituted;
                p.substitute = Some(Substitute {
                    sku: sku.clone(),
                    quantity: *quantity,
                    unit_price_cents: *unit_price_cents,
                });
            }
        }
        Event::ShipmentProcessed { picked_by } => {
            o.state = OrderState::Picked;
            o.picked_by = Some(picked_by.clone());
        }
        Event::OrderStaged { slot, .. } => {
            o.state = OrderState::Staged;
            o.slot = Some(slot.clone());
        }
        Event::ReadyForPickup { code, token } => {
            o.state = OrderState::Ready;
            o.pickup_code = Some(code.clone());
            o.pickup_token = Some(token.clone());
            // Moving an order to another slot does not restart its
            // pickup window: the customer was told when it first was ready.
            o.ready_ms = o.ready_ms.or(Some(env.time_ms));
        }
        Event::CustomerArrived { channel, note } => {
            o.arrival = Some(Arrival {
                channel: *channel,
                note: note.clone(),
                at_ms: env.time_ms,
            });
        }
        Event::OrderFulfilled {
            handed_over_by,
            proof,
            id_checked,
        } => {
            o.state = OrderState::Fulfilled;
            o.handed_over = Some(HandOver {
                by: handed_over_by.clone(),
                proof: *proof,
                id_checked: *id_checked,
                at_ms: env.time_ms,
            });
        }
        Event::PickupExpired => {
            o.state = OrderState::Expired;
        }
        Event::OrderCancelled { reason, stage, by } => {
            let unstage = match stage {
                CancelStage::AfterStaging => o.slot.clone(),
                _ => None,
            };
            o.state = OrderState::Cancelled;
            o.cancel = Some(Cancellation {
                reason: reason.clone(),
                stage: *stage,
                by: by.clone(),
                unstage,
            });
        }
        Event::CancelRejected { reason } => o.cancel_rejected = Some(reason.clone()),
        Event::Restocked { items, .. } => o.put_back = items.clone(),
        Event::OrderLate { .. } => o.late = true,
        Event::PickupReminded { .. } => o.reminded = true,
        // Stock and store events change no order (a short may write some
        // on the order's stream: a write-off, a count task).
        Event::StockAdjusted { .. }
        | Event::TillReceiptRecorded { .. }
        | Event::StockWrittenOff { .. }
        | Event::SafetyStockSet { .. }
        | Event::DeliveryAnnounced { .. }
        | Event::DeliveryReceived { .. }
        | Event::StockSnapshotReconciled { .. }
        | Event::CountTaskOpened { .. }
        | Event::CountRecorded { .. }
        | Event::CountApplied { .. }
        | Event::CountTaskCancelled { .. }
        | Event::AvailabilityChanged { .. }
        | Event::AvailabilitySnapshot { .. }
        | Event::CatalogEntriesImported { .. }
        | Event::StockCounted { .. }
        | Event::CatalogImported { .. }
        | Event::StoreClosed { .. }
        | Event::StoreOpened { .. }
        | Event::LockerDoorReported { .. }
        | Event::StaffAdded { .. }
        | Event::StaffRoleChanged { .. }
        | Event::StaffDisabled { .. }
        | Event::StaffEnabled { .. }
        | Event::StaffPinReset { .. }
        | Event::PickupTimesChanged { .. }
        | Event::DeviceRegistered { .. }
        | Event::DeviceRemoved { .. } => {}
    }
    Some(o)
}

/// Limits on a new order's content.
pub const MAX_LINES: usize = 200;
pub const MAX_QUANTITY: u32 = 999;
pub const MAX_NAME_CHARS: usize = 100;

/// Check a new order's content; the first problem names its field.
pub fn validate(content: &NewOrder) -> Result<(), Rejection> {
    let invalid = |field: String, reason: &str| Rejection::Invalid {
        field,
        reason: reason.to_string(),
    };
    let name = content.customer_name.trim();
    if name.is_empty() {
        return Err(invalid("customer_name".into(), "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            "customer_name".into(),
            "must be at most 100 characters",
        ));
    }
    if content.lines.is_empty() {
        return Err(invalid("lines".into(), "an order needs at least one line"));
    }
    if content.lines.len() > MAX_LINES {
        return Err(invalid(
            "lines".into(),
            "an order may have at most 200 lines",
        ));
    }
    for (i, line) in content.lines.iter().enumerate() {
        check_sku(format!("lines[{i}].sku"), &line.sku)?;
        if line.quantity == 0 || line.quantity > MAX_QUANTITY {
            return Err(invalid(
                format!("lines[{i}].quantity"),
                "must be between 1 and 999",
            ));
        }
        if line.unit_price_cents < 0 {
            return Err(invalid(
                format!("lines[{i}].unit_price_cents"),
                "must not be negative",
            ));
        }
    }
    if content
        .pickup_token
        .as_ref()
        .is_some_and(|t| t.len() > 512 || !protocol::pickup::is_token(t))
    {
        return Err(invalid(
            "pickup_token".into(),
            "must be a pickup token (SNP1.…) of at most 512 characters",
        ));
    }
    Ok(())
}

/// Decide a CreateOrder. Creation is idempotent on the order id: the same
/// content again is a no-op, different content is a conflict.
pub fn decide_create(
    existing: Option<&Order>,
    id: &OrderId,
    content: &NewOrder,
    partial: Option<Partial>,
) -> Decision {
    if id.is_reserved() {
        return Err(Rejection::Invalid {
            field: "order_id".into(),
            reason: "ids starting with '_' are reserved for the node".into(),
        });
    }
    validate(content)?;
    match existing {
        None => Ok(std::iter::once(Event::OrderCreated(content.clone()))
            .chain(partial.map(|partial| Event::OrderPartialPolicy { partial }))
            .collect()),
        Some(o) if o.content == *content && o.partial == partial => Ok(vec![]),
        Some(_) => Err(Rejection::ConflictingOrder(id.to_string())),
    }
}

/// The store's rules that come from its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// When a line cannot be filled: fill the others and reject that line
    /// (`true`), or reject the whole order (`orders.partial`); the default
    /// for orders that do not say.
    pub partial: bool,
    /// Most open orders the store works at once; 0: no limit
    /// (`orders.max_open`). Beyond it a new order is rejected `capacity`.
    pub max_open: u32,
    /// A count further than this many units from what the node expected is
    /// counted again, then approved by a manager (`stock.recount_above`).
    pub recount_above: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            partial: false,
            max_open: 0,
            recount_above: 3,
        }
    }
}

/// The order service's reaction to an OrderCreated: accept it (reserving
/// its stock) or reject it with a code HQ can route on; process it at
/// once unless its payment is still pending.
pub fn on_created(ctx: &Ctx, keys: &pickup::PickupKeys, policy: Policy) -> Decision {
    let Some(o) = ctx.order else {
        return Ok(vec![]);
    };
    if o.state != OrderState::Created {
        return Ok(vec![]); // already reacted (or cancelled since)
    }
    accept(ctx, o, keys, policy, false)
}

fn rejected(code: RejectCode, skus: Vec<String>, note: String) -> Decision {
    Ok(vec![Event::OrderRejectedWithCode { code, skus, note }])
}

/// Accept (reserving stock) or reject a new order; process it at once if
/// it is paid at the desk, authorised at checkout, or `paid` (the cloud's
/// confirmation came before the order service had reacted). A line that
/// availability does not cover (on hand minus reserved minus safety
/// stock) rejects the whole order, or, under a partial policy, only that
/// line, each with its code.
fn accept(ctx: &Ctx, o: &Order, keys: &pickup::PickupKeys, policy: Policy, paid: bool) -> Decision {
    if let Err(r) = validate(&o.content) {
        return rejected(RejectCode::Invalid, vec![], r.to_string());
    }
    if let Some(reason) = ctx.view.site().closed {
        return rejected(
            RejectCode::StoreClosed,
            vec![],
            format!("the store is closed for orders: {reason}"),
        );
    }
    if policy.max_open > 0 && ctx.view.open_orders() >= policy.max_open as usize {
        return rejected(
            RejectCode::Capacity,
            vec![],
            format!(
                "the store is working {} orders, its most at once",
                policy.max_open
            ),
        );
    }
    if let Some(token) = &o.content.pickup_token {
        match keys.check(token, &o.id) {
            Err(e) => {
                return rejected(
                    RejectCode::Invalid,
                    vec![],
                    format!("the pickup code HQ issued is not valid: {e}"),
                )
            }
            Ok(claim) if !pickup::valid_code(&claim.code) => {
                return rejected(
                    RejectCode::Invalid,
                    vec![],
                    format!(
                        "the pickup code HQ issued ({:?}) is not 4 to 12 letters and digits",
                        claim.code
                    ),
                )
            }
            Ok(_) => {}
        }
    }
    // Line by line, in order: each takes from what the lines before it
    // left (an order may name an SKU on several lines).
    let mut left: Vec<(String, i64)> = Vec::new();
    let mut refused: Vec<RejectedLine> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for (line_no, l) in o.lines_to_fill() {
        let reject = |code| RejectedLine {
            line_no,
            sku: l.sku.clone(),
            quantity: l.quantity,
            code,
        };
        let Some(item) = ctx.view.item(&l.sku).filter(|i| i.listed) else {
            notes.push(format!(
                "unknown SKU {}: not in this store's catalog",
                l.sku
            ));
            refused.push(reject(RejectCode::UnknownSku));
            continue;
        };
        let free = match left.iter_mut().find(|(s, _)| *s == l.sku) {
            Some((_, n)) => n,
            None => {
                left.push((l.sku.clone(), item.available()));
                &mut left.last_mut().expect("just pushed").1
            }
        };
        if *free < i64::from(l.quantity) {
            notes.push(format!(
                "not enough stock for {} ({}): {} available, {} ordered",
                item.item.name,
                l.sku,
                (*free).max(0),
                l.quantity
            ));
            refused.push(reject(RejectCode::OutOfStock));
            continue;
        }
        *free -= i64::from(l.quantity);
    }
    let fillable = o.lines_to_fill().count();
    let partial = o.partial.map_or(policy.partial, |p| p == Partial::Allow);
    let mut events = Vec::new();
    if !refused.is_empty() {
        if !partial || refused.len() == fillable {
            // The first line's code names the order's (out of stock wins
            // over an unknown SKU only when it comes first, as HQ reads).
            let code = refused[0].code;
            let mut skus: Vec<String> = refused.iter().map(|r| r.sku.clone()).collect();
            skus.dedup();
            return rejected(code, skus, notes.join("; "));
        }
        events.push(Event::OrderLinesRejected {
            lines: refused,
            reason: None,
            by: "order".into(),
        });
    }
    events.push(Event::OrderAccepted);
    match o.content.payment {
        PaymentMode::Prepaid | PaymentMode::PayAtPickup => events.push(Event::OrderProcessed {
            payment: o.content.payment,
        }),
        PaymentMode::Pending if paid => events.push(Event::OrderProcessed {
            payment: PaymentMode::Prepaid,
        }),
        PaymentMode::Pending => {}
    }
    Ok(events)
}

/// The cloud confirms a pending payment. If it arrives before the order
/// service has looked at the order, the order is checked and accepted (or
/// rejected) right here, already paid; the order service then has nothing
/// left to do. Repeats are no-ops; a closed order cannot be paid.
pub fn decide_confirm_payment(ctx: &Ctx, keys: &pickup::PickupKeys, policy: Policy) -> Decision {
    let o = ctx
        .order
        .ok_or_else(|| Rejection::UnknownOrder("(unknown)".into()))?;
    match o.state {
        OrderState::Created => accept(ctx, o, keys, policy, true),
        OrderState::Accepted => Ok(vec![Event::OrderProcessed {
            payment: PaymentMode::Prepaid,
        }]),
        OrderState::Rejected | OrderState::Cancelled | OrderState::Expired => {
            Err(Rejection::WrongState {
                action: "confirm its payment",
                state: o.state,
            })
        }
        _ => Ok(vec![]),
    }
}

/// Timer: a pending payment not confirmed within `payment_timeout_ms` of
/// the order's creation cancels the order and releases its stock.
pub fn payment_overdue(o: &Order, now_ms: u64, payment_timeout_ms: u64) -> Vec<Event> {
    let overdue = o.state == OrderState::Accepted
        && o.content.payment == PaymentMode::Pending
        && now_ms >= o.created_ms.saturating_add(payment_timeout_ms);
    if overdue {
        vec![Event::OrderCancelled {
            reason: "payment was not confirmed in time".into(),
            stage: CancelStage::BeforePick,
            by: "timers".into(),
        }]
    } else {
        vec![]
    }
}

/// Cancel an order: what happens depends on how far it got. Never
/// last-writer-wins: after hand-over the cancel is answered with a
/// CancelRejected event and changes nothing.
pub fn decide_cancel(order: Option<&Order>, id: &OrderId, reason: &str, by: &str) -> Decision {
    let o = order.ok_or_else(|| Rejection::UnknownOrder(id.to_string()))?;
    super::staff::check_staff(by).map_err(|_| Rejection::Invalid {
        field: "by".into(),
        reason: "must be 1 to 64 characters".into(),
    })?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(Rejection::Invalid {
            field: "reason".into(),
            reason: "must be 1 to 200 characters".into(),
        });
    }
    let cancelled = |stage| Event::OrderCancelled {
        reason: reason.to_string(),
        stage,
        by: by.to_string(),
    };
    let put_back = |o: &Order, why: &str| {
        let items = o.taken();
        (!items.is_empty()).then(|| Event::Restocked {
            items,
            reason: why.to_string(),
        })
    };
    let events = match o.state {
        OrderState::Created
        | OrderState::Accepted
        | OrderState::Processed
        | OrderState::Prepared => vec![cancelled(CancelStage::BeforePick)],
        OrderState::Picking => std::iter::once(cancelled(CancelStage::DuringPick))
            .chain(put_back(o, "cancelled during picking: put back"))
            .collect(),
        OrderState::Picked => std::iter::once(cancelled(CancelStage::AfterPick))
            .chain(put_back(o, "cancelled after picking: put back"))
            .collect(),
        OrderState::Staged | OrderState::Ready => {
            std::iter::once(cancelled(CancelStage::AfterStaging))
                .chain(put_back(o, "cancelled after staging: unstage and put back"))
                .collect()
        }
        // Refused; recorded (CancelRejected) the first time only, and a
        // repeat is answered with the recorded reason.
        OrderState::Fulfilled => {
            let when = o.handed_over.as_ref().map_or(0, |h| h.at_ms);
            return Err(Rejection::CancelRefused {
                reason: o.cancel_rejected.clone().unwrap_or_else(|| format!(
                    "the order was already handed over to the customer (at {when} ms); refund it through customer service"
                )),
                record: o.cancel_rejected.is_none(),
            });
        }
        OrderState::Rejected | OrderState::Cancelled | OrderState::Expired => vec![],
    };
    Ok(events)
}

/// Staff (a manager, or a picker lead) reject an accepted order, or some
/// of its lines, before picking, with a reason HQ can re-route on. Each
/// reason has the stock effect of the short it matches: `not_in_stock`
/// puts the SKU's count in doubt (on hand 0, a count task opens),
/// `damaged` writes the line's units off, the others change no stock.
/// Rejecting every line left rejects the order.
pub fn decide_staff_reject(
    ctx: &Ctx,
    reason: StaffRejectReason,
    lines: &[u32],
    note: &str,
    by: &str,
) -> Decision {
    let o = ctx
        .order
        .ok_or_else(|| Rejection::UnknownOrder("(unknown)".into()))?;
    super::staff::check_staff(by)?;
    if !matches!(
        o.state,
        OrderState::Accepted | OrderState::Processed | OrderState::Prepared
    ) {
        return Err(Rejection::WrongState {
            action: "reject it (only before picking)",
            state: o.state,
        });
    }
    if note.chars().count() > 200 {
        return Err(Rejection::Invalid {
            field: "note".into(),
            reason: "at most 200 characters".into(),
        });
    }
    let open: Vec<(u32, &protocol::OrderLine)> = o
        .lines_to_fill()
        .filter(|(n, _)| o.pick_lines.is_empty() || o.reserved_for_line(*n).is_some())
        .collect();
    let chosen: Vec<(u32, &protocol::OrderLine)> = if lines.is_empty() {
        open.clone()
    } else {
        let mut chosen = Vec::new();
        for n in lines {
            match open.iter().find(|(m, _)| m == n) {
                Some(l) if !chosen.iter().any(|(m, _)| m == n) => chosen.push(*l),
                Some(_) => {}
                None => {
                    return Err(Rejection::Invalid {
                        field: "lines".into(),
                        reason: format!("line {n} is not an open line of the order"),
                    })
                }
            }
        }
        chosen
    };
    if chosen.is_empty() {
        return Err(Rejection::Invalid {
            field: "lines".into(),
            reason: "the order has no open line to reject".into(),
        });
    }
    let words = match note.trim() {
        "" => reason.name().replace('_', " "),
        n => format!("{}: {n}", reason.name().replace('_', " ")),
    };
    let mut events = if chosen.len() == open.len() {
        let mut skus: Vec<String> = chosen.iter().map(|(_, l)| l.sku.clone()).collect();
        skus.sort();
        skus.dedup();
        vec![Event::OrderRejectedWithCode {
            code: RejectCode::StaffRejected,
            skus,
            note: format!("rejected by staff ({by}): {words}"),
        }]
    } else {
        vec![Event::OrderLinesRejected {
            lines: chosen
                .iter()
                .map(|(n, l)| RejectedLine {
                    line_no: *n,
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                    code: RejectCode::StaffRejected,
                })
                .collect(),
            reason: Some(reason),
            by: by.to_string(),
        }]
    };
    // The stock effect of the matching short, once per SKU.
    let mut done: Vec<&str> = Vec::new();
    for (_, l) in &chosen {
        let listed = ctx.view.item(&l.sku).filter(|i| i.listed);
        let Some(item) = listed else { continue };
        match reason {
            StaffRejectReason::NotInStock if !done.contains(&l.sku.as_str()) => {
                done.push(&l.sku);
                events.push(Event::StockCounted {
                    counts: vec![SkuQuantity {
                        sku: l.sku.clone(),
                        quantity: 0,
                    }],
                    by: by.to_string(),
                });
                events.extend(super::stock::count_task_for(
                    ctx,
                    &l.sku,
                    protocol::CountReason::NotFound,
                    format!("order {} rejected: not in stock ({by})", o.id),
                ));
            }
            StaffRejectReason::Damaged if item.on_hand > 0 => {
                let bad = u32::try_from(item.on_hand)
                    .unwrap_or(u32::MAX)
                    .min(l.quantity);
                events.push(Event::StockWrittenOff {
                    sku: l.sku.clone(),
                    quantity: bad,
                    reason: protocol::WriteOffReason::Damaged,
                    note: format!("order {} rejected: damaged", o.id),
                    by: by.to_string(),
                });
            }
            _ => {}
        }
    }
    Ok(events)
}

/// Timer: an order past its promise time that is not ready yet is late.
pub fn on_clock(o: &Order, now_ms: u64) -> Vec<Event> {
    match o.content.due_at_ms {
        Some(due)
            if now_ms >= due
                && !o.late
                && !o.state.is_closed()
                && !matches!(o.state, OrderState::Ready) =>
        {
            vec![Event::OrderLate { due_at_ms: due }]
        }
        _ => vec![],
    }
}

#[cfg(test)]
pub(crate) mod tests;
