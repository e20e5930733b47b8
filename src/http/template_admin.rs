//! The template admin API: drafts, review (submit, approve, reject), publishing, archiving,
//! versions, the audit trail, and making URLs — signed or sealed (one recipient, or a CSV of
//! them). `{name}` is the qualified name: `name` in the default project, `project.name`
//! elsewhere. Every action is checked against the caller's role in the template's project
//! and audited ([`super::access::perform`]).

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::HttpError;
use super::access::{Caller, admit, caller, perform};
use super::respond::{base_url, no_store};
use super::state::{AppState, blocking};
use crate::clock::unix_seconds;
use crate::error::Code;
use crate::overlay::load;
use crate::render::RenderError;
use crate::render::templates::Loaded;
use crate::store::audit::AuditFilter;
use crate::store::templates::{Draft, Who};
use crate::team::{Capability, split_qualified};
use crate::template::batch::{BatchError, SealJob, seal_csv};
use crate::template::model::parse_template;
use crate::template::request::{Pin, TemplateId, valid_qualified};
use crate::template::signing::{Keys, Sealed, encode_component, seal, sign};

/// A template named in the path: its qualified name and project.
struct Named {
    name: String,
    project: String,
}

/// The template name from the path, checked.
fn named(req: &HttpRequest) -> Result<Named, HttpError> {
    let name = req.match_info().get("name").unwrap_or_default();
    if !valid_qualified(name) {
        return Err(HttpError::input(
            Code::BadName,
            "template names are 1 to 64 letters, digits, '-' or '_', after 'project.' outside the default project",
        ));
    }
    Ok(Named {
        name: name.to_string(),
        project: split_qualified(name).0.to_string(),
    })
}

fn version_of(req: &HttpRequest) -> Result<u32, HttpError> {
    req.match_info()
        .get("version")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| HttpError::input(Code::BadVersion, "the version is a positive number"))
}

/// Authenticates, checks a read `capability` in the template's project, returns the name.
async fn reader(
    req: &HttpRequest,
    state: &AppState,
    capability: Capability,
) -> Result<(Caller, Named), HttpError> {
    let c = caller(req, state).await?;
    let n = named(req)?;
    c.require(&n.project, capability)?;
    Ok((c, n))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    project: Option<String>,
    #[serde(default)]
    archived: bool,
}

/// Templates of one project (`?project=`), or of every project the caller may view.
pub(super) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    if let Some(p) = &query.project {
        c.require(p, Capability::View)?;
    }
    let st = state.clone();
    let body = blocking(move || -> Result<Value, HttpError> {
        let store = &st.render.templates.store;
        let mut out = Vec::new();
        for s in store.list(query.project.as_deref(), query.archived)? {
            if !c.actor.may(&s.project, Capability::View) {
                continue;
            }
            out.push(json!({
                "name": s.name,
                "project": s.project,
                "state": s.state.as_str(),
                "archived": s.archived,
                "latest_version": s.latest_version,
                "versions": store.versions(&s.name)?,
                "updated_at": unix_seconds(s.updated_at),
                "updated_by": s.updated_by,
            }));
        }
        Ok(json!({ "templates": out }))
    })
    .await?;
    Ok(no_store(HttpResponse::Ok(), body))
}

fn who(caller: &crate::access::Actor) -> (String, String) {
    (caller.principal.id(), caller.principal.name())
}

fn draft_json(d: &Draft, with_document: bool) -> Value {
    let mut v = json!({
        "name": d.name,
        "project": d.project,
        "content_hash": d.content_hash,
        "updated_at": unix_seconds(d.updated_at),
        "updated_by": d.updated_by,
        "state": d.state.as_str(),
        "submitted_by": d.submitted_by,
        "submitted_at": d.submitted_at,
        "archived": d.archived,
    });
    if with_document {
        v["document"] = document(&d.document);
    }
    v
}

pub(super) async fn save_draft(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let n = named(&req)?;
    let st = state.clone();
    let project = n.project.clone();
    let target = n.name.clone();
    let (draft, created) = perform(
        &state,
        &c,
        "template.save",
        &project.clone(),
        &target,
        Capability::Edit,
        move |actor| {
            let render = &st.render;
            render.templates.policy(&project)?;
            render.templates.forget_pictures(&project);
            let own = render.templates.project_pictures(&project, &render.sources);
            let template = parse_template(&body)?;
            let families = render.templates.fonts.families();
            template.check_resources(
                &families,
                |text| render.templates.coverage.covers(text),
                |id| load::lookup(&render.sources, &own, id).is_ok(),
            )?;
            // Stored as sent (already valid), so what the designer wrote is what is audited.
            let document = std::str::from_utf8(&body)
                .map_err(|_| HttpError::input(Code::BadBody, "the template is not UTF-8"))?;
            let (id, name) = who(actor);
            let (draft, created) = render.templates.store.save_draft(
                &n.name,
                &project,
                document,
                Who {
                    id: &id,
                    name: &name,
                },
            )?;
            let detail = json!({ "content_hash": draft.content_hash, "created": created });
            Ok(((draft, created), detail))
        },
    )
    .await?;
    let res = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    let mut body = draft_json(&draft, false);
    body["created"] = json!(created);
    Ok(no_store(res, body))
}

/// A stored document as JSON (it was valid JSON when stored).
fn document(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

pub(super) async fn draft(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let (_, n) = reader(&req, &state, Capability::View).await?;
    let st = state.clone();
    let d = blocking(move || st.render.templates.store.draft(&n.name))
        .await?
        .ok_or(HttpError::Render(RenderError::TemplateNotFound))?;
    Ok(no_store(HttpResponse::Ok(), draft_json(&d, true)))
}

/// An optional review comment.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    #[serde(default)]
    comment: String,
}

fn comment_of(body: &[u8]) -> Result<String, HttpError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(String::new());
    }
    let c: CommentBody =
        serde_json::from_slice(body).map_err(|e| HttpError::input(Code::BadBody, e.to_string()))?;
    Ok(c.comment.chars().take(2000).collect())
}

/// Which review step a route takes.
#[derive(Clone, Copy)]
enum Step {
    Submit,
    Reject,
    /// Approve a submitted draft (it becomes the next version).
    Approve,
    /// Approve a submitted draft, or publish directly where the project allows it.
    Publish,
}

async fn review(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
    step: Step,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let n = named(&req)?;
    let comment = comment_of(&body)?;
    let (action, capability) = match step {
        Step::Submit => ("template.submit", Capability::Edit),
        Step::Reject => ("template.reject", Capability::Publish),
        Step::Approve => ("template.approve", Capability::Publish),
        Step::Publish => ("template.publish", Capability::Publish),
    };
    let st = state.clone();
    let project = n.project.clone();
    let target = n.name.clone();
    let body = perform(
        &state,
        &c,
        action,
        &project.clone(),
        &target,
        capability,
        move |actor| {
            let templates = &st.render.templates;
            let policy = templates.policy(&project)?;
            // Four eyes compares people: a key counts as the user who made it.
            let id = st.access.person(actor)?;
            let name = actor.principal.name();
            let who = Who {
                id: &id,
                name: &name,
            };
            let store = &templates.store;
            match step {
                Step::Submit => {
                    let d = store.submit(&n.name, who, &comment)?;
                    let detail = json!({ "content_hash": d.content_hash, "comment": comment });
                    Ok((draft_json(&d, false), detail))
                }
                Step::Reject => {
                    let d = store.reject(&n.name, who, &comment)?;
                    let detail = json!({ "content_hash": d.content_hash, "comment": comment });
                    Ok((draft_json(&d, false), detail))
                }
                Step::Approve | Step::Publish => {
                    let v = if matches!(step, Step::Approve) {
                        store.approve(&n.name, who, policy.four_eyes, &comment)?
                    } else {
                        store.publish(&n.name, who, policy.four_eyes, &comment)?
                    };
                    let detail = json!({
                        "version": v.version,
                        "content_hash": v.content_hash,
                        "comment": comment,
                    });
                    let body = json!({
                        "name": v.name,
                        "version": v.version,
                        "identifier": format!("tpl~{}~{}", v.name, v.version),
                        "content_hash": v.content_hash,
                        "published_at": unix_seconds(v.published_at),
                        "published_by": v.published_by,
                    });
                    Ok((body, detail))
                }
            }
        },
    )
    .await?;
    let res = match step {
        Step::Approve | Step::Publish => HttpResponse::Created(),
        _ => HttpResponse::Ok(),
    };
    Ok(no_store(res, body))
}

pub(super) async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    review(req, state, body, Step::Submit).await
}

pub(super) async fn reject(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    review(req, state, body, Step::Reject).await
}

pub(super) async fn approve(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    review(req, state, body, Step::Approve).await
}

pub(super) async fn publish(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    review(req, state, body, Step::Publish).await
}

pub(super) async fn archive(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    set_archived(req, state, true).await
}

pub(super) async fn unarchive(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    set_archived(req, state, false).await
}

async fn set_archived(
    req: HttpRequest,
    state: web::Data<AppState>,
    archived: bool,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let n = named(&req)?;
    let action = if archived {
        "template.archive"
    } else {
        "template.unarchive"
    };
    let st = state.clone();
    let name = n.name.clone();
    let changed = perform(
        &state,
        &c,
        action,
        &n.project,
        &n.name,
        Capability::Publish,
        move |_| {
            let changed = st.render.templates.store.set_archived(&name, archived)?;
            Ok((changed, json!({ "changed": changed })))
        },
    )
    .await?;
    Ok(no_store(
        HttpResponse::Ok(),
        json!({ "name": n.name, "archived": archived, "changed": changed }),
    ))
}

pub(super) async fn reviews(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let (_, n) = reader(&req, &state, Capability::View).await?;
    let st = state.clone();
    let name = n.name.clone();
    let rows = blocking(move || st.render.templates.store.reviews(&name)).await?;
    Ok(no_store(
        HttpResponse::Ok(),
        json!({ "name": n.name, "reviews": rows }),
    ))
}

pub(super) async fn versions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let (_, n) = reader(&req, &state, Capability::View).await?;
    let name = n.name;
    let st = state.clone();
    let body = blocking(move || -> Result<Value, HttpError> {
        let store = &st.render.templates.store;
        let mut out = Vec::new();
        for v in store.versions(&name)? {
            if let Some(v) = store.version(&name, v)? {
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

pub(super) async fn version(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let (_, n) = reader(&req, &state, Capability::View).await?;
    let v = version_of(&req)?;
    let st = state.clone();
    let name = n.name;
    let v = blocking(move || st.render.templates.store.version(&name, v))
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

/// The A/B splits of the newest published version, by name.
fn latest_splits(
    state: &AppState,
    name: &str,
) -> Result<Vec<crate::template::rules::Split>, HttpError> {
    let Some(latest) = state
        .render
        .templates
        .store
        .versions(name)?
        .into_iter()
        .max()
    else {
        return Ok(Vec::new());
    };
    let loaded = state.render.templates.load(&TemplateId {
        name: name.to_string(),
        pin: Pin::Version(latest),
        token: None,
    })?;
    Ok(loaded
        .template
        .rules
        .iter()
        .filter_map(|r| match &r.choice {
            crate::template::rules::Choice::Split(s) => Some(s.clone()),
            _ => None,
        })
        .collect())
}

/// The splits of the newest version with their weights, and the stopped ones' winners.
pub(super) async fn splits(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let (_, n) = reader(&req, &state, Capability::View).await?;
    let st = state.clone();
    let body = blocking(move || -> Result<Value, HttpError> {
        let stopped = st.render.templates.store.stopped_splits(&n.name)?;
        let splits: Vec<Value> = latest_splits(&st, &n.name)?
            .into_iter()
            .map(|s| {
                json!({
                    "name": s.name, "key": s.key, "weights": s.weights,
                    "winner": stopped.get(&s.name),
                })
            })
            .collect();
        Ok(json!({ "name": n.name, "splits": splits }))
    })
    .await?;
    Ok(no_store(HttpResponse::Ok(), body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StopBody {
    winner: String,
}

/// Stops a split: from now on everyone gets the winner (cached renders of the others stay
/// valid under their own keys; new requests take the winner's).
pub(super) async fn stop_split(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let n = named(&req)?;
    let split = req.match_info().get("split").unwrap_or_default();
    let target = format!("{}/{split}", n.name);
    let check = (n.project.as_str(), target.as_str());
    admit(
        &state,
        &c,
        "template.split_stop",
        check,
        Capability::Publish,
    )
    .await?;
    let StopBody { winner } = serde_json::from_slice(&body)
        .map_err(|_| HttpError::input(Code::BadBody, "send {\"winner\": \"<variant>\"}"))?;
    change_split(req, state, (c, n), Some(winner)).await
}

/// Runs a stopped split again.
pub(super) async fn resume_split(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let n = named(&req)?;
    change_split(req, state, (c, n), None).await
}

async fn change_split(
    req: HttpRequest,
    state: web::Data<AppState>,
    (c, n): (Caller, Named),
    winner: Option<String>,
) -> Result<HttpResponse, HttpError> {
    let split = req
        .match_info()
        .get("split")
        .unwrap_or_default()
        .to_string();
    let action = if winner.is_some() {
        "template.split_stop"
    } else {
        "template.split_resume"
    };
    let st = state.clone();
    let name = n.name.clone();
    let who = c.actor.principal.id();
    let answer = perform(
        &state,
        &c,
        action,
        &n.project,
        &format!("{}/{split}", n.name),
        Capability::Publish,
        move |_| {
            let declared = latest_splits(&st, &name)?;
            let Some(s) = declared.iter().find(|s| s.name == split) else {
                return Err(HttpError::input(
                    Code::NotFound,
                    "the newest version has no split of this name",
                ));
            };
            let store = &st.render.templates.store;
            let changed = match &winner {
                Some(w) if !s.weights.contains_key(w) => {
                    return Err(HttpError::input(
                        Code::BadBody,
                        format!(
                            "the winner is one of the split's variants: {}",
                            s.weights.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                Some(w) => {
                    store.stop_split(&name, &split, w, &who)?;
                    true
                }
                None => store.resume_split(&name, &split)?,
            };
            st.render.templates.forget_splits(&name);
            let v = json!({ "name": name, "split": split, "winner": winner, "changed": changed });
            Ok((v.clone(), v))
        },
    )
    .await?;
    Ok(no_store(HttpResponse::Ok(), answer))
}

/// The audit trail of one template (needs `read_audit` in its project).
pub(super) async fn audit(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let (_, n) = reader(&req, &state, Capability::ReadAudit).await?;
    let st = state.clone();
    let filter = AuditFilter {
        project: Some(n.project),
        target: Some(n.name),
        ..AuditFilter::default()
    };
    let rows = blocking(move || st.access.audit_rows(&filter)).await?;
    Ok(no_store(HttpResponse::Ok(), json!({ "audit": rows })))
}

/// The keys of `project`, or why URLs cannot be made.
fn keys(state: &AppState, project: &str) -> Result<Keys, HttpError> {
    state
        .render
        .templates
        .policy(project)?
        .keys
        .clone()
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

/// A signed (or sealed) URL for one set of fields. Audited with the field names only.
pub(super) async fn sign_url(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let n = named(&req)?;
    let v = version_of(&req)?;
    // Any content type: the body is JSON or refused with serde's reason.
    let body: SignBody = serde_json::from_slice(&body)
        .map_err(|e| HttpError::input(Code::BadBody, e.to_string()))?;
    let request = image_request(body.request.as_deref())?;
    let base = base_url(&req, &state);
    let prefix = state.config.server.prefix.clone();
    let st = state.clone();
    let (name, project) = (n.name.clone(), n.project.clone());
    let target = format!("{}/versions/{v}", n.name);
    let url = perform(
        &state,
        &c,
        "template.sign",
        &n.project,
        &target,
        Capability::MakeUrls,
        move |_| {
            let keys = keys(&st, &project)?;
            let loaded = published(&st, &name, v)?;
            if let Some(unknown) = body
                .fields
                .keys()
                .find(|k| !loaded.template.fields.contains_key(*k))
            {
                return Err(HttpError::input(
                    Code::UnknownField,
                    format!("'{unknown}' is not a field of {name} v{v}"),
                ));
            }
            let fields: Vec<&String> = body.fields.keys().collect();
            let detail = json!({ "fields": fields, "sealed": body.sealed, "exp": body.exp });
            let url = if body.sealed {
                let token = seal(
                    &keys,
                    &format!("{name}~{v}"),
                    &Sealed {
                        fields: body.fields.clone(),
                        exp: body.exp,
                    },
                );
                format!("{base}/tpl~{name}~{v}~{token}/{request}")
            } else {
                let mut query: Vec<(String, String)> = body.fields.clone().into_iter().collect();
                if let Some(exp) = body.exp {
                    query.push(("exp".into(), exp.to_string()));
                }
                let path = format!("{prefix}/tpl~{name}~{v}/{request}");
                let sig = sign(&keys, &path, &query);
                query.push(("sig".into(), sig));
                let encoded: Vec<String> = query
                    .iter()
                    .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
                    .collect();
                format!("{base}/tpl~{name}~{v}/{request}?{}", encoded.join("&"))
            };
            Ok((url, detail))
        },
    )
    .await?;
    Ok(no_store(HttpResponse::Ok(), json!({ "url": url })))
}

#[derive(Deserialize)]
pub(super) struct SealQuery {
    request: Option<String>,
    exp: Option<u64>,
    /// Leave bad rows out (their lines in `X-Tessera-Skipped-Lines`) instead of refusing.
    #[serde(default)]
    skip_bad_rows: bool,
}

/// A CSV of recipients (a header row naming fields; other columns pass through) → the same
/// CSV with a `url` column of sealed URLs. Audited with the row count only.
pub(super) async fn seal_list(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<SealQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let n = named(&req)?;
    let v = version_of(&req)?;
    let request = image_request(query.request.as_deref())?;
    let (exp, skip) = (query.exp, query.skip_bad_rows);
    if exp.is_some_and(|e| e <= state.render.unix_now()) {
        return Err(HttpError::input(Code::Expired, "exp is in the past"));
    }
    let base = base_url(&req, &state);
    let st = state.clone();
    let (name, project) = (n.name.clone(), n.project.clone());
    let target = format!("{}/versions/{v}", n.name);
    let csv = perform(
        &state,
        &c,
        "template.seal",
        &n.project,
        &target,
        Capability::MakeUrls,
        move |_| {
            let keys = keys(&st, &project)?;
            let loaded = published(&st, &name, v)?;
            let job = SealJob {
                keys: &keys,
                name: &name,
                version: v,
                template: &loaded.template,
                base_url: &base,
                request: &request,
                exp,
            };
            let sealed = seal_csv(&job, &body[..], skip).map_err(|e| match e {
                BatchError::Table(t) => super::datasets::refused(t),
                e => e.into(),
            })?;
            let rows = sealed.rows;
            let skipped = sealed.skipped.len() + sealed.more_skipped;
            // Counts and line numbers only: the rows are personal data.
            tracing::info!(rows, skipped, "sealed a recipient list");
            let mut lines: Vec<String> = sealed
                .skipped
                .iter()
                .take(100)
                .map(|b| b.line.to_string())
                .collect();
            if skipped > lines.len() {
                lines.push(format!("and {} more", skipped - lines.len()));
            }
            let detail = json!({ "rows": rows, "skipped": skipped, "exp": exp });
            Ok(((sealed.csv, lines), detail))
        },
    )
    .await?;
    let (csv, skipped_lines) = csv;
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if !skipped_lines.is_empty() {
        res.insert_header(("X-Tessera-Skipped-Lines", skipped_lines.join(", ")));
    }
    Ok(res.content_type("text/csv; charset=utf-8").body(csv))
}
