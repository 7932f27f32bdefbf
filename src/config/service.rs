//! `[[service]]` and `[[service.real_server]]`: virtual services and their
//! real servers, in the words of `ipvsadm`.
//!
//! A service is identified either by `protocol` + `address`
//! (`ipvsadm -t/-u/--sctp-service VIP:port`) or by `fwmark` (`ipvsadm -f`).
//! `forwarding` has no default on purpose: ipvsadm defaults to `-g` (direct
//! routing) and keepalived to NAT, so a silent default would surprise half
//! of our users.

use std::time::Duration;

use toml::de::DeValue;

use super::addr::{parse_netmask, parse_socket_addr, parse_socket_addr_or_ip};
use super::duration::parse_duration;
use super::parse::array_of_tables;
use super::walk::{Ctx, Field, Table, join};
use super::{
    Family, Forwarding, Protocol, RealServer, Scheduler, SchedulerFlags, Service, ServiceKey,
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
    "real_server",
];

const FORWARDING_HELP: &str = "say how packets reach the real servers: \"nat\" (ipvsadm -m), \
     \"direct\" (-g) or \"tunnel\" (-i). There is no default because ipvsadm defaults to -g \
     and keepalived to NAT";

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

    let mut scheduler = Scheduler::Wlc;
    if let Some(field) = table.get(ctx, "scheduler") {
        match ctx.parsed(&field, parse_scheduler) {
            Some(s) => scheduler = s,
            None => ok = false,
        }
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

    let mut real_servers = Vec::new();
    let mut real_server_index = Vec::new();
    let mut real_servers_complete = true;
    if let Some(field) = table.get(ctx, "real_server") {
        for (i, rs) in array_of_tables(ctx, &field) {
            match read_real_server(ctx, &rs, is_fwmark, forwarding) {
                Some(real) => {
                    real_servers.push(real);
                    real_server_index.push(i);
                }
                None => real_servers_complete = false,
            }
        }
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
            scheduler,
            flags: flags?,
            forwarding: forwarding?,
            persistence: persistence?,
            persistence_netmask,
            real_servers,
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
/// `sh` scheduler, `mh-*` only with `mh`.
fn read_flags(
    ctx: &mut Ctx,
    field: &Field<'_, '_>,
    scheduler: Scheduler,
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
        if scheduler != needs {
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

const REAL_SERVER_KEYS: &[&str] = &[
    "address",
    "weight",
    "forwarding",
    "upper_threshold",
    "lower_threshold",
];

fn read_real_server(
    ctx: &mut Ctx,
    item: &Field<'_, '_>,
    is_fwmark: bool,
    service_forwarding: Option<Forwarding>,
) -> Option<RealServer> {
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
    Some(RealServer {
        address: address?,
        weight,
        forwarding: forwarding?,
        upper_threshold: upper,
        lower_threshold: lower,
    })
}
