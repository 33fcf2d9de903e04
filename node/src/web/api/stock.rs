//! Stock: list, one SKU (with its ledger and stock card), cycle counts,
//! adjustments, write-offs, safety stock, HQ snapshots, deliveries, count
//! tasks, catalog import.
use crate::domain::permissions::Routes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use protocol::{Command, SafetyScope, SkuQuantity, SnapshotLine, WriteOffReason};

use super::{act, act_store, resend_key, IdemKey, JsonBody, StoreDone};
use crate::web::auth::Caller;
use crate::web::{AppError, AppState};

/// `GET /api/v1/stock`: every SKU in walking order with on-hand, reserved
/// and available.
pub async fn list_stock(State(s): State<AppState>) -> Result<Json<Value>, AppError> {
    let items: Vec<Value> = s.store.stock_items().iter().map(stock_json).collect();
    Ok(Json(json!({ "items": items, "site": s.store.site() })))
}

/// How many movements `GET /api/v1/stock/{sku}` lists.
const CARD_LINES: usize = 50;

/// `GET /api/v1/stock/{sku}`: on hand, reserved, safety, available, the
/// ledger, the last count, the open count task and the newest movements
/// (the stock card).
pub async fn get_stock(
    State(s): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Json<Value>, AppError> {
    let item = s
        .store
        .item(&sku)
        .ok_or_else(|| AppError::NotFound(format!("SKU {sku} is not in this store's catalog")))?;
    let mut v = stock_json(&item);
    v["ledger"] = json!(item.ledger);
    v["last_count"] = json!(item.last_count);
    v["count_task"] = match &item.count_task {
        Some(id) => match s
            .store
            .doc(&crate::domain::stock::DocKey::CountTask(id.clone()))?
        {
            Some(crate::domain::stock::StockDoc::CountTask(t)) => count_task_json(&t),
            _ => json!({ "task_id": id }),
        },
        None => Value::Null,
    };
    let mut card = Vec::new();
    for m in s.store.stock_card(&sku, CARD_LINES)? {
        let (time_ms, event, order_id) = match s.store.event(m.log_seq)? {
            Some(e) => (
                e.time_ms,
                e.event.kind().name(),
                (!e.order_id.is_reserved()).then(|| e.order_id.to_string()),
            ),
            None => (0, "", None),
        };
        card.push(json!({
            "log_seq": m.log_seq, "time_ms": time_ms, "delta": m.entry.delta,
            "kind": m.entry.kind.name(), "event": event, "order_id": order_id,
        }));
    }
    v["movements"] = Value::Array(card);
    Ok(Json(v))
}

pub(crate) fn stock_json(i: &crate::domain::StockItem) -> Value {
    json!({
        "item": i.item, "on_hand": i.on_hand, "reserved": i.reserved,
        "safety": i.safety, "available": i.available(), "listed": i.listed,
        "category": i.category, "count_task": i.count_task,
        "short_for_orders": i.short_for_orders(),
    })
}

pub(crate) fn count_task_json(t: &crate::domain::stock::CountTask) -> Value {
    json!({
        "task_id": t.task_id, "sku": t.sku, "reason": t.reason.name(), "note": t.note,
        "opened_ms": t.opened_ms, "state": t.state.name(),
        "counts": t.counts.iter().map(|c| json!({
            "counted": c.counted, "expected": c.expected, "by": c.by, "at_ms": c.at_ms,
        })).collect::<Vec<_>>(),
        "closed_by": t.closed.as_ref().map(|c| &c.0),
        "closed_ms": t.closed.as_ref().map(|c| c.1),
    })
}

fn done_json(done: StoreDone) -> Json<Value> {
    Json(json!({
        "log_seqs": done.log_seqs, "events": done.events, "repeat": done.repeat,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyBody {
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    category: Option<String>,
    /// Units kept back; `null` removes the setting.
    safety: Option<u32>,
}

/// `POST /api/v1/stock/safety`: `{"sku": …}` or `{"category": …}` (or
/// neither: the store's default) and `"safety"` (`null` removes it).
pub async fn set_safety(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    JsonBody(body): JsonBody<SafetyBody>,
) -> Result<Json<Value>, AppError> {
    let scope = match (body.sku, body.category) {
        (Some(sku), None) => SafetyScope::Sku(sku),
        (None, Some(c)) => SafetyScope::Category(c),
        (None, None) => SafetyScope::Store,
        (Some(_), Some(_)) => {
            return Err(AppError::InvalidBody {
                field: "sku".into(),
                reason: "give an SKU or a category, not both".into(),
            })
        }
    };
    let resend = resend_key(&caller, key)?;
    let done = act_store(
        &s,
        &caller,
        resend,
        Command::SetSafetyStock {
            scope,
            safety: body.safety,
        },
    )
    .await?;
    Ok(done_json(done))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteOffBody {
    sku: String,
    quantity: u32,
    reason: WriteOffReason,
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/stock/write-off`
pub async fn write_off(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    JsonBody(body): JsonBody<WriteOffBody>,
) -> Result<Json<Value>, AppError> {
    let resend = resend_key(&caller, key)?;
    let done = act_store(
        &s,
        &caller,
        resend,
        Command::WriteOff {
            sku: body.sku,
            quantity: body.quantity,
            reason: body.reason,
            note: body.note,
        },
    )
    .await?;
    Ok(done_json(done))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotBody {
    /// RFC 3339: when HQ's figures were true.
    as_of: String,
    lines: Vec<SnapshotLine>,
}

/// `POST /api/v1/stock/snapshot`: HQ's stock as of a time (a back-office
/// import; HQ sends the same over the cloud link), reconciled per SKU.
pub async fn snapshot(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    JsonBody(body): JsonBody<SnapshotBody>,
) -> Result<Json<Value>, AppError> {
    caller.require(Routes::StockFeeds)?;
    let as_of_ms = rfc3339_ms("as_of", &body.as_of)?;
    let resend = resend_key(&caller, key)?;
    let done = act_store(
        &s,
        &caller,
        resend,
        Command::ReconcileSnapshot {
            as_of_ms,
            lines: body.lines,
        },
    )
    .await?;
    let mut reconciled = Vec::new();
    let mut ignored = Vec::new();
    for seq in &done.log_seqs {
        if let Some(env) = s.store.event(*seq)? {
            if let protocol::Event::StockSnapshotReconciled {
                items, ignored: ig, ..
            } = env.event
            {
                reconciled.extend(items);
                ignored.extend(ig);
            }
        }
    }
    Ok(Json(json!({
        "log_seqs": done.log_seqs, "repeat": done.repeat,
        "reconciled": reconciled, "ignored": ignored,
    })))
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub(crate) fn rfc3339_ms(field: &str, text: &str) -> Result<u64, AppError> {
    let t = text
        .trim()
        .parse::<jiff::Timestamp>()
        .map_err(|e| AppError::InvalidBody {
            field: field.into(),
            reason: format!("not an RFC 3339 time: {e}"),
        })?;
    u64::try_from(t.as_millisecond()).map_err(|_| AppError::InvalidBody {
        field: field.into(),
        reason: "before 1970".into(),
    })
}

/// `GET /api/v1/deliveries`: announced and received deliveries, newest
/// first.
pub async fn list_deliveries(State(s): State<AppState>) -> Result<Json<Value>, AppError> {
    let all = s.store.goods_deliveries()?;
    let list: Vec<Value> = all
        .iter()
        .map(|d| {
            json!({
                "delivery_id": d.delivery_id, "announced": d.announced,
                "expected_ms": d.expected_ms, "announced_ms": d.announced_ms,
                "received": d.received.as_ref().map(|r| json!({
                    "lines": r.lines, "by": r.by, "at_ms": r.at_ms,
                })),
            })
        })
        .collect();
    Ok(Json(json!({ "deliveries": list })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiveBody {
    #[serde(default)]
    delivery_id: Option<String>,
    lines: Vec<SkuQuantity>,
}

/// `POST /api/v1/deliveries`: goods received, an announced delivery (by
/// id, with what arrived) or one HQ never announced (no id).
pub async fn receive_delivery(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    JsonBody(body): JsonBody<ReceiveBody>,
) -> Result<Json<Value>, AppError> {
    let resend = resend_key(&caller, key)?;
    let done = act_store(
        &s,
        &caller,
        resend,
        Command::ReceiveDelivery {
            delivery_id: body.delivery_id,
            lines: body.lines,
        },
    )
    .await?;
    let id = match done.log_seqs.first() {
        Some(seq) => match s.store.event(*seq)?.map(|e| e.event) {
            Some(protocol::Event::DeliveryReceived { delivery_id, .. }) => Some(delivery_id),
            _ => None,
        },
        None => None,
    };
    Ok(Json(json!({
        "delivery_id": id, "log_seqs": done.log_seqs, "repeat": done.repeat,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnounceBody {
    delivery_id: String,
    lines: Vec<SkuQuantity>,
    #[serde(default)]
    expected_ms: Option<u64>,
}

/// `POST /api/v1/deliveries/announce` (the API token; HQ sends the same
/// over the cloud link).
pub async fn announce_delivery(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    JsonBody(body): JsonBody<AnnounceBody>,
) -> Result<Json<Value>, AppError> {
    caller.require(Routes::StockFeeds)?;
    let resend = resend_key(&caller, key)?;
    let done = act_store(
        &s,
        &caller,
        resend,
        Command::AnnounceDelivery {
            delivery_id: body.delivery_id,
            lines: body.lines,
            expected_ms: body.expected_ms,
        },
    )
    .await?;
    Ok(done_json(done))
}

/// `GET /api/v1/count-tasks`: open ones first, then the closed, newest
/// first.
pub async fn list_count_tasks(State(s): State<AppState>) -> Result<Json<Value>, AppError> {
    let mut tasks = s.store.count_tasks()?;
    tasks.sort_by_key(|t| (!t.state.is_open(), std::cmp::Reverse(t.opened_ms)));
    let list: Vec<Value> = tasks.iter().map(count_task_json).collect();
    Ok(Json(json!({ "count_tasks": list })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenCountBody {
    sku: String,
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/count-tasks` (a manager).
pub async fn open_count_task(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    JsonBody(body): JsonBody<OpenCountBody>,
) -> Result<Json<Value>, AppError> {
    let resend = resend_key(&caller, key)?;
    let done = act_store(
        &s,
        &caller,
        resend,
        Command::OpenCountTask {
            sku: body.sku,
            note: body.note,
        },
    )
    .await?;
    task_answer(&s, done)
}

/// The task a count command touched, as it is now.
fn task_answer(s: &AppState, done: StoreDone) -> Result<Json<Value>, AppError> {
    let mut task = Value::Null;
    for seq in &done.log_seqs {
        let id = match s.store.event(*seq)?.map(|e| e.event) {
            Some(protocol::Event::CountTaskOpened { task_id, .. })
            | Some(protocol::Event::CountRecorded { task_id, .. })
            | Some(protocol::Event::CountApplied { task_id, .. })
            | Some(protocol::Event::CountTaskCancelled { task_id, .. }) => task_id,
            _ => continue,
        };
        if let Some(crate::domain::stock::StockDoc::CountTask(t)) =
            s.store.doc(&crate::domain::stock::DocKey::CountTask(id))?
        {
            task = count_task_json(&t);
        }
    }
    Ok(Json(json!({
        "task": task, "log_seqs": done.log_seqs, "events": done.events, "repeat": done.repeat,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountTaskBody {
    counted: u32,
}

/// `POST /api/v1/count-tasks/{id}/count`: `{"counted": n}`.
pub async fn record_count(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CountTaskBody>,
) -> Result<Json<Value>, AppError> {
    let resend = resend_key(&caller, key)?;
    let done = act_store(
        &s,
        &caller,
        resend,
        Command::RecordCount {
            task_id: id,
            counted: body.counted,
        },
    )
    .await?;
    task_answer(&s, done)
}

/// `POST /api/v1/count-tasks/{id}/approve` (a manager).
pub async fn approve_count(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let resend = resend_key(&caller, key)?;
    let done = act_store(&s, &caller, resend, Command::ApproveCount { task_id: id }).await?;
    task_answer(&s, done)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelCountBody {
    #[serde(default)]
    reason: String,
}

/// `POST /api/v1/count-tasks/{id}/cancel` (a manager).
pub async fn cancel_count(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CancelCountBody>,
) -> Result<Json<Value>, AppError> {
    let resend = resend_key(&caller, key)?;
    let done = act_store(
        &s,
        &caller,
        resend,
        Command::CancelCountTask {
            task_id: id,
            reason: body.reason,
        },
    )
    .await?;
    task_answer(&s, done)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountBody {
    counts: Vec<SkuQuantity>,
    #[serde(default)]
    staff: String,
}

/// `POST /api/v1/stock/count`: a cycle count (on-hand becomes the count).
pub async fn count_stock(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    JsonBody(body): JsonBody<CountBody>,
) -> Result<Json<Value>, AppError> {
    act(
        &s,
        &caller,
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
    #[serde(default)]
    staff: String,
}

/// `POST /api/v1/stock/adjust`
pub async fn adjust_stock(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    JsonBody(body): JsonBody<AdjustBody>,
) -> Result<Json<Value>, AppError> {
    act(
        &s,
        &caller,
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
    caller: Caller,
    q: Result<Query<ImportQuery>, QueryRejection>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    caller.require(Routes::StockFeeds)?;
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
    let parsed = crate::web::blocking(move || {
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
    .await?;
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
        let command = if parsed.has_categories {
            Command::ImportCatalogEntries {
                items: parsed
                    .items
                    .into_iter()
                    .zip(parsed.categories)
                    .map(|(item, category)| protocol::CatalogEntry { item, category })
                    .collect(),
                stock: parsed.stock,
            }
        } else {
            Command::ImportCatalog {
                items: parsed.items,
                stock: parsed.stock,
            }
        };
        let _ = act(&s, &caller, IdemKey(None), command).await?;
    }
    Ok(Json(report))
}
