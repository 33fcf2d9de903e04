//! The staff pages: server-rendered HTML (maud), one module per area,
//! each with its handlers and its markup side by side.
//!
//! Every page needs a staff login ([`Staff`]); every form posts with the
//! session's CSRF token from this host ([`PageForm`]). An action answers a
//! plain form post with a redirect back (and a message shown once), and
//! the page's script (`assets/app.js`) with JSON it shows in place — so the
//! pages work without script too, only less smoothly.
pub mod counts;
pub mod desk;
pub mod login;
pub mod manager;
pub mod order;
pub mod pick;
pub mod stock;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use maud::{html, Markup, DOCTYPE};
use protocol::{Role, Zone};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::auth::{csrf_header_ok, same_origin, Caller, Session};
use super::{AppError, AppState};
use crate::domain::permissions::{self, Routes, Who};
use crate::domain::{OrderState, Rejection};
use crate::i18n::Messages;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/pick", get(pick::queue))
        .route("/pick/claim", post(pick::claim))
        .route("/pick/batch", post(pick::batch))
        .route("/pick/order/{id}", get(pick::order_walk))
        .route("/pick/walk/{walk}", get(pick::batch_walk))
        .route("/pick/scan", post(pick::scan))
        .route("/pick/short", post(pick::short))
        .route("/pick/substitute", post(pick::substitute))
        .route("/pick/stage", post(pick::stage))
        .route("/desk", get(desk::page))
        .route("/desk/hand-over", post(desk::hand_over))
        .route("/desk/check-in", post(desk::check_in))
        .route("/orders/{id}", get(order::page))
        .route("/orders/{id}/cancel", post(order::cancel))
        .route("/orders/{id}/reject", post(order::reject))
        .route("/counts", get(counts::page))
        .route("/counts/count", post(counts::count))
        .route("/counts/approve", post(counts::approve))
        .route("/counts/cancel", post(counts::cancel))
        .route("/stock/count-task", post(counts::ask))
        .route("/stock", get(stock::page))
        .route("/stock/count", post(stock::count))
        .route("/stock/adjust", post(stock::adjust))
        .route("/manager", get(manager::dashboard))
        .route("/manager/open", post(manager::set_open))
        .route("/manager/staff", get(manager::staff))
        .route("/manager/staff/add", post(manager::staff_add))
        .route("/manager/staff/change", post(manager::staff_change))
        .route("/manager/lockouts/unlock", post(manager::unlock))
        .route("/manager/devices", get(manager::devices))
        .route("/manager/devices/add", post(manager::device_add))
        .route("/manager/devices/remove", post(manager::device_remove))
        .route(
            "/manager/settings",
            get(manager::settings).post(manager::settings_save),
        )
        .route("/manager/audit", get(manager::audit))
}

/// `/`: the logged-in member's own start page.
async fn home(staff: Staff) -> Redirect {
    Redirect::to(start_page(staff.0.member.role))
}

/// Where each role starts.
pub fn start_page(role: Role) -> &'static str {
    match role {
        Role::Picker => "/pick",
        Role::Desk => "/desk",
        Role::Manager => "/manager",
    }
}

/// A page nobody has.
pub async fn not_found(s: axum::extract::State<AppState>, headers: HeaderMap) -> Response {
    if headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
    {
        let m = &s.messages;
        let body = html! {
            h1 { (m.t("error.not_found.title")) }
            p { (m.t("error.not_found.text")) }
            p { a href="/" { (m.t("error.go_home")) } }
        };
        return (
            StatusCode::NOT_FOUND,
            bare(m, m.t("error.not_found.title"), body),
        )
            .into_response();
    }
    AppError::NotFound("no such page".into()).into_response()
}

/// Whether the page's script sent this request (it wants JSON back).
pub fn is_fetch(headers: &HeaderMap) -> bool {
    headers
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes() == b"fetch")
}

/// The logged-in staff member of a page request; without a login the
/// browser is sent to the login page (and back here afterwards).
pub struct Staff(pub Session);

impl Staff {
    /// Refuse a member whose role may not open `routes` (the permission
    /// table, `domain::permissions`).
    pub(crate) fn require(&self, s: &AppState, routes: Routes) -> Result<(), PageError> {
        if self.may_open(routes) {
            Ok(())
        } else {
            let needed = permissions::role_needed(routes);
            Err(PageError::Forbidden {
                message: s.messages.f(
                    "error.role",
                    &[
                        ("needed", &s.messages.t(role_key(needed))),
                        ("role", &s.messages.t(role_key(self.0.member.role))),
                    ],
                ),
            })
        }
    }

    /// Whether the member's role may open `routes` (also what decides
    /// which links and buttons a page shows).
    pub(crate) fn may_open(&self, routes: Routes) -> bool {
        permissions::may_open(Who::Staff(self.0.member.role), routes)
    }

    pub fn caller(&self) -> Caller {
        Caller {
            principal: self.0.principal(),
            session: Some(self.0.clone()),
        }
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, PageError> {
        match s.sessions.lookup(&parts.headers) {
            Some(session) => Ok(Staff(session)),
            None => Err(PageError::Login {
                next: parts
                    .uri
                    .path_and_query()
                    .map_or("/".into(), |p| p.as_str().to_string()),
                fetch: is_fetch(&parts.headers),
            }),
        }
    }
}

/// A posted form, from a page of this host, with the session's CSRF token.
pub struct PageForm<T> {
    pub staff: Staff,
    pub form: T,
    pub fetch: bool,
    /// Every field as sent (for repeated ones, such as ticked boxes).
    pub pairs: Vec<(String, String)>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let staff = Staff::from_request_parts(&mut parts, s).await?;
        let fetch = is_fetch(&parts.headers);
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), s)
            .await
            .map_err(|_| PageError::BadForm {
                message: s.messages.t("error.form").to_string(),
                fetch,
            })?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadForm {
                message: s.messages.t("error.form").to_string(),
                fetch,
            })?;
        let token_ok = pairs.iter().any(|(k, v)| {
            k == "_csrf"
                && super::auth::constant_time_eq(v.as_bytes(), staff.0.record.csrf.as_bytes())
        }) || csrf_header_ok(&parts.headers, &staff.0);
        if !token_ok || !same_origin(&parts.headers) {
            s.metrics.csrf_refused();
            tracing::warn!(staff = %staff.0.member.id, path = %parts.uri.path(), "form refused: no valid CSRF token or a foreign origin");
            return Err(PageError::Forbidden {
                message: s.messages.t("error.csrf").to_string(),
            });
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| PageError::BadForm {
            message: format!("{} ({e})", s.messages.t("error.form")),
            fetch,
        })?;
        Ok(PageForm {
            staff,
            form,
            fetch,
            pairs,
        })
    }
}

/// Why a page cannot be shown.
#[derive(Debug)]
pub enum PageError {
    /// Not logged in: to the login page, then back to `next`.
    Login {
        next: String,
        fetch: bool,
    },
    /// Logged in, but the role may not (or the form was not ours).
    Forbidden {
        message: String,
    },
    BadForm {
        message: String,
        fetch: bool,
    },
    NotFound {
        message: String,
    },
    /// The node could not answer (shutting down, disk).
    Failed(AppError),
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError::Failed(e)
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> Self {
        PageError::Failed(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            PageError::Login { next, fetch } => {
                if fetch {
                    return (
                        StatusCode::UNAUTHORIZED,
                        Json(json!({ "ok": false, "go": "/login" })),
                    )
                        .into_response();
                }
                let next = if safe_next(&next) { next } else { "/".into() };
                let target = format!("/login?next={}", urlencode(&next));
                return Redirect::to(&target).into_response();
            }
            PageError::Forbidden { message } => (StatusCode::FORBIDDEN, message),
            PageError::BadForm { message, fetch } => {
                if fetch {
                    return (
                        StatusCode::BAD_REQUEST,
                        Json(json!({ "ok": false, "message": message })),
                    )
                        .into_response();
                }
                (StatusCode::BAD_REQUEST, message)
            }
            PageError::NotFound { message } => (StatusCode::NOT_FOUND, message),
            PageError::Failed(e) => return e.into_response(),
        };
        // A bare page: the error is the whole message.
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>storenode</title><link rel=\"stylesheet\" href=\"{}\"></head><body><main id=\"main\" class=\"narrow\"><h1>storenode</h1><p class=\"result bad\" role=\"alert\">{}</p><p><a href=\"/\">&#8592; /</a></p></main></body></html>",
            super::assets::css_url(),
            html! { (text) }.into_string()
        );
        (status, Html(page)).into_response()
    }
}

/// Only a local path may be a redirect target (no `//host`, no scheme).
pub fn safe_next(next: &str) -> bool {
    next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && next.len() < 500
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|t| t.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

// ---- messages shown once, after a redirect ----

/// What an action said, shown on the next page the member opens.
#[derive(Debug, Clone)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

/// A session's waiting message, and the order they came in (oldest first).
type FlashQueue = (HashMap<[u8; 32], Flash>, VecDeque<[u8; 32]>);

/// Messages waiting for their page, per session (bounded).
#[derive(Default)]
pub struct Flashes(Mutex<FlashQueue>);

const MAX_FLASHES: usize = 2_000;

impl Flashes {
    pub fn put(&self, session: &Session, flash: Flash) {
        if let Ok(mut g) = self.0.lock() {
            let (map, order) = &mut *g;
            if map.insert(session.token_hash, flash).is_none() {
                order.push_back(session.token_hash);
            }
            while order.len() > MAX_FLASHES {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }

    pub fn take(&self, session: &Session) -> Option<Flash> {
        let mut g = self.0.lock().ok()?;
        let (map, order) = &mut *g;
        let f = map.remove(&session.token_hash)?;
        order.retain(|k| *k != session.token_hash);
        Some(f)
    }
}

/// The answer to a page action: JSON for the page's script, else a
/// redirect back with the message kept for the next page.
pub struct Done {
    pub ok: bool,
    pub message: String,
    /// Where to go (the script follows it too).
    pub go: String,
    /// Page regions the script replaces in place: (region name, HTML).
    pub regions: Vec<(&'static str, String)>,
}

impl Done {
    /// An action's outcome, with no regions: its message on success (then
    /// to `ok_go`), the refusal on failure (then to `err_go`).
    pub fn after(
        result: Result<String, String>,
        ok_go: impl Into<String>,
        err_go: impl Into<String>,
    ) -> Done {
        match result {
            Ok(message) => Done {
                ok: true,
                message,
                go: ok_go.into(),
                regions: vec![],
            },
            Err(message) => Done {
                ok: false,
                message,
                go: err_go.into(),
                regions: vec![],
            },
        }
    }

    pub fn respond(self, s: &AppState, staff: &Staff, fetch: bool) -> Response {
        if fetch {
            let regions: serde_json::Map<String, serde_json::Value> = self
                .regions
                .into_iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            let status = if self.ok {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            return (
                status,
                Json(json!({ "ok": self.ok, "message": self.message, "go": self.go, "regions": regions })),
            )
                .into_response();
        }
        if !self.message.is_empty() {
            s.flashes.put(
                &staff.0,
                Flash {
                    ok: self.ok,
                    text: self.message,
                },
            );
        }
        let go = if safe_next(&self.go) {
            self.go
        } else {
            "/".into()
        };
        Redirect::to(&go).into_response()
    }
}

// ---- words ----

pub fn role_key(role: Role) -> &'static str {
    match role {
        Role::Picker => "role.picker",
        Role::Desk => "role.desk",
        Role::Manager => "role.manager",
    }
}

pub fn state_key(state: OrderState) -> &'static str {
    match state {
        OrderState::Created => "state.created",
        OrderState::Accepted => "state.accepted",
        OrderState::Rejected => "state.rejected",
        OrderState::Processed => "state.processed",
        OrderState::Prepared => "state.prepared",
        OrderState::Picking => "state.picking",
        OrderState::Picked => "state.picked",
        OrderState::Staged => "state.staged",
        OrderState::Ready => "state.ready",
        OrderState::Fulfilled => "state.fulfilled",
        OrderState::Cancelled => "state.cancelled",
        OrderState::Expired => "state.expired",
    }
}

pub fn slot_key(kind: protocol::SlotKind) -> &'static str {
    match kind {
        protocol::SlotKind::Shelf => "slot.shelf",
        protocol::SlotKind::ColdStorage => "slot.cold_storage",
        protocol::SlotKind::Freezer => "slot.freezer",
        protocol::SlotKind::Locker => "slot.locker",
    }
}

pub fn short_reason_key(r: protocol::ShortReason) -> &'static str {
    match r {
        protocol::ShortReason::NotFound => "short.reason.not_found",
        protocol::ShortReason::Damaged => "short.reason.damaged",
        protocol::ShortReason::OutOfDate => "short.reason.out_of_date",
        protocol::ShortReason::Other => "short.reason.other",
    }
}

/// A refusal in the staff's words: the catalog's text for the refusals
/// people meet on the floor, the rule's own words otherwise.
pub fn refusal(m: &Messages, r: &Rejection) -> String {
    match r {
        Rejection::WrongBarcode {
            scanned,
            found,
            line_no,
            wanted,
        } => m.f(
            "refused.wrong_barcode",
            &[
                ("scanned", scanned),
                ("found", found),
                ("line", line_no),
                ("wanted", wanted),
            ],
        ),
        Rejection::NotOnPickList { item } => m.f("refused.not_on_list", &[("item", item)]),
        Rejection::UnknownBarcode(code) => m.f("refused.unknown_barcode", &[("code", code)]),
        Rejection::UnknownOrder(id) => m.f("refused.unknown_order", &[("order", id)]),
        Rejection::WrongState { state, .. } => {
            m.f("refused.wrong_state", &[("state", &m.t(state_key(*state)))])
        }
        Rejection::LineSettled { line_no, .. } => m.f("refused.line_settled", &[("line", line_no)]),
        Rejection::TooMany { open, .. } => m.f("refused.too_many", &[("open", open)]),
        Rejection::NoSubstitution(line) => m.f("refused.no_substitution", &[("line", line)]),
        Rejection::UnknownCode(code) => m.f("refused.unknown_code", &[("code", code)]),
        Rejection::LastManager => m.t("refused.last_manager").to_string(),
        Rejection::StaffExists(id) => m.f("refused.staff_exists", &[("id", id)]),
        Rejection::UnknownStaff(id) => m.f("refused.unknown_staff", &[("id", id)]),
        Rejection::CodeMismatch => m.t("refused.code_mismatch").to_string(),
        Rejection::IdCheckNeeded => m.t("refused.id_check").to_string(),
        Rejection::StagingTooWarm {
            zone: protocol::Zone::Frozen,
        } => m.t("refused.staging_frozen").to_string(),
        Rejection::StagingTooWarm { .. } => m.t("refused.staging_chilled").to_string(),
        other => other.to_string(),
    }
}

/// An API-level error (a role refusal, a bad field, the domain's
/// refusal) in the staff's words.
pub fn error_text(m: &Messages, e: &AppError) -> String {
    match e {
        AppError::Rejected(r) => refusal(m, r),
        AppError::Unavailable => m.t("error.unavailable").to_string(),
        AppError::Disk(t) => disk_text(m, *t).to_string(),
        other => other.to_string(),
    }
}

/// Why nothing new can be saved, in the staff's words.
fn disk_text(m: &Messages, t: crate::store::disk::DiskTrouble) -> &str {
    match t {
        crate::store::disk::DiskTrouble::Full { .. } => m.t("error.disk_full"),
        crate::store::disk::DiskTrouble::ReadOnly => m.t("error.disk_read_only"),
    }
}

// ---- layout ----

/// Which live channels a page follows, and for which orders.
#[derive(Default)]
pub struct Live<'a> {
    pub channels: &'a [&'a str],
    pub orders: Vec<String>,
}

/// A full page for a logged-in member.
pub fn layout(
    s: &AppState,
    staff: &Staff,
    title: &str,
    current: &str,
    live: Live<'_>,
    body: Markup,
) -> Response {
    let m = &s.messages;
    let member = &staff.0.member;
    let flash = s.flashes.take(&staff.0);
    let nav: Vec<(&str, &str, bool)> = vec![
        ("/pick", m.t("nav.pick"), staff.may_open(Routes::PickPages)),
        ("/desk", m.t("nav.desk"), staff.may_open(Routes::DeskPages)),
        ("/stock", m.t("nav.stock"), true),
        (
            "/counts",
            m.t("nav.counts"),
            staff.may_open(Routes::CountPages),
        ),
        (
            "/manager",
            m.t("nav.manager"),
            staff.may_open(Routes::ManagerPages),
        ),
    ];
    let page = html! {
        (DOCTYPE)
        html lang=(m.language().tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf" content=(staff.0.record.csrf);
                meta name="live" content=(live.channels.join(","));
                meta name="live-orders" content=(live.orders.join(","));
                meta name="msg-lost" content=(m.t("live.lost"));
                title { (title) " · storenode" }
                link rel="stylesheet" href=(super::assets::css_url());
                script src=(super::assets::js_url()) defer {}
            }
            body {
                a class="skip" href="#main" { (m.t("nav.skip")) }
                header class="top" {
                    nav aria-label=(m.t("nav.label")) {
                        @for (href, text, shown) in &nav {
                            @if *shown {
                                a href=(href) aria-current=[(*href == current).then_some("page")] { (text) }
                            }
                        }
                    }
                    div class="who" {
                        span { (member.name) " · " (m.t(role_key(member.role))) }
                        form method="post" action="/logout" {
                            input type="hidden" name="_csrf" value=(staff.0.record.csrf);
                            button class="link" type="submit" { (m.t("nav.logout")) }
                        }
                    }
                }
                div id="conn" class="conn" role="status" aria-live="polite" hidden { (m.t("live.lost")) }
                @if let Some(t) = s.store.disk().and_then(|d| d.trouble()) {
                    div id="disk" class="conn" role="alert" { (disk_text(m, t)) }
                }
                main id="main" {
                    div id="result" class="result-slot" role="status" aria-live="assertive" {
                        @if let Some(f) = flash {
                            p class=(if f.ok { "result ok" } else { "result bad" }) { (f.text) }
                        }
                    }
                    (body)
                }
            }
        }
    };
    Html(page.into_string()).into_response()
}

/// A page without a login (the login page itself).
pub fn bare(m: &Messages, title: &str, body: Markup) -> Response {
    let page = html! {
        (DOCTYPE)
        html lang=(m.language().tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · storenode" }
                link rel="stylesheet" href=(super::assets::css_url());
                script src=(super::assets::js_url()) defer {}
            }
            body {
                main id="main" class="narrow" { (body) }
            }
        }
    };
    Html(page.into_string()).into_response()
}

/// The hidden CSRF field every form carries.
pub fn csrf(staff: &Staff) -> Markup {
    html! { input type="hidden" name="_csrf" value=(staff.0.record.csrf); }
}

/// A zone badge (nothing for ambient).
pub fn zone_badge(m: &Messages, zone: Zone) -> Markup {
    html! {
        @match zone {
            Zone::Ambient => {},
            Zone::Chilled => span class="badge chilled" { (m.t("zone.chilled")) },
            Zone::Frozen => span class="badge frozen" { (m.t("zone.frozen")) },
        }
    }
}

/// An order state, as a coloured chip.
pub fn state_chip(m: &Messages, state: OrderState) -> Markup {
    html! { span class={"chip state-" (state.name())} { (m.t(state_key(state))) } }
}

/// A `<time>` that the page's script keeps counting ("waiting 5 min").
pub fn since(ms: u64) -> Markup {
    let now = crate::store::now_ms();
    html! {
        time class="since" datetime=(super::time::StoreClock::iso(ms)) data-ms=(ms) {
            (super::time::minutes_text(now.saturating_sub(ms)))
        }
    }
}

/// A location as the picker reads it.
pub fn location(m: &Messages, l: &protocol::Location) -> String {
    m.f(
        "pick.location",
        &[("aisle", &l.aisle), ("bay", &l.bay), ("shelf", &l.shelf)],
    )
}

/// Decide a command for the logged-in member, like every other door: the
/// order as it now is, or the refusal in the member's words.
pub async fn run(
    s: &AppState,
    staff: &Staff,
    command: protocol::Command,
) -> Result<Option<crate::domain::Order>, String> {
    let m = &s.messages;
    let caller = staff.caller();
    let req = super::api::request(command, &caller, s).map_err(|e| error_text(m, &e))?;
    let written = s
        .writer
        .write(req)
        .await
        .map_err(|e| error_text(m, &AppError::from(e)))?;
    super::api::applied(written, s).map_err(|e| error_text(m, &e))
}
