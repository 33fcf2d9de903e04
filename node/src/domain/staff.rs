//! Staff accounts: who may log in to the store's pages, with which role.
//!
//! Accounts are a projection of the `_store` stream like stock: every
//! change is an event (StaffAdded, StaffRoleChanged, StaffDisabled,
//! StaffEnabled, StaffPinReset), so the audit log shows who changed whom.
//! PINs are hashed before they reach a decision (hashing is slow on
//! purpose and the writer must not wait for it); a decision only checks
//! that the hash has the expected form.
use protocol::{Event, Role};
use serde::{Deserialize, Serialize};

use super::{Ctx, Decision, Rejection};

/// One staff account as the log says it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMember {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Argon2id PHC string, keyed with the node's staff secret.
    pub pin_hash: String,
    pub enabled: bool,
    /// Bumped by every PIN reset: a session made with an older PIN ends.
    pub pin_epoch: u32,
    /// When the account was created and last changed (unix ms).
    pub added_ms: u64,
    pub changed_ms: u64,
}

/// Most characters in a staff id (typed at the login on a phone).
pub const MAX_ID: usize = 20;
/// Most characters in a display name.
pub const MAX_NAME: usize = 60;

/// Check a staff id: 1 to 20 letters, digits, '-', '_' or '.'.
pub fn check_id(id: &str) -> Result<(), Rejection> {
    let ok = !id.is_empty()
        && id.chars().count() <= MAX_ID
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Rejection::Invalid {
            field: "staff_id".into(),
            reason: format!("must be 1 to {MAX_ID} letters, digits, '-', '_' or '.'"),
        })
    }
}

/// Check who a step is done by, as its door names them: 1 to 64
/// characters.
pub(crate) fn check_staff(staff: &str) -> Result<(), Rejection> {
    let s = staff.trim();
    if s.is_empty() || s.chars().count() > 64 {
        return Err(Rejection::Invalid {
            field: "staff".into(),
            reason: "must be 1 to 64 characters".into(),
        });
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), Rejection> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME || n.chars().any(char::is_control) {
        return Err(Rejection::Invalid {
            field: "name".into(),
            reason: format!("must be 1 to {MAX_NAME} characters"),
        });
    }
    Ok(())
}

/// A PIN hash must be an Argon2id PHC string: the door hashed the PIN.
fn check_hash(hash: &str) -> Result<(), Rejection> {
    if hash.starts_with("$argon2id$") && hash.len() <= 200 && hash.is_ascii() {
        Ok(())
    } else {
        Err(Rejection::Invalid {
            field: "pin_hash".into(),
            reason: "must be an Argon2id hash of the PIN".into(),
        })
    }
}

fn member(ctx: &Ctx, id: &str) -> Result<StaffMember, Rejection> {
    ctx.view
        .staff(id)
        .ok_or_else(|| Rejection::UnknownStaff(id.to_string()))
}

/// Whether a change would leave the store without an enabled manager.
fn last_manager(ctx: &Ctx, id: &str) -> bool {
    !ctx.view
        .staff_list()
        .iter()
        .any(|m| m.id != id && m.enabled && m.role == Role::Manager)
}

/// Create an account. An id in use is refused (ids are never reused: the
/// audit log names people by id).
pub fn decide_add(ctx: &Ctx, id: &str, name: &str, role: Role, pin_hash: &str) -> Decision {
    check_id(id)?;
    check_name(name)?;
    check_hash(pin_hash)?;
    if ctx.view.staff(id).is_some() {
        return Err(Rejection::StaffExists(id.to_string()));
    }
    Ok(vec![Event::StaffAdded {
        staff_id: id.to_string(),
        name: name.trim().to_string(),
        role,
        pin_hash: pin_hash.to_string(),
    }])
}

/// Change a role. The store keeps at least one enabled manager.
pub fn decide_role(ctx: &Ctx, id: &str, role: Role) -> Decision {
    let m = member(ctx, id)?;
    if m.role == role {
        return Ok(vec![]);
    }
    if m.role == Role::Manager && m.enabled && last_manager(ctx, id) {
        return Err(Rejection::LastManager);
    }
    Ok(vec![Event::StaffRoleChanged {
        staff_id: id.to_string(),
        role,
    }])
}

/// Disable or re-enable an account. The store keeps at least one enabled
/// manager.
pub fn decide_enabled(ctx: &Ctx, id: &str, enabled: bool) -> Decision {
    let m = member(ctx, id)?;
    if m.enabled == enabled {
        return Ok(vec![]);
    }
    if enabled {
        return Ok(vec![Event::StaffEnabled {
            staff_id: id.to_string(),
        }]);
    }
    if m.role == Role::Manager && last_manager(ctx, id) {
        return Err(Rejection::LastManager);
    }
    Ok(vec![Event::StaffDisabled {
        staff_id: id.to_string(),
    }])
}

/// Replace a PIN (its hash).
pub fn decide_pin(ctx: &Ctx, id: &str, pin_hash: &str) -> Decision {
    member(ctx, id)?;
    check_hash(pin_hash)?;
    Ok(vec![Event::StaffPinReset {
        staff_id: id.to_string(),
        pin_hash: pin_hash.to_string(),
    }])
}

/// The staff account an event changes, if any.
pub fn staff_id_of(event: &Event) -> Option<&str> {
    match event {
        Event::StaffAdded { staff_id, .. }
        | Event::StaffRoleChanged { staff_id, .. }
        | Event::StaffDisabled { staff_id }
        | Event::StaffEnabled { staff_id }
        | Event::StaffPinReset { staff_id, .. } => Some(staff_id),
        _ => None,
    }
}

/// Fold one event into an account (`None`: not created yet).
pub fn apply(member: Option<StaffMember>, event: &Event, time_ms: u64) -> Option<StaffMember> {
    let mut m = match (member, event) {
        (
            None,
            Event::StaffAdded {
                staff_id,
                name,
                role,
                pin_hash,
            },
        ) => {
            return Some(StaffMember {
                id: staff_id.clone(),
                name: name.clone(),
                role: *role,
                pin_hash: pin_hash.clone(),
                enabled: true,
                pin_epoch: 0,
                added_ms: time_ms,
                changed_ms: time_ms,
            })
        }
        (None, _) => return None,
        (Some(m), _) => m,
    };
    match event {
        Event::StaffRoleChanged { role, .. } => m.role = *role,
        Event::StaffDisabled { .. } => m.enabled = false,
        Event::StaffEnabled { .. } => m.enabled = true,
        Event::StaffPinReset { pin_hash, .. } => {
            m.pin_hash = pin_hash.clone();
            m.pin_epoch += 1;
        }
        _ => return Some(m),
    }
    m.changed_ms = time_ms;
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::Shelf;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

    fn with(members: &[(&str, Role, bool)]) -> Shelf {
        let mut shelf = Shelf::default();
        for (id, role, enabled) in members {
            shelf.staff.insert(
                id.to_string(),
                StaffMember {
                    id: id.to_string(),
                    name: format!("{id} name"),
                    role: *role,
                    pin_hash: HASH.into(),
                    enabled: *enabled,
                    pin_epoch: 0,
                    added_ms: 0,
                    changed_ms: 0,
                },
            );
        }
        shelf
    }

    fn run(shelf: &Shelf, f: impl FnOnce(&Ctx) -> Decision) -> Result<Vec<&'static str>, String> {
        f(&Ctx {
            order: None,
            view: shelf,
            now_ms: 0,
        })
        .map(|e| e.iter().map(|e| e.kind().name()).collect())
        .map_err(|r| r.to_string())
    }

    #[test]
    fn staff_rules() {
        let two_managers = with(&[
            ("1001", Role::Manager, true),
            ("1002", Role::Manager, true),
            ("1003", Role::Picker, true),
        ]);
        let one_manager = with(&[("1001", Role::Manager, true), ("1003", Role::Picker, true)]);
        type Row = (
            &'static str,
            Shelf,
            Box<dyn Fn(&Ctx) -> Decision>,
            Result<Vec<&'static str>, String>,
        );
        let rows: Vec<Row> = vec![
            (
                "add",
                one_manager.clone(),
                Box::new(|c| decide_add(c, "1004", "Ann", Role::Picker, HASH)),
                Ok(vec!["staff_added"]),
            ),
            (
                "id in use",
                one_manager.clone(),
                Box::new(|c| decide_add(c, "1003", "Ann", Role::Picker, HASH)),
                Err("staff id 1003 is already in use".into()),
            ),
            (
                "bad id",
                one_manager.clone(),
                Box::new(|c| decide_add(c, "a b", "Ann", Role::Picker, HASH)),
                Err("staff_id: must be 1 to 20 letters, digits, '-', '_' or '.'".into()),
            ),
            (
                "empty name",
                one_manager.clone(),
                Box::new(|c| decide_add(c, "1004", " ", Role::Picker, HASH)),
                Err("name: must be 1 to 60 characters".into()),
            ),
            (
                "a PIN, not its hash",
                one_manager.clone(),
                Box::new(|c| decide_add(c, "1004", "Ann", Role::Picker, "1234")),
                Err("pin_hash: must be an Argon2id hash of the PIN".into()),
            ),
            (
                "disable a picker",
                one_manager.clone(),
                Box::new(|c| decide_enabled(c, "1003", false)),
                Ok(vec!["staff_disabled"]),
            ),
            (
                "disable twice is a no-op",
                with(&[("1003", Role::Picker, false)]),
                Box::new(|c| decide_enabled(c, "1003", false)),
                Ok(vec![]),
            ),
            (
                "the last manager stays",
                one_manager.clone(),
                Box::new(|c| decide_enabled(c, "1001", false)),
                Err("the store needs at least one enabled manager".into()),
            ),
            (
                "one of two managers may go",
                two_managers.clone(),
                Box::new(|c| decide_enabled(c, "1001", false)),
                Ok(vec!["staff_disabled"]),
            ),
            (
                "nor demoted",
                one_manager.clone(),
                Box::new(|c| decide_role(c, "1001", Role::Desk)),
                Err("the store needs at least one enabled manager".into()),
            ),
            (
                "promote",
                one_manager.clone(),
                Box::new(|c| decide_role(c, "1003", Role::Manager)),
                Ok(vec!["staff_role_changed"]),
            ),
            (
                "same role",
                one_manager.clone(),
                Box::new(|c| decide_role(c, "1003", Role::Picker)),
                Ok(vec![]),
            ),
            (
                "unknown",
                one_manager.clone(),
                Box::new(|c| decide_pin(c, "9999", HASH)),
                Err("no staff member 9999 in this store".into()),
            ),
            (
                "new PIN",
                one_manager,
                Box::new(|c| decide_pin(c, "1003", HASH)),
                Ok(vec!["staff_pin_reset"]),
            ),
        ];
        for (name, shelf, f, want) in rows {
            assert_eq!(run(&shelf, f), want, "{name}");
        }
    }

    #[test]
    fn apply_follows_the_events() {
        let added = Event::StaffAdded {
            staff_id: "1003".into(),
            name: "Ann".into(),
            role: Role::Picker,
            pin_hash: HASH.into(),
        };
        let m = apply(None, &added, 5).expect("created");
        assert!(m.enabled && m.pin_epoch == 0 && m.added_ms == 5);
        assert_eq!(m.role, Role::Picker);
        let m = apply(
            Some(m),
            &Event::StaffPinReset {
                staff_id: "1003".into(),
                pin_hash: HASH.into(),
            },
            6,
        )
        .expect("m");
        assert_eq!((m.pin_epoch, m.changed_ms), (1, 6));
        let m = apply(
            Some(m),
            &Event::StaffDisabled {
                staff_id: "1003".into(),
            },
            7,
        )
        .expect("m");
        assert!(!m.enabled);
        let m = apply(
            Some(m),
            &Event::StaffRoleChanged {
                staff_id: "1003".into(),
                role: Role::Manager,
            },
            8,
        )
        .expect("m");
        assert_eq!(m.role, Role::Manager);
        assert_eq!(
            apply(
                None,
                &Event::StaffDisabled {
                    staff_id: "x".into()
                },
                1
            ),
            None
        );
    }
}
