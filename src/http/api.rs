//! The admin and auth API as one table: each endpoint's method, path, what it does and what
//! it needs. The routes are registered from it and the OpenAPI 3.1 document at
//! `/admin/openapi.json` is generated from it, so the two cannot drift apart; the
//! permission-matrix tests read it too.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, Route, web};
use serde_json::{Map, Value, json};

use super::state::RouteName;
use super::{
    admin, assets, datasets, pictures, reports, session, team_admin, template_admin as tpl,
};
use crate::team::Capability;

/// What an endpoint needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Nothing (signing in, this document).
    Public,
    /// Any authenticated principal; the handler checks the rest.
    Principal,
    /// This capability in the project the path names (a `{name}` of `project.name`, a
    /// `{project}`, an `{identifier}`), else in `default`.
    Capability(Capability),
}

/// One endpoint of the admin and auth API.
pub struct Endpoint {
    pub method: &'static str,
    /// The path, in the `{param}` form both actix-web and OpenAPI use.
    pub path: &'static str,
    pub summary: &'static str,
    pub needs: Needs,
    /// The route (method guard and handler); a plain function so the table is a constant.
    pub route: fn() -> Route,
}

use Capability as C;
use Needs::{Capability as Cap, Principal, Public};

macro_rules! endpoints {
    ($($method:ident $path:literal $needs:expr, $handler:path, $summary:literal;)*) => {
        /// Every admin and auth endpoint.
        pub const ENDPOINTS: &[Endpoint] = &[$(Endpoint {
            method: stringify!($method),
            path: $path,
            summary: $summary,
            needs: $needs,
            route: || endpoints!(@verb $method).to($handler),
        },)*];
    };
    (@verb GET) => { web::get() };
    (@verb POST) => { web::post() };
    (@verb PUT) => { web::put() };
    (@verb PATCH) => { web::patch() };
    (@verb DELETE) => { web::delete() };
}

endpoints! {
    POST "/auth/login" Public, session::login, "Sign in with email and password: sets the session cookie, returns the CSRF token";
    POST "/auth/logout" Principal, session::logout, "End the session";
    GET "/auth/session" Public, session::session, "Who is signed in, their roles, capabilities and CSRF token (`signed_in: false` without a credential)";
    GET "/admin/openapi.json" Public, openapi, "This document";
    GET "/admin/projects" Principal, team_admin::projects, "Projects the caller holds a role in";
    POST "/admin/projects" Cap(C::Ownership), team_admin::create_project, "Create a project (its creator becomes owner)";
    GET "/admin/projects/{project}" Cap(C::View), team_admin::project, "A project's settings";
    PATCH "/admin/projects/{project}" Cap(C::Settings), team_admin::update_project, "Change four eyes, quotas, budgets, name";
    POST "/admin/projects/{project}/signing-keys" Cap(C::Settings), team_admin::rotate_signing_keys, "Rotate the project's URL signing keys";
    GET "/admin/projects/{project}/members" Cap(C::ManageMembers), team_admin::members, "Members and their roles";
    PUT "/admin/projects/{project}/members/{principal}" Cap(C::ManageMembers), team_admin::set_member, "Give a user or key a role";
    DELETE "/admin/projects/{project}/members/{principal}" Cap(C::ManageMembers), team_admin::remove_member, "Take a role away";
    GET "/admin/projects/{project}/pictures" Cap(C::View), pictures::list, "Pictures uploaded for the project";
    PUT "/admin/projects/{project}/pictures/{file}" Cap(C::Upload), pictures::upload, "Upload or replace a picture (the body is the image)";
    GET "/admin/projects/{project}/datasets" Cap(C::View), datasets::list, "Recipient data sets of the project (names, keys, columns, row counts)";
    GET "/admin/projects/{project}/datasets/{set}" Cap(C::View), datasets::info, "One data set's key, columns and row count (no values)";
    PUT "/admin/projects/{project}/datasets/{set}" Cap(C::Upload), datasets::upload, "Upload a CSV or JSON table keyed by ?key= (mode=replace|upsert, ttl=seconds): all rows or none";
    DELETE "/admin/projects/{project}/datasets/{set}" Cap(C::Upload), datasets::drop_set, "Delete the data set and its rows' renders";
    POST "/admin/projects/{project}/datasets/{set}/rows/delete" Cap(C::Upload), datasets::delete_rows, "Delete rows by key ({\"keys\": […]}) and their renders";
    GET "/admin/assets" Principal, assets::list, "The catalogue: identifiers containing q, a page at a time (project folders for their members only)";
    POST "/admin/assets/scan" Cap(C::Upload), assets::scan, "Bring the catalogue up to date with the image folder";
    GET "/admin/users" Cap(C::ManageMembers), team_admin::users, "Every user";
    POST "/admin/users" Cap(C::ManageMembers), team_admin::create_user, "Add a user";
    PATCH "/admin/users/{id}" Cap(C::ManageMembers), team_admin::update_user, "Rename, set password, disable or enable a user";
    GET "/admin/keys" Principal, team_admin::keys, "API keys the caller made (every key for managers of default)";
    POST "/admin/keys" Principal, team_admin::create_key, "Make an API key (secret shown once; roles no more than the caller's)";
    DELETE "/admin/keys/{prefix}" Principal, team_admin::revoke_key, "Revoke an API key";
    GET "/admin/templates" Cap(C::View), tpl::list, "Templates of a project (or of every project the caller may view)";
    PUT "/admin/templates/{name}" Cap(C::Edit), tpl::save_draft, "Create or replace the draft";
    GET "/admin/templates/{name}/draft" Cap(C::View), tpl::draft, "The draft and its review state";
    POST "/admin/templates/{name}/submit" Cap(C::Edit), tpl::submit, "Submit the draft for review (locks it)";
    POST "/admin/templates/{name}/approve" Cap(C::Publish), tpl::approve, "Approve the submitted draft: publish it as the next version";
    POST "/admin/templates/{name}/reject" Cap(C::Publish), tpl::reject, "Reject the submitted draft with a comment";
    POST "/admin/templates/{name}/publish" Cap(C::Publish), tpl::publish, "Publish the draft (approves it when submitted)";
    POST "/admin/templates/{name}/archive" Cap(C::Publish), tpl::archive, "Archive (versions keep rendering)";
    POST "/admin/templates/{name}/unarchive" Cap(C::Publish), tpl::unarchive, "Bring an archived template back";
    GET "/admin/templates/{name}/reviews" Cap(C::View), tpl::reviews, "Review history with comments";
    GET "/admin/templates/{name}/versions" Cap(C::View), tpl::versions, "Published versions";
    GET "/admin/templates/{name}/versions/{version}" Cap(C::View), tpl::version, "One version with its document";
    GET "/admin/templates/{name}/audit" Cap(C::ReadAudit), tpl::audit, "The template's audit trail";
    GET "/admin/templates/{name}/splits" Cap(C::View), tpl::splits, "The template's A/B splits, and the winners of stopped ones";
    POST "/admin/templates/{name}/splits/{split}/stop" Cap(C::Publish), tpl::stop_split, "Stop an A/B split: everyone gets {\"winner\": …}, no new version";
    POST "/admin/templates/{name}/splits/{split}/resume" Cap(C::Publish), tpl::resume_split, "Run a stopped A/B split again";
    POST "/admin/templates/{name}/versions/{version}/sign" Cap(C::MakeUrls), tpl::sign_url, "A signed or sealed URL for one recipient";
    POST "/admin/templates/{name}/versions/{version}/seal" Cap(C::MakeUrls), tpl::seal_list, "A CSV of recipients to a CSV with sealed URLs";
    GET "/admin/audit" Cap(C::ReadAudit), reports::audit, "The audit trail, filtered; JSON, CSV or JSON Lines";
    GET "/admin/usage" Cap(C::ReadUsage), reports::usage, "Usage per project, template, version and day; JSON, CSV or JSON Lines";
    GET "/admin/cache" Cap(C::ReadUsage), admin::stats, "Derivative cache statistics";
    DELETE "/admin/cache" Cap(C::Purge), admin::purge_all, "Purge the whole derivative cache";
    DELETE "/admin/cache/{identifier}" Cap(C::Purge), admin::purge_identifier, "Purge every derivative of one identifier";
}

/// The scopes every endpoint lives under.
const SCOPES: [&str; 2] = ["/admin", "/auth"];

/// Registers every endpoint, inside its scope: a request elsewhere (an image) is told apart
/// by one prefix test, not by trying each endpoint's pattern.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for prefix in SCOPES {
        let mut scope = web::scope(prefix);
        for e in ENDPOINTS {
            if let Some(rest) = e.path.strip_prefix(prefix).filter(|r| r.starts_with('/')) {
                scope = scope.route(rest, (e.route)());
            }
        }
        cfg.service(scope);
    }
}

/// The path parameters of a path, in order.
fn parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// The OpenAPI 3.1 document of [`ENDPOINTS`].
pub fn document() -> Value {
    let mut paths = Map::new();
    for e in ENDPOINTS {
        let params: Vec<Value> = parameters(e.path)
            .into_iter()
            .map(|p| json!({ "name": p, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let needs = match e.needs {
            Needs::Public => "none".to_string(),
            Needs::Principal => "any authenticated principal".to_string(),
            Needs::Capability(c) => format!("capability `{}`", c.as_str()),
        };
        let mut op = json!({
            "summary": e.summary,
            "description": format!("Needs: {needs}."),
            "operationId": format!("{} {}", e.method, e.path),
            "parameters": params,
            "responses": {
                "200": { "description": "Done", "content": { "application/json": {} } },
                "400": { "$ref": "#/components/responses/Error" },
                "401": { "$ref": "#/components/responses/Error" },
                "403": { "$ref": "#/components/responses/Error" },
                "404": { "$ref": "#/components/responses/Error" },
                "409": { "$ref": "#/components/responses/Error" },
                "429": { "$ref": "#/components/responses/Error" },
            },
        });
        if e.needs == Needs::Public {
            op["security"] = json!([]);
        }
        if matches!(e.method, "POST" | "PUT" | "PATCH") {
            op["requestBody"] = json!({ "content": { "application/json": {} } });
        }
        let item = paths.entry(e.path.to_string()).or_insert_with(|| json!({}));
        item[e.method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tessera admin and auth API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Projects, people, keys, templates, review, audit and caches. Errors answer with a one-line reason and the stable code in X-Tessera-Error.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }, { "session": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "An API key (tsk_…) or admin.token" },
                "session": { "type": "apiKey", "in": "cookie", "name": super::access::SESSION_COOKIE, "description": "State-changing requests also send X-CSRF-Token" },
            },
            "responses": {
                "Error": {
                    "description": "Refused: the reason in the body, the code in X-Tessera-Error",
                    "headers": { "X-Tessera-Error": { "schema": { "type": "string" } } },
                    "content": { "text/plain": { "schema": { "type": "string" } } },
                },
            },
        },
    })
}

async fn openapi(req: HttpRequest) -> HttpResponse {
    req.extensions_mut().insert(RouteName("admin"));
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-cache"))
        .json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_lives_in_a_scope() {
        for e in ENDPOINTS {
            assert!(
                SCOPES.iter().any(|s| e.path.starts_with(&format!("{s}/"))),
                "{} {} is in no scope, so it would not be routed",
                e.method,
                e.path
            );
        }
    }

    #[test]
    fn every_endpoint_is_in_the_document_once_and_nothing_else() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        let mut listed = 0;
        for (path, item) in paths {
            for (method, _) in item.as_object().unwrap() {
                listed += 1;
                assert!(
                    ENDPOINTS
                        .iter()
                        .any(|e| e.path == path && e.method.to_lowercase() == *method),
                    "{method} {path} is documented but not routed"
                );
            }
        }
        assert_eq!(listed, ENDPOINTS.len(), "an endpoint is listed twice");
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
