//! JPEG in the DCT domain — pure code over bytes: joining stored JPEG tiles into one JPEG of a
//! window without decoding pixels, as `jpegtran` crops losslessly. Each tile's scan is read
//! for where every MCU's codes lie; the joined scan is those codes copied bit for bit, MCU row
//! by MCU row, with only the DC difference that opens each copied run written anew (its
//! predecessor changed). No IDCT, no colour conversion, no quantization, no Huffman
//! re-coding of AC coefficients: the pixels are exactly those of the stored tiles.
//!
//! Joinable: baseline or extended sequential Huffman JPEG, 8 bits, one scan with every
//! component in frame order, the same components, sampling, quantization and Huffman tables in
//! every tile, tiles whose frame is the whole tile size, and a window that starts on an MCU
//! boundary. Anything else is [`JoinError::Unsupported`] and the caller decodes instead.
//!
//! The same reading cuts one JPEG of any size into bands of MCU rows ([`Bands`]), so the
//! pyramid builder decodes a gigapixel source a band at a time. Pixels become JPEG through
//! one encoder ([`encode()`]), for responses and pyramid tiles alike.

mod bands;
mod encode;
mod entropy;
mod markers;

pub use bands::{Band, Bands};
pub use encode::{EncodeError, Samples, Settings, encode};

use entropy::{BitReader, BitWriter, HuffmanTable};
use markers::{Component, Header, QuantTable};

/// Why tiles could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("the tiles cannot be joined without decoding: {0}")]
    Unsupported(String),
    #[error("a stored tile is not a valid JPEG: {0}")]
    Corrupt(String),
}

/// A pixel rectangle in the tiles' level, and the tile size the level is cut in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub tile_width: u32,
    pub tile_height: u32,
}

/// Where one component's part of an MCU lies, and the DC values that start and end it.
#[derive(Debug, Clone, Copy, Default)]
struct Part {
    /// Bit offsets of its first block's DC code and of what follows that block's DC bits.
    dc_start: u64,
    after_dc: u64,
    first_dc: i32,
    last_dc: i32,
}

/// Where one MCU's codes lie in its tile's destuffed scan.
#[derive(Debug, Clone, Copy, Default)]
struct Mcu {
    end: u64,
    /// Starts a restart interval: its DC differences are from zero.
    restart: bool,
    parts: [Part; 4],
}

/// One tile's scan, destuffed, and its MCUs row by row.
struct Scan {
    data: Vec<u8>,
    mcus: Vec<Mcu>,
}

/// The layout all tiles share, from the first one read.
struct Layout {
    components: Vec<Component>,
    quant: Vec<QuantTable>,
    /// Per component: (DC table selector, AC table selector, DC table, AC table).
    tables: Vec<(u8, u8, HuffmanTable, HuffmanTable)>,
    colour_segments: Vec<Vec<u8>>,
    /// MCU size in pixels, and blocks per MCU of each component.
    mcu: (u32, u32),
    blocks: Vec<u32>,
}

impl Layout {
    fn of(header: &Header) -> Result<Layout, JoinError> {
        let quant = header
            .component_quant()
            .into_iter()
            .map(|q| {
                q.cloned()
                    .ok_or_else(|| corrupt("missing quantization table"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tables = header
            .scan_tables
            .iter()
            .map(|&(d, a)| {
                match (
                    header.dc[d as usize].as_ref(),
                    header.ac[a as usize].as_ref(),
                ) {
                    (Some(dc), Some(ac)) => Ok((d, a, dc.clone(), ac.clone())),
                    _ => Err(corrupt("scan names a missing Huffman table")),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        // A single-component scan is not interleaved: one block is one MCU.
        let single = header.components.len() == 1;
        let (hmax, vmax) = if single {
            (1, 1)
        } else {
            let (h, v) = header.max_sampling();
            (h as u32, v as u32)
        };
        let blocks = header
            .components
            .iter()
            .map(|c| if single { 1 } else { c.h as u32 * c.v as u32 })
            .collect();
        Ok(Layout {
            components: header.components.clone(),
            quant,
            tables,
            colour_segments: header.colour_segments.clone(),
            mcu: (8 * hmax, 8 * vmax),
            blocks,
        })
    }

    fn matches(&self, header: &Header) -> bool {
        header.components == self.components
            && header
                .component_quant()
                .into_iter()
                .zip(&self.quant)
                .all(|(a, b)| a == Some(b))
            && header
                .scan_tables
                .iter()
                .zip(&self.tables)
                .all(|(&(d, a), (_, _, dc, ac))| {
                    header.dc[d as usize].as_ref() == Some(dc)
                        && header.ac[a as usize].as_ref() == Some(ac)
                })
    }
}

fn corrupt(what: &str) -> JoinError {
    JoinError::Corrupt(what.to_string())
}

fn unsupported(what: &str) -> JoinError {
    JoinError::Unsupported(what.to_string())
}

/// Reads where the MCUs of a tile's first `rows` MCU rows lie.
fn index(stream: &[u8], header: &Header, layout: &Layout, rows: u32) -> Result<Scan, JoinError> {
    let (mw, mh) = layout.mcu;
    let count = (header.width as u32).div_ceil(mw) * (header.height as u32).div_ceil(mh).min(rows);
    let destuffed = entropy::destuff(&stream[header.data..]);
    let mut reader = BitReader::new(&destuffed.data);
    let bits = reader.end;
    // Where restart interval `k`'s bits end: the next interval's start, or the data's end.
    let end_of = |k: usize| destuffed.segments.get(k + 1).copied().unwrap_or(bits);
    let mut interval = 0;
    reader.end = end_of(interval);
    let restart = header.restart as u32;
    let mut mcus = Vec::with_capacity(count as usize);
    let mut predictors = [0i32; 4];
    for m in 0..count {
        let starts_interval = restart > 0 && m > 0 && m % restart == 0;
        if starts_interval {
            interval += 1;
            reader.pos = *destuffed
                .segments
                .get(interval)
                .ok_or_else(|| corrupt("restart marker missing"))?;
            reader.end = end_of(interval);
            predictors = [0; 4];
        }
        let mut mcu = Mcu {
            restart: starts_interval,
            ..Mcu::default()
        };
        for (c, (&n, (_, _, dc, ac))) in layout.blocks.iter().zip(&layout.tables).enumerate() {
            let part = &mut mcu.parts[c];
            part.dc_start = reader.pos;
            for b in 0..n {
                let after = reader.dc(dc, &mut predictors[c])?;
                if b == 0 {
                    part.after_dc = after;
                    part.first_dc = predictors[c];
                }
                reader.skip_ac(ac)?;
            }
            part.last_dc = predictors[c];
        }
        mcu.end = reader.pos;
        mcus.push(mcu);
    }
    Ok(Scan {
        data: destuffed.data,
        mcus,
    })
}

/// Writes the headers of the joined stream: the first tile's colour segments, its
/// quantization and Huffman tables, a frame of the window's size and a scan of every component.
fn write_headers(out: &mut Vec<u8>, layout: &Layout, w: u32, h: u32) {
    out.extend_from_slice(&[0xFF, 0xD8]);
    for s in &layout.colour_segments {
        out.extend_from_slice(s);
    }
    let mut written = [false; 4];
    let mut sixteen = false;
    for (c, q) in layout.components.iter().zip(&layout.quant) {
        sixteen |= q.sixteen_bit;
        if std::mem::replace(&mut written[c.tq as usize], true) {
            continue;
        }
        let mut body = vec![(q.sixteen_bit as u8) << 4 | c.tq];
        for &v in &q.values {
            if q.sixteen_bit {
                body.extend_from_slice(&v.to_be_bytes());
            } else {
                body.push(v as u8);
            }
        }
        segment(out, 0xDB, &body);
    }
    let mut frame = vec![8];
    frame.extend_from_slice(&(h as u16).to_be_bytes());
    frame.extend_from_slice(&(w as u16).to_be_bytes());
    frame.push(layout.components.len() as u8);
    for c in &layout.components {
        frame.extend_from_slice(&[c.id, c.h << 4 | c.v, c.tq]);
    }
    // Baseline allows 8-bit quantization tables only.
    segment(out, if sixteen { 0xC1 } else { 0xC0 }, &frame);
    let (mut dc_done, mut ac_done) = ([false; 4], [false; 4]);
    let mut dht = Vec::new();
    for (d, a, dc, ac) in &layout.tables {
        if !std::mem::replace(&mut dc_done[*d as usize], true) {
            dht.extend(dc.dht(*d));
        }
        if !std::mem::replace(&mut ac_done[*a as usize], true) {
            dht.extend(ac.dht(0x10 | a));
        }
    }
    segment(out, 0xC4, &dht);
    let mut scan = vec![layout.components.len() as u8];
    for (c, (d, a, _, _)) in layout.components.iter().zip(&layout.tables) {
        scan.extend_from_slice(&[c.id, d << 4 | a]);
    }
    scan.extend_from_slice(&[0, 63, 0]);
    segment(out, 0xDA, &scan);
}

fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// Copies MCUs `from..to` of `scan` (consecutive, within one restart interval), writing anew
/// the DC difference that opens each component's part of the first one.
fn copy_run(
    out: &mut BitWriter,
    layout: &Layout,
    scan: &Scan,
    (from, to): (usize, usize),
    predictors: &mut [i32; 4],
) -> Result<(), JoinError> {
    let first = &scan.mcus[from];
    let n = layout.components.len();
    for (c, part) in first.parts.iter().enumerate().take(n) {
        out.dc(&layout.tables[c].2, part.first_dc - predictors[c])?;
        let end = if c + 1 < n {
            first.parts[c + 1].dc_start
        } else {
            first.end
        };
        out.copy(&scan.data, part.after_dc, end);
    }
    if to > from + 1 {
        let start = scan.mcus[from + 1].parts[0].dc_start;
        out.copy(&scan.data, start, scan.mcus[to - 1].end);
    }
    for (c, p) in predictors.iter_mut().enumerate().take(n) {
        *p = scan.mcus[to - 1].parts[c].last_dc;
    }
    Ok(())
}

/// Joins the stored tiles that cover `grid`'s window into one JPEG of exactly the window.
/// `tile(col, row)` returns the complete JPEG stream of a stored tile; it is called once per
/// tile the window touches, a row of tiles at a time, so memory holds one row of tiles.
/// `Err(E)` from `tile` is passed on; a layout that cannot be joined is `Ok(Err(..))`.
pub fn join<E>(
    grid: Grid,
    mut tile: impl FnMut(u32, u32) -> Result<Vec<u8>, E>,
) -> Result<Result<Vec<u8>, JoinError>, E> {
    let Grid {
        x,
        y,
        w,
        h,
        tile_width: tw,
        tile_height: th,
    } = grid;
    if w == 0 || h == 0 || w > u16::MAX as u32 || h > u16::MAX as u32 || tw == 0 || th == 0 {
        return Ok(Err(unsupported("window size")));
    }
    let (col0, row0) = (x / tw, y / th);
    let (col1, row1) = ((x + w - 1) / tw, (y + h - 1) / th);
    let mut layout: Option<Layout> = None;
    let mut writer: Option<BitWriter> = None;
    let mut predictors = [0i32; 4];
    for row in row0..=row1 {
        let mut scans = Vec::with_capacity((col1 - col0 + 1) as usize);
        for col in col0..=col1 {
            let stream = tile(col, row)?;
            let result = (|| {
                let header = markers::parse(&stream)?;
                let l = match &layout {
                    Some(l) => l,
                    None => layout.insert(Layout::of(&header)?),
                };
                if !l.matches(&header) {
                    return Err(unsupported("tiles differ in components or tables"));
                }
                if (header.width as u32, header.height as u32) != (tw, th) {
                    return Err(unsupported("a tile's frame is not the tile size"));
                }
                let (mw, mh) = l.mcu;
                if !(x.is_multiple_of(mw)
                    && y.is_multiple_of(mh)
                    && tw.is_multiple_of(mw)
                    && th.is_multiple_of(mh))
                {
                    return Err(unsupported("the window does not start on an MCU"));
                }
                // Rows below the window are not read.
                let rows = ((y + h).min((row + 1) * th) - row * th).div_ceil(mh);
                index(&stream, &header, l, rows)
            })();
            match result {
                Ok(scan) => scans.push(scan),
                Err(e) => return Ok(Err(e)),
            }
        }
        let Some(l) = &layout else {
            return Ok(Err(corrupt("no tiles")));
        };
        let (mw, mh) = l.mcu;
        let out = writer.get_or_insert_with(|| {
            let mut out = Vec::with_capacity(scans.iter().map(|s| s.data.len()).sum());
            write_headers(&mut out, l, w, h);
            BitWriter::new(out)
        });
        // The output MCU rows whose pixels lie in this row of tiles, each a run of MCUs per
        // tile it crosses, cut where a tile's restart interval starts.
        let tile_top = row * th;
        let (mcus_across, tile_mcus_across) = (w.div_ceil(mw), tw / mw);
        // Both are multiples of the MCU height.
        let mut py = tile_top.max(y);
        while py < tile_top + th && py < y + h {
            let mut mx = 0;
            while mx < mcus_across {
                let px = x + mx * mw;
                let scan = &scans[(px / tw - col0) as usize];
                let in_tile = (tile_mcus_across - (px % tw) / mw).min(mcus_across - mx);
                let first = (((py - tile_top) / mh) * tile_mcus_across + (px % tw) / mw) as usize;
                let mut from = first;
                for m in first + 1..=first + in_tile as usize {
                    if m == first + in_tile as usize || scan.mcus[m].restart {
                        if let Err(e) = copy_run(out, l, scan, (from, m), &mut predictors) {
                            return Ok(Err(e));
                        }
                        from = m;
                    }
                }
                mx += in_tile;
            }
            py += mh;
        }
    }
    let Some(writer) = writer else {
        return Ok(Err(corrupt("no tiles")));
    };
    let mut out = writer.finish();
    out.extend_from_slice(&[0xFF, 0xD9]);
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    use zune_jpeg::JpegDecoder;

    /// A picture with detail everywhere: gradients and a diagonal pattern.
    pub(super) fn picture(w: u32, h: u32, channels: usize) -> Vec<u8> {
        let mut p = Vec::with_capacity((w * h) as usize * channels);
        for y in 0..h {
            for x in 0..w {
                let v = [
                    (x * 255 / w) as u8,
                    (y * 255 / h) as u8,
                    (((x + y) * 7) % 256) as u8,
                ];
                p.extend_from_slice(&v[..channels]);
            }
        }
        p
    }

    pub(super) fn encode(
        pixels: &[u8],
        (w, h): (u32, u32),
        channels: usize,
        sampling: jpeg_encoder::SamplingFactor,
        restart: u16,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = jpeg_encoder::Encoder::new(&mut out, 80);
        e.set_sampling_factor(sampling);
        if restart > 0 {
            e.set_restart_interval(restart);
        }
        let kind = if channels == 1 {
            jpeg_encoder::ColorType::Luma
        } else {
            jpeg_encoder::ColorType::Rgb
        };
        e.encode(pixels, w as u16, h as u16, kind).unwrap();
        out
    }

    /// Mean absolute difference of two equally long sample buffers.
    pub(super) fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
        let sum: u64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (x as i32 - y as i32).unsigned_abs() as u64)
            .sum();
        sum as f64 / a.len() as f64
    }

    pub(super) fn decode_pixels(stream: &[u8], channels: usize) -> (Vec<u8>, usize, usize) {
        let colour = if channels == 1 {
            ColorSpace::Luma
        } else {
            ColorSpace::RGB
        };
        let options = DecoderOptions::default().jpeg_set_out_colorspace(colour);
        let mut d = JpegDecoder::new_with_options(ZCursor::new(stream), options);
        let pixels = d.decode().unwrap();
        let info = d.info().unwrap();
        (pixels, info.width as usize, info.height as usize)
    }

    /// Cuts a `w`×`h` picture into `t`-sized tiles (edge tiles padded by repeating the last
    /// pixels, as pyramid writers do), encodes each, and joins `window` back.
    fn tiles_and_window(
        (w, h): (u32, u32),
        t: u32,
        channels: usize,
        sampling: jpeg_encoder::SamplingFactor,
        restart: u16,
        window: (u32, u32, u32, u32),
    ) -> (Vec<u8>, Vec<u8>) {
        let src = picture(w, h, channels);
        let tile = |col: u32, row: u32| -> Result<Vec<u8>, ()> {
            let mut p = Vec::new();
            for y in 0..t {
                for x in 0..t {
                    let sx = (col * t + x).min(w - 1);
                    let sy = (row * t + y).min(h - 1);
                    let i = (sy * w + sx) as usize * channels;
                    p.extend_from_slice(&src[i..i + channels]);
                }
            }
            Ok(encode(&p, (t, t), channels, sampling, restart))
        };
        let (x, y, ww, wh) = window;
        let joined = join(
            Grid {
                x,
                y,
                w: ww,
                h: wh,
                tile_width: t,
                tile_height: t,
            },
            tile,
        )
        .unwrap()
        .unwrap();
        // What decoding each stored tile and copying its part gives.
        let mut expected = vec![0u8; (ww * wh) as usize * channels];
        for row in y / t..=(y + wh - 1) / t {
            for col in x / t..=(x + ww - 1) / t {
                let (p, tw, _) = decode_pixels(&tile(col, row).unwrap(), channels);
                for yy in (row * t).max(y)..((row + 1) * t).min(y + wh) {
                    for xx in (col * t).max(x)..((col + 1) * t).min(x + ww) {
                        let from =
                            (((yy - row * t) as usize) * tw + (xx - col * t) as usize) * channels;
                        let to = (((yy - y) * ww + (xx - x)) as usize) * channels;
                        expected[to..to + channels].copy_from_slice(&p[from..from + channels]);
                    }
                }
            }
        }
        (joined, expected)
    }

    #[test]
    fn four_tiles_join_into_one_with_the_stored_pixels() {
        for restart in [0, 3] {
            let (joined, expected) = tiles_and_window(
                (600, 500),
                128,
                3,
                jpeg_encoder::SamplingFactor::F_1_1,
                restart,
                (128, 128, 256, 256),
            );
            let (pixels, w, h) = decode_pixels(&joined, 3);
            assert_eq!((w, h), (256, 256));
            assert!(pixels == expected, "restart {restart}: pixels differ");
        }
    }

    #[test]
    fn edge_windows_and_block_aligned_starts_are_cropped_exactly() {
        // The right and bottom edge of a 600×500 level: partial tiles, odd sizes.
        for (window, channels) in [
            ((512, 384, 88, 116), 3),
            ((256, 256, 344, 244), 1),
            ((8, 16, 250, 131), 3),
        ] {
            let (joined, expected) = tiles_and_window(
                (600, 500),
                128,
                channels,
                jpeg_encoder::SamplingFactor::F_1_1,
                0,
                window,
            );
            let (pixels, w, h) = decode_pixels(&joined, channels);
            assert_eq!((w as u32, h as u32), (window.2, window.3));
            assert!(pixels == expected, "{window:?}: pixels differ");
        }
    }

    #[test]
    fn subsampled_tiles_join_with_the_same_coefficients() {
        let (joined, expected) = tiles_and_window(
            (512, 512),
            128,
            3,
            jpeg_encoder::SamplingFactor::F_2_2,
            0,
            (0, 0, 256, 256),
        );
        let (pixels, _, _) = decode_pixels(&joined, 3);
        // Chroma is interpolated across the seams instead of repeated at each tile's edge: a
        // small difference along seams only.
        let mad = mean_abs_diff(&pixels, &expected);
        assert!(mad < 0.5, "mean absolute difference {mad}");
    }

    #[test]
    fn windows_off_the_mcu_grid_and_progressive_tiles_are_left_to_the_decoder() {
        let t = encode(
            &picture(64, 64, 3),
            (64, 64),
            3,
            jpeg_encoder::SamplingFactor::F_2_2,
            0,
        );
        let grid = |x| Grid {
            x,
            y: 0,
            w: 32,
            h: 32,
            tile_width: 64,
            tile_height: 64,
        };
        let r = join(grid(8), |_, _| Ok::<_, ()>(t.clone())).unwrap();
        assert!(matches!(r, Err(JoinError::Unsupported(_))));
        let mut progressive = Vec::new();
        let mut e = jpeg_encoder::Encoder::new(&mut progressive, 80);
        e.set_progressive(true);
        e.encode(&picture(64, 64, 3), 64, 64, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let r = join(grid(0), |_, _| Ok::<_, ()>(progressive.clone())).unwrap();
        assert!(matches!(r, Err(JoinError::Unsupported(_))));
        let r = join(grid(0), |_, _| Ok::<_, ()>(t[..t.len() / 2].to_vec())).unwrap();
        assert!(matches!(r, Err(JoinError::Corrupt(_))));
    }
}
