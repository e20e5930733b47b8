//! Animated GIF encoding, built for countdown timers.
//!
//! Countdown frames are rendered on request and differ from one another only
//! where digits change, so encoding speed and size both come from the same
//! trick: one global palette, the first frame written whole (clients such as
//! Outlook desktop show only that one), and every later frame written only as
//! the bounding rectangle of the pixels that changed, with unchanged pixels set
//! to the transparent index and disposal `Keep`. Decoding therefore reproduces
//! every input frame up to palette quantization.
//!
//! Alpha is binary in GIF: pixels with alpha < 128 are transparent, all others
//! are drawn with their straight (unpremultiplied) colour. `Keep` cannot turn
//! a drawn pixel transparent again, so when a frame needs that, the frame
//! before it is disposed to background (cleared) instead, and redrawn.

use std::borrow::Cow;

use color_quant::NeuQuant;
use gif::{DisposalMethod, Encoder, Repeat};

/// One frame: straight-alpha RGBA8, `width * height * 4` bytes; all frames the same size.
pub struct Frame<'a> {
    /// Pixels, row-major, 4 bytes per pixel.
    pub rgba: &'a [u8],
    /// How long it shows, in hundredths of a second.
    pub delay_cs: u16,
}

/// Why a GIF could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum AnimateError {
    /// The frame list was empty.
    #[error("no frames to encode")]
    NoFrames,
    /// A dimension was zero or a frame buffer was not `width * height * 4` bytes.
    #[error(
        "bad frame size: width and height must be non-zero and every frame width * height * 4 bytes"
    )]
    Size,
    /// The GIF encoder failed.
    #[error("GIF: {0}")]
    Gif(#[from] gif::EncodingError),
}

/// Alpha below this is transparent (GIF has one-bit transparency).
const ALPHA_CUTOFF: u8 = 128;
/// Colours in the palette; the 256th slot is kept for the transparent index.
const MAX_COLORS: usize = 255;
/// NeuQuant samples every 10th pixel: good quality at a fraction of the cost of 1.
const SAMPLE_FACTOR: i32 = 10;
/// log2 of the colour→index cache size: 16K entries (80 KiB) stays in L2.
const CACHE_BITS: u32 = 14;

/// Encodes frames as a looping (or not) GIF89a.
///
/// Palette: every colour of the animation when there are at most 255 (then
/// the output is lossless); else the first frame's colours when it has at most
/// 255; else NeuQuant (sample factor 10) trained on the first frame. Colours
/// missing from the palette map to the nearest entry. A frame identical to
/// the previous one is written as a 1×1 transparent frame, so frame count and
/// delays stay exactly as given (merging delays would change the frame count
/// callers may rely on and needs splitting past 655.35 s).
pub fn encode_gif(
    width: u16,
    height: u16,
    frames: &[Frame],
    looping: bool,
) -> Result<Vec<u8>, AnimateError> {
    if frames.is_empty() {
        return Err(AnimateError::NoFrames);
    }
    let expected = usize::from(width)
        .checked_mul(usize::from(height))
        .and_then(|n| n.checked_mul(4))
        .ok_or(AnimateError::Size)?;
    if expected == 0 || frames.iter().any(|f| f.rgba.len() != expected) {
        return Err(AnimateError::Size);
    }
    let (w, h) = (usize::from(width), usize::from(height));

    // Colours are gathered while diffing, so the palette can be exact
    // whenever the whole animation has at most 255 colours.
    let mut colours = ColourSet::new();
    for p in frames[0].rgba.chunks_exact(4) {
        colours.insert(key(p));
    }
    let first_frame_colours = (!colours.overflow).then_some(colours.list.len());
    let plan = plan_regions(frames, w, h, &mut colours);
    let mut mapper = Mapper::new(frames, &colours, first_frame_colours);
    let trns = mapper.transparent_index();

    let mut out = Vec::with_capacity(expected / 4);
    {
        let mut palette = mapper.palette.clone();
        palette.extend_from_slice(&[0, 0, 0]); // the transparent slot
        let mut enc = Encoder::new(&mut out, width, height, &palette)?;
        if looping {
            enc.set_repeat(Repeat::Infinite)?;
        }
        let mut indices = Vec::with_capacity(w * h);
        for (k, frame) in frames.iter().enumerate() {
            let region = plan[k];
            // Pixels the previous frame's disposal wiped; they must be redrawn.
            let cleared = k
                .checked_sub(1)
                .and_then(|p| plan.get(p))
                .filter(|p| p.dispose_background)
                .map(|p| p.rect);
            let prev = k.checked_sub(1).and_then(|p| frames.get(p));
            fill_indices(
                &mut indices,
                &mut mapper,
                frame.rgba,
                prev.map(|p| p.rgba),
                w,
                region.rect,
                cleared,
                trns,
            );
            let r = region.rect;
            let gif_frame = gif::Frame {
                delay: frame.delay_cs,
                dispose: if region.dispose_background {
                    DisposalMethod::Background
                } else {
                    DisposalMethod::Keep
                },
                transparent: Some(trns),
                left: r.x0,
                top: r.y0,
                width: r.x1.saturating_sub(r.x0),
                height: r.y1.saturating_sub(r.y0),
                buffer: Cow::Borrowed(&indices),
                ..gif::Frame::default()
            };
            enc.write_frame(&gif_frame)?;
        }
        enc.into_inner()?;
    }
    Ok(out)
}

/// Half-open pixel rectangle `[x0, x1) × [y0, y1)`; never empty once built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rect {
    x0: u16,
    y0: u16,
    x1: u16,
    y1: u16,
}

impl Rect {
    fn union(self, o: Rect) -> Rect {
        Rect {
            x0: self.x0.min(o.x0),
            y0: self.y0.min(o.y0),
            x1: self.x1.max(o.x1),
            y1: self.y1.max(o.y1),
        }
    }

    fn contains(self, x: usize, y: usize) -> bool {
        (usize::from(self.x0)..usize::from(self.x1)).contains(&x)
            && (usize::from(self.y0)..usize::from(self.y1)).contains(&y)
    }
}

/// Grows an optional rectangle to include pixel (x, y); x and y are < 65535
/// because they index a canvas of at most 65535 pixels per side.
fn include(r: Option<Rect>, x: usize, y: usize) -> Option<Rect> {
    let (x, y) = (u16::try_from(x).ok()?, u16::try_from(y).ok()?);
    let p = Rect {
        x0: x,
        y0: y,
        x1: x.saturating_add(1),
        y1: y.saturating_add(1),
    };
    Some(r.map_or(p, |r| r.union(p)))
}

/// What to write for one frame.
#[derive(Clone, Copy, Debug)]
struct Region {
    rect: Rect,
    /// Dispose to background (clear to transparent) after this frame, because
    /// the next frame turns visible pixels transparent, which `Keep` cannot do.
    dispose_background: bool,
}

/// Decides each frame's rectangle and disposal before anything is written.
///
/// Normally frame k's rectangle is the bounding box of pixels that differ from
/// frame k-1. If frame k turns opaque pixels transparent, frame k-1's
/// rectangle is grown to cover them and disposed to background, and frame k's
/// rectangle is grown to cover all of that cleared area so it is redrawn.
fn plan_regions(frames: &[Frame], w: usize, h: usize, colours: &mut ColourSet) -> Vec<Region> {
    let full = Rect {
        x0: 0,
        y0: 0,
        x1: u16::try_from(w).unwrap_or(u16::MAX),
        y1: u16::try_from(h).unwrap_or(u16::MAX),
    };
    let mut plan = Vec::with_capacity(frames.len());
    plan.push(Region {
        rect: full,
        dispose_background: false,
    });
    for pair in frames.windows(2) {
        let (changed, vanished) = diff(pair[0].rgba, pair[1].rgba, w, h, colours);
        let mut rect = changed;
        if let (Some(v), Some(last)) = (vanished, plan.last_mut()) {
            last.rect = last.rect.union(v);
            last.dispose_background = true;
            rect = Some(rect.map_or(last.rect, |r| r.union(last.rect)));
        }
        // No change at all: a 1×1 frame of the transparent index keeps timing.
        let rect = rect.unwrap_or(Rect {
            x0: 0,
            y0: 0,
            x1: 1,
            y1: 1,
        });
        plan.push(Region {
            rect,
            dispose_background: false,
        });
    }
    plan
}

/// Normalized pixel: 0 for transparent, `0xFF_RRGGBB` for opaque, so that two
/// transparent pixels compare equal whatever colour they carry.
#[inline]
fn key(p: &[u8]) -> u32 {
    match p {
        [r, g, b, a] if *a >= ALPHA_CUTOFF => {
            0xFF00_0000 | u32::from(*r) << 16 | u32::from(*g) << 8 | u32::from(*b)
        }
        _ => 0,
    }
}

/// Bounding box of changed pixels, and of pixels that went opaque → transparent;
/// the new colours of changed pixels go into `colours`.
fn diff(
    prev: &[u8],
    cur: &[u8],
    w: usize,
    h: usize,
    colours: &mut ColourSet,
) -> (Option<Rect>, Option<Rect>) {
    let (mut changed, mut vanished) = (None, None);
    let stride = w * 4;
    for (y, (pr, cr)) in prev
        .chunks_exact(stride)
        .zip(cur.chunks_exact(stride))
        .take(h)
        .enumerate()
    {
        // memcmp first: most rows of a countdown are untouched.
        if pr == cr {
            continue;
        }
        for (x, (pp, cp)) in pr.chunks_exact(4).zip(cr.chunks_exact(4)).enumerate() {
            let (a, b) = (key(pp), key(cp));
            if a != b {
                changed = include(changed, x, y);
                if b == 0 {
                    vanished = include(vanished, x, y);
                } else {
                    colours.insert(b);
                }
            }
        }
    }
    (changed, vanished)
}

/// Writes the palette indices of `rect` of `cur` into `out`.
#[allow(clippy::too_many_arguments)] // private helper; a struct would only rename them
fn fill_indices(
    out: &mut Vec<u8>,
    mapper: &mut Mapper,
    cur: &[u8],
    prev: Option<&[u8]>,
    w: usize,
    rect: Rect,
    cleared: Option<Rect>,
    trns: u8,
) {
    out.clear();
    let (x0, x1) = (usize::from(rect.x0), usize::from(rect.x1));
    // Run cache: flat areas repeat the same colour, skip the lookup.
    let (mut last_key, mut last_idx) = (0u32, trns);
    for y in usize::from(rect.y0)..usize::from(rect.y1) {
        let row = y * w * 4;
        let cur_row = cur.get(row + x0 * 4..row + x1 * 4).unwrap_or(&[]);
        let prev_row = prev.and_then(|p| p.get(row + x0 * 4..row + x1 * 4));
        for (i, cp) in cur_row.chunks_exact(4).enumerate() {
            let c = key(cp);
            let idx = if c == 0 {
                trns
            } else if prev_row
                .and_then(|p| p.get(i * 4..i * 4 + 4))
                .is_some_and(|pp| key(pp) == c)
                && !cleared.is_some_and(|r| r.contains(x0 + i, y))
            {
                // Unchanged and still on screen: let the previous frame show.
                trns
            } else if c == last_key {
                last_idx
            } else {
                last_key = c;
                last_idx = mapper.index(c);
                last_idx
            };
            out.push(idx);
        }
    }
}

/// Colour → palette index, with a direct-mapped cache in front of the search.
struct Mapper {
    /// RGB triples, at most `MAX_COLORS` of them, at least one.
    palette: Vec<u8>,
    /// Set when the first frame had too many colours for an exact palette.
    quant: Option<NeuQuant>,
    cache_keys: Vec<u32>,
    cache_vals: Vec<u8>,
}

impl Mapper {
    /// Exact palette when the animation has at most `MAX_COLORS` colours;
    /// else the first frame's exact colours if it has few enough (it is the
    /// frame some clients show alone, so it stays lossless); else NeuQuant
    /// trained on the first frame.
    fn new(frames: &[Frame], colours: &ColourSet, first_frame_colours: Option<usize>) -> Mapper {
        let exact = if colours.overflow {
            first_frame_colours
                .filter(|&n| n > 0)
                .and_then(|n| colours.list.get(..n))
        } else {
            Some(&colours.list[..])
        };
        let (mut palette, quant) = match exact {
            Some(list) => (list.iter().flat_map(|c| rgb(*c)).collect(), None),
            None => {
                // First frame, or the first one with any opaque pixel so that
                // a fully transparent opening frame does not leave us colourless.
                let source = frames
                    .iter()
                    .find(|f| f.rgba.chunks_exact(4).any(|p| p[3] >= ALPHA_CUTOFF))
                    .map_or(&[][..], |f| f.rgba);
                // Train on opaque pixels only; transparent ones would waste entries.
                let opaque: Vec<u8> = source
                    .chunks_exact(4)
                    .filter(|p| p[3] >= ALPHA_CUTOFF)
                    .flat_map(|p| [p[0], p[1], p[2], 255])
                    .collect();
                let nq = NeuQuant::new(SAMPLE_FACTOR, MAX_COLORS, &opaque);
                (nq.color_map_rgb(), Some(nq))
            }
        };
        palette.truncate(MAX_COLORS * 3);
        if palette.len() < 3 {
            palette = vec![0, 0, 0]; // no opaque pixel anywhere: any colour will do
        }
        Mapper {
            palette,
            quant,
            // Key 0 is "transparent", never looked up, so it marks empty slots.
            cache_keys: vec![0; 1 << CACHE_BITS],
            cache_vals: vec![0; 1 << CACHE_BITS],
        }
    }

    /// The slot right after the colours.
    fn transparent_index(&self) -> u8 {
        u8::try_from(self.palette.len() / 3).unwrap_or(u8::MAX)
    }

    /// Index for an opaque key (`0xFF_RRGGBB`).
    #[inline]
    fn index(&mut self, c: u32) -> u8 {
        let slot = (c.wrapping_mul(0x9E37_79B1) >> (32 - CACHE_BITS)) as usize;
        if let (Some(&k), Some(&v)) = (self.cache_keys.get(slot), self.cache_vals.get(slot))
            && k == c
        {
            return v;
        }
        let idx = self.search(c);
        if let (Some(k), Some(v)) = (self.cache_keys.get_mut(slot), self.cache_vals.get_mut(slot)) {
            *k = c;
            *v = idx;
        }
        idx
    }

    fn search(&self, c: u32) -> u8 {
        let [r, g, b] = rgb(c);
        let colours = self.palette.len() / 3;
        if let Some(nq) = &self.quant {
            let i = nq.index_of(&[r, g, b, 255]);
            if i < colours {
                return u8::try_from(i).unwrap_or(0);
            }
        }
        // Exact palettes are small and misses rare (cache): a linear scan is fine.
        let mut best = (u32::MAX, 0u8);
        for (i, p) in self.palette.chunks_exact(3).enumerate() {
            let d = |a: u8, b: u8| u32::from(a.abs_diff(b)).pow(2);
            let dist = d(p[0], r) + d(p[1], g) + d(p[2], b);
            if dist < best.0 {
                best = (dist, u8::try_from(i).unwrap_or(0));
                if dist == 0 {
                    break;
                }
            }
        }
        best.1
    }
}

fn rgb(c: u32) -> [u8; 3] {
    let [_, r, g, b] = c.to_be_bytes();
    [r, g, b]
}

/// Distinct opaque colours in first-seen order, up to `MAX_COLORS`; past that
/// it only records `overflow`. Open addressing in a fixed 512-slot table
/// (load ≤ 50 %) is cheaper than a `HashMap` for this small, capped set.
struct ColourSet {
    slots: Vec<u32>,
    list: Vec<u32>,
    last: u32,
    overflow: bool,
}

impl ColourSet {
    const SLOTS: usize = 512;

    fn new() -> ColourSet {
        ColourSet {
            slots: vec![0; Self::SLOTS],
            list: Vec::with_capacity(MAX_COLORS),
            last: 0,
            overflow: false,
        }
    }

    /// Adds a key from [`key`]; transparent (0) is ignored.
    #[inline]
    fn insert(&mut self, c: u32) {
        // Runs of one colour are the common case: skip the probe.
        if c == 0 || c == self.last || self.overflow {
            return;
        }
        self.last = c;
        let mut i = (c.wrapping_mul(0x9E37_79B1) >> 23) as usize; // 9 bits: 0..512
        // At most MAX_COLORS + 1 slots are ever filled, so an empty one exists.
        for _ in 0..Self::SLOTS {
            match self.slots.get_mut(i) {
                Some(s) if *s == c => return,
                Some(s) if *s == 0 => {
                    *s = c;
                    self.list.push(c);
                    if self.list.len() > MAX_COLORS {
                        self.overflow = true;
                    }
                    return;
                }
                _ => i = (i + 1) % Self::SLOTS,
            }
        }
        self.overflow = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const BG: [u8; 4] = [18, 24, 42, 255];
    const FG: [u8; 4] = [250, 250, 245, 255];
    const ACCENT: [u8; 4] = [255, 120, 30, 255];

    struct Decoded {
        frames: Vec<Vec<u8>>,
        delays: Vec<u16>,
        rects: Vec<(u16, u16, u16, u16)>,
        repeat: Repeat,
    }

    /// Decodes and composites like a browser: Keep leaves the canvas, Background
    /// clears the frame's rectangle to transparent, transparent pixels skip.
    fn decode(bytes: &[u8]) -> Decoded {
        let mut opts = gif::DecodeOptions::new();
        opts.set_color_output(gif::ColorOutput::RGBA);
        let mut dec = opts.read_info(Cursor::new(bytes)).unwrap();
        let (w, h) = (usize::from(dec.width()), usize::from(dec.height()));
        let mut canvas = vec![0u8; w * h * 4];
        let mut out = Decoded {
            frames: vec![],
            delays: vec![],
            rects: vec![],
            repeat: Repeat::Finite(0),
        };
        let mut pending_clear: Option<(usize, usize, usize, usize)> = None;
        while let Some(f) = dec.read_next_frame().unwrap() {
            if let Some((l, t, fw, fh)) = pending_clear.take() {
                for y in t..t + fh {
                    canvas[(y * w + l) * 4..(y * w + l + fw) * 4].fill(0);
                }
            }
            let (l, t) = (usize::from(f.left), usize::from(f.top));
            let (fw, fh) = (usize::from(f.width), usize::from(f.height));
            for y in 0..fh {
                for x in 0..fw {
                    let s = &f.buffer[(y * fw + x) * 4..][..4];
                    if s[3] != 0 {
                        let d = ((t + y) * w + l + x) * 4;
                        canvas[d..d + 4].copy_from_slice(s);
                    }
                }
            }
            match f.dispose {
                DisposalMethod::Background => pending_clear = Some((l, t, fw, fh)),
                DisposalMethod::Keep | DisposalMethod::Any => {}
                DisposalMethod::Previous => panic!("encoder never uses Previous"),
            }
            out.frames.push(canvas.clone());
            out.delays.push(f.delay);
            out.rects.push((f.left, f.top, f.width, f.height));
        }
        out.repeat = dec.repeat();
        out
    }

    /// Mean absolute difference per channel (R, G, B, A), with input pixels
    /// normalized the way GIF shows them (alpha < 128 → fully transparent).
    fn mean_diff(expected: &[u8], got: &[u8]) -> [f64; 4] {
        let mut sum = [0u64; 4];
        for (e, g) in expected.chunks_exact(4).zip(got.chunks_exact(4)) {
            let e = if e[3] < 128 {
                [0, 0, 0, 0]
            } else {
                [e[0], e[1], e[2], 255]
            };
            for c in 0..4 {
                sum[c] += u64::from(e[c].abs_diff(g[c]));
            }
        }
        let n = (expected.len() / 4) as f64;
        sum.map(|s| s as f64 / n)
    }

    fn blend(a: [u8; 4], b: [u8; 4], t: f32) -> [u8; 4] {
        let m = |x: u8, y: u8| (f32::from(x) + (f32::from(y) - f32::from(x)) * t).round() as u8;
        [m(a[0], b[0]), m(a[1], b[1]), m(a[2], b[2]), 255]
    }

    /// Coverage (0..1) of a seven-segment digit in a `cw × ch` cell, with a
    /// one-pixel anti-aliased edge like rasterized text.
    fn glyph(d: usize, cw: usize, ch: usize) -> Vec<f32> {
        // Segments a..g as bit masks per digit.
        const SEGS: [u8; 10] = [0x3F, 0x06, 0x5B, 0x4F, 0x66, 0x6D, 0x7D, 0x07, 0x7F, 0x6F];
        let (cw_f, ch_f) = (cw as f32, ch as f32);
        let t = cw_f * 0.137; // stroke
        let (l, r) = (cw_f * 0.053, cw_f * 0.753);
        let (top, mid, bot) = (ch_f * 0.1, ch_f * 0.5, ch_f * 0.9);
        // (x0, y0, x1, y1) per segment a, b, c, d, e, f, g
        let rects = [
            (l, top - t / 2.0, r, top + t / 2.0),
            (r - t / 2.0, top, r + t / 2.0, mid),
            (r - t / 2.0, mid, r + t / 2.0, bot),
            (l, bot - t / 2.0, r, bot + t / 2.0),
            (l - t / 2.0, mid, l + t / 2.0, bot),
            (l - t / 2.0, top, l + t / 2.0, mid),
            (l, mid - t / 2.0, r, mid + t / 2.0),
        ];
        let mut cov = vec![0f32; cw * ch];
        for (s, &(x0, y0, x1, y1)) in rects.iter().enumerate() {
            if SEGS[d] & (1 << s) == 0 {
                continue;
            }
            for y in 0..ch {
                for x in 0..cw {
                    // Italic shear: slanted edges give a full range of coverage.
                    let py = y as f32 + 0.5;
                    let px = x as f32 + 0.5 + (py - ch_f) * 0.12;
                    // Signed distance to a rounded rectangle, smoothed over 1 px.
                    let dx = (x0 - px).max(px - x1).max(0.0);
                    let dy = (y0 - py).max(py - y1).max(0.0);
                    let dist = (dx * dx + dy * dy).sqrt();
                    let c = (1.0 - dist).clamp(0.0, 1.0);
                    let v = &mut cov[y * cw + x];
                    *v = v.max(c);
                }
            }
        }
        cov
    }

    /// A countdown "MM:SS" from `start` seconds, anti-aliased white digits and
    /// an orange colon on navy (with `gradient`, a vertical background ramp:
    /// then well over 255 colours); frames differ only in digits.
    fn countdown(w: usize, h: usize, start: usize, n: usize, gradient: bool) -> Vec<Vec<u8>> {
        let (cw, ch) = (w / 6, h * 7 / 10);
        let glyphs: Vec<Vec<f32>> = (0..10).map(|d| glyph(d, cw, ch)).collect();
        let oy = (h - ch) / 2;
        let cells = [0, cw, 3 * cw, 4 * cw]; // x of M M : S S (colon in cell 2)
        (0..n)
            .map(|i| {
                let secs = start.saturating_sub(i);
                let digits = [secs / 600 % 10, secs / 60 % 10, secs % 60 / 10, secs % 10];
                let bg = |y: usize| {
                    if gradient {
                        let t = (y * 64 / h) as u8; // 64 levels over the height
                        [BG[0] + t, BG[1] + t / 2, BG[2] + t, 255]
                    } else {
                        BG
                    }
                };
                let mut img: Vec<u8> = (0..h).flat_map(|y| bg(y).repeat(w)).collect();
                for (cell, &d) in cells.iter().zip(&digits) {
                    let ox = cw / 2 + cell;
                    for y in 0..ch {
                        for x in 0..cw {
                            let c = glyphs[d][y * cw + x];
                            if c > 0.0 {
                                let p = ((oy + y) * w + ox + x) * 4;
                                img[p..p + 4].copy_from_slice(&blend(bg(oy + y), FG, c));
                            }
                        }
                    }
                }
                // Colon: two soft dots in the accent colour.
                let cx = cw / 2 + 2 * cw + cw / 2;
                for cy in [h * 2 / 5, h * 3 / 5] {
                    for y in cy - 8..cy + 8 {
                        for x in cx - 8..cx + 8 {
                            let d = ((x as f32 + 0.5 - cx as f32).powi(2)
                                + (y as f32 + 0.5 - cy as f32).powi(2))
                            .sqrt();
                            let c = (7.0 - d).clamp(0.0, 1.0);
                            if c > 0.0 {
                                let p = (y * w + x) * 4;
                                img[p..p + 4].copy_from_slice(&blend(bg(y), ACCENT, c));
                            }
                        }
                    }
                }
                img
            })
            .collect()
    }

    fn as_frames(imgs: &[Vec<u8>], delay: u16) -> Vec<Frame<'_>> {
        imgs.iter()
            .map(|i| Frame {
                rgba: i,
                delay_cs: delay,
            })
            .collect()
    }

    fn distinct_colours(rgba: &[u8]) -> usize {
        let mut s: Vec<u32> = rgba.chunks_exact(4).map(key).collect();
        s.sort_unstable();
        s.dedup();
        s.len()
    }

    /// Panics with the first differing pixel instead of dumping whole buffers.
    fn assert_same(exp: &[u8], got: &[u8], what: &str) {
        assert_eq!(exp.len(), got.len(), "{what}: length");
        if let Some(i) = exp
            .chunks_exact(4)
            .zip(got.chunks_exact(4))
            .position(|(e, g)| e != g)
        {
            let (e, g) = (&exp[i * 4..i * 4 + 4], &got[i * 4..i * 4 + 4]);
            panic!("{what}: pixel {i} expected {e:?}, got {g:?}");
        }
    }

    fn check_countdown(gradient: bool) -> Vec<[f64; 4]> {
        let (w, h) = (600, 200);
        let imgs = countdown(w, h, 125, 12, gradient); // crosses 2:00
        let gif = encode_gif(600, 200, &as_frames(&imgs, 100), true).unwrap();
        assert!(gif.starts_with(b"GIF89a"));
        assert!(gif.windows(11).any(|x| x == b"NETSCAPE2.0"));
        let d = decode(&gif);
        assert_eq!(d.frames.len(), 12);
        assert_eq!(d.delays, vec![100; 12]);
        assert_eq!(d.repeat, Repeat::Infinite);
        assert_eq!(d.rects[0], (0, 0, 600, 200), "first frame is complete");
        // Only the seconds digit changes from 2:05 to 2:04: a small rectangle.
        let (_, _, rw, rh) = d.rects[1];
        assert!(
            rw <= 100 && rh <= 140,
            "delta frame too big: {:?}",
            d.rects[1]
        );
        imgs.iter()
            .zip(&d.frames)
            .map(|(exp, got)| mean_diff(exp, got))
            .collect()
    }

    #[test]
    fn countdown_with_many_colours_round_trips_within_tolerance() {
        let first = countdown(600, 200, 125, 1, true);
        assert!(
            distinct_colours(&first[0]) > MAX_COLORS,
            "should need NeuQuant"
        );
        for (i, m) in check_countdown(true).iter().enumerate() {
            // Tolerance: mean ≤ 1 per channel (measured ≈ 0.2) for anti-aliased
            // digits on a ramp; the brief allowed 4, tighter catches regressions.
            assert!(m.iter().all(|&c| c <= 1.0), "frame {i}: mean diff {m:?}");
        }
    }

    #[test]
    fn countdown_with_few_colours_is_lossless() {
        let imgs = countdown(600, 200, 125, 12, false);
        let all: Vec<u8> = imgs.concat();
        assert!(
            distinct_colours(&all) <= MAX_COLORS,
            "should fit an exact palette"
        );
        for (i, m) in check_countdown(false).iter().enumerate() {
            assert_eq!(m, &[0.0; 4], "frame {i}");
        }
    }

    #[test]
    fn flat_colours_round_trip_exactly() {
        let (w, h) = (64usize, 40usize);
        let colours = [
            [200, 0, 0, 255],
            [0, 150, 0, 255],
            [0, 0, 255, 255],
            [255, 255, 0, 255],
        ];
        let imgs: Vec<Vec<u8>> = (0..6)
            .map(|i| {
                let mut img = [10u8, 10, 10, 255].repeat(w * h);
                // A moving block and a block that changes colour.
                for y in 5..15 {
                    for x in i * 5..i * 5 + 12 {
                        img[(y * w + x) * 4..][..4].copy_from_slice(&colours[0]);
                    }
                }
                for y in 25..35 {
                    for x in 40..60 {
                        img[(y * w + x) * 4..][..4].copy_from_slice(&colours[1 + i % 3]);
                    }
                }
                img
            })
            .collect();
        let frames: Vec<Frame> = imgs
            .iter()
            .enumerate()
            .map(|(i, img)| Frame {
                rgba: img,
                delay_cs: 10 + i as u16,
            })
            .collect();
        let d = decode(&encode_gif(w as u16, h as u16, &frames, false).unwrap());
        assert_eq!(d.frames.len(), 6);
        assert_eq!(d.delays, vec![10, 11, 12, 13, 14, 15]);
        for (i, (exp, got)) in imgs.iter().zip(&d.frames).enumerate() {
            assert_same(exp, got, &format!("frame {i}"));
        }
    }

    #[test]
    fn single_frame_without_loop() {
        let img = [1u8, 2, 3, 255].repeat(3 * 2);
        let gif = encode_gif(
            3,
            2,
            &[Frame {
                rgba: &img,
                delay_cs: 0,
            }],
            false,
        )
        .unwrap();
        assert!(!gif.windows(11).any(|x| x == b"NETSCAPE2.0"));
        let d = decode(&gif);
        assert_eq!(d.frames.len(), 1);
        assert_same(&img, &d.frames[0], "frame");
        assert_eq!(d.repeat, Repeat::Finite(0));
    }

    #[test]
    fn errors() {
        assert!(matches!(
            encode_gif(2, 2, &[], true),
            Err(AnimateError::NoFrames)
        ));
        let short = [0u8; 15];
        let f = [Frame {
            rgba: &short,
            delay_cs: 1,
        }];
        assert!(matches!(
            encode_gif(2, 2, &f, true),
            Err(AnimateError::Size)
        ));
        let ok = [0u8; 16];
        let mixed = [
            Frame {
                rgba: &ok,
                delay_cs: 1,
            },
            Frame {
                rgba: &short,
                delay_cs: 1,
            },
        ];
        assert!(matches!(
            encode_gif(2, 2, &mixed, true),
            Err(AnimateError::Size)
        ));
        let empty = [Frame {
            rgba: &[],
            delay_cs: 1,
        }];
        assert!(matches!(
            encode_gif(0, 5, &empty, true),
            Err(AnimateError::Size)
        ));
        assert!(matches!(
            encode_gif(5, 0, &empty, true),
            Err(AnimateError::Size)
        ));
    }

    #[test]
    fn unchanged_frame_keeps_count_and_timing() {
        let imgs = countdown(120, 40, 3, 3, true);
        let frames = [
            Frame {
                rgba: &imgs[0],
                delay_cs: 100,
            },
            Frame {
                rgba: &imgs[0],
                delay_cs: 50,
            },
            Frame {
                rgba: &imgs[1],
                delay_cs: 25,
            },
        ];
        let d = decode(&encode_gif(120, 40, &frames, true).unwrap());
        assert_eq!(d.delays, vec![100, 50, 25]);
        assert_eq!(d.rects[1], (0, 0, 1, 1));
        assert_same(&d.frames[0], &d.frames[1], "repeated frame");
        for (exp, got) in [&imgs[0], &imgs[0], &imgs[1]].iter().zip(&d.frames) {
            assert!(mean_diff(exp, got).iter().all(|&c| c <= 4.0));
        }
    }

    #[test]
    fn transparency_appears_and_disappears() {
        let (w, h) = (16usize, 8usize);
        let red = [255u8, 0, 0, 255];
        let clear = [9u8, 9, 9, 0];
        let half = [0u8, 0, 255, 127]; // just below the cut-off: transparent
        let mut a = red.repeat(w * h);
        a[..4].copy_from_slice(&clear); // transparent from the start
        let mut b = a.clone();
        for x in 4..8 {
            b[(3 * w + x) * 4..][..4].copy_from_slice(&half); // opaque → transparent
        }
        let mut c = b.clone();
        c[(3 * w + 5) * 4..][..4].copy_from_slice(&[0, 255, 0, 200]); // back to opaque
        let imgs = [a, b, c];
        let gif = encode_gif(w as u16, h as u16, &as_frames(&imgs, 5), true).unwrap();
        let d = decode(&gif);
        for (i, (exp, got)) in imgs.iter().zip(&d.frames).enumerate() {
            assert_eq!(mean_diff(exp, got), [0.0; 4], "frame {i}");
        }
        assert_eq!(&d.frames[0][..4], &[0, 0, 0, 0]);
    }

    #[test]
    fn transparent_first_frame_still_gets_colours() {
        let a = [0u8; 4 * 4];
        let b = [0u8, 128, 255, 255].repeat(4);
        let d = decode(&encode_gif(2, 2, &as_frames(&[a.to_vec(), b.clone()], 5), true).unwrap());
        assert_same(&a, &d.frames[0], "frame 0");
        assert_same(&b, &d.frames[1], "frame 1");
    }

    #[test]
    fn many_colours_do_not_break() {
        // Pseudo-random noise: worst case for the palette, must still encode.
        let (w, h) = (50usize, 30usize);
        let mut s = 0x1234_5678u32;
        let mut noise = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s
        };
        let imgs: Vec<Vec<u8>> = (0..3)
            .map(|_| (0..w * h).flat_map(|_| noise().to_le_bytes()).collect())
            .collect();
        let d = decode(&encode_gif(w as u16, h as u16, &as_frames(&imgs, 3), false).unwrap());
        assert_eq!(d.frames.len(), 3);
        // Alpha is random too, so about half the pixels are transparent.
        for (exp, got) in imgs.iter().zip(&d.frames) {
            let m = mean_diff(exp, got);
            assert_eq!(m[3], 0.0);
            assert!(m.iter().all(|&c| c <= 40.0), "{m:?}");
        }
    }

    #[test]
    fn one_pixel() {
        let img = [7u8, 8, 9, 255];
        let d =
            decode(&encode_gif(1, 1, &as_frames(&[img.to_vec(), img.to_vec()], 1), true).unwrap());
        assert_eq!(d.frames, vec![img.to_vec(), img.to_vec()]);
    }

    /// `cargo test --release -- --ignored --nocapture bench_countdown`
    #[test]
    #[ignore = "timing; run in release"]
    fn bench_countdown() {
        for gradient in [false, true] {
            let imgs = countdown(600, 200, 3600, 60, gradient);
            let frames = as_frames(&imgs, 100);
            let mut best = std::time::Duration::MAX;
            let mut size = 0;
            for _ in 0..10 {
                let t = std::time::Instant::now();
                size = encode_gif(600, 200, &frames, true).unwrap().len();
                best = best.min(t.elapsed());
            }
            println!(
                "60 frames 600x200, gradient {gradient}: best of 10 {best:?}, {size} bytes, \
                 {} colours in frame 1, {} in all",
                distinct_colours(&imgs[0]),
                distinct_colours(&imgs.concat())
            );
        }
    }
}
