//! Tessera: a IIIF Image API 3.0 server.
//!
//! - [`iiif`]: the request grammar, the planner and info.json — pure code.
//! - [`source`]: identifiers to files, headers without decoding.
//! - [`pipeline`]: decode → crop → resize → rotate → quality → encode.
//! - [`http`]: the actix-web edge.
//! - [`config`]: layered configuration.

pub mod config;
pub mod http;
pub mod iiif;
pub mod pipeline;
pub mod source;
