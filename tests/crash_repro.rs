//! Replays every input the fuzz targets found a crash with (`tests/crash_repro/<target>/`) and
//! every seed of their corpora (`fuzz/seeds/<target>/`) through the very code each target
//! runs, `fuzz/src/lib.rs`, compiled here as a module. A crasher copied in by `.ci/fuzz`'s
//! hint fails this test until the bug is fixed, then guards against its return.

#[path = "../fuzz/src/lib.rs"]
mod fuzz_support;

use std::path::{Path, PathBuf};

/// The files of `dir`, sorted; a folder's README is not an input.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.eq_ignore_ascii_case("README.md"))
        })
        .collect();
    files.sort();
    files
}

/// Runs `target` on every input under `folder/<target>/`, naming the one that panics.
fn replay(folder: &str, name: &str, target: fuzz_support::Target) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(folder)
        .join(name);
    let files = inputs(&dir);
    for file in &files {
        let data = std::fs::read(file).expect("a readable input");
        if std::panic::catch_unwind(|| target(&data)).is_err() {
            panic!(
                "{name} fails on {} (replay it with `cargo test --test crash_repro`)",
                file.display()
            );
        }
    }
    files.len()
}

fn target(name: &str) -> fuzz_support::Target {
    fuzz_support::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .expect("a fuzz target of that name")
}

#[test]
fn every_target_has_its_folders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in fuzz_support::TARGETS {
        for folder in ["tests/crash_repro", "fuzz/seeds"] {
            let dir = root.join(folder).join(name);
            assert!(dir.is_dir(), "{} is missing", dir.display());
        }
        let binary = root.join("fuzz/fuzz_targets").join(format!("{name}.rs"));
        assert!(binary.is_file(), "{} is missing", binary.display());
    }
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let f = target(stringify!($name));
            replay("tests/crash_repro", stringify!($name), f);
            let seeds = replay("fuzz/seeds", stringify!($name), f);
            assert!(seeds > 0, "no seeds for {}", stringify!($name));
        }
    )*};
}

replay_tests!(
    iiif_path,
    template_document,
    merge_tags,
    signed_url,
    sealed_token,
    source_probe,
    jpeg_join,
);
