//! Notices a device must act on (contract 6): a locker's `open`, a pickup
//! screen's `show`/`remove`, a printer's jobs and the gateway's `send` carry
//! a `notice_id`; the node sends each again until the device acknowledges
//! it on `/tenants/{tenant}/ack`, also after a restart of the node, and
//! stops sending what can no longer be acted on. Real node, real TLS
//! devices.

use std::time::{Duration, Instant};

use protocol::topic;
use serde_json::{json, Value};
use storenode_tests::{order_body, Mqtt, Node};

/// A device command and its reply.
async fn send(dev: &mut Mqtt, name: &str, id: &str, command: Value) -> Value {
    let body = json!({ "id": id, "command": command });
    dev.publish(&topic::device_command(name), body.to_string().into_bytes())
        .await
        .unwrap();
    let p = dev.recv_on(&topic::device_reply(name), 10).await.unwrap();
    serde_json::from_slice(&p.payload).unwrap()
}

/// The notices arriving on `topic_name` within `ms`, as JSON.
async fn heard(dev: &mut Mqtt, topic_name: &str, ms: u64) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_millis(ms);
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, dev.rx.recv()).await {
            Ok(Some(p)) if p.topic == topic_name => {
                out.push(serde_json::from_slice(&p.payload).unwrap())
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return out,
        }
    }
}

async fn ack(dev: &Mqtt, name: &str, notice_id: &str) {
    dev.publish(
        &topic::device_ack(name),
        json!({ "notice_id": notice_id }).to_string().into_bytes(),
    )
    .await
    .unwrap();
}

async fn picked(node: &Node, id: &str) {
    node.post("/api/v1/orders", &order_body(id, 1))
        .await
        .unwrap();
    node.wait_state(id, "prepared", 10).await.unwrap();
    let (status, v) = node
        .post(
            &format!("/api/v1/orders/{id}/picked"),
            &json!({ "staff": "ann" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locker_hears_open_until_it_acknowledges_also_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path()).await.unwrap();
    let creds = node.add_tls_device("locker-1", "locker").await.unwrap();
    let notify = topic::device_notify("locker-1", "locker");
    let mut locker = node.mqtts(&creds).await.unwrap();
    locker.subscribe(&notify).await.unwrap();
    locker
        .subscribe(&topic::device_reply("locker-1"))
        .await
        .unwrap();

    picked(&node, "D-1").await;
    let r = send(
        &mut locker,
        "locker-1",
        "stage-1",
        json!({"stage": {"order_id": "D-1", "slot": {"kind": "locker", "id": "3"}}}),
    )
    .await;
    assert_eq!(r["status"], "accepted", "{r}");

    // The first send, then again 2 s later: the same notice, byte for byte.
    let first = locker.recv_on(&notify, 5).await.unwrap();
    let open: Value = serde_json::from_slice(&first.payload).unwrap();
    assert_eq!(
        (open["action"].as_str(), open["compartment"].as_str()),
        (Some("open"), Some("3")),
        "{open}"
    );
    let id = open["notice_id"].as_str().unwrap().to_string();
    assert_eq!(id, format!("{}-locker", open["log_seq"]));
    let again = locker.recv_on(&notify, 5).await.unwrap();
    assert_eq!(again.payload, first.payload);
    assert!(node.metric("storenode_notices_pending", "").await.unwrap() >= 1.0);

    // The node restarts with the notice unacknowledged: it comes again.
    drop(locker);
    assert!(node.terminate().await.unwrap().success());
    node = Node::start(dir.path()).await.unwrap();
    let mut locker = node.mqtts(&creds).await.unwrap();
    locker.subscribe(&notify).await.unwrap();
    locker
        .subscribe(&topic::device_reply("locker-1"))
        .await
        .unwrap();
    let after = locker.recv_on(&notify, 10).await.unwrap();
    assert_eq!(after.payload, first.payload);

    // Acknowledged: never again (the next send was due 2 s after the last).
    ack(&locker, "locker-1", &id).await;
    let later = heard(&mut locker, &notify, 4_000).await;
    assert!(
        later.is_empty(),
        "sent after its acknowledgement: {later:?}"
    );
    node.wait_for("pending 0", 5, || async {
        Ok(node.metric("storenode_notices_pending", "").await? == 0.0)
    })
    .await
    .unwrap();
    assert_eq!(
        node.metric("storenode_notice_acks_total", "outcome=\"acknowledged\"")
            .await
            .unwrap(),
        1.0
    );
    // A repeat of the acknowledgement is harmless; one that is not one
    // gets a specific answer and changes nothing.
    ack(&locker, "locker-1", &id).await;
    locker
        .publish(&topic::device_ack("locker-1"), b"{\"notice\":1}".to_vec())
        .await
        .unwrap();
    let reply = locker
        .recv_on(&topic::device_reply("locker-1"), 5)
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply["status"], "invalid", "{reply}");
    assert!(
        reply["reason"]
            .as_str()
            .unwrap()
            .starts_with("not a notice acknowledgement"),
        "{reply}"
    );
    node.wait_for("the repeat counted", 5, || async {
        Ok(node
            .metric("storenode_notice_acks_total", "outcome=\"unknown\"")
            .await?
            == 1.0)
    })
    .await
    .unwrap();
    assert_eq!(
        node.metric("storenode_notice_acks_total", "outcome=\"invalid\"")
            .await
            .unwrap(),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_can_no_longer_be_acted_on_is_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let screen_creds = node
        .add_tls_device("screen-1", "pickup-screen")
        .await
        .unwrap();
    let locker_creds = node.add_tls_device("locker-1", "locker").await.unwrap();
    let screen_topic = topic::device_notify("screen-1", "pickup-screen");
    let locker_topic = topic::device_notify("locker-1", "locker");
    let mut screen = node.mqtts(&screen_creds).await.unwrap();
    screen.subscribe(&screen_topic).await.unwrap();
    let mut locker = node.mqtts(&locker_creds).await.unwrap();
    locker.subscribe(&locker_topic).await.unwrap();
    locker
        .subscribe(&topic::device_reply("locker-1"))
        .await
        .unwrap();

    // A screen that never acknowledges: `show` comes until the order is
    // handed over, then only `remove`.
    node.post("/api/v1/orders", &order_body("S-1", 1))
        .await
        .unwrap();
    let code = node.make_ready("S-1").await.unwrap();
    let shows = heard(&mut screen, &screen_topic, 2_500).await;
    assert!(shows.len() >= 2, "show sent once and again: {shows:?}");
    assert!(shows.iter().all(|n| n["action"] == "show"), "{shows:?}");
    let (status, v) = node
        .post(
            "/api/v1/orders/S-1/handed-over",
            &json!({ "staff": "dee", "code": code }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    let after = heard(&mut screen, &screen_topic, 5_000).await;
    assert!(after.len() >= 2, "remove sent once and again: {after:?}");
    let remove_id = after.last().unwrap()["notice_id"]
        .as_str()
        .unwrap()
        .to_string();
    // At most one `show` already on its way when `remove` was queued.
    let stale: Vec<&Value> = after
        .iter()
        .skip(1)
        .filter(|n| n["action"] != "remove")
        .collect();
    assert!(stale.is_empty(), "a superseded show came again: {stale:?}");
    ack(&screen, "screen-1", &remove_id).await;
    let quiet = heard(&mut screen, &screen_topic, 4_000).await;
    assert!(quiet.is_empty(), "{quiet:?}");

    // A locker `open` for an order that is then cancelled stops.
    picked(&node, "L-2").await;
    let r = send(
        &mut locker,
        "locker-1",
        "stage-2",
        json!({"stage": {"order_id": "L-2", "slot": {"kind": "locker", "id": "4"}}}),
    )
    .await;
    assert_eq!(r["status"], "accepted", "{r}");
    let open = locker.recv_on(&locker_topic, 5).await.unwrap();
    let open: Value = serde_json::from_slice(&open.payload).unwrap();
    assert_eq!(open["action"], "open", "{open}");
    let (status, v) = node
        .post(
            "/api/v1/orders/L-2/cancel",
            &json!({ "reason": "customer called", "by": "mgr" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    node.wait_state("L-2", "cancelled", 5).await.unwrap();
    let opens: Vec<Value> = heard(&mut locker, &locker_topic, 4_000)
        .await
        .into_iter()
        .filter(|n| n["action"] == "open")
        .collect();
    assert!(
        opens.is_empty(),
        "open sent again after the cancel: {opens:?}"
    );
    assert!(
        node.metric("storenode_notices_dropped_total", "reason=\"order_closed\"")
            .await
            .unwrap()
            >= 1.0
    );
    assert!(
        node.metric("storenode_notices_dropped_total", "reason=\"superseded\"")
            .await
            .unwrap()
            >= 1.0
    );
}
