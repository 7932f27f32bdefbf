//! Writing files onto the boot partition (`LVSBOOT`, mounted read-only on
//! `/boot`) so that a power cut at any moment leaves a box that boots with
//! the old file or the new one: never none, never half of one.
//!
//! FAT has no journal, but a rename over an existing name is enough: the
//! kernel rewrites that name's one 32-byte directory entry to point at the
//! new file's clusters (a part of one sector, which a disk writes whole),
//! then removes the temporary name. So [`BootPartition::replace`] writes
//! the whole file as `NAME.tmp` and makes it durable (fsync) before it
//! takes NAME's place, and fsyncs the directory after. Until the rename
//! lands, NAME is the old file; after, the new one.
//!
//! One state a cut can leave is not clean: between those two directory
//! writes, `NAME.tmp` and NAME share their clusters ("cross-linked", says
//! fsck.fat). NAME is whole and the box boots, but removing or truncating
//! `NAME.tmp` would free NAME's data. A leftover temporary file is
//! therefore looked at first and never touched when it starts on NAME's
//! first block ([`Error::CrossLinked`] says to run fsck.fat); any other
//! leftover is removed.
//!
//! The partition is read-only except during a write: remounted read-write
//! for it and read-only again after, whatever happened, so that a cut
//! between writes finds nothing half-written in the FAT. The box's
//! partition takes one write at a time. A write blocks for as long as the
//! disk takes to fsync (a second on a slow USB stick): call it where that
//! delays nothing, never on the director's loop (`spawn_blocking`).
//!
//! For the kill tests, [`PAUSE_HOOK`] (a file only a test's extra
//! initramfs layer puts there; the production image never has it) names a
//! [`Point`] at which the write stops for good, so that the test can cut
//! the power (kill QEMU) exactly there.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::mount::{MsFlags, mount};

use crate::source::{self, BOOT_LABEL, BOOT_MOUNT};

/// The largest file read or written: a router.toml's own bound
/// (certificates and keys are far smaller).
pub const MAX_BYTES: usize = crate::config::MAX_BYTES;

/// The largest system image (an EFI kernel with its initramfs) written or
/// read: four times what router.img ships today, so that a partition of
/// 64 MiB still holds two slots, the fallback copy and a write in flight.
pub const MAX_IMAGE_BYTES: usize = 16 * 1024 * 1024;

/// The files that hold a system: the two slots and the removable-media
/// fallback the firmware boots when it knows no boot entry.
pub const SYSTEM_FILES: [&str; 3] = [
    "EFI/LVSINIT/A.EFI",
    "EFI/LVSINIT/B.EFI",
    "EFI/BOOT/BOOTX64.EFI",
];

/// The test layer's hook file: its content names the [`Point`] where a
/// write stops.
pub const PAUSE_HOOK: &str = "/etc/lvsinit/test-hooks/pause-write";

/// The suffix of the file a write goes through before its rename.
const TEMPORARY: &str = ".tmp";

/// Where the box's mount table is read, to find what is on `/boot`.
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One write at a time on the box's partition: a second one could
/// remount it read-only under the first.
static WRITING: Mutex<()> = Mutex::new(());

/// A point in [`BootPartition::replace`] where the test hook can stop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The copy of the current file has been renamed to the previous
    /// name (and the directory fsynced).
    AfterPrevious,
    /// `NAME.tmp` is written and fsynced; NAME is still the old file.
    AfterTemporary,
    /// NAME is the new file, its entry on the disk; the directory is not
    /// fsynced yet.
    AfterRename,
}

impl Point {
    pub const ALL: [Point; 3] = [
        Point::AfterPrevious,
        Point::AfterTemporary,
        Point::AfterRename,
    ];

    /// The name the hook file gives it.
    pub fn name(self) -> &'static str {
        match self {
            Point::AfterPrevious => "after-previous",
            Point::AfterTemporary => "after-temporary",
            Point::AfterRename => "after-rename",
        }
    }

    fn parse(text: &str) -> Option<Point> {
        Point::ALL.into_iter().find(|p| p.name() == text)
    }
}

/// What stops a write at a [`Point`]: forever on the box; a test's own
/// function on the host.
type Pause = Arc<dyn Fn(Point) + Send + Sync>;

/// The test hook: the file naming the point, and what happens there.
struct Hook {
    file: Option<PathBuf>,
    pause: Pause,
}

impl Hook {
    /// The point the hook file names now, if any. Read at each point (a
    /// stat when there is none): writes are rare.
    fn point(&self) -> Option<Point> {
        let file = self.file.as_ref()?;
        let text = fs::read_to_string(file).ok()?;
        let text = text.trim();
        let point = Point::parse(text);
        if point.is_none() {
            let names: Vec<&str> = Point::ALL.iter().map(|p| p.name()).collect();
            log::warn!(
                "boot partition: {}: unknown pause point {text:?} (test hook); expected one of {}",
                file.display(),
                names.join(", ")
            );
        }
        point
    }
}

/// The box's stop: the write never goes on, the test kills the machine.
fn pause_forever(_: Point) {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Why a read or write of the boot partition failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{BOOT_MOUNT} is mounted from {device}, which is {what}, not the FAT partition labelled {BOOT_LABEL}: nothing is written there"
    )]
    NotBootPartition { device: String, what: String },
    #[error(
        "{0:?} is not a name the boot partition keeps: use ASCII letters, digits, '.', '-' and '_', not starting with '.' nor ending in {TEMPORARY}"
    )]
    BadName(String),
    #[error("{name} and its previous copy need two different names")]
    SameName { name: String },
    #[error("{name}: {bytes} bytes or more; at most {MAX_BYTES} bytes are read or written")]
    TooBig { name: String, bytes: usize },
    #[error("{name}: {bytes} bytes; a system image is at most {MAX_IMAGE_BYTES} bytes")]
    ImageTooBig { name: String, bytes: usize },
    #[error(
        "{name}: {bytes} bytes do not fit: the boot partition has {free} bytes free; nothing was written"
    )]
    NoSpace {
        name: String,
        bytes: usize,
        free: u64,
    },
    #[error("cannot remount {} read-write: {errno}; nothing was written", dir.display())]
    RemountWritable { dir: PathBuf, errno: nix::Error },
    #[error(
        "cannot remount {} read-only again: {errno}; it stays writable until the next boot", dir.display()
    )]
    RemountReadOnly { dir: PathBuf, errno: nix::Error },
    #[error("{}: cannot {step}: {source}", path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "{} shares its clusters with {} (a power cut during an earlier rename): {} is whole, but removing the temporary file would free its data; run `fsck.fat -a` on the {BOOT_LABEL} partition from another machine, then write again",
        temporary.display(), name.display(), name.display()
    )]
    CrossLinked { temporary: PathBuf, name: PathBuf },
}

/// What `step` on `path` failed with, as an [`Error`].
fn io_error(step: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { step, path, source }
}

/// The boot partition, or a directory standing in for it in tests.
pub struct BootPartition {
    dir: PathBuf,
    /// The box's partition: remounted read-write for each write, one write
    /// at a time. A test's directory is written as it is.
    remount: bool,
    hook: Hook,
}

impl BootPartition {
    /// The box's boot partition on [`BOOT_MOUNT`]: `None` when nothing is
    /// mounted there (the partition was not found at boot, so the config
    /// came from fw_cfg or the built-in default); an error when what is
    /// mounted there is not a FAT file system labelled [`BOOT_LABEL`].
    pub fn mounted() -> Result<Option<BootPartition>, Error> {
        let mountinfo =
            fs::read_to_string(MOUNTINFO).map_err(io_error("read", Path::new(MOUNTINFO)))?;
        let Some((fstype, device)) = mounted_on(&mountinfo, BOOT_MOUNT) else {
            return Ok(None);
        };
        let not_ours = |what: String| Error::NotBootPartition {
            device: device.to_string(),
            what,
        };
        if fstype != "vfat" {
            return Err(not_ours(format!("a {fstype} file system")));
        }
        let mut sector = [0u8; 512];
        File::open(device)
            .and_then(|mut f| f.read_exact(&mut sector))
            .map_err(|e| not_ours(format!("unreadable ({e})")))?;
        match source::fat_label(&sector) {
            Some(label) if label == BOOT_LABEL => {}
            Some(label) => return Err(not_ours(format!("labelled {label:?}"))),
            None => return Err(not_ours("not a FAT boot sector".into())),
        }
        Ok(Some(BootPartition {
            dir: PathBuf::from(BOOT_MOUNT),
            remount: true,
            hook: Hook {
                file: Some(PathBuf::from(PAUSE_HOOK)),
                pause: Arc::new(pause_forever),
            },
        }))
    }

    /// A plain directory standing in for the partition (tests): written
    /// the same way, never remounted, no test hook.
    pub fn at_dir(dir: impl Into<PathBuf>) -> BootPartition {
        BootPartition {
            dir: dir.into(),
            remount: false,
            hook: Hook {
                file: None,
                pause: Arc::new(pause_forever),
            },
        }
    }

    /// Where its files are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file `name`; `None` when there is none.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        check_name(name)?;
        read_bounded(&self.dir.join(name), name)
    }

    /// Put `bytes` in the place of `name`, durably: after a power cut at
    /// any moment `name` is the old file or the new one, whole. With
    /// `keep_previous`, the current file (if there is one) is first kept,
    /// the same way, under that name (`router.toml.prev`), so that boot
    /// can fall back to it.
    ///
    /// The partition is writable only during the call; it is remounted
    /// read-only again whatever happened (when that fails it is logged:
    /// what was written is on the disk).
    pub fn replace(
        &self,
        name: &str,
        bytes: &[u8],
        keep_previous: Option<&str>,
    ) -> Result<(), Error> {
        check_name(name)?;
        if let Some(previous) = keep_previous {
            check_name(previous)?;
            // FAT names are case-insensitive.
            if previous.eq_ignore_ascii_case(name) {
                return Err(Error::SameName { name: name.into() });
            }
        }
        if bytes.len() > MAX_BYTES {
            return Err(Error::TooBig {
                name: name.into(),
                bytes: bytes.len(),
            });
        }
        self.writable(|| self.write(name, bytes, keep_previous))?;
        match keep_previous {
            Some(previous) => log::info!(
                "boot partition: wrote {name} ({} bytes), the one before kept as {previous}",
                bytes.len()
            ),
            None => log::info!("boot partition: wrote {name} ({} bytes)", bytes.len()),
        }
        Ok(())
    }

    /// The system file `name` (one of [`SYSTEM_FILES`]), bounded by
    /// [`MAX_IMAGE_BYTES`]; `None` when there is none.
    pub fn read_image(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let path = self.system_path(name)?;
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("open", &path)(e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_IMAGE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io_error("read", &path))?;
        if bytes.len() > MAX_IMAGE_BYTES {
            return Err(Error::ImageTooBig {
                name: name.into(),
                bytes: bytes.len(),
            });
        }
        Ok(Some(bytes))
    }

    /// Put the system image `bytes` in the place of `name` (one of
    /// [`SYSTEM_FILES`]) as [`Self::replace`] does a config: after a cut
    /// at any moment `name` is the old image or the new one, whole. The
    /// partition's free space is looked at first: an image that cannot
    /// fit changes nothing (and one that runs out of space half way is
    /// removed again).
    pub fn replace_image(&self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        let path = self.system_path(name)?;
        if bytes.len() > MAX_IMAGE_BYTES {
            return Err(Error::ImageTooBig {
                name: name.into(),
                bytes: bytes.len(),
            });
        }
        self.writable(|| {
            let dir = path.parent().unwrap_or(&self.dir);
            fs::create_dir_all(dir).map_err(io_error("create", dir))?;
            // A leftover of an earlier write would count against the room.
            clear_leftover(&temporary_of(&path), &path)?;
            let stat = nix::sys::statvfs::statvfs(&self.dir).map_err(|errno| Error::Io {
                step: "look at the free space of",
                path: self.dir.clone(),
                source: errno.into(),
            })?;
            let free = stat.blocks_available() as u64 * stat.fragment_size() as u64;
            // A cluster or so of slack for the directory entries.
            if bytes.len() as u64 + 64 * 1024 > free {
                return Err(Error::NoSpace {
                    name: name.into(),
                    bytes: bytes.len(),
                    free,
                });
            }
            let written = self.put(&path, bytes, None);
            if written.is_err() {
                let _ = fs::remove_file(temporary_of(&path));
            }
            written
        })?;
        log::info!("boot partition: wrote {name} ({} bytes)", bytes.len());
        Ok(())
    }

    /// Where the system file `name` is; an error for any other name.
    fn system_path(&self, name: &str) -> Result<PathBuf, Error> {
        if !SYSTEM_FILES.contains(&name) {
            return Err(Error::BadName(name.into()));
        }
        Ok(self.dir.join(name))
    }

    /// Run `write` with the box's partition writable, one write at a time;
    /// read-only again after, whatever happened.
    fn writable<T>(&self, write: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        let _one_at_a_time = self.remount.then(|| {
            WRITING
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        });
        self.remount(false)?;
        let written = write();
        if let Err(e) = self.remount(true) {
            log::error!("boot partition: {e}");
        }
        written
    }

    /// The steps of [`Self::replace`] between the remounts.
    fn write(&self, name: &str, bytes: &[u8], keep_previous: Option<&str>) -> Result<(), Error> {
        let path = self.dir.join(name);
        if let Some(previous) = keep_previous
            && let Some(current) = read_bounded(&path, name)?
        {
            self.put(&self.dir.join(previous), &current, None)?;
            self.reached(Point::AfterPrevious);
        }
        self.put(
            &path,
            bytes,
            Some((Point::AfterTemporary, Point::AfterRename)),
        )
    }

    /// Write `bytes` to `path` through `path.tmp`: written, fsynced,
    /// renamed over `path`, the directory fsynced. `points` are the hook's
    /// points after the fsync and after the rename, when this is the file
    /// the hook is for.
    fn put(&self, path: &Path, bytes: &[u8], points: Option<(Point, Point)>) -> Result<(), Error> {
        let temporary = temporary_of(path);
        clear_leftover(&temporary, path)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)
            .map_err(io_error("create", &temporary))?;
        file.write_all(bytes)
            .map_err(io_error("write", &temporary))?;
        file.sync_all().map_err(io_error("fsync", &temporary))?;
        drop(file);
        if let Some((written, _)) = points {
            self.reached(written);
        }
        fs::rename(&temporary, path).map_err(io_error("rename onto its name", &temporary))?;
        // The entry under its new name, and the FAT, on the disk.
        File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(io_error("fsync", path))?;
        if let Some((_, renamed)) = points {
            self.reached(renamed);
        }
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error("fsync", &self.dir))
    }

    /// The write is at `point`: stop there when the test hook says so.
    fn reached(&self, point: Point) {
        if self.hook.point() == Some(point) {
            log::warn!("boot partition: paused at {} (test hook)", point.name());
            (self.hook.pause)(point);
        }
    }

    /// Remount the box's partition read-only or read-write, keeping the
    /// flags it was mounted with; nothing for a test's directory.
    fn remount(&self, read_only: bool) -> Result<(), Error> {
        if !self.remount {
            return Ok(());
        }
        let mut flags = MsFlags::MS_REMOUNT | source::BOOT_MOUNT_FLAGS;
        if read_only {
            flags |= MsFlags::MS_RDONLY;
        } else {
            // vfat writes a renamed file's directory entry lazily, but
            // frees the clusters of the file it replaced when that goes:
            // without dirsync a cut between the two leaves the name on
            // freed clusters (found by the kill tests: the next delete
            // hits "deleting FAT entry beyond EOF" and the kernel turns
            // the partition read-only). With it the entry is written
            // inside the rename, before anything is freed.
            flags |= MsFlags::MS_DIRSYNC;
        }
        mount(None::<&str>, &self.dir, None::<&str>, flags, None::<&str>).map_err(|errno| {
            let dir = self.dir.clone();
            match read_only {
                true => Error::RemountReadOnly { dir, errno },
                false => Error::RemountWritable { dir, errno },
            }
        })
    }
}

/// A name this module writes: plain ASCII, which any FAT keeps as a long
/// name, never a path, never one of its own temporary files.
fn check_name(name: &str) -> Result<(), Error> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && !name.ends_with(TEMPORARY)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    match plain {
        true => Ok(()),
        false => Err(Error::BadName(name.into())),
    }
}

/// `path` with [`TEMPORARY`] added to its name.
fn temporary_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(TEMPORARY);
    PathBuf::from(name)
}

/// The file at `path`, at most [`MAX_BYTES`]; `None` when there is none.
fn read_bounded(path: &Path, name: &str) -> Result<Option<Vec<u8>>, Error> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("open", path)(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error("read", path))?;
    if bytes.len() > MAX_BYTES {
        return Err(Error::TooBig {
            name: name.into(),
            bytes: bytes.len(),
        });
    }
    Ok(Some(bytes))
}

/// Remove `temporary`, left by a write a power cut stopped, unless it
/// shares its clusters with `target` (see the module's doc).
fn clear_leftover(temporary: &Path, target: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(temporary) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("look at", temporary)(e)),
    }
    if let (Some(a), Some(b)) = (first_block(temporary), first_block(target))
        && a == b
    {
        return Err(Error::CrossLinked {
            temporary: temporary.into(),
            name: target.into(),
        });
    }
    log::warn!(
        "boot partition: removing {}, left by a write that did not finish",
        temporary.display()
    );
    fs::remove_file(temporary).map_err(io_error("remove", temporary))
}

/// The device block the file at `path` starts on, when the file system
/// tells (FIBMAP: FAT and ext4 do, tmpfs does not; root only); `None` for
/// an empty file or when it cannot tell.
fn first_block(path: &Path) -> Option<u32> {
    /// `_IO(0x00, 1)` in linux/fs.h.
    const FIBMAP: nix::libc::Ioctl = 1;
    let file = File::open(path).ok()?;
    // In: the file's block number (0); out: the device's.
    let mut block: nix::libc::c_int = 0;
    // SAFETY: FIBMAP reads and writes one int through the pointer, which
    // points to `block`, alive across the call; the descriptor is open.
    let rc = unsafe { nix::libc::ioctl(file.as_raw_fd(), FIBMAP, &mut block) };
    (rc == 0 && block > 0).then_some(block as u32)
}

/// The file system on `target` in mountinfo `text` (`proc(5)`): its type
/// and source device. The last one wins: it is the one on top.
pub(crate) fn mounted_on<'a>(text: &'a str, target: &str) -> Option<(&'a str, &'a str)> {
    text.lines().rev().find_map(|line| {
        // ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER
        let (left, right) = line.split_once(" - ")?;
        let point = left.split(' ').nth(4)?;
        let mut right = right.split(' ');
        let fstype = right.next()?;
        let device = right.next()?;
        (point == target).then_some((fstype, device))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::mpsc;

    /// A fresh directory standing in for the partition, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Dir {
            static N: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "lvsinit-boot-partition-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Dir(path)
        }

        fn write(&self, name: &str, text: &str) {
            fs::write(self.0.join(name), text).unwrap();
        }

        fn read(&self, name: &str) -> Option<String> {
            fs::read_to_string(self.0.join(name)).ok()
        }

        /// Its files' names, sorted.
        fn names(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(0o755));
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn replace_keeps_the_previous_file() {
        let dir = Dir::new();
        dir.write("router.toml", "old");
        let part = BootPartition::at_dir(&dir.0);
        part.replace("router.toml", b"new", Some("router.toml.prev"))
            .unwrap();
        assert_eq!(dir.names(), ["router.toml", "router.toml.prev"]);
        assert_eq!(dir.read("router.toml").as_deref(), Some("new"));
        assert_eq!(dir.read("router.toml.prev").as_deref(), Some("old"));
        part.replace("router.toml", b"newer", Some("router.toml.prev"))
            .unwrap();
        assert_eq!(dir.read("router.toml.prev").as_deref(), Some("new"));
        assert_eq!(
            part.read("router.toml").unwrap().as_deref(),
            Some(&b"newer"[..])
        );
    }

    #[test]
    fn replace_without_previous_or_without_a_current_file() {
        let dir = Dir::new();
        let part = BootPartition::at_dir(&dir.0);
        // Nothing to keep: no .prev appears.
        part.replace("router.toml", b"first", Some("router.toml.prev"))
            .unwrap();
        assert_eq!(dir.names(), ["router.toml"]);
        part.replace("mgmt.crt", b"cert", None).unwrap();
        part.replace("mgmt.crt", b"cert 2", None).unwrap();
        assert_eq!(dir.names(), ["mgmt.crt", "router.toml"]);
        assert_eq!(dir.read("mgmt.crt").as_deref(), Some("cert 2"));
        assert_eq!(part.read("mgmt.key").unwrap(), None);
    }

    #[test]
    fn leftovers_of_a_cut_are_removed() {
        let dir = Dir::new();
        dir.write("router.toml", "old");
        dir.write("router.toml.tmp", "half of a ne");
        dir.write("router.toml.prev.tmp", "ol");
        let part = BootPartition::at_dir(&dir.0);
        part.replace("router.toml", b"new", Some("router.toml.prev"))
            .unwrap();
        assert_eq!(dir.names(), ["router.toml", "router.toml.prev"]);
        assert_eq!(dir.read("router.toml").as_deref(), Some("new"));
        assert_eq!(dir.read("router.toml.prev").as_deref(), Some("old"));
    }

    #[test]
    fn distinct_files_are_never_cross_linked() {
        let dir = Dir::new();
        dir.write("router.toml", "old");
        dir.write("router.toml.tmp", "other");
        // Whatever the host's file system tells, two files never start on
        // the same block.
        clear_leftover(&dir.0.join("router.toml.tmp"), &dir.0.join("router.toml")).unwrap();
        assert_eq!(dir.names(), ["router.toml"]);
        assert_eq!(first_block(&dir.0.join("none")), None);
    }

    #[test]
    fn names_are_plain() {
        let dir = Dir::new();
        let part = BootPartition::at_dir(&dir.0);
        for bad in [
            "",
            "../etc/passwd",
            "a/b",
            ".hidden",
            "router.toml.tmp",
            "rüter.toml",
            "a b",
        ] {
            assert!(
                matches!(part.replace(bad, b"x", None), Err(Error::BadName(_))),
                "{bad:?}"
            );
            assert!(matches!(part.read(bad), Err(Error::BadName(_))), "{bad:?}");
        }
        assert!(matches!(
            part.replace("router.toml", b"x", Some("ROUTER.TOML")),
            Err(Error::SameName { .. })
        ));
        assert!(matches!(
            part.replace("router.toml", b"x", Some("a/b")),
            Err(Error::BadName(_))
        ));
        let big = vec![b'#'; MAX_BYTES + 1];
        assert!(matches!(
            part.replace("router.toml", &big, None),
            Err(Error::TooBig { .. })
        ));
        assert_eq!(dir.names(), Vec::<String>::new(), "nothing written");
    }

    #[test]
    fn an_unwritable_directory_is_reported_and_the_old_file_stays() {
        let part = BootPartition::at_dir("/nonexistent/lvsinit-boot");
        let text = part
            .replace("router.toml", b"new", None)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("/nonexistent/lvsinit-boot/router.toml.tmp: cannot create:"),
            "{text}"
        );
        let dir = Dir::new();
        dir.write("router.toml", "old");
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o555)).unwrap();
        // Mode bits stop all but root (CAP_DAC_OVERRIDE).
        if fs::write(dir.0.join("probe"), "").is_ok() {
            return;
        }
        let part = BootPartition::at_dir(&dir.0);
        let text = part
            .replace("router.toml", b"new", Some("router.toml.prev"))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("router.toml.prev.tmp: cannot create:"),
            "{text}"
        );
        assert_eq!(dir.read("router.toml").as_deref(), Some("old"));
    }

    #[test]
    fn mountinfo_names_what_is_on_boot() {
        let text = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec - proc proc rw
25 1 253:1 / /boot ro,nosuid,nodev,noexec shared:4 - vfat /dev/vda1 ro,fmask=0022,utf8
26 1 0:5 / /dev rw,nosuid - devtmpfs devtmpfs rw,mode=755
27 25 7:0 / /boot rw - ext4 /dev/loop0 rw
";
        assert_eq!(
            mounted_on(text, "/boot"),
            Some(("ext4", "/dev/loop0")),
            "the top one"
        );
        assert_eq!(
            mounted_on(&text[..text.find("27 25").unwrap()], "/boot"),
            Some(("vfat", "/dev/vda1"))
        );
        assert_eq!(mounted_on(text, "/mnt"), None);
        assert_eq!(mounted_on(text, "/bo"), None);
    }

    #[test]
    fn hook_points_by_name() {
        for p in Point::ALL {
            assert_eq!(Point::parse(p.name()), Some(p));
        }
        assert_eq!(Point::parse("after-everything"), None);
    }

    /// A partition in `dir` whose hook file is `hook` and whose pause
    /// reports the point on `tx`, then parks its thread for good (as the
    /// box's would), holding the write where it stopped.
    fn paused(dir: &Path, hook: &Path, tx: mpsc::Sender<Point>) -> BootPartition {
        let tx = Mutex::new(tx);
        BootPartition {
            dir: dir.into(),
            remount: false,
            hook: Hook {
                file: Some(hook.into()),
                pause: Arc::new(move |p| {
                    let _ = tx.lock().unwrap().send(p);
                    loop {
                        std::thread::park();
                    }
                }),
            },
        }
    }

    /// What a cut at each point leaves on the disk: the old file or the
    /// new one, whole, under `router.toml`.
    #[test]
    fn the_hook_stops_each_write_where_it_says() {
        let expected: [(Point, &str, &[&str], &str); 3] = [
            (
                Point::AfterPrevious,
                "old",
                &["hook", "router.toml", "router.toml.prev"],
                "old",
            ),
            (
                Point::AfterTemporary,
                "old",
                &["hook", "router.toml", "router.toml.prev", "router.toml.tmp"],
                "old",
            ),
            (
                Point::AfterRename,
                "new",
                &["hook", "router.toml", "router.toml.prev"],
                "old",
            ),
        ];
        for (point, now, names, previous) in expected {
            let dir = Dir::new();
            dir.write("router.toml", "old");
            dir.write("router.toml.prev", "older");
            let hook = dir.0.join("hook");
            fs::write(&hook, format!("{}\n", point.name())).unwrap();
            let (tx, rx) = mpsc::channel();
            let part = paused(&dir.0, &hook, tx);
            std::thread::spawn(move || {
                let _ = part.replace("router.toml", b"new", Some("router.toml.prev"));
            });
            let got = rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("no pause at {}: {e}", point.name()));
            assert_eq!(got, point);
            assert_eq!(dir.names(), names, "{}", point.name());
            assert_eq!(
                dir.read("router.toml").as_deref(),
                Some(now),
                "{}",
                point.name()
            );
            assert_eq!(
                dir.read("router.toml.prev").as_deref(),
                Some(previous),
                "{}",
                point.name()
            );
            if point == Point::AfterTemporary {
                assert_eq!(dir.read("router.toml.tmp").as_deref(), Some("new"));
            }
        }
    }

    #[test]
    fn no_hook_file_or_an_unknown_point_never_pauses() {
        let dir = Dir::new();
        let hook = dir.0.join("hook");
        let (tx, rx) = mpsc::channel();
        let part = paused(&dir.0, &hook, tx);
        part.replace("router.toml", b"one", None).unwrap();
        fs::write(&hook, "after-lunch").unwrap();
        part.replace("router.toml", b"two", None).unwrap();
        assert!(rx.try_recv().is_err());
        assert_eq!(dir.read("router.toml").as_deref(), Some("two"));
    }
}
