//! A gzip'd request body at the service: inflated within its bound, or refused with a 4xx.
#![no_main]

use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(json) = mock_upstream::server::gunzip_bounded(data, LIMIT) {
        assert!(json.len() <= LIMIT);
    }
});
