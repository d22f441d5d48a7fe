//! A load generator for the upstream: uploads of a given gzip'd size at a given concurrency,
//! measuring uploads per second and latency percentiles. It drives a running service (`--url`)
//! or starts the mock in-process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use usage_protocol::payload::{Period, ProbeResult, Row, SCHEMA_VERSION, SiteEntry, UsagePayload};

use crate::hash::tel_hash;
use usage_protocol::client::{RetryPolicy, Upstream};

#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// A running service; `None` starts the mock in-process (in `data_dir`).
    pub url: Option<String>,
    pub admin_token: String,
    pub data_dir: std::path::PathBuf,
    pub concurrency: usize,
    pub requests: usize,
    /// Target size of each gzip'd payload, in KiB.
    pub payload_kb: usize,
}

/// The upstream and a reference server (e.g. nginx answering `return 200`, storing nothing)
/// under the same load, in alternating rounds so both see the same machine.
#[derive(Debug, Clone, Serialize)]
pub struct LoadComparison {
    pub upstream: Vec<LoadReport>,
    pub reference: Vec<LoadReport>,
    /// Medians over the rounds.
    pub upstream_uploads_per_s: f64,
    pub reference_requests_per_s: f64,
    pub upstream_p99_ms: f64,
    pub reference_p99_ms: f64,
    /// The upstream's rate as a share of the reference's (0.12 = 12 %); null when a request of
    /// either failed, since the rate of a round that partly failed compares nothing.
    pub ratio: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub target: String,
    pub requests: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub concurrency: usize,
    pub payload_gzip_bytes: usize,
    pub payload_json_bytes: usize,
    pub seconds: f64,
    pub uploads_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("starting the in-process mock upstream")]
    Start(#[from] crate::mock::ServerError),
    #[error("preparing the load")]
    Upstream(#[from] usage_protocol::client::UpstreamError),
    #[error("--concurrency and --requests must be at least 1")]
    Zero,
    #[error("--rounds must be at least 1")]
    NoRounds,
    #[error("the reference {url} cannot be measured: {reason}")]
    Reference { url: String, reason: String },
}

/// A valid payload whose gzip is about `kb` KiB: result rows of incompressible hashes.
pub fn payload_of_size(hierarchy: &str, kb: usize) -> (Vec<u8>, Vec<u8>) {
    let site = tel_hash("LOAD");
    let mut rows: Vec<Row> = Vec::new();
    loop {
        let payload = UsagePayload {
            schema_version: SCHEMA_VERSION,
            hierarchy_id: hierarchy.to_string(),
            product_version: "5.00.9128.1000".into(),
            level: "enhanced".into(),
            mode: "online".into(),
            period: Period {
                week: 1,
                start: "2026-01-12".into(),
            },
            part: None,
            sites: vec![SiteEntry {
                site: site.clone(),
                site_type: "standalone".into(),
                version: "5.00.9128.1000".into(),
                status: "Active".into(),
                clients: 1000,
                time_zone: "UTC".into(),
            }],
            results: vec![ProbeResult {
                probe: "TEL_SchemaHash".into(),
                site: site.clone(),
                week: Some(1),
                period_start: Some("2026-01-05".into()),
                rows: rows.clone(),
            }],
        };
        let (json, gzip) = crate::payload::encode(&payload);
        if gzip.len() >= kb * 1024 {
            return (json, gzip);
        }
        let missing = (kb * 1024 - gzip.len()) / 40 + 1;
        for _ in 0..missing {
            let n = rows.len();
            rows.push(
                [(
                    "table_hash".to_string(),
                    json!(tel_hash(&format!("table {n}"))),
                )]
                .into_iter()
                .collect(),
            );
        }
    }
}

/// One upload of the load: the same request to the upstream and to a reference.
fn upload(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    key: &str,
    gzip: &[u8],
) -> reqwest::RequestBuilder {
    client
        .post(format!("{base}/v1/usage"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .header(reqwest::header::CONTENT_ENCODING, "gzip")
        .body(gzip.to_vec())
}

/// The `p`th percentile of sorted latencies, in milliseconds (nearest rank).
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

/// The load against the upstream alone.
pub async fn run(options: &LoadOptions) -> Result<LoadReport, LoadError> {
    let mut target = Target::prepare(options).await?;
    let report = target.drive(options, None).await;
    target.stop().await;
    Ok(report)
}

/// The load against the upstream and against `reference`, `rounds` times each, alternating.
/// The reference gets the same requests (path, headers, body) and only has to answer 2xx.
pub async fn compare(
    options: &LoadOptions,
    reference: &str,
    rounds: usize,
) -> Result<LoadComparison, LoadError> {
    if rounds == 0 {
        return Err(LoadError::NoRounds);
    }
    let mut target = Target::prepare(options).await?;
    // One request first: a reference that is not there, or does not answer 2xx, is said at
    // once, not after a round of the upstream and a round of failures.
    if let Err(reason) = target.preflight(reference).await {
        target.stop().await;
        return Err(LoadError::Reference {
            url: reference.to_string(),
            reason,
        });
    }
    let (mut upstream, mut other) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        upstream.push(target.drive(options, None).await);
        other.push(target.drive(options, Some(reference)).await);
    }
    target.stop().await;
    let median = |reports: &[LoadReport], f: fn(&LoadReport) -> f64| {
        crate::report::median(&mut reports.iter().map(f).collect::<Vec<_>>())
    };
    let (u_rate, r_rate) = (
        median(&upstream, |r| r.uploads_per_s),
        median(&other, |r| r.uploads_per_s),
    );
    Ok(LoadComparison {
        upstream_uploads_per_s: u_rate,
        reference_requests_per_s: r_rate,
        upstream_p99_ms: median(&upstream, |r| r.p99_ms),
        reference_p99_ms: median(&other, |r| r.p99_ms),
        ratio: (r_rate > 0.0 && upstream.iter().chain(&other).all(|r| r.failed == 0))
            .then(|| u_rate / r_rate),
        upstream,
        reference: other,
    })
}

/// The upstream under load: its URL, a registered hierarchy's token, the payload, and the
/// in-process service when there is no `--url`.
struct Target {
    server: Option<crate::mock::RunningServer>,
    url: String,
    token: String,
    json_bytes: usize,
    body: Arc<Vec<u8>>,
    client: reqwest::Client,
}

impl Target {
    async fn prepare(options: &LoadOptions) -> Result<Self, LoadError> {
        if options.concurrency == 0 || options.requests == 0 {
            return Err(LoadError::Zero);
        }
        let mut server = None;
        let (url, admin) = match &options.url {
            Some(url) => (url.clone(), options.admin_token.clone()),
            None => {
                let s = crate::mock::start(&options.data_dir, false).await?;
                let pair = (s.base_url(), s.admin_token().to_string());
                server = Some(s);
                pair
            }
        };
        let hierarchy = tel_hash(&uuid::Uuid::new_v4().to_string());
        let token = Upstream::new(&url, &admin, RetryPolicy::default())
            .register(&hierarchy)
            .await?;
        let (json, gzip) = payload_of_size(&hierarchy, options.payload_kb);
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(options.concurrency)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client builds");
        Ok(Self {
            server,
            url,
            token,
            json_bytes: json.len(),
            body: Arc::new(gzip),
            client,
        })
    }

    /// One upload to `reference`, answered 2xx within 5 s, or why not.
    async fn preflight(&self, reference: &str) -> Result<(), String> {
        let url = reqwest::Url::parse(reference).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{} is not http or https", url.scheme()));
        }
        let answer = upload(
            &self.client,
            reference.trim_end_matches('/'),
            &self.token,
            "load-preflight",
            &self.body,
        )
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| with_causes(&e))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!("it answered {} to an upload", answer.status()))
        }
    }

    async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }

    /// One round: `options.requests` uploads, `options.concurrency` at a time, to the upstream
    /// or to `reference`. Every round uses fresh idempotency keys.
    async fn drive(&self, options: &LoadOptions, reference: Option<&str>) -> LoadReport {
        let url = reference
            .unwrap_or(&self.url)
            .trim_end_matches('/')
            .to_string();
        let next = Arc::new(AtomicUsize::new(0));
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..options.concurrency {
            let (client, next, body, token, url, run_id) = (
                self.client.clone(),
                next.clone(),
                self.body.clone(),
                self.token.clone(),
                url.clone(),
                run_id.clone(),
            );
            let total = options.requests;
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failed = 0usize;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    let t = Instant::now();
                    let key = format!("load-{run_id}-{n}");
                    let sent = upload(&client, &url, &token, &key, &body).send().await;
                    match sent {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            latencies.push(t.elapsed());
                        }
                        _ => failed += 1,
                    }
                }
                (latencies, failed)
            }));
        }
        let mut latencies = Vec::new();
        let mut failed = 0;
        for w in workers {
            let (l, f) = w.await.expect("a load worker panicked");
            latencies.extend(l);
            failed += f;
        }
        let seconds = started.elapsed().as_secs_f64();
        latencies.sort();
        LoadReport {
            target: url,
            requests: options.requests,
            succeeded: latencies.len(),
            failed,
            concurrency: options.concurrency,
            payload_gzip_bytes: self.body.len(),
            payload_json_bytes: self.json_bytes,
            seconds,
            uploads_per_s: latencies.len() as f64 / seconds,
            p50_ms: percentile(&latencies, 50.0),
            p90_ms: percentile(&latencies, 90.0),
            p99_ms: percentile(&latencies, 99.0),
            max_ms: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        }
    }
}

/// An error and its causes, as one line: reqwest's own message ("error sending request") leaves
/// out why (refused, timed out), which its causes say.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_reach_their_size_and_are_valid() {
        let h = tel_hash("hierarchy");
        let (json, gzip) = payload_of_size(&h, 10);
        assert!(
            gzip.len() >= 10 * 1024 && gzip.len() < 12 * 1024,
            "{}",
            gzip.len()
        );
        UsagePayload::from_json(&json).unwrap();
    }

    /// The reference gets the same uploads as the mock, round after round, and the ratio is
    /// the medians' ratio.
    #[tokio::test]
    async fn compare_drives_both_in_alternating_rounds() {
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        let app = axum::Router::new().route(
            "/v1/usage",
            axum::routing::post(move |body: axum::body::Bytes| {
                let counter = counter.clone();
                async move {
                    assert!(body.len() > 1024, "the same gzip'd payload");
                    counter.fetch_add(1, Ordering::SeqCst);
                    "{}"
                }
            }),
        );
        let reference = serve(app).await;
        let dir = tempfile::tempdir().unwrap();
        let options = options_in(&dir, 4, 20);
        let c = compare(&options, &reference, 2).await.unwrap();
        assert_eq!(
            seen.load(Ordering::SeqCst),
            41,
            "one to try it, then 20 uploads a round, 2 rounds"
        );
        assert_eq!((c.upstream.len(), c.reference.len()), (2, 2));
        assert!(
            c.upstream
                .iter()
                .chain(&c.reference)
                .all(|r| r.succeeded == 20)
        );
        assert!(c.reference[0].target.starts_with(&reference));
        let ratio = c.ratio.expect("no request failed");
        assert!((ratio - c.upstream_uploads_per_s / c.reference_requests_per_s).abs() < 1e-9);
        // A reference that is not there, or not a URL, is said before any round, with why.
        for (bad, why) in [
            ("http://127.0.0.1:1", "refused"),
            ("not a url", "not a URL"),
            ("ftp://127.0.0.1/", "not http"),
        ] {
            let error = compare(&options, bad, 2).await.unwrap_err();
            assert!(
                matches!(error, LoadError::Reference { .. }) && error.to_string().contains(why),
                "{bad}: {error}"
            );
        }
        assert!(matches!(
            compare(&options, &reference, 0).await.unwrap_err(),
            LoadError::NoRounds
        ));
    }

    /// A reference that answers the first try and then fails part of a round gets no ratio: the
    /// rate of its answers compares nothing.
    #[tokio::test]
    async fn a_round_with_failed_requests_gives_no_ratio() {
        let answered = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/v1/usage",
            axum::routing::post(move || {
                let n = answered.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 6 {
                        axum::http::StatusCode::OK
                    } else {
                        axum::http::StatusCode::SERVICE_UNAVAILABLE
                    }
                }
            }),
        );
        let reference = serve(app).await;
        let dir = tempfile::tempdir().unwrap();
        let options = options_in(&dir, 2, 10);
        let c = compare(&options, &reference, 1).await.unwrap();
        assert_eq!((c.reference[0].succeeded, c.reference[0].failed), (5, 5));
        assert_eq!(c.ratio, None);
    }

    /// A reference server on a free local port; its URL.
    async fn serve(app: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    /// A load of 2 KiB uploads against the in-process mock, its data in `dir`.
    fn options_in(dir: &tempfile::TempDir, concurrency: usize, requests: usize) -> LoadOptions {
        LoadOptions {
            url: None,
            admin_token: String::new(),
            data_dir: dir.path().to_path_buf(),
            concurrency,
            requests,
            payload_kb: 2,
        }
    }

    #[test]
    fn percentiles_pick_ranks() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 50.0), 50.0);
        assert_eq!(percentile(&d, 99.0), 99.0);
    }
}
