//! The store ↔ HQ link on a real clustered broker (issue #25): a 3-node
//! RMQTT cluster (tests/src/rmqtt.rs), stores and cloud-bridge instances
//! on different nodes, a broker node and a bridge killed mid-drain.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use storenode_tests::cloud::{hq_commands_applied_once, hq_load_stores, Bridge, Sink};
use storenode_tests::rmqtt::RmqttCluster;
use storenode_tests::{join_all, order_body, Node, Opts};

/// Local orders on `node` (created, picked, staged, handed over) until
/// `stop`: events, availability and hand-overs flowing up.
async fn floor_load(node: &Node, store: &str, stop: &AtomicBool) -> usize {
    let mut n = 0;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let id = format!("L-{store}-{n}");
        let (status, v) = node
            .post("/api/v1/orders", &order_body(&id, 2))
            .await
            .unwrap();
        assert_eq!(status, 201, "{v}");
        let code = node.make_ready(&id).await.unwrap();
        let (status, v) = node
            .post(
                &format!("/api/v1/orders/{id}/handed-over"),
                &json!({ "code": code }),
            )
            .await
            .unwrap();
        assert_eq!(status, 200, "{v}");
    }
    n
}

/// Issue #25: the link on a 3-node RMQTT cluster. Three stores and three
/// bridge instances, each on its own broker node first (the others
/// listed after it); local orders and HQ's commands flowing; then broker
/// node 1 is killed (SIGKILL) mid-drain, a bridge instance is killed, and
/// the node comes back. HQ's receiver has every event of every store once
/// by (store, sequence), in order, each order's events in order; every HQ
/// command accepted was applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_on_a_cluster_loses_and_doubles_nothing_when_a_broker_node_and_a_bridge_die() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = RmqttCluster::start(&dir.path().join("cluster"), 3)
        .await
        .unwrap();
    let list = |first: usize| -> String {
        (0..3)
            .map(|k| cluster.url((first + k) % 3))
            .collect::<Vec<_>>()
            .join(",")
    };
    let lists: Vec<String> = (0..3).map(list).collect();
    let sink = Sink::start().await.unwrap();
    let args = ["--command-resend-s", "3"];
    let mut bridges = Vec::new();
    for (i, l) in lists.iter().enumerate() {
        bridges.push(
            Bridge::start_delivering(dir.path(), l, &sink.url, &format!("c{i}"), &args)
                .await
                .unwrap(),
        );
    }
    let ids = ["s-c-0", "s-c-1", "s-c-2"];
    let mut nodes = Vec::new();
    for (id, l) in ids.iter().zip(&lists) {
        let node = Node::start_with(
            &dir.path().join(id),
            Opts {
                store_id: Some(id.to_string()),
                env: vec![
                    ("STORENODE_CLOUD_URL".into(), l.clone()),
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
        storenode_tests::cloud::wait_link(&node, true)
            .await
            .unwrap();
        nodes.push(node);
    }
    for b in &bridges {
        for id in ids {
            b.wait_store(id, 20).await.unwrap();
        }
    }

    let stop = AtomicBool::new(false);
    let refs: Vec<&Bridge> = bridges.iter().collect();
    let hq = hq_load_stores(&refs, &ids, &stop);
    let floor = join_all(
        nodes
            .iter()
            .zip(ids)
            .map(|(n, id)| floor_load(n, id, &stop)),
    );
    let chaos = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        cluster.kill(1);
        let killed = Instant::now();
        storenode_tests::cloud::wait_link(&nodes[1], true)
            .await
            .unwrap();
        eprintln!(
            "store 1 back on another node {} ms after its node died",
            killed.elapsed().as_millis()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        bridges[0].kill_now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Its replacement, under the same name: RMQTT keeps a crashed
        // member in the shared group (and drops its share) until a client
        // of that id connects again (docs/hq.md).
        let revived = Bridge::start_delivering(dir.path(), &lists[0], &sink.url, "c0", &args)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster.restart(1).await.unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        stop.store(true, Ordering::Release);
        revived
    };
    let ((sent, refusals), floor, revived) = tokio::join!(hq, floor, chaos);
    eprintln!(
        "{} HQ commands ({refusals} answers 503 or none, sent again), {} local orders handed over",
        sent.len(),
        floor.iter().sum::<usize>()
    );
    let heads = join_all(nodes.iter().map(|n| async { n.head().await.unwrap() })).await;
    let stores: Vec<(&str, u64)> = ids.into_iter().zip(heads).collect();
    let alive: Vec<&Bridge> = bridges[1..].iter().chain([&revived]).collect();
    hq_commands_applied_once(&alive, &sink, &stores, &sent)
        .await
        .unwrap();
    for (id, _) in &stores {
        // Each order's events in its own order.
        let mut last: BTreeMap<String, u64> = BTreeMap::new();
        for e in sink.store_events(id) {
            let (order, seq) = (
                e["subject"].as_str().unwrap().to_string(),
                e["orderseq"].as_u64().unwrap(),
            );
            let prev = last.insert(order.clone(), seq);
            assert!(
                prev.is_none_or(|p| p < seq),
                "{id} {order}: {prev:?} then {seq}"
            );
        }
    }
    let (applied, dropped) = sink.counts();
    let mut resent = 0.0;
    for b in &alive {
        resent += b.metric("cloud_bridge_commands_resent").await.unwrap();
    }
    eprintln!("receiver: {applied} applied, {dropped} redeliveries dropped; commands resent for want of an answer: {resent}");
}
