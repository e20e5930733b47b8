//! Rules, variants and data through the server: the web hero's segments and offers, A/B
//! splits that hold across restarts and stop on a winner, recipient data sets, countdowns as
//! animated GIFs on a held clock, QR codes read back, PDFs, and every email platform's unfilled
//! tag answered with the defaults.

mod common;

use std::path::Path;

use common::held::held;
use common::tpl::{ADMIN, AUTH, SECRET_2, admin, golden, publish, q, samples, server, signed};
use common::{Reply, Server, mean_diff};
use image::{AnimationDecoder, DynamicImage};
use serde_json::{Value, json};

fn hero() -> Value {
    let text = std::fs::read_to_string(samples().join("web-hero.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A server whose root also holds the pictures the web hero's variants use.
fn hero_server() -> Server {
    let s = server(&[]);
    std::fs::copy(samples().join("coffee.jpg"), s.root.join("coffee.jpg")).unwrap();
    publish(&s, "hero", &hero());
    s
}

#[test]
fn the_web_hero_follows_segment_and_offer_and_unknown_segments_get_the_default() {
    let s = hero_server();
    let get = |query: &str| {
        let r = s.get(&format!("tpl~hero~1/full/400,/0/default.png?{query}"));
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        r
    };
    let default = get("");
    assert_eq!(default.header("x-tessera-variant"), "default");
    let retail_spring = get("segment=retail&offer=spring");
    assert_eq!(retail_spring.header("x-tessera-variant"), "retail");
    let retail = get("segment=retail");
    let museum = get("segment=gallery");
    assert_eq!(museum.header("x-tessera-variant"), "museum");
    let spring = get("offer=spring");
    assert_eq!(spring.header("x-tessera-variant"), "default");
    golden("hero-default", &default.image());
    golden("hero-retail-spring", &retail_spring.image());
    golden("hero-museum", &museum.image());
    golden("hero-default-spring", &spring.image());
    // The offer layers' condition alone changes the picture; so does the variant alone.
    assert!(mean_diff(&retail.image(), &retail_spring.image()) > 1.0);
    assert!(mean_diff(&default.image(), &spring.image()) > 1.0);
    assert!(
        mean_diff(&default.image(), &retail.image()) > 10.0,
        "another base"
    );
    // A segment no rule knows, a different case of a known one, or a parameter the
    // template does not declare: the default variant, byte for byte.
    for query in [
        "segment=wholesale",
        "segment=",
        "utm_source=x",
        "offer=autumn",
    ] {
        let r = get(query);
        assert_eq!(r.header("x-tessera-variant"), "default", "{query}");
        assert!(r.body == default.body, "{query}");
    }
    assert!(
        get("segment=RETAIL").body == retail.body,
        "equals ignores case"
    );
    // Each variant is counted.
    let usage = admin(&s, "GET", "usage?project=default", b"").json();
    let variants = &usage["usage"][0]["variants"];
    assert_eq!(variants["retail"], 3, "{usage}");
    assert_eq!(variants["museum"], 1, "{usage}");
    assert_eq!(variants["default"], 6, "{usage}");
}

fn split_template() -> Value {
    json!({
        "canvas": {"width": 240, "height": 80, "background": "#ffffff"},
        "fields": {"rid": {"open": true, "max_length": 40}},
        "layers": [
            {"type": "shape", "name": "band", "shape": "rect", "fill": "#d0021b",
             "box": {"x": 0, "y": 0, "width": "100%", "height": "100%"}}
        ],
        "variants": {
            "blue": {"layers": {"band": {"fill": "#1f5fbf"}}},
            "green": {"layers": {"band": {"fill": "#2e8b57"}}}
        },
        "rules": [
            {"split": {"name": "spring", "key": "rid",
                       "weights": {"default": 2000, "blue": 3000, "green": 5000}}},
            {"variant": "default"}
        ]
    })
}

#[test]
fn ab_splits_are_stable_across_restarts_and_stop_on_a_winner() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let token = format!("admin.token=\"{ADMIN}\"");
    let args = ["--set", token.as_str(), "--set", "usage.flush_seconds=1"];
    let start = || Server::start_in(dir.path(), &args);
    let s = start();
    publish(&s, "banner", &split_template());
    let rids: Vec<String> = (0..200).map(|i| format!("contact-{i}")).collect();
    let assign = |s: &Server| -> Vec<String> {
        rids.iter()
            .map(|rid| {
                let r = s.get(&format!("tpl~banner~1/full/max/0/default.png?rid={rid}"));
                assert_eq!(r.status, 200);
                r.header("x-tessera-variant").to_string()
            })
            .collect()
    };
    let before = assign(&s);
    let count = |name: &str| before.iter().filter(|v| *v == name).count();
    // 200 keys at 20/30/50 %: each share within a generous binomial margin (the ±1.5 %
    // over 100,000 keys is pinned where the hash lives, in template::rules).
    assert!((20..=60).contains(&count("spring/default")), "{before:?}");
    assert!((35..=85).contains(&count("spring/blue")), "{before:?}");
    assert!((70..=130).contains(&count("spring/green")), "{before:?}");
    let usage = admin(&s, "GET", "usage?project=default", b"").json();
    assert_eq!(
        usage["usage"][0]["variants"]["spring/green"],
        count("spring/green") as u64
    );
    drop(s);

    let s = start();
    assert_eq!(assign(&s), before, "the same recipient, the same variant");
    let blue = before.iter().position(|v| v == "spring/blue").unwrap();
    let blue_png = s
        .get(&format!(
            "tpl~banner~1/full/max/0/default.png?rid={}",
            rids[blue]
        ))
        .body;

    // Stopped: everyone gets the winner, without a new version.
    let stop = admin(
        &s,
        "POST",
        "templates/banner/splits/spring/stop",
        br#"{"winner": "blue"}"#,
    );
    assert_eq!(stop.status, 200, "{}", stop.text());
    let splits = admin(&s, "GET", "templates/banner/splits", b"").json();
    assert_eq!(splits["splits"][0]["winner"], "blue", "{splits}");
    for rid in &rids[..20] {
        let r = s.get(&format!("tpl~banner~1/full/max/0/default.png?rid={rid}"));
        assert_eq!(r.header("x-tessera-variant"), "spring/blue");
        assert!(r.body == blue_png);
    }
    let bad = admin(
        &s,
        "POST",
        "templates/banner/splits/spring/stop",
        br#"{"winner": "purple"}"#,
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    let versions = admin(&s, "GET", "templates/banner/versions", b"").json();
    assert_eq!(versions["versions"].as_array().unwrap().len(), 1);
    // Resumed: back to the hash.
    let resumed = admin(&s, "POST", "templates/banner/splits/spring/resume", b"");
    assert_eq!(resumed.status, 200, "{}", resumed.text());
    assert_eq!(assign(&s), before);
    let audit = admin(&s, "GET", "audit?format=jsonl", b"").text();
    assert!(audit.contains("template.split_stop") && audit.contains("template.split_resume"));
}

/// A sales visual: the greeting, company and rep photo come from the `contacts` data set,
/// found by the recipient id in the URL.
fn sales(data: bool) -> Value {
    let mut doc = json!({
        "canvas": {"width": 480, "height": 200, "background": "#ffffff"},
        "email": true,
        "fields": {
            "rid": {"open": true, "max_length": 40},
            "name": {"open": !data, "default": "there"},
            "company": {"open": !data, "default": "your team"},
            "rep_photo": {"open": !data, "kind": "url", "default": "avatar-default"}
        },
        "layers": [
            {"type": "text", "text": "Hi {{ name }}", "font": "Noto Sans", "weight": 700,
             "size": 36, "color": "#0b1f3a", "box": {"x": 20, "y": 20, "width": 300, "height": 60}},
            {"type": "text", "text": "{{ company }}", "font": "Noto Sans", "size": 24,
             "color": "#44546a", "box": {"x": 20, "y": 100, "width": 300, "height": 60}},
            {"type": "image", "source": "{{ rep_photo }}", "default": "avatar-default",
             "circle": true, "box": {"x": 330, "y": 20, "width": 140, "height": 140}}
        ]
    });
    if data {
        doc["data"] = json!({"set": "contacts", "key": "rid"});
    }
    doc
}

fn put_table(s: &Server, query: &str, content_type: &str, body: &[u8]) -> Reply {
    s.send(
        "PUT",
        &format!(
            "{}/admin/projects/default/datasets/contacts?{query}",
            s.origin()
        ),
        &[AUTH, ("Content-Type", content_type)],
        body,
    )
}

#[test]
fn data_sets_fill_fields_by_recipient_id_and_changes_render_anew() {
    let s = server(&["--set", "log.level=\"debug\""]);
    publish(&s, "sales", &sales(true));
    publish(&s, "plain", &sales(false));
    // A BOM, CRLF line ends, quoted cells with commas, quotes and a line break.
    let csv = "\u{feff}id,name,company,rep_photo\r\n\
               c1,Ana Lima,\"C++ & Co, Ltd\",astronaut\r\n\
               c2,\"Bo \"\"Boss\"\" Ek\",\"Acme\r\nNorth\",\r\n";
    let up = put_table(&s, "key=id", "text/csv", csv.as_bytes());
    assert_eq!(up.status, 200, "{}", up.text());
    assert_eq!(
        (up.json()["inserted"].as_u64(), up.json()["rows"].as_u64()),
        (Some(2), Some(2))
    );
    let from_row = |rid: &str| s.get(&format!("tpl~sales~1/full/max/0/default.png?rid={rid}"));
    let plain = |query: &[(&str, &str)]| {
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", q(v))).collect();
        s.get(&format!(
            "tpl~plain~1/full/max/0/default.png?{}",
            query.join("&")
        ))
    };
    let ana = from_row("c1");
    assert_eq!(ana.status, 200);
    assert_eq!(ana.header("x-tessera-fallbacks"), "");
    let want = plain(&[
        ("name", "Ana Lima"),
        ("company", "C++ & Co, Ltd"),
        ("rep_photo", "astronaut"),
    ]);
    assert_eq!(
        mean_diff(&ana.image(), &want.image()),
        0.0,
        "the row's values are drawn"
    );
    // Fields that are not open need a signature, and even signed ones do not override the
    // row's values.
    let path = "tpl~sales~1/full/max/0/default.png";
    let forged = s.get(&format!("{path}?rid=c1&name=Mallory"));
    assert_eq!(forged.header("x-tessera-refused"), "unsigned");
    assert!(forged.body != ana.body);
    let signed_name = s.get(&signed(
        &s,
        "k2",
        SECRET_2,
        path,
        &[("rid", "c1"), ("name", "Mallory")],
    ));
    assert!(signed_name.body == ana.body);
    // No row: the fields' defaults, and the key says why.
    let none = from_row("c9");
    assert_eq!(none.status, 200);
    assert!(
        none.header("x-tessera-fallbacks").contains("rid=no-record"),
        "{}",
        none.header("x-tessera-fallbacks")
    );
    assert_eq!(mean_diff(&none.image(), &plain(&[]).image()), 0.0);

    // One bad row: 422 naming its line, and nothing of the upload applied.
    let bad = put_table(
        &s,
        "key=id&mode=upsert",
        "text/csv",
        b"id,name,company,rep_photo\nc1,Changed,X,\nc3,Short\n",
    );
    assert_eq!(bad.status, 422, "{}", bad.text());
    assert_eq!(bad.header("x-tessera-error"), "bad_rows");
    assert!(bad.text().contains("line 3"), "{}", bad.text());
    assert!(
        !bad.text().contains("Short"),
        "no value in the answer: {}",
        bad.text()
    );
    assert!(from_row("c1").body == ana.body, "nothing applied");
    let info = admin(&s, "GET", "projects/default/datasets/contacts", b"").json();
    assert_eq!(info["rows"], 2, "{info}");

    // A changed row renders anew, never the old render.
    let json = br#"[{"id": "c1", "name": "Ana Maria", "company": "C++ & Co, Ltd", "rep_photo": "astronaut"}]"#;
    let changed = put_table(&s, "key=id&mode=upsert", "application/json", json);
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(changed.json()["updated"], 1);
    assert!(
        changed.json()["renders_removed"].as_u64().unwrap() >= 1,
        "{}",
        changed.text()
    );
    let anew = from_row("c1");
    assert!(anew.body != ana.body);
    let want = plain(&[
        ("name", "Ana Maria"),
        ("company", "C++ & Co, Ltd"),
        ("rep_photo", "astronaut"),
    ]);
    assert_eq!(mean_diff(&anew.image(), &want.image()), 0.0);

    // Deleting a row removes its renders; the recipient then gets the defaults.
    let deleted = admin(
        &s,
        "POST",
        "projects/default/datasets/contacts/rows/delete",
        br#"{"keys": ["c1"]}"#,
    );
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(deleted.json()["deleted"], 1);
    assert!(deleted.json()["renders_removed"].as_u64().unwrap() >= 1);
    assert!(from_row("c1").body == none.body);

    // Audited by counts; values reach neither the audit, the log nor the metrics.
    let audit = admin(&s, "GET", "audit?format=jsonl", b"").text();
    assert!(audit.contains("dataset.upload") && audit.contains("dataset.delete_rows"));
    let metrics = s.get(&format!("{}/metrics", s.origin())).text();
    let log = std::fs::read_to_string(&s.log).unwrap();
    for place in [&audit, &metrics, &log] {
        for value in ["Ana", "Boss", "Acme"] {
            assert!(!place.contains(value), "{value} leaked");
        }
    }
    assert!(log.contains("tpl~sales~1"), "the log is being written");
    let dropped = admin(&s, "DELETE", "projects/default/datasets/contacts", b"");
    assert_eq!(dropped.status, 200);
    let gone = admin(&s, "GET", "projects/default/datasets/contacts", b"");
    assert_eq!(
        (gone.status, gone.header("x-tessera-error")),
        (404, "dataset_not_found")
    );
}

/// Runs `tessera` over `dir` and returns (success, stdout, stderr).
fn cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = common::run_tessera(dir, args);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_cli_uploads_data_sets_and_seals_lists_without_half_files() {
    let s = server(&[]);
    publish(&s, "sales", &sales(true));
    let dir = s.root.parent().unwrap().to_path_buf();
    let table = dir.join("contacts.csv");
    std::fs::write(
        &table,
        "id,name,company\r\nc1,Ana,Acme\r\nc2,Bo\r\nc3,\"Cy\r\nDee\",X\r\nc4\r\n",
    )
    .unwrap();
    let upload = [
        "data",
        "upload",
        "contacts",
        "--key",
        "id",
        table.to_str().unwrap(),
    ];
    let (ok, _, err) = cli(&dir, &upload);
    assert!(!ok);
    // Every bad row with its true line, counted in CRLF files and across quoted breaks.
    assert!(err.contains("line 3") && err.contains("line 6"), "{err}");
    assert!(!err.contains("line 4") && !err.contains("line 5"), "{err}");
    std::fs::write(&table, "id,name,company\r\nc1,Ana,Acme\r\n").unwrap();
    let (ok, out, err) = cli(&dir, &upload);
    assert!(ok, "{err}");
    assert!(out.contains("1 rows; 1 new"), "{out}");
    let (ok, out, _) = cli(&dir, &["data", "list"]);
    assert!(ok && out.contains("contacts"), "{out}");
    let r = s.get("tpl~sales~1/full/max/0/default.png?rid=c1");
    assert_eq!(
        r.header("x-tessera-fallbacks"),
        "",
        "the server sees the CLI's rows"
    );

    // `tessera seal`: a bad row fails the list and writes nothing; skipping writes the rest.
    publish(&s, "plain", &sales(false));
    let input = dir.join("in.csv");
    let output = dir.join("out.csv");
    std::fs::write(&input, "id,name\r\n7,Ana\r\n8\r\n9,Cy\r\n10,Di,extra\r\n").unwrap();
    let keys = format!("templates.keys=[\"k2:{SECRET_2}\"]");
    let seal = |skip: bool| {
        let mut args = vec![
            "seal",
            "plain",
            "1",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--base-url",
            &s.base,
            "--set",
            &keys,
        ];
        if skip {
            args.push("--skip-bad-rows");
        }
        cli(&dir, &args)
    };
    let (ok, _, err) = seal(false);
    assert!(!ok);
    assert!(err.contains("line 3") && err.contains("line 5"), "{err}");
    assert!(!output.exists(), "no partial file");
    let (ok, _, err) = seal(true);
    assert!(ok, "{err}");
    assert!(err.contains("line 3") && err.contains("line 5"), "{err}");
    let written = std::fs::read_to_string(&output).unwrap();
    let mut csv = csv::Reader::from_reader(written.as_bytes());
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.iter().map(|r| &r[0]).collect::<Vec<_>>(), ["7", "9"]);
    assert_eq!(s.get(&rows[1][2]).status, 200);
    // The API likewise: refused with every bad line, or with them left out and named.
    let list = std::fs::read(&input).unwrap();
    let refused = admin(&s, "POST", "templates/plain/versions/1/seal", &list);
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(refused.text().contains("line 3") && refused.text().contains("line 5"));
    let skipped = admin(
        &s,
        "POST",
        "templates/plain/versions/1/seal?skip_bad_rows=true",
        &list,
    );
    assert_eq!(skipped.status, 200, "{}", skipped.text());
    assert_eq!(skipped.header("x-tessera-skipped-lines"), "3, 5");
    assert_eq!(skipped.text().lines().count(), 3, "the header and two rows");
}

/// A line of text in a plain box: the countdown and the still it is compared with.
fn one_line(text: &str, fields: Value) -> Value {
    json!({
        "canvas": {"width": 360, "height": 60, "background": "#ffffff"},
        "fields": fields,
        "layers": [
            {"type": "text", "name": "clock", "text": text, "font": "Noto Sans", "weight": 700,
             "size": 30, "color": "#000000", "valign": "middle",
             "box": {"x": 10, "y": 0, "width": 340, "height": 60}}
        ]
    })
}

#[test]
fn countdowns_animate_one_frame_per_second_and_switch_to_their_expiry_variant() {
    let token = format!("admin.token=\"{ADMIN}\"");
    let h = held(
        &["avatar-default.png"],
        &[
            &token,
            "templates.countdown_frames=3",
            "templates.live_seconds=10",
        ],
    );
    h.gate.open();
    let s = h.serve();
    // The held clock reads 600 s after the epoch; the end is 2 days 03:14:05 later.
    let mut countdown = one_line(
        "{{ ends | countdown }}",
        json!({"ends": {"open": true, "kind": "datetime", "default": "1970-01-03T03:24:05Z"}}),
    );
    countdown["variants"] = json!({"ended": {"layers": {"clock": {"text": "We are live"}}}});
    countdown["rules"] = json!([
        {"when": [[{"field": "ends", "before": "now"}]], "variant": "ended"},
        {"variant": "default"}
    ]);
    publish(&s, "countdown", &countdown);
    publish(
        &s,
        "still",
        &one_line("{{ label }}", json!({"label": {"open": true}})),
    );
    let still = |label: &str| {
        s.get(&format!(
            "tpl~still~1/full/max/0/default.png?label={}",
            q(label)
        ))
        .image()
    };
    let expected: Vec<DynamicImage> = ["2 days 03:14:05", "2 days 03:14:04", "2 days 03:14:03"]
        .iter()
        .map(|t| still(t))
        .collect();

    let gif = s.get("tpl~countdown~1/full/max/0/default.gif");
    assert_eq!(gif.status, 200, "{}", gif.text());
    let cache = gif.header("cache-control").to_string();
    assert!(
        cache.contains("max-age=10") && !cache.contains("immutable"),
        "{cache}"
    );
    let frames = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&gif.body))
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 3);
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(frame.delay().numer_denom_ms(), (1000, 1), "one second each");
        let got = DynamicImage::ImageRgba8(frame.buffer().clone())
            .to_rgb8()
            .into();
        let diffs: Vec<f64> = expected.iter().map(|e| mean_diff(&got, e)).collect();
        let closest = (0..3)
            .min_by(|a, b| diffs[*a].total_cmp(&diffs[*b]))
            .unwrap();
        assert_eq!(closest, i, "frame {i} shows its own second: {diffs:?}");
        assert!(
            diffs[i] < 2.0,
            "frame {i}: {diffs:?} (palette rounding only)"
        );
    }
    // Clients that do not animate get the first second as a still.
    let png = s.get("tpl~countdown~1/full/max/0/default.png").image();
    assert_eq!(mean_diff(&png, &expected[0]), 0.0);
    // Within the same 10 s bucket the same answer; after the end, the expiry variant.
    h.clock.set(609);
    assert!(s.get("tpl~countdown~1/full/max/0/default.gif").body == gif.body);
    h.clock.set(185_060); // past the end, in the next 10 s bucket
    let ended = s.get("tpl~countdown~1/full/max/0/default.png");
    assert_eq!(ended.header("x-tessera-variant"), "ended");
    assert_eq!(mean_diff(&ended.image(), &still("We are live")), 0.0);
    // A recipient's own end, from the URL.
    let own = s.get(&format!(
        "tpl~countdown~1/full/max/0/default.png?ends={}",
        q("1970-01-03T04:00:00Z")
    ));
    assert_eq!(own.header("x-tessera-variant"), "default");
    assert_eq!(mean_diff(&own.image(), &still("0 days 00:35:40")), 0.0);
}

#[test]
fn qr_layers_decode_back_to_their_field() {
    let s = server(&[]);
    let ticket = "https://tickets.example.org/v/8F3K-22QX?seat=14B";
    let doc = json!({
        "canvas": {"width": 320, "height": 320, "background": "#f5f0e6"},
        "fields": {"ticket": {"open": true, "kind": "url", "max_length": 200}},
        "layers": [
            {"type": "qr", "data": "{{ ticket }}", "level": "H", "quiet_zone": 4,
             "color": "#0b1f3a", "background": "#ffffff",
             "box": {"x": 20, "y": 20, "width": 280, "height": 280}}
        ]
    });
    publish(&s, "ticket", &doc);
    let r = s.get(&format!(
        "tpl~ticket~1/full/max/0/default.png?ticket={}",
        q(ticket)
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let luma = r.image().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        luma.width() as usize,
        luma.height() as usize,
        |x, y| luma.get_pixel(x as u32, y as u32)[0],
    );
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (meta, text) = grids[0].decode().unwrap();
    assert_eq!(text, ticket);
    assert_eq!(
        meta.ecc_level, 2,
        "H (rqrr counts in the QR format's order: M, L, H, Q)"
    );
    // Scaled down for a thumbnail, it still reads.
    let small = s.get(&format!(
        "tpl~ticket~1/full/160,/0/default.png?ticket={}",
        q(ticket)
    ));
    let luma = small.image().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        luma.width() as usize,
        luma.height() as usize,
        |x, y| luma.get_pixel(x as u32, y as u32)[0],
    );
    assert_eq!(prepared.detect_grids()[0].decode().unwrap().1, ticket);
}

/// The value of `/Name` in a PDF object's dictionary, up to the next `/` or `>`.
fn pdf_entry(pdf: &[u8], name: &str) -> String {
    let text = String::from_utf8_lossy(pdf);
    let at = text
        .find(&format!("/{name} "))
        .unwrap_or_else(|| panic!("no /{name}"));
    let rest = &text[at + name.len() + 2..];
    let end = if rest.starts_with('[') {
        rest.find(']').unwrap() + 1
    } else {
        rest.find(['/', '>']).unwrap()
    };
    rest[..end].trim().to_string()
}

#[test]
fn pdf_answers_are_one_page_at_the_image_size_for_images_and_templates() {
    let s = hero_server();
    for path in [
        "coffee.jpg/full/300,/0/default",
        "tpl~hero~1/full/600,/0/default",
    ] {
        let jpg = s.get(&format!("{path}.jpg")).image();
        let (w, h) = (jpg.width(), jpg.height());
        let pdf = s.get(&format!("{path}.pdf"));
        assert_eq!(pdf.status, 200, "{path}: {}", pdf.text());
        assert_eq!(pdf.header("content-type"), "application/pdf");
        let body = &pdf.body;
        assert!(body.starts_with(b"%PDF-1.4\n") && body.ends_with(b"%%EOF\n"));
        // Every cross-reference entry points at its object.
        let text = String::from_utf8_lossy(body);
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let xref = std::str::from_utf8(&body[startxref..]).unwrap();
        assert!(xref.starts_with("xref\n0 "));
        let count: usize = xref.lines().nth(1).unwrap()[2..].parse().unwrap();
        // After the header lines, object 0 (the free list head), then objects 1…
        for (n, entry) in xref.lines().skip(3).take(count - 1).enumerate() {
            let offset: usize = entry[..10].parse().unwrap();
            let object = format!("{} 0 obj", n + 1);
            assert!(
                body[offset..].starts_with(object.as_bytes()),
                "{path}: {object}"
            );
        }
        assert_eq!(
            pdf_entry(body, "MediaBox"),
            format!("[0 0 {w} {h}]"),
            "72 dpi: a point per pixel"
        );
        assert_eq!(pdf_entry(body, "Width"), w.to_string());
        assert_eq!(pdf_entry(body, "Height"), h.to_string());
        assert_eq!(pdf_entry(body, "Filter"), "", "a name follows: /DCTDecode");
        assert!(text.contains("/Filter /DCTDecode"));
        // The page's picture is the JPEG the same request answers.
        let start = body.windows(8).position(|w| w == b"\nstream\n").unwrap() + 8;
        let jpeg_at = start
            + body[start..]
                .windows(2)
                .position(|w| w == [0xFF, 0xD8])
                .unwrap();
        let end = jpeg_at
            + body[jpeg_at..]
                .windows(10)
                .position(|w| w == b"\nendstream")
                .unwrap();
        let page = image::load_from_memory(&body[jpeg_at..end]).unwrap();
        assert_eq!(mean_diff(&page, &jpg), 0.0, "{path}");
    }
}

#[test]
fn every_platforms_unfilled_tag_answers_the_defaults() {
    let s = server(&[]);
    let doc = one_line(
        "Hi {{ name }}",
        json!({"name": {"open": true, "default": "there"}}),
    );
    let mut doc = doc;
    doc["email"] = json!(true);
    publish(&s, "mail", &doc);
    let path = "tpl~mail~1/full/max/0/default.png";
    let defaults = s.get(path);
    let tags = [
        "*|FNAME|*",                                          // Mailchimp
        "*|URL:FNAME|*",                                      // Mailchimp, encoded form
        "{{ contact.firstname|urlencode }}",                  // HubSpot
        "{{ first_name|default:''|urlencode }}",              // Klaviyo
        "{{${first_name} | url_param_escape}}",               // Braze
        "%%=URLEncode(AttributeValue('FirstName'), 1, 1)=%%", // Salesforce Marketing Cloud
        "%FIRSTNAME%",                                        // ActiveCampaign
        "[firstname,fallback=]",                              // Campaign Monitor
        "{{#urlEncode}}{{firstName}}{{/urlEncode}}",          // Iterable
        "{$name}",                                            // MailerLite
        "[[data:firstname:\"\"]]",                            // Mailjet
        "[FNAME]",                                            // bracketed
        "#{first_name}",                                      // Ruby-style
        "{% if first_name %}{{ first_name }}{% endif %}",     // Liquid logic
    ];
    for tag in tags {
        let r = s.get(&format!("{path}?name={}", q(tag)));
        assert!(r.status == 200 && r.body == defaults.body, "{tag}");
        assert_eq!(r.header("x-tessera-fallbacks"), "name=unfilled", "{tag}");
    }
    // Encoded once more than the URL needs: `%2A%7CFNAME%7C%2A` must not be drawn.
    let twice = s.get(&format!("{path}?name=%252A%257CFNAME%257C%252A"));
    assert!(twice.body == defaults.body);
    // Real values that look a little like tags are drawn.
    for value in ["100%", "[Beta]", "C++ & Co", "#1 fan"] {
        let r = s.get(&format!("{path}?name={}", q(value)));
        assert!(r.body != defaults.body, "{value}");
    }
    // A refused signature on an email template answers the defaults, briefly cached: a key
    // slip must not freeze generic images in inboxes for a year.
    let tampered = signed(&s, "k2", SECRET_2, path, &[("name", "Ana")]).replace("Ana", "Bob");
    let refused = s.get(&tampered);
    assert!(refused.status == 200 && refused.body == defaults.body);
    assert_eq!(refused.header("cache-control"), "public, max-age=300");
    let fallback = s.get(&format!("{path}?name={}", q("*|FNAME|*")));
    assert_eq!(fallback.header("cache-control"), "public, max-age=300");
}
