//! Encode stage: pixels to the requested format. Each format gets the pixel layout it can
//! carry: JPEG has no alpha (transparent sources are flattened onto white), only PNG and TIFF
//! keep 16 bits, WebP is lossy through libwebp.
//!
//! JPEG goes through [`crate::jpeg::encode()`] (libjpeg-turbo-rs: SIMD, baseline or
//! progressive, 4:2:0 chroma as viewers expect).

use std::borrow::Cow;
use std::io::Cursor;

use image::codecs::gif::GifEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::codecs::tiff::TiffEncoder;
use image::{DynamicImage, ExtendedColorType, GenericImageView, Rgb, RgbImage};

use super::PipelineError;
use crate::iiif::Format;
use crate::jpeg;

/// Encoder settings from configuration.
#[derive(Debug, Clone, Copy)]
pub struct EncodeOptions {
    /// JPEG quality, 1–100.
    pub jpeg_quality: u8,
    /// Progressive JPEG (smaller, renders coarse-to-fine; slower to encode).
    pub jpeg_progressive: bool,
    /// Lossy WebP quality, 0–100.
    pub webp_quality: f32,
    /// zlib level for PNG, 0–9 (1 is fast and what tiles want).
    pub png_level: u8,
}

/// Encodes `image` as `format`.
pub fn encode(
    image: &DynamicImage,
    format: Format,
    options: &EncodeOptions,
) -> Result<Vec<u8>, PipelineError> {
    let err = |reason: String| PipelineError::Encode {
        format: format.extension(),
        reason: reason.into(),
    };
    let mut out = Vec::new();
    match format {
        Format::Jpg => {
            let flat = jpeg_layout(image);
            let samples = if flat.color() == image::ColorType::L8 {
                jpeg::Samples::Gray
            } else {
                jpeg::Samples::Rgb
            };
            let settings = jpeg::Settings {
                quality: options.jpeg_quality,
                full_chroma: false,
                progressive: options.jpeg_progressive,
            };
            out = jpeg::encode(flat.as_bytes(), flat.dimensions(), samples, settings)
                .map_err(|e| err(e.to_string()))?;
        }
        Format::Png => {
            let img = png_tiff_layout(image, false);
            let encoder = PngEncoder::new_with_quality(
                &mut out,
                CompressionType::Level(options.png_level.min(9)),
                FilterType::Adaptive,
            );
            img.write_with_encoder(encoder)
                .map_err(|e| err(e.to_string()))?;
        }
        Format::Tif => {
            let img = png_tiff_layout(image, true);
            let mut cursor = Cursor::new(&mut out);
            img.write_with_encoder(TiffEncoder::new(&mut cursor))
                .map_err(|e| err(e.to_string()))?;
        }
        Format::Webp => {
            let (bytes, w, h, alpha) = if image.color().has_alpha() {
                let rgba = image.to_rgba8();
                let (w, h) = rgba.dimensions();
                (rgba.into_raw(), w, h, true)
            } else {
                let rgb = image.to_rgb8();
                let (w, h) = rgb.dimensions();
                (rgb.into_raw(), w, h, false)
            };
            let encoder = if alpha {
                webp::Encoder::from_rgba(&bytes, w, h)
            } else {
                webp::Encoder::from_rgb(&bytes, w, h)
            };
            let memory = encoder
                .encode_simple(false, options.webp_quality.clamp(0.0, 100.0))
                .map_err(|e| err(format!("{e:?}")))?;
            out.extend_from_slice(&memory);
        }
        Format::Pdf => {
            // The page holds the JPEG as is (DCTDecode), at 72 dpi — one pixel one point —
            // unless the page would pass PDF's 200-inch limit.
            let jpeg = encode(image, Format::Jpg, options)?;
            let (w, h) = (image.width(), image.height());
            let components = if is_gray(image) { 1 } else { 3 };
            let dpi = (w.max(h) as f32 * 72.0 / PDF_MAX_POINTS).max(72.0);
            let page = super::pdf::PageImage::Jpeg {
                data: &jpeg,
                width: w,
                height: h,
                components,
            };
            out = super::pdf::page(page, dpi, None).map_err(|e| err(e.to_string()))?;
        }
        Format::Gif => {
            let rgba = image.to_rgba8();
            let (w, h) = rgba.dimensions();
            // Speed 10 of 30: NeuQuant quantisation good enough for a palette format.
            GifEncoder::new_with_speed(&mut out, 10)
                .encode(rgba.as_raw(), w, h, ExtendedColorType::Rgba8)
                .map_err(|e| err(e.to_string()))?;
        }
    }
    Ok(out)
}

/// PDF's implementation limit on a page side, in points (200 inches).
const PDF_MAX_POINTS: f32 = 14_400.0;

/// Frames of the same size as a looping animated GIF, `delay_cs` hundredths of a second each
/// (countdowns). The first frame is whole, so clients that show only it show a real image.
pub fn animated_gif(frames: &[image::RgbaImage], delay_cs: u16) -> Result<Vec<u8>, PipelineError> {
    let err = |reason: String| PipelineError::Encode {
        format: "gif",
        reason: reason.into(),
    };
    let (w, h) = frames.first().map_or((0, 0), |f| f.dimensions());
    let dim = |v: u32| u16::try_from(v).map_err(|_| err("GIF is limited to 65535 px".into()));
    let frames: Vec<super::animate::Frame> = frames
        .iter()
        .map(|f| super::animate::Frame {
            rgba: f.as_raw(),
            delay_cs,
        })
        .collect();
    super::animate::encode_gif(dim(w)?, dim(h)?, &frames, true).map_err(|e| err(e.to_string()))
}

/// Gray stays one channel (smaller, and what bitonal clients expect); anything with alpha is
/// flattened onto white; everything becomes 8-bit. 8-bit gray or RGB is borrowed as it is.
fn jpeg_layout(image: &DynamicImage) -> Cow<'_, DynamicImage> {
    if matches!(
        image,
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_)
    ) {
        return Cow::Borrowed(image);
    }
    let flat = if image.color().has_alpha() {
        let rgba = image.to_rgba8();
        Cow::Owned(DynamicImage::ImageRgb8(RgbImage::from_fn(
            rgba.width(),
            rgba.height(),
            |x, y| {
                let p = rgba.get_pixel(x, y);
                let a = p[3] as u32;
                Rgb([0, 1, 2].map(|c| ((p[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8))
            },
        )))
    } else {
        Cow::Borrowed(image)
    };
    Cow::Owned(if is_gray(image) {
        DynamicImage::ImageLuma8(flat.to_luma8())
    } else {
        DynamicImage::ImageRgb8(flat.to_rgb8())
    })
}

/// Whether a JPEG of `image` has one channel.
fn is_gray(image: &DynamicImage) -> bool {
    matches!(
        image,
        DynamicImage::ImageLuma8(_)
            | DynamicImage::ImageLumaA8(_)
            | DynamicImage::ImageLuma16(_)
            | DynamicImage::ImageLumaA16(_)
    )
}

/// PNG and TIFF keep 8 or 16 bits; float becomes 16-bit. The TIFF encoder has no gray+alpha
/// layout, so that becomes RGBA there.
fn png_tiff_layout(image: &DynamicImage, tiff: bool) -> DynamicImage {
    match image {
        DynamicImage::ImageRgb32F(_) => DynamicImage::ImageRgb16(image.to_rgb16()),
        DynamicImage::ImageRgba32F(_) => DynamicImage::ImageRgba16(image.to_rgba16()),
        DynamicImage::ImageLumaA8(_) if tiff => DynamicImage::ImageRgba8(image.to_rgba8()),
        DynamicImage::ImageLumaA16(_) if tiff => DynamicImage::ImageRgba16(image.to_rgba16()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgba, RgbaImage};

    const OPTIONS: EncodeOptions = EncodeOptions {
        jpeg_quality: 90,
        jpeg_progressive: false,
        webp_quality: 90.0,
        png_level: 1,
    };

    fn sample() -> DynamicImage {
        DynamicImage::ImageRgba8(RgbaImage::from_fn(32, 16, |x, y| {
            Rgba([x as u8 * 8, y as u8 * 16, 100, if x < 4 { 0 } else { 255 }])
        }))
    }

    #[test]
    fn every_format_decodes_back() {
        for (format, magic) in [
            (Format::Jpg, &b"\xff\xd8"[..]),
            (Format::Png, b"\x89PNG"),
            (Format::Gif, b"GIF8"),
            (Format::Tif, b"II*\0"),
            (Format::Webp, b"RIFF"),
        ] {
            let bytes = encode(&sample(), format, &OPTIONS).unwrap();
            assert!(bytes.starts_with(magic), "{format}");
            let back = image::load_from_memory(&bytes).unwrap();
            assert_eq!((back.width(), back.height()), (32, 16), "{format}");
        }
    }

    #[test]
    fn jpeg_flattens_alpha_onto_white() {
        let bytes = encode(&sample(), Format::Jpg, &OPTIONS).unwrap();
        let back = image::load_from_memory(&bytes).unwrap().to_rgb8();
        let p = back.get_pixel(0, 8);
        assert!(p[0] > 240 && p[1] > 240 && p[2] > 240, "{p:?}");
    }

    #[test]
    fn sixteen_bit_png_stays_sixteen_bit() {
        let img = DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(
            4,
            4,
            Rgb([1000u16, 40000, 65535]),
        ));
        let bytes = encode(&img, Format::Png, &OPTIONS).unwrap();
        let back = image::load_from_memory(&bytes).unwrap();
        assert_eq!(back.color(), image::ColorType::Rgb16);
        assert_eq!(back.to_rgb16().get_pixel(0, 0), &Rgb([1000, 40000, 65535]));
    }
}
