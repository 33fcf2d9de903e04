//! What the wire types say besides their encoding: which stream a command
//! writes to, which ids are reserved, how event kinds are named.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use protocol::{Command, EventKind, OrderId};

#[test]
fn the_store_stream_is_reserved() {
    let store = OrderId::store_stream();
    assert_eq!(store.as_str(), "_store");
    assert!(store.is_reserved());
    assert!(!common::order_id().is_reserved());
    // '_' is allowed inside order ids, only a leading one is reserved.
    assert!(!OrderId::new("ORD_1").unwrap().is_reserved());
    assert!(OrderId::new("_anything").unwrap().is_reserved());
}

/// Order commands write to their order's stream; stock, settings, locker
/// reports and check-ins by code (which name no order until the node looks
/// the code up) to the store's own.
#[test]
fn every_command_names_its_stream() {
    for (name, envelope) in common::commands() {
        let want = match envelope.command {
            Command::CountStock { .. }
            | Command::AdjustStock { .. }
            | Command::ImportCatalog { .. }
            | Command::SetStoreOpen { .. }
            | Command::CheckInByCode { .. }
            | Command::ReportLockerDoor { .. }
            | Command::AddStaff { .. }
            | Command::SetStaffRole { .. }
            | Command::SetStaffEnabled { .. }
            | Command::ResetStaffPin { .. }
            | Command::SetPickupTimes { .. }
            | Command::RegisterDevice { .. }
            | Command::RemoveDevice { .. }
            | Command::RecordReceipt { .. }
            | Command::WriteOff { .. }
            | Command::SetSafetyStock { .. }
            | Command::AnnounceDelivery { .. }
            | Command::ReceiveDelivery { .. }
            | Command::ReconcileSnapshot { .. }
            | Command::OpenCountTask { .. }
            | Command::RecordCount { .. }
            | Command::ApproveCount { .. }
            | Command::CancelCountTask { .. }
            | Command::RequestAvailability {}
            | Command::ImportCatalogEntries { .. } => OrderId::store_stream(),
            _ => common::order_id(),
        };
        assert_eq!(envelope.command.stream(), want, "{name}");
    }
}

/// `OrderId` itself does not refuse reserved ids (the store stream is an
/// `OrderId` too), so an order command naming one points at the store's
/// stream: whoever takes commands in must refuse reserved order ids.
#[test]
fn a_reserved_order_id_is_representable() {
    let command = Command::ConfirmPayment {
        order_id: OrderId::new("_store").unwrap(),
    };
    assert!(command.stream().is_reserved());
    assert_eq!(command.stream(), OrderId::store_stream());
}

#[test]
fn event_kind_names() {
    assert_eq!(EventKind::ALL.len(), 48);
    let names: BTreeSet<_> = EventKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(names.len(), EventKind::ALL.len(), "names are unique");
    for kind in EventKind::ALL {
        let name = kind.name();
        assert_eq!(EventKind::from_name(name), Some(kind));
        // Names are topic levels: no MQTT separators or wildcards.
        assert!(
            name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{name}"
        );
    }
    assert_eq!(EventKind::from_name("OrderCreated"), None);
    assert_eq!(EventKind::from_name(""), None);
}

/// An event's kind name is the key of its JSON (or its JSON string, for a
/// unit variant), so screens and topics use one spelling — except for the
/// second form of a kind (`item_shorted_with_reason`, kind `item_shorted`;
/// `order_rejected_with_code`, kind `order_rejected`;
/// `catalog_entries_imported`, kind `catalog_imported`), whose tag names
/// the form.
#[test]
fn event_kind_name_is_the_json_tag() {
    for (name, event, _) in common::events() {
        let tag = match serde_json::to_value(&event).unwrap() {
            serde_json::Value::String(tag) => tag,
            serde_json::Value::Object(map) => {
                assert_eq!(map.len(), 1, "{name}");
                map.into_iter().next().unwrap().0
            }
            other => panic!("{name}: {other}"),
        };
        let second_forms = [
            ("item_shorted_with_reason", EventKind::ItemShorted),
            ("order_rejected_with_code", EventKind::OrderRejected),
            ("catalog_entries_imported", EventKind::CatalogImported),
        ];
        if let Some((_, kind)) = second_forms.iter().find(|(t, _)| *t == tag) {
            assert_eq!(event.kind(), *kind);
            continue;
        }
        assert_eq!(tag, event.kind().name());
    }
}
