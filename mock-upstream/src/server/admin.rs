//! The admin API, for tests and operators: hierarchies and their tokens, the stored uploads, the
//! programmed faults, and a reset to the empty state. Every call needs the admin token.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use usage_protocol::fault::Fault;
use usage_protocol::receipt::Receipt;

use super::AppState;
use super::auth::require_admin;
use super::error::ApiError;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/hierarchies", post(register_hierarchy))
        .route("/admin/uploads", get(list_uploads))
        .route("/admin/uploads/{id}", get(fetch_upload))
        .route(
            "/admin/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/admin/reset", post(reset))
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
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_admin(&state, &headers)?;
    let request: RegisterRequest = parse_json(&body)?;
    let token = state
        .tokens
        .register(&request.hierarchy_id)
        .map_err(ApiError::storage_failed)?;
    Ok(Json(
        json!({"hierarchy_id": request.hierarchy_id, "token": token}),
    ))
}

async fn list_uploads(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<Receipt>>, ApiError> {
    require_admin(&state, &headers)?;
    Ok(Json(state.store.receipts().await))
}

/// The stored (decompressed) JSON body of an upload, by receipt id.
async fn fetch_upload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
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

/// Forgets every fault, upload and token, on disk too.
async fn reset(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    require_admin(&state, &headers)?;
    state.faults.clear();
    state
        .store
        .reset()
        .await
        .map_err(ApiError::storage_failed)?;
    state.tokens.clear().map_err(ApiError::storage_failed)?;
    Ok(StatusCode::NO_CONTENT)
}
