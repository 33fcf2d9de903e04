//! Store micro-benchmarks on a real sled directory (under the target dir,
//! not /tmp, which may be RAM-backed and make `fdatasync` free).
//!
//! - `store/append/<durability>/concurrent_creates/N`: N create requests
//!   submitted to the real group-commit `Writer` at once, timed until every
//!   one is answered (durable). The writer groups whatever is queued when it
//!   wakes, so N requests take one or more group commits; the mean group
//!   size is printed after each case.
//! - `store/read/*`: `Store::order` and `Store::event` on a populated store
//!   (sled's cache holds it all: this is lookup plus decode, not disk).
//!
//! `cargo bench -p storenode --bench store`
use std::hint::black_box;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use protocol::{Actor, NewOrder, OrderId, OrderLine, PaymentMode, StoreId};
use storenode::config::Durability;
use storenode::domain;
use storenode::metrics::Metrics;
use storenode::store::writer::EventSink;
use storenode::store::{Dedup, Store, StoreError, WriteRequest, Writer, WriterHandle, Written};
use tempfile::TempDir;

/// The configured default of `storage.max_batch`.
const MAX_BATCH: usize = 512;

/// Publishing is the broker's cost, not the store's.
struct Discard;
impl EventSink for Discard {
    fn publish(&mut self, _topic: String, _payload: Vec<u8>) {}
}

struct Node {
    store: Store,
    writer: WriterHandle,
    thread: JoinHandle<Result<(), StoreError>>,
    metrics: Arc<Metrics>,
    // Dropped last: removes the database directory.
    _dir: TempDir,
}

fn start(durability: Durability) -> Node {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let store = Store::open(dir.path(), StoreId::new("bench").expect("valid store id"))
        .expect("open store");
    let metrics = Arc::new(Metrics::new());
    let (writer, handle) = Writer::new(
        store.clone(),
        dir.path(),
        Discard,
        durability,
        MAX_BATCH,
        std::time::Duration::ZERO,
        metrics.clone(),
    )
    .expect("start writer");
    let thread = std::thread::spawn(move || writer.run());
    Node {
        store,
        writer: handle,
        thread,
        metrics,
        _dir: dir,
    }
}

fn stop(node: Node, rt: &tokio::runtime::Runtime) {
    rt.block_on(node.writer.close());
    node.thread
        .join()
        .expect("writer thread")
        .expect("writer stopped cleanly");
}

fn content() -> NewOrder {
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

fn order_id(n: u64) -> OrderId {
    OrderId::new(format!("ORD-{n:08}")).expect("valid order id")
}

/// A create as the HTTP API makes it.
fn create(n: u64) -> WriteRequest {
    let id = order_id(n);
    let decide_id = id.clone();
    let c = content();
    WriteRequest {
        order_id: id,
        actor: Actor::Api,
        causation: None,
        dedup: Dedup::None,
        decide: Box::new(move |x| domain::order::decide_create(x.order, &decide_id, &c, None)),
    }
}

/// Submit every request before awaiting any, then wait until all are durable.
async fn submit_all(writer: &WriterHandle, requests: Vec<WriteRequest>) {
    let mut pending = Vec::with_capacity(requests.len());
    for req in requests {
        pending.push(writer.submit(req).await.expect("writer accepts"));
    }
    for rx in pending {
        let written = rx.await.expect("writer answers").expect("write is durable");
        assert!(
            matches!(&written, Written::Applied { log_seqs, .. } if log_seqs.len() == 1),
            "create not applied: {written:?}"
        );
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Total time the writer spent making groups durable (flush and sync),
/// from its metrics.
fn sync_seconds(metrics: &Metrics) -> f64 {
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("storenode_group_commit_seconds_sum "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn append(c: &mut Criterion) {
    let rt = runtime();
    for (name, durability) in [
        ("fdatasync", Durability::Fdatasync),
        ("flush", Durability::Flush),
    ] {
        let node = start(durability);
        let mut next = 0u64;
        let mut g = c.benchmark_group(format!("store/append/{name}"));
        for n in [1u64, 16, 128] {
            g.throughput(Throughput::Elements(n));
            let (commits, requests, synced) = (
                node.metrics.group_commits.get(),
                next,
                sync_seconds(&node.metrics),
            );
            g.bench_function(BenchmarkId::new("concurrent_creates", n), |b| {
                b.iter_custom(|iters| {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iters {
                        // Building the requests is the caller's cost: untimed.
                        let batch: Vec<_> = (0..n).map(|i| create(next + i + 1)).collect();
                        next += n;
                        let started = Instant::now();
                        rt.block_on(submit_all(&node.writer, batch));
                        elapsed += started.elapsed();
                    }
                    elapsed
                })
            });
            let commits = node.metrics.group_commits.get() - commits;
            if commits > 0 {
                let requests = next - requests;
                let synced = sync_seconds(&node.metrics) - synced;
                eprintln!(
                    "store/append/{name}/concurrent_creates/{n}: {requests} requests in {commits} group commits \
                     (mean group {:.1}, mean flush {:.0} µs)",
                    requests as f64 / commits as f64,
                    synced * 1e6 / commits as f64,
                );
            }
        }
        g.finish();
        stop(node, &rt);
    }
}

fn read(c: &mut Criterion) {
    const ORDERS: u64 = 10_000;
    let rt = runtime();
    let node = start(Durability::Flush);
    for chunk in (1..=ORDERS).collect::<Vec<_>>().chunks(MAX_BATCH) {
        rt.block_on(submit_all(
            &node.writer,
            chunk.iter().map(|&n| create(n)).collect(),
        ));
    }
    assert_eq!(node.store.head(), ORDERS);
    let ids: Vec<OrderId> = (1..=ORDERS).map(order_id).collect();

    let mut g = c.benchmark_group("store/read");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("order", |b| {
        b.iter(|| {
            // A stride through the key space rather than one hot key.
            i = (i + 7919) % ids.len();
            node.store
                .order(black_box(&ids[i]))
                .expect("read")
                .expect("order exists")
        })
    });
    let mut seq = 0;
    g.bench_function("event", |b| {
        b.iter(|| {
            seq = (seq + 7919) % ORDERS + 1;
            node.store
                .event(black_box(seq))
                .expect("read")
                .expect("event exists")
        })
    });
    g.finish();
    stop(node, &rt);
}

/// Fewer samples than criterion's 100: a sample of the fdatasync cases
/// takes milliseconds per iteration.
fn config() -> Criterion {
    Criterion::default().sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = append, read
}
criterion_main!(benches);
