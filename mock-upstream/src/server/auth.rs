//! Who is calling: the bearer token of a request, checked against the admin token or the tokens
//! issued to hierarchies.

use axum::http::{HeaderMap, StatusCode, header};

use super::AppState;
use super::error::ApiError;

/// The token of an `Authorization: Bearer TOKEN` header; the scheme's name in any case
/// (RFC 7235: `bearer` is `Bearer`).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    // `1*SP` between the scheme and its credentials (RFC 7235).
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim_start_matches(' '))
}

pub(super) fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.tokens.is_admin(bearer(headers)) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the admin API needs `Authorization: Bearer <admin token>`",
        ))
    }
}

/// True when the request carries a hierarchy's token.
pub(super) fn is_client(state: &AppState, headers: &HeaderMap) -> bool {
    state.tokens.hierarchy_of(bearer(headers)).is_some()
}

/// The hierarchy whose token the request carries. `who_needs` starts the refusal's message, e.g.
/// "the update check needs".
pub(super) fn client_hierarchy(
    state: &AppState,
    headers: &HeaderMap,
    who_needs: &str,
) -> Result<String, ApiError> {
    state.tokens.hierarchy_of(bearer(headers)).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("{who_needs} `Authorization: Bearer <hierarchy token>`"),
        )
    })
}
