use super::*;
use crate::domain::testing::Shelf;
use protocol::{Actor, ChainHash, EventId, OrderLine, StoreId, Zone};

pub(crate) fn content() -> NewOrder {
    NewOrder {
        customer_name: "Ada".into(),
        lines: vec![OrderLine {
            sku: "MILK-1L".into(),
            quantity: 2,
            unit_price_cents: 129,
            substitution_allowed: true,
        }],
        due_at_ms: None,
        payment: PaymentMode::Prepaid,
        pickup_token: None,
    }
}

pub(crate) fn env(seq: u64, event: Event) -> Envelope {
    Envelope {
        event_id: EventId::from_bytes([seq as u8; 16]),
        causation_id: None,
        store_id: StoreId::new("s").expect("valid"),
        order_id: OrderId::new("o1").expect("valid"),
        order_seq: seq,
        log_seq: seq + 10,
        time_ms: 1000 + seq,
        schema: 2,
        actor: Actor::Api,
        event,
        prev_hash: ChainHash::default(),
    }
}

/// Fold events into an order, numbering them.
pub(crate) fn fold(events: Vec<Event>) -> Option<Order> {
    events
        .into_iter()
        .enumerate()
        .fold(None, |o, (i, e)| apply(o, &env(i as u64 + 1, e)))
}

/// The events that take [`content`] (milk ×2) to a pick list, its one
/// line in `zone`.
pub(crate) fn to_pick_list(zone: Zone) -> Vec<Event> {
    vec![
        Event::OrderCreated(content()),
        Event::OrderAccepted,
        Event::OrderProcessed {
            payment: PaymentMode::Prepaid,
        },
        Event::ShipmentPrepared {
            lines: vec![PickLine {
                line_no: 1,
                sku: "MILK-1L".into(),
                quantity: 2,
                location: protocol::Location {
                    aisle: 1,
                    bay: 1,
                    shelf: 1,
                },
                zone,
            }],
        },
    ]
}

/// `quantity` units of line 1 picked without a scan.
pub(crate) fn picked_units(quantity: u32) -> Event {
    Event::ItemPicked {
        line_no: 1,
        quantity,
        barcode: None,
        by: "p".into(),
    }
}

pub(crate) fn keys() -> pickup::PickupKeys {
    pickup::PickupKeys::new(
        StoreId::new("s").expect("valid"),
        ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
        vec![],
    )
}

#[test]
fn create_is_idempotent_on_id_and_content() {
    let id = OrderId::new("o1").expect("valid");
    let o = apply(None, &env(1, Event::OrderCreated(content()))).expect("created");
    let mut other = content();
    other.lines[0].quantity = 3;
    let rows: Vec<(Option<&Order>, NewOrder, Decision)> = vec![
        (None, content(), Ok(vec![Event::OrderCreated(content())])),
        (Some(&o), content(), Ok(vec![])),
        (
            Some(&o),
            other,
            Err(Rejection::ConflictingOrder("o1".into())),
        ),
    ];
    for (existing, c, want) in rows {
        assert_eq!(decide_create(existing, &id, &c, None), want);
    }
    // The order's own policy is part of it: recorded after it, and a
    // resend with another policy is another order.
    let allow = Some(Partial::Allow);
    assert_eq!(
        decide_create(None, &id, &content(), allow),
        Ok(vec![
            Event::OrderCreated(content()),
            Event::OrderPartialPolicy {
                partial: Partial::Allow
            }
        ])
    );
    assert_eq!(
        decide_create(Some(&o), &id, &content(), allow),
        Err(Rejection::ConflictingOrder("o1".into()))
    );
    let reserved = OrderId::new("_store").expect("valid");
    assert!(matches!(
        decide_create(None, &reserved, &content(), None),
        Err(Rejection::Invalid { field, .. }) if field == "order_id"
    ));
}

#[test]
fn invalid_content_names_the_field() {
    let id = OrderId::new("o1").expect("valid");
    type Mutation = Box<dyn Fn(&mut NewOrder)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (Box::new(|c| c.customer_name = "  ".into()), "customer_name"),
        (Box::new(|c| c.lines.clear()), "lines"),
        (Box::new(|c| c.lines[0].quantity = 0), "lines[0].quantity"),
        (
            Box::new(|c| c.lines[0].quantity = 1000),
            "lines[0].quantity",
        ),
        (Box::new(|c| c.lines[0].sku = "a b".into()), "lines[0].sku"),
        (
            Box::new(|c| c.lines[0].unit_price_cents = -1),
            "lines[0].unit_price_cents",
        ),
        (
            Box::new(|c| c.pickup_token = Some("123456".into())),
            "pickup_token",
        ),
    ];
    for (mutate, field) in cases {
        let mut c = content();
        mutate(&mut c);
        match decide_create(None, &id, &c, None) {
            Err(Rejection::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: got {other:?}"),
        }
    }
}

#[test]
fn acceptance_rules() {
    let created = fold(vec![Event::OrderCreated(content())]).expect("order");
    let stocked = Shelf::default().with("MILK-1L", "4006381333931", 3, Zone::Chilled, 5);
    let mut closed = stocked.clone();
    closed.site.closed = Some("stocktake".into());
    let mut reserved = stocked.clone();
    if let Some(i) = reserved.items.get_mut("MILK-1L") {
        i.reserved = 4; // 1 left
    }
    let pending = {
        let mut c = content();
        c.payment = PaymentMode::Pending;
        fold(vec![Event::OrderCreated(c)]).expect("order")
    };
    let accepted_processed = Ok(vec![
        Event::OrderAccepted,
        Event::OrderProcessed {
            payment: PaymentMode::Prepaid,
        },
    ]);
    let rejected = |code: RejectCode, skus: &[&str], r: &str| {
        Ok(vec![Event::OrderRejectedWithCode {
            code,
            skus: skus.iter().map(|s| s.to_string()).collect(),
            note: r.to_string(),
        }])
    };
    let mut safe = stocked.clone();
    safe.site.safety_default = Some(4); // 5 on hand, 1 available
    let rows: Vec<(&str, &Order, Shelf, Decision)> = vec![
        ("in stock", &created, stocked.clone(), accepted_processed),
        (
            "pending payment waits",
            &pending,
            stocked.clone(),
            Ok(vec![Event::OrderAccepted]),
        ),
        (
            "unknown sku",
            &created,
            Shelf::default(),
            rejected(
                RejectCode::UnknownSku,
                &["MILK-1L"],
                "unknown SKU MILK-1L: not in this store's catalog",
            ),
        ),
        (
            "no stock",
            &created,
            reserved,
            rejected(
                RejectCode::OutOfStock,
                &["MILK-1L"],
                "not enough stock for MILK-1L name (MILK-1L): 1 available, 2 ordered",
            ),
        ),
        (
            "safety stock is kept back",
            &created,
            safe,
            rejected(
                RejectCode::OutOfStock,
                &["MILK-1L"],
                "not enough stock for MILK-1L name (MILK-1L): 1 available, 2 ordered",
            ),
        ),
        (
            "store closed",
            &created,
            closed,
            rejected(
                RejectCode::StoreClosed,
                &[],
                "the store is closed for orders: stocktake",
            ),
        ),
    ];
    for (name, order, shelf, want) in rows {
        let ctx = Ctx {
            order: Some(order),
            view: &shelf,
            now_ms: 5,
        };
        assert_eq!(on_created(&ctx, &keys(), Policy::default()), want, "{name}");
    }
}

#[test]
fn partial_fulfilment_rejects_only_the_lines_availability_lacks() {
    let mut c = content();
    c.lines.push(protocol::OrderLine {
        sku: "EGGS-6".into(),
        quantity: 1,
        unit_price_cents: 249,
        substitution_allowed: false,
    });
    let created = fold(vec![Event::OrderCreated(c)]).expect("order");
    // MILK-1L: 5 on hand; EGGS-6 unknown.
    let shelf = Shelf::default().with("MILK-1L", "4006381333931", 3, Zone::Chilled, 5);
    let ctx = Ctx {
        order: Some(&created),
        view: &shelf,
        now_ms: 5,
    };
    let partial = Policy {
        partial: true,
        ..Policy::default()
    };
    let events = on_created(&ctx, &keys(), partial).expect("decided");
    assert_eq!(
        events[0],
        Event::OrderLinesRejected {
            lines: vec![RejectedLine {
                line_no: 2,
                sku: "EGGS-6".into(),
                quantity: 1,
                code: RejectCode::UnknownSku,
            }],
            reason: None,
            by: "order".into(),
        }
    );
    assert_eq!(events[1], Event::OrderAccepted);
    // Folded: only the filled line is reserved, and picked.
    let mut o = created.clone();
    for (i, e) in events.iter().enumerate() {
        o = apply(Some(o), &env(2 + i as u64, e.clone())).expect("o");
    }
    assert_eq!(
        o.reservable(),
        vec![SkuQuantity {
            sku: "MILK-1L".into(),
            quantity: 2
        }]
    );
    // Without the policy, the whole order goes.
    let whole = on_created(&ctx, &keys(), Policy::default()).expect("decided");
    assert!(
        matches!(
            &whole[..],
            [Event::OrderRejectedWithCode {
                code: RejectCode::UnknownSku,
                ..
            }]
        ),
        "{whole:?}"
    );
    // The order's own policy wins over the store's, either way.
    for (own, store, lines_rejected) in [
        (Partial::Allow, Policy::default(), true),
        (Partial::None, partial, false),
    ] {
        let o = apply(
            Some(created.clone()),
            &env(2, Event::OrderPartialPolicy { partial: own }),
        )
        .expect("o");
        let ctx = Ctx {
            order: Some(&o),
            view: &shelf,
            now_ms: 5,
        };
        let got = on_created(&ctx, &keys(), store).expect("decided");
        assert_eq!(
            matches!(&got[0], Event::OrderLinesRejected { .. }),
            lines_rejected,
            "{own:?}: {got:?}"
        );
    }
    // Capacity: a store at its limit takes nothing.
    let full = Policy {
        max_open: 1,
        ..Policy::default()
    };
    let mut busy = shelf.clone();
    busy.open = 1;
    let ctx = Ctx {
        order: Some(&created),
        view: &busy,
        now_ms: 5,
    };
    assert!(matches!(
        &on_created(&ctx, &keys(), full).expect("decided")[..],
        [Event::OrderRejectedWithCode {
            code: RejectCode::Capacity,
            ..
        }]
    ));
}

#[test]
fn cancellation_rules_by_stage() {
    use Event::*;
    let created = OrderCreated(content());
    let prepared = ShipmentPrepared {
        lines: vec![PickLine {
            line_no: 1,
            sku: "MILK-1L".into(),
            quantity: 2,
            location: protocol::Location {
                aisle: 1,
                bay: 1,
                shelf: 1,
            },
            zone: Zone::Chilled,
        }],
    };
    let processed = OrderProcessed {
        payment: PaymentMode::Prepaid,
    };
    let start = PickStarted {
        walk_id: None,
        tote: 1,
        by: "p".into(),
    };
    let one = ItemPicked {
        line_no: 1,
        quantity: 1,
        barcode: None,
        by: "p".into(),
    };
    let two = ItemPicked {
        line_no: 1,
        quantity: 1,
        barcode: None,
        by: "p".into(),
    };
    let packed = ShipmentProcessed {
        picked_by: "p".into(),
    };
    let slot = protocol::StagingSlot {
        kind: protocol::SlotKind::ColdStorage,
        id: "C1".into(),
    };
    let staged = OrderStaged {
        slot: slot.clone(),
        by: "p".into(),
    };
    let ready = ReadyForPickup {
        code: "ABC".into(),
        token: "t".into(),
    };
    let done = OrderFulfilled {
        handed_over_by: "d".into(),
        proof: PickupProof::Code,
        id_checked: false,
    };
    let back = |q| {
        Some(Restocked {
            items: vec![SkuQuantity {
                sku: "MILK-1L".into(),
                quantity: q,
            }],
            reason: String::new(),
        })
    };
    // (history, stage expected or None for CancelRejected/no-op, restock)
    type Row = (Vec<Event>, Option<CancelStage>, Option<Event>, bool);
    let rows: Vec<Row> = vec![
        (
            vec![created.clone()],
            Some(CancelStage::BeforePick),
            None,
            false,
        ),
        (
            vec![
                created.clone(),
                OrderAccepted,
                processed.clone(),
                prepared.clone(),
            ],
            Some(CancelStage::BeforePick),
            None,
            false,
        ),
        (
            vec![
                created.clone(),
                OrderAccepted,
                processed.clone(),
                prepared.clone(),
                start.clone(),
                one.clone(),
            ],
            Some(CancelStage::DuringPick),
            back(1),
            false,
        ),
        (
            vec![
                created.clone(),
                OrderAccepted,
                processed.clone(),
                prepared.clone(),
                start.clone(),
                one.clone(),
                two.clone(),
                packed.clone(),
            ],
            Some(CancelStage::AfterPick),
            back(2),
            false,
        ),
        (
            vec![
                created.clone(),
                OrderAccepted,
                processed.clone(),
                prepared.clone(),
                start.clone(),
                one.clone(),
                two.clone(),
                packed.clone(),
                staged.clone(),
                ready.clone(),
            ],
            Some(CancelStage::AfterStaging),
            back(2),
            false,
        ),
        (
            vec![
                created.clone(),
                OrderAccepted,
                processed.clone(),
                prepared.clone(),
                start.clone(),
                one.clone(),
                two.clone(),
                packed.clone(),
                staged.clone(),
                ready.clone(),
                done.clone(),
            ],
            None,
            None,
            true,
        ),
    ];
    let id = OrderId::new("o1").expect("valid");
    for (i, (history, stage, restock, refused)) in rows.into_iter().enumerate() {
        let o = fold(history).expect("order");
        let decided = decide_cancel(Some(&o), &id, "customer asked", "mgr");
        if refused {
            // Refused, and the refusal is recorded in the log ...
            let refusal = decided.expect_err("refused");
            let recorded = refusal.recorded();
            assert!(
                matches!(recorded.as_slice(), [CancelRejected { .. }]),
                "row {i}: {refusal:?}"
            );
            // ... once: a repeat is refused with the same reason.
            let said = apply(Some(o), &env(100, recorded[0].clone())).expect("order");
            let again = decide_cancel(Some(&said), &id, "again", "mgr").expect_err("refused");
            assert!(again.to_string().contains("already handed over"), "{again}");
            assert_eq!(again.recorded(), vec![]);
            continue;
        }
        let got = decided.expect("decided");
        match (got.first(), stage) {
            (Some(OrderCancelled { stage: s, .. }), Some(want)) => {
                assert_eq!(*s, want, "row {i}")
            }
            other => panic!("row {i}: {other:?}"),
        }
        let restocked = got.get(1).cloned().map(|e| match e {
            Restocked { items, .. } => Restocked {
                items,
                reason: String::new(),
            },
            e => e,
        });
        assert_eq!(restocked, restock, "row {i}");
        // Applying the cancellation: after staging, the slot is named
        // for the unstage task.
        let mut after = Some(o);
        for (n, e) in got.into_iter().enumerate() {
            after = apply(after, &env(100 + n as u64, e));
        }
        let after = after.expect("order");
        assert_eq!(after.state, OrderState::Cancelled);
        let unstage = after.cancel.as_ref().and_then(|c| c.unstage.clone());
        assert_eq!(
            unstage.is_some(),
            stage == Some(CancelStage::AfterStaging),
            "row {i}"
        );
    }
    // A second cancel is a no-op; an unknown order is refused.
    let cancelled = fold(vec![
        created,
        OrderCancelled {
            reason: "x".into(),
            stage: CancelStage::BeforePick,
            by: "m".into(),
        },
    ])
    .expect("o");
    assert_eq!(
        decide_cancel(Some(&cancelled), &id, "again", "m"),
        Ok(vec![])
    );
    assert_eq!(
        decide_cancel(None, &id, "x", "m"),
        Err(Rejection::UnknownOrder("o1".into()))
    );
}

#[test]
fn payment_confirmed_before_or_after_acceptance_or_never() {
    let shelf = Shelf::default().with("MILK-1L", "4006381333931", 3, Zone::Chilled, 5);
    let mut c = content();
    c.payment = PaymentMode::Pending;
    let created = fold(vec![Event::OrderCreated(c.clone())]).expect("o");
    let ctx = |o| Ctx {
        order: Some(o),
        view: &shelf,
        now_ms: 1,
    };
    // Early: accepted and processed at once; the order service then
    // finds nothing to do.
    let early = decide_confirm_payment(&ctx(&created), &keys(), Policy::default()).expect("ok");
    assert_eq!(
        early,
        vec![
            Event::OrderAccepted,
            Event::OrderProcessed {
                payment: PaymentMode::Prepaid
            }
        ]
    );
    let accepted = fold(vec![Event::OrderCreated(c.clone()), Event::OrderAccepted]).expect("o");
    assert_eq!(
        decide_confirm_payment(&ctx(&accepted), &keys(), Policy::default()),
        Ok(vec![Event::OrderProcessed {
            payment: PaymentMode::Prepaid
        }])
    );
    let cancelled = fold(vec![
        Event::OrderCreated(c.clone()),
        Event::OrderCancelled {
            reason: "x".into(),
            stage: CancelStage::BeforePick,
            by: "m".into(),
        },
    ])
    .expect("o");
    assert!(matches!(
        decide_confirm_payment(&ctx(&cancelled), &keys(), Policy::default()),
        Err(Rejection::WrongState { .. })
    ));
    // Never: cancelled after the timeout, only while still unpaid.
    let t0 = accepted.created_ms;
    assert_eq!(payment_overdue(&accepted, t0 + 99, 100), vec![]);
    assert!(matches!(
        payment_overdue(&accepted, t0 + 100, 100).as_slice(),
        [Event::OrderCancelled { .. }]
    ));
    let prepaid = fold(vec![Event::OrderCreated(content()), Event::OrderAccepted]).expect("o");
    assert_eq!(payment_overdue(&prepaid, u64::MAX, 100), vec![]);
}

#[test]
fn late_once_when_due_passes() {
    let mut c = content();
    c.due_at_ms = Some(100);
    let o = fold(vec![Event::OrderCreated(c)]).expect("o");
    assert_eq!(on_clock(&o, 99), vec![]);
    assert_eq!(on_clock(&o, 100), vec![Event::OrderLate { due_at_ms: 100 }]);
    let late = apply(Some(o), &env(2, Event::OrderLate { due_at_ms: 100 })).expect("o");
    assert_eq!(on_clock(&late, 200), vec![]);
}
