//! The boot mounts, as a table: safe to run twice, and safe when something
//! before us (the test layer's /init, a kernel with DEVTMPFS_MOUNT) already
//! mounted part of it. An entry for firmware the machine may not have
//! (efivarfs: only a UEFI boot has it) is skipped without a word when the
//! firmware's directory is not there.

use std::fs;
use std::path::Path;

use nix::mount::{MsFlags, mount};

use crate::update::efi::EFIVARS;

/// One entry of the boot mount table.
pub struct BootMount {
    pub source: &'static str,
    pub target: &'static str,
    pub fstype: &'static str,
    pub flags: MsFlags,
    pub data: &'static str,
    /// Mounted only when this path exists: sysfs makes it only when the
    /// firmware is there, so without it there is nothing to mount and
    /// nothing to report.
    pub when: Option<&'static str>,
}

const NOSUID_NODEV_NOEXEC: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// What PID 1 mounts, in order (each target's parent comes first).
pub const BOOT_MOUNTS: &[BootMount] = &[
    BootMount {
        source: "proc",
        target: "/proc",
        fstype: "proc",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
        when: None,
    },
    BootMount {
        source: "sysfs",
        target: "/sys",
        fstype: "sysfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
        when: None,
    },
    // Why the last boot ended (pstore.rs), before anything erases it.
    BootMount {
        source: "pstore",
        target: "/sys/fs/pstore",
        fstype: "pstore",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
        when: None,
    },
    // The UEFI variables (BootNext, BootOrder, Boot####) that A/B updates
    // write (src/update/efi.rs); a legacy-BIOS or -kernel boot has none.
    BootMount {
        source: "efivarfs",
        target: EFIVARS,
        fstype: "efivarfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
        when: Some("/sys/firmware/efi"),
    },
    BootMount {
        source: "devtmpfs",
        target: "/dev",
        fstype: "devtmpfs",
        flags: MsFlags::MS_NOSUID,
        data: "mode=0755",
        when: None,
    },
    BootMount {
        source: "devpts",
        target: "/dev/pts",
        fstype: "devpts",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        data: "mode=0620,ptmxmode=0666",
        when: None,
    },
    BootMount {
        source: "tmpfs",
        target: "/run",
        fstype: "tmpfs",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        data: "mode=0755",
        when: None,
    },
    BootMount {
        source: "tmpfs",
        target: "/tmp",
        fstype: "tmpfs",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        data: "mode=1777",
        when: None,
    },
];

/// The mount points listed in a `/proc/self/mounts` text.
pub fn mount_points(mounts: &str) -> Vec<String> {
    mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        // The kernel escapes spaces and the like as octal: \040.
        .map(|p| p.replace("\\040", " "))
        .collect()
}

/// Mount every entry of [`BOOT_MOUNTS`] that is not mounted yet. A failure is
/// logged and the boot goes on: the rest of the appliance may still work.
pub fn mount_all() {
    for m in BOOT_MOUNTS {
        if m.when.is_some_and(|path| !Path::new(path).exists()) {
            continue;
        }
        let mounted = fs::read_to_string("/proc/self/mounts")
            .map(|t| mount_points(&t).iter().any(|p| p == m.target))
            .unwrap_or(false);
        if mounted {
            continue;
        }
        if let Err(e) = fs::create_dir_all(Path::new(m.target)) {
            log::error!("mount {}: cannot create the mount point: {e}", m.target);
            continue;
        }
        let data = (!m.data.is_empty()).then_some(m.data);
        match mount(Some(m.source), m.target, Some(m.fstype), m.flags, data) {
            Ok(()) => {}
            // Already mounted by someone whose mount we could not see yet
            // (before /proc was up).
            Err(nix::errno::Errno::EBUSY) => {}
            Err(e) => log::error!("mount {} on {}: {e}", m.fstype, m.target),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_mounted_before_children() {
        // The nearest enclosing mount of each target (none: the root's).
        for (i, m) in BOOT_MOUNTS.iter().enumerate() {
            let enclosing = Path::new(m.target)
                .ancestors()
                .skip(1)
                .find_map(|a| BOOT_MOUNTS.iter().position(|p| Path::new(p.target) == a));
            if let Some(j) = enclosing {
                assert!(j < i, "{} before its parent", m.target);
            }
        }
        assert!(BOOT_MOUNTS.iter().any(|m| m.target == "/sys/fs/pstore"));
    }

    /// A conditional entry waits for a directory inside a file system
    /// mounted before it, so that the test is not made on the root file
    /// system's empty mount point; efivarfs is one.
    #[test]
    fn conditions_are_inside_earlier_mounts() {
        for (i, m) in BOOT_MOUNTS.iter().enumerate() {
            let Some(when) = m.when else { continue };
            assert!(
                BOOT_MOUNTS[..i]
                    .iter()
                    .any(|p| Path::new(when).starts_with(p.target) && p.target != "/"),
                "{}: {when} is not inside an earlier mount",
                m.target
            );
        }
        let efivarfs = BOOT_MOUNTS.iter().find(|m| m.fstype == "efivarfs");
        assert_eq!(
            efivarfs.map(|m| (m.target, m.when)),
            Some(("/sys/firmware/efi/efivars", Some("/sys/firmware/efi")))
        );
    }

    #[test]
    fn reads_mount_points() {
        let text =
            "proc /proc proc rw 0 0\ndevtmpfs /dev devtmpfs rw 0 0\nx /a\\040b tmpfs rw 0 0\n";
        assert_eq!(mount_points(text), ["/proc", "/dev", "/a b"]);
    }
}
