//! Cross-entry checks, run once every entry has been read on its own.
//!
//! Each finding points at the later of two clashing entries and names the
//! earlier one, so the user sees both places:
//! - interfaces: duplicate names; one link matched twice (same `mac`, same
//!   `device`);
//! - routes: `device` must be a configured interface; the same route twice;
//!   a gateway outside every configured subnet (a warning);
//! - services: the same virtual service twice; the same real server twice
//!   in one service; a real server of another address family than its
//!   service; a service without real servers (a warning).
//! - `[vrrp]`: see `vrrp.rs` (interfaces it names, virtual addresses not
//!   also static, tracked services).

use std::collections::HashMap;
use std::net::IpAddr;

use super::parse::{Draft, family_name};
use super::service::{DraftService, FamilySource, label};
use super::walk::{Ctx, join};
use super::{Family, LinkMatch, ServiceKey};

/// Run every cross-entry check over `draft`, reporting into `ctx`.
pub(super) fn check(ctx: &mut Ctx, draft: &Draft) {
    check_interfaces(ctx, draft);
    check_routes(ctx, draft);
    check_services(ctx, &draft.services);
    super::vrrp::check_vrrp(ctx, draft);
}

/// Report at `path` (its recorded span).
fn error(ctx: &mut Ctx, path: &str, message: String) {
    let span = ctx.locations.get(path);
    ctx.report.error(&span, path, message);
}

fn warning(ctx: &mut Ctx, path: &str, message: String) {
    let span = ctx.locations.get(path);
    ctx.report.warning(&span, path, message);
}

fn check_interfaces(ctx: &mut Ctx, draft: &Draft) {
    for (n, (i, interface)) in draft.interfaces.iter().enumerate() {
        let earlier = &draft.interfaces[..n];
        if let Some((j, _)) = earlier.iter().find(|(_, e)| e.name == interface.name) {
            error(
                ctx,
                &format!("interface[{i}].name"),
                format!("{:?} is already the name of interface[{j}]", interface.name),
            );
        }
        if let Some((j, _)) = earlier.iter().find(|(_, e)| e.matcher == interface.matcher) {
            let (key, what) = match &interface.matcher {
                LinkMatch::Mac(mac) => ("mac", mac.to_string()),
                LinkMatch::Device(device) => ("device", device.clone()),
            };
            error(
                ctx,
                &format!("interface[{i}].{key}"),
                format!(
                    "{what:?} is already matched by interface[{j}]; one link cannot be two interfaces"
                ),
            );
        }
    }
}

fn check_routes(ctx: &mut Ctx, draft: &Draft) {
    for (n, (i, route)) in draft.routes.iter().enumerate() {
        let path = format!("route[{i}]");
        if let Some(device) = &route.device
            && !draft.interface_names.contains(device)
        {
            let mut names: Vec<&str> = Vec::new();
            for name in &draft.interface_names {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
            let names = if names.is_empty() {
                "none is configured".to_string()
            } else {
                format!("configured: {}", names.join(", "))
            };
            error(
                ctx,
                &join(&path, "device"),
                format!("{device:?} is not the name of any [[interface]] ({names})"),
            );
        }
        let same = draft.routes[..n].iter().find(|(_, r)| {
            r.destination == route.destination && r.table == route.table && r.metric == route.metric
        });
        if let Some((j, _)) = same {
            error(
                ctx,
                &join(&path, "destination"),
                format!(
                    "route[{j}] already has destination {}, the same table and the same metric",
                    route.destination
                ),
            );
        }
        if let Some(gateway) = route.gateway {
            check_gateway(ctx, draft, &path, gateway, route.device.as_deref());
        }
    }
}

/// Warn when no configured subnet (of `device`, when given) holds the
/// gateway: the kernel only accepts a gateway it reaches directly. IPv6
/// link-local gateways are on every link and always fine.
fn check_gateway(ctx: &mut Ctx, draft: &Draft, path: &str, gateway: IpAddr, device: Option<&str>) {
    if let IpAddr::V6(v6) = gateway
        && v6.segments()[0] & 0xffc0 == 0xfe80
    {
        return;
    }
    let candidates: Vec<_> = draft
        .interfaces
        .iter()
        .filter(|(_, i)| device.is_none_or(|d| i.name == d))
        .collect();
    if candidates
        .iter()
        .any(|(_, i)| i.addresses.iter().any(|a| a.contains(gateway)))
    {
        return;
    }
    let subnets: Vec<String> = candidates
        .iter()
        .flat_map(|(_, i)| {
            i.addresses
                .iter()
                .map(move |a| format!("{} {}", i.name, super::addr::network(*a)))
        })
        .collect();
    let known = if subnets.is_empty() {
        "no subnets".to_string()
    } else {
        subnets.join(", ")
    };
    let place = match device {
        Some(device) => format!("a subnet of {device:?}"),
        None => "any configured subnet".to_string(),
    };
    warning(
        ctx,
        &join(path, "gateway"),
        format!(
            "{gateway} is not in {place} ({known}); the kernel refuses a gateway it cannot reach directly"
        ),
    );
}

fn check_services(ctx: &mut Ctx, services: &[DraftService]) {
    // The first service of each key, so that a duplicate is found in one
    // pass (tens of thousands of services are fine).
    let mut seen: HashMap<ServiceKey, usize> = HashMap::with_capacity(services.len());
    for draft in services {
        let path = format!("service[{}]", draft.index);
        let key = draft.service.key;
        if let Some(first) = seen.get(&key).copied() {
            let key_path = match key {
                ServiceKey::Addr { .. } => join(&path, "address"),
                ServiceKey::Fwmark { .. } => join(&path, "fwmark"),
            };
            error(
                ctx,
                &key_path,
                format!(
                    "{} is already service[{}]; a virtual service is defined once, with all its real servers",
                    label(&key),
                    first
                ),
            );
        } else {
            seen.insert(key, draft.index);
        }
        check_real_servers(ctx, draft, &path);
    }
}

fn check_real_servers(ctx: &mut Ctx, draft: &DraftService, path: &str) {
    let service = &draft.service;
    if service.real_servers.is_empty() && draft.real_servers_complete {
        warning(
            ctx,
            path,
            "has no [[service.real_server]]; connections to it will be refused".to_string(),
        );
    }
    let family = service.key.family();
    for (n, real) in service.real_servers.iter().enumerate() {
        let real_path = format!("{path}.real_server[{}].address", draft.real_server_index[n]);
        let earlier = service.real_servers[..n]
            .iter()
            .position(|r| r.address == real.address);
        if let Some(e) = earlier {
            error(
                ctx,
                &real_path,
                format!(
                    "{} is already real_server[{}] of this service",
                    real.address, draft.real_server_index[e]
                ),
            );
        }
        let real_family = Family::of(real.address.ip());
        if real_family != family {
            let why = match draft.family_source {
                FamilySource::Address => "the service address is",
                FamilySource::Explicit => "the service's `family` is",
                FamilySource::FirstRealServer => "its first real server (and so the service) is",
                FamilySource::Default => "the service is",
            };
            error(
                ctx,
                &real_path,
                format!(
                    "{} is {} but {why} {}; with {} forwarding a real server must have its service's address family",
                    real.address.ip(),
                    family_name(real_family),
                    family_name(family),
                    real.forwarding.name()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::parse::test_support::{check_cases, errors, warnings};
    use super::super::{
        CheckKind, Config, Forwarding, HealthCheck, Interface, IpNet, MacAddr, OnFailure, Protocol,
        RealServer, Route, Scheduler, SchedulerFlags, Service, load,
    };
    use super::*;

    fn net(text: &str) -> IpNet {
        let (addr, len) = text.split_once('/').unwrap();
        IpNet {
            addr: addr.parse().unwrap(),
            prefix_len: len.parse().unwrap(),
        }
    }

    #[test]
    fn interface_clashes() {
        check_cases(&[
            (
                "[[interface]]\nname = \"wan\"\nmac = \"52:54:00:00:01:01\"\n\
                 [[interface]]\nname = \"wan\"\nmac = \"52:54:00:00:03:01\"\n",
                &[
                    "router.toml:5:8: error: interface[1].name: \"wan\" is already the name of interface[0]",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\nmac = \"52:54:00:00:01:01\"\n\
                 [[interface]]\nname = \"lan\"\nmac = \"52:54:00:00:01:01\"\n",
                &[
                    "router.toml:6:7: error: interface[1].mac: \"52:54:00:00:01:01\" is already \
                   matched by interface[0]; one link cannot be two interfaces",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\nmac = \"52:54:00:00:01:01\"\n\
                 [[interface]]\nname = \"lan\"\nmac = \"52:54:00:00:01:0A\"\n\
                 [[interface]]\nname = \"dmz\"\nmac = \"52-54-00-00-01-0a\"\n",
                &[
                    "router.toml:9:7: error: interface[2].mac: \"52:54:00:00:01:0a\" is already \
                   matched by interface[1]; one link cannot be two interfaces",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\ndevice = \"eth0\"\n\
                 [[interface]]\nname = \"lan\"\ndevice = \"eth0\"\n",
                &[
                    "router.toml:6:10: error: interface[1].device: \"eth0\" is already matched by \
                   interface[0]; one link cannot be two interfaces",
                ],
            ),
        ]);
    }

    const HEAD: &str =
        "[[service]]\nprotocol = \"tcp\"\naddress = \"192.168.1.100:5432\"\nforwarding = \"nat\"\n";
    const REAL: &str = "[[service.real_server]]\naddress = \"192.168.3.2:5432\"\n";

    #[test]
    fn service_clashes() {
        check_cases(&[
            (
                // The same key twice, even with another name.
                &format!(
                    "{HEAD}{REAL}[[service]]\nname = \"pg2\"\nprotocol = \"tcp\"\n\
                     address = \"192.168.1.100:5432\"\nforwarding = \"direct\"\n{REAL}"
                ),
                &[
                    "router.toml:10:11: error: service[1].address: TCP 192.168.1.100:5432 is already \
                   service[0]; a virtual service is defined once, with all its real servers",
                ],
            ),
            (
                &format!(
                    "[[service]]\nfwmark = 3\nforwarding = \"nat\"\n{REAL}\
                     [[service]]\nfwmark = 3\nforwarding = \"nat\"\n{REAL}"
                ),
                &[
                    "router.toml:7:10: error: service[1].fwmark: FWM 3 is already service[0]; a \
                   virtual service is defined once, with all its real servers",
                ],
            ),
            (
                &format!(
                    "{HEAD}[[service.real_server]]\naddress = \"192.168.3.2:5432\"\n\
                     [[service.real_server]]\naddress = \"192.168.3.3:5432\"\n\
                     [[service.real_server]]\naddress = \"192.168.3.2:5432\"\nweight = 5\n"
                ),
                &[
                    "router.toml:10:11: error: service[0].real_server[2].address: 192.168.3.2:5432 \
                   is already real_server[0] of this service",
                ],
            ),
            (
                &format!("{HEAD}[[service.real_server]]\naddress = \"[2001:db8::2]:5432\"\n"),
                &[
                    "router.toml:6:11: error: service[0].real_server[0].address: 2001:db8::2 is \
                   IPv6 but the service address is IPv4; with nat forwarding a real server must \
                   have its service's address family",
                ],
            ),
            (
                "[[service]]\nprotocol = \"tcp\"\naddress = \"[2001:db8::10]:80\"\nforwarding = \"nat\"\n\
                 [[service.real_server]]\naddress = \"10.0.0.2:80\"\nforwarding = \"tunnel\"\n",
                &[
                    "router.toml:6:11: error: service[0].real_server[0].address: 10.0.0.2 is IPv4 \
                   but the service address is IPv6; with tunnel forwarding a real server must \
                   have its service's address family",
                ],
            ),
            (
                "[[service]]\nfwmark = 1\nfamily = \"inet6\"\nforwarding = \"direct\"\n\
                 [[service.real_server]]\naddress = \"10.0.0.2\"\n\
                 [service.health_check]\ntype = \"none\"\n",
                &[
                    "router.toml:6:11: error: service[0].real_server[0].address: 10.0.0.2 is IPv4 \
                   but the service's `family` is IPv6; with direct forwarding a real server must \
                   have its service's address family",
                ],
            ),
            (
                "[[service]]\nfwmark = 1\nforwarding = \"direct\"\n\
                 [[service.real_server]]\naddress = \"10.0.0.2\"\n\
                 [[service.real_server]]\naddress = \"2001:db8::2\"\n\
                 [service.health_check]\ntype = \"none\"\n",
                &[
                    "router.toml:7:11: error: service[0].real_server[1].address: 2001:db8::2 is \
                   IPv6 but its first real server (and so the service) is IPv4; with direct \
                   forwarding a real server must have its service's address family",
                ],
            ),
            (
                // Port 0 twice is the same real server of a fwmark service.
                "[[service]]\nfwmark = 1\nforwarding = \"direct\"\n\
                 [[service.real_server]]\naddress = \"10.0.0.2\"\n\
                 [[service.real_server]]\naddress = \"10.0.0.2:0\"\n\
                 [service.health_check]\ntype = \"none\"\n",
                &[
                    "router.toml:7:11: error: service[0].real_server[1].address: 10.0.0.2:0 is \
                   already real_server[0] of this service",
                ],
            ),
        ]);
    }

    #[test]
    fn service_without_real_servers_is_a_warning() {
        assert_eq!(
            warnings(HEAD),
            [
                "router.toml:1:1: warning: service[0]: has no [[service.real_server]]; connections \
              to it will be refused"
            ]
        );
    }

    /// One file with many mistakes reports them all, in file order, and
    /// later entries keep their own indices when earlier ones are broken.
    #[test]
    fn every_error_at_once() {
        let text = r#"hostname = "lvs router"
colour = "blue"

[sysctl]
"net/ipv4/ip_forward" = 1

[[interface]]
name = "wan"
mac = "52:54:00:00:01:01"
addresses = ["192.168.1.1/33"]

[[interface]]
name = "wan"
mac = "52:54:00:00:01:01"
device = "eth1"

[[route]]
destination = "default"
device = "uplink"

[[service]]
protocol = "tcp"
address = "192.168.1.100:5432"
scheduler = "fastest"
forwarding = "nat"

  [[service.real_server]]
  address = "192.168.3.2:5432"
  weight = 100000

  [[service.real_server]]
  address = "192.168.3.300:5432"

[[service]]
fwmark = 1
address = "192.168.1.100:80"
forwarding = "direct"
"#;
        let expected = [
            "router.toml:1:12: error: hostname: \"lvs router\" contains ' '; a hostname has only \
             letters, digits, '-' and '.'",
            "router.toml:2:1: error: colour: unknown key; valid keys here: hostname, sysctl, \
             interface, route, service, vrrp",
            "router.toml:5:1: error: sysctl.\"net/ipv4/ip_forward\": \"net/ipv4/ip_forward\" is not \
             a sysctl name: expected dot-separated words of a-z, 0-9, '_' and '-', like \
             \"net.ipv4.vs.conntrack\"",
            "router.toml:10:14: error: interface[0].addresses[0]: \"192.168.1.1/33\": prefix \
             length 33 is longer than 32",
            "router.toml:15:1: error: interface[1].device: give either `mac` or `device`, not both",
            "router.toml:19:10: error: route[0].device: \"uplink\" is not the name of any \
             [[interface]] (configured: wan)",
            "router.toml:24:13: error: service[0].scheduler: \"fastest\" is not a scheduler; \
             expected one of: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos",
            "router.toml:29:12: error: service[0].real_server[0].weight: 100000 is out of range; \
             expected 0..=65535",
            "router.toml:32:13: error: service[0].real_server[1].address: \"192.168.3.300:5432\" \
             is not an IP address and port",
            "router.toml:36:1: error: service[1].address: a firewall-mark service matches by \
             `fwmark` alone; remove this key or `fwmark`",
        ];
        assert_eq!(errors(text), expected);
        let shown = load("router.toml", text).unwrap_err().to_string();
        assert_eq!(shown, expected.join("\n"));
    }

    /// Every feature at once parses to exactly the expected model.
    #[test]
    fn full_featured_example() {
        let text = r#"
hostname = "lvs1.example.org"

[sysctl]
"net.ipv4.vs.expire_nodest_conn" = 1
"net.ipv4.vs.sloppy_tcp" = false
"net.ipv4.vs.sync_ports" = "1"

[[interface]]
name = "wan"
mac = "52:54:00:00:01:01"
addresses = ["192.168.1.1/24", "192.168.1.100/24", "2001:db8:1::1/64", "2001:db8:1::10/64"]
mtu = 1500

[[interface]]
name = "lan"
device = "ens4"
addresses = ["192.168.3.1/24", "2001:db8:3::1/64"]
mtu = 9000

[[route]]
destination = "default"
gateway = "192.168.1.254"
metric = 100

[[route]]
destination = "default6"
gateway = "2001:db8:1::fffe"
device = "wan"

[[route]]
destination = "10.20.0.0/16"
gateway = "192.168.3.254"
device = "lan"
table = 100
metric = 10

[[service]]
name = "web6"
protocol = "tcp"
address = "[2001:db8:1::10]:443"
scheduler = "sh"
scheduler_flags = ["sh-fallback", "sh-port"]
forwarding = "direct"
persistence = "5m"
persistence_netmask = "/64"
health_check = { type = "http", path = "/health", host = "www.example.org", on_failure = "remove" }

  [[service.real_server]]
  address = "[2001:db8:3::2]:443"
  weight = 10
  upper_threshold = 1000
  lower_threshold = 800

  [[service.real_server]]
  address = "[2001:db8:3::3]:443"
  forwarding = "tunnel"

[[service]]
fwmark = 42
family = "inet"
scheduler = "mh"
scheduler_flags = ["mh-port"]
forwarding = "direct"
persistence = "1h30m"
persistence_netmask = "255.255.255.0"

  [[service.real_server]]
  address = "192.168.3.2"
  weight = 0
  health_check = { port = 80 }

  [[service.real_server]]
  address = "192.168.3.3:8080"
  forwarding = "nat"

[[service]]
protocol = "sctp"
address = "192.168.1.100:3868"
forwarding = "nat"
sorry_server = "192.168.3.9:3868"
health_check.type = "none"

  [[service.real_server]]
  address = "192.168.3.4:3868"
"#;
        let (config, warnings) = load("router.toml", text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(warnings, []);
        let real = |address: &str, weight, forwarding, upper, lower| RealServer {
            address: address.parse().unwrap(),
            weight,
            forwarding,
            upper_threshold: upper,
            lower_threshold: lower,
            health_check: HealthCheck::default(),
        };
        let web_check = HealthCheck {
            kind: CheckKind::Http {
                path: "/health".into(),
                host: Some("www.example.org".into()),
                status: 200,
            },
            on_failure: OnFailure::Remove,
            ..HealthCheck::default()
        };
        let no_check = HealthCheck {
            kind: CheckKind::None,
            ..HealthCheck::default()
        };
        let expected = Config {
            hostname: "lvs1.example.org".into(),
            sysctls: vec![
                ("net.ipv4.vs.expire_nodest_conn".into(), "1".into()),
                ("net.ipv4.vs.sloppy_tcp".into(), "0".into()),
                ("net.ipv4.vs.sync_ports".into(), "1".into()),
            ],
            interfaces: vec![
                Interface {
                    name: "wan".into(),
                    matcher: LinkMatch::Mac(MacAddr([0x52, 0x54, 0, 0, 1, 1])),
                    addresses: vec![
                        net("192.168.1.1/24"),
                        net("192.168.1.100/24"),
                        net("2001:db8:1::1/64"),
                        net("2001:db8:1::10/64"),
                    ],
                    mtu: Some(1500),
                },
                Interface {
                    name: "lan".into(),
                    matcher: LinkMatch::Device("ens4".into()),
                    addresses: vec![net("192.168.3.1/24"), net("2001:db8:3::1/64")],
                    mtu: Some(9000),
                },
            ],
            routes: vec![
                Route {
                    destination: net("0.0.0.0/0"),
                    gateway: Some("192.168.1.254".parse().unwrap()),
                    device: None,
                    metric: Some(100),
                    table: None,
                },
                Route {
                    destination: net("::/0"),
                    gateway: Some("2001:db8:1::fffe".parse().unwrap()),
                    device: Some("wan".into()),
                    metric: None,
                    table: None,
                },
                Route {
                    destination: net("10.20.0.0/16"),
                    gateway: Some("192.168.3.254".parse().unwrap()),
                    device: Some("lan".into()),
                    metric: Some(10),
                    table: Some(100),
                },
            ],
            services: vec![
                Service {
                    name: "web6".into(),
                    key: ServiceKey::Addr {
                        protocol: Protocol::Tcp,
                        address: "[2001:db8:1::10]:443".parse().unwrap(),
                    },
                    scheduler: Scheduler::Sh,
                    flags: SchedulerFlags {
                        sh_fallback: true,
                        sh_port: true,
                        mh_fallback: false,
                        mh_port: false,
                    },
                    forwarding: Forwarding::Direct,
                    persistence: Some(Duration::from_secs(300)),
                    persistence_netmask: Some(64),
                    real_servers: vec![
                        real("[2001:db8:3::2]:443", 10, Forwarding::Direct, 1000, 800),
                        real("[2001:db8:3::3]:443", 1, Forwarding::Tunnel, 0, 0),
                    ]
                    .into_iter()
                    .map(|r| RealServer {
                        health_check: web_check.clone(),
                        ..r
                    })
                    .collect(),
                    health_check: web_check.clone(),
                    sorry_server: None,
                },
                Service {
                    name: "FWM 42".into(),
                    key: ServiceKey::Fwmark {
                        mark: 42,
                        family: Family::Inet,
                    },
                    scheduler: Scheduler::Mh,
                    flags: SchedulerFlags {
                        mh_port: true,
                        ..SchedulerFlags::default()
                    },
                    forwarding: Forwarding::Direct,
                    persistence: Some(Duration::from_secs(5400)),
                    persistence_netmask: Some(24),
                    real_servers: vec![
                        RealServer {
                            health_check: HealthCheck {
                                port: Some(80),
                                ..HealthCheck::default()
                            },
                            ..real("192.168.3.2:0", 0, Forwarding::Direct, 0, 0)
                        },
                        real("192.168.3.3:8080", 1, Forwarding::Nat, 0, 0),
                    ],
                    health_check: HealthCheck::default(),
                    sorry_server: None,
                },
                Service {
                    name: "SCTP 192.168.1.100:3868".into(),
                    key: ServiceKey::Addr {
                        protocol: Protocol::Sctp,
                        address: "192.168.1.100:3868".parse().unwrap(),
                    },
                    scheduler: Scheduler::Wlc,
                    flags: SchedulerFlags::default(),
                    forwarding: Forwarding::Nat,
                    persistence: None,
                    persistence_netmask: None,
                    real_servers: vec![RealServer {
                        health_check: no_check.clone(),
                        ..real("192.168.3.4:3868", 1, Forwarding::Nat, 0, 0)
                    }],
                    health_check: no_check,
                    sorry_server: Some("192.168.3.9:3868".parse().unwrap()),
                },
            ],
            vrrp: None,
        };
        assert_eq!(config, expected);
    }
}
