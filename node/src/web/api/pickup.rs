//! Staging, check-in and hand-over, and the desk's lookup by code.
use crate::domain::permissions::Routes;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::{act, order_id, IdemKey, JsonBody};
use crate::web::auth::Caller;
use crate::web::{AppError, AppState};
use protocol::{ArrivalChannel, Command, StagingSlot};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandOverBody {
    #[serde(default)]
    staff: String,
    /// The short pickup code or the scanned QR token.
    code: String,
    #[serde(default)]
    id_checked: bool,
}

/// `POST /api/v1/orders/{id}/handed-over`
pub async fn hand_over(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<HandOverBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
        &caller,
        key,
        Command::HandOver {
            order_id,
            staff: body.staff,
            code: body.code,
            id_checked: body.id_checked,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageBody {
    slot: StagingSlot,
    #[serde(default)]
    staff: String,
}

/// `POST /api/v1/orders/{id}/stage`
pub async fn stage(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<StageBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
        &caller,
        key,
        Command::Stage {
            order_id,
            slot: body.slot,
            staff: body.staff,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInBody {
    channel: ArrivalChannel,
    #[serde(default)]
    note: Option<String>,
}

/// `POST /api/v1/orders/{id}/check-in`
pub async fn check_in(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<CheckInBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
        &caller,
        key,
        Command::CheckIn {
            order_id,
            channel: body.channel,
            note: body.note,
        },
    )
    .await
}

/// `POST /api/v1/pickup/{code}/check-in`: the customer checked in with
/// their short code or QR token.
pub async fn check_in_by_code(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path(code): Path<String>,
    JsonBody(body): JsonBody<CheckInBody>,
) -> Result<Json<Value>, AppError> {
    act(
        &s,
        &caller,
        key,
        Command::CheckInByCode {
            code,
            channel: body.channel,
            note: body.note,
        },
    )
    .await
}

/// `GET /api/v1/pickup/{code}`: the order ready for pickup under a short
/// code, or the order a QR token names (its signature checked).
pub async fn find_by_code(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<super::orders::OrderView>, AppError> {
    caller.require(Routes::PickupLookup)?;
    let id = if protocol::pickup::is_token(&code) {
        let claim = protocol::pickup::peek(&code)
            .map_err(|e| AppError::Rejected(crate::domain::Rejection::Pickup(e.to_string())))?;
        s.rules
            .keys
            .check(&code, &claim.order_id)
            .map_err(|e| AppError::Rejected(crate::domain::Rejection::Pickup(e.to_string())))?;
        claim.order_id
    } else {
        s.store.order_by_code(&code).ok_or_else(|| {
            AppError::NotFound(format!(
                "no order is ready for pickup under code {}",
                code.trim()
            ))
        })?
    };
    super::orders::get_order(State(s), caller, Path(id.to_string())).await
}
