//! Personalized images, decided without I/O: the template document ([`model`]: parsing and
//! validation with JSON paths), its fields ([`fields`]: merge tags, filters, typed values and
//! their fallbacks), locale-aware formatting ([`format`]), conditions, variants and A/B splits
//! ([`rules`]), what a request may set and what each layer then shows ([`request`]), who may
//! set fields ([`signing`]: signed URLs and sealed tokens with rotating keys), sealing a
//! recipient list ([`batch`]) and the per-template render budget ([`limit`]). Storage is
//! [`crate::store::templates`], drawing [`crate::overlay`], rendering
//! [`crate::render::templates`], the HTTP side `http::personalized`.

pub mod batch;
pub mod fields;
pub mod format;
pub mod limit;
pub mod model;
pub mod request;
pub mod rules;
pub mod signing;
