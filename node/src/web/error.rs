//! One error type for the HTTP API, mapped to a JSON body:
//! `{"error": code, "message": words, "field": path?}`.
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::domain::Rejection;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("missing or wrong bearer token (or no staff login)")]
    Unauthorized,
    /// The caller is known but may not do this (role, door, CSRF).
    #[error("{0}")]
    Forbidden(String),
    #[error("{field}: {reason}")]
    InvalidBody { field: String, reason: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("{0}")]
    Conflict(String),
    /// A repeated request (same Idempotency-Key) that was refused the
    /// first time; the reason is the first answer's.
    #[error("{0}")]
    Refused(String),
    /// An import with no usable row; the body is the per-row report.
    #[error("no row of the import can be used")]
    Import(serde_json::Value),
    #[error("the node is shutting down or its disk failed; retry")]
    Unavailable,
    /// The disk is full or read-only: nothing was written.
    #[error(transparent)]
    Disk(crate::store::disk::DiskTrouble),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Closed => AppError::Unavailable,
            StoreError::Disk(t) => AppError::Disk(t),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::InvalidBody { .. } => (StatusCode::BAD_REQUEST, "invalid_body"),
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Rejected(Rejection::UnknownOrder(_)) => {
                (StatusCode::NOT_FOUND, "unknown_order")
            }
            AppError::Rejected(Rejection::WrongState { .. }) => {
                (StatusCode::CONFLICT, "wrong_state")
            }
            AppError::Rejected(Rejection::Invalid { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_order")
            }
            AppError::Rejected(Rejection::ConflictingOrder(_)) => {
                (StatusCode::CONFLICT, "conflicting_order")
            }
            AppError::Rejected(Rejection::ConflictingReceipt(_)) => {
                (StatusCode::CONFLICT, "conflicting_receipt")
            }
            AppError::Rejected(Rejection::UnknownSku(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unknown_sku")
            }
            AppError::Rejected(Rejection::UnknownBarcode(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unknown_barcode")
            }
            AppError::Rejected(Rejection::WrongBarcode { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "wrong_barcode")
            }
            AppError::Rejected(Rejection::UnknownLine(_)) => {
                (StatusCode::NOT_FOUND, "unknown_line")
            }
            AppError::Rejected(Rejection::LineSettled { .. }) => {
                (StatusCode::CONFLICT, "line_settled")
            }
            AppError::Rejected(Rejection::TooMany { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "too_many")
            }
            AppError::Rejected(Rejection::NoSubstitution(_)) => {
                (StatusCode::CONFLICT, "no_substitution")
            }
            AppError::Rejected(Rejection::StagingTooWarm { .. }) => {
                (StatusCode::CONFLICT, "wrong_staging_slot")
            }
            AppError::Rejected(
                Rejection::Pickup(_) | Rejection::CodeMismatch | Rejection::IdCheckNeeded,
            ) => (StatusCode::FORBIDDEN, "pickup_code_refused"),
            AppError::Rejected(Rejection::UnknownCode(_)) => {
                (StatusCode::NOT_FOUND, "unknown_pickup_code")
            }
            AppError::Rejected(Rejection::CancelRefused { .. }) => {
                (StatusCode::CONFLICT, "cancel_rejected")
            }
            AppError::Rejected(Rejection::UnknownStaff(_)) => {
                (StatusCode::NOT_FOUND, "unknown_staff")
            }
            AppError::Rejected(Rejection::StaffExists(_)) => (StatusCode::CONFLICT, "staff_exists"),
            AppError::Rejected(Rejection::LastManager) => (StatusCode::CONFLICT, "last_manager"),
            AppError::Rejected(Rejection::NotOnPickList { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "wrong_barcode")
            }
            AppError::Refused(_) => (StatusCode::CONFLICT, "rejected"),
            AppError::Import(_) => (StatusCode::UNPROCESSABLE_ENTITY, "import_refused"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AppError::Disk(t) => (StatusCode::INSUFFICIENT_STORAGE, t.name()),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let field = match &self {
            AppError::InvalidBody { field, .. } => Some(field.clone()),
            AppError::Rejected(Rejection::Invalid { field, .. }) => Some(field.clone()),
            _ => None,
        };
        if let AppError::Internal(e) = &self {
            tracing::error!(error = %e, "internal error answering a request");
        }
        let mut body = json!({ "error": code, "message": self.to_string() });
        if let Some(f) = field {
            body["field"] = json!(f);
        }
        if let AppError::Import(report) = &self {
            body["report"] = report.clone();
        }
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}
