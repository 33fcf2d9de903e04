//! Seeded random request bodies against every state-changing route of the
//! real node's API: random bytes, truncated and mangled JSON, and random
//! JSON built from the API's own field names with values of every type
//! and size. The node must answer each with a clear 4xx (never a 5xx, a
//! dropped connection or a hang), a refused request must leave the log as
//! it was, and the data directory must verify afterwards.
//!
//! `HTTP_FUZZ_CASES=N` bodies per route (default 60), `HTTP_FUZZ_SEED=S`.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use storenode_tests::{order_body, Node};

/// Field names the API's bodies use (and a few it does not).
const FIELDS: &[&str] = &[
    "receipt_id",
    "till",
    "at",
    "kind",
    "voids",
    "gtin",
    "damaged",
    "written_off",
    "safety",
    "category",
    "as_of",
    "delivery_id",
    "expected_ms",
    "counted",
    "note",
    "order_id",
    "customer_name",
    "lines",
    "sku",
    "quantity",
    "unit_price_cents",
    "payment",
    "staff",
    "by",
    "reason",
    "code",
    "id_checked",
    "slot",
    "kind",
    "id",
    "tote",
    "barcode",
    "found",
    "counts",
    "delta",
    "open",
    "expiry_s",
    "reminder_s",
    "name",
    "role",
    "pin",
    "orders",
    "channel",
    "note",
    "promised_ms",
    "pickup_token",
    "compartments",
    "x",
    "",
];

fn random_string(rng: &mut StdRng) -> String {
    match rng.gen_range(0..6) {
        0 => String::new(),
        1 => "A-1".into(),
        2 => "\u{0}\u{202e}ß😀\u{fffd}".into(),
        3 => "x".repeat(rng.gen_range(100..5_000)),
        4 => format!("{}", rng.gen::<u64>()),
        _ => (0..rng.gen_range(1..20))
            .map(|_| rng.gen_range(b' '..=b'~') as char)
            .collect(),
    }
}

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    let leaf = depth >= 4 || rng.gen_bool(0.5);
    match rng.gen_range(0..if leaf { 6 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.gen()),
        2 => json!(match rng.gen_range(0..6) {
            0 => i64::MIN,
            1 => i64::MAX,
            2 => -1,
            3 => 0,
            4 => rng.gen_range(-1_000_000..1_000_000),
            _ => u32::MAX as i64 + 1,
        }),
        3 => json!(match rng.gen_range(0..3) {
            0 => 1e308,
            1 => -0.5,
            _ => rng.gen::<f64>() * 1e6,
        }),
        4 | 5 => Value::String(random_string(rng)),
        6 => Value::Array(
            (0..rng.gen_range(0..5))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => random_object(rng, depth + 1),
    }
}

fn random_object(rng: &mut StdRng, depth: u32) -> Value {
    let mut m = Map::new();
    for _ in 0..rng.gen_range(0..6) {
        let k = FIELDS[rng.gen_range(0..FIELDS.len())];
        m.insert(k.to_string(), random_value(rng, depth));
    }
    // Always one field no body has: `deny_unknown_fields` must refuse it
    // even when the rest happens to be a valid body.
    m.insert(format!("zz_unknown_{}", rng.gen::<u16>()), Value::Null);
    Value::Object(m)
}

/// One body: (bytes, content type).
fn random_body(rng: &mut StdRng, valid: &Value) -> (Vec<u8>, &'static str) {
    let json = "application/json";
    match rng.gen_range(0..7) {
        0 => {
            let n = rng.gen_range(0..300);
            ((0..n).map(|_| rng.gen()).collect(), json)
        }
        1 => {
            // A valid body cut short.
            let s = valid.to_string().into_bytes();
            let cut = rng.gen_range(0..s.len().max(1));
            (s[..cut].to_vec(), json)
        }
        2 => {
            // A valid body with an unknown field.
            let mut v = valid.clone();
            if let Some(m) = v.as_object_mut() {
                m.insert("zz_unknown".into(), random_value(rng, 2));
            }
            (v.to_string().into_bytes(), json)
        }
        3 => {
            // Deep nesting.
            let d = rng.gen_range(50..3_000);
            (("[".repeat(d) + &"]".repeat(d)).into_bytes(), json)
        }
        // The body inside an array, under another content type (the node
        // reads JSON whatever the type says; the shape must still fit).
        4 => (json!([valid]).to_string().into_bytes(), "text/plain"),
        5 => (random_value(rng, 0).to_string().into_bytes(), json),
        _ => (random_object(rng, 0).to_string().into_bytes(), json),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bodies_on_every_route_get_a_4xx_and_change_nothing() {
    let cases: usize = std::env::var("HTTP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("HTTP_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("http fuzz: {cases} bodies per route, HTTP_FUZZ_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path()).await.unwrap();
    node.post("/api/v1/orders", &order_body("F-1", 2))
        .await
        .unwrap();
    node.wait_state("F-1", "prepared", 10).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Each route that reads a body, with one it would take (the routes
    // without a body — confirm-payment, staff disable/enable — ignore it).
    let routes: Vec<(String, Value)> = vec![
        ("/api/v1/orders".into(), order_body("F-2", 1)),
        ("/api/v1/orders/F-1/picked".into(), json!({"staff": "ann"})),
        (
            "/api/v1/orders/F-1/handed-over".into(),
            json!({"staff": "ann", "code": "ABCDEF"}),
        ),
        (
            "/api/v1/orders/F-1/start-pick".into(),
            json!({"staff": "ann", "tote": 1}),
        ),
        (
            "/api/v1/orders/F-1/lines/1/pick".into(),
            json!({"barcode": "4000000000016", "quantity": 1}),
        ),
        (
            "/api/v1/orders/F-1/lines/1/short".into(),
            json!({"found": 0, "reason": "not_found"}),
        ),
        (
            "/api/v1/orders/F-1/lines/1/substitute".into(),
            json!({"sku": "SKU-095"}),
        ),
        (
            "/api/v1/orders/F-1/stage".into(),
            json!({"slot": {"kind": "shelf", "id": "A1"}}),
        ),
        (
            "/api/v1/orders/F-1/check-in".into(),
            json!({"channel": "desk"}),
        ),
        (
            "/api/v1/orders/F-1/cancel".into(),
            json!({"reason": "test", "by": "mgr"}),
        ),
        (
            "/api/v1/pickup/ABCDEF/check-in".into(),
            json!({"channel": "kiosk"}),
        ),
        (
            "/api/v1/pick-walks".into(),
            json!({"orders": ["F-1"], "staff": "ann"}),
        ),
        (
            "/api/v1/stock/count".into(),
            json!({"counts": [{"sku": "SKU-001", "quantity": 5}]}),
        ),
        (
            "/api/v1/stock/adjust".into(),
            json!({"sku": "SKU-001", "delta": -1, "reason": "damaged"}),
        ),
        (
            "/api/v1/store/open".into(),
            json!({"open": false, "reason": "stocktake"}),
        ),
        (
            "/api/v1/store/pickup-times".into(),
            json!({"expiry_s": 86400, "reminder_s": 3600}),
        ),
        (
            "/api/v1/devices".into(),
            json!({"name": "scanner-9", "kind": "scanner"}),
        ),
        (
            "/api/v1/staff".into(),
            json!({"name": "Zoe", "role": "picker"}),
        ),
        ("/api/v1/staff/1001/role".into(), json!({"role": "desk"})),
        ("/api/v1/staff/1001/pin".into(), json!({})),
        (
            "/api/v1/till/receipts".into(),
            json!({"receipt_id": "R-1", "till": "t1", "at": storenode_tests::now_rfc3339(),
                   "kind": "sale", "lines": [{"sku": "SKU-001", "quantity": 1}]}),
        ),
        (
            "/api/v1/stock/write-off".into(),
            json!({"sku": "SKU-001", "quantity": 1, "reason": "damaged"}),
        ),
        (
            "/api/v1/stock/safety".into(),
            json!({"sku": "SKU-001", "safety": 2}),
        ),
        (
            "/api/v1/stock/snapshot".into(),
            json!({"as_of": storenode_tests::now_rfc3339(), "lines": [{"sku": "SKU-001", "on_hand": 3}]}),
        ),
        (
            "/api/v1/deliveries".into(),
            json!({"lines": [{"sku": "SKU-001", "quantity": 3}]}),
        ),
        (
            "/api/v1/deliveries/announce".into(),
            json!({"delivery_id": "D-1", "lines": [{"sku": "SKU-001", "quantity": 3}]}),
        ),
        ("/api/v1/count-tasks".into(), json!({"sku": "SKU-001"})),
        ("/api/v1/count-tasks/C1/count".into(), json!({"counted": 3})),
        (
            "/api/v1/count-tasks/C1/cancel".into(),
            json!({"reason": "x"}),
        ),
        (
            "/api/v1/orders/F-1/reject".into(),
            json!({"reason": "damaged", "lines": [1]}),
        ),
    ];
    let head = node.head().await.unwrap();
    let client = reqwest::Client::new();
    let (mut sent, mut by_status) = (0usize, std::collections::BTreeMap::<u16, usize>::new());
    for (path, valid) in &routes {
        for _ in 0..cases {
            let (body, ctype) = random_body(&mut rng, valid);
            let resp = client
                .post(node.url(path))
                .bearer_auth(&node.token)
                .header("content-type", ctype)
                .body(body.clone())
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "POST {path} {:?}: no answer ({e}); HTTP_FUZZ_SEED={seed}\n{}",
                        String::from_utf8_lossy(&body[..body.len().min(200)]),
                        storenode_tests::tail(&node.logs(), 20)
                    )
                });
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            sent += 1;
            *by_status.entry(status).or_default() += 1;
            assert!(
                (400..500).contains(&status),
                "POST {path} {:?} answered {status} {text}; HTTP_FUZZ_SEED={seed}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            );
            // A specific, readable error.
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            assert!(
                v["error"].is_string() && v["message"].as_str().is_some_and(|m| !m.is_empty())
                    || status == 415
                    || status == 405,
                "POST {path} answered {status} without a JSON error: {text}"
            );
        }
        assert_eq!(
            node.head().await.unwrap(),
            head,
            "refused bodies on {path} changed the log; HTTP_FUZZ_SEED={seed}"
        );
    }
    eprintln!("http fuzz: {sent} requests, statuses {by_status:?}");
    assert!(node.terminate().await.unwrap().success());
    storenode_tests::verify(dir.path(), "test-store").unwrap();
}
