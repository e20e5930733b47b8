//! Crop stage, for requests that extract a region at its own size. (When the region is also
//! scaled, the resize stage reads the region straight from the source instead.)

use image::DynamicImage;

use crate::iiif::Rect;

/// Extracts `rect` (already clipped to the image by the planner).
pub fn crop(image: DynamicImage, rect: Rect) -> DynamicImage {
    if rect.x == 0 && rect.y == 0 && rect.w == image.width() && rect.h == image.height() {
        return image;
    }
    image.crop_imm(rect.x, rect.y, rect.w, rect.h)
}
