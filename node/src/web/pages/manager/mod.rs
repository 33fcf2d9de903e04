//! The manager's pages: what is late and why, today's orders and
//! exceptions, pickers at work, empty shelves, store open/closed, staff,
//! devices, settings, the audit log. One file per page, with its forms.
use maud::{html, Markup};

use crate::web::AppState;

mod audit;
mod dashboard;
mod devices;
mod settings;
mod staff;

pub use audit::audit;
pub use dashboard::{dashboard, set_open};
pub use devices::{device_add, device_remove, devices};
pub use settings::{settings, settings_save};
pub use staff::{staff, staff_add, staff_change, unlock};

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
