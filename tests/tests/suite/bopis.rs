//! The whole buy-online-pickup-in-store flow, end to end: the real node,
//! its real broker (devices authenticate like integrators' devices do), its
//! HTTP API, a real sled directory, restarts.
use std::time::Duration;

use ed25519_dalek::SigningKey;
use protocol::pickup::{self, PickupClaim};
use protocol::{codec, topic, OrderId, StoreId};
use serde_json::{json, Value};
use storenode_tests::{test_barcode, Mqtt, Node, Opts};

fn store() -> StoreId {
    StoreId::new("test-store").unwrap()
}

const STOCK: i64 = 1_000_000;

/// The test catalog's barcode for `SKU-0nn`.
fn barcode(n: usize) -> String {
    test_barcode(n)
}

/// A new-order body; lines are (SKU number, quantity, substitutes allowed).
fn order(id: &str, lines: &[(usize, u32, bool)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(n, q, subst)| {
            json!({ "sku": format!("SKU-{n:03}"), "quantity": q,
                    "unit_price_cents": 100 + *n as i64, "substitution_allowed": subst })
        })
        .collect();
    json!({ "order_id": id, "customer_name": "Grace Hopper", "lines": lines, "payment": "prepaid" })
}

async fn create(node: &Node, body: &Value) {
    let (status, v) = node.post("/api/v1/orders", body).await.unwrap();
    assert_eq!(status, 201, "{v}");
}

/// (on_hand, reserved) of a test SKU.
async fn stock(node: &Node, n: usize) -> (i64, i64) {
    let (status, v) = node
        .get(&format!("/api/v1/stock/SKU-{n:03}"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    (
        v["on_hand"].as_i64().unwrap(),
        v["reserved"].as_i64().unwrap(),
    )
}

async fn get_order(node: &Node, id: &str) -> Value {
    let (status, v) = node.get(&format!("/api/v1/orders/{id}")).await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

fn kinds(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["event"].as_object().map_or_else(
                || e["event"].as_str().unwrap_or_default().to_string(),
                |o| o.keys().next().cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// A device command and its reply (JSON on the device's topics).
async fn device(dev: &mut Mqtt, name: &str, command: Value) -> Value {
    dev.publish(
        &topic::device_command(name),
        command.to_string().into_bytes(),
    )
    .await
    .unwrap();
    let p = dev.recv_on(&topic::device_reply(name), 10).await.unwrap();
    serde_json::from_slice(&p.payload).unwrap()
}

/// A device of `kind` listening to every notice of its namespace.
async fn listener(node: &Node, name: &str, kind: &str) -> Mqtt {
    let pw = node.add_device(name, kind).await.unwrap();
    let dev = node.mqtt(name, &pw).await.unwrap();
    dev.subscribe(&format!(
        "/tenants/{}/notify/#",
        protocol::device_tenant(name)
    ))
    .await
    .unwrap();
    dev
}

/// Everything `dev` has received so far, as text.
fn heard(dev: &mut Mqtt) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(p) = dev.rx.try_recv() {
        out.push(format!(
            "{} {}",
            p.topic,
            String::from_utf8_lossy(&p.payload)
        ));
    }
    out
}

/// The next notice on `channel` of device `name` about `event` (skipping
/// others).
async fn notice(dev: &mut Mqtt, name: &str, channel: &str, event: &str) -> Value {
    let t = topic::device_notify(name, channel);
    for _ in 0..200 {
        let p = dev.recv_on(&t, 10).await.unwrap();
        let v: Value = serde_json::from_slice(&p.payload).unwrap();
        if v["event"] == event {
            return v;
        }
    }
    panic!("no {event} notice on {channel}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_order_with_a_short_and_a_substitution() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let pw = node.add_device("scanner-1", "scanner").await.unwrap();
    let mut scanner = node.mqtt("scanner-1", &pw).await.unwrap();
    scanner
        .subscribe(&topic::device_reply("scanner-1"))
        .await
        .unwrap();
    let mut screen = listener(&node, "screen", "pickup-screen").await;
    let mut printer = listener(&node, "printer-9", "printer").await;
    let mut gateway = listener(&node, "gateway-1", "gateway").await;

    // Milk-like line 1 (×2, substitutes ok), line 2 (×1, no substitutes),
    // line 3 (×2, substitutes ok).
    create(
        &node,
        &order("FULL-1", &[(31, 2, true), (12, 1, false), (20, 2, true)]),
    )
    .await;
    node.wait_state("FULL-1", "prepared", 10).await.unwrap();
    let v = get_order(&node, "FULL-1").await;
    let walk: Vec<u64> = v["order"]["pick_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line_no"].as_u64().unwrap())
        .collect();
    assert_eq!(walk, vec![2, 3, 1], "walking order by aisle");
    assert_eq!(stock(&node, 31).await, (STOCK, 2), "accepting reserves");

    let scan = |line: u32, n: usize| {
        json!({ "id": format!("scan-{line}-{n}-{}", rand_id()), "command": { "pick_item": {
            "order_id": "FULL-1", "line_no": line, "barcode": barcode(n), "staff": "ann" } } })
    };
    // The wrong item is refused with what it is.
    let r = device(&mut scanner, "scanner-1", scan(1, 12)).await;
    assert_eq!(r["status"], "rejected", "{r}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("wrong item") && reason.contains("SKU-012") && reason.contains("SKU-031"),
        "{reason}"
    );
    // No substitutes where the customer said no.
    let (status, e) = node
        .post(
            "/api/v1/orders/FULL-1/lines/2/substitute",
            &json!({ "barcode": barcode(13), "staff": "ann" }),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, e["error"].as_str()),
        (409, Some("no_substitution")),
        "{e}"
    );

    // Line 2 scanned; line 1 one unit scanned, then short (found 1).
    assert_eq!(
        device(&mut scanner, "scanner-1", scan(2, 12)).await["status"],
        "accepted"
    );
    assert_eq!(
        device(&mut scanner, "scanner-1", scan(1, 31)).await["status"],
        "accepted"
    );
    assert_eq!(
        node.order_state("FULL-1").await.unwrap().as_deref(),
        Some("picking")
    );
    let (status, v) = node
        .post(
            "/api/v1/orders/FULL-1/lines/1/short",
            &json!({ "found": 1, "staff": "ann" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    // Line 3 substituted with SKU-021, charged at its shelf price.
    let (status, v) = node
        .post(
            "/api/v1/orders/FULL-1/lines/3/substitute",
            &json!({ "barcode": barcode(21), "quantity": 2, "staff": "ann" }),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("picked")),
        "last line settles the task: {v}"
    );
    notice(&mut printer, "printer-9", "printer", "shipment_processed").await;

    let v = get_order(&node, "FULL-1").await;
    let progress = v["order"]["progress"].as_array().unwrap();
    let line = |n: u64| progress.iter().find(|p| p["line_no"] == n).unwrap();
    assert_eq!(line(1)["state"], "shorted");
    assert_eq!(line(1)["picked"], 1);
    assert_eq!(line(2)["state"], "picked");
    assert_eq!(line(3)["state"], "substituted");
    assert_eq!(line(3)["substitute"]["sku"], "SKU-021");
    assert_eq!(line(3)["substitute"]["unit_price_cents"], 121);
    // A short without a reason is `not_found` (docs/stock.md): the
    // shelf holds what the picker found there, and a count is asked for.
    let k = kinds(&v);
    assert!(k.contains(&"stock_counted".to_string()), "{k:?}");
    assert!(k.contains(&"count_task_opened".to_string()), "{k:?}");

    // Stock: the short emptied SKU-031's shelf (the one unit found is in
    // the tote); the substitute took SKU-021; no reservation is left
    // behind.
    assert_eq!(stock(&node, 31).await, (0, 0));
    assert_eq!(
        node.metric("storenode_skus_out_of_stock", "")
            .await
            .unwrap(),
        1.0,
        "SKU-031's shelf is empty"
    );
    assert_eq!(stock(&node, 12).await, (STOCK - 1, 0));
    assert_eq!(stock(&node, 20).await, (STOCK, 0));
    assert_eq!(stock(&node, 21).await, (STOCK - 2, 0));

    // Staged on the shelf: ready, on the pickup screen, found by its code.
    let (status, v) = node
        .post(
            "/api/v1/orders/FULL-1/stage",
            &json!({ "staff": "sam", "slot": { "kind": "shelf", "id": "B2" } }),
        )
        .await
        .unwrap();
    assert_eq!((status, v["state"].as_str()), (200, Some("ready")), "{v}");
    let shown = notice(&mut screen, "screen", "pickup-screen", "ready_for_pickup").await;
    assert_eq!(shown["order_id"], "FULL-1");
    assert_eq!(shown["action"], "show");
    let code = get_order(&node, "FULL-1").await["order"]["pickup_code"]
        .as_str()
        .unwrap()
        .to_string();
    // The desk also finds it by the customer's name.
    let (status, by_name) = node.get("/api/v1/orders?q=grace%20hop").await.unwrap();
    assert_eq!(status, 200, "{by_name}");
    assert_eq!(by_name["orders"][0]["id"], "FULL-1", "{by_name}");
    let (status, none) = node.get("/api/v1/orders?q=nobody").await.unwrap();
    assert_eq!(
        (status, none["orders"].as_array().map(|a| a.len())),
        (200, Some(0))
    );
    let (status, found) = node
        .get(&format!("/api/v1/pickup/{}", code.to_lowercase()))
        .await
        .unwrap();
    assert_eq!(
        (status, found["order"]["id"].as_str()),
        (200, Some("FULL-1")),
        "{found}"
    );
    let customer = notice(&mut gateway, "gateway-1", "customer", "ready_for_pickup").await;
    assert!(customer["message"].as_str().unwrap().contains(&code));
    // Only the gateway hears the code: the screen and the printer never do,
    // and each hears only its own channel.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for (dev, name, channel) in [
        (&mut screen, "screen", "pickup-screen"),
        (&mut printer, "printer-9", "printer"),
    ] {
        for line in heard(dev) {
            assert!(
                !line.contains(&code),
                "{name} heard the pickup code: {line}"
            );
            assert!(
                line.starts_with(&topic::device_notify(name, channel)),
                "{name} heard another channel: {line}"
            );
        }
    }

    // A wrong code is refused; the right one hands it over.
    let (status, e) = node
        .post(
            "/api/v1/orders/FULL-1/handed-over",
            &json!({ "staff": "dee", "code": "ZZZZZZ" }),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, e["error"].as_str()),
        (403, Some("pickup_code_refused")),
        "{e}"
    );
    let (status, v) = node
        .post(
            "/api/v1/orders/FULL-1/handed-over",
            &json!({ "staff": "dee", "code": code }),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("fulfilled")),
        "{v}"
    );
    let v = get_order(&node, "FULL-1").await;
    assert_eq!(v["order"]["handed_over"]["by"], "dee");
    assert_eq!(v["order"]["handed_over"]["proof"], "code");
    // Audit: every step names who authenticated: the scanner (a device),
    // the API token (whose `staff` is only a label, in `by`).
    let actors: Vec<String> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].to_string())
        .collect();
    assert!(actors.iter().any(|a| a.contains("scanner-1")), "{actors:?}");
    assert!(
        !actors.iter().any(|a| a.contains("\"staff\"")),
        "an API caller's `staff` never becomes the actor: {actors:?}"
    );
    assert_eq!(actors.last().map(String::as_str), Some("\"api\""));
    let (status, _) = node.get(&format!("/api/v1/pickup/{code}")).await.unwrap();
    assert_eq!(
        status, 404,
        "a collected order is no longer waiting under its code"
    );
}

fn rand_id() -> u32 {
    rand::random()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_pick_of_three_orders_in_one_walk() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    create(&node, &order("B-1", &[(50, 1, false), (5, 1, false)])).await;
    create(&node, &order("B-2", &[(70, 1, false), (5, 2, false)])).await;
    create(&node, &order("B-3", &[(30, 1, false)])).await;
    create(&node, &order("B-X", &[(30, 1, false)])).await;
    for id in ["B-1", "B-2", "B-3", "B-X"] {
        node.wait_state(id, "prepared", 10).await.unwrap();
    }
    node.post(
        "/api/v1/orders/B-X/cancel",
        &json!({ "reason": "test", "by": "mgr" }),
    )
    .await
    .unwrap();

    let (status, walk) = node
        .post(
            "/api/v1/pick-walks",
            &json!({ "order_ids": ["B-1", "B-2", "B-3", "B-X"], "staff": "ann" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{walk}");
    assert_eq!(walk["refused"][0]["order_id"], "B-X", "{walk}");
    let walk_id = walk["walk_id"].as_str().unwrap().to_string();
    // One stop per shelf place, in walking order; SKU-005 serves two totes.
    let stops: Vec<&str> = walk["stops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sku"].as_str().unwrap())
        .collect();
    assert_eq!(stops, vec!["SKU-005", "SKU-030", "SKU-050", "SKU-070"]);
    let first: Vec<(String, u64, u64)> = walk["stops"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["order_id"].as_str().unwrap().to_string(),
                i["tote"].as_u64().unwrap(),
                i["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(first, vec![("B-1".into(), 1, 1), ("B-2".into(), 2, 2)]);
    let (status, again) = node
        .get(&format!("/api/v1/pick-walks/{walk_id}"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(again["stops"], walk["stops"]);

    // Walk the stops, scanning each item into its tote.
    for stop in walk["stops"].as_array().unwrap() {
        let sku: usize = stop["sku"].as_str().unwrap()[4..].parse().unwrap();
        for item in stop["items"].as_array().unwrap() {
            let (status, v) = node
                .post(
                    &format!("/api/v1/orders/{}/lines/{}/pick", item["order_id"].as_str().unwrap(), item["line_no"]),
                    &json!({ "barcode": barcode(sku), "quantity": item["quantity"], "staff": "ann" }),
                )
                .await
                .unwrap();
            assert_eq!(status, 200, "{v}");
        }
    }
    for (id, tote) in [("B-1", 1), ("B-2", 2), ("B-3", 3)] {
        let v = get_order(&node, id).await;
        assert_eq!(v["order"]["state"], "picked", "{id}");
        assert_eq!(v["order"]["walk_id"], walk_id.as_str());
        assert_eq!(v["order"]["tote"], tote);
    }
    assert_eq!(stock(&node, 5).await, (STOCK - 3, 0));
    // A picked walk still shows its orders (waiting to be staged), with
    // nothing open; once they are staged it is over.
    let (status, v) = node
        .get(&format!("/api/v1/pick-walks/{walk_id}"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    let open = v["stops"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["items"].as_array().unwrap().clone())
        .filter(|i| i["state"] == "open")
        .count();
    assert_eq!(open, 0, "{v}");
    let (status, _) = node.get("/api/v1/pick-walks/W-NONE").await.unwrap();
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_at_each_stage() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let mut screen = listener(&node, "screen", "pickup-screen").await;
    let mut printer = listener(&node, "printer-9", "printer").await;
    for i in 1..=5 {
        create(&node, &order(&format!("C-{i}"), &[(60, 2, false)])).await;
        node.wait_state(&format!("C-{i}"), "prepared", 10)
            .await
            .unwrap();
    }
    assert_eq!(stock(&node, 60).await, (STOCK, 10));
    // C-2 mid-pick, C-3 picked, C-4 ready, C-5 handed over.
    let (status, _) = node
        .post(
            "/api/v1/orders/C-2/lines/1/pick",
            &json!({ "barcode": barcode(60), "staff": "ann" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    node.post("/api/v1/orders/C-3/picked", &json!({ "staff": "ann" }))
        .await
        .unwrap();
    node.make_ready("C-4").await.unwrap();
    let code = node.make_ready("C-5").await.unwrap();
    let (status, _) = node
        .post(
            "/api/v1/orders/C-5/handed-over",
            &json!({ "staff": "dee", "code": code }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);

    let cancel = |id: &str| {
        let id = id.to_string();
        let node = &node;
        async move {
            node.post(
                &format!("/api/v1/orders/{id}/cancel"),
                &json!({ "reason": "customer changed their mind", "by": "mgr" }),
            )
            .await
            .unwrap()
        }
    };
    // (order, stage recorded, items to put back)
    for (id, stage, put_back) in [
        ("C-1", "before_pick", 0),
        ("C-2", "during_pick", 1),
        ("C-3", "after_pick", 2),
        ("C-4", "after_staging", 2),
    ] {
        let (status, v) = cancel(id).await;
        assert_eq!(
            (status, v["state"].as_str()),
            (200, Some("cancelled")),
            "{id}: {v}"
        );
        let o = get_order(&node, id).await;
        assert_eq!(o["order"]["cancel"]["stage"], stage, "{id}");
        let back: u64 = o["order"]["put_back"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["quantity"].as_u64().unwrap())
            .sum();
        assert_eq!(back, put_back, "{id}");
        // A repeat changes nothing.
        let events = o["events"].as_array().unwrap().len();
        assert_eq!(cancel(id).await.0, 200);
        assert_eq!(
            get_order(&node, id).await["events"]
                .as_array()
                .unwrap()
                .len(),
            events,
            "{id}"
        );
    }
    // After staging: the slot to clear is named, and screens drop it.
    let c4 = get_order(&node, "C-4").await;
    assert_eq!(c4["order"]["cancel"]["unstage"]["id"], "A1");
    let gone = notice(&mut screen, "screen", "pickup-screen", "order_cancelled").await;
    assert_eq!(gone["action"], "remove");
    let put_back = notice(&mut printer, "printer-9", "printer", "restocked").await;
    assert_eq!(put_back["action"], "print_put_back");

    // After hand-over: refused, with the reason, recorded once.
    let (status, e) = cancel("C-5").await;
    assert_eq!(
        (status, e["error"].as_str()),
        (409, Some("cancel_rejected")),
        "{e}"
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("already handed over"),
        "{e}"
    );
    let (status, _) = cancel("C-5").await;
    assert_eq!(status, 409);
    let c5 = get_order(&node, "C-5").await;
    assert_eq!(c5["order"]["state"], "fulfilled");
    assert_eq!(
        kinds(&c5)
            .iter()
            .filter(|k| *k == "cancel_rejected")
            .count(),
        1
    );

    // Every reservation is released; only C-5's two units left the store.
    assert_eq!(stock(&node, 60).await, (STOCK - 2, 0));
    // HQ's cancel arriving after such a hand-over, and its retry, are
    // in tests/sync.rs (an_hq_cancel_after_an_offline_hand_over…).
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_door_sends_only_its_own_commands() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let pw = node.add_device("printer-1", "printer").await.unwrap();
    let mut printer = node.mqtt("printer-1", &pw).await.unwrap();
    printer
        .subscribe(&topic::device_reply("printer-1"))
        .await
        .unwrap();
    create(&node, &order("D-1", &[(7, 1, false)])).await;
    let code = node.make_ready("D-1").await.unwrap();
    let head = node.head().await.unwrap();
    // A device login cannot cancel, confirm payments, touch stock or close
    // the store; it cannot hand over an order waiting at the desk, even
    // with the right code (codes travel on the broker).
    let refused = [
        json!({ "cancel": { "order_id": "D-1", "reason": "x", "by": "p" } }),
        json!({ "confirm_payment": { "order_id": "D-1" } }),
        json!({ "adjust_stock": { "sku": "SKU-007", "delta": -5, "reason": "x", "staff": "p" } }),
        json!({ "set_store_open": { "open": false, "reason": "x", "staff": "p" } }),
        json!({ "hand_over": { "order_id": "D-1", "staff": "p", "code": code } }),
    ];
    for (i, command) in refused.into_iter().enumerate() {
        let r = device(
            &mut printer,
            "printer-1",
            json!({ "id": format!("p-{i}"), "command": command }),
        )
        .await;
        assert_eq!(r["status"], "rejected", "{command}: {r}");
    }
    assert_eq!(node.head().await.unwrap(), head, "nothing written");
    assert_eq!(
        node.order_state("D-1").await.unwrap().as_deref(),
        Some("ready")
    );

    // A locker hands over what waits in it, with the customer's code.
    let pw = node.add_device("locker-1", "locker").await.unwrap();
    create(&node, &order("D-2", &[(8, 1, false)])).await;
    node.wait_state("D-2", "prepared", 10).await.unwrap();
    node.post("/api/v1/orders/D-2/picked", &json!({ "staff": "ann" }))
        .await
        .unwrap();
    let (status, _) = node
        .post(
            "/api/v1/orders/D-2/stage",
            &json!({ "staff": "ann", "slot": { "kind": "locker", "id": "12" } }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let code2 = get_order(&node, "D-2").await["order"]["pickup_code"]
        .as_str()
        .unwrap()
        .to_string();
    let mut locker = node.mqtt("locker-1", &pw).await.unwrap();
    locker
        .subscribe(&topic::device_reply("locker-1"))
        .await
        .unwrap();
    let wrong = device(&mut locker, "locker-1", json!({ "id": "l-1", "command": { "hand_over": { "order_id": "D-2", "staff": "locker-1", "code": "ZZZZZZ" } } })).await;
    assert_eq!(wrong["status"], "rejected", "{wrong}");
    let r = device(&mut locker, "locker-1", json!({ "id": "l-2", "command": { "hand_over": { "order_id": "D-2", "staff": "locker-1", "code": code2 } } })).await;
    assert_eq!(r["status"], "accepted", "{r}");
    let v = get_order(&node, "D-2").await;
    assert_eq!(v["order"]["state"], "fulfilled");
    let last = v["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["actor"]["device"], "locker-1",
        "the audit names the locker: {last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_restocks_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Opts {
        env: vec![
            ("STORENODE_PICKUP_EXPIRY_S".into(), "6".into()),
            ("STORENODE_PICKUP_REMINDER_S".into(), "5".into()),
        ],
        ..Opts::default()
    };
    let mut node = Node::start_with(dir.path(), opts()).await.unwrap();
    create(&node, &order("EXP-1", &[(80, 3, false)])).await;
    node.make_ready("EXP-1").await.unwrap();
    assert_eq!(stock(&node, 80).await, (STOCK - 3, 0));
    // The reminder falls due a second after it is ready.
    node.wait_for("reminder", 10, || async {
        Ok(kinds(&get_order(&node, "EXP-1").await).contains(&"pickup_reminded".to_string()))
    })
    .await
    .unwrap();
    // Down while the expiry falls due.
    assert!(node.terminate().await.unwrap().success());
    tokio::time::sleep(Duration::from_millis(6500)).await;
    let node = Node::start_with(dir.path(), opts()).await.unwrap();
    node.wait_state("EXP-1", "expired", 10).await.unwrap();
    let v = get_order(&node, "EXP-1").await;
    let k = kinds(&v);
    assert_eq!(
        k.iter().filter(|k| *k == "pickup_reminded").count(),
        1,
        "{k:?}"
    );
    assert_eq!(
        k.iter().filter(|k| *k == "pickup_expired").count(),
        1,
        "{k:?}"
    );
    assert_eq!(k.last().map(String::as_str), Some("restocked"), "{k:?}");
    assert_eq!(
        stock(&node, 80).await,
        (STOCK, 0),
        "the items are back in stock"
    );
    // The customer messages queued for the cloud, read with a cursor.
    let mut kinds_sent = Vec::new();
    let mut after = 0;
    loop {
        let (status, v) = node
            .get(&format!(
                "/api/v1/outbox/customer-messages?after={after}&limit=2"
            ))
            .await
            .unwrap();
        assert_eq!(status, 200, "{v}");
        let page = v["messages"].as_array().unwrap().clone();
        for m in &page {
            assert_eq!(m["order_id"], "EXP-1");
            kinds_sent.push(m["kind"].as_str().unwrap().to_string());
        }
        let next = v["next_after"].as_u64().unwrap();
        if page.is_empty() || next == after {
            break;
        }
        after = next;
    }
    assert_eq!(kinds_sent, vec!["ready", "reminder", "expired"]);
    // Timers never fire twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(kinds(&get_order(&node, "EXP-1").await).len(), k.len());
}

fn hq_token(hq: &SigningKey, store_id: &str, order_id: &str, code: &str) -> String {
    pickup::sign(
        hq,
        &PickupClaim {
            store_id: StoreId::new(store_id).unwrap(),
            order_id: OrderId::new(order_id).unwrap(),
            code: code.into(),
            issued_ms: 1,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pickup_codes_valid_tampered_and_other_stores() {
    let dir = tempfile::tempdir().unwrap();
    let hq = SigningKey::from_bytes(&[42; 32]);
    let opts = Opts {
        env: vec![(
            "STORENODE_PICKUP_HQ_KEYS".into(),
            pickup::key_to_text(&hq.verifying_key()),
        )],
        ..Opts::default()
    };
    let node = Node::start_with(dir.path(), opts).await.unwrap();

    // An order HQ routed here with its own signed token.
    let mut body = order("HQ-1", &[(40, 1, false)]);
    let token = hq_token(&hq, "test-store", "HQ-1", "HQ7K2P");
    body["pickup_token"] = json!(token);
    create(&node, &body).await;
    // One whose token was issued for another store is refused at intake.
    let mut bad = order("HQ-BAD", &[(40, 1, false)]);
    bad["pickup_token"] = json!(hq_token(&hq, "other-store", "HQ-BAD", "XXXXXX"));
    create(&node, &bad).await;
    node.wait_state("HQ-BAD", "rejected", 10).await.unwrap();
    let reason = get_order(&node, "HQ-BAD").await["order"]["reject_reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("is for store other-store"), "{reason}");

    let code = node.make_ready("HQ-1").await.unwrap();
    assert_eq!(code, "HQ7K2P", "the code HQ issued is the order's code");
    let v = get_order(&node, "HQ-1").await;
    assert_eq!(v["order"]["pickup_token"], token.as_str());

    // Tampered: the claim edited, the signature kept.
    let forged = hq_token(
        &SigningKey::from_bytes(&[7; 32]),
        "test-store",
        "HQ-1",
        "AAAAAA",
    );
    let tampered = format!(
        "{}.{}",
        forged.rsplit_once('.').unwrap().0,
        token.rsplit_once('.').unwrap().1
    );
    let cases = [
        (tampered, "does not verify"),
        (
            hq_token(&hq, "other-store", "HQ-1", "HQ7K2P"),
            "is for store other-store",
        ),
        (
            hq_token(&hq, "test-store", "HQ-2", "HQ7K2P"),
            "is for order HQ-2",
        ),
        (forged, "does not verify"),
    ];
    for (given, words) in cases {
        let (status, e) = node
            .post(
                "/api/v1/orders/HQ-1/handed-over",
                &json!({ "staff": "dee", "code": given }),
            )
            .await
            .unwrap();
        assert_eq!(
            (status, e["error"].as_str()),
            (403, Some("pickup_code_refused")),
            "{e}"
        );
        assert!(
            e["message"].as_str().unwrap().contains(words),
            "{words}: {e}"
        );
    }
    assert_eq!(
        node.order_state("HQ-1").await.unwrap().as_deref(),
        Some("ready")
    );
    let (status, v) = node
        .post(
            "/api/v1/orders/HQ-1/handed-over",
            &json!({ "staff": "dee", "code": token }),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("fulfilled")),
        "{v}"
    );
    assert_eq!(
        get_order(&node, "HQ-1").await["order"]["handed_over"]["proof"],
        "signed_token"
    );

    // A local order gets the node's own signature, which HQ can check with
    // the key `storenode keys` prints.
    create(&node, &order("LOC-1", &[(41, 1, false)])).await;
    node.make_ready("LOC-1").await.unwrap();
    let local = get_order(&node, "LOC-1").await["order"]["pickup_token"]
        .as_str()
        .unwrap()
        .to_string();
    let out = std::process::Command::new(storenode_tests::binary())
        .args(["keys", "--data-dir"])
        .arg(dir.path())
        .args(["--store-id", "test-store"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let node_key = pickup::key_from_text(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let claim = pickup::verify(&local, &[node_key]).unwrap();
    assert_eq!(claim.order_id.as_str(), "LOC-1");
    assert!(pickup::verify(&local, &[hq.verifying_key()]).is_err());
    let (status, found) = node.get(&format!("/api/v1/pickup/{local}")).await.unwrap();
    assert_eq!(
        (status, found["order"]["id"].as_str()),
        (200, Some("LOC-1"))
    );
    let (status, _) = node
        .post(
            "/api/v1/orders/LOC-1/handed-over",
            &json!({ "staff": "dee", "code": local }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_rules_stock_closed_store_and_late_orders() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    // A cycle count leaves 3 of SKU-090.
    let (status, v) = node
        .post(
            "/api/v1/stock/count",
            &json!({ "counts": [{ "sku": "SKU-090", "quantity": 3 }], "staff": "mgr" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    create(&node, &order("R-1", &[(90, 2, false)])).await;
    node.wait_state("R-1", "prepared", 10).await.unwrap();
    create(&node, &order("R-2", &[(90, 2, false)])).await;
    create(
        &node,
        &json!({ "order_id": "R-3", "customer_name": "Ann", "payment": "prepaid",
        "lines": [{ "sku": "NOPE-1", "quantity": 1, "unit_price_cents": 1 }] }),
    )
    .await;
    // (Decided by the order service as it reacts: let it decide these two
    // before the store closes.)
    for id in ["R-2", "R-3"] {
        node.wait_state(id, "rejected", 10).await.unwrap();
    }
    let (status, _) = node
        .post(
            "/api/v1/store/open",
            &json!({ "open": false, "reason": "stocktake", "staff": "mgr" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    create(&node, &order("R-4", &[(1, 1, false)])).await;
    for (id, words) in [
        (
            "R-2",
            "not enough stock for Test item SKU-090 (SKU-090): 1 available, 2 ordered",
        ),
        ("R-3", "unknown SKU NOPE-1"),
        ("R-4", "the store is closed for orders: stocktake"),
    ] {
        node.wait_state(id, "rejected", 10).await.unwrap();
        let reason = get_order(&node, id).await["order"]["reject_reason"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(reason.contains(words), "{id}: {reason}");
    }
    node.post(
        "/api/v1/store/open",
        &json!({ "open": true, "staff": "mgr" }),
    )
    .await
    .unwrap();
    create(&node, &order("R-5", &[(1, 1, false)])).await;
    node.wait_state("R-5", "prepared", 10).await.unwrap();
    assert_eq!(stock(&node, 90).await, (3, 2));

    // A pending payment waits for the cloud's confirmation.
    let mut pending = order("P-1", &[(2, 1, false)]);
    pending["payment"] = json!("pending");
    create(&node, &pending).await;
    node.wait_state("P-1", "accepted", 10).await.unwrap();
    let (status, _) = node
        .post("/api/v1/orders/P-1/confirm-payment", &json!({}))
        .await
        .unwrap();
    assert_eq!(status, 200);
    node.wait_state("P-1", "prepared", 10).await.unwrap();

    // An order past its promise time is flagged late, once.
    let mut late = order("L-1", &[(3, 1, false)]);
    late["due_at_ms"] = json!(1);
    create(&node, &late).await;
    let late_before = node.metric("storenode_orders_late", "").await.unwrap();
    node.wait_for("late flag", 10, || async {
        Ok(get_order(&node, "L-1").await["order"]["late"] == true)
    })
    .await
    .unwrap();
    // The manager's dashboard figure: late orders, in metrics and on the
    // store summary.
    assert_eq!(
        node.metric("storenode_orders_late", "").await.unwrap(),
        late_before + 1.0
    );
    let (_, summary) = node.get("/api/v1/store").await.unwrap();
    let late_ids: Vec<&str> = summary["late"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["order_id"].as_str())
        .collect();
    assert_eq!(late_ids, vec!["L-1"], "{summary}");
    assert_eq!(summary["orders"]["rejected"], 3, "{summary}");

    // Unknown SKUs and bad counts are refused and change nothing.
    let head = node.head().await.unwrap();
    let (status, e) = node
        .post(
            "/api/v1/stock/adjust",
            &json!({ "sku": "NOPE", "delta": 1, "reason": "found", "staff": "mgr" }),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, e["error"].as_str()),
        (422, Some("unknown_sku")),
        "{e}"
    );
    let (status, e) = node
        .post(
            "/api/v1/orders/R-1/lines/1/pick",
            &json!({ "barcode": "4006381333931", "staff": "ann" }),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, e["error"].as_str()),
        (422, Some("unknown_barcode")),
        "{e}"
    );
    let (status, e) = node
        .post(
            "/api/v1/orders/R-1/stage",
            &json!({ "slot": { "kind": "shelf", "id": "A1" }, "staff": "sam" }),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, e["error"].as_str()),
        (409, Some("wrong_state")),
        "{e}"
    );
    assert_eq!(node.head().await.unwrap(), head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_import_reports_bad_rows_over_api_and_cli() {
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
    let csv = "\
sku,name,barcodes,aisle,bay,shelf,zone,unit_price_cents,age_restricted,on_hand
MILK-1L,Whole milk 1 L,4006381333931,4,2,1,chilled,129,false,40
BAD-1,Broken,4006381333932,1,1,1,ambient,100,,5
BEER-6,Lager 6-pack,73513537,9,1,2,ambient,899,true,12
";
    let resp = node
        .request(reqwest::Method::POST, "/api/v1/catalog/import")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["errors"][0]["row"], 2);
    assert_eq!(report["errors"][0]["field"], "barcodes");
    let (_, milk) = node.get("/api/v1/stock/MILK-1L").await.unwrap();
    assert_eq!(
        (milk["on_hand"].as_i64(), milk["item"]["zone"].as_str()),
        (Some(40), Some("chilled"))
    );
    // Nothing usable: 422 with the report, nothing written.
    let head = node.head().await.unwrap();
    let resp = node
        .request(reqwest::Method::POST, "/api/v1/catalog/import")
        .header("content-type", "text/csv")
        .body("sku,name,barcodes,aisle,bay,shelf,zone,unit_price_cents\nX,Y,123,1,1,1,warm,1\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["report"]["errors"][0]["field"], "zone", "{e}");
    assert_eq!(node.head().await.unwrap(), head);
    // A row whose barcode the catalog already gives another SKU is reported
    // (with its file row); the others are imported.
    let resp = node
        .request(reqwest::Method::POST, "/api/v1/catalog/import")
        .header("content-type", "text/csv")
        .body("sku,name,barcodes,aisle,bay,shelf,zone,unit_price_cents\nOAT-1L,Oat drink,4006381333931,4,2,2,chilled,189\nEGGS-6,Eggs,10036000291459,4,3,1,chilled,249\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            report["imported"].as_u64(),
            report["errors"][0]["row"].as_u64()
        ),
        (Some(1), Some(1)),
        "{report}"
    );
    assert!(
        report["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("MILK-1L"),
        "{report}"
    );
    let resp = node
        .request(reqwest::Method::POST, "/api/v1/catalog/import?dry_run=yes")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        400,
        "a malformed dry_run must not import for real"
    );

    // The CLI imports into a stopped node's data directory.
    assert!(node.terminate().await.unwrap().success());
    let file = dir.path().join("more.json");
    std::fs::write(
        &file,
        r#"[{"sku":"BREAD","name":"Sourdough","barcodes":["036000291452"],"aisle":1,"bay":1,"shelf":1,"zone":"ambient","unit_price_cents":349,"on_hand":7},
            {"sku":"ICE","name":"Ice","barcodes":["nope"],"aisle":11,"bay":1,"shelf":1,"zone":"frozen","unit_price_cents":199}]"#,
    )
    .unwrap();
    let out = std::process::Command::new(storenode_tests::binary())
        .arg("import")
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--store-id", "test-store"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "some rows refused: {text}");
    assert!(text.contains("row 2 (ICE): barcodes"), "{text}");
    // The log still verifies (hash chain, stock replayed) after both doors.
    let out = std::process::Command::new(storenode_tests::binary())
        .arg("verify")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--store-id", "test-store"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let node = Node::start_with(
        dir.path(),
        Opts {
            no_catalog: true,
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    let (status, bread) = node.get("/api/v1/stock/BREAD").await.unwrap();
    assert_eq!(
        (status, bread["on_hand"].as_i64()),
        (200, Some(7)),
        "{bread}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_check_in_and_cannot_forge_node_events() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let pw = node.add_device("kiosk-1", "kiosk").await.unwrap();
    let mut kiosk = node.mqtt("kiosk-1", &pw).await.unwrap();
    kiosk
        .subscribe(&topic::device_reply("kiosk-1"))
        .await
        .unwrap();
    // Notices on their own connection: `device()` skips what is not its reply.
    let mut screen = listener(&node, "screen", "pickup-screen").await;
    create(&node, &order("K-1", &[(10, 1, false)])).await;
    let code = node.make_ready("K-1").await.unwrap();

    // The customer types a wrong code, then the right one, at the kiosk.
    let r = device(
        &mut kiosk,
        "kiosk-1",
        json!({ "id": "ci-0", "command": { "check_in_by_code": { "code": "ZZZZZZ", "channel": "kiosk" } } }),
    )
    .await;
    assert_eq!(r["status"], "rejected", "{r}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("no order is ready for pickup under code ZZZZZZ"),
        "{r}"
    );
    let r = device(
        &mut kiosk,
        "kiosk-1",
        json!({ "id": "ci-1", "command": { "check_in_by_code": { "code": code.to_lowercase(), "channel": "curbside", "note": "bay 3, red car" } } }),
    )
    .await;
    assert_eq!(r["status"], "accepted", "{r}");
    let here = notice(&mut screen, "screen", "pickup-screen", "customer_arrived").await;
    assert_eq!(here["order_id"], "K-1");
    let v = get_order(&node, "K-1").await;
    assert_eq!(v["order"]["arrival"]["channel"], "curbside");
    assert_eq!(v["order"]["arrival"]["note"], "bay 3, red car");

    // A locker reports its doors; the report is in the log (audit) and on
    // the locker channel.
    let pw = node.add_device("locker-1", "locker").await.unwrap();
    let mut locker = node.mqtt("locker-1", &pw).await.unwrap();
    locker
        .subscribe(&topic::device_reply("locker-1"))
        .await
        .unwrap();
    let mut locker_notices = node.mqtt("locker-1", &pw).await.unwrap();
    locker_notices
        .subscribe(&topic::device_notify("locker-1", "locker"))
        .await
        .unwrap();
    let r = device(
        &mut locker,
        "locker-1",
        json!({ "id": "door-1", "command": { "report_locker_door": { "compartment": "12", "open": true } } }),
    )
    .await;
    assert_eq!(r["status"], "accepted", "{r}");
    let door = notice(
        &mut locker_notices,
        "locker-1",
        "locker",
        "locker_door_reported",
    )
    .await;
    assert_eq!(
        (door["action"].as_str(), door["compartment"].as_str()),
        (Some("door_open"), Some("12"))
    );

    // The same device forging the node's own BOPIS events: dead-lettered,
    // counted, nothing changes.
    let v = get_order(&node, "K-1").await;
    let head = node.head().await.unwrap();
    let forged_before = node
        .metric("storenode_forged_events_total", "")
        .await
        .unwrap();
    let events = v["events"].as_array().unwrap();
    let mut forged: protocol::Envelope =
        serde_json::from_value(events.last().unwrap().clone()).unwrap();
    forged.log_seq = head + 1;
    forged.order_seq += 1;
    forged.event = protocol::Event::OrderFulfilled {
        handed_over_by: "mallory".into(),
        proof: protocol::PickupProof::Code,
        id_checked: false,
    };
    kiosk
        .publish(
            &topic::event(&store(), protocol::EventKind::OrderFulfilled),
            codec::encode(&forged),
        )
        .await
        .unwrap();
    forged.event = protocol::Event::PickupExpired;
    kiosk
        .publish(
            &topic::event(&store(), protocol::EventKind::PickupExpired),
            codec::encode(&forged),
        )
        .await
        .unwrap();
    node.wait_for("forgeries counted", 10, || async {
        Ok(node.metric("storenode_forged_events_total", "").await? >= forged_before + 2.0)
    })
    .await
    .unwrap();
    assert_eq!(node.head().await.unwrap(), head);
    assert_eq!(
        node.order_state("K-1").await.unwrap().as_deref(),
        Some("ready")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resent_http_actions_with_an_idempotency_key_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path()).await.unwrap();
    create(&node, &order("I-1", &[(44, 3, false)])).await;
    node.wait_state("I-1", "prepared", 10).await.unwrap();
    let scan = json!({ "barcode": barcode(44), "staff": "ann" });
    let send = |key: &'static str, body: Value| {
        let node = &node;
        async move {
            let resp = node
                .request(reqwest::Method::POST, "/api/v1/orders/I-1/lines/1/pick")
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = send("scan-0001", scan.clone()).await;
    assert_eq!(status, 200, "{first}");
    // The Wi-Fi dropped the answer; the handheld resends the same scan.
    let (status, again) = send("scan-0001", scan.clone()).await;
    assert_eq!(
        (status, again["repeat"].as_bool()),
        (200, Some(true)),
        "{again}"
    );
    assert_eq!(again["log_seqs"], first["log_seqs"]);
    let v = get_order(&node, "I-1").await;
    assert_eq!(v["order"]["progress"][0]["picked"], 1, "one scan, one unit");
    // The same key for another request is refused.
    let (status, e) = send(
        "scan-0001",
        json!({ "barcode": barcode(44), "quantity": 2, "staff": "ann" }),
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (409, Some("conflict")),
        "{e}"
    );
    // A new key is a new scan.
    let (status, _) = send("scan-0002", scan.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        get_order(&node, "I-1").await["order"]["progress"][0]["picked"],
        2
    );

    // Check-in by code over the API names the order; an unknown code is 404.
    node.post("/api/v1/orders/I-1/picked", &json!({ "staff": "ann" }))
        .await
        .unwrap();
    let stage = json!({ "staff": "ann", "slot": { "kind": "shelf", "id": "A1" } });
    node.post("/api/v1/orders/I-1/stage", &stage).await.unwrap();
    let code = get_order(&node, "I-1").await["order"]["pickup_code"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, v) = node
        .post(
            &format!("/api/v1/pickup/{code}/check-in"),
            &json!({ "channel": "desk" }),
        )
        .await
        .unwrap();
    assert_eq!((status, v["order_id"].as_str()), (200, Some("I-1")), "{v}");
    let (status, e) = node
        .post(
            "/api/v1/pickup/ZZZZZZ/check-in",
            &json!({ "channel": "desk" }),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, e["error"].as_str()),
        (404, Some("unknown_pickup_code")),
        "{e}"
    );

    // A damaged pickup key is not silently replaced (that would void every
    // QR code issued): the node refuses to start and says what to do.
    assert!(node.terminate().await.unwrap().success());
    std::fs::write(dir.path().join("pickup-key"), "not a key").unwrap();
    let err = Node::start(dir.path())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("pickup-key") && err.contains("restore it from a backup"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_seeds_a_store_and_a_trickle_of_orders() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(
        dir.path(),
        Opts {
            no_catalog: true,
            extra_args: vec!["demo".into()],
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    node.wait_for("demo catalog", 15, || async {
        let (_, v) = node.get("/api/v1/stock").await?;
        Ok(v["items"].as_array().map_or(0, |a| a.len()) == 300)
    })
    .await
    .unwrap();
    node.wait_for("demo orders", 20, || async {
        let (_, v) = node.get("/api/v1/orders?limit=50").await?;
        Ok(v["orders"].as_array().is_some_and(|a| {
            a.iter()
                .any(|o| o["id"].as_str().is_some_and(|id| id.starts_with("DEMO-")))
        }))
    })
    .await
    .unwrap();
    // Its staff: one of each role, PINs printed once; the manager's works.
    let logs = node.logs();
    let manager = logs
        .lines()
        .find(|l| l.trim_start().starts_with("manager "))
        .unwrap_or_else(|| panic!("no demo manager in:\n{logs}"));
    let words: Vec<&str> = manager.split_whitespace().collect();
    let (id, pin) = (words[1], words[3]);
    assert!(logs.contains("desk ") && logs.contains("picker "), "{logs}");
    let resp = node.form_login(id, pin).await.unwrap();
    assert_eq!(resp.status().as_u16(), 303, "{manager}");
}
