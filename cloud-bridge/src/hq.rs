//! HQ's API (bearer token) and the fleet page. docs/hq-api.yaml describes
//! the API (OpenAPI 3.1).
//!
//! A command is published QoS 1 on the store's down topic, where the
//! broker's persistent session for the store holds it while the store is
//! offline; the answer is 202 with the command id, and
//! `GET /api/v1/stores/{store}/commands/{id}` tells what the store made of
//! it once it answers.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use maud::{html, DOCTYPE};
use protocol::sync::DownCommand;
use protocol::{
    codec, topic, CatalogItem, Command, NewOrder, OrderId, Partial, SkuQuantity, StoreId,
};
use rumqttc::{AsyncClient, QoS};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{now_ms, Shared};

#[derive(Clone)]
pub struct Hq {
    pub shared: Arc<Shared>,
    pub client: AsyncClient,
    /// The last HQ sequence handed out (microseconds since the epoch, made
    /// strictly increasing).
    pub clock: Arc<AtomicU64>,
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum HqError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("missing or wrong bearer token")]
    Unauthorized,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    /// Published, but the broker did not confirm it in time: it may or may
    /// not reach the store; sent again under its id, it is applied once.
    #[error("the cloud broker did not confirm command {command_id} in time: it may not reach the store; send it again with the header Idempotency-Key: {command_id} (the store applies it once)")]
    Unconfirmed { command_id: String },
}

impl IntoResponse for HqError {
    fn into_response(self) -> Response {
        let status = match &self {
            HqError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HqError::NotFound(_) => StatusCode::NOT_FOUND,
            HqError::Unauthorized => StatusCode::UNAUTHORIZED,
            HqError::Conflict(_) => StatusCode::CONFLICT,
            HqError::Unavailable(_) | HqError::Unconfirmed { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        let mut body = json!({ "error": self.to_string() });
        if let HqError::Unconfirmed { command_id } = &self {
            body["command_id"] = json!(command_id);
        }
        let retry =
            (status == StatusCode::SERVICE_UNAVAILABLE).then_some([(header::RETRY_AFTER, "1")]);
        (status, retry, Json(body)).into_response()
    }
}

impl From<JsonRejection> for HqError {
    fn from(e: JsonRejection) -> Self {
        HqError::BadRequest(e.body_text())
    }
}

pub fn app(hq: Hq) -> Router {
    let api = Router::new()
        .route("/stores", get(stores))
        .route("/stores/{store}/orders", post(create_order))
        .route("/stores/{store}/orders/{id}/cancel", post(cancel))
        .route("/stores/{store}/catalog", post(catalog))
        .route("/stores/{store}/stock", post(stock))
        .route("/stores/{store}/commands", post(any_command))
        .route("/stores/{store}/commands/{id}", get(command_status))
        .route("/stores/{store}/availability", get(store_availability))
        .route("/availability/{sku}", get(sku_availability))
        .layer(middleware::from_fn_with_state(hq.clone(), bearer));
    Router::new()
        .nest("/api/v1", api)
        .route("/", get(page))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(hq)
}

async fn bearer(State(hq): State<Hq>, req: Request, next: Next) -> Result<Response, HqError> {
    let want = format!("Bearer {}", hq.shared.config.token);
    let got = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        got.as_bytes(),
        want.as_bytes(),
    )) {
        return Err(HqError::Unauthorized);
    }
    Ok(next.run(req).await)
}

fn store_id(text: &str) -> Result<StoreId, HqError> {
    StoreId::new(text).map_err(|e| HqError::BadRequest(format!("store id {e}")))
}

fn order_id(text: &str) -> Result<OrderId, HqError> {
    OrderId::new(text).map_err(|e| HqError::BadRequest(format!("order id {e}")))
}

impl Hq {
    fn next_seq(&self) -> u64 {
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let prev = self
            .clock
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
                Some(now_us.max(last + 1))
            })
            .unwrap_or(0);
        now_us.max(prev + 1)
    }

    /// Publish `command` to `store` and answer 202 with its id once the
    /// broker holds it for the store: the broker routed it back to this
    /// instance (every instance subscribes to `stores/+/down`). Not a
    /// PUBACK: rumqttc does not tie one to its publish, and with a clean
    /// session it drops what it had queued when the connection drops
    /// (commands answered 202 and then lost, issue #25). A copy is
    /// published again until the broker routes one back; the store applies
    /// a command id once. Not routed back within [`CONFIRM_WITHIN`]: 503
    /// with the command id, to send again under `Idempotency-Key`.
    async fn send(
        &self,
        store: StoreId,
        command: Command,
        key: Option<String>,
    ) -> Result<Response, HqError> {
        // A store that never connected has no session at the broker: the
        // broker would drop the command instead of keeping it for it.
        if self.shared.fleet.get(store.as_str()).is_none() {
            return Err(HqError::NotFound(format!(
                "store {store} is unknown: it has never connected to the cloud broker, so the broker would not keep a command for it"
            )));
        }
        let digest = crate::fleet::digest(&command);
        if let Some(rec) = key.as_deref().and_then(|k| self.shared.commands.get(k)) {
            if rec.store_id != store.as_str() || rec.digest.is_some_and(|d| d != digest) {
                return Err(HqError::Conflict(format!(
                    "Idempotency-Key {}: already names another command (to store {}); use a new key for a new command",
                    rec.command_id, rec.store_id
                )));
            }
            // Sent before, and the broker has it: the same answer again.
            return Ok(accepted(&store, &rec.command_id, rec.hq_seq, rec.status));
        }
        if !self.shared.broker_up.load(Ordering::Acquire) {
            return Err(HqError::Unavailable(
                "the cloud broker is not connected: the command was not sent; try again".into(),
            ));
        }
        let cmd = DownCommand {
            hq_id: key.unwrap_or_else(|| ulid::Ulid::new().to_string()),
            hq_seq: self.next_seq(),
            command,
        };
        let payload = codec::encode(&cmd);
        let mut echo = self.shared.commands.echo(&cmd.hq_id);
        let deadline = tokio::time::Instant::now() + CONFIRM_WITHIN;
        let mut copies = 0u32;
        let confirmed = loop {
            let publish = self.client.publish(
                topic::sync_down(&store),
                QoS::AtLeastOnce,
                false,
                payload.clone(),
            );
            if !matches!(tokio::time::timeout_at(deadline, publish).await, Ok(Ok(()))) {
                break false;
            }
            copies += 1;
            let wait = (tokio::time::Instant::now() + ECHO_WAIT).min(deadline);
            match tokio::time::timeout_at(wait, &mut echo).await {
                Ok(Ok(())) => break true,
                Ok(Err(_)) => break false,
                Err(_) if tokio::time::Instant::now() >= deadline => break false,
                Err(_) => {
                    self.shared.metrics.commands_republished.inc();
                }
            }
        };
        if !confirmed {
            self.shared.commands.forget_echo(&cmd.hq_id);
            tracing::warn!(store = %store, command_id = cmd.hq_id, copies, "HQ command not confirmed by the broker; answered 503");
            return Err(HqError::Unconfirmed {
                command_id: cmd.hq_id,
            });
        }
        self.shared.metrics.commands_sent.inc();
        tracing::info!(store = %store, command_id = cmd.hq_id, hq_seq = cmd.hq_seq, copies, "HQ command sent");
        Ok(accepted(&store, &cmd.hq_id, cmd.hq_seq, "pending"))
    }
}

/// How long an HQ request waits for the broker to take its command.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(5);
/// How long to wait for the broker to route a copy back before publishing
/// another.
const ECHO_WAIT: Duration = Duration::from_secs(1);

/// 202: the broker holds command `id` for `store`.
fn accepted(store: &StoreId, id: &str, hq_seq: u64, status: &str) -> Response {
    let url = format!("/api/v1/stores/{store}/commands/{id}");
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, url.clone())],
        Json(json!({
            "command_id": id,
            "hq_seq": hq_seq,
            "status": status,
            "status_url": url,
        })),
    )
        .into_response()
}

/// The `Idempotency-Key` header: HQ's id for a command, so that sending it
/// again (after a 503 or a lost answer) applies it once.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, HqError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v.to_str().unwrap_or("");
    if key.is_empty() || key.len() > MAX_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HqError::BadRequest(format!(
            "Idempotency-Key: must be 1 to {MAX_KEY} printable ASCII characters without spaces"
        )));
    }
    Ok(Some(key.to_string()))
}

/// The longest command id a store takes (its inbox's limit).
const MAX_KEY: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    order_id: OrderId,
    order: NewOrder,
    /// `allow` or `none`; absent: the store's own `orders.partial` (and a
    /// command every node release understands).
    #[serde(default)]
    partial: Option<Partial>,
}

async fn create_order(
    State(hq): State<Hq>,
    Path(store): Path<String>,
    headers: HeaderMap,
    body: Result<Json<OrderBody>, JsonRejection>,
) -> Result<Response, HqError> {
    let Json(b) = body?;
    let command = match b.partial {
        None => Command::CreateOrder {
            order_id: b.order_id,
            order: b.order,
        },
        Some(partial) => Command::CreateOrderWithPolicy {
            order_id: b.order_id,
            order: b.order,
            partial,
        },
    };
    hq.send(store_id(&store)?, command, idempotency_key(&headers)?)
        .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: String,
}

async fn cancel(
    State(hq): State<Hq>,
    Path((store, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<CancelBody>, JsonRejection>,
) -> Result<Response, HqError> {
    let Json(b) = body?;
    if b.reason.trim().is_empty() {
        return Err(HqError::BadRequest("reason: must not be empty".into()));
    }
    hq.send(
        store_id(&store)?,
        Command::Cancel {
            order_id: order_id(&id)?,
            reason: b.reason,
            by: "hq".into(),
        },
        idempotency_key(&headers)?,
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogBody {
    items: Vec<CatalogItem>,
    #[serde(default)]
    stock: Vec<SkuQuantity>,
}

async fn catalog(
    State(hq): State<Hq>,
    Path(store): Path<String>,
    headers: HeaderMap,
    body: Result<Json<CatalogBody>, JsonRejection>,
) -> Result<Response, HqError> {
    let Json(b) = body?;
    hq.send(
        store_id(&store)?,
        Command::ImportCatalog {
            items: b.items,
            stock: b.stock,
        },
        idempotency_key(&headers)?,
    )
    .await
}

/// `{"adjust": {"sku", "delta", "reason"}}` or `{"count": [{"sku", "quantity"}]}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum StockBody {
    Adjust {
        sku: String,
        delta: i64,
        reason: String,
    },
    Count(Vec<SkuQuantity>),
}

async fn stock(
    State(hq): State<Hq>,
    Path(store): Path<String>,
    headers: HeaderMap,
    body: Result<Json<StockBody>, JsonRejection>,
) -> Result<Response, HqError> {
    let Json(b) = body?;
    let command = match b {
        StockBody::Adjust { sku, delta, reason } => Command::AdjustStock {
            sku,
            delta,
            reason,
            staff: "hq".into(),
        },
        StockBody::Count(counts) => Command::CountStock {
            counts,
            staff: "hq".into(),
        },
    };
    hq.send(store_id(&store)?, command, idempotency_key(&headers)?)
        .await
}

/// Any command HQ may send (`confirm_payment`, `set_store_open`, …) in
/// the node's JSON form; the store refuses what HQ may not do.
async fn any_command(
    State(hq): State<Hq>,
    Path(store): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Command>, JsonRejection>,
) -> Result<Response, HqError> {
    let Json(c) = body?;
    hq.send(store_id(&store)?, c, idempotency_key(&headers)?)
        .await
}

/// `GET /api/v1/stores/{store}/availability`: what the store can promise
/// of each SKU, as its events said (newest per SKU).
async fn store_availability(
    State(hq): State<Hq>,
    Path(store): Path<String>,
) -> Result<Json<Value>, HqError> {
    let store = store_id(&store)?;
    match hq.shared.view.store(store.as_str()) {
        Some(items) => Ok(Json(json!({ "store_id": store, "items": items }))),
        None => Err(HqError::NotFound(format!(
            "no availability of store {store} yet (it comes with the store's events; POST a request_availability command to ask for all of it)"
        ))),
    }
}

/// `GET /api/v1/availability/{sku}`: one SKU across the fleet.
async fn sku_availability(State(hq): State<Hq>, Path(sku): Path<String>) -> Json<Value> {
    let stores: Vec<Value> = hq
        .shared
        .view
        .sku(&sku)
        .into_iter()
        .map(|(store, a)| {
            json!({
                "store_id": store, "available": a.available, "on_hand": a.on_hand,
                "log_seq": a.log_seq, "time_ms": a.time_ms,
            })
        })
        .collect();
    let total: u64 = stores.iter().filter_map(|s| s["available"].as_u64()).sum();
    Json(json!({ "sku": sku, "available": total, "stores": stores }))
}

async fn command_status(
    State(hq): State<Hq>,
    Path((store, id)): Path<(String, String)>,
) -> Result<Json<Value>, HqError> {
    match hq.shared.commands.get(&id) {
        Some(rec) if rec.store_id == store => {
            let mut v = serde_json::to_value(&rec).unwrap_or_default();
            // What became of the order it sent: taken on, or refused with
            // the code HQ routes on.
            if let Some(o) = rec
                .order_id
                .as_deref()
                .and_then(|o| hq.shared.view.order(&store, o))
            {
                v["order"] = serde_json::to_value(o).unwrap_or_default();
            }
            // What the store applied of an HQ stock snapshot.
            if let Some(s) = rec
                .log_seqs
                .iter()
                .find_map(|seq| hq.shared.view.snapshot(&store, *seq))
            {
                v["stock"] = serde_json::to_value(s).unwrap_or_default();
            }
            Ok(Json(v))
        }
        _ => Err(HqError::NotFound(format!(
            "command {id} of store {store} is unknown to this bridge (it remembers the commands sent since it started)"
        ))),
    }
}

async fn stores(State(hq): State<Hq>) -> Json<Value> {
    Json(json!({ "stores": hq.shared.fleet.all() }))
}

async fn metrics(State(hq): State<Hq>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        hq.shared.metrics.render(),
    )
}

/// The fleet at a glance: offline and lagging stores first.
async fn page(State(hq): State<Hq>) -> Html<String> {
    let mut stores = hq.shared.fleet.all();
    stores.sort_by_key(|s| (s.status.online, std::cmp::Reverse(s.status.backlog_events)));
    let now = now_ms();
    let ago = |ms: u64| -> String {
        let s = now.saturating_sub(ms) / 1000;
        match s {
            0..=59 => format!("{s} s ago"),
            60..=3599 => format!("{} min ago", s / 60),
            _ => format!("{} h ago", s / 3600),
        }
    };
    let online = stores.iter().filter(|s| s.status.online).count();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content="10";
                title { "Fleet — storenode HQ" }
                style { "body{font:16px system-ui,sans-serif;margin:1.5rem}table{border-collapse:collapse}td,th{padding:.35rem .7rem;border-bottom:1px solid #ccc;text-align:left}.off{color:#a40000;font-weight:600}.on{color:#1a5e20}td.n{text-align:right}" }
            }
            body {
                h1 { "Fleet" }
                p { (online) " of " (stores.len()) " stores online · this page refreshes every 10 s" }
                table {
                    thead { tr { th { "Store" } th { "Link" } th { "Last seen" } th { "Log head" } th { "Waiting for HQ" } th { "Oldest waiting" } th { "Open orders" } th { "Late" } th { "Version" } } }
                    tbody {
                        @for s in &stores {
                            tr {
                                td { (s.status.store_id) }
                                @if s.status.online { td class="on" { "online" } } @else { td class="off" { "offline" } }
                                td { (ago(s.seen_ms)) }
                                td class="n" { (s.status.head_seq) }
                                td class="n" { (s.status.backlog_events) }
                                td { @match s.status.oldest_backlog_ms { Some(ms) => { (ms / 1000) " s" } None => { "—" } } }
                                td class="n" { (s.status.open_orders) }
                                td class="n" { (s.status.late_orders) }
                                td { (s.status.version) }
                            }
                        }
                    }
                }
            }
        }
    };
    Html(page.into_string())
}
