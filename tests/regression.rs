//! One test per bug or crasher, headed by where it came from. Fixtures are built in the test.

mod common;

use common::Server;

/// Issue 2 (found by both official validators): an identifier with an unescaped `/` gave 400;
/// a path of the wrong shape names no resource and must be 404.
#[test]
fn unescaped_slash_in_identifier_is_404() {
    let s = Server::start();
    assert_eq!(s.get("a/b/info.json").status, 404);
    assert_eq!(s.get("a/b/full/max/0/default.jpg").status, 404);
    assert_eq!(s.get("a%2Fb/info.json").status, 404);
}

/// A PNG whose header claims `w`×`h` pixels and holds none: a decompression-bomb shape.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    // An empty zlib stream: the decoder gets as far as the pixel data.
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    out
}

/// Issue 3 (crash fixtures): broken and hostile sources must get a clear, stable status and
/// code each, and the server lives on.
#[test]
fn broken_sources_never_take_the_server_down() {
    let s = Server::start_with(
        |root| {
            let jpeg = std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images/coffee.jpg"),
            )
            .unwrap();
            common::quadrants().save(root.join("quad.png")).unwrap();
            std::fs::write(root.join("truncated.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
            std::fs::write(root.join("header-only.jpg"), &jpeg[..200]).unwrap();
            std::fs::write(root.join("empty.png"), b"").unwrap();
            std::fs::write(root.join("text.jpg"), b"this is not an image\n").unwrap();
            std::fs::write(root.join("bomb.png"), png_header_only(100_000, 100_000)).unwrap();
            std::fs::write(root.join("zero.png"), png_header_only(0, 10)).unwrap();
            std::fs::write(root.join("liar.png"), png_header_only(64, 64)).unwrap();
        },
        &[],
    );
    // (identifier, info.json status, image status, X-Tessera-Error of the failures)
    for (id, info, image, code) in [
        // Decoders fill a JPEG cut short with gray: it still renders.
        ("truncated.jpg", 200, 200, ""),
        ("header-only.jpg", 500, 500, "unreadable_source"),
        ("empty.png", 500, 500, "unreadable_source"),
        ("text.jpg", 500, 500, "unreadable_source"),
        ("bomb.png", 501, 501, "source_too_large"),
        ("zero.png", 500, 500, "unreadable_source"),
        // The header is fine, the pixels are missing.
        ("liar.png", 200, 500, "unreadable_source"),
    ] {
        for (path, status) in [
            (format!("{id}/info.json"), info),
            (format!("{id}/full/max/45/default.jpg"), image),
        ] {
            let r = s.get(&path);
            assert_eq!(r.status, status, "{path}: {}", r.text());
            if status != 200 {
                assert_eq!(r.header("x-tessera-error"), code, "{path}");
                assert_eq!(r.text().lines().count(), 1, "{path}: {}", r.text());
            }
        }
    }
    assert_eq!(
        s.get("quad.png/info.json").status,
        200,
        "server still answers"
    );
}

/// Issue 10 (found reading the fuzz harness): a tile's index was `row * across + col` in
/// 32 bits, so a wide pyramid level with small tiles overflowed — a panic in debug builds, the
/// wrong tile in release. Such tiles now have no index and the read is refused.
#[test]
fn tile_indices_past_32_bits_are_refused() {
    use tessera::source::tiled::{Level, tile_index};
    let level = Level {
        ifd: 1,
        subifd: None,
        width: 65_536,
        height: 70_000,
        tile_width: 1,
        tile_height: 1,
    };
    assert_eq!(tile_index(&level, 5, 2), Some(2 * 65_536 + 5));
    assert_eq!(tile_index(&level, 0, 65_536), None);
    assert_eq!(tile_index(&level, u32::MAX, 0), Some(u32::MAX));
    assert_eq!(tile_index(&level, 65_535, 65_535), Some(u32::MAX));
    assert_eq!(tile_index(&level, 65_536, 65_535), None);
}

/// Issue 11 review: a draft with the same content as a published version had the same
/// derivative key, so a watermarked preview rendering at the same time as a recipient's
/// request could be handed to the recipient by request coalescing. Their keys (ETags) differ.
#[test]
fn a_draft_preview_is_never_its_published_twin() {
    let s = Server::start_with(
        |_| {},
        &[
            "--set",
            "admin.token=\"t0ken\"",
            "--set",
            "log.level=\"warn\"",
        ],
    );
    let doc = serde_json::json!({
        "canvas": {"width": 80, "height": 40, "background": "#ffffff"},
        "fields": {"name": {"open": true, "default": "Guest"}},
        "layers": [{"type": "text", "text": "{{name}}", "font": "Noto Sans", "size": 16, "color": "#000000",
                    "box": {"x": 0, "y": 0, "width": 80, "height": 40}}]
    });
    let auth = [("Authorization", "Bearer t0ken")];
    let admin = |method: &str, path: &str, body: &[u8]| {
        s.send(method, &format!("{}/admin/{path}", s.origin()), &auth, body)
    };
    assert_eq!(
        admin("PUT", "templates/w", doc.to_string().as_bytes()).status,
        201
    );
    assert_eq!(admin("POST", "templates/w/publish", b"").status, 201);
    let published = s.get("tpl~w~1/full/max/0/default.png?name=Ana");
    let draft = s.request("GET", "tpl~w~draft/full/max/0/default.png?name=Ana", &auth);
    assert_eq!((published.status, draft.status), (200, 200));
    assert_ne!(published.header("etag"), draft.header("etag"));
    assert_ne!(published.body, draft.body, "the draft is watermarked");
}

/// Issue 13 (CI of the first try): `tessera data upload --set NAME` named its data set with the
/// flag every subcommand uses for settings; clap refused the whole subcommand.
#[test]
fn every_data_subcommand_parses() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["list", "upload", "delete", "drop"] {
        let out = common::run_tessera(dir.path(), &["data", sub, "--help"]);
        assert!(
            out.status.success(),
            "data {sub}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Issue 13 (found by tests/rules.rs): a condition on a date field that the request left to its
/// default (a countdown's fixed end) never held, so the expiry variant never came.
#[test]
fn conditions_read_a_fields_default() {
    use tessera::template::model::parse_template;
    use tessera::template::rules::{Facts, Value};
    let t = parse_template(
        br##"{"canvas": {"width": 10, "height": 10, "background": "#fff"},
          "fields": {"ends": {"kind": "datetime", "default": "2020-01-01T00:00:00Z"}},
          "layers": [{"type": "shape", "name": "s", "shape": "rect", "fill": "#000",
                      "box": {"x": 0, "y": 0, "width": 1, "height": 1},
                      "when": [[{"field": "ends", "before": "now"}]]}]}"##,
    )
    .unwrap();
    let when = t.layers[0].when.as_ref().unwrap();
    let value = |_: &str| Value::Missing;
    let default = |f: &str| t.fields.get(f).map(|s| s.default.as_str());
    let facts = Facts {
        value: &value,
        default: &default,
        now: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        tz: &jiff::tz::TimeZone::UTC,
    };
    assert!(tessera::template::rules::holds(when, &facts));
}

/// Issue 14 (found measuring a gigapixel's pyramid build): probing a JPEG went through
/// `image`'s JPEG decoder, which reads the whole file into memory first — 262 MB held just to
/// report a gigapixel's size. The probe reads the header segments; a 4 MB JPEG costs it a few
/// buffers' worth of reading, not the file.
#[test]
fn probing_a_jpeg_reads_its_header_not_the_whole_file() {
    use std::io::{Cursor, Read, Seek, SeekFrom};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tessera::source::store::Meta;
    use tessera::source::{Locator, ReadSeek, SourceError, SourceStore};

    /// Bytes read through it, counted.
    struct Counted(Cursor<Arc<[u8]>>, Arc<AtomicU64>);
    impl Read for Counted {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.fetch_add(n as u64, Ordering::Relaxed);
            Ok(n)
        }
    }
    impl Seek for Counted {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            self.0.seek(to)
        }
    }
    #[derive(Debug)]
    struct Store(Arc<[u8]>, Arc<AtomicU64>);
    impl SourceStore for Store {
        fn locate(&self, _: &str) -> Result<Locator, SourceError> {
            Ok(Locator::new("big.jpg"))
        }
        fn meta(&self, _: &Locator) -> std::io::Result<Option<Meta>> {
            let modified = std::time::SystemTime::UNIX_EPOCH;
            let bytes = self.0.len() as u64;
            Ok(Some(Meta { bytes, modified }))
        }
        fn open(&self, _: &Locator) -> std::io::Result<Box<dyn ReadSeek>> {
            let file = Counted(Cursor::new(self.0.clone()), self.1.clone());
            Ok(Box::new(file))
        }
        fn sidecar_modified(&self, _: &Locator) -> Option<std::time::SystemTime> {
            None
        }
        fn sidecar(&self, _: &Locator) -> std::io::Result<Option<Vec<u8>>> {
            Ok(None)
        }
    }

    // Noise compresses badly: about 4 MB of JPEG.
    let mut seed = 1u32;
    let noise = image::RgbImage::from_fn(2000, 1500, |_, _| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        image::Rgb([(seed >> 8) as u8, (seed >> 16) as u8, (seed >> 24) as u8])
    });
    let mut jpeg = Vec::new();
    noise
        .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .unwrap();
    assert!(jpeg.len() > 2_000_000, "{} bytes", jpeg.len());
    let read = Arc::new(AtomicU64::new(0));
    let store = Store(jpeg.into(), read.clone());
    let info = tessera::source::probe(&store, &Locator::new("big.jpg"), u64::MAX, None).unwrap();
    assert_eq!((info.width, info.height), (2000, 1500));
    let read = read.load(Ordering::Relaxed);
    assert!(read < 200_000, "the probe read {read} bytes");
}
