//! Writes a tiled pyramidal TIFF: the full size, then halves down to one tile, each level an
//! image file directory of square tiles, the layout `vips tiffsave --tile --pyramid` writes.
//! Tessera reads it back with [`crate::source::tiled`]; libtiff tools read it too.
//!
//! Rows arrive top to bottom, a band at a time ([`PyramidWriter::push`]): each level keeps one
//! row of tiles and one pending row, writes a row of tiles as soon as it is complete and hands
//! every pair of rows, averaged, to the next level. Memory is a few rows of tiles, whatever the
//! image's height; the directories go after the tile data, which is written as it comes.
//!
//! 8-bit gray and RGB become JPEG tiles (YCbCr without chroma subsampling: fine coloured detail
//! survives every level; one self-contained stream per tile); alpha and 16-bit images become
//! Deflate tiles, so a lossless source stays lossless. A pyramid that could pass 4 GiB is
//! written as BigTIFF (64-bit offsets), any other as classic TIFF.

use std::io::{Seek, SeekFrom, Write};

use image::{ColorType, DynamicImage, GenericImageView};

use crate::jpeg;

/// How tiles are compressed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TileCompression {
    Jpeg { quality: u8 },
    Deflate,
}

impl TileCompression {
    /// JPEG at `quality` where the pixel layout allows it, Deflate otherwise.
    pub fn for_color(color: ColorType, quality: u8) -> TileCompression {
        match color {
            ColorType::L8 | ColorType::Rgb8 => TileCompression::Jpeg { quality },
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
    #[error("unsupported pixel layout {0:?}")]
    Layout(ColorType),
    #[error("rows do not fit the pyramid: {0}")]
    Rows(String),
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

/// Writes `base` and its halvings to `out` (see [`PyramidWriter`]).
pub fn write_pyramid<W: Write + Seek>(
    out: W,
    base: DynamicImage,
    tile: u32,
    compression: TileCompression,
) -> Result<Written, WriteError> {
    let mut writer = PyramidWriter::new(out, base.dimensions(), base.color(), tile, compression)?;
    writer.push(&base)?;
    writer.finish()
}

/// Samples of the stored pixels.
#[derive(Debug, Clone, Copy)]
struct PixelLayout {
    channels: u16,
    bits: u16,
    alpha: bool,
}

impl PixelLayout {
    fn of(color: ColorType) -> Result<PixelLayout, WriteError> {
        match color {
            ColorType::L8
            | ColorType::La8
            | ColorType::Rgb8
            | ColorType::Rgba8
            | ColorType::L16
            | ColorType::La16
            | ColorType::Rgb16
            | ColorType::Rgba16 => Ok(PixelLayout {
                channels: color.channel_count() as u16,
                bits: color.bits_per_pixel() / color.channel_count() as u16,
                alpha: color.has_alpha(),
            }),
            other => Err(WriteError::Layout(other)),
        }
    }

    fn bytes_per_pixel(&self) -> u64 {
        self.channels as u64 * self.bits as u64 / 8
    }
}

/// Level `k`'s size: `ceil(w / 2^k)` × `ceil(h / 2^k)`, the sizes info.json lists; levels stop
/// at the first that one tile holds.
fn level_sizes((w, h): (u32, u32), tile: u32) -> Vec<(u32, u32)> {
    let mut sizes = vec![(w, h)];
    while let Some(&(w, h)) = sizes.last()
        && (w > tile || h > tile)
    {
        sizes.push((w.div_ceil(2), h.div_ceil(2)));
    }
    sizes
}

/// The tile edge a requested size becomes: 16 to 4096, a multiple of 16 (TIFF requires it).
fn tile_edge(tile: u32) -> u32 {
    tile.clamp(16, 4096) / 16 * 16
}

/// Bytes of pixels a [`PyramidWriter`] for this size holds at most: a row of tiles and a
/// pending row per level.
pub fn working_bytes(size: (u32, u32), color: ColorType, tile: u32) -> u64 {
    let tile = tile_edge(tile) as u64;
    let bpp = color.bytes_per_pixel() as u64;
    level_sizes(size, tile as u32)
        .iter()
        .map(|&(w, _)| w as u64 * (tile + 1) * bpp)
        .sum()
}

/// The samples of one row or of a level's rows in memory.
enum Samples {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

/// Borrowed samples.
#[derive(Clone, Copy)]
enum Raw<'a> {
    U8(&'a [u8]),
    U16(&'a [u16]),
}

impl Samples {
    fn empty(layout: &PixelLayout, capacity: usize) -> Samples {
        if layout.bits == 16 {
            Samples::U16(Vec::with_capacity(capacity))
        } else {
            Samples::U8(Vec::with_capacity(capacity))
        }
    }

    fn raw(&self) -> Raw<'_> {
        match self {
            Samples::U8(v) => Raw::U8(v),
            Samples::U16(v) => Raw::U16(v),
        }
    }

    fn extend(&mut self, row: Raw) -> Result<(), WriteError> {
        match (self, row) {
            (Samples::U8(v), Raw::U8(r)) => v.extend_from_slice(r),
            (Samples::U16(v), Raw::U16(r)) => v.extend_from_slice(r),
            _ => return Err(WriteError::Rows("sample type changed".into())),
        }
        Ok(())
    }

    fn clear(&mut self) {
        match self {
            Samples::U8(v) => v.clear(),
            Samples::U16(v) => v.clear(),
        }
    }
}

impl<'a> Raw<'a> {
    fn of(image: &'a DynamicImage) -> Option<Raw<'a>> {
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

    fn len(&self) -> usize {
        match self {
            Raw::U8(v) => v.len(),
            Raw::U16(v) => v.len(),
        }
    }

    fn slice(&self, from: usize, n: usize) -> Raw<'a> {
        match *self {
            Raw::U8(v) => Raw::U8(&v[from..from + n]),
            Raw::U16(v) => Raw::U16(&v[from..from + n]),
        }
    }

    /// Rows `a` and `b` (`w` pixels of `channels` samples) averaged 2×2 into one row of
    /// `ceil(w / 2)`; an odd last column is averaged with itself.
    fn halve(a: Raw, b: Raw, w: usize, channels: usize) -> Samples {
        match (a, b) {
            (Raw::U8(a), Raw::U8(b)) => Samples::U8(halve(a, b, w, channels)),
            (Raw::U16(a), Raw::U16(b)) => Samples::U16(halve(a, b, w, channels)),
            _ => unreachable!("one level has one sample type"),
        }
    }
}

/// A sample that can be averaged.
trait Sample: Copy + Default + Into<u32> {
    fn from_sum(sum: u32) -> Self;
}

impl Sample for u8 {
    fn from_sum(sum: u32) -> u8 {
        ((sum + 2) >> 2) as u8
    }
}

impl Sample for u16 {
    fn from_sum(sum: u32) -> u16 {
        ((sum + 2) >> 2) as u16
    }
}

fn halve<T: Sample>(a: &[T], b: &[T], w: usize, channels: usize) -> Vec<T> {
    let half = w.div_ceil(2);
    let mut out = Vec::with_capacity(half * channels);
    for x in 0..half {
        let (l, r) = (2 * x * channels, (2 * x + 1).min(w - 1) * channels);
        for c in 0..channels {
            let sum = a[l + c].into() + a[r + c].into() + b[l + c].into() + b[r + c].into();
            out.push(T::from_sum(sum));
        }
    }
    out
}

/// One level being written.
struct Level {
    width: u32,
    height: u32,
    /// Rows received so far.
    received: u32,
    /// The rows of the current row of tiles.
    rows: Samples,
    rows_held: u32,
    /// A row waiting for its pair to be averaged into the next level.
    pending: Option<Samples>,
    /// Offset and byte count of each tile written, row-major.
    tiles: Vec<(u64, u64)>,
}

/// A tiled pyramidal TIFF written from rows pushed top to bottom.
pub struct PyramidWriter<W: Write + Seek> {
    out: W,
    pos: u64,
    big: bool,
    tile: u32,
    compression: TileCompression,
    color: ColorType,
    layout: PixelLayout,
    levels: Vec<Level>,
}

impl<W: Write + Seek> PyramidWriter<W> {
    /// Starts a pyramid of a `size` image of `color` pixels in `tile`-sized tiles (made a
    /// multiple of 16 within 16..=4096). BigTIFF when the tiles, uncompressed, could pass
    /// 4 GiB.
    pub fn new(
        out: W,
        size: (u32, u32),
        color: ColorType,
        tile: u32,
        compression: TileCompression,
    ) -> Result<PyramidWriter<W>, WriteError> {
        let tile = tile_edge(tile);
        let layout = PixelLayout::of(color)?;
        let sizes = level_sizes(size, tile);
        let padded: u64 = sizes
            .iter()
            .map(|&(w, h)| w.div_ceil(tile) as u64 * h.div_ceil(tile) as u64)
            .sum::<u64>()
            * (tile as u64 * tile as u64 * layout.bytes_per_pixel());
        Self::with_format(out, size, color, tile, compression, padded > 4_000_000_000)
    }

    fn with_format(
        mut out: W,
        size: (u32, u32),
        color: ColorType,
        tile: u32,
        compression: TileCompression,
        big: bool,
    ) -> Result<PyramidWriter<W>, WriteError> {
        if size.0 == 0 || size.1 == 0 {
            return Err(WriteError::Rows("an image without pixels".into()));
        }
        let tile = tile_edge(tile);
        let layout = PixelLayout::of(color)?;
        let compression = match compression {
            TileCompression::Jpeg { .. } if layout.bits != 8 || layout.alpha => {
                TileCompression::Deflate
            }
            c => c,
        };
        let row = |w: u32| w as usize * layout.channels as usize;
        let levels = level_sizes(size, tile)
            .into_iter()
            .map(|(width, height)| Level {
                width,
                height,
                received: 0,
                rows: Samples::empty(&layout, row(width) * tile as usize),
                rows_held: 0,
                pending: None,
                tiles: Vec::new(),
            })
            .collect();
        // Header: little-endian, magic 42 (classic) or 43 (BigTIFF), the first directory's
        // offset patched at the end.
        let pos = if big {
            out.write_all(&[b'I', b'I', 43, 0, 8, 0, 0, 0])?;
            out.write_all(&[0; 8])?;
            16
        } else {
            out.write_all(&[b'I', b'I', 42, 0, 0, 0, 0, 0])?;
            8
        };
        Ok(PyramidWriter {
            out,
            pos,
            big,
            tile,
            compression,
            color,
            layout,
            levels,
        })
    }

    /// Adds the next rows: a band of whole rows of the full-size image, in its colour type.
    pub fn push(&mut self, band: &DynamicImage) -> Result<(), WriteError> {
        if band.color() != self.color || band.width() != self.levels[0].width {
            return Err(WriteError::Rows(format!(
                "a {:?} band {} wide for a {:?} image {} wide",
                band.color(),
                band.width(),
                self.color,
                self.levels[0].width
            )));
        }
        let raw = Raw::of(band).ok_or(WriteError::Layout(band.color()))?;
        let row = band.width() as usize * self.layout.channels as usize;
        for r in 0..band.height() as usize {
            self.push_row(0, raw.slice(r * row, row))?;
        }
        Ok(())
    }

    /// Adds one row to level `k`: written with its row of tiles once that is complete, and
    /// averaged with its pair into level `k + 1`.
    fn push_row(&mut self, k: usize, row: Raw) -> Result<(), WriteError> {
        let channels = self.layout.channels as usize;
        let level = &mut self.levels[k];
        if level.received == level.height {
            return Err(WriteError::Rows("more rows than the image has".into()));
        }
        let width = level.width as usize;
        if row.len() != width * channels {
            return Err(WriteError::Rows("a row of the wrong length".into()));
        }
        level.rows.extend(row)?;
        level.rows_held += 1;
        level.received += 1;
        let last = level.received == level.height;
        if level.rows_held == self.tile || last {
            self.write_tile_row(k)?;
        }
        if k + 1 == self.levels.len() {
            return Ok(());
        }
        let level = &mut self.levels[k];
        let half = match level.pending.take() {
            Some(above) => Some(Raw::halve(above.raw(), row, width, channels)),
            None if last => Some(Raw::halve(row, row, width, channels)),
            None => {
                let mut copy = Samples::empty(&self.layout, row.len());
                copy.extend(row)?;
                level.pending = Some(copy);
                None
            }
        };
        match half {
            Some(half) => self.push_row(k + 1, half.raw()),
            None => Ok(()),
        }
    }

    /// Encodes and writes the tiles of level `k`'s held rows.
    fn write_tile_row(&mut self, k: usize) -> Result<(), WriteError> {
        let level = &mut self.levels[k];
        let (size, raw) = ((level.width, level.rows_held), level.rows.raw());
        let (channels, tile, compression) =
            (self.layout.channels as usize, self.tile, self.compression);
        let columns = level.width.div_ceil(tile) as usize;
        let encode =
            |tx: usize| encode_tile(raw, size, channels, tx as u32 * tile, tile, compression);
        // Encoding is most of a build's time: the row's tiles are shared among the cores.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(columns);
        let mut tiles: Vec<Option<Result<Vec<u8>, WriteError>>> =
            (0..columns).map(|_| None).collect();
        if threads <= 1 {
            for (tx, t) in tiles.iter_mut().enumerate() {
                *t = Some(encode(tx));
            }
        } else {
            std::thread::scope(|scope| {
                let encode = &encode;
                let workers: Vec<_> = (0..threads)
                    .map(|first| {
                        scope.spawn(move || {
                            (first..columns)
                                .step_by(threads)
                                .map(|tx| (tx, encode(tx)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                for worker in workers {
                    for (tx, t) in worker.join().expect("tile encoding does not panic") {
                        tiles[tx] = Some(t);
                    }
                }
            });
        }
        for t in tiles {
            let bytes = t.expect("every column was encoded")?;
            if !self.big && self.pos + bytes.len() as u64 > u32::MAX as u64 {
                return Err(WriteError::TooLarge);
            }
            self.out.write_all(&bytes)?;
            level.tiles.push((self.pos, bytes.len() as u64));
            self.pos += bytes.len() as u64;
        }
        level.rows.clear();
        level.rows_held = 0;
        Ok(())
    }

    /// Writes the directories once every row has arrived.
    pub fn finish(mut self) -> Result<Written, WriteError> {
        if let Some(l) = self.levels.iter().find(|l| l.received < l.height) {
            return Err(WriteError::Rows(format!(
                "{} of {} rows arrived",
                l.received, l.height
            )));
        }
        let mut pos = self.pos;
        let mut next_link: Option<u64> = None;
        let first = pos + (pos & 1);
        for i in 0..self.levels.len() {
            if pos & 1 == 1 {
                self.out.write_all(&[0])?;
                pos += 1;
            }
            if let Some(link) = next_link {
                self.out.seek(SeekFrom::Start(link))?;
                self.write_offset(pos)?;
                self.out.seek(SeekFrom::Start(pos))?;
            }
            let (bytes, link) = directory_bytes(&self.levels[i], i > 0, &self, pos)?;
            self.out.write_all(&bytes)?;
            next_link = Some(pos + link as u64);
            pos += bytes.len() as u64;
            if !self.big && pos > u32::MAX as u64 {
                return Err(WriteError::TooLarge);
            }
        }
        self.out
            .seek(SeekFrom::Start(if self.big { 8 } else { 4 }))?;
        self.write_offset(first)?;
        self.out.flush()?;
        Ok(Written {
            levels: self.levels.len() as u32,
            tiles: self.levels.iter().map(|l| l.tiles.len() as u32).sum(),
            bytes: pos,
        })
    }

    fn write_offset(&mut self, at: u64) -> Result<(), WriteError> {
        if self.big {
            self.out.write_all(&at.to_le_bytes())?;
        } else {
            self.out.write_all(&(at as u32).to_le_bytes())?;
        }
        Ok(())
    }
}

/// The `tile`×`tile` block at column `x` of rows `src` (`w`×`h`), padded by repeating the last
/// row and column: TIFF tiles are always whole, and repeated edges keep JPEG blocks smooth.
fn pad<T: Copy + Default>(
    src: &[T],
    (w, h): (u32, u32),
    channels: usize,
    x: u32,
    tile: u32,
) -> Vec<T> {
    let (cw, ch) = ((w - x).min(tile) as usize, h.min(tile) as usize);
    let (tile, w) = (tile as usize, w as usize);
    let mut out = vec![T::default(); tile * tile * channels];
    for ty in 0..tile {
        let sy = ty.min(ch - 1);
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

/// The tile at column `x` of the rows `samples` (`size`), compressed.
fn encode_tile(
    samples: Raw,
    size: (u32, u32),
    channels: usize,
    x: u32,
    tile: u32,
    compression: TileCompression,
) -> Result<Vec<u8>, WriteError> {
    match (compression, samples) {
        (TileCompression::Jpeg { quality }, Raw::U8(src)) => {
            let samples = if channels == 1 {
                jpeg::Samples::Gray
            } else {
                jpeg::Samples::Rgb
            };
            let padded = pad(src, size, channels, x, tile);
            let settings = jpeg::Settings {
                quality,
                full_chroma: true,
                progressive: false,
            };
            jpeg::encode(&padded, (tile, tile), samples, settings)
                .map_err(|e| WriteError::Encode(e.to_string()))
        }
        (TileCompression::Jpeg { .. }, Raw::U16(_)) => {
            Err(WriteError::Encode("JPEG tiles are 8-bit".into()))
        }
        (TileCompression::Deflate, samples) => {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            match samples {
                Raw::U8(src) => z.write_all(&pad(src, size, channels, x, tile))?,
                Raw::U16(src) => {
                    let padded = pad(src, size, channels, x, tile);
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
const LONG8: u16 = 16;

/// One level's directory and its out-of-line values, laid out to start at file offset `at`;
/// also where in it the next-directory link sits.
fn directory_bytes<W: Write + Seek>(
    level: &Level,
    reduced: bool,
    writer: &PyramidWriter<W>,
    at: u64,
) -> Result<(Vec<u8>, usize), WriteError> {
    let layout = &writer.layout;
    let jpeg = matches!(writer.compression, TileCompression::Jpeg { .. });
    let color = layout.channels - layout.alpha as u16;
    let photometric: u64 = match (color, jpeg) {
        (1, _) => 1,    // MinIsBlack
        (_, true) => 6, // YCbCr
        _ => 2,         // RGB
    };
    let (offsets, counts): (Vec<u64>, Vec<u64>) = level.tiles.iter().copied().unzip();
    // Classic TIFF offsets are LONG; the writer checked they fit.
    let wide = if writer.big { LONG8 } else { LONG };
    let tile = writer.tile as u64;
    let mut entries: Vec<(u16, u16, Vec<u64>)> = vec![
        (254, LONG, vec![reduced as u64]),
        (256, LONG, vec![level.width as u64]),
        (257, LONG, vec![level.height as u64]),
        (
            258,
            SHORT,
            vec![layout.bits as u64; layout.channels as usize],
        ),
        (259, SHORT, vec![if jpeg { 7 } else { 8 }]),
        (262, SHORT, vec![photometric]),
        (277, SHORT, vec![layout.channels as u64]),
        (284, SHORT, vec![1]),
        (322, LONG, vec![tile]),
        (323, LONG, vec![tile]),
        (324, wide, offsets),
        (325, wide, counts),
    ];
    if layout.alpha {
        entries.push((338, SHORT, vec![2])); // unassociated alpha
    }
    if photometric == 6 {
        entries.push((530, SHORT, vec![1, 1]));
    }
    // Classic: 2-byte count, 12-byte entries, 4-byte values and link; BigTIFF: 8, 20, 8.
    let (count_size, entry_size, value_size) = if writer.big { (8, 20, 8) } else { (2, 12, 4) };
    let n = entries.len();
    let head = count_size + n * entry_size + value_size;
    let mut out = Vec::with_capacity(head);
    let mut extra: Vec<u8> = Vec::new();
    let put =
        |out: &mut Vec<u8>, v: u64, size: usize| out.extend_from_slice(&v.to_le_bytes()[..size]);
    put(&mut out, n as u64, count_size);
    for (tag, kind, values) in &entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        put(&mut out, values.len() as u64, value_size);
        let width = match *kind {
            SHORT => 2,
            LONG => 4,
            _ => 8,
        };
        let mut bytes = Vec::with_capacity(values.len() * width);
        for &v in values {
            put(&mut bytes, v, width);
        }
        if bytes.len() <= value_size {
            bytes.resize(value_size, 0);
            out.extend_from_slice(&bytes);
        } else {
            let offset = at + head as u64 + extra.len() as u64;
            if !writer.big && offset > u32::MAX as u64 {
                return Err(WriteError::TooLarge);
            }
            put(&mut out, offset, value_size);
            extra.extend_from_slice(&bytes);
            if extra.len() & 1 == 1 {
                extra.push(0);
            }
        }
    }
    let link = out.len();
    out.extend_from_slice(&vec![0; value_size]);
    out.extend_from_slice(&extra);
    Ok((out, link))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &std::path::Path) -> Box<dyn crate::source::ReadSeek> {
        Box::new(std::fs::File::open(path).unwrap())
    }

    fn tiff(path: &std::path::Path) -> tiled::Tiff<'static> {
        let path = path.to_owned();
        tiled::Tiff::opened_by(move || Ok(file(&path)))
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
        let got = tiled::read_window(tiff(&path), &levels[0], window, u64::MAX)
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
        let got = tiled::read_window(tiff(&path), &levels[0], window, u64::MAX).unwrap();
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
            tiled::read_window(tiff(&path), &levels[0], all, u64::MAX)
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
        let bytes = tiled::stored_jpeg(tiff(&path), &levels[0], one)
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
            let joined = tiled::stored_jpeg(tiff(&path), level, window)
                .unwrap()
                .unwrap();
            let joined = image::load_from_memory(&joined).unwrap().to_rgb8();
            let decoded = tiled::read_window(tiff(&path), level, window, u64::MAX)
                .unwrap()
                .to_rgb8();
            assert!(joined == decoded, "{window:?}: pixels differ");
        }
    }

    #[test]
    fn rows_pushed_in_bands_make_the_same_file_as_the_whole_image() {
        let image = DynamicImage::ImageRgb8(gradient(700, 530));
        let c = TileCompression::Jpeg { quality: 90 };
        let mut whole = Cursor::new(Vec::new());
        write_pyramid(&mut whole, image.clone(), 128, c).unwrap();
        let mut banded = Cursor::new(Vec::new());
        let mut w = PyramidWriter::new(&mut banded, (700, 530), ColorType::Rgb8, 128, c).unwrap();
        let mut y = 0;
        for h in [1, 37, 128, 200, 164] {
            w.push(&image.crop_imm(0, y, 700, h)).unwrap();
            y += h;
        }
        w.finish().unwrap();
        assert!(banded.into_inner() == whole.into_inner());
    }

    #[test]
    fn each_level_averages_two_by_two_pixels_of_the_one_above() {
        // Constant in 2×2 blocks (odd sizes: the last column and row pair with themselves), so
        // the second level is exactly the block values.
        let value = |x: u32, y: u32| Rgba([(x * 3) as u8, (y * 5) as u8, 9, 200]);
        let img = RgbaImage::from_fn(41, 33, |x, y| value(x / 2, y / 2));
        let (_d, path, written) =
            write(DynamicImage::ImageRgba8(img), 16, TileCompression::Deflate);
        let levels = tiled::probe(file(&path)).unwrap().unwrap().levels;
        let sizes: Vec<_> = levels.iter().map(|l| (l.width, l.height)).collect();
        assert_eq!(sizes, vec![(41, 33), (21, 17), (11, 9)]);
        assert_eq!(written.levels, 3);
        let all = Window {
            x: 0,
            y: 0,
            w: 21,
            h: 17,
        };
        let half = tiled::read_window(tiff(&path), &levels[1], all, u64::MAX)
            .unwrap()
            .to_rgba8();
        assert_eq!(half, RgbaImage::from_fn(21, 17, value));
    }

    #[test]
    fn bigtiff_pyramids_read_back_like_classic_ones() {
        let image = DynamicImage::ImageRgb8(gradient(600, 400));
        let c = TileCompression::Jpeg { quality: 90 };
        let (_d, classic, _) = write(image.clone(), 128, c);
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.tif");
        let mut out = Cursor::new(Vec::new());
        let mut w = PyramidWriter::with_format(&mut out, (600, 400), ColorType::Rgb8, 128, c, true)
            .unwrap();
        w.push(&image).unwrap();
        w.finish().unwrap();
        let bytes = out.into_inner();
        assert_eq!(&bytes[..4], &[b'I', b'I', 43, 0]);
        std::fs::write(&big, &bytes).unwrap();
        let a = tiled::probe(file(&classic)).unwrap().unwrap().levels;
        let b = tiled::probe(file(&big)).unwrap().unwrap().levels;
        assert_eq!((a.len(), b.len()), (4, 4));
        for (la, lb) in a.iter().zip(&b) {
            assert_eq!((la.width, la.height), (lb.width, lb.height));
            let all = Window {
                x: 0,
                y: 0,
                w: la.width,
                h: la.height,
            };
            let pa = tiled::read_window(tiff(&classic), la, all, u64::MAX).unwrap();
            let pb = tiled::read_window(tiff(&big), lb, all, u64::MAX).unwrap();
            assert!(pa == pb, "level {}x{} differs", la.width, la.height);
        }
        // A gigapixel's tiles would pass 4 GiB uncompressed: BigTIFF is chosen for it.
        let mut out = Cursor::new(Vec::new());
        let w = PyramidWriter::new(&mut out, (40_000, 40_000), ColorType::Rgb8, 256, c).unwrap();
        assert!(w.big);
    }

    #[test]
    fn missing_and_extra_rows_are_refused() {
        let image = DynamicImage::ImageRgb8(gradient(64, 40));
        let c = TileCompression::Deflate;
        let mut out = Cursor::new(Vec::new());
        let mut w = PyramidWriter::new(&mut out, (64, 40), ColorType::Rgb8, 16, c).unwrap();
        w.push(&image.crop_imm(0, 0, 64, 39)).unwrap();
        assert!(matches!(w.finish(), Err(WriteError::Rows(_))));
        let mut w = PyramidWriter::new(&mut out, (64, 40), ColorType::Rgb8, 16, c).unwrap();
        w.push(&image).unwrap();
        assert!(matches!(
            w.push(&image.crop_imm(0, 0, 64, 1)),
            Err(WriteError::Rows(_))
        ));
        let gray = DynamicImage::ImageLuma8(image.to_luma8());
        assert!(matches!(w.push(&gray), Err(WriteError::Rows(_))));
    }
}
