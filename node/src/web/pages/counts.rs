//! Counts: the count tasks of the store, worked on the phone. A picker
//! goes to the shelf, scans or types the count; a count far from what the
//! node expected is counted again, then waits for a manager's approval.
use crate::domain::permissions::Routes;
use axum::extract::State;
use axum::response::Response;
use maud::html;
use protocol::Command;
use serde::Deserialize;

use super::{csrf, layout, location, urlencode, Done, Live, PageError, PageForm, Staff};
use crate::domain::stock::{CountState, CountTask};
use crate::web::AppState;

/// `GET /counts`: the open count tasks, oldest first.
pub async fn page(State(s): State<AppState>, staff: Staff) -> Result<Response, PageError> {
    staff.require(&s, Routes::CountPages)?;
    let m = &s.messages;
    let manager = staff.may_open(Routes::StockChangePages);
    let tasks: Vec<CountTask> = s
        .store
        .count_tasks()
        .map_err(|e| PageError::from(crate::web::AppError::from(e)))?
        .into_iter()
        .filter(|t| t.state.is_open())
        .collect();
    let body = html! {
        h1 { (m.t("counts.title")) }
        @if tasks.is_empty() {
            p class="muted" id="no-counts" { (m.t("counts.none")) }
        }
        ul class="cards" id="count-tasks" {
            @for t in &tasks {
                @let item = s.store.item(&t.sku);
                li class="card count-task" id={"task-" (t.task_id)} {
                    div class="row" {
                        strong { (item.as_ref().map_or(t.sku.as_str(), |i| i.item.name.as_str())) }
                        span class="muted" { (t.sku) }
                        span class="chip warn" { (m.t(&format!("count.state.{}", t.state.name()))) }
                    }
                    @if let Some(i) = &item {
                        div class="row" { (location(m, &i.item.location)) }
                    }
                    p class="small" { (m.t(&format!("count.reason.{}", t.reason.name()))) @if !t.note.is_empty() { " — " (t.note) } }
                    @if let Some(c) = t.counts.last() {
                        p class="small muted" { (m.f("count.last", &[("counted", &c.counted), ("expected", &c.expected)])) }
                    }
                    @if t.state == CountState::Approval {
                        @if manager {
                            div class="actions" {
                                form method="post" action="/counts/approve" {
                                    (csrf(&staff))
                                    input type="hidden" name="task_id" value=(t.task_id);
                                    button type="submit" class="primary" { (m.t("counts.approve")) }
                                }
                                form method="post" action="/counts/cancel" {
                                    (csrf(&staff))
                                    input type="hidden" name="task_id" value=(t.task_id);
                                    button type="submit" { (m.t("counts.cancel")) }
                                }
                            }
                        } @else {
                            p class="small" { (m.t("counts.waits_for_manager")) }
                        }
                    } @else {
                        form method="post" action="/counts/count" class="stack" {
                            (csrf(&staff))
                            input type="hidden" name="task_id" value=(t.task_id);
                            label for={"counted-" (t.task_id)} {
                                @if t.state == CountState::Recount { (m.t("counts.count_again")) } @else { (m.t("counts.counted")) }
                            }
                            div class="row" {
                                input id={"counted-" (t.task_id)} name="counted" type="number" inputmode="numeric" min="0" max="100000" required;
                                button type="submit" class="primary" { (m.t("counts.submit")) }
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
        m.t("counts.title"),
        "/counts",
        Live::default(),
        body,
    ))
}

#[derive(Debug, Deserialize)]
pub struct CountForm {
    task_id: String,
    counted: u32,
}

/// `POST /counts/count` (pickers, managers).
pub async fn count(
    State(s): State<AppState>,
    f: PageForm<CountForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::CountPages)?;
    let m = &s.messages;
    let task_id = f.form.task_id.clone();
    let command = Command::RecordCount {
        task_id: task_id.clone(),
        counted: f.form.counted,
    };
    let result = super::run(&s, &f.staff, command).await;
    // What the count did: applied, or a recount or approval asked for.
    let state = s
        .store
        .doc(&crate::domain::stock::DocKey::CountTask(task_id.clone()))
        .ok()
        .flatten()
        .and_then(|d| match d {
            crate::domain::stock::StockDoc::CountTask(t) => Some(t.state),
            _ => None,
        });
    let done = match result {
        Ok(_) => Done {
            ok: true,
            message: match state {
                Some(CountState::Applied) => m.t("counts.applied").to_string(),
                Some(CountState::Recount) => m.t("counts.recount").to_string(),
                Some(CountState::Approval) => m.t("counts.to_approve").to_string(),
                _ => m.t("counts.applied").to_string(),
            },
            go: "/counts".into(),
            regions: vec![],
        },
        Err(text) => Done {
            ok: false,
            message: text,
            go: "/counts".into(),
            regions: vec![],
        },
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}

#[derive(Debug, Deserialize)]
pub struct TaskForm {
    task_id: String,
}

async fn manager_step(
    s: AppState,
    f: PageForm<TaskForm>,
    command: Command,
    ok_key: &str,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::StockChangePages)?;
    let m = &s.messages;
    let done = match super::run(&s, &f.staff, command).await {
        Ok(_) => Done {
            ok: true,
            message: m.t(ok_key).to_string(),
            go: "/counts".into(),
            regions: vec![],
        },
        Err(text) => Done {
            ok: false,
            message: text,
            go: "/counts".into(),
            regions: vec![],
        },
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}

/// `POST /counts/approve` (managers).
pub async fn approve(
    State(s): State<AppState>,
    f: PageForm<TaskForm>,
) -> Result<Response, PageError> {
    let command = Command::ApproveCount {
        task_id: f.form.task_id.clone(),
    };
    manager_step(s, f, command, "counts.approved").await
}

/// `POST /counts/cancel` (managers).
pub async fn cancel(
    State(s): State<AppState>,
    f: PageForm<TaskForm>,
) -> Result<Response, PageError> {
    let command = Command::CancelCountTask {
        task_id: f.form.task_id.clone(),
        reason: String::new(),
    };
    manager_step(s, f, command, "counts.cancelled").await
}

#[derive(Debug, Deserialize)]
pub struct AskForm {
    sku: String,
    #[serde(default)]
    q: String,
}

/// `POST /stock/count-task` (managers): ask for a count of an SKU.
pub async fn ask(State(s): State<AppState>, f: PageForm<AskForm>) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::StockChangePages)?;
    let m = &s.messages;
    let command = Command::OpenCountTask {
        sku: f.form.sku.clone(),
        note: String::new(),
    };
    let go = format!("/stock?q={}", urlencode(f.form.q.trim()));
    let done = match super::run(&s, &f.staff, command).await {
        Ok(_) => Done {
            ok: true,
            message: m.f("counts.asked", &[("sku", &f.form.sku)]),
            go,
            regions: vec![],
        },
        Err(text) => Done {
            ok: false,
            message: text,
            go,
            regions: vec![],
        },
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}
