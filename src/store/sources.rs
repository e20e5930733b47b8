//! Sources backed by the catalogue: an identifier's metadata is read from its source once,
//! then served from the catalogue until the source (or its sidecar) changes in its store.

use std::sync::Arc;

use super::{Asset, Catalogue, Properties, StoreError};
use crate::error::{Code, Coded};
use crate::source::bands::Accept;
use crate::source::{Locator, SourceError, SourceStore, probe};

/// How [`Sources::refresh`] found an identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Catalogued and unchanged in its store.
    Known,
    /// Not catalogued before.
    New,
    /// Catalogued, but the source or its sidecar changed: re-read.
    Changed,
}

/// Why an identifier has no asset: the source, or the catalogue.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Catalogue(#[from] StoreError),
}

impl Coded for AssetError {
    fn code(&self) -> Code {
        match self {
            AssetError::Source(e) => e.code(),
            AssetError::Catalogue(e) => e.code(),
        }
    }
}

/// The source store, the pixel limit and the catalogue, together.
pub struct Sources {
    store: Arc<dyn SourceStore>,
    max_pixels: u64,
    /// Flat sources over `max_pixels` that can be read in bands and that this accepts get
    /// pyramids: they are catalogued.
    pyramids: Option<Arc<Accept>>,
    catalogue: Arc<Catalogue>,
}

/// Reads the sidecar, if any. A broken sidecar is logged and ignored: the image still serves.
fn read_sidecar(store: &dyn SourceStore, at: &Locator) -> Properties {
    let parsed = store
        .sidecar(at)
        .map_err(|e| e.to_string())
        .and_then(|bytes| match bytes {
            Some(b) => serde_json::from_slice::<Properties>(&b).map_err(|e| e.to_string()),
            None => Ok(Properties::default()),
        });
    parsed.unwrap_or_else(|e| {
        tracing::warn!(sidecar = %at, error = %e, "ignoring unreadable sidecar");
        Properties::default()
    })
}

impl Sources {
    pub fn new(store: Arc<dyn SourceStore>, max_pixels: u64, catalogue: Arc<Catalogue>) -> Sources {
        Sources {
            store,
            max_pixels,
            pyramids: None,
            catalogue,
        }
    }

    /// Accepts flat sources over the pixel limit that can be read in bands and that get a
    /// pyramid (`accept`, see [`crate::pyramid::PyramidSettings::accepts`]).
    pub fn with_pyramids(self, accept: Arc<Accept>) -> Sources {
        Sources {
            pyramids: Some(accept),
            ..self
        }
    }

    /// The most pixels one source (flat) or one request (tiled) may decode.
    pub fn max_pixels(&self) -> u64 {
        self.max_pixels
    }

    /// Where the sources' bytes are.
    pub fn store(&self) -> &Arc<dyn SourceStore> {
        &self.store
    }

    pub fn catalogue(&self) -> &Arc<Catalogue> {
        &self.catalogue
    }

    /// The current asset for `identifier`.
    pub fn asset(&self, identifier: &str) -> Result<Arc<Asset>, AssetError> {
        self.refresh(identifier).map(|(asset, _)| asset)
    }

    /// The current asset for `identifier` and whether it had to be (re-)read. One metadata
    /// look-up per call when nothing changed; header, hash and sidecar are read only for new
    /// or changed sources.
    pub fn refresh(&self, identifier: &str) -> Result<(Arc<Asset>, Freshness), AssetError> {
        let store = self.store.as_ref();
        let known = self.catalogue.get(identifier)?;
        if let Some(a) = &known {
            let at = &a.source.locator;
            let unchanged = store
                .meta(at)
                .ok()
                .flatten()
                .is_some_and(|m| m.bytes == a.source.bytes && m.modified == a.source.modified)
                && store.sidecar_modified(at) == a.sidecar_modified;
            if unchanged {
                return Ok((a.clone(), Freshness::Known));
            }
        }
        let at = match store.locate(identifier) {
            Ok(at) => at,
            Err(e) => {
                if known.is_some() {
                    self.catalogue.remove(identifier)?;
                }
                return Err(e.into());
            }
        };
        let source = probe(store, &at, self.max_pixels, self.pyramids.as_deref())?;
        let content_hash = store.content_hash(&at).map_err(SourceError::unreadable)?;
        let sidecar_modified = store.sidecar_modified(&at);
        let properties = read_sidecar(store, &at);
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
        let store = Arc::new(crate::source::FileStore::new(&root).unwrap());
        let sources = Sources::new(store, 1_000_000, catalogue);

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
            root.join("a.png.json"),
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
        assert!(matches!(
            sources.refresh("a"),
            Err(AssetError::Source(SourceError::NotFound))
        ));
        assert!(sources.catalogue().get("a").unwrap().is_none());
    }
}
