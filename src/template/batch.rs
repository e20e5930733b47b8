//! Sealing a mailing list: a CSV of recipients in, the same CSV with a `url` column out, each
//! URL carrying that row's fields in a sealed token — personal data never appears in the URL.
//! Columns that are not fields of the template (an e-mail address, an id) pass through
//! unsealed, so the result can be joined back to the list. The list is read whole first, so a
//! bad row is found before anything is written: every bad row is reported with its line, and
//! the result is either complete or not written at all (unless bad rows are to be skipped).

use std::collections::BTreeMap;

use super::model::Template;
use super::signing::{Keys, Sealed, seal};
use crate::dataset::table::{self, BadRow, Limits, TableError};
use crate::error::{Code, Coded};

/// Why a CSV could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("CSV: {0}")]
    Table(#[from] TableError),
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("no column of the CSV is a field of the template (fields: {0})")]
    NoFields(String),
    #[error("the CSV already has a 'url' column")]
    HasUrl,
}

/// What to seal for, and how the URLs look.
pub struct SealJob<'a> {
    pub keys: &'a Keys,
    pub name: &'a str,
    pub version: u32,
    pub template: &'a Template,
    /// The IIIF prefix as clients reach it, e.g. `https://img.example.org/iiif/3`.
    pub base_url: &'a str,
    /// The image request after the identifier, e.g. `full/max/0/default.jpg`.
    pub request: &'a str,
    /// Unix seconds after which the tokens are refused.
    pub exp: Option<u64>,
}

/// A sealed list: the CSV with its `url` column, and the rows left out.
#[derive(Debug)]
pub struct SealedList {
    pub csv: Vec<u8>,
    pub rows: usize,
    /// Bad rows skipped, by line (the first 1,000), and how many more.
    pub skipped: Vec<BadRow>,
    pub more_skipped: usize,
}

/// Seals every recipient of `input`. Empty cells are left out of the token, so the field's
/// default shows. A bad row (wrong number of cells, bad UTF-8) fails the whole list with
/// every bad row's line, unless `skip_bad` leaves them out (and reports them).
pub fn seal_csv(job: &SealJob, input: &[u8], skip_bad: bool) -> Result<SealedList, BatchError> {
    let limits = Limits {
        max_bytes: usize::MAX,
        max_rows: usize::MAX,
        ..Limits::default()
    };
    let (table, skipped, more_skipped) = if skip_bad {
        table::read_csv_skipping(input, &limits)?
    } else {
        (table::read_csv(input, &limits)?, Vec::new(), 0)
    };
    if table.columns.iter().any(|h| h == "url") {
        return Err(BatchError::HasUrl);
    }
    let field_columns: Vec<(usize, &str)> = table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, h)| job.template.fields.contains_key(h.as_str()))
        .map(|(i, h)| (i, h.as_str()))
        .collect();
    if field_columns.is_empty() {
        let names: Vec<&str> = job.template.fields.keys().map(String::as_str).collect();
        return Err(BatchError::NoFields(names.join(", ")));
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(table.columns.iter().map(String::as_str).chain(["url"]))?;
    let bound_to = format!("{}~{}", job.name, job.version);
    for row in &table.rows {
        let fields: BTreeMap<String, String> = field_columns
            .iter()
            .filter_map(|&(i, name)| {
                let v = row.cells.get(i)?.trim();
                (!v.is_empty()).then(|| (name.to_string(), v.to_string()))
            })
            .collect();
        let token = seal(
            job.keys,
            &bound_to,
            &Sealed {
                fields,
                exp: job.exp,
            },
        );
        let url = format!(
            "{}/tpl~{bound_to}~{token}/{}",
            job.base_url.trim_end_matches('/'),
            job.request.trim_start_matches('/')
        );
        writer.write_record(row.cells.iter().map(String::as_str).chain([url.as_str()]))?;
    }
    let csv = writer
        .into_inner()
        .map_err(|e| BatchError::Csv(e.into_error().into()))?;
    Ok(SealedList {
        csv,
        rows: table.rows.len(),
        skipped,
        more_skipped,
    })
}

impl Coded for BatchError {
    fn code(&self) -> Code {
        Code::BadCsv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::model::parse_template;
    use crate::template::signing::unseal;

    #[test]
    fn rows_get_sealed_urls_and_other_columns_pass_through() {
        let template = parse_template(
            br##"{"canvas": {"width": 10, "height": 10, "background": "#000"},
                 "fields": {"name": {}, "company": {}}}"##,
        )
        .unwrap();
        let keys = Keys::new(vec![("k1".into(), vec![1; 32])]).unwrap();
        let job = SealJob {
            keys: &keys,
            name: "badge",
            version: 3,
            template: &template,
            base_url: "https://img.example.org/iiif/3/",
            request: "full/max/0/default.jpg",
            exp: Some(2_000_000_000),
        };
        let input = "email,name,company\nana@example.org,Ana,\"Acme, Inc.\"\nbo@example.org,,\n";
        let sealed = seal_csv(&job, input.as_bytes(), false).unwrap();
        assert_eq!(sealed.rows, 2);
        let out = String::from_utf8(sealed.csv).unwrap();
        let mut rows = csv::Reader::from_reader(out.as_bytes());
        assert_eq!(
            rows.headers().unwrap(),
            vec!["email", "name", "company", "url"]
        );
        let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
        assert_eq!(&rows[0][0], "ana@example.org");
        let url = &rows[0][3];
        assert!(!url.contains("Ana") && !url.contains("Acme"), "{url}");
        let token = url
            .strip_prefix("https://img.example.org/iiif/3/tpl~badge~3~")
            .and_then(|r| r.strip_suffix("/full/max/0/default.jpg"))
            .unwrap();
        let sealed = unseal(&keys, "badge~3", token, 1_000).unwrap();
        assert_eq!(sealed.fields["company"], "Acme, Inc.");
        assert_eq!(sealed.exp, Some(2_000_000_000));
        let empty = rows[1][3]
            .rsplit('~')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        assert!(
            unseal(&keys, "badge~3", empty, 1_000)
                .unwrap()
                .fields
                .is_empty()
        );
        let none = seal_csv(&job, "email\nx@y\n".as_bytes(), false);
        assert!(matches!(none, Err(BatchError::NoFields(_))));
    }

    #[test]
    fn bad_rows_are_all_reported_by_their_true_line_or_skipped() {
        let template = parse_template(
            br##"{"canvas": {"width": 10, "height": 10, "background": "#000"},
                 "fields": {"name": {}}}"##,
        )
        .unwrap();
        let keys = Keys::new(vec![("k1".into(), vec![1; 32])]).unwrap();
        let job = SealJob {
            keys: &keys,
            name: "badge",
            version: 1,
            template: &template,
            base_url: "https://img.example.org/iiif/3",
            request: "full/max/0/default.jpg",
            exp: None,
        };
        // CRLF, a short row on line 3, a quoted cell over two lines, a long row on line 6.
        let input =
            "email,name\r\na@x,Ana\r\nshort\r\nb@x,\"Bo\r\nJr\"\r\nc@x,Cy,extra\r\nd@x,Di\r\n";
        let Err(BatchError::Table(TableError::BadRows { rows, .. })) =
            seal_csv(&job, input.as_bytes(), false)
        else {
            panic!("bad rows refuse the list");
        };
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 6]);
        let skipping = seal_csv(&job, input.as_bytes(), true).unwrap();
        assert_eq!(skipping.rows, 3);
        assert_eq!(skipping.skipped.len(), 2);
        let out = String::from_utf8(skipping.csv).unwrap();
        assert_eq!(
            out.lines().filter(|l| l.contains("tpl~badge~1~")).count(),
            3
        );
    }
}
