//! The data directory is guarded: one process at a time, one store per
//! directory, device names unique.

use std::process::Command;

use storenode_tests::{binary, Node, Opts};

fn storenode(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_is_locked_bound_to_its_store_and_devices_are_unique() {
    let dir = tempfile::tempdir().unwrap();
    let bundles = dir.path().join("bundles");
    let bundle_dir = bundles.to_str().unwrap();
    let add = [
        "--store-id",
        "test-store",
        "device",
        "add",
        "locker-1",
        "--kind",
        "locker",
        "--compartments",
        "1-24",
        "--bundle-dir",
        bundle_dir,
    ];
    let (code, out, err) = storenode(dir.path(), &add);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("MQTT password: "), "{out}");
    assert!(out.contains("/tenants/locker1/"), "{out}");
    // The bundle: CA, certificate and key, readable by its owner only.
    let bundle = bundles.join("locker-1.bundle.pem");
    let text = std::fs::read_to_string(&bundle).unwrap();
    assert_eq!(storenode_tests::pem_blocks(&text).len(), 3, "{text}");
    assert!(text.contains("/tenants/locker1/cmd"), "{text}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&bundle).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (code, _, err) = storenode(
        dir.path(),
        &[
            "--store-id",
            "test-store",
            "device",
            "add",
            "locker-1",
            "--kind",
            "scanner",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("device locker-1 already exists"), "{err}");

    let mut node = Node::start(dir.path()).await.unwrap();
    // While the node runs, the CLI says so instead of a raw lock error.
    let (code, _, err) = storenode(dir.path(), &["--store-id", "test-store", "device", "list"]);
    assert_eq!(code, 1);
    assert!(err.contains("in use by another process"), "{err}");
    let (status, v) = node
        .post(
            "/api/v1/devices",
            &serde_json::json!({ "name": "locker-1", "kind": "locker", "compartments": "30-40" }),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("conflict")),
        "{v}"
    );
    node.terminate().await.unwrap();

    // The directory belongs to test-store: another id is refused.
    let err = Node::start_with(
        dir.path(),
        Opts {
            store_id: Some("other-store".into()),
            ..Opts::default()
        },
    )
    .await
    .err()
    .expect("a second store on the same data must be refused");
    assert!(
        err.to_string().contains("belongs to store \"test-store\""),
        "{err}"
    );
    let (code, out, _) = storenode(dir.path(), &["--store-id", "test-store", "verify"]);
    assert_eq!(code, 0, "{out}");
}
