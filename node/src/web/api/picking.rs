//! Picking: start, scans, shorts, substitutes, "all picked", batch walks,
//! and the pick queue.
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{act, applied, order_id, request, IdemKey, JsonBody};
use crate::web::auth::Caller;
use crate::web::{AppError, AppState};
use protocol::{Command, OrderId, ShortReason};

use crate::read::queue;
use crate::read::walk::{self, WalkRef};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffBody {
    #[serde(default)]
    staff: String,
}

/// `POST /api/v1/orders/{id}/picked`: every open line picked in full.
pub async fn mark_picked(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<StaffBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
        &caller,
        key,
        Command::MarkPicked {
            order_id,
            staff: body.staff,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartPickBody {
    #[serde(default)]
    staff: String,
    #[serde(default)]
    tote: Option<u32>,
}

/// `POST /api/v1/orders/{id}/start-pick`
pub async fn start_pick(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<StartPickBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
        &caller,
        key,
        Command::StartPick {
            order_id,
            staff: body.staff,
            walk_id: None,
            tote: body.tote.unwrap_or(1),
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanBody {
    barcode: String,
    #[serde(default)]
    quantity: Option<u32>,
    #[serde(default)]
    staff: String,
}

/// `POST /api/v1/orders/{id}/lines/{line_no}/pick`: a scan.
pub async fn pick_item(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path((raw, line_no)): Path<(String, u32)>,
    JsonBody(body): JsonBody<ScanBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
        &caller,
        key,
        Command::PickItem {
            order_id,
            line_no,
            barcode: body.barcode,
            quantity: body.quantity.unwrap_or(1),
            staff: body.staff,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShortBody {
    found: u32,
    /// Why (default `not_found`).
    #[serde(default)]
    reason: ShortReason,
    /// For `damaged` and `out_of_date`: how many units were bad (written
    /// off); default: the units the line lacked.
    #[serde(default)]
    written_off: Option<u32>,
    #[serde(default)]
    staff: String,
}

/// `POST /api/v1/orders/{id}/lines/{line_no}/short`
pub async fn short_item(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path((raw, line_no)): Path<(String, u32)>,
    JsonBody(body): JsonBody<ShortBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
        &caller.acting_for(&body.staff),
        key,
        match body.written_off {
            None => Command::ShortItemWithReason {
                order_id,
                line_no,
                found: body.found,
                reason: body.reason,
            },
            Some(written_off) => Command::ShortItemWithWriteOff {
                order_id,
                line_no,
                found: body.found,
                reason: body.reason,
                written_off,
            },
        },
    )
    .await
}

/// `POST /api/v1/orders/{id}/lines/{line_no}/substitute`
pub async fn substitute_item(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path((raw, line_no)): Path<(String, u32)>,
    JsonBody(body): JsonBody<ScanBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
        &caller,
        key,
        Command::SubstituteItem {
            order_id,
            line_no,
            barcode: body.barcode,
            quantity: body.quantity.unwrap_or(1),
            staff: body.staff,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkBody {
    order_ids: Vec<OrderId>,
    #[serde(default)]
    staff: String,
}

/// Start a batch walk: each order on its own into tote 1, 2, 3 … in the
/// order given. Returns the walk id, the orders that joined, and those
/// refused with the reason (taken meanwhile, cancelled …).
pub(crate) async fn start_walk_orders(
    s: &AppState,
    caller: &Caller,
    order_ids: Vec<OrderId>,
    claimed: &str,
) -> Result<
    (
        String,
        Vec<OrderId>,
        Vec<(OrderId, crate::domain::Rejection)>,
    ),
    AppError,
> {
    if order_ids.is_empty() || order_ids.len() > 20 {
        return Err(AppError::InvalidBody {
            field: "order_ids".into(),
            reason: "a walk takes 1 to 20 orders".into(),
        });
    }
    let walk_id = format!("W-{}", protocol::EventId::generate());
    let mut joined = Vec::new();
    let mut refused = Vec::new();
    for (i, order_id) in order_ids.into_iter().enumerate() {
        let command = Command::StartPick {
            order_id: order_id.clone(),
            staff: claimed.to_string(),
            walk_id: Some(walk_id.clone()),
            tote: i as u32 + 1,
        };
        match applied(s.writer.write(request(command, caller, s)?).await?, s) {
            Ok(_) => joined.push(order_id),
            Err(AppError::Rejected(r)) => refused.push((order_id, r)),
            Err(e) => return Err(e),
        }
    }
    Ok((walk_id, joined, refused))
}

/// `POST /api/v1/pick-walks`: one walk through the store for several
/// orders, each into its own tote (1, 2, 3 … in the order given). Each
/// order is started on its own; the answer says which joined the walk.
pub async fn start_walk(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<WalkBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let (walk_id, joined, refused) =
        start_walk_orders(&s, &caller, body.order_ids, &body.staff).await?;
    let refused: Vec<Value> = refused
        .iter()
        .map(|(id, r)| json!({ "order_id": id, "reason": r.to_string() }))
        .collect();
    if joined.is_empty() {
        return Err(AppError::Conflict(format!(
            "no order could join the walk: {}",
            refused
                .iter()
                .filter_map(|r| r["reason"].as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    let walk = walk::load(&s.store, &WalkRef::Walk(walk_id.clone()))?
        .ok_or_else(|| AppError::Internal("walk missing after start".into()))?;
    let mut view = walk.stops_json();
    view["refused"] = json!(refused);
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /api/v1/pick-walks/{walk_id}`: the walk's stops in walking order,
/// each shelf location once with what goes in which tote.
pub async fn get_walk(
    State(s): State<AppState>,
    Path(walk_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let store = s.store.clone();
    let w = walk_id.clone();
    let walk = crate::web::blocking(move || walk::load(&store, &WalkRef::Walk(w)))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no order is being picked in walk {walk_id}")))?;
    Ok(Json(walk.stops_json()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    limit: Option<usize>,
}

/// `GET /api/v1/pick-queue?limit=…`: orders waiting for a picker, late
/// ones first, then by promise time (the pick queue page's list).
pub async fn pick_queue(
    State(s): State<AppState>,
    q: Result<Query<QueueQuery>, QueryRejection>,
) -> Result<Json<Value>, AppError> {
    let Query(q) = q.map_err(|e| AppError::InvalidBody {
        field: "(query)".into(),
        reason: e.body_text(),
    })?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let store = s.store.clone();
    let view = crate::web::blocking(move || queue::pick_queue(&store, limit)).await?;
    Ok(Json(json!(view)))
}
