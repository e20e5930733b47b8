//! Teams against the real server: bootstrapping with the CLI, API keys and their lifecycle,
//! the permission matrix generated from the capability table and the endpoint table,
//! sessions with CSRF and slowed sign-ins, four eyes, the audit trail, email templates over
//! their limits, and usage counts that survive a restart.

mod common;

use std::path::Path;

use common::{Reply, Server};
use serde_json::{Value, json};
use tessera::http::api::{ENDPOINTS, Needs};
use tessera::team::Role;

const TOKEN: &str = "test-admin-token";
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn fill(root: &Path) {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images");
    std::fs::copy(
        samples.join("avatar-default.png"),
        root.join("avatar-default.png"),
    )
    .unwrap();
}

fn start_in(dir: &Path, extra: &[&str]) -> Server {
    let token = format!("admin.token=\"{TOKEN}\"");
    let keys = format!("templates.keys=[\"k1:{SECRET}\"]");
    let mut args = vec!["--set", &token, "--set", &keys];
    args.extend_from_slice(extra);
    Server::start_in(dir, &args)
}

fn fresh(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    fill(&dir.path().join("root"));
    let s = start_in(dir.path(), extra);
    (dir, s)
}

fn call(s: &Server, method: &str, path: &str, auth: &str, body: &Value) -> Reply {
    let bearer = format!("Bearer {auth}");
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    s.send(
        method,
        &format!("{}{path}", s.origin()),
        &[("Authorization", &bearer)],
        &body,
    )
}

fn badge(email: bool) -> Value {
    json!({
        "canvas": {"width": 200, "height": 100, "background": "#ffffff"},
        "email": email,
        "fields": {"name": {"open": true, "max_length": 40, "default": "Guest"}},
        "layers": [{"type": "text", "text": "Hi {{name}}", "font": "Noto Sans", "box": {"x": 10, "y": 10, "width": 180, "height": 80},
                    "size": 24, "color": "#000000"}]
    })
}

/// Makes a key through the API with the token; returns its secret.
fn key(s: &Server, roles: Value) -> String {
    let r = call(
        s,
        "POST",
        "/admin/keys",
        TOKEN,
        &json!({"name": "k", "roles": roles}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["secret"].as_str().unwrap().to_string()
}

#[test]
fn the_cli_bootstraps_projects_users_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    let run = |args: &[&str], password: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
        c.args(args).arg("--data-dir").arg(dir.path().join("data"));
        if let Some(p) = password {
            c.env("TESSERA_PASSWORD", p);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["projects", "create", "emea", "--four-eyes"], None);
    assert!(run(&["projects", "list"], None).contains("emea\temea\ttrue"));
    run(
        &[
            "users",
            "add",
            "--email",
            "ana@example.com",
            "--name",
            "Ana",
            "--project",
            "emea",
            "--role",
            "designer",
        ],
        Some("correct horse battery"),
    );
    assert!(run(&["users", "list"], None).contains("ana@example.com\tAna\tfalse\temea:designer"));
    let out = run(
        &["keys", "create", "--name", "ci", "--role", "emea:operator"],
        None,
    );
    let secret = out.lines().next().unwrap().to_string();
    assert!(secret.starts_with("tsk_") && secret.len() == 47, "{out}");
    assert!(
        !run(&["keys", "list"], None).contains(&secret),
        "the secret is shown once"
    );
    let audit = run(&["audit", "export", "--jsonl"], None);
    let actions: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(actions, ["project.create", "user.create", "key.create"]);
    assert!(
        !audit.contains("correct horse"),
        "no password in the audit trail"
    );

    // The key works against the server, with exactly its role.
    let s = start_in(dir.path(), &[]);
    let me = call(&s, "GET", "/auth/session", &secret, &Value::Null).json();
    assert_eq!(me["roles"], json!({"emea": "operator"}));
    let put = call(
        &s,
        "PUT",
        "/admin/templates/emea.badge",
        &secret,
        &badge(false),
    );
    assert_eq!(
        (put.status, put.header("x-tessera-error")),
        (403, "not_allowed")
    );
}

#[test]
fn keys_live_until_revoked_and_never_hold_more_than_their_maker() {
    let (_d, s) = fresh(&[]);
    call(&s, "POST", "/admin/projects", TOKEN, &json!({"id": "emea"}));
    let designer = key(&s, json!({"emea": "designer"}));
    assert_eq!(
        call(
            &s,
            "GET",
            "/admin/templates?project=emea",
            &designer,
            &Value::Null
        )
        .status,
        200
    );
    // Keys are made by people, never by keys (people's limits: the sessions test).
    let r = call(
        &s,
        "POST",
        "/admin/keys",
        &designer,
        &json!({"name": "v", "roles": {"emea": "viewer"}}),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let prefix = designer[..12].to_string();
    let r = call(
        &s,
        "DELETE",
        &format!("/admin/keys/{prefix}"),
        TOKEN,
        &Value::Null,
    );
    assert_eq!(r.json()["revoked"], true);
    let after = call(
        &s,
        "GET",
        "/admin/templates?project=emea",
        &designer,
        &Value::Null,
    );
    assert_eq!(
        (after.status, after.header("x-tessera-error")),
        (401, "unauthorized")
    );
    // Expiry in the past is refused at creation; expiry itself is unit-tested with a clock.
    let r = call(
        &s,
        "POST",
        "/admin/keys",
        TOKEN,
        &json!({"name": "old", "roles": {"emea": "viewer"}, "expires_at": 1}),
    );
    assert_eq!(r.status, 400);
    let listed = call(&s, "GET", "/admin/keys", TOKEN, &Value::Null).json();
    let revoked = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["prefix"] == prefix.as_str())
        .unwrap();
    assert!(revoked["revoked_at"].is_u64() && revoked["last_used_at"].is_u64());
}

/// A path of the endpoint table with its parameters filled for project `emea`.
fn fill_path(path: &str) -> String {
    path.replace("{project}", "emea")
        .replace("{name}", "emea.badge")
        .replace("{version}", "1")
        .replace("{principal}", "user:999")
        .replace("{id}", "999")
        .replace("{prefix}", "tsk_nothing")
        .replace("{identifier}", "tpl~emea.badge~1")
        .replace("{file}", "x.png")
        .replace("{set}", "contacts")
        .replace("{split}", "spring")
}

#[test]
fn every_role_meets_every_endpoint_as_the_capability_table_says() {
    let (_d, s) = fresh(&[]);
    call(&s, "POST", "/admin/projects", TOKEN, &json!({"id": "emea"}));
    let mut refused_writes = 0;
    for role in Role::ALL {
        // The role in both projects: server-wide endpoints answer to the default project.
        let secret = key(&s, json!({"emea": role.as_str(), "default": role.as_str()}));
        for e in ENDPOINTS {
            let Needs::Capability(capability) = e.needs else {
                continue;
            };
            if e.path == "/admin/projects" && e.method == "POST" {
                continue; // would create projects; covered below
            }
            let path = fill_path(e.path);
            let r = call(&s, e.method, &path, &secret, &json!({}));
            let allowed = role.may(capability);
            if allowed {
                assert!(
                    ![401, 403].contains(&r.status) || r.header("x-tessera-error") == "four_eyes",
                    "{role} {} {path}: {} {}",
                    e.method,
                    r.status,
                    r.text()
                );
            } else {
                assert_eq!(
                    (r.status, r.header("x-tessera-error")),
                    (403, "not_allowed"),
                    "{role} {} {path}",
                    e.method
                );
                if e.method != "GET" {
                    refused_writes += 1;
                }
            }
        }
        let create = call(
            &s,
            "POST",
            "/admin/projects",
            &secret,
            &json!({"id": format!("p-{}", role.as_str())}),
        );
        assert_eq!(
            create.status == 201,
            role == Role::Owner,
            "{role}: {}",
            create.status
        );
    }
    // An owner of another project is nobody here: every emea (and server-wide) endpoint refuses.
    call(&s, "POST", "/admin/projects", TOKEN, &json!({"id": "apac"}));
    let outsider = key(&s, json!({"apac": "owner"}));
    for e in ENDPOINTS {
        let Needs::Capability(_) = e.needs else {
            continue;
        };
        if e.path == "/admin/templates" || e.path == "/admin/projects" {
            continue; // lists what the caller may see; creating projects is covered above
        }
        let path = fill_path(e.path);
        let r = call(&s, e.method, &path, &outsider, &json!({}));
        assert_eq!(
            r.status,
            403,
            "apac owner {} {path}: {}",
            e.method,
            r.text()
        );
        if e.method != "GET" {
            refused_writes += 1;
        }
    }
    let listed = call(&s, "GET", "/admin/templates", &outsider, &Value::Null).json();
    assert!(
        listed["templates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["project"] == "apac")
    );
    // Every refused write left one audit row.
    let audit = call(&s, "GET", "/admin/audit?format=jsonl", TOKEN, &Value::Null).text();
    let refused = audit
        .lines()
        .filter(|l| l.contains("\"refused:not_allowed\""))
        .count();
    assert_eq!(
        refused,
        refused_writes + 5,
        "one row per refusal (and 5 project creations)"
    );
}

#[test]
fn sessions_sign_in_need_csrf_for_writes_and_slow_down_guessing() {
    let (_d, s) = fresh(&["--set", "auth.login_free_failures=3"]);
    let r = call(
        &s,
        "POST",
        "/admin/users",
        TOKEN,
        &json!({"name": "Ana", "email": "ana@example.com", "password": "correct horse battery"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    call(
        &s,
        "PUT",
        &format!("/admin/projects/default/members/user:{id}"),
        TOKEN,
        &json!({"role": "designer"}),
    );
    let login = |email: &str, password: &str| {
        let body = json!({"email": email, "password": password}).to_string();
        let json = [("Content-Type", "application/json")];
        s.send(
            "POST",
            &format!("{}/auth/login", s.origin()),
            &json,
            body.as_bytes(),
        )
    };
    // A cross-site form cannot sign anyone in: JSON only.
    let form = s.send(
        "POST",
        &format!("{}/auth/login", s.origin()),
        &[("Content-Type", "text/plain")],
        br#"{"email": "ana@example.com", "password": "correct horse battery"}"#,
    );
    assert_eq!(form.status, 400);
    // Unknown email and wrong password: the same answer.
    let unknown = login("nobody@example.com", "whatever whatever");
    let wrong = login("ana@example.com", "wrong wrong wrong");
    assert_eq!(
        (unknown.status, unknown.text()),
        (wrong.status, wrong.text())
    );
    assert_eq!(unknown.status, 401);
    let ok = login("ana@example.com", "correct horse battery");
    assert_eq!(ok.status, 200, "{}", ok.text());
    let set = ok.header("set-cookie").to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    let csrf = ok.json()["csrf_token"].as_str().unwrap().to_string();
    let with = |method: &str, path: &str, csrf: Option<&str>, body: &Value| {
        let mut h = vec![("Cookie", cookie.as_str())];
        if let Some(c) = csrf {
            h.push(("X-CSRF-Token", c));
        }
        s.send(
            method,
            &format!("{}{path}", s.origin()),
            &h,
            body.to_string().as_bytes(),
        )
    };
    assert_eq!(
        with("GET", "/auth/session", None, &Value::Null).json()["roles"],
        json!({"default": "designer"})
    );
    // Ana's keys hold no more than Ana: a designer makes a viewer key, not a publisher key.
    let more = json!({"name": "x", "roles": {"default": "publisher"}});
    assert_eq!(with("POST", "/admin/keys", Some(&csrf), &more).status, 403);
    let less = json!({"name": "v", "roles": {"default": "viewer"}});
    let made = with("POST", "/admin/keys", Some(&csrf), &less);
    assert_eq!(made.status, 201, "{}", made.text());
    let no_csrf = with("PUT", "/admin/templates/badge", None, &badge(false));
    assert_eq!(
        (no_csrf.status, no_csrf.header("x-tessera-error")),
        (403, "csrf_refused")
    );
    assert_eq!(
        with("PUT", "/admin/templates/badge", Some(&csrf), &badge(false)).status,
        201
    );
    // The admin API is not open to other origins.
    let pre = s.request(
        "OPTIONS",
        &format!("{}/admin/templates", s.origin()),
        &[("Origin", "https://evil.example")],
    );
    assert!(pre.header("access-control-allow-origin").is_empty());
    assert_eq!(
        with("POST", "/auth/logout", Some(&csrf), &Value::Null).status,
        200
    );
    assert_eq!(with("GET", "/auth/session", None, &Value::Null).status, 401);
    // Three free failures, then even the right password waits.
    for _ in 0..3 {
        assert_eq!(login("ana@example.com", "wrong wrong wrong").status, 401);
    }
    let slowed = login("ana@example.com", "correct horse battery");
    assert_eq!(
        (slowed.status, slowed.header("x-tessera-error")),
        (429, "login_throttled")
    );
    assert!(slowed.header("retry-after").parse::<u64>().unwrap() >= 1);
}

#[test]
fn four_eyes_needs_a_second_publisher_and_locks_submitted_drafts() {
    let (dir, s) = fresh(&[]);
    call(
        &s,
        "POST",
        "/admin/projects",
        TOKEN,
        &json!({"id": "emea", "four_eyes": true}),
    );
    let lead = key(&s, json!({"emea": "admin"}));
    let publisher = key(&s, json!({"emea": "publisher"}));
    assert_eq!(
        call(
            &s,
            "PUT",
            "/admin/templates/emea.badge",
            &lead,
            &badge(false)
        )
        .status,
        201
    );
    let direct = call(
        &s,
        "POST",
        "/admin/templates/emea.badge/publish",
        &lead,
        &Value::Null,
    );
    assert_eq!(
        (direct.status, direct.header("x-tessera-error")),
        (409, "review_required")
    );
    assert_eq!(
        call(
            &s,
            "POST",
            "/admin/templates/emea.badge/submit",
            &lead,
            &json!({"comment": "ready"})
        )
        .status,
        200
    );
    let locked = call(
        &s,
        "PUT",
        "/admin/templates/emea.badge",
        &lead,
        &badge(true),
    );
    assert_eq!(
        (locked.status, locked.header("x-tessera-error")),
        (409, "draft_locked")
    );
    let own = call(
        &s,
        "POST",
        "/admin/templates/emea.badge/approve",
        &lead,
        &Value::Null,
    );
    assert_eq!(
        (own.status, own.header("x-tessera-error")),
        (403, "four_eyes")
    );
    let rej = call(
        &s,
        "POST",
        "/admin/templates/emea.badge/reject",
        &publisher,
        &json!({"comment": "bigger logo"}),
    );
    assert_eq!(rej.status, 200);
    call(
        &s,
        "POST",
        "/admin/templates/emea.badge/submit",
        &lead,
        &Value::Null,
    );
    let ok = call(
        &s,
        "POST",
        "/admin/templates/emea.badge/approve",
        &publisher,
        &Value::Null,
    );
    assert_eq!(ok.status, 201, "{}", ok.text());
    assert_eq!(ok.json()["identifier"], "tpl~emea.badge~1");
    assert_eq!(
        s.get("tpl~emea.badge~1/full/max/0/default.png?name=Ana")
            .status,
        200
    );
    let reviews = call(
        &s,
        "GET",
        "/admin/templates/emea.badge/reviews",
        &publisher,
        &Value::Null,
    )
    .json();
    let steps: Vec<&str> = reviews["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["submit", "reject", "submit", "approve"]);
    assert_eq!(reviews["reviews"][1]["comment"], "bigger logo");
    // The audit trail has each step, the refusals too, with who did it.
    let audit = call(
        &s,
        "GET",
        "/admin/audit?project=emea&target=emea.badge",
        TOKEN,
        &Value::Null,
    )
    .json();
    let rows: Vec<(String, String)> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect: Vec<(String, String)> = [
        ("template.save", "ok"),
        ("template.publish", "failed:review_required"),
        ("template.submit", "ok"),
        ("template.save", "failed:draft_locked"),
        ("template.approve", "failed:four_eyes"),
        ("template.reject", "ok"),
        ("template.submit", "ok"),
        ("template.approve", "ok"),
    ]
    .iter()
    .map(|(a, o)| (a.to_string(), o.to_string()))
    .collect();
    assert_eq!(rows, expect);
    // A person's own key is that person: signed in, Ana makes a key, submits, and cannot
    // approve with the key.
    let r = call(
        &s,
        "POST",
        "/admin/users",
        TOKEN,
        &json!({"name": "Ana", "email": "ana@example.com", "password": "correct horse battery"}),
    );
    let ana = r.json()["id"].as_i64().unwrap();
    call(
        &s,
        "PUT",
        &format!("/admin/projects/emea/members/user:{ana}"),
        TOKEN,
        &json!({"role": "admin"}),
    );
    let login = s.send(
        "POST",
        &format!("{}/auth/login", s.origin()),
        &[("Content-Type", "application/json")],
        json!({"email": "ana@example.com", "password": "correct horse battery"})
            .to_string()
            .as_bytes(),
    );
    let cookie = login
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = login.json()["csrf_token"].as_str().unwrap().to_string();
    let as_ana = |method: &str, path: &str, body: &Value| {
        let h = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
        s.send(
            method,
            &format!("{}{path}", s.origin()),
            &h,
            body.to_string().as_bytes(),
        )
    };
    let made = as_ana(
        "POST",
        "/admin/keys",
        &json!({"name": "ana's", "roles": {"emea": "publisher"}}),
    );
    assert_eq!(made.status, 201, "{}", made.text());
    let anas_key = made.json()["secret"].as_str().unwrap().to_string();
    assert_eq!(
        as_ana("PUT", "/admin/templates/emea.badge", &badge(true)).status,
        200
    );
    assert_eq!(
        as_ana("POST", "/admin/templates/emea.badge/submit", &json!({})).status,
        200
    );
    let own_key = call(
        &s,
        "POST",
        "/admin/templates/emea.badge/approve",
        &anas_key,
        &Value::Null,
    );
    assert_eq!(
        (own_key.status, own_key.header("x-tessera-error")),
        (403, "four_eyes")
    );
    // Keys cannot make keys.
    let r = call(
        &s,
        "POST",
        "/admin/keys",
        &anas_key,
        &json!({"name": "x", "roles": {"emea": "viewer"}}),
    );
    assert_eq!(r.status, 403);
    // Not even raw SQL rewrites the trail.
    let db = rusqlite::Connection::open(dir.path().join("data/catalogue.sqlite")).unwrap();
    for sql in ["UPDATE audit SET outcome = 'ok'", "DELETE FROM audit"] {
        let err = db.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    // Every use of the break-glass token is in it, reads too.
    let uses = call(
        &s,
        "GET",
        "/admin/audit?action=token.use",
        TOKEN,
        &Value::Null,
    )
    .json();
    let paths: Vec<&str> = uses["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/admin/projects") && paths.contains(&"/admin/audit"),
        "{paths:?}"
    );
}

#[test]
fn email_templates_over_their_limit_answer_their_defaults_and_web_templates_429() {
    let (_d, s) = fresh(&["--set", "templates.renders_per_minute=1"]);
    for (name, email) in [("mail", true), ("web", false)] {
        call(
            &s,
            "PUT",
            &format!("/admin/templates/{name}"),
            TOKEN,
            &badge(email),
        );
        call(
            &s,
            "POST",
            &format!("/admin/templates/{name}/publish"),
            TOKEN,
            &Value::Null,
        );
    }
    let defaults = s.get("tpl~mail~1/full/max/0/default.png");
    assert_eq!(defaults.status, 200);
    // The budget (one per minute) went on the defaults; a new name is over it.
    let over = s.get("tpl~mail~1/full/max/0/default.png?name=Ana");
    assert_eq!(over.status, 200);
    assert_eq!(over.body, defaults.body, "the all-defaults image");
    assert_eq!(over.header("cache-control"), "public, max-age=60");
    assert_eq!(s.metric("tessera_template_overflow_total"), 1.0);
    assert_eq!(s.get("tpl~web~1/full/max/0/default.png").status, 200);
    let web = s.get("tpl~web~1/full/max/0/default.png?name=Ana");
    assert_eq!(
        (web.status, web.header("x-tessera-error")),
        (429, "rate_limited")
    );
}

#[test]
fn usage_counts_are_exact_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    fill(&dir.path().join("root"));
    let flush = ["--set", "usage.flush_seconds=1"];
    let s = start_in(dir.path(), &flush);
    call(&s, "PUT", "/admin/templates/badge", TOKEN, &badge(true));
    call(
        &s,
        "POST",
        "/admin/templates/badge/publish",
        TOKEN,
        &Value::Null,
    );
    let path = "tpl~badge~1/full/max/0/default.png";
    let gmail = (
        "User-Agent",
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    );
    let ana = format!("{path}?name=Ana");
    let first = s.request("GET", &ana, &[gmail]); // a render
    let etag = first.header("etag").to_string();
    let replies = [
        s.request("GET", &ana, &[gmail]), // a cache hit
        s.request("GET", &ana, &[gmail, ("If-None-Match", &etag)]), // 304
        s.get(&format!("{path}?name={}", "x".repeat(50))), // too long: a render
        s.get(&format!("{path}?name=Bo&sig=bad")), // refused: defaults
    ];
    assert_eq!(replies[1].status, 304);
    let sent: usize = first.body.len() + replies.iter().map(|r| r.body.len()).sum::<usize>();
    let report = || {
        call(
            &s,
            "GET",
            "/admin/usage?project=default",
            TOKEN,
            &Value::Null,
        )
        .json()
    };
    let row = report()["usage"][0].clone();
    assert_eq!(row["loads"], 5, "{row}");
    assert_eq!(
        row["renders"], 2,
        "Ana, then the defaults (the refused one shares them): {row}"
    );
    assert_eq!(row["bytes"], sent as u64, "{row}");
    assert_eq!(row["clients"]["gmail"], 3, "{row}");
    assert_eq!(row["clients"]["other"], 2, "{row}");
    assert_eq!(row["fallbacks"]["name=too-long"], 1, "{row}");
    let refusals: u64 = row["refusals"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(refusals, 1, "{row}");
    let before = report();
    drop(s);
    let s = start_in(dir.path(), &flush);
    let after = call(
        &s,
        "GET",
        "/admin/usage?project=default",
        TOKEN,
        &Value::Null,
    )
    .json();
    assert_eq!(
        after["usage"], before["usage"],
        "nothing lost, nothing counted twice"
    );
    assert_eq!(
        call(&s, "GET", "/admin/usage?format=csv", TOKEN, &Value::Null)
            .text()
            .lines()
            .count(),
        2
    );
}

#[test]
fn projects_upload_pictures_their_templates_find_first() {
    let (dir, s) = fresh(&["--set", "templates.max_upload_bytes=200000"]);
    call(&s, "POST", "/admin/projects", TOKEN, &json!({"id": "emea"}));
    call(&s, "POST", "/admin/projects", TOKEN, &json!({"id": "apac"}));
    let designer = key(&s, json!({"emea": "designer", "apac": "designer"}));
    let png = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images/avatar-default.png"),
    )
    .unwrap();
    let put = |path: &str, body: &[u8]| {
        let bearer = format!("Bearer {designer}");
        s.send(
            "PUT",
            &format!("{}{path}", s.origin()),
            &[("Authorization", &bearer)],
            body,
        )
    };
    let r = put("/admin/projects/emea/pictures/rep.png", &png);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["identifier"], "projects/emea/rep.png");
    assert!(dir.path().join("root/projects/emea/rep.png").exists());
    let bad = put("/admin/projects/emea/pictures/x.png", b"not an image");
    assert_eq!(
        (bad.status, bad.header("x-tessera-error")),
        (400, "bad_upload")
    );
    let big = put("/admin/projects/emea/pictures/big.png", &vec![0u8; 300_000]);
    assert_eq!(
        (big.status, big.header("x-tessera-error")),
        (413, "upload_too_large")
    );
    let name = put("/admin/projects/emea/pictures/..png", &png);
    assert_eq!(name.status, 400);
    let listed = call(
        &s,
        "GET",
        "/admin/projects/emea/pictures",
        &designer,
        &Value::Null,
    )
    .json();
    assert_eq!(listed["pictures"][0]["file"], "rep.png");
    // A template of emea finds rep.png; one of apac does not see emea's folder.
    let mut doc = badge(false);
    doc["layers"].as_array_mut().unwrap().push(json!({
        "type": "image", "source": "{{photo}}", "default": "rep.png",
        "box": {"x": 150, "y": 50, "width": 40, "height": 40}
    }));
    doc["fields"]["photo"] = json!({"open": true, "kind": "url", "default": "rep.png"});
    let emea = call(&s, "PUT", "/admin/templates/emea.card", &designer, &doc);
    assert_eq!(emea.status, 201, "{}", emea.text());
    let apac = call(&s, "PUT", "/admin/templates/apac.card", &designer, &doc);
    assert_eq!(apac.status, 422, "{}", apac.text());
    let audit = call(
        &s,
        "GET",
        "/admin/audit?action=picture",
        TOKEN,
        &Value::Null,
    )
    .json();
    let outcomes: Vec<&str> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["ok", "failed:bad_upload"],
        "names and sizes are refused before any action"
    );
}

#[test]
fn quotas_rate_limits_and_the_api_description() {
    let (_d, s) = fresh(&[
        "--set",
        "auth.key_requests_per_minute=1",
        "--set",
        "auth.key_burst=3",
    ]);
    call(
        &s,
        "POST",
        "/admin/projects",
        TOKEN,
        &json!({"id": "emea", "monthly_renders": 1}),
    );
    for (name, email) in [("emea.mail", true), ("emea.web", false)] {
        call(
            &s,
            "PUT",
            &format!("/admin/templates/{name}"),
            TOKEN,
            &badge(email),
        );
        call(
            &s,
            "POST",
            &format!("/admin/templates/{name}/publish"),
            TOKEN,
            &Value::Null,
        );
    }
    assert_eq!(
        s.get("tpl~emea.web~1/full/max/0/default.png").status,
        200,
        "the month's one render"
    );
    let web = s.get("tpl~emea.web~1/full/max/0/default.png?name=Ana");
    assert_eq!(
        (web.status, web.header("x-tessera-error")),
        (429, "quota_exceeded")
    );
    assert!(web.header("retry-after").parse::<u64>().unwrap() > 0);
    let mail = s.get("tpl~emea.mail~1/full/max/0/default.png?name=Ana");
    assert_eq!(
        (mail.status, mail.header("cache-control")),
        (200, "public, max-age=60")
    );

    // A key's token bucket: three at once, then 429 with the RateLimit headers.
    let k = key(&s, json!({"emea": "viewer"}));
    let replies: Vec<Reply> = (0..4)
        .map(|_| call(&s, "GET", "/admin/projects", &k, &Value::Null))
        .collect();
    assert_eq!(
        replies.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 200, 429]
    );
    assert_eq!(replies[0].header("ratelimit-limit"), "3");
    assert_eq!(replies[0].header("ratelimit-remaining"), "2");
    assert_eq!(replies[3].header("x-tessera-error"), "rate_limited");
    assert_eq!(replies[3].header("ratelimit-remaining"), "0");
    assert_eq!(replies[3].header("ratelimit-limit"), "3");
    assert!(replies[3].header("retry-after").parse::<u64>().unwrap() >= 1);

    // The API description: public, and every path in it is routed with its method.
    let doc = s.get(&format!("{}/admin/openapi.json", s.origin()));
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let r = call(
                &s,
                &method.to_uppercase(),
                &fill_path(path),
                TOKEN,
                &json!({}),
            );
            assert!(
                r.header("x-tessera-error") != "no_route" && r.status != 405,
                "{method} {path}: {} {}",
                r.status,
                r.text()
            );
        }
    }
    assert_eq!(operations, ENDPOINTS.len());
}
