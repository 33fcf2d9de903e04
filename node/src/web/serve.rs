//! The HTTP accept loop, bounded so that no client can starve the staff.
//!
//! `axum::serve` accepts every connection and waits for a request on it
//! forever: 1,100 idle connections used up the node's 1,024 file
//! descriptors and `/healthz` and device logins stopped. Here:
//! - each client address may hold at most `per_client` connections, and
//!   all together at most `total`; a connection over either limit is
//!   closed at once (and counted);
//! - a connection must send a complete request head within
//!   `header_timeout`, also between requests on a kept-alive connection
//!   (hyper's header read timeout), so idle and slowloris connections go;
//! - `TCP_NODELAY`, so small responses do not wait for Nagle.
//!
//! A request already being answered (a page, an SSE stream) is not cut:
//! on shutdown each connection is told to finish after its current request.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub total: usize,
    pub per_client: usize,
    pub header_timeout: Duration,
}

/// Open connections by client address.
#[derive(Default)]
struct Open {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// One admitted connection; gives its place back when dropped.
struct Admitted {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut o) = self.open.lock() {
            o.total = o.total.saturating_sub(1);
            if let Some(n) = o.by_client.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    o.by_client.remove(&self.ip);
                }
            }
        }
    }
}

fn admit(open: &Arc<Mutex<Open>>, ip: IpAddr, limits: Limits) -> Option<Admitted> {
    let mut o = open.lock().ok()?;
    let mine = o.by_client.get(&ip).copied().unwrap_or(0);
    if o.total >= limits.total || mine >= limits.per_client {
        return None;
    }
    o.total += 1;
    *o.by_client.entry(ip).or_insert(0) += 1;
    Some(Admitted {
        open: open.clone(),
        ip,
    })
}

/// Serve `app` on `listener` until `shutdown`, within `limits`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    mut shutdown: Shutdown,
) {
    let open: Arc<Mutex<Open>> = Arc::default();
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, addr) = tokio::select! {
            _ = shutdown.fired() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors, most likely: pause rather than spin.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while conns.try_join_next().is_some() {}
        let Some(admitted) = admit(&open, addr.ip(), limits) else {
            metrics.http_connections_refused.inc();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc =
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(addr));
                    req
                });
        let mut closing = closing.clone();
        conns.spawn(async move {
            let _admitted = admitted;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    let _ = closing_tx.send(true);
    while conns.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_client_and_in_all() {
        let open: Arc<Mutex<Open>> = Arc::default();
        let limits = Limits {
            total: 3,
            per_client: 2,
            header_timeout: Duration::from_secs(1),
        };
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = admit(&open, a, limits).expect("a1");
        let _a2 = admit(&open, a, limits).expect("a2");
        assert!(admit(&open, a, limits).is_none(), "a's third");
        let _b1 = admit(&open, b, limits).expect("b1");
        assert!(admit(&open, b, limits).is_none(), "the fourth in all");
        drop(a1);
        assert!(admit(&open, b, limits).is_some(), "a place came free");
    }
}
