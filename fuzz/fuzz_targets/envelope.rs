//! Every postcard decoder of the wire: the log's envelopes, device and
//! cloud commands, replies, and the sync link's messages.
#![no_main]
use libfuzzer_sys::fuzz_target;
use protocol::{codec, sync, CommandEnvelope, CommandReply, Envelope};

fuzz_target!(|data: &[u8]| {
    let _ = codec::decode::<Envelope>(data);
    let _ = codec::decode::<CommandEnvelope>(data);
    let _ = codec::decode::<CommandReply>(data);
    let _ = codec::decode::<sync::UpBatch>(data);
    let _ = codec::decode::<sync::UpAck>(data);
    let _ = codec::decode::<sync::DownCommand>(data);
    let _ = codec::decode::<sync::DownReply>(data);
});
