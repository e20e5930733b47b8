//! Who is asking, over HTTP: the credential of a request (bearer token or key, or the
//! session cookie with its CSRF header), its request id and client address, and
//! [`perform`] — the one path every state-changing admin action takes: check the role,
//! run, and leave one audit row however it ends.

use actix_web::http::{Method, header};
use actix_web::{HttpMessage, HttpRequest};
use serde_json::Value;

use super::HttpError;
use super::state::{AppState, RouteName, blocking};
use crate::access::{AccessError, Act, Actor, Credential, Origin};
use crate::error::{Code, Coded};
use crate::team::{Capability, Principal};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tessera_session";

/// The request id the request-log middleware gave this request.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// An authenticated request: its actor and where it came from.
pub struct Caller {
    pub actor: Actor,
    pub origin: Origin,
}

impl Caller {
    /// Refuses (403) unless the actor may do `capability` in `project`. For reads: nothing
    /// is audited.
    pub fn require(&self, project: &str, capability: Capability) -> Result<(), HttpError> {
        self.actor.require(project, capability)?;
        Ok(())
    }
}

/// Where the request came from: its id and the peer address (not a forwarded header, which
/// anyone can write).
pub fn origin(req: &HttpRequest) -> Origin {
    Origin {
        request_id: req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default(),
        address: req
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
    }
}

fn changes_state(req: &HttpRequest) -> bool {
    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Authenticates the request (401 without valid credentials; 403 for a session without its
/// CSRF token on a state-changing request; 429 for a key over its rate). A refused
/// state-changing request is audited as anonymous.
pub async fn caller(req: &HttpRequest, state: &AppState) -> Result<Caller, HttpError> {
    req.extensions_mut().insert(RouteName("admin"));
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string());
    let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
    let csrf = req
        .headers()
        .get("X-CSRF-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let writes = changes_state(req);
    let from = origin(req);
    let access = state.access.clone();
    let path = req.path().to_string();
    let refused_from = from.clone();
    let actor = blocking(move || {
        let credential = match (&bearer, &cookie) {
            (Some(b), _) => Credential::Bearer(b),
            (None, Some(id)) => Credential::Session {
                id,
                csrf: csrf.as_deref(),
            },
            (None, None) => Credential::None,
        };
        let result = access.authenticate(credential, writes);
        if let (Err(e), true) = (&result, writes) {
            let act = Act {
                action: "auth.refused",
                project: None,
                target: &path,
            };
            access.record(
                None,
                &refused_from,
                &act,
                &format!("refused:{}", e.code().as_str()),
                Value::Null,
            );
        }
        result
    })
    .await;
    // The bucket's state goes on the answer, a 429 included (`RateLimit-*`).
    match &actor {
        Ok(Actor { rate: Some(r), .. }) | Err(HttpError::Access(AccessError::RateLimited(r))) => {
            req.extensions_mut().insert(*r);
        }
        _ => {}
    }
    let actor = actor?;
    // The break-glass token is audited on every use (its actions get their own rows too).
    if actor.principal == Principal::Token {
        let (access, token, from) = (state.access.clone(), actor.clone(), from.clone());
        let target = req.path().to_string();
        blocking(move || -> Result<(), HttpError> {
            let act = Act {
                action: "token.use",
                project: None,
                target: &target,
            };
            access.record(Some(&token), &from, &act, "ok", Value::Null);
            Ok(())
        })
        .await?;
    }
    Ok(Caller {
        actor,
        origin: from,
    })
}

/// A state-changing action: checks `capability` in the action's project (a refusal is
/// audited and answered 403), runs `work` on the blocking pool, and audits how it ended
/// (`ok`, or `failed:<code>`). `work` returns its result and the audit row's detail.
pub async fn perform<T: Send + 'static>(
    state: &AppState,
    caller: &Caller,
    action: &'static str,
    project: &str,
    target: &str,
    capability: Capability,
    work: impl FnOnce(&Actor) -> Result<(T, Value), HttpError> + Send + 'static,
) -> Result<T, HttpError> {
    let check = Some((project.to_string(), capability));
    run(state, caller, action, check, target, work).await
}

/// Checks `capability` before a write's input is read or checked, auditing a refusal as
/// [`perform`] does: who may not act learns that first, whatever they sent. `perform` then
/// runs the action.
pub async fn admit(
    state: &AppState,
    caller: &Caller,
    action: &'static str,
    (project, target): (&str, &str),
    capability: Capability,
) -> Result<(), HttpError> {
    if caller.require(project, capability).is_ok() {
        return Ok(());
    }
    let check = Some((project.to_string(), capability));
    // The check refuses, so the work never runs; it refuses too should roles change between.
    let refuse = |_: &Actor| Err(HttpError::input(Code::NotAllowed, "not allowed"));
    run::<()>(state, caller, action, check, target, refuse).await
}

/// [`perform`] for an action of no one project (API keys span several): `work` checks what
/// the caller may do itself; the row names no project.
pub async fn perform_unscoped<T: Send + 'static>(
    state: &AppState,
    caller: &Caller,
    action: &'static str,
    target: &str,
    work: impl FnOnce(&Actor) -> Result<(T, Value), HttpError> + Send + 'static,
) -> Result<T, HttpError> {
    run(state, caller, action, None, target, work).await
}

async fn run<T: Send + 'static>(
    state: &AppState,
    caller: &Caller,
    action: &'static str,
    check: Option<(String, Capability)>,
    target: &str,
    work: impl FnOnce(&Actor) -> Result<(T, Value), HttpError> + Send + 'static,
) -> Result<T, HttpError> {
    let access = state.access.clone();
    let actor = caller.actor.clone();
    let origin = caller.origin.clone();
    let target = target.to_string();
    blocking(move || {
        let act = Act {
            action,
            project: check.as_ref().map(|(p, _)| p.as_str()),
            target: &target,
        };
        let allowed = match &check {
            Some((project, capability)) => actor.require(project, *capability).map(|_| ()),
            None => Ok(()),
        };
        let result = allowed.map_err(HttpError::from).and_then(|()| work(&actor));
        match result {
            Ok((value, detail)) => {
                access.record(Some(&actor), &origin, &act, "ok", detail);
                Ok(value)
            }
            Err(e) => {
                // A role that does not allow it is a refusal; anything else a failure.
                let how = if e.code() == Code::NotAllowed {
                    "refused"
                } else {
                    "failed"
                };
                let outcome = format!("{how}:{}", e.code().as_str());
                access.record(Some(&actor), &origin, &act, &outcome, Value::Null);
                Err(e)
            }
        }
    })
    .await
}
