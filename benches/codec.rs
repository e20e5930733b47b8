//! Criterion comparison of the pure-Rust JPEG codecs a request can go through, on this
//! machine: decoding (zune-jpeg, jpeg-decoder, libjpeg-turbo-rs), decoding reduced in the DCT
//! domain (jpeg-decoder's `scale`, libjpeg-turbo-rs), and encoding at quality 85 with 4:2:0
//! chroma (jpeg-encoder, libjpeg-turbo-rs), for a viewer's 512 tile, a 1200×630 personalized
//! image and a 2000 px photo: `cargo bench --bench codec`.

use criterion::{Criterion, criterion_group, criterion_main};
use image::RgbImage;
use std::hint::black_box;

use libjpeg_turbo_rs as ljt;

/// A photo-like picture: gradients under sensor-like noise, so the entropy coder has work.
fn photo(w: u32, h: u32) -> RgbImage {
    let mut seed = 7u32;
    RgbImage::from_fn(w, h, |x, y| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let noise = (seed >> 16) as i32 % 13 - 6;
        let v = |base: u32| (base as i32 + noise).clamp(0, 255) as u8;
        image::Rgb([v(x / 12 % 256), v(y / 8 % 256), v((x + y) / 20 % 256)])
    })
}

const SIZES: [(&str, u32, u32); 3] = [
    ("512 tile", 512, 512),
    ("1200x630", 1200, 630),
    ("2000x1333", 2000, 1333),
];

fn jpeg_encoder_q85(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(
            img.as_raw(),
            img.width() as u16,
            img.height() as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    out
}

fn ljt_q85(img: &RgbImage) -> Vec<u8> {
    ljt::compress(
        img.as_raw(),
        img.width() as usize,
        img.height() as usize,
        ljt::PixelFormat::Rgb,
        85,
        ljt::Subsampling::S420,
    )
    .unwrap()
}

fn zune_decode(jpeg: &[u8]) -> Vec<u8> {
    let options = zune_core::options::DecoderOptions::default()
        .jpeg_set_out_colorspace(zune_core::colorspace::ColorSpace::RGB);
    zune_jpeg::JpegDecoder::new_with_options(zune_core::bytestream::ZCursor::new(jpeg), options)
        .decode()
        .unwrap()
}

fn jpeg_decoder_decode(jpeg: &[u8], scale: u16) -> Vec<u8> {
    let mut d = jpeg_decoder::Decoder::new(jpeg);
    d.read_info().unwrap();
    let info = d.info().unwrap();
    d.scale(info.width.div_ceil(scale), info.height.div_ceil(scale))
        .unwrap();
    d.decode().unwrap()
}

fn ljt_decode(jpeg: &[u8], scale: u32) -> Vec<u8> {
    let mut d = ljt::Decoder::new(jpeg).unwrap();
    d.set_output_format(ljt::PixelFormat::Rgb);
    if scale > 1 {
        d.set_scale(ljt::ScalingFactor::try_new(1, scale).unwrap());
    }
    d.decode_image().unwrap().data
}

fn decoding(c: &mut Criterion) {
    for (name, w, h) in SIZES {
        let jpeg = jpeg_encoder_q85(&photo(w, h));
        let mut group = c.benchmark_group(format!("decode {name}"));
        group.sample_size(30);
        group.bench_function("zune-jpeg", |b| b.iter(|| zune_decode(black_box(&jpeg))));
        group.bench_function("jpeg-decoder", |b| {
            b.iter(|| jpeg_decoder_decode(black_box(&jpeg), 1))
        });
        group.bench_function("libjpeg-turbo-rs", |b| {
            b.iter(|| ljt_decode(black_box(&jpeg), 1))
        });
        group.finish();
    }
    // What a thumbnail or a `full/max` under maxArea reads of a flat JPEG: the IDCT at 1/4.
    let jpeg = jpeg_encoder_q85(&photo(2000, 1333));
    let mut group = c.benchmark_group("decode 2000x1333 at 1/4");
    group.sample_size(30);
    group.bench_function("jpeg-decoder", |b| {
        b.iter(|| jpeg_decoder_decode(black_box(&jpeg), 4))
    });
    group.bench_function("libjpeg-turbo-rs", |b| {
        b.iter(|| ljt_decode(black_box(&jpeg), 4))
    });
    group.finish();
}

fn encoding(c: &mut Criterion) {
    for (name, w, h) in SIZES {
        let img = photo(w, h);
        let mut group = c.benchmark_group(format!("encode {name} q85"));
        group.sample_size(30);
        group.bench_function("jpeg-encoder", |b| {
            b.iter(|| jpeg_encoder_q85(black_box(&img)))
        });
        group.bench_function("libjpeg-turbo-rs", |b| b.iter(|| ljt_q85(black_box(&img))));
        group.finish();
    }
}

criterion_group!(benches, decoding, encoding);
criterion_main!(benches);
