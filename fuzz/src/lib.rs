//! What each fuzz target runs on one input, and the properties it checks. Shared by the
//! libFuzzer binaries in `fuzz/fuzz_targets/` and by `tests/crash_repro.rs`, which replays
//! every saved crasher (and every seed) through these same functions under `cargo test`.
//!
//! Every function takes arbitrary bytes and must neither panic nor hang; a failed `assert!`
//! is a property that does not hold. Only `tessera`, `serde_json` and `std` are used, so that
//! the file also compiles as a module of Tessera's own integration tests.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use tessera::iiif::grammar::{IiifPath, ImageRequest, encode_identifier, parse_path};
use tessera::iiif::plan::{Limits, Plan, plan, rotated_size};
use tessera::jpeg::{self, Grid};
use tessera::source::store::Meta;
use tessera::source::tiled::{self, Window};
use tessera::source::{Locator, ReadSeek, SourceError, SourceStore, StoredSource};
use tessera::template::fields::{self, Denylist, Field, FieldKind, FieldSpec, Segment};
use tessera::template::model::{LayerKind, Template, parse_template};
use tessera::template::request::{
    Inputs, Policy, Row, TemplateId, compile_fields, compile_variants, personalize,
};
use tessera::template::signing::{self, Keys, Refused, Sealed};

/// What a fuzz target runs on one input.
pub type Target = fn(&[u8]);

/// The targets by name: the name is the binary, the `fuzz/seeds/` and the
/// `tests/crash_repro/` folder.
pub const TARGETS: [(&str, Target); 7] = [
    ("iiif_path", iiif_path),
    ("template_document", template_document),
    ("merge_tags", merge_tags),
    ("signed_url", signed_url),
    ("sealed_token", sealed_token),
    ("source_probe", source_probe),
    ("jpeg_join", jpeg_join),
];

/// The clock of the signing targets, Unix seconds.
const NOW: u64 = 1_750_000_000;

/// Source sizes every parsed image request is planned against: the spec's sample, an odd
/// pyramid, one pixel, and a long strip at the default `source.max_pixels`.
const SOURCES: [(u32, u32); 4] = [(300, 200), (6001, 4001), (1, 1), (100_000, 2_500)];

/// No limits, the default configuration's (`image.max_area`), and all three.
const LIMITS: [Limits; 3] = [
    Limits {
        max_width: None,
        max_height: None,
        max_area: None,
    },
    Limits {
        max_width: None,
        max_height: None,
        max_area: Some(40_000_000),
    },
    Limits {
        max_width: Some(1_000),
        max_height: Some(800),
        max_area: Some(500_000),
    },
];

/// `iiif_path`: the path below the prefix through the grammar; an image request is printed
/// and re-parsed, then planned for every [`SOURCES`] size under every [`LIMITS`]. A plan must
/// stay inside the image, the limits and the format, and its canonical form (§4.7, the cache
/// key) must re-parse and plan to the very same plan.
pub fn iiif_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (identifier, request) = match parse_path(text) {
        Ok(IiifPath::Image {
            identifier,
            request,
        }) => (identifier, request),
        Ok(IiifPath::Base { identifier } | IiifPath::Info { identifier }) => {
            let again = parse_path(&encode_identifier(&identifier));
            assert_eq!(again, Ok(IiifPath::Base { identifier }));
            return;
        }
        Err(_) => return,
    };
    let encoded = encode_identifier(&identifier);
    let printed = format!("{encoded}/{request}");
    assert_eq!(
        parse_path(&printed),
        Ok(IiifPath::Image {
            identifier: identifier.clone(),
            request
        }),
        "{text:?} printed as {printed:?}"
    );
    for (width, height) in SOURCES {
        for limits in &LIMITS {
            if let Ok(p) = plan(&request, width, height, limits) {
                check_plan(&request, &p, &encoded, width, height, limits);
            }
        }
    }
}

fn check_plan(
    request: &ImageRequest,
    p: &Plan,
    encoded: &str,
    width: u32,
    height: u32,
    limits: &Limits,
) {
    let at = || format!("{request} on {width}x{height} under {limits:?}");
    let c = p.crop;
    assert!(c.w > 0 && c.h > 0, "empty crop: {}", at());
    assert!(
        c.x as u64 + c.w as u64 <= width as u64 && c.y as u64 + c.h as u64 <= height as u64,
        "crop {c:?} outside: {}",
        at()
    );
    let (w, h) = p.scaled;
    assert!(
        w > 0 && h > 0 && limits.allows(w, h),
        "size {w}x{h}: {}",
        at()
    );
    assert!((0.0..360.0).contains(&p.degrees), "{}", at());
    let (ow, oh) = p.output_size();
    assert_eq!((ow, oh), rotated_size(w, h, p.degrees));
    let max = p.format.max_dimension();
    assert!(ow <= max && oh <= max, "output {ow}x{oh}: {}", at());

    let canonical = p.canonical();
    let again = match parse_path(&format!("{encoded}/{canonical}")) {
        Ok(IiifPath::Image { request, .. }) => request,
        other => panic!("canonical {canonical:?} of {} parses to {other:?}", at()),
    };
    let replanned = plan(&again, width, height, limits)
        .unwrap_or_else(|e| panic!("canonical {canonical:?} of {} does not plan: {e}", at()));
    assert_eq!(&replanned, p, "canonical {canonical:?} of {}", at());
    assert_eq!(replanned.canonical(), canonical, "{}", at());

    // The resolution choice (a JPEG's DCT scalings, or pyramid levels) reads inside the
    // chosen resolution and leaves the canonical form alone.
    let resolutions: Vec<(u32, u32)> = [1, 2, 4, 8]
        .iter()
        .map(|s| (width.div_ceil(*s), height.div_ceil(*s)))
        .collect();
    for tiled in [false, true] {
        let r = p.with_resolution(&resolutions, tiled);
        assert!(r.read.resolution < resolutions.len());
        let (rw, rh) = r.read.size;
        let win = r.read_window();
        assert!(
            win.w > 0
                && win.h > 0
                && win.x as u64 + win.w as u64 <= rw as u64
                && win.y as u64 + win.h as u64 <= rh as u64,
            "window {win:?} of {rw}x{rh}: {}",
            at()
        );
        assert!(r.decoded_pixels() > 0);
        if let Some(stored) = r.stored_window() {
            assert!(
                tiled && stored == win,
                "{stored:?} is not {win:?}: {}",
                at()
            );
        }
        assert_eq!(r.canonical(), canonical);
    }
}

/// `template_document`: a template document through parsing and validation; a valid one has
/// all its fields compiled, its resources checked, every layer filled (with no values and
/// with each field's default as the value), and survives a serialise → parse round trip.
pub fn template_document(data: &[u8]) {
    let Ok(template) = parse_template(data) else {
        return;
    };
    // The admin API stores the body as text once it parses.
    assert!(
        std::str::from_utf8(data).is_ok(),
        "a valid template is UTF-8"
    );
    let compiled = compile_fields(&template);
    assert_eq!(
        compiled.len(),
        template.fields.len(),
        "validation compiles every field's pattern"
    );
    let _ = template.check_resources(
        &["Noto Sans".to_string()],
        |text| !text.contains('\u{FFFD}'),
        |id| !id.is_empty(),
    );
    let denylist = Denylist::new(["scam"]);
    let policy = Policy {
        keys: None,
        denylist: &denylist,
        covers: &|_: &str| true,
        max_field_chars: 256,
        now: NOW,
    };
    let variants = compile_variants(&template);
    let stopped = Default::default();
    let run = |inputs: &Inputs| {
        personalize(
            &template,
            &compiled,
            &variants,
            &stopped,
            (inputs, Row::None),
            &policy,
        )
    };
    let defaults = run(&Inputs::default());
    check_layers(&defaults.template, &defaults.layers);
    assert!(defaults.fallbacks.is_empty(), "{:?}", defaults.fallbacks);
    let echoed = Inputs {
        values: template
            .fields
            .iter()
            .map(|(k, spec)| (k.clone(), spec.default.clone()))
            .collect(),
        trusted: false,
    };
    let echo = run(&echoed);
    check_layers(&echo.template, &echo.layers);

    let json = serde_json::to_vec(&template).expect("a template serialises");
    let again = parse_template(&json).unwrap_or_else(|e| {
        panic!(
            "re-serialised template does not parse: {e}\n{}",
            String::from_utf8_lossy(&json)
        )
    });
    let (a, b) = (
        serde_json::to_value(&template).expect("serialises"),
        serde_json::to_value(&again).expect("serialises"),
    );
    assert!(
        same_json(&a, &b),
        "round trip changed the template:\n{a}\n{b}"
    );
}

fn check_layers(template: &Template, layers: &[Option<String>]) {
    assert_eq!(layers.len(), template.layers.len());
    for (layer, shown) in template.layers.iter().zip(layers) {
        let blank = layer.hidden || matches!(layer.kind, LayerKind::Shape(_));
        assert_eq!(blank, shown.is_none());
    }
}

/// JSON equality, with numbers equal to within serde_json's float parsing (exact to the last
/// bit only with its `float_roundtrip` feature, which Tessera does not use).
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => {
                let diff = (x - y).abs();
                diff <= 1e-12 * x.abs().max(y.abs()) || diff < 1e-300
            }
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// `merge_tags`: text with merge tags through the tag parser; parsed segments printed back
/// re-parse to themselves, errors point inside the text. The same text as a field value of
/// every kind, and through the unfilled-platform-tag check.
pub fn merge_tags(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let unfilled = fields::is_unfilled_tag(text);
    assert_eq!(fields::is_unfilled_tag(&format!(" \t{text}\n ")), unfilled);
    match fields::parse(text) {
        Ok(segments) => {
            let printed = print_segments(&segments);
            assert_eq!(
                fields::parse(&printed).as_ref(),
                Ok(&segments),
                "{text:?} printed as {printed:?}"
            );
        }
        Err(e) => assert!(e.at <= text.len(), "{e} in {} bytes", text.len()),
    }
    for kind in [
        FieldKind::Text,
        FieldKind::Number,
        FieldKind::Date,
        FieldKind::Url,
    ] {
        let field = Field::new(FieldSpec {
            kind,
            max_length: 64,
            pattern: None,
            open: true,
            default: "default".into(),
        })
        .expect("no pattern to compile");
        let (shown, why) = field.resolve(Some(text), None, |_| None);
        match why {
            None => assert_eq!(shown, text.trim()),
            Some(_) => assert_eq!(shown, "default"),
        }
    }
}

/// Merge-tag text that parses to `segments`.
fn print_segments(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Literal(l) => out.push_str(l),
            Segment::Tag {
                field,
                default,
                filters,
            } => {
                out.push_str("{{ ");
                out.push_str(field);
                if let Some(d) = default {
                    out.push_str(" | default: \"");
                    out.push_str(&d.replace('\\', "\\\\").replace('"', "\\\""));
                    out.push('"');
                }
                for f in filters {
                    out.push_str(&format!(" | {f}"));
                }
                out.push_str(" }}");
            }
        }
    }
    out
}

/// Signing keys of the fuzz targets: `k2` signs and seals, `k1` only verifies.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        Keys::new(vec![
            (
                "k2".into(),
                b"tessera fuzzing key k2, 32+ bytes long".to_vec(),
            ),
            ("k1".into(), vec![0x11; 48]),
        ])
        .expect("valid keys")
    })
}

/// Keys with none of [`keys`]' ids.
fn other_keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys::new(vec![("k9".into(), vec![0x99; 32])]).expect("valid keys"))
}

/// `path?name=value&…` as the signing functions take it (no percent-decoding: the input's
/// own characters are the decoded values).
fn split_url(text: &str) -> (&str, Vec<(String, String)>) {
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    (path, pairs)
}

/// `signed_url`: an arbitrary `path?query` verified with fixed keys; the signed text does not
/// depend on the order of the pairs; the same URL signed (without its own `sig`) verifies,
/// with its `exp` honoured, and not under another path or with other keys.
pub fn signed_url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (path, query) = split_url(&text);
    let _ = signing::verify(keys(), path, &query, NOW);
    let text_of = signing::signed_text(path, &query);
    let mut reversed = query.clone();
    reversed.reverse();
    assert_eq!(signing::signed_text(path, &reversed), text_of);

    let mut unsigned: Vec<(String, String)> =
        query.into_iter().filter(|(k, _)| k != "sig").collect();
    let sig = signing::sign(keys(), path, &unsigned);
    assert_eq!(signing::signed_text(path, &unsigned), text_of);
    unsigned.push(("sig".into(), sig));
    let expected = match unsigned.iter().find(|(k, _)| k == "exp") {
        None => Ok(()),
        Some((_, exp)) => match exp.parse::<u64>() {
            Ok(exp) if exp >= NOW => Ok(()),
            Ok(_) => Err(Refused::Expired),
            Err(_) => Err(Refused::Malformed),
        },
    };
    assert_eq!(signing::verify(keys(), path, &unsigned, NOW), expected);
    assert_eq!(
        signing::verify(keys(), &format!("{path}/"), &unsigned, NOW),
        Err(Refused::Tampered)
    );
    assert_eq!(
        signing::verify(other_keys(), path, &unsigned, NOW),
        Err(Refused::UnknownKey)
    );
}

/// `sealed_token`: arbitrary text opened as a sealed token and as a template identifier;
/// then fields made from its lines (`name=value`) sealed and opened again: they come back
/// unless expired, and not for another template or with other keys.
pub fn sealed_token(data: &[u8]) {
    const BOUND: &str = "badge~3";
    let text = String::from_utf8_lossy(data);
    let _ = signing::unseal(keys(), BOUND, &text, NOW);
    if let Some(Ok(id)) = TemplateId::parse(&text)
        && let Some(token) = &id.token
    {
        let _ = signing::unseal(keys(), &id.bound_to(), token, NOW);
    }

    let fields: BTreeMap<String, String> = text
        .lines()
        .map(|line| {
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let exp = match data.first().map(|b| (b % 3, *b as u64)) {
        Some((1, b)) => Some(NOW + b),
        Some((2, b)) => Some(NOW - 1 - b),
        _ => None,
    };
    let contents = Sealed { fields, exp };
    let token = signing::seal(keys(), BOUND, &contents);
    let expected = match exp {
        Some(exp) if exp < NOW => Err(Refused::Expired),
        _ => Ok(contents),
    };
    assert_eq!(signing::unseal(keys(), BOUND, &token, NOW), expected);
    assert_eq!(
        signing::unseal(keys(), "badge~4", &token, NOW),
        Err(Refused::Tampered)
    );
    assert_eq!(
        signing::unseal(other_keys(), BOUND, &token, NOW),
        Err(Refused::UnknownKey)
    );
    let id = TemplateId::parse(&format!("tpl~badge~3~{token}"))
        .expect("a template identifier")
        .expect("a sealed token fits in an identifier");
    assert_eq!(id.bound_to(), BOUND);
    assert_eq!(id.token.as_deref(), Some(token.as_str()));
}

/// `source.max_pixels` of the default configuration.
const MAX_PIXELS: u64 = 250_000_000;

/// The fuzz input as the one source of a store held in memory: the probes and tile reads
/// run exactly as over a file, without touching the disk.
#[derive(Debug)]
struct Memory(Arc<[u8]>);

impl SourceStore for Memory {
    fn locate(&self, _: &str) -> Result<Locator, SourceError> {
        Ok(Locator::new("input"))
    }

    fn meta(&self, _: &Locator) -> std::io::Result<Option<Meta>> {
        Ok(Some(Meta {
            bytes: self.0.len() as u64,
            modified: SystemTime::UNIX_EPOCH,
        }))
    }

    fn open(&self, _: &Locator) -> std::io::Result<Box<dyn ReadSeek>> {
        Ok(Box::new(Cursor::new(self.0.clone())))
    }

    fn sidecar_modified(&self, _: &Locator) -> Option<SystemTime> {
        None
    }

    fn sidecar(&self, _: &Locator) -> std::io::Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// `source_probe`: the input as a source, through the header probe of every format
/// (JPEG, PNG, TIFF with Tessera's own tiled-TIFF reader, WebP, GIF). A tiled TIFF that
/// probes then has small windows of its levels decoded, with a 16 MiB decode limit.
pub fn source_probe(data: &[u8]) {
    let store = Memory(data.into());
    let at = Locator::new("input");
    let Ok(info) = tessera::source::probe(&store, &at, MAX_PIXELS, None) else {
        return;
    };
    // Directories and tiles kept in memory, as the server reads them.
    let memory = tessera::source::memory::TileMemory::new(1 << 20);
    let source = StoredSource {
        store: &store,
        info: &info,
        tiles: Some(&memory),
    };
    assert!(info.width > 0 && info.height > 0);
    assert!(info.width as u64 * info.height as u64 <= MAX_PIXELS);
    assert!(!info.resolutions().is_empty());
    let Some(first) = info.levels.first() else {
        return;
    };
    assert_eq!((first.width, first.height), (info.width, info.height));
    for pair in info.levels.windows(2) {
        assert!(pair[1].width < pair[0].width, "{:?}", info.levels);
    }
    for level in info.levels.iter().take(4) {
        let (w, h) = (level.width, level.height);
        // The first and the last tiles' corners, and a window across the first tile's corner.
        let mut windows = vec![
            Window {
                x: 0,
                y: 0,
                w: w.min(64),
                h: h.min(64),
            },
            Window {
                x: w - w.min(16),
                y: h - h.min(16),
                w: w.min(16),
                h: h.min(16),
            },
        ];
        let (x, y) = (level.tile_width - 1, level.tile_height - 1);
        if x < w - 1 && y < h - 1 {
            windows.push(Window { x, y, w: 2, h: 2 });
        }
        for window in windows {
            let tiff = tiled::Tiff::stored(source);
            if let Ok(image) = tiled::read_window(tiff, level, window, 16 << 20) {
                assert_eq!((image.width(), image.height()), (window.w, window.h));
            }
            // Stored JPEG tiles joined without decoding: whatever the tiles hold.
            let _ = tiled::stored_jpeg(tiled::Tiff::stored(source), level, window);
        }
    }
}

/// `jpeg_join`: the input as every stored tile (32×32) of a 64×64 level, joined for windows
/// across, inside and on the edge of tiles. A join that succeeds is a JPEG that joins again,
/// as one whole tile, to the same bytes (its codes copied unchanged).
pub fn jpeg_join(data: &[u8]) {
    let grid = |x, y, w, h, tile| Grid {
        x,
        y,
        w,
        h,
        tile_width: tile,
        tile_height: tile,
    };
    for window in [
        (0, 0, 64, 64),
        (8, 8, 40, 30),
        (16, 16, 16, 16),
        (48, 32, 16, 32),
    ] {
        let (x, y, w, h) = window;
        let joined = jpeg::join(grid(x, y, w, h, 32), |_, _| Ok::<_, ()>(data.to_vec()))
            .expect("the tiles are in memory");
        let Ok(joined) = joined else {
            continue;
        };
        // Joined pieces of a 64x64 window are MCU-aligned tiles of their own.
        if (w, h) == (64, 64) {
            let again = jpeg::join(grid(0, 0, 64, 64, 64), |_, _| Ok::<_, ()>(joined.clone()))
                .expect("in memory");
            assert!(
                again.as_ref().is_ok_and(|a| *a == joined),
                "a joined stream does not join to itself: {:?}",
                again.err()
            );
        }
    }
    jpeg_bands(data);
}

/// The same input cut into bands of MCU rows (the pyramid builder's reader): never a panic;
/// when every band comes out, they cover the frame's rows in order, and a band cut again as
/// one band is itself, byte for byte.
fn jpeg_bands(data: &[u8]) {
    let Ok(mut bands) = jpeg::Bands::open(data) else {
        return;
    };
    let (_, height) = bands.size();
    let mut y = 0;
    // Bounded: a frame may claim 65535 rows that the data does not have.
    for _ in 0..64 {
        match bands.next_band(8) {
            Ok(Some(band)) => {
                assert_eq!(band.y, y, "bands out of order");
                y += band.height;
                let mut again = jpeg::Bands::open(band.jpeg.as_slice()).expect("a band opens");
                let whole = again.next_band(band.height).expect("a band cuts again");
                assert!(
                    whole.is_some_and(|w| w.jpeg == band.jpeg),
                    "a band cut again is not itself"
                );
            }
            Ok(None) => {
                assert_eq!(y, height, "bands do not cover the frame");
                return;
            }
            Err(_) => return,
        }
    }
}
