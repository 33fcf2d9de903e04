//! The store ↔ HQ link, end to end with real processes: the node's sync
//! agent, Debian's Mosquitto as the chain's cloud broker, `cloud-bridge`
//! instances, and a webhook receiver that verifies signatures and applies
//! per store in sequence order (the contract of docs/sync.md).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use protocol::sync::{DownCommand, DownReply};
use protocol::{codec, topic, Command, OrderId, ReplyStatus};
use serde_json::{json, Value};
use storenode_tests::cloud::{
    hq_commands_applied_once, hq_load_stores, Bridge, Mosquitto, Proxy, Sink, TestPki,
};
use storenode_tests::{join_all, order_body, Mqtt, Node, Opts};

const STORE: &str = "s-042";

fn store() -> protocol::StoreId {
    protocol::StoreId::new(STORE).unwrap()
}

/// A node of store `STORE` linked to `url`, resending a batch after 2 s
/// (instead of 10) and refreshing its status every second. Not waited
/// for: some tests start it where the link cannot come up.
async fn node(dir: &std::path::Path, url: &str, extra: &[(&str, &str)]) -> Node {
    let mut env = vec![
        ("STORENODE_CLOUD_URL".to_string(), url.to_string()),
        ("STORENODE_CLOUD_ACK_TIMEOUT_S".into(), "2".into()),
        ("STORENODE_CLOUD_STATUS_INTERVAL_S".into(), "1".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Node::start_with(
        dir,
        Opts {
            store_id: Some(STORE.into()),
            env,
            ..Opts::default()
        },
    )
    .await
    .unwrap()
}

async fn sync(node: &Node) -> Value {
    let (status, v) = node.get("/api/v1/sync").await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

async fn wait_online(node: &Node, online: bool) {
    storenode_tests::cloud::wait_link(node, online)
        .await
        .unwrap();
}

/// Create, pick, stage and hand over one order through the node's API.
async fn whole_life(node: &Node, id: &str) {
    let (status, v) = node
        .post("/api/v1/orders", &order_body(id, 2))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
    let code = node.make_ready(id).await.unwrap();
    let (status, v) = node
        .post(
            &format!("/api/v1/orders/{id}/handed-over"),
            &json!({ "staff": "ann", "code": code }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
}

fn kinds(events: &[Value], order: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["subject"] == order)
        .map(|e| e["type"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hq_order_reaches_the_store_and_every_event_reaches_hq_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await.unwrap();
    let sink = Sink::start().await.unwrap();
    let bridge = Bridge::start(dir.path(), &broker.url(), &sink.url, "a")
        .await
        .unwrap();
    let node = node(&dir.path().join("node"), &broker.url(), &[]).await;
    wait_online(&node, true).await;
    let fleet = bridge.wait_store(STORE, 10).await.unwrap();
    assert_eq!(fleet["online"], true, "{fleet}");

    // HQ's order service places an order for the store.
    let body = order_body("HQ-1", 2);
    let order = json!({ "order_id": "HQ-1", "order": {
        "customer_name": body["customer_name"], "lines": body["lines"], "payment": "prepaid" } });
    let (status, sent) = bridge
        .post(&format!("/api/v1/stores/{STORE}/orders"), &order)
        .await
        .unwrap();
    assert_eq!(status, 202, "{sent}");
    let id = sent["command_id"].as_str().unwrap().to_string();
    let outcome = bridge.command_outcome(STORE, &id, 20).await.unwrap();
    assert_eq!(outcome["status"], "accepted", "{outcome}");
    assert_eq!(outcome["command"], "create_order", "{outcome}");

    // The store picks, stages and hands it over on its own API.
    let code = node.make_ready("HQ-1").await.unwrap();
    let (status, v) = node
        .post("/api/v1/orders/HQ-1/handed-over", &json!({ "code": code }))
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");

    let head = node.head().await.unwrap();
    sink.wait_all(STORE, head, 20).await.unwrap();
    let all = sink.events(STORE);
    let k = kinds(&all, "HQ-1");
    assert_eq!(
        k.first().map(String::as_str),
        Some("order_created"),
        "{k:?}"
    );
    assert_eq!(
        k.last().map(String::as_str),
        Some("order_fulfilled"),
        "{k:?}"
    );
    // The customer's "ready" message follows its event, with the code.
    let ready = k.iter().position(|t| t == "ready_for_pickup").unwrap();
    assert_eq!(k[ready + 1], "customer_message", "{k:?}");
    let msg = all
        .iter()
        .find(|e| e["type"] == "customer_message" && e["subject"] == "HQ-1")
        .unwrap();
    assert_eq!(msg["data"]["pickup_code"], code.as_str(), "{msg}");
    // The order's first event names the HQ command as its cause.
    let created = all.iter().find(|e| e["type"] == "order_created").unwrap();
    assert_eq!(created["causationid"], id.as_str(), "{created}");
    assert_eq!(created["source"], format!("/stores/{STORE}"));
    assert_eq!(created["specversion"], "1.0");
    assert_eq!(sink.state.bad_signatures.load(Ordering::Relaxed), 0);

    // Drained: the node says so, the metrics say so, HQ's fleet says so.
    node.wait_for("backlog 0", 10, || async {
        Ok(sync(&node).await["backlog_events"] == 0)
    })
    .await
    .unwrap();
    let s = sync(&node).await;
    assert_eq!(s["acked_seq"], head, "{s}");
    assert_eq!(
        node.metric("storenode_sync_backlog_events", "")
            .await
            .unwrap(),
        0.0
    );
    assert_eq!(node.metric("storenode_sync_online", "").await.unwrap(), 1.0);
    assert!(
        bridge
            .metric("cloud_bridge_events_delivered")
            .await
            .unwrap()
            >= head as f64
    );
    bridge.wait_store(STORE, 5).await.unwrap();
    let html = reqwest::get(format!("http://{}/", bridge.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(STORE) && html.contains("online"), "{html}");

    // HQ sends a command under an Idempotency-Key; the same again answers
    // the same command (applied once); the key with another command is
    // refused, and so is a key the store could not take as an id.
    let path = format!("/api/v1/stores/{STORE}/stock");
    let adjust = json!({ "adjust": { "sku": "SKU-000", "delta": 3, "reason": "HQ recount" } });
    let key = "hq-adjust-7f3a";
    let (status, first) = bridge.post_keyed(&path, &adjust, key).await.unwrap();
    assert_eq!(
        (status, first["command_id"].as_str()),
        (202, Some(key)),
        "{first}"
    );
    let outcome = bridge.command_outcome(STORE, key, 20).await.unwrap();
    assert_eq!(outcome["status"], "accepted", "{outcome}");
    let (status, again) = bridge.post_keyed(&path, &adjust, key).await.unwrap();
    assert_eq!(
        (status, again["command_id"].as_str()),
        (202, Some(key)),
        "{again}"
    );
    assert_eq!(
        again["status"], "accepted",
        "the same command, already answered: {again}"
    );
    let other = json!({ "adjust": { "sku": "SKU-000", "delta": 4, "reason": "HQ recount" } });
    let (status, v) = bridge.post_keyed(&path, &other, key).await.unwrap();
    assert_eq!(status, 409, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("Idempotency-Key"),
        "{v}"
    );
    let (status, v) = bridge
        .post_keyed(&path, &adjust, "two words")
        .await
        .unwrap();
    assert_eq!(status, 400, "{v}");
    let head = node.head().await.unwrap();
    sink.wait_all(STORE, head, 20).await.unwrap();
    let adjusted = sink
        .store_events(STORE)
        .into_iter()
        .filter(|e| e["type"] == "stock_adjusted")
        .count();
    assert_eq!(adjusted, 1, "the keyed command twice is applied once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_orders_offline_then_everything_arrives_once_in_order() {
    let n: usize = std::env::var("SYNC_OFFLINE_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path()).await.unwrap();
    let sink = Sink::start().await.unwrap();
    let bridge = Bridge::start(dir.path(), &broker.url(), &sink.url, "a")
        .await
        .unwrap();
    let node = node(&dir.path().join("node"), &broker.url(), &[]).await;
    wait_online(&node, true).await;
    let before = node.head().await.unwrap();
    sink.wait_all(STORE, before, 20).await.unwrap();

    broker.stop().await.unwrap();
    wait_online(&node, false).await;
    // The store works on: whole lifecycles, a few at a time.
    let ids: Vec<String> = (0..n).map(|i| format!("OFF-{i:04}")).collect();
    for chunk in ids.chunks(8) {
        let lives = chunk.iter().map(|id| whole_life(&node, id));
        join_all(lives).await;
    }
    let head = node.head().await.unwrap();
    assert!(head > before + 4 * n as u64, "{head}");
    let s = sync(&node).await;
    assert_eq!(s["online"], false, "{s}");
    assert_eq!(s["backlog_events"], head - before, "{s}");
    assert!(s["oldest_backlog_ms"].as_u64().unwrap() > 0, "{s}");
    assert!(
        s["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{s}"
    );
    node.wait_for("backlog metric", 5, || async {
        Ok(node.metric("storenode_sync_backlog_events", "").await? == (head - before) as f64)
    })
    .await
    .unwrap();

    broker.restart().await.unwrap();
    let started = Instant::now();
    sink.wait_all(STORE, head, 60).await.unwrap();
    eprintln!(
        "{} events drained in {:?} after the broker came back",
        head - before,
        started.elapsed()
    );
    node.wait_for("backlog drained", 20, || async {
        let s = sync(&node).await;
        Ok(s["backlog_events"] == 0 && s["online"] == true)
    })
    .await
    .unwrap();
    assert_eq!(
        node.metric("storenode_sync_backlog_events", "")
            .await
            .unwrap(),
        0.0
    );
    // Every order's whole life is there, in its own order.
    let all = sink.store_events(STORE);
    for id in ids.iter().step_by(50) {
        let k = kinds(&all, id);
        assert_eq!(
            k.first().map(String::as_str),
            Some("order_created"),
            "{id}: {k:?}"
        );
        assert_eq!(
            k.last().map(String::as_str),
            Some("order_fulfilled"),
            "{id}: {k:?}"
        );
        let seqs: Vec<u64> = all
            .iter()
            .filter(|e| e["subject"] == id.as_str())
            .map(|e| e["orderseq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "{id}");
    }
    drop(bridge);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_node_mid_drain_and_one_of_two_bridges_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path()).await.unwrap();
    let sink = Sink::start().await.unwrap();
    let mut a = Bridge::start(dir.path(), &broker.url(), &sink.url, "a")
        .await
        .unwrap();
    let b = Bridge::start(dir.path(), &broker.url(), &sink.url, "b")
        .await
        .unwrap();
    // Small batches: many of them, so the kills land mid-stream.
    let small = [("STORENODE_CLOUD_BATCH_MAX_EVENTS", "20")];
    let node_dir = dir.path().join("node");
    let mut n1 = node(&node_dir, &broker.url(), &small).await;
    wait_online(&n1, true).await;
    broker.stop().await.unwrap();
    let ids: Vec<String> = (0..120).map(|i| format!("K-{i:03}")).collect();
    for chunk in ids.chunks(8) {
        join_all(chunk.iter().map(|id| whole_life(&n1, id))).await;
    }
    let head = n1.head().await.unwrap();
    broker.restart().await.unwrap();

    // Kill the node once part of the backlog is through…
    let quarter = head / 4;
    n1.wait_for("a quarter at HQ", 30, || async {
        Ok(sink.store_events(STORE).len() as u64 >= quarter)
    })
    .await
    .unwrap();
    n1.kill();
    let n2 = node(&node_dir, &broker.url(), &small).await;
    // …and one bridge instance half way.
    n2.wait_for("half at HQ", 30, || async {
        Ok(sink.store_events(STORE).len() as u64 >= head / 2)
    })
    .await
    .unwrap();
    a.kill();
    sink.wait_all(STORE, head, 60).await.unwrap();
    n2.wait_for("backlog 0", 20, || async {
        Ok(sync(&n2).await["backlog_events"] == 0)
    })
    .await
    .unwrap();
    // The anchor never passed what HQ had: it reaches the head (which the
    // link's return moved on: availability for HQ, appended since).
    n2.wait_for("everything acknowledged", 20, || async {
        let s = sync(&n2).await;
        Ok(s["backlog_events"] == 0 && s["acked_seq"] == n2.head().await?)
    })
    .await
    .unwrap();
    assert!(sync(&n2).await["acked_seq"].as_u64().unwrap() >= head);
    let (applied, dropped) = sink.counts();
    eprintln!("applied {applied}, dropped as redeliveries {dropped}");
    assert!(b.metric("cloud_bridge_events_delivered").await.unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_absent_webhook_holds_the_backlog_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await.unwrap();
    let mut sink = Sink::start().await.unwrap();
    let bridge = Bridge::start(dir.path(), &broker.url(), &sink.url, "a")
        .await
        .unwrap();
    let node = node(&dir.path().join("node"), &broker.url(), &[]).await;
    wait_online(&node, true).await;
    let before = node.head().await.unwrap();
    sink.wait_all(STORE, before, 20).await.unwrap();

    // The order service answers 500 for a while.
    sink.state.failing.store(true, Ordering::Relaxed);
    for i in 0..5 {
        whole_life(&node, &format!("W5-{i}")).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s = sync(&node).await;
    assert_eq!(
        s["acked_seq"], before,
        "nothing acknowledged while the webhook fails: {s}"
    );
    assert!(s["backlog_events"].as_u64().unwrap() > 0, "{s}");
    assert!(
        bridge
            .metric("cloud_bridge_webhook_failures")
            .await
            .unwrap()
            > 0.0
    );
    // Then it is not there at all.
    sink.state.failing.store(false, Ordering::Relaxed);
    sink.down();
    for i in 0..5 {
        whole_life(&node, &format!("WD-{i}")).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sync(&node).await["acked_seq"], before);
    sink.up().await.unwrap();
    let head = node.head().await.unwrap();
    sink.wait_all(STORE, head, 60).await.unwrap();
    node.wait_for("backlog 0", 20, || async {
        Ok(sync(&node).await["backlog_events"] == 0)
    })
    .await
    .unwrap();
}

/// A direct HQ-side client of the cloud broker (what a bridge publishes).
async fn hq_client(broker: &Mosquitto) -> Mqtt {
    let hq = Mqtt::connect(
        broker.addr(),
        &format!("hq-test-{}", rand::random::<u32>()),
        "hq",
        "x",
    )
    .await
    .unwrap();
    hq.subscribe(&topic::sync_reply(&store())).await.unwrap();
    hq
}

async fn reply_to(hq: &mut Mqtt, hq_id: &str) -> DownReply {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_secs()
            .max(1);
        let p = hq
            .recv_on(&topic::sync_reply(&store()), left)
            .await
            .unwrap();
        let r: DownReply = codec::decode(&p.payload).unwrap();
        if r.hq_id == hq_id {
            return r;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hq_command_sent_while_the_store_is_offline_is_applied_once_even_after_the_inbox_forgot_it(
) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await.unwrap();
    let proxy = Proxy::start(broker.addr()).await.unwrap();
    let sink = Sink::start().await.unwrap();
    let bridge = Bridge::start(dir.path(), &broker.url(), &sink.url, "a")
        .await
        .unwrap();
    let node_dir = dir.path().join("node");
    let mut n1 = node(&node_dir, &proxy.url(), &[]).await;
    wait_online(&n1, true).await;
    bridge.wait_store(STORE, 10).await.unwrap();

    // The store's internet goes; HQ's broker stays up and keeps commands.
    proxy.cut();
    wait_online(&n1, false).await;
    let fleet = Instant::now();
    loop {
        let (_, v) = bridge.get("/api/v1/stores").await.unwrap();
        if v["stores"][0]["online"] == false {
            break; // the last will told HQ
        }
        assert!(fleet.elapsed() < Duration::from_secs(60), "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = order_body("OUT-1", 1);
    let order = json!({ "order_id": "OUT-1", "order": {
        "customer_name": "Offline", "lines": body["lines"], "payment": "prepaid" } });
    let (status, sent) = bridge
        .post(&format!("/api/v1/stores/{STORE}/orders"), &order)
        .await
        .unwrap();
    assert_eq!(status, 202, "{sent}");
    let id = sent["command_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, pending) = bridge
        .get(&format!("/api/v1/stores/{STORE}/commands/{id}"))
        .await
        .unwrap();
    assert_eq!(pending["status"], "pending", "{pending}");
    assert_eq!(n1.order_state("OUT-1").await.unwrap(), None);

    proxy.restore();
    let outcome = bridge.command_outcome(STORE, &id, 30).await.unwrap();
    assert_eq!(outcome["status"], "accepted", "{outcome}");
    n1.wait_state("OUT-1", "prepared", 10).await.unwrap();

    // The broker redelivers the same command (say after a reconnect): the
    // inbox answers it with the first answer, nothing is applied again.
    let mut hq = hq_client(&broker).await;
    let again = DownCommand {
        hq_id: id.clone(),
        hq_seq: sent["hq_seq"].as_u64().unwrap(),
        command: Command::CreateOrder {
            order_id: OrderId::new("OUT-1").unwrap(),
            order: serde_json::from_value(order["order"].clone()).unwrap(),
        },
    };
    hq.publish(&topic::sync_down(&store()), codec::encode(&again))
        .await
        .unwrap();
    let r = reply_to(&mut hq, &id).await;
    assert_eq!(r.reply.status, ReplyStatus::Accepted, "{r:?}");
    assert_eq!(
        r.reply.log_seqs,
        outcome["log_seqs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect::<Vec<_>>()
    );

    // A stock correction from HQ (a delta: applying it twice would be wrong).
    let (status, adj) = bridge
        .post(
            &format!("/api/v1/stores/{STORE}/stock"),
            &json!({ "adjust": { "sku": "SKU-042", "delta": -5, "reason": "HQ recount" } }),
        )
        .await
        .unwrap();
    assert_eq!(status, 202, "{adj}");
    let adj_id = adj["command_id"].as_str().unwrap().to_string();
    let outcome = bridge.command_outcome(STORE, &adj_id, 20).await.unwrap();
    assert_eq!(outcome["status"], "accepted", "{outcome}");
    let on_hand = |v: &Value| v["on_hand"].as_i64().unwrap();
    let (_, item) = n1.get("/api/v1/stock/SKU-042").await.unwrap();
    let after_adjust = on_hand(&item);
    let adjust_again = DownCommand {
        hq_id: adj_id.clone(),
        hq_seq: adj["hq_seq"].as_u64().unwrap(),
        command: Command::AdjustStock {
            sku: "SKU-042".into(),
            delta: -5,
            reason: "HQ recount".into(),
            staff: "hq".into(),
        },
    };

    // A week later (the inbox forgot the ids) they come once more: the HQ
    // floor still knows they were applied.
    n1.terminate().await.unwrap();
    {
        let s = storenode::store::Store::open(&node_dir.join("db"), store()).unwrap();
        s.prune_inbox(u64::MAX).unwrap();
        assert!(s
            .inbox(storenode::sync::agent::HQ_SCOPE, &id)
            .unwrap()
            .is_none());
        assert!(s.hq_floor().unwrap() >= again.hq_seq);
        s.flush().unwrap();
    }
    let n2 = node(&node_dir, &proxy.url(), &[]).await;
    wait_online(&n2, true).await;
    let head = n2.head().await.unwrap();
    hq.publish(&topic::sync_down(&store()), codec::encode(&again))
        .await
        .unwrap();
    let r = reply_to(&mut hq, &id).await;
    assert_eq!(r.reply.status, ReplyStatus::Accepted, "{r:?}");
    assert!(r.reply.reason.unwrap().contains("already applied"));
    assert_eq!(n2.head().await.unwrap(), head, "nothing applied twice");
    let (_, v) = n2.get("/api/v1/orders/OUT-1").await.unwrap();
    let created = v["events"].as_array().map(|e| {
        e.iter()
            .filter(|e| e["event"].get("order_created").is_some())
            .count()
    });
    assert_eq!(created, Some(1), "{v}");
    hq.publish(&topic::sync_down(&store()), codec::encode(&adjust_again))
        .await
        .unwrap();
    let r = reply_to(&mut hq, &adj_id).await;
    assert_eq!(r.reply.status, ReplyStatus::Accepted, "{r:?}");
    assert!(r.reply.reason.unwrap().contains("already applied"));
    let (_, item) = n2.get("/api/v1/stock/SKU-042").await.unwrap();
    assert_eq!(on_hand(&item), after_adjust, "the delta is applied once");
    drop(n1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hq_cancel_after_an_offline_hand_over_is_rejected_and_hq_hears_why() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await.unwrap();
    let proxy = Proxy::start(broker.addr()).await.unwrap();
    let sink = Sink::start().await.unwrap();
    let bridge = Bridge::start(dir.path(), &broker.url(), &sink.url, "a")
        .await
        .unwrap();
    let node = node(&dir.path().join("node"), &proxy.url(), &[]).await;
    wait_online(&node, true).await;
    bridge.wait_store(STORE, 10).await.unwrap();
    let (status, v) = node
        .post("/api/v1/orders", &order_body("RACE-1", 1))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
    let code = node.make_ready("RACE-1").await.unwrap();

    // Offline, the customer collects; meanwhile HQ's service cancels.
    proxy.cut();
    wait_online(&node, false).await;
    let (status, v) = node
        .post(
            "/api/v1/orders/RACE-1/handed-over",
            &json!({ "code": code }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    let (status, sent) = bridge
        .post(
            &format!("/api/v1/stores/{STORE}/orders/RACE-1/cancel"),
            &json!({ "reason": "customer called HQ" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 202, "{sent}");
    let id = sent["command_id"].as_str().unwrap();

    proxy.restore();
    let outcome = bridge.command_outcome(STORE, id, 30).await.unwrap();
    assert_eq!(outcome["status"], "rejected", "{outcome}");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .contains("already handed over"),
        "{outcome}"
    );
    assert_eq!(
        node.order_state("RACE-1").await.unwrap().as_deref(),
        Some("fulfilled")
    );
    let head = node.head().await.unwrap();
    sink.wait_all(STORE, head, 20).await.unwrap();
    let k = kinds(&sink.store_events(STORE), "RACE-1");
    assert_eq!(
        &k[k.len() - 2..],
        ["order_fulfilled", "cancel_rejected"],
        "{k:?}"
    );
    let rejected = sink
        .store_events(STORE)
        .into_iter()
        .find(|e| e["type"] == "cancel_rejected")
        .unwrap();
    assert_eq!(rejected["causationid"], id, "{rejected}");

    // Redelivered, the cancel gets the same refusal, not an "accepted".
    let mut hq = hq_client(&broker).await;
    let again = DownCommand {
        hq_id: id.to_string(),
        hq_seq: sent["hq_seq"].as_u64().unwrap(),
        command: Command::Cancel {
            order_id: OrderId::new("RACE-1").unwrap(),
            reason: "customer called HQ".into(),
            by: "hq".into(),
        },
    };
    hq.publish(&topic::sync_down(&store()), codec::encode(&again))
        .await
        .unwrap();
    let r = reply_to(&mut hq, id).await;
    assert_eq!(r.reply.status, ReplyStatus::Rejected, "{r:?}");
    assert!(r.reply.reason.unwrap().contains("already handed over"));
    // The retry records nothing (the head may still move: availability
    // held while the link was down is written when it returns).
    let now = node.head().await.unwrap();
    let events = sink.wait_all(STORE, now, 20).await.unwrap();
    let caused: Vec<&Value> = events.iter().filter(|e| e["causationid"] == id).collect();
    assert_eq!(caused.len(), 1, "the retry records nothing new: {caused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate_and_clear_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "hq").unwrap();
    let broker = Mosquitto::start_with(dir.path(), Some(&pki.files))
        .await
        .unwrap();
    let sink = Sink::start().await.unwrap();
    let _bridge = Bridge::start(dir.path(), &broker.url(), &sink.url, "a")
        .await
        .unwrap();
    let (cert, key) = pki.issue(STORE, "store").unwrap();
    let tls_url = format!("mqtts://127.0.0.1:{}", broker.tls_port.unwrap());
    let ca = pki.files.ca.display().to_string();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let tls_env = [
        ("STORENODE_CLOUD_CA_FILE", ca.as_str()),
        ("STORENODE_CLOUD_CERT_FILE", cert.as_str()),
        ("STORENODE_CLOUD_KEY_FILE", key.as_str()),
    ];
    {
        let node = node(&dir.path().join("good"), &tls_url, &tls_env).await;
        wait_online(&node, true).await;
        let (status, v) = node
            .post("/api/v1/orders", &order_body("TLS-1", 1))
            .await
            .unwrap();
        assert_eq!(status, 201, "{v}");
        let head = node.head().await.unwrap();
        sink.wait_all(STORE, head, 20).await.unwrap();
    }

    // A client certificate from another CA: the broker refuses it.
    let other = TestPki::new(dir.path(), "other").unwrap();
    let (bad_cert, bad_key) = other.issue(STORE, "intruder").unwrap();
    let (bad_cert, bad_key) = (
        bad_cert.display().to_string(),
        bad_key.display().to_string(),
    );
    let wrong_client = [
        ("STORENODE_CLOUD_CA_FILE", ca.as_str()),
        ("STORENODE_CLOUD_CERT_FILE", bad_cert.as_str()),
        ("STORENODE_CLOUD_KEY_FILE", bad_key.as_str()),
    ];
    let n = node(&dir.path().join("wrong-client"), &tls_url, &wrong_client).await;
    n.wait_for("a failed attempt", 20, || async {
        Ok(sync(&n).await["last_error"].as_str().is_some())
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let s = sync(&n).await;
    assert_eq!(s["online"], false, "{s}");
    drop(n);

    // A broker whose certificate this node does not trust: refused, and
    // the reason says so.
    let other_ca = other.files.ca.display().to_string();
    let wrong_ca = [
        ("STORENODE_CLOUD_CA_FILE", other_ca.as_str()),
        ("STORENODE_CLOUD_CERT_FILE", cert.as_str()),
        ("STORENODE_CLOUD_KEY_FILE", key.as_str()),
    ];
    let n = node(&dir.path().join("wrong-ca"), &tls_url, &wrong_ca).await;
    n.wait_for("a certificate error", 20, || async {
        Ok(sync(&n).await["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("certificate")))
    })
    .await
    .unwrap();
    assert_eq!(sync(&n).await["online"], false);
    drop(n);

    // Plain MQTT to another machine is refused at start, naming the key.
    let out = std::process::Command::new(storenode_tests::binary())
        .args(["--data-dir"])
        .arg(dir.path().join("plain"))
        .arg("check-config")
        .env("STORENODE_CLOUD_URL", "mqtt://192.0.2.10:1883")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cloud.url") && err.contains("mqtts://"),
        "{err}"
    );
    // …unless the operator says the network is trusted.
    let out = std::process::Command::new(storenode_tests::binary())
        .args(["--data-dir"])
        .arg(dir.path().join("plain"))
        .arg("check-config")
        .env("STORENODE_CLOUD_URL", "mqtt://192.0.2.10:1883")
        .env("STORENODE_CLOUD_ALLOW_PLAINTEXT", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A certificate file that is not one: refused at start, with the key.
    let out = std::process::Command::new(storenode_tests::binary())
        .args(["--data-dir"])
        .arg(dir.path().join("plain"))
        .arg("check-config")
        .env("STORENODE_CLOUD_URL", &tls_url)
        .env("STORENODE_CLOUD_CA_FILE", &key)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cloud.ca_file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_on_the_old_cloud_topic_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let pw = node.add_device("kiosk-1", "kiosk").await.unwrap();
    let mut dev = node.mqtt("kiosk-1", &pw).await.unwrap();
    dev.subscribe("store/test-store/cloud/reply").await.unwrap();
    let head = node.head().await.unwrap();
    let cmd = protocol::CommandEnvelope {
        id: "hq-forged".into(),
        command: Command::SetStoreOpen {
            open: false,
            reason: "forged".into(),
            staff: String::new(),
        },
    };
    dev.publish("store/test-store/cloud/cmd", codec::encode(&cmd))
        .await
        .unwrap();
    assert!(
        dev.recv(2).await.is_err(),
        "nobody answers on the old topic"
    );
    assert_eq!(node.head().await.unwrap(), head);
    let (_, v) = node.get("/api/v1/store").await.unwrap();
    assert!(v["site"]["closed"].is_null(), "{v}");
    assert_eq!(v["cloud_link"]["configured"], false, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_hq_may_not_do_and_forged_acks_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await.unwrap();
    let node = node(&dir.path().join("node"), &broker.url(), &[]).await;
    wait_online(&node, true).await;
    let mut hq = hq_client(&broker).await;
    let head = node.head().await.unwrap();
    let down = topic::sync_down(&store());
    // (Unreadable commands: bad_input.rs, malformed_cloud_commands_….)
    let good = DownCommand {
        hq_id: "01J0000000000000000000HQ01".into(),
        hq_seq: 5,
        command: Command::ConfirmPayment {
            order_id: OrderId::new("NOPE").unwrap(),
        },
    };
    // Well formed but not HQ's to send, and for an unknown order.
    let staff = DownCommand {
        hq_id: "01J0000000000000000000HQ02".into(),
        hq_seq: 6,
        command: Command::SetStaffRole {
            staff_id: "1001".into(),
            role: protocol::Role::Manager,
        },
    };
    hq.publish(&down, codec::encode(&staff)).await.unwrap();
    let r = reply_to(&mut hq, &staff.hq_id).await;
    assert_eq!(r.reply.status, ReplyStatus::Rejected, "{r:?}");
    hq.publish(&down, codec::encode(&good)).await.unwrap();
    let r = reply_to(&mut hq, &good.hq_id).await;
    assert_eq!(r.reply.status, ReplyStatus::Rejected, "{r:?}");
    // A forged acknowledgement (a hash the log does not have) moves nothing.
    let ack = protocol::sync::UpAck {
        store_id: store(),
        last_seq: head,
        last_hash: protocol::ChainHash([7; 32]),
    };
    let before = sync(&node).await["acked_seq"].clone();
    hq.publish(&topic::sync_ack(&store()), codec::encode(&ack))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sync(&node).await["acked_seq"], before);
    let (_, d) = node.get("/api/v1/dead-letters").await.unwrap();
    let from_cloud = d["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["source"] == "cloud")
        .count();
    assert_eq!(from_cloud, 1, "the forged ack: {d}");
    assert_eq!(
        node.head().await.unwrap(),
        head,
        "only rejections, no events"
    );
}

/// A node of store `id` linked to `url` with the default ack timeout (the
/// failover figures are about the link's own timers).
async fn outage_store(dir: &std::path::Path, url: &str, id: &str) -> Node {
    Node::start_with(
        dir,
        Opts {
            store_id: Some(id.into()),
            env: vec![
                ("STORENODE_CLOUD_URL".into(), url.into()),
                ("STORENODE_CLOUD_STATUS_INTERVAL_S".into(), "1".into()),
            ],
            ..Opts::default()
        },
    )
    .await
    .unwrap()
}

/// Issue #25's first finding, as a test: three stores, two bridge
/// instances, HQ sending commands through both before, during and after a
/// broker outage (`STORENODE_OUTAGE_S`, 8 s here; the report had 60).
/// Every command a bridge answered 202 (after retries of a 503 under its
/// `Idempotency-Key`) is applied by its store exactly once: one event
/// caused by it, of its kind; every one answered `accepted` at HQ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hq_commands_through_a_broker_outage_reach_their_store_exactly_once() {
    let outage = Duration::from_secs(
        std::env::var("STORENODE_OUTAGE_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(8),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path()).await.unwrap();
    let sink = Sink::start().await.unwrap();
    let a = Bridge::start(dir.path(), &broker.url(), &sink.url, "a")
        .await
        .unwrap();
    let b = Bridge::start(dir.path(), &broker.url(), &sink.url, "b")
        .await
        .unwrap();
    let ids = ["s-out-1", "s-out-2", "s-out-3"];
    let mut nodes = Vec::new();
    for id in ids {
        let node = outage_store(&dir.path().join(id), &broker.url(), id).await;
        wait_online(&node, true).await;
        a.wait_store(id, 10).await.unwrap();
        b.wait_store(id, 10).await.unwrap();
        nodes.push(node);
    }

    let stop = std::sync::atomic::AtomicBool::new(false);
    let both = [&a, &b];
    let load = hq_load_stores(&both, &ids, &stop);
    let outage_and_back = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        broker.stop().await.unwrap();
        tokio::time::sleep(outage).await;
        broker.resume().await.unwrap();
        let back = Instant::now();
        // Failover, as figures (not asserted: timings are benchmarks').
        let mut online = Vec::new();
        for node in &nodes {
            wait_online(node, true).await;
            online.push(back.elapsed().as_millis());
        }
        eprintln!("failover: stores online {online:?} ms after the broker was back");
        tokio::time::sleep(Duration::from_secs(4)).await;
        stop.store(true, Ordering::Release);
    };
    let ((sent, refusals), ()) = tokio::join!(load, outage_and_back);
    eprintln!(
        "{} HQ commands sent, {refusals} answers 503 (or none) sent again",
        sent.len()
    );
    assert!(sent.len() > 30, "the load sent too little: {}", sent.len());

    let heads = join_all(nodes.iter().map(|n| async { n.head().await.unwrap() })).await;
    let stores: Vec<(&str, u64)> = ids.into_iter().zip(heads).collect();
    hq_commands_applied_once(&both, &sink, &stores, &sent)
        .await
        .unwrap();
    let resent = a.metric("cloud_bridge_commands_republished").await.unwrap()
        + b.metric("cloud_bridge_commands_republished").await.unwrap();
    eprintln!("copies published again for want of the broker's echo: {resent}");
}

/// `cloud.url` naming a cluster's nodes: when the node the store is on
/// stops, the link moves to the next at once and is back within seconds
/// (two separate Mosquittos stand in for two nodes of a cluster).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_moves_to_the_next_broker_of_its_list_when_one_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Mosquitto::start(&dir.path().join("m1")).await.unwrap();
    let second = Mosquitto::start(&dir.path().join("m2")).await.unwrap();
    let urls = format!("{},{}", first.url(), second.url());
    let node = node(&dir.path().join("node"), &urls, &[]).await;
    wait_online(&node, true).await;
    let before = sync(&node).await["connections"].as_u64().unwrap();
    let stopped = Instant::now();
    first.stop().await.unwrap();
    node.wait_for("connected again", 20, || async {
        let s = sync(&node).await;
        Ok(s["online"] == true && s["connections"].as_u64() > Some(before))
    })
    .await
    .unwrap();
    eprintln!(
        "on the second broker {} ms after the first stopped",
        stopped.elapsed().as_millis()
    );
    // The second broker has the store: its status is retained there.
    let mut hq = Mqtt::connect(second.addr(), "hq-watch", "", "")
        .await
        .unwrap();
    let t = topic::sync_status(&store());
    hq.subscribe(&t).await.unwrap();
    let status = hq.recv_on(&t, 5).await.unwrap();
    let status: Value = serde_json::from_slice(&status.payload).unwrap();
    assert_eq!(status["online"], true, "{status}");
}
