//! Tiled and pyramidal TIFF: the level list read from the image file directories, and reading a
//! rectangle of one level by decoding only the tiles it touches.
//!
//! JPEG tiles are decoded here with zune-jpeg (the shared `JPEGTables` joined in front), so
//! YCbCr data comes out as RGB and a stored tile can also be handed out as a JPEG file as is.
//! Deflate, LZW, PackBits and uncompressed tiles go through the `tiff` crate, which applies
//! predictors. Planar layouts, palettes, CMYK and floating point are not read as tiles: such
//! files report no levels and take the whole-image decoder.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::sync::Arc;

use image::DynamicImage;
use serde::{Deserialize, Serialize};
use tiff::ColorType;
use tiff::decoder::{ChunkType, Decoder, DecodingResult, Limits};
use tiff::tags::{PlanarConfiguration, Tag};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::memory::{LevelKey, TileMemory, Weighed};
use super::{ReadSeek, Samples, SourceError, StoredSource, image_of};
use crate::jpeg;

/// A TIFF being read, from whichever store holds it.
type File = Box<dyn ReadSeek>;

/// One stored resolution of a tiled TIFF, largest first in a pyramid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// Index of the image file directory that holds this level (in the main chain).
    pub ifd: u32,
    /// For a level stored as a SubIFD of the first directory (`vips --subifd`): the file
    /// offset of its directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subifd: Option<u64>,
    pub width: u32,
    pub height: u32,
    pub tile_width: u32,
    pub tile_height: u32,
}

/// A pixel rectangle in one level's own coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

fn unreadable(e: impl Into<crate::error::Cause>) -> SourceError {
    SourceError::unreadable(e)
}

/// A TIFF whose tiles are read: opened when needed, its level directories and decoded tiles
/// kept in the source's tile memory when it has one.
pub struct Tiff<'a> {
    open: Box<dyn Fn() -> Result<File, SourceError> + 'a>,
    kept: Option<(&'a TileMemory, StoredSource<'a>)>,
}

impl<'a> Tiff<'a> {
    /// A catalogued source (or pyramid) from its store.
    pub fn stored(source: StoredSource<'a>) -> Tiff<'a> {
        Tiff {
            open: Box::new(move || source.open()),
            kept: source.tiles.map(|m| (m, source)),
        }
    }

    /// A TIFF read by `open`, nothing kept.
    pub fn opened_by(open: impl Fn() -> Result<File, SourceError> + 'a) -> Tiff<'a> {
        Tiff {
            open: Box::new(open),
            kept: None,
        }
    }

    fn open(&self) -> Result<File, SourceError> {
        (self.open)()
    }

    /// What `level`'s directory says about its tiles.
    fn directory(&self, level: &Level) -> Result<Arc<Directory>, SourceError> {
        let read = || Directory::read(&mut open_level(self.open()?, level)?);
        match &self.kept {
            Some((memory, source)) => memory.directory(&LevelKey::new(source, level), read),
            None => read().map(Arc::new),
        }
    }

    /// Tile `index` of `level`, decoded by `decode` unless it is kept.
    fn tile(
        &self,
        level: &Level,
        index: u32,
        decode: impl FnOnce() -> Result<Tile, SourceError>,
    ) -> Result<Arc<Tile>, SourceError> {
        match &self.kept {
            Some((memory, source)) => memory.tile(&LevelKey::new(source, level), index, decode),
            None => decode().map(Arc::new),
        }
    }
}

/// What `slot` holds, made by `make` the first time.
fn filled<T>(
    slot: &mut Option<T>,
    make: impl FnOnce() -> Result<T, SourceError>,
) -> Result<&mut T, SourceError> {
    let value = match slot.take() {
        Some(v) => v,
        None => make()?,
    };
    Ok(slot.insert(value))
}

/// What a level's directory says about reading its tiles; kept in the tile memory, when the
/// source has one, for as long as the file is unchanged and the directory is in use.
struct Directory {
    /// `None` when the level is not (or no longer) tiled in a way Tessera reads.
    layout: Option<Layout>,
    /// Where JPEG tiles are and their shared tables: such tiles are read without the `tiff`
    /// crate's decoder.
    jpeg: Option<JpegTiles>,
}

impl Directory {
    fn read(d: &mut Decoder<BufReader<File>>) -> Result<Directory, SourceError> {
        let layout = layout(d);
        let jpeg = match layout {
            Some(l) if l.jpeg => Some(JpegTiles::new(d)?),
            _ => None,
        };
        Ok(Directory { layout, jpeg })
    }
}

impl Weighed for Directory {
    fn bytes(&self) -> usize {
        self.jpeg.as_ref().map_or(0, |j| {
            (j.offsets.len() + j.counts.len()) * 8 + j.tables.as_ref().map_or(0, Vec::len)
        })
    }
}

/// Tag arrays (tile offsets of a 100k×100k level run to megabytes) may be larger than the
/// `tiff` crate's 1 MiB default; the tiles themselves are bounded by the tile size.
fn open<R: Read + Seek>(reader: R) -> Result<Decoder<R>, SourceError> {
    let mut limits = Limits::default();
    limits.ifd_value_size = 256 << 20;
    Ok(Decoder::new(reader)
        .map_err(unreadable)?
        .with_limits(limits))
}

/// A decoder whose current directory is `level`'s.
fn open_level(file: File, level: &Level) -> Result<Decoder<BufReader<File>>, SourceError> {
    match level.subifd {
        Some(at) => {
            let file: File = Box::new(FirstIfdAt::new(file, at).map_err(unreadable)?);
            open(BufReader::new(file))
        }
        None => {
            let mut d = open(BufReader::new(file))?;
            d.seek_to_image(level.ifd as usize).map_err(unreadable)?;
            Ok(d)
        }
    }
}

/// A TIFF file as it would be if its first directory were the one at `ifd`: the header's
/// first-directory offset reads as `ifd`, every other byte as stored. The `tiff` crate walks
/// only the main chain of directories; this opens a SubIFD as a decoder's first image.
struct FirstIfdAt<R> {
    inner: R,
    header: [u8; 16],
    header_len: u64,
    pos: u64,
}

impl<R: Read + Seek> FirstIfdAt<R> {
    fn new(mut inner: R, ifd: u64) -> std::io::Result<FirstIfdAt<R>> {
        let mut header = [0u8; 16];
        inner.seek(SeekFrom::Start(0))?;
        inner.read_exact(&mut header[..8])?;
        let little = header[..2] == *b"II";
        let big = header[2..4] == if little { [43, 0] } else { [0, 43] };
        let header_len = if big {
            inner.read_exact(&mut header[8..16])?;
            header[8..16].copy_from_slice(&if little {
                ifd.to_le_bytes()
            } else {
                ifd.to_be_bytes()
            });
            16
        } else {
            let ifd = u32::try_from(ifd).map_err(std::io::Error::other)?;
            header[4..8].copy_from_slice(&if little {
                ifd.to_le_bytes()
            } else {
                ifd.to_be_bytes()
            });
            8
        };
        inner.seek(SeekFrom::Start(0))?;
        Ok(FirstIfdAt {
            inner,
            header,
            header_len,
            pos: 0,
        })
    }
}

impl<R: Read + Seek> Read for FirstIfdAt<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos < self.header_len {
            let from = &self.header[self.pos as usize..self.header_len as usize];
            let n = from.len().min(buf.len());
            buf[..n].copy_from_slice(&from[..n]);
            self.pos += n as u64;
            self.inner.seek(SeekFrom::Start(self.pos))?;
            return Ok(n);
        }
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for FirstIfdAt<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

/// How the current directory's tiles are stored, when Tessera can read them as tiles.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Layout {
    color: ColorType,
    jpeg: bool,
}

fn layout<R: Read + Seek>(d: &mut Decoder<R>) -> Option<Layout> {
    if d.get_chunk_type() != ChunkType::Tile {
        return None;
    }
    let planar = d
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .ok()
        .flatten()
        .unwrap_or(1);
    if planar != PlanarConfiguration::Chunky as u16 {
        return None;
    }
    let compression = d
        .find_tag_unsigned::<u16>(Tag::Compression)
        .ok()
        .flatten()
        .unwrap_or(1);
    // 7: JPEG as of TIFF Technical Note 2 (`ModernJPEG`).
    let jpeg = compression == 7;
    let color = d.colortype().ok()?;
    let supported = match color {
        ColorType::Gray(b) | ColorType::GrayA(b) | ColorType::RGB(b) | ColorType::RGBA(b) => {
            b == 8 || (b == 16 && !jpeg)
        }
        ColorType::YCbCr(8) => jpeg,
        _ => false,
    };
    supported.then_some(Layout { color, jpeg })
}

/// Whether two directories' pixels can be mixed as levels of one pyramid.
fn same_pixels(a: ColorType, b: ColorType) -> bool {
    let canon = |c| match c {
        ColorType::YCbCr(8) => ColorType::RGB(8),
        c => c,
    };
    canon(a) == canon(b)
}

/// What the header of a TIFF that is read as tiles says.
#[derive(Debug, Clone, PartialEq)]
pub struct Tiled {
    /// Largest first; never empty.
    pub levels: Vec<Level>,
    /// The pixel layout, named as `image` names it (`Rgb8`, `La16`, …).
    pub pixel_format: String,
}

/// Reads a TIFF's levels: the first directory, then every later tiled directory with the
/// same pixel layout and a smaller size, largest first. `None` when the first directory is
/// not tiled (a strip TIFF), its tiles are of a kind not read as tiles, or it is stored
/// rotated (tiles are read as stored): the whole-image decoder takes those.
pub fn probe(file: File) -> Result<Option<Tiled>, SourceError> {
    let mut d = open(BufReader::new(file))?;
    let Some(first) = layout(&mut d) else {
        return Ok(None);
    };
    let orientation = d.find_tag_unsigned::<u16>(Tag::Orientation).ok().flatten();
    if orientation.is_some_and(|o| o != 1) {
        return Ok(None);
    }
    let pixel_format = match first.color {
        ColorType::Gray(8) => "L8",
        ColorType::GrayA(8) => "La8",
        ColorType::RGBA(8) => "Rgba8",
        ColorType::Gray(16) => "L16",
        ColorType::GrayA(16) => "La16",
        ColorType::RGB(16) => "Rgb16",
        ColorType::RGBA(16) => "Rgba16",
        _ => "Rgb8",
    }
    .to_string();
    let subifds = d
        .find_tag(Tag::SubIfd)
        .ok()
        .flatten()
        .and_then(|v| v.into_ifd_vec().ok())
        .unwrap_or_default();
    let mut out: Vec<Level> = Vec::new();
    let mut ifd = 0u32;
    loop {
        if let Some(level) = level_of(&mut d, first.color, ifd, None)
            && out.last().is_none_or(|p| level.width < p.width)
        {
            out.push(level);
        }
        // A broken later directory costs its levels, not the image.
        if !d.more_images() || d.next_image().is_err() {
            break;
        }
        ifd += 1;
    }
    // Levels stored as SubIFDs of the first directory (`vips --subifd`).
    for at in subifds {
        let Ok(reader) = FirstIfdAt::new(d.inner(), at.0) else {
            continue;
        };
        if let Ok(mut sub) = open(reader)
            && let Some(level) = level_of(&mut sub, first.color, 0, Some(at.0))
        {
            out.push(level);
        }
    }
    // Largest first; a size stored twice is read from the first directory that has it.
    out.sort_by_key(|l| std::cmp::Reverse(l.width));
    out.dedup_by_key(|l| l.width);
    Ok(Some(Tiled {
        levels: out,
        pixel_format,
    }))
}

/// The current directory as a level, when it is tiled in a way Tessera reads, with the
/// pixels of `color` and a size.
fn level_of<R: Read + Seek>(
    d: &mut Decoder<R>,
    color: ColorType,
    ifd: u32,
    subifd: Option<u64>,
) -> Option<Level> {
    let l = layout(d)?;
    if !same_pixels(l.color, color) {
        return None;
    }
    let (width, height) = d.dimensions().ok()?;
    let (tile_width, tile_height) = d.chunk_dimensions();
    (width > 0 && height > 0 && tile_width > 0 && tile_height > 0).then_some(Level {
        ifd,
        subifd,
        width,
        height,
        tile_width,
        tile_height,
    })
}

/// The index of tile `(col, row)` of a level (row-major), or `None` past what TIFF's 32-bit
/// tile indices count: a level can be wider than the pixel limit allows the first one.
pub fn tile_index(level: &Level, col: u32, row: u32) -> Option<u32> {
    let across = level.width.div_ceil(level.tile_width.max(1));
    row.checked_mul(across)?.checked_add(col)
}

/// The stored pixels of one tile, `width` pixels a row.
struct Tile {
    pixels: Samples,
    width: u32,
}

impl Weighed for Tile {
    fn bytes(&self) -> usize {
        match &self.pixels {
            Samples::U8(p) => p.len(),
            Samples::U16(p) => p.len() * 2,
        }
    }
}

/// Reads `window` of `level` from `tiff`, decoding only the tiles it touches (or taking them
/// from the tile memory).
pub fn read_window(
    tiff: Tiff,
    level: &Level,
    window: Window,
    max_bytes: u64,
) -> Result<DynamicImage, SourceError> {
    if window.w == 0
        || window.h == 0
        || window.x.saturating_add(window.w) > level.width
        || window.y.saturating_add(window.h) > level.height
    {
        return Err(unreadable(format!(
            "window {window:?} is outside the {}x{} level",
            level.width, level.height
        )));
    }
    let directory = tiff.directory(level)?;
    let layout = directory
        .layout
        .ok_or_else(|| unreadable("level is no longer tiled"))?;
    let channels = match layout.color {
        ColorType::Gray(_) => 1,
        ColorType::GrayA(_) => 2,
        ColorType::RGBA(_) => 4,
        _ => 3,
    };
    let sixteen = matches!(
        layout.color,
        ColorType::Gray(16) | ColorType::GrayA(16) | ColorType::RGB(16) | ColorType::RGBA(16)
    );
    let samples = window.w as usize * window.h as usize * channels;
    let bytes = samples as u64 * if sixteen { 2 } else { 1 };
    if bytes > max_bytes {
        return Err(unreadable(format!(
            "reading {bytes} bytes is over the decode limit of {max_bytes}"
        )));
    }
    // Opened at the first tile not in memory: JPEG tiles are read from the file as they are,
    // others through the `tiff` crate's decoder.
    let mut file = None;
    let mut decoder = None;
    let (tw, th) = (level.tile_width, level.tile_height);
    let mut out = if sixteen {
        Samples::U16(vec![0; samples])
    } else {
        Samples::U8(vec![0; samples])
    };
    for row in window.y / th..=(window.y + window.h - 1) / th {
        for col in window.x / tw..=(window.x + window.w - 1) / tw {
            let index = tile_index(level, col, row)
                .ok_or_else(|| unreadable(format!("tile ({col}, {row}) has no index")))?;
            let tile = tiff.tile(level, index, || match &directory.jpeg {
                Some(j) => {
                    let file = filled(&mut file, || tiff.open())?;
                    j.decode(file, index, channels, (tw, th))
                }
                None => {
                    let d = filled(&mut decoder, || open_level(tiff.open()?, level))?;
                    decode_tile(d, index)
                }
            })?;
            // The part of this tile inside the window, in tile and in window coordinates.
            let (x0, y0) = (col * tw, row * th);
            let sx = window.x.max(x0);
            let sy = window.y.max(y0);
            let ex = (window.x + window.w).min(x0 + tw);
            let ey = (window.y + window.h).min(y0 + th);
            let n = (ex - sx) as usize * channels;
            for y in sy..ey {
                let from =
                    ((y - y0) as usize * tile.width as usize + (sx - x0) as usize) * channels;
                let to = ((y - window.y) as usize * window.w as usize + (sx - window.x) as usize)
                    * channels;
                match (&mut out, &tile.pixels) {
                    (Samples::U8(o), Samples::U8(t)) => {
                        o[to..to + n].copy_from_slice(slice(t, from, n)?)
                    }
                    (Samples::U16(o), Samples::U16(t)) => {
                        o[to..to + n].copy_from_slice(slice(t, from, n)?)
                    }
                    _ => return Err(unreadable("tile has another sample type than its level")),
                }
            }
        }
    }
    let color = match (channels, sixteen) {
        (1, false) => image::ColorType::L8,
        (2, false) => image::ColorType::La8,
        (3, false) => image::ColorType::Rgb8,
        (_, false) => image::ColorType::Rgba8,
        (1, true) => image::ColorType::L16,
        (2, true) => image::ColorType::La16,
        (3, true) => image::ColorType::Rgb16,
        (_, true) => image::ColorType::Rgba16,
    };
    image_of(color, (window.w, window.h), out)
        .ok_or_else(|| unreadable("tile data does not fill the window"))
}

/// `n` samples from `from`, or an error when a tile decoded shorter than its header said.
fn slice<T>(t: &[T], from: usize, n: usize) -> Result<&[T], SourceError> {
    t.get(from..from + n)
        .ok_or_else(|| unreadable("tile decoded to fewer pixels than its size"))
}

/// A non-JPEG tile through the `tiff` crate: rows as wide as the tile's data (edge tiles are
/// cropped to the image).
fn decode_tile(d: &mut Decoder<BufReader<File>>, index: u32) -> Result<Tile, SourceError> {
    let (width, _) = d.chunk_data_dimensions(index);
    let pixels = match d.read_chunk(index).map_err(unreadable)? {
        DecodingResult::U8(p) => Samples::U8(p),
        DecodingResult::U16(p) => Samples::U16(p),
        _ => return Err(unreadable("unsupported sample type")),
    };
    Ok(Tile { pixels, width })
}

/// What decoding the JPEG tiles of one directory needs: where they are and the shared tables.
struct JpegTiles {
    offsets: Vec<u64>,
    counts: Vec<u64>,
    /// `JPEGTables`: SOI, DQT/DHT segments, EOI.
    tables: Option<Vec<u8>>,
    ycbcr: bool,
}

impl JpegTiles {
    fn new(d: &mut Decoder<BufReader<File>>) -> Result<JpegTiles, SourceError> {
        let offsets = d.get_tag_u64_vec(Tag::TileOffsets).map_err(unreadable)?;
        let counts = d.get_tag_u64_vec(Tag::TileByteCounts).map_err(unreadable)?;
        let tables = d.find_tag(Tag::JPEGTables).map_err(unreadable)?;
        let tables = match tables {
            Some(v) => Some(v.into_u8_vec().map_err(unreadable)?),
            None => None,
        };
        let ycbcr = matches!(d.colortype(), Ok(ColorType::YCbCr(_)));
        Ok(JpegTiles {
            offsets,
            counts,
            tables,
            ycbcr,
        })
    }

    /// Tile `index` as one self-contained JPEG stream: the tables joined in front of the
    /// tile's own segments, and a JFIF header when the data is YCbCr so that any decoder
    /// reads the colours right.
    fn stream(&self, file: &mut File, index: u32) -> Result<Vec<u8>, SourceError> {
        let i = index as usize;
        let (Some(&offset), Some(&count)) = (self.offsets.get(i), self.counts.get(i)) else {
            return Err(unreadable(format!("no tile {index}")));
        };
        if !(4..=64 << 20).contains(&count) {
            return Err(unreadable(format!("tile {index} has {count} bytes")));
        }
        let mut tile = vec![0; count as usize];
        file.seek(SeekFrom::Start(offset)).map_err(unreadable)?;
        file.read_exact(&mut tile).map_err(unreadable)?;
        if tile[..2] != [0xFF, 0xD8] {
            return Err(unreadable(format!("tile {index} is not a JPEG stream")));
        }
        let mut out = Vec::with_capacity(tile.len() + 1024);
        out.extend_from_slice(&[0xFF, 0xD8]);
        if self.ycbcr && tile[2..4] != [0xFF, 0xE0] {
            out.extend_from_slice(&JFIF_APP0);
        }
        if let Some(t) = &self.tables
            && t.len() >= 4
        {
            out.extend_from_slice(&t[2..t.len() - 2]);
        }
        out.extend_from_slice(&tile[2..]);
        Ok(out)
    }

    fn decode(
        &self,
        file: &mut File,
        index: u32,
        channels: usize,
        (tile_width, tile_height): (u32, u32),
    ) -> Result<Tile, SourceError> {
        let stream = self.stream(file, index)?;
        // zune-jpeg: SIMD throughout; thumbnails from a pyramid went from 344 to 1431 req/s
        // when it replaced jpeg-decoder here (tiles need no DCT scaling, which it lacks). The colours it should produce are set, not
        // guessed, from the directory's channel count.
        let out = if channels == 1 {
            ColorSpace::Luma
        } else {
            ColorSpace::RGB
        };
        // A tile's JPEG is the tile's size; a header claiming more is refused before any
        // allocation.
        let options = DecoderOptions::default()
            .jpeg_set_out_colorspace(out)
            .set_max_width(tile_width as usize)
            .set_max_height(tile_height as usize);
        let mut decoder = JpegDecoder::new_with_options(ZCursor::new(stream.as_slice()), options);
        decoder.decode_headers().map_err(unreadable)?;
        let info = decoder.info().ok_or_else(|| unreadable("no JPEG frame"))?;
        let components = decoder.input_colorspace().map_or(0, |c| c.num_components());
        if components != channels {
            return Err(unreadable(format!(
                "JPEG tile {index} has {components} channels, its directory says {channels}"
            )));
        }
        let pixels = decoder.decode().map_err(unreadable)?;
        Ok(Tile {
            pixels: Samples::U8(pixels),
            width: info.width as u32,
        })
    }
}

/// A JFIF 1.01 APP0 segment with no thumbnail, 1:1 aspect.
const JFIF_APP0: [u8; 18] = [
    0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01,
    0x00, 0x00,
];

/// Whether `window` is exactly one whole stored tile of `level`.
pub fn is_one_tile(level: &Level, window: Window) -> bool {
    let (tw, th) = (level.tile_width, level.tile_height);
    window.x.is_multiple_of(tw) && window.y.is_multiple_of(th) && (window.w, window.h) == (tw, th)
}

/// `window` of `level` as one JPEG file made of the stored JPEG tiles without decoding them:
/// a window that is exactly one stored tile is its bytes; any other window starting on an MCU
/// boundary is joined in the DCT domain ([`crate::jpeg::join`]). `None` when the level's
/// tiles are not JPEG or cannot be joined: the caller decodes.
pub fn stored_jpeg(
    tiff: Tiff,
    level: &Level,
    window: Window,
) -> Result<Option<Vec<u8>>, SourceError> {
    let directory = tiff.directory(level)?;
    let Some(tiles) = &directory.jpeg else {
        return Ok(None);
    };
    let (tw, th) = (level.tile_width, level.tile_height);
    let mut file = tiff.open()?;
    let mut stream = |col: u32, row: u32| {
        let index = tile_index(level, col, row)
            .ok_or_else(|| unreadable(format!("tile ({col}, {row}) has no index")))?;
        tiles.stream(&mut file, index)
    };
    if is_one_tile(level, window) {
        return stream(window.x / tw, window.y / th).map(Some);
    }
    let grid = jpeg::Grid {
        x: window.x,
        y: window.y,
        w: window.w,
        h: window.h,
        tile_width: tw,
        tile_height: th,
    };
    Ok(match jpeg::join(grid, stream)? {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::debug!(error = %e, "stored tiles decoded instead of joined");
            None
        }
    })
}
