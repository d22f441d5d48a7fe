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
    let bytes: Bytes = within_body_timeout(axum::body::to_bytes(body, limit))
        .await?
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body exceeds {limit} bytes"),
            )
        })?;
    count_received(state, bytes.len());
    // Header values such as `GZIP` are case-insensitive.
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| "identity".to_string(), |v| v.trim().to_ascii_lowercase());
    match encoding.as_str() {
        "gzip" => gunzip_bounded(&bytes, state.config.max_decompressed_bytes),
        "identity" => Ok(bytes.to_vec()),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("Content-Encoding `{other}` is not supported (use gzip or identity)"),
        )),
    }
}

/// How long a client may take to send a request body: a half-sent request is not held open
/// for good (408 after it).
pub(super) const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs `read` (reading a request body) within [`BODY_READ_TIMEOUT`].
pub(super) async fn within_body_timeout<T>(
    read: impl std::future::Future<Output = T>,
) -> Result<T, ApiError> {
    tokio::time::timeout(BODY_READ_TIMEOUT, read)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    BODY_READ_TIMEOUT.as_secs()
                ),
            )
        })
}

/// Counts request body bytes received, as they arrived (compressed).
pub(super) fn count_received(state: &AppState, bytes: usize) {
    state
        .metrics
        .add("upstream_bytes_received_total", String::new(), bytes as u64);
}

/// Inflates at most `limit` bytes: reading one byte past the limit proves the payload is too
/// large without ever holding more than `limit + 1` bytes.
/// Several gzip members one after another are one stream (RFC 1952; `pigz` and `cat a.gz b.gz`
/// write them), bounded as a whole. Bytes after the last member that are not one are refused:
/// they are not part of the payload, and accepting them would let a body carry anything
/// unchecked.
pub fn gunzip_bounded(bytes: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_gzip", message);
    let mut decoder = flate2::bufread::MultiGzDecoder::new(bytes);
    (&mut decoder)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| bad(format!("body is not valid gzip: {e}")))?;
    if out.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "decompressed_too_large",
            format!("decompressed payload exceeds {limit} bytes"),
        ));
    }
    let trailing = decoder.into_inner().len();
    if trailing > 0 {
        return Err(bad(format!(
            "body is not valid gzip: {trailing} bytes follow the end of the gzip stream"
        )));
    }
    Ok(out)
}
