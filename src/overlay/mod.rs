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

use cosmic_text::{FontSystem, SwashCache};
use image::{DynamicImage, RgbaImage};
use tiny_skia::{
    FillRule, IntSize, Mask, Paint, PathBuilder, Pixmap, PixmapPaint, Rect, Transform,
};

use crate::template::model::{Area, Canvas, Fit, Layer, ShapeKind, Template, VAlign, parse_color};
pub use fonts::{Coverage, Fonts};
use text::{Fitted, Target, TextStyle};

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
    /// The picture at its drawn size, or `None` when neither source nor default could be read.
    Image(Option<DynamicImage>),
    Shape,
}

/// A drawn canvas and how each text layer was set.
pub struct Composed {
    pub image: RgbaImage,
    pub texts: Vec<Fitted>,
}

/// A layer's box in canvas pixels: x, y, width, height.
pub fn area_px(area: &Area, canvas: &Canvas) -> [f32; 4] {
    let (w, h) = (canvas.width, canvas.height);
    let px = |l: &crate::template::model::Length, side| l.px(side).unwrap_or(0.0) as f32;
    [
        px(&area.x, w),
        px(&area.y, h),
        px(&area.width, w),
        px(&area.height, h),
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
        f(&mut slot.as_mut().expect("just set").1)
    })
}

fn to_pixmap(image: &DynamicImage) -> Option<Pixmap> {
    let rgba = image.to_rgba8();
    let (w, h) = rgba.dimensions();
    let mut data = rgba.into_raw();
    for px in data.chunks_exact_mut(4) {
        let a = px[3] as u32;
        for c in &mut px[..3] {
            *c = ((*c as u32 * a + 127) / 255) as u8;
        }
    }
    Pixmap::from_vec(data, IntSize::from_wh(w, h)?)
}

fn paint_of(color: [u8; 4], opacity: f32) -> Paint<'static> {
    let mut paint = Paint::default();
    let a = (color[3] as f32 * opacity.clamp(0.0, 1.0)).round() as u8;
    paint.set_color_rgba8(color[0], color[1], color[2], a);
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

/// The shape of a box: its rectangle, or the circle (ellipse) inscribed in it.
fn box_path([x, y, w, h]: [f32; 4], circle: bool) -> Option<tiny_skia::Path> {
    let rect = Rect::from_xywh(x, y, w, h)?;
    if circle {
        PathBuilder::from_oval(rect)
    } else {
        Some(PathBuilder::from_rect(rect))
    }
}

/// Draws `picture` centred in `bx`, clipped to the box (or its inscribed circle).
fn draw_picture(canvas: &mut Pixmap, picture: &DynamicImage, bx: [f32; 4], circle: bool) {
    let Some(pixmap) = to_pixmap(picture) else {
        return;
    };
    let [x, y, w, h] = bx;
    let ox = (x + (w - pixmap.width() as f32) / 2.0).round();
    let oy = (y + (h - pixmap.height() as f32) / 2.0).round();
    let mask = Mask::new(canvas.width(), canvas.height()).and_then(|mut m| {
        m.fill_path(
            &box_path(bx, circle)?,
            FillRule::Winding,
            true,
            Transform::identity(),
        );
        Some(m)
    });
    canvas.draw_pixmap(
        0,
        0,
        pixmap.as_ref(),
        &PixmapPaint::default(),
        Transform::from_translate(ox, oy),
        mask.as_ref(),
    );
}

/// Draws `template` at its canvas size. `base` is the base image at its [`fitted_size`] for
/// the canvas (cover); `contents` fills the layers in order; `draft` adds the preview
/// watermark.
pub fn compose(
    template: &Template,
    base: Option<&DynamicImage>,
    contents: &[Content],
    shaper: &mut Shaper,
    draft: bool,
) -> Result<Composed, OverlayError> {
    let c = &template.canvas;
    let mut canvas =
        Pixmap::new(c.width, c.height).ok_or(OverlayError::Canvas(c.width, c.height))?;
    if let Some(bg) = c.background.as_deref().and_then(parse_color) {
        canvas.fill(tiny_skia::Color::from_rgba8(bg[0], bg[1], bg[2], bg[3]));
    }
    let whole = [0.0, 0.0, c.width as f32, c.height as f32];
    if let Some(base) = base {
        draw_picture(&mut canvas, base, whole, false);
    }
    let mut texts = Vec::new();
    for (layer, content) in template.layers.iter().zip(contents) {
        match (layer, content) {
            (Layer::Shape(s), _) => {
                let bx = area_px(&s.area, c);
                let [x, y, w, h] = bx;
                let path = match s.shape {
                    ShapeKind::Rect => box_path(bx, false),
                    ShapeKind::Circle => box_path(bx, true),
                    ShapeKind::Rounded => rounded_rect(x, y, w, h, s.radius),
                };
                if let (Some(path), Some(color)) = (path, parse_color(&s.fill)) {
                    canvas.fill_path(
                        &path,
                        &paint_of(color, s.opacity),
                        FillRule::Winding,
                        Transform::identity(),
                        None,
                    );
                }
            }
            (Layer::Image(l), Content::Image(Some(picture))) => {
                draw_picture(&mut canvas, picture, area_px(&l.area, c), l.circle);
            }
            (Layer::Text(t), Content::Text(text)) => {
                let [x, y, w, h] = area_px(&t.area, c);
                let color = parse_color(&t.color).unwrap_or([0, 0, 0, 255]);
                let style = TextStyle {
                    family: &t.font,
                    weight: t.weight,
                    size: t.size,
                    min_size: t.min_size.unwrap_or(t.size),
                    line_height: t.line_height,
                    color,
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
                laid.draw(shaper, &mut target, (x, y), h, color, t.valign);
                texts.push(laid.fitted);
            }
            // An image layer with nothing readable stays empty.
            _ => {}
        }
    }
    if draft {
        watermark(&mut canvas, shaper);
    }
    let (w, h) = (canvas.width(), canvas.height());
    let mut out = Vec::with_capacity((w * h * 4) as usize);
    for px in canvas.pixels() {
        let c = px.demultiply();
        out.extend_from_slice(&[c.red(), c.green(), c.blue(), c.alpha()]);
    }
    let image = RgbaImage::from_raw(w, h, out).ok_or(OverlayError::Canvas(w, h))?;
    Ok(Composed { image, texts })
}

/// The mark of a draft preview: a red frame and a translucent red band across the middle
/// reading "DRAFT PREVIEW", so a preview is never mistaken for (or sent as) the real thing.
fn watermark(canvas: &mut Pixmap, shaper: &mut Shaper) {
    let (w, h) = (canvas.width() as f32, canvas.height() as f32);
    let red = [214, 40, 40, 255];
    let edge = (w.min(h) * 0.02).max(2.0);
    let band_h = (h * 0.2).max(12.0);
    let band_y = (h - band_h) / 2.0;
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
    if let Some(r) = Rect::from_xywh(0.0, band_y, w, band_h) {
        canvas.fill_rect(r, &paint_of(red, 0.7), Transform::identity(), None);
    }
    let style = TextStyle {
        family: fonts::DEFAULT_FAMILY,
        weight: 700,
        size: band_h * 0.7,
        min_size: 4.0,
        line_height: 1.2,
        color: [255, 255, 255, 255],
        align: crate::template::model::Align::Center,
        valign: VAlign::Middle,
        max_lines: 1,
    };
    let mut laid = text::fit(&mut shaper.fonts, "DRAFT PREVIEW", &style, w, band_h);
    let (cw, ch) = (canvas.width(), canvas.height());
    let mut target = Target {
        data: canvas.data_mut(),
        width: cw,
        height: ch,
    };
    laid.draw(
        shaper,
        &mut target,
        (0.0, band_y),
        band_h,
        style.color,
        VAlign::Middle,
    );
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

    #[test]
    fn shapes_blend_and_circles_clip() {
        let fonts = Fonts::load(None).unwrap();
        let photo =
            DynamicImage::ImageRgb8(image::RgbImage::from_pixel(60, 60, image::Rgb([0, 255, 0])));
        let contents = [Content::Shape, Content::Image(Some(photo))];
        let out = with_shaper(&fonts, |s| compose(&template(), None, &contents, s, false)).unwrap();
        let px = |x, y| out.image.get_pixel(x, y).0;
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
        let fonts = Fonts::load(None).unwrap();
        let contents = [Content::Shape, Content::Image(None)];
        let out = with_shaper(&fonts, |s| compose(&template(), None, &contents, s, true)).unwrap();
        let edge = out.image.get_pixel(199, 99).0;
        assert_eq!(edge, [214, 40, 40, 255]);
        let band: Vec<_> = (0..200).map(|x| out.image.get_pixel(x, 50).0).collect();
        assert!(
            band.iter().any(|p| p[1] > 200),
            "white lettering in the band"
        );
    }
}
