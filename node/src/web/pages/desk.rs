//! The pickup desk: one search field (code, scanned QR, order id, name), a
//! large card that says whether the order is ready, hand-over with the code
//! check (and the ID check where needed), and the customers waiting.
use crate::domain::permissions::Routes;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use protocol::{ArrivalChannel, Command, OrderId};
use serde::Deserialize;

use super::{
    csrf, layout, run, since, slot_key, state_chip, urlencode, Done, Live, PageError, PageForm,
    Staff,
};
use crate::domain::{handover, Order};
use crate::i18n::Messages;
use crate::read::desk::{self, DeskSearch, FoundBy, Readiness};
use crate::web::time::StoreClock;
use crate::web::AppState;

/// One waiting customer (also rendered by the live feed).
pub fn waiting_row(m: &Messages, o: &Order, at_ms: u64) -> Markup {
    let channel = o
        .arrival
        .as_ref()
        .map_or(ArrivalChannel::Desk, |a| a.channel);
    let channel_key = match channel {
        ArrivalChannel::Desk => "arrival.desk",
        ArrivalChannel::Kiosk => "arrival.kiosk",
        ArrivalChannel::Curbside => "arrival.curbside",
    };
    html! {
        li id={"w-" (o.id)} class="card waiting" data-key={(format!("{at_ms:020}")) (o.id)} {
            div class="grow" {
                div class="row" {
                    strong { (o.content.customer_name) }
                    span class="muted" { (o.id) }
                }
                div class="row" {
                    span class="badge" { (m.t(channel_key)) }
                    @if let Some(note) = o.arrival.as_ref().and_then(|a| a.note.as_deref()) {
                        span { (note) }
                    }
                    (state_chip(m, o.state))
                    span { (m.t("desk.waiting_for")) " " (since(at_ms)) }
                }
            }
            a class="button" href={"/desk?q=" (urlencode(o.id.as_str()))} { (m.t("desk.open")) }
        }
    }
}

fn waiting_list(m: &Messages, waiting: &[(Order, u64)], seq: u64) -> Markup {
    html! {
        div data-region="waiting" data-seq=(seq) {
            @if waiting.is_empty() {
                p class="empty" id="waiting-empty" { (m.t("desk.nobody_waiting")) }
            }
            ul class="cards" id="waiting" {
                @for (o, at) in waiting { (waiting_row(m, o, *at)) }
            }
        }
    }
}

fn card(s: &AppState, staff: &Staff, o: &Order, found: &DeskSearch) -> Markup {
    let m = &s.messages;
    let clock: &StoreClock = &s.clock;
    let readiness = desk::readiness(o);
    let (class, big) = match readiness {
        Readiness::Ready => ("ready", m.t("desk.ready")),
        Readiness::NotYet => ("notyet", m.t("desk.not_ready")),
        Readiness::Expired => ("expired", m.t("desk.expired")),
        Readiness::Cancelled => ("cancelled", m.t("desk.cancelled")),
        Readiness::Collected => ("collected", m.t("desk.collected")),
        Readiness::Rejected => ("cancelled", m.t("desk.rejected")),
    };
    let id_check = handover::needs_id_check(&s.store, o);
    let proof = found.proof.as_deref().filter(|_| found.orders.len() == 1);
    html! {
        article class={"card pickup-card " (class)} id={"card-" (o.id)} aria-labelledby={"card-h-" (o.id)} {
            div class={"status-band " (class)} {
                p class="status-big" { (big) }
                p class="status-detail" {
                    @match readiness {
                        Readiness::Ready => {
                            @if let Some(slot) = &o.slot {
                                (m.t(slot_key(slot.kind))) " " strong { (slot.id) }
                            }
                        }
                        Readiness::NotYet => {
                            (state_chip(m, o.state))
                            @if let Some(due) = o.content.due_at_ms {
                                " " (m.f("desk.due", &[("time", &clock.short(due))]))
                            }
                        }
                        Readiness::Collected => {
                            @if let Some(h) = &o.handed_over {
                                (m.f("desk.collected_at", &[("time", &clock.short(h.at_ms)), ("by", &staff_name(s, &h.by))]))
                            }
                        }
                        Readiness::Cancelled => {
                            @if let Some(c) = &o.cancel { (c.reason) }
                            @if let Some(r) = &o.reject_reason { (r) }
                        }
                        Readiness::Rejected => { @if let Some(r) = &o.reject_reason { (r) } }
                        Readiness::Expired => { (m.t("desk.expired_detail")) }
                    }
                }
            }
            h2 id={"card-h-" (o.id)} { (o.content.customer_name) }
            p class="muted" {
                (o.id) " · " (m.n("pick.lines", o.content.lines.len() as u64, &[]))
                " · " a href={"/orders/" (o.id)} { (m.t("desk.details")) }
            }
            @if let Some(a) = &o.arrival {
                p { (m.t("desk.checked_in")) " " (since(a.at_ms)) }
            }
            @if readiness == Readiness::Ready {
                @if id_check {
                    p class="warn" role="note" { (m.t("desk.id_needed")) }
                }
                form method="post" action="/desk/hand-over" class="stack hand-over" {
                    (csrf(staff))
                    input type="hidden" name="order_id" value=(o.id);
                    input type="hidden" name="q" value=(found.query);
                    @if let Some(p) = proof {
                        input type="hidden" name="code" value=(p);
                        p class="ok-text" {
                            @if found.found_by == Some(FoundBy::Token) { (m.t("desk.proof_token")) } @else { (m.t("desk.proof_code")) }
                        }
                    } @else {
                        label for={"code-" (o.id)} { (m.t("desk.code_label")) }
                        input id={"code-" (o.id)} name="code" type="text" required autocomplete="off"
                            autocapitalize="characters" spellcheck="false" maxlength="512";
                    }
                    @if id_check {
                        label class="checkbox big" {
                            input type="checkbox" name="id_checked" value="1" required;
                            (m.t("desk.id_checked"))
                        }
                    }
                    button type="submit" class="primary big" { (m.t("desk.hand_over")) }
                }
            }
            @if !o.state.is_closed() && o.arrival.is_none() {
                form method="post" action="/desk/check-in" class="inline" {
                    (csrf(staff))
                    input type="hidden" name="order_id" value=(o.id);
                    input type="hidden" name="q" value=(found.query);
                    button type="submit" { (m.t("desk.check_in")) }
                }
            }
        }
    }
}

/// A staff id as a name, where the store knows it.
pub fn staff_name(s: &AppState, id: &str) -> String {
    s.store.staff(id).map_or_else(|| id.to_string(), |m| m.name)
}

#[derive(Debug, Deserialize, Default)]
pub struct DeskQuery {
    #[serde(default)]
    q: Option<String>,
}

/// `GET /desk?q=…`
pub async fn page(
    State(s): State<AppState>,
    staff: Staff,
    q: Result<Query<DeskQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    staff.require(&s, Routes::DeskPages)?;
    let m = &s.messages;
    let query: String = q
        .ok()
        .and_then(|q| q.0.q)
        .unwrap_or_default()
        .chars()
        .take(600)
        .collect();
    let seq = s.store.head();
    let store = s.store.clone();
    let keys = s.rules.keys.clone();
    let qq = query.clone();
    let (found, waiting) = crate::web::blocking(move || {
        Ok::<_, crate::store::StoreError>((
            desk::search(&store, &keys, &qq)?,
            desk::waiting(&store)?,
        ))
    })
    .await?;
    let body = html! {
        h1 { (m.t("desk.title")) }
        form method="get" action="/desk" role="search" class="search" {
            label for="q" { (m.t("desk.search_label")) }
            div class="row" {
                input id="q" name="q" type="search" autocomplete="off" autocapitalize="off" spellcheck="false"
                    autofocus value=(query) maxlength="600" enterkeyhint="search";
                button type="submit" class="primary" { (m.t("desk.search")) }
            }
        }
        div data-region="results" data-seq=(seq) {
            @if let Some(p) = &found.problem {
                p class="result bad" role="alert" { (m.f("desk.token_refused", &[("why", p)])) }
            }
            @if !query.trim().is_empty() && found.orders.is_empty() && found.problem.is_none() {
                p class="result bad" role="alert" { (m.f("desk.nothing", &[("q", &query.trim())])) }
            }
            @for o in &found.orders { (card(&s, &staff, o, &found)) }
        }
        section aria-labelledby="waiting-h" {
            h2 id="waiting-h" { (m.t("desk.waiting_title")) }
            (waiting_list(m, &waiting, seq))
        }
    };
    let orders = found.orders.iter().map(|o| o.id.to_string()).collect();
    Ok(layout(
        &s,
        &staff,
        m.t("desk.title"),
        "/desk",
        Live {
            channels: &["desk", "orders"],
            orders,
        },
        body,
    ))
}

fn back(q: &str) -> String {
    if q.trim().is_empty() {
        "/desk".into()
    } else {
        format!("/desk?q={}", urlencode(q.trim()))
    }
}

#[derive(Debug, Deserialize)]
pub struct HandOverForm {
    order_id: String,
    code: String,
    #[serde(default)]
    id_checked: Option<String>,
    #[serde(default)]
    q: String,
}

/// `POST /desk/hand-over`: only with the code (or a verified QR token) of
/// this order, and the ID check where needed — the rules decide.
pub async fn hand_over(
    State(s): State<AppState>,
    f: PageForm<HandOverForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::DeskPages)?;
    let m = &s.messages;
    let order_id = OrderId::new(f.form.order_id.trim()).map_err(|_| PageError::NotFound {
        message: m.t("error.not_found.text").into(),
    })?;
    let result = run(
        &s,
        &f.staff,
        Command::HandOver {
            order_id: order_id.clone(),
            staff: String::new(),
            code: f.form.code.trim().to_string(),
            id_checked: f.form.id_checked.is_some(),
        },
    )
    .await;
    let done = Done::after(
        result.map(|_| m.f("desk.handed_over", &[("order", &order_id)])),
        "/desk",
        back(&f.form.q),
    );
    Ok(done.respond(&s, &f.staff, f.fetch))
}

#[derive(Debug, Deserialize)]
pub struct CheckInForm {
    order_id: String,
    #[serde(default)]
    q: String,
}

/// `POST /desk/check-in`: the customer is at the desk.
pub async fn check_in(
    State(s): State<AppState>,
    f: PageForm<CheckInForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::DeskPages)?;
    let m = &s.messages;
    let order_id = OrderId::new(f.form.order_id.trim()).map_err(|_| PageError::NotFound {
        message: m.t("error.not_found.text").into(),
    })?;
    let result = run(
        &s,
        &f.staff,
        Command::CheckIn {
            order_id: order_id.clone(),
            channel: ArrivalChannel::Desk,
            note: None,
        },
    )
    .await;
    let done = Done::after(
        result.map(|_| m.f("desk.checked_in_done", &[("order", &order_id)])),
        back(&f.form.q),
        back(&f.form.q),
    );
    Ok(done.respond(&s, &f.staff, f.fetch))
}
