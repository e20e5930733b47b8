//! Sources: mapping identifiers to files under the image root, and reading what a plan needs
//! (format, oriented size, orientation) from the file's header without decoding pixels.

pub mod bands;
pub mod memory;
mod resolve;
pub mod store;
pub mod tiled;

pub use resolve::resolve;
pub use store::{FileStore, Locator, ReadSeek, SourceStore};
pub use tiled::Level;

use std::io::BufReader;
use std::time::SystemTime;

use crate::error::{Cause, Code, Coded};

use image::metadata::Orientation;
use image::{
    ColorType, DynamicImage, ImageBuffer, ImageDecoder, ImageFormat, ImageReader, Luma, LumaA, Rgb,
    Rgba,
};

/// Interleaved 8- or 16-bit samples, as tiles and bands are decoded.
pub(crate) enum Samples {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

/// Interleaved 8- or 16-bit samples as an image of `color`; `None` when they do not fill it.
pub(crate) fn image_of(
    color: ColorType,
    (w, h): (u32, u32),
    samples: Samples,
) -> Option<DynamicImage> {
    Some(match (color, samples) {
        (ColorType::L8, Samples::U8(p)) => {
            DynamicImage::ImageLuma8(ImageBuffer::<Luma<u8>, _>::from_raw(w, h, p)?)
        }
        (ColorType::La8, Samples::U8(p)) => {
            DynamicImage::ImageLumaA8(ImageBuffer::<LumaA<u8>, _>::from_raw(w, h, p)?)
        }
        (ColorType::Rgb8, Samples::U8(p)) => {
            DynamicImage::ImageRgb8(ImageBuffer::<Rgb<u8>, _>::from_raw(w, h, p)?)
        }
        (ColorType::Rgba8, Samples::U8(p)) => {
            DynamicImage::ImageRgba8(ImageBuffer::<Rgba<u8>, _>::from_raw(w, h, p)?)
        }
        (ColorType::L16, Samples::U16(p)) => {
            DynamicImage::ImageLuma16(ImageBuffer::<Luma<u16>, _>::from_raw(w, h, p)?)
        }
        (ColorType::La16, Samples::U16(p)) => {
            DynamicImage::ImageLumaA16(ImageBuffer::<LumaA<u16>, _>::from_raw(w, h, p)?)
        }
        (ColorType::Rgb16, Samples::U16(p)) => {
            DynamicImage::ImageRgb16(ImageBuffer::<Rgb<u16>, _>::from_raw(w, h, p)?)
        }
        (ColorType::Rgba16, Samples::U16(p)) => {
            DynamicImage::ImageRgba16(ImageBuffer::<Rgba<u16>, _>::from_raw(w, h, p)?)
        }
        _ => return None,
    })
}

/// Why a source cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("identifier is not valid: {0}")]
    BadIdentifier(&'static str),
    #[error("no image with this identifier")]
    NotFound,
    #[error("source is {width}x{height} = {pixels} pixels, over this server's limit of {limit}")]
    TooLarge {
        width: u32,
        height: u32,
        pixels: u64,
        limit: u64,
    },
    #[error(
        "this request decodes {pixels} pixels of the source, over this server's limit of {limit}; ask for a smaller region or size"
    )]
    DecodeTooLarge { pixels: u64, limit: u64 },
    #[error("this source is too large to read flat; its tiled pyramid is being built")]
    PyramidPending,
    #[error("source is not a supported image: {0}")]
    Unsupported(String),
    #[error("source could not be read: {0}")]
    Unreadable(#[source] Cause),
}

impl SourceError {
    /// An unreadable source, keeping why.
    pub fn unreadable(cause: impl Into<Cause>) -> SourceError {
        SourceError::Unreadable(cause.into())
    }
}

impl Coded for SourceError {
    fn code(&self) -> Code {
        match self {
            SourceError::BadIdentifier(_) => Code::BadIdentifier,
            SourceError::NotFound => Code::NotFound,
            SourceError::TooLarge { .. } | SourceError::DecodeTooLarge { .. } => {
                Code::SourceTooLarge
            }
            SourceError::PyramidPending => Code::PyramidPending,
            SourceError::Unsupported(_) => Code::UnsupportedSource,
            SourceError::Unreadable(_) => Code::UnreadableSource,
        }
    }
}

/// The source formats Tessera reads.
const READABLE: [ImageFormat; 5] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::Tiff,
    ImageFormat::WebP,
    ImageFormat::Gif,
];

/// File extensions tried when an identifier names a file without its extension.
pub const EXTENSIONS: [&str; 12] = [
    "jpg", "jpeg", "png", "tif", "tiff", "webp", "gif", "JPG", "JPEG", "PNG", "TIF", "TIFF",
];

/// What is known about a source from its header and file metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// Where the bytes are, in the store the source was probed from.
    pub locator: Locator,
    pub format: ImageFormat,
    /// Width after EXIF orientation is applied: what clients see.
    pub width: u32,
    /// Height after EXIF orientation is applied.
    pub height: u32,
    pub orientation: Orientation,
    /// The stored pixel layout, e.g. `Rgb8`, `Cmyk8`, `L16`.
    pub pixel_format: String,
    pub bytes: u64,
    pub modified: SystemTime,
    /// The stored resolutions of a tiled TIFF, largest first; empty for other sources.
    pub levels: Vec<Level>,
}

impl SourceInfo {
    /// The sizes this source can be read at directly, largest first: a tiled TIFF's levels;
    /// an 8-bit gray or RGB JPEG's DCT scalings to 1/2, 1/4 and 1/8 (CMYK JPEGs go through
    /// the full decoder, which handles Adobe's inverted CMYK); else just the full size.
    pub fn resolutions(&self) -> Vec<(u32, u32)> {
        let (w, h) = (self.width, self.height);
        if self.is_tiled() {
            self.level_sizes()
        } else if self.is_dct_scalable() {
            DCT_SCALES.map(|s| (w.div_ceil(s), h.div_ceil(s))).to_vec()
        } else {
            vec![(w, h)]
        }
    }

    /// A tiled TIFF's level sizes, largest first; empty for other sources.
    pub fn level_sizes(&self) -> Vec<(u32, u32)> {
        self.levels.iter().map(|l| (l.width, l.height)).collect()
    }

    /// Whether this is a JPEG that decodes at reduced size in the DCT domain.
    pub fn is_dct_scalable(&self) -> bool {
        self.format == ImageFormat::Jpeg && matches!(self.pixel_format.as_str(), "L8" | "Rgb8")
    }

    /// Whether a window of a resolution can be read without the rest (tiles).
    pub fn is_tiled(&self) -> bool {
        !self.levels.is_empty()
    }
}

/// A source with the store that holds its bytes: what reading pixels needs.
#[derive(Clone, Copy)]
pub struct StoredSource<'a> {
    pub store: &'a dyn SourceStore,
    pub info: &'a SourceInfo,
    /// Where tiled TIFFs' directories and decoded tiles are kept between requests, if anywhere.
    pub tiles: Option<&'a memory::TileMemory>,
}

impl StoredSource<'_> {
    /// The source's bytes as a stream.
    pub fn open(&self) -> Result<Box<dyn ReadSeek>, SourceError> {
        self.store
            .open(&self.info.locator)
            .map_err(SourceError::unreadable)
    }
}

/// The reductions a JPEG decodes at by DCT scaling: resolution `i` is 1/`DCT_SCALES[i]`.
pub const DCT_SCALES: [u32; 4] = [1, 2, 4, 8];

/// The stored pixel layout of a JPEG: `L8`, `L16`, `Rgb8` or `Cmyk8` (`image` reports CMYK as
/// the RGB it converts to).
fn jpeg_pixel_format(store: &dyn SourceStore, at: &Locator) -> Result<String, SourceError> {
    let file = store.open(at).map_err(SourceError::unreadable)?;
    let mut d = jpeg_decoder::Decoder::new(BufReader::new(file));
    d.read_info().map_err(SourceError::unreadable)?;
    let info = d
        .info()
        .ok_or_else(|| SourceError::unreadable("no JPEG frame"))?;
    Ok(match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => "L8",
        jpeg_decoder::PixelFormat::L16 => "L16",
        jpeg_decoder::PixelFormat::RGB24 => "Rgb8",
        jpeg_decoder::PixelFormat::CMYK32 => "Cmyk8",
    }
    .to_string())
}

/// An image reader over a source, as `image` takes it.
pub(crate) type Reader = ImageReader<BufReader<Box<dyn ReadSeek>>>;

/// Opens a source as an image reader with its format sniffed from the content.
pub(crate) fn open_reader(store: &dyn SourceStore, at: &Locator) -> Result<Reader, SourceError> {
    let file = store.open(at).map_err(SourceError::unreadable)?;
    let mut reader = ImageReader::new(BufReader::new(file));
    // The extension is the fallback when the content says nothing: a broken `.jpg` is an
    // unreadable JPEG, not an unknown format.
    if let Ok(format) = ImageFormat::from_path(at.as_str()) {
        reader.set_format(format);
    }
    let reader = reader
        .with_guessed_format()
        .map_err(SourceError::unreadable)?;
    match reader.format() {
        Some(f) if READABLE.contains(&f) => Ok(reader),
        Some(f) => Err(SourceError::Unsupported(format!("{f:?}"))),
        None => Err(SourceError::Unsupported("unknown format".into())),
    }
}

/// Whether an orientation swaps width and height.
pub fn swaps_axes(o: Orientation) -> bool {
    matches!(
        o,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Stored size, orientation and pixel layout from `image`'s decoder for the format.
fn probe_decoder(
    mut reader: Reader,
    (store, at): (&dyn SourceStore, &Locator),
    format: ImageFormat,
) -> Result<(u32, u32, Orientation, String), SourceError> {
    // Reading a header allocates next to nothing; the decoder's own allocation limits would
    // turn an oversized source into a vague decode error instead of the clear refusal in
    // `probe`.
    if format == ImageFormat::Jpeg {
        let (w, h, orientation) = jpeg_header(store, at)?;
        return Ok((w, h, orientation, jpeg_pixel_format(store, at)?));
    }
    reader.no_limits();
    let mut decoder = reader.into_decoder().map_err(SourceError::unreadable)?;
    let (w, h) = decoder.dimensions();
    // A broken EXIF block is not worth refusing the image for: show it as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    Ok((
        w,
        h,
        orientation,
        format!("{:?}", decoder.original_color_type()),
    ))
}

/// A JPEG's stored size and EXIF orientation, from its header segments only (`image`'s JPEG
/// decoder reads the whole file into memory first: a gigapixel's hundreds of megabytes).
fn jpeg_header(
    store: &dyn SourceStore,
    at: &Locator,
) -> Result<(u32, u32, Orientation), SourceError> {
    let file = store.open(at).map_err(SourceError::unreadable)?;
    let options = zune_core::options::DecoderOptions::default()
        .set_max_width(u16::MAX as usize)
        .set_max_height(u16::MAX as usize);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(BufReader::new(file), options);
    d.decode_headers().map_err(SourceError::unreadable)?;
    let (w, h) = d
        .dimensions()
        .ok_or_else(|| SourceError::unreadable("no JPEG frame"))?;
    // A broken EXIF block is not worth refusing the image for: show it as stored.
    let orientation = d
        .exif()
        .and_then(|exif| Orientation::from_exif_chunk(exif))
        .unwrap_or(Orientation::NoTransforms);
    Ok((w as u32, h as u32, orientation))
}

/// Reads the header of the source at `at`: format, oriented size, orientation. Refuses flat
/// sources larger than `max_pixels` here, before any pixel is decoded: they are decoded
/// whole. Tiled sources of any size pass; each request reads only the window it needs, and
/// the render service holds that window to the same limit. Flat sources that can be read in
/// bands ([`bands`]) and that `pyramid` accepts pass too: they are served from a pyramid built
/// band by band.
pub fn probe(
    store: &dyn SourceStore,
    at: &Locator,
    max_pixels: u64,
    pyramid: Option<&bands::Accept>,
) -> Result<SourceInfo, SourceError> {
    let meta = store
        .meta(at)
        .map_err(SourceError::unreadable)?
        .ok_or(SourceError::NotFound)?;
    let reader = open_reader(store, at)?;
    let format = reader.format().expect("open_reader checked the format");
    // Tiled TIFFs are read by Tessera's own tile reader, which also reads the YCbCr JPEG
    // tiles `image`'s TIFF decoder refuses.
    let tiled = if format == ImageFormat::Tiff {
        tiled::probe(store.open(at).map_err(SourceError::unreadable)?)?
    } else {
        None
    };
    let (w, h, orientation, pixel_format, levels) = match tiled {
        Some(t) => {
            let first = t.levels[0];
            let upright = Orientation::NoTransforms;
            (first.width, first.height, upright, t.pixel_format, t.levels)
        }
        None => {
            let (w, h, orientation, pixel_format) = probe_decoder(reader, (store, at), format)?;
            (w, h, orientation, pixel_format, Vec::new())
        }
    };
    let pixels = w as u64 * h as u64;
    let banded = || {
        let Some(accept) = pyramid else {
            return false;
        };
        orientation == Orientation::NoTransforms
            && matches!(bands::open(store, at, format), Ok(Some(r)) if accept(r.as_ref()))
    };
    if pixels > max_pixels && levels.is_empty() && !banded() {
        return Err(SourceError::TooLarge {
            width: w,
            height: h,
            pixels,
            limit: max_pixels,
        });
    }
    if w == 0 || h == 0 {
        return Err(SourceError::unreadable("image has no pixels"));
    }
    let (width, height) = if swaps_axes(orientation) {
        (h, w)
    } else {
        (w, h)
    };
    Ok(SourceInfo {
        locator: at.clone(),
        format,
        width,
        height,
        orientation,
        pixel_format,
        bytes: meta.bytes,
        modified: meta.modified,
        levels,
    })
}
