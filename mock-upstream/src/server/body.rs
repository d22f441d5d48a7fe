//! Request bodies: the size limit on what arrives and the bound on what gzip inflates to.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};

use super::AppState;
use super::error::ApiError;

/// Reads a request body up to the configured limit and undoes `Content-Encoding: gzip`, bounded
/// by the decompressed limit.
pub(super) async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<u8>, ApiError> {
    let limit = state.config.max_body_bytes;
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    })?;
    count_received(state, bytes.len());
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

/// Counts request body bytes received, as they arrived (compressed).
pub(super) fn count_received(state: &AppState, bytes: usize) {
    state
        .metrics
        .add("upstream_bytes_received_total", String::new(), bytes as u64);
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
