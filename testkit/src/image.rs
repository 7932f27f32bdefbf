//! The built image in `out/`: building it, and copies of `router.img`
//! with files written onto (and read back from) their boot partition.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::cmd;
use crate::paths::repo;

/// Run `image/build --test-layer` once for this process (it rebuilds only
/// what is stale); panics with its output if the build fails (nothing can
/// boot without it).
pub fn build() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        let output = Command::new(repo().join("image/build"))
            .arg("--test-layer")
            .output()
            .map_err(|e| format!("cannot run image/build: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "image/build --test-layer failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A copy of `out/router.img` in `dir`, to write onto and boot.
pub fn copy_router_img(dir: &Path) -> PathBuf {
    let original = repo().join("out/router.img");
    assert!(
        original.exists(),
        "{} is missing: run `image/build --test-layer` first (tests/run does)",
        original.display()
    );
    let copy = dir.join("router.img");
    fs::copy(&original, &copy)
        .unwrap_or_else(|e| panic!("cannot copy {}: {e}", original.display()));
    copy
}

/// Write `files` onto the boot partition of `image`: `(file here, its
/// name there)`, e.g. a drop-in `router.toml`; a file already there is
/// replaced.
pub fn put_on_boot_partition(image: &Path, files: &[(PathBuf, &str)]) {
    let target = boot_partition(image);
    for (file, on_disk) in files {
        cmd::check(
            Command::new("mcopy")
                .env("MTOOLS_SKIP_CHECK", "1")
                .args(["-o", "-i", &target])
                .arg(file)
                .arg(format!("::{on_disk}")),
        );
    }
}

/// The file `name` on the boot partition of `image`.
pub fn read_boot_partition(image: &Path, name: &str) -> String {
    cmd::check(
        Command::new("mtype")
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-i", &boot_partition(image)])
            .arg(format!("::{name}")),
    )
}

/// Whether the file `name` is on the boot partition of `image`.
pub fn boot_partition_has(image: &Path, name: &str) -> bool {
    Command::new("mdir")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-b", "-i", &boot_partition(image)])
        .arg(format!("::{name}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run mdir: {e}"))
        .status
        .success()
}

/// The boot partition of `image` as mtools names it: `FILE@@OFFSET`, the
/// byte offset of GPT partition 1 from `sgdisk -i 1` ("First sector: 2048
/// (at 1024.0 KiB)"; image files have 512-byte sectors).
fn boot_partition(image: &Path) -> String {
    let text = cmd::check(Command::new("sgdisk").arg("-i").arg("1").arg(image));
    let first: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("First sector: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no first sector in sgdisk -i 1:\n{text}"));
    format!("{}@@{}", image.display(), first * 512)
}
