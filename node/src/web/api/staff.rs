//! Staff accounts over the API (managers and the API token): list, add
//! (the PIN is generated and shown once, or given), role, disable/enable,
//! new PIN. Each change is an event on the `_store` stream.
use crate::domain::permissions::Routes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use protocol::{Command, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{applied, request, JsonBody};
use crate::services::staff::{next_id, pin_and_hash};
use crate::web::auth::{Caller, LockKey};
use crate::web::{AppError, AppState};

/// Run one staff command for `caller` (the rules let only managers, the
/// token and the command line); the rejection as an error.
pub(crate) async fn staff_command(
    s: &AppState,
    caller: &Caller,
    command: Command,
) -> Result<(), AppError> {
    let req = request(command, caller, s)?;
    applied(s.writer.write(req).await?, s)?;
    Ok(())
}

/// Add an account; returns its id and PIN (the PIN only here, once).
pub(crate) async fn add(
    s: &AppState,
    caller: &Caller,
    name: &str,
    role: Role,
    staff_id: Option<String>,
    pin: Option<String>,
) -> Result<(String, String), AppError> {
    // Refused before the (slow, on purpose) PIN hash, not only after.
    caller.require(Routes::Administration)?;
    let staff_id = staff_id
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| next_id(&s.store));
    let (pin, pin_hash) =
        pin_and_hash(s.sessions.pins(), pin)
            .await
            .map_err(|e| AppError::InvalidBody {
                field: "pin".into(),
                reason: e.to_string(),
            })?;
    staff_command(
        s,
        caller,
        Command::AddStaff {
            staff_id: staff_id.clone(),
            name: name.to_string(),
            role,
            pin_hash,
        },
    )
    .await?;
    Ok((staff_id, pin))
}

/// Give an account a new PIN; returns it (once).
pub(crate) async fn new_pin(
    s: &AppState,
    caller: &Caller,
    staff_id: &str,
    pin: Option<String>,
) -> Result<String, AppError> {
    caller.require(Routes::Administration)?;
    let (pin, pin_hash) =
        pin_and_hash(s.sessions.pins(), pin)
            .await
            .map_err(|e| AppError::InvalidBody {
                field: "pin".into(),
                reason: e.to_string(),
            })?;
    staff_command(
        s,
        caller,
        Command::ResetStaffPin {
            staff_id: staff_id.to_string(),
            pin_hash,
        },
    )
    .await?;
    // A new PIN also lifts a lockout: the manager has just vouched.
    s.sessions
        .lockouts
        .unlock(&LockKey::Staff(staff_id.to_string()));
    Ok(pin)
}

fn member_json(m: &crate::domain::StaffMember) -> Value {
    json!({ "staff_id": m.id, "name": m.name, "role": m.role, "enabled": m.enabled,
            "added_ms": m.added_ms, "changed_ms": m.changed_ms })
}

/// `GET /api/v1/staff`: every account (never a PIN or its hash), with the
/// current login lockouts.
pub async fn list(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    caller.require(Routes::Administration)?;
    let now = crate::store::now_ms();
    let locked: Vec<Value> = s
        .sessions
        .lockouts
        .list()
        .into_iter()
        .map(|(k, st)| {
            let (kind, what) = match k {
                LockKey::Staff(id) => ("staff", id),
                LockKey::Address(a) => ("address", a.to_string()),
            };
            json!({ "kind": kind, "key": what, "failures": st.failures, "lockouts": st.lockouts,
                    "locked": st.locked_until_ms > now, "locked_until_ms": st.locked_until_ms })
        })
        .collect();
    let staff: Vec<Value> = s.store.staff_list().iter().map(member_json).collect();
    Ok(Json(json!({ "staff": staff, "lockouts": locked })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    name: String,
    role: Role,
    #[serde(default)]
    staff_id: Option<String>,
    #[serde(default)]
    pin: Option<String>,
}

/// `POST /api/v1/staff`: add an account. The answer holds the PIN; it is
/// not shown again.
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<AddBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let (id, pin) = add(&s, &caller, &body.name, body.role, body.staff_id, body.pin).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "staff_id": id, "name": body.name.trim(), "role": body.role, "pin": pin })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    role: Role,
}

/// `POST /api/v1/staff/{id}/role`
pub async fn set_role(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Json<Value>, AppError> {
    staff_command(
        &s,
        &caller,
        Command::SetStaffRole {
            staff_id: id.clone(),
            role: body.role,
        },
    )
    .await?;
    Ok(Json(json!({ "staff_id": id, "role": body.role })))
}

async fn enabled(
    s: AppState,
    caller: Caller,
    id: String,
    on: bool,
) -> Result<Json<Value>, AppError> {
    staff_command(
        &s,
        &caller,
        Command::SetStaffEnabled {
            staff_id: id.clone(),
            enabled: on,
        },
    )
    .await?;
    Ok(Json(json!({ "staff_id": id, "enabled": on })))
}

/// `POST /api/v1/staff/{id}/disable`: the account can no longer log in,
/// and its sessions end at once.
pub async fn disable(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    enabled(s, caller, id, false).await
}

/// `POST /api/v1/staff/{id}/enable`
pub async fn enable(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    enabled(s, caller, id, true).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinBody {
    #[serde(default)]
    pin: Option<String>,
}

/// `POST /api/v1/staff/{id}/pin`: a new PIN (generated unless given); the
/// member's sessions end, a lockout of the id is lifted.
pub async fn reset_pin(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PinBody>,
) -> Result<Json<Value>, AppError> {
    let pin = new_pin(&s, &caller, &id, body.pin).await?;
    Ok(Json(json!({ "staff_id": id, "pin": pin })))
}
