//! Codec micro-benchmarks: postcard (with the format-version byte) for
//! envelopes as the log stores them, JSON for commands as devices send them.
//! Throughput is in encoded bytes.
//!
//! `cargo bench -p storenode-protocol --bench codec`
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use protocol::{
    codec, Actor, ChainHash, Command, CommandEnvelope, Envelope, Event, EventId, NewOrder, OrderId,
    OrderLine, PaymentMode, StoreId, SCHEMA_VERSION,
};

fn new_order() -> NewOrder {
    let line = |sku: &str, quantity, unit_price_cents| OrderLine {
        sku: sku.into(),
        quantity,
        unit_price_cents,
        substitution_allowed: true,
    };
    NewOrder {
        customer_name: "Ada Lovelace".into(),
        lines: vec![
            line("DAIRY-MILK-1L", 2, 129),
            line("BAKERY-SOURDOUGH-800G", 1, 449),
            line("PRODUCE-BANANA-KG", 3, 199),
        ],
        due_at_ms: Some(1_767_225_600_000),
        payment: PaymentMode::Prepaid,
        pickup_token: None,
    }
}

fn envelope(order_seq: u64, event: Event) -> Envelope {
    Envelope {
        event_id: EventId::from_bytes([7; 16]),
        causation_id: Some(EventId::from_bytes([3; 16])),
        store_id: StoreId::new("store-0042").expect("valid store id"),
        order_id: OrderId::new("ORD-2026-000123").expect("valid order id"),
        order_seq,
        log_seq: 1_000_000 + order_seq,
        time_ms: 1_767_225_600_000,
        schema: SCHEMA_VERSION,
        actor: Actor::Service("order".into()),
        event,
        prev_hash: ChainHash([0x5a; 32]),
    }
}

fn postcard(c: &mut Criterion) {
    let cases = [
        (
            "order_created_3_lines",
            envelope(1, Event::OrderCreated(new_order())),
        ),
        ("order_accepted", envelope(2, Event::OrderAccepted)),
        // The most frequent event of a pick walk.
        (
            "item_picked",
            envelope(
                3,
                Event::ItemPicked {
                    line_no: 2,
                    quantity: 1,
                    barcode: Some("4006381333931".into()),
                    by: "staff-7".into(),
                },
            ),
        ),
    ];
    let mut g = c.benchmark_group("codec/postcard");
    for (name, env) in &cases {
        let bytes = codec::encode(env);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::new("encode", name), env, |b, env| {
            b.iter(|| codec::encode(black_box(env)))
        });
        g.bench_with_input(BenchmarkId::new("decode", name), &bytes, |b, bytes| {
            b.iter(|| codec::decode::<Envelope>(black_box(bytes)).expect("decodes"))
        });
    }
    g.finish();
}

fn json(c: &mut Criterion) {
    let order_id = || OrderId::new("ORD-2026-000123").expect("valid order id");
    let cases = [
        (
            "create_order_3_lines",
            CommandEnvelope {
                id: "01JGZ8Q6T3M0V7B2K9X4N5R8CD".into(),
                command: Command::CreateOrder {
                    order_id: order_id(),
                    order: new_order(),
                },
            },
        ),
        // What a picker's scanner sends for every scan.
        (
            "pick_item",
            CommandEnvelope {
                id: "01JGZ8Q6T3M0V7B2K9X4N5R8CE".into(),
                command: Command::PickItem {
                    order_id: order_id(),
                    line_no: 2,
                    barcode: "4006381333931".into(),
                    quantity: 1,
                    staff: "staff-7".into(),
                },
            },
        ),
    ];
    let mut g = c.benchmark_group("codec/json");
    for (name, cmd) in &cases {
        let bytes = codec::to_json(cmd);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::new("to_json", name), cmd, |b, cmd| {
            b.iter(|| codec::to_json(black_box(cmd)))
        });
        g.bench_with_input(BenchmarkId::new("from_json", name), &bytes, |b, bytes| {
            b.iter(|| codec::from_json::<CommandEnvelope>(black_box(bytes)).expect("decodes"))
        });
    }
    g.finish();
}

criterion_group!(benches, postcard, json);
criterion_main!(benches);
