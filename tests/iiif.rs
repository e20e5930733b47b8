//! The IIIF Image API 3.0 over real HTTP: every region, size, rotation, mirroring, quality and
//! format form checked on real pixels, plus statuses, redirects, CORS, negotiation and links.
//! Pixels are compared with a stated tolerance (lossy formats and filter ringing), never bytes.

mod common;

use common::{BLUE, GREEN, RED, Server, YELLOW, assert_near};
use image::GenericImageView;

const Q: &str = "quad.png";

#[test]
fn regions() {
    let s = Server::start();
    let img = |r: &str| s.get(&format!("{Q}/{r}/max/0/default.png")).image();

    let full = img("full");
    assert_eq!(full.dimensions(), (400, 300));
    assert_near(&full, 100, 75, RED, 0);
    assert_near(&full, 300, 75, GREEN, 0);
    assert_near(&full, 100, 225, BLUE, 0);
    assert_near(&full, 300, 225, YELLOW, 0);

    let square = img("square");
    assert_eq!(square.dimensions(), (300, 300));
    assert_near(&square, 5, 5, RED, 0); // x offset 50: still the red quadrant
    assert_near(&square, 295, 295, YELLOW, 0);

    let px = img("200,0,200,150");
    assert_eq!(px.dimensions(), (200, 150));
    assert_near(&px, 0, 0, GREEN, 0);
    assert_near(&px, 199, 149, GREEN, 0);

    let pct = img("pct:50,50,50,50");
    assert_eq!(pct.dimensions(), (200, 150));
    assert_near(&pct, 0, 0, YELLOW, 0);

    let fractional = img("pct:0,0,25.5,10");
    assert_eq!(fractional.dimensions(), (102, 30));

    // Cropped at the image edge.
    let edge = img("350,250,100,100");
    assert_eq!(edge.dimensions(), (50, 50));
    assert_near(&edge, 49, 49, YELLOW, 0);
}

#[test]
fn sizes() {
    let s = Server::start();
    let dims = |size: &str| {
        s.get(&format!("{Q}/full/{size}/0/default.png"))
            .image()
            .dimensions()
    };
    for (size, want) in [
        ("max", (400, 300)),
        ("^max", (400, 300)),
        ("200,", (200, 150)),
        ("^800,", (800, 600)),
        (",150", (200, 150)),
        ("^,600", (800, 600)),
        ("pct:50", (200, 150)),
        ("^pct:150", (600, 450)),
        ("100,100", (100, 100)),
        ("^800,100", (800, 100)),
        ("!100,100", (100, 75)),
        ("!400,150", (200, 150)),
        ("^!800,800", (800, 600)),
        ("^!100,100", (100, 75)),
    ] {
        assert_eq!(dims(size), want, "size {size}");
    }
    // Scaled content is still where it belongs.
    let small = s.get(&format!("{Q}/full/40,/0/default.png")).image();
    assert_near(&small, 5, 5, RED, 2);
    assert_near(&small, 35, 25, YELLOW, 2);
    // A region scaled: the yellow quadrant at half size.
    let part = s
        .get(&format!("{Q}/200,150,200,150/100,/0/default.png"))
        .image();
    assert_eq!(part.dimensions(), (100, 75));
    assert_near(&part, 50, 37, YELLOW, 0);
}

#[test]
fn rotations_and_mirroring() {
    let s = Server::start();
    let img = |rot: &str| s.get(&format!("{Q}/full/max/{rot}/default.png")).image();
    let corners = |rot: &str| {
        let i = img(rot);
        let (w, h) = i.dimensions();
        let px = |x, y| i.to_rgb8().get_pixel(x, y).0;
        (
            i.dimensions(),
            [px(5, 5), px(w - 5, 5), px(5, h - 5), px(w - 5, h - 5)],
        )
    };
    let (r, g, b, y) = (RED.0, GREEN.0, BLUE.0, YELLOW.0);
    assert_eq!(corners("0"), ((400, 300), [r, g, b, y]));
    assert_eq!(corners("90"), ((300, 400), [b, r, y, g]));
    assert_eq!(corners("180"), ((400, 300), [y, b, g, r]));
    assert_eq!(corners("270"), ((300, 400), [g, y, r, b]));
    assert_eq!(corners("360"), ((400, 300), [r, g, b, y]));
    assert_eq!(corners("!0"), ((400, 300), [g, r, y, b]));
    // Mirror first, then rotate.
    assert_eq!(corners("!90"), ((300, 400), [y, g, b, r]));
    assert_eq!(corners("!180"), ((400, 300), [b, y, r, g]));

    // Arbitrary angle: bounding box, transparent corners in PNG, content rotated clockwise.
    let a = img("45");
    assert_eq!(a.dimensions(), (495, 495)); // (400 + 300)·cos 45°
    assert_eq!(a.to_rgba8().get_pixel(2, 2)[3], 0);
    // The red quadrant's centre (-100, -75) from the image centre, turned 45° clockwise.
    let (c, s45) = (247.5f64, std::f64::consts::FRAC_1_SQRT_2);
    let (x, y) = (-100.0 * s45 + 75.0 * s45, -100.0 * s45 - 75.0 * s45);
    assert_near(&a, (c + x) as u32, (c + y) as u32, RED, 2);
    // JPEG has no alpha: black corners, as libvips does.
    let j = s.get(&format!("{Q}/full/max/22.5/default.jpg")).image();
    assert_near(&j, 1, 1, image::Rgb([0, 0, 0]), 3);
}

#[test]
fn qualities() {
    let s = Server::start();
    let color = s.get(&format!("{Q}/full/max/0/color.png")).image();
    assert_near(&color, 100, 75, RED, 0);
    let default = s.get(&format!("{Q}/full/max/0/default.png"));
    assert_eq!(
        default.body,
        s.get(&format!("{Q}/full/max/0/color.png")).body
    );

    let gray = s.get(&format!("{Q}/full/max/0/gray.png")).image();
    assert_eq!(gray.color(), image::ColorType::L8);
    let luma = gray.to_luma8();
    // Rec. 709 luma: green is brighter than red, red brighter than blue.
    let (r, g, b) = (
        luma.get_pixel(100, 75)[0],
        luma.get_pixel(300, 75)[0],
        luma.get_pixel(100, 225)[0],
    );
    assert!(g > r && r > b, "{r} {g} {b}");

    let bitonal = s
        .get(&format!("{Q}/full/max/0/bitonal.png"))
        .image()
        .to_luma8();
    assert!(bitonal.pixels().all(|p| p[0] == 0 || p[0] == 255));
    assert_eq!(bitonal.get_pixel(300, 225)[0], 255, "yellow is light");
    assert_eq!(bitonal.get_pixel(100, 225)[0], 0, "blue is dark");

    // Gray JPEGs are single-channel.
    let gj = s.get(&format!("{Q}/full/max/0/gray.jpg")).image();
    assert_eq!(gj.color(), image::ColorType::L8);
}

#[test]
fn formats() {
    let s = Server::start();
    for (ext, mime, tolerance) in [
        ("jpg", "image/jpeg", 6),
        ("png", "image/png", 0),
        ("webp", "image/webp", 12),
        ("gif", "image/gif", 8),
        ("tif", "image/tiff", 0),
    ] {
        let r = s.get(&format!("{Q}/full/200,/0/default.{ext}"));
        assert_eq!(r.header("content-type"), mime);
        let img = r.image();
        assert_eq!(img.dimensions(), (200, 150), "{ext}");
        assert_near(&img, 50, 37, RED, tolerance);
        assert_near(&img, 150, 112, YELLOW, tolerance);
    }
}

#[test]
fn error_statuses() {
    let s = Server::start_with(
        |root| {
            common::quadrants().save(root.join("quad.png")).unwrap();
            common::quadrants().save(root.join("big.png")).unwrap();
        },
        &["--set", "image.max_width=1000"],
    );
    let status = |p: &str| {
        let r = s.get(p);
        assert!(
            r.text().ends_with('\n') && r.text().lines().count() == 1,
            "{p}: {:?}",
            r.text()
        );
        assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
        assert_eq!(r.header("cache-control"), "no-store");
        r.status
    };
    for bad in [
        "quad.png/ful/max/0/default.jpg",
        "quad.png/0,0,0,10/max/0/default.jpg",
        "quad.png/400,0,10,10/max/0/default.jpg",
        "quad.png/-1,0,10,10/max/0/default.jpg",
        "quad.png/full/full/0/default.jpg",
        "quad.png/full/0,/0/default.jpg",
        "quad.png/full/401,/0/default.jpg",
        "quad.png/full/pct:101/0/default.jpg",
        "quad.png/full/!800,800/0/default.jpg",
        "quad.png/full/^1001,/0/default.jpg",
        "quad.png/full/max/361/default.jpg",
        "quad.png/full/max/-90/default.jpg",
        "quad.png/full/max/0/grey.jpg",
        "quad.png/full/max/0/default.bmp",
        "quad.png/full/max/0/default",
    ] {
        assert_eq!(status(bad), 400, "{bad}");
    }
    assert_eq!(status("nothing.png/info.json"), 404);
    assert_eq!(status("nothing/full/max/0/default.jpg"), 404);
    assert_eq!(status("quad.png/full/max/0/default.jp2"), 501);
    assert_eq!(s.request("POST", "quad.png/info.json", &[]).status, 405);
    assert_eq!(s.get(&format!("{}/elsewhere", s.origin())).status, 404);
}

#[test]
fn sources_over_the_pixel_limit_are_refused_from_the_header() {
    let s = Server::start_with(
        |root| common::quadrants().save(root.join("quad.png")).unwrap(),
        &["--set", "source.max_pixels=100000"],
    );
    let r = s.get("quad.png/info.json");
    assert_eq!(r.status, 501);
    assert!(r.text().contains("120000 pixels"), "{}", r.text());
}

#[test]
fn tiled_sources_past_the_pixel_limit_are_served_a_window_at_a_time() {
    // 512x512 = 262144 pixels, over a limit of 100000: as a flat PNG it is refused; as a tiled
    // pyramid (levels 512, 256, 128, 64) every request that decodes at most 100000 is served.
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images");
    let s = Server::start_with(
        |root| {
            for f in ["astronaut.png", "astronaut-pyramid.tif"] {
                std::fs::copy(from.join(f), root.join(f)).unwrap();
            }
        },
        &[
            "--set",
            "source.max_pixels=100000",
            "--set",
            "image.max_area=65536",
        ],
    );
    assert_eq!(s.get("astronaut.png/info.json").status, 501);
    let info = s.get("astronaut-pyramid.tif/info.json");
    assert_eq!(info.status, 200, "{}", info.text());
    assert_eq!(info.json()["width"], 512);
    for ok in [
        "astronaut-pyramid.tif/0,0,256,256/256,/0/default.jpg", // a full-resolution tile
        "astronaut-pyramid.tif/full/128,/0/default.jpg",        // a smaller level
        "astronaut-pyramid.tif/full/max/0/default.jpg",         // 256x256 (maxArea) from level 256
    ] {
        let r = s.get(ok);
        assert_eq!(r.status, 200, "{ok}: {}", r.text());
    }
    // A 300-pixel-wide strip needs the full-resolution level: 512x200 = 102400 pixels decoded.
    let big = s.get("astronaut-pyramid.tif/0,0,512,200/300,/0/default.jpg");
    assert_eq!(big.status, 501, "{}", big.text());
    assert_eq!(big.header("x-tessera-error"), "source_too_large");
    assert!(
        big.text().contains("decodes 102400 pixels"),
        "{}",
        big.text()
    );
}

#[test]
fn identifiers_cannot_leave_the_root() {
    let s = Server::start_with(
        |root| {
            common::quadrants().save(root.join("quad.png")).unwrap();
            std::fs::create_dir(root.join("sub")).unwrap();
            common::quadrants()
                .save(root.join("sub/inner.png"))
                .unwrap();
            common::quadrants()
                .save(root.parent().unwrap().join("secret.png"))
                .unwrap();
            #[cfg(unix)]
            std::os::unix::fs::symlink(
                root.parent().unwrap().join("secret.png"),
                root.join("escape.png"),
            )
            .unwrap();
        },
        &[],
    );
    assert_eq!(s.get("sub%2Finner.png/info.json").status, 200);
    assert_eq!(s.get("sub%2finner/info.json").status, 200);
    for (path, want) in [
        ("..%2Fsecret.png/info.json", 400),
        ("%2E%2E%2Fsecret.png/info.json", 400),
        ("sub%2F..%2F..%2Fsecret.png/info.json", 400),
        ("%252E%252E%252Fsecret.png/info.json", 404),
        ("%2Fetc%2Fpasswd/info.json", 400),
        ("quad.png%00.jpg/info.json", 400),
        ("..%5Csecret.png/info.json", 400),
        ("escape.png/info.json", 404),
        ("sub/inner.png/info.json", 404),
        ("%FF/info.json", 400),
    ] {
        assert_eq!(s.get(path).status, want, "{path}");
    }
}

#[test]
fn info_json_document() {
    let s = Server::start();
    let r = s.get("quad.png/info.json");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("vary"), "Accept");
    let info = r.json();
    assert_eq!(info["id"], format!("{}/quad.png", s.base));
    assert_eq!(info["@context"], "http://iiif.io/api/image/3/context.json");
    assert_eq!(info["type"], "ImageService3");
    assert_eq!(info["protocol"], "http://iiif.io/api/image");
    assert_eq!(info["profile"], "level2");
    assert_eq!(
        (info["width"].as_u64(), info["height"].as_u64()),
        (Some(400), Some(300))
    );
    assert_eq!(info["maxArea"], 40_000_000);
    assert_eq!(info["tiles"][0]["width"], 512);
    assert_eq!(info["tiles"][0]["scaleFactors"], serde_json::json!([1]));
    assert_eq!(
        info["sizes"].as_array().unwrap().last().unwrap()["width"],
        400
    );
    assert_eq!(info["extraFeatures"].as_array().unwrap().len(), 17);
    assert_eq!(
        info["extraQualities"],
        serde_json::json!(["color", "gray", "bitonal"])
    );
    assert_eq!(
        info["extraFormats"],
        serde_json::json!(["webp", "gif", "tif", "pdf"])
    );
    // Every size info.json lists can be requested.
    for size in info["sizes"].as_array().unwrap() {
        let (w, h) = (
            size["width"].as_u64().unwrap(),
            size["height"].as_u64().unwrap(),
        );
        let img = s
            .get(&format!("quad.png/full/{w},{h}/0/default.jpg"))
            .image();
        assert_eq!(img.dimensions(), (w as u32, h as u32));
    }
}

#[test]
fn content_negotiation() {
    let s = Server::start();
    let ld = s.request(
        "GET",
        "quad.png/info.json",
        &[("Accept", "application/ld+json")],
    );
    assert_eq!(
        ld.header("content-type"),
        "application/ld+json;profile=\"http://iiif.io/api/image/3/context.json\""
    );
    let json = s.request(
        "GET",
        "quad.png/info.json",
        &[("Accept", "application/json")],
    );
    assert_eq!(json.header("content-type"), "application/json");
    assert_eq!(ld.body, json.body);
    assert_ne!(ld.header("etag"), "");
}

#[test]
fn base_uri_redirects_to_info_json() {
    let s = Server::start();
    let r = s.get("quad.png");
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        format!("{}/quad.png/info.json", s.base)
    );
    assert_eq!(r.header("access-control-allow-origin"), "*");
}

#[test]
fn id_comes_from_host_never_from_forwarded_headers() {
    let s = Server::start();
    let forged = s.request(
        "GET",
        "quad.png/info.json",
        &[
            ("X-Forwarded-Host", "evil.example"),
            ("X-Forwarded-Proto", "javascript"),
            ("Forwarded", "host=evil.example;proto=https"),
        ],
    );
    assert_eq!(forged.json()["id"], format!("{}/quad.png", s.base));
    let named = s.request(
        "GET",
        "quad.png/info.json",
        &[("Host", "images.example:8080")],
    );
    assert_eq!(
        named.json()["id"],
        "http://images.example:8080/iiif/3/quad.png"
    );
}

#[test]
fn base_url_from_configuration() {
    let s = Server::start_with(
        |root| common::quadrants().save(root.join("quad.png")).unwrap(),
        &[
            "--set",
            "server.base_url=\"https://images.example.org/iiif/3/\"",
        ],
    );
    assert_eq!(
        s.get("quad.png/info.json").json()["id"],
        "https://images.example.org/iiif/3/quad.png"
    );
    assert_eq!(
        s.get("quad.png").header("location"),
        "https://images.example.org/iiif/3/quad.png/info.json"
    );
}

#[test]
fn cors_everywhere_and_preflight() {
    let s = Server::start();
    for path in [
        "quad.png/info.json",
        "quad.png/full/max/0/default.jpg",
        "nothing/info.json",
        "quad.png/bad/max/0/default.jpg",
    ] {
        assert_eq!(
            s.get(path).header("access-control-allow-origin"),
            "*",
            "{path}"
        );
    }
    let pre = s.request(
        "OPTIONS",
        "quad.png/info.json",
        &[
            ("Origin", "https://viewer.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "accept, x-custom"),
        ],
    );
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), "*");
    assert!(pre.header("access-control-allow-methods").contains("GET"));
    assert_eq!(
        pre.header("access-control-allow-headers"),
        "accept, x-custom"
    );
    assert_eq!(
        s.request("OPTIONS", &format!("{}/anything", s.origin()), &[])
            .status,
        204
    );
}

#[test]
fn link_headers_and_canonical_uri() {
    let s = Server::start();
    let r = s.get("quad.png/pct:50,0,50,50/pct:50/360/color.png");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("link"),
        format!(
            "<http://iiif.io/api/image/3/level2.json>;rel=\"profile\", <{}/quad.png/200,0,200,150/100,75/0/default.png>;rel=\"canonical\"",
            s.base
        )
    );
    let full = s.get("quad.png/0,0,400,300/400,/0/default.jpg");
    assert!(
        full.header("link")
            .contains("/quad.png/full/max/0/default.jpg>;rel=\"canonical\"")
    );
}

#[test]
fn head_matches_get() {
    let s = Server::start();
    for path in ["quad.png/info.json", "quad.png/full/100,/0/default.webp"] {
        let get = s.get(path);
        let head = s.request("HEAD", path, &[]);
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
        for h in [
            "content-type",
            "content-length",
            "etag",
            "last-modified",
            "cache-control",
            "link",
        ] {
            assert_eq!(head.header(h), get.header(h), "{path}: {h}");
        }
        assert_eq!(get.header("content-length"), get.body.len().to_string());
    }
}

#[test]
fn conditional_requests() {
    let s = Server::start();
    for path in ["quad.png/info.json", "quad.png/full/100,/0/default.jpg"] {
        let r = s.get(path);
        let (etag, modified) = (
            r.header("etag").to_string(),
            r.header("last-modified").to_string(),
        );
        assert!(etag.starts_with('"') && !modified.is_empty());
        let by_tag = s.request("GET", path, &[("If-None-Match", &etag)]);
        assert_eq!(by_tag.status, 304);
        assert!(by_tag.body.is_empty());
        assert_eq!(by_tag.header("etag"), etag);
        assert_eq!(
            s.request("GET", path, &[("If-Modified-Since", &modified)])
                .status,
            304
        );
        assert_eq!(
            s.request("GET", path, &[("If-None-Match", "\"other\"")])
                .status,
            200
        );
    }
    // Equivalent requests share an entity tag; different ones do not.
    let a = s.get("quad.png/pct:0,0,50,50/max/0/default.jpg");
    let b = s.get("quad.png/0,0,200,150/200,/0/color.jpg");
    let c = s.get("quad.png/0,0,200,150/100,/0/default.jpg");
    assert_eq!(a.header("etag"), b.header("etag"));
    assert_ne!(a.header("etag"), c.header("etag"));
}

#[test]
fn percent_encoded_parameters() {
    let s = Server::start();
    let img = s
        .get("quad.png/full/%5E!800%2C800/%2190/default.png")
        .image();
    assert_eq!(img.dimensions(), (600, 800));
}
