//! What every handler shares: the configuration and the render service.

use std::sync::Arc;

use actix_web::web;

use super::HttpError;
use crate::config::Config;
use crate::render::RenderService;

/// Everything a request handler needs, built once at start-up.
pub struct AppState {
    pub config: Config,
    pub render: Arc<RenderService>,
}

impl AppState {
    /// Opens the render service (catalogue, cache, pyramids, templates) for `config`.
    pub fn new(config: Config) -> std::io::Result<AppState> {
        Ok(AppState {
            render: Arc::new(RenderService::open(&config)?),
            config,
        })
    }
}

/// Runs blocking work (file system, SQLite, pixels) on the blocking pool, off the async
/// executor, and brings its error — or the pool's — into [`HttpError`].
pub async fn blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, HttpError>
where
    T: Send + 'static,
    E: Into<HttpError> + Send + 'static,
{
    web::block(work)
        .await
        .map_err(HttpError::Task)?
        .map_err(Into::into)
}

/// The route a request took, for metrics labels (set by handlers as a request extension).
#[derive(Debug, Clone, Copy)]
pub struct RouteName(pub &'static str);
