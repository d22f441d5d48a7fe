//! `GET /v1/updates` and `GET /v1/updatepacks/{id}`: which update packs apply to a product
//! version, and their download.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use usage_protocol::sha256_hex;
use usage_protocol::update_pack::{PackOffer, UpdateCheckAnswer};

use super::AppState;
use super::auth::client_hierarchy;
use super::error::ApiError;

const CHECK_ROUTE: &str = "/v1/updates";

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(CHECK_ROUTE, get(update_check))
        .route("/v1/updatepacks/{id}", get(download_pack))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateCheck {
    version: String,
}

/// The update packs that apply to a site at `version`, oldest first.
pub(super) fn offers_for(state: &AppState, version: &str) -> Result<Vec<PackOffer>, ApiError> {
    state.catalog.applicable(version).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_version",
            format!("`{version}` is not a product version like 5.00.9128.1000"),
        )
    })
}

/// The online service connection point's daily check: which update packs apply to `version`.
async fn update_check(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<UpdateCheck>, QueryRejection>,
) -> Response {
    let result = async {
        client_hierarchy(&state, &headers, "the update check needs")?;
        let Query(check) = query.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("{e} (use ?version=5.00.9128.1000)"),
            )
        })?;
        let update_packs = offers_for(&state, &check.version)?;
        Ok(Json(UpdateCheckAnswer {
            version: check.version,
            update_packs,
        }))
    }
    .await;
    Result::<_, ApiError>::into_response(result)
}

/// A pack's bytes, with their SHA-256 in `X-Content-SHA256`.
async fn download_pack(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let result = async {
        client_hierarchy(&state, &headers, "an update pack download needs")?;
        let pack = state.catalog.get(&id).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_such_pack",
                format!("no update pack `{id}`"),
            )
        })?;
        let content = crate::update_packs::content(pack);
        let sha = sha256_hex(&content);
        Ok((
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (header::HeaderName::from_static("x-content-sha256"), sha),
            ],
            content,
        ))
    }
    .await;
    Result::<_, ApiError>::into_response(result)
}
