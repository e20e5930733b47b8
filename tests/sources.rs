//! Every source format in `sample-images/` through the real server. Several samples are the
//! same picture stored differently (baseline, progressive and CMYK JPEG, EXIF-rotated JPEG,
//! palette PNG, WebP, GIF), so each is checked against a sibling decoded by another codec path:
//! the mean absolute difference per channel must stay under a stated tolerance.

mod common;

use common::{Server, mean_diff};
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
        ("astronaut-pyramid.tif", 512, 512),
        ("chelsea-alpha-pyramid-lzw.tif", 451, 300),
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
        jpeg_passthrough: false,
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
    use tessera::source::SourceStore;
    let store = tessera::source::FileStore::new(&dir).unwrap();
    let probe = |file: &str| {
        let at = store.locate(file).unwrap();
        tessera::source::probe(&store, &at, u64::MAX, None).unwrap()
    };
    for (file, request, want_scale) in [
        ("coffee.jpg", "full/!100,100/0/default.png", 4),
        ("coffee-progressive.jpg", "full/150,/0/default.png", 4),
        ("chelsea-exif-rotated.jpg", "full/!110,110/0/default.png", 4),
        ("coffee.jpg", "101,33,300,200/,97/90/default.png", 2),
    ] {
        let info = probe(file);
        let source = tessera::source::StoredSource {
            store: &store,
            info: &info,
            tiles: None,
        };
        let IiifPath::Image { request: req, .. } = parse_path(&format!("x/{request}")).unwrap()
        else {
            unreachable!()
        };
        let plan =
            tessera::iiif::plan::plan(&req, info.width, info.height, &Default::default()).unwrap();
        let reduced = plan.with_resolution(&info.resolutions(), info.is_tiled());
        assert_eq!(1 << reduced.read.resolution, want_scale, "{file} {request}");
        let full =
            image::load_from_memory(&render(source, &plan, &options).unwrap().bytes).unwrap();
        let fast =
            image::load_from_memory(&render(source, &reduced, &options).unwrap().bytes).unwrap();
        let d = mean_diff(&full, &fast);
        eprintln!("{file} {request}: scale {want_scale}, mean difference {d:.2}");
        assert!(d < 3.0, "{file} {request}: mean difference {d:.2}");
    }
    // CMYK JPEGs keep the full decoder.
    let cmyk = probe("chelsea-cmyk.jpg");
    assert_eq!(cmyk.resolutions().len(), 1);
}

/// [`mean_diff`] of the images as seen over white: colours under full transparency do not
/// count (filters are free to leave anything there).
fn mean_diff_over_white(a: &DynamicImage, b: &DynamicImage) -> f64 {
    let flat = |img: &DynamicImage| {
        let mut rgba = img.to_rgba8();
        for p in rgba.pixels_mut() {
            let alpha = p[3] as u32;
            for c in 0..3 {
                p[c] = ((p[c] as u32 * alpha + 255 * (255 - alpha)) / 255) as u8;
            }
            p[3] = 255;
        }
        DynamicImage::ImageRgba8(rgba)
    };
    mean_diff(&flat(a), &flat(b))
}

/// Pyramids written by libvips, read tile by tile at the level each request needs, agree with
/// their flat siblings decoded whole, as mean difference per channel of 255: within 4 for JPEG
/// tiles (vips wrote them at quality 75), 6 for tiles from the smallest levels, 4 for reduced lossless
/// levels (vips box-filters a level, Tessera resizes from the full image with lanczos3; on a
/// smooth image the two agree within 0.7), and exactly for lossless tiles at full resolution.
#[test]
fn pyramid_tiles_agree_with_the_flat_source() {
    let s = samples();
    let info = s.get("astronaut-pyramid.tif/info.json").json();
    assert_eq!(info["tiles"][0]["width"], 128);
    assert_eq!(
        info["tiles"][0]["scaleFactors"],
        serde_json::json!([1, 2, 4])
    );
    assert_eq!(
        info["sizes"],
        serde_json::json!([
            {"width": 128, "height": 128},
            {"width": 256, "height": 256},
            {"width": 512, "height": 512}
        ])
    );
    for (pyramid, flat, requests, tolerance) in [
        (
            "astronaut-pyramid.tif",
            "astronaut.png",
            &[
                "0,0,128,128/128,/0/default.png",      // one tile, full resolution
                "100,100,300,200/max/0/default.png",   // six tiles
                "256,0,256,256/128,/0/default.png",    // a tile at scale factor 2
                "pct:10,20,60,50/,150/90/default.png", // across levels, rotated
                "full/max/!0/gray.png",
            ][..],
            4.0,
        ),
        (
            // From the 128 px level: vips's own level and its own resize of the PNG to 128 px
            // differ by 5.9 on average at this size (quality 75 on a detailed 128 px image).
            "astronaut-pyramid.tif",
            "astronaut.png",
            &["full/!100,100/0/default.png"][..],
            6.0,
        ),
        (
            "chelsea-alpha-pyramid-lzw.tif",
            "chelsea-alpha.png",
            &["60,30,200,150/max/0/default.png"][..],
            0.0,
        ),
        (
            "chelsea-alpha-pyramid-lzw.tif",
            "chelsea-alpha.png",
            &["full/!100,100/0/default.png"][..],
            4.0,
        ),
        (
            // A 64 px tile straight from the 112 px level, as a pyramid server serves it.
            "chelsea-alpha-pyramid-lzw.tif",
            "chelsea-alpha.png",
            &["64,64,256,128/64,/0/default.png"][..],
            6.0,
        ),
    ] {
        for request in requests {
            let a = s.get(&format!("{pyramid}/{request}")).image();
            let b = s.get(&format!("{flat}/{request}")).image();
            let d = mean_diff_over_white(&a, &b);
            eprintln!("{pyramid} {request}: mean difference {d:.2}");
            assert!(
                d <= tolerance,
                "{pyramid} {request}: mean difference {d:.2}"
            );
        }
    }
}

/// A pyramid whose reduced levels are SubIFDs of the first directory (`vips tiffsave
/// --subifd`, the layout OME-TIFF and recent libvips use) is read level by level like one
/// whose levels follow each other: same info.json, same pixels, and its 128 px level's stored
/// tile handed out as stored.
#[test]
fn pyramids_with_levels_in_subifds_read_like_chained_ones() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images/astronaut-subifd.tif");
    let levels = tessera::source::tiled::probe(Box::new(std::fs::File::open(path).unwrap()))
        .unwrap()
        .unwrap()
        .levels;
    let found: Vec<_> = levels
        .iter()
        .map(|l| (l.width, l.subifd.is_some()))
        .collect();
    assert_eq!(found, vec![(512, false), (256, true), (128, true)]);
    let s = samples();
    let sub = s.get("astronaut-subifd.tif/info.json").json();
    let chained = s.get("astronaut-pyramid.tif/info.json").json();
    for key in ["tiles", "sizes", "width", "height"] {
        assert_eq!(sub[key], chained[key], "{key}");
    }
    for request in [
        "0,0,128,128/128,/0/default.png",
        "256,0,256,256/128,/0/default.png",
        "full/!100,100/0/default.png",
        "pct:10,20,60,50/,150/90/default.png",
    ] {
        let a = s.get(&format!("astronaut-subifd.tif/{request}")).image();
        let b = s.get(&format!("astronaut-pyramid.tif/{request}")).image();
        assert!(a == b, "{request}: pixels differ");
    }
    // A tile of the smallest level, exactly stored pixels: the stored JPEG as it is.
    let tile = s.get("astronaut-subifd.tif/0,0,512,512/128,/0/default.jpg");
    assert_eq!(tile.status, 200);
    assert_eq!(
        tile.body,
        s.get("astronaut-pyramid.tif/0,0,512,512/128,/0/default.jpg")
            .body
    );
}
