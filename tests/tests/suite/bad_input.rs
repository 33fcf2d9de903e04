//! Bad input through every door of the real binary: HTTP bodies, tokens and
//! queries; MQTT logins; device and cloud commands; forged node events.
//!
//! Each bad input must get a clear, specific answer (or, where nobody can be
//! answered, a dead letter), must change nothing (the log head stays put,
//! no order appears) and must leave the node serving: every test ends with
//! a good request that still works.
//!
//! Login without credentials: rumqttd refuses it before calling the node's
//! auth handler, so it is refused but not counted in
//! `storenode_mqtt_auth_failures_total` (see docs/operations.md).

use std::net::SocketAddr;
use std::time::Duration;

use protocol::{
    codec, topic, Actor, Command, Envelope, Event, EventId, OrderId, ReplyStatus, StoreId,
};
use rumqttc::{Event as MqttEvent, MqttOptions, Packet};
use serde_json::{json, Value};
use storenode_tests::{order_body, Mqtt, Node, Opts};

fn store() -> StoreId {
    StoreId::new("test-store").unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A valid order line.
fn line() -> Value {
    json!({ "sku": "SKU-001", "quantity": 2, "unit_price_cents": 150 })
}

/// A valid order body for `id` with `lines`.
fn body_with(id: &str, lines: Value) -> String {
    json!({ "order_id": id, "customer_name": "Ann", "lines": lines }).to_string()
}

/// The node's dead letters, newest first.
async fn dead_letters(node: &Node) -> Vec<Value> {
    let (status, v) = node.get("/api/v1/dead-letters").await.unwrap();
    assert_eq!(status, 200, "{v}");
    v["dead_letters"].as_array().unwrap().clone()
}

/// All orders the node knows, in any state.
async fn all_orders(node: &Node) -> Vec<Value> {
    let (status, v) = node.get("/api/v1/orders").await.unwrap();
    assert_eq!(status, 200, "{v}");
    v["orders"].as_array().unwrap().clone()
}

async fn wait_prepared(node: &Node, id: &str) {
    node.wait_state(id, "prepared", 10).await.unwrap();
}

/// Wait until the node has `want` dead letters; returns the newest.
async fn wait_dead_letters(node: &Node, want: usize) -> Value {
    node.wait_for(&format!("{want} dead letters"), 10, || async {
        Ok(dead_letters(node).await.len() >= want)
    })
    .await
    .unwrap();
    let letters = dead_letters(node).await;
    assert_eq!(letters.len(), want, "more dead letters than expected");
    letters[0].clone()
}

/// What `field` in an HTTP error body must be.
#[derive(Debug, Clone, Copy)]
enum Field {
    Is(&'static str),
    /// Not pinned by the table (pinned in `field_names_the_path_of_the_problem`).
    Unchecked,
}

struct HttpCase {
    name: &'static str,
    body: String,
    status: u16,
    code: &'static str,
    field: Field,
    /// Words the message must contain.
    words: &'static [&'static str],
}

fn case(
    name: &'static str,
    body: String,
    status: u16,
    code: &'static str,
    field: Field,
    words: &'static [&'static str],
) -> HttpCase {
    HttpCase {
        name,
        body,
        status,
        code,
        field,
        words,
    }
}

/// A case whose body is a valid order for BAD-1 but for its one line.
fn with_line(
    name: &'static str,
    l: Value,
    status: u16,
    code: &'static str,
    field: Field,
    words: &'static [&'static str],
) -> HttpCase {
    case(
        name,
        body_with("BAD-1", json!([l])),
        status,
        code,
        field,
        words,
    )
}

fn order_cases() -> Vec<HttpCase> {
    let good = body_with("BAD-1", json!([line()]));
    let mut cases = vec![
        with_line(
            "quantity as a string",
            json!({ "sku": "SKU-001", "quantity": "2", "unit_price_cents": 150 }),
            400,
            "invalid_body",
            Field::Is("lines[0].quantity"),
            &["invalid type", "\"2\""],
        ),
        with_line(
            "unknown field inside a line",
            json!({ "sku": "SKU-001", "quantity": 2, "unit_price_cents": 150, "gift": true }),
            400,
            "invalid_body",
            Field::Is("lines[0].gift"),
            &["unknown field `gift`"],
        ),
        with_line(
            "line without sku",
            json!({ "quantity": 2, "unit_price_cents": 150 }),
            400,
            "invalid_body",
            Field::Unchecked,
            &["missing field `sku`"],
        ),
        with_line(
            "quantity 0",
            json!({ "sku": "SKU-001", "quantity": 0, "unit_price_cents": 150 }),
            422,
            "invalid_order",
            Field::Is("lines[0].quantity"),
            &["between 1 and 999"],
        ),
        with_line(
            "quantity 1000",
            json!({ "sku": "SKU-001", "quantity": 1000, "unit_price_cents": 150 }),
            422,
            "invalid_order",
            Field::Is("lines[0].quantity"),
            &["between 1 and 999"],
        ),
        with_line(
            "quantity negative",
            json!({ "sku": "SKU-001", "quantity": -1, "unit_price_cents": 150 }),
            400,
            "invalid_body",
            Field::Is("lines[0].quantity"),
            &["-1"],
        ),
        with_line(
            "negative price",
            json!({ "sku": "SKU-001", "quantity": 1, "unit_price_cents": -5 }),
            422,
            "invalid_order",
            Field::Is("lines[0].unit_price_cents"),
            &["must not be negative"],
        ),
    ];
    cases.extend([
        case(
            "truncated JSON",
            good[..good.len() - 20].to_string(),
            400,
            "invalid_body",
            Field::Unchecked,
            &["EOF", "line 1 column"],
        ),
        case(
            "empty body",
            String::new(),
            400,
            "invalid_body",
            Field::Is("(body)"),
            &["JSON body is required"],
        ),
        case(
            "not JSON",
            "order please".into(),
            400,
            "invalid_body",
            Field::Is("(body)"),
            &["expected"],
        ),
        case(
            "JSON array instead of an object",
            "[1, 2]".into(),
            400,
            "invalid_body",
            Field::Is("(body)"),
            &["must be a JSON object"],
        ),
        case(
            "unknown top-level field",
            json!({ "order_id": "BAD-1", "customer_name": "Ann", "lines": [line()], "colour": "red" })
                .to_string(),
            400,
            "invalid_body",
            Field::Is("colour"),
            &["unknown field `colour`"],
        ),
        case(
            "missing customer_name",
            json!({ "order_id": "BAD-1", "lines": [line()] }).to_string(),
            400,
            "invalid_body",
            Field::Unchecked,
            &["missing field `customer_name`"],
        ),
        case(
            "missing order_id",
            json!({ "customer_name": "Ann", "lines": [line()] }).to_string(),
            400,
            "invalid_body",
            Field::Unchecked,
            &["missing field `order_id`"],
        ),
        case(
            "order id with a slash",
            body_with("a/b", json!([line()])),
            400,
            "invalid_body",
            Field::Is("order_id"),
            &["'/'", "only letters, digits"],
        ),
        case(
            "empty order id",
            body_with("", json!([line()])),
            400,
            "invalid_body",
            Field::Is("order_id"),
            &["must not be empty"],
        ),
        case(
            "order id of 65 characters",
            body_with(&"X".repeat(65), json!([line()])),
            400,
            "invalid_body",
            Field::Is("order_id"),
            &["65 characters", "at most 64"],
        ),
        case(
            "unknown payment mode",
            json!({ "order_id": "BAD-1", "customer_name": "Ann", "lines": [line()], "payment": "bitcoin" })
                .to_string(),
            400,
            "invalid_body",
            Field::Is("payment"),
            &["unknown variant `bitcoin`"],
        ),
        case(
            "no lines",
            body_with("BAD-1", json!([])),
            422,
            "invalid_order",
            Field::Is("lines"),
            &["at least one line"],
        ),
        case(
            "bad sku on the second line",
            body_with(
                "BAD-1",
                json!([line(), { "sku": "has space", "quantity": 1, "unit_price_cents": 1 }]),
            ),
            422,
            "invalid_order",
            Field::Is("lines[1].sku"),
            &["letters, digits"],
        ),
        case(
            "blank customer name",
            json!({ "order_id": "BAD-1", "customer_name": "   ", "lines": [line()] }).to_string(),
            422,
            "invalid_order",
            Field::Is("customer_name"),
            &["must not be empty"],
        ),
    ]);
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_order_bodies_get_a_specific_error_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let head = node.head().await.unwrap();

    for c in order_cases() {
        let (status, v) = node
            .post_raw("/api/v1/orders", c.body.clone())
            .await
            .unwrap();
        assert_eq!(status, c.status, "{}: {v}", c.name);
        assert_eq!(v["error"], c.code, "{}: {v}", c.name);
        let field = v["field"].as_str().unwrap_or("(none)");
        match c.field {
            Field::Is(want) => assert_eq!(field, want, "{}: {v}", c.name),
            Field::Unchecked => {}
        }
        let message = v["message"].as_str().unwrap_or_default();
        for w in c.words {
            assert!(message.contains(w), "{}: message lacks {w:?}: {v}", c.name);
        }
        assert_eq!(
            node.head().await.unwrap(),
            head,
            "{} changed the log",
            c.name
        );
    }
    assert_eq!(node.order_state("BAD-1").await.unwrap(), None);
    assert!(all_orders(&node).await.is_empty());

    // The node still takes a good order.
    let (status, v) = node
        .post_raw("/api/v1/orders", body_with("BAD-1", json!([line()])))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["created_log_seq"], head + 1);
}

/// A body of exactly `len` bytes that is valid JSON for an order whose
/// customer name is far too long (so it passes the size check but not the
/// order rules).
fn padded_body(len: usize) -> String {
    let empty = body_with("BIG-1", json!([line()])).replace("\"Ann\"", "\"\"");
    let pad = len - empty.len();
    let body = empty.replace(
        "\"customer_name\":\"\"",
        &format!("\"customer_name\":\"{}\"", "x".repeat(pad)),
    );
    assert_eq!(body.len(), len);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_gets_413_at_the_default_limit() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let head = node.head().await.unwrap();
    const LIMIT: usize = 262_144; // http.max_body_bytes default

    // At the limit the body is read and judged on its content.
    let (status, v) = node
        .post_raw("/api/v1/orders", padded_body(LIMIT))
        .await
        .unwrap();
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["field"], "customer_name", "{v}");

    for len in [LIMIT + 1, 2 * LIMIT] {
        let (status, v) = node
            .post_raw("/api/v1/orders", padded_body(len))
            .await
            .unwrap();
        assert_eq!(status, 413, "{len} bytes: {v}");
        assert_eq!(v["error"], "body_too_large", "{v}");
        assert!(
            v["message"].as_str().unwrap().contains("larger than"),
            "{v}"
        );
        assert!(v.get("field").is_none(), "{v}");
    }
    assert_eq!(node.head().await.unwrap(), head);
    assert_eq!(node.order_state("BIG-1").await.unwrap(), None);

    let (status, v) = node
        .post("/api/v1/orders", &order_body("AFTER-BIG", 2))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_message_names_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let (status, v) = node
        .post_raw("/api/v1/orders", padded_body(300_000))
        .await
        .unwrap();
    assert_eq!(status, 413, "{v}");
    // Regression: the message once read "larger than 0 bytes".
    assert!(v["message"].as_str().unwrap().contains("262144"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_names_the_path_of_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let good = body_with("BAD-1", json!([line()]));
    let bodies = [
        good[..good.len() - 20].to_string(),
        json!({ "order_id": "BAD-1", "lines": [line()] }).to_string(),
        json!({ "order_id": "BAD-1", "customer_name": "Ann", "lines": [{ "quantity": 1, "unit_price_cents": 1 }] })
            .to_string(),
    ];
    let mut fields = Vec::new();
    for body in bodies {
        let (status, v) = node.post_raw("/api/v1/orders", body).await.unwrap();
        assert_eq!(status, 400, "{v}");
        fields.push(v["field"].as_str().unwrap_or_default().to_string());
    }
    // Regression: a syntax error inside an object once gave "?", and a
    // missing field named its parent ("(body)", "lines[0]").
    assert_eq!(fields, ["(body)", "customer_name", "lines[0].sku"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_token_gets_401_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let head = node.head().await.unwrap();
    let http = reqwest::Client::new();
    let headers: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("wrong token", Some("Bearer not-the-token-at-all".into())),
        ("empty bearer", Some("Bearer ".into())),
        (
            "token with an extra char",
            Some(format!("Bearer {}x", node.token)),
        ),
        (
            "token prefix only",
            Some(format!("Bearer {}", &node.token[..node.token.len() - 1])),
        ),
        ("basic scheme", Some(format!("Basic {}", node.token))),
        ("no scheme", Some(node.token.clone())),
    ];
    let requests = [
        (
            reqwest::Method::POST,
            "/api/v1/orders",
            Some(order_body("AUTH-1", 1)),
        ),
        (reqwest::Method::GET, "/api/v1/orders", None),
        (reqwest::Method::GET, "/api/v1/orders/AUTH-1", None),
        (
            reqwest::Method::POST,
            "/api/v1/orders/AUTH-1/picked",
            Some(json!({ "staff": "x" })),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/devices",
            Some(json!({ "name": "intruder" })),
        ),
        (reqwest::Method::GET, "/api/v1/devices", None),
        (reqwest::Method::GET, "/api/v1/dead-letters", None),
    ];
    for (what, header) in &headers {
        for (method, path, body) in &requests {
            let mut req = http.request(method.clone(), node.url(path));
            if let Some(h) = header {
                req = req.header("authorization", h);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.unwrap();
            let ctx = format!("{what}: {method} {path}");
            assert_eq!(resp.status().as_u16(), 401, "{ctx}");
            let www = resp
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string());
            assert_eq!(www.as_deref(), Some("Bearer"), "{ctx}");
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["error"], "unauthorized", "{ctx}: {v}");
            assert!(
                v["message"].as_str().unwrap().contains("token"),
                "{ctx}: {v}"
            );
        }
    }
    assert_eq!(node.head().await.unwrap(), head);
    assert_eq!(node.order_state("AUTH-1").await.unwrap(), None);
    let (_, v) = node.get("/api/v1/devices").await.unwrap();
    assert!(!v.to_string().contains("intruder"), "{v}");

    // Health needs no token; metrics need it (business counts).
    let resp = http.get(node.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["log_head"], head);
    let resp = http.get(node.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401, "metrics without the token");
    let resp = http
        .get(node.url("/metrics"))
        .bearer_auth("not-the-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401, "metrics with a wrong token");
    let resp = http
        .get(node.url("/metrics"))
        .bearer_auth(&node.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("storenode_log_head"), "{text}");
    assert!(text.contains("status=\"401\""), "401s are counted: {text}");

    // And the right token still works.
    let (status, v) = node
        .post("/api/v1/orders", &order_body("AUTH-1", 1))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_and_unknown_orders_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let head = node.head().await.unwrap();

    for state in ["bogus", "", "PREPARED"] {
        let (status, v) = node
            .get(&format!("/api/v1/orders?state={state}"))
            .await
            .unwrap();
        assert_eq!(status, 400, "state={state}: {v}");
        assert_eq!(v["error"], "invalid_body", "{v}");
        assert_eq!(v["field"], "state", "{v}");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(&format!("{state:?}")), "{v}");
        assert!(
            message.contains("prepared") && message.contains("fulfilled"),
            "lists the states: {v}"
        );
    }

    let (status, v) = node.get("/api/v1/orders/NOPE").await.unwrap();
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"], "not_found");
    assert!(v["message"].as_str().unwrap().contains("NOPE"), "{v}");

    let (status, v) = node.get("/api/v1/orders/a%2Fb").await.unwrap();
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"], "bad_request");
    assert!(v["message"].as_str().unwrap().contains("'/'"), "{v}");

    let (status, v) = node.get("/api/v1/no-such-thing").await.unwrap();
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"], "not_found");

    assert_eq!(node.head().await.unwrap(), head);
    let (status, v) = node.get("/api/v1/orders?state=prepared").await.unwrap();
    assert_eq!(
        (status, v["orders"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_string_errors_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let (status, v) = node.get("/api/v1/orders?limit=many").await.unwrap();
    assert_eq!(status, 400, "{v}");
    // Regression: axum's `Query` rejection was once returned as plain text.
    assert_eq!(
        (v["error"].as_str(), v["field"].as_str()),
        (Some("invalid_body"), Some("limit")),
        "{v}"
    );
    // A field the route does not know is named too (parsed, not read out
    // of a message's text).
    let (status, v) = node.get("/api/v1/orders?limit=5&colour=red").await.unwrap();
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"], "invalid_body", "{v}");
    assert!(v.to_string().contains("colour"), "{v}");
    let (status, v) = node.get("/api/v1/orders?limit=5").await.unwrap();
    assert_eq!(status, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_actions_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let (status, v) = node
        .post("/api/v1/orders", &order_body("STAFF-1", 2))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
    wait_prepared(&node, "STAFF-1").await;
    let head = node.head().await.unwrap();

    // (path, body, status, code, words in the message)
    let cases: &[(&str, &str, u16, &str, &[&str])] = &[
        (
            "/api/v1/orders/NOPE/picked",
            r#"{"staff":"ann"}"#,
            404,
            "unknown_order",
            &["NOPE", "not known"],
        ),
        (
            "/api/v1/orders/NOPE/handed-over",
            r#"{"staff":"ann","code":"ABCDEF"}"#,
            404,
            "unknown_order",
            &["NOPE"],
        ),
        (
            "/api/v1/orders/STAFF-1/handed-over",
            r#"{"staff":"ann","code":"ABCDEF"}"#,
            409,
            "wrong_state",
            &["cannot hand it over", "ready to pick"],
        ),
        (
            "/api/v1/orders/STAFF-1/picked",
            r#"{"staf":"ann"}"#,
            400,
            "invalid_body",
            &["unknown field `staf`"],
        ),
        (
            "/api/v1/orders/STAFF-1/picked",
            "",
            400,
            "invalid_body",
            &["JSON body is required"],
        ),
        (
            "/api/v1/orders/STAFF-1/picked",
            r#"{"staff":"ann","why":1}"#,
            400,
            "invalid_body",
            &["unknown field `why`"],
        ),
        (
            "/api/v1/orders/STAFF-1/picked",
            r#"{"staff":7}"#,
            400,
            "invalid_body",
            &["invalid type"],
        ),
        (
            "/api/v1/orders/STAFF-1/picked",
            &format!(r#"{{"staff":"{}"}}"#, "x".repeat(65)),
            422,
            "invalid_order",
            &["staff"],
        ),
        (
            "/api/v1/orders/a%2Fb/picked",
            r#"{"staff":"ann"}"#,
            400,
            "bad_request",
            &["'/'"],
        ),
    ];
    for (path, body, status, code, words) in cases {
        let (got, v) = node.post_raw(path, body.to_string()).await.unwrap();
        assert_eq!(got, *status, "{path} {body}: {v}");
        assert_eq!(v["error"], *code, "{path} {body}: {v}");
        let message = v["message"].as_str().unwrap();
        for w in *words {
            assert!(
                message.contains(w),
                "{path} {body}: message lacks {w:?}: {v}"
            );
        }
        assert_eq!(
            node.head().await.unwrap(),
            head,
            "{path} {body} changed the log"
        );
    }
    assert_eq!(
        node.order_state("STAFF-1").await.unwrap().as_deref(),
        Some("prepared")
    );
    assert_eq!(node.order_state("NOPE").await.unwrap(), None);

    // `staff` is optional since the actor is the caller: the API token
    // here, recorded as `api` (a name it gives is kept as a label).
    let (status, v) = node
        .post("/api/v1/orders/STAFF-1/picked", &json!({}))
        .await
        .unwrap();
    assert_eq!((status, v["state"].as_str()), (200, Some("picked")), "{v}");
    let (_, v) = node.get("/api/v1/orders/STAFF-1").await.unwrap();
    assert_eq!(v["order"]["picked_by"], "api", "{v}");
    let last = v["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "api", "{last}");
}

/// Connect without any username or password; Ok if the broker accepts.
async fn connect_anonymous(addr: SocketAddr) -> anyhow::Result<()> {
    let mut opts = MqttOptions::new("anon-1", addr.ip().to_string(), addr.port());
    opts.set_keep_alive(Duration::from_secs(30));
    let (_client, mut eventloop) = rumqttc::AsyncClient::new(opts, 10);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
            Ok(Ok(MqttEvent::Incoming(Packet::ConnAck(_)))) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => anyhow::bail!("refused: {e}"),
            Err(_) => anyhow::bail!("no CONNACK in 5 s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_logins_without_the_right_password_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let pw = node.add_device("scanner-1", "scanner").await.unwrap();
    let other_pw = node.add_device("scanner-2", "scanner").await.unwrap();
    const FAILURES: &str = "storenode_mqtt_auth_failures_total";

    let refused = [
        (
            "wrong password",
            "scanner-1",
            "not-the-password".to_string(),
        ),
        ("empty password", "scanner-1", String::new()),
        ("another device's password", "scanner-1", other_pw.clone()),
        ("unknown device", "ghost", pw.clone()),
        ("password with a suffix", "scanner-1", format!("{pw}x")),
    ];
    // Counted once each (the count follows the refusal by a moment).
    let counted = |want: f64, what: String| {
        let node = &node;
        async move {
            node.wait_for(&what, 5, || async {
                Ok(node.metric(FAILURES, "").await? >= want)
            })
            .await
            .unwrap();
            assert_eq!(node.metric(FAILURES, "").await.unwrap(), want, "{what}");
        }
    };
    for (what, user, password) in &refused {
        let before = node.metric(FAILURES, "").await.unwrap();
        let r = node.mqtt(user, password).await;
        assert!(r.is_err(), "{what}: the broker let {user} in");
        counted(before + 1.0, format!("{what}: refused login counted once")).await;
    }

    // Refusals rumqttd makes before it asks the node are counted too: no
    // credentials, keep-alive 0 (with the right password), another
    // protocol level.
    let before = node.metric(FAILURES, "").await.unwrap();
    assert!(
        connect_anonymous(node.mqtt).await.is_err(),
        "anonymous client let in"
    );
    counted(before + 1.0, "anonymous login counted".into()).await;
    let mut opts = MqttOptions::new("ka-0", "127.0.0.1", node.mqtt.port());
    opts.set_credentials("scanner-1", &pw);
    opts.set_keep_alive(Duration::ZERO);
    let (_c, mut eventloop) = rumqttc::AsyncClient::new(opts, 10);
    let refused_ka0 = matches!(
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match eventloop.poll().await {
                    Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => return false,
                    Ok(_) => {}
                    Err(_) => return true,
                }
            }
        })
        .await,
        Ok(true)
    );
    assert!(refused_ka0, "keep-alive 0 let in");
    counted(before + 2.0, "keep-alive 0 counted".into()).await;
    {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut s = tokio::net::TcpStream::connect(node.mqtt).await.unwrap();
        // CONNECT, protocol "MQTT" level 9, clean session, keep-alive 60,
        // client id "lvl".
        s.write_all(&[
            0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 9, 0x02, 0, 60, 0, 3, b'l', b'v', b'l',
        ])
        .await
        .unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        // Closed, or a CONNACK refusing it: never a CONNACK with code 0.
        assert!(
            n == 0 || buf[3] != 0,
            "protocol level 9 let in: {:?}",
            &buf[..n]
        );
    }
    counted(before + 3.0, "another protocol level counted".into()).await;

    // A client that keeps trying does not flood the log: 100 wrong
    // passwords in a row, a handful of lines.
    for _ in 0..100 {
        let _ = node.mqtt("scanner-1", "wrong").await;
    }
    counted(before + 103.0, "all 100 counted".into()).await;
    let logs = node.logs();
    let lines = logs.matches("mqtt login refused").count()
        + logs
            .matches("Error while handling MQTT connect packet")
            .count();
    assert!(lines <= 12, "{lines} log lines for 104 refusals");

    // The right password still works, for both devices.
    node.mqtt("scanner-1", &pw).await.unwrap();
    node.mqtt("scanner-2", &other_pw).await.unwrap();
    // Two device registrations.
    assert_eq!(node.head().await.unwrap(), CATALOG_EVENTS + 2);
}

/// (what, payload, reply status, reply id, words in the reason)
type DeviceCase = (
    &'static str,
    Vec<u8>,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// Publish `payload` on the device's command topic; the JSON reply.
async fn device_command(dev: &mut Mqtt, device: &str, payload: Vec<u8>) -> Value {
    dev.publish(&topic::device_command(device), payload)
        .await
        .unwrap();
    let p = dev.recv_on(&topic::device_reply(device), 10).await.unwrap();
    serde_json::from_slice(&p.payload).unwrap()
}

fn create_json(id: &str, order_id: &str, lines: Value) -> Value {
    json!({ "id": id, "command": { "create_order": { "order_id": order_id, "order": {
        "customer_name": "Ann", "lines": lines, "payment": "pay_at_pickup" } } } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_device_commands_get_an_invalid_reply_and_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let pw = node.add_device("kiosk-1", "kiosk").await.unwrap();
    let mut dev = node.mqtt("kiosk-1", &pw).await.unwrap();
    dev.subscribe(&topic::device_reply("kiosk-1"))
        .await
        .unwrap();
    let head = node.head().await.unwrap();
    let cmd_topic = topic::device_command("kiosk-1");
    let picked = json!({ "mark_picked": { "order_id": "DEV-1", "staff": "ann" } });

    let cases: Vec<DeviceCase> = vec![
        ("not JSON", b"\x00\x01hello".to_vec(), "invalid", "", &["invalid JSON"]),
        ("empty payload", Vec::new(), "invalid", "", &["empty payload"]),
        ("truncated JSON", br#"{"id":"c-1","command":{"#.to_vec(), "invalid", "", &["EOF"]),
        (
            "unknown command",
            json!({ "id": "c-2", "command": { "explode": { "order_id": "DEV-1" } } }).to_string().into_bytes(),
            "invalid",
            "c-2",
            &["unknown variant `explode`"],
        ),
        (
            "missing id",
            json!({ "command": picked }).to_string().into_bytes(),
            "invalid",
            "",
            &["missing field `id`"],
        ),
        (
            "id of 65 characters",
            json!({ "id": "i".repeat(65), "command": picked }).to_string().into_bytes(),
            "invalid",
            "",
            &["id: must be 1 to 64 characters"],
        ),
        (
            "empty id",
            json!({ "id": "", "command": picked }).to_string().into_bytes(),
            "invalid",
            "",
            &["id: must be 1 to 64 characters"],
        ),
        (
            "id with a space",
            json!({ "id": "c 3", "command": picked }).to_string().into_bytes(),
            "invalid",
            "",
            &["printable ASCII"],
        ),
        (
            "unknown top-level field",
            json!({ "id": "c-4", "command": picked, "urgent": true }).to_string().into_bytes(),
            "invalid",
            "c-4",
            &["unknown field `urgent`"],
        ),
        (
            "order id with a slash",
            json!({ "id": "c-5", "command": { "mark_picked": { "order_id": "a/b", "staff": "ann" } } })
                .to_string()
                .into_bytes(),
            "invalid",
            "c-5",
            &["'/'"],
        ),
        (
            "quantity as a string",
            create_json("c-6", "DEV-1", json!([{ "sku": "S", "quantity": "2", "unit_price_cents": 1 }]))
                .to_string()
                .into_bytes(),
            "invalid",
            "c-6",
            &["invalid type"],
        ),
        // Well-formed, but the order breaks a rule: refused, not malformed.
        (
            "quantity 0",
            create_json("c-7", "DEV-1", json!([{ "sku": "S", "quantity": 0, "unit_price_cents": 1 }]))
                .to_string()
                .into_bytes(),
            "rejected",
            "c-7",
            &["lines[0].quantity", "between 1 and 999"],
        ),
        (
            "no lines",
            create_json("c-8", "DEV-1", json!([])).to_string().into_bytes(),
            "rejected",
            "c-8",
            &["lines", "at least one line"],
        ),
        (
            "checked in before the order exists",
            json!({ "id": "c-9", "command": { "check_in": { "order_id": "DEV-1", "channel": "kiosk" } } })
                .to_string()
                .into_bytes(),
            "rejected",
            "c-9",
            &["DEV-1", "not known"],
        ),
    ];
    let invalid_before = node
        .metric("storenode_commands_total", "outcome=\"invalid\"")
        .await
        .unwrap();
    let mut letters = dead_letters(&node).await.len();
    let mut invalid = 0.0;
    for (what, payload, status, id, words) in cases {
        let reply = device_command(&mut dev, "kiosk-1", payload.clone()).await;
        assert_eq!(reply["status"], status, "{what}: {reply}");
        assert_eq!(reply["id"], id, "{what}: {reply}");
        assert_eq!(reply["log_seqs"], json!([]), "{what}: {reply}");
        let reason = reply["reason"].as_str().unwrap_or_default();
        for w in words {
            assert!(reason.contains(w), "{what}: reason lacks {w:?}: {reply}");
        }
        let now = dead_letters(&node).await;
        if status == "invalid" {
            invalid += 1.0;
            letters += 1;
            assert_eq!(now.len(), letters, "{what}: no dead letter");
            let d = &now[0];
            assert_eq!(d["source"], "device", "{what}: {d}");
            assert_eq!(d["topic"], cmd_topic.as_str(), "{what}: {d}");
            assert_eq!(d["reason"], reason, "{what}: {d}");
            assert_eq!(d["payload_len"], payload.len(), "{what}: {d}");
            assert_eq!(
                d["payload_hex"],
                hex(&payload[..payload.len().min(256)]),
                "{what}: {d}"
            );
        } else {
            assert_eq!(
                now.len(),
                letters,
                "{what}: a rule refusal is not a dead letter"
            );
        }
        assert_eq!(node.head().await.unwrap(), head, "{what} changed the log");
    }
    let invalid_after = node
        .metric("storenode_commands_total", "outcome=\"invalid\"")
        .await
        .unwrap();
    assert_eq!(invalid_after - invalid_before, invalid);
    assert!(all_orders(&node).await.is_empty());

    // A good command from the same device still works.
    let good = create_json("c-10", "DEV-1", json!([line()]));
    let reply = device_command(&mut dev, "kiosk-1", good.to_string().into_bytes()).await;
    assert_eq!(reply["status"], "accepted", "{reply}");
    assert_eq!(reply["log_seqs"], json!([head + 1]), "{reply}");
}

fn cloud_create(id: &str, order_id: &str) -> protocol::sync::DownCommand {
    let body = order_body(order_id, 1);
    protocol::sync::DownCommand {
        hq_id: id.into(),
        hq_seq: 1 + id.len() as u64,
        command: Command::CreateOrder {
            order_id: OrderId::new(order_id).unwrap(),
            order: serde_json::from_value(json!({
                "customer_name": body["customer_name"], "lines": body["lines"], "payment": "prepaid"
            }))
            .unwrap(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_cloud_commands_get_an_invalid_reply_and_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    // HQ's commands come down the node's own link to the cloud broker.
    let broker = storenode_tests::cloud::Mosquitto::start(dir.path())
        .await
        .unwrap();
    let node = storenode_tests::cloud::linked_node(
        &dir.path().join("node"),
        &broker.url(),
        Default::default(),
    )
    .await
    .unwrap();
    let mut cloud = Mqtt::connect(broker.addr(), "hq-bad", "hq", "x")
        .await
        .unwrap();
    let reply_topic = topic::sync_reply(&store());
    let cmd_topic = topic::sync_down(&store());
    cloud.subscribe(&reply_topic).await.unwrap();
    let head = node.head().await.unwrap();

    let good = codec::encode(&cloud_create("hq-1", "CLOUD-BAD"));
    let mut wrong_version = good.clone();
    wrong_version[0] = codec::FORMAT_VERSION + 1;
    let mut trailing = good.clone();
    trailing.extend([0, 0]);
    let json_instead = codec::to_json(&cloud_create("hq-1", "CLOUD-BAD"));
    // (what, payload, reply id, words in the reason): an unreadable
    // command has no id to answer with.
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "garbage",
            vec![codec::FORMAT_VERSION, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            "",
            "malformed binary payload",
        ),
        (
            "wrong version byte",
            wrong_version,
            "",
            "unsupported format version 2",
        ),
        ("empty payload", Vec::new(), "", "empty payload"),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "",
            "malformed binary payload",
        ),
        ("trailing bytes", trailing, "", "2 unexpected bytes"),
        (
            "JSON instead of postcard",
            json_instead,
            "",
            "unsupported format version 123",
        ),
    ];
    let mut letters = dead_letters(&node).await.len();
    for (what, payload, id, words) in cases {
        cloud.publish(&cmd_topic, payload.clone()).await.unwrap();
        let p = cloud.recv_on(&reply_topic, 10).await.unwrap();
        let reply = codec::decode::<protocol::sync::DownReply>(&p.payload)
            .unwrap()
            .reply;
        assert_eq!(reply.status, ReplyStatus::Invalid, "{what}: {reply:?}");
        assert_eq!(reply.id, id, "{what}: {reply:?}");
        assert!(reply.log_seqs.is_empty(), "{what}: {reply:?}");
        let reason = reply.reason.clone().unwrap_or_default();
        assert!(reason.contains(words), "{what}: {reply:?}");
        letters += 1;
        let d = wait_dead_letters(&node, letters).await;
        assert_eq!(d["source"], "cloud", "{what}: {d}");
        assert_eq!(d["topic"], cmd_topic.as_str(), "{what}: {d}");
        assert_eq!(d["reason"], reason.as_str(), "{what}: {d}");
        assert_eq!(d["payload_len"], payload.len(), "{what}: {d}");
        assert_eq!(node.head().await.unwrap(), head, "{what} changed the log");
    }
    assert_eq!(node.order_state("CLOUD-BAD").await.unwrap(), None);

    // A well-formed command whose order breaks a rule is rejected.
    let mut bad_qty = cloud_create("hq-2", "CLOUD-BAD");
    if let Command::CreateOrder { order, .. } = &mut bad_qty.command {
        order.lines[0].quantity = 0;
    }
    cloud
        .publish(&cmd_topic, codec::encode(&bad_qty))
        .await
        .unwrap();
    let reply = codec::decode::<protocol::sync::DownReply>(
        &cloud.recv_on(&reply_topic, 10).await.unwrap().payload,
    )
    .unwrap()
    .reply;
    assert_eq!(reply.status, ReplyStatus::Rejected, "{reply:?}");
    assert_eq!(reply.id, "hq-2");
    assert!(
        reply
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("lines[0].quantity"),
        "{reply:?}"
    );
    assert_eq!(node.head().await.unwrap(), head);
    assert_eq!(dead_letters(&node).await.len(), letters);

    // The cloud link still works.
    cloud.publish(&cmd_topic, good).await.unwrap();
    let reply = codec::decode::<protocol::sync::DownReply>(
        &cloud.recv_on(&reply_topic, 10).await.unwrap().payload,
    )
    .unwrap()
    .reply;
    assert_eq!(reply.status, ReplyStatus::Accepted, "{reply:?}");
    assert_eq!(reply.log_seqs, [head + 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_for_an_unregistered_device_name_is_dead_lettered_without_reply() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let pw = node.add_device("kiosk-1", "kiosk").await.unwrap();
    let mut dev = node.mqtt("kiosk-1", &pw).await.unwrap();
    dev.subscribe("/tenants/+/reply").await.unwrap();
    let head = node.head().await.unwrap();
    let letters = dead_letters(&node).await.len();

    let ghost_topic = topic::device_command("ghost");
    let cmd = create_json("g-1", "GHOST-1", json!([line()]))
        .to_string()
        .into_bytes();
    dev.publish(&ghost_topic, cmd.clone()).await.unwrap();
    let d = wait_dead_letters(&node, letters + 1).await;
    assert_eq!(d["source"], "device", "{d}");
    assert_eq!(d["topic"], ghost_topic.as_str(), "{d}");
    assert!(
        d["reason"]
            .as_str()
            .unwrap()
            .contains("no registered device has"),
        "{d}"
    );
    assert_eq!(d["payload_hex"], hex(&cmd), "{d}");

    // Nobody is answered: no reply on any device's reply topic.
    let r = dev.recv(1).await;
    assert!(r.is_err(), "unexpected reply: {:?}", r.map(|p| p.topic));
    assert_eq!(node.head().await.unwrap(), head);
    assert_eq!(node.order_state("GHOST-1").await.unwrap(), None);

    // The device's own topic still works.
    let reply = device_command(&mut dev, "kiosk-1", cmd).await;
    assert_eq!(reply["status"], "accepted", "{reply}");
}

/// Events the harness's test-catalog import appends at start.
const CATALOG_EVENTS: u64 = 2;

/// An envelope claiming to be the node's, for `order`.
fn forged(order: &str, order_seq: u64, log_seq: u64, event: Event) -> Envelope {
    Envelope {
        event_id: EventId::generate(),
        causation_id: None,
        store_id: store(),
        order_id: OrderId::new(order).unwrap(),
        order_seq,
        log_seq,
        time_ms: 1,
        schema: protocol::SCHEMA_VERSION,
        actor: Actor::Api,
        event,
        prev_hash: protocol::ChainHash::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_events_from_a_device_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let (status, v) = node
        .post("/api/v1/orders", &order_body("REAL-1", 2))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
    wait_prepared(&node, "REAL-1").await;
    let head = node.head().await.unwrap();
    let (_, v) = node.get("/api/v1/orders/REAL-1").await.unwrap();
    let real: Vec<Envelope> = serde_json::from_value(v["events"].clone()).unwrap();
    let real_order = v["order"].clone();
    assert_eq!(real.len(), 4);
    assert_eq!(real[3].log_seq, head);

    let pw = node.add_device("rogue", "scanner").await.unwrap();
    // The registration is an event too.
    let head = node.head().await.unwrap();
    let rogue = node.mqtt("rogue", &pw).await.unwrap();
    let new_order = real[0].event.clone();
    let mut other_content = real[0].clone();
    if let Event::OrderCreated(o) = &mut other_content.event {
        o.customer_name = "Mallory".into();
        o.lines[0].quantity = 999;
    }
    let mut picked = real[3].clone();
    picked.order_seq = 5;
    picked.event = Event::ShipmentProcessed {
        picked_by: "mallory".into(),
    };
    let t = |kind| topic::event(&store(), kind);
    use protocol::EventKind as K;
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        ("garbage", t(K::OrderCreated), b"not an envelope".to_vec()),
        (
            "new order at the next log_seq",
            t(K::OrderCreated),
            codec::encode(&forged("FORGED-1", 1, head + 1, new_order.clone())),
        ),
        (
            "new order far ahead",
            t(K::OrderCreated),
            codec::encode(&forged("FORGED-2", 1, head + 1000, new_order)),
        ),
        (
            "existing log_seq, other content",
            t(K::OrderCreated),
            codec::encode(&other_content),
        ),
        (
            "existing log_seq, picked by mallory",
            t(K::ShipmentProcessed),
            codec::encode(&picked),
        ),
        (
            "fulfilled at the next log_seq",
            t(K::OrderFulfilled),
            codec::encode(&forged(
                "REAL-1",
                5,
                head + 1,
                Event::OrderFulfilled {
                    handed_over_by: "mallory".into(),
                    proof: protocol::PickupProof::Code,
                    id_checked: false,
                },
            )),
        ),
        (
            "unknown event topic",
            format!("store/{}/events/made_up", store()),
            b"hello".to_vec(),
        ),
        (
            "a genuine event replayed on another kind's topic",
            t(K::OrderFulfilled),
            codec::encode(&real[0]),
        ),
        (
            "below an event topic",
            format!("{}/extra", t(K::OrderCreated)),
            codec::encode(&forged("FORGED-3", 1, head + 1, real[0].event.clone())),
        ),
    ];
    const FORGED: &str = "storenode_forged_events_total";
    let mut letters = dead_letters(&node).await.len();
    for (what, topic_name, payload) in &cases {
        let before = node.metric(FORGED, "consumer=\"intake\"").await.unwrap();
        let order_before = node
            .metric(FORGED, "consumer=\"order\"")
            .await
            .unwrap_or(0.0);
        rogue.publish(topic_name, payload.clone()).await.unwrap();
        letters += 1;
        let d = wait_dead_letters(&node, letters).await;
        assert_eq!(d["source"], "forged-event", "{what}: {d}");
        assert_eq!(d["topic"], topic_name.as_str(), "{what}: {d}");
        assert_eq!(
            d["payload_hex"],
            hex(&payload[..payload.len().min(256)]),
            "{what}: {d}"
        );
        let after = node.metric(FORGED, "consumer=\"intake\"").await.unwrap();
        assert_eq!(after, before + 1.0, "{what}: not counted as forged");
        if *what == "new order far ahead" {
            // Regression (#12): a consumer took a future log_seq for a gap
            // and caught up without checking the bytes or counting it.
            node.wait_for("the order service counts it", 5, || async {
                Ok(node.metric(FORGED, "consumer=\"order\"").await? == order_before + 1.0)
            })
            .await
            .unwrap();
        }
    }

    // A replay of a genuine event, byte for byte, is not forged (the guard
    // finds it in the log) and is not applied again either.
    let before = node.metric(FORGED, "consumer=\"intake\"").await.unwrap();
    rogue
        .publish(&t(K::OrderCreated), codec::encode(&real[0]))
        .await
        .unwrap();
    rogue
        .publish(&t(K::OrderCreated), b"marker".to_vec())
        .await
        .unwrap();
    letters += 1;
    let d = wait_dead_letters(&node, letters).await;
    assert_eq!(
        d["payload_hex"],
        hex(b"marker"),
        "the replay was dead-lettered: {d}"
    );
    assert_eq!(
        node.metric(FORGED, "consumer=\"intake\"").await.unwrap(),
        before + 1.0
    );

    // Give the services time to (wrongly) act on anything.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(node.head().await.unwrap(), head);
    for id in ["FORGED-1", "FORGED-2"] {
        assert_eq!(node.order_state(id).await.unwrap(), None, "{id} exists");
    }
    let (_, v) = node.get("/api/v1/orders/REAL-1").await.unwrap();
    assert_eq!(v["order"], real_order, "REAL-1 changed");
    let events: Vec<Envelope> = serde_json::from_value(v["events"].clone()).unwrap();
    assert_eq!(events, real);
    assert!(all_orders(&node).await.len() == 1);

    // The next genuine event takes the log_seq the forgery claimed, and
    // every service still reacts to it.
    let (status, v) = node
        .post("/api/v1/orders", &order_body("AFTER-1", 1))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["created_log_seq"], head + 1);
    wait_prepared(&node, "AFTER-1").await;
    let (status, v) = node
        .post("/api/v1/orders/REAL-1/picked", &json!({ "staff": "ann" }))
        .await
        .unwrap();
    assert_eq!((status, v["state"].as_str()), (200, Some("picked")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reusing_a_command_id_for_another_command_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let pw = node.add_device("kiosk-1", "kiosk").await.unwrap();
    let mut dev = node.mqtt("kiosk-1", &pw).await.unwrap();
    dev.subscribe(&topic::device_reply("kiosk-1"))
        .await
        .unwrap();

    let first = create_json("dup-1", "DUP-1", json!([line()]))
        .to_string()
        .into_bytes();
    let reply = device_command(&mut dev, "kiosk-1", first.clone()).await;
    assert_eq!(reply["status"], "accepted", "{reply}");
    let seqs = reply["log_seqs"].clone();
    wait_prepared(&node, "DUP-1").await;
    let head = node.head().await.unwrap();

    // The same command again is a retry: the first answer, nothing new.
    let again = device_command(&mut dev, "kiosk-1", first).await;
    assert_eq!(again, reply);
    assert_eq!(node.head().await.unwrap(), head);

    let others = [
        create_json("dup-1", "DUP-2", json!([line()])),
        create_json("dup-1", "DUP-1", json!([line(), line()])),
        json!({ "id": "dup-1", "command": { "check_in": { "order_id": "DUP-1", "channel": "kiosk" } } }),
    ];
    for cmd in others {
        let reply = device_command(&mut dev, "kiosk-1", cmd.to_string().into_bytes()).await;
        assert_eq!(reply["status"], "rejected", "{cmd}: {reply}");
        assert_eq!(reply["id"], "dup-1", "{reply}");
        let reason = reply["reason"].as_str().unwrap();
        assert!(
            reason.contains("dup-1") && reason.contains("already used"),
            "{reply}"
        );
        assert_eq!(node.head().await.unwrap(), head, "{cmd} changed the log");
    }
    assert_eq!(node.order_state("DUP-2").await.unwrap(), None);
    assert_eq!(
        node.order_state("DUP-1").await.unwrap().as_deref(),
        Some("prepared")
    );
    let (_, v) = node.get("/api/v1/orders/DUP-1").await.unwrap();
    assert_eq!(v["order"]["content"]["lines"].as_array().unwrap().len(), 1);
    assert_eq!(seqs, json!([v["order"]["created_log_seq"]]));

    // A fresh id for the same check-in works.
    let fresh = json!({ "id": "dup-2", "command": { "check_in": { "order_id": "DUP-1", "channel": "kiosk" } } });
    let reply = device_command(&mut dev, "kiosk-1", fresh.to_string().into_bytes()).await;
    assert_eq!(reply["status"], "accepted", "{reply}");
    let (_, v) = node.get("/api/v1/orders/DUP-1").await.unwrap();
    assert_eq!(v["order"]["arrival"]["channel"], "kiosk", "{v}");
}

/// A client flooding the node with unusable messages is refused and counted
/// for every one, but only its allowance is written to disk (SD wear).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_messages_stores_only_its_allowance() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let pw = node.add_device("rogue", "scanner").await.unwrap();
    let rogue = node.mqtt("rogue", &pw).await.unwrap();
    let t = topic::event(&store(), protocol::EventKind::OrderCreated);
    const FORGED: &str = "storenode_forged_events_total";
    for i in 0..150u32 {
        rogue
            .publish(&t, format!("junk {i}").into_bytes())
            .await
            .unwrap();
    }
    node.wait_for("all 150 counted", 20, || async {
        Ok(node.metric(FORGED, "consumer=\"intake\"").await? == 150.0)
    })
    .await
    .unwrap();
    let newest = dead_letters(&node).await;
    let stored = newest[0]["seq"].as_u64().unwrap();
    assert!(
        (100..140).contains(&stored),
        "stored {stored} of 150 dead letters; the allowance is a burst of 100 then 10/s"
    );
    // One device registration.
    assert_eq!(node.head().await.unwrap(), CATALOG_EVENTS + 1);

    // Regression: the allowance was per topic, so a topic per message
    // (`device/ghost-N/cmd`) stored every one. It is per sender now: all
    // made-up device names share one.
    const LETTERS: &str = "storenode_dead_letters_total";
    let counted = node.metric(LETTERS, "source=\"device\"").await.unwrap();
    for i in 0..1_000u32 {
        rogue
            .publish(
                &topic::device_command(&format!("ghost-{i}")),
                b"{}".to_vec(),
            )
            .await
            .unwrap();
    }
    node.wait_for("all 1,000 counted", 20, || async {
        Ok(node.metric(LETTERS, "source=\"device\"").await? == counted + 1_000.0)
    })
    .await
    .unwrap();
    let ghosts = dead_letters(&node).await[0]["seq"].as_u64().unwrap() - stored;
    assert!(
        (100..200).contains(&ghosts),
        "stored {ghosts} of 1,000 ghost commands; one allowance of 100 then 10/s"
    );
}

/// Regression: `delta: i64::MIN` passed the ±100000 rule (`abs()` wrapped),
/// made on-hand hugely negative, and a second adjust wrapped it positive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_stock_adjustments_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let stock = |v: &Value| (v["on_hand"].as_i64(), v["reserved"].as_i64());
    let (_, before) = node.get("/api/v1/stock/SKU-001").await.unwrap();
    let head = node.head().await.unwrap();
    for delta in [
        json!(i64::MIN),
        json!(i64::MAX),
        json!(-100_001),
        json!(100_001),
        json!(0),
    ] {
        let (status, e) = node
            .post(
                "/api/v1/stock/adjust",
                &json!({ "sku": "SKU-001", "delta": delta, "reason": "recount" }),
            )
            .await
            .unwrap();
        assert_eq!(status, 422, "{delta}: {e}");
        assert!(e.to_string().contains("delta"), "{delta}: {e}");
    }
    // Out of i64 altogether: a bad body, not a number that wraps.
    let (status, e) = node
        .post_raw(
            "/api/v1/stock/adjust",
            r#"{"sku":"SKU-001","delta":-9223372036854775809,"reason":"recount"}"#,
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{e}");
    let (_, after) = node.get("/api/v1/stock/SKU-001").await.unwrap();
    assert_eq!(stock(&after), stock(&before));
    assert_eq!(node.head().await.unwrap(), head);
    // The largest allowed change still works.
    let (status, e) = node
        .post(
            "/api/v1/stock/adjust",
            &json!({ "sku": "SKU-001", "delta": -100_000, "reason": "recount" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{e}");
}

/// Regression: a device that connected once with the client id of one of
/// the node's own broker links (`intake`, `order`, …) and left took that
/// link down: no device command was answered again until a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_cannot_take_over_the_nodes_own_broker_links() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let pw = node.add_device("scanner-1", "scanner").await.unwrap();
    const FAILURES: &str = "storenode_mqtt_auth_failures_total";
    for id in ["intake", "order", "fulfillment", "notification", "writer"] {
        let before = node.metric(FAILURES, "").await.unwrap();
        let r = Mqtt::connect(node.mqtt, id, "scanner-1", &pw).await;
        assert!(r.is_err(), "the broker let a device connect as {id}");
        drop(r);
        assert_eq!(
            node.metric(FAILURES, "").await.unwrap(),
            before + 1.0,
            "{id}"
        );
    }
    // Every link still works: a device command is answered, and an order
    // still reaches its pick list (order and fulfillment services).
    let mut dev = node.mqtt("scanner-1", &pw).await.unwrap();
    dev.subscribe(&topic::device_reply("scanner-1"))
        .await
        .unwrap();
    let (status, v) = node
        .post("/api/v1/orders", &order_body("LINK-1", 1))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
    node.wait_state("LINK-1", "prepared", 10).await.unwrap();
    let cmd = json!({ "id": "link-1", "command": { "mark_picked": { "order_id": "LINK-1" } } });
    dev.publish(
        &topic::device_command("scanner-1"),
        cmd.to_string().into_bytes(),
    )
    .await
    .unwrap();
    let reply: Value = serde_json::from_slice(&dev.recv(10).await.unwrap().payload).unwrap();
    assert_eq!(reply["status"], "accepted", "{reply}");
}

/// Regression: a device's `create_order` with `unit_price_cents: 0,
/// payment: "prepaid"` for an item priced 1.07 was accepted and picked (a
/// free order). A device's order is paid at the desk and priced from the
/// catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_cannot_place_a_free_or_prepaid_order() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let mut kiosk = node.device("kiosk-1", "kiosk").await.unwrap();
    let head = node.head().await.unwrap();
    let line = json!([{ "sku": "SKU-007", "quantity": 2, "unit_price_cents": 0 }]);
    for payment in ["prepaid", "pending"] {
        let cmd = json!({ "id": format!("free-{payment}"), "command": { "create_order": {
            "order_id": format!("FREE-{payment}"), "order": {
            "customer_name": "Mallory", "lines": line, "payment": payment } } } });
        let reply = device_command(&mut kiosk, "kiosk-1", cmd.to_string().into_bytes()).await;
        assert_eq!(reply["status"], "rejected", "{payment}: {reply}");
        assert!(
            reply["reason"].as_str().unwrap().contains("pay_at_pickup"),
            "{reply}"
        );
    }
    assert_eq!(node.head().await.unwrap(), head, "nothing recorded");
    // Paid at the desk, it is taken, at the catalog's price.
    let cmd = json!({ "id": "kiosk-ok", "command": { "create_order": {
        "order_id": "KIOSK-1", "order": {
        "customer_name": "Kim", "lines": line, "payment": "pay_at_pickup" } } } });
    let reply = device_command(&mut kiosk, "kiosk-1", cmd.to_string().into_bytes()).await;
    assert_eq!(reply["status"], "accepted", "{reply}");
    let (_, item) = node.get("/api/v1/stock/SKU-007").await.unwrap();
    let (_, o) = node.get("/api/v1/orders/KIOSK-1").await.unwrap();
    let created = &o["events"][0]["event"]["order_created"];
    assert_eq!(
        created["lines"][0]["unit_price_cents"], item["item"]["unit_price_cents"],
        "{o}"
    );
    assert_eq!(created["lines"][0]["unit_price_cents"], 107);
}

/// DNS rebinding: a page on the internet points its own name at the node
/// and reads the open endpoints. Requests for a foreign `Host` are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_a_foreign_host_name_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(
        dir.path(),
        Opts {
            env: vec![
                (
                    "STORENODE_HTTP_HOSTNAMES".into(),
                    "node.store42.example".into(),
                ),
                ("STORENODE_HTTP_METRICS_OPEN".into(), "true".into()),
            ],
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    let get = |host: &'static str| {
        let url = node.url("/healthz");
        async move {
            reqwest::Client::new()
                .get(url)
                .header("host", host)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get("rebind.attacker.example").await, 421);
    assert_eq!(get("rebind.attacker.example:8080").await, 421);
    assert_eq!(get("node.store42.example:8080").await, 200);
    assert_eq!(get("backroom.local").await, 200);
    let (status, _) = node.get("/healthz").await.unwrap();
    assert_eq!(status, 200, "by address");
    // With http.metrics_open, /metrics needs no token (still only by the
    // node's own names).
    let open = reqwest::get(node.url("/metrics")).await.unwrap();
    assert_eq!(open.status().as_u16(), 200);
}

/// The generated API token stays in its 0600 file: stdout and the logs
/// (the journal, on a real install) only say where it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_api_token_is_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    assert!(node.token.len() >= 16);
    let logs = node.logs();
    assert!(
        !logs.contains(&node.token),
        "the token is in the output:\n{logs}"
    );
    assert!(logs.contains("API token    new, saved to"), "{logs}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("api-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

/// Regression: at the default 1,024 open files, 1,100 idle TCP connections
/// to the HTTP port stopped `/healthz` and every staff page. Each client
/// address holds at most 64 connections, a request head must come within
/// the header timeout, and the staff are still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_http_clients_do_not_starve_the_staff() {
    use tokio::io::AsyncWriteExt as _;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(
        dir.path(),
        Opts {
            env: vec![("STORENODE_HTTP_HEADER_TIMEOUT_S".into(), "2".into())],
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    // One hostile host (127.0.0.2) opens 2,000 connections and sends
    // nothing; another (127.0.0.3) trickles a request head byte by byte.
    let connect_from = |src: [u8; 4]| {
        let to = node.http;
        async move {
            let s = tokio::net::TcpSocket::new_v4().unwrap();
            s.bind(std::net::SocketAddr::from((src, 0))).unwrap();
            s.connect(to).await
        }
    };
    let mut idle = Vec::new();
    for _ in 0..2_000 {
        if let Ok(c) = connect_from([127, 0, 0, 2]).await {
            idle.push(c);
        }
    }
    let mut slow = connect_from([127, 0, 0, 3]).await.unwrap();
    let trickle = tokio::spawn(async move {
        for b in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " {
            if slow.write_all(&[*b]).await.is_err() {
                return true; // closed by the node
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    });
    // The staff are served meanwhile, promptly.
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let (status, v) = node.get("/healthz").await.unwrap();
        assert_eq!(status, 200, "{v}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }
    let (status, v) = node
        .post("/api/v1/orders", &order_body("BUSY-1", 1))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
    assert!(
        node.metric("storenode_http_connections_refused_total", "")
            .await
            .unwrap()
            >= 1_900.0,
        "connections over the per-client limit are closed and counted"
    );
    // The slow one is cut off at the header timeout, before its head ends.
    assert!(
        trickle.await.unwrap(),
        "the slowloris client was not closed"
    );
    drop(idle);

    // A request body trickled after a quick head is cut at the same
    // timeout, and the order in it is not created.
    let mut slow_body = connect_from([127, 0, 0, 4]).await.unwrap();
    let body = order_body("SLOW-1", 1).to_string();
    let head = format!(
        "POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        node.token,
        body.len()
    );
    slow_body.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = slow_body.into_split();
    let bytes = body.into_bytes();
    let trickler = tokio::spawn(async move {
        for b in bytes {
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let started = std::time::Instant::now();
    let answer = {
        use tokio::io::AsyncReadExt as _;
        let mut answer = vec![0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(6), rd.read(&mut answer))
            .await
            .expect("no answer to a trickled body within 6 s")
            .unwrap_or(0);
        String::from_utf8_lossy(&answer[..n]).to_string()
    };
    trickler.abort();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "a trickled body was not refused: {answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(node.order_state("SLOW-1").await.unwrap(), None);

    // A request head far over 64 KiB is refused with 431.
    let mut big = connect_from([127, 0, 0, 5]).await.unwrap();
    let filler = "x".repeat(256 << 10);
    big.write_all(
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {filler}\r\n\r\n").as_bytes(),
    )
    .await
    .ok();
    {
        use tokio::io::AsyncReadExt as _;
        let mut answer = vec![0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(2), big.read(&mut answer))
            .await
            .map(|r| r.unwrap_or(0))
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&answer[..n]).to_string();
        assert!(text.starts_with("HTTP/1.1 431"), "{text:?}");
    }
}

/// The manager's staff forms parse a role strictly: a role that is not
/// picker, desk or manager (a typo, a forged post) is a 400 with nothing
/// written — it used to become a picker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mistyped_role_on_the_staff_forms_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await.unwrap();
    let (manager, pin) = node.add_staff("Mia", "manager").await.unwrap();
    let (desk, _) = node.add_staff("Dan", "desk").await.unwrap();
    let cookie = node.session_cookie(&manager, &pin).await.unwrap();
    let page = node.page(&cookie, "/manager/staff").await.unwrap();
    let csrf = page
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a CSRF token on the staff page")
        .to_string();
    let head = node.head().await.unwrap();
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let (node, cookie) = (&node, cookie.clone());
        async move {
            let r = reqwest::Client::new()
                .post(node.url(path))
                .header("cookie", cookie)
                .header("origin", format!("http://{}", node.http))
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "/manager/staff/add",
            vec![("name", "Typo".into()), ("role", "pickr".into())],
        ),
        (
            "/manager/staff/add",
            vec![("name", "Boss".into()), ("role", "owner".into())],
        ),
        (
            "/manager/staff/change",
            vec![
                ("staff_id", desk.clone()),
                ("action", "role".into()),
                ("role", "admin".into()),
            ],
        ),
        (
            "/manager/staff/change",
            vec![("staff_id", desk.clone()), ("action", "role".into())],
        ),
    ];
    for (path, mut form) in cases {
        form.push(("_csrf", csrf.clone()));
        let what = format!("{path} {form:?}");
        let (status, body) = post(path, form).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(node.head().await.unwrap(), head, "{what} wrote an event");
    }
    let (_, staff) = node.get("/api/v1/staff").await.unwrap();
    let members = staff["staff"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{staff}");
    let dan = members
        .iter()
        .find(|m| m["staff_id"] == desk.as_str())
        .unwrap();
    assert_eq!(dan["role"], "desk", "{staff}");
    // A good post still works.
    let (status, body) = post(
        "/manager/staff/change",
        vec![
            ("staff_id", desk.clone()),
            ("action", "role".into()),
            ("role", "picker".into()),
            ("_csrf", csrf.clone()),
        ],
    )
    .await;
    assert!(status < 400, "{status}: {body}");
    let (_, staff) = node.get("/api/v1/staff").await.unwrap();
    let dan = staff["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["staff_id"] == desk.as_str())
        .cloned()
        .unwrap();
    assert_eq!(dan["role"], "picker", "{staff}");
}
