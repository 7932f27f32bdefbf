//! The UEFI firmware as the updater's [`Firmware`]: one boot entry per
//! slot (`lvsinit A`, `lvsinit B`: the boot partition's Hard Drive node and
//! the slot's file), `BootNext` for a trial, the front of `BootOrder` for
//! the good system. Entries of other systems are left as they are.

use std::io;
use std::path::Path;

use super::Firmware;
use super::efi::{BootManager, DevicePath, HardDrive};
use super::system::Slot;

/// The firmware of this box, for the partition on `device`.
pub struct Efi {
    boot: BootManager,
    partition: HardDrive,
}

impl Efi {
    /// The box's firmware variables and the boot partition `device`
    /// (`/dev/vda1`) as the firmware names it.
    pub fn open(device: &Path) -> io::Result<Efi> {
        let partition = HardDrive::of_device(device).map_err(io::Error::other)?;
        let boot = BootManager::system();
        // Unreadable variables mean no efivarfs: better said now than at
        // the first update.
        boot.boot_order().map_err(io::Error::other)?;
        Ok(Efi { boot, partition })
    }

    /// The number of `slot`'s boot entry, made when missing.
    fn entry(&self, slot: Slot) -> io::Result<u16> {
        let path =
            DevicePath::file_on(&self.partition, slot.efi_path()).map_err(io::Error::other)?;
        self.boot
            .find_or_add(slot.description(), &path)
            .map_err(io::Error::other)
    }
}

impl Firmware for Efi {
    fn running_slot(&self) -> io::Result<Option<Slot>> {
        let file = self.boot.running_file().map_err(io::Error::other)?;
        Ok(file.as_deref().and_then(Slot::of_efi_path))
    }

    fn boot_once(&self, slot: Slot) -> io::Result<()> {
        let n = self.entry(slot)?;
        self.boot.set_boot_next(n).map_err(io::Error::other)?;
        log::info!("update: BootNext = Boot{n:04X} ({})", slot.description());
        Ok(())
    }

    fn make_default(&self, slot: Slot) -> io::Result<()> {
        let n = self.entry(slot)?;
        self.boot.put_first(n).map_err(io::Error::other)?;
        log::info!(
            "update: Boot{n:04X} ({}) first in BootOrder",
            slot.description()
        );
        Ok(())
    }
}
