//! `[[service]]` and `[[service.real_server]]`: virtual services and their
//! real servers, in the words of `ipvsadm`.
//!
//! A service is identified either by `protocol` + `address`
//! (`ipvsadm -t/-u/--sctp-service VIP:port`) or by `fwmark` (`ipvsadm -f`).
//! `forwarding` has no default on purpose: ipvsadm defaults to `-g` (direct
//! routing) and keepalived to NAT, so a silent default would surprise half
//! of our users.

use super::addr::{parse_netmask, parse_server, parse_socket_addr};
use super::draft::{DraftReal, DraftService, label};
use super::duration::parse_persistence;
use super::health_check::read_health_check;
use super::names::parse_scheduler;
use super::walk::{
    Ctx, Earlier, Field, Path, Read, Table, array_of, int, one_of, string, tables, typed_string,
};
use super::{
    Family, Forwarding, HealthCheck, Protocol, RealServer, Scheduler, SchedulerFlags, Service,
    ServiceKey,
};

const FORWARDING_HELP: &str = "say how packets reach the real servers: \"nat\" (ipvsadm -m), \
     \"direct\" (-g) or \"tunnel\" (-i). There is no default because ipvsadm defaults to -g \
     and keepalived to NAT";

/// `forwarding`, of a service or of one real server.
fn forwarding() -> impl Read<Forwarding> {
    let methods = &[
        ("nat (ipvsadm -m)", Forwarding::Nat),
        ("direct (-g)", Forwarding::Direct),
        ("tunnel (-i)", Forwarding::Tunnel),
    ];
    one_of("a forwarding method", methods)
}

/// `scheduler_flags` by index: `sh-*` (0, 1) are the `sh` scheduler's,
/// `mh-*` (2, 3) the `mh` scheduler's.
const FLAGS: &[(&str, usize)] = &[
    ("sh-fallback", 0),
    ("sh-port", 1),
    ("mh-fallback", 2),
    ("mh-port", 3),
];

/// Read one `[[service]]` and its real servers; `None` (with diagnostics)
/// when what identifies the service is wrong. A service with other errors
/// stays in the draft with stand-ins for its wrong keys, and real servers
/// with errors are reported and left out: the cross-entry checks still see
/// the rest.
pub(super) fn read_service(ctx: &mut Ctx, item: &Field<'_, '_>) -> Option<DraftService> {
    let mut t = Table::new(ctx, item, "a table")?;
    let nonblank = string(|s| match s.trim() {
        "" => Err("a service name must not be empty".to_string()),
        _ => Ok(s.to_string()),
    });
    let name = t.opt(ctx, "name", nonblank);
    let key = read_key(ctx, &mut t);
    let families = &[("inet", Family::Inet), ("inet6", Family::Inet6)];
    let (family_field, explicit_family) =
        t.opt_field(ctx, "family", one_of("an address family", families));
    if let (Some(f), Some(_), Some(ServiceKey::Addr { .. })) =
        (&family_field, explicit_family, &key)
    {
        let message = "`family` is only for fwmark services; an address service has the family of its `address`";
        ctx.key_error(f, message);
    }
    let scheduler = t.or(ctx, "scheduler", Scheduler::Wlc, string(parse_scheduler));
    let flags = t.opt(ctx, "scheduler_flags", read_flags(scheduler));
    let forwarding = t.req(ctx, "forwarding", FORWARDING_HELP, forwarding());
    let seconds = typed_string("a duration string like \"300s\"", parse_persistence);
    let persistence = t.or(ctx, "persistence", None, seconds);
    let netmask_field = t.field("persistence_netmask");
    // Read before the real servers, which inherit from it. On error the
    // real servers are still read (against the defaults) for their own
    // diagnostics.
    let check = t.opt(ctx, "health_check", |ctx, f| {
        read_health_check(ctx, f, &HealthCheck::default())
    });
    let (check, typed_check) = check.unwrap_or_default();
    let is_fwmark = matches!(key, Some(ServiceKey::Fwmark { .. }));
    let sorry_server = t.opt(ctx, "sorry_server", string(parse_server(is_fwmark)));
    let read = |ctx: &mut Ctx, f: &Field<'_, '_>, _| {
        read_real_server(ctx, f, is_fwmark, forwarding, &check)
    };
    let real_servers = t.opt(ctx, "real_server", tables(read)).unwrap_or_default();
    let (family, family_why) = match (&key, explicit_family) {
        (Some(ServiceKey::Addr { address, .. }), _) => {
            (Family::of(address.ip()), "the service address is")
        }
        (_, Some(family)) => (family, "the service's `family` is"),
        (_, None) => match real_servers.first() {
            Some((_, real)) => (
                Family::of(real.server.address.ip()),
                "its first real server (and so the service) is",
            ),
            None => (Family::Inet, "the service is"),
        },
    };
    let persistence_netmask = match (&netmask_field, persistence) {
        (Some(f), Some(None)) => {
            let message = "only takes effect with persistence on; set `persistence` (like \"300s\") or remove this line";
            ctx.key_error(f, message);
            None
        }
        (Some(f), Some(Some(_))) => string(|s| parse_netmask(s, family))(ctx, f),
        // Absent, or persistence itself is wrong (reported).
        _ => None,
    };
    t.finish(ctx);
    let mut key = key?;
    if let ServiceKey::Fwmark { family: f, .. } = &mut key {
        *f = family;
    }
    Some(DraftService {
        // Stand-ins where a key did not read: that was reported, so this
        // service never reaches a Config.
        service: Service {
            name: name.unwrap_or_else(|| label(&key)),
            key,
            scheduler: scheduler.unwrap_or(Scheduler::Wlc),
            flags: flags.unwrap_or_default(),
            forwarding: forwarding.unwrap_or(Forwarding::Nat),
            persistence: persistence.flatten(),
            persistence_netmask,
            real_servers: Vec::new(),
            health_check: check,
            sorry_server,
        },
        real_servers,
        family_why,
        typed_check,
    })
}

/// `protocol` + `address`, or `fwmark` (whose family is set once the real
/// servers are read); `None` when wrong (reported).
fn read_key(ctx: &mut Ctx, t: &mut Table<'_, '_>) -> Option<ServiceKey> {
    let protocol = t.field("protocol");
    let address = t.field("address");
    if let Some(fwmark) = t.field("fwmark") {
        let mark = int(1, u32::MAX)(ctx, &fwmark);
        let message =
            "a firewall-mark service matches by `fwmark` alone; remove this key or `fwmark`";
        for other in [&protocol, &address].into_iter().flatten() {
            ctx.key_error(other, message);
        }
        let mark = mark.filter(|_| protocol.is_none() && address.is_none())?;
        return Some(ServiceKey::Fwmark {
            mark,
            family: Family::Inet,
        });
    }
    if protocol.is_none() && address.is_none() {
        let message = "missing `protocol` and `address`, or `fwmark`: say what this virtual service \
             matches, like protocol = \"tcp\" and address = \"192.168.1.100:80\", or fwmark = 1";
        ctx.report.error(&t.span(), t.path(), message);
        return None;
    }
    let protocols = &[
        ("tcp", Protocol::Tcp),
        ("udp", Protocol::Udp),
        ("sctp", Protocol::Sctp),
    ];
    let protocol = match protocol {
        Some(f) => one_of("a protocol", protocols)(ctx, &f),
        None => t.missing(ctx, "protocol", "\"tcp\", \"udp\" or \"sctp\""),
    };
    let help = "the virtual IP and port, like \"192.168.1.100:80\"";
    let address = match address {
        Some(f) => string(parse_socket_addr)(ctx, &f),
        None => t.missing(ctx, "address", help),
    };
    Some(ServiceKey::Addr {
        protocol: protocol?,
        address: address?,
    })
}

/// `scheduler_flags = ["sh-fallback", "sh-port"]`; `sh-*` only with the
/// `sh` scheduler, `mh-*` only with `mh` (not checked when the scheduler
/// itself is wrong, `None`).
fn read_flags(scheduler: Option<Scheduler>) -> impl Read<SchedulerFlags> {
    let reject = move |&flag: &usize, earlier: &Earlier<'_, usize>, _: &Path<'_>| {
        let (name, needs) = (FLAGS[flag].0, [Scheduler::Sh, Scheduler::Mh][flag / 2]);
        match scheduler.filter(|s| *s != needs) {
            Some(s) => Some(format!(
                "{name:?} is a flag of the {} scheduler, but this service uses {}",
                needs.name(),
                s.name()
            )),
            None => earlier
                .contains(&flag)
                .then(|| format!("{name:?} is listed twice")),
        }
    };
    let expected = "an array of strings like [\"sh-port\"]";
    let flags = array_of(expected, one_of("a scheduler flag", FLAGS), reject);
    move |ctx: &mut Ctx, f: &Field<'_, '_>| {
        let set = flags(ctx, f)?;
        Some(SchedulerFlags {
            sh_fallback: set.contains(&0),
            sh_port: set.contains(&1),
            mh_fallback: set.contains(&2),
            mh_port: set.contains(&3),
        })
    }
}

/// Read one real server.
fn read_real_server(
    ctx: &mut Ctx,
    item: &Field<'_, '_>,
    is_fwmark: bool,
    service_forwarding: Option<Forwarding>,
    service_check: &HealthCheck,
) -> Option<DraftReal> {
    let mut t = Table::new(ctx, item, "a table")?;
    let help = match is_fwmark {
        true => "the real server's IP, with or without a port, like \"192.168.3.2\"",
        false => "the real server's IP and port, like \"192.168.3.2:80\"",
    };
    let address = t.req(ctx, "address", help, string(parse_server(is_fwmark)));
    let weight = t.or(ctx, "weight", 1, int(0, 65535));
    let forwarding = t.opt(ctx, "forwarding", forwarding());
    let upper = t.or(ctx, "upper_threshold", 0, int(0, u32::MAX));
    let (lower_field, lower) = t.or_field(ctx, "lower_threshold", 0, int(0, u32::MAX));
    if let (Some(upper), Some(lower), Some(f)) = (upper, lower, &lower_field)
        && lower > upper
    {
        let message = format!(
            "{lower} is higher than upper_threshold {upper}; the kernel refuses that \
             (ipvsadm -y must not exceed -x; 0 means no limit)"
        );
        ctx.error(f, message);
    }
    let own_check = t.opt(ctx, "health_check", |ctx, f| {
        read_health_check(ctx, f, service_check)
    });
    t.finish(ctx)?;
    let forwarding = forwarding.or(service_forwarding);
    let (health_check, typed_check) = own_check.unwrap_or_else(|| (service_check.clone(), false));
    Some(DraftReal {
        server: RealServer {
            address: address?,
            weight: weight?,
            forwarding: forwarding.unwrap_or(Forwarding::Nat),
            upper_threshold: upper?,
            lower_threshold: lower?,
            health_check,
        },
        typed_check,
        forwarding_known: forwarding.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_support::errors;
    use super::super::{Config, HealthCheck, load};
    use super::*;

    /// A valid service header: lines 1 to 4.
    const HEAD: &str =
        "[[service]]\nprotocol = \"tcp\"\naddress = \"192.168.1.100:5432\"\nforwarding = \"nat\"\n";
    /// A valid real server: lines 5 and 6 after HEAD.
    const REAL: &str = "[[service.real_server]]\naddress = \"192.168.3.2:5432\"\n";

    fn service(text: &str) -> Service {
        let (config, _): (Config, _) = load("router.toml", text).unwrap_or_else(|e| panic!("{e}"));
        config.services.into_iter().next().unwrap()
    }

    #[test]
    fn defaults() {
        let s = service(&format!("{HEAD}{REAL}"));
        assert_eq!(s.name, "TCP 192.168.1.100:5432");
        assert_eq!(s.scheduler, Scheduler::Wlc);
        assert_eq!(s.flags, SchedulerFlags::default());
        assert_eq!(s.persistence, None);
        assert_eq!(s.persistence_netmask, None);
        assert_eq!(
            s.real_servers,
            [RealServer {
                address: "192.168.3.2:5432".parse().unwrap(),
                weight: 1,
                forwarding: Forwarding::Nat,
                upper_threshold: 0,
                lower_threshold: 0,
                health_check: HealthCheck::default(),
            }]
        );
    }

    #[test]
    fn labels_as_ipvsadm_prints_them() {
        let v6 = "[[service]]\nprotocol = \"udp\"\naddress = \"[2001:db8::10]:53\"\nforwarding = \"direct\"\n\
                  health_check.type = \"none\"\n\
                  [[service.real_server]]\naddress = \"[2001:db8::2]:53\"\n";
        assert_eq!(service(v6).name, "UDP [2001:db8::10]:53");
        let fwm = "[[service]]\nfwmark = 7\nforwarding = \"direct\"\n\
                   [[service.real_server]]\naddress = \"192.168.3.2:80\"\n";
        assert_eq!(service(fwm).name, "FWM 7");
    }

    #[test]
    fn persistence() {
        for (text, secs, mask) in [
            ("persistence = \"0s\"", None, None),
            ("persistence = \"1m30s\"", Some(90), None),
            ("persistence = \"2147483647s\"", Some(2147483647), None),
            (
                "persistence = \"1h\"\npersistence_netmask = \"255.255.0.0\"",
                Some(3600),
                Some(16),
            ),
        ] {
            let s = service(&format!("{HEAD}{text}\n{REAL}"));
            assert_eq!(s.persistence, secs.map(Duration::from_secs), "{text}");
            assert_eq!(s.persistence_netmask, mask, "{text}");
        }
    }

    #[test]
    fn fwmark_family() {
        let fwm = |family: &str, real: &str| {
            let text = format!(
                "[[service]]\nfwmark = 1\n{family}\nforwarding = \"direct\"\nhealth_check.port = 80\n\
                 [[service.real_server]]\naddress = \"{real}\"\n"
            );
            service(&text).key
        };
        let key = |mark, family| ServiceKey::Fwmark { mark, family };
        assert_eq!(fwm("", "10.0.0.2"), key(1, Family::Inet));
        assert_eq!(fwm("", "2001:db8::2"), key(1, Family::Inet6));
        assert_eq!(
            fwm("family = \"inet6\"", "[2001:db8::2]:80"),
            key(1, Family::Inet6)
        );
        assert_eq!(
            fwm("family = \"inet\"", "10.0.0.2:80"),
            key(1, Family::Inet)
        );
        let (config, _) = load("r", "[[service]]\nfwmark = 2\nforwarding = \"nat\"\n").unwrap();
        assert_eq!(config.services[0].key, key(2, Family::Inet));
    }

    /// Errors in the service table itself; the lines after HEAD start at 5.
    #[test]
    fn service_errors() {
        let cases: &[(&str, &[&str])] = &[
            (
                "scheduler = \"roundrobin\"\n",
                &[
                    "router.toml:5:13: error: service[0].scheduler: \"roundrobin\" is not a \
                   scheduler; expected one of: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, \
                   fo, ovf, mh, twos",
                ],
            ),
            (
                "scheduler = \"rr\"\nscheduler_flags = [\"sh-port\"]\n",
                &[
                    "router.toml:6:20: error: service[0].scheduler_flags[0]: \"sh-port\" is a flag \
                   of the sh scheduler, but this service uses rr",
                ],
            ),
            (
                "scheduler_flags = [\"mh-fallback\"]\n",
                &[
                    "router.toml:5:20: error: service[0].scheduler_flags[0]: \"mh-fallback\" is a \
                   flag of the mh scheduler, but this service uses wlc",
                ],
            ),
            (
                "scheduler = \"sh\"\nscheduler_flags = [\"sh-port\", \"sh-fast\", \"sh-port\"]\n",
                &[
                    "router.toml:6:31: error: service[0].scheduler_flags[1]: \"sh-fast\" is not a \
                     scheduler flag; expected \"sh-fallback\", \"sh-port\", \"mh-fallback\" or \
                     \"mh-port\"",
                    "router.toml:6:42: error: service[0].scheduler_flags[2]: \"sh-port\" is listed twice",
                ],
            ),
            (
                "scheduler = \"shh\"\nscheduler_flags = [\"sh-port\"]\n",
                &[
                    "router.toml:5:13: error: service[0].scheduler: \"shh\" is not a scheduler; \
                   expected one of: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, \
                   twos",
                ],
            ),
            (
                "scheduler_flags = \"sh-port\"\n",
                &[
                    "router.toml:5:19: error: service[0].scheduler_flags: expected an array of \
                   strings like [\"sh-port\"], found a string",
                ],
            ),
            (
                "persistence = 300\n",
                &[
                    "router.toml:5:15: error: service[0].persistence: expected a duration string \
                   like \"300s\", found an integer",
                ],
            ),
            (
                "persistence = \"1500ms\"\n",
                &[
                    "router.toml:5:15: error: service[0].persistence: \"1500ms\" is not a whole \
                   number of seconds (ipvsadm -p counts seconds)",
                ],
            ),
            (
                "persistence = \"5 minutes\"\n",
                &[
                    "router.toml:5:15: error: service[0].persistence: \"5 minutes\" is not a \
                   duration like \"300s\", \"5m\" or \"1h30m\"",
                ],
            ),
            (
                "persistence = \"2147483648s\"\n",
                &[
                    "router.toml:5:15: error: service[0].persistence: \"2147483648s\" is longer \
                   than the kernel's maximum of 2147483647s",
                ],
            ),
            (
                "persistence_netmask = \"255.255.255.0\"\n",
                &[
                    "router.toml:5:1: error: service[0].persistence_netmask: only takes effect \
                   with persistence on; set `persistence` (like \"300s\") or remove this line",
                ],
            ),
            (
                "persistence = \"0s\"\npersistence_netmask = \"24\"\n",
                &[
                    "router.toml:6:1: error: service[0].persistence_netmask: only takes effect \
                   with persistence on; set `persistence` (like \"300s\") or remove this line",
                ],
            ),
            (
                "persistence = \"5m\"\npersistence_netmask = \"255.0.255.0\"\n",
                &[
                    "router.toml:6:23: error: service[0].persistence_netmask: \"255.0.255.0\" is \
                   not a netmask: its one bits are not contiguous",
                ],
            ),
            (
                "family = \"inet\"\n",
                &[
                    "router.toml:5:1: error: service[0].family: `family` is only for fwmark \
                   services; an address service has the family of its `address`",
                ],
            ),
            (
                "name = \"\"\n",
                &["router.toml:5:8: error: service[0].name: a service name must not be empty"],
            ),
            (
                "real_servers = []\n",
                &[
                    "router.toml:5:1: error: service[0].real_servers: unknown key; did you mean \
                   `real_server`? Valid keys here: name, protocol, address, fwmark, family, \
                   scheduler, scheduler_flags, forwarding, persistence, persistence_netmask, \
                   health_check, sorry_server, real_server",
                ],
            ),
        ];
        for (extra, expected) in cases {
            assert_eq!(
                &errors(&format!("{HEAD}{extra}{REAL}")),
                expected,
                "for {extra}"
            );
        }
    }

    /// Errors in how a service is identified, each a whole service table.
    #[test]
    fn service_key_errors() {
        let cases: &[(&str, &[&str])] = &[
            (
                "[[service]]\nprotocol = \"tcp\"\naddress = \"192.168.1.100:5432\"\n",
                &[
                    "router.toml:1:1: error: service[0].forwarding: missing key `forwarding`; say \
                   how packets reach the real servers: \"nat\" (ipvsadm -m), \"direct\" (-g) or \
                   \"tunnel\" (-i). There is no default because ipvsadm defaults to -g and \
                   keepalived to NAT",
                ],
            ),
            (
                "[[service]]\nprotocol = \"tcp\"\naddress = \"192.168.1.100:5432\"\nforwarding = \"masq\"\n",
                &[
                    "router.toml:4:14: error: service[0].forwarding: \"masq\" is not a forwarding \
                   method; expected \"nat\" (ipvsadm -m), \"direct\" (-g) or \"tunnel\" (-i)",
                ],
            ),
            (
                "[[service]]\nfwmark = 1\nprotocol = \"tcp\"\naddress = \"192.168.1.100:80\"\nforwarding = \"direct\"\n",
                &[
                    "router.toml:3:1: error: service[0].protocol: a firewall-mark service matches \
                     by `fwmark` alone; remove this key or `fwmark`",
                    "router.toml:4:1: error: service[0].address: a firewall-mark service matches \
                     by `fwmark` alone; remove this key or `fwmark`",
                ],
            ),
            (
                "[[service]]\nforwarding = \"nat\"\n",
                &[
                    "router.toml:1:1: error: service[0]: missing `protocol` and `address`, or \
                   `fwmark`: say what this virtual service matches, like protocol = \"tcp\" and \
                   address = \"192.168.1.100:80\", or fwmark = 1",
                ],
            ),
            (
                "[[service]]\naddress = \"192.168.1.100:80\"\nforwarding = \"nat\"\n",
                &[
                    "router.toml:1:1: error: service[0].protocol: missing key `protocol`; \"tcp\", \
                   \"udp\" or \"sctp\"",
                ],
            ),
            (
                "[[service]]\nprotocol = \"tcp\"\nforwarding = \"nat\"\n",
                &[
                    "router.toml:1:1: error: service[0].address: missing key `address`; the \
                   virtual IP and port, like \"192.168.1.100:80\"",
                ],
            ),
            (
                "[[service]]\nprotocol = \"icmp\"\naddress = \"192.168.1.100:80\"\nforwarding = \"nat\"\n",
                &[
                    "router.toml:2:12: error: service[0].protocol: \"icmp\" is not a protocol; \
                   expected \"tcp\", \"udp\" or \"sctp\"",
                ],
            ),
            (
                "[[service]]\nprotocol = \"tcp\"\naddress = \"192.168.1.100\"\nforwarding = \"nat\"\n",
                &[
                    "router.toml:3:11: error: service[0].address: \"192.168.1.100\" has no port; \
                   write it like \"192.168.1.100:80\"",
                ],
            ),
            (
                "[[service]]\nfwmark = 1\nforwarding = \"nat\"\n\
                 [service.real_server]\naddress = \"192.168.3.2:5432\"\n",
                &[
                    "router.toml:4:1: error: service[0].real_server: expected an array of tables \
                   ([[service.real_server]]), found a table",
                ],
            ),
            (
                "[[service]]\nfwmark = 0\nforwarding = \"nat\"\n",
                &[
                    "router.toml:2:10: error: service[0].fwmark: 0 is out of range; expected 1..=4294967295",
                ],
            ),
            (
                "[[service]]\nfwmark = 1\nfamily = \"ipv6\"\nforwarding = \"nat\"\n",
                &[
                    "router.toml:3:10: error: service[0].family: \"ipv6\" is not an address family; \
                   expected \"inet\" or \"inet6\"",
                ],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(&errors(text), expected, "for {text}");
        }
    }

    #[test]
    fn real_server_errors() {
        // After HEAD and "[[service.real_server]]", lines start at 6.
        let cases: &[(&str, &[&str])] = &[
            (
                "address = \"192.168.3.300:5432\"\n",
                &[
                    "router.toml:6:11: error: service[0].real_server[0].address: \
                   \"192.168.3.300:5432\" is not an IP address and port",
                ],
            ),
            (
                "address = \"192.168.3.2\"\n",
                &[
                    "router.toml:6:11: error: service[0].real_server[0].address: \"192.168.3.2\" \
                   has no port; write it like \"192.168.3.2:80\"",
                ],
            ),
            (
                "weight = 1\n",
                &[
                    "router.toml:5:1: error: service[0].real_server[0].address: missing key \
                   `address`; the real server's IP and port, like \"192.168.3.2:80\"",
                ],
            ),
            (
                "address = \"192.168.3.2:5432\"\nweight = 65536\n",
                &[
                    "router.toml:7:10: error: service[0].real_server[0].weight: 65536 is out of \
                   range; expected 0..=65535",
                ],
            ),
            (
                "address = \"192.168.3.2:5432\"\nweight = -1\n",
                &[
                    "router.toml:7:10: error: service[0].real_server[0].weight: -1 is out of \
                   range; expected 0..=65535",
                ],
            ),
            (
                "address = \"192.168.3.2:5432\"\nwieght = 2\n",
                &[
                    "router.toml:7:1: error: service[0].real_server[0].wieght: unknown key; did you \
                   mean `weight`? Valid keys here: address, weight, forwarding, upper_threshold, \
                   lower_threshold, health_check",
                ],
            ),
            (
                "address = \"192.168.3.2:5432\"\nforwarding = \"dr\"\n",
                &[
                    "router.toml:7:14: error: service[0].real_server[0].forwarding: \"dr\" is not a \
                   forwarding method; expected \"nat\" (ipvsadm -m), \"direct\" (-g) or \"tunnel\" (-i)",
                ],
            ),
            (
                "address = \"192.168.3.2:5432\"\nupper_threshold = 100\nlower_threshold = 200\n",
                &[
                    "router.toml:8:19: error: service[0].real_server[0].lower_threshold: 200 is \
                   higher than upper_threshold 100; the kernel refuses that (ipvsadm -y must not \
                   exceed -x; 0 means no limit)",
                ],
            ),
            (
                "address = \"192.168.3.2:5432\"\nlower_threshold = 5\n",
                &[
                    "router.toml:7:19: error: service[0].real_server[0].lower_threshold: 5 is \
                   higher than upper_threshold 0; the kernel refuses that (ipvsadm -y must not \
                   exceed -x; 0 means no limit)",
                ],
            ),
        ];
        for (real, expected) in cases {
            let text = format!("{HEAD}[[service.real_server]]\n{real}");
            assert_eq!(&errors(&text), expected, "for {real}");
        }
    }

    #[test]
    fn real_server_overrides() {
        let text = format!(
            "{HEAD}[[service.real_server]]\naddress = \"192.168.3.2:6432\"\nweight = 0\n\
             forwarding = \"tunnel\"\nupper_threshold = 100\nlower_threshold = 50\n"
        );
        assert_eq!(
            service(&text).real_servers,
            [RealServer {
                address: "192.168.3.2:6432".parse().unwrap(),
                weight: 0,
                forwarding: Forwarding::Tunnel,
                upper_threshold: 100,
                lower_threshold: 50,
                health_check: HealthCheck::default(),
            }]
        );
    }
}
