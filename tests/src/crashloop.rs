//! The crash loop: the real node as a child process, whole order
//! lifecycles from concurrent clients, SIGKILL at seeded random moments,
//! restart, and the promise checked after every cycle.
//!
//! Each client owns its orders and walks each through a seeded plan:
//! create; then maybe a cancel before picking; start the pick; settle every
//! line by a scan of all its units, a short, or a substitute; maybe a
//! cancel after picking (its units go back); stage on a shelf; hand over
//! with the pickup code. Every step but the create carries an
//! `Idempotency-Key`; a step whose answer a kill cut off is sent again,
//! with the same key, after the restart — so it must take effect once,
//! whichever side of the kill it landed on.
//!
//! After every restart, for every order touched in the cycle:
//! - the order's events are contiguous (`order_seq` 1..n) and in log order;
//! - every acknowledged step's events are there, of the step's kind, at
//!   the log positions its answer named;
//! - no step took effect twice: per kind, no more events than steps sent;
//!
//! and for the store, `storenode verify` (projections equal a replay of
//! the log, reservations equal what open orders still owe, the hash chain).
//! At the end, with every step answered: the counts are exact, the log has
//! no gaps, and stock is conserved, computed here from the events alone:
//! on-hand = initial − taken + restocked, reserved = still owed.
//!
//! With `cloud` (the default) the node also syncs with HQ the whole time:
//! a Mosquitto as the chain's broker, a `cloud-bridge` instance and a
//! webhook receiver run for the whole loop, and HQ sends stock corrections
//! while the node is being killed. After every restart the sync cursor must
//! not be ahead of what the receiver applied (the bridge acknowledges only
//! after a 2xx); at the end every event has reached HQ once, in order, and
//! every HQ command was applied exactly once (one event naming it as its
//! cause).
//!
//! `cargo run -p storenode-tests --bin crashloop -- --cycles 5000 --seed 7`
//! runs it long; CI runs 500 cycles as 5 tests of 100 at once
//! (tests/tests/suite/crash.rs).
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use protocol::{Envelope, Event, EventKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::cloud::{Bridge, Mosquitto, Sink};
use crate::{test_barcode, test_skus, Node, Opts};

/// Units of every SKU the harness's catalog starts with.
pub const INITIAL_ON_HAND: i64 = 1_000_000;
/// SKUs from this index on may run short; each cycle counts them back to
/// [`INITIAL_ON_HAND`] (an order that finds one empty is rejected).
const SHORT_SKUS: usize = 60;

#[derive(Debug, Clone)]
pub struct Config {
    pub cycles: usize,
    pub seed: u64,
    pub clients: usize,
    /// The node is killed this long after it is ready (seeded, uniform).
    pub kill_after_ms: (u64, u64),
    /// Run `storenode verify` after every this many cycles (1: every one).
    pub verify_every: usize,
    /// Start from an empty data directory every this many cycles (0:
    /// never), each run ending with the exact checks: the cost of a cycle
    /// stays that of a store's week rather than growing with the run.
    pub fresh_every: usize,
    /// Keep the data directories here, one per run (default: temporary).
    pub dir: Option<PathBuf>,
    /// Print a line per cycle.
    pub verbose: bool,
    /// Sync with a stand-in HQ (Mosquitto, a bridge, a receiver) and send
    /// HQ commands during the loop.
    pub cloud: bool,
    /// `(k, n)`: run only the epochs `e` with `e % n == k`, so that `n`
    /// processes share one run (each epoch is its own data directory and
    /// store; the CI test runs its 5 epochs as 5 tests at once).
    pub part: (usize, usize),
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cycles: 500,
            seed: 1,
            clients: 4,
            kill_after_ms: (10, 150),
            verify_every: 1,
            fresh_every: 100,
            dir: None,
            verbose: false,
            cloud: true,
            part: (0, 1),
        }
    }
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Report {
    pub cycles: usize,
    pub seed: u64,
    pub orders: usize,
    pub steps_acked: usize,
    /// Steps sent again after a kill whose first try had taken effect.
    pub repeats: usize,
    pub verifies: usize,
    pub events: u64,
    /// Events HQ's receiver applied (each once, in order).
    pub events_at_hq: u64,
    /// HQ commands sent while the node was being killed; each applied once.
    pub hq_commands: usize,
    pub seconds: f64,
}

/// The stand-in HQ: its broker, one bridge instance, its receiver.
struct Hq {
    _dir: tempfile::TempDir,
    broker: Mosquitto,
    bridge: Bridge,
    sink: Sink,
}

impl Hq {
    async fn start() -> Result<Hq> {
        let dir = tempfile::tempdir()?;
        let broker = Mosquitto::start(dir.path()).await.context("mosquitto")?;
        let sink = Sink::start().await?;
        let bridge = Bridge::start(dir.path(), &broker.url(), &sink.url, "crash-hq")
            .await
            .context("cloud-bridge")?;
        Ok(Hq {
            _dir: dir,
            broker,
            bridge,
            sink,
        })
    }

    /// After a restart: the node's durable sync cursor is not ahead of
    /// what HQ applied.
    async fn check_cursor(&self, api: &Api, store: &str) -> Result<()> {
        let (status, v) = api
            .call(reqwest::Method::GET, "/api/v1/sync", None, None)
            .await?;
        if status != 200 {
            bail!("GET /api/v1/sync: {status} {v}");
        }
        let acked = v["acked_seq"].as_u64().unwrap_or(0);
        let applied = self.sink.applied(store);
        if acked > applied {
            bail!("the sync cursor is at {acked}, ahead of what HQ applied ({applied})");
        }
        Ok(())
    }

    /// A stock correction from HQ (+1 on a substitute SKU); its command id,
    /// or `None` if the bridge has not seen the store yet.
    async fn adjust(&self, store: &str, rng: &mut StdRng) -> Result<Option<String>> {
        let sku = &test_skus()[90 + rng.gen_range(0..10)];
        let (status, v) = self
            .bridge
            .post(
                &format!("/api/v1/stores/{store}/stock"),
                &json!({ "adjust": { "sku": sku, "delta": 1, "reason": "HQ recount" } }),
            )
            .await?;
        match status {
            202 => Ok(v["command_id"].as_str().map(str::to_string)),
            404 => Ok(None),
            _ => bail!("HQ stock adjust: {status} {v}"),
        }
    }

    /// The end: each command was answered `accepted` (its events are
    /// durable then) and caused exactly one event. The caller then waits
    /// for the whole log at HQ.
    async fn check_commands(&self, api: &Api, store: &str, commands: &[String]) -> Result<()> {
        for id in commands {
            let outcome = self.bridge.command_outcome(store, id, 60).await?;
            if outcome["status"] != "accepted" {
                bail!("HQ command {id}: {outcome}");
            }
        }
        // Read after every answer, so that each command's event is in.
        let events = store_events(api).await?;
        for id in commands {
            let caused = events
                .iter()
                .filter(|e| e.causation_id.is_some_and(|c| c.to_string() == *id))
                .count();
            if caused != 1 {
                bail!("HQ command {id} caused {caused} events, not 1");
            }
        }
        Ok(())
    }
}

/// One step of an order's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Create,
    StartPick,
    Pick { line: u32 },
    Short { line: u32, found: u32 },
    Substitute { line: u32, sku_index: usize },
    Cancel,
    Stage,
    HandOver,
}

impl Step {
    fn kind(&self) -> EventKind {
        match self {
            Step::Create => EventKind::OrderCreated,
            Step::StartPick => EventKind::PickStarted,
            Step::Pick { .. } => EventKind::ItemPicked,
            Step::Short { .. } => EventKind::ItemShorted,
            Step::Substitute { .. } => EventKind::ItemSubstituted,
            Step::Cancel => EventKind::OrderCancelled,
            Step::Stage => EventKind::OrderStaged,
            Step::HandOver => EventKind::OrderFulfilled,
        }
    }
}

/// One order as its client knows it.
#[derive(Debug)]
struct OrderModel {
    id: String,
    /// (SKU index, quantity, substitution allowed).
    lines: Vec<(usize, u32, bool)>,
    plan: Vec<Step>,
    /// Steps answered (index into `plan`); the next is `plan[done]`.
    done: usize,
    /// A step sent whose answer has not come (a kill cut it off).
    in_flight: bool,
    /// Answered steps: kind and the log positions the answer named.
    acked: Vec<(EventKind, Vec<u64>)>,
}

impl OrderModel {
    fn new(id: String, rng: &mut StdRng) -> OrderModel {
        let n = rng.gen_range(1..=3);
        let mut skus = BTreeSet::new();
        while skus.len() < n {
            skus.insert(rng.gen_range(0..90usize));
        }
        let lines: Vec<(usize, u32, bool)> = skus
            .into_iter()
            .map(|s| (s, rng.gen_range(1..=3), rng.gen_bool(0.5)))
            .collect();
        let mut plan = vec![Step::Create];
        if rng.gen_bool(0.08) {
            plan.push(Step::Cancel);
        } else {
            plan.push(Step::StartPick);
            for (i, (sku, q, subst)) in lines.iter().enumerate() {
                let line = i as u32 + 1;
                let roll = rng.gen_range(0..10);
                // A short empties the shelf (the node's rule): only the
                // SKUs the harness counts back up each cycle run short.
                plan.push(if roll >= 6 && *subst && (roll >= 8 || *sku < SHORT_SKUS) {
                    Step::Substitute {
                        line,
                        sku_index: 90 + rng.gen_range(0..10),
                    }
                } else if roll >= 6 && *sku >= SHORT_SKUS {
                    Step::Short {
                        line,
                        found: rng.gen_range(0..*q),
                    }
                } else {
                    Step::Pick { line }
                });
            }
            // Every line short with nothing found: the node cancels the
            // order itself, and nothing is left to do.
            let nothing = plan.iter().all(|s| {
                matches!(
                    s,
                    Step::Create | Step::StartPick | Step::Short { found: 0, .. }
                )
            });
            if !nothing && rng.gen_bool(0.08) {
                plan.push(Step::Cancel);
            } else if !nothing {
                plan.push(Step::Stage);
                plan.push(Step::HandOver);
            }
        }
        OrderModel {
            id,
            lines,
            plan,
            done: 0,
            in_flight: false,
            acked: Vec::new(),
        }
    }

    fn finished(&self) -> bool {
        self.done == self.plan.len()
    }

    /// Whether the node cancels this order itself once its last line is
    /// settled (every line short, nothing found).
    fn cancelled_by_node(&self) -> bool {
        self.plan.len() == 2 + self.lines.len()
            && self.plan[2..]
                .iter()
                .all(|s| matches!(s, Step::Short { found: 0, .. }))
    }

    /// Per kind, the events the steps sent so far (answered or cut off)
    /// may cause; with `answered`, those the answered steps must have.
    fn expected(&self, answered: bool) -> BTreeMap<EventKind, usize> {
        let upto = self.done + usize::from(self.in_flight && !answered);
        let mut m = BTreeMap::new();
        for s in &self.plan[..upto] {
            *m.entry(s.kind()).or_default() += 1;
        }
        if self.cancelled_by_node() && upto == self.plan.len() {
            *m.entry(EventKind::OrderCancelled).or_default() += 1;
        }
        m
    }
}

/// What one client owns.
struct Client {
    rng: StdRng,
    orders: Vec<OrderModel>,
    next_id: usize,
    /// Orders touched since the last check.
    touched: BTreeSet<usize>,
    repeats: usize,
}

/// The outcome of sending one step.
enum Sent {
    /// Answered: the log positions it named, and whether it was a repeat.
    Acked(Vec<u64>, bool),
    /// Not yet possible (the services have not prepared the order yet).
    NotYet,
    /// The node rejected the order (a shelf it needs ran empty): its plan
    /// ends here.
    Rejected,
    /// The node is gone.
    Lost,
}

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Result<(u16, Value)> {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(5));
        if let Some(b) = body {
            r = r.json(b);
        }
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        let resp = r.send().await?;
        let status = resp.status().as_u16();
        let v = resp.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, v))
    }

    async fn order(&self, id: &str) -> Result<Value> {
        let (status, v) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/orders/{id}"),
                None,
                None,
            )
            .await?;
        if status != 200 {
            bail!("GET order {id}: {status} {v}");
        }
        Ok(v)
    }
}

fn create_body(o: &OrderModel) -> Value {
    let skus = test_skus();
    let lines: Vec<Value> = o
        .lines
        .iter()
        .map(|(s, q, subst)| {
            json!({ "sku": skus[*s], "quantity": q,
                    "unit_price_cents": 100 + *s as i64, "substitution_allowed": subst })
        })
        .collect();
    json!({ "order_id": o.id, "customer_name": "Crash Test", "lines": lines,
            "payment": "prepaid", "due_at_ms": crate::due_in_a_week() })
}

fn rejected_for_stock(order: &Value) -> bool {
    order["order"]["state"] == "rejected"
        && order["order"]["reject_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("not enough stock"))
}

/// Send the next step of `o`.
async fn send(api: &Api, o: &OrderModel) -> Result<Sent> {
    let step = o.plan[o.done].clone();
    let key = format!("{}-{}", o.id, o.done);
    let id = &o.id;
    let staff = json!("crash");
    // Steps that need the services to have prepared the order first.
    if matches!(step, Step::StartPick) {
        match api.order(id).await {
            Ok(v) if v["order"]["state"] == "prepared" => {}
            Ok(v) if rejected_for_stock(&v) => return Ok(Sent::Rejected),
            Ok(v)
                if ["created", "accepted", "processed"]
                    .contains(&v["order"]["state"].as_str().unwrap_or("")) =>
            {
                return Ok(Sent::NotYet)
            }
            Ok(v) if o.in_flight && v["order"]["state"] != "prepared" => {}
            Ok(v) => bail!(
                "{id}: start-pick in state {} ({})",
                v["order"]["state"],
                v["order"]["reject_reason"]
            ),
            Err(_) => return Ok(Sent::Lost),
        }
    }
    let (path, body) = match &step {
        Step::Create => ("/api/v1/orders".to_string(), create_body(o)),
        Step::StartPick => (
            format!("/api/v1/orders/{id}/start-pick"),
            json!({ "staff": staff }),
        ),
        Step::Pick { line } => {
            let (s, q, _) = o.lines[*line as usize - 1];
            (
                format!("/api/v1/orders/{id}/lines/{line}/pick"),
                json!({ "barcode": test_barcode(s), "quantity": q, "staff": staff }),
            )
        }
        Step::Short { line, found } => (
            format!("/api/v1/orders/{id}/lines/{line}/short"),
            json!({ "found": found, "staff": staff }),
        ),
        Step::Substitute { line, sku_index } => {
            let (_, q, _) = o.lines[*line as usize - 1];
            (
                format!("/api/v1/orders/{id}/lines/{line}/substitute"),
                json!({ "barcode": test_barcode(*sku_index), "quantity": q, "staff": staff }),
            )
        }
        Step::Cancel => (
            format!("/api/v1/orders/{id}/cancel"),
            json!({ "reason": "crash test", "by": "crash" }),
        ),
        Step::Stage => (
            format!("/api/v1/orders/{id}/stage"),
            json!({ "staff": staff, "slot": { "kind": "shelf", "id": "A1" } }),
        ),
        Step::HandOver => {
            let Ok(v) = api.order(id).await else {
                return Ok(Sent::Lost);
            };
            let Some(code) = v["order"]["pickup_code"].as_str() else {
                bail!("{id}: ready without a pickup code: {v}");
            };
            (
                format!("/api/v1/orders/{id}/handed-over"),
                json!({ "staff": staff, "code": code }),
            )
        }
    };
    let key = (!matches!(step, Step::Create)).then_some(key);
    let (status, v) = match api
        .call(reqwest::Method::POST, &path, Some(&body), key.as_deref())
        .await
    {
        Ok(r) => r,
        Err(_) => return Ok(Sent::Lost),
    };
    match (&step, status) {
        (Step::Create, 201) => {
            let seq = v["created_log_seq"]
                .as_u64()
                .ok_or_else(|| anyhow!("{id}: create answered without created_log_seq: {v}"))?;
            Ok(Sent::Acked(vec![seq], false))
        }
        (_, 200) => {
            let seqs: Vec<u64> = v["log_seqs"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            if seqs.is_empty() {
                // Cancelling an order the node had already rejected
                // changes nothing (and says so); any other empty answer
                // is a step that did nothing.
                return match api.order(id).await {
                    Ok(o) if matches!(step, Step::Cancel) && rejected_for_stock(&o) => {
                        Ok(Sent::Rejected)
                    }
                    Ok(o) => bail!(
                        "{id}: {step:?} answered without events: {v}; the order: {}",
                        o["order"]
                    ),
                    // The node died in between: ask again after the restart.
                    Err(_) => Ok(Sent::Lost),
                };
            }
            Ok(Sent::Acked(seqs, v["repeat"] == true))
        }
        // Refused with a reason: the model and the node disagree, unless
        // the node rejected the order for want of stock.
        (_, s) if (400..500).contains(&s) => match api.order(id).await {
            Ok(o) if rejected_for_stock(&o) => Ok(Sent::Rejected),
            Ok(o) => bail!("{id}: {step:?} refused: {s} {v}; the order: {}", o["order"]),
            Err(_) => Ok(Sent::Lost),
        },
        // The node answered but did not do it (e.g. stopping): try again.
        _ => Ok(Sent::Lost),
    }
}

/// One client's work until the node dies (or, with `drain`, until every
/// order it owns is finished).
async fn work(api: Arc<Api>, client: Arc<Mutex<Client>>, cid: usize, drain: bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // Pick what to do: an unfinished order's next step, or a new order.
        let pick = {
            let mut c = client
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let open: Vec<usize> = (0..c.orders.len())
                .filter(|i| !c.orders[*i].finished())
                .collect();
            // An order cut off mid-step goes first: its step is resent.
            if let Some(i) = open.iter().copied().find(|i| c.orders[*i].in_flight) {
                Some(i)
            } else if drain {
                if open.is_empty() {
                    return Ok(());
                }
                let r = c.rng.gen_range(0..open.len());
                Some(open[r])
            } else if open.len() < 4 || c.rng.gen_bool(0.25) {
                let id = format!("K{cid}-{}", c.next_id);
                c.next_id += 1;
                let m = OrderModel::new(id, &mut c.rng);
                c.orders.push(m);
                Some(c.orders.len() - 1)
            } else {
                let r = c.rng.gen_range(0..open.len());
                Some(open[r])
            }
        };
        let Some(i) = pick else { return Ok(()) };
        let (sent, resent) = {
            let snapshot = {
                let mut c = client
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                c.touched.insert(i);
                let o = &mut c.orders[i];
                let resend = o.in_flight;
                o.in_flight = true;
                (
                    o.id.clone(),
                    o.lines.clone(),
                    o.plan.clone(),
                    o.done,
                    resend,
                )
            };
            let view = OrderModel {
                id: snapshot.0,
                lines: snapshot.1,
                plan: snapshot.2,
                done: snapshot.3,
                in_flight: snapshot.4,
                acked: Vec::new(),
            };
            let resent = view.in_flight;
            (send(&api, &view).await?, resent)
        };
        let not_yet = {
            let mut c = client
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match sent {
                Sent::Acked(seqs, repeat) => {
                    if repeat && resent {
                        c.repeats += 1;
                    }
                    let o = &mut c.orders[i];
                    let kind = o.plan[o.done].kind();
                    o.acked.push((kind, seqs));
                    o.done += 1;
                    o.in_flight = false;
                    false
                }
                Sent::NotYet => {
                    c.orders[i].in_flight = false;
                    true
                }
                Sent::Rejected => {
                    let o = &mut c.orders[i];
                    o.plan.truncate(o.done);
                    o.in_flight = false;
                    false
                }
                // Leave `in_flight` set: the step is resent after the restart.
                Sent::Lost => return Ok(()),
            }
        };
        if not_yet {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if drain && Instant::now() > deadline {
                bail!("client {cid}: orders still not prepared after 60 s");
            }
        }
    }
}

/// Check the orders touched since the last check against the node's log
/// (a few at a time).
async fn check_touched(
    api: &Arc<Api>,
    clients: &[Arc<Mutex<Client>>],
    exact: bool,
) -> Result<usize> {
    type Model = (
        String,
        BTreeMap<EventKind, usize>,
        BTreeMap<EventKind, usize>,
        Vec<(EventKind, Vec<u64>)>,
    );
    let mut models: Vec<Model> = Vec::new();
    for c in clients {
        let mut c = c.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for i in std::mem::take(&mut c.touched) {
            let o = &c.orders[i];
            models.push((
                o.id.clone(),
                o.expected(false),
                o.expected(true),
                o.acked.clone(),
            ));
        }
    }
    let mut checked = 0;
    let mut models = models.into_iter().peekable();
    while models.peek().is_some() {
        let mut set = tokio::task::JoinSet::new();
        for (id, sent, answered, acked) in models.by_ref().take(8) {
            let api = api.clone();
            set.spawn(async move {
                let v = match api.order(&id).await {
                    Ok(v) => v,
                    // Sent but cut off before it was written: nothing to see.
                    Err(_) if acked.is_empty() => return Ok(false),
                    Err(e) => return Err(e.context(format!("acknowledged order {id} is missing"))),
                };
                let events: Vec<Envelope> = serde_json::from_value(v["events"].clone())
                    .with_context(|| format!("{id}: events"))?;
                check_order(&id, &events, &sent, &answered, &acked, exact)?;
                Ok(true)
            });
        }
        while let Some(r) = set.join_next().await {
            if r?? {
                checked += 1;
            }
        }
    }
    Ok(checked)
}

fn check_order(
    id: &str,
    events: &[Envelope],
    sent: &BTreeMap<EventKind, usize>,
    answered: &BTreeMap<EventKind, usize>,
    acked: &[(EventKind, Vec<u64>)],
    exact: bool,
) -> Result<()> {
    for (i, e) in events.iter().enumerate() {
        if e.order_seq != i as u64 + 1 {
            bail!(
                "{id}: order_seq {} at position {} (not contiguous)",
                e.order_seq,
                i + 1
            );
        }
    }
    if !events.windows(2).all(|w| w[0].log_seq < w[1].log_seq) {
        bail!("{id}: events out of log order");
    }
    let by_seq: BTreeMap<u64, &Envelope> = events.iter().map(|e| (e.log_seq, e)).collect();
    for (kind, seqs) in acked {
        let Some(first) = seqs.first() else {
            bail!("{id}: acknowledged {kind:?} named no log position");
        };
        match by_seq.get(first) {
            Some(e) if e.event.kind() == *kind => {}
            Some(e) => bail!(
                "{id}: acknowledged {kind:?} at log {first} is {:?}",
                e.event.kind()
            ),
            None => {
                bail!("{id}: acknowledged {kind:?} at log {first} is not in the order's events")
            }
        }
        for s in seqs {
            if !by_seq.contains_key(s) {
                bail!("{id}: acknowledged {kind:?} named log {s}, which the order lacks");
            }
        }
    }
    let mut counts: BTreeMap<EventKind, usize> = BTreeMap::new();
    for e in events {
        *counts.entry(e.event.kind()).or_default() += 1;
    }
    for (kind, n) in &counts {
        let driven = sent.get(kind).copied();
        let acked_n = answered.get(kind).copied().unwrap_or(0);
        match driven {
            Some(s) if *n > s => {
                bail!("{id}: {n} {kind:?} events for {s} steps sent: applied twice")
            }
            Some(_) if exact && *n != acked_n => {
                bail!("{id}: {n} {kind:?} events for {acked_n} acknowledged steps")
            }
            Some(_) if *n < acked_n => {
                bail!("{id}: {n} {kind:?} events for {acked_n} acknowledged steps: lost")
            }
            Some(_) => {}
            None => {
                let once = matches!(
                    kind,
                    EventKind::OrderAccepted
                        | EventKind::OrderProcessed
                        | EventKind::ShipmentPrepared
                        | EventKind::ShipmentProcessed
                        | EventKind::ReadyForPickup
                        | EventKind::Restocked
                        | EventKind::OrderRejected
                );
                if once && *n > 1 {
                    bail!("{id}: {n} {kind:?} events: a reaction applied twice");
                }
            }
        }
    }
    Ok(())
}

async fn start(dir: &Path, store: &str, hq: Option<&Hq>) -> Result<Node> {
    let mut env = Vec::new();
    if let Some(hq) = hq {
        env.push(("STORENODE_CLOUD_URL".to_string(), hq.broker.url()));
        env.push(("STORENODE_CLOUD_ACK_TIMEOUT_S".into(), "1".into()));
    }
    Node::start_with(
        dir,
        Opts {
            store_id: Some(store.into()),
            env,
            ..Opts::default()
        },
    )
    .await
}

/// The epochs of a run of `cycles` cycles: `(epoch, first cycle, cycles)`,
/// only those of `part`.
pub fn epochs(cfg: &Config) -> Vec<(u64, usize, usize)> {
    let per = match cfg.fresh_every {
        0 => cfg.cycles.max(1),
        n => n,
    };
    let (k, n) = (cfg.part.0, cfg.part.1.max(1));
    let mut out = Vec::new();
    let (mut first, mut epoch) = (0, 0u64);
    while first < cfg.cycles || (first == 0 && cfg.cycles == 0) {
        let cycles = per.min(cfg.cycles - first);
        if epoch as usize % n == k {
            out.push((epoch, first, cycles));
        }
        first += cycles.max(1);
        epoch += 1;
    }
    out
}

/// Run the loop (the epochs of `cfg.part`). An error names the seed and
/// cycle that produced it.
pub async fn run(cfg: &Config) -> Result<Report> {
    let t0 = Instant::now();
    let mut report = Report {
        seed: cfg.seed,
        ..Report::default()
    };
    let hq = match cfg.cloud {
        true => Some(Hq::start().await?),
        false => None,
    };
    for (epoch, first, n) in epochs(cfg) {
        let r = run_epoch(cfg, hq.as_ref(), epoch, first, n).await?;
        report.cycles += n;
        report.events_at_hq += r.events_at_hq;
        report.hq_commands += r.hq_commands;
        report.orders += r.orders;
        report.steps_acked += r.steps_acked;
        report.repeats += r.repeats;
        report.verifies += r.verifies;
        report.events += r.events;
    }
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// Cycles `first..first + cycles` on one data directory, from empty,
/// ending with every step answered and the exact checks.
async fn run_epoch(
    cfg: &Config,
    hq: Option<&Hq>,
    epoch: u64,
    first: usize,
    cycles: usize,
) -> Result<Report> {
    // A store id per epoch: HQ's receiver keeps each store's last sequence.
    let store = format!("crash-{}-{epoch}", cfg.seed % 1_000_000);
    let mut commands: Vec<String> = Vec::new();
    let tmp = tempfile::tempdir()?;
    let dir = match &cfg.dir {
        Some(d) => d.join(format!("epoch-{epoch}")),
        None => tmp.path().join("node"),
    };
    let seed = cfg
        .seed
        .wrapping_add(epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut rng = StdRng::seed_from_u64(seed);
    let clients: Vec<Arc<Mutex<Client>>> = (0..cfg.clients)
        .map(|i| {
            Arc::new(Mutex::new(Client {
                rng: StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(i as u64)),
                orders: Vec::new(),
                next_id: 0,
                touched: BTreeSet::new(),
                repeats: 0,
            }))
        })
        .collect();
    let mut report = Report::default();
    let at = |cycle: usize| format!("seed {} cycle {}", cfg.seed, first + cycle);
    let snap = tmp.path().join("verify");
    let mut verifying: Option<std::thread::JoinHandle<Result<()>>> = None;
    let finish = |h: std::thread::JoinHandle<Result<()>>| -> Result<()> {
        h.join()
            .map_err(|_| anyhow!("the verify thread panicked"))?
    };
    for cycle in 0..cycles {
        let t_start = Instant::now();
        let mut node = start(&dir, &store, hq).await.with_context(|| at(cycle))?;
        let started = t_start.elapsed();
        let api = Arc::new(Api {
            base: node.url(""),
            token: node.token.clone(),
            http: reqwest::Client::new(),
        });
        // What the previous cycle's kill left behind.
        check_touched(&api, &clients, false)
            .await
            .with_context(|| at(cycle))?;
        if let Some(hq) = hq {
            hq.check_cursor(&api, &store)
                .await
                .with_context(|| at(cycle))?;
            if rng.gen_bool(0.3) {
                if let Some(id) = hq
                    .adjust(&store, &mut rng)
                    .await
                    .with_context(|| at(cycle))?
                {
                    commands.push(id);
                }
            }
        }
        // The shelves that may run short are counted back up (its answer
        // may be cut off too; the stock check reads the log).
        let counts: Vec<Value> = test_skus()[SHORT_SKUS..90]
            .iter()
            .map(|s| json!({ "sku": s, "quantity": INITIAL_ON_HAND }))
            .collect();
        api.call(
            reqwest::Method::POST,
            "/api/v1/stock/count",
            Some(&json!({ "counts": counts, "staff": "crash" })),
            None,
        )
        .await
        .with_context(|| at(cycle))?;
        let checked = t_start.elapsed();
        let tasks: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| tokio::spawn(work(api.clone(), c.clone(), i, false)))
            .collect();
        let wait = rng.gen_range(cfg.kill_after_ms.0..=cfg.kill_after_ms.1);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        node.kill();
        for t in tasks {
            t.await?.with_context(|| at(cycle))?;
        }
        let killed = t_start.elapsed();
        if (cycle + 1) % cfg.verify_every.max(1) == 0 {
            // The previous cycle's verify first (it ran during this one);
            // then this cycle's, on a copy, while the next cycle runs.
            if let Some(v) = verifying.take() {
                finish(v)?;
                report.verifies += 1;
            }
            crate::copy_data_dir(&dir, &snap).with_context(|| at(cycle))?;
            let (snap, label, store) = (snap.clone(), at(cycle), store.clone());
            verifying = Some(std::thread::spawn(move || {
                crate::verify(&snap, &store).context(label)
            }));
        }
        if cfg.verbose {
            eprintln!(
                "cycle {}: started {started:?}, checked {:?}, killed after {wait} ms ({:?}), verified {:?}",
                first + cycle,
                checked - started,
                killed - checked,
                t_start.elapsed() - killed
            );
        }
    }

    if let Some(v) = verifying.take() {
        finish(v)?;
        report.verifies += 1;
    }

    // The end: every step answered, then the exact checks.
    let mut node = start(&dir, &store, hq).await.with_context(|| at(cycles))?;
    let api = Arc::new(Api {
        base: node.url(""),
        token: node.token.clone(),
        http: reqwest::Client::new(),
    });
    let tasks: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| tokio::spawn(work(api.clone(), c.clone(), i, true)))
        .collect();
    for t in tasks {
        t.await?.with_context(|| at(cycles))?;
    }
    // Every order, exactly.
    for c in &clients {
        let mut c = c.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        c.touched = (0..c.orders.len()).collect();
    }
    report.orders = check_touched(&api, &clients, true)
        .await
        .with_context(|| at(cycles))?;
    if let Some(hq) = hq {
        // HQ's last commands may still arrive: wait for their events
        // before the log and stock are checked.
        hq.check_commands(&api, &store, &commands)
            .await
            .with_context(|| at(cycles))?;
    }
    let head = node.head().await?;
    if let Some(hq) = hq {
        hq.sink
            .wait_all(&store, head, 120)
            .await
            .with_context(|| at(cycles))?;
        report.events_at_hq = hq.sink.applied(&store);
        report.hq_commands = commands.len();
    }
    check_log_and_stock(&api, &clients, head)
        .await
        .with_context(|| at(cycles))?;
    node.terminate().await?;
    crate::verify(&dir, &store).with_context(|| at(cycles))?;
    report.verifies += 1;
    for c in &clients {
        let c = c.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        report.steps_acked += c.orders.iter().map(|o| o.acked.len()).sum::<usize>();
        report.repeats += c.repeats;
    }
    report.events = head;
    Ok(report)
}

/// Every `_store` event (catalog, counts), oldest first, from the audit.
async fn store_events(api: &Api) -> Result<Vec<Envelope>> {
    let mut out = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let q = match before {
            Some(b) => format!("/api/v1/audit?order=_store&limit=1000&before={b}"),
            None => "/api/v1/audit?order=_store&limit=1000".to_string(),
        };
        let (status, v) = api.call(reqwest::Method::GET, &q, None, None).await?;
        if status != 200 {
            bail!("audit: {status} {v}");
        }
        let page: Vec<Envelope> = serde_json::from_value(v["entries"].clone())?;
        out.extend(page);
        match v["next_before"].as_u64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    out.sort_by_key(|e| e.log_seq);
    Ok(out)
}

/// The whole log is the orders' events plus the store's own, with no
/// gaps; stock computed from the events alone matches the node's.
async fn check_log_and_stock(api: &Api, clients: &[Arc<Mutex<Client>>], head: u64) -> Result<()> {
    let ids: Vec<String> = clients
        .iter()
        .flat_map(|c| {
            let c = c.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            c.orders.iter().map(|o| o.id.clone()).collect::<Vec<_>>()
        })
        .collect();
    let mut all: Vec<Envelope> = store_events(api).await?;
    let mut reserved: BTreeMap<String, i64> = BTreeMap::new();
    for id in &ids {
        let v = match api.order(id).await {
            Ok(v) => v,
            // Its create never landed (cut off, then never resent: the
            // drain resends every open step, so this is only a create).
            Err(_) => continue,
        };
        let events: Vec<Envelope> = serde_json::from_value(v["events"].clone())?;
        still_owed(&events, &mut reserved);
        all.extend(events);
    }
    all.sort_by_key(|e| e.log_seq);
    let seqs: Vec<u64> = all.iter().map(|e| e.log_seq).collect();
    if seqs != (1..=head).collect::<Vec<_>>() {
        let dup = seqs.windows(2).find(|w| w[0] == w[1]);
        bail!(
            "the log is not exactly the orders' and the store's events: {} of {head} positions, first repeated {dup:?}",
            seqs.len()
        );
    }
    let on_hand = on_hand_from(&all);
    let (_, stock) = api
        .call(reqwest::Method::GET, "/api/v1/stock", None, None)
        .await?;
    for item in stock["items"].as_array().into_iter().flatten() {
        let sku = item["item"]["sku"].as_str().unwrap_or_default();
        let want_on_hand = on_hand.get(sku).copied().unwrap_or(0);
        let want_reserved = reserved.get(sku).copied().unwrap_or(0);
        if item["on_hand"].as_i64() != Some(want_on_hand)
            || item["reserved"].as_i64() != Some(want_reserved)
        {
            bail!(
                "stock of {sku}: the node has on-hand {} reserved {}, the events say {want_on_hand} and {want_reserved}",
                item["on_hand"],
                item["reserved"]
            );
        }
    }
    Ok(())
}

/// On-hand by the rules as a person states them (not the node's code),
/// over the whole log in order: a count sets it; a unit taken from the
/// shelf (picked, found on a short, a substitute) leaves it; a restock
/// puts units back; an adjustment moves it.
fn on_hand_from(log: &[Envelope]) -> BTreeMap<String, i64> {
    let mut on_hand: BTreeMap<String, i64> = BTreeMap::new();
    // Per order and pick line: (SKU, units taken so far).
    let mut lines: BTreeMap<(String, u32), (String, u32)> = BTreeMap::new();
    for e in log {
        let order = e.order_id.as_str().to_string();
        match &e.event {
            Event::StockCounted { counts, .. } => {
                for c in counts {
                    on_hand.insert(c.sku.clone(), i64::from(c.quantity));
                }
            }
            Event::StockAdjusted { sku, delta, .. } => {
                *on_hand.entry(sku.clone()).or_default() += delta
            }
            Event::ShipmentPrepared { lines: pl } => {
                for l in pl {
                    lines.insert((order.clone(), l.line_no), (l.sku.clone(), 0));
                }
            }
            Event::ItemPicked {
                line_no, quantity, ..
            } => {
                if let Some(l) = lines.get_mut(&(order, *line_no)) {
                    *on_hand.entry(l.0.clone()).or_default() -= i64::from(*quantity);
                    l.1 += quantity;
                }
            }
            Event::ItemShorted { line_no, found, .. }
            | Event::ItemShortedWithReason { line_no, found, .. } => {
                if let Some(l) = lines.get_mut(&(order, *line_no)) {
                    *on_hand.entry(l.0.clone()).or_default() -=
                        i64::from(found.saturating_sub(l.1));
                    l.1 = l.1.max(*found);
                }
            }
            Event::ItemSubstituted { sku, quantity, .. } => {
                *on_hand.entry(sku.clone()).or_default() -= i64::from(*quantity);
            }
            Event::Restocked { items, .. } => {
                for i in items {
                    *on_hand.entry(i.sku.clone()).or_default() += i64::from(i.quantity);
                }
            }
            _ => {}
        }
    }
    on_hand
}

/// What one order still holds reserved: accepting reserves its lines;
/// a unit taken ends its share; settling a line (short, substitute) ends
/// the rest; a closed order (cancelled, rejected, handed over, expired)
/// holds nothing.
fn still_owed(events: &[Envelope], reserved: &mut BTreeMap<String, i64>) {
    // Per line: (SKU, quantity, picked, settled).
    let mut lines: BTreeMap<u32, (String, u32, u32, bool)> = BTreeMap::new();
    let mut accepted = false;
    let mut closed = false;
    for e in events {
        match &e.event {
            Event::OrderCreated(c) => {
                for (i, l) in c.lines.iter().enumerate() {
                    lines.insert(i as u32 + 1, (l.sku.clone(), l.quantity, 0, false));
                }
            }
            Event::OrderAccepted => accepted = true,
            Event::ShipmentPrepared { lines: pl } => {
                lines = pl
                    .iter()
                    .map(|l| (l.line_no, (l.sku.clone(), l.quantity, 0, false)))
                    .collect();
            }
            Event::ItemPicked {
                line_no, quantity, ..
            } => {
                if let Some(l) = lines.get_mut(line_no) {
                    l.2 += quantity;
                }
            }
            Event::ItemShorted { line_no, .. }
            | Event::ItemShortedWithReason { line_no, .. }
            | Event::ItemSubstituted { line_no, .. } => {
                if let Some(l) = lines.get_mut(line_no) {
                    l.3 = true;
                }
            }
            Event::OrderCancelled { .. }
            | Event::OrderRejected { .. }
            | Event::OrderFulfilled { .. }
            | Event::PickupExpired => closed = true,
            _ => {}
        }
    }
    if accepted && !closed {
        for (sku, q, picked, settled) in lines.values() {
            if !settled {
                *reserved.entry(sku.clone()).or_default() += i64::from(q.saturating_sub(*picked));
            }
        }
    }
}
