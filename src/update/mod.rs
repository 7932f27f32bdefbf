//! A/B system updates (issue 14): the boot partition holds two kernel
//! images, `\EFI\LVSINIT\A.EFI` and `\EFI\LVSINIT\B.EFI`; an update writes
//! the slot that is not running, boots it once through the firmware's
//! `BootNext`, and a system that comes up good makes its own slot first in
//! `BootOrder`. No boot loader: the UEFI boot manager is the one that
//! chooses, so its variables are this subsystem's only lever.

pub mod efi;
