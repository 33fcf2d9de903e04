//! The manager's pages: what is late and why, today's orders and
//! exceptions, pickers at work, empty shelves, store open/closed, staff,
//! devices, settings, the audit log.
use crate::domain::permissions::Routes;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use protocol::{Command, EventKind, OrderId, Role};
use serde::Deserialize;

use super::desk::staff_name;
use super::order::{describe, who};
use super::{
    csrf, layout, role_key, since, state_chip, urlencode, Done, Live, PageError, PageForm, Staff,
};
use crate::read::audit::{self, AuditFilter};
use crate::read::dashboard::{self, ExceptionKind, LateWhy};
use crate::web::auth::LockKey;
use crate::web::AppState;

fn subnav(s: &AppState, current: &str) -> Markup {
    let m = &s.messages;
    let tabs = [
        ("/manager", m.t("manager.overview")),
        ("/manager/staff", m.t("manager.staff")),
        ("/manager/devices", m.t("manager.devices")),
        ("/manager/settings", m.t("manager.settings")),
        ("/manager/audit", m.t("manager.audit")),
    ];
    html! {
        nav class="subnav" aria-label=(m.t("manager.sections")) {
            @for (href, text) in tabs {
                a href=(href) aria-current=[(href == current).then_some("page")] { (text) }
            }
        }
    }
}

fn lockouts(s: &AppState, staff: &Staff) -> Markup {
    let m = &s.messages;
    let now = crate::store::now_ms();
    let list: Vec<_> = s
        .sessions
        .lockouts
        .list()
        .into_iter()
        .filter(|(_, st)| st.locked_until_ms > now || st.failures > 0)
        .collect();
    html! {
        @if !list.is_empty() {
            section class="card warn-card" aria-labelledby="locks-h" id="lockouts" {
                h2 id="locks-h" { (m.t("manager.lockouts")) }
                ul class="plain" {
                    @for (k, st) in &list {
                        @let (kind, key) = match k { LockKey::Staff(id) => ("staff", id.clone()), LockKey::Address(a) => ("address", a.to_string()) };
                        li class="row" {
                            @if kind == "staff" {
                                span { (m.f("manager.lock_staff", &[("id", &key), ("name", &staff_name(s, &key))])) }
                            } @else {
                                span { (m.f("manager.lock_address", &[("addr", &key)])) }
                            }
                            @if st.locked_until_ms > now {
                                span class="badge late" { (m.f("manager.locked_until", &[("time", &s.clock.short(st.locked_until_ms))])) }
                            } @else {
                                span class="muted" { (m.n("manager.failures", u64::from(st.failures), &[])) }
                            }
                            form method="post" action="/manager/lockouts/unlock" class="inline" {
                                (csrf(staff))
                                input type="hidden" name="kind" value=(kind);
                                input type="hidden" name="key" value=(key);
                                button type="submit" { (m.t("manager.unlock")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

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
                section class="card" aria-labelledby="store-h" {
                    h2 id="store-h" { (m.t("manager.store")) }
                    @match &d.site.closed {
                        None => {
                            p { span class="chip ok" { (m.t("manager.open")) } }
                            form method="post" action="/manager/open" class="stack" {
                                (csrf(&staff))
                                input type="hidden" name="open" value="false";
                                label for="close-reason" { (m.t("manager.close_reason")) }
                                input id="close-reason" name="reason" type="text" required maxlength="200";
                                button type="submit" class="danger" { (m.t("manager.close")) }
                            }
                        }
                        Some(reason) => {
                            p { span class="chip bad" { (m.t("manager.closed")) } " " (reason) }
                            form method="post" action="/manager/open" {
                                (csrf(&staff))
                                input type="hidden" name="open" value="true";
                                button type="submit" class="primary" { (m.t("manager.reopen")) }
                            }
                        }
                    }
                }
                section class="card" aria-labelledby="cloud-h" {
                    h2 id="cloud-h" { (m.t("manager.cloud")) }
                    (cloud_link(&s, &sync))
                }
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
            (clock_card(&s))
            (lockouts(&s, &staff))
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
                                    LateWhy::BeingPicked { by } => (m.f("why.being_picked", &[("name", &staff_name(&s, by))])),
                                    LateWhy::PickedNotStaged => (m.t("why.picked_not_staged")),
                                }
                                " " (since(l.since_ms))
                            }
                        }
                    }
                }
            }
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
            section class="card" aria-labelledby="pickers-h" {
                h2 id="pickers-h" { (m.t("manager.pickers")) }
                @if d.pickers.is_empty() { p class="empty" { (m.t("manager.nobody_picking")) } }
                ul class="plain" {
                    @for p in &d.pickers {
                        li {
                            strong { (staff_name(&s, &p.staff_id)) }
                            ul class="plain inline-list" {
                                @for (o, started) in &p.orders {
                                    li { a href={"/orders/" (o.id)} { (o.id) } " " (since(*started)) }
                                }
                            }
                        }
                    }
                }
            }
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
                                                    (m.f("manager.exc_short", &[("sku", sku), ("found", found), ("n", wanted), ("reason", &m.t(super::short_reason_key(reason.unwrap_or_default())))]))
                                                }
                                                ExceptionKind::Substitute { sku, with_sku, quantity } => {
                                                    (m.f("manager.exc_substitute", &[("sku", sku), ("with", with_sku), ("n", quantity)]))
                                                }
                                            }
                                        }
                                        td { (staff_name(&s, &e.by)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
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
    let result = super::run(
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

/// `GET /manager/staff`
pub async fn staff(State(s): State<AppState>, staff: Staff) -> Result<Response, PageError> {
    staff.require(&s, Routes::ManagerPages)?;
    let m = &s.messages;
    let members = s.store.staff_list();
    let next = crate::services::staff::next_id(&s.store);
    let body = html! {
        h1 { (m.t("manager.staff_title")) }
        (subnav(&s, "/manager/staff"))
        (lockouts(&s, &staff))
        section class="card" aria-labelledby="add-h" {
            h2 id="add-h" { (m.t("staff.add")) }
            form method="post" action="/manager/staff/add" class="stack" id="staff-add" {
                (csrf(&staff))
                label for="new-id" { (m.t("staff.id")) }
                input id="new-id" name="staff_id" type="text" value=(next) required maxlength="20" autocomplete="off";
                label for="new-name" { (m.t("staff.name")) }
                input id="new-name" name="name" type="text" required maxlength="60" autocomplete="off";
                label for="new-role" { (m.t("staff.role")) }
                select id="new-role" name="role" {
                    @for r in Role::ALL { option value=(r.name()) { (m.t(role_key(r))) } }
                }
                button type="submit" class="primary" { (m.t("staff.add_submit")) }
            }
        }
        section class="card" aria-labelledby="list-h" {
            h2 id="list-h" { (m.t("staff.list")) }
            div class="table-wrap" tabindex="0" role="region" aria-labelledby="list-h" {
                table id="staff-table" {
                    thead { tr {
                        th scope="col" { (m.t("staff.id")) }
                        th scope="col" { (m.t("staff.name")) }
                        th scope="col" { (m.t("staff.role")) }
                        th scope="col" { (m.t("staff.status")) }
                        th scope="col" { (m.t("staff.actions")) }
                    } }
                    tbody {
                        @for mem in &members {
                            tr id={"staff-" (mem.id)} {
                                td { (mem.id) }
                                td { (mem.name) }
                                td {
                                    form method="post" action="/manager/staff/change" class="inline" {
                                        (csrf(&staff))
                                        input type="hidden" name="staff_id" value=(mem.id);
                                        input type="hidden" name="action" value="role";
                                        label class="sr-only" for={"role-" (mem.id)} { (m.f("staff.role_of", &[("name", &mem.name)])) }
                                        select id={"role-" (mem.id)} name="role" {
                                            @for r in Role::ALL { option value=(r.name()) selected[r == mem.role] { (m.t(role_key(r))) } }
                                        }
                                        button type="submit" { (m.t("staff.change_role")) }
                                    }
                                }
                                td {
                                    @if mem.enabled { span class="chip ok" { (m.t("staff.enabled")) } } @else { span class="chip bad" { (m.t("staff.disabled")) } }
                                }
                                td class="actions" {
                                    form method="post" action="/manager/staff/change" class="inline" {
                                        (csrf(&staff))
                                        input type="hidden" name="staff_id" value=(mem.id);
                                        @if mem.enabled {
                                            input type="hidden" name="action" value="disable";
                                            button type="submit" class="danger" aria-label=(m.f("staff.disable_who", &[("name", &mem.name)])) { (m.t("staff.disable")) }
                                        } @else {
                                            input type="hidden" name="action" value="enable";
                                            button type="submit" aria-label=(m.f("staff.enable_who", &[("name", &mem.name)])) { (m.t("staff.enable")) }
                                        }
                                    }
                                    form method="post" action="/manager/staff/change" class="inline" {
                                        (csrf(&staff))
                                        input type="hidden" name="staff_id" value=(mem.id);
                                        input type="hidden" name="action" value="pin";
                                        button type="submit" aria-label=(m.f("staff.pin_who", &[("name", &mem.name)])) { (m.t("staff.new_pin")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(
        &s,
        &staff,
        m.t("manager.staff_title"),
        "/manager",
        Live::default(),
        body,
    ))
}

#[derive(Debug, Deserialize)]
pub struct StaffAddForm {
    #[serde(default)]
    staff_id: String,
    name: String,
    role: String,
}

/// `POST /manager/staff/add`: the new member's PIN is shown once.
pub async fn staff_add(
    State(s): State<AppState>,
    f: PageForm<StaffAddForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::ManagerPages)?;
    let m = &s.messages;
    let role = Role::from_name(&f.form.role).unwrap_or(Role::Picker);
    let caller = f.staff.caller();
    let id = Some(f.form.staff_id.trim().to_string()).filter(|i| !i.is_empty());
    let done = match crate::web::api::staff::add(&s, &caller, &f.form.name, role, id, None).await {
        Ok((id, pin)) => Done {
            ok: true,
            message: m.f(
                "staff.added",
                &[("id", &id), ("name", &f.form.name.trim()), ("pin", &pin)],
            ),
            go: "/manager/staff".into(),
            regions: vec![],
        },
        Err(e) => Done {
            ok: false,
            message: super::error_text(m, &e),
            go: "/manager/staff".into(),
            regions: vec![],
        },
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}

#[derive(Debug, Deserialize)]
pub struct StaffChangeForm {
    staff_id: String,
    action: String,
    #[serde(default)]
    role: Option<String>,
}

/// `POST /manager/staff/change`: role, disable, enable, new PIN.
pub async fn staff_change(
    State(s): State<AppState>,
    f: PageForm<StaffChangeForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::ManagerPages)?;
    let m = &s.messages;
    let id = f.form.staff_id.trim().to_string();
    let name = staff_name(&s, &id);
    let caller = f.staff.caller();
    let result: Result<String, crate::web::AppError> = match f.form.action.as_str() {
        "role" => {
            let role = f
                .form
                .role
                .as_deref()
                .and_then(Role::from_name)
                .unwrap_or(Role::Picker);
            crate::web::api::staff::staff_command(
                &s,
                &caller,
                Command::SetStaffRole {
                    staff_id: id.clone(),
                    role,
                },
            )
            .await
            .map(|()| {
                m.f(
                    "staff.role_done",
                    &[("name", &name), ("role", &m.t(role_key(role)))],
                )
            })
        }
        "disable" | "enable" => {
            let on = f.form.action == "enable";
            crate::web::api::staff::staff_command(
                &s,
                &caller,
                Command::SetStaffEnabled {
                    staff_id: id.clone(),
                    enabled: on,
                },
            )
            .await
            .map(|()| {
                m.f(
                    if on {
                        "staff.enabled_done"
                    } else {
                        "staff.disabled_done"
                    },
                    &[("name", &name)],
                )
            })
        }
        "pin" => crate::web::api::staff::new_pin(&s, &caller, &id, None)
            .await
            .map(|pin| {
                m.f(
                    "staff.pin_done",
                    &[("name", &name), ("id", &id), ("pin", &pin)],
                )
            }),
        _ => Err(crate::web::AppError::BadRequest(m.t("error.form").into())),
    };
    let done = match result {
        Ok(text) => Done {
            ok: true,
            message: text,
            go: "/manager/staff".into(),
            regions: vec![],
        },
        Err(e) => Done {
            ok: false,
            message: super::error_text(m, &e),
            go: "/manager/staff".into(),
            regions: vec![],
        },
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}

#[derive(Debug, Deserialize)]
pub struct UnlockForm {
    kind: String,
    key: String,
}

/// `POST /manager/lockouts/unlock`
pub async fn unlock(
    State(s): State<AppState>,
    f: PageForm<UnlockForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::ManagerPages)?;
    let m = &s.messages;
    let key = match f.form.kind.as_str() {
        "address" => f.form.key.parse().ok().map(LockKey::Address),
        _ => Some(LockKey::Staff(f.form.key.clone())),
    };
    let ok = key.is_some_and(|k| s.sessions.lockouts.unlock(&k));
    if ok {
        tracing::info!(by = %f.staff.0.member.id, key = %f.form.key, "login lockout lifted");
    }
    let done = Done {
        ok,
        message: m
            .t(if ok {
                "manager.unlocked"
            } else {
                "manager.not_locked"
            })
            .into(),
        go: "/manager/staff".into(),
        regions: vec![],
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}

/// `GET /manager/devices`
pub async fn devices(State(s): State<AppState>, staff: Staff) -> Result<Response, PageError> {
    staff.require(&s, Routes::ManagerPages)?;
    let m = &s.messages;
    let devices = s.store.device_list();
    let body = html! {
        h1 { (m.t("manager.devices_title")) }
        (subnav(&s, "/manager/devices"))
        section class="card" aria-labelledby="dev-add-h" {
            h2 id="dev-add-h" { (m.t("devices.add")) }
            p class="muted small" { (m.t("devices.help")) }
            form method="post" action="/manager/devices/add" class="stack" {
                (csrf(&staff))
                label for="dev-name" { (m.t("devices.name")) }
                input id="dev-name" name="name" type="text" required maxlength="32" autocomplete="off" spellcheck="false";
                label for="dev-kind" { (m.t("devices.kind")) }
                select id="dev-kind" name="kind" required {
                    @for k in protocol::DeviceKind::ALL {
                        option value=(k.name()) { (m.t(&format!("devices.kind_{}", k.name().replace('-', "_")))) }
                    }
                }
                label for="dev-comps" { (m.t("devices.compartments")) }
                input id="dev-comps" name="compartments" type="text" maxlength="200" autocomplete="off" spellcheck="false" placeholder="1-24";
                button type="submit" class="primary" { (m.t("devices.add_submit")) }
            }
        }
        section class="card" aria-labelledby="dev-list-h" {
            h2 id="dev-list-h" { (m.f("devices.list", &[("n", &devices.len())])) }
            @if devices.is_empty() { p class="empty" { (m.t("devices.none")) } }
            ul class="plain" id="device-list" {
                @for d in &devices {
                    li class="row" {
                        strong { (d.name) }
                        span class="muted small" {
                            " " (m.t(&format!("devices.kind_{}", d.kind.name().replace('-', "_"))))
                            @if !d.compartments.is_empty() { " · " (m.f("devices.compartment_count", &[("n", &d.compartments.len())])) }
                        }
                        form method="post" action="/manager/devices/remove" class="inline" {
                            (csrf(&staff))
                            input type="hidden" name="name" value=(d.name);
                            button type="submit" class="danger" aria-label=(m.f("devices.remove_who", &[("name", &d.name)])) { (m.t("devices.remove")) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(
        &s,
        &staff,
        m.t("manager.devices_title"),
        "/manager",
        Live::default(),
        body,
    ))
}

#[derive(Debug, Deserialize)]
pub struct DeviceForm {
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    compartments: String,
}

/// `POST /manager/devices/add`: the password and the certificate bundle
/// are shown once, on a page of their own.
pub async fn device_add(
    State(s): State<AppState>,
    f: PageForm<DeviceForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::ManagerPages)?;
    let m = &s.messages;
    let name = f.form.name.trim().to_string();
    let refused = |message: String| Done {
        ok: false,
        message,
        go: "/manager/devices".into(),
        regions: vec![],
    };
    let Some(kind) = protocol::DeviceKind::from_name(f.form.kind.trim()) else {
        return Ok(refused(m.t("devices.kind_missing").to_string()).respond(&s, &f.staff, f.fetch));
    };
    let compartments = match crate::domain::device::parse_compartments(&f.form.compartments) {
        Ok(c) => c,
        Err(e) => return Ok(refused(e).respond(&s, &f.staff, f.fetch)),
    };
    let principal = f.staff.0.principal();
    match crate::web::api::admin::register_device(&s, &principal, &name, kind, compartments).await {
        Ok(added) => {
            tracing::info!(by = %f.staff.0.member.id, device = %name, "device added on the manager page");
            use base64::Engine as _;
            let href = format!(
                "data:application/x-pem-file;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(&added.bundle)
            );
            let body = html! {
                h1 { (m.t("manager.devices_title")) }
                section class="card" role="status" {
                    h2 { (m.f("devices.added_title", &[("name", &name)])) }
                    p { (m.f("devices.added", &[("name", &name), ("password", &added.password)])) }
                    p { a class="button primary" id="bundle-download" download=(format!("{name}.bundle.pem")) href=(href) { (m.t("devices.bundle_download")) } }
                    details {
                        summary { (m.t("devices.bundle_show")) }
                        textarea readonly rows="12" class="mono" id="bundle" { (added.bundle) }
                    }
                    p { a href="/manager/devices" { (m.t("devices.back")) } }
                }
            };
            Ok(layout(
                &s,
                &f.staff,
                m.t("manager.devices_title"),
                "/manager",
                Live::default(),
                body,
            ))
        }
        Err(e) => Ok(refused(super::error_text(m, &e)).respond(&s, &f.staff, f.fetch)),
    }
}

/// `POST /manager/devices/remove`
pub async fn device_remove(
    State(s): State<AppState>,
    f: PageForm<DeviceForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::ManagerPages)?;
    let m = &s.messages;
    let name = f.form.name.trim().to_string();
    let principal = f.staff.0.principal();
    let done = match crate::web::api::admin::unregister_device(&s, &principal, &name).await {
        Ok(()) => {
            tracing::info!(by = %f.staff.0.member.id, device = %name, "device removed on the manager page");
            Done {
                ok: true,
                message: m.f("devices.removed", &[("name", &name)]),
                go: "/manager/devices".into(),
                regions: vec![],
            }
        }
        Err(e) => Done {
            ok: false,
            message: super::error_text(m, &e),
            go: "/manager/devices".into(),
            regions: vec![],
        },
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}

/// `GET /manager/settings`
pub async fn settings(State(s): State<AppState>, staff: Staff) -> Result<Response, PageError> {
    staff.require(&s, Routes::ManagerPages)?;
    let m = &s.messages;
    let now = s.pickup_times();
    let from_config = s.store.site().pickup.is_none();
    let body = html! {
        h1 { (m.t("manager.settings_title")) }
        (subnav(&s, "/manager/settings"))
        section class="card" aria-labelledby="pickup-h" {
            h2 id="pickup-h" { (m.t("settings.pickup")) }
            @if from_config { p class="muted small" { (m.t("settings.from_config")) } }
            form method="post" action="/manager/settings" class="stack" {
                (csrf(&staff))
                label for="expiry" { (m.t("settings.expiry_hours")) }
                input id="expiry" name="expiry_hours" type="number" inputmode="decimal" step="0.25" min="0.25" max="2160" required
                    value=(format_hours(now.expiry_s));
                label for="reminder" { (m.t("settings.reminder_hours")) }
                input id="reminder" name="reminder_hours" type="number" inputmode="decimal" step="0.25" min="0" max="2159" required
                    value=(format_hours(now.reminder_s));
                p class="muted small" { (m.t("settings.reminder_help")) }
                button type="submit" class="primary" { (m.t("settings.save")) }
            }
        }
    };
    Ok(layout(
        &s,
        &staff,
        m.t("manager.settings_title"),
        "/manager",
        Live::default(),
        body,
    ))
}

fn format_hours(s: u64) -> String {
    let h = s as f64 / 3600.0;
    let t = format!("{h:.2}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    expiry_hours: f64,
    reminder_hours: f64,
}

/// `POST /manager/settings`
pub async fn settings_save(
    State(s): State<AppState>,
    f: PageForm<SettingsForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::ManagerPages)?;
    let m = &s.messages;
    let secs = |h: f64| {
        if (0.0..=100_000.0).contains(&h) {
            (h * 3600.0).round() as u64
        } else {
            u64::MAX
        }
    };
    let command = Command::SetPickupTimes {
        expiry_s: secs(f.form.expiry_hours),
        reminder_s: secs(f.form.reminder_hours),
    };
    let done = match super::run(&s, &f.staff, command).await {
        Ok(_) => Done {
            ok: true,
            message: m.t("settings.saved").into(),
            go: "/manager/settings".into(),
            regions: vec![],
        },
        Err(text) => Done {
            ok: false,
            message: text,
            go: "/manager/settings".into(),
            regions: vec![],
        },
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}

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
    let nonempty = |o: &Option<String>| {
        o.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let order = nonempty(&q.order);
    let kind = nonempty(&q.kind).and_then(|k| EventKind::from_name(&k));
    let filter = AuditFilter {
        order: order.as_deref().and_then(|o| OrderId::new(o).ok()),
        staff: nonempty(&q.staff),
        kind,
        from_ms: nonempty(&q.from).and_then(|d| s.clock.parse_day(&d)),
        to_ms: nonempty(&q.to)
            .and_then(|d| s.clock.parse_day(&d))
            .map(|t| t + 86_400_000),
        before: q.before,
        limit: 50,
    };
    let store = s.store.clone();
    let f2 = filter.clone();
    let page = crate::web::blocking(move || audit::page(&store, &f2)).await?;
    let members = s.store.staff_list();
    let keep = |extra: &str| {
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
    };
    let body = html! {
        h1 { (m.t("manager.audit_title")) }
        (subnav(&s, "/manager/audit"))
        form method="get" action="/manager/audit" class="card filters" role="search" {
            div class="filter" {
                label for="f-order" { (m.t("audit.order")) }
                input id="f-order" name="order" type="text" value=(q.order.clone().unwrap_or_default()) maxlength="64";
            }
            div class="filter" {
                label for="f-staff" { (m.t("audit.staff")) }
                select id="f-staff" name="staff" {
                    option value="" { (m.t("audit.anyone")) }
                    @for mem in &members { option value=(mem.id) selected[q.staff.as_deref() == Some(mem.id.as_str())] { (mem.name) " (" (mem.id) ")" } }
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
                            td { (who(&s, &e.actor)) }
                            td {
                                @if e.order_id.is_reserved() { span class="muted" { (m.t("audit.store_stream")) } }
                                @else { a href={"/orders/" (e.order_id)} { (e.order_id) } }
                            }
                            td { span class="small muted" { (e.event.kind().name()) } br; (describe(&s, e)) }
                        }
                    }
                }
            }
        }
        @if let Some(b) = page.next_before {
            p { a class="button" href=(keep(&format!("before={b}"))) { (m.t("audit.older")) } }
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
