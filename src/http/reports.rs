//! Reports for compliance and operations: the audit trail (`GET /admin/audit`) and usage
//! (`GET /admin/usage`) as JSON, CSV or JSON Lines. With `?project=` they need `read_audit`
//! / `read_usage` there; without, in `default` (they then cover every project).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::HttpError;
use super::access::caller;
use super::respond::no_store;
use super::state::{AppState, blocking};
use crate::error::Code;
use crate::store::audit::{AuditFilter, to_csv, to_json_lines};
use crate::team::{Capability, DEFAULT_PROJECT};
use crate::usage::{UsageFilter, to_csv as usage_csv};

/// How a report is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    #[default]
    Json,
    Csv,
    Jsonl,
}

/// A report in `format`: JSON under `key`, CSV, or JSON Lines.
pub fn report(
    format: ReportFormat,
    key: &str,
    json: serde_json::Value,
    csv: String,
    lines: String,
) -> HttpResponse {
    let (kind, body) = match format {
        ReportFormat::Json => return no_store(HttpResponse::Ok(), json!({ key: json })),
        ReportFormat::Csv => ("text/csv; charset=utf-8", csv),
        ReportFormat::Jsonl => ("application/jsonl; charset=utf-8", lines),
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type(kind)
        .body(body)
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    project: Option<String>,
    principal: Option<String>,
    action: Option<String>,
    target: Option<String>,
    from: Option<u64>,
    to: Option<u64>,
    after: Option<i64>,
    before: Option<i64>,
    /// `desc`: newest first.
    order: Option<Order>,
    limit: Option<u32>,
    #[serde(default)]
    format: ReportFormat,
}

/// The caller may read this report: `capability` in the project asked for, or in `default`
/// for every project. Returns the parsed query.
async fn allowed<Q>(
    req: &HttpRequest,
    state: &AppState,
    query: Result<web::Query<Q>, actix_web::Error>,
    project: impl FnOnce(&Q) -> Option<&str>,
    capability: Capability,
) -> Result<Q, HttpError> {
    let c = caller(req, state).await?;
    let q = query
        .map_err(|e| HttpError::input(Code::BadBody, e.to_string()))?
        .into_inner();
    c.require(project(&q).unwrap_or(DEFAULT_PROJECT), capability)?;
    Ok(q)
}

pub(super) async fn audit(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: Result<web::Query<AuditQuery>, actix_web::Error>,
) -> Result<HttpResponse, HttpError> {
    let q = allowed(
        &req,
        &state,
        query,
        |q| q.project.as_deref(),
        Capability::ReadAudit,
    )
    .await?;
    let filter = AuditFilter {
        project: q.project,
        principal: q.principal,
        action: q.action,
        target: q.target,
        from: q.from,
        to: q.to,
        after: q.after,
        before: q.before,
        newest_first: q.order == Some(Order::Desc),
        limit: q.limit,
    };
    let st = state.clone();
    let rows = blocking(move || st.access.audit_rows(&filter)).await?;
    let csv = if q.format == ReportFormat::Csv {
        to_csv(&rows).map_err(|e| HttpError::input(Code::Internal, e.to_string()))?
    } else {
        String::new()
    };
    let lines = if q.format == ReportFormat::Jsonl {
        to_json_lines(&rows)
    } else {
        String::new()
    };
    Ok(report(q.format, "audit", json!(rows), csv, lines))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    project: Option<String>,
    template: Option<String>,
    version: Option<u32>,
    /// `YYYY-MM-DD`, inclusive.
    from: Option<String>,
    to: Option<String>,
    #[serde(default)]
    format: ReportFormat,
}

/// Usage per project, template, version and day (flushed first, so it is up to date).
pub(super) async fn usage(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: Result<web::Query<UsageQuery>, actix_web::Error>,
) -> Result<HttpResponse, HttpError> {
    let q = allowed(
        &req,
        &state,
        query,
        |q| q.project.as_deref(),
        Capability::ReadUsage,
    )
    .await?;
    let filter = UsageFilter {
        project: q.project,
        template: q.template,
        version: q.version,
        from: q.from,
        to: q.to,
    };
    let st = state.clone();
    let rows = blocking(move || st.render.usage.report(&filter)).await?;
    let lines: String = rows
        .iter()
        .map(|r| serde_json::to_string(r).expect("usage rows serialise") + "\n")
        .collect();
    Ok(report(
        q.format,
        "usage",
        json!(rows),
        usage_csv(&rows),
        lines,
    ))
}
