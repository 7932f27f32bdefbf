//! The test kit of lvsinit, the one the tests (`tests/*.rs`,
//! `init/tests/cli.rs`) and the benchmark (`benches/appliance`) share:
//!
//! - [`Netns`]: a throwaway network namespace, the `ip` commands run in it,
//!   and [`netns::enter`] for a thread that works inside one;
//! - [`Vm`]: the appliance booted by `qemu/run`, its serial console
//!   collected line by line, its debug shell ([`serial`]);
//! - [`lab`]: the classic LVS-NAT setup around one or more VMs, with real
//!   PostgreSQL servers and a client;
//! - [`logs`]: what the library logs, kept per thread;
//! - [`config`]: the router.toml fixtures in `testkit/configs/`;
//! - [`image`]: building `out/` and writing onto a copy of its disk image.
//!
//! Nothing here skips: a missing tool, root or image fails loudly, saying
//! what to install or run.

pub mod cmd;
pub mod image;
pub mod lab;
pub mod logs;
pub mod netns;
pub mod serial;
pub mod vm;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use netns::Netns;
pub use vm::{Nic, Vm, VmOptions};

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
