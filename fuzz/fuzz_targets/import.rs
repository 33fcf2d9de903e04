//! The catalog and stock import (CSV and JSON), as staff upload it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = storenode::import::parse_csv(&text);
    let _ = storenode::import::parse_json(&text);
});
