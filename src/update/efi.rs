//! The UEFI boot manager's variables, as efibootmgr knows them: `BootCurrent`
//! (the entry this boot came from), `BootNext` (the entry to boot once,
//! next time only), `BootOrder` and the entries `Boot####` themselves, each
//! an `EFI_LOAD_OPTION` whose device path names a partition and a file on
//! it: `HD(1,GPT,<partition GUID>,0x800,0x10000)/File(\EFI\LVSINIT\B.EFI)`.
//!
//! An A/B update writes the slot that is not running, finds or adds the
//! entry that boots it ([`BootManager::find_or_add`]), boots it once
//! through `BootNext` (a new system that hangs or panics is reset by the
//! watchdog and the firmware goes back to `BootOrder`, the old system), and
//! a system that comes up good puts its own entry first in `BootOrder`
//! ([`BootManager::put_first`]). Nothing here decides; it reads and writes
//! what the update logic asks for, and tells which file is running
//! ([`BootManager::running_file`]).
//!
//! The variables are files under efivarfs (`/sys/firmware/efi/efivars`,
//! mounted by PID 1 on a UEFI boot), named `Name-GUID`, each holding the
//! variable's 4-byte attributes (little-endian) and then its data.
//! [`Efivars`] takes its directory, so tests run on a plain temporary one.
//!
//! The partition part of a device path is the firmware's own view of the
//! disk: the partition's number, its first block and length in the disk's
//! logical blocks, and its unique GUID from the GPT.
//! [`HardDrive::of_partition`] reads them from sysfs and from the GPT on
//! the disk, every size and count from the disk bounded before use.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::libc::c_long;

use crate::source::BOOT_MOUNT;

/// Where PID 1 mounts efivarfs.
pub const EFIVARS: &str = "/sys/firmware/efi/efivars";

/// `EFI_GLOBAL_VARIABLE`: the vendor GUID of the boot manager's variables.
pub const GLOBAL_VARIABLE: Guid = Guid::from_fields(
    0x8be4_df61,
    0x93ca,
    0x11d2,
    [0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c],
);

/// Variable attributes (UEFI spec, `SetVariable()`): kept across a power
/// cut, seen by boot services (the boot manager reads it), seen after
/// `ExitBootServices()` (the running kernel reads and writes it).
pub const NON_VOLATILE: u32 = 0x0000_0001;
pub const BOOTSERVICE_ACCESS: u32 = 0x0000_0002;
pub const RUNTIME_ACCESS: u32 = 0x0000_0004;
/// What the boot manager's own variables carry: all three.
pub const BOOT_ATTRIBUTES: u32 = NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS;

/// `LOAD_OPTION_ACTIVE`: the boot manager may boot the entry from
/// `BootOrder` (efibootmgr `-a`/`-A` set and clear it).
pub const LOAD_OPTION_ACTIVE: u32 = 0x0000_0001;

/// The largest variable read: boot entries are some hundred bytes and a
/// firmware's whole variable store is commonly 64 KiB to 256 KiB, so a
/// bigger one is not a boot variable.
pub const MAX_VARIABLE: usize = 64 * 1024;

/// The longest file path a device path is made for, in UTF-16 units: far
/// more than `\EFI\LVSINIT\A.EFI`, and it keeps a node inside its 16-bit
/// length.
pub const MAX_FILE_PATH: usize = 1024;

/// Bounds on a GPT read from a disk, which is not trusted: the spec's
/// smallest array is 128 entries of 128 bytes; tools make it no bigger
/// than this, and nothing larger is read.
const MAX_GPT_ENTRIES: u32 = 1024;
const MAX_GPT_ENTRY_SIZE: u32 = 4096;
const MAX_GPT_ARRAY_BYTES: u64 = 1024 * 1024;

/// Why a variable, a partition or a GPT could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot {step}: {source}", path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{}: {why}", path.display())]
    BadVariable { path: PathBuf, why: String },
    #[error(
        "{}: wrote {written} of {bytes} bytes: efivarfs takes a variable in one write, so the firmware may have kept nothing or a variable of its own",
        path.display()
    )]
    ShortWrite {
        path: PathBuf,
        written: usize,
        bytes: usize,
    },
    #[error("{}: {why}", path.display())]
    BadPartition { path: PathBuf, why: String },
    #[error("{}: {why}", disk.display())]
    BadGpt { disk: PathBuf, why: String },
    #[error(
        "every Boot#### number from Boot0000 to BootFFFF is taken: remove unused entries (efibootmgr -b NUM -B)"
    )]
    NoFreeNumber,
}

/// What `step` on `path` failed with, as an [`Error`].
fn io_error(step: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { step, path, source }
}

/// Why bytes are not a load option or device path: what is wrong, for
/// the message of the variable they came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub &'static str);

/// A GUID in the byte order UEFI stores it (and the GPT, and device
/// paths): the first three fields little-endian, the last eight bytes as
/// they are. Shown in the usual text form, as blkid's PARTUUID and
/// efibootmgr show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// The GUID written `a-b-c-d[0..2]-d[2..8]` in text.
    pub const fn from_fields(a: u32, b: u16, c: u16, d: [u8; 8]) -> Guid {
        let a = a.to_le_bytes();
        let b = b.to_le_bytes();
        let c = c.to_le_bytes();
        Guid([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5],
            d[6], d[7],
        ])
    }

    /// The GUID in text form (either case), as in an efivarfs file name.
    pub fn parse(text: &str) -> Option<Guid> {
        let groups: Vec<&str> = text.split('-').collect();
        let widths = [8, 4, 4, 4, 12];
        if groups.len() != 5
            || groups
                .iter()
                .zip(widths)
                .any(|(g, w)| g.len() != w || !g.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return None;
        }
        let a = u32::from_str_radix(groups[0], 16).ok()?;
        let b = u16::from_str_radix(groups[1], 16).ok()?;
        let c = u16::from_str_radix(groups[2], 16).ok()?;
        let tail = format!("{}{}", groups[3], groups[4]);
        let mut d = [0u8; 8];
        for (i, byte) in d.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&tail[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Guid::from_fields(a, b, c, d))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-",
            u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
            u16::from_le_bytes([g[4], g[5]]),
            u16::from_le_bytes([g[6], g[7]])
        )?;
        for (i, b) in g[8..].iter().enumerate() {
            if i == 2 {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

// --- device paths -----------------------------------------------------------

/// Device path node types and subtypes (UEFI spec, "Device Path
/// Protocol"): media nodes, and the end nodes.
const MEDIA: u8 = 0x04;
const MEDIA_HARD_DRIVE: u8 = 0x01;
const MEDIA_FILE_PATH: u8 = 0x04;
const END: u8 = 0x7f;
/// The end of the whole path (`0xff`); `0x01` only ends one instance of
/// several, and is kept as any other node.
const END_ENTIRE: u8 = 0xff;
/// A Hard Drive node: 4-byte header, number, start, size, signature, MBR
/// type, signature type.
const HARD_DRIVE_LENGTH: usize = 4 + 4 + 8 + 8 + 16 + 1 + 1;
/// Its partition format and signature type for a GPT partition.
const MBR_TYPE_GPT: u8 = 0x02;
const SIGNATURE_GUID: u8 = 0x02;

/// A GPT partition as the firmware sees it: the Hard Drive media node,
/// efibootmgr's `HD(number,GPT,guid,start,size)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardDrive {
    /// The partition's number on its disk, from 1 (`/dev/vda1` is 1).
    pub number: u32,
    /// Its first logical block.
    pub start: u64,
    /// Its length in logical blocks.
    pub size: u64,
    /// The partition's unique GUID (its PARTUUID), as the GPT entry holds
    /// it: the firmware finds the partition by this.
    pub guid: Guid,
}

/// One node of a device path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    HardDrive(HardDrive),
    /// A File Path node: the file on the partition before it, with
    /// backslashes (`\EFI\LVSINIT\A.EFI`).
    File(String),
    /// Any other node (PCI, SCSI, an MBR partition, a vendor's, the end of
    /// one instance), kept as its bytes so that a path reads back as it
    /// was written.
    Other {
        kind: u8,
        subtype: u8,
        data: Vec<u8>,
    },
}

/// A device path: its nodes, up to the End node (not kept: every path has
/// exactly one, last). Made only by [`DevicePath::file_on`] and
/// [`DevicePath::parse`], so that its bytes always fit the 16-bit lengths
/// of its nodes and of a load option's path list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePath {
    nodes: Vec<Node>,
}

impl DevicePath {
    /// The path of the file `file` (`\EFI\LVSINIT\A.EFI`) on `partition`:
    /// what an entry the update adds boots. The file is named from the
    /// partition's root with backslashes, as FAT and the firmware want it.
    pub fn file_on(partition: &HardDrive, file: &str) -> Result<DevicePath, Malformed> {
        if !file.starts_with('\\') {
            return Err(Malformed(
                "a file path starts at the partition's root: \\EFI\\...",
            ));
        }
        if file.contains('/') || file.contains('\0') {
            return Err(Malformed(
                "a file path is written with backslashes and no NUL",
            ));
        }
        if file.encode_utf16().count() > MAX_FILE_PATH {
            return Err(Malformed("file path too long"));
        }
        Ok(DevicePath {
            nodes: vec![
                Node::HardDrive(partition.clone()),
                Node::File(file.to_string()),
            ],
        })
    }

    /// The nodes, without the End node.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The file the path boots: its first File Path node. FAT names are
    /// case-insensitive: compare with `eq_ignore_ascii_case`.
    pub fn file(&self) -> Option<&str> {
        self.nodes.iter().find_map(|n| match n {
            Node::File(f) => Some(f.as_str()),
            _ => None,
        })
    }

    /// The GPT partition the path is on: its first Hard Drive node.
    pub fn hard_drive(&self) -> Option<&HardDrive> {
        self.nodes.iter().find_map(|n| match n {
            Node::HardDrive(h) => Some(h),
            _ => None,
        })
    }

    /// The path as the firmware stores it, End node included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for node in &self.nodes {
            match node {
                Node::HardDrive(h) => {
                    put_node_header(&mut out, MEDIA, MEDIA_HARD_DRIVE, HARD_DRIVE_LENGTH);
                    out.extend_from_slice(&h.number.to_le_bytes());
                    out.extend_from_slice(&h.start.to_le_bytes());
                    out.extend_from_slice(&h.size.to_le_bytes());
                    out.extend_from_slice(&h.guid.0);
                    out.push(MBR_TYPE_GPT);
                    out.push(SIGNATURE_GUID);
                }
                Node::File(path) => {
                    let text = utf16_nul(path);
                    put_node_header(&mut out, MEDIA, MEDIA_FILE_PATH, 4 + text.len());
                    out.extend_from_slice(&text);
                }
                Node::Other {
                    kind,
                    subtype,
                    data,
                } => {
                    put_node_header(&mut out, *kind, *subtype, 4 + data.len());
                    out.extend_from_slice(data);
                }
            }
        }
        put_node_header(&mut out, END, END_ENTIRE, 4);
        out
    }

    /// A device path list (a load option's `FilePathList`): nodes up to
    /// the End node, which must close the list exactly.
    pub fn parse(bytes: &[u8]) -> Result<DevicePath, Malformed> {
        let mut nodes = Vec::new();
        let mut rest = bytes;
        loop {
            if rest.len() < 4 {
                return Err(Malformed("device path without its End node"));
            }
            let (kind, subtype) = (rest[0], rest[1]);
            let length = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
            if length < 4 {
                return Err(Malformed("device path node shorter than its header"));
            }
            if length > rest.len() {
                return Err(Malformed("device path node longer than the path"));
            }
            let data = &rest[4..length];
            rest = &rest[length..];
            if (kind, subtype) == (END, END_ENTIRE) {
                if length != 4 {
                    return Err(Malformed("End node with data"));
                }
                if !rest.is_empty() {
                    return Err(Malformed("bytes after the device path's End node"));
                }
                return Ok(DevicePath { nodes });
            }
            nodes.push(decode_node(kind, subtype, data));
        }
    }
}

/// Write a node's header: type, subtype, length (the node's, header
/// included).
fn put_node_header(out: &mut Vec<u8>, kind: u8, subtype: u8, length: usize) {
    out.push(kind);
    out.push(subtype);
    // Lengths are bounded where paths are made (file_on, parse).
    out.extend_from_slice(&(length as u16).to_le_bytes());
}

/// One node's data as a [`Node`]: a Hard Drive node only for a GPT
/// partition, a File Path only when it decodes and re-encodes to the same
/// bytes; anything else stays [`Node::Other`].
fn decode_node(kind: u8, subtype: u8, data: &[u8]) -> Node {
    match (kind, subtype) {
        (MEDIA, MEDIA_HARD_DRIVE)
            if data.len() == HARD_DRIVE_LENGTH - 4
                && data[36] == MBR_TYPE_GPT
                && data[37] == SIGNATURE_GUID =>
        {
            Node::HardDrive(HardDrive {
                number: u32_at(data, 0),
                start: u64_at(data, 4),
                size: u64_at(data, 12),
                guid: Guid(data[20..36].try_into().expect("16 bytes")),
            })
        }
        // Only a path that reads back to the same bytes: NUL last and
        // nowhere else, valid UTF-16.
        (MEDIA, MEDIA_FILE_PATH) => match utf16_until_nul(data) {
            Some((units, used)) if used == data.len() => match String::from_utf16(&units) {
                Ok(text) => Node::File(text),
                Err(_) => other(kind, subtype, data),
            },
            _ => other(kind, subtype, data),
        },
        _ => other(kind, subtype, data),
    }
}

fn other(kind: u8, subtype: u8, data: &[u8]) -> Node {
    Node::Other {
        kind,
        subtype,
        data: data.to_vec(),
    }
}

/// efibootmgr's way of writing a path:
/// `HD(1,GPT,<guid>,0x800,0x10000)/File(\EFI\LVSINIT\A.EFI)`; nodes it
/// does not name are `Path(type,subtype,data in hex)`.
impl fmt::Display for DevicePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, node) in self.nodes.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            match node {
                Node::HardDrive(h) => write!(
                    f,
                    "HD({},GPT,{},{:#x},{:#x})",
                    h.number, h.guid, h.start, h.size
                )?,
                Node::File(path) => write!(f, "File({path})")?,
                Node::Other {
                    kind,
                    subtype,
                    data,
                } => {
                    write!(f, "Path({kind},{subtype}")?;
                    if !data.is_empty() {
                        f.write_str(",")?;
                        for b in data {
                            write!(f, "{b:02x}")?;
                        }
                    }
                    f.write_str(")")?;
                }
            }
        }
        Ok(())
    }
}

// --- load options -----------------------------------------------------------

/// A boot entry, `Boot####`: an `EFI_LOAD_OPTION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOption {
    /// [`LOAD_OPTION_ACTIVE`] and the rest of the spec's bits, as read.
    pub attributes: u32,
    /// What the firmware's boot menu and efibootmgr show. Decoded from
    /// UTF-16 with U+FFFD for what does not decode.
    pub description: String,
    pub device_path: DevicePath,
    /// Whatever follows the path (arguments for the loaded image); none
    /// in the entries the update adds.
    pub optional_data: Vec<u8>,
}

impl LoadOption {
    /// An active entry booting `device_path`, without optional data.
    pub fn new(description: &str, device_path: DevicePath) -> LoadOption {
        LoadOption {
            attributes: LOAD_OPTION_ACTIVE,
            description: description.to_string(),
            device_path,
            optional_data: Vec::new(),
        }
    }

    pub fn is_active(&self) -> bool {
        self.attributes & LOAD_OPTION_ACTIVE != 0
    }

    /// The variable's data: attributes, `FilePathListLength`, the
    /// description (UTF-16LE, NUL-terminated), the path list, the optional
    /// data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let path = self.device_path.to_bytes();
        let mut out = Vec::with_capacity(6 + 2 * self.description.len() + 2 + path.len());
        out.extend_from_slice(&self.attributes.to_le_bytes());
        // A path is never longer than 16 bits can say (see DevicePath).
        out.extend_from_slice(&(path.len() as u16).to_le_bytes());
        out.extend_from_slice(&utf16_nul(&self.description));
        out.extend_from_slice(&path);
        out.extend_from_slice(&self.optional_data);
        out
    }

    /// A `Boot####` variable's data.
    pub fn parse(bytes: &[u8]) -> Result<LoadOption, Malformed> {
        if bytes.len() < 6 {
            return Err(Malformed("load option shorter than its fixed fields"));
        }
        let attributes = u32_at(bytes, 0);
        let path_length = usize::from(u16::from_le_bytes([bytes[4], bytes[5]]));
        let (description, used) = utf16_until_nul(&bytes[6..])
            .ok_or(Malformed("load option description without its NUL"))?;
        let description = String::from_utf16_lossy(&description);
        let path_start = 6 + used;
        let path_end = path_start + path_length;
        if path_end > bytes.len() {
            return Err(Malformed("load option's path list longer than the option"));
        }
        let device_path = DevicePath::parse(&bytes[path_start..path_end])?;
        Ok(LoadOption {
            attributes,
            description,
            device_path,
            optional_data: bytes[path_end..].to_vec(),
        })
    }
}

/// `text` in UTF-16LE with a NUL after it.
fn utf16_nul(text: &str) -> Vec<u8> {
    text.encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// The UTF-16LE units at the start of `bytes` up to their first NUL, and
/// how many bytes they took with the NUL; `None` without a NUL.
fn utf16_until_nul(bytes: &[u8]) -> Option<(Vec<u16>, usize)> {
    let mut units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let end = units.iter().position(|&u| u == 0)?;
    units.truncate(end);
    Some((units, 2 * (end + 1)))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

// --- efivarfs ---------------------------------------------------------------

/// `FS_IMMUTABLE_FL` of linux/fs.h: efivarfs sets it on every variable
/// the firmware does not mark as safe to remove, so that `rm -rf /` cannot
/// brick a machine; it must be cleared to write or remove the file.
const FS_IMMUTABLE_FL: c_long = 0x0000_0010;

// `FS_IOC_GETFLAGS` and `FS_IOC_SETFLAGS`, `_IOR('f', 1, long)` and
// `_IOW('f', 2, long)`: the number says `long`, the kernel moves an `int`
// through the pointer, which a zeroed `long` holds on little-endian x86_64.
nix::ioctl_read!(fs_ioc_getflags, b'f', 1, c_long);
nix::ioctl_write_ptr!(fs_ioc_setflags, b'f', 2, c_long);

/// One variable: its attributes and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub attributes: u32,
    pub data: Vec<u8>,
}

/// The firmware's variables, as efivarfs files in a directory.
#[derive(Debug, Clone)]
pub struct Efivars {
    root: PathBuf,
}

impl Efivars {
    /// The variables in `root`: [`EFIVARS`] on the box, a temporary
    /// directory in tests.
    pub fn at(root: impl Into<PathBuf>) -> Efivars {
        Efivars { root: root.into() }
    }

    /// The box's variables, in [`EFIVARS`].
    pub fn system() -> Efivars {
        Efivars::at(EFIVARS)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of the variable `name` of vendor `guid`.
    pub fn path(&self, name: &str, guid: &Guid) -> PathBuf {
        self.root.join(format!("{name}-{guid}"))
    }

    /// The variable; `None` when there is none.
    pub fn read(&self, name: &str, guid: &Guid) -> Result<Option<Variable>, Error> {
        let path = self.path(name, guid);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("open", &path)(e)),
        };
        let mut bytes = Vec::new();
        file.take(4 + MAX_VARIABLE as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io_error("read", &path))?;
        if bytes.len() > 4 + MAX_VARIABLE {
            return Err(Error::BadVariable {
                path,
                why: format!("more than {MAX_VARIABLE} bytes of data: not a boot variable"),
            });
        }
        if bytes.len() < 4 {
            return Err(Error::BadVariable {
                path,
                why: format!(
                    "{} bytes: shorter than the 4 bytes of its attributes",
                    bytes.len()
                ),
            });
        }
        Ok(Some(Variable {
            attributes: u32_at(&bytes, 0),
            data: bytes[4..].to_vec(),
        }))
    }

    /// Set the variable to `data` with `attributes`. efivarfs hands each
    /// write(2) to the firmware as one `SetVariable()`, so attributes and
    /// data go in a single write: a second write would be a second
    /// variable, not the rest of this one. An existing variable's file is
    /// immutable: the flag is cleared for the write and set again after.
    pub fn write(
        &self,
        name: &str,
        guid: &Guid,
        attributes: u32,
        data: &[u8],
    ) -> Result<(), Error> {
        let path = self.path(name, guid);
        let mut bytes = Vec::with_capacity(4 + data.len());
        bytes.extend_from_slice(&attributes.to_le_bytes());
        bytes.extend_from_slice(data);
        let was_immutable = match File::open(&path) {
            Ok(file) => {
                clear_immutable(&file).map_err(io_error("clear the immutable flag of", &path))?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_error("open", &path)(e)),
        };
        // No O_TRUNC: efivarfs replaces the variable with what one write
        // says; truncating would be a write of its own.
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error("open for writing", &path))?;
        let written = write_once(&mut file, &path, &bytes);
        // Immutable again whatever the write did.
        if was_immutable && let Err(e) = set_immutable(&file) {
            log::warn!(
                "efi: {}: cannot set the immutable flag again: {e}",
                path.display()
            );
        }
        written
    }

    /// Remove the variable (nothing when there is none).
    pub fn delete(&self, name: &str, guid: &Guid) -> Result<(), Error> {
        let path = self.path(name, guid);
        match File::open(&path) {
            Ok(file) => {
                clear_immutable(&file).map_err(io_error("clear the immutable flag of", &path))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("open", &path)(e)),
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove", &path)(e)),
        }
    }

    /// The names of vendor `guid`'s variables, sorted.
    pub fn names(&self, guid: &Guid) -> Result<Vec<String>, Error> {
        let suffix = format!("-{guid}");
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_error("list", &self.root))? {
            let entry = entry.map_err(io_error("list", &self.root))?;
            let file = entry.file_name();
            let Some(file) = file.to_str() else { continue };
            if let Some(name) = file.strip_suffix(&suffix)
                && !name.is_empty()
            {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Write `bytes` to a variable's `file` in one write(2).
fn write_once(file: &mut File, path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let written = file.write(bytes).map_err(io_error("write", path))?;
    if written != bytes.len() {
        return Err(Error::ShortWrite {
            path: path.into(),
            written,
            bytes: bytes.len(),
        });
    }
    // efivarfs sizes the file to the new value itself; a plain file
    // standing in for a variable (tests) keeps the tail of a longer old
    // value, cut here.
    let length = file.metadata().map_err(io_error("stat", path))?.len();
    if length > written as u64 {
        file.set_len(written as u64)
            .map_err(io_error("truncate", path))?;
    }
    Ok(())
}

/// The file system does not keep inode flags at all (some temporary
/// directories): nothing to clear, nothing to set.
fn unsupported(errno: Errno) -> bool {
    matches!(errno, Errno::ENOTTY | Errno::EOPNOTSUPP)
}

/// The file's inode flags; `None` when its file system keeps none.
fn flags(file: &File) -> io::Result<Option<c_long>> {
    let mut flags: c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes at most a long through the pointer,
    // which points at `flags`, alive for the call; the descriptor is open.
    match unsafe { fs_ioc_getflags(file.as_raw_fd(), &mut flags) } {
        Ok(_) => Ok(Some(flags)),
        Err(e) if unsupported(e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn set_flags(file: &File, flags: c_long) -> io::Result<()> {
    // SAFETY: FS_IOC_SETFLAGS reads at most a long through the pointer,
    // which points at `flags`, alive for the call; the descriptor is open.
    unsafe { fs_ioc_setflags(file.as_raw_fd(), &flags) }?;
    Ok(())
}

/// Clear the immutable flag; whether it was set.
fn clear_immutable(file: &File) -> io::Result<bool> {
    match flags(file)? {
        Some(f) if f & FS_IMMUTABLE_FL != 0 => {
            set_flags(file, f & !FS_IMMUTABLE_FL)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn set_immutable(file: &File) -> io::Result<()> {
    match flags(file)? {
        Some(f) => set_flags(file, f | FS_IMMUTABLE_FL),
        None => Ok(()),
    }
}

// --- the boot manager -------------------------------------------------------

/// The name of entry `n`: `Boot` and four uppercase hex digits, as the
/// spec writes them (`Boot000A`, never `Boot000a`).
pub fn boot_name(n: u16) -> String {
    format!("Boot{n:04X}")
}

/// The number of a `Boot####` name, either case (what another tool wrote
/// is taken all the same).
fn boot_number(name: &str) -> Option<u16> {
    let hex = name.strip_prefix("Boot")?;
    (hex.len() == 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u16::from_str_radix(hex, 16).ok())
        .flatten()
}

/// The boot manager's variables: what the update logic reads and sets.
#[derive(Debug, Clone)]
pub struct BootManager {
    vars: Efivars,
}

impl BootManager {
    pub fn new(vars: Efivars) -> BootManager {
        BootManager { vars }
    }

    /// The box's boot manager, through [`EFIVARS`].
    pub fn system() -> BootManager {
        BootManager::new(Efivars::system())
    }

    pub fn efivars(&self) -> &Efivars {
        &self.vars
    }

    /// The global variable `name`'s data, `None` when there is none.
    fn data(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.vars.read(name, &GLOBAL_VARIABLE)?.map(|v| v.data))
    }

    /// A variable holding one entry number (`BootCurrent`, `BootNext`).
    fn number(&self, name: &str) -> Result<Option<u16>, Error> {
        let Some(data) = self.data(name)? else {
            return Ok(None);
        };
        match <[u8; 2]>::try_from(data.as_slice()) {
            Ok(two) => Ok(Some(u16::from_le_bytes(two))),
            Err(_) => Err(Error::BadVariable {
                path: self.vars.path(name, &GLOBAL_VARIABLE),
                why: format!("{} bytes, not the 2 of an entry number", data.len()),
            }),
        }
    }

    /// The entry this boot came from; `None` when the firmware did not say
    /// (a `-kernel` boot, or firmware without a boot manager).
    pub fn boot_current(&self) -> Result<Option<u16>, Error> {
        self.number("BootCurrent")
    }

    /// The entry the next boot, and only that one, will take.
    pub fn boot_next(&self) -> Result<Option<u16>, Error> {
        self.number("BootNext")
    }

    /// Boot entry `n` next time, once; the firmware removes `BootNext`
    /// as it takes it, so the boot after falls back to `BootOrder`.
    pub fn set_boot_next(&self, n: u16) -> Result<(), Error> {
        self.vars.write(
            "BootNext",
            &GLOBAL_VARIABLE,
            BOOT_ATTRIBUTES,
            &n.to_le_bytes(),
        )?;
        log::info!("efi: BootNext is now {}", boot_name(n));
        Ok(())
    }

    /// The entries the firmware tries, in order; empty when there is no
    /// `BootOrder`.
    pub fn boot_order(&self) -> Result<Vec<u16>, Error> {
        let Some(data) = self.data("BootOrder")? else {
            return Ok(Vec::new());
        };
        if data.len() % 2 != 0 {
            return Err(Error::BadVariable {
                path: self.vars.path("BootOrder", &GLOBAL_VARIABLE),
                why: format!("{} bytes: not a list of 2-byte entry numbers", data.len()),
            });
        }
        Ok(data
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect())
    }

    /// Set `BootOrder` to `order` (an empty order removes the variable:
    /// efivarfs cannot hold an empty one).
    pub fn set_boot_order(&self, order: &[u16]) -> Result<(), Error> {
        if order.is_empty() {
            self.vars.delete("BootOrder", &GLOBAL_VARIABLE)?;
        } else {
            let data: Vec<u8> = order.iter().flat_map(|n| n.to_le_bytes()).collect();
            self.vars
                .write("BootOrder", &GLOBAL_VARIABLE, BOOT_ATTRIBUTES, &data)?;
        }
        let names: Vec<String> = order.iter().map(|&n| format!("{n:04X}")).collect();
        log::info!("efi: BootOrder is now {}", names.join(","));
        Ok(())
    }

    /// Entry `n`; `None` when there is none.
    pub fn entry(&self, n: u16) -> Result<Option<LoadOption>, Error> {
        let name = boot_name(n);
        let Some(data) = self.data(&name)? else {
            return Ok(None);
        };
        LoadOption::parse(&data)
            .map(Some)
            .map_err(|why| Error::BadVariable {
                path: self.vars.path(&name, &GLOBAL_VARIABLE),
                why: why.to_string(),
            })
    }

    /// Write entry `n`.
    pub fn set_entry(&self, n: u16, option: &LoadOption) -> Result<(), Error> {
        self.vars.write(
            &boot_name(n),
            &GLOBAL_VARIABLE,
            BOOT_ATTRIBUTES,
            &option.to_bytes(),
        )?;
        log::info!(
            "efi: {} is now {:?} {}",
            boot_name(n),
            option.description,
            option.device_path
        );
        Ok(())
    }

    /// The numbers of the entries there are, sorted.
    pub fn entries(&self) -> Result<Vec<u16>, Error> {
        let numbers: BTreeSet<u16> = self
            .vars
            .names(&GLOBAL_VARIABLE)?
            .iter()
            .filter_map(|n| boot_number(n))
            .collect();
        Ok(numbers.into_iter().collect())
    }

    /// The entry booting `device_path`: an existing one whose path is the
    /// same bytes (made active and given `description` when it is not
    /// already), else a new one under the lowest free number. Not added to
    /// `BootOrder`: a new slot is tried through `BootNext`, and put first
    /// only once it is good. Entries that do not decode are left alone
    /// (their numbers stay taken).
    pub fn find_or_add(&self, description: &str, device_path: &DevicePath) -> Result<u16, Error> {
        let wanted = LoadOption::new(description, device_path.clone());
        let path_bytes = device_path.to_bytes();
        let taken = self.entries()?;
        for &n in &taken {
            let option = match self.entry(n) {
                Ok(Some(option)) => option,
                Ok(None) => continue,
                Err(e) => {
                    log::warn!("efi: {e}; left as it is");
                    continue;
                }
            };
            if option.device_path.to_bytes() != path_bytes {
                continue;
            }
            if !option.is_active() || option.description != description {
                self.set_entry(n, &wanted)?;
            }
            return Ok(n);
        }
        let free = (0..=u16::MAX)
            .find(|n| taken.binary_search(n).is_err())
            .ok_or(Error::NoFreeNumber)?;
        self.set_entry(free, &wanted)?;
        Ok(free)
    }

    /// Make entry `n` the first the firmware tries, the others after it in
    /// their order (and `n` nowhere else). Nothing is written when it is
    /// first already: each write wears the firmware's flash.
    pub fn put_first(&self, n: u16) -> Result<(), Error> {
        let order = self.boot_order()?;
        let mut new = vec![n];
        new.extend(order.iter().copied().filter(|&m| m != n));
        if new == order {
            return Ok(());
        }
        self.set_boot_order(&new)
    }

    /// The file this boot came from: the File Path of the `BootCurrent`
    /// entry. `None` without `BootCurrent`, without that entry, or when
    /// its path names no file (the firmware's own entry for a whole disk,
    /// which boots the removable `\EFI\BOOT\BOOTX64.EFI`).
    pub fn running_file(&self) -> Result<Option<String>, Error> {
        let Some(n) = self.boot_current()? else {
            return Ok(None);
        };
        Ok(self
            .entry(n)?
            .and_then(|o| o.device_path.file().map(str::to_string)))
    }
}

// --- the partition, from sysfs and the GPT -----------------------------------

/// Where sysfs lists block devices and their partitions.
const SYS_CLASS_BLOCK: &str = "/sys/class/block";
/// Where the box's device nodes are.
const DEV: &str = "/dev";
/// sysfs gives a partition's start and size in these, whatever the disk's
/// logical block size.
const SYSFS_SECTOR: u64 = 512;

impl HardDrive {
    /// The partition mounted on [`BOOT_MOUNT`]; `None` when nothing is.
    pub fn of_boot_partition() -> Result<Option<HardDrive>, Error> {
        let mountinfo = Path::new("/proc/self/mountinfo");
        let text = fs::read_to_string(mountinfo).map_err(io_error("read", mountinfo))?;
        match crate::boot_partition::mounted_on(&text, BOOT_MOUNT) {
            Some((_, device)) => HardDrive::of_device(Path::new(device)).map(Some),
            None => Ok(None),
        }
    }

    /// The partition `device` (`/dev/vda1`), from the box's sysfs and
    /// `/dev`.
    pub fn of_device(device: &Path) -> Result<HardDrive, Error> {
        let name =
            device
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::BadPartition {
                    path: device.into(),
                    why: "not a device name".into(),
                })?;
        HardDrive::of_partition(Path::new(SYS_CLASS_BLOCK), Path::new(DEV), name)
    }

    /// The partition `name` (`vda1`): its number, start and size from
    /// `sys_class_block/NAME` (in 512-byte sectors, turned into the disk's
    /// logical blocks), its unique GUID from the GPT on the disk it is on
    /// (`dev/DISK`), whose entry must agree with sysfs on all three.
    pub fn of_partition(
        sys_class_block: &Path,
        dev: &Path,
        name: &str,
    ) -> Result<HardDrive, Error> {
        let dir = sys_class_block.join(name);
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(Error::BadPartition {
                path: dir,
                why: "not a block device name".into(),
            });
        }
        if !dir.join("partition").exists() {
            return Err(Error::BadPartition {
                path: dir,
                why: "not a partition (no `partition` in sysfs): a whole disk has no GPT entry of its own".into(),
            });
        }
        let number = sysfs_number(&dir.join("partition"))?;
        let start_sectors = sysfs_number(&dir.join("start"))?;
        let size_sectors = sysfs_number(&dir.join("size"))?;
        // A partition's sysfs directory sits inside its disk's.
        let real = fs::canonicalize(&dir).map_err(io_error("resolve", &dir))?;
        let disk_dir = real.parent().ok_or_else(|| Error::BadPartition {
            path: real.clone(),
            why: "no disk above it".into(),
        })?;
        let disk_name = disk_dir.file_name().ok_or_else(|| Error::BadPartition {
            path: real.clone(),
            why: "no disk above it".into(),
        })?;
        let block_file = disk_dir.join("queue/logical_block_size");
        let block = sysfs_number(&block_file)?;
        if !(SYSFS_SECTOR..=65536).contains(&block) || !block.is_power_of_two() {
            return Err(Error::BadPartition {
                path: block_file,
                why: format!(
                    "a logical block of {block} bytes: expected a power of two from 512 to 65536"
                ),
            });
        }
        let per_block = block / SYSFS_SECTOR;
        if start_sectors % per_block != 0 || size_sectors % per_block != 0 || size_sectors == 0 {
            return Err(Error::BadPartition {
                path: dir,
                why: format!(
                    "start {start_sectors} and size {size_sectors} (512-byte sectors) are not whole {block}-byte blocks"
                ),
            });
        }
        let (start, size) = (start_sectors / per_block, size_sectors / per_block);
        let disk = dev.join(disk_name);
        let entries = read_gpt(&disk, block)?;
        let Some((index, entry)) = entries.iter().enumerate().find(|(_, e)| e.first == start)
        else {
            return Err(Error::BadGpt {
                disk,
                why: format!("no partition entry starts at block {start}, where {name} starts"),
            });
        };
        let gpt_number = index as u64 + 1;
        // Blocks from the disk: `last` may lie before `first`.
        let blocks = entry
            .last
            .checked_sub(entry.first)
            .and_then(|d| d.checked_add(1));
        if gpt_number != number || blocks != Some(size) {
            return Err(Error::BadGpt {
                disk,
                why: format!(
                    "entry {gpt_number} (blocks {}..={}) is not {name} (partition {number}, {size} blocks from {start}): the GPT on the disk is not the one the kernel read",
                    entry.first, entry.last
                ),
            });
        }
        let number = u32::try_from(number).map_err(|_| Error::BadPartition {
            path: dir.join("partition"),
            why: format!("partition number {number} too big"),
        })?;
        Ok(HardDrive {
            number,
            start,
            size,
            guid: entry.guid,
        })
    }
}

/// A number sysfs gives in a file of its own.
fn sysfs_number(path: &Path) -> Result<u64, Error> {
    let mut text = String::new();
    File::open(path)
        .and_then(|f| f.take(64).read_to_string(&mut text))
        .map_err(io_error("read", path))?;
    text.trim().parse().map_err(|_| Error::BadPartition {
        path: path.into(),
        why: format!("{:?} is not a number", text.trim()),
    })
}

/// One used GPT entry: its unique GUID and blocks (`last` included).
#[derive(Debug, Clone, PartialEq, Eq)]
struct GptEntry {
    guid: Guid,
    first: u64,
    last: u64,
}

/// The primary GPT header's fields this module uses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GptHeader {
    entries_at: u64,
    count: u32,
    entry_size: u32,
    entries_crc: u32,
}

/// The partition entries of the primary GPT on `disk`, whose logical
/// blocks are `block` bytes: one per entry slot, unused ones included (an
/// entry's place gives its partition number), each checked against its
/// CRC and bounds before the next read.
fn read_gpt(disk: &Path, block: u64) -> Result<Vec<GptEntry>, Error> {
    let bad = |why: String| Error::BadGpt {
        disk: disk.into(),
        why,
    };
    let mut file = File::open(disk).map_err(io_error("open", disk))?;
    // A block device's length is where its end is, not its metadata's.
    let disk_bytes = file
        .seek(SeekFrom::End(0))
        .map_err(io_error("size", disk))?;
    let mut header = vec![0u8; block as usize];
    file.read_exact_at(&mut header, block)
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => bad("too small to hold a GPT".into()),
            _ => io_error("read", disk)(e),
        })?;
    let header = parse_gpt_header(&header, block, disk_bytes).map_err(bad)?;
    let mut array = vec![0u8; header.count as usize * header.entry_size as usize];
    file.read_exact_at(&mut array, header.entries_at * block)
        .map_err(io_error("read the partition entries of", disk))?;
    if crc32(&array) != header.entries_crc {
        return Err(bad(
            "the partition entries do not match their CRC in the GPT header".into(),
        ));
    }
    Ok(array
        .chunks_exact(header.entry_size as usize)
        .map(|e| {
            let used = e[..16].iter().any(|&b| b != 0);
            GptEntry {
                guid: Guid(e[16..32].try_into().expect("16 bytes")),
                // An unused slot matches no partition's start.
                first: if used { u64_at(e, 32) } else { u64::MAX },
                last: u64_at(e, 40),
            }
        })
        .collect())
}

/// The GPT header in `bytes` (LBA 1 of a disk of `disk_bytes` with
/// `block`-byte blocks), checked: its signature and CRC, and where its
/// entries are and how many and how big, none of it trusted (refused
/// beyond [`MAX_GPT_ENTRIES`], [`MAX_GPT_ENTRY_SIZE`],
/// [`MAX_GPT_ARRAY_BYTES`] or the disk's end).
fn parse_gpt_header(bytes: &[u8], block: u64, disk_bytes: u64) -> Result<GptHeader, String> {
    if bytes.len() < 92 || &bytes[..8] != b"EFI PART" {
        return Err(
            "no GPT (no \"EFI PART\" at block 1): the firmware's Hard Drive path needs a GPT disk"
                .into(),
        );
    }
    let header_size = u32_at(bytes, 12) as usize;
    if !(92..=bytes.len()).contains(&header_size) {
        return Err(format!(
            "GPT header size {header_size}: expected 92 to {} bytes",
            bytes.len()
        ));
    }
    let mut zeroed = bytes[..header_size].to_vec();
    zeroed[16..20].fill(0);
    if crc32(&zeroed) != u32_at(bytes, 16) {
        return Err("the GPT header does not match its CRC".into());
    }
    let my_lba = u64_at(bytes, 24);
    if my_lba != 1 {
        return Err(format!(
            "the primary GPT header says it is at block {my_lba}, not 1"
        ));
    }
    let entries_at = u64_at(bytes, 72);
    let count = u32_at(bytes, 80);
    let entry_size = u32_at(bytes, 84);
    if count == 0 || count > MAX_GPT_ENTRIES {
        return Err(format!(
            "{count} partition entries: expected 1 to {MAX_GPT_ENTRIES}"
        ));
    }
    if !(128..=MAX_GPT_ENTRY_SIZE).contains(&entry_size) || !entry_size.is_power_of_two() {
        return Err(format!(
            "partition entries of {entry_size} bytes: expected 128 times a power of two, at most {MAX_GPT_ENTRY_SIZE}"
        ));
    }
    let array_bytes = u64::from(count) * u64::from(entry_size);
    if array_bytes > MAX_GPT_ARRAY_BYTES {
        return Err(format!(
            "{array_bytes} bytes of partition entries: at most {MAX_GPT_ARRAY_BYTES} are read"
        ));
    }
    let inside = entries_at
        .checked_mul(block)
        .and_then(|at| at.checked_add(array_bytes))
        .is_some_and(|end| end <= disk_bytes);
    if entries_at < 2 || !inside {
        return Err(format!(
            "partition entries at block {entries_at}: not between the header and the disk's end"
        ));
    }
    Ok(GptHeader {
        entries_at,
        count,
        entry_size,
        entries_crc: u32_at(bytes, 88),
    })
}

/// The CRC-32 the GPT uses (IEEE 802.3, reflected, as zlib's `crc32`).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::process::Command;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh temporary directory, removed on drop (immutable files
    /// first made removable).
    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Dir {
            static N: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "lvsinit-efi-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            if let Ok(entries) = fs::read_dir(&self.0) {
                for e in entries.flatten() {
                    if let Ok(f) = File::open(e.path()) {
                        let _ = clear_immutable(&f);
                    }
                }
            }
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// The partition of the golden test: its GUID's text form, and the
    /// bytes the GPT and the device path hold for it.
    const PART_GUID: &str = "01234567-89ab-cdef-0123-456789abcdef";

    fn part() -> HardDrive {
        HardDrive {
            number: 1,
            start: 0x800,
            size: 0x8000,
            guid: Guid::parse(PART_GUID).unwrap(),
        }
    }

    fn path_of(file: &str) -> DevicePath {
        DevicePath::file_on(&part(), file).unwrap()
    }

    /// A variable file as efivarfs shows it.
    fn put_var(dir: &Dir, name: &str, attributes: u32, data: &[u8]) {
        let mut bytes = attributes.to_le_bytes().to_vec();
        bytes.extend_from_slice(data);
        fs::write(dir.0.join(format!("{name}-{GLOBAL_VARIABLE}")), bytes).unwrap();
    }

    fn var_bytes(dir: &Dir, name: &str) -> Vec<u8> {
        fs::read(dir.0.join(format!("{name}-{GLOBAL_VARIABLE}"))).unwrap()
    }

    #[test]
    fn guids_in_text_and_in_bytes() {
        // The global variable GUID as the spec stores it: the first three
        // fields little-endian.
        assert_eq!(
            GLOBAL_VARIABLE.0,
            [
                0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03,
                0x2b, 0x8c
            ]
        );
        assert_eq!(
            GLOBAL_VARIABLE.to_string(),
            "8be4df61-93ca-11d2-aa0d-00e098032b8c"
        );
        assert_eq!(
            Guid::parse("8BE4DF61-93CA-11D2-AA0D-00E098032B8C"),
            Some(GLOBAL_VARIABLE)
        );
        let g = Guid::parse(PART_GUID).unwrap();
        assert_eq!(g.to_string(), PART_GUID);
        for bad in [
            "",
            "8be4df61-93ca-11d2-aa0d-00e098032b8",
            "8be4df61-93ca-11d2-aa0d00e098032b8c",
            "8be4df61-93ca-11d2-aa0d-00e098032b8g",
            "+be4df61-93ca-11d2-aa0d-00e098032b8c",
        ] {
            assert_eq!(Guid::parse(bad), None, "{bad:?}");
        }
    }

    /// One load option, its bytes worked out by hand from the spec's
    /// EFI_LOAD_OPTION and device path nodes.
    #[test]
    fn load_option_golden_bytes() {
        let option = LoadOption::new("lvsinit A", path_of("\\EFI\\LVSINIT\\A.EFI"));
        #[rustfmt::skip]
        let golden: &[u8] = &[
            // Attributes: LOAD_OPTION_ACTIVE.
            0x01, 0x00, 0x00, 0x00,
            // FilePathListLength: 42 (HD) + 42 (File) + 4 (End) = 88.
            0x58, 0x00,
            // Description "lvsinit A", UTF-16LE, NUL-terminated (20 bytes).
            b'l', 0, b'v', 0, b's', 0, b'i', 0, b'n', 0, b'i', 0, b't', 0,
            b' ', 0, b'A', 0, 0, 0,
            // Hard Drive: type 4, subtype 1, length 42.
            0x04, 0x01, 0x2a, 0x00,
            // PartitionNumber 1.
            0x01, 0x00, 0x00, 0x00,
            // PartitionStart 0x800.
            0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            // PartitionSize 0x8000.
            0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            // PartitionSignature 01234567-89ab-cdef-0123-456789abcdef as
            // the GPT stores it.
            0x67, 0x45, 0x23, 0x01, 0xab, 0x89, 0xef, 0xcd,
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
            // MBRType 2 (GPT), SignatureType 2 (GUID).
            0x02, 0x02,
            // File Path: type 4, subtype 4, length 4 + 2 * 19 = 42.
            0x04, 0x04, 0x2a, 0x00,
            // "\EFI\LVSINIT\A.EFI", UTF-16LE, NUL-terminated.
            b'\\', 0, b'E', 0, b'F', 0, b'I', 0, b'\\', 0,
            b'L', 0, b'V', 0, b'S', 0, b'I', 0, b'N', 0, b'I', 0, b'T', 0, b'\\', 0,
            b'A', 0, b'.', 0, b'E', 0, b'F', 0, b'I', 0, 0, 0,
            // End of the entire device path.
            0x7f, 0xff, 0x04, 0x00,
        ];
        assert_eq!(golden.len(), 114);
        assert_eq!(option.to_bytes(), golden);
        assert_eq!(LoadOption::parse(golden).unwrap(), option);
        assert_eq!(
            option.device_path.to_string(),
            "HD(1,GPT,01234567-89ab-cdef-0123-456789abcdef,0x800,0x8000)/File(\\EFI\\LVSINIT\\A.EFI)"
        );
    }

    /// What firmware writes (other nodes, several instances, optional
    /// data, an MBR partition) reads back to the same bytes.
    #[test]
    fn load_options_round_trip() {
        #[rustfmt::skip]
        let firmware_path: &[u8] = &[
            // PciRoot(0): ACPI node.
            0x02, 0x01, 0x0c, 0x00, 0xd0, 0x41, 0x03, 0x0a, 0x00, 0x00, 0x00, 0x00,
            // Pci(0x1,0x1).
            0x01, 0x01, 0x06, 0x00, 0x01, 0x01,
            // End of this instance.
            0x7f, 0x01, 0x04, 0x00,
            // An MBR Hard Drive node: kept as it is.
            0x04, 0x01, 0x2a, 0x00,
            0x01, 0, 0, 0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10, 0, 0, 0, 0, 0, 0,
            0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x01,
            // A File Path with an odd length: not text, kept.
            0x04, 0x04, 0x07, 0x00, b'a', 0, 0,
            0x7f, 0xff, 0x04, 0x00,
        ];
        let path = DevicePath::parse(firmware_path).unwrap();
        assert_eq!(path.nodes().len(), 5);
        assert_eq!(path.to_bytes(), firmware_path);
        assert_eq!(path.file(), None);
        assert_eq!(path.hard_drive(), None);
        assert!(
            path.to_string()
                .starts_with("Path(2,1,d041030a00000000)/Path(1,1,0101)/Path(127,1)/"),
            "{path}"
        );
        let option = LoadOption {
            attributes: 0x0000_0109,
            description: "UEFI QEMU HARDDISK QM00001 ü".into(),
            device_path: path,
            optional_data: b"\x4e\xac\x08\x81\x11\x9f\x59\x4d".to_vec(),
        };
        let bytes = option.to_bytes();
        assert_eq!(LoadOption::parse(&bytes).unwrap(), option);
        assert!(
            !LoadOption {
                attributes: 0,
                ..option
            }
            .is_active()
        );

        let ours = path_of("\\EFI\\LVSINIT\\B.EFI");
        let back = DevicePath::parse(&ours.to_bytes()).unwrap();
        assert_eq!(back.file(), Some("\\EFI\\LVSINIT\\B.EFI"));
        assert_eq!(back.hard_drive(), Some(&part()));
    }

    #[test]
    fn malformed_options_and_paths_are_refused() {
        let good = LoadOption::new("x", path_of("\\A.EFI")).to_bytes();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                good[..5].to_vec(),
                "load option shorter than its fixed fields",
            ),
            // The description never ends.
            (
                [&good[..6], &[b'x', 0, b'y', 0][..]].concat(),
                "load option description without its NUL",
            ),
            // FilePathListLength beyond the end.
            (
                [&good[..4], &[0xff, 0x00], &good[6..]].concat(),
                "load option's path list longer than the option",
            ),
            // No path at all.
            (
                [&good[..4], &[0x00, 0x00], &good[6..10]].concat(),
                "device path without its End node",
            ),
        ];
        for (bytes, why) in cases {
            assert_eq!(
                LoadOption::parse(&bytes),
                Err(Malformed(why)),
                "{bytes:02x?}"
            );
        }
        let paths: [(&[u8], &str); 5] = [
            (
                &[0x04, 0x04, 0x02, 0x00, 0x7f, 0xff, 0x04, 0x00],
                "device path node shorter than its header",
            ),
            (
                &[0x04, 0x04, 0x40, 0x00, 0x7f, 0xff, 0x04, 0x00],
                "device path node longer than the path",
            ),
            (
                &[0x01, 0x01, 0x06, 0x00, 0x01, 0x01],
                "device path without its End node",
            ),
            (&[0x7f, 0xff, 0x05, 0x00, 0x00], "End node with data"),
            (
                &[0x7f, 0xff, 0x04, 0x00, 0x00],
                "bytes after the device path's End node",
            ),
        ];
        for (bytes, why) in paths {
            assert_eq!(
                DevicePath::parse(bytes),
                Err(Malformed(why)),
                "{bytes:02x?}"
            );
        }
        for bad in ["EFI\\A.EFI", "/EFI/A.EFI", "\\A\0.EFI"] {
            assert!(DevicePath::file_on(&part(), bad).is_err(), "{bad:?}");
        }
        let long = format!("\\{}", "a".repeat(MAX_FILE_PATH));
        assert!(DevicePath::file_on(&part(), &long).is_err());
    }

    #[test]
    fn variables_are_one_write_of_attributes_and_data() {
        let dir = Dir::new();
        let vars = Efivars::at(&dir.0);
        assert_eq!(vars.read("BootNext", &GLOBAL_VARIABLE).unwrap(), None);
        vars.write("BootNext", &GLOBAL_VARIABLE, BOOT_ATTRIBUTES, &[0x02, 0x00])
            .unwrap();
        assert_eq!(var_bytes(&dir, "BootNext"), [7, 0, 0, 0, 2, 0]);
        vars.write(
            "BootNext",
            &GLOBAL_VARIABLE,
            BOOT_ATTRIBUTES,
            &[0x05, 0x00, 0x01],
        )
        .unwrap();
        // A shorter value replaces a longer one whole.
        vars.write("BootNext", &GLOBAL_VARIABLE, BOOT_ATTRIBUTES, &[0x05, 0x00])
            .unwrap();
        assert_eq!(
            vars.read("BootNext", &GLOBAL_VARIABLE).unwrap(),
            Some(Variable {
                attributes: 7,
                data: vec![5, 0]
            })
        );
        let vendor = Guid::parse("3cc24e96-22c7-41d8-8863-8e39dcdcc2cf").unwrap();
        vars.write("Other", &vendor, 6, b"x").unwrap();
        assert_eq!(vars.names(&GLOBAL_VARIABLE).unwrap(), ["BootNext"]);
        assert_eq!(vars.names(&vendor).unwrap(), ["Other"]);
        vars.delete("BootNext", &GLOBAL_VARIABLE).unwrap();
        vars.delete("BootNext", &GLOBAL_VARIABLE).unwrap();
        assert_eq!(vars.read("BootNext", &GLOBAL_VARIABLE).unwrap(), None);

        put_var(&dir, "Short", 0, &[]);
        fs::write(dir.0.join(format!("Short-{GLOBAL_VARIABLE}")), [7, 0]).unwrap();
        let e = vars
            .read("Short", &GLOBAL_VARIABLE)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("shorter than the 4 bytes of its attributes"),
            "{e}"
        );
        put_var(&dir, "Huge", 7, &vec![0; MAX_VARIABLE + 1]);
        assert!(matches!(
            vars.read("Huge", &GLOBAL_VARIABLE),
            Err(Error::BadVariable { .. })
        ));
        let missing = Efivars::at("/nonexistent/efivars");
        assert!(matches!(
            missing.write("BootNext", &GLOBAL_VARIABLE, 7, &[0, 0]),
            Err(Error::Io { .. })
        ));
    }

    /// An immutable variable file (as efivarfs makes them) is written and
    /// removed all the same, and is immutable again after a write. Needs a
    /// temporary directory whose file system keeps the flag (ext4, tmpfs)
    /// and root (CAP_LINUX_IMMUTABLE); where the flag is not kept, the
    /// write still works.
    #[test]
    fn immutable_variables_are_written_and_removed() {
        let dir = Dir::new();
        let vars = Efivars::at(&dir.0);
        put_var(&dir, "BootOrder", 7, &[1, 0]);
        let path = vars.path("BootOrder", &GLOBAL_VARIABLE);
        let file = File::open(&path).unwrap();
        match flags(&file).unwrap() {
            None => {
                eprintln!(
                    "{}: no inode flags here; checking the write only",
                    dir.0.display()
                );
                vars.write("BootOrder", &GLOBAL_VARIABLE, 7, &[2, 0])
                    .unwrap();
                return;
            }
            Some(_) => set_immutable(&file).expect("set the immutable flag (root?)"),
        }
        assert!(
            fs::write(&path, [7, 0, 0, 0, 9, 0]).is_err(),
            "not immutable"
        );
        vars.write("BootOrder", &GLOBAL_VARIABLE, 7, &[2, 0, 1, 0])
            .unwrap();
        assert_eq!(var_bytes(&dir, "BootOrder"), [7, 0, 0, 0, 2, 0, 1, 0]);
        assert_ne!(flags(&file).unwrap().unwrap() & FS_IMMUTABLE_FL, 0);
        // Shorter: the stand-in file is cut, before it is immutable again.
        vars.write("BootOrder", &GLOBAL_VARIABLE, 7, &[2, 0])
            .unwrap();
        assert_eq!(var_bytes(&dir, "BootOrder"), [7, 0, 0, 0, 2, 0]);
        assert_ne!(
            flags(&file).unwrap().unwrap() & FS_IMMUTABLE_FL,
            0,
            "flag set again"
        );
        vars.delete("BootOrder", &GLOBAL_VARIABLE).unwrap();
        assert!(!path.exists());
    }

    /// The ioctl numbers linux/fs.h gives on x86_64 (as strace shows them).
    #[test]
    fn ioctl_numbers() {
        assert_eq!(
            nix::request_code_read!(b'f', 1, std::mem::size_of::<c_long>()),
            0x8008_6601
        );
        assert_eq!(
            nix::request_code_write!(b'f', 2, std::mem::size_of::<c_long>()),
            0x4008_6602
        );
    }

    #[test]
    fn boot_numbers_and_order() {
        let dir = Dir::new();
        let boot = BootManager::new(Efivars::at(&dir.0));
        assert_eq!(boot.boot_current().unwrap(), None);
        assert_eq!(boot.boot_order().unwrap(), Vec::<u16>::new());
        assert_eq!(boot.running_file().unwrap(), None);
        put_var(&dir, "BootCurrent", 6, &[0x0a, 0x00]);
        assert_eq!(boot.boot_current().unwrap(), Some(0x000a));
        // BootCurrent names an entry that is not there.
        assert_eq!(boot.running_file().unwrap(), None);
        boot.set_entry(
            0x000a,
            &LoadOption::new("lvsinit B", path_of("\\EFI\\LVSINIT\\B.EFI")),
        )
        .unwrap();
        assert!(dir.0.join(format!("Boot000A-{GLOBAL_VARIABLE}")).exists());
        assert_eq!(
            boot.running_file().unwrap().as_deref(),
            Some("\\EFI\\LVSINIT\\B.EFI")
        );
        boot.set_boot_next(0x1f).unwrap();
        assert_eq!(var_bytes(&dir, "BootNext"), [7, 0, 0, 0, 0x1f, 0]);
        assert_eq!(boot.boot_next().unwrap(), Some(0x1f));
        boot.set_boot_order(&[3, 0x100]).unwrap();
        assert_eq!(var_bytes(&dir, "BootOrder"), [7, 0, 0, 0, 3, 0, 0, 1]);
        assert_eq!(boot.boot_order().unwrap(), [3, 0x100]);
        boot.set_boot_order(&[]).unwrap();
        assert_eq!(boot.boot_order().unwrap(), Vec::<u16>::new());

        put_var(&dir, "BootCurrent", 6, &[1, 0, 0]);
        assert!(matches!(
            boot.boot_current(),
            Err(Error::BadVariable { .. })
        ));
        put_var(&dir, "BootOrder", 7, &[1, 0, 2]);
        let e = boot.boot_order().unwrap_err().to_string();
        assert!(e.contains("not a list of 2-byte entry numbers"), "{e}");
        put_var(&dir, "Boot000A", 7, &[1, 0, 0, 0]);
        let e = boot.entry(0x000a).unwrap_err().to_string();
        assert!(
            e.contains("Boot000A-8be4df61") && e.contains("load option"),
            "{e}"
        );
    }

    #[test]
    fn find_or_add_reuses_the_same_path_else_takes_the_lowest_free_number() {
        let dir = Dir::new();
        let boot = BootManager::new(Efivars::at(&dir.0));
        let a = path_of("\\EFI\\LVSINIT\\A.EFI");
        let b = path_of("\\EFI\\LVSINIT\\B.EFI");
        // Firmware's entries at 0000 and 0001, one that does not decode at
        // 0003, one written lowercase by some tool at 0004.
        let shell = LoadOption::new(
            "EFI Internal Shell",
            DevicePath::parse(&[
                0x04, 0x06, 0x14, 0x00, 0x83, 0xa5, 0x04, 0x7c, 0x3e, 0x9e, 0x1c, 0x4f, 0xad, 0x65,
                0xe0, 0x52, 0x68, 0xd0, 0xb4, 0xd1, 0x7f, 0xff, 0x04, 0x00,
            ])
            .unwrap(),
        );
        boot.set_entry(0, &shell).unwrap();
        boot.set_entry(
            1,
            &LoadOption::new(
                "UEFI QEMU HARDDISK",
                DevicePath {
                    nodes: vec![Node::HardDrive(part())],
                },
            ),
        )
        .unwrap();
        put_var(&dir, "Boot0003", 7, b"junk");
        put_var(&dir, "boot0004", 7, b"junk");
        put_var(&dir, "Boot0004", 7, b"junk");
        assert_eq!(boot.entries().unwrap(), [0, 1, 3, 4]);

        assert_eq!(boot.find_or_add("lvsinit A", &a).unwrap(), 2);
        let before = var_bytes(&dir, "Boot0002");
        assert_eq!(boot.find_or_add("lvsinit A", &a).unwrap(), 2, "reused");
        assert_eq!(var_bytes(&dir, "Boot0002"), before);
        assert_eq!(boot.find_or_add("lvsinit B", &b).unwrap(), 5);
        assert_eq!(
            boot.entry(5).unwrap().unwrap(),
            LoadOption::new("lvsinit B", b.clone())
        );
        // Another partition's A.EFI is another path.
        let other = HardDrive {
            number: 2,
            start: 0x8800,
            ..part()
        };
        let a2 = DevicePath::file_on(&other, "\\EFI\\LVSINIT\\A.EFI").unwrap();
        assert_eq!(boot.find_or_add("lvsinit A", &a2).unwrap(), 6);

        // Someone disabled B (efibootmgr -A) and renamed it: the same
        // number comes back active, with our name.
        let mut disabled = LoadOption::new("old name", b.clone());
        disabled.attributes = 0;
        boot.set_entry(5, &disabled).unwrap();
        assert_eq!(boot.find_or_add("lvsinit B", &b).unwrap(), 5);
        assert_eq!(
            boot.entry(5).unwrap().unwrap(),
            LoadOption::new("lvsinit B", b.clone())
        );
        // None of this touched BootOrder.
        assert_eq!(boot.boot_order().unwrap(), Vec::<u16>::new());

        // Numbers go on in uppercase hex.
        for n in 7..=9 {
            put_var(&dir, &boot_name(n), 7, b"junk");
        }
        let c = path_of("\\EFI\\LVSINIT\\C.EFI");
        assert_eq!(boot.find_or_add("c", &c).unwrap(), 0x000a);
        assert!(dir.0.join(format!("Boot000A-{GLOBAL_VARIABLE}")).exists());
        assert_eq!(boot_name(0xbeef), "BootBEEF");
        assert_eq!(boot_number("Boot00a1"), Some(0xa1));
        for bad in ["Boot", "Boot00001", "BootOrder", "Boot+001", "Driver0001"] {
            assert_eq!(boot_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn put_first_moves_or_inserts_and_keeps_the_rest() {
        let dir = Dir::new();
        let boot = BootManager::new(Efivars::at(&dir.0));
        boot.put_first(4).unwrap();
        assert_eq!(boot.boot_order().unwrap(), [4]);
        boot.set_boot_order(&[3, 1, 2]).unwrap();
        boot.put_first(2).unwrap();
        assert_eq!(boot.boot_order().unwrap(), [2, 3, 1]);
        boot.put_first(5).unwrap();
        assert_eq!(boot.boot_order().unwrap(), [5, 2, 3, 1]);
        put_var(&dir, "BootOrder", 7, &[1, 0, 2, 0, 1, 0]);
        boot.put_first(1).unwrap();
        assert_eq!(boot.boot_order().unwrap(), [1, 2], "no second 1");
        // First already: not written (the attributes a write would change
        // stay as they were).
        put_var(&dir, "BootOrder", 3, &[1, 0, 2, 0]);
        boot.put_first(1).unwrap();
        assert_eq!(var_bytes(&dir, "BootOrder"), [3, 0, 0, 0, 1, 0, 2, 0]);
    }

    #[test]
    fn crc32_check_value() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    /// The EFI system partition's type GUID.
    const ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";

    /// A GPT disk image of `blocks` blocks of `block` bytes, built here:
    /// 128 entries of 128 bytes from block 2; `parts` are (unique GUID,
    /// first, last block), in entry order.
    fn gpt_image(block: usize, blocks: usize, parts: &[(Guid, u64, u64)]) -> Vec<u8> {
        let mut disk = vec![0u8; block * blocks];
        let mut array = vec![0u8; 128 * 128];
        for (i, (guid, first, last)) in parts.iter().enumerate() {
            let e = &mut array[i * 128..(i + 1) * 128];
            e[..16].copy_from_slice(&Guid::parse(ESP).unwrap().0);
            e[16..32].copy_from_slice(&guid.0);
            e[32..40].copy_from_slice(&first.to_le_bytes());
            e[40..48].copy_from_slice(&last.to_le_bytes());
        }
        disk[2 * block..2 * block + array.len()].copy_from_slice(&array);
        let h = &mut disk[block..2 * block];
        h[..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&1u64.to_le_bytes());
        h[32..40].copy_from_slice(&(blocks as u64 - 1).to_le_bytes());
        h[72..80].copy_from_slice(&2u64.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&crc32(&array).to_le_bytes());
        seal(h);
        disk
    }

    /// Set the header's CRC for its present fields.
    fn seal(header: &mut [u8]) {
        let size = (u32_at(header, 12) as usize).clamp(92, header.len());
        header[16..20].fill(0);
        let crc = crc32(&header[..size]);
        header[16..20].copy_from_slice(&crc.to_le_bytes());
    }

    /// sysfs as the kernel lays it out for partition `part` of disk
    /// `disk`: the disk's directory holds its partitions', and
    /// `class/block/PART` links to the partition's. Returns the
    /// `class/block` directory.
    fn fake_sysfs(root: &Path, disk: &str, part: &str, numbers: [u64; 3], block: u64) -> PathBuf {
        let disk_dir = root.join("devices/virtual").join(disk);
        let part_dir = disk_dir.join(part);
        fs::create_dir_all(disk_dir.join("queue")).unwrap();
        fs::create_dir_all(&part_dir).unwrap();
        fs::write(
            disk_dir.join("queue/logical_block_size"),
            format!("{block}\n"),
        )
        .unwrap();
        for (file, n) in ["partition", "start", "size"].iter().zip(numbers) {
            fs::write(part_dir.join(file), format!("{n}\n")).unwrap();
        }
        let class = root.join("class/block");
        fs::create_dir_all(&class).unwrap();
        symlink(
            format!("../../devices/virtual/{disk}/{part}"),
            class.join(part),
        )
        .unwrap();
        class
    }

    /// A disk made by sgdisk (gdisk's, as image/build makes router.img)
    /// reads back to the partition's GUID, start and size.
    #[test]
    fn a_gpt_made_by_sgdisk() {
        let dir = Dir::new();
        let dev = dir.0.join("dev");
        fs::create_dir_all(&dev).unwrap();
        let image = dev.join("vdb");
        File::create(&image).unwrap().set_len(16 << 20).unwrap();
        let boot_guid = "5d6a1c3e-0f4b-4d2a-9e8c-7b6a5f4e3d2c";
        let other_guid = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d";
        let out = Command::new("/usr/sbin/sgdisk")
            .args([
                "-o",
                "-n",
                "1:2048:10239",
                "-t",
                "1:ef00",
                "-c",
                "1:LVSBOOT",
            ])
            .arg(format!("--partition-guid=1:{boot_guid}"))
            .args(["-n", "2:10240:20479"])
            .arg(format!("--partition-guid=2:{other_guid}"))
            .arg(&image)
            .output()
            .expect("sgdisk (gdisk) is needed, as image/build needs it");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sys = fake_sysfs(&dir.0.join("sys"), "vdb", "vdb1", [1, 2048, 8192], 512);
        let hd = HardDrive::of_partition(&sys, &dev, "vdb1").unwrap();
        assert_eq!(
            hd,
            HardDrive {
                number: 1,
                start: 2048,
                size: 8192,
                guid: Guid::parse(boot_guid).unwrap()
            }
        );
        fake_sysfs(&dir.0.join("sys"), "vdb", "vdb2", [2, 10240, 10240], 512);
        let hd = HardDrive::of_partition(&sys, &dev, "vdb2").unwrap();
        assert_eq!(hd.guid.to_string(), other_guid);
        let path = DevicePath::file_on(&hd, "\\EFI\\LVSINIT\\B.EFI").unwrap();
        assert_eq!(
            path.to_string(),
            format!("HD(2,GPT,{other_guid},0x2800,0x2800)/File(\\EFI\\LVSINIT\\B.EFI)")
        );
    }

    /// A disk of 4096-byte blocks: sysfs still counts 512-byte sectors,
    /// the device path counts the disk's blocks.
    #[test]
    fn a_gpt_on_4k_blocks() {
        let dir = Dir::new();
        let dev = dir.0.join("dev");
        fs::create_dir_all(&dev).unwrap();
        let guid = Guid::parse(PART_GUID).unwrap();
        fs::write(
            dev.join("nvme0n1"),
            gpt_image(4096, 1024, &[(guid, 256, 767)]),
        )
        .unwrap();
        let sys = fake_sysfs(
            &dir.0.join("sys"),
            "nvme0n1",
            "nvme0n1p1",
            [1, 2048, 4096],
            4096,
        );
        assert_eq!(
            HardDrive::of_partition(&sys, &dev, "nvme0n1p1").unwrap(),
            HardDrive {
                number: 1,
                start: 256,
                size: 512,
                guid
            }
        );
    }

    /// What the disk says is not trusted: every count, size and place is
    /// checked before anything is read or allocated from it.
    #[test]
    fn hostile_gpt_values_are_refused() {
        const BLOCK: usize = 512;
        let guid = Guid::parse(PART_GUID).unwrap();
        let good = gpt_image(BLOCK, 64, &[(guid, 34, 63)]);
        let disk_bytes = good.len() as u64;
        let header = |change: &dyn Fn(&mut [u8])| {
            let mut h = good[BLOCK..2 * BLOCK].to_vec();
            change(&mut h);
            seal(&mut h);
            parse_gpt_header(&h, BLOCK as u64, disk_bytes)
        };
        assert_eq!(
            header(&|_| {}),
            Ok(GptHeader {
                entries_at: 2,
                count: 128,
                entry_size: 128,
                entries_crc: crc32(&good[2 * BLOCK..2 * BLOCK + 128 * 128])
            })
        );
        let set32 =
            |at: usize, v: u32| move |h: &mut [u8]| h[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let set64 =
            |at: usize, v: u64| move |h: &mut [u8]| h[at..at + 8].copy_from_slice(&v.to_le_bytes());
        type Change<'a> = Box<dyn Fn(&mut [u8]) + 'a>;
        let cases: Vec<(Change<'_>, &str)> = vec![
            (Box::new(|h: &mut [u8]| h[0] = b'X'), "no GPT"),
            (Box::new(set32(12, 0)), "GPT header size 0"),
            (Box::new(set32(12, 4096)), "GPT header size 4096"),
            (Box::new(set64(24, 63)), "says it is at block 63"),
            (Box::new(set32(80, 0)), "0 partition entries"),
            (
                Box::new(set32(80, u32::MAX)),
                "4294967295 partition entries",
            ),
            (Box::new(set32(84, 0)), "entries of 0 bytes"),
            (Box::new(set32(84, 200)), "entries of 200 bytes"),
            (Box::new(set32(84, 1 << 31)), "entries of 2147483648 bytes"),
            (
                Box::new(|h: &mut [u8]| {
                    set32(80, 1024)(h);
                    set32(84, 4096)(h);
                }),
                "4194304 bytes of partition entries",
            ),
            (Box::new(set64(72, 1)), "entries at block 1"),
            (Box::new(set64(72, 60)), "entries at block 60"),
            (
                Box::new(set64(72, u64::MAX / 256)),
                "not between the header and the disk's end",
            ),
        ];
        for (change, why) in cases {
            let got = header(&*change).unwrap_err();
            assert!(got.contains(why), "{why:?}: {got}");
        }
        // A changed field without a new CRC.
        let mut h = good[BLOCK..2 * BLOCK].to_vec();
        h[80] = 127;
        let got = parse_gpt_header(&h, BLOCK as u64, disk_bytes).unwrap_err();
        assert!(got.contains("does not match its CRC"), "{got}");

        // Through the disk: an entry array that does not match its CRC,
        // a disk too small, an MBR disk.
        let dir = Dir::new();
        let dev = dir.0.join("dev");
        fs::create_dir_all(&dev).unwrap();
        let sys = fake_sysfs(&dir.0.join("sys"), "sda", "sda1", [1, 34, 30], 512);
        let mut bad = good.clone();
        bad[2 * BLOCK + 16] ^= 1;
        for (disk, why) in [
            (bad, "do not match their CRC"),
            (good[..700].to_vec(), "too small to hold a GPT"),
            (vec![0u8; 64 * BLOCK], "no GPT"),
        ] {
            fs::write(dev.join("sda"), disk).unwrap();
            let e = HardDrive::of_partition(&sys, &dev, "sda1").unwrap_err();
            assert!(matches!(e, Error::BadGpt { .. }), "{e}");
            assert!(e.to_string().contains(why), "{why:?}: {e}");
        }
        // An entry that ends before it starts.
        fs::write(dev.join("sda"), gpt_image(BLOCK, 64, &[(guid, 34, 0)])).unwrap();
        let e = HardDrive::of_partition(&sys, &dev, "sda1").unwrap_err();
        assert!(e.to_string().contains("blocks 34..=0"), "{e}");
        fs::write(dev.join("sda"), &good).unwrap();
        assert_eq!(
            HardDrive::of_partition(&sys, &dev, "sda1").unwrap().guid,
            guid
        );
    }

    /// sysfs and the GPT must tell the same partition, and sysfs's numbers
    /// must be whole blocks of a sane size.
    #[test]
    fn sysfs_and_gpt_must_agree() {
        let guid = Guid::parse(PART_GUID).unwrap();
        let dir = Dir::new();
        let dev = dir.0.join("dev");
        fs::create_dir_all(&dev).unwrap();
        fs::write(dev.join("vda"), gpt_image(512, 64, &[(guid, 34, 63)])).unwrap();
        let cases: [([u64; 3], u64, &str); 6] = [
            ([1, 40, 30], 512, "no partition entry starts at block 40"),
            (
                [2, 34, 30],
                512,
                "the GPT on the disk is not the one the kernel read",
            ),
            (
                [1, 34, 29],
                512,
                "the GPT on the disk is not the one the kernel read",
            ),
            ([1, 34, 30], 4096, "not whole 4096-byte blocks"),
            ([1, 34, 30], 1000, "a logical block of 1000 bytes"),
            ([1, 34, 0], 512, "not whole 512-byte blocks"),
        ];
        for (i, (numbers, block, why)) in cases.into_iter().enumerate() {
            let sys = fake_sysfs(
                &dir.0.join(format!("sys{i}")),
                "vda",
                "vda1",
                numbers,
                block,
            );
            let e = HardDrive::of_partition(&sys, &dev, "vda1")
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{numbers:?} {block}: {e}");
        }
        let sys = fake_sysfs(&dir.0.join("sys"), "vda", "vda1", [1, 34, 30], 512);
        fs::remove_file(dir.0.join("sys/devices/virtual/vda/vda1/partition")).unwrap();
        let e = HardDrive::of_partition(&sys, &dev, "vda1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a partition"), "{e}");
        for bad in ["", "..", "../vda1"] {
            assert!(matches!(
                HardDrive::of_partition(&sys, &dev, bad),
                Err(Error::BadPartition { .. })
            ));
        }
        fs::write(
            dir.0.join("sys/devices/virtual/vda/vda1/partition"),
            "one\n",
        )
        .unwrap();
        let e = HardDrive::of_partition(&sys, &dev, "vda1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"one\" is not a number"), "{e}");
    }
}
