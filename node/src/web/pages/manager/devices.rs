//! `/manager/devices`: registered devices, adding (password and
//! certificate bundle shown once) and removing them.
use crate::domain::permissions::Routes;
use axum::extract::State;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::subnav;
use crate::web::pages::{csrf, error_text, layout, Done, Live, PageError, PageForm, Staff};
use crate::web::AppState;

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
        Err(e) => Ok(refused(error_text(m, &e)).respond(&s, &f.staff, f.fetch)),
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
            message: error_text(m, &e),
            go: "/manager/devices".into(),
            regions: vec![],
        },
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}
