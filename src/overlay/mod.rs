//! Drawing a template: the canvas (colour and/or base image), then each layer in order —
//! shapes, images (cover/contain, optional circle mask) and text that fits — onto a
//! premultiplied RGBA canvas (tiny-skia), returned as an image the IIIF stages take over.
//!
//! Pure over what it is given: merge tags are already resolved and images already decoded at
//! the size they are drawn ([`fitted_size`]); reading them is [`load`]'s business.

pub mod fonts;
pub mod load;
pub mod text;

use std::cell::RefCell;
use std::sync::Arc;

use cosmic_text::{FontSystem, SwashCache};
use image::{DynamicImage, RgbaImage};
use tiny_skia::{FillRule, Mask, Paint, PathBuilder, Pixmap, Rect, Transform};

use crate::error::{Code, Coded};
use crate::template::model::{
    Area, Canvas, Color, Fit, LayerKind, QrLayer, QrLevel, ShapeKind, Template, VAlign,
};
pub use fonts::{Coverage, Fonts};
use text::{Target, TextStyle};

/// Why a canvas could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("canvas {0}x{1} cannot be allocated")]
    Canvas(u32, u32),
}

/// What fills a layer, in the template's layer order.
pub enum Content {
    /// The text after merge tags and case transform.
    Text(String),
    /// The picture ready to draw in the layer's box, or `None` when neither source nor default
    /// could be read.
    Image(Option<Arc<Sprite>>),
    Shape,
}

/// A layer's box in canvas pixels: x, y, width, height.
pub fn area_px(area: &Area, canvas: &Canvas) -> [f32; 4] {
    let (w, h) = (canvas.width, canvas.height);
    [
        area.x.px(w) as f32,
        area.y.px(h) as f32,
        area.width.px(w) as f32,
        area.height.px(h) as f32,
    ]
}

/// The size to read a `source`-sized picture at so that it covers (or fits inside) a `bx`
/// box, aspect ratio kept; at least 1×1.
pub fn fitted_size(fit: Fit, (sw, sh): (u32, u32), (bw, bh): (u32, u32)) -> (u32, u32) {
    let (sx, sy) = (bw as f64 / sw as f64, bh as f64 / sh as f64);
    let s = match fit {
        Fit::Cover => sx.max(sy),
        Fit::Contain => sx.min(sy),
    };
    let side = |v: u32| ((v as f64 * s).round() as u32).max(1);
    (side(sw), side(sh))
}

/// A shaping context and glyph cache for the current thread.
pub struct Shaper {
    pub fonts: FontSystem,
    pub glyphs: SwashCache,
}

thread_local! {
    /// Building a font system parses every font; render threads keep theirs.
    static SHAPER: RefCell<Option<(usize, Shaper)>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's shaper for `fonts`.
pub fn with_shaper<T>(fonts: &Fonts, f: impl FnOnce(&mut Shaper) -> T) -> T {
    SHAPER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let id = fonts.id();
        if slot.as_ref().is_none_or(|(have, _)| *have != id) {
            *slot = Some((
                id,
                Shaper {
                    fonts: fonts.system(),
                    glyphs: SwashCache::new(),
                },
            ));
        }
        let shaper = &mut slot.as_mut().expect("just set").1;
        let out = f(shaper);
        // Rasterized glyphs are cached by font, size and subpixel offset; with names and
        // sizes varying per request that would grow forever, so start over past a bound.
        if shaper.glyphs.image_cache.len() > MAX_CACHED_GLYPHS {
            shaper.glyphs.image_cache.clear();
        }
        out
    })
}

/// Rasterized glyphs a render thread keeps (a few MB at most).
const MAX_CACHED_GLYPHS: usize = 8192;

/// A picture ready to draw in a box: centred, cut to the box — or to the circle inscribed
/// in it, antialiased — and premultiplied. The same for every render that draws the same
/// picture in the same box, so it is made once and kept ([`load`]).
pub struct Sprite {
    pixmap: Pixmap,
    /// Where the pixmap's top-left corner sits in the box.
    at: (i32, i32),
}

impl Sprite {
    /// `picture` centred in a `w`×`h` box; `None` when nothing of it shows.
    pub fn new(picture: &DynamicImage, (w, h): (u32, u32), circle: bool) -> Option<Sprite> {
        let rgba = picture.to_rgba8();
        let (pw, ph) = (rgba.width() as i32, rgba.height() as i32);
        let (w, h) = (w as i32, h as i32);
        // The picture's top-left corner in the box, and the part of the box it covers.
        let (ox, oy) = ((w - pw) / 2, (h - ph) / 2);
        let (x0, y0) = (ox.max(0), oy.max(0));
        let (x1, y1) = ((ox + pw).min(w), (oy + ph).min(h));
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        // Coverage of the circle, one byte per box pixel.
        let mask = if circle {
            Mask::new(w as u32, h as u32).and_then(|mut m| {
                let oval = PathBuilder::from_oval(Rect::from_xywh(0.0, 0.0, w as f32, h as f32)?)?;
                m.fill_path(&oval, FillRule::Winding, true, Transform::identity());
                Some(m)
            })
        } else {
            None
        };
        let mut pixmap = Pixmap::new((x1 - x0) as u32, (y1 - y0) as u32)?;
        let src = rgba.as_raw();
        let dst = pixmap.data_mut();
        let mut di = 0;
        for row in y0..y1 {
            for col in x0..x1 {
                let si = (((row - oy) * pw + (col - ox)) * 4) as usize;
                let cover = mask
                    .as_ref()
                    .map_or(255, |m| m.data()[(row * w + col) as usize] as u32);
                // Premultiplied by its alpha and the circle's coverage.
                let a = src[si + 3] as u32 * cover / 255;
                for k in 0..3 {
                    dst[di + k] = ((src[si + k] as u32 * a + 127) / 255) as u8;
                }
                dst[di + 3] = a as u8;
                di += 4;
            }
        }
        Some(Sprite {
            pixmap,
            at: (x0, y0),
        })
    }

    /// Bytes of pixels held.
    pub fn bytes(&self) -> usize {
        self.pixmap.data().len()
    }
}

/// Draws `sprite` in the box `bx` (canvas pixels), blending premultiplied pixels source-over.
fn draw_sprite(canvas: &mut Pixmap, sprite: &Sprite, bx: [f32; 4]) {
    let [x, y, ..] = bx.map(|v| v.round() as i32);
    let (sx, sy) = (x + sprite.at.0, y + sprite.at.1);
    let (sw, sh) = (sprite.pixmap.width() as i32, sprite.pixmap.height() as i32);
    let (cw, ch) = (canvas.width() as i32, canvas.height() as i32);
    let (x0, x1) = (sx.max(0), (sx + sw).min(cw));
    let (y0, y1) = (sy.max(0), (sy + sh).min(ch));
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let n = ((x1 - x0) * 4) as usize;
    let src = sprite.pixmap.data();
    let dst = canvas.data_mut();
    for row in y0..y1 {
        let from = (((row - sy) * sw + (x0 - sx)) * 4) as usize;
        let to = ((row * cw + x0) * 4) as usize;
        let pixels = dst[to..to + n]
            .chunks_exact_mut(4)
            .zip(src[from..from + n].chunks_exact(4));
        for (d, s) in pixels {
            match s[3] {
                0 => {}
                255 => d.copy_from_slice(s),
                a => {
                    let keep = 255 - a as u32;
                    for k in 0..4 {
                        d[k] = (s[k] as u32 + (d[k] as u32 * keep + 127) / 255) as u8;
                    }
                }
            }
        }
    }
}

fn paint_of(Color([r, g, b, a]): Color, opacity: f32) -> Paint<'static> {
    let mut paint = Paint::default();
    let a = (a as f32 * opacity.clamp(0.0, 1.0)).round() as u8;
    paint.set_color_rgba8(r, g, b, a);
    paint.anti_alias = true;
    paint
}

/// A rectangle with corners rounded by `r` (clamped to half the shorter side).
fn rounded_rect(x: f32, y: f32, w: f32, h: f32, r: f32) -> Option<tiny_skia::Path> {
    let r = r.min(w / 2.0).min(h / 2.0);
    if r <= 0.0 {
        return Some(PathBuilder::from_rect(Rect::from_xywh(x, y, w, h)?));
    }
    // Cubic Bézier control distance for a quarter circle.
    let k = r * 0.552_284_8;
    let mut p = PathBuilder::new();
    p.move_to(x + r, y);
    p.line_to(x + w - r, y);
    p.cubic_to(x + w - r + k, y, x + w, y + r - k, x + w, y + r);
    p.line_to(x + w, y + h - r);
    p.cubic_to(x + w, y + h - r + k, x + w - r + k, y + h, x + w - r, y + h);
    p.line_to(x + r, y + h);
    p.cubic_to(x + r - k, y + h, x, y + h - r + k, x, y + h - r);
    p.line_to(x, y + r);
    p.cubic_to(x, y + r - k, x + r - k, y, x + r, y);
    p.close();
    p.finish()
}

/// Draws a QR code of `data` centred in `bx`, as large as fits with whole-pixel modules when
/// the box allows (crisp edges scan best). Data too long for a code draws nothing: the rest
/// of the image still serves.
fn draw_qr(canvas: &mut Pixmap, q: &QrLayer, data: &str, bx: [f32; 4]) {
    let level = match q.level {
        QrLevel::L => qrcode::EcLevel::L,
        QrLevel::M => qrcode::EcLevel::M,
        QrLevel::Q => qrcode::EcLevel::Q,
        QrLevel::H => qrcode::EcLevel::H,
    };
    let Ok(code) = qrcode::QrCode::with_error_correction_level(data.as_bytes(), level) else {
        tracing::debug!("QR data does not fit a code; layer left empty");
        return;
    };
    let n = code.width();
    let modules = (n + 2 * q.quiet_zone as usize) as f32;
    let [x, y, w, h] = bx;
    let side = w.min(h);
    let unit = if side >= modules {
        (side / modules).floor()
    } else {
        side / modules
    };
    let full = unit * modules;
    let (ox, oy) = (
        (x + (w - full) / 2.0).round(),
        (y + (h - full) / 2.0).round(),
    );
    let mut paint = paint_of(q.background, 1.0);
    paint.anti_alias = false;
    if let Some(r) = Rect::from_xywh(ox, oy, full, full) {
        canvas.fill_rect(r, &paint, Transform::identity(), None);
    }
    let mut dark = PathBuilder::new();
    let colors = code.to_colors();
    let quiet = q.quiet_zone as f32;
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (col, row) = ((i % n) as f32, (i / n) as f32);
            if let Some(r) = Rect::from_xywh(
                ox + (quiet + col) * unit,
                oy + (quiet + row) * unit,
                unit,
                unit,
            ) {
                dark.push_rect(r);
            }
        }
    }
    if let Some(path) = dark.finish() {
        let mut paint = paint_of(q.color, 1.0);
        paint.anti_alias = false;
        canvas.fill_path(
            &path,
            &paint,
            FillRule::Winding,
            Transform::identity(),
            None,
        );
    }
}

/// The background, the base image and the leading layers that do not depend on fields
/// (shapes, text without merge tags): the same for every recipient, so drawn once per
/// template version and base image and reused.
pub struct Underlay {
    pixmap: Pixmap,
    /// How many leading layers are already drawn.
    layers: usize,
}

impl Underlay {
    /// Bytes of pixels held.
    pub fn bytes(&self) -> usize {
        self.pixmap.data().len()
    }
}

/// How many leading layers of `template` look the same for every request.
pub fn static_layers(template: &Template) -> usize {
    template
        .layers
        .iter()
        .take_while(|l| match &l.kind {
            LayerKind::Shape(_) => true,
            LayerKind::Text(t) => t.text.is_literal() && !t.text.has_countdown(),
            LayerKind::Qr(q) => q.data.is_literal(),
            LayerKind::Image(_) => false,
        })
        .count()
}

/// Draws the [`Underlay`] of `template`: `base` is the base image at its [`fitted_size`] for
/// the canvas (cover); `contents` fills the layers in order.
pub fn underlay(
    template: &Template,
    base: Option<&DynamicImage>,
    contents: &[Content],
    shaper: &mut Shaper,
) -> Result<Underlay, OverlayError> {
    let c = &template.canvas;
    let mut pixmap =
        Pixmap::new(c.width, c.height).ok_or(OverlayError::Canvas(c.width, c.height))?;
    if let Some(Color([r, g, b, a])) = c.background {
        pixmap.fill(tiny_skia::Color::from_rgba8(r, g, b, a));
    }
    if let Some(base) = base.and_then(|b| Sprite::new(b, (c.width, c.height), false)) {
        let whole = [0.0, 0.0, c.width as f32, c.height as f32];
        draw_sprite(&mut pixmap, &base, whole);
    }
    let layers = static_layers(template);
    draw_layers(&mut pixmap, template, 0..layers, contents, shaper);
    Ok(Underlay { pixmap, layers })
}

/// Draws the rest of `template` over a copy of `under`; `draft` adds the preview watermark.
/// The canvas comes back as RGB when every pixel is opaque, else as RGBA.
pub fn compose(
    template: &Template,
    under: &Underlay,
    contents: &[Content],
    shaper: &mut Shaper,
    draft: bool,
) -> Result<DynamicImage, OverlayError> {
    let mut canvas = under.pixmap.clone();
    draw_layers(
        &mut canvas,
        template,
        under.layers..template.layers.len(),
        contents,
        shaper,
    );
    if draft {
        watermark(&mut canvas, shaper);
    }
    let (w, h) = (canvas.width(), canvas.height());
    // Without alpha to keep, three channels are cheaper for every stage after this one. One
    // pass copies the colours and checks the alpha (two passes, pushing pixel by pixel, took
    // about a tenth of a cold 1200×630 render).
    let mut rgb = vec![0; (w * h * 3) as usize];
    let mut alpha = u8::MAX;
    for (to, px) in rgb.chunks_exact_mut(3).zip(canvas.data().chunks_exact(4)) {
        to.copy_from_slice(&px[..3]);
        alpha &= px[3];
    }
    let image = if alpha == u8::MAX {
        image::RgbImage::from_raw(w, h, rgb).map(DynamicImage::ImageRgb8)
    } else {
        let mut out = Vec::with_capacity((w * h * 4) as usize);
        for px in canvas.pixels() {
            let c = px.demultiply();
            out.extend_from_slice(&[c.red(), c.green(), c.blue(), c.alpha()]);
        }
        RgbaImage::from_raw(w, h, out).map(DynamicImage::ImageRgba8)
    };
    let image = image.ok_or(OverlayError::Canvas(w, h))?;
    Ok(image)
}

/// Draws `layers` of `template` with their `contents`.
fn draw_layers(
    canvas: &mut Pixmap,
    template: &Template,
    layers: std::ops::Range<usize>,
    contents: &[Content],
    shaper: &mut Shaper,
) {
    let c = &template.canvas;
    for (layer, content) in template.layers[layers.clone()]
        .iter()
        .zip(&contents[layers])
    {
        if layer.hidden {
            continue;
        }
        let bx = area_px(&layer.area, c);
        match (&layer.kind, content) {
            (LayerKind::Shape(s), _) => {
                let [x, y, w, h] = bx;
                let path = match s.shape {
                    ShapeKind::Rect => Rect::from_xywh(x, y, w, h).map(PathBuilder::from_rect),
                    ShapeKind::Circle => {
                        Rect::from_xywh(x, y, w, h).and_then(PathBuilder::from_oval)
                    }
                    ShapeKind::Rounded => rounded_rect(x, y, w, h, s.radius),
                };
                if let Some(path) = path {
                    canvas.fill_path(
                        &path,
                        &paint_of(s.fill, s.opacity),
                        FillRule::Winding,
                        Transform::identity(),
                        None,
                    );
                }
            }
            (LayerKind::Image(_), Content::Image(Some(sprite))) => {
                draw_sprite(canvas, sprite, bx);
            }
            (LayerKind::Qr(q), Content::Text(data)) => draw_qr(canvas, q, data, bx),
            (LayerKind::Text(t), Content::Text(text)) => {
                let [x, y, w, h] = bx;
                let style = TextStyle {
                    family: &t.font,
                    weight: t.weight,
                    size: t.size,
                    min_size: t.min_size.unwrap_or(t.size),
                    line_height: t.line_height,
                    color: t.color,
                    align: t.align,
                    valign: t.valign,
                    max_lines: t.max_lines,
                };
                let mut laid = text::fit(&mut shaper.fonts, text, &style, w, h);
                let (width, height) = (canvas.width(), canvas.height());
                let mut target = Target {
                    data: canvas.data_mut(),
                    width,
                    height,
                };
                laid.draw(shaper, &mut target, (x, y), h, t.color, t.valign);
            }
            // An image layer with nothing readable stays empty.
            _ => {}
        }
    }
}

/// The mark of a draft preview: a red frame and a red tab in the bottom right corner reading
/// "DRAFT PREVIEW", so a preview is never mistaken for (or sent as) the real thing, while the
/// layers being designed stay readable.
fn watermark(canvas: &mut Pixmap, shaper: &mut Shaper) {
    let (w, h) = (canvas.width() as f32, canvas.height() as f32);
    let red = Color([214, 40, 40, 255]);
    let edge = (w.min(h) * 0.02).max(2.0);
    let band_h = (h * 0.08).clamp(12.0, 48.0).min(h);
    let band_w = (band_h * 6.0).min(w);
    let (band_x, band_y) = (w - band_w, h - band_h);
    let mut frame = PathBuilder::new();
    for r in [
        Rect::from_xywh(0.0, 0.0, w, edge),
        Rect::from_xywh(0.0, h - edge, w, edge),
        Rect::from_xywh(0.0, 0.0, edge, h),
        Rect::from_xywh(w - edge, 0.0, edge, h),
    ]
    .into_iter()
    .flatten()
    {
        frame.push_rect(r);
    }
    if let Some(path) = frame.finish() {
        canvas.fill_path(
            &path,
            &paint_of(red, 1.0),
            FillRule::Winding,
            Transform::identity(),
            None,
        );
    }
    if let Some(r) = Rect::from_xywh(band_x, band_y, band_w, band_h) {
        canvas.fill_rect(r, &paint_of(red, 0.85), Transform::identity(), None);
    }
    let style = TextStyle {
        family: fonts::DEFAULT_FAMILY,
        weight: 700,
        size: band_h * 0.7,
        min_size: 4.0,
        line_height: 1.2,
        color: Color([255, 255, 255, 255]),
        align: crate::template::model::Align::Center,
        valign: VAlign::Middle,
        max_lines: 1,
    };
    let mut laid = text::fit(&mut shaper.fonts, "DRAFT PREVIEW", &style, band_w, band_h);
    let (cw, ch) = (canvas.width(), canvas.height());
    let mut target = Target {
        data: canvas.data_mut(),
        width: cw,
        height: ch,
    };
    laid.draw(
        shaper,
        &mut target,
        (band_x, band_y),
        band_h,
        style.color,
        VAlign::Middle,
    );
}

impl Coded for OverlayError {
    fn code(&self) -> Code {
        Code::OverlayFailed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::model::parse_template;

    #[test]
    fn cover_and_contain_sizes() {
        assert_eq!(fitted_size(Fit::Cover, (400, 200), (100, 100)), (200, 100));
        assert_eq!(fitted_size(Fit::Contain, (400, 200), (100, 100)), (100, 50));
        assert_eq!(fitted_size(Fit::Cover, (10, 10), (240, 120)), (240, 240));
        assert_eq!(fitted_size(Fit::Contain, (1000, 1), (10, 10)), (10, 1));
    }

    fn template() -> Template {
        parse_template(
            br##"{"canvas": {"width": 200, "height": 100, "background": "#204080"},
              "layers": [
                {"type": "shape", "box": {"x": 0, "y": 0, "width": "50%", "height": "100%"},
                 "shape": "rect", "fill": "#ff0000", "opacity": 0.5},
                {"type": "image", "box": {"x": 120, "y": 20, "width": 60, "height": 60},
                 "source": "photo", "default": "photo", "circle": true}
              ]}"##,
        )
        .unwrap()
    }

    /// The test template drawn with `contents`, through the underlay as the server does.
    fn draw(contents: &[Content], draft: bool) -> RgbaImage {
        let fonts = Fonts::load(None).unwrap();
        let t = template();
        let out = with_shaper(&fonts, |s| {
            let under = underlay(&t, None, contents, s).unwrap();
            compose(&t, &under, contents, s, draft)
        })
        .unwrap();
        out.to_rgba8()
    }

    #[test]
    fn shapes_blend_and_circles_clip() {
        let photo =
            DynamicImage::ImageRgb8(image::RgbImage::from_pixel(60, 60, image::Rgb([0, 255, 0])));
        let sprite = Sprite::new(&photo, (60, 60), true).map(Arc::new);
        let image = draw(&[Content::Shape, Content::Image(sprite)], false);
        let px = |x, y| image.get_pixel(x, y).0;
        // Half-transparent red over #204080.
        let left = px(10, 50);
        assert!(
            (left[0] as i32 - 144).abs() <= 2 && (left[2] as i32 - 64).abs() <= 2,
            "{left:?}"
        );
        assert_eq!(px(150, 50), [0, 255, 0, 255], "photo centre");
        assert_eq!(
            px(121, 21),
            [32, 64, 128, 255],
            "box corner is outside the circle"
        );
        assert_eq!(px(190, 50), [32, 64, 128, 255], "background");
    }

    #[test]
    fn drafts_are_marked() {
        let image = draw(&[Content::Shape, Content::Image(None)], true);
        let edge = image.get_pixel(199, 99).0;
        assert_eq!(edge, [214, 40, 40, 255]);
        let tab: Vec<_> = (128..200)
            .flat_map(|x| (88..100).map(move |y| (x, y)))
            .map(|(x, y)| image.get_pixel(x, y).0)
            .collect();
        assert!(
            tab.iter().any(|p| p[1] > 200),
            "white lettering in the corner tab"
        );
        let plain = draw(&[Content::Shape, Content::Image(None)], false);
        assert_eq!(
            image.get_pixel(100, 50),
            plain.get_pixel(100, 50),
            "the middle, where layers are designed, stays readable"
        );
    }
}
