//! Every MQTT topic name. Nobody else builds a topic string.
//!
//! Store broker (inside the store), topic contract version 8 (docs/topics.md):
//! - `store/{store}/events/{kind}`: node events (postcard [`Envelope`]),
//!   for the node's own services. No device reaches them: a device on the
//!   TLS listener is confined to its namespace; consumers still verify
//!   every message against the log (a plaintext client on the node's own
//!   machine has no namespace).
//! - `/tenants/{tenant}/cmd`: JSON [`CommandEnvelope`] from a device.
//! - `/tenants/{tenant}/reply`: JSON [`CommandReply`] to it.
//! - `/tenants/{tenant}/notify/{channel}`: JSON notices for that device, on
//!   the channels its kind hears.
//! - `/tenants/{tenant}/ack`: JSON [`NoticeAck`] from the device: it has
//!   acted on a notice that carried a `notice_id` (contract 6), which the
//!   node re-sends until then.
//!
//! `{tenant}` is the device's tenant id ([`crate::device_tenant`]: the
//! letters and digits of its name), the Organization of its certificate.
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
//! [`NoticeAck`]: crate::NoticeAck
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

const TENANTS: &str = "/tenants";

/// Where device `tenant` sends its commands.
pub fn tenant_command(tenant: &str) -> String {
    format!("{TENANTS}/{tenant}/cmd")
}

/// Where device `tenant` gets the answers.
pub fn tenant_reply(tenant: &str) -> String {
    format!("{TENANTS}/{tenant}/reply")
}

/// Where device `tenant` hears notices on `channel`.
pub fn tenant_notify(tenant: &str, channel: &str) -> String {
    format!("{TENANTS}/{tenant}/notify/{channel}")
}

/// Where device `tenant` acknowledges the notices it acted on.
pub fn tenant_ack(tenant: &str) -> String {
    format!("{TENANTS}/{tenant}/ack")
}

/// The command topic of the device named `name`.
pub fn device_command(name: &str) -> String {
    tenant_command(&crate::device_tenant(name))
}

/// The reply topic of the device named `name`.
pub fn device_reply(name: &str) -> String {
    tenant_reply(&crate::device_tenant(name))
}

/// The notice topic on `channel` of the device named `name`.
pub fn device_notify(name: &str, channel: &str) -> String {
    tenant_notify(&crate::device_tenant(name), channel)
}

/// Filter matching every device's command topic.
pub fn all_tenant_commands() -> String {
    format!("{TENANTS}/+/cmd")
}

/// Filter matching every device's acknowledgement topic.
pub fn all_tenant_acks() -> String {
    format!("{TENANTS}/+/ack")
}

/// The acknowledgement topic of the device named `name`.
pub fn device_ack(name: &str) -> String {
    tenant_ack(&crate::device_tenant(name))
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

/// What the bridge instance that delivered a store's batch tells the
/// others (availability, order outcomes).
pub fn sync_view(store: &StoreId) -> String {
    format!("{CLOUD_ROOT}/{store}/view")
}

/// The per-store topics of the cloud broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncTopic {
    Up,
    Ack,
    Down,
    Reply,
    Status,
    /// Bridge to bridge: what a delivered batch told of the store.
    View,
}

impl SyncTopic {
    pub fn name(self) -> &'static str {
        match self {
            SyncTopic::Up => "up",
            SyncTopic::Ack => "ack",
            SyncTopic::Down => "down",
            SyncTopic::Reply => "reply",
            SyncTopic::Status => "status",
            SyncTopic::View => "view",
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
        SyncTopic::View,
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
    /// A device's command, by its tenant id.
    DeviceCommand {
        tenant: &'a str,
    },
    /// A device's acknowledgement of a notice, by its tenant id.
    DeviceAck {
        tenant: &'a str,
    },
    Other,
}

/// Classify a topic of `store`'s broker.
pub fn parse<'a>(store: &StoreId, topic: &'a str) -> Parsed<'a> {
    if let Some(rest) = topic
        .strip_prefix(TENANTS)
        .and_then(|t| t.strip_prefix('/'))
    {
        let one = |t: &str| !t.is_empty() && !t.contains('/');
        return match (rest.strip_suffix("/cmd"), rest.strip_suffix("/ack")) {
            (Some(tenant), _) if one(tenant) => Parsed::DeviceCommand { tenant },
            (_, Some(tenant)) if one(tenant) => Parsed::DeviceAck { tenant },
            _ => Parsed::Other,
        };
    }
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
            parse(&s, &device_command("locker-1")),
            Parsed::DeviceCommand { tenant: "locker1" }
        );
        assert_eq!(
            device_notify("pickup-screen-1", "pickup-screen"),
            "/tenants/pickupscreen1/notify/pickup-screen"
        );
        assert_eq!(
            parse(&s, &device_ack("locker-1")),
            Parsed::DeviceAck { tenant: "locker1" }
        );
        assert_eq!(parse(&s, "/tenants//ack"), Parsed::Other);
        assert_eq!(parse(&s, "/tenants/a/b/ack"), Parsed::Other);
        assert_eq!(parse(&s, "/tenants//cmd"), Parsed::Other);
        assert_eq!(parse(&s, "/tenants/a/b/cmd"), Parsed::Other);
        // The older device topics are nothing now.
        assert_eq!(parse(&s, "store/s1/device/locker-1/cmd"), Parsed::Other);
        // The old HQ door on the store broker is nothing now.
        assert_eq!(parse(&s, "store/s1/cloud/cmd"), Parsed::Other);
        for t in [
            SyncTopic::Up,
            SyncTopic::Ack,
            SyncTopic::Down,
            SyncTopic::Reply,
            SyncTopic::Status,
            SyncTopic::View,
        ] {
            let name = match t {
                SyncTopic::Up => sync_up(&s),
                SyncTopic::Ack => sync_ack(&s),
                SyncTopic::Down => sync_down(&s),
                SyncTopic::Reply => sync_reply(&s),
                SyncTopic::Status => sync_status(&s),
                SyncTopic::View => sync_view(&s),
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
    }
}
