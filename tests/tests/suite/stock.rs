//! Stock that tells the truth, from outside: a till posting receipts over
//! HTTP with its own credential (resends, voids before and after their
//! receipt, damaged returns, an SKU the catalog lacks, a sale beyond what
//! is on hand), shorts by reason, count tasks with recount and approval,
//! safety stock, rejections with codes, partial fulfilment, staff
//! rejecting before picking, deliveries and HQ's snapshot as of a time —
//! each checked through the API, the ledger and `storenode verify`.
use serde_json::{json, Value};
use storenode_tests::{Node, Opts};

/// A small catalog: SKUs A-1 … A-5 (category `dairy` for ), each
/// with `on_hand` units.
async fn store_with(dir: &std::path::Path, on_hand: u32, env: Vec<(&str, &str)>) -> Node {
    let node = Node::start_with(
        dir,
        Opts {
            no_catalog: true,
            env: env
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    let rows: Vec<Value> = (1..=5)
        .map(|i| {
            json!({
                "sku": format!("A-{i}"), "name": format!("Item {i}"),
                "barcodes": [storenode_tests::ean13(300_000_000_000 + i)],
                "aisle": 1, "bay": i, "shelf": 1, "zone": "ambient",
                "unit_price_cents": 100, "on_hand": on_hand,
                "category": if i <= 2 { Some("dairy") } else { None },
            })
        })
        .collect();
    let (status, v) = node
        .post("/api/v1/catalog/import", &Value::Array(rows))
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    node
}

async fn stock(node: &Node, sku: &str) -> Value {
    let (status, v) = node.get(&format!("/api/v1/stock/{sku}")).await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

/// (on hand, reserved, available) of `sku`.
async fn numbers(node: &Node, sku: &str) -> (i64, i64, i64) {
    let v = stock(node, sku).await;
    (
        v["on_hand"].as_i64().unwrap(),
        v["reserved"].as_i64().unwrap(),
        v["available"].as_i64().unwrap(),
    )
}

/// POST a receipt as the till `name` with `password`.
async fn till(node: &Node, name: &str, password: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(node.url("/api/v1/till/receipts"))
        .basic_auth(name, Some(password))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn sale(id: &str, lines: Value) -> Value {
    json!({"receipt_id": id, "till": "till-1", "at": storenode_tests::now_rfc3339(),
           "kind": "sale", "lines": lines})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn till_receipts_apply_once_whatever_the_till_resends() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = store_with(dir.path(), 10, vec![]).await;
    let pw = node.add_device("till-1", "till").await.unwrap();

    // A sale by SKU and by barcode, merged per SKU: one event.
    let gtin = storenode_tests::ean13(300_000_000_001);
    let body = sale(
        "R-1",
        json!([{"sku": "A-1", "quantity": 2}, {"gtin": gtin, "quantity": 1},
               {"sku": "A-2", "quantity": 1}]),
    );
    let (status, v) = till(&node, "till-1", &pw, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["repeat"], false);
    assert_eq!(v["events"], json!(["till_receipt_recorded"]), "{v}");
    assert_eq!(numbers(&node, "A-1").await, (7, 0, 7));
    assert_eq!(numbers(&node, "A-2").await, (9, 0, 9));

    // The till crashed before it heard the answer: the resend is answered
    // from the first time and changes nothing.
    let (status, again) = till(&node, "till-1", &pw, &body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["repeat"], true);
    assert_eq!(again["log_seqs"], v["log_seqs"]);
    assert_eq!(numbers(&node, "A-1").await, (7, 0, 7));
    // The same id with other content is a conflict, not a second sale.
    let (status, e) = till(
        &node,
        "till-1",
        &pw,
        &sale("R-1", json!([{"sku": "A-3", "quantity": 1}])),
    )
    .await;
    assert_eq!(status, 409, "{e}");
    assert_eq!(numbers(&node, "A-3").await, (10, 0, 10));

    // A void puts the sale back.
    let void = json!({"receipt_id": "V-1", "till": "till-1", "at": storenode_tests::now_rfc3339(),
                      "kind": "void", "voids": "R-1", "lines": []});
    let (status, v) = till(&node, "till-1", &pw, &void).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(numbers(&node, "A-1").await, (10, 0, 10));
    assert_eq!(numbers(&node, "A-2").await, (10, 0, 10));
    // Voided once: a second void of it is refused.
    let mut void2 = void.clone();
    void2["receipt_id"] = json!("V-1b");
    let (status, e) = till(&node, "till-1", &pw, &void2).await;
    assert_eq!(status, 422, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("already voided"),
        "{e}"
    );

    // A void that overtakes its receipt: the receipt is then recorded
    // voided, with no effect.
    let early = json!({"receipt_id": "V-2", "till": "till-1", "at": storenode_tests::now_rfc3339(),
                       "kind": "void", "voids": "R-2"});
    assert_eq!(till(&node, "till-1", &pw, &early).await.0, 200);
    let (status, v) = till(
        &node,
        "till-1",
        &pw,
        &sale("R-2", json!([{"sku": "A-3", "quantity": 4}])),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        numbers(&node, "A-3").await,
        (10, 0, 10),
        "voided before it came"
    );

    // A return puts units back; a damaged one is written off at once.
    let ret = json!({"receipt_id": "R-3", "till": "till-1", "at": storenode_tests::now_rfc3339(),
                     "kind": "return", "lines": [{"sku": "A-4", "quantity": 1},
                                                 {"sku": "A-4", "quantity": 2, "damaged": true}]});
    assert_eq!(till(&node, "till-1", &pw, &ret).await.0, 200);
    let a4 = stock(&node, "A-4").await;
    assert_eq!(a4["on_hand"], 11);
    assert_eq!(a4["ledger"]["returned"], 3);
    assert_eq!(a4["ledger"]["written_off"], 2);

    // An SKU the catalog does not list yet: kept, applied when listed.
    let (status, v) = till(
        &node,
        "till-1",
        &pw,
        &sale("R-4", json!([{"sku": "NEW-9", "quantity": 3}])),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let new9 = stock(&node, "NEW-9").await;
    assert_eq!(
        (
            new9["listed"].clone(),
            new9["on_hand"].clone(),
            new9["available"].clone()
        ),
        (json!(false), json!(-3), json!(0))
    );
    let (status, v) = node
        .post(
            "/api/v1/catalog/import",
            &json!([{"sku": "NEW-9", "name": "New", "barcodes": [storenode_tests::ean13(300_000_000_099)],
                     "aisle": 2, "bay": 1, "shelf": 1, "zone": "ambient",
                     "unit_price_cents": 100}]),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    let new9 = stock(&node, "NEW-9").await;
    assert_eq!(
        (new9["listed"].clone(), new9["on_hand"].clone()),
        (json!(true), json!(-3))
    );

    // A sale beyond what the node believed was on hand: recorded, on hand
    // below 0, availability 0, a count task for it.
    let (status, v) = till(
        &node,
        "till-1",
        &pw,
        &sale("R-5", json!([{"sku": "A-5", "quantity": 12}])),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["events"],
        json!(["till_receipt_recorded", "count_task_opened"]),
        "{v}"
    );
    assert_eq!(numbers(&node, "A-5").await, (-2, 0, 0));
    let a5 = stock(&node, "A-5").await;
    assert_eq!(a5["count_task"]["reason"], "till_discrepancy", "{a5}");

    // The till's credential opens the receipts only; a wrong one nothing.
    let r = reqwest::Client::new()
        .get(node.url("/api/v1/orders"))
        .basic_auth("till-1", Some(&pw))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        till(
            &node,
            "till-1",
            "wrong",
            &sale("R-6", json!([{"sku": "A-1", "quantity": 1}]))
        )
        .await
        .0,
        401
    );
    // Bad input: a clear error, nothing changed.
    for (body, field) in [
        (
            json!({"receipt_id": "R-7", "till": "till-1", "at": "yesterday", "kind": "sale",
                "lines": [{"sku": "A-1", "quantity": 1}]}),
            "at",
        ),
        (
            json!({"receipt_id": "R-7", "till": "till-1", "at": storenode_tests::now_rfc3339(), "kind": "sale",
                "lines": [{"sku": "A-1", "gtin": gtin, "quantity": 1}]}),
            "lines[0]",
        ),
        (
            json!({"receipt_id": "R-7", "till": "till-1", "at": storenode_tests::now_rfc3339(), "kind": "sale",
                "lines": [{"sku": "A-1", "quantity": 0}]}),
            "lines[0].quantity",
        ),
        (
            json!({"receipt_id": "R-7", "till": "till-1", "at": storenode_tests::now_rfc3339(), "kind": "sale",
                "lines": []}),
            "lines",
        ),
    ] {
        let (status, e) = till(&node, "till-1", &pw, &body).await;
        assert!(status == 400 || status == 422, "{status} {e}");
        assert_eq!(e["field"], field, "{e}");
    }
    assert_eq!(numbers(&node, "A-1").await, (10, 0, 10));
    let a1 = stock(&node, "A-1").await;
    assert_eq!(a1["ledger"]["sold"], 0, "sold 3, voided 3: {a1}");

    node.terminate().await.unwrap();
    storenode_tests::verify(&node.data_dir, &node.store_id).unwrap();
}

/// Create `id` for `lines` ((sku, qty)), prepaid.
async fn order(node: &Node, id: &str, lines: &[(&str, u32)]) -> (u16, Value) {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(s, q)| json!({"sku": s, "quantity": q, "unit_price_cents": 100}))
        .collect();
    node.post(
        "/api/v1/orders",
        &json!({"order_id": id, "customer_name": "C", "lines": lines, "payment": "prepaid"}),
    )
    .await
    .unwrap()
}

async fn order_json(node: &Node, id: &str) -> Value {
    let (status, v) = node.get(&format!("/api/v1/orders/{id}")).await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

/// The pick line of order line `n`.
fn pick_line(o: &Value, sku: &str) -> u64 {
    o["order"]["pick_lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku"] == sku)
        .unwrap()["line_no"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_changes_stock_by_its_reason_and_counts_settle_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = store_with(dir.path(), 30, vec![]).await;

    // damaged: only the bad unit goes; the rest stays available.
    assert_eq!(order(&node, "S-1", &[("A-1", 3)]).await.0, 201);
    node.wait_state("S-1", "prepared", 10).await.unwrap();
    let (status, v) = node
        .post(
            "/api/v1/orders/S-1/lines/1/short",
            &json!({"found": 2, "reason": "damaged", "written_off": 1}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    // 30 - 2 taken - 1 written off.
    assert_eq!(numbers(&node, "A-1").await, (27, 0, 27));
    let a1 = stock(&node, "A-1").await;
    assert_eq!(
        (
            a1["ledger"]["picked"].clone(),
            a1["ledger"]["written_off"].clone()
        ),
        (json!(2), json!(1))
    );

    // other: no stock change.
    assert_eq!(order(&node, "S-2", &[("A-2", 2)]).await.0, 201);
    node.wait_state("S-2", "prepared", 10).await.unwrap();
    let (status, _) = node
        .post(
            "/api/v1/orders/S-2/lines/1/short",
            &json!({"found": 1, "reason": "other"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(numbers(&node, "A-2").await, (29, 0, 29));

    // not_found while three other orders hold 6 units: on hand becomes
    // what the picker found (taken, so 0), a count task opens, and the
    // other orders are at risk; availability never goes below 0.
    for id in ["H-1", "H-2", "H-3"] {
        assert_eq!(order(&node, id, &[("A-3", 2)]).await.0, 201);
        node.wait_state(id, "prepared", 10).await.unwrap();
    }
    assert_eq!(order(&node, "S-3", &[("A-3", 4)]).await.0, 201);
    node.wait_state("S-3", "prepared", 10).await.unwrap();
    let (status, v) = node
        .post(
            "/api/v1/orders/S-3/lines/1/short",
            &json!({"found": 1, "reason": "not_found"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(numbers(&node, "A-3").await, (0, 6, 0));
    let a3 = stock(&node, "A-3").await;
    assert_eq!(a3["short_for_orders"], true);
    let task = a3["count_task"].clone();
    assert_eq!(task["reason"], "not_found", "{a3}");
    let task_id = task["task_id"].as_str().unwrap().to_string();
    let (_, q) = node.get("/api/v1/pick-queue").await.unwrap();
    let at_risk: Vec<&str> = q["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["at_risk"] == true)
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(at_risk, ["H-1", "H-2", "H-3"], "{q}");

    // The count: 8 found in the back room (expected 0): far off, so a
    // recount; still 8, so a manager approves. A sale while it waited is
    // not lost.
    let path = format!("/api/v1/count-tasks/{task_id}");
    let (status, v) = node
        .post(&format!("{path}/count"), &json!({"counted": 8}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["task"]["state"], "recount", "{v}");
    let (_, v) = node
        .post(&format!("{path}/count"), &json!({"counted": 8}))
        .await
        .unwrap();
    assert_eq!(v["task"]["state"], "approval", "{v}");
    assert_eq!(
        numbers(&node, "A-3").await.0,
        0,
        "nothing changes before approval"
    );
    let pw = node.add_device("till-1", "till").await.unwrap();
    assert_eq!(
        till(
            &node,
            "till-1",
            &pw,
            &sale("R-9", json!([{"sku": "A-3", "quantity": 1}]))
        )
        .await
        .0,
        200
    );
    let (status, v) = node
        .post(&format!("{path}/approve"), &json!({}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["task"]["state"], "applied", "{v}");
    // 8 counted, 1 sold since: 7; the reservations are untouched.
    assert_eq!(numbers(&node, "A-3").await, (7, 6, 1));
    assert_eq!(stock(&node, "A-3").await["count_task"], Value::Null);
    // A count close to what was expected applies at once.
    let (_, v) = node
        .post(
            "/api/v1/count-tasks",
            &json!({"sku": "A-4", "note": "looks low"}),
        )
        .await
        .unwrap();
    let id = v["task"]["task_id"].as_str().unwrap().to_string();
    let (_, v) = node
        .post(
            &format!("/api/v1/count-tasks/{id}/count"),
            &json!({"counted": 29}),
        )
        .await
        .unwrap();
    assert_eq!(v["task"]["state"], "applied", "{v}");
    assert_eq!(numbers(&node, "A-4").await.0, 29);

    node.terminate().await.unwrap();
    storenode_tests::verify(&node.data_dir, &node.store_id).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_stock_and_rejections_hq_can_route_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = store_with(dir.path(), 5, vec![("STORENODE_ORDERS_PARTIAL", "allow")]).await;
    // Safety: the store 1, dairy 2, A-1 itself 4.
    for body in [
        json!({"safety": 1}),
        json!({"category": "dairy", "safety": 2}),
        json!({"sku": "A-1", "safety": 4}),
    ] {
        let (status, v) = node.post("/api/v1/stock/safety", &body).await.unwrap();
        assert_eq!(status, 200, "{v}");
    }
    assert_eq!(stock(&node, "A-1").await["safety"], 4);
    assert_eq!(stock(&node, "A-2").await["safety"], 2);
    assert_eq!(stock(&node, "A-3").await["safety"], 1);
    assert_eq!(numbers(&node, "A-1").await, (5, 0, 1));

    // Partial: the line availability covers is filled, the other rejected
    // with its code.
    assert_eq!(order(&node, "P-1", &[("A-1", 2), ("A-3", 3)]).await.0, 201);
    node.wait_state("P-1", "prepared", 10).await.unwrap();
    let o = order_json(&node, "P-1").await;
    assert_eq!(
        o["order"]["rejected_lines"],
        json!([{"line_no": 1, "sku": "A-1", "quantity": 2, "code": "out_of_stock"}]),
        "{o}"
    );
    assert_eq!(o["order"]["pick_lines"].as_array().unwrap().len(), 1);
    assert_eq!(numbers(&node, "A-3").await, (5, 3, 1));
    // Nothing fits: the order is rejected with a code and the SKUs.
    assert_eq!(order(&node, "P-2", &[("A-1", 2), ("NOPE", 1)]).await.0, 201);
    node.wait_state("P-2", "rejected", 10).await.unwrap();
    let o = order_json(&node, "P-2").await;
    assert_eq!(o["order"]["reject_code"], "out_of_stock", "{o}");
    let kinds: Vec<&str> = o["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["event"]
                .as_object()
                .map_or("", |m| m.keys().next().unwrap().as_str())
        })
        .collect();
    assert!(kinds.contains(&"order_rejected_with_code"), "{o}");
    // The store closed: `store_closed`.
    let (status, _) = node
        .post(
            "/api/v1/store/open",
            &json!({"open": false, "reason": "stocktake"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(order(&node, "P-3", &[("A-4", 1)]).await.0, 201);
    node.wait_state("P-3", "rejected", 10).await.unwrap();
    assert_eq!(
        order_json(&node, "P-3").await["order"]["reject_code"],
        "store_closed"
    );
    node.post("/api/v1/store/open", &json!({"open": true}))
        .await
        .unwrap();

    // Staff reject one line before picking (damaged: its units are
    // written off), then the rest (customer request): the order is
    // rejected `staff_rejected`, every reservation released.
    assert_eq!(order(&node, "P-4", &[("A-4", 1), ("A-5", 2)]).await.0, 201);
    node.wait_state("P-4", "prepared", 10).await.unwrap();
    let o = order_json(&node, "P-4").await;
    let line = pick_line(&o, "A-5");
    let (status, v) = node
        .post(
            "/api/v1/orders/P-4/reject",
            &json!({"reason": "damaged", "lines": [line], "note": "crushed"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        numbers(&node, "A-5").await,
        (3, 0, 2),
        "2 written off, released"
    );
    let (status, v) = node
        .post(
            "/api/v1/orders/P-4/reject",
            &json!({"reason": "customer_request"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    let o = order_json(&node, "P-4").await;
    assert_eq!(o["order"]["state"], "rejected");
    assert_eq!(o["order"]["reject_code"], "staff_rejected");
    assert_eq!(numbers(&node, "A-4").await.1, 0);
    // Not after picking has started.
    assert_eq!(order(&node, "P-5", &[("A-4", 1)]).await.0, 201);
    node.wait_state("P-5", "prepared", 10).await.unwrap();
    node.post("/api/v1/orders/P-5/start-pick", &json!({"staff": "ann"}))
        .await
        .unwrap();
    let (status, e) = node
        .post(
            "/api/v1/orders/P-5/reject",
            &json!({"reason": "not_in_stock"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 409, "{e}");

    node.terminate().await.unwrap();
    storenode_tests::verify(&node.data_dir, &node.store_id).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_and_hqs_snapshot_as_of_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = store_with(dir.path(), 10, vec![]).await;
    let pw = node.add_device("till-1", "till").await.unwrap();
    // HQ announces 24; 22 arrive.
    let (status, v) = node
        .post(
            "/api/v1/deliveries/announce",
            &json!({"delivery_id": "D-1", "lines": [{"sku": "A-1", "quantity": 24}]}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    let (status, v) = node
        .post(
            "/api/v1/deliveries",
            &json!({"delivery_id": "D-1", "lines": [{"sku": "A-1", "quantity": 22}]}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(numbers(&node, "A-1").await.0, 32);
    // Booked once.
    let (status, _) = node
        .post(
            "/api/v1/deliveries",
            &json!({"delivery_id": "D-1", "lines": [{"sku": "A-1", "quantity": 22}]}),
        )
        .await
        .unwrap();
    assert_eq!(status, 422);
    // One HQ never announced.
    let (status, v) = node
        .post(
            "/api/v1/deliveries",
            &json!({"lines": [{"sku": "A-2", "quantity": 5}]}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(numbers(&node, "A-2").await.0, 15);
    let (_, list) = node.get("/api/v1/deliveries").await.unwrap();
    assert_eq!(list["deliveries"].as_array().unwrap().len(), 2, "{list}");

    // HQ's books said 40 of A-3 as of T; the store sold 3 after T (HQ
    // could not know): on hand becomes 37. A-4 was counted after T: its
    // count stands.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let t = jiff::Timestamp::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(
        till(
            &node,
            "till-1",
            &pw,
            &sale("R-1", json!([{"sku": "A-3", "quantity": 3}]))
        )
        .await
        .0,
        200
    );
    node.post(
        "/api/v1/stock/count",
        &json!({"counts": [{"sku": "A-4", "quantity": 6}]}),
    )
    .await
    .unwrap();
    let (status, v) = node
        .post(
            "/api/v1/stock/snapshot",
            &json!({"as_of": t.to_string(), "lines": [
                {"sku": "A-3", "on_hand": 40}, {"sku": "A-4", "on_hand": 99},
                {"sku": "GONE", "on_hand": 1}]}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["reconciled"],
        json!([{"sku": "A-3", "hq_on_hand": 40, "local_after": -3, "on_hand": 37}]),
        "{v}"
    );
    assert_eq!(v["ignored"], json!(["A-4", "GONE"]));
    assert_eq!(numbers(&node, "A-3").await.0, 37);
    assert_eq!(numbers(&node, "A-4").await.0, 6);

    node.terminate().await.unwrap();
    storenode_tests::verify(&node.data_dir, &node.store_id).unwrap();
}
