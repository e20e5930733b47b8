//! What every handler shares: the configuration, the render service and the access service.

use std::sync::Arc;

use actix_web::web;

use super::HttpError;
use crate::access::Access;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::render::{NoHooks, RenderService};

/// Everything a request handler needs, built once at start-up.
pub struct AppState {
    pub config: Config,
    pub render: Arc<RenderService>,
    pub access: Arc<Access>,
}

impl AppState {
    /// Opens the render service (catalogue, cache, pyramids, templates) and the access
    /// service for `config`, on the system clock.
    pub fn new(config: Config) -> std::io::Result<AppState> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let render = RenderService::with(&config, clock.clone(), Arc::new(NoHooks))?;
        AppState::with(config, Arc::new(render), clock)
    }

    /// The state around a given render service and clock (tests hold renders or set time).
    pub fn with(
        config: Config,
        render: Arc<RenderService>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<AppState> {
        Ok(AppState {
            access: Arc::new(Access::open(&config, clock).map_err(std::io::Error::other)?),
            render,
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
