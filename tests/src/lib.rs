//! Test harness: starts the real `storenode` binary on ephemeral ports of
//! 127.0.0.1 with its own data directory, and talks to it over HTTP and
//! MQTT like any client would. Everything a test starts is stopped when the
//! handle drops.
#![allow(clippy::unwrap_used)] // test support: a failure should fail loudly

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use protocol::{codec, Envelope};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use tokio::sync::mpsc;

pub mod browser;
pub mod cloud;
pub mod crashloop;
pub mod faketime;
pub mod rmqtt;

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        })
}

/// A `cargo` command for a test (or a benchmark) to build with, in the
/// environment the suite's own `cargo` calls have: without what `cargo
/// test` sets for the test crate itself (`CARGO_MANIFEST_DIR`,
/// `CARGO_PKG_*`, …: ring's build script reruns when
/// `CARGO_MANIFEST_DIR` changes, and with it ring, rustls and everything
/// above them rebuilt, 2–3 minutes in CI, once per change of environment)
/// and on the real clock (a build tool: no libfaketime, see `faketime`).
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_CRATE_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
            "CARGO_BIN_NAME",
            "OUT_DIR",
        ]
        .contains(&k.as_ref())
            || k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_BIN_EXE_")
        {
            c.env_remove(k.as_ref());
        }
    }
    c.env_remove("LD_PRELOAD");
    c
}

/// Build `bin` of `package` (debug, quietly: a no-op when `cargo test
/// --workspace` already built it) unless `override_var` names another
/// binary (the benchmarks point it at the release build); its path.
pub fn built(package: &str, bin: &str, override_var: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(override_var) {
        return PathBuf::from(p);
    }
    let status = cargo()
        // The workspace's bins, as scripts/test.sh builds them: `-p PACKAGE`
        // alone resolves other features than `cargo test --workspace` and
        // rebuilt the node (2-3 min in CI) on the first call.
        .args(["build", "--quiet", "--workspace", "--bins"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building {package}'s {bin} failed");
    target_dir().join("debug").join(bin)
}

/// Copy a stopped node's data directory to `to` (replacing it), without
/// the harness's `node-N.log` files.
pub fn copy_data_dir(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        let target = to.join(&name);
        if e.file_type()?.is_dir() {
            copy_data_dir(&e.path(), &target)?;
        } else if !name.to_string_lossy().ends_with(".log") {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

/// Path of the `storenode` binary, built once per test process.
/// `STORENODE_BIN` names another binary.
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built("storenode", "storenode", "STORENODE_BIN"))
}

/// `STORENODE_RUNNER`: a command the node runs under, e.g.
/// `qemu-aarch64-static -L /usr/aarch64-linux-gnu` with `STORENODE_BIN`
/// naming an aarch64 build (the footprint of a Raspberry Pi's binary).
pub fn runner() -> Option<(String, Vec<String>)> {
    let text = std::env::var("STORENODE_RUNNER").ok()?;
    let mut words = text.split_whitespace().map(str::to_string);
    Some((words.next()?, words.collect()))
}

/// The target directory of the aarch64 build: `STORENODE_AARCH64_TARGET_DIR`,
/// else `target/aarch64`. Its own directory, not the workspace's: a cargo
/// build holds its target directory's lock for as long as it runs, and
/// `scripts/test.sh` builds for aarch64 while the x86 tests run.
pub fn aarch64_target_dir() -> PathBuf {
    std::env::var_os("STORENODE_AARCH64_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("aarch64"))
}

/// The aarch64 build of `storenode` the tests run (cross-compiled with
/// Debian's gcc-aarch64-linux-gnu, dev profile, in
/// [`aarch64_target_dir`]: `scripts/test.sh` starts the same build while
/// the other tests run, so this waits for it and is then a no-op; the
/// release artefacts are `scripts/build-release.sh`'s) and the qemu-user
/// command that runs it on this machine.
pub fn aarch64_node() -> Result<(PathBuf, Vec<std::ffi::OsString>)> {
    let target_dir = aarch64_target_dir();
    let status = cargo()
        .args([
            "build",
            "--quiet",
            "--locked",
            "--target",
            "aarch64-unknown-linux-gnu",
            "-p",
            "storenode",
            "--bin",
            "storenode",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .status()
        .context("run cargo build for aarch64")?;
    if !status.success() {
        bail!("the aarch64 build failed: scripts/test.sh installs what it needs (rustup target aarch64-unknown-linux-gnu, gcc-aarch64-linux-gnu)");
    }
    let bin = target_dir.join("aarch64-unknown-linux-gnu/debug/storenode");
    let qemu = which("qemu-aarch64-static").ok_or_else(|| {
        anyhow!("qemu-aarch64-static not found: install qemu-user-static (scripts/test.sh does)")
    })?;
    Ok((
        bin.clone(),
        vec![
            qemu.into(),
            "-L".into(),
            "/usr/aarch64-linux-gnu".into(),
            bin.into(),
        ],
    ))
}

/// A program on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Run `storenode verify` on a stopped node's data directory; an error
/// with its report unless the store is consistent with its log.
pub fn verify(data_dir: &Path, store_id: &str) -> Result<()> {
    let out = std::process::Command::new(binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--store-id", store_id, "verify"])
        .output()?;
    if !out.status.success() {
        bail!(
            "storenode verify failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A running node.
pub struct Node {
    child: Option<Child>,
    pub http: SocketAddr,
    pub mqtt: SocketAddr,
    /// The TLS device listener (the harness always turns it on).
    pub mqtts: SocketAddr,
    pub data_dir: PathBuf,
    pub token: String,
    pub log: PathBuf,
    /// The store id it runs as.
    pub store_id: String,
    http_client: reqwest::Client,
}

/// Options for starting a node.
#[derive(Clone, Default)]
pub struct Opts {
    pub store_id: Option<String>,
    pub extra_args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Variables the node must not inherit from the test process (e.g.
    /// the year-ahead run's `FAKETIME`, under a clock of the test's own).
    pub env_remove: Vec<String>,
    /// Start with an empty catalog (by default a node whose catalog is
    /// empty gets [`test_catalog`] with plenty of stock).
    pub no_catalog: bool,
    /// Serve HTTP on this port of 127.0.0.1 (default: an ephemeral one),
    /// e.g. to restart a node where a browser expects it.
    pub http_port: Option<u16>,
    /// Run this command instead of the built `storenode` (e.g. an installed
    /// package's binary, or `qemu-aarch64-static … storenode`); the
    /// harness's flags follow it.
    pub program: Vec<std::ffi::OsString>,
    /// How long to wait for the node to be ready (default 30 s).
    pub ready_secs: Option<u64>,
}

/// The SKUs [`order_body`] uses: SKU-000 … SKU-099, plus "S".
pub fn test_skus() -> Vec<String> {
    let mut v: Vec<String> = (0..100).map(|i| format!("SKU-{i:03}")).collect();
    v.push("S".into());
    v
}

/// A valid EAN-13 for a 12-digit body.
pub fn ean13(body: u64) -> String {
    let digits = format!("{:012}", body % 1_000_000_000_000);
    protocol::gtin::with_check_digit(&digits).unwrap_or(digits)
}

/// The barcode [`test_catalog`] gives the `i`-th of [`test_skus`].
pub fn test_barcode(i: usize) -> String {
    ean13(200_000_000_000 + i as u64)
}

/// A catalog import body (JSON rows) for [`test_skus`]: ambient, aisle =
/// SKU number / 10, `on_hand` units each.
pub fn test_catalog(on_hand: u32) -> Value {
    let rows: Vec<Value> = test_skus()
        .iter()
        .enumerate()
        .map(|(i, sku)| {
            serde_json::json!({
                "sku": sku, "name": format!("Test item {sku}"),
                "barcodes": [test_barcode(i)],
                "aisle": 1 + i / 10, "bay": 1 + i % 10, "shelf": 1,
                "zone": "ambient", "unit_price_cents": 100 + i,
                "on_hand": on_hand,
            })
        })
        .collect();
    Value::Array(rows)
}

impl Node {
    /// Start a node on `data_dir` with ephemeral ports and wait until it
    /// answers `/healthz`.
    pub async fn start(data_dir: &Path) -> Result<Node> {
        Self::start_with(data_dir, Opts::default()).await
    }

    pub async fn start_with(data_dir: &Path, opts: Opts) -> Result<Node> {
        std::fs::create_dir_all(data_dir)?;
        let n = std::fs::read_dir(data_dir)?.count();
        let log = data_dir.join(format!("node-{n}.log"));
        let out = std::fs::File::create(&log)?;
        let mut cmd = match opts.program.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
            None => match runner() {
                Some((program, args)) => {
                    let mut c = Command::new(program);
                    c.args(args).arg(binary());
                    c
                }
                None => Command::new(binary()),
            },
        };
        cmd.arg("--data-dir")
            .arg(data_dir)
            .args([
                "--http-listen",
                &format!("127.0.0.1:{}", opts.http_port.unwrap_or(0)),
                "--mqtt-listen",
                "127.0.0.1:0",
                "--mqtt-tls-listen",
                "127.0.0.1:0",
            ])
            .args([
                "--store-id",
                opts.store_id.as_deref().unwrap_or("test-store"),
            ])
            .args(&opts.extra_args)
            .env("STORENODE_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        for k in &opts.env_remove {
            cmd.env_remove(k);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("spawn storenode")?;
        let mut node = Node {
            child: Some(child),
            http: "127.0.0.1:1".parse()?,
            mqtt: "127.0.0.1:1".parse()?,
            mqtts: "127.0.0.1:1".parse()?,
            data_dir: data_dir.to_path_buf(),
            token: String::new(),
            log: log.clone(),
            store_id: opts.store_id.clone().unwrap_or_else(|| "test-store".into()),
            http_client: reqwest::Client::new(),
        };
        // The node prints its resolved addresses once it is ready.
        let ready_secs = opts.ready_secs.unwrap_or(30);
        let deadline = Instant::now() + Duration::from_secs(ready_secs);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let http = find_addr(&text, "staff API    http://")
                .or_else(|| find_addr(&text, "staff API    https://"));
            let mqtt = find_addr(&text, "device MQTT  mqtt://");
            let mqtts = find_addr(&text, "device TLS   mqtts://");
            if let (Some(h), Some(m), Some(t)) = (http, mqtt, mqtts) {
                node.http = h;
                node.mqtt = m;
                node.mqtts = t;
                break;
            }
            if let Some(status) = node
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("storenode exited with {status} before ready:\n{text}");
            }
            if Instant::now() > deadline {
                bail!("storenode not ready after {ready_secs} s:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        node.token = std::fs::read_to_string(data_dir.join("api-token"))
            .map(|t| t.trim().to_string())
            .unwrap_or_default();
        if !opts.no_catalog && opts.extra_args.iter().all(|a| a != "--api-token") {
            let (_, stock) = node.get("/api/v1/stock").await?;
            if stock["items"].as_array().is_some_and(|a| a.is_empty()) {
                let (status, body) = node
                    .post("/api/v1/catalog/import", &test_catalog(1_000_000))
                    .await?;
                if status != 200 {
                    bail!("seeding the test catalog failed: {status} {body}");
                }
            }
        }
        Ok(node)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// SIGKILL: no drain, no flush — a crash or a pulled plug (for the
    /// process; the page cache survives).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the exit status.
    pub async fn terminate(&mut self) -> Result<ExitStatus> {
        let mut c = self.child.take().ok_or_else(|| anyhow!("not running"))?;
        Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = c.try_wait()? {
                return Ok(s);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                bail!("storenode did not stop within 20 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    /// A request with the API token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http_client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(20))
    }

    /// POST a JSON value; returns status and JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        let resp = self
            .request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await?;
        status_and_json(resp).await
    }

    /// POST raw bytes with a JSON content type.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> Result<(u16, Value)> {
        let resp = self
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        status_and_json(resp).await
    }

    pub async fn get(&self, path: &str) -> Result<(u16, Value)> {
        let resp = self.request(reqwest::Method::GET, path).send().await?;
        status_and_json(resp).await
    }

    /// The log head from `/healthz`.
    pub async fn head(&self) -> Result<u64> {
        let (_, v) = self.get("/healthz").await?;
        v["log_head"]
            .as_u64()
            .ok_or_else(|| anyhow!("no log_head in {v}"))
    }

    /// A metric's value from `/metrics` (sum over label sets matching
    /// `labels`, e.g. `source="device"`).
    pub async fn metric(&self, name: &str, labels: &str) -> Result<f64> {
        let text = self
            .request(reqwest::Method::GET, "/metrics")
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with(name) && l.contains(labels))
            .filter(|l| l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// Post the staff login form as a browser on this node's own page
    /// would (its Origin), without following the redirect.
    pub async fn form_login(&self, staff_id: &str, pin: &str) -> Result<reqwest::Response> {
        Ok(reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?
            .post(self.url("/login"))
            .header("origin", format!("http://{}", self.http))
            .form(&[("staff_id", staff_id), ("pin", pin), ("next", "")])
            .send()
            .await?)
    }

    /// Log in with the form and return the session cookie (`name=value`).
    pub async fn session_cookie(&self, staff_id: &str, pin: &str) -> Result<String> {
        let login = self.form_login(staff_id, pin).await?;
        login
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("sn_session="))
            .and_then(|v| v.split(';').next())
            .map(str::to_string)
            .ok_or_else(|| {
                anyhow!(
                    "login of {staff_id} set no session cookie: {}",
                    login.status()
                )
            })
    }

    /// A page as the holder of `cookie` sees it.
    pub async fn page(&self, cookie: &str, path: &str) -> Result<String> {
        Ok(reqwest::Client::new()
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await?
            .text()
            .await?)
    }

    /// Register a device of `kind` through the API (a locker gets the
    /// compartments 1-24); the API's answer.
    async fn register_device(&self, name: &str, kind: &str) -> Result<Value> {
        let mut body = serde_json::json!({ "name": name, "kind": kind });
        if kind == "locker" {
            body["compartments"] = "1-24".into();
        }
        let (status, v) = self.post("/api/v1/devices", &body).await?;
        if status != 201 {
            bail!("add device {name}: {status} {v}");
        }
        Ok(v)
    }

    /// Register a device of `kind`; returns its password.
    pub async fn add_device(&self, name: &str, kind: &str) -> Result<String> {
        let v = self.register_device(name, kind).await?;
        Ok(v["password"].as_str().unwrap_or_default().to_string())
    }

    /// Add a staff member through the API; returns (staff id, PIN).
    pub async fn add_staff(&self, name: &str, role: &str) -> Result<(String, String)> {
        let (status, v) = self
            .post(
                "/api/v1/staff",
                &serde_json::json!({ "name": name, "role": role }),
            )
            .await?;
        if status != 201 {
            bail!("add staff {name}: {status} {v}");
        }
        Ok((
            v["staff_id"].as_str().unwrap_or_default().to_string(),
            v["pin"].as_str().unwrap_or_default().to_string(),
        ))
    }

    /// Connect an MQTT client authenticated as `device`.
    pub async fn mqtt(&self, device: &str, password: &str) -> Result<Mqtt> {
        Mqtt::connect(
            self.mqtt,
            &format!("{device}-{}", rand::random::<u32>()),
            device,
            password,
        )
        .await
    }

    /// Register a device of `kind` and return what its bundle holds.
    pub async fn add_tls_device(&self, name: &str, kind: &str) -> Result<DeviceCreds> {
        let v = self.register_device(name, kind).await?;
        let bundle = v["bundle"].as_str().unwrap_or_default();
        let blocks = pem_blocks(bundle);
        if blocks.len() != 3 {
            bail!(
                "bundle of {name} has {} PEM blocks, not 3:\n{bundle}",
                blocks.len()
            );
        }
        Ok(DeviceCreds {
            name: name.to_string(),
            password: v["password"].as_str().unwrap_or_default().to_string(),
            ca_pem: blocks[0].clone(),
            cert_pem: blocks[1].clone(),
            key_pem: blocks[2].clone(),
        })
    }

    /// Connect over TLS as `creds` (certificate and password).
    pub async fn mqtts(&self, creds: &DeviceCreds) -> Result<Mqtt> {
        Mqtt::connect_tls(
            self.mqtts,
            &format!("c{}", rand::random::<u32>()),
            Some((&creds.name, &creds.password)),
            &creds.ca_pem,
            Some((&creds.cert_pem, &creds.key_pem)),
        )
        .await
    }

    /// Register `device` as `kind`, connect as it (plaintext, loopback),
    /// and subscribe to its reply topic.
    pub async fn device(&self, device: &str, kind: &str) -> Result<Mqtt> {
        let pw = self.add_device(device, kind).await?;
        let dev = self.mqtt(device, &pw).await?;
        dev.subscribe(&protocol::topic::device_reply(device))
            .await?;
        Ok(dev)
    }

    /// Poll until `f` holds, or fail after `secs`.
    pub async fn wait_for<F, Fut>(&self, what: &str, secs: u64, mut f: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if f().await.unwrap_or(false) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "timed out waiting for {what}\n--- node log ---\n{}",
                    tail(&self.logs(), 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Wait (up to `secs`) until order `id` is in `state`.
    pub async fn wait_state(&self, id: &str, state: &str, secs: u64) -> Result<()> {
        self.wait_for(&format!("{id} {state}"), secs, || async {
            Ok(self.order_state(id).await?.as_deref() == Some(state))
        })
        .await
    }

    /// The order's state name from the API, if the order exists.
    /// Pick (every line, no scans) and stage on the shelf a prepared
    /// order; returns its short pickup code.
    pub async fn make_ready(&self, id: &str) -> Result<String> {
        // Ready to pick, or partly picked already.
        self.wait_for(&format!("{id} prepared or picking"), 20, || async {
            Ok(matches!(
                self.order_state(id).await?.as_deref(),
                Some("prepared" | "picking")
            ))
        })
        .await?;
        let (status, v) = self
            .post(
                &format!("/api/v1/orders/{id}/picked"),
                &serde_json::json!({ "staff": "ann" }),
            )
            .await?;
        if status != 200 {
            bail!("picked {id}: {status} {v}");
        }
        let stage = serde_json::json!({ "staff": "ann", "slot": { "kind": "shelf", "id": "A1" } });
        let (status, v) = self
            .post(&format!("/api/v1/orders/{id}/stage"), &stage)
            .await?;
        if status != 200 {
            bail!("stage {id}: {status} {v}");
        }
        let (_, v) = self.get(&format!("/api/v1/orders/{id}")).await?;
        v["order"]["pickup_code"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("{id} has no pickup code: {v}"))
    }

    /// The whole flow for one new order of `lines` lines: created (201),
    /// accepted and prepared by the node's services, picked, staged, and
    /// handed over with its pickup code; waits for `fulfilled`.
    pub async fn complete_order(&self, id: &str, lines: usize) -> Result<()> {
        let (status, v) = self.post("/api/v1/orders", &order_body(id, lines)).await?;
        if status != 201 {
            bail!("create {id}: {status} {v}");
        }
        let code = self.make_ready(id).await?;
        let (status, v) = self
            .post(
                &format!("/api/v1/orders/{id}/handed-over"),
                &serde_json::json!({ "staff": "ann", "code": code }),
            )
            .await?;
        if status != 200 {
            bail!("hand over {id}: {status} {v}");
        }
        self.wait_state(id, "fulfilled", 20).await
    }

    pub async fn order_state(&self, id: &str) -> Result<Option<String>> {
        let (status, v) = self.get(&format!("/api/v1/orders/{id}")).await?;
        Ok(match status {
            200 => v["order"]["state"].as_str().map(str::to_string),
            _ => None,
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The status and the JSON body (or the text, as a JSON string).
pub(crate) async fn status_and_json(resp: reqwest::Response) -> Result<(u16, Value)> {
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

pub(crate) fn find_addr(text: &str, marker: &str) -> Option<SocketAddr> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let end = rest.find(['/', ' ', '\n']).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A due time `days` from now on the test's own clock, in ms since the
/// epoch: an order that will not be late while the test runs, on any date
/// (never a fixed date, which some day becomes the past).
pub fn due_in_days(days: u64) -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
        + days * 86_400_000
}

/// Now on the test's own clock, in RFC 3339 (a till's receipt time: a
/// fixed date would be before the store's counts, which see a sale rung up
/// before them).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

/// A week after the test process first asked, the same on every call: an
/// order's body must be the same on every resend (or the resend is a
/// different order, refused as a conflict).
pub fn due_in_a_week() -> u64 {
    static DUE: OnceLock<u64> = OnceLock::new();
    *DUE.get_or_init(|| due_in_days(7))
}

/// A JSON body for `POST /api/v1/orders`.
pub fn order_body(id: &str, lines: usize) -> Value {
    let lines: Vec<Value> = (0..lines)
        .map(|i| {
            serde_json::json!({
                "sku": format!("SKU-{:03}", (i * 7) % 100),
                "quantity": 1 + i % 3,
                "unit_price_cents": 100 + i as i64,
                "substitution_allowed": i % 2 == 0,
            })
        })
        .collect();
    serde_json::json!({ "order_id": id, "customer_name": "Test Customer", "lines": lines, "payment": "prepaid" })
}

/// What a device bundle holds.
#[derive(Debug, Clone)]
pub struct DeviceCreds {
    pub name: String,
    pub password: String,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// The PEM blocks of a text, in order.
pub fn pem_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("-----BEGIN ") {
            cur = Some(String::new());
        }
        if let Some(c) = cur.as_mut() {
            c.push_str(line);
            c.push('\n');
        }
        if line.starts_with("-----END ") {
            if let Some(c) = cur.take() {
                out.push(c);
            }
        }
    }
    out
}

/// An MQTT client (rumqttc) with its event loop driven in the background;
/// received publishes arrive on `rx`.
pub struct Mqtt {
    pub client: AsyncClient,
    pub rx: mpsc::UnboundedReceiver<rumqttc::Publish>,
    task: tokio::task::JoinHandle<()>,
}

impl Mqtt {
    /// Connect and wait for the CONNACK; an error if the broker refuses.
    pub async fn connect(
        addr: SocketAddr,
        client_id: &str,
        user: &str,
        password: &str,
    ) -> Result<Mqtt> {
        let mut opts = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
        opts.set_credentials(user, password);
        Self::connect_with(opts, user).await
    }

    /// Connect over TLS, trusting `ca_pem`, with an optional client
    /// certificate and optional credentials.
    pub async fn connect_tls(
        addr: SocketAddr,
        client_id: &str,
        login: Option<(&str, &str)>,
        ca_pem: &str,
        client: Option<(&str, &str)>,
    ) -> Result<Mqtt> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(c?)?;
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let config = match client {
            Some((cert, key)) => {
                let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()?;
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes())?;
                builder.with_client_auth_cert(certs, key)?
            }
            None => builder.with_no_client_auth(),
        };
        let mut opts = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
        if let Some((user, password)) = login {
            opts.set_credentials(user, password);
        }
        opts.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(std::sync::Arc::new(config)),
        ));
        Self::connect_with(opts, login.map_or("(anonymous)", |l| l.0)).await
    }

    async fn connect_with(mut opts: MqttOptions, user: &str) -> Result<Mqtt> {
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(opts, 1024);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => bail!("mqtt connect as {user} refused or failed: {e}"),
                Err(_) => bail!("mqtt connect as {user}: no CONNACK in 5 s"),
            }
            if Instant::now() > deadline {
                bail!("mqtt connect as {user}: no CONNACK in 5 s");
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if tx.send(p).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        Ok(Mqtt { client, rx, task })
    }

    /// Subscribe and give the broker a moment to register it.
    pub async fn subscribe(&self, filter: &str) -> Result<()> {
        self.client.subscribe(filter, QoS::AtLeastOnce).await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
        Ok(())
    }

    pub async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<()> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await?;
        Ok(())
    }

    /// The next message within `secs`.
    pub async fn recv(&mut self, secs: u64) -> Result<rumqttc::Publish> {
        recv_within(&mut self.rx, secs).await
    }

    /// The next message on `topic` within `secs`, skipping others.
    pub async fn recv_on(&mut self, topic: &str, secs: u64) -> Result<rumqttc::Publish> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let p = tokio::time::timeout(left, self.rx.recv())
                .await
                .map_err(|_| anyhow!("no MQTT message on {topic} within {secs} s"))?
                .ok_or_else(|| anyhow!("MQTT connection closed"))?;
            if p.topic == topic {
                return Ok(p);
            }
        }
    }

    /// Decode a node event.
    pub fn envelope(p: &rumqttc::Publish) -> Result<Envelope> {
        Ok(codec::decode(&p.payload)?)
    }
}

impl Drop for Mqtt {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Run futures concurrently (a tiny join_all): their outputs, in order.
pub async fn join_all<F: std::future::Future>(fs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = fs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in pinned.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// The next message a test client's task forwarded, within `secs`.
pub async fn recv_within(
    rx: &mut mpsc::UnboundedReceiver<rumqttc::Publish>,
    secs: u64,
) -> Result<rumqttc::Publish> {
    tokio::time::timeout(Duration::from_secs(secs), rx.recv())
        .await
        .map_err(|_| anyhow!("no MQTT message within {secs} s"))?
        .ok_or_else(|| anyhow!("MQTT connection closed"))
}
