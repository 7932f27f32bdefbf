//! Which system slot boots, and what became of the last update: the
//! `system.toml` the box keeps on its boot partition beside router.toml.
//!
//! The box has two slots, A and B, each an EFI kernel with its built-in
//! initramfs (`EFI/LVSINIT/A.EFI`, `B.EFI`). One is *good*: the firmware's
//! `BootOrder` starts with it and `EFI/BOOT/BOOTX64.EFI` is a copy of it.
//! An update writes the other slot and boots it once (`BootNext`): a
//! *trial*. The new system declares itself good within its bound, or the
//! next reset (its own, the watchdog's, a panic's) boots the good slot
//! again, which finds the trial unfinished and records it as failed.
//!
//! The file is the record of that, written by whichever system runs; it
//! never decides what boots (the firmware's variables do), so a lost or
//! broken file costs the history, not the box: it reads as a box that
//! never updated.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The file on the boot partition.
pub const FILE: &str = "system.json";

/// The copy of router.toml taken when a trial starts, put back when the
/// box goes back to the old system (a config pushed under the new
/// version may use keys the old one rejects).
pub const SAVED_CONFIG: &str = "router.toml.update";

/// One of the two system slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    /// The other one.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// The slot's file on the boot partition (a [`crate::boot_partition::SYSTEM_FILES`] name).
    pub fn file(self) -> &'static str {
        match self {
            Slot::A => "EFI/LVSINIT/A.EFI",
            Slot::B => "EFI/LVSINIT/B.EFI",
        }
    }

    /// The same file as the firmware writes it in a boot entry.
    pub fn efi_path(self) -> &'static str {
        match self {
            Slot::A => "\\EFI\\LVSINIT\\A.EFI",
            Slot::B => "\\EFI\\LVSINIT\\B.EFI",
        }
    }

    /// The boot entry's description, as `efibootmgr` lists it.
    pub fn description(self) -> &'static str {
        match self {
            Slot::A => "lvsinit A",
            Slot::B => "lvsinit B",
        }
    }

    /// The slot a boot entry's file path names, if it is one of ours
    /// (firmware paths are case-insensitive, either slash).
    pub fn of_efi_path(path: &str) -> Option<Slot> {
        let path = path.replace('/', "\\").to_ascii_uppercase();
        let path = path.trim_start_matches('\\');
        [Slot::A, Slot::B]
            .into_iter()
            .find(|slot| slot.efi_path().trim_start_matches('\\') == path)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Slot::A => "A",
            Slot::B => "B",
        })
    }
}

/// How a trial stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Written and booted once (or about to be); not yet good.
    OnTrial,
    /// The new system declared itself good: it is the default now.
    Good,
    /// The box came back to the old system without the new one being good.
    Failed,
    /// The operator went back to the other slot.
    RolledBack,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::OnTrial => "on trial",
            Outcome::Good => "good",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled back",
        }
    }
}

/// The last update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    /// The slot written.
    pub slot: Slot,
    /// The new system's version: known once it booted (it writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub outcome: Outcome,
    /// Why it failed, or what was missing when its time ran out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The version it replaced (what a failure comes back to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<String>,
}

/// The record: the good slot, each slot's version as last seen running,
/// the last trial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct System {
    pub good: Slot,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<Trial>,
}

impl Default for System {
    /// A box that never updated runs slot A (from the fallback file).
    fn default() -> System {
        System {
            good: Slot::A,
            a_version: None,
            b_version: None,
            trial: None,
        }
    }
}

/// What the running system is, from the record and the firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// The usual: the good system.
    Good,
    /// The new system on its trial: it must get good in time.
    OnTrial,
    /// The good system again while the record says a trial was on: that
    /// trial failed.
    TrialFailed,
}

impl System {
    /// Read the file's text (a broken one is an error; the caller starts
    /// a new record, since it only keeps the history).
    pub fn parse(text: &str) -> Result<System, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// The file's text: JSON, as the API shows it (the firmware's boot
    /// entries decide what boots; this only records it).
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The version last seen running in `slot`.
    pub fn version(&self, slot: Slot) -> Option<&str> {
        match slot {
            Slot::A => self.a_version.as_deref(),
            Slot::B => self.b_version.as_deref(),
        }
    }

    fn set_version(&mut self, slot: Slot, version: Option<String>) {
        match slot {
            Slot::A => self.a_version = version,
            Slot::B => self.b_version = version,
        }
    }

    /// The running slot: the one the firmware says it booted (`running`,
    /// from `BootCurrent`), else the good one (booted from the fallback
    /// file, which is a copy of it).
    pub fn running(&self, from_firmware: Option<Slot>) -> Slot {
        from_firmware.unwrap_or(self.good)
    }

    /// At boot: what this system is, and the record brought up to date
    /// (its own version noted; a failed trial marked).
    pub fn booted(&mut self, running: Slot, version: &str) -> Boot {
        let boot = match &mut self.trial {
            Some(trial) if trial.outcome == Outcome::OnTrial && trial.slot == running => {
                trial.version = Some(version.to_string());
                Boot::OnTrial
            }
            Some(trial) if trial.outcome == Outcome::OnTrial => {
                trial.outcome = Outcome::Failed;
                if trial.reason.is_none() {
                    trial.reason = Some(
                        "the new system was reset before it declared itself good (it hung, \
                         panicked or lost power)"
                            .into(),
                    );
                }
                Boot::TrialFailed
            }
            _ => Boot::Good,
        };
        self.set_version(running, Some(version.to_string()));
        boot
    }

    /// An update of the other slot begins: `running` stays good, the other
    /// slot's old version is forgotten.
    pub fn start_trial(&mut self, running: Slot) {
        let slot = running.other();
        self.good = running;
        let from_version = self.version(running).map(str::to_string);
        self.set_version(slot, None);
        self.trial = Some(Trial {
            slot,
            version: None,
            outcome: Outcome::OnTrial,
            reason: None,
            from_version,
        });
    }

    /// The system on trial did not get good in time: why, before it
    /// reboots into the old one.
    pub fn trial_timed_out(&mut self, reason: String) {
        if let Some(trial) = &mut self.trial
            && trial.outcome == Outcome::OnTrial
        {
            trial.reason = Some(reason);
        }
    }

    /// The system on trial is good: it is the default from now on.
    pub fn commit(&mut self, running: Slot) {
        self.good = running;
        if let Some(trial) = &mut self.trial
            && trial.slot == running
        {
            trial.outcome = Outcome::Good;
            trial.reason = None;
        }
    }

    /// The operator goes back to the other slot, which must hold a system
    /// that ran before; the error says why not.
    pub fn roll_back(&mut self, running: Slot) -> Result<Slot, String> {
        let target = running.other();
        let Some(version) = self.version(target).map(str::to_string) else {
            return Err(format!(
                "slot {target} holds no system that ran on this box: nothing to roll back to"
            ));
        };
        if let Some(trial) = &self.trial
            && trial.slot == target
            && trial.outcome == Outcome::Failed
        {
            return Err(format!(
                "slot {target} holds {version}, whose trial failed: update again instead"
            ));
        }
        self.good = target;
        self.trial = Some(Trial {
            slot: running,
            version: self.version(running).map(str::to_string),
            outcome: Outcome::RolledBack,
            reason: Some(format!("rolled back to {version} in slot {target}")),
            from_version: Some(version),
        });
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_trial_becomes_the_default() {
        let mut system = System::default();
        assert_eq!(system.booted(Slot::A, "0.1.0"), Boot::Good);
        system.start_trial(Slot::A);
        assert_eq!(system.trial.as_ref().unwrap().slot, Slot::B);
        assert_eq!(
            system.trial.as_ref().unwrap().from_version.as_deref(),
            Some("0.1.0")
        );
        // The firmware booted B once.
        assert_eq!(system.booted(Slot::B, "0.2.0"), Boot::OnTrial);
        system.commit(Slot::B);
        assert_eq!(system.good, Slot::B);
        let trial = system.trial.clone().unwrap();
        assert_eq!(
            (trial.outcome, trial.version.as_deref()),
            (Outcome::Good, Some("0.2.0"))
        );
        // A later boot of B is an ordinary one; A still has 0.1.0.
        assert_eq!(system.booted(Slot::B, "0.2.0"), Boot::Good);
        assert_eq!(system.version(Slot::A), Some("0.1.0"));
    }

    #[test]
    fn coming_back_to_the_old_slot_fails_the_trial() {
        let mut system = System::default();
        system.booted(Slot::A, "0.1.0");
        system.start_trial(Slot::A);
        assert_eq!(system.booted(Slot::B, "0.2.0"), Boot::OnTrial);
        system.trial_timed_out("not ready within 120 s".into());
        // The reset boots A again.
        assert_eq!(system.booted(Slot::A, "0.1.0"), Boot::TrialFailed);
        let trial = system.trial.clone().unwrap();
        assert_eq!(trial.outcome, Outcome::Failed);
        assert_eq!(trial.reason.as_deref(), Some("not ready within 120 s"));
        assert_eq!(trial.version.as_deref(), Some("0.2.0"));
        assert_eq!(system.good, Slot::A);
        // A trial that never ran its init (a panic) still fails, with a reason.
        let mut system = System::default();
        system.booted(Slot::A, "0.1.0");
        system.start_trial(Slot::A);
        assert_eq!(system.booted(Slot::A, "0.1.0"), Boot::TrialFailed);
        assert!(
            system
                .trial
                .unwrap()
                .reason
                .unwrap()
                .contains("reset before")
        );
    }

    #[test]
    fn rollback_needs_a_system_that_ran() {
        let mut system = System::default();
        system.booted(Slot::A, "0.1.0");
        assert!(
            system
                .roll_back(Slot::A)
                .unwrap_err()
                .contains("nothing to roll back")
        );
        system.start_trial(Slot::A);
        system.booted(Slot::B, "0.2.0");
        system.commit(Slot::B);
        assert_eq!(system.roll_back(Slot::B), Ok(Slot::A));
        assert_eq!(system.good, Slot::A);
        assert_eq!(system.trial.as_ref().unwrap().outcome, Outcome::RolledBack);
        // A failed trial's slot is no place to go back to.
        let mut system = System::default();
        system.booted(Slot::A, "0.1.0");
        system.start_trial(Slot::A);
        system.booted(Slot::B, "0.2.0");
        system.booted(Slot::A, "0.1.0");
        assert!(
            system
                .roll_back(Slot::A)
                .unwrap_err()
                .contains("trial failed")
        );
    }

    #[test]
    fn the_file_reads_back_and_a_broken_one_is_an_error() {
        let mut system = System::default();
        system.booted(Slot::A, "0.1.0");
        system.start_trial(Slot::A);
        let text = system.to_text();
        assert_eq!(System::parse(&text), Ok(system));
        assert!(text.contains("\"outcome\": \"on-trial\""), "{text}");
        assert!(System::parse("{\"good\": \"C\"}").is_err());
        assert!(System::parse("{\"good\": \"A\", \"extra\": 1}").is_err());
    }

    #[test]
    fn boot_entry_paths_name_their_slot() {
        assert_eq!(Slot::of_efi_path("\\EFI\\LVSINIT\\B.EFI"), Some(Slot::B));
        assert_eq!(Slot::of_efi_path("\\efi\\lvsinit\\a.efi"), Some(Slot::A));
        assert_eq!(Slot::of_efi_path("/EFI/LVSINIT/A.EFI"), Some(Slot::A));
        assert_eq!(Slot::of_efi_path("\\EFI\\BOOT\\BOOTX64.EFI"), None);
    }
}
