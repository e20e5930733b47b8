//! Personalized images: templates with merge tags, drawn per recipient. So far the template
//! document ([`model`]: parsing and validation with JSON paths), its fields ([`fields`]:
//! merge tags, typed values and their fallbacks) and who may fill them ([`signing`]: signed
//! URLs and sealed tokens with rotating keys) — pure code; storage is
//! [`crate::store::templates`]; rendering and the HTTP side build on these.

pub mod batch;
pub mod fields;
pub mod limit;
pub mod model;
pub mod request;
pub mod signing;
