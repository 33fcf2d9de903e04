//! HTTP: the staff pages, the JSON API, the live feed, health and metrics
//! (axum).
//!
//! - `pages/`: server-rendered HTML for pickers, the pickup desk and the
//!   manager, working with a staff login (`auth`), a little embedded
//!   script (`assets/`), and the texts of one catalog (`crate::i18n`).
//! - `api/`: `/api/v1`, for the API token or a staff login.
//! - `live`: server-sent events from the log's live feed.
//!
//! Every state-changing request answers 2xx (or, for a page, its "done")
//! only after the group commit holding its events is flushed. No business
//! rule lives here: handlers build commands for `services::commands`, and
//! read through `read`.
pub mod api;
pub mod assets;
pub mod auth;
pub mod error;
pub mod live;
pub mod pages;
pub mod serve;
pub mod time;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::domain::inventory::PickupTimes;
use crate::metrics::Metrics;
use crate::read::dashboard::TodayCache;
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
    pub sessions: Arc<auth::Sessions>,
    pub messages: crate::i18n::Messages,
    pub clock: time::StoreClock,
    pub live: live::Live,
    pub today: Arc<TodayCache>,
    /// The pickup window from the configuration (a store may set its own).
    pub pickup_default: PickupTimes,
    /// Whether pages are served over TLS (cookies get `Secure`).
    pub tls: bool,
    /// Messages waiting to be shown once after a redirect.
    pub flashes: Arc<pages::Flashes>,
    /// The cloud link's state.
    pub sync: Arc<crate::sync::SyncStatus>,
    /// DNS names this node answers to besides IP addresses, `localhost`
    /// and `*.local` (`http.hostnames`).
    pub hostnames: Arc<[String]>,
    /// `/metrics` without the API token (`http.metrics_open`).
    pub metrics_open: bool,
    /// The device CA (it issues each new device's certificate).
    pub ca: Arc<crate::pki::NodeCa>,
    /// The TLS device listener, for the bundles' "how to connect".
    pub device_broker: Option<std::net::SocketAddr>,
    /// The broker's listeners, which `/readyz` connects to.
    pub broker_listeners: Arc<[std::net::SocketAddr]>,
    /// The data directory (backups read its secrets).
    pub data_dir: Arc<std::path::Path>,
}

impl AppState {
    /// The pickup window in force.
    pub fn pickup_times(&self) -> PickupTimes {
        self.store.site().pickup_times(self.pickup_default)
    }
}

/// The node's HTTP application.
pub fn app(state: AppState) -> Router {
    use api::{admin, orders, picking, pickup, staff, stock, till};
    let api = Router::new()
        .route(
            "/orders",
            post(orders::create_order).get(orders::list_orders),
        )
        .route("/orders/{id}", get(orders::get_order))
        .route("/orders/{id}/picked", post(picking::mark_picked))
        .route("/orders/{id}/handed-over", post(pickup::hand_over))
        .route(
            "/orders/{id}/confirm-payment",
            post(orders::confirm_payment),
        )
        .route("/orders/{id}/start-pick", post(picking::start_pick))
        .route(
            "/orders/{id}/lines/{line_no}/pick",
            post(picking::pick_item),
        )
        .route(
            "/orders/{id}/lines/{line_no}/short",
            post(picking::short_item),
        )
        .route(
            "/orders/{id}/lines/{line_no}/substitute",
            post(picking::substitute_item),
        )
        .route("/orders/{id}/stage", post(pickup::stage))
        .route("/orders/{id}/check-in", post(pickup::check_in))
        .route("/orders/{id}/cancel", post(orders::cancel))
        .route("/pickup/{code}", get(pickup::find_by_code))
        .route("/pickup/{code}/check-in", post(pickup::check_in_by_code))
        .route("/pick-queue", get(picking::pick_queue))
        .route("/pick-walks", post(picking::start_walk))
        .route("/pick-walks/{walk_id}", get(picking::get_walk))
        .route("/stock", get(stock::list_stock))
        .route("/stock/{sku}", get(stock::get_stock))
        .route("/stock/count", post(stock::count_stock))
        .route("/stock/adjust", post(stock::adjust_stock))
        .route("/stock/safety", post(stock::set_safety))
        .route("/stock/write-off", post(stock::write_off))
        .route("/stock/snapshot", post(stock::snapshot))
        .route("/till/receipts", post(till::post_receipt))
        .route(
            "/deliveries",
            get(stock::list_deliveries).post(stock::receive_delivery),
        )
        .route("/deliveries/announce", post(stock::announce_delivery))
        .route(
            "/count-tasks",
            get(stock::list_count_tasks).post(stock::open_count_task),
        )
        .route("/count-tasks/{id}/count", post(stock::record_count))
        .route("/count-tasks/{id}/approve", post(stock::approve_count))
        .route("/count-tasks/{id}/cancel", post(stock::cancel_count))
        .route("/orders/{id}/reject", post(orders::reject))
        .route(
            "/catalog/import",
            post(stock::import_catalog).layer(DefaultBodyLimit::max(stock::IMPORT_MAX_BYTES)),
        )
        .route("/store/open", post(admin::set_open))
        .route("/store/pickup-times", post(admin::set_pickup_times))
        .route("/outbox/customer-messages", get(admin::customer_outbox))
        .route("/store", get(admin::store_summary))
        .route("/sync", get(admin::sync))
        .route("/audit", get(admin::audit))
        .route("/devices", post(admin::add_device).get(admin::list_devices))
        .route("/devices/{name}", delete(admin::remove_device))
        .route("/staff", post(staff::create).get(staff::list))
        .route("/staff/{id}/role", post(staff::set_role))
        .route("/staff/{id}/disable", post(staff::disable))
        .route("/staff/{id}/enable", post(staff::enable))
        .route("/staff/{id}/pin", post(staff::reset_pin))
        .route("/dead-letters", get(admin::dead_letters))
        .route("/backup", get(admin::backup))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::api_auth,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/ca.pem", get(ca_pem))
        .route("/metrics", get(metrics))
        .nest("/api/v1", api)
        .merge(pages::routes())
        .route("/live", get(live::stream))
        .route("/assets/{name}", get(assets::serve))
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), check_host))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .with_state(state)
}

/// Answer only to this node's own names. A page on the internet can point
/// a DNS name of its own at the node's LAN address (DNS rebinding) and then
/// read whatever the node serves without a login; such a request carries
/// that foreign name in `Host`. IP addresses, `localhost`, `*.local` (mDNS)
/// and `http.hostnames` are the node's.
async fn check_host(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if host_is_ours(host, &s.hostnames) {
        return next.run(req).await;
    }
    tracing::warn!(
        host,
        "request for a host name this node does not answer to; refused"
    );
    (
        axum::http::StatusCode::MISDIRECTED_REQUEST,
        Json(json!({
            "error": "unknown_host",
            "message": format!("this node does not answer to {host:?}: use its address, or add the name to http.hostnames"),
        })),
    )
        .into_response()
}

/// Whether `host` (a `Host` header: name or address, maybe with a port)
/// names this node.
pub(crate) fn host_is_ours(host: &str, names: &[String]) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest
            .split(']')
            .next()
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
    } else {
        host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    !name.is_empty()
        && (name.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".local")
            || names.iter().any(|n| n.eq_ignore_ascii_case(&name)))
}

/// Run store reads (or other blocking work) on the blocking pool, off the
/// async workers; a task that died is an internal error.
pub(crate) async fn blocking<T, E>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, AppError>
where
    T: Send + 'static,
    E: Into<AppError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(Into::into)
}

/// `GET /ca.pem`: the node's CA certificate, open to all (it is public):
/// staff devices install it to trust the pages over HTTPS
/// (`http.tls = node-ca`), integrators to trust the device broker.
async fn ca_pem(State(s): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/x-pem-file"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"storenode-ca.pem\"",
            ),
        ],
        s.ca.ca_pem().to_string(),
    )
}

async fn healthz(State(s): State<AppState>) -> Json<serde_json::Value> {
    // Alive either way; `writable` says whether new work is accepted.
    let trouble = s.store.disk().and_then(|d| d.check());
    Json(json!({
        "status": "ok",
        "store_id": s.store.store_id().as_str(),
        "log_head": s.store.head(),
        "uptime_s": s.started.elapsed().as_secs(),
        "writable": trouble.is_none(),
        "disk": trouble.map(|t| t.to_string()),
    }))
}

/// `GET /readyz`: 200 when the node can take work — the broker's
/// listeners accept connections, the store writer runs, the disk takes
/// writes and every service runs; otherwise 503 with what failed. The
/// cloud link is reported but does not count: offline is normal work.
async fn readyz(State(s): State<AppState>) -> Response {
    let mut failing = Vec::new();
    let mut broker = Vec::new();
    for addr in s.broker_listeners.iter() {
        let connect = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            tokio::net::TcpStream::connect(addr),
        )
        .await;
        let ok = matches!(connect, Ok(Ok(_)));
        if !ok {
            failing.push(format!(
                "broker listener {addr} does not accept connections"
            ));
        }
        broker.push(json!({"listener": addr.to_string(), "ok": ok}));
    }
    let writer = s.writer.is_running();
    if !writer {
        failing
            .push("the store writer stopped (a write to the disk failed): restart the node".into());
    }
    let disk = s.store.disk().and_then(|d| d.check());
    if let Some(t) = &disk {
        failing.push(t.to_string());
    }
    let down = s.metrics.services_down();
    for d in &down {
        failing.push(format!("service {d} failed and is waiting to restart"));
    }
    let ready = failing.is_empty();
    let link = s.sync.link();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "store_id": s.store.store_id().as_str(),
        "failing": failing,
        "broker": broker,
        "writer": writer,
        "writable": disk.is_none(),
        "services": s.metrics.services(),
        "services_down": down,
        "cloud": {"configured": link.configured, "online": link.online},
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET /metrics`: with the API token as bearer (Prometheus:
/// `authorization: {credentials_file: …/api-token}`), unless
/// `http.metrics_open`. Business counts are not for everyone on the LAN.
async fn metrics(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let allowed = s.metrics_open
        || bearer.is_some_and(|t| crate::secret_eq(t.as_bytes(), s.token.as_bytes()));
    if !allowed {
        return AppError::Unauthorized.into_response();
    }
    // Gauges read from the store at scrape time.
    for (state, n) in s.store.state_counts() {
        s.metrics.orders(state.name(), n);
    }
    s.metrics.db_bytes.set(s.store.size_on_disk() as i64);
    s.metrics.writer_queue.set(s.writer.queued() as i64);
    if let Some(d) = s.store.disk() {
        let trouble = d.check();
        s.metrics.disk_writable.set(i64::from(trouble.is_none()));
        s.metrics
            .disk_free_bytes
            .set(i64::try_from(d.free_bytes()).unwrap_or(i64::MAX));
    }
    s.metrics.clock(s.store.clock());
    s.metrics
        .orders_late
        .set(s.store.overdue_orders().len() as i64);
    s.metrics
        .skus_out_of_stock
        .set(crate::read::dashboard::out_of_stock(&s.store).len() as i64);
    let items = s.store.stock_items();
    s.metrics
        .skus_short_for_orders
        .set(items.iter().filter(|i| i.short_for_orders()).count() as i64);
    s.metrics.count_tasks_open.set(
        s.store
            .count_tasks()
            .map(|t| t.iter().filter(|t| t.state.is_open()).count())
            .unwrap_or(0) as i64,
    );
    s.metrics
        .staff_locked
        .set(s.sessions.lockouts.locked_count(crate::store::now_ms()) as i64);
    s.metrics
        .staff_sessions
        .set(s.store.sessions().map(|v| v.len()).unwrap_or(0) as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

async fn count_requests(State(s): State<AppState>, req: Request, next: Next) -> Response {
    // Route templates are a fixed set, so metric cardinality stays bounded.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_string(), |p| p.as_str().to_string());
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    tracing::debug!(%method, route, status, micros = started.elapsed().as_micros() as u64, "http request");
    s.metrics.http(route, status);
    resp
}

/// Headers for every answer: nothing from elsewhere may run or frame the
/// pages; pages are not cached (they hold orders and names).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

#[cfg(test)]
mod host_tests {
    use super::host_is_ours;

    #[test]
    fn only_the_nodes_own_names() {
        let names = vec!["node.store42.example".to_string()];
        for ok in [
            "127.0.0.1:8080",
            "192.168.1.20",
            "[::1]:8080",
            "localhost:8080",
            "backroom.local",
            "Node.Store42.Example:8080",
            "node.store42.example.",
        ] {
            assert!(host_is_ours(ok, &names), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "",
            "127.0.0.1.evil.example",
            "[evil]:80",
        ] {
            assert!(!host_is_ours(bad, &names), "{bad}");
        }
    }
}
