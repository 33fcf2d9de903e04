//! A real RMQTT cluster for tests: `storenode-rmqttd` (tests/rmqtt-launcher,
//! RMQTT pinned, with only the plugins used here; installed by
//! `scripts/tools.sh`'s `ensure_rmqtt`), or else the published `rmqttd`,
//! with the Raft cluster plugin, N nodes on ephemeral ports of 127.0.0.1,
//! each with its own config directory and log. Every node is killed on
//! drop.
//!
//! Each node has three ports: its MQTT listener, its node gRPC port (the
//! nodes forward publishes, kicks and session takeovers to each other
//! there) and its Raft port (the replicated routing table: which client
//! is on which node, subscribed to what).
//!
//! A session lives in its node's memory only: `kill` loses the sessions
//! of that node's clients and what was queued for them, and the routing
//! table keeps their subscriptions (a `$share` member there keeps its turn,
//! its messages lost) until a client with the same id connects again (see
//! tests/tests/suite/rmqtt_cluster.rs's ignored tests).
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::mpsc;

use crate::tail;

/// The RMQTT version the harness is written for (scripts/tools.sh's
/// `RMQTT_VERSION`, the launcher's pinned rmqtt crates): its config keys
/// are read from this version's source.
pub const RMQTT_VERSION: &str = "0.24.0";

/// How long a node has to come up (MQTT accepted, cluster joined).
const READY_SECS: u64 = 30;

/// The broker binary: `RMQTTD_BIN`, else `storenode-rmqttd` (the test
/// launcher), else the published `rmqttd`, each looked for on `PATH`, then
/// in `~/.cargo/bin` (where `cargo install` puts it). Both take the same
/// command line and config files.
pub fn rmqttd_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("RMQTTD_BIN") {
        return Ok(PathBuf::from(p));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    ["storenode-rmqttd", "rmqttd"]
        .into_iter()
        .find_map(|name| {
            crate::which(name).or_else(|| {
                cargo_home
                    .as_ref()
                    .map(|c| c.join("bin").join(name))
                    .filter(|p| p.is_file())
            })
        })
        .ok_or_else(|| {
            anyhow!(
                "storenode-rmqttd is not installed: run ./scripts/test.sh, or \
                 `. scripts/tools.sh; ensure_rmqtt` (tests/rmqtt-launcher, \
                 rmqtt {RMQTT_VERSION})"
            )
        })
}

struct RmqttNode {
    /// The Raft node id: 1-based (0 means "unset" to rmqtt).
    id: u64,
    dir: PathBuf,
    log: PathBuf,
    mqtt: u16,
    child: Option<Child>,
}

/// A cluster of `rmqttd` nodes, `0..n` in the harness's numbering (Raft
/// node ids `1..=n`).
pub struct RmqttCluster {
    bin: PathBuf,
    nodes: Vec<RmqttNode>,
}

impl RmqttCluster {
    /// Start `nodes` nodes under `dir`, one after the other (the first
    /// finds no leader and leads, the others join it: started together,
    /// each could lead a cluster of its own), and wait until every node
    /// receives what another one publishes.
    pub async fn start(dir: &Path, nodes: usize) -> Result<RmqttCluster> {
        if nodes == 0 {
            bail!("an RMQTT cluster needs at least one node");
        }
        let bin = rmqttd_binary()?;
        let ports = free_ports(3 * nodes)?;
        let (mqtt, rest) = ports.split_at(nodes);
        let (grpc, raft) = rest.split_at(nodes);
        let node_grpc_addrs =
            toml_list((0..nodes).map(|i| format!("{}@127.0.0.1:{}", i + 1, grpc[i])));
        let raft_peer_addrs =
            toml_list((0..nodes).map(|i| format!("{}@127.0.0.1:{}", i + 1, raft[i])));
        let mut cluster = RmqttCluster {
            bin,
            nodes: Vec::new(),
        };
        for i in 0..nodes {
            let id = i as u64 + 1;
            let node_dir = dir.join(format!("rmqtt-{id}"));
            let plugins = node_dir.join("plugins");
            std::fs::create_dir_all(&plugins)?;
            std::fs::write(
                node_dir.join("rmqtt.toml"),
                node_config(id, mqtt[i], grpc[i], &plugins),
            )?;
            std::fs::write(
                plugins.join("rmqtt-cluster-raft.toml"),
                format!(
                    "node_grpc_addrs = {node_grpc_addrs}\nraft_peer_addrs = {raft_peer_addrs}\n{CLUSTER_RAFT}"
                ),
            )?;
            std::fs::write(plugins.join("rmqtt-retainer.toml"), RETAINER)?;
            std::fs::write(plugins.join("rmqtt-shared-subscription.toml"), SHARED)?;
            cluster.nodes.push(RmqttNode {
                id,
                log: node_dir.join("rmqtt.log"),
                dir: node_dir,
                mqtt: mqtt[i],
                child: None,
            });
            cluster.spawn(i)?;
            cluster.wait_mqtt(i).await?;
        }
        for i in 0..nodes {
            cluster.wait_route((i + nodes - 1) % nodes, i).await?;
        }
        Ok(cluster)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn port(&self, i: usize) -> u16 {
        self.nodes[i].mqtt
    }

    pub fn url(&self, i: usize) -> String {
        format!("mqtt://127.0.0.1:{}", self.nodes[i].mqtt)
    }

    /// SIGKILL node `i` (no goodbye to its peers: a crash).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start node `i` again on the same ports with the same config (a
    /// fresh process: rmqtt keeps its Raft log, sessions and retained
    /// messages in memory, so it rejoins empty and takes the routing table
    /// from the leader), and wait until it accepts MQTT connections and
    /// passes messages both ways with a live node.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        self.kill(i);
        self.spawn(i)?;
        self.wait_mqtt(i).await?;
        let other = (0..self.nodes.len()).find(|&j| j != i && self.nodes[j].child.is_some());
        if let Some(j) = other {
            self.wait_route(j, i).await?;
            self.wait_route(i, j).await?;
        }
        Ok(())
    }

    /// Node `i`'s log: what `rmqttd` printed, every start of it.
    pub fn logs(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let n = &mut self.nodes[i];
        let mut log = OpenOptions::new().create(true).append(true).open(&n.log)?;
        writeln!(log, "== harness: starting rmqttd node {} ==", n.id)?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-f")
            .arg(n.dir.join("rmqtt.toml"))
            .args(["--id", &n.id.to_string()])
            // rmqtt also reads ./rmqtt.toml: the node's own.
            .current_dir(&n.dir)
            // Its log filter comes from RUST_LOG when set, and any RMQTT_*
            // variable overrides its config: only the files count.
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy()
                .to_ascii_uppercase()
                .starts_with("RMQTT")
            {
                cmd.env_remove(k);
            }
        }
        n.child = Some(
            cmd.spawn()
                .with_context(|| format!("spawn {}", self.bin.display()))?,
        );
        Ok(())
    }

    /// An error naming node `i`, with the tail of its log.
    fn node_error(&self, i: usize, what: &str) -> anyhow::Error {
        let n = &self.nodes[i];
        anyhow!(
            "rmqtt node {i} (id {}, MQTT port {}): {what}\n--- the tail of {} ---\n{}",
            n.id,
            n.mqtt,
            n.log.display(),
            tail(&self.logs(i), 40)
        )
    }

    /// Wait until node `i` answers an MQTT CONNECT (its listener opens
    /// once its cluster plugin has joined the Raft group).
    async fn wait_mqtt(&mut self, i: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(READY_SECS);
        loop {
            if let Some(s) = self.nodes[i]
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.nodes[i].child = None;
                return Err(self.node_error(i, &format!("rmqttd exited with {s}")));
            }
            let id = format!("harness-ready-{}", rand::random::<u32>());
            if let Ok(c) = Client::connect(self.nodes[i].mqtt, &id, true).await {
                let _ = c.disconnect().await;
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.node_error(i, &format!("no MQTT CONNACK after {READY_SECS} s")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until a subscriber on node `to` receives what is published on
    /// node `from`: the subscription reached `from` through Raft.
    async fn wait_route(&self, from: usize, to: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(READY_SECS);
        let topic = format!("harness/probe/{}", rand::random::<u32>());
        let probe = async {
            let mut sub = Client::connect(self.port(to), &format!("{topic}-sub"), true).await?;
            sub.subscribe(&topic).await?;
            let publisher = Client::connect(self.port(from), &format!("{topic}-pub"), true).await?;
            loop {
                publisher
                    .publish_nowait(&topic, b"probe".to_vec(), false)
                    .await?;
                if tokio::time::timeout(Duration::from_millis(300), sub.rx.recv())
                    .await
                    .is_ok()
                {
                    return Ok::<_, anyhow::Error>(());
                }
                if Instant::now() > deadline {
                    bail!("gave up");
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(READY_SECS + 5), probe).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.node_error(
                to,
                &format!("did not receive a message published on node {from} within {READY_SECS} s ({e})"),
            )),
            Err(_) => Err(self.node_error(to, "the cluster probe hung")),
        }
    }
}

impl Drop for RmqttCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// `n` distinct free ports: all bound at once, then released.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()?)
}

fn toml_list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", items.join(", "))
}

/// `rmqtt.toml` of node `id` (rmqtt-conf 0.5: keys as in rmqttd's own
/// rmqtt.toml; unset keys keep their defaults).
fn node_config(id: u64, mqtt: u16, grpc: u16, plugins: &Path) -> String {
    format!(
        r#"[node]
id = {id}

# Off: rmqtt refuses new connections while the machine's load average is
# high, as it is with a build running beside the tests.
[node.busy]
check_enable = false

# This node's gRPC server: the other nodes reach it through the cluster
# plugin's node_grpc_addrs.
[rpc]
server_addr = "127.0.0.1:{grpc}"

# To stdout, which the harness sends to rmqtt.log.
[log]
to = "console"
level = "info"

[plugins]
dir = "{plugins}"
# The Raft cluster, retained messages, and $share/ subscriptions balanced
# round-robin across the group's members on every node.
default_startups = ["rmqtt-cluster-raft", "rmqtt-retainer", "rmqtt-shared-subscription"]
# Its HTTP API would listen on 0.0.0.0:6060 on every node.
disabled_default_startups = ["rmqtt-http-api"]

[listener.tcp.external]
addr = "127.0.0.1:{mqtt}"
allow_anonymous = true
nodelay = true
# As the bridge's embedded broker (default 1MB).
max_packet_size = "64MB"
# QoS 1 messages sent to a client and not yet acknowledged (default 16).
max_inflight = 1024
# Messages queued for a client, offline or slow, beyond the inflight
# window; past it rmqtt drops (default 1000).
max_mqueue_len = 1000000
# How long an MQTT 3.1.1 clean_session=false session (its subscriptions
# and queued messages) outlives its connection (default 2h); 0 = no cap.
session_expiry_interval = "30d"
max_session_expiry_interval = "0s"
# How long a message waits in a queue or inflight before rmqtt drops it
# (default 5m); 0 = never.
message_expiry_interval = "0"
# Resend an unacknowledged QoS 1 message after this long.
message_retry_interval = "20s"
"#,
        plugins = plugins.display()
    )
}

/// The cluster plugin's settings common to all nodes, after the
/// cluster's addresses: every node's gRPC and Raft ports, by node id.
const CLUSTER_RAFT: &str = r#"# 0: a starting node asks its peers for the leader and joins it, or leads
# when none answers (the harness starts node 1 first, alone).
leader_id = 0
# The plugin's own Tokio runtime (default 6 threads).
worker_threads = 2
# How long a node waits for a peer's gRPC answer (default 10s). A client
# that reconnects to another node after its node died waits for this (the
# takeover of its session asks the dead node): a store's failover took 11 s
# with the default.
node_grpc_client_timeout = "2s"

[raft]
# SO_REUSEADDR on the Raft port (default off without a [raft] table): a
# node restarted after a SIGKILL binds it again despite the TIME_WAIT
# connections of its previous life.
grpc_reuseaddr = true
# How long a proposal (a client's connect, subscribe, disconnect: each goes
# through Raft) waits for others to batch with (default 200ms): a connect
# took 0.6 s with the default.
proposal_batch_timeout = "10ms"
"#;

const RETAINER: &str = r#"storage.type = "ram"
# Retained messages never expire (default: the listener's message expiry).
retained_message_ttl = "0"
# A larger retained message would be kept as a plain one (default 1MB).
max_payload_size = "64MB"
"#;

const SHARED: &str = r#"# One global counter over the group's members, online ones first.
strategy = "round_robin"
"#;

/// A plain MQTT 3.1.1 client (rumqttc) with its event loop driven in the
/// background: received publishes arrive on `rx`, SUBACKs and PUBACKs on
/// `acks`.
pub struct Client {
    pub client: AsyncClient,
    pub rx: mpsc::UnboundedReceiver<rumqttc::Publish>,
    pub acks: mpsc::UnboundedReceiver<Packet>,
    /// The CONNACK's session present flag.
    pub session_present: bool,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    /// Connect to 127.0.0.1:`port` as `id` and wait for the CONNACK (5 s).
    pub async fn connect(port: u16, id: &str, clean_session: bool) -> Result<Client> {
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_clean_session(clean_session);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(opts, 1024);
        let session_present = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(a))) => return Ok(a.session_present),
                    Ok(_) => {}
                    Err(e) => bail!("mqtt connect {id} to port {port}: {e}"),
                }
            }
        })
        .await
        .map_err(|_| anyhow!("mqtt connect {id} to port {port}: no CONNACK in 5 s"))??;
        let (tx, rx) = mpsc::unbounded_channel();
        let (ack_tx, acks) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(p);
                    }
                    Ok(Event::Incoming(p @ (Packet::SubAck(_) | Packet::PubAck(_)))) => {
                        let _ = ack_tx.send(p);
                    }
                    // Sent and flushed: closing the socket ends the session's
                    // connection (rmqtt waits for the client to close it).
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        Ok(Client {
            client,
            rx,
            acks,
            session_present,
            task,
        })
    }

    async fn next_ack(&mut self, what: &str) -> Result<Packet> {
        tokio::time::timeout(Duration::from_secs(10), self.acks.recv())
            .await
            .map_err(|_| anyhow!("no {what} within 10 s"))?
            .ok_or_else(|| anyhow!("connection closed before the {what}"))
    }

    /// Subscribe (QoS 1) and wait for the SUBACK; an error if refused.
    pub async fn subscribe(&mut self, filter: &str) -> Result<()> {
        self.client.subscribe(filter, QoS::AtLeastOnce).await?;
        match self.next_ack("SUBACK").await? {
            Packet::SubAck(a) => match a.return_codes.first() {
                Some(rumqttc::SubscribeReasonCode::Success(_)) => Ok(()),
                c => bail!("subscribe {filter} refused: {c:?}"),
            },
            p => bail!("expected a SUBACK, got {p:?}"),
        }
    }

    /// Publish at QoS 1 without waiting for the PUBACK (see `acked`).
    pub async fn publish_nowait(&self, topic: &str, payload: Vec<u8>, retain: bool) -> Result<()> {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await?;
        Ok(())
    }

    /// Publish at QoS 1 and wait for its PUBACK.
    pub async fn publish(&mut self, topic: &str, payload: Vec<u8>, retain: bool) -> Result<()> {
        self.publish_nowait(topic, payload, retain).await?;
        self.acked(1).await
    }

    /// Wait for `n` PUBACKs.
    pub async fn acked(&mut self, n: usize) -> Result<()> {
        for _ in 0..n {
            match self.next_ack("PUBACK").await? {
                Packet::PubAck(_) => {}
                p => bail!("expected a PUBACK, got {p:?}"),
            }
        }
        Ok(())
    }

    /// The next message within `secs`.
    pub async fn recv(&mut self, secs: u64) -> Result<rumqttc::Publish> {
        crate::recv_within(&mut self.rx, secs).await
    }

    /// Send DISCONNECT (a clean_session=false session stays) and close
    /// the connection.
    pub async fn disconnect(mut self) -> Result<()> {
        self.client.disconnect().await?;
        tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .map_err(|_| anyhow!("DISCONNECT not sent in 5 s"))??;
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}
