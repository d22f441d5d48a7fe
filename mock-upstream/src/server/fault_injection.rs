//! Applying the faults programmed through the admin API to a client request.

use axum::http::StatusCode;

use super::AppState;
use super::error::ApiError;

/// Applies the programmed faults to a client request; `Err` is the response the fault dictates.
pub(super) async fn inject_faults(state: &AppState, route: &'static str) -> Result<(), ApiError> {
    let injection = state.faults.next_request();
    if let Some(delay) = injection.delay {
        state.metrics.add(
            "upstream_faults_injected_total",
            "kind=\"latency\"".into(),
            1,
        );
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = injection.status {
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
        return Err(ApiError::new(
            status,
            "injected_fault",
            format!("fault injected on {route}"),
        )
        .with_retry_after(injection.retry_after_s));
    }
    Ok(())
}
