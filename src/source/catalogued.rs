//! Sources backed by the catalogue: an identifier's metadata is read from its file once, then
//! served from the catalogue until the file (or its sidecar) changes on disk.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::{SourceError, probe, resolve};
use crate::store::{Asset, Catalogue, Properties};

/// How [`Sources::refresh`] found an identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Catalogued and unchanged on disk.
    Known,
    /// Not catalogued before.
    New,
    /// Catalogued, but the file or its sidecar changed: re-read.
    Changed,
}

/// The image root, the pixel limit and the catalogue, together.
pub struct Sources {
    root: PathBuf,
    max_pixels: u64,
    catalogue: Arc<Catalogue>,
}

/// The sidecar of an image file: `<file>.json` beside it.
fn sidecar_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reads the sidecar, if any. A broken sidecar is logged and ignored: the image still serves.
fn read_sidecar(image: &Path) -> (Option<SystemTime>, Properties) {
    let path = sidecar_path(image);
    let Some(when) = modified(&path) else {
        return (None, Properties::default());
    };
    let parsed = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Properties>(&b).map_err(|e| e.to_string()));
    match parsed {
        Ok(p) => (Some(when), p),
        Err(e) => {
            tracing::warn!(sidecar = %path.display(), error = %e, "ignoring unreadable sidecar");
            (Some(when), Properties::default())
        }
    }
}

/// BLAKE3 of a file's bytes, hex.
pub fn hash_file(path: &Path) -> Result<String, SourceError> {
    let file = File::open(path).map_err(|e| SourceError::Unreadable(e.to_string()))?;
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(file)
        .map_err(|e| SourceError::Unreadable(e.to_string()))?;
    Ok(hasher.finalize().to_hex().to_string())
}

impl Sources {
    /// `root` must exist; it is canonicalised so containment checks hold.
    pub fn new(
        root: &Path,
        max_pixels: u64,
        catalogue: Arc<Catalogue>,
    ) -> std::io::Result<Sources> {
        Ok(Sources {
            root: root.canonicalize()?,
            max_pixels,
            catalogue,
        })
    }

    /// The canonical image root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The current asset for `identifier`.
    pub fn asset(&self, identifier: &str) -> Result<Arc<Asset>, SourceError> {
        self.refresh(identifier).map(|(asset, _)| asset)
    }

    /// The current asset for `identifier` and whether it had to be (re-)read. One `stat` per
    /// call when nothing changed; header, hash and sidecar are read only for new or changed
    /// files.
    pub fn refresh(&self, identifier: &str) -> Result<(Arc<Asset>, Freshness), SourceError> {
        let known = self.catalogue.get(identifier)?;
        if let Some(a) = &known {
            let unchanged = std::fs::metadata(&a.source.path).is_ok_and(|m| {
                m.is_file()
                    && m.len() == a.source.bytes
                    && m.modified().ok() == Some(a.source.modified)
            }) && modified(&sidecar_path(&a.source.path)) == a.sidecar_modified;
            if unchanged {
                return Ok((a.clone(), Freshness::Known));
            }
        }
        let path = match resolve(&self.root, identifier) {
            Ok(p) => p,
            Err(e) => {
                if known.is_some() {
                    self.catalogue.remove(identifier)?;
                }
                return Err(e);
            }
        };
        let source = probe(&path, self.max_pixels)?;
        let content_hash = hash_file(&path)?;
        let (sidecar_modified, properties) = read_sidecar(&path);
        let asset = self.catalogue.put(Asset {
            identifier: identifier.to_string(),
            source,
            content_hash,
            sidecar_modified,
            properties,
        })?;
        let how = if known.is_some() {
            Freshness::Changed
        } else {
            Freshness::New
        };
        Ok((asset, how))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn changes_on_disk_are_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let file = root.join("a.png");
        RgbImage::from_pixel(8, 4, Rgb([1, 2, 3]))
            .save(&file)
            .unwrap();
        let catalogue = Arc::new(Catalogue::open(&dir.path().join("db.sqlite"), 8).unwrap());
        let sources = Sources::new(&root, 1_000_000, catalogue).unwrap();

        let (a, how) = sources.refresh("a").unwrap();
        assert_eq!(
            (how, a.source.width, a.source.height),
            (Freshness::New, 8, 4)
        );
        assert_eq!(sources.refresh("a").unwrap().1, Freshness::Known);

        RgbImage::from_pixel(16, 4, Rgb([9, 9, 9]))
            .save(&file)
            .unwrap();
        let (b, how) = sources.refresh("a").unwrap();
        assert_eq!((how, b.source.width), (Freshness::Changed, 16));
        assert_ne!(a.content_hash, b.content_hash);

        std::fs::write(
            sidecar_path(&file),
            br#"{"rights": "http://rightsstatements.org/vocab/InC/1.0/"}"#,
        )
        .unwrap();
        let (c, how) = sources.refresh("a").unwrap();
        assert_eq!(how, Freshness::Changed);
        assert_eq!(
            c.properties.rights.as_deref(),
            Some("http://rightsstatements.org/vocab/InC/1.0/")
        );

        std::fs::remove_file(&file).unwrap();
        assert!(matches!(sources.refresh("a"), Err(SourceError::NotFound)));
        assert!(sources.catalogue().get("a").unwrap().is_none());
    }
}
