//! The HTTP service, one module per API area:
//!
//! - `usage`: the online upload of a week's usage payload;
//! - `sct`: the service connection tool's connect, many cabinets in one request;
//! - `updates`: the update check and the update pack download;
//! - `admin`: hierarchies and tokens, stored uploads, faults, reset;
//! - `metrics`: the counters endpoint;
//! - `openapi`: the API's description, served at `/openapi.json`.
//!
//! What the areas share: `body` (body limits, the gunzip bound), `error` (the JSON error),
//! `auth` (who is calling), `fault_injection`, `acknowledge` (storing an upload and answering
//! with its receipt) and `respond` (counting answers). `listener` resets connections on demand;
//! `config` and `run` start a server.

mod acknowledge;
mod admin;
mod auth;
mod body;
mod config;
mod error;
mod fault_injection;
mod journal;
mod listener;
mod metrics;
mod openapi;
mod run;
mod sct;
mod updates;
mod usage;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;

pub use body::gunzip_bounded;
pub use config::{Config, ServeArgs};
pub use error::ApiError;
pub use openapi::ApiDoc;
pub use run::{
    HEADER_READ_TIMEOUT, RunningServer, SHUTDOWN_DEADLINE, ServerError, serve_until_signal, start,
};

/// What every handler can reach.
struct AppState {
    store: crate::store::Store,
    faults: Arc<crate::faults::Faults>,
    tokens: crate::auth::Tokens,
    metrics: crate::metrics::Metrics,
    journal: crate::journal::Journal,
    catalog: crate::update_packs::Catalog,
    config: Config,
    /// Permits to read, inflate and parse an upload: peak memory is this many times one
    /// request's bound (compressed body plus decompressed payload), however many arrive.
    inflating: tokio::sync::Semaphore,
    /// KiB of parsed uploads waiting for the store's next flush: they leave the inflating
    /// permits to others (so many small uploads share one flush), within this budget.
    awaiting_store: tokio::sync::Semaphore,
}

/// The KiB of parsed uploads that may wait for the store at once (see `awaiting_store`).
const AWAITING_STORE_KIB: u32 = 32 * 1024;

fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.max_body_bytes;
    let client_routes = Router::new()
        .merge(usage::routes())
        .merge(sct::routes())
        .merge(updates::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            fault_injection::apply_faults,
        ));
    Router::new()
        .merge(client_routes)
        .merge(admin::routes(state.clone()))
        .merge(metrics::routes())
        .merge(openapi::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            journal::record,
        ))
        .with_state(state)
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
}
