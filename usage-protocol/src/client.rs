//! A typed client of the service's API: usage uploads as a service connection point makes them
//! (gzip, `Idempotency-Key`, retries with backoff), the service connection tool's `-connect` and
//! pack downloads, and the admin calls a test needs to program faults and read back what was
//! received.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::connect::{CAB_FIELD, ConnectAnswer};
use crate::fault::{Fault, SIMULATED_LATENCY_HEADER};
use crate::receipt::{Receipt, UploadAnswer};
use crate::update_pack::PackOffer;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("upstream answered {status} to {what}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    #[error("upstream's answer to {what} is unreadable: {message}")]
    Answer { what: String, message: String },
    #[error("upload gave up after {attempts} attempts; last error: {last}")]
    GaveUp { attempts: u32, last: String },
}

impl UpstreamError {
    /// For a 409 to an upload, the receipt its idempotency key was first stored under: the
    /// service holds an earlier body sent under this key (the answer to it was lost), and
    /// refuses a changed one.
    pub fn stored_before(&self) -> Option<Receipt> {
        let UpstreamError::Status {
            status: 409, body, ..
        } = self
        else {
            return None;
        };
        let answer: serde_json::Value = serde_json::from_str(body).ok()?;
        serde_json::from_value(answer["error"]["receipt"].clone()).ok()
    }
}

/// How persistent an upload is.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per upload, the first included.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each one...
    pub first_backoff: Duration,
    /// ... up to this.
    pub max_backoff: Duration,
    /// Per-attempt timeout: a slower answer counts as a failed attempt.
    pub timeout: Duration,
    /// The longest `Retry-After` honoured; throttling beyond it is capped.
    pub max_retry_after: Duration,
    /// Whether waits are slept or only counted.
    pub wait: Wait,
}

/// How the client waits between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Sleep for real (a client of a real service, the load generator).
    Sleep,
    /// Count the wait on a simulated clock and go on at once: a scenario throttled for an hour
    /// of simulated time finishes in moments, and reports the hour.
    Simulate,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(3),
            timeout: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(24 * 3600),
            wait: Wait::Sleep,
        }
    }
}

/// One attempt of an upload, as the run's attempts log records it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// When it started, in milliseconds since the upload began (on the simulated clock, when
    /// waits are simulated).
    pub started_ms: f64,
    /// How long until its answer (or its failure).
    pub latency_ms: f64,
    /// The HTTP status, when the service answered — on simulated time also when the answer came
    /// too late (`error` then says the attempt timed out: the client never saw it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<u16>,
    /// `Retry-After` of the answer, in seconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retry_after_s: Option<u64>,
    /// What went wrong: the transport error, or the service's error body.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// How long the client waited after it before the next attempt (backoff or `Retry-After`),
    /// in milliseconds — slept, or counted on the simulated clock.
    #[serde(default)]
    pub wait_after_ms: f64,
}

/// An upload's result with the record of every attempt.
#[derive(Debug)]
pub struct UploadOutcome {
    pub attempts: Vec<Attempt>,
    pub result: Result<UploadReceipt, UpstreamError>,
}

impl UploadOutcome {
    /// Time spent waiting between attempts (slept, or simulated).
    pub fn waited(&self) -> Duration {
        Duration::from_secs_f64(self.attempts.iter().map(|a| a.wait_after_ms).sum::<f64>() / 1e3)
    }
}

/// The client of every call but usage uploads (which have their own per-attempt client): it
/// never follows a redirect (a pack's download must come from this service, and a redirect
/// could lead anywhere), and it gives up on a service that stops answering.
fn public_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(120))
        .build()
        .expect("a client with these settings builds")
}

/// The longest answer to a `-connect` the client reads.
pub const MAX_CONNECT_ANSWER_BYTES: usize = 4 << 20;
/// The largest update pack the client downloads.
pub const MAX_PACK_BYTES: usize = 64 << 20;

/// The longest error message, receipt or token answer the client reads: a hostile or broken
/// service's endless error body would otherwise be held whole.
const MAX_SMALL_ANSWER_BYTES: usize = 64 << 10;
/// The longest list of receipts or stored body the admin API's client reads.
const MAX_ADMIN_ANSWER_BYTES: usize = 256 << 20;

/// The first [`MAX_SMALL_ANSWER_BYTES`] of an error answer, as text; the rest is not read.
async fn error_text(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_SMALL_ANSWER_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_SMALL_ANSWER_BYTES {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// Reads an answer's JSON, refusing it past `limit` bytes without holding more.
async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    limit: usize,
    what: &str,
    transport: impl Fn(reqwest::Error) -> UpstreamError,
) -> Result<T, UpstreamError> {
    let body = read_bounded(response, limit, what, transport).await?;
    serde_json::from_slice(&body).map_err(|e| UpstreamError::Answer {
        what: what.into(),
        message: e.to_string(),
    })
}

/// Reads an answer's body, refusing it past `limit` bytes without holding more.
async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
    what: &str,
    transport: impl Fn(reqwest::Error) -> UpstreamError,
) -> Result<Vec<u8>, UpstreamError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(UpstreamError::Answer {
            what: what.into(),
            message: format!("the answer is larger than {limit} bytes"),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(&transport)? {
        if body.len() + chunk.len() > limit {
            return Err(UpstreamError::Answer {
                what: what.into(),
                message: format!("the answer is larger than {limit} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How late a service on simulated time says its answer was.
fn simulated_latency(sent: &Result<reqwest::Response, reqwest::Error>) -> Option<u64> {
    sent.as_ref()
        .ok()?
        .headers()
        .get(SIMULATED_LATENCY_HEADER)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// What one attempt's answer means.
enum Answer {
    Stored(UploadAnswer),
    Transient(String),
    Refused(UpstreamError),
}

/// The outcome of a successful upload.
#[derive(Debug, Clone)]
pub struct UploadReceipt {
    pub receipt: Receipt,
    pub replayed: bool,
    /// Attempts it took, 1 when the first one succeeded.
    pub attempts: u32,
}

pub struct Upstream {
    base: String,
    admin_token: String,
    admin: reqwest::Client,
    policy: RetryPolicy,
}

impl Upstream {
    pub fn new(
        base: impl Into<String>,
        admin_token: impl Into<String>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_string(),
            admin_token: admin_token.into(),
            admin: public_client(),
            policy,
        }
    }

    /// A client of the public API only (no admin token), with the default retry policy: what the
    /// service connection tool uses.
    pub fn public(base: impl Into<String>) -> Self {
        Self::new(base, "", RetryPolicy::default())
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A transport error of a call to this service, naming it.
    fn transport(&self) -> impl Fn(reqwest::Error) -> UpstreamError + '_ {
        |source| UpstreamError::Http {
            url: self.base.clone(),
            source,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `path` (an absolute path the service gave) as a URL of this service, or `None` when it
    /// would lead anywhere else.
    fn same_origin(&self, path: &str) -> Option<reqwest::Url> {
        if !path.starts_with('/') || path.starts_with("//") || path.contains('\\') {
            return None;
        }
        let base = reqwest::Url::parse(&self.base).ok()?;
        let url = reqwest::Url::parse(&self.url(path)).ok()?;
        (url.origin() == base.origin() && url.path().starts_with(base.path().trim_end_matches('/')))
            .then_some(url)
    }

    async fn admin_call(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, UpstreamError> {
        let response = request
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .map_err(self.transport())?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let body = error_text(response).await;
            return Err(UpstreamError::Status {
                what: what.into(),
                status,
                body,
            });
        }
        Ok(response)
    }

    /// Registers a hierarchy and returns its bearer token.
    pub async fn register(&self, hierarchy_hash: &str) -> Result<String, UpstreamError> {
        #[derive(Deserialize)]
        struct Answer {
            token: String,
        }
        let response = self
            .admin_call(
                "register hierarchy",
                self.admin
                    .post(self.url("/admin/hierarchies"))
                    .json(&serde_json::json!({ "hierarchy_id": hierarchy_hash })),
            )
            .await?;
        let answer: Answer = read_json(
            response,
            MAX_SMALL_ANSWER_BYTES,
            "register hierarchy",
            self.transport(),
        )
        .await?;
        Ok(answer.token)
    }

    pub async fn add_fault(&self, fault: &Fault) -> Result<(), UpstreamError> {
        self.admin_call(
            "program fault",
            self.admin.post(self.url("/admin/faults")).json(fault),
        )
        .await
        .map(drop)
    }

    pub async fn clear_faults(&self) -> Result<(), UpstreamError> {
        self.admin_call("clear faults", self.admin.delete(self.url("/admin/faults")))
            .await
            .map(drop)
    }

    pub async fn receipts(&self) -> Result<Vec<Receipt>, UpstreamError> {
        let response = self
            .admin_call("list uploads", self.admin.get(self.url("/admin/uploads")))
            .await?;
        read_json(
            response,
            MAX_ADMIN_ANSWER_BYTES,
            "list uploads",
            self.transport(),
        )
        .await
    }

    /// The decompressed JSON of a stored upload, byte for byte as received.
    pub async fn upload_body(&self, id: &str) -> Result<Vec<u8>, UpstreamError> {
        let response = self
            .admin_call(
                "fetch upload",
                self.admin.get(self.url(&format!("/admin/uploads/{id}"))),
            )
            .await?;
        read_bounded(
            response,
            MAX_ADMIN_ANSWER_BYTES,
            "fetch upload",
            self.transport(),
        )
        .await
    }

    /// Uploads a gzip'd payload as an online SCP does, retrying transient failures (5xx, 408,
    /// 429, timeouts, resets) with exponential backoff and the same `Idempotency-Key`.
    pub async fn upload_usage(
        &self,
        token: &str,
        idempotency_key: &str,
        gzip_body: Vec<u8>,
    ) -> Result<UploadReceipt, UpstreamError> {
        self.upload_usage_logged(token, idempotency_key, gzip_body)
            .await
            .result
    }

    /// [`Upstream::upload_usage`], with a record of every attempt it made.
    pub async fn upload_usage_logged(
        &self,
        token: &str,
        idempotency_key: &str,
        gzip_body: Vec<u8>,
    ) -> UploadOutcome {
        let mut attempts = Vec::new();
        let result = self
            .upload_with_retries(token, idempotency_key, &gzip_body, &mut attempts)
            .await;
        UploadOutcome { attempts, result }
    }

    async fn upload_with_retries(
        &self,
        token: &str,
        idempotency_key: &str,
        gzip_body: &[u8],
        log: &mut Vec<Attempt>,
    ) -> Result<UploadReceipt, UpstreamError> {
        // A fresh connection per attempt, as a service connection point's weekly upload has:
        // a reused idle connection would hide a network path that resets connections.
        let client = reqwest::Client::builder()
            .timeout(self.policy.timeout)
            .pool_max_idle_per_host(0)
            .build()
            .map_err(self.transport())?;
        let began = std::time::Instant::now();
        // On simulated time the upload's clock is the sum of its attempts' latencies and waits;
        // otherwise it is the wall clock.
        let mut simulated_ms = 0.0;
        let mut backoff = self.policy.first_backoff;
        for number in 1..=self.policy.max_attempts {
            let started = began.elapsed();
            let sent = client
                .post(self.url("/v1/usage"))
                .bearer_auth(token)
                .header("Idempotency-Key", idempotency_key)
                .header(reqwest::header::CONTENT_ENCODING, "gzip")
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(gzip_body.to_vec())
                .send()
                .await;
            let mut attempt = Attempt {
                number,
                started_ms: started.as_secs_f64() * 1e3,
                latency_ms: 0.0,
                status: None,
                retry_after_s: None,
                error: None,
                wait_after_ms: 0.0,
            };
            let mut wait = backoff;
            let late_ms = simulated_latency(&sent);
            let answer = self.read_answer(sent, &mut attempt).await;
            attempt.latency_ms = (began.elapsed() - started).as_secs_f64() * 1e3;
            let answer = self.apply_simulated_latency(answer, late_ms, &mut attempt);
            if self.policy.wait == Wait::Simulate {
                attempt.started_ms = simulated_ms;
            }
            if let Some(after) = attempt.retry_after_s {
                wait = Duration::from_secs(after).min(self.policy.max_retry_after);
            }
            let transient = matches!(answer, Answer::Transient(_));
            if transient && number < self.policy.max_attempts {
                attempt.wait_after_ms = wait.as_secs_f64() * 1e3;
            }
            simulated_ms += attempt.latency_ms + attempt.wait_after_ms;
            log.push(attempt);
            match answer {
                Answer::Stored(answer) => {
                    return Ok(UploadReceipt {
                        receipt: answer.receipt,
                        replayed: answer.replayed,
                        attempts: number,
                    });
                }
                Answer::Refused(error) => return Err(error),
                Answer::Transient(last) => {
                    if number == self.policy.max_attempts {
                        return Err(UpstreamError::GaveUp {
                            attempts: number,
                            last,
                        });
                    }
                    let how = match self.policy.wait {
                        Wait::Sleep => "",
                        Wait::Simulate => " (on the simulated clock: not slept)",
                    };
                    tracing::warn!("usage upload failed, retrying in {wait:?}{how}: {last}");
                    if self.policy.wait == Wait::Sleep {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
            backoff = (backoff * 2).min(self.policy.max_backoff);
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// On simulated time, an answer that says it was late (`simulated-latency-ms`) costs that
    /// much of the clock; one later than the timeout is a timeout: the client never sees it, even
    /// when the service stored the upload, so the retry is answered with the same receipt.
    fn apply_simulated_latency(
        &self,
        answer: Answer,
        late_ms: Option<u64>,
        attempt: &mut Attempt,
    ) -> Answer {
        let Some(late_ms) = late_ms.filter(|_| self.policy.wait == Wait::Simulate) else {
            return answer;
        };
        let timeout_ms = self.policy.timeout.as_secs_f64() * 1e3;
        if (late_ms as f64) < timeout_ms {
            attempt.latency_ms += late_ms as f64;
            return answer;
        }
        // The status stays: what the service did (stored it, say) although the client never
        // saw the answer; the error says the client timed out.
        attempt.latency_ms = timeout_ms;
        attempt.retry_after_s = None;
        let error = format!(
            "timed out after {:.1} s (simulated: the answer would have taken {:.1} s)",
            timeout_ms / 1e3,
            late_ms as f64 / 1e3
        );
        attempt.error = Some(error.clone());
        Answer::Transient(format!("attempt {}: {error}", attempt.number))
    }

    /// Reads one attempt's answer into the attempt's record and says what it means.
    async fn read_answer(
        &self,
        sent: Result<reqwest::Response, reqwest::Error>,
        attempt: &mut Attempt,
    ) -> Answer {
        let number = attempt.number;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                attempt.error = Some(e.to_string());
                return Answer::Transient(format!("attempt {number}: {e}"));
            }
        };
        let status = response.status();
        attempt.status = Some(status.as_u16());
        attempt.retry_after_s = retry_after(&response).map(|d| d.as_secs());

        if status.is_success() {
            let read = read_json::<UploadAnswer>(
                response,
                MAX_SMALL_ANSWER_BYTES,
                "upload receipt",
                self.transport(),
            );
            return match read.await {
                Ok(answer) => Answer::Stored(answer),
                Err(e) => {
                    attempt.error = Some(format!("unreadable receipt: {e}"));
                    Answer::Transient(format!("attempt {number}: unreadable receipt: {e}"))
                }
            };
        }
        let body = error_text(response).await;
        attempt.error = Some(body.clone());
        if is_transient(status) {
            Answer::Transient(format!("attempt {number}: {status}: {body}"))
        } else {
            Answer::Refused(UpstreamError::Status {
                what: "usage upload".into(),
                status: status.as_u16(),
                body,
            })
        }
    }

    /// The service connection tool's `-connect`: every cabinet (file name, bytes) in one
    /// multipart request. The service refuses the whole request if any cabinet is bad.
    pub async fn sct_connect(
        &self,
        token: &str,
        cabs: Vec<(String, Vec<u8>)>,
    ) -> Result<ConnectAnswer, UpstreamError> {
        let mut form = reqwest::multipart::Form::new();
        for (name, bytes) in cabs {
            form = form.part(
                CAB_FIELD,
                reqwest::multipart::Part::bytes(bytes).file_name(name),
            );
        }
        let response = self
            .client_call(
                "service connection tool connect",
                self.admin
                    .post(self.url("/v1/sct/connect"))
                    .bearer_auth(token)
                    .multipart(form),
            )
            .await?;
        let body = read_bounded(
            response,
            MAX_CONNECT_ANSWER_BYTES,
            "service connection tool connect",
            self.transport(),
        )
        .await?;
        serde_json::from_slice(&body).map_err(|e| UpstreamError::Answer {
            what: "service connection tool connect".into(),
            message: e.to_string(),
        })
    }

    /// Downloads an offered update pack. The caller checks its digest against the offer. The
    /// token goes only to this service: an offer whose download path leads to another origin
    /// (another host, port or scheme) is refused before anything is sent.
    pub async fn download_pack(
        &self,
        token: &str,
        offer: &PackOffer,
    ) -> Result<Vec<u8>, UpstreamError> {
        let url = self.same_origin(&offer.download).ok_or_else(|| UpstreamError::Answer {
            what: "update check".into(),
            message: format!(
                "pack `{}` would be downloaded from `{}`, outside {}: refused, the token goes only to the configured service",
                offer.id, offer.download, self.base
            ),
        })?;
        let response = self
            .client_call(
                "update pack download",
                self.admin.get(url).bearer_auth(token),
            )
            .await?;
        read_bounded(
            response,
            MAX_PACK_BYTES,
            "update pack download",
            self.transport(),
        )
        .await
    }

    /// A call of the public API: a non-success answer becomes [`UpstreamError::Status`] with
    /// the service's own error message when it sent one.
    async fn client_call(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, UpstreamError> {
        let response = request.send().await.map_err(self.transport())?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body = error_text(response).await;
        let body = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or(body);
        Err(UpstreamError::Status {
            what: what.into(),
            status,
            body,
        })
    }
}

fn is_transient(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}
