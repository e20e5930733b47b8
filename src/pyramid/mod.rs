//! Pyramid derivatives: a large flat source (JPEG, PNG, WebP, strip TIFF) is rewritten once as
//! a tiled pyramidal TIFF under the data directory, then read like any pyramidal TIFF — a
//! full-resolution tile decodes one stored tile instead of most of the file.
//!
//! Pyramids are named by the source's content hash, so a changed source gets a new one and an
//! unchanged one keeps its pyramid across restarts; pyramids whose content no catalogued
//! source has are pruned after each build. They are built on first request by one background
//! thread (requests meanwhile are served from the flat source, correctly, just slower; a source
//! too large to read whole answers 503 until then) or ahead of time by `tessera ingest`.
//! Sources are read in bands where their format allows ([`crate::source::bands`]), so memory
//! stays within `build_memory` whatever their height. Files are written under `tmp/` and
//! renamed into place, so a crash never leaves a half-written pyramid where it would be read.

mod store;
pub mod write;

pub use store::{FilePyramidStore, PyramidStore};

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use image::metadata::Orientation;
use image::{ColorType, DynamicImage, ImageFormat};
use lru::LruCache;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge};

use crate::error::{Cause, Code, Coded};
use crate::pipeline::decode::decode_whole;
use crate::source::bands::{self, BandReader};
use crate::source::{Locator, SourceError, SourceInfo, SourceStore, StoredSource, tiled};
use crate::store::Asset;
use write::{PyramidWriter, TileCompression, Written};

/// Why a pyramid could not be built or opened.
#[derive(Debug, thiserror::Error)]
pub enum PyramidError {
    #[error("could not decode the source: {0}")]
    Decode(#[source] crate::pipeline::PipelineError),
    #[error(transparent)]
    Write(#[from] write::WriteError),
    #[error("pyramid {0}: {1}")]
    Io(Locator, #[source] std::io::Error),
    #[error("pyramid {0} does not match its source: {1}")]
    Mismatch(Locator, #[source] Cause),
}

/// Configuration of pyramid derivatives.
#[derive(Debug, Clone)]
pub struct PyramidSettings {
    /// Folder of the pyramids (`<data dir>/pyramids`), for the file store.
    pub dir: PathBuf,
    /// Flat sources with at least this many pixels get a pyramid; 0: none do.
    pub min_pixels: u64,
    /// Tile edge: the tile size info.json advertises, so tile requests map onto whole tiles.
    pub tile: u32,
    /// Quality of JPEG tiles (8-bit gray and RGB sources; others get lossless Deflate tiles).
    pub jpeg_quality: u8,
    /// Most bytes decoding one source whole may allocate (sources that cannot be read in bands).
    pub max_decode_bytes: u64,
    /// Most bytes of pixels a build reading its source in bands may hold.
    pub build_memory: u64,
}

impl PyramidSettings {
    /// Whether a source read by `reader` gets a pyramid built in bands: large enough, and
    /// within `build_memory`.
    pub fn accepts(&self, reader: &dyn BandReader) -> bool {
        let (w, h) = reader.size();
        self.min_pixels > 0
            && w as u64 * h as u64 >= self.min_pixels
            && self.build_bytes(reader) <= self.build_memory
    }

    /// Bytes a build from `reader` holds: the writer's rows of tiles, the reader's own
    /// buffers, a band and its copy.
    fn build_bytes(&self, reader: &dyn BandReader) -> u64 {
        let (size, color) = (reader.size(), reader.color());
        write::working_bytes(size, color, self.tile)
            + reader.working_bytes()
            + 2 * bands::band_bytes(size.0, color)
    }
}

/// Pyramid series for `/metrics`.
#[derive(Clone)]
pub struct PyramidCounters {
    pub built: IntCounter,
    pub pruned: IntCounter,
    pub failed: IntCounter,
    pub building: IntGauge,
    pub build_seconds: Histogram,
}

impl Default for PyramidCounters {
    fn default() -> Self {
        PyramidCounters {
            built: IntCounter::new("tessera_pyramids_built_total", "Pyramid derivatives built.")
                .expect("valid counter"),
            pruned: IntCounter::new(
                "tessera_pyramids_pruned_total",
                "Pyramids removed because no source has their content any more.",
            )
            .expect("valid counter"),
            failed: IntCounter::new(
                "tessera_pyramid_failures_total",
                "Pyramid builds that failed (the source keeps being served flat).",
            )
            .expect("valid counter"),
            building: IntGauge::new(
                "tessera_pyramids_queued",
                "Pyramid builds queued or running now.",
            )
            .expect("valid gauge"),
            build_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "tessera_pyramid_build_duration_seconds",
                    "Time to build one pyramid: decode, reduce, encode tiles, write.",
                )
                .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]),
            )
            .expect("valid histogram"),
        }
    }
}

/// Whether a content hash is still some source's: its pyramid is kept.
pub type InUse = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// A build request for the background thread.
struct Job {
    source: SourceInfo,
    hash: String,
}

/// What is known about pyramids in memory.
struct Known {
    /// Opened pyramids by content hash.
    ready: LruCache<String, Arc<SourceInfo>>,
    /// Queued or being built.
    building: HashSet<String>,
    /// Failed since start-up: not retried until a restart (or a changed source).
    failed: HashSet<String>,
}

/// The pyramid derivatives and their builder.
pub struct Pyramids {
    settings: PyramidSettings,
    /// Where the sources are read from, to build pyramids.
    sources: Arc<dyn SourceStore>,
    /// Where the pyramids are kept.
    store: Arc<dyn PyramidStore>,
    known: Mutex<Known>,
    /// The background builder's queue; `None` when builds only run through [`Self::ensure`].
    jobs: Mutex<Option<Sender<Job>>>,
    pub counters: PyramidCounters,
}

impl Pyramids {
    /// Pyramids of the sources in `sources`, kept in `store`. Builds run only through
    /// [`Self::ensure`]; `memory_entries` opened pyramids are kept in memory.
    pub fn open(
        settings: PyramidSettings,
        sources: Arc<dyn SourceStore>,
        store: Arc<dyn PyramidStore>,
        memory_entries: usize,
    ) -> Pyramids {
        Pyramids {
            settings,
            sources,
            store,
            known: Mutex::new(Known {
                ready: LruCache::new(NonZeroUsize::new(memory_entries.max(1)).expect("non-zero")),
                building: HashSet::new(),
                failed: HashSet::new(),
            }),
            jobs: Mutex::new(None),
            counters: PyramidCounters::default(),
        }
    }

    /// [`Self::open`], plus the background thread that builds pyramids requests ask for and,
    /// at start and after each build, removes those whose content no source has (`in_use`).
    pub fn start(
        settings: PyramidSettings,
        sources: Arc<dyn SourceStore>,
        store: Arc<dyn PyramidStore>,
        memory_entries: usize,
        in_use: InUse,
    ) -> std::io::Result<Arc<Self>> {
        let (tx, rx) = channel::<Job>();
        let pyramids = Arc::new(Pyramids::open(settings, sources, store, memory_entries));
        *pyramids.jobs.lock().expect("job lock") = Some(tx);
        let worker = pyramids.clone();
        std::thread::Builder::new()
            .name("pyramid-builder".into())
            .spawn(move || {
                worker.prune(&in_use);
                for job in rx {
                    // The outcome is logged and counted inside; serving goes on either way.
                    if worker.build(&job.source, &job.hash).is_ok() {
                        worker.prune(&in_use);
                    }
                }
            })?;
        Ok(pyramids)
    }

    /// Whether `source` should get a pyramid: flat (not already tiled), not an animation
    /// format, and at least `min_pixels` large.
    pub fn wanted(&self, source: &SourceInfo) -> bool {
        let pixels = source.width as u64 * source.height as u64;
        self.settings.min_pixels > 0
            && pixels >= self.settings.min_pixels
            && source.levels.is_empty()
            && source.format != ImageFormat::Gif
    }

    /// The store pyramids are read from, as sources.
    pub fn source_store(&self) -> &dyn SourceStore {
        self.store.sources()
    }

    /// Whether the pyramid of the source with this content hash is stored.
    fn stored(&self, hash: &str) -> bool {
        let at = self.store.locator(hash);
        matches!(self.store.sources().meta(&at), Ok(Some(_)))
    }

    /// The pyramid to read `asset` from, when it has one ready. When it should have one and
    /// none is on disk, queues a build and returns `None`: this request reads the source.
    pub fn for_asset(&self, asset: &Asset) -> Option<Arc<SourceInfo>> {
        if !self.wanted(&asset.source) {
            return None;
        }
        let hash = &asset.content_hash;
        {
            let mut known = self.known.lock().expect("pyramid lock");
            if let Some(p) = known.ready.get(hash) {
                return Some(p.clone());
            }
            if known.building.contains(hash) || known.failed.contains(hash) {
                return None;
            }
        }
        if self.stored(hash) {
            match self.read_header(hash, &asset.source) {
                Ok(info) => return Some(self.remember(hash, info)),
                Err(e) => {
                    tracing::warn!(error = %e, "unusable pyramid; rebuilding");
                    self.store.remove(hash);
                }
            }
        }
        let jobs = self.jobs.lock().expect("job lock");
        let mut known = self.known.lock().expect("pyramid lock");
        if let Some(jobs) = jobs.as_ref()
            && known.building.insert(hash.clone())
        {
            self.counters.building.inc();
            let job = Job {
                source: asset.source.clone(),
                hash: hash.clone(),
            };
            if jobs.send(job).is_err() {
                known.building.remove(hash);
                self.counters.building.dec();
            }
        }
        None
    }

    /// Removes the stored pyramids whose content is no source's any more (a source changed or
    /// was deleted): how many. Best effort; one being built is kept.
    pub fn prune(&self, in_use: &dyn Fn(&str) -> bool) -> usize {
        let hashes = match self.store.list() {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "could not list pyramids to prune");
                return 0;
            }
        };
        let mut removed = 0;
        for hash in hashes {
            if in_use(&hash) || self.building(&hash) {
                continue;
            }
            self.known.lock().expect("pyramid lock").ready.pop(&hash);
            self.store.remove(&hash);
            removed += 1;
        }
        if removed > 0 {
            self.counters.pruned.inc_by(removed as u64);
            tracing::info!(removed, "superseded pyramids removed");
        }
        removed
    }

    /// Whether the pyramid of the source with this content hash is queued or being built.
    pub fn building(&self, hash: &str) -> bool {
        self.known
            .lock()
            .expect("pyramid lock")
            .building
            .contains(hash)
    }

    /// Builds the pyramid of `asset` now unless one is on disk (for `tessera ingest`).
    /// `None` when none is wanted or it already existed.
    pub fn ensure(&self, asset: &Asset) -> Result<Option<Written>, PyramidError> {
        if !self.wanted(&asset.source) || self.stored(&asset.content_hash) {
            return Ok(None);
        }
        self.known
            .lock()
            .expect("pyramid lock")
            .building
            .insert(asset.content_hash.clone());
        self.counters.building.inc();
        self.build(&asset.source, &asset.content_hash).map(Some)
    }

    fn remember(&self, hash: &str, info: SourceInfo) -> Arc<SourceInfo> {
        let info = Arc::new(info);
        self.known
            .lock()
            .expect("pyramid lock")
            .ready
            .put(hash.to_string(), info.clone());
        info
    }

    /// Reads a pyramid's header as a source of the same (oriented) size as `source`.
    fn read_header(&self, hash: &str, source: &SourceInfo) -> Result<SourceInfo, PyramidError> {
        let at = self.store.locator(hash);
        let files = self.store.sources();
        let io = |e| PyramidError::Io(at.clone(), e);
        let mismatch = |m: Cause| PyramidError::Mismatch(at.clone(), m);
        let meta = files
            .meta(&at)
            .map_err(io)?
            .ok_or_else(|| io(std::io::ErrorKind::NotFound.into()))?;
        let tiled = tiled::probe(files.open(&at).map_err(io)?)
            .map_err(|e| mismatch(e.into()))?
            .ok_or_else(|| mismatch("not a tiled TIFF".into()))?;
        let first = tiled.levels[0];
        if (first.width, first.height) != (source.width, source.height) {
            return Err(mismatch(
                format!(
                    "{}x{} for a {}x{} source",
                    first.width, first.height, source.width, source.height
                )
                .into(),
            ));
        }
        Ok(SourceInfo {
            locator: at.clone(),
            format: ImageFormat::Tiff,
            width: source.width,
            height: source.height,
            orientation: Orientation::NoTransforms,
            pixel_format: tiled.pixel_format,
            bytes: meta.bytes,
            modified: meta.modified,
            levels: tiled.levels,
        })
    }

    /// Reads `source` (in bands where it can), writes its pyramid to a temporary file and renames it into
    /// place, then makes it available. Counted and logged either way.
    fn build(&self, source: &SourceInfo, hash: &str) -> Result<Written, PyramidError> {
        let start = Instant::now();
        let result = self.write(source, hash);
        {
            let mut known = self.known.lock().expect("pyramid lock");
            known.building.remove(hash);
            if result.is_err() {
                known.failed.insert(hash.to_string());
            }
        }
        self.counters.building.dec();
        let seconds = start.elapsed().as_secs_f64();
        match &result {
            Ok(w) => {
                self.counters.built.inc();
                self.counters.build_seconds.observe(seconds);
                tracing::info!(
                    levels = w.levels,
                    tiles = w.tiles,
                    bytes = w.bytes,
                    seconds,
                    "pyramid built"
                );
            }
            Err(e) => {
                self.counters.failed.inc();
                tracing::warn!(error = %e, "pyramid build failed; the source is served flat");
            }
        }
        result
    }

    /// Reads `source` in bands into a pyramid writer (see [`bands`]), or decodes it whole when
    /// it cannot be read so, then opens the result.
    fn write(&self, source: &SourceInfo, hash: &str) -> Result<Written, PyramidError> {
        let store = self.sources.as_ref();
        let banded = match source.orientation {
            Orientation::NoTransforms => bands::open(store, &source.locator, source.format)
                .map_err(|e| PyramidError::Decode(e.into()))?,
            _ => None,
        };
        // Bands too large for `build_memory` (a strip TIFF stored as one strip, say): the
        // whole image within the decode limit, as for formats without bands. Sources over
        // that limit were accepted only if their bands fit (`accepts`).
        let fits =
            banded.filter(|r| self.settings.build_bytes(r.as_ref()) <= self.settings.build_memory);
        let mut reader = match fits {
            Some(reader) => reader,
            None => {
                let stored = StoredSource {
                    store,
                    info: source,
                    tiles: None,
                };
                let image = decode_whole(stored, self.settings.max_decode_bytes)
                    .map_err(PyramidError::Decode)?;
                Box::new(Whole(Some(image)))
            }
        };
        let (size, color) = (reader.size(), reader.color());
        let compression = TileCompression::for_color(color, self.settings.jpeg_quality);
        let written = self.store.put(hash, &mut |out| {
            let mut writer = PyramidWriter::new(out, size, color, self.settings.tile, compression)?;
            // The next band is decoded on its own thread while this one's tiles are encoded.
            std::thread::scope(|scope| {
                let (bands, arriving) = std::sync::mpsc::sync_channel(1);
                let reader = &mut reader;
                scope.spawn(move || {
                    loop {
                        let band = reader.next_band();
                        let last = !matches!(band, Ok(Some(_)));
                        // A closed channel: the writer failed and stopped listening.
                        if bands.send(band).is_err() || last {
                            break;
                        }
                    }
                });
                for band in arriving {
                    match band.map_err(|e| PyramidError::Decode(e.into()))? {
                        Some(band) => writer.push(&band)?,
                        None => break,
                    }
                }
                Ok(writer.finish()?)
            })
        })?;
        let info = self.read_header(hash, source)?;
        self.remember(hash, info);
        Ok(written)
    }
}

/// A source decoded whole: one band.
struct Whole(Option<DynamicImage>);

impl BandReader for Whole {
    fn size(&self) -> (u32, u32) {
        self.0.as_ref().map_or((0, 0), |i| (i.width(), i.height()))
    }
    fn color(&self) -> ColorType {
        self.0.as_ref().map_or(ColorType::Rgb8, |i| i.color())
    }
    fn next_band(&mut self) -> Result<Option<DynamicImage>, SourceError> {
        Ok(self.0.take())
    }
    fn working_bytes(&self) -> u64 {
        0
    }
}

impl Coded for PyramidError {
    fn code(&self) -> Code {
        match self {
            PyramidError::Decode(e) => e.code(),
            PyramidError::Write(_) | PyramidError::Io(..) | PyramidError::Mismatch(..) => {
                Code::Internal
            }
        }
    }
}
