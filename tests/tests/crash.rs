//! Crash safety: the crash loop (`storenode_tests::crashloop`) — whole
//! order lifecycles from concurrent clients while the node is killed with
//! SIGKILL at seeded random moments, 500 times, with the promise checked
//! after every cycle and exactly at the end.
//!
//! The node syncs with a stand-in HQ throughout (Mosquitto, a bridge, a
//! webhook receiver) and HQ sends stock corrections during the kills.
//!
//! `CRASH_CYCLES`, `CRASH_SEED` and `CRASH_VERIFY_EVERY` change the run;
//! longer runs: `cargo run -p storenode-tests --bin crashloop -- --cycles
//! 5000 --seed 7`.
#![allow(clippy::unwrap_used)]

use storenode_tests::crashloop::{run, Config};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_cycles_lose_nothing_and_apply_nothing_twice() {
    let defaults = Config::default();
    let cfg = Config {
        cycles: env_or("CRASH_CYCLES", defaults.cycles),
        seed: env_or("CRASH_SEED", rand::random::<u32>().into()),
        verify_every: env_or("CRASH_VERIFY_EVERY", defaults.verify_every),
        ..defaults
    };
    // Printed first, so that a failure (or a hang) can be replayed.
    eprintln!(
        "crash loop: {} cycles, seed {} (CRASH_SEED={} to replay)",
        cfg.cycles, cfg.seed, cfg.seed
    );
    let report = match run(&cfg).await {
        Ok(r) => r,
        Err(e) => panic!(
            "crash loop failed, replay with CRASH_SEED={}: {e:#}",
            cfg.seed
        ),
    };
    eprintln!("crash loop: {}", serde_json::to_string(&report).unwrap());
    assert_eq!(report.cycles, cfg.cycles);
    assert!(
        report.orders >= cfg.cycles,
        "too little load to mean anything: {} orders in {} cycles",
        report.orders,
        cfg.cycles
    );
    assert!(
        report.repeats > 0,
        "no step was cut off by a kill and resent: the kills missed the work"
    );
    if cfg.cloud {
        assert_eq!(report.events_at_hq, report.events, "every event reached HQ");
        assert!(
            report.hq_commands > 0,
            "no HQ command was sent during the loop"
        );
    }
}
