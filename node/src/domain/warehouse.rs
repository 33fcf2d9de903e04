//! Warehouse (picking): staff work the pick task, alone or in a batch walk.
//!
//! Each scan, short or substitute settles (part of) a line; the step that
//! settles the last line also closes the task: ShipmentProcessed, or, if
//! nothing at all could be taken, the order is cancelled.
use protocol::{CancelStage, Event, OrderId, ShortReason};

use super::order::{LineState, Order};
use super::staff::check_staff;
use super::{Ctx, Decision, OrderState, Rejection};

/// Where an order stands in the pick queue: late orders first, then by
/// promise time (orders without one after those with one), then in the
/// order they arrived.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueKey {
    /// 0 for late orders, 1 for the others.
    pub rank: u8,
    /// The promise time, `u64::MAX` when there is none.
    pub due_ms: u64,
    pub created_log_seq: u64,
    pub id: OrderId,
}

impl QueueKey {
    /// The order's place in the pick queue, if it is waiting for a picker.
    pub fn of(o: &Order) -> Option<QueueKey> {
        (o.state == OrderState::Prepared).then(|| QueueKey {
            rank: if o.late { 0 } else { 1 },
            due_ms: o.content.due_at_ms.unwrap_or(u64::MAX),
            created_log_seq: o.created_log_seq,
            id: o.id.clone(),
        })
    }
}

fn order<'a>(ctx: &Ctx<'a>) -> Result<&'a Order, Rejection> {
    ctx.order
        .ok_or_else(|| Rejection::UnknownOrder("(unknown)".into()))
}

/// The events that put the order into picking, if it is not yet.
fn start_if_needed(o: &Order, staff: &str, action: &'static str) -> Result<Vec<Event>, Rejection> {
    match o.state {
        OrderState::Prepared => Ok(vec![Event::PickStarted {
            walk_id: None,
            tote: 1,
            by: staff.to_string(),
        }]),
        OrderState::Picking => Ok(vec![]),
        state => Err(Rejection::WrongState { action, state }),
    }
}

/// An open line, or why not.
fn open_line(o: &Order, line_no: u32) -> Result<(&protocol::PickLine, u32), Rejection> {
    let (line, p) = o.line(line_no).ok_or(Rejection::UnknownLine(line_no))?;
    if p.state != LineState::Open {
        return Err(Rejection::LineSettled {
            line_no,
            state: p.state.name(),
        });
    }
    Ok((line, p.picked))
}

/// After settling `line_no` (taking `taken_now` more units of anything):
/// close the task if it was the last open line.
fn close_if_last(o: &Order, line_no: u32, taken_now: u32, staff: &str) -> Vec<Event> {
    let others_settled = o
        .pick_lines
        .iter()
        .zip(&o.progress)
        .all(|(l, p)| l.line_no == line_no || p.state != LineState::Open);
    if !others_settled {
        return vec![];
    }
    let taken_before: u32 = o.taken().iter().map(|q| q.quantity).sum();
    if taken_before + taken_now == 0 {
        return vec![Event::OrderCancelled {
            reason: "none of the items could be picked".into(),
            stage: CancelStage::DuringPick,
            by: staff.to_string(),
        }];
    }
    vec![Event::ShipmentProcessed {
        picked_by: staff.to_string(),
    }]
}

/// 1 to `open` units: no more than the line still needs.
fn within_open(line_no: u32, open: u32, quantity: u32) -> Result<(), Rejection> {
    if quantity == 0 || quantity > open {
        return Err(Rejection::TooMany {
            line_no,
            open,
            asked: quantity,
        });
    }
    Ok(())
}

/// The SKU a scanned barcode belongs to.
fn scanned_sku(ctx: &Ctx, barcode: &str) -> Result<String, Rejection> {
    ctx.view
        .sku_for_barcode(barcode.trim())
        .ok_or_else(|| Rejection::UnknownBarcode(barcode.trim().to_string()))
}

/// Display name of an SKU for messages: "Milk 1L (MILK-1L)".
fn label(ctx: &Ctx, sku: &str) -> String {
    match ctx.view.item(sku) {
        Some(i) => format!("{} ({sku})", i.item.name),
        None => sku.to_string(),
    }
}

/// A picker takes the order into tote `tote` of walk `walk_id`.
pub fn decide_start_pick(ctx: &Ctx, walk_id: Option<&str>, tote: u32, staff: &str) -> Decision {
    let o = order(ctx)?;
    check_staff(staff)?;
    if tote == 0 || tote > 99 {
        return Err(Rejection::Invalid {
            field: "tote".into(),
            reason: "must be between 1 and 99".into(),
        });
    }
    if let Some(w) = walk_id {
        if w.is_empty() || w.len() > 40 || !w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Rejection::Invalid {
                field: "walk_id".into(),
                reason: "must be 1 to 40 letters, digits or '-'".into(),
            });
        }
    }
    let start = Event::PickStarted {
        walk_id: walk_id.map(str::to_string),
        tote,
        by: staff.to_string(),
    };
    match o.state {
        OrderState::Prepared => Ok(vec![start]),
        OrderState::Picking
            if o.walk_id.as_deref() == walk_id
                && o.tote == Some(tote)
                && o.picker.as_deref() == Some(staff) =>
        {
            Ok(vec![])
        }
        // Handing the task to another picker (or walk) is allowed.
        OrderState::Picking => Ok(vec![start]),
        state => Err(Rejection::WrongState {
            action: "start picking it",
            state,
        }),
    }
}

/// A scan of `quantity` units for a line. The barcode must be the line's
/// item; a wrong one is refused with what it is.
pub fn decide_pick_item(
    ctx: &Ctx,
    line_no: u32,
    barcode: &str,
    quantity: u32,
    staff: &str,
) -> Decision {
    let o = order(ctx)?;
    check_staff(staff)?;
    let mut events = start_if_needed(o, staff, "pick it")?;
    let (line, picked) = open_line(o, line_no)?;
    let sku = scanned_sku(ctx, barcode)?;
    if sku != line.sku {
        return Err(Rejection::WrongBarcode {
            scanned: barcode.trim().to_string(),
            found: label(ctx, &sku),
            line_no,
            wanted: label(ctx, &line.sku),
        });
    }
    let open = line.quantity - picked;
    within_open(line_no, open, quantity)?;
    events.push(Event::ItemPicked {
        line_no,
        quantity,
        barcode: Some(barcode.trim().to_string()),
        by: staff.to_string(),
    });
    if quantity == open {
        events.extend(close_if_last(o, line_no, quantity, staff));
    }
    Ok(events)
}

/// The shelf had only `found` good units for the line (counting any
/// already scanned). The line is settled; the reason decides what happens
/// to stock (docs/stock.md):
///
/// - `not_found`: the count is in doubt. On hand becomes what the picker
///   found there (nothing is left once they took it) and a count task
///   opens; orders holding more of the SKU show "at risk".
/// - `damaged`, `out_of_date`: the `written_off` bad units leave stock;
///   the rest stay available. (`None`: the units the line lacked.)
/// - `other`: no stock change; the manager sees the short.
pub fn decide_short(
    ctx: &Ctx,
    line_no: u32,
    found: u32,
    reason: ShortReason,
    written_off: Option<u32>,
    staff: &str,
) -> Decision {
    let o = order(ctx)?;
    check_staff(staff)?;
    let mut events = start_if_needed(o, staff, "short a line")?;
    let (line, picked) = open_line(o, line_no)?;
    if found < picked || found >= line.quantity {
        return Err(Rejection::Invalid {
            field: "found".into(),
            reason: format!(
                "must be between {picked} (already picked) and {} (one less than ordered)",
                line.quantity - 1
            ),
        });
    }
    if written_off.is_some_and(|n| u64::from(n) > super::inventory::MAX_ADJUST) {
        return Err(Rejection::Invalid {
            field: "written_off".into(),
            reason: format!("must be 0 to {}", super::inventory::MAX_ADJUST),
        });
    }
    let taken_now = found - picked;
    events.push(Event::ItemShortedWithReason {
        line_no,
        found,
        reason,
        by: staff.to_string(),
    });
    match reason {
        ShortReason::NotFound => {
            // What the picker saw is what was there: they took it all.
            events.push(Event::StockCounted {
                counts: vec![protocol::SkuQuantity {
                    sku: line.sku.clone(),
                    quantity: 0,
                }],
                by: staff.to_string(),
            });
            events.extend(super::stock::count_task_for(
                ctx,
                &line.sku,
                protocol::CountReason::NotFound,
                format!(
                    "short pick on order {} line {line_no}: {found} of {} found",
                    o.id, line.quantity
                ),
            ));
        }
        ShortReason::Damaged | ShortReason::OutOfDate => {
            let bad = written_off.unwrap_or(line.quantity - found);
            if bad > 0 {
                events.push(Event::StockWrittenOff {
                    sku: line.sku.clone(),
                    quantity: bad,
                    reason: if reason == ShortReason::Damaged {
                        protocol::WriteOffReason::Damaged
                    } else {
                        protocol::WriteOffReason::OutOfDate
                    },
                    note: format!("short pick on order {} line {line_no}", o.id),
                    by: staff.to_string(),
                });
            }
        }
        ShortReason::Other => {}
    }
    events.extend(close_if_last(o, line_no, taken_now, staff));
    Ok(events)
}

/// Settle a line with another item, if the customer allowed it. Charged at
/// the substitute's shelf price.
pub fn decide_substitute(
    ctx: &Ctx,
    line_no: u32,
    barcode: &str,
    quantity: u32,
    staff: &str,
) -> Decision {
    let o = order(ctx)?;
    check_staff(staff)?;
    let mut events = start_if_needed(o, staff, "substitute a line")?;
    let (line, picked) = open_line(o, line_no)?;
    let allowed = o
        .content
        .lines
        .get(line_no as usize - 1)
        .is_some_and(|l| l.substitution_allowed);
    if !allowed {
        return Err(Rejection::NoSubstitution(line_no));
    }
    let sku = scanned_sku(ctx, barcode)?;
    if sku == line.sku {
        return Err(Rejection::Invalid {
            field: "barcode".into(),
            reason: format!(
                "{} is the ordered item: scan it as a pick",
                label(ctx, &sku)
            ),
        });
    }
    // No more than the line still needs: the customer is charged for it.
    let open = line.quantity - picked;
    within_open(line_no, open, quantity)?;
    // Only units no other order holds: taking reserved ones would leave
    // that order short on the shelf.
    let free = ctx.view.item(&sku).map_or(0, |i| i.available());
    if free < i64::from(quantity) {
        return Err(Rejection::Invalid {
            field: "quantity".into(),
            reason: format!(
                "only {} of {} are free (the rest is reserved for other orders): substitute fewer, or another item",
                free.max(0),
                label(ctx, &sku)
            ),
        });
    }
    let price = ctx.view.item(&sku).map_or(0, |i| i.item.unit_price_cents);
    events.push(Event::ItemSubstituted {
        line_no,
        sku,
        quantity,
        unit_price_cents: price,
        barcode: barcode.trim().to_string(),
        by: staff.to_string(),
    });
    events.extend(close_if_last(o, line_no, quantity + picked, staff));
    Ok(events)
}

/// Staff confirm the whole order picked without scanning: every open line
/// in full. Repeating it for an order already picked (or further) is a
/// no-op, so a retried request applies once.
pub fn decide_mark_picked(ctx: &Ctx, staff: &str) -> Decision {
    let o = order(ctx)?;
    check_staff(staff)?;
    if matches!(
        o.state,
        OrderState::Picked | OrderState::Staged | OrderState::Ready | OrderState::Fulfilled
    ) {
        return Ok(vec![]);
    }
    let mut events = start_if_needed(o, staff, "mark it picked")?;
    for (l, p) in o.pick_lines.iter().zip(&o.progress) {
        if p.state == LineState::Open && l.quantity > p.picked {
            events.push(Event::ItemPicked {
                line_no: l.line_no,
                quantity: l.quantity - p.picked,
                barcode: None,
                by: staff.to_string(),
            });
        }
    }
    events.push(Event::ShipmentProcessed {
        picked_by: staff.to_string(),
    });
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::apply;
    use crate::domain::order::tests::{content, env, fold};
    use crate::domain::testing::Shelf;
    use protocol::{OrderLine, PaymentMode, Zone};

    const MILK: &str = "4006381333931";
    const OAT: &str = "73513537";
    const BREAD: &str = "036000291452";

    fn shelf() -> Shelf {
        Shelf::default()
            .with("MILK-1L", MILK, 2, Zone::Chilled, 10)
            .with("OAT-1L", OAT, 2, Zone::Chilled, 10)
            .with("BREAD", BREAD, 1, Zone::Ambient, 10)
    }

    /// An order with milk ×2 (substitutes allowed) and bread ×1 (not),
    /// ready to pick.
    fn prepared() -> Order {
        let mut c = content();
        c.lines.push(OrderLine {
            sku: "BREAD".into(),
            quantity: 1,
            unit_price_cents: 300,
            substitution_allowed: false,
        });
        let shelf = shelf();
        let o = fold(vec![
            Event::OrderCreated(c),
            Event::OrderAccepted,
            Event::OrderProcessed {
                payment: PaymentMode::Prepaid,
            },
        ])
        .expect("o");
        let ctx = Ctx {
            order: Some(&o),
            view: &shelf,
            now_ms: 0,
        };
        let events = crate::domain::fulfillment::on_processed(&ctx).expect("prepared");
        events
            .into_iter()
            .enumerate()
            .try_fold(o, |o, (i, e)| apply(Some(o), &env(10 + i as u64, e)))
            .expect("o")
    }

    fn run(o: &Order, f: impl FnOnce(&Ctx) -> Decision) -> Decision {
        let shelf = shelf();
        f(&Ctx {
            order: Some(o),
            view: &shelf,
            now_ms: 0,
        })
    }

    fn kinds(d: &Decision) -> Result<Vec<&'static str>, String> {
        d.as_ref()
            .map(|e| e.iter().map(|e| e.kind().name()).collect())
            .map_err(|r| r.to_string())
    }

    #[test]
    fn picking_rules() {
        let o = prepared();
        // Walking order: bread (aisle 1) is line 2, milk (aisle 2) is line 1.
        assert_eq!(
            o.pick_lines.iter().map(|l| l.line_no).collect::<Vec<_>>(),
            vec![2, 1]
        );
        type Row = (
            &'static str,
            Box<dyn Fn(&Ctx) -> Decision>,
            Result<Vec<&'static str>, String>,
        );
        let rows: Vec<Row> = vec![
            ("scan the right item (starts the task)", Box::new(|c| decide_pick_item(c, 1, MILK, 1, "ann")), Ok(vec!["pick_started", "item_picked"])),
            ("wrong barcode refused with what it is", Box::new(|c| decide_pick_item(c, 1, OAT, 1, "ann")),
                Err("wrong item: barcode 73513537 is OAT-1L name (OAT-1L), line 1 wants MILK-1L name (MILK-1L)".into())),
            ("unknown barcode", Box::new(|c| decide_pick_item(c, 1, "12345670", 1, "ann")), Err("barcode 12345670 is not in this store's catalog".into())),
            ("too many", Box::new(|c| decide_pick_item(c, 1, MILK, 3, "ann")), Err("line 1 needs 2 more, not 3".into())),
            ("unknown line", Box::new(|c| decide_pick_item(c, 9, MILK, 1, "ann")), Err("order has no line 9".into())),
            ("a damaged short writes off the bad units only", Box::new(|c| decide_short(c, 1, 1, ShortReason::Damaged, Some(1), "ann")), Ok(vec!["pick_started", "item_shorted", "stock_written_off"])),
            ("a not-found short puts the count in doubt", Box::new(|c| decide_short(c, 1, 1, ShortReason::NotFound, None, "ann")), Ok(vec!["pick_started", "item_shorted", "stock_counted", "count_task_opened"])),
            ("an other short changes no stock", Box::new(|c| decide_short(c, 1, 1, ShortReason::Other, None, "ann")), Ok(vec!["pick_started", "item_shorted"])),
            ("short found must be below ordered", Box::new(|c| decide_short(c, 1, 2, ShortReason::NotFound, None, "ann")), Err("found: must be between 0 (already picked) and 1 (one less than ordered)".into())),
            ("substitute allowed", Box::new(|c| decide_substitute(c, 1, OAT, 2, "ann")), Ok(vec!["pick_started", "item_substituted"])),
            ("substitute no more than the line needs", Box::new(|c| decide_substitute(c, 1, OAT, 3, "ann")), Err("line 1 needs 2 more, not 3".into())),
            ("substitute not allowed", Box::new(|c| decide_substitute(c, 2, MILK, 1, "ann")), Err("the customer did not allow a substitute for line 2".into())),
            ("substitute with the same item", Box::new(|c| decide_substitute(c, 1, MILK, 1, "ann")), Err("barcode: MILK-1L name (MILK-1L) is the ordered item: scan it as a pick".into())),
            ("mark all picked", Box::new(|c| decide_mark_picked(c, "ann")), Ok(vec!["pick_started", "item_picked", "item_picked", "shipment_processed"])),
            ("start a batch walk", Box::new(|c| decide_start_pick(c, Some("W-1"), 2, "ann")), Ok(vec!["pick_started"])),
            ("tote out of range", Box::new(|c| decide_start_pick(c, None, 0, "ann")), Err("tote: must be between 1 and 99".into())),
        ];
        for (name, f, want) in rows {
            assert_eq!(kinds(&run(&o, f)), want, "{name}");
        }
    }

    /// Regression (#12): a substitution took units reserved for other
    /// orders (`decide_substitute` never looked at availability).
    #[test]
    fn a_substitute_takes_only_free_units() {
        let o = prepared();
        let mut shelf = shelf();
        if let Some(oat) = shelf.items.get_mut("OAT-1L") {
            oat.on_hand = 3;
            oat.reserved = 2; // another order's
        }
        let ctx = Ctx {
            order: Some(&o),
            view: &shelf,
            now_ms: 0,
        };
        assert_eq!(
            kinds(&decide_substitute(&ctx, 1, OAT, 2, "ann")),
            Err("quantity: only 1 of OAT-1L name (OAT-1L) are free (the rest is reserved for other orders): substitute fewer, or another item".into())
        );
        assert_eq!(
            kinds(&decide_substitute(&ctx, 1, OAT, 1, "ann")),
            Ok(vec!["pick_started", "item_substituted"])
        );
    }

    #[test]
    fn the_last_settled_line_closes_the_task() {
        let mut o = prepared();
        let mut seq = 20;
        let mut step = |o: &mut Order, d: Decision| {
            for e in d.expect("decided") {
                seq += 1;
                *o = apply(Some(o.clone()), &env(seq, e)).expect("o");
            }
        };
        let d = run(&o, |c| decide_pick_item(c, 2, BREAD, 1, "ann"));
        step(&mut o, d);
        assert_eq!(o.state, OrderState::Picking);
        // A settled line cannot be picked again.
        assert_eq!(
            kinds(&run(&o, |c| decide_pick_item(c, 2, BREAD, 1, "ann"))),
            Err("line 2 is already picked".into())
        );
        let d = run(&o, |c| decide_pick_item(c, 1, MILK, 1, "ann"));
        step(&mut o, d);
        assert_eq!(o.state, OrderState::Picking);
        // Substituting the rest of the milk line (1 picked + oat) closes it.
        let last = run(&o, |c| decide_substitute(c, 1, OAT, 1, "ann"));
        assert_eq!(
            kinds(&last),
            Ok(vec!["item_substituted", "shipment_processed"])
        );
        step(&mut o, last);
        assert_eq!(o.state, OrderState::Picked);
        let taken: Vec<(String, u32)> =
            o.taken().into_iter().map(|q| (q.sku, q.quantity)).collect();
        assert_eq!(
            taken,
            vec![
                ("BREAD".into(), 1),
                ("MILK-1L".into(), 1),
                ("OAT-1L".into(), 1)
            ]
        );
        // Repeats after the fact are no-ops or refusals, never a second pick.
        assert_eq!(run(&o, |c| decide_mark_picked(c, "ann")), Ok(vec![]));
        assert!(run(&o, |c| decide_pick_item(c, 1, MILK, 1, "ann")).is_err());
    }

    #[test]
    fn nothing_found_cancels_the_order() {
        let mut o = prepared();
        let mut seq = 20;
        for d in [run(&o, |c| {
            decide_short(c, 2, 0, ShortReason::NotFound, None, "ann")
        })] {
            for e in d.expect("ok") {
                seq += 1;
                o = apply(Some(o), &env(seq, e)).expect("o");
            }
        }
        let d = run(&o, |c| {
            decide_short(c, 1, 0, ShortReason::OutOfDate, None, "ann")
        });
        assert_eq!(
            kinds(&d),
            Ok(vec!["item_shorted", "stock_written_off", "order_cancelled"])
        );
    }
}
