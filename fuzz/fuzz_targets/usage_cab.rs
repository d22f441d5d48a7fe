//! The service connection tool's usage cabinet: read within its bound, or refused.
#![no_main]

use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(cab) = usage_protocol::usage_cab::read(data, LIMIT) {
        assert!(cab.payload_json.len() as u64 <= LIMIT);
    }
});
