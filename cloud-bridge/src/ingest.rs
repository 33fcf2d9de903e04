//! Store streams in: every instance takes a share of `stores/+/up`, checks
//! each batch, delivers it to the webhook, and only after a 2xx for all of
//! it acknowledges it to the store (`stores/{store}/ack`).
//!
//! Nothing here is kept that another instance needs. A batch an instance
//! dies with is sent again by its store after the store's ack timeout, and
//! whichever instance gets it delivers it; the receiver drops what it has
//! by sequence. A store has one batch in flight, so its events reach the
//! receiver in order even when the instances split its stream.
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::sync::{DownCommand, DownReply, StoreStatus, UpAck, UpBatch};
use protocol::topic::{self, SyncTopic};
use protocol::{codec, ChainHash, Envelope};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS, Transport};
use tokio::sync::{mpsc, Semaphore};

use crate::webhook::{self, Secret};
use crate::{now_ms, BridgeConfig, Delivery, Shared};

/// The MQTT client of this instance (clean session: it holds nothing a
/// store would miss; manual acks, so the broker's in-flight window paces
/// deliveries to what the webhook takes).
pub fn client(config: &BridgeConfig) -> (AsyncClient, EventLoop, Vec<MqttOptions>) {
    let brokers: Vec<MqttOptions> = std::iter::once(&config.broker)
        .chain(&config.other_brokers)
        .map(|url| options(config, url))
        .collect();
    let (client, mut events) = AsyncClient::new(brokers[0].clone(), 1024);
    // Small acks must not wait for Nagle (see the node's sync link).
    events.network_options.set_tcp_nodelay(true);
    (client, events, brokers)
}

fn options(config: &BridgeConfig, url: &protocol::link::CloudUrl) -> MqttOptions {
    let id = format!("cloud-bridge-{}", config.instance);
    let mut o = MqttOptions::new(id, &url.host, url.port);
    o.set_clean_session(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_manual_acks(true)
        .set_max_packet_size(64 << 20, 64 << 20);
    if let Some((u, p)) = &config.credentials {
        o.set_credentials(u, p);
    }
    if let Some(tls) = &config.tls {
        o.set_transport(Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(tls.clone()),
        ));
    }
    o
}

enum FromLink {
    Up,
    Down(String),
    Message(Publish),
}

/// Poll the event loop; never publish from here (see the node's sync link).
async fn poll(
    mut events: EventLoop,
    brokers: Vec<MqttOptions>,
    tx: mpsc::UnboundedSender<FromLink>,
) {
    // About every second in a short outage: the stores' batches wait for
    // an instance to be subscribed again.
    let mut reconnect = protocol::link::Reconnect::new(10_000, brokers.len());
    loop {
        let sent = match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                reconnect.connected();
                tx.send(FromLink::Up)
            }
            Ok(Event::Incoming(Packet::Publish(p))) => tx.send(FromLink::Message(p)),
            Ok(_) => Ok(()),
            Err(e) => {
                let refused = matches!(
                    e,
                    rumqttc::ConnectionError::ConnectionRefused(_)
                        | rumqttc::ConnectionError::Tls(_)
                );
                let sent = tx.send(FromLink::Down(e.to_string()));
                let (next, pause) = reconnect.failed(refused);
                events.mqtt_options = brokers[next].clone();
                tokio::time::sleep(pause).await;
                sent
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Run the ingest side until `shutdown` turns true.
pub async fn run(
    shared: Arc<Shared>,
    client: AsyncClient,
    events: EventLoop,
    brokers: Vec<MqttOptions>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let poller = tokio::spawn(poll(events, brokers, tx));
    let busy: Arc<Mutex<HashSet<(String, u64)>>> = Arc::default();
    let permits = Arc::new(Semaphore::new(shared.config.max_parallel));
    loop {
        let msg = tokio::select! {
            _ = shutdown.changed() => break,
            m = rx.recv() => match m { Some(m) => m, None => break },
        };
        match msg {
            FromLink::Up => {
                shared.metrics.broker_online.set(1);
                tracing::info!(broker = %shared.config.broker, group = shared.config.group, "connected to the cloud broker");
                let filters = [
                    topic::sync_shared(&shared.config.group, SyncTopic::Up),
                    topic::sync_all(SyncTopic::Status),
                    topic::sync_all(SyncTopic::Reply),
                    topic::sync_all(SyncTopic::Down),
                    topic::sync_all(SyncTopic::View),
                    topic::sync_all(SyncTopic::Ack),
                ];
                for f in filters {
                    if let Err(e) = client.try_subscribe(f, QoS::AtLeastOnce) {
                        tracing::error!(error = %e, "subscribing failed");
                    }
                }
                // HQ commands go out only now: behind the subscription to
                // `down` that routes them back as their confirmation.
                shared
                    .broker_up
                    .store(true, std::sync::atomic::Ordering::Release);
            }
            FromLink::Down(reason) => {
                shared.metrics.broker_online.set(0);
                shared
                    .broker_up
                    .store(false, std::sync::atomic::Ordering::Release);
                tracing::warn!(reason, "cloud broker connection lost; reconnecting");
            }
            FromLink::Message(p) => {
                on_message(&shared, &client, p, &busy, &permits, &shutdown);
            }
        }
    }
    poller.abort();
}

fn on_message(
    shared: &Arc<Shared>,
    client: &AsyncClient,
    p: Publish,
    busy: &Arc<Mutex<HashSet<(String, u64)>>>,
    permits: &Arc<Semaphore>,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) {
    let Some((store, kind)) = topic::parse_sync(&p.topic) else {
        let _ = client.try_ack(&p);
        return;
    };
    match kind {
        SyncTopic::Up => {
            let batch = match codec::decode::<UpBatch>(&p.payload) {
                Ok(b) if b.store_id == store => b,
                Ok(_) => {
                    tracing::warn!(topic = %p.topic, "batch names another store than its topic; dropped");
                    shared.metrics.batch("broken");
                    let _ = client.try_ack(&p);
                    return;
                }
                Err(e) => {
                    tracing::warn!(topic = %p.topic, error = %e, "unreadable batch; dropped");
                    shared.metrics.batch("broken");
                    let _ = client.try_ack(&p);
                    return;
                }
            };
            // Another instance (or this one) delivered all of it already:
            // the store missed the ack (a broker failover, a slow ack).
            // HQ gets nothing twice; the store gets the ack again.
            if batch.last_seq <= delivered(shared, &store) {
                shared.metrics.batch("already_delivered");
                let _ = client.try_publish(
                    topic::sync_ack(&store),
                    QoS::AtLeastOnce,
                    false,
                    codec::encode(&UpAck {
                        store_id: batch.store_id.clone(),
                        last_seq: batch.last_seq,
                        last_hash: batch.last_hash,
                    }),
                );
                let _ = client.try_ack(&p);
                return;
            }
            let key = (store.to_string(), batch.last_seq);
            let fresh = busy
                .lock()
                .map(|mut b| b.insert(key.clone()))
                .unwrap_or(true);
            if !fresh {
                // The store sent it again while this instance still
                // delivers the first copy; that one will be acknowledged.
                shared.metrics.batch("duplicate");
                let _ = client.try_ack(&p);
                return;
            }
            let (shared, client, busy, permits) = (
                shared.clone(),
                client.clone(),
                busy.clone(),
                permits.clone(),
            );
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let Ok(_permit) = permits.acquire().await else {
                    return;
                };
                shared.metrics.deliveries_in_progress.inc();
                deliver(&shared, &client, &p, batch, shutdown).await;
                shared.metrics.deliveries_in_progress.dec();
                if let Ok(mut b) = busy.lock() {
                    b.remove(&key);
                }
            });
        }
        SyncTopic::Status => {
            if p.payload.is_empty() {
                shared.fleet.forget(store.as_str());
            } else {
                match codec::from_json::<StoreStatus>(&p.payload) {
                    Ok(s) if s.store_id == store => shared.fleet.status(s),
                    _ => tracing::warn!(topic = %p.topic, "unreadable store status; ignored"),
                }
            }
            let _ = client.try_ack(&p);
        }
        SyncTopic::Reply => {
            match codec::decode::<DownReply>(&p.payload) {
                Ok(r) => {
                    shared
                        .metrics
                        .replies
                        .get_or_create(&vec![(
                            "status",
                            format!("{:?}", r.reply.status).to_lowercase(),
                        )])
                        .inc();
                    shared.commands.answered(&r, now_ms());
                }
                Err(e) => tracing::warn!(topic = %p.topic, error = %e, "unreadable reply; ignored"),
            }
            let _ = client.try_ack(&p);
        }
        SyncTopic::Down => {
            if let Ok(c) = codec::decode::<DownCommand>(&p.payload) {
                shared
                    .commands
                    .sent(&store, &c, &p.payload, shared.config.command_resend_ms);
            }
            let _ = client.try_ack(&p);
        }
        SyncTopic::Ack => {
            // What every instance acknowledged: HQ has it.
            match codec::decode::<UpAck>(&p.payload) {
                Ok(a) if a.store_id == store => {
                    shared.fleet.delivered(&store, a.last_seq, now_ms());
                }
                _ => tracing::warn!(topic = %p.topic, "unreadable acknowledgement; ignored"),
            }
            let _ = client.try_ack(&p);
        }
        SyncTopic::View => {
            match codec::from_json::<protocol::sync::ViewUpdate>(&p.payload) {
                Ok(u) if u.store_id == store => shared.view.apply(&u),
                _ => tracing::warn!(topic = %p.topic, "unreadable view update; ignored"),
            }
            let _ = client.try_ack(&p);
        }
    }
}

/// Check a batch: numbered `first..=last` without gaps, every event of its
/// store, each naming the hash of the one before, the last matching
/// `last_hash`.
pub fn check(batch: &UpBatch) -> Result<Vec<Envelope>, String> {
    let expected = batch.last_seq.checked_sub(batch.first_seq).map(|d| d + 1);
    if expected != Some(batch.events.len() as u64) || batch.events.is_empty() {
        return Err(format!(
            "batch {}..={} holds {} events",
            batch.first_seq,
            batch.last_seq,
            batch.events.len()
        ));
    }
    let mut out = Vec::with_capacity(batch.events.len());
    let mut prev: Option<[u8; 32]> = None;
    for (i, raw) in batch.events.iter().enumerate() {
        let env: Envelope =
            codec::decode(&raw.0).map_err(|e| format!("event {i} of the batch: {e}"))?;
        let want = batch.first_seq + i as u64;
        if env.log_seq != want || env.store_id != batch.store_id {
            return Err(format!(
                "event {i} is log {} of {}, expected log {want} of {}",
                env.log_seq, env.store_id, batch.store_id
            ));
        }
        if let Some(p) = prev {
            if env.prev_hash != ChainHash(p) {
                return Err(format!("hash chain broken at log {}", env.log_seq));
            }
        }
        prev = Some(ChainHash::of(&raw.0).0);
        out.push(env);
    }
    if prev.map(ChainHash) != Some(batch.last_hash) {
        return Err("the last event's hash is not the batch's last_hash".into());
    }
    Ok(out)
}

async fn deliver(
    shared: &Shared,
    client: &AsyncClient,
    p: &Publish,
    batch: UpBatch,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let events = match check(&batch) {
        Ok(e) => e,
        Err(reason) => {
            tracing::error!(store = %batch.store_id, first = batch.first_seq, last = batch.last_seq, reason, "broken batch; not delivered");
            shared.metrics.batch("broken");
            let _ = client.ack(p).await;
            return;
        }
    };
    // What another instance delivered meanwhile is not delivered again.
    let done = delivered(shared, &batch.store_id);
    let events: Vec<Envelope> = events.into_iter().filter(|e| e.log_seq > done).collect();
    if events.is_empty() {
        shared.metrics.batch("already_delivered");
    }
    let first = events.first().map_or(batch.first_seq, |e| e.log_seq);
    let body = webhook::batch_body(&events);
    let id = format!("{}-{}-{}", batch.store_id, first, batch.last_seq);
    let mut failures = 0u32;
    while !events.is_empty() {
        if *shutdown.borrow() {
            return; // not acknowledged: the store sends it again
        }
        let started = Instant::now();
        let result = post(shared, &id, &body, &events).await;
        shared
            .metrics
            .webhook_seconds
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(()) => break,
            Err(reason) => {
                failures = failures.saturating_add(1);
                shared.metrics.webhook_failures.inc();
                tracing::warn!(store = %batch.store_id, last = batch.last_seq, failures, reason, "webhook delivery failed; retrying");
                tokio::time::sleep(protocol::link::backoff(failures, 100, 10_000)).await;
            }
        }
    }
    if !events.is_empty() {
        shared.metrics.events_delivered.inc_by(events.len() as u64);
        shared.metrics.batch("delivered");
    }
    // HQ has it: this instance's view, and every other's.
    let update = crate::view::update_of(&batch.store_id, &events);
    if !update.is_empty() {
        shared.view.apply(&update);
        if let Err(e) = client
            .publish(
                topic::sync_view(&batch.store_id),
                QoS::AtLeastOnce,
                false,
                codec::to_json(&update),
            )
            .await
        {
            tracing::warn!(error = %e, "publishing a view update failed; other instances learn it later");
        }
    }
    let ack = UpAck {
        store_id: batch.store_id.clone(),
        last_seq: batch.last_seq,
        last_hash: batch.last_hash,
    };
    let t = topic::sync_ack(&batch.store_id);
    if let Err(e) = client
        .publish(t, QoS::AtLeastOnce, false, codec::encode(&ack))
        .await
    {
        tracing::warn!(error = %e, "publishing an acknowledgement failed; the store sends the batch again");
    }
    let _ = client.ack(p).await;
    shared
        .fleet
        .delivered(&batch.store_id, batch.last_seq, now_ms());
}

/// The last event of `store` that some instance acknowledged (HQ has
/// everything up to it).
fn delivered(shared: &Shared, store: &protocol::StoreId) -> u64 {
    shared.fleet.delivered_seq(store.as_str())
}

/// One webhook call for a batch, signed per Standard Webhooks.
async fn post(shared: &Shared, id: &str, body: &[u8], events: &[Envelope]) -> Result<(), String> {
    match &shared.config.delivery {
        Delivery::Stdout => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            for e in events.iter().flat_map(webhook::cloud_events) {
                let line = serde_json::to_string(&e).unwrap_or_default();
                let _ = writeln!(out, "{line}");
            }
            out.flush().map_err(|e| e.to_string())
        }
        Delivery::Webhook { url, secret } => {
            let ts = (now_ms() / 1000) as i64;
            let sig = Secret::sign(secret, id, ts, body);
            let r = shared
                .http
                .post(url.as_str())
                .header("content-type", webhook::CONTENT_TYPE)
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .body(body.to_vec())
                .send()
                .await
                .map_err(|e| format!("webhook unreachable: {e}"))?;
            if r.status().is_success() {
                Ok(())
            } else {
                Err(format!("webhook answered {}", r.status()))
            }
        }
    }
}
