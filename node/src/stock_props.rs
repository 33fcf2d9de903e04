//! The stock rules as a property, through the real writer on a real sled
//! directory: any interleaving of orders (accepted, picked, shorted for
//! every reason, staged and handed over, cancelled, expired, rejected by
//! staff), till sales, returns and voids (duplicated and reordered:
//! receipt ids come from a small pool), deliveries, HQ snapshots as of
//! earlier times and counts (with recounts and approvals) keeps, per SKU:
//!
//! - availability never below 0, and no order accepted beyond what was
//!   available when it was accepted;
//! - the ledger: `on_hand = received + returned - sold - picked -
//!   written_off + corrected`, the movement journal summing to it;
//! - a receipt id applied once, whatever repeats;
//! - `Store::verify` clean (every projection equals the log's replay,
//!   reservations equal what open orders owe).
//!
//! `STOCK_PROP_CASES=N` runs more cases (default 48). It sits at the
//! crate's root: it drives the store, the services' command path and the
//! availability writes together, above all of them.
use std::sync::Arc;

use proptest::prelude::*;
use protocol::{
    Actor, Command, NewOrder, OrderId, OrderLine, PaymentMode, Receipt, ReceiptKind, ReceiptLine,
    ShortReason, SkuQuantity, SnapshotLine, StaffRejectReason, StoreId,
};

use crate::config::Durability;
use crate::domain::{self, order::Policy, OrderState};
use crate::services::commands::{self, Principal, Rules};
use crate::store::writer::{Dedup, EventSink, WriteRequest, Writer, WriterHandle, Written};
use crate::store::Store;

const SKUS: [&str; 3] = ["P-1", "P-2", "P-3"];

#[derive(Debug, Clone)]
enum Op {
    Order {
        sku: usize,
        qty: u32,
        second: Option<(usize, u32)>,
        /// The order's own policy (`None`: the store's, which allows).
        partial: Option<protocol::Partial>,
    },
    Pick {
        order: usize,
    },
    Short {
        order: usize,
        reason: u8,
        found: u32,
        bad: u32,
    },
    HandOver {
        order: usize,
    },
    Cancel {
        order: usize,
    },
    Expire {
        order: usize,
    },
    Reject {
        order: usize,
        reason: u8,
        one_line: bool,
    },
    Till {
        id: u8,
        sku: usize,
        qty: u32,
        kind: u8,
        damaged: bool,
        late: bool,
    },
    Publish {
        snapshot: bool,
    },
    Void {
        id: u8,
        of: u8,
    },
    Delivery {
        sku: usize,
        qty: u32,
    },
    Snapshot {
        sku: usize,
        on_hand: i64,
        back: u8,
    },
    Count {
        sku: usize,
        counted: u32,
        approve: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let sku = 0..SKUS.len();
    prop_oneof![
        4 => (
            sku.clone(),
            1..4u32,
            proptest::option::of((0..SKUS.len(), 1..3u32)),
            proptest::option::of(prop_oneof![
                Just(protocol::Partial::Allow),
                Just(protocol::Partial::None)
            ])
        )
            .prop_map(|(sku, qty, second, partial)| Op::Order { sku, qty, second, partial }),
        3 => (0..12usize).prop_map(|order| Op::Pick { order }),
        2 => (0..12usize, 0..4u8, 0..3u32, 0..3u32)
            .prop_map(|(order, reason, found, bad)| Op::Short { order, reason, found, bad }),
        2 => (0..12usize).prop_map(|order| Op::HandOver { order }),
        1 => (0..12usize).prop_map(|order| Op::Cancel { order }),
        1 => (0..12usize).prop_map(|order| Op::Expire { order }),
        1 => (0..12usize, 0..4u8, any::<bool>())
            .prop_map(|(order, reason, one_line)| Op::Reject { order, reason, one_line }),
        4 => (0..8u8, sku.clone(), 1..5u32, 0..3u8, any::<bool>(), any::<bool>())
            .prop_map(|(id, sku, qty, kind, damaged, late)| Op::Till { id, sku, qty, kind, damaged, late }),
        1 => any::<bool>().prop_map(|snapshot| Op::Publish { snapshot }),
        2 => (0..8u8, 0..8u8).prop_map(|(id, of)| Op::Void { id, of }),
        2 => (sku.clone(), 1..10u32).prop_map(|(sku, qty)| Op::Delivery { sku, qty }),
        1 => (sku.clone(), 0..20i64, 0..5u8)
            .prop_map(|(sku, on_hand, back)| Op::Snapshot { sku, on_hand, back }),
        2 => (sku, 0..15u32, any::<bool>())
            .prop_map(|(sku, counted, approve)| Op::Count { sku, counted, approve }),
    ]
}

struct Nowhere;
impl EventSink for Nowhere {
    fn publish(&mut self, _topic: String, _payload: Vec<u8>) {}
}

struct World {
    store: Store,
    writer: WriterHandle,
    rules: Rules,
    orders: Vec<OrderId>,
    /// Times of the writes so far (for snapshots "as of" earlier times).
    times: Vec<u64>,
}

impl World {
    async fn command(&self, c: Command) -> Option<Written> {
        let req = commands::prepare(c, &Principal::Api, None, &self.rules, &self.store).ok()?;
        self.writer.write(req).await.ok()
    }

    async fn react(&self, id: &OrderId, decide: crate::store::writer::Decide) {
        let req = WriteRequest {
            order_id: id.clone(),
            actor: Actor::Service("test".into()),
            causation: None,
            dedup: Dedup::None,
            decide,
        };
        let _ = self.writer.write(req).await;
    }

    fn order(&self, i: usize) -> Option<OrderId> {
        self.orders.get(i % self.orders.len().max(1)).cloned()
    }
}

fn receipt(id: u8, sku: usize, qty: u32, kind: u8, damaged: bool, late: bool) -> Receipt {
    Receipt {
        receipt_id: format!("R{id}"),
        till: "t1".into(),
        // A till that was offline posts late: rung up before any count
        // (the count saw it); else after every count so far.
        at_ms: if late { 0 } else { u64::MAX / 2 },
        kind: if kind == 0 {
            ReceiptKind::Return
        } else {
            ReceiptKind::Sale
        },
        voids: None,
        lines: vec![ReceiptLine {
            sku: SKUS[sku].into(),
            quantity: qty,
            damaged: damaged && kind == 0,
        }],
    }
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let store = Store::open(dir.path(), StoreId::new("prop").expect("valid")).expect("open");
    let (w, writer) = Writer::new(
        store.clone(),
        dir.path(),
        Nowhere,
        Durability::Flush,
        64,
        std::time::Duration::ZERO,
        Arc::new(crate::metrics::Metrics::new()),
    )
    .expect("writer");
    let thread = std::thread::spawn(move || w.run());
    let keys = Arc::new(domain::pickup::PickupKeys::new(
        StoreId::new("prop").expect("valid"),
        ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
        vec![],
    ));
    let mut world = World {
        store: store.clone(),
        writer,
        rules: Rules {
            keys,
            policy: Policy {
                partial: true,
                max_open: 0,
                recount_above: 2,
            },
        },
        orders: vec![],
        times: vec![],
    };
    // The catalog: 5 of each, P-1 in category `c` with safety 1.
    let items = SKUS
        .iter()
        .enumerate()
        .map(|(i, s)| protocol::CatalogEntry {
            item: protocol::CatalogItem {
                sku: s.to_string(),
                name: s.to_string(),
                barcodes: vec![crate::demo::ean13(400_100_000_000 + i as u64)],
                location: protocol::Location {
                    aisle: 1,
                    bay: i as u16,
                    shelf: 1,
                },
                zone: protocol::Zone::Ambient,
                unit_price_cents: 100,
                age_restricted: false,
            },
            category: (i == 0).then(|| "c".to_string()),
        })
        .collect();
    world
        .command(Command::ImportCatalogEntries {
            items,
            stock: SKUS
                .iter()
                .map(|s| SkuQuantity {
                    sku: s.to_string(),
                    quantity: 5,
                })
                .collect(),
        })
        .await;
    world
        .command(Command::SetSafetyStock {
            scope: protocol::SafetyScope::Category("c".into()),
            safety: Some(1),
        })
        .await;
    for (n, op) in ops.into_iter().enumerate() {
        world.times.push(store.clock().now_ms());
        match op {
            Op::Order {
                sku,
                qty,
                second,
                partial,
            } => {
                let id = OrderId::new(format!("O{n}")).expect("valid");
                let mut lines = vec![(sku, qty)];
                lines.extend(second.filter(|(s, _)| *s != sku));
                let before: Vec<i64> = lines
                    .iter()
                    .map(|(s, _)| store.item(SKUS[*s]).map_or(0, |i| i.available()))
                    .collect();
                let content = NewOrder {
                    customer_name: "C".into(),
                    lines: lines
                        .iter()
                        .map(|(s, q)| OrderLine {
                            sku: SKUS[*s].into(),
                            quantity: *q,
                            unit_price_cents: 100,
                            substitution_allowed: false,
                        })
                        .collect(),
                    due_at_ms: None,
                    payment: PaymentMode::Prepaid,
                    pickup_token: None,
                };
                world
                    .command(match partial {
                        None => Command::CreateOrder {
                            order_id: id.clone(),
                            order: content,
                        },
                        Some(partial) => Command::CreateOrderWithPolicy {
                            order_id: id.clone(),
                            order: content,
                            partial,
                        },
                    })
                    .await;
                let (keys, policy) = (world.rules.keys.clone(), world.rules.policy);
                world
                    .react(
                        &id,
                        Box::new(move |c| domain::order::on_created(c, &keys, policy)),
                    )
                    .await;
                world
                    .react(&id, Box::new(domain::fulfillment::on_processed))
                    .await;
                // No line was taken beyond what was available then; an
                // order that said `none` is taken whole or not at all.
                if let Some(o) = store.order(&id).expect("read") {
                    prop_assert!(
                        partial != Some(protocol::Partial::None) || o.rejected_lines.is_empty(),
                        "order {id} said none, lines rejected: {:?}",
                        o.rejected_lines
                    );
                    for (k, (_, q)) in lines.iter().enumerate() {
                        let line_no = k as u32 + 1;
                        let taken = o.state != OrderState::Rejected && !o.line_rejected(line_no);
                        prop_assert!(
                            !taken || i64::from(*q) <= before[k],
                            "order {id} line {line_no}: {q} accepted, {} was available",
                            before[k]
                        );
                    }
                }
                world.orders.push(id);
            }
            Op::Pick { order } => {
                if let Some(id) = world.order(order) {
                    world
                        .command(Command::MarkPicked {
                            order_id: id,
                            staff: String::new(),
                        })
                        .await;
                }
            }
            Op::Short {
                order,
                reason,
                found,
                bad,
            } => {
                let Some(id) = world.order(order) else {
                    continue;
                };
                let Some(o) = store.order(&id).expect("read") else {
                    continue;
                };
                let Some(line) = o.pick_lines.first() else {
                    continue;
                };
                let reason = ShortReason::ALL[reason as usize % 4];
                world
                    .command(Command::ShortItemWithWriteOff {
                        order_id: id,
                        line_no: line.line_no,
                        found: found.min(line.quantity.saturating_sub(1)),
                        reason,
                        written_off: bad,
                    })
                    .await;
            }
            Op::HandOver { order } => {
                let Some(id) = world.order(order) else {
                    continue;
                };
                world
                    .command(Command::MarkPicked {
                        order_id: id.clone(),
                        staff: String::new(),
                    })
                    .await;
                world
                    .command(Command::Stage {
                        order_id: id.clone(),
                        slot: protocol::StagingSlot {
                            kind: protocol::SlotKind::Shelf,
                            id: "A1".into(),
                        },
                        staff: String::new(),
                    })
                    .await;
                if let Some(code) = store
                    .order(&id)
                    .expect("read")
                    .and_then(|o| o.pickup_code.clone())
                {
                    world
                        .command(Command::HandOver {
                            order_id: id,
                            staff: String::new(),
                            code,
                            id_checked: true,
                        })
                        .await;
                }
            }
            Op::Cancel { order } => {
                if let Some(id) = world.order(order) {
                    world
                        .command(Command::Cancel {
                            order_id: id,
                            reason: "changed mind".into(),
                            by: String::new(),
                        })
                        .await;
                }
            }
            Op::Expire { order } => {
                if let Some(id) = world.order(order) {
                    world
                        .react(
                            &id,
                            Box::new(|c| {
                                Ok(c.order.map_or(vec![], |o| {
                                    domain::handover::on_clock(o, u64::MAX / 2, 1, 0)
                                }))
                            }),
                        )
                        .await;
                }
            }
            Op::Reject {
                order,
                reason,
                one_line,
            } => {
                if let Some(id) = world.order(order) {
                    world
                        .command(Command::RejectOrder {
                            order_id: id,
                            reason: StaffRejectReason::ALL[reason as usize % 4],
                            lines: if one_line { vec![1] } else { vec![] },
                            note: String::new(),
                        })
                        .await;
                }
            }
            Op::Till {
                id,
                sku,
                qty,
                kind,
                damaged,
                late,
            } => {
                let r = receipt(id, sku, qty, kind, damaged, late);
                world.command(Command::RecordReceipt { receipt: r }).await;
            }
            Op::Void { id, of } => {
                if id == of {
                    continue;
                }
                let r = Receipt {
                    receipt_id: format!("V{id}"),
                    till: "t1".into(),
                    at_ms: u64::MAX / 2,
                    kind: ReceiptKind::Void,
                    voids: Some(format!("R{of}")),
                    lines: vec![],
                };
                world.command(Command::RecordReceipt { receipt: r }).await;
            }
            Op::Publish { snapshot } => {
                let req = if snapshot {
                    crate::sync::availability::snapshot()
                } else {
                    crate::sync::availability::changes(store.unpublished())
                };
                let _ = world.writer.write(req).await;
                if !snapshot {
                    prop_assert!(store.unpublished().is_empty(), "HQ heard every change");
                }
            }
            Op::Delivery { sku, qty } => {
                world
                    .command(Command::ReceiveDelivery {
                        delivery_id: None,
                        lines: vec![SkuQuantity {
                            sku: SKUS[sku].into(),
                            quantity: qty,
                        }],
                    })
                    .await;
            }
            Op::Snapshot { sku, on_hand, back } => {
                let t = world.times.len().saturating_sub(1 + back as usize);
                let as_of_ms = world.times.get(t).copied().unwrap_or(0);
                world
                    .command(Command::ReconcileSnapshot {
                        as_of_ms,
                        lines: vec![SnapshotLine {
                            sku: SKUS[sku].into(),
                            on_hand,
                        }],
                    })
                    .await;
            }
            Op::Count {
                sku,
                counted,
                approve,
            } => {
                let task = match store.item(SKUS[sku]).and_then(|i| i.count_task) {
                    Some(t) => t,
                    None => {
                        world
                            .command(Command::OpenCountTask {
                                sku: SKUS[sku].into(),
                                note: String::new(),
                            })
                            .await;
                        match store.item(SKUS[sku]).and_then(|i| i.count_task) {
                            Some(t) => t,
                            None => continue,
                        }
                    }
                };
                world
                    .command(Command::RecordCount {
                        task_id: task.clone(),
                        counted,
                    })
                    .await;
                if approve {
                    world.command(Command::ApproveCount { task_id: task }).await;
                }
            }
        }
        for sku in SKUS {
            let Some(i) = store.item(sku) else { continue };
            prop_assert!(i.available() >= 0);
            prop_assert_eq!(
                i.on_hand,
                i.ledger.on_hand(),
                "{} after op {}: {:?}",
                sku,
                n,
                i.ledger
            );
            prop_assert!(i.reserved >= 0);
        }
    }
    world.writer.close().await;
    thread.join().expect("writer thread").expect("writer");
    if std::env::var_os("STOCK_PROP_DEBUG").is_some() {
        let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
        for env in store.events_from(1, usize::MAX).expect("log") {
            *kinds.entry(env.event.kind().name()).or_default() += 1;
        }
        eprintln!("{kinds:?}");
    }
    // A receipt id is recorded once, however often it was sent.
    let mut seen = std::collections::HashSet::new();
    for env in store.events_from(1, usize::MAX).expect("log") {
        if let protocol::Event::TillReceiptRecorded { receipt, .. } = env.event {
            prop_assert!(
                seen.insert(receipt.receipt_id.clone()),
                "receipt {} recorded twice",
                receipt.receipt_id
            );
        }
    }
    let report = store.verify().expect("verify reads");
    prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
    Ok(())
}

fn cases() -> u32 {
    std::env::var("STOCK_PROP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_keeps_stock_true(ops in proptest::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(run(ops))?;
    }
}
