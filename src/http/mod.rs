//! The HTTP edge: actix-web server, routes, CORS, request logs. Handlers only translate:
//! paths are parsed by [`crate::iiif`], everything after by [`crate::render`] off the async
//! executor; responses are built in `respond`, errors become statuses in [`error`].
//!
//! Inside: `mod.rs` (server, middleware) → `api` (the admin/auth endpoint table) → handlers
//! (`iiif`, `personalized`, `admin`, `template_admin`, `team_admin`, `pictures`, `assets`,
//! `session`, `reports`, `ops`, `studio`) → `access`, `respond` → `state`, `error`; nothing points back up.

mod access;
mod admin;
pub mod api;
mod assets;
mod datasets;
pub mod error;
mod iiif;
pub mod negotiate;
mod ops;
mod personalized;
mod pictures;
mod reports;
mod respond;
mod session;
mod state;
mod studio;
mod team_admin;
mod template_admin;

use std::net::TcpListener;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, guard, web};

pub use error::HttpError;
pub use state::AppState;
use state::RouteName;

/// Binds, prints the address it listens on (one line on stdout, for scripts), and serves
/// until SIGINT/SIGTERM.
pub async fn serve(state: AppState) -> std::io::Result<()> {
    let listener = TcpListener::bind(&state.config.server.bind).map_err(|e| {
        std::io::Error::new(e.kind(), format!("bind {}: {e}", state.config.server.bind))
    })?;
    let usage = state.render.usage.clone();
    let served = serve_on(listener, state).await;
    // Stopped (SIGTERM, SIGINT): the last counts are written now, not lost.
    if let Err(e) = usage.flush() {
        tracing::warn!(error = %e, "could not write the last usage counts");
    }
    served
}

/// Serves on a bound listener (tests bind port 0 and read the address first).
pub async fn serve_on(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let workers = match state.config.server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let prefix = state.config.server.prefix.clone();
    tracing::info!(%addr, prefix, root = %state.config.source.root.display(), workers, "serving");
    println!("tessera listening on http://{addr}{prefix}");
    let state = web::Data::new(state);
    // Expired data-set rows go, with their renders, about once a minute.
    let sweeping = state.clone();
    actix_web::rt::spawn(async move {
        let mut every = actix_web::rt::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            let st = sweeping.clone();
            match web::block(move || st.render.sweep_expired_rows()).await {
                Ok(Ok(0)) => {}
                Ok(Ok(rows)) => tracing::info!(rows, "expired data-set rows removed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "could not remove expired data-set rows"),
                Err(e) => tracing::warn!(error = %e, "expired-row sweep did not run"),
            }
        }
    });
    HttpServer::new(move || {
        let pattern = format!("{prefix}/{{tail:.*}}");
        // Images are for every origin; the admin and auth API for none but its own.
        let any_origin = || {
            DefaultHeaders::new()
                .add((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
                .add((
                    header::ACCESS_CONTROL_EXPOSE_HEADERS,
                    "Link, ETag, Last-Modified, X-Tessera-Error, X-Tessera-Refused, X-Tessera-Fallbacks",
                ))
        };
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(observe))
            .configure(ops::routes)
            .configure(api::routes)
            .configure(studio::routes)
            .service(
                web::resource(pattern)
                    .wrap(any_origin())
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

/// Outside the prefix: preflights are answered (not for the admin and auth API, which is
/// not open to other origins), everything else is 404.
async fn fallback(req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let private = req.path().starts_with("/admin/") || req.path().starts_with("/auth/");
    if req.method() == actix_web::http::Method::OPTIONS && !private {
        Ok(preflight(req).await)
    } else {
        Err(HttpError::NoRoute)
    }
}

/// A request id unique in this process and unlikely to repeat across restarts: the start
/// time and a counter.
fn request_id() -> String {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static START: LazyLock<u64> = LazyLock::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    });
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{:x}-{:x}", *START, NEXT.fetch_add(1, Ordering::Relaxed))
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
    let id = request_id();
    req.extensions_mut().insert(access::RequestId(id.clone()));
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    if let Ok(v) = header::HeaderValue::from_str(&id) {
        headers.insert(header::HeaderName::from_static("x-request-id"), v);
    }
    let rate = res
        .request()
        .extensions()
        .get::<crate::auth::RateDecision>()
        .cloned();
    if let Some(r) = rate {
        let headers = res.headers_mut();
        for (name, value) in [
            ("ratelimit-limit", r.limit as u64),
            ("ratelimit-remaining", r.remaining as u64),
            ("ratelimit-reset", r.reset_secs),
        ] {
            headers.insert(header::HeaderName::from_static(name), value.into());
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let route = res
        .request()
        .extensions()
        .get::<RouteName>()
        .map_or("other", |r| r.0);
    let status = res.status().as_u16();
    if let Some(state) = state {
        let m = &state.render.metrics;
        m.requests
            .with_label_values(&[route, res.status().as_str()])
            .inc();
        m.request_seconds
            .with_label_values(&[route])
            .observe(elapsed);
    }
    tracing::info!(%method, path, route, status, ms = elapsed * 1000.0, request_id = id, "request");
    Ok(res)
}
