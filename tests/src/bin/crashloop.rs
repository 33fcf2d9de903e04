//! The crash loop, for long runs: `cargo run --release -p storenode-tests
//! --bin crashloop -- --cycles 5000 --seed 7 [--clients 4] [--kill-ms 10-150]
//! [--verify-every 1] [--fresh-every 100 (0: one data directory for the
//! whole run)] [--part K/N (only the epochs e with e % N == K-1, as the CI
//! test's part K of N)] [--no-cloud] [--dir D] [--json] [-v]`. The node it runs is the
//! debug build unless `STORENODE_BIN` names another (e.g.
//! `target/release/storenode`). Prints a table, or JSON with `--json`;
//! exits 1 with the seed and cycle of a failure.
use anyhow::{bail, Context, Result};
use storenode_tests::crashloop::{run, Config};

fn parse(args: &[String]) -> Result<(Config, bool)> {
    let mut cfg = Config {
        seed: rand::random::<u32>().into(),
        ..Config::default()
    };
    let mut json = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--cycles" => cfg.cycles = value("--cycles")?.parse().context("--cycles")?,
            "--seed" => cfg.seed = value("--seed")?.parse().context("--seed")?,
            "--clients" => cfg.clients = value("--clients")?.parse().context("--clients")?,
            "--verify-every" => {
                cfg.verify_every = value("--verify-every")?.parse().context("--verify-every")?
            }
            "--kill-ms" => {
                let v = value("--kill-ms")?;
                let (a, b) = v.split_once('-').context("--kill-ms wants MIN-MAX")?;
                cfg.kill_after_ms = (a.parse()?, b.parse()?);
                if cfg.kill_after_ms.0 > cfg.kill_after_ms.1 {
                    bail!("--kill-ms: MIN is above MAX");
                }
            }
            "--fresh-every" => {
                cfg.fresh_every = value("--fresh-every")?.parse().context("--fresh-every")?
            }
            "--part" => {
                let v = value("--part")?;
                let (k, n) = v.split_once('/').context("--part wants K/N")?;
                let (k, n): (usize, usize) = (k.parse()?, n.parse()?);
                if k == 0 || k > n {
                    bail!("--part: K must be 1..=N");
                }
                cfg.part = (k - 1, n);
            }
            "--dir" => cfg.dir = Some(value("--dir")?.into()),
            "--no-cloud" => cfg.cloud = false,
            "--json" => json = true,
            "-v" | "--verbose" => cfg.verbose = true,
            other => bail!("unknown argument {other} (see the file's header for usage)"),
        }
    }
    Ok((cfg, json))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cfg, json) = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("crashloop: {e:#}");
            std::process::exit(2);
        }
    };
    eprintln!("crashloop: {} cycles, seed {}", cfg.cycles, cfg.seed);
    match run(&cfg).await {
        Ok(r) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            } else {
                println!("| cycles | seed | orders | steps acknowledged | repeats after a kill | verify runs | log events | events at HQ | HQ commands | seconds |");
                println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
                    r.cycles,
                    r.seed,
                    r.orders,
                    r.steps_acked,
                    r.repeats,
                    r.verifies,
                    r.events,
                    r.events_at_hq,
                    r.hq_commands,
                    r.seconds
                );
            }
        }
        Err(e) => {
            eprintln!(
                "crashloop FAILED ({} cycles, seed {}): {e:#}",
                cfg.cycles, cfg.seed
            );
            std::process::exit(1);
        }
    }
}
