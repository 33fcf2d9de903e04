//! What devices and HTTP clients send as JSON: commands, and the
//! retained store status HQ reads.
#![no_main]
use libfuzzer_sys::fuzz_target;
use protocol::{codec, sync, CommandEnvelope, Envelope, NewOrder};

fuzz_target!(|data: &[u8]| {
    let _ = codec::from_json::<CommandEnvelope>(data);
    let _ = codec::from_json::<Envelope>(data);
    let _ = serde_json::from_slice::<NewOrder>(data);
    let _ = serde_json::from_slice::<sync::StoreStatus>(data);
});
