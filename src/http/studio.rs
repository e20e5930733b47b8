//! Studio, the web app, and the front page. Studio's files (`studio/` in the repository) are
//! embedded in the binary; debug builds read them from disk instead, so editing them needs no
//! rebuild. Every page is answered with a strict Content-Security-Policy: scripts and styles
//! from this origin only, no inline script, no eval, never framed.

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, guard, web};

use super::HttpError;
use super::respond::base_url;
use super::state::{AppState, RouteName};

#[derive(rust_embed::Embed)]
#[folder = "studio/"]
#[exclude = "*.test.mjs"]
#[exclude = "vendor/refresh"]
#[exclude = "*.md"]
struct Files;

/// What the browser may load on Studio's pages: only this origin. Images may also be `blob:`
/// (previews fetched to read their headers) and `data:` (the viewer's own icons).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headers every page and file of Studio carries.
fn guarded() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=(), payment=()",
        ))
}

/// `/`, `/docs`, `/studio` and `/studio/…`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let read = || web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
    cfg.service(
        web::resource("/")
            .wrap(guarded())
            .route(read().to(front_page)),
    )
    .service(
        web::resource("/docs")
            .wrap(guarded())
            .route(read().to(docs)),
    )
    .service(web::resource("/studio").route(read().to(|| async {
        HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, "/studio/"))
            .finish()
    })))
    .service(
        web::scope("/studio")
            .wrap(guarded())
            .route("/{file:.*}", read().to(file)),
    );
}

/// The content type of a Studio file, by extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map_or("", |(_, e)| e) {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// One of Studio's files; the app itself for `/studio/`. Revalidated on every use (`no-cache`
/// with a content ETag), so a new release is picked up at once and unchanged files cost a 304.
async fn file(req: HttpRequest) -> Result<HttpResponse, HttpError> {
    req.extensions_mut().insert(RouteName("studio"));
    let path = match req.match_info().get("file").unwrap_or_default() {
        "" => "index.html",
        p => p,
    };
    // Debug builds read from disk: nothing outside the folder may be named.
    let inside = path
        .split('/')
        .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'));
    if !inside {
        return Err(HttpError::NoRoute);
    }
    let found = Files::get(path).ok_or(HttpError::NoRoute)?;
    let etag = format!("\"{}\"", hex(&found.metadata.sha256_hash()[..12]));
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, etag));
    if matches {
        return Ok(res.finish());
    }
    Ok(res
        .insert_header((header::CONTENT_TYPE, content_type(path)))
        .body(found.data.into_owned()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `/`: what this server is and where to go: Studio, the IIIF service, the API and the docs.
async fn front_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    req.extensions_mut().insert(RouteName("front"));
    let iiif = escape(&base_url(&req, &state));
    let version = env!("CARGO_PKG_VERSION");
    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera</title>
<link rel="stylesheet" href="/studio/studio.css">
<link rel="icon" href="/studio/favicon.svg" type="image/svg+xml">
</head>
<body>
<main class="front">
<h1><img src="/studio/favicon.svg" alt="" width="32" height="32"> Tessera {version}</h1>
<p>A self-hosted image server: IIIF Image API 3.0 for deep zoom and responsive images, and personalized images from templates.</p>
<ul class="links">
<li><a href="/studio/">Studio</a>: design templates, review and publish them, get email tags, browse images and usage.</li>
<li>IIIF Image API 3.0 service: <code>{iiif}/{{identifier}}/info.json</code> (identifiers are listed in Studio under Assets).</li>
<li><a href="/admin/openapi.json">Admin API</a>: its OpenAPI 3.1 document.</li>
<li><a href="/docs">Documentation</a>: the README, with every setting and endpoint.</li>
</ul>
</main>
</body>
</html>
"#
    );
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(page)
}

/// `/docs`: the README, which documents every setting, endpoint and command, as text.
async fn docs(req: HttpRequest) -> HttpResponse {
    req.extensions_mut().insert(RouteName("front"));
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(include_str!("../../README.md"))
}

/// Text made safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
