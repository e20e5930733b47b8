//! The IIIF Image API routes: base URI redirect, info.json and image requests — for source
//! images and personalized images alike. Parsing is [`crate::iiif`]'s, everything after it
//! the render service's; this translates HTTP in and out.

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use super::HttpError;
use super::personalized;
use super::respond::{base_url, cacheable, info_response, links, validators};
use super::state::{AppState, RouteName, blocking};
use crate::iiif::grammar::{IiifPath, encode_identifier, parse_path};
use crate::iiif::{ImageRequest, ParseError};
use crate::render::{RenderError, Target};
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
        IiifPath::Info { identifier } => info(&req, &state, &base, identifier).await,
        IiifPath::Image {
            identifier,
            request,
        } => image(&req, &state, &base, identifier, request).await,
    }
}

/// The template an identifier names, when it names one (`tpl~…`), checked for this request.
async fn template(
    req: &HttpRequest,
    state: &AppState,
    identifier: &str,
) -> Result<Option<TemplateId>, HttpError> {
    let Some(id) = TemplateId::parse(identifier) else {
        return Ok(None);
    };
    let id = id.map_err(ParseError::Identifier)?;
    personalized::admit(req, state, &id).await?;
    Ok(Some(id))
}

async fn info(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    base: &str,
    identifier: String,
) -> Result<HttpResponse, HttpError> {
    let id = format!("{base}/{}", encode_identifier(&identifier));
    let st = state.clone();
    let (doc, modified, cache_control) = match template(req, state, &identifier).await? {
        Some(t) => {
            let cache_control = personalized::cache_control(state, &t);
            let (doc, modified) = blocking(move || st.render.template_info(&t, &id)).await?;
            (doc, modified, cache_control)
        }
        None => {
            let (doc, modified) = blocking(move || st.render.image_info(&identifier, &id)).await?;
            (doc, modified, state.config.server.cache_control.as_str())
        }
    };
    Ok(info_response(req, &doc, modified, cache_control))
}

async fn image(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    base: &str,
    identifier: String,
    request: ImageRequest,
) -> Result<HttpResponse, HttpError> {
    let validators = validators(req);
    let (target, mut cache_control) = match template(req, state, &identifier).await? {
        Some(id) => {
            let cache_control = std::borrow::Cow::Borrowed(personalized::cache_control(state, &id));
            let target = Target::Template {
                id,
                path: req.uri().path().to_string(),
                query: personalized::query_pairs(req.query_string()),
                overflow: false,
            };
            (target, cache_control)
        }
        None => (
            Target::Image(identifier.clone()),
            std::borrow::Cow::Borrowed(state.config.server.cache_control.as_str()),
        ),
    };
    let st = state.clone();
    let (prepared, target) = web::block(move || {
        let prepared = st.render.prepare(&target, &request, &validators);
        (prepared, (target, request, validators))
    })
    .await
    .map_err(HttpError::Task)?;
    let mut prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            // A web template's refused signature is an answer too: counted, then 403.
            if let (Target::Template { id, .. }, RenderError::Refused(why)) = (&target.0, &e) {
                personalized::count_refusal(state, id, *why);
            }
            return Err(e.into());
        }
    };
    let mut overflow = false;
    let mut bytes = None;
    if !prepared.fresh {
        let email = prepared.email;
        match state.render.bytes(&mut prepared).await {
            Ok(b) => bytes = Some(b),
            // An email recipient never sees an error: over a limit, the all-defaults image,
            // kept briefly by proxies.
            Err(e) if email && e.is_over_limit() => {
                let (mut target, request, validators) = target;
                if let Target::Template { overflow, .. } = &mut target {
                    *overflow = true;
                }
                let st = state.clone();
                prepared =
                    blocking(move || st.render.prepare(&target, &request, &validators)).await?;
                overflow = true;
                cache_control = state
                    .config
                    .templates
                    .overflow_cache_control
                    .as_str()
                    .into();
                // A proxy revalidating the defaults it holds gets its 304.
                if !prepared.fresh {
                    bytes = Some(state.render.bytes(&mut prepared).await?);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    personalized::count(
        req,
        state,
        &prepared,
        bytes.as_ref().map(|b| b.len()),
        overflow,
    );
    if !overflow && !prepared.draft {
        cache_control = personalized::keep(state, prepared.keep, cache_control);
    }
    let mut res = cacheable(
        &prepared.key.etag(),
        prepared.modified,
        &cache_control,
        prepared.fresh,
    );
    res.insert_header(links(base, &identifier, &prepared.canonical));
    personalized::headers(&mut res, &prepared);
    match bytes {
        None => Ok(res.finish()),
        Some(bytes) => Ok(res.content_type(prepared.format.media_type()).body(bytes)),
    }
}
