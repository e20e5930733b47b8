//! The catalogue as Studio browses it: a searchable, paged list of identifiers, and a scan
//! that brings the catalogue up to date with the image folder (what `tessera ingest` does).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::HttpError;
use super::access::{caller, perform};
use super::respond::no_store;
use super::state::{AppState, blocking};
use crate::access::AccessError;
use crate::team::{Capability, DEFAULT_PROJECT};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    offset: u64,
    limit: Option<u64>,
}

/// Most identifiers one page lists.
const MAX_PAGE: u64 = 200;

/// Identifiers containing `q`, a page at a time: the shared folder for anyone who may view
/// some project, project folders for those who may view that project.
pub(super) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let projects = c.actor.projects().map(|list| {
        list.into_iter()
            .filter(|(_, role)| role.may(Capability::View))
            .map(|(p, _)| p)
            .collect::<Vec<_>>()
    });
    if projects.as_ref().is_some_and(Vec::is_empty) {
        return Err(AccessError::NotAllowed {
            project: DEFAULT_PROJECT.to_string(),
            capability: Capability::View.as_str(),
        }
        .into());
    }
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let st = state.clone();
    let body = blocking(move || {
        let (assets, total) = st.render.sources.catalogue().search(
            query.q.trim(),
            projects.as_deref(),
            query.offset,
            limit,
        )?;
        Ok::<_, HttpError>(json!({
            "assets": assets, "total": total, "offset": query.offset, "limit": limit,
        }))
    })
    .await?;
    Ok(no_store(HttpResponse::Ok(), body))
}

/// Reads every new or changed image under the root into the catalogue.
pub(super) async fn scan(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let st = state.clone();
    let report = perform(
        &state,
        &c,
        "assets.scan",
        DEFAULT_PROJECT,
        "",
        Capability::Upload,
        move |_| {
            let unreadable = |e: std::io::Error| {
                HttpError::input(crate::error::Code::Internal, format!("image root: {e}"))
            };
            let root = st.config.source.root.canonicalize().map_err(unreadable)?;
            let files = crate::ingest::image_files(&root).map_err(unreadable)?;
            let r = crate::ingest::ingest(&root, &st.render.sources, &files, |_, _| {});
            let v = json!({
                "added": r.added, "updated": r.updated, "unchanged": r.unchanged,
                "unreadable": r.failed,
            });
            Ok((v.clone(), v))
        },
    )
    .await?;
    Ok(no_store(HttpResponse::Ok(), report))
}
