//! Personalized images through the real binary: golden renders, the template lifecycle, and
//! the safety rules (signatures, sealed tokens, email fallbacks, denylist, render budget, URL
//! length, no field value in logs or metrics).
//!
//! Golden images live in `tests/golden/`; `TESSERA_BLESS=1 cargo test --test templates`
//! rewrites them after a deliberate change (look at them before committing).

mod common;

use common::mean_diff;
use common::tpl::{AUTH, SECRET_1, SECRET_2, admin, golden, publish, q, server, signed};
use image::{DynamicImage, Rgb};

/// The badge the golden images are made of: plain colours, so a golden PNG stays small.
fn badge(email: bool) -> serde_json::Value {
    serde_json::json!({
        "canvas": {"width": 600, "height": 300, "background": "#ffffff"},
        "email": email,
        "fields": {
            "name": {"open": true, "max_length": 60, "default": "Guest"},
            "company": {"open": true, "default": "Independent"},
            "photo": {"open": true, "kind": "url", "default": "avatar-default"},
            "title": {"default": "Visitor"}
        },
        "layers": [
            {"type": "shape", "shape": "rect", "fill": "#0b1f3a",
             "box": {"x": 0, "y": 0, "width": "100%", "height": 70}},
            {"type": "text", "text": "EVENT BADGE · {{ title }}", "font": "Noto Sans", "weight": 700,
             "size": 28, "color": "#ffffff", "valign": "middle",
             "box": {"x": 24, "y": 0, "width": 552, "height": 70}},
            {"type": "text", "text": "{{ name }}", "font": "Noto Sans", "weight": 700,
             "size": 52, "min_size": 30, "max_lines": 2, "line_height": 1.1, "color": "#0b1f3a",
             "valign": "middle", "box": {"x": 24, "y": 90, "width": 360, "height": 130}},
            {"type": "text", "text": "{{ company }}", "font": "Noto Sans", "size": 26,
             "color": "#44546a", "box": {"x": 24, "y": 232, "width": 360, "height": 44}},
            {"type": "image", "source": "{{ photo }}", "default": "avatar-default",
             "circle": true, "box": {"x": 410, "y": 95, "width": 170, "height": 170}}
        ]
    })
}

#[test]
fn golden_renders() {
    let s = server(&[]);
    assert_eq!(publish(&s, "badge", &badge(false)), 1);
    let png = |query: &str| s.get(&format!("tpl~badge~1/full/max/0/default.png?{query}"));
    let short = png("name=Ana&company=Acme%20Museum&photo=astronaut");
    golden("short-name", &short.image());

    let sixty = "Bartholomew Alexander Montgomery-Featherstonehaugh the Third";
    assert_eq!(sixty.chars().count(), 60);
    let long = png(&format!("name={}&photo=astronaut", q(sixty)));
    golden("sixty-characters", &long.image());
    assert_ne!(long.body, short.body);

    let arabic = png(&format!(
        "name={}&company={}",
        q("فاطمة الزهراء"),
        q("متحف")
    ));
    golden("arabic-name", &arabic.image());

    // No company: its default ("Independent") is printed.
    let missing = png("name=Ana&photo=astronaut");
    golden("missing-field", &missing.image());
    assert_eq!(
        missing.header("x-tessera-fallbacks"),
        "",
        "missing is not a refusal"
    );

    // A photo that does not exist: the layer's default, exactly as if asked for.
    let no_photo = png("name=Ana&photo=people%2Fnobody");
    golden("missing-photo", &no_photo.image());
    let default_photo = png("name=Ana&photo=avatar-default");
    assert_eq!(mean_diff(&no_photo.image(), &default_photo.image()), 0.0);

    // The photo is clipped to the circle inscribed in its box.
    let img = short.image().to_rgb8();
    let inside = img.get_pixel(495, 180).0;
    assert_ne!(inside, [255, 255, 255], "photo inside the circle");
    for (x, y) in [(412, 97), (578, 97), (412, 263), (578, 263)] {
        assert_eq!(
            img.get_pixel(x, y).0,
            [255, 255, 255],
            "corner ({x},{y}) stays white"
        );
    }
    golden(
        "circle-photo",
        &DynamicImage::ImageRgb8(image::imageops::crop_imm(&img, 400, 85, 190, 190).to_image()),
    );
}

#[test]
fn every_iiif_form_applies_to_the_canvas() {
    let s = server(&[]);
    publish(&s, "badge", &badge(false));
    let info = s.get("tpl~badge~1/info.json").json();
    assert_eq!(
        (info["width"].as_u64(), info["height"].as_u64()),
        (Some(600), Some(300))
    );
    assert_eq!(info["id"], format!("{}/tpl~badge~1", s.base));
    let whole = s.get("tpl~badge~1/full/max/0/default.png?name=Ana").image();
    // A region and a size of the canvas: the header band, halved.
    let band = s
        .get("tpl~badge~1/0,0,600,70/300,/0/default.png?name=Ana")
        .image();
    assert_eq!((band.width(), band.height()), (300, 35));
    common::assert_near(&band, 290, 30, Rgb([11, 31, 58]), 3);
    // Rotated 90°: the band is now on the right.
    let turned = s.get("tpl~badge~1/full/max/90/gray.jpg?name=Ana").image();
    assert_eq!((turned.width(), turned.height()), (300, 600));
    let px = turned.to_rgb8().get_pixel(290, 590).0;
    assert!(
        px[0] < 60 && px[0] == px[1],
        "gray band on the right: {px:?}"
    );
    assert_eq!(whole.width(), 600);
    let tile = s.get("tpl~badge~1/512,0,88,300/88,/0/default.webp?name=Ana");
    assert_eq!(tile.status, 200);
}

#[test]
fn lifecycle_draft_publish_edit_publish_keeps_v1_byte_identical() {
    let s = server(&[]);
    let v1_doc = badge(false);
    let put = admin(&s, "PUT", "templates/badge", v1_doc.to_string().as_bytes());
    assert_eq!(put.status, 201, "{}", put.text());
    let first_hash = put.json()["content_hash"].as_str().unwrap().to_string();
    // Drafts are admin-only previews, watermarked and never cached.
    let draft_url = "tpl~badge~draft/full/max/0/default.png?name=Ana";
    assert_eq!(s.get(draft_url).status, 401);
    assert_eq!(
        s.request("GET", draft_url, &[("Authorization", "Bearer nope")])
            .status,
        401
    );
    let preview = s.request("GET", draft_url, &[AUTH]);
    assert_eq!(preview.header("cache-control"), "no-store");
    assert_eq!(
        preview.image().to_rgb8().get_pixel(599, 299).0,
        [214, 40, 40]
    );
    assert_eq!(s.get("tpl~badge~1/full/max/0/default.png").status, 404);

    let r = admin(&s, "POST", "templates/badge/publish", b"");
    assert_eq!(r.json()["version"], 1);
    let v1_url = "tpl~badge~1/full/max/0/default.png?name=Ana";
    let v1 = s.get(v1_url);
    assert_eq!(
        v1.header("cache-control"),
        "public, max-age=31536000, immutable"
    );

    // Edit the draft: its preview changes at once.
    let mut v2_doc = v1_doc.clone();
    v2_doc["layers"][0]["fill"] = "#1a7f37".into();
    let put = admin(&s, "PUT", "templates/badge", v2_doc.to_string().as_bytes());
    assert_eq!(put.status, 200, "an update, not a creation");
    let second_hash = put.json()["content_hash"].as_str().unwrap().to_string();
    let preview2 = s.request("GET", draft_url, &[AUTH]);
    common::assert_near(&preview2.image(), 300, 20, Rgb([26, 127, 55]), 2);
    // Published v1 is untouched by the draft.
    assert_eq!(s.get(v1_url).body, v1.body);

    let r = admin(&s, "POST", "templates/badge/publish", b"");
    assert_eq!(r.json()["version"], 2);
    let v2 = s.get("tpl~badge~2/full/max/0/default.png?name=Ana");
    common::assert_near(&v2.image(), 300, 20, Rgb([26, 127, 55]), 2);
    // v1 re-rendered from scratch (the template's renders purged) is byte-identical.
    let purge = admin(&s, "DELETE", "cache/tpl~badge~1", b"");
    assert_eq!(
        purge.json()["purged"],
        2,
        "v1 and v2; drafts are never cached"
    );
    let again = s.get(v1_url);
    assert_eq!(
        s.metric("tessera_template_renders_total"),
        5.0,
        "v1 rendered again"
    );
    assert_eq!(again.body, v1.body);

    let versions = admin(&s, "GET", "templates/badge/versions", b"").json();
    let numbers: Vec<u64> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2]);
    let one = admin(&s, "GET", "templates/badge/versions/1", b"").json();
    assert_eq!(one["document"], v1_doc);
    let audit = admin(&s, "GET", "templates/badge/audit", b"").json();
    let rows: Vec<(String, Option<u64>, String)> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            // Who comes from authentication (the break-glass token), never from a header.
            assert_eq!(a["principal"], "token");
            assert_eq!(a["outcome"], "ok");
            assert!(a["at"].as_u64().unwrap() > 1_700_000_000);
            (
                a["action"].as_str().unwrap().to_string(),
                a["detail"]["version"].as_u64(),
                a["detail"]["content_hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("template.save".into(), None, first_hash.clone()),
            ("template.publish".into(), Some(1), first_hash),
            ("template.save".into(), None, second_hash.clone()),
            ("template.publish".into(), Some(2), second_hash),
        ]
    );
    let list = admin(&s, "GET", "templates", b"").json();
    assert_eq!(list["templates"][0]["latest_version"], 2);
}

#[test]
fn the_admin_api_explains_bad_templates() {
    let s = server(&[]);
    assert_eq!(
        s.send(
            "PUT",
            &format!("{}/admin/templates/badge", s.origin()),
            &[],
            b"{}"
        )
        .status,
        401
    );
    let mut doc = badge(false);
    doc["layers"][2]["size"] = "huge".into();
    let r = admin(&s, "PUT", "templates/badge", doc.to_string().as_bytes());
    assert_eq!(r.status, 422);
    assert!(r.text().contains("$.layers[2].size"), "{}", r.text());
    let mut doc = badge(false);
    doc["layers"][2]["font"] = "Comic Sans".into();
    let r = admin(&s, "PUT", "templates/badge", doc.to_string().as_bytes());
    assert_eq!(r.status, 422);
    assert!(r.text().contains("$.layers[2].font"), "{}", r.text());
    let mut doc = badge(false);
    doc["layers"][2]["color"] = "navy".into();
    let r = admin(&s, "PUT", "templates/badge", doc.to_string().as_bytes());
    assert_eq!(r.status, 422);
    assert!(r.text().contains("$.layers[2].color"), "{}", r.text());
    let mut doc = badge(false);
    doc["layers"][4]["default"] = "nobody".into();
    let r = admin(&s, "PUT", "templates/badge", doc.to_string().as_bytes());
    assert!(r.text().contains("$.layers[4].default"), "{}", r.text());
    assert_eq!(admin(&s, "PUT", "templates/bad%20name", b"{}").status, 400);
    assert_eq!(
        admin(&s, "POST", "templates/badge/publish", b"").status,
        409
    );
    assert_eq!(s.get("tpl~badge~7/info.json").status, 404);
    assert_eq!(s.get("tpl~badge~x/info.json").status, 400);
}

#[test]
fn signatures_guard_fields_that_are_not_open() {
    let s = server(&[]);
    publish(&s, "badge", &badge(false));
    let path = "tpl~badge~1/full/max/0/default.png";
    let unsigned = s.get(&format!("{path}?title=Speaker"));
    assert_eq!(unsigned.status, 403);
    assert_eq!(unsigned.header("x-tessera-error"), "refused");
    let fields = [("name", "Ana"), ("title", "Speaker")];
    let current = s.get(&signed(&s, "k2", SECRET_2, path, &fields));
    assert_eq!(current.status, 200);
    // The older key still verifies: rotation does not break URLs already sent.
    let older = s.get(&signed(&s, "k1", SECRET_1, path, &fields));
    assert_eq!(older.body, current.body);
    // A key the server no longer has (rotated out), and a key id with the wrong secret.
    let gone = "k0-rotated-out-secret-rotated-out-secret";
    assert_eq!(s.get(&signed(&s, "k0", gone, path, &fields)).status, 403);
    assert_eq!(
        s.get(&signed(&s, "k2", SECRET_1, path, &fields)).status,
        403
    );
    // Tampering with a signed value.
    let url = signed(&s, "k2", SECRET_2, path, &fields).replace("Speaker", "CEO");
    assert_eq!(s.get(&url).status, 403);
    // Expired.
    let url = signed(
        &s,
        "k2",
        SECRET_2,
        path,
        &[("title", "Speaker"), ("exp", "1000")],
    );
    assert_eq!(s.get(&url).status, 403);
    // The admin API signs too.
    let made = admin(
        &s,
        "POST",
        "templates/badge/versions/1/sign",
        br#"{"fields": {"name": "Ana", "title": "Speaker"}, "request": "full/max/0/default.png"}"#,
    );
    let url = made.json()["url"].as_str().unwrap().to_string();
    assert_eq!(s.get(&url).body, current.body);
    assert!(s.metric("tessera_template_refusals_total") >= 5.0);
}

#[test]
fn sealed_tokens_round_trip_and_refuse_tampering() {
    let s = server(&[]);
    publish(&s, "badge", &badge(false));
    let csv = "email,name,title\nana@example.org,Ana,Speaker\n";
    let r = admin(
        &s,
        "POST",
        "templates/badge/versions/1/seal?request=full/max/0/default.png",
        csv.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let out = r.text();
    let url = out
        .lines()
        .nth(1)
        .unwrap()
        .rsplit(',')
        .next()
        .unwrap()
        .to_string();
    assert!(!url.contains("Ana") && !url.contains("Speaker"), "{url}");
    let sealed = s.get(&url);
    assert_eq!(sealed.status, 200);
    let signed_same = s.get(&signed(
        &s,
        "k2",
        SECRET_2,
        "tpl~badge~1/full/max/0/default.png",
        &[("name", "Ana"), ("title", "Speaker")],
    ));
    assert_eq!(mean_diff(&sealed.image(), &signed_same.image()), 0.0);
    // Flip one character of the token.
    let at = url.find("~k2.").unwrap() + 10;
    let mut bytes = url.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert_eq!(s.get(&tampered).status, 403);
}

#[test]
fn email_templates_answer_with_the_all_defaults_image() {
    let s = server(&[]);
    publish(&s, "mail", &badge(true));
    let path = "tpl~mail~1/full/max/0/default.png";
    let defaults = s.get(path);
    assert_eq!(defaults.status, 200);
    let unsigned = s.get(&format!("{path}?title=CEO&name=Ana"));
    assert_eq!(unsigned.status, 200);
    assert_eq!(unsigned.header("x-tessera-refused"), "unsigned");
    assert_eq!(unsigned.body, defaults.body);
    let tampered =
        signed(&s, "k2", SECRET_2, path, &[("title", "Speaker")]).replace("Speaker", "CEO");
    let r = s.get(&tampered);
    assert_eq!((r.status, r.header("x-tessera-refused")), (200, "tampered"));
    assert_eq!(r.body, defaults.body);
}

#[test]
fn denied_words_fall_back_and_the_render_budget_holds() {
    let s = server(&[
        "--set",
        "templates.denylist=[\"scam\"]",
        "--set",
        "templates.renders_per_minute=3",
    ]);
    publish(&s, "badge", &badge(false));
    let path = "tpl~badge~1/full/max/0/default.png";
    let defaults = s.get(path);
    let denied = s.get(&format!("{path}?name=Total%20SCAM"));
    assert_eq!(denied.status, 200);
    assert_eq!(denied.header("x-tessera-fallbacks"), "name=denied");
    assert_eq!(
        denied.body, defaults.body,
        "the same image as no name at all"
    );
    // The denied one was a cache hit; new names are new renders, three per minute: the
    // third new name is refused — the fourth or fifth if the minute turns meanwhile.
    let names = ["Ana", "Bo", "Cy", "Di", "Ed", "Flo", "Gus"];
    let replies: Vec<common::Reply> = names
        .iter()
        .map(|n| s.get(&format!("{path}?name={n}")))
        .collect();
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    let first_refusal = statuses.iter().position(|&st| st == 429);
    assert!(matches!(first_refusal, Some(2..=4)), "{statuses:?}");
    let over = &replies[first_refusal.unwrap()];
    assert_eq!(over.header("x-tessera-error"), "rate_limited");
    let wait: u64 = over.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(s.get(&format!("{path}?name=Ana")).status, 200, "cached");
}

#[test]
fn field_values_stay_out_of_logs_metrics_and_long_urls_are_refused() {
    let s = server(&[
        "--set",
        "log.level=\"debug\"",
        "--set",
        "templates.max_url_bytes=300",
    ]);
    publish(&s, "badge", &badge(false));
    let marker = "Zyxwvut";
    let path = "tpl~badge~1/full/max/0/default.png";
    assert_eq!(
        s.get(&format!("{path}?name={marker}&photo={marker}"))
            .status,
        200
    );
    s.get(&format!("{path}?name=SCAM{marker}&title={marker}"));
    let csv = format!("name\n{marker}\n");
    let sealed = admin(
        &s,
        "POST",
        "templates/badge/versions/1/seal",
        csv.as_bytes(),
    )
    .text();
    let url = sealed
        .lines()
        .nth(1)
        .unwrap()
        .rsplit(',')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(s.get(&url).status, 200);
    let long = s.get(&format!("{path}?name={}", "a".repeat(300)));
    assert_eq!(long.status, 414);
    let metrics = s.get(&format!("{}/metrics", s.origin())).text();
    assert!(!metrics.contains(marker));
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(log.contains("tpl~badge~1"), "the log is being written");
    assert!(!log.contains(marker), "a field value leaked into the log");
}

#[test]
fn tessera_seal_turns_a_csv_into_urls_the_server_renders() {
    let s = server(&[]);
    publish(&s, "badge", &badge(false));
    let dir = s.root.parent().unwrap().to_path_buf();
    std::fs::write(dir.join("in.csv"), "id,name,company\n7,Ana,Acme\n8,Bo,\n").unwrap();
    let keys = format!("templates.keys=[\"k2:{SECRET_2}\"]");
    let out = common::tessera(
        &dir,
        &[
            "seal",
            "badge",
            "1",
            "--request",
            "full/200,/0/default.png",
            "--input",
            dir.join("in.csv").to_str().unwrap(),
            "--base-url",
            &s.base,
            "--valid-for",
            "3600",
            "--set",
            &keys,
        ],
    );
    let mut csv = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(csv.headers().unwrap(), vec!["id", "name", "company", "url"]);
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert!(!row[3].contains("Ana"));
        let img = s.get(&row[3]).image();
        assert_eq!(img.width(), 200);
    }
    // The CLI purges a template's renders like the admin API does.
    let purged = common::tessera(&dir, &["cache", "purge", "tpl~badge~1"]);
    assert_eq!(purged.trim(), "purged 2 entries");
}
