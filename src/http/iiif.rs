//! The IIIF Image API routes: base URI redirect, info.json and image requests.

use std::time::SystemTime;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};

use std::sync::Arc;

use actix_web::HttpMessage;
use bytes::Bytes;

use super::negotiate::{etag, http_date, not_modified, prefers_json_ld};
use super::{AppState, HttpError, RouteName, blocking, personalized};
use crate::cache::CacheKey;
use crate::iiif::grammar::{IiifPath, encode_identifier, parse_path};
use crate::iiif::info::{InfoParams, JSON_LD_MEDIA_TYPE, PROFILE_URI, info_json};
use crate::iiif::{Format, ImageRequest, Plan, plan};
use crate::pipeline::Rendered;
use crate::pipeline::admission::estimated_bytes;
use crate::source::{SourceError, SourceInfo};
use crate::store::Asset;
use crate::template::request::TemplateId;

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
    let parsed = parse_path(below);
    let route = match &parsed {
        Ok(IiifPath::Base { .. }) => "base",
        Ok(IiifPath::Info { .. }) => "info",
        _ => "image",
    };
    req.extensions_mut().insert(RouteName(route));
    match parsed? {
        IiifPath::Base { identifier } => Ok(HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("{base}/{}/info.json", encode_identifier(&identifier)),
            ))
            .finish()),
        IiifPath::Info { identifier } => match TemplateId::parse(&identifier) {
            Some(id) => {
                personalized::info(
                    &req,
                    &state,
                    &base,
                    &identifier,
                    id.map_err(SourceError::BadIdentifier)?,
                )
                .await
            }
            None => info(&req, &state, &base, identifier).await,
        },
        IiifPath::Image {
            identifier,
            request,
        } => {
            if let Some(id) = TemplateId::parse(&identifier) {
                let id = id.map_err(SourceError::BadIdentifier)?;
                return personalized::image(&req, &state, &base, &identifier, id, request).await;
            }
            // One trip to the blocking pool for the whole hit path: catalogue, plan, cache.
            let st = state.clone();
            let validators = Validators::of(&req);
            let id = identifier.clone();
            let found = blocking(move || lookup(&st, &id, &request, validators)).await?;
            let fresh = found.fresh;
            let mut res = cacheable(
                &found.key.etag(),
                found.asset.source.modified,
                &state.config.server.cache_control,
                fresh,
            );
            res.insert_header(links(&base, &identifier, &found.canonical));
            if fresh {
                return Ok(res.finish());
            }
            let format = found.plan.format;
            let bytes = match found.hit {
                Some(hit) => hit,
                None => {
                    let read = found
                        .pyramid
                        .unwrap_or_else(|| Arc::new(found.asset.source.clone()));
                    let plan = found.plan;
                    let bytes = estimated_bytes(&plan);
                    render(
                        &state,
                        found.key,
                        bytes,
                        true,
                        || Ok(()),
                        move |st| Ok(crate::pipeline::render(&read, &plan, &st.render)?),
                    )
                    .await?
                }
            };
            Ok(res.content_type(format.media_type()).body(bytes))
        }
    }
}

/// What the hit path found for an image request.
struct Found {
    asset: Arc<Asset>,
    /// The pyramid derivative to read instead of the source, when it has one.
    pyramid: Option<Arc<SourceInfo>>,
    plan: Plan,
    canonical: String,
    key: CacheKey,
    /// The client's validators match: answer 304.
    fresh: bool,
    /// The derivative from the disk cache, when there and not `fresh`.
    hit: Option<Bytes>,
}

/// Catalogue lookup, planning, conditional check and cache read. Blocking.
fn lookup(
    state: &AppState,
    identifier: &str,
    request: &ImageRequest,
    validators: Validators,
) -> Result<Found, HttpError> {
    let asset = state.sources.asset(identifier)?;
    let src = &asset.source;
    let pyramid = state.pyramids.as_ref().and_then(|p| p.for_asset(&asset));
    let read = pyramid.as_deref().unwrap_or(src);
    let plan = plan::plan(request, src.width, src.height, &state.limits)?
        .with_resolution(&read.resolutions(), read.is_tiled());
    let canonical = plan.canonical();
    // Renders from the pyramid differ slightly from renders of the source: other bytes, so
    // another key (and ETag).
    let from: &[u8] = if pyramid.is_some() {
        b"pyramid"
    } else {
        b"source"
    };
    let key = CacheKey::new(
        &asset.content_hash,
        &[
            canonical.as_bytes(),
            state.render_fingerprint.as_bytes(),
            from,
        ],
        plan.format.extension(),
    );
    let (fresh, hit) = validators.check(state, &key, src.modified);
    Ok(Found {
        asset,
        pyramid,
        plan,
        canonical,
        key,
        fresh,
        hit,
    })
}

/// A request's conditional validators, owned so they can go to the blocking pool.
pub(super) struct Validators {
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
}

impl Validators {
    pub(super) fn of(req: &HttpRequest) -> Validators {
        Validators {
            if_none_match: header_str(req.headers(), header::IF_NONE_MATCH).map(str::to_string),
            if_modified_since: header_str(req.headers(), header::IF_MODIFIED_SINCE)
                .map(str::to_string),
        }
    }

    /// Whether the client's copy of `key`'s bytes (last changed at `modified`) is current
    /// (answer 304), and else the derivative from the disk cache, if there. Blocking.
    pub(super) fn check(
        &self,
        state: &AppState,
        key: &CacheKey,
        modified: SystemTime,
    ) -> (bool, Option<Bytes>) {
        let fresh = not_modified(
            self.if_none_match.as_deref(),
            self.if_modified_since.as_deref(),
            &key.etag(),
            modified,
        );
        let hit = match &state.cache {
            Some(cache) if !fresh => cache.get(key),
            _ => None,
        };
        (fresh, hit)
    }
}

async fn info(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    base: &str,
    identifier: String,
) -> Result<HttpResponse, HttpError> {
    let asset = asset(state, identifier.clone()).await?;
    let id = format!("{base}/{}", encode_identifier(&identifier));
    let own_preferred: Option<Vec<Format>> = asset
        .properties
        .preferred_formats
        .as_ref()
        .map(|fs| fs.iter().filter_map(|f| f.parse().ok()).collect());
    let tile = state.config.image.tile_size;
    let levels = asset.source.level_sizes();
    let mut doc = info_json(&InfoParams {
        id: &id,
        width: asset.source.width,
        height: asset.source.height,
        limits: state.limits,
        tile: asset
            .source
            .levels
            .first()
            .map_or((tile, tile), |l| (l.tile_width, l.tile_height)),
        levels: &levels,
        preferred_formats: own_preferred.as_deref().unwrap_or(&state.preferred_formats),
        min_size: state.config.image.sizes_min_edge,
    });
    let props = &asset.properties;
    let obj = doc.as_object_mut().expect("info.json is an object");
    if let Some(r) = &props.rights {
        obj.insert("rights".into(), r.clone().into());
    }
    for (name, value) in [
        ("partOf", &props.part_of),
        ("seeAlso", &props.see_also),
        ("service", &props.service),
    ] {
        if let Some(v) = value {
            obj.insert(name.into(), v.clone().into());
        }
    }
    Ok(info_response(
        req,
        &doc,
        asset.source.modified,
        &state.config.server.cache_control,
    ))
}

/// An info.json response: JSON or JSON-LD as the client prefers, with validators.
pub(super) fn info_response(
    req: &HttpRequest,
    doc: &serde_json::Value,
    modified: SystemTime,
    cache_control: &str,
) -> HttpResponse {
    let body = doc.to_string();
    // The body depends on the source, the id (host) and configuration: hash the body.
    let tag = etag(&[b"info", body.as_bytes()]);
    let json_ld = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(prefers_json_ld);
    let media_type = if json_ld {
        JSON_LD_MEDIA_TYPE
    } else {
        "application/json"
    };
    let fresh = not_modified(
        header_str(req.headers(), header::IF_NONE_MATCH),
        header_str(req.headers(), header::IF_MODIFIED_SINCE),
        &tag,
        modified,
    );
    let mut res = cacheable(&tag, modified, cache_control, fresh);
    res.insert_header((header::VARY, "Accept"));
    if fresh {
        return res.finish();
    }
    res.content_type(media_type).body(body)
}

/// The profile and canonical links of an image response.
pub(super) fn links(base: &str, identifier: &str, canonical: &str) -> (header::HeaderName, String) {
    (
        header::LINK,
        format!(
            "<{PROFILE_URI}>;rel=\"profile\", <{base}/{}/{canonical}>;rel=\"canonical\"",
            encode_identifier(identifier),
        ),
    )
}

/// The current catalogue entry of an identifier, off the async executor (it may stat, probe
/// and hash files and write SQLite).
async fn asset(state: &web::Data<AppState>, identifier: String) -> Result<Arc<Asset>, HttpError> {
    let state = state.clone();
    blocking(move || state.sources.asset(&identifier)).await
}

/// Renders a derivative that was not in the cache — once, however many identical requests
/// arrive together — and stores it when `store`. `gate` runs first, once per render (not per
/// waiting request); `work` runs on a render thread, admitted for `bytes` of pixel memory.
pub(super) async fn render(
    state: &web::Data<AppState>,
    key: CacheKey,
    bytes: u64,
    store: bool,
    gate: impl FnOnce() -> Result<(), HttpError>,
    work: impl FnOnce(&AppState) -> Result<Rendered, HttpError> + Send + 'static,
) -> Result<Bytes, HttpError> {
    let st = state.clone();
    let (result, joined) = state
        .coalescer
        .run(key.clone(), || async move {
            gate().map_err(Arc::new)?;
            let m = &st.metrics;
            let worker = st.clone();
            let _admitted = st.admission.admit(bytes).await.map_err(|e| {
                m.overloaded.inc();
                Arc::new(HttpError::from(e))
            })?;
            m.renders_in_flight.inc();
            let cache = worker.cache.clone().filter(|_| store);
            let rendered = st
                .pool
                .run(move || {
                    // A render that finished between our cache lookup and now left its result.
                    if let Some(hit) = cache.as_ref().and_then(|c| c.get_again(&key)) {
                        return Ok::<_, HttpError>(Err(hit));
                    }
                    let r = work(&worker)?;
                    if let Some(cache) = &cache
                        && let Err(e) = cache.put(&key, &r.bytes)
                    {
                        // Serving the image matters more than keeping it: log and go on.
                        tracing::warn!(error = %e, "could not write cache entry");
                    }
                    Ok(Ok(r))
                })
                .await
                .map_err(|e| HttpError::Task(e.to_string()))
                .and_then(|r| r);
            m.renders_in_flight.dec();
            match rendered.map_err(Arc::new)? {
                Err(hit) => Ok(hit),
                Ok(r) => {
                    m.renders.inc();
                    m.decode_seconds.observe(r.decode_time.as_secs_f64());
                    m.render_seconds.observe(r.total_time.as_secs_f64());
                    Ok(Bytes::from(r.bytes))
                }
            }
        })
        .await;
    if joined {
        state.metrics.coalesced_waits.inc();
    }
    result.map_err(HttpError::Shared)
}

/// The public URL of the prefix: configured, or from how this request reached us. Only the
/// `Host` header is used, never `X-Forwarded-*`/`Forwarded`: a CDN does not key its cache on
/// those, so trusting them would let anyone plant a foreign `id` in a cached info.json. Behind
/// a proxy that changes scheme or host, set `server.base_url`.
pub(super) fn base_url(req: &HttpRequest, state: &AppState) -> String {
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

/// A response builder with the validators and caching headers set: 304 when the client's
/// validators matched (`fresh`), else 200.
pub(super) fn cacheable(
    tag: &str,
    modified: SystemTime,
    cache_control: &str,
    fresh: bool,
) -> actix_web::HttpResponseBuilder {
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, tag))
        .insert_header((header::LAST_MODIFIED, http_date(modified)))
        .insert_header((header::CACHE_CONTROL, cache_control));
    res
}
