//! Orders: create, list and search, read one, confirm payment, cancel,
//! reject before picking.
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{act, applied, order_id, request, IdemKey, JsonBody};
use crate::web::auth::Caller;
use crate::web::{AppError, AppState};
use protocol::{
    Command, Envelope, NewOrder, OrderId, OrderLine, Partial, PaymentMode, StaffRejectReason,
};

use crate::domain::{Order, OrderState};

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
    /// `allow` or `none`; absent: the store's `orders.partial`.
    #[serde(default)]
    partial: Option<Partial>,
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
    caller: Caller,
    JsonBody(body): JsonBody<CreateOrderBody>,
) -> Result<(StatusCode, Json<Created>), AppError> {
    let order = NewOrder {
        customer_name: body.customer_name,
        lines: body.lines,
        due_at_ms: body.due_at_ms,
        payment: body.payment,
        pickup_token: body.pickup_token,
    };
    let command = match body.partial {
        None => Command::CreateOrder {
            order_id: body.order_id,
            order,
        },
        Some(partial) => Command::CreateOrderWithPolicy {
            order_id: body.order_id,
            order,
            partial,
        },
    };
    let order = applied(s.writer.write(request(command, &caller, &s)?).await?, &s)?;
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

#[derive(Debug, Serialize)]
pub struct OrderView {
    order: Order,
    events: Vec<Envelope>,
}

/// `GET /api/v1/orders/{id}`: the order and its event timeline.
pub async fn get_order(
    State(s): State<AppState>,
    _caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<OrderView>, AppError> {
    let id = order_id(&raw)?;
    let unknown = || AppError::NotFound(format!("order {id} is not known in this store"));
    let mut order = s.store.order(&id)?.ok_or_else(unknown)?;
    // sled shows a group's projections from the moment it is applied, a
    // few milliseconds before its fsync moves the durable head; the
    // timeline stops at the head. Answer only once both agree, so a
    // reader never sees a state that a crash could still take back.
    let newest = |o: &Order| o.status.log_seqs.last().copied().unwrap_or(0);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while newest(&order) > s.store.head() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !s.store.durable(newest(&order), left).await {
            break;
        }
        order = s.store.order(&id)?.ok_or_else(unknown)?;
    }
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
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, AppError> {
    let q: ListQuery = super::strict_query(raw.as_deref())?;
    let limit = q.limit.unwrap_or(500).min(5000);
    if let Some(text) = q.q.as_deref() {
        let text = text.trim().to_string();
        if text.is_empty() || text.chars().count() > 100 || q.after.is_some() {
            return Err(AppError::InvalidBody {
                field: "q".into(),
                reason: "search with 1 to 100 characters, without `after`".into(),
            });
        }
        let only = match q.state.as_deref() {
            None => None,
            Some(name) => {
                Some(
                    OrderState::from_name(name).ok_or_else(|| AppError::InvalidBody {
                        field: "state".into(),
                        reason: format!("unknown state {name:?}"),
                    })?,
                )
            }
        };
        // Ready orders first: the desk is usually looking for one of them.
        let store = s.store.clone();
        let found = crate::web::blocking(move || {
            crate::read::desk::text_search(&store, &text, only, limit)
        })
        .await?;
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

/// `POST /api/v1/orders/{id}/confirm-payment` (normally the cloud's).
pub async fn confirm_payment(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path(raw): Path<String>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(&s, &caller, key, Command::ConfirmPayment { order_id }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    reason: String,
    #[serde(default)]
    by: String,
}

/// `POST /api/v1/orders/{id}/cancel`: 409 `cancel_rejected` after hand-over.
pub async fn cancel(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<CancelBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
        &caller,
        key,
        Command::Cancel {
            order_id,
            reason: body.reason,
            by: body.by,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    reason: StaffRejectReason,
    /// Order line numbers (1-based); empty or left out: the whole order.
    #[serde(default)]
    lines: Vec<u32>,
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/orders/{id}/reject`: staff reject an accepted order, or
/// some of its lines, before picking (`not_in_stock`, `damaged`,
/// `cannot_fulfil_in_time`, `customer_request`); HQ hears it with a code
/// it can re-route on.
pub async fn reject(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<RejectBody>,
) -> Result<Json<Value>, AppError> {
    let order_id = order_id(&raw)?;
    act(
        &s,
        &caller,
        key,
        Command::RejectOrder {
            order_id,
            reason: body.reason,
            lines: body.lines,
            note: body.note,
        },
    )
    .await
}
