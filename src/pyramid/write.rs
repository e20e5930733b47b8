//! Writes an image as a tiled pyramidal TIFF: the full size, then halves down to one tile, each
//! level an image file directory of square tiles, the layout `vips tiffsave --tile --pyramid`
//! writes. Tessera reads it back with [`crate::source::tiled`]; libtiff tools read it too.
//!
//! 8-bit gray and RGB become JPEG tiles (YCbCr without chroma subsampling: fine coloured detail
//! survives every level; one self-contained stream per tile); alpha
//! and 16-bit images become Deflate tiles, so a lossless source stays lossless. Classic TIFF:
//! 32-bit offsets, so a pyramid over 4 GiB is refused rather than written wrong.

use std::io::{Seek, SeekFrom, Write};

use image::{DynamicImage, GenericImageView};

use crate::pipeline::resize::{self, Filter, Region};

/// How tiles are compressed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TileCompression {
    Jpeg { quality: u8 },
    Deflate,
}

impl TileCompression {
    /// JPEG at `quality` where the image's layout allows it, Deflate otherwise.
    pub fn for_image(image: &DynamicImage, quality: u8) -> TileCompression {
        match image {
            DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => {
                TileCompression::Jpeg { quality }
            }
            _ => TileCompression::Deflate,
        }
    }
}

/// Why a pyramid could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("could not encode a tile: {0}")]
    Encode(String),
    #[error("could not reduce a level: {0}")]
    Reduce(String),
    #[error("the pyramid would be larger than a classic TIFF can address (4 GiB)")]
    TooLarge,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub levels: u32,
    pub tiles: u32,
    pub bytes: u64,
}

/// One level's directory, gathered while its tiles are written.
struct Directory {
    width: u32,
    height: u32,
    offsets: Vec<u32>,
    counts: Vec<u32>,
}

/// Writes `base` and its halvings (area-averaged, until one `tile`×`tile` tile holds a level)
/// to `out` as a tiled TIFF. Level `k` is `ceil(w / 2^k)` × `ceil(h / 2^k)`, the sizes
/// info.json lists.
pub fn write_pyramid<W: Write + Seek>(
    mut out: W,
    base: DynamicImage,
    tile: u32,
    compression: TileCompression,
) -> Result<Written, WriteError> {
    let tile = tile.clamp(16, 4096) / 16 * 16;
    let layout = PixelLayout::of(&base);
    let compression = match compression {
        TileCompression::Jpeg { .. } if layout.bits != 8 || layout.alpha => {
            TileCompression::Deflate
        }
        c => c,
    };
    // Header: little-endian, magic 42, first directory offset patched at the end.
    out.write_all(&[b'I', b'I', 42, 0, 0, 0, 0, 0])?;
    let mut pos: u64 = 8;
    let mut directories = Vec::new();
    let (w0, h0) = base.dimensions();
    let mut level = base;
    let mut k = 0u32;
    loop {
        let (w, h) = level.dimensions();
        let mut dir = Directory {
            width: w,
            height: h,
            offsets: Vec::new(),
            counts: Vec::new(),
        };
        for ty in 0..h.div_ceil(tile) {
            for tx in 0..w.div_ceil(tile) {
                let bytes = encode_tile(&level, tx * tile, ty * tile, tile, compression)?;
                if pos + bytes.len() as u64 > u32::MAX as u64 {
                    return Err(WriteError::TooLarge);
                }
                dir.offsets.push(pos as u32);
                dir.counts.push(bytes.len() as u32);
                out.write_all(&bytes)?;
                pos += bytes.len() as u64;
            }
        }
        directories.push(dir);
        if w <= tile && h <= tile {
            break;
        }
        k += 1;
        let next = (w0.div_ceil(1 << k), h0.div_ceil(1 << k));
        let whole = Region {
            x: 0.0,
            y: 0.0,
            w: w as f64,
            h: h as f64,
        };
        level = resize::resize(&level, whole, next, Filter::Box)
            .map_err(|e| WriteError::Reduce(e.to_string()))?;
    }
    let tiles = directories.iter().map(|d| d.offsets.len() as u32).sum();
    // Directories after the tile data, each followed by its out-of-line values.
    let mut next_link: Option<u64> = None;
    let first = pos + (pos & 1);
    for (i, dir) in directories.iter().enumerate() {
        if pos & 1 == 1 {
            out.write_all(&[0])?;
            pos += 1;
        }
        if let Some(link) = next_link {
            out.seek(SeekFrom::Start(link))?;
            out.write_all(&(pos as u32).to_le_bytes())?;
            out.seek(SeekFrom::Start(pos))?;
        }
        let (bytes, link) = directory_bytes(dir, i > 0, tile, &layout, compression, pos)?;
        out.write_all(&bytes)?;
        next_link = Some(pos + link as u64);
        pos += bytes.len() as u64;
        if pos > u32::MAX as u64 {
            return Err(WriteError::TooLarge);
        }
    }
    out.seek(SeekFrom::Start(4))?;
    out.write_all(&(first as u32).to_le_bytes())?;
    out.flush()?;
    Ok(Written {
        levels: directories.len() as u32,
        tiles,
        bytes: pos,
    })
}

/// Samples of the stored pixels.
struct PixelLayout {
    channels: u16,
    bits: u16,
    alpha: bool,
}

impl PixelLayout {
    fn of(image: &DynamicImage) -> PixelLayout {
        let c = image.color();
        PixelLayout {
            channels: c.channel_count() as u16,
            bits: (c.bits_per_pixel() / c.channel_count() as u16),
            alpha: c.has_alpha(),
        }
    }
}

/// The samples of an image in memory.
enum Raw<'a> {
    U8(&'a [u8]),
    U16(&'a [u16]),
}

fn raw(image: &DynamicImage) -> Option<Raw<'_>> {
    Some(match image {
        DynamicImage::ImageLuma8(i) => Raw::U8(i.as_raw()),
        DynamicImage::ImageLumaA8(i) => Raw::U8(i.as_raw()),
        DynamicImage::ImageRgb8(i) => Raw::U8(i.as_raw()),
        DynamicImage::ImageRgba8(i) => Raw::U8(i.as_raw()),
        DynamicImage::ImageLuma16(i) => Raw::U16(i.as_raw()),
        DynamicImage::ImageLumaA16(i) => Raw::U16(i.as_raw()),
        DynamicImage::ImageRgb16(i) => Raw::U16(i.as_raw()),
        DynamicImage::ImageRgba16(i) => Raw::U16(i.as_raw()),
        _ => return None,
    })
}

/// The `tile`×`tile` block at (`x`, `y`) of a `w`×`h` image, padded by repeating the last row
/// and column: TIFF tiles are always whole, and repeated edges keep JPEG blocks smooth.
fn pad<T: Copy + Default>(
    src: &[T],
    (w, h): (u32, u32),
    channels: usize,
    (x, y): (u32, u32),
    tile: u32,
) -> Vec<T> {
    let (cw, ch) = ((w - x).min(tile) as usize, (h - y).min(tile) as usize);
    let (tile, w) = (tile as usize, w as usize);
    let mut out = vec![T::default(); tile * tile * channels];
    for ty in 0..tile {
        let sy = y as usize + ty.min(ch - 1);
        let from = (sy * w + x as usize) * channels;
        let to = ty * tile * channels;
        out[to..to + cw * channels].copy_from_slice(&src[from..from + cw * channels]);
        let last = to + (cw - 1) * channels;
        for tx in cw..tile {
            out.copy_within(last..last + channels, to + tx * channels);
        }
    }
    out
}

/// The tile at (`x`, `y`) of `level`, compressed.
fn encode_tile(
    level: &DynamicImage,
    x: u32,
    y: u32,
    tile: u32,
    compression: TileCompression,
) -> Result<Vec<u8>, WriteError> {
    let size = level.dimensions();
    let channels = level.color().channel_count() as usize;
    let samples =
        raw(level).ok_or_else(|| WriteError::Encode("unsupported pixel layout".into()))?;
    match (compression, samples) {
        (TileCompression::Jpeg { quality }, Raw::U8(src)) => {
            let color = if channels == 1 {
                jpeg_encoder::ColorType::Luma
            } else {
                jpeg_encoder::ColorType::Rgb
            };
            let padded = pad(src, size, channels, (x, y), tile);
            let mut bytes = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, quality.clamp(1, 100));
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
            let side = tile as u16;
            encoder
                .encode(&padded, side, side, color)
                .map_err(|e| WriteError::Encode(e.to_string()))?;
            Ok(bytes)
        }
        (TileCompression::Jpeg { .. }, Raw::U16(_)) => {
            Err(WriteError::Encode("JPEG tiles are 8-bit".into()))
        }
        (TileCompression::Deflate, samples) => {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            match samples {
                Raw::U8(src) => z.write_all(&pad(src, size, channels, (x, y), tile))?,
                Raw::U16(src) => {
                    let padded = pad(src, size, channels, (x, y), tile);
                    let le: Vec<u8> = padded.iter().flat_map(|v| v.to_le_bytes()).collect();
                    z.write_all(&le)?
                }
            }
            Ok(z.finish()?)
        }
    }
}

/// TIFF field types used here.
const SHORT: u16 = 3;
const LONG: u16 = 4;

/// One directory and its out-of-line values, laid out to start at file offset `at`; also
/// where in it the next-directory link sits.
fn directory_bytes(
    dir: &Directory,
    reduced: bool,
    tile: u32,
    layout: &PixelLayout,
    compression: TileCompression,
    at: u64,
) -> Result<(Vec<u8>, usize), WriteError> {
    let jpeg = matches!(compression, TileCompression::Jpeg { .. });
    let color = layout.channels - layout.alpha as u16;
    let photometric: u16 = match (color, jpeg) {
        (1, _) => 1,    // MinIsBlack
        (_, true) => 6, // YCbCr
        _ => 2,         // RGB
    };
    let bits = vec![layout.bits as u32; layout.channels as usize];
    let mut entries: Vec<(u16, u16, Vec<u32>)> = vec![
        (254, LONG, vec![reduced as u32]),
        (256, LONG, vec![dir.width]),
        (257, LONG, vec![dir.height]),
        (258, SHORT, bits),
        (259, SHORT, vec![if jpeg { 7 } else { 8 }]),
        (262, SHORT, vec![photometric as u32]),
        (277, SHORT, vec![layout.channels as u32]),
        (284, SHORT, vec![1]),
        (322, LONG, vec![tile]),
        (323, LONG, vec![tile]),
        (324, LONG, dir.offsets.clone()),
        (325, LONG, dir.counts.clone()),
    ];
    if layout.alpha {
        entries.push((338, SHORT, vec![2])); // unassociated alpha
    }
    if photometric == 6 {
        entries.push((530, SHORT, vec![1, 1]));
    }
    let n = entries.len();
    let head = 2 + n * 12 + 4;
    let mut out = Vec::with_capacity(head);
    let mut extra: Vec<u8> = Vec::new();
    out.extend_from_slice(&(n as u16).to_le_bytes());
    for (tag, kind, values) in &entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(values.len() as u32).to_le_bytes());
        let mut bytes = Vec::new();
        for v in values {
            if *kind == SHORT {
                bytes.extend_from_slice(&(*v as u16).to_le_bytes());
            } else {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        if bytes.len() <= 4 {
            bytes.resize(4, 0);
            out.extend_from_slice(&bytes);
        } else {
            let offset = at + head as u64 + extra.len() as u64;
            let offset = u32::try_from(offset).map_err(|_| WriteError::TooLarge)?;
            out.extend_from_slice(&offset.to_le_bytes());
            extra.extend_from_slice(&bytes);
            if extra.len() & 1 == 1 {
                extra.push(0);
            }
        }
    }
    let link = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&extra);
    Ok((out, link))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &std::path::Path) -> Box<dyn crate::source::ReadSeek> {
        Box::new(std::fs::File::open(path).unwrap())
    }
    use crate::source::tiled::{self, Window};
    use image::{ImageBuffer, Rgb, RgbImage, Rgba, RgbaImage};
    type Rgba16Image = ImageBuffer<Rgba<u16>, Vec<u16>>;
    use std::io::Cursor;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) / 8 % 256) as u8])
        })
    }

    fn write(
        image: DynamicImage,
        tile: u32,
        c: TileCompression,
    ) -> (tempfile::TempDir, std::path::PathBuf, Written) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.tif");
        let mut buf = Cursor::new(Vec::new());
        let written = write_pyramid(&mut buf, image, tile, c).unwrap();
        std::fs::write(&path, buf.into_inner()).unwrap();
        (dir, path, written)
    }

    #[test]
    fn levels_halve_down_to_one_tile_and_read_back() {
        let (_d, path, written) = write(
            DynamicImage::ImageRgb8(gradient(1000, 600)),
            256,
            TileCompression::Jpeg { quality: 95 },
        );
        let levels = tiled::probe(file(&path)).unwrap().unwrap().levels;
        let sizes: Vec<_> = levels.iter().map(|l| (l.width, l.height)).collect();
        assert_eq!(sizes, vec![(1000, 600), (500, 300), (250, 150)]);
        assert_eq!(written.levels, 3);
        assert_eq!(written.tiles, 4 * 3 + 2 * 2 + 1);
        // A window across four tiles, including an edge tile, matches the source closely.
        let window = Window {
            x: 200,
            y: 240,
            w: 800,
            h: 360,
        };
        let got = tiled::read_window(file(&path), &levels[0], window, u64::MAX)
            .unwrap()
            .to_rgb8();
        let want = image::imageops::crop_imm(&gradient(1000, 600), 200, 240, 800, 360).to_image();
        let diff: f64 = got
            .as_raw()
            .iter()
            .zip(want.as_raw())
            .map(|(a, b)| (*a as f64 - *b as f64).abs())
            .sum::<f64>()
            / got.as_raw().len() as f64;
        assert!(diff < 2.0, "mean difference {diff}");
    }

    #[test]
    fn deflate_tiles_keep_alpha_and_sixteen_bits_exactly() {
        let img = Rgba16Image::from_fn(300, 200, |x, y| {
            Rgba([x as u16 * 200, y as u16 * 300, 4242, (x * y) as u16])
        });
        let (_d, path, _) = write(
            DynamicImage::ImageRgba16(img.clone()),
            128,
            TileCompression::Jpeg { quality: 90 },
        );
        let levels = tiled::probe(file(&path)).unwrap().unwrap().levels;
        assert_eq!(levels.len(), 3);
        let window = Window {
            x: 100,
            y: 50,
            w: 200,
            h: 150,
        };
        let got = tiled::read_window(file(&path), &levels[0], window, u64::MAX).unwrap();
        let want = image::imageops::crop_imm(&img, 100, 50, 200, 150).to_image();
        assert_eq!(got.to_rgba16(), want);

        let rgba = RgbaImage::from_pixel(40, 30, Rgba([1, 2, 3, 4]));
        let (_d, path, _) = write(
            DynamicImage::ImageRgba8(rgba.clone()),
            16,
            TileCompression::Deflate,
        );
        let levels = tiled::probe(file(&path)).unwrap().unwrap().levels;
        let all = Window {
            x: 0,
            y: 0,
            w: 40,
            h: 30,
        };
        assert_eq!(
            tiled::read_window(file(&path), &levels[0], all, u64::MAX)
                .unwrap()
                .to_rgba8(),
            rgba
        );
    }

    /// A 600×600 gradient in 256 px JPEG tiles, and its levels.
    fn jpeg_pyramid() -> (tempfile::TempDir, std::path::PathBuf, Vec<tiled::Level>) {
        let (d, path, _) = write(
            DynamicImage::ImageRgb8(gradient(600, 600)),
            256,
            TileCompression::Jpeg { quality: 90 },
        );
        let levels = tiled::probe(file(&path)).unwrap().unwrap().levels;
        (d, path, levels)
    }

    #[test]
    fn stored_jpeg_tiles_are_complete_files() {
        let (_d, path, levels) = jpeg_pyramid();
        let one = Window {
            x: 256,
            y: 256,
            w: 256,
            h: 256,
        };
        let bytes = tiled::stored_jpeg(file(&path), &levels[0], one)
            .unwrap()
            .unwrap();
        let tile = image::load_from_memory(&bytes).unwrap().to_rgb8();
        assert_eq!(tile.dimensions(), (256, 256));
        let p = tile.get_pixel(10, 20);
        assert!(
            (p[0] as i32 - 10).abs() <= 6 && (p[1] as i32 - 20).abs() <= 6,
            "{p:?}"
        );
    }

    #[test]
    fn windows_of_several_stored_tiles_are_joined_with_their_pixels() {
        let (_d, path, levels) = jpeg_pyramid();
        for (level, window) in [
            (0, (0, 0, 512, 512)),
            (0, (256, 256, 344, 344)),
            (0, (504, 8, 96, 300)),
            (1, (0, 0, 300, 300)),
        ] {
            let (x, y, w, h) = window;
            let window = Window { x, y, w, h };
            let level = &levels[level];
            let joined = tiled::stored_jpeg(file(&path), level, window)
                .unwrap()
                .unwrap();
            let joined = image::load_from_memory(&joined).unwrap().to_rgb8();
            let decoded = tiled::read_window(file(&path), level, window, u64::MAX)
                .unwrap()
                .to_rgb8();
            assert!(joined == decoded, "{window:?}: pixels differ");
        }
    }
}
