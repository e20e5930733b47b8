//! The HTTP edge: actix-web server, routes, CORS, request logs. Handlers parse with
//! [`crate::iiif`], resolve with [`crate::source`] and render with [`crate::pipeline`] off the
//! async executor; errors become statuses in [`error`].

mod admin;
pub mod error;
mod iiif;
pub mod negotiate;
mod ops;
pub mod personalized;
mod template_admin;

use std::net::TcpListener;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, guard, web};

use std::sync::Arc;

use actix_web::HttpMessage;
use bytes::Bytes;

use crate::cache::coalesce::Coalescer;
use crate::cache::{CacheCounters, CacheKey, DiskCache};
use crate::config::Config;
use crate::iiif::{Format, Limits};
use crate::metrics::Metrics;
use crate::pipeline::RenderOptions;
use crate::pipeline::admission::Admission;
use crate::pipeline::pool::RenderPool;
use crate::pyramid::{PyramidCounters, Pyramids};
use crate::source::Sources;
use crate::store::Catalogue;
pub use error::HttpError;
use personalized::Templates;

/// Everything a request handler needs, built once at start-up.
pub struct AppState {
    pub config: Config,
    pub limits: Limits,
    pub render: RenderOptions,
    /// Encoder and filter settings as text: part of every derivative's cache key, so a
    /// configuration change never serves bytes made under the old one.
    pub render_fingerprint: String,
    pub preferred_formats: Vec<Format>,
    pub sources: Sources,
    pub cache: Option<Arc<DiskCache>>,
    pub coalescer: Coalescer<CacheKey, Result<Bytes, Arc<HttpError>>>,
    pub admission: Admission,
    /// The threads renders run on, as many as admission has slots.
    pub pool: RenderPool,
    pub metrics: Metrics,
    /// Pyramid derivatives of large flat sources; `None` when `pyramid.min_pixels` is 0.
    pub pyramids: Option<Arc<Pyramids>>,
    /// Personalized-image templates, keys and fonts.
    pub templates: Templates,
}

impl AppState {
    /// Opens the catalogue and the cache and checks the configuration against the machine.
    pub fn new(config: Config) -> std::io::Result<AppState> {
        let context = |what: String| {
            move |e: std::io::Error| std::io::Error::new(e.kind(), format!("{what}: {e}"))
        };
        let catalogue = Catalogue::open(&config.catalogue_path(), config.data.memory_entries)
            .map_err(std::io::Error::other)?;
        let sources = Sources::new(
            &config.source.root,
            config.source.max_pixels,
            Arc::new(catalogue),
        )
        .map_err(context(format!(
            "image root {}",
            config.source.root.display()
        )))?;
        let cache = if config.cache.enabled {
            Some(
                DiskCache::open(&config.cache.dir, config.cache_limits()).map_err(context(
                    format!("cache folder {}", config.cache.dir.display()),
                ))?,
            )
        } else {
            None
        };
        let counters = cache
            .as_ref()
            .map_or_else(CacheCounters::default, |c| c.counters.clone());
        let render = config.render_options();
        let pyramids = if config.pyramid.min_pixels > 0 {
            let settings = config.pyramid_settings();
            let dir = settings.dir.display().to_string();
            Some(
                Pyramids::start(settings, config.data.memory_entries)
                    .map_err(context(format!("pyramid folder {dir}")))?,
            )
        } else {
            None
        };
        let pyramid_counters = pyramids
            .as_ref()
            .map_or_else(PyramidCounters::default, |p| p.counters.clone());
        Ok(AppState {
            limits: config.limits(),
            render_fingerprint: format!("{render:?}"),
            render,
            preferred_formats: config.preferred_formats().map_err(std::io::Error::other)?,
            sources,
            cache,
            coalescer: Coalescer::default(),
            admission: Admission::new(config.admission_limits()),
            pool: RenderPool::new(config.admission_limits().concurrent)?,
            metrics: Metrics::new(&counters, &pyramid_counters),
            pyramids,
            templates: Templates::open(&config)?,
            config,
        })
    }
}

/// Runs blocking work (file system, SQLite, pixels) on the blocking pool, off the async
/// executor, and brings its error — or the pool's — into [`HttpError`].
pub(crate) async fn blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, HttpError>
where
    T: Send + 'static,
    E: Into<HttpError> + Send + 'static,
{
    web::block(work)
        .await
        .map_err(|e| HttpError::Task(e.to_string()))?
        .map_err(Into::into)
}

/// The route a request took, for metrics labels (set by handlers as a request extension).
#[derive(Debug, Clone, Copy)]
pub struct RouteName(pub &'static str);

/// Binds, prints the address it listens on (one line on stdout, for scripts), and serves
/// until SIGINT/SIGTERM.
pub async fn serve(state: AppState) -> std::io::Result<()> {
    let listener = TcpListener::bind(&state.config.server.bind).map_err(|e| {
        std::io::Error::new(e.kind(), format!("bind {}: {e}", state.config.server.bind))
    })?;
    let addr = listener.local_addr()?;
    let workers = match state.config.server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let prefix = state.config.server.prefix.clone();
    tracing::info!(%addr, prefix, root = %state.sources.root().display(), workers, "serving");
    println!("tessera listening on http://{addr}{prefix}");
    let state = web::Data::new(state);
    HttpServer::new(move || {
        let pattern = format!("{prefix}/{{tail:.*}}");
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(observe))
            .wrap(
                DefaultHeaders::new()
                    .add((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
                    .add((
                        header::ACCESS_CONTROL_EXPOSE_HEADERS,
                        "Link, ETag, Last-Modified, X-Tessera-Error, X-Tessera-Refused, X-Tessera-Fallbacks",
                    )),
            )
            .configure(ops::routes)
            .configure(admin::routes)
            .service(
                web::resource(pattern)
                    .route(
                        web::route()
                            .guard(guard::Any(guard::Get()).or(guard::Head()))
                            .to(iiif::handle),
                    )
                    .route(web::route().guard(guard::Options()).to(preflight))
                    .default_service(web::to(|| async {
                        Err::<HttpResponse, _>(HttpError::Method)
                    })),
            )
            .default_service(web::to(fallback))
    })
    .workers(workers)
    .listen(listener)?
    .run()
    .await
}

/// CORS preflight: any origin may GET or HEAD anything.
async fn preflight(req: HttpRequest) -> HttpResponse {
    let requested = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*")
        .to_string();
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, requested))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .insert_header((header::ALLOW, "GET, HEAD, OPTIONS"))
        .finish()
}

/// Outside the prefix: preflights are answered, everything else is 404.
async fn fallback(req: HttpRequest) -> Result<HttpResponse, HttpError> {
    if req.method() == actix_web::http::Method::OPTIONS {
        Ok(preflight(req).await)
    } else {
        Err(HttpError::NoRoute)
    }
}

/// One structured log line and the request metrics per request. The query string is left out
/// on purpose: later features carry personal data there.
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    let elapsed = start.elapsed().as_secs_f64();
    let route = res
        .request()
        .extensions()
        .get::<RouteName>()
        .map_or("other", |r| r.0);
    let status = res.status().as_u16();
    if let Some(state) = state {
        let m = &state.metrics;
        m.requests
            .with_label_values(&[route, res.status().as_str()])
            .inc();
        m.request_seconds
            .with_label_values(&[route])
            .observe(elapsed);
    }
    tracing::info!(%method, path, route, status, ms = elapsed * 1000.0, "request");
    Ok(res)
}
