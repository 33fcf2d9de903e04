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
//! - a request body must arrive within the same time (a trickled upload
//!   is cut; responses such as the live feed are not limited);
//! - a request head is at most about [`MAX_HEAD`] bytes (hyper answers
//!   431; it checks while the head is incomplete, so one that arrives in a
//!   few large reads may pass up to about twice that);
//! - `TCP_NODELAY`, so small responses do not wait for Nagle.
//!
//! A request already being answered (a page, an SSE stream) is not cut:
//! on shutdown each connection is told to finish after its current request.
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::metrics::Metrics;
use crate::net::{Admission, Caps};
use crate::shutdown::Shutdown;

/// The largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 64 << 10;

#[derive(Clone)]
pub struct Limits {
    pub caps: Caps,
    pub header_timeout: Duration,
    /// HTTPS: every connection does its TLS handshake first, within
    /// `header_timeout`.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Serve `app` on `listener` until `shutdown`, within `limits`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    mut shutdown: Shutdown,
) {
    let admission = Admission::default();
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
        let Some(admitted) = admission.admit(addr.ip(), limits.caps) else {
            metrics.http_connections_refused.inc();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let body_time = limits.header_timeout;
        let svc =
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(addr));
                    req.map(|body| Deadline::new(body, body_time))
                });
        let mut closing = closing.clone();
        let (header_timeout, tls) = (limits.header_timeout, limits.tls.clone());
        conns.spawn(async move {
            let _admitted = admitted;
            match tls {
                None => connection(TokioIo::new(stream), svc, header_timeout, &mut closing).await,
                Some(acceptor) => {
                    // A handshake that does not finish in time is closed
                    // like an idle connection.
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(header_timeout, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    connection(TokioIo::new(tls), svc, header_timeout, &mut closing).await
                }
            }
        });
    }
    let _ = closing_tx.send(true);
    while conns.join_next().await.is_some() {}
}

/// Serve one connection until it ends, or finish its current request
/// when the node stops.
async fn connection<I, S>(
    io: I,
    svc: S,
    header_timeout: Duration,
    closing: &mut tokio::sync::watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: tower::Service<
            axum::http::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_header_size(MAX_HEAD)
        .serve_connection(io, TowerToHyperService::new(svc));
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = closing.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// A request body that must arrive whole within a deadline from the end of
/// the request head (hyper only limits the head; a body trickled a byte at
/// a time would hold its connection for as long as it likes).
pub struct Deadline<B> {
    inner: B,
    at: tokio::time::Instant,
    /// Made on the first poll of a body that has one: a GET pays nothing.
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<B> Deadline<B> {
    fn new(inner: B, within: Duration) -> Self {
        Deadline {
            inner,
            at: tokio::time::Instant::now() + within,
            sleep: None,
        }
    }
}

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the time allowed")]
pub struct BodyTooSlow;

impl<B> hyper::body::Body for Deadline<B>
where
    B: hyper::body::Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::future::Future as _;
        if self.inner.is_end_stream() {
            return std::task::Poll::Ready(None);
        }
        let at = self.at;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if sleep.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(Some(Err(Box::new(BodyTooSlow))));
        }
        std::pin::Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
