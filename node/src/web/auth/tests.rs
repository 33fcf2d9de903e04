use protocol::Role;

use super::*;

#[test]
fn lockout_after_five_then_doubling() {
    let l = Lockouts::default();
    let k = LockKey::Staff("1003".into());
    let t0 = 1_000_000;
    for i in 0..4 {
        assert_eq!(l.fail(k.clone(), t0 + i), None, "failure {i}");
    }
    let until = l.fail(k.clone(), t0 + 4).expect("fifth failure locks");
    assert_eq!(until, t0 + 4 + 60_000);
    assert_eq!(l.locked(&k, t0 + 5), Some(until));
    assert_eq!(l.locked(&k, until), None, "over after a minute");
    for i in 0..4 {
        assert_eq!(l.fail(k.clone(), until + i), None);
    }
    let again = l.fail(k.clone(), until + 4).expect("locks again");
    assert_eq!(again, until + 4 + 120_000, "twice as long");
    // An address tolerates more (a shared tablet).
    let a = LockKey::Address("10.0.0.7".parse().expect("ip"));
    for i in 0..9 {
        assert_eq!(l.fail(a.clone(), t0 + i), None);
    }
    assert!(l.fail(a.clone(), t0 + 9).is_some());
    assert_eq!(l.locked_count(t0 + 10), 2);
    assert!(l.unlock(&a));
    assert_eq!(l.locked(&a, t0 + 10), None);
}

#[test]
fn a_session_ends_when_idle_old_disabled_or_repinned() {
    let member = StaffMember {
        id: "1003".into(),
        name: "Ann".into(),
        role: Role::Picker,
        pin_hash: String::new(),
        enabled: true,
        pin_epoch: 2,
        added_ms: 0,
        changed_ms: 0,
    };
    let r = SessionRecord {
        staff_id: "1003".into(),
        pin_epoch: 2,
        csrf: String::new(),
        created_ms: 1_000,
        seen_ms: 5_000,
    };
    let (idle, max) = (10_000, 100_000);
    let ok = |r: &SessionRecord, m: &StaffMember, now| session_valid(r, Some(m), now, idle, max);
    assert!(ok(&r, &member, 14_999));
    assert!(!ok(&r, &member, 15_000), "idle too long");
    let busy = SessionRecord {
        seen_ms: 95_000,
        ..r.clone()
    };
    assert!(!ok(&busy, &member, 101_000), "past its absolute lifetime");
    assert!(
        !ok(
            &r,
            &StaffMember {
                enabled: false,
                ..member.clone()
            },
            6_000
        ),
        "disabled"
    );
    assert!(
        !ok(
            &r,
            &StaffMember {
                pin_epoch: 3,
                ..member.clone()
            },
            6_000
        ),
        "new PIN"
    );
    assert!(!session_valid(&r, None, 6_000, idle, max), "account gone");
}

#[test]
fn origin_must_be_this_host() {
    let h = |pairs: &[(&'static str, &'static str)]| {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    };
    let host = ("host", "10.0.0.2:8080");
    assert!(same_origin(&h(&[host, ("origin", "http://10.0.0.2:8080")])));
    assert!(same_origin(&h(&[
        host,
        ("referer", "http://10.0.0.2:8080/pick")
    ])));
    assert!(!same_origin(&h(&[host, ("origin", "http://evil.example")])));
    assert!(!same_origin(&h(&[
        host,
        ("origin", "http://10.0.0.2:8080.evil")
    ])));
    assert!(!same_origin(&h(&[host, ("origin", "null")])));
    assert!(!same_origin(&h(&[host])), "neither Origin nor Referer");
}

#[test]
fn cookie_token_is_found_among_others() {
    let mut m = HeaderMap::new();
    m.insert(
        header::COOKIE,
        HeaderValue::from_static("a=1; sn_session=tok_en-1; b=2"),
    );
    assert_eq!(cookie_token(&m), Some("tok_en-1"));
    m.insert(header::COOKIE, HeaderValue::from_static("sn_session="));
    assert_eq!(cookie_token(&m), None);
}

/// Every route group answers each principal as the `require` call
/// sites did before the permission table: the role each named (a
/// manager passing every check), the API token every API route, and
/// nobody else.
#[test]
fn route_groups_answer_as_before() {
    use crate::domain::permissions::Routes;
    use crate::web::pages::Staff;
    let before = |r: Routes| match r {
        Routes::PickPages | Routes::CountPages => Role::Picker,
        Routes::DeskPages | Routes::PickupLookup => Role::Desk,
        Routes::StockChangePages
        | Routes::OrderOverridePages
        | Routes::ManagerPages
        | Routes::StockFeeds
        | Routes::Administration => Role::Manager,
    };
    let api_route = |r: Routes| {
        matches!(
            r,
            Routes::PickupLookup | Routes::StockFeeds | Routes::Administration
        )
    };
    let session = |role| Session {
        token_hash: [0; 32],
        record: SessionRecord {
            staff_id: "1003".into(),
            pin_epoch: 0,
            csrf: String::new(),
            created_ms: 0,
            seen_ms: 0,
        },
        member: StaffMember {
            id: "1003".into(),
            name: "Ann".into(),
            role,
            pin_hash: String::new(),
            enabled: true,
            pin_epoch: 0,
            added_ms: 0,
            changed_ms: 0,
        },
    };
    for r in crate::domain::permissions::Routes::ALL {
        for role in Role::ALL {
            let was = role == before(r) || role == Role::Manager;
            let staff = Staff(session(role));
            assert_eq!(staff.may_open(r), was, "{role:?} {r:?}");
            if api_route(r) {
                assert_eq!(staff.caller().require(r).is_ok(), was, "{role:?} {r:?}");
            }
        }
        let token = Caller {
            principal: Principal::Api,
            session: None,
        };
        assert_eq!(token.require(r).is_ok(), api_route(r), "token {r:?}");
    }
    let picker = Staff(session(Role::Picker)).caller();
    assert_eq!(
        picker
            .require(Routes::Administration)
            .map_err(|e| e.to_string()),
        Err(
            AppError::Forbidden("this needs the manager role; you are logged in as picker".into())
                .to_string()
        )
    );
}
