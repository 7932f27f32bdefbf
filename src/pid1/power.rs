//! The way out: halt, power off or reboot, cleanly.

use std::time::{Duration, Instant};

use nix::sys::reboot::{RebootMode, reboot};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::boot_reason::Marker;

/// What a shutdown ends in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    Halt,
    PowerOff,
    Reboot,
}

impl Power {
    /// The classic init's meaning of a signal sent to PID 1 (busybox and
    /// sysvinit agree): SIGUSR1 halts, SIGUSR2 and SIGPWR power off, SIGTERM
    /// reboots, and SIGINT is the kernel telling us about ctrl-alt-del.
    pub fn for_signal(signal: Signal) -> Option<Power> {
        match signal {
            Signal::SIGUSR1 => Some(Power::Halt),
            Signal::SIGUSR2 | Signal::SIGPWR => Some(Power::PowerOff),
            Signal::SIGTERM | Signal::SIGINT => Some(Power::Reboot),
            _ => None,
        }
    }

    fn mode(self) -> RebootMode {
        match self {
            Power::Halt => RebootMode::RB_HALT_SYSTEM,
            Power::PowerOff => RebootMode::RB_POWER_OFF,
            Power::Reboot => RebootMode::RB_AUTOBOOT,
        }
    }
}

/// Ask every other process to stop, give them `grace`, kill what is left,
/// sync the disks and end the machine. Never returns.
pub fn shutdown(power: Power, grace: Duration) -> ! {
    log::info!("shutdown: {power:?}");
    if power == Power::Reboot {
        super::pstore::mark(Marker::RebootAsked);
    }
    // kill(-1) reaches every process but ourselves.
    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            // ECHILD: nobody is left.
            Err(_) => break,
            Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(_) => {}
        }
    }
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    end(power)
}

/// Sync and end the machine now. If the kernel refuses, there is nothing
/// left to do but wait: PID 1 must not exit.
pub fn end(power: Power) -> ! {
    nix::unistd::sync();
    let err = reboot(power.mode()).err();
    log::error!("reboot(2) failed: {err:?}");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_like_a_classic_init() {
        assert_eq!(Power::for_signal(Signal::SIGUSR1), Some(Power::Halt));
        assert_eq!(Power::for_signal(Signal::SIGUSR2), Some(Power::PowerOff));
        assert_eq!(Power::for_signal(Signal::SIGPWR), Some(Power::PowerOff));
        assert_eq!(Power::for_signal(Signal::SIGTERM), Some(Power::Reboot));
        assert_eq!(Power::for_signal(Signal::SIGINT), Some(Power::Reboot));
        assert_eq!(Power::for_signal(Signal::SIGHUP), None);
        assert_eq!(Power::for_signal(Signal::SIGCHLD), None);
    }
}
