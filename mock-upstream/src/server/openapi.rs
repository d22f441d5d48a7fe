//! The service's API as OpenAPI 3.1, served at `GET /openapi.json`. The schemas are generated
//! from the wire types themselves (`usage_protocol`, with its `openapi` feature); the operations
//! are declared here, one per route, with every answer a route can give. `.ci/run` points
//! schemathesis at a live server to check that every answer matches this description.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use usage_protocol::connect::ConnectAnswer;
use usage_protocol::fault::Fault;
use usage_protocol::receipt::{Receipt, UploadAnswer};
use usage_protocol::update_pack::UpdateCheckAnswer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::AppState;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}

/// `{"error": {"code": …, "message": …}}`: every 4xx and 5xx.
#[derive(ToSchema)]
#[allow(dead_code)] // a description of what `ApiError` writes
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    /// A stable code, e.g. `invalid_payload`, `unauthorized`, `decompressed_too_large`.
    code: String,
    /// What is wrong, naming the field, header or file.
    message: String,
    /// On a 409 `idempotency_conflict`: the receipt the key was first stored under.
    receipt: Option<Receipt>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct RegisterRequest {
    /// The hashed hierarchy ID (base64 SHA-256).
    hierarchy_id: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct RegisterAnswer {
    hierarchy_id: String,
    /// The bearer token of the hierarchy's client calls.
    token: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
/// `multipart/form-data`: one `cab` part per usage cabinet.
struct ConnectForm {
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    cab: Vec<u8>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mock Configuration Manager diagnostics and usage data service",
        description = "The cloud service a service connection point uploads usage data to (online), or the service connection tool connects to (offline)."
    ),
    paths(
        usage_upload,
        update_check,
        download_pack,
        sct_connect,
        register_hierarchy,
        list_uploads,
        fetch_upload,
        add_fault,
        list_faults,
        clear_faults,
        reset,
        list_requests,
        metrics,
        healthz
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        Health,
        JournalAnswer,
        JournalEntry,
        RegisterRequest,
        RegisterAnswer,
        ConnectForm,
        UploadAnswer,
        Receipt,
        UpdateCheckAnswer,
        ConnectAnswer,
        Fault,
        usage_protocol::payload::PayloadShape
    )),
    modifiers(&Bearer),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Uploads one week's usage payload (or one part of a backlog).
#[utoipa::path(
    post,
    path = "/v1/usage",
    request_body(
        content = usage_protocol::payload::PayloadShape,
        content_type = "application/json",
        description = "The payload, plain or gzip'd (`Content-Encoding: gzip`)"
    ),
    params(
        ("Idempotency-Key" = String, Header, description = "1 to 128 characters; the same key and body again is answered with the same receipt"),
    ),
    responses(
        (status = 201, description = "Stored", body = UploadAnswer),
        (status = 200, description = "Stored before under this key: the same receipt", body = UploadAnswer),
        (status = 400, description = "Invalid payload, gzip or key", body = ErrorBody),
        (status = 401, description = "No hierarchy token", body = ErrorBody),
        (status = 403, description = "The payload is another hierarchy's", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 409, description = "The key was used for another body", body = ErrorBody),
        (status = 413, description = "Body or decompressed payload too large", body = ErrorBody),
        (status = 415, description = "A Content-Encoding other than gzip", body = ErrorBody),
    ),
    tag = "client"
)]
#[allow(dead_code)]
fn usage_upload() {}

/// The update packs that apply to a product version.
#[utoipa::path(
    get,
    path = "/v1/updates",
    params(("version" = String, Query, description = "A product version like 5.00.9128.1000")),
    responses(
        (status = 200, body = UpdateCheckAnswer),
        (status = 400, description = "Not a product version", body = ErrorBody),
        (status = 401, body = ErrorBody),
    ),
    tag = "client"
)]
#[allow(dead_code)]
fn update_check() {}

/// An update pack's bytes; `X-Content-SHA256` carries their digest.
#[utoipa::path(
    get,
    path = "/v1/updatepacks/{id}",
    params(("id" = String, Path, description = "The pack's id, e.g. cm-2403")),
    responses(
        (status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such pack", body = ErrorBody),
    ),
    tag = "client"
)]
#[allow(dead_code)]
fn download_pack() {}

/// The service connection tool's connect: every cabinet in one request, all or nothing.
#[utoipa::path(
    post,
    path = "/v1/sct/connect",
    request_body(content = ConnectForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, body = ConnectAnswer),
        (status = 400, description = "A damaged cabinet, a name twice, no cabinet", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A cabinet of an unregistered hierarchy", body = ErrorBody),
        (status = 408, body = ErrorBody),
        (status = 409, description = "A week already uploaded with other data", body = ErrorBody),
        (status = 413, body = ErrorBody),
    ),
    tag = "client"
)]
#[allow(dead_code)]
fn sct_connect() {}

/// Issues a hierarchy's token (the same again for a known hierarchy).
#[utoipa::path(
    post,
    path = "/admin/hierarchies",
    request_body = RegisterRequest,
    responses(
        (status = 200, body = RegisterAnswer),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    ),
    tag = "admin"
)]
#[allow(dead_code)]
fn register_hierarchy() {}

/// Every stored upload's receipt.
#[utoipa::path(
    get,
    path = "/admin/uploads",
    responses((status = 200, body = Vec<Receipt>), (status = 401, body = ErrorBody)),
    tag = "admin"
)]
#[allow(dead_code)]
fn list_uploads() {}

/// A stored upload's decompressed JSON body.
#[utoipa::path(
    get,
    path = "/admin/uploads/{id}",
    params(("id" = String, Path, description = "The receipt id")),
    responses(
        (status = 200, content_type = "application/json", body = Object),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    tag = "admin"
)]
#[allow(dead_code)]
fn fetch_upload() {}

/// Programs a fault.
#[utoipa::path(
    post,
    path = "/admin/faults",
    request_body = Fault,
    responses(
        (status = 204),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    ),
    tag = "faults"
)]
#[allow(dead_code)]
fn add_fault() {}

/// The faults still programmed.
#[utoipa::path(
    get,
    path = "/admin/faults",
    responses((status = 200, body = Vec<Fault>), (status = 401, body = ErrorBody)),
    tag = "faults"
)]
#[allow(dead_code)]
fn list_faults() {}

/// Forgets every programmed fault.
#[utoipa::path(
    delete,
    path = "/admin/faults",
    responses((status = 204), (status = 401, body = ErrorBody)),
    tag = "faults"
)]
#[allow(dead_code)]
fn clear_faults() {}

/// Forgets every upload, token and fault.
#[utoipa::path(
    post,
    path = "/admin/reset",
    responses((status = 204), (status = 401, body = ErrorBody)),
    tag = "faults"
)]
#[allow(dead_code)]
fn reset() {}

/// `{"status": "ok"}`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct Health {
    status: String,
}

/// One answered request of the journal.
#[derive(ToSchema)]
#[allow(dead_code)]
struct JournalEntry {
    /// Seconds since the Unix epoch.
    at: f64,
    method: String,
    /// The route matched, e.g. `/v1/updatepacks/{id}`, or `unmatched`.
    route: String,
    path: String,
    status: u16,
    latency_ms: f64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct JournalAnswer {
    count: u64,
    /// Older requests dropped for room (the journal keeps the last 10,000).
    dropped: u64,
    requests: Vec<JournalEntry>,
}

/// The request journal: what the service answered, filtered; with `expect_count`, a
/// verification (412 when the count differs).
#[utoipa::path(
    get,
    path = "/admin/requests",
    params(
        ("method" = Option<String>, Query, description = "e.g. POST"),
        ("route" = Option<String>, Query, description = "e.g. /v1/usage"),
        ("status" = Option<String>, Query, description = "an HTTP status, e.g. 429"),
        ("expect_count" = Option<String>, Query, description = "the number of matching requests expected"),
    ),
    responses(
        (status = 200, body = JournalAnswer),
        (status = 400, description = "A parameter is not a number", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 412, description = "Another count than expect_count", body = ErrorBody),
    ),
    tag = "faults"
)]
#[allow(dead_code)]
fn list_requests() {}

/// Whether the service answers.
#[utoipa::path(
    get,
    path = "/healthz",
    responses((status = 200, body = Health)),
    security(()),
    tag = "metrics"
)]
#[allow(dead_code)]
fn healthz() {}

/// The counters, in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, content_type = "text/plain", body = String)),
    security(()),
    tag = "metrics"
)]
#[allow(dead_code)]
fn metrics() {}
