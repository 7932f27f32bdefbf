//! keepalived's checker side: `virtual_server` (by address, `fwmark` or
//! `group`), `virtual_server_group`, `real_server` and its checkers, into
//! `[[service]]` tables.
//!
//! keepalived's defaults, where the file says nothing: scheduler wlc,
//! forwarding NAT, protocol UDP (keepalived logs that it chose it), weight
//! 1, delay_loop 60s, connect_timeout 5s, retry 1, delay_before_retry 1s
//! (3s for HTTP_GET and SSL_GET). A failed real server is removed, unless
//! `inhibit_on_failure` (weight 0), and is back after one good check.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::{
    CheckKind, Family, Forwarding, OnFailure, Protocol, Scheduler, SchedulerFlags,
};

use super::super::model::{CheckOut, Doc, Key, RealOut, ServiceOut, set_scheduler_flag};
use super::super::{ImportError, Origin, Warnings};
use super::tree::Node;
use super::value::{arg, ip, number, timer, word};

const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_PERSISTENCE: u32 = 360;

/// `virtual_server_group NAME { ... }`: each entry one service key.
pub fn group(
    node: &Node,
    groups: &mut HashMap<String, Vec<(Origin, GroupKey)>>,
) -> Result<(), ImportError> {
    let name = arg(node, 0, "a group name")?.to_string();
    let mut entries = Vec::new();
    for entry in node.block.iter().flatten() {
        let o = &entry.origin;
        if entry.keyword == "fwmark" {
            let mark = number(entry, 0, "a firewall mark", 1, u32::MAX as u64)? as u32;
            entries.push((o.clone(), GroupKey::Fwmark(mark)));
            continue;
        }
        let port = match entry.args.first() {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| ImportError::syntax(o, format!("{p:?} is not a port number")))?,
            None => 0,
        };
        for address in range(o, &entry.keyword)? {
            entries.push((o.clone(), GroupKey::Addr(SocketAddr::new(address, port))));
        }
    }
    groups.insert(name, entries);
    Ok(())
}

/// An entry of a `virtual_server_group`.
#[derive(Debug, Clone, Copy)]
pub enum GroupKey {
    Addr(SocketAddr),
    Fwmark(u32),
}

/// `10.0.0.1` or keepalived's range `10.0.0.1-10` (the last part runs).
fn range(origin: &Origin, text: &str) -> Result<Vec<IpAddr>, ImportError> {
    let bad = || {
        ImportError::syntax(
            origin,
            format!("{text:?} is not an address or a range like 10.0.0.1-10"),
        )
    };
    let Some((first, last)) = text.split_once('-') else {
        return Ok(vec![text.parse().map_err(|_| bad())?]);
    };
    let first: IpAddr = first.parse().map_err(|_| bad())?;
    match first {
        IpAddr::V4(v4) => {
            let last: u8 = last.parse().map_err(|_| bad())?;
            let o = v4.octets();
            if last < o[3] {
                return Err(bad());
            }
            Ok((o[3]..=last)
                .map(|b| IpAddr::from([o[0], o[1], o[2], b]))
                .collect())
        }
        IpAddr::V6(v6) => {
            let last = u16::from_str_radix(last, 16).map_err(|_| bad())?;
            let mut s = v6.segments();
            if last < s[7] {
                return Err(bad());
            }
            let from = s[7];
            Ok((from..=last)
                .map(|x| {
                    s[7] = x;
                    IpAddr::from(s)
                })
                .collect())
        }
    }
}

/// What a virtual_server's keywords set, before it becomes services.
struct Vs {
    protocol: Option<Protocol>,
    scheduler: Option<Scheduler>,
    flags: Vec<(String, Origin)>,
    forwarding: Option<Forwarding>,
    persistence: Option<u32>,
    granularity: Option<String>,
    family: Option<Family>,
    sorry: Option<SocketAddr>,
    defaults: Timers,
    inhibit: bool,
    weight: u32,
    virtualhost: Option<String>,
    notes: Vec<String>,
}

/// Checker timings, each at its innermost level.
#[derive(Clone, Default)]
struct Timers {
    delay_loop: Option<Duration>,
    connect_timeout: Option<Duration>,
    retry: Option<u32>,
    delay_before_retry: Option<Duration>,
}

impl Timers {
    fn over(&self, outer: &Timers) -> Timers {
        Timers {
            delay_loop: self.delay_loop.or(outer.delay_loop),
            connect_timeout: self.connect_timeout.or(outer.connect_timeout),
            retry: self.retry.or(outer.retry),
            delay_before_retry: self.delay_before_retry.or(outer.delay_before_retry),
        }
    }

    /// Read a timing keyword; false when `node` is none.
    fn read(&mut self, node: &Node) -> Result<bool, ImportError> {
        match node.keyword.as_str() {
            "delay_loop" => self.delay_loop = Some(timer(node)?),
            "connect_timeout" => self.connect_timeout = Some(timer(node)?),
            "retry" | "nb_get_retry" => {
                self.retry = Some(number(node, 0, "a number of retries", 0, 1000)? as u32)
            }
            "delay_before_retry" => self.delay_before_retry = Some(timer(node)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Keywords with no router.toml equivalent, and what to say about them.
fn unsupported(keyword: &str) -> Option<&'static str> {
    Some(match keyword {
        "notify_up" | "notify_down" | "quorum_up" | "quorum_down" => {
            "scripts are not run; a [[webhook]] can be told of real servers going down and up"
        }
        "smtp_alert" => "no e-mail alerts; a [[webhook]] can be told of state changes",
        "alpha" => "real servers start as up here, not down until a first good check",
        "omega" | "quorum" | "hysteresis" => {
            "no quorum: the service keeps whatever real servers are up"
        }
        "ha_suspend" => "checks run whether or not this box holds the VRRP addresses",
        "persistence_engine" => "router.toml has no persistence engine (ipvsadm --pe)",
        "sorry_server_inhibit" => "the sorry server is added and removed, never kept at weight 0",
        "warmup" => "the first check is not delayed at random",
        "hashed" | "flag-3" => "this scheduler flag has no router.toml key",
        "ops" => "one-packet scheduling: router.toml has no such key",
        "snmp_name" => "no SNMP",
        _ => return None,
    })
}

/// One `virtual_server` block: one service, or one per group entry.
pub fn virtual_server(
    node: &Node,
    groups: &HashMap<String, Vec<(Origin, GroupKey)>>,
    doc: &mut Doc,
    warnings: &mut Warnings,
) -> Result<(), ImportError> {
    let o = &node.origin;
    let mut vs = Vs {
        protocol: None,
        scheduler: None,
        flags: Vec::new(),
        forwarding: None,
        persistence: None,
        granularity: None,
        family: None,
        sorry: None,
        defaults: Timers::default(),
        inhibit: false,
        weight: 1,
        virtualhost: None,
        notes: Vec::new(),
    };
    let mut reals = Vec::new();
    for child in node.block.iter().flatten() {
        let k = child.keyword.as_str();
        if vs.defaults.read(child)? {
            continue;
        }
        match k {
            "lb_algo" | "lvs_sched" => {
                let name = arg(child, 0, "a scheduler")?;
                vs.scheduler = Some(Scheduler::from_name(name).ok_or_else(|| {
                    ImportError::syntax(
                        &child.origin,
                        format!("{name:?} is not a scheduler keepalived knows"),
                    )
                })?);
            }
            "lb_kind" | "lvs_method" => {
                vs.forwarding = Some(method(child, &mut vs.notes, warnings)?)
            }
            "protocol" => {
                vs.protocol = Some(
                    match arg(child, 0, "TCP, UDP or SCTP")?
                        .to_ascii_uppercase()
                        .as_str()
                    {
                        "TCP" => Protocol::Tcp,
                        "UDP" => Protocol::Udp,
                        "SCTP" => Protocol::Sctp,
                        other => {
                            return Err(ImportError::syntax(
                                &child.origin,
                                format!("{other:?} is not TCP, UDP or SCTP"),
                            ));
                        }
                    },
                )
            }
            "persistence_timeout" => {
                vs.persistence = Some(match child.args.is_empty() {
                    true => DEFAULT_PERSISTENCE,
                    false => number(child, 0, "seconds", 1, 31 * 86400)? as u32,
                })
            }
            "persistence_granularity" => {
                vs.granularity = Some(arg(child, 0, "a netmask")?.to_string())
            }
            "ip_family" => {
                vs.family = Some(match arg(child, 0, "inet or inet6")? {
                    "inet" => Family::Inet,
                    "inet6" => Family::Inet6,
                    other => {
                        return Err(ImportError::syntax(
                            &child.origin,
                            format!("{other:?} is not inet or inet6"),
                        ));
                    }
                })
            }
            "sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" | "flag-1" | "flag-2" => {
                vs.flags.push((k.to_string(), child.origin.clone()))
            }
            "sorry_server" => {
                let address = ip(child, 0)?;
                let port = match child.args.get(1) {
                    Some(_) => number(child, 1, "a port", 0, 65535)? as u16,
                    None => 0,
                };
                vs.sorry = Some(SocketAddr::new(address, port));
            }
            "sorry_server_lvs_method" => {
                let mut ignore = Vec::new();
                let f = method(child, &mut ignore, warnings)?;
                if Some(f) != vs.forwarding.or(Some(Forwarding::Nat)) {
                    let message = "the sorry server always has the service's forwarding here";
                    vs.notes.push(warnings.left_out(&child.origin, k, message));
                }
            }
            "inhibit_on_failure" => vs.inhibit = yes(child),
            "weight" => vs.weight = number(child, 0, "a weight", 0, 65535)? as u32,
            "virtualhost" => vs.virtualhost = Some(arg(child, 0, "a host name")?.to_string()),
            "real_server" => reals.push(child),
            _ => match unsupported(k) {
                Some(message) => vs.notes.push(warnings.left_out(&child.origin, k, message)),
                None => vs.notes.push(warnings.left_out(
                    &child.origin,
                    k,
                    "not a virtual_server keyword lvsinit knows",
                )),
            },
        }
    }
    let scheduler = vs.scheduler.unwrap_or(Scheduler::Wlc);
    let mut flags = SchedulerFlags::default();
    for (flag, origin) in &vs.flags {
        let set = set_scheduler_flag(&mut flags, scheduler, flag);
        if !set {
            let message = format!("means nothing to the {} scheduler", scheduler.name());
            vs.notes.push(warnings.left_out(origin, flag, message));
        }
    }
    let forwarding = match vs.forwarding {
        Some(f) => f,
        None => {
            vs.notes
                .push("no lb_kind: keepalived's default, NAT".to_string());
            Forwarding::Nat
        }
    };
    // The service keys, with the origin of each (a group entry's own).
    let mut keys: Vec<(Vec<Origin>, Key)> = Vec::new();
    let fwmark_family = |vs: &Vs| vs.family;
    match (node.arg(0), node.arg(1)) {
        (Some("fwmark"), Some(_)) => {
            let mark = number(node, 1, "a firewall mark", 1, u32::MAX as u64)? as u32;
            keys.push((vec![o.clone()], Key::Fwmark(mark, fwmark_family(&vs))));
        }
        (Some("group"), Some(name)) => {
            let entries = groups.get(name).ok_or_else(|| {
                ImportError::syntax(
                    o,
                    format!("virtual_server_group {name} is not defined (before or after this)"),
                )
            })?;
            for (eo, entry) in entries {
                let key = match entry {
                    GroupKey::Fwmark(mark) => Key::Fwmark(*mark, fwmark_family(&vs)),
                    GroupKey::Addr(a) => Key::Addr(protocol(&mut vs, o), *a),
                };
                keys.push((vec![o.clone(), eo.clone()], key));
            }
        }
        (Some(address), port) => {
            let address: IpAddr = address
                .parse()
                .map_err(|_| ImportError::syntax(o, format!("{address:?} is not an IP address")))?;
            let port = match port {
                Some(p) => p
                    .parse::<u16>()
                    .map_err(|_| ImportError::syntax(o, format!("{p:?} is not a port number")))?,
                None => 0,
            };
            let protocol = protocol(&mut vs, o);
            keys.push((
                vec![o.clone()],
                Key::Addr(protocol, SocketAddr::new(address, port)),
            ));
        }
        (None, _) => {
            return Err(ImportError::syntax(
                o,
                "virtual_server needs an address and port, fwmark N or group NAME",
            ));
        }
    }
    let granularity = match (&vs.granularity, vs.persistence) {
        (Some(g), _) if g == "255.255.255.255" || g == "128" => None,
        (Some(g), _) => Some(g.clone()),
        (None, _) => None,
    };
    // keepalived turns persistence on for a granularity alone.
    let persistence = vs
        .persistence
        .or(vs.granularity.as_ref().map(|_| DEFAULT_PERSISTENCE));
    let mut real_servers = Vec::new();
    for r in reals {
        real_servers.push(real_server(r, &vs, forwarding, warnings)?);
    }
    if real_servers.is_empty() {
        let message = "keepalived ignores a virtual_server with no real_server";
        let note = warnings.left_out(o, "virtual_server", message);
        doc.notes.push(note);
        return Ok(());
    }
    for (origins, key) in keys {
        doc.services.push(ServiceOut {
            origins,
            notes: vs.notes.clone(),
            key,
            scheduler,
            flags,
            forwarding,
            persistence,
            persistence_netmask: persistence.and(granularity.clone()),
            sorry_server: vs.sorry.map(|s| match (s.port(), key) {
                (0, Key::Addr(_, vip)) => SocketAddr::new(s.ip(), vip.port()),
                _ => s,
            }),
            check: CheckOut::none("no checker"),
            real_servers: real_servers.clone(),
        });
    }
    Ok(())
}

/// The service's protocol, keepalived's UDP default said in a note.
fn protocol(vs: &mut Vs, origin: &Origin) -> Protocol {
    match vs.protocol {
        Some(p) => p,
        None => {
            let note = format!(
                "{origin}: no protocol: keepalived's default, UDP (it logs that it chose it)"
            );
            if !vs.notes.contains(&note) {
                vs.notes.push(note);
            }
            Protocol::Udp
        }
    }
}

/// `inhibit_on_failure` alone, or `inhibit_on_failure true|false`.
fn yes(node: &Node) -> bool {
    !matches!(node.arg(0), Some("false" | "no" | "off" | "0"))
}

/// `NAT`, `DR` or `TUN` (tunnel options warned about).
fn method(
    node: &Node,
    notes: &mut Vec<String>,
    warnings: &mut Warnings,
) -> Result<Forwarding, ImportError> {
    let f = match arg(node, 0, "NAT, DR or TUN")? {
        "NAT" => Forwarding::Nat,
        "DR" => Forwarding::Direct,
        "TUN" => Forwarding::Tunnel,
        other => {
            return Err(ImportError::syntax(
                &node.origin,
                format!("{other:?} is not NAT, DR or TUN"),
            ));
        }
    };
    if node.args.len() > 1 {
        let message = "tunnel types and checksums have no router.toml key: IP-in-IP is used";
        notes.push(warnings.left_out(&node.origin, &node.args[1..].join(" "), message));
    }
    Ok(f)
}

/// One `real_server IP [PORT] { ... }`.
fn real_server(
    node: &Node,
    vs: &Vs,
    forwarding: Forwarding,
    warnings: &mut Warnings,
) -> Result<RealOut, ImportError> {
    let o = &node.origin;
    let address = ip(node, 0)?;
    let port = match node.args.get(1) {
        Some(_) => number(node, 1, "a port", 0, 65535)? as u16,
        None => 0,
    };
    let mut real = RealOut {
        origins: vec![o.clone()],
        notes: Vec::new(),
        address: SocketAddr::new(address, port),
        weight: vs.weight,
        forwarding,
        upper_threshold: 0,
        lower_threshold: 0,
        check: CheckOut::none("no checker in keepalived: never checked, always in the table"),
    };
    let mut timers = Timers::default();
    let mut inhibit = vs.inhibit;
    let mut virtualhost = vs.virtualhost.clone();
    let mut checkers = Vec::new();
    for child in node.block.iter().flatten() {
        let k = child.keyword.as_str();
        if timers.read(child)? {
            continue;
        }
        match k {
            "weight" => real.weight = number(child, 0, "a weight", 0, 65535)? as u32,
            "lvs_method" => real.forwarding = method(child, &mut real.notes, warnings)?,
            "uthreshold" => {
                real.upper_threshold =
                    number(child, 0, "a connection count", 0, u32::MAX as u64)? as u32
            }
            "lthreshold" => {
                real.lower_threshold =
                    number(child, 0, "a connection count", 0, u32::MAX as u64)? as u32
            }
            "inhibit_on_failure" => inhibit = yes(child),
            "virtualhost" => virtualhost = Some(arg(child, 0, "a host name")?.to_string()),
            "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK" | "SMTP_CHECK" | "DNS_CHECK"
            | "UDP_CHECK" | "PING_CHECK" | "FILE_CHECK" | "BFD_CHECK" => checkers.push(child),
            _ => match unsupported(k) {
                Some(message) => real
                    .notes
                    .push(warnings.left_out(&child.origin, k, message)),
                None => real.notes.push(warnings.left_out(
                    &child.origin,
                    k,
                    "not a real_server keyword lvsinit knows",
                )),
            },
        }
    }
    let timers = timers.over(&vs.defaults);
    let mut carried = false;
    for checker in checkers {
        let k = checker.keyword.as_str();
        if carried {
            let message = "keepalived wants every checker to pass; only the first one lvsinit can run is carried";
            real.notes
                .push(warnings.left_out(&checker.origin, k, message));
            continue;
        }
        match k {
            "TCP_CHECK" | "HTTP_GET" | "SSL_GET" => {
                real.check = checker_out(
                    checker,
                    &timers,
                    inhibit,
                    virtualhost.as_deref(),
                    &mut real.notes,
                    warnings,
                )?;
                carried = true;
            }
            _ => {
                let message = match k {
                    "MISC_CHECK" => {
                        "scripts are not run: no equivalent; the real server is checked by the next checker, or not at all"
                    }
                    "SMTP_CHECK" => {
                        "no SMTP check: no equivalent; the real server is checked by the next checker, or not at all"
                    }
                    _ => {
                        "no equivalent check; the real server is checked by the next checker, or not at all"
                    }
                };
                real.notes
                    .push(warnings.left_out(&checker.origin, k, message));
            }
        }
    }
    Ok(real)
}

/// TCP_CHECK, HTTP_GET, SSL_GET into a check, with the mapping said.
fn checker_out(
    node: &Node,
    timers: &Timers,
    inhibit: bool,
    virtualhost: Option<&str>,
    notes: &mut Vec<String>,
    warnings: &mut Warnings,
) -> Result<CheckOut, ImportError> {
    let k = node.keyword.as_str();
    let mut own = Timers::default();
    let mut port = None;
    let mut urls: Vec<&Node> = Vec::new();
    let mut host = virtualhost.map(str::to_string);
    for child in node.block.iter().flatten() {
        if own.read(child)? {
            continue;
        }
        let c = child.keyword.as_str();
        match c {
            "connect_port" => port = Some(number(child, 0, "a port", 1, 65535)? as u16),
            "url" if k != "TCP_CHECK" => urls.push(child),
            "virtualhost" if k != "TCP_CHECK" => {
                host = Some(arg(child, 0, "a host name")?.to_string())
            }
            "connect_ip" => notes.push(warnings.left_out(
                &child.origin,
                c,
                "a check always probes the real server's own address",
            )),
            "bindto" | "bind_port" | "bind_if" => notes.push(warnings.left_out(
                &child.origin,
                c,
                "probes go out from the director's own address",
            )),
            "warmup" | "alpha" | "fwmark" | "http_protocol" | "enable_sni" | "fast_recovery"
            | "tls_compliant" | "log_all_failures" => notes.push(warnings.left_out(
                &child.origin,
                c,
                "this checker option has no router.toml key",
            )),
            _ => notes.push(warnings.left_out(
                &child.origin,
                c,
                format!("not a {k} keyword lvsinit knows"),
            )),
        }
    }
    let t = own.over(timers);
    let interval = t.delay_loop.unwrap_or(DEFAULT_DELAY_LOOP);
    let timeout = t.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let retry = t.retry.unwrap_or(1);
    let default_dbr = if k == "TCP_CHECK" { 1 } else { 3 };
    let dbr = t
        .delay_before_retry
        .unwrap_or(Duration::from_secs(default_dbr));
    let fall = retry + 1;
    let kind = match k {
        "HTTP_GET" => http(node, &urls, host, notes, warnings)?,
        "SSL_GET" => {
            let message = "TLS is not spoken by checks here: carried as a TCP connect to the port, which proves less than an HTTPS GET";
            notes.push(warnings.left_out(&node.origin, k, message));
            CheckKind::Tcp
        }
        _ => CheckKind::Tcp,
    };
    let secs = |d: Duration| {
        super::super::render::duration(d)
            .trim_matches('"')
            .to_string()
    };
    let mut explain = vec![
        format!("{}: mapped from keepalived's timings:", node.origin),
        format!(
            "  interval = delay_loop {}, timeout = connect_timeout {}, fall = retry {retry} + 1,",
            secs(interval),
            secs(timeout)
        ),
        format!(
            "  rise = 1 (keepalived takes a server back after one good check), on_failure = {}.",
            if inhibit {
                "quiesce (inhibit_on_failure: weight 0)"
            } else {
                "remove (keepalived's default)"
            }
        ),
    ];
    if retry > 0 {
        explain.push(format!(
            "  keepalived retries a failure after delay_before_retry {}; here every probe is interval",
            secs(dbr)
        ));
        explain.push(format!(
            "  apart, so a dead server goes down after up to {fall} x {} + {} (keepalived: about {} + {retry} x {}).",
            secs(interval),
            secs(timeout),
            secs(interval),
            secs(dbr + timeout)
        ));
    }
    Ok(CheckOut {
        kind,
        port,
        interval,
        timeout,
        fall,
        rise: 1,
        on_failure: if inhibit {
            OnFailure::Quiesce
        } else {
            OnFailure::Remove
        },
        explain,
    })
}

/// HTTP_GET's first `url`: its path and one status.
fn http(
    node: &Node,
    urls: &[&Node],
    host: Option<String>,
    notes: &mut Vec<String>,
    warnings: &mut Warnings,
) -> Result<CheckKind, ImportError> {
    let Some((first, rest)) = urls.split_first() else {
        return Err(ImportError::syntax(
            &node.origin,
            "HTTP_GET needs a url { path ... } block",
        ));
    };
    for extra in rest {
        let message = "a check GETs one path here: only the first url is carried";
        notes.push(warnings.left_out(&extra.origin, "url", message));
    }
    let mut path = None;
    let mut status = None;
    for child in first.block.iter().flatten() {
        let c = child.keyword.as_str();
        match c {
            "path" => path = Some(arg(child, 0, "a path")?.to_string()),
            "status_code" => {
                let codes: Vec<&str> = child.args.iter().map(String::as_str).collect();
                match codes.as_slice() {
                    [one] if !one.contains('-') => {
                        status = Some(word::<u16>(child, one, "an HTTP status")?)
                    }
                    _ => {
                        let first = codes
                            .first()
                            .and_then(|c| c.split('-').next())
                            .unwrap_or("200");
                        status = Some(word::<u16>(child, first, "an HTTP status")?);
                        let message = format!("a check wants one status here: {first} is carried");
                        notes.push(warnings.left_out(&child.origin, c, message));
                    }
                }
            }
            "digest" => notes.push(warnings.left_out(
                &child.origin,
                c,
                "the body is not hashed here: only the status is checked",
            )),
            _ => notes.push(warnings.left_out(&child.origin, c, "not a url keyword lvsinit knows")),
        }
    }
    let path = path.ok_or_else(|| ImportError::syntax(&first.origin, "url needs a path"))?;
    let status = match status {
        Some(s) => s,
        None => {
            let message = "keepalived accepts any 2xx status without status_code; this check wants exactly 200";
            notes.push(warnings.left_out(&first.origin, "status_code", message));
            200
        }
    };
    Ok(CheckKind::Http { path, host, status })
}
