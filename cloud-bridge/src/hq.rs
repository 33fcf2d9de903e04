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
use axum::http::{header, StatusCode};
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
    Unavailable(String),
}

impl IntoResponse for HqError {
    fn into_response(self) -> Response {
        let status = match &self {
            HqError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HqError::NotFound(_) => StatusCode::NOT_FOUND,
            HqError::Unauthorized => StatusCode::UNAUTHORIZED,
            HqError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
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

    /// Publish `command` to `store` and answer 202 with its id.
    async fn send(&self, store: StoreId, command: Command) -> Result<Response, HqError> {
        // A store that never connected has no session at the broker: the
        // broker would drop the command instead of keeping it for it.
        if self.shared.fleet.get(store.as_str()).is_none() {
            return Err(HqError::NotFound(format!(
                "store {store} is unknown: it has never connected to the cloud broker, so the broker would not keep a command for it"
            )));
        }
        let cmd = DownCommand {
            hq_id: ulid::Ulid::new().to_string(),
            hq_seq: self.next_seq(),
            command,
        };
        let publish = self.client.publish(
            topic::sync_down(&store),
            QoS::AtLeastOnce,
            false,
            codec::encode(&cmd),
        );
        match tokio::time::timeout(Duration::from_secs(5), publish).await {
            Ok(Ok(())) => {}
            _ => {
                return Err(HqError::Unavailable(
                    "the cloud broker connection is not taking messages; try again".into(),
                ))
            }
        }
        self.shared.metrics.commands_sent.inc();
        self.shared.commands.sent(&store, &cmd);
        tracing::info!(store = %store, command_id = cmd.hq_id, hq_seq = cmd.hq_seq, "HQ command sent");
        let url = format!("/api/v1/stores/{store}/commands/{}", cmd.hq_id);
        Ok((
            StatusCode::ACCEPTED,
            [(header::LOCATION, url.clone())],
            Json(json!({
                "command_id": cmd.hq_id,
                "hq_seq": cmd.hq_seq,
                "status": "pending",
                "status_url": url,
            })),
        )
            .into_response())
    }
}

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
    hq.send(store_id(&store)?, command).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: String,
}

async fn cancel(
    State(hq): State<Hq>,
    Path((store, id)): Path<(String, String)>,
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
    body: Result<Json<CatalogBody>, JsonRejection>,
) -> Result<Response, HqError> {
    let Json(b) = body?;
    hq.send(
        store_id(&store)?,
        Command::ImportCatalog {
            items: b.items,
            stock: b.stock,
        },
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
    hq.send(store_id(&store)?, command).await
}

/// Any command HQ may send (`confirm_payment`, `set_store_open`, …) in
/// the node's JSON form; the store refuses what HQ may not do.
async fn any_command(
    State(hq): State<Hq>,
    Path(store): Path<String>,
    body: Result<Json<Command>, JsonRejection>,
) -> Result<Response, HqError> {
    let Json(c) = body?;
    hq.send(store_id(&store)?, c).await
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
