//! Stock movements besides orders: till receipts, write-offs, deliveries,
//! HQ's snapshots, count tasks, safety stock and what HQ hears of
//! availability. Pure rules, like the rest of `domain`; the documents they
//! keep (receipts, deliveries, count tasks) are projections of the log
//! ([`apply_doc`]). docs/stock.md tells the model.
use protocol::{
    CountReason, Event, Receipt, ReceiptKind, ReceiptLine, Reconciled, SafetyScope,
    SkuAvailability, SkuQuantity, SnapshotLine, WriteOffReason,
};
use serde::{Deserialize, Serialize};

use super::inventory::{check_sku, Effect, Move, StockItem, MAX_ADJUST, MAX_STOCK};
use super::{Ctx, Decision, Rejection};

/// Most lines in one receipt, delivery or snapshot event (a bigger
/// snapshot is several events).
pub const MAX_LINES: usize = 500;
/// Most lines in one HQ snapshot command.
pub const MAX_SNAPSHOT_LINES: usize = 50_000;
/// Most SKUs in one availability event.
pub const AVAILABILITY_CHUNK: usize = 500;
/// Most units of safety stock for one SKU.
pub const MAX_SAFETY: u32 = 100_000;

/// Which document a key names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKey {
    Receipt(String),
    Delivery(String),
    CountTask(String),
}

impl DocKey {
    /// The one-byte tag under the store's `r` prefix.
    pub fn tag(&self) -> u8 {
        match self {
            DocKey::Receipt(_) => b'R',
            DocKey::Delivery(_) => b'D',
            DocKey::CountTask(_) => b'T',
        }
    }

    pub fn id(&self) -> &str {
        match self {
            DocKey::Receipt(id) | DocKey::Delivery(id) | DocKey::CountTask(id) => id,
        }
    }
}

/// A receipt as the node knows it (for voids and resends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRecord {
    /// `None` until the receipt itself arrives (a void came first).
    pub receipt: Option<Receipt>,
    /// The void that cancelled it.
    pub voided_by: Option<String>,
    /// Log position of the receipt's event.
    pub log_seq: u64,
}

/// A delivery: announced by HQ, received at the back door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub delivery_id: String,
    pub announced: Vec<SkuQuantity>,
    pub expected_ms: Option<u64>,
    pub announced_ms: Option<u64>,
    pub received: Option<Received>,
}

/// What arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    pub lines: Vec<SkuQuantity>,
    pub by: String,
    pub at_ms: u64,
}

/// Where a count task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountState {
    /// Waiting for someone to count.
    Open,
    /// The first count was far from what was expected: count again.
    Recount,
    /// The recount was far too: a manager approves (or cancels).
    Approval,
    /// The count changed stock.
    Applied,
    Cancelled,
}

impl CountState {
    pub fn name(self) -> &'static str {
        match self {
            CountState::Open => "open",
            CountState::Recount => "recount",
            CountState::Approval => "approval",
            CountState::Applied => "applied",
            CountState::Cancelled => "cancelled",
        }
    }

    pub fn is_open(self) -> bool {
        matches!(
            self,
            CountState::Open | CountState::Recount | CountState::Approval
        )
    }
}

/// One count of a task's SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountEntry {
    pub counted: u32,
    pub expected: i64,
    pub by: String,
    pub at_ms: u64,
}

/// A request to count one SKU, and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountTask {
    pub task_id: String,
    pub sku: String,
    pub reason: CountReason,
    pub note: String,
    pub opened_ms: u64,
    pub state: CountState,
    pub counts: Vec<CountEntry>,
    /// Who applied or cancelled it, and when.
    pub closed: Option<(String, u64)>,
}

/// One of the stock documents the store keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StockDoc {
    Receipt(ReceiptRecord),
    Delivery(DeliveryRecord),
    CountTask(CountTask),
}

/// The documents `event` changes.
pub fn doc_keys(event: &Event) -> Vec<DocKey> {
    match event {
        Event::TillReceiptRecorded { receipt, .. } => {
            let mut keys = vec![DocKey::Receipt(receipt.receipt_id.clone())];
            if let Some(v) = &receipt.voids {
                keys.push(DocKey::Receipt(v.clone()));
            }
            keys
        }
        Event::DeliveryAnnounced { delivery_id, .. }
        | Event::DeliveryReceived { delivery_id, .. } => {
            vec![DocKey::Delivery(delivery_id.clone())]
        }
        Event::CountTaskOpened { task_id, .. }
        | Event::CountRecorded { task_id, .. }
        | Event::CountApplied { task_id, .. }
        | Event::CountTaskCancelled { task_id, .. } => vec![DocKey::CountTask(task_id.clone())],
        _ => vec![],
    }
}

/// Fold `event` (at `log_seq`, `time_ms`) into the document under `key`.
pub fn apply_doc(
    key: &DocKey,
    doc: Option<StockDoc>,
    event: &Event,
    log_seq: u64,
    time_ms: u64,
) -> Option<StockDoc> {
    match (key, doc, event) {
        (DocKey::Receipt(id), doc, Event::TillReceiptRecorded { receipt, .. }) => {
            let mut rec = match doc {
                Some(StockDoc::Receipt(r)) => r,
                _ => ReceiptRecord {
                    receipt: None,
                    voided_by: None,
                    log_seq,
                },
            };
            if *id == receipt.receipt_id {
                rec.receipt = Some(receipt.clone());
                rec.log_seq = log_seq;
            } else {
                // The receipt this void cancels (arrived or not).
                rec.voided_by = Some(receipt.receipt_id.clone());
            }
            Some(StockDoc::Receipt(rec))
        }
        (
            _,
            doc,
            Event::DeliveryAnnounced {
                delivery_id,
                lines,
                expected_ms,
            },
        ) => {
            let received = match doc {
                Some(StockDoc::Delivery(d)) => d.received,
                _ => None,
            };
            Some(StockDoc::Delivery(DeliveryRecord {
                delivery_id: delivery_id.clone(),
                announced: lines.clone(),
                expected_ms: *expected_ms,
                announced_ms: Some(time_ms),
                received,
            }))
        }
        (
            _,
            doc,
            Event::DeliveryReceived {
                delivery_id,
                lines,
                by,
            },
        ) => {
            let mut d = match doc {
                Some(StockDoc::Delivery(d)) => d,
                _ => DeliveryRecord {
                    delivery_id: delivery_id.clone(),
                    announced: vec![],
                    expected_ms: None,
                    announced_ms: None,
                    received: None,
                },
            };
            d.received = Some(Received {
                lines: lines.clone(),
                by: by.clone(),
                at_ms: time_ms,
            });
            Some(StockDoc::Delivery(d))
        }
        (
            _,
            _,
            Event::CountTaskOpened {
                task_id,
                sku,
                reason,
                note,
            },
        ) => Some(StockDoc::CountTask(CountTask {
            task_id: task_id.clone(),
            sku: sku.clone(),
            reason: *reason,
            note: note.clone(),
            opened_ms: time_ms,
            state: CountState::Open,
            counts: vec![],
            closed: None,
        })),
        (
            _,
            Some(StockDoc::CountTask(mut t)),
            Event::CountRecorded {
                counted,
                expected,
                by,
                ..
            },
        ) => {
            t.counts.push(CountEntry {
                counted: *counted,
                expected: *expected,
                by: by.clone(),
                at_ms: time_ms,
            });
            // Applied in the same decision when close enough; otherwise
            // the first count asks for a recount and the recount for a
            // manager.
            t.state = if t.counts.len() == 1 {
                CountState::Recount
            } else {
                CountState::Approval
            };
            Some(StockDoc::CountTask(t))
        }
        (_, Some(StockDoc::CountTask(mut t)), Event::CountApplied { by, .. }) => {
            t.state = CountState::Applied;
            t.closed = Some((by.clone(), time_ms));
            Some(StockDoc::CountTask(t))
        }
        (_, Some(StockDoc::CountTask(mut t)), Event::CountTaskCancelled { by, .. }) => {
            t.state = CountState::Cancelled;
            t.closed = Some((by.clone(), time_ms));
            Some(StockDoc::CountTask(t))
        }
        (_, doc, _) => doc,
    }
}

/// The stock effects of a till receipt: a sale takes units off the shelf,
/// a return puts them back (a damaged one is written off at once), a void
/// reverses the receipt it cancels. A receipt voided before it arrived
/// has none.
pub fn receipt_effects(receipt: &Receipt, reverses: Option<&Receipt>, voided: bool) -> Vec<Effect> {
    if voided {
        return vec![];
    }
    match receipt.kind {
        ReceiptKind::Void => reverses
            .map(|r| {
                receipt_effects(r, None, false)
                    .into_iter()
                    .map(|e| match e {
                        Effect::OnHand { sku, delta, kind } => Effect::OnHand {
                            sku,
                            delta: -delta,
                            kind,
                        },
                        other => other,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        ReceiptKind::Sale => receipt
            .lines
            .iter()
            .map(|l| Effect::OnHand {
                sku: l.sku.clone(),
                delta: -i64::from(l.quantity),
                kind: Move::Sold,
            })
            .collect(),
        ReceiptKind::Return => receipt
            .lines
            .iter()
            .flat_map(|l| {
                let back = Effect::OnHand {
                    sku: l.sku.clone(),
                    delta: i64::from(l.quantity),
                    kind: Move::Returned,
                };
                let gone = Effect::OnHand {
                    sku: l.sku.clone(),
                    delta: -i64::from(l.quantity),
                    kind: Move::WrittenOff,
                };
                if l.damaged {
                    vec![back, gone]
                } else {
                    vec![back]
                }
            })
            .collect(),
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> Rejection {
    Rejection::Invalid {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// An id chosen by a till, HQ or staff: 1 to 64 printable ASCII
/// characters, no spaces.
pub fn check_ref(field: &str, id: &str) -> Result<(), Rejection> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid(
            field,
            "must be 1 to 64 printable characters without spaces",
        ));
    }
    Ok(())
}

fn check_quantity(field: &str, q: u32) -> Result<(), Rejection> {
    if q == 0 || u64::from(q) > MAX_ADJUST {
        return Err(invalid(field, format!("must be 1 to {MAX_ADJUST}")));
    }
    Ok(())
}

/// A listed SKU, or why not.
fn listed(ctx: &Ctx, sku: &str) -> Result<StockItem, Rejection> {
    ctx.view
        .item(sku)
        .filter(|i| i.listed)
        .ok_or_else(|| Rejection::UnknownSku(sku.to_string()))
}

/// A count task for `sku`, unless one is open.
pub fn count_task_for(ctx: &Ctx, sku: &str, reason: CountReason, note: String) -> Option<Event> {
    let item = ctx.view.item(sku).filter(|i| i.listed)?;
    if item.count_task.is_some() {
        return None;
    }
    Some(Event::CountTaskOpened {
        task_id: new_id(ctx, "C", |id| DocKey::CountTask(id.to_string())),
        sku: sku.to_string(),
        reason,
        note,
    })
}

/// A new document id: `prefix` and the time in hex, made unique.
fn new_id(ctx: &Ctx, prefix: &str, key: impl Fn(&str) -> DocKey) -> String {
    let mut n = ctx.now_ms;
    loop {
        let id = format!("{prefix}{n:x}");
        if ctx.view.doc(&key(&id)).is_none() {
            return id;
        }
        n += 1;
    }
}

/// A till transaction. Never refused for stock: the till has sold it. A
/// receipt id applies once (a resend is a no-op); a void reverses the
/// receipt it names, also when that receipt arrives after the void; a
/// sale of more than the node believes is on hand opens a count task.
pub fn decide_receipt(ctx: &Ctx, receipt: &Receipt) -> Decision {
    check_ref("receipt_id", &receipt.receipt_id)?;
    check_ref("till", &receipt.till)?;
    let mut receipt = receipt.clone();
    match (receipt.kind, &receipt.voids) {
        (ReceiptKind::Void, None) => {
            return Err(invalid("voids", "a void names the receipt it cancels"))
        }
        (ReceiptKind::Void, Some(v)) => {
            check_ref("voids", v)?;
            if *v == receipt.receipt_id {
                return Err(invalid("voids", "a receipt cannot void itself"));
            }
        }
        (_, Some(_)) => return Err(invalid("voids", "only a void names another receipt")),
        _ => {}
    }
    if receipt.kind != ReceiptKind::Void && receipt.lines.is_empty() {
        return Err(invalid("lines", "a sale or return has at least one line"));
    }
    if receipt.lines.len() > MAX_LINES {
        return Err(invalid(
            "lines",
            format!("at most {MAX_LINES} lines per receipt"),
        ));
    }
    // One line per SKU and condition: a busy till does not multiply lines.
    let mut merged: Vec<ReceiptLine> = Vec::with_capacity(receipt.lines.len());
    for (i, l) in receipt.lines.iter().enumerate() {
        check_sku(format!("lines[{i}].sku"), &l.sku)?;
        check_quantity(&format!("lines[{i}].quantity"), l.quantity)?;
        match merged
            .iter_mut()
            .find(|m| m.sku == l.sku && m.damaged == l.damaged)
        {
            Some(m) => {
                m.quantity = m.quantity.saturating_add(l.quantity);
                check_quantity(&format!("lines[{i}].quantity"), m.quantity)?;
            }
            None => merged.push(l.clone()),
        }
    }
    receipt.lines = merged;
    let known = ctx.view.doc(&DocKey::Receipt(receipt.receipt_id.clone()));
    let known = match known {
        Some(StockDoc::Receipt(r)) => Some(r),
        _ => None,
    };
    if let Some(first) = known.as_ref().and_then(|r| r.receipt.as_ref()) {
        // Recorded before: a resend changes nothing; another receipt under
        // the same id is refused (a refused receipt does not burn its id:
        // nothing of it was kept).
        return if *first == receipt {
            Ok(vec![])
        } else {
            Err(Rejection::ConflictingReceipt(receipt.receipt_id.clone()))
        };
    }
    let voided = known.as_ref().is_some_and(|r| r.voided_by.is_some());
    let mut reverses = None;
    if let Some(v) = &receipt.voids {
        match ctx.view.doc(&DocKey::Receipt(v.clone())) {
            Some(StockDoc::Receipt(r)) if r.voided_by.is_some() => {
                return Err(invalid(
                    "voids",
                    format!(
                        "receipt {v} was already voided by {}",
                        r.voided_by.unwrap_or_default()
                    ),
                ))
            }
            Some(StockDoc::Receipt(ReceiptRecord {
                receipt: Some(r), ..
            })) => {
                if r.kind == ReceiptKind::Void {
                    return Err(invalid("voids", format!("{v} is itself a void")));
                }
                reverses = Some(r);
            }
            _ => {} // not arrived yet: it will be recorded voided
        }
    }
    let mut events = vec![Event::TillReceiptRecorded {
        receipt: receipt.clone(),
        reverses: reverses.clone(),
        voided,
    }];
    let mut seen_by_count: Vec<String> = Vec::new();
    if !voided && receipt.kind != ReceiptKind::Void {
        // A till that was offline posts late: a line rung up before the
        // SKU's last count was already seen by that count (the shelf had
        // lost, or regained, the units). The receipt is recorded as sold or
        // returned all the same; a correction gives the units back.
        for l in &receipt.lines {
            let Some(count) = ctx.view.item(&l.sku).and_then(|i| i.last_count) else {
                continue;
            };
            if count.as_of_ms <= receipt.at_ms {
                continue;
            }
            let moved: i64 = receipt_effects(
                &Receipt {
                    lines: vec![l.clone()],
                    ..receipt.clone()
                },
                None,
                false,
            )
            .iter()
            .map(|e| match e {
                Effect::OnHand { delta, .. } => *delta,
                _ => 0,
            })
            .sum();
            if moved != 0 {
                seen_by_count.push(l.sku.clone());
                events.push(Event::StockAdjusted {
                    sku: l.sku.clone(),
                    delta: -moved,
                    reason: format!(
                        "receipt {} was rung up before the last count, which already saw it",
                        receipt.receipt_id
                    ),
                });
            }
        }
    }
    if !voided {
        // More sold than the node believed was on hand: the books were
        // wrong somewhere; someone counts.
        let effects = receipt_effects(&receipt, reverses.as_ref(), false);
        let mut short: Vec<(String, i64)> = Vec::new();
        for e in &effects {
            if let Effect::OnHand { sku, delta, .. } = e {
                match short.iter_mut().find(|(s, _)| s == sku) {
                    Some((_, d)) => *d += delta,
                    None => short.push((sku.clone(), *delta)),
                }
            }
        }
        for (sku, delta) in short {
            if seen_by_count.contains(&sku) {
                continue;
            }
            let after = ctx.view.item(&sku).map_or(delta, |i| i.on_hand + delta);
            if delta < 0 && after < 0 {
                events.extend(count_task_for(
                    ctx,
                    &sku,
                    CountReason::TillDiscrepancy,
                    format!(
                        "till {} sold more than the node had on hand (receipt {})",
                        receipt.till, receipt.receipt_id
                    ),
                ));
            }
        }
    }
    Ok(events)
}

/// Units written off.
pub fn decide_write_off(
    ctx: &Ctx,
    sku: &str,
    quantity: u32,
    reason: WriteOffReason,
    note: &str,
    by: &str,
) -> Decision {
    listed(ctx, sku)?;
    check_quantity("quantity", quantity)?;
    if note.chars().count() > 200 {
        return Err(invalid("note", "at most 200 characters"));
    }
    Ok(vec![Event::StockWrittenOff {
        sku: sku.to_string(),
        quantity,
        reason,
        note: note.trim().to_string(),
        by: by.to_string(),
    }])
}

/// A safety-stock setting. Setting what is in force is a no-op.
pub fn decide_safety(ctx: &Ctx, scope: &SafetyScope, safety: Option<u32>, by: &str) -> Decision {
    if safety.is_some_and(|n| n > MAX_SAFETY) {
        return Err(invalid("safety", format!("must be 0 to {MAX_SAFETY}")));
    }
    let site = ctx.view.site();
    let current = match scope {
        SafetyScope::Store => site.safety_default,
        SafetyScope::Category(c) => {
            let c = c.trim();
            if c.is_empty() || c.chars().count() > 40 {
                return Err(invalid("category", "must be 1 to 40 characters"));
            }
            site.safety_by_category.get(c).copied()
        }
        SafetyScope::Sku(sku) => listed(ctx, sku)?.safety_own,
    };
    if current == safety {
        return Ok(vec![]);
    }
    Ok(vec![Event::SafetyStockSet {
        scope: match scope {
            SafetyScope::Category(c) => SafetyScope::Category(c.trim().to_string()),
            other => other.clone(),
        },
        safety,
        by: by.to_string(),
    }])
}

fn check_lines(ctx: &Ctx, lines: &[SkuQuantity], empty_ok: bool) -> Result<(), Rejection> {
    if lines.is_empty() && !empty_ok {
        return Err(invalid("lines", "at least one line"));
    }
    if lines.len() > MAX_LINES {
        return Err(invalid("lines", format!("at most {MAX_LINES} lines")));
    }
    for (i, l) in lines.iter().enumerate() {
        listed(ctx, &l.sku)?;
        if u64::from(l.quantity) > MAX_ADJUST {
            return Err(invalid(
                &format!("lines[{i}].quantity"),
                format!("must be 0 to {MAX_ADJUST}"),
            ));
        }
    }
    Ok(())
}

/// HQ announces a delivery. Announcing the same again is a no-op; a
/// delivery already received cannot be announced.
pub fn decide_announce(
    ctx: &Ctx,
    delivery_id: &str,
    lines: &[SkuQuantity],
    expected_ms: Option<u64>,
) -> Decision {
    check_ref("delivery_id", delivery_id)?;
    check_lines(ctx, lines, false)?;
    match ctx.view.doc(&DocKey::Delivery(delivery_id.to_string())) {
        Some(StockDoc::Delivery(d)) if d.received.is_some() => Err(invalid(
            "delivery_id",
            format!("delivery {delivery_id} was already received"),
        )),
        Some(StockDoc::Delivery(d)) if d.announced == lines && d.expected_ms == expected_ms => {
            Ok(vec![])
        }
        _ => Ok(vec![Event::DeliveryAnnounced {
            delivery_id: delivery_id.to_string(),
            lines: lines.to_vec(),
            expected_ms,
        }]),
    }
}

/// Staff book what arrived: an announced delivery by its id, or one HQ
/// never announced (no id: the node names it). Lines of zero are dropped.
pub fn decide_receive(
    ctx: &Ctx,
    delivery_id: Option<&str>,
    lines: &[SkuQuantity],
    by: &str,
) -> Decision {
    let lines: Vec<SkuQuantity> = lines.iter().filter(|l| l.quantity > 0).cloned().collect();
    let id = match delivery_id {
        Some(id) => {
            check_ref("delivery_id", id)?;
            match ctx.view.doc(&DocKey::Delivery(id.to_string())) {
                Some(StockDoc::Delivery(d)) if d.received.is_some() => {
                    return Err(invalid(
                        "delivery_id",
                        format!("delivery {id} was already received"),
                    ))
                }
                Some(StockDoc::Delivery(_)) => {}
                _ => {
                    return Err(invalid(
                        "delivery_id",
                        format!("no delivery {id} was announced (book it without an id)"),
                    ))
                }
            }
            check_lines(ctx, &lines, true)?;
            id.to_string()
        }
        None => {
            check_lines(ctx, &lines, false)?;
            new_id(ctx, "L", |id| DocKey::Delivery(id.to_string()))
        }
    };
    Ok(vec![Event::DeliveryReceived {
        delivery_id: id,
        lines,
        by: by.to_string(),
    }])
}

/// HQ's stock as of `as_of_ms`, reconciled per SKU: on hand becomes HQ's
/// figure plus the store's own movements after that time (HQ could not
/// have seen them). An SKU counted in the store after `as_of_ms`, or set
/// by a newer snapshot, keeps its count (listed in `ignored`), as does one
/// the store does not list.
pub fn decide_snapshot(ctx: &Ctx, as_of_ms: u64, lines: &[SnapshotLine]) -> Decision {
    if lines.is_empty() || lines.len() > MAX_SNAPSHOT_LINES {
        return Err(invalid(
            "lines",
            format!("must be 1 to {MAX_SNAPSHOT_LINES} lines"),
        ));
    }
    if as_of_ms > ctx.now_ms.saturating_add(5 * 60_000) {
        return Err(invalid(
            "as_of_ms",
            "is in the future by the store's clock (more than 5 minutes)",
        ));
    }
    let mut items = Vec::new();
    let mut ignored = Vec::new();
    let after = ctx.view.seq_after(as_of_ms);
    for (i, l) in lines.iter().enumerate() {
        check_sku(format!("lines[{i}].sku"), &l.sku)?;
        if l.on_hand.abs() > MAX_STOCK {
            return Err(invalid(
                &format!("lines[{i}].on_hand"),
                format!("must be within ±{MAX_STOCK}"),
            ));
        }
        let Some(item) = ctx.view.item(&l.sku).filter(|i| i.listed) else {
            ignored.push(l.sku.clone());
            continue;
        };
        if item.last_count.is_some_and(|c| c.as_of_ms > as_of_ms) {
            ignored.push(l.sku.clone());
            continue;
        }
        let local_after = ctx.view.moves_from(&l.sku, after);
        items.push(Reconciled {
            sku: l.sku.clone(),
            hq_on_hand: l.on_hand,
            local_after,
            on_hand: l.on_hand.saturating_add(local_after),
        });
    }
    let mut events: Vec<Event> = items
        .chunks(MAX_LINES)
        .map(|c| Event::StockSnapshotReconciled {
            as_of_ms,
            items: c.to_vec(),
            ignored: vec![],
        })
        .collect();
    match events.last_mut() {
        Some(Event::StockSnapshotReconciled { ignored: ig, .. }) => *ig = ignored,
        _ => events.push(Event::StockSnapshotReconciled {
            as_of_ms,
            items: vec![],
            ignored,
        }),
    }
    Ok(events)
}

/// A manager asks for a count of `sku`.
pub fn decide_open_count(ctx: &Ctx, sku: &str, note: &str) -> Decision {
    let item = listed(ctx, sku)?;
    if let Some(t) = item.count_task {
        return Err(invalid(
            "sku",
            format!("a count of {sku} is already open ({t})"),
        ));
    }
    if note.chars().count() > 200 {
        return Err(invalid("note", "at most 200 characters"));
    }
    Ok(
        count_task_for(ctx, sku, CountReason::Manager, note.trim().to_string())
            .into_iter()
            .collect(),
    )
}

fn open_task(ctx: &Ctx, task_id: &str) -> Result<CountTask, Rejection> {
    match ctx.view.doc(&DocKey::CountTask(task_id.to_string())) {
        Some(StockDoc::CountTask(t)) if t.state.is_open() => Ok(t),
        Some(StockDoc::CountTask(t)) => Err(invalid(
            "task_id",
            format!("count task {task_id} is {}", t.state.name()),
        )),
        _ => Err(invalid("task_id", format!("no count task {task_id}"))),
    }
}

fn apply_count(task: &CountTask, counted: u32, expected: i64, item: &StockItem, by: &str) -> Event {
    Event::CountApplied {
        task_id: task.task_id.clone(),
        sku: task.sku.clone(),
        counted,
        // What moved since the count (sales, picks while it waited).
        moved_since: item.on_hand.saturating_sub(expected),
        by: by.to_string(),
    }
}

/// Someone counted a task's SKU. Within `recount_above` units of what the
/// node expected, the count applies at once; further off, the first count
/// asks for a recount, and a recount still further off waits for a
/// manager's approval before stock changes.
pub fn decide_record_count(
    ctx: &Ctx,
    task_id: &str,
    counted: u32,
    recount_above: u32,
    by: &str,
) -> Decision {
    let task = open_task(ctx, task_id)?;
    if task.state == CountState::Approval {
        return Err(invalid(
            "task_id",
            format!("count task {task_id} waits for a manager's approval"),
        ));
    }
    if u64::from(counted) > MAX_ADJUST {
        return Err(invalid("counted", format!("must be 0 to {MAX_ADJUST}")));
    }
    let item = listed(ctx, &task.sku)?;
    let expected = item.on_hand;
    let mut events = vec![Event::CountRecorded {
        task_id: task_id.to_string(),
        counted,
        expected,
        by: by.to_string(),
    }];
    if i64::from(counted).abs_diff(expected) <= u64::from(recount_above) {
        events.push(apply_count(&task, counted, expected, &item, by));
    }
    Ok(events)
}

/// A manager applies a count that waits for approval: its last count,
/// with what moved since it.
pub fn decide_approve_count(ctx: &Ctx, task_id: &str, by: &str) -> Decision {
    let task = open_task(ctx, task_id)?;
    let Some(last) = task
        .counts
        .last()
        .filter(|_| task.state == CountState::Approval)
    else {
        return Err(invalid(
            "task_id",
            format!("count task {task_id} has no count waiting for approval"),
        ));
    };
    let item = listed(ctx, &task.sku)?;
    Ok(vec![apply_count(
        &task,
        last.counted,
        last.expected,
        &item,
        by,
    )])
}

/// Drop a count task.
pub fn decide_cancel_count(ctx: &Ctx, task_id: &str, reason: &str, by: &str) -> Decision {
    let task = open_task(ctx, task_id)?;
    Ok(vec![Event::CountTaskCancelled {
        task_id: task_id.to_string(),
        sku: task.sku,
        reason: reason.trim().to_string(),
        by: by.to_string(),
    }])
}

/// What HQ should hear of `item`, if it changed since HQ last heard.
fn changed(item: &StockItem) -> Option<SkuAvailability> {
    let available = u64::try_from(item.available()).unwrap_or(0);
    (item.listed && item.published != Some(available)).then(|| SkuAvailability {
        sku: item.item.sku.clone(),
        available,
        on_hand: item.on_hand,
    })
}

/// The availability of the `candidates` whose value HQ has not heard yet
/// (coalesced: one value per SKU, however many movements made it).
pub fn decide_availability(ctx: &Ctx, candidates: &[String]) -> Decision {
    let items: Vec<SkuAvailability> = candidates
        .iter()
        .filter_map(|sku| ctx.view.item(sku))
        .filter_map(|i| changed(&i))
        .collect();
    Ok(items
        .chunks(AVAILABILITY_CHUNK)
        .map(|c| Event::AvailabilityChanged { items: c.to_vec() })
        .collect())
}

/// The availability of every listed SKU, in parts.
pub fn decide_availability_snapshot(ctx: &Ctx) -> Decision {
    let mut skus = ctx.view.stock_skus();
    skus.sort();
    let items: Vec<SkuAvailability> = skus
        .iter()
        .filter_map(|s| ctx.view.item(s))
        .filter(|i| i.listed)
        .map(|i| SkuAvailability {
            sku: i.item.sku.clone(),
            available: u64::try_from(i.available()).unwrap_or(0),
            on_hand: i.on_hand,
        })
        .collect();
    let parts = items.chunks(AVAILABILITY_CHUNK).count().max(1) as u32;
    let snapshot_id = format!("A{:x}", ctx.now_ms);
    if items.is_empty() {
        return Ok(vec![Event::AvailabilitySnapshot {
            snapshot_id,
            part: 1,
            parts: 1,
            items: vec![],
        }]);
    }
    Ok(items
        .chunks(AVAILABILITY_CHUNK)
        .enumerate()
        .map(|(i, c)| Event::AvailabilitySnapshot {
            snapshot_id: snapshot_id.clone(),
            part: i as u32 + 1,
            parts,
            items: c.to_vec(),
        })
        .collect())
}
