//! What HQ's cloud order service receives: CloudEvents 1.0 (JSON, batched
//! mode `application/cloudevents-batch+json`), signed per Standard Webhooks.
//!
//! One store event is one CloudEvent:
//! - `id`: the event id (a ULID); `source`: `/stores/{store}`; `type`: the
//!   event kind (`order_created`, `ready_for_pickup`…); `subject`: the order.
//! - `sequence` (the CloudEvents sequence extension): the event's `log_seq`
//!   as 20 zero-padded digits, so that string order is log order; plus the
//!   integer extensions `logseq` and `orderseq`, and `causationid`.
//! - `data`: the envelope as JSON (staff PIN hashes blanked).
//!
//! A customer message (ready with its code, reminder, expired, cancelled,
//! rejected) follows its event as a CloudEvent of type `customer_message`,
//! id `{event id}.msg`, sequence `{log_seq}.1`: between its event and the
//! next, in the same ordered stream.
//!
//! The receiver's whole dedup: per `storeid`, apply in `sequence` order and
//! drop anything at or below the last applied sequence ([`Receiver`]).
use std::collections::HashMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use protocol::{Envelope, Event};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;

pub const CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// The sequence of an event (`sub` 0) or of the message after it (1).
pub fn sequence(log_seq: u64, sub: u8) -> String {
    if sub == 0 {
        format!("{log_seq:020}")
    } else {
        format!("{log_seq:020}.{sub}")
    }
}

/// One CloudEvent as the bridge sends it (serialized straight to JSON,
/// without building a `Value` first: the drain rate depends on it).
#[derive(Debug, Serialize)]
pub struct CloudEvent<'a> {
    pub specversion: &'static str,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub subject: &'a str,
    pub time: String,
    pub datacontenttype: &'static str,
    pub sequence: String,
    pub storeid: &'a str,
    pub logseq: u64,
    pub orderseq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causationid: Option<String>,
    pub data: Data<'a>,
}

/// A CloudEvent's `data`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Data<'a> {
    Event(&'a Envelope),
    /// An envelope with something withheld (staff PIN hashes).
    Redacted(Value),
    Message(protocol::message::CustomerMessage),
}

/// The CloudEvents for one store event: the event, then its customer
/// message if it calls for one.
pub fn cloud_events(env: &Envelope) -> Vec<CloudEvent<'_>> {
    let time = jiff::Timestamp::from_millisecond(env.time_ms as i64)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let source = format!("/stores/{}", env.store_id);
    let id = env.event_id.0.to_string();
    // The keyed hash is useless without the store's secret, but HQ has no
    // business with it either.
    let data = if matches!(
        env.event,
        Event::StaffAdded { .. } | Event::StaffPinReset { .. }
    ) {
        let mut v = serde_json::to_value(env).unwrap_or(Value::Null);
        for k in ["staff_added", "staff_pin_reset"] {
            if let Some(e) = v.pointer_mut(&format!("/event/{k}/pin_hash")) {
                *e = json!("(withheld)");
            }
        }
        Data::Redacted(v)
    } else {
        Data::Event(env)
    };
    let message = protocol::message::customer_message(env).map(|m| CloudEvent {
        specversion: "1.0",
        id: format!("{id}.msg"),
        source: source.clone(),
        kind: "customer_message",
        subject: env.order_id.as_str(),
        time: time.clone(),
        datacontenttype: "application/json",
        sequence: sequence(env.log_seq, 1),
        storeid: env.store_id.as_str(),
        logseq: env.log_seq,
        orderseq: env.order_seq,
        causationid: None,
        data: Data::Message(m),
    });
    let mut out = vec![CloudEvent {
        specversion: "1.0",
        id,
        source,
        kind: env.event.kind().name(),
        subject: env.order_id.as_str(),
        time,
        datacontenttype: "application/json",
        sequence: sequence(env.log_seq, 0),
        storeid: env.store_id.as_str(),
        logseq: env.log_seq,
        orderseq: env.order_seq,
        causationid: env.causation_id.map(|c| c.0.to_string()),
        data,
    }];
    out.extend(message);
    out
}

/// The webhook body for a run of events: a CloudEvents batch.
pub fn batch_body(events: &[Envelope]) -> Vec<u8> {
    let all: Vec<CloudEvent<'_>> = events.iter().flat_map(cloud_events).collect();
    serde_json::to_vec(&all).unwrap_or_default()
}

/// A Standard Webhooks secret: `whsec_` + base64, or any other text used
/// as the key bytes.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(text: &str) -> Result<Self, String> {
        let key = match text.strip_prefix("whsec_") {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("the whsec_ secret is not base64: {e}"))?,
            None => text.as_bytes().to_vec(),
        };
        if key.len() < 16 {
            return Err("a webhook secret needs at least 16 bytes".into());
        }
        Ok(Secret(key))
    }

    /// `v1,` + base64 of HMAC-SHA256(key, "{id}.{timestamp}.{body}").
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(e) => unreachable!("HMAC takes keys of any length: {e}"),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        format!("v1,{sig}")
    }

    /// Check the `webhook-signature` header (space-separated signatures,
    /// any may match) in constant time, and that the timestamp is within
    /// `tolerance_s` of `now_s` (replay protection).
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now_s: i64,
        tolerance_s: i64,
    ) -> Result<(), String> {
        let ts: i64 = timestamp
            .parse()
            .map_err(|_| "webhook-timestamp is not a number".to_string())?;
        if (now_s - ts).abs() > tolerance_s {
            return Err("webhook-timestamp is too far from now (a replay?)".into());
        }
        let want = self.sign(id, ts, body);
        let want = want.as_bytes();
        let ok = signatures
            .split(' ')
            .any(|s| bool::from(subtle::ConstantTimeEq::ct_eq(s.as_bytes(), want)));
        if ok {
            Ok(())
        } else {
            Err("webhook-signature does not match".into())
        }
    }
}

/// The receiver's contract: per store, apply in `sequence` order; drop
/// anything at or below the last applied sequence. That is all the dedup
/// at-least-once delivery needs.
#[derive(Debug, Default)]
pub struct Receiver {
    last: HashMap<String, String>,
    pub applied: u64,
    pub dropped: u64,
}

impl Receiver {
    /// Offer one CloudEvent; returns whether it is new (apply it) or a
    /// redelivery (drop it). An event without `storeid` or `sequence` is an
    /// error: it is not from a storenode bridge.
    pub fn offer(&mut self, event: &Value) -> Result<bool, String> {
        let store = event["storeid"]
            .as_str()
            .ok_or("CloudEvent without storeid")?;
        let seq = event["sequence"]
            .as_str()
            .ok_or("CloudEvent without sequence")?;
        Ok(self.offer_seq(store, seq))
    }

    /// [`Receiver::offer`] for an event already read: whether `seq` is
    /// new for `store`.
    pub fn offer_seq(&mut self, store: &str, seq: &str) -> bool {
        let new = self.last.get(store).is_none_or(|last| seq > last.as_str());
        if new {
            match self.last.get_mut(store) {
                Some(l) => seq.clone_into(l),
                None => {
                    self.last.insert(store.to_string(), seq.to_string());
                }
            }
            self.applied += 1;
        } else {
            self.dropped += 1;
        }
        new
    }

    /// One webhook call, as a receiver takes it: [`read`], then each
    /// event offered. Returns the events that are new, in order, to apply.
    pub fn take(
        &mut self,
        secret: &Secret,
        headers: &axum::http::HeaderMap,
        body: &[u8],
        now_s: i64,
    ) -> Result<Vec<Value>, Refused> {
        self.apply(read(secret, headers, body, now_s)?)
    }

    /// Offer each event of a batch; the new ones, in order.
    pub fn apply(&mut self, batch: Vec<Value>) -> Result<Vec<Value>, Refused> {
        let mut new = Vec::new();
        for e in batch {
            if self.offer(&e).map_err(Refused::Body)? {
                new.push(e);
            }
        }
        Ok(new)
    }

    /// The last applied sequence of `store`.
    pub fn last(&self, store: &str) -> Option<&str> {
        self.last.get(store).map(String::as_str)
    }
}

/// Check a webhook call's signature (5 minutes of clock tolerance) and
/// read its batch. Needs no state, so a receiver can do it before taking
/// its lock.
pub fn read<T: serde::de::DeserializeOwned>(
    secret: &Secret,
    headers: &axum::http::HeaderMap,
    body: &[u8],
    now_s: i64,
) -> Result<Vec<T>, Refused> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    secret
        .verify(
            h("webhook-id"),
            h("webhook-timestamp"),
            h("webhook-signature"),
            body,
            now_s,
            300,
        )
        .map_err(Refused::Signature)?;
    serde_json::from_slice(body).map_err(|e| Refused::Body(e.to_string()))
}

/// Why a receiver refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Answer 401: not from the bridge (or replayed).
    #[error("{0}")]
    Signature(String),
    /// Answer 400: not a CloudEvents batch from a storenode bridge.
    #[error("{0}")]
    Body(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_sort_as_the_log() {
        let mut seqs = vec![
            sequence(10, 0),
            sequence(9, 1),
            sequence(9, 0),
            sequence(100, 0),
        ];
        seqs.sort();
        assert_eq!(
            seqs,
            vec![
                sequence(9, 0),
                sequence(9, 1),
                sequence(10, 0),
                sequence(100, 0)
            ]
        );
    }

    /// The example from the Standard Webhooks specification.
    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let body = br#"{"test": 2432232314}"#;
        let sig = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(secret
            .verify(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "1614265330",
                &sig,
                body,
                1614265330,
                300
            )
            .is_ok());
        let tampered = secret.verify(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            &sig,
            b"{}",
            1614265330,
            300,
        );
        assert!(tampered.is_err());
        let stale = secret.verify(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            &sig,
            body,
            1614265330 + 3600,
            300,
        );
        assert!(stale.is_err());
    }

    #[test]
    fn the_receiver_drops_redeliveries() {
        let mut r = Receiver::default();
        let e = |seq: &str| json!({"storeid": "s1", "sequence": seq});
        assert_eq!(r.offer(&e(&sequence(1, 0))), Ok(true));
        assert_eq!(r.offer(&e(&sequence(1, 1))), Ok(true));
        assert_eq!(r.offer(&e(&sequence(1, 0))), Ok(false));
        assert_eq!(r.offer(&e(&sequence(2, 0))), Ok(true));
        assert_eq!((r.applied, r.dropped), (3, 1));
        assert!(r.offer(&json!({"sequence": "1"})).is_err());
    }
}
