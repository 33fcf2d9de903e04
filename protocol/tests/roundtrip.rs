//! Property tests: every wire type survives both encodings, and decoding
//! hostile bytes returns an error instead of panicking.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::fmt::Debug;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use protocol::codec::{self, DecodeError, FORMAT_VERSION};
use protocol::{
    Actor, ArrivalChannel, CancelStage, CatalogEntry, CatalogItem, ChainHash, Command,
    CommandEnvelope, CommandReply, CountReason, DeviceKind, Envelope, Event, EventId, EventKind,
    Location, NewOrder, OrderId, OrderLine, Partial, PaymentMode, PickLine, PickupProof, Receipt,
    ReceiptKind, ReceiptLine, Reconciled, RejectCode, RejectedLine, ReplyStatus, Role, SafetyScope,
    ShortReason, SkuAvailability, SkuQuantity, SlotKind, SnapshotLine, StaffRejectReason,
    StagingSlot, StoreId, WriteOffReason, Zone,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Modest, so the whole file runs in a few seconds.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

// ---- strategies ----

/// Free text as people and devices send it: any characters, including
/// quotes, newlines, control characters and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    "(?s).{0,24}"
}

fn order_id() -> impl Strategy<Value = OrderId> {
    "[A-Za-z0-9._-]{1,64}".prop_map(|s| OrderId::new(s).expect("the regex only makes valid ids"))
}

fn store_id() -> impl Strategy<Value = StoreId> {
    "[A-Za-z0-9._-]{1,32}".prop_map(|s| StoreId::new(s).expect("the regex only makes valid ids"))
}

fn event_id() -> impl Strategy<Value = EventId> {
    any::<[u8; 16]>().prop_map(EventId::from_bytes)
}

fn chain_hash() -> impl Strategy<Value = ChainHash> {
    any::<[u8; 32]>().prop_map(ChainHash)
}

fn payment() -> impl Strategy<Value = PaymentMode> {
    prop_oneof![
        Just(PaymentMode::Prepaid),
        Just(PaymentMode::PayAtPickup),
        Just(PaymentMode::Pending),
    ]
}

fn zone() -> impl Strategy<Value = Zone> {
    prop_oneof![Just(Zone::Ambient), Just(Zone::Chilled), Just(Zone::Frozen)]
}

fn location() -> impl Strategy<Value = Location> {
    any::<(u16, u16, u16)>().prop_map(|(aisle, bay, shelf)| Location { aisle, bay, shelf })
}

fn slot_kind() -> impl Strategy<Value = SlotKind> {
    prop_oneof![
        Just(SlotKind::Shelf),
        Just(SlotKind::ColdStorage),
        Just(SlotKind::Freezer),
        Just(SlotKind::Locker),
    ]
}

fn staging_slot() -> impl Strategy<Value = StagingSlot> {
    (slot_kind(), text()).prop_map(|(kind, id)| StagingSlot { kind, id })
}

fn arrival_channel() -> impl Strategy<Value = ArrivalChannel> {
    prop_oneof![
        Just(ArrivalChannel::Desk),
        Just(ArrivalChannel::Kiosk),
        Just(ArrivalChannel::Curbside),
    ]
}

fn pickup_proof() -> impl Strategy<Value = PickupProof> {
    prop_oneof![Just(PickupProof::Code), Just(PickupProof::SignedToken)]
}

fn cancel_stage() -> impl Strategy<Value = CancelStage> {
    prop_oneof![
        Just(CancelStage::BeforePick),
        Just(CancelStage::DuringPick),
        Just(CancelStage::AfterPick),
        Just(CancelStage::AfterStaging),
    ]
}

fn sku_quantity() -> impl Strategy<Value = SkuQuantity> {
    (text(), any::<u32>()).prop_map(|(sku, quantity)| SkuQuantity { sku, quantity })
}

fn catalog_item() -> impl Strategy<Value = CatalogItem> {
    (
        text(),
        text(),
        vec(text(), 0..3),
        location(),
        zone(),
        any::<i64>(),
        any::<bool>(),
    )
        .prop_map(
            |(sku, name, barcodes, location, zone, unit_price_cents, age_restricted)| CatalogItem {
                sku,
                name,
                barcodes,
                location,
                zone,
                unit_price_cents,
                age_restricted,
            },
        )
}

fn order_line() -> impl Strategy<Value = OrderLine> {
    (text(), any::<u32>(), any::<i64>(), any::<bool>()).prop_map(
        |(sku, quantity, unit_price_cents, substitution_allowed)| OrderLine {
            sku,
            quantity,
            unit_price_cents,
            substitution_allowed,
        },
    )
}

fn new_order() -> impl Strategy<Value = NewOrder> {
    (
        text(),
        vec(order_line(), 0..4),
        option::of(any::<u64>()),
        payment(),
        option::of(text()),
    )
        .prop_map(
            |(customer_name, lines, due_at_ms, payment, pickup_token)| NewOrder {
                customer_name,
                lines,
                due_at_ms,
                payment,
                pickup_token,
            },
        )
}

fn pick_line() -> impl Strategy<Value = PickLine> {
    (any::<u32>(), text(), any::<u32>(), location(), zone()).prop_map(
        |(line_no, sku, quantity, location, zone)| PickLine {
            line_no,
            sku,
            quantity,
            location,
            zone,
        },
    )
}

/// Every variant, each equally likely (`event_and_command_strategies_
/// reach_every_variant` checks that none is missing).
fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        new_order().prop_map(Event::OrderCreated),
        payment().prop_map(|payment| Event::OrderProcessed { payment }),
        vec(pick_line(), 0..4).prop_map(|lines| Event::ShipmentPrepared { lines }),
        text().prop_map(|picked_by| Event::ShipmentProcessed { picked_by }),
        (text(), pickup_proof(), any::<bool>()).prop_map(|(handed_over_by, proof, id_checked)| {
            Event::OrderFulfilled {
                handed_over_by,
                proof,
                id_checked,
            }
        }),
        Just(Event::OrderAccepted),
        text().prop_map(|reason| Event::OrderRejected { reason }),
        (option::of(text()), any::<u32>(), text())
            .prop_map(|(walk_id, tote, by)| Event::PickStarted { walk_id, tote, by }),
        (any::<u32>(), any::<u32>(), option::of(text()), text()).prop_map(
            |(line_no, quantity, barcode, by)| Event::ItemPicked {
                line_no,
                quantity,
                barcode,
                by,
            }
        ),
        (any::<u32>(), any::<u32>(), text()).prop_map(|(line_no, found, by)| Event::ItemShorted {
            line_no,
            found,
            by
        }),
        (
            any::<u32>(),
            text(),
            any::<u32>(),
            any::<i64>(),
            text(),
            text()
        )
            .prop_map(|(line_no, sku, quantity, unit_price_cents, barcode, by)| {
                Event::ItemSubstituted {
                    line_no,
                    sku,
                    quantity,
                    unit_price_cents,
                    barcode,
                    by,
                }
            }),
        (staging_slot(), text()).prop_map(|(slot, by)| Event::OrderStaged { slot, by }),
        (text(), text()).prop_map(|(code, token)| Event::ReadyForPickup { code, token }),
        (arrival_channel(), option::of(text()))
            .prop_map(|(channel, note)| Event::CustomerArrived { channel, note }),
        Just(Event::PickupExpired),
        (text(), cancel_stage(), text()).prop_map(|(reason, stage, by)| Event::OrderCancelled {
            reason,
            stage,
            by
        }),
        text().prop_map(|reason| Event::CancelRejected { reason }),
        (vec(sku_quantity(), 0..4), text())
            .prop_map(|(items, reason)| Event::Restocked { items, reason }),
        (text(), any::<i64>(), text()).prop_map(|(sku, delta, reason)| Event::StockAdjusted {
            sku,
            delta,
            reason
        }),
        (vec(sku_quantity(), 0..4), text())
            .prop_map(|(counts, by)| Event::StockCounted { counts, by }),
        vec(catalog_item(), 0..3).prop_map(|items| Event::CatalogImported { items }),
        any::<u64>().prop_map(|due_at_ms| Event::OrderLate { due_at_ms }),
        any::<u64>().prop_map(|expires_at_ms| Event::PickupReminded { expires_at_ms }),
        (text(), text()).prop_map(|(reason, by)| Event::StoreClosed { reason, by }),
        text().prop_map(|by| Event::StoreOpened { by }),
        (text(), any::<bool>())
            .prop_map(|(compartment, open)| Event::LockerDoorReported { compartment, open }),
        (text(), text(), role(), text()).prop_map(|(staff_id, name, role, pin_hash)| {
            Event::StaffAdded {
                staff_id,
                name,
                role,
                pin_hash,
            }
        }),
        (text(), role()).prop_map(|(staff_id, role)| Event::StaffRoleChanged { staff_id, role }),
        text().prop_map(|staff_id| Event::StaffDisabled { staff_id }),
        text().prop_map(|staff_id| Event::StaffEnabled { staff_id }),
        (text(), text())
            .prop_map(|(staff_id, pin_hash)| Event::StaffPinReset { staff_id, pin_hash }),
        (any::<u64>(), any::<u64>()).prop_map(|(expiry_s, reminder_s)| {
            Event::PickupTimesChanged {
                expiry_s,
                reminder_s,
            }
        }),
        (any::<u32>(), any::<u32>(), short_reason(), text()).prop_map(
            |(line_no, found, reason, by)| Event::ItemShortedWithReason {
                line_no,
                found,
                reason,
                by,
            }
        ),
        (
            text(),
            device_kind(),
            text(),
            proptest::collection::vec(text(), 0..3),
            (text(), text(), text())
        )
            .prop_map(
                |(name, kind, tenant, compartments, (salt, password_hash, cert_sha256))| {
                    Event::DeviceRegistered {
                        name,
                        kind,
                        tenant,
                        compartments,
                        salt,
                        password_hash,
                        cert_sha256,
                    }
                }
            ),
        text().prop_map(|name| Event::DeviceRemoved { name }),
        (reject_code(), vec(text(), 0..3), text())
            .prop_map(|(code, skus, note)| Event::OrderRejectedWithCode { code, skus, note }),
        (
            vec(rejected_line(), 0..3),
            option::of(staff_reject()),
            text()
        )
            .prop_map(|(lines, reason, by)| Event::OrderLinesRejected {
                lines,
                reason,
                by
            }),
        (receipt(), option::of(receipt()), any::<bool>()).prop_map(
            |(receipt, reverses, voided)| {
                Event::TillReceiptRecorded {
                    receipt,
                    reverses,
                    voided,
                }
            }
        ),
        (text(), any::<u32>(), write_off_reason(), text(), text()).prop_map(
            |(sku, quantity, reason, note, by)| Event::StockWrittenOff {
                sku,
                quantity,
                reason,
                note,
                by,
            }
        ),
        (safety_scope(), option::of(any::<u32>()), text())
            .prop_map(|(scope, safety, by)| Event::SafetyStockSet { scope, safety, by }),
        (text(), vec(sku_quantity(), 0..3), option::of(any::<u64>())).prop_map(
            |(delivery_id, lines, expected_ms)| Event::DeliveryAnnounced {
                delivery_id,
                lines,
                expected_ms,
            }
        ),
        (text(), vec(sku_quantity(), 0..3), text()).prop_map(|(delivery_id, lines, by)| {
            Event::DeliveryReceived {
                delivery_id,
                lines,
                by,
            }
        }),
        (any::<u64>(), vec(reconciled(), 0..3), vec(text(), 0..3)).prop_map(
            |(as_of_ms, items, ignored)| Event::StockSnapshotReconciled {
                as_of_ms,
                items,
                ignored,
            }
        ),
        (text(), text(), count_reason(), text()).prop_map(|(task_id, sku, reason, note)| {
            Event::CountTaskOpened {
                task_id,
                sku,
                reason,
                note,
            }
        }),
        (text(), any::<u32>(), any::<i64>(), text()).prop_map(
            |(task_id, counted, expected, by)| Event::CountRecorded {
                task_id,
                counted,
                expected,
                by,
            }
        ),
        (text(), text(), any::<u32>(), any::<i64>(), text()).prop_map(
            |(task_id, sku, counted, moved_since, by)| Event::CountApplied {
                task_id,
                sku,
                counted,
                moved_since,
                by,
            }
        ),
        (text(), text(), text(), text()).prop_map(|(task_id, sku, reason, by)| {
            Event::CountTaskCancelled {
                task_id,
                sku,
                reason,
                by,
            }
        }),
        vec(sku_availability(), 0..3).prop_map(|items| Event::AvailabilityChanged { items }),
        (
            text(),
            any::<u32>(),
            any::<u32>(),
            vec(sku_availability(), 0..3)
        )
            .prop_map(
                |(snapshot_id, part, parts, items)| Event::AvailabilitySnapshot {
                    snapshot_id,
                    part,
                    parts,
                    items,
                }
            ),
        vec((catalog_item(), option::of(text())), 0..3).prop_map(|items| {
            Event::CatalogEntriesImported {
                items: items
                    .into_iter()
                    .map(|(item, category)| CatalogEntry { item, category })
                    .collect(),
            }
        }),
        partial().prop_map(|partial| Event::OrderPartialPolicy { partial }),
    ]
}

fn partial() -> impl Strategy<Value = Partial> {
    prop_oneof![Just(Partial::Allow), Just(Partial::None)]
}

fn reject_code() -> impl Strategy<Value = RejectCode> {
    proptest::sample::select(RejectCode::ALL.to_vec())
}

fn staff_reject() -> impl Strategy<Value = StaffRejectReason> {
    proptest::sample::select(StaffRejectReason::ALL.to_vec())
}

fn write_off_reason() -> impl Strategy<Value = WriteOffReason> {
    proptest::sample::select(WriteOffReason::ALL.to_vec())
}

fn count_reason() -> impl Strategy<Value = CountReason> {
    prop_oneof![
        Just(CountReason::NotFound),
        Just(CountReason::TillDiscrepancy),
        Just(CountReason::Variance),
        Just(CountReason::Manager),
    ]
}

fn safety_scope() -> impl Strategy<Value = SafetyScope> {
    prop_oneof![
        Just(SafetyScope::Store),
        text().prop_map(SafetyScope::Category),
        text().prop_map(SafetyScope::Sku),
    ]
}

fn rejected_line() -> impl Strategy<Value = RejectedLine> {
    (any::<u32>(), text(), any::<u32>(), reject_code()).prop_map(
        |(line_no, sku, quantity, code)| RejectedLine {
            line_no,
            sku,
            quantity,
            code,
        },
    )
}

fn receipt() -> impl Strategy<Value = Receipt> {
    (
        text(),
        text(),
        any::<u64>(),
        prop_oneof![
            Just(ReceiptKind::Sale),
            Just(ReceiptKind::Return),
            Just(ReceiptKind::Void)
        ],
        option::of(text()),
        vec(
            (text(), any::<u32>(), any::<bool>()).prop_map(|(sku, quantity, damaged)| {
                ReceiptLine {
                    sku,
                    quantity,
                    damaged,
                }
            }),
            0..3,
        ),
    )
        .prop_map(|(receipt_id, till, at_ms, kind, voids, lines)| Receipt {
            receipt_id,
            till,
            at_ms,
            kind,
            voids,
            lines,
        })
}

fn reconciled() -> impl Strategy<Value = Reconciled> {
    (text(), any::<i64>(), any::<i64>(), any::<i64>()).prop_map(
        |(sku, hq_on_hand, local_after, on_hand)| Reconciled {
            sku,
            hq_on_hand,
            local_after,
            on_hand,
        },
    )
}

fn sku_availability() -> impl Strategy<Value = SkuAvailability> {
    (text(), any::<u64>(), any::<i64>()).prop_map(|(sku, available, on_hand)| SkuAvailability {
        sku,
        available,
        on_hand,
    })
}

fn device_kind() -> impl Strategy<Value = DeviceKind> {
    proptest::sample::select(DeviceKind::ALL.to_vec())
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Picker), Just(Role::Desk), Just(Role::Manager)]
}

fn short_reason() -> impl Strategy<Value = ShortReason> {
    prop_oneof![
        Just(ShortReason::NotFound),
        Just(ShortReason::Damaged),
        Just(ShortReason::OutOfDate),
        Just(ShortReason::Other),
    ]
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        text().prop_map(Actor::Service),
        Just(Actor::Api),
        text().prop_map(Actor::Device),
        Just(Actor::Cloud),
        text().prop_map(Actor::Staff),
        Just(Actor::Cli),
    ]
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        event_id(),
        option::of(event_id()),
        store_id(),
        order_id(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u16>(),
        actor(),
        event(),
        chain_hash(),
    )
        .prop_map(
            |(
                event_id,
                causation_id,
                store_id,
                order_id,
                order_seq,
                log_seq,
                time_ms,
                schema,
                actor,
                event,
                prev_hash,
            )| Envelope {
                event_id,
                causation_id,
                store_id,
                order_id,
                order_seq,
                log_seq,
                time_ms,
                schema,
                actor,
                event,
                prev_hash,
            },
        )
}

/// Every variant, each equally likely.
fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (order_id(), new_order())
            .prop_map(|(order_id, order)| Command::CreateOrder { order_id, order }),
        (order_id(), text()).prop_map(|(order_id, staff)| Command::MarkPicked { order_id, staff }),
        (order_id(), text(), text(), any::<bool>()).prop_map(
            |(order_id, staff, code, id_checked)| Command::HandOver {
                order_id,
                staff,
                code,
                id_checked,
            }
        ),
        order_id().prop_map(|order_id| Command::ConfirmPayment { order_id }),
        (order_id(), text(), option::of(text()), any::<u32>()).prop_map(
            |(order_id, staff, walk_id, tote)| Command::StartPick {
                order_id,
                staff,
                walk_id,
                tote,
            }
        ),
        (order_id(), any::<u32>(), text(), any::<u32>(), text()).prop_map(
            |(order_id, line_no, barcode, quantity, staff)| Command::PickItem {
                order_id,
                line_no,
                barcode,
                quantity,
                staff,
            }
        ),
        (order_id(), any::<u32>(), any::<u32>(), text()).prop_map(
            |(order_id, line_no, found, staff)| Command::ShortItem {
                order_id,
                line_no,
                found,
                staff,
            }
        ),
        (order_id(), any::<u32>(), text(), any::<u32>(), text()).prop_map(
            |(order_id, line_no, barcode, quantity, staff)| Command::SubstituteItem {
                order_id,
                line_no,
                barcode,
                quantity,
                staff,
            }
        ),
        (order_id(), staging_slot(), text()).prop_map(|(order_id, slot, staff)| Command::Stage {
            order_id,
            slot,
            staff
        }),
        (order_id(), arrival_channel(), option::of(text())).prop_map(
            |(order_id, channel, note)| Command::CheckIn {
                order_id,
                channel,
                note,
            }
        ),
        (order_id(), text(), text()).prop_map(|(order_id, reason, by)| Command::Cancel {
            order_id,
            reason,
            by
        }),
        (vec(sku_quantity(), 0..4), text())
            .prop_map(|(counts, staff)| Command::CountStock { counts, staff }),
        (text(), any::<i64>(), text(), text()).prop_map(|(sku, delta, reason, staff)| {
            Command::AdjustStock {
                sku,
                delta,
                reason,
                staff,
            }
        }),
        (vec(catalog_item(), 0..3), vec(sku_quantity(), 0..3))
            .prop_map(|(items, stock)| Command::ImportCatalog { items, stock }),
        (any::<bool>(), text(), text()).prop_map(|(open, reason, staff)| Command::SetStoreOpen {
            open,
            reason,
            staff
        }),
        (text(), arrival_channel(), option::of(text())).prop_map(|(code, channel, note)| {
            Command::CheckInByCode {
                code,
                channel,
                note,
            }
        }),
        (text(), any::<bool>())
            .prop_map(|(compartment, open)| Command::ReportLockerDoor { compartment, open }),
        (order_id(), any::<u32>(), any::<u32>(), short_reason()).prop_map(
            |(order_id, line_no, found, reason)| Command::ShortItemWithReason {
                order_id,
                line_no,
                found,
                reason,
            }
        ),
        (text(), text(), role(), text()).prop_map(|(staff_id, name, role, pin_hash)| {
            Command::AddStaff {
                staff_id,
                name,
                role,
                pin_hash,
            }
        }),
        (text(), role()).prop_map(|(staff_id, role)| Command::SetStaffRole { staff_id, role }),
        (text(), any::<bool>())
            .prop_map(|(staff_id, enabled)| Command::SetStaffEnabled { staff_id, enabled }),
        (text(), text())
            .prop_map(|(staff_id, pin_hash)| Command::ResetStaffPin { staff_id, pin_hash }),
        (any::<u64>(), any::<u64>()).prop_map(|(expiry_s, reminder_s)| {
            Command::SetPickupTimes {
                expiry_s,
                reminder_s,
            }
        }),
        (
            text(),
            device_kind(),
            proptest::collection::vec(text(), 0..3),
            (text(), text(), text())
        )
            .prop_map(
                |(name, kind, compartments, (salt, password_hash, cert_sha256))| {
                    Command::RegisterDevice {
                        name,
                        kind,
                        compartments,
                        salt,
                        password_hash,
                        cert_sha256,
                    }
                }
            ),
        text().prop_map(|name| Command::RemoveDevice { name }),
        receipt().prop_map(|receipt| Command::RecordReceipt { receipt }),
        (text(), any::<u32>(), write_off_reason(), text()).prop_map(
            |(sku, quantity, reason, note)| Command::WriteOff {
                sku,
                quantity,
                reason,
                note,
            }
        ),
        (safety_scope(), option::of(any::<u32>()))
            .prop_map(|(scope, safety)| Command::SetSafetyStock { scope, safety }),
        (text(), vec(sku_quantity(), 0..3), option::of(any::<u64>())).prop_map(
            |(delivery_id, lines, expected_ms)| Command::AnnounceDelivery {
                delivery_id,
                lines,
                expected_ms,
            }
        ),
        (option::of(text()), vec(sku_quantity(), 0..3))
            .prop_map(|(delivery_id, lines)| Command::ReceiveDelivery { delivery_id, lines }),
        (
            any::<u64>(),
            vec(
                (text(), any::<i64>()).prop_map(|(sku, on_hand)| SnapshotLine { sku, on_hand }),
                0..3
            )
        )
            .prop_map(|(as_of_ms, lines)| Command::ReconcileSnapshot { as_of_ms, lines }),
        (text(), text()).prop_map(|(sku, note)| Command::OpenCountTask { sku, note }),
        (text(), any::<u32>())
            .prop_map(|(task_id, counted)| Command::RecordCount { task_id, counted }),
        text().prop_map(|task_id| Command::ApproveCount { task_id }),
        (text(), text()).prop_map(|(task_id, reason)| Command::CancelCountTask { task_id, reason }),
        (order_id(), staff_reject(), vec(any::<u32>(), 0..3), text()).prop_map(
            |(order_id, reason, lines, note)| Command::RejectOrder {
                order_id,
                reason,
                lines,
                note,
            }
        ),
        Just(Command::RequestAvailability {}),
        (
            order_id(),
            any::<u32>(),
            any::<u32>(),
            short_reason(),
            any::<u32>()
        )
            .prop_map(|(order_id, line_no, found, reason, written_off)| {
                Command::ShortItemWithWriteOff {
                    order_id,
                    line_no,
                    found,
                    reason,
                    written_off,
                }
            }),
        (
            vec((catalog_item(), option::of(text())), 0..3),
            vec(sku_quantity(), 0..3)
        )
            .prop_map(|(items, stock)| Command::ImportCatalogEntries {
                items: items
                    .into_iter()
                    .map(|(item, category)| CatalogEntry { item, category })
                    .collect(),
                stock,
            }),
        (order_id(), new_order(), partial()).prop_map(|(order_id, order, partial)| {
            Command::CreateOrderWithPolicy {
                order_id,
                order,
                partial,
            }
        }),
    ]
}

fn command_envelope() -> impl Strategy<Value = CommandEnvelope> {
    (text(), command()).prop_map(|(id, command)| CommandEnvelope { id, command })
}

fn reply_status() -> impl Strategy<Value = ReplyStatus> {
    prop_oneof![
        Just(ReplyStatus::Accepted),
        Just(ReplyStatus::Rejected),
        Just(ReplyStatus::Invalid),
    ]
}

fn command_reply() -> impl Strategy<Value = CommandReply> {
    (
        text(),
        reply_status(),
        option::of(text()),
        vec(any::<u64>(), 0..4),
    )
        .prop_map(|(id, status, reason, log_seqs)| CommandReply {
            id,
            status,
            reason,
            log_seqs,
        })
}

/// Replies whose optional fields are all present (see
/// `command_reply_without_reason_survives_postcard`).
fn command_reply_with_every_field() -> impl Strategy<Value = CommandReply> {
    (text(), reply_status(), text(), vec(any::<u64>(), 1..4)).prop_map(
        |(id, status, reason, log_seqs)| CommandReply {
            id,
            status,
            reason: Some(reason),
            log_seqs,
        },
    )
}

// ---- round trips ----

fn postcard_round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = codec::encode(value);
    prop_assert_eq!(bytes.first(), Some(&FORMAT_VERSION));
    let back = codec::decode::<T>(&bytes);
    prop_assert_eq!(back.as_ref(), Ok(value), "bytes {:02x?}", bytes);
    Ok(())
}

fn json_round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let json = codec::to_json(value);
    let back = codec::from_json::<T>(&json);
    prop_assert_eq!(
        back.as_ref(),
        Ok(value),
        "JSON {}",
        String::from_utf8_lossy(&json)
    );
    Ok(())
}

/// One module per type, each with a `postcard` and a `json` property.
macro_rules! round_trips {
    ($($module:ident: $strategy:expr;)*) => {$(
        mod $module {
            use super::*;
            proptest! {
                #![proptest_config(config())]
                #[test]
                fn postcard(value in $strategy) {
                    postcard_round_trip(&value)?;
                }
                #[test]
                fn json(value in $strategy) {
                    json_round_trip(&value)?;
                }
            }
        }
    )*};
}

round_trips! {
    order_id: order_id();
    store_id: store_id();
    event_id: event_id();
    chain_hash: chain_hash();
    payment_mode: payment();
    order_line: order_line();
    new_order: new_order();
    zone: zone();
    location: location();
    catalog_item: catalog_item();
    sku_quantity: sku_quantity();
    pick_line: pick_line();
    slot_kind: slot_kind();
    staging_slot: staging_slot();
    arrival_channel: arrival_channel();
    pickup_proof: pickup_proof();
    cancel_stage: cancel_stage();
    event: event();
    actor: actor();
    envelope: envelope();
    command: command();
    command_envelope: command_envelope();
    reply_status: reply_status();
}

mod command_reply {
    use super::*;
    proptest! {
        #![proptest_config(config())]
        #[test]
        fn json(value in command_reply()) {
            json_round_trip(&value)?;
        }

        #[test]
        fn postcard_with_every_field(value in command_reply_with_every_field()) {
            postcard_round_trip(&value)?;
        }

        #[test]
        fn postcard(value in command_reply()) {
            postcard_round_trip(&value)?;
        }
    }
}

/// Draws `n` values from a strategy with a fixed seed.
fn sample<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("strategies here never reject")
                .current()
        })
        .collect()
}

/// The round trips above only mean something if the strategies reach every
/// variant: a variant appended to `Event` or `Command` without a strategy
/// arm fails here. Events are checked against `EventKind::ALL`, commands
/// against the fixtures (which `golden.rs` checks are one per variant with
/// an exhaustive match). (With 50 equally likely arms, 2000 draws miss one
/// with probability about 50 * (49/50)^2000, i.e. never; the seed is fixed.)
#[test]
fn event_and_command_strategies_reach_every_variant() {
    let kinds: BTreeSet<_> = sample(event(), 2000)
        .iter()
        .map(|e| e.kind().name())
        .collect();
    let all: BTreeSet<_> = EventKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(kinds, all);

    // The JSON key of a command is its variant's name.
    let commands: BTreeSet<String> = sample(command(), 2000)
        .iter()
        .map(
            |c| match serde_json::to_value(c).expect("a command is JSON") {
                serde_json::Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(","),
                other => panic!("command JSON is not an object: {other}"),
            },
        )
        .collect();
    let all: BTreeSet<String> = common::commands()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .collect();
    assert_eq!(all.len(), 40);
    assert_eq!(commands, all);
}

/// The cloud link sends replies in postcard (`protocol::topic`), and most
/// replies have no reason or no log sequence numbers.
#[test]
fn command_reply_without_reason_survives_postcard() {
    for reply in [
        CommandReply {
            id: "cmd-1".to_owned(),
            status: ReplyStatus::Accepted,
            reason: None,
            log_seqs: vec![7],
        },
        CommandReply {
            id: "cmd-2".to_owned(),
            status: ReplyStatus::Rejected,
            reason: Some("Order is already handed over".to_owned()),
            log_seqs: Vec::new(),
        },
        CommandReply {
            id: "cmd-3".to_owned(),
            status: ReplyStatus::Invalid,
            reason: None,
            log_seqs: Vec::new(),
        },
    ] {
        let bytes = codec::encode(&reply);
        assert_eq!(codec::decode::<CommandReply>(&bytes), Ok(reply));
    }
}

// ---- hostile input ----

/// Arbitrary bytes, half of them behind the right version byte so they
/// reach the postcard decoder.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..128),
        vec(any::<u8>(), 0..128).prop_map(|mut body| {
            body.insert(0, FORMAT_VERSION);
            body
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in hostile_bytes()) {
        let _ = codec::decode::<Envelope>(&bytes);
        let _ = codec::decode::<CommandEnvelope>(&bytes);
        let _ = codec::decode::<CommandReply>(&bytes);
        let _ = codec::from_json::<Envelope>(&bytes);
        let _ = codec::from_json::<CommandEnvelope>(&bytes);
        let _ = codec::from_json::<CommandReply>(&bytes);
        let _ = codec::decode::<protocol::sync::UpBatch>(&bytes);
        let _ = codec::decode::<protocol::sync::UpAck>(&bytes);
        let _ = codec::decode::<protocol::sync::DownCommand>(&bytes);
        let _ = codec::decode::<protocol::sync::DownReply>(&bytes);
        let _ = serde_json::from_slice::<protocol::sync::StoreStatus>(&bytes);
    }

    /// postcard encodings are self-delimiting, so no strict prefix of a
    /// valid envelope is itself valid.
    #[test]
    fn every_truncation_is_an_error(value in envelope(), cut in any::<Index>()) {
        let bytes = codec::encode(&value);
        let len = cut.index(bytes.len());
        match codec::decode::<Envelope>(&bytes[..len]) {
            Err(DecodeError::Empty) => prop_assert_eq!(len, 0),
            Err(DecodeError::Postcard(_)) => prop_assert!(len > 0),
            other => prop_assert!(false, "prefix of {} bytes gave {:?}", len, other),
        }
    }

    #[test]
    fn single_byte_corruption_never_panics(
        value in envelope(),
        at in any::<Index>(),
        flip in 1..=u8::MAX,
    ) {
        let mut bytes = codec::encode(&value);
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        let _ = codec::decode::<Envelope>(&bytes);
    }

    #[test]
    fn json_corruption_never_panics(
        value in command_envelope(),
        at in any::<Index>(),
        flip in 1..=u8::MAX,
    ) {
        let mut json = codec::to_json(&value);
        let i = at.index(json.len());
        json[i] ^= flip;
        let _ = codec::from_json::<CommandEnvelope>(&json);
    }
}
