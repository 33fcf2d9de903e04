//! The event envelope: what the node's log stores and its topics carry.
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::ids::{EventId, OrderId, StoreId};

/// Schema version of [`Envelope`]; bumped when its fields change meaning.
/// 2: `prev_hash` (the audit hash chain) and the BOPIS events. Version 1
/// was never deployed.
pub const SCHEMA_VERSION: u16 = 2;

/// Who caused an event: the audit trail's "who".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// One of the node's own services (by name).
    Service(String),
    /// A caller of the HTTP API with the store's bearer token.
    Api,
    /// A device authenticated on the store broker (by its name).
    Device(String),
    /// The chain's cloud, through the cloud command topic.
    Cloud,
    /// A staff member (by staff id), logged in on the store's pages.
    Staff(String),
    /// Someone with a shell on the node (the `storenode` command line, with
    /// the node stopped).
    Cli,
}

/// One fact in the node's log.
///
/// `log_seq` is the position in the node's log (1, 2, 3 … without gaps);
/// `order_seq` is the position in the order's own stream (1, 2, 3 … without
/// gaps). Consumers apply an order's events in `order_seq` order and treat a
/// jump as a gap to fill from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: EventId,
    /// The event or command that led to this event, if any.
    pub causation_id: Option<EventId>,
    pub store_id: StoreId,
    pub order_id: OrderId,
    pub order_seq: u64,
    pub log_seq: u64,
    /// Unix time in milliseconds when the event was appended.
    pub time_ms: u64,
    pub schema: u16,
    pub actor: Actor,
    pub event: Event,
    /// SHA-256 of the encoded previous log entry (zeros for the first):
    /// the log is a hash chain, so editing or removing an entry shows.
    pub prev_hash: ChainHash,
}

/// A SHA-256 digest: 32 raw bytes in postcard, 64 hex digits in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The log's hash chain, the one rule the node (writing, verifying,
    /// sending) and the bridge (checking a batch) share: an entry's hash is
    /// SHA-256 of its encoded bytes (`codec::encode` of its envelope), and
    /// the next entry's `prev_hash` is that hash.
    pub fn of(encoded_entry: &[u8]) -> ChainHash {
        use sha2::Digest as _;
        ChainHash(sha2::Sha256::digest(encoded_entry).into())
    }
}

impl Serialize for ChainHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
            s.serialize_str(&hex)
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for ChainHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(serde::de::Error::custom("expected 64 hex digits"));
            }
            let bytes = (0..text.len())
                .step_by(2)
                .map(|i| {
                    text.get(i..i + 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                })
                .collect::<Option<Vec<u8>>>()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))?;
            Ok(ChainHash(bytes))
        } else {
            <[u8; 32]>::deserialize(d).map(ChainHash)
        }
    }
}
