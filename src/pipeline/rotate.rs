//! Rotate/mirror stage (§4.3): mirror first, then rotate clockwise. Multiples of 90° are exact
//! pixel moves; other angles are resampled with a Catmull-Rom bicubic kernel on premultiplied
//! colour into the bounding box of the rotated image.

use image::{DynamicImage, ImageBuffer, Pixel, Primitive};
use num_traits::NumCast;

use crate::iiif::plan::{is_right_angle, rotated_size};

/// Mirrors (about the vertical axis) and rotates `image` clockwise by `degrees` in [0, 360).
///
/// The corners an arbitrary angle uncovers are transparent when `transparent_background`
/// (formats with alpha) and opaque black otherwise, as libvips does.
pub fn rotate(
    image: DynamicImage,
    mirror: bool,
    degrees: f64,
    transparent_background: bool,
) -> DynamicImage {
    let image = if mirror { image.fliph() } else { image };
    if is_right_angle(degrees) {
        return match (degrees / 90.0) as u32 {
            1 => image.rotate90(),
            2 => image.rotate180(),
            3 => image.rotate270(),
            _ => image,
        };
    }
    let sixteen_bit = matches!(
        image,
        DynamicImage::ImageLuma16(_)
            | DynamicImage::ImageLumaA16(_)
            | DynamicImage::ImageRgb16(_)
            | DynamicImage::ImageRgba16(_)
            | DynamicImage::ImageRgb32F(_)
            | DynamicImage::ImageRgba32F(_)
    );
    let background = if transparent_background {
        [0.0; 4]
    } else {
        [0.0, 0.0, 0.0, 1.0]
    };
    if sixteen_bit {
        DynamicImage::ImageRgba16(rotate_arbitrary(&image.to_rgba16(), degrees, background))
    } else {
        DynamicImage::ImageRgba8(rotate_arbitrary(&image.to_rgba8(), degrees, background))
    }
}

/// Catmull-Rom weight for a distance `t` from the sample point.
fn cubic(t: f32) -> f32 {
    let t = t.abs();
    if t < 1.0 {
        1.5 * t * t * t - 2.5 * t * t + 1.0
    } else if t < 2.0 {
        -0.5 * t * t * t + 2.5 * t * t - 4.0 * t + 2.0
    } else {
        0.0
    }
}

/// Rotates by inverse mapping: each output pixel centre is rotated back into the source and
/// sampled from its 4×4 neighbourhood. Pixels outside the source count as transparent, so the
/// image's edges come out anti-aliased against `background` (straight RGBA, 0–1). Works on
/// the source's own 8- or 16-bit samples, premultiplying per tap, so memory stays at one input
/// and one output buffer.
fn rotate_arbitrary<P>(
    src: &ImageBuffer<P, Vec<P::Subpixel>>,
    degrees: f64,
    background: [f32; 4],
) -> ImageBuffer<P, Vec<P::Subpixel>>
where
    P: Pixel + 'static,
    P::Subpixel: Into<f32>,
{
    debug_assert_eq!(P::CHANNEL_COUNT, 4, "RGBA only");
    let (sw, sh) = src.dimensions();
    let (dw, dh) = rotated_size(sw, sh, degrees);
    let max: f32 = <P::Subpixel as Primitive>::DEFAULT_MAX_VALUE.into();
    let raw = src.as_raw();
    let fetch = |x: i64, y: i64| -> [f32; 4] {
        if x < 0 || y < 0 || x >= sw as i64 || y >= sh as i64 {
            return [0.0; 4];
        }
        let i = (y as usize * sw as usize + x as usize) * 4;
        let a = raw[i + 3].into() / max;
        [
            raw[i].into() / max * a,
            raw[i + 1].into() / max * a,
            raw[i + 2].into() / max * a,
            a,
        ]
    };
    let to_sample = |v: f32| -> P::Subpixel {
        NumCast::from((v.clamp(0.0, 1.0) * max).round())
            .unwrap_or(<P::Subpixel as Primitive>::DEFAULT_MIN_VALUE)
    };
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (sin, cos) = (sin as f32, cos as f32);
    let (scx, scy) = (sw as f32 / 2.0, sh as f32 / 2.0);
    let (dcx, dcy) = (dw as f32 / 2.0, dh as f32 / 2.0);
    let bg_alpha = background[3];
    ImageBuffer::from_fn(dw, dh, |ox, oy| {
        let dx = ox as f32 + 0.5 - dcx;
        let dy = oy as f32 + 0.5 - dcy;
        // Inverse of a clockwise rotation (y grows downwards).
        let sx = dx * cos + dy * sin + scx - 0.5;
        let sy = -dx * sin + dy * cos + scy - 0.5;
        let (fx, fy) = (sx.floor(), sy.floor());
        let mut acc = [0.0f32; 4];
        // Farther than the kernel's reach from the image: nothing but background.
        if fx >= -2.0 && fy >= -2.0 && fx <= sw as f32 + 1.0 && fy <= sh as f32 + 1.0 {
            let (tx, ty) = (sx - fx, sy - fy);
            let wx = [cubic(tx + 1.0), cubic(tx), cubic(tx - 1.0), cubic(tx - 2.0)];
            for (j, wy) in [cubic(ty + 1.0), cubic(ty), cubic(ty - 1.0), cubic(ty - 2.0)]
                .into_iter()
                .enumerate()
            {
                for (i, w) in wx.iter().enumerate() {
                    let p = fetch(fx as i64 + i as i64 - 1, fy as i64 + j as i64 - 1);
                    for c in 0..4 {
                        acc[c] += wy * w * p[c];
                    }
                }
            }
        }
        let a = acc[3].clamp(0.0, 1.0);
        // Composite over the background, then un-premultiply.
        let out_a = a + bg_alpha * (1.0 - a);
        let mut px = [<P::Subpixel as Primitive>::DEFAULT_MIN_VALUE; 4];
        for c in 0..3 {
            let v = acc[c].clamp(0.0, a) + background[c] * bg_alpha * (1.0 - a);
            px[c] = to_sample(if out_a > 0.0 { v / out_a } else { 0.0 });
        }
        px[3] = to_sample(out_a);
        *P::from_slice(&px)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GenericImageView, Rgb, RgbImage, Rgba};

    /// A 4×2 image whose pixels are all different, to tell every transform apart.
    fn sample() -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(4, 2, |x, y| {
            Rgb([x as u8 * 60, y as u8 * 200, 7])
        }))
    }

    #[test]
    fn right_angles_are_exact() {
        let img = sample();
        let r90 = rotate(img.clone(), false, 90.0, false);
        assert_eq!(r90.dimensions(), (2, 4));
        // Clockwise: the bottom-left pixel becomes the top-left one.
        assert_eq!(r90.get_pixel(0, 0), img.get_pixel(0, 1));
        let r180 = rotate(img.clone(), false, 180.0, false);
        assert_eq!(r180.get_pixel(0, 0), img.get_pixel(3, 1));
        let r270 = rotate(img.clone(), false, 270.0, false);
        assert_eq!(r270.get_pixel(0, 0), img.get_pixel(3, 0));
        let mirrored = rotate(img.clone(), true, 0.0, false);
        assert_eq!(mirrored.get_pixel(0, 0), img.get_pixel(3, 0));
        // Mirror first, then rotate.
        let m90 = rotate(img.clone(), true, 90.0, false);
        assert_eq!(m90.get_pixel(0, 0), img.get_pixel(3, 1));
    }

    #[test]
    fn arbitrary_angles_fill_the_bounding_box() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(100, 100, Rgb([200, 100, 50])));
        let out = rotate(img.clone(), false, 45.0, true);
        assert_eq!(out.dimensions(), (141, 141));
        let centre = out.get_pixel(70, 70);
        assert!(
            centre[0].abs_diff(200) <= 1 && centre[1].abs_diff(100) <= 1 && centre[3] == 255,
            "{centre:?}"
        );
        assert_eq!(out.get_pixel(0, 0)[3], 0, "corners are transparent");
        let opaque = rotate(img, false, 45.0, false);
        assert_eq!(
            opaque.get_pixel(0, 0),
            Rgba([0, 0, 0, 255]),
            "corners are black without alpha"
        );
    }

    #[test]
    fn rotation_is_clockwise() {
        // A red dot right of centre must move below centre after a clockwise quarter-ish turn.
        let mut img = RgbImage::from_pixel(41, 41, Rgb([255, 255, 255]));
        for y in 18..23 {
            for x in 32..37 {
                img.put_pixel(x, y, Rgb([255, 0, 0]));
            }
        }
        let out = rotate(DynamicImage::ImageRgb8(img), false, 89.0, false).to_rgb8();
        let (w, h) = out.dimensions();
        let p = out.get_pixel(w / 2, h / 2 + 14);
        assert!(p[0] > 200 && p[1] < 80, "{p:?}");
    }
}
