//! Reading an uploaded table of recipients (CSV or JSON) into rows.
//!
//! An upload is applied whole or not at all, so reading never stops at the first bad row: every
//! bad row is reported with the line of the file where its record starts, and the caller gets
//! either all rows or all problems. Cell values are personal data, so no error message ever
//! quotes one; messages name lines and columns only.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// How many bad rows an error lists; the rest are only counted, so a hostile upload cannot
/// make the error itself huge.
const LISTED_BAD_ROWS: usize = 1000;

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl crate::error::Coded for TableError {
    fn code(&self) -> crate::error::Code {
        use crate::error::Code;
        match self {
            TableError::TooLarge(..) | TableError::TooManyRows(_) => Code::UploadTooLarge,
            TableError::BadRows { .. } => Code::BadRows,
            TableError::NoHeader | TableError::Header(_) | TableError::Json(_) => Code::BadUpload,
        }
    }
}

/// Limits, checked before and while reading.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Size of the whole upload, checked before anything is parsed.
    pub max_bytes: usize,
    /// Data rows (bad ones included), not counting the header.
    pub max_rows: usize,
    pub max_columns: usize,
    /// Characters, not bytes, in one cell or column name.
    pub max_cell_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 100 * 1024 * 1024,
            max_rows: 1_000_000,
            max_columns: 256,
            max_cell_chars: 4096,
        }
    }
}

/// The syntax of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// Guesses the format from the first significant byte: a CSV header cannot sensibly start
    /// with `[` or `{`, while every accepted JSON upload does.
    pub fn sniff(bytes: &[u8]) -> Format {
        let bytes = strip_bom(bytes);
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[' | b'{') => Format::Json,
            _ => Format::Csv,
        }
    }
}

/// A table read without problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

/// One record; `cells[i]` belongs to `columns[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 1-based line of the file where the record (for JSON, its `{`) starts.
    pub line: u64,
    /// Exactly one per column, as written; a key missing from a JSON object is "".
    pub cells: Vec<String>,
}

/// A record that cannot be used, and why, without its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub reason: String,
}

/// Why an upload cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("the upload is {0} bytes, over the limit of {1}")]
    TooLarge(usize, usize),
    #[error("more than {0} rows")]
    TooManyRows(usize),
    #[error("the table is empty: there is no header row or column")]
    NoHeader,
    #[error("header: {0}")]
    Header(String),
    /// The first 1000 bad rows in file order; `more` counts the ones not listed.
    #[error("{}", bad_rows_summary(.rows, *.more))]
    BadRows { rows: Vec<BadRow>, more: usize },
    #[error("invalid JSON: {0}")]
    Json(String),
}

fn bad_rows_summary(rows: &[BadRow], more: usize) -> String {
    let total = rows.len().saturating_add(more);
    match rows.first() {
        Some(first) if total == 1 => format!("1 bad row, on line {}", first.line),
        Some(first) => format!("{total} bad rows, the first on line {}", first.line),
        None => format!("{total} bad rows"),
    }
}

/// Reads `bytes` as `format`.
pub fn read(bytes: &[u8], format: Format, limits: &Limits) -> Result<Table, TableError> {
    match format {
        Format::Csv => read_csv(bytes, limits),
        Format::Json => read_json(bytes, limits),
    }
}

/// Reads a CSV with a header row: UTF-8 with or without BOM, LF or CRLF line ends, RFC 4180
/// quoting. Entirely empty lines are skipped; cells are kept as written, only column names are
/// trimmed (spreadsheets often leave a stray space after a name, and names are matched).
pub fn read_csv(bytes: &[u8], limits: &Limits) -> Result<Table, TableError> {
    let (table, bad) = csv_rows(bytes, limits, false)?;
    bad.into_result(table)
}

/// Like [`read_csv`], but keeps the good rows when some are bad: the table of the good ones,
/// and the bad ones by line (the first 1,000) with how many more there were.
pub fn read_csv_skipping(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Table, Vec<BadRow>, usize), TableError> {
    let (table, bad) = csv_rows(bytes, limits, true)?;
    Ok((table, bad.rows, bad.more))
}

/// The rows of a CSV and its bad rows; good rows after a bad one are kept only when asked.
fn csv_rows(
    bytes: &[u8],
    limits: &Limits,
    keep_good: bool,
) -> Result<(Table, BadList), TableError> {
    check_size(bytes, limits)?;
    let bytes = strip_bom(bytes);
    // Flexible, because a short row must become a bad row rather than abort the whole read;
    // byte records, because invalid UTF-8 is a problem of one row, not of the file.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut lines = LineCounter::new(bytes);
    let mut record = csv::ByteRecord::new();

    if !matches!(reader.read_byte_record(&mut record), Ok(true)) {
        return Err(TableError::NoHeader);
    }
    let columns = csv_columns(&record, limits)?;

    let mut rows = Vec::new();
    let mut bad = BadList::default();
    let mut count = 0usize;
    loop {
        let more = reader.read_byte_record(&mut record);
        // The csv crate's own line count starts before skipped empty lines, so the start of
        // the record is found from its byte offset instead.
        let start = record.position().map_or(0, |p| p.byte());
        let line = lines.line_at(record_start(bytes, start));
        match more {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => {
                // Cannot happen when reading from memory; stop rather than loop on it.
                bad.push(line, "could not be read".to_string());
                break;
            }
        }
        count += 1;
        if count > limits.max_rows {
            return Err(TableError::TooManyRows(limits.max_rows));
        }
        match csv_cells(&record, &columns, limits) {
            // Once a row is bad an upload is refused, so good rows need not be kept.
            Ok(cells) if keep_good || bad.is_empty() => rows.push(Row { line, cells }),
            Ok(_) => {}
            Err(reason) => bad.push(line, reason),
        }
    }
    Ok((Table { columns, rows }, bad))
}

fn csv_columns(record: &csv::ByteRecord, limits: &Limits) -> Result<Vec<String>, TableError> {
    if record.len() > limits.max_columns {
        return Err(TableError::Header(format!(
            "the header has {} columns, over the limit of {}",
            record.len(),
            limits.max_columns
        )));
    }
    let mut columns = Vec::with_capacity(record.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, field) in record.iter().enumerate() {
        let number = i + 1;
        let Ok(name) = std::str::from_utf8(field) else {
            return Err(TableError::Header(format!(
                "the name of column {number} is not valid UTF-8"
            )));
        };
        // A second BOM (a file saved twice with one) would otherwise hide in the first name.
        let name = name.trim_start_matches('\u{feff}').trim();
        if name.is_empty() {
            return Err(TableError::Header(format!("column {number} has no name")));
        }
        if too_long(name, limits) {
            return Err(TableError::Header(format!(
                "the name of column {number} is longer than {} characters",
                limits.max_cell_chars
            )));
        }
        if let Some(first) = seen.insert(name.to_string(), number) {
            return Err(TableError::Header(format!(
                "column '{name}' appears twice (columns {first} and {number})"
            )));
        }
        columns.push(name.to_string());
    }
    Ok(columns)
}

/// The cells of one data record, or why the record is bad.
fn csv_cells(
    record: &csv::ByteRecord,
    columns: &[String],
    limits: &Limits,
) -> Result<Vec<String>, String> {
    if record.len() != columns.len() {
        return Err(format!(
            "has {} {}, the header has {}",
            record.len(),
            if record.len() == 1 { "cell" } else { "cells" },
            columns.len()
        ));
    }
    let mut cells = Vec::with_capacity(columns.len());
    let mut problems = Vec::new();
    for (field, name) in record.iter().zip(columns) {
        match std::str::from_utf8(field) {
            Err(_) => problems.push(format!("column '{name}' is not valid UTF-8")),
            Ok(cell) if too_long(cell, limits) => problems.push(format!(
                "column '{name}' is longer than {} characters",
                limits.max_cell_chars
            )),
            Ok(cell) if problems.is_empty() => cells.push(cell.to_string()),
            Ok(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(cells)
    } else {
        Err(problems.join("; "))
    }
}

/// Reads an array of objects, or objects one per line (NDJSON). Columns are the keys in order of
/// first appearance (trimmed, as CSV names are); strings are kept as written, numbers become
/// their JSON text as `serde_json` prints it (`12.50` reads as "12.5", so amounts that must
/// keep their digits belong in strings), booleans "true"/"false", null "".
pub fn read_json(bytes: &[u8], limits: &Limits) -> Result<Table, TableError> {
    check_size(bytes, limits)?;
    let bytes = strip_bom(bytes);
    let mut lines = LineCounter::new(bytes);
    let mut table = JsonTable::new(limits);
    let mut pos = skip_ws(bytes, 0);
    match bytes.get(pos) {
        None => return Err(TableError::NoHeader),
        Some(b'[') => {
            // Each element is parsed on its own so its line is known and a non-object element
            // is a bad row rather than a failure of the whole array.
            pos = skip_ws(bytes, pos + 1);
            if bytes.get(pos) == Some(&b']') {
                pos += 1;
            } else {
                loop {
                    let line = lines.line_at(pos);
                    let (value, end) = json_value(bytes, pos, line)?;
                    table.add(line, value)?;
                    pos = skip_ws(bytes, end);
                    match bytes.get(pos) {
                        Some(b',') => pos = skip_ws(bytes, pos + 1),
                        Some(b']') => {
                            pos += 1;
                            break;
                        }
                        Some(_) => {
                            return Err(json_error(
                                lines.line_at(pos),
                                "expected ',' or ']' after an element",
                            ));
                        }
                        None => {
                            return Err(json_error(lines.line_at(pos), "the array is not closed"));
                        }
                    }
                }
            }
            pos = skip_ws(bytes, pos);
            if pos < bytes.len() {
                return Err(json_error(
                    lines.line_at(pos),
                    "unexpected content after the array",
                ));
            }
        }
        Some(b'{') => {
            while pos < bytes.len() {
                let line = lines.line_at(pos);
                let (value, end) = json_value(bytes, pos, line)?;
                table.add(line, value)?;
                pos = skip_ws(bytes, end);
            }
        }
        Some(_) => {
            return Err(json_error(
                lines.line_at(pos),
                "expected an array of objects or one object per line",
            ));
        }
    }
    table.finish()
}

/// Parses the one JSON value starting at `pos` (on line `line`); returns it and where it ends.
fn json_value(bytes: &[u8], pos: usize, line: u64) -> Result<(Value, usize), TableError> {
    let rest = bytes.get(pos..).unwrap_or_default();
    let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<Value>();
    match values.next() {
        Some(Ok(value)) => Ok((value, pos.saturating_add(values.byte_offset()))),
        Some(Err(e)) => {
            let at = line.saturating_add((e.line() as u64).saturating_sub(1));
            // Syntax messages are fixed phrases ("expected value", "trailing comma"); other
            // categories may quote input, so they get a generic phrase.
            let what = match e.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    let text = e.to_string();
                    match text.rfind(" at line ") {
                        Some(cut) => text[..cut].to_string(),
                        None => text,
                    }
                }
                _ => "not valid JSON".to_string(),
            };
            Err(json_error(at, &what))
        }
        None => Err(json_error(line, "the JSON ends early")),
    }
}

fn json_error(line: u64, what: &str) -> TableError {
    TableError::Json(format!("line {line}: {what}"))
}

/// Rows of a JSON upload as they are read; columns grow as new keys appear.
struct JsonTable<'a> {
    limits: &'a Limits,
    columns: Vec<String>,
    index: HashMap<String, usize>,
    rows: Vec<Row>,
    bad: BadList,
    count: usize,
}

impl<'a> JsonTable<'a> {
    fn new(limits: &'a Limits) -> Self {
        JsonTable {
            limits,
            columns: Vec::new(),
            index: HashMap::new(),
            rows: Vec::new(),
            bad: BadList::default(),
            count: 0,
        }
    }

    fn add(&mut self, line: u64, value: Value) -> Result<(), TableError> {
        self.count += 1;
        if self.count > self.limits.max_rows {
            return Err(TableError::TooManyRows(self.limits.max_rows));
        }
        let object = match value {
            Value::Object(object) => object,
            other => {
                let reason = format!("is {}, not an object", kind(&other));
                self.bad.push(line, reason);
                return Ok(());
            }
        };
        let mut cells = vec![String::new(); self.columns.len()];
        let mut filled = vec![false; self.columns.len()];
        let mut problems = Vec::new();
        for (key, value) in object {
            let name = key.trim();
            if name.is_empty() {
                problems.push("has a key with no name".to_string());
                continue;
            }
            if too_long(name, self.limits) {
                problems.push(format!(
                    "has a key longer than {} characters",
                    self.limits.max_cell_chars
                ));
                continue;
            }
            let text = match value {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => String::new(),
                nested @ (Value::Array(_) | Value::Object(_)) => {
                    problems.push(format!("column '{name}' holds {}", kind(&nested)));
                    continue;
                }
            };
            if too_long(&text, self.limits) {
                problems.push(format!(
                    "column '{name}' is longer than {} characters",
                    self.limits.max_cell_chars
                ));
                continue;
            }
            let i = match self.index.get(name) {
                Some(&i) => i,
                None => {
                    if self.columns.len() >= self.limits.max_columns {
                        return Err(TableError::Header(format!(
                            "the objects have more than {} different keys",
                            self.limits.max_columns
                        )));
                    }
                    self.index.insert(name.to_string(), self.columns.len());
                    self.columns.push(name.to_string());
                    self.columns.len() - 1
                }
            };
            if i >= cells.len() {
                cells.resize(i + 1, String::new());
                filled.resize(i + 1, false);
            }
            // Keys differing only in surrounding spaces land in the same column.
            if filled[i] {
                problems.push(format!("column '{name}' appears twice"));
                continue;
            }
            filled[i] = true;
            cells[i] = text;
        }
        if !problems.is_empty() {
            self.bad.push(line, problems.join("; "));
        } else if self.bad.is_empty() {
            self.rows.push(Row { line, cells });
        }
        Ok(())
    }

    fn finish(self) -> Result<Table, TableError> {
        let JsonTable {
            columns,
            mut rows,
            bad,
            ..
        } = self;
        if bad.is_empty() && columns.is_empty() {
            // `[]` or `{}` only: refusing it keeps an accident from wiping a data set.
            return Err(TableError::NoHeader);
        }
        // Rows read before a key first appeared are shorter than the final header.
        for row in &mut rows {
            row.cells.resize(columns.len(), String::new());
        }
        bad.into_result(Table { columns, rows })
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A recipient of a data set keyed by one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed {
    pub key: String,
    pub line: u64,
    /// Every other column as (its index in [`KeyedTable::columns`], the cell trimmed); empty
    /// cells are left out. Indexes, not names: a million rows must not hold a million maps.
    pub values: Vec<(u32, String)>,
}

/// The rows of a table keyed by one column, and the table's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedTable {
    pub columns: Vec<String>,
    pub rows: Vec<Keyed>,
}

impl Keyed {
    /// The row's values by column name.
    pub fn named<'a>(&'a self, columns: &'a [String]) -> BTreeMap<&'a str, &'a str> {
        self.values
            .iter()
            .filter_map(|(i, v)| Some((columns.get(*i as usize)?.as_str(), v.as_str())))
            .collect()
    }
}

/// Keys are opaque ids that travel in URLs: 1 to 128 ASCII letters, digits, '-', '_', '.' or
/// ':'. No '@', so an e-mail address (personal data) cannot be a key.
pub fn valid_key(key: &str) -> bool {
    (1..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Every row keyed by its (trimmed) `key_column`; all rows with an empty, invalid or repeated
/// key are reported together.
pub fn keyed(table: Table, key_column: &str) -> Result<KeyedTable, TableError> {
    let Table { columns, rows } = table;
    let Some(key_index) = columns.iter().position(|c| c == key_column) else {
        return Err(TableError::Header(format!(
            "no column named '{key_column}'"
        )));
    };
    let mut out = Vec::with_capacity(rows.len());
    let mut first_line: HashMap<String, u64> = HashMap::with_capacity(rows.len());
    let mut bad = BadList::default();
    for Row { line, cells } in rows {
        let mut key = String::new();
        let mut values = Vec::new();
        for (i, cell) in cells.into_iter().enumerate() {
            let cell = trimmed(cell);
            if i == key_index {
                key = cell;
            } else if !cell.is_empty() {
                values.push((i as u32, cell));
            }
        }
        if key.is_empty() {
            bad.push(line, "the key is empty".to_string());
        } else if !valid_key(&key) {
            bad.push(
                line,
                "the key is not 1 to 128 letters, digits, '-', '_', '.' or ':'".to_string(),
            );
        } else {
            match first_line.entry(key) {
                Entry::Occupied(e) => bad.push(line, format!("the same key as line {}", e.get())),
                Entry::Vacant(e) => {
                    let key = e.key().clone();
                    e.insert(line);
                    if bad.is_empty() {
                        out.push(Keyed { key, line, values });
                    }
                }
            }
        }
    }
    bad.into_result(KeyedTable { columns, rows: out })
}

/// Bad rows in file order, the first `LISTED_BAD_ROWS` kept.
#[derive(Default)]
struct BadList {
    rows: Vec<BadRow>,
    more: usize,
}

impl BadList {
    fn push(&mut self, line: u64, reason: String) {
        if self.rows.len() < LISTED_BAD_ROWS {
            self.rows.push(BadRow { line, reason });
        } else {
            self.more = self.more.saturating_add(1);
        }
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn into_result<T>(self, ok: T) -> Result<T, TableError> {
        if self.rows.is_empty() {
            Ok(ok)
        } else {
            Err(TableError::BadRows {
                rows: self.rows,
                more: self.more,
            })
        }
    }
}

/// Counts lines forward through the file; offsets asked for only grow, so the whole file is
/// scanned once however many records it has.
struct LineCounter<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            pos: 0,
            line: 1,
        }
    }

    /// The 1-based line of `offset`. A line ends at LF, CRLF or a lone CR, as records do in
    /// the csv crate.
    fn line_at(&mut self, offset: usize) -> u64 {
        let end = offset.min(self.bytes.len());
        if let Some(span) = self.bytes.get(self.pos..end) {
            for (i, &b) in span.iter().enumerate() {
                let lone_cr = b == b'\r' && self.bytes.get(self.pos + i + 1) != Some(&b'\n');
                if b == b'\n' || lone_cr {
                    self.line += 1;
                }
            }
            self.pos = end;
        }
        self.line
    }
}

/// Where a record really starts: the csv crate's record position is right after the previous
/// record, before any line ends (and empty lines) it skipped.
fn record_start(bytes: &[u8], from: u64) -> usize {
    let from = usize::try_from(from).unwrap_or(usize::MAX);
    let skipped = bytes
        .get(from..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    from.saturating_add(skipped)
}

fn check_size(bytes: &[u8], limits: &Limits) -> Result<(), TableError> {
    if bytes.len() > limits.max_bytes {
        return Err(TableError::TooLarge(bytes.len(), limits.max_bytes));
    }
    Ok(())
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

fn skip_ws(bytes: &[u8], from: usize) -> usize {
    let skipped = bytes
        .get(from..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .count();
    from.saturating_add(skipped)
}

fn too_long(text: &str, limits: &Limits) -> bool {
    // Bytes bound chars from above, so counting chars is only needed for long cells.
    text.len() > limits.max_cell_chars && text.chars().count() > limits.max_cell_chars
}

fn trimmed(cell: String) -> String {
    let t = cell.trim();
    if t.len() == cell.len() {
        cell
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Table, TableError> {
        read_csv(text.as_bytes(), &Limits::default())
    }

    fn json(text: &str) -> Result<Table, TableError> {
        read_json(text.as_bytes(), &Limits::default())
    }

    /// The bad rows of an error as (line, reason) pairs; panics (in tests only) otherwise.
    fn bad(result: Result<impl std::fmt::Debug, TableError>) -> Vec<(u64, String)> {
        match result {
            Err(TableError::BadRows { rows, more: 0 }) => {
                rows.into_iter().map(|b| (b.line, b.reason)).collect()
            }
            other => panic!("expected bad rows, got {other:?}"),
        }
    }

    fn lines(table: &Table) -> Vec<u64> {
        table.rows.iter().map(|r| r.line).collect()
    }

    fn header_error(result: Result<Table, TableError>) -> String {
        match result {
            Err(TableError::Header(why)) => why,
            other => panic!("expected a header error, got {other:?}"),
        }
    }

    #[test]
    fn csv_bom_crlf_and_quoting_round_trip() {
        let text = "\u{feff}id,name,note\r\n\
                    c1,\"Smith, Ana\",\"she said \"\"hi\"\"\"\r\n\
                    c2,Bo,\"line one\r\nline two\"\r\n\
                    c3, spaced ,\r\n";
        let table = csv(text).unwrap();
        assert_eq!(table.columns, ["id", "name", "note"]);
        assert_eq!(lines(&table), [2, 3, 5]);
        assert_eq!(table.rows[0].cells, ["c1", "Smith, Ana", "she said \"hi\""]);
        assert_eq!(table.rows[1].cells, ["c2", "Bo", "line one\r\nline two"]);
        // Cells are kept as written; trimming is the caller's business.
        assert_eq!(table.rows[2].cells, ["c3", " spaced ", ""]);
    }

    #[test]
    fn csv_column_names_are_trimmed_and_lose_any_bom() {
        let table = csv("\u{feff}\u{feff} id , name\nc1,Ana\n").unwrap();
        assert_eq!(table.columns, ["id", "name"]);
        assert!(!table.columns[0].starts_with('\u{feff}'));
    }

    #[test]
    fn csv_true_lines_with_lf() {
        let text = "a,b,c\n1,2,3\n1,2\n\n1,2,3\n1\n";
        assert_eq!(
            bad(csv(text)),
            [
                (3, "has 2 cells, the header has 3".to_string()),
                (6, "has 1 cell, the header has 3".to_string()),
            ]
        );
        assert_eq!(lines(&csv("a\n\n\n1\n\n2").unwrap()), [4, 6]);
    }

    #[test]
    fn csv_true_lines_with_crlf_and_lone_cr() {
        assert_eq!(bad(csv("a,b,c\r\n1,2,3\r\n\r\n1,2\r\n"))[0].0, 4);
        assert_eq!(bad(csv("a,b\r1,2\r3\r4,5\r"))[0].0, 3);
        // Mixed line ends in one file.
        assert_eq!(bad(csv("a,b\n1,2\r\n\n3\r\n4,5\n"))[0].0, 4);
    }

    #[test]
    fn csv_lines_after_multi_line_quoted_cells() {
        let table = csv("a,b\n1,\"x\ny\nz\"\n2,3\n").unwrap();
        assert_eq!(lines(&table), [2, 5]);
        assert_eq!(bad(csv("a,b\n1,\"x\ny\nz\"\n2\n3,4\n"))[0].0, 5);
        // The bad row itself spans lines: its start is reported, and the next ones shift.
        let text = "a,b\r\n\"1\r\n2\",\"3\r\n4\",5\r\n6\r\n7,8\r\n";
        assert_eq!(
            bad(csv(text)),
            [
                (2, "has 3 cells, the header has 2".to_string()),
                (5, "has 1 cell, the header has 2".to_string()),
            ]
        );
    }

    #[test]
    fn csv_reports_every_bad_row_and_no_good_one() {
        let text = b"id,name\nc1,Ana\nc2\nc3,Bo\nc4,x,y\nc5,Cy\n\xff,Di\nc7,Ed\n";
        let rows = bad(read_csv(text, &Limits::default()));
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [3, 5, 7]);
        assert_eq!(rows[2].1, "column 'id' is not valid UTF-8");
    }

    #[test]
    fn csv_bad_utf8_and_long_cells_name_their_columns() {
        let limits = Limits {
            max_cell_chars: 3,
            ..Limits::default()
        };
        let text = b"id,nm\nc1,\xc3\xa9\xc3\xa9\xc3\xa9\nc2,abcd\n\xfe,abcde\n";
        assert_eq!(
            bad(read_csv(text, &limits)),
            [
                (3, "column 'nm' is longer than 3 characters".to_string()),
                (
                    4,
                    "column 'id' is not valid UTF-8; column 'nm' is longer than 3 characters"
                        .to_string()
                ),
            ]
        );
    }

    #[test]
    fn empty_uploads_have_no_header() {
        for text in ["", "\u{feff}", "\n\n", "\r\n"] {
            assert_eq!(csv(text), Err(TableError::NoHeader), "{text:?}");
            assert_eq!(json(text), Err(TableError::NoHeader), "{text:?}");
        }
        assert_eq!(json("[]"), Err(TableError::NoHeader));
        assert_eq!(json("[{}, {}]"), Err(TableError::NoHeader));
        let header_only = csv("id,name\r\n").unwrap();
        assert_eq!(header_only.columns, ["id", "name"]);
        assert!(header_only.rows.is_empty());
    }

    #[test]
    fn header_problems() {
        assert_eq!(header_error(csv("a,,c\n")), "column 2 has no name");
        assert_eq!(header_error(csv("a, ,c\n")), "column 2 has no name");
        assert_eq!(
            header_error(csv("email,b,email\n")),
            "column 'email' appears twice (columns 1 and 3)"
        );
        assert_eq!(
            header_error(read_csv(b"a,\xff\n", &Limits::default())),
            "the name of column 2 is not valid UTF-8"
        );
        let limits = Limits {
            max_columns: 2,
            max_cell_chars: 4,
            ..Limits::default()
        };
        assert_eq!(
            header_error(read_csv(b"a,b,c\n", &limits)),
            "the header has 3 columns, over the limit of 2"
        );
        assert_eq!(
            header_error(read_csv(b"a,bbbbb\n", &limits)),
            "the name of column 2 is longer than 4 characters"
        );
        assert_eq!(
            header_error(read_json(br#"{"a":1}{"b":1}{"c":1}"#, &limits)),
            "the objects have more than 2 different keys"
        );
        assert!(
            TableError::Header("column 2 has no name".into())
                .to_string()
                .contains("column 2")
        );
    }

    #[test]
    fn too_large_is_checked_before_parsing() {
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        let junk = b"\xff\xff[[[[{{{{\"\"\"";
        let too_large = TableError::TooLarge(junk.len(), 10);
        assert_eq!(read_csv(junk, &limits), Err(too_large.clone()));
        assert_eq!(read_json(junk, &limits), Err(too_large.clone()));
        assert_eq!(
            read(junk, Format::sniff(junk), &limits),
            Err(too_large.clone())
        );
        assert_eq!(
            too_large.to_string(),
            "the upload is 13 bytes, over the limit of 10"
        );
        assert!(read_csv(b"a\n1\n2\n3\n4", &limits).is_ok());
    }

    #[test]
    fn too_many_rows() {
        let limits = Limits {
            max_rows: 2,
            ..Limits::default()
        };
        assert_eq!(read_csv(b"a\n1\n2\n", &limits).unwrap().rows.len(), 2);
        // Bad rows count too: the limit bounds the work, whatever the rows hold.
        assert_eq!(
            read_csv(b"a\n1\n2,2\n3\n", &limits),
            Err(TableError::TooManyRows(2))
        );
        assert_eq!(
            read_json(b"[{\"a\":1},{\"a\":2},{\"a\":3}]", &limits),
            Err(TableError::TooManyRows(2))
        );
        assert_eq!(
            read_json(b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n", &limits),
            Err(TableError::TooManyRows(2))
        );
    }

    #[test]
    fn bad_rows_are_listed_up_to_a_cap_and_counted_beyond() {
        let mut text = String::from("a,b\n");
        for _ in 0..1500 {
            text.push_str("1\n");
        }
        match csv(&text) {
            Err(e @ TableError::BadRows { .. }) => {
                assert_eq!(e.to_string(), "1500 bad rows, the first on line 2");
                let TableError::BadRows { rows, more } = e else {
                    unreachable!()
                };
                assert_eq!((rows.len(), more), (1000, 500));
                assert_eq!(rows[999].line, 1001);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            csv("a,b\n1\n").unwrap_err().to_string(),
            "1 bad row, on line 2"
        );
    }

    #[test]
    fn sniffing() {
        assert_eq!(Format::sniff(b"[{}]"), Format::Json);
        assert_eq!(Format::sniff(b"\xEF\xBB\xBF \r\n\t{\"a\":1}"), Format::Json);
        assert_eq!(Format::sniff(b"id,name\n"), Format::Csv);
        assert_eq!(Format::sniff(b"\xEF\xBB\xBFid"), Format::Csv);
        assert_eq!(Format::sniff(b""), Format::Csv);
        assert_eq!(Format::sniff(b"\xff"), Format::Csv);
    }

    #[test]
    fn json_array_values_and_lines() {
        let text = "\u{feff}[\n  {\"id\": \"c1\", \"n\": 12, \"ok\": true, \"x\": null},\n  \
                    {\"id\": \"c2\",\n   \"extra\": 2.5},\n  \
                    {\"id\": \" c3 \", \"n\": -3, \"ok\": false}\n]\n";
        let table = read(
            text.as_bytes(),
            Format::sniff(text.as_bytes()),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(table.columns, ["id", "n", "ok", "x", "extra"]);
        assert_eq!(lines(&table), [2, 3, 5]);
        assert_eq!(table.rows[0].cells, ["c1", "12", "true", "", ""]);
        assert_eq!(table.rows[1].cells, ["c2", "", "", "", "2.5"]);
        assert_eq!(table.rows[2].cells, [" c3 ", "-3", "false", "", ""]);
    }

    #[test]
    fn ndjson_with_blank_lines() {
        let text =
            "{\"id\":\"c1\",\"age\":40}\r\n\r\n{\"id\":\"c2\"}\n\n\n  {\"age\":7,\"id\":\"c3\"}";
        let table = json(text).unwrap();
        assert_eq!(table.columns, ["id", "age"]);
        assert_eq!(lines(&table), [1, 3, 6]);
        assert_eq!(table.rows[1].cells, ["c2", ""]);
        assert_eq!(table.rows[2].cells, ["c3", "7"]);
    }

    #[test]
    fn json_bad_rows() {
        let text = "[{\"a\": 1},\n{\"a\": [1]},\n3,\n\"s\",\n{\"a\": {\"b\": 1}, \"\": 1},\n\
                    null,\n{\"a\": 1, \" a \": 2}]";
        assert_eq!(
            bad(json(text)),
            [
                (2, "column 'a' holds an array".to_string()),
                (3, "is a number, not an object".to_string()),
                (4, "is a string, not an object".to_string()),
                (
                    5,
                    "column 'a' holds an object; has a key with no name".to_string()
                ),
                (6, "is null, not an object".to_string()),
                (7, "column 'a' appears twice".to_string()),
            ]
        );
        let ndjson = "{\"a\":1}\n[1,2]\n{\"a\":\"x\"}\n";
        assert_eq!(
            bad(json(ndjson)),
            [(2, "is an array, not an object".to_string())]
        );
        let limits = Limits {
            max_cell_chars: 2,
            ..Limits::default()
        };
        assert_eq!(
            bad(read_json(br#"{"a":"abc","bcd":1}"#, &limits)),
            [(
                1,
                "column 'a' is longer than 2 characters; has a key longer than 2 characters"
                    .to_string()
            )]
        );
    }

    #[test]
    fn json_syntax_errors_say_where() {
        let cases = [
            ("[\n{\"a\":1},\n{\"a\":}\n]", "line 3: expected value"),
            ("{\"a\":1}\n\n{\"a\":1,}\n", "line 3: trailing comma"),
            ("[{\"a\":1},\n{\"a\":1},\n]", "line 3: expected value"),
            (
                "[{\"a\":1}\n{\"a\":1}]",
                "line 2: expected ',' or ']' after an element",
            ),
            ("[{\"a\":1},\n{\"a\":1}", "line 2: the array is not closed"),
            (
                "[{\"a\":1}]\n[{\"a\":1}]",
                "line 2: unexpected content after the array",
            ),
            // serde_json counts the newline it stopped at.
            ("[{\"a\":\"x\n", "line 2: control character"),
            (
                "{\"a\":\n\"unterminated",
                "line 2: EOF while parsing a string",
            ),
        ];
        for (text, want) in cases {
            match json(text) {
                Err(TableError::Json(why)) => assert!(why.starts_with(want), "{text:?}: {why}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert_eq!(
            json("\n\n  hello"),
            Err(TableError::Json(
                "line 3: expected an array of objects or one object per line".into()
            ))
        );
        // Deep nesting is refused by serde_json's recursion limit, not by a stack overflow.
        let deep = format!("[{{\"a\":{}{}}}]", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(json(&deep), Err(TableError::Json(_))));
    }

    fn table(columns: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .zip(2..)
                .map(|(cells, line)| Row {
                    line,
                    cells: cells.iter().map(|c| c.to_string()).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn keyed_rows() {
        let t = table(
            &["name", "id", "city"],
            &[&[" Ana ", " c1 ", ""], &["Bo", "x:y.z-_9", " Oslo"]],
        );
        let keyed = keyed(t, "id").unwrap();
        let rows = &keyed.rows;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].key, "c1");
        assert_eq!(rows[0].line, 2);
        assert_eq!(
            rows[0].named(&keyed.columns),
            BTreeMap::from([("name", "Ana")])
        );
        assert_eq!(rows[1].named(&keyed.columns).get("city"), Some(&"Oslo"));
    }

    #[test]
    fn keyed_reports_duplicates_and_invalid_keys() {
        let long = "k".repeat(129);
        let t = table(
            &["id", "name"],
            &[
                &["c1", "a"],
                &["c2", "b"],
                &["c1", "c"],
                &["  ", "d"],
                &["ana@example.org", "e"],
                &[&long, "f"],
                &["c2", "g"],
                &["c 3", "h"],
            ],
        );
        let invalid = "the key is not 1 to 128 letters, digits, '-', '_', '.' or ':'";
        assert_eq!(
            bad(keyed(t, "id")),
            [
                (4, "the same key as line 2".to_string()),
                (5, "the key is empty".to_string()),
                (6, invalid.to_string()),
                (7, invalid.to_string()),
                (8, "the same key as line 3".to_string()),
                (9, invalid.to_string()),
            ]
        );
        assert_eq!(
            keyed(table(&["name"], &[&["Ana"]]), "id"),
            Err(TableError::Header("no column named 'id'".into()))
        );
    }

    #[test]
    fn key_validity() {
        assert!(valid_key("a"));
        assert!(valid_key("Ab-_.:09"));
        assert!(valid_key(&"k".repeat(128)));
        assert!(!valid_key(""));
        assert!(!valid_key(&"k".repeat(129)));
        for key in ["a@b", "a b", "a/b", "é", "a%20", "a\n"] {
            assert!(!valid_key(key), "{key:?}");
        }
    }

    /// Every reason and message a file full of secrets can produce; none may quote a value.
    #[test]
    fn no_error_quotes_a_cell_value() {
        let limits = Limits {
            max_cell_chars: 20,
            ..Limits::default()
        };
        let mut messages = Vec::new();
        let mut collect = |result: Result<Table, TableError>, key: bool| {
            let error = match result {
                Ok(t) if key => match keyed(t, "id") {
                    Ok(_) => panic!("expected keyed() to fail"),
                    Err(e) => e,
                },
                Ok(t) => panic!("expected an error, got {t:?}"),
                Err(e) => e,
            };
            messages.push(error.to_string());
            if let TableError::BadRows { rows, .. } = error {
                messages.extend(rows.into_iter().map(|r| r.reason));
            }
        };
        let csv_bad = b"id,name\nSECRET-1\nSECRET-2,SECRET-SECRET-SECRET-SECRET\n\
                        SECRET-3\xff,SECRET-4\nSECRET-5,SECRET-6,SECRET-7\n\"SECRET-8\n";
        collect(read_csv(csv_bad, &limits), false);
        let csv_keys = b"id,name\nSECRET-1,SECRET-a\nSECRET-1,SECRET-b\nSECRET@x,SECRET-c\n \
                         ,SECRET-d\n";
        collect(read_csv(csv_keys, &limits), true);
        let json_bad = br#"[{"id": "SECRET-1", "n": ["SECRET-2"]}, "SECRET-3", 4.5e1,
            {"id": {"SECRET-4": "SECRET-5"}}, {"id": "SECRET-SECRET-SECRET-SECRET"}]"#;
        collect(read_json(json_bad, &limits), false);
        collect(
            read_json(br#"[{"id":"SECRET-1"},{"id":"SECRET-1"}]"#, &limits),
            true,
        );
        for syntax in [
            &br#"[{"id": SECRET-1}]"#[..],
            br#"[{"id": "SECRET-1\q"}]"#,
            br#"{"id": "SECRET-1"} SECRET-2"#,
            br#"[{"id": "SECRET-1"}] SECRET-2"#,
            br#"[{"id": "SECRET-1"} SECRET-2]"#,
            br#"[{"id": "SECRET-1""#,
            br#"[{"id": "SECRET-1", SECRET-2: 1}]"#,
            br#"[{"id": 1SECRET}]"#,
            br#"[{"id": "\uDSECRET"}]"#,
            b"SECRET-1",
        ] {
            collect(read_json(syntax, &limits), false);
        }
        assert!(messages.len() > 20, "{messages:?}");
        for message in &messages {
            assert!(!message.contains("SECRET"), "{message}");
        }
    }

    /// Any bytes at all: no panic, and every table read keeps one cell per column.
    #[test]
    fn arbitrary_input_never_panics() {
        const ALPHABET: &[u8] = b"{}[],:\"\\ \n\r\tab1-.e0\xff\xef\xbb\xbfnulltrue";
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let limits = Limits {
            max_rows: 5,
            max_columns: 4,
            max_cell_chars: 6,
            max_bytes: 60,
        };
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            let results = [
                read_csv(&input, &limits),
                read_json(&input, &limits),
                read(&input, Format::sniff(&input), &limits),
            ];
            for table in results.into_iter().flatten() {
                assert!(
                    table
                        .rows
                        .iter()
                        .all(|r| r.cells.len() == table.columns.len())
                );
                if let Some(first) = table.columns.first().cloned() {
                    let _ = keyed(table, &first);
                }
            }
        }
    }
}
