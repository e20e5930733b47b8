//! The HTTP edge: actix-web server, routes, CORS, request logs. Handlers parse with
//! [`crate::iiif`], resolve with [`crate::source`] and render with [`crate::pipeline`] off the
//! async executor; errors become statuses in [`error`].

pub mod error;
mod iiif;
pub mod negotiate;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, guard, web};

use crate::config::Config;
use crate::iiif::{Format, Limits};
use crate::pipeline::RenderOptions;
pub use error::HttpError;

/// Everything a request handler needs, built once at start-up.
pub struct AppState {
    pub config: Config,
    pub limits: Limits,
    pub render: RenderOptions,
    pub preferred_formats: Vec<Format>,
    /// The image root, canonicalised.
    pub root: PathBuf,
}

impl AppState {
    /// Checks the configuration against the machine (root readable, cache folder writable).
    pub fn new(config: Config) -> std::io::Result<AppState> {
        let root = config.source.root.canonicalize().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("image root {}: {e}", config.source.root.display()),
            )
        })?;
        std::fs::create_dir_all(&config.cache.dir).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cache folder {}: {e}", config.cache.dir.display()),
            )
        })?;
        Ok(AppState {
            limits: config.limits(),
            render: config.render_options(),
            preferred_formats: config.preferred_formats().map_err(std::io::Error::other)?,
            root,
            config,
        })
    }
}

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
    tracing::info!(%addr, prefix, root = %state.root.display(), workers, "serving");
    println!("tessera listening on http://{addr}{prefix}");
    let state = web::Data::new(state);
    HttpServer::new(move || {
        let pattern = format!("{prefix}/{{tail:.*}}");
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(log_request))
            .wrap(
                DefaultHeaders::new()
                    .add((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
                    .add((
                        header::ACCESS_CONTROL_EXPOSE_HEADERS,
                        "Link, ETag, Last-Modified, X-Tessera-Error",
                    )),
            )
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

/// One structured log line per request. The query string is left out on purpose: later
/// features carry personal data there.
async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_string();
    let res = next.call(req).await?;
    tracing::info!(
        %method,
        path,
        status = res.status().as_u16(),
        ms = start.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(res)
}
