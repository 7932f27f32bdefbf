//! Kernel parameters under `/proc/sys`, named as `sysctl(8)` names them.
//!
//! `net.ipv4.ip_forward` is `/proc/sys/net/ipv4/ip_forward`. As with
//! `sysctl -w`, a name may use `/` instead of `.` as its separator, which is
//! how to reach keys holding a dot themselves (`net/ipv4/conf/eth0.100/rp_filter`).
//!
//! Everything under `/proc/sys/net` belongs to the network namespace of the
//! *thread* that opens the file, not of the process, so these functions act
//! on the calling thread's namespace. `tests/netns_network.rs` checks this
//! from a thread that `setns()`ed into a test namespace while the rest of
//! the process stays in the host's.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;

/// Where the kernel exposes its parameters.
const PROC_SYS: &str = "/proc/sys";

/// Errors reading or writing one parameter.
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    /// Not a name `sysctl` would accept (empty part, `..`, NUL).
    #[error("{0:?} is not a sysctl name")]
    InvalidName(String),
    /// The parameter does not exist (module not loaded, typo).
    #[error("sysctl {name} does not exist ({})", .path.display())]
    Unknown {
        name: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read sysctl {name} ({})", .path.display())]
    Read {
        name: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The kernel refused the value (`EINVAL` for out of range, ...).
    #[error("cannot set sysctl {name} to {value:?} ({})", .path.display())]
    Write {
        name: String,
        value: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The file behind a sysctl name: "net.ipv4.ip_forward" →
/// `/proc/sys/net/ipv4/ip_forward`; a name containing `/` is split on `/`
/// only.
pub fn path(name: &str) -> Result<PathBuf, SysctlError> {
    let invalid = || SysctlError::InvalidName(name.to_string());
    let trimmed = name.trim_matches('/');
    if trimmed.is_empty() || name.contains('\0') || name.trim() != name {
        return Err(invalid());
    }
    let separator = if trimmed.contains('/') { '/' } else { '.' };
    let mut path = PathBuf::from(PROC_SYS);
    for part in trimmed.split(separator) {
        if part.is_empty() || part == "." || part == ".." || part.contains(char::is_whitespace) {
            return Err(invalid());
        }
        path.push(part);
    }
    Ok(path)
}

/// Read one parameter, without its trailing newline (`sysctl -n NAME`).
pub fn get(name: &str) -> Result<String, SysctlError> {
    let path = path(name)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim_end_matches('\n').to_string()),
        Err(source) if source.kind() == io::ErrorKind::NotFound => Err(SysctlError::Unknown {
            name: name.to_string(),
            path,
            source,
        }),
        Err(source) => Err(SysctlError::Read {
            name: name.to_string(),
            path,
            source,
        }),
    }
}

/// Write one parameter (`sysctl -w NAME=VALUE`): the value and a newline,
/// in a single write as the kernel expects.
pub fn set(name: &str, value: &str) -> Result<(), SysctlError> {
    let path = path(name)?;
    let result = OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut file| file.write_all(format!("{value}\n").as_bytes()));
    match result {
        Ok(()) => Ok(()),
        Err(source) if source.kind() == io::ErrorKind::NotFound => Err(SysctlError::Unknown {
            name: name.to_string(),
            path,
            source,
        }),
        Err(source) => Err(SysctlError::Write {
            name: name.to_string(),
            value: value.to_string(),
            path,
            source,
        }),
    }
}

/// Same value as far as the kernel is concerned: multi-number parameters
/// (`net.ipv4.tcp_rmem`) read back tab-separated whatever was written.
fn same_value(current: &str, wanted: &str) -> bool {
    current.split_whitespace().eq(wanted.split_whitespace())
}

/// Set `name` unless it already holds `value`; log only a change.
fn ensure(name: &str, value: &str) -> Result<(), SysctlError> {
    // An unreadable but writable parameter is still worth writing.
    if let Ok(current) = get(name)
        && same_value(&current, value)
    {
        return Ok(());
    }
    set(name, value)?;
    log::info!("sysctl {name} = {value}");
    Ok(())
}

/// Apply the config's sysctls: `net.ipv4.ip_forward = 1` first (always: a
/// director forwards), then each entry in order. Parameters already holding
/// their value are left alone. One failure does not stop the others; the
/// failures are returned with their names.
pub fn apply(sysctls: &[(String, String)]) -> Vec<(String, SysctlError)> {
    let forward = [("net.ipv4.ip_forward".to_string(), "1".to_string())];
    forward
        .iter()
        .chain(sysctls)
        .filter_map(|(name, value)| ensure(name, value).err().map(|e| (name.clone(), e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_to_path_cases() {
        let cases = [
            ("net.ipv4.ip_forward", Some("/proc/sys/net/ipv4/ip_forward")),
            ("net/ipv4/ip_forward", Some("/proc/sys/net/ipv4/ip_forward")),
            (
                "net.ipv4.vs.expire_nodest_conn",
                Some("/proc/sys/net/ipv4/vs/expire_nodest_conn"),
            ),
            (
                "net/ipv4/conf/eth0.100/rp_filter",
                Some("/proc/sys/net/ipv4/conf/eth0.100/rp_filter"),
            ),
            (
                "/net/ipv4/ip_forward",
                Some("/proc/sys/net/ipv4/ip_forward"),
            ),
            ("kernel.panic", Some("/proc/sys/kernel/panic")),
            ("", None),
            (".", None),
            ("net..ipv4", None),
            ("net.ipv4.", None),
            ("net/../../etc/passwd", None),
            ("net/./ipv4", None),
            ("net.ipv4.ip forward", None),
            (" net.ipv4.ip_forward", None),
            ("net\0ipv4", None),
        ];
        for (name, want) in cases {
            let got = path(name).ok();
            assert_eq!(
                got.as_deref(),
                want.map(std::path::Path::new),
                "name {name:?}"
            );
        }
    }

    #[test]
    fn same_value_cases() {
        let cases = [
            ("1", "1", true),
            ("0", "1", false),
            ("4096\t87380\t6291456", "4096 87380 6291456", true),
            ("4096\t87380\t6291456", "4096 87380", false),
            ("", "", true),
        ];
        for (current, wanted, want) in cases {
            assert_eq!(
                same_value(current, wanted),
                want,
                "{current:?} vs {wanted:?}"
            );
        }
    }

    #[test]
    fn unknown_and_invalid_names_are_errors() {
        assert!(matches!(
            get("net.ipv4.no_such_parameter_here"),
            Err(SysctlError::Unknown { .. })
        ));
        assert!(matches!(
            set("net..x", "1"),
            Err(SysctlError::InvalidName(_))
        ));
        // Reading needs no privilege and touches nothing.
        assert!(matches!(get("kernel.ostype").as_deref(), Ok("Linux")));
    }
}
