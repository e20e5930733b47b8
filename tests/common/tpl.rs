//! Helpers for the template suites: a server with an admin token and two signing keys, the
//! admin API, publishing, signed URLs and golden images.

use std::path::{Path, PathBuf};

use image::DynamicImage;
use tessera::template::signing::{Keys, encode_component, sign};

use super::{Reply, Server, mean_diff};

pub const ADMIN: &str = "test-admin-token";
pub const SECRET_1: &str = "first-secret-first-secret-first-secret";
pub const SECRET_2: &str = "second-secret-second-secret-second-secret";

/// Mean absolute difference per channel (0–255) a render may have from its golden image:
/// the fonts are the repository's own, so only rasterizer or resampler rounding may differ.
pub const GOLDEN_TOLERANCE: f64 = 1.0;

pub fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images")
}

/// Copies the sample pictures templates use into a test root.
pub fn pictures(root: &Path) {
    for f in ["hubble.tif", "avatar-default.png", "astronaut.png"] {
        std::fs::copy(samples().join(f), root.join(f)).unwrap();
    }
}

/// A server with an admin token and two keys (k2 signs; k1 still verifies), plus `args`.
pub fn server(args: &[&str]) -> Server {
    let keys = format!("templates.keys=[\"k2:{SECRET_2}\", \"k1:{SECRET_1}\"]");
    let token = format!("admin.token=\"{ADMIN}\"");
    let mut all = vec!["--set", &token, "--set", &keys];
    all.extend_from_slice(args);
    Server::start_with(pictures, &all)
}

pub const AUTH: (&str, &str) = ("Authorization", "Bearer test-admin-token");

pub fn admin(s: &Server, method: &str, path: &str, body: &[u8]) -> Reply {
    s.send(
        method,
        &format!("{}/admin/{path}", s.origin()),
        &[AUTH],
        body,
    )
}

/// Saves `doc` as the draft of `name` and publishes it; returns the version.
pub fn publish(s: &Server, name: &str, doc: &serde_json::Value) -> u64 {
    let put = admin(
        s,
        "PUT",
        &format!("templates/{name}"),
        doc.to_string().as_bytes(),
    );
    assert!(put.status == 201 || put.status == 200, "{}", put.text());
    let r = admin(s, "POST", &format!("templates/{name}/publish"), b"");
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["version"].as_u64().unwrap()
}

pub fn golden(name: &str, got: &DynamicImage) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.png"));
    if std::env::var_os("TESSERA_BLESS").is_some() {
        got.save(&path).unwrap();
        return;
    }
    let want = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let diff = mean_diff(got, &want);
    eprintln!("golden {name}: mean difference {diff:.3}");
    assert!(
        diff <= GOLDEN_TOLERANCE,
        "{name}: mean difference {diff:.3} from {}",
        path.display()
    );
}

pub fn q(s: &str) -> String {
    encode_component(s)
}

/// A URL for `path` (below the prefix) with `query` signed by key `id`.
pub fn signed(s: &Server, id: &str, secret: &str, path: &str, query: &[(&str, &str)]) -> String {
    let keys = Keys::new(vec![(id.into(), secret.as_bytes().to_vec())]).unwrap();
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let prefix = s.base.trim_start_matches(s.origin());
    let sig = sign(&keys, &format!("{prefix}/{path}"), &pairs);
    pairs.push(("sig".into(), sig));
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", q(k), q(v)))
        .collect();
    format!("{path}?{}", query.join("&"))
}
