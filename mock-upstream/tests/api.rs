//! Every endpoint and error path of the mock upstream, over real HTTP on loopback.

use std::io::Write;

use reqwest::StatusCode;
use serde_json::{Value, json};
use usage_protocol::payload::SCHEMA_VERSION;

const HIERARCHY: &str = "l4+K5sWP281xaRXRloiykwSNsUtvHuHHgkZsLPuaLZA=";
const OTHER_HIERARCHY: &str = "LXTAdW+rr08bhNEX/PI0UDacSYFAJDyF2nDxs+dqiI4=";
const SITE: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

struct Service {
    server: mock_upstream::RunningServer,
    http: reqwest::Client,
    token: String,
    _dir: Option<tempfile::TempDir>,
}

fn payload(hierarchy: &str, week: u32, mode: &str) -> Value {
    json!({
        "schema_version": SCHEMA_VERSION,
        "hierarchy_id": hierarchy,
        "product_version": "5.00.8540.1000",
        "level": "enhanced",
        "mode": mode,
        "period": {"week": week, "start": "2026-01-12"},
        "sites": [{"site": SITE, "type": "standalone", "version": "5.00.8540.1000", "status": "Active", "clients": 10, "time_zone": "UTC"}],
        "results": [{"probe": "TEL_Settings", "site": SITE, "week": week, "period_start": "2026-01-05",
                     "rows": [{"level": "enhanced", "mode": mode}]}]
    })
}

/// The same payload in the first schema: entries without their own week.
fn payload_v1(hierarchy: &str, week: u32) -> Value {
    let mut v = payload(hierarchy, week, "online");
    v["schema_version"] = json!(1);
    let entry = v["results"][0].as_object_mut().unwrap();
    entry.remove("week");
    entry.remove("period_start");
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

async fn service_in(
    dir: &std::path::Path,
    mut config: impl FnMut(&mut mock_upstream::Config),
) -> Service {
    let mut c = mock_upstream::Config::new(dir);
    c.admin_token = "admin-secret".into();
    config(&mut c);
    let server = mock_upstream::start(c).await.unwrap();
    let http = reqwest::Client::new();
    let answer: Value = http
        .post(format!("{}/admin/hierarchies", server.base_url()))
        .bearer_auth("admin-secret")
        .json(&json!({"hierarchy_id": HIERARCHY}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Service {
        server,
        http,
        token: answer["token"].as_str().unwrap().to_string(),
        _dir: None,
    }
}

async fn service() -> Service {
    let dir = tempfile::tempdir().unwrap();
    let mut s = service_in(dir.path(), |_| {}).await;
    s._dir = Some(dir);
    s
}

impl Service {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    async fn upload(&self, key: &str, body: &Value) -> reqwest::Response {
        self.upload_bytes(key, "gzip", gzip(&serde_json::to_vec(body).unwrap()))
            .await
    }

    /// The server's `host:port`.
    fn addr(&self) -> String {
        self.server
            .base_url()
            .trim_start_matches("http://")
            .to_string()
    }

    /// A raw connection that has sent `head` (a request cut short on purpose).
    async fn send_raw(&self, head: &str) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(self.addr()).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream
    }

    /// A usage upload of `bytes` as they are, under `Content-Encoding: encoding`.
    async fn upload_bytes(&self, key: &str, encoding: &str, bytes: Vec<u8>) -> reqwest::Response {
        self.http
            .post(self.url("/v1/usage"))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .header("Content-Encoding", encoding)
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    async fn admin_get(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .bearer_auth("admin-secret")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn add_fault(&self, fault: Value) {
        let r = self
            .http
            .post(self.url("/admin/faults"))
            .bearer_auth("admin-secret")
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
}

/// The error body every 4xx carries: `{"error": {"code", "message"}}`.
async fn error_of(response: reqwest::Response, status: StatusCode) -> (String, String) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("errors are JSON");
    (
        body["error"]["code"].as_str().unwrap().into(),
        body["error"]["message"].as_str().unwrap().into(),
    )
}

#[tokio::test]
async fn an_upload_is_stored_once_and_replayed() {
    let s = service().await;
    let r = s.upload("k1", &payload(HIERARCHY, 1, "online")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["replayed"], false);
    let r = s.upload("k1", &payload(HIERARCHY, 1, "online")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["replayed"], true);
    assert_eq!(again["receipt"]["id"], first["receipt"]["id"]);
    // A changed body under the key is refused, naming the receipt of the one stored: the client
    // that sent it learns its first body arrived.
    let r = s.upload("k1", &payload(HIERARCHY, 2, "online")).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let conflict: Value = r.json().await.unwrap();
    assert_eq!(conflict["error"]["code"], "idempotency_conflict");
    assert_eq!(conflict["error"]["receipt"], first["receipt"]);
    let refused = usage_protocol::client::UpstreamError::Status {
        what: "usage upload".into(),
        status: 409,
        body: conflict.to_string(),
    };
    assert_eq!(
        refused.stored_before().map(|r| r.id),
        first["receipt"]["id"].as_str().map(String::from)
    );
    let list = s.admin_get("/admin/uploads").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let id = list[0]["id"].as_str().unwrap();
    let stored = s.admin_get(&format!("/admin/uploads/{id}")).await;
    assert_eq!(stored, payload(HIERARCHY, 1, "online"));
}

#[tokio::test]
async fn uploads_without_valid_credentials_are_refused() {
    let s = service().await;
    let body = gzip(&serde_json::to_vec(&payload(HIERARCHY, 1, "online")).unwrap());
    let r = s
        .http
        .post(s.url("/v1/usage"))
        .header("Idempotency-Key", "k")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r, StatusCode::UNAUTHORIZED).await.0,
        "unauthorized"
    );
    let r = s
        .http
        .post(s.url("/v1/usage"))
        .bearer_auth("nope")
        .header("Idempotency-Key", "k")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r, StatusCode::UNAUTHORIZED).await.0,
        "unauthorized"
    );
    let (code, message) = error_of(
        s.upload("k", &payload(OTHER_HIERARCHY, 1, "online")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(code, "wrong_hierarchy");
    assert!(message.contains("hierarchy_id"));
    for path in ["/admin/uploads", "/admin/faults"] {
        let r = s
            .http
            .get(s.url(path))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(r, StatusCode::UNAUTHORIZED).await.0,
            "unauthorized",
            "{path}"
        );
    }
}

#[tokio::test]
async fn malformed_uploads_get_a_4xx_naming_the_problem() {
    let s = service().await;
    let send = |key: &'static str, encoding: &'static str, body: Vec<u8>| {
        s.http
            .post(s.url("/v1/usage"))
            .bearer_auth(&s.token)
            .header("Idempotency-Key", key)
            .header("Content-Encoding", encoding)
            .body(body)
            .send()
    };
    let r = s
        .http
        .post(s.url("/v1/usage"))
        .bearer_auth(&s.token)
        .body(gzip(b"{}"))
        .header("Content-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r, StatusCode::BAD_REQUEST).await.0,
        "missing_idempotency_key"
    );
    let r = send("a", "gzip", b"definitely not gzip".to_vec())
        .await
        .unwrap();
    assert_eq!(error_of(r, StatusCode::BAD_REQUEST).await.0, "bad_gzip");
    let r = send("b", "br", b"{}".to_vec()).await.unwrap();
    assert_eq!(
        error_of(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await.0,
        "unsupported_encoding"
    );
    let mut missing = payload(HIERARCHY, 1, "online");
    missing.as_object_mut().unwrap().remove("level");
    let (code, message) = error_of(
        send("c", "gzip", gzip(missing.to_string().as_bytes()))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "invalid_payload");
    assert!(message.contains("level"), "{message}");
    let mut wrong = payload(HIERARCHY, 1, "online");
    wrong["level"] = json!("maximum");
    let (_, message) = error_of(
        send("d", "gzip", gzip(wrong.to_string().as_bytes()))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(message.contains("`level`"), "{message}");
    let mut clear_site = payload(HIERARCHY, 1, "online");
    clear_site["sites"][0]["site"] = json!("P01");
    let (_, message) = error_of(
        send("e", "gzip", gzip(clear_site.to_string().as_bytes()))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(message.contains("sites[].site"), "{message}");
    let mut extra = payload(HIERARCHY, 1, "online");
    extra["surprise"] = json!(1);
    let (_, message) = error_of(
        send("f", "identity", extra.to_string().into_bytes())
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(message.contains("surprise"), "{message}");
    // A version 2 entry must name its week; a version 1 entry must not.
    let mut weekless = payload(HIERARCHY, 1, "online");
    weekless["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("week");
    let (_, message) = error_of(
        send("g", "identity", weekless.to_string().into_bytes())
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(message.contains("results[].week"), "{message}");
    let mut mixed = payload_v1(HIERARCHY, 1);
    mixed["results"][0]["week"] = json!(1);
    let (_, message) = error_of(
        send("h", "identity", mixed.to_string().into_bytes())
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(message.contains("version 1"), "{message}");
    assert!(
        s.admin_get("/admin/uploads")
            .await
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing bad was stored"
    );
}

/// Version 1 payloads (entries without their own week) are still accepted.
#[tokio::test]
async fn a_version_1_payload_is_still_accepted() {
    let s = service().await;
    let r = s
        .http
        .post(s.url("/v1/usage"))
        .bearer_auth(&s.token)
        .header("Idempotency-Key", "v1")
        .body(payload_v1(HIERARCHY, 1).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn bodies_and_gzip_bombs_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let s = service_in(dir.path(), |c| {
        c.max_body_bytes = 64 * 1024;
        c.max_decompressed_bytes = 1024 * 1024;
    })
    .await;
    let big = vec![b'x'; 100 * 1024];
    let r = s
        .http
        .post(s.url("/v1/usage"))
        .bearer_auth(&s.token)
        .header("Idempotency-Key", "big")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r, StatusCode::PAYLOAD_TOO_LARGE).await.0,
        "body_too_large"
    );
    // 64 MiB of zeros gzip to about 64 KiB: small on the wire, refused before it is inflated.
    let bomb = gzip(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < 64 * 1024, "bomb is {} bytes", bomb.len());
    let r = s
        .http
        .post(s.url("/v1/usage"))
        .bearer_auth(&s.token)
        .header("Idempotency-Key", "bomb")
        .header("Content-Encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r, StatusCode::PAYLOAD_TOO_LARGE).await.0,
        "decompressed_too_large"
    );
}

/// A row nested past serde_json's depth limit is refused (400) without being held; one within
/// the limit is stored. The depth bound of #13 item 2 is this limit, not one of the service's own.
#[tokio::test]
async fn rows_nested_past_the_depth_limit_are_refused() {
    let s = service().await;
    let nested = |depth: usize| {
        let text = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        serde_json::to_string(&payload(HIERARCHY, 1, "online"))
            .unwrap()
            .replace(r#""rows":[{"#, &format!(r#""rows":[{{"deep":{text},"#))
    };
    for (depth, key, expected) in [
        (100, "shallow", StatusCode::CREATED),
        (5000, "deep", StatusCode::BAD_REQUEST),
    ] {
        let r = s
            .http
            .post(s.url("/v1/usage"))
            .bearer_auth(&s.token)
            .header("Idempotency-Key", key)
            .header("Content-Encoding", "gzip")
            .body(gzip(nested(depth).as_bytes()))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            expected,
            "depth {depth}: {}",
            r.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn faults_are_applied_then_run_out() {
    let s = service().await;
    s.add_fault(json!({"kind": "status", "status": 503, "count": 1}))
        .await;
    s.add_fault(json!({"kind": "throttle", "retry_after_s": 7, "count": 1}))
        .await;
    let pending = s.admin_get("/admin/faults").await;
    assert_eq!(pending.as_array().unwrap().len(), 2);
    let r = s.upload("k", &payload(HIERARCHY, 1, "online")).await;
    assert_eq!(
        error_of(r, StatusCode::SERVICE_UNAVAILABLE).await.0,
        "injected_fault"
    );
    let r = s.upload("k", &payload(HIERARCHY, 1, "online")).await;
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(
        error_of(r, StatusCode::TOO_MANY_REQUESTS).await.0,
        "injected_fault"
    );
    assert_eq!(
        s.upload("k", &payload(HIERARCHY, 1, "online"))
            .await
            .status(),
        StatusCode::CREATED
    );

    s.add_fault(json!({"kind": "latency", "ms": 300, "count": 1}))
        .await;
    let started = std::time::Instant::now();
    assert_eq!(
        s.upload("k", &payload(HIERARCHY, 1, "online"))
            .await
            .status(),
        StatusCode::OK
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    s.add_fault(json!({"kind": "reset", "count": 1})).await;
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // The admin API is the test's control channel: a reset never strikes it, even on a new
    // connection, and the reset waits for the next connection to the public API.
    let listed = fresh
        .get(s.url("/admin/faults"))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let err = fresh.get(s.url("/metrics")).send().await.unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    let metrics = fresh.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains("upstream_faults_injected_total{kind=\"reset\"} 1"),
        "a reset is a fault injected too: {metrics}"
    );

    s.add_fault(json!({"kind": "status", "status": 500, "count": 5}))
        .await;
    let r = s
        .http
        .delete(s.url("/admin/faults"))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(
        s.admin_get("/admin/faults")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    let r = s
        .http
        .post(s.url("/admin/faults"))
        .bearer_auth("admin-secret")
        .json(&json!({"kind": "meteor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, StatusCode::BAD_REQUEST).await.0, "invalid_json");
}

#[tokio::test]
async fn update_check_and_pack_download() {
    let s = service().await;
    let r = s
        .http
        .get(s.url("/v1/updates?version=5.00.9122.1000"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await.unwrap();
    let packs = answer["update_packs"].as_array().unwrap();
    assert_eq!(packs.len(), 3);
    let first = &packs[0];
    let r = s
        .http
        .get(s.url(first["download"].as_str().unwrap()))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sha_header = r.headers()["x-content-sha256"]
        .to_str()
        .unwrap()
        .to_string();
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, first["size"].as_u64().unwrap());
    assert_eq!(usage_protocol::sha256_hex(&bytes), sha_header);
    assert_eq!(first["sha256"], sha_header);

    let r = s
        .http
        .get(s.url("/v1/updates?version=5.00.9122.1000"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r, StatusCode::UNAUTHORIZED).await.0,
        "unauthorized"
    );
    let r = s
        .http
        .get(s.url("/v1/updates?version=latest"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r, StatusCode::BAD_REQUEST).await.0,
        "invalid_version"
    );
    let r = s
        .http
        .get(s.url("/v1/updates"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r, StatusCode::BAD_REQUEST).await.0,
        "invalid_query"
    );
    let r = s
        .http
        .get(s.url("/v1/updatepacks/cm-1999"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, StatusCode::NOT_FOUND).await.0, "no_such_pack");
    let r = s.http.get(s.url("/v1/nothing-here")).send().await.unwrap();
    assert_eq!(error_of(r, StatusCode::NOT_FOUND).await.0, "not_found");
}

fn cab_of(body: &Value) -> Vec<u8> {
    let date = time::Date::from_calendar_date(2026, time::Month::January, 12).unwrap();
    usage_protocol::usage_cab::write(&serde_json::to_vec(body).unwrap(), "5.00.8540.1000", date)
        .unwrap()
}

fn form(files: Vec<(&str, Vec<u8>)>) -> reqwest::multipart::Form {
    files
        .into_iter()
        .fold(reqwest::multipart::Form::new(), |form, (name, bytes)| {
            form.part(
                "cab",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
            )
        })
}

#[tokio::test]
async fn sct_connect_takes_many_cabs_atomically() {
    let s = service().await;
    register(&s, OTHER_HIERARCHY).await;
    let connect = |files| {
        s.http
            .post(s.url("/v1/sct/connect"))
            .bearer_auth(&s.token)
            .multipart(form(files))
            .send()
    };

    // A damaged cabinet among good ones: refused whole, nothing stored.
    let mut damaged = cab_of(&payload(OTHER_HIERARCHY, 1, "offline"));
    damaged.truncate(damaged.len() / 2);
    let r = connect(vec![
        ("A.cab", cab_of(&payload(HIERARCHY, 1, "offline"))),
        ("B.cab", damaged),
    ])
    .await
    .unwrap();
    let (code, message) = error_of(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_cab");
    assert!(message.contains("B.cab"), "{message}");
    // The same name twice: refused whole.
    let r = connect(vec![
        ("A.cab", cab_of(&payload(HIERARCHY, 1, "offline"))),
        ("a.CAB", cab_of(&payload(OTHER_HIERARCHY, 1, "offline"))),
    ])
    .await
    .unwrap();
    assert_eq!(
        error_of(r, StatusCode::BAD_REQUEST).await.0,
        "duplicate_file_name"
    );
    assert!(
        s.admin_get("/admin/uploads")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );

    let r = connect(vec![
        ("A.cab", cab_of(&payload(HIERARCHY, 1, "offline"))),
        ("B.cab", cab_of(&payload(OTHER_HIERARCHY, 1, "offline"))),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await.unwrap();
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["hierarchy_id"], HIERARCHY);
    assert_eq!(results[1]["hierarchy_id"], OTHER_HIERARCHY);
    assert_eq!(results[0]["update_packs"][0]["id"], "cm-2207");
    let list = s.admin_get("/admin/uploads").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|r| r["channel"] == "sct")
    );

    // A hierarchy nobody registered, and online data in a cabinet.
    let stranger = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=";
    let r = connect(vec![("C.cab", cab_of(&payload(stranger, 1, "offline")))])
        .await
        .unwrap();
    assert_eq!(
        error_of(r, StatusCode::FORBIDDEN).await.0,
        "unknown_hierarchy"
    );
    let r = connect(vec![("D.cab", cab_of(&payload(HIERARCHY, 2, "online")))])
        .await
        .unwrap();
    assert_eq!(
        error_of(r, StatusCode::BAD_REQUEST).await.0,
        "invalid_payload"
    );
    let r = s
        .http
        .post(s.url("/v1/sct/connect"))
        .bearer_auth(&s.token)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r, StatusCode::BAD_REQUEST).await.0,
        "invalid_multipart"
    );
}

#[tokio::test]
async fn acknowledged_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = service_in(dir.path(), |_| {}).await;
    assert_eq!(
        s.upload("k-restart", &payload(HIERARCHY, 1, "online"))
            .await
            .status(),
        StatusCode::CREATED
    );
    let token = s.token.clone();
    s.server.stop().await;
    let mut config = mock_upstream::Config::new(dir.path());
    config.admin_token = "admin-secret".into();
    let server = mock_upstream::start(config).await.unwrap();
    let s = Service {
        server,
        http: reqwest::Client::new(),
        token,
        _dir: None,
    };
    assert_eq!(
        s.admin_get("/admin/uploads")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = s
        .upload("k-restart", &payload(HIERARCHY, 1, "online"))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the token and the idempotency key outlive the restart"
    );
    let r = s
        .http
        .post(s.url("/admin/reset"))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(
        s.admin_get("/admin/uploads")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        error_of(
            s.upload("k2", &payload(HIERARCHY, 1, "online")).await,
            StatusCode::UNAUTHORIZED
        )
        .await
        .0,
        "unauthorized"
    );
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let s = service().await;
    s.upload("m1", &payload(HIERARCHY, 1, "online")).await;
    s.upload("m1", &payload(HIERARCHY, 1, "online")).await;
    let text = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("# TYPE upstream_requests_total counter"),
        "{text}"
    );
    assert!(
        text.contains("upstream_requests_total{route=\"/v1/usage\",status=\"201\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("upstream_requests_total{route=\"/v1/usage\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("upstream_uploads_stored_total{channel=\"online\"} 1"),
        "{text}"
    );
    assert!(text.contains("upstream_uploads_replayed_total 1"), "{text}");
}

/// A test author's tools: a health check, a journal of every answered request with a count
/// verification, and latency histograms.
#[tokio::test]
async fn the_journal_tells_a_test_what_the_client_sent() {
    let s = service().await;
    let health = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");

    s.upload("j1", &payload(HIERARCHY, 1, "online")).await;
    s.upload("j1", &payload(HIERARCHY, 1, "online")).await;
    s.http.post(s.url("/v1/usage")).send().await.unwrap(); // no token: 401
    s.http.get(s.url("/no/such/route")).send().await.unwrap();

    let stored = s
        .admin_get("/admin/requests?route=/v1/usage&status=201")
        .await;
    assert_eq!(stored["count"], 1);
    assert_eq!(stored["requests"][0]["method"], "POST");
    assert!(stored["requests"][0]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        s.admin_get("/admin/requests?route=/v1/usage").await["count"],
        3
    );
    let stranger = s.admin_get("/admin/requests?route=unmatched").await;
    assert_eq!(stranger["requests"][0]["path"], "/no/such/route");

    // A verification in one call: 200 when the count is the expected one, 412 naming both.
    let ok = s
        .http
        .get(s.url("/admin/requests?route=/v1/usage&status=401&expect_count=1"))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let wrong = s
        .http
        .get(s.url("/admin/requests?route=/v1/usage&expect_count=5"))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap();
    let (code, message) = error_of(wrong, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(code, "count_mismatch");
    assert!(
        message.contains("expected 5") && message.contains("has 3"),
        "{message}"
    );
    let bad = s
        .http
        .get(s.url("/admin/requests?status=teapot"))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(bad, StatusCode::BAD_REQUEST).await.0,
        "invalid_query"
    );
    // A misspelt filter or an impossible status is refused, not ignored.
    for query in ["stauts=500", "status=600", "status=0"] {
        let refused = s
            .http
            .get(s.url(&format!("/admin/requests?{query}&expect_count=0")))
            .bearer_auth("admin-secret")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    // Reading the journal is not journalled: a verification does not count itself.
    let all = s.admin_get("/admin/requests").await["count"].clone();
    assert_eq!(s.admin_get("/admin/requests").await["count"], all);
    // A stranger's long path is kept short.
    let long = format!("/{}", "a".repeat(60_000));
    s.http.get(s.url(&long)).send().await.unwrap();
    let kept = s.admin_get("/admin/requests?route=unmatched").await;
    let path = kept["requests"][1]["path"].as_str().unwrap();
    assert!(path.len() < 300, "{}", path.len());
    // The journal is the admin's: a client token reads nothing.
    let refused = s
        .http
        .get(s.url("/admin/requests"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    let metrics = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("# TYPE upstream_request_duration_seconds histogram"));
    assert!(
        metrics.contains("upstream_request_duration_seconds_count{route=\"/v1/usage\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "upstream_request_duration_seconds_bucket{route=\"/v1/usage\",le=\"+Inf\"} 3"
        )
    );
    // The request count and the histogram name routes alike (the route's template), and both
    // see every answer: the 401 and the stranger's 404 too.
    assert!(
        metrics.contains("upstream_requests_total{route=\"/v1/usage\",status=\"401\"} 1"),
        "{metrics}"
    );
    let routes_of = |metric: &str| -> std::collections::BTreeSet<String> {
        metrics
            .lines()
            .filter_map(|l| l.strip_prefix(metric)?.strip_prefix("{route=\""))
            .filter_map(|rest| rest.split('"').next().map(String::from))
            .collect()
    };
    let counted = routes_of("upstream_requests_total");
    assert!(counted.contains("unmatched"), "{counted:?}");
    assert_eq!(
        counted,
        routes_of("upstream_request_duration_seconds_count"),
        "{metrics}"
    );

    // A reset empties it.
    let reset = s
        .http
        .post(s.url("/admin/reset"))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        s.admin_get("/admin/requests?route=/v1/usage").await["count"],
        0
    );
    // Wholly: not even the reset itself is left in it.
    assert_eq!(s.admin_get("/admin/requests").await["count"], 0);
}

/// Found by an attack: `..`, an empty id and ids that are not digests were issued tokens.
#[tokio::test]
async fn registration_takes_only_hashed_hierarchy_ids() {
    let s = service().await;
    for id in [
        "..",
        "",
        "not-a-digest",
        "l4+K5sWP281xaRXRloiykwSNsUtvHuHHgkZsLPuaLZA=\n",
    ] {
        let (code, message) = error_of(registration(&s, id).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "invalid_request", "{id:?}");
        assert!(message.contains("hierarchy_id"), "{message}");
    }
}

/// Asks the admin API to register `hierarchy`.
async fn registration(s: &Service, hierarchy: &str) -> reqwest::Response {
    s.http
        .post(s.url("/admin/hierarchies"))
        .bearer_auth("admin-secret")
        .json(&json!({ "hierarchy_id": hierarchy }))
        .send()
        .await
        .unwrap()
}

/// Registers `hierarchy` and returns its token.
async fn register(s: &Service, hierarchy: &str) -> String {
    let answer: Value = registration(s, hierarchy).await.json().await.unwrap();
    answer["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn idempotency_keys_are_shared_across_hierarchies() {
    let s = service().await;
    let other = register(&s, OTHER_HIERARCHY).await;
    // The other hierarchy takes the key first...
    let r = s
        .http
        .post(s.url("/v1/usage"))
        .bearer_auth(&other)
        .header("Idempotency-Key", "week-1")
        .body(serde_json::to_vec(&payload(OTHER_HIERARCHY, 1, "online")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // ... and this hierarchy's upload under the same key is its own, not a 409.
    let r = s.upload("week-1", &payload(HIERARCHY, 1, "online")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["receipt"]["hierarchy_id"], HIERARCHY);
    assert_eq!(
        s.upload("week-1", &payload(HIERARCHY, 1, "online"))
            .await
            .status(),
        StatusCode::OK,
        "its own retry is still recognised"
    );
    assert_eq!(
        s.admin_get("/admin/uploads")
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn authentication_runs_late() {
    let s = service().await;
    s.add_fault(json!({"kind": "status", "status": 503, "count": 1}))
        .await;
    // A stranger's requests are refused and consume nothing programmed for the hierarchy.
    for token in [None, Some("forged")] {
        let mut request = s
            .http
            .post(s.url("/v1/usage"))
            .header("Idempotency-Key", "k")
            .body(serde_json::to_vec(&payload(HIERARCHY, 1, "online")).unwrap());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let (code, _) = error_of(request.send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
        assert_eq!(code, "unauthorized");
    }
    assert_eq!(
        s.admin_get("/admin/faults").await.as_array().unwrap().len(),
        1
    );
    let r = s.upload("k", &payload(HIERARCHY, 1, "online")).await;
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the fault is still there"
    );
    // The admin API answers 401 before reading a body: a stranger announces 8 MiB, sends 16
    // bytes, and is answered at once instead of being waited for.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s
        .server
        .base_url()
        .trim_start_matches("http://")
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /admin/faults HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"kind\":",
        8u64 << 20
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

#[tokio::test]
async fn the_admin_fault_api_accepts_any_status() {
    let s = service().await;
    for fault in [
        json!({"kind": "status", "status": 100, "count": 1}),
        json!({"kind": "status", "status": 200, "count": 1}),
        json!({"kind": "status", "status": 999, "count": 1}),
        json!({"kind": "status", "status": 503, "count": 0}),
        // Found by a later attack: an answer held for ever, a client told to wait for ever.
        json!({"kind": "latency", "ms": u64::MAX, "count": 1}),
        json!({"kind": "latency", "ms": 3_600_001, "count": 1}),
        json!({"kind": "throttle", "retry_after_s": u64::MAX, "count": 1}),
        json!({"kind": "throttle", "retry_after_s": 86_401, "count": 1}),
    ] {
        let r = s
            .http
            .post(s.url("/admin/faults"))
            .bearer_auth("admin-secret")
            .json(&fault)
            .send()
            .await
            .unwrap();
        let (code, message) = error_of(r, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "invalid_fault", "{fault}");
        assert!(message.contains("field `"), "{message}");
    }
    assert!(
        s.admin_get("/admin/faults")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn latency_on_simulated_time_is_announced_not_slept() {
    let dir = tempfile::tempdir().unwrap();
    let s = service_in(dir.path(), |c| c.simulate_latency = true).await;
    s.add_fault(json!({"kind": "latency", "ms": 3_600_000, "count": 1}))
        .await;
    let started = std::time::Instant::now();
    let r = s.upload("k", &payload(HIERARCHY, 1, "online")).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "stored, as a slow service would"
    );
    assert_eq!(r.headers()["simulated-latency-ms"], "3600000");
    let r = s.upload("k", &payload(HIERARCHY, 1, "online")).await;
    assert!(
        r.headers().get("simulated-latency-ms").is_none(),
        "one fault, one answer"
    );
}

#[tokio::test]
async fn no_shutdown_deadline_and_no_read_timeouts() {
    let s = service().await;
    // A client that sends its headers and half of its body, then nothing.
    let stream = s
        .send_raw(&format!(
            "POST /v1/usage HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nIdempotency-Key: k\r\nContent-Length: 1000\r\n\r\n{{\"schema",
            s.addr(),
            s.token
        ))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let Service { server, .. } = s;
    server.stop().await;
    let took = started.elapsed();
    assert!(
        took <= mock_upstream::server::SHUTDOWN_DEADLINE + std::time::Duration::from_secs(3),
        "stop took {took:?}"
    );
    drop(stream);
}

#[tokio::test]
async fn answers_405_have_no_json_body() {
    let s = service().await;
    let r = s.http.get(s.url("/v1/usage")).send().await.unwrap();
    let (code, message) = error_of(r, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(code, "method_not_allowed");
    assert!(message.contains("GET"), "{message}");
}

#[tokio::test]
async fn gzip_with_trailing_garbage_is_accepted_and_gzip_in_capitals_is_refused() {
    let s = service().await;
    let body = serde_json::to_vec(&payload(HIERARCHY, 1, "online")).unwrap();
    let mut trailing = gzip(&body);
    trailing.extend_from_slice(b"unchecked bytes");
    let r = s.upload_bytes("t", "gzip", trailing).await;
    let (code, message) = error_of(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "bad_gzip");
    assert!(message.contains("not valid gzip"), "{message}");
    let r = s.upload_bytes("t", "GZIP", gzip(&body)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Found by a later attack: two gzip members one after the other (what `pigz` and
    // `cat a.gz b.gz` write) are one stream by RFC 1952, and were refused.
    let text = String::from_utf8(body).unwrap();
    let (head, tail) = text.split_at(text.len() / 2);
    let mut members = gzip(head.as_bytes());
    members.extend(gzip(tail.as_bytes()));
    let r = s.upload_bytes("members", "gzip", members).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Found by an attack: `Authorization: bearer TOKEN` was refused; the scheme's name is
/// case-insensitive (RFC 7235).
#[tokio::test]
async fn the_bearer_scheme_is_read_in_any_case() {
    let s = service().await;
    // The last: two spaces before the token (`1*SP`).
    for scheme in ["bearer", "BEARER", "Bearer", "Bearer "] {
        let r = s
            .http
            .get(s.url("/admin/uploads"))
            .header("Authorization", format!("{scheme} admin-secret"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
    let r = s
        .http
        .get(s.url("/admin/uploads"))
        .header("Authorization", "Basic admin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_empty_tokens_json_stops_the_server_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokens.json"), b"").unwrap();
    let s = service_in(dir.path(), |_| {}).await;
    let r = s.upload("k", &payload(HIERARCHY, 1, "online")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Sends `first_bytes` and no more; the server must close the connection after the header
/// read timeout (not before, and not much after), answering nothing or 408.
async fn closed_after_header_timeout(first_bytes: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = service().await;
    let addr = s
        .server
        .base_url()
        .trim_start_matches("http://")
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.write_all(first_bytes).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(
        2 * mock_upstream::server::HEADER_READ_TIMEOUT + std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;
    assert!(closed.is_ok(), "the connection is still held open");
    assert!(
        started.elapsed()
            >= mock_upstream::server::HEADER_READ_TIMEOUT - std::time::Duration::from_secs(1)
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn half_sent_headers_are_not_held_open_for_good() {
    closed_after_header_timeout(b"POST /v1/usage HTTP/1.1\r\nHost: x\r\nAuthor").await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_not_held_open_for_good() {
    closed_after_header_timeout(b"").await;
}

/// Every path given to `.route(` in the server's source, as a literal or as a `const` of the
/// same file, sorted.
fn declared_routes() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server");
    let mut routes = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let constant = |name: &str| -> String {
            let start = source
                .find(&format!("const {name}: &str = \""))
                .unwrap_or_else(|| panic!("no const {name}"));
            let value = &source[start..];
            let value = &value[value.find('"').unwrap() + 1..];
            value[..value.find('"').unwrap()].to_string()
        };
        for (at, _) in source.match_indices(".route(") {
            let argument = source[at + ".route(".len()..].trim_start();
            let end = argument.find([',', ')']).unwrap();
            let argument = argument[..end].trim();
            routes.insert(match argument.strip_prefix('"') {
                Some(literal) => literal.trim_end_matches('"').to_string(),
                None => constant(argument),
            });
        }
    }
    routes.into_iter().collect()
}

/// The API description is served and lists every route the server declares; each route it lists
/// exists.
#[tokio::test]
async fn the_api_description_lists_every_route() {
    let s = service().await;
    let doc: Value = s
        .http
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // The routes the server's code declares, read from its source: a route added without its
    // description fails here.
    let declared: Vec<String> = declared_routes()
        .into_iter()
        .filter(|r| r != "/openapi.json")
        .collect();
    assert!(declared.len() >= 12, "{declared:?}");
    assert_eq!(paths, declared);
    for path in paths {
        let path = path.replace("{id}", "x");
        let r = s.http.get(s.url(&path)).send().await.unwrap();
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("\"not_found\""),
            "{path} is described but not routed"
        );
    }
}

/// Many cabinets in one `-connect` are all held inflated before any is stored: each is bounded,
/// and their sum too (twice one payload's bound).
#[tokio::test]
async fn many_cabinets_in_one_connect_inflate_without_bound() {
    let dir = tempfile::tempdir().unwrap();
    let s = service_in(dir.path(), |c| c.max_decompressed_bytes = 4096).await;
    let body = payload(HIERARCHY, 1, "offline");
    let one = serde_json::to_vec(&body).unwrap().len();
    // Each padded to about 4,000 bytes: each fits, three do not.
    let cabs: Vec<(String, Vec<u8>)> = (1..=3)
        .map(|week| {
            let mut body = payload(HIERARCHY, week, "offline");
            body["results"][0]["rows"][0]["pad"] = json!("x".repeat(4000 - one));
            (format!("w{week}.cab"), cab_of(&body))
        })
        .collect();
    let r = s
        .http
        .post(s.url("/v1/sct/connect"))
        .bearer_auth(&s.token)
        .multipart(form(
            cabs.iter().map(|(n, b)| (n.as_str(), b.clone())).collect(),
        ))
        .send()
        .await
        .unwrap();
    let (code, message) = error_of(r, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(code, "decompressed_too_large");
    assert!(message.contains("several requests"), "{message}");
    assert!(
        s.admin_get("/admin/uploads")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// A request whose body never finishes is answered 408 within the body timeout, not held open.
async fn a_stalled_body_is_answered_408(request_head: impl FnOnce(&Service) -> String) {
    use tokio::io::AsyncReadExt;
    let s = service().await;
    let mut stream = s.send_raw(&request_head(&s)).await;
    let mut answer = vec![0; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(40), stream.read(&mut answer))
        .await
        .expect("answered within the body timeout")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// Found by a second attack: an admin request whose body never finishes was held open.
#[tokio::test]
async fn admin_request_bodies_have_no_read_timeout() {
    a_stalled_body_is_answered_408(|s| format!(
        "POST /admin/faults HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer admin-secret\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        s.addr()
    ))
    .await;
}

/// #13 item 7: a half-sent upload was held open for good.
#[tokio::test]
async fn half_sent_uploads_are_held_open_for_good() {
    a_stalled_body_is_answered_408(|s| format!(
        "POST /v1/usage HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nIdempotency-Key: stalled\r\nContent-Encoding: gzip\r\nContent-Length: 1000\r\n\r\n\x1f",
        s.addr(),
        s.token
    ))
    .await;
}

/// A lost answer breaks its connection off: the upload is stored, the client sees an error, the
/// retry under the same key gets the same receipt, and the broken connection is not left open
/// (a stop does not wait for it).
#[tokio::test]
async fn a_lost_answer_is_stored_retried_once_and_not_left_open() {
    let s = service().await;
    s.add_fault(json!({"kind": "lost_ack", "count": 1})).await;
    let body = payload(HIERARCHY, 1, "online");
    let lost = s
        .http
        .post(s.url("/v1/usage"))
        .bearer_auth(&s.token)
        .header("Idempotency-Key", "lost-1")
        .header("Content-Encoding", "gzip")
        .body(gzip(&serde_json::to_vec(&body).unwrap()))
        .send()
        .await;
    let lost = match lost {
        Ok(answer) => answer.bytes().await.map(drop),
        Err(e) => Err(e),
    };
    assert!(lost.is_err(), "the answer arrived: {lost:?}");
    let retry = s.upload("lost-1", &body).await;
    assert_eq!(
        retry.status(),
        StatusCode::OK,
        "the retry replays the receipt"
    );
    assert_eq!(
        s.admin_get("/admin/uploads")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let started = std::time::Instant::now();
    s.server.stop().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the stop waited {:?} for a broken connection",
        started.elapsed()
    );
}

/// Pooled HTTP clients open connections they may never use; one that has sent nothing when the
/// server stops has nothing in flight, and the stop does not wait for it.
#[tokio::test]
async fn a_silent_connection_does_not_delay_a_stop() {
    let s = service().await;
    let _silent = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    s.server.stop().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the stop waited {:?} for a connection that sent nothing",
        started.elapsed()
    );
}

/// Once the journal has dropped requests for room, a count expectation cannot be verified:
/// it is answered 412 `journal_incomplete`, never a pass.
#[tokio::test]
async fn a_count_is_not_verified_once_the_journal_dropped_requests() {
    let s = service().await;
    s.upload("k1", &payload(HIERARCHY, 1, "online")).await;
    for _ in 0..mock_upstream::journal::JOURNAL_CAPACITY {
        s.http.get(s.url("/healthz")).send().await.unwrap();
    }
    let answer = s
        .http
        .get(s.url("/admin/requests?route=/v1/usage&expect_count=0"))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap();
    let (code, message) = error_of(answer, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(code, "journal_incomplete");
    assert!(message.contains("dropped"), "{message}");
}
