//! RMQTT as a 3-node Raft cluster on 127.0.0.1 (tests/src/rmqtt.rs), with
//! MQTT 3.1.1 clients (rumqttc) at QoS 1: what the cloud bridge needs of a
//! clustered broker. One cluster, the checks in turn (the node kill last);
//! each is reported with its time, and every failure is listed at the end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use storenode_tests::rmqtt::{Client, RmqttCluster};

fn id(name: &str) -> String {
    format!("{name}-{}", rand::random::<u32>())
}

/// A subscriber on node `to` gets, once, what is published on node `from`
/// right after its SUBACK.
async fn passes(c: &RmqttCluster, from: usize, to: usize, topic: &str) -> Result<()> {
    let mut sub = Client::connect(c.port(to), &id("sub"), true).await?;
    sub.subscribe(topic).await?;
    let mut publisher = Client::connect(c.port(from), &id("pub"), true).await?;
    publisher.publish(topic, b"hello".to_vec(), false).await?;
    let p = sub.recv(5).await?;
    if p.topic != topic || &p.payload[..] != b"hello" {
        bail!("node {to} got {} {:?}", p.topic, p.payload);
    }
    if let Ok(p) = sub.recv(1).await {
        bail!("node {to} got it twice: {} {:?}", p.topic, p.payload);
    }
    Ok(())
}

/// (b) A clean_session=false subscriber on node 1 disconnects; a QoS 1
/// message published meanwhile on node 0 arrives when it reconnects, to
/// node 1 and then, after another absence, to node 2 (a session takeover).
async fn persistent_session(c: &RmqttCluster, back_to: usize) -> Result<String> {
    let client_id = id("b-sub");
    let topic = format!("t/b/{back_to}");
    let mut s = Client::connect(c.port(1), &client_id, false).await?;
    s.subscribe(&topic).await?;
    let mut publisher = Client::connect(c.port(0), &id("b-pub"), true).await?;
    publisher.publish(&topic, b"before".to_vec(), false).await?;
    let p = s.recv(5).await?;
    if &p.payload[..] != b"before" {
        bail!("expected 'before', got {:?}", p.payload);
    }
    s.disconnect().await?;
    publisher
        .publish(&topic, b"while-away".to_vec(), false)
        .await?;
    let mut s = Client::connect(c.port(back_to), &client_id, false).await?;
    if !s.session_present {
        bail!("reconnected to node {back_to}: CONNACK without session present");
    }
    let p = s.recv(10).await?;
    if &p.payload[..] != b"while-away" {
        bail!("expected 'while-away', got {:?}", p.payload);
    }
    // Still subscribed there: a new message arrives live.
    publisher.publish(&topic, b"after".to_vec(), false).await?;
    let p = s.recv(5).await?;
    if &p.payload[..] != b"after" {
        bail!("expected 'after', got {:?}", p.payload);
    }
    Ok(format!(
        "session present on node {back_to}, queued message delivered"
    ))
}

/// (c) `$share/g/t/+` subscribers on nodes 0 and 2 split 200 QoS 1
/// messages published on node 1: each exactly once.
async fn shared(c: &RmqttCluster) -> Result<String> {
    const N: usize = 200;
    let mut subs = Vec::new();
    for node in [0, 2] {
        let mut s = Client::connect(c.port(node), &id(&format!("c-sub{node}")), true).await?;
        s.subscribe("$share/g/t/+").await?;
        subs.push(s);
    }
    let mut publisher = Client::connect(c.port(1), &id("c-pub"), true).await?;
    // Until both members are known on node 1 (each got a warm-up message).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut warm = [false, false];
    while warm != [true, true] {
        if Instant::now() > deadline {
            bail!("warm-up: members that got a message on nodes 0, 2: {warm:?}");
        }
        publisher.publish("t/warm", b"warm".to_vec(), false).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        for (k, s) in subs.iter_mut().enumerate() {
            while let Ok(p) = s.rx.try_recv() {
                warm[k] |= p.topic == "t/warm";
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for s in subs.iter_mut() {
        while s.rx.try_recv().is_ok() {}
    }
    for i in 0..N {
        publisher
            .publish_nowait(&format!("t/{}", i % 10), i.to_string().into_bytes(), false)
            .await?;
    }
    publisher.acked(N).await?;
    // Which subscriber got each message, how often.
    let mut got: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut per_sub = [0usize; 2];
    let deadline = Instant::now() + Duration::from_secs(15);
    // All in, then one more second for duplicates.
    let mut settle: Option<Instant> = None;
    while settle.is_none_or(|t| Instant::now() < t) && Instant::now() < deadline {
        for (k, s) in subs.iter_mut().enumerate() {
            while let Ok(p) = s.rx.try_recv() {
                if p.topic == "t/warm" {
                    continue;
                }
                let i: usize = std::str::from_utf8(&p.payload)?.parse()?;
                got.entry(i).or_default().push(k);
                per_sub[k] += 1;
            }
        }
        if settle.is_none() && got.len() == N {
            settle = Some(Instant::now() + Duration::from_secs(1));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lost: Vec<usize> = (0..N).filter(|i| !got.contains_key(i)).collect();
    let doubled: Vec<(&usize, &Vec<usize>)> = got.iter().filter(|(_, v)| v.len() > 1).collect();
    let split = format!("node 0 got {}, node 2 got {}", per_sub[0], per_sub[1]);
    if !lost.is_empty() || !doubled.is_empty() {
        bail!(
            "{split}; lost {}: {lost:?}; doubled {}: {doubled:?}",
            lost.len(),
            doubled.len()
        );
    }
    if per_sub.contains(&0) {
        bail!("not balanced: {split}");
    }
    Ok(split)
}

/// (e) A retained message published on node 2 reaches a later subscriber
/// on node 0.
async fn retained(c: &RmqttCluster) -> Result<String> {
    let mut publisher = Client::connect(c.port(2), &id("e-pub"), true).await?;
    publisher
        .publish("t/e/retained", b"kept".to_vec(), true)
        .await?;
    let mut s = Client::connect(c.port(0), &id("e-sub"), true).await?;
    s.subscribe("t/e/retained").await?;
    let p = s.recv(5).await?;
    if &p.payload[..] != b"kept" || !p.retain {
        bail!("got {:?} retain={}", p.payload, p.retain);
    }
    Ok("delivered with the retain flag".into())
}

/// (d) With node 1 killed, nodes 0 and 2 still pass messages both ways;
/// restarted, node 1 serves again.
async fn kill_and_restart(c: &mut RmqttCluster) -> Result<String> {
    c.kill(1);
    let t = Instant::now();
    passes(c, 0, 2, "t/d/0-2").await?;
    passes(c, 2, 0, "t/d/2-0").await?;
    let degraded = t.elapsed();
    let t = Instant::now();
    c.restart(1).await?;
    let restart = t.elapsed();
    passes(c, 0, 1, "t/d/0-1").await?;
    passes(c, 1, 2, "t/d/1-2").await?;
    Ok(format!(
        "0↔2 with node 1 dead in {degraded:.1?}; node 1 restarted and rejoined in {restart:.1?}"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmqtt_three_node_cluster() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    let mut c = RmqttCluster::start(dir.path(), 3).await?;
    println!("3-node cluster formed in {:.1?}", t.elapsed());

    let mut failed = Vec::new();
    let mut report = |name: &str, t: Instant, r: Result<String>| match r {
        Ok(what) => println!("PASS {name} ({:.1?}): {what}", t.elapsed()),
        Err(e) => {
            println!("FAIL {name} ({:.1?}): {e:#}", t.elapsed());
            failed.push(format!("{name}: {e:#}"));
        }
    };
    let t = Instant::now();
    let r = passes(&c, 0, 2, "t/a").await.map(|()| "once".to_string());
    report("(a) publish on node 0 → subscriber on node 2", t, r);
    let t = Instant::now();
    let r = persistent_session(&c, 1).await;
    report("(b) persistent session, back on node 1", t, r);
    let t = Instant::now();
    let r = persistent_session(&c, 2).await;
    report("(b') persistent session, back on node 2", t, r);
    let t = Instant::now();
    let r = shared(&c).await;
    report("(c) $share/g/t/+ on nodes 0 and 2, 200 messages", t, r);
    let t = Instant::now();
    let r = retained(&c).await;
    report("(e) retained message across nodes", t, r);
    let t = Instant::now();
    let r = kill_and_restart(&mut c).await;
    report("(d) kill node 1, restart it", t, r);

    if !failed.is_empty() {
        for i in 0..c.len() {
            println!(
                "--- node {i}'s log (tail) ---\n{}",
                storenode_tests::tail(&c.logs(i), 30)
            );
        }
        bail!("{} check(s) failed:\n{}", failed.len(), failed.join("\n"));
    }
    Ok(())
}

// A known limit of RMQTT 0.24.0's Raft cluster, kept as a living check
// (docs/hq.md): the routing table keeps what a crashed node's clients
// subscribed. (Also seen, not kept as a test because it varies: a client
// whose node crashed, connecting with its id to another node, waits for the
// peers' gRPC timeout, then may get "session present" without its
// subscriptions routing until it subscribes again. The node's link and
// the bridge subscribe again on every connection.)

/// A `$share` member whose node was SIGKILLed keeps its turn: every other
/// message for the group goes to the dead member and is lost (the
/// publisher has its PUBACK), even after the node restarted, until a
/// client with the member's id connects again. What the bridge does about
/// it: a store resends what is not acknowledged, and an instance that died
/// is replaced under its name (tests/tests/suite/hq_cluster.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmqtt_0_24_drops_the_share_of_a_crashed_member_until_its_id_returns() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut c = RmqttCluster::start(dir.path(), 3).await?;
    let mut live = Client::connect(c.port(0), &id("live"), true).await?;
    live.subscribe("$share/h/y/+").await?;
    let gone_id = id("gone");
    let mut gone = Client::connect(c.port(1), &gone_id, true).await?;
    gone.subscribe("$share/h/y/+").await?;
    c.kill(1);
    drop(gone);
    c.restart(1).await?;
    let mut publisher = Client::connect(c.port(2), &id("pub"), true).await?;
    let publish_20 = async |publisher: &mut Client, round: usize| -> Result<()> {
        for i in 0..20 {
            publisher
                .publish_nowait(&format!("y/{round}-{i}"), b"x".to_vec(), false)
                .await?;
        }
        publisher.acked(20).await
    };
    publish_20(&mut publisher, 0).await?;
    let mut n = 0;
    while live.recv(2).await.is_ok() {
        n += 1;
    }
    println!("the live member got {n} of 20 while the crashed one kept its turn");
    assert!(
        n < 20,
        "RMQTT no longer drops the crashed member's share: update docs/hq.md ({n} of 20)"
    );
    // A client with the crashed member's id comes back: nothing is lost.
    let mut back = Client::connect(c.port(1), &gone_id, true).await?;
    back.subscribe("$share/h/y/+").await?;
    publish_20(&mut publisher, 1).await?;
    let mut got = 0;
    while live.recv(2).await.is_ok() {
        got += 1;
    }
    while back.recv(1).await.is_ok() {
        got += 1;
    }
    assert_eq!(got, 20, "with the member's id back, the group gets all 20");
    Ok(())
}
