//! The cache admin API: statistics and purges. The whole cache and source images belong to
//! the `default` project's operators; a template's renders to its project's.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::HttpError;
use super::access::{caller, perform};
use super::state::AppState;
use crate::cache::DerivativeCache;
use crate::iiif::grammar::decode_identifier;
use crate::render::{RenderError, purge};
use crate::team::{Capability, DEFAULT_PROJECT, split_qualified};
use crate::template::request::TemplateId;

fn cache_of(state: &AppState) -> Result<Arc<dyn DerivativeCache>, HttpError> {
    state.render.cache.clone().ok_or(HttpError::Forbidden(
        "the derivative cache is disabled (cache.enabled)",
    ))
}

pub(super) async fn stats(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    caller(&req, &state)
        .await?
        .require(DEFAULT_PROJECT, Capability::ReadUsage)?;
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

pub(super) async fn purge_all(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let cache = cache_of(&state)?;
    let purged = perform(
        &state,
        &c,
        "cache.purge_all",
        DEFAULT_PROJECT,
        "*",
        Capability::Purge,
        move |_| {
            let n = cache.purge_all().map_err(RenderError::from)?;
            Ok((n, json!({ "purged": n })))
        },
    )
    .await?;
    tracing::info!(purged, "admin purged the whole cache");
    Ok(HttpResponse::Ok().json(json!({ "purged": purged })))
}

/// Purges every derivative of one identifier (see [`purge`]).
pub(super) async fn purge_identifier(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let cache = cache_of(&state)?;
    // Decoded exactly once, as IIIF identifiers are.
    let raw = req.uri().path().rsplit('/').next().unwrap_or_default();
    let identifier = decode_identifier(raw)?;
    // A template's renders belong to its project; source images to the default project.
    let project = match TemplateId::parse(&identifier) {
        Some(Ok(id)) => split_qualified(&id.name).0.to_string(),
        _ => DEFAULT_PROJECT.to_string(),
    };
    let st = state.clone();
    let target = identifier.clone();
    let purged = perform(
        &state,
        &c,
        "cache.purge",
        &project,
        &target,
        Capability::Purge,
        move |_| {
            let n = purge(cache.as_ref(), &st.render.sources, &identifier)?;
            Ok((n, json!({ "purged": n })))
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "purged": purged })))
}
