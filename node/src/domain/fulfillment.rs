//! Fulfillment: turns a processed order into a pick task.
use protocol::{Event, PickLine};

use super::{Decision, Order, OrderState};

/// Reaction to OrderProcessed: a pick task with one line per order line,
/// in walking order. Until the catalog knows shelf locations, walking order
/// is SKU order (SKUs of one department share a prefix).
pub fn on_processed(order: Option<&Order>) -> Decision {
    let Some(o) = order else { return Ok(vec![]) };
    if o.state != OrderState::Processed {
        return Ok(vec![]);
    }
    let mut lines: Vec<PickLine> = o
        .content
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| PickLine {
            line_no: i as u32 + 1,
            sku: l.sku.clone(),
            quantity: l.quantity,
        })
        .collect();
    lines.sort_by(|a, b| a.sku.cmp(&b.sku).then(a.line_no.cmp(&b.line_no)));
    Ok(vec![Event::ShipmentPrepared { lines }])
}
