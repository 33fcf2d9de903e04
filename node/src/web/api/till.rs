//! The till feed: `POST /api/v1/till/receipts`, for tills (a registered
//! device of kind `till`, HTTP Basic with its name and password) and
//! back-office imports (the API token).
//!
//! Exactly once per receipt id: a resend (after the till's own crash or a
//! timeout) gets the first answer and changes nothing; the same id with a
//! different receipt is a conflict. Never refused for stock. The node's
//! record of every receipt (not the inbox of request ids) decides, so it
//! holds for ever, whichever door the receipt came through, and a receipt
//! refused as invalid can be sent again corrected.
use axum::extract::State;
use axum::Json;
use protocol::{Command, Receipt, ReceiptKind, ReceiptLine};
use serde::Deserialize;
use serde_json::{json, Value};

use super::JsonBody;
use crate::web::auth::Caller;
use crate::web::{AppError, AppState};

/// One line as the till sends it: the SKU or a barcode (GTIN) it scanned.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TillLine {
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    gtin: Option<String>,
    quantity: u32,
    #[serde(default)]
    damaged: bool,
}

/// A receipt as the till sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TillReceipt {
    receipt_id: String,
    till: String,
    /// RFC 3339, e.g. `2026-12-07T10:15:00+01:00`.
    at: String,
    kind: ReceiptKind,
    #[serde(default)]
    voids: Option<String>,
    #[serde(default)]
    lines: Vec<TillLine>,
}

/// Turn the till's body into the node's receipt: the time parsed, each
/// GTIN resolved to its SKU (an unknown GTIN is kept under its digits: the
/// sale is recorded, a manager sees it as not in the catalog).
pub fn receipt(body: TillReceipt, s: &AppState) -> Result<Receipt, AppError> {
    let at_ms = body
        .at
        .trim()
        .parse::<jiff::Timestamp>()
        .map_err(|e| AppError::InvalidBody {
            field: "at".into(),
            reason: format!("not an RFC 3339 time: {e}"),
        })?
        .as_millisecond();
    let at_ms = u64::try_from(at_ms).map_err(|_| AppError::InvalidBody {
        field: "at".into(),
        reason: "before 1970".into(),
    })?;
    let mut lines = Vec::with_capacity(body.lines.len());
    for (i, l) in body.lines.into_iter().enumerate() {
        let sku = match (l.sku, l.gtin) {
            (Some(sku), None) => sku.trim().to_string(),
            (None, Some(gtin)) => {
                let gtin = gtin.trim().to_string();
                if !protocol::gtin::is_valid(&gtin) {
                    return Err(AppError::InvalidBody {
                        field: format!("lines[{i}].gtin"),
                        reason: format!(
                            "{gtin:?} is not a GTIN/EAN-8, -12, -13 or -14 with a correct check digit"
                        ),
                    });
                }
                s.store.sku_for_barcode(&gtin).unwrap_or(gtin)
            }
            _ => {
                return Err(AppError::InvalidBody {
                    field: format!("lines[{i}]"),
                    reason: "give exactly one of `sku` and `gtin`".into(),
                })
            }
        };
        lines.push(ReceiptLine {
            sku,
            quantity: l.quantity,
            damaged: l.damaged,
        });
    }
    Ok(Receipt {
        receipt_id: body.receipt_id.trim().to_string(),
        till: body.till.trim().to_string(),
        at_ms,
        kind: body.kind,
        voids: body.voids.map(|v| v.trim().to_string()),
        lines,
    })
}

/// `POST /api/v1/till/receipts`
pub async fn post_receipt(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<TillReceipt>,
) -> Result<Json<Value>, AppError> {
    let receipt = receipt(body, &s)?;
    let id = receipt.receipt_id.clone();
    crate::domain::stock::check_ref("receipt_id", &id)?;
    let mut done = super::act_store(&s, &caller, None, Command::RecordReceipt { receipt }).await?;
    if done.log_seqs.is_empty() {
        // A resend: the first answer.
        if let Some(crate::domain::stock::StockDoc::Receipt(r)) = s
            .store
            .doc(&crate::domain::stock::DocKey::Receipt(id.clone()))?
        {
            done.log_seqs = vec![r.log_seq];
            done.events = vec!["till_receipt_recorded"];
            done.repeat = true;
        }
    }
    s.metrics
        .receipt(if done.repeat { "repeat" } else { "recorded" });
    Ok(Json(json!({
        "receipt_id": id,
        // The node has it. A resend (`repeat`) changed nothing.
        "recorded": true,
        "repeat": done.repeat,
        "log_seqs": done.log_seqs,
        "events": done.events,
    })))
}
