//! `tessera ingest`: walk a folder under the image root and bring the catalogue up to date,
//! reading headers (and hashing files) only for new or changed sources.

use std::path::{Path, PathBuf};

use crate::source::{EXTENSIONS, SourceError};
use crate::store::{AssetError, Freshness, Sources};

/// What happened to one file.
#[derive(Debug)]
pub enum Outcome {
    Added,
    Updated,
    Unchanged,
    Failed(AssetError),
}

/// Totals of one ingest run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
}

/// Image files below `dir` (by extension), sorted for a stable order.
pub fn image_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let ty = entry.file_type()?;
            if ty.is_dir() {
                walk(&path, out)?;
            } else if ty.is_file()
                && path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| EXTENSIONS.contains(&e))
            {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// The identifier of a file under the root: its relative path with `/` separators.
pub fn identifier_of(root: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// Ingests every image file in `files` (all under the root), calling `progress` after each.
pub fn ingest(
    root: &Path,
    sources: &Sources,
    files: &[PathBuf],
    mut progress: impl FnMut(&Path, &Outcome),
) -> Report {
    let mut report = Report::default();
    for file in files {
        let outcome = match identifier_of(root, file) {
            None => Outcome::Failed(SourceError::BadIdentifier("file name is not UTF-8").into()),
            Some(id) => match sources.refresh(&id) {
                Ok((_, Freshness::New)) => Outcome::Added,
                Ok((_, Freshness::Changed)) => Outcome::Updated,
                Ok((_, Freshness::Known)) => Outcome::Unchanged,
                Err(e) => Outcome::Failed(e),
            },
        };
        match outcome {
            Outcome::Added => report.added += 1,
            Outcome::Updated => report.updated += 1,
            Outcome::Unchanged => report.unchanged += 1,
            Outcome::Failed(_) => report.failed += 1,
        }
        progress(file, &outcome);
    }
    report
}
