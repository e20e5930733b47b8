//! Quality stage (§4.4): `default`/`color` keep the pixels, `gray` converts to luminance
//! (keeping bit depth and alpha), `bitonal` thresholds luminance at 50% to pure black and
//! white.

use image::{DynamicImage, GrayAlphaImage, GrayImage, LumaA};

use crate::iiif::Quality;

/// Applies `quality` to `image`.
pub fn apply(image: DynamicImage, quality: Quality) -> DynamicImage {
    match quality {
        Quality::Default | Quality::Color => image,
        Quality::Gray => image.grayscale(),
        Quality::Bitonal => bitonal(&image),
    }
}

fn bitonal(image: &DynamicImage) -> DynamicImage {
    let threshold = |l: u8| if l >= 128 { 255 } else { 0 };
    if image.color().has_alpha() {
        let mut la: GrayAlphaImage = image.to_luma_alpha8();
        for p in la.pixels_mut() {
            *p = LumaA([threshold(p[0]), p[1]]);
        }
        DynamicImage::ImageLumaA8(la)
    } else {
        let mut l: GrayImage = image.to_luma8();
        for p in l.pixels_mut() {
            p[0] = threshold(p[0]);
        }
        DynamicImage::ImageLuma8(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn gray_and_bitonal() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(3, 1, |x, _| match x {
            0 => Rgb([250, 240, 230]),
            1 => Rgb([20, 30, 40]),
            _ => Rgb([0, 200, 0]),
        }));
        let gray = apply(img.clone(), Quality::Gray);
        assert_eq!(gray.color(), image::ColorType::L8);
        let b = apply(img.clone(), Quality::Bitonal).to_luma8();
        assert_eq!(b.as_raw(), &vec![255, 0, 255]);
        assert_eq!(apply(img.clone(), Quality::Color), img);
    }
}
