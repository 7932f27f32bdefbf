//! Item 7, reading a big config: `lvsinit check` of the 1,000 × 10
//! router.toml of item 2, natively on the host, counted in instructions
//! (valgrind's callgrind, exact and the same on every run, unlike a time)
//! and in peak memory (GNU time's maximum resident set size).
//!
//! Reading is a third of a fresh apply under TCG, and the memory bound
//! matters for PID 1 on a small box handed a broken or huge file.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::apply;
use crate::report::{Row, Section};

const ITEM: &str = "7 config";
/// Target: instructions for `lvsinit check` of the 1,000 × 10 file.
const TARGET_INSTRUCTIONS: u64 = 80_000_000;
/// Target: peak memory at most this many times the file's size.
const TARGET_MEMORY_FACTOR: u64 = 20;
/// Before the config rework (issue 10), for the table's comparison.
const BEFORE_INSTRUCTIONS: u64 = 219_900_000;
const BEFORE_PEAK_KB: u64 = 29_600;

pub fn run(repo: &Path) -> Section {
    let mut section = Section::default();
    let init = repo.join("target/x86_64-unknown-linux-gnu/release/lvsinit");
    let dir = std::env::temp_dir().join(format!("lvsinit-bench-config-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("create the bench dir");
    let file = dir.join("router.toml");
    let text = apply::big_router_toml();
    fs::write(&file, &text).expect("write the 1,000 x 10 router.toml");
    let size = text.len() as u64;
    let label = format!("`lvsinit check` of 1,000 × 10 ({} kB)", size / 1000);

    let counted = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(&init)
        .arg("check")
        .arg(&file)
        .output();
    section.rows.push(match counted {
        Ok(out) if out.status.success() => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            match collected(&stderr) {
                Some(n) => Row::judged(
                    ITEM,
                    format!("{label}: instructions"),
                    format!(
                        "{:.1} M (before the rework: {:.1} M, {:.1}× fewer now)",
                        n as f64 / 1e6,
                        BEFORE_INSTRUCTIONS as f64 / 1e6,
                        BEFORE_INSTRUCTIONS as f64 / n as f64
                    ),
                    "≤ 80 M",
                    n <= TARGET_INSTRUCTIONS,
                ),
                None => Row::not_measured(ITEM, &label, "no \"Collected\" line from callgrind"),
            }
        }
        Ok(out) => Row::not_measured(
            ITEM,
            &label,
            &format!("valgrind exited {}: {}", out.status, last_line(&out.stderr)),
        ),
        Err(e) => Row::not_measured(
            ITEM,
            &label,
            &format!("valgrind: {e} (apt-get install valgrind)"),
        ),
    });

    let timed = Command::new("/usr/bin/time")
        .args(["-f", "maxrss_kb=%M"])
        .arg(&init)
        .arg("check")
        .arg(&file)
        .output();
    section.rows.push(match timed {
        Ok(out) if out.status.success() => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            match crate::number_after(&stderr, "maxrss_kb=") {
                Some(kb) => {
                    let kb = kb as u64;
                    let limit_kb = size * TARGET_MEMORY_FACTOR / 1024;
                    Row::judged(
                        ITEM,
                        format!("{label}: peak memory"),
                        format!(
                            "{:.1} MiB, {:.1}× the file (before: {:.1} MiB)",
                            kb as f64 / 1024.0,
                            (kb * 1024) as f64 / size as f64,
                            BEFORE_PEAK_KB as f64 / 1024.0
                        ),
                        format!("≤ 20 × the file ({:.1} MiB)", limit_kb as f64 / 1024.0),
                        kb <= limit_kb,
                    )
                }
                None => Row::not_measured(ITEM, &label, "no maxrss from /usr/bin/time"),
            }
        }
        Ok(out) => Row::not_measured(
            ITEM,
            &label,
            &format!(
                "/usr/bin/time exited {}: {}",
                out.status,
                last_line(&out.stderr)
            ),
        ),
        Err(e) => Row::not_measured(
            ITEM,
            &label,
            &format!("/usr/bin/time: {e} (apt-get install time)"),
        ),
    });
    section.notes.push(
        "Measured on the static release init as the image ships it; the peak includes \
         toml_parser's token list (24 bytes a token, 271,003 tokens here), the tree and \
         the finished Config."
            .to_string(),
    );
    let _ = fs::remove_dir_all(&dir);
    section
}

/// `==123== Collected : 93550303` → 93550303.
fn collected(stderr: &str) -> Option<u64> {
    let line = stderr.lines().find(|l| l.contains("Collected :"))?;
    line.rsplit(':').next()?.trim().parse().ok()
}

fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines().last().unwrap_or("").to_string()
}
