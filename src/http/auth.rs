//! Admin authentication: `Authorization: Bearer <admin.token>`.

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest};
use subtle::ConstantTimeEq;

use super::HttpError;
use super::state::{AppState, RouteName};

/// 401 without credentials, 403 with wrong ones or when no token is configured.
pub fn authorize(req: &HttpRequest, state: &AppState) -> Result<(), HttpError> {
    req.extensions_mut().insert(RouteName("admin"));
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(HttpError::Unauthorized)?;
    let token = state.config.admin.token.as_bytes();
    if token.is_empty() {
        return Err(HttpError::Forbidden(
            "disabled: set admin.token (TESSERA_ADMIN_TOKEN)",
        ));
    }
    // Constant time: how much of a guess matched must not show in the answer's timing.
    if !bool::from(given.trim().as_bytes().ct_eq(token)) {
        return Err(HttpError::Forbidden("wrong token"));
    }
    Ok(())
}
