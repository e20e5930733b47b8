//! Recipient data sets: rows of a project's table keyed by an opaque id, so a URL carries
//! only the id and the personal data stays here. An upload is applied whole in one
//! transaction or not at all; rows may expire. What changed is returned, so the caller can
//! remove the renders of changed and deleted rows.
//!
//! Values are personal data: they are never logged, and errors never carry them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{StoreError, open_database};
use crate::dataset::table::Keyed;

/// A data set as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataSetInfo {
    pub project: String,
    pub name: String,
    pub key_column: String,
    pub columns: Vec<String>,
    pub rows: u64,
    pub updated_at: u64,
    pub updated_by: String,
}

/// How an upload meets the rows already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The upload becomes the whole set: rows not in it are deleted.
    Replace,
    /// Rows in the upload are added or replaced; the others stay.
    Upsert,
}

/// What an upload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
    /// Keys whose renders are stale: changed or deleted rows. Not serialised (ids only, but
    /// the caller needs no list in its answer).
    #[serde(skip)]
    pub stale: Vec<String>,
}

/// One upload, validated.
pub struct Upload<'a> {
    pub project: &'a str,
    pub name: &'a str,
    pub key_column: &'a str,
    pub columns: &'a [String],
    pub rows: &'a [Keyed],
    pub mode: Mode,
    /// Unix second after which the uploaded rows are gone, when they expire.
    pub expires_at: Option<u64>,
    pub who: &'a str,
    pub now: u64,
}

/// The data-set tables of the catalogue database.
pub struct DataSetStore {
    conn: Mutex<Connection>,
}

/// A row's values as stored (a JSON object), and its version: the values hashed. Equal
/// versions need no new render.
fn stored(row: &Keyed, columns: &[String]) -> (String, String) {
    let json = serde_json::to_string(&row.named(columns)).expect("strings serialise");
    let version = blake3::hash(json.as_bytes()).to_hex()[..32].to_string();
    (json, version)
}

impl DataSetStore {
    pub fn open(path: &Path) -> Result<DataSetStore, StoreError> {
        Ok(DataSetStore {
            conn: Mutex::new(open_database(path)?),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().expect("data set db lock")
    }

    /// The project's data sets, by name.
    pub fn list(&self, project: &str) -> Result<Vec<DataSetInfo>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT project, name, key_column, columns, rows, updated_at, updated_by
             FROM datasets WHERE project = ?1 ORDER BY name",
        )?;
        let rows = stmt.query_map(params![project], info_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn info(&self, project: &str, name: &str) -> Result<Option<DataSetInfo>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT project, name, key_column, columns, rows, updated_at, updated_by
                 FROM datasets WHERE project = ?1 AND name = ?2",
                params![project, name],
                info_row,
            )
            .optional()?)
    }

    /// Applies an upload in one transaction: all of it, or nothing.
    pub fn apply(&self, u: &Upload) -> Result<Applied, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut applied = Applied::default();
        {
            let mut existing = tx.prepare(
                "SELECT version FROM dataset_rows WHERE project = ?1 AND dataset = ?2 AND key = ?3",
            )?;
            let mut put = tx.prepare(
                "INSERT INTO dataset_rows (project, dataset, key, vals, version, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (project, dataset, key) DO UPDATE
                 SET vals = excluded.vals, version = excluded.version,
                     expires_at = excluded.expires_at",
            )?;
            for row in u.rows {
                let (vals, v) = stored(row, u.columns);
                let before: Option<String> = existing
                    .query_row(params![u.project, u.name, row.key], |r| r.get(0))
                    .optional()?;
                match before {
                    None => applied.inserted += 1,
                    Some(b) if b == v => applied.unchanged += 1,
                    Some(_) => {
                        applied.updated += 1;
                        applied.stale.push(row.key.clone());
                    }
                }
                put.execute(params![
                    u.project,
                    u.name,
                    row.key,
                    vals,
                    v,
                    u.expires_at.map(|e| e as i64)
                ])?;
            }
        }
        if u.mode == Mode::Replace {
            // Every key of the upload, to find the rows it leaves out.
            tx.execute_batch("CREATE TEMP TABLE IF NOT EXISTS upload_keys (key TEXT PRIMARY KEY); DELETE FROM upload_keys;")?;
            {
                let mut keep = tx.prepare("INSERT OR IGNORE INTO upload_keys (key) VALUES (?1)")?;
                for row in u.rows {
                    keep.execute(params![row.key])?;
                }
            }
            let gone: Vec<String> = {
                let mut stmt = tx.prepare(
                    "SELECT key FROM dataset_rows WHERE project = ?1 AND dataset = ?2
                     AND key NOT IN (SELECT key FROM upload_keys)",
                )?;
                let keys = stmt.query_map(params![u.project, u.name], |r| r.get(0))?;
                keys.collect::<Result<_, _>>()?
            };
            tx.execute(
                "DELETE FROM dataset_rows WHERE project = ?1 AND dataset = ?2
                 AND key NOT IN (SELECT key FROM upload_keys)",
                params![u.project, u.name],
            )?;
            tx.execute_batch("DELETE FROM upload_keys;")?;
            applied.deleted = gone.len() as u64;
            applied.stale.extend(gone);
        }
        let columns = serde_json::to_string(u.columns).expect("strings serialise");
        tx.execute(
            "INSERT INTO datasets (project, name, key_column, columns, rows, updated_at, updated_by)
             VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)
             ON CONFLICT (project, name) DO UPDATE
             SET key_column = excluded.key_column, columns = excluded.columns,
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            params![u.project, u.name, u.key_column, columns, u.now as i64, u.who],
        )?;
        recount(&tx, u.project, u.name)?;
        tx.commit()?;
        Ok(applied)
    }

    /// Deletes rows by key; returns the keys that were there.
    pub fn delete_rows(
        &self,
        project: &str,
        name: &str,
        keys: &[String],
        who: &str,
        now: u64,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut deleted = Vec::new();
        {
            let mut del = tx.prepare(
                "DELETE FROM dataset_rows WHERE project = ?1 AND dataset = ?2 AND key = ?3",
            )?;
            for key in keys {
                if del.execute(params![project, name, key])? > 0 {
                    deleted.push(key.clone());
                }
            }
        }
        tx.execute(
            "UPDATE datasets SET updated_at = ?3, updated_by = ?4 WHERE project = ?1 AND name = ?2",
            params![project, name, now as i64, who],
        )?;
        recount(&tx, project, name)?;
        tx.commit()?;
        Ok(deleted)
    }

    /// Deletes a whole data set; returns its keys (their renders go too).
    pub fn drop_set(&self, project: &str, name: &str) -> Result<Option<Vec<String>>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let keys: Vec<String> = {
            let mut stmt =
                tx.prepare("SELECT key FROM dataset_rows WHERE project = ?1 AND dataset = ?2")?;
            let keys = stmt.query_map(params![project, name], |r| r.get(0))?;
            keys.collect::<Result<_, _>>()?
        };
        tx.execute(
            "DELETE FROM dataset_rows WHERE project = ?1 AND dataset = ?2",
            params![project, name],
        )?;
        let existed = tx.execute(
            "DELETE FROM datasets WHERE project = ?1 AND name = ?2",
            params![project, name],
        )? > 0;
        tx.commit()?;
        Ok(existed.then_some(keys))
    }

    /// One row's values, unless it has expired at `now`.
    pub fn row(
        &self,
        project: &str,
        name: &str,
        key: &str,
        now: u64,
    ) -> Result<Option<BTreeMap<String, String>>, StoreError> {
        let found: Option<String> = self
            .conn()
            .query_row(
                "SELECT vals FROM dataset_rows WHERE project = ?1 AND dataset = ?2 AND key = ?3
                 AND (expires_at IS NULL OR expires_at > ?4)",
                params![project, name, key, now as i64],
                |r| r.get(0),
            )
            .optional()?;
        found
            .map(|json| {
                serde_json::from_str(&json)
                    .map_err(|e| StoreError::Row(format!("{project}/{name}"), e.to_string()))
            })
            .transpose()
    }

    /// Deletes rows expired at `now`; returns them as (project, data set, key).
    pub fn sweep(&self, now: u64) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let gone: Vec<(String, String, String)> = {
            let mut stmt = tx.prepare(
                "SELECT project, dataset, key FROM dataset_rows
                 WHERE expires_at IS NOT NULL AND expires_at <= ?1",
            )?;
            let rows = stmt.query_map(params![now as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        if !gone.is_empty() {
            tx.execute(
                "DELETE FROM dataset_rows WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                params![now as i64],
            )?;
            let sets: std::collections::BTreeSet<(&str, &str)> = gone
                .iter()
                .map(|(p, d, _)| (p.as_str(), d.as_str()))
                .collect();
            for (project, name) in sets {
                recount(&tx, project, name)?;
            }
        }
        tx.commit()?;
        Ok(gone)
    }
}

fn recount(tx: &rusqlite::Transaction, project: &str, name: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE datasets SET rows = (SELECT COUNT(*) FROM dataset_rows
            WHERE project = ?1 AND dataset = ?2)
         WHERE project = ?1 AND name = ?2",
        params![project, name],
    )?;
    Ok(())
}

fn info_row(r: &rusqlite::Row) -> rusqlite::Result<DataSetInfo> {
    let columns: String = r.get(3)?;
    Ok(DataSetInfo {
        project: r.get(0)?,
        name: r.get(1)?,
        key_column: r.get(2)?,
        columns: serde_json::from_str(&columns).unwrap_or_default(),
        rows: r.get::<_, i64>(4)? as u64,
        updated_at: r.get::<_, i64>(5)? as u64,
        updated_by: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(key: &str, name: &str) -> Keyed {
        Keyed {
            key: key.into(),
            line: 2,
            values: vec![(1, name.to_string())],
        }
    }

    fn upload<'a>(rows: &'a [Keyed], columns: &'a [String], mode: Mode) -> Upload<'a> {
        Upload {
            project: "default",
            name: "people",
            key_column: "id",
            columns,
            rows,
            mode,
            expires_at: None,
            who: "user:1",
            now: 100,
        }
    }

    #[test]
    fn uploads_replace_upsert_delete_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = DataSetStore::open(&dir.path().join("c.db")).unwrap();
        let columns = vec!["id".to_string(), "name".to_string()];
        let first = [keyed("a", "Ana"), keyed("b", "Bo")];
        let r = store
            .apply(&upload(&first, &columns, Mode::Replace))
            .unwrap();
        assert_eq!((r.inserted, r.updated, r.deleted), (2, 0, 0));
        assert_eq!(
            store.row("default", "people", "a", 100).unwrap().unwrap()["name"],
            "Ana"
        );
        let second = [keyed("a", "Ana"), keyed("c", "Cy")];
        let r = store
            .apply(&upload(&second, &columns, Mode::Upsert))
            .unwrap();
        assert_eq!((r.inserted, r.unchanged, r.deleted), (1, 1, 0));
        assert_eq!(store.info("default", "people").unwrap().unwrap().rows, 3);
        let third = [keyed("a", "Anna")];
        let r = store
            .apply(&upload(&third, &columns, Mode::Replace))
            .unwrap();
        assert_eq!((r.updated, r.deleted), (1, 2));
        let mut stale = r.stale.clone();
        stale.sort();
        assert_eq!(stale, ["a", "b", "c"]);
        assert_eq!(store.row("default", "people", "b", 100).unwrap(), None);
        let gone = store
            .delete_rows(
                "default",
                "people",
                &["a".into(), "zz".into()],
                "user:1",
                101,
            )
            .unwrap();
        assert_eq!(gone, ["a"]);
        assert_eq!(store.info("default", "people").unwrap().unwrap().rows, 0);
        let mut expiring = upload(&first, &columns, Mode::Upsert);
        expiring.expires_at = Some(200);
        store.apply(&expiring).unwrap();
        assert!(store.row("default", "people", "a", 199).unwrap().is_some());
        assert_eq!(store.row("default", "people", "a", 200).unwrap(), None);
        assert_eq!(store.sweep(200).unwrap().len(), 2);
        assert_eq!(store.drop_set("default", "people").unwrap(), Some(vec![]));
        assert_eq!(store.drop_set("default", "people").unwrap(), None);
    }
}
