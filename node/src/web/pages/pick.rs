//! The picker's pages: the pick queue, and the pick walk (one order or a
//! batch), scan-first.
use crate::domain::permissions::Routes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{html, Markup};
use protocol::{Command, OrderId, ShortReason, SlotKind, StagingSlot};
use serde::Deserialize;

use super::{
    csrf, layout, location, refusal, run, short_reason_key, slot_key, zone_badge, Done, Live,
    PageError, PageForm, Staff,
};
use crate::domain::order::LineState;
use crate::domain::{Order, OrderState};
use crate::i18n::Messages;
use crate::read::queue::{self, QueueEntry};
use crate::read::walk::{self, Walk, WalkLine, WalkRef};
use crate::web::time::StoreClock;
use crate::web::AppState;

/// Orders shown on the queue page (the rest are counted).
pub const QUEUE_SHOWN: usize = 50;

/// One order in the queue list. Also rendered by the live feed, so it
/// depends only on the order.
pub fn queue_row(m: &Messages, clock: &StoreClock, e: &QueueEntry) -> Markup {
    let first_name = e
        .customer_name
        .split_whitespace()
        .next()
        .unwrap_or_default();
    html! {
        li id={"q-" (e.order_id)} class={"card queue-item" @if e.late {" late"}} data-key=(e.sort_key) {
            label class="check" {
                input type="checkbox" name="order" value=(e.order_id)
                    aria-label=(m.f("pick.select", &[("order", &e.order_id)]));
            }
            div class="grow" {
                div class="row" {
                    strong class="order-id" { (e.order_id) }
                    span class="muted" { (first_name) }
                }
                div class="row" {
                    @if e.late {
                        span class="badge late" { (m.t("pick.late")) }
                    }
                    @if let Some(due) = e.due_at_ms {
                        span { (m.f("pick.due", &[("time", &clock.short(due))])) }
                    }
                    span { (m.n("pick.lines", e.lines as u64, &[])) " · " (m.n("pick.units", u64::from(e.units), &[])) }
                    @for z in &e.zones { (zone_badge(m, *z)) }
                }
            }
            button type="submit" class="primary" formaction="/pick/claim" name="order_id" value=(e.order_id) {
                (m.t("pick.claim"))
            }
        }
    }
}

/// The queue list (a live region).
fn queue_list(s: &AppState, view: &queue::QueueView, seq: u64) -> Markup {
    let m = &s.messages;
    html! {
        div data-region="queue" data-seq=(seq) {
            p class="muted" id="queue-count" data-total=(view.total) data-template=(m.t("pick.waiting"))
                data-template-one=(m.t("pick.waiting_one")) {
                (m.n("pick.waiting", view.total as u64, &[]))
                @if view.total > view.entries.len() {
                    " · " (m.f("pick.shown", &[("n", &view.entries.len())]))
                }
            }
            @if view.entries.is_empty() {
                p class="empty" id="queue-empty" { (m.t("pick.queue_empty")) }
            }
            ul class="cards" id="queue" data-limit=(QUEUE_SHOWN) {
                @for e in &view.entries { (queue_row(m, &s.clock, e)) }
            }
        }
    }
}

/// `GET /pick`: the pick queue.
pub async fn queue(State(s): State<AppState>, staff: Staff) -> Result<Response, PageError> {
    staff.require(&s, Routes::PickPages)?;
    let m = &s.messages;
    let seq = s.store.head();
    let store = s.store.clone();
    let me = staff.0.member.id.clone();
    let (view, mine) = crate::web::blocking(move || {
        Ok::<_, crate::store::StoreError>((
            queue::pick_queue(&store, QUEUE_SHOWN)?,
            queue::picking_by(&store, &me)?,
        ))
    })
    .await?;
    // My walks: batch walks once, single orders each.
    let mut walks: Vec<(String, String, usize)> = Vec::new();
    for o in &mine {
        let (href, label) = match &o.walk_id {
            Some(w) => (
                format!("/pick/walk/{w}"),
                m.t("pick.batch_walk").to_string(),
            ),
            None => (format!("/pick/order/{}", o.id), o.id.to_string()),
        };
        match walks.iter_mut().find(|(h, _, _)| *h == href) {
            Some(w) => w.2 += 1,
            None => walks.push((href, label, 1)),
        }
    }
    let body = html! {
        h1 { (m.t("pick.queue_title")) }
        @if !walks.is_empty() {
            section class="card mine" aria-labelledby="mine-h" {
                h2 id="mine-h" { (m.t("pick.yours")) }
                ul class="plain" {
                    @for (href, label, n) in &walks {
                        li { a class="button" href=(href) { (m.f("pick.continue", &[("what", label), ("n", n)])) } }
                    }
                }
            }
        }
        form id="batch" method="post" action="/pick/batch" class="queue-form" {
            (csrf(&staff))
            (queue_list(&s, &view, seq))
            div class="sticky-bar" {
                button type="submit" class="big" id="start-batch" data-template=(m.t("pick.start_batch_n")) { (m.t("pick.start_batch")) }
            }
        }
    };
    Ok(layout(
        &s,
        &staff,
        m.t("pick.queue_title"),
        "/pick",
        Live {
            channels: &["queue"],
            orders: vec![],
        },
        body,
    ))
}

#[derive(Debug, Deserialize)]
pub struct ClaimForm {
    order_id: String,
}

/// `POST /pick/claim`: take one order.
pub async fn claim(
    State(s): State<AppState>,
    f: PageForm<ClaimForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::PickPages)?;
    let m = &s.messages;
    let Ok(id) = OrderId::new(f.form.order_id.trim()) else {
        return Err(PageError::NotFound {
            message: m.t("error.not_found.text").into(),
        });
    };
    let done = match run(
        &s,
        &f.staff,
        Command::StartPick {
            order_id: id.clone(),
            staff: String::new(),
            walk_id: None,
            tote: 1,
        },
    )
    .await
    {
        Ok(_) => Done {
            ok: true,
            message: String::new(),
            go: format!("/pick/order/{id}"),
            regions: vec![],
        },
        Err(text) => Done {
            ok: false,
            message: text,
            go: "/pick".into(),
            regions: vec![],
        },
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}

#[derive(Debug, Deserialize)]
pub struct BatchForm {}

/// `POST /pick/batch`: the ticked orders in one walk, one tote each.
pub async fn batch(
    State(s): State<AppState>,
    f: PageForm<BatchForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::PickPages)?;
    let m = &s.messages;
    let ids: Vec<OrderId> = f
        .pairs
        .iter()
        .filter(|(k, _)| k == "order")
        .filter_map(|(_, v)| OrderId::new(v.trim()).ok())
        .collect();
    if ids.len() < 2 {
        let done = Done {
            ok: false,
            message: m.t("pick.batch_needs_two").into(),
            go: "/pick".into(),
            regions: vec![],
        };
        return Ok(done.respond(&s, &f.staff, f.fetch));
    }
    let caller = f.staff.caller();
    let done = match crate::web::api::picking::start_walk_orders(&s, &caller, ids, "").await {
        Ok((walk_id, joined, refused)) if !joined.is_empty() => {
            let mut message = m.f("pick.batch_started", &[("n", &joined.len())]);
            for (id, r) in &refused {
                message.push_str(&format!(" · {id}: {}", refusal(m, r)));
            }
            Done {
                ok: refused.is_empty(),
                message,
                go: format!("/pick/walk/{walk_id}"),
                regions: vec![],
            }
        }
        Ok((_, _, refused)) => {
            let why: Vec<String> = refused
                .iter()
                .map(|(id, r)| format!("{id}: {}", refusal(m, r)))
                .collect();
            Done {
                ok: false,
                message: format!("{} {}", m.t("pick.batch_none"), why.join(" · ")),
                go: "/pick".into(),
                regions: vec![],
            }
        }
        Err(e) => Done {
            ok: false,
            message: super::error_text(m, &e),
            go: "/pick".into(),
            regions: vec![],
        },
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}

/// The walk reference as a form field: `order:ID` or `walk:ID`.
fn walk_field(w: &WalkRef) -> String {
    match w {
        WalkRef::Order(id) => format!("order:{id}"),
        WalkRef::Walk(id) => format!("walk:{id}"),
    }
}

fn parse_walk(text: &str) -> Option<WalkRef> {
    match text.split_once(':')? {
        ("order", id) => OrderId::new(id).ok().map(WalkRef::Order),
        ("walk", id) if !id.is_empty() && id.len() <= 40 => Some(WalkRef::Walk(id.to_string())),
        _ => None,
    }
}

/// The walk and the order a walk form names; a form that names neither
/// properly is for a walk that is not there.
fn target(s: &AppState, w: &str, order_id: &str) -> Result<(WalkRef, OrderId), PageError> {
    let missing = || PageError::NotFound {
        message: s.messages.t("pick.no_walk").into(),
    };
    let w = parse_walk(w).ok_or_else(missing)?;
    let order_id = OrderId::new(order_id.trim()).map_err(|_| missing())?;
    Ok((w, order_id))
}

fn walk_path(w: &WalkRef) -> String {
    match w {
        WalkRef::Order(id) => format!("/pick/order/{id}"),
        WalkRef::Walk(id) => format!("/pick/walk/{id}"),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct TabQuery {
    #[serde(default)]
    tab: Option<String>,
}

/// `GET /pick/order/{id}`
pub async fn order_walk(
    State(s): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    q: Result<Query<TabQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let m = &s.messages;
    let id = OrderId::new(id.trim()).map_err(|_| PageError::NotFound {
        message: m.t("error.not_found.text").into(),
    })?;
    walk_page(s, staff, WalkRef::Order(id), q.ok().and_then(|q| q.0.tab)).await
}

/// `GET /pick/walk/{walk}`
pub async fn batch_walk(
    State(s): State<AppState>,
    staff: Staff,
    Path(walk): Path<String>,
    q: Result<Query<TabQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    walk_page(s, staff, WalkRef::Walk(walk), q.ok().and_then(|q| q.0.tab)).await
}

async fn load(s: &AppState, w: &WalkRef) -> Result<Option<Walk>, PageError> {
    let store = s.store.clone();
    let w = w.clone();
    Ok(crate::web::blocking(move || walk::load(&store, &w)).await?)
}

async fn walk_page(
    s: AppState,
    staff: Staff,
    w: WalkRef,
    tab: Option<String>,
) -> Result<Response, PageError> {
    staff.require(&s, Routes::PickPages)?;
    let m = &s.messages;
    let seq = s.store.head();
    let Some(walk) = load(&s, &w).await? else {
        // A batch walk whose orders are all staged is over.
        let body = html! {
            h1 { (m.t("pick.walk_over")) }
            (walk_finished(m, seq))
        };
        let title = m.t("pick.walk_over");
        return Ok(layout(&s, &staff, title, "/pick", Live::default(), body));
    };
    let done_tab = tab.as_deref() == Some("done");
    let title = match &w {
        WalkRef::Order(id) => m.f("pick.walk_order", &[("order", id)]),
        WalkRef::Walk(_) => m.f("pick.walk_batch", &[("n", &walk.orders.len())]),
    };
    let picking = walk.orders.iter().any(|o| o.state == OrderState::Picking);
    let body = html! {
        h1 { (title) }
        @if picking {
            form id="scan-form" method="post" action="/pick/scan" class="scan-form" data-fetch {
                (csrf(&staff))
                input type="hidden" name="w" value=(walk_field(&w));
                label for="scan" { (m.t("pick.scan_label")) }
                div class="row" {
                    input id="scan" class="scan" name="barcode" type="text" inputmode="none"
                        autocomplete="off" autocapitalize="off" spellcheck="false" enterkeyhint="go"
                        autofocus required maxlength="64";
                    button type="submit" class="primary" { (m.t("pick.scan_submit")) }
                }
            }
        }
        (walk_region(&s, &staff, &w, &walk, done_tab, seq))
    };
    let orders = walk.orders.iter().map(|o| o.id.to_string()).collect();
    Ok(layout(
        &s,
        &staff,
        &title,
        "/pick",
        Live {
            channels: &["orders"],
            orders,
        },
        body,
    ))
}

/// Lines (open / done tabs) and staging: the part of the walk page that
/// every action re-renders.
/// `seq`: the log head read before the walk was (the page's script skips
/// a live refresh for events it already shows).
fn walk_region(
    s: &AppState,
    staff: &Staff,
    w: &WalkRef,
    walk: &Walk,
    done_tab: bool,
    seq: u64,
) -> Markup {
    let m = &s.messages;
    let batch = matches!(w, WalkRef::Walk(_));
    let total = walk.lines.len();
    let done = walk.done().count();
    let open = total - done;
    let path = walk_path(w);
    let to_stage: Vec<&Order> = walk.to_stage().collect();
    let cancelled: Vec<&Order> = walk
        .orders
        .iter()
        .filter(|o| o.state == OrderState::Cancelled)
        .collect();
    let all_staged = walk.orders.iter().all(|o| {
        matches!(
            o.state,
            OrderState::Staged | OrderState::Ready | OrderState::Cancelled | OrderState::Fulfilled
        )
    });
    html! {
        div data-region="walk" data-seq=(seq) {
            p class="progress-text" {
                (m.f("pick.progress", &[("done", &done), ("total", &total)]))
            }
            progress max=(total) value=(done) aria-label=(m.t("pick.progress_label")) {}
            @for o in &cancelled {
                p class="result bad" { (m.f("pick.cancelled", &[("order", &o.id)])) }
            }
            div class="tabs" role="tablist" {
                a role="tab" href={(path) "?tab=open"} data-tab="open" aria-selected=(if done_tab { "false" } else { "true" }) {
                    (m.f("pick.tab_open", &[("n", &open)]))
                }
                a role="tab" href={(path) "?tab=done"} data-tab="done" aria-selected=(if done_tab { "true" } else { "false" }) {
                    (m.f("pick.tab_done", &[("n", &done)]))
                }
            }
            div id="tab-open" role="tabpanel" hidden[done_tab] {
                @if open == 0 && !to_stage.is_empty() {
                    p class="empty" { (m.t("pick.all_lines_done")) }
                }
                ul class="cards lines" {
                    @for l in walk.open() { (open_line(s, staff, w, l, batch)) }
                }
            }
            div id="tab-done" role="tabpanel" hidden[!done_tab] {
                ul class="cards lines" {
                    @for l in walk.done() { (done_line(m, l, batch)) }
                }
            }
            @if !to_stage.is_empty() {
                section class="stage" aria-labelledby="stage-h" {
                    h2 id="stage-h" { (m.t("pick.stage_title")) }
                    @for o in &to_stage { (stage_form(s, staff, w, o, batch)) }
                }
            }
            @if all_staged {
                div class="card done-all" {
                    p class="result ok" { (m.t("pick.walk_done")) }
                    @for o in &walk.orders {
                        @if let Some(slot) = &o.slot {
                            p { (o.id) ": " (m.t(slot_key(slot.kind))) " " strong { (slot.id) } }
                        }
                    }
                    a class="button primary big" href="/pick" { (m.t("pick.back_to_queue")) }
                }
            }
        }
    }
}

/// The walk region once a batch walk is over.
fn walk_finished(m: &Messages, seq: u64) -> Markup {
    html! {
        div data-region="walk" data-seq=(seq) {
            div class="card done-all" {
                p class="result ok" { (m.t("pick.walk_done")) }
                a class="button primary big" href="/pick" { (m.t("pick.back_to_queue")) }
            }
        }
    }
}

fn line_head(m: &Messages, l: &WalkLine, batch: bool) -> Markup {
    html! {
        div class="row" {
            strong class="item-name" { (l.name) }
        }
        div class="row" {
            span class="qty" { (m.f("pick.qty", &[("picked", &l.picked), ("n", &l.quantity)])) }
            span class="where" { (location(m, &l.location)) }
            (zone_badge(m, l.zone))
            @if batch {
                span class="badge tote" { (m.f("pick.tote", &[("n", &l.tote)])) }
            }
        }
        div class="row muted small" { (l.sku) @if batch { " · " (l.order_id) } }
    }
}

fn hidden_line(staff: &Staff, w: &WalkRef, l: &WalkLine) -> Markup {
    html! {
        (csrf(staff))
        input type="hidden" name="w" value=(walk_field(w));
        input type="hidden" name="order_id" value=(l.order_id);
        input type="hidden" name="line_no" value=(l.line_no);
    }
}

fn open_line(s: &AppState, staff: &Staff, w: &WalkRef, l: &WalkLine, batch: bool) -> Markup {
    let m = &s.messages;
    let key = format!("{}-{}", l.order_id, l.line_no);
    let open = l.quantity - l.picked;
    html! {
        li class="card line" id={"line-" (key)} {
            (line_head(m, l, batch))
            div class="actions" {
                details class="panel short" {
                    summary class="button" { (m.t("pick.short")) }
                    form method="post" action="/pick/short" class="stack" data-fetch {
                        (hidden_line(staff, w, l))
                        fieldset class="reasons" {
                            legend { (m.t("pick.short_reason")) }
                            @for (i, r) in ShortReason::ALL.iter().enumerate() {
                                label class="radio" {
                                    input type="radio" name="reason" value=(r.name()) checked[i == 0];
                                    (m.t(short_reason_key(*r)))
                                }
                            }
                        }
                        fieldset class="counts" {
                            legend { (m.t("pick.short_found")) }
                            div class="count-buttons" {
                                @for n in l.picked..l.quantity {
                                    button type="submit" name="found" value=(n) class="count" {
                                        (n)
                                    }
                                }
                            }
                        }
                    }
                }
                @if l.substitution_allowed {
                    details class="panel subst" {
                        summary class="button" { (m.t("pick.substitute")) }
                        form method="post" action="/pick/substitute" class="stack" data-fetch {
                            (hidden_line(staff, w, l))
                            label for={"sub-" (key)} { (m.t("pick.substitute_scan")) }
                            input id={"sub-" (key)} class="scan" name="barcode" type="text" inputmode="none"
                                autocomplete="off" spellcheck="false" required maxlength="64";
                            label for={"subq-" (key)} { (m.t("pick.substitute_qty")) }
                            input id={"subq-" (key)} name="quantity" type="number" inputmode="numeric"
                                min="1" max=(open) value=(open) required;
                            button type="submit" class="primary" { (m.t("pick.substitute_submit")) }
                        }
                    }
                } @else {
                    span class="muted small" { (m.t("pick.no_substitutes")) }
                }
            }
        }
    }
}

fn done_line(m: &Messages, l: &WalkLine, batch: bool) -> Markup {
    html! {
        li class={"card line done " (l.state.name())} {
            (line_head(m, l, batch))
            div class="row" {
                @match l.state {
                    LineState::Picked => span class="chip ok" { (m.t("line.picked")) },
                    LineState::Shorted => span class="chip warn" { (m.f("line.shorted", &[("found", &l.picked), ("n", &l.quantity)])) },
                    LineState::Substituted => span class="chip warn" {
                        (m.f("line.substituted", &[("sku", &l.substitute.as_ref().map(|x| x.sku.clone()).unwrap_or_default()), ("n", &l.substitute.as_ref().map_or(0, |x| x.quantity))]))
                    },
                    LineState::Rejected => span class="chip warn" { (m.t("line.rejected")) },
                    LineState::Open => {},
                }
            }
        }
    }
}

fn stage_form(s: &AppState, staff: &Staff, w: &WalkRef, o: &Order, batch: bool) -> Markup {
    let m = &s.messages;
    // What the rules allow for what was taken: frozen only the freezer,
    // chilled only cold storage, ambient anywhere — of which the page
    // offers the shelf (first) and cold storage. Lockers stage themselves.
    let kinds = crate::domain::handover::suitable_slots(&s.store, o);
    let ambient = kinds.contains(&SlotKind::Shelf);
    let shown: Vec<SlotKind> = kinds
        .iter()
        .copied()
        .filter(|k| *k != SlotKind::Locker && !(ambient && *k == SlotKind::Freezer))
        .collect();
    let preferred = shown.first().copied().unwrap_or(SlotKind::Shelf);
    html! {
        form method="post" action="/pick/stage" class="card stack stage-form" id={"stage-" (o.id)} data-fetch {
            (csrf(staff))
            input type="hidden" name="w" value=(walk_field(w));
            input type="hidden" name="order_id" value=(o.id);
            p { strong { (o.id) } @if batch { " · " (m.f("pick.tote", &[("n", &o.tote.unwrap_or(1))])) } }
            fieldset class="slots" {
                legend { (m.t("pick.stage_where")) }
                @for k in &shown {
                    label class="radio big" {
                        input type="radio" name="kind" value=(slot_name(*k)) checked[*k == preferred];
                        (m.t(slot_key(*k)))
                    }
                }
            }
            label for={"slot-" (o.id)} { (m.t("pick.stage_slot")) }
            input id={"slot-" (o.id)} name="slot_id" type="text" required maxlength="20"
                autocomplete="off" autocapitalize="characters" spellcheck="false";
            button type="submit" class="primary big" { (m.t("pick.stage_submit")) }
        }
    }
}

fn slot_name(k: SlotKind) -> &'static str {
    match k {
        SlotKind::Shelf => "shelf",
        SlotKind::ColdStorage => "cold_storage",
        SlotKind::Freezer => "freezer",
        SlotKind::Locker => "locker",
    }
}

fn slot_from(name: &str) -> Option<SlotKind> {
    [
        SlotKind::Shelf,
        SlotKind::ColdStorage,
        SlotKind::Freezer,
        SlotKind::Locker,
    ]
    .into_iter()
    .find(|k| slot_name(*k) == name)
}

/// After an action on a walk: the message and the re-rendered walk.
async fn answer(
    s: &AppState,
    f: &PageForm<impl Sized>,
    w: &WalkRef,
    ok: bool,
    message: String,
) -> Result<Response, PageError> {
    let mut regions = vec![];
    if f.fetch {
        let seq = s.store.head();
        let region = match load(s, w).await? {
            Some(walk) => walk_region(s, &f.staff, w, &walk, false, seq),
            None => walk_finished(&s.messages, seq),
        };
        regions.push(("walk", region.into_string()));
    }
    Ok(Done {
        ok,
        message,
        go: walk_path(w),
        regions,
    }
    .respond(s, &f.staff, f.fetch))
}

#[derive(Debug, Deserialize)]
pub struct ScanForm {
    w: String,
    barcode: String,
}

/// `POST /pick/scan`: a scan picks one unit of the first open line (in
/// walking order) that wants the item; any other barcode is refused and
/// named.
pub async fn scan(State(s): State<AppState>, f: PageForm<ScanForm>) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::PickPages)?;
    let m = &s.messages;
    let w = parse_walk(&f.form.w).ok_or_else(|| PageError::NotFound {
        message: m.t("pick.no_walk").into(),
    })?;
    let Some(walk) = load(&s, &w).await? else {
        return Err(PageError::NotFound {
            message: m.t("pick.no_walk").into(),
        });
    };
    let barcode = f.form.barcode.trim().to_string();
    let (line, order_id) = match walk.match_scan(&s.store, &barcode) {
        Ok(l) => (l.clone(), l.order_id.clone()),
        Err(r) => return answer(&s, &f, &w, false, refusal(m, &r)).await,
    };
    let result = run(
        &s,
        &f.staff,
        Command::PickItem {
            order_id,
            line_no: line.line_no,
            barcode,
            quantity: 1,
            staff: String::new(),
        },
    )
    .await;
    let (ok, message) = match result {
        Ok(_) => {
            let mut text = m.f(
                "pick.scanned",
                &[
                    ("item", &line.name),
                    ("picked", &(line.picked + 1)),
                    ("n", &line.quantity),
                ],
            );
            if matches!(w, WalkRef::Walk(_)) {
                text.push_str(" · ");
                text.push_str(&m.f("pick.put_in_tote", &[("n", &line.tote)]));
            }
            (true, text)
        }
        Err(text) => (false, text),
    };
    answer(&s, &f, &w, ok, message).await
}

#[derive(Debug, Deserialize)]
pub struct ShortForm {
    w: String,
    order_id: String,
    line_no: u32,
    found: u32,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /pick/short`: the shelf had only `found`.
pub async fn short(
    State(s): State<AppState>,
    f: PageForm<ShortForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::PickPages)?;
    let m = &s.messages;
    let (w, order_id) = target(&s, &f.form.w, &f.form.order_id)?;
    let reason = f
        .form
        .reason
        .as_deref()
        .and_then(ShortReason::from_name)
        .unwrap_or_default();
    let result = run(
        &s,
        &f.staff,
        Command::ShortItemWithReason {
            order_id,
            line_no: f.form.line_no,
            found: f.form.found,
            reason,
        },
    )
    .await;
    let (ok, message) = match result {
        Ok(_) => (
            true,
            m.f(
                "pick.shorted",
                &[("line", &f.form.line_no), ("found", &f.form.found)],
            ),
        ),
        Err(text) => (false, text),
    };
    answer(&s, &f, &w, ok, message).await
}

#[derive(Debug, Deserialize)]
pub struct SubstituteForm {
    w: String,
    order_id: String,
    line_no: u32,
    barcode: String,
    quantity: u32,
}

/// `POST /pick/substitute`: settle the line with the scanned item.
pub async fn substitute(
    State(s): State<AppState>,
    f: PageForm<SubstituteForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::PickPages)?;
    let m = &s.messages;
    let (w, order_id) = target(&s, &f.form.w, &f.form.order_id)?;
    let barcode = f.form.barcode.trim().to_string();
    let name = s
        .store
        .sku_for_barcode(&barcode)
        .and_then(|sku| s.store.item(&sku))
        .map(|i| i.item.name)
        .unwrap_or_else(|| barcode.clone());
    let result = run(
        &s,
        &f.staff,
        Command::SubstituteItem {
            order_id,
            line_no: f.form.line_no,
            barcode,
            quantity: f.form.quantity,
            staff: String::new(),
        },
    )
    .await;
    let (ok, message) = match result {
        Ok(_) => (
            true,
            m.f(
                "pick.substituted",
                &[("line", &f.form.line_no), ("item", &name)],
            ),
        ),
        Err(text) => (false, text),
    };
    answer(&s, &f, &w, ok, message).await
}

#[derive(Debug, Deserialize)]
pub struct StageForm {
    w: String,
    order_id: String,
    kind: String,
    slot_id: String,
}

/// `POST /pick/stage`: the picked order is on its staging slot; the
/// customer's code is issued.
pub async fn stage(
    State(s): State<AppState>,
    f: PageForm<StageForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::PickPages)?;
    let m = &s.messages;
    let (w, order_id) = target(&s, &f.form.w, &f.form.order_id)?;
    let Some(kind) = slot_from(&f.form.kind) else {
        return answer(&s, &f, &w, false, m.t("pick.stage_pick_kind").into()).await;
    };
    let slot = StagingSlot {
        kind,
        id: f.form.slot_id.trim().to_string(),
    };
    let result = run(
        &s,
        &f.staff,
        Command::Stage {
            order_id: order_id.clone(),
            slot: slot.clone(),
            staff: String::new(),
        },
    )
    .await;
    let (ok, message) = match result {
        Ok(_) => (
            true,
            m.f(
                "pick.staged",
                &[
                    ("order", &order_id),
                    ("slot", &format!("{} {}", m.t(slot_key(kind)), slot.id)),
                ],
            ),
        ),
        Err(text) => (false, text),
    };
    answer(&s, &f, &w, ok, message).await
}

/// A picked line's state for the order page.
pub fn line_state_chip(m: &Messages, state: LineState) -> Markup {
    let key = match state {
        LineState::Open => "line.open",
        LineState::Picked => "line.picked",
        LineState::Shorted => "line.shorted_short",
        LineState::Substituted => "line.substituted_short",
        LineState::Rejected => "line.rejected",
    };
    html! { span class={"chip line-" (state.name())} { (m.t(key)) } }
}
