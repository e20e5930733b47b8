//! Text that always fits its box: shaped with cosmic-text (HarfBuzz-compatible shaping, so
//! kerning, ligatures, Arabic joining, right-to-left order and combining marks come out as the
//! font intends), wrapped at words, shrunk from `size` towards `min_size` until it fits in
//! `max_lines` and the box, and cut with an ellipsis when even `min_size` does not fit.

use cosmic_text::{Attrs, Buffer, Family, FontSystem, Metrics, Shaping, Weight, Wrap};

use super::Shaper;

use crate::template::format::{Direction, direction};
use crate::template::model::{Align, Color, VAlign};

/// How a text layer is set.
#[derive(Debug, Clone)]
pub struct TextStyle<'a> {
    pub family: &'a str,
    pub weight: u16,
    pub size: f32,
    pub min_size: f32,
    /// Multiple of the size.
    pub line_height: f32,
    pub color: Color,
    pub align: Align,
    pub valign: VAlign,
    pub max_lines: u32,
}

/// What fitting decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// Font size used, pixels.
    pub size: f32,
    pub lines: usize,
    /// The text was cut and ends with "…".
    pub ellipsized: bool,
    /// The text as drawn.
    pub text: String,
    /// The first paragraph runs right to left.
    pub rtl: bool,
}

/// A laid-out text, ready to draw.
pub struct Laid {
    buffer: Buffer,
    pub fitted: Fitted,
    /// Height of all lines, pixels.
    height: f32,
}

const ELLIPSIS: char = '…';

/// Sizes are tried in steps of this many pixels.
const SIZE_STEP: f32 = 0.5;

struct Measure {
    lines: usize,
    widest: f32,
    height: f32,
    rtl: bool,
}

fn layout(
    fs: &mut FontSystem,
    text: &str,
    style: &TextStyle,
    size: f32,
    width: f32,
    wrap: Wrap,
) -> (Buffer, Measure) {
    let mut buffer = Buffer::new(fs, Metrics::relative(size, style.line_height));
    buffer.set_wrap(wrap);
    buffer.set_size(Some(width), None);
    let attrs = Attrs::new()
        .family(Family::Name(style.family))
        .weight(Weight(style.weight));
    // Start and end follow the text's own direction: right-aligned for Arabic or Hebrew.
    let rtl = direction(text) == Some(Direction::Rtl);
    let align = match style.align {
        Align::Left => cosmic_text::Align::Left,
        Align::Center => cosmic_text::Align::Center,
        Align::Right => cosmic_text::Align::Right,
        Align::Start if rtl => cosmic_text::Align::Right,
        Align::Start => cosmic_text::Align::Left,
        Align::End if rtl => cosmic_text::Align::Left,
        Align::End => cosmic_text::Align::Right,
    };
    buffer.set_text(text, &attrs, Shaping::Advanced, Some(align));
    buffer.shape_until_scroll(fs, false);
    let mut m = Measure {
        lines: 0,
        widest: 0.0,
        height: 0.0,
        rtl: false,
    };
    for (i, run) in buffer.layout_runs().enumerate() {
        if i == 0 {
            m.rtl = run.rtl;
        }
        m.lines += 1;
        m.widest = m.widest.max(run.line_w);
        m.height = run.line_top + run.line_height;
    }
    (buffer, m)
}

/// Lays `text` out in a `width` × `height` box: the largest size from `style.size` down to
/// `style.min_size` (in half-pixel steps) at which it fits in `max_lines` without breaking a
/// word; failing that, at `min_size`, the longest beginning of it that fits with "…" added.
pub fn fit(fs: &mut FontSystem, text: &str, style: &TextStyle, width: f32, height: f32) -> Laid {
    let fits = |m: &Measure| {
        m.lines <= style.max_lines as usize && m.widest <= width + 0.5 && m.height <= height + 0.5
    };
    let steps = ((style.size - style.min_size) / SIZE_STEP).ceil().max(0.0) as u32;
    let size_at = |k: u32| (style.size - k as f32 * SIZE_STEP).max(style.min_size);
    // Smallest k (largest size) that fits, assuming smaller sizes never fit worse.
    let (mut lo, mut hi) = (0, steps + 1);
    let mut best = None;
    while lo < hi {
        let mid = (lo + hi) / 2;
        let (buffer, m) = layout(fs, text, style, size_at(mid), width, Wrap::Word);
        if fits(&m) {
            best = Some((buffer, m, size_at(mid)));
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    if let Some((buffer, m, size)) = best {
        return Laid {
            buffer,
            height: m.height,
            fitted: Fitted {
                size,
                lines: m.lines,
                ellipsized: false,
                text: text.to_string(),
                rtl: m.rtl,
            },
        };
    }
    // Cut: the longest prefix (at a character that starts a cluster) that fits with "…".
    let size = style.min_size;
    let cuts: Vec<usize> = text
        .char_indices()
        .filter(|&(_, c)| !continues_cluster(c))
        .map(|(i, _)| i)
        .collect();
    let cut_text = |n: usize| {
        let end = cuts.get(n).copied().unwrap_or(text.len());
        format!("{}{ELLIPSIS}", text[..end].trim_end())
    };
    let (mut lo, mut hi) = (0, cuts.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let (_, m) = layout(fs, &cut_text(mid), style, size, width, Wrap::WordOrGlyph);
        if fits(&m) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let cut = cut_text(lo);
    let (buffer, m) = layout(fs, &cut, style, size, width, Wrap::WordOrGlyph);
    Laid {
        buffer,
        height: m.height,
        fitted: Fitted {
            size,
            lines: m.lines,
            ellipsized: true,
            text: cut,
            rtl: m.rtl,
        },
    }
}

/// Characters that belong to the cluster before them: cutting before one would strip an
/// accent from its letter or break a joined sequence.
fn continues_cluster(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05C7 | 0x0610..=0x061A
        | 0x064B..=0x065F | 0x0670 | 0x06D6..=0x06ED | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF
        | 0x200C | 0x200D | 0x20D0..=0x20FF | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F)
}

/// A premultiplied RGBA8 canvas, row-major, as tiny-skia keeps it.
pub struct Target<'a> {
    pub data: &'a mut [u8],
    pub width: u32,
    pub height: u32,
}

impl Laid {
    /// Draws the text into `target` in the box at (`x`, `y`) of `height` pixels, aligned
    /// vertically as `valign` says (horizontal alignment was part of the layout).
    pub fn draw(
        &mut self,
        shaper: &mut Shaper,
        target: &mut Target,
        (x, y): (f32, f32),
        height: f32,
        color: Color,
        valign: VAlign,
    ) {
        let dy = match valign {
            VAlign::Top => 0.0,
            VAlign::Middle => (height - self.height) / 2.0,
            VAlign::Bottom => height - self.height,
        };
        let (ox, oy) = (x.round() as i32, (y + dy).round() as i32);
        let Color([r, g, b, a]) = color;
        let base = cosmic_text::Color::rgba(r, g, b, a);
        let (tw, th) = (target.width as i32, target.height as i32);
        self.buffer.draw(
            &mut shaper.fonts,
            &mut shaper.glyphs,
            base,
            |gx, gy, w, h, c| {
                // Coverage arrives as the colour's alpha; the layer colour's own alpha scales it.
                let alpha = c.a() as u32 * a as u32 / 255;
                if alpha == 0 {
                    return;
                }
                for py in (oy + gy)..(oy + gy + h as i32) {
                    for px in (ox + gx)..(ox + gx + w as i32) {
                        if px < 0 || py < 0 || px >= tw || py >= th {
                            continue;
                        }
                        let i = (py as usize * tw as usize + px as usize) * 4;
                        let src = [c.r() as u32, c.g() as u32, c.b() as u32];
                        let px = &mut target.data[i..i + 4];
                        for k in 0..3 {
                            px[k] =
                                ((src[k] * alpha + px[k] as u32 * (255 - alpha) + 127) / 255) as u8;
                        }
                        px[3] = (alpha + (px[3] as u32 * (255 - alpha) + 127) / 255) as u8;
                    }
                }
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::fonts::Fonts;

    fn style(size: f32, min_size: f32, max_lines: u32) -> TextStyle<'static> {
        TextStyle {
            family: "Noto Sans",
            weight: 700,
            size,
            min_size,
            line_height: 1.2,
            color: Color([255, 255, 255, 255]),
            align: Align::Left,
            valign: VAlign::Top,
            max_lines,
        }
    }

    fn system() -> FontSystem {
        Fonts::load(None).unwrap().system()
    }

    #[test]
    fn a_short_name_keeps_its_size() {
        let mut fs = system();
        let laid = fit(&mut fs, "Hi Ana", &style(64.0, 28.0, 2), 700.0, 200.0);
        assert_eq!(laid.fitted.size, 64.0);
        assert_eq!(laid.fitted.lines, 1);
        assert!(!laid.fitted.ellipsized);
    }

    #[test]
    fn a_longer_name_shrinks_before_it_wraps_past_max_lines() {
        let mut fs = system();
        let text = "Hi Maximiliana Wolfeschlegelsteinhausen";
        let laid = fit(&mut fs, text, &style(64.0, 20.0, 1), 700.0, 200.0);
        assert!(laid.fitted.size < 64.0 && laid.fitted.size >= 20.0);
        assert_eq!(laid.fitted.lines, 1);
        assert_eq!(laid.fitted.text, text);
        // One half-pixel step larger would not fit on one line.
        let bigger = layout(
            &mut fs,
            text,
            &style(64.0, 20.0, 1),
            laid.fitted.size + SIZE_STEP,
            700.0,
            Wrap::Word,
        )
        .1;
        assert!(bigger.lines > 1 || bigger.widest > 700.5);
    }

    #[test]
    fn sixty_characters_shrink_then_ellipsize_within_max_lines() {
        let mut fs = system();
        let name = "Bartholomew Alexander Montgomery-Featherstonehaugh the Third";
        assert_eq!(name.chars().count(), 60);
        let laid = fit(&mut fs, name, &style(64.0, 40.0, 2), 500.0, 120.0);
        assert_eq!(laid.fitted.size, 40.0, "shrunk all the way to min_size");
        assert!(laid.fitted.ellipsized);
        assert!(laid.fitted.text.ends_with('…'));
        assert!(laid.fitted.lines <= 2);
        let kept = laid.fitted.text.trim_end_matches('…');
        assert!(name.starts_with(kept) && kept.len() > 10, "{kept}");
    }

    #[test]
    fn arabic_runs_right_to_left() {
        let mut fs = system();
        let s = TextStyle {
            family: "Noto Sans Arabic",
            ..style(48.0, 24.0, 1)
        };
        let laid = fit(&mut fs, "مرحبا فاطمة", &s, 600.0, 100.0);
        assert!(laid.fitted.rtl);
        assert!(!laid.fitted.ellipsized);
        // The first character in logical order is drawn rightmost.
        let run = laid.buffer.layout_runs().next().unwrap();
        let first = run.glyphs.iter().find(|g| g.start == 0).unwrap();
        let max_x = run.glyphs.iter().map(|g| g.x).fold(f32::MIN, f32::max);
        assert_eq!(first.x, max_x);
    }

    #[test]
    fn cuts_never_split_a_letter_from_its_accent() {
        assert!(continues_cluster('\u{301}'));
        assert!(continues_cluster('\u{5b8}'), "Hebrew qamats");
        assert!(!continues_cluster('a'));
    }

    #[test]
    fn draws_inside_the_target() {
        let mut shaper = Shaper {
            fonts: system(),
            glyphs: cosmic_text::SwashCache::new(),
        };
        let mut laid = fit(&mut shaper.fonts, "Ana", &style(40.0, 20.0, 1), 200.0, 60.0);
        let mut data = vec![0u8; 200 * 60 * 4];
        let mut target = Target {
            data: &mut data,
            width: 200,
            height: 60,
        };
        laid.draw(
            &mut shaper,
            &mut target,
            (-5.0, 0.0),
            60.0,
            Color([255, 0, 0, 255]),
            VAlign::Middle,
        );
        let inked = data.chunks(4).filter(|p| p[3] > 128).count();
        assert!(inked > 200, "{inked} pixels inked");
        assert!(data.chunks(4).all(|p| p[1] == 0 && p[0] <= p[3]));
    }
}
