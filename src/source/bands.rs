//! A flat source read top to bottom in bands of whole rows, for the pyramid writer: sequential
//! JPEG cut into bands of MCU rows in the DCT domain ([`crate::jpeg::Bands`]) and each band
//! decoded alone, PNG row by row, strip TIFF strip by strip. What cannot be read in bands
//! (progressive JPEG, interlaced PNG, WebP, GIF, CMYK, planar or palette TIFF, a source turned
//! by its orientation) has no band reader: it is decoded whole, within the decode limit.

use std::io::BufReader;

use image::{ColorType, DynamicImage, ImageFormat};
use tiff::decoder::{ChunkType, Decoder, DecodingResult};
use tiff::tags::Tag;
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::{Locator, ReadSeek, Samples, SourceError, SourceStore, image_of};
use crate::jpeg;

/// Pixels of a band read at a time (its rows are whole rows of the image).
const BAND_BYTES: u64 = 4 << 20;

/// Whether a pyramid will be built from a source read by this reader.
pub type Accept = dyn Fn(&dyn BandReader) -> bool + Send + Sync;

/// A source's rows, top to bottom.
pub trait BandReader: Send {
    /// Width and height of the image the bands make.
    fn size(&self) -> (u32, u32);
    /// The pixel layout of every band.
    fn color(&self) -> ColorType;
    /// The next rows, `None` after the last.
    fn next_band(&mut self) -> Result<Option<DynamicImage>, SourceError>;
    /// Bytes this reader holds at most besides the bands it returns.
    fn working_bytes(&self) -> u64;
}

fn decode_error(e: impl std::fmt::Display) -> SourceError {
    SourceError::unreadable(e.to_string())
}

/// Bytes of the bands a reader returns for an image `width` wide.
pub fn band_bytes(width: u32, color: ColorType) -> u64 {
    let bpp = color.bytes_per_pixel() as u64;
    band_rows(width, bpp) as u64 * width as u64 * bpp
}

/// Rows per band for an image `width` wide of `bytes_per_pixel`.
fn band_rows(width: u32, bytes_per_pixel: u64) -> u32 {
    (BAND_BYTES / (width as u64 * bytes_per_pixel).max(1)).clamp(16, 4096) as u32
}

/// The band reader of the upright `format` source at `at`, `None` when it cannot be read in
/// bands. Reads headers only.
pub fn open(
    store: &dyn SourceStore,
    at: &Locator,
    format: ImageFormat,
) -> Result<Option<Box<dyn BandReader>>, SourceError> {
    let file = || store.open(at).map_err(SourceError::unreadable);
    Ok(match format {
        ImageFormat::Jpeg => JpegBands::open(file()?)?.map(boxed),
        ImageFormat::Png => PngBands::open(file()?)?.map(boxed),
        ImageFormat::Tiff => StripBands::open(file()?)?.map(boxed),
        _ => None,
    })
}

fn boxed(r: impl BandReader + 'static) -> Box<dyn BandReader> {
    Box::new(r)
}

/// A sequential JPEG, gray or YCbCr, cut into bands that zune-jpeg decodes one at a time.
struct JpegBands {
    bands: jpeg::Bands<BufReader<Box<dyn ReadSeek>>>,
    color: ColorType,
}

impl JpegBands {
    fn open(file: Box<dyn ReadSeek>) -> Result<Option<JpegBands>, SourceError> {
        let bands = match jpeg::Bands::open(BufReader::new(file)) {
            Ok(b) => b,
            Err(jpeg::JoinError::Unsupported(why)) => {
                tracing::debug!(%why, "JPEG not read in bands");
                return Ok(None);
            }
            Err(e) => return Err(decode_error(e)),
        };
        let color = match bands.components() {
            1 => ColorType::L8,
            3 => ColorType::Rgb8,
            _ => return Ok(None),
        };
        Ok(Some(JpegBands { bands, color }))
    }
}

impl BandReader for JpegBands {
    fn size(&self) -> (u32, u32) {
        self.bands.size()
    }
    fn color(&self) -> ColorType {
        self.color
    }
    fn next_band(&mut self) -> Result<Option<DynamicImage>, SourceError> {
        let rows = band_rows(self.size().0, 3);
        let Some(band) = self.bands.next_band(rows).map_err(decode_error)? else {
            return Ok(None);
        };
        let out = if self.color == ColorType::L8 {
            ColorSpace::Luma
        } else {
            ColorSpace::RGB
        };
        let (w, _) = self.size();
        let options = DecoderOptions::default()
            .jpeg_set_out_colorspace(out)
            .set_max_width(w as usize)
            .set_max_height(band.height as usize);
        let mut decoder =
            JpegDecoder::new_with_options(ZCursor::new(band.jpeg.as_slice()), options);
        let pixels = decoder.decode().map_err(decode_error)?;
        image_of(self.color, (w, band.height), Samples::U8(pixels))
            .map(Some)
            .ok_or_else(|| decode_error("a JPEG band decoded to fewer pixels than its size"))
    }
    fn working_bytes(&self) -> u64 {
        // The band's codes and zune-jpeg's buffers besides the pixels.
        2 * band_rows(self.size().0, 3) as u64 * self.size().0 as u64 * 3
    }
}

/// A non-interlaced PNG, row by row (palettes and low bit depths expanded as `image` does).
struct PngBands {
    reader: png::Reader<BufReader<Box<dyn ReadSeek>>>,
    color: ColorType,
    rows: u32,
}

impl PngBands {
    fn open(file: Box<dyn ReadSeek>) -> Result<Option<PngBands>, SourceError> {
        let mut decoder = png::Decoder::new(BufReader::new(file));
        decoder.set_transformations(png::Transformations::EXPAND);
        // The default allocation limit holds: rows are read one at a time (what it bounds
        // then is a row buffer and the metadata chunks).
        let reader = decoder.read_info().map_err(decode_error)?;
        if reader.info().interlaced {
            return Ok(None);
        }
        let color = match reader.output_color_type() {
            (png::ColorType::Grayscale, png::BitDepth::Eight) => ColorType::L8,
            (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight) => ColorType::La8,
            (png::ColorType::Rgb, png::BitDepth::Eight) => ColorType::Rgb8,
            (png::ColorType::Rgba, png::BitDepth::Eight) => ColorType::Rgba8,
            (png::ColorType::Grayscale, png::BitDepth::Sixteen) => ColorType::L16,
            (png::ColorType::GrayscaleAlpha, png::BitDepth::Sixteen) => ColorType::La16,
            (png::ColorType::Rgb, png::BitDepth::Sixteen) => ColorType::Rgb16,
            (png::ColorType::Rgba, png::BitDepth::Sixteen) => ColorType::Rgba16,
            _ => return Ok(None),
        };
        let rows = band_rows(reader.info().width, color.bytes_per_pixel() as u64);
        Ok(Some(PngBands {
            reader,
            color,
            rows,
        }))
    }
}

impl BandReader for PngBands {
    fn size(&self) -> (u32, u32) {
        let info = self.reader.info();
        (info.width, info.height)
    }
    fn color(&self) -> ColorType {
        self.color
    }
    fn next_band(&mut self) -> Result<Option<DynamicImage>, SourceError> {
        let (w, _) = self.size();
        let row_bytes = w as usize * self.color.bytes_per_pixel() as usize;
        let mut bytes = Vec::with_capacity(row_bytes * self.rows as usize);
        let mut n = 0;
        while n < self.rows {
            let Some(row) = self.reader.next_row().map_err(decode_error)? else {
                break;
            };
            if row.data().len() != row_bytes {
                return Err(decode_error("a PNG row of an unexpected length"));
            }
            bytes.extend_from_slice(row.data());
            n += 1;
        }
        if n == 0 {
            return Ok(None);
        }
        let samples = if self.color.bytes_per_pixel() / self.color.channel_count() == 2 {
            Samples::U16(
                bytes
                    .chunks_exact(2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]))
                    .collect(),
            )
        } else {
            Samples::U8(bytes)
        };
        image_of(self.color, (w, n), samples)
            .map(Some)
            .ok_or_else(|| decode_error("a PNG band of an unexpected size"))
    }
    fn working_bytes(&self) -> u64 {
        // The band's bytes before they become samples.
        self.rows as u64 * self.size().0 as u64 * self.color.bytes_per_pixel() as u64
    }
}

/// A strip TIFF of gray or RGB, with or without alpha, 8 or 16 bits, chunky: strip by strip.
struct StripBands {
    decoder: Decoder<BufReader<Box<dyn ReadSeek>>>,
    size: (u32, u32),
    color: ColorType,
    next_strip: u32,
    strips: u32,
}

impl StripBands {
    fn open(file: Box<dyn ReadSeek>) -> Result<Option<StripBands>, SourceError> {
        let mut limits = tiff::decoder::Limits::default();
        limits.ifd_value_size = 256 << 20;
        let mut decoder = Decoder::new(BufReader::new(file))
            .map_err(decode_error)?
            .with_limits(limits);
        if decoder.get_chunk_type() != ChunkType::Strip {
            return Ok(None);
        }
        let planar = decoder
            .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
            .ok()
            .flatten()
            .unwrap_or(1);
        let orientation = decoder
            .find_tag_unsigned::<u16>(Tag::Orientation)
            .ok()
            .flatten()
            .unwrap_or(1);
        if planar != 1 || orientation != 1 {
            return Ok(None);
        }
        let color = match decoder.colortype().map_err(decode_error)? {
            tiff::ColorType::Gray(8) => ColorType::L8,
            tiff::ColorType::GrayA(8) => ColorType::La8,
            tiff::ColorType::RGB(8) => ColorType::Rgb8,
            tiff::ColorType::RGBA(8) => ColorType::Rgba8,
            tiff::ColorType::Gray(16) => ColorType::L16,
            tiff::ColorType::GrayA(16) => ColorType::La16,
            tiff::ColorType::RGB(16) => ColorType::Rgb16,
            tiff::ColorType::RGBA(16) => ColorType::Rgba16,
            _ => return Ok(None),
        };
        let size = decoder.dimensions().map_err(decode_error)?;
        let strips = decoder.strip_count().map_err(decode_error)?;
        Ok(Some(StripBands {
            decoder,
            size,
            color,
            next_strip: 0,
            strips,
        }))
    }
}

impl BandReader for StripBands {
    fn size(&self) -> (u32, u32) {
        self.size
    }
    fn color(&self) -> ColorType {
        self.color
    }
    fn next_band(&mut self) -> Result<Option<DynamicImage>, SourceError> {
        if self.next_strip >= self.strips {
            return Ok(None);
        }
        let i = self.next_strip;
        self.next_strip += 1;
        let (w, rows) = self.decoder.chunk_data_dimensions(i);
        if w != self.size.0 {
            return Err(decode_error("a strip narrower than its image"));
        }
        let samples = match self.decoder.read_chunk(i).map_err(decode_error)? {
            DecodingResult::U8(p) => Samples::U8(p),
            DecodingResult::U16(p) => Samples::U16(p),
            _ => return Err(decode_error("unsupported TIFF sample type")),
        };
        image_of(self.color, (w, rows), samples)
            .map(Some)
            .ok_or_else(|| decode_error("a TIFF strip of an unexpected size"))
    }
    fn working_bytes(&self) -> u64 {
        // One strip (its rows per strip, as stored) compressed and decoded.
        let (_, rows) = self.decoder.chunk_dimensions();
        2 * rows as u64 * self.size.0 as u64 * self.color.bytes_per_pixel() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileStore;
    use image::{ImageBuffer, Rgb, RgbImage, Rgba};
    type Rgba16Image = ImageBuffer<Rgba<u16>, Vec<u16>>;

    /// Every band of the source at `name`: its colour type and its samples stacked, as bytes.
    fn stacked(dir: &std::path::Path, name: &str, format: ImageFormat) -> (ColorType, Vec<u8>) {
        let store = FileStore::new(dir).unwrap();
        let mut reader = open(&store, &Locator::new(name), format)
            .unwrap()
            .expect("read in bands");
        let (w, h) = reader.size();
        let (mut bytes, mut rows, mut bands) = (Vec::new(), 0, 0);
        while let Some(band) = reader.next_band().unwrap() {
            assert_eq!((band.width(), band.color()), (w, reader.color()));
            bytes.extend_from_slice(band.as_bytes());
            rows += band.height();
            bands += 1;
        }
        assert!(bands > 1, "{name}: one band only");
        assert_eq!(rows, h);
        (reader.color(), bytes)
    }

    fn photo(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x * 7 + y * 3) % 256) as u8,
            ])
        })
    }

    #[test]
    fn bands_stack_to_what_decoding_the_whole_file_gives() {
        let dir = tempfile::tempdir().unwrap();
        // Wide enough for several bands of BAND_BYTES.
        let (w, h) = (6000, 1100);
        photo(w, h).save(dir.path().join("p.png")).unwrap();
        photo(w, h).save(dir.path().join("p.tif")).unwrap();
        let wide =
            Rgba16Image::from_fn(w, 700, |x, y| Rgba([x as u16 * 9, y as u16 * 90, 7, 65535]));
        wide.save(dir.path().join("wide16.png")).unwrap();
        let mut jpeg = Vec::new();
        let mut e = jpeg_encoder::Encoder::new(&mut jpeg, 90);
        e.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
        e.set_restart_interval(11);
        e.encode(
            photo(w, h).as_raw(),
            w as u16,
            h as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
        std::fs::write(dir.path().join("p.jpg"), &jpeg).unwrap();
        for (name, format) in [
            ("p.png", ImageFormat::Png),
            ("p.tif", ImageFormat::Tiff),
            ("wide16.png", ImageFormat::Png),
            ("p.jpg", ImageFormat::Jpeg),
        ] {
            let whole = image::open(dir.path().join(name)).unwrap();
            let (color, bytes) = stacked(dir.path(), name, format);
            assert_eq!(color, whole.color(), "{name}");
            assert!(bytes == whole.as_bytes(), "{name}: pixels differ");
        }
    }

    #[test]
    fn palette_pngs_expand_as_image_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let (w, h) = (5000, 900);
        let file = std::fs::File::create(dir.path().join("pal.png")).unwrap();
        let mut e = png::Encoder::new(std::io::BufWriter::new(file), w, h);
        e.set_color(png::ColorType::Indexed);
        e.set_depth(png::BitDepth::Eight);
        e.set_palette(vec![255, 0, 0, 0, 255, 0, 0, 0, 255]);
        e.set_trns(vec![255, 128, 0]);
        let mut writer = e.write_header().unwrap();
        let data: Vec<u8> = (0..w * h).map(|i| ((i % w + i / w) % 3) as u8).collect();
        writer.write_image_data(&data).unwrap();
        writer.finish().unwrap();
        let whole = image::open(dir.path().join("pal.png")).unwrap();
        assert_eq!(whole.color(), ColorType::Rgba8);
        let (color, bytes) = stacked(dir.path(), "pal.png", ImageFormat::Png);
        assert_eq!(color, ColorType::Rgba8);
        assert!(bytes == whole.as_bytes());
    }

    #[test]
    fn what_cannot_be_read_in_bands_has_no_reader() {
        let dir = tempfile::tempdir().unwrap();
        let mut progressive = Vec::new();
        let mut e = jpeg_encoder::Encoder::new(&mut progressive, 80);
        e.set_progressive(true);
        e.encode(photo(64, 64).as_raw(), 64, 64, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        std::fs::write(dir.path().join("prog.jpg"), &progressive).unwrap();
        photo(64, 64).save(dir.path().join("p.webp")).unwrap();
        let store = FileStore::new(dir.path()).unwrap();
        for (name, format) in [
            ("prog.jpg", ImageFormat::Jpeg),
            ("p.webp", ImageFormat::WebP),
        ] {
            let r = open(&store, &Locator::new(name), format).unwrap();
            assert!(r.is_none(), "{name}");
        }
    }
}
