//! Where `router.toml` comes from at boot. First found wins:
//!
//! 1. QEMU's fw_cfg file `opt/lvsinit/router.toml`
//!    (`-fw_cfg name=opt/lvsinit/router.toml,file=...`): per-VM config
//!    without rebuilding anything.
//! 2. `router.toml` at the root of the FAT partition labelled `LVSBOOT`
//!    (the image's EFI system partition), mounted read-only on `/boot`:
//!    the drop-in a user edits on any PC. When it is invalid and
//!    `router.toml.prev` beside it (the one before, kept by
//!    [`crate::boot_partition`]) is valid, the box boots with that one and
//!    says so ([`load`]).
//! 3. The built-in default in the initramfs, `/etc/lvsinit/router.toml`.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::mount::{MsFlags, mount};

use crate::config::{Config, Diagnostic};

/// The fw_cfg file QEMU exposes through sysfs.
pub const FW_CFG_PATH: &str = "/sys/firmware/qemu_fw_cfg/by_name/opt/lvsinit/router.toml/raw";
/// The label of the boot partition.
pub const BOOT_LABEL: &str = "LVSBOOT";
/// Where the boot partition is mounted, read-only.
pub const BOOT_MOUNT: &str = "/boot";
/// The mount flags of [`BOOT_MOUNT`] besides read-only, which a remount
/// must pass again.
pub const BOOT_MOUNT_FLAGS: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);
/// The copy of the boot partition's router.toml from before its last
/// replacement: what boot falls back to.
pub const PREVIOUS: &str = "router.toml.prev";
/// The default baked into the initramfs.
pub const BUILTIN_PATH: &str = "/etc/lvsinit/router.toml";

/// Which of the three places a config was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    FwCfg,
    /// The boot partition, with the block device it is on.
    BootPartition {
        device: String,
    },
    BuiltIn,
}

impl Origin {
    /// The name diagnostics use for the file: it always ends in `router.toml`.
    pub fn file_name(&self) -> String {
        match self {
            Origin::FwCfg => "fw_cfg:opt/lvsinit/router.toml".to_string(),
            Origin::BootPartition { .. } => format!("{BOOT_LABEL}:/router.toml"),
            Origin::BuiltIn => BUILTIN_PATH.to_string(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::FwCfg => write!(f, "fw_cfg opt/lvsinit/router.toml"),
            Origin::BootPartition { device } => {
                write!(f, "boot partition {BOOT_LABEL} ({device}) router.toml")
            }
            Origin::BuiltIn => write!(f, "built-in {BUILTIN_PATH}"),
        }
    }
}

/// A config file's text and where it came from.
#[derive(Debug, Clone)]
pub struct Source {
    pub origin: Origin,
    pub text: String,
    /// [`PREVIOUS`] beside it on the boot partition, when there is one;
    /// always `None` for the other origins.
    pub previous: Option<String>,
}

/// A valid config, and the file it came from.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
    /// The text it was read from: router.toml's, or [`PREVIOUS`]'s.
    pub text: String,
    /// Set when router.toml was invalid and this is [`PREVIOUS`].
    pub fallback: Option<Fallback>,
}

/// Why the box runs [`PREVIOUS`] and not router.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// In a few words: "router.toml is invalid".
    pub reason: String,
    /// router.toml's diagnostics, as logged.
    pub errors: Vec<String>,
}

/// Validate the config of `source`. When it is invalid and the boot
/// partition's [`PREVIOUS`] is valid, that one, with router.toml's
/// diagnostics in [`Loaded::fallback`]. Otherwise the errors are
/// router.toml's: it is the file to fix.
pub fn load(source: &Source) -> Result<Loaded, Vec<String>> {
    let errors = match crate::config::load(&source.origin.file_name(), &source.text) {
        Ok((config, warnings)) => {
            return Ok(Loaded {
                config,
                warnings,
                text: source.text.clone(),
                fallback: None,
            });
        }
        Err(e) => e.diagnostics.iter().map(ToString::to_string).collect(),
    };
    let Some(previous) = &source.previous else {
        return Err(errors);
    };
    match crate::config::load(&format!("{BOOT_LABEL}:/{PREVIOUS}"), previous) {
        Ok((config, warnings)) => Ok(Loaded {
            config,
            warnings,
            text: previous.clone(),
            fallback: Some(Fallback {
                reason: "router.toml is invalid".into(),
                errors,
            }),
        }),
        Err(e) => {
            log::error!(
                "config: {PREVIOUS} is invalid too ({} error{}): nothing to fall back to",
                e.diagnostics.len(),
                if e.diagnostics.len() == 1 { "" } else { "s" }
            );
            Err(errors)
        }
    }
}

/// Find the config: fw_cfg, then the boot partition, then the built-in.
///
/// `disk_wait` bounds how long to wait for the boot partition to appear
/// (USB sticks enumerate late); zero looks once.
pub fn find(disk_wait: Duration) -> io::Result<Source> {
    match read_text(Path::new(FW_CFG_PATH)) {
        Ok(text) => {
            return Ok(Source {
                origin: Origin::FwCfg,
                text,
                previous: None,
            });
        }
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            log::warn!("config: cannot read fw_cfg {FW_CFG_PATH}: {e}");
        }
        Err(_) => {}
    }
    if let Some(device) = wait_for_boot_partition(disk_wait) {
        match read_from_partition(&device) {
            Ok(Some((text, previous))) => {
                return Ok(Source {
                    origin: Origin::BootPartition { device },
                    text,
                    previous,
                });
            }
            Ok(None) => log::info!("config: {device} ({BOOT_LABEL}) holds no router.toml"),
            Err(e) => log::warn!("config: cannot read {BOOT_LABEL} partition {device}: {e}"),
        }
    }
    let text = read_text(Path::new(BUILTIN_PATH))?;
    Ok(Source {
        origin: Origin::BuiltIn,
        text,
        previous: None,
    })
}

/// At most [`crate::config::MAX_BYTES`]: a bigger file is an error.
fn read_text(path: &Path) -> io::Result<String> {
    crate::config::read_file(path)
}

fn wait_for_boot_partition(wait: Duration) -> Option<String> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(device) = find_labelled(Path::new("/sys/class/block"), Path::new("/dev")) {
            return Some(device);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first block device (by its /dev path) holding a FAT file system
/// labelled [`BOOT_LABEL`].
fn find_labelled(sys_block: &Path, dev: &Path) -> Option<String> {
    let mut names: Vec<String> = fs::read_dir(sys_block)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // Loop, RAM and optical devices never carry the boot partition.
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram") && !n.starts_with("sr"))
        .collect();
    names.sort();
    names.into_iter().find_map(|name| {
        let path = dev.join(&name);
        let mut sector = [0u8; 512];
        let mut f = fs::File::open(&path).ok()?;
        f.read_exact(&mut sector).ok()?;
        (fat_label(&sector).as_deref() == Some(BOOT_LABEL))
            .then(|| path.to_string_lossy().into_owned())
    })
}

/// The volume label in a FAT boot sector, trimmed; `None` when the sector
/// is not a FAT boot sector.
///
/// FAT12/16 keep the extended boot record at offset 36, FAT32 at 64: in
/// both, a signature byte 0x29, the serial, then the 11-byte label, then the
/// 8-byte file-system type (`FAT16   `, `FAT32   `).
pub fn fat_label(sector: &[u8; 512]) -> Option<String> {
    if sector[510] != 0x55 || sector[511] != 0xAA {
        return None;
    }
    [36usize, 64].into_iter().find_map(|ebr| {
        let fs_type = &sector[ebr + 18..ebr + 26];
        if sector[ebr + 2] != 0x29 || !fs_type.starts_with(b"FAT") {
            return None;
        }
        let label = &sector[ebr + 7..ebr + 18];
        Some(String::from_utf8_lossy(label).trim_end().to_string())
    })
}

/// router.toml on the partition, and [`PREVIOUS`] when it is there and
/// readable (else the box just has nothing to fall back to).
/// Find the boot partition (waiting up to `disk_wait` for it) and mount
/// it read-only on [`BOOT_MOUNT`]; its device, or `None` when the box has
/// none. The updater reads it before the config is read.
pub fn mount_boot_partition(disk_wait: Duration) -> Option<String> {
    let device = wait_for_boot_partition(disk_wait)?;
    match mount_on_boot(&device) {
        Ok(()) => Some(device),
        Err(e) => {
            log::warn!("config: cannot mount {BOOT_LABEL} partition {device}: {e}");
            None
        }
    }
}

/// Mount `device` read-only on [`BOOT_MOUNT`], unless something is there.
fn mount_on_boot(device: &str) -> io::Result<()> {
    let target = PathBuf::from(BOOT_MOUNT);
    fs::create_dir_all(&target)?;
    let already = fs::read_to_string("/proc/self/mounts")
        .map(|m| m.lines().any(|l| l.split(' ').nth(1) == Some(BOOT_MOUNT)))
        .unwrap_or(false);
    if !already {
        mount(
            Some(device),
            &target,
            Some("vfat"),
            MsFlags::MS_RDONLY | BOOT_MOUNT_FLAGS,
            Some("utf8,shortname=mixed"),
        )
        .map_err(io::Error::from)?;
    }
    Ok(())
}

fn read_from_partition(device: &str) -> io::Result<Option<(String, Option<String>)>> {
    let target = PathBuf::from(BOOT_MOUNT);
    mount_on_boot(device)?;
    let text = match read_text(&target.join("router.toml")) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let previous = match read_text(&target.join(PREVIOUS)) {
        Ok(previous) => Some(previous),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            log::warn!("config: cannot read {BOOT_LABEL}:/{PREVIOUS}: {e}");
            None
        }
    };
    Ok(Some((text, previous)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot_sector(ebr: usize, label: &[u8; 11], fs_type: &[u8; 8]) -> [u8; 512] {
        let mut s = [0u8; 512];
        s[510] = 0x55;
        s[511] = 0xAA;
        s[ebr + 2] = 0x29;
        s[ebr + 7..ebr + 18].copy_from_slice(label);
        s[ebr + 18..ebr + 26].copy_from_slice(fs_type);
        s
    }

    #[test]
    fn reads_fat32_label() {
        let s = boot_sector(64, b"LVSBOOT    ", b"FAT32   ");
        assert_eq!(fat_label(&s).as_deref(), Some("LVSBOOT"));
    }

    #[test]
    fn reads_fat16_label() {
        let s = boot_sector(36, b"LVSBOOT    ", b"FAT16   ");
        assert_eq!(fat_label(&s).as_deref(), Some("LVSBOOT"));
    }

    #[test]
    fn rejects_sectors_that_are_not_fat() {
        let mut s = boot_sector(64, b"LVSBOOT    ", b"FAT32   ");
        s[511] = 0;
        assert_eq!(fat_label(&s), None, "no boot signature");
        let s = boot_sector(64, b"LVSBOOT    ", b"EXT4    ");
        assert_eq!(fat_label(&s), None, "not FAT");
        assert_eq!(fat_label(&[0u8; 512]), None, "empty");
    }

    #[test]
    fn finds_the_labelled_device_among_others() {
        let dir = std::env::temp_dir().join(format!("lvsinit-source-{}", std::process::id()));
        let sys = dir.join("sys");
        let dev = dir.join("dev");
        fs::create_dir_all(&sys).unwrap();
        fs::create_dir_all(&dev).unwrap();
        let other = boot_sector(64, b"DATA       ", b"FAT32   ");
        let ours = boot_sector(36, b"LVSBOOT    ", b"FAT16   ");
        for (name, sector) in [("vda", &[0u8; 512]), ("vda1", &other), ("vdb1", &ours)] {
            fs::create_dir_all(sys.join(name)).unwrap();
            fs::write(dev.join(name), sector).unwrap();
        }
        let found = find_labelled(&sys, &dev);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found, Some(dev.join("vdb1").to_string_lossy().into_owned()));
    }

    fn on_partition(text: &str, previous: Option<&str>) -> Source {
        Source {
            origin: Origin::BootPartition {
                device: "/dev/vda1".into(),
            },
            text: text.into(),
            previous: previous.map(Into::into),
        }
    }

    const VALID: &str = "hostname = \"lvs-new\"\n";
    const VALID_PREVIOUS: &str = "hostname = \"lvs-old\"\n";
    const INVALID: &str = "hostname = 5\n";
    const INVALID_PREVIOUS: &str = "hostnme = \"lvs-old\"\n";

    #[test]
    fn a_valid_router_toml_is_used_whatever_the_previous_one() {
        for previous in [None, Some(VALID_PREVIOUS), Some(INVALID_PREVIOUS)] {
            let loaded = load(&on_partition(VALID, previous)).unwrap();
            assert_eq!(loaded.config.hostname, "lvs-new");
            assert_eq!(loaded.text, VALID);
            assert_eq!(loaded.fallback, None);
        }
    }

    #[test]
    fn an_invalid_router_toml_falls_back_to_a_valid_previous_one() {
        let loaded = load(&on_partition(INVALID, Some(VALID_PREVIOUS))).unwrap();
        assert_eq!(loaded.config.hostname, "lvs-old");
        assert_eq!(loaded.text, VALID_PREVIOUS, "hashed as what runs");
        let fallback = loaded.fallback.expect("a fallback");
        assert_eq!(fallback.reason, "router.toml is invalid");
        assert_eq!(fallback.errors.len(), 1, "{:?}", fallback.errors);
        assert!(
            fallback.errors[0].starts_with("LVSBOOT:/router.toml:1:12: error: hostname:"),
            "router.toml's own diagnostics: {:?}",
            fallback.errors
        );
    }

    #[test]
    fn an_invalid_previous_one_leaves_router_toml_s_errors() {
        let errors = load(&on_partition(INVALID, Some(INVALID_PREVIOUS))).unwrap_err();
        let alone = load(&on_partition(INVALID, None)).unwrap_err();
        assert_eq!(errors, alone);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("LVSBOOT:/router.toml:"), "{errors:?}");
    }

    #[test]
    fn a_missing_previous_one_leaves_router_toml_invalid() {
        let errors = load(&on_partition(INVALID, None)).unwrap_err();
        assert!(errors[0].contains("hostname"), "{errors:?}");
    }

    #[test]
    fn diagnostics_name_a_router_toml() {
        for o in [
            Origin::FwCfg,
            Origin::BootPartition {
                device: "/dev/vda1".into(),
            },
            Origin::BuiltIn,
        ] {
            assert!(o.file_name().ends_with("router.toml"), "{o}");
        }
    }
}
