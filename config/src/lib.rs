//! `router.toml`: the appliance's one input.
//!
//! The file is parsed and validated completely before anything touches the
//! kernel (see [`load`]). What comes out is a [`Config`] made of real types:
//! addresses are `IpAddr`/`SocketAddr`, MACs are [`MacAddr`], schedulers are
//! an enum. Nothing downstream ever re-parses a string.
//!
//! The schema is the product's interface: keys are extended, never renamed.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

mod addr;
mod draft;
mod duration;
mod error;
mod file;
mod health_check;
mod interface;
mod management;
mod management_config;
mod names;
mod parse;
mod route;
mod service;
mod sysctl;
#[cfg(test)]
mod test_support;
mod time;
mod tree;
mod validate;
mod vrrp;
mod walk;
mod watchdog;

pub use duration::parse_duration;
pub use error::{ConfigError, Diagnostic, Severity};
pub use file::{MAX_BYTES, read_bounded, read_file};
pub use management_config::{
    Management, Syslog, TlsFiles, Transport, UrlError, Webhook, WebhookUrl, canonical,
};
pub use parse::{DEFAULT_HOSTNAME, load};

/// The whole appliance configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Hostname set at boot (`hostname = "lvs-router"`).
    pub hostname: String,
    /// Extra sysctls, in file order, as `("net.ipv4.vs.expire_nodest_conn", "1")`.
    /// `net.ipv4.ip_forward = 1` is always applied on top of these.
    pub sysctls: Vec<(String, String)>,
    pub interfaces: Vec<Interface>,
    pub routes: Vec<Route>,
    pub services: Vec<Service>,
    /// `[vrrp]`: the instance that moves the virtual addresses between two
    /// directors; `None` for a single director.
    pub vrrp: Option<Vrrp>,
    /// `[watchdog]`: on (60 s) unless turned off.
    pub watchdog: Watchdog,
    /// `[time]`: where the clock comes from.
    pub time: Time,
    /// `[management]`: the HTTP API; `None` means no listening socket.
    pub management: Option<Management>,
    /// `[[syslog]]`: remote syslog receivers.
    pub syslog: Vec<Syslog>,
    /// `[[webhook]]`: where events are POSTed.
    pub webhooks: Vec<Webhook>,
}

/// `[time]`: the NTP servers, in the order they are asked; none by
/// default (the clock is the RTC's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Time {
    pub ntp_servers: Vec<IpAddr>,
}

/// `[watchdog]`: how long the hardware watchdog waits for PID 1 before it
/// resets the box; `None` when turned off (`timeout = "0s"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watchdog {
    pub timeout: Option<Duration>,
}

/// An Ethernet hardware address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// An address with its prefix length, as `ip addr` writes it: `192.168.1.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl IpNet {
    /// True when `ip` lies inside this subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn bits(a: IpAddr) -> (u128, u8) {
            match a {
                IpAddr::V4(v4) => (u32::from(v4) as u128, 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        }
        let (net, width) = bits(self.addr);
        let (host, host_width) = bits(ip);
        if width != host_width {
            return false;
        }
        let shift = u32::from(width - self.prefix_len.min(width));
        if shift >= 128 {
            return true;
        }
        (net >> shift) == (host >> shift)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// How an `[[interface]]` finds its kernel link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkMatch {
    /// `mac = "52:54:00:00:01:01"`
    Mac(MacAddr),
    /// `device = "eth0"`: the kernel's own name.
    Device(String),
    /// `pci = "0000:01:00.0"`: the NIC in that PCI slot, so one config fits
    /// every box of a model (MACs differ from box to box, slots do not).
    Pci(String),
    /// `kind = "vlan"`, `"bond"` or `"bridge"`: a link the box makes itself
    /// and finds again by its name.
    Made(MadeLink),
}

/// A link the box creates (`ip link add ... type vlan|bond|bridge`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MadeLink {
    /// 802.1Q: `ip link add link trunk name wan type vlan id 10`.
    Vlan {
        /// The configured interface it is on.
        parent: String,
        /// 1..=4094.
        id: u16,
    },
    Bond(Bond),
    /// `ip link add lan type bridge stp_state 0|1`, `members` its ports.
    Bridge {
        members: Vec<String>,
        stp: bool,
    },
}

impl MadeLink {
    /// The configured interfaces this one needs first: a VLAN's parent, a
    /// bond's or bridge's members.
    pub fn needs(&self) -> &[String] {
        match self {
            MadeLink::Vlan { parent, .. } => std::slice::from_ref(parent),
            MadeLink::Bond(bond) => &bond.members,
            MadeLink::Bridge { members, .. } => members,
        }
    }

    /// "vlan", "bond", "bridge": the `kind` written.
    pub fn kind(&self) -> &'static str {
        match self {
            MadeLink::Vlan { .. } => "vlan",
            MadeLink::Bond(_) => "bond",
            MadeLink::Bridge { .. } => "bridge",
        }
    }
}

/// `kind = "bond"`: the kernel's bonding driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bond {
    /// Configured interfaces enslaved to it.
    pub members: Vec<String>,
    pub mode: BondMode,
    /// Link monitoring interval in milliseconds (`miimon`; default 100,
    /// 0 turns it off).
    pub miimon_ms: u32,
    /// `xmit_hash_policy`; the kernel's default (layer2) when `None`.
    pub xmit_hash_policy: Option<XmitHashPolicy>,
}

/// The bonding modes, by the names `ip link` and ifenslave use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BondMode {
    BalanceRr,
    ActiveBackup,
    BalanceXor,
    Broadcast,
    Ieee8023Ad,
    BalanceTlb,
    BalanceAlb,
}

/// How a bond picks a member for each packet (modes balance-xor, 802.3ad,
/// balance-tlb, balance-alb).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmitHashPolicy {
    Layer2,
    Layer34,
    Layer23,
    Encap23,
    Encap34,
    VlanSrcMac,
}

/// One `[[interface]]`: a link, renamed to `name`, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// The name the link gets (`wan`, `lan`).
    pub name: String,
    pub matcher: LinkMatch,
    pub addresses: Vec<IpNet>,
    pub mtu: Option<u32>,
}

/// One `[[route]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `0.0.0.0/0` for `"default"`.
    pub destination: IpNet,
    pub gateway: Option<IpAddr>,
    /// Optional outgoing interface (by its configured `name`).
    pub device: Option<String>,
    pub metric: Option<u32>,
    /// Routing table number; `None` is the main table.
    pub table: Option<u32>,
}

/// Transport protocol of a virtual service (`ipvsadm -t/-u/--sctp-service`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The IP protocol number the kernel uses.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// Address family, for firewall-mark services that carry no address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Inet,
    Inet6,
}

impl Family {
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Inet,
            IpAddr::V6(_) => Family::Inet6,
        }
    }
}

/// What identifies a virtual service in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    /// `protocol` + `address`: `ipvsadm -t 192.168.1.100:5432`.
    Addr {
        protocol: Protocol,
        address: SocketAddr,
    },
    /// `fwmark = N`: `ipvsadm -f N`. `family` comes from the `family` key
    /// (default IPv4) or from the real servers' addresses.
    Fwmark { mark: u32, family: Family },
}

impl ServiceKey {
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { address, .. } => Family::of(address.ip()),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

/// IPVS scheduling algorithms, by the names `ipvsadm -s` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Fo,
    Ovf,
    Mh,
    Twos,
}

impl Scheduler {
    pub const ALL: [Scheduler; 14] = [
        Scheduler::Rr,
        Scheduler::Wrr,
        Scheduler::Lc,
        Scheduler::Wlc,
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sh,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Fo,
        Scheduler::Ovf,
        Scheduler::Mh,
        Scheduler::Twos,
    ];

    /// The kernel's (and ipvsadm's) name for it.
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Mh => "mh",
            Scheduler::Twos => "twos",
        }
    }

    pub fn from_name(name: &str) -> Option<Scheduler> {
        Scheduler::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Packet-forwarding method towards a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Forwarding {
    /// `nat`: masquerading, `ipvsadm -m`.
    Nat,
    /// `direct`: direct routing / gatewaying, `ipvsadm -g`.
    Direct,
    /// `tunnel`: IP-in-IP, `ipvsadm -i`.
    Tunnel,
}

impl Forwarding {
    pub fn name(self) -> &'static str {
        match self {
            Forwarding::Nat => "nat",
            Forwarding::Direct => "direct",
            Forwarding::Tunnel => "tunnel",
        }
    }
}

/// Scheduler flags (`ipvsadm -b`), meaningful for `sh` and `mh`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchedulerFlags {
    /// `sh-fallback`: skip an overloaded or quiesced real server.
    pub sh_fallback: bool,
    /// `sh-port`: hash the source port too.
    pub sh_port: bool,
    /// `mh-fallback`
    pub mh_fallback: bool,
    /// `mh-port`
    pub mh_port: bool,
}

/// One `[[service]]`: a virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// A label for logs (`name = "postgres"`); defaults to the key as ipvsadm prints it.
    pub name: String,
    pub key: ServiceKey,
    pub scheduler: Scheduler,
    pub flags: SchedulerFlags,
    /// Default forwarding method of its real servers.
    pub forwarding: Forwarding,
    /// `ipvsadm -p`: `None` when off (`"0s"` or absent). Whole seconds.
    pub persistence: Option<Duration>,
    /// `ipvsadm -M`: the client netmask persistence groups by, as a prefix
    /// length (IPv4 `255.255.255.0` is 24). `None` is the kernel default
    /// (/32, or /128 for IPv6).
    pub persistence_netmask: Option<u8>,
    pub real_servers: Vec<RealServer>,
    /// `[service.health_check]` with every default filled in: the check its
    /// real servers get unless they override it.
    pub health_check: HealthCheck,
    /// `sorry_server = "192.168.3.9:5432"`: put in the table (weight 1, the
    /// service's forwarding) only while every real server is down. Not
    /// checked itself: it is the last resort.
    pub sorry_server: Option<SocketAddr>,
}

/// One `[[service.real_server]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServer {
    /// For firewall-mark services the port may be 0 (given without a port).
    pub address: SocketAddr,
    /// 0..=65535; 0 = quiesced.
    pub weight: u32,
    /// Its own `forwarding`, or the service's.
    pub forwarding: Forwarding,
    /// `ipvsadm -x`: upper connection threshold; 0 = none.
    pub upper_threshold: u32,
    /// `ipvsadm -y`: lower connection threshold; 0 = none.
    pub lower_threshold: u32,
    /// The service's `[service.health_check]` merged with this server's own
    /// `[service.real_server.health_check]`.
    pub health_check: HealthCheck,
}

/// How a real server is checked (`[service.health_check]`, overridable per
/// real server), with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HealthCheck {
    /// `type`: what a probe does.
    pub kind: CheckKind,
    /// `port`: the port probed; `None` is the real server's own.
    pub port: Option<u16>,
    /// `interval` (default 1s): from the start of one probe to the next.
    pub interval: Duration,
    /// `timeout` (default 1s): a probe not done by then failed.
    pub timeout: Duration,
    /// `fall` (default 3): consecutive failures that take an up server down.
    pub fall: u32,
    /// `rise` (default 2): consecutive successes that bring a down server back.
    pub rise: u32,
    /// `on_failure` (default quiesce): what a down server becomes.
    pub on_failure: OnFailure,
}

impl Default for HealthCheck {
    /// A TCP connect every second, 1 s timeout, down after 3 failures, up
    /// after 2 successes, quiesced while down.
    fn default() -> HealthCheck {
        HealthCheck {
            kind: CheckKind::Tcp,
            port: None,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            fall: 3,
            rise: 2,
            on_failure: OnFailure::Quiesce,
        }
    }
}

/// The kinds of health check (`type = "..."`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckKind {
    /// `none`: never checked, always in the table.
    None,
    /// `tcp`: a TCP connect that completes.
    Tcp,
    /// `postgres`: speaks the PostgreSQL protocol (SSLRequest, then a
    /// startup message as `user` to `database`).
    Postgres { user: String, database: String },
    /// `http`: `GET path` answered with `status`, with an optional `Host`.
    Http {
        path: String,
        host: Option<String>,
        status: u16,
    },
}

impl CheckKind {
    /// The `type` name, as written in router.toml and in log lines.
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::None => "none",
            CheckKind::Tcp => "tcp",
            CheckKind::Postgres { .. } => "postgres",
            CheckKind::Http { .. } => "http",
        }
    }
}

/// What a down real server becomes (`on_failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OnFailure {
    /// `quiesce`: weight 0; no new connections, existing ones drain.
    Quiesce,
    /// `remove`: taken out of the table; its connections are cut (or
    /// expire, per `net.ipv4.vs.expire_nodest_conn`).
    Remove,
}

/// `[vrrp]`: one VRRPv3 instance (RFC 5798) that moves the virtual
/// addresses between two directors, as keepalived's `vrrp_instance` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vrrp {
    /// Where adverts go: the configured `name` of an `[[interface]]`.
    pub interface: String,
    /// `virtual_router_id`: 1..=255, the same on both directors.
    pub virtual_router_id: u8,
    /// 1..=255; 255 means this director owns the addresses.
    pub priority: u8,
    /// Centisecond resolution, 10ms..=40.95s (the advert's 12-bit field).
    pub advert_interval: Duration,
    /// Take the master role back from a lower-priority master.
    pub preempt: bool,
    /// How long to wait as backup before preempting (0 = at once).
    pub preempt_delay: Duration,
    /// Peers adverts go to by unicast; empty means multicast 224.0.0.18.
    pub unicast_peers: Vec<IpAddr>,
    /// The addresses the master holds, possibly on several interfaces.
    pub virtual_addresses: Vec<VirtualAddress>,
    /// Interface of the kernel's IPVS connection sync daemon, if any.
    pub sync_interface: Option<String>,
    /// `syncid` of the sync daemon.
    pub sync_id: u8,
    /// Service names; the priority drops by `track_priority_delta` while
    /// every real server of any of them is down.
    pub track_services: Vec<String>,
    pub track_priority_delta: u8,
}

/// One of `[vrrp] virtual_addresses`: an address and the interface
/// (configured `name`) the master puts it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualAddress {
    pub interface: String,
    pub address: IpNet,
}
