//! Commands: requests to change something, which the node may refuse.
//!
//! Every command carries an id chosen by the sender; the node applies a
//! command id once and answers a repeat with the first answer. A sender
//! retries until it gets a [`CommandReply`]: an MQTT PUBACK only means the
//! broker has the message in memory.
use serde::{Deserialize, Serialize};

use crate::event::NewOrder;
use crate::ids::OrderId;

/// What a device, the cloud or an API caller asks the node to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Take a new order (OrderCreated).
    CreateOrder { order_id: OrderId, order: NewOrder },
    /// Staff finished picking and packing the order (ShipmentProcessed).
    MarkPicked { order_id: OrderId, staff: String },
    /// Staff handed the order to the customer (OrderFulfilled).
    HandOver { order_id: OrderId, staff: String },
}

impl Command {
    pub fn order_id(&self) -> &OrderId {
        match self {
            Command::CreateOrder { order_id, .. }
            | Command::MarkPicked { order_id, .. }
            | Command::HandOver { order_id, .. } => order_id,
        }
    }
}

/// A command with the sender's id, as sent on a command topic.
///
/// `id` is the sender's idempotency key: 1 to 64 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandEnvelope {
    pub id: String,
    pub command: Command,
}

/// The outcome of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStatus {
    /// Applied and durable (its events are flushed to disk).
    Accepted,
    /// Understood but refused by a business rule; nothing changed.
    Rejected,
    /// Not understood (malformed); nothing changed.
    Invalid,
}

/// The node's answer to a command, sent only after the outcome is durable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandReply {
    /// The command's id; empty if the command was too malformed to have one.
    pub id: String,
    pub status: ReplyStatus,
    /// Why it was rejected or invalid, in words a store manager understands.
    /// (Always present, `null` when accepted: postcard cannot skip fields.)
    #[serde(default)]
    pub reason: Option<String>,
    /// The log sequence numbers of the events the command produced.
    #[serde(default)]
    pub log_seqs: Vec<u64>,
}
