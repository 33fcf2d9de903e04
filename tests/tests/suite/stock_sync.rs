//! What HQ hears of the store's stock, end to end with real processes: a
//! till posting while the store's link is down, then HQ's webhook getting
//! the coalesced availability when it returns, two bridge instances
//! answering the same availability, and an HQ order refused with a code
//! HQ can route on. HQ re-routing what one store refuses (a whole order,
//! the lines of an order accepted in part) to another. A till over TLS
//! (MQTT) whose resend after a kill applies once.
use std::time::Duration;

use protocol::{codec, CommandEnvelope, CommandReply, ReplyStatus};
use serde_json::{json, Value};
use storenode_tests::cloud::{Bridge, Mosquitto, Proxy, Sink};
use storenode_tests::{Node, Opts};

const STORE: &str = "s-stock";

async fn node(dir: &std::path::Path, url: &str) -> Node {
    store(dir, url, STORE, [10, 10, 10]).await
}

/// A store `id` on the cloud at `url` with SKUs A-1..A-3, `on_hand` each.
async fn store(dir: &std::path::Path, url: &str, id: &str, on_hand: [u32; 3]) -> Node {
    let node = Node::start_with(
        dir,
        Opts {
            store_id: Some(id.into()),
            no_catalog: true,
            env: vec![
                ("STORENODE_CLOUD_URL".into(), url.into()),
                ("STORENODE_CLOUD_ACK_TIMEOUT_S".into(), "2".into()),
                ("STORENODE_CLOUD_STATUS_INTERVAL_S".into(), "1".into()),
                (
                    "STORENODE_STOCK_AVAILABILITY_WINDOW_MS".into(),
                    "300".into(),
                ),
            ],
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    let rows: Vec<Value> = (1..=3)
        .map(|i| {
            json!({"sku": format!("A-{i}"), "name": format!("Item {i}"),
                   "barcodes": [storenode_tests::ean13(310_000_000_000 + i)],
                   "aisle": 1, "bay": i, "shelf": 1, "zone": "ambient",
                   "unit_price_cents": 100, "on_hand": on_hand[i as usize - 1]})
        })
        .collect();
    let (status, v) = node
        .post("/api/v1/catalog/import", &Value::Array(rows))
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    node
}

/// What `bridge` says `sku` has available in the store (`None`: not yet).
async fn hq_available(bridge: &Bridge, sku: &str) -> Option<u64> {
    let (status, v) = bridge
        .get(&format!("/api/v1/stores/{STORE}/availability"))
        .await
        .unwrap();
    if status != 200 {
        return None;
    }
    v["items"].as_array()?.iter().find(|i| i["sku"] == sku)?["available"].as_u64()
}

async fn wait_hq(bridge: &Bridge, sku: &str, want: u64) {
    for _ in 0..400 {
        if hq_available(bridge, sku).await == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "bridge never said {sku} = {want}: {:?}",
        hq_available(bridge, sku).await
    );
}

/// HQ sends `command` (JSON) to `store` through `path` (`orders`,
/// `commands`) and reads the command's status until `done` says so.
async fn hq_send(
    bridge: &Bridge,
    store: &str,
    path: &str,
    command: &Value,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let (status, sent) = bridge
        .post(&format!("/api/v1/stores/{store}/{path}"), command)
        .await
        .unwrap();
    assert_eq!(status, 202, "{sent}");
    let id = sent["command_id"].as_str().unwrap().to_string();
    let mut last = Value::Null;
    for _ in 0..400 {
        let (_, v) = bridge
            .get(&format!("/api/v1/stores/{store}/commands/{id}"))
            .await
            .unwrap();
        if done(&v) {
            return v;
        }
        last = v;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{command} at {store}: never done: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_while_offline_reach_hq_as_coalesced_availability() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await.unwrap();
    let proxy = Proxy::start(broker.addr()).await.unwrap();
    let sink = Sink::start().await.unwrap();
    let a = Bridge::start(dir.path(), &broker.url(), &sink.url, "a")
        .await
        .unwrap();
    let b = Bridge::start(dir.path(), &broker.url(), &sink.url, "b")
        .await
        .unwrap();
    let node = node(&dir.path().join("node"), &proxy.url()).await;
    storenode_tests::cloud::wait_link(&node, true)
        .await
        .unwrap();
    // HQ hears the catalog's availability (whichever bridge delivered it,
    // both answer).
    wait_hq(&a, "A-1", 10).await;
    wait_hq(&b, "A-1", 10).await;

    // The link goes down; the till sells on.
    proxy.cut();
    storenode_tests::cloud::wait_link(&node, false)
        .await
        .unwrap();
    let pw = node.add_device("till-1", "till").await.unwrap();
    let client = reqwest::Client::new();
    let before_sales = jiff::Timestamp::now().as_millisecond() as u64;
    for i in 0..6 {
        let r = client
            .post(node.url("/api/v1/till/receipts"))
            .basic_auth("till-1", Some(&pw))
            .json(&json!({"receipt_id": format!("R-{i}"), "till": "till-1",
                          "at": storenode_tests::now_rfc3339(), "kind": "sale",
                          "lines": [{"sku": "A-1", "quantity": 1}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let (_, v) = node.get("/api/v1/stock/A-1").await.unwrap();
    assert_eq!(v["available"], 4, "{v}");
    // HQ still has the old figure.
    assert_eq!(hq_available(&a, "A-1").await, Some(10));

    // Back: HQ gets the latest value, coalesced, and everything else in
    // order.
    proxy.restore();
    storenode_tests::cloud::wait_link(&node, true)
        .await
        .unwrap();
    wait_hq(&a, "A-1", 4).await;
    wait_hq(&b, "A-1", 4).await;
    let head = node.head().await.unwrap();
    let events = sink.wait_all(STORE, head, 30).await.unwrap();
    let a1: Vec<u64> = events
        .iter()
        .filter(|e| e["type"] == "availability_changed")
        .flat_map(|e| {
            e["data"]["event"]["availability_changed"]["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|i| i["sku"] == "A-1")
        .map(|i| i["available"].as_u64().unwrap())
        .collect();
    assert!(
        !a1.is_empty() && a1.len() < 1 + 6,
        "six sales, fewer values: {a1:?}"
    );
    assert_eq!(a1.last(), Some(&4), "{a1:?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "till_receipt_recorded")
            .count(),
        6
    );
    // A snapshot followed the link's return.
    assert!(
        events.iter().any(|e| e["type"] == "availability_snapshot"),
        "no snapshot"
    );
    // Across the fleet.
    let (status, v) = a.get("/api/v1/availability/A-1").await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["stores"][0]["store_id"], STORE, "{v}");
    assert_eq!(v["stores"][0]["available"], 4, "{v}");

    // HQ orders more than the store can promise: refused, and HQ can see
    // why in the command's status.
    let order = json!({"order_id": "HQ-9", "order": {"customer_name": "C", "payment": "prepaid",
        "lines": [{"sku": "A-1", "quantity": 5, "unit_price_cents": 100}]}});
    let outcome = hq_send(&a, STORE, "orders", &order, |v| {
        v["order"]["outcome"] == "rejected"
    })
    .await;
    assert_eq!(outcome["order"]["code"], "out_of_stock", "{outcome}");
    assert_eq!(outcome["order"]["skus"], json!(["A-1"]), "{outcome}");
    // The webhook carries the code too.
    let head = node.head().await.unwrap();
    let events = sink.wait_all(STORE, head, 30).await.unwrap();
    let rejected = events
        .iter()
        .find(|e| e["type"] == "order_rejected" && e["subject"] == "HQ-9")
        .unwrap();
    assert_eq!(
        rejected["data"]["event"]["order_rejected_with_code"]["code"], "out_of_stock",
        "{rejected}"
    );

    // HQ's books say 12 of A-1 as of just before the sales: the store
    // takes 12 and the six sales after it; the command's status says so.
    let applied = hq_send(
        &a,
        STORE,
        "commands",
        &json!({"reconcile_snapshot": {"as_of_ms": before_sales,
                "lines": [{"sku": "A-1", "on_hand": 12}]}}),
        |v| v["stock"].is_object(),
    )
    .await;
    assert_eq!(
        applied["stock"]["items"],
        json!([{"sku": "A-1", "hq_on_hand": 12, "local_after": -6, "on_hand": 6}]),
        "{applied}"
    );
    let (_, v) = node.get("/api/v1/stock/A-1").await.unwrap();
    assert_eq!(v["on_hand"], 6, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_till_over_tls_resending_after_a_kill_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start_with(
        dir.path(),
        Opts {
            no_catalog: true,
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    let (status, v) = node
        .post(
            "/api/v1/catalog/import",
            &json!([{"sku": "B-1", "name": "B", "barcodes": [storenode_tests::ean13(320_000_000_001)],
                     "aisle": 1, "bay": 1, "shelf": 1, "zone": "ambient",
                     "unit_price_cents": 100, "on_hand": 50}]),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    let creds = node.add_tls_device("till-7", "till").await.unwrap();
    // The till's clock when it rang them up: the same on every resend.
    let at_ms = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap();
    let receipt = |id: &str, n: u32| {
        codec::to_json(&CommandEnvelope {
            id: id.to_string(),
            command: protocol::Command::RecordReceipt {
                receipt: protocol::Receipt {
                    receipt_id: format!("T7-{n}"),
                    till: "till-7".into(),
                    at_ms,
                    kind: protocol::ReceiptKind::Sale,
                    voids: None,
                    lines: vec![protocol::ReceiptLine {
                        sku: "B-1".into(),
                        quantity: 2,
                        damaged: false,
                    }],
                },
            },
        })
    };
    let reply_topic = protocol::topic::device_reply("till-7");
    let cmd_topic = protocol::topic::device_command("till-7");
    // The till sends receipt 1 and dies before any answer can reach it
    // (the node is killed at once too, mid-post).
    {
        let till = node.mqtts(&creds).await.unwrap();
        till.publish(&cmd_topic, receipt("c-1", 1)).await.unwrap();
    }
    node.kill();
    let mut node = Node::start_with(
        dir.path(),
        Opts {
            no_catalog: true,
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    // It comes back and sends it again (same command id), and the next.
    let mut till = node.mqtts(&creds).await.unwrap();
    till.subscribe(&reply_topic).await.unwrap();
    for (cmd, n) in [("c-1", 1), ("c-2", 2), ("c-1", 1)] {
        till.publish(&cmd_topic, receipt(cmd, n)).await.unwrap();
        let p = till.recv_on(&reply_topic, 10).await.unwrap();
        let reply: CommandReply = codec::from_json(&p.payload).unwrap();
        assert_eq!(reply.status, ReplyStatus::Accepted, "{reply:?}");
    }
    // Receipt 1 applied once (whether or not the first try made it before
    // the kill), receipt 2 once: 50 - 2 - 2.
    let (_, v) = node.get("/api/v1/stock/B-1").await.unwrap();
    assert_eq!(v["on_hand"], 46, "{v}");
    assert_eq!(v["ledger"]["sold"], 4, "{v}");
    node.terminate().await.unwrap();
    storenode_tests::verify(&node.data_dir, &node.store_id).unwrap();
}

/// HQ sends an order to `store` and waits for its outcome.
async fn hq_order(bridge: &Bridge, store: &str, body: &Value) -> Value {
    hq_send(bridge, store, "orders", body, |v| {
        v["order"]["outcome"].is_string()
    })
    .await["order"]
        .clone()
}

/// HQ's re-routing, as docs/stock.md shows it: the stores whose
/// availability covers every line, by the bridge's fleet view.
async fn stores_covering(bridge: &Bridge, lines: &[(String, u64)], not: &str) -> Vec<String> {
    let mut out: Option<Vec<String>> = None;
    for (sku, quantity) in lines {
        let (status, v) = bridge
            .get(&format!("/api/v1/availability/{sku}"))
            .await
            .unwrap();
        assert_eq!(status, 200, "{v}");
        let here: Vec<String> = v["stores"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["available"].as_u64().unwrap() >= *quantity && s["store_id"] != not)
            .map(|s| s["store_id"].as_str().unwrap().to_string())
            .collect();
        out = Some(match out {
            None => here,
            Some(o) => o.into_iter().filter(|s| here.contains(s)).collect(),
        });
    }
    out.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hq_reroutes_what_a_store_refuses_to_another_store() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await.unwrap();
    let sink = Sink::start().await.unwrap();
    let hq = Bridge::start(dir.path(), &broker.url(), &sink.url, "a")
        .await
        .unwrap();
    // North has no A-2; south has plenty.
    let north = store(
        &dir.path().join("north"),
        &broker.url(),
        "s-north",
        [10, 0, 10],
    )
    .await;
    let south = store(
        &dir.path().join("south"),
        &broker.url(),
        "s-south",
        [10, 8, 10],
    )
    .await;
    for n in [&north, &south] {
        storenode_tests::cloud::wait_link(n, true).await.unwrap();
    }
    for _ in 0..400 {
        let (_, v) = hq.get("/api/v1/availability/A-2").await.unwrap();
        if v["stores"].as_array().is_some_and(|s| s.len() == 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 1. An order that allows partial fulfilment: north takes the line it
    // can fill and refuses the other, line by line, with its code.
    let order = |id: &str, partial: &str, lines: Value| {
        json!({"order_id": id, "partial": partial,
               "order": {"customer_name": "C", "payment": "prepaid", "lines": lines}})
    };
    let out = hq_order(
        &hq,
        "s-north",
        &order(
            "HQ-R1",
            "allow",
            json!([{"sku": "A-1", "quantity": 2, "unit_price_cents": 100},
                   {"sku": "A-2", "quantity": 3, "unit_price_cents": 100}]),
        ),
    )
    .await;
    assert_eq!(out["outcome"], "accepted", "{out}");
    assert_eq!(
        out["lines"],
        json!([{"line_no": 2, "sku": "A-2", "quantity": 3, "code": "out_of_stock"}]),
        "{out}"
    );
    let (_, o) = north.get("/api/v1/orders/HQ-R1").await.unwrap();
    let o = &o["order"];
    assert_eq!(o["partial"], "allow", "{o}");
    let picked: Vec<&str> = o["pick_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["sku"].as_str().unwrap())
        .collect();
    assert_eq!(picked, ["A-1"], "only the filled line is picked: {o}");
    let (_, a1) = north.get("/api/v1/stock/A-1").await.unwrap();
    assert_eq!(a1["reserved"], 2, "{a1}");

    // HQ routes the refused line where the fleet has it.
    let refused: Vec<(String, u64)> = out["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().unwrap().to_string(),
                l["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    let to = stores_covering(&hq, &refused, "s-north").await;
    assert_eq!(to, ["s-south"]);
    let lines: Vec<Value> = refused
        .iter()
        .map(|(sku, q)| json!({"sku": sku, "quantity": q, "unit_price_cents": 100}))
        .collect();
    let out = hq_order(&hq, &to[0], &order("HQ-R1.2", "none", json!(lines))).await;
    assert_eq!(out["outcome"], "accepted", "{out}");
    assert_eq!(out["lines"], json!([]), "{out}");
    let (_, a2) = south.get("/api/v1/stock/A-2").await.unwrap();
    assert_eq!(a2["reserved"], 3, "{a2}");

    // 2. All or nothing: north refuses the whole order, naming the SKU;
    // HQ sends it, whole, to the store that has every line.
    let lines = json!([{"sku": "A-3", "quantity": 1, "unit_price_cents": 100},
                       {"sku": "A-2", "quantity": 1, "unit_price_cents": 100}]);
    let out = hq_order(&hq, "s-north", &order("HQ-R2", "none", lines.clone())).await;
    assert_eq!(out["outcome"], "rejected", "{out}");
    assert_eq!(out["code"], "out_of_stock", "{out}");
    assert_eq!(out["skus"], json!(["A-2"]), "{out}");
    let (_, a3) = north.get("/api/v1/stock/A-3").await.unwrap();
    assert_eq!(a3["reserved"], 0, "a refused order reserves nothing: {a3}");
    let want: Vec<(String, u64)> = vec![("A-3".into(), 1), ("A-2".into(), 1)];
    let to = stores_covering(&hq, &want, "s-north").await;
    assert_eq!(to, ["s-south"]);
    let out = hq_order(&hq, &to[0], &order("HQ-R2", "none", lines)).await;
    assert_eq!(out["outcome"], "accepted", "{out}");

    // The webhook carried each refusal as a typed event HQ can act on.
    let head = north.head().await.unwrap();
    let events = sink.wait_all("s-north", head, 30).await.unwrap();
    let lines_rejected = events
        .iter()
        .find(|e| e["type"] == "order_lines_rejected" && e["subject"] == "HQ-R1")
        .unwrap();
    assert_eq!(
        lines_rejected["data"]["event"]["order_lines_rejected"]["lines"][0]["code"], "out_of_stock",
        "{lines_rejected}"
    );
    assert!(events
        .iter()
        .any(|e| e["type"] == "order_partial_policy" && e["subject"] == "HQ-R1"));
}
