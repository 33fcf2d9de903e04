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

/// The CloudEvents for one store event: the event, then its customer
/// message if it calls for one.
pub fn cloud_events(env: &Envelope) -> Vec<Value> {
    let time = jiff::Timestamp::from_millisecond(env.time_ms as i64)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let source = format!("/stores/{}", env.store_id);
    let mut data = serde_json::to_value(env).unwrap_or(Value::Null);
    // The keyed hash is useless without the store's secret, but HQ has no
    // business with it either.
    if matches!(
        env.event,
        Event::StaffAdded { .. } | Event::StaffPinReset { .. }
    ) {
        for k in ["staff_added", "staff_pin_reset"] {
            if let Some(e) = data.pointer_mut(&format!("/event/{k}/pin_hash")) {
                *e = json!("(withheld)");
            }
        }
    }
    let causation = env.causation_id.map(|c| c.0.to_string());
    let mut out = vec![json!({
        "specversion": "1.0",
        "id": env.event_id.0.to_string(),
        "source": source,
        "type": env.event.kind().name(),
        "subject": env.order_id.as_str(),
        "time": time,
        "datacontenttype": "application/json",
        "sequence": sequence(env.log_seq, 0),
        "storeid": env.store_id.as_str(),
        "logseq": env.log_seq,
        "orderseq": env.order_seq,
        "causationid": causation,
        "data": data,
    })];
    if let Some(m) = protocol::message::customer_message(env) {
        out.push(json!({
            "specversion": "1.0",
            "id": format!("{}.msg", env.event_id.0),
            "source": source,
            "type": "customer_message",
            "subject": env.order_id.as_str(),
            "time": time,
            "datacontenttype": "application/json",
            "sequence": sequence(env.log_seq, 1),
            "storeid": env.store_id.as_str(),
            "logseq": env.log_seq,
            "orderseq": env.order_seq,
            "data": m,
        }));
    }
    out
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
        let ok = signatures.split(' ').any(|s| {
            let s = s.as_bytes();
            s.len() == want.len() && s.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        });
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
        let new = self.last.get(store).is_none_or(|last| seq > last.as_str());
        if new {
            self.last.insert(store.to_string(), seq.to_string());
            self.applied += 1;
        } else {
            self.dropped += 1;
        }
        Ok(new)
    }

    /// One webhook call, as a receiver takes it: the signature checked
    /// (5 minutes of clock tolerance), the batch read, each event offered.
    /// Returns the events that are new, in order, to apply.
    pub fn take(
        &mut self,
        secret: &Secret,
        headers: &axum::http::HeaderMap,
        body: &[u8],
        now_s: i64,
    ) -> Result<Vec<Value>, Refused> {
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
        let batch: Vec<Value> =
            serde_json::from_slice(body).map_err(|e| Refused::Body(e.to_string()))?;
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
