//! The usage payload as the service reads it (shape only) and as the harness reads it (with its
//! rows): both accept exactly the same inputs, and neither panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usage_protocol::payload::{PayloadShape, UsagePayload};

fuzz_target!(|data: &[u8]| {
    let shape = PayloadShape::from_json(data);
    let full = UsagePayload::from_json(data);
    assert_eq!(shape.is_ok(), full.is_ok());
});
