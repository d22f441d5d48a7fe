//! `POST /v1/usage`: an online service connection point uploads one week's usage payload.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use usage_protocol::payload::PayloadShape;
use usage_protocol::receipt::UploadAnswer;

use super::AppState;
use super::acknowledge::acknowledge;
use super::auth::client_hierarchy;
use super::body::read_body;
use super::error::ApiError;
use crate::store::NewUpload;

const ROUTE: &str = "/v1/usage";

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route(ROUTE, post(usage_upload))
}

async fn usage_upload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = upload(&state, &headers, body).await;
    if result.is_ok() && state.faults.next_answer_lost() {
        return lost_answer();
    }
    result.into_response()
}

/// The upload is stored, but its answer never arrives whole: the headers go out and the body
/// breaks off, as when a connection drops while the receipt is on its way.
fn lost_answer() -> Response {
    let broken = futures_util::stream::once(async {
        Err::<axum::body::Bytes, _>(std::io::Error::other(
            "the answer was lost (upload_lost_ack fault)",
        ))
    });
    Response::builder()
        .status(StatusCode::CREATED)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(broken))
        .expect("a valid response")
}

/// Answers 201 with a new receipt, or 200 with the original one when the same body is retried
/// under the same `Idempotency-Key`.
async fn upload(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<UploadAnswer>), ApiError> {
    let token_hierarchy = client_hierarchy(state, headers, "usage uploads need")?;
    let key = idempotency_key(headers)?;
    // Inflating and parsing is where an upload costs memory: only so many at once.
    let permit = state.inflating.acquire().await.expect("never closed");
    let json = read_body(state, headers, body).await?;
    let payload = PayloadShape::from_json(&json)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_payload", e.to_string()))?;
    // Parsed, it waits for the store's next flush holding only its size: the next uploads can
    // inflate meanwhile, and many share the flush.
    let kib = u32::try_from(json.len() / 1024 + 1)
        .unwrap_or(u32::MAX)
        .min(super::AWAITING_STORE_KIB);
    let _awaiting = state
        .awaiting_store
        .acquire_many(kib)
        .await
        .expect("never closed");
    drop(permit);
    if payload.hierarchy_id != token_hierarchy {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_hierarchy",
            "field `hierarchy_id` does not match the hierarchy this token was issued for",
        ));
    }
    let upload = NewUpload {
        idempotency_key: &key,
        hierarchy_id: &payload.hierarchy_id,
        week: payload.period.week,
        channel: "online",
        json,
    };
    let answer = acknowledge(state, upload, |existing| {
        format!(
            "Idempotency-Key `{}` was used for a different body (receipt {})",
            existing.idempotency_key, existing.id
        )
    })
    .await?;
    let status = if answer.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(answer)))
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 128)
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "missing_idempotency_key",
                "header `Idempotency-Key` (1 to 128 characters) is required",
            )
        })
}
