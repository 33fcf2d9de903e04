//! Deterministic simulation of the sync protocol: the node's sender and
//! its acknowledgement check (`storenode::sync::decisions`, the code the
//! agent runs), the bridge's batch check (`cloud_bridge::ingest::check`)
//! and HQ's receiver (`cloud_bridge::webhook::Receiver`) — driven through a
//! model of the cloud broker that keeps and drops sessions, redelivers
//! QoS 1, duplicates, delays and reorders, shares the up stream between
//! bridge instances, and suffers partitions and restarts of the node and
//! of the instances, on simulated time.
//!
//! rumqttc opens its own tokio sockets, so the real client cannot run
//! inside a simulator; the decisions it serves can. What the model stands
//! for, and where it is simpler than the real thing, is in
//! docs/reliability.md ("Deterministic simulation of sync").
//!
//! Invariants, per seed: every logged event is applied exactly once by the
//! receiver, in log order, none skipped; the node's anchor never passes
//! what a bridge acknowledged; a forged acknowledgement moves nothing; no
//! HQ command is applied twice and every one is applied and answered; after
//! the last fault, everything converges within a bound. Every seed runs
//! twice and must leave the same trace.
//!
//! `SYNC_SIM_SEEDS=N` (default 10,000) seeds from `SYNC_SIM_FIRST`
//! (default 1), shared by two tests (even and odd seeds, one per core);
//! `SYNC_SIM_SEED=S` runs one seed and prints its trace.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use cloud_bridge::ingest::check;
use cloud_bridge::webhook::Receiver;
use protocol::sync::{LogBytes, UpAck, UpBatch};
use protocol::{codec, Actor, ChainHash, Envelope, Event, EventId, OrderId, StoreId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use storenode::sync::decisions::{check_ack, down, AckOutcome, Down, Limits, Next, UpSender};

const STORE: &str = "sim-store";
/// Events in the longest simulated log.
const MAX_EVENTS: u64 = 160;
/// After the last fault, everything must have arrived within this.
const CONVERGE_MS: u64 = 20_000;
const TICK_MS: u64 = 25;

/// A log of real, hash-chained envelopes, built once.
struct Log {
    bytes: Vec<Vec<u8>>,
    hash: Vec<[u8; 32]>,
}

impl Log {
    fn get() -> &'static Log {
        static LOG: OnceLock<Log> = OnceLock::new();
        LOG.get_or_init(|| {
            let store = StoreId::new(STORE).unwrap();
            let mut prev = [0u8; 32];
            let (mut bytes, mut hash) = (Vec::new(), Vec::new());
            for seq in 1..=MAX_EVENTS {
                let env = Envelope {
                    event_id: EventId::from_bytes((seq as u128).to_be_bytes()),
                    causation_id: None,
                    store_id: store.clone(),
                    order_id: OrderId::new(format!("SIM-{}", seq / 8)).unwrap(),
                    order_seq: seq % 8 + 1,
                    log_seq: seq,
                    time_ms: 1_800_000_000_000 + seq,
                    schema: protocol::SCHEMA_VERSION,
                    actor: Actor::Api,
                    event: Event::OrderAccepted,
                    prev_hash: ChainHash(prev),
                };
                let b = codec::encode(&env);
                prev = storenode::store::chain_hash(&b);
                bytes.push(b);
                hash.push(prev);
            }
            Log { bytes, hash }
        })
    }

    fn hash(&self, seq: u64) -> Option<[u8; 32]> {
        self.hash.get(seq.checked_sub(1)? as usize).copied()
    }

    fn batch(&self, first: u64, last: u64) -> UpBatch {
        UpBatch {
            store_id: StoreId::new(STORE).unwrap(),
            first_seq: first,
            last_seq: last,
            last_hash: ChainHash(self.hash(last).unwrap()),
            events: (first..=last)
                .map(|s| LogBytes(self.bytes[(s - 1) as usize].clone()))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Client {
    Node,
    Bridge(usize),
}

#[derive(Debug, Clone, Hash)]
enum Msg {
    /// An encoded `UpBatch`.
    Up(Vec<u8>),
    Ack {
        last_seq: u64,
        last_hash: [u8; 32],
    },
    Down {
        hq_id: u32,
        hq_seq: u64,
    },
    Reply {
        hq_id: u32,
    },
}

#[derive(Debug, Clone, Hash)]
enum Ev {
    Append,
    NodeTick,
    NodeLink(bool),
    NodeCrash,
    NodeRestart,
    BridgeCrash(usize),
    BridgeRestart(usize),
    /// A client's publish reaches the broker (lost if its connection died).
    ToBroker {
        from: Client,
        conn: u64,
        msg: Msg,
    },
    /// The broker's delivery `id` reaches a client on connection `conn`.
    ToClient {
        to: Client,
        conn: u64,
        id: u64,
        msg: Msg,
    },
    /// The node's PUBACK of an HQ command (after its outcome is durable).
    NodePubAck {
        conn: u64,
        id: u64,
    },
    Webhook {
        bridge: usize,
        conn: u64,
        id: u64,
        attempt: u32,
    },
    HqSend {
        hq_id: u32,
    },
    Heal,
}

/// The broker's session for one subscriber.
#[derive(Default)]
struct Session {
    queue: VecDeque<(u64, Msg)>,
    unacked: BTreeMap<u64, Msg>,
}

struct Bridge {
    online: bool,
    conn: u64,
    unacked: BTreeMap<u64, Msg>,
    busy: HashSet<u64>,
}

struct Sim {
    rng: StdRng,
    now: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: Vec<Option<Ev>>,
    order: u64,
    trace: std::collections::hash_map::DefaultHasher,
    steps: u64,
    verbose: bool,
    // the fault schedule
    faults_until: u64,
    healed_at: Option<u64>,
    p_session_lost: f64,
    p_dup: f64,
    p_forged_ack: f64,
    // the node
    total: u64,
    head: u64,
    anchor: u64,
    anchor_on_disk: u64,
    sender: UpSender,
    payload: Option<Vec<u8>>,
    limits: Limits,
    node_up: bool,
    link_up: bool,
    node_conn: u64,
    node_session: Option<Session>,
    floor: u64,
    inbox: HashMap<u32, (u64, u64)>,
    retention_ms: u64,
    applied_cmds: HashMap<u32, u32>,
    forged_acks: u32,
    // the cloud
    bridges: Vec<Bridge>,
    group: VecDeque<(u64, Msg)>,
    next_id: u64,
    receiver: Receiver,
    applied: Vec<u64>,
    max_acked: u64,
    last_arrival: HashMap<(Client, u64, bool), u64>,
    hq: BTreeMap<u32, (u64, bool)>,
    converged_at: Option<u64>,
}

impl Sim {
    fn new(seed: u64, verbose: bool) -> Sim {
        let mut rng = StdRng::seed_from_u64(seed);
        let total = rng.gen_range(1..=MAX_EVENTS);
        let limits = Limits {
            batch_max_events: rng.gen_range(1..=24),
            linger_ms: rng.gen_range(0..=60),
            ack_timeout_ms: rng.gen_range(150..=1500),
        };
        let bridges = (0..rng.gen_range(1..=3))
            .map(|_| Bridge {
                online: true,
                conn: 0,
                unacked: BTreeMap::new(),
                busy: HashSet::new(),
            })
            .collect();
        let faults_until = rng.gen_range(1_000..=6_000);
        let mut sim = Sim {
            p_session_lost: rng.gen_range(0.0..0.4),
            p_dup: rng.gen_range(0.0..0.1),
            p_forged_ack: rng.gen_range(0.0..0.05),
            retention_ms: rng.gen_range(10_000..=30_000),
            rng,
            now: 0,
            queue: BinaryHeap::new(),
            events: Vec::new(),
            order: 0,
            trace: Default::default(),
            steps: 0,
            verbose,
            faults_until,
            healed_at: None,
            total,
            head: 0,
            anchor: 0,
            anchor_on_disk: 0,
            sender: UpSender::default(),
            payload: None,
            limits,
            node_up: true,
            link_up: false,
            node_conn: 0,
            node_session: None,
            floor: 0,
            inbox: HashMap::new(),
            applied_cmds: HashMap::new(),
            forged_acks: 0,
            bridges,
            group: VecDeque::new(),
            next_id: 0,
            receiver: Receiver::default(),
            applied: Vec::new(),
            max_acked: 0,
            last_arrival: HashMap::new(),
            hq: BTreeMap::new(),
            converged_at: None,
        };
        // The log grows over the fault window; HQ sends some commands.
        let mut t = 0;
        for _ in 0..total {
            t += sim.rng.gen_range(0..=faults_until / total.max(1) * 2);
            sim.at(t, Ev::Append);
        }
        for hq_id in 0..sim.rng.gen_range(0..=12u32) {
            let t = sim.rng.gen_range(0..faults_until);
            sim.hq.insert(hq_id, (0, false));
            sim.at(t, Ev::HqSend { hq_id });
        }
        // Faults: partitions of the node's link, crashes of the node and of
        // bridge instances, all within the fault window.
        for _ in 0..sim.rng.gen_range(0..=6) {
            let t = sim.rng.gen_range(0..faults_until);
            let kind = sim.rng.gen_range(0..3);
            match kind {
                0 => sim.at(t, Ev::NodeLink(false)),
                1 => sim.at(t, Ev::NodeCrash),
                _ => {
                    let b = sim.rng.gen_range(0..sim.bridges.len());
                    sim.at(t, Ev::BridgeCrash(b));
                }
            }
        }
        sim.at(0, Ev::NodeLink(true));
        sim.at(0, Ev::NodeTick);
        sim.at(faults_until, Ev::Heal);
        sim
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.order += 1;
        self.events.push(Some(ev));
        self.queue
            .push(Reverse((t, self.order, self.events.len() - 1)));
    }

    fn faulty(&self) -> bool {
        self.now < self.faults_until
    }

    /// A delivery over one connection keeps its order (TCP).
    fn send_over(&mut self, key: (Client, u64, bool), ev: Ev) {
        let delay = self.rng.gen_range(1..=40);
        let t = (self.now + delay).max(self.last_arrival.get(&key).copied().unwrap_or(0));
        self.last_arrival.insert(key, t);
        self.at(t, ev);
    }

    fn publish(&mut self, from: Client, msg: Msg) {
        let conn = match from {
            Client::Node => self.node_conn,
            Client::Bridge(b) => self.bridges[b].conn,
        };
        self.send_over((from, conn, true), Ev::ToBroker { from, conn, msg });
    }

    fn deliver(&mut self, to: Client, id: u64, msg: Msg) {
        let conn = match to {
            Client::Node => self.node_conn,
            Client::Bridge(b) => self.bridges[b].conn,
        };
        self.send_over((to, conn, false), Ev::ToClient { to, conn, id, msg });
    }

    /// The trace's hash, the steps taken and the forged acks offered.
    fn run(mut self) -> Result<(u64, u64, u32), String> {
        while let Some(Reverse((t, _, i))) = self.queue.pop() {
            self.now = t;
            let ev = self.events[i].take().unwrap();
            self.steps += 1;
            ev.hash(&mut self.trace);
            t.hash(&mut self.trace);
            if self.verbose {
                println!("{t:>6} {ev:?}");
            }
            self.step(ev)?;
            if self.healed_at.is_some() && self.converged() {
                self.converged_at = Some(self.now);
                break;
            }
            if self.now > self.faults_until + CONVERGE_MS {
                break;
            }
        }
        self.check_end()?;
        Ok((self.trace.finish(), self.steps, self.forged_acks))
    }

    fn converged(&self) -> bool {
        self.head == self.total
            && self.applied.len() as u64 == self.total
            && self.anchor == self.total
            && self.hq.values().all(|(_, replied)| *replied)
    }

    fn step(&mut self, ev: Ev) -> Result<(), String> {
        match ev {
            Ev::Append => {
                self.head += 1;
                // A group commit also makes the anchor written since durable.
                self.anchor_on_disk = self.anchor;
            }
            Ev::NodeTick => {
                self.node_tick()?;
                self.at(self.now + TICK_MS, Ev::NodeTick);
            }
            Ev::NodeLink(up) => self.node_link(up),
            Ev::NodeCrash => {
                if self.node_up {
                    self.node_up = false;
                    // What only memory held is gone; the anchor is what the
                    // last group commit wrote.
                    self.node_link(false);
                    self.sender = UpSender::default();
                    self.payload = None;
                    self.anchor = self.anchor_on_disk;
                    let t = self.now + self.rng.gen_range(50..=800);
                    self.at(t, Ev::NodeRestart);
                }
            }
            Ev::NodeRestart => {
                self.node_up = true;
                self.at(self.now, Ev::NodeLink(true));
            }
            Ev::BridgeCrash(b) => {
                let br = &mut self.bridges[b];
                if br.online {
                    br.online = false;
                    br.conn += 1;
                    br.busy.clear();
                    // What it had not acknowledged goes to another member.
                    let back: Vec<(u64, Msg)> =
                        std::mem::take(&mut br.unacked).into_iter().collect();
                    for m in back.into_iter().rev() {
                        self.group.push_front(m);
                    }
                    let t = self.now + self.rng.gen_range(50..=600);
                    self.at(t, Ev::BridgeRestart(b));
                }
            }
            Ev::BridgeRestart(b) => {
                self.bridges[b].online = true;
                self.dispatch();
            }
            Ev::ToBroker { from, conn, msg } => {
                let alive = match from {
                    Client::Node => self.link_up && conn == self.node_conn,
                    Client::Bridge(b) => self.bridges[b].online && conn == self.bridges[b].conn,
                };
                if alive {
                    self.broker_in(msg);
                }
            }
            Ev::ToClient { to, conn, id, msg } => self.client_in(to, conn, id, msg)?,
            Ev::NodePubAck { conn, id } => {
                if self.link_up && conn == self.node_conn {
                    if let Some(s) = &mut self.node_session {
                        s.unacked.remove(&id);
                    }
                }
            }
            Ev::Webhook {
                bridge,
                conn,
                id,
                attempt,
            } => self.webhook(bridge, conn, id, attempt)?,
            Ev::HqSend { hq_id } => {
                let Some((seq, replied)) = self.hq.get(&hq_id).copied() else {
                    return Ok(());
                };
                if replied {
                    return Ok(());
                }
                // One HQ instance: a command's sequence is fixed at its
                // first send, and increases in the order of first sends.
                let seq = if seq == 0 {
                    let s = self.hq.values().map(|(s, _)| *s).max().unwrap_or(0) + 1;
                    self.hq.insert(hq_id, (s, false));
                    s
                } else {
                    seq
                };
                self.broker_in(Msg::Down { hq_id, hq_seq: seq });
                self.at(self.now + 1_000, Ev::HqSend { hq_id });
            }
            Ev::Heal => {
                self.healed_at = Some(self.now);
                if !self.node_up {
                    self.node_up = true;
                }
                if !self.link_up {
                    self.node_link(true);
                }
                for b in 0..self.bridges.len() {
                    self.bridges[b].online = true;
                }
                self.dispatch();
            }
        }
        Ok(())
    }

    fn node_link(&mut self, up: bool) {
        if up {
            if self.link_up || !self.node_up {
                return;
            }
            self.link_up = true;
            self.node_conn += 1;
            // The broker may have lost the session (restart, expiry).
            let kept = self.node_session.is_some() && !self.rng.gen_bool(self.p_session_lost);
            if !kept {
                self.node_session = Some(Session::default());
            }
            self.sender.connected(self.now, &self.limits);
            // Unacknowledged first, then what queued meanwhile.
            let s = self.node_session.as_mut().unwrap();
            let mut out: Vec<(u64, Msg)> = s.unacked.iter().map(|(k, v)| (*k, v.clone())).collect();
            out.extend(s.queue.drain(..));
            for (id, m) in out {
                self.node_session
                    .as_mut()
                    .unwrap()
                    .unacked
                    .insert(id, m.clone());
                self.deliver(Client::Node, id, m);
            }
        } else if self.link_up {
            self.link_up = false;
            self.sender.disconnected();
            if self.faulty() && self.node_up {
                let t = self.now + self.rng.gen_range(50..=3_000);
                self.at(t, Ev::NodeLink(true));
            }
        }
    }

    fn broker_in(&mut self, msg: Msg) {
        self.next_id += 1;
        let id = self.next_id;
        match msg {
            Msg::Up(_) => {
                self.group.push_back((id, msg));
                self.dispatch();
            }
            Msg::Ack { .. } | Msg::Down { .. } => match (&mut self.node_session, self.link_up) {
                (Some(s), true) => {
                    s.unacked.insert(id, msg.clone());
                    self.deliver(Client::Node, id, msg);
                }
                (Some(s), false) => s.queue.push_back((id, msg)),
                // No session: the broker drops it.
                (None, _) => {}
            },
            Msg::Reply { hq_id } => {
                if let Some(c) = self.hq.get_mut(&hq_id) {
                    c.1 = true;
                }
            }
        }
    }

    /// Hand the shared stream's queued batches to online members.
    fn dispatch(&mut self) {
        let online: Vec<usize> = (0..self.bridges.len())
            .filter(|b| self.bridges[*b].online)
            .collect();
        if online.is_empty() {
            return;
        }
        while let Some((id, msg)) = self.group.pop_front() {
            let b = online[self.rng.gen_range(0..online.len())];
            self.bridges[b].unacked.insert(id, msg.clone());
            if self.rng.gen_bool(self.p_dup) {
                // A QoS 1 duplicate, maybe to another member.
                self.next_id += 1;
                let (dup, other) = (self.next_id, online[self.rng.gen_range(0..online.len())]);
                self.bridges[other].unacked.insert(dup, msg.clone());
                self.deliver(Client::Bridge(other), dup, msg.clone());
            }
            self.deliver(Client::Bridge(b), id, msg);
        }
    }

    fn client_in(&mut self, to: Client, conn: u64, id: u64, msg: Msg) -> Result<(), String> {
        match to {
            Client::Node => {
                if !(self.link_up && conn == self.node_conn) {
                    return Ok(()); // stays unacknowledged in the session
                }
                match msg {
                    Msg::Ack {
                        last_seq,
                        last_hash,
                    } => {
                        if let Some(s) = &mut self.node_session {
                            s.unacked.remove(&id);
                        }
                        self.node_ack(last_seq, last_hash, false)?;
                        if self.rng.gen_bool(self.p_forged_ack) {
                            // Something on the broker acknowledging what HQ
                            // never saw: past the head, or with another hash.
                            self.forged_acks += 1;
                            let (s, h) = if self.rng.gen_bool(0.5) {
                                (self.head + 1, [7; 32])
                            } else {
                                (self.head.max(1), [9; 32])
                            };
                            self.node_ack(s, h, true)?;
                        }
                    }
                    Msg::Down { hq_id, hq_seq } => {
                        // The inbox forgets after its retention, raising the
                        // HQ floor past what it forgot.
                        let (now, retention, mut floor) = (self.now, self.retention_ms, self.floor);
                        self.inbox.retain(|_, (seq, at)| {
                            let keep = now.saturating_sub(*at) < retention;
                            if !keep {
                                floor = floor.max(*seq);
                            }
                            keep
                        });
                        self.floor = floor;
                        match down(hq_seq, self.floor) {
                            Down::Repeat { .. } => {}
                            Down::Decide if self.inbox.contains_key(&hq_id) => {}
                            Down::Decide => {
                                let n = self.applied_cmds.entry(hq_id).or_insert(0);
                                *n += 1;
                                if *n > 1 {
                                    return Err(format!("HQ command {hq_id} applied twice"));
                                }
                                self.inbox.insert(hq_id, (hq_seq, now));
                            }
                        }
                        // The reply, then the PUBACK (a crash between them
                        // leaves the command to be delivered again).
                        self.publish(Client::Node, Msg::Reply { hq_id });
                        let t = now + self.rng.gen_range(0..=5);
                        let conn = self.node_conn;
                        self.at(t, Ev::NodePubAck { conn, id });
                    }
                    _ => {}
                }
            }
            Client::Bridge(b) => {
                if !(self.bridges[b].online && conn == self.bridges[b].conn) {
                    return Ok(());
                }
                let Msg::Up(payload) = msg else {
                    return Ok(());
                };
                let batch: UpBatch = codec::decode(&payload).map_err(|e| e.to_string())?;
                check(&batch).map_err(|e| format!("the bridge refused a batch: {e}"))?;
                if !self.bridges[b].busy.insert(batch.last_seq) {
                    // Delivering the first copy already: that one is acked.
                    self.bridges[b].unacked.remove(&id);
                    return Ok(());
                }
                self.at(
                    self.now,
                    Ev::Webhook {
                        bridge: b,
                        conn,
                        id,
                        attempt: 0,
                    },
                );
            }
        }
        Ok(())
    }

    fn node_ack(&mut self, last_seq: u64, last_hash: [u8; 32], forged: bool) -> Result<(), String> {
        let ack = UpAck {
            store_id: StoreId::new(STORE).unwrap(),
            last_seq,
            last_hash: ChainHash(last_hash),
        };
        match check_ack(&ack, self.anchor, self.head, |s| Log::get().hash(s)) {
            AckOutcome::Advance(to) => {
                if forged {
                    return Err(format!(
                        "a forged acknowledgement of {last_seq} moved the anchor"
                    ));
                }
                if to.seq > self.max_acked {
                    return Err(format!(
                        "the anchor moved to {} past what a bridge acknowledged ({})",
                        to.seq, self.max_acked
                    ));
                }
                self.anchor = to.seq;
                if self.sender.acked(self.anchor, self.now, &self.limits) {
                    self.payload = None;
                    self.node_tick()?;
                }
            }
            AckOutcome::Stale => {}
            AckOutcome::Refused(r) => {
                if !forged {
                    return Err(format!("a genuine acknowledgement was refused: {r}"));
                }
            }
        }
        Ok(())
    }

    fn node_tick(&mut self) -> Result<(), String> {
        if !(self.node_up && self.link_up) {
            return Ok(());
        }
        match self
            .sender
            .next(self.now, self.anchor, self.head, &self.limits)
        {
            Next::Wait => {}
            Next::Resend { .. } => {
                if let Some(p) = self.payload.clone() {
                    self.publish(Client::Node, Msg::Up(p));
                }
                self.sender.resent(self.now);
            }
            Next::Send { first, max_events } => {
                let last = self.head.min(first + max_events as u64 - 1);
                let payload = codec::encode(&Log::get().batch(first, last));
                self.publish(Client::Node, Msg::Up(payload.clone()));
                self.sender.sent(first, last, self.now);
                self.payload = Some(payload);
            }
        }
        Ok(())
    }

    fn webhook(&mut self, b: usize, conn: u64, id: u64, attempt: u32) -> Result<(), String> {
        if !(self.bridges[b].online && conn == self.bridges[b].conn) {
            return Ok(()); // the instance died mid-delivery
        }
        let Some(Msg::Up(payload)) = self.bridges[b].unacked.get(&id).cloned() else {
            return Ok(());
        };
        let batch: UpBatch = codec::decode(&payload).map_err(|e| e.to_string())?;
        let roll = self.rng.gen_range(0..100);
        // 0..10: the POST fails before the receiver commits; 10..15: it
        // commits but the answer is lost; otherwise 2xx.
        if roll >= 10 {
            for env in check(&batch)? {
                let seq = env.log_seq;
                if self.receiver.offer_seq(STORE, &format!("{seq:020}")) {
                    let last = self.applied.last().copied().unwrap_or(0);
                    if seq != last + 1 {
                        return Err(format!("the receiver applied {seq} after {last}"));
                    }
                    self.applied.push(seq);
                }
            }
        }
        if roll < 15 {
            let backoff = (100u64 << attempt.min(6)).min(10_000);
            self.at(
                self.now + backoff,
                Ev::Webhook {
                    bridge: b,
                    conn,
                    id,
                    attempt: attempt + 1,
                },
            );
            return Ok(());
        }
        // Delivered: acknowledge to the store, then PUBACK the batch.
        self.max_acked = self.max_acked.max(batch.last_seq);
        self.publish(
            Client::Bridge(b),
            Msg::Ack {
                last_seq: batch.last_seq,
                last_hash: batch.last_hash.0,
            },
        );
        let br = &mut self.bridges[b];
        br.unacked.remove(&id);
        br.busy.remove(&batch.last_seq);
        Ok(())
    }

    fn check_end(&self) -> Result<(), String> {
        let Some(at) = self.converged_at else {
            return Err(format!(
                "not converged {CONVERGE_MS} ms after the last fault: head {}/{}, applied {}, anchor {}, HQ commands unanswered {:?}",
                self.head,
                self.total,
                self.applied.len(),
                self.anchor,
                self.hq.iter().filter(|(_, (_, r))| !r).map(|(id, _)| id).collect::<Vec<_>>()
            ));
        };
        if self.applied != (1..=self.total).collect::<Vec<_>>() {
            return Err("the receiver did not apply 1..=total in order".into());
        }
        for id in self.hq.keys() {
            if self.applied_cmds.get(id) != Some(&1) {
                return Err(format!(
                    "HQ command {id} applied {:?} times",
                    self.applied_cmds.get(id)
                ));
            }
        }
        let healed = self.healed_at.unwrap_or(0);
        if at > healed + CONVERGE_MS {
            return Err(format!("converged {} ms after healing", at - healed));
        }
        Ok(())
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The tests the seeds are shared by (the simulation computes, so one
/// per core).
const PARTS: u64 = 2;

/// Part `k` of [`PARTS`]: the seeds `first + i` with `i % PARTS == k`.
fn seeds_part(k: u64) {
    if let Ok(seed) = std::env::var("SYNC_SIM_SEED") {
        if k > 0 {
            return; // one seed, run once, by the first part
        }
        let seed: u64 = seed.parse().unwrap();
        let r = Sim::new(seed, true).run();
        println!("seed {seed}: {r:?}");
        r.unwrap();
        return;
    }
    let seeds = env_u64("SYNC_SIM_SEEDS", 10_000);
    let first = env_u64("SYNC_SIM_FIRST", 1);
    let started = std::time::Instant::now();
    let (mut runs, mut steps, mut forged) = (0u64, 0u64, 0u64);
    for seed in (first..first + seeds).filter(|s| (s - first) % PARTS == k) {
        let (trace, n, f) = Sim::new(seed, false)
            .run()
            .unwrap_or_else(|e| panic!("seed {seed}: {e} (replay: SYNC_SIM_SEED={seed})"));
        let (again, _, _) = Sim::new(seed, false).run().unwrap();
        forged += u64::from(f);
        assert_eq!(trace, again, "seed {seed} is not deterministic");
        steps += n;
        runs += 1;
    }
    assert_eq!(runs, seeds / PARTS + u64::from(k < seeds % PARTS));
    println!(
        "sync simulation part {} of {PARTS}: {runs} of {seeds} seeds from {first}, each twice, {steps} steps, {forged} forged acks, {:.1} s",
        k + 1,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn every_event_once_in_order_and_every_command_once_under_seeded_faults_1_of_2() {
    seeds_part(0);
}

#[test]
fn every_event_once_in_order_and_every_command_once_under_seeded_faults_2_of_2() {
    seeds_part(1);
}
