//! `/manager`: the overview (store open or closed, the cloud link, today,
//! what is late and why, pickers, exceptions, counts, empty shelves).
use crate::domain::permissions::Routes;
use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use protocol::Command;
use serde::Deserialize;

use super::staff::lockouts;
use super::subnav;
use crate::read::dashboard::{self, ExceptionKind, LateWhy};
use crate::web::pages::desk::staff_name;
use crate::web::pages::{
    csrf, layout, run, short_reason_key, since, state_chip, urlencode, Done, Live, PageError,
    PageForm, Staff,
};
use crate::web::AppState;

/// The node's clock, when it needs a manager's eye: behind the newest
/// event (not synchronised), or stepped in the last day.
fn clock_card(s: &AppState) -> Markup {
    let m = &s.messages;
    let clock = s.store.clock();
    let behind = Some(clock.behind_ms()).filter(|b| *b > crate::clock::STEP_MS);
    let step = clock
        .last_step()
        .filter(|(at, _, _)| crate::store::now_ms().saturating_sub(*at) < 86_400_000);
    html! {
        @if behind.is_some() || step.is_some() {
            section class="card warn-card" aria-labelledby="clock-h" id="clock" {
                h2 id="clock-h" { (m.t("manager.clock")) }
                @if let Some(behind) = behind {
                    p { span class="chip bad" { (m.t("manager.clock_unsynced")) } }
                    p { (m.f("manager.clock_behind", &[("time", &crate::web::time::minutes_text(behind))])) }
                    p class="muted small" { (m.t("manager.clock_help")) }
                }
                @if let Some((at, by, dir)) = step {
                    @let text = crate::web::time::minutes_text(by);
                    p {
                        @match dir {
                            crate::clock::Direction::Forward => (m.f("manager.clock_stepped_forward", &[("by", &text), ("time", &s.clock.short(at))])),
                            crate::clock::Direction::Backward => (m.f("manager.clock_stepped_back", &[("by", &text), ("time", &s.clock.short(at))])),
                        }
                    }
                }
            }
        }
    }
}

/// The cloud link: whether it is up, what waits for HQ, the last problem.
fn cloud_link(s: &AppState, v: &crate::sync::SyncView) -> Markup {
    let m = &s.messages;
    let since = v.link.since_ms.map(|t| s.clock.short(t));
    html! {
        @if !v.link.configured {
            p { span class="chip" { (m.t("manager.cloud_not_configured")) } }
            p class="muted small" { (m.t("manager.cloud_help")) }
        } @else {
            p id="cloud-state" {
                @if v.link.online {
                    span class="chip ok" { (m.t("manager.cloud_online")) }
                } @else {
                    span class="chip bad" { (m.t("manager.cloud_offline")) }
                }
                @if let Some(t) = &since { " " span class="muted" { (m.f("manager.cloud_since", &[("time", t)])) } }
            }
            @if v.backlog_events == 0 {
                p id="cloud-backlog" { (m.t("manager.cloud_synced")) }
            } @else {
                @let oldest = s.clock.short(crate::store::now_ms().saturating_sub(v.oldest_backlog_ms.unwrap_or(0)));
                p id="cloud-backlog" { (m.n("manager.cloud_backlog", v.backlog_events, &[("time", &oldest)])) }
            }
            @if let Some(t) = v.link.last_ack_ms {
                p class="muted small" { (m.f("manager.cloud_last_ack", &[("time", &s.clock.short(t))])) }
            }
            @if !v.link.online {
                p class="muted small" { (m.t("manager.cloud_offline_help")) }
                @if let Some(reason) = &v.link.last_error {
                    p class="muted small" { (m.f("manager.cloud_problem", &[("reason", reason)])) }
                }
            }
        }
    }
}

/// `GET /manager`
pub async fn dashboard(State(s): State<AppState>, staff: Staff) -> Result<Response, PageError> {
    staff.require(&s, Routes::ManagerPages)?;
    let m = &s.messages;
    let seq = s.store.head();
    let store = s.store.clone();
    let today = s.today.clone();
    let day = s.clock.day_start_ms();
    let d = crate::web::blocking(move || dashboard::dashboard(&store, &today, day)).await?;
    let (status, store) = (s.sync.clone(), s.store.clone());
    let sync = crate::web::blocking(move || status.view(&store)).await?;
    let now = crate::store::now_ms();
    let body = html! {
        h1 { (m.t("manager.title")) }
        (subnav(&s, "/manager"))
        div data-region="manager" data-seq=(seq) {
            div class="grid" {
                (store_card(&s, &staff, &d))
                section class="card" aria-labelledby="cloud-h" {
                    h2 id="cloud-h" { (m.t("manager.cloud")) }
                    (cloud_link(&s, &sync))
                }
                (today_card(&s, &d))
            }
            (clock_card(&s))
            (lockouts(&s, &staff))
            (late_card(&s, &d, now))
            (uncollected_card(&s, &d))
            (pickers_card(&s, &d))
            (exceptions_card(&s, &d))
            (counts_card(&s, &d))
            (stock_cards(&s, &d))
        }
    };
    Ok(layout(
        &s,
        &staff,
        m.t("manager.title"),
        "/manager",
        Live {
            channels: &["manager"],
            orders: vec![],
        },
        body,
    ))
}

/// The store open or closed, and the form that changes it.
fn store_card(s: &AppState, staff: &Staff, d: &dashboard::Dashboard) -> Markup {
    let m = &s.messages;
    html! {
        section class="card" aria-labelledby="store-h" {
            h2 id="store-h" { (m.t("manager.store")) }
            @match &d.site.closed {
                None => {
                    p { span class="chip ok" { (m.t("manager.open")) } }
                    form method="post" action="/manager/open" class="stack" {
                        (csrf(staff))
                        input type="hidden" name="open" value="false";
                        label for="close-reason" { (m.t("manager.close_reason")) }
                        input id="close-reason" name="reason" type="text" required maxlength="200";
                        button type="submit" class="danger" { (m.t("manager.close")) }
                    }
                }
                Some(reason) => {
                    p { span class="chip bad" { (m.t("manager.closed")) } " " (reason) }
                    form method="post" action="/manager/open" {
                        (csrf(staff))
                        input type="hidden" name="open" value="true";
                        button type="submit" class="primary" { (m.t("manager.reopen")) }
                    }
                }
            }
        }
    }
}

/// Today's orders so far, by state.
fn today_card(s: &AppState, d: &dashboard::Dashboard) -> Markup {
    let m = &s.messages;
    html! {
        section class="card" aria-labelledby="today-h" {
            h2 id="today-h" { (m.t("manager.today")) }
            p { (m.f("manager.today_summary", &[("created", &d.today.created.len()), ("handed", &d.today.handed_over)])) }
            ul class="plain chips" id="today-states" {
                @for (st, n) in &d.today_states {
                    @if *n > 0 {
                        li { (state_chip(m, *st)) " " strong { (n) } }
                    }
                }
            }
        }
    }
}

/// Orders past their promise time, and why each is late.
fn late_card(s: &AppState, d: &dashboard::Dashboard, now: u64) -> Markup {
    let m = &s.messages;
    html! {
        section class="card" aria-labelledby="late-h" id="late" {
            h2 id="late-h" { (m.f("manager.late", &[("n", &d.late.len())])) }
            @if d.late.is_empty() { p class="empty" { (m.t("manager.nothing_late")) } }
            ul class="plain" {
                @for l in &d.late {
                    li class="row" {
                        a href={"/orders/" (l.order.id)} { strong { (l.order.id) } }
                        span { (l.order.content.customer_name) }
                        @if let Some(due) = l.order.content.due_at_ms {
                            span class="badge late" { (m.f("manager.late_by", &[("time", &crate::web::time::minutes_text(now.saturating_sub(due)))])) }
                        }
                        span {
                            @match &l.why {
                                LateWhy::AwaitingAcceptance => (m.t("why.awaiting_acceptance")),
                                LateWhy::AwaitingPayment => (m.t("why.awaiting_payment")),
                                LateWhy::WaitingForPick => (m.t("why.waiting_for_pick")),
                                LateWhy::BeingPicked { by } => (m.f("why.being_picked", &[("name", &staff_name(s, by))])),
                                LateWhy::PickedNotStaged => (m.t("why.picked_not_staged")),
                            }
                            " " (since(l.since_ms))
                        }
                    }
                }
            }
        }
    }
}

/// Orders ready and not yet collected.
fn uncollected_card(s: &AppState, d: &dashboard::Dashboard) -> Markup {
    let m = &s.messages;
    html! {
        @if !d.uncollected.is_empty() {
            section class="card" aria-labelledby="uncollected-h" {
                h2 id="uncollected-h" { (m.f("manager.uncollected", &[("n", &d.uncollected.len())])) }
                ul class="plain" {
                    @for o in d.uncollected.iter().take(30) {
                        li class="row" {
                            a href={"/orders/" (o.id)} { (o.id) }
                            span { (o.content.customer_name) }
                            @if let Some(slot) = &o.slot { span class="muted" { (slot.id) } }
                            @if let Some(r) = o.ready_ms { span { (m.t("manager.ready_since")) " " (since(r)) } }
                        }
                    }
                }
            }
        }
    }
}

/// Who is picking what, since when.
fn pickers_card(s: &AppState, d: &dashboard::Dashboard) -> Markup {
    let m = &s.messages;
    html! {
        section class="card" aria-labelledby="pickers-h" {
            h2 id="pickers-h" { (m.t("manager.pickers")) }
            @if d.pickers.is_empty() { p class="empty" { (m.t("manager.nobody_picking")) } }
            ul class="plain" {
                @for p in &d.pickers {
                    li {
                        strong { (staff_name(s, &p.staff_id)) }
                        ul class="plain inline-list" {
                            @for (o, started) in &p.orders {
                                li { a href={"/orders/" (o.id)} { (o.id) } " " (since(*started)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Today's shorts and substitutes.
fn exceptions_card(s: &AppState, d: &dashboard::Dashboard) -> Markup {
    let m = &s.messages;
    html! {
        section class="card" aria-labelledby="exc-h" id="exceptions" {
            h2 id="exc-h" { (m.f("manager.exceptions", &[("n", &d.today.exceptions.len())])) }
            @if d.today.exceptions.is_empty() { p class="empty" { (m.t("manager.no_exceptions")) } }
            @if !d.today.exceptions.is_empty() {
                div class="table-wrap" tabindex="0" role="region" aria-labelledby="exc-h" {
                    table {
                        thead { tr {
                            th scope="col" { (m.t("manager.col_time")) }
                            th scope="col" { (m.t("manager.col_order")) }
                            th scope="col" { (m.t("manager.col_what")) }
                            th scope="col" { (m.t("manager.col_by")) }
                        } }
                        tbody {
                            @for e in d.today.exceptions.iter().rev().take(100) {
                                tr {
                                    td { (s.clock.short(e.time_ms)) }
                                    td { a href={"/orders/" (e.order_id)} { (e.order_id) } " · " (e.line_no) }
                                    td {
                                        @match &e.kind {
                                            ExceptionKind::Short { sku, wanted, found, reason } => {
                                                (m.f("manager.exc_short", &[("sku", sku), ("found", found), ("n", wanted), ("reason", &m.t(short_reason_key(reason.unwrap_or_default())))]))
                                            }
                                            ExceptionKind::Substitute { sku, with_sku, quantity } => {
                                                (m.f("manager.exc_substitute", &[("sku", sku), ("with", with_sku), ("n", quantity)]))
                                            }
                                        }
                                    }
                                    td { (staff_name(s, &e.by)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Open count tasks, and orders at risk of an empty shelf.
fn counts_card(s: &AppState, d: &dashboard::Dashboard) -> Markup {
    let m = &s.messages;
    html! {
        @if !d.count_tasks.is_empty() || !d.at_risk.is_empty() {
            section class="card warn-card" aria-labelledby="counts-h" id="count-tasks" {
                h2 id="counts-h" { (m.f("manager.count_tasks", &[("n", &d.count_tasks.len())])) }
                ul class="plain" {
                    @for t in &d.count_tasks {
                        li {
                            a href={"/stock?q=" (urlencode(&t.sku))} { (t.sku) }
                            " — " (m.t(&format!("count.reason.{}", t.reason.name())))
                            " — " (m.t(&format!("count.state.{}", t.state.name())))
                            @if let Some(c) = t.counts.last() {
                                " (" (m.f("count.last", &[("counted", &c.counted), ("expected", &c.expected)])) ")"
                            }
                        }
                    }
                }
                @if !d.at_risk.is_empty() {
                    h3 { (m.f("manager.at_risk", &[("n", &d.at_risk.len())])) }
                    ul class="plain inline-list" {
                        @for o in &d.at_risk {
                            li { a href={"/orders/" (urlencode(o.id.as_str()))} { (o.id) } }
                        }
                    }
                }
            }
        }
    }
}

/// SKUs out of stock, and every order state with its count.
fn stock_cards(s: &AppState, d: &dashboard::Dashboard) -> Markup {
    let m = &s.messages;
    html! {
        section class="card" aria-labelledby="oos-h" {
            h2 id="oos-h" { (m.f("manager.out_of_stock", &[("n", &d.out_of_stock.len())])) }
            ul class="plain inline-list" {
                @for i in d.out_of_stock.iter().take(50) {
                    li { a href={"/stock?q=" (urlencode(&i.item.sku))} { (i.item.name) } " (" (i.item.sku) ")" }
                }
            }
        }
        section class="card" aria-labelledby="states-h" {
            h2 id="states-h" { (m.t("manager.all_states")) }
            ul class="plain chips" {
                @for (st, n) in &d.states {
                    @if *n > 0 { li { (state_chip(m, *st)) " " (n) } }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct OpenForm {
    open: String,
    #[serde(default)]
    reason: String,
}

/// `POST /manager/open`
pub async fn set_open(
    State(s): State<AppState>,
    f: PageForm<OpenForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::ManagerPages)?;
    let m = &s.messages;
    let open = f.form.open == "true";
    let result = run(
        &s,
        &f.staff,
        Command::SetStoreOpen {
            open,
            reason: f.form.reason.trim().to_string(),
            staff: String::new(),
        },
    )
    .await;
    let done = Done::after(
        result.map(|_| {
            m.t(if open {
                "manager.opened_done"
            } else {
                "manager.closed_done"
            })
            .into()
        }),
        "/manager",
        "/manager",
    );
    Ok(done.respond(&s, &f.staff, f.fetch))
}
