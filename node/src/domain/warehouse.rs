//! Warehouse (picking): staff work the pick task.
use protocol::Event;

use super::{Decision, Order, OrderState, Rejection};

/// Staff report the order picked and packed.
///
/// Repeating it for an order already picked (or handed over) is a no-op, so
/// a retried request applies once.
pub fn decide_mark_picked(order: Option<&Order>, id: &str, staff: &str) -> Decision {
    let o = order.ok_or_else(|| Rejection::UnknownOrder(id.to_string()))?;
    check_staff(staff)?;
    match o.state {
        OrderState::Prepared => Ok(vec![Event::ShipmentProcessed {
            picked_by: staff.to_string(),
        }]),
        OrderState::Picked | OrderState::Fulfilled => Ok(vec![]),
        state => Err(Rejection::WrongState {
            action: "mark it picked",
            state,
        }),
    }
}

pub(crate) fn check_staff(staff: &str) -> Result<(), Rejection> {
    let s = staff.trim();
    if s.is_empty() || s.chars().count() > 64 {
        return Err(Rejection::Invalid {
            field: "staff".into(),
            reason: "must be 1 to 64 characters".into(),
        });
    }
    Ok(())
}
