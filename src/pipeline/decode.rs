//! Decode stage: the pixels a plan needs, at the resolution it chose — a window of a tiled
//! TIFF level, a JPEG reduced in the DCT domain, or the whole source — with EXIF orientation
//! applied so that pixel coordinates match what info.json reports.

use image::DynamicImage;
use image::metadata::Orientation;

use super::PipelineError;
use crate::iiif::{Plan, Rect};
use crate::source::tiled::{self, Window};
use crate::source::{DCT_SCALES, StoredSource, open_reader};

/// Decoded pixels and where they sit in the resolution they were read at.
pub struct Decoded {
    pub image: DynamicImage,
    /// The image's top-left corner in the resolution's pixels.
    pub offset: (u32, u32),
    /// The whole resolution's size.
    pub full: (u32, u32),
}

impl Decoded {
    /// A decode of the whole resolution.
    pub fn whole(image: DynamicImage) -> Decoded {
        let full = (image.width(), image.height());
        Decoded {
            image,
            offset: (0, 0),
            full,
        }
    }
}

/// A plan's window of a level, as the tiled reader names it.
pub(crate) fn level_window(r: Rect) -> Window {
    Window {
        x: r.x,
        y: r.y,
        w: r.w,
        h: r.h,
    }
}

/// Decodes what `plan` reads of `source` (GIF: its first frame), refusing to allocate more
/// than `max_bytes`.
pub fn decode(source: StoredSource, plan: &Plan, max_bytes: u64) -> Result<Decoded, PipelineError> {
    let resolution = plan.read.resolution;
    if let Some(level) = source.info.levels.get(resolution) {
        let w = plan.read_window();
        let image = tiled::read_window(
            tiled::Tiff::stored(source),
            level,
            level_window(w),
            max_bytes,
        )?;
        return Ok(Decoded {
            image,
            offset: (w.x, w.y),
            full: (level.width, level.height),
        });
    }
    if resolution > 0
        && source.info.is_dct_scalable()
        && let Some(&scale) = DCT_SCALES.get(resolution)
    {
        return decode_jpeg_scaled(source, scale).map(Decoded::whole);
    }
    decode_whole(source, max_bytes).map(Decoded::whole)
}

/// The whole source at full size, oriented.
pub fn decode_whole(source: StoredSource, max_bytes: u64) -> Result<DynamicImage, PipelineError> {
    let mut reader = open_reader(source.store, &source.info.locator)?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(max_bytes);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(PipelineError::decode)?;
    let orientation =
        image::ImageDecoder::orientation(&mut decoder).unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(PipelineError::decode)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// A JPEG decoded by IDCT at reduced size (jpeg-decoder's `scale`): 1/8 of the pixels to
/// compute and store at scale 8.
fn decode_jpeg_scaled(source: StoredSource, scale: u32) -> Result<DynamicImage, PipelineError> {
    let err = PipelineError::decode;
    let file = source.open()?;
    let mut decoder = jpeg_decoder::Decoder::new(std::io::BufReader::new(file));
    decoder.read_info().map_err(err)?;
    let info = decoder
        .info()
        .ok_or_else(|| PipelineError::decode("no JPEG frame"))?;
    let want = |v: u16| v.div_ceil(scale as u16).max(1);
    let (w, h) = decoder
        .scale(want(info.width), want(info.height))
        .map_err(err)?;
    let pixels = decoder.decode().map_err(err)?;
    let (w, h) = (w as u32, h as u32);
    let bad = || PipelineError::decode("scaled JPEG has an unexpected size");
    let mut image = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => {
            DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, pixels).ok_or_else(bad)?)
        }
        jpeg_decoder::PixelFormat::RGB24 => {
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, pixels).ok_or_else(bad)?)
        }
        other => {
            return Err(PipelineError::decode(format!(
                "no scaled decode for {other:?}"
            )));
        }
    };
    image.apply_orientation(source.info.orientation);
    Ok(image)
}
