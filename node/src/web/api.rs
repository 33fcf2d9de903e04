//! The JSON API handlers.
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::Json;
use protocol::{Actor, Command, Envelope, NewOrder, OrderId, OrderLine, PaymentMode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{AppError, AppState};
use crate::domain::{Order, OrderState};
use crate::services::commands;
use crate::store::{Dedup, StoreError, WriteRequest, Written};

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
        },
    };
    let order = applied(s.writer.write(request(command)).await?, &s)?;
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
fn request(command: Command) -> WriteRequest {
    WriteRequest {
        order_id: command.order_id().clone(),
        actor: Actor::Api,
        causation: None,
        dedup: Dedup::None,
        decide: commands::decide(command),
    }
}

/// The order after a write, or the rejection as an error.
fn applied(w: Written, s: &AppState) -> Result<Option<Order>, AppError> {
    match w {
        Written::Applied { order, .. } => Ok(order),
        Written::Rejected(r) => {
            s.metrics.command("api", "rejected");
            Err(AppError::Rejected(r))
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

/// `POST /api/v1/orders/{id}/picked`
pub async fn mark_picked(
    State(s): State<AppState>,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<StaffBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    staff_action(
        s,
        Command::MarkPicked {
            order_id,
            staff: body.staff,
        },
    )
    .await
}

/// `POST /api/v1/orders/{id}/handed-over`
pub async fn hand_over(
    State(s): State<AppState>,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<StaffBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    staff_action(
        s,
        Command::HandOver {
            order_id,
            staff: body.staff,
        },
    )
    .await
}

async fn staff_action(s: AppState, command: Command) -> Result<Json<Value>, AppError> {
    let id = command.order_id().clone();
    let written = s.writer.write(request(command)).await?;
    let log_seqs = match &written {
        Written::Applied { log_seqs, .. } => log_seqs.clone(),
        _ => vec![],
    };
    let order = applied(written, &s)?;
    s.metrics.command("api", "accepted");
    Ok(Json(json!({
        "order_id": id.as_str(),
        "state": order.map(|o| o.state),
        "log_seqs": log_seqs,
    })))
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

pub async fn dead_letters(State(s): State<AppState>) -> Result<Json<Value>, AppError> {
    Ok(Json(json!({ "dead_letters": s.store.dead_letters(100)? })))
}
