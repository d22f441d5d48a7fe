//! The HTTP service: routes, limits, authentication and the listener that can reset connections.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Multipart, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::auth::Tokens;
use crate::faults::Faults;
use crate::metrics::Metrics;
use crate::store::{NewUpload, Store, Stored};
use crate::update_packs::Catalog;
use usage_protocol::connect::{CAB_FIELD, ConnectAnswer, ConnectResult};
use usage_protocol::fault::Fault;
use usage_protocol::payload::UsagePayload;
use usage_protocol::receipt::{Receipt, UploadAnswer};
use usage_protocol::update_pack::{PackOffer, UpdateCheckAnswer};
use usage_protocol::{sha256_hex, usage_cab};

/// How to run a server.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Bearer token of the admin API.
    pub admin_token: String,
    /// Largest request body accepted, compressed (413 past it).
    pub max_body_bytes: usize,
    /// Largest decompressed payload accepted (413 past it), so a gzip bomb is refused.
    pub max_decompressed_bytes: usize,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            admin_token: format!("admin-{}", uuid::Uuid::new_v4().simple()),
            max_body_bytes: 8 << 20,
            max_decompressed_bytes: 64 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The data directory cannot be created; the message names it.
    #[error(transparent)]
    DataDir(std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
}

struct AppState {
    store: Store,
    faults: Arc<Faults>,
    tokens: Tokens,
    metrics: Metrics,
    catalog: Catalog,
    config: Config,
}

/// A server running on a tokio task; dropping it (or [`RunningServer::stop`]) shuts it down.
pub struct RunningServer {
    addr: SocketAddr,
    admin_token: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds, reloads the durable state and starts serving on the current tokio runtime.
pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
    fs_err::create_dir_all(&config.data_dir).map_err(ServerError::DataDir)?;
    let store = Store::open(&config.data_dir).await?;
    let tokens = Tokens::open(&config.data_dir, config.admin_token.clone())?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let faults = Arc::new(Faults::default());
    let state = Arc::new(AppState {
        store,
        faults: faults.clone(),
        tokens,
        metrics: Metrics::default(),
        catalog: Catalog::shipped(),
        config: config.clone(),
    });
    let (tx, rx) = oneshot::channel();
    let app = router(state);
    let listener = ResettingListener {
        inner: listener,
        faults,
    };
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = server.await {
            tracing::error!("mock upstream stopped: {e}");
        }
    });
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "mock upstream listening");
    Ok(RunningServer {
        addr,
        admin_token: config.admin_token,
        shutdown: Some(tx),
        task: Some(task),
    })
}

fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .route("/v1/usage", post(usage_upload))
        .route("/v1/updates", get(update_check))
        .route("/v1/updatepacks/{id}", get(download_pack))
        .route("/v1/sct/connect", post(sct_connect))
        .route("/admin/hierarchies", post(register_hierarchy))
        .route("/admin/uploads", get(list_uploads))
        .route("/admin/uploads/{id}", get(fetch_upload))
        .route(
            "/admin/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/admin/reset", post(reset))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// An error answered as `{"error": {"code": …, "message": …}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_s: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"code": self.code, "message": self.message}}));
        let mut response = (self.status, body).into_response();
        if let Some(secs) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.tokens.is_admin(bearer(headers)) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the admin API needs `Authorization: Bearer <admin token>`",
        ))
    }
}

/// Applies the programmed faults to a client request; `Err` is the response the fault dictates.
async fn inject_faults(state: &AppState, route: &'static str) -> Result<(), ApiError> {
    let injection = state.faults.next_request();
    if let Some(delay) = injection.delay {
        state.metrics.add(
            "upstream_faults_injected_total",
            "kind=\"latency\"".into(),
            1,
        );
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = injection.status {
        let kind = if injection.retry_after_s.is_some() {
            "throttle"
        } else {
            "status"
        };
        state.metrics.add(
            "upstream_faults_injected_total",
            format!("kind=\"{kind}\""),
            1,
        );
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut error = ApiError::new(
            status,
            "injected_fault",
            format!("fault injected on {route}"),
        );
        error.retry_after_s = injection.retry_after_s;
        return Err(error);
    }
    Ok(())
}

fn count(state: &AppState, route: &'static str, status: StatusCode) {
    state.metrics.add(
        "upstream_requests_total",
        format!("route=\"{route}\",status=\"{}\"", status.as_u16()),
        1,
    );
}

/// Reads a request body up to the configured limit and undoes `Content-Encoding: gzip`, bounded
/// by the decompressed limit.
async fn read_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let limit = state.config.max_body_bytes;
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    })?;
    state.metrics.add(
        "upstream_bytes_received_total",
        String::new(),
        bytes.len() as u64,
    );
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    match encoding {
        "gzip" => gunzip_bounded(&bytes, state.config.max_decompressed_bytes),
        "identity" => Ok(bytes.to_vec()),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("Content-Encoding `{other}` is not supported (use gzip or identity)"),
        )),
    }
}

/// Inflates at most `limit` bytes: reading one byte past the limit proves the payload is too
/// large without ever holding more than `limit + 1` bytes.
pub fn gunzip_bounded(bytes: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_gzip",
                format!("body is not valid gzip: {e}"),
            )
        })?;
    if out.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "decompressed_too_large",
            format!("decompressed payload exceeds {limit} bytes"),
        ));
    }
    Ok(out)
}

async fn usage_upload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    const ROUTE: &str = "/v1/usage";
    let result = usage_upload_inner(&state, &headers, body).await;
    let response = match result {
        Ok((status, answer)) => (status, Json(answer)).into_response(),
        Err(error) => error.into_response(),
    };
    count(&state, ROUTE, response.status());
    response
}

async fn usage_upload_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(StatusCode, UploadAnswer), ApiError> {
    inject_faults(state, "/v1/usage").await?;
    let token_hierarchy = state.tokens.hierarchy_of(bearer(headers)).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "usage uploads need `Authorization: Bearer <hierarchy token>`",
        )
    })?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 128)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "missing_idempotency_key",
                "header `Idempotency-Key` (1 to 128 characters) is required",
            )
        })?
        .to_string();
    let json = read_body(state, headers, body).await?;
    let payload = UsagePayload::from_json(&json)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_payload", e.to_string()))?;
    if payload.hierarchy_id != token_hierarchy {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_hierarchy",
            "field `hierarchy_id` does not match the hierarchy this token was issued for",
        ));
    }
    let stored = state
        .store
        .put(NewUpload {
            idempotency_key: &key,
            hierarchy_id: &payload.hierarchy_id,
            week: payload.period.week,
            channel: "online",
            json,
        })
        .await
        .map_err(|e| {
            tracing::error!("storing upload failed: {e}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage_failed",
                e.to_string(),
            )
        })?;
    match stored {
        Stored::Created(receipt) => {
            state.metrics.add(
                "upstream_uploads_stored_total",
                "channel=\"online\"".into(),
                1,
            );
            Ok((
                StatusCode::CREATED,
                UploadAnswer {
                    receipt,
                    replayed: false,
                },
            ))
        }
        Stored::Replayed(receipt) => {
            state
                .metrics
                .add("upstream_uploads_replayed_total", String::new(), 1);
            Ok((
                StatusCode::OK,
                UploadAnswer {
                    receipt,
                    replayed: true,
                },
            ))
        }
        Stored::Conflict(receipt) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_conflict",
            format!(
                "Idempotency-Key `{}` was used for a different body (receipt {})",
                receipt.idempotency_key, receipt.id
            ),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    hierarchy_id: String,
}

async fn register_hierarchy(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_admin(&state, &headers)?;
    let request: RegisterRequest = parse_json(&body)?;
    let token = state.tokens.register(&request.hierarchy_id).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage_failed",
            e.to_string(),
        )
    })?;
    Ok(Json(
        json!({"hierarchy_id": request.hierarchy_id, "token": token}),
    ))
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))
}

async fn list_uploads(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<Receipt>>, ApiError> {
    require_admin(&state, &headers)?;
    Ok(Json(state.store.receipts().await))
}

async fn fetch_upload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let body = state.store.body(&id).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage_failed",
            e.to_string(),
        )
    })?;
    let body = body.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_upload",
            format!("no upload `{id}`"),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn add_fault(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    require_admin(&state, &headers)?;
    let fault: Fault = parse_json(&body)?;
    state.faults.add(fault);
    Ok(StatusCode::NO_CONTENT)
}

async fn list_faults(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<Fault>>, ApiError> {
    require_admin(&state, &headers)?;
    Ok(Json(state.faults.pending()))
}

async fn clear_faults(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    require_admin(&state, &headers)?;
    state.faults.clear();
    Ok(StatusCode::NO_CONTENT)
}

async fn reset(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    require_admin(&state, &headers)?;
    state.faults.clear();
    let failed = |e: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage_failed", e);
    state
        .store
        .reset()
        .await
        .map_err(|e| failed(e.to_string()))?;
    state.tokens.clear().map_err(|e| failed(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// Accepts like a `TcpListener`, but resets (RST, via zero linger) the connections a `reset`
/// fault asks for before any byte is read, as a broken network path would.
struct ResettingListener {
    inner: TcpListener,
    faults: Arc<Faults>,
}

impl axum::serve::Listener for ResettingListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            if self.faults.next_connection() {
                let _ = stream.set_zero_linger();
                drop(stream);
                continue;
            }
            return (stream, addr);
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

fn client_hierarchy(state: &AppState, headers: &HeaderMap, what: &str) -> Result<String, ApiError> {
    state.tokens.hierarchy_of(bearer(headers)).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("{what} needs `Authorization: Bearer <hierarchy token>`"),
        )
    })
}

fn respond<T: Serialize>(
    state: &AppState,
    route: &'static str,
    result: Result<T, ApiError>,
) -> Response {
    let response = match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    };
    count(state, route, response.status());
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateCheck {
    version: String,
}

fn offers_for(state: &AppState, version: &str) -> Result<Vec<PackOffer>, ApiError> {
    state.catalog.applicable(version).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_version",
            format!("`{version}` is not a product version like 5.00.9128.1000"),
        )
    })
}

/// The online service connection point's daily check: which update packs apply to `version`.
async fn update_check(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<UpdateCheck>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let result = async {
        inject_faults(&state, "/v1/updates").await?;
        client_hierarchy(&state, &headers, "the update check")?;
        let Query(check) = query.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("{e} (use ?version=5.00.9128.1000)"),
            )
        })?;
        let update_packs = offers_for(&state, &check.version)?;
        Ok(UpdateCheckAnswer {
            version: check.version,
            update_packs,
        })
    }
    .await;
    respond(&state, "/v1/updates", result)
}

async fn download_pack(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    const ROUTE: &str = "/v1/updatepacks";
    let result: Result<Response, ApiError> = async {
        inject_faults(&state, ROUTE).await?;
        client_hierarchy(&state, &headers, "an update pack download")?;
        let pack = state.catalog.get(&id).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_such_pack",
                format!("no update pack `{id}`"),
            )
        })?;
        let content = crate::update_packs::content(pack);
        let sha = sha256_hex(&content);
        Ok((
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (header::HeaderName::from_static("x-content-sha256"), sha),
            ],
            content,
        )
            .into_response())
    }
    .await;
    let response = result.unwrap_or_else(|e: ApiError| e.into_response());
    count(&state, ROUTE, response.status());
    response
}

/// The service connection tool's `-connect`: every usage cabinet of the folder in one multipart
/// request (field `cab`, one part per file). Every cabinet is read and validated before any is
/// stored, so a damaged file or a name used twice refuses the whole request and nothing is
/// partially uploaded. Each stored cabinet is answered with the update packs for its hierarchy.
async fn sct_connect(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let result = sct_connect_inner(&state, &headers, multipart).await;
    respond(&state, "/v1/sct/connect", result)
}

async fn sct_connect_inner(
    state: &AppState,
    headers: &HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<ConnectAnswer, ApiError> {
    inject_faults(state, "/v1/sct/connect").await?;
    client_hierarchy(state, headers, "the service connection tool")?;
    let bad = |code, message: String| ApiError::new(StatusCode::BAD_REQUEST, code, message);
    let mut multipart = multipart.map_err(|e| {
        bad(
            "invalid_multipart",
            format!("expected multipart/form-data with `cab` parts: {e}"),
        )
    })?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| {
        let status = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, "invalid_multipart", e.body_text())
    })? {
        if field.name() != Some(CAB_FIELD) {
            return Err(bad(
                "invalid_multipart",
                format!(
                    "unexpected field `{}`; send files as `cab`",
                    field.name().unwrap_or("")
                ),
            ));
        }
        let name = field.file_name().map(str::to_string).ok_or_else(|| {
            bad(
                "invalid_multipart",
                "every `cab` part needs a file name".into(),
            )
        })?;
        let bytes = field
            .bytes()
            .await
            .map_err(|e| bad("invalid_multipart", e.body_text()))?;
        state.metrics.add(
            "upstream_bytes_received_total",
            String::new(),
            bytes.len() as u64,
        );
        if files.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            return Err(bad(
                "duplicate_file_name",
                format!("`{name}` is uploaded twice; cabinet names must be unique"),
            ));
        }
        files.push((name, bytes.to_vec()));
    }
    if files.is_empty() {
        return Err(bad("no_files", "the request holds no `cab` file".into()));
    }
    let mut accepted = Vec::new();
    for (name, bytes) in &files {
        let cab = usage_cab::read(bytes, state.config.max_decompressed_bytes as u64).map_err(
            |e| match e {
                usage_cab::CabError::TooLarge { .. } => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "decompressed_too_large",
                    format!("`{name}`: {e}"),
                ),
                _ => bad("invalid_cab", format!("`{name}`: {e}")),
            },
        )?;
        let payload = UsagePayload::from_json(&cab.payload_json)
            .map_err(|e| bad("invalid_payload", format!("`{name}`: {e}")))?;
        if payload.mode != "offline" {
            return Err(bad(
                "invalid_payload",
                format!(
                    "`{name}`: field `mode` is `{}`; cabinets carry offline data",
                    payload.mode
                ),
            ));
        }
        if !state.tokens.is_registered(&payload.hierarchy_id) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "unknown_hierarchy",
                format!(
                    "`{name}`: hierarchy `{}` is not registered with this service",
                    payload.hierarchy_id
                ),
            ));
        }
        let key = format!("sct/{}/week/{}", payload.hierarchy_id, payload.period.week);
        if let Some(existing) = state.store.by_key(&key).await {
            let sha = sha256_hex(&cab.payload_json);
            if existing.body_sha256 != sha {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_conflict",
                    format!(
                        "`{name}`: week {} of this hierarchy was already uploaded with different data (receipt {})",
                        payload.period.week, existing.id
                    ),
                ));
            }
        }
        let update_packs = offers_for(state, &payload.product_version)?;
        accepted.push((name.clone(), key, payload, cab.payload_json, update_packs));
    }
    let mut results = Vec::new();
    for (file, key, payload, json, update_packs) in accepted {
        let stored = state
            .store
            .put(NewUpload {
                idempotency_key: &key,
                hierarchy_id: &payload.hierarchy_id,
                week: payload.period.week,
                channel: "sct",
                json,
            })
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage_failed",
                    e.to_string(),
                )
            })?;
        let (receipt, replayed) = match stored {
            Stored::Created(r) => {
                state
                    .metrics
                    .add("upstream_uploads_stored_total", "channel=\"sct\"".into(), 1);
                (r, false)
            }
            Stored::Replayed(r) => {
                state
                    .metrics
                    .add("upstream_uploads_replayed_total", String::new(), 1);
                (r, true)
            }
            Stored::Conflict(r) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_conflict",
                    format!("`{file}`: conflicts with receipt {}", r.id),
                ));
            }
        };
        results.push(ConnectResult {
            file,
            hierarchy_id: payload.hierarchy_id,
            week: payload.period.week,
            receipt,
            replayed,
            update_packs,
        });
    }
    Ok(ConnectAnswer { results })
}

/// Serves until SIGINT or SIGTERM; the first line on stdout is `listening on http://ADDR`, so a
/// script can find a port chosen by the OS. Shared by `mock-upstream serve` and `harness upstream`.
pub async fn serve_until_signal(config: Config) -> Result<(), ServerError> {
    use tokio::signal::unix::{SignalKind, signal};
    let server = start(config).await?;
    // A script may read the first line and close the pipe: losing stdout must not stop the
    // service, so write errors are ignored.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {}", server.base_url());
        let _ = writeln!(out, "admin token: {}", server.admin_token());
        let _ = out.flush();
    }
    let mut term = signal(SignalKind::terminate()).map_err(|source| ServerError::Bind {
        addr: server.addr(),
        source,
    })?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("signal received, stopping");
    server.stop().await;
    Ok(())
}
