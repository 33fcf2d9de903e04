//! Commands from any door (HTTP, device topics, cloud topic) become the same
//! write requests, decided by the same domain functions.
use std::sync::Arc;

use protocol::{codec, Actor, Command, CommandReply, ReplyStatus};

use crate::domain::{self, pickup::PickupKeys, OrderState};
use crate::store::writer::Decide;
use crate::store::{Dedup, Store, WriteRequest, Written};

/// Most characters in a command id.
pub const MAX_COMMAND_ID: usize = 64;

/// What the rules need besides state: the pickup keys.
#[derive(Clone)]
pub struct Rules {
    pub keys: Arc<PickupKeys>,
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

/// The decision a command needs.
fn decide(command: Command, rules: &Rules) -> Decide {
    use domain::{inventory, order, pickup, warehouse};
    let keys = rules.keys.clone();
    match command {
        Command::CreateOrder { order_id, order } => {
            Box::new(move |c| order::decide_create(c.order, &order_id, &order))
        }
        Command::ConfirmPayment { order_id } => Box::new(move |c| {
            known(c, &order_id)?;
            order::decide_confirm_payment(c, &keys)
        }),
        Command::Cancel {
            order_id,
            reason,
            by,
        } => Box::new(move |c| order::decide_cancel(c.order, &order_id, &reason, &by)),
        Command::StartPick {
            order_id,
            staff,
            walk_id,
            tote,
        } => Box::new(move |c| {
            known(c, &order_id)?;
            warehouse::decide_start_pick(c, walk_id.as_deref(), tote, &staff)
        }),
        Command::PickItem {
            order_id,
            line_no,
            barcode,
            quantity,
            staff,
        } => Box::new(move |c| {
            known(c, &order_id)?;
            warehouse::decide_pick_item(c, line_no, &barcode, quantity, &staff)
        }),
        Command::ShortItem {
            order_id,
            line_no,
            found,
            staff,
        } => Box::new(move |c| {
            known(c, &order_id)?;
            warehouse::decide_short(c, line_no, found, &staff)
        }),
        Command::SubstituteItem {
            order_id,
            line_no,
            barcode,
            quantity,
            staff,
        } => Box::new(move |c| {
            known(c, &order_id)?;
            warehouse::decide_substitute(c, line_no, &barcode, quantity, &staff)
        }),
        Command::MarkPicked { order_id, staff } => Box::new(move |c| {
            known(c, &order_id)?;
            warehouse::decide_mark_picked(c, &staff)
        }),
        Command::Stage {
            order_id,
            slot,
            staff,
        } => Box::new(move |c| {
            known(c, &order_id)?;
            pickup::decide_stage(c, &keys, &slot, &staff)
        }),
        Command::CheckIn {
            order_id,
            channel,
            note,
        } => Box::new(move |c| {
            known(c, &order_id)?;
            pickup::decide_check_in(c, channel, note.as_deref())
        }),
        Command::HandOver {
            order_id,
            staff,
            code,
            id_checked,
        } => Box::new(move |c| {
            known(c, &order_id)?;
            pickup::decide_hand_over(c, &keys, &staff, &code, id_checked)
        }),
        Command::CountStock { counts, staff } => {
            Box::new(move |c| inventory::decide_count(c, &counts, &staff))
        }
        Command::AdjustStock {
            sku,
            delta,
            reason,
            staff,
        } => Box::new(move |c| inventory::decide_adjust(c, &sku, delta, &reason, &staff)),
        Command::ImportCatalog { items, stock } => {
            Box::new(move |c| inventory::decide_import(c, &items, &stock))
        }
        Command::SetStoreOpen {
            open,
            reason,
            staff,
        } => Box::new(move |c| inventory::decide_set_open(c, open, &reason, &staff)),
        // Reaches a decision only when `resolve` found no order for it.
        Command::CheckInByCode { code, .. } => {
            Box::new(move |_| Err(domain::Rejection::UnknownCode(code.trim().to_string())))
        }
        Command::ReportLockerDoor { compartment, open } => {
            Box::new(move |c| pickup::decide_locker_door(c, &compartment, open))
        }
    }
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

/// The one way a command from any door becomes a write: the door's
/// allowance, the audit actor, the resend key (`resend`: scope and sender
/// id, matched against the command *as sent*, so a retry is recognised even
/// after a pickup code was looked up), the code lookup, the locker rule
/// for devices, and the decision. `Err` names why the door may not send it.
pub fn prepare(
    command: Command,
    door: Actor,
    resend: Option<(String, String)>,
    rules: &Rules,
    store: &Store,
) -> Result<WriteRequest, String> {
    allowed(&command, &door)?;
    let dedup = match resend {
        Some((scope, id)) => Dedup::Inbox {
            scope,
            id,
            fingerprint: codec::encode(&command),
        },
        None => Dedup::None,
    };
    let command = resolve(command, store, rules);
    let actor = actor(&command, door);
    let locker_only =
        matches!(actor, Actor::Device(_)) && matches!(command, Command::HandOver { .. });
    let stream = command.stream();
    let inner = decide(command, rules);
    let decide: Decide = if locker_only {
        // A device hands over only what waits in a locker (the locker
        // checks the customer's code); everything else goes over the desk.
        Box::new(move |c| {
            let in_locker = c.order.is_none_or(|o| {
                o.state != OrderState::Ready
                    || o.slot
                        .as_ref()
                        .is_some_and(|s| s.kind == protocol::SlotKind::Locker)
            });
            if in_locker {
                inner(c)
            } else {
                Err(domain::Rejection::Pickup(
                    "a device may hand over only orders waiting in a locker; hand it over at the desk"
                        .into(),
                ))
            }
        })
    } else {
        inner
    };
    Ok(WriteRequest {
        order_id: stream,
        actor,
        causation: None,
        dedup,
        decide,
    })
}

/// Who did it, for the audit trail: the staff member a command names, else
/// the door it came through.
fn actor(command: &Command, door: Actor) -> Actor {
    match command {
        // Only the staff API records the staff member a command names
        // (until staff logins exist it is the caller's claim, made with the
        // store's API token). A device or the cloud stays itself: its login
        // is what the node can vouch for; the name is in the event.
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
        | Command::Cancel { by: staff, .. }
            if matches!(door, Actor::Api) =>
        {
            Actor::Staff(staff.clone())
        }
        _ => door,
    }
}

/// Which commands each door may send. The store broker cannot tell devices
/// apart per topic (rumqttd has no ACLs), so the rules themselves limit
/// what a device login can do: shop-floor devices pick, stage, check in
/// and report doors, and hand over only what sits in a locker; the cloud
/// creates, confirms, cancels and manages stock, but does not pick or hand
/// over. The staff API may do everything.
fn allowed(command: &Command, door: &Actor) -> Result<(), String> {
    let device_may = matches!(
        command,
        Command::CreateOrder { .. }
            | Command::StartPick { .. }
            | Command::PickItem { .. }
            | Command::ShortItem { .. }
            | Command::SubstituteItem { .. }
            | Command::MarkPicked { .. }
            | Command::Stage { .. }
            | Command::CheckIn { .. }
            | Command::CheckInByCode { .. }
            | Command::HandOver { .. }
            | Command::ReportLockerDoor { .. }
    );
    let cloud_may = matches!(
        command,
        Command::CreateOrder { .. }
            | Command::ConfirmPayment { .. }
            | Command::Cancel { .. }
            | Command::CheckIn { .. }
            | Command::CheckInByCode { .. }
            | Command::CountStock { .. }
            | Command::AdjustStock { .. }
            | Command::ImportCatalog { .. }
            | Command::SetStoreOpen { .. }
    );
    let (ok, who) = match door {
        Actor::Device(_) => (device_may, "a device"),
        Actor::Cloud => (cloud_may, "the cloud"),
        _ => (true, ""),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{who} may not send {}: it is a staff action (use the staff API)",
            command_name(command)
        ))
    }
}

/// The command's name as in JSON.
pub fn command_name(command: &Command) -> String {
    serde_json::to_value(command)
        .ok()
        .and_then(|v| v.as_object().and_then(|o| o.keys().next().cloned()))
        .unwrap_or_else(|| "this command".into())
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
