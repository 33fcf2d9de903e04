//! Commands from any door (HTTP, device topics, cloud topic) become the same
//! write requests, decided by the same domain functions.
use std::sync::Arc;

use protocol::{codec, Actor, Command, CommandReply, DeviceKind, ReplyStatus, Role, ShortReason};

use crate::domain::permissions::{self, CommandKind, Who};
use crate::domain::{self, pickup::PickupKeys, OrderState};
use crate::store::writer::Decide;
use crate::store::{Dedup, Store, WriteRequest, Written};

/// Most characters in a command id.
pub const MAX_COMMAND_ID: usize = 64;

/// What the rules need besides state: the pickup keys and the store's
/// configured policy.
#[derive(Clone)]
pub struct Rules {
    pub keys: Arc<PickupKeys>,
    pub policy: domain::order::Policy,
}

/// Check a sender's command id.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.chars().count() > MAX_COMMAND_ID {
        return Err(format!("id: must be 1 to {MAX_COMMAND_ID} characters"));
    }
    if !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err("id: must be printable ASCII without spaces".into());
    }
    Ok(())
}

/// The decision a command needs. `by` is the principal's name for the
/// events' `by` fields; whatever the command itself names there is not
/// used (see [`Principal::label`]).
fn decide(command: Command, by: String, rules: &Rules) -> Decide {
    use domain::{handover, inventory, order, staff, stock, warehouse};
    let keys = rules.keys.clone();
    let policy = rules.policy;
    match command {
        Command::CreateOrder { order_id, order } => {
            Box::new(move |c| order::decide_create(c.order, &order_id, &order, None))
        }
        Command::CreateOrderWithPolicy {
            order_id,
            order,
            partial,
        } => Box::new(move |c| order::decide_create(c.order, &order_id, &order, Some(partial))),
        Command::ConfirmPayment { order_id } => Box::new(move |c| {
            known(c, &order_id)?;
            order::decide_confirm_payment(c, &keys, policy)
        }),
        Command::Cancel {
            order_id, reason, ..
        } => Box::new(move |c| order::decide_cancel(c.order, &order_id, &reason, &by)),
        Command::StartPick {
            order_id,
            walk_id,
            tote,
            ..
        } => Box::new(move |c| {
            known(c, &order_id)?;
            warehouse::decide_start_pick(c, walk_id.as_deref(), tote, &by)
        }),
        Command::PickItem {
            order_id,
            line_no,
            barcode,
            quantity,
            ..
        } => Box::new(move |c| {
            known(c, &order_id)?;
            warehouse::decide_pick_item(c, line_no, &barcode, quantity, &by)
        }),
        Command::ShortItem {
            order_id,
            line_no,
            found,
            ..
        } => Box::new(move |c| {
            known(c, &order_id)?;
            warehouse::decide_short(c, line_no, found, ShortReason::NotFound, None, &by)
        }),
        Command::ShortItemWithReason {
            order_id,
            line_no,
            found,
            reason,
        } => Box::new(move |c| {
            known(c, &order_id)?;
            warehouse::decide_short(c, line_no, found, reason, None, &by)
        }),
        Command::ShortItemWithWriteOff {
            order_id,
            line_no,
            found,
            reason,
            written_off,
        } => Box::new(move |c| {
            known(c, &order_id)?;
            warehouse::decide_short(c, line_no, found, reason, Some(written_off), &by)
        }),
        Command::SubstituteItem {
            order_id,
            line_no,
            barcode,
            quantity,
            ..
        } => Box::new(move |c| {
            known(c, &order_id)?;
            warehouse::decide_substitute(c, line_no, &barcode, quantity, &by)
        }),
        Command::MarkPicked { order_id, .. } => Box::new(move |c| {
            known(c, &order_id)?;
            warehouse::decide_mark_picked(c, &by)
        }),
        Command::Stage { order_id, slot, .. } => Box::new(move |c| {
            known(c, &order_id)?;
            handover::decide_stage(c, &keys, &slot, &by)
        }),
        Command::CheckIn {
            order_id,
            channel,
            note,
        } => Box::new(move |c| {
            known(c, &order_id)?;
            handover::decide_check_in(c, channel, note.as_deref())
        }),
        Command::HandOver {
            order_id,
            code,
            id_checked,
            ..
        } => Box::new(move |c| {
            known(c, &order_id)?;
            handover::decide_hand_over(c, &keys, &by, &code, id_checked)
        }),
        Command::CountStock { counts, .. } => {
            Box::new(move |c| inventory::decide_count(c, &counts, &by))
        }
        Command::AdjustStock {
            sku, delta, reason, ..
        } => Box::new(move |c| inventory::decide_adjust(c, &sku, delta, &reason, &by)),
        Command::ImportCatalog { items, stock } => {
            Box::new(move |c| inventory::decide_import(c, &items, None, &stock))
        }
        Command::ImportCatalogEntries { items, stock } => Box::new(move |c| {
            let (items, cats): (Vec<_>, Vec<_>) =
                items.into_iter().map(|e| (e.item, e.category)).unzip();
            inventory::decide_import(c, &items, Some(&cats), &stock)
        }),
        Command::SetStoreOpen { open, reason, .. } => {
            Box::new(move |c| inventory::decide_set_open(c, open, &reason, &by))
        }
        // Reaches a decision only when `resolve` found no order for it.
        Command::CheckInByCode { code, .. } => {
            Box::new(move |_| Err(domain::Rejection::UnknownCode(code.trim().to_string())))
        }
        Command::ReportLockerDoor { compartment, open } => {
            Box::new(move |c| handover::decide_locker_door(c, &compartment, open))
        }
        Command::AddStaff {
            staff_id,
            name,
            role,
            pin_hash,
        } => Box::new(move |c| staff::decide_add(c, &staff_id, &name, role, &pin_hash)),
        Command::SetStaffRole { staff_id, role } => {
            Box::new(move |c| staff::decide_role(c, &staff_id, role))
        }
        Command::SetStaffEnabled { staff_id, enabled } => {
            Box::new(move |c| staff::decide_enabled(c, &staff_id, enabled))
        }
        Command::ResetStaffPin { staff_id, pin_hash } => {
            Box::new(move |c| staff::decide_pin(c, &staff_id, &pin_hash))
        }
        Command::RegisterDevice {
            name,
            kind,
            compartments,
            salt,
            password_hash,
            cert_sha256,
        } => Box::new(move |c| {
            domain::device::decide_register(
                c,
                &name,
                kind,
                &compartments,
                &salt,
                &password_hash,
                &cert_sha256,
            )
        }),
        Command::RemoveDevice { name } => {
            Box::new(move |c| domain::device::decide_remove(c, &name))
        }
        Command::SetPickupTimes {
            expiry_s,
            reminder_s,
        } => Box::new(move |c| inventory::decide_pickup_times(c, expiry_s, reminder_s)),
        Command::RecordReceipt { receipt } => Box::new(move |c| stock::decide_receipt(c, &receipt)),
        Command::WriteOff {
            sku,
            quantity,
            reason,
            note,
        } => Box::new(move |c| stock::decide_write_off(c, &sku, quantity, reason, &note, &by)),
        Command::SetSafetyStock { scope, safety } => {
            Box::new(move |c| stock::decide_safety(c, &scope, safety, &by))
        }
        Command::AnnounceDelivery {
            delivery_id,
            lines,
            expected_ms,
        } => Box::new(move |c| stock::decide_announce(c, &delivery_id, &lines, expected_ms)),
        Command::ReceiveDelivery { delivery_id, lines } => {
            Box::new(move |c| stock::decide_receive(c, delivery_id.as_deref(), &lines, &by))
        }
        Command::ReconcileSnapshot { as_of_ms, lines } => {
            Box::new(move |c| stock::decide_snapshot(c, as_of_ms, &lines))
        }
        Command::OpenCountTask { sku, note } => {
            Box::new(move |c| stock::decide_open_count(c, &sku, &note))
        }
        Command::RecordCount { task_id, counted } => Box::new(move |c| {
            stock::decide_record_count(c, &task_id, counted, policy.recount_above, &by)
        }),
        Command::ApproveCount { task_id } => {
            Box::new(move |c| stock::decide_approve_count(c, &task_id, &by))
        }
        Command::CancelCountTask { task_id, reason } => {
            Box::new(move |c| stock::decide_cancel_count(c, &task_id, &reason, &by))
        }
        Command::RejectOrder {
            order_id,
            reason,
            lines,
            note,
        } => Box::new(move |c| {
            known(c, &order_id)?;
            order::decide_staff_reject(c, reason, &lines, &note, &by)
        }),
        Command::RequestAvailability {} => Box::new(stock::decide_availability_snapshot),
    }
}

/// An order from a store device (a kiosk) is paid at the desk and priced
/// from the catalog: a device cannot claim an online payment, nor name its
/// own prices (`unit_price_cents: 0, payment: "prepaid"` was a free order).
fn device_order(command: Command, store: &Store) -> Result<Command, NotAllowed> {
    let Command::CreateOrder {
        order_id,
        mut order,
    } = command
    else {
        return Ok(command);
    };
    if order.payment != protocol::PaymentMode::PayAtPickup {
        return Err(NotAllowed(
            "an order from a store device is paid at the desk: payment must be pay_at_pickup"
                .into(),
        ));
    }
    for line in &mut order.lines {
        // An unknown SKU keeps its line as sent: the order is rejected
        // for it, with that reason.
        if let Some(item) = store.item(&line.sku) {
            line.unit_price_cents = item.item.unit_price_cents;
        }
    }
    Ok(Command::CreateOrder { order_id, order })
}

/// Find the order a command names indirectly: a check-in by short code or
/// QR token becomes a check-in for that order (a token's signature is
/// checked first). Other commands are returned as they are.
fn resolve(command: Command, store: &Store, rules: &Rules) -> Command {
    let Command::CheckInByCode {
        code,
        channel,
        note,
    } = command
    else {
        return command;
    };
    let found = if protocol::pickup::is_token(&code) {
        protocol::pickup::peek(&code)
            .ok()
            .filter(|claim| rules.keys.check(&code, &claim.order_id).is_ok())
            .map(|claim| claim.order_id)
    } else {
        store.order_by_code(&code)
    };
    match found {
        Some(order_id) => Command::CheckIn {
            order_id,
            channel,
            note,
        },
        None => Command::CheckInByCode {
            code,
            channel,
            note,
        },
    }
}

/// An order command needs its order.
fn known(c: &domain::Ctx, id: &protocol::OrderId) -> Result<(), domain::Rejection> {
    match c.order {
        Some(_) => Ok(()),
        None => Err(domain::Rejection::UnknownOrder(id.to_string())),
    }
}

/// Who is asking: the authenticated party behind a request. Every door
/// fills one in — a staff session for the pages, the device's broker login
/// for MQTT, the bearer token for the JSON API, the cloud link, the command
/// line — and it, never a field of the command, becomes the events' actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A staff member logged in on the pages (role read live from the log,
    /// so a change takes effect on the next request).
    Staff { id: String, role: Role },
    /// A caller with the store's API token.
    Api,
    /// A caller with the API token naming the person it acts for (a label
    /// for the events' `by` fields; the actor stays `api`).
    ApiFor(String),
    /// A device on the store broker (its namespace told the node which).
    Device { name: String, kind: DeviceKind },
    /// The chain's cloud, over the cloud link.
    Cloud,
    /// The `storenode` command line, node stopped.
    Cli,
}

impl Principal {
    /// The audit trail's "who".
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Staff { id, .. } => Actor::Staff(id.clone()),
            Principal::Api | Principal::ApiFor(_) => Actor::Api,
            Principal::Device { name, .. } => Actor::Device(name.clone()),
            Principal::Cloud => Actor::Cloud,
            Principal::Cli => Actor::Cli,
        }
    }

    /// The name the events' `by` fields carry: the staff id or the device
    /// name. The API token and the cloud are systems acting for people, so
    /// the name they give in a command's `staff`/`by` is kept as a label
    /// (the actor still says who authenticated).
    pub fn label(&self, claimed: Option<&str>) -> String {
        let claimed = claimed.map(str::trim).filter(|c| !c.is_empty());
        match (self, claimed) {
            (Principal::Staff { id, .. }, _) => id.clone(),
            (Principal::Device { name, .. }, _) => name.clone(),
            (Principal::ApiFor(name), _) => name.clone(),
            (Principal::Api | Principal::Cloud, Some(name)) => name.to_string(),
            (Principal::Api, None) => "api".into(),
            (Principal::Cloud, None) => "cloud".into(),
            (Principal::Cli, _) => "cli".into(),
        }
    }

    /// Who this is in the permission table (`domain::permissions`).
    pub(crate) fn who(&self) -> Who {
        match self {
            Principal::Staff { role, .. } => Who::Staff(*role),
            Principal::Api | Principal::ApiFor(_) => Who::Api,
            Principal::Device { kind, .. } => Who::Device(*kind),
            Principal::Cloud => Who::Cloud,
            Principal::Cli => Who::Cli,
        }
    }

    /// Whether this principal may send `command`, as the permission table
    /// (`domain::permissions`, docs/security.md) says. A locker's
    /// compartments are checked in [`prepare`], which sees the store.
    pub fn may(&self, command: &Command) -> Result<(), NotAllowed> {
        if permissions::may_send(self.who(), command) {
            return Ok(());
        }
        let name = command_name(command);
        Err(NotAllowed(match self {
            Principal::Staff { role, .. } => format!(
                "the {} role may not {}: ask a manager",
                role.name(),
                name.replace('_', " ")
            ),
            Principal::Device { kind, .. } => format!(
                "a {} may not send {name} (docs/security.md lists what each kind of device may send)",
                kind.name()
            ),
            _ => {
                format!("the cloud may not send {name}: it is a staff action (use the staff pages)")
            }
        }))
    }
}

/// A principal asked for something its door or role does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAllowed(pub String);

/// The name a command carries in its deprecated `staff`/`by` field.
fn claimed(command: &Command) -> Option<&str> {
    match command {
        Command::MarkPicked { staff, .. }
        | Command::HandOver { staff, .. }
        | Command::StartPick { staff, .. }
        | Command::PickItem { staff, .. }
        | Command::ShortItem { staff, .. }
        | Command::SubstituteItem { staff, .. }
        | Command::Stage { staff, .. }
        | Command::CountStock { staff, .. }
        | Command::AdjustStock { staff, .. }
        | Command::SetStoreOpen { staff, .. }
        | Command::Cancel { by: staff, .. } => Some(staff),
        _ => None,
    }
}

/// The one way a command from any door becomes a write: the principal's
/// allowance, the audit actor, the resend key (`resend`: scope and sender
/// id, matched against the command *as sent*, so a retry is recognised even
/// after a pickup code was looked up), the code lookup, the locker rule
/// for devices, and the decision.
pub fn prepare(
    command: Command,
    principal: &Principal,
    resend: Option<(String, String)>,
    rules: &Rules,
    store: &Store,
) -> Result<WriteRequest, NotAllowed> {
    principal.may(&command)?;
    let device = match principal {
        Principal::Device { name, .. } => Some(
            store
                .device(name)
                .ok_or_else(|| NotAllowed(format!("device {name} is not registered")))?,
        ),
        _ => None,
    };
    let command = match &device {
        Some(_) => device_order(command, store)?,
        None => command,
    };
    compartments(&command, device.as_ref(), store)?;
    let dedup = match resend {
        Some((scope, id)) => Dedup::Inbox {
            scope,
            id,
            fingerprint: crate::store::fingerprint(&codec::encode(&command)),
        },
        None => Dedup::None,
    };
    let command = resolve(command, store, rules);
    let by = principal.label(claimed(&command));
    let locker = device.filter(|_| matches!(command, Command::HandOver { .. }));
    let stream = command.stream();
    let inner = decide(command, by, rules);
    let decide: Decide = match locker {
        // A device hands over only what waits in its own compartments (the
        // locker checks the customer's code); the rest goes over the desk.
        Some(locker) => Box::new(move |c| {
            let mine = c.order.is_none_or(|o| {
                o.state != OrderState::Ready
                    || o.slot
                        .as_ref()
                        .is_some_and(|s| s.kind == protocol::SlotKind::Locker && locker.owns(&s.id))
            });
            if mine {
                inner(c)
            } else {
                Err(domain::Rejection::Pickup(format!(
                    "locker {} may hand over only orders in its own compartments; hand it over at the desk",
                    locker.name
                )))
            }
        }),
        None => inner,
    };
    Ok(WriteRequest {
        order_id: stream,
        actor: principal.actor(),
        causation: None,
        dedup,
        decide,
    })
}

/// Locker compartments belong to their locker: staging into one needs a
/// registered locker that has it, and a device stages into (and reports
/// doors of) only its own; a locker stages nowhere else.
fn compartments(
    command: &Command,
    device: Option<&domain::Device>,
    store: &Store,
) -> Result<(), NotAllowed> {
    let (compartment, staging) = match command {
        Command::Stage { slot, .. } if slot.kind == protocol::SlotKind::Locker => {
            (Some(slot.id.as_str()), true)
        }
        Command::Stage { .. } => (None, true),
        Command::ReportLockerDoor { compartment, .. } => (Some(compartment.as_str()), false),
        _ => return Ok(()),
    };
    match (device, compartment) {
        (Some(d), Some(c)) if d.owns(c) => Ok(()),
        (Some(d), Some(c)) if d.kind == DeviceKind::Locker => Err(NotAllowed(format!(
            "compartment {c} is not one of locker {}'s",
            d.name
        ))),
        (Some(d), Some(_)) => Err(NotAllowed(format!(
            "a {} may not load lockers: only the locker itself loads its compartments",
            d.kind.name()
        ))),
        (Some(d), None) if staging && d.kind == DeviceKind::Locker => Err(NotAllowed(format!(
            "locker {} stages only into its own compartments",
            d.name
        ))),
        (None, Some(c)) if staging => {
            if store.device_list().iter().any(|d| d.owns(c)) {
                Ok(())
            } else {
                Err(NotAllowed(format!(
                    "no registered locker has compartment {c} (add the locker with its compartments first)"
                )))
            }
        }
        _ => Ok(()),
    }
}

/// The command's name as in JSON.
pub fn command_name(command: &Command) -> String {
    CommandKind::of(command).name().to_string()
}

/// The reply a sender gets for a durable outcome.
pub fn reply(id: &str, written: Written) -> CommandReply {
    let (status, reason, log_seqs) = match written {
        Written::Applied { log_seqs, .. } => (ReplyStatus::Accepted, None, log_seqs),
        Written::Rejected {
            rejection,
            log_seqs,
        } => (ReplyStatus::Rejected, Some(rejection.to_string()), log_seqs),
        Written::Repeat(r) => return r,
        Written::IdReused => (
            ReplyStatus::Rejected,
            Some(format!(
                "command id {id} was already used for a different command"
            )),
            vec![],
        ),
        Written::AlreadyReacted => (ReplyStatus::Accepted, None, vec![]),
    };
    CommandReply {
        id: id.to_string(),
        status,
        reason,
        log_seqs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::permissions::{tests::samples, Who};

    /// What each principal could send before the permission table, as the
    /// old `Principal::may` and `role_may` answered (the table's first
    /// commit compared them with it pair by pair): the table must keep
    /// answering so, or say here why not. `*`: every command.
    const BEFORE: &[(Who, &str)] = &[
        (
            Who::Staff(Role::Picker),
            "start_pick pick_item short_item short_item_with_reason short_item_with_write_off \
             substitute_item mark_picked stage record_count receive_delivery",
        ),
        (
            Who::Staff(Role::Desk),
            "check_in check_in_by_code hand_over stage",
        ),
        (Who::Staff(Role::Manager), "*"),
        // Deliberately narrower than before: a scanner sent what a picker
        // may, so also record_count and receive_delivery, which the device
        // docs never allowed (docs/topics.md); the stricter answer won.
        (
            Who::Device(DeviceKind::Scanner),
            "start_pick pick_item short_item short_item_with_reason short_item_with_write_off \
             substitute_item mark_picked stage",
        ),
        (
            Who::Device(DeviceKind::Locker),
            "stage hand_over report_locker_door",
        ),
        (Who::Device(DeviceKind::PickupScreen), ""),
        (
            Who::Device(DeviceKind::Kiosk),
            "create_order check_in check_in_by_code",
        ),
        (Who::Device(DeviceKind::Printer), ""),
        (Who::Device(DeviceKind::Gateway), ""),
        (Who::Device(DeviceKind::Till), "record_receipt"),
        (Who::Api, "*"),
        (
            Who::Cloud,
            "create_order create_order_with_policy confirm_payment cancel check_in \
             check_in_by_code count_stock adjust_stock import_catalog import_catalog_entries \
             set_store_open announce_delivery reconcile_snapshot set_safety_stock \
             request_availability",
        ),
        (Who::Cli, "*"),
    ];

    /// The principal a table column stands for.
    fn principal(who: Who) -> Principal {
        match who {
            Who::Staff(role) => Principal::Staff {
                id: "1001".into(),
                role,
            },
            Who::Device(kind) => Principal::Device {
                name: "d-1".into(),
                kind,
            },
            Who::Api => Principal::Api,
            Who::Cloud => Principal::Cloud,
            Who::Cli => Principal::Cli,
        }
    }

    /// Every (principal, command) pair answers as before, at the door
    /// every write passes; with the old words when it refuses.
    #[test]
    fn principal_may_answers_as_before() {
        let mut differ = vec![];
        for (who, allowed) in BEFORE {
            let allowed: Vec<&str> = allowed.split_whitespace().collect();
            let p = principal(*who);
            for c in samples() {
                let name = command_name(&c);
                let before = allowed == ["*"] || allowed.contains(&name.as_str());
                if p.may(&c).is_ok() != before {
                    differ.push(format!("{who:?} {name}: was {before}"));
                }
                if *who == Who::Api {
                    assert_eq!(Principal::ApiFor("ann".into()).may(&c).is_ok(), before);
                }
            }
        }
        assert!(differ.is_empty(), "{differ:#?}");
        let cancel = &samples()[3];
        let refused = |p: Principal| p.may(cancel).map_err(|e| e.0);
        assert_eq!(
            refused(principal(Who::Staff(Role::Picker))),
            Err("the picker role may not cancel: ask a manager".into())
        );
        assert_eq!(
            refused(principal(Who::Device(DeviceKind::Scanner))),
            Err("a scanner may not send cancel (docs/security.md lists what each kind of device may send)".into())
        );
        assert_eq!(
            principal(Who::Cloud).may(&samples()[5]).map_err(|e| e.0),
            Err(
                "the cloud may not send start_pick: it is a staff action (use the staff pages)"
                    .into()
            )
        );
    }
}
