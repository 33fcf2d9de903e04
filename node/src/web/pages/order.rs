//! One order: everything about it, its timeline (who, what, when), and the
//! actions the viewer's role allows.
use crate::domain::permissions::Routes;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{html, Markup};
use protocol::{
    Actor, ArrivalChannel, CancelStage, Command, Envelope, Event, OrderId, PaymentMode, PickupProof,
};
use serde::Deserialize;

use super::desk::staff_name;
use super::pick::line_state_chip;
use super::{
    csrf, layout, location, role_key, run, short_reason_key, slot_key, state_chip, urlencode,
    zone_badge, Done, Live, PageError, PageForm, Staff,
};
use crate::domain::{Order, OrderState};
use crate::i18n::Messages;
use crate::web::AppState;

/// Who did it, in words.
pub fn who(s: &AppState, actor: &Actor) -> String {
    let m = &s.messages;
    match actor {
        Actor::Staff(id) => format!("{} ({id})", staff_name(s, id)),
        Actor::Service(name) => m.f("who.service", &[("name", name)]),
        Actor::Api => m.t("who.api").to_string(),
        Actor::Device(d) => m.f("who.device", &[("name", d)]),
        Actor::Cloud => m.t("who.cloud").to_string(),
        Actor::Cli => m.t("who.cli").to_string(),
    }
}

fn payment_key(p: PaymentMode) -> &'static str {
    match p {
        PaymentMode::Prepaid => "payment.prepaid",
        PaymentMode::PayAtPickup => "payment.pay_at_pickup",
        PaymentMode::Pending => "payment.pending",
    }
}

fn stage_key(c: CancelStage) -> &'static str {
    match c {
        CancelStage::BeforePick => "cancel.before_pick",
        CancelStage::DuringPick => "cancel.during_pick",
        CancelStage::AfterPick => "cancel.after_pick",
        CancelStage::AfterStaging => "cancel.after_staging",
    }
}

fn items(list: &[protocol::SkuQuantity]) -> String {
    list.iter()
        .take(8)
        .map(|q| format!("{} × {}", q.quantity, q.sku))
        .collect::<Vec<_>>()
        .join(", ")
        + if list.len() > 8 { ", …" } else { "" }
}

/// What an event says, in the staff's words (no secrets: codes and PIN
/// hashes are not shown).
pub fn describe(s: &AppState, env: &Envelope) -> String {
    let m: &Messages = &s.messages;
    let c = &s.clock;
    match &env.event {
        Event::OrderCreated(o) => m.n(
            "event.order_created",
            o.lines.len() as u64,
            &[("customer", &o.customer_name)],
        ),
        Event::OrderAccepted => m.t("event.order_accepted").into(),
        Event::OrderRejected { reason } => m.f("event.order_rejected", &[("reason", reason)]),
        Event::OrderProcessed { payment } => m.f(
            "event.order_processed",
            &[("payment", &m.t(payment_key(*payment)))],
        ),
        Event::ShipmentPrepared { lines } => {
            m.n("event.shipment_prepared", lines.len() as u64, &[])
        }
        Event::PickStarted { tote, .. } => m.f("event.pick_started", &[("tote", tote)]),
        Event::ItemPicked {
            line_no, quantity, ..
        } => m.f("event.item_picked", &[("line", line_no), ("n", quantity)]),
        Event::ItemShorted { line_no, found, .. } => m.f(
            "event.item_shorted",
            &[
                ("line", line_no),
                ("found", found),
                ("reason", &m.t("short.reason.not_found")),
            ],
        ),
        Event::ItemShortedWithReason {
            line_no,
            found,
            reason,
            ..
        } => m.f(
            "event.item_shorted",
            &[
                ("line", line_no),
                ("found", found),
                ("reason", &m.t(short_reason_key(*reason))),
            ],
        ),
        Event::ItemSubstituted {
            line_no,
            sku,
            quantity,
            ..
        } => m.f(
            "event.item_substituted",
            &[("line", line_no), ("sku", sku), ("n", quantity)],
        ),
        Event::ShipmentProcessed { .. } => m.t("event.shipment_processed").into(),
        Event::OrderStaged { slot, .. } => m.f(
            "event.order_staged",
            &[("slot", &format!("{} {}", m.t(slot_key(slot.kind)), slot.id))],
        ),
        Event::ReadyForPickup { .. } => m.t("event.ready_for_pickup").into(),
        Event::CustomerArrived { channel, .. } => {
            let k = match channel {
                ArrivalChannel::Desk => "arrival.desk",
                ArrivalChannel::Kiosk => "arrival.kiosk",
                ArrivalChannel::Curbside => "arrival.curbside",
            };
            m.f("event.customer_arrived", &[("channel", &m.t(k))])
        }
        Event::OrderFulfilled {
            proof, id_checked, ..
        } => {
            let p = match proof {
                PickupProof::Code => m.t("proof.code"),
                PickupProof::SignedToken => m.t("proof.token"),
            };
            let id = if *id_checked {
                m.t("proof.id_checked")
            } else {
                ""
            };
            m.f("event.order_fulfilled", &[("proof", &p), ("id", &id)])
        }
        Event::PickupExpired => m.t("event.pickup_expired").into(),
        Event::OrderCancelled { reason, stage, .. } => m.f(
            "event.order_cancelled",
            &[("stage", &m.t(stage_key(*stage))), ("reason", reason)],
        ),
        Event::CancelRejected { reason } => m.f("event.cancel_rejected", &[("reason", reason)]),
        Event::Restocked { items: list, .. } => m.f("event.restocked", &[("items", &items(list))]),
        Event::StockAdjusted { sku, delta, reason } => m.f(
            "event.stock_adjusted",
            &[
                ("sku", sku),
                ("delta", &format!("{delta:+}")),
                ("reason", reason),
            ],
        ),
        Event::StockCounted { counts, .. } => {
            m.f("event.stock_counted", &[("items", &items(counts))])
        }
        Event::CatalogImported { items } => m.n("event.catalog_imported", items.len() as u64, &[]),
        Event::OrderLate { due_at_ms } => {
            m.f("event.order_late", &[("time", &c.short(*due_at_ms))])
        }
        Event::PickupReminded { expires_at_ms } => m.f(
            "event.pickup_reminded",
            &[("time", &c.short(*expires_at_ms))],
        ),
        Event::StoreClosed { reason, .. } => m.f("event.store_closed", &[("reason", reason)]),
        Event::StoreOpened { .. } => m.t("event.store_opened").into(),
        Event::LockerDoorReported { compartment, open } => m.f(
            if *open {
                "event.locker_open"
            } else {
                "event.locker_closed"
            },
            &[("c", compartment)],
        ),
        Event::StaffAdded {
            staff_id,
            name,
            role,
            ..
        } => m.f(
            "event.staff_added",
            &[
                ("id", staff_id),
                ("name", name),
                ("role", &m.t(role_key(*role))),
            ],
        ),
        Event::StaffRoleChanged { staff_id, role } => m.f(
            "event.staff_role_changed",
            &[("id", staff_id), ("role", &m.t(role_key(*role)))],
        ),
        Event::StaffDisabled { staff_id } => m.f("event.staff_disabled", &[("id", staff_id)]),
        Event::StaffEnabled { staff_id } => m.f("event.staff_enabled", &[("id", staff_id)]),
        Event::StaffPinReset { staff_id, .. } => m.f("event.staff_pin_reset", &[("id", staff_id)]),
        Event::PickupTimesChanged {
            expiry_s,
            reminder_s,
        } => m.f(
            "event.pickup_times_changed",
            &[
                ("expiry", &crate::web::time::minutes_text(expiry_s * 1000)),
                (
                    "reminder",
                    &crate::web::time::minutes_text(reminder_s * 1000),
                ),
            ],
        ),
        Event::DeviceRegistered { name, kind, .. } => m.f(
            "event.device_registered",
            &[("name", name), ("kind", &kind.name())],
        ),
        Event::DeviceRemoved { name } => m.f("event.device_removed", &[("name", name)]),
        Event::OrderRejectedWithCode { note, .. } => {
            m.f("event.order_rejected", &[("reason", note)])
        }
        Event::OrderLinesRejected { lines, .. } => m.f(
            "event.order_lines_rejected",
            &[(
                "lines",
                &lines
                    .iter()
                    .map(|l| {
                        format!(
                            "{} × {} ({})",
                            l.quantity,
                            l.sku,
                            l.code.name().replace('_', " ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            )],
        ),
        Event::TillReceiptRecorded { receipt, .. } => m.f(
            "event.till_receipt_recorded",
            &[
                ("till", &receipt.till),
                ("kind", &receipt.kind.name()),
                ("id", &receipt.receipt_id),
            ],
        ),
        Event::StockWrittenOff {
            sku,
            quantity,
            reason,
            ..
        } => m.f(
            "event.stock_written_off",
            &[
                ("sku", sku),
                ("n", quantity),
                ("reason", &reason.name().replace('_', " ")),
            ],
        ),
        Event::SafetyStockSet { scope, safety, .. } => {
            let what = match scope {
                protocol::SafetyScope::Store => "*".to_string(),
                protocol::SafetyScope::Category(c) => c.clone(),
                protocol::SafetyScope::Sku(s) => s.clone(),
            };
            let n = safety.map_or_else(|| "–".to_string(), |n| n.to_string());
            m.f("event.safety_stock_set", &[("what", &what), ("n", &n)])
        }
        Event::DeliveryAnnounced { delivery_id, .. } => {
            m.f("event.delivery_announced", &[("id", delivery_id)])
        }
        Event::DeliveryReceived { delivery_id, .. } => {
            m.f("event.delivery_received", &[("id", delivery_id)])
        }
        Event::StockSnapshotReconciled { items, .. } => {
            m.f("event.stock_snapshot_reconciled", &[("n", &items.len())])
        }
        Event::CountTaskOpened { sku, reason, .. } => m.f(
            "event.count_task_opened",
            &[
                ("sku", sku),
                ("reason", &m.t(&format!("count.reason.{}", reason.name()))),
            ],
        ),
        Event::CountRecorded {
            task_id, counted, ..
        } => m.f("event.count_recorded", &[("sku", task_id), ("n", counted)]),
        Event::CountApplied {
            sku,
            counted,
            moved_since,
            ..
        } => m.f(
            "event.count_applied",
            &[("sku", sku), ("n", &(i64::from(*counted) + moved_since))],
        ),
        Event::CountTaskCancelled { sku, .. } => m.f("event.count_task_cancelled", &[("sku", sku)]),
        Event::AvailabilityChanged { items } => {
            m.f("event.availability_changed", &[("n", &items.len())])
        }
        Event::AvailabilitySnapshot { part, parts, .. } => m.f(
            "event.availability_snapshot",
            &[("part", part), ("parts", parts)],
        ),
        Event::CatalogEntriesImported { items } => {
            m.n("event.catalog_imported", items.len() as u64, &[])
        }
        Event::OrderPartialPolicy { partial } => m.f(
            "event.order_partial_policy",
            &[("partial", &m.t(&format!("partial.{}", partial.name())))],
        ),
    }
}

/// A timeline of events, newest last.
pub fn timeline(s: &AppState, events: &[Envelope]) -> Markup {
    html! {
        ol class="timeline" {
            @for e in events {
                li {
                    time datetime=(crate::web::time::StoreClock::iso(e.time_ms)) { (s.clock.full(e.time_ms)) }
                    " "
                    span class="who" { (who(s, &e.actor)) }
                    " — "
                    span { (describe(s, e)) }
                }
            }
        }
    }
}

fn facts(s: &AppState, o: &Order) -> Markup {
    let m = &s.messages;
    let c = &s.clock;
    html! {
        dl class="facts" {
            dt { (m.t("order.customer")) } dd { (o.content.customer_name) }
            dt { (m.t("order.created")) } dd { (c.short(o.created_ms)) }
            @if let Some(due) = o.content.due_at_ms {
                dt { (m.t("order.due")) } dd { (c.short(due)) @if o.late { " " span class="badge late" { (m.t("pick.late")) } } }
            }
            dt { (m.t("order.payment")) } dd { (m.t(payment_key(o.content.payment))) }
            @if let Some(p) = &o.picker {
                dt { (m.t("order.picker")) } dd { (staff_name(s, p)) @if let Some(t) = o.tote { " · " (m.f("pick.tote", &[("n", &t)])) } }
            }
            @if let Some(slot) = &o.slot {
                dt { (m.t("order.slot")) } dd { (m.t(slot_key(slot.kind))) " " (slot.id) }
            }
            @if let Some(r) = o.ready_ms {
                dt { (m.t("order.ready_at")) } dd { (c.short(r)) }
            }
            @if let Some(a) = &o.arrival {
                dt { (m.t("order.arrived")) } dd { (c.short(a.at_ms)) @if let Some(n) = &a.note { " · " (n) } }
            }
            @if let Some(h) = &o.handed_over {
                dt { (m.t("order.handed_over")) } dd { (c.short(h.at_ms)) " · " (staff_name(s, &h.by)) @if h.id_checked { " · " (m.t("proof.id_checked")) } }
            }
            @if let Some(x) = &o.cancel {
                dt { (m.t("order.cancelled")) } dd { (m.t(stage_key(x.stage))) ": " (x.reason) " · " (staff_name(s, &x.by)) }
            }
            @if let Some(r) = &o.reject_reason {
                dt { (m.t("order.rejected")) } dd { (r) }
            }
        }
    }
}

fn lines(s: &AppState, o: &Order) -> Markup {
    let m = &s.messages;
    html! {
        div class="table-wrap" tabindex="0" role="region" aria-label=(m.t("order.lines")) {
            table class="lines-table" {
                caption class="sr-only" { (m.t("order.lines")) }
                thead { tr {
                    th scope="col" { "#" }
                    th scope="col" { (m.t("order.item")) }
                    th scope="col" { (m.t("order.qty")) }
                    th scope="col" { (m.t("order.state")) }
                    th scope="col" { (m.t("order.where")) }
                } }
                tbody {
                    @if o.pick_lines.is_empty() {
                        @for (i, l) in o.content.lines.iter().enumerate() {
                            tr { td { (i + 1) } td { (item_name(s, &l.sku)) } td { (l.quantity) } td { "—" } td { "—" } }
                        }
                    }
                    @for (l, p) in o.pick_lines.iter().zip(&o.progress) {
                        tr {
                            td { (l.line_no) }
                            td {
                                (item_name(s, &l.sku))
                                @if let Some(sub) = &p.substitute {
                                    br; span class="small" { "→ " (item_name(s, &sub.sku)) " × " (sub.quantity) }
                                }
                            }
                            td { (p.picked) " / " (l.quantity) }
                            td { (line_state_chip(m, p.state)) }
                            td { (location(m, &l.location)) " " (zone_badge(m, l.zone)) }
                        }
                    }
                }
            }
        }
    }
}

fn item_name(s: &AppState, sku: &str) -> String {
    s.store
        .item(sku)
        .map_or_else(|| sku.to_string(), |i| format!("{} ({sku})", i.item.name))
}

fn actions(s: &AppState, staff: &Staff, o: &Order) -> Markup {
    let m = &s.messages;
    html! {
        div class="actions big-actions" {
            @if staff.may_open(Routes::PickPages) && o.state == OrderState::Prepared {
                form method="post" action="/pick/claim" {
                    (csrf(staff))
                    input type="hidden" name="order_id" value=(o.id);
                    button type="submit" class="primary" { (m.t("pick.claim")) }
                }
            }
            @if staff.may_open(Routes::PickPages) && matches!(o.state, OrderState::Picking | OrderState::Picked) {
                @let href = match &o.walk_id { Some(w) => format!("/pick/walk/{w}"), None => format!("/pick/order/{}", o.id) };
                a class="button primary" href=(href) { (m.t("order.to_walk")) }
            }
            @if staff.may_open(Routes::DeskPages) && !o.state.is_closed() {
                a class="button" href={"/desk?q=" (urlencode(o.id.as_str()))} { (m.t("order.to_desk")) }
            }
        }
        @if staff.may_open(Routes::OrderOverridePages) && matches!(o.state, OrderState::Accepted | OrderState::Processed | OrderState::Prepared) {
            details class="panel" id="reject" {
                summary class="button danger" { (m.t("order.reject")) }
                form method="post" action={"/orders/" (o.id) "/reject"} class="stack" {
                    (csrf(staff))
                    fieldset {
                        legend { (m.t("order.reject_reason")) }
                        @for r in protocol::StaffRejectReason::ALL {
                            label class="check" {
                                input type="radio" name="reason" value=(r.name()) required;
                                " " (m.t(&format!("reject.{}", r.name())))
                            }
                        }
                    }
                    @if o.lines_to_fill().count() > 1 {
                        fieldset {
                            legend { (m.t("order.reject_lines")) }
                            @for (n, l) in o.lines_to_fill() {
                                label class="check" {
                                    input type="checkbox" name="line" value=(n);
                                    " " (l.quantity) " × " (l.sku)
                                }
                            }
                        }
                    }
                    label for="reject-note" { (m.t("order.reject_note")) }
                    input id="reject-note" name="note" type="text" maxlength="200";
                    button type="submit" class="danger" { (m.t("order.reject_submit")) }
                }
            }
        }
        @if staff.may_open(Routes::OrderOverridePages) && !o.state.is_closed() {
            details class="panel" {
                summary class="button danger" { (m.t("order.cancel")) }
                form method="post" action={"/orders/" (o.id) "/cancel"} class="stack" {
                    (csrf(staff))
                    label for="cancel-reason" { (m.t("order.cancel_reason")) }
                    input id="cancel-reason" name="reason" type="text" required maxlength="200";
                    button type="submit" class="danger" { (m.t("order.cancel_submit")) }
                }
            }
        }
    }
}

/// `GET /orders/{id}`
pub async fn page(
    State(s): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let m = &s.messages;
    let not_found = || PageError::NotFound {
        message: m.f("order.unknown", &[("order", &raw)]),
    };
    let id = OrderId::new(raw.trim()).map_err(|_| not_found())?;
    let seq = s.store.head();
    let store = s.store.clone();
    let i = id.clone();
    let found = crate::web::blocking(move || {
        let o = store.order(&i)?;
        let events = store.order_events(&i)?;
        Ok::<_, crate::store::StoreError>(o.map(|o| (o, events)))
    })
    .await?;
    let Some((o, events)) = found else {
        return Err(not_found());
    };
    let title = m.f("order.title", &[("order", &o.id)]);
    let body = html! {
        div data-region="order" data-seq=(seq) {
            h1 { (title) " " (state_chip(m, o.state)) }
            (facts(&s, &o))
            (actions(&s, &staff, &o))
            h2 { (m.t("order.lines")) }
            (lines(&s, &o))
            h2 { (m.t("order.timeline")) }
            (timeline(&s, &events))
        }
    };
    Ok(layout(
        &s,
        &staff,
        &title,
        "",
        Live {
            channels: &["orders"],
            orders: vec![o.id.to_string()],
        },
        body,
    ))
}

#[derive(Debug, Deserialize)]
pub struct CancelForm {
    reason: String,
}

/// `POST /orders/{id}/cancel` (managers): the rules decide by stage.
pub async fn cancel(
    State(s): State<AppState>,
    Path(raw): Path<String>,
    f: PageForm<CancelForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::OrderOverridePages)?;
    let m = &s.messages;
    let id = OrderId::new(raw.trim()).map_err(|_| PageError::NotFound {
        message: m.f("order.unknown", &[("order", &raw)]),
    })?;
    let result = run(
        &s,
        &f.staff,
        Command::Cancel {
            order_id: id.clone(),
            reason: f.form.reason.trim().to_string(),
            by: String::new(),
        },
    )
    .await;
    let done = Done::after(
        result.map(|_| m.f("order.cancelled_done", &[("order", &id)])),
        format!("/orders/{id}"),
        format!("/orders/{id}"),
    );
    Ok(done.respond(&s, &f.staff, f.fetch))
}

#[derive(Debug, Deserialize)]
pub struct RejectForm {
    reason: String,
    #[serde(default)]
    note: String,
}

/// `POST /orders/{id}/reject` (managers): reject the order, or the lines
/// ticked, before picking, with a reason HQ can re-route on.
pub async fn reject(
    State(s): State<AppState>,
    Path(raw): Path<String>,
    f: PageForm<RejectForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::OrderOverridePages)?;
    let m = &s.messages;
    let id = OrderId::new(raw.trim()).map_err(|_| PageError::NotFound {
        message: m.f("order.unknown", &[("order", &raw)]),
    })?;
    let Some(reason) = protocol::StaffRejectReason::from_name(f.form.reason.trim()) else {
        let done = Done::after(
            Err(m.t("order.reject_reason_missing").to_string()),
            format!("/orders/{id}"),
            format!("/orders/{id}"),
        );
        return Ok(done.respond(&s, &f.staff, f.fetch));
    };
    // Ticked lines (repeated `line` fields); none: the whole order.
    let lines: Vec<u32> = f
        .pairs
        .iter()
        .filter(|(k, _)| k == "line")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let result = run(
        &s,
        &f.staff,
        Command::RejectOrder {
            order_id: id.clone(),
            reason,
            lines,
            note: f.form.note.trim().to_string(),
        },
    )
    .await;
    let done = Done::after(
        result.map(|_| m.f("order.rejected_done", &[("order", &id)])),
        format!("/orders/{id}"),
        format!("/orders/{id}"),
    );
    Ok(done.respond(&s, &f.staff, f.fetch))
}
