//! At least once, applied once: the same command delivered twice (HTTP
//! retry, MQTT redelivery, retry after a crash) applies once, and a device
//! gets its reply only once the outcome is durable.

use std::time::Duration;

use protocol::{topic, EventKind};
use rand::Rng;
use serde_json::{json, Value};
use storenode_tests::{order_body, Mqtt, Node};

async fn kinds(node: &Node, id: &str) -> Vec<EventKind> {
    let (_, v) = node.get(&format!("/api/v1/orders/{id}")).await.unwrap();
    let events: Vec<protocol::Envelope> =
        serde_json::from_value(v["events"].clone()).unwrap_or_default();
    events.iter().map(|e| e.event.kind()).collect()
}

fn create_cmd(cmd_id: &str, order_id: &str) -> Vec<u8> {
    let b = order_body(order_id, 2);
    json!({
        "id": cmd_id,
        "command": { "create_order": { "order_id": order_id, "order": {
            "customer_name": b["customer_name"], "lines": b["lines"], "payment": "pay_at_pickup" } } }
    })
    .to_string()
    .into_bytes()
}

async fn reply(dev: &mut Mqtt, secs: u64) -> anyhow::Result<Value> {
    let p = dev.recv_on(&topic::device_reply("kiosk"), secs).await?;
    Ok(serde_json::from_slice(&p.payload)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_create_is_idempotent_on_order_id() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let first = node
        .post("/api/v1/orders", &order_body("IDEM-1", 2))
        .await
        .unwrap();
    let again = node
        .post("/api/v1/orders", &order_body("IDEM-1", 2))
        .await
        .unwrap();
    assert_eq!(first.0, 201);
    assert_eq!(first, again, "a retry must get the same answer");
    let (status, v) = node
        .post("/api/v1/orders", &order_body("IDEM-1", 3))
        .await
        .unwrap();
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["error"], "conflicting_order");

    node.wait_state("IDEM-1", "prepared", 10).await.unwrap();
    // Staff retries: the second "picked", "staged" and "handed over" are
    // no-ops.
    let staff = json!({ "staff": "ann" });
    let stage = json!({ "staff": "ann", "slot": { "kind": "shelf", "id": "A1" } });
    for (path, body) in [
        ("picked", &staff),
        ("picked", &staff),
        ("stage", &stage),
        ("stage", &stage),
    ] {
        let (status, v) = node
            .post(&format!("/api/v1/orders/IDEM-1/{path}"), body)
            .await
            .unwrap();
        assert_eq!(status, 200, "{path}: {v}");
    }
    let code = node.get("/api/v1/orders/IDEM-1").await.unwrap().1["order"]["pickup_code"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..2 {
        let (status, v) = node
            .post(
                "/api/v1/orders/IDEM-1/handed-over",
                &json!({ "staff": "ann", "code": code }),
            )
            .await
            .unwrap();
        assert_eq!(status, 200, "handed-over: {v}");
    }
    let mut want = vec![
        EventKind::OrderCreated,
        EventKind::OrderAccepted,
        EventKind::OrderProcessed,
        EventKind::ShipmentPrepared,
        EventKind::PickStarted,
    ];
    want.extend([EventKind::ItemPicked; 2]);
    want.extend([
        EventKind::ShipmentProcessed,
        EventKind::OrderStaged,
        EventKind::ReadyForPickup,
        EventKind::OrderFulfilled,
    ]);
    assert_eq!(kinds(&node, "IDEM-1").await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_redelivery_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let pw = node.add_device("kiosk", "kiosk").await.unwrap();
    let mut dev = node.mqtt("kiosk", &pw).await.unwrap();
    dev.subscribe(&topic::device_reply("kiosk")).await.unwrap();

    let cmd_topic = topic::device_command("kiosk");
    let mut replies = Vec::new();
    for _ in 0..3 {
        dev.publish(&cmd_topic, create_cmd("k-1", "DUP-1"))
            .await
            .unwrap();
        replies.push(reply(&mut dev, 10).await.unwrap());
    }
    assert_eq!(replies[0]["status"], "accepted", "{}", replies[0]);
    assert!(
        replies.iter().all(|r| *r == replies[0]),
        "replies differ: {replies:?}"
    );
    node.wait_state("DUP-1", "prepared", 10).await.unwrap();
    let k = kinds(&node, "DUP-1").await;
    assert_eq!(
        k.iter().filter(|k| **k == EventKind::OrderCreated).count(),
        1,
        "{k:?}"
    );
    assert_eq!(k.len(), 4, "{k:?}");

    // Same id, different command: refused, named.
    dev.publish(&cmd_topic, create_cmd("k-1", "DUP-2"))
        .await
        .unwrap();
    let r = reply(&mut dev, 10).await.unwrap();
    assert_eq!(r["status"], "rejected");
    assert!(
        r["reason"].as_str().unwrap().contains("already used"),
        "{r}"
    );
    assert_eq!(node.order_state("DUP-2").await.unwrap(), None);
}

/// A reply means durable: kill -9 right after it, the order is there. A
/// command cut off by a kill at any moment, retried with its id until
/// answered, applies exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_reply_only_after_flush_and_retry_after_kill_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path()).await.unwrap();
    let pw = node.add_device("kiosk", "kiosk").await.unwrap();

    for round in 0..12 {
        let order_id = format!("KILL-{round}");
        let cmd_id = format!("kiosk-cmd-{round}");
        let mut dev = node.mqtt("kiosk", &pw).await.unwrap();
        dev.subscribe(&topic::device_reply("kiosk")).await.unwrap();
        dev.publish(
            &topic::device_command("kiosk"),
            create_cmd(&cmd_id, &order_id),
        )
        .await
        .unwrap();
        let got_reply = if round % 2 == 0 {
            // Wait for the reply, then pull the plug at once.
            let r = reply(&mut dev, 10).await.unwrap();
            assert_eq!(r["status"], "accepted");
            true
        } else {
            // Pull the plug somewhere between publish and reply.
            let ms = rand::thread_rng().gen_range(0..15);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            false
        };
        node.kill();
        drop(dev);
        node = Node::start(dir.path()).await.unwrap();
        if got_reply {
            assert!(
                node.order_state(&order_id).await.unwrap().is_some(),
                "{order_id} was acknowledged but is gone after kill -9"
            );
        }
        // The device retries until it gets an answer.
        let mut dev = node.mqtt("kiosk", &pw).await.unwrap();
        dev.subscribe(&topic::device_reply("kiosk")).await.unwrap();
        let r = loop {
            dev.publish(
                &topic::device_command("kiosk"),
                create_cmd(&cmd_id, &order_id),
            )
            .await
            .unwrap();
            if let Ok(r) = reply(&mut dev, 3).await {
                break r;
            }
        };
        assert_eq!(r["status"], "accepted", "{r}");
        node.wait_state(&order_id, "prepared", 10).await.unwrap();
        let k = kinds(&node, &order_id).await;
        assert_eq!(
            k,
            [
                EventKind::OrderCreated,
                EventKind::OrderAccepted,
                EventKind::OrderProcessed,
                EventKind::ShipmentPrepared
            ],
            "{order_id}"
        );
    }
}
