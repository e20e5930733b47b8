//! Tessera: a IIIF Image API 3.0 server and personalized-image engine.
//!
//! - [`iiif`]: the request grammar, the planner and info.json — pure code.
//! - [`source`]: where source bytes live (`SourceStore`), headers without decoding.
//! - [`pipeline`]: decode → crop → resize → rotate → quality → encode.
//! - [`template`]: personalized-image templates, fields, filters, rules and variants, signing
//!   and sealing — pure code.
//! - [`dataset`]: recipient tables (CSV, JSON) read with every bad row's line — pure code.
//! - [`overlay`]: drawing a template (text, pictures, shapes) into the canvas IIIF renders.
//! - [`pyramid`]: pyramid derivatives of large flat sources.
//! - [`jpeg`]: JPEG in the DCT domain — stored tiles joined without decoding pixels; pure code.
//! - [`render`]: the render service — one path from a resolved request (image or template)
//!   to bytes: plan, cache key, coalescing, admission, render threads, cache write.
//! - [`http`]: the actix-web edge; handlers only translate.
//! - [`error`]: stable error codes; [`clock`]: time as a dependency.
//! - [`access`]: who is asking (token, API key, session), their roles, the audit trail.
//! - [`auth`]: credentials — Argon2id passwords, API key secrets, sign-in throttling, rate limits.
//! - [`team`]: projects, roles and capabilities, principals, review — pure code.
//! - [`ingest`]: bulk cataloguing of the image root.
//! - [`store`]: the SQLite asset catalogue (identifier → current asset) and the template store.
//! - [`cache`]: the derivative cache (`DerivativeCache`, on disk) and request coalescing.
//! - [`metrics`]: Prometheus series.
//! - [`usage`]: per-template usage counters (loads, renders, fallbacks, clients), batched to SQLite.
//! - [`config`]: layered configuration.

pub mod access;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod config;
pub mod dataset;
pub mod error;
pub mod http;
pub mod iiif;
pub mod ingest;
pub mod jpeg;
pub mod metrics;
pub mod overlay;
pub mod pipeline;
pub mod pyramid;
pub mod render;
pub mod source;
pub mod store;
pub mod team;
pub mod template;
pub mod usage;
