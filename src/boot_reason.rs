//! Why the box last booted, told from what the last boot left behind.
//!
//! The box has no storage of its own for this, so it uses the kernel's
//! pstore on RAM (ramoops, `kernel-config/pstore.config`): 1 MiB that a warm
//! reset does not clear and a power cut does. After a reset the kernel finds
//! the records there and shows them under `/sys/fs/pstore`:
//! - `dmesg-ramoops-N`: the kernel log at a panic (or an oops), headed
//!   `Panic#1 Part1` (or `Oops#...`);
//! - `pmsg-ramoops-0`: what PID 1 wrote to `/dev/pmsg0` in the last boot:
//!   one [`Marker`] line before it reboots on purpose or after its own
//!   panic;
//! - `console-ramoops-0`: the last boot's console, there after any warm
//!   reset, asked for or not.
//!
//! Together with the watchdog driver's `bootstatus` that tells the reasons
//! apart ([`decide`]); this file is the pure part, `pid1/pstore.rs` reads
//! and erases the records and writes the markers.

/// Why the box last booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BootReason {
    /// A cold start: nothing survived in RAM.
    #[default]
    PowerOn,
    /// A reboot someone asked for (SIGTERM, ctrl-alt-del, the API).
    Reboot,
    /// The kernel or PID 1 panicked, and the box rebooted by itself.
    Panic,
    /// The hardware watchdog fired.
    Watchdog,
    /// A warm reset nobody asked for and no watchdog reported: the reset
    /// button, or a watchdog whose driver cannot tell.
    Reset,
}

impl BootReason {
    /// The name `/status`, metrics and the console use.
    pub fn name(self) -> &'static str {
        match self {
            BootReason::PowerOn => "power_on",
            BootReason::Reboot => "reboot",
            BootReason::Panic => "panic",
            BootReason::Watchdog => "watchdog",
            BootReason::Reset => "reset",
        }
    }
}

/// What PID 1 writes to `/dev/pmsg0` before it ends a boot on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// It is rebooting because someone asked.
    RebootAsked,
    /// It panicked and reboots after the delay.
    Panic,
}

impl Marker {
    /// The line written, newline included.
    pub fn line(self) -> &'static str {
        match self {
            Marker::RebootAsked => "lvsinit: reboot asked\n",
            Marker::Panic => "lvsinit: panic\n",
        }
    }
}

/// One pstore record: its file name and (the start of) its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub text: String,
}

/// The verdict: the reason, and a line that says more when there is one
/// (the kernel's panic message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub reason: BootReason,
    pub detail: Option<String>,
}

/// Decide from the records the last boot left and whether the watchdog
/// driver says it fired. A panic wins (a watchdog may fire while a
/// panicked box waits to reboot), then the watchdog (a reboot asked for
/// that hung), then a reboot asked for, then any warm reset.
pub fn decide(records: &[Record], watchdog_fired: bool) -> Verdict {
    let kernel_panic = records
        .iter()
        .find(|r| r.name.starts_with("dmesg-") && r.text.starts_with("Panic"));
    if let Some(record) = kernel_panic {
        return Verdict {
            reason: BootReason::Panic,
            detail: panic_line(&record.text),
        };
    }
    let pmsg = records
        .iter()
        .filter(|r| r.name.starts_with("pmsg-"))
        .flat_map(|r| r.text.lines())
        .collect::<Vec<_>>();
    let marked = |m: Marker| pmsg.iter().any(|l| *l == m.line().trim_end());
    let verdict = |reason| Verdict {
        reason,
        detail: None,
    };
    if marked(Marker::Panic) {
        // PID 1's panic hook logged `BUG: ...` before the marker.
        let bug = records
            .iter()
            .filter(|r| r.name.starts_with("console-"))
            .flat_map(|r| r.text.lines())
            .filter_map(|l| l.find("BUG: ").map(|at| l[at..].trim_end()))
            .next_back();
        return Verdict {
            reason: BootReason::Panic,
            detail: Some(format!("PID 1 {}", bug.unwrap_or("panicked"))),
        };
    }
    if watchdog_fired {
        return verdict(BootReason::Watchdog);
    }
    if marked(Marker::RebootAsked) {
        return verdict(BootReason::Reboot);
    }
    if records.iter().any(|r| r.name.starts_with("console-")) {
        return verdict(BootReason::Reset);
    }
    verdict(BootReason::PowerOn)
}

/// The kernel's own panic line in a dmesg record, without its timestamp.
fn panic_line(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.contains("Kernel panic - "))?;
    let start = line.find("Kernel panic - ")?;
    Some(line[start..].trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, text: &str) -> Record {
        Record {
            name: name.into(),
            text: text.into(),
        }
    }

    const CONSOLE: &str = "[    0.000000] Linux version 6.12\n";
    const PANIC: &str = "Panic#1 Part1\n<6>[   12.5] sysrq: Trigger a crash\n\
                         <0>[   12.5] Kernel panic - not syncing: sysrq triggered crash\n";

    #[test]
    fn nothing_left_is_a_power_on() {
        assert_eq!(decide(&[], false).reason, BootReason::PowerOn);
    }

    #[test]
    fn the_kernels_panic_record_says_panic_with_its_line() {
        let v = decide(
            &[
                record("console-ramoops-0", CONSOLE),
                record("dmesg-ramoops-0", PANIC),
            ],
            false,
        );
        assert_eq!(v.reason, BootReason::Panic);
        assert_eq!(
            v.detail.as_deref(),
            Some("Kernel panic - not syncing: sysrq triggered crash")
        );
    }

    #[test]
    fn an_oops_alone_is_not_a_panic() {
        let v = decide(
            &[
                record("console-ramoops-0", CONSOLE),
                record("dmesg-ramoops-0", "Oops#1 Part1\nBUG: ...\n"),
            ],
            false,
        );
        assert_eq!(v.reason, BootReason::Reset);
    }

    #[test]
    fn markers_tell_a_reboot_from_pid_1s_panic() {
        let asked = [
            record("console-ramoops-0", CONSOLE),
            record("pmsg-ramoops-0", Marker::RebootAsked.line()),
        ];
        assert_eq!(decide(&asked, false).reason, BootReason::Reboot);
        let panicked = [
            record(
                "console-ramoops-0",
                "[  3.1] director: BUG: panicked at src/x.rs:1:1: oh\n[  3.1] rebooting in 10 s\n",
            ),
            record("pmsg-ramoops-0", Marker::Panic.line()),
        ];
        let v = decide(&panicked, false);
        assert_eq!(v.reason, BootReason::Panic);
        assert_eq!(
            v.detail.as_deref(),
            Some("PID 1 BUG: panicked at src/x.rs:1:1: oh")
        );
    }

    #[test]
    fn the_watchdog_wins_over_a_reboot_that_hung_but_not_over_a_panic() {
        let asked = [record("pmsg-ramoops-0", Marker::RebootAsked.line())];
        assert_eq!(decide(&asked, true).reason, BootReason::Watchdog);
        let panicked = [record("dmesg-ramoops-1", PANIC)];
        assert_eq!(decide(&panicked, true).reason, BootReason::Panic);
        assert_eq!(decide(&[], true).reason, BootReason::Watchdog);
    }

    #[test]
    fn a_warm_reset_without_a_reason_is_a_reset() {
        let v = decide(&[record("console-ramoops-0", CONSOLE)], false);
        assert_eq!(v.reason, BootReason::Reset);
        assert_eq!(BootReason::Reset.name(), "reset");
    }

    #[test]
    fn a_marker_must_be_a_whole_line() {
        let odd = [record("pmsg-ramoops-0", "xlvsinit: reboot asked\n")];
        assert_eq!(decide(&odd, false).reason, BootReason::PowerOn);
    }
}
