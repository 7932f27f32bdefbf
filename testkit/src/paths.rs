//! Where things are: the repository and its fixtures.

use std::path::{Path, PathBuf};

/// The repository root (where `qemu/run`, `image/` and `out/` are).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ is inside the repository")
        .to_path_buf()
}

/// The fixture `name` in `testkit/configs/` (e.g. `classic.toml`).
pub fn config(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name);
    assert!(path.exists(), "no fixture {}", path.display());
    path
}

/// keepalived's own samples (`testkit/configs/keepalived/keepalived.conf.*`),
/// sorted by name; all ten of them.
pub fn keepalived_samples() -> Vec<PathBuf> {
    let dir = config("keepalived");
    let mut samples: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("keepalived.conf.")
        })
        .collect();
    samples.sort();
    assert_eq!(samples.len(), 10, "{samples:?}");
    samples
}
