//! Fulfillment: turns a processed order into a pick task in walking order.
use protocol::{Event, Location, PickLine, Zone};

use super::{Ctx, Decision, OrderState};

/// Reaction to OrderProcessed: a pick task with one line per order line,
/// sorted by shelf location (aisle, bay, shelf) so the picker walks the
/// store once. Location and zone come from the catalog at this moment.
pub fn on_processed(ctx: &Ctx) -> Decision {
    let Some(o) = ctx.order else {
        return Ok(vec![]);
    };
    if o.state != OrderState::Processed {
        return Ok(vec![]);
    }
    // Lines the store rejected (partial fulfilment) are not picked.
    let mut lines: Vec<PickLine> = o
        .lines_to_fill()
        .map(|(line_no, l)| {
            let item = ctx.view.item(&l.sku);
            PickLine {
                line_no,
                sku: l.sku.clone(),
                quantity: l.quantity,
                // An SKU dropped from the catalog since acceptance goes last.
                location: item.as_ref().map_or(
                    Location {
                        aisle: u16::MAX,
                        bay: u16::MAX,
                        shelf: u16::MAX,
                    },
                    |i| i.item.location,
                ),
                zone: item.map_or(Zone::Ambient, |i| i.item.zone),
            }
        })
        .collect();
    lines.sort_by(|a, b| (a.location, &a.sku, a.line_no).cmp(&(b.location, &b.sku, b.line_no)));
    Ok(vec![Event::ShipmentPrepared { lines }])
}

/// The coldest zone among lines: where the order must be staged.
pub fn coldest(lines: &[PickLine]) -> Zone {
    lines.iter().map(|l| l.zone).max().unwrap_or(Zone::Ambient)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::tests::{content, fold};
    use crate::domain::testing::Shelf;
    use protocol::{OrderLine, PaymentMode};

    #[test]
    fn pick_lines_walk_the_store_in_location_order() {
        let mut c = content();
        c.lines = ["FROZEN-PEAS", "BREAD", "MILK-1L"]
            .iter()
            .map(|s| OrderLine {
                sku: s.to_string(),
                quantity: 1,
                unit_price_cents: 1,
                substitution_allowed: false,
            })
            .collect();
        let o = fold(vec![
            Event::OrderCreated(c),
            Event::OrderAccepted,
            Event::OrderProcessed {
                payment: PaymentMode::Prepaid,
            },
        ])
        .expect("o");
        let shelf = Shelf::default()
            .with("FROZEN-PEAS", "73513537", 9, Zone::Frozen, 5)
            .with("BREAD", "4006381333931", 1, Zone::Ambient, 5)
            .with("MILK-1L", "036000291452", 4, Zone::Chilled, 5);
        let ctx = Ctx {
            order: Some(&o),
            view: &shelf,
            now_ms: 0,
        };
        let Ok(events) = on_processed(&ctx) else {
            panic!("decided")
        };
        let [Event::ShipmentPrepared { lines }] = events.as_slice() else {
            panic!("{events:?}")
        };
        let walk: Vec<(&str, u32)> = lines.iter().map(|l| (l.sku.as_str(), l.line_no)).collect();
        assert_eq!(walk, vec![("BREAD", 2), ("MILK-1L", 3), ("FROZEN-PEAS", 1)]);
        assert_eq!(coldest(lines), Zone::Frozen);
        // Not processed (yet, or any more): nothing to do.
        let created = fold(vec![Event::OrderCreated(content())]).expect("o");
        let ctx = Ctx {
            order: Some(&created),
            view: &shelf,
            now_ms: 0,
        };
        assert_eq!(on_processed(&ctx), Ok(vec![]));
    }
}
