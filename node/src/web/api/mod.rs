//! The JSON API (`/api/v1`), by area. Every handler turns its request
//! into a protocol command, has `services::commands::prepare` make the
//! write (with the caller's principal as the actor) and answers once it is
//! durable; reads go through the read models the pages use too.
pub mod admin;
pub mod orders;
pub mod picking;
pub mod pickup;
pub mod staff;
pub mod stock;
pub mod till;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::Json;
use protocol::{Command, OrderId};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::auth::Caller;
use super::{AppError, AppState};
use crate::domain::Order;
use crate::services::commands::{self, Principal};
use crate::store::{WriteRequest, Written};

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
        // Every body is an object, but serde also fills a struct from an
        // array (`[]` read as `{}` applied a "picked" with no fields given).
        // Anything else that is not an object is serde's to refuse (a
        // syntax error, "invalid type: …, expected struct …").
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(AppError::InvalidBody {
                field: "(body)".into(),
                reason: "the body must be a JSON object ({...})".into(),
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

/// An API command: the same decision as from any other door, with the
/// caller as its actor. No command id: creation is idempotent on the order
/// id and staff actions on the order's state.
pub(crate) fn request(
    command: Command,
    caller: &Caller,
    s: &AppState,
) -> Result<WriteRequest, AppError> {
    commands::prepare(command, &caller.principal, None, &s.rules, &s.store)
        .map_err(|e| AppError::Forbidden(e.0))
}

/// The order after a write, or the rejection as an error.
pub(crate) fn applied(w: Written, s: &AppState) -> Result<Option<Order>, AppError> {
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

pub(crate) fn order_id(raw: &str) -> Result<OrderId, AppError> {
    OrderId::new(raw).map_err(|e| AppError::BadRequest(format!("order id {e}")))
}

/// The inbox scope of a caller's Idempotency-Keys: one per principal, so
/// two staff members' keys never collide.
fn key_scope(p: &Principal) -> String {
    match p {
        Principal::Staff { id, .. } => format!("staff/{id}"),
        _ => "api".to_string(),
    }
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
pub(crate) async fn act(
    s: &AppState,
    caller: &Caller,
    key: IdemKey,
    command: Command,
) -> Result<Json<Value>, AppError> {
    if let Some(key) = &key.0 {
        commands::check_id(key).map_err(|reason| AppError::InvalidBody {
            field: "Idempotency-Key".into(),
            reason,
        })?;
    }
    let resend = key.0.map(|k| (key_scope(&caller.principal), k));
    let req = commands::prepare(command, &caller.principal, resend, &s.rules, &s.store)
        .map_err(|e| AppError::Forbidden(e.0))?;
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

/// What a store-stream command did: its events (log positions and
/// kinds), and whether it was a resend answered from the first time.
pub(crate) struct StoreDone {
    pub log_seqs: Vec<u64>,
    pub events: Vec<&'static str>,
    pub repeat: bool,
}

/// A command on the store's own stream (stock, counts, deliveries,
/// receipts), decided like every other door's and answered once durable.
/// `resend`: the inbox scope and id that make a resend get the first
/// answer.
pub(crate) async fn act_store(
    s: &AppState,
    caller: &Caller,
    resend: Option<(String, String)>,
    command: Command,
) -> Result<StoreDone, AppError> {
    let req = commands::prepare(command, &caller.principal, resend, &s.rules, &s.store)
        .map_err(|e| AppError::Forbidden(e.0))?;
    let (log_seqs, repeat) = match s.writer.write(req).await? {
        Written::Applied { log_seqs, .. } => (log_seqs, false),
        Written::Repeat(reply) => match reply.status {
            protocol::ReplyStatus::Accepted => (reply.log_seqs, true),
            _ => return Err(AppError::Refused(reply.reason.unwrap_or_default())),
        },
        Written::IdReused => {
            return Err(AppError::Conflict(
                "this id was already used for a different request".into(),
            ))
        }
        Written::Rejected { rejection, .. } => {
            s.metrics.command("api", "rejected");
            return Err(AppError::Rejected(rejection));
        }
        Written::AlreadyReacted => {
            return Err(AppError::Internal(
                "unexpected dedup outcome for an API write".into(),
            ))
        }
    };
    s.metrics.command("api", "accepted");
    let mut events = Vec::with_capacity(log_seqs.len());
    for seq in &log_seqs {
        if let Some(env) = s.store.event(*seq)? {
            events.push(env.event.kind().name());
        }
    }
    Ok(StoreDone {
        log_seqs,
        events,
        repeat,
    })
}

/// The resend key of an `Idempotency-Key` header, checked.
pub(crate) fn resend_key(
    caller: &Caller,
    key: IdemKey,
) -> Result<Option<(String, String)>, AppError> {
    match key.0 {
        Some(k) => {
            commands::check_id(&k).map_err(|reason| AppError::InvalidBody {
                field: "Idempotency-Key".into(),
                reason,
            })?;
            Ok(Some((key_scope(&caller.principal), k)))
        }
        None => Ok(None),
    }
}

/// A query string parsed strictly into `T`: a value of the wrong type or a
/// field `T` does not know is an `invalid_body` naming the field, found by
/// `serde_path_to_error` while parsing (not read back out of the text of
/// axum's `Query` rejection).
pub(crate) fn strict_query<T: serde::de::DeserializeOwned>(
    raw: Option<&str>,
) -> Result<T, AppError> {
    let parts = form_urlencoded::parse(raw.unwrap_or_default().as_bytes());
    serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(parts)).map_err(|e| {
        let field = e.path().to_string();
        AppError::InvalidBody {
            field: match field.as_str() {
                "." | "" => "(query)".into(),
                _ => field,
            },
            reason: e.into_inner().to_string(),
        }
    })
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
