//! Domain micro-benchmarks: the pure decide/apply functions the writer runs
//! inside its group commit, so their cost adds to every request's latency.
//!
//! `cargo bench -p storenode --bench domain`
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use protocol::{
    Actor, Envelope, Event, EventId, NewOrder, OrderId, OrderLine, PaymentMode, StoreId,
    SCHEMA_VERSION,
};
use storenode::domain::{
    fulfillment, order, Ctx, Order, OrderState, Site, StaffMember, StockItem, StoreView,
};

/// A catalog where every SKU exists, its aisle derived from its name, so
/// the pick task has real locations to sort by.
struct Catalog;

impl StoreView for Catalog {
    fn item(&self, sku: &str) -> Option<StockItem> {
        let aisle = sku
            .bytes()
            .fold(0u16, |a, b| a.wrapping_mul(31).wrapping_add(b.into()))
            % 40;
        let mut item = StockItem::new(protocol::CatalogItem {
            sku: sku.to_string(),
            name: sku.to_string(),
            barcodes: vec!["4006381333931".into()],
            location: protocol::Location {
                aisle,
                bay: 1,
                shelf: 1,
            },
            zone: protocol::Zone::Ambient,
            unit_price_cents: 100,
            age_restricted: false,
        });
        item.on_hand = 1_000;
        Some(item)
    }
    fn sku_for_barcode(&self, _barcode: &str) -> Option<String> {
        None
    }
    fn site(&self) -> Site {
        Site::default()
    }
    fn staff(&self, _id: &str) -> Option<StaffMember> {
        None
    }
    fn staff_list(&self) -> Vec<StaffMember> {
        vec![]
    }
    fn device(&self, _name: &str) -> Option<storenode::domain::Device> {
        None
    }
    fn device_list(&self) -> Vec<storenode::domain::Device> {
        vec![]
    }
    fn doc(
        &self,
        _key: &storenode::domain::stock::DocKey,
    ) -> Option<storenode::domain::stock::StockDoc> {
        None
    }
    fn seq_after(&self, _time_ms: u64) -> u64 {
        0
    }
    fn moves_from(&self, _sku: &str, _from: u64) -> i64 {
        0
    }
    fn stock_skus(&self) -> Vec<String> {
        vec![]
    }
    fn open_orders(&self) -> usize {
        0
    }
}

fn ctx(order: Option<&Order>) -> Ctx<'_> {
    Ctx {
        order,
        view: &Catalog,
        now_ms: 1_767_225_600_000,
    }
}

/// An order of `lines` lines, SKUs from several departments and not in
/// walking order, so that the pick task has sorting to do.
fn new_order(lines: usize) -> NewOrder {
    const DEPARTMENTS: [&str; 5] = ["PRODUCE", "DAIRY", "BAKERY", "FROZEN", "PANTRY"];
    NewOrder {
        customer_name: "Ada Lovelace".into(),
        lines: (0..lines)
            .map(|i| OrderLine {
                sku: format!("{}-{:04}", DEPARTMENTS[i % 5], (i * 37) % 1000),
                quantity: (i % 4) as u32 + 1,
                unit_price_cents: 99 + (i as i64 * 13) % 900,
                substitution_allowed: i % 2 == 0,
            })
            .collect(),
        due_at_ms: Some(1_767_225_600_000),
        payment: PaymentMode::Prepaid,
        pickup_token: None,
    }
}

fn envelope(order_seq: u64, event: Event) -> Envelope {
    Envelope {
        event_id: EventId::from_bytes([order_seq as u8; 16]),
        causation_id: None,
        store_id: StoreId::new("store-0042").expect("valid store id"),
        order_id: OrderId::new("ORD-2026-000123").expect("valid order id"),
        order_seq,
        log_seq: 1_000 + order_seq,
        time_ms: 1_767_225_600_000 + order_seq,
        schema: SCHEMA_VERSION,
        actor: Actor::Service("order".into()),
        event,
        prev_hash: protocol::ChainHash::default(),
    }
}

/// The six events of an order from creation to hand-over; the pick task is
/// the one the fulfillment rule itself makes.
fn lifecycle(content: &NewOrder) -> Vec<Envelope> {
    let head = [
        Event::OrderCreated(content.clone()),
        Event::OrderAccepted,
        Event::OrderProcessed {
            payment: PaymentMode::Prepaid,
        },
    ];
    let processed = head.iter().zip(1..).fold(None, |o, (e, seq)| {
        order::apply(o, &envelope(seq, e.clone()))
    });
    let prepared = fulfillment::on_processed(&ctx(processed.as_ref()))
        .expect("a processed order gets a pick task")
        .pop()
        .expect("one ShipmentPrepared");
    [
        Event::OrderCreated(content.clone()),
        Event::OrderAccepted,
        Event::OrderProcessed {
            payment: PaymentMode::Prepaid,
        },
        prepared,
        Event::ShipmentProcessed {
            picked_by: "picker-7".into(),
        },
        Event::OrderFulfilled {
            handed_over_by: "desk-1".into(),
            proof: protocol::PickupProof::Code,
            id_checked: false,
        },
    ]
    .into_iter()
    .zip(1..)
    .map(|(event, seq)| envelope(seq, event))
    .collect()
}

fn decide_create(c: &mut Criterion) {
    let id = OrderId::new("ORD-2026-000123").expect("valid order id");
    let mut g = c.benchmark_group("domain/order/decide_create");
    for lines in [3, 50] {
        let content = new_order(lines);
        g.throughput(Throughput::Elements(lines as u64));
        g.bench_with_input(BenchmarkId::new("lines", lines), &content, |b, content| {
            b.iter(|| order::decide_create(None, black_box(&id), black_box(content), None))
        });
    }
    g.finish();
}

fn apply_lifecycle(c: &mut Criterion) {
    let envs = lifecycle(&new_order(3));
    let end = envs.iter().fold(None, order::apply);
    assert_eq!(end.map(|o| o.state), Some(OrderState::Fulfilled));
    let mut g = c.benchmark_group("domain/order/apply");
    g.throughput(Throughput::Elements(envs.len() as u64));
    g.bench_function("lifecycle_6_events_3_lines", |b| {
        b.iter(|| black_box(&envs).iter().fold(None, order::apply))
    });
    g.finish();
}

fn on_processed(c: &mut Criterion) {
    let lines = 50;
    let processed: Option<Order> = lifecycle(&new_order(lines))[..3]
        .iter()
        .fold(None, order::apply);
    assert_eq!(
        processed.as_ref().map(|o| o.state),
        Some(OrderState::Processed)
    );
    let mut g = c.benchmark_group("domain/fulfillment/on_processed");
    g.throughput(Throughput::Elements(lines as u64));
    g.bench_with_input(BenchmarkId::new("lines", lines), &processed, |b, o| {
        b.iter(|| fulfillment::on_processed(&ctx(black_box(o.as_ref()))))
    });
    g.finish();
}

criterion_group!(benches, decide_create, apply_lifecycle, on_processed);
criterion_main!(benches);
