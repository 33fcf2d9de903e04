//! Who is calling: staff sessions (pages), the bearer token (JSON API),
//! login with lockout, and the checks every state change passes (CSRF
//! token and `Origin`).
//!
//! - A session is 128 random bits in a cookie (`HttpOnly`,
//!   `SameSite=Strict`, `Secure` over TLS); the store keeps only its
//!   SHA-256, with the staff id, the PIN epoch, a CSRF token and times.
//!   Every request re-reads the account from the log's projection, so a
//!   disabled account, a new PIN or a new role takes effect at once.
//! - Login answers an unknown id, a disabled account and a wrong PIN with
//!   the same words after the same work (an Argon2 check either way).
//!   Failures are counted per staff id and per client address; enough of
//!   them lock that id or address out for a minute, doubling each time.
//! - A state change over a session needs the session's CSRF token and, as
//!   store LANs are plain HTTP (browsers send no `Sec-Fetch-*` there), an
//!   `Origin` (or `Referer`) of this very host.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::{AppError, AppState};
use crate::domain::permissions::{self, Routes};
use crate::domain::StaffMember;
use crate::metrics::Metrics;
use crate::pin::PinHasher;
use crate::services::commands::Principal;
use crate::store::{now_ms, SessionRecord, Store};

/// The session cookie's name.
pub const COOKIE: &str = "sn_session";
/// The header scripts send the CSRF token in (forms send `_csrf`).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Failures before a lockout: per staff id, and per client address (a
/// shared desk tablet sees several people's typos).
const STAFF_STRIKES: u32 = 5;
const ADDRESS_STRIKES: u32 = 10;
/// First lockout; each further one doubles it, up to a day.
const FIRST_LOCKOUT_MS: u64 = 60_000;
const MAX_LOCKOUT_MS: u64 = 86_400_000;
/// How often a session's "last seen" is written (spares the SD card).
const TOUCH_EVERY_MS: u64 = 60_000;
/// Most lockout entries remembered (bounded memory under a flood).
const MAX_TRACKED: usize = 10_000;

/// A logged-in staff member on this request.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: [u8; 32],
    pub record: SessionRecord,
    pub member: StaffMember,
}

impl Session {
    pub fn principal(&self) -> Principal {
        Principal::Staff {
            id: self.member.id.clone(),
            role: self.member.role,
        }
    }
}

/// What a lockout is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockKey {
    Staff(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Strikes {
    /// Failures since the last lockout (or success).
    pub failures: u32,
    /// Lockouts so far: the next lasts 2^lockouts minutes.
    pub lockouts: u32,
    pub locked_until_ms: u64,
    pub last_ms: u64,
}

/// Login failures and lockouts, in memory (a restart forgives; the
/// manager page lists them and can lift one).
#[derive(Default)]
pub struct Lockouts {
    map: Mutex<HashMap<LockKey, Strikes>>,
}

impl Lockouts {
    /// Until when `key` is locked out, if it is.
    pub fn locked(&self, key: &LockKey, now: u64) -> Option<u64> {
        let map = self.map.lock().ok()?;
        map.get(key)
            .map(|s| s.locked_until_ms)
            .filter(|until| *until > now)
    }

    /// Count a failure; returns `Some(until)` if it starts a lockout.
    fn fail(&self, key: LockKey, now: u64) -> Option<u64> {
        let mut map = self.map.lock().ok()?;
        if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
            // Forget the stalest entry that is not locked out.
            let stale = map
                .iter()
                .filter(|(_, s)| s.locked_until_ms <= now)
                .min_by_key(|(_, s)| s.last_ms)
                .map(|(k, _)| k.clone());
            match stale {
                Some(k) => {
                    map.remove(&k);
                }
                None => return None,
            }
        }
        let limit = match key {
            LockKey::Staff(_) => STAFF_STRIKES,
            LockKey::Address(_) => ADDRESS_STRIKES,
        };
        let s = map.entry(key).or_default();
        s.failures += 1;
        s.last_ms = now;
        if s.failures < limit {
            return None;
        }
        let length = FIRST_LOCKOUT_MS
            .saturating_mul(1u64 << s.lockouts.min(20))
            .min(MAX_LOCKOUT_MS);
        s.lockouts += 1;
        s.failures = 0;
        s.locked_until_ms = now + length;
        Some(s.locked_until_ms)
    }

    fn forgive(&self, key: &LockKey) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(key);
        }
    }

    /// Lift a lockout (the manager's "unlock").
    pub fn unlock(&self, key: &LockKey) -> bool {
        self.map
            .lock()
            .map(|mut m| m.remove(key).is_some())
            .unwrap_or(false)
    }

    /// Everything with failures or a lockout, worst first.
    pub fn list(&self) -> Vec<(LockKey, Strikes)> {
        let mut out: Vec<(LockKey, Strikes)> = self
            .map
            .lock()
            .map(|m| m.iter().map(|(k, s)| (k.clone(), *s)).collect())
            .unwrap_or_default();
        out.sort_by(|a, b| {
            b.1.locked_until_ms
                .cmp(&a.1.locked_until_ms)
                .then(a.0.cmp(&b.0))
        });
        out
    }

    /// How many keys are locked out now.
    pub fn locked_count(&self, now: u64) -> usize {
        self.map
            .lock()
            .map(|m| m.values().filter(|s| s.locked_until_ms > now).count())
            .unwrap_or(0)
    }
}

/// Why a login did not succeed. The words never tell an unknown id from a
/// wrong PIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Unknown id, disabled account or wrong PIN.
    Refused,
    /// Too many failures: try again after this time (unix ms).
    LockedOut { until_ms: u64 },
    /// The node could not finish (shutting down, disk).
    Unavailable,
}

/// Sessions and logins.
pub struct Sessions {
    store: Store,
    pins: PinHasher,
    metrics: Arc<Metrics>,
    pub lockouts: Lockouts,
    idle_ms: u64,
    max_ms: u64,
    /// At most two Argon2 checks at once: a login flood cannot take the
    /// whole (two-core) machine.
    gate: tokio::sync::Semaphore,
}

/// Whether a session is still good: its member exists, is enabled and has
/// not had a new PIN since; it was used within `idle_ms` and made within
/// `max_ms`.
pub fn session_valid(
    r: &SessionRecord,
    m: Option<&StaffMember>,
    now: u64,
    idle_ms: u64,
    max_ms: u64,
) -> bool {
    m.is_some_and(|m| m.enabled && m.pin_epoch == r.pin_epoch && m.id == r.staff_id)
        && now < r.created_ms.saturating_add(max_ms)
        && now < r.seen_ms.saturating_add(idle_ms)
}

fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The session token in a request's cookies.
fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

impl Sessions {
    pub fn new(
        store: Store,
        pins: PinHasher,
        metrics: Arc<Metrics>,
        idle_s: u64,
        max_s: u64,
    ) -> Self {
        Sessions {
            store,
            pins,
            metrics,
            lockouts: Lockouts::default(),
            idle_ms: idle_s * 1000,
            max_ms: max_s * 1000,
            gate: tokio::sync::Semaphore::new(2),
        }
    }

    pub fn pins(&self) -> &PinHasher {
        &self.pins
    }

    fn valid(&self, r: &SessionRecord, m: Option<&StaffMember>, now: u64) -> bool {
        session_valid(r, m, now, self.idle_ms, self.max_ms)
    }

    /// The session a request carries, if it is still valid. Touches it
    /// (at most once a minute), so an active member stays logged in.
    pub fn lookup(&self, headers: &HeaderMap) -> Option<Session> {
        let token = cookie_token(headers)?;
        let token_hash = hash_token(token);
        let mut record = self.store.session(&token_hash).ok()??;
        let member = self.store.staff(&record.staff_id);
        let now = now_ms();
        if !self.valid(&record, member.as_ref(), now) {
            let _ = self.store.end_session(&token_hash);
            return None;
        }
        if now.saturating_sub(record.seen_ms) >= TOUCH_EVERY_MS {
            record.seen_ms = now;
            if let Err(e) = self.store.put_session(&token_hash, &record) {
                tracing::warn!(error = %e, "touching a session failed");
            }
        }
        Some(Session {
            token_hash,
            record,
            member: member?,
        })
    }

    /// Whether the session is (still) valid, without touching it: for
    /// long-lived streams.
    pub fn still_valid(&self, s: &Session) -> bool {
        let Ok(Some(r)) = self.store.session(&s.token_hash) else {
            return false;
        };
        self.valid(&r, self.store.staff(&r.staff_id).as_ref(), now_ms())
    }

    /// Check a staff id and PIN; on success, a new session and its token.
    pub async fn login(
        &self,
        staff_id: &str,
        pin: &str,
        from: Option<IpAddr>,
    ) -> Result<(String, Session), LoginError> {
        let now = now_ms();
        // A staff number no account could have is not remembered (a flood
        // of made-up ones must not fill the table); its address still is.
        let plausible = crate::domain::staff::check_id(staff_id).is_ok();
        let keys: Vec<LockKey> = plausible
            .then(|| LockKey::Staff(staff_id.to_string()))
            .into_iter()
            .chain(from.map(LockKey::Address))
            .collect();
        if let Some(until_ms) = keys
            .iter()
            .filter_map(|k| self.lockouts.locked(k, now))
            .max()
        {
            self.metrics.login("locked");
            return Err(LoginError::LockedOut { until_ms });
        }
        let member = self
            .store
            .staff(staff_id)
            .filter(|m| plausible && m.enabled);
        let ok = {
            let _permit = self
                .gate
                .acquire()
                .await
                .map_err(|_| LoginError::Unavailable)?;
            let pins = self.pins.clone();
            let pin = pin.to_string();
            let hash = member.as_ref().map(|m| m.pin_hash.clone());
            tokio::task::spawn_blocking(move || match hash {
                Some(h) => pins.verify(&pin, &h),
                None => {
                    pins.verify_nobody(&pin);
                    false
                }
            })
            .await
            .map_err(|_| LoginError::Unavailable)?
        };
        let member = match (ok, member) {
            (true, Some(m)) => m,
            _ => {
                self.metrics.login("refused");
                let mut locked = None;
                for k in keys {
                    let kind = match k {
                        LockKey::Staff(_) => "staff",
                        LockKey::Address(_) => "address",
                    };
                    if let Some(until) = self.lockouts.fail(k.clone(), now) {
                        self.metrics.lockout(kind);
                        tracing::warn!(lock = ?k, until_ms = until, "login locked out after repeated failures");
                        locked = Some(until);
                    }
                }
                return Err(match locked {
                    Some(until_ms) => LoginError::LockedOut { until_ms },
                    None => LoginError::Refused,
                });
            }
        };
        self.lockouts.forgive(&LockKey::Staff(staff_id.to_string()));
        if let Some(a) = from {
            self.lockouts.forgive(&LockKey::Address(a));
        }
        let token =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        let token_hash = hash_token(&token);
        let record = SessionRecord {
            staff_id: member.id.clone(),
            pin_epoch: member.pin_epoch,
            csrf: hex::encode(rand::random::<[u8; 16]>()),
            created_ms: now,
            seen_ms: now,
        };
        let store = self.store.clone();
        let saved = record.clone();
        tokio::task::spawn_blocking(move || {
            store.put_session(&token_hash, &saved)?;
            store.flush_sessions()
        })
        .await
        .map_err(|_| LoginError::Unavailable)?
        .map_err(|_| LoginError::Unavailable)?;
        self.metrics.login("ok");
        tracing::info!(staff = %member.id, role = member.role.name(), "staff logged in");
        Ok((
            token,
            Session {
                token_hash,
                record,
                member,
            },
        ))
    }

    /// End a session (log out).
    /// Flushed before it returns: a crash right after "Log out" must not
    /// bring the session back.
    pub async fn logout(&self, s: &Session) {
        let store = self.store.clone();
        let hash = s.token_hash;
        let ended = tokio::task::spawn_blocking(move || {
            store.end_session(&hash)?;
            store.flush_sessions()
        })
        .await;
        if !matches!(ended, Ok(Ok(()))) {
            tracing::warn!(staff = %s.member.id, "ending a session failed");
        }
        tracing::info!(staff = %s.member.id, "staff logged out");
    }

    /// Forget expired sessions and those of disabled accounts or old PINs.
    pub fn prune(&self) -> usize {
        let now = now_ms();
        self.store
            .end_sessions_where(|r| !self.valid(r, self.store.staff(&r.staff_id).as_ref(), now))
            .unwrap_or(0)
    }

    /// The cookie that sets `token` (or, with `None`, clears it).
    pub fn cookie(&self, token: Option<&str>, secure: bool) -> HeaderValue {
        let secure = if secure { "; Secure" } else { "" };
        let text = match token {
            Some(t) => format!(
                "{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                self.max_ms / 1000
            ),
            None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
        };
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The client's address, where the server knows it (the TCP peer).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Whether a state-changing request comes from a page of this host: its
/// `Origin` (or, lacking one, its `Referer`) names the `Host` it was sent
/// to. Browsers always send `Origin` with a POST; a request without either
/// is not from a page of ours.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(from) = from else {
        return false;
    };
    let rest = from
        .strip_prefix("http://")
        .or_else(|| from.strip_prefix("https://"));
    match rest {
        Some(rest) => rest.split('/').next() == Some(host),
        None => false,
    }
}

/// Compare secrets without an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    crate::secret_eq(a, b)
}

/// Whether the request carries the session's CSRF token in the header.
pub fn csrf_header_ok(headers: &HeaderMap, s: &Session) -> bool {
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| constant_time_eq(t.as_bytes(), s.record.csrf.as_bytes()))
}

/// The principal of a JSON API request, put there by [`api_auth`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub session: Option<Session>,
}

impl Caller {
    /// The API token acting for the person a request body names (only a
    /// label: a staff session is always itself).
    pub fn acting_for(&self, name: &str) -> Caller {
        let name = name.trim();
        match (&self.principal, name.is_empty()) {
            (Principal::Api, false) => Caller {
                principal: Principal::ApiFor(name.to_string()),
                session: None,
            },
            _ => self.clone(),
        }
    }

    /// Refuse a caller the permission table (`domain::permissions`) does
    /// not let open `routes`.
    pub(crate) fn require(&self, routes: Routes) -> Result<(), AppError> {
        if permissions::may_open(self.principal.who(), routes) {
            return Ok(());
        }
        Err(AppError::Forbidden(match &self.session {
            Some(s) => format!(
                "this needs the {} role; you are logged in as {}",
                permissions::role_needed(routes).name(),
                s.member.role.name()
            ),
            None => "this credential does not open this route".into(),
        }))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(AppError::Unauthorized)
    }
}

/// A till's HTTP credential: `Authorization: Basic` with the name and
/// password of a registered device of kind `till`. It opens the receipts
/// route only.
fn till_caller(s: &AppState, req: &Request) -> Option<Result<Caller, AppError>> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))?;
    let refused = || {
        s.metrics.till_auth_failure();
        Some(Err(AppError::Unauthorized))
    };
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else {
        return refused();
    };
    let Some((name, password)) = std::str::from_utf8(&raw)
        .ok()
        .and_then(|t| t.split_once(':'))
    else {
        return refused();
    };
    let till = s
        .store
        .device(name)
        .filter(|d| d.kind == protocol::DeviceKind::Till);
    if till.is_none() || !s.store.check_device(name, password) {
        return refused();
    }
    if !req.uri().path().ends_with("/till/receipts") {
        return Some(Err(AppError::Forbidden(
            "a till's credential opens POST /api/v1/till/receipts only".into(),
        )));
    }
    Some(Ok(Caller {
        principal: Principal::Device {
            name: name.to_string(),
            kind: protocol::DeviceKind::Till,
        },
        session: None,
    }))
}

/// The JSON API's door: the bearer token, a till's credential (for its
/// receipts), or a staff session (whose state changes need the CSRF
/// header and this host's `Origin`).
pub async fn api_auth(
    State(s): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, AppError> {
    if let Some(till) = till_caller(&s, &req) {
        req.extensions_mut().insert(till?);
        return Ok(next.run(req).await);
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let caller = match bearer {
        Some(given) if constant_time_eq(given.as_bytes(), s.token.as_bytes()) => Caller {
            principal: Principal::Api,
            session: None,
        },
        Some(_) => return Err(AppError::Unauthorized),
        None => {
            let session = s
                .sessions
                .lookup(req.headers())
                .ok_or(AppError::Unauthorized)?;
            let reads = matches!(*req.method(), Method::GET | Method::HEAD);
            let allowed =
                reads || (csrf_header_ok(req.headers(), &session) && same_origin(req.headers()));
            if !allowed {
                s.metrics.csrf_refused();
                return Err(AppError::Forbidden(
                    "a change over a staff login needs the page's CSRF token and must come from this node's own pages".into(),
                ));
            }
            Caller {
                principal: session.principal(),
                session: Some(session),
            }
        }
    };
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests;
