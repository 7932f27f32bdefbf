//! The hardware watchdog as the director keeps it: armed as soon as the
//! director starts, with the default timeout (a boot that hangs still
//! resets the box), then as the running config's `[watchdog]` says, and
//! petted from the director's own event loop.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use crate::config;
use crate::watchdog::{DEVICE, Watchdog};

/// The director's watchdog: the open device, if there is one, and when it
/// is next due.
pub(super) struct Keeper {
    device: Option<Watchdog>,
    next: Instant,
    /// Whether the device said, when first armed, that it reset the box.
    fired_before: bool,
}

impl Keeper {
    /// Arm `/dev/watchdog`, if the box has one, with the default timeout.
    pub(super) fn start() -> Keeper {
        let mut keeper = Keeper {
            device: None,
            next: Instant::now(),
            fired_before: false,
        };
        keeper.arm(config::Watchdog::DEFAULT_TIMEOUT);
        keeper.fired_before = match keeper.device.as_ref().map(Watchdog::fired_before) {
            Some(Ok(fired)) => fired,
            Some(Err(e)) => {
                log::warn!("watchdog: cannot read its boot status: {e}");
                false
            }
            None => false,
        };
        keeper
    }

    /// Whether the watchdog reset the box before this boot.
    pub(super) fn fired_before(&self) -> bool {
        self.fired_before
    }

    fn arm(&mut self, timeout: Duration) {
        match Watchdog::open(Path::new(DEVICE), timeout) {
            Ok(device) => {
                log::info!("watchdog: {DEVICE} armed, {} s", device.timeout().as_secs());
                self.next = Instant::now() + device.pet_interval();
                self.device = Some(device);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                log::info!("watchdog: none ({DEVICE} missing)");
            }
            Err(e) => log::warn!("watchdog: cannot arm {DEVICE}: {e}"),
        }
    }

    /// Make the device run as `wanted` says: off, or with its timeout
    /// (saying so when the device cannot take it).
    pub(super) fn follow(&mut self, wanted: &config::Watchdog) {
        match (wanted.timeout, &mut self.device) {
            (None, Some(_)) => {
                self.disarm();
                log::info!("watchdog: off (router.toml)");
            }
            (Some(timeout), None) => self.arm(timeout),
            (Some(timeout), Some(device)) if device.timeout() != timeout => {
                match device.set_timeout(timeout) {
                    Ok(()) if device.timeout() != timeout => log::warn!(
                        "watchdog: the device takes {} s, not the {} s asked for",
                        device.timeout().as_secs(),
                        timeout.as_secs()
                    ),
                    Ok(()) => log::info!("watchdog: {} s", timeout.as_secs()),
                    Err(e) => log::warn!("watchdog: cannot set {} s: {e}", timeout.as_secs()),
                }
                self.next = Instant::now() + device.pet_interval();
            }
            _ => {}
        }
    }

    /// When the next pet is due; never, without a device.
    pub(super) async fn due(&self) {
        match self.device {
            Some(_) => tokio::time::sleep_until(self.next).await,
            None => std::future::pending().await,
        }
    }

    /// Start the device's timeout again.
    pub(super) fn pet(&mut self) {
        let Some(device) = &mut self.device else {
            return;
        };
        if let Err(e) = device.pet() {
            log::warn!("watchdog: cannot write {DEVICE}: {e}");
        }
        self.next = Instant::now() + device.pet_interval();
    }

    /// The clean shutdown: disarmed before the machine goes down.
    pub(super) fn disarm(&mut self) {
        if let Some(device) = self.device.take()
            && let Err(e) = device.disarm()
        {
            log::warn!("watchdog: cannot disarm {DEVICE}: {e}");
        }
    }
}
