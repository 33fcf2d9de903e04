//! Log in with staff id and PIN; log out.
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::{bare, safe_next, start_page, PageForm};
use crate::web::auth::{same_origin, ClientAddr, LoginError};
use crate::web::AppState;

#[derive(Debug, Deserialize, Default)]
pub struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
}

fn form(s: &AppState, next: &str, staff_id: &str, problem: Option<String>) -> Response {
    let m = &s.messages;
    let body = html! {
        h1 { (m.t("login.title")) }
        p class="muted" { (m.f("login.store", &[("store", &s.store.store_id())])) }
        @if let Some(p) = problem {
            p class="result bad" role="alert" id="login-problem" { (p) }
        }
        form method="post" action="/login" class="stack login" {
            input type="hidden" name="next" value=(next);
            label for="staff_id" { (m.t("login.staff_id")) }
            input id="staff_id" name="staff_id" type="text" required autocomplete="username"
                autocapitalize="off" spellcheck="false" maxlength="20" value=(staff_id)
                autofocus[staff_id.is_empty()];
            label for="pin" { (m.t("login.pin")) }
            input id="pin" name="pin" type="password" required inputmode="numeric"
                autocomplete="current-password" maxlength="8" autofocus[!staff_id.is_empty()];
            button type="submit" class="primary big" { (m.t("login.submit")) }
        }
        p class="muted" { (m.t("login.help")) }
    };
    bare(m, m.t("login.title"), body)
}

/// `GET /login`
pub async fn page(
    State(s): State<AppState>,
    q: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = q
        .ok()
        .and_then(|q| q.0.next)
        .filter(|n| safe_next(n))
        .unwrap_or_default();
    form(&s, &next, "", None)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    staff_id: String,
    pin: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: the same words for an unknown id, a disabled account and
/// a wrong PIN; a lockout says until when.
pub async fn submit(
    State(s): State<AppState>,
    ClientAddr(from): ClientAddr,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let m = &s.messages;
    let Ok(f) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return form(&s, "", "", Some(m.t("login.refused").to_string()));
    };
    let staff_id = f.staff_id.trim().to_string();
    // No session yet, so no CSRF token: the Origin check keeps another
    // site from logging a browser in as someone else.
    if !same_origin(&headers) {
        s.metrics.csrf_refused();
        return form(&s, &f.next, &staff_id, Some(m.t("error.csrf").to_string()));
    }
    match s.sessions.login(&staff_id, f.pin.trim(), from).await {
        Ok((token, session)) => {
            let go = if safe_next(&f.next) && f.next != "/login" {
                f.next.clone()
            } else {
                start_page(session.member.role).to_string()
            };
            let cookie = s.sessions.cookie(Some(&token), s.tls);
            ([(header::SET_COOKIE, cookie)], Redirect::to(&go)).into_response()
        }
        Err(LoginError::Refused) => form(
            &s,
            &f.next,
            &staff_id,
            Some(m.t("login.refused").to_string()),
        ),
        Err(LoginError::LockedOut { until_ms }) => form(
            &s,
            &f.next,
            &staff_id,
            Some(m.f("login.locked", &[("time", &s.clock.short(until_ms))])),
        ),
        Err(LoginError::Unavailable) => form(
            &s,
            &f.next,
            &staff_id,
            Some(m.t("error.unavailable").to_string()),
        ),
    }
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {}

/// `POST /logout`: the session ends; its cookie is useless from now on.
pub async fn logout(State(s): State<AppState>, f: PageForm<LogoutForm>) -> Response {
    s.sessions.logout(&f.staff.0).await;
    let cookie = s.sessions.cookie(None, s.tls);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}
