//! The store's devices: who may log in to the store broker, as what kind.
//!
//! A projection of the `_store` stream like staff accounts: registering
//! and removing a device are events (DeviceRegistered, DeviceRemoved), so
//! the audit log shows who added which device when. The doors (CLI, API)
//! generate the password and the certificate; a decision checks the rest:
//! a name not in use, a tenant id no other device has, and for a locker
//! compartments no other locker owns.
use crate::domain::notification::NoticeChannel;
use protocol::{device_tenant, DeviceKind, Event};
use serde::{Deserialize, Serialize};

use super::{Ctx, Decision, Rejection};

/// One registered device as the log says it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub name: String,
    pub kind: DeviceKind,
    /// Its namespace on the broker: `/tenants/{tenant}/…`.
    pub tenant: String,
    pub compartments: Vec<String>,
    /// Salted SHA-256 of the password (hex).
    pub salt: String,
    pub password_hash: String,
    pub cert_sha256: String,
    pub added_ms: u64,
}

impl Device {
    /// Whether this device is the locker that owns `compartment`.
    pub fn owns(&self, compartment: &str) -> bool {
        self.kind == DeviceKind::Locker && self.compartments.iter().any(|c| c == compartment)
    }
}

/// Most compartments one locker may have.
pub const MAX_COMPARTMENTS: usize = 500;

/// What a device of `kind` hears: the notice channels published into its
/// namespace (see `notification`).
pub(crate) fn channels(kind: DeviceKind) -> &'static [NoticeChannel] {
    use NoticeChannel as C;
    match kind {
        DeviceKind::Scanner => &[C::Orders, C::Stock],
        DeviceKind::Locker => &[C::Locker],
        DeviceKind::PickupScreen => &[C::PickupScreen],
        DeviceKind::Kiosk => &[],
        DeviceKind::Printer => &[C::Printer],
        DeviceKind::Gateway => &[C::Customer],
        DeviceKind::Till => &[],
    }
}

/// Parse a compartment list as operators type it: `1-24`, `A1,A2,B1`, or
/// both (`1-12,C1`). Each compartment is 1 to 16 letters, digits or `-`.
pub fn parse_compartments(text: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let range = part.split_once('-').and_then(|(a, b)| {
            Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?))
        });
        match range {
            Some((a, b)) if a <= b && (b - a) as usize <= MAX_COMPARTMENTS => {
                out.extend((a..=b).map(|n| n.to_string()))
            }
            Some(_) => return Err(format!("{part:?} is not a range from low to high")),
            None => out.push(part.to_string()),
        }
        if out.len() > MAX_COMPARTMENTS {
            return Err(format!("at most {MAX_COMPARTMENTS} compartments"));
        }
    }
    Ok(out)
}

fn invalid(field: &str, reason: impl Into<String>) -> Rejection {
    Rejection::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Register `name` (the doors made the credentials).
#[allow(clippy::too_many_arguments)]
pub fn decide_register(
    ctx: &Ctx,
    name: &str,
    kind: DeviceKind,
    compartments: &[String],
    salt: &str,
    password_hash: &str,
    cert_sha256: &str,
) -> Decision {
    crate::check_device_name(name).map_err(|e| invalid("name", e))?;
    let tenant = device_tenant(name);
    if tenant.is_empty() {
        return Err(invalid("name", "needs at least one letter or digit"));
    }
    let devices = ctx.view.device_list();
    if devices.iter().any(|d| d.name == name) {
        return Err(invalid(
            "name",
            format!("device {name} already exists (remove it first)"),
        ));
    }
    if let Some(other) = devices.iter().find(|d| d.tenant == tenant) {
        return Err(invalid(
            "name",
            format!(
                "device {} already has the namespace {tenant} (names are told apart by their letters and digits)",
                other.name
            ),
        ));
    }
    match kind {
        DeviceKind::Locker => {
            if compartments.is_empty() {
                return Err(invalid(
                    "compartments",
                    "a locker needs its compartments, e.g. 1-24",
                ));
            }
            for c in compartments {
                let ok = !c.is_empty()
                    && c.len() <= 16
                    && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-');
                if !ok {
                    return Err(invalid(
                        "compartments",
                        format!("{c:?}: 1 to 16 letters, digits or '-'"),
                    ));
                }
                if let Some(owner) = devices.iter().find(|d| d.owns(c)) {
                    return Err(invalid(
                        "compartments",
                        format!("compartment {c} belongs to locker {}", owner.name),
                    ));
                }
            }
        }
        _ if !compartments.is_empty() => {
            return Err(invalid("compartments", "only a locker has compartments"));
        }
        _ => {}
    }
    let hex_of = |v: &str, len: usize| v.len() == len && v.chars().all(|c| c.is_ascii_hexdigit());
    if !hex_of(salt, 32) || !hex_of(password_hash, 64) || !hex_of(cert_sha256, 64) {
        return Err(invalid(
            "credentials",
            "salt, hash or fingerprint malformed",
        ));
    }
    Ok(vec![Event::DeviceRegistered {
        name: name.to_string(),
        kind,
        tenant,
        compartments: compartments.to_vec(),
        salt: salt.to_string(),
        password_hash: password_hash.to_string(),
        cert_sha256: cert_sha256.to_string(),
    }])
}

/// Remove `name`.
pub fn decide_remove(ctx: &Ctx, name: &str) -> Decision {
    if ctx.view.device(name).is_none() {
        return Err(invalid("name", format!("no device named {name}")));
    }
    Ok(vec![Event::DeviceRemoved {
        name: name.to_string(),
    }])
}

/// The device an event changes, if any.
pub fn device_name_of(event: &Event) -> Option<&str> {
    match event {
        Event::DeviceRegistered { name, .. } | Event::DeviceRemoved { name } => Some(name),
        _ => None,
    }
}

/// Fold one event into a device (`None`: not registered).
pub fn apply(device: Option<Device>, event: &Event, time_ms: u64) -> Option<Device> {
    match event {
        Event::DeviceRegistered {
            name,
            kind,
            tenant,
            compartments,
            salt,
            password_hash,
            cert_sha256,
        } => Some(Device {
            name: name.clone(),
            kind: *kind,
            tenant: tenant.clone(),
            compartments: compartments.clone(),
            salt: salt.clone(),
            password_hash: password_hash.clone(),
            cert_sha256: cert_sha256.clone(),
            added_ms: time_ms,
        }),
        Event::DeviceRemoved { .. } => None,
        _ => device,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::Shelf;

    fn register(shelf: &Shelf, name: &str, kind: DeviceKind, comps: &[&str]) -> Decision {
        let ctx = Ctx {
            order: None,
            view: shelf,
            now_ms: 1,
        };
        let comps: Vec<String> = comps.iter().map(|c| c.to_string()).collect();
        decide_register(
            &ctx,
            name,
            kind,
            &comps,
            &"0".repeat(32),
            &"1".repeat(64),
            &"2".repeat(64),
        )
    }

    #[test]
    fn names_namespaces_and_compartments_are_each_one_devices() {
        let mut shelf = Shelf::default();
        let first = register(&shelf, "locker-1", DeviceKind::Locker, &["1", "2"]).expect("ok");
        let Event::DeviceRegistered { tenant, .. } = &first[0] else {
            panic!("{first:?}")
        };
        assert_eq!(tenant, "locker1");
        shelf.add_device(apply(None, &first[0], 1).expect("device"));
        let refusals = [
            (
                register(&shelf, "locker-1", DeviceKind::Locker, &["9"]),
                "already exists",
            ),
            (
                register(&shelf, "locker1", DeviceKind::Locker, &["9"]),
                "namespace locker1",
            ),
            (
                register(&shelf, "locker-2", DeviceKind::Locker, &["2"]),
                "belongs to locker locker-1",
            ),
            (
                register(&shelf, "locker-3", DeviceKind::Locker, &[]),
                "needs its compartments",
            ),
            (
                register(&shelf, "scan-1", DeviceKind::Scanner, &["5"]),
                "only a locker",
            ),
            (
                register(&shelf, "---", DeviceKind::Scanner, &[]),
                "letter or digit",
            ),
            (register(&shelf, "a/b", DeviceKind::Scanner, &[]), "name"),
        ];
        for (got, words) in refusals {
            let e = got.expect_err(words).to_string();
            assert!(e.contains(words), "{e} lacks {words:?}");
        }
        assert!(register(&shelf, "locker-2", DeviceKind::Locker, &["3"]).is_ok());
    }

    #[test]
    fn compartments_are_typed_as_ranges_or_names() {
        assert_eq!(
            parse_compartments("1-3, C1").expect("ok"),
            vec!["1", "2", "3", "C1"]
        );
        assert!(parse_compartments("5-1").is_err());
        assert!(parse_compartments("1-100000").is_err());
        assert_eq!(parse_compartments("").expect("ok"), Vec::<String>::new());
    }
}
