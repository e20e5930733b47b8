//! The admin API, behind `Authorization: Bearer <admin.token>`: cache statistics and purges.

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{AppState, HttpError, RouteName, blocking};
use crate::iiif::grammar::decode_identifier;

/// Registers the admin routes: the cache's here, the templates' from `template_admin`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .route("/cache", web::get().to(stats))
            .route("/cache", web::delete().to(purge_all))
            .route("/cache/{identifier}", web::delete().to(purge_identifier))
            .configure(super::template_admin::routes),
    );
}

/// Equal-length comparison that does not stop at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 401 without credentials, 403 with wrong ones or when no token is configured.
pub(super) fn authorize(req: &HttpRequest, state: &AppState) -> Result<(), HttpError> {
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
    if !same(given.trim().as_bytes(), token) {
        return Err(HttpError::Forbidden("wrong token"));
    }
    Ok(())
}

fn cache_of(state: &AppState) -> Result<&std::sync::Arc<crate::cache::DiskCache>, HttpError> {
    state.cache.as_ref().ok_or(HttpError::Forbidden(
        "the derivative cache is disabled (cache.enabled)",
    ))
}

async fn stats(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let cache = cache_of(&state)?;
    let s = cache.stats();
    let c = &cache.counters;
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
    let cache = cache_of(&state)?.clone();
    let purged = blocking(move || cache.purge_all().map_err(HttpError::Cache)).await?;
    tracing::info!(purged, "admin purged the whole cache");
    Ok(HttpResponse::Ok().json(json!({ "purged": purged })))
}

/// Purges every derivative of one identifier's source (by content hash: the catalogued one
/// and, if the file changed since, the current one), or every render of a template
/// (`tpl~{name}~…`).
async fn purge_identifier(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let cache = cache_of(&state)?.clone();
    // Decoded exactly once, as IIIF identifiers are.
    let raw = req.uri().path().rsplit('/').next().unwrap_or_default();
    let identifier = decode_identifier(raw)?;
    let st = state.clone();
    let purged = blocking(move || -> Result<u64, HttpError> {
        // A personalized image: every render of every version of the template.
        if let Some(id) = crate::template::request::TemplateId::parse(&identifier) {
            let id = id.map_err(crate::source::SourceError::BadIdentifier)?;
            let content = crate::http::personalized::cache_content(&id.name);
            return cache.purge_content(&content).map_err(HttpError::Cache);
        }
        let mut hashes = Vec::new();
        if let Some(a) = st
            .sources
            .catalogue()
            .get(&identifier)
            .map_err(crate::source::SourceError::from)?
        {
            hashes.push(a.content_hash.clone());
        }
        if let Ok(a) = st.sources.asset(&identifier) {
            hashes.push(a.content_hash.clone());
        }
        if hashes.is_empty() {
            return Err(crate::source::SourceError::NotFound.into());
        }
        hashes.dedup();
        let mut n = 0;
        for h in hashes {
            n += cache.purge_content(&h).map_err(HttpError::Cache)?;
        }
        Ok(n)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "purged": purged })))
}
