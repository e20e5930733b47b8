//! The access service: who is asking (the break-glass `admin.token`, an API key, or a
//! sign-in session), what their roles let them do in each project ([`crate::team`]'s one
//! capability table), and the audit row every state-changing action leaves — refusals too.
//! Blocking (SQLite, Argon2): the HTTP edge calls it on the blocking pool.

pub mod commands;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::auth::{
    AuthError, LoginThrottle, NewKey, RateDecision, RateLimiter, ThrottleSettings, check_policy,
    hash_password, hash_secret, key_prefix, new_api_key, new_csrf_token, new_session,
    verify_nobody, verify_password,
};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Code, Coded};
use crate::store::StoreError;
use crate::store::audit::{AuditFilter, AuditLog, AuditRecord};
use crate::store::team::{ApiKey, TeamError, TeamStore, User};
use crate::team::{Capability, DEFAULT_PROJECT, Principal, Role};

/// Why a request was not let through.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("sign in, or send Authorization: Bearer <API key or admin.token>")]
    Unauthenticated,
    #[error("{0}")]
    BadCredentials(&'static str),
    #[error("wrong email or password")]
    BadLogin,
    #[error("your role in project '{project}' does not allow {capability}")]
    NotAllowed {
        project: String,
        capability: &'static str,
    },
    #[error("{0}")]
    Refused(&'static str),
    #[error("state-changing requests with a session need the X-CSRF-Token header of that session")]
    Csrf,
    #[error("too many failed sign-ins: retry in {0} s")]
    Throttled(u64),
    #[error("too many requests for this API key: retry in {} s", .0.retry_after_secs.unwrap_or(1))]
    RateLimited(RateDecision),
    #[error(transparent)]
    Team(#[from] TeamError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<StoreError> for AccessError {
    fn from(e: StoreError) -> Self {
        AccessError::Team(e.into())
    }
}

impl Coded for AccessError {
    fn code(&self) -> Code {
        match self {
            AccessError::Unauthenticated
            | AccessError::BadCredentials(_)
            | AccessError::BadLogin => Code::Unauthorized,
            AccessError::NotAllowed { .. } | AccessError::Refused(_) => Code::NotAllowed,
            AccessError::Csrf => Code::CsrfRefused,
            AccessError::Throttled(_) => Code::LoginThrottled,
            AccessError::RateLimited(_) => Code::RateLimited,
            AccessError::Team(e) => e.code(),
            AccessError::Auth(e) => e.code(),
        }
    }
}

impl AccessError {
    /// Seconds to wait before retrying, for 429s.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AccessError::Throttled(s) => Some(*s),
            AccessError::RateLimited(d) => Some(d.retry_after_secs.unwrap_or(1)),
            _ => None,
        }
    }
}

/// Audit rows per minute for refused requests without a principal, per client address.
const ANONYMOUS_ROWS_PER_MINUTE: u32 = 30;

/// What a principal may act on: everything, or one role per project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roles {
    /// `admin.token` and the local command line: owner of every project.
    All,
    Some(BTreeMap<String, Role>),
}

/// An authenticated principal and its roles, for one request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub principal: Principal,
    pub roles: Roles,
    /// The session's id hash and CSRF token, when signed in with a cookie.
    pub session: Option<(String, String)>,
    /// The API key's rate-limit state, for the `RateLimit-*` headers.
    pub rate: Option<RateDecision>,
}

impl Actor {
    /// The break-glass or command-line actor: owner of everything.
    pub fn superuser(principal: Principal) -> Actor {
        Actor {
            principal,
            roles: Roles::All,
            session: None,
            rate: None,
        }
    }

    /// The same principal, holding nothing: for audit rows that are not project actions.
    pub fn without_roles(&self) -> Actor {
        Actor {
            roles: Roles::Some(BTreeMap::new()),
            ..self.clone()
        }
    }

    /// The role held in `project`.
    pub fn role(&self, project: &str) -> Option<Role> {
        match &self.roles {
            Roles::All => Some(Role::Owner),
            Roles::Some(map) => map.get(project).copied(),
        }
    }

    pub fn may(&self, project: &str, capability: Capability) -> bool {
        self.role(project).is_some_and(|r| r.may(capability))
    }

    /// `Ok(role)` when allowed, else why not.
    pub fn require(&self, project: &str, capability: Capability) -> Result<Role, AccessError> {
        match self.role(project) {
            Some(r) if r.may(capability) => Ok(r),
            _ => Err(AccessError::NotAllowed {
                project: project.to_string(),
                capability: capability.as_str(),
            }),
        }
    }

    /// The projects this actor holds a role in (`None`: every project).
    pub fn projects(&self) -> Option<Vec<(String, Role)>> {
        match &self.roles {
            Roles::All => None,
            Roles::Some(map) => Some(map.iter().map(|(p, r)| (p.clone(), *r)).collect()),
        }
    }
}

/// The credential a request carries.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    Bearer(&'a str),
    /// The session cookie's value, and the `X-CSRF-Token` header if any.
    Session {
        id: &'a str,
        csrf: Option<&'a str>,
    },
    None,
}

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub request_id: String,
    pub address: String,
}

/// One action for the audit trail.
#[derive(Debug, Clone)]
pub struct Act<'a> {
    pub action: &'a str,
    pub project: Option<&'a str>,
    pub target: &'a str,
}

/// A new session: the cookie value (shown once), its CSRF token, the user.
pub struct NewSession {
    pub id: String,
    pub csrf: String,
    pub user: User,
}

/// Session lifetimes, seconds.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub idle: u64,
    pub absolute: u64,
}

/// Authentication, roles and the audit trail, built once at start-up.
pub struct Access {
    pub team: TeamStore,
    pub audit: AuditLog,
    admin_token: crate::config::Secret,
    throttle: LoginThrottle,
    limiter: RateLimiter,
    /// Rows for refused requests without a principal, per client address: an append-only
    /// table must not be fillable by anyone on the network.
    anonymous_rows: RateLimiter,
    /// One sign-in per account at a time, so parallel guesses all meet the throttle.
    signing_in: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    pub sessions: SessionLimits,
    clock: Arc<dyn Clock>,
}

impl Access {
    pub fn open(config: &Config, clock: Arc<dyn Clock>) -> Result<Access, StoreError> {
        // The decoy hash for unknown emails is made once; make it now (tens of milliseconds,
        // at start-up), so no sign-in is slower for being the first.
        verify_nobody("");
        let path = config.catalogue_path();
        let a = &config.auth;
        Ok(Access {
            team: TeamStore::open(&path)?,
            audit: AuditLog::open(&path)?,
            admin_token: config.admin.token.clone(),
            throttle: LoginThrottle::new(
                ThrottleSettings {
                    free_failures: a.login_free_failures,
                    address_free_failures: a.login_address_free_failures,
                    base_delay_secs: 1,
                    max_delay_secs: a.login_max_delay_seconds,
                },
                clock.clone(),
            ),
            limiter: RateLimiter::new(a.key_requests_per_minute, a.key_burst, clock.clone()),
            anonymous_rows: RateLimiter::new(
                ANONYMOUS_ROWS_PER_MINUTE,
                ANONYMOUS_ROWS_PER_MINUTE,
                clock.clone(),
            ),
            signing_in: Mutex::new(HashMap::new()),
            sessions: SessionLimits {
                idle: a.session_idle_minutes * 60,
                absolute: a.session_absolute_hours * 3600,
            },
            clock,
        })
    }

    pub fn now(&self) -> u64 {
        self.clock.unix_now()
    }

    /// Who `credential` names. `changes_state`: the request is not a read, so a session
    /// must show its CSRF token.
    pub fn authenticate(
        &self,
        credential: Credential,
        changes_state: bool,
    ) -> Result<Actor, AccessError> {
        match credential {
            Credential::None => Err(AccessError::Unauthenticated),
            Credential::Bearer(secret) => {
                let token = self.admin_token.as_bytes();
                // Constant time: how much of a guess matched must not show in the timing.
                if !token.is_empty() && bool::from(secret.as_bytes().ct_eq(token)) {
                    return Ok(Actor::superuser(Principal::Token));
                }
                self.key_actor(secret)
            }
            Credential::Session { id, csrf } => {
                let (actor, expected) = self.session_actor(id)?;
                if changes_state {
                    let given = csrf.unwrap_or_default().as_bytes();
                    if !bool::from(given.ct_eq(expected.as_bytes())) {
                        return Err(AccessError::Csrf);
                    }
                }
                Ok(actor)
            }
        }
    }

    fn key_actor(&self, secret: &str) -> Result<Actor, AccessError> {
        let bad = AccessError::BadCredentials("unknown, revoked or expired API key");
        let prefix = key_prefix(secret).ok_or(bad)?;
        let (key, stored) = self.team.key(prefix)?.ok_or(AccessError::BadCredentials(
            "unknown, revoked or expired API key",
        ))?;
        let given = hash_secret(secret);
        let now = self.now();
        if !bool::from(given.as_bytes().ct_eq(stored.as_bytes()))
            || key.revoked_at.is_some()
            || key.expires_at.is_some_and(|e| e <= now)
        {
            return Err(AccessError::BadCredentials(
                "unknown, revoked or expired API key",
            ));
        }
        let principal = Principal::Key {
            id: key.id,
            prefix: key.prefix.clone(),
        };
        let roles = self.key_roles(&key)?;
        let rate = self.limiter.take(&key.prefix);
        if !rate.allowed {
            return Err(AccessError::RateLimited(rate));
        }
        // Last use to the minute: a busy key must not write on every request.
        if key.last_used_at.is_none_or(|t| now >= t + 60) {
            self.team.touch_key(key.id, now)?;
        }
        Ok(Actor {
            principal,
            roles,
            session: None,
            rate: Some(rate),
        })
    }

    /// A key's roles, each only while the principal that made it still covers it (a key never
    /// holds more than its maker; a disabled maker's keys hold nothing).
    fn key_roles(&self, key: &ApiKey) -> Result<Roles, AccessError> {
        let own = self.team.roles(&format!("key:{}", key.prefix))?;
        let maker = self.roles_of_id(&key.created_by)?;
        let kept = own
            .into_iter()
            .filter(|(project, role)| match &maker {
                Roles::All => true,
                Roles::Some(m) => m.get(project).is_some_and(|r| r.covers(*role)),
            })
            .collect();
        Ok(Roles::Some(kept))
    }

    /// The roles of a principal id as stored (`user:3`, `token`, `cli`).
    fn roles_of_id(&self, id: &str) -> Result<Roles, AccessError> {
        if id == "token" || id == "cli" {
            return Ok(Roles::All);
        }
        if let Some(user) = id.strip_prefix("user:").and_then(|n| n.parse::<i64>().ok()) {
            match self.team.user(user) {
                Ok(u) if !u.disabled => {}
                Ok(_) | Err(TeamError::PrincipalNotFound(_)) => {
                    return Ok(Roles::Some(BTreeMap::new()));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Roles::Some(self.team.roles(id)?.into_iter().collect()))
    }

    fn session_actor(&self, id: &str) -> Result<(Actor, String), AccessError> {
        let expired = AccessError::BadCredentials("the session has ended: sign in again");
        let id_hash = hash_secret(id);
        let session = self.team.session(&id_hash)?.ok_or(expired)?;
        let now = self.now();
        if now >= session.seen_at + self.sessions.idle
            || now >= session.created_at + self.sessions.absolute
        {
            self.team.end_session(&id_hash)?;
            return Err(AccessError::BadCredentials(
                "the session has ended: sign in again",
            ));
        }
        let user = self.team.user(session.user_id)?;
        if user.disabled {
            return Err(AccessError::BadCredentials("this account is disabled"));
        }
        if now > session.seen_at {
            self.team.touch_session(&id_hash, now)?;
        }
        let principal = Principal::User {
            id: user.id,
            email: user.email,
        };
        let roles = self.roles_of_id(&principal.id())?;
        let csrf = session.csrf.clone();
        Ok((
            Actor {
                principal,
                roles,
                session: Some((id_hash, session.csrf)),
                rate: None,
            },
            csrf,
        ))
    }

    /// Signs in: slowed per account and per address, and the answer for an unknown email is
    /// the answer for a wrong password, after the same work.
    pub fn login(
        &self,
        email: &str,
        password: &str,
        address: &str,
    ) -> Result<NewSession, AccessError> {
        let account = email.trim().to_lowercase();
        let turn = {
            let mut map = self.signing_in.lock().expect("sign-in lock");
            // Forget accounts nobody is signing in to (bounded memory).
            if map.len() > 10_000 {
                map.retain(|_, l| Arc::strong_count(l) > 1);
            }
            map.entry(account.clone()).or_default().clone()
        };
        let _turn = turn.lock().expect("account sign-in lock");
        self.throttle
            .check(&account, address)
            .map_err(AccessError::Throttled)?;
        let found = self.team.user_by_email(&account)?;
        let ok = match &found {
            Some((user, hash)) => verify_password(hash, password) && !user.disabled,
            None => {
                verify_nobody(password);
                false
            }
        };
        let Some((user, _)) = found.filter(|_| ok) else {
            self.throttle.failed(&account, address);
            return Err(AccessError::BadLogin);
        };
        self.throttle.succeeded(&account, address);
        let now = self.now();
        self.team.prune_sessions(
            now.saturating_sub(self.sessions.idle),
            now.saturating_sub(self.sessions.absolute),
        )?;
        let (id, id_hash) = new_session();
        let csrf = new_csrf_token();
        self.team
            .create_session(&id_hash, user.id, &csrf, self.now())?;
        Ok(NewSession { id, csrf, user })
    }

    /// Ends a session (the cookie's value).
    pub fn logout(&self, id: &str) -> Result<(), AccessError> {
        Ok(self.team.end_session(&hash_secret(id))?)
    }

    /// Adds a user with a password (checked against the policy, stored as Argon2id).
    pub fn add_user(&self, name: &str, email: &str, password: &str) -> Result<User, AccessError> {
        check_policy(password)?;
        let hash = hash_password(password)?;
        Ok(self
            .team
            .add_user(name.trim(), email.trim(), &hash, self.now())?)
    }

    pub fn set_password(&self, user: i64, password: &str) -> Result<(), AccessError> {
        check_policy(password)?;
        Ok(self.team.set_password(user, &hash_password(password)?)?)
    }

    /// Makes an API key holding `roles`, each no more than `maker` holds there.
    pub fn create_key(
        &self,
        maker: &Actor,
        name: &str,
        roles: &BTreeMap<String, Role>,
        expires_at: Option<u64>,
    ) -> Result<(NewKey, ApiKey), AccessError> {
        if matches!(maker.principal, Principal::Key { .. }) {
            return Err(AccessError::Refused(
                "API keys cannot make keys: a key's powers end with the person who made it",
            ));
        }
        for (project, role) in roles {
            self.team.project(project)?;
            if !maker.role(project).is_some_and(|r| r.covers(*role)) {
                return Err(AccessError::Refused(
                    "a key cannot hold more than the principal that makes it",
                ));
            }
        }
        let new = new_api_key();
        let key = self.team.add_key(
            &new.prefix,
            &new.hash,
            name,
            &maker.principal.id(),
            self.now(),
            expires_at,
        )?;
        for (project, role) in roles {
            self.team
                .set_role(&format!("key:{}", key.prefix), project, *role)?;
        }
        Ok((new, key))
    }

    /// The person behind an actor, for four eyes: a key counts as the user who made it, so
    /// nobody approves their own submission through their own key. (Keys made with the
    /// token or the command line are service accounts: each counts as itself.)
    pub fn person(&self, actor: &Actor) -> Result<String, AccessError> {
        Ok(match &actor.principal {
            Principal::Key { prefix, .. } => match self.team.key(prefix)? {
                Some((key, _)) if key.created_by.starts_with("user:") => key.created_by,
                _ => actor.principal.id(),
            },
            other => other.id(),
        })
    }

    /// Appends one audit row for `act` by `actor` (or an anonymous caller) with `outcome`.
    /// A failure to write is logged loudly: the action has happened.
    pub fn record(
        &self,
        actor: Option<&Actor>,
        origin: &Origin,
        act: &Act,
        outcome: &str,
        detail: Value,
    ) {
        let (principal, name, role) = match actor {
            Some(a) => (
                a.principal.id(),
                a.principal.name(),
                act.project
                    .or(Some(DEFAULT_PROJECT))
                    .and_then(|p| a.role(p))
                    .map_or("none", |r| r.as_str()),
            ),
            None => {
                if !self.anonymous_rows.take(&origin.address).allowed {
                    tracing::warn!(
                        action = act.action,
                        "anonymous refusals over their row rate: not audited"
                    );
                    return;
                }
                ("anonymous".into(), "anonymous".into(), "none")
            }
        };
        let row = AuditRecord {
            id: 0,
            at: self.now(),
            request_id: origin.request_id.clone(),
            principal,
            principal_name: name,
            role: role.to_string(),
            project: act.project.map(str::to_string),
            action: act.action.to_string(),
            target: act.target.to_string(),
            address: origin.address.clone(),
            outcome: outcome.to_string(),
            detail,
        };
        if let Err(e) = self.audit.append(&row) {
            tracing::error!(error = %e, action = act.action, "could not write the audit row");
        }
    }

    /// Audit rows.
    pub fn audit_rows(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, AccessError> {
        Ok(self.audit.query(filter)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::config::Overrides;

    fn access(dir: &std::path::Path, clock: Arc<FixedClock>) -> Access {
        let overrides = Overrides {
            file: None,
            settings: vec!["admin.token=\"break-glass\"".into()],
        };
        let config = Config::load(&overrides, Vec::new())
            .unwrap()
            .with_paths_under(dir);
        Access::open(&config, clock).unwrap()
    }

    fn roles(pairs: &[(&str, Role)]) -> BTreeMap<String, Role> {
        pairs.iter().map(|(p, r)| (p.to_string(), *r)).collect()
    }

    #[test]
    fn keys_expire_lose_what_their_maker_loses_and_sessions_end() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::at(1_000));
        let a = access(dir.path(), clock.clone());
        let ana = a
            .add_user("Ana", "ana@example.com", "correct horse battery")
            .unwrap();
        a.team
            .set_role(&format!("user:{}", ana.id), "default", Role::Admin)
            .unwrap();
        let token = a
            .authenticate(Credential::Bearer("break-glass"), true)
            .unwrap();
        assert_eq!(token.roles, Roles::All);

        // Ana's key, expiring at 1 100.
        let maker = a
            .authenticate(Credential::Bearer("break-glass"), false)
            .unwrap();
        let (short, _) = a
            .create_key(
                &maker,
                "short",
                &roles(&[("default", Role::Viewer)]),
                Some(1_100),
            )
            .unwrap();
        assert!(
            a.authenticate(Credential::Bearer(&short.secret), false)
                .is_ok()
        );
        clock.set(1_100);
        assert!(matches!(
            a.authenticate(Credential::Bearer(&short.secret), false),
            Err(AccessError::BadCredentials(_))
        ));

        // A key made by Ana holds her designer powers only while she has them.
        let session = a
            .login("ana@example.com", "correct horse battery", "127.0.0.1")
            .unwrap();
        let (ana_actor, _) = a.session_actor(&session.id).unwrap();
        assert!(
            a.create_key(
                &ana_actor,
                "too much",
                &roles(&[("default", Role::Owner)]),
                None
            )
            .is_err()
        );
        let (k, _) = a
            .create_key(
                &ana_actor,
                "mine",
                &roles(&[("default", Role::Designer)]),
                None,
            )
            .unwrap();
        let key_actor = a
            .authenticate(Credential::Bearer(&k.secret), false)
            .unwrap();
        assert_eq!(key_actor.role("default"), Some(Role::Designer));
        a.team.set_disabled(ana.id, true).unwrap();
        let key_actor = a
            .authenticate(Credential::Bearer(&k.secret), false)
            .unwrap();
        assert_eq!(
            key_actor.role("default"),
            None,
            "a disabled maker's keys hold nothing"
        );
        assert!(
            a.session_actor(&session.id).is_err(),
            "disabling ends sessions"
        );

        // Sessions end when idle too long, and after the absolute limit.
        a.team.set_disabled(ana.id, false).unwrap();
        let s = a
            .login("ana@example.com", "correct horse battery", "127.0.0.1")
            .unwrap();
        let idle = a.sessions.idle;
        clock.set(1_100 + idle - 1);
        assert!(a.session_actor(&s.id).is_ok());
        clock.set(1_100 + 2 * idle - 2);
        assert!(a.session_actor(&s.id).is_ok(), "seen recently: still on");
        clock.set(1_100 + 3 * idle);
        assert!(a.session_actor(&s.id).is_err(), "idle too long");
        let s = a
            .login("ana@example.com", "correct horse battery", "127.0.0.1")
            .unwrap();
        let start = clock.unix_now();
        let mut t = start;
        while t < start + a.sessions.absolute {
            assert!(a.session_actor(&s.id).is_ok());
            t += idle / 2;
            clock.set(t);
        }
        assert!(a.session_actor(&s.id).is_err(), "absolute limit");
    }
}
