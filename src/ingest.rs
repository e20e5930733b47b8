//! `tessera ingest`: walk a folder under the image root and bring the catalogue up to date,
//! reading headers (and hashing files) only for new or changed sources.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

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

/// Image files below `dir` (by extension; symbolic links below it are not followed), sorted
/// for a stable order.
pub fn image_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in WalkDir::new(dir) {
        let entry = entry?;
        if entry.file_type().is_file()
            && entry
                .path()
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            out.push(entry.into_path());
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_files_are_found_below_the_folder_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/deep")).unwrap();
        std::fs::create_dir(root.join("a.png")).unwrap();
        for f in [
            "z.jpg",
            "b/deep/x.TIF",
            "b/a.webp",
            "b/notes.txt",
            "b/noext",
        ] {
            std::fs::write(root.join(f), b"").unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("b"), root.join("link")).unwrap();
        let found: Vec<PathBuf> = image_files(root)
            .unwrap()
            .into_iter()
            .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
            .collect();
        let want: Vec<PathBuf> = ["b/a.webp", "b/deep/x.TIF", "z.jpg"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(found, want);
        assert!(image_files(&root.join("missing")).is_err());
    }
}
