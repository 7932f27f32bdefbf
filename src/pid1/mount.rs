//! The boot mounts, as a table: safe to run twice, and safe when something
//! before us (the test layer's /init, a kernel with DEVTMPFS_MOUNT) already
//! mounted part of it.

use std::fs;
use std::path::Path;

use nix::mount::{MsFlags, mount};

/// One entry of the boot mount table.
pub struct BootMount {
    pub source: &'static str,
    pub target: &'static str,
    pub fstype: &'static str,
    pub flags: MsFlags,
    pub data: &'static str,
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
    },
    BootMount {
        source: "sysfs",
        target: "/sys",
        fstype: "sysfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
    },
    // Why the last boot ended (pstore.rs), before anything erases it.
    BootMount {
        source: "pstore",
        target: "/sys/fs/pstore",
        fstype: "pstore",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
    },
    BootMount {
        source: "devtmpfs",
        target: "/dev",
        fstype: "devtmpfs",
        flags: MsFlags::MS_NOSUID,
        data: "mode=0755",
    },
    BootMount {
        source: "devpts",
        target: "/dev/pts",
        fstype: "devpts",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        data: "mode=0620,ptmxmode=0666",
    },
    BootMount {
        source: "tmpfs",
        target: "/run",
        fstype: "tmpfs",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        data: "mode=0755",
    },
    BootMount {
        source: "tmpfs",
        target: "/tmp",
        fstype: "tmpfs",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        data: "mode=1777",
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

    #[test]
    fn reads_mount_points() {
        let text =
            "proc /proc proc rw 0 0\ndevtmpfs /dev devtmpfs rw 0 0\nx /a\\040b tmpfs rw 0 0\n";
        assert_eq!(mount_points(text), ["/proc", "/dev", "/a b"]);
    }
}
