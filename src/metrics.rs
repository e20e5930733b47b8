//! Prometheus series, served as text on `/metrics`. Labels carry routes and statuses only —
//! never identifiers or field values.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

use crate::cache::{CacheCounters, DerivativeCache};
use crate::pyramid::PyramidCounters;
use crate::source::memory::TileCounters;

/// Latency buckets from 0.5 ms to 30 s.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every series Tessera exports.
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub renders_in_flight: IntGauge,
    pub renders: IntCounter,
    pub stored_tiles: IntCounter,
    pub render_seconds: Histogram,
    pub decode_seconds: Histogram,
    pub coalesced_waits: IntCounter,
    pub overloaded: IntCounter,
    /// Personalized renders by kind (`published`, `draft`); never by field value.
    pub template_renders: IntCounterVec,
    /// Refused signatures and tokens by reason.
    pub template_refusals: IntCounterVec,
    /// Email-template requests answered with the all-defaults image because a limit was hit.
    pub template_overflow: IntCounter,
    cache_bytes: IntGauge,
    cache_entries: IntGauge,
    renders_waiting: IntGauge,
}

impl Metrics {
    /// Creates the series and registers the cache's, the pyramid builder's and the tile
    /// memory's beside them.
    pub fn new(cache: &CacheCounters, pyramids: &PyramidCounters, tiles: &TileCounters) -> Metrics {
        let registry = Registry::new();
        let hist = |name: &str, help: &str| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()))
                .expect("valid histogram")
        };
        let m = Metrics {
            requests: IntCounterVec::new(
                Opts::new(
                    "tessera_http_requests_total",
                    "HTTP requests by route and status.",
                ),
                &["route", "status"],
            )
            .expect("valid counter"),
            request_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "tessera_http_request_duration_seconds",
                    "HTTP request latency by route.",
                )
                .buckets(BUCKETS.to_vec()),
                &["route"],
            )
            .expect("valid histogram"),
            renders_in_flight: IntGauge::new("tessera_renders_in_flight", "Renders running now.")
                .expect("valid gauge"),
            renders: IntCounter::new(
                "tessera_renders_total",
                "Images rendered (cache misses that ran the pipeline).",
            )
            .expect("valid counter"),
            stored_tiles: IntCounter::new(
                "tessera_stored_tiles_total",
                "Stored JPEG tiles answered as they are (neither rendered nor cached).",
            )
            .expect("valid counter"),
            render_seconds: hist(
                "tessera_render_duration_seconds",
                "Time to render one image: decode to encode.",
            ),
            decode_seconds: hist(
                "tessera_decode_duration_seconds",
                "Time to decode one source.",
            ),
            coalesced_waits: IntCounter::new(
                "tessera_coalesced_waits_total",
                "Requests that waited for an identical render already running.",
            )
            .expect("valid counter"),
            overloaded: IntCounter::new(
                "tessera_overloaded_total",
                "Renders refused with 503: queue full, deadline passed or memory budget exhausted.",
            )
            .expect("valid counter"),
            template_renders: IntCounterVec::new(
                Opts::new(
                    "tessera_template_renders_total",
                    "Personalized images rendered, by kind (published or draft).",
                ),
                &["kind"],
            )
            .expect("valid counter"),
            template_refusals: IntCounterVec::new(
                Opts::new(
                    "tessera_template_refusals_total",
                    "Personalized-image requests whose signature or sealed token was refused, by reason.",
                ),
                &["reason"],
            )
            .expect("valid counter"),
            template_overflow: IntCounter::new(
                "tessera_template_overflow_total",
                "Email-template requests over a limit answered with the all-defaults image.",
            )
            .expect("valid counter"),
            cache_bytes: IntGauge::new(
                "tessera_cache_bytes",
                "Bytes held by the derivative cache.",
            )
            .expect("valid gauge"),
            cache_entries: IntGauge::new(
                "tessera_cache_entries",
                "Entries in the derivative cache.",
            )
            .expect("valid gauge"),
            renders_waiting: IntGauge::new(
                "tessera_renders_waiting",
                "Renders waiting for a render slot now.",
            )
            .expect("valid gauge"),
            registry,
        };
        let r = &m.registry;
        for c in [
            Box::new(m.requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.request_seconds.clone()),
            Box::new(m.renders_in_flight.clone()),
            Box::new(m.renders.clone()),
            Box::new(m.stored_tiles.clone()),
            Box::new(m.render_seconds.clone()),
            Box::new(m.decode_seconds.clone()),
            Box::new(m.coalesced_waits.clone()),
            Box::new(m.overloaded.clone()),
            Box::new(m.template_renders.clone()),
            Box::new(m.template_refusals.clone()),
            Box::new(m.template_overflow.clone()),
            Box::new(m.cache_bytes.clone()),
            Box::new(m.cache_entries.clone()),
            Box::new(m.renders_waiting.clone()),
            Box::new(cache.hits.clone()),
            Box::new(cache.misses.clone()),
            Box::new(cache.evictions.clone()),
            Box::new(cache.writes.clone()),
            Box::new(pyramids.built.clone()),
            Box::new(pyramids.pruned.clone()),
            Box::new(pyramids.failed.clone()),
            Box::new(pyramids.building.clone()),
            Box::new(pyramids.build_seconds.clone()),
            Box::new(tiles.hits.clone()),
            Box::new(tiles.misses.clone()),
        ] {
            r.register(c).expect("unique series");
        }
        m
    }

    /// The text exposition format, with the cache size and render queue gauges read now.
    pub fn render(&self, cache: Option<&dyn DerivativeCache>, renders_waiting: usize) -> String {
        self.renders_waiting.set(renders_waiting as i64);
        if let Some(c) = cache {
            let s = c.stats();
            self.cache_bytes.set(s.bytes as i64);
            self.cache_entries.set(s.entries as i64);
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("text format is UTF-8")
    }
}
