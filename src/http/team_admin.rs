//! The team admin API: projects and their settings, members and their roles, users, and API
//! keys. Server-wide actions (new projects, users) need the role in the `default` project
//! that the capability table gives them; every change is audited.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::HttpError;
use super::access::{caller, perform, perform_unscoped};
use super::respond::no_store;
use super::state::{AppState, blocking};
use crate::access::AccessError;
use crate::error::Code;
use crate::store::team::{ProjectChange, TeamError};
use crate::team::{Capability, DEFAULT_PROJECT, Principal, Role, valid_project};
use crate::template::signing::Keys;

fn body_of<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, HttpError> {
    serde_json::from_slice(body).map_err(|e| HttpError::input(Code::BadBody, e.to_string()))
}

/// `id` if it is a valid project id, else 400 `bad_name` saying what one is.
fn checked_project(id: &str) -> Result<String, HttpError> {
    if !valid_project(id) {
        return Err(HttpError::input(
            Code::BadName,
            "project ids are 1 to 32 lowercase letters, digits or '-', starting with a letter",
        ));
    }
    Ok(id.to_string())
}

/// The `{project}` of the path, checked.
pub(super) fn project_of(req: &HttpRequest) -> Result<String, HttpError> {
    checked_project(req.match_info().get("project").unwrap_or_default())
}

/// The projects the caller holds a role in (every project for the token), with that role.
pub(super) async fn projects(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let st = state.clone();
    let list = blocking(move || -> Result<Vec<Value>, HttpError> {
        let mut out = Vec::new();
        for p in st.access.team.projects()? {
            if let Some(role) = c.actor.role(&p.id) {
                let mut v = json!(p);
                v["role"] = json!(role);
                out.push(v);
            }
        }
        Ok(out)
    })
    .await?;
    Ok(no_store(HttpResponse::Ok(), json!({ "projects": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProject {
    id: String,
    name: Option<String>,
    #[serde(default)]
    four_eyes: bool,
    monthly_renders: Option<u64>,
    renders_per_minute: Option<u32>,
}

/// Creates a project with its own signing keys; its creator becomes its owner.
pub(super) async fn create_project(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let b: NewProject = body_of(&body)?;
    checked_project(&b.id)?;
    let st = state.clone();
    let id = b.id.clone();
    let project = perform(
        &state,
        &c,
        "project.create",
        DEFAULT_PROJECT,
        &id,
        Capability::Ownership,
        move |actor| {
            let team = &st.access.team;
            let now = st.access.now();
            team.create_project(
                &b.id,
                b.name.as_deref().unwrap_or(&b.id),
                &Keys::generate().to_json(),
                now,
            )?;
            let p = team.update_project(
                &b.id,
                &ProjectChange {
                    four_eyes: Some(b.four_eyes),
                    monthly_renders: Some(b.monthly_renders),
                    renders_per_minute: Some(b.renders_per_minute),
                    ..ProjectChange::default()
                },
            )?;
            if !actor.principal.is_superuser() {
                team.set_role(&actor.principal.id(), &b.id, Role::Owner)?;
                // A key holds only what its maker holds: the person behind it owns it too.
                let person = st.access.person(actor)?;
                if person != actor.principal.id() {
                    team.set_role(&person, &b.id, Role::Owner)?;
                }
            }
            Ok((p.clone(), json!(p)))
        },
    )
    .await?;
    Ok(no_store(HttpResponse::Created(), json!(project)))
}

pub(super) async fn project(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let id = project_of(&req)?;
    c.require(&id, Capability::View)?;
    let st = state.clone();
    let (p, keys) = blocking(move || -> Result<_, HttpError> {
        let p = st.access.team.project(&id)?;
        let keys = st
            .render
            .templates
            .policy(&id)?
            .keys
            .as_ref()
            .map(|k| k.ids().into_iter().map(str::to_string).collect::<Vec<_>>());
        Ok((p, keys))
    })
    .await?;
    let mut v = json!(p);
    v["signing_key_ids"] = json!(keys);
    Ok(no_store(HttpResponse::Ok(), v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectSettings {
    name: Option<String>,
    four_eyes: Option<bool>,
    /// `null` removes the quota.
    #[serde(default, deserialize_with = "present")]
    monthly_renders: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    renders_per_minute: Option<Option<u32>>,
}

/// Tells a key given as `null` (`Some(None)`) from a key left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

pub(super) async fn update_project(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let id = project_of(&req)?;
    let b: ProjectSettings = body_of(&body)?;
    let st = state.clone();
    let pid = id.clone();
    let p = perform(
        &state,
        &c,
        "project.settings",
        &id,
        &id,
        Capability::Settings,
        move |_| {
            let p = st.access.team.update_project(
                &pid,
                &ProjectChange {
                    name: b.name,
                    four_eyes: b.four_eyes,
                    monthly_renders: b.monthly_renders,
                    renders_per_minute: b.renders_per_minute,
                },
            )?;
            st.render.templates.forget_policy(&pid);
            Ok((p.clone(), json!(p)))
        },
    )
    .await?;
    Ok(no_store(HttpResponse::Ok(), json!(p)))
}

/// Puts a new signing key first: it signs and seals from now on; older keys still verify.
pub(super) async fn rotate_signing_keys(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let id = project_of(&req)?;
    let st = state.clone();
    let pid = id.clone();
    let ids = perform(
        &state,
        &c,
        "project.rotate_keys",
        &id,
        &id,
        Capability::Settings,
        move |_| {
            if pid == DEFAULT_PROJECT {
                return Err(HttpError::input(
                    Code::Conflict,
                    "the default project's keys are templates.keys in the configuration",
                ));
            }
            let current = st.render.templates.policy(&pid)?.keys.clone();
            let keys = current.map_or_else(Keys::generate, |k| k.rotated());
            st.access.team.set_signing_keys(&pid, &keys.to_json())?;
            st.render.templates.forget_policy(&pid);
            let ids: Vec<String> = keys.ids().into_iter().map(str::to_string).collect();
            Ok((ids.clone(), json!({ "key_ids": ids })))
        },
    )
    .await?;
    Ok(no_store(
        HttpResponse::Ok(),
        json!({ "signing_key_ids": ids }),
    ))
}

pub(super) async fn members(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let id = project_of(&req)?;
    c.require(&id, Capability::ManageMembers)?;
    let st = state.clone();
    let rows = blocking(move || st.access.team.members(&id)).await?;
    Ok(no_store(HttpResponse::Ok(), json!({ "members": rows })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: String,
}

/// Checks a member id names a principal that exists: `user:N` or `key:tsk_…`.
fn check_member(st: &AppState, principal: &str) -> Result<(), HttpError> {
    let team = &st.access.team;
    let found = if let Some(n) = principal.strip_prefix("user:") {
        match n.parse::<i64>().map(|id| team.user(id)) {
            Ok(Ok(_)) => true,
            Ok(Err(TeamError::PrincipalNotFound(_))) | Err(_) => false,
            Ok(Err(e)) => return Err(e.into()),
        }
    } else if let Some(prefix) = principal.strip_prefix("key:") {
        team.key(prefix)?.is_some()
    } else {
        false
    };
    if !found {
        return Err(TeamError::PrincipalNotFound(format!("principal '{principal}'")).into());
    }
    Ok(())
}

/// Gives a principal a role in the project (owner roles only by an owner).
pub(super) async fn set_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    member_change(req, state, Some(body)).await
}

pub(super) async fn remove_member(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    member_change(req, state, None).await
}

async fn member_change(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Option<web::Bytes>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let id = project_of(&req)?;
    let principal = req
        .match_info()
        .get("principal")
        .unwrap_or_default()
        .to_string();
    let action = if body.is_some() {
        "member.set"
    } else {
        "member.remove"
    };
    let st = state.clone();
    let pid = id.clone();
    let target = principal.clone();
    let (role, changed) = perform(
        &state,
        &c,
        action,
        &id,
        &target,
        Capability::ManageMembers,
        move |actor| {
            // The body is read after the role check: a refusal says nothing about it.
            let role = match &body {
                Some(b) => Some(
                    body_of::<RoleBody>(b)?
                        .role
                        .parse::<Role>()
                        .map_err(|e| HttpError::input(Code::BadBody, e))?,
                ),
                None => None,
            };
            let team = &st.access.team;
            team.project(&pid)?;
            check_member(&st, &principal)?;
            let had = team
                .roles(&principal)?
                .into_iter()
                .find(|(p, _)| *p == pid)
                .map(|(_, r)| r);
            // Owners are made and unmade by owners only.
            if (role == Some(Role::Owner) || had == Some(Role::Owner))
                && !actor.may(&pid, Capability::Ownership)
            {
                return Err(AccessError::NotAllowed {
                    project: pid.clone(),
                    capability: Capability::Ownership.as_str(),
                }
                .into());
            }
            let changed = match role {
                Some(r) => {
                    team.set_role(&principal, &pid, r)?;
                    true
                }
                None => team.remove_role(&principal, &pid)?,
            };
            Ok(((role, changed), json!({ "role": role, "was": had })))
        },
    )
    .await?;
    Ok(no_store(
        HttpResponse::Ok(),
        json!({ "project": id, "principal": req.match_info().get("principal"), "role": role, "changed": changed }),
    ))
}

pub(super) async fn users(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    c.require(DEFAULT_PROJECT, Capability::ManageMembers)?;
    let st = state.clone();
    let users = blocking(move || st.access.team.users()).await?;
    Ok(no_store(HttpResponse::Ok(), json!({ "users": users })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    email: String,
    password: String,
}

pub(super) async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let st = state.clone();
    // The body is read after the role check: a refusal says nothing about it.
    let user = perform(
        &state,
        &c,
        "user.create",
        DEFAULT_PROJECT,
        "",
        Capability::ManageMembers,
        move |_| {
            let b: NewUser = body_of(&body)?;
            if !b.email.contains('@') || b.name.trim().is_empty() {
                return Err(HttpError::input(
                    Code::BadBody,
                    "a user needs a name and an email address",
                ));
            }
            let u = st.access.add_user(&b.name, &b.email, &b.password)?;
            Ok((u.clone(), json!({ "user": u.id })))
        },
    )
    .await?;
    Ok(no_store(HttpResponse::Created(), json!(user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChange {
    name: Option<String>,
    password: Option<String>,
    disabled: Option<bool>,
}

pub(super) async fn update_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let id: i64 = req
        .match_info()
        .get("id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| HttpError::input(Code::BadBody, "user ids are numbers"))?;
    let b: UserChange = body_of(&body)?;
    let st = state.clone();
    let target = format!("user:{id}");
    let user = perform(
        &state,
        &c,
        "user.update",
        DEFAULT_PROJECT,
        &target,
        Capability::ManageMembers,
        move |actor| {
            let a = &st.access;
            a.team.user(id)?;
            // Changing someone's password or switching them off is acting as them: only
            // for a caller whose role covers theirs in every project they belong to.
            for (project, role) in a.team.roles(&format!("user:{id}"))? {
                if !actor.role(&project).is_some_and(|r| r.covers(role)) {
                    return Err(AccessError::NotAllowed {
                        project,
                        capability: Capability::Ownership.as_str(),
                    }
                    .into());
                }
            }
            if let Some(name) = &b.name {
                a.team.rename_user(id, name.trim())?;
            }
            if let Some(p) = &b.password {
                a.set_password(id, p)?;
            }
            if let Some(d) = b.disabled {
                a.team.set_disabled(id, d)?;
            }
            let u = a.team.user(id)?;
            // Which settings changed, never the password itself.
            let detail = json!({
                "name": b.name.is_some(), "password": b.password.is_some(), "disabled": b.disabled,
            });
            Ok((u, detail))
        },
    )
    .await?;
    Ok(no_store(HttpResponse::Ok(), json!(user)))
}

/// Keys the caller made (every key for those who manage members of `default`).
pub(super) async fn keys(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let st = state.clone();
    let body = blocking(move || -> Result<Value, HttpError> {
        let team = &st.access.team;
        let all = c.actor.may(DEFAULT_PROJECT, Capability::ManageMembers);
        let me = c.actor.principal.id();
        let mut out = Vec::new();
        for k in team.keys((!all).then_some(me.as_str()))? {
            let roles: BTreeMap<String, Role> = team
                .roles(&format!("key:{}", k.prefix))?
                .into_iter()
                .collect();
            let mut v = json!(k);
            v["roles"] = json!(roles);
            out.push(v);
        }
        Ok(json!({ "keys": out }))
    })
    .await?;
    Ok(no_store(HttpResponse::Ok(), body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeyBody {
    name: String,
    /// Project → role; each no more than the caller holds there.
    roles: BTreeMap<String, String>,
    /// Unix seconds after which the key stops working.
    expires_at: Option<u64>,
}

/// Makes an API key; its secret is in this answer and nowhere else, ever. Its roles are
/// checked against the caller's by [`crate::access::Access::create_key`].
pub(super) async fn create_key(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let st = state.clone();
    let (secret, key) = perform_unscoped(&state, &c, "key.create", "", move |actor| {
        let b: NewKeyBody = body_of(&body)?;
        let mut roles = BTreeMap::new();
        for (p, r) in &b.roles {
            let role = r
                .parse::<Role>()
                .map_err(|e| HttpError::input(Code::BadBody, e))?;
            roles.insert(p.clone(), role);
        }
        if roles.is_empty() {
            return Err(HttpError::input(
                Code::BadBody,
                "a key needs a role in at least one project",
            ));
        }
        if b.expires_at.is_some_and(|e| e <= st.access.now()) {
            return Err(HttpError::input(Code::Expired, "expires_at is in the past"));
        }
        let (new, key) = st.access.create_key(actor, &b.name, &roles, b.expires_at)?;
        let detail = json!({
            "prefix": key.prefix, "name": key.name, "roles": roles, "expires_at": key.expires_at,
        });
        Ok(((new.secret.clone(), key), detail))
    })
    .await?;
    let mut v = json!(key);
    v["secret"] = json!(secret);
    Ok(no_store(HttpResponse::Created(), v))
}

/// Revokes a key: by the principal that made it, the key itself, or a manager of `default`
/// (giving up what one made needs no role).
pub(super) async fn revoke_key(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let prefix = req
        .match_info()
        .get("prefix")
        .unwrap_or_default()
        .to_string();
    let st = state.clone();
    let target = prefix.clone();
    let revoked = perform_unscoped(&state, &c, "key.revoke", &target, move |actor| {
        let (k, _) = st
            .access
            .team
            .key(&prefix)?
            .ok_or_else(|| TeamError::PrincipalNotFound(format!("key {prefix}")))?;
        let me = &actor.principal;
        let mine = k.created_by == me.id()
            || matches!(me, Principal::Key { prefix: p, .. } if *p == prefix);
        if !mine {
            actor.require(DEFAULT_PROJECT, Capability::ManageMembers)?;
        }
        let r = st.access.team.revoke_key(&prefix, st.access.now())?;
        Ok((r, json!({ "was_live": r })))
    })
    .await?;
    Ok(no_store(
        HttpResponse::Ok(),
        json!({ "prefix": target, "revoked": revoked }),
    ))
}
