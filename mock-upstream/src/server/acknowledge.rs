//! The one path from an accepted upload to its answer, shared by the online upload and the
//! service connection tool: store it durably, count it, and answer with its receipt.

use axum::http::StatusCode;
use usage_protocol::receipt::{Receipt, UploadAnswer};

use super::AppState;
use super::error::ApiError;
use crate::store::{NewUpload, Stored};

/// Stores `upload` and answers with its receipt: a new one, or the original for a replay of the
/// same body. An idempotency key already used for a different body is refused with a 409 whose
/// message `conflict` writes from the existing receipt, which the answer carries too.
pub(super) async fn acknowledge(
    state: &AppState,
    upload: NewUpload<'_>,
    conflict: impl FnOnce(&Receipt) -> String,
) -> Result<UploadAnswer, ApiError> {
    let channel = format!("channel=\"{}\"", upload.channel);
    let stored = state
        .store
        .put(upload)
        .await
        .map_err(ApiError::storage_failed)?;
    match stored {
        Stored::Created(receipt) => {
            state
                .metrics
                .add("upstream_uploads_stored_total", channel, 1);
            Ok(UploadAnswer {
                receipt,
                replayed: false,
            })
        }
        Stored::Replayed(receipt) => {
            state
                .metrics
                .add("upstream_uploads_replayed_total", String::new(), 1);
            Ok(UploadAnswer {
                receipt,
                replayed: true,
            })
        }
        Stored::Conflict(receipt) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_conflict",
            conflict(&receipt),
        )
        .with_receipt(receipt)),
    }
}
