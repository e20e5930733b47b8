//! A render service in this test process, with hooks that hold every render at its start
//! until the test opens the gate, and a clock the test sets: overlap and time are certain
//! rather than hoped for.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use tessera::clock::FixedClock;
use tessera::config::{Config, Overrides};
use tessera::http::AppState;
use tessera::render::{RenderHooks, RenderService};

use super::Server;

/// Holds every render at its start until opened; counts how many got there.
#[derive(Default)]
pub struct Gate {
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Gate {
    /// Waits until `n` renders reached the gate.
    pub fn wait_for_entered(&self, n: usize) {
        let mut s = self.state.lock().unwrap();
        while s.0 < n {
            s = self.changed.wait(s).unwrap();
        }
    }

    /// Lets every held render (and every later one) go.
    pub fn open(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }
}

impl RenderHooks for Gate {
    fn before_render(&self) {
        let mut s = self.state.lock().unwrap();
        s.0 += 1;
        self.changed.notify_all();
        while !s.1 {
            s = self.changed.wait(s).unwrap();
        }
    }
}

pub struct Held {
    pub config: Config,
    pub service: Arc<RenderService>,
    pub gate: Arc<Gate>,
    pub clock: Arc<FixedClock>,
    pub dir: tempfile::TempDir,
}

/// A service over a root holding `samples` (files of sample-images/), with `settings` on top
/// of the defaults (pyramids off), the gate closed and the clock at 600 s.
pub fn held(samples: &[&str], settings: &[&str]) -> Held {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images");
    for f in samples {
        std::fs::copy(from.join(f), root.join(f)).unwrap();
    }
    let path = |k: &str, p: &Path| {
        format!(
            "{k}={}",
            toml::Value::String(p.to_string_lossy().into_owned())
        )
    };
    let mut all = vec![
        path("source.root", &root),
        path("data.dir", &dir.path().join("data")),
        path("cache.dir", &dir.path().join("cache")),
        "pyramid.min_pixels=0".to_string(),
    ];
    all.extend(settings.iter().map(|s| s.to_string()));
    let config = Config::load(
        &Overrides {
            file: None,
            settings: all,
        },
        Vec::new(),
    )
    .unwrap();
    let gate = Arc::new(Gate::default());
    let clock = Arc::new(FixedClock::at(600));
    let service = Arc::new(RenderService::with(&config, clock.clone(), gate.clone()).unwrap());
    Held {
        config,
        service,
        gate,
        clock,
        dir,
    }
}

impl Held {
    /// Serves this service over HTTP from the test process, on the held clock.
    pub fn serve(&self) -> Server {
        let state = AppState::with(
            self.config.clone(),
            self.service.clone(),
            self.clock.clone(),
        )
        .unwrap();
        Server::in_process(state, self.dir.path())
    }
}
