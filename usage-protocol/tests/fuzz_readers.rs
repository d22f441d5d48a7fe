//! Every reader of outside input in the wire contract, over arbitrary and mutated inputs: the
//! payload JSON (with its rows, and shape-only as the service reads it), the usage cabinet, a
//! receipt, a `-connect` answer and a pack offer. Each must answer with a value or a clear error:
//! no panic, no abort, and nothing read past its bound. Bounded to a few seconds each in the
//! ordinary test run; `PROPTEST_CASES` raises the count for long runs.

use proptest::prelude::*;
use usage_protocol::payload::{PayloadShape, UsagePayload};
use usage_protocol::usage_cab;

const VALID: &str = r#"{"schema_version":2,"hierarchy_id":"l4+K5sWP281xaRXRloiykwSNsUtvHuHHgkZsLPuaLZA=","product_version":"5.00.8540.1000","level":"enhanced","mode":"offline","period":{"week":3,"start":"2026-01-26"},"sites":[{"site":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=","type":"standalone","version":"5.00.8540.1000","status":"Active","clients":10,"time_zone":"UTC"}],"results":[{"probe":"TEL_Settings","site":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=","week":3,"period_start":"2026-01-26","rows":[{"level":"enhanced","mode":"offline","n":[1,2,{"x":null}]}]}]}"#;

/// A mutation of `base`: some bytes overwritten, some removed, some inserted, maybe truncated.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    (
        prop::collection::vec((0..len, any::<u8>()), 0..8),
        prop::collection::vec((0..len, any::<u8>()), 0..4),
        prop::collection::vec(0..len, 0..4),
        prop::option::of(0..len),
    )
        .prop_map(move |(overwrite, insert, remove, truncate)| {
            let mut bytes = base.clone();
            for (at, byte) in overwrite {
                bytes[at] = byte;
            }
            for at in remove {
                if at < bytes.len() {
                    bytes.remove(at);
                }
            }
            for (at, byte) in insert {
                bytes.insert(at.min(bytes.len()), byte);
            }
            if let Some(len) = truncate {
                bytes.truncate(len);
            }
            bytes
        })
}

fn cabinet() -> Vec<u8> {
    usage_cab::write(
        VALID.as_bytes(),
        "5.00.8540.1000",
        time::macros::date!(2026 - 01 - 26),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn payload_json_answers_without_panicking(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            mutated(VALID.as_bytes().to_vec()),
        ]
    ) {
        let full = UsagePayload::from_json(&bytes);
        let shape = PayloadShape::from_json(&bytes);
        // The service's shape-only reading accepts exactly what the full reading accepts.
        prop_assert_eq!(
            full.is_ok(),
            shape.is_ok(),
            "{:?} / {:?}",
            full.as_ref().err(),
            shape.as_ref().err()
        );
        if let Err(e) = full {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn the_cabinet_reader_answers_without_panicking(bytes in mutated(cabinet())) {
        match usage_cab::read(&bytes, 4096) {
            Ok(cab) => prop_assert!(cab.payload_json.len() <= 4096),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn receipts_answers_and_offers_answer_without_panicking(
        bytes in prop::collection::vec(any::<u8>(), 0..256)
    ) {
        let _ = serde_json::from_slice::<usage_protocol::Receipt>(&bytes);
        let _ = serde_json::from_slice::<usage_protocol::connect::ConnectAnswer>(&bytes);
        let _ = serde_json::from_slice::<usage_protocol::update_pack::PackOffer>(&bytes);
    }
}

#[test]
fn the_valid_inputs_are_valid() {
    UsagePayload::from_json(VALID.as_bytes()).unwrap();
    PayloadShape::from_json(VALID.as_bytes()).unwrap();
    assert_eq!(
        usage_cab::read(&cabinet(), 1 << 20).unwrap().payload_json,
        VALID.as_bytes()
    );
}

/// Inputs the cargo-fuzz targets found, kept as regressions.
#[test]
fn what_the_fuzz_targets_found_stays_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    // A row string with bytes that are not UTF-8: the service's shape-only reading took it,
    // the full reading refused it.
    let bytes = std::fs::read(dir.join("payload-invalid-utf8-in-a-row.json")).unwrap();
    let shape = PayloadShape::from_json(&bytes).unwrap_err().to_string();
    assert!(shape.contains("not UTF-8"), "{shape}");
    assert!(UsagePayload::from_json(&bytes).is_err());
    // A folder without data blocks, a file reaching past its folder's data: the `cab` crate
    // indexed out of bounds (a panic, caught); now the structure check names the damage first.
    for damaged in [
        "cab-folder-without-data-blocks.cab",
        "cab-file-past-its-folder.cab",
        "cab-with-cabinet-set-flags.cab",
    ] {
        let bytes = std::fs::read(dir.join(damaged)).unwrap();
        let err = usage_cab::read(&bytes, 1 << 20).unwrap_err().to_string();
        assert!(
            err.contains("usage cabinet") || err.contains("folder"),
            "{damaged}: refused by the structure check, not a caught panic: {err}"
        );
        assert!(!err.contains("out of bounds"), "{damaged}: {err}");
    }
    // A data block that inflates to less than its header declares: the `cab` crate panics
    // inside (a slice out of range); no check of the header can see it without inflating. The
    // panic is caught and the cabinet refused as damaged — never a crash of the service.
    let bytes = std::fs::read(dir.join("cab-block-shorter-than-declared.cab")).unwrap();
    let err = usage_cab::read(&bytes, 1 << 20).unwrap_err();
    assert!(!err.to_string().is_empty());
}

/// Rows a full reading refuses, the service's shape-only reading must refuse too (found by an
/// attack): nesting past serde_json's limit, a number out of range, a lone surrogate.
#[test]
fn the_shape_only_reading_refuses_what_the_full_reading_refuses() {
    for row in [
        format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200)),
        "{\"a\":1e99999999999}".to_string(),
        "{\"a\":\"\\ud800\"}".to_string(),
    ] {
        let json = VALID.replace(
            r#"{"level":"enhanced","mode":"offline","n":[1,2,{"x":null}]}"#,
            &row,
        );
        assert_ne!(json, VALID);
        let full = UsagePayload::from_json(json.as_bytes());
        let shape = PayloadShape::from_json(json.as_bytes());
        assert!(full.is_err(), "{row:.40}");
        assert!(shape.is_err(), "{row:.40}: the service took it");
    }
}
