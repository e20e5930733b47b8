//! The asset catalogue: one SQLite database (WAL mode) under the data directory with what is
//! known about each identifier, behind an in-memory LRU so the hot path never touches SQLite.
//!
//! Pure persistence: deciding *when* an entry is stale is [`crate::source::Sources`]' job.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use image::ImageFormat;
use image::metadata::Orientation;
use lru::LruCache;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::error::{Code, Coded};
use crate::source::{Locator, SourceInfo};

pub mod audit;
pub mod datasets;
mod sources;
pub mod team;
pub mod templates;
pub mod usage;

pub use sources::{AssetError, Freshness, Sources};

/// Why the catalogue failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("catalogue database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("catalogue folder {0}: {1}")]
    Folder(PathBuf, std::io::Error),
    #[error("catalogue row for '{0}' is not readable: {1}")]
    Row(String, String),
}

impl Coded for StoreError {
    fn code(&self) -> Code {
        Code::CatalogueUnavailable
    }
}

/// Optional descriptive properties info.json can carry (§5.5, §5.6), from a sidecar file
/// `<image file>.json` next to the source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Properties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_of: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub see_also: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_formats: Option<Vec<String>>,
}

/// An identifier as the catalogue lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub identifier: String,
    pub width: u32,
    pub height: u32,
    pub format: String,
    pub bytes: u64,
}

/// Everything known about one identifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    pub identifier: String,
    pub source: SourceInfo,
    /// BLAKE3 of the source file's bytes, hex.
    pub content_hash: String,
    /// Modification time of the sidecar file, if there is one (a change re-reads it).
    pub sidecar_modified: Option<SystemTime>,
    pub properties: Properties,
}

/// Schema migrations, applied in order; `PRAGMA user_version` counts how many ran.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE assets (
        identifier       TEXT PRIMARY KEY,
        path             TEXT NOT NULL,
        format           TEXT NOT NULL,
        width            INTEGER NOT NULL,
        height           INTEGER NOT NULL,
        orientation      INTEGER NOT NULL,
        pixel_format     TEXT NOT NULL,
        bytes            INTEGER NOT NULL,
        modified_ns      INTEGER NOT NULL,
        sidecar_ns       INTEGER,
        content_hash     TEXT NOT NULL,
        properties       TEXT NOT NULL,
        updated_at       INTEGER NOT NULL
    )",
    // Tiled TIFF levels (JSON). Rows written before this column existed were probed without
    // reading levels: drop them so they are read again, levels included.
    "ALTER TABLE assets ADD COLUMN levels TEXT NOT NULL DEFAULT '[]';
     DELETE FROM assets;",
    // Personalized-image templates: one draft per name, immutable published versions, and
    // an audit trail of every change.
    "CREATE TABLE template_drafts (
        name         TEXT PRIMARY KEY,
        document     TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        updated_at   INTEGER NOT NULL,
        updated_by   TEXT NOT NULL
     );
     CREATE TABLE template_versions (
        name         TEXT NOT NULL,
        version      INTEGER NOT NULL,
        document     TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        published_at INTEGER NOT NULL,
        published_by TEXT NOT NULL,
        PRIMARY KEY (name, version)
     );
     CREATE TRIGGER template_versions_no_update BEFORE UPDATE ON template_versions
        BEGIN SELECT RAISE(ABORT, 'published template versions are immutable'); END;
     CREATE TRIGGER template_versions_no_delete BEFORE DELETE ON template_versions
        BEGIN SELECT RAISE(ABORT, 'published template versions are immutable'); END;
     CREATE TABLE template_audit (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        at           INTEGER NOT NULL,
        who          TEXT NOT NULL,
        action       TEXT NOT NULL,
        name         TEXT NOT NULL,
        version      INTEGER,
        content_hash TEXT NOT NULL
     );",
    // `path` now holds the source's locator in its store (a relative path for files), not
    // an absolute path: drop the rows so sources are located again.
    "DELETE FROM assets;",
    // Teams: projects, people and API keys with a role per project, sessions, one audit
    // trail of every action (refusals too) that the database keeps append-only, review
    // before publishing, and usage counters. Existing templates belong to `default`, and
    // their names stay unqualified so every URL already sent renders as before.
    "CREATE TABLE projects (
        id                 TEXT PRIMARY KEY,
        name               TEXT NOT NULL,
        four_eyes          INTEGER NOT NULL DEFAULT 0,
        monthly_renders    INTEGER,
        renders_per_minute INTEGER,
        signing_keys       TEXT,
        created_at         INTEGER NOT NULL
     );
     INSERT INTO projects (id, name, created_at) VALUES ('default', 'Default', CAST(strftime('%s','now') AS INTEGER));
     CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL,
        email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        disabled      INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL
     );
     CREATE TABLE api_keys (
        id           INTEGER PRIMARY KEY,
        prefix       TEXT NOT NULL UNIQUE,
        secret_hash  TEXT NOT NULL,
        name         TEXT NOT NULL,
        created_by   TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER,
        last_used_at INTEGER,
        revoked_at   INTEGER
     );
     CREATE TABLE memberships (
        principal TEXT NOT NULL,
        project   TEXT NOT NULL REFERENCES projects(id),
        role      TEXT NOT NULL,
        PRIMARY KEY (principal, project)
     );
     CREATE TABLE sessions (
        id_hash    TEXT PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users(id),
        csrf       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        seen_at    INTEGER NOT NULL
     );
     CREATE TABLE audit (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        at             INTEGER NOT NULL,
        request_id     TEXT NOT NULL,
        principal      TEXT NOT NULL,
        principal_name TEXT NOT NULL,
        role           TEXT NOT NULL,
        project        TEXT,
        action         TEXT NOT NULL,
        target         TEXT NOT NULL,
        address        TEXT NOT NULL,
        outcome        TEXT NOT NULL,
        detail         TEXT NOT NULL DEFAULT '{}'
     );
     CREATE INDEX audit_project_at ON audit (project, at);
     CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
     CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
     INSERT INTO audit (at, request_id, principal, principal_name, role, project, action, target,
                        address, outcome, detail)
        SELECT at / 1000000000, '', 'header:' || who, who, 'owner', 'default', 'template.' || action,
               name, '', 'ok', json_object('version', version, 'content_hash', content_hash)
        FROM template_audit ORDER BY id;
     DROP TABLE template_audit;
     ALTER TABLE template_drafts ADD COLUMN project TEXT NOT NULL DEFAULT 'default';
     ALTER TABLE template_drafts ADD COLUMN state TEXT NOT NULL DEFAULT 'draft';
     ALTER TABLE template_drafts ADD COLUMN submitted_by TEXT;
     ALTER TABLE template_drafts ADD COLUMN submitted_at INTEGER;
     ALTER TABLE template_drafts ADD COLUMN archived_at INTEGER;
     ALTER TABLE template_versions ADD COLUMN project TEXT NOT NULL DEFAULT 'default';
     CREATE TABLE reviews (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        template     TEXT NOT NULL,
        action       TEXT NOT NULL,
        principal    TEXT NOT NULL,
        at           INTEGER NOT NULL,
        comment      TEXT NOT NULL DEFAULT '',
        content_hash TEXT NOT NULL,
        version      INTEGER
     );
     CREATE TABLE usage (
        day      TEXT NOT NULL,
        project  TEXT NOT NULL,
        template TEXT NOT NULL,
        version  INTEGER NOT NULL,
        metric   TEXT NOT NULL,
        label    TEXT NOT NULL DEFAULT '',
        value    INTEGER NOT NULL,
        PRIMARY KEY (day, project, template, version, metric, label)
     ) WITHOUT ROWID;",
    // Rules and data: recipient data sets (values as a JSON object per row, with a version
    // and an optional expiry), and the A/B splits stopped with a winner.
    "CREATE TABLE datasets (
        project    TEXT NOT NULL REFERENCES projects(id),
        name       TEXT NOT NULL,
        key_column TEXT NOT NULL,
        columns    TEXT NOT NULL,
        rows       INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (project, name)
     );
     CREATE TABLE dataset_rows (
        project    TEXT NOT NULL,
        dataset    TEXT NOT NULL,
        key        TEXT NOT NULL,
        vals       TEXT NOT NULL,
        version    TEXT NOT NULL,
        expires_at INTEGER,
        PRIMARY KEY (project, dataset, key)
     ) WITHOUT ROWID;
     CREATE INDEX dataset_rows_expiry ON dataset_rows (expires_at) WHERE expires_at IS NOT NULL;
     CREATE TABLE template_splits (
        template   TEXT NOT NULL,
        split      TEXT NOT NULL,
        winner     TEXT NOT NULL,
        stopped_at INTEGER NOT NULL,
        stopped_by TEXT NOT NULL,
        PRIMARY KEY (template, split)
     );",
    // Pyramids of content no source has any more are pruned by content hash.
    "CREATE INDEX assets_content_hash ON assets (content_hash);",
];

/// Opens (creating if needed) the database at `path` in WAL mode and brings its schema up to
/// date, each migration in its own transaction.
pub(crate) fn open_database(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Folder(dir.to_path_buf(), e))?;
    }
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    loop {
        // IMMEDIATE: two processes opening at once migrate one after the other.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let Some(sql) = MIGRATIONS.get(version.max(0) as usize) else {
            break;
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
    Ok(conn)
}

fn nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn from_nanos(n: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(n.max(0) as u64)
}

/// The SQLite catalogue with its in-memory LRU.
pub struct Catalogue {
    conn: Mutex<Connection>,
    memory: Mutex<LruCache<String, Arc<Asset>>>,
}

impl Catalogue {
    /// Opens (creating if needed) the database at `path`, keeping up to `memory_entries`
    /// assets in memory.
    pub fn open(path: &Path, memory_entries: usize) -> Result<Catalogue, StoreError> {
        let conn = open_database(path)?;
        Ok(Catalogue {
            conn: Mutex::new(conn),
            memory: Mutex::new(LruCache::new(
                NonZeroUsize::new(memory_entries.max(1)).expect("at least one"),
            )),
        })
    }

    /// The asset for `identifier`: from memory, else from SQLite (then remembered).
    pub fn get(&self, identifier: &str) -> Result<Option<Arc<Asset>>, StoreError> {
        if let Some(a) = self.memory.lock().expect("lru lock").get(identifier) {
            return Ok(Some(a.clone()));
        }
        let row = self
            .conn
            .lock()
            .expect("db lock")
            .query_row(
                "SELECT path, format, width, height, orientation, pixel_format, bytes,
                        modified_ns, sidecar_ns, content_hash, properties, levels
                 FROM assets WHERE identifier = ?1",
                [identifier],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u32>(2)?,
                        r.get::<_, u32>(3)?,
                        r.get::<_, u8>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, i64>(7)?,
                        r.get::<_, Option<i64>>(8)?,
                        r.get::<_, String>(9)?,
                        r.get::<_, String>(10)?,
                        r.get::<_, String>(11)?,
                    ))
                },
            )
            .optional()?;
        let Some((
            path,
            format,
            width,
            height,
            orientation,
            pixel_format,
            bytes,
            modified,
            sidecar,
            hash,
            props,
            levels,
        )) = row
        else {
            return Ok(None);
        };
        let bad = |m: String| StoreError::Row(identifier.to_string(), m);
        let asset = Arc::new(Asset {
            identifier: identifier.to_string(),
            source: SourceInfo {
                locator: Locator::new(path),
                format: ImageFormat::from_extension(&format)
                    .ok_or_else(|| bad(format!("format {format}")))?,
                width,
                height,
                orientation: Orientation::from_exif(orientation)
                    .ok_or_else(|| bad(format!("orientation {orientation}")))?,
                pixel_format,
                bytes: bytes as u64,
                modified: from_nanos(modified),
                levels: serde_json::from_str(&levels).map_err(|e| bad(e.to_string()))?,
            },
            content_hash: hash,
            sidecar_modified: sidecar.map(from_nanos),
            properties: serde_json::from_str(&props).map_err(|e| bad(e.to_string()))?,
        });
        self.memory
            .lock()
            .expect("lru lock")
            .put(identifier.to_string(), asset.clone());
        Ok(Some(asset))
    }

    /// Stores (inserts or replaces) an asset.
    pub fn put(&self, asset: Asset) -> Result<Arc<Asset>, StoreError> {
        let s = &asset.source;
        self.conn.lock().expect("db lock").execute(
            "INSERT OR REPLACE INTO assets (identifier, path, format, width, height, orientation,
                 pixel_format, bytes, modified_ns, sidecar_ns, content_hash, properties, updated_at,
                 levels)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                asset.identifier,
                s.locator.as_str(),
                s.format.extensions_str()[0],
                s.width,
                s.height,
                s.orientation.to_exif(),
                s.pixel_format,
                s.bytes as i64,
                nanos(s.modified),
                asset.sidecar_modified.map(nanos),
                asset.content_hash,
                serde_json::to_string(&asset.properties).expect("properties serialise"),
                nanos(SystemTime::now()),
                serde_json::to_string(&s.levels).expect("levels serialise"),
            ],
        )?;
        let asset = Arc::new(asset);
        self.memory
            .lock()
            .expect("lru lock")
            .put(asset.identifier.clone(), asset.clone());
        Ok(asset)
    }

    /// Whether a catalogued source has this content hash (its pyramid is still wanted).
    pub fn content_in_use(&self, content_hash: &str) -> Result<bool, StoreError> {
        let found = self
            .conn
            .lock()
            .expect("db lock")
            .query_row(
                "SELECT 1 FROM assets WHERE content_hash = ?1 LIMIT 1",
                [content_hash],
                |_| Ok(()),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Forgets an identifier (its file is gone).
    pub fn remove(&self, identifier: &str) -> Result<(), StoreError> {
        self.memory.lock().expect("lru lock").pop(identifier);
        self.conn
            .lock()
            .expect("db lock")
            .execute("DELETE FROM assets WHERE identifier = ?1", [identifier])?;
        Ok(())
    }

    /// One page of the identifiers containing `text` (ASCII case ignored), in order, and how
    /// many match in all. Identifiers in project folders (`projects/{p}/…`) are left out
    /// unless `projects` names p; `None` includes every project.
    pub fn search(
        &self,
        text: &str,
        projects: Option<&[String]>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<Listed>, u64), StoreError> {
        let pattern = format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let projects = projects.map(|p| serde_json::to_string(p).expect("strings serialise"));
        const VISIBLE: &str = "identifier LIKE ?1 ESCAPE '\\'
            AND (?2 IS NULL OR substr(identifier, 1, 9) <> 'projects/'
                 OR EXISTS (SELECT 1 FROM json_each(?2)
                            WHERE substr(identifier, 1, length(value) + 10) = 'projects/' || value || '/'))";
        let conn = self.conn.lock().expect("db lock");
        let total: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM assets WHERE {VISIBLE}"),
            params![pattern, projects],
            |r| r.get(0),
        )?;
        let mut stmt = conn.prepare(&format!(
            "SELECT identifier, width, height, format, bytes FROM assets WHERE {VISIBLE}
             ORDER BY identifier LIMIT ?3 OFFSET ?4"
        ))?;
        let rows = stmt
            .query_map(
                params![pattern, projects, limit as i64, offset as i64],
                |r| {
                    Ok(Listed {
                        identifier: r.get(0)?,
                        width: r.get(1)?,
                        height: r.get(2)?,
                        format: r.get(3)?,
                        bytes: r.get::<_, i64>(4)? as u64,
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((rows, total as u64))
    }

    /// How many identifiers the catalogue holds.
    pub fn count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .lock()
            .expect("db lock")
            .query_row("SELECT COUNT(*) FROM assets", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// A cheap query proving the database answers (for `/readyz`).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .lock()
            .expect("db lock")
            .query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(id: &str, hash: &str) -> Asset {
        Asset {
            identifier: id.into(),
            source: SourceInfo {
                locator: Locator::new(format!("{id}.jpg")),
                format: ImageFormat::Jpeg,
                width: 600,
                height: 400,
                orientation: Orientation::Rotate90,
                pixel_format: "Rgb8".into(),
                bytes: 1234,
                modified: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
                levels: vec![crate::source::Level {
                    ifd: 0,
                    subifd: None,
                    width: 600,
                    height: 400,
                    tile_width: 256,
                    tile_height: 256,
                }],
            },
            content_hash: hash.into(),
            sidecar_modified: None,
            properties: Properties {
                rights: Some("http://creativecommons.org/publicdomain/zero/1.0/".into()),
                ..Properties::default()
            },
        }
    }

    #[test]
    fn templates_made_before_teams_keep_their_names_versions_and_audit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalogue.sqlite");
        {
            // A database as the release before teams left it: four migrations.
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..4] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 4).unwrap();
            conn.execute_batch(
                "INSERT INTO template_drafts VALUES ('webinar', '{\"v\":1}', 'h1', 1, 'ana');
                 INSERT INTO template_versions VALUES ('webinar', 1, '{\"v\":1}', 'h1', 2000000000, 'ana');
                 INSERT INTO template_audit (at, who, action, name, version, content_hash)
                     VALUES (2000000000, 'ana', 'publish', 'webinar', 1, 'h1');",
            )
            .unwrap();
        }
        let store = templates::TemplateStore::open(&path).unwrap();
        let v = store.version("webinar", 1).unwrap().unwrap();
        assert_eq!(
            (v.document.as_str(), v.content_hash.as_str()),
            ("{\"v\":1}", "h1")
        );
        let d = store.draft("webinar").unwrap().unwrap();
        assert_eq!(d.project, "default");
        let audit = audit::AuditLog::open(&path).unwrap();
        let rows = audit.query(&audit::AuditFilter::default()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (
                rows[0].action.as_str(),
                rows[0].principal_name.as_str(),
                rows[0].at
            ),
            ("template.publish", "ana", 2)
        );
        assert_eq!(rows[0].detail["version"], 1);
    }

    #[test]
    fn assets_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data/catalogue.sqlite");
        {
            let c = Catalogue::open(&db, 10).unwrap();
            c.put(asset("a", "h1")).unwrap();
            c.put(asset("b", "h2")).unwrap();
            c.put(asset("a", "h3")).unwrap();
            assert_eq!(c.count().unwrap(), 2);
        }
        let c = Catalogue::open(&db, 1).unwrap();
        assert_eq!(*c.get("a").unwrap().unwrap(), asset("a", "h3"));
        assert_eq!(c.get("b").unwrap().unwrap().content_hash, "h2");
        assert!(c.get("zzz").unwrap().is_none());
        c.remove("a").unwrap();
        assert!(c.get("a").unwrap().is_none());
        c.ping().unwrap();
    }
}
