//! Template persistence: one editable draft per template name, numbered published versions
//! that never change (the database refuses updates and deletes of them, so an email sent
//! years ago still renders), and the review steps between them ([`crate::team::review`]).
//! Who did what is in the audit trail ([`super::audit`]), written by the caller.
//!
//! Documents are stored as given (already validated by the caller); the store hashes them.

use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, from_nanos, nanos, open_database};
use crate::clock::unix_seconds;
use crate::error::{Code, Coded};
use crate::team::review::{self, ReviewError, ReviewState};

/// A template's working copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// The qualified name (`name`, or `project.name` outside the default project).
    pub name: String,
    pub project: String,
    pub document: String,
    pub content_hash: String,
    pub updated_at: SystemTime,
    pub updated_by: String,
    pub state: ReviewState,
    /// The principal id that submitted it, while submitted.
    pub submitted_by: Option<String>,
    pub submitted_at: Option<u64>,
    pub archived: bool,
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

/// A template in the list: its review state and its newest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub name: String,
    pub project: String,
    pub state: ReviewState,
    pub archived: bool,
    pub latest_version: Option<u32>,
    /// When the draft last changed, and by whom.
    pub updated_at: SystemTime,
    pub updated_by: String,
}

/// One review step: submitted, approved (published), rejected, or published directly.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Review {
    pub action: String,
    pub principal: String,
    pub at: u64,
    pub comment: String,
    pub content_hash: String,
    pub version: Option<u32>,
}

/// Who acts on a template: the principal id (compared for four eyes) and a readable name.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// Why a template operation was refused (besides database errors).
#[derive(Debug, thiserror::Error)]
pub enum TemplateStoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("template '{0}' has no draft")]
    NoDraft(String),
    #[error(transparent)]
    Review(#[from] ReviewError),
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

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().expect("template db lock")
    }

    /// Creates or replaces the draft of `name` in `project`; says whether it was created.
    /// Refused while the draft is submitted for review.
    pub fn save_draft(
        &self,
        name: &str,
        project: &str,
        document: &str,
        who: Who,
    ) -> Result<(Draft, bool), TemplateStoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let existing = draft_in(&tx, name)?;
        if let Some(d) = &existing {
            review::edit(d.state)?;
        }
        let now = SystemTime::now();
        let archived = existing.as_ref().is_some_and(|d| d.archived);
        tx.execute(
            "INSERT INTO template_drafts (name, document, content_hash, updated_at, updated_by,
                 project, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'draft')
             ON CONFLICT (name) DO UPDATE SET document = excluded.document,
                 content_hash = excluded.content_hash, updated_at = excluded.updated_at,
                 updated_by = excluded.updated_by",
            params![
                name,
                document,
                hash(document),
                nanos(now),
                who.name,
                project
            ],
        )?;
        tx.commit()?;
        let draft = Draft {
            name: name.to_string(),
            project: project.to_string(),
            document: document.to_string(),
            content_hash: hash(document),
            updated_at: now,
            updated_by: who.name.to_string(),
            state: ReviewState::Draft,
            submitted_by: None,
            submitted_at: None,
            archived,
        };
        Ok((draft, existing.is_none()))
    }

    /// Submits the draft for review: it is locked until approved or rejected.
    pub fn submit(&self, name: &str, who: Who, comment: &str) -> Result<Draft, TemplateStoreError> {
        self.review_step(name, who, comment, |d| {
            review::submit(d.state).map(|s| (s, Some(who.id.to_string()), "submit"))
        })
        .map(|(d, _)| d)
    }

    /// Rejects the submitted draft with a comment; it is editable again.
    pub fn reject(&self, name: &str, who: Who, comment: &str) -> Result<Draft, TemplateStoreError> {
        self.review_step(name, who, comment, |d| {
            review::reject(d.state, comment).map(|s| (s, None, "reject"))
        })
        .map(|(d, _)| d)
    }

    /// Publishes the draft of `name` as its next version: approving it when submitted (four
    /// eyes: by someone else), directly otherwise (refused when the project needs review).
    pub fn publish(
        &self,
        name: &str,
        who: Who,
        four_eyes: bool,
        comment: &str,
    ) -> Result<Version, TemplateStoreError> {
        self.release(name, who, four_eyes, comment, false)
    }

    /// Approves the submitted draft of `name`: it becomes the next version. Refused when the
    /// draft is not submitted.
    pub fn approve(
        &self,
        name: &str,
        who: Who,
        four_eyes: bool,
        comment: &str,
    ) -> Result<Version, TemplateStoreError> {
        self.release(name, who, four_eyes, comment, true)
    }

    fn release(
        &self,
        name: &str,
        who: Who,
        four_eyes: bool,
        comment: &str,
        submitted_only: bool,
    ) -> Result<Version, TemplateStoreError> {
        let (_, version) = self.review_step(name, who, comment, |d| {
            let action = match d.state {
                ReviewState::Submitted => "approve",
                ReviewState::Draft if submitted_only => return Err(ReviewError::NotSubmitted),
                ReviewState::Draft => "publish",
            };
            review::publish(d.state, d.submitted_by.as_deref(), who.id, four_eyes)
                .map(|s| (s, None, action))
        })?;
        Ok(version.expect("publishing makes a version"))
    }

    /// One review step in one transaction: `step` decides the new state (or refuses), the
    /// draft is updated, a review row is written, and approving/publishing adds a version.
    fn review_step(
        &self,
        name: &str,
        who: Who,
        comment: &str,
        step: impl FnOnce(&Draft) -> Result<(ReviewState, Option<String>, &'static str), ReviewError>,
    ) -> Result<(Draft, Option<Version>), TemplateStoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut draft =
            draft_in(&tx, name)?.ok_or_else(|| TemplateStoreError::NoDraft(name.to_string()))?;
        let (state, submitted_by, action) = step(&draft)?;
        let now = SystemTime::now();
        let at = unix_seconds(now);
        let submitted_at = submitted_by.as_ref().map(|_| at);
        tx.execute(
            "UPDATE template_drafts SET state = ?2, submitted_by = ?3, submitted_at = ?4
             WHERE name = ?1",
            params![
                name,
                state.as_str(),
                submitted_by,
                submitted_at.map(|v| v as i64)
            ],
        )?;
        let version = if matches!(action, "approve" | "publish") {
            let latest: Option<u32> = tx.query_row(
                "SELECT MAX(version) FROM template_versions WHERE name = ?1",
                [name],
                |r| r.get(0),
            )?;
            let v = Version {
                name: name.to_string(),
                version: latest.unwrap_or(0) + 1,
                document: draft.document.clone(),
                content_hash: draft.content_hash.clone(),
                published_at: now,
                published_by: who.name.to_string(),
            };
            tx.execute(
                "INSERT INTO template_versions (name, version, document, content_hash,
                     published_at, published_by, project)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    name,
                    v.version,
                    v.document,
                    v.content_hash,
                    nanos(now),
                    who.name,
                    draft.project
                ],
            )?;
            Some(v)
        } else {
            None
        };
        tx.execute(
            "INSERT INTO reviews (template, action, principal, at, comment, content_hash, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                name,
                action,
                who.name,
                at as i64,
                comment,
                draft.content_hash,
                version.as_ref().map(|v| v.version)
            ],
        )?;
        tx.commit()?;
        draft.state = state;
        draft.submitted_by = submitted_by;
        draft.submitted_at = submitted_at;
        Ok((draft, version))
    }

    /// Archives a template (or brings it back): hidden from lists, its versions still render
    /// (emails live for years). Says whether it changed.
    pub fn set_archived(&self, name: &str, archived: bool) -> Result<bool, TemplateStoreError> {
        let n = self.conn().execute(
            "UPDATE template_drafts SET archived_at = ?2 WHERE name = ?1
                 AND (archived_at IS NULL) = ?3",
            params![
                name,
                archived.then(|| unix_seconds(SystemTime::now()) as i64),
                archived
            ],
        )?;
        if n == 0 && self.draft(name)?.is_none() {
            return Err(TemplateStoreError::NoDraft(name.to_string()));
        }
        Ok(n > 0)
    }

    /// The draft of `name`.
    pub fn draft(&self, name: &str) -> Result<Option<Draft>, StoreError> {
        Ok(draft_in(&self.conn(), name)?)
    }

    /// Version `version` of `name`.
    pub fn version(&self, name: &str, version: u32) -> Result<Option<Version>, StoreError> {
        Ok(self
            .conn()
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
    /// The stopped A/B splits of `name`, each with the winner everyone now gets.
    pub fn stopped_splits(
        &self,
        name: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT split, winner FROM template_splits WHERE template = ?1")?;
        let rows = stmt.query_map(params![name], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stops split `split` of `name`: everyone gets `winner`, without a new version.
    pub fn stop_split(
        &self,
        name: &str,
        split: &str,
        winner: &str,
        who: &str,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO template_splits (template, split, winner, stopped_at, stopped_by)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (template, split) DO UPDATE
             SET winner = excluded.winner, stopped_at = excluded.stopped_at,
                 stopped_by = excluded.stopped_by",
            params![
                name,
                split,
                winner,
                unix_seconds(SystemTime::now()) as i64,
                who
            ],
        )?;
        Ok(())
    }

    /// Runs a stopped split again; says whether it was stopped.
    pub fn resume_split(&self, name: &str, split: &str) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM template_splits WHERE template = ?1 AND split = ?2",
            params![name, split],
        )? > 0)
    }

    pub fn versions(&self, name: &str) -> Result<Vec<u32>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT version FROM template_versions WHERE name = ?1 ORDER BY version")?;
        let rows = stmt.query_map([name], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The templates of `project` (or every project), by name; archived ones only when asked.
    pub fn list(&self, project: Option<&str>, archived: bool) -> Result<Vec<Summary>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT d.name, d.project, d.state, d.archived_at IS NOT NULL,
                    (SELECT MAX(version) FROM template_versions v WHERE v.name = d.name),
                    d.updated_at, d.updated_by
             FROM template_drafts d
             WHERE (?1 IS NULL OR d.project = ?1) AND (?2 OR d.archived_at IS NULL)
             ORDER BY d.name",
        )?;
        let rows = stmt.query_map(params![project, archived], |r| {
            Ok(Summary {
                name: r.get(0)?,
                project: r.get(1)?,
                state: state_of(r.get(2)?)?,
                archived: r.get(3)?,
                latest_version: r.get(4)?,
                updated_at: from_nanos(r.get(5)?),
                updated_by: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The review history of `name`, oldest first.
    pub fn reviews(&self, name: &str) -> Result<Vec<Review>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT action, principal, at, comment, content_hash, version FROM reviews
             WHERE template = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([name], |r| {
            Ok(Review {
                action: r.get(0)?,
                principal: r.get(1)?,
                at: r.get::<_, i64>(2)?.max(0) as u64,
                comment: r.get(3)?,
                content_hash: r.get(4)?,
                version: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn state_of(text: String) -> rusqlite::Result<ReviewState> {
    ReviewState::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            format!("unknown review state {text}").into(),
        )
    })
}

fn draft_in(conn: &Connection, name: &str) -> rusqlite::Result<Option<Draft>> {
    conn.query_row(
        "SELECT document, content_hash, updated_at, updated_by, project, state, submitted_by,
                submitted_at, archived_at IS NOT NULL
         FROM template_drafts WHERE name = ?1",
        [name],
        |r| {
            Ok(Draft {
                name: name.to_string(),
                document: r.get(0)?,
                content_hash: r.get(1)?,
                updated_at: from_nanos(r.get(2)?),
                updated_by: r.get(3)?,
                project: r.get(4)?,
                state: state_of(r.get(5)?)?,
                submitted_by: r.get(6)?,
                submitted_at: r.get::<_, Option<i64>>(7)?.map(|v| v.max(0) as u64),
                archived: r.get(8)?,
            })
        },
    )
    .optional()
}

impl Coded for TemplateStoreError {
    fn code(&self) -> Code {
        match self {
            TemplateStoreError::Store(e) => e.code(),
            TemplateStoreError::NoDraft(_) => Code::NoDraft,
            TemplateStoreError::Review(e) => e.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANA: Who = Who {
        id: "user:1",
        name: "ana@example.com",
    };
    const BEN: Who = Who {
        id: "user:2",
        name: "ben@example.com",
    };

    #[test]
    fn draft_publish_edit_publish_keeps_every_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = TemplateStore::open(&dir.path().join("db.sqlite")).unwrap();
        let (_, created) = store
            .save_draft("badge", "default", r#"{"v":1}"#, ANA)
            .unwrap();
        assert!(created);
        let v1 = store.publish("badge", ANA, false, "").unwrap();
        assert_eq!(v1.version, 1);
        let (_, created) = store
            .save_draft("badge", "default", r#"{"v":2}"#, BEN)
            .unwrap();
        assert!(!created);
        // The published version is untouched by the edit.
        assert_eq!(store.version("badge", 1).unwrap().unwrap(), v1);
        let v2 = store.publish("badge", BEN, false, "").unwrap();
        assert_eq!((v2.version, v2.document.as_str()), (2, r#"{"v":2}"#));
        assert_eq!(store.versions("badge").unwrap(), vec![1, 2]);
        let listed = store.list(None, false).unwrap();
        assert_eq!(listed.len(), 1);
        let draft = store.draft("badge").unwrap().unwrap();
        assert_eq!(
            listed[0],
            Summary {
                name: "badge".into(),
                project: "default".into(),
                state: ReviewState::Draft,
                archived: false,
                latest_version: Some(2),
                updated_at: draft.updated_at,
                updated_by: draft.updated_by,
            }
        );
        assert!(matches!(
            store.publish("nope", ANA, false, ""),
            Err(TemplateStoreError::NoDraft(_))
        ));
    }

    #[test]
    fn review_locks_the_draft_and_four_eyes_needs_someone_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = TemplateStore::open(&dir.path().join("db.sqlite")).unwrap();
        store.save_draft("emea.t", "emea", "{}", ANA).unwrap();
        assert!(matches!(
            store.publish("emea.t", ANA, true, ""),
            Err(TemplateStoreError::Review(ReviewError::ReviewRequired))
        ));
        let d = store.submit("emea.t", ANA, "ready").unwrap();
        assert_eq!(d.state, ReviewState::Submitted);
        assert!(matches!(
            store.save_draft("emea.t", "emea", "{\"x\":1}", ANA),
            Err(TemplateStoreError::Review(ReviewError::Locked))
        ));
        assert!(matches!(
            store.publish("emea.t", ANA, true, ""),
            Err(TemplateStoreError::Review(ReviewError::SameReviewer))
        ));
        store.reject("emea.t", BEN, "logo too small").unwrap();
        store
            .save_draft("emea.t", "emea", "{\"x\":2}", ANA)
            .unwrap();
        store.submit("emea.t", ANA, "").unwrap();
        let v = store.publish("emea.t", BEN, true, "looks good").unwrap();
        assert_eq!(v.version, 1);
        let steps: Vec<_> = store
            .reviews("emea.t")
            .unwrap()
            .into_iter()
            .map(|r| (r.action, r.principal, r.version))
            .collect();
        assert_eq!(
            steps,
            vec![
                ("submit".into(), "ana@example.com".into(), None),
                ("reject".into(), "ben@example.com".into(), None),
                ("submit".into(), "ana@example.com".into(), None),
                ("approve".into(), "ben@example.com".into(), Some(1)),
            ]
        );
        assert!(store.set_archived("emea.t", true).unwrap());
        assert!(store.list(Some("emea"), false).unwrap().is_empty());
        assert_eq!(store.list(Some("emea"), true).unwrap().len(), 1);
        assert!(store.list(Some("default"), true).unwrap().is_empty());
    }

    #[test]
    fn published_versions_cannot_be_changed_even_by_sql() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let store = TemplateStore::open(&path).unwrap();
        store.save_draft("t", "default", "{}", ANA).unwrap();
        store.publish("t", ANA, false, "").unwrap();
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
