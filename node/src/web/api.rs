//! The JSON API handlers.
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::Json;
use protocol::{
    Actor, ArrivalChannel, Command, Envelope, NewOrder, OrderId, OrderLine, PaymentMode,
    SkuQuantity, StagingSlot,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{AppError, AppState};
use crate::domain::{Order, OrderState};
use crate::services::commands;
use crate::store::{StoreError, WriteRequest, Written};

/// A JSON body parsed strictly: unknown fields refused, the first problem
/// reported with its path (`lines[0].quantity`).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::TooLarge {
                        limit: state.max_body_bytes,
                    }
                } else {
                    AppError::BadRequest(e.body_text())
                }
            })?;
        if bytes.is_empty() {
            return Err(AppError::InvalidBody {
                field: "(body)".into(),
                reason: "a JSON body is required".into(),
            });
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            // serde_json appends the position; keep it, it helps a caller.
            let reason = inner.to_string();
            AppError::InvalidBody {
                field: field_path(&path, inner.is_syntax() || inner.is_eof(), &reason),
                reason,
            }
        })?;
        Ok(JsonBody(value))
    }
}

/// The path of the problem a caller should fix: the body itself for a
/// syntax error, the missing field itself (not its parent) when one is
/// missing.
fn field_path(path: &str, syntax: bool, reason: &str) -> String {
    let base = if syntax || path == "." || path == "?" {
        ""
    } else {
        path
    };
    let missing = reason
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
        .filter(|_| !syntax);
    match (base, missing) {
        ("", None) => "(body)".to_string(),
        ("", Some(m)) => m.to_string(),
        (b, Some(m)) => format!("{b}.{m}"),
        (b, None) => b.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn field_paths() {
        let rows = [
            (".", true, "EOF while parsing", "(body)"),
            ("?", true, "expected `,`", "(body)"),
            (
                ".",
                false,
                "missing field `customer_name` at line 1",
                "customer_name",
            ),
            (
                "lines[0]",
                false,
                "missing field `sku` at line 1",
                "lines[0].sku",
            ),
            (
                "lines[0].quantity",
                false,
                "invalid type",
                "lines[0].quantity",
            ),
        ];
        for (path, syntax, reason, want) in rows {
            assert_eq!(
                super::field_path(path, syntax, reason),
                want,
                "{path} {reason}"
            );
        }
    }
}

fn prepaid() -> PaymentMode {
    PaymentMode::Prepaid
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderBody {
    order_id: OrderId,
    customer_name: String,
    lines: Vec<OrderLine>,
    #[serde(default)]
    due_at_ms: Option<u64>,
    #[serde(default = "prepaid")]
    payment: PaymentMode,
    #[serde(default)]
    pickup_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Created {
    order_id: String,
    created_log_seq: u64,
}

/// `POST /api/v1/orders`: idempotent on the order id. The same id and body
/// again gets the same answer; the same id with other content gets 409.
pub async fn create_order(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<CreateOrderBody>,
) -> Result<(StatusCode, Json<Created>), AppError> {
    let command = Command::CreateOrder {
        order_id: body.order_id,
        order: NewOrder {
            customer_name: body.customer_name,
            lines: body.lines,
            due_at_ms: body.due_at_ms,
            payment: body.payment,
            pickup_token: body.pickup_token,
        },
    };
    let order = applied(s.writer.write(request(command, &s)?).await?, &s)?;
    let Some(order) = order else {
        return Err(AppError::Internal("order missing after create".into()));
    };
    s.metrics.command("api", "accepted");
    Ok((
        StatusCode::CREATED,
        Json(Created {
            order_id: order.id.to_string(),
            created_log_seq: order.created_log_seq,
        }),
    ))
}

/// An API command: the same decision as from any other door. No command
/// id: creation is idempotent on the order id and staff actions on the
/// order's state.
fn request(command: Command, s: &AppState) -> Result<WriteRequest, AppError> {
    commands::prepare(command, Actor::Api, None, &s.rules, &s.store).map_err(AppError::Refused)
}

/// The order after a write, or the rejection as an error.
fn applied(w: Written, s: &AppState) -> Result<Option<Order>, AppError> {
    match w {
        Written::Applied { order, .. } => Ok(order),
        Written::Rejected { rejection, .. } => {
            s.metrics.command("api", "rejected");
            Err(AppError::Rejected(rejection))
        }
        Written::Repeat(_) | Written::IdReused | Written::AlreadyReacted => Err(
            AppError::Internal("unexpected dedup outcome for an API write".into()),
        ),
    }
}

fn order_id(raw: &str) -> Result<OrderId, AppError> {
    OrderId::new(raw).map_err(|e| AppError::BadRequest(format!("order id {e}")))
}

#[derive(Debug, Serialize)]
pub struct OrderView {
    order: Order,
    events: Vec<Envelope>,
}

/// `GET /api/v1/orders/{id}`: the order and its event timeline.
pub async fn get_order(
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<OrderView>, AppError> {
    let id = order_id(&raw)?;
    let order = s
        .store
        .order(&id)?
        .ok_or_else(|| AppError::NotFound(format!("order {id} is not known in this store")))?;
    let events = s.store.order_events(&id)?;
    Ok(Json(OrderView { order, events }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    limit: Option<usize>,
    /// Paging cursor: the last order id of the previous page (with `state`).
    after: Option<OrderId>,
    /// Pickup-desk search: part of the customer's name or of the order id
    /// (any letter case). Orders waiting for pickup come first.
    q: Option<String>,
}

/// `GET /api/v1/orders?state=…&limit=…`
pub async fn list_orders(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, AppError> {
    let Query(q) = q.map_err(|e| {
        // "Failed to deserialize query string: limit: invalid digit …"
        let text = e.body_text();
        let detail = text
            .split_once("query string: ")
            .map_or(text.as_str(), |(_, d)| d);
        let (field, reason) = match detail.split_once(": ") {
            Some((f, r)) if !f.contains(' ') => (f.to_string(), r.to_string()),
            _ => ("(query)".to_string(), detail.to_string()),
        };
        AppError::InvalidBody { field, reason }
    })?;
    let limit = q.limit.unwrap_or(500).min(5000);
    if let Some(text) = q.q.as_deref() {
        let text = text.trim().to_lowercase();
        if text.is_empty() || text.chars().count() > 100 || q.after.is_some() {
            return Err(AppError::InvalidBody {
                field: "q".into(),
                reason: "search with 1 to 100 characters, without `after`".into(),
            });
        }
        // Ready orders first: the desk is usually looking for one of them.
        let mut states = vec![OrderState::Ready];
        states.extend(
            OrderState::ALL
                .into_iter()
                .filter(|s| *s != OrderState::Ready),
        );
        if let Some(name) = q.state.as_deref() {
            let only = OrderState::from_name(name).ok_or_else(|| AppError::InvalidBody {
                field: "state".into(),
                reason: format!("unknown state {name:?}"),
            })?;
            states.retain(|s| *s == only);
        }
        let mut found = Vec::new();
        for st in states {
            for o in s.store.orders_in_state(st, None, usize::MAX)? {
                let hit = o.content.customer_name.to_lowercase().contains(&text)
                    || o.id.as_str().to_lowercase().contains(&text);
                if hit {
                    found.push(o);
                    if found.len() == limit {
                        return Ok(Json(json!({ "orders": found, "next_after": null })));
                    }
                }
            }
        }
        return Ok(Json(json!({ "orders": found, "next_after": null })));
    }
    let states = match q.state.as_deref() {
        None => OrderState::ALL.to_vec(),
        Some(name) => vec![
            OrderState::from_name(name).ok_or_else(|| AppError::InvalidBody {
                field: "state".into(),
                reason: format!(
                    "unknown state {name:?}; one of {}",
                    OrderState::ALL.map(|s| s.name()).join(", ")
                ),
            })?,
        ],
    };
    if q.after.is_some() && states.len() != 1 {
        return Err(AppError::InvalidBody {
            field: "after".into(),
            reason: "paging with `after` needs `state`".into(),
        });
    }
    let mut orders = Vec::new();
    for st in states {
        orders.extend(
            s.store
                .orders_in_state(st, q.after.as_ref(), limit - orders.len())?,
        );
        if orders.len() >= limit {
            break;
        }
    }
    // With `state`, a full page names the cursor for the next one.
    let next = match (&q.state, orders.len() == limit, orders.last()) {
        (Some(_), true, Some(o)) => json!(o.id),
        _ => Value::Null,
    };
    Ok(Json(json!({ "orders": orders, "next_after": next })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffBody {
    staff: String,
}

/// `POST /api/v1/orders/{id}/picked`: every open line picked in full.
pub async fn mark_picked(
    State(s): State<AppState>,
    key: IdemKey,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<StaffBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
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
pub struct HandOverBody {
    staff: String,
    /// The short pickup code or the scanned QR token.
    code: String,
    #[serde(default)]
    id_checked: bool,
}

/// `POST /api/v1/orders/{id}/handed-over`
pub async fn hand_over(
    State(s): State<AppState>,
    key: IdemKey,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<HandOverBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
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

/// `POST /api/v1/orders/{id}/confirm-payment` (normally the cloud's).
pub async fn confirm_payment(
    State(s): State<AppState>,
    key: IdemKey,
    Path(raw): Path<String>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(&s, key, Command::ConfirmPayment { order_id }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartPickBody {
    staff: String,
    #[serde(default)]
    tote: Option<u32>,
}

/// `POST /api/v1/orders/{id}/start-pick`
pub async fn start_pick(
    State(s): State<AppState>,
    key: IdemKey,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<StartPickBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
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
    staff: String,
}

/// `POST /api/v1/orders/{id}/lines/{line_no}/pick`: a scan.
pub async fn pick_item(
    State(s): State<AppState>,
    key: IdemKey,
    Path((raw, line_no)): Path<(String, u32)>,
    JsonBody(body): JsonBody<ScanBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
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
    staff: String,
}

/// `POST /api/v1/orders/{id}/lines/{line_no}/short`
pub async fn short_item(
    State(s): State<AppState>,
    key: IdemKey,
    Path((raw, line_no)): Path<(String, u32)>,
    JsonBody(body): JsonBody<ShortBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
        key,
        Command::ShortItem {
            order_id,
            line_no,
            found: body.found,
            staff: body.staff,
        },
    )
    .await
}

/// `POST /api/v1/orders/{id}/lines/{line_no}/substitute`
pub async fn substitute_item(
    State(s): State<AppState>,
    key: IdemKey,
    Path((raw, line_no)): Path<(String, u32)>,
    JsonBody(body): JsonBody<ScanBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
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
pub struct StageBody {
    slot: StagingSlot,
    staff: String,
}

/// `POST /api/v1/orders/{id}/stage`
pub async fn stage(
    State(s): State<AppState>,
    key: IdemKey,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<StageBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
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
    key: IdemKey,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<CheckInBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
        key,
        Command::CheckIn {
            order_id,
            channel: body.channel,
            note: body.note,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    reason: String,
    by: String,
}

/// `POST /api/v1/orders/{id}/cancel`: 409 `cancel_rejected` after hand-over.
pub async fn cancel(
    State(s): State<AppState>,
    key: IdemKey,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<CancelBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
        key,
        Command::Cancel {
            order_id,
            reason: body.reason,
            by: body.by,
        },
    )
    .await
}

/// `POST /api/v1/pickup/{code}/check-in`: the customer checked in with
/// their short code or QR token.
pub async fn check_in_by_code(
    State(s): State<AppState>,
    key: IdemKey,
    Path(code): Path<String>,
    JsonBody(body): JsonBody<CheckInBody>,
) -> Result<Json<Value>, AppError> {
    act(
        &s,
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
    Path(code): Path<String>,
) -> Result<Json<OrderView>, AppError> {
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
    get_order(State(s), Path(id.to_string())).await
}

/// The optional `Idempotency-Key` header: a client that may resend a
/// request (a scan over a flaky store Wi-Fi) names it, and a resend gets
/// the first answer instead of acting twice. Remembered like device
/// command ids (`storage.inbox_retention_days`).
pub struct IdemKey(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IdemKey {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, AppError> {
        match parts.headers.get("idempotency-key") {
            None => Ok(IdemKey(None)),
            Some(v) => v
                .to_str()
                .map(|k| IdemKey(Some(k.to_string())))
                .map_err(|_| AppError::InvalidBody {
                    field: "Idempotency-Key".into(),
                    reason: "must be printable ASCII".into(),
                }),
        }
    }
}

/// A staff or device action through the API: decided like every other
/// door's; answered after it is durable.
async fn act(s: &AppState, key: IdemKey, command: Command) -> Result<Json<Value>, AppError> {
    if let Some(key) = &key.0 {
        commands::check_id(key).map_err(|reason| AppError::InvalidBody {
            field: "Idempotency-Key".into(),
            reason,
        })?;
    }
    let resend = key.0.map(|k| ("api".to_string(), k));
    let req = commands::prepare(command, Actor::Api, resend, &s.rules, &s.store)
        .map_err(AppError::Refused)?;
    let id = req.order_id.clone();
    let written = s.writer.write(req).await?;
    let written = match written {
        // A retry with the same key: the first answer, not a second action.
        Written::Repeat(reply) => {
            return match reply.status {
                protocol::ReplyStatus::Accepted => {
                    let state = s.store.order(&id)?.map(|o| o.state);
                    Ok(Json(json!({
                        "order_id": id.as_str(), "state": state,
                        "log_seqs": reply.log_seqs, "repeat": true,
                    })))
                }
                _ => Err(AppError::Refused(reply.reason.unwrap_or_default())),
            };
        }
        Written::IdReused => {
            return Err(AppError::Conflict(
                "this Idempotency-Key was already used for a different request".into(),
            ))
        }
        other => other,
    };
    let log_seqs = match &written {
        Written::Applied { log_seqs, .. } => log_seqs.clone(),
        _ => vec![],
    };
    let order = applied(written, s)?;
    s.metrics.command("api", "accepted");
    Ok(Json(json!({
        "order_id": id.as_str(),
        "state": order.as_ref().map(|o| o.state),
        "log_seqs": log_seqs,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkBody {
    order_ids: Vec<OrderId>,
    staff: String,
}

/// `POST /api/v1/pick-walks`: one walk through the store for several
/// orders, each into its own tote (1, 2, 3 … in the order given). Each
/// order is started on its own; the answer says which joined the walk.
pub async fn start_walk(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<WalkBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    if body.order_ids.is_empty() || body.order_ids.len() > 20 {
        return Err(AppError::InvalidBody {
            field: "order_ids".into(),
            reason: "a walk takes 1 to 20 orders".into(),
        });
    }
    let walk_id = format!("W-{}", protocol::EventId::generate());
    let mut joined = Vec::new();
    let mut refused = Vec::new();
    for (i, order_id) in body.order_ids.into_iter().enumerate() {
        let command = Command::StartPick {
            order_id: order_id.clone(),
            staff: body.staff.clone(),
            walk_id: Some(walk_id.clone()),
            tote: i as u32 + 1,
        };
        match applied(s.writer.write(request(command, &s)?).await?, &s) {
            Ok(_) => joined.push(order_id),
            Err(AppError::Rejected(r)) => {
                refused.push(json!({ "order_id": order_id, "reason": r.to_string() }))
            }
            Err(e) => return Err(e),
        }
    }
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
    let mut view = walk_view(&s, &walk_id, &joined)?;
    view["refused"] = json!(refused);
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /api/v1/pick-walks/{walk_id}`
pub async fn get_walk(
    State(s): State<AppState>,
    Path(walk_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let mut members = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .store
            .orders_in_state(OrderState::Picking, after.as_ref(), 500)?;
        let full = page.len() == 500;
        after = page.last().map(|o| o.id.clone());
        members.extend(
            page.into_iter()
                .filter(|o| o.walk_id.as_deref() == Some(walk_id.as_str()))
                .map(|o| o.id.clone()),
        );
        if !full {
            break;
        }
    }
    if members.is_empty() {
        return Err(AppError::NotFound(format!(
            "no order is being picked in walk {walk_id}"
        )));
    }
    Ok(Json(walk_view(&s, &walk_id, &members)?))
}

/// The walk's stops in walking order: each shelf location once, with what
/// to put in which tote.
fn walk_view(s: &AppState, walk_id: &str, ids: &[OrderId]) -> Result<Value, AppError> {
    let mut stops: Vec<(protocol::Location, String, Vec<Value>)> = Vec::new();
    let mut totes = Vec::new();
    for id in ids {
        let Some(o) = s.store.order(id)? else {
            continue;
        };
        totes.push(json!({ "order_id": o.id, "tote": o.tote, "state": o.state, "customer_name": o.content.customer_name }));
        for (l, p) in o.pick_lines.iter().zip(&o.progress) {
            let entry = json!({
                "order_id": o.id, "tote": o.tote, "line_no": l.line_no,
                "quantity": l.quantity, "picked": p.picked, "state": p.state,
            });
            match stops
                .iter_mut()
                .find(|(loc, sku, _)| *loc == l.location && *sku == l.sku)
            {
                Some((_, _, items)) => items.push(entry),
                None => stops.push((l.location, l.sku.clone(), vec![entry])),
            }
        }
    }
    stops.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let stops: Vec<Value> = stops
        .into_iter()
        .map(|(location, sku, items)| {
            let item = s.store.item(&sku);
            json!({
                "location": location,
                "sku": sku,
                "name": item.as_ref().map(|i| i.item.name.clone()),
                "barcodes": item.as_ref().map(|i| i.item.barcodes.clone()),
                "zone": item.as_ref().map(|i| i.item.zone),
                "items": items,
            })
        })
        .collect();
    Ok(json!({ "walk_id": walk_id, "totes": totes, "stops": stops }))
}

/// `GET /api/v1/stock`: every SKU in walking order with on-hand, reserved
/// and available.
pub async fn list_stock(State(s): State<AppState>) -> Result<Json<Value>, AppError> {
    let items: Vec<Value> = s.store.stock_items().iter().map(stock_json).collect();
    Ok(Json(json!({ "items": items, "site": s.store.site() })))
}

/// `GET /api/v1/stock/{sku}`
pub async fn get_stock(
    State(s): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Json<Value>, AppError> {
    let item = s
        .store
        .item(&sku)
        .ok_or_else(|| AppError::NotFound(format!("SKU {sku} is not in this store's catalog")))?;
    Ok(Json(stock_json(&item)))
}

fn stock_json(i: &crate::domain::StockItem) -> Value {
    json!({
        "item": i.item, "on_hand": i.on_hand, "reserved": i.reserved,
        "available": i.available(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountBody {
    counts: Vec<SkuQuantity>,
    staff: String,
}

/// `POST /api/v1/stock/count`: a cycle count (on-hand becomes the count).
pub async fn count_stock(
    State(s): State<AppState>,
    key: IdemKey,
    JsonBody(body): JsonBody<CountBody>,
) -> Result<Json<Value>, AppError> {
    act(
        &s,
        key,
        Command::CountStock {
            counts: body.counts,
            staff: body.staff,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustBody {
    sku: String,
    delta: i64,
    reason: String,
    staff: String,
}

/// `POST /api/v1/stock/adjust`
pub async fn adjust_stock(
    State(s): State<AppState>,
    key: IdemKey,
    JsonBody(body): JsonBody<AdjustBody>,
) -> Result<Json<Value>, AppError> {
    act(
        &s,
        key,
        Command::AdjustStock {
            sku: body.sku,
            delta: body.delta,
            reason: body.reason,
            staff: body.staff,
        },
    )
    .await
}

/// Largest catalog import body (50,000 rows fit).
pub const IMPORT_MAX_BYTES: usize = 16 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/v1/catalog/import` with a CSV (`Content-Type: text/csv`) or
/// JSON body: the good rows are imported in one atomic write; the answer
/// lists the bad rows with row number, field and reason. `?dry_run=true`
/// only checks. 422 if no row is usable.
pub async fn import_catalog(
    State(s): State<AppState>,
    q: Result<Query<ImportQuery>, QueryRejection>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let dry_run = q
        .map_err(|_| AppError::InvalidBody {
            field: "dry_run".into(),
            reason: "must be true or false".into(),
        })?
        .0
        .dry_run;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge {
                limit: IMPORT_MAX_BYTES,
            }
        } else {
            AppError::BadRequest(e.body_text())
        }
    })?;
    let csv = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    // Parsing tens of thousands of rows is CPU work: off the async workers.
    let store = s.store.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        let text = std::str::from_utf8(&body).map_err(|_| AppError::InvalidBody {
            field: "(body)".into(),
            reason: "not UTF-8 text".into(),
        })?;
        let mut parsed = if csv {
            crate::import::parse_csv(text)
        } else {
            crate::import::parse_json(text)
        }
        .map_err(|e| AppError::InvalidBody {
            field: "(body)".into(),
            reason: e.to_string(),
        })?;
        parsed.drop_clashes(|b| store.sku_for_barcode(b));
        Ok::<_, AppError>(parsed)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))??;
    let report = json!({
        "imported": if dry_run { 0 } else { parsed.items.len() },
        "valid": parsed.items.len(),
        "stock_counts": parsed.stock.len(),
        "errors": parsed.errors,
        "dry_run": dry_run,
    });
    if parsed.items.is_empty() {
        return Err(AppError::Import(report));
    }
    if !dry_run {
        let _ = act(
            &s,
            IdemKey(None),
            Command::ImportCatalog {
                items: parsed.items,
                stock: parsed.stock,
            },
        )
        .await?;
    }
    Ok(Json(report))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    open: bool,
    #[serde(default)]
    reason: String,
    staff: String,
}

/// `POST /api/v1/store/open`: stop or resume taking orders.
pub async fn set_open(
    State(s): State<AppState>,
    key: IdemKey,
    JsonBody(body): JsonBody<OpenBody>,
) -> Result<Json<Value>, AppError> {
    let _ = act(
        &s,
        key,
        Command::SetStoreOpen {
            open: body.open,
            reason: body.reason,
            staff: body.staff,
        },
    )
    .await?;
    Ok(Json(json!({ "site": s.store.site() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceBody {
    name: String,
}

/// `POST /api/v1/devices`: register a device; the password is shown once.
pub async fn add_device(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<DeviceBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    crate::check_device_name(&body.name).map_err(|reason| AppError::InvalidBody {
        field: "name".into(),
        reason,
    })?;
    // Blocking disk sync: off the async workers.
    let store = s.store.clone();
    let name = body.name.clone();
    let added = tokio::task::spawn_blocking(move || store.add_device(&name))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let password = match added {
        Err(StoreError::DeviceExists(name)) => {
            return Err(AppError::Conflict(format!("device {name} already exists")))
        }
        other => other?,
    };
    tracing::info!(device = body.name, "device registered");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": body.name, "username": body.name, "password": password })),
    ))
}

pub async fn list_devices(State(s): State<AppState>) -> Result<Json<Value>, AppError> {
    Ok(Json(json!({ "devices": s.store.devices()? })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

/// Most log entries one outbox read looks at (bounded work per call).
const OUTBOX_SCAN: usize = 20_000;

/// `GET /api/v1/outbox/customer-messages?after=…&limit=…`: the customer
/// messages (ready, reminder, expired, cancelled, rejected) in log order
/// after the log position `after`; `next_after` is the cursor for the next
/// read (it moves past events that are not messages too).
pub async fn customer_outbox(
    State(s): State<AppState>,
    q: Result<Query<OutboxQuery>, QueryRejection>,
) -> Result<Json<Value>, AppError> {
    let Query(q) = q.map_err(|e| AppError::InvalidBody {
        field: "(query)".into(),
        reason: e.body_text(),
    })?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let store = s.store.clone();
    let (messages, next) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut next = q.after;
        for env in store.events_from(q.after.saturating_add(1), OUTBOX_SCAN)? {
            next = env.log_seq;
            if let Some(m) = crate::domain::notification::customer_message(&env) {
                out.push(m);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok::<_, AppError>((out, next))
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))??;
    Ok(Json(json!({ "messages": messages, "next_after": next })))
}

pub async fn dead_letters(State(s): State<AppState>) -> Result<Json<Value>, AppError> {
    Ok(Json(json!({ "dead_letters": s.store.dead_letters(100)? })))
}
