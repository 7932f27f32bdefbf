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
