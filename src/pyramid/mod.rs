//! Pyramid derivatives: large flat sources rewritten once as tiled pyramidal TIFFs under the
//! data directory, then read like any pyramidal TIFF.

pub mod write;
