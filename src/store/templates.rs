//! Template persistence: one editable draft per template name, numbered published versions
//! that never change (the database refuses updates and deletes of them, so an email sent
//! years ago still renders), and an audit row for every create, update and publish.
//!
//! Documents are stored as given (already validated by the caller); the store hashes them.

use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, from_nanos, nanos, open_database};
use crate::error::{Code, Coded};

/// A template's working copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub name: String,
    pub document: String,
    pub content_hash: String,
    pub updated_at: SystemTime,
    pub updated_by: String,
}

/// A published, immutable version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub name: String,
    pub version: u32,
    pub document: String,
    pub content_hash: String,
    pub published_at: SystemTime,
    pub published_by: String,
}

/// A template in the list: its draft, if any, and its newest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub name: String,
    pub has_draft: bool,
    pub latest_version: Option<u32>,
}

/// What happened to a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Publish,
}

impl Action {
    /// The action's name as stored and reported.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Publish => "publish",
        }
    }

    fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "create" => Action::Create,
            "update" => Action::Update,
            "publish" => Action::Publish,
            _ => return None,
        })
    }
}

/// One audit row: who did what to which template, when, with which content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: SystemTime,
    pub who: String,
    pub action: Action,
    pub name: String,
    /// The version published (publish only).
    pub version: Option<u32>,
    pub content_hash: String,
}

/// Why a template operation was refused (besides database errors).
#[derive(Debug, thiserror::Error)]
pub enum TemplateStoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("template '{0}' has no draft to publish")]
    NoDraft(String),
}

impl From<rusqlite::Error> for TemplateStoreError {
    fn from(e: rusqlite::Error) -> Self {
        TemplateStoreError::Store(StoreError::Sqlite(e))
    }
}

/// The template tables of the catalogue database.
pub struct TemplateStore {
    conn: Mutex<Connection>,
}

fn hash(document: &str) -> String {
    blake3::hash(document.as_bytes()).to_hex().to_string()
}

impl TemplateStore {
    /// Opens the database at `path` (the catalogue's), migrating it if needed.
    pub fn open(path: &Path) -> Result<TemplateStore, StoreError> {
        Ok(TemplateStore {
            conn: Mutex::new(open_database(path)?),
        })
    }

    /// Creates or replaces the draft of `name`; says whether it was created. Audited.
    pub fn save_draft(
        &self,
        name: &str,
        document: &str,
        who: &str,
    ) -> Result<(Draft, bool), TemplateStoreError> {
        let mut conn = self.conn.lock().expect("template db lock");
        let tx = conn.transaction()?;
        let existed = tx
            .query_row(
                "SELECT 1 FROM template_drafts WHERE name = ?1
                 UNION SELECT 1 FROM template_versions WHERE name = ?1 LIMIT 1",
                [name],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        let now = SystemTime::now();
        let draft = Draft {
            name: name.to_string(),
            document: document.to_string(),
            content_hash: hash(document),
            updated_at: now,
            updated_by: who.to_string(),
        };
        tx.execute(
            "INSERT OR REPLACE INTO template_drafts (name, document, content_hash, updated_at, updated_by)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, document, draft.content_hash, nanos(now), who],
        )?;
        let action = if existed {
            Action::Update
        } else {
            Action::Create
        };
        audit(&tx, now, who, action, name, None, &draft.content_hash)?;
        tx.commit()?;
        Ok((draft, !existed))
    }

    /// Publishes the draft of `name` as its next version. Audited.
    pub fn publish(&self, name: &str, who: &str) -> Result<Version, TemplateStoreError> {
        let mut conn = self.conn.lock().expect("template db lock");
        let tx = conn.transaction()?;
        let (document, content_hash): (String, String) = tx
            .query_row(
                "SELECT document, content_hash FROM template_drafts WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| TemplateStoreError::NoDraft(name.to_string()))?;
        let latest: Option<u32> = tx.query_row(
            "SELECT MAX(version) FROM template_versions WHERE name = ?1",
            [name],
            |r| r.get(0),
        )?;
        let now = SystemTime::now();
        let version = Version {
            name: name.to_string(),
            version: latest.unwrap_or(0) + 1,
            document,
            content_hash,
            published_at: now,
            published_by: who.to_string(),
        };
        tx.execute(
            "INSERT INTO template_versions (name, version, document, content_hash, published_at, published_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                name,
                version.version,
                version.document,
                version.content_hash,
                nanos(now),
                who
            ],
        )?;
        audit(
            &tx,
            now,
            who,
            Action::Publish,
            name,
            Some(version.version),
            &version.content_hash,
        )?;
        tx.commit()?;
        Ok(version)
    }

    /// The draft of `name`.
    pub fn draft(&self, name: &str) -> Result<Option<Draft>, StoreError> {
        let conn = self.conn.lock().expect("template db lock");
        Ok(conn
            .query_row(
                "SELECT document, content_hash, updated_at, updated_by FROM template_drafts
                 WHERE name = ?1",
                [name],
                |r| {
                    Ok(Draft {
                        name: name.to_string(),
                        document: r.get(0)?,
                        content_hash: r.get(1)?,
                        updated_at: from_nanos(r.get(2)?),
                        updated_by: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Version `version` of `name`.
    pub fn version(&self, name: &str, version: u32) -> Result<Option<Version>, StoreError> {
        let conn = self.conn.lock().expect("template db lock");
        Ok(conn
            .query_row(
                "SELECT document, content_hash, published_at, published_by FROM template_versions
                 WHERE name = ?1 AND version = ?2",
                params![name, version],
                |r| {
                    Ok(Version {
                        name: name.to_string(),
                        version,
                        document: r.get(0)?,
                        content_hash: r.get(1)?,
                        published_at: from_nanos(r.get(2)?),
                        published_by: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// The published version numbers of `name`, oldest first.
    pub fn versions(&self, name: &str) -> Result<Vec<u32>, StoreError> {
        let conn = self.conn.lock().expect("template db lock");
        let mut stmt =
            conn.prepare("SELECT version FROM template_versions WHERE name = ?1 ORDER BY version")?;
        let rows = stmt.query_map([name], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every template, by name.
    pub fn list(&self) -> Result<Vec<Summary>, StoreError> {
        let conn = self.conn.lock().expect("template db lock");
        let mut stmt = conn.prepare(
            "SELECT name, MAX(has_draft), MAX(version) FROM (
                SELECT name, 1 AS has_draft, NULL AS version FROM template_drafts
                UNION ALL
                SELECT name, 0, version FROM template_versions)
             GROUP BY name ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Summary {
                name: r.get(0)?,
                has_draft: r.get::<_, i64>(1)? == 1,
                latest_version: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The audit trail, oldest first: of `name`, or of every template.
    pub fn audit(&self, name: Option<&str>) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn.lock().expect("template db lock");
        let mut stmt = conn.prepare(
            "SELECT at, who, action, name, version, content_hash FROM template_audit
             WHERE ?1 IS NULL OR name = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([name], |r| {
            let action: String = r.get(2)?;
            Ok(AuditEntry {
                at: from_nanos(r.get(0)?),
                who: r.get(1)?,
                action: Action::parse(&action).ok_or_else(|| {
                    rusqlite::Error::FromSqlConversionFailure(
                        2,
                        rusqlite::types::Type::Text,
                        format!("unknown audit action {action}").into(),
                    )
                })?,
                name: r.get(3)?,
                version: r.get(4)?,
                content_hash: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn audit(
    conn: &Connection,
    at: SystemTime,
    who: &str,
    action: Action,
    name: &str,
    version: Option<u32>,
    content_hash: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO template_audit (at, who, action, name, version, content_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![nanos(at), who, action.as_str(), name, version, content_hash],
    )?;
    Ok(())
}

impl Coded for TemplateStoreError {
    fn code(&self) -> Code {
        match self {
            TemplateStoreError::Store(e) => e.code(),
            TemplateStoreError::NoDraft(_) => Code::NoDraft,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_publish_edit_publish_keeps_every_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = TemplateStore::open(&dir.path().join("db.sqlite")).unwrap();
        let (_, created) = store.save_draft("badge", r#"{"v":1}"#, "ana").unwrap();
        assert!(created);
        let v1 = store.publish("badge", "ana").unwrap();
        assert_eq!(v1.version, 1);
        let (_, created) = store.save_draft("badge", r#"{"v":2}"#, "ben").unwrap();
        assert!(!created);
        // The published version is untouched by the edit.
        assert_eq!(store.version("badge", 1).unwrap().unwrap(), v1);
        let v2 = store.publish("badge", "ben").unwrap();
        assert_eq!((v2.version, v2.document.as_str()), (2, r#"{"v":2}"#));
        assert_eq!(store.versions("badge").unwrap(), vec![1, 2]);
        assert_eq!(
            store.draft("badge").unwrap().unwrap().document,
            r#"{"v":2}"#
        );
        assert_eq!(
            store.list().unwrap(),
            vec![Summary {
                name: "badge".into(),
                has_draft: true,
                latest_version: Some(2)
            }]
        );
        let trail: Vec<_> = store
            .audit(Some("badge"))
            .unwrap()
            .into_iter()
            .map(|a| (a.action, a.who, a.version, a.content_hash))
            .collect();
        assert_eq!(
            trail,
            vec![
                (Action::Create, "ana".into(), None, hash(r#"{"v":1}"#)),
                (Action::Publish, "ana".into(), Some(1), hash(r#"{"v":1}"#)),
                (Action::Update, "ben".into(), None, hash(r#"{"v":2}"#)),
                (Action::Publish, "ben".into(), Some(2), hash(r#"{"v":2}"#)),
            ]
        );
        assert!(matches!(
            store.publish("nope", "ana"),
            Err(TemplateStoreError::NoDraft(_))
        ));
        assert_eq!(store.audit(None).unwrap().len(), 4);
    }

    #[test]
    fn published_versions_cannot_be_changed_even_by_sql() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let store = TemplateStore::open(&path).unwrap();
        store.save_draft("t", "{}", "ana").unwrap();
        store.publish("t", "ana").unwrap();
        let conn = Connection::open(&path).unwrap();
        for sql in [
            "UPDATE template_versions SET document = 'x'",
            "DELETE FROM template_versions",
        ] {
            let err = conn.execute(sql, []).unwrap_err().to_string();
            assert!(err.contains("immutable"), "{sql}: {err}");
        }
        assert_eq!(store.version("t", 1).unwrap().unwrap().document, "{}");
    }
}
