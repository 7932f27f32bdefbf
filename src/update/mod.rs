//! A/B system updates that roll back by themselves (issue 14).
//!
//! The box keeps two systems on its boot partition ([`system::Slot`]) and
//! a record of them ([`system::System`]). An update writes the slot that
//! is not running, saves router.toml, and asks the firmware to boot the
//! new slot once ([`Firmware::boot_once`], UEFI's `BootNext`). The new
//! system then has its trial bound to declare itself good; it makes itself
//! the default ([`Firmware::make_default`], first in `BootOrder`, and a
//! copy as the removable-media fallback `EFI/BOOT/BOOTX64.EFI`). Anything
//! else (it reboots itself at the bound, the watchdog resets it, it
//! panics) ends in a reset, and the firmware, its `BootNext` used up,
//! boots the old default, which finds the trial unfinished, puts the saved
//! router.toml back and records the failure.
//!
//! Everything here blocks on the disk: the director calls it from the
//! blocking pool.

pub mod efi;
pub mod firmware;
pub mod image;
pub mod signature;
pub mod system;

use std::io;

use crate::boot_partition::{self, BootPartition};
use system::{Boot, SAVED_CONFIG, Slot, System};

/// The fallback file the firmware boots when it knows no entry of ours.
pub const FALLBACK: &str = "EFI/BOOT/BOOTX64.EFI";

/// The firmware's side: which slot it booted, and what it boots next.
pub trait Firmware: Send {
    /// The slot the firmware booted (`BootCurrent`'s entry), or `None`
    /// when it booted something else (the fallback file).
    fn running_slot(&self) -> io::Result<Option<Slot>>;
    /// Boot `slot` at the next reset only, then whatever `BootOrder` says.
    fn boot_once(&self, slot: Slot) -> io::Result<()>;
    /// Boot `slot` by default from now on.
    fn make_default(&self, slot: Slot) -> io::Result<()>;
}

/// Why an update or a rollback did not happen (nothing changed then,
/// unless said).
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{0}")]
    Image(#[from] image::ImageError),
    #[error("{0}")]
    Disk(#[from] boot_partition::Error),
    #[error("the firmware's boot variables: {0}")]
    Firmware(io::Error),
    #[error("{0}")]
    Refused(String),
}

/// The box's systems: the partition they are on, the firmware, the record.
pub struct Updater {
    partition: BootPartition,
    firmware: Box<dyn Firmware>,
    system: System,
    running: Slot,
    boot: Boot,
}

impl Updater {
    /// At boot, before router.toml is read: bring the record up to date.
    /// After a failed trial, the router.toml saved when it started is put
    /// back (the failed system may have run a config pushed under it).
    pub fn at_boot(
        partition: BootPartition,
        firmware: Box<dyn Firmware>,
        version: &str,
    ) -> Updater {
        let mut system = match partition.read(system::FILE) {
            Ok(Some(bytes)) => match System::parse(&String::from_utf8_lossy(&bytes)) {
                Ok(system) => system,
                Err(e) => {
                    log::warn!("update: {}: {e}; starting a new record", system::FILE);
                    System::default()
                }
            },
            Ok(None) => System::default(),
            Err(e) => {
                log::warn!("update: {e}");
                System::default()
            }
        };
        let from_firmware = firmware.running_slot().unwrap_or_else(|e| {
            log::warn!("update: cannot tell which slot booted: {e}");
            None
        });
        let before = system.clone();
        let running = system.running(from_firmware);
        let boot = system.booted(running, version);
        let updater = Updater {
            partition,
            firmware,
            system,
            running,
            boot: boot.clone(),
        };
        match boot {
            Boot::OnTrial => log::warn!(
                "update: version {version} in slot {running} is on trial: it must get good \
                 or slot {} boots again",
                running.other()
            ),
            Boot::TrialFailed => {
                if let Some(trial) = &updater.system.trial {
                    log::error!(
                        "update: the trial of {} in slot {} failed: {}; back on {version} in slot {running}",
                        trial.version.as_deref().unwrap_or("the new system"),
                        trial.slot,
                        trial.reason.as_deref().unwrap_or("no reason recorded")
                    );
                }
                updater.restore_config();
            }
            Boot::Good => {}
        }
        if updater.system != before {
            updater.save();
        }
        updater
    }

    pub fn system(&self) -> &System {
        &self.system
    }

    pub fn running(&self) -> Slot {
        self.running
    }

    /// Whether this boot is the new system's trial, not yet good.
    pub fn on_trial(&self) -> bool {
        self.boot == Boot::OnTrial
    }

    /// Write `image` to the other slot and have the firmware boot it once.
    /// The record and router.toml's copy are written before the firmware
    /// is told, so a cut anywhere leaves a box that boots its old system.
    pub fn install(&mut self, image: &[u8]) -> Result<Slot, UpdateError> {
        if self.on_trial() {
            return Err(UpdateError::Refused(format!(
                "this system (slot {}) is on trial itself: wait until it is good",
                self.running
            )));
        }
        image::check(image)?;
        let target = self.running.other();
        // The first update of a box flashed with router.img: the running
        // system is only the fallback file; it gets its slot too, so that
        // a boot entry can name it.
        if self.partition.read_image(self.running.file())?.is_none() {
            let Some(running) = self.partition.read_image(FALLBACK)? else {
                return Err(UpdateError::Refused(format!(
                    "neither {} nor {FALLBACK} is on the boot partition: this box did not \
                     boot from it",
                    self.running.file()
                )));
            };
            self.partition
                .replace_image(self.running.file(), &running)?;
        }
        self.partition.replace_image(target.file(), image)?;
        if let Some(config) = self.partition.read("router.toml")? {
            self.partition.replace(SAVED_CONFIG, &config, None)?;
        }
        let mut system = self.system.clone();
        system.start_trial(self.running);
        self.write_record(&system)?;
        self.system = system;
        let told = self
            .firmware
            .make_default(self.running)
            .and_then(|()| self.firmware.boot_once(target));
        if let Err(e) = told {
            // The slot is written but will not boot: say it as a failure.
            self.system
                .trial_timed_out(format!("the firmware did not take the boot entry: {e}"));
            if let Some(trial) = &mut self.system.trial {
                trial.outcome = system::Outcome::Failed;
            }
            self.save();
            return Err(UpdateError::Firmware(e));
        }
        Ok(target)
    }

    /// The system on trial is good: the default from now on, and the
    /// fallback file a copy of it.
    pub fn commit(&mut self) -> Result<(), UpdateError> {
        self.firmware
            .make_default(self.running)
            .map_err(UpdateError::Firmware)?;
        if let Some(image) = self.partition.read_image(self.running.file())? {
            self.partition.replace_image(FALLBACK, &image)?;
        }
        let mut system = self.system.clone();
        system.commit(self.running);
        self.write_record(&system)?;
        self.system = system;
        self.boot = Boot::Good;
        Ok(())
    }

    /// The trial's bound passed: why, kept for the old system to report.
    pub fn time_out(&mut self, reason: String) {
        self.system.trial_timed_out(reason);
        self.save();
    }

    /// Go back to the other slot's system, with the router.toml saved
    /// before the update that left it: the default from now on.
    pub fn roll_back(&mut self) -> Result<Slot, UpdateError> {
        let mut system = self.system.clone();
        let target = system
            .roll_back(self.running)
            .map_err(UpdateError::Refused)?;
        let Some(image) = self.partition.read_image(target.file())? else {
            return Err(UpdateError::Refused(format!(
                "{} is missing from the boot partition",
                target.file()
            )));
        };
        image::check(&image)?;
        self.firmware
            .make_default(target)
            .map_err(UpdateError::Firmware)?;
        self.partition.replace_image(FALLBACK, &image)?;
        self.restore_config();
        self.write_record(&system)?;
        self.system = system;
        Ok(target)
    }

    /// Put router.toml back as it was when the last trial started.
    fn restore_config(&self) {
        match self.partition.read(SAVED_CONFIG) {
            Ok(Some(saved)) => {
                let current = self.partition.read("router.toml").ok().flatten();
                if current.as_deref() == Some(&saved[..]) {
                    return;
                }
                match self
                    .partition
                    .replace("router.toml", &saved, Some("router.toml.prev"))
                {
                    Ok(()) => log::warn!(
                        "update: router.toml is back as it was before the update (the one \
                         it replaced kept as router.toml.prev)"
                    ),
                    Err(e) => log::error!("update: cannot put router.toml back: {e}"),
                }
            }
            Ok(None) => {}
            Err(e) => log::error!("update: {e}"),
        }
    }

    fn write_record(&self, system: &System) -> Result<(), UpdateError> {
        self.partition
            .replace(system::FILE, system.to_text().as_bytes(), None)?;
        Ok(())
    }

    /// Write the record; a failure is logged (it is only the history).
    fn save(&self) {
        if let Err(e) = self.write_record(&self.system) {
            log::error!("update: cannot write {}: {e}", system::FILE);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use system::Outcome;

    /// What the firmware was told, and which slot it "booted".
    #[derive(Default)]
    struct Told {
        booted: Option<Slot>,
        next: Option<Slot>,
        default: Option<Slot>,
    }

    struct FakeFirmware(Arc<Mutex<Told>>);

    impl Firmware for FakeFirmware {
        fn running_slot(&self) -> io::Result<Option<Slot>> {
            Ok(self.0.lock().unwrap().booted)
        }
        fn boot_once(&self, slot: Slot) -> io::Result<()> {
            self.0.lock().unwrap().next = Some(slot);
            Ok(())
        }
        fn make_default(&self, slot: Slot) -> io::Result<()> {
            self.0.lock().unwrap().default = Some(slot);
            Ok(())
        }
    }

    impl Told {
        /// A reset: BootNext if set (used up), else the default, else
        /// the fallback file.
        fn reset(&mut self) {
            self.booted = self.next.take().or(self.default);
        }
    }

    fn boot(dir: &std::path::Path, told: &Arc<Mutex<Told>>, version: &str) -> Updater {
        Updater::at_boot(
            BootPartition::at_dir(dir),
            Box::new(FakeFirmware(Arc::clone(told))),
            version,
        )
    }

    /// A box as router.img flashes it: the fallback file and router.toml.
    fn flashed(name: &str) -> (testkit::TempDir, Arc<Mutex<Told>>) {
        let dir = testkit::TempDir::new(name);
        std::fs::create_dir_all(dir.path().join("EFI/BOOT")).unwrap();
        std::fs::write(dir.path().join(FALLBACK), image::tests::fake_kernel(8192)).unwrap();
        std::fs::write(dir.path().join("router.toml"), "hostname = \"old\"\n").unwrap();
        (dir, Arc::new(Mutex::new(Told::default())))
    }

    #[test]
    fn an_update_that_gets_good_becomes_the_default() {
        let (dir, told) = flashed("update-good");
        let mut old = boot(dir.path(), &told, "0.1.0");
        assert_eq!(old.running(), Slot::A);
        let new = image::tests::fake_kernel(9000);
        assert_eq!(old.install(&new).unwrap(), Slot::B);
        // The running system got its own slot, copied from the fallback.
        assert_eq!(
            std::fs::read(dir.path().join("EFI/LVSINIT/A.EFI"))
                .unwrap()
                .len(),
            8192
        );
        assert_eq!(
            std::fs::read(dir.path().join("EFI/LVSINIT/B.EFI")).unwrap(),
            new
        );
        assert_eq!(told.lock().unwrap().next, Some(Slot::B));
        assert_eq!(told.lock().unwrap().default, Some(Slot::A));
        told.lock().unwrap().reset();
        let mut trial = boot(dir.path(), &told, "0.2.0");
        assert!(trial.on_trial());
        // A config pushed under the new system.
        std::fs::write(dir.path().join("router.toml"), "hostname = \"new\"\n").unwrap();
        trial.commit().unwrap();
        assert_eq!(told.lock().unwrap().default, Some(Slot::B));
        assert_eq!(std::fs::read(dir.path().join(FALLBACK)).unwrap(), new);
        told.lock().unwrap().reset();
        let again = boot(dir.path(), &told, "0.2.0");
        assert!(!again.on_trial());
        assert_eq!(again.running(), Slot::B);
        let trial = again.system().trial.clone().unwrap();
        assert_eq!(trial.outcome, Outcome::Good);
        assert_eq!(again.system().version(Slot::A), Some("0.1.0"));
        // The config pushed under the good new system stays.
        assert_eq!(
            std::fs::read_to_string(dir.path().join("router.toml")).unwrap(),
            "hostname = \"new\"\n"
        );
    }

    #[test]
    fn a_trial_that_does_not_get_good_comes_back_with_the_old_config() {
        let (dir, told) = flashed("update-failed");
        let mut old = boot(dir.path(), &told, "0.1.0");
        old.install(&image::tests::fake_kernel(9000)).unwrap();
        told.lock().unwrap().reset();
        let mut trial = boot(dir.path(), &told, "0.2.0-bad");
        assert!(trial.on_trial());
        std::fs::write(dir.path().join("router.toml"), "new_key = 1\n").unwrap();
        trial.time_out("not ready within 120 s".into());
        // Its own reboot: BootNext is used up, the default is A.
        told.lock().unwrap().reset();
        let back = boot(dir.path(), &told, "0.1.0");
        assert_eq!(back.running(), Slot::A);
        assert!(!back.on_trial());
        let trial = back.system().trial.clone().unwrap();
        assert_eq!(trial.outcome, Outcome::Failed);
        assert_eq!(trial.version.as_deref(), Some("0.2.0-bad"));
        assert_eq!(trial.reason.as_deref(), Some("not ready within 120 s"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("router.toml")).unwrap(),
            "hostname = \"old\"\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("router.toml.prev")).unwrap(),
            "new_key = 1\n"
        );
    }

    #[test]
    fn rollback_goes_back_to_the_old_slot_and_its_config() {
        let (dir, told) = flashed("update-rollback");
        let mut old = boot(dir.path(), &told, "0.1.0");
        assert!(old.roll_back().is_err(), "nothing to roll back to yet");
        old.install(&image::tests::fake_kernel(9000)).unwrap();
        told.lock().unwrap().reset();
        let mut new = boot(dir.path(), &told, "0.2.0");
        new.commit().unwrap();
        std::fs::write(dir.path().join("router.toml"), "hostname = \"new\"\n").unwrap();
        assert_eq!(new.roll_back().unwrap(), Slot::A);
        assert_eq!(told.lock().unwrap().default, Some(Slot::A));
        assert_eq!(
            std::fs::read(dir.path().join(FALLBACK)).unwrap().len(),
            8192
        );
        told.lock().unwrap().reset();
        let back = boot(dir.path(), &told, "0.1.0");
        assert_eq!(back.running(), Slot::A);
        assert_eq!(
            back.system().trial.as_ref().unwrap().outcome,
            Outcome::RolledBack
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("router.toml")).unwrap(),
            "hostname = \"old\"\n"
        );
    }

    #[test]
    fn a_bad_image_or_a_trial_in_progress_changes_nothing() {
        let (dir, told) = flashed("update-bad-image");
        let mut old = boot(dir.path(), &told, "0.1.0");
        let record = std::fs::read(dir.path().join(system::FILE)).unwrap();
        let cut = &image::tests::fake_kernel(9000)[..1000];
        assert!(matches!(old.install(cut), Err(UpdateError::Image(_))));
        assert!(!dir.path().join("EFI/LVSINIT").exists());
        assert_eq!(
            std::fs::read(dir.path().join(system::FILE)).unwrap(),
            record
        );
        assert_eq!(told.lock().unwrap().next, None);
        old.install(&image::tests::fake_kernel(9000)).unwrap();
        told.lock().unwrap().reset();
        let mut trial = boot(dir.path(), &told, "0.2.0");
        let again = trial.install(&image::tests::fake_kernel(9000));
        assert!(matches!(again, Err(UpdateError::Refused(_))), "{again:?}");
    }

    #[test]
    fn an_image_too_big_for_the_partition_is_refused() {
        let (dir, told) = flashed("update-too-big");
        let mut old = boot(dir.path(), &told, "0.1.0");
        let huge = image::tests::fake_kernel(boot_partition::MAX_IMAGE_BYTES + 1);
        assert!(matches!(
            old.install(&huge),
            Err(UpdateError::Disk(boot_partition::Error::ImageTooBig { .. }))
        ));
        assert_eq!(told.lock().unwrap().next, None);
    }
}
