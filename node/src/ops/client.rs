//! A small HTTP client for commands that talk to the running node on this
//! machine (`backup` and `doctor` while the node runs): over the configured
//! `http.listen`, with TLS trusting the node's own CA when `http.tls =
//! node-ca`.
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::config::{Config, HttpTls};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the node at {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("the node at {addr} answered {status}: {body}")]
    Status {
        addr: SocketAddr,
        status: u16,
        body: String,
    },
    #[error("{0}")]
    Other(String),
}

/// Where this machine reaches the node: the listen address, with an
/// unspecified IP (`0.0.0.0`) replaced by loopback.
pub fn local_addr(config: &Config) -> SocketAddr {
    let mut a = config.http_listen;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    a
}

/// The API token, from the configuration or the data directory.
pub fn token(config: &Config) -> Result<String, ClientError> {
    if let Some(t) = &config.api_token {
        return Ok(t.clone());
    }
    let path = config.data_dir.join("api-token");
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_string())
        .map_err(|e| {
            ClientError::Other(format!("cannot read the API token {}: {e}", path.display()))
        })
}

/// A response: status and body, read as it arrives.
pub struct Answer {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    body: axum::body::BodyDataStream,
}

impl Answer {
    /// The next piece of the body.
    pub async fn chunk(&mut self) -> Option<Result<bytes::Bytes, ClientError>> {
        self.body
            .next()
            .await
            .map(|r| r.map_err(|e| ClientError::Other(format!("reading the answer: {e}"))))
    }

    /// The whole body as text.
    pub async fn text(mut self) -> Result<String, ClientError> {
        let mut out = Vec::new();
        while let Some(c) = self.chunk().await {
            out.extend_from_slice(&c?);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// `GET path` on the node, with the API token as bearer if `token`.
pub async fn get(config: &Config, path: &str, token: Option<&str>) -> Result<Answer, ClientError> {
    let addr = local_addr(config);
    let connect = |e: String| ClientError::Connect { addr, reason: e };
    let tcp = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    .map_err(|_| connect("no answer within 5 s".into()))?
    .map_err(|e| connect(e.to_string()))?;
    let mut req = axum::http::Request::get(path).header("host", addr.ip().to_string());
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .body(Body::empty())
        .map_err(|e| ClientError::Other(e.to_string()))?;
    let resp = match &config.http_tls {
        HttpTls::Off => send(TokioIo::new(tcp), req).await,
        HttpTls::NodeCa => {
            let pem = std::fs::read(config.data_dir.join("tls/ca.pem"))
                .map_err(|e| ClientError::Other(format!("the node's CA: {e}")))?;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&pem) {
                let c = c.map_err(|e| ClientError::Other(format!("the node's CA: {e}")))?;
                roots
                    .add(c)
                    .map_err(|e| ClientError::Other(format!("the node's CA: {e}")))?;
            }
            let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Other(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            let name = rustls::pki_types::ServerName::try_from("localhost")
                .map_err(|e| ClientError::Other(e.to_string()))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
                .connect(name, tcp)
                .await
                .map_err(|e| connect(format!("TLS: {e}")))?;
            send(TokioIo::new(stream), req).await
        }
        HttpTls::Files { .. } => {
            return Err(ClientError::Other(format!(
                "http.tls = files: this command trusts only the node's own CA; fetch https://<the node's name>:{}{path} with the API token instead (docs/operations.md)",
                addr.port()
            )))
        }
    }
    .map_err(connect)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let answer = Answer {
        status,
        headers,
        body: Body::new(resp.into_body()).into_data_stream(),
    };
    if !(200..300).contains(&status) {
        let body = answer.text().await.unwrap_or_default();
        return Err(ClientError::Status { addr, status, body });
    }
    Ok(answer)
}

async fn send<I>(
    io: I,
    req: axum::http::Request<Body>,
) -> Result<axum::http::Response<hyper::body::Incoming>, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}
