//! The service's gzip reader over arbitrary and mutated bodies: each is inflated within its bound
//! or refused with a 4xx naming the problem — never a panic, never more than the bound held.

use std::io::Write;

use axum::response::IntoResponse;
use proptest::prelude::*;

const LIMIT: usize = 64 << 10;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    (
        prop::collection::vec((0..len, any::<u8>()), 0..6),
        prop::option::of(0..len),
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(move |(overwrite, truncate, append)| {
            let mut bytes = base.clone();
            for (at, byte) in overwrite {
                bytes[at] = byte;
            }
            if let Some(len) = truncate {
                bytes.truncate(len);
            }
            bytes.extend(append);
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_gzip_body_inflates_within_its_bound_or_is_refused(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            mutated(gzip(&[b'{'; 4096])),
            mutated(gzip(&vec![0u8; LIMIT * 4])),
        ]
    ) {
        match mock_upstream::server::gunzip_bounded(&body, LIMIT) {
            Ok(json) => prop_assert!(json.len() <= LIMIT),
            Err(refused) => {
                let status = refused.into_response().status();
                prop_assert!(status.is_client_error(), "{}", status);
            }
        }
    }
}
