//! The audit trail: one append-only row per state-changing action, refusals included. The
//! database itself refuses updates and deletes (triggers), so not even raw SQL rewrites it.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};
use serde::Serialize;

use super::{StoreError, open_database};

/// One action: who (as authenticated), with which role, did what to what, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    /// Assigned by the database; 0 before appending.
    pub id: i64,
    /// Unix seconds.
    pub at: u64,
    pub request_id: String,
    /// `user:3`, `key:tsk_…`, `token`, `cli`.
    pub principal: String,
    pub principal_name: String,
    pub role: String,
    pub project: Option<String>,
    /// `template.publish`, `key.create`, `cache.purge`, …
    pub action: String,
    pub target: String,
    pub address: String,
    /// `ok`, or `refused:<code>` / `failed:<code>`.
    pub outcome: String,
    /// Action-specific facts (a version, a content hash, a comment) — never field values.
    pub detail: serde_json::Value,
}

/// Which rows to read; every part optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub project: Option<String>,
    pub principal: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    /// Unix seconds, inclusive.
    pub from: Option<u64>,
    pub to: Option<u64>,
    /// Rows after this id (for paging forwards).
    pub after: Option<i64>,
    /// Rows before this id (for paging back from the newest).
    pub before: Option<i64>,
    /// Newest first (the latest N rows, with `limit`).
    pub newest_first: bool,
    pub limit: Option<u32>,
}

/// The audit table of the catalogue database.
pub struct AuditLog {
    conn: Mutex<Connection>,
}

impl AuditLog {
    pub fn open(path: &Path) -> Result<AuditLog, StoreError> {
        Ok(AuditLog {
            conn: Mutex::new(open_database(path)?),
        })
    }

    /// Appends a row; returns its id.
    pub fn append(&self, r: &AuditRecord) -> Result<i64, StoreError> {
        let conn = self.conn.lock().expect("audit db lock");
        conn.execute(
            "INSERT INTO audit (at, request_id, principal, principal_name, role, project, action,
                                target, address, outcome, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                r.at as i64,
                r.request_id,
                r.principal,
                r.principal_name,
                r.role,
                r.project,
                r.action,
                r.target,
                r.address,
                r.outcome,
                r.detail.to_string()
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Rows matching `filter`, oldest first. `action` also matches actions below it
    /// (`template` finds `template.publish`), `target` targets below it (`emea.badge` finds
    /// `emea.badge/versions/2`), compared as text (no wildcards).
    pub fn query(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let conn = self.conn.lock().expect("audit db lock");
        let order = if f.newest_first { "DESC" } else { "ASC" };
        let mut stmt = conn.prepare(&format!(
            "SELECT id, at, request_id, principal, principal_name, role, project, action, target,
                    address, outcome, detail
             FROM audit
             WHERE (?1 IS NULL OR project = ?1) AND (?2 IS NULL OR principal = ?2)
               AND (?3 IS NULL OR action = ?3 OR substr(action, 1, length(?3) + 1) = ?3 || '.')
               AND (?4 IS NULL OR target = ?4 OR substr(target, 1, length(?4) + 1) = ?4 || '/')
               AND (?5 IS NULL OR at >= ?5) AND (?6 IS NULL OR at <= ?6)
               AND id > ?7 AND (?9 IS NULL OR id < ?9)
             ORDER BY id {order} LIMIT ?8"
        ))?;
        let rows = stmt.query_map(
            params![
                f.project,
                f.principal,
                f.action,
                f.target,
                f.from.map(|v| v as i64),
                f.to.map(|v| v as i64),
                f.after.unwrap_or(0),
                f.limit.map_or(-1, i64::from),
                f.before
            ],
            |r| {
                let detail: String = r.get(11)?;
                Ok(AuditRecord {
                    id: r.get(0)?,
                    at: r.get::<_, i64>(1)?.max(0) as u64,
                    request_id: r.get(2)?,
                    principal: r.get(3)?,
                    principal_name: r.get(4)?,
                    role: r.get(5)?,
                    project: r.get(6)?,
                    action: r.get(7)?,
                    target: r.get(8)?,
                    address: r.get(9)?,
                    outcome: r.get(10)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Rows as CSV (header first); `detail` as its JSON text.
pub fn to_csv(rows: &[AuditRecord]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id",
        "at",
        "request_id",
        "principal",
        "principal_name",
        "role",
        "project",
        "action",
        "target",
        "address",
        "outcome",
        "detail",
    ])?;
    for r in rows {
        w.write_record([
            r.id.to_string(),
            r.at.to_string(),
            r.request_id.clone(),
            r.principal.clone(),
            r.principal_name.clone(),
            r.role.clone(),
            r.project.clone().unwrap_or_default(),
            r.action.clone(),
            r.target.clone(),
            r.address.clone(),
            r.outcome.clone(),
            r.detail.to_string(),
        ])?;
    }
    Ok(String::from_utf8(w.into_inner().map_err(|e| e.into_error())?).expect("csv is UTF-8"))
}

/// Rows as JSON Lines.
pub fn to_json_lines(rows: &[AuditRecord]) -> String {
    rows.iter()
        .map(|r| serde_json::to_string(r).expect("audit rows serialise") + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(action: &str, target: &str, at: u64) -> AuditRecord {
        AuditRecord {
            id: 0,
            at,
            request_id: "r1".into(),
            principal: "user:1".into(),
            principal_name: "ana@example.com".into(),
            role: "designer".into(),
            project: Some("emea".into()),
            action: action.into(),
            target: target.into(),
            address: "127.0.0.1".into(),
            outcome: "ok".into(),
            detail: serde_json::json!({"version": 1}),
        }
    }

    #[test]
    fn rows_append_filter_and_cannot_be_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let log = AuditLog::open(&path).unwrap();
        log.append(&row("template.save", "emea.badge", 10)).unwrap();
        log.append(&row("template.publish", "emea.badge", 20))
            .unwrap();
        log.append(&row("key.create", "tsk_x", 30)).unwrap();
        log.append(&row("template.save", "emea.badge2", 40))
            .unwrap();
        log.append(&row("template.save", "emeaxbadge", 50)).unwrap();
        let badge = log
            .query(&AuditFilter {
                target: Some("emea.badge".into()),
                ..AuditFilter::default()
            })
            .unwrap();
        assert_eq!(badge.len(), 2, "no prefix or wildcard matches");
        let all = log.query(&AuditFilter::default()).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all[1].detail, serde_json::json!({"version": 1}));
        let templates = log
            .query(&AuditFilter {
                action: Some("template".into()),
                ..AuditFilter::default()
            })
            .unwrap();
        assert_eq!(templates.len(), 4);
        let late = log
            .query(&AuditFilter {
                from: Some(15),
                to: Some(25),
                ..AuditFilter::default()
            })
            .unwrap();
        assert_eq!(late[0].action, "template.publish");
        let latest = log
            .query(&AuditFilter {
                newest_first: true,
                limit: Some(2),
                ..AuditFilter::default()
            })
            .unwrap();
        let ids: Vec<i64> = latest.iter().map(|r| r.id).collect();
        assert_eq!(ids, [all[4].id, all[3].id], "the latest two, newest first");
        let back = log
            .query(&AuditFilter {
                newest_first: true,
                before: Some(all[3].id),
                limit: Some(2),
                ..AuditFilter::default()
            })
            .unwrap();
        assert_eq!(back[0].id, all[2].id, "paging back from the oldest shown");
        let conn = Connection::open(&path).unwrap();
        for sql in ["UPDATE audit SET outcome = 'x'", "DELETE FROM audit"] {
            let err = conn.execute(sql, []).unwrap_err().to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
        let csv = to_csv(&all).unwrap();
        assert_eq!(csv.lines().count(), 6);
        assert_eq!(to_json_lines(&all).lines().count(), 5);
    }
}
