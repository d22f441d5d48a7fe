//! Applying the faults programmed through the admin API to the client-facing routes.
//!
//! It is a layer around those routes, not a call inside each handler, so that every client route
//! suffers the same faults the same way — and only authenticated requests do: a stranger's
//! request is answered 401 by its handler and consumes nothing that was programmed for the
//! hierarchy under test.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use usage_protocol::fault::SIMULATED_LATENCY_HEADER;

use super::AppState;
use super::auth::is_client;
use super::error::ApiError;

/// Runs `request` through the programmed faults: delays it (slept, or announced in the
/// `simulated-latency-ms` header when the server runs on simulated time), or answers it with the
/// programmed status instead of handling it.
pub(super) async fn apply_faults(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if !is_client(&state, request.headers()) {
        return next.run(request).await;
    }
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_string(),
        |p| p.as_str().to_string(),
    );
    let injection = state.faults.next_request();
    if let Some(delay) = injection.delay {
        state.metrics.add(
            "upstream_faults_injected_total",
            "kind=\"latency\"".into(),
            1,
        );
        if !state.config.simulate_latency {
            tokio::time::sleep(delay).await;
        }
    }
    let mut response = match injection.status {
        Some(status) => {
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
            ApiError::new(
                status,
                "injected_fault",
                format!("fault injected on {route}"),
            )
            .with_retry_after(injection.retry_after_s)
            .into_response()
        }
        None => next.run(request).await,
    };
    if let Some(delay) = injection.delay.filter(|_| state.config.simulate_latency) {
        response.headers_mut().insert(
            SIMULATED_LATENCY_HEADER,
            HeaderValue::from(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
        );
    }
    response
}
