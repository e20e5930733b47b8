//! Where pyramids are kept: read back as sources, written whole. A pyramid becomes visible only
//! complete, so a crash mid-build never leaves one that would be read.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::PyramidError;
use super::write::Written;
use crate::source::{FileStore, Locator, SourceStore};

/// A writable, seekable byte sink (the TIFF writer patches offsets in place).
pub trait WriteSeek: Write + Seek {}
impl<T: Write + Seek> WriteSeek for T {}

/// Fills a new pyramid's bytes.
pub type Fill<'a> = dyn FnMut(&mut dyn WriteSeek) -> Result<Written, PyramidError> + 'a;

/// A place to keep pyramids, named by their source's content hash.
pub trait PyramidStore: Send + Sync {
    /// The pyramids as sources, to read them like any tiled TIFF.
    fn sources(&self) -> &dyn SourceStore;

    /// Where the pyramid of the source with content hash `hash` is (or would be).
    fn locator(&self, hash: &str) -> Locator {
        let shard = hash.get(..2).unwrap_or("__");
        Locator::new(format!("{shard}/{hash}.tif"))
    }

    /// Writes the pyramid for `hash` with `fill`; it becomes readable only once complete.
    fn put(&self, hash: &str, fill: &mut Fill) -> Result<Written, PyramidError>;

    /// Removes a pyramid (an unusable or superseded one). Best effort.
    fn remove(&self, hash: &str);

    /// The content hashes of the stored pyramids.
    fn list(&self) -> std::io::Result<Vec<String>>;
}

/// Pyramids as files under a folder: written to `tmp/`, synced, renamed into place.
pub struct FilePyramidStore {
    files: FileStore,
    tmp: PathBuf,
    seq: AtomicU64,
}

impl FilePyramidStore {
    /// Opens (creating) the folder and removes leftovers of interrupted builds.
    pub fn open(dir: &Path) -> std::io::Result<FilePyramidStore> {
        let tmp = dir.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(FilePyramidStore {
            files: FileStore::new(dir)?,
            tmp: tmp.canonicalize()?,
            seq: AtomicU64::new(0),
        })
    }
}

impl PyramidStore for FilePyramidStore {
    fn sources(&self) -> &dyn SourceStore {
        &self.files
    }

    fn put(&self, hash: &str, fill: &mut Fill) -> Result<Written, PyramidError> {
        let at = self.locator(hash);
        let io = |e| PyramidError::Io(at.clone(), e);
        let tmp = self.tmp.join(format!(
            "{hash}.{}.{}.tif",
            std::process::id(),
            self.seq.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let file = File::create(&tmp).map_err(io)?;
            let mut out = BufWriter::new(&file);
            let written = fill(&mut out)?;
            out.flush().map_err(io)?;
            drop(out);
            file.sync_all().map_err(io)?;
            let path = self.files.path(&at);
            let dir = path.parent().expect("pyramid paths have a folder");
            std::fs::create_dir_all(dir).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            Ok(written)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    fn remove(&self, hash: &str) {
        let _ = std::fs::remove_file(self.files.path(&self.locator(hash)));
    }

    fn list(&self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        for shard in std::fs::read_dir(self.files.path(&Locator::new(".")))? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() || shard.path() == self.tmp {
                continue;
            }
            for file in std::fs::read_dir(shard.path())? {
                let name = file?.file_name();
                if let Some(hash) = name.to_str().and_then(|n| n.strip_suffix(".tif")) {
                    out.push(hash.to_string());
                }
            }
        }
        Ok(out)
    }
}
