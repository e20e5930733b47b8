//! The catalogue, the derivative cache and CDN-origin semantics, through the real binary.

mod common;

use std::path::Path;

use common::{Server, quadrants};
use image::{Rgb, RgbImage};

fn quad_root(root: &Path) {
    quadrants().save(root.join("quad.png")).unwrap();
}

#[test]
fn repeats_are_byte_identical_cache_hits() {
    let s = Server::start();
    let url = "quad.png/full/200,/0/default.jpg";
    let first = s.get(url);
    assert_eq!(s.metric("tessera_cache_misses_total"), 1.0);
    assert_eq!(s.metric("tessera_renders_total"), 1.0);
    let second = s.get(url);
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("etag"), first.header("etag"));
    assert_eq!(s.metric("tessera_cache_hits_total"), 1.0);
    assert_eq!(s.metric("tessera_renders_total"), 1.0);
    // The pct: and pixel forms of the same request share the entry.
    let pct = s.get("quad.png/pct:0,0,100,100/pct:50/0/default.jpg");
    assert_eq!(pct.body, first.body);
    assert_eq!(s.metric("tessera_cache_hits_total"), 2.0);
    assert_eq!(s.metric("tessera_renders_total"), 1.0);
    assert!(s.metric("tessera_cache_bytes") >= first.body.len() as f64);
    assert_eq!(s.metric("tessera_cache_entries"), 1.0);
    assert!(s.metric("tessera_http_requests_total") >= 3.0);
}

#[test]
fn a_changed_source_gets_new_bytes_and_a_new_etag() {
    let s = Server::start();
    let url = "quad.png/full/100,/0/default.png";
    let before = s.get(url);
    let info_before = s.get("quad.png/info.json").json();
    // Another size too, so info.json has to change.
    RgbImage::from_pixel(300, 200, Rgb([10, 200, 30]))
        .save(s.root.join("quad.png"))
        .unwrap();
    let after = s.get(url);
    assert_ne!(after.header("etag"), before.header("etag"));
    assert_ne!(after.body, before.body);
    common::assert_near(&after.image(), 50, 50, Rgb([10, 200, 30]), 2);
    let info_after = s.get("quad.png/info.json").json();
    assert_eq!(
        (
            info_before["width"].as_u64(),
            info_before["height"].as_u64()
        ),
        (Some(400), Some(300))
    );
    assert_eq!(
        (info_after["width"].as_u64(), info_after["height"].as_u64()),
        (Some(300), Some(200))
    );
    // The old validator no longer matches.
    let r = s.request("GET", url, &[("If-None-Match", before.header("etag"))]);
    assert_eq!(r.status, 200);
}

#[test]
fn hits_survive_a_restart_and_crash_leftovers_are_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("root")).unwrap();
    quad_root(&dir.path().join("root"));
    let url = "quad.png/square/64,/90/gray.webp";
    let first = {
        let s = Server::start_in(dir.path(), &[]);
        s.get(url).body
    };
    // A crash mid-write leaves a temporary file behind.
    let leftover = dir.path().join("cache/tmp/4242-7.tmp");
    std::fs::write(&leftover, &first[..first.len() / 2]).unwrap();
    let s = Server::start_in(dir.path(), &[]);
    assert!(
        !leftover.exists(),
        "leftover temporary file removed at start-up"
    );
    assert_eq!(s.get(url).body, first);
    assert_eq!(s.metric("tessera_cache_hits_total"), 1.0);
    assert_eq!(s.metric("tessera_renders_total"), 0.0);
}

/// Waits until `series` is at most `limit` (eviction runs in the background).
fn settles_at_most(s: &Server, series: &str, limit: f64) -> f64 {
    common::eventually(series, || s.metric(series) <= limit);
    s.metric(series)
}

#[test]
fn a_full_cache_evicts_down_to_the_low_watermark() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("root")).unwrap();
    quad_root(&dir.path().join("root"));
    let small = [
        "--set",
        "cache.max_bytes=10000",
        "--set",
        "cache.high_watermark=0.9",
        "--set",
        "cache.low_watermark=0.5",
    ];
    // While serving: past 9,000 bytes eviction starts, so the cache never stays above it.
    let mut total = 0;
    {
        let s = Server::start_in(dir.path(), &small);
        for w in 100..140 {
            total += s
                .get(&format!("quad.png/full/{w},/0/default.png"))
                .body
                .len();
        }
        assert!(
            total > 10_000,
            "the test must overflow the cache ({total} bytes)"
        );
        let bytes = settles_at_most(&s, "tessera_cache_bytes", 9_000.0);
        assert!(bytes <= 9_000.0, "cache holds {bytes} bytes");
        assert!(s.metric("tessera_cache_evictions_total") > 0.0);
        // The most recent entry is still a hit.
        let hits = s.metric("tessera_cache_hits_total");
        s.get("quad.png/full/139,/0/default.png");
        assert_eq!(s.metric("tessera_cache_hits_total"), hits + 1.0);
    }
    // Fill it far past the small cap with eviction out of the way, then restart with the cap:
    // it evicts least recently used entries until under the low watermark.
    {
        let s = Server::start_in(dir.path(), &["--set", "cache.max_bytes=100000000"]);
        for w in 140..200 {
            s.get(&format!("quad.png/full/{w},/0/default.png"));
        }
        assert!(s.metric("tessera_cache_bytes") > 10_000.0);
    }
    let s = Server::start_in(dir.path(), &small);
    let bytes = settles_at_most(&s, "tessera_cache_bytes", 5_000.0);
    assert!(
        bytes <= 5_000.0 && bytes > 3_000.0,
        "cache holds {bytes} bytes"
    );
    let hits = s.metric("tessera_cache_hits_total");
    s.get("quad.png/full/199,/0/default.png");
    assert_eq!(
        s.metric("tessera_cache_hits_total"),
        hits + 1.0,
        "newest entry kept"
    );
    s.get("quad.png/full/140,/0/default.png");
    assert_eq!(
        s.metric("tessera_cache_hits_total"),
        hits + 1.0,
        "oldest entry evicted"
    );
}

#[test]
fn errors_are_not_cached_and_health_endpoints_answer() {
    let s = Server::start();
    let e = s.get("nothing/full/max/0/default.jpg");
    assert_eq!((e.status, e.header("cache-control")), (404, "no-store"));
    let ok = s.get("quad.png/full/max/0/default.jpg");
    assert_eq!(ok.header("cache-control"), "public, max-age=86400");
    assert!(ok.header("vary").is_empty(), "images are not negotiated");
    assert_eq!(s.get("quad.png/info.json").header("vary"), "Accept");
    assert_eq!(s.get(&format!("{}/healthz", s.origin())).status, 200);
    assert_eq!(s.get(&format!("{}/readyz", s.origin())).text(), "ready\n");
    let metrics = s.get(&format!("{}/metrics", s.origin()));
    assert!(metrics.header("content-type").starts_with("text/plain"));
    for series in [
        "tessera_http_requests_total",
        "tessera_http_request_duration_seconds_bucket",
        "tessera_cache_hits_total",
        "tessera_cache_misses_total",
        "tessera_cache_evictions_total",
        "tessera_cache_bytes",
        "tessera_renders_in_flight",
        "tessera_renders_waiting",
        "tessera_render_duration_seconds_bucket",
        "tessera_decode_duration_seconds_bucket",
        "tessera_coalesced_waits_total",
    ] {
        assert!(metrics.text().contains(series), "{series} missing");
    }
    assert!(metrics.text().contains("route=\"image\",status=\"404\""));
    assert!(
        !metrics.text().contains("nothing"),
        "identifiers never become labels"
    );
}

#[test]
fn admin_purge_needs_the_token() {
    let s = Server::start_with(quad_root, &["--set", "admin.token=\"s3cret\""]);
    let url = "quad.png/full/50,/0/default.jpg";
    s.get(url);
    let admin = format!("{}/admin/cache", s.origin());
    assert_eq!(s.request("DELETE", &admin, &[]).status, 401);
    assert_eq!(
        s.request("DELETE", &admin, &[("Authorization", "Bearer nope")])
            .status,
        401
    );
    let auth = [("Authorization", "Bearer s3cret")];
    let stats = s.request("GET", &admin, &auth).json();
    assert_eq!(stats["entries"], 1);
    let r = s.request("DELETE", &format!("{admin}/quad.png"), &auth);
    assert_eq!((r.status, r.json()["purged"].as_u64()), (200, Some(1)));
    assert_eq!(
        s.request("DELETE", &format!("{admin}/missing.png"), &auth)
            .status,
        404
    );
    s.get(url);
    assert_eq!(
        s.metric("tessera_renders_total"),
        2.0,
        "purged entry rendered again"
    );
    let all = s.request("DELETE", &admin, &auth);
    assert_eq!(all.json()["purged"], 1);
    assert_eq!(s.metric("tessera_cache_entries"), 0.0);

    let disabled = Server::start();
    let r = disabled.request(
        "DELETE",
        &format!("{}/admin/cache", disabled.origin()),
        &auth,
    );
    assert_eq!(r.status, 401, "no admin.token: no bearer token is valid");
}

#[test]
fn sidecar_properties_appear_in_info_json() {
    let s = Server::start_with(
        |root| {
            quad_root(root);
            std::fs::write(
                root.join("quad.png.json"),
                r#"{"rights": "http://creativecommons.org/publicdomain/zero/1.0/",
                    "partOf": [{"id": "https://example.org/manifest", "type": "Manifest"}],
                    "preferredFormats": ["webp"]}"#,
            )
            .unwrap();
        },
        &[],
    );
    let info = s.get("quad.png/info.json").json();
    assert_eq!(
        info["rights"],
        "http://creativecommons.org/publicdomain/zero/1.0/"
    );
    assert_eq!(info["partOf"][0]["type"], "Manifest");
    assert_eq!(info["preferredFormats"], serde_json::json!(["webp"]));
}

#[test]
fn ingest_fills_the_catalogue_and_reruns_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images");
    let mut n = 0;
    for entry in std::fs::read_dir(samples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e != "md" && e != "json") {
            std::fs::copy(&path, root.join("sub").join(path.file_name().unwrap())).unwrap();
            n += 1;
        }
    }
    std::fs::write(root.join("broken.jpg"), b"not a jpeg").unwrap();
    let first = common::tessera(dir.path(), &["ingest"]);
    assert!(
        first.contains(&format!(
            "{n} added, 0 updated, 0 unchanged, 1 unreadable; catalogue holds {n}"
        )),
        "{first}"
    );
    let second = common::tessera(dir.path(), &["ingest"]);
    assert!(
        second.contains(&format!(
            "0 added, 0 updated, {n} unchanged, 1 unreadable; catalogue holds {n}"
        )),
        "{second}"
    );
    // The server answers from the same catalogue; the identifier includes the sub-folder.
    let s = Server::start_in(dir.path(), &[]);
    assert_eq!(s.get("sub%2Fcoffee.jpg/info.json").json()["width"], 600);
    drop(s);

    let s = Server::start_in(dir.path(), &[]);
    s.get("sub%2Fcoffee.jpg/full/64,/0/default.jpg");
    s.get("sub%2Fhubble.tif/full/64,/0/default.jpg");
    drop(s);
    assert!(common::tessera(dir.path(), &["cache", "stats"]).contains(": 2 entries"));
    assert_eq!(
        common::tessera(dir.path(), &["cache", "purge", "sub/coffee.jpg"]).trim(),
        "purged 1 entries"
    );
    assert_eq!(
        common::tessera(dir.path(), &["cache", "purge"]).trim(),
        "purged 1 entries"
    );
    assert!(common::tessera(dir.path(), &["cache", "stats"]).contains(": 0 entries"));
}
