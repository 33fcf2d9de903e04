//! Hand-over: a picked order is staged, waits ready for pickup with its
//! code, the customer checks in and staff hand it over, or it expires.
use protocol::pickup as token;
use protocol::{ArrivalChannel, Event, PickupProof, SlotKind, StagingSlot, Zone};

use super::fulfillment::coldest;
use super::order::Order;
use super::pickup::PickupKeys;
use super::staff::check_staff;
use super::{Ctx, Decision, OrderState, Rejection, StoreView};

/// Where an order of this temperature may wait.
fn slot_fits(zone: Zone, kind: SlotKind) -> bool {
    match zone {
        Zone::Frozen => kind == SlotKind::Freezer,
        Zone::Chilled => kind == SlotKind::ColdStorage,
        Zone::Ambient => true,
    }
}

/// The zone of what was actually taken (a substitute may differ).
fn staged_zone(view: &dyn StoreView, o: &Order) -> Zone {
    let sub_zones = o
        .progress
        .iter()
        .filter_map(|p| p.substitute.as_ref())
        .filter_map(|s| view.item(&s.sku).map(|i| i.item.zone));
    let lines: Vec<_> = o
        .pick_lines
        .iter()
        .zip(&o.progress)
        .filter(|(_, p)| p.picked > 0)
        .map(|(l, _)| l.clone())
        .collect();
    sub_zones.fold(coldest(&lines), Zone::max)
}

/// The kinds of staging slot a picked order may go to: where what was
/// taken stays cold enough (lockers hold ambient orders only).
pub fn suitable_slots(view: &dyn StoreView, o: &Order) -> Vec<SlotKind> {
    let zone = staged_zone(view, o);
    [
        SlotKind::Shelf,
        SlotKind::ColdStorage,
        SlotKind::Freezer,
        SlotKind::Locker,
    ]
    .into_iter()
    .filter(|k| slot_fits(zone, *k))
    .collect()
}

/// Whether the hand-over needs an ID check: something taken is
/// age-restricted.
pub fn needs_id_check(view: &dyn StoreView, o: &Order) -> bool {
    o.taken()
        .iter()
        .any(|q| view.item(&q.sku).is_some_and(|i| i.item.age_restricted))
}

/// Put the picked order on a staging slot; it becomes ready for pickup
/// with its code. Chilled and frozen orders must go where they stay cold.
pub fn decide_stage(ctx: &Ctx, keys: &PickupKeys, slot: &StagingSlot, staff: &str) -> Decision {
    let o = ctx
        .order
        .ok_or_else(|| Rejection::UnknownOrder("(unknown)".into()))?;
    check_staff(staff)?;
    let id = slot.id.trim();
    if id.is_empty() || id.chars().count() > 20 {
        return Err(Rejection::Invalid {
            field: "slot.id".into(),
            reason: "must be 1 to 20 characters (shelf, cold room place or locker number)".into(),
        });
    }
    match o.state {
        OrderState::Picked => {}
        OrderState::Staged | OrderState::Ready if o.slot.as_ref() == Some(slot) => {
            return Ok(vec![])
        }
        OrderState::Staged | OrderState::Ready => {} // moved to another slot
        state => {
            return Err(Rejection::WrongState {
                action: "stage it",
                state,
            })
        }
    }
    let zone = staged_zone(ctx.view, o);
    if !slot_fits(zone, slot.kind) {
        return Err(Rejection::StagingTooWarm { zone });
    }
    let (code, t) = match (&o.pickup_code, &o.pickup_token, &o.content.pickup_token) {
        (Some(c), Some(t), _) => (c.clone(), t.clone()),
        (_, _, Some(hq)) => {
            let claim = token::peek(hq).map_err(|e| Rejection::Pickup(e.to_string()))?;
            (claim.code, hq.clone())
        }
        _ => keys.issue(&o.id, ctx.now_ms),
    };
    Ok(vec![
        Event::OrderStaged {
            slot: StagingSlot {
                kind: slot.kind,
                id: id.to_string(),
            },
            by: staff.to_string(),
        },
        Event::ReadyForPickup { code, token: t },
    ])
}

/// The customer checked in (desk, kiosk or curbside).
pub fn decide_check_in(ctx: &Ctx, channel: ArrivalChannel, note: Option<&str>) -> Decision {
    let o = ctx
        .order
        .ok_or_else(|| Rejection::UnknownOrder("(unknown)".into()))?;
    if note.is_some_and(|n| n.chars().count() > 100) {
        return Err(Rejection::Invalid {
            field: "note".into(),
            reason: "must be at most 100 characters".into(),
        });
    }
    if o.state.is_closed() {
        return Err(Rejection::WrongState {
            action: "check in for it",
            state: o.state,
        });
    }
    if o.arrival
        .as_ref()
        .is_some_and(|a| a.channel == channel && a.note.as_deref() == note)
    {
        return Ok(vec![]);
    }
    Ok(vec![Event::CustomerArrived {
        channel,
        note: note.map(str::to_string),
    }])
}

/// Hand the order over, with proof: the short code or a verified token;
/// an ID check for age-restricted items. A repeat is a no-op.
pub fn decide_hand_over(
    ctx: &Ctx,
    keys: &PickupKeys,
    staff: &str,
    code: &str,
    id_checked: bool,
) -> Decision {
    let o = ctx
        .order
        .ok_or_else(|| Rejection::UnknownOrder("(unknown)".into()))?;
    check_staff(staff)?;
    let done = match o.state {
        OrderState::Ready => false,
        // A repeat is a no-op, but only with a code that fits the order.
        OrderState::Fulfilled => true,
        state => {
            return Err(Rejection::WrongState {
                action: "hand it over",
                state,
            })
        }
    };
    let code = code.trim();
    let proof = if token::is_token(code) {
        keys.check(code, &o.id)
            .map_err(|e| Rejection::Pickup(e.to_string()))?;
        PickupProof::SignedToken
    } else if o
        .pickup_code
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case(code))
    {
        PickupProof::Code
    } else {
        return Err(Rejection::CodeMismatch);
    };
    if done {
        return Ok(vec![]);
    }
    if needs_id_check(ctx.view, o) && !id_checked {
        return Err(Rejection::IdCheckNeeded);
    }
    Ok(vec![Event::OrderFulfilled {
        handed_over_by: staff.to_string(),
        proof,
        id_checked,
    }])
}

/// A locker's report of a compartment door (kept for the audit trail:
/// who opened what, when).
pub fn decide_locker_door(_ctx: &Ctx, compartment: &str, open: bool) -> Decision {
    let c = compartment.trim();
    if c.is_empty() || c.chars().count() > 20 {
        return Err(Rejection::Invalid {
            field: "compartment".into(),
            reason: "must be 1 to 20 characters".into(),
        });
    }
    Ok(vec![Event::LockerDoorReported {
        compartment: c.to_string(),
        open,
    }])
}

/// How long a checked-in customer's order is kept past its expiry.
pub const ARRIVAL_GRACE_MS: u64 = 2 * 60 * 60 * 1000;

/// Pickup timers: a reminder `remind_before_ms` before expiry, then expiry
/// `expiry_ms` after the order became ready (its items go back to stock).
pub fn on_clock(o: &Order, now_ms: u64, expiry_ms: u64, remind_before_ms: u64) -> Vec<Event> {
    let (OrderState::Ready, Some(ready)) = (o.state, o.ready_ms) else {
        return vec![];
    };
    // A customer who has checked in is on the way to the desk: the order
    // waits at least ARRIVAL_GRACE_MS after the check-in.
    let arrived = o
        .arrival
        .as_ref()
        .map_or(0, |a| a.at_ms.saturating_add(ARRIVAL_GRACE_MS));
    let expires = ready.saturating_add(expiry_ms).max(arrived);
    if now_ms >= expires {
        let mut out = vec![Event::PickupExpired];
        let items = o.taken();
        if !items.is_empty() {
            out.push(Event::Restocked {
                items,
                reason: "pickup expired: take it off the staging slot and put it back".into(),
            });
        }
        return out;
    }
    // A reminder only makes sense with time left to act on it.
    let remind = remind_before_ms > 0 && remind_before_ms < expiry_ms;
    if remind && !o.reminded && now_ms >= expires.saturating_sub(remind_before_ms) {
        return vec![Event::PickupReminded {
            expires_at_ms: expires,
        }];
    }
    vec![]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::apply;
    use crate::domain::order::tests::{content, env, fold, keys, picked_units, to_pick_list};
    use crate::domain::testing::Shelf;
    use protocol::pickup::PickupClaim;
    use protocol::StoreId;

    fn picked(zone: Zone) -> Order {
        let mut events = to_pick_list(zone);
        events.push(picked_units(2));
        events.push(Event::ShipmentProcessed {
            picked_by: "p".into(),
        });
        fold(events).expect("o")
    }

    fn slot(kind: SlotKind) -> StagingSlot {
        StagingSlot {
            kind,
            id: "7".into(),
        }
    }

    fn ready(o: Order, shelf: &Shelf, kind: SlotKind) -> Order {
        let ctx = Ctx {
            order: Some(&o),
            view: shelf,
            now_ms: 5_000,
        };
        let events = decide_stage(&ctx, &keys(), &slot(kind), "sam").expect("staged");
        events
            .into_iter()
            .enumerate()
            .try_fold(o, |o, (i, e)| apply(Some(o), &env(50 + i as u64, e)))
            .expect("o")
    }

    #[test]
    fn staging_follows_the_temperature() {
        let shelf = Shelf::default();
        // (zone of the items, slot, allowed)
        let rows = [
            (Zone::Ambient, SlotKind::Shelf, true),
            (Zone::Ambient, SlotKind::Locker, true),
            (Zone::Chilled, SlotKind::Shelf, false),
            (Zone::Chilled, SlotKind::Locker, false),
            (Zone::Chilled, SlotKind::ColdStorage, true),
            (Zone::Frozen, SlotKind::ColdStorage, false),
            (Zone::Frozen, SlotKind::Freezer, true),
        ];
        for (zone, kind, ok) in rows {
            let o = picked(zone);
            let ctx = Ctx {
                order: Some(&o),
                view: &shelf,
                now_ms: 1,
            };
            let got = decide_stage(&ctx, &keys(), &slot(kind), "sam");
            assert_eq!(got.is_ok(), ok, "{zone:?} on {kind:?}: {got:?}");
        }
        // Not picked yet: refused.
        let o = fold(vec![Event::OrderCreated(content())]).expect("o");
        let ctx = Ctx {
            order: Some(&o),
            view: &shelf,
            now_ms: 1,
        };
        assert!(matches!(
            decide_stage(&ctx, &keys(), &slot(SlotKind::Shelf), "sam"),
            Err(Rejection::WrongState { .. })
        ));
    }

    #[test]
    fn hand_over_needs_the_code_or_a_valid_token() {
        let shelf = Shelf::default();
        let o = ready(picked(Zone::Ambient), &shelf, SlotKind::Shelf);
        assert_eq!(o.state, OrderState::Ready);
        let code = o.pickup_code.clone().expect("code");
        let tok = o.pickup_token.clone().expect("token");
        assert_eq!(code.len(), 6);
        let foreign = token::sign(
            &ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
            &PickupClaim {
                store_id: StoreId::new("elsewhere").expect("valid"),
                order_id: o.id.clone(),
                code: "AAAAAA".into(),
                issued_ms: 1,
            },
        );
        // Someone edits the claim (here: the code) and keeps the signature.
        let tampered = {
            let mut claim = token::peek(&tok).expect("readable");
            claim.code = "AAAAAA".into();
            let forged = token::sign(&ed25519_dalek::SigningKey::from_bytes(&[9; 32]), &claim);
            let mut parts: Vec<&str> = forged.split('.').collect();
            parts[2] = tok.rsplit('.').next().expect("signature");
            parts.join(".")
        };
        let ctx = Ctx {
            order: Some(&o),
            view: &shelf,
            now_ms: 9,
        };
        let rows: Vec<(&str, String, Result<PickupProof, &str>)> = vec![
            ("short code", code.to_lowercase(), Ok(PickupProof::Code)),
            ("signed token", tok.clone(), Ok(PickupProof::SignedToken)),
            (
                "wrong code",
                "ZZZZZZ".into(),
                Err("pickup code does not match this order"),
            ),
            (
                "tampered token",
                tampered,
                Err(
                    "pickup code signature does not verify (tampered, or signed by an unknown key)",
                ),
            ),
            (
                "other store's token",
                foreign,
                Err("pickup code is for store elsewhere, not this one"),
            ),
        ];
        for (name, given, want) in rows {
            let got = decide_hand_over(&ctx, &keys(), "dee", &given, false);
            match (got, want) {
                (Ok(events), Ok(proof)) => assert!(
                    matches!(events.as_slice(), [Event::OrderFulfilled { proof: p, .. }] if *p == proof),
                    "{name}: {events:?}"
                ),
                (Err(r), Err(msg)) => assert_eq!(r.to_string(), msg, "{name}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn age_restricted_needs_an_id_check() {
        let mut shelf = Shelf::default().with("MILK-1L", "73513537", 1, Zone::Ambient, 5);
        if let Some(i) = shelf.items.get_mut("MILK-1L") {
            i.item.age_restricted = true;
        }
        let o = ready(picked(Zone::Ambient), &shelf, SlotKind::Shelf);
        let code = o.pickup_code.clone().expect("code");
        let ctx = Ctx {
            order: Some(&o),
            view: &shelf,
            now_ms: 9,
        };
        assert!(matches!(
            decide_hand_over(&ctx, &keys(), "dee", &code, false),
            Err(Rejection::IdCheckNeeded)
        ));
        assert!(decide_hand_over(&ctx, &keys(), "dee", &code, true).is_ok());
    }

    #[test]
    fn reminder_then_expiry_with_restock() {
        let shelf = Shelf::default();
        let o = ready(picked(Zone::Ambient), &shelf, SlotKind::Shelf);
        let ready_at = o.ready_ms.expect("ready");
        let (expiry, remind) = (1_000, 300);
        assert_eq!(on_clock(&o, ready_at + 600, expiry, remind), vec![]);
        assert_eq!(
            on_clock(&o, ready_at + 700, expiry, remind),
            vec![Event::PickupReminded {
                expires_at_ms: ready_at + 1_000
            }]
        );
        let expired = on_clock(&o, ready_at + 1_000, expiry, remind);
        assert!(
            matches!(expired.as_slice(), [Event::PickupExpired, Event::Restocked { items, .. }] if items[0].quantity == 2)
        );
        // A customer who checked in just before expiry is not turned away.
        let mut here = o.clone();
        here.arrival = Some(crate::domain::order::Arrival {
            channel: ArrivalChannel::Kiosk,
            note: None,
            at_ms: ready_at + 990,
        });
        assert!(!matches!(
            on_clock(&here, ready_at + 1_000, expiry, remind).first(),
            Some(Event::PickupExpired)
        ));
        assert!(matches!(
            on_clock(&here, ready_at + 990 + ARRIVAL_GRACE_MS, expiry, remind).first(),
            Some(Event::PickupExpired)
        ));
        // A fulfilled order never expires.
        let ctx = Ctx {
            order: Some(&o),
            view: &shelf,
            now_ms: 9,
        };
        let code = o.pickup_code.clone().expect("code");
        let done = decide_hand_over(&ctx, &keys(), "dee", &code, false).expect("ok");
        let o = apply(Some(o), &env(80, done[0].clone())).expect("o");
        assert_eq!(on_clock(&o, u64::MAX, expiry, remind), vec![]);
        // Handing over again is a no-op with the right code, refused with a
        // wrong one.
        let ctx = Ctx {
            order: Some(&o),
            view: &shelf,
            now_ms: 9,
        };
        assert_eq!(
            decide_hand_over(&ctx, &keys(), "dee", &code, false),
            Ok(vec![])
        );
        assert!(decide_hand_over(&ctx, &keys(), "dee", "ZZZZZZ", false).is_err());
    }
}
