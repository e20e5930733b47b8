//! Identifier → file, with no way out of the image root.

use std::path::{Component, Path, PathBuf};

use super::{EXTENSIONS, SourceError};

/// Maps a decoded identifier to a file under `root`.
///
/// The identifier's `/`-separated parts name folders and the file, which may be given with or
/// without its extension. Parts that are empty, `.` or `..`, or that hold a NUL or a
/// backslash, are refused; after resolving symlinks the file must still lie under `root`,
/// which must be canonical ([`super::FileStore`] canonicalizes it once, not per request).
pub fn resolve(root: &Path, identifier: &str) -> Result<PathBuf, SourceError> {
    if identifier.is_empty() {
        return Err(SourceError::BadIdentifier("empty"));
    }
    let mut rel = PathBuf::new();
    for part in identifier.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(SourceError::BadIdentifier(
                "empty, '.' or '..' path segment",
            ));
        }
        if part.contains(['\0', '\\']) {
            return Err(SourceError::BadIdentifier("NUL or backslash"));
        }
        rel.push(part);
    }
    // PathBuf::push of an absolute part would replace the root: make sure nothing but plain
    // names went in.
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(SourceError::BadIdentifier("not a relative path"));
    }
    let candidate = root.join(&rel);
    let found = if candidate.is_file() {
        candidate
    } else if !candidate.parent().is_some_and(Path::is_dir) {
        // No such folder: one look-up, not one per extension.
        return Err(SourceError::NotFound);
    } else {
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        EXTENSIONS
            .iter()
            .map(|ext| candidate.with_file_name(format!("{name}.{ext}")))
            .find(|p| p.is_file())
            .ok_or(SourceError::NotFound)?
    };
    let real = found.canonicalize().map_err(|_| SourceError::NotFound)?;
    if !real.starts_with(root) {
        // A symlink leading out of the root: answer as if nothing were there.
        return Err(SourceError::NotFound);
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        let root = root.canonicalize().unwrap();
        std::fs::write(root.join("a.jpg"), b"x").unwrap();
        std::fs::write(root.join("sub/b.png"), b"x").unwrap();
        std::fs::write(dir.path().join("secret.jpg"), b"x").unwrap();
        (dir, root)
    }

    #[test]
    fn finds_files_with_and_without_extension() {
        let (_d, root) = tree();
        assert!(resolve(&root, "a.jpg").unwrap().ends_with("a.jpg"));
        assert!(resolve(&root, "a").unwrap().ends_with("a.jpg"));
        assert!(resolve(&root, "sub/b").unwrap().ends_with("sub/b.png"));
        assert!(matches!(resolve(&root, "nope"), Err(SourceError::NotFound)));
        assert!(matches!(resolve(&root, "sub"), Err(SourceError::NotFound)));
    }

    #[test]
    fn never_leaves_the_root() {
        let (d, root) = tree();
        for bad in [
            "../secret.jpg",
            "sub/../../secret.jpg",
            "/etc/passwd",
            "a\0.jpg",
            "..\\secret.jpg",
            "./a.jpg",
            "",
        ] {
            assert!(
                matches!(resolve(&root, bad), Err(SourceError::BadIdentifier(_))),
                "{bad:?}"
            );
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(d.path().join("secret.jpg"), root.join("link.jpg")).unwrap();
            assert!(matches!(
                resolve(&root, "link.jpg"),
                Err(SourceError::NotFound)
            ));
            std::os::unix::fs::symlink(root.join("a.jpg"), root.join("inside.jpg")).unwrap();
            assert!(resolve(&root, "inside.jpg").is_ok());
        }
    }
}
