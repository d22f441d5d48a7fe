//! The JSON error every failed request is answered with.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use usage_protocol::receipt::Receipt;

/// An error answered as `{"error": {"code": …, "message": …}}`, and for a key already used,
/// the receipt it was first stored under (`"receipt": …`).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_s: Option<u64>,
    receipt: Option<Box<Receipt>>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
            receipt: None,
        }
    }

    /// Adds the receipt a conflicting idempotency key was first stored under: a client that
    /// sent a batch again, changed, learns that the first one arrived.
    pub(super) fn with_receipt(mut self, receipt: Receipt) -> Self {
        self.receipt = Some(Box::new(receipt));
        self
    }

    /// Adds a `Retry-After` header (in seconds) to the answer.
    pub(super) fn with_retry_after(mut self, retry_after_s: Option<u64>) -> Self {
        self.retry_after_s = retry_after_s;
        self
    }

    /// The durable state could not be read or written: a 500, logged, as nothing else reports it.
    pub(super) fn storage_failed(error: impl std::fmt::Display) -> Self {
        tracing::error!("storage failed: {error}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage_failed",
            error.to_string(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(receipt) = self.receipt {
            error["receipt"] = json!(receipt);
        }
        let body = Json(json!({ "error": error }));
        let mut response = (self.status, body).into_response();
        if let Some(secs) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
