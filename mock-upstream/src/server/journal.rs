//! Every answer into the request journal, the request count and the latency histogram, whatever
//! route gave it (a 404 and a 401 too: a test author asks what the client really sent) — but
//! the journal's own reads.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use crate::journal::JournalEntry;

pub(super) async fn record(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    // A path no route matched is `unmatched`: a stranger's paths must not grow the metrics'
    // label set without bound (the journal keeps the path itself).
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    // Reading the journal is not a request under test: a verification must not count itself,
    // and a reset leaves the journal empty, not holding the reset.
    if route == "/admin/requests" || route == "/admin/reset" {
        return response;
    }
    // Both metrics are counted here, with one label set: the route's template.
    state.metrics.add(
        "upstream_requests_total",
        format!(
            "route=\"{route}\",status=\"{}\"",
            response.status().as_u16()
        ),
        1,
    );
    state.metrics.observe_latency(&route, elapsed.as_secs_f64());
    state.journal.record(JournalEntry {
        at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        method,
        route,
        path,
        status: response.status().as_u16(),
        latency_ms: elapsed.as_secs_f64() * 1e3,
    });
    response
}
