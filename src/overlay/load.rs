//! Reading the pictures a template draws — its base image and its image layers — from the
//! catalogue, through the same decode plan as IIIF requests, at the size they are drawn.
//! This is the I/O edge of the overlay stage.

use std::sync::Arc;

use image::DynamicImage;

use super::{Content, Sprite, area_px, fitted_size};
use crate::cache::digest;
use crate::cache::memory::MemoryLru;
use crate::iiif::grammar::Region;
use crate::pipeline::{PipelineError, RenderOptions, read_region};
use crate::source::{SourceError, SourceStore, StoredSource};
use crate::store::{Asset, AssetError, Sources};
use crate::template::model::{Fit, LayerKind, Template};

/// A picture a template will draw.
#[derive(Debug, Clone)]
pub struct Picture {
    pub asset: Arc<Asset>,
    pub region: Region,
    /// The store the picture's bytes are in.
    pub store: Arc<dyn SourceStore>,
}

impl Picture {
    fn source(&self) -> StoredSource<'_> {
        StoredSource {
            store: self.store.as_ref(),
            info: &self.asset.source,
            tiles: None,
        }
    }
}

/// The pictures chosen for one request: the base, and per layer the picture of an image
/// layer (`None` for other layers, or when neither source nor default exists).
#[derive(Debug, Clone, Default)]
pub struct Chosen {
    pub base: Option<Picture>,
    pub layers: Vec<Option<Picture>>,
}

impl Chosen {
    /// Content hashes of every picture, in order: part of the cache key, so replacing a
    /// picture's file never serves the old render.
    pub fn content_hashes(&self) -> String {
        let base = self.base.iter();
        base.chain(self.layers.iter().flatten())
            .map(|p| p.asset.content_hash.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The folder under the image root a project's uploaded pictures land in: `projects/{id}`.
pub fn project_folder(project: &str) -> String {
    format!("{PROJECTS}/{project}")
}

const PROJECTS: &str = "projects";

/// The pictures in a project's folder, by the identifiers that name them within the project
/// (file name, and file name without its extension).
#[derive(Debug, Clone)]
pub struct ProjectPictures {
    pub project: String,
    names: std::collections::HashSet<String>,
}

impl ProjectPictures {
    /// A project whose folder holds nothing (or could not be listed).
    pub fn none(project: &str) -> ProjectPictures {
        ProjectPictures {
            project: project.to_string(),
            names: std::collections::HashSet::new(),
        }
    }

    /// Lists `project`'s folder in `store`.
    pub fn list(store: &dyn SourceStore, project: &str) -> std::io::Result<ProjectPictures> {
        let mut names = std::collections::HashSet::new();
        for file in store.list(&project_folder(project))? {
            if let Some((stem, _)) = file.rsplit_once('.') {
                names.insert(stem.to_string());
            }
            names.insert(file);
        }
        Ok(ProjectPictures {
            project: project.to_string(),
            names,
        })
    }
}

/// The picture `identifier` names for a template of the project `own` lists: the project's
/// folder first, then the shared image root. Other projects' folders are not visible.
pub fn lookup(
    sources: &Sources,
    own: &ProjectPictures,
    identifier: &str,
) -> Result<Arc<Asset>, AssetError> {
    let folder = format!("{}/", project_folder(&own.project));
    if identifier.starts_with(&format!("{PROJECTS}/")) && !identifier.starts_with(&folder) {
        return Err(SourceError::NotFound.into());
    }
    // The listing, not a look-up per render: most projects' folders hold nothing a template
    // names, and asking the store or catalogue each time would cost every render.
    if own.names.contains(identifier) {
        return sources.asset(&format!("{folder}{identifier}"));
    }
    sources.asset(identifier)
}

/// Looks up (with [`lookup`]) the base identifier and each image layer's identifier
/// (`identifiers`, per layer, as personalization filled them); an image layer whose picture is missing or unreadable
/// falls back to its `default`, and to nothing when that is missing too. A missing base image
/// is an error: the template itself is broken.
pub fn choose(
    template: &Template,
    identifiers: &[Option<String>],
    sources: &Sources,
    own: &ProjectPictures,
) -> Result<Chosen, AssetError> {
    let base = match &template.canvas.base {
        Some(b) => Some(Picture {
            asset: lookup(sources, own, &b.identifier)?,
            store: sources.store().clone(),
            region: b.region,
        }),
        None => None,
    };
    let layers = template
        .layers
        .iter()
        .zip(identifiers)
        .map(|(layer, id)| {
            let (LayerKind::Image(l), Some(id)) = (&layer.kind, id) else {
                return None;
            };
            [id.as_str(), l.default.as_str()]
                .into_iter()
                .find_map(|id| {
                    lookup(sources, own, id)
                    .inspect_err(|e| {
                        // The identifier may be personal data: log the reason only.
                        tracing::debug!(error = %e, "template picture unavailable, trying default");
                    })
                    .ok()
                    .map(|asset| Picture {
                        asset,
                        region: Region::Full,
                        store: sources.store().clone(),
                    })
                })
        })
        .collect();
    Ok(Chosen { base, layers })
}

/// The base image, decoded to cover the canvas (for [`super::underlay`]).
pub fn read_base(
    template: &Template,
    chosen: &Chosen,
    options: &RenderOptions,
) -> Result<Option<DynamicImage>, PipelineError> {
    let canvas = &template.canvas;
    chosen
        .base
        .as_ref()
        .map(|p| {
            read_region(
                p.source(),
                p.region,
                |size| fitted_size(Fit::Cover, size, (canvas.width, canvas.height)),
                options,
            )
        })
        .transpose()
}

/// What fills each layer: the texts as personalization made them, the chosen pictures decoded
/// at their drawn sizes and cut to their boxes (an unreadable one leaves its layer empty),
/// taken from `sprites` when another render made them.
pub fn read_layers(
    template: &Template,
    texts: Vec<Option<String>>,
    chosen: &Chosen,
    options: &RenderOptions,
    sprites: &MemoryLru<String, Sprite>,
) -> Vec<Content> {
    let canvas = &template.canvas;
    template
        .layers
        .iter()
        .zip(texts)
        .zip(&chosen.layers)
        .map(|((layer, text), picture)| match &layer.kind {
            LayerKind::Text(_) | LayerKind::Qr(_) => Content::Text(text.unwrap_or_default()),
            LayerKind::Shape(_) => Content::Shape,
            LayerKind::Image(l) => {
                let [_, _, w, h] = area_px(&layer.area, canvas);
                let bx = (w.round().max(0.0) as u32, h.round().max(0.0) as u32);
                // A box that rounds to nothing shows nothing.
                let picture = picture.as_ref().filter(|_| bx.0 > 0 && bx.1 > 0);
                Content::Image(picture.and_then(|p| {
                    // Everything the sprite's pixels depend on.
                    let key = digest(&[
                        p.asset.content_hash.as_bytes(),
                        format!("{:?}/{:?}/{bx:?}/{}", p.region, l.fit, l.circle).as_bytes(),
                        format!("{:?}", options.filter).as_bytes(),
                    ]);
                    if let Some(kept) = sprites.get(&key) {
                        return Some(kept);
                    }
                    let picture =
                        read_region(p.source(), p.region, |s| fitted_size(l.fit, s, bx), options)
                            .inspect_err(
                                |e| tracing::warn!(error = %e, "template picture unreadable"),
                            )
                            .ok()?;
                    let sprite = Arc::new(Sprite::new(&picture, bx, l.circle)?);
                    sprites.put(key, sprite.clone(), sprite.bytes());
                    Some(sprite)
                }))
            }
        })
        .collect()
}
