//! The team tables: projects and their settings, users, API keys, who holds which role in
//! which project, and sign-in sessions. Pure persistence: who may do what is decided by
//! [`crate::team`]; secrets arrive here already hashed.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{StoreError, open_database};
use crate::error::{Code, Coded};
use crate::team::Role;

/// A project and its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    /// Publishing needs a review by someone other than the submitter.
    pub four_eyes: bool,
    /// Cold renders allowed per calendar month (UTC); `None`: no quota.
    pub monthly_renders: Option<u64>,
    /// Cold renders per template per minute; `None`: `templates.renders_per_minute`.
    pub renders_per_minute: Option<u32>,
    pub created_at: u64,
}

/// What a settings change may set; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectChange {
    pub name: Option<String>,
    pub four_eyes: Option<bool>,
    pub monthly_renders: Option<Option<u64>>,
    pub renders_per_minute: Option<Option<u32>>,
}

/// A member of a project, as the members list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub principal: String,
    pub role: Role,
    /// The user's or key's name.
    pub name: Option<String>,
    /// A user's email.
    pub email: Option<String>,
}

/// A person who signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub disabled: bool,
    pub created_at: u64,
}

/// An API key, without its secret (only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: i64,
    /// The first characters of the secret, shown so people can tell keys apart.
    pub prefix: String,
    pub name: String,
    /// The principal that made it (`user:3`, `token`, `cli`).
    pub created_by: String,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub last_used_at: Option<u64>,
    pub revoked_at: Option<u64>,
}

/// A stored sign-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: i64,
    pub csrf: String,
    pub created_at: u64,
    pub seen_at: u64,
}

/// Why a team operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no project '{0}'")]
    ProjectNotFound(String),
    #[error("no {0}")]
    PrincipalNotFound(String),
    #[error("{0} exists already")]
    Conflict(String),
}

impl From<rusqlite::Error> for TeamError {
    fn from(e: rusqlite::Error) -> Self {
        TeamError::Store(StoreError::Sqlite(e))
    }
}

impl Coded for TeamError {
    fn code(&self) -> Code {
        match self {
            TeamError::Store(e) => e.code(),
            TeamError::ProjectNotFound(_) => Code::ProjectNotFound,
            TeamError::PrincipalNotFound(_) => Code::PrincipalNotFound,
            TeamError::Conflict(_) => Code::Conflict,
        }
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

const PROJECT_COLUMNS: &str =
    "id, name, four_eyes, monthly_renders, renders_per_minute, created_at";

fn project_row(r: &rusqlite::Row) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        name: r.get(1)?,
        four_eyes: r.get::<_, i64>(2)? != 0,
        monthly_renders: r.get::<_, Option<i64>>(3)?.map(|v| v.max(0) as u64),
        renders_per_minute: r.get::<_, Option<i64>>(4)?.map(|v| v.max(0) as u32),
        created_at: r.get::<_, i64>(5)?.max(0) as u64,
    })
}

const USER_COLUMNS: &str = "id, name, email, disabled, created_at";

fn user_row(r: &rusqlite::Row) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        email: r.get(2)?,
        disabled: r.get::<_, i64>(3)? != 0,
        created_at: r.get::<_, i64>(4)?.max(0) as u64,
    })
}

const KEY_COLUMNS: &str =
    "id, prefix, name, created_by, created_at, expires_at, last_used_at, revoked_at";

fn key_row(r: &rusqlite::Row) -> rusqlite::Result<ApiKey> {
    let time = |i| {
        r.get::<_, Option<i64>>(i)
            .map(|v| v.map(|v| v.max(0) as u64))
    };
    Ok(ApiKey {
        id: r.get(0)?,
        prefix: r.get(1)?,
        name: r.get(2)?,
        created_by: r.get(3)?,
        created_at: r.get::<_, i64>(4)?.max(0) as u64,
        expires_at: time(5)?,
        last_used_at: time(6)?,
        revoked_at: time(7)?,
    })
}

fn role_of(text: String) -> rusqlite::Result<Role> {
    text.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

/// The team tables of the catalogue database.
pub struct TeamStore {
    conn: Mutex<Connection>,
}

impl TeamStore {
    /// Opens the database at `path` (the catalogue's), migrating it if needed.
    pub fn open(path: &Path) -> Result<TeamStore, StoreError> {
        Ok(TeamStore {
            conn: Mutex::new(open_database(path)?),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().expect("team db lock")
    }

    // --- projects ---

    /// Creates a project with its signing keys (JSON, already made by the caller).
    pub fn create_project(
        &self,
        id: &str,
        name: &str,
        signing_keys: &str,
        now: u64,
    ) -> Result<Project, TeamError> {
        let r = self.conn().execute(
            "INSERT INTO projects (id, name, signing_keys, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, name, signing_keys, now as i64],
        );
        match r {
            Err(e) if is_unique_violation(&e) => {
                Err(TeamError::Conflict(format!("project '{id}'")))
            }
            r => {
                r?;
                self.project(id)
            }
        }
    }

    /// Every project, by id.
    pub fn projects(&self) -> Result<Vec<Project>, TeamError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects ORDER BY id"
        ))?;
        let rows = stmt.query_map([], project_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One project, or [`TeamError::ProjectNotFound`].
    pub fn project(&self, id: &str) -> Result<Project, TeamError> {
        self.conn()
            .query_row(
                &format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?1"),
                [id],
                project_row,
            )
            .optional()?
            .ok_or_else(|| TeamError::ProjectNotFound(id.to_string()))
    }

    /// Changes a project's settings.
    pub fn update_project(&self, id: &str, change: &ProjectChange) -> Result<Project, TeamError> {
        let mut p = self.project(id)?;
        if let Some(name) = &change.name {
            p.name = name.clone();
        }
        if let Some(v) = change.four_eyes {
            p.four_eyes = v;
        }
        if let Some(v) = change.monthly_renders {
            p.monthly_renders = v;
        }
        if let Some(v) = change.renders_per_minute {
            p.renders_per_minute = v;
        }
        self.conn().execute(
            "UPDATE projects SET name = ?2, four_eyes = ?3, monthly_renders = ?4,
                 renders_per_minute = ?5 WHERE id = ?1",
            params![
                id,
                p.name,
                p.four_eyes as i64,
                p.monthly_renders.map(|v| v as i64),
                p.renders_per_minute.map(|v| v as i64)
            ],
        )?;
        Ok(p)
    }

    /// A project's signing keys (JSON), `None` when it uses the configured ones.
    pub fn signing_keys(&self, project: &str) -> Result<Option<String>, TeamError> {
        self.conn()
            .query_row(
                "SELECT signing_keys FROM projects WHERE id = ?1",
                [project],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| TeamError::ProjectNotFound(project.to_string()))
    }

    pub fn set_signing_keys(&self, project: &str, keys: &str) -> Result<(), TeamError> {
        let n = self.conn().execute(
            "UPDATE projects SET signing_keys = ?2 WHERE id = ?1",
            params![project, keys],
        )?;
        if n == 0 {
            return Err(TeamError::ProjectNotFound(project.to_string()));
        }
        Ok(())
    }

    // --- users ---

    pub fn add_user(
        &self,
        name: &str,
        email: &str,
        password_hash: &str,
        now: u64,
    ) -> Result<User, TeamError> {
        let r = self.conn().execute(
            "INSERT INTO users (name, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, email, password_hash, now as i64],
        );
        match r {
            Err(e) if is_unique_violation(&e) => Err(TeamError::Conflict(format!("user {email}"))),
            r => {
                r?;
                let id = self.conn().last_insert_rowid();
                self.user(id)
            }
        }
    }

    pub fn users(&self) -> Result<Vec<User>, TeamError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))?;
        let rows = stmt.query_map([], user_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn user(&self, id: i64) -> Result<User, TeamError> {
        self.conn()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id],
                user_row,
            )
            .optional()?
            .ok_or_else(|| TeamError::PrincipalNotFound(format!("user {id}")))
    }

    /// The user with `email` (any case) and their password hash.
    pub fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>, TeamError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = ?1"),
                [email],
                |r| Ok((user_row(r)?, r.get(5)?)),
            )
            .optional()?)
    }

    pub fn rename_user(&self, id: i64, name: &str) -> Result<(), TeamError> {
        self.update_user(id, "name", name)
    }

    /// Sets a user's password; their sessions end (a reset locks out whoever had it).
    pub fn set_password(&self, id: i64, password_hash: &str) -> Result<(), TeamError> {
        self.update_user(id, "password_hash", password_hash)?;
        self.conn()
            .execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
        Ok(())
    }

    /// Disables (or enables) a user; a disabled user's sessions end.
    pub fn set_disabled(&self, id: i64, disabled: bool) -> Result<(), TeamError> {
        self.update_user(id, "disabled", disabled as i64)?;
        if disabled {
            self.conn()
                .execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
        }
        Ok(())
    }

    fn update_user(
        &self,
        id: i64,
        column: &'static str,
        value: impl rusqlite::ToSql,
    ) -> Result<(), TeamError> {
        let n = self.conn().execute(
            &format!("UPDATE users SET {column} = ?2 WHERE id = ?1"),
            params![id, value],
        )?;
        if n == 0 {
            return Err(TeamError::PrincipalNotFound(format!("user {id}")));
        }
        Ok(())
    }

    // --- API keys ---

    pub fn add_key(
        &self,
        prefix: &str,
        secret_hash: &str,
        name: &str,
        created_by: &str,
        now: u64,
        expires_at: Option<u64>,
    ) -> Result<ApiKey, TeamError> {
        self.conn().execute(
            "INSERT INTO api_keys (prefix, secret_hash, name, created_by, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                prefix,
                secret_hash,
                name,
                created_by,
                now as i64,
                expires_at.map(|v| v as i64)
            ],
        )?;
        self.key(prefix)?
            .map(|(k, _)| k)
            .ok_or_else(|| TeamError::PrincipalNotFound(format!("key {prefix}")))
    }

    /// Every key, or those `created_by` one principal, newest first.
    pub fn keys(&self, created_by: Option<&str>) -> Result<Vec<ApiKey>, TeamError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE ?1 IS NULL OR created_by = ?1 ORDER BY id DESC"
        ))?;
        let rows = stmt.query_map([created_by], key_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The key with `prefix` and its secret's hash.
    pub fn key(&self, prefix: &str) -> Result<Option<(ApiKey, String)>, TeamError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {KEY_COLUMNS}, secret_hash FROM api_keys WHERE prefix = ?1"),
                [prefix],
                |r| Ok((key_row(r)?, r.get(8)?)),
            )
            .optional()?)
    }

    pub fn touch_key(&self, id: i64, now: u64) -> Result<(), TeamError> {
        self.conn().execute(
            "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
            params![id, now as i64],
        )?;
        Ok(())
    }

    /// Revokes a key (for good); says whether it was live.
    pub fn revoke_key(&self, prefix: &str, now: u64) -> Result<bool, TeamError> {
        if self.key(prefix)?.is_none() {
            return Err(TeamError::PrincipalNotFound(format!("key {prefix}")));
        }
        let n = self.conn().execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE prefix = ?1 AND revoked_at IS NULL",
            params![prefix, now as i64],
        )?;
        Ok(n > 0)
    }

    // --- memberships ---

    /// Gives `principal` `role` in `project` (replacing a role it had there).
    pub fn set_role(&self, principal: &str, project: &str, role: Role) -> Result<(), TeamError> {
        self.project(project)?;
        self.conn().execute(
            "INSERT INTO memberships (principal, project, role) VALUES (?1, ?2, ?3)
             ON CONFLICT (principal, project) DO UPDATE SET role = excluded.role",
            params![principal, project, role.as_str()],
        )?;
        Ok(())
    }

    /// Takes `principal`'s role in `project` away; says whether it had one.
    pub fn remove_role(&self, principal: &str, project: &str) -> Result<bool, TeamError> {
        Ok(self.conn().execute(
            "DELETE FROM memberships WHERE principal = ?1 AND project = ?2",
            params![principal, project],
        )? > 0)
    }

    /// The roles `principal` holds, by project.
    pub fn roles(&self, principal: &str) -> Result<Vec<(String, Role)>, TeamError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT project, role FROM memberships WHERE principal = ?1 ORDER BY project",
        )?;
        let rows = stmt.query_map([principal], |r| Ok((r.get(0)?, role_of(r.get(1)?)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A project's members: principal, role, and who that is (a user's name and email, a
    /// key's name), so those who manage members need not read every user.
    pub fn members(&self, project: &str) -> Result<Vec<Member>, TeamError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT m.principal, m.role, COALESCE(u.name, k.name), u.email
             FROM memberships m
             LEFT JOIN users u ON m.principal = 'user:' || u.id
             LEFT JOIN api_keys k ON m.principal = 'key:' || k.prefix
             WHERE m.project = ?1 ORDER BY m.principal",
        )?;
        let rows = stmt.query_map([project], |r| {
            Ok(Member {
                principal: r.get(0)?,
                role: role_of(r.get(1)?)?,
                name: r.get(2)?,
                email: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // --- sessions ---

    pub fn create_session(
        &self,
        id_hash: &str,
        user_id: i64,
        csrf: &str,
        now: u64,
    ) -> Result<(), TeamError> {
        self.conn().execute(
            "INSERT INTO sessions (id_hash, user_id, csrf, created_at, seen_at)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![id_hash, user_id, csrf, now as i64],
        )?;
        Ok(())
    }

    pub fn session(&self, id_hash: &str) -> Result<Option<Session>, TeamError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT user_id, csrf, created_at, seen_at FROM sessions WHERE id_hash = ?1",
                [id_hash],
                |r| {
                    Ok(Session {
                        user_id: r.get(0)?,
                        csrf: r.get(1)?,
                        created_at: r.get::<_, i64>(2)?.max(0) as u64,
                        seen_at: r.get::<_, i64>(3)?.max(0) as u64,
                    })
                },
            )
            .optional()?)
    }

    pub fn touch_session(&self, id_hash: &str, now: u64) -> Result<(), TeamError> {
        self.conn().execute(
            "UPDATE sessions SET seen_at = ?2 WHERE id_hash = ?1",
            params![id_hash, now as i64],
        )?;
        Ok(())
    }

    pub fn end_session(&self, id_hash: &str) -> Result<(), TeamError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])?;
        Ok(())
    }

    /// Forgets sessions idle since `idle_before` or started before `started_before`.
    pub fn prune_sessions(
        &self,
        idle_before: u64,
        started_before: u64,
    ) -> Result<usize, TeamError> {
        Ok(self.conn().execute(
            "DELETE FROM sessions WHERE seen_at < ?1 OR created_at < ?2",
            params![idle_before as i64, started_before as i64],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_users_keys_and_roles_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = TeamStore::open(&dir.path().join("db.sqlite")).unwrap();
        assert_eq!(s.projects().unwrap()[0].id, "default");
        s.create_project("emea", "EMEA", "[]", 10).unwrap();
        assert!(matches!(
            s.create_project("emea", "again", "[]", 11),
            Err(TeamError::Conflict(_))
        ));
        let p = s
            .update_project(
                "emea",
                &ProjectChange {
                    four_eyes: Some(true),
                    monthly_renders: Some(Some(1000)),
                    ..ProjectChange::default()
                },
            )
            .unwrap();
        assert!(p.four_eyes && p.monthly_renders == Some(1000));
        assert_eq!(s.signing_keys("emea").unwrap().as_deref(), Some("[]"));
        assert_eq!(s.signing_keys("default").unwrap(), None);

        let ana = s.add_user("Ana", "ana@example.com", "h", 20).unwrap();
        assert!(matches!(
            s.add_user("Ana 2", "ANA@example.com", "h", 21),
            Err(TeamError::Conflict(_))
        ));
        assert_eq!(s.user_by_email("Ana@Example.com").unwrap().unwrap().0, ana);
        s.set_role("user:1", "emea", Role::Designer).unwrap();
        s.set_role("user:1", "emea", Role::Publisher).unwrap();
        assert!(matches!(
            s.set_role("user:1", "nope", Role::Viewer),
            Err(TeamError::ProjectNotFound(_))
        ));
        assert_eq!(
            s.roles("user:1").unwrap(),
            vec![("emea".into(), Role::Publisher)]
        );
        assert_eq!(s.members("emea").unwrap().len(), 1);

        let k = s
            .add_key("tsk_abcdefgh", "hash", "ci", "user:1", 30, Some(99))
            .unwrap();
        assert_eq!(k.expires_at, Some(99));
        assert_eq!(s.key("tsk_abcdefgh").unwrap().unwrap().1, "hash");
        assert!(s.revoke_key("tsk_abcdefgh", 40).unwrap());
        assert!(!s.revoke_key("tsk_abcdefgh", 41).unwrap());
        assert_eq!(s.keys(Some("user:1")).unwrap()[0].revoked_at, Some(40));

        s.create_session("sh", ana.id, "csrf", 50).unwrap();
        assert_eq!(s.session("sh").unwrap().unwrap().csrf, "csrf");
        s.set_disabled(ana.id, true).unwrap();
        assert!(
            s.session("sh").unwrap().is_none(),
            "disabling ends sessions"
        );
        assert!(s.user(ana.id).unwrap().disabled);
    }
}
