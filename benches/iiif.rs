//! Criterion benches of the IIIF core and the pipeline stages on generated images:
//! `cargo bench --bench iiif`.

use criterion::{Criterion, criterion_group, criterion_main};
use image::{DynamicImage, RgbImage};
use std::hint::black_box;
use tessera::iiif::grammar::parse_path;
use tessera::iiif::{Format, IiifPath, Limits, plan::plan};
use tessera::pipeline::{Decoded, EncodeOptions, Filter, encode, transform};

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
    for (name, filter) in [
        ("lanczos3", Filter::Lanczos3),
        ("catmullrom", Filter::CatmullRom),
        ("bilinear", Filter::Bilinear),
    ] {
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

criterion_group!(benches, parse_and_plan, stages);
criterion_main!(benches);
