//! The template admin API, behind the admin token: drafts, publishing, versions, the audit
//! trail, and making URLs — signed or sealed (one recipient, or a CSV of them).
//!
//! | method | path | does |
//! |---|---|---|
//! | GET | `/admin/templates` | every template: draft?, versions |
//! | PUT | `/admin/templates/{name}` | create or replace the draft (body: the template) |
//! | GET | `/admin/templates/{name}/draft` | the draft |
//! | POST | `/admin/templates/{name}/publish` | the draft becomes the next version |
//! | GET | `/admin/templates/{name}/versions` | published versions |
//! | GET | `/admin/templates/{name}/versions/{n}` | one version, with its document |
//! | GET | `/admin/templates/{name}/audit`, `/admin/audit` | who did what, when |
//! | POST | `/admin/templates/{name}/versions/{n}/sign` | a signed URL for some fields |
//! | POST | `/admin/templates/{name}/versions/{n}/seal` | a CSV of recipients → a CSV with URLs |

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::HttpError;
use super::auth::authorize;
use super::respond::base_url;
use super::state::{AppState, blocking};
use crate::clock::unix_seconds;
use crate::error::Code;
use crate::render::RenderError;
use crate::render::templates::Loaded;
use crate::store::templates::AuditEntry;
use crate::template::batch::{SealJob, seal_csv};
use crate::template::model::parse_template;
use crate::template::request::{Pin, TemplateId, valid_name};
use crate::template::signing::{Keys, Sealed, encode_component, seal, sign};

/// Registers the template admin routes, relative to the `/admin` scope.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/templates", web::get().to(list))
        .route("/audit", web::get().to(audit_all))
        .route("/templates/{name}", web::put().to(save_draft))
        .route("/templates/{name}/draft", web::get().to(draft))
        .route("/templates/{name}/publish", web::post().to(publish))
        .route("/templates/{name}/versions", web::get().to(versions))
        .route(
            "/templates/{name}/versions/{version}",
            web::get().to(version),
        )
        .route("/templates/{name}/audit", web::get().to(audit))
        .route(
            "/templates/{name}/versions/{version}/sign",
            web::post().to(sign_url),
        )
        .route(
            "/templates/{name}/versions/{version}/seal",
            web::post().to(seal_list),
        );
}

/// Checks the admin token, then returns the template name from the path, checked.
fn authorized_name(req: &HttpRequest, state: &AppState) -> Result<String, HttpError> {
    authorize(req, state)?;
    let name = req.match_info().get("name").unwrap_or_default();
    if !valid_name(name) {
        return Err(HttpError::input(
            Code::BadName,
            "template names are 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    Ok(name.to_string())
}

fn version_of(req: &HttpRequest) -> Result<u32, HttpError> {
    req.match_info()
        .get("version")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| HttpError::input(Code::BadVersion, "the version is a positive number"))
}

/// Who did it, for the audit trail: `X-Tessera-Actor`, else "admin".
fn actor(req: &HttpRequest) -> String {
    req.headers()
        .get("X-Tessera-Actor")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().chars().take(128).collect::<String>())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "admin".into())
}

fn no_store(mut res: actix_web::HttpResponseBuilder, body: Value) -> HttpResponse {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let st = state.clone();
    let body = blocking(move || -> Result<Value, HttpError> {
        let store = &st.render.templates.store;
        let mut out = Vec::new();
        for s in store.list()? {
            out.push(json!({
                "name": s.name,
                "has_draft": s.has_draft,
                "latest_version": s.latest_version,
                "versions": store.versions(&s.name)?,
            }));
        }
        Ok(json!({ "templates": out }))
    })
    .await?;
    Ok(no_store(HttpResponse::Ok(), body))
}

async fn save_draft(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let name = authorized_name(&req, &state)?;
    let who = actor(&req);
    let st = state.clone();
    let (draft, created) = blocking(move || -> Result<_, HttpError> {
        let render = &st.render;
        let template = parse_template(&body)?;
        let families = render.templates.fonts.families();
        template.check_resources(
            &families,
            |text| render.templates.coverage.covers(text),
            |id| render.sources.asset(id).is_ok(),
        )?;
        // Stored as sent (already valid), so what the designer wrote is what is audited.
        let document = std::str::from_utf8(&body)
            .map_err(|_| HttpError::input(Code::BadBody, "the template is not UTF-8"))?;
        Ok(render.templates.store.save_draft(&name, document, &who)?)
    })
    .await?;
    let res = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(no_store(
        res,
        json!({
            "name": draft.name,
            "content_hash": draft.content_hash,
            "updated_at": unix_seconds(draft.updated_at),
            "updated_by": draft.updated_by,
            "created": created,
        }),
    ))
}

/// A stored document as JSON (it was valid JSON when stored).
fn document(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

async fn draft(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    let name = authorized_name(&req, &state)?;
    let st = state.clone();
    let d = blocking(move || st.render.templates.store.draft(&name))
        .await?
        .ok_or(HttpError::Render(RenderError::TemplateNotFound))?;
    Ok(no_store(
        HttpResponse::Ok(),
        json!({
            "name": d.name,
            "content_hash": d.content_hash,
            "updated_at": unix_seconds(d.updated_at),
            "updated_by": d.updated_by,
            "document": document(&d.document),
        }),
    ))
}

async fn publish(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    let name = authorized_name(&req, &state)?;
    let who = actor(&req);
    let st = state.clone();
    let v = blocking(move || st.render.templates.store.publish(&name, &who)).await?;
    tracing::info!(template = %v.name, version = v.version, "template published");
    Ok(no_store(
        HttpResponse::Created(),
        json!({
            "name": v.name,
            "version": v.version,
            "identifier": format!("tpl~{}~{}", v.name, v.version),
            "content_hash": v.content_hash,
            "published_at": unix_seconds(v.published_at),
            "published_by": v.published_by,
        }),
    ))
}

async fn versions(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    let name = authorized_name(&req, &state)?;
    let st = state.clone();
    let body = blocking(move || -> Result<Value, HttpError> {
        let store = &st.render.templates.store;
        let mut out = Vec::new();
        for n in store.versions(&name)? {
            if let Some(v) = store.version(&name, n)? {
                out.push(json!({
                    "version": v.version,
                    "content_hash": v.content_hash,
                    "published_at": unix_seconds(v.published_at),
                    "published_by": v.published_by,
                }));
            }
        }
        if out.is_empty() && store.draft(&name)?.is_none() {
            return Err(HttpError::Render(RenderError::TemplateNotFound));
        }
        Ok(json!({ "name": name, "versions": out }))
    })
    .await?;
    Ok(no_store(HttpResponse::Ok(), body))
}

async fn version(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    let name = authorized_name(&req, &state)?;
    let n = version_of(&req)?;
    let st = state.clone();
    let v = blocking(move || st.render.templates.store.version(&name, n))
        .await?
        .ok_or(HttpError::Render(RenderError::TemplateNotFound))?;
    Ok(no_store(
        HttpResponse::Ok(),
        json!({
            "name": v.name,
            "version": v.version,
            "content_hash": v.content_hash,
            "published_at": unix_seconds(v.published_at),
            "published_by": v.published_by,
            "document": document(&v.document),
        }),
    ))
}

fn audit_json(rows: Vec<AuditEntry>) -> Value {
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|a| {
            json!({
                "at": unix_seconds(a.at),
                "who": a.who,
                "action": a.action.as_str(),
                "name": a.name,
                "version": a.version,
                "content_hash": a.content_hash,
            })
        })
        .collect();
    json!({ "audit": rows })
}

async fn audit(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    let name = authorized_name(&req, &state)?;
    let st = state.clone();
    let rows = blocking(move || st.render.templates.store.audit(Some(&name))).await?;
    Ok(no_store(HttpResponse::Ok(), audit_json(rows)))
}

async fn audit_all(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let st = state.clone();
    let rows = blocking(move || st.render.templates.store.audit(None)).await?;
    Ok(no_store(HttpResponse::Ok(), audit_json(rows)))
}

/// The keys, or why URLs cannot be made.
fn keys(state: &AppState) -> Result<&Keys, HttpError> {
    state
        .render
        .templates
        .keys
        .as_ref()
        .ok_or(HttpError::Forbidden(
            "no signing keys: set templates.keys (TESSERA_TEMPLATES_KEYS)",
        ))
}

/// The image request after the identifier; defaults to the whole canvas as JPEG.
fn image_request(given: Option<&str>) -> Result<String, HttpError> {
    let request = given.unwrap_or("full/max/0/default.jpg").trim_matches('/');
    let parts: Vec<&str> = request.split('/').collect();
    match parts[..] {
        [r, s, o, q] if crate::iiif::ImageRequest::parse(r, s, o, q).is_ok() => {
            Ok(request.to_string())
        }
        _ => Err(HttpError::input(
            Code::BadSyntax,
            format!("request '{request}' is not region/size/rotation/quality.format"),
        )),
    }
}

/// Version `n` of `name`, as rendering loads it (404 when there is none). Blocking.
fn published(state: &AppState, name: &str, n: u32) -> Result<Arc<Loaded>, HttpError> {
    Ok(state.render.templates.load(&TemplateId {
        name: name.to_string(),
        pin: Pin::Version(n),
        token: None,
    })?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    #[serde(default)]
    fields: std::collections::BTreeMap<String, String>,
    /// Unix seconds after which the URL is refused.
    exp: Option<u64>,
    /// `region/size/rotation/quality.format`; default `full/max/0/default.jpg`.
    request: Option<String>,
    /// Seal the fields into the identifier instead of signing them in the query.
    #[serde(default)]
    sealed: bool,
}

/// A signed (or sealed) URL for one set of fields.
async fn sign_url(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let name = authorized_name(&req, &state)?;
    let n = version_of(&req)?;
    let keys = keys(&state)?.clone();
    // Any content type: the body is JSON or refused with serde's reason.
    let body: SignBody = serde_json::from_slice(&body)
        .map_err(|e| HttpError::input(Code::BadBody, e.to_string()))?;
    let request = image_request(body.request.as_deref())?;
    let st = state.clone();
    let loaded = {
        let name = name.clone();
        blocking(move || published(&st, &name, n)).await?
    };
    if let Some(unknown) = body
        .fields
        .keys()
        .find(|k| !loaded.template.fields.contains_key(*k))
    {
        return Err(HttpError::input(
            Code::UnknownField,
            format!("'{unknown}' is not a field of {name} v{n}"),
        ));
    }
    let base = base_url(&req, &state);
    let url = if body.sealed {
        let token = seal(
            &keys,
            &format!("{name}~{n}"),
            &Sealed {
                fields: body.fields,
                exp: body.exp,
            },
        );
        format!("{base}/tpl~{name}~{n}~{token}/{request}")
    } else {
        let mut query: Vec<(String, String)> = body.fields.into_iter().collect();
        if let Some(exp) = body.exp {
            query.push(("exp".into(), exp.to_string()));
        }
        let path = format!("{}/tpl~{name}~{n}/{request}", state.config.server.prefix);
        let sig = sign(&keys, &path, &query);
        query.push(("sig".into(), sig));
        let encoded: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
            .collect();
        format!("{base}/tpl~{name}~{n}/{request}?{}", encoded.join("&"))
    };
    Ok(no_store(HttpResponse::Ok(), json!({ "url": url })))
}

#[derive(Deserialize)]
struct SealQuery {
    request: Option<String>,
    exp: Option<u64>,
}

/// A CSV of recipients (a header row naming fields; other columns pass through) → the same
/// CSV with a `url` column of sealed URLs.
async fn seal_list(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<SealQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let name = authorized_name(&req, &state)?;
    let n = version_of(&req)?;
    keys(&state)?;
    let request = image_request(query.request.as_deref())?;
    let exp = query.exp;
    if exp.is_some_and(|e| e <= state.render.unix_now()) {
        return Err(HttpError::input(Code::Expired, "exp is in the past"));
    }
    let base = base_url(&req, &state);
    let st = state.clone();
    let (csv, rows) = blocking(move || -> Result<_, HttpError> {
        let loaded = published(&st, &name, n)?;
        let job = SealJob {
            keys: keys(&st)?,
            name: &name,
            version: n,
            template: &loaded.template,
            base_url: &base,
            request: &request,
            exp,
        };
        let mut out = Vec::new();
        let rows = seal_csv(&job, &body[..], &mut out)?;
        Ok((out, rows))
    })
    .await?;
    // Counts only: the rows are personal data.
    tracing::info!(rows, "sealed a recipient list");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/csv; charset=utf-8")
        .body(csv))
}
