//! The team commands of the command line (`tessera projects|users|keys|audit`): a new
//! install bootstraps without HTTP. `tessera data` audits through [`audited`] too. The command line acts as the `cli` principal, an owner
//! of everything (whoever runs it can read the database anyway), and audits like the API.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Access, AccessError, Act, Actor, Origin};
use crate::store::audit::{AuditFilter, to_csv, to_json_lines};
use crate::store::team::ProjectChange;
use crate::team::{DEFAULT_PROJECT, Principal, Role, valid_project};
use crate::template::signing::Keys;

fn cli() -> Actor {
    Actor::superuser(Principal::Cli)
}

/// Runs `work` as the command line and audits it.
pub fn audited<T, E: crate::error::Coded>(
    access: &Access,
    action: &str,
    project: Option<&str>,
    target: &str,
    work: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let origin = Origin {
        request_id: "cli".into(),
        address: "local".into(),
    };
    let act = Act {
        action,
        project,
        target,
    };
    let r = work();
    let outcome = match &r {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("failed:{}", crate::error::Coded::code(e).as_str()),
    };
    access.record(
        Some(&cli()),
        &origin,
        &act,
        &outcome,
        serde_json::Value::Null,
    );
    r
}

pub fn create_project(
    access: &Access,
    id: &str,
    name: Option<&str>,
    four_eyes: bool,
) -> Result<String, AccessError> {
    if !valid_project(id) {
        return Err(AccessError::Refused(
            "project ids are 1 to 32 lowercase letters, digits or '-', starting with a letter",
        ));
    }
    audited(access, "project.create", Some(id), id, || {
        access.team.create_project(
            id,
            name.unwrap_or(id),
            &Keys::generate().to_json(),
            access.now(),
        )?;
        let p = access.team.update_project(
            id,
            &ProjectChange {
                four_eyes: Some(four_eyes),
                ..ProjectChange::default()
            },
        )?;
        Ok(format!(
            "created project {} ({}){}",
            p.id,
            p.name,
            if p.four_eyes { ", four eyes" } else { "" }
        ))
    })
}

pub fn list_projects(access: &Access) -> Result<String, AccessError> {
    let mut out = String::from("id\tname\tfour_eyes\tmonthly_renders\n");
    for p in access.team.projects()? {
        let quota = p.monthly_renders.map_or("-".into(), |q| q.to_string());
        let _ = writeln!(out, "{}\t{}\t{}\t{quota}", p.id, p.name, p.four_eyes);
    }
    Ok(out)
}

/// Adds a user, and gives them `role` in `project` when asked.
pub fn add_user(
    access: &Access,
    name: &str,
    email: &str,
    password: &str,
    role: Option<(&str, Role)>,
) -> Result<String, AccessError> {
    audited(access, "user.create", role.map(|r| r.0), email, || {
        let u = access.add_user(name, email, password)?;
        if let Some((project, role)) = role {
            access
                .team
                .set_role(&format!("user:{}", u.id), project, role)?;
        }
        Ok(format!("added user:{} {}", u.id, u.email))
    })
}

pub fn list_users(access: &Access) -> Result<String, AccessError> {
    let mut out = String::from("id\temail\tname\tdisabled\troles\n");
    for u in access.team.users()? {
        let roles: Vec<String> = access
            .team
            .roles(&format!("user:{}", u.id))?
            .into_iter()
            .map(|(p, r)| format!("{p}:{r}"))
            .collect();
        let _ = writeln!(
            out,
            "user:{}\t{}\t{}\t{}\t{}",
            u.id,
            u.email,
            u.name,
            u.disabled,
            roles.join(",")
        );
    }
    Ok(out)
}

fn user_id(access: &Access, email: &str) -> Result<i64, AccessError> {
    Ok(access
        .team
        .user_by_email(email)?
        .ok_or_else(|| crate::store::team::TeamError::PrincipalNotFound(format!("user {email}")))?
        .0
        .id)
}

pub fn set_password(access: &Access, email: &str, password: &str) -> Result<String, AccessError> {
    let id = user_id(access, email)?;
    audited(access, "user.update", None, &format!("user:{id}"), || {
        access.set_password(id, password)?;
        Ok(format!("password of user:{id} changed"))
    })
}

pub fn set_disabled(access: &Access, email: &str, disabled: bool) -> Result<String, AccessError> {
    let id = user_id(access, email)?;
    audited(access, "user.update", None, &format!("user:{id}"), || {
        access.team.set_disabled(id, disabled)?;
        Ok(format!(
            "user:{id} {}",
            if disabled { "disabled" } else { "enabled" }
        ))
    })
}

/// Gives a user or key a role in a project (`member` is `user:N`, `key:tsk_…` or an email).
pub fn grant(
    access: &Access,
    member: &str,
    project: &str,
    role: Role,
) -> Result<String, AccessError> {
    let principal = if member.contains('@') {
        format!("user:{}", user_id(access, member)?)
    } else {
        member.to_string()
    };
    audited(access, "member.set", Some(project), &principal, || {
        access.team.set_role(&principal, project, role)?;
        Ok(format!("{principal} is {role} in {project}"))
    })
}

/// Makes a key; the answer holds the secret, printed once.
pub fn create_key(
    access: &Access,
    name: &str,
    roles: &BTreeMap<String, Role>,
    expires_at: Option<u64>,
) -> Result<String, AccessError> {
    let first = roles.keys().next().map_or(DEFAULT_PROJECT, String::as_str);
    audited(access, "key.create", Some(first), name, || {
        let (new, key) = access.create_key(&cli(), name, roles, expires_at)?;
        Ok(format!(
            "{}\n# key {} ({name}): the secret above is shown this once; store it now",
            new.secret, key.prefix
        ))
    })
}

pub fn list_keys(access: &Access) -> Result<String, AccessError> {
    let mut out =
        String::from("prefix\tname\tcreated_by\texpires_at\tlast_used_at\trevoked\troles\n");
    for k in access.team.keys(None)? {
        let roles: Vec<String> = access
            .team
            .roles(&format!("key:{}", k.prefix))?
            .into_iter()
            .map(|(p, r)| format!("{p}:{r}"))
            .collect();
        let t = |v: Option<u64>| v.map_or("-".into(), |v| v.to_string());
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            k.prefix,
            k.name,
            k.created_by,
            t(k.expires_at),
            t(k.last_used_at),
            k.revoked_at.is_some(),
            roles.join(",")
        );
    }
    Ok(out)
}

pub fn revoke_key(access: &Access, prefix: &str) -> Result<String, AccessError> {
    audited(access, "key.revoke", None, prefix, || {
        let live = access.team.revoke_key(prefix, access.now())?;
        Ok(if live {
            format!("revoked {prefix}")
        } else {
            format!("{prefix} was already revoked")
        })
    })
}

/// The audit trail as CSV or JSON Lines.
pub fn export_audit(
    access: &Access,
    filter: &AuditFilter,
    jsonl: bool,
) -> Result<String, AccessError> {
    let rows = access.audit_rows(filter)?;
    if jsonl {
        Ok(to_json_lines(&rows))
    } else {
        to_csv(&rows).map_err(|e| {
            AccessError::Refused(if e.is_io_error() {
                "write failed"
            } else {
                "csv"
            })
        })
    }
}
