//! Tessera: a IIIF Image API 3.0 server and personalized-image engine.
//!
//! - [`iiif`]: the request grammar, the planner and info.json — pure code.
//! - [`source`]: identifiers to files, headers without decoding.
//! - [`pipeline`]: decode → crop → resize → rotate → quality → encode.
//! - [`template`]: personalized-image templates, fields, signing and sealing — pure code.
//! - [`overlay`]: drawing a template (text, pictures, shapes) into the canvas IIIF renders.
//! - [`pyramid`]: pyramid derivatives of large flat sources.
//! - [`http`]: the actix-web edge.
//! - [`ingest`]: bulk cataloguing of the image root.
//! - [`store`]: the SQLite asset catalogue and the template store.
//! - [`cache`]: the derivative disk cache and request coalescing.
//! - [`metrics`]: Prometheus series.
//! - [`config`]: layered configuration.

pub mod cache;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod iiif;
pub mod ingest;
pub mod metrics;
pub mod overlay;
pub mod pipeline;
pub mod pyramid;
pub mod render;
pub mod source;
pub mod store;
pub mod template;
