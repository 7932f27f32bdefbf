//! The hardware watchdog, `/dev/watchdog` (i6300ESB, iTCO and the like,
//! all built into the kernel): PID 1 opens it early, sets its timeout and
//! writes to it from the director's event loop, so that a loop that stops
//! making progress has the hardware reset the box. A clean shutdown
//! disarms it first (the "magic close": `V`, then close).
//!
//! The pets are the loop's own (no thread of their own): only a loop that
//! runs keeps the box up.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

/// The device the kernel's watchdog core makes for the first watchdog.
pub const DEVICE: &str = "/dev/watchdog";

/// `_IOWR('W', 6, int)` and `_IOR('W', 7, int)` of linux/watchdog.h.
const WDIOC_SETTIMEOUT: u64 = ioc(3, 6);
const WDIOC_GETTIMEOUT: u64 = ioc(2, 7);
/// `_IOR('W', 2, int)`: the flags of why the last reset happened.
const WDIOC_GETBOOTSTATUS: u64 = ioc(2, 2);
/// The boot status flag "the card (its timeout) reset the machine".
const WDIOF_CARDRESET: i32 = 0x0020;

/// An ioctl number of the watchdog API: direction, size of an `int`, type
/// `'W'`, number.
const fn ioc(direction: u64, number: u64) -> u64 {
    (direction << 30) | (4 << 16) | ((b'W' as u64) << 8) | number
}

/// An armed watchdog.
#[derive(Debug)]
pub struct Watchdog {
    file: File,
    timeout: Duration,
}

impl Watchdog {
    /// Open `path` (arming it) and ask for `timeout`, in whole seconds;
    /// the device may take another (its range): [`Watchdog::timeout`] is
    /// what it took.
    pub fn open(path: &Path, timeout: Duration) -> io::Result<Watchdog> {
        let file = OpenOptions::new().write(true).open(path)?;
        let mut watchdog = Watchdog {
            file,
            timeout: Duration::ZERO,
        };
        watchdog.set_timeout(timeout)?;
        Ok(watchdog)
    }

    /// Whether the device says the last reset was its own (the
    /// driver's boot status, read at its probe: i6300ESB and iTCO keep it
    /// across a reset).
    pub fn fired_before(&self) -> io::Result<bool> {
        let mut flags: i32 = 0;
        // SAFETY: WDIOC_GETBOOTSTATUS writes one int through the pointer,
        // which points at `flags`, alive for the call.
        let rc = unsafe {
            nix::libc::ioctl(self.file.as_raw_fd(), WDIOC_GETBOOTSTATUS as _, &mut flags)
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(flags & WDIOF_CARDRESET != 0)
    }

    /// Ask for `timeout`; the device answers with what it set.
    pub fn set_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        let mut seconds = i32::try_from(timeout.as_secs().max(1)).unwrap_or(i32::MAX);
        // SAFETY: WDIOC_SETTIMEOUT reads and writes one int through the
        // pointer, which points at `seconds`, alive for the call; the fd
        // is the open watchdog.
        let done =
            unsafe { nix::libc::ioctl(self.file.as_raw_fd(), WDIOC_SETTIMEOUT as _, &mut seconds) };
        if done < 0 {
            // Not every driver sets a timeout; keep what it has.
            let error = io::Error::last_os_error();
            let mut current: i32 = 0;
            // SAFETY: WDIOC_GETTIMEOUT writes one int through the pointer,
            // which points at `current`.
            let got = unsafe {
                nix::libc::ioctl(self.file.as_raw_fd(), WDIOC_GETTIMEOUT as _, &mut current)
            };
            if got < 0 || current <= 0 {
                return Err(error);
            }
            seconds = current;
        }
        self.timeout = Duration::from_secs(seconds.max(1) as u64);
        self.pet()
    }

    /// The timeout the device runs with.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How often to pet it: a third of the timeout, so that a loop late by
    /// a pet or two is still in time.
    pub fn pet_interval(&self) -> Duration {
        (self.timeout / 3).max(Duration::from_millis(500))
    }

    /// Start the timeout again.
    pub fn pet(&mut self) -> io::Result<()> {
        self.file.write_all(b"\0")
    }

    /// The magic close: disarmed, unless the kernel was built with
    /// `nowayout`, then the device keeps counting and resets the box.
    pub fn disarm(mut self) -> io::Result<()> {
        self.file.write_all(b"V")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers linux/watchdog.h gives (as `strace` shows them).
    #[test]
    fn ioctl_numbers() {
        assert_eq!(WDIOC_SETTIMEOUT, 0xC004_5706);
        assert_eq!(WDIOC_GETTIMEOUT, 0x8004_5707);
        assert_eq!(WDIOC_GETBOOTSTATUS, 0x8004_5702);
    }

    /// Without a watchdog device: an error, nothing else.
    #[test]
    fn a_missing_device_is_an_error() {
        let error = Watchdog::open(Path::new("/nonexistent/watchdog"), Duration::from_secs(60));
        assert_eq!(error.unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    /// A file that is no watchdog refuses the ioctls: an error, and the
    /// file is not written to.
    #[test]
    fn a_file_that_is_no_watchdog() {
        let path = std::env::temp_dir().join(format!("lvsinit-wd-{}", std::process::id()));
        std::fs::write(&path, "").unwrap();
        let error = Watchdog::open(&path, Duration::from_secs(60)).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(nix::libc::ENOTTY));
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        std::fs::remove_file(&path).unwrap();
    }
}
