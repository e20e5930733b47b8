//! Bounded resources over HTTP: past the render queue or its deadline, requests get 503 with
//! Retry-After, and the server keeps serving. Renders are held by hooks, so the overlap is
//! certain.

mod common;

use std::sync::Arc;

use common::Server;
use common::held::held;

/// Starts a GET on its own thread.
fn spawn_get(s: &Arc<Server>, path: &str) -> std::thread::JoinHandle<u16> {
    let (s, path) = (s.clone(), path.to_string());
    std::thread::spawn(move || s.get(&path).status)
}

#[test]
fn a_full_render_queue_answers_503_with_retry_after() {
    let h = held(
        &["coffee.jpg"],
        &["render.threads=1", "render.queue_depth=1"],
    );
    let s = Arc::new(h.serve());
    let first = spawn_get(&s, "coffee.jpg/full/100,/0/default.jpg");
    h.gate.wait_for_entered(1);
    let second = spawn_get(&s, "coffee.jpg/full/120,/0/default.jpg");
    while h.service.admission.waiting() < 1 {
        std::thread::yield_now();
    }
    let refused = s.get("coffee.jpg/full/140,/0/default.jpg");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), "2");
    assert_eq!(refused.header("x-tessera-error"), "overloaded");
    assert_eq!(s.metric("tessera_overloaded_total"), 1.0);
    h.gate.open();
    assert_eq!(first.join().unwrap(), 200);
    assert_eq!(second.join().unwrap(), 200);
    // Nothing stuck: the refused request succeeds now.
    assert_eq!(s.get("coffee.jpg/full/140,/0/default.jpg").status, 200);
}

#[test]
fn waiting_past_the_deadline_answers_503() {
    let h = held(
        &["coffee.jpg"],
        &["render.threads=1", "render.queue_timeout_ms=20"],
    );
    let s = Arc::new(h.serve());
    let first = spawn_get(&s, "coffee.jpg/full/100,/0/default.jpg");
    h.gate.wait_for_entered(1);
    // The only render slot is held until the gate opens: this one cannot get it in time.
    let late = s.get("coffee.jpg/full/120,/0/default.jpg");
    assert_eq!(late.status, 503, "{}", late.text());
    assert_eq!(late.header("retry-after"), "2");
    assert!(late.text().contains("no render slot within 20 ms"));
    h.gate.open();
    assert_eq!(first.join().unwrap(), 200);
    let text = s.get(&format!("{}/metrics", s.origin())).text();
    assert!(text.contains("status=\"503\""));
}
