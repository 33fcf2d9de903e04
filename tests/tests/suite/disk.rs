//! Disk trouble on a real filesystem: the data directory on a small tmpfs
//! that the test fills up, and then a read-only view of it. The node must
//! refuse new work with a clear error (API, device reply, staff page,
//! health, metrics, log), keep serving reads, take work again by itself
//! once there is room, and leave a data directory `verify` passes.
//!
//! Mounting needs root (CI runs as root); without it the test says so and
//! fails rather than pass unseen.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use storenode_tests::{order_body, Node, Opts};

/// A tmpfs mounted for the test; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
    binds: Vec<PathBuf>,
}

impl Tmpfs {
    fn mount(mib: u64) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        run(
            &[
                "mount",
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m"),
                "tmpfs",
            ],
            dir.path(),
        );
        Tmpfs { dir, binds: vec![] }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Put a read-only view of `path` over it (what the node reads and
    /// writes through from now on; files it holds open stay writable, as
    /// they would after a kernel's emergency remount until the next write).
    fn read_only(&mut self, path: &Path) {
        run(&["mount", "--bind"], path);
        run(&["mount", "-o", "remount,bind,ro"], path);
        self.binds.push(path.to_path_buf());
    }

    fn writable_again(&mut self) {
        for p in self.binds.drain(..).rev() {
            run(&["umount"], &p);
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        for p in self.binds.drain(..).rev() {
            let _ = Command::new("umount").arg("-l").arg(&p).status();
        }
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// `args` then `path` twice for a bind (source and target), once otherwise.
fn run(args: &[&str], path: &Path) {
    let mut c = Command::new(args[0]);
    c.args(&args[1..]).arg(path);
    if args.contains(&"--bind") {
        c.arg(path);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Fill `path`'s filesystem until `leave` bytes are free.
fn fill(path: &Path, leave: u64) -> PathBuf {
    let filler = path.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0xA5u8; 1 << 20];
    let mut left = free_bytes(path).saturating_sub(leave);
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    f.sync_all().unwrap();
    filler
}

async fn device_command(dev: &mut storenode_tests::Mqtt, id: &str, command: Value) -> Value {
    let body = json!({ "id": id, "command": command });
    dev.publish(
        &protocol::topic::device_command("scanner-1"),
        body.to_string().into_bytes(),
    )
    .await
    .unwrap();
    let p = dev
        .recv_on(&protocol::topic::device_reply("scanner-1"), 10)
        .await
        .unwrap();
    serde_json::from_slice(&p.payload).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_or_read_only_disk_refuses_new_work_serves_reads_and_recovers() {
    assert!(
        is_root(),
        "this test mounts a tmpfs and needs root (CI runs as root); not run"
    );
    let mut fs = Tmpfs::mount(96);
    let data = fs.path().join("data");
    let mut node = Node::start_with(
        &data,
        Opts {
            env: vec![("STORENODE_STORAGE_MIN_FREE_MIB".into(), "16".into())],
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    let (staff, pin) = node.add_staff("Ann", "manager").await.unwrap();
    let mut scanner = node.device("scanner-1", "scanner").await.unwrap();
    node.post("/api/v1/orders", &order_body("DF-1", 1))
        .await
        .unwrap();
    node.wait_state("DF-1", "prepared", 10).await.unwrap();
    let cookie = node.session_cookie(&staff, &pin).await.unwrap();
    assert!(!node
        .page(&cookie, "/pick")
        .await
        .unwrap()
        .contains("id=\"disk\""));

    // Full: 8 MiB left, 16 MiB must stay free.
    let filler = fill(fs.path(), 8 << 20);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let head = node.head().await.unwrap();
    let (status, e) = node
        .post("/api/v1/orders", &order_body("DF-2", 1))
        .await
        .unwrap();
    assert_eq!(
        (status, e["error"].as_str()),
        (507, Some("disk_full")),
        "{e}"
    );
    assert!(
        e["message"].as_str().unwrap().contains("disk is full"),
        "{e}"
    );
    let r = device_command(
        &mut scanner,
        "pick-1",
        json!({"mark_picked": {"order_id": "DF-1"}}),
    )
    .await;
    assert_eq!(r["status"], "rejected", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains("disk is full"),
        "{r}"
    );
    // Reads go on; everyone can tell.
    let (status, v) = node.get("/api/v1/orders/DF-1").await.unwrap();
    assert_eq!(
        (status, v["order"]["state"].as_str()),
        (200, Some("prepared")),
        "{v}"
    );
    let (_, health) = node.get("/healthz").await.unwrap();
    assert_eq!(health["writable"], false, "{health}");
    let pick = node.page(&cookie, "/pick").await.unwrap();
    assert!(
        pick.contains("id=\"disk\"") && pick.contains("disk is full"),
        "{pick}"
    );
    assert_eq!(
        node.metric("storenode_disk_writable", "").await.unwrap(),
        0.0
    );
    assert!(
        node.metric("storenode_writes_refused_total", "reason=\"disk_full\"")
            .await
            .unwrap()
            >= 2.0
    );
    assert!(node
        .logs()
        .contains("new work is refused until space is freed"));
    assert_eq!(node.head().await.unwrap(), head, "nothing was written");

    // Space again: work goes on by itself.
    std::fs::remove_file(&filler).unwrap();
    node.wait_for("writable again", 5, || async {
        let (s, _) = node.post("/api/v1/orders", &order_body("DF-2", 1)).await?;
        Ok(s == 201)
    })
    .await
    .unwrap();
    node.wait_state("DF-2", "prepared", 15).await.unwrap();
    let r = device_command(
        &mut scanner,
        "pick-2",
        json!({"mark_picked": {"order_id": "DF-1"}}),
    )
    .await;
    assert_eq!(r["status"], "accepted", "{r}");
    assert!(node.logs().contains("has room again"));
    assert!(!node
        .page(&cookie, "/pick")
        .await
        .unwrap()
        .contains("id=\"disk\""));

    // Read-only: the same, with its own words.
    fs.read_only(&data);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, e) = node
        .post("/api/v1/orders", &order_body("DF-3", 1))
        .await
        .unwrap();
    assert_eq!(
        (status, e["error"].as_str()),
        (507, Some("read_only")),
        "{e}"
    );
    let (status, _) = node.get("/api/v1/orders/DF-2").await.unwrap();
    assert_eq!(status, 200);
    let pick = node.page(&cookie, "/pick").await.unwrap();
    assert!(pick.contains("read-only"), "{pick}");
    fs.writable_again();
    node.wait_for("writable after read-only", 5, || async {
        let (s, _) = node.post("/api/v1/orders", &order_body("DF-3", 1)).await?;
        Ok(s == 201)
    })
    .await
    .unwrap();
    node.wait_state("DF-3", "prepared", 15).await.unwrap();

    // Nothing was damaged on the way.
    assert!(node.terminate().await.unwrap().success());
    storenode_tests::verify(&data, "test-store").unwrap();
    drop(fs);
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
