//! Every MQTT topic name. Nobody else builds a topic string.
//!
//! Store broker (inside the store):
//! - `store/{store}/events/{kind}`: node events (postcard [`Envelope`]).
//!   Only the node publishes here; consumers verify every message against
//!   the log, since the broker cannot stop a device from publishing.
//! - `store/{store}/device/{device}/cmd`: JSON [`CommandEnvelope`] from a device.
//! - `store/{store}/device/{device}/reply`: JSON [`CommandReply`] to it.
//! - `store/{store}/notify/{channel}`: JSON notifications for screens and lockers.
//!
//! No HQ command enters through the store broker: a device could send it.
//!
//! Cloud broker (the chain's; see [`crate::sync`] and docs/sync.md):
//! - `stores/{store}/up`: [`crate::sync::UpBatch`], store → HQ.
//! - `stores/{store}/ack`: [`crate::sync::UpAck`], HQ → store.
//! - `stores/{store}/down`: [`crate::sync::DownCommand`], HQ → store.
//! - `stores/{store}/reply`: [`crate::sync::DownReply`], store → HQ.
//! - `stores/{store}/status`: retained JSON [`crate::sync::StoreStatus`].
//!
//! [`Envelope`]: crate::Envelope
//! [`CommandEnvelope`]: crate::CommandEnvelope
//! [`CommandReply`]: crate::CommandReply
use crate::event::EventKind;
use crate::ids::StoreId;

const ROOT: &str = "store";

pub fn event(store: &StoreId, kind: EventKind) -> String {
    format!("{ROOT}/{store}/events/{}", kind.name())
}

/// Filter matching every node event of the store.
pub fn all_events(store: &StoreId) -> String {
    format!("{ROOT}/{store}/events/+")
}

/// Filter matching everything under the store's event tree, including
/// deeper topics a misbehaving client might use.
pub fn events_tree(store: &StoreId) -> String {
    format!("{ROOT}/{store}/events/#")
}

pub fn device_command(store: &StoreId, device: &str) -> String {
    format!("{ROOT}/{store}/device/{device}/cmd")
}

pub fn device_reply(store: &StoreId, device: &str) -> String {
    format!("{ROOT}/{store}/device/{device}/reply")
}

/// Filter matching every device's command topic.
pub fn all_device_commands(store: &StoreId) -> String {
    format!("{ROOT}/{store}/device/+/cmd")
}

pub fn notify(store: &StoreId, channel: &str) -> String {
    format!("{ROOT}/{store}/notify/{channel}")
}

const CLOUD_ROOT: &str = "stores";

/// Store → HQ: batches of the log.
pub fn sync_up(store: &StoreId) -> String {
    format!("{CLOUD_ROOT}/{store}/up")
}

/// HQ → store: acknowledgements of batches.
pub fn sync_ack(store: &StoreId) -> String {
    format!("{CLOUD_ROOT}/{store}/ack")
}

/// HQ → store: commands.
pub fn sync_down(store: &StoreId) -> String {
    format!("{CLOUD_ROOT}/{store}/down")
}

/// Store → HQ: answers to commands.
pub fn sync_reply(store: &StoreId) -> String {
    format!("{CLOUD_ROOT}/{store}/reply")
}

/// Store → HQ: the retained status (and last will).
pub fn sync_status(store: &StoreId) -> String {
    format!("{CLOUD_ROOT}/{store}/status")
}

/// Filter for one of the per-store cloud topics of every store
/// (`leaf` = `up`, `reply`, `status`…).
pub fn sync_all(leaf: SyncTopic) -> String {
    format!("{CLOUD_ROOT}/+/{}", leaf.name())
}

/// The same filter as a shared subscription of `group`: the broker deals
/// the messages among the group's clients.
pub fn sync_shared(group: &str, leaf: SyncTopic) -> String {
    format!("$share/{group}/{}", sync_all(leaf))
}

/// The per-store topics of the cloud broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncTopic {
    Up,
    Ack,
    Down,
    Reply,
    Status,
}

impl SyncTopic {
    pub fn name(self) -> &'static str {
        match self {
            SyncTopic::Up => "up",
            SyncTopic::Ack => "ack",
            SyncTopic::Down => "down",
            SyncTopic::Reply => "reply",
            SyncTopic::Status => "status",
        }
    }
}

/// Which store and which topic a cloud-broker topic is.
pub fn parse_sync(topic: &str) -> Option<(StoreId, SyncTopic)> {
    let rest = topic.strip_prefix(CLOUD_ROOT)?.strip_prefix('/')?;
    let (store, leaf) = rest.split_once('/')?;
    let leaf = [
        SyncTopic::Up,
        SyncTopic::Ack,
        SyncTopic::Down,
        SyncTopic::Reply,
        SyncTopic::Status,
    ]
    .into_iter()
    .find(|t| t.name() == leaf)?;
    Some((StoreId::new(store).ok()?, leaf))
}

/// What a received topic is, from the node's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    Event(EventKind),
    /// Something under `events/` that no node event uses.
    UnknownEvent(&'a str),
    DeviceCommand {
        device: &'a str,
    },
    Other,
}

/// Classify a topic of `store`'s broker.
pub fn parse<'a>(store: &StoreId, topic: &'a str) -> Parsed<'a> {
    let Some(rest) = topic
        .strip_prefix(ROOT)
        .and_then(|t| t.strip_prefix('/'))
        .and_then(|t| t.strip_prefix(store.as_str()))
        .and_then(|t| t.strip_prefix('/'))
    else {
        return Parsed::Other;
    };
    if let Some(kind) = rest.strip_prefix("events/") {
        return match EventKind::from_name(kind) {
            Some(k) => Parsed::Event(k),
            None => Parsed::UnknownEvent(kind),
        };
    }
    if let Some(device) = rest
        .strip_prefix("device/")
        .and_then(|r| r.strip_suffix("/cmd"))
    {
        if !device.is_empty() && !device.contains('/') {
            return Parsed::DeviceCommand { device };
        }
    }
    Parsed::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_through_parse() {
        let s = StoreId::new("s1").expect("valid");
        for k in EventKind::ALL {
            assert_eq!(parse(&s, &event(&s, k)), Parsed::Event(k));
        }
        assert_eq!(
            parse(&s, &device_command(&s, "locker-1")),
            Parsed::DeviceCommand { device: "locker-1" }
        );
        // The old HQ door on the store broker is nothing now.
        assert_eq!(parse(&s, "store/s1/cloud/cmd"), Parsed::Other);
        for t in [
            SyncTopic::Up,
            SyncTopic::Ack,
            SyncTopic::Down,
            SyncTopic::Reply,
            SyncTopic::Status,
        ] {
            let name = match t {
                SyncTopic::Up => sync_up(&s),
                SyncTopic::Ack => sync_ack(&s),
                SyncTopic::Down => sync_down(&s),
                SyncTopic::Reply => sync_reply(&s),
                SyncTopic::Status => sync_status(&s),
            };
            assert_eq!(parse_sync(&name), Some((s.clone(), t)));
        }
        assert_eq!(parse_sync("stores/s1/nope"), None);
        assert_eq!(parse_sync("stores/bad id/up"), None);
        assert_eq!(sync_shared("hq", SyncTopic::Up), "$share/hq/stores/+/up");
        assert_eq!(
            parse(&s, "store/s1/events/made_up"),
            Parsed::UnknownEvent("made_up")
        );
        assert_eq!(parse(&s, "store/s2/events/order_created"), Parsed::Other);
        assert_eq!(parse(&s, "store/s1/device//cmd"), Parsed::Other);
    }
}
