//! Bad configuration stops the real binary at start, before it creates its
//! data directory or binds a socket: exit code 2 and one line on stderr
//! naming the key, the value, where it came from and why it is refused.
//! Flags beat environment variables, which beat the file.
//!
//! Every run gets `--data-dir` inside a temporary directory and ephemeral
//! listen addresses (unless the case is about them), so a config the node
//! wrongly accepts cannot touch the repository or a real port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use storenode_tests::binary;

/// What a finished run of the binary left behind.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Run `storenode` with `args` and exactly the `STORENODE_…` variables in
/// `env` (none inherited); kill it and fail if it runs longer than `secs`.
fn run(dir: &Path, args: &[String], env: &[(&str, &str)], secs: u64) -> Run {
    let out = dir.join("stdout.txt");
    let err = dir.join("stderr.txt");
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    for (k, _) in std::env::vars() {
        if k.starts_with("STORENODE_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "storenode {args:?} still running after {secs} s\n--- stdout ---\n{}\n--- stderr ---\n{}",
                std::fs::read_to_string(&out).unwrap_or_default(),
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
    }
}

/// One bad configuration and the words its refusal must contain.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    /// TOML written to a file passed with `--config`.
    file: Option<&'static str>,
    /// Words stderr must contain; `{file}` stands for the config file path.
    words: &'static [&'static str],
}

/// Run each case as `storenode` (the real start path) and check that it is
/// refused with exit code 2 before the data directory exists.
fn assert_refused(cases: &[Case]) {
    for c in cases {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let file = tmp.path().join("storenode.toml");
        let mut args: Vec<String> = c.args.iter().map(|a| a.to_string()).collect();
        if let Some(text) = c.file {
            std::fs::write(&file, text).unwrap();
            args.extend(["--config".into(), file.display().to_string()]);
        }
        args.extend(["--data-dir".into(), data.display().to_string()]);
        for flag in ["--http-listen", "--mqtt-listen"] {
            if !c.args.contains(&flag) {
                args.extend([flag.into(), "127.0.0.1:0".into()]);
            }
        }
        let r = run(tmp.path(), &args, c.env, 10);
        let ctx = format!("{}: {args:?} {:?}\nstderr: {}", c.name, c.env, r.stderr);
        assert_eq!(r.code, Some(2), "{ctx}\nstdout: {}", r.stdout);
        assert!(
            r.stderr.starts_with("storenode: refusing to start: "),
            "{ctx}"
        );
        for w in c.words {
            let w = w.replace("{file}", &file.display().to_string());
            assert!(r.stderr.contains(&w), "{ctx}\nlacks {w:?}");
        }
        assert!(!r.stdout.contains("ready"), "{ctx}\nstdout: {}", r.stdout);
        assert!(
            !data.exists(),
            "{ctx}\ndata dir created before the config was checked"
        );
    }
}

#[test]
fn bad_flags_are_refused_before_anything_starts() {
    assert_refused(&[
        Case {
            name: "mqtt listen not an address",
            args: &["--mqtt-listen", "nope"],
            env: &[],
            file: None,
            words: &[
                "`mqtt.listen`",
                "\"nope\"",
                "flag --mqtt-listen",
                "not a socket address",
            ],
        },
        Case {
            name: "http port out of range",
            args: &["--http-listen", "127.0.0.1:99999"],
            env: &[],
            file: None,
            words: &[
                "`http.listen`",
                "\"127.0.0.1:99999\"",
                "flag --http-listen",
                "not a socket address",
            ],
        },
        Case {
            name: "store id with a slash",
            args: &["--store-id", "a/b"],
            env: &[],
            file: None,
            words: &[
                "`store_id`",
                "\"a/b\"",
                "flag --store-id",
                "'/'",
                "only letters, digits",
            ],
        },
        Case {
            name: "store id too long",
            args: &["--store-id", "store-id-that-is-far-too-long-for-topics"],
            env: &[],
            file: None,
            words: &[
                "`store_id`",
                "store-id-that-is-far-too-long-for-topics",
                "at most 32",
            ],
        },
        Case {
            name: "both listeners on one address",
            args: &[
                "--http-listen",
                "127.0.0.1:18883",
                "--mqtt-listen",
                "127.0.0.1:18883",
            ],
            env: &[],
            file: None,
            words: &[
                "`http.listen`",
                "\"127.0.0.1:18883\"",
                "same address as mqtt.listen",
            ],
        },
        Case {
            name: "log filter",
            args: &["--log-level", "info,[[["],
            env: &[],
            file: None,
            words: &[
                "`log.level`",
                "\"info,[[[\"",
                "flag --log-level",
                "not a log filter",
            ],
        },
    ]);
}

#[test]
fn unknown_flag_is_refused_with_exit_code_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let args = ["--mqtt-lisen", "127.0.0.1:0", "--data-dir"].map(String::from);
    let mut args = args.to_vec();
    args.push(data.display().to_string());
    let r = run(tmp.path(), &args, &[], 10);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--mqtt-lisen"), "{}", r.stderr);
    assert!(!data.exists());
}

#[test]
fn bad_environment_is_refused_before_anything_starts() {
    assert_refused(&[
        Case {
            name: "durability",
            args: &[],
            env: &[("STORENODE_STORAGE_DURABILITY", "sometimes")],
            file: None,
            words: &[
                "`storage.durability`",
                "\"sometimes\"",
                "environment variable STORENODE_STORAGE_DURABILITY",
                "`fdatasync` or `flush`",
            ],
        },
        Case {
            name: "zero connections",
            args: &[],
            env: &[("STORENODE_MQTT_MAX_CONNECTIONS", "0")],
            file: None,
            words: &[
                "`mqtt.max_connections`",
                "\"0\"",
                "environment variable STORENODE_MQTT_MAX_CONNECTIONS",
                "between 1 and 100000",
            ],
        },
        Case {
            name: "log format",
            args: &[],
            env: &[("STORENODE_LOG_FORMAT", "xml")],
            file: None,
            words: &[
                "`log.format`",
                "\"xml\"",
                "environment variable STORENODE_LOG_FORMAT",
                "`auto`, `json` or `text`",
            ],
        },
        Case {
            name: "body limit not a number",
            args: &[],
            env: &[("STORENODE_HTTP_MAX_BODY_BYTES", "lots")],
            file: None,
            words: &[
                "`http.max_body_bytes`",
                "\"lots\"",
                "STORENODE_HTTP_MAX_BODY_BYTES",
                "not a whole number",
            ],
        },
        Case {
            name: "short api token",
            args: &[],
            env: &[("STORENODE_API_TOKEN", "short")],
            file: None,
            words: &[
                "`api.token`",
                "\"short\"",
                "STORENODE_API_TOKEN",
                "at least 16",
            ],
        },
        Case {
            name: "store id",
            args: &[],
            env: &[("STORENODE_STORE_ID", "bad/id")],
            file: None,
            words: &[
                "`store_id`",
                "\"bad/id\"",
                "environment variable STORENODE_STORE_ID",
                "'/'",
            ],
        },
    ]);
}

#[test]
fn bad_config_files_are_refused_before_anything_starts() {
    assert_refused(&[
        Case {
            name: "misspelt key",
            args: &[],
            env: &[],
            file: Some("[mqtt]\nlisen = \"x\"\n"),
            words: &[
                "config file {file}",
                "unknown key `mqtt.lisen`",
                "known keys:",
                "mqtt.listen",
            ],
        },
        Case {
            name: "syntax error",
            args: &[],
            env: &[],
            file: Some("store_id = \"s1\"\n[mqtt]\nlisten = \n"),
            words: &["config file {file}", "not valid TOML"],
        },
        Case {
            name: "zero batch",
            args: &[],
            env: &[],
            file: Some("[storage]\nmax_batch = 0\n"),
            words: &[
                "`storage.max_batch`",
                "\"0\"",
                "from file {file}",
                "between 1 and 100000",
            ],
        },
        Case {
            name: "number of the wrong type",
            args: &[],
            env: &[],
            file: Some("[http]\nmax_body_bytes = 1.5\n"),
            words: &[
                "`http.max_body_bytes`",
                "\"1.5\"",
                "from file {file}",
                "not a whole number",
            ],
        },
    ]);
}

#[test]
fn missing_or_unreadable_config_file_is_refused() {
    for (name, path) in [("missing", "does-not-exist.toml"), ("a directory", ".")] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let file = tmp.path().join(path);
        let args = [
            "--config".into(),
            file.display().to_string(),
            "--data-dir".into(),
            data.display().to_string(),
        ];
        let r = run(tmp.path(), &args, &[], 10);
        assert_eq!(r.code, Some(2), "{name}: {}", r.stderr);
        let want = format!("config file {}: cannot read", file.display());
        assert!(r.stderr.contains(&want), "{name}: {}", r.stderr);
        assert!(!data.exists(), "{name}");
    }
}

#[test]
fn toml_syntax_error_names_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("storenode.toml");
    std::fs::write(&file, "store_id = \"s1\"\n[mqtt]\nlisten = \n").unwrap();
    let args = [
        "--config".into(),
        file.display().to_string(),
        "--data-dir".into(),
        tmp.path().join("data").display().to_string(),
    ];
    let r = run(tmp.path(), &args, &[], 10);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    // Regression: the message once gave no position.
    assert!(r.stderr.contains("line 3"), "{}", r.stderr);
}

/// `storenode check-config` with `args` and `env`; the run.
fn check_config(args: &[&str], env: &[(&str, &str)], file: Option<&str>) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if let Some(text) = file {
        let path = tmp.path().join("storenode.toml");
        std::fs::write(&path, text).unwrap();
        all.extend(["--config".into(), path.display().to_string()]);
    }
    all.extend([
        "--data-dir".into(),
        tmp.path().join("data").display().to_string(),
        "check-config".into(),
    ]);
    run(tmp.path(), &all, env, 10)
}

/// (what, flags, env, file, the store id in effect or None if refused)
type LayerCase = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
    Option<&'static str>,
);

#[test]
fn later_layers_override_earlier_ones() {
    let cases: &[LayerCase] = &[
        (
            "env alone",
            &[],
            &[("STORENODE_STORE_ID", "bad/id")],
            None,
            None,
        ),
        (
            "flag over env",
            &["--store-id", "good-id"],
            &[("STORENODE_STORE_ID", "bad/id")],
            None,
            Some("good-id"),
        ),
        (
            "env over file",
            &[],
            &[("STORENODE_STORE_ID", "from-env")],
            Some("store_id = \"from-file\"\n"),
            Some("from-env"),
        ),
        (
            "file over default",
            &[],
            &[],
            Some("store_id = \"from-file\"\n"),
            Some("from-file"),
        ),
        (
            "flag over a bad file value",
            &["--store-id", "from-flag"],
            &[],
            Some("store_id = \"bad/file\"\n"),
            Some("from-flag"),
        ),
        (
            "flag over file and env",
            &["--store-id", "from-flag"],
            &[("STORENODE_STORE_ID", "from-env")],
            Some("store_id = \"from-file\"\n"),
            Some("from-flag"),
        ),
    ];
    for (what, flags, env, file, want) in cases {
        let r = check_config(flags, env, *file);
        match want {
            Some(id) => {
                assert_eq!(r.code, Some(0), "{what}: {}", r.stderr);
                assert!(
                    r.stdout.contains(&format!("\"{id}\"")),
                    "{what}: {}",
                    r.stdout
                );
                for other in ["bad/id", "bad/file", "from-env", "from-file", "from-flag"] {
                    if other != *id {
                        assert!(
                            !r.stdout.contains(other),
                            "{what}: {other} shown: {}",
                            r.stdout
                        );
                    }
                }
            }
            None => {
                assert_eq!(r.code, Some(2), "{what}: {}", r.stdout);
                assert!(
                    r.stderr.contains("environment variable STORENODE_STORE_ID"),
                    "{what}: {}",
                    r.stderr
                );
            }
        }
    }
}

/// Start with `flag` pointing at an address another socket holds.
fn start_on_taken_port(flag: &str, key: &str) {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let data: PathBuf = tmp.path().join("data");
    let mut args = vec![
        flag.to_string(),
        addr.clone(),
        "--data-dir".into(),
        data.display().to_string(),
    ];
    for other in ["--http-listen", "--mqtt-listen"] {
        if other != flag {
            args.extend([other.into(), "127.0.0.1:0".into()]);
        }
    }
    let r = run(tmp.path(), &args, &[], 20);
    let ctx = format!("{flag} {addr}\nstderr: {}\nstdout: {}", r.stderr, r.stdout);
    assert_eq!(r.code, Some(1), "{ctx}");
    assert!(
        r.stderr.contains(&format!("{key} {addr}: cannot listen")),
        "{ctx}"
    );
    assert!(r.stderr.to_lowercase().contains("in use"), "{ctx}");
    assert!(!r.stdout.contains("storenode ready"), "{ctx}");
    // The other program keeps its port.
    let _client = std::net::TcpStream::connect(&addr).unwrap();
    taken.accept().unwrap();
}

#[test]
fn http_port_in_use_stops_start_naming_http_listen() {
    start_on_taken_port("--http-listen", "http.listen");
}

#[test]
fn mqtt_port_in_use_stops_start_naming_mqtt_listen() {
    start_on_taken_port("--mqtt-listen", "mqtt.listen");
}

/// The fleet's template, then the store's file: each `--config` overrides
/// the one before it key by key (also given as `STORENODE_CONFIG=a:b`); an
/// unknown key in either stops the start naming that file.
#[test]
fn config_files_layer_key_by_key() {
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("storenode.toml");
    let store = tmp.path().join("store.toml");
    std::fs::write(
        &template,
        "store_id = \"template-id\"\n[storage]\nmin_free_mib = 200\nmax_batch = 64\n",
    )
    .unwrap();
    std::fs::write(
        &store,
        "store_id = \"store-0007\"\n[storage]\nmax_batch = 32\n",
    )
    .unwrap();
    let data = tmp.path().join("data").display().to_string();
    let both = [
        "--config".to_string(),
        template.display().to_string(),
        "--config".into(),
        store.display().to_string(),
        "--data-dir".into(),
        data.clone(),
        "check-config".into(),
    ];
    let list = format!("{}:{}", template.display(), store.display());
    let by_env = [
        "--data-dir".to_string(),
        data.clone(),
        "check-config".into(),
    ];
    for (what, r) in [
        ("--config twice", run(tmp.path(), &both, &[], 10)),
        (
            "STORENODE_CONFIG",
            run(tmp.path(), &by_env, &[("STORENODE_CONFIG", &list)], 10),
        ),
    ] {
        assert_eq!(r.code, Some(0), "{what}: {}", r.stderr);
        // The store's file wins where both set a key; the template's
        // other keys stay.
        assert!(r.stdout.contains("\"store-0007\""), "{what}: {}", r.stdout);
        assert!(!r.stdout.contains("template-id"), "{what}: {}", r.stdout);
        assert!(r.stdout.contains("max_batch: 32"), "{what}: {}", r.stdout);
        assert!(
            r.stdout
                .contains(&format!("min_free_bytes: {}", 200u64 << 20)),
            "{what}: {}",
            r.stdout
        );
    }
    std::fs::write(&store, "store_id = \"store-0007\"\nmax_batchh = 1\n").unwrap();
    let r = run(tmp.path(), &both, &[], 10);
    assert_eq!(r.code, Some(2), "{}", r.stdout);
    assert!(
        r.stderr.contains("store.toml") && r.stderr.contains("max_batchh"),
        "{}",
        r.stderr
    );
}
