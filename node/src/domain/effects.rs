//! Each event's effect on stock and the store's settings: a pure function
//! of the order as it was before the event, the event and its time, so
//! `storenode verify` can replay it. The effects, and how each applies to
//! an SKU or the settings, are `inventory`'s; this is where orders, till
//! receipts and counts meet them (docs/stock.md).
use protocol::Event;

use super::inventory::{Effect, Move, PickupTimes};
use super::order::Order;

/// The stock effects of `event`, appended at `time_ms`, given the order as
/// it was before it.
pub fn effects(before: Option<&Order>, event: &Event, time_ms: u64) -> Vec<Effect> {
    let line_sku = |line_no: u32| {
        before
            .and_then(|o| o.line(line_no))
            .map(|(l, p)| (l.sku.clone(), l.quantity, p.picked))
    };
    let on_hand = |sku: &str, delta: i64, kind: Move| Effect::OnHand {
        sku: sku.to_string(),
        delta,
        kind,
    };
    match event {
        Event::OrderAccepted => before
            .map(|o| {
                o.reservable()
                    .into_iter()
                    .map(|q| Effect::Reserve {
                        sku: q.sku,
                        delta: i64::from(q.quantity),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Event::ItemPicked {
            line_no, quantity, ..
        } => match line_sku(*line_no) {
            Some((sku, _, _)) => vec![
                on_hand(&sku, -i64::from(*quantity), Move::Picked),
                Effect::Reserve {
                    sku,
                    delta: -i64::from(*quantity),
                },
            ],
            None => vec![],
        },
        Event::ItemShorted { line_no, found, .. }
        | Event::ItemShortedWithReason { line_no, found, .. } => match line_sku(*line_no) {
            Some((sku, want, picked)) => vec![
                on_hand(&sku, -i64::from(found.saturating_sub(picked)), Move::Picked),
                Effect::Reserve {
                    sku,
                    delta: -i64::from(want - picked),
                },
            ],
            None => vec![],
        },
        Event::ItemSubstituted {
            line_no,
            sku: sub,
            quantity,
            ..
        } => match line_sku(*line_no) {
            Some((sku, want, picked)) => vec![
                Effect::Reserve {
                    sku,
                    delta: -i64::from(want - picked),
                },
                on_hand(sub, -i64::from(*quantity), Move::Picked),
            ],
            None => vec![],
        },
        Event::OrderCancelled { .. }
        | Event::OrderRejected { .. }
        | Event::OrderRejectedWithCode { .. } => before
            .filter(|o| o.holds_reservation())
            .map(|o| {
                o.outstanding()
                    .into_iter()
                    .map(|q| Effect::Reserve {
                        sku: q.sku,
                        delta: -i64::from(q.quantity),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Event::OrderLinesRejected { lines, .. } => before
            .filter(|o| o.holds_reservation())
            .map(|o| {
                lines
                    .iter()
                    .filter_map(|l| o.reserved_for_line(l.line_no))
                    .map(|q| Effect::Reserve {
                        sku: q.sku,
                        delta: -i64::from(q.quantity),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Event::Restocked { items, .. } => items
            .iter()
            .map(|q| on_hand(&q.sku, i64::from(q.quantity), Move::Picked))
            .collect(),
        Event::StockAdjusted { sku, delta, .. } => vec![on_hand(sku, *delta, Move::Corrected)],
        Event::StockCounted { counts, .. } => counts
            .iter()
            .map(|q| Effect::Count {
                sku: q.sku.clone(),
                on_hand: i64::from(q.quantity),
                as_of_ms: time_ms,
            })
            .collect(),
        Event::CatalogImported { items } => items
            .iter()
            .cloned()
            .map(|item| Effect::Catalog {
                item,
                category: None,
            })
            .collect(),
        Event::CatalogEntriesImported { items } => items
            .iter()
            .cloned()
            .map(|e| Effect::Catalog {
                item: e.item,
                category: Some(e.category),
            })
            .collect(),
        Event::StoreClosed { reason, .. } => vec![Effect::Closed(Some(reason.clone()))],
        Event::StoreOpened { .. } => vec![Effect::Closed(None)],
        Event::PickupTimesChanged {
            expiry_s,
            reminder_s,
        } => vec![Effect::PickupTimes(PickupTimes {
            expiry_s: *expiry_s,
            reminder_s: *reminder_s,
        })],
        Event::TillReceiptRecorded {
            receipt,
            reverses,
            voided,
        } => super::stock::receipt_effects(receipt, reverses.as_ref(), *voided),
        Event::StockWrittenOff { sku, quantity, .. } => {
            vec![on_hand(sku, -i64::from(*quantity), Move::WrittenOff)]
        }
        Event::SafetyStockSet { scope, safety, .. } => vec![Effect::Safety {
            scope: scope.clone(),
            safety: *safety,
        }],
        Event::DeliveryReceived { lines, .. } => lines
            .iter()
            .map(|q| on_hand(&q.sku, i64::from(q.quantity), Move::Received))
            .collect(),
        Event::StockSnapshotReconciled {
            as_of_ms, items, ..
        } => items
            .iter()
            .map(|r| Effect::Count {
                sku: r.sku.clone(),
                on_hand: r.on_hand,
                as_of_ms: *as_of_ms,
            })
            .collect(),
        Event::CountTaskOpened { task_id, sku, .. } => vec![Effect::CountTask {
            sku: sku.clone(),
            task: Some(task_id.clone()),
        }],
        Event::CountTaskCancelled { sku, .. } => vec![Effect::CountTask {
            sku: sku.clone(),
            task: None,
        }],
        Event::CountApplied {
            sku,
            counted,
            moved_since,
            ..
        } => vec![
            Effect::Count {
                sku: sku.clone(),
                on_hand: i64::from(*counted).saturating_add(*moved_since),
                as_of_ms: time_ms,
            },
            Effect::CountTask {
                sku: sku.clone(),
                task: None,
            },
        ],
        Event::AvailabilityChanged { items } | Event::AvailabilitySnapshot { items, .. } => items
            .iter()
            .map(|a| Effect::Published {
                sku: a.sku.clone(),
                available: a.available,
            })
            .collect(),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inventory::tests::item;
    use crate::domain::inventory::{
        apply_to_item, decide_adjust, StockItem, MAX_ADJUST, MAX_STOCK,
    };
    use crate::domain::order::tests::{content, fold, picked_units, to_pick_list};
    use crate::domain::testing::Shelf;
    use crate::domain::Ctx;
    use protocol::Zone;

    proptest::proptest! {
        /// Any delta on any stock: decided without a panic; what is
        /// accepted is within the rule and leaves stock in range.
        #[test]
        fn adjust_never_overflows(
            delta in proptest::prop_oneof![
                proptest::strategy::Just(i64::MIN),
                proptest::strategy::Just(i64::MAX),
                proptest::strategy::Just(-(MAX_ADJUST as i64) - 1),
                proptest::strategy::Just(MAX_ADJUST as i64 + 1),
                proptest::num::i64::ANY,
                -200_000i64..200_000,
            ],
            on_hand in proptest::prop_oneof![
                proptest::strategy::Just(MAX_STOCK),
                proptest::strategy::Just(-MAX_STOCK),
                -1_000i64..1_000,
            ],
        ) {
            let mut shelf = Shelf::default().with("A", "73513537", 1, Zone::Ambient, 0);
            if let Some(i) = shelf.items.get_mut("A") {
                i.on_hand = on_hand;
            }
            let ctx = Ctx { order: None, view: &shelf, now_ms: 0 };
            if let Ok(events) = decide_adjust(&ctx, "A", delta, "recount", "ann") {
                proptest::prop_assert!(delta != 0 && delta.unsigned_abs() <= MAX_ADJUST);
                let after = events.iter().flat_map(|e| effects(None, e, 0)).fold(
                    shelf.items.get("A").cloned(),
                    |s, e| apply_to_item(s, &e),
                );
                let n = after.map(|s| s.on_hand).unwrap_or(0);
                proptest::prop_assert!(n.abs() <= MAX_STOCK, "{n}");
            }
        }
    }

    #[test]
    fn stock_follows_the_order() {
        // Reserve on accept; pick takes from shelf and reservation; a short
        // releases the rest; cancellation releases what is still reserved.
        let o = fold(vec![Event::OrderCreated(content())]).expect("o");
        let eff = effects(Some(&o), &Event::OrderAccepted, 0);
        assert_eq!(
            eff,
            vec![Effect::Reserve {
                sku: "MILK-1L".into(),
                delta: 2
            }]
        );
        let mut events = to_pick_list(Zone::Chilled);
        events.push(picked_units(1));
        let prepared = fold(events).expect("o");
        let mut start = StockItem::new(item("MILK-1L", "73513537"));
        start.on_hand = 5;
        start.reserved = 2;
        let mut s = Some(start);
        for e in effects(
            Some(&prepared),
            &Event::ItemShorted {
                line_no: 1,
                found: 1,
                by: "p".into(),
            },
            0,
        ) {
            s = apply_to_item(s, &e);
        }
        let s = s.expect("item");
        assert_eq!(
            (s.on_hand, s.reserved),
            (5, 1),
            "found 1 = the one already picked; the other unit released"
        );
        let cancel = Event::OrderCancelled {
            reason: "x".into(),
            stage: protocol::CancelStage::DuringPick,
            by: "m".into(),
        };
        assert_eq!(
            effects(Some(&prepared), &cancel, 0),
            vec![Effect::Reserve {
                sku: "MILK-1L".into(),
                delta: -1
            }]
        );
    }
}
