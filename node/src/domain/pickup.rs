//! Pickup: the hand-over at the desk.
use protocol::Event;

use super::warehouse::check_staff;
use super::{Decision, Order, OrderState, Rejection};

/// Staff hand the order to the customer. Only a picked order can be handed
/// over; repeating a hand-over is a no-op.
pub fn decide_hand_over(order: Option<&Order>, id: &str, staff: &str) -> Decision {
    let o = order.ok_or_else(|| Rejection::UnknownOrder(id.to_string()))?;
    check_staff(staff)?;
    match o.state {
        OrderState::Picked => Ok(vec![Event::OrderFulfilled {
            handed_over_by: staff.to_string(),
        }]),
        OrderState::Fulfilled => Ok(vec![]),
        state => Err(Rejection::WrongState {
            action: "hand it over",
            state,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::warehouse::decide_mark_picked;
    use protocol::{NewOrder, OrderId, PaymentMode};

    fn order(state: OrderState) -> Order {
        Order {
            id: OrderId::new("o").expect("valid"),
            state,
            last_seq: 1,
            created_log_seq: 1,
            created_ms: 0,
            updated_ms: 0,
            content: NewOrder {
                customer_name: "A".into(),
                lines: vec![],
                due_at_ms: None,
                payment: PaymentMode::Prepaid,
            },
            pick_lines: vec![],
            reject_reason: None,
            picked_by: None,
            handed_over_by: None,
            log_seqs: vec![1],
        }
    }

    #[test]
    fn staff_actions_by_state() {
        use OrderState::*;
        // (state, mark picked gives events?, hand over gives events?, Err = rejected)
        // Ok(n): accepted with n events; Err(()): rejected.
        type Outcome = Result<usize, ()>;
        let rows: &[(OrderState, Outcome, Outcome)] = &[
            (Created, Err(()), Err(())),
            (Accepted, Err(()), Err(())),
            (Rejected, Err(()), Err(())),
            (Processed, Err(()), Err(())),
            (Prepared, Ok(1), Err(())),
            (Picked, Ok(0), Ok(1)),
            (Fulfilled, Ok(0), Ok(0)),
        ];
        for (state, picked, handed) in rows {
            let o = order(*state);
            let got = decide_mark_picked(Some(&o), "o", "ann")
                .map(|e| e.len())
                .map_err(|_| ());
            assert_eq!(got, *picked, "mark picked in {state:?}");
            let got = decide_hand_over(Some(&o), "o", "bob")
                .map(|e| e.len())
                .map_err(|_| ());
            assert_eq!(got, *handed, "hand over in {state:?}");
        }
        assert_eq!(
            decide_hand_over(None, "zz", "bob"),
            Err(Rejection::UnknownOrder("zz".into()))
        );
        assert!(matches!(
            decide_mark_picked(Some(&order(Prepared)), "o", " "),
            Err(Rejection::Invalid { .. })
        ));
        let msg = decide_hand_over(Some(&order(Prepared)), "o", "bob")
            .expect_err("not picked")
            .to_string();
        assert_eq!(msg, "cannot hand it over: the order is ready to pick");
    }
}
