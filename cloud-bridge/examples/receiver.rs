//! A webhook receiver for the cloud bridge: where an HQ developer starts.
//!
//!     cargo run -p cloud-bridge --example receiver -- 127.0.0.1:9000 whsec_…
//!
//! It does what docs/sync.md asks of every receiver:
//! 1. verify the Standard Webhooks signature (`webhook-id`,
//!    `webhook-timestamp`, `webhook-signature`) before reading the body;
//! 2. apply each store's events in `sequence` order;
//! 3. drop anything at or below the last applied sequence of its store:
//!    delivery is at least once, and that comparison is the whole dedup.
//!
//! "Apply" here prints the event; a real service writes it to its order
//! database in the same transaction as the store's last applied sequence,
//! and answers 2xx only after that commit (the bridge acknowledges the
//! store's batch only after a 2xx, so nothing is lost in between).
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use cloud_bridge::webhook::{Receiver, Refused, Secret};

struct App {
    secret: Secret,
    receiver: Mutex<Receiver>,
}

async fn events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let Ok(mut r) = app.receiver.lock() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "poisoned".into());
    };
    match r.take(&app.secret, &headers, &body, now) {
        Ok(new) => {
            // Redeliveries were dropped; these are new, in order.
            for e in &new {
                println!(
                    "{} {} seq {} {} {}",
                    e["storeid"].as_str().unwrap_or(""),
                    e["type"].as_str().unwrap_or(""),
                    e["sequence"].as_str().unwrap_or(""),
                    e["subject"].as_str().unwrap_or(""),
                    e["data"]["text"].as_str().unwrap_or(""),
                );
            }
            (StatusCode::OK, "ok".into())
        }
        Err(Refused::Signature(e)) => (StatusCode::UNAUTHORIZED, e),
        Err(Refused::Body(e)) => (StatusCode::BAD_REQUEST, e),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9000".into());
    let secret = args
        .next()
        .or_else(|| std::env::var("CLOUD_BRIDGE_WEBHOOK_SECRET").ok())
        .ok_or("usage: receiver ADDR SECRET (or CLOUD_BRIDGE_WEBHOOK_SECRET)")?;
    let app = Arc::new(App {
        secret: Secret::new(&secret)?,
        receiver: Mutex::default(),
    });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("receiver listening on http://{addr}/events");
    axum::serve(
        listener,
        axum::Router::new()
            .route("/events", post(events))
            .with_state(app),
    )
    .await?;
    Ok(())
}
