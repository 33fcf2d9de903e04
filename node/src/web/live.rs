//! The live feed: pages learn of changes the moment they are durable.
//!
//! The writer hands every durable group of events to [`Live::feed`]. One
//! task turns them into page updates — a pick-queue row to insert, move or
//! remove, a waiting customer, "this order changed", "the store changed" —
//! rendering each row once for every page that shows it, and broadcasts
//! them. `GET /live` streams them to a logged-in page as server-sent
//! events, filtered by the channels it follows and the member's role; a
//! page that falls behind is told to reload its lists, one whose login
//! ended (disabled, new PIN, logged out, expired) is disconnected.
use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use protocol::{Envelope, Event, EventKind, OrderId};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;

use super::auth::Session;
use super::pages::{desk::waiting_row, pick::queue_row};
use super::{AppError, AppState};
use crate::domain::permissions::{self, Routes, Who};
use crate::metrics::Metrics;
use crate::read::queue::QueueEntry;
use crate::shutdown::Shutdown;

/// Which pages a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// The pick queue.
    Queue,
    /// The desk's waiting customers.
    Desk,
    /// The manager's overview.
    Manager,
    /// Pages about particular orders (order page, pick walk, desk card).
    Orders,
    /// A staff account changed: its pages' logins may have ended.
    Staff,
}

impl Channel {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "queue" => Some(Channel::Queue),
            "desk" => Some(Channel::Desk),
            "manager" => Some(Channel::Manager),
            "orders" => Some(Channel::Orders),
            _ => None,
        }
    }

    /// The pages whose viewers may follow the channel (`None`: any
    /// logged-in member).
    fn routes(self) -> Option<Routes> {
        match self {
            Channel::Queue => Some(Routes::PickPages),
            Channel::Desk => Some(Routes::DeskPages),
            Channel::Manager => Some(Routes::ManagerPages),
            Channel::Orders | Channel::Staff => None,
        }
    }
}

/// One update for the pages.
#[derive(Debug, Clone)]
pub struct LiveMsg {
    pub channel: Channel,
    /// The order (or staff id) it is about.
    pub about: Option<String>,
    /// The SSE event name: `upsert`, `remove`, `refresh`.
    pub event: &'static str,
    /// JSON for the page's script.
    pub data: String,
}

/// The feed's two ends: durable events in, page updates out.
#[derive(Clone)]
pub struct Live {
    events: broadcast::Sender<Arc<Vec<Envelope>>>,
    updates: broadcast::Sender<Arc<LiveMsg>>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    pub fn new() -> Self {
        Live {
            events: broadcast::channel(1024).0,
            updates: broadcast::channel(4096).0,
        }
    }

    /// Where the writer sends each durable group (never blocks: with
    /// nobody listening, or a slow feed, updates are dropped and pages
    /// reload their lists).
    pub fn sender(&self) -> broadcast::Sender<Arc<Vec<Envelope>>> {
        self.events.clone()
    }

    fn send(
        &self,
        channel: Channel,
        about: Option<String>,
        event: &'static str,
        data: serde_json::Value,
    ) {
        let _ = self.updates.send(Arc::new(LiveMsg {
            channel,
            about,
            event,
            data: data.to_string(),
        }));
    }

    /// Subscribe to page updates (tests and the bench use the HTTP stream).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveMsg>> {
        self.updates.subscribe()
    }
}

/// Turn durable events into page updates until shutdown.
pub async fn feed(s: AppState, mut shutdown: Shutdown) {
    let mut rx = s.live.events.subscribe();
    loop {
        let batch = tokio::select! {
            _ = shutdown.fired() => return,
            b = rx.recv() => b,
        };
        let batch = match batch {
            Ok(b) => b,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "live feed fell behind; pages reload their lists"
                );
                for ch in [
                    Channel::Queue,
                    Channel::Desk,
                    Channel::Manager,
                    Channel::Orders,
                ] {
                    s.live.send(ch, None, "reload", json!({}));
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let st = s.clone();
        // Rendering reads the store: off the async workers.
        let _ = tokio::task::spawn_blocking(move || publish(&st, &batch)).await;
    }
}

/// The page updates for one durable group.
fn publish(s: &AppState, batch: &[Envelope]) {
    let mut kinds: BTreeMap<OrderId, BTreeSet<EventKind>> = BTreeMap::new();
    let mut staff = BTreeSet::new();
    for env in batch {
        if let Some(id) = crate::domain::staff::staff_id_of(&env.event) {
            if matches!(
                env.event,
                Event::StaffDisabled { .. }
                    | Event::StaffPinReset { .. }
                    | Event::StaffRoleChanged { .. }
            ) {
                staff.insert(id.to_string());
            }
        }
        if !env.order_id.is_reserved() {
            kinds
                .entry(env.order_id.clone())
                .or_default()
                .insert(env.event.kind());
        }
    }
    for id in staff {
        s.live.send(Channel::Staff, Some(id), "bye", json!({}));
    }
    let m = &s.messages;
    let seq = batch.last().map_or(0, |e| e.log_seq);
    let mut queue_total = None;
    for (id, kinds) in &kinds {
        let Ok(Some(o)) = s.store.order(id) else {
            continue;
        };
        let has = |k: EventKind| kinds.contains(&k);
        let total =
            *queue_total.get_or_insert_with(|| s.store.pick_queue(None, 0).map_or(0, |(_, t)| t));
        match QueueEntry::of(&o, &s.store) {
            Some(e) => s.live.send(
                Channel::Queue,
                Some(id.to_string()),
                "upsert",
                json!({ "region": "queue", "id": format!("q-{id}"), "key": e.sort_key, "seq": seq,
                        "html": queue_row(m, &s.clock, &e).into_string(), "total": total }),
            ),
            None if has(EventKind::PickStarted) || has(EventKind::OrderCancelled) => s.live.send(
                Channel::Queue,
                Some(id.to_string()),
                "remove",
                json!({ "region": "queue", "id": format!("q-{id}"), "total": total, "seq": seq }),
            ),
            None => {}
        }
        match o.waiting_since() {
            Some(at) if has(EventKind::CustomerArrived) || has(EventKind::ReadyForPickup) || has(EventKind::OrderStaged) => s.live.send(
                Channel::Desk,
                Some(id.to_string()),
                "upsert",
                json!({ "region": "waiting", "id": format!("w-{id}"), "key": format!("{at:020}{id}"), "seq": seq,
                        "html": waiting_row(m, &o, at).into_string() }),
            ),
            None if o.state.is_closed() => s.live.send(
                Channel::Desk,
                Some(id.to_string()),
                "remove",
                json!({ "region": "waiting", "id": format!("w-{id}"), "seq": seq }),
            ),
            _ => {}
        }
        s.live.send(
            Channel::Orders,
            Some(id.to_string()),
            "refresh",
            json!({ "order": id, "seq": seq }),
        );
    }
    if !batch.is_empty() {
        s.live.send(
            Channel::Manager,
            None,
            "refresh",
            json!({ "region": "manager", "seq": seq }),
        );
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct LiveQuery {
    #[serde(default)]
    ch: String,
    #[serde(default)]
    orders: String,
}

/// Counts a page on the feed while its stream lives.
struct Client(Arc<Metrics>);

impl Drop for Client {
    fn drop(&mut self) {
        self.0.live_clients.dec();
    }
}

struct Follow {
    rx: broadcast::Receiver<Arc<LiveMsg>>,
    channels: BTreeSet<Channel>,
    orders: BTreeSet<String>,
    session: Session,
    s: AppState,
    check: tokio::time::Interval,
    _client: Client,
    hello: bool,
    done: bool,
}

impl Follow {
    fn wants(&self, msg: &LiveMsg) -> bool {
        match msg.channel {
            Channel::Staff => false,
            Channel::Orders => match &msg.about {
                Some(id) => self.orders.contains(id) && self.channels.contains(&Channel::Orders),
                None => self.channels.contains(&Channel::Orders),
            },
            ch => self.channels.contains(&ch),
        }
    }
}

/// `GET /live?ch=queue,desk&orders=A,B`: server-sent events for a page.
pub async fn stream(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    q: Result<Query<LiveQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(session) = s.sessions.lookup(&headers) else {
        return AppError::Unauthorized.into_response();
    };
    let q = q.map(|q| q.0).unwrap_or_default();
    let channels: BTreeSet<Channel> =
        q.ch.split(',')
            .filter_map(Channel::from_name)
            .filter(|c| {
                c.routes()
                    .is_none_or(|r| permissions::may_open(Who::Staff(session.member.role), r))
            })
            .collect();
    let orders: BTreeSet<String> = q
        .orders
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .take(50)
        .map(str::to_string)
        .collect();
    s.metrics.live_clients.inc();
    let mut check = tokio::time::interval(Duration::from_secs(15));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let follow = Follow {
        rx: s.live.subscribe(),
        channels,
        orders,
        session,
        _client: Client(s.metrics.clone()),
        s,
        check,
        hello: false,
        done: false,
    };
    Sse::new(events(follow))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn events(follow: Follow) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    stream::unfold(follow, |mut f| async move {
        if f.done {
            return None;
        }
        if !f.hello {
            f.hello = true;
            let ev = SseEvent::default()
                .event("hello")
                .retry(Duration::from_secs(2))
                .data("{}");
            return Some((Ok(ev), f));
        }
        loop {
            tokio::select! {
                msg = f.rx.recv() => match msg {
                    Ok(m) => {
                        if m.channel == Channel::Staff && m.about.as_deref() == Some(f.session.member.id.as_str()) && !f.s.sessions.still_valid(&f.session) {
                            f.done = true;
                            return Some((Ok(SseEvent::default().event("bye").data("{}")), f));
                        }
                        if f.wants(&m) {
                            let ev = SseEvent::default().event(m.event).data(m.data.clone());
                            return Some((Ok(ev), f));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        f.s.metrics.live_lagged.inc();
                        return Some((Ok(SseEvent::default().event("reload").data("{}")), f));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = f.check.tick() => {
                    if !f.s.sessions.still_valid(&f.session) {
                        f.done = true;
                        return Some((Ok(SseEvent::default().event("bye").data("{}")), f));
                    }
                }
            }
        }
    })
}
