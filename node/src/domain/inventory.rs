//! Inventory: catalog, stock on hand, reservations, store settings.
//!
//! Stock is a projection of the log like everything else: each event's
//! effect on it is given by [`effects`] (a pure function of the order as it
//! was before the event and the event), so `storenode verify` can replay it.
use protocol::{CatalogItem, Event, SkuQuantity};
use serde::{Deserialize, Serialize};

use super::order::{check_sku, Order};
use super::{Ctx, Decision, Rejection};

/// One SKU: its catalog entry, what is on the shelf, and what open orders
/// hold of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockItem {
    pub item: CatalogItem,
    pub on_hand: i64,
    pub reserved: i64,
}

impl StockItem {
    /// What a new order may still reserve.
    pub fn available(&self) -> i64 {
        self.on_hand.saturating_sub(self.reserved)
    }
}

/// Store-wide settings kept in the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// `Some(reason)` while the store takes no orders.
    pub closed: Option<String>,
    /// The store's own pickup window and reminder (`None`: the node's
    /// configuration, `pickup.expiry_s` and `pickup.reminder_s`).
    pub pickup: Option<PickupTimes>,
}

/// How long a ready order waits, and when the customer is reminded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickupTimes {
    pub expiry_s: u64,
    /// Seconds before expiry; 0: no reminder.
    pub reminder_s: u64,
}

impl Site {
    /// The pickup window in force: the store's, else `default`.
    pub fn pickup_times(&self, default: PickupTimes) -> PickupTimes {
        self.pickup.unwrap_or(default)
    }
}

/// The settings record as written before the store could set its own
/// pickup window (read at open, then rewritten in the new form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteV1 {
    pub closed: Option<String>,
}

impl From<SiteV1> for Site {
    fn from(v: SiteV1) -> Self {
        Site {
            closed: v.closed,
            pickup: None,
        }
    }
}

/// One change an event makes to stock or settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Catalog(CatalogItem),
    OnHand { sku: String, delta: i64 },
    Count { sku: String, on_hand: i64 },
    Reserve { sku: String, delta: i64 },
    Closed(Option<String>),
    PickupTimes(PickupTimes),
}

/// The stock effects of `event`, given the order as it was before it.
pub fn effects(before: Option<&Order>, event: &Event) -> Vec<Effect> {
    let line_sku = |line_no: u32| {
        before
            .and_then(|o| o.line(line_no))
            .map(|(l, p)| (l.sku.clone(), l.quantity, p.picked))
    };
    match event {
        Event::OrderAccepted => before
            .map(|o| {
                o.content
                    .lines
                    .iter()
                    .map(|l| Effect::Reserve {
                        sku: l.sku.clone(),
                        delta: i64::from(l.quantity),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Event::ItemPicked {
            line_no, quantity, ..
        } => match line_sku(*line_no) {
            Some((sku, _, _)) => vec![
                Effect::OnHand {
                    sku: sku.clone(),
                    delta: -i64::from(*quantity),
                },
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
                Effect::OnHand {
                    sku: sku.clone(),
                    delta: -i64::from(found.saturating_sub(picked)),
                },
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
                Effect::OnHand {
                    sku: sub.clone(),
                    delta: -i64::from(*quantity),
                },
            ],
            None => vec![],
        },
        Event::OrderCancelled { .. } => before
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
        Event::Restocked { items, .. } => items
            .iter()
            .map(|q| Effect::OnHand {
                sku: q.sku.clone(),
                delta: i64::from(q.quantity),
            })
            .collect(),
        Event::StockAdjusted { sku, delta, .. } => vec![Effect::OnHand {
            sku: sku.clone(),
            delta: *delta,
        }],
        Event::StockCounted { counts, .. } => counts
            .iter()
            .map(|q| Effect::Count {
                sku: q.sku.clone(),
                on_hand: i64::from(q.quantity),
            })
            .collect(),
        Event::CatalogImported { items } => items.iter().cloned().map(Effect::Catalog).collect(),
        Event::StoreClosed { reason, .. } => vec![Effect::Closed(Some(reason.clone()))],
        Event::StoreOpened { .. } => vec![Effect::Closed(None)],
        Event::PickupTimesChanged {
            expiry_s,
            reminder_s,
        } => vec![Effect::PickupTimes(PickupTimes {
            expiry_s: *expiry_s,
            reminder_s: *reminder_s,
        })],
        _ => vec![],
    }
}

/// The SKU an effect changes, if any.
pub fn effect_sku(e: &Effect) -> Option<&str> {
    match e {
        Effect::Catalog(i) => Some(&i.sku),
        Effect::OnHand { sku, .. } | Effect::Count { sku, .. } | Effect::Reserve { sku, .. } => {
            Some(sku)
        }
        Effect::Closed(_) | Effect::PickupTimes(_) => None,
    }
}

/// Apply an effect to one SKU's stock (`None`: not in the catalog yet).
pub fn apply_to_item(item: Option<StockItem>, e: &Effect) -> Option<StockItem> {
    match (item, e) {
        (Some(mut s), Effect::Catalog(c)) => {
            s.item = c.clone();
            Some(s)
        }
        (None, Effect::Catalog(c)) => Some(StockItem {
            item: c.clone(),
            on_hand: 0,
            reserved: 0,
        }),
        (Some(mut s), Effect::OnHand { delta, .. }) => {
            // Decisions keep stock far inside i64 (`MAX_STOCK`); a
            // projection never panics or wraps even so.
            s.on_hand = s.on_hand.saturating_add(*delta);
            Some(s)
        }
        (Some(mut s), Effect::Count { on_hand, .. }) => {
            s.on_hand = *on_hand;
            Some(s)
        }
        (Some(mut s), Effect::Reserve { delta, .. }) => {
            s.reserved = s.reserved.saturating_add(*delta).max(0);
            Some(s)
        }
        (item, _) => item,
    }
}

/// Apply a settings effect.
pub fn apply_to_site(site: Site, e: &Effect) -> Site {
    match e {
        Effect::Closed(c) => Site {
            closed: c.clone(),
            ..site
        },
        Effect::PickupTimes(p) => Site {
            pickup: Some(*p),
            ..site
        },
        _ => site,
    }
}

/// Whether `code` is a GTIN/EAN (8, 12, 13 or 14 digits) with a correct
/// check digit.
pub fn valid_gtin(code: &str) -> bool {
    protocol::gtin::is_valid(code)
}

/// Check one catalog item; the problem names its field.
pub fn check_item(item: &CatalogItem) -> Result<(), Rejection> {
    let invalid = |field: &str, reason: String| Rejection::Invalid {
        field: field.to_string(),
        reason,
    };
    check_sku("sku".into(), &item.sku)?;
    let name = item.name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        return Err(invalid("name", "must be 1 to 120 characters".into()));
    }
    if item.barcodes.is_empty() || item.barcodes.len() > 8 {
        return Err(invalid("barcodes", "an item needs 1 to 8 barcodes".into()));
    }
    if let Some(bad) = item.barcodes.iter().find(|b| !valid_gtin(b)) {
        return Err(invalid(
            "barcodes",
            format!("{bad:?} is not a GTIN/EAN-8, -12, -13 or -14 with a correct check digit"),
        ));
    }
    if item.unit_price_cents < 0 {
        return Err(invalid("unit_price_cents", "must not be negative".into()));
    }
    Ok(())
}

/// Most items per CatalogImported event (keeps log entries small).
pub const IMPORT_CHUNK: usize = 200;

/// Import catalog items and stock counts. Every item and count must be
/// valid (the import file's per-row report is made before this); a barcode
/// may belong to only one SKU.
pub fn decide_import(ctx: &Ctx, items: &[CatalogItem], stock: &[SkuQuantity]) -> Decision {
    if items.is_empty() && stock.is_empty() {
        return Err(Rejection::Invalid {
            field: "items".into(),
            reason: "nothing to import".into(),
        });
    }
    let mut seen = std::collections::HashMap::new();
    for (i, item) in items.iter().enumerate() {
        check_item(item).map_err(|r| match r {
            Rejection::Invalid { field, reason } => Rejection::Invalid {
                field: format!("items[{i}].{field}"),
                reason,
            },
            r => r,
        })?;
        for b in &item.barcodes {
            let owner = seen
                .insert(b.clone(), item.sku.clone())
                .or_else(|| ctx.view.sku_for_barcode(b));
            if let Some(owner) = owner.filter(|o| *o != item.sku) {
                return Err(Rejection::Invalid {
                    field: format!("items[{i}].barcodes"),
                    reason: format!("barcode {b} already belongs to SKU {owner}"),
                });
            }
        }
    }
    let imported: std::collections::HashSet<&str> = items.iter().map(|i| i.sku.as_str()).collect();
    for (i, q) in stock.iter().enumerate() {
        if !imported.contains(q.sku.as_str()) && ctx.view.item(&q.sku).is_none() {
            return Err(Rejection::Invalid {
                field: format!("stock[{i}].sku"),
                reason: format!("SKU {} is not in the catalog", q.sku),
            });
        }
    }
    let mut events: Vec<Event> = items
        .chunks(IMPORT_CHUNK)
        .map(|c| Event::CatalogImported { items: c.to_vec() })
        .collect();
    events.extend(stock.chunks(IMPORT_CHUNK).map(|c| Event::StockCounted {
        counts: c.to_vec(),
        by: "import".into(),
    }));
    Ok(events)
}

/// A cycle count of the SKUs at one location.
pub fn decide_count(ctx: &Ctx, counts: &[SkuQuantity], staff: &str) -> Decision {
    super::warehouse::check_staff(staff)?;
    if counts.is_empty() {
        return Err(Rejection::Invalid {
            field: "counts".into(),
            reason: "count at least one SKU".into(),
        });
    }
    if let Some(q) = counts.iter().find(|q| ctx.view.item(&q.sku).is_none()) {
        return Err(Rejection::UnknownSku(q.sku.clone()));
    }
    Ok(vec![Event::StockCounted {
        counts: counts.to_vec(),
        by: staff.to_string(),
    }])
}

/// Most units one adjustment may add or remove.
pub const MAX_ADJUST: u64 = 100_000;

/// Most units of one SKU a store may hold on its shelves, either way
/// (a count or adjustment beyond it is a typo or an attack, not stock).
pub const MAX_STOCK: i64 = 1_000_000_000_000;

/// A manual correction of on-hand stock.
pub fn decide_adjust(ctx: &Ctx, sku: &str, delta: i64, reason: &str, staff: &str) -> Decision {
    super::warehouse::check_staff(staff)?;
    let Some(item) = ctx.view.item(sku) else {
        return Err(Rejection::UnknownSku(sku.to_string()));
    };
    // `unsigned_abs`: `i64::MIN.abs()` overflows (and wrapped to a
    // negative number that passed the check).
    if delta == 0 || delta.unsigned_abs() > MAX_ADJUST {
        return Err(Rejection::Invalid {
            field: "delta".into(),
            reason: format!("must be a non-zero change of at most {MAX_ADJUST} either way"),
        });
    }
    match item.on_hand.checked_add(delta) {
        Some(n) if n.abs() <= MAX_STOCK => {}
        _ => {
            return Err(Rejection::Invalid {
                field: "delta".into(),
                reason: format!(
                    "would take on-hand stock of {sku} from {} past ±{MAX_STOCK}",
                    item.on_hand
                ),
            })
        }
    }
    if reason.trim().is_empty() {
        return Err(Rejection::Invalid {
            field: "reason".into(),
            reason: "say why (damaged, found, delivery …)".into(),
        });
    }
    Ok(vec![Event::StockAdjusted {
        sku: sku.to_string(),
        delta,
        reason: format!("{} (by {staff})", reason.trim()),
    }])
}

/// Open or close the store for new orders. Repeats are no-ops.
pub fn decide_set_open(ctx: &Ctx, open: bool, reason: &str, staff: &str) -> Decision {
    super::warehouse::check_staff(staff)?;
    let closed = ctx.view.site().closed.is_some();
    Ok(match (open, closed) {
        (true, true) => vec![Event::StoreOpened {
            by: staff.to_string(),
        }],
        (false, false) => {
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(Rejection::Invalid {
                    field: "reason".into(),
                    reason: "say why the store is closed (customers' orders are refused with it)"
                        .into(),
                });
            }
            vec![Event::StoreClosed {
                reason: reason.to_string(),
                by: staff.to_string(),
            }]
        }
        _ => vec![],
    })
}

/// Shortest pickup window a store may set (a minute: tests and drills);
/// longest: 90 days.
pub const MIN_EXPIRY_S: u64 = 60;
pub const MAX_EXPIRY_S: u64 = 90 * 86_400;

/// Set the store's pickup window and reminder. The reminder comes before
/// expiry (or is 0: none). Setting what is in force already is a no-op.
pub fn decide_pickup_times(ctx: &Ctx, expiry_s: u64, reminder_s: u64) -> Decision {
    if !(MIN_EXPIRY_S..=MAX_EXPIRY_S).contains(&expiry_s) {
        return Err(Rejection::Invalid {
            field: "expiry_s".into(),
            reason: format!("must be between {MIN_EXPIRY_S} s and 90 days"),
        });
    }
    if reminder_s >= expiry_s {
        return Err(Rejection::Invalid {
            field: "reminder_s".into(),
            reason: "must be shorter than the pickup window (or 0 for no reminder)".into(),
        });
    }
    let want = PickupTimes {
        expiry_s,
        reminder_s,
    };
    if ctx.view.site().pickup == Some(want) {
        return Ok(vec![]);
    }
    Ok(vec![Event::PickupTimesChanged {
        expiry_s,
        reminder_s,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::tests::{content, fold, picked_units, to_pick_list};
    use crate::domain::testing::Shelf;
    use protocol::{Location, Zone};

    fn item(sku: &str, barcode: &str) -> CatalogItem {
        CatalogItem {
            sku: sku.into(),
            name: "Milk".into(),
            barcodes: vec![barcode.into()],
            location: Location {
                aisle: 1,
                bay: 1,
                shelf: 1,
            },
            zone: Zone::Chilled,
            unit_price_cents: 100,
            age_restricted: false,
        }
    }

    #[test]
    fn import_rules() {
        let shelf = Shelf::default().with("OLD", "73513537", 1, Zone::Ambient, 1);
        let ctx = Ctx {
            order: None,
            view: &shelf,
            now_ms: 0,
        };
        let q = |sku: &str, n| SkuQuantity {
            sku: sku.into(),
            quantity: n,
        };
        let got = decide_import(
            &ctx,
            &[item("A", "4006381333931")],
            &[q("A", 5), q("OLD", 2)],
        )
        .expect("ok");
        assert_eq!(got.len(), 2);
        let rows: Vec<(Vec<CatalogItem>, Vec<SkuQuantity>, &str)> = vec![
            (
                vec![item("A", "4006381333932")],
                vec![],
                "items[0].barcodes",
            ),
            (vec![item("a b", "4006381333931")], vec![], "items[0].sku"),
            (vec![item("A", "73513537")], vec![], "items[0].barcodes"), // OLD's barcode
            (
                vec![item("A", "4006381333931"), item("B", "4006381333931")],
                vec![],
                "items[1].barcodes",
            ),
            (vec![], vec![q("NOPE", 1)], "stock[0].sku"),
            (vec![], vec![], "items"),
        ];
        for (items, stock, field) in rows {
            match decide_import(&ctx, &items, &stock) {
                Err(Rejection::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

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
                let after = events.iter().flat_map(|e| effects(None, e)).fold(
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
        let eff = effects(Some(&o), &Event::OrderAccepted);
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
        let mut s = Some(StockItem {
            item: item("MILK-1L", "73513537"),
            on_hand: 5,
            reserved: 2,
        });
        for e in effects(
            Some(&prepared),
            &Event::ItemShorted {
                line_no: 1,
                found: 1,
                by: "p".into(),
            },
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
            effects(Some(&prepared), &cancel),
            vec![Effect::Reserve {
                sku: "MILK-1L".into(),
                delta: -1
            }]
        );
    }

    #[test]
    fn open_close_and_adjust() {
        let shelf = Shelf::default().with("A", "73513537", 1, Zone::Ambient, 1);
        let ctx = Ctx {
            order: None,
            view: &shelf,
            now_ms: 0,
        };
        assert_eq!(decide_set_open(&ctx, true, "", "m"), Ok(vec![]));
        assert!(decide_set_open(&ctx, false, " ", "m").is_err());
        assert_eq!(
            decide_set_open(&ctx, false, "flood", "m").map(|e| e.len()),
            Ok(1)
        );
        assert_eq!(
            decide_adjust(&ctx, "Z", 1, "found", "m"),
            Err(Rejection::UnknownSku("Z".into()))
        );
        assert!(decide_adjust(&ctx, "A", 0, "found", "m").is_err());
        assert_eq!(
            decide_adjust(&ctx, "A", -1, "damaged", "m").map(|e| e.len()),
            Ok(1)
        );
        assert_eq!(
            decide_count(
                &ctx,
                &[SkuQuantity {
                    sku: "Z".into(),
                    quantity: 1
                }],
                "m"
            ),
            Err(Rejection::UnknownSku("Z".into()))
        );
    }
}
