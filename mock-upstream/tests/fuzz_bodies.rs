//! The service's readers of request bodies over arbitrary and mutated input: the gzip reader
//! (each body inflated within its bound or refused with a 4xx naming the problem — never a panic,
//! never more than the bound held) and the multipart reader of `-connect` (every body answered,
//! refused with a JSON error, never a 5xx).

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

/// A multipart body for `-connect`: one `cab` part holding `cab`.
fn multipart(boundary: &str, cab: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"cab\"; filename=\"UsageData.cab\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(cab);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// The service's multipart reader (`-connect`) over arbitrary and mutated bodies: every one is
/// answered, with a JSON error when refused, and never with a 5xx.
#[test]
fn a_connect_request_is_answered_or_refused_never_a_5xx() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (server, token) = runtime.block_on(async {
        let server = mock_upstream::start(mock_upstream::Config::new(dir.path()))
            .await
            .unwrap();
        let answer: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/admin/hierarchies", server.base_url()))
            .bearer_auth(server.admin_token())
            .json(&serde_json::json!({"hierarchy_id": "l4+K5sWP281xaRXRloiykwSNsUtvHuHHgkZsLPuaLZA="}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (server, answer["token"].as_str().unwrap().to_string())
    });
    let payload = br#"{"schema_version":2,"hierarchy_id":"l4+K5sWP281xaRXRloiykwSNsUtvHuHHgkZsLPuaLZA=","product_version":"5.00.8540.1000","level":"basic","mode":"offline","period":{"week":1,"start":"2026-01-12"},"sites":[{"site":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=","type":"standalone","version":"5.00.8540.1000","status":"Active","clients":1,"time_zone":"UTC"}],"results":[]}"#;
    let cab = usage_protocol::usage_cab::write(
        payload,
        "5.00.8540.1000",
        time::macros::date!(2026 - 01 - 12),
    )
    .unwrap();
    let valid = multipart("b0undary", &cab);
    let http = reqwest::Client::new();
    let url = format!("{}/v1/sct/connect", server.base_url());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &prop_oneof![prop::collection::vec(any::<u8>(), 0..512), mutated(valid),],
            |body| {
                let (status, answer) = runtime.block_on(async {
                    let r = http
                        .post(&url)
                        .bearer_auth(&token)
                        .header("Content-Type", "multipart/form-data; boundary=b0undary")
                        .timeout(std::time::Duration::from_secs(20))
                        .body(body)
                        .send()
                        .await
                        .expect("answered in time");
                    (r.status(), r.text().await.unwrap())
                });
                prop_assert!(!status.is_server_error(), "{status}: {answer}");
                if !status.is_success() {
                    let error: serde_json::Value = serde_json::from_str(&answer).unwrap();
                    prop_assert!(error["error"]["code"].is_string(), "{answer}");
                }
                Ok(())
            },
        )
        .unwrap();
    drop(server);
}
