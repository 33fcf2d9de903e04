//! Typed decode errors: what a caller learns when bytes or JSON are wrong.
#![allow(clippy::unwrap_used)]

mod common;

use proptest::prelude::*;
use protocol::codec::{self, DecodeError, FORMAT_VERSION};
use protocol::{
    Actor, CatalogItem, ChainHash, CommandEnvelope, Envelope, Event, EventKind, Location, NewOrder,
    OrderLine, SkuQuantity, StagingSlot,
};

/// A valid postcard envelope, 101 bytes:
/// 0 version | 1..17 event_id | 17 causation tag | 18..34 causation |
/// 34 store_id len | 35..44 store_id | 44 order_id len | 45..57 order_id |
/// 57 order_seq | 58..60 log_seq | 60..66 time_ms | 66 schema |
/// 67 actor (Api) | 68 event (OrderAccepted) | 69..101 prev_hash
fn valid() -> Vec<u8> {
    let bytes = codec::encode(&common::envelope(Event::OrderAccepted, Actor::Api));
    assert_eq!(bytes.len(), 101, "the layout above is out of date");
    bytes
}

fn with(at: usize, byte: u8) -> Vec<u8> {
    let mut bytes = valid();
    bytes[at] = byte;
    bytes
}

fn concat(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

enum Want {
    Is(DecodeError),
    /// A postcard error; its message is postcard's and not pinned.
    Postcard,
}

#[test]
fn binary_errors() {
    let body = &valid()[1..];
    let cases: Vec<(&str, Vec<u8>, Want)> = vec![
        ("empty", vec![], Want::Is(DecodeError::Empty)),
        (
            "version 0",
            concat(&[0], body),
            Want::Is(DecodeError::Version { found: 0 }),
        ),
        (
            "next version",
            concat(&[FORMAT_VERSION + 1], body),
            Want::Is(DecodeError::Version { found: 2 }),
        ),
        (
            "version byte only, wrong",
            vec![0xff],
            Want::Is(DecodeError::Version { found: 0xff }),
        ),
        (
            "JSON sent to a postcard topic",
            br#"{"id":"x"}"#.to_vec(),
            Want::Is(DecodeError::Version { found: b'{' }),
        ),
        (
            "one trailing byte",
            concat(&valid(), &[0]),
            Want::Is(DecodeError::Trailing { trailing: 1 }),
        ),
        (
            "a second message appended",
            concat(&valid(), body),
            Want::Is(DecodeError::Trailing { trailing: 100 }),
        ),
        ("version byte only", vec![FORMAT_VERSION], Want::Postcard),
        ("last byte cut", valid()[..100].to_vec(), Want::Postcard),
        (
            "cut inside the prev hash",
            valid()[..85].to_vec(),
            Want::Postcard,
        ),
        (
            // What a schema 1 writer produced: refused, not misread.
            "schema 1 envelope (no prev hash)",
            {
                let mut bytes = valid()[..69].to_vec();
                bytes[66] = 1;
                bytes
            },
            Want::Postcard,
        ),
        (
            "cut inside the event id",
            valid()[..9].to_vec(),
            Want::Postcard,
        ),
        ("option tag 2", with(17, 2), Want::Postcard),
        (
            "store id longer than the payload",
            with(34, 0x7f),
            Want::Postcard,
        ),
        ("store id not UTF-8", with(35, 0xff), Want::Postcard),
        ("store id with a slash", with(35, b'/'), Want::Postcard),
        ("unknown actor", with(67, 6), Want::Postcard),
        (
            // One more variant than kinds: `item_shorted` has two forms.
            "unknown event (one past the last)",
            with(68, EventKind::ALL.len() as u8 + 1),
            Want::Postcard,
        ),
        (
            "varint longer than u64",
            concat(&valid()[..57], &[0xff; 11]),
            Want::Postcard,
        ),
    ];
    for (name, input, want) in cases {
        let got = codec::decode::<Envelope>(&input);
        match (&got, want) {
            (Err(e), Want::Is(want)) if *e == want => {}
            (Err(DecodeError::Postcard(message)), Want::Postcard) if !message.is_empty() => {}
            (got, _) => panic!("{name}: got {got:?}"),
        }
    }
}

/// A command variant index one past the last (a newer sender's command) is
/// refused, not misread as another command.
#[test]
fn unknown_command_index_is_refused() {
    let commands = common::commands();
    let (_, last) = commands.last().unwrap();
    let mut bytes = codec::encode(last);
    // 0 version | 1 id len | 2..10 id "cmd-0017" | 10 variant index
    assert_eq!(bytes[1], 8, "the layout above is out of date");
    assert_eq!(usize::from(bytes[10]), commands.len() - 1);
    assert!(codec::decode::<CommandEnvelope>(&bytes).is_ok());
    bytes[10] = commands.len() as u8;
    match codec::decode::<CommandEnvelope>(&bytes) {
        Err(DecodeError::Postcard(message)) if !message.is_empty() => {}
        other => panic!("got {other:?}"),
    }
}

#[test]
fn error_messages_name_the_problem() {
    let cases = [
        (DecodeError::Empty, "empty payload"),
        (
            DecodeError::Version { found: 2 },
            "unsupported format version 2 (this build reads version 1)",
        ),
        (
            DecodeError::Trailing { trailing: 3 },
            "3 unexpected bytes after the message",
        ),
    ];
    for (error, want) in cases {
        assert_eq!(error.to_string(), want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever follows it, a foreign version byte is reported as such.
    #[test]
    fn any_other_version_is_refused(
        version in any::<u8>().prop_filter("not ours", |v| *v != FORMAT_VERSION),
        body in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        prop_assert_eq!(
            codec::decode::<Envelope>(&concat(&[version], &body)),
            Err(DecodeError::Version { found: version })
        );
    }

    #[test]
    fn any_trailing_bytes_are_counted(extra in proptest::collection::vec(any::<u8>(), 1..40)) {
        prop_assert_eq!(
            codec::decode::<Envelope>(&concat(&valid(), &extra)),
            Err(DecodeError::Trailing { trailing: extra.len() })
        );
    }
}

/// A device's JSON, what is wrong with it, and where (1-based line and
/// column as serde_json reports them), and words the message must contain.
struct JsonCase {
    name: &'static str,
    json: &'static str,
    line: usize,
    column: usize,
    message: &'static str,
}

fn check_json<T: serde::de::DeserializeOwned + std::fmt::Debug>(cases: &[JsonCase]) {
    for case in cases {
        match codec::from_json::<T>(case.json.as_bytes()) {
            Err(DecodeError::Json {
                line,
                column,
                message,
            }) => {
                assert_eq!(
                    (line, column),
                    (case.line, case.column),
                    "{}: position ({message})",
                    case.name
                );
                assert!(
                    message.contains(case.message),
                    "{}: {message:?} does not mention {:?}",
                    case.name,
                    case.message
                );
            }
            other => panic!("{}: got {other:?}", case.name),
        }
    }
}

#[test]
fn empty_json_is_empty() {
    assert_eq!(
        codec::from_json::<CommandEnvelope>(b""),
        Err(DecodeError::Empty)
    );
}

#[test]
fn command_json_errors() {
    check_json::<CommandEnvelope>(&[
        JsonCase {
            name: "blank",
            json: "  \n",
            line: 2,
            column: 0,
            message: "EOF while parsing a value",
        },
        JsonCase {
            name: "missing comma",
            json: concat!(
                "{\n",
                "  \"id\": \"cmd-1\"\n",
                "  \"command\": {\"hand_over\": {\"order_id\": \"A-1\", \"staff\": \"s-1\", \"code\": \"c\"}}\n",
                "}",
            ),
            line: 3,
            column: 3,
            message: "expected `,` or `}`",
        },
        JsonCase {
            name: "cut short",
            json: "{\n  \"id\": \"cmd-1\",\n  \"command\": {\"hand_over\": {",
            line: 3,
            column: 28,
            message: "EOF while parsing an object",
        },
        JsonCase {
            name: "two messages",
            json: r#"{"id":"a","command":{"hand_over":{"order_id":"A-1","staff":"s","code":"c"}}} {}"#,
            line: 1,
            column: 78,
            message: "trailing characters",
        },
        JsonCase {
            name: "unknown envelope field",
            json: r#"{"id":"cmd-1","retry":true,"command":{"hand_over":{"order_id":"A-1","staff":"s","code":"c"}}}"#,
            line: 1,
            column: 21,
            message: "unknown field `retry`, expected `id` or `command`",
        },
        JsonCase {
            name: "unknown command field",
            json: concat!(
                "{\n",
                "  \"id\": \"cmd-1\",\n",
                "  \"command\": {\n",
                "    \"mark_picked\": {\"order_id\": \"A-1\", \"staff\": \"s-1\", \"note\": \"x\"}\n",
                "  }\n",
                "}",
            ),
            line: 4,
            column: 61,
            message: "unknown field `note`",
        },
        JsonCase {
            name: "unknown order field",
            json: concat!(
                "{\"id\": \"cmd-1\", \"command\": {\"create_order\": {\"order_id\": \"A-1\", \"order\": {\n",
                "  \"customer_name\": \"Ada\",\n",
                "  \"gift_wrap\": true,\n",
                "  \"lines\": [],\n",
                "  \"payment\": \"prepaid\"\n",
                "}}}}",
            ),
            line: 3,
            column: 13,
            message: "unknown field `gift_wrap`",
        },
        JsonCase {
            name: "unknown line field",
            json: concat!(
                "{\"id\": \"cmd-1\", \"command\": {\"create_order\": {\"order_id\": \"A-1\", \"order\": {\n",
                "  \"customer_name\": \"Ada\",\n",
                "  \"lines\": [\n",
                "    {\"sku\": \"S-1\", \"quantity\": 1, \"unit_price_cents\": 100},\n",
                "    {\"sku\": \"S-2\", \"quantity\": 1, \"unit_price_cents\": 100, \"colour\": \"red\"}\n",
                "  ],\n",
                "  \"payment\": \"prepaid\"\n",
                "}}}}",
            ),
            line: 5,
            column: 67,
            message: "unknown field `colour`",
        },
        JsonCase {
            name: "unknown command",
            json: r#"{"id":"cmd-1","command":{"refund":{"order_id":"A-1"}}}"#,
            line: 1,
            column: 33,
            message: "unknown variant `refund`",
        },
        JsonCase {
            name: "hand-over without the pickup code",
            json: r#"{"id":"cmd-1","command":{"hand_over":{"order_id":"A-1","staff":"s"}}}"#,
            line: 1,
            column: 67,
            message: "missing field `code`",
        },
        JsonCase {
            name: "missing id",
            json: r#"{"command":{"hand_over":{"order_id":"A-1","staff":"s","code":"c"}}}"#,
            line: 1,
            column: 67,
            message: "missing field `id`",
        },
        JsonCase {
            name: "order id with a slash",
            json: r#"{"id": "cmd-1", "command": {"hand_over": {"order_id": "a/b", "staff": "s-1", "code": "c"}}}"#,
            line: 1,
            column: 59,
            message: "contains '/'; only letters, digits, '-', '_' and '.' are allowed",
        },
        JsonCase {
            name: "empty order id",
            json: r#"{"id":"cmd-1","command":{"hand_over":{"order_id":"","staff":"s","code":"c"}}}"#,
            line: 1,
            column: 51,
            message: "must not be empty",
        },
        JsonCase {
            name: "order id too long",
            json: concat!(
                r#"{"id":"cmd-1","command":{"hand_over":{"order_id":""#,
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                r#"","staff":"s","code":"c"}}}"#,
            ),
            line: 1,
            column: 116,
            message: "is 65 characters long; at most 64 are allowed",
        },
        JsonCase {
            name: "quantity as a string",
            json: concat!(
                r#"{"id":"cmd-1","command":{"create_order":{"order_id":"A-1","order":{"#,
                r#""customer_name":"Ada","lines":[{"sku":"S","quantity":"2","unit_price_cents":1}],"#,
                r#""payment":"prepaid"}}}}"#,
            ),
            line: 1,
            column: 123,
            message: "invalid type: string \"2\", expected u32",
        },
        JsonCase {
            name: "negative quantity",
            json: concat!(
                r#"{"id":"cmd-1","command":{"create_order":{"order_id":"A-1","order":{"#,
                r#""customer_name":"Ada","lines":[{"sku":"S","quantity":-1,"unit_price_cents":1}],"#,
                r#""payment":"prepaid"}}}}"#,
            ),
            line: 1,
            column: 122,
            message: "invalid value: integer `-1`, expected u32",
        },
        JsonCase {
            name: "unknown payment mode",
            json: concat!(
                r#"{"id":"cmd-1","command":{"create_order":{"order_id":"A-1","order":{"#,
                r#""customer_name":"Ada","lines":[],"payment":"cash"}}}}"#,
            ),
            line: 1,
            column: 116,
            message: "unknown variant `cash`, expected one of `prepaid`, `pay_at_pickup`, `pending`",
        },
    ]);
}

/// The BOPIS commands refuse what the older ones refuse: unknown fields
/// (also on the store-stream commands, which have no order id), unknown
/// enum names, wrong types.
#[test]
fn bopis_command_json_errors() {
    check_json::<CommandEnvelope>(&[
        JsonCase {
            name: "pick_item with a misspelt field",
            json: concat!(
                r#"{"id":"cmd-1","command":{"pick_item":{"order_id":"A-1","line_no":1,"#,
                r#""barcode":"96385074","qty":2,"staff":"s"}}}"#,
            ),
            line: 1,
            column: 93,
            message: "unknown field `qty`",
        },
        JsonCase {
            name: "confirm_payment with an amount",
            json: r#"{"id":"cmd-1","command":{"confirm_payment":{"order_id":"A-1","amount_cents":100}}}"#,
            line: 1,
            column: 75,
            message: "unknown field `amount_cents`, expected `order_id`",
        },
        JsonCase {
            name: "unknown slot kind",
            json: concat!(
                r#"{"id":"cmd-1","command":{"stage":{"order_id":"A-1","#,
                r#""slot":{"kind":"drawer","id":"D1"},"staff":"s"}}}"#,
            ),
            line: 1,
            column: 74,
            message: "unknown variant `drawer`, expected one of `shelf`, `cold_storage`, `freezer`, `locker`",
        },
        JsonCase {
            name: "unknown slot field",
            json: concat!(
                r#"{"id":"cmd-1","command":{"stage":{"order_id":"A-1","#,
                r#""slot":{"kind":"shelf","id":"A3","colour":"red"},"staff":"s"}}}"#,
            ),
            line: 1,
            column: 92,
            message: "unknown field `colour`, expected `kind` or `id`",
        },
        JsonCase {
            name: "unknown arrival channel",
            json: r#"{"id":"cmd-1","command":{"check_in":{"order_id":"A-1","channel":"drive_thru"}}}"#,
            line: 1,
            column: 76,
            message: "unknown variant `drive_thru`, expected one of `desk`, `kiosk`, `curbside`",
        },
        JsonCase {
            name: "count_stock names no order",
            json: r#"{"id":"cmd-1","command":{"count_stock":{"order_id":"A-1","counts":[],"staff":"s"}}}"#,
            line: 1,
            column: 50,
            message: "unknown field `order_id`, expected `counts` or `staff`",
        },
        JsonCase {
            name: "fractional stock delta",
            json: concat!(
                r#"{"id":"cmd-1","command":{"adjust_stock":{"sku":"S-1","delta":1.5,"#,
                r#""reason":"r","staff":"s"}}}"#,
            ),
            line: 1,
            column: 64,
            message: "invalid type: floating point `1.5`, expected i64",
        },
        JsonCase {
            name: "set_store_open without open",
            json: r#"{"id":"cmd-1","command":{"set_store_open":{"reason":"r","staff":"s"}}}"#,
            line: 1,
            column: 68,
            message: "missing field `open`",
        },
        JsonCase {
            name: "check_in_by_code names no order",
            json: concat!(
                r#"{"id":"cmd-1","command":{"check_in_by_code":{"order_id":"A-1","#,
                r#""code":"K7P2QX","channel":"kiosk"}}}"#,
            ),
            line: 1,
            column: 55,
            message: "unknown field `order_id`, expected one of `code`, `channel`, `note`",
        },
        JsonCase {
            name: "check_in_by_code without a code",
            json: r#"{"id":"cmd-1","command":{"check_in_by_code":{"channel":"desk"}}}"#,
            line: 1,
            column: 62,
            message: "missing field `code`",
        },
        JsonCase {
            name: "check_in_by_code by an unknown channel",
            json: r#"{"id":"cmd-1","command":{"check_in_by_code":{"code":"K7P2QX","channel":"app"}}}"#,
            line: 1,
            column: 76,
            message: "unknown variant `app`, expected one of `desk`, `kiosk`, `curbside`",
        },
        JsonCase {
            name: "report_locker_door without open",
            json: r#"{"id":"cmd-1","command":{"report_locker_door":{"compartment":"12"}}}"#,
            line: 1,
            column: 66,
            message: "missing field `open`",
        },
        JsonCase {
            name: "report_locker_door with open as a string",
            json: r#"{"id":"cmd-1","command":{"report_locker_door":{"compartment":"12","open":"yes"}}}"#,
            line: 1,
            column: 78,
            message: "invalid type: string \"yes\", expected a boolean",
        },
        JsonCase {
            name: "report_locker_door naming an order",
            json: concat!(
                r#"{"id":"cmd-1","command":{"report_locker_door":{"compartment":"12","open":true,"#,
                r#""order_id":"A-1"}}}"#,
            ),
            line: 1,
            column: 88,
            message: "unknown field `order_id`, expected `compartment` or `open`",
        },
        JsonCase {
            name: "aisle beyond u16",
            json: concat!(
                "{\"id\": \"cmd-1\", \"command\": {\"import_catalog\": {\"items\": [\n",
                "  {\"sku\": \"S-1\", \"name\": \"Tea\", \"barcodes\": [], \"zone\": \"ambient\", \"unit_price_cents\": 99,\n",
                "   \"location\": {\"aisle\": 70000, \"bay\": 1, \"shelf\": 1}}\n",
                "]}}}",
            ),
            line: 3,
            column: 30,
            message: "invalid value: integer `70000`, expected u16",
        },
        JsonCase {
            name: "unknown zone",
            json: concat!(
                "{\"id\": \"cmd-1\", \"command\": {\"import_catalog\": {\"items\": [\n",
                "  {\"sku\": \"S-1\", \"name\": \"Tea\", \"barcodes\": [], \"zone\": \"cold\", \"unit_price_cents\": 99,\n",
                "   \"location\": {\"aisle\": 1, \"bay\": 1, \"shelf\": 1}}\n",
                "]}}}",
            ),
            line: 2,
            column: 62,
            message: "unknown variant `cold`, expected one of `ambient`, `chilled`, `frozen`",
        },
        JsonCase {
            name: "catalog item with a misspelt field",
            json: concat!(
                "{\"id\": \"cmd-1\", \"command\": {\"import_catalog\": {\"items\": [\n",
                "  {\"sku\": \"S-1\", \"name\": \"Tea\", \"barcodes\": [], \"zone\": \"ambient\", \"price\": 99,\n",
                "   \"location\": {\"aisle\": 1, \"bay\": 1, \"shelf\": 1}}\n",
                "]}}}",
            ),
            line: 2,
            column: 74,
            message: "unknown field `price`",
        },
        JsonCase {
            name: "location with a fourth coordinate",
            json: concat!(
                "{\"id\": \"cmd-1\", \"command\": {\"import_catalog\": {\"items\": [\n",
                "  {\"sku\": \"S-1\", \"name\": \"Tea\", \"barcodes\": [], \"zone\": \"ambient\", \"unit_price_cents\": 99,\n",
                "   \"location\": {\"aisle\": 1, \"bay\": 1, \"shelf\": 1, \"row\": 2}}\n",
                "]}}}",
            ),
            line: 3,
            column: 55,
            message: "unknown field `row`, expected one of `aisle`, `bay`, `shelf`",
        },
    ]);
}

/// The new structs refuse unknown fields and require their fields on their
/// own too (the web view posts them directly).
#[test]
fn bopis_struct_json_errors() {
    check_json::<CatalogItem>(&[JsonCase {
        name: "catalog item without its price",
        json: r#"{"sku":"S-1","name":"Tea","barcodes":[],"location":{"aisle":1,"bay":1,"shelf":1},"zone":"ambient"}"#,
        line: 1,
        column: 98,
        message: "missing field `unit_price_cents`",
    }]);
    check_json::<SkuQuantity>(&[JsonCase {
        name: "sku quantity with a second quantity",
        json: r#"{"sku":"S-1","quantity":2,"qty":2}"#,
        line: 1,
        column: 31,
        message: "unknown field `qty`",
    }]);
    check_json::<StagingSlot>(&[JsonCase {
        name: "slot with a door",
        json: r#"{"kind":"locker","id":"12","door":"left"}"#,
        line: 1,
        column: 33,
        message: "unknown field `door`",
    }]);
    check_json::<Location>(&[JsonCase {
        name: "location without a shelf",
        json: r#"{"aisle":1,"bay":1}"#,
        line: 1,
        column: 19,
        message: "missing field `shelf`",
    }]);
}

/// `NewOrder` and `OrderLine` refuse unknown fields on their own too, e.g.
/// when the web form posts an order.
#[test]
fn order_json_errors() {
    check_json::<NewOrder>(&[JsonCase {
        name: "unknown order field",
        json: r#"{"customer_name":"Ada","lines":[],"payment":"prepaid","discount":5}"#,
        line: 1,
        column: 64,
        message: "unknown field `discount`",
    }]);
    check_json::<OrderLine>(&[JsonCase {
        name: "unknown line field",
        json: r#"{"sku":"S","quantity":1,"unit_price_cents":1,"qty":2}"#,
        line: 1,
        column: 50,
        message: "unknown field `qty`",
    }]);
}

/// The valid JSON of `common::envelope(OrderAccepted, Api)` and its
/// `prev_hash` text.
fn valid_json() -> (String, String) {
    let json = String::from_utf8(codec::to_json(&common::envelope(
        Event::OrderAccepted,
        Actor::Api,
    )))
    .expect("JSON is UTF-8");
    let hash: String = common::PREV_HASH
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(json.contains(&format!(r#""prev_hash":"{hash}""#)));
    (json, hash)
}

#[test]
fn envelope_json_errors() {
    let (valid, hash) = valid_json();
    let replace = |from: &str, to: &str| {
        let json = valid.replace(from, to);
        assert_ne!(json, valid, "{from:?} is in the valid JSON");
        json
    };
    let hash_as = |text: &str| replace(&format!(r#""{hash}""#), &format!(r#""{text}""#));
    let cases = [
        (
            "event id",
            replace("01J0N3PK2XDSZR14D2PF2DBSQQ", "not-a-ulid"),
            "is not a ULID",
        ),
        (
            "store id",
            replace("store-042", "store 042"),
            "contains ' '",
        ),
        (
            "prev hash with a non-hex digit",
            hash_as(&hash.replacen("e0", "g0", 1)),
            "expected 64 hex digits",
        ),
        (
            "prev hash one byte short",
            hash_as(&hash[2..]),
            "expected 64 hex digits",
        ),
        (
            "prev hash one byte long",
            hash_as(&format!("{hash}00")),
            "expected 64 hex digits",
        ),
        (
            "prev hash odd length",
            hash_as(&hash[1..]),
            "expected 64 hex digits",
        ),
        (
            // 64 bytes of UTF-8, but 'é' is two bytes: not 64 hex digits.
            "prev hash with a non-ASCII character",
            hash_as(&hash.replacen("e0", "é", 1)),
            "expected 64 hex digits",
        ),
        ("prev hash empty", hash_as(""), "expected 64 hex digits"),
        (
            "prev hash as bytes",
            replace(&format!(r#""{hash}""#), &format!("{:?}", common::PREV_HASH)),
            "invalid type: sequence, expected a string",
        ),
        (
            "prev hash null",
            replace(&format!(r#""{hash}""#), "null"),
            "invalid type: null, expected a string",
        ),
        (
            // What a schema 1 writer produced.
            "no prev hash",
            replace(&format!(r#","prev_hash":"{hash}""#), ""),
            "missing field `prev_hash`",
        ),
    ];
    for (name, json, message) in cases {
        match codec::from_json::<Envelope>(json.as_bytes()) {
            Err(DecodeError::Json {
                line: 1,
                message: m,
                ..
            }) if m.contains(message) => {}
            other => panic!("{name}: got {other:?}"),
        }
    }
}

/// Upper-case hex is read (the node writes lower case).
#[test]
fn chain_hash_json_accepts_upper_case() {
    let (_, hash) = valid_json();
    assert_eq!(
        codec::from_json::<ChainHash>(format!(r#""{}""#, hash.to_uppercase()).as_bytes()),
        Ok(ChainHash(common::PREV_HASH))
    );
}

/// A hash is 64 hex digits and nothing else (`u8::from_str_radix` alone
/// would accept a leading '+', so "+f+f…" would read as a hash).
#[test]
fn chain_hash_json_refuses_signs() {
    let signed = format!(r#""{}""#, "+f".repeat(32));
    assert!(
        codec::from_json::<ChainHash>(signed.as_bytes()).is_err(),
        "{signed} was read as a hash"
    );
}
