//! Sealing a mailing list: a CSV of recipients in, the same CSV with a `url` column out, each
//! URL carrying that row's fields in a sealed token — personal data never appears in the URL.
//! Columns that are not fields of the template (an e-mail address, an id) pass through
//! unsealed, so the result can be joined back to the list.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use super::model::Template;
use super::signing::{Keys, Sealed, seal};
use crate::error::{Code, Coded};

/// Why a CSV could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
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

/// Reads recipients from `input` and writes them with their URLs to `output`; returns how
/// many rows were sealed. Empty cells are left out of the token, so the field's default shows.
pub fn seal_csv(job: &SealJob, input: impl Read, output: impl Write) -> Result<usize, BatchError> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let headers = reader.headers()?.clone();
    if headers.iter().any(|h| h == "url") {
        return Err(BatchError::HasUrl);
    }
    let field_columns: Vec<(usize, &str)> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| job.template.fields.contains_key(*h))
        .collect();
    if field_columns.is_empty() {
        let names: Vec<&str> = job.template.fields.keys().map(String::as_str).collect();
        return Err(BatchError::NoFields(names.join(", ")));
    }
    let mut writer = csv::Writer::from_writer(output);
    let mut out_headers = headers.clone();
    out_headers.push_field("url");
    writer.write_record(&out_headers)?;
    let bound_to = format!("{}~{}", job.name, job.version);
    let mut rows = 0;
    for record in reader.records() {
        let mut record = record?;
        let fields: BTreeMap<String, String> = field_columns
            .iter()
            .filter_map(|&(i, name)| {
                let v = record.get(i)?.trim();
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
        record.push_field(&format!(
            "{}/tpl~{bound_to}~{token}/{}",
            job.base_url.trim_end_matches('/'),
            job.request.trim_start_matches('/')
        ));
        writer.write_record(&record)?;
        rows += 1;
    }
    writer.flush().map_err(csv::Error::from)?;
    Ok(rows)
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
        let mut out = Vec::new();
        assert_eq!(seal_csv(&job, input.as_bytes(), &mut out).unwrap(), 2);
        let out = String::from_utf8(out).unwrap();
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
        let none = seal_csv(&job, "email\nx@y\n".as_bytes(), Vec::new());
        assert!(matches!(none, Err(BatchError::NoFields(_))));
    }
}
