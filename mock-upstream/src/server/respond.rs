//! Turning a client endpoint's result into its response, counted by route and status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

pub(super) fn respond(
    state: &AppState,
    route: &'static str,
    result: Result<impl IntoResponse, ApiError>,
) -> Response {
    let response = result.into_response();
    count(state, route, response.status());
    response
}

pub(super) fn count(state: &AppState, route: &str, status: StatusCode) {
    state.metrics.add(
        "upstream_requests_total",
        format!("route=\"{route}\",status=\"{}\"", status.as_u16()),
        1,
    );
}
