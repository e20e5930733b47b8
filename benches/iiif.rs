//! Criterion benches of the IIIF core and the pipeline stages on generated images (parse+plan,
//! resize per filter, rotation, encode per format, decode full/scaled/tiled, one personalized
//! render stage by stage):
//! `cargo bench --bench iiif`.

use criterion::{Criterion, criterion_group, criterion_main};
use image::{DynamicImage, RgbImage};
use std::hint::black_box;
use tessera::iiif::grammar::parse_path;
use tessera::iiif::{Format, IiifPath, Limits, plan::plan};
use tessera::pipeline::{
    Decoded, EncodeOptions, Filter, RenderOptions, decode, encode, render, transform,
};
use tessera::pyramid::write::{TileCompression, write_pyramid};
use tessera::source::{FileStore, Locator, SourceInfo, StoredSource, probe};

/// A 2048×1536 image with gradients and texture, so encoders have real work.
fn picture() -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(2048, 1536, |x, y| {
        image::Rgb([(x / 8) as u8, (y / 6) as u8, ((x ^ y) & 0xff) as u8])
    }))
}

fn parse_and_plan(c: &mut Criterion) {
    let limits = Limits {
        max_area: Some(40_000_000),
        ..Limits::default()
    };
    c.bench_function("parse+plan tile", |b| {
        b.iter(|| {
            let IiifPath::Image { request, .. } =
                parse_path(black_box("img%2F0001/1024,512,512,512/256,/0/default.jpg")).unwrap()
            else {
                unreachable!()
            };
            plan(&request, 6000, 4000, &limits).unwrap().canonical()
        })
    });
}

fn stages(c: &mut Criterion) {
    let img = picture();
    let limits = Limits::default();
    let thumb = |url: &str| {
        let IiifPath::Image { request, .. } = parse_path(url).unwrap() else {
            unreachable!()
        };
        plan(&request, 2048, 1536, &limits).unwrap()
    };
    let mut group = c.benchmark_group("resize !256,256");
    group.sample_size(20);
    for name in [
        "nearest",
        "box",
        "bilinear",
        "hamming",
        "catmullrom",
        "mitchell",
        "lanczos3",
    ] {
        let filter: Filter = name.parse().unwrap();
        let p = thumb("x/full/!256,256/0/default.jpg");
        group.bench_function(name, |b| {
            b.iter(|| transform(Decoded::whole(img.clone()), &p, filter).unwrap())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("rotate 512 tile");
    group.sample_size(20);
    for rot in ["90", "22.5"] {
        let p = thumb(&format!("x/0,0,512,512/max/{rot}/default.png"));
        group.bench_function(rot, |b| {
            b.iter(|| transform(Decoded::whole(img.clone()), &p, Filter::Lanczos3).unwrap())
        });
    }
    group.finish();

    let tile = DynamicImage::ImageRgb8(img.crop_imm(0, 0, 512, 512).to_rgb8());
    let options = EncodeOptions {
        jpeg_quality: 85,
        jpeg_progressive: false,
        webp_quality: 80.0,
        png_level: 1,
    };
    let mut group = c.benchmark_group("encode 512 tile");
    group.sample_size(20);
    for format in Format::ALL {
        group.bench_function(format.extension(), |b| {
            b.iter(|| encode::encode(&tile, format, &options).unwrap())
        });
    }
    group.finish();
}

/// Decoding what a plan reads of a 3000×2000 noisy photo-like JPEG, and of its tiled pyramid:
/// the whole JPEG, the JPEG reduced in the DCT domain, and a 512 tile or a thumbnail's level
/// read from the pyramid's tiles.
fn decoding(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = dir.path().join("photo.jpg");
    let mut seed = 7u32;
    let photo = RgbImage::from_fn(3000, 2000, |x, y| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let noise = (seed >> 16) as i32 % 13 - 6;
        let v = |base: u32| (base as i32 + noise).clamp(0, 255) as u8;
        image::Rgb([v(x / 12), v(y / 8), v((x + y) / 20)])
    });
    photo.save(&jpeg).unwrap();
    let pyramid = dir.path().join("photo.tif");
    let out = std::io::BufWriter::new(std::fs::File::create(&pyramid).unwrap());
    write_pyramid(
        out,
        DynamicImage::ImageRgb8(photo),
        512,
        TileCompression::Jpeg { quality: 90 },
    )
    .unwrap();
    let store = FileStore::new(dir.path()).unwrap();
    let flat = probe(&store, &Locator::new("photo.jpg"), u64::MAX, None).unwrap();
    let tiled = probe(&store, &Locator::new("photo.tif"), u64::MAX, None).unwrap();
    let planned = |source: &SourceInfo, url: &str, reduce: bool| {
        let IiifPath::Image { request, .. } = parse_path(url).unwrap() else {
            unreachable!()
        };
        let p = plan(&request, 3000, 2000, &Limits::default()).unwrap();
        if reduce {
            p.with_resolution(&source.resolutions(), source.is_tiled())
        } else {
            p
        }
    };
    let mut group = c.benchmark_group("decode 3000x2000");
    group.sample_size(10);
    let thumb = "x/full/!256,256/0/default.jpg";
    let tile = "x/1024,512,512,512/512,/0/default.jpg";
    for (name, source, url, reduce) in [
        ("jpeg full", &flat, thumb, false),
        ("jpeg dct 1/8 (thumbnail)", &flat, thumb, true),
        ("pyramid level (thumbnail)", &tiled, thumb, true),
        ("pyramid 512 tile", &tiled, tile, true),
    ] {
        let p = planned(source, url, reduce);
        group.bench_function(name, |b| {
            let source = StoredSource {
                store: &store,
                info: source,
                tiles: None,
            };
            b.iter(|| decode::decode(source, &p, u64::MAX).unwrap())
        });
    }
    group.finish();

    // A viewer's 512 tile from a pyramid of 256 tiles: decoded and re-encoded, or joined from
    // the stored tiles' codes (`image.jpeg_passthrough`).
    let out = std::fs::File::create(dir.path().join("photo256.tif")).unwrap();
    write_pyramid(
        std::io::BufWriter::new(out),
        DynamicImage::ImageRgb8(RgbImage::from_fn(3000, 2000, |x, y| {
            image::Rgb([
                (x / 12) as u8,
                (y / 8) as u8,
                ((x * 7 + y * 13) % 251) as u8,
            ])
        })),
        256,
        TileCompression::Jpeg { quality: 85 },
    )
    .unwrap();
    let tiled256 = probe(&store, &Locator::new("photo256.tif"), u64::MAX, None).unwrap();
    let p = planned(&tiled256, tile, true);
    let mut group = c.benchmark_group("512 tile of 256 tiles");
    for (name, joined) in [("decode + encode q85", false), ("joined", true)] {
        let options = RenderOptions {
            filter: Filter::Lanczos3,
            encode: EncodeOptions {
                jpeg_quality: 85,
                jpeg_progressive: false,
                webp_quality: 80.0,
                png_level: 1,
            },
            jpeg_passthrough: joined,
            max_decode_bytes: u64::MAX,
        };
        let source = StoredSource {
            store: &store,
            info: &tiled256,
            tiles: None,
        };
        group.bench_function(name, |b| b.iter(|| render(source, &p, &options).unwrap()));
    }
    group.finish();
}

/// One personalized render of the sample webinar template, stage by stage: reading its
/// pictures (base image and host photo), drawing the canvas, encoding it.
fn personalized(c: &mut Criterion) {
    use std::collections::BTreeMap;
    use tessera::overlay::{Fonts, compose, load, underlay, with_shaper};
    use tessera::template::fields::Denylist;
    use tessera::template::model::parse_template;
    use tessera::template::request::{
        Inputs, Policy, Row, compile_fields, compile_variants, personalize,
    };

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images");
    let dir = tempfile::tempdir().unwrap();
    let catalogue =
        tessera::store::Catalogue::open(&dir.path().join("catalogue.sqlite"), 100).unwrap();
    let files = std::sync::Arc::new(FileStore::new(&root).unwrap());
    let sources = tessera::store::Sources::new(files, u64::MAX, std::sync::Arc::new(catalogue));
    let doc = std::fs::read(root.join("webinar-reminder.json")).unwrap();
    let template = parse_template(&doc).unwrap();
    let fields = compile_fields(&template);
    let fonts = Fonts::load(None).unwrap();
    let coverage = fonts.coverage();
    let covers = |s: &str| coverage.covers(s);
    let denylist = Denylist::default();
    let policy = Policy {
        keys: None,
        denylist: &denylist,
        covers: &covers,
        max_field_chars: 256,
        now: 0,
    };
    let inputs = Inputs {
        values: BTreeMap::from([("first_name".to_string(), "Ana".to_string())]),
        trusted: false,
    };
    let variants = compile_variants(&template);
    let stopped = BTreeMap::new();
    let decide = || {
        personalize(
            &template,
            &fields,
            &variants,
            &stopped,
            (&inputs, Row::None),
            &policy,
        )
    };
    let filled = decide();
    let own = load::ProjectPictures::none("default");
    let chosen = load::choose(&template, &filled.layers, &sources, &own).unwrap();
    let options = tessera::config::Config::load(&Default::default(), Vec::new())
        .unwrap()
        .render_options();
    let mut group = c.benchmark_group("personalized 1200x630 (webinar-reminder.json)");
    group.sample_size(20);
    group.bench_function("fields + layers", |b| b.iter(decide));
    // Fitted pictures kept across iterations, as the server keeps them across recipients.
    let sprites = tessera::cache::memory::MemoryLru::new(32 << 20);
    let contents = || {
        load::read_layers(
            &template,
            filled.layers.clone(),
            &chosen,
            &options,
            &sprites,
        )
    };
    group.bench_function("read base image", |b| {
        b.iter(|| load::read_base(&template, &chosen, &options).unwrap())
    });
    let base = load::read_base(&template, &chosen, &options).unwrap();
    group.bench_function("draw underlay (once per template)", |b| {
        b.iter(|| {
            with_shaper(&fonts, |s| {
                underlay(&template, base.as_ref(), &contents(), s)
            })
        })
    });
    let under = with_shaper(&fonts, |s| {
        underlay(&template, base.as_ref(), &contents(), s)
    })
    .unwrap();
    let drawn = || {
        let contents = contents();
        with_shaper(&fonts, |s| compose(&template, &under, &contents, s, false)).unwrap()
    };
    group.bench_function("draw personal layers (photo kept)", |b| b.iter(drawn));
    let canvas = drawn();
    group.bench_function("encode jpeg", |b| {
        b.iter(|| encode::encode(&canvas, Format::Jpg, &options.encode).unwrap())
    });
    group.finish();
}

criterion_group!(benches, parse_and_plan, stages, decoding, personalized);
criterion_main!(benches);
