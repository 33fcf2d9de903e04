//! The store: open/closed, pickup times, devices, staff, the audit log,
//! the customer-message outbox, dead letters.
use crate::domain::permissions::Routes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use protocol::{Command, DeviceKind, EventKind, OrderId};

use super::{act, IdemKey, JsonBody};
use crate::read::audit::{self, AuditFilter};
use crate::read::dashboard;
use crate::web::auth::Caller;
use crate::web::{AppError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    open: bool,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    staff: String,
}

/// `POST /api/v1/store/open`: stop or resume taking orders.
pub async fn set_open(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    JsonBody(body): JsonBody<OpenBody>,
) -> Result<Json<Value>, AppError> {
    let _ = act(
        &s,
        &caller,
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
    kind: DeviceKind,
    /// A locker's compartments: `["1","2"]`, or as typed: `"1-24,C1"`.
    #[serde(default)]
    compartments: Option<Compartments>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Compartments {
    List(Vec<String>),
    Text(String),
}

/// What registering a device gives back, once.
pub(crate) struct Added {
    pub tenant: String,
    pub password: String,
    pub bundle: String,
}

/// Register a device (any door with a principal that may): make its
/// password and certificate, decide the registration, and only then hand
/// the secrets out.
pub(crate) async fn register_device(
    s: &AppState,
    principal: &crate::services::commands::Principal,
    name: &str,
    kind: DeviceKind,
    compartments: Vec<String>,
) -> Result<Added, AppError> {
    crate::check_device_name(name).map_err(|reason| AppError::InvalidBody {
        field: "name".into(),
        reason,
    })?;
    if s.store.device(name).is_some() {
        return Err(AppError::Conflict(format!(
            "device {name} already exists (remove it first)"
        )));
    }
    let ca = s.ca.clone();
    let (n, comps) = (name.to_string(), compartments);
    // Key generation and signing: off the async workers.
    let reg = crate::web::blocking(move || {
        crate::services::devices::prepare(&ca, &n, kind, comps)
            .map_err(|e| AppError::Internal(e.to_string()))
    })
    .await?;
    if let Err(rejection) = write_device_change(s, principal, reg.command.clone()).await? {
        return Err(AppError::Refused(rejection.to_string()));
    }
    tracing::info!(device = name, kind = kind.name(), tenant = %reg.tenant, "device registered");
    let broker = s.device_broker.map(|a| a.to_string());
    Ok(Added {
        bundle: reg.bundle(s.store.store_id(), s.ca.ca_pem(), broker.as_deref()),
        tenant: reg.tenant,
        password: reg.password,
    })
}

/// Decide and write a device registration or removal for `principal`:
/// `Ok(Err(_))` when the rules refused it.
async fn write_device_change(
    s: &AppState,
    principal: &crate::services::commands::Principal,
    command: Command,
) -> Result<Result<(), crate::domain::Rejection>, AppError> {
    let req = crate::services::commands::prepare(command, principal, None, &s.rules, &s.store)
        .map_err(|e| AppError::Forbidden(e.0))?;
    match s.writer.write(req).await? {
        crate::store::Written::Applied { .. } => Ok(Ok(())),
        crate::store::Written::Rejected { rejection, .. } => Ok(Err(rejection)),
        other => Err(AppError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

/// Remove a device: its next command is refused even on a connection that
/// is still open, nothing more is published into its namespace, and its
/// password is refused at the next CONNECT.
pub(crate) async fn unregister_device(
    s: &AppState,
    principal: &crate::services::commands::Principal,
    name: &str,
) -> Result<(), AppError> {
    let remove = Command::RemoveDevice {
        name: name.to_string(),
    };
    if write_device_change(s, principal, remove).await?.is_err() {
        return Err(AppError::NotFound(format!("no device named {name}")));
    }
    tracing::info!(device = name, "device removed");
    Ok(())
}

/// `POST /api/v1/devices`: register a device; the password, certificate
/// and key are in the answer, once.
pub async fn add_device(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<DeviceBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    caller.require(Routes::Administration)?;
    let compartments = match body.compartments {
        None => vec![],
        Some(Compartments::List(l)) => l,
        Some(Compartments::Text(t)) => {
            crate::domain::device::parse_compartments(&t).map_err(|reason| {
                AppError::InvalidBody {
                    field: "compartments".into(),
                    reason,
                }
            })?
        }
    };
    let added = register_device(&s, &caller.principal, &body.name, body.kind, compartments).await?;
    let t = &added.tenant;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "name": body.name,
            "kind": body.kind,
            "tenant": t,
            "username": body.name,
            "password": added.password,
            "topics": {
                "command": protocol::topic::tenant_command(t),
                "reply": protocol::topic::tenant_reply(t),
                "notify": crate::domain::device::channels(body.kind)
                    .iter()
                    .map(|c| protocol::topic::tenant_notify(t, c.name()))
                    .collect::<Vec<_>>(),
            },
            "bundle": added.bundle,
        })),
    ))
}

/// `DELETE /api/v1/devices/{name}`
pub async fn remove_device(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, AppError> {
    caller.require(Routes::Administration)?;
    unregister_device(&s, &caller.principal, &name).await?;
    Ok(Json(json!({ "removed": name })))
}

pub async fn list_devices(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, AppError> {
    caller.require(Routes::Administration)?;
    let devices: Vec<Value> = s
        .store
        .device_list()
        .into_iter()
        .map(|d| {
            json!({
                "name": d.name, "kind": d.kind, "tenant": d.tenant,
                "compartments": d.compartments, "cert_sha256": d.cert_sha256,
                "added_ms": d.added_ms,
            })
        })
        .collect();
    Ok(Json(json!({ "devices": devices })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickupTimesBody {
    expiry_s: u64,
    reminder_s: u64,
}

/// `POST /api/v1/store/pickup-times`: the store's own pickup window.
pub async fn set_pickup_times(
    State(s): State<AppState>,
    caller: Caller,
    key: IdemKey,
    JsonBody(body): JsonBody<PickupTimesBody>,
) -> Result<Json<Value>, AppError> {
    let _ = act(
        &s,
        &caller,
        key,
        Command::SetPickupTimes {
            expiry_s: body.expiry_s,
            reminder_s: body.reminder_s,
        },
    )
    .await?;
    Ok(Json(json!({ "pickup": s.pickup_times() })))
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
    caller: Caller,
    q: Result<Query<OutboxQuery>, QueryRejection>,
) -> Result<Json<Value>, AppError> {
    caller.require(Routes::Administration)?;
    let Query(q) = q.map_err(|e| AppError::InvalidBody {
        field: "(query)".into(),
        reason: e.body_text(),
    })?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let store = s.store.clone();
    let (messages, next) = crate::web::blocking(move || {
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
    .await?;
    Ok(Json(json!({ "messages": messages, "next_after": next })))
}

pub async fn dead_letters(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, AppError> {
    caller.require(Routes::Administration)?;
    Ok(Json(json!({ "dead_letters": s.store.dead_letters(100)? })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    order: Option<OrderId>,
    staff: Option<String>,
    kind: Option<String>,
    from_ms: Option<u64>,
    to_ms: Option<u64>,
    before: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/v1/audit?order=…&staff=…&kind=…&from_ms=…&to_ms=…&before=…`:
/// the log, newest first (PIN hashes blanked); `next_before` pages on.
pub async fn audit(
    State(s): State<AppState>,
    caller: Caller,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, AppError> {
    caller.require(Routes::Administration)?;
    let Query(q) = q.map_err(|e| AppError::InvalidBody {
        field: "(query)".into(),
        reason: e.body_text(),
    })?;
    let kind = match q.kind.as_deref().filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => Some(
            EventKind::from_name(k).ok_or_else(|| AppError::InvalidBody {
                field: "kind".into(),
                reason: format!("unknown event kind {k:?}"),
            })?,
        ),
    };
    let filter = AuditFilter {
        order: q.order,
        staff: q.staff.filter(|s| !s.is_empty()),
        kind,
        from_ms: q.from_ms,
        to_ms: q.to_ms,
        before: q.before,
        limit: q.limit.unwrap_or(50),
    };
    let store = s.store.clone();
    let page = crate::web::blocking(move || audit::page(&store, &filter)).await?;
    Ok(Json(json!(page)))
}

/// `GET /api/v1/store`: the store at a glance — open or closed, orders by
/// state, the late orders (with their promise time), the empty shelves.
pub async fn store_summary(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, AppError> {
    caller.require(Routes::Administration)?;
    let store = s.store.clone();
    let today = s.today.clone();
    let day = s.clock.day_start_ms();
    let d = crate::web::blocking(move || dashboard::dashboard(&store, &today, day)).await?;
    let states: serde_json::Map<String, Value> = d
        .states
        .iter()
        .map(|(st, n)| (st.name().to_string(), json!(n)))
        .collect();
    let late: Vec<Value> = d
        .late
        .iter()
        .map(|l| json!({ "order_id": l.order.id, "state": l.order.state, "due_at_ms": l.order.content.due_at_ms,
                          "customer_name": l.order.content.customer_name, "why": l.why, "since_ms": l.since_ms }))
        .collect();
    let empty: Vec<Value> = d
        .out_of_stock
        .iter()
        .map(|i| json!({ "sku": i.item.sku, "name": i.item.name, "on_hand": i.on_hand, "reserved": i.reserved }))
        .collect();
    let pickers: Vec<Value> = d
        .pickers
        .iter()
        .map(|p| json!({ "staff_id": p.staff_id, "orders": p.orders.iter().map(|(o, since)| json!({"order_id": o.id, "since_ms": since})).collect::<Vec<_>>() }))
        .collect();
    Ok(Json(json!({
        "store_id": s.store.store_id().as_str(),
        "site": d.site,
        "pickup": s.pickup_times(),
        "orders": states,
        "late": late,
        "uncollected": d.uncollected.iter().map(|o| &o.id).collect::<Vec<_>>(),
        "pickers": pickers,
        "today": {
            "created": d.today.created.len(),
            "handed_over": d.today.handed_over,
            "exceptions": d.today.exceptions,
            "by_state": d.today_states.iter().map(|(st, n)| (st.name().to_string(), json!(n))).collect::<serde_json::Map<String, Value>>(),
        },
        "out_of_stock": empty,
        "log_head": s.store.head(),
        "cloud_link": sync_view(&s).await?,
    })))
}

async fn sync_view(s: &AppState) -> Result<crate::sync::SyncView, AppError> {
    let (status, store) = (s.sync.clone(), s.store.clone());
    crate::web::blocking(move || Ok::<_, AppError>(status.view(&store)?)).await
}

/// `GET /api/v1/sync`: the cloud link (configured, online or offline since,
/// last acknowledgement, last error), the backlog (events not yet at HQ
/// and the oldest one's age) and the drain rate.
pub async fn sync(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    caller.require(Routes::Administration)?;
    let view = sync_view(&s).await?;
    let mut v = serde_json::to_value(&view).unwrap_or(Value::Null);
    if !view.link.configured {
        v["note"] = json!(
            "no [cloud] configured: this node works offline only; the log keeps every event for HQ"
        );
    }
    Ok(Json(v))
}

/// `GET /api/v1/backup`: a consistent backup of the running store (see
/// `store::backup`), as a file download. The writer takes it between two
/// group commits into an unlinked file beside the database; writes wait
/// for that (about a second per few hundred MB), not for the download.
pub async fn backup(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    caller.require(Routes::Administration)?;
    let tmp = s
        .data_dir
        .join(format!("backup-{}.partial", ulid::Ulid::new()));
    let (store, data_dir, path) = (s.store.clone(), s.data_dir.clone(), tmp.clone());
    let taken = s
        .writer
        .exclusive(move || {
            let file = crate::store::backup::private_file(&path).map_err(|e| e.to_string())?;
            let summary = store.backup(&data_dir, &file).map_err(|e| e.to_string())?;
            file.sync_all().map_err(|e| e.to_string())?;
            Ok::<_, String>(summary)
        })
        .await?;
    let summary = match taken {
        Ok(sum) => sum,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(AppError::Internal(format!("backup failed: {e}")));
        }
    };
    let file = tokio::fs::File::open(&tmp)
        .await
        .map_err(|e| AppError::Internal(format!("backup file: {e}")))?;
    // Unlinked now: the download reads the open file, and nothing is left
    // behind if it is cut.
    let _ = std::fs::remove_file(&tmp);
    tracing::info!(
        log_head = summary.header.log_head,
        keys = summary.keys,
        bytes = summary.bytes,
        "backup taken"
    );
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 << 10);
    let name = format!(
        "attachment; filename=\"{}-{}.snbackup\"",
        s.store.store_id(),
        summary.header.log_head
    );
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/octet-stream".to_string(),
            ),
            (
                axum::http::header::CONTENT_LENGTH,
                summary.bytes.to_string(),
            ),
            (axum::http::header::CONTENT_DISPOSITION, name),
            (
                axum::http::HeaderName::from_static("x-storenode-log-head"),
                summary.header.log_head.to_string(),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
