//! What the tests need of the host: root, and scratch space.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Fail, saying why, unless this process runs as root: `what` needs it.
pub fn require_root(what: &str) {
    // /proc/self belongs to the process's effective uid.
    let euid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .expect("cannot stat /proc/self");
    assert_eq!(
        euid, 0,
        "{what} needs root (euid is {euid}): run the tests as root (tests/run does)"
    );
}

/// A directory under the system temp dir, removed with everything in it
/// when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory named after `name` and this process.
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("lvsinit-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
