//! What an import found, in router.toml's terms: the one shape both
//! readers fill and [`super::render`] writes.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::{
    CheckKind, Family, Forwarding, HealthCheck, IpNet, OnFailure, Protocol, Scheduler,
    SchedulerFlags,
};

use super::Origin;

/// A whole import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Doc {
    /// The file read, for the header.
    pub source: String,
    /// "keepalived" or "ipvsadm".
    pub format: &'static str,
    /// Comments for the top of the file: pieces with no place of their own.
    pub notes: Vec<String>,
    /// `hostname`, with where it came from.
    pub hostname: Option<(String, Origin)>,
    /// Interface names the source uses, first mention first.
    pub named_interfaces: Vec<(String, Origin)>,
    /// Filled by [`super::interfaces::attach`].
    pub interfaces: Vec<InterfaceOut>,
    pub services: Vec<ServiceOut>,
    pub vrrp: Option<VrrpOut>,
}

impl Doc {
    /// Note that the source names interface `name` at `origin`.
    pub fn name_interface(&mut self, name: &str, origin: &Origin) {
        if !self.named_interfaces.iter().any(|(n, _)| n == name) {
            self.named_interfaces
                .push((name.to_string(), origin.clone()));
        }
    }
}

/// One `[[interface]]`: `name` and `device` are the source's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceOut {
    pub name: String,
    pub addresses: Vec<IpNet>,
    pub notes: Vec<String>,
}

/// What identifies a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Addr(Protocol, SocketAddr),
    /// A mark, with the family when the source says it.
    Fwmark(u32, Option<Family>),
}

/// One `[[service]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOut {
    pub origins: Vec<Origin>,
    pub notes: Vec<String>,
    pub key: Key,
    pub scheduler: Scheduler,
    pub flags: SchedulerFlags,
    /// The service's forwarding; real servers with another say their own.
    pub forwarding: Forwarding,
    /// Whole seconds; `None` is off.
    pub persistence: Option<u32>,
    /// As `persistence_netmask` takes it: "255.255.255.0" or "64".
    pub persistence_netmask: Option<String>,
    pub sorry_server: Option<SocketAddr>,
    /// The check when there are no real servers to carry one.
    pub check: CheckOut,
    pub real_servers: Vec<RealOut>,
}

/// One `[[service.real_server]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealOut {
    pub origins: Vec<Origin>,
    pub notes: Vec<String>,
    pub address: SocketAddr,
    pub weight: u32,
    pub forwarding: Forwarding,
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    pub check: CheckOut,
}

/// A health check, every key given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOut {
    pub kind: CheckKind,
    pub port: Option<u16>,
    pub interval: Duration,
    pub timeout: Duration,
    pub fall: u32,
    pub rise: u32,
    pub on_failure: OnFailure,
    /// How the source's settings became these: comments above the check.
    pub explain: Vec<String>,
}

/// Set a scheduler flag as ipvsadm (`-b sh-port`) or keepalived
/// (`sh-port`, `flag-2`) names it, when `scheduler` has it: false when it
/// means nothing to that scheduler (`flag-1` is sh-fallback for sh and
/// mh-fallback for mh, `flag-2` the ports).
pub fn set_scheduler_flag(flags: &mut SchedulerFlags, scheduler: Scheduler, flag: &str) -> bool {
    let slot = match (flag, scheduler) {
        ("sh-fallback" | "flag-1", Scheduler::Sh) => &mut flags.sh_fallback,
        ("sh-port" | "flag-2", Scheduler::Sh) => &mut flags.sh_port,
        ("mh-fallback" | "flag-1", Scheduler::Mh) => &mut flags.mh_fallback,
        ("mh-port" | "flag-2", Scheduler::Mh) => &mut flags.mh_port,
        _ => return false,
    };
    *slot = true;
    true
}

impl CheckOut {
    /// Never checked: always in the table, as ipvsadm leaves it.
    pub fn none(explain: &str) -> CheckOut {
        let defaults = HealthCheck::default();
        CheckOut {
            kind: CheckKind::None,
            port: defaults.port,
            interval: defaults.interval,
            timeout: defaults.timeout,
            fall: defaults.fall,
            rise: defaults.rise,
            on_failure: defaults.on_failure,
            explain: vec![explain.to_string()],
        }
    }

    /// The same check, whatever the comments say.
    pub fn same_as(&self, other: &CheckOut) -> bool {
        if self.kind == CheckKind::None && other.kind == CheckKind::None {
            return true;
        }
        (
            &self.kind,
            self.port,
            self.interval,
            self.timeout,
            self.fall,
            self.rise,
            self.on_failure,
        ) == (
            &other.kind,
            other.port,
            other.interval,
            other.timeout,
            other.fall,
            other.rise,
            other.on_failure,
        )
    }
}

/// `[vrrp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpOut {
    pub origins: Vec<Origin>,
    pub notes: Vec<String>,
    pub interface: String,
    pub virtual_router_id: u8,
    pub priority: u8,
    pub advert_interval: Duration,
    pub preempt: bool,
    pub preempt_delay: Duration,
    pub unicast_peers: Vec<IpAddr>,
    pub virtual_addresses: Vec<VipOut>,
    pub sync_interface: Option<(String, Origin)>,
    pub sync_id: Option<u8>,
}

/// One of `virtual_addresses`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipOut {
    pub origin: Origin,
    pub interface: String,
    pub address: IpNet,
}
