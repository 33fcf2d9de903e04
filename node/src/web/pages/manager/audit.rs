//! `/manager/audit`: every event, newest first, filtered, in pages.
use crate::domain::permissions::Routes;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use protocol::{EventKind, OrderId};
use serde::Deserialize;

use super::subnav;
use crate::read::audit::{self, AuditFilter};
use crate::web::pages::order::{describe, who};
use crate::web::pages::{layout, urlencode, Live, PageError, Staff};
use crate::web::AppState;

#[derive(Debug, Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    staff: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    before: Option<u64>,
}

/// `GET /manager/audit`: every event, newest first, filtered, in pages.
pub async fn audit(
    State(s): State<AppState>,
    staff: Staff,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    staff.require(&s, Routes::ManagerPages)?;
    let m = &s.messages;
    let q = q.map(|q| q.0).unwrap_or_default();
    let filter = filter_of(&s, &q);
    let kind = filter.kind;
    let store = s.store.clone();
    let f2 = filter.clone();
    let page = crate::web::blocking(move || audit::page(&store, &f2)).await?;
    let members = s.store.staff_list();
    let body = html! {
        h1 { (m.t("manager.audit_title")) }
        (subnav(&s, "/manager/audit"))
        (filters_form(&s, &q, &members, kind))
        (entries_table(&s, &page))
        @if let Some(b) = page.next_before {
            p { a class="button" href=(keep(&q, &format!("before={b}"))) { (m.t("audit.older")) } }
        }
    };
    Ok(layout(
        &s,
        &staff,
        m.t("manager.audit_title"),
        "/manager",
        Live::default(),
        body,
    ))
}

/// What the query asks for (empty fields ask for nothing).
fn filter_of(s: &AppState, q: &AuditQuery) -> AuditFilter {
    let nonempty = |o: &Option<String>| {
        o.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let order = nonempty(&q.order);
    let kind = nonempty(&q.kind).and_then(|k| EventKind::from_name(&k));
    AuditFilter {
        order: order.as_deref().and_then(|o| OrderId::new(o).ok()),
        staff: nonempty(&q.staff),
        kind,
        from_ms: nonempty(&q.from).and_then(|d| s.clock.parse_day(&d)),
        to_ms: nonempty(&q.to)
            .and_then(|d| s.clock.parse_day(&d))
            .map(|t| t + 86_400_000),
        before: q.before,
        limit: 50,
    }
}

/// This page's address with the query's filters kept, and `extra`.
fn keep(q: &AuditQuery, extra: &str) -> String {
    let mut parts = vec![];
    for (k, v) in [
        ("order", &q.order),
        ("staff", &q.staff),
        ("kind", &q.kind),
        ("from", &q.from),
        ("to", &q.to),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", urlencode(v)));
        }
    }
    parts.push(extra.to_string());
    format!("/manager/audit?{}", parts.join("&"))
}

/// The filters, filled in with the query's.
fn filters_form(
    s: &AppState,
    q: &AuditQuery,
    members: &[crate::domain::StaffMember],
    kind: Option<EventKind>,
) -> Markup {
    let m = &s.messages;
    html! {
        form method="get" action="/manager/audit" class="card filters" role="search" {
            div class="filter" {
                label for="f-order" { (m.t("audit.order")) }
                input id="f-order" name="order" type="text" value=(q.order.clone().unwrap_or_default()) maxlength="64";
            }
            div class="filter" {
                label for="f-staff" { (m.t("audit.staff")) }
                select id="f-staff" name="staff" {
                    option value="" { (m.t("audit.anyone")) }
                    @for mem in members { option value=(mem.id) selected[q.staff.as_deref() == Some(mem.id.as_str())] { (mem.name) " (" (mem.id) ")" } }
                }
            }
            div class="filter" {
                label for="f-kind" { (m.t("audit.kind")) }
                select id="f-kind" name="kind" {
                    option value="" { (m.t("audit.any_kind")) }
                    @for k in EventKind::ALL { option value=(k.name()) selected[kind == Some(k)] { (k.name()) } }
                }
            }
            div class="filter" {
                label for="f-from" { (m.t("audit.from")) }
                input id="f-from" name="from" type="date" value=(q.from.clone().unwrap_or_default());
            }
            div class="filter" {
                label for="f-to" { (m.t("audit.to")) }
                input id="f-to" name="to" type="date" value=(q.to.clone().unwrap_or_default());
            }
            button type="submit" class="primary" { (m.t("audit.filter")) }
        }
    }
}

/// One page of events.
fn entries_table(s: &AppState, page: &audit::AuditPage) -> Markup {
    let m = &s.messages;
    html! {
        @if page.entries.is_empty() { p class="empty" { (m.t("audit.nothing")) } }
        div class="table-wrap" tabindex="0" role="region" aria-label=(m.t("manager.audit_title")) {
            table id="audit" {
                thead { tr {
                    th scope="col" { (m.t("audit.when")) }
                    th scope="col" { (m.t("audit.who")) }
                    th scope="col" { (m.t("audit.stream")) }
                    th scope="col" { (m.t("audit.what")) }
                } }
                tbody {
                    @for e in &page.entries {
                        tr {
                            td { (s.clock.full(e.time_ms)) br; span class="muted small" { "#" (e.log_seq) } }
                            td { (who(s, &e.actor)) }
                            td {
                                @if e.order_id.is_reserved() { span class="muted" { (m.t("audit.store_stream")) } }
                                @else { a href={"/orders/" (e.order_id)} { (e.order_id) } }
                            }
                            td { span class="small muted" { (e.event.kind().name()) } br; (describe(s, e)) }
                        }
                    }
                }
            }
        }
    }
}
