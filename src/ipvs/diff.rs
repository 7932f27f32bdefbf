//! From `router.toml` to the kernel's terms, and from "what the kernel
//! has" to the fewest changes that make it "what the config says".
//!
//! Rules:
//! - the same config twice gives no ops;
//! - a changed setting of a service (scheduler, flags, persistence) is an
//!   edit, never a delete and add: established connections survive;
//! - a changed weight, forwarding method or threshold is an edit of that
//!   real server;
//! - services and real servers not in the config are removed.
//!
//! Order: services are added or edited first (real servers need them),
//! then real servers are added, edited, and only then removed, so a
//! service being moved to new real servers never has none; services that
//! go are deleted last (their real servers go with them, so those get no
//! ops of their own).
//!
//! What the kernel reports is compared after normalising: its own flag
//! bits (`HASHED`) are dropped, timeout and netmask count only for
//! persistent services, and a real server's connection flags count only
//! for the forwarding method.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use super::dest::{Dest, Forward};
use super::op::Op;
use super::service::{SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2, VirtualService};
use super::table::Table;
use crate::config::Service;

/// The config's services as the kernel should hold them, in config order.
pub fn desired(services: &[Service]) -> Vec<(VirtualService, Vec<Dest>)> {
    services.iter().map(desired_service).collect()
}

fn desired_service(s: &Service) -> (VirtualService, Vec<Dest>) {
    let family = s.key.family();
    let mut flags = 0;
    if s.flags.sh_fallback || s.flags.mh_fallback {
        flags |= SVC_F_SCHED1;
    }
    if s.flags.sh_port || s.flags.mh_port {
        flags |= SVC_F_SCHED2;
    }
    let timeout = s.persistence.map(|d| d.as_secs()).unwrap_or(0);
    let timeout = u32::try_from(timeout).unwrap_or(u32::MAX);
    let mut netmask = VirtualService::default_netmask(family);
    if timeout > 0 {
        flags |= SVC_F_PERSISTENT;
        if let Some(prefix) = s.persistence_netmask {
            netmask = VirtualService::netmask_from_prefix(family, prefix);
        }
    }
    let service = VirtualService {
        key: s.key,
        scheduler: s.scheduler.name().to_string(),
        flags,
        timeout,
        netmask,
        pe_name: None,
    };
    let dests = s
        .real_servers
        .iter()
        .map(|r| Dest {
            address: r.address,
            forward: Forward::from(r.forwarding),
            weight: r.weight,
            upper_threshold: r.upper_threshold,
            lower_threshold: r.lower_threshold,
        })
        .collect();
    (service, dests)
}

/// True when the kernel's dest behaves as the wanted one: only the
/// forwarding bits of the connection flags count.
fn same_dest(have: &Dest, want: &Dest) -> bool {
    Forward::from_bits(have.forward.bits()) == Forward::from_bits(want.forward.bits())
        && have.weight == want.weight
        && have.upper_threshold == want.upper_threshold
        && have.lower_threshold == want.lower_threshold
}

/// The ops that turn `current` into `desired`, in a safe order (see the
/// module documentation). A service or real server listed twice in
/// `desired` counts once, the first time.
pub fn diff(desired: &[(VirtualService, Vec<Dest>)], current: &Table) -> Vec<Op> {
    let current_by_key: HashMap<_, _> = current
        .services
        .iter()
        .map(|e| (e.service.key, e))
        .collect();

    let mut service_ops = Vec::new();
    let mut add_dests = Vec::new();
    let mut edit_dests = Vec::new();
    let mut del_dests = Vec::new();
    let mut wanted_keys = HashSet::new();

    for (want, dests) in desired {
        if !wanted_keys.insert(want.key) {
            continue;
        }
        let mut wanted_dests: HashSet<SocketAddr> = HashSet::new();
        match current_by_key.get(&want.key) {
            None => {
                service_ops.push(Op::AddService(want.clone()));
                for d in dests {
                    if wanted_dests.insert(d.address) {
                        add_dests.push(Op::AddDest(want.key, *d));
                    }
                }
            }
            Some(have) => {
                if have.service.normalized() != want.normalized() {
                    service_ops.push(Op::EditService(want.clone()));
                }
                let have_dests: HashMap<SocketAddr, &Dest> = have
                    .dests
                    .iter()
                    .map(|d| (d.dest.address, &d.dest))
                    .collect();
                for d in dests {
                    if !wanted_dests.insert(d.address) {
                        continue;
                    }
                    match have_dests.get(&d.address) {
                        None => add_dests.push(Op::AddDest(want.key, *d)),
                        Some(h) if !same_dest(h, d) => edit_dests.push(Op::EditDest(want.key, *d)),
                        Some(_) => {}
                    }
                }
                for h in &have.dests {
                    if !wanted_dests.contains(&h.dest.address) {
                        del_dests.push(Op::DelDest(want.key, h.dest));
                    }
                }
            }
        }
    }

    let del_services = current
        .services
        .iter()
        .filter(|e| !wanted_keys.contains(&e.service.key))
        .map(|e| Op::DelService(e.service.key));

    let mut ops = service_ops;
    ops.extend(add_dests);
    ops.extend(edit_dests);
    ops.extend(del_dests);
    ops.extend(del_services);
    ops
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{
        Family, Forwarding, HealthCheck, Protocol, RealServer, Scheduler, SchedulerFlags,
        ServiceKey,
    };
    use crate::ipvs::dest::DestEntry;
    use crate::ipvs::service::{SVC_F_HASHED, ServiceEntry};
    use crate::ipvs::stats::Stats;

    fn real(addr: &str, weight: u32) -> RealServer {
        RealServer {
            address: addr.parse().unwrap(),
            weight,
            forwarding: Forwarding::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
            health_check: HealthCheck::default(),
        }
    }

    fn tcp_service(addr: &str, reals: Vec<RealServer>) -> Service {
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            address: addr.parse().unwrap(),
        };
        Service {
            name: addr.into(),
            key,
            scheduler: Scheduler::Rr,
            flags: SchedulerFlags::default(),
            forwarding: Forwarding::Nat,
            persistence: None,
            persistence_netmask: None,
            real_servers: reals,
            health_check: HealthCheck::default(),
            sorry_server: None,
        }
    }

    fn fwmark_service(mark: u32, reals: Vec<RealServer>) -> Service {
        let mut s = tcp_service("0.0.0.0:0", reals);
        s.key = ServiceKey::Fwmark {
            mark,
            family: Family::Inet,
        };
        s
    }

    /// The table the kernel would report after applying `services`
    /// exactly, with the kernel's own extras: HASHED set, connection
    /// counters.
    fn kernel_table(services: &[Service]) -> Table {
        Table {
            services: desired(services)
                .into_iter()
                .map(|(mut service, dests)| {
                    service.flags |= SVC_F_HASHED;
                    ServiceEntry {
                        service,
                        dests: dests
                            .into_iter()
                            .map(|dest| DestEntry {
                                dest,
                                active_conns: 5,
                                inact_conns: 2,
                                persist_conns: 0,
                                stats: Stats::default(),
                            })
                            .collect(),
                        stats: Stats::default(),
                    }
                })
                .collect(),
        }
    }

    fn texts(ops: &[Op]) -> Vec<String> {
        ops.iter().map(|o| o.to_string()).collect()
    }

    fn base() -> Vec<Service> {
        vec![
            tcp_service(
                "192.168.1.100:5432",
                vec![real("192.168.3.2:5432", 1), real("192.168.3.3:5432", 1)],
            ),
            fwmark_service(7, vec![real("192.168.3.4:0", 2)]),
        ]
    }

    #[test]
    fn desired_maps_config_to_kernel_terms() {
        let mut s = tcp_service("10.0.0.1:443", vec![real("10.0.1.1:443", 3)]);
        s.scheduler = Scheduler::Sh;
        s.flags.sh_fallback = true;
        s.flags.sh_port = true;
        s.persistence = Some(Duration::from_secs(300));
        s.persistence_netmask = Some(24);
        s.real_servers[0].forwarding = Forwarding::Direct;
        s.real_servers[0].upper_threshold = 100;
        let (service, dests) = desired(&[s]).remove(0);
        assert_eq!(service.scheduler, "sh");
        assert_eq!(
            service.flags,
            SVC_F_PERSISTENT | SVC_F_SCHED1 | SVC_F_SCHED2
        );
        assert_eq!(service.timeout, 300);
        assert_eq!(service.netmask, 0xffff_ff00);
        assert_eq!(dests[0].forward, Forward::Route);
        assert_eq!(dests[0].weight, 3);
        assert_eq!(dests[0].upper_threshold, 100);

        // No persistence: timeout 0, default mask even if a netmask is given.
        let mut plain = tcp_service("[2001:db8::1]:80", vec![]);
        plain.persistence_netmask = Some(64);
        let (service, _) = desired(&[plain]).remove(0);
        assert_eq!(
            (service.flags, service.timeout, service.netmask),
            (0, 0, 128)
        );
    }

    #[test]
    fn diff_cases() {
        type Edit = fn(&mut Vec<Service>);
        let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
            ("no change, no ops", |_| {}, vec![]),
            (
                "one weight is one edit",
                |c| c[0].real_servers[1].weight = 5,
                vec!["-e -t 192.168.1.100:5432 -r 192.168.3.3:5432 -m -w 5"],
            ),
            (
                "forwarding method is a dest edit",
                |c| c[1].real_servers[0].forwarding = Forwarding::Direct,
                vec!["-e -f 7 -r 192.168.3.4:0 -g -w 2"],
            ),
            (
                "threshold is a dest edit",
                |c| c[0].real_servers[0].upper_threshold = 50,
                vec!["-e -t 192.168.1.100:5432 -r 192.168.3.2:5432 -m -w 1 -x 50"],
            ),
            (
                "added real server",
                |c| c[0].real_servers.push(real("192.168.3.9:5432", 1)),
                vec!["-a -t 192.168.1.100:5432 -r 192.168.3.9:5432 -m -w 1"],
            ),
            (
                "removed real server",
                |c| {
                    c[0].real_servers.remove(0);
                },
                vec!["-d -t 192.168.1.100:5432 -r 192.168.3.2:5432"],
            ),
            (
                "replaced real server: add before delete",
                |c| c[0].real_servers[0] = real("192.168.3.8:5432", 1),
                vec![
                    "-a -t 192.168.1.100:5432 -r 192.168.3.8:5432 -m -w 1",
                    "-d -t 192.168.1.100:5432 -r 192.168.3.2:5432",
                ],
            ),
            (
                "scheduler change is a service edit",
                |c| c[0].scheduler = Scheduler::Wlc,
                vec!["-E -t 192.168.1.100:5432 -s wlc"],
            ),
            (
                "persistence on is a service edit",
                |c| {
                    c[0].persistence = Some(Duration::from_secs(600));
                    c[0].persistence_netmask = Some(24);
                },
                vec!["-E -t 192.168.1.100:5432 -s rr -p 600 -M 255.255.255.0"],
            ),
            (
                "netmask without persistence changes nothing",
                |c| c[0].persistence_netmask = Some(24),
                vec![],
            ),
            (
                "service not in the config is removed, with no dest ops",
                |c| {
                    c.remove(0);
                },
                vec!["-D -t 192.168.1.100:5432"],
            ),
            (
                "fwmark service removed",
                |c| {
                    c.remove(1);
                },
                vec!["-D -f 7"],
            ),
            (
                "fwmark family change is a new service",
                |c| {
                    c[1].key = ServiceKey::Fwmark {
                        mark: 7,
                        family: Family::Inet6,
                    };
                    c[1].real_servers = vec![real("[2001:db8::4]:0", 2)];
                },
                vec![
                    "-A -f 7 -6 -s rr",
                    "-a -f 7 -6 -r [2001:db8::4]:0 -m -w 2",
                    "-D -f 7",
                ],
            ),
            (
                "new service comes with its real servers, services first",
                |c| {
                    c[0].real_servers[0].weight = 9;
                    c.push(tcp_service("10.0.0.1:80", vec![real("10.0.1.1:80", 1)]));
                },
                vec![
                    "-A -t 10.0.0.1:80 -s rr",
                    "-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 1",
                    "-e -t 192.168.1.100:5432 -r 192.168.3.2:5432 -m -w 9",
                ],
            ),
        ];
        for (name, edit, want) in cases {
            let current = kernel_table(&base());
            let mut config = base();
            edit(&mut config);
            let ops = diff(&desired(&config), &current);
            assert_eq!(texts(&ops), want, "case {name}");
        }
    }

    #[test]
    fn empty_kernel_gets_everything_in_order() {
        let ops = diff(&desired(&base()), &Table::default());
        assert_eq!(
            texts(&ops),
            [
                "-A -t 192.168.1.100:5432 -s rr",
                "-A -f 7 -s rr",
                "-a -t 192.168.1.100:5432 -r 192.168.3.2:5432 -m -w 1",
                "-a -t 192.168.1.100:5432 -r 192.168.3.3:5432 -m -w 1",
                "-a -f 7 -r 192.168.3.4:0 -m -w 2",
            ]
        );
    }

    #[test]
    fn empty_config_removes_every_service() {
        let ops = diff(&[], &kernel_table(&base()));
        assert_eq!(texts(&ops), ["-D -t 192.168.1.100:5432", "-D -f 7"]);
    }

    #[test]
    fn kernel_extras_are_not_differences() {
        // A service that is not persistent may report any timeout and
        // netmask (set by someone else); they have no effect, so no edit.
        let mut current = kernel_table(&base());
        current.services[0].service.timeout = 300;
        current.services[0].service.netmask = 0xffff_ff00;
        assert!(diff(&desired(&base()), &current).is_empty());
    }

    #[test]
    fn duplicates_count_once() {
        let mut config = base();
        config[0].real_servers.push(real("192.168.3.2:5432", 7));
        config.push(base()[0].clone());
        assert!(diff(&desired(&config), &kernel_table(&base())).is_empty());
    }
}
