//! `storenode doctor`: check what a store's node needs, and say what to do.
//!
//! Checks, in order: the data directory and its permissions, the disk, the
//! clock against the log, then either the running node (`/readyz`) or,
//! with the node stopped, whether its ports are free and the database
//! agrees with its log. Every finding says what to do about it.
use std::path::Path;

use crate::config::Config;
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub check: &'static str,
    pub what: String,
    /// What to do (empty when all is well).
    pub todo: String,
}

fn ok(check: &'static str, what: impl Into<String>) -> Finding {
    Finding {
        level: Level::Ok,
        check,
        what: what.into(),
        todo: String::new(),
    }
}
fn bad(
    level: Level,
    check: &'static str,
    what: impl Into<String>,
    todo: impl Into<String>,
) -> Finding {
    Finding {
        level,
        check,
        what: what.into(),
        todo: todo.into(),
    }
}

/// Run every check.
pub fn doctor(config: &Config) -> Vec<Finding> {
    let mut f = Vec::new();
    let dir = &config.data_dir;
    permissions(dir, &mut f);
    disk(config, &mut f);
    // Never made here: doctor changes nothing.
    if !dir.join("db").exists() {
        f.push(bad(
            Level::Fail,
            "store",
            format!("there is no database in {}", dir.join("db").display()),
            "check data_dir and the --config files; for a new store run `storenode init`; to bring a store back, `storenode restore` its backup",
        ));
        return f;
    }
    match crate::data_dir::open_store(config) {
        Ok(store) => {
            clock(store.clock().behind_ms(), last_event_ms(&store), &mut f);
            ports(config, &mut f);
            integrity(&store, &mut f);
        }
        Err(crate::data_dir::DataDirError::Store(StoreError::Locked { .. })) => running(config, &mut f),
        Err(crate::data_dir::DataDirError::Store(e @ StoreError::TooNew { .. })) => f.push(bad(
            Level::Fail,
            "store",
            e.to_string(),
            "install the newer storenode again, or restore a backup made with this release",
        )),
        Err(e) => f.push(bad(
            Level::Fail,
            "store",
            format!("the database cannot be opened: {e}"),
            "if it says damaged: move the data directory aside and `storenode restore` the last backup (docs/operations.md, \"A damaged data directory\"); if only a projection is corrupt: `storenode rebuild`",
        )),
    }
    f
}

fn last_event_ms(store: &crate::store::Store) -> u64 {
    store
        .event(store.head())
        .ok()
        .flatten()
        .map(|e| e.time_ms)
        .unwrap_or(0)
}

fn permissions(dir: &Path, f: &mut Vec<Finding>) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) => {
            f.push(bad(
                Level::Fail,
                "data directory",
                format!("{}: {e}", dir.display()),
                "run `storenode init` for a new store, or check data_dir in the configuration",
            ));
            return;
        }
    };
    // The owner of /proc/self is this process's user.
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    if uid != 0 && meta.uid() != uid {
        f.push(bad(
            Level::Fail,
            "data directory",
            format!(
                "{} belongs to uid {}, not to this user (uid {uid})",
                dir.display(),
                meta.uid()
            ),
            "run storenode as the user that owns it (the package's unit runs as `storenode`): sudo -u storenode storenode doctor",
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        f.push(bad(
            Level::Warn,
            "permissions",
            format!(
                "{} has mode {mode:o}: others can read the store's data",
                dir.display()
            ),
            format!("chmod 700 {}", dir.display()),
        ));
    }
    let mut loose = Vec::new();
    for name in ["api-token", "pickup-key", "staff-secret", "tls/ca.key"] {
        let p = dir.join(name);
        if let Ok(m) = std::fs::metadata(&p) {
            if m.permissions().mode() & 0o077 != 0 {
                loose.push(format!(
                    "{} ({:o})",
                    p.display(),
                    m.permissions().mode() & 0o777
                ));
            }
        }
    }
    if loose.is_empty() {
        f.push(ok(
            "permissions",
            format!("{} and its secrets are private", dir.display()),
        ));
    } else {
        f.push(bad(
            Level::Fail,
            "permissions",
            format!("secrets readable by others: {}", loose.join(", ")),
            "chmod 600 each of them; whoever could read them could act as this node: replace what was exposed (docs/operations.md, \"Security notes\")",
        ));
    }
}

fn disk(config: &Config, f: &mut Vec<Finding>) {
    let at = if config.data_dir.join("db").exists() {
        config.data_dir.join("db")
    } else {
        config.data_dir.clone()
    };
    let d = crate::store::disk::Disk::new(at, config.min_free_bytes);
    match d.check() {
        None => f.push(ok(
            "disk",
            format!(
                "{} MiB free (at least {} MiB are kept free)",
                d.free_bytes() >> 20,
                config.min_free_bytes >> 20
            ),
        )),
        Some(t) => f.push(bad(
            Level::Fail,
            "disk",
            t.to_string(),
            "free space (journalctl --vacuum-size=100M; remove copied files), or replace a failing card and restore the last backup",
        )),
    }
}

fn clock(behind_ms: u64, last_event_ms: u64, f: &mut Vec<Finding>) {
    let now = crate::clock::wall_ms();
    if last_event_ms > now + 60_000 {
        f.push(bad(
            Level::Fail,
            "clock",
            format!(
                "the machine's clock is {} s behind the newest event in the log",
                (last_event_ms - now) / 1000
            ),
            "set the time (timedatectl set-ntp true; check the network reaches an NTP server); the node stamps events no earlier than the log's newest meanwhile",
        ));
    } else if behind_ms > 60_000 {
        f.push(bad(
            Level::Warn,
            "clock",
            format!("the clock was behind the log by {} s", behind_ms / 1000),
            "check NTP (timedatectl status)",
        ));
    } else {
        let ntp = Path::new("/run/systemd/timesync/synchronized").exists();
        f.push(ok(
            "clock",
            if ntp {
                "not behind the log; synchronised by systemd-timesyncd"
            } else {
                "not behind the log"
            },
        ));
    }
}

fn ports(config: &Config, f: &mut Vec<Finding>) {
    let mut taken = Vec::new();
    let addrs = [
        ("http.listen", Some(config.http_listen)),
        ("mqtt.listen", Some(config.mqtt_listen)),
        ("mqtt.tls_listen", config.mqtt_tls_listen),
    ];
    for (key, addr) in addrs {
        let Some(a) = addr else { continue };
        if a.port() != 0 && std::net::TcpListener::bind(a).is_err() {
            taken.push(format!("{key} {a}"));
        }
    }
    if taken.is_empty() {
        f.push(ok("ports", "the node is stopped; its ports are free"));
    } else {
        f.push(bad(
            Level::Fail,
            "ports",
            format!(
                "the node is stopped but these are taken: {}",
                taken.join(", ")
            ),
            "find the program (ss -ltnp) and stop it, or give the node other ports",
        ));
    }
}

fn integrity(store: &crate::store::Store, f: &mut Vec<Finding>) {
    match store.verify() {
        Ok(r) if r.problems.is_empty() => f.push(ok(
            "store",
            format!(
                "{} events, {} orders: consistent with the log",
                r.events, r.orders
            ),
        )),
        Ok(r) => {
            let log = r.problems.iter().any(|p| {
                [
                    "hash chain",
                    "HQ",
                    "claiming",
                    "the log holds",
                    "expected",
                    "unknown order",
                ]
                .iter()
                .any(|m| p.contains(m))
            });
            f.push(bad(
                Level::Fail,
                "store",
                format!("{} problems: {}", r.problems.len(), r.problems.join("; ")),
                if log {
                    "the log itself is damaged: keep the directory aside, `storenode restore` the last backup"
                } else {
                    "the log looks sound and what is derived from it is not: stop the node, `storenode rebuild` (it refuses, writing nothing, if the log itself is damaged: then restore the last backup), then `storenode verify`"
                },
            ))
        }
        Err(e) => f.push(bad(
            Level::Fail,
            "store",
            format!("cannot be read: {e}"),
            "restore the last backup (docs/operations.md, \"A damaged data directory\")",
        )),
    }
}

fn running(config: &Config, f: &mut Vec<Finding>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            f.push(bad(Level::Fail, "node", e.to_string(), ""));
            return;
        }
    };
    let answer = rt.block_on(async {
        match super::client::get(config, "/readyz", None).await {
            Ok(a) => a.text().await.map(|t| (200, t)),
            Err(super::client::ClientError::Status { status, body, .. }) => Ok((status, body)),
            Err(e) => Err(e),
        }
    });
    match answer {
        Ok((200, _)) => f.push(ok(
            "node",
            "running and ready (broker, writer, disk, services); stop it for a full check of the database",
        )),
        Ok((status, body)) => {
            let failing = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("failing").cloned())
                .map(|v| v.to_string())
                .unwrap_or(body);
            f.push(bad(
                Level::Fail,
                "node",
                format!("running but not ready ({status}): {failing}"),
                "see the journal (journalctl -u storenode) for the failing part; a stopped writer needs a restart (systemctl restart storenode)",
            ))
        }
        Err(e) => f.push(bad(
            Level::Fail,
            "node",
            format!("something holds the database but does not answer: {e}"),
            "is another storenode command running? (pgrep -a storenode); else restart the node",
        )),
    }
}

/// The findings as lines; exit status 1 if any failed.
pub fn render(findings: &[Finding]) -> (String, bool) {
    let mut out = String::new();
    let mut failed = false;
    for x in findings {
        let tag = match x.level {
            Level::Ok => "ok  ",
            Level::Warn => "WARN",
            Level::Fail => {
                failed = true;
                "FAIL"
            }
        };
        out.push_str(&format!("{tag} {:<15} {}\n", x.check, x.what));
        if !x.todo.is_empty() {
            out.push_str(&format!("     {:<15} → {}\n", "", x.todo));
        }
    }
    out.push_str(if failed {
        "storenode doctor: problems found (see FAIL above)\n"
    } else {
        "storenode doctor: all checks passed\n"
    });
    (out, failed)
}
