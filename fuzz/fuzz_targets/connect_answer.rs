//! What a service answers the service connection tool's `-connect`, a receipt and a pack offer:
//! parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<usage_protocol::connect::ConnectAnswer>(data);
    let _ = serde_json::from_slice::<usage_protocol::Receipt>(data);
    let _ = serde_json::from_slice::<usage_protocol::update_pack::PackOffer>(data);
});
