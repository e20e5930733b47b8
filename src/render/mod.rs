//! The render service: one way from a resolved request to bytes, for IIIF images and
//! personalized images alike.
//!
//! [`RenderService::prepare`] (blocking) finds the subject — a catalogued source, or a
//! template with its fields decided — plans the request against it, names the derivative
//! with the one cache-key recipe ([`key`]), and checks the client's validators and the cache.
//! [`RenderService::bytes`] then answers from the cache or renders: once however many
//! identical requests arrive together (coalescing), admitted against the slot, queue and
//! memory limits, on the fixed render threads, stored in the cache afterwards, counted in
//! the metrics. HTTP handlers only translate requests into [`Target`]s and [`Prepared`] into
//! responses.

mod error;
pub mod key;
pub mod templates;
pub mod validators;

pub use error::RenderError;
pub use validators::Validators;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use bytes::Bytes;

use crate::cache::coalesce::Coalescer;
use crate::cache::{CacheCounters, CacheKey, DerivativeCache, DiskCache};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::iiif::info::{InfoParams, info_json};
use crate::iiif::{Format, ImageRequest, Limits, Plan, plan};
use crate::metrics::Metrics;
use crate::pipeline::admission::{Admission, estimated_bytes};
use crate::pipeline::pool::RenderPool;
use crate::pipeline::{RenderOptions, Rendered};
use crate::pyramid::{FilePyramidStore, PyramidCounters, Pyramids};
use crate::source::bands::BandReader;
use crate::source::memory::TileMemory;
use crate::source::{FileStore, Level, SourceError, SourceInfo, SourceStore, StoredSource};
use crate::store::templates::TemplateStore;
use crate::store::{Asset, Catalogue, Sources};
use crate::team::split_qualified;
use crate::template::fields::Fallback;
use crate::template::request::{Pin, TemplateId};
use crate::template::signing::Refused;
use crate::usage::{Event as UsageEvent, Flusher, Subject as UsageSubject, Usage};
use key::{Derivative, Subject, row_tag, template_group};
use templates::{Decision, Templates};

/// Cache writes in flight on the blocking pool before render threads write themselves.
const MAX_PENDING_WRITES: usize = 32;

/// Points where tests hold a render to make requests overlap for sure, instead of hoping
/// renders are slow enough.
pub trait RenderHooks: Send + Sync {
    /// Runs on the render thread, admitted, before the render starts.
    fn before_render(&self) {}
}

/// No hooks: production.
pub struct NoHooks;
impl RenderHooks for NoHooks {}

/// What a request asks for, as the HTTP edge resolved it.
pub enum Target {
    /// A source image, by identifier.
    Image(String),
    /// A personalized image: the template, and the path and query its fields and signature
    /// come from.
    Template {
        id: TemplateId,
        path: String,
        query: Vec<(String, String)>,
        /// An `email` template over a limit: render its all-defaults image, outside the
        /// budget and quota (it is rendered once and then served from the cache).
        overflow: bool,
    },
}

/// What info.json shows besides the image's own size.
#[derive(Debug, Clone)]
pub struct InfoSettings {
    pub tile_size: u32,
    pub sizes_min_edge: u32,
    pub preferred_formats: Vec<Format>,
}

/// A derivative, planned, named and checked against the client's validators and the cache.
pub struct Prepared {
    pub key: CacheKey,
    /// When the subject last changed: the source file, or the template version.
    pub modified: SystemTime,
    /// The canonical form of the request, for the `Link` header.
    pub canonical: String,
    pub format: Format,
    /// The client's copy is current: answer 304.
    pub fresh: bool,
    /// A template draft: never cached, never 304.
    pub draft: bool,
    /// Why an email template's fields were refused (it then shows its defaults).
    pub refused: Option<Refused>,
    /// Fields whose values were not used, and why.
    pub fallbacks: Vec<(String, Fallback)>,
    /// A template for email: over a limit it answers with its defaults, never an error.
    pub email: bool,
    /// What usage is counted against: a published template version.
    pub usage: Option<UsageSubject>,
    /// The variant shown, for templates with variants (`split/variant` when a split chose).
    pub variant: Option<String>,
    /// How long clients and proxies may keep the answer.
    pub keep: Keep,
    /// The answer's bytes when known before any render (not `fresh`): the derivative from the
    /// cache, or a stored tile as it is.
    hit: Option<Bytes>,
    /// What rendering takes; taken by [`RenderService::bytes`].
    job: Option<Job>,
}

/// How long an answer may be kept, besides the configured default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// As configured for images or published versions.
    Configured,
    /// Only defaults show because the fields were refused or all fell back: briefly, so a
    /// mistake is not frozen in inboxes.
    Generic,
    /// It depends on the time: this many seconds.
    Live(u32),
}

/// What rendering a prepared derivative takes.
enum Job {
    Source {
        asset: Arc<Asset>,
        /// The pyramid to read instead of the source, when it has one.
        pyramid: Option<Arc<SourceInfo>>,
        plan: Plan,
    },
    Template {
        name: String,
        project: String,
        /// Budget and quota apply (not to an overflow's all-defaults image, nor drafts).
        budgeted: bool,
        usage: Option<UsageSubject>,
        decision: Box<Decision>,
        plan: Plan,
    },
}

/// Everything between a resolved request and its bytes, built once at start-up.
pub struct RenderService {
    pub sources: Sources,
    /// Pyramid derivatives of large flat sources; `None` when `pyramid.min_pixels` is 0.
    pub pyramids: Option<Arc<Pyramids>>,
    pub cache: Option<Arc<dyn DerivativeCache>>,
    pub templates: Templates,
    pub admission: Admission,
    /// Tiled TIFFs' directories and decoded tiles, shared by sources and pyramids.
    tiles: TileMemory,
    pub metrics: Metrics,
    /// Per-template usage, counted in memory and flushed in batches.
    pub usage: Arc<Usage>,
    /// Flushes `usage` every `usage.flush_seconds`, and once more when the service goes.
    _flusher: Flusher,
    pub limits: Limits,
    pub options: RenderOptions,
    pub info: InfoSettings,
    /// `options.output_fingerprint()`, computed once.
    fingerprint: String,
    coalescer: Coalescer<CacheKey, Result<Bytes, Arc<RenderError>>>,
    /// The threads renders run on, as many as admission has slots.
    pool: RenderPool,
    /// Derivative-cache writes started by render threads and not done yet.
    pending_writes: Arc<AtomicUsize>,
    clock: Arc<dyn Clock>,
    hooks: Arc<dyn RenderHooks>,
}

impl RenderService {
    /// Opens the catalogue, the cache and the pyramids with the system clock and no hooks.
    pub fn open(config: &Config) -> std::io::Result<RenderService> {
        RenderService::with(config, Arc::new(SystemClock), Arc::new(NoHooks))
    }

    /// [`Self::open`] with a given clock and hooks.
    pub fn with(
        config: &Config,
        clock: Arc<dyn Clock>,
        hooks: Arc<dyn RenderHooks>,
    ) -> std::io::Result<RenderService> {
        let context = |what: String| {
            move |e: std::io::Error| std::io::Error::new(e.kind(), format!("{what}: {e}"))
        };
        let root = &config.source.root;
        let files: Arc<dyn SourceStore> = Arc::new(
            FileStore::new(root).map_err(context(format!("image root {}", root.display())))?,
        );
        let sources = sources(config, files.clone())?;
        let cache = if config.cache.enabled {
            let dir = &config.cache.dir;
            Some(
                DiskCache::open(dir, config.cache_limits())
                    .map_err(context(format!("cache folder {}", dir.display())))?,
            )
        } else {
            None
        };
        let counters = cache
            .as_ref()
            .map_or_else(CacheCounters::default, |c| c.counters().clone());
        let pyramids = if config.pyramid.min_pixels > 0 {
            let settings = config.pyramid_settings();
            let store = FilePyramidStore::open(&settings.dir).map_err(context(format!(
                "pyramid folder {}",
                settings.dir.display()
            )))?;
            let catalogue = sources.catalogue().clone();
            // A catalogue that does not answer keeps every pyramid.
            let in_use = move |hash: &str| catalogue.content_in_use(hash).unwrap_or(true);
            Some(Pyramids::start(
                settings,
                files,
                Arc::new(store),
                config.data.memory_entries,
                Box::new(in_use),
            )?)
        } else {
            None
        };
        let pyramid_counters = pyramids
            .as_ref()
            .map_or_else(PyramidCounters::default, |p| p.counters.clone());
        let options = config.render_options();
        let admission = config.admission_limits();
        let tiles = TileMemory::new(config.source.tile_memory);
        let usage = Arc::new(
            Usage::open(&config.catalogue_path(), clock.clone()).map_err(std::io::Error::other)?,
        );
        let flusher = usage.start_flusher(std::time::Duration::from_secs(
            config.usage.flush_seconds.max(1),
        ));
        Ok(RenderService {
            usage,
            _flusher: flusher,
            sources,
            pyramids,
            cache: cache.map(|c| c as Arc<dyn DerivativeCache>),
            templates: Templates::open(config)?,
            admission: Admission::new(admission),
            pool: RenderPool::new(admission.concurrent)?,
            metrics: Metrics::new(&counters, &pyramid_counters, &tiles.counters),
            tiles,
            limits: config.limits(),
            fingerprint: options.output_fingerprint(),
            options,
            info: InfoSettings {
                tile_size: config.image.tile_size,
                sizes_min_edge: config.image.sizes_min_edge,
                preferred_formats: config.image.preferred_formats.clone(),
            },
            coalescer: Coalescer::default(),
            clock,
            hooks,
            pending_writes: Arc::default(),
        })
    }

    /// Requests in a render now, running it or waiting for an identical one.
    pub fn rendering(&self) -> usize {
        self.coalescer.callers()
    }

    /// Unix seconds now, by the service's clock.
    /// Deletes the data-set rows expired by now and their cached renders; returns how many
    /// rows. Blocking.
    pub fn sweep_expired_rows(&self) -> Result<usize, RenderError> {
        let gone = self.templates.datasets.sweep(self.unix_now())?;
        if let Some(cache) = &self.cache {
            let mut by_set: std::collections::BTreeMap<(&str, &str), Vec<String>> =
                Default::default();
            for (project, set, key) in &gone {
                by_set.entry((project, set)).or_default().push(key.clone());
            }
            for (set, keys) in by_set {
                purge_rows(cache.as_ref(), &self.templates.store, set, &keys)?;
            }
        }
        Ok(gone.len())
    }

    pub fn unix_now(&self) -> u64 {
        self.clock.unix_now()
    }

    /// Plans `request` for `target`, names the derivative and checks `validators` and the
    /// cache; a request for one stored tile reads it. Blocking: catalogue, template store,
    /// cache and tile reads.
    pub fn prepare(
        &self,
        target: &Target,
        request: &ImageRequest,
        validators: &Validators,
    ) -> Result<Prepared, RenderError> {
        let mut email = false;
        let mut usage = None;
        let mut variant = None;
        let mut keep = Keep::Configured;
        let (job, modified, refused, fallbacks, draft) = match target {
            Target::Image(identifier) => {
                let asset = self.sources.asset(identifier)?;
                let src = &asset.source;
                let pyramid = self.pyramids.as_ref().and_then(|p| p.for_asset(&asset));
                let read = pyramid.as_deref().unwrap_or(src);
                let plan = plan::plan(request, src.width, src.height, &self.limits)?
                    .with_resolution(&read.resolutions(), read.is_tiled());
                // A tiled source may be any size; what one request decodes may not.
                let limit = self.sources.max_pixels();
                if plan.decoded_pixels() > limit {
                    let building = |p: &Arc<Pyramids>| p.building(&asset.content_hash);
                    if pyramid.is_none() && self.pyramids.as_ref().is_some_and(building) {
                        return Err(SourceError::PyramidPending.into());
                    }
                    let pixels = plan.decoded_pixels();
                    return Err(SourceError::DecodeTooLarge { pixels, limit }.into());
                }
                let modified = src.modified;
                let job = Job::Source {
                    asset,
                    pyramid,
                    plan,
                };
                (job, modified, None, Vec::new(), false)
            }
            Target::Template {
                id,
                path,
                query,
                overflow,
            } => {
                let decided = self.templates.decide(
                    id,
                    (path, query),
                    &self.sources,
                    self.clock.unix_now(),
                    *overflow,
                );
                let refused = match &decided {
                    Err(RenderError::Refused(why)) => Some(*why),
                    Ok(d) => d.refused,
                    Err(_) => None,
                };
                if let Some(why) = refused {
                    self.count_refusal(why);
                }
                let decision = decided?;
                let c = &decision.loaded.template.canvas;
                let plan = plan::plan(request, c.width, c.height, &self.limits)?;
                let modified = decision.loaded.modified;
                let p = &decision.personalized;
                let fallbacks = p.fallbacks.clone();
                email = decision.loaded.template.email;
                keep = match decision.live {
                    Some(seconds) => Keep::Live(seconds),
                    None if decision.refused.is_some()
                        || (!fallbacks.is_empty() && !p.any_accepted()) =>
                    {
                        Keep::Generic
                    }
                    None => Keep::Configured,
                };
                if !decision.loaded.template.variants.is_empty()
                    || !decision.loaded.template.rules.is_empty()
                {
                    variant = Some(match &p.chosen.split {
                        Some(split) => format!("{split}/{}", p.chosen.variant),
                        None => p.chosen.variant.clone(),
                    });
                }
                let project = split_qualified(&id.name).0.to_string();
                if let Pin::Version(version) = id.pin {
                    usage = Some(UsageSubject {
                        project: project.clone(),
                        template: id.name.clone(),
                        version,
                    });
                }
                let job = Job::Template {
                    name: id.name.clone(),
                    project,
                    budgeted: !*overflow && id.pin != Pin::Draft,
                    usage: usage.clone(),
                    decision: Box::new(decision),
                    plan,
                };
                (job, modified, refused, fallbacks, id.pin == Pin::Draft)
            }
        };
        let (plan, subject) = match &job {
            Job::Source {
                asset,
                pyramid,
                plan,
            } => (
                plan,
                Subject::Source {
                    content_hash: &asset.content_hash,
                    from_pyramid: pyramid.is_some(),
                },
            ),
            Job::Template {
                name,
                decision,
                plan,
                ..
            } => (
                plan,
                Subject::Template {
                    name,
                    content_hash: &decision.loaded.content_hash,
                    fields: &fields_key(decision),
                    pictures: &decision.chosen.content_hashes(),
                    draft,
                    row: decision.row.as_deref(),
                },
            ),
        };
        let canonical = plan.canonical();
        let key = Derivative {
            subject,
            canonical: &canonical,
            settings: &self.fingerprint,
            format: plan.format,
        }
        .key();
        let format = plan.format;
        // Drafts are never cached, nor answered 304.
        let fresh = !draft && validators.not_modified(&key.etag(), modified);
        let hit = match &job {
            Job::Source {
                asset,
                pyramid,
                plan,
            } if !fresh && self.options.jpeg_passthrough => {
                self.one_stored_tile(asset, pyramid.as_deref(), plan)?
            }
            _ => None,
        };
        let hit = match &self.cache {
            Some(cache) if hit.is_none() && !fresh && !draft => cache.get(&key),
            _ => hit,
        };
        Ok(Prepared {
            key,
            modified,
            canonical,
            format,
            fresh,
            draft,
            refused,
            fallbacks,
            email,
            usage,
            variant,
            keep,
            hit,
            job: Some(job),
        })
    }

    /// Counts a refused signature or token, by reason.
    fn count_refusal(&self, why: Refused) {
        self.metrics
            .template_refusals
            .with_label_values(&[why.code()])
            .inc();
    }

    /// The bytes of a prepared derivative: from the cache, or rendered — once, however many
    /// identical requests arrive together — and stored (drafts are not).
    /// `prepared` keeps what the answer's headers need; its render job is taken (a second
    /// call is [`RenderError::Taken`]).
    pub async fn bytes(self: &Arc<Self>, prepared: &mut Prepared) -> Result<Bytes, RenderError> {
        if let Some(hit) = prepared.hit.take() {
            return Ok(hit);
        }
        let job = prepared.job.take().ok_or(RenderError::Taken)?;
        let (key, draft) = (prepared.key.clone(), prepared.draft);
        let (result, joined) = self
            .coalescer
            .run(key.clone(), || self.render(key, job, !draft))
            .await;
        if joined {
            self.metrics.coalesced_waits.inc();
        }
        result.map_err(RenderError::Shared)
    }

    /// A cold render of a template against its project's limits: the monthly quota, then the
    /// per-template budget (counted once per render, not per waiting request).
    fn within_limits(&self, name: &str, project: &str) -> Result<(), RenderError> {
        let policy = self.templates.policy(project)?;
        if let Some(quota) = policy.monthly_renders
            && self.usage.month_renders(project)? >= quota
        {
            // The month's end is at most 31 days away; an hour keeps clients from hammering.
            return Err(RenderError::QuotaExceeded(3600));
        }
        self.templates
            .budget
            .take_within(name, self.clock.unix_now(), policy.renders_per_minute)
            .map_err(RenderError::RateLimited)
    }

    /// One render: the template's budget, admission, a render thread, the cache write.
    async fn render(
        self: &Arc<Self>,
        key: CacheKey,
        job: Job,
        store: bool,
    ) -> Result<Bytes, Arc<RenderError>> {
        let bytes = match &job {
            Job::Source { plan, .. } => estimated_bytes(plan),
            Job::Template {
                name,
                project,
                budgeted,
                decision,
                ..
            } => {
                if *budgeted {
                    self.within_limits(name, project).map_err(Arc::new)?;
                }
                let c = &decision.loaded.template.canvas;
                // The canvas, and a working copy of it.
                2 * 4 * c.width as u64 * c.height as u64
            }
        };
        let m = &self.metrics;
        let admitted = self.admission.admit(bytes).await.map_err(|e| {
            m.overloaded.inc();
            Arc::new(RenderError::from(e))
        })?;
        m.renders_in_flight.inc();
        let me = self.clone();
        let cache = self.cache.clone().filter(|_| store);
        let runtime = tokio::runtime::Handle::try_current().ok();
        let rendered = self
            .pool
            .run(move || {
                // A render that finished between our cache lookup and now left its result.
                if let Some(hit) = cache.as_ref().and_then(|c| c.get_again(&key)) {
                    return Ok(Err(hit));
                }
                me.hooks.before_render();
                let mut r = me.run(job, !store)?;
                let bytes = Bytes::from(std::mem::take(&mut r.bytes));
                // Started here, so the write happens even if the request that asked goes.
                let written =
                    cache.and_then(|c| me.write_behind(c, key, bytes.clone(), runtime.as_ref()));
                Ok(Ok((r, bytes, written)))
            })
            .await
            .map_err(RenderError::from)
            .and_then(|r| r);
        m.renders_in_flight.dec();
        // The render slot is free once the pixels are encoded, not when they reach the disk.
        drop(admitted);
        match rendered.map_err(Arc::new)? {
            Err(hit) => Ok(hit),
            Ok((r, bytes, written)) => {
                m.renders.inc();
                m.decode_seconds.observe(r.decode_time.as_secs_f64());
                m.render_seconds.observe(r.total_time.as_secs_f64());
                // Identical requests wait on this render until its entry is written, so none
                // of them finds the cache without it and renders again.
                if let Some(written) = written
                    && let Err(e) = written.await
                {
                    tracing::warn!(error = %e, "cache write did not finish");
                }
                Ok(bytes)
            }
        }
    }

    /// Writes a rendered derivative to the cache on the blocking pool, so that a render thread
    /// never waits for the disk (each entry is synced). Past [`MAX_PENDING_WRITES`] in flight
    /// the disk is behind: the render thread writes itself, and renders slow down with the
    /// disk rather than pile up bytes in memory. `None` when written here.
    fn write_behind(
        &self,
        cache: Arc<dyn DerivativeCache>,
        key: CacheKey,
        bytes: Bytes,
        runtime: Option<&tokio::runtime::Handle>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let write = move || {
            if let Err(e) = cache.put(&key, &bytes) {
                // Serving the image matters more than keeping it: log and go on.
                tracing::warn!(error = %e, "could not write cache entry");
            }
        };
        let pending = self.pending_writes.clone();
        match runtime {
            Some(runtime) if pending.fetch_add(1, Ordering::AcqRel) < MAX_PENDING_WRITES => {
                Some(runtime.spawn_blocking(move || {
                    write();
                    pending.fetch_sub(1, Ordering::AcqRel);
                }))
            }
            Some(_) => {
                write();
                pending.fetch_sub(1, Ordering::AcqRel);
                None
            }
            None => {
                write();
                None
            }
        }
    }

    /// The bytes of the one stored JPEG tile that answers `plan` as it is
    /// ([`crate::pipeline::is_one_stored_tile`]), read here rather than on a render thread:
    /// a small read of a file in the page cache costs less than the two thread wake-ups of a
    /// render, and the tile is not copied into the derivative cache, being stored already.
    /// `None` when the plan is not one stored tile or the level's tiles are not JPEG.
    fn one_stored_tile(
        &self,
        asset: &Asset,
        pyramid: Option<&SourceInfo>,
        plan: &Plan,
    ) -> Result<Option<Bytes>, RenderError> {
        let source = self.stored_source(asset, pyramid);
        if !crate::pipeline::is_one_stored_tile(source.info, plan) {
            return Ok(None);
        }
        let bytes = crate::pipeline::stored_tile(source, plan)?;
        if bytes.is_some() {
            self.metrics.stored_tiles.inc();
        }
        Ok(bytes.map(Bytes::from))
    }

    /// Where a source job reads: the asset's pyramid when it has one, else the asset.
    fn stored_source<'a>(
        &'a self,
        asset: &'a Asset,
        pyramid: Option<&'a SourceInfo>,
    ) -> StoredSource<'a> {
        match pyramid {
            Some(info) => StoredSource {
                store: self
                    .pyramids
                    .as_ref()
                    .expect("a pyramid comes from the pyramids")
                    .source_store(),
                info,
                tiles: Some(&self.tiles),
            },
            None => StoredSource {
                store: self.sources.store().as_ref(),
                info: &asset.source,
                tiles: Some(&self.tiles),
            },
        }
    }

    /// Runs the pipeline for a job. On a render thread.
    fn run(&self, job: Job, draft: bool) -> Result<Rendered, RenderError> {
        match job {
            Job::Source {
                asset,
                pyramid,
                plan,
            } => {
                let source = self.stored_source(&asset, pyramid.as_deref());
                Ok(crate::pipeline::render(source, &plan, &self.options)?)
            }
            Job::Template {
                decision,
                plan,
                usage,
                ..
            } => {
                let r = self
                    .templates
                    .draw(*decision, &plan, &self.options, draft)?;
                if let Some(subject) = &usage {
                    self.usage.record(subject, UsageEvent::Render);
                }
                self.metrics
                    .template_renders
                    .with_label_values(&[if draft { "draft" } else { "published" }])
                    .inc();
                Ok(r)
            }
        }
    }

    /// info.json of an image, `id` being its base URI, and when it last changed. Blocking.
    pub fn image_info(
        &self,
        identifier: &str,
        id: &str,
    ) -> Result<(serde_json::Value, SystemTime), RenderError> {
        let asset = self.sources.asset(identifier)?;
        let s = &asset.source;
        let own_preferred: Option<Vec<Format>> = asset
            .properties
            .preferred_formats
            .as_ref()
            .map(|fs| fs.iter().filter_map(|f| f.parse().ok()).collect());
        let mut doc =
            self.info_document(id, (s.width, s.height), &s.levels, own_preferred.as_deref());
        let props = &asset.properties;
        let obj = doc.as_object_mut().expect("info.json is an object");
        if let Some(r) = &props.rights {
            obj.insert("rights".into(), r.clone().into());
        }
        for (name, value) in [
            ("partOf", &props.part_of),
            ("seeAlso", &props.see_also),
            ("service", &props.service),
        ] {
            if let Some(v) = value {
                obj.insert(name.into(), v.clone().into());
            }
        }
        Ok((doc, s.modified))
    }

    /// info.json of a personalized image, its canvas as any image, and when its version was
    /// published. Blocking.
    pub fn template_info(
        &self,
        template: &TemplateId,
        id: &str,
    ) -> Result<(serde_json::Value, SystemTime), RenderError> {
        let loaded = self.templates.load(template)?;
        let c = &loaded.template.canvas;
        let doc = self.info_document(id, (c.width, c.height), &[], None);
        Ok((doc, loaded.modified))
    }

    /// info.json for an image of `size`, with its stored levels and their tile size when it
    /// has them (else the configured tile size), and its own preferred formats when it has
    /// them.
    fn info_document(
        &self,
        id: &str,
        (width, height): (u32, u32),
        levels: &[Level],
        preferred: Option<&[Format]>,
    ) -> serde_json::Value {
        let tile = self.info.tile_size;
        let sizes: Vec<(u32, u32)> = levels.iter().map(|l| (l.width, l.height)).collect();
        info_json(&InfoParams {
            id,
            width,
            height,
            limits: self.limits,
            tile: levels
                .first()
                .map_or((tile, tile), |l| (l.tile_width, l.tile_height)),
            levels: &sizes,
            preferred_formats: preferred.unwrap_or(&self.info.preferred_formats),
            min_size: self.info.sizes_min_edge,
        })
    }
}

/// The catalogued sources of a configuration, read from `store`.
pub fn sources(config: &Config, store: Arc<dyn SourceStore>) -> std::io::Result<Sources> {
    let catalogue = Catalogue::open(&config.catalogue_path(), config.data.memory_entries)
        .map_err(std::io::Error::other)?;
    let sources = Sources::new(store, config.source.max_pixels, Arc::new(catalogue));
    if config.pyramid.min_pixels == 0 {
        return Ok(sources);
    }
    let pyramids = config.pyramid_settings();
    Ok(sources.with_pyramids(Arc::new(move |r: &dyn BandReader| pyramids.accepts(r))))
}

/// Removes the cached derivatives of an identifier: every render of every version for a
/// template (`tpl~name~…`); for an image, those of its catalogued content and, when the file
/// changed since, of its current content. The admin API and `tessera cache purge` both call
/// this, so they remove the same entries. Blocking.
pub fn purge(
    cache: &dyn DerivativeCache,
    sources: &Sources,
    identifier: &str,
) -> Result<u64, RenderError> {
    if let Some(id) = TemplateId::parse(identifier) {
        let id = id.map_err(SourceError::BadIdentifier)?;
        return Ok(cache.purge_group(&template_group(&id.name))?);
    }
    let mut groups = Vec::new();
    if let Some(a) = sources.catalogue().get(identifier)? {
        groups.push(a.content_hash.clone());
    }
    if let Ok(a) = sources.asset(identifier) {
        groups.push(a.content_hash.clone());
    }
    if groups.is_empty() {
        return Err(SourceError::NotFound.into());
    }
    groups.dedup();
    let mut n = 0;
    for g in groups {
        n += cache.purge_group(&g)?;
    }
    Ok(n)
}

/// What of a template decision goes into the cache key as its fields: the accepted values,
/// the variant and the layers shown, and the time bucket of renders that depend on the time.
fn fields_key(d: &Decision) -> String {
    match d.bucket {
        Some(bucket) => format!("{}\n@{bucket}", d.personalized.normalized),
        None => d.personalized.normalized.clone(),
    }
}

/// Removes the renders made from rows `keys` of data set `set` in `project`, from every
/// template of the project (changed or deleted rows: their data must not outlive them).
/// Blocking.
pub fn purge_rows(
    cache: &dyn DerivativeCache,
    templates: &TemplateStore,
    (project, set): (&str, &str),
    keys: &[String],
) -> Result<u64, RenderError> {
    if keys.is_empty() {
        return Ok(0);
    }
    let tags: Vec<String> = keys.iter().map(|k| row_tag(project, set, k)).collect();
    let mut n = 0;
    // Archived templates too: their published versions still render.
    for t in templates.list(Some(project), true)? {
        n += cache.purge_prefixed(&template_group(&t.name), &tags)?;
    }
    Ok(n)
}
