//! `POST /v1/sct/connect`: the service connection tool's `-connect` uploads every usage cabinet of
//! its folder in one multipart request (field `cab`, one part per file).
//!
//! Every cabinet is read and validated before any is stored, so a damaged file or a name used
//! twice refuses the whole request and nothing is partially uploaded. Each stored cabinet is
//! answered with the update packs for its hierarchy.

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use usage_protocol::connect::{CAB_FIELD, ConnectAnswer, ConnectResult};
use usage_protocol::payload::PayloadShape;
use usage_protocol::update_pack::PackOffer;
use usage_protocol::{sha256_hex, usage_cab};

use super::AppState;
use super::acknowledge::acknowledge;
use super::auth::client_hierarchy;
use super::body::{count_received, within_body_timeout};
use super::error::ApiError;
use super::updates::offers_for;
use crate::store::NewUpload;

const ROUTE: &str = "/v1/sct/connect";

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route(ROUTE, post(sct_connect))
}

async fn sct_connect(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let result = connect(&state, &headers, multipart).await;
    result.map(Json).into_response()
}

async fn connect(
    state: &AppState,
    headers: &HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<ConnectAnswer, ApiError> {
    client_hierarchy(state, headers, "the service connection tool needs")?;
    let _permit = state.inflating.acquire().await.expect("never closed");
    let files = within_body_timeout(read_files(state, multipart)).await??;
    // Every cabinet is checked before any is stored, so all of them are held inflated at once:
    // each is bounded, and so is their sum (twice one payload's bound).
    let total_limit = 2 * state.config.max_decompressed_bytes;
    let mut accepted = Vec::new();
    let mut inflated = 0;
    for (name, bytes) in files {
        let cab = accept(state, name, &bytes).await?;
        inflated += cab.json.len();
        if inflated > total_limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "decompressed_too_large",
                format!(
                    "the cabinets of one request inflate past {total_limit} bytes: connect them in several requests"
                ),
            ));
        }
        accepted.push(cab);
    }
    let mut results = Vec::new();
    for cab in accepted {
        results.push(store(state, cab).await?);
    }
    Ok(ConnectAnswer { results })
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// The `cab` parts of the request, by file name; at least one, no name twice.
async fn read_files(
    state: &AppState,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
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
        let name = field
            .file_name()
            .map(str::to_string)
            .ok_or_else(|| bad("invalid_multipart", "every `cab` part needs a file name"))?;
        let bytes = field
            .bytes()
            .await
            .map_err(|e| bad("invalid_multipart", e.body_text()))?;
        count_received(state, bytes.len());
        if files.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            return Err(bad(
                "duplicate_file_name",
                format!("`{name}` is uploaded twice; cabinet names must be unique"),
            ));
        }
        files.push((name, bytes.to_vec()));
    }
    if files.is_empty() {
        return Err(bad("no_files", "the request holds no `cab` file"));
    }
    Ok(files)
}

/// A cabinet that passed every check, ready to store.
struct Accepted {
    file: String,
    key: String,
    payload: PayloadShape,
    json: Vec<u8>,
    update_packs: Vec<PackOffer>,
}

/// Reads and checks one cabinet: its payload is valid offline data of a registered hierarchy, and
/// its week was not already uploaded with different data.
async fn accept(state: &AppState, file: String, bytes: &[u8]) -> Result<Accepted, ApiError> {
    let name = &file;
    let cab =
        usage_cab::read(bytes, state.config.max_decompressed_bytes as u64).map_err(
            |e| match e {
                usage_cab::CabError::TooLarge { .. } => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "decompressed_too_large",
                    format!("`{name}`: {e}"),
                ),
                _ => bad("invalid_cab", format!("`{name}`: {e}")),
            },
        )?;
    let payload = PayloadShape::from_json(&cab.payload_json)
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
    let key = usage_protocol::connect::idempotency_key(&payload.hierarchy_id, payload.period.week);
    if let Some(existing) = state.store.by_key(&payload.hierarchy_id, &key).await
        && existing.body_sha256 != sha256_hex(&cab.payload_json)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_conflict",
            format!(
                "`{name}`: week {} of this hierarchy was already uploaded with different data (receipt {})",
                payload.period.week, existing.id
            ),
        ));
    }
    let update_packs = offers_for(state, &payload.product_version)?;
    Ok(Accepted {
        file,
        key,
        payload,
        json: cab.payload_json,
        update_packs,
    })
}

async fn store(state: &AppState, cab: Accepted) -> Result<ConnectResult, ApiError> {
    let Accepted {
        file,
        key,
        payload,
        json,
        update_packs,
    } = cab;
    let upload = NewUpload {
        idempotency_key: &key,
        hierarchy_id: &payload.hierarchy_id,
        week: payload.period.week,
        channel: "sct",
        json,
    };
    let answer = acknowledge(state, upload, |existing| {
        format!("`{file}`: conflicts with receipt {}", existing.id)
    })
    .await?;
    Ok(ConnectResult {
        file,
        hierarchy_id: payload.hierarchy_id,
        week: payload.period.week,
        receipt: answer.receipt,
        replayed: answer.replayed,
        update_packs,
    })
}
