//! Sign-in sessions for the Studio: `POST /auth/login` sets an HttpOnly, SameSite=Strict
//! cookie (Secure when the public URL is https) and returns the session's CSRF token, which
//! every state-changing request made with the cookie must send as `X-CSRF-Token`.
//! `GET /auth/session` says who is signed in; `POST /auth/logout` ends it.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::HttpError;
use super::access::{SESSION_COOKIE, caller, origin};
use super::respond::{base_url, no_store};
use super::state::{AppState, RouteName, blocking};
use crate::access::{AccessError, Act};
use crate::error::{Code, Coded};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
}

fn cookie<'a>(state: &AppState, value: String, max_age: i64) -> Cookie<'a> {
    let mut c = Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.config.server.base_url.starts_with("https://"))
        .finish();
    c.set_max_age(CookieDuration::seconds(max_age));
    c
}

/// Signs in. A wrong password and an unknown email get the same answer after the same work;
/// failures are slowed per account and per client address.
pub(super) async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    req.extensions_mut().insert(RouteName("auth"));
    // JSON only: a cross-site form can post text/plain but not application/json, so no other
    // site can sign a visitor in to an account of its choosing.
    let json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(HttpError::input(
            Code::BadBody,
            "sign in with Content-Type: application/json",
        ));
    }
    let b: Login = serde_json::from_slice(&body)
        .map_err(|_| HttpError::input(Code::BadBody, "send {\"email\": …, \"password\": …}"))?;
    let origin = origin(&req);
    let access = state.access.clone();
    let new = blocking(move || {
        let result = access.login(&b.email, &b.password, &origin.address);
        // The target is the user on success; on failure nothing typed is kept (a password
        // typed into the email box must not land in the audit trail).
        let (target, outcome) = match &result {
            Ok(s) => (format!("user:{}", s.user.id), "ok".to_string()),
            Err(e) => (String::new(), format!("refused:{}", e.code().as_str())),
        };
        let actor = result.as_ref().ok().map(|s| {
            crate::access::Actor::superuser(crate::team::Principal::User {
                id: s.user.id,
                email: s.user.email.clone(),
            })
        });
        let act = Act {
            action: "auth.login",
            project: None,
            target: &target,
        };
        // The role column of a sign-in says nothing: sign-ins are not project actions.
        access.record(
            actor.as_ref().map(|a| a.without_roles()).as_ref(),
            &origin,
            &act,
            &outcome,
            Value::Null,
        );
        result.map_err(HttpError::from)
    })
    .await?;
    let max_age = state.access.sessions.absolute as i64;
    Ok(HttpResponse::Ok()
        .cookie(cookie(&state, new.id, max_age))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "user": new.user,
            "csrf_token": new.csrf,
        })))
}

/// Who is signed in (or which key or token is used), their roles, and the CSRF token.
pub(super) async fn session(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    // A browser that carries no credential at all is simply not signed in: an answer, not a
    // refusal (Studio asks this first on every visit). A bad credential is still refused.
    if req.cookie(SESSION_COOKIE).is_none() && req.headers().get("Authorization").is_none() {
        req.extensions_mut().insert(RouteName("admin"));
        return Ok(no_store(HttpResponse::Ok(), json!({ "signed_in": false })));
    }
    let c = caller(&req, &state).await?;
    let roles = c.actor.projects().map(|list| {
        list.into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
    });
    // What each role allows, so Studio shows only what the caller may do.
    let capabilities = roles.as_ref().map(|r| {
        r.iter()
            .map(|(p, role)| (p.clone(), role.capabilities().map(|c| c.as_str()).collect()))
            .collect::<std::collections::BTreeMap<_, Vec<_>>>()
    });
    // A person is greeted by name; keys and the token by what identifies them.
    let (name, email) = match &c.actor.principal {
        crate::team::Principal::User { id, email } => {
            let (st, id) = (state.clone(), *id);
            let user = blocking(move || st.access.team.user(id)).await?;
            (user.name, Some(email.clone()))
        }
        p => (p.name(), None),
    };
    Ok(no_store(
        HttpResponse::Ok(),
        json!({
            "signed_in": true,
            "principal": c.actor.principal.id(),
            "name": name,
            "email": email,
            "roles": roles,
            "capabilities": capabilities,
            "all_projects": roles.is_none(),
            "csrf_token": c.actor.session.as_ref().map(|(_, csrf)| csrf),
            "iiif": base_url(&req, &state),
            "max_upload_bytes": state.config.templates.max_upload_bytes,
        }),
    ))
}

/// Ends the session (a state-changing request: it needs the CSRF token).
pub(super) async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let c = caller(&req, &state).await?;
    let Some((id_hash, _)) = c.actor.session.clone() else {
        return Err(AccessError::BadCredentials("not signed in with a session").into());
    };
    let access = state.access.clone();
    let actor = c.actor.clone();
    let origin = c.origin.clone();
    blocking(move || -> Result<(), HttpError> {
        access.team.end_session(&id_hash)?;
        let act = Act {
            action: "auth.logout",
            project: None,
            target: &actor.principal.id(),
        };
        access.record(
            Some(&actor.without_roles()),
            &origin,
            &act,
            "ok",
            Value::Null,
        );
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok()
        .cookie(cookie(&state, String::new(), 0))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(json!({ "signed_out": true })))
}
