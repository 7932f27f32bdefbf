//! pstore's I/O: read and erase what the last boot left in RAM, and leave
//! a marker for the next one (`boot_reason.rs` has the rules).

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::OnceLock;

use crate::boot_reason::{self, Marker, Record, Verdict};

/// Where PID 1 mounts pstore (`mount.rs`).
pub const DIR: &str = "/sys/fs/pstore";
/// The user-space record of ramoops; PID 1 is its only writer.
const PMSG: &str = "/dev/pmsg0";
/// At most this much of a record is read: the 256 kB console zone whole,
/// the start of anything bigger.
const RECORD_BYTES: u64 = 256 * 1024;

static VERDICT: OnceLock<Verdict> = OnceLock::new();

/// Why this boot happened: decided once, at the first call (as the
/// director starts, once the watchdog said whether it `fired`), from the
/// records, which are then erased so that the next boot does not see them
/// again. Later calls answer the same.
pub fn verdict(fired: bool) -> &'static Verdict {
    VERDICT.get_or_init(|| {
        let records = take_records(Path::new(DIR));
        let kept: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
        log::info!(
            "boot: pstore kept [{}], watchdog {}",
            kept.join(", "),
            if fired { "fired" } else { "quiet" }
        );
        let verdict = boot_reason::decide(&records, fired);
        match &verdict.detail {
            Some(detail) => log::warn!("boot: why: {} ({detail})", verdict.reason.name()),
            None => log::info!("boot: why: {}", verdict.reason.name()),
        }
        verdict
    })
}

/// Read every record in `dir` and erase it (unlinking a pstore file
/// clears it in RAM). A box without pstore has none.
fn take_records(dir: &Path) -> Vec<Record> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut records = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let mut bytes = Vec::new();
        if let Ok(file) = fs::File::open(&path) {
            let _ = file.take(RECORD_BYTES).read_to_end(&mut bytes);
        }
        if let Err(e) = fs::remove_file(&path) {
            log::warn!("boot: cannot erase pstore record {}: {e}", path.display());
        }
        records.push(Record {
            name: entry.file_name().to_string_lossy().into_owned(),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    records
}

/// Leave `marker` for the next boot. Best effort: a box without pstore
/// boots as after a power cut.
pub fn mark(marker: Marker) {
    match fs::OpenOptions::new().write(true).open(PMSG) {
        Ok(mut f) => {
            if let Err(e) = f.write_all(marker.line().as_bytes()) {
                log::warn!("cannot write {PMSG}: {e}");
            }
        }
        Err(e) => log::debug!("no {PMSG}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_and_erased() {
        let dir = std::env::temp_dir().join(format!("lvsinit-pstore-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("pmsg-ramoops-0"), Marker::RebootAsked.line()).unwrap();
        fs::write(dir.join("console-ramoops-0"), "boot\n").unwrap();
        let mut records = take_records(&dir);
        records.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].text, Marker::RebootAsked.line());
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            0,
            "records left behind"
        );
        assert_eq!(
            boot_reason::decide(&records, false).reason,
            boot_reason::BootReason::Reboot
        );
        fs::remove_dir(&dir).unwrap();
        assert!(take_records(&dir).is_empty());
    }
}
