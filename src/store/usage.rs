//! Usage persistence: the SQL behind [`crate::usage::Usage`] and nothing else. One row of the
//! `usage` table is one counter — (day, project, template, version, metric, label) → value —
//! so a batch is written with upserts that add, and a report is those rows grouped back into
//! one [`UsageRow`] per day and template version.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use super::StoreError;

/// Which rows a report holds; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct UsageFilter {
    pub project: Option<String>,
    /// Qualified template name.
    pub template: Option<String>,
    pub version: Option<u32>,
    /// First day, `YYYY-MM-DD`, inclusive.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`, inclusive.
    pub to: Option<String>,
}

/// The counters of one template version on one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UsageRow {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub project: String,
    pub template: String,
    pub version: u32,
    pub loads: u64,
    pub renders: u64,
    pub bytes: u64,
    pub overflow: u64,
    /// `field=reason` → count.
    pub fallbacks: BTreeMap<String, u64>,
    /// Reason → count.
    pub refusals: BTreeMap<String, u64>,
    /// Client class → loads.
    pub clients: BTreeMap<String, u64>,
    /// Variant → loads, for templates with variants (`split/variant` when a split chose).
    pub variants: BTreeMap<String, u64>,
}

/// Answered requests (cache hits and 304s included); no label.
pub const LOADS: &str = "loads";
/// Cold renders; no label.
pub const RENDERS: &str = "renders";
/// Bytes sent; no label.
pub const BYTES: &str = "bytes";
/// Requests answered with a fallback image because a limit was hit; no label.
pub const OVERFLOW: &str = "overflow";
/// Fields that fell back; label `field=reason`.
pub const FALLBACK: &str = "fallback";
/// Refused requests; label the reason.
pub const REFUSAL: &str = "refusal";
/// Loads by email client class; label the class.
pub const CLIENT: &str = "client";
/// Loads by variant; label the variant (`split/variant` when a split chose it).
pub const VARIANT: &str = "variant";

/// One counter to add to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub project: String,
    /// Qualified template name.
    pub template: String,
    pub version: u32,
    /// One of the metric constants of this module.
    pub metric: &'static str,
    /// `""` for unlabelled metrics.
    pub label: String,
    pub value: u64,
}

fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_sql(v: i64) -> u64 {
    v.max(0) as u64
}

/// Adds every count to its row (creating it at the count) in one transaction: all of the
/// batch is written, or none of it. Returns the number of rows written.
pub fn add(conn: &mut Connection, counts: &[Count]) -> Result<usize, StoreError> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO usage (day, project, template, version, metric, label, value)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (day, project, template, version, metric, label)
             DO UPDATE SET value = value + excluded.value",
        )?;
        for c in counts {
            stmt.execute(params![
                c.day,
                c.project,
                c.template,
                c.version,
                c.metric,
                c.label,
                to_sql(c.value)
            ])?;
        }
    }
    tx.commit()?;
    Ok(counts.len())
}

/// Cold renders of `project` stored for the month `month` (`YYYY-MM`).
pub fn month_renders(conn: &Connection, project: &str, month: &str) -> Result<u64, StoreError> {
    // A day range rather than LIKE, so the primary key (day first) narrows the scan.
    let total: i64 = conn.query_row(
        "SELECT COALESCE(SUM(value), 0) FROM usage
         WHERE day >= ?1 AND day <= ?2 AND project = ?3 AND metric = ?4",
        params![
            format!("{month}-01"),
            format!("{month}-31"),
            project,
            RENDERS
        ],
        |r| r.get(0),
    )?;
    Ok(from_sql(total))
}

/// The stored counters matching `filter`, one row per day, project, template and version, in
/// that order.
pub fn report(conn: &Connection, filter: &UsageFilter) -> Result<Vec<UsageRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, project, template, version, metric, label, value FROM usage
         WHERE (?1 IS NULL OR project = ?1)
           AND (?2 IS NULL OR template = ?2)
           AND (?3 IS NULL OR version = ?3)
           AND (?4 IS NULL OR day >= ?4)
           AND (?5 IS NULL OR day <= ?5)
         ORDER BY day, project, template, version, metric, label",
    )?;
    let mut rows = stmt.query(params![
        filter.project,
        filter.template,
        filter.version,
        filter.from,
        filter.to
    ])?;
    let mut out: Vec<UsageRow> = Vec::new();
    while let Some(r) = rows.next()? {
        let day: String = r.get(0)?;
        let project: String = r.get(1)?;
        let template: String = r.get(2)?;
        let version: u32 = r.get(3)?;
        let metric: String = r.get(4)?;
        let label: String = r.get(5)?;
        let value = from_sql(r.get(6)?);
        let same = out.last().is_some_and(|u| {
            u.day == day && u.project == project && u.template == template && u.version == version
        });
        if !same {
            out.push(UsageRow {
                day,
                project,
                template,
                version,
                ..UsageRow::default()
            });
        }
        let row = out.last_mut().expect("pushed above");
        match metric.as_str() {
            LOADS => row.loads += value,
            RENDERS => row.renders += value,
            BYTES => row.bytes += value,
            OVERFLOW => row.overflow += value,
            FALLBACK => *row.fallbacks.entry(label).or_default() += value,
            REFUSAL => *row.refusals.entry(label).or_default() += value,
            CLIENT => *row.clients.entry(label).or_default() += value,
            VARIANT => *row.variants.entry(label).or_default() += value,
            // A metric a newer build writes: this build does not report it.
            _ => {}
        }
    }
    Ok(out)
}
