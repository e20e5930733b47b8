//! Personalized images: templates with merge tags, drawn per recipient. So far the template
//! document ([`model`]: parsing and validation with JSON paths) and its fields ([`fields`]:
//! merge tags, typed values and their fallbacks) — pure code; storage, rendering and URLs
//! build on these.

pub mod fields;
pub mod model;
