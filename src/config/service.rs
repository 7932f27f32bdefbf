//! `[[service]]` and `[[service.real_server]]`: virtual services and their
//! real servers, in the words of `ipvsadm`.
//!
//! A service is identified either by `protocol` + `address`
//! (`ipvsadm -t/-u/--sctp-service VIP:port`) or by `fwmark` (`ipvsadm -f`).
//! `forwarding` has no default on purpose: ipvsadm defaults to `-g` (direct
//! routing) and keepalived to NAT, so a silent default would surprise half
//! of our users.

use std::net::SocketAddr;
use std::time::Duration;

use toml::de::DeValue;

use super::addr::{parse_netmask, parse_socket_addr, parse_socket_addr_or_ip};
use super::duration::parse_duration;
use super::health_check::{Partial, read_health_check};
use super::parse::array_of_tables;
use super::walk::{Ctx, Field, Table, join};
use super::{
    CheckKind, Family, Forwarding, Protocol, RealServer, Scheduler, SchedulerFlags, Service,
    ServiceKey,
};

/// A parsed service with the file indices of its real servers.
pub(super) struct DraftService {
    /// Its index among the `[[service]]` tables.
    pub(super) index: usize,
    pub(super) service: Service,
    /// `real_server_index[i]` is the file index of `service.real_servers[i]`.
    pub(super) real_server_index: Vec<usize>,
    /// Whether every `[[service.real_server]]` parsed.
    pub(super) real_servers_complete: bool,
    /// Where the service's address family came from, for messages.
    pub(super) family_source: FamilySource,
}

/// Why a service has the address family it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FamilySource {
    /// From its `address`.
    Address,
    /// From `family = "..."`.
    Explicit,
    /// A fwmark service without `family`: from its first real server.
    FirstRealServer,
    /// A fwmark service without `family` or real servers: IPv4.
    Default,
}

/// Maximum persistence timeout: the kernel keeps it in a signed 32-bit
/// number of seconds.
const MAX_PERSISTENCE_SECS: u64 = (1 << 31) - 1;

const SERVICE_KEYS: &[&str] = &[
    "name",
    "protocol",
    "address",
    "fwmark",
    "family",
    "scheduler",
    "scheduler_flags",
    "forwarding",
    "persistence",
    "persistence_netmask",
    "health_check",
    "sorry_server",
    "real_server",
];

const FORWARDING_HELP: &str = "say how packets reach the real servers: \"nat\" (ipvsadm -m), \
     \"direct\" (-g) or \"tunnel\" (-i). There is no default because ipvsadm defaults to -g \
     and keepalived to NAT";

/// Read one `[[service]]` and its real servers; `None` (with diagnostics)
/// when the service itself is wrong. Real servers with errors are reported
/// and left out; the others stay, so cross-entry checks still see them.
pub(super) fn read_service(
    ctx: &mut Ctx,
    item: &Field<'_, '_>,
    index: usize,
) -> Option<DraftService> {
    let mut table = Table::new(ctx, &item.path, item.value, SERVICE_KEYS)?;
    let mut ok = true;

    let name_field = table.get(ctx, "name");
    let name = name_field.as_ref().and_then(|f| {
        ctx.parsed(f, |s| {
            if s.trim().is_empty() {
                Err("a service name must not be empty".to_string())
            } else {
                Ok(s.to_string())
            }
        })
    });
    ok &= name.is_some() == name_field.is_some();

    let key = read_key(ctx, &mut table);
    let is_fwmark = matches!(key, Key::Fwmark(_));
    let explicit_family = read_family(ctx, &mut table, &key, &mut ok);

    // `None` when the scheduler is misspelt (and reported).
    let mut scheduler = Some(Scheduler::Wlc);
    if let Some(field) = table.get(ctx, "scheduler") {
        scheduler = ctx.parsed(&field, parse_scheduler);
        ok &= scheduler.is_some();
    }
    let flags = match table.get(ctx, "scheduler_flags") {
        Some(field) => read_flags(ctx, &field, scheduler),
        None => Some(SchedulerFlags::default()),
    };
    ok &= flags.is_some();

    let forwarding = table
        .require(ctx, "forwarding", FORWARDING_HELP)
        .and_then(|f| ctx.parsed(&f, parse_forwarding));

    let persistence_field = table.get(ctx, "persistence");
    let persistence = match &persistence_field {
        Some(field) => read_persistence(ctx, field),
        None => Some(None),
    };
    ok &= persistence.is_some();

    // Read before the real servers, which inherit from it. On error the
    // real servers are still read (against the defaults) for their own
    // diagnostics.
    let service_check = match table.get(ctx, "health_check") {
        Some(field) => read_health_check(ctx, &field, None),
        None => Some(Partial::default()),
    };
    ok &= service_check.is_some();
    let service_check = service_check.unwrap_or_default();

    let mut real_servers = Vec::new();
    let mut real_server_index = Vec::new();
    let mut real_servers_complete = true;
    // Whether some real server is left with the default check type.
    let mut defaulted_type = false;
    if let Some(field) = table.get(ctx, "real_server") {
        for (i, rs) in array_of_tables(ctx, &field) {
            match read_real_server(ctx, &rs, is_fwmark, forwarding, &service_check) {
                Some((real, typed)) => {
                    defaulted_type |= !typed && !service_check.has_type();
                    real_servers.push(real);
                    real_server_index.push(i);
                }
                None => real_servers_complete = false,
            }
        }
    }
    if let Key::Addr {
        protocol: protocol @ (Protocol::Udp | Protocol::Sctp),
        ..
    } = key
        && defaulted_type
    {
        let name = protocol.name().to_uppercase();
        ctx.report.error(
            &table.span(),
            &join(table.path(), "health_check"),
            format!(
                "a {name} service has no default health check (a TCP connect says nothing \
                 about a {name} server): set [service.health_check] type = \"none\" to never \
                 check its real servers, or a check of a TCP port they also serve, like \
                 type = \"tcp\" with port = 53"
            ),
        );
        // The service stays in the draft (the file is rejected anyway), so
        // the cross-entry checks still see it.
    }

    let (family, family_source) = match (&key, explicit_family) {
        (Key::Addr { address, .. }, _) => (Family::of(address.ip()), FamilySource::Address),
        (_, Some(family)) => (family, FamilySource::Explicit),
        (_, None) => match real_servers.first() {
            Some(real) => (Family::of(real.address.ip()), FamilySource::FirstRealServer),
            None => (Family::Inet, FamilySource::Default),
        },
    };

    let mut persistence_netmask = None;
    if let Some(field) = table.get(ctx, "persistence_netmask") {
        match persistence {
            Some(None) => {
                ctx.report.error(
                    &field.key_span,
                    &field.path,
                    "only takes effect with persistence on; set `persistence` (like \"300s\") or remove this line",
                );
                ok = false;
            }
            // Persistence itself was wrong and is already reported.
            None => {}
            Some(Some(_)) => {
                persistence_netmask = ctx.parsed(&field, |s| parse_netmask(s, family));
                ok &= persistence_netmask.is_some();
            }
        }
    }
    let sorry_server = match table.get(ctx, "sorry_server") {
        Some(field) => {
            let sorry = read_sorry_server(ctx, &field, is_fwmark, family, &real_servers);
            ok &= sorry.is_some();
            sorry
        }
        None => None,
    };
    table.finish(ctx);

    let key = match key {
        Key::Addr { protocol, address } => ServiceKey::Addr { protocol, address },
        Key::Fwmark(mark) => ServiceKey::Fwmark { mark, family },
        Key::Invalid => return None,
    };
    if !ok {
        return None;
    }
    Some(DraftService {
        index,
        service: Service {
            name: name.unwrap_or_else(|| label(&key)),
            key,
            scheduler: scheduler?,
            flags: flags?,
            forwarding: forwarding?,
            persistence: persistence?,
            persistence_netmask,
            real_servers,
            health_check: Partial::resolve(&service_check, None),
            sorry_server,
        },
        real_server_index,
        real_servers_complete,
        family_source,
    })
}

/// The service as `ipvsadm -L -n` names it: `TCP 192.168.1.100:5432`,
/// `UDP [2001:db8::10]:53`, `FWM 1`.
pub(super) fn label(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { protocol, address } => {
            format!("{} {address}", protocol.name().to_uppercase())
        }
        ServiceKey::Fwmark { mark, .. } => format!("FWM {mark}"),
    }
}

/// The service key while reading; `Invalid` once an error is reported.
enum Key {
    Addr {
        protocol: Protocol,
        address: std::net::SocketAddr,
    },
    Fwmark(u32),
    Invalid,
}

fn read_key(ctx: &mut Ctx, table: &mut Table<'_, '_>) -> Key {
    let protocol = table.get(ctx, "protocol");
    let address = table.get(ctx, "address");
    let fwmark = table.get(ctx, "fwmark");
    if let Some(fwmark) = fwmark {
        let mark = ctx.u32(&fwmark, 1, u32::MAX);
        let mut ok = mark.is_some();
        for other in [&protocol, &address].into_iter().flatten() {
            ctx.report.error(
                &other.key_span,
                &other.path,
                "a firewall-mark service matches by `fwmark` alone; remove this key or `fwmark`",
            );
            ok = false;
        }
        return match mark {
            Some(mark) if ok => Key::Fwmark(mark),
            _ => Key::Invalid,
        };
    }
    if protocol.is_none() && address.is_none() {
        ctx.report.error(
            &table.span(),
            table.path(),
            "missing `protocol` and `address`, or `fwmark`: say what this virtual service \
             matches, like protocol = \"tcp\" and address = \"192.168.1.100:80\", or fwmark = 1",
        );
        return Key::Invalid;
    }
    let protocol = match protocol {
        Some(field) => ctx.parsed(&field, parse_protocol),
        None => table
            .require(ctx, "protocol", "\"tcp\", \"udp\" or \"sctp\"")
            .and(None),
    };
    let address = match address {
        Some(field) => ctx.parsed(&field, parse_socket_addr),
        None => table
            .require(
                ctx,
                "address",
                "the virtual IP and port, like \"192.168.1.100:80\"",
            )
            .and(None),
    };
    match (protocol, address) {
        (Some(protocol), Some(address)) => Key::Addr { protocol, address },
        _ => Key::Invalid,
    }
}

/// `family = "inet" | "inet6"`, only for fwmark services.
fn read_family(
    ctx: &mut Ctx,
    table: &mut Table<'_, '_>,
    key: &Key,
    ok: &mut bool,
) -> Option<Family> {
    let field = table.get(ctx, "family")?;
    let family = ctx.parsed(&field, |s| match s {
        "inet" => Ok(Family::Inet),
        "inet6" => Ok(Family::Inet6),
        _ => Err(format!(
            "{s:?} is not an address family; expected \"inet\" or \"inet6\""
        )),
    });
    if family.is_none() {
        *ok = false;
        return None;
    }
    if let Key::Addr { .. } = key {
        ctx.report.error(
            &field.key_span,
            &field.path,
            "`family` is only for fwmark services; an address service has the family of its `address`",
        );
        *ok = false;
        return None;
    }
    family
}

fn parse_protocol(text: &str) -> Result<Protocol, String> {
    match text {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "sctp" => Ok(Protocol::Sctp),
        _ => Err(format!(
            "{text:?} is not a protocol; expected \"tcp\", \"udp\" or \"sctp\""
        )),
    }
}

fn parse_scheduler(text: &str) -> Result<Scheduler, String> {
    Scheduler::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = Scheduler::ALL.iter().map(|s| s.name()).collect();
        format!(
            "{text:?} is not a scheduler; expected one of: {}",
            names.join(", ")
        )
    })
}

fn parse_forwarding(text: &str) -> Result<Forwarding, String> {
    match text {
        "nat" => Ok(Forwarding::Nat),
        "direct" => Ok(Forwarding::Direct),
        "tunnel" => Ok(Forwarding::Tunnel),
        _ => Err(format!(
            "{text:?} is not a forwarding method; expected \"nat\" (ipvsadm -m), \
             \"direct\" (-g) or \"tunnel\" (-i)"
        )),
    }
}

/// `scheduler_flags = ["sh-fallback", "sh-port"]`; `sh-*` only with the
/// `sh` scheduler, `mh-*` only with `mh` (not checked when the scheduler
/// itself is wrong, `None`).
fn read_flags(
    ctx: &mut Ctx,
    field: &Field<'_, '_>,
    scheduler: Option<Scheduler>,
) -> Option<SchedulerFlags> {
    let items = ctx.array(field, "an array of strings like [\"sh-port\"]")?;
    let mut flags = SchedulerFlags::default();
    let mut ok = true;
    for item in items {
        let Some(name) = ctx.string(&item) else {
            ok = false;
            continue;
        };
        let (slot, needs) = match name {
            "sh-fallback" => (&mut flags.sh_fallback, Scheduler::Sh),
            "sh-port" => (&mut flags.sh_port, Scheduler::Sh),
            "mh-fallback" => (&mut flags.mh_fallback, Scheduler::Mh),
            "mh-port" => (&mut flags.mh_port, Scheduler::Mh),
            _ => {
                ctx.report.error(
                    &item.span(),
                    &item.path,
                    format!(
                        "{name:?} is not a scheduler flag; expected one of: \
                         sh-fallback, sh-port, mh-fallback, mh-port"
                    ),
                );
                ok = false;
                continue;
            }
        };
        if let Some(scheduler) = scheduler.filter(|s| *s != needs) {
            ctx.report.error(
                &item.span(),
                &item.path,
                format!(
                    "{name:?} is a flag of the {} scheduler, but this service uses {}",
                    needs.name(),
                    scheduler.name()
                ),
            );
            ok = false;
        } else if *slot {
            ctx.report.error(
                &item.span(),
                &item.path,
                format!("{name:?} is listed twice"),
            );
            ok = false;
        }
        *slot = true;
    }
    ok.then_some(flags)
}

/// `persistence = "300s"`: `Some(None)` when off (`"0s"`), `None` on error.
fn read_persistence(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<Option<Duration>> {
    if !matches!(field.value.get_ref(), DeValue::String(_)) {
        ctx.type_error(field, "a duration string like \"300s\"");
        return None;
    }
    ctx.parsed(field, |text| {
        let duration = parse_duration(text)?;
        if duration.subsec_nanos() != 0 {
            return Err(format!(
                "{text:?} is not a whole number of seconds (ipvsadm -p counts seconds)"
            ));
        }
        if duration.as_secs() > MAX_PERSISTENCE_SECS {
            return Err(format!(
                "{text:?} is longer than the kernel's maximum of {MAX_PERSISTENCE_SECS}s"
            ));
        }
        Ok((!duration.is_zero()).then_some(duration))
    })
}

/// `sorry_server = "192.168.3.9:5432"`: of the service's family, not one
/// of its real servers.
fn read_sorry_server(
    ctx: &mut Ctx,
    field: &Field<'_, '_>,
    is_fwmark: bool,
    family: Family,
    real_servers: &[RealServer],
) -> Option<SocketAddr> {
    let address = if is_fwmark {
        ctx.parsed(field, parse_socket_addr_or_ip)?
    } else {
        ctx.parsed(field, parse_socket_addr)?
    };
    let problem = if Family::of(address.ip()) != family {
        Some(format!(
            "{} is not of the service's address family; the sorry server stands in for its \
             real servers and must be reachable the same way",
            address.ip()
        ))
    } else if real_servers.iter().any(|r| r.address == address) {
        Some(format!(
            "{address} is also a real server of this service; a sorry server stands in when \
             every real server is down, so it must be another one"
        ))
    } else {
        None
    };
    match problem {
        Some(message) => {
            ctx.report.error(&field.span(), &field.path, message);
            None
        }
        None => Some(address),
    }
}

const REAL_SERVER_KEYS: &[&str] = &[
    "address",
    "weight",
    "forwarding",
    "upper_threshold",
    "lower_threshold",
    "health_check",
];

/// Read one real server; with it, whether its own `health_check` sets
/// `type`.
fn read_real_server(
    ctx: &mut Ctx,
    item: &Field<'_, '_>,
    is_fwmark: bool,
    service_forwarding: Option<Forwarding>,
    service_check: &Partial,
) -> Option<(RealServer, bool)> {
    let mut table = Table::new(ctx, &item.path, item.value, REAL_SERVER_KEYS)?;
    let mut ok = true;
    let help = if is_fwmark {
        "the real server's IP, with or without a port, like \"192.168.3.2\""
    } else {
        "the real server's IP and port, like \"192.168.3.2:80\""
    };
    let address = table.require(ctx, "address", help).and_then(|f| {
        if is_fwmark {
            ctx.parsed(&f, parse_socket_addr_or_ip)
        } else {
            ctx.parsed(&f, parse_socket_addr)
        }
    });
    let mut weight = 1;
    if let Some(field) = table.get(ctx, "weight") {
        match ctx.u32(&field, 0, 65535) {
            Some(w) => weight = w,
            None => ok = false,
        }
    }
    let mut forwarding = service_forwarding;
    if let Some(field) = table.get(ctx, "forwarding") {
        forwarding = ctx.parsed(&field, parse_forwarding);
        ok &= forwarding.is_some();
    }
    let mut thresholds = [0u32; 2];
    for (slot, key) in thresholds
        .iter_mut()
        .zip(["upper_threshold", "lower_threshold"])
    {
        if let Some(field) = table.get(ctx, key) {
            match ctx.u32(&field, 0, u32::MAX) {
                Some(n) => *slot = n,
                None => ok = false,
            }
        }
    }
    let own_check = match table.get(ctx, "health_check") {
        Some(field) => {
            let check = read_health_check(ctx, &field, Some(service_check));
            ok &= check.is_some();
            check
        }
        None => None,
    };
    let health_check = Partial::resolve(service_check, own_check.as_ref());
    let typed = own_check.as_ref().is_some_and(Partial::has_type);
    if let Some(address) = address
        && address.port() == 0
        && health_check.kind != CheckKind::None
        && health_check.port.is_none()
    {
        let path = join(table.path(), "address");
        let span = ctx.locations.get(&path);
        ctx.report.error(
            &span,
            &path,
            format!(
                "{} has no port to check: give the address a port, set health_check.port \
                 (in the service's or this real server's [health_check]), or \
                 health_check.type = \"none\"",
                address.ip()
            ),
        );
        // Kept in the draft for the cross-entry checks; the file is
        // rejected anyway.
    }
    let [upper, lower] = thresholds;
    if lower > upper {
        let path = join(table.path(), "lower_threshold");
        let span = ctx.locations.get(&path);
        ctx.report.error(
            &span,
            &path,
            format!(
                "{lower} is higher than upper_threshold {upper}; the kernel refuses that \
                 (ipvsadm -y must not exceed -x; 0 means no limit)"
            ),
        );
        ok = false;
    }
    table.finish(ctx);
    if !ok {
        return None;
    }
    Some((
        RealServer {
            address: address?,
            weight,
            forwarding: forwarding?,
            upper_threshold: upper,
            lower_threshold: lower,
            health_check,
        },
        typed,
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::parse::test_support::errors;
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
                     scheduler flag; expected one of: sh-fallback, sh-port, mh-fallback, mh-port",
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
