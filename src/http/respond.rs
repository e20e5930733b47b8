//! Building responses: validators and caching headers, IIIF links, info.json negotiation, the
//! public base URL.

use std::time::SystemTime;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use super::negotiate::{http_date, prefers_json_ld};
use super::state::AppState;
use crate::iiif::grammar::encode_identifier;
use crate::iiif::info::{JSON_LD_MEDIA_TYPE, PROFILE_URI};
use crate::render::Validators;
use crate::render::validators::etag;

/// A header's value as text, when it is text.
pub fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request's conditional validators.
pub fn validators(req: &HttpRequest) -> Validators {
    let owned = |name| header_str(req.headers(), name).map(str::to_string);
    Validators {
        if_none_match: owned(header::IF_NONE_MATCH),
        if_modified_since: owned(header::IF_MODIFIED_SINCE),
    }
}

/// A response builder with the validators and caching headers set: 304 when the client's
/// validators matched (`fresh`), else 200.
pub fn cacheable(
    tag: &str,
    modified: SystemTime,
    cache_control: &str,
    fresh: bool,
) -> HttpResponseBuilder {
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

/// An info.json response: JSON or JSON-LD as the client prefers, with validators.
pub fn info_response(
    req: &HttpRequest,
    doc: &serde_json::Value,
    modified: SystemTime,
    cache_control: &str,
) -> HttpResponse {
    let body = doc.to_string();
    // The body depends on the source, the id (host) and configuration: hash the body.
    let tag = etag(&[b"info", body.as_bytes()]);
    let json_ld = header_str(req.headers(), header::ACCEPT).is_some_and(prefers_json_ld);
    let media_type = if json_ld {
        JSON_LD_MEDIA_TYPE
    } else {
        "application/json"
    };
    let fresh = validators(req).not_modified(&tag, modified);
    let mut res = cacheable(&tag, modified, cache_control, fresh);
    res.insert_header((header::VARY, "Accept"));
    if fresh {
        return res.finish();
    }
    res.content_type(media_type).body(body)
}

/// The profile and canonical links of an image response.
pub fn links(base: &str, identifier: &str, canonical: &str) -> (header::HeaderName, String) {
    (
        header::LINK,
        format!(
            "<{PROFILE_URI}>;rel=\"profile\", <{base}/{}/{canonical}>;rel=\"canonical\"",
            encode_identifier(identifier),
        ),
    )
}

/// The public URL of the prefix: configured, or from how this request reached us. Only the
/// `Host` header is used, never `X-Forwarded-*`/`Forwarded`: a CDN does not key its cache on
/// those, so trusting them would let anyone plant a foreign `id` in a cached info.json. Behind
/// a proxy that changes scheme or host, set `server.base_url`.
pub fn base_url(req: &HttpRequest, state: &AppState) -> String {
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

/// A JSON answer that must not be stored anywhere (admin and auth answers).
pub fn no_store(mut res: actix_web::HttpResponseBuilder, body: serde_json::Value) -> HttpResponse {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}
