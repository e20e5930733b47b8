//! Decode stage: the whole source into memory, with its EXIF orientation applied so that
//! pixel coordinates match what info.json reports.

use image::DynamicImage;
use image::metadata::Orientation;

use super::PipelineError;
use crate::source::{SourceInfo, open_reader};

/// Decodes `source` (GIF: its first frame), refusing to allocate more than `max_bytes`.
pub fn decode(source: &SourceInfo, max_bytes: u64) -> Result<DynamicImage, PipelineError> {
    let mut reader = open_reader(&source.path)?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(max_bytes);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| PipelineError::Decode(e.to_string()))?;
    let orientation =
        image::ImageDecoder::orientation(&mut decoder).unwrap_or(Orientation::NoTransforms);
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|e| PipelineError::Decode(e.to_string()))?;
    image.apply_orientation(orientation);
    Ok(image)
}
