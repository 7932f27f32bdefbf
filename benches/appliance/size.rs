//! Item 6, size: what the build makes (kernel, initramfs, disk image and
//! what is inside it, the init binary). The init's memory is in memory.rs.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::report::{Row, Section};

const ITEM: &str = "6 size";
/// Target: everything inside router.img.
const TARGET_IMAGE_BYTES: u64 = 8_000_000;

/// Sizes of the built files.
pub fn files(repo: &Path) -> Section {
    let out = repo.join("out");
    let mut section = Section::default();
    for (what, path) in [
        ("bzImage (kernel + built-in initramfs)", out.join("bzImage")),
        ("initramfs.cpio.gz", out.join("initramfs.cpio.gz")),
        (
            "init binary (static, stripped)",
            repo.join("target/x86_64-unknown-linux-gnu/release/lvsinit"),
        ),
        (
            "router.img (file, mostly free space)",
            out.join("router.img"),
        ),
        (
            "test-layer.cpio.gz (tests only, not shipped)",
            out.join("test-layer.cpio.gz"),
        ),
    ] {
        let row = match fs::metadata(&path) {
            Ok(m) => Row::info(ITEM, what, bytes(m.len())),
            Err(e) => Row::not_measured(ITEM, what, &format!("{}: {e}", path.display())),
        };
        section.rows.push(row);
    }
    match image_contents(&out.join("router.img")) {
        Ok((total, files)) => {
            section.rows.push(Row::judged(
                ITEM,
                "everything inside router.img",
                format!("{} ({})", bytes(total), files.join(", ")),
                "≤ 8 MB",
                total <= TARGET_IMAGE_BYTES,
            ));
        }
        Err(why) => section.rows.push(Row::not_measured(
            ITEM,
            "everything inside router.img",
            &why,
        )),
    }
    section.notes.push(
        "router.img is a 64 MiB GPT disk whose FAT partition is mostly free space; \
         \"everything inside\" is the sum of the files on that partition (mtools), \
         the figure the 8 MB target is about."
            .to_string(),
    );
    section
}

/// Total bytes of the files on router.img's boot partition, and each file.
fn image_contents(image: &Path) -> Result<(u64, Vec<String>), String> {
    let at = format!("{}@@1M", image.display());
    // -a: hidden and system files too (SYSLINUX's ldlinux.sys is both).
    let listing = mtools("mdir", &["-a", "-/", "-b", "-i", &at, "::"])?;
    let mut total = 0;
    let mut files = Vec::new();
    for path in listing.lines().map(str::trim).filter(|l| !l.ends_with('/')) {
        if path.is_empty() {
            continue;
        }
        let out = Command::new("mtype")
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-i", &at, path])
            .output()
            .map_err(|e| format!("mtype: {e}"))?;
        if !out.status.success() {
            return Err(format!("mtype {path}: {}", out.status));
        }
        let size = out.stdout.len() as u64;
        total += size;
        files.push(format!(
            "{} {}",
            path.trim_start_matches("::/"),
            bytes(size)
        ));
    }
    Ok((total, files))
}

fn mtools(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `1234567` → `1.23 MB (1.18 MiB)`.
pub fn bytes(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.2} MB ({:.2} MiB)", n as f64 / 1e6, n as f64 / 1048576.0)
    } else {
        format!("{:.1} kB", n as f64 / 1e3)
    }
}
