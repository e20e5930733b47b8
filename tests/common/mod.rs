//! Shared harness for integration tests: starts the real `tessera` binary on a free loopback
//! port with a temporary image root, and a small HTTP client that never follows redirects nor
//! treats 4xx/5xx as errors.

#![allow(dead_code)] // Each test binary uses its own subset of these helpers.

pub mod held;
pub mod tpl;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use image::{DynamicImage, Rgb, RgbImage};

/// A running server; killed when dropped.
pub struct Server {
    /// The `tessera` process; `None` for a server running in this test process.
    child: Option<Child>,
    /// `http://127.0.0.1:PORT/iiif/3`
    pub base: String,
    /// The image root; its parent holds `cache/` and `data/`.
    pub root: PathBuf,
    /// The server's standard error (its log).
    pub log: PathBuf,
    _dir: Option<tempfile::TempDir>,
    agent: ureq::Agent,
}

/// What a request returned.
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// Decodes the body as an image, checking that its magic matches `Content-Type`.
    pub fn image(&self) -> DynamicImage {
        assert_eq!(self.status, 200, "{}", self.text());
        let format = image::guess_format(&self.body).expect("an image body");
        assert_eq!(format.to_mime_type(), self.header("content-type"));
        image::load_from_memory(&self.body).expect("decodable image")
    }
}

impl Server {
    /// Starts a server over a fresh root that `fill` populates, with extra `serve` arguments.
    pub fn start_with(fill: impl FnOnce(&Path), args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        fill(&dir.path().join("root"));
        let mut server = Self::start_in(dir.path(), args);
        server._dir = Some(dir);
        server
    }

    /// Starts a server over `dir/root`, with its cache in `dir/cache` and catalogue in
    /// `dir/data`, which outlive it (for restart tests).
    pub fn start_in(dir: &Path, args: &[&str]) -> Server {
        let root = dir.join("root");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("serve")
            .args(["--bind", "127.0.0.1:0", "--root"])
            .arg(&root)
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("server.log")).expect("log file"))
            .spawn()
            .expect("start tessera");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("tessera listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server {
            child: Some(child),
            base,
            log: dir.join("server.log"),
            root,
            _dir: None,
            agent: agent(),
        }
    }

    /// Serves `state` from this test process on a free port (for tests that hold renders
    /// with hooks); runs until the process ends.
    pub fn in_process(state: tessera::http::AppState, dir: &Path) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!(
            "http://{}{}",
            listener.local_addr().unwrap(),
            state.config.server.prefix
        );
        let root = state.config.source.root.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(tessera::http::serve_on(listener, state))
        });
        Server {
            child: None,
            base,
            log: dir.join("server.log"),
            root,
            _dir: None,
            agent: agent(),
        }
    }

    /// A server whose root holds the quadrant test image as `quad.png`.
    pub fn start() -> Server {
        Self::start_with(|root| quadrants().save(root.join("quad.png")).unwrap(), &[])
    }

    /// The origin, `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> &str {
        let after = self.base.find("//").unwrap() + 2;
        let end = self.base[after..]
            .find('/')
            .map_or(self.base.len(), |i| i + after);
        &self.base[..end]
    }

    /// Sends `method` to `path` (relative to the IIIF prefix unless it starts with "http").
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(method, path, headers, &[])
    }

    /// Like [`Server::request`], with a body.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}/{}", self.base, path)
        };
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut res = self
            .agent
            .run(req.body(body.to_vec()).unwrap())
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        Reply {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: res.body_mut().read_to_vec().unwrap_or_default(),
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[])
    }

    /// The value of an unlabelled series (or the sum over a labelled one's matching lines)
    /// from `/metrics`.
    pub fn metric(&self, name: &str) -> f64 {
        let text = self.get(&format!("{}/metrics", self.origin())).text();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split([' ', '{']).next() == Some(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// A client that never follows redirects nor treats 4xx/5xx as errors.
fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build(),
    )
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `done` holds: for work a server does in the background (eviction, pyramid
/// builds). The limit only stops a hang; nothing asserted depends on how fast it is.
pub fn eventually(what: &str, done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{what}: not after 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub const RED: Rgb<u8> = Rgb([255, 0, 0]);
pub const GREEN: Rgb<u8> = Rgb([0, 255, 0]);
pub const BLUE: Rgb<u8> = Rgb([0, 0, 255]);
pub const YELLOW: Rgb<u8> = Rgb([255, 255, 0]);

/// 400×300: red top-left, green top-right, blue bottom-left, yellow bottom-right quadrants.
pub fn quadrants() -> RgbImage {
    RgbImage::from_fn(400, 300, |x, y| match (x < 200, y < 150) {
        (true, true) => RED,
        (false, true) => GREEN,
        (true, false) => BLUE,
        (false, false) => YELLOW,
    })
}

/// Asserts that the pixel at (x, y) is within `tolerance` of `want` in every channel.
pub fn assert_near(img: &DynamicImage, x: u32, y: u32, want: Rgb<u8>, tolerance: u8) {
    let got = img.to_rgb8().get_pixel(x, y).0;
    let ok = (0..3).all(|c| got[c].abs_diff(want.0[c]) <= tolerance);
    assert!(
        ok,
        "pixel ({x},{y}) is {got:?}, want {:?} ± {tolerance}",
        want.0
    );
}

/// Mean absolute difference per RGB channel, 0–255.
pub fn mean_diff(a: &DynamicImage, b: &DynamicImage) -> f64 {
    assert_eq!((a.width(), a.height()), (b.width(), b.height()));
    let (a, b) = (a.to_rgb8(), b.to_rgb8());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y) as u64)
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

/// Runs the `tessera` binary with `args` over `dir/root`, `dir/data` and `dir/cache` (the
/// layout [`Server::start_in`] uses), asserts it succeeded and returns its standard output.
pub fn tessera(dir: &Path, args: &[&str]) -> String {
    let out = run_tessera(dir, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs the `tessera` binary like [`tessera`], whether or not it succeeds.
pub fn run_tessera(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .output()
        .unwrap()
}
