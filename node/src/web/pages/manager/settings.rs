//! `/manager/settings`: the store's pickup times.
use crate::domain::permissions::Routes;
use axum::extract::State;
use axum::response::Response;
use maud::html;
use protocol::Command;
use serde::Deserialize;

use super::subnav;
use crate::web::pages::{csrf, layout, run, Done, Live, PageError, PageForm, Staff};
use crate::web::AppState;

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
    let done = match run(&s, &f.staff, command).await {
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
