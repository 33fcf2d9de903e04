//! The staff pages in a real headless Chromium (Debian's, driven by
//! Debian's chromium-driver), against the real node on ephemeral ports:
//! the picker's walk, the desk, the manager, the refusals, accessibility
//! (axe-core) and screenshots of every page at 360 and 1280 px.
//!
//! `STORENODE_SCREENSHOTS=docs/screenshots cargo nextest run -p
//! storenode-tests web::every_page` refreshes the README's pictures.
use std::time::Duration;

use serde_json::{json, Value};
use storenode_tests::browser::{Browser, DESKTOP, PHONE};
use storenode_tests::{test_barcode, Node, Opts};

const ENTER: &str = "\u{E007}";

/// A new-order body; lines are (SKU number, quantity, substitutes allowed).
fn order(id: &str, customer: &str, lines: &[(usize, u32, bool)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(n, q, subst)| {
            json!({ "sku": format!("SKU-{n:03}"), "quantity": q,
                    "unit_price_cents": 100 + *n as i64, "substitution_allowed": subst })
        })
        .collect();
    json!({ "order_id": id, "customer_name": customer, "lines": lines, "payment": "prepaid",
            "due_at_ms": storenode_tests::due_in_a_week() })
}

async fn create(node: &Node, body: &Value) {
    let (status, v) = node.post("/api/v1/orders", body).await.unwrap();
    assert_eq!(status, 201, "{v}");
}

async fn order_json(node: &Node, id: &str) -> Value {
    let (status, v) = node.get(&format!("/api/v1/orders/{id}")).await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

/// The session cookie the browser holds.
async fn session_cookie(b: &Browser) -> String {
    let cookies = b.client.get_all_cookies().await.unwrap();
    let c = cookies
        .iter()
        .find(|c| c.name() == "sn_session")
        .expect("logged in");
    format!("sn_session={}", c.value())
}

/// A wine SKU that needs an ID check, added to the test catalog.
async fn add_wine(node: &Node) -> String {
    let barcode = storenode_tests::ean13(300_000_000_001);
    let rows = json!([{ "sku": "WINE-1", "name": "Red wine", "barcodes": [barcode],
        "aisle": 20, "bay": 1, "shelf": 1, "zone": "ambient", "unit_price_cents": 899,
        "age_restricted": true, "on_hand": 100 }]);
    let (status, v) = node.post("/api/v1/catalog/import", &rows).await.unwrap();
    assert_eq!(status, 200, "{v}");
    barcode
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picker_sees_new_orders_live_scans_shorts_substitutes_and_stages() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let (id, pin) = node.add_staff("Pat Picker", "picker").await.unwrap();
    let b = Browser::start(&node.url(""), PHONE).await.unwrap();
    b.login(&id, &pin).await.unwrap();
    b.wait_path("/pick", 15).await.unwrap();
    b.wait_text("#queue-empty", "Nothing to pick", 15)
        .await
        .unwrap();
    // A marker that a reload would wipe: the order must come without one.
    b.js("window.__stayed = 1", vec![]).await.unwrap();
    create(
        &node,
        &order(
            "LIVE-1",
            "Grace Hopper",
            &[(31, 2, true), (12, 1, false), (20, 2, true)],
        ),
    )
    .await;
    b.wait_text("#queue li", "LIVE-1", 10).await.unwrap();
    assert_eq!(
        b.js("return window.__stayed", vec![]).await.unwrap(),
        json!(1),
        "no reload"
    );
    b.wait_text("#queue-count", "1 waiting", 15).await.unwrap();
    // Another order, taken by someone else (here through the API): it
    // comes and goes without a reload.
    create(&node, &order("OTHER-1", "Alan Turing", &[(40, 1, false)])).await;
    b.wait_text("#queue li", "OTHER-1", 15).await.unwrap();
    b.wait_text("#queue-count", "2 waiting", 15).await.unwrap();
    let (status, v) = node
        .post(
            "/api/v1/orders/OTHER-1/start-pick",
            &json!({ "staff": "someone" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    b.wait_gone("#q-OTHER-1", 15).await.unwrap();
    b.wait_text("#queue-count", "1 waiting", 15).await.unwrap();
    assert_eq!(
        b.js("return window.__stayed", vec![]).await.unwrap(),
        json!(1),
        "still no reload"
    );

    b.click("#q-LIVE-1 button[name=order_id]").await.unwrap();
    b.wait_path("/pick/order/LIVE-1", 15).await.unwrap();
    assert_eq!(
        b.focused_id().await.unwrap(),
        "scan",
        "the scan field has focus"
    );
    // Walking order: line 2 (aisle 2) first.
    let first = b.wait_text("#tab-open li", "", 15).await.unwrap();
    assert!(first.contains("SKU-012"), "{first}");

    // A wrong barcode, typed like a scanner (keys + Enter), is refused.
    b.type_focused(&format!("{}{ENTER}", test_barcode(50)))
        .await
        .unwrap();
    let refused = b
        .wait_text("#result .result.bad", "Wrong item", 15)
        .await
        .unwrap();
    assert!(refused.contains("SKU-050"), "{refused}");
    // The right one picks line 2; the field keeps focus for the next.
    b.type_focused(&format!("{}{ENTER}", test_barcode(12)))
        .await
        .unwrap();
    b.wait_text("#result .result.ok", "1 of 1", 15)
        .await
        .unwrap();
    assert_eq!(b.focused_id().await.unwrap(), "scan");
    b.screenshot("pick-walk").await.unwrap();

    // Short line 1 in two taps: "Short", then the count found.
    b.click("#line-LIVE-1-1 details.short summary")
        .await
        .unwrap();
    b.click("#line-LIVE-1-1 button[name=found][value='1']")
        .await
        .unwrap();
    b.wait_text("#result .result.ok", "Line 1 settled", 15)
        .await
        .unwrap();
    // Substitute line 3: open the panel, scan the substitute.
    b.click("#line-LIVE-1-3 details.subst summary")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.focused_id().await.unwrap(), "sub-LIVE-1-3");
    b.type_focused(&format!("{}{ENTER}", test_barcode(21)))
        .await
        .unwrap();
    b.wait_text("#result .result.ok", "substituted", 15)
        .await
        .unwrap();

    // Every line settled: stage it. Only slots that suit the order show.
    b.wait_text("#stage-LIVE-1", "Pickup shelf", 15)
        .await
        .unwrap();
    b.type_into("#slot-LIVE-1", "A7").await.unwrap();
    b.click("#stage-LIVE-1 button[type=submit]").await.unwrap();
    b.wait_text("#result .result.ok", "staged", 15)
        .await
        .unwrap();
    b.wait_text(".done-all", "A7", 15).await.unwrap();
    b.screenshot("pick-walk-done").await.unwrap();

    let v = order_json(&node, "LIVE-1").await;
    assert_eq!(v["order"]["state"], "ready", "{v}");
    assert_eq!(v["order"]["picker"], id.as_str());
    // The logged-in picker is the actor of every step the page caused.
    let staff_events: Vec<&Value> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"]["staff"] == id.as_str())
        .collect();
    let kinds: Vec<String> = staff_events
        .iter()
        .map(|e| {
            e["event"].as_object().map_or_else(
                || e["event"].to_string(),
                |o| o.keys().next().unwrap().clone(),
            )
        })
        .collect();
    for k in [
        "pick_started",
        "item_picked",
        "item_shorted_with_reason",
        "item_substituted",
        "order_staged",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} by the picker: {kinds:?}");
    }
    b.close().await;
}

/// A refresh that was on its way while the picker opened a panel must not
/// close it under their thumb (CI once lost a "Short" tap to one). The
/// page's region fetches are slowed so the race is hit every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_refresh_never_closes_a_panel_the_picker_opened() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let (id, pin) = node.add_staff("Pat Picker", "picker").await.unwrap();
    create(
        &node,
        &order("PANEL-1", "Ada", &[(31, 2, true), (12, 1, false)]),
    )
    .await;
    let b = Browser::start(&node.url(""), PHONE).await.unwrap();
    b.login(&id, &pin).await.unwrap();
    b.wait_text("#queue li", "PANEL-1", 15).await.unwrap();
    b.click("#q-PANEL-1 button[name=order_id]").await.unwrap();
    b.wait_path("/pick/order/PANEL-1", 15).await.unwrap();
    b.js(
        "window.__regionFetches = 0;
         var f = window.fetch;
         window.fetch = function (u, o) {
           if (o && o.headers && o.headers['X-Requested-With'] === 'region') {
             window.__regionFetches++;
             return new Promise(function (r) { setTimeout(r, 1500); }).then(function () { return f(u, o); });
           }
           return f(u, o);
         };",
        vec![],
    )
    .await
    .unwrap();
    // Someone else picks line 2 (through the API): the page hears of it
    // and starts a refresh.
    let (status, v) = node
        .post(
            "/api/v1/orders/PANEL-1/lines/2/pick",
            &json!({ "barcode": test_barcode(12), "staff": "someone" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    let mut started = false;
    for _ in 0..100 {
        if b.js("return window.__regionFetches", vec![]).await.unwrap() != json!(0) {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started, "the page never asked for a refresh");
    // While it is on its way, the picker opens "Short" on line 1.
    b.click("#line-PANEL-1-1 details.short summary")
        .await
        .unwrap();
    // The refresh lands (1.5 s) and is put off: the panel stays open.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        b.js(
            "return !!document.querySelector('#line-PANEL-1-1 details.short[open]')",
            vec![]
        )
        .await
        .unwrap(),
        json!(true),
        "the panel was closed by a refresh"
    );
    b.click("#line-PANEL-1-1 button[name=found][value='1']")
        .await
        .unwrap();
    b.wait_text("#result .result.ok", "Line 1 settled", 15)
        .await
        .unwrap();
    // With the panel closed, the page catches up with line 2: every
    // line is settled, so it offers staging.
    b.wait_text("#stage-PANEL-1", "Pickup shelf", 15)
        .await
        .unwrap();
    let v = order_json(&node, "PANEL-1").await;
    assert_eq!(v["order"]["state"], "picked", "{v}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_walk_of_three_orders() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let (id, pin) = node.add_staff("Pat Picker", "picker").await.unwrap();
    // SKU-005 is in all three orders: one stop, three totes.
    for (n, lines) in [
        ("B-1", vec![(5, 1, false), (40, 1, false)]),
        ("B-2", vec![(5, 2, false)]),
        ("B-3", vec![(5, 1, false), (61, 1, false)]),
    ] {
        create(&node, &order(n, "Batch Customer", &lines)).await;
    }
    for n in ["B-1", "B-2", "B-3"] {
        node.wait_state(n, "prepared", 10).await.unwrap();
    }
    let b = Browser::start(&node.url(""), DESKTOP).await.unwrap();
    b.login(&id, &pin).await.unwrap();
    b.wait_path("/pick", 15).await.unwrap();
    for n in ["B-1", "B-2", "B-3"] {
        b.wait_text("#queue li", n, 15).await.unwrap();
        b.click(&format!("#q-{n} input[type=checkbox]"))
            .await
            .unwrap();
    }
    b.wait_text("#start-batch", "3 orders", 15).await.unwrap();
    b.screenshot("pick-queue-batch").await.unwrap();
    b.click("#start-batch").await.unwrap();
    let path = b.wait_path("/pick/walk/", 15).await.unwrap();
    b.wait_text("h1", "3 orders", 15).await.unwrap();
    b.wait_text("#tab-open", "Tote 3", 15).await.unwrap();
    // Scan every unit; each scan says which tote.
    let scans = [(5, 4), (40, 1), (61, 1)];
    for (n, times) in scans {
        for _ in 0..times {
            b.type_into("#scan", &format!("{}{ENTER}", test_barcode(n)))
                .await
                .unwrap();
            b.wait_text("#result .result.ok", "tote", 15).await.unwrap();
            // Wait for the answer to land before the next scan is judged.
            b.js("document.getElementById('result').textContent = ''", vec![])
                .await
                .unwrap();
        }
    }
    b.wait_text("#tab-open", "All lines are done", 10)
        .await
        .unwrap();
    for n in ["B-1", "B-2", "B-3"] {
        b.type_into(&format!("#slot-{n}"), &format!("S-{n}"))
            .await
            .unwrap();
        b.click(&format!("#stage-{n} button[type=submit]"))
            .await
            .unwrap();
        b.wait_text("#result .result.ok", n, 15).await.unwrap();
    }
    b.wait_text(".done-all", "Everything is staged", 15)
        .await
        .unwrap();
    for (n, tote) in [("B-1", 1), ("B-2", 2), ("B-3", 3)] {
        let v = order_json(&node, n).await;
        assert_eq!(v["order"]["state"], "ready", "{n}: {v}");
        assert_eq!(v["order"]["tote"], tote, "{n}");
        assert_eq!(
            v["order"]["walk_id"].as_str(),
            path.strip_prefix("/pick/walk/")
        );
    }
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desk_finds_by_code_qr_and_name_refuses_a_wrong_code_and_checks_id() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let wine = add_wine(&node).await;
    let _ = wine;
    let (id, pin) = node.add_staff("Dee Desk", "desk").await.unwrap();
    create(&node, &order("D-1", "Ada Lovelace", &[(3, 1, false)])).await;
    let code = node.make_ready("D-1").await.unwrap();
    let wine_order = json!({ "order_id": "D-2", "customer_name": "Wanda Winelover", "payment": "prepaid",
        "lines": [{ "sku": "WINE-1", "quantity": 1, "unit_price_cents": 899 }] });
    create(&node, &wine_order).await;
    node.make_ready("D-2").await.unwrap();
    let token = order_json(&node, "D-2").await["order"]["pickup_token"]
        .as_str()
        .unwrap()
        .to_string();

    let b = Browser::start(&node.url(""), PHONE).await.unwrap();
    b.login(&id, &pin).await.unwrap();
    b.wait_path("/desk", 15).await.unwrap();
    // By code (lower case, as a customer may read it out).
    b.type_into("#q", &format!("{}{ENTER}", code.to_lowercase()))
        .await
        .unwrap();
    b.wait_text("#card-D-1 .status-big", "READY", 15)
        .await
        .unwrap();
    b.wait_text("#card-D-1", "Pickup code matches", 15)
        .await
        .unwrap();
    b.screenshot("desk-ready").await.unwrap();
    b.click("#card-D-1 form.hand-over button[type=submit]")
        .await
        .unwrap();
    b.wait_text("#result .result.ok", "D-1 handed over", 15)
        .await
        .unwrap();
    assert_eq!(
        order_json(&node, "D-1").await["order"]["state"],
        "fulfilled"
    );
    // The same search now says it is collected.
    b.goto("/desk?q=D-1").await.unwrap();
    b.wait_text("#card-D-1 .status-big", "ALREADY COLLECTED", 15)
        .await
        .unwrap();

    // By name; a wrong code is refused.
    b.goto("/desk").await.unwrap();
    b.type_into("#q", &format!("winelover{ENTER}"))
        .await
        .unwrap();
    b.wait_text("#card-D-2", "Age-restricted", 15)
        .await
        .unwrap();
    b.type_into("#code-D-2", "ZZZZZZ").await.unwrap();
    b.click("#card-D-2 input[name=id_checked]").await.unwrap();
    b.click("#card-D-2 form.hand-over button[type=submit]")
        .await
        .unwrap();
    b.wait_text("#result .result.bad", "does not match", 15)
        .await
        .unwrap();
    assert_eq!(order_json(&node, "D-2").await["order"]["state"], "ready");

    // A scanned QR token finds the order and is the proof; the ID step.
    b.goto("/desk").await.unwrap();
    b.type_into("#q", &format!("{token}{ENTER}")).await.unwrap();
    b.wait_text("#card-D-2", "QR code verified", 15)
        .await
        .unwrap();
    b.click("#card-D-2 input[name=id_checked]").await.unwrap();
    b.click("#card-D-2 form.hand-over button[type=submit]")
        .await
        .unwrap();
    b.wait_text("#result .result.ok", "D-2 handed over", 15)
        .await
        .unwrap();
    let v = order_json(&node, "D-2").await;
    assert_eq!(v["order"]["handed_over"]["id_checked"], true, "{v}");
    assert_eq!(v["order"]["handed_over"]["proof"], "signed_token");
    assert_eq!(v["order"]["handed_over"]["by"], id.as_str());

    // A customer who checks in at the kiosk appears without a reload.
    create(&node, &order("D-3", "Katherine Johnson", &[(7, 1, false)])).await;
    let code3 = node.make_ready("D-3").await.unwrap();
    b.wait_text("#waiting-empty", "Nobody is waiting", 15)
        .await
        .unwrap();
    b.js("window.__stayed = 1", vec![]).await.unwrap();
    let (status, v) = node
        .post(
            &format!("/api/v1/pickup/{code3}/check-in"),
            &json!({ "channel": "kiosk" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    let row = b
        .wait_text("#waiting li", "Katherine Johnson", 10)
        .await
        .unwrap();
    assert!(
        row.contains("at the kiosk") && row.contains("waiting"),
        "{row}"
    );
    assert_eq!(
        b.js("return window.__stayed", vec![]).await.unwrap(),
        json!(1),
        "no reload"
    );
    b.screenshot("desk-waiting").await.unwrap();
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_sees_the_day_adds_a_picker_who_logs_in_then_disables_them() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let (mid, mpin) = node.add_staff("Maria Manager", "manager").await.unwrap();
    // An order shorted, picked, staged and handed over (through the API).
    create(
        &node,
        &order("M-1", "Alan Turing", &[(44, 2, false), (45, 1, false)]),
    )
    .await;
    node.wait_state("M-1", "prepared", 10).await.unwrap();
    let (status, v) = node
        .post(
            "/api/v1/orders/M-1/lines/1/short",
            &json!({ "found": 1, "reason": "damaged" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    let code = node.make_ready("M-1").await.unwrap();
    let (status, v) = node
        .post("/api/v1/orders/M-1/handed-over", &json!({ "code": code }))
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");

    let m = Browser::start(&node.url(""), DESKTOP).await.unwrap();
    m.login(&mid, &mpin).await.unwrap();
    m.wait_path("/manager", 15).await.unwrap();
    m.wait_text("#today-states", "collected", 15).await.unwrap();
    let exc = m.wait_text("#exceptions", "SKU-044", 15).await.unwrap();
    assert!(exc.contains("1 of 2") && exc.contains("Damaged"), "{exc}");
    m.screenshot("manager").await.unwrap();

    // Add a picker: the PIN is shown once.
    m.goto("/manager/staff").await.unwrap();
    m.type_into("#new-name", "Nia New").await.unwrap();
    m.click("#staff-add button[type=submit]").await.unwrap();
    let added = m.wait_text("#result .result.ok", "PIN", 15).await.unwrap();
    let pin = added
        .split("PIN: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_string();
    let nid = added
        .split("as staff ")
        .nth(1)
        .and_then(|r| r.split('.').next())
        .unwrap()
        .to_string();
    m.screenshot("manager-staff").await.unwrap();
    let p = Browser::start(&node.url(""), PHONE).await.unwrap();
    p.login(&nid, &pin).await.unwrap();
    p.wait_path("/pick", 15).await.unwrap();
    let cookie = session_cookie(&p).await;

    // Disable them: their open page is logged out at once, by itself.
    m.goto("/manager/staff").await.unwrap();
    m.click(&format!("#staff-{nid} input[value=disable] ~ button"))
        .await
        .unwrap();
    m.wait_text("#result .result.ok", "disabled", 15)
        .await
        .unwrap();
    p.wait_path("/login", 15).await.unwrap();
    // And the cookie they had opens nothing.
    assert_eq!(get_status(&node, "/pick", &cookie).await, 303);
    // The audit log shows who did it.
    m.goto("/manager/audit?kind=staff_disabled").await.unwrap();
    let row = m
        .wait_text("#audit tbody tr", &format!("Staff {nid} disabled"), 15)
        .await
        .unwrap();
    assert!(row.contains("Maria Manager"), "{row}");
    p.close().await;
    m.close().await;
}

/// A manager registers a locker on the Devices page, takes its bundle (the
/// only time the key is shown), and removes it again; both are in the
/// audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_adds_a_locker_takes_its_bundle_and_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let (mid, mpin) = node.add_staff("Maria Manager", "manager").await.unwrap();
    let m = Browser::start(&node.url(""), DESKTOP).await.unwrap();
    m.login(&mid, &mpin).await.unwrap();
    m.wait_path("/manager", 15).await.unwrap();
    m.goto("/manager/devices").await.unwrap();
    m.type_into("#dev-name", "locker-7").await.unwrap();
    m.js(
        "document.getElementById('dev-kind').value = 'locker';",
        vec![],
    )
    .await
    .unwrap();
    m.type_into("#dev-comps", "1-12").await.unwrap();
    m.click("form[action='/manager/devices/add'] button[type=submit]")
        .await
        .unwrap();
    let shown = m.wait_text("[role=status]", "password", 15).await.unwrap();
    let href = m
        .js(
            "return document.getElementById('bundle-download').getAttribute('href');",
            vec![],
        )
        .await
        .unwrap();
    let b64 = href
        .as_str()
        .unwrap()
        .strip_prefix("data:application/x-pem-file;base64,")
        .unwrap()
        .to_string();
    use base64::Engine as _;
    let bundle = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(storenode_tests::pem_blocks(&bundle).len(), 3, "{bundle}");
    let password = shown
        .split("password: ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .unwrap()
        .to_string();
    assert!(
        bundle.contains(&password),
        "the bundle carries the password"
    );
    m.screenshot("manager-device-added").await.unwrap();
    let (_, v) = node.get("/api/v1/devices").await.unwrap();
    let d = &v["devices"][0];
    assert_eq!(
        (d["name"].as_str(), d["kind"].as_str()),
        (Some("locker-7"), Some("locker")),
        "{v}"
    );
    assert_eq!(d["compartments"].as_array().unwrap().len(), 12, "{v}");

    m.goto("/manager/devices").await.unwrap();
    m.wait_text("#device-list", "locker-7", 15).await.unwrap();
    m.click("#device-list form button[type=submit]")
        .await
        .unwrap();
    m.wait_text("body", "removed", 15).await.unwrap();
    let (_, v) = node.get("/api/v1/devices").await.unwrap();
    assert_eq!(v["devices"].as_array().unwrap().len(), 0, "{v}");
    m.goto("/manager/audit").await.unwrap();
    let audit = m
        .wait_text("#audit tbody", "Device locker-7 removed", 15)
        .await
        .unwrap();
    assert!(audit.contains("Device locker-7 added (locker)"), "{audit}");
    assert!(audit.contains("Maria Manager"), "{audit}");
    m.close().await;
}

/// An HTTP client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Get `path` with `cookie`; the status (redirects not followed).
async fn get_status(node: &Node, path: &str, cookie: &str) -> u16 {
    no_redirects()
        .get(node.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Post a form as a browser would, with `cookie` and maybe an `Origin`;
/// the status (redirects not followed).
async fn post_form(url: &str, cookie: &str, origin: Option<&str>, body: String) -> u16 {
    let mut r = no_redirects()
        .post(url)
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(o) = origin {
        r = r.header("origin", o);
    }
    r.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_role_csrf_origin_lockout_and_a_logged_out_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let (pid, ppin) = node.add_staff("Pat Picker", "picker").await.unwrap();
    let (mid, mpin) = node.add_staff("Maria Manager", "manager").await.unwrap();
    create(&node, &order("R-1", "Barbara Liskov", &[(9, 1, false)])).await;
    node.wait_state("R-1", "prepared", 10).await.unwrap();
    let head = node.head().await.unwrap();
    let origin = format!("http://{}", node.http);

    let p = Browser::start(&node.url(""), PHONE).await.unwrap();
    p.login(&pid, &ppin).await.unwrap();
    p.wait_path("/pick", 15).await.unwrap();
    // A manager page, refused on the server.
    p.goto("/manager").await.unwrap();
    p.wait_text("body", "needs the manager role", 15)
        .await
        .unwrap();
    p.goto("/pick").await.unwrap();
    // A manager action posted from the picker's page, with its CSRF token.
    let status = p
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const t = document.querySelector('meta[name=csrf]').content;
             Promise.all([
               fetch('/manager/open', { method: 'POST',
                 headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-requested-with': 'fetch' },
                 body: '_csrf=' + t + '&open=false&reason=test' }),
               fetch('/api/v1/store/open', { method: 'POST',
                 headers: { 'content-type': 'application/json', 'x-csrf-token': t },
                 body: JSON.stringify({ open: false, reason: 'test' }) }),
             ]).then(r => done(r.map(x => x.status)), e => done(String(e)));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, json!([403, 403]), "role refusals");
    let cookie = session_cookie(&p).await;
    let csrf = p
        .js(
            "return document.querySelector('meta[name=csrf]').content",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    let url = node.url("/pick/claim");
    let claim = |token: Option<&str>| match token {
        Some(t) => format!("order_id=R-1&_csrf={t}"),
        None => "order_id=R-1".to_string(),
    };
    let cases = [
        ("no CSRF token", claim(None), Some(origin.as_str())),
        (
            "a wrong token",
            claim(Some("0123abcd")),
            Some(origin.as_str()),
        ),
        (
            "another origin",
            claim(Some(&csrf)),
            Some("http://evil.example"),
        ),
        ("no origin at all", claim(Some(&csrf)), None),
    ];
    for (what, body, from) in cases {
        assert_eq!(post_form(&url, &cookie, from, body).await, 403, "{what}");
    }
    assert_eq!(node.head().await.unwrap(), head, "nothing changed");
    assert!(
        node.metric("storenode_csrf_refused_total", "")
            .await
            .unwrap()
            >= 4.0
    );
    let ok = post_form(&url, &cookie, Some(&origin), claim(Some(&csrf))).await;
    assert_eq!(ok, 303, "the real thing works");
    node.wait_state("R-1", "picking", 5).await.unwrap();

    // Log out: the old cookie is useless.
    p.goto("/pick").await.unwrap();
    p.click("header form[action='/logout'] button")
        .await
        .unwrap();
    p.wait_path("/login", 15).await.unwrap();
    let to_login = get_status(&node, "/pick/order/R-1", &cookie).await;
    assert_eq!(to_login, 303, "redirected to the login");
    assert_eq!(get_status(&node, "/api/v1/orders/R-1", &cookie).await, 401);

    // Six wrong PINs lock the account (the sixth is not even tried): the
    // same words as for an unknown id, until the lock.
    let wrong = if ppin == "000000" { "111111" } else { "000000" };
    let mut answers = Vec::new();
    for _ in 0..6 {
        p.login(&pid, wrong).await.unwrap();
        answers.push(p.wait_text("#login-problem", "", 10).await.unwrap());
    }
    assert!(
        answers[..4].iter().all(|a| a.contains("not right")),
        "{answers:?}"
    );
    assert!(
        answers[4].contains("Too many") && answers[5].contains("Too many"),
        "{answers:?}"
    );
    p.login("9999", wrong).await.unwrap();
    assert!(p
        .wait_text("#login-problem", "", 10)
        .await
        .unwrap()
        .contains("not right"));
    p.login(&pid, &ppin).await.unwrap();
    assert!(
        p.wait_text("#login-problem", "", 10)
            .await
            .unwrap()
            .contains("Too many"),
        "even the right PIN waits out the lock"
    );
    assert!(
        node.metric("storenode_staff_lockouts_total", "by=\"staff\"")
            .await
            .unwrap()
            >= 1.0
    );

    // The manager sees it, and lifts it.
    let m = Browser::start(&node.url(""), DESKTOP).await.unwrap();
    m.login(&mid, &mpin).await.unwrap();
    m.wait_path("/manager", 15).await.unwrap();
    let lock = m
        .wait_text("#lockouts", &format!("Staff {pid}"), 15)
        .await
        .unwrap();
    assert!(lock.contains("locked until"), "{lock}");
    m.goto("/manager/staff").await.unwrap();
    m.click("#lockouts form button").await.unwrap();
    m.wait_text("#result .result.ok", "Unlocked", 15)
        .await
        .unwrap();
    p.login(&pid, &ppin).await.unwrap();
    p.wait_path("/pick", 15).await.unwrap();
    p.close().await;
    m.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_lost_the_node_says_so_and_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let opts = Opts {
        http_port: Some(port),
        ..Opts::default()
    };
    let mut node = Node::start_with(dir.path(), opts.clone()).await.unwrap();
    let (id, pin) = node.add_staff("Pat Picker", "picker").await.unwrap();
    let b = Browser::start(&node.url(""), PHONE).await.unwrap();
    b.login(&id, &pin).await.unwrap();
    b.wait_path("/pick", 15).await.unwrap();
    b.wait_gone("#conn:not([hidden])", 15).await.unwrap();
    node.terminate().await.unwrap();
    b.wait_text("#conn:not([hidden])", "reconnecting", 10)
        .await
        .unwrap();
    b.screenshot("pick-offline").await.unwrap();
    // Back on the same address with the same data: the session survived
    // the restart, the page reconnects and is live again.
    let node = Node::start_with(dir.path(), opts).await.unwrap();
    b.wait_gone("#conn:not([hidden])", 15).await.unwrap();
    create(
        &node,
        &order("AGAIN-1", "Edsger Dijkstra", &[(1, 1, false)]),
    )
    .await;
    b.wait_text("#queue li", "AGAIN-1", 10).await.unwrap();
    b.close().await;
}

/// Every page, at 360 and 1280 px: no serious or critical axe-core
/// violation, and a screenshot for the docs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_accessible_and_photographed() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let (mid, mpin) = node.add_staff("Maria Manager", "manager").await.unwrap();
    let _ = node.add_staff("Pat Picker", "picker").await.unwrap();
    let _ = node.add_device("locker-1", "locker").await.unwrap();
    add_wine(&node).await;
    create(
        &node,
        &order(
            "P-1",
            "Ada Lovelace",
            &[(2, 2, true), (30, 1, false), (55, 3, true)],
        ),
    )
    .await;
    create(&node, &order("P-2", "Grace Hopper", &[(4, 1, false)])).await;
    create(&node, &order("P-3", "Alan Turing", &[(6, 1, false)])).await;
    node.make_ready("P-3").await.unwrap();
    node.post(
        "/api/v1/orders/P-3/check-in",
        &json!({ "channel": "curbside", "note": "bay 4, blue van" }),
    )
    .await
    .unwrap();
    node.wait_state("P-1", "prepared", 10).await.unwrap();
    let (status, v) = node
        .post("/api/v1/orders/P-1/start-pick", &json!({}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    // A count to do, one waiting for approval (8 found where 1000000 was
    // expected, twice).
    node.post("/api/v1/count-tasks", &json!({"sku": "SKU-010"}))
        .await
        .unwrap();
    let (_, v) = node
        .post("/api/v1/count-tasks", &json!({"sku": "SKU-011"}))
        .await
        .unwrap();
    let t = v["task"]["task_id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        node.post(
            &format!("/api/v1/count-tasks/{t}/count"),
            &json!({"counted": 8}),
        )
        .await
        .unwrap();
    }
    let pages = [
        ("pick-queue", "/pick"),
        ("pick-walk-order", "/pick/order/P-1"),
        ("desk", "/desk?q=P-3"),
        ("order", "/orders/P-1"),
        ("stock", "/stock?q=SKU-00"),
        ("counts", "/counts"),
        ("manager-overview", "/manager"),
        ("manager-staff-list", "/manager/staff"),
        ("manager-devices", "/manager/devices"),
        ("manager-settings", "/manager/settings"),
        ("manager-audit", "/manager/audit"),
    ];
    let mut problems = Vec::new();
    for size in [PHONE, DESKTOP] {
        let b = Browser::start(&node.url(""), size).await.unwrap();
        b.goto("/login").await.unwrap();
        b.wait_text("h1", "Log in", 15).await.unwrap();
        for v in b.axe().await.unwrap() {
            problems.push(format!("login @{}: {v}", size.0));
        }
        b.screenshot("login").await.unwrap();
        b.login(&mid, &mpin).await.unwrap();
        b.wait_path("/manager", 15).await.unwrap();
        for (name, path) in pages {
            b.goto(path).await.unwrap();
            b.wait_text("h1", "", 15).await.unwrap();
            for v in b.axe().await.unwrap() {
                problems.push(format!("{path} @{}: {v}", size.0));
            }
            b.screenshot(name).await.unwrap();
        }
        b.close().await;
    }
    assert!(
        problems.is_empty(),
        "accessibility violations:\n{}",
        problems.join("\n")
    );
}

/// The pages in the configured language (German here), and a chain's own
/// texts laid over it; without a browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_speak_the_configured_language_and_the_chains_words() {
    let dir = tempfile::tempdir().unwrap();
    let texts = dir.path().join("texts.toml");
    std::fs::write(
        &texts,
        "[login]\nhelp = \"Keine Anmeldung? Filialleitung im Büro 2 fragen.\"\n",
    )
    .unwrap();
    let opts = Opts {
        env: vec![
            ("STORENODE_WEB_LANGUAGE".into(), "de".into()),
            ("STORENODE_WEB_MESSAGES".into(), texts.display().to_string()),
        ],
        ..Opts::default()
    };
    let node = Node::start_with(&dir.path().join("node"), opts)
        .await
        .unwrap();
    let page = reqwest::get(node.url("/login"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("lang=\"de\""), "{page}");
    assert!(
        page.contains("Personalnummer") && page.contains(">Anmelden<"),
        "{page}"
    );
    assert!(page.contains("Büro 2"), "the chain's text: {page}");
    // A wrong PIN, in German.
    let (id, _) = node.add_staff("Anna", "picker").await.unwrap();
    let refused = reqwest::Client::new()
        .post(node.url("/login"))
        .header("origin", format!("http://{}", node.http))
        .form(&[("staff_id", id.as_str()), ("pin", "000000"), ("next", "")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        refused.contains("Personalnummer oder PIN stimmt nicht"),
        "{refused}"
    );
}

/// Run `storenode` with `args` on `dir`; (exit code, stdout, stderr).
fn cli(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(storenode_tests::binary())
        .arg("--data-dir")
        .arg(dir)
        .args(["--store-id", "test-store"])
        .args(args)
        .env_remove("STORENODE_DATA_DIR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Log in through the form over plain HTTP; the status and where to.
async fn form_login(node: &Node, id: &str, pin: &str) -> (u16, String) {
    let resp = node.form_login(id, pin).await.unwrap();
    let to = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (resp.status().as_u16(), to)
}

/// The first manager comes from the command line, with the node stopped;
/// the PIN it prints logs in; the command refuses while the node runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_manager_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = cli(
        dir.path(),
        &["staff", "add", "Maria Manager", "--role", "manager"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_default()
            .to_string()
    };
    let (id, pin) = (field("staff id:"), field("PIN:"));
    assert_eq!(id, "1001", "{out}");
    assert_eq!(pin.len(), 6, "{out}");
    let (code, out, _) = cli(dir.path(), &["staff", "add", "Pat", "--role", "boss"]);
    assert_ne!(code, 0, "{out}");
    let (code, list, _) = cli(dir.path(), &["staff", "list"]);
    assert_eq!(code, 0);
    assert!(
        list.contains("1001") && list.contains("manager") && list.contains("Maria Manager"),
        "{list}"
    );
    // The pickup key and the staff secret are made with mode 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("staff-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let node = Node::start(dir.path()).await.unwrap();
    assert_eq!(
        form_login(&node, &id, &pin).await,
        (303, "/manager".to_string())
    );
    let (code, _, err) = cli(dir.path(), &["staff", "add", "Late", "--role", "picker"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("in use by another process") && err.contains("Staff page"),
        "{err}"
    );
    // The audit trail says the command line made the account.
    let (_, v) = node.get("/api/v1/audit?kind=staff_added").await.unwrap();
    assert_eq!(v["entries"][0]["actor"], "cli", "{v}");
    assert_eq!(
        v["entries"][0]["event"]["staff_added"]["pin_hash"],
        "(hidden)"
    );
}

/// A count task worked on a phone: the picker types the count; far from
/// what was expected it asks for a recount, then the manager approves it
/// on the desktop. The manager rejects one line of an order before picking
/// with a reason, and then the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_on_the_phone_then_approval_and_a_rejection_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let (mid, mpin) = node.add_staff("Maria Manager", "manager").await.unwrap();
    let (pid, ppin) = node.add_staff("Pat Picker", "picker").await.unwrap();
    // A not-found short opens a count task for SKU-044.
    create(&node, &order("C-1", "Ada", &[(44, 3, false)])).await;
    node.wait_state("C-1", "prepared", 10).await.unwrap();
    let (status, v) = node
        .post(
            "/api/v1/orders/C-1/lines/1/short",
            &json!({ "found": 0, "reason": "not_found" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");

    let p = Browser::start(&node.url(""), PHONE).await.unwrap();
    p.login(&pid, &ppin).await.unwrap();
    p.wait_path("/pick", 15).await.unwrap();
    p.goto("/counts").await.unwrap();
    let task = p.wait_text(".count-task", "SKU-044", 15).await.unwrap();
    assert!(
        task.contains("Not found at the shelf") || task.contains("not found at the shelf"),
        "{task}"
    );
    // 40 found where 0 was expected: count again.
    p.type_into(".count-task input[name=counted]", "40")
        .await
        .unwrap();
    p.click(".count-task button[type=submit]").await.unwrap();
    p.wait_text("#result", "count again", 15).await.unwrap();
    p.wait_text(".count-task", "count again", 15).await.unwrap();
    p.type_into(".count-task input[name=counted]", "40")
        .await
        .unwrap();
    p.click(".count-task button[type=submit]").await.unwrap();
    p.wait_text("#result", "manager approves", 15)
        .await
        .unwrap();
    p.screenshot("counts-phone").await.unwrap();
    let (_, v) = node.get("/api/v1/stock/SKU-044").await.unwrap();
    assert_eq!(v["on_hand"], 0, "nothing changes before approval: {v}");

    let m = Browser::start(&node.url(""), DESKTOP).await.unwrap();
    m.login(&mid, &mpin).await.unwrap();
    m.wait_path("/manager", 15).await.unwrap();
    m.wait_text("#count-tasks", "SKU-044", 15).await.unwrap();
    m.goto("/counts").await.unwrap();
    m.wait_text(".count-task", "approval", 15).await.unwrap();
    m.click(".count-task form[action='/counts/approve'] button")
        .await
        .unwrap();
    m.wait_text("#result", "approved", 15).await.unwrap();
    let (_, v) = node.get("/api/v1/stock/SKU-044").await.unwrap();
    assert_eq!(v["on_hand"], 40, "{v}");
    assert_eq!(v["count_task"], serde_json::Value::Null, "{v}");

    // Reject one line (damaged), then the rest (the customer asked).
    create(
        &node,
        &order("C-2", "Grace", &[(50, 1, false), (51, 2, false)]),
    )
    .await;
    node.wait_state("C-2", "prepared", 10).await.unwrap();
    m.goto("/orders/C-2").await.unwrap();
    m.click("#reject summary").await.unwrap();
    m.click("#reject input[value=damaged]").await.unwrap();
    m.click("#reject input[name=line][value='2']")
        .await
        .unwrap();
    m.type_into("#reject-note", "crushed box").await.unwrap();
    m.screenshot("order-reject").await.unwrap();
    m.click("#reject button[type=submit]").await.unwrap();
    m.wait_text("#result", "rejected", 15).await.unwrap();
    let (_, v) = node.get("/api/v1/orders/C-2").await.unwrap();
    assert_eq!(v["order"]["rejected_lines"][0]["line_no"], 2, "{v}");
    assert_eq!(v["order"]["state"], "prepared", "{v}");
    m.goto("/orders/C-2").await.unwrap();
    m.click("#reject summary").await.unwrap();
    m.click("#reject input[value=customer_request]")
        .await
        .unwrap();
    m.click("#reject button[type=submit]").await.unwrap();
    m.wait_text("#result", "rejected", 15).await.unwrap();
    let (_, v) = node.get("/api/v1/orders/C-2").await.unwrap();
    assert_eq!(v["order"]["state"], "rejected", "{v}");
    assert_eq!(v["order"]["reject_code"], "staff_rejected", "{v}");
    p.close().await;
    m.close().await;
}
