//! Commands from any door (HTTP, device topics, cloud topic) become the same
//! write requests, decided by the same domain functions.
use protocol::{codec, Actor, Command, CommandReply, ReplyStatus};

use crate::domain;
use crate::store::writer::Decide;
use crate::store::{Dedup, WriteRequest, Written};

/// Most characters in a command id.
pub const MAX_COMMAND_ID: usize = 64;

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
pub fn decide(command: Command) -> Decide {
    match command {
        Command::CreateOrder { order_id, order } => {
            Box::new(move |o| domain::order::decide_create(o, &order_id, &order))
        }
        Command::MarkPicked { order_id, staff } => {
            Box::new(move |o| domain::warehouse::decide_mark_picked(o, order_id.as_str(), &staff))
        }
        Command::HandOver { order_id, staff } => {
            Box::new(move |o| domain::pickup::decide_hand_over(o, order_id.as_str(), &staff))
        }
    }
}

/// A command with an id from a device or the cloud: applied once per id.
pub fn request(scope: String, id: String, command: Command, actor: Actor) -> WriteRequest {
    WriteRequest {
        order_id: command.order_id().clone(),
        actor,
        causation: None,
        dedup: Dedup::Inbox {
            scope,
            id,
            fingerprint: codec::encode(&command),
        },
        decide: decide(command),
    }
}

/// The reply a sender gets for a durable outcome.
pub fn reply(id: &str, written: Written) -> CommandReply {
    let (status, reason, log_seqs) = match written {
        Written::Applied { log_seqs, .. } => (ReplyStatus::Accepted, None, log_seqs),
        Written::Rejected(r) => (ReplyStatus::Rejected, Some(r.to_string()), vec![]),
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
