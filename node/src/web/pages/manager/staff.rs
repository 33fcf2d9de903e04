//! `/manager/staff`: staff accounts (add, role, disable, new PIN) and
//! login lockouts.
use crate::domain::permissions::Routes;
use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use protocol::{Command, Role};
use serde::Deserialize;

use super::subnav;
use crate::web::auth::LockKey;
use crate::web::pages::desk::staff_name;
use crate::web::pages::{
    csrf, error_text, layout, role_key, Done, Live, PageError, PageForm, Staff,
};
use crate::web::AppState;

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
        (add_card(&s, &staff, &next))
        (staff_table(&s, &staff, &members))
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

/// The form that adds a member, with the next free id filled in.
fn add_card(s: &AppState, staff: &Staff, next: &str) -> Markup {
    let m = &s.messages;
    html! {
        section class="card" aria-labelledby="add-h" {
            h2 id="add-h" { (m.t("staff.add")) }
            form method="post" action="/manager/staff/add" class="stack" id="staff-add" {
                (csrf(staff))
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
    }
}

/// Every member, with the forms that change one.
fn staff_table(s: &AppState, staff: &Staff, members: &[crate::domain::StaffMember]) -> Markup {
    let m = &s.messages;
    html! {
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
                        @for mem in members {
                            tr id={"staff-" (mem.id)} {
                                td { (mem.id) }
                                td { (mem.name) }
                                td {
                                    form method="post" action="/manager/staff/change" class="inline" {
                                        (csrf(staff))
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
                                        (csrf(staff))
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
                                        (csrf(staff))
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
    }
}

#[derive(Debug, Deserialize)]
pub struct StaffAddForm {
    #[serde(default)]
    staff_id: String,
    name: String,
    /// Parsed strictly: a role that is not picker, desk or manager is a
    /// 400 with nothing changed, never a picker.
    role: Role,
}

/// `POST /manager/staff/add`: the new member's PIN is shown once.
pub async fn staff_add(
    State(s): State<AppState>,
    f: PageForm<StaffAddForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::ManagerPages)?;
    let m = &s.messages;
    let role = f.form.role;
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
            message: error_text(m, &e),
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
    /// Only with `action=role`; parsed strictly (a typo is a 400).
    #[serde(default)]
    role: Option<Role>,
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
            let Some(role) = f.form.role else {
                return Err(PageError::BadForm {
                    message: m.t("error.form").into(),
                    fetch: f.fetch,
                });
            };
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
            message: error_text(m, &e),
            go: "/manager/staff".into(),
            regions: vec![],
        },
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}

pub(super) fn lockouts(s: &AppState, staff: &Staff) -> Markup {
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
