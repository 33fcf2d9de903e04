//! The order service's rules and the order projection every service reads.
use std::fmt;

use protocol::{Envelope, Event, NewOrder, OrderId, PaymentMode, PickLine};
use serde::{Deserialize, Serialize};

use super::{Decision, Rejection};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Received, not yet checked.
    Created,
    /// Checked and taken on, awaiting payment confirmation.
    Accepted,
    /// Refused by the store.
    Rejected,
    /// Payment settled; waiting for a pick task.
    Processed,
    /// A pick task exists: ready to pick.
    Prepared,
    /// Picked and packed, waiting for the customer.
    Picked,
    /// Handed over to the customer.
    Fulfilled,
}

impl OrderState {
    pub const ALL: [OrderState; 7] = [
        OrderState::Created,
        OrderState::Accepted,
        OrderState::Rejected,
        OrderState::Processed,
        OrderState::Prepared,
        OrderState::Picked,
        OrderState::Fulfilled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OrderState::Created => "created",
            OrderState::Accepted => "accepted",
            OrderState::Rejected => "rejected",
            OrderState::Processed => "processed",
            OrderState::Prepared => "prepared",
            OrderState::Picked => "picked",
            OrderState::Fulfilled => "fulfilled",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = match self {
            OrderState::Created => "new",
            OrderState::Accepted => "accepted, awaiting payment",
            OrderState::Rejected => "rejected",
            OrderState::Processed => "paid, awaiting a pick task",
            OrderState::Prepared => "ready to pick",
            OrderState::Picked => "picked and packed",
            OrderState::Fulfilled => "already handed over",
        };
        f.write_str(words)
    }
}

/// The order projection: derived from the order's events by [`apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub state: OrderState,
    /// `order_seq` of the last applied event.
    pub last_seq: u64,
    /// `log_seq` of the OrderCreated event (stable answer to a repeated create).
    pub created_log_seq: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub content: NewOrder,
    pub pick_lines: Vec<PickLine>,
    pub reject_reason: Option<String>,
    pub picked_by: Option<String>,
    pub handed_over_by: Option<String>,
    /// `log_seq` of each of the order's events, in `order_seq` order: the
    /// order's timeline in the log.
    pub log_seqs: Vec<u64>,
}

/// Fold one event into the projection. Events of an order arrive in
/// `order_seq` order; an event that cannot start an order leaves `None`.
pub fn apply(order: Option<Order>, env: &Envelope) -> Option<Order> {
    let mut o = match (order, &env.event) {
        (None, Event::OrderCreated(content)) => {
            return Some(Order {
                id: env.order_id.clone(),
                state: OrderState::Created,
                last_seq: env.order_seq,
                created_log_seq: env.log_seq,
                created_ms: env.time_ms,
                updated_ms: env.time_ms,
                content: content.clone(),
                pick_lines: Vec::new(),
                reject_reason: None,
                picked_by: None,
                handed_over_by: None,
                log_seqs: vec![env.log_seq],
            })
        }
        (None, _) => return None,
        (Some(o), _) => o,
    };
    o.last_seq = env.order_seq;
    o.log_seqs.push(env.log_seq);
    o.updated_ms = env.time_ms;
    match &env.event {
        Event::OrderCreated(_) => {}
        Event::OrderAccepted => o.state = OrderState::Accepted,
        Event::OrderRejected { reason } => {
            o.state = OrderState::Rejected;
            o.reject_reason = Some(reason.clone());
        }
        Event::OrderProcessed { .. } => o.state = OrderState::Processed,
        Event::ShipmentPrepared { lines } => {
            o.state = OrderState::Prepared;
            o.pick_lines = lines.clone();
        }
        Event::ShipmentProcessed { picked_by } => {
            o.state = OrderState::Picked;
            o.picked_by = Some(picked_by.clone());
        }
        Event::OrderFulfilled { handed_over_by } => {
            o.state = OrderState::Fulfilled;
            o.handed_over_by = Some(handed_over_by.clone());
        }
    }
    Some(o)
}

/// Limits on a new order's content.
pub const MAX_LINES: usize = 200;
pub const MAX_QUANTITY: u32 = 999;
pub const MAX_NAME_CHARS: usize = 100;

/// Check a new order's content; the first problem names its field.
pub fn validate(content: &NewOrder) -> Result<(), Rejection> {
    let invalid = |field: String, reason: &str| Rejection::Invalid {
        field,
        reason: reason.to_string(),
    };
    let name = content.customer_name.trim();
    if name.is_empty() {
        return Err(invalid("customer_name".into(), "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            "customer_name".into(),
            "must be at most 100 characters",
        ));
    }
    if content.lines.is_empty() {
        return Err(invalid("lines".into(), "an order needs at least one line"));
    }
    if content.lines.len() > MAX_LINES {
        return Err(invalid(
            "lines".into(),
            "an order may have at most 200 lines",
        ));
    }
    for (i, line) in content.lines.iter().enumerate() {
        if line.sku.is_empty()
            || line.sku.len() > 64
            || !line
                .sku
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid(
                format!("lines[{i}].sku"),
                "must be 1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
        if line.quantity == 0 || line.quantity > MAX_QUANTITY {
            return Err(invalid(
                format!("lines[{i}].quantity"),
                "must be between 1 and 999",
            ));
        }
        if line.unit_price_cents < 0 {
            return Err(invalid(
                format!("lines[{i}].unit_price_cents"),
                "must not be negative",
            ));
        }
    }
    Ok(())
}

/// Decide a CreateOrder. Creation is idempotent on the order id: the same
/// content again is a no-op, different content is a conflict.
pub fn decide_create(existing: Option<&Order>, id: &OrderId, content: &NewOrder) -> Decision {
    validate(content)?;
    match existing {
        None => Ok(vec![Event::OrderCreated(content.clone())]),
        Some(o) if o.content == *content => Ok(vec![]),
        Some(_) => Err(Rejection::ConflictingOrder(id.to_string())),
    }
}

/// The order service's reaction to an OrderCreated: accept it and, for
/// orders paid at the desk or already authorised, process it.
pub fn on_created(order: Option<&Order>) -> Decision {
    let Some(o) = order else { return Ok(vec![]) };
    if o.state != OrderState::Created {
        return Ok(vec![]); // already reacted (or cancelled since)
    }
    if let Err(r) = validate(&o.content) {
        return Ok(vec![Event::OrderRejected {
            reason: r.to_string(),
        }]);
    }
    let payment = o.content.payment;
    // Foundation: prepaid orders arrive already authorised by the cloud
    // order service, so both modes are processed on acceptance.
    let processed = match payment {
        PaymentMode::Prepaid | PaymentMode::PayAtPickup => Event::OrderProcessed { payment },
    };
    Ok(vec![Event::OrderAccepted, processed])
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Actor, EventId, OrderLine, StoreId};

    pub(crate) fn content() -> NewOrder {
        NewOrder {
            customer_name: "Ada".into(),
            lines: vec![OrderLine {
                sku: "MILK-1L".into(),
                quantity: 2,
                unit_price_cents: 129,
                substitution_allowed: true,
            }],
            due_at_ms: None,
            payment: PaymentMode::Prepaid,
        }
    }

    fn env(seq: u64, event: Event) -> Envelope {
        Envelope {
            event_id: EventId::from_bytes([seq as u8; 16]),
            causation_id: None,
            store_id: StoreId::new("s").expect("valid"),
            order_id: OrderId::new("o1").expect("valid"),
            order_seq: seq,
            log_seq: seq + 10,
            time_ms: 1000 + seq,
            schema: 1,
            actor: Actor::Api,
            event,
        }
    }

    #[test]
    fn create_is_idempotent_on_id_and_content() {
        let id = OrderId::new("o1").expect("valid");
        let o = apply(None, &env(1, Event::OrderCreated(content()))).expect("created");
        let mut other = content();
        other.lines[0].quantity = 3;
        let rows: Vec<(Option<&Order>, NewOrder, Decision)> = vec![
            (None, content(), Ok(vec![Event::OrderCreated(content())])),
            (Some(&o), content(), Ok(vec![])),
            (
                Some(&o),
                other,
                Err(Rejection::ConflictingOrder("o1".into())),
            ),
        ];
        for (existing, c, want) in rows {
            assert_eq!(decide_create(existing, &id, &c), want);
        }
    }

    #[test]
    fn invalid_content_names_the_field() {
        let id = OrderId::new("o1").expect("valid");
        type Mutation = Box<dyn Fn(&mut NewOrder)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|c| c.customer_name = "  ".into()), "customer_name"),
            (Box::new(|c| c.lines.clear()), "lines"),
            (Box::new(|c| c.lines[0].quantity = 0), "lines[0].quantity"),
            (
                Box::new(|c| c.lines[0].quantity = 1000),
                "lines[0].quantity",
            ),
            (Box::new(|c| c.lines[0].sku = "a b".into()), "lines[0].sku"),
            (
                Box::new(|c| c.lines[0].unit_price_cents = -1),
                "lines[0].unit_price_cents",
            ),
        ];
        for (mutate, field) in cases {
            let mut c = content();
            mutate(&mut c);
            match decide_create(None, &id, &c) {
                Err(Rejection::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: got {other:?}"),
            }
        }
    }

    #[test]
    fn lifecycle_projection() {
        let mut o = apply(None, &env(1, Event::OrderCreated(content())));
        assert_eq!(on_created(o.as_ref()).expect("ok").len(), 2);
        for (seq, ev, state) in [
            (2, Event::OrderAccepted, OrderState::Accepted),
            (
                3,
                Event::OrderProcessed {
                    payment: PaymentMode::Prepaid,
                },
                OrderState::Processed,
            ),
            (
                4,
                Event::ShipmentPrepared { lines: vec![] },
                OrderState::Prepared,
            ),
            (
                5,
                Event::ShipmentProcessed {
                    picked_by: "p".into(),
                },
                OrderState::Picked,
            ),
            (
                6,
                Event::OrderFulfilled {
                    handed_over_by: "d".into(),
                },
                OrderState::Fulfilled,
            ),
        ] {
            o = apply(o, &env(seq, ev));
            let cur = o.as_ref().expect("exists");
            assert_eq!((cur.state, cur.last_seq), (state, seq));
        }
        // Reacting again after the fact produces nothing.
        assert_eq!(on_created(o.as_ref()), Ok(vec![]));
        assert_eq!(apply(None, &env(2, Event::OrderAccepted)), None);
    }
}
