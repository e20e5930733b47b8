//! Bounded resources: past the render queue or its deadline, requests get 503 with
//! Retry-After, and the server keeps serving.

mod common;

use common::Server;

fn slow_burst(s: &Server, n: usize) -> Vec<(u16, String)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                // Distinct, slow renders: upscaled and turned by an arbitrary angle.
                scope.spawn(move || {
                    let r = s.get(&format!("quad.png/full/^pct:300/{}/default.png", 11 + i));
                    (r.status, r.header("retry-after").to_string())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn a_full_render_queue_answers_503_with_retry_after() {
    let s = Server::start_with(
        |root| common::quadrants().save(root.join("quad.png")).unwrap(),
        &["--set", "render.threads=1", "--set", "render.queue_depth=1"],
    );
    let results = slow_burst(&s, 8);
    let refused: Vec<_> = results.iter().filter(|(st, _)| *st == 503).collect();
    assert!(!refused.is_empty(), "{results:?}");
    assert!(refused.iter().all(|(_, retry)| retry == "2"));
    assert!(results.iter().any(|(st, _)| *st == 200));
    assert_eq!(s.metric("tessera_overloaded_total"), refused.len() as f64);
    // Nothing stuck: the same requests succeed once the burst is over.
    assert_eq!(s.get("quad.png/full/^pct:300/11/default.png").status, 200);
}

#[test]
fn waiting_past_the_deadline_answers_503() {
    let s = Server::start_with(
        |root| common::quadrants().save(root.join("quad.png")).unwrap(),
        &[
            "--set",
            "render.threads=1",
            "--set",
            "render.queue_timeout_ms=1",
        ],
    );
    let results = slow_burst(&s, 6);
    assert!(results.iter().any(|(st, _)| *st == 503), "{results:?}");
    let text = s.get(&format!("{}/metrics", s.origin())).text();
    assert!(text.contains("status=\"503\""));
}
