//! The IIIF Image API routes: base URI redirect, info.json and image requests.

use std::time::SystemTime;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};

use super::negotiate::{etag, http_date, not_modified, prefers_json_ld};
use super::{AppState, HttpError};
use crate::iiif::grammar::{IiifPath, encode_identifier, parse_path};
use crate::iiif::info::{InfoParams, JSON_LD_MEDIA_TYPE, PROFILE_URI, info_json};
use crate::iiif::plan;
use crate::source::{self, SourceInfo};

/// Dispatches a GET or HEAD below the prefix.
pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let prefix = &state.config.server.prefix;
    // The raw, still percent-encoded path: identifiers are decoded exactly once, by the grammar.
    let raw = req.uri().path();
    let below = raw
        .strip_prefix(prefix.as_str())
        .and_then(|p| p.strip_prefix('/'))
        .ok_or(HttpError::NoRoute)?;
    let base = base_url(&req, &state);
    match parse_path(below)? {
        IiifPath::Base { identifier } => Ok(HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("{base}/{}/info.json", encode_identifier(&identifier)),
            ))
            .finish()),
        IiifPath::Info { identifier } => {
            let src = probe(&state, identifier.clone()).await?;
            let id = format!("{base}/{}", encode_identifier(&identifier));
            let json_ld = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(prefers_json_ld);
            let body = info_json(&InfoParams {
                id: &id,
                width: src.width,
                height: src.height,
                limits: state.limits,
                tile_size: state.config.image.tile_size,
                preferred_formats: &state.preferred_formats,
                min_size: state.config.image.sizes_min_edge,
            })
            .to_string();
            // The body depends on the source, the id (host) and configuration: hash the body.
            let tag = etag(&[b"info", body.as_bytes()]);
            let media_type = if json_ld {
                JSON_LD_MEDIA_TYPE
            } else {
                "application/json"
            };
            let (mut res, fresh) = cacheable(&req, &state, &tag, src.modified);
            res.insert_header((header::VARY, "Accept"));
            if fresh {
                return Ok(res.finish());
            }
            Ok(res.content_type(media_type).body(body))
        }
        IiifPath::Image {
            identifier,
            request,
        } => {
            let src = probe(&state, identifier.clone()).await?;
            let plan = plan::plan(&request, src.width, src.height, &state.limits)?;
            let canonical = plan.canonical();
            let tag = etag(&[
                b"image",
                identifier.as_bytes(),
                canonical.as_bytes(),
                &src.bytes.to_le_bytes(),
                http_date(src.modified).as_bytes(),
                format!("{:?}", state.render).as_bytes(),
            ]);
            let (mut res, fresh) = cacheable(&req, &state, &tag, src.modified);
            res.insert_header((
                header::LINK,
                format!(
                    "<{PROFILE_URI}>;rel=\"profile\", <{base}/{}/{canonical}>;rel=\"canonical\"",
                    encode_identifier(&identifier)
                ),
            ));
            if fresh {
                return Ok(res.finish());
            }
            let options = state.render;
            let bytes = web::block(move || crate::pipeline::render(&src, &plan, &options))
                .await
                .map_err(|e| HttpError::Task(e.to_string()))??;
            Ok(res.content_type(plan.format.media_type()).body(bytes))
        }
    }
}

/// Resolves and probes a source off the async executor (both touch the file system).
async fn probe(state: &web::Data<AppState>, identifier: String) -> Result<SourceInfo, HttpError> {
    let state = state.clone();
    let info = web::block(move || {
        let path = source::resolve(&state.root, &identifier)?;
        source::probe(&path, state.config.source.max_pixels)
    })
    .await
    .map_err(|e| HttpError::Task(e.to_string()))??;
    Ok(info)
}

/// The public URL of the prefix: configured, or from how this request reached us. Only the
/// `Host` header is used, never `X-Forwarded-*`/`Forwarded`: a CDN does not key its cache on
/// those, so trusting them would let anyone plant a foreign `id` in a cached info.json. Behind
/// a proxy that changes scheme or host, set `server.base_url`.
fn base_url(req: &HttpRequest, state: &AppState) -> String {
    let configured = state.config.server.base_url.trim_end_matches('/');
    if !configured.is_empty() {
        return configured.to_string();
    }
    let host = header_str(req.headers(), header::HOST)
        .map(str::to_string)
        .unwrap_or_else(|| req.app_config().host().to_string());
    let scheme = if req.app_config().secure() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}{}", state.config.server.prefix)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A response builder with the validators and caching headers set: 200, or 304 (and `true`)
/// when the client's validators match.
fn cacheable(
    req: &HttpRequest,
    state: &AppState,
    tag: &str,
    modified: SystemTime,
) -> (actix_web::HttpResponseBuilder, bool) {
    let fresh = not_modified(
        header_str(req.headers(), header::IF_NONE_MATCH),
        header_str(req.headers(), header::IF_MODIFIED_SINCE),
        tag,
        modified,
    );
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, tag))
        .insert_header((header::LAST_MODIFIED, http_date(modified)))
        .insert_header((
            header::CACHE_CONTROL,
            state.config.server.cache_control.as_str(),
        ));
    (res, fresh)
}
