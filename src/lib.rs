//! lvsinit: turn `router.toml` into a working LVS director.
//!
//! The library holds everything; `init/` is a thin PID-1 binary on top.
//! Every module here runs its unit tests on the host.

/// The version this build reports (`lvsinit version`, the boot banner,
/// `/status`, the client's User-Agent): `LVSINIT_VERSION` at build time
/// when set (`image/build --version V`, so that two images of one
/// checkout can differ, as an update test needs), else the crate's.
/// rustc records the variable `option_env!` reads, so cargo rebuilds
/// when it changes.
pub const VERSION: &str = match option_env!("LVSINIT_VERSION") {
    Some(version) => version,
    None => env!("CARGO_PKG_VERSION"),
};

pub mod apply;
pub mod boot_partition;
pub mod boot_reason;
/// `router.toml`, read and validated: the `config/` crate of this workspace.
pub use lvsinit_config as config;
pub mod console;
pub mod health;
#[cfg(test)]
mod hostile_input;
pub mod import;
pub mod ipvs;
pub mod malloc;
pub mod management;
pub mod netlink;
pub mod ntp;
pub mod pid1;
pub mod remote;
pub mod source;
pub mod sysctl;
pub mod update;
pub mod vrrp;
pub mod watchdog;
