//! Pyramid derivatives of large flat sources, through the real server: built in the background
//! after the first request (which is answered from the source meanwhile), then read tile by
//! tile; pixels agree with the flat render; the stored tiles pass through untouched; a restart
//! reuses the pyramid; a changed source gets a new one and the old one is removed.

mod common;

use std::path::Path;

use common::{Server, mean_diff};
use image::{DynamicImage, GenericImageView, Rgb, RgbImage};
use tessera::source::tiled;

/// A 2400×1800 picture with smooth areas and fine detail: a flat source over 4 MP.
fn picture() -> RgbImage {
    RgbImage::from_fn(2400, 1800, |x, y| {
        let (fx, fy) = (x as f64, y as f64);
        // Broad waves, plus fine detail that vanishes in reduced levels.
        let ripple = ((fx / 23.0).sin() * (fy / 31.0).cos() * 40.0 + (fx / 2.0).sin() * 6.0) as i32;
        Rgb([
            (fx / 2400.0 * 200.0) as u8 + 20,
            ((fy / 1800.0 * 180.0) as i32 + ripple).clamp(0, 255) as u8,
            (((fx + fy) / 4200.0 * 255.0) as i32 - ripple).clamp(0, 255) as u8,
        ])
    })
}

fn write_jpeg(path: &Path, image: &RgbImage) {
    let mut out = std::fs::File::create(path).unwrap();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .encode_image(image)
        .unwrap();
}

fn wait_for(s: &Server, metric: &str, value: f64) {
    common::eventually(metric, || s.metric(metric) >= value);
}

/// The pyramid files under `data`.
fn pyramid_files(data: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(data.join("pyramids")).unwrap() {
        let shard = shard.unwrap().path();
        if shard.file_name().unwrap() != "tmp" {
            for f in std::fs::read_dir(shard).unwrap() {
                out.push(f.unwrap().path());
            }
        }
    }
    out
}

/// Requests, and how far (mean difference per channel of 255) the pyramid's answer may be
/// from the flat source's. Pyramid tiles are JPEG 4:4:4 at quality 90; full-resolution tiles
/// measured 0.5. Reduced levels are box-filtered halvings, the flat render a DCT-scaled decode
/// resized with lanczos3: the fine detail near the reduced Nyquist limit is where they differ
/// (measured 1.8 at 1/4, 2.2 at 1/8).
const REQUESTS: [(&str, f64); 5] = [
    ("512,512,512,512/512,/0/default.png", 1.0), // a full-resolution tile
    ("2048,0,352,512/352,/0/default.png", 1.0),  // an edge tile
    ("0,0,2048,1800/512,/0/default.png", 3.0),   // a tile at scale factor 4
    ("full/!256,256/0/default.png", 3.0),        // a thumbnail
    ("pct:10,10,50,50/,300/90/gray.png", 3.0),
];

#[test]
fn a_large_flat_source_gets_a_pyramid_that_serves_like_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    write_jpeg(&dir.path().join("root/big.jpg"), &picture());
    let args = ["--set", "cache.enabled=false"];
    let s = Server::start_in(dir.path(), &args);

    // Before the pyramid exists the source answers; the first request queues the build.
    let flat: Vec<DynamicImage> = REQUESTS
        .iter()
        .map(|(r, _)| s.get(&format!("big.jpg/{r}")).image())
        .collect();
    wait_for(&s, "tessera_pyramids_built_total", 1.0);
    assert_eq!(s.metric("tessera_pyramid_failures_total"), 0.0);
    let files = pyramid_files(&dir.path().join("data"));
    assert_eq!(files.len(), 1);
    let levels = tiled::probe(file(&files[0])).unwrap().unwrap().levels;
    let sizes: Vec<_> = levels.iter().map(|l| (l.width, l.height)).collect();
    assert_eq!(
        sizes,
        vec![(2400, 1800), (1200, 900), (600, 450), (300, 225)]
    );

    for ((request, tolerance), flat) in REQUESTS.iter().zip(&flat) {
        let tiled = s.get(&format!("big.jpg/{request}")).image();
        let d = mean_diff(flat, &tiled);
        eprintln!("{request}: mean difference {d:.2}");
        assert!(d < *tolerance, "{request}: mean difference {d:.2}");
    }

    // A JPEG request that is exactly a stored tile gets the stored bytes, read as they are:
    // no render.
    let renders = s.metric("tessera_renders_total");
    let window = |x, y, w, h| tiled::Window { x, y, w, h };
    let reply = s.get("big.jpg/512,512,512,512/512,/0/default.jpg");
    let stored = tiled::stored_jpeg(tiff(&files[0]), &levels[0], window(512, 512, 512, 512))
        .unwrap()
        .unwrap();
    assert_eq!(reply.body, stored);
    assert_eq!(reply.image().dimensions(), (512, 512));
    let reply = s.get("big.jpg/0,0,1024,1024/512,/0/default.jpg");
    assert_eq!(
        reply.body,
        tiled::stored_jpeg(tiff(&files[0]), &levels[1], window(0, 0, 512, 512))
            .unwrap()
            .unwrap()
    );
    assert_eq!(s.metric("tessera_stored_tiles_total"), 2.0);
    assert_eq!(s.metric("tessera_renders_total"), renders);
    // Several stored tiles, and an edge tile at scale factor 2 (level 1), are joined from
    // their stored coefficients: exactly the stored pixels, nothing re-encoded.
    for (request, level, w) in [
        (
            "0,0,1024,1024/max/0/default.jpg",
            0,
            window(0, 0, 1024, 1024),
        ),
        (
            "1536,1024,864,776/max/0/default.jpg",
            0,
            window(1536, 1024, 864, 776),
        ),
        (
            "0,1024,1024,776/512,/0/default.jpg",
            1,
            window(0, 512, 512, 388),
        ),
    ] {
        let reply = s.get(&format!("big.jpg/{request}")).image().to_rgb8();
        let stored = tiled::read_window(tiff(&files[0]), &levels[level], w, u64::MAX)
            .unwrap()
            .to_rgb8();
        assert!(reply == stored, "{request}: not the stored pixels");
    }

    // A restart reuses the pyramid.
    drop(s);
    let s = Server::start_in(dir.path(), &args);
    let again = s.get(&format!("big.jpg/{}", REQUESTS[0].0)).image();
    assert!(mean_diff(&flat[0], &again) < 1.0);
    assert_eq!(s.metric("tessera_pyramids_built_total"), 0.0);
    assert_eq!(pyramid_files(&dir.path().join("data")), files);

    // A changed source is a new content hash: a new pyramid, with the new pixels.
    let mut changed = picture();
    image::imageops::invert(&mut changed);
    write_jpeg(&dir.path().join("root/big.jpg"), &changed);
    s.get(&format!("big.jpg/{}", REQUESTS[0].0));
    wait_for(&s, "tessera_pyramids_built_total", 1.0);
    let inverted = s.get(&format!("big.jpg/{}", REQUESTS[0].0)).image();
    let mut want = flat[0].clone();
    want.invert();
    assert!(mean_diff(&want, &inverted) < 1.0);
    // The superseded pyramid is removed once the new one is built.
    wait_for(&s, "tessera_pyramids_pruned_total", 1.0);
    let now = pyramid_files(&dir.path().join("data"));
    assert_eq!(now.len(), 1);
    assert_ne!(now, files);
}

#[test]
fn ingest_builds_pyramids_ahead_and_small_sources_get_none() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    write_jpeg(&dir.path().join("root/big.jpg"), &picture());
    common::quadrants()
        .save(dir.path().join("root/small.png"))
        .unwrap();
    let mut ingest = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
    ingest
        .arg("--root")
        .arg(dir.path().join("root"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("ingest");
    let out = ingest.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("built 1 pyramids"), "{stdout}");
    let first = pyramid_files(&dir.path().join("data"));
    assert_eq!(first.len(), 1);
    // The source changes: the next ingest builds its new pyramid and removes the old one.
    let mut changed = picture();
    image::imageops::flip_horizontal_in_place(&mut changed);
    write_jpeg(&dir.path().join("root/big.jpg"), &changed);
    let out = ingest.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 superseded removed"), "{stdout}");
    let second = pyramid_files(&dir.path().join("data"));
    assert_eq!(second.len(), 1);
    assert_ne!(second, first);
    let s = Server::start_in(dir.path(), &[]);
    let tile = s.get(&format!("big.jpg/{}", REQUESTS[0].0));
    assert_eq!(tile.status, 200);
    assert_eq!(s.metric("tessera_pyramids_built_total"), 0.0);
    assert_eq!(s.metric("tessera_pyramids_queued"), 0.0);
    // Pyramids off: served flat, nothing queued.
    drop(s);
    let s = Server::start_in(dir.path(), &["--set", "pyramid.min_pixels=0"]);
    assert_eq!(s.get("small.png/full/max/0/default.png").status, 200);
    assert_eq!(s.get(&format!("big.jpg/{}", REQUESTS[0].0)).status, 200);
    assert_eq!(s.metric("tessera_pyramids_queued"), 0.0);
}

#[test]
fn flat_sources_over_the_pixel_limit_are_served_from_their_pyramid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    let picture = picture();
    write_jpeg(&dir.path().join("root/big.jpg"), &picture);
    picture.save(dir.path().join("root/big.png")).unwrap();
    let mut progressive = Vec::new();
    let mut e = jpeg_encoder::Encoder::new(&mut progressive, 90);
    e.set_progressive(true);
    e.encode(picture.as_raw(), 2400, 1800, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    std::fs::write(dir.path().join("root/progressive.jpg"), progressive).unwrap();
    // 4.3 MP sources, a decode limit of 1 MP: read whole they would be refused.
    let s = Server::start_in(
        dir.path(),
        &[
            "--set",
            "source.max_pixels=1000000",
            "--set",
            "pyramid.min_pixels=1000000",
            "--set",
            "cache.enabled=false",
        ],
    );
    let tile = "512,512,512,512/512,/0/default.png";
    for (n, name) in ["big.jpg", "big.png"].into_iter().enumerate() {
        let info = s.get(&format!("{name}/info.json"));
        assert_eq!(info.status, 200, "{name}: {}", info.text());
        assert_eq!(info.json()["width"], 2400);
        // The first request queues the build, read band by band; until it is done, tiles
        // answer 503 with Retry-After (the build may win the race: then 200).
        let first = s.get(&format!("{name}/{tile}"));
        if first.status != 200 {
            assert_eq!(first.status, 503, "{name}: {}", first.text());
            assert_eq!(first.header("x-tessera-error"), "pyramid_pending");
            assert!(!first.header("retry-after").is_empty());
        }
        wait_for(&s, "tessera_pyramids_built_total", n as f64 + 1.0);
        let reply = s.get(&format!("{name}/{tile}"));
        assert_eq!(reply.status, 200, "{name}: {}", reply.text());
        let want = DynamicImage::ImageRgb8(
            image::imageops::crop_imm(&picture, 512, 512, 512, 512).to_image(),
        );
        let d = mean_diff(&want, &reply.image());
        assert!(d < 1.5, "{name}: mean difference {d:.2}");
        let thumb = s.get(&format!("{name}/full/!256,256/0/default.jpg"));
        assert_eq!(thumb.image().dimensions(), (256, 192), "{name}");
    }
    assert_eq!(s.metric("tessera_pyramid_failures_total"), 0.0);
    // A progressive JPEG cannot be read in bands: refused from its header, as before.
    let r = s.get("progressive.jpg/info.json");
    assert_eq!(r.status, 501, "{}", r.text());
    assert_eq!(r.header("x-tessera-error"), "source_too_large");
}

/// Bands that would not fit `pyramid.build_memory` (a TIFF stored as a few huge strips, say)
/// do not cost a source its pyramid: it is decoded whole instead, within the decode limit.
#[test]
fn sources_whose_bands_do_not_fit_the_build_memory_are_decoded_whole() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    picture().save(dir.path().join("root/big.tif")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("--root")
        .arg(dir.path().join("root"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--set", "pyramid.build_memory=1000", "ingest"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("built 1 pyramids"), "{stdout}");
    assert!(stdout.contains("0 failed"), "{stdout}");
}

fn file(path: &Path) -> Box<dyn tessera::source::ReadSeek> {
    Box::new(std::fs::File::open(path).unwrap())
}

fn tiff(path: &Path) -> tiled::Tiff<'static> {
    let path = path.to_owned();
    tiled::Tiff::opened_by(move || Ok(file(&path)))
}

/// A tiled JPEG pyramid of `image` written by Tessera's writer.
fn write_tiled(path: &Path, image: &RgbImage) {
    let out = std::fs::File::create(path).unwrap();
    let compression = tessera::pyramid::write::TileCompression::Jpeg { quality: 90 };
    tessera::pyramid::write::write_pyramid(
        std::io::BufWriter::new(out),
        DynamicImage::ImageRgb8(image.clone()),
        256,
        compression,
    )
    .unwrap();
}

#[test]
fn tiled_sources_keep_directories_and_tiles_in_memory_until_replaced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    let picture = picture();
    write_tiled(&dir.path().join("root/t.tif"), &picture);
    let s = Server::start_in(dir.path(), &["--set", "cache.enabled=false"]);
    let hits = |kind: &str| {
        let text = s.get(&format!("{}/metrics", s.origin())).text();
        let series = format!("tessera_tile_memory_hits_total{{kind=\"{kind}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series)?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let thumb = "t.tif/full/!200,200/0/default.png";
    let first = s.get(thumb).image();
    // The same level's directory and tiles again: nothing read from the file but the answer.
    let (directories, tiles) = (hits("directory"), hits("tile"));
    let again = s.get(thumb).image();
    assert_eq!(first, again);
    assert!(hits("directory") > directories);
    assert!(hits("tile") > tiles);
    // Stored tiles of a level after the first read its kept directory.
    s.get("t.tif/0,0,256,256/256,/0/default.jpg").image();
    let directories = hits("directory");
    s.get("t.tif/256,0,256,256/256,/0/default.jpg").image();
    assert!(hits("directory") > directories);

    // Replaced in place with other pixels: the new file's tiles, not the kept ones.
    let mut inverted = picture.clone();
    image::imageops::invert(&mut inverted);
    let path = dir.path().join("root/t.tif");
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    write_tiled(&path, &inverted);
    // A different modification time for sure, however coarse the file system's clock.
    let later = before + std::time::Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let now = s.get(thumb).image();
    let mut want = first.clone();
    want.invert();
    let d = mean_diff(&want, &now);
    assert!(d < 2.0, "mean difference {d:.2} from the new pixels");
}
