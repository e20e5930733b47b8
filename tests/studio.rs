//! Studio and the front page against the real server: the app's files with their security
//! headers, the front page's links, the catalogue as Studio browses it, and what the editor
//! relies on (draft previews with every field, hidden layers). The app itself is tested in
//! a real browser by `.ci/browser`.

mod common;

use std::path::Path;

use common::{Reply, Server};
use serde_json::{Value, json};

const TOKEN: &str = "test-admin-token";

fn start() -> Server {
    let token = format!("admin.token=\"{TOKEN}\"");
    Server::start_with(
        |root| {
            let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images");
            for f in ["avatar-default.png", "coffee.jpg"] {
                std::fs::copy(samples.join(f), root.join(f)).unwrap();
            }
        },
        &["--set", &token],
    )
}

fn call(s: &Server, method: &str, path: &str, body: &[u8]) -> Reply {
    let bearer = format!("Bearer {TOKEN}");
    s.send(
        method,
        &format!("{}{path}", s.origin()),
        &[("Authorization", &bearer)],
        body,
    )
}

fn at(s: &Server, path: &str, headers: &[(&str, &str)]) -> Reply {
    s.request("GET", &format!("{}{path}", s.origin()), headers)
}

#[test]
fn studio_files_come_with_a_strict_policy_and_revalidate() {
    let s = start();
    let page = at(&s, "/studio/", &[]);
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").starts_with("text/html"));
    let csp = page.header("content-security-policy");
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(part), "{part} missing from {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    assert_eq!(page.header("referrer-policy"), "same-origin");
    assert_eq!(page.header("access-control-allow-origin"), "", "no CORS");
    // Every file the page names is served, with its type, and nothing from elsewhere.
    let html = page.text();
    let mut named = 0;
    for quote in html.split('"').skip(1).step_by(2) {
        if quote.starts_with("/studio/") {
            named += 1;
            let f = at(&s, quote, &[]);
            assert_eq!(f.status, 200, "{quote}");
            assert_ne!(
                f.header("content-type"),
                "application/octet-stream",
                "{quote}"
            );
        }
        assert!(!quote.starts_with("http"), "{quote} leaves the origin");
    }
    assert!(named >= 3, "{html}");
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "nothing inline"
    );
    // Unchanged files cost a 304.
    let app = at(&s, "/studio/app.js", &[]);
    assert!(app.header("content-type").starts_with("text/javascript"));
    assert_eq!(app.header("cache-control"), "no-cache");
    let again = at(
        &s,
        "/studio/app.js",
        &[("If-None-Match", app.header("etag"))],
    );
    assert_eq!(again.status, 304);
    assert_eq!(
        s.request("HEAD", &format!("{}/studio/", s.origin()), &[])
            .status,
        200
    );
    assert_eq!(at(&s, "/studio", &[]).status, 308);
    for outside in [
        "/studio/nothing.js",
        "/studio/../Cargo.toml",
        "/studio/%2e%2e/Cargo.toml",
        "/studio/lib//api.js",
    ] {
        let r = at(&s, outside, &[]);
        assert_eq!(r.status, 404, "{outside}");
        assert_eq!(r.header("x-tessera-error"), "no_route");
    }
}

#[test]
fn the_front_page_names_the_server_and_links_studio_iiif_api_and_docs() {
    let s = start();
    let page = at(&s, "/", &[]);
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("Tessera"), "{html}");
    for link in [
        "href=\"/studio/\"",
        "href=\"/admin/openapi.json\"",
        "href=\"/docs\"",
    ] {
        assert!(html.contains(link), "{link} missing: {html}");
    }
    assert!(
        html.contains(&format!("{}/{{identifier}}/info.json", s.base)),
        "{html}"
    );
    assert!(
        page.header("content-security-policy")
            .contains("frame-ancestors 'none'")
    );
    let docs = at(&s, "/docs", &[]);
    assert_eq!(docs.status, 200);
    assert!(docs.text().contains("## Studio"), "the docs are the README");
}

#[test]
fn the_catalogue_is_browsed_a_page_at_a_time_project_folders_by_members_only() {
    let s = start();
    let list = |auth: &str, query: &str| {
        let bearer = format!("Bearer {auth}");
        s.request(
            "GET",
            &format!("{}/admin/assets{query}", s.origin()),
            &[("Authorization", &bearer)],
        )
    };
    assert_eq!(list(TOKEN, "").json()["total"], 0, "nothing catalogued yet");
    let scan = call(&s, "POST", "/admin/assets/scan", b"");
    assert_eq!(scan.status, 200, "{}", scan.text());
    assert_eq!(scan.json()["added"], 2);
    let project = json!({"id": "emea"}).to_string();
    assert_eq!(
        call(&s, "POST", "/admin/projects", project.as_bytes()).status,
        201
    );
    let png = std::fs::read(s.root.join("avatar-default.png")).unwrap();
    let up = call(&s, "PUT", "/admin/projects/emea/pictures/rep_50%.png", &png);
    assert_eq!(up.status, 400, "names are checked: {}", up.text());
    let up = call(&s, "PUT", "/admin/projects/emea/pictures/rep.png", &png);
    assert_eq!(up.status, 201, "{}", up.text());
    assert_eq!(up.json()["identifier"], "projects/emea/rep.png");
    // Catalogued at once: listed, and served over IIIF.
    let all = list(TOKEN, "").json();
    let ids: Vec<&str> = all["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["avatar-default.png", "coffee.jpg", "projects/emea/rep.png"]
    );
    assert_eq!(all["assets"][1]["width"], 600);
    assert_eq!(s.get("projects%2Femea%2Frep.png/info.json").status, 200);
    // Searching and paging.
    let found = list(TOKEN, "?q=COF").json();
    assert_eq!(
        (
            found["total"].as_u64(),
            found["assets"][0]["identifier"].as_str()
        ),
        (Some(1), Some("coffee.jpg"))
    );
    assert_eq!(
        list(TOKEN, "?q=%25").json()["total"],
        0,
        "% is a character, not a wildcard"
    );
    let page = list(TOKEN, "?offset=1&limit=1").json();
    assert_eq!(
        (
            page["total"].as_u64(),
            page["assets"].as_array().unwrap().len()
        ),
        (Some(3), 1)
    );
    assert_eq!(page["assets"][0]["identifier"], "coffee.jpg");
    // A viewer of default sees the shared folder, not emea's.
    let key = call(
        &s,
        "POST",
        "/admin/keys",
        json!({"name": "v", "roles": {"default": "viewer"}})
            .to_string()
            .as_bytes(),
    );
    let secret = key.json()["secret"].as_str().unwrap().to_string();
    assert_eq!(list(&secret, "").json()["total"], 2);
    assert_eq!(list(&secret, "?q=rep").json()["total"], 0);
    let scan = s.send(
        "POST",
        &format!("{}/admin/assets/scan", s.origin()),
        &[("Authorization", &format!("Bearer {secret}"))],
        b"",
    );
    assert_eq!(scan.status, 403, "scanning needs upload");
}

fn put_draft(s: &Server, name: &str, doc: &Value) {
    let r = call(
        s,
        "PUT",
        &format!("/admin/templates/{name}"),
        doc.to_string().as_bytes(),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
}

#[test]
fn drafts_preview_every_field_and_hidden_layers_are_not_drawn() {
    let s = start();
    let mut doc = json!({
        "canvas": {"width": 120, "height": 60, "background": "#ffffff"},
        "fields": {"who": {"max_length": 20, "default": ""}},
        "layers": [
            {"type": "shape", "shape": "rect", "fill": "#000000", "name": "Cover", "hidden": true,
             "box": {"x": 0, "y": 0, "width": 60, "height": 60}},
            {"type": "text", "text": "{{ who }}", "font": "Noto Sans", "size": 30, "color": "#ff0000",
             "box": {"x": 62, "y": 0, "width": 58, "height": 60}}
        ]
    });
    put_draft(&s, "card", &doc);
    let draft = |q: &str| {
        let bearer = format!("Bearer {TOKEN}");
        let r = s.request(
            "GET",
            &format!("tpl~card~draft/full/max/0/default.png{q}"),
            &[("Authorization", &bearer)],
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.image()
    };
    let plain = draft("");
    common::assert_near(&plain, 20, 30, image::Rgb([255, 255, 255]), 8);
    let named = draft("?who=Ann");
    assert!(
        common::mean_diff(&plain, &named) > 0.5,
        "a field that is not open is previewed unsigned"
    );
    doc["layers"][0]["hidden"] = json!(false);
    put_draft(&s, "card", &doc);
    common::assert_near(&draft(""), 20, 30, image::Rgb([0, 0, 0]), 8);
    let saved = call(&s, "GET", "/admin/templates/card/draft", b"").json();
    assert_eq!(
        saved["document"]["layers"][0]["name"], "Cover",
        "names are kept"
    );
    assert!(
        saved["document"]["layers"][1].get("hidden").is_none(),
        "hidden: false is not written"
    );
    // Published, the same unsigned value is refused as before.
    assert_eq!(
        call(&s, "POST", "/admin/templates/card/publish", b"").status,
        201
    );
    assert_eq!(
        s.get("tpl~card~1/full/max/0/default.png?who=Ann").status,
        403
    );
}

#[test]
fn the_session_says_what_each_role_may_do_and_where_images_are() {
    let s = start();
    let nobody = at(&s, "/auth/session", &[]);
    assert_eq!(
        nobody.status, 200,
        "no credential: an answer, not a refusal"
    );
    assert_eq!(nobody.json(), json!({"signed_in": false}));
    let stale = at(&s, "/auth/session", &[("Cookie", "tessera_session=gone")]);
    assert_eq!(stale.status, 401, "a bad credential is still refused");
    let r = call(&s, "GET", "/auth/session", b"").json();
    assert_eq!(r["signed_in"], true);
    assert_eq!(r["all_projects"], true);
    assert_eq!(r["iiif"], s.base);
    let key = call(
        &s,
        "POST",
        "/admin/keys",
        json!({"name": "d", "roles": {"default": "designer"}})
            .to_string()
            .as_bytes(),
    );
    let secret = key.json()["secret"].as_str().unwrap().to_string();
    let r = s
        .request(
            "GET",
            &format!("{}/auth/session", s.origin()),
            &[("Authorization", &format!("Bearer {secret}"))],
        )
        .json();
    let caps: Vec<&str> = r["capabilities"]["default"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        caps.contains(&"edit") && caps.contains(&"preview"),
        "{caps:?}"
    );
    assert!(!caps.contains(&"publish"), "{caps:?}");
}
