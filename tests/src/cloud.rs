//! The HQ side for tests: a real Mosquitto as the chain's cloud broker,
//! real `cloud-bridge` processes, a webhook receiver (the cloud order
//! service) that checks signatures and applies per store in sequence
//! order, and a TCP proxy that cuts a store's internet while the broker
//! stays up. All on ephemeral ports of 127.0.0.1, stopped on drop.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use cloud_bridge::webhook::{Receiver, Refused, Secret};
use serde_json::Value;

use crate::{status_and_json, tail};

/// The webhook secret the tests' bridges sign with.
pub const SECRET: &str = "whsec_dGVzdC1zZWNyZXQtZm9yLXRoZS13ZWJob29r";

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_listening(port: u16, what: &str, secs: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("{what} not listening on {port} after {secs} s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// PEM files for a TLS listener and its clients.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// A Mosquitto 2 broker (Debian's), persistent sessions kept across its
/// own restarts, `max_queued_messages 0` (Mosquitto's default of 1000
/// silently drops QoS 1 messages for a slow or offline client).
pub struct Mosquitto {
    child: Option<Child>,
    pub port: u16,
    pub tls_port: Option<u16>,
    dir: PathBuf,
}

impl Mosquitto {
    pub async fn start(dir: &Path) -> Result<Mosquitto> {
        Self::start_with(dir, None).await
    }

    /// With a second, TLS listener that requires a client certificate
    /// signed by `tls.ca`.
    pub async fn start_with(dir: &Path, tls: Option<&TlsFiles>) -> Result<Mosquitto> {
        let dir = dir.join("mosquitto");
        std::fs::create_dir_all(&dir)?;
        let port = free_port()?;
        let tls_port = tls.map(|_| free_port()).transpose()?;
        let mut conf = format!(
            "per_listener_settings false\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 0\n\
             set_tcp_nodelay true\npersistence true\npersistence_location {}/\nautosave_interval 0\n\
             log_dest file {}/mosquitto.log\nlog_type error\nlog_type warning\nlog_type notice\n\
             listener {port} 127.0.0.1\n",
            dir.display(),
            dir.display()
        );
        if let (Some(t), Some(p)) = (tls, tls_port) {
            conf.push_str(&format!(
                "listener {p} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
                t.ca.display(),
                t.server_cert.display(),
                t.server_key.display()
            ));
        }
        std::fs::write(dir.join("mosquitto.conf"), conf)?;
        let mut m = Mosquitto {
            child: None,
            port,
            tls_port,
            dir,
        };
        m.spawn().await?;
        Ok(m)
    }

    async fn spawn(&mut self) -> Result<()> {
        let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or_else(|| anyhow!("mosquitto is not installed: run ./scripts/test.sh (it installs Debian's mosquitto)"))?;
        let child = Command::new(bin)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawn mosquitto")?;
        self.child = Some(child);
        wait_listening(self.port, "mosquitto", 10).await?;
        if let Some(p) = self.tls_port {
            wait_listening(p, "mosquitto TLS", 10).await?;
        }
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// SIGTERM: Mosquitto saves its sessions and queued messages.
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status()?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                    bail!("mosquitto did not stop in 10 s");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// Start again after [`Mosquitto::stop`], on the same ports, with the
    /// saved sessions.
    pub async fn resume(&mut self) -> Result<()> {
        self.spawn().await
    }

    /// Start again on the same ports (with the saved sessions).
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        self.spawn().await
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Start a node on `dir` whose cloud link points at `url` (plus `opts`),
/// and wait until the link is up.
pub async fn linked_node(dir: &Path, url: &str, mut opts: crate::Opts) -> Result<crate::Node> {
    opts.env.push(("STORENODE_CLOUD_URL".into(), url.into()));
    let node = crate::Node::start_with(dir, opts).await?;
    wait_link(&node, true).await?;
    Ok(node)
}

/// Wait (up to 20 s) until the node's cloud link is up (or down).
pub async fn wait_link(node: &crate::Node, online: bool) -> Result<()> {
    node.wait_for(&format!("cloud link online = {online}"), 20, || async {
        Ok(node.get("/api/v1/sync").await?.1["online"] == online)
    })
    .await
}

/// Path of the `cloud-bridge` binary, built once per test process.
/// `CLOUD_BRIDGE_BIN` names another binary.
pub fn bridge_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| crate::built("cloud-bridge", "cloud-bridge", "CLOUD_BRIDGE_BIN"))
}

/// A running `cloud-bridge` instance.
pub struct Bridge {
    child: Option<Child>,
    pub http: SocketAddr,
    pub token: String,
    pub log: PathBuf,
    client: reqwest::Client,
}

pub const BRIDGE_TOKEN: &str = "hq-test-token-0123456789";

impl Bridge {
    /// Start an instance of group `hq` delivering to `webhook`.
    pub async fn start(dir: &Path, broker: &str, webhook: &str, instance: &str) -> Result<Bridge> {
        Self::start_delivering(dir, broker, webhook, instance, &[]).await
    }

    /// [`Bridge::start`] with more arguments.
    pub async fn start_delivering(
        dir: &Path,
        broker: &str,
        webhook: &str,
        instance: &str,
        more: &[&str],
    ) -> Result<Bridge> {
        let mut args = vec!["--webhook", webhook, "--webhook-secret", SECRET];
        args.extend_from_slice(more);
        Self::start_args(dir, broker, instance, &args).await
    }

    pub async fn start_args(
        dir: &Path,
        broker: &str,
        instance: &str,
        args: &[&str],
    ) -> Result<Bridge> {
        std::fs::create_dir_all(dir)?;
        let log = dir.join(format!("bridge-{instance}-{}.log", rand::random::<u32>()));
        let out = std::fs::File::create(&log)?;
        // Everything that could fail before the handle exists comes first:
        // a child spawned without a handle to kill it would outlive the test.
        let client = reqwest::Client::new();
        let child = Command::new(bridge_binary())
            .args(["--broker", broker, "--group", "hq", "--instance", instance])
            .args(["--http", "127.0.0.1:0", "--token", BRIDGE_TOKEN])
            .args(args)
            .env("CLOUD_BRIDGE_LOG", "info,cloud_bridge=debug")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("spawn cloud-bridge")?;
        let mut b = Bridge {
            child: Some(child),
            http: "127.0.0.1:1".parse()?,
            token: BRIDGE_TOKEN.into(),
            log: log.clone(),
            client,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(addr) = crate::find_addr(&text, "HQ API http://") {
                b.http = addr;
                break;
            }
            if let Some(s) = b.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("cloud-bridge exited with {s}:\n{text}");
            }
            if Instant::now() > deadline {
                bail!("cloud-bridge not ready after 30 s:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Connected and subscribed.
        let deadline = Instant::now() + Duration::from_secs(10);
        while b.metric("cloud_bridge_broker_online").await.unwrap_or(0.0) < 1.0 {
            if Instant::now() > deadline {
                bail!("cloud-bridge did not connect:\n{}", tail(&b.logs(), 20));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(b)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics_text(&self) -> Result<String> {
        Ok(self
            .client
            .get(format!("http://{}/metrics", self.http))
            .send()
            .await?
            .text()
            .await?)
    }

    /// SIGKILL, through a shared reference (while others use the instance).
    pub fn kill_now(&self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args(["-KILL", &c.id().to_string()])
                .status();
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        let r = self
            .client
            .post(format!("http://{}{path}", self.http))
            .bearer_auth(&self.token)
            .json(body)
            .timeout(Duration::from_secs(20))
            .send()
            .await?;
        status_and_json(r).await
    }

    /// POST with an `Idempotency-Key` (HQ sending a command again).
    pub async fn post_keyed(&self, path: &str, body: &Value, key: &str) -> Result<(u16, Value)> {
        let r = self
            .client
            .post(format!("http://{}{path}", self.http))
            .bearer_auth(&self.token)
            .header("idempotency-key", key)
            .json(body)
            .timeout(Duration::from_secs(20))
            .send()
            .await?;
        status_and_json(r).await
    }

    pub async fn get(&self, path: &str) -> Result<(u16, Value)> {
        let r = self
            .client
            .get(format!("http://{}{path}", self.http))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(20))
            .send()
            .await?;
        status_and_json(r).await
    }

    pub async fn metric(&self, name: &str) -> Result<f64> {
        let text = self
            .client
            .get(format!("http://{}/metrics", self.http))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ', '_']))
            .filter(|l| !l[name.len()..].starts_with("_created"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// Wait until the store knows command `id`'s outcome; returns its record.
    pub async fn command_outcome(&self, store: &str, id: &str, secs: u64) -> Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (status, v) = self
                .get(&format!("/api/v1/stores/{store}/commands/{id}"))
                .await?;
            if status == 200 && v["status"] != "pending" {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("command {id} still {v} after {secs} s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the fleet view shows `store`.
    pub async fn wait_store(&self, store: &str, secs: u64) -> Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (_, v) = self.get("/api/v1/stores").await?;
            if let Some(s) = v["stores"]
                .as_array()
                .and_then(|a| a.iter().find(|s| s["store_id"] == store))
            {
                return Ok(s.clone());
            }
            if Instant::now() > deadline {
                bail!("store {store} not in the fleet view after {secs} s: {v}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the webhook receiver has seen.
#[derive(Default)]
pub struct SinkState {
    receiver: Mutex<Receiver>,
    /// Applied CloudEvents per store, in the order applied.
    events: Mutex<BTreeMap<String, Vec<Value>>>,
    /// Answer 500 to everything (the service is failing).
    pub failing: AtomicBool,
    pub calls: AtomicU64,
    pub bad_signatures: AtomicU64,
    /// Keep no events, only count them (benchmarks).
    pub count_only: AtomicBool,
    /// Take this long for each call (a service's commit), in ms.
    pub delay_ms: AtomicU64,
}

/// The cloud order service: verifies each call's signature, then applies
/// per store in `sequence` order and drops redeliveries, as the contract
/// in docs/sync.md says a receiver should.
pub struct Sink {
    pub url: String,
    port: u16,
    pub state: Arc<SinkState>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sink {
    pub async fn start() -> Result<Sink> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let mut s = Sink {
            url: format!("http://127.0.0.1:{port}/events"),
            port,
            state: Arc::default(),
            task: None,
        };
        s.serve(listener);
        Ok(s)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        use axum::routing::post;
        let state = self.state.clone();
        let app = axum::Router::new()
            .route("/events", post(receive))
            // A batch's JSON is a few times its postcard size.
            .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
            .with_state(state);
        self.task = Some(tokio::spawn(async move {
            // No Nagle: a small response written in two parts would wait
            // for the client's delayed ACK (≈40 ms a call).
            use axum::serve::ListenerExt as _;
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, app).await;
        }));
    }

    /// Stop listening (calls are refused) until [`Sink::up`].
    pub fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    pub async fn up(&mut self) -> Result<()> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await?;
        self.serve(listener);
        Ok(())
    }

    /// The applied events of `store` (including customer messages).
    pub fn events(&self, store: &str) -> Vec<Value> {
        self.state
            .events
            .lock()
            .map(|m| m.get(store).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// The store events (not customer messages) applied for `store`.
    pub fn store_events(&self, store: &str) -> Vec<Value> {
        self.events(store)
            .into_iter()
            .filter(|e| e["type"] != "customer_message")
            .collect()
    }

    /// How many events of `store` are applied (its last sequence: they
    /// are applied in order without gaps).
    pub fn applied(&self, store: &str) -> u64 {
        self.state
            .receiver
            .lock()
            .ok()
            .and_then(|r| {
                r.last(store)
                    .and_then(|s| s.split('.').next()?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// (applied, dropped as redeliveries).
    pub fn counts(&self) -> (u64, u64) {
        self.state
            .receiver
            .lock()
            .map(|r| (r.applied, r.dropped))
            .unwrap_or_default()
    }

    /// Wait until `store`'s events 1..=`head` are all applied; then check
    /// that what came (perhaps more) came exactly once each, in log order.
    pub async fn wait_all(&self, store: &str, head: u64, secs: u64) -> Result<Vec<Value>> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.store_events(store);
            if got.len() as u64 >= head {
                let seqs: Vec<u64> = got.iter().filter_map(|e| e["logseq"].as_u64()).collect();
                let want: Vec<u64> = (1..=got.len() as u64).collect();
                if seqs != want {
                    bail!("events of {store} not 1, 2, 3… each once in order: {seqs:?}");
                }
                return Ok(got);
            }
            if Instant::now() > deadline {
                bail!(
                    "only {} of {head} events of {store} reached HQ after {secs} s",
                    got.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.down();
    }
}

async fn receive(
    axum::extract::State(s): axum::extract::State<Arc<SinkState>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    s.calls.fetch_add(1, Ordering::Relaxed);
    if headers.get("content-type").and_then(|v| v.to_str().ok())
        != Some(cloud_bridge::webhook::CONTENT_TYPE)
    {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not a CloudEvents batch".into(),
        );
    }
    let secret = match Secret::new(SECRET) {
        Ok(s) => s,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let delay = s.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let batch = match cloud_bridge::webhook::read(&secret, &headers, &body, now) {
        Ok(b) => b,
        Err(Refused::Signature(e)) => {
            s.bad_signatures.fetch_add(1, Ordering::Relaxed);
            return (StatusCode::UNAUTHORIZED, e);
        }
        Err(Refused::Body(e)) => return (StatusCode::BAD_REQUEST, e),
    };
    if s.failing.load(Ordering::Relaxed) {
        // Checked as a real service would, but then it fails to commit.
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "failing on purpose".into(),
        );
    }
    let (Ok(mut r), Ok(mut applied)) = (s.receiver.lock(), s.events.lock()) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "poisoned".into());
    };
    match r.apply(batch) {
        Ok(new) if !s.count_only.load(Ordering::Relaxed) => {
            for e in new {
                let store = e["storeid"].as_str().unwrap_or("").to_string();
                applied.entry(store).or_default().push(e);
            }
        }
        Ok(_) => {}
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
    }
    (StatusCode::OK, "ok".into())
}

/// What a lean receiver reads of a CloudEvent: the two fields its dedup needs.
#[derive(serde::Deserialize)]
#[allow(dead_code)] // built by serde only
struct Seq {
    storeid: String,
    sequence: String,
}

/// A TCP proxy: the store's internet connection, which a test can cut
/// (every connection closed, new ones refused) while the broker stays up.
pub struct Proxy {
    pub port: u16,
    online: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Result<Proxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let online = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(AtomicU64::new(0));
        let (on, gen) = (online.clone(), generation.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !on.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let (on, gen) = (on.clone(), gen.clone());
                let born = gen.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let cut = async {
                        while on.load(Ordering::SeqCst) && gen.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    };
                    tokio::select! { _ = copy => {}, _ = cut => {} }
                });
            }
        });
        Ok(Proxy {
            port,
            online,
            generation,
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The link goes down: open connections are closed, new ones refused.
    pub fn cut(&self) {
        self.online.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn restore(&self) {
        self.online.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A CA, a server certificate for 127.0.0.1 and client certificates, made
/// with rcgen in the test's directory.
pub struct TestPki {
    ca: rcgen::CertifiedKey,
    pub files: TlsFiles,
    dir: PathBuf,
}

impl TestPki {
    pub fn new(dir: &Path, name: &str) -> Result<TestPki> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let dir = dir.join(format!("pki-{name}"));
        std::fs::create_dir_all(&dir)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let ca = rcgen::CertifiedKey {
            cert,
            key_pair: key,
        };
        let files = TlsFiles {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        };
        std::fs::write(&files.ca, ca.cert.pem())?;
        let mut pki = TestPki { ca, files, dir };
        let (c, k) = pki.issue("127.0.0.1", "server")?;
        std::fs::rename(c, &pki.files.server_cert)?;
        std::fs::rename(k, &pki.files.server_key)?;
        pki.dir = pki.dir.clone();
        Ok(pki)
    }

    /// A certificate for `name` (an IP or DNS name; also its CN), signed by
    /// this CA; returns the (certificate, key) PEM paths.
    pub fn issue(&self, name: &str, file: &str) -> Result<(PathBuf, PathBuf)> {
        use rcgen::{CertificateParams, DnType, KeyPair};
        let mut params = CertificateParams::new(vec![name.to_string()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.ca.cert, &self.ca.key_pair)?;
        let (c, k) = (
            self.dir.join(format!("{file}.pem")),
            self.dir.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem())?;
        std::fs::write(&k, key.serialize_pem())?;
        Ok((c, k))
    }
}

/// One HQ command [`hq_load`] sent: its store, its key (the command id)
/// and the kind of event it causes.
#[derive(Debug, Clone)]
pub struct Sent {
    pub store: String,
    pub key: String,
    pub kind: &'static str,
    /// The HQ API of the instance that answered 202.
    pub via: SocketAddr,
}

/// HQ's side of a load: commands to `store` through `bridges` in turn
/// (orders and stock adjustments), each under its own `Idempotency-Key`,
/// sent again (same key, the next instance) after a 503 or no answer until
/// one answers 202; until `stop`. Returns what was sent and how many
/// answers were 503 or none.
pub async fn hq_load(bridges: &[&Bridge], store: String, stop: &AtomicBool) -> (Vec<Sent>, u64) {
    let mut sent = Vec::new();
    let mut refusals = 0u64;
    let mut n = 0usize;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let key = ulid::Ulid::new().to_string();
        let (kind, path, body) = if n % 2 == 1 {
            let order = crate::order_body(&format!("HQ-{store}-{n}"), 1);
            (
                "order_created",
                "orders",
                serde_json::json!({ "order_id": order["order_id"], "order": {
                    "customer_name": order["customer_name"], "lines": order["lines"], "payment": "prepaid" } }),
            )
        } else {
            (
                "stock_adjusted",
                "stock",
                serde_json::json!({ "adjust": { "sku": "SKU-050", "delta": 1, "reason": "HQ correction" } }),
            )
        };
        let mut attempt = 0usize;
        let via = loop {
            let bridge = bridges[(n + attempt) % bridges.len()];
            match bridge
                .post_keyed(&format!("/api/v1/stores/{store}/{path}"), &body, &key)
                .await
            {
                Ok((202, v)) => {
                    assert_eq!(v["command_id"], key.as_str(), "{v}");
                    break bridge.http;
                }
                Ok((503, v)) => {
                    assert!(v["error"].as_str().is_some(), "{v}");
                    refusals += 1;
                }
                Ok((status, v)) => panic!("{path} to {store}: {status} {v}"),
                // A killed instance.
                Err(_) => refusals += 1,
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        sent.push(Sent {
            store: store.clone(),
            key,
            kind,
            via,
        });
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    (sent, refusals)
}

/// [`hq_load`] on each of `stores` at once: everything sent, and how many
/// answers were 503 or none.
pub async fn hq_load_stores(
    bridges: &[&Bridge],
    stores: &[&str],
    stop: &AtomicBool,
) -> (Vec<Sent>, u64) {
    let all = crate::join_all(
        stores
            .iter()
            .map(|id| hq_load(bridges, id.to_string(), stop)),
    )
    .await;
    let mut sent = Vec::new();
    let mut refusals = 0;
    for (s, r) in all {
        sent.extend(s);
        refusals += r;
    }
    (sent, refusals)
}

/// Every command of `sent` answered `accepted` (asked of the instance
/// that sent it, if it is among `bridges`: an instance that was not
/// connected while a command went out and came back does not know it), and
/// applied by its store exactly once: of each store's events `1..=head` at
/// the receiver (each once, in order), one of the command's kind names it
/// as its cause.
pub async fn hq_commands_applied_once(
    bridges: &[&Bridge],
    sink: &Sink,
    stores: &[(&str, u64)],
    sent: &[Sent],
) -> Result<()> {
    for s in sent {
        let Some(bridge) = bridges.iter().find(|b| b.http == s.via) else {
            continue;
        };
        let outcome = bridge.command_outcome(&s.store, &s.key, 60).await?;
        if outcome["status"] != "accepted" {
            bail!("{s:?}: {outcome}");
        }
    }
    for (id, head) in stores {
        let events = sink.wait_all(id, *head, 60).await?;
        let mut caused: std::collections::HashMap<&str, Vec<&str>> = Default::default();
        for e in &events {
            if let (Some(c), Some(t)) = (e["causationid"].as_str(), e["type"].as_str()) {
                caused.entry(c).or_default().push(t);
            }
        }
        for s in sent.iter().filter(|s| s.store == *id) {
            let n = caused
                .get(s.key.as_str())
                .map_or(0, |ts| ts.iter().filter(|t| **t == s.kind).count());
            if n != 1 {
                bail!("{s:?} applied {n} times: {:?}", caused.get(s.key.as_str()));
            }
        }
    }
    Ok(())
}
