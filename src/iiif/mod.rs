//! The IIIF Image API 3.0 core: grammar, planning and the info.json document. Pure code over
//! plain data; no I/O.

pub mod grammar;
pub mod info;
pub mod plan;

pub use grammar::{Format, IiifPath, ImageRequest, ParseError, Quality};
pub use plan::{Limits, Plan, PlanError, Read, Rect};
