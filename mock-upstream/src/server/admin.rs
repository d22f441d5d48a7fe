//! The admin API, for tests and operators: hierarchies and their tokens, the stored uploads, the
//! programmed faults, and a reset to the empty state. Every call needs the admin token.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use usage_protocol::fault::{Fault, MAX_LATENCY_MS, MAX_RETRY_AFTER_S};
use usage_protocol::receipt::Receipt;

use super::AppState;
use super::auth::require_admin;
use super::body::within_body_timeout;
use super::error::ApiError;

/// Admin requests are small; the limit keeps a stranger from making the server read megabytes.
const MAX_ADMIN_BODY_BYTES: usize = 64 << 10;

/// The admin routes, behind the admin token: a request without it is answered 401 before any
/// of its body is read.
pub(super) fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/hierarchies", post(register_hierarchy))
        .route("/admin/uploads", get(list_uploads))
        .route("/admin/uploads/{id}", get(fetch_upload))
        .route(
            "/admin/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/admin/reset", post(reset))
        .route("/admin/requests", get(list_requests))
        .layer(DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES))
        .route_layer(axum::middleware::from_fn_with_state(state, admin_only))
}

/// The admin token first; then the (small) body is read within the body timeout, so an admin
/// request that never finishes its body is answered 408 like any other.
async fn admin_only(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Err(refused) = require_admin(&state, request.headers()) {
        return refused.into_response();
    }
    let (parts, body) = request.into_parts();
    let read = within_body_timeout(axum::body::to_bytes(body, MAX_ADMIN_BODY_BYTES)).await;
    match read {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("admin request bodies are at most {MAX_ADMIN_BODY_BYTES} bytes"),
        )
        .into_response(),
        Err(timed_out) => timed_out.into_response(),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    hierarchy_id: String,
}

/// Issues the hierarchy's client token (the same one again if it has one).
async fn register_hierarchy(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let request: RegisterRequest = parse_json(&body)?;
    if !usage_protocol::payload::is_sha256_base64(&request.hierarchy_id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "hierarchy_id must be a hashed hierarchy ID: a base64 SHA-256 digest (44 characters)",
        ));
    }
    let token = state
        .tokens
        .register(&request.hierarchy_id)
        .map_err(ApiError::storage_failed)?;
    Ok(Json(
        json!({"hierarchy_id": request.hierarchy_id, "token": token}),
    ))
}

async fn list_uploads(State(state): State<Arc<AppState>>) -> Result<Json<Vec<Receipt>>, ApiError> {
    Ok(Json(state.store.receipts().await))
}

/// The stored (decompressed) JSON body of an upload, by receipt id.
async fn fetch_upload(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let body = state
        .store
        .body(&id)
        .await
        .map_err(ApiError::storage_failed)?;
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
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let fault: Fault = parse_json(&body)?;
    check_fault(&fault)?;
    state.faults.add(fault);
    Ok(StatusCode::NO_CONTENT)
}

/// A fault must be one a real service could show: an error status, a count that does something.
fn check_fault(fault: &Fault) -> Result<(), ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_fault", message);
    if let Fault::Status { status, .. } = fault
        && !(400..=599).contains(status)
    {
        return Err(bad(format!(
            "field `status`: {status} is not an error status (400 to 599)"
        )));
    }
    if fault.remaining() == 0 {
        return Err(bad("field `count`: must be at least 1".into()));
    }
    match *fault {
        Fault::Latency { ms, .. } if ms > MAX_LATENCY_MS => Err(bad(format!(
            "field `ms`: {ms} is more than {MAX_LATENCY_MS} (an hour)"
        ))),
        Fault::Throttle { retry_after_s, .. } if retry_after_s > MAX_RETRY_AFTER_S => {
            Err(bad(format!(
                "field `retry_after_s`: {retry_after_s} is more than {MAX_RETRY_AFTER_S} (a day)"
            )))
        }
        _ => Ok(()),
    }
}

async fn list_faults(State(state): State<Arc<AppState>>) -> Result<Json<Vec<Fault>>, ApiError> {
    Ok(Json(state.faults.pending()))
}

async fn clear_faults(State(state): State<Arc<AppState>>) -> Result<StatusCode, ApiError> {
    state.faults.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/requests?method=&route=&status=&expect_count=`: what the request journal holds
/// that matches, oldest first. With `expect_count`, a count other than the one expected is
/// answered 412 naming both — a test's verification in one call.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestQuery {
    method: Option<String>,
    route: Option<String>,
    status: Option<String>,
    expect_count: Option<String>,
}

async fn list_requests(
    State(state): State<Arc<AppState>>,
    query: Result<axum::extract::Query<RequestQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message);
    let axum::extract::Query(q) = query.map_err(|e| bad(e.to_string()))?;
    let number = |name: &str, value: &Option<String>| -> Result<Option<u64>, ApiError> {
        value
            .as_deref()
            .map(|v| {
                v.parse()
                    .map_err(|_| bad(format!("{name} `{v}` is not a whole number")))
            })
            .transpose()
    };
    let status = number("status", &q.status)?
        .map(|s| {
            u16::try_from(s)
                .ok()
                .filter(|s| (100..=599).contains(s))
                .ok_or_else(|| bad(format!("status {s} is not an HTTP status (100 to 599)")))
        })
        .transpose()?;
    let expected = number("expect_count", &q.expect_count)?;
    let filter = crate::journal::Filter {
        method: q.method,
        route: q.route,
        status,
    };
    let (requests, dropped) = state.journal.matching(&filter);
    // Once the journal has dropped requests for room, a count can no longer be verified: a
    // dropped one may have matched. Saying "as expected" then could be false.
    if expected.is_some() && dropped > 0 {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "journal_incomplete",
            format!(
                "the journal dropped {dropped} older request(s) for room, so the count matching {filter} cannot be verified: reset it (POST /admin/reset) before the requests under test"
            ),
        ));
    }
    if let Some(expected) = expected
        && expected != requests.len() as u64
    {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "count_mismatch",
            format!(
                "expected {expected} request(s) matching {filter}, the journal has {}{}",
                requests.len(),
                if dropped > 0 {
                    format!(" ({dropped} older request(s) were dropped for room)")
                } else {
                    String::new()
                }
            ),
        ));
    }
    Ok(Json(json!({
        "count": requests.len(),
        "dropped": dropped,
        "requests": requests,
    })))
}

/// Forgets every fault, upload, token and journalled request, on disk too.
async fn reset(State(state): State<Arc<AppState>>) -> Result<StatusCode, ApiError> {
    state.faults.clear();
    state.journal.clear();
    state
        .store
        .reset()
        .await
        .map_err(ApiError::storage_failed)?;
    state.tokens.clear().map_err(ApiError::storage_failed)?;
    Ok(StatusCode::NO_CONTENT)
}
