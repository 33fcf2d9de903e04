use std::path::Path;

use super::keys::KEYS;
use super::*;

fn error_for(key: &str, value: &str) -> String {
    let mut l = Layers::defaults();
    l.set(key, value, Source::Flag(format!("--{key}")));
    match l.validate() {
        Ok(_) => panic!("{key}={value:?} was accepted"),
        Err(e) => e.to_string(),
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

    /// Fuzzing with proptest: any file text is refused with a key and a
    /// reason, or validated; never a panic.
    #[test]
    fn any_config_text_is_refused_or_valid_never_a_panic(
        text in proptest::string::string_regex("(?s).{0,300}").expect("regex"),
        key in proptest::sample::select(KEYS.iter().map(|k| k.key).collect::<Vec<_>>()),
        value in proptest::sample::select(vec![
            "\"\"", "0", "-1", "true", "\"0.0.0.0:1\"", "\"x\"", "99999999999999999999",
            "[1, 2]", "{ a = 1 }", "\"127.0.0.1:0\"", "1.5",
        ]),
    ) {
        let mut l = Layers::defaults();
        if l.toml_text(&text, Path::new("fuzz.toml")).is_ok() {
            let _ = l.validate();
        }
        // A known key with a value of any type.
        let (table, leaf) = key.split_once('.').unwrap_or(("", key));
        let doc = if table.is_empty() {
            format!("{leaf} = {value}\n")
        } else {
            format!("[{table}]\n{leaf} = {value}\n")
        };
        let mut l = Layers::defaults();
        if l.toml_text(&doc, Path::new("fuzz.toml")).is_ok() {
            let _ = l.validate();
        }
    }
}

#[test]
fn defaults_are_valid_and_safe() {
    let c = Layers::defaults().validate().expect("defaults validate");
    assert!(c.mqtt_listen.ip().is_loopback());
    assert!(c.http_listen.ip().is_loopback());
    assert_eq!(c.durability, Durability::Fdatasync);
    assert_eq!(c.data_dir, PathBuf::from("./storenode-data"));
}

#[test]
fn every_invalid_key_names_key_value_and_reason() {
    // (key, bad value, words the message must contain)
    let table: &[(&str, &str, &str)] = &[
        ("store_id", "", "must not be empty"),
        ("store_id", "my/store", "only letters, digits"),
        ("store_id", &"s".repeat(40), "at most 32"),
        ("data_dir", " ", "must not be empty"),
        ("mqtt.listen", "localhost", "not a socket address"),
        ("mqtt.listen", "127.0.0.1:99999", "not a socket address"),
        (
            "http.listen",
            "127.0.0.1:1883",
            "same address as mqtt.listen",
        ),
        ("http.listen", "0.0.0.0:1883", "same address as mqtt.listen"),
        ("http.listen", "nope", "not a socket address"),
        ("mqtt.max_connections", "0", "between 1 and 100000"),
        ("mqtt.listen", "0.0.0.0:1883", "without TLS"),
        (
            "mqtt.listen",
            "192.168.1.10:1883",
            "mqtt.insecure_plaintext_lan",
        ),
        ("mqtt.tls_listen", "8883", "not a socket address"),
        (
            "mqtt.tls_names",
            "node.local, bad name",
            "neither an IP address nor a DNS name",
        ),
        (
            "mqtt.max_connections_per_client",
            "0",
            "between 1 and 100000",
        ),
        ("mqtt.insecure_plaintext_lan", "yes please", "true"),
        ("http.tls", "on", "`off`, `node-ca` or `files`"),
        ("http.tls", "files", "not both set"),
        ("http.tls_cert", "/nonexistent.pem", "cannot read"),
        ("mqtt.max_connections", "many", "not a whole number"),
        ("mqtt.max_payload_bytes", "10", "between 1024"),
        ("http.max_body_bytes", "-1", "not a whole number"),
        ("api.token", "short", "at least 16"),
        ("api.token", "has spaces in it ok?", "printable ASCII"),
        ("storage.durability", "sometimes", "`fdatasync` or `flush`"),
        ("storage.max_batch", "0", "between 1"),
        ("storage.linger_us", "1s", "not a whole number"),
        ("storage.inbox_retention_days", "0", "between 1 and 3650"),
        ("storage.linger_us", "200000", "between 0 and 100000"),
        ("log.level", "info,[[[", "not a log filter"),
        ("log.format", "xml", "`auto`, `json` or `text`"),
        ("shutdown.grace_ms", "1e9", "not a whole number"),
        ("web.language", "fr", "`en` or `de`"),
        ("web.time_zone", "Mars/Olympus", "not a time zone"),
        ("web.messages", "/nonexistent/texts.toml", "cannot read"),
        ("web.session_idle_s", "10", "between 60"),
        ("web.session_idle_s", "900000", "between 60"),
        (
            "cloud.url",
            "mqtts://a:8883,mqtt://b",
            "mixes mqtts:// and mqtt://",
        ),
        (
            "cloud.url",
            "mqtts://a, https://b",
            "https://b: must start with mqtts://",
        ),
        (
            "cloud.url",
            "mqtt://127.0.0.1:1883,mqtt://10.0.0.2",
            "unencrypted",
        ),
    ];
    for (key, value, words) in table {
        let msg = error_for(key, value);
        assert!(msg.contains(&format!("`{key}`")), "{msg}");
        assert!(msg.contains(&format!("{value:?}")), "{msg}");
        assert!(msg.contains(words), "{key}: {msg}");
        assert!(msg.contains("flag --"), "source missing: {msg}");
    }
}

#[test]
fn layers_override_in_order() {
    let mut l = Layers::defaults();
    l.toml_text(
        "store_id = \"from-file\"\n[mqtt]\nlisten = \"127.0.0.1:1884\"\nmax_connections = 10\n",
        Path::new("t.toml"),
    )
    .expect("valid toml");
    l.env([
        ("STORENODE_STORE_ID".to_string(), "from-env".to_string()),
        ("UNRELATED".to_string(), "x".to_string()),
    ]);
    let c = l.validate().expect("valid");
    assert_eq!(c.store_id.as_str(), "from-env");
    assert_eq!(c.mqtt_listen.port(), 1884);
    assert_eq!(c.mqtt_max_connections, 10);
    l.set("store_id", "from-flag", Source::Flag("--store-id".into()));
    assert_eq!(l.validate().expect("valid").store_id.as_str(), "from-flag");
}

#[test]
fn file_errors_name_the_problem() {
    let mut l = Layers::defaults();
    let e = l
        .toml_text("[mqtt]\nlisen = \"x\"\n", Path::new("t.toml"))
        .expect_err("typo refused");
    assert!(e.to_string().contains("unknown key `mqtt.lisen`"), "{e}");
    let e = l
        .toml_text("store_id = \"s\"\n[mqtt]\nlisten = \n", Path::new("t.toml"))
        .expect_err("syntax refused");
    assert!(e.to_string().contains("not valid TOML: line 3"), "{e}");
    let mut l = Layers::defaults();
    l.toml_text("[storage]\nmax_batch = 0\n", Path::new("/etc/s.toml"))
        .expect("parses");
    let e = l.validate().expect_err("zero batch refused").to_string();
    assert!(e.contains("file /etc/s.toml"), "{e}");
}
