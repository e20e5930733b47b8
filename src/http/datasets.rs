//! Recipient data sets of a project over HTTP: upload a CSV or JSON table keyed by one column
//! (replace or upsert, applied whole or not at all, every bad row answered with its line),
//! delete rows, drop a set, list them. Changed and deleted rows take their cached renders
//! with them. Values never reach logs, audit details or error text: counts and keys only.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::HttpError;
use super::access::{Caller, admit, caller, perform};
use super::respond::no_store;
use super::state::{AppState, blocking};
use super::team_admin::project_of;
use crate::dataset::table::{self, Format, Limits, TableError, keyed};
use crate::dataset::valid_set_name;
use crate::error::Code;
use crate::store::datasets::{Mode, Upload};
use crate::team::Capability;

/// The `{set}` of the path, checked.
fn set_of(req: &HttpRequest) -> Result<String, HttpError> {
    let name = req.match_info().get("set").unwrap_or_default();
    if !valid_set_name(name) {
        return Err(HttpError::input(
            Code::BadName,
            "data set names are 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    Ok(name.to_string())
}

/// The caller, project and set of a write to a data set: the role is checked (a refusal
/// audited) before anything else about the request.
async fn writer(
    req: &HttpRequest,
    state: &AppState,
    action: &'static str,
) -> Result<(Caller, String, String), HttpError> {
    let c = caller(req, state).await?;
    let project = project_of(req)?;
    let named = format!(
        "{project}/{}",
        req.match_info().get("set").unwrap_or_default()
    );
    admit(state, &c, action, (&project, &named), Capability::Upload).await?;
    Ok((c, project, set_of(req)?))
}

/// A table that cannot be applied, as an answer: every bad row by line, on one line.
pub fn refused(e: TableError) -> HttpError {
    let reason = match &e {
        TableError::BadRows { rows, more } => {
            let mut listed: Vec<String> = rows
                .iter()
                .map(|r| format!("line {}: {}", r.line, r.reason))
                .collect();
            if *more > 0 {
                listed.push(format!("and {more} more"));
            }
            format!("{e}; nothing was applied: {}", listed.join("; "))
        }
        _ => e.to_string(),
    };
    HttpError::input(crate::error::Coded::code(&e), reason)
}

/// The limits of one upload.
pub fn limits(state: &AppState) -> Limits {
    let t = &state.config.templates;
    Limits {
        max_bytes: t.max_dataset_bytes,
        max_rows: t.max_dataset_rows,
        ..Limits::default()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    /// The column that keys the rows.
    key: String,
    #[serde(default = "replace")]
    mode: Mode,
    /// Seconds the uploaded rows live.
    ttl: Option<u64>,
    /// `csv` or `json`; by default the Content-Type, else the first byte.
    format: Option<String>,
}

fn replace() -> Mode {
    Mode::Replace
}

/// Uploads a table into data set `{set}`.
pub(super) async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, HttpError> {
    let (c, project, set) = writer(&req, &state, "dataset.upload").await?;
    let q: UploadQuery = web::Query::<UploadQuery>::from_query(req.query_string())
        .map_err(|e| HttpError::input(Code::BadBody, e.to_string()))?
        .into_inner();
    let limits = limits(&state);
    let body = payload
        .to_bytes_limited(limits.max_bytes)
        .await
        .map_err(|_| {
            HttpError::input(
                Code::UploadTooLarge,
                format!(
                    "data sets are at most {} bytes (templates.max_dataset_bytes)",
                    limits.max_bytes
                ),
            )
        })?
        .map_err(|e| HttpError::input(Code::BadUpload, e.to_string()))?;
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let format = match q.format.as_deref() {
        Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some(_) => return Err(HttpError::input(Code::BadBody, "format is csv or json")),
        None if content_type.contains("json") => Format::Json,
        None if content_type.contains("csv") => Format::Csv,
        None => Format::sniff(&body),
    };
    let st = state.clone();
    let target = format!("{project}/{set}");
    let pid = project.clone();
    let now = state.render.unix_now();
    let who = c.actor.principal.id();
    let answer = perform(
        &state,
        &c,
        "dataset.upload",
        &project,
        &target,
        Capability::Upload,
        move |_| {
            st.access.team.project(&pid)?;
            let read = table::read(&body, format, &limits).and_then(|t| keyed(t, q.key.trim()));
            let keyed = read.map_err(refused)?;
            let applied = st.render.templates.datasets.apply(&Upload {
                project: &pid,
                name: &set,
                key_column: q.key.trim(),
                columns: &keyed.columns,
                rows: &keyed.rows,
                mode: q.mode,
                expires_at: q.ttl.map(|t| now.saturating_add(t)),
                who: &who,
                now,
            })?;
            let purged = forget_renders(&st, (&pid, &set), &applied.stale)?;
            let v = json!({
                "project": pid, "dataset": set, "rows": keyed.rows.len(),
                "inserted": applied.inserted, "updated": applied.updated,
                "unchanged": applied.unchanged, "deleted": applied.deleted,
                "renders_removed": purged,
            });
            Ok((v.clone(), v))
        },
    )
    .await?;
    Ok(no_store(HttpResponse::Ok(), answer))
}

/// The project's data sets.
pub(super) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let project = project_of(&req)?;
    c.require(&project, Capability::View)?;
    let st = state.clone();
    let pid = project.clone();
    let sets = blocking(move || st.render.templates.datasets.list(&pid)).await?;
    Ok(no_store(
        HttpResponse::Ok(),
        json!({ "project": project, "datasets": sets }),
    ))
}

/// One data set: its columns, key and row count (no values).
pub(super) async fn info(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let project = project_of(&req)?;
    c.require(&project, Capability::View)?;
    let set = set_of(&req)?;
    let st = state.clone();
    let found = blocking(move || st.render.templates.datasets.info(&project, &set)).await?;
    let info = found.ok_or_else(not_found)?;
    Ok(no_store(HttpResponse::Ok(), json!(info)))
}

/// Removes the cached renders of rows that changed or went.
fn forget_renders(
    state: &AppState,
    (project, set): (&str, &str),
    keys: &[String],
) -> Result<u64, HttpError> {
    Ok(match &state.render.cache {
        Some(cache) => crate::render::purge_rows(
            cache.as_ref(),
            &state.render.templates.store,
            (project, set),
            keys,
        )?,
        None => 0,
    })
}

fn not_found() -> HttpError {
    HttpError::input(
        Code::DataSetNotFound,
        "no data set of this name in the project",
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    keys: Vec<String>,
}

/// Deletes rows by key, with their cached renders.
pub(super) async fn delete_rows(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let (c, project, set) = writer(&req, &state, "dataset.delete_rows").await?;
    let Keys { keys } = serde_json::from_slice(&body)
        .map_err(|_| HttpError::input(Code::BadBody, "send {\"keys\": [\"id\", …]}"))?;
    let st = state.clone();
    let target = format!("{project}/{set}");
    let pid = project.clone();
    let now = state.render.unix_now();
    let who = c.actor.principal.id();
    let answer = perform(
        &state,
        &c,
        "dataset.delete_rows",
        &project,
        &target,
        Capability::Upload,
        move |_| {
            let datasets = &st.render.templates.datasets;
            datasets.info(&pid, &set)?.ok_or_else(not_found)?;
            let deleted = datasets.delete_rows(&pid, &set, &keys, &who, now)?;
            let purged = forget_renders(&st, (&pid, &set), &deleted)?;
            let v = json!({
                "project": pid, "dataset": set, "asked": keys.len(),
                "deleted": deleted.len(), "renders_removed": purged,
            });
            Ok((v.clone(), v))
        },
    )
    .await?;
    Ok(no_store(HttpResponse::Ok(), answer))
}

/// Deletes a data set, its rows and their cached renders.
pub(super) async fn drop_set(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let (c, project, set) = writer(&req, &state, "dataset.drop").await?;
    let st = state.clone();
    let target = format!("{project}/{set}");
    let pid = project.clone();
    let answer = perform(
        &state,
        &c,
        "dataset.drop",
        &project,
        &target,
        Capability::Upload,
        move |_| {
            let keys = st
                .render
                .templates
                .datasets
                .drop_set(&pid, &set)?
                .ok_or_else(not_found)?;
            let purged = forget_renders(&st, (&pid, &set), &keys)?;
            let v = json!({
                "project": pid, "dataset": set, "deleted": keys.len(),
                "renders_removed": purged,
            });
            Ok((v.clone(), v))
        },
    )
    .await?;
    Ok(no_store(HttpResponse::Ok(), answer))
}
