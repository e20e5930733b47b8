//! What is particular to personalized images over HTTP (`tpl~{name}~{version}`,
//! `tpl~{name}~{version}~{token}`, `tpl~{name}~draft`): the URL length cap, drafts for
//! admins only and never cached, the query as field values, and the headers that say which
//! fields fell back or why a signature was refused.

use actix_web::{HttpRequest, HttpResponseBuilder};

use super::HttpError;
use super::access::caller;
use super::state::AppState;
use std::borrow::Cow;

use crate::render::{Keep, Prepared};
use crate::team::{Capability, split_qualified};
use crate::template::request::{Pin, TemplateId};
use crate::usage::{Event, classify};

/// The checks every personalized request passes first: URL length; for drafts, a principal
/// (key, token or session) that may preview in the template's project.
pub async fn admit(req: &HttpRequest, state: &AppState, id: &TemplateId) -> Result<(), HttpError> {
    let max = state.render.templates.max_url_bytes;
    let length = req.uri().path().len() + req.uri().query().map_or(0, |q| q.len() + 1);
    if length > max {
        return Err(HttpError::UriTooLong(max));
    }
    if id.pin == Pin::Draft {
        caller(req, state)
            .await?
            .require(split_qualified(&id.name).0, Capability::Preview)?;
    }
    Ok(())
}

/// `Cache-Control` of a template's responses: drafts are never stored.
pub fn cache_control<'a>(state: &'a AppState, id: &TemplateId) -> &'a str {
    match id.pin {
        Pin::Draft => "no-store",
        Pin::Version(_) => &state.render.templates.cache_control,
    }
}

/// `Cache-Control` of an answer by how long it may be kept: answers showing only defaults
/// (fields refused or all fallen back) and time-dependent ones are kept briefly.
pub fn keep<'a>(state: &'a AppState, keep: Keep, configured: Cow<'a, str>) -> Cow<'a, str> {
    match keep {
        Keep::Configured => configured,
        Keep::Generic => state
            .config
            .templates
            .fallback_cache_control
            .as_str()
            .into(),
        Keep::Live(seconds) => format!("public, max-age={seconds}").into(),
    }
}

/// The query as decoded name/value pairs (`+` is a space), in order.
pub fn query_pairs(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

/// `X-Tessera-Refused`, `X-Tessera-Fallbacks` (field names and reasons, never values) and
/// `X-Tessera-Variant` (the variant shown, `split/variant` when a split chose).
pub fn headers(res: &mut HttpResponseBuilder, prepared: &Prepared) {
    if let Some(variant) = &prepared.variant {
        res.insert_header(("X-Tessera-Variant", variant.as_str()));
    }
    if let Some(why) = prepared.refused {
        res.insert_header(("X-Tessera-Refused", why.code()));
    }
    if !prepared.fallbacks.is_empty() {
        let list: Vec<String> = prepared
            .fallbacks
            .iter()
            .map(|(f, why)| format!("{f}={why}"))
            .collect();
        res.insert_header(("X-Tessera-Fallbacks", list.join(", ")));
    }
}

/// Counts a refused signature or token of a web template (answered 403, no image).
pub fn count_refusal(state: &AppState, id: &TemplateId, why: crate::template::signing::Refused) {
    if let Pin::Version(version) = id.pin {
        let subject = crate::usage::Subject {
            project: split_qualified(&id.name).0.to_string(),
            template: id.name.clone(),
            version,
        };
        state
            .render
            .usage
            .record(&subject, Event::Refusal { reason: why.code() });
    }
}

/// Counts one answered request of a published template version for the usage reports: a
/// load (304s and cache hits too) with the bytes sent and the email client class, and its
/// fallbacks, refusal and overflow. Names and reasons only, never values or addresses.
pub fn count(
    req: &HttpRequest,
    state: &AppState,
    prepared: &Prepared,
    sent: Option<usize>,
    overflow: bool,
) {
    let Some(subject) = &prepared.usage else {
        return;
    };
    let usage = &state.render.usage;
    let agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let bytes = if req.method() == actix_web::http::Method::HEAD {
        0
    } else {
        sent.unwrap_or(0) as u64
    };
    usage.record(
        subject,
        Event::Load {
            bytes,
            client: classify(agent),
        },
    );
    for (field, why) in &prepared.fallbacks {
        usage.record(
            subject,
            Event::Fallback {
                field,
                reason: why.as_str(),
            },
        );
    }
    if let Some(why) = prepared.refused {
        usage.record(subject, Event::Refusal { reason: why.code() });
    }
    if let Some(name) = &prepared.variant {
        usage.record(subject, Event::Variant { name });
    }
    if overflow {
        usage.record(subject, Event::Overflow);
        state.render.metrics.template_overflow.inc();
    }
}
