//! Usage counting for personalized-image templates: per project, template, version and UTC
//! day, how often an image was loaded and cold-rendered, the bytes sent, which fields fell
//! back and why, which requests were refused, how many were answered with a fallback because
//! a limit was hit, and which email clients asked. It is what billing, quotas and "is this
//! campaign working" dashboards read. Never addresses or field values: the counters say how
//! much, not who or what.
//!
//! Counting sits on the hot path of every template request, so [`Usage::record`] is only a
//! short update of an in-memory map; [`Usage::flush`] (every few seconds, from
//! [`Usage::start_flusher`]) moves the pending counts to SQLite in one transaction of adding
//! upserts. A crash loses at most one flush interval; a failed write puts the batch back, so
//! nothing is lost and nothing is counted twice.
//!
//! The monthly render quota asks [`Usage::month_renders`] on every cold render; it reads
//! SQLite once per project and month and then keeps the total in memory. Renders written to
//! the same database by another process after that read are not seen until the month turns.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::clock::Clock;
use crate::store::usage::{self as sql, Count};
pub use crate::store::usage::{UsageFilter, UsageRow};
use crate::store::{StoreError, open_database};

/// Which kind of email client fetched an image, told from its `User-Agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientClass {
    Gmail,
    AppleMail,
    Outlook,
    Yahoo,
    Other,
}

impl ClientClass {
    /// Every class, in declaration order.
    pub const ALL: [ClientClass; 5] = [
        ClientClass::Gmail,
        ClientClass::AppleMail,
        ClientClass::Outlook,
        ClientClass::Yahoo,
        ClientClass::Other,
    ];

    /// The class as stored and reported.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientClass::Gmail => "gmail",
            ClientClass::AppleMail => "apple_mail",
            ClientClass::Outlook => "outlook",
            ClientClass::Yahoo => "yahoo",
            ClientClass::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The email client class of a `User-Agent` (none: [`ClientClass::Other`]).
///
/// Gmail and Yahoo fetch through image proxies that name themselves; Outlook names itself in
/// all its variants (desktop, mobile apps, the new WebView2 client). Apple Mail — and Apple
/// Mail Privacy Protection's proxy — sends a bare WebKit UA: `AppleWebKit` without the
/// `Safari`, `Chrome`, `CriOS` or `Version/` a browser adds.
pub fn classify(user_agent: Option<&str>) -> ClientClass {
    let Some(ua) = user_agent else {
        return ClientClass::Other;
    };
    if ua.contains("GoogleImageProxy") {
        ClientClass::Gmail
    } else if ua.contains("YahooMailProxy") {
        ClientClass::Yahoo
    } else if [
        "Microsoft Outlook",
        "ms-office",
        "Outlook-iOS",
        "Outlook-Android",
        "OneOutlook",
        "MSOffice",
    ]
    .iter()
    .any(|s| ua.contains(s))
    {
        ClientClass::Outlook
    } else if ua.contains("AppleWebKit")
        && !["Safari", "Chrome", "CriOS", "Version/"]
            .iter()
            .any(|s| ua.contains(s))
    {
        ClientClass::AppleMail
    } else {
        ClientClass::Other
    }
}

/// What usage is counted for: one published version of a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    pub project: String,
    /// The qualified template name (`crate::team::qualified`).
    pub template: String,
    pub version: u32,
}

/// One thing that happened to a [`Subject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A request was answered (cache hits and 304s included) with `bytes` of body.
    Load { bytes: u64, client: ClientClass },
    /// The image was rendered cold.
    Render,
    /// A field fell back to its fallback value.
    Fallback { field: &'a str, reason: &'a str },
    /// The request was refused.
    Refusal { reason: &'a str },
    /// The request was answered with a fallback image because a limit was hit.
    Overflow,
    /// A request of a template with variants was answered with this one (`split/variant`
    /// when a split chose it).
    Variant { name: &'a str },
}

/// The rows as CSV: `day,project,template,version,loads,renders,bytes,overflow,fallbacks,
/// refusals,clients,variants`, the maps written `a=1;b=2`.
pub fn to_csv(rows: &[UsageRow]) -> String {
    fn joined(map: &BTreeMap<String, u64>) -> String {
        map.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "day",
        "project",
        "template",
        "version",
        "loads",
        "renders",
        "bytes",
        "overflow",
        "fallbacks",
        "refusals",
        "clients",
        "variants",
    ])
    .expect("writing CSV to memory");
    for r in rows {
        w.write_record([
            r.day.clone(),
            r.project.clone(),
            r.template.clone(),
            r.version.to_string(),
            r.loads.to_string(),
            r.renders.to_string(),
            r.bytes.to_string(),
            r.overflow.to_string(),
            joined(&r.fallbacks),
            joined(&r.refusals),
            joined(&r.clients),
            joined(&r.variants),
        ])
        .expect("writing CSV to memory");
    }
    let bytes = w.into_inner().expect("writing CSV to memory");
    String::from_utf8(bytes).expect("CSV of UTF-8 strings is UTF-8")
}

/// The proleptic Gregorian (year, month 1–12, day 1–31) of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = (if z >= 0 { z } else { z - 146_096 }) / 146_097;
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DD` of a count of days since 1970-01-01.
pub fn day_string(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A month as one number (year × 12 + month − 1), to compare months cheaply.
fn month_index(days: i64) -> i64 {
    let (y, m, _) = civil_from_days(days);
    y * 12 + i64::from(m) - 1
}

/// `YYYY-MM` of a [`month_index`].
fn month_string(index: i64) -> String {
    format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    )
}

/// Pending counters of one subject on one day.
#[derive(Debug, Default)]
struct Counters {
    loads: u64,
    renders: u64,
    bytes: u64,
    overflow: u64,
    clients: [u64; ClientClass::ALL.len()],
    /// (field, reason, count): few per template, so a list beats hashing.
    fallbacks: Vec<(String, String, u64)>,
    /// (reason, count).
    refusals: Vec<(String, u64)>,
    /// (variant, loads).
    variants: Vec<(String, u64)>,
}

/// Adds `n` to the count of `label` in a short list.
fn bump(list: &mut Vec<(String, u64)>, label: &str, n: u64) {
    match list.iter_mut().find(|(l, _)| l == label) {
        Some((_, m)) => *m += n,
        None => list.push((label.into(), n)),
    }
}

impl Counters {
    fn add(&mut self, event: Event<'_>) {
        match event {
            Event::Load { bytes, client } => {
                self.loads += 1;
                self.bytes = self.bytes.saturating_add(bytes);
                self.clients[client.index()] += 1;
            }
            Event::Render => self.renders += 1,
            Event::Fallback { field, reason } => {
                match self
                    .fallbacks
                    .iter_mut()
                    .find(|(f, r, _)| f == field && r == reason)
                {
                    Some((_, _, n)) => *n += 1,
                    None => self.fallbacks.push((field.into(), reason.into(), 1)),
                }
            }
            Event::Refusal { reason } => bump(&mut self.refusals, reason, 1),
            Event::Overflow => self.overflow += 1,
            Event::Variant { name } => bump(&mut self.variants, name, 1),
        }
    }

    fn merge(&mut self, other: Counters) {
        self.loads += other.loads;
        self.renders += other.renders;
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.overflow += other.overflow;
        for (mine, theirs) in self.clients.iter_mut().zip(other.clients) {
            *mine += theirs;
        }
        for (field, reason, n) in other.fallbacks {
            match self
                .fallbacks
                .iter_mut()
                .find(|(f, r, _)| *f == field && *r == reason)
            {
                Some((_, _, m)) => *m += n,
                None => self.fallbacks.push((field, reason, n)),
            }
        }
        for (reason, n) in other.refusals {
            bump(&mut self.refusals, &reason, n);
        }
        for (variant, n) in other.variants {
            bump(&mut self.variants, &variant, n);
        }
    }

    /// The counters as rows to add, zeros left out.
    fn counts(&self, day: &str, subject: &Subject, out: &mut Vec<Count>) {
        let mut push = |metric: &'static str, label: String, value: u64| {
            if value > 0 {
                out.push(Count {
                    day: day.to_string(),
                    project: subject.project.clone(),
                    template: subject.template.clone(),
                    version: subject.version,
                    metric,
                    label,
                    value,
                });
            }
        };
        push(sql::LOADS, String::new(), self.loads);
        push(sql::RENDERS, String::new(), self.renders);
        push(sql::BYTES, String::new(), self.bytes);
        push(sql::OVERFLOW, String::new(), self.overflow);
        for (field, reason, n) in &self.fallbacks {
            push(sql::FALLBACK, format!("{field}={reason}"), *n);
        }
        for (reason, n) in &self.refusals {
            push(sql::REFUSAL, reason.clone(), *n);
        }
        for (variant, n) in &self.variants {
            push(sql::VARIANT, variant.clone(), *n);
        }
        for class in ClientClass::ALL {
            push(
                sql::CLIENT,
                class.as_str().into(),
                self.clients[class.index()],
            );
        }
    }
}

/// Unix day → subject → counters not yet written.
type Pending = HashMap<i64, HashMap<Subject, Counters>>;

fn merge(into: &mut Pending, batch: Pending) {
    for (day, subjects) in batch {
        let per_day = into.entry(day).or_default();
        for (subject, counters) in subjects {
            per_day.entry(subject).or_default().merge(counters);
        }
    }
}

/// A project's cold renders in one month, durable and pending.
#[derive(Debug)]
struct MonthTotal {
    month: i64,
    renders: u64,
}

#[derive(Debug, Default)]
struct State {
    pending: Pending,
    /// Project → renders this month, once loaded by [`Usage::month_renders`].
    months: HashMap<String, MonthTotal>,
}

/// Locks, carrying on after a panic elsewhere: counters stay usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The usage counters: in memory, flushed to SQLite in batches.
///
/// Lock order: the connection, then the state. [`Usage::record`] takes only the state, and
/// never for longer than a map update.
pub struct Usage {
    conn: Mutex<Connection>,
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

impl Usage {
    /// Opens (creating and migrating if needed) the database at `db` with a connection of
    /// its own.
    pub fn open(db: &Path, clock: Arc<dyn Clock>) -> Result<Usage, StoreError> {
        Ok(Usage {
            conn: Mutex::new(open_database(db)?),
            state: Mutex::new(State::default()),
            clock,
        })
    }

    fn today(&self) -> i64 {
        (self.clock.unix_now() / 86_400) as i64
    }

    /// Counts `event` for `subject` today (UTC). Never touches SQLite.
    pub fn record(&self, subject: &Subject, event: Event<'_>) {
        let day = self.today();
        let month = matches!(event, Event::Render).then(|| month_index(day));
        let mut state = lock(&self.state);
        let state = &mut *state;
        let per_day = state.pending.entry(day).or_default();
        if !per_day.contains_key(subject) {
            per_day.insert(subject.clone(), Counters::default());
        }
        per_day.get_mut(subject).expect("inserted above").add(event);
        if let Some(month) = month
            && let Some(total) = state.months.get_mut(&subject.project)
            && total.month == month
        {
            total.renders += 1;
        }
    }

    /// Writes every pending count to SQLite in one transaction and returns the number of rows
    /// written. If the write fails the batch goes back to the pending counts, to be written by
    /// the next flush.
    pub fn flush(&self) -> Result<usize, StoreError> {
        let mut conn = lock(&self.conn);
        self.flush_with(&mut conn)
    }

    /// [`Usage::flush`] with the connection already locked. Holding it from the swap to the
    /// commit is what lets [`Usage::month_renders`] see every count exactly once.
    fn flush_with(&self, conn: &mut Connection) -> Result<usize, StoreError> {
        let batch = std::mem::take(&mut lock(&self.state).pending);
        if batch.is_empty() {
            return Ok(0);
        }
        let mut counts = Vec::new();
        for (day, subjects) in &batch {
            let day = day_string(*day);
            for (subject, counters) in subjects {
                counters.counts(&day, subject, &mut counts);
            }
        }
        // In primary-key order: the upserts walk the table front to back.
        counts.sort_by(|a, b| {
            (
                &a.day,
                &a.project,
                &a.template,
                a.version,
                a.metric,
                &a.label,
            )
                .cmp(&(
                    &b.day,
                    &b.project,
                    &b.template,
                    b.version,
                    b.metric,
                    &b.label,
                ))
        });
        match sql::add(conn, &counts) {
            Ok(rows) => Ok(rows),
            Err(e) => {
                merge(&mut lock(&self.state).pending, batch);
                Err(e)
            }
        }
    }

    /// Cold renders of `project` in the current UTC month, durable and pending. Reads SQLite
    /// only the first time for a project in a month; after that the total is kept in memory.
    pub fn month_renders(&self, project: &str) -> Result<u64, StoreError> {
        let month = month_index(self.today());
        if let Some(total) = lock(&self.state).months.get(project)
            && total.month == month
        {
            return Ok(total.renders);
        }
        // With the connection held no flush can move counts between the durable total and
        // the pending map while they are added up.
        let conn = lock(&self.conn);
        let durable = sql::month_renders(&conn, project, &month_string(month))?;
        let mut state = lock(&self.state);
        let pending: u64 = state
            .pending
            .iter()
            .filter(|(day, _)| month_index(**day) == month)
            .flat_map(|(_, subjects)| subjects.iter())
            .filter(|(subject, _)| subject.project == project)
            .map(|(_, counters)| counters.renders)
            .sum();
        let renders = durable + pending;
        state
            .months
            .insert(project.to_string(), MonthTotal { month, renders });
        Ok(renders)
    }

    /// The counters matching `filter`, pending ones flushed first, one row per day, project,
    /// template and version, in that order.
    pub fn report(&self, filter: &UsageFilter) -> Result<Vec<UsageRow>, StoreError> {
        let mut conn = lock(&self.conn);
        self.flush_with(&mut conn)?;
        sql::report(&conn, filter)
    }

    /// Flushes every `interval` on a thread of its own until the [`Flusher`] is stopped or
    /// dropped, then once more.
    ///
    /// Panics if the thread cannot be started.
    pub fn start_flusher(self: &Arc<Self>, interval: Duration) -> Flusher {
        let usage = Arc::clone(self);
        let interval = interval.max(Duration::from_millis(10));
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("usage-flush".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    flush_logged(&usage);
                }
                flush_logged(&usage);
            })
            .expect("start the usage flusher thread");
        Flusher {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

fn flush_logged(usage: &Usage) {
    match usage.flush() {
        Ok(rows) => tracing::debug!(rows, "usage flushed"),
        Err(e) => tracing::warn!(error = %e, "usage flush failed; the counts stay pending"),
    }
}

/// The background flusher of [`Usage::start_flusher`]. Stopping (or dropping) it ends the
/// thread after one last flush.
#[derive(Debug)]
pub struct Flusher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Stops the thread, waiting for its last flush.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Dropping the sender wakes the thread.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the usage flusher thread panicked");
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    /// 2026-03-14 10:00 UTC.
    const MAR_14: u64 = 1_773_446_400 + 10 * 3_600;
    /// 2026-03-15 23:59:59 UTC.
    const MAR_15: u64 = 1_773_532_800 + 86_399;
    /// 2026-04-01 00:00 UTC.
    const APR_1: u64 = 1_775_001_600;

    struct Fixture {
        _dir: tempfile::TempDir,
        db: std::path::PathBuf,
        clock: Arc<FixedClock>,
        usage: Usage,
    }

    fn fixture(at: u64) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data/tessera.sqlite");
        let clock = Arc::new(FixedClock::at(at));
        let usage = Usage::open(&db, clock.clone()).unwrap();
        Fixture {
            _dir: dir,
            db,
            clock,
            usage,
        }
    }

    impl Fixture {
        /// Another `Usage` on the same database (as after a restart).
        fn reopen(&self) -> Usage {
            Usage::open(&self.db, self.clock.clone()).unwrap()
        }
    }

    fn subject(project: &str, template: &str, version: u32) -> Subject {
        Subject {
            project: project.into(),
            template: template.into(),
            version,
        }
    }

    fn empty(day: &str, s: &Subject) -> UsageRow {
        UsageRow {
            day: day.into(),
            project: s.project.clone(),
            template: s.template.clone(),
            version: s.version,
            ..UsageRow::default()
        }
    }

    fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn all() -> UsageFilter {
        UsageFilter::default()
    }

    fn load(bytes: u64, client: ClientClass) -> Event<'static> {
        Event::Load { bytes, client }
    }

    /// The scripted sequence: two subjects, every kind of event.
    fn script(u: &Usage, a: &Subject, b: &Subject) {
        u.record(a, load(1_000, ClientClass::Gmail));
        u.record(a, load(500, ClientClass::AppleMail));
        u.record(a, load(250, ClientClass::Gmail));
        u.record(a, Event::Render);
        let missing = "missing".to_string();
        u.record(
            a,
            Event::Fallback {
                field: "first_name",
                reason: &missing,
            },
        );
        u.record(
            a,
            Event::Fallback {
                field: "first_name",
                reason: "missing",
            },
        );
        u.record(
            a,
            Event::Fallback {
                field: "photo",
                reason: "unreadable",
            },
        );
        u.record(a, Event::Refusal { reason: "expired" });
        u.record(a, Event::Overflow);
        u.record(b, load(2_000, ClientClass::Outlook));
        u.record(b, Event::Render);
        u.record(b, Event::Render);
        u.record(
            b,
            Event::Refusal {
                reason: "bad_signature",
            },
        );
        u.record(
            b,
            Event::Refusal {
                reason: "bad_signature",
            },
        );
    }

    /// What [`script`] counts, `times` over, on `day`.
    fn scripted(day: &str, a: &Subject, b: &Subject, times: u64) -> Vec<UsageRow> {
        let mut ra = empty(day, a);
        ra.loads = 3 * times;
        ra.renders = times;
        ra.bytes = 1_750 * times;
        ra.overflow = times;
        ra.fallbacks = map(&[
            ("first_name=missing", 2 * times),
            ("photo=unreadable", times),
        ]);
        ra.refusals = map(&[("expired", times)]);
        ra.clients = map(&[("apple_mail", times), ("gmail", 2 * times)]);
        let mut rb = empty(day, b);
        rb.loads = times;
        rb.renders = 2 * times;
        rb.bytes = 2_000 * times;
        rb.refusals = map(&[("bad_signature", 2 * times)]);
        rb.clients = map(&[("outlook", times)]);
        vec![ra, rb]
    }

    fn subjects() -> (Subject, Subject) {
        (
            subject("default", "badge", 1),
            subject("emea", "emea.badge", 2),
        )
    }

    #[test]
    fn classifies_email_clients_by_user_agent() {
        use ClientClass::*;
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
                Gmail,
            ),
            (
                "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
                Yahoo,
            ),
            (
                "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; \
                 .NET4.0E; Microsoft Outlook 16.0.5161; ms-office; MSOffice 16)",
                Outlook,
            ),
            (
                "Microsoft Office/16.0 (Windows NT 10.0; MSOffice 16)",
                Outlook,
            ),
            ("Outlook-iOS/709.2189947.prod.iphone (3.24.0)", Outlook),
            ("Outlook-Android/2.0", Outlook),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0 OneOutlook/1.2023.1214.100",
                Outlook,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
                AppleMail,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Mobile/15E148",
                AppleMail,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like \
                 Gecko) Version/17.1 Safari/605.1.15",
                Other,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, \
                 like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
                Other,
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/120.0.0.0 Safari/537.36",
                Other,
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                Other,
            ),
            ("curl/8.5.0", Other),
            ("", Other),
        ];
        for (ua, class) in cases {
            assert_eq!(classify(Some(ua)), class, "{ua}");
        }
        assert_eq!(classify(None), Other);
        let names: Vec<_> = ClientClass::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["gmail", "apple_mail", "outlook", "yahoo", "other"]);
    }

    #[test]
    fn civil_dates_from_unix_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_788), (2026, 12, 1));
        assert_eq!(civil_from_days(20_787), (2026, 11, 30));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(day_string(11_016), "2000-02-29");
        assert_eq!(day_string(20_788), "2026-12-01");
        assert_eq!(month_string(month_index(20_788)), "2026-12");
        assert_eq!(month_string(month_index(0)), "1970-01");
        // Every day of four centuries round-trips through its civil date in order.
        let mut last = civil_from_days(-1);
        for days in 0..146_097 {
            let (y, m, d) = civil_from_days(days);
            let next_day = (y, m, last.2 + 1) == (last.0, last.1, d);
            let next_month =
                d == 1 && ((y, m) == (last.0, last.1 + 1) || (y, m) == (last.0 + 1, 1));
            assert!(next_day || next_month, "{days}: {last:?} → {:?}", (y, m, d));
            last = (y, m, d);
        }
    }

    #[test]
    fn a_scripted_day_is_reported_exactly() {
        let f = fixture(MAR_14);
        let (a, b) = subjects();
        script(&f.usage, &a, &b);
        // a: loads, renders, bytes, overflow, 2 fallbacks, 1 refusal, 2 clients;
        // b: loads, renders, bytes, 1 refusal, 1 client.
        assert_eq!(f.usage.flush().unwrap(), 14);
        assert_eq!(f.usage.flush().unwrap(), 0);
        assert_eq!(
            f.usage.report(&all()).unwrap(),
            scripted("2026-03-14", &a, &b, 1)
        );
    }

    #[test]
    fn report_flushes_what_is_pending() {
        let f = fixture(MAR_14);
        let (a, b) = subjects();
        script(&f.usage, &a, &b);
        assert_eq!(
            f.usage.report(&all()).unwrap(),
            scripted("2026-03-14", &a, &b, 1)
        );
        assert_eq!(f.usage.flush().unwrap(), 0);
    }

    #[test]
    fn records_fall_on_their_utc_day() {
        let f = fixture(MAR_14);
        let (a, b) = subjects();
        script(&f.usage, &a, &b);
        f.clock.set(MAR_15);
        script(&f.usage, &a, &b);
        script(&f.usage, &a, &b);
        let mut expected = scripted("2026-03-14", &a, &b, 1);
        expected.extend(scripted("2026-03-15", &a, &b, 2));
        assert_eq!(f.usage.report(&all()).unwrap(), expected);
    }

    #[test]
    fn a_second_flush_adds_to_the_first() {
        let f = fixture(MAR_14);
        let (a, b) = subjects();
        script(&f.usage, &a, &b);
        assert_eq!(f.usage.flush().unwrap(), 14);
        script(&f.usage, &a, &b);
        script(&f.usage, &a, &b);
        assert_eq!(f.usage.flush().unwrap(), 14);
        assert_eq!(
            f.usage.report(&all()).unwrap(),
            scripted("2026-03-14", &a, &b, 3)
        );
    }

    #[test]
    fn nothing_is_counted_twice() {
        let f = fixture(MAR_14);
        let (a, b) = subjects();
        script(&f.usage, &a, &b);
        f.usage.flush().unwrap();
        let first = f.usage.report(&all()).unwrap();
        assert_eq!(f.usage.flush().unwrap(), 0);
        assert_eq!(f.usage.report(&all()).unwrap(), first);
        assert_eq!(first, scripted("2026-03-14", &a, &b, 1));
    }

    #[test]
    fn counts_survive_a_restart() {
        let f = fixture(MAR_14);
        let (a, b) = subjects();
        script(&f.usage, &a, &b);
        f.usage.flush().unwrap();
        let again = f.reopen();
        assert_eq!(
            again.report(&all()).unwrap(),
            scripted("2026-03-14", &a, &b, 1)
        );
        script(&again, &a, &b);
        assert_eq!(
            f.reopen().report(&all()).unwrap(),
            scripted("2026-03-14", &a, &b, 1),
            "pending counts are not durable until flushed"
        );
        again.flush().unwrap();
        assert_eq!(
            f.reopen().report(&all()).unwrap(),
            scripted("2026-03-14", &a, &b, 2)
        );
    }

    #[test]
    fn a_failed_flush_keeps_the_batch_for_the_next() {
        let f = fixture(MAR_14);
        let (a, b) = subjects();
        script(&f.usage, &a, &b);
        f.usage.flush().unwrap();
        script(&f.usage, &a, &b);
        // Fail the write part-way through the transaction: some rows would already be added.
        let other = Connection::open(&f.db).unwrap();
        other
            .execute_batch(
                "CREATE TRIGGER fail_clients BEFORE UPDATE ON usage WHEN NEW.metric = 'client'
                 BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;",
            )
            .unwrap();
        assert!(f.usage.flush().is_err());
        assert!(f.usage.report(&all()).is_err());
        assert_eq!(
            f.reopen().report(&all()).unwrap(),
            scripted("2026-03-14", &a, &b, 1),
            "the failed batch left nothing behind"
        );
        script(&f.usage, &a, &b);
        other.execute_batch("DROP TRIGGER fail_clients").unwrap();
        assert_eq!(f.usage.flush().unwrap(), 14);
        assert_eq!(
            f.usage.report(&all()).unwrap(),
            scripted("2026-03-14", &a, &b, 3)
        );
    }

    #[test]
    fn month_renders_counts_pending_and_durable_and_resets_monthly() {
        let f = fixture(MAR_14);
        let (a, b) = subjects();
        let a2 = subject("default", "banner", 4);
        f.usage.record(&a, Event::Render);
        f.usage.record(&a2, Event::Render);
        f.usage.record(&b, Event::Render);
        assert_eq!(f.usage.month_renders("default").unwrap(), 2);
        assert_eq!(f.usage.month_renders("emea").unwrap(), 1);
        assert_eq!(f.usage.month_renders("nobody").unwrap(), 0);
        f.usage.record(&a, Event::Render);
        f.usage.record(&a, load(10, ClientClass::Other));
        assert_eq!(f.usage.month_renders("default").unwrap(), 3);
        f.usage.flush().unwrap();
        assert_eq!(f.usage.month_renders("default").unwrap(), 3);
        f.clock.set(MAR_15);
        f.usage.record(&a2, Event::Render);
        assert_eq!(f.usage.month_renders("default").unwrap(), 4);

        // Restarted: the durable total plus what is pending.
        let again = f.reopen();
        again.record(&a, Event::Render);
        assert_eq!(again.month_renders("default").unwrap(), 4);
        again.record(&a, Event::Render);
        assert_eq!(again.month_renders("default").unwrap(), 5);

        // Loaded once: later writes by someone else are not read again this month.
        f.usage.flush().unwrap();
        assert_eq!(again.month_renders("default").unwrap(), 5);

        // A new month starts from zero; March's pending renders stay March's.
        f.usage.record(&a, Event::Render);
        f.clock.set(APR_1);
        assert_eq!(f.usage.month_renders("default").unwrap(), 0);
        f.usage.record(&a, Event::Render);
        assert_eq!(f.usage.month_renders("default").unwrap(), 1);
        f.usage.flush().unwrap();
        assert_eq!(f.reopen().month_renders("default").unwrap(), 1);
        assert_eq!(f.usage.month_renders("emea").unwrap(), 0);
        let march = f.usage.report(&UsageFilter {
            project: Some("default".into()),
            to: Some("2026-03-31".into()),
            ..all()
        });
        let renders: u64 = march.unwrap().iter().map(|r| r.renders).sum();
        assert_eq!(renders, 5);
    }

    #[test]
    fn filters_select_rows() {
        let f = fixture(MAR_14);
        let a1 = subject("default", "badge", 1);
        let a2 = subject("default", "badge", 2);
        let c = subject("default", "card", 1);
        let e = subject("emea", "emea.badge", 1);
        for s in [&a1, &a2, &c, &e] {
            f.usage.record(s, Event::Render);
        }
        f.clock.set(MAR_15);
        for s in [&a1, &e] {
            f.usage.record(s, Event::Render);
        }
        let keys = |filter: UsageFilter| -> Vec<String> {
            f.usage
                .report(&filter)
                .unwrap()
                .iter()
                .map(|r| format!("{} {} {} {}", r.day, r.project, r.template, r.version))
                .collect()
        };
        assert_eq!(
            keys(all()),
            [
                "2026-03-14 default badge 1",
                "2026-03-14 default badge 2",
                "2026-03-14 default card 1",
                "2026-03-14 emea emea.badge 1",
                "2026-03-15 default badge 1",
                "2026-03-15 emea emea.badge 1",
            ]
        );
        assert_eq!(
            keys(UsageFilter {
                project: Some("emea".into()),
                ..all()
            }),
            [
                "2026-03-14 emea emea.badge 1",
                "2026-03-15 emea emea.badge 1"
            ]
        );
        assert_eq!(
            keys(UsageFilter {
                template: Some("badge".into()),
                ..all()
            }),
            [
                "2026-03-14 default badge 1",
                "2026-03-14 default badge 2",
                "2026-03-15 default badge 1",
            ]
        );
        assert_eq!(
            keys(UsageFilter {
                template: Some("badge".into()),
                version: Some(2),
                ..all()
            }),
            ["2026-03-14 default badge 2"]
        );
        assert_eq!(
            keys(UsageFilter {
                from: Some("2026-03-15".into()),
                ..all()
            }),
            ["2026-03-15 default badge 1", "2026-03-15 emea emea.badge 1"]
        );
        assert_eq!(
            keys(UsageFilter {
                project: Some("default".into()),
                from: Some("2026-03-14".into()),
                to: Some("2026-03-14".into()),
                ..all()
            }),
            [
                "2026-03-14 default badge 1",
                "2026-03-14 default badge 2",
                "2026-03-14 default card 1",
            ]
        );
        assert!(
            keys(UsageFilter {
                from: Some("2026-03-16".into()),
                ..all()
            })
            .is_empty()
        );
    }

    #[test]
    fn csv_has_one_line_per_row() {
        let (a, b) = subjects();
        let rows = scripted("2026-03-14", &a, &b, 1);
        assert_eq!(
            to_csv(&rows),
            "day,project,template,version,loads,renders,bytes,overflow,fallbacks,refusals,clients,variants\n\
             2026-03-14,default,badge,1,3,1,1750,1,first_name=missing=2;photo=unreadable=1,expired=1,apple_mail=1;gmail=2,\n\
             2026-03-14,emea,emea.badge,2,1,2,2000,0,,bad_signature=2,outlook=1,\n"
        );
        let mut odd = empty("2026-03-15", &subject("p", "a \"b\", c", 3));
        odd.refusals = map(&[("x", 1)]);
        assert_eq!(
            to_csv(&[odd]),
            "day,project,template,version,loads,renders,bytes,overflow,fallbacks,refusals,clients,variants\n\
             2026-03-15,p,\"a \"\"b\"\", c\",3,0,0,0,0,,x=1,,\n"
        );
        assert_eq!(
            to_csv(&[]),
            "day,project,template,version,loads,renders,bytes,overflow,fallbacks,refusals,clients,variants\n"
        );
    }

    #[test]
    fn rows_serialize_as_json() {
        let (a, b) = subjects();
        let json = serde_json::to_value(&scripted("2026-03-14", &a, &b, 1)[1]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "day": "2026-03-14", "project": "emea", "template": "emea.badge", "version": 2,
                "loads": 1, "renders": 2, "bytes": 2000, "overflow": 0,
                "fallbacks": {}, "refusals": {"bad_signature": 2}, "clients": {"outlook": 1}, "variants": {}
            })
        );
    }

    #[test]
    fn the_flusher_writes_in_the_background_and_once_more_when_stopped() {
        let f = fixture(MAR_14);
        let usage = Arc::new(f.reopen());
        let (a, b) = subjects();
        let flusher = usage.start_flusher(Duration::from_millis(20));
        script(&usage, &a, &b);
        let expected = scripted("2026-03-14", &a, &b, 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while f.usage.report(&all()).unwrap() != expected {
            assert!(std::time::Instant::now() < deadline, "never flushed");
            std::thread::sleep(Duration::from_millis(10));
        }
        flusher.stop();
        // Stopping flushes what came after the last tick.
        let long = usage.start_flusher(Duration::from_secs(3_600));
        script(&usage, &a, &b);
        long.stop();
        assert_eq!(
            f.usage.report(&all()).unwrap(),
            scripted("2026-03-14", &a, &b, 2)
        );
        // So does dropping.
        let dropped = usage.start_flusher(Duration::from_secs(3_600));
        script(&usage, &a, &b);
        drop(dropped);
        assert_eq!(
            f.usage.report(&all()).unwrap(),
            scripted("2026-03-14", &a, &b, 3)
        );
    }
}
