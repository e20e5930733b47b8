//! The render pipeline: decode → crop → resize → rotate/mirror → quality → encode, one stage
//! per file. It runs a [`Plan`] against a source and produces the encoded bytes; all decisions
//! about *what* to do were made by the planner.
//!
//! Everything here is CPU-bound and blocking: callers run it off the async executor.

pub mod admission;
pub mod animate;
pub mod crop;
pub mod decode;
pub mod encode;
pub mod pdf;
pub mod pool;
pub mod quality;
pub mod resize;
pub mod rotate;

use std::time::{Duration, Instant};

use image::DynamicImage;

use crate::error::{Cause, Code, Coded};
use crate::iiif::grammar::{Region, Rotation, Size, SizeKind};
use crate::iiif::{Format, ImageRequest, Limits, Plan, PlanError, Quality, Rect, plan};
use crate::source::{SourceError, SourceInfo, StoredSource, tiled};

pub use decode::Decoded;
pub use encode::EncodeOptions;
pub use resize::Filter;

/// Why a render failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("cannot read that part of the source: {0}")]
    Plan(#[from] PlanError),
    #[error("could not decode the source: {0}")]
    Decode(#[source] Cause),
    #[error("could not resize: {0}")]
    Resize(#[source] Cause),
    #[error("could not encode {format}: {reason}")]
    Encode {
        format: &'static str,
        #[source]
        reason: Cause,
    },
}

impl PipelineError {
    /// A decoder's failure, keeping its cause.
    pub fn decode(cause: impl Into<Cause>) -> PipelineError {
        PipelineError::Decode(cause.into())
    }
}

impl Coded for PipelineError {
    fn code(&self) -> Code {
        match self {
            PipelineError::Source(e) => e.code(),
            PipelineError::Plan(_) => Code::PlanFailed,
            PipelineError::Decode(_) => Code::UnreadableSource,
            PipelineError::Resize(_) => Code::ResizeFailed,
            PipelineError::Encode { .. } => Code::EncodeFailed,
        }
    }
}

/// Settings of the pipeline that come from configuration, not from the request.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    pub filter: Filter,
    pub encode: EncodeOptions,
    /// Answer requests that are exactly stored JPEG pixels with the stored tiles' bytes, one
    /// tile as is or several joined in the DCT domain.
    pub jpeg_passthrough: bool,
    /// Most bytes a decoder may allocate for one image.
    pub max_decode_bytes: u64,
}

impl RenderOptions {
    /// The settings that shape output bytes, each named: part of every derivative's cache key
    /// and ETag, so a configuration change never serves bytes made under the old one. Limits
    /// (`max_decode_bytes`) decide whether a render runs, not what it makes: left out.
    pub fn output_fingerprint(&self) -> String {
        let e = &self.encode;
        format!(
            "filter={:?};jpeg_quality={};jpeg_progressive={};webp_quality={};png_level={};jpeg_passthrough={}",
            self.filter,
            e.jpeg_quality,
            e.jpeg_progressive,
            e.webp_quality,
            e.png_level,
            self.jpeg_passthrough
        )
    }
}

/// An encoded image and where the time went.
#[derive(Debug)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub decode_time: Duration,
    pub total_time: Duration,
}

/// Renders `plan` from `source` into encoded bytes.
pub fn render(
    source: StoredSource,
    plan: &Plan,
    options: &RenderOptions,
) -> Result<Rendered, PipelineError> {
    let start = Instant::now();
    if options.jpeg_passthrough
        && let Some(bytes) = stored_tile(source, plan)?
    {
        return Ok(Rendered {
            bytes,
            decode_time: Duration::ZERO,
            total_time: start.elapsed(),
        });
    }
    let decoded = decode::decode(source, plan, options.max_decode_bytes)?;
    let decode_time = start.elapsed();
    let image = transform(decoded, plan, options.filter)?;
    let bytes = encode::encode(&image, plan.format, &options.encode)?;
    Ok(Rendered {
        bytes,
        decode_time,
        total_time: start.elapsed(),
    })
}

/// Largest picture [`read_region`] makes, pixels: a cover fit of a very thin source into a
/// box could otherwise ask for an enormous one.
const MAX_FITTED_PIXELS: u64 = 1 << 26;

/// `region` of `source` at the size `size_for` picks from the region's size — how templates
/// read their base images and photos, through the same cheapest-decode plan as IIIF requests.
pub fn read_region(
    source: StoredSource,
    region: Region,
    size_for: impl FnOnce((u32, u32)) -> (u32, u32),
    options: &RenderOptions,
) -> Result<DynamicImage, PipelineError> {
    let info = source.info;
    let crop = plan::resolve_region(region, info.width, info.height)?;
    let (w, h) = size_for((crop.w, crop.h));
    let request = ImageRequest {
        region,
        size: Size {
            upscale: true,
            kind: SizeKind::Exact(w, h),
        },
        rotation: Rotation {
            mirror: false,
            degrees: 0.0,
        },
        quality: Quality::Default,
        format: Format::Png,
    };
    let limits = Limits {
        max_area: Some(MAX_FITTED_PIXELS),
        ..Limits::default()
    };
    let plan = plan::plan(&request, info.width, info.height, &limits)?
        .with_resolution(&info.resolutions(), info.is_tiled());
    let decoded = decode::decode(source, &plan, options.max_decode_bytes)?;
    transform(decoded, &plan, options.filter)
}

/// Whether the plan's output is exactly one whole stored tile of a level of `source`: a JPEG
/// request that, when the level's tiles are JPEG, is answered with the tile's bytes as
/// stored — a file read, not a render.
pub fn is_one_stored_tile(source: &SourceInfo, plan: &Plan) -> bool {
    stored_window(source, plan).is_some_and(|(level, window)| tiled::is_one_tile(level, window))
}

/// The plan's output made of stored JPEG tiles without decoding them, when it can be.
pub fn stored_tile(source: StoredSource, plan: &Plan) -> Result<Option<Vec<u8>>, PipelineError> {
    let Some((level, window)) = stored_window(source.info, plan) else {
        return Ok(None);
    };
    Ok(tiled::stored_jpeg(
        tiled::Tiff::stored(source),
        level,
        window,
    )?)
}

/// The level the plan reads and its window there, when the output is exactly stored pixels.
fn stored_window<'a>(
    source: &'a SourceInfo,
    plan: &Plan,
) -> Option<(&'a tiled::Level, tiled::Window)> {
    let level = source.levels.get(plan.read.resolution)?;
    Some((level, decode::level_window(plan.stored_window()?)))
}

/// Every stage between decode and encode, on the pixels the decode stage read: the whole
/// (oriented) source, a reduced decode of it, or a window of a pyramid level.
pub fn transform(
    decoded: Decoded,
    plan: &Plan,
    filter: Filter,
) -> Result<DynamicImage, PipelineError> {
    let Decoded {
        image,
        offset: (ox, oy),
        full: (fw, fh),
    } = decoded;
    let (sw, sh) = plan.source;
    let c = plan.crop;
    let image = if (fw, fh) == (sw, sh) && plan.scaled == (c.w, c.h) {
        crop::crop(
            image,
            Rect {
                x: c.x - ox,
                y: c.y - oy,
                ..c
            },
        )
    } else {
        // The region in the decoded pixels (fractional after a reduced read).
        let fx = fw as f64 / sw as f64;
        let fy = fh as f64 / sh as f64;
        let x = (c.x as f64 * fx - ox as f64).max(0.0);
        let y = (c.y as f64 * fy - oy as f64).max(0.0);
        let region = resize::Region {
            x,
            y,
            w: (c.w as f64 * fx).min(image.width() as f64 - x),
            h: (c.h as f64 * fy).min(image.height() as f64 - y),
        };
        resize::resize(&image, region, plan.scaled, filter)?
    };
    let image = rotate::rotate(image, plan.mirror, plan.degrees, plan.format.has_alpha());
    Ok(quality::apply(image, plan.quality))
}
