//! The render service in-process, with hooks that hold renders (see `common::held`):
//! coalescing of identical misses, and the per-template budget under a set clock.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::held::held;
use tessera::iiif::ImageRequest;
use tessera::iiif::grammar::{IiifPath, parse_path};
use tessera::render::{RenderError, RenderService, Target, Validators};
use tessera::template::request::TemplateId;

fn request(path: &str) -> ImageRequest {
    match parse_path(&format!("x/{path}")).unwrap() {
        IiifPath::Image { request, .. } => request,
        other => panic!("{other:?}"),
    }
}

/// Prepares and renders `target` at `path` on a blocking thread of the runtime.
async fn fetch(
    service: &Arc<RenderService>,
    target: Target,
    path: &str,
) -> Result<bytes::Bytes, RenderError> {
    let request = request(path);
    let s = service.clone();
    let mut prepared =
        tokio::task::spawn_blocking(move || s.prepare(&target, &request, &Validators::default()))
            .await
            .unwrap()?;
    service.bytes(&mut prepared).await
}

fn image(id: &str) -> Target {
    Target::Image(id.to_string())
}

/// Waits (without a deadline: the hooks make it certain) until `cond` holds.
async fn until(cond: impl Fn() -> bool) {
    while !cond() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_misses_render_once() {
    let t = held(&["coffee.jpg"], &[]);
    let s = &t.service;
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { fetch(&s, image("coffee"), "full/90,/0/default.png").await })
        })
        .collect();
    t.gate.wait_for_entered(1);
    until(|| s.rendering() == 5).await;
    t.gate.open();
    let mut bodies = Vec::new();
    for task in tasks {
        bodies.push(task.await.unwrap().unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(s.metrics.renders.get(), 1);
    assert_eq!(s.metrics.coalesced_waits.get(), 4);
    assert_eq!(s.rendering(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_budget_follows_the_clock() {
    let t = held(
        &["hubble.tif", "avatar-default.png", "astronaut.png"],
        &["templates.renders_per_minute=2"],
    );
    t.gate.open();
    let s = &t.service;
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images/webinar-reminder.json"),
    )
    .unwrap();
    let who = tessera::store::templates::Who {
        id: "cli",
        name: "test",
    };
    s.templates
        .store
        .save_draft("w", "default", &doc, who)
        .unwrap();
    s.templates.store.publish("w", who, false, "").unwrap();
    let name = |n: &str| Target::Template {
        id: TemplateId::parse("tpl~w~1").unwrap().unwrap(),
        path: "/iiif/3/tpl~w~1/full/max/0/default.jpg".into(),
        query: vec![("first_name".into(), n.into())],
        overflow: false,
    };
    let path = "full/max/0/default.jpg";
    // At 600 s: two new renders, then the third waits for the next minute (60 s away).
    assert!(fetch(s, name("Ana"), path).await.is_ok());
    assert!(fetch(s, name("Bo"), path).await.is_ok());
    let err = fetch(s, name("Cy"), path).await.unwrap_err();
    assert!(matches!(err.root(), RenderError::RateLimited(60)), "{err}");
    // Cached renders do not count against the budget.
    assert!(fetch(s, name("Ana"), path).await.is_ok());
    t.clock.set(659);
    let err = fetch(s, name("Cy"), path).await.unwrap_err();
    assert!(matches!(err.root(), RenderError::RateLimited(1)), "{err}");
    t.clock.set(660);
    assert!(fetch(s, name("Cy"), path).await.is_ok());
}
