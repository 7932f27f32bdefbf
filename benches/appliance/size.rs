//! Item 6, size: what the build makes (kernel, initramfs, disk image and
//! what is inside it, the init binary) and the init's resident memory.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::lab::Vm;
use crate::report::{Row, Section};

const ITEM: &str = "6 size";
/// Target: everything inside router.img.
const TARGET_IMAGE_BYTES: u64 = 8_000_000;
/// Target: the init's resident memory.
pub const TARGET_RSS_KIB: u64 = 4 * 1024;

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
    let listing = mtools("mdir", &["-/", "-b", "-i", &at, "::"])?;
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

/// `VmRSS` and `VmHWM` of PID 1, in KiB, read over the debug shell.
pub fn pid1_memory(vm: &Vm) -> Result<(u64, u64), String> {
    let (out, status) = vm.shell("cat /proc/1/status", std::time::Duration::from_secs(30))?;
    if status != 0 {
        return Err(format!("cat /proc/1/status exited {status}: {out}"));
    }
    let field = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("no {key} in /proc/1/status:\n{out}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// The init's resident memory right after `ready`.
pub fn rss_after_boot(vm: &Vm) -> Section {
    let mut section = Section::default();
    match pid1_memory(vm) {
        Ok((rss, hwm)) => section.rows.push(Row::judged(
            ITEM,
            "init RSS after boot (VmRSS of PID 1)",
            format!("{rss} KiB (peak VmHWM {hwm} KiB)"),
            "≤ 4 MiB",
            rss <= TARGET_RSS_KIB,
        )),
        Err(why) => section
            .rows
            .push(Row::not_measured(ITEM, "init RSS after boot", &why)),
    }
    section
}
