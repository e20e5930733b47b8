//! Operations endpoints: `/metrics`, `/healthz`, `/readyz`.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use super::state::{AppState, RouteName};

/// Registers the operations routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    req.extensions_mut().insert(RouteName("metrics"));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body({
            let r = &state.render;
            r.metrics.render(r.cache.as_deref(), r.admission.waiting())
        })
}

/// Alive: the process answers.
async fn healthz(req: HttpRequest) -> HttpResponse {
    req.extensions_mut().insert(RouteName("health"));
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .body("ok\n")
}

/// Ready: the catalogue answers and the cache folder (when enabled) is writable.
async fn readyz(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    req.extensions_mut().insert(RouteName("health"));
    let st = state.clone();
    let problems = web::block(move || {
        let mut problems = Vec::new();
        if let Err(e) = st.render.sources.catalogue().ping() {
            problems.push(format!("catalogue: {e}"));
        }
        if let Some(c) = &st.render.cache
            && !c.writable()
        {
            problems.push("cache folder is not writable".to_string());
        }
        problems
    })
    .await
    .unwrap_or_else(|e| vec![e.to_string()]);
    let mut res = if problems.is_empty() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    res.insert_header(("Cache-Control", "no-store"));
    if problems.is_empty() {
        res.body("ready\n")
    } else {
        res.body(format!("not ready: {}\n", problems.join("; ")))
    }
}
