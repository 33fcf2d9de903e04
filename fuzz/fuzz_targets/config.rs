//! A configuration file: refused with a key and a reason, or valid.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut layers = storenode::config::Layers::defaults();
    if layers
        .toml_text(&text, std::path::Path::new("fuzz.toml"))
        .is_ok()
    {
        let _ = layers.validate();
    }
});
