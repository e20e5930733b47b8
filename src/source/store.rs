//! Where source bytes live. Everything that reads a source — probing, hashing, decoding, tile
//! reads — goes through [`SourceStore`], so a new backend (object storage) is one more
//! implementation of it, not a change to the readers. [`FileStore`] is the filesystem one.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use super::SourceError;

/// A source's name inside its store: for files, the path relative to the store's root with
/// `/` separators; for object storage, the object key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Locator(String);

impl Locator {
    pub fn new(key: impl Into<String>) -> Locator {
        Locator(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Locator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A readable, seekable byte stream (a file, or an object fetched whole or in ranges).
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// Size and modification time: together they tell whether a catalogued source changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub bytes: u64,
    pub modified: SystemTime,
}

/// A place sources are read from. Blocking: callers run it off the async executor.
pub trait SourceStore: Send + Sync + std::fmt::Debug {
    /// The source an identifier names (its `/`-separated parts are folders, and the last may
    /// leave out the file extension). Refuses identifiers that could leave the store.
    fn locate(&self, identifier: &str) -> Result<Locator, SourceError>;

    /// Size and modification time; `None` when the source is gone.
    fn meta(&self, at: &Locator) -> std::io::Result<Option<Meta>>;

    /// The whole source as a stream.
    fn open(&self, at: &Locator) -> std::io::Result<Box<dyn ReadSeek>>;

    /// `len` bytes from `offset` (fewer at the end).
    fn read_range(&self, at: &Locator, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut r = self.open(at)?;
        r.seek(SeekFrom::Start(offset))?;
        let mut out = Vec::with_capacity(len);
        r.take(len as u64).read_to_end(&mut out)?;
        Ok(out)
    }

    /// BLAKE3 of the source's bytes, hex: names its derivatives and pyramid.
    fn content_hash(&self, at: &Locator) -> std::io::Result<String> {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(self.open(at)?)?;
        Ok(hasher.finalize().to_hex().to_string())
    }

    /// The modification time of the source's sidecar (`<source>.json`), when it has one.
    fn sidecar_modified(&self, at: &Locator) -> Option<SystemTime>;

    /// The sidecar's bytes, when it has one.
    fn sidecar(&self, at: &Locator) -> std::io::Result<Option<Vec<u8>>>;

    /// The names of the sources directly in `folder` (`/`-separated, relative to the store),
    /// none when it does not exist. Stores that cannot list (an in-memory test store) have
    /// no folders.
    fn list(&self, folder: &str) -> std::io::Result<Vec<String>> {
        let _ = folder;
        Ok(Vec::new())
    }
}

/// Sources as files below a root folder.
#[derive(Debug)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    /// `root` must exist; it is canonicalised so containment checks hold.
    pub fn new(root: &Path) -> std::io::Result<FileStore> {
        Ok(FileStore {
            root: root.canonicalize()?,
        })
    }

    /// The canonical root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file a locator names.
    pub fn path(&self, at: &Locator) -> PathBuf {
        self.root.join(at.as_str())
    }

    /// The locator of a file below the root, if it is one.
    pub fn locator_of(&self, path: &Path) -> Option<Locator> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let parts: Option<Vec<&str>> = rel
            .components()
            .map(|c| match c {
                Component::Normal(p) => p.to_str(),
                _ => None,
            })
            .collect();
        Some(Locator(parts?.join("/")))
    }

    fn sidecar_path(&self, at: &Locator) -> PathBuf {
        let mut name = self.path(at).into_os_string();
        name.push(".json");
        PathBuf::from(name)
    }
}

impl SourceStore for FileStore {
    fn locate(&self, identifier: &str) -> Result<Locator, SourceError> {
        let path = super::resolve(&self.root, identifier)?;
        self.locator_of(&path).ok_or(SourceError::NotFound)
    }

    fn meta(&self, at: &Locator) -> std::io::Result<Option<Meta>> {
        match std::fs::metadata(self.path(at)) {
            Ok(m) if m.is_file() => Ok(Some(Meta {
                bytes: m.len(),
                modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn open(&self, at: &Locator) -> std::io::Result<Box<dyn ReadSeek>> {
        Ok(Box::new(File::open(self.path(at))?))
    }

    fn sidecar_modified(&self, at: &Locator) -> Option<SystemTime> {
        std::fs::metadata(self.sidecar_path(at))
            .and_then(|m| m.modified())
            .ok()
    }

    fn sidecar(&self, at: &Locator) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.sidecar_path(at)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn list(&self, folder: &str) -> std::io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(self.root.join(folder)) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_file()
                && let Some(name) = entry.file_name().to_str()
            {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_located_read_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.png"), b"0123456789").unwrap();
        let store = FileStore::new(dir.path()).unwrap();
        let at = store.locate("sub/a").unwrap();
        assert_eq!(at.as_str(), "sub/a.png");
        assert_eq!(store.meta(&at).unwrap().unwrap().bytes, 10);
        assert_eq!(store.read_range(&at, 3, 4).unwrap(), b"3456");
        assert_eq!(store.read_range(&at, 8, 4).unwrap(), b"89");
        assert_eq!(
            store.content_hash(&at).unwrap(),
            blake3::hash(b"0123456789").to_hex().to_string()
        );
        assert_eq!(store.sidecar(&at).unwrap(), None);
        std::fs::write(dir.path().join("sub/a.png.json"), b"{}").unwrap();
        assert_eq!(store.sidecar(&at).unwrap().as_deref(), Some(&b"{}"[..]));
        assert!(store.sidecar_modified(&at).is_some());
        std::fs::remove_file(dir.path().join("sub/a.png")).unwrap();
        assert_eq!(store.meta(&at).unwrap(), None);
    }
}
