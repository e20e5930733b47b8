//! Every source format in `sample-images/` through the real server. Several samples are the
//! same picture stored differently (baseline, progressive and CMYK JPEG, EXIF-rotated JPEG,
//! palette PNG, WebP, GIF), so each is checked against a sibling decoded by another codec path:
//! the mean absolute difference per channel must stay under a stated tolerance.

mod common;

use common::Server;
use image::{DynamicImage, GenericImageView};

fn samples() -> Server {
    Server::start_with(
        |root| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images");
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    std::fs::copy(&path, root.join(path.file_name().unwrap())).unwrap();
                }
            }
        },
        &[],
    )
}

/// Mean absolute difference per RGB channel, 0–255.
fn mean_diff(a: &DynamicImage, b: &DynamicImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (a, b) = (a.to_rgb8(), b.to_rgb8());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y) as u64)
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn every_sample_reports_its_oriented_size() {
    let s = samples();
    for (id, w, h) in [
        ("coffee.jpg", 600, 400),
        ("coffee-progressive.jpg", 600, 400),
        ("coffee-palette.png", 600, 400),
        ("coffee.webp", 600, 400),
        ("chelsea-cmyk.jpg", 451, 300),
        ("chelsea-exif-rotated.jpg", 451, 300), // stored 300×451, EXIF orientation 6
        ("chelsea-alpha.png", 451, 300),
        ("chelsea-animated.gif", 451, 300),
        ("astronaut.png", 512, 512),
        ("astronaut-gray16.png", 256, 256),
        ("hubble.tif", 500, 436),
        ("hubble", 500, 436), // without the extension
    ] {
        let info = s.get(&format!("{id}/info.json")).json();
        assert_eq!(
            (info["width"].as_u64(), info["height"].as_u64()),
            (Some(w), Some(h)),
            "{id}"
        );
        let img = s.get(&format!("{id}/full/max/0/default.png")).image();
        assert_eq!(img.dimensions(), (w as u32, h as u32), "{id}");
    }
}

#[test]
fn same_picture_through_different_codecs() {
    let s = samples();
    let get = |id: &str| s.get(&format!("{id}/full/max/0/default.png")).image();
    let coffee = get("coffee.jpg");
    for (id, tolerance) in [
        ("coffee-progressive.jpg", 2.0),
        ("coffee.webp", 4.0),
        ("coffee-palette.png", 6.0),
    ] {
        let d = mean_diff(&coffee, &get(id));
        assert!(d < tolerance, "{id}: mean difference {d:.2} ≥ {tolerance}");
    }
    // CMYK decoding and EXIF rotation land on the same upright cat.
    let cmyk = get("chelsea-cmyk.jpg");
    let rotated = get("chelsea-exif-rotated.jpg");
    let d = mean_diff(&cmyk, &rotated);
    assert!(d < 4.0, "CMYK vs EXIF-rotated: {d:.2}");
    // The GIF's first frame is the cat as it is; its second frame is mirrored.
    let gif = get("chelsea-animated.gif");
    let first = mean_diff(&cmyk, &gif);
    let mirrored = mean_diff(&cmyk.fliph(), &gif);
    assert!(
        first < 8.0 && mirrored > 2.0 * first,
        "first frame {first:.2}, mirrored {mirrored:.2}"
    );
    // 16-bit gray PNG against the 8-bit colour original turned gray.
    let gray = s.get("astronaut.png/full/256,/0/gray.png").image();
    let gray16 = get("astronaut-gray16.png");
    assert_eq!(
        gray16.color(),
        image::ColorType::L16,
        "16-bit PNG output keeps 16 bits"
    );
    let d = mean_diff(&gray, &gray16);
    assert!(d < 6.0, "gray vs gray16: {d:.2}");
    // Resized, mirrored and rotated by an arbitrary angle, 16 bits stay 16 bits in PNG.
    for request in ["full/128,/0/default.png", "full/100,/!30/gray.png"] {
        let out = s.get(&format!("astronaut-gray16.png/{request}")).image();
        assert!(
            matches!(out.color(), image::ColorType::L16 | image::ColorType::La16),
            "{request}: {:?}",
            out.color()
        );
    }
}

#[test]
fn alpha_survives_and_flattens_onto_white_in_jpeg() {
    let s = samples();
    let png = s
        .get("chelsea-alpha.png/full/max/0/default.png")
        .image()
        .to_rgba8();
    assert_eq!(png.get_pixel(2, 2)[3], 0, "corner is transparent");
    assert_eq!(png.get_pixel(225, 150)[3], 255, "centre is opaque");
    let webp = s
        .get("chelsea-alpha.png/full/max/0/default.webp")
        .image()
        .to_rgba8();
    assert_eq!(webp.get_pixel(2, 2)[3], 0);
    let jpg = s
        .get("chelsea-alpha.png/full/max/0/default.jpg")
        .image()
        .to_rgb8();
    assert!(
        jpg.get_pixel(2, 2).0.iter().all(|&c| c > 245),
        "{:?}",
        jpg.get_pixel(2, 2)
    );
}

/// A reduced (DCT-scaled) JPEG decode and a full decode agree on the output within a stated
/// tolerance: mean absolute difference under 3 (of 255) per channel, including EXIF-rotated sources and
/// regions that fall on fractional pixels of the reduced image.
#[test]
fn scaled_decode_agrees_with_full_decode() {
    use tessera::iiif::grammar::{IiifPath, parse_path};
    use tessera::pipeline::{EncodeOptions, Filter, RenderOptions, render};
    let options = RenderOptions {
        filter: Filter::Lanczos3,
        encode: EncodeOptions {
            jpeg_quality: 90,
            jpeg_progressive: false,
            webp_quality: 90.0,
            png_level: 1,
        },
        max_decode_bytes: 1 << 30,
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images");
    for (file, request, want_scale) in [
        ("coffee.jpg", "full/!100,100/0/default.png", 4),
        ("coffee-progressive.jpg", "full/150,/0/default.png", 4),
        ("chelsea-exif-rotated.jpg", "full/!110,110/0/default.png", 4),
        ("coffee.jpg", "101,33,300,200/,97/90/default.png", 2),
    ] {
        let source = tessera::source::probe(&dir.join(file), u64::MAX).unwrap();
        let IiifPath::Image { request: req, .. } = parse_path(&format!("x/{request}")).unwrap()
        else {
            unreachable!()
        };
        let plan =
            tessera::iiif::plan::plan(&req, source.width, source.height, &Default::default())
                .unwrap();
        let reduced = plan.with_decode_scale(source.max_decode_scale());
        assert_eq!(reduced.decode_scale, want_scale, "{file} {request}");
        let full =
            image::load_from_memory(&render(&source, &plan, &options).unwrap().bytes).unwrap();
        let fast =
            image::load_from_memory(&render(&source, &reduced, &options).unwrap().bytes).unwrap();
        let d = mean_diff(&full, &fast);
        eprintln!("{file} {request}: scale {want_scale}, mean difference {d:.2}");
        assert!(d < 3.0, "{file} {request}: mean difference {d:.2}");
    }
    // CMYK JPEGs keep the full decoder.
    let cmyk = tessera::source::probe(&dir.join("chelsea-cmyk.jpg"), u64::MAX).unwrap();
    assert_eq!(cmyk.max_decode_scale(), 1);
}
