//! Crash safety: the crash loop (`storenode_tests::crashloop`) — whole
//! order lifecycles from concurrent clients while the node is killed with
//! SIGKILL at seeded random moments, 500 times, with the promise checked
//! after every cycle and exactly at the end. The 500 cycles are 5 epochs of
//! 100 (each its own data directory, ending with the exact checks), run as
//! 5 tests at once: a cycle mostly waits for the node to start and die.
//!
//! The node syncs with a stand-in HQ throughout (Mosquitto, a bridge, a
//! webhook receiver) and HQ sends stock corrections during the kills.
//!
//! `CRASH_CYCLES`, `CRASH_SEED` and `CRASH_VERIFY_EVERY` change the run
//! (the cycles are shared by the 5 tests; each draws its own seed and prints
//! it, and `CRASH_SEED` replays a failed part);
//! longer runs: `cargo run -p storenode-tests --bin crashloop -- --cycles
//! 5000 --seed 7`.

use storenode_tests::crashloop::{run, Config};

/// The tests that share one run.
const PARTS: usize = 5;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

async fn part(k: usize) {
    let defaults = Config::default();
    let cfg = Config {
        cycles: env_or("CRASH_CYCLES", defaults.cycles),
        seed: env_or("CRASH_SEED", rand::random::<u32>().into()),
        verify_every: env_or("CRASH_VERIFY_EVERY", defaults.verify_every),
        part: (k, PARTS),
        ..defaults
    };
    let expected: usize = storenode_tests::crashloop::epochs(&cfg)
        .iter()
        .map(|e| e.2)
        .sum();
    // Printed first, so that a failure (or a hang) can be replayed.
    eprintln!(
        "crash loop part {} of {PARTS}: {expected} of {} cycles, seed {} (replay: CRASH_SEED={}, or the crashloop binary with --part {}/{PARTS})",
        k + 1,
        cfg.cycles,
        cfg.seed,
        cfg.seed,
        k + 1
    );
    let report = match run(&cfg).await {
        Ok(r) => r,
        Err(e) => panic!(
            "crash loop failed, replay with CRASH_SEED={}: {e:#}",
            cfg.seed
        ),
    };
    eprintln!("crash loop: {}", serde_json::to_string(&report).unwrap());
    assert_eq!(report.cycles, expected);
    assert!(
        report.orders >= expected,
        "too little load to mean anything: {} orders in {} cycles",
        report.orders,
        expected
    );
    if expected > 0 {
        assert!(
            report.repeats > 0,
            "no step was cut off by a kill and resent: the kills missed the work"
        );
    }
    if cfg.cloud {
        assert_eq!(report.events_at_hq, report.events, "every event reached HQ");
        assert!(
            report.hq_commands > 0 || expected == 0,
            "no HQ command was sent during the loop"
        );
    }
}

macro_rules! parts {
    ($($name:ident = $k:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            part($k).await;
        }
    )*};
}

parts! {
    sigkill_cycles_lose_nothing_and_apply_nothing_twice_1_of_5 = 0;
    sigkill_cycles_lose_nothing_and_apply_nothing_twice_2_of_5 = 1;
    sigkill_cycles_lose_nothing_and_apply_nothing_twice_3_of_5 = 2;
    sigkill_cycles_lose_nothing_and_apply_nothing_twice_4_of_5 = 3;
    sigkill_cycles_lose_nothing_and_apply_nothing_twice_5_of_5 = 4;
}
