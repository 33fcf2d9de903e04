//! Every MQTT topic name. Nobody else builds a topic string.
//!
//! Store broker (inside the store):
//! - `store/{store}/events/{kind}`: node events (postcard [`Envelope`]).
//!   Only the node publishes here; consumers verify every message against
//!   the log, since the broker cannot stop a device from publishing.
//! - `store/{store}/device/{device}/cmd`: JSON [`CommandEnvelope`] from a device.
//! - `store/{store}/device/{device}/reply`: JSON [`CommandReply`] to it.
//! - `store/{store}/cloud/cmd` / `store/{store}/cloud/reply`: the same in postcard,
//!   for the cloud link.
//! - `store/{store}/notify/{channel}`: JSON notifications for screens and lockers.
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

pub fn cloud_command(store: &StoreId) -> String {
    format!("{ROOT}/{store}/cloud/cmd")
}

pub fn cloud_reply(store: &StoreId) -> String {
    format!("{ROOT}/{store}/cloud/reply")
}

pub fn notify(store: &StoreId, channel: &str) -> String {
    format!("{ROOT}/{store}/notify/{channel}")
}

/// Uplink topic on the cloud broker.
pub fn cloud_up(store: &StoreId) -> String {
    format!("{ROOT}/{store}/up")
}

/// Downlink topic on the cloud broker.
pub fn cloud_down(store: &StoreId) -> String {
    format!("{ROOT}/{store}/down")
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
    CloudCommand,
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
    if rest == "cloud/cmd" {
        return Parsed::CloudCommand;
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
        assert_eq!(parse(&s, &cloud_command(&s)), Parsed::CloudCommand);
        assert_eq!(
            parse(&s, "store/s1/events/made_up"),
            Parsed::UnknownEvent("made_up")
        );
        assert_eq!(parse(&s, "store/s2/events/order_created"), Parsed::Other);
        assert_eq!(parse(&s, "store/s1/device//cmd"), Parsed::Other);
    }
}
