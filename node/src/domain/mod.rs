//! Business rules as pure functions: (state, command or event) → events or
//! a typed rejection. No I/O, no tokio, no clock: callers pass time in.
//!
//! One module per service: `order` (intake), `fulfillment`, `warehouse`
//! (picking), `pickup` (hand-over), `notification`.
pub mod fulfillment;
pub mod notification;
pub mod order;
pub mod pickup;
pub mod warehouse;

pub use order::{Order, OrderState};

use protocol::Event;

/// A refusal a user can cause, in words a store manager understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("order {0} is not known in this store")]
    UnknownOrder(String),
    #[error("cannot {action}: the order is {state}")]
    WrongState {
        action: &'static str,
        state: OrderState,
    },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("order {0} already exists with different content")]
    ConflictingOrder(String),
}

/// What a decision produces: events to append, or nothing to do.
pub type Decision = Result<Vec<Event>, Rejection>;
