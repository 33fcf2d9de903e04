//! The node cross-compiled for the Raspberry Pi (aarch64, with Debian's
//! gcc-aarch64-linux-gnu), run here under qemu-user, takes orders through
//! the whole flow on its real broker and database. `scripts/test.sh`
//! builds it once per run (dev profile, to keep CI short); the test builds
//! it if it is missing or older than the sources. The stripped release
//! build (`scripts/build-release.sh`) ran the same way for the figures in
//! docs/performance.md ("Footprint on a Raspberry Pi").
use storenode_tests::{aarch64_node, Node, Opts};

#[tokio::test]
async fn the_aarch64_build_completes_an_order_under_qemu() {
    let (bin, program) = aarch64_node().unwrap();
    let elf = std::fs::read(&bin).unwrap();
    // ELF, 64-bit, e_machine 183 (AArch64).
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(
        u16::from_le_bytes([elf[18], elf[19]]),
        183,
        "{} is not an aarch64 binary",
        bin.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(
        dir.path(),
        Opts {
            program,
            // Emulated: the first start makes keys and certificates slowly.
            ready_secs: Some(120),
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    let (status, v) = node.get("/readyz").await.unwrap();
    assert_eq!(status, 200, "{v}");
    for i in 0..3 {
        node.complete_order(&format!("PI-{i}"), 4).await.unwrap();
    }
    let (_, v) = node.get("/healthz").await.unwrap();
    assert!(v["log_head"].as_u64().unwrap() > 20, "{v}");
    let mut node = node;
    node.terminate().await.unwrap();
    // The x86 build checks what the aarch64 build wrote: one format.
    storenode_tests::verify(dir.path(), "test-store").unwrap();
}
