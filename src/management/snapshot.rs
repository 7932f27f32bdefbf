//! What the director publishes: the box's state at one moment, with the
//! IPVS table and its counters as the kernel reported them.
//!
//! The director fills a [`Snapshot`] from what it already holds (the
//! running config's services and their health, the VRRP instance, the last
//! apply) plus one IPVS dump; every endpoint renders from one, never from
//! live state, so a page is consistent and a scrape costs one dump.
//! Services are the config's view (names, configured weights, health);
//! [`Snapshot::table`] is the kernel's, joined to them by service key and
//! real-server address when rendered ([`Snapshot::joined`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::ServiceKey;
use crate::ipvs::{DestEntry, ServiceEntry, Stats, Table};

/// The box's state at [`Snapshot::boot`].
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// When it was taken: time since boot.
    pub boot: Duration,
    /// The wall clock then (since the Unix epoch), once the clock is set.
    pub unix: Option<Duration>,
    pub hostname: String,
    /// Why the box last booted.
    pub boot_reason: BootReason,
    /// The running config; `None` when no valid config was ever read.
    pub config: Option<ConfigInfo>,
    /// The last apply (boot or reload), `None` before the first.
    pub last_apply: Option<LastApply>,
    /// Reloads counted by result since boot.
    pub reloads: Reloads,
    /// Pieces of the running config that failed and are being retried.
    pub failures_pending: u64,
    /// The config's services, in config order.
    pub services: Vec<Service>,
    /// The VRRP instance, when `[vrrp]` is configured.
    pub vrrp: Option<Vrrp>,
    /// The kernel's IPVS table, with counters.
    pub table: Table,
    /// The kernel's totals over every service (`/proc/net/ip_vs_stats`,
    /// which node_exporter reports; see [`read_totals`]).
    pub totals: Stats,
    /// How long it took to make.
    pub took: Took,
    /// The last time the director found the kernel's IPVS table changed
    /// behind its back and put it back; `None` when it never did.
    pub drift: Option<Drift>,
    /// The control half's state.
    pub control: Control,
    /// The system slots (issue 14).
    pub system: System,
}

/// Which system runs, the other slot, the last update's trial.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct System {
    /// The running slot ("A" or "B"); `None` when the box did not boot
    /// from a boot partition.
    pub slot: Option<String>,
    /// The other slot's version; `None` when it holds none known.
    pub other: Option<String>,
    /// The last update's trial.
    pub trial: Option<Trial>,
    /// Why `PUT /update` cannot work on this box; `None` when it can.
    pub updates_refused: Option<String>,
}

/// An update's trial, as the record has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trial {
    pub slot: String,
    /// The new system's version; `None` when it never got to say it.
    pub version: Option<String>,
    /// "on trial", "good", "failed" or "rolled back".
    pub result: &'static str,
    pub reason: Option<String>,
}

/// A repair of the IPVS table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// When (since boot).
    pub at: Duration,
    /// The rules that differed, as the ipvsadm commands that put them back.
    pub changes: Vec<String>,
    /// Repairs since boot.
    pub repairs: u64,
}

/// What `/status` says of the control half (issue 12).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Control {
    /// The API's certificate, `SHA256:` and hex; `None` without TLS.
    pub tls_fingerprint: Option<String>,
    /// Whether write requests are possible (a `password_hash` is set).
    pub writable: bool,
    /// A pushed config waits for `POST /config/confirm` until then (time
    /// since boot); the previous one comes back if it does not come.
    pub confirm_by: Option<Duration>,
}

/// How long a snapshot took to make, in its two parts: what the director
/// does on its own loop (the services joined with their health), and
/// reading the kernel's table and totals on a blocking thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Took {
    pub director: Duration,
    pub kernel: Duration,
}

pub use crate::boot_reason::BootReason;
pub use crate::source::Fallback;

/// Where the running config came from, and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigInfo {
    pub source: ConfigSource,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
    /// Set while the box runs the boot partition's `router.toml.prev`
    /// because its router.toml is invalid: why, and router.toml's
    /// diagnostics.
    pub fallback: Option<Fallback>,
    /// The file's text (for `GET /config`, and to go back to when a
    /// pushed config is not confirmed).
    pub text: std::sync::Arc<str>,
}

/// The three places a config is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    FwCfg,
    Boot,
    Builtin,
}

impl ConfigSource {
    pub fn name(self) -> &'static str {
        match self {
            ConfigSource::FwCfg => "fw_cfg",
            ConfigSource::Boot => "boot",
            ConfigSource::Builtin => "builtin",
        }
    }
}

/// How an apply (or a reload's read) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyResult {
    /// Everything applied.
    Ok,
    /// The file was invalid: nothing applied.
    Invalid,
    /// Applied, some pieces failed (being retried).
    Failed,
}

impl ApplyResult {
    pub fn name(self) -> &'static str {
        match self {
            ApplyResult::Ok => "ok",
            ApplyResult::Invalid => "invalid",
            ApplyResult::Failed => "failed",
        }
    }
}

/// The last apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastApply {
    pub result: ApplyResult,
    /// Diagnostics or failures, as logged.
    pub errors: Vec<String>,
    /// When: time since boot.
    pub at: Duration,
}

/// Reloads since boot, by result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reloads {
    pub ok: u64,
    pub invalid: u64,
    pub failed: u64,
}

/// A configured virtual service.
#[derive(Debug, Clone)]
pub struct Service {
    /// Its unique name (labels metrics, names API paths).
    pub name: String,
    pub key: ServiceKey,
    /// The configured scheduler (the kernel's is in the table).
    pub scheduler: String,
    pub real_servers: Vec<RealServer>,
    /// The sorry server, when configured.
    pub sorry_server: Option<SocketAddr>,
    /// True while the sorry server stands in (no real server up).
    pub sorry_active: bool,
}

/// A configured real server and its health.
#[derive(Debug, Clone)]
pub struct RealServer {
    pub address: SocketAddr,
    pub configured_weight: u32,
    pub health: Health,
    /// The control issue's drain, when set: its name ("drain", ...).
    pub override_: Option<String>,
}

/// A real server's health as the checks see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub state: HealthState,
    /// The last probe, when one ran.
    pub last_probe: Option<Probe>,
    /// When the state last changed (time since boot); `None` when it
    /// never changed since the check started.
    pub since: Option<Duration>,
    /// Up/down changes since boot.
    pub transitions: u64,
}

impl Health {
    /// A real server no check looks at.
    pub fn unchecked() -> Health {
        Health {
            state: HealthState::Unchecked,
            last_probe: None,
            since: None,
            transitions: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    Up,
    Down,
    /// `health_check.type = "none"`.
    Unchecked,
}

impl HealthState {
    pub fn name(self) -> &'static str {
        match self {
            HealthState::Up => "up",
            HealthState::Down => "down",
            HealthState::Unchecked => "unchecked",
        }
    }
}

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub ok: bool,
    /// "ok", or why it failed ("connection refused", ...).
    pub detail: String,
    pub latency: Duration,
    /// When it ended: time since boot.
    pub at: Duration,
}

/// The VRRP instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vrrp {
    pub interface: String,
    pub vrid: u8,
    pub state: VrrpState,
    /// The priority advertised now.
    pub priority: u8,
    /// The master's address as last heard (ours when master), if known.
    pub master_address: Option<IpAddr>,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub dropped: Dropped,
    /// State changes since boot.
    pub transitions: u64,
}

/// Adverts dropped, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    pub ttl: u64,
    pub checksum: u64,
    pub version: u64,
    pub vrid: u64,
    pub length: u64,
    /// Not from a configured unicast peer.
    pub peer: u64,
}

impl Dropped {
    /// Each reason with its label value.
    pub fn by_reason(&self) -> [(&'static str, u64); 6] {
        [
            ("ttl", self.ttl),
            ("checksum", self.checksum),
            ("version", self.version),
            ("vrid", self.vrid),
            ("length", self.length),
            ("peer", self.peer),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrrpState {
    Init,
    Backup,
    Master,
    Fault,
}

impl VrrpState {
    /// keepalived exporters' numbering: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.
    pub fn number(self) -> u8 {
        match self {
            VrrpState::Init => 0,
            VrrpState::Backup => 1,
            VrrpState::Master => 2,
            VrrpState::Fault => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            VrrpState::Init => "INIT",
            VrrpState::Backup => "BACKUP",
            VrrpState::Master => "MASTER",
            VrrpState::Fault => "FAULT",
        }
    }
}

/// A configured service with its kernel entry, if the kernel has it.
pub struct Joined<'a> {
    pub service: &'a Service,
    pub kernel: Option<&'a ServiceEntry>,
    /// The service's real servers, each with its kernel entry.
    pub real_servers: Vec<(&'a RealServer, Option<&'a DestEntry>)>,
}

impl Joined<'_> {
    /// Active connections over the service's real servers in the kernel.
    pub fn active_connections(&self) -> u64 {
        self.kernel
            .map(|k| k.dests.iter().map(|d| u64::from(d.active_conns)).sum())
            .unwrap_or(0)
    }
}

impl Snapshot {
    /// Every configured service joined to its kernel entry, by key; real
    /// servers by address.
    pub fn joined(&self) -> Vec<Joined<'_>> {
        let kernel: HashMap<&ServiceKey, &ServiceEntry> = self
            .table
            .services
            .iter()
            .map(|e| (&e.service.key, e))
            .collect();
        self.services
            .iter()
            .map(|service| {
                let entry = kernel.get(&service.key).copied();
                let real_servers = service
                    .real_servers
                    .iter()
                    .map(|rs| {
                        let dest = entry.and_then(|e| {
                            e.dests
                                .iter()
                                .find(|d| same_dest(d.dest.address, rs.address))
                        });
                        (rs, dest)
                    })
                    .collect();
                Joined {
                    service,
                    kernel: entry,
                    real_servers,
                }
            })
            .collect()
    }

    /// Milliseconds since boot when the snapshot was taken.
    pub fn boot_ms(&self) -> u64 {
        self.boot.as_millis() as u64
    }

    /// The wall-clock time of a moment since boot, once the clock is set.
    pub fn unix_of(&self, at: Duration) -> Option<Duration> {
        self.unix
            .map(|now| now.saturating_sub(self.boot.saturating_sub(at)))
    }

    /// Totals summed over the table's services, for a kernel without
    /// `/proc/net/ip_vs_stats` (the kernel's totals also count services
    /// since removed).
    pub fn sum_totals(table: &Table) -> Stats {
        let mut t = Stats::default();
        for s in &table.services {
            t.conns += s.stats.conns;
            t.inpkts += s.stats.inpkts;
            t.outpkts += s.stats.outpkts;
            t.inbytes += s.stats.inbytes;
            t.outbytes += s.stats.outbytes;
        }
        t
    }
}

/// A real server of a fwmark service is in the kernel with port 0 when
/// configured without one; otherwise addresses must match exactly.
fn same_dest(kernel: SocketAddr, configured: SocketAddr) -> bool {
    kernel == configured || (kernel.ip() == configured.ip() && configured.port() == 0)
}

/// Parse `/proc/net/ip_vs_stats`: the third line holds the five totals
/// (connections, packets in and out, bytes in and out) in hex.
pub fn parse_totals(text: &str) -> Option<Stats> {
    let line = text.lines().nth(2)?;
    let mut fields = line.split_whitespace().map(|f| u64::from_str_radix(f, 16));
    let mut next = || fields.next()?.ok();
    Some(Stats {
        conns: next()?,
        inpkts: next()?,
        outpkts: next()?,
        inbytes: next()?,
        outbytes: next()?,
        ..Stats::default()
    })
}

/// The kernel's IPVS totals, from `/proc/net/ip_vs_stats` (cheap: one
/// small file, no dump).
pub fn read_totals() -> Option<Stats> {
    parse_totals(&std::fs::read_to_string("/proc/net/ip_vs_stats").ok()?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{Family, Protocol};
    use crate::ipvs::{Dest, Forward, VirtualService};

    #[test]
    fn totals_from_proc() {
        let text = "   Total Incoming Outgoing         Incoming         Outgoing\n\
                    \x20  Conns  Packets  Packets            Bytes            Bytes\n\
                    \x20     1F      3E8        0            1A2B3C                0\n\
                    \n\
                    \x20Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n\
                    \x20      0        0        0                0                0\n";
        let t = parse_totals(text).unwrap();
        assert_eq!(
            (t.conns, t.inpkts, t.outpkts, t.inbytes),
            (31, 1000, 0, 0x1a2b3c)
        );
        assert!(parse_totals("short\n").is_none());
    }

    fn stats(n: u64) -> Stats {
        Stats {
            conns: n,
            inpkts: n * 10,
            outpkts: n * 9,
            inbytes: n * 1000,
            outbytes: n * 900,
            cps: 1,
            inpps: 2,
            outpps: 3,
            inbps: 4,
            outbps: 5,
        }
    }

    fn kernel_dest(addr: &str, weight: u32, active: u32) -> DestEntry {
        DestEntry {
            dest: Dest {
                address: addr.parse().unwrap(),
                forward: Forward::Masq,
                weight,
                upper_threshold: 0,
                lower_threshold: 0,
            },
            active_conns: active,
            inact_conns: active * 2,
            persist_conns: 0,
            stats: stats(u64::from(active)),
        }
    }

    fn up(at_ms: u64) -> Health {
        Health {
            state: HealthState::Up,
            last_probe: Some(Probe {
                ok: true,
                detail: "ok".into(),
                latency: Duration::from_micros(1500),
                at: Duration::from_millis(at_ms),
            }),
            since: None,
            transitions: 0,
        }
    }

    /// A box with a TCP service (one real server down), an IPv6 UDP
    /// service, a fwmark service, and VRRP as master.
    pub(crate) fn sample() -> Snapshot {
        let pg = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            address: "192.168.1.100:5432".parse().unwrap(),
        };
        let dns = ServiceKey::Addr {
            protocol: Protocol::Udp,
            address: "[2001:db8::53]:53".parse().unwrap(),
        };
        let fwm = ServiceKey::Fwmark {
            mark: 5,
            family: Family::Inet,
        };
        let vs = |key: ServiceKey, sched: &str| VirtualService {
            key,
            scheduler: sched.into(),
            flags: 0,
            timeout: 0,
            netmask: 0xffff_ffff,
            pe_name: None,
        };
        let table = Table {
            services: vec![
                ServiceEntry {
                    service: vs(pg, "rr"),
                    dests: vec![
                        kernel_dest("192.168.3.2:5432", 1, 3),
                        kernel_dest("192.168.3.3:5432", 0, 1),
                    ],
                    stats: stats(4),
                },
                ServiceEntry {
                    service: vs(dns, "sh"),
                    dests: vec![kernel_dest("[2001:db8::2]:53", 2, 0)],
                    stats: stats(0),
                },
                ServiceEntry {
                    service: vs(fwm, "wlc"),
                    dests: vec![kernel_dest("10.0.0.7:0", 1, 7)],
                    stats: stats(7),
                },
            ],
        };
        let down = Health {
            state: HealthState::Down,
            last_probe: Some(Probe {
                ok: false,
                detail: "connection refused \"quoted\" <b>".into(),
                latency: Duration::from_millis(2),
                at: Duration::from_millis(59_000),
            }),
            since: Some(Duration::from_millis(40_000)),
            transitions: 1,
        };
        let rs = |addr: &str, weight: u32, health: Health| RealServer {
            address: addr.parse().unwrap(),
            configured_weight: weight,
            health,
            override_: None,
        };
        Snapshot {
            boot: Duration::from_millis(60_000),
            unix: None,
            hostname: "lvs-a".into(),
            boot_reason: BootReason::PowerOn,
            config: Some(ConfigInfo {
                source: ConfigSource::Boot,
                sha256: "ab".repeat(32),
                fallback: None,
                text: "hostname = \"lvs-a\"\n".into(),
            }),
            last_apply: Some(LastApply {
                result: ApplyResult::Ok,
                errors: vec![],
                at: Duration::from_millis(980),
            }),
            reloads: Reloads {
                ok: 2,
                invalid: 1,
                failed: 0,
            },
            failures_pending: 0,
            services: vec![
                Service {
                    name: "postgres".into(),
                    key: pg,
                    scheduler: "rr".into(),
                    real_servers: vec![
                        rs("192.168.3.2:5432", 1, up(59_500)),
                        rs("192.168.3.3:5432", 1, down),
                    ],
                    sorry_server: None,
                    sorry_active: false,
                },
                Service {
                    name: "dns".into(),
                    key: dns,
                    scheduler: "sh".into(),
                    real_servers: vec![rs("[2001:db8::2]:53", 2, Health::unchecked())],
                    sorry_server: None,
                    sorry_active: false,
                },
                Service {
                    name: "marked".into(),
                    key: fwm,
                    scheduler: "wlc".into(),
                    real_servers: vec![rs("10.0.0.7:0", 1, up(59_900))],
                    sorry_server: Some("10.0.0.99:0".parse().unwrap()),
                    sorry_active: false,
                },
            ],
            vrrp: Some(Vrrp {
                interface: "eth0".into(),
                vrid: 51,
                state: VrrpState::Master,
                priority: 150,
                master_address: Some("192.168.1.2".parse().unwrap()),
                adverts_sent: 590,
                adverts_received: 3,
                dropped: Dropped {
                    peer: 2,
                    ..Dropped::default()
                },
                transitions: 2,
            }),
            totals: Snapshot::sum_totals(&table),
            table,
            took: Took {
                director: Duration::from_micros(1500),
                kernel: Duration::from_millis(12),
            },
            drift: Some(Drift {
                at: Duration::from_millis(45_000),
                changes: vec![
                    "ipvsadm -a -t 192.168.1.100:5432 -r 192.168.3.3:5432 -m -w 1".into(),
                ],
                repairs: 1,
            }),
            control: Control {
                tls_fingerprint: Some(format!("SHA256:{}", "ab".repeat(32))),
                writable: true,
                confirm_by: Some(Duration::from_secs(70)),
            },
            system: System {
                slot: Some("B".into()),
                other: Some("0.0.9".into()),
                trial: Some(Trial {
                    slot: "B".into(),
                    version: Some("0.1.0".into()),
                    result: "good",
                    reason: None,
                }),
                updates_refused: None,
            },
        }
    }

    /// `n` TCP services of `reals` real servers each (all in the kernel,
    /// all up), as the benchmark's 1,000 × 10 table.
    pub(crate) fn big_table(n: u32, reals: u32) -> Snapshot {
        let mut s = big(n);
        for (svc, entry) in s.services.iter_mut().zip(&mut s.table.services) {
            let template_rs = svc.real_servers[0].clone();
            let template_dest = entry.dests[0].clone();
            svc.real_servers.clear();
            entry.dests.clear();
            let SocketAddr::V4(vip) = (match svc.key {
                ServiceKey::Addr { address, .. } => address,
                ServiceKey::Fwmark { .. } => unreachable!("big makes TCP services"),
            }) else {
                unreachable!("big makes IPv4 services")
            };
            let [_, a, b, c] = vip.ip().octets();
            for r in 0..reals {
                let address = SocketAddr::from(([172, a, b, c.wrapping_add(r as u8)], 5432));
                let mut rs = template_rs.clone();
                rs.address = address;
                let mut d = template_dest.clone();
                d.dest.address = address;
                svc.real_servers.push(rs);
                entry.dests.push(d);
            }
        }
        s
    }

    /// `n` TCP services of one real server each, made from the sample's
    /// first.
    pub(crate) fn big(n: u32) -> Snapshot {
        let mut s = sample();
        let template_service = s.services[0].clone();
        let template_entry = s.table.services[0].clone();
        s.services.clear();
        s.table.services.clear();
        for i in 0..n {
            let key = ServiceKey::Addr {
                protocol: Protocol::Tcp,
                address: SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 80)),
            };
            let mut svc = template_service.clone();
            svc.name = format!("web{i}");
            svc.key = key;
            svc.real_servers.truncate(1);
            let mut entry = template_entry.clone();
            entry.service.key = key;
            entry.dests.truncate(1);
            s.services.push(svc);
            s.table.services.push(entry);
        }
        s
    }

    #[test]
    fn joins_config_and_kernel() {
        let s = sample();
        let j = s.joined();
        assert_eq!(j.len(), 3);
        assert_eq!(j[0].active_connections(), 4);
        assert_eq!(j[0].real_servers[1].1.unwrap().dest.weight, 0);
        assert!(j[2].real_servers[0].1.is_some());
        assert_eq!(s.totals.conns, 11);
    }

    #[test]
    fn wall_clock_of_a_moment() {
        let mut s = sample();
        assert_eq!(s.unix_of(Duration::from_secs(1)), None);
        s.unix = Some(Duration::from_secs(1_000_000));
        assert_eq!(
            s.unix_of(Duration::from_secs(50)),
            Some(Duration::from_secs(999_990))
        );
    }
}
