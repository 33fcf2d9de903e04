//! Packaging and operations, from outside: the amd64 Debian package
//! installed into a clean root and run the way its systemd unit runs it,
//! `storenode init`, `backup` under load and `restore`, a data directory
//! of the previous release (a fixture) opened and migrated, a downgrade
//! refused, and `doctor` on a broken data directory.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use storenode_tests::{binary, order_body, target_dir, Node, Opts};

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?} failed:\n{}", text(&out));
    text(&out)
}

fn storenode(dir: &Path, store: &str) -> Command {
    let mut c = Command::new(binary());
    c.arg("--data-dir").arg(dir).args(["--store-id", store]);
    c
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The amd64 package of the build the tests run (`cargo deb --no-build`
/// of the debug binary: the same package as a release, with a bigger
/// binary; scripts/build-release.sh makes the release ones).
fn build_deb(out: &Path) -> PathBuf {
    binary();
    let built = run(storenode_tests::cargo()
        .args([
            "deb",
            "-p",
            "storenode",
            "--no-build",
            "--profile",
            "dev",
            "--fast",
            "--no-strip",
            "-o",
        ])
        .arg(out)
        .current_dir(target_dir().join("..")));
    assert!(
        built.status.success(),
        "cargo deb failed (scripts/test.sh installs cargo-deb):\n{}",
        text(&built)
    );
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb")
}

/// `key=value` lines of a systemd unit's `[Service]` (a key may repeat).
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn the_deb_installs_into_a_clean_root_and_its_unit_runs_an_order() {
    let tmp = tempfile::tempdir().unwrap();
    let deb = build_deb(&tmp.path().join("deb"));

    // What the package says of itself.
    let field = |f: &str| ok(Command::new("dpkg-deb").args(["-f"]).arg(&deb).arg(f));
    assert_eq!(field("Package").trim(), "storenode");
    assert_eq!(field("Architecture").trim(), "amd64");
    assert!(field("Depends").contains("libc6"), "{}", field("Depends"));
    let ctl = tmp.path().join("control");
    ok(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&ctl));
    let conffiles = std::fs::read_to_string(ctl.join("conffiles")).unwrap();
    assert!(
        conffiles
            .lines()
            .any(|l| l == "/etc/storenode/storenode.toml"),
        "{conffiles}"
    );
    let postinst = std::fs::read_to_string(ctl.join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system"), "{postinst}");
    assert!(
        postinst.contains("deb-systemd-helper enable storenode.service"),
        "{postinst}"
    );
    for script in ["postinst", "postrm", "prerm"] {
        ok(Command::new("sh").arg("-n").arg(ctl.join(script)));
    }

    // Installed into a clean root.
    let root = tmp.path().join("root");
    ok(Command::new("dpkg").arg("-x").arg(&deb).arg(&root));
    for f in [
        "usr/bin/storenode",
        "etc/storenode/storenode.toml",
        "usr/lib/systemd/system/storenode.service",
        "usr/share/doc/storenode/operations.md",
        "usr/share/doc/storenode/grafana-dashboard.json",
    ] {
        assert!(root.join(f).is_file(), "{f} is not in the package");
    }
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/storenode.service")).unwrap();
    for (key, want) in [
        ("User", "storenode"),
        ("Restart", "on-failure"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("StateDirectory", "storenode"),
        ("LimitNOFILE", "65536"),
        ("ConditionPathExists", "/etc/storenode/store.toml"),
    ] {
        assert_eq!(
            unit_values(&unit, key),
            vec![want.to_string()],
            "{key} in the unit"
        );
    }
    let exec = unit_values(&unit, "ExecStart").pop().expect("ExecStart");

    // The unit's command, with the root's paths.
    let on_root = |w: &str| -> std::ffi::OsString {
        match w.strip_prefix('/') {
            Some(p) if w.starts_with("/usr/") || w.starts_with("/etc/") => root.join(p).into(),
            _ => w.into(),
        }
    };
    let program: Vec<std::ffi::OsString> = exec.split_whitespace().map(on_root).collect();
    assert_eq!(
        program[0],
        std::ffi::OsString::from(root.join("usr/bin/storenode")),
        "{exec}"
    );

    // `init`, as the installer runs it: reads the fleet template and writes
    // the store's file where the unit reads it.
    let data = root.join("var/lib/storenode");
    let store_toml = root.join("etc/storenode/store.toml");
    let init = ok(Command::new(root.join("usr/bin/storenode"))
        .arg("--config")
        .arg(root.join("etc/storenode/storenode.toml"))
        .arg("--data-dir")
        .arg(&data)
        .args([
            "init",
            "--store-id",
            "pkg-0042",
            "--manager",
            "Mia Manager",
            "--output",
        ])
        .arg(&store_toml));
    let (manager, pin) = first_manager(&init);
    for f in [
        "api-token",
        "pickup-key",
        "staff-secret",
        "tls/ca.key",
        "tls/ca.pem",
        "db",
    ] {
        assert!(data.join(f).exists(), "init did not make {f}:\n{init}");
    }
    assert!(init.contains("systemctl enable --now storenode"), "{init}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&store_toml).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the store's file may hold the cloud password");
    // A second init refuses to overwrite.
    let again = run(Command::new(root.join("usr/bin/storenode"))
        .args(["init", "--store-id", "pkg-0042", "--output"])
        .arg(&store_toml));
    assert!(!again.status.success());
    assert!(
        text(&again).contains("exists; give --force"),
        "{}",
        text(&again)
    );

    // Run as the unit runs it (its ExecStart and Environment), on this
    // machine's free ports: flags and STORENODE_* override the files.
    let node = Node::start_with(
        &data,
        Opts {
            program,
            store_id: Some("pkg-0042".into()),
            env: vec![("STORENODE_HTTP_TLS".into(), "off".into())],
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    let (status, ready) = node.get("/readyz").await.unwrap();
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "ready");
    node.complete_order("PKG-1", 3).await.unwrap();
    // The first manager logs in with the PIN init printed.
    let cookie = node.session_cookie(&manager, &pin).await.unwrap();
    let page = node.page(&cookie, "/manager/staff").await.unwrap();
    assert!(
        page.contains("Mia Manager"),
        "the manager page does not name the manager"
    );
    let mut node = node;
    node.terminate().await.unwrap();
    storenode_tests::verify(&data, "pkg-0042").unwrap();
}

/// The staff id and PIN `init` printed.
fn first_manager(init: &str) -> (String, String) {
    let line = init
        .lines()
        .find(|l| l.contains("first manager"))
        .unwrap_or_else(|| panic!("no first manager in:\n{init}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |w: &str| {
        words
            .iter()
            .position(|x| *x == w)
            .map(|i| words[i + 1].trim_end_matches(',').to_string())
            .unwrap()
    };
    (after("id"), after("PIN"))
}

/// Every audit entry with `log_seq <= upto`, newest first.
async fn audit_upto(node: &Node, upto: u64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut before = upto + 1;
    loop {
        let (status, v) = node
            .get(&format!("/api/v1/audit?before={before}&limit=500"))
            .await
            .unwrap();
        assert_eq!(status, 200, "{v}");
        let entries = v["entries"].as_array().cloned().unwrap_or_default();
        if entries.is_empty() {
            return out;
        }
        out.extend(entries);
        match v["next_before"].as_u64() {
            Some(b) if b > 1 => before = b,
            _ => return out,
        }
    }
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_everything_acknowledged_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("live");
    let port = free_port();
    let node = Arc::new(
        Node::start_with(
            &dir,
            Opts {
                store_id: Some("bk-1".into()),
                http_port: Some(port),
                ..Opts::default()
            },
        )
        .await
        .unwrap(),
    );

    // Orders arrive all the time: four clients, each answer recorded.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut load = Vec::new();
    for c in 0..4 {
        let (node, stop, acked) = (node.clone(), stop.clone(), acked.clone());
        load.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("LOAD-{c}-{i}");
                let (status, _) = node
                    .post("/api/v1/orders", &order_body(&id, 2))
                    .await
                    .unwrap();
                if status == 201 {
                    acked.lock().unwrap().push(id);
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let head_before = node.head().await.unwrap();
    let acked_before: Vec<String> = acked.lock().unwrap().clone();
    let file = tmp.path().join("store.snbackup");
    let listen = format!("127.0.0.1:{port}");
    let (d, f) = (dir.clone(), file.clone());
    let taken = tokio::task::spawn_blocking(move || {
        ok(storenode(&d, "bk-1")
            .args(["--http-listen", &listen, "backup"])
            .arg(&f))
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    let head_after = node.head().await.unwrap();
    assert!(
        taken.contains("online, through the running node"),
        "{taken}"
    );
    let backup_head: u64 = taken
        .split("log head ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no log head in {taken}"));
    assert!(
        head_before <= backup_head && backup_head < head_after,
        "the backup ({backup_head}) is not from the middle of the load ({head_before}..{head_after})"
    );
    assert!(
        acked_before.len() > 10,
        "too little load: {}",
        acked_before.len()
    );
    let mut node = Arc::into_inner(node).unwrap();
    node.terminate().await.unwrap();

    // Restored into an empty data directory, checked against its log.
    let restored = tmp.path().join("restored");
    let out = ok(storenode(&restored, "bk-1").arg("restore").arg(&file));
    assert!(out.contains("store is consistent with its log"), "{out}");
    assert!(
        out.contains(&format!("log head {backup_head},")),
        "the restore is not at the backup's head {backup_head}: {out}"
    );
    for secret in ["api-token", "pickup-key", "staff-secret", "tls/ca.key"] {
        assert_eq!(
            std::fs::read(dir.join(secret)).unwrap(),
            std::fs::read(restored.join(secret)).unwrap(),
            "{secret} differs"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the backup holds secrets");

    // The restored store is the live one as of the backup: the same log up
    // to its head, every order acknowledged before it.
    let again = || Opts {
        store_id: Some("bk-1".into()),
        no_catalog: true,
        ..Opts::default()
    };
    let back = Node::start_with(&restored, again()).await.unwrap();
    // (Its services then go on with what the backup caught half done:
    // the log grows past the backup's head, as the live one did.)
    assert!(back.head().await.unwrap() >= backup_head);
    for id in &acked_before {
        assert!(
            back.order_state(id).await.unwrap().is_some(),
            "{id} was acknowledged before the backup but is not restored"
        );
    }
    let restored_log = audit_upto(&back, backup_head).await;
    let live = Node::start_with(&dir, again()).await.unwrap();
    let live_log = audit_upto(&live, backup_head).await;
    assert_eq!(restored_log.len() as u64, backup_head);
    assert!(
        restored_log == live_log,
        "the restored log differs from the live one up to {backup_head}"
    );
    drop((back, live));

    // Restoring over a store is refused without --force; a damaged file is
    // refused before anything is written.
    let over = run(storenode(&restored, "bk-1").arg("restore").arg(&file));
    assert!(!over.status.success());
    assert!(
        text(&over).contains("already holds a database"),
        "{}",
        text(&over)
    );
    let mut flipped = std::fs::read(&file).unwrap();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let bad = tmp.path().join("flipped.snbackup");
    std::fs::write(&bad, &flipped).unwrap();
    let empty = tmp.path().join("empty");
    let refused = run(storenode(&empty, "bk-1").arg("restore").arg(&bad));
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("damaged or cut short"),
        "{}",
        text(&refused)
    );
    assert!(
        !empty.join("db").exists(),
        "a damaged backup wrote a database"
    );
    let other = run(storenode(&empty, "another-store").arg("restore").arg(&file));
    assert!(
        text(&other).contains("is a backup of store \"bk-1\""),
        "{}",
        text(&other)
    );
}

/// The database of a stopped node's data directory, opened as the node
/// opens it (its segment size), to change what only a broken disk or
/// another release would.
fn open_db(dir: &Path) -> sled::Db {
    sled::Config::new()
        .path(dir.join("db"))
        .segment_size(8 << 20)
        .open()
        .unwrap()
}

/// The data directory written by storenode 0.1.0 (tests/fixtures).
fn fixture(into: &Path) -> PathBuf {
    let tgz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/data-0.1.0.tar.gz");
    std::fs::create_dir_all(into).unwrap();
    ok(Command::new("tar")
        .arg("-xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(into));
    into.join("data-0.1.0")
}

/// When the fixture was made (its newest event, UTC): FIX-2 was made
/// ready at 01:52:10 with 0.1.0's pickup window of three days.
const FIXTURE_MADE: &str = "2026-12-02 01:52:10";
/// An hour after that: FIX-2's window is open.
const INSIDE_WINDOW: &str = "2026-12-02 03:00:00";
/// 400 days after it: FIX-2's window closed long ago.
const LONG_AFTER: &str = "2028-01-06 03:00:00";

/// The fixture, unpacked into `tmp`, opened by this release on a wall
/// clock pinned at `at` (UTC, running on from there): the test is the
/// same on any date. What 0.1.0 left is checked before it opens.
async fn start_on_fixture(tmp: &Path, at: &str) -> (Node, PathBuf) {
    let dir = fixture(tmp);
    {
        // As 0.1.0 left it: no format recorded.
        let db = open_db(&dir);
        let tree = db.open_tree("storenode").unwrap();
        assert!(tree.get(b"mformat").unwrap().is_none());
    }
    let node = Node::start_with(
        &dir,
        Opts {
            store_id: Some(FIXTURE_STORE.into()),
            no_catalog: true,
            env: storenode_tests::faketime::pinned_at(at),
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    assert!(
        node.logs().contains("database format migrated"),
        "no migration logged"
    );
    (node, dir)
}

const FIXTURE_STORE: &str = "fixture-store";

/// (on hand, reserved, available) of `sku`.
async fn stock_of(node: &Node, sku: &str) -> (i64, i64, i64) {
    let (status, v) = node.get("/api/v1/stock").await.unwrap();
    assert_eq!(status, 200, "{v}");
    let item = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"]["sku"] == sku)
        .unwrap_or_else(|| panic!("{sku} not in the stock: {v}"))
        .clone();
    let n = |k: &str| item[k].as_i64().unwrap();
    (n("on_hand"), n("reserved"), n("available"))
}

/// Opened on the fixture's own day, inside FIX-2's pickup window: every
/// order is as 0.1.0 recorded it (tests/fixtures/README.md), its staff
/// log in, a new order completes, and a newer release's format is
/// refused.
#[tokio::test]
async fn a_data_directory_of_the_previous_release_is_migrated_and_a_downgrade_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FIXTURE_STORE;
    let (node, dir) = start_on_fixture(tmp.path(), INSIDE_WINDOW).await;
    // What 0.1.0 recorded (tests/fixtures/README.md).
    for (id, state) in [
        ("FIX-1", "fulfilled"),
        ("FIX-2", "ready"),
        ("FIX-3", "prepared"),
        ("FIX-4", "cancelled"),
    ] {
        assert_eq!(
            node.order_state(id).await.unwrap().as_deref(),
            Some(state),
            "{id}"
        );
    }
    // 100 on hand each; FIX-1 took 1 of SKU-001, FIX-2 picked 2 of
    // SKU-002 (off the shelf, on the pickup shelf), FIX-3 holds 3 of
    // SKU-003, FIX-4's 4 of SKU-004 went back.
    assert_eq!(stock_of(&node, "SKU-001").await, (99, 0, 99));
    assert_eq!(stock_of(&node, "SKU-002").await, (98, 0, 98));
    assert_eq!(stock_of(&node, "SKU-003").await, (100, 3, 97));
    assert_eq!(stock_of(&node, "SKU-004").await, (100, 0, 100));
    let pin = std::fs::read_to_string(dir.join("../manager-pin")).unwrap();
    node.session_cookie("1001", pin.trim()).await.unwrap();
    node.complete_order("NEW-1", 2).await.unwrap();
    let mut node = node;
    node.terminate().await.unwrap();
    storenode_tests::verify(&dir, store).unwrap();
    {
        let db = open_db(&dir);
        let tree = db.open_tree("storenode").unwrap();
        assert_eq!(
            tree.get(b"mformat").unwrap().unwrap().as_ref(),
            storenode::store::format::FORMAT.to_be_bytes()
        );
        // As a newer release would leave it.
        tree.insert(
            b"mformat",
            &(storenode::store::format::FORMAT + 1).to_be_bytes(),
        )
        .unwrap();
        tree.insert(b"mrelease", b"9.1.0".as_slice()).unwrap();
        db.flush().unwrap();
    }
    let refused = run(storenode(&dir, store).arg("run"));
    assert!(!refused.status.success());
    let said = text(&refused);
    let want = format!(
        "has format {}, written by storenode 9.1.0; this is storenode {}",
        storenode::store::format::FORMAT + 1,
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        said.contains(&want) && said.contains("downgrade is refused"),
        "{said}"
    );
    let doctor = run(storenode(&dir, store).arg("doctor"));
    assert!(!doctor.status.success());
    assert!(
        text(&doctor).contains("FAIL store") && text(&doctor).contains("downgrade"),
        "{}",
        text(&doctor)
    );
}

/// Opened 400 days after the fixture was made: the migration keeps
/// what 0.1.0 recorded, and FIX-2, whose pickup window closed while the
/// node was off, expires once, its two units back on the shelf.
#[tokio::test]
async fn a_previous_release_opened_long_after_expires_what_waited_too_long() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut node, dir) = start_on_fixture(tmp.path(), LONG_AFTER).await;
    node.wait_state("FIX-2", "expired", 30).await.unwrap();
    for (id, state) in [
        ("FIX-1", "fulfilled"),
        ("FIX-3", "prepared"),
        ("FIX-4", "cancelled"),
    ] {
        assert_eq!(
            node.order_state(id).await.unwrap().as_deref(),
            Some(state),
            "{id}"
        );
    }
    node.wait_for("FIX-2's units restocked", 10, || async {
        Ok(stock_of(&node, "SKU-002").await == (100, 0, 100))
    })
    .await
    .unwrap();
    // Expired after the fixture's window, on the pinned clock.
    let (_, v) = node.get("/api/v1/orders/FIX-2").await.unwrap();
    let events = v["events"].as_array().unwrap();
    let expired = events
        .iter()
        // A unit variant is its name, the others an object of one key.
        .filter(|e| e["event"] == "pickup_expired" || e["event"].get("pickup_expired").is_some())
        .collect::<Vec<_>>();
    assert_eq!(expired.len(), 1, "{v}");
    let ready_ms = v["order"]["ready_ms"].as_u64().unwrap();
    let expired_ms = expired[0]["time_ms"].as_u64().unwrap();
    assert!(
        expired_ms >= ready_ms + 3 * 86_400_000,
        "expired at {expired_ms}, ready at {ready_ms} ({FIXTURE_MADE})"
    );
    assert_eq!(stock_of(&node, "SKU-003").await, (100, 3, 97));
    node.terminate().await.unwrap();
    storenode_tests::verify(&dir, FIXTURE_STORE).unwrap();
}

#[tokio::test]
async fn doctor_names_what_is_broken_and_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let mut node = Node::start(&dir).await.unwrap();
    node.complete_order("DOC-1", 2).await.unwrap();
    node.terminate().await.unwrap();
    // Stopped, on ports of its own (the defaults may be taken on a
    // developer's machine).
    let doctor = |http: &str| {
        let mut c = storenode(&dir, "test-store");
        c.args([
            "--mqtt-listen",
            "127.0.0.1:0",
            "--http-listen",
            http,
            "doctor",
        ]);
        c
    };
    let healthy = ok(&mut doctor("127.0.0.1:0"));
    assert!(healthy.contains("all checks passed"), "{healthy}");

    // A secret others can read, and a port the node needs taken.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("pickup-key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let out = run(&mut doctor(&port));
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("FAIL permissions") && said.contains("chmod 600"),
        "{said}"
    );
    assert!(
        said.contains("FAIL ports") && said.contains(&port),
        "{said}"
    );
    std::fs::set_permissions(
        dir.join("pickup-key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    drop(taken);

    // A projection that disagrees with the log: doctor says rebuild; after
    // the rebuild it passes.
    {
        let db = open_db(&dir);
        let tree = db.open_tree("storenode").unwrap();
        let key = tree.scan_prefix(b"s").next().unwrap().unwrap().0;
        tree.insert(key, &999u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let out = run(&mut doctor("127.0.0.1:0"));
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("FAIL store") && said.contains("storenode rebuild"),
        "{said}"
    );
    ok(storenode(&dir, "test-store").arg("rebuild"));
    let healed = ok(&mut doctor("127.0.0.1:0"));
    assert!(healed.contains("all checks passed"), "{healed}");

    // A data directory that is not there: said, and not made.
    let nowhere = tmp.path().join("nowhere");
    let out = run(storenode(&nowhere, "test-store").arg("doctor"));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("there is no database"),
        "{}",
        text(&out)
    );
    assert!(!nowhere.exists(), "doctor made a data directory");
    let out = run(storenode(&nowhere, "test-store")
        .arg("backup")
        .arg(tmp.path().join("x.snbackup")));
    assert!(
        text(&out).contains("there is no database"),
        "{}",
        text(&out)
    );
    assert!(!nowhere.exists(), "backup made a data directory");

    // While the node runs, doctor asks it (/readyz).
    let node = Node::start(&dir).await.unwrap();
    let port = node.http.to_string();
    let out = ok(&mut doctor(&port));
    assert!(out.contains("running and ready"), "{out}");
    drop(node);
}
