//! Personalized images over IIIF: `tpl~{name}~{version}` (fields from the query, signed when
//! not open), `tpl~{name}~{version}~{token}` (fields sealed in the token) and
//! `tpl~{name}~draft` (admin only, watermarked, never cached). The template is drawn at canvas
//! size by [`crate::overlay`], then region → size → rotation → quality → format apply as for
//! any image, so info.json, tiles and every IIIF form work on it.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use lru::LruCache;

use super::iiif::{Validators, cacheable, info_response, links, render};
use super::negotiate::unix_seconds;
use super::{AppState, HttpError, blocking};
use crate::cache::{CacheKey, digest};
use crate::config::Config;
use crate::iiif::info::{InfoParams, info_json};
use crate::iiif::{ImageRequest, Plan, plan};
use crate::overlay::{self, Content, Coverage, Fonts, Underlay, load};
use crate::pipeline::{Decoded, RenderOptions, Rendered, encode, transform};
use crate::store::templates::TemplateStore;
use crate::template::fields::{Denylist, Field};
use crate::template::limit::RenderBudget;
use crate::template::model::{Template, parse_template};
use crate::template::request::{
    Inputs, Personalized, Pin, Policy, TemplateId, compile_fields, inputs, personalize,
};
use crate::template::signing::Keys;

/// Templates and what rendering them needs, built once at start-up.
pub struct Templates {
    pub store: TemplateStore,
    pub keys: Option<Keys>,
    pub denylist: Denylist,
    pub fonts: Fonts,
    pub coverage: Coverage,
    pub budget: RenderBudget,
    pub max_field_chars: usize,
    pub max_url_bytes: usize,
    pub cache_control: String,
    /// Parsed published versions: they never change, so they are parsed once.
    versions: Mutex<LruCache<(String, u32), Arc<Loaded>>>,
    /// Drawn underlays (background, base image, leading static layers) by template content
    /// and base image content.
    underlays: Mutex<LruCache<String, Arc<Underlay>>>,
}

/// Underlays kept in memory, and the largest one kept (bytes of pixels): at most 64 MB.
const UNDERLAYS: usize = 8;
const MAX_UNDERLAY_BYTES: usize = 8 << 20;

/// A template version (or draft) ready to render.
pub struct Loaded {
    pub template: Template,
    pub fields: BTreeMap<String, Field>,
    pub content_hash: String,
    /// When the version was published (the draft: last saved).
    pub modified: SystemTime,
}

impl Loaded {
    fn new(
        document: &str,
        content_hash: String,
        modified: SystemTime,
    ) -> Result<Loaded, HttpError> {
        let template = parse_template(document.as_bytes()).map_err(HttpError::InvalidTemplate)?;
        Ok(Loaded {
            fields: compile_fields(&template),
            template,
            content_hash,
            modified,
        })
    }
}

impl Templates {
    /// Opens the template tables of the catalogue database and loads the fonts.
    pub fn open(config: &Config) -> std::io::Result<Templates> {
        let fonts = Fonts::load(config.fonts_dir())?;
        let t = &config.templates;
        Ok(Templates {
            store: TemplateStore::open(&config.catalogue_path()).map_err(std::io::Error::other)?,
            keys: config.signing_keys().map_err(std::io::Error::other)?,
            denylist: config.denylist().map_err(std::io::Error::other)?,
            coverage: fonts.coverage(),
            fonts,
            budget: RenderBudget::new(t.renders_per_minute),
            max_field_chars: t.max_field_chars,
            max_url_bytes: t.max_url_bytes,
            cache_control: t.cache_control.clone(),
            versions: Mutex::new(LruCache::new(NonZeroUsize::new(256).expect("positive"))),
            underlays: Mutex::new(LruCache::new(
                NonZeroUsize::new(UNDERLAYS).expect("positive"),
            )),
        })
    }

    /// The template `id` names, or 404. Blocking (SQLite).
    pub fn load(&self, id: &TemplateId) -> Result<Arc<Loaded>, HttpError> {
        match id.pin {
            Pin::Draft => {
                let d = self
                    .store
                    .draft(&id.name)?
                    .ok_or(HttpError::TemplateNotFound)?;
                Ok(Arc::new(Loaded::new(
                    &d.document,
                    d.content_hash,
                    d.updated_at,
                )?))
            }
            Pin::Version(v) => {
                let key = (id.name.clone(), v);
                if let Some(hit) = self.versions.lock().expect("lock").get(&key) {
                    return Ok(hit.clone());
                }
                let found = self
                    .store
                    .version(&id.name, v)?
                    .ok_or(HttpError::TemplateNotFound)?;
                let loaded = Arc::new(Loaded::new(
                    &found.document,
                    found.content_hash,
                    found.published_at,
                )?);
                self.versions.lock().expect("lock").put(key, loaded.clone());
                Ok(loaded)
            }
        }
    }

    /// The underlay of a template with its chosen base image: from memory, or drawn (and
    /// kept, when small enough). Runs on a render thread.
    fn underlay(
        &self,
        loaded: &Loaded,
        chosen: &load::Chosen,
        contents: &[Content],
        options: &RenderOptions,
    ) -> Result<Arc<Underlay>, HttpError> {
        let base_hash = chosen
            .base
            .as_ref()
            .map_or("", |b| b.asset.content_hash.as_str());
        let key = digest(&[
            loaded.content_hash.as_bytes(),
            base_hash.as_bytes(),
            format!("{:?}", options.filter).as_bytes(),
        ]);
        if let Some(hit) = self.underlays.lock().expect("lock").get(&key) {
            return Ok(hit.clone());
        }
        let template = &loaded.template;
        let base = load::read_base(template, chosen, options)?;
        let under = Arc::new(overlay::with_shaper(&self.fonts, |shaper| {
            overlay::underlay(template, base.as_ref(), contents, shaper)
        })?);
        if under.bytes() <= MAX_UNDERLAY_BYTES {
            self.underlays.lock().expect("lock").put(key, under.clone());
        }
        Ok(under)
    }

    /// The policy for field values at `now`.
    fn policy<'a>(&'a self, covers: &'a dyn Fn(&str) -> bool, now: u64) -> Policy<'a> {
        Policy {
            keys: self.keys.as_ref(),
            denylist: &self.denylist,
            covers,
            max_field_chars: self.max_field_chars,
            now,
        }
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    unix_seconds(SystemTime::now())
}

/// The query as decoded name/value pairs (`+` is a space), in order.
pub fn query_pairs(raw: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The checks every personalized request passes first: URL length, admin for drafts.
fn admit(req: &HttpRequest, state: &AppState, id: &TemplateId) -> Result<(), HttpError> {
    let length = req.uri().path().len() + req.uri().query().map_or(0, |q| q.len() + 1);
    if length > state.templates.max_url_bytes {
        return Err(HttpError::UriTooLong(state.templates.max_url_bytes));
    }
    if id.pin == Pin::Draft {
        super::admin::authorize(req, state)?;
    }
    Ok(())
}

/// info.json of a personalized image: the canvas, as any image.
pub async fn info(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    base: &str,
    identifier: &str,
    id: TemplateId,
) -> Result<HttpResponse, HttpError> {
    admit(req, state, &id)?;
    let st = state.clone();
    let draft = id.pin == Pin::Draft;
    let loaded = blocking(move || st.templates.load(&id)).await?;
    let c = &loaded.template.canvas;
    let tile = state.config.image.tile_size;
    let doc = info_json(&InfoParams {
        id: &format!(
            "{base}/{}",
            crate::iiif::grammar::encode_identifier(identifier)
        ),
        width: c.width,
        height: c.height,
        limits: state.limits,
        tile: (tile, tile),
        levels: &[],
        preferred_formats: &state.preferred_formats,
        min_size: state.config.image.sizes_min_edge,
    });
    Ok(info_response(
        req,
        &doc,
        loaded.modified,
        cache_control(state, draft),
    ))
}

fn cache_control(state: &AppState, draft: bool) -> &str {
    if draft {
        "no-store"
    } else {
        &state.templates.cache_control
    }
}

/// What the blocking part of a personalized request decided.
struct Decided {
    loaded: Arc<Loaded>,
    personalized: Personalized,
    chosen: load::Chosen,
    plan: Plan,
    canonical: String,
    key: CacheKey,
    /// Why the request's fields were refused, when the template is for email and answers
    /// with its all-defaults image instead of 403.
    refused: Option<&'static str>,
    fresh: bool,
    hit: Option<bytes::Bytes>,
}

/// A personalized image.
pub async fn image(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    base: &str,
    identifier: &str,
    id: TemplateId,
    request: ImageRequest,
) -> Result<HttpResponse, HttpError> {
    admit(req, state, &id)?;
    let draft = id.pin == Pin::Draft;
    let name = id.name.clone();
    let path = req.uri().path().to_string();
    let query = query_pairs(req.query_string());
    let validators = Validators::of(req);
    let st = state.clone();
    let d = blocking(move || decide(&st, &id, &path, &query, &request, validators)).await?;
    let mut res = if draft {
        let mut r = HttpResponse::Ok();
        r.insert_header((header::CACHE_CONTROL, "no-store"));
        r
    } else {
        cacheable(
            &d.key.etag(),
            d.loaded.modified,
            cache_control(state, false),
            d.fresh,
        )
    };
    res.insert_header(links(base, identifier, &d.canonical));
    if let Some(why) = d.refused {
        res.insert_header(("X-Tessera-Refused", why));
    }
    if !d.personalized.fallbacks.is_empty() {
        let list: Vec<String> = d
            .personalized
            .fallbacks
            .iter()
            .map(|(f, why)| format!("{f}={why}"))
            .collect();
        res.insert_header(("X-Tessera-Fallbacks", list.join(", ")));
    }
    if d.fresh {
        return Ok(res.finish());
    }
    let format = d.plan.format;
    let bytes = match d.hit {
        Some(hit) => hit,
        None => {
            let st = state.clone();
            let gate = move || {
                st.templates
                    .budget
                    .take(&name, unix_now())
                    .map_err(HttpError::RateLimited)
            };
            let pixels = 4
                * (d.loaded.template.canvas.width as u64)
                * d.loaded.template.canvas.height as u64;
            let Decided {
                loaded,
                personalized,
                chosen,
                plan,
                ..
            } = d;
            render(state, d.key, pixels * 2, !draft, gate, move |st| {
                draw(st, &loaded, personalized, &chosen, &plan, draft)
            })
            .await?
        }
    };
    Ok(res.content_type(format.media_type()).body(bytes))
}

/// Loads the template, decides the fields and pictures, plans, and looks in the cache.
/// Blocking.
fn decide(
    state: &AppState,
    id: &TemplateId,
    path: &str,
    query: &[(String, String)],
    request: &ImageRequest,
    validators: Validators,
) -> Result<Decided, HttpError> {
    let t = &state.templates;
    let loaded = t.load(id)?;
    let template = &loaded.template;
    let covers = |s: &str| t.coverage.covers(s);
    let policy = t.policy(&covers, unix_now());
    let (given, refused) = match inputs(template, id, path, query, &policy) {
        Ok(given) => (given, None),
        Err(why) => {
            state
                .metrics
                .template_refusals
                .with_label_values(&[why.code()])
                .inc();
            if !template.email {
                return Err(HttpError::Refused(why));
            }
            (Inputs::default(), Some(why.code()))
        }
    };
    let personalized = personalize(template, &loaded.fields, &given, &policy);
    let chosen = load::choose(template, &personalized.layers, &state.sources)?;
    let c = &template.canvas;
    let plan = plan::plan(request, c.width, c.height, &state.limits)?;
    let canonical = plan.canonical();
    let key = CacheKey::new(
        &cache_content(&id.name),
        &[
            canonical.as_bytes(),
            state.render_fingerprint.as_bytes(),
            loaded.content_hash.as_bytes(),
            personalized.normalized.as_bytes(),
            chosen.content_hashes().as_bytes(),
        ],
        plan.format.extension(),
    );
    // Drafts are never cached, nor answered 304.
    let (fresh, hit) = match id.pin {
        Pin::Draft => (false, None),
        Pin::Version(_) => validators.check(state, &key, loaded.modified),
    };
    Ok(Decided {
        loaded,
        personalized,
        chosen,
        plan,
        canonical,
        key,
        refused,
        fresh,
        hit,
    })
}

/// Where a template's renders live in the derivative cache (all versions together, so one
/// purge removes them).
pub fn cache_content(name: &str) -> String {
    digest(&[b"template", name.as_bytes()])
}

/// Draws the canvas, then applies the IIIF stages and encodes. Runs on a render thread.
fn draw(
    state: &AppState,
    loaded: &Loaded,
    personalized: Personalized,
    chosen: &load::Chosen,
    plan: &Plan,
    draft: bool,
) -> Result<Rendered, HttpError> {
    let start = Instant::now();
    let template = &loaded.template;
    let contents = load::read_layers(template, personalized.layers, chosen, &state.render);
    let under = state
        .templates
        .underlay(loaded, chosen, &contents, &state.render)?;
    let decode_time = start.elapsed();
    let composed = overlay::with_shaper(&state.templates.fonts, |shaper| {
        overlay::compose(template, &under, &contents, shaper, draft)
    })?;
    let image = transform(Decoded::whole(composed), plan, state.render.filter)?;
    let bytes = encode::encode(&image, plan.format, &state.render.encode)?;
    state
        .metrics
        .template_renders
        .with_label_values(&[if draft { "draft" } else { "published" }])
        .inc();
    Ok(Rendered {
        bytes,
        decode_time,
        total_time: start.elapsed(),
    })
}
