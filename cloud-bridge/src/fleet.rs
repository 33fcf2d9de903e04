//! What an instance knows of the fleet, all of it rebuilt from the cloud
//! broker: every store's retained status, and every HQ command and reply
//! (each instance subscribes to all `down` and `reply` topics, not as a
//! share, so any instance answers for a command another one sent). No
//! database: a new instance learns the statuses at once (retained) and the
//! commands from the moment it starts.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use protocol::sync::{DownCommand, DownReply, StoreStatus};
use protocol::ReplyStatus;
use serde::Serialize;

/// One store as HQ sees it.
#[derive(Debug, Clone, Serialize)]
pub struct StoreView {
    #[serde(flatten)]
    pub status: StoreStatus,
    /// When the store was last heard of (unix ms; 0: never by this
    /// instance, only its last will).
    pub seen_ms: u64,
    /// The last event this instance delivered for the store (0: none yet).
    pub delivered_seq: u64,
    /// Since when the store is online, by this instance's clock (unix ms;
    /// `None` while offline).
    #[serde(skip)]
    pub online_since_ms: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Fleet {
    stores: Mutex<BTreeMap<String, StoreView>>,
}

impl Fleet {
    /// A store's status. It was written at `status.time_ms` (0 in the
    /// last will: the store was last seen when it was last heard of).
    pub fn status(&self, status: StoreStatus) {
        if let Ok(mut m) = self.stores.lock() {
            let key = status.store_id.to_string();
            let old = m.get(&key);
            let delivered_seq = old.map_or(0, |s| s.delivered_seq);
            let seen_ms = status.time_ms.max(old.map_or(0, |s| s.seen_ms));
            let online_since_ms = match old {
                _ if !status.online => None,
                Some(o) if o.status.online => o.online_since_ms,
                _ => Some(crate::now_ms()),
            };
            m.insert(
                key,
                StoreView {
                    status,
                    seen_ms,
                    delivered_seq,
                    online_since_ms,
                },
            );
        }
    }

    /// The retained status was cleared: the store left the fleet.
    pub fn forget(&self, store: &str) {
        if let Ok(mut m) = self.stores.lock() {
            m.remove(store);
        }
    }

    pub fn delivered(&self, store: &protocol::StoreId, last_seq: u64, now_ms: u64) {
        if let Ok(mut m) = self.stores.lock() {
            let e = m.entry(store.to_string()).or_insert_with(|| StoreView {
                status: StoreStatus {
                    online: true,
                    ..StoreStatus::offline(store.clone())
                },
                seen_ms: now_ms,
                delivered_seq: 0,
                online_since_ms: Some(now_ms),
            });
            e.seen_ms = now_ms;
            e.delivered_seq = e.delivered_seq.max(last_seq);
        }
    }

    /// The last event of `store` some instance acknowledged (0: none).
    pub fn delivered_seq(&self, store: &str) -> u64 {
        self.stores
            .lock()
            .ok()
            .and_then(|m| m.get(store).map(|s| s.delivered_seq))
            .unwrap_or(0)
    }

    /// Since when `store` is online (`None`: offline or unknown).
    pub fn online_since(&self, store: &str) -> Option<u64> {
        self.stores
            .lock()
            .ok()
            .and_then(|m| m.get(store).and_then(|s| s.online_since_ms))
    }

    pub fn get(&self, store: &str) -> Option<StoreView> {
        self.stores.lock().ok().and_then(|m| m.get(store).cloned())
    }

    pub fn all(&self) -> Vec<StoreView> {
        self.stores
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// An HQ command and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct CommandRecord {
    pub command_id: String,
    pub store_id: String,
    pub hq_seq: u64,
    /// The command's name (`create_order`, `cancel`…).
    pub command: String,
    /// `pending` until the store answers; then `accepted`, `rejected`
    /// (with the store's reason) or `invalid`.
    pub status: &'static str,
    pub reason: Option<String>,
    pub log_seqs: Vec<u64>,
    pub answered_ms: Option<u64>,
    /// The order the command names, if any (its outcome is in the view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// SHA-256 of the encoded command: an `Idempotency-Key` sent again
    /// with another command is refused.
    #[serde(skip)]
    pub digest: Option<[u8; 32]>,
}

/// The digest of a command as [`CommandRecord::digest`] keeps it.
pub fn digest(command: &protocol::Command) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(protocol::codec::encode(command)).into()
}

/// Most commands remembered per instance (the oldest are forgotten).
const MAX_COMMANDS: usize = 200_000;

/// A command seen going down that its store has not answered yet. Every
/// instance keeps it (each sees every command go down), and the first
/// whose pause runs out while the store is online and silent publishes it
/// again (same id: the store applies it once), in case the broker lost it
/// (a cluster node that held the store's session died). Every instance
/// sees that copy go down too and starts its pause again, so one copy goes
/// out per pause, and a command outlives the instance that sent it.
#[derive(Debug)]
struct Unanswered {
    store: String,
    payload: Vec<u8>,
    /// When to publish it again (unix ms), and the pause after that.
    due_ms: u64,
    pause_ms: u64,
}

/// Longest pause between two copies of an unanswered command.
const MAX_RESEND_PAUSE_MS: u64 = 10 * 60 * 1000;

#[derive(Debug, Default)]
struct CommandBook {
    map: HashMap<String, CommandRecord>,
    order: VecDeque<String>,
    /// Ids whose echo from the broker someone waits for.
    waiting: HashMap<String, Vec<tokio::sync::oneshot::Sender<()>>>,
    unanswered: HashMap<String, Unanswered>,
}

#[derive(Debug, Default)]
pub struct Commands {
    inner: Mutex<CommandBook>,
}

impl Commands {
    /// A command seen going down (sent by this or another instance, its
    /// encoding `payload`): the broker routed it, so it holds it for the
    /// store. Kept until the store answers, to publish it again after
    /// `pause_ms` (with up to half of it again as jitter, so that the
    /// instances' pauses do not run out together).
    pub fn sent(
        &self,
        store: &protocol::StoreId,
        cmd: &DownCommand,
        payload: &[u8],
        pause_ms: u64,
    ) {
        let name = serde_json::to_value(&cmd.command)
            .ok()
            .and_then(|v| match v {
                serde_json::Value::Object(o) => o.keys().next().cloned(),
                serde_json::Value::String(s) => Some(s),
                _ => None,
            })
            .unwrap_or_default();
        // The order the command concerns (none for the store's own stream).
        let stream = cmd.command.stream();
        let order_id = (!stream.is_reserved()).then(|| stream.to_string());
        let digest = Some(digest(&cmd.command));
        let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=pause_ms / 2);
        let now = crate::now_ms();
        self.with(|book| {
            if book
                .map
                .get(&cmd.hq_id)
                .is_none_or(|r| r.answered_ms.is_none())
            {
                let u = book
                    .unanswered
                    .entry(cmd.hq_id.clone())
                    .or_insert_with(|| Unanswered {
                        store: store.to_string(),
                        payload: payload.to_vec(),
                        due_ms: 0,
                        pause_ms,
                    });
                u.due_ms = now + u.pause_ms + jitter;
            }
            for w in book.waiting.remove(&cmd.hq_id).unwrap_or_default() {
                let _ = w.send(());
            }
            if let Some(rec) = book.map.get_mut(&cmd.hq_id) {
                // Answered before this instance saw it go down.
                if rec.command.is_empty() {
                    rec.command = name;
                    rec.order_id = order_id;
                    rec.digest = digest;
                }
                return;
            }
            book.map.insert(
                cmd.hq_id.clone(),
                CommandRecord {
                    command_id: cmd.hq_id.clone(),
                    store_id: store.to_string(),
                    hq_seq: cmd.hq_seq,
                    command: name,
                    status: "pending",
                    reason: None,
                    log_seqs: vec![],
                    answered_ms: None,
                    order_id,
                    digest,
                },
            );
            book.order.push_back(cmd.hq_id.clone());
        });
    }

    /// Wait for the broker to route command `id` back (`sent`): resolves
    /// at once if it already did.
    pub fn echo(&self, id: &str) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Ok(mut book) = self.inner.lock() {
            // Routed back already: its record has the command's digest
            // (a record made by a reply alone has none yet).
            if book.map.get(id).is_some_and(|r| r.digest.is_some()) {
                let _ = tx.send(());
            } else {
                book.waiting.entry(id.to_string()).or_default().push(tx);
            }
        }
        rx
    }

    /// Stop waiting for `id` (its sender gave up).
    pub fn forget_echo(&self, id: &str) {
        if let Ok(mut book) = self.inner.lock() {
            book.waiting.remove(id);
        }
    }

    /// The unanswered commands due again at `now_ms` whose store has been
    /// online for a whole pause (`online_since` says since when, `None`:
    /// offline): (store, payload), each pause doubled. A store that just
    /// came back gets what its session kept first, and time to answer it.
    pub fn due(
        &self,
        now_ms: u64,
        online_since: impl Fn(&str) -> Option<u64>,
    ) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        if let Ok(mut book) = self.inner.lock() {
            for u in book.unanswered.values_mut() {
                let settled = online_since(&u.store)
                    .is_some_and(|since| now_ms.saturating_sub(since) >= u.pause_ms);
                if u.due_ms <= now_ms && settled {
                    out.push((u.store.clone(), u.payload.clone()));
                    u.pause_ms = (u.pause_ms * 2).min(MAX_RESEND_PAUSE_MS);
                    u.due_ms = now_ms + u.pause_ms;
                }
            }
        }
        out
    }

    /// How many commands seen going down wait for their store's answer.
    pub fn unanswered(&self) -> usize {
        self.inner.lock().map_or(0, |b| b.unanswered.len())
    }

    /// The store's answer.
    pub fn answered(&self, reply: &DownReply, now_ms: u64) {
        let status = match reply.reply.status {
            ReplyStatus::Accepted => "accepted",
            ReplyStatus::Rejected => "rejected",
            ReplyStatus::Invalid => "invalid",
        };
        self.with(|book| {
            book.unanswered.remove(&reply.hq_id);
            let rec = book.map.entry(reply.hq_id.clone()).or_insert_with(|| {
                book.order.push_back(reply.hq_id.clone());
                CommandRecord {
                    command_id: reply.hq_id.clone(),
                    store_id: reply.store_id.to_string(),
                    hq_seq: reply.hq_seq,
                    command: String::new(),
                    status,
                    reason: None,
                    log_seqs: vec![],
                    answered_ms: None,
                    order_id: None,
                    digest: None,
                }
            });
            // The first answer stands (a redelivered command is answered
            // again with the same outcome, from the store's inbox).
            if rec.answered_ms.is_none() {
                rec.status = status;
                rec.reason = reply.reply.reason.clone();
                rec.log_seqs = reply.reply.log_seqs.clone();
                rec.answered_ms = Some(now_ms);
            }
        });
    }

    pub fn get(&self, id: &str) -> Option<CommandRecord> {
        self.inner.lock().ok().and_then(|m| m.map.get(id).cloned())
    }

    fn with(&self, f: impl FnOnce(&mut CommandBook)) {
        if let Ok(mut g) = self.inner.lock() {
            let book = &mut *g;
            f(book);
            while book.order.len() > MAX_COMMANDS {
                if let Some(old) = book.order.pop_front() {
                    book.map.remove(&old);
                    book.unanswered.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unanswered_command_goes_again_once_its_store_had_a_whole_pause_online() {
        let book = Commands::default();
        let store = protocol::StoreId::new("s-1").expect("store id");
        let cmd = DownCommand {
            hq_id: "c-1".into(),
            hq_seq: 1,
            command: protocol::Command::SetStoreOpen {
                open: true,
                reason: String::new(),
                staff: "hq".into(),
            },
        };
        book.sent(&store, &cmd, b"bytes", 1_000);
        let now = crate::now_ms();
        let later = now + 10_000;
        assert!(
            book.due(later, |_| None).is_empty(),
            "offline: the session keeps it"
        );
        assert!(
            book.due(later, |_| Some(later - 500)).is_empty(),
            "just back: its session's copy first"
        );
        let again = book.due(later, |_| Some(now - 60_000));
        assert_eq!(again, vec![("s-1".to_string(), b"bytes".to_vec())]);
        assert!(
            book.due(later + 1_000, |_| Some(now - 60_000)).is_empty(),
            "the pause doubled"
        );
        assert_eq!(book.due(later + 2_000, |_| Some(now - 60_000)).len(), 1);
        book.answered(
            &DownReply {
                store_id: store,
                hq_id: "c-1".into(),
                hq_seq: 1,
                reply: protocol::CommandReply {
                    id: "c-1".into(),
                    status: ReplyStatus::Accepted,
                    reason: None,
                    log_seqs: vec![],
                },
            },
            later,
        );
        assert_eq!(book.unanswered(), 0);
        assert!(book.due(later + 60_000, |_| Some(now - 60_000)).is_empty());
    }
}
