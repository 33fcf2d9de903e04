//! The node against a wall clock that lies: the real binary under
//! libfaketime (Debian's `faketime`), whose offset the test changes while
//! the node runs, as NTP does on a Raspberry Pi that has no real-time
//! clock. The monotonic clock stays real (`DONT_FAKE_MONOTONIC`).
use std::time::{Duration, Instant};

use storenode_tests::faketime::FakeClock;
use storenode_tests::{order_body, Node, Opts};

/// The node's options under `fake`, with a short pickup window.
fn opts(fake: &FakeClock) -> Opts {
    let mut env = fake.env();
    env.push(("STORENODE_PICKUP_EXPIRY_S".into(), EXPIRY_S.to_string()));
    env.push(("STORENODE_PICKUP_REMINDER_S".into(), "0".into()));
    Opts {
        env,
        env_remove: FakeClock::env_remove(),
        ..Opts::default()
    }
}

const EXPIRY_S: u64 = 30;

/// The manager's dashboard, logged in with a form like a browser.
async fn manager_page(node: &Node, id: &str, pin: &str) -> String {
    let cookie = node.session_cookie(id, pin).await.unwrap();
    node.page(&cookie, "/manager").await.unwrap()
}

async fn event_times(node: &Node, id: &str) -> Vec<u64> {
    let (_, v) = node.get(&format!("/api/v1/orders/{id}")).await.unwrap();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["time_ms"].as_u64().unwrap())
        .collect()
}

/// A three-day power cut on a Pi: the board boots an hour behind its
/// newest event, an order is made ready on that clock, then NTP puts the
/// clock three days on. The order keeps its whole pickup window from when
/// it really was ready (also across a restart), no event is stamped
/// before an earlier one, and the manager and the metrics say what
/// happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_that_lies_expires_nothing_early_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let fake = FakeClock::new(dir.path(), "-72h");

    // The run before the power cut, on a clock that was right then.
    let mut node = Node::start_with(&data, opts(&fake)).await.unwrap();
    let (mid, mpin) = node.add_staff("Mia Manager", "manager").await.unwrap();
    let (status, v) = node
        .post("/api/v1/orders", &order_body("OLD-1", 1))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
    node.wait_state("OLD-1", "prepared", 20).await.unwrap();
    let newest_before = *event_times(&node, "OLD-1").await.iter().max().unwrap();
    node.terminate().await.unwrap();

    // Power back, the clock an hour behind the newest event.
    fake.set("-73h");
    let mut node = Node::start_with(&data, opts(&fake)).await.unwrap();
    assert_eq!(
        node.metric("storenode_clock_synchronised", "")
            .await
            .unwrap(),
        0.0
    );
    let behind = node
        .metric("storenode_clock_behind_log_seconds", "")
        .await
        .unwrap();
    assert!((3_500.0..3_700.0).contains(&behind), "behind by {behind} s");
    let page = manager_page(&node, &mid, &mpin).await;
    assert!(page.contains("Clock not synchronised"), "{page}");
    let (status, v) = node
        .post("/api/v1/orders", &order_body("B-1", 1))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
    node.make_ready("B-1").await.unwrap();
    let ready_at = Instant::now();
    let times = event_times(&node, "B-1").await;
    assert!(
        times.iter().all(|t| *t > newest_before),
        "stamped before the log's newest event ({newest_before}): {times:?}"
    );
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // NTP: three days on.
    fake.set("+0");
    node.wait_for("a forward clock step counted", 10, || async {
        Ok(node
            .metric("storenode_clock_steps_total", "direction=\"forward\"")
            .await?
            >= 1.0)
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        node.order_state("B-1").await.unwrap().as_deref(),
        Some("ready"),
        "expired by the clock step"
    );
    assert_eq!(
        node.metric("storenode_clock_synchronised", "")
            .await
            .unwrap(),
        1.0
    );
    let page = manager_page(&node, &mid, &mpin).await;
    assert!(page.contains("The clock was put forward by 3 d"), "{page}");

    // A restart remembers the step.
    node.terminate().await.unwrap();
    let node = Node::start_with(&data, opts(&fake)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        node.order_state("B-1").await.unwrap().as_deref(),
        Some("ready"),
        "expired after the restart"
    );
    assert!(
        ready_at.elapsed() < Duration::from_secs(EXPIRY_S - 5),
        "the test ran too slowly to tell ({:?})",
        ready_at.elapsed()
    );
    // It expires when its window, counted from when it was ready, ends.
    node.wait_state("B-1", "expired", EXPIRY_S + 20)
        .await
        .unwrap();
    let took = ready_at.elapsed();
    assert!(
        took >= Duration::from_secs(EXPIRY_S - 3),
        "expired {took:?} after it was ready; the window is {EXPIRY_S} s"
    );
}
