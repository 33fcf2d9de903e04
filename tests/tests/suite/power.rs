//! Power loss, not just process death: the node copies its database at
//! every `fdatasync` (`STORENODE_TEST_POWER_CUTS`), which is what a power
//! cut right after that sync would leave. Every copy must open and verify
//! (recovery from every cut point), each is a prefix of the final log, and
//! every acknowledged write is in a copy taken before its answer arrived.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use storenode::store::{chain_hash, Store};
use storenode_tests::{order_body, Node, Opts};

/// Complete copies so far, in the order they were taken.
fn cuts(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_none())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn store_id() -> protocol::StoreId {
    protocol::StoreId::new("test-store").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_was_on_disk_before_its_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let cut_dir = tmp.path().join("cuts");
    std::fs::create_dir_all(&cut_dir).unwrap();
    let data = tmp.path().join("node");
    let mut node = Node::start_with(
        &data,
        Opts {
            env: vec![(
                "STORENODE_TEST_POWER_CUTS".into(),
                cut_dir.display().to_string(),
            )],
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    // Per answer: the newest log position it named, and how many copies
    // were complete when it arrived.
    let acks: Arc<Mutex<Vec<(u64, usize)>>> = Arc::default();
    let mut tasks = Vec::new();
    for client in 0..4 {
        let (base, token) = (node.url(""), node.token.clone());
        let (acks, cut_dir) = (acks.clone(), cut_dir.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let post = |path: String, body: Value| {
                http.post(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .json(&body)
                    .timeout(Duration::from_secs(10))
                    .send()
            };
            for k in 0..15 {
                let id = format!("P{client}-{k}");
                let r = post("/api/v1/orders".into(), order_body(&id, 1 + k % 3))
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 201);
                let v: Value = r.json().await.unwrap();
                let seen = cuts(&cut_dir).len();
                acks.lock()
                    .unwrap()
                    .push((v["created_log_seq"].as_u64().unwrap(), seen));
                // Staff work on an older order, once it is at its pick list.
                if k >= 3 {
                    let older = format!("P{client}-{}", k - 3);
                    let r = post(
                        format!("/api/v1/orders/{older}/picked"),
                        json!({ "staff": "power" }),
                    )
                    .await
                    .unwrap();
                    if r.status().as_u16() == 200 {
                        let v: Value = r.json().await.unwrap();
                        let seen = cuts(&cut_dir).len();
                        if let Some(last) = v["log_seqs"].as_array().and_then(|a| a.last()) {
                            acks.lock().unwrap().push((last.as_u64().unwrap(), seen));
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    node.terminate().await.unwrap();

    // The final log, entry by entry.
    let final_store = Store::open(&data.join("db"), store_id()).unwrap();
    let head = final_store.head();
    let hashes: Vec<[u8; 32]> = (1..=head)
        .map(|s| chain_hash(&final_store.log_bytes(s).unwrap().unwrap()))
        .collect();
    drop(final_store);

    let copies = cuts(&cut_dir);
    let mut heads = Vec::with_capacity(copies.len());
    for (i, c) in copies.iter().enumerate() {
        let store = Store::open(c, store_id())
            .unwrap_or_else(|e| panic!("cut {i} ({}) does not open: {e}", c.display()));
        let report = store.verify().unwrap();
        assert!(
            report.problems.is_empty(),
            "cut {i} does not verify: {:?}",
            report.problems
        );
        let h = store.head();
        if h > 0 {
            let hash = chain_hash(&store.log_bytes(h).unwrap().unwrap());
            assert_eq!(
                Some(&hash),
                hashes.get(h as usize - 1),
                "cut {i} is not a prefix of the final log"
            );
        }
        if let Some(prev) = heads.last() {
            assert!(h >= *prev, "cut {i} holds less than the one before");
        }
        heads.push(h);
    }
    let acks = std::mem::take(&mut *acks.lock().unwrap());
    assert!(
        copies.len() >= 20 && acks.len() >= 60,
        "too little to mean anything: {} cuts, {} answers",
        copies.len(),
        acks.len()
    );
    for (seq, seen) in &acks {
        let durable = heads[..*seen].iter().copied().max().unwrap_or(0);
        assert!(
            durable >= *seq,
            "answered log {seq} when the copies taken so far ({seen}) held only up to {durable}: acknowledged before it was on disk"
        );
    }
    eprintln!(
        "power cuts: {} copies, {} answers, head {head}",
        copies.len(),
        acks.len()
    );
}
