//! Stock: list, one SKU, cycle counts, adjustments, catalog import.
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use protocol::{Command, Role, SkuQuantity};

use super::{act, IdemKey, JsonBody};
use crate::web::auth::Caller;
use crate::web::{AppError, AppState};

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

pub(crate) fn stock_json(i: &crate::domain::StockItem) -> Value {
    json!({
        "item": i.item, "on_hand": i.on_hand, "reserved": i.reserved,
        "available": i.available(),
    })
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
    caller.require(Role::Manager)?;
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
        let _ = act(
            &s,
            &caller,
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
