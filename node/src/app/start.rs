//! The start-up steps, in the order `run_until` takes them: bind the
//! staff pages' listener, the node's CA and TLS, the broker, the store
//! writer, the services, the cloud link, device intake, the staff pages.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttd::local::{LinkRx, LinkTx};

use super::{every, prune_inbox, prune_sessions, Parts, StartError, Tasks, WriterDone};
use crate::broker::{self, BrokerError, EmbeddedBroker, Link};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::services::{self, consumer::Consumer, intake::Intake};
use crate::store::writer::EventSink;
use crate::store::{Store, Writer, WriterHandle};
use crate::web::{self, AppState};

/// The names of the in-process broker links, one per part.
const LINKS: [&str; 6] = [
    "writer",
    "intake",
    "order",
    "fulfillment",
    "notification",
    services::deliveries::NAME,
];

/// Publishes durable events through the writer's broker link, and hands
/// each durable group to the staff pages' live feed.
struct LinkSink {
    tx: LinkTx,
    // Kept alive so the router keeps the link; nothing is subscribed.
    _rx: LinkRx,
    live: tokio::sync::broadcast::Sender<Arc<Vec<protocol::Envelope>>>,
}

impl EventSink for LinkSink {
    /// Never blocks: `LinkTx::publish` waits when the broker's router
    /// channel is full, and the writer would stop acknowledging anything
    /// while the broker is busy. `try_publish` queues the message on the
    /// link and only its wake-up of the router can fail; it goes out with
    /// the next wake-up, and consumers catch up from the log in any case.
    fn publish(&mut self, topic: String, payload: Vec<u8>) {
        if let Err(e) = self.tx.try_publish(topic, payload) {
            tracing::debug!(error = %e, "broker busy; the event goes with the link's next wake-up");
        }
    }

    fn durable(&mut self, events: Vec<protocol::Envelope>) {
        // Moved, not copied: the writer is done with them.
        let _ = self.live.send(Arc::new(events));
    }
}

/// Bind the staff pages' listener (its port resolved when 0).
pub(super) async fn bind_http(
    config: &Config,
) -> Result<(tokio::net::TcpListener, SocketAddr), StartError> {
    let http = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .map_err(|e| StartError::HttpBind {
            addr: config.http_listen,
            reason: e.to_string(),
        })?;
    let http_addr = http.local_addr().map_err(|e| StartError::HttpBind {
        addr: config.http_listen,
        reason: e.to_string(),
    })?;
    Ok((http, http_addr))
}

pub(super) fn raise_open_files_limit() {
    match crate::net::raise_open_files_limit() {
        Ok((before, after)) if after > before => {
            tracing::info!(before, after, "open-files limit raised to the hard limit")
        }
        Ok((before, _)) => tracing::debug!(limit = before, "open-files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot read or raise the open-files limit"),
    }
}

/// The node's CA and what it signs: the broker's TLS files, the staff
/// pages' HTTPS.
pub(super) struct Tls {
    pub(super) ca: Arc<crate::pki::NodeCa>,
    pub(super) broker_files: Option<crate::pki::ServerFiles>,
    pub(super) https: Option<tokio_rustls::TlsAcceptor>,
}

pub(super) fn start_tls(config: &Config) -> Result<Tls, StartError> {
    let ca = Arc::new(crate::pki::NodeCa::open(
        &config.data_dir,
        config.store_id.as_str(),
    )?);
    let tls_files = match config.mqtt_tls_listen {
        Some(_) => Some(ca.server_files(&crate::pki::server_names(&config.mqtt_tls_names))?),
        None => None,
    };
    let https = match &config.http_tls {
        crate::config::HttpTls::Off => None,
        crate::config::HttpTls::NodeCa => {
            let mut names = crate::pki::server_names(&config.http_hostnames);
            for n in &config.mqtt_tls_names {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
            let ip = config.http_listen.ip();
            if !ip.is_unspecified() && !names.contains(&ip.to_string()) {
                names.push(ip.to_string());
            }
            let files = ca.https_files(&names)?;
            Some(crate::pki::https_config(&files.cert, &files.key)?)
        }
        crate::config::HttpTls::Files { cert, key } => Some(crate::pki::https_config(cert, key)?),
    }
    .map(|c| tokio_rustls::TlsAcceptor::from(Arc::new(c)));
    Ok(Tls {
        ca,
        broker_files: tls_files,
        https,
    })
}

pub(super) async fn start_broker(
    config: &Config,
    store: &Store,
    metrics: &Arc<Metrics>,
    tls_files: Option<crate::pki::ServerFiles>,
) -> Result<EmbeddedBroker, StartError> {
    if config.mqtt_insecure_plaintext_lan {
        tracing::warn!(
            listen = %config.mqtt_listen,
            "INSECURE: mqtt.insecure_plaintext_lan is set: the plaintext broker listener faces the network; its clients are confined to no namespace and send passwords in clear"
        );
    }
    Ok(broker::start(config, store.clone(), metrics.clone(), &LINKS, tls_files).await?)
}

/// The broker link made at start for `name`.
pub(super) fn take_link(
    broker: &mut EmbeddedBroker,
    name: &'static str,
) -> Result<Link, BrokerError> {
    broker.take_link(name).ok_or_else(|| BrokerError::Link {
        name: name.to_string(),
        reason: "not made at start".into(),
    })
}

/// The store writer on its own thread.
pub(super) fn start_writer(
    config: &Config,
    store: &Store,
    metrics: &Arc<Metrics>,
    writer_link: Link,
    live: &web::live::Live,
) -> Result<(WriterHandle, WriterDone), StartError> {
    let sink = LinkSink {
        tx: writer_link.tx,
        _rx: writer_link.rx,
        live: live.sender(),
    };
    let (writer, handle) = Writer::new(
        store.clone(),
        &config.data_dir.join("db"),
        sink,
        config.durability,
        config.max_batch,
        Duration::from_micros(config.linger_us),
        metrics.clone(),
    )?;
    // The writer's end, whether a clean close or a failed disk.
    let (writer_tx, writer_done) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer.run()));
            let _ = writer_tx.send(match result {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("writer thread panicked".to_string()),
            });
        })
        .map_err(|e| StartError::Writer(e.to_string()))?;
    Ok((handle, writer_done))
}

/// One consumer of the log, supervised, on the broker link `name`.
fn spawn_consumer<R: services::consumer::Reactor>(
    p: &Parts,
    broker: &mut EmbeddedBroker,
    tasks: &mut Tasks,
    reactor: R,
    name: &'static str,
) -> Result<(), StartError> {
    let c = Consumer::new(
        reactor,
        p.store.clone(),
        p.writer.clone(),
        p.metrics.clone(),
        take_link(broker, name)?,
    );
    let sd = p.shutdown.clone();
    tasks.push(tokio::spawn(services::supervise(
        name,
        p.metrics.clone(),
        p.shutdown.clone(),
        move || c.clone().run(sd.clone()),
    )));
    Ok(())
}

/// The services that follow the log (order, fulfillment, deliveries,
/// notification) and the inbox's housekeeping.
pub(super) fn start_services(
    p: &Parts,
    broker: &mut EmbeddedBroker,
    tasks: &mut Tasks,
) -> Result<(), StartError> {
    spawn_consumer(
        p,
        broker,
        tasks,
        services::OrderService {
            keys: p.rules.keys.clone(),
            policy: p.rules.policy,
        },
        "order",
    )?;
    spawn_consumer(
        p,
        broker,
        tasks,
        services::FulfillmentService,
        "fulfillment",
    )?;
    let deliveries = services::deliveries::Deliveries::new(
        p.store.clone(),
        p.metrics.clone(),
        take_link(broker, services::deliveries::NAME)?,
    )?;
    {
        let (d, sd) = (deliveries.clone(), p.shutdown.clone());
        tasks.push(tokio::spawn(services::supervise(
            services::deliveries::NAME,
            p.metrics.clone(),
            p.shutdown.clone(),
            move || d.clone().run(sd.clone()),
        )));
    }
    spawn_consumer(
        p,
        broker,
        tasks,
        services::NotificationService {
            store: p.store.clone(),
            deliveries,
        },
        "notification",
    )?;
    {
        let (store, days) = (p.store.clone(), p.config.inbox_retention_days);
        tasks.push(tokio::spawn(every(
            Duration::from_secs(3600),
            move || prune_inbox(&store, days),
            p.shutdown.clone(),
        )));
    }
    Ok(())
}

/// The cloud link (the agent and the availability it sends), when
/// configured; its status either way.
pub(super) fn start_sync(p: &Parts, tasks: &mut Tasks) -> Arc<crate::sync::SyncStatus> {
    let config = p.config;
    let sync = Arc::new(crate::sync::SyncStatus::new(config.cloud.as_ref()));
    if config.cloud.is_some() {
        // HQ hears availability only over the cloud link.
        let (store, writer, link) = (p.store.clone(), p.writer.clone(), sync.clone());
        let (window, sd) = (
            Duration::from_millis(config.availability_window_ms),
            p.shutdown.clone(),
        );
        tasks.push(tokio::spawn(services::supervise(
            crate::sync::availability::NAME,
            p.metrics.clone(),
            p.shutdown.clone(),
            move || {
                crate::sync::availability::run(
                    store.clone(),
                    writer.clone(),
                    window,
                    link.clone(),
                    sd.clone(),
                )
            },
        )));
    }
    match &config.cloud {
        Some(cloud) => {
            let agent = crate::sync::agent::Agent {
                store: p.store.clone(),
                writer: p.writer.clone(),
                metrics: p.metrics.clone(),
                rules: p.rules.clone(),
                config: cloud.clone(),
                status: sync.clone(),
            };
            let sd = p.shutdown.clone();
            tasks.push(tokio::spawn(services::supervise(
                crate::sync::agent::NAME,
                p.metrics.clone(),
                p.shutdown.clone(),
                move || agent.clone().run(sd.clone()),
            )));
        }
        None => tracing::info!(
            "no [cloud] configured: offline only; the log keeps everything for HQ until a cloud link is set"
        ),
    }
    sync
}

/// Device intake and the timers (pickup expiry, reminders, payment).
pub(super) fn start_intake(
    p: &Parts,
    broker: &mut EmbeddedBroker,
    tasks: &mut Tasks,
) -> Result<(), StartError> {
    let config = p.config;
    let intake = Intake::new(
        p.store.clone(),
        p.writer.clone(),
        p.metrics.clone(),
        take_link(broker, "intake")?,
        p.rules.clone(),
    );
    {
        let timers = services::timers::Timers {
            store: p.store.clone(),
            writer: p.writer.clone(),
            expiry_ms: config.pickup_expiry_s * 1000,
            remind_ms: config.pickup_reminder_s * 1000,
            payment_timeout_ms: config.payment_timeout_s * 1000,
        };
        let sd = p.shutdown.clone();
        tasks.push(tokio::spawn(services::supervise(
            services::timers::NAME,
            p.metrics.clone(),
            p.shutdown.clone(),
            move || timers.clone().run(sd.clone()),
        )));
    }
    {
        let sd = p.shutdown.clone();
        tasks.push(tokio::spawn(services::supervise(
            services::intake::NAME,
            p.metrics.clone(),
            p.shutdown.clone(),
            move || intake.clone().run(sd.clone()),
        )));
    }
    Ok(())
}

/// `--demo`: demo staff, and a trickle of orders.
pub(super) async fn start_demo(p: &Parts<'_>, pins: &crate::pin::PinHasher, tasks: &mut Tasks) {
    let staff = crate::demo::seed_staff(p.writer, p.store, p.rules, pins).await;
    crate::demo::announce_staff(&staff);
    tasks.push(tokio::spawn(crate::demo::run(
        p.writer.clone(),
        p.store.clone(),
        p.rules.clone(),
        staff,
        p.shutdown.clone(),
    )));
}

/// What the staff pages need besides the common parts.
pub(super) struct WebParts {
    pub(super) http: tokio::net::TcpListener,
    pub(super) token: String,
    pub(super) started: Instant,
    pub(super) live: web::live::Live,
    pub(super) pins: crate::pin::PinHasher,
    pub(super) sync: Arc<crate::sync::SyncStatus>,
    pub(super) ca: Arc<crate::pki::NodeCa>,
    pub(super) https: Option<tokio_rustls::TlsAcceptor>,
}

/// The staff pages and API: sessions, the live feed, the server.
pub(super) fn start_web(
    p: &Parts,
    web: WebParts,
    broker: &EmbeddedBroker,
    tasks: &mut Tasks,
) -> tokio::task::JoinHandle<()> {
    let config = p.config;
    let sessions = Arc::new(web::auth::Sessions::new(
        p.store.clone(),
        web.pins.clone(),
        p.metrics.clone(),
        config.session_idle_s,
        config.session_max_s,
    ));
    {
        let sessions = sessions.clone();
        tasks.push(tokio::spawn(every(
            Duration::from_secs(600),
            move || prune_sessions(&sessions),
            p.shutdown.clone(),
        )));
    }
    let state = AppState {
        store: p.store.clone(),
        writer: p.writer.clone(),
        metrics: p.metrics.clone(),
        token: web.token.clone().into(),
        started: web.started,
        max_body_bytes: config.http_max_body_bytes,
        rules: p.rules.clone(),
        sessions,
        messages: config.web_messages.clone(),
        clock: web::time::StoreClock::new(config.web_time_zone.clone()),
        live: web.live,
        today: Arc::default(),
        pickup_default: crate::domain::inventory::PickupTimes {
            expiry_s: config.pickup_expiry_s,
            reminder_s: config.pickup_reminder_s,
        },
        tls: web.https.is_some(),
        flashes: Arc::default(),
        sync: web.sync,
        hostnames: config.http_hostnames.clone().into(),
        metrics_open: config.http_metrics_open,
        ca: web.ca.clone(),
        device_broker: broker.tls_addr,
        broker_listeners: std::iter::once(broker.addr)
            .chain(broker.tls_addr)
            .collect(),
        data_dir: config.data_dir.as_path().into(),
    };
    tasks.push(tokio::spawn(web::live::feed(
        state.clone(),
        p.shutdown.clone(),
    )));
    let limits = web::serve::Limits {
        caps: crate::net::Caps {
            total: config.http_max_connections,
            per_client: config.http_max_connections_per_client,
        },
        header_timeout: Duration::from_secs(config.http_header_timeout_s),
        tls: web.https.clone(),
    };
    tokio::spawn(web::serve::serve(
        web.http,
        web::app(state),
        limits,
        p.metrics.clone(),
        p.shutdown.clone(),
    ))
}
