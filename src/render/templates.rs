//! Personalized images: loading template versions, deciding their fields and pictures, and
//! drawing the canvas the IIIF stages then apply to. Field decisions are the pure
//! [`crate::template`] functions; drawing is [`crate::overlay`]; this is where they meet the
//! catalogue, the keys and the caches.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use lru::LruCache;

use super::RenderError;
use crate::cache::digest;
use crate::cache::memory::MemoryLru;
use crate::config::Config;
use crate::iiif::{Format, Plan};
use crate::overlay::load::ProjectPictures;
use crate::overlay::{self, Content, Coverage, Fonts, Sprite, Underlay, load};
use crate::pipeline::{Decoded, RenderOptions, Rendered, encode, transform};
use crate::store::Sources;
use crate::store::datasets::DataSetStore;
use crate::store::team::{TeamError, TeamStore};
use crate::store::templates::TemplateStore;
use crate::team::{DEFAULT_PROJECT, split_qualified};
use crate::template::fields::{Denylist, Field};
use crate::template::limit::RenderBudget;
use crate::template::model::{Template, parse_template};
use crate::template::request::{
    Inputs, Personalized, Pin, Policy, Row, TemplateId, compile_fields, compile_variants, inputs,
    personalize,
};
use crate::template::signing::{Keys, Refused, parse_keys};

/// Templates and what rendering them needs, built once at start-up.
pub struct Templates {
    pub store: TemplateStore,
    /// Recipient data sets that fill fields by a key in the URL.
    pub datasets: DataSetStore,
    /// Stopped A/B splits per template (split → winner), read once, then kept until
    /// [`Self::forget_splits`].
    splits: Mutex<HashMap<String, Arc<BTreeMap<String, String>>>>,
    /// Project settings (signing keys, budgets, quotas), read through [`Self::policy`].
    team: TeamStore,
    /// The default project's signing keys: `templates.keys`.
    keys: Option<Keys>,
    policies: Mutex<HashMap<String, Arc<ProjectPolicy>>>,
    /// Each project's folder listing, and when it was made.
    pictures: Mutex<HashMap<String, (Instant, Arc<ProjectPictures>)>>,
    pub denylist: Denylist,
    pub fonts: Fonts,
    pub coverage: Coverage,
    pub budget: RenderBudget,
    pub max_field_chars: usize,
    pub max_url_bytes: usize,
    pub cache_control: String,
    /// Seconds a render that depends on the time stays current: the `Cache-Control` max-age
    /// and the time bucket in its cache key.
    pub live_seconds: u32,
    /// Frames (one per second) of a countdown's animated GIF.
    pub countdown_frames: u32,
    /// Parsed published versions: they never change, so they are parsed once.
    versions: Mutex<LruCache<(String, u32), Arc<Loaded>>>,
    /// Drawn underlays (background, base image, leading static layers) by template content
    /// and base image content.
    underlays: Mutex<LruCache<String, Arc<Underlay>>>,
    /// Image layers' pictures fitted and cut to their boxes: a rep's photo, a default
    /// avatar, drawn for many recipients.
    sprites: MemoryLru<String, Sprite>,
}

/// What a project's settings mean for rendering and making URLs.
#[derive(Debug)]
pub struct ProjectPolicy {
    pub keys: Option<Keys>,
    /// Cold renders per template per minute (0: no limit).
    pub renders_per_minute: u32,
    pub monthly_renders: Option<u64>,
    pub four_eyes: bool,
}

/// Underlays kept in memory, and the largest one kept (bytes of pixels): at most 64 MB.
const UNDERLAYS: usize = 8;
const MAX_UNDERLAY_BYTES: usize = 8 << 20;
/// Bytes of fitted pictures kept: a 240×240 photo is 230 KB, so about a hundred and forty.
const SPRITE_BYTES: usize = 32 << 20;

/// How long a project's folder listing is used before it is read again: pictures copied into
/// the folder by hand show up within this time; uploads through the API at once.
const PICTURES_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// A template version (or draft) ready to render.
pub struct Loaded {
    pub template: Template,
    pub fields: BTreeMap<String, Field>,
    /// Each variant's document, the base one included.
    pub variants: BTreeMap<String, Arc<Template>>,
    pub content_hash: String,
    /// When the version was published (the draft: last saved).
    pub modified: SystemTime,
}

impl Loaded {
    fn new(
        document: &str,
        content_hash: String,
        modified: SystemTime,
    ) -> Result<Loaded, RenderError> {
        let template = parse_template(document.as_bytes()).map_err(RenderError::InvalidTemplate)?;
        Ok(Loaded {
            fields: compile_fields(&template),
            variants: compile_variants(&template),
            template,
            content_hash,
            modified,
        })
    }
}

/// What personalization decided for one request.
pub struct Decision {
    pub loaded: Arc<Loaded>,
    pub personalized: Personalized,
    pub chosen: load::Chosen,
    /// Why the request's fields were refused, when the template is for email and answers
    /// with its all-defaults image instead of 403.
    pub refused: Option<Refused>,
    /// The data-set row the fields came from ([`crate::render::key::row_tag`]).
    pub row: Option<String>,
    /// Seconds the render stays current, when it depends on the time.
    pub live: Option<u32>,
    /// The start of the time bucket it was decided for (Unix seconds), when live.
    pub bucket: Option<u64>,
}

impl Templates {
    /// Opens the template tables of the catalogue database and loads the fonts.
    pub fn open(config: &Config) -> std::io::Result<Templates> {
        let fonts = Fonts::load(config.fonts_dir())?;
        let t = &config.templates;
        Ok(Templates {
            store: TemplateStore::open(&config.catalogue_path()).map_err(std::io::Error::other)?,
            datasets: DataSetStore::open(&config.catalogue_path())
                .map_err(std::io::Error::other)?,
            splits: Mutex::new(HashMap::new()),
            live_seconds: t.live_seconds,
            countdown_frames: t.countdown_frames,
            team: TeamStore::open(&config.catalogue_path()).map_err(std::io::Error::other)?,
            keys: config.templates.keys.clone(),
            policies: Mutex::new(HashMap::new()),
            pictures: Mutex::new(HashMap::new()),
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
            sprites: MemoryLru::new(SPRITE_BYTES),
        })
    }

    /// The settings of `project` that rendering and signing follow; 404 for an unknown
    /// project. Read once, then kept until [`Self::forget_policy`].
    pub fn policy(&self, project: &str) -> Result<Arc<ProjectPolicy>, RenderError> {
        if let Some(p) = self.policies.lock().expect("lock").get(project) {
            return Ok(p.clone());
        }
        let p = self.team.project(project).map_err(|e| match e {
            TeamError::ProjectNotFound(_) => RenderError::TemplateNotFound,
            TeamError::Store(e) => e.into(),
            _ => RenderError::TemplateNotFound,
        })?;
        let keys = if project == DEFAULT_PROJECT {
            self.keys.clone()
        } else {
            let stored = self.team.signing_keys(project).ok().flatten();
            stored.as_deref().and_then(|json| parse_keys(json).ok())
        };
        let policy = Arc::new(ProjectPolicy {
            keys,
            renders_per_minute: p.renders_per_minute.unwrap_or(self.budget.per_minute()),
            monthly_renders: p.monthly_renders,
            four_eyes: p.four_eyes,
        });
        self.policies
            .lock()
            .expect("lock")
            .insert(project.to_string(), policy.clone());
        Ok(policy)
    }

    /// The pictures in `project`'s folder: listed at most every [`PICTURES_FOR`], and anew
    /// after [`Self::forget_pictures`] (an upload through this server).
    pub fn project_pictures(&self, project: &str, sources: &Sources) -> Arc<ProjectPictures> {
        if let Some((at, p)) = self.pictures.lock().expect("lock").get(project)
            && at.elapsed() < PICTURES_FOR
        {
            return p.clone();
        }
        let listed = ProjectPictures::list(sources.store().as_ref(), project).unwrap_or_else(|e| {
            tracing::warn!(error = %e, project, "could not list the project's pictures");
            ProjectPictures::none(project)
        });
        let listed = Arc::new(listed);
        self.pictures
            .lock()
            .expect("lock")
            .insert(project.to_string(), (Instant::now(), listed.clone()));
        listed
    }

    /// Lists `project`'s pictures anew at the next render (one was uploaded).
    pub fn forget_pictures(&self, project: &str) {
        self.pictures.lock().expect("lock").remove(project);
    }

    /// The stopped splits of template `name` and their winners.
    fn stopped_splits(&self, name: &str) -> Result<Arc<BTreeMap<String, String>>, RenderError> {
        if let Some(s) = self.splits.lock().expect("lock").get(name) {
            return Ok(s.clone());
        }
        let stopped = Arc::new(self.store.stopped_splits(name)?);
        self.splits
            .lock()
            .expect("lock")
            .insert(name.to_string(), stopped.clone());
        Ok(stopped)
    }

    /// Reads the stopped splits of `name` anew (one was stopped or resumed).
    pub fn forget_splits(&self, name: &str) {
        self.splits.lock().expect("lock").remove(name);
    }

    /// Drops the kept settings of `project` (they changed).
    pub fn forget_policy(&self, project: &str) {
        self.policies.lock().expect("lock").remove(project);
    }

    /// The template `id` names, or 404. Blocking (SQLite).
    pub fn load(&self, id: &TemplateId) -> Result<Arc<Loaded>, RenderError> {
        match id.pin {
            Pin::Draft => {
                let d = self
                    .store
                    .draft(&id.name)?
                    .ok_or(RenderError::TemplateNotFound)?;
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
                    .ok_or(RenderError::TemplateNotFound)?;
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

    /// Loads the template, decides its fields (at Unix second `now`) and its pictures —
    /// every field at its default with `defaults_only`. Blocking. Refused signatures are an
    /// error unless the template is for email.
    pub fn decide(
        &self,
        id: &TemplateId,
        (path, query): (&str, &[(String, String)]),
        sources: &Sources,
        now: u64,
        defaults_only: bool,
    ) -> Result<Decision, RenderError> {
        let project_id = split_qualified(&id.name).0;
        let project = self.policy(project_id)?;
        let loaded = self.load(id)?;
        let template = &loaded.template;
        let covers = |s: &str| self.coverage.covers(s);
        // What depends on the time is decided per time bucket: the bucket is in the cache
        // key, and a countdown's frames start at its beginning.
        let live = template.depends_on_now();
        let now = if live {
            now - now % self.live_seconds.max(1) as u64
        } else {
            now
        };
        let policy = Policy {
            keys: project.keys.as_ref(),
            denylist: &self.denylist,
            covers: &covers,
            max_field_chars: self.max_field_chars,
            now,
        };
        let (given, refused) = match inputs(template, id, path, query, &policy) {
            _ if defaults_only => (Inputs::default(), None),
            Ok(given) => (given, None),
            Err(why) if template.email => (Inputs::default(), Some(why)),
            Err(why) => return Err(RenderError::Refused(why)),
        };
        let stopped = if template.rules.is_empty() {
            Arc::default()
        } else {
            self.stopped_splits(&id.name)?
        };
        let found;
        let (row, row_key) = match &template.data {
            Some(link) => match given.values.get(&link.key).map(|k| k.trim()) {
                Some(key) if crate::dataset::table::valid_key(key) => {
                    found = self.datasets.row(project_id, &link.set, key, now)?;
                    let tag = crate::render::key::row_tag(project_id, &link.set, key);
                    match &found {
                        Some(values) => (Row::Found(values), Some(tag)),
                        None => (Row::NotFound, None),
                    }
                }
                Some(_) => (Row::NotFound, None),
                None => (Row::None, None),
            },
            None => (Row::None, None),
        };
        let personalized = personalize(
            template,
            &loaded.fields,
            &loaded.variants,
            &stopped,
            (&given, row),
            &policy,
        );
        let chosen = load::choose(
            &personalized.template,
            &personalized.layers,
            sources,
            &self.project_pictures(project_id, sources),
        )?;
        Ok(Decision {
            loaded,
            personalized,
            chosen,
            refused,
            row: row_key,
            live: live.then_some(self.live_seconds),
            bucket: live.then_some(now),
        })
    }

    /// The underlay of a template with its chosen base image: from memory, or drawn (and
    /// kept, when small enough). Runs on a render thread.
    fn underlay(
        &self,
        loaded: &Loaded,
        personalized: &Personalized,
        chosen: &load::Chosen,
        contents: &[Content],
        options: &RenderOptions,
    ) -> Result<Arc<Underlay>, RenderError> {
        let base_hash = chosen
            .base
            .as_ref()
            .map_or("", |b| b.asset.content_hash.as_str());
        let key = digest(&[
            loaded.content_hash.as_bytes(),
            personalized.shape.as_bytes(),
            base_hash.as_bytes(),
            options.output_fingerprint().as_bytes(),
        ]);
        if let Some(hit) = self.underlays.lock().expect("lock").get(&key) {
            return Ok(hit.clone());
        }
        let template = &personalized.template;
        let base = load::read_base(template, chosen, options)?;
        let under = Arc::new(overlay::with_shaper(&self.fonts, |shaper| {
            overlay::underlay(template, base.as_ref(), contents, shaper)
        })?);
        if under.bytes() <= MAX_UNDERLAY_BYTES {
            self.underlays.lock().expect("lock").put(key, under.clone());
        }
        Ok(under)
    }

    /// Draws the canvas, then applies the IIIF stages and encodes. Runs on a render thread.
    pub fn draw(
        &self,
        decision: Decision,
        plan: &Plan,
        options: &RenderOptions,
        draft: bool,
    ) -> Result<Rendered, RenderError> {
        let start = Instant::now();
        let Decision {
            loaded,
            personalized,
            chosen,
            ..
        } = decision;
        let template = &personalized.template;
        let mut contents = load::read_layers(
            template,
            personalized.layers.clone(),
            &chosen,
            options,
            &self.sprites,
        );
        let under = self.underlay(&loaded, &personalized, &chosen, &contents, options)?;
        let decode_time = start.elapsed();
        let frame = |contents: &[Content]| -> Result<_, RenderError> {
            let composed = overlay::with_shaper(&self.fonts, |shaper| {
                overlay::compose(template, &under, contents, shaper, draft)
            })?;
            Ok(transform(Decoded::whole(composed), plan, options.filter)?)
        };
        let bytes = if plan.format == Format::Gif && template.has_countdown() {
            // A countdown animates: a frame a second, the first one standing alone for
            // clients that show only it.
            let mut frames = Vec::new();
            for second in 0..self.countdown_frames.max(1) {
                if second > 0 {
                    let texts = personalized.layers_at(&loaded.fields, second as i64);
                    for (content, text) in contents.iter_mut().zip(texts) {
                        if let (Content::Text(t), Some(text)) = (content, text) {
                            *t = text;
                        }
                    }
                }
                frames.push(frame(&contents)?.into_rgba8());
            }
            encode::animated_gif(&frames, 100)?
        } else {
            encode::encode(&frame(&contents)?, plan.format, &options.encode)?
        };
        Ok(Rendered {
            bytes,
            decode_time,
            total_time: start.elapsed(),
        })
    }
}
