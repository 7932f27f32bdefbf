//! The kernel's whole IPVS table, and its `ipvsadm -Ln` rendering.
//!
//! The layout is ipvsadm 1.31's `list_all()`/`print_service_entry()` with
//! numeric output: the same header lines, the same column widths (so the
//! real-server lines keep ipvsadm's trailing padding), services and real
//! servers sorted the same way (by firewall mark, family, protocol,
//! address, port). One difference: ipvsadm compares addresses by
//! subtracting them as C `int`s, which misorders addresses more than 2^31
//! apart; we sort them numerically.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use super::attr::af_of;
use super::info::Info;
use super::service::{SVC_F_ONEPACKET, ServiceEntry};
use crate::config::{Family, Protocol, ServiceKey};

/// Every virtual service in the kernel, each with its real servers, in
/// the kernel's (hash) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub services: Vec<ServiceEntry>,
}

/// ipvsadm's service order: fwmark (0 for address services), family,
/// protocol, address, port.
fn service_order(key: &ServiceKey) -> (u32, u16, u16, u128, u16) {
    match key {
        ServiceKey::Addr { protocol, address } => (
            0,
            af_of(Family::of(address.ip())),
            protocol.number(),
            addr_number(address.ip()),
            address.port(),
        ),
        // The kernel reports fwmark services with protocol TCP, address 0.
        ServiceKey::Fwmark { mark, family } => (*mark, af_of(*family), 6, 0, 0),
    }
}

fn addr_number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

/// Lay out `table` exactly as `ipvsadm -Ln` prints it, header included.
pub fn format_table(info: &Info, table: &Table) -> String {
    format_table_cut(info, table, usize::MAX)
}

/// [`format_table`] cut after `max_lines` lines, with one more line that
/// counts what is not shown; only the lines shown are laid out.
pub fn format_table_cut(info: &Info, table: &Table, max_lines: usize) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{info}");
    out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
    out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");

    let mut services: Vec<&ServiceEntry> = table.services.iter().collect();
    services.sort_by_key(|e| service_order(&e.service.key));
    let real_servers: usize = table.services.iter().map(|e| e.dests.len()).sum();
    let total = 3 + table.services.len() + real_servers;
    if total <= max_lines {
        for entry in services {
            write_service(&mut out, entry);
        }
        return out;
    }
    let mut shown = 3;
    for entry in services {
        if shown >= max_lines {
            break;
        }
        write_service(&mut out, entry);
        shown += 1 + entry.dests.len();
    }
    // The last service written may run past the cut: keep `max_lines`.
    let keep: usize = out
        .split_inclusive('\n')
        .take(max_lines)
        .map(str::len)
        .sum();
    out.truncate(keep);
    let _ = writeln!(
        out,
        "... {} more lines not shown: {} virtual services with {real_servers} real servers in all",
        total - max_lines,
        table.services.len()
    );
    out
}

/// One virtual service's line and its real servers' lines.
fn write_service(out: &mut String, entry: &ServiceEntry) {
    let s = &entry.service;
    let family = s.key.family();
    let mut name = match &s.key {
        ServiceKey::Fwmark { mark, family } => match family {
            Family::Inet => format!("FWM  {mark}"),
            Family::Inet6 => format!("FWM  {mark} IPv6"),
        },
        ServiceKey::Addr { protocol, address } => {
            // "%-4s %s": TCP and UDP get two spaces, SCTP one.
            format!("{:<4} {}", protocol_name(*protocol), address)
        }
    };
    // ipvsadm cuts IPv4 service names at 33 characters.
    if family == Family::Inet {
        truncate(&mut name, 33);
    }
    let _ = write!(out, "{name} {}", s.scheduler);
    let flags = s.sched_flag_names();
    if !flags.is_empty() {
        let _ = write!(out, " ({})", flags.join(","));
    }
    if s.persistent() {
        let _ = write!(out, " persistent {}", s.timeout);
        match family {
            Family::Inet if s.netmask != 0xffff_ffff => {
                let _ = write!(out, " mask {}", Ipv4Addr::from(s.netmask));
            }
            Family::Inet6 if s.netmask != 128 => {
                let _ = write!(out, " mask {}", s.netmask);
            }
            _ => {}
        }
        if let Some(pe) = &s.pe_name {
            let _ = write!(out, " pe {pe}");
        }
    }
    if s.flags & SVC_F_ONEPACKET != 0 {
        out.push_str(" ops");
    }
    out.push('\n');

    let mut dests: Vec<_> = entry.dests.iter().collect();
    dests.sort_by_key(|d| (addr_number(d.dest.address.ip()), d.dest.address.port()));
    for d in dests {
        let mut dname = d.dest.address.to_string();
        if family == Family::Inet {
            truncate(&mut dname, 28);
        }
        // Weight is a C int in ipvsadm.
        let _ = writeln!(
            out,
            "  -> {:<28} {:<7} {:<6} {:<10} {:<10}",
            dname,
            d.dest.forward.to_string(),
            d.dest.weight as i32,
            d.active_conns,
            d.inact_conns
        );
    }
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        s.truncate(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::dest::{Dest, DestEntry, Forward};
    use crate::ipvs::service::tests::{service, tcp};
    use crate::ipvs::service::{SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2, VirtualService};
    use crate::ipvs::stats::Stats;

    fn entry(service: VirtualService, dests: Vec<DestEntry>) -> ServiceEntry {
        ServiceEntry {
            service,
            dests,
            stats: Stats::default(),
        }
    }

    fn dest(addr: &str, forward: Forward, weight: u32, active: u32, inact: u32) -> DestEntry {
        DestEntry {
            dest: Dest {
                address: addr.parse().unwrap(),
                forward,
                weight,
                upper_threshold: 0,
                lower_threshold: 0,
            },
            active_conns: active,
            inact_conns: inact,
            persist_conns: 0,
            stats: Stats::default(),
        }
    }

    const INFO: Info = Info {
        version_code: 0x010201,
        conn_tab_size: 4096,
    };

    #[test]
    fn empty_table_has_the_header_only() {
        assert_eq!(
            format_table(&INFO, &Table::default()),
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n  \
             -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        );
    }

    /// What `ipvsadm -Ln` prints for the same table, trailing padding and
    /// all (every real-server line ends in the `%-10u` column's spaces).
    #[test]
    fn table_matches_ipvsadm_ln() {
        let mut web = service(tcp("192.168.1.100:443"), "wlc");
        web.flags = SVC_F_PERSISTENT;
        web.timeout = 300;
        web.netmask = 0xffff_ff00;
        let mut dns = service(
            ServiceKey::Addr {
                protocol: Protocol::Udp,
                address: "[2001:db8::53]:53".parse().unwrap(),
            },
            "sh",
        );
        dns.flags = SVC_F_SCHED1 | SVC_F_SCHED2;
        let mut fwm = service(
            ServiceKey::Fwmark {
                mark: 5,
                family: Family::Inet,
            },
            "rr",
        );
        fwm.flags = SVC_F_PERSISTENT;
        fwm.timeout = 60;

        // Deliberately out of order: the kernel lists in hash order.
        let table = Table {
            services: vec![
                entry(fwm, vec![dest("10.0.0.7:0", Forward::Route, 1, 0, 0)]),
                entry(
                    dns,
                    vec![dest("[2001:db8::2]:53", Forward::Tunnel, 2, 0, 12)],
                ),
                entry(
                    service(tcp("192.168.1.100:5432"), "rr"),
                    vec![
                        dest("192.168.3.3:5432", Forward::Masq, 1, 0, 0),
                        dest("192.168.3.2:5432", Forward::Masq, 1, 3, 17),
                    ],
                ),
                entry(
                    web,
                    vec![dest("192.168.3.10:443", Forward::Route, 100, 0, 0)],
                ),
                entry(
                    service(
                        ServiceKey::Addr {
                            protocol: Protocol::Sctp,
                            address: "10.1.1.1:9999".parse().unwrap(),
                        },
                        "lc",
                    ),
                    vec![],
                ),
            ],
        };
        let want = [
            "IP Virtual Server version 1.2.1 (size=4096)",
            "Prot LocalAddress:Port Scheduler Flags",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
            "TCP  192.168.1.100:443 wlc persistent 300 mask 255.255.255.0",
            "  -> 192.168.3.10:443             Route   100    0          0         ",
            "TCP  192.168.1.100:5432 rr",
            "  -> 192.168.3.2:5432             Masq    1      3          17        ",
            "  -> 192.168.3.3:5432             Masq    1      0          0         ",
            "SCTP 10.1.1.1:9999 lc",
            "UDP  [2001:db8::53]:53 sh (sh-fallback,sh-port)",
            "  -> [2001:db8::2]:53             Tunnel  2      0          12        ",
            "FWM  5 rr persistent 60",
            "  -> 10.0.0.7:0                   Route   1      0          0         ",
        ];
        let text = format_table(&INFO, &table);
        let got: Vec<&str> = text.lines().collect();
        assert_eq!(got, want);
        assert!(text.ends_with('\n'));
    }

    /// `services` TCP services of `per` masqueraded real servers each.
    fn table_of(services: usize, per: usize) -> Table {
        Table {
            services: (0..services)
                .map(|i| {
                    let vip = format!("10.1.{}.{}:80", i / 250, 1 + i % 250);
                    let dests = (0..per)
                        .map(|j| dest(&format!("192.168.3.{}:80", 2 + j), Forward::Masq, 1, 0, 0))
                        .collect();
                    entry(service(tcp(&vip), "rr"), dests)
                })
                .collect(),
        }
    }

    #[test]
    fn a_short_table_is_shown_whole() {
        let t = table_of(2, 2);
        assert_eq!(format_table_cut(&INFO, &t, 40), format_table(&INFO, &t));
    }

    #[test]
    fn a_long_table_is_cut_with_a_count() {
        let t = table_of(1000, 10);
        let whole = format_table(&INFO, &t);
        let cut = format_table_cut(&INFO, &t, 40);
        let shown: Vec<&str> = cut.lines().collect();
        assert_eq!(shown.len(), 40 + 1);
        assert_eq!(shown[..40], whole.lines().take(40).collect::<Vec<_>>()[..]);
        assert_eq!(
            shown[40],
            format!(
                "... {} more lines not shown: 1000 virtual services with 10000 real servers in all",
                3 + 11000 - 40
            )
        );
    }
}
