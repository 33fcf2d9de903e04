//! HTTP: staff API, health and metrics (axum).
//!
//! Every state-changing endpoint answers 2xx only after the group commit
//! holding its events is flushed.
mod api;
pub mod error;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::metrics::Metrics;
use crate::store::{Store, WriterHandle};
pub use error::AppError;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub writer: WriterHandle,
    pub metrics: Arc<Metrics>,
    pub token: Arc<str>,
    pub started: Instant,
    pub max_body_bytes: usize,
    pub rules: crate::services::commands::Rules,
}

/// The node's HTTP application.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/orders", post(api::create_order).get(api::list_orders))
        .route("/orders/{id}", get(api::get_order))
        .route("/orders/{id}/picked", post(api::mark_picked))
        .route("/orders/{id}/handed-over", post(api::hand_over))
        .route("/orders/{id}/confirm-payment", post(api::confirm_payment))
        .route("/orders/{id}/start-pick", post(api::start_pick))
        .route("/orders/{id}/lines/{line_no}/pick", post(api::pick_item))
        .route("/orders/{id}/lines/{line_no}/short", post(api::short_item))
        .route(
            "/orders/{id}/lines/{line_no}/substitute",
            post(api::substitute_item),
        )
        .route("/orders/{id}/stage", post(api::stage))
        .route("/orders/{id}/check-in", post(api::check_in))
        .route("/orders/{id}/cancel", post(api::cancel))
        .route("/pickup/{code}", get(api::find_by_code))
        .route("/pickup/{code}/check-in", post(api::check_in_by_code))
        .route("/pick-walks", post(api::start_walk))
        .route("/pick-walks/{walk_id}", get(api::get_walk))
        .route("/stock", get(api::list_stock))
        .route("/stock/{sku}", get(api::get_stock))
        .route("/stock/count", post(api::count_stock))
        .route("/stock/adjust", post(api::adjust_stock))
        .route(
            "/catalog/import",
            post(api::import_catalog).layer(DefaultBodyLimit::max(api::IMPORT_MAX_BYTES)),
        )
        .route("/store/open", post(api::set_open))
        .route("/outbox/customer-messages", get(api::customer_outbox))
        .route("/store", get(store_summary))
        .route("/devices", post(api::add_device).get(api::list_devices))
        .route("/dead-letters", get(api::dead_letters))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest("/api/v1", api)
        .fallback(|| async { AppError::NotFound("no such page".into()) })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .with_state(state)
}

async fn healthz(State(s): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "ok",
        "store_id": s.store.store_id().as_str(),
        "log_head": s.store.head(),
        "uptime_s": s.started.elapsed().as_secs(),
    }))
}

async fn metrics(State(s): State<AppState>) -> Response {
    // Gauges read from the store at scrape time.
    for (state, n) in s.store.state_counts() {
        s.metrics.orders(state.name(), n);
    }
    s.metrics.db_bytes.set(s.store.size_on_disk() as i64);
    let d = Dashboard::of(&s.store);
    s.metrics.orders_late.set(d.late.len() as i64);
    s.metrics.skus_out_of_stock.set(d.out_of_stock.len() as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

/// What a store manager looks at: late orders and empty shelves.
struct Dashboard {
    /// Open orders past their promise time and not yet ready.
    late: Vec<crate::domain::Order>,
    /// SKUs with nothing available to promise.
    out_of_stock: Vec<crate::domain::StockItem>,
}

impl Dashboard {
    fn of(store: &Store) -> Self {
        // The index names the few late orders; only those are read.
        let late = store
            .overdue_orders()
            .iter()
            .filter_map(|id| store.order(id).ok().flatten())
            .filter(|o| o.overdue())
            .collect();
        let out_of_stock = store
            .stock_items()
            .into_iter()
            .filter(|i| i.available() <= 0)
            .collect();
        Dashboard { late, out_of_stock }
    }
}

/// `GET /api/v1/store`: the store at a glance — open or closed, orders by
/// state, the late orders (with their promise time), the empty shelves.
async fn store_summary(State(s): State<AppState>) -> Json<serde_json::Value> {
    let d = Dashboard::of(&s.store);
    let states: serde_json::Map<String, serde_json::Value> = s
        .store
        .state_counts()
        .into_iter()
        .map(|(st, n)| (st.name().to_string(), json!(n)))
        .collect();
    let late: Vec<serde_json::Value> = d
        .late
        .iter()
        .map(|o| json!({ "order_id": o.id, "state": o.state, "due_at_ms": o.content.due_at_ms, "customer_name": o.content.customer_name }))
        .collect();
    let empty: Vec<serde_json::Value> = d
        .out_of_stock
        .iter()
        .map(|i| json!({ "sku": i.item.sku, "name": i.item.name, "on_hand": i.on_hand, "reserved": i.reserved }))
        .collect();
    Json(json!({
        "store_id": s.store.store_id().as_str(),
        "site": s.store.site(),
        "orders": states,
        "late": late,
        "out_of_stock": empty,
        "log_head": s.store.head(),
        "cloud_link": "not built (the sync agent is a later issue): everything stays in the store",
    }))
}

async fn require_token(
    State(s): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), s.token.as_bytes()) {
        return Err(AppError::Unauthorized);
    }
    Ok(next.run(req).await)
}

async fn count_requests(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| route_label(p.as_str()))
        .unwrap_or("other");
    let resp = next.run(req).await;
    s.metrics.http(route, resp.status().as_u16());
    resp
}

/// Route labels are a fixed set, so metric cardinality stays bounded.
fn route_label(path: &str) -> &'static str {
    match path {
        "/healthz" => "/healthz",
        "/metrics" => "/metrics",
        "/api/v1/orders" => "/api/v1/orders",
        "/api/v1/orders/{id}" => "/api/v1/orders/{id}",
        "/api/v1/orders/{id}/picked" => "/api/v1/orders/{id}/picked",
        "/api/v1/orders/{id}/handed-over" => "/api/v1/orders/{id}/handed-over",
        "/api/v1/orders/{id}/confirm-payment" => "/api/v1/orders/{id}/confirm-payment",
        "/api/v1/orders/{id}/start-pick" => "/api/v1/orders/{id}/start-pick",
        "/api/v1/orders/{id}/lines/{line_no}/pick" => "/api/v1/orders/{id}/lines/{line_no}/pick",
        "/api/v1/orders/{id}/lines/{line_no}/short" => "/api/v1/orders/{id}/lines/{line_no}/short",
        "/api/v1/orders/{id}/lines/{line_no}/substitute" => {
            "/api/v1/orders/{id}/lines/{line_no}/substitute"
        }
        "/api/v1/orders/{id}/stage" => "/api/v1/orders/{id}/stage",
        "/api/v1/orders/{id}/check-in" => "/api/v1/orders/{id}/check-in",
        "/api/v1/orders/{id}/cancel" => "/api/v1/orders/{id}/cancel",
        "/api/v1/pickup/{code}" => "/api/v1/pickup/{code}",
        "/api/v1/pickup/{code}/check-in" => "/api/v1/pickup/{code}/check-in",
        "/api/v1/pick-walks" => "/api/v1/pick-walks",
        "/api/v1/pick-walks/{walk_id}" => "/api/v1/pick-walks/{walk_id}",
        "/api/v1/stock" => "/api/v1/stock",
        "/api/v1/stock/{sku}" => "/api/v1/stock/{sku}",
        "/api/v1/stock/count" => "/api/v1/stock/count",
        "/api/v1/stock/adjust" => "/api/v1/stock/adjust",
        "/api/v1/catalog/import" => "/api/v1/catalog/import",
        "/api/v1/store/open" => "/api/v1/store/open",
        "/api/v1/store" => "/api/v1/store",
        "/api/v1/outbox/customer-messages" => "/api/v1/outbox/customer-messages",
        "/api/v1/devices" => "/api/v1/devices",
        "/api/v1/dead-letters" => "/api/v1/dead-letters",
        _ => "other",
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
