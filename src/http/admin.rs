//! The cache admin API, behind the admin token: statistics and purges.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::HttpError;
use super::auth::authorize;
use super::state::{AppState, blocking};
use crate::cache::DerivativeCache;
use crate::iiif::grammar::decode_identifier;
use crate::render::{RenderError, purge};

/// Registers the cache routes, relative to the `/admin` scope.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/cache", web::get().to(stats))
        .route("/cache", web::delete().to(purge_all))
        .route("/cache/{identifier}", web::delete().to(purge_identifier));
}

fn cache_of(state: &AppState) -> Result<Arc<dyn DerivativeCache>, HttpError> {
    state.render.cache.clone().ok_or(HttpError::Forbidden(
        "the derivative cache is disabled (cache.enabled)",
    ))
}

async fn stats(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let cache = cache_of(&state)?;
    let s = cache.stats();
    let c = cache.counters();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "entries": s.entries,
            "bytes": s.bytes,
            "hits": c.hits.get(),
            "misses": c.misses.get(),
            "evictions": c.evictions.get(),
            "writes": c.writes.get(),
        })))
}

async fn purge_all(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let cache = cache_of(&state)?;
    let purged = blocking(move || cache.purge_all().map_err(RenderError::from)).await?;
    tracing::info!(purged, "admin purged the whole cache");
    Ok(HttpResponse::Ok().json(json!({ "purged": purged })))
}

/// Purges every derivative of one identifier (see [`purge`]).
async fn purge_identifier(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let cache = cache_of(&state)?;
    // Decoded exactly once, as IIIF identifiers are.
    let raw = req.uri().path().rsplit('/').next().unwrap_or_default();
    let identifier = decode_identifier(raw)?;
    let st = state.clone();
    let purged = blocking(move || purge(cache.as_ref(), &st.render.sources, &identifier)).await?;
    Ok(HttpResponse::Ok().json(json!({ "purged": purged })))
}
