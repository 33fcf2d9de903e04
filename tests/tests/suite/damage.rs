//! A damaged data directory: a truncated database file, flipped bytes in
//! its live data, a damaged snapshot. The node must say so at start, with
//! what to do, and exit — never panic, never start on data it cannot
//! trust; where the damage hit only dead space, `verify` must pass.
use std::path::Path;
use std::process::Command;

use storenode_tests::{copy_data_dir, order_body, Node};

/// `storenode verify` on `dir`: (success, output).
fn verify(dir: &Path) -> (bool, String) {
    let out = Command::new(storenode_tests::binary())
        .arg("--data-dir")
        .arg(dir)
        .args(["--store-id", "test-store", "verify"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Invert `n` bytes of `file` at `at`.
fn flip(file: &Path, at: u64, n: usize) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    let mut buf = vec![0u8; n];
    f.seek(SeekFrom::Start(at)).unwrap();
    let got = f.read(&mut buf).unwrap();
    buf.truncate(got);
    for b in &mut buf {
        *b = !*b;
    }
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&buf).unwrap();
}

/// Refused at start with the damage named and the way out, no panic.
fn assert_refused_clearly(text: &str, what: &str) {
    assert!(!text.contains("panicked"), "{what}: a panic:\n{text}");
    assert!(
        text.contains("is damaged") && text.contains("backup") && text.contains("storenode verify"),
        "{what}: no clear message:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_data_directory_is_named_at_start_never_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    let mut node = Node::start(&good).await.unwrap();
    for i in 0..60 {
        let (status, v) = node
            .post("/api/v1/orders", &order_body(&format!("D-{i}"), 3))
            .await
            .unwrap();
        assert_eq!(status, 201, "{v}");
    }
    node.wait_state("D-59", "prepared", 20).await.unwrap();
    node.make_ready("D-1").await.unwrap();
    node.terminate().await.unwrap();
    assert!(verify(&good).0, "the good copy verifies");
    let db = |dir: &Path| dir.join("db").join("db");

    // Where the file holds data (sled preallocates its segments).
    let bytes = std::fs::read(db(&good)).unwrap();
    let live: Vec<u64> = bytes
        .chunks(4096)
        .enumerate()
        .filter(|(_, c)| c.iter().any(|b| *b != 0))
        .map(|(i, _)| i as u64 * 4096 + 100)
        .collect();
    assert!(!live.is_empty());
    // The database file cut short inside its live part (a copy cut off,
    // a failing card): sled alone would start on what is left.
    let cut = tmp.path().join("cut");
    copy_data_dir(&good, &cut).unwrap();
    let at = live[live.len() / 2];
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(db(&cut))
        .unwrap();
    f.set_len(at).unwrap();
    drop(f);
    let err = match Node::start(&cut).await {
        Err(e) => e,
        Ok(mut n) => {
            let head = n.head().await;
            n.terminate().await.unwrap();
            panic!(
                "started on a file cut at {at} (head {head:?}); verify says {:?}",
                verify(&cut)
            )
        }
    };
    assert_refused_clearly(&format!("{err:#}"), "cut at start");
    let (ok, text) = verify(&cut);
    assert!(!ok, "verify passed a cut file:\n{text}");
    assert_refused_clearly(&text, "cut, verify");

    // Its newest part cut off, with nothing else to contradict what is
    // left (sled's snapshot gone too): sled takes the cut for a torn write
    // and would start without the acknowledged tail; the durable-head
    // watermark beside it says how far the log was durable.
    let tail = tmp.path().join("tail");
    copy_data_dir(&good, &tail).unwrap();
    for e in std::fs::read_dir(tail.join("db")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("snap.")
        {
            std::fs::remove_file(p).unwrap();
        }
    }
    let at = live[live.len() * 9 / 10];
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(db(&tail))
        .unwrap();
    f.set_len(at).unwrap();
    drop(f);
    let (ok, text) = verify(&tail);
    assert!(!ok, "verify passed a log without its tail:\n{text}");
    assert_refused_clearly(&text, "tail");
    assert!(text.contains("acknowledged events are gone"), "{text}");

    // Flipped bytes across the live part of the file: each copy is either
    // refused clearly or (dead space) verifies whole.
    let step = (live.len() / 12).max(1);
    let (mut refused, mut whole) = (0, 0);
    for (k, at) in live.iter().step_by(step).enumerate() {
        let dir = tmp.path().join(format!("flip-{k}"));
        copy_data_dir(&good, &dir).unwrap();
        flip(&db(&dir), *at, 32);
        let (ok, text) = verify(&dir);
        assert!(!text.contains("panicked"), "flip at {at}: a panic:\n{text}");
        if ok {
            whole += 1;
        } else {
            assert_refused_clearly(&text, &format!("flip at {at}"));
            refused += 1;
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(
        refused > 0,
        "no flipped byte was noticed ({whole} copies verified whole)"
    );

    // A damaged snapshot of sled's page table.
    let snap = tmp.path().join("snap");
    copy_data_dir(&good, &snap).unwrap();
    let file = std::fs::read_dir(snap.join("db"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snap.")
        })
        .expect("sled keeps a snapshot");
    flip(&file, 40, 32);
    let (ok, text) = verify(&snap);
    assert!(!ok, "verify passed a damaged snapshot:\n{text}");
    assert_refused_clearly(&text, "snapshot");

    // The good copy still starts and serves.
    let node = Node::start(&good).await.unwrap();
    assert_eq!(
        node.order_state("D-1").await.unwrap().as_deref(),
        Some("ready")
    );
}
