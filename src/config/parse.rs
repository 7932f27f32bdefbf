//! From TOML text to a [`Config`]: syntax, then every table and key, then
//! the cross-entry checks of `validate.rs`.
//!
//! The walk keeps going after an error so that one run reports everything
//! wrong with the file. Entries that had errors are left out of the draft;
//! each surviving entry keeps its index in the file so later diagnostics
//! still name `service[2]` even when `service[1]` was dropped.

use toml::de::{DeTable, DeValue};

use super::addr::{network, parse_cidr, parse_ip};
use super::error::{Reporter, Severity};
use super::names::{check_hostname, check_ifname, check_sysctl_name};
use super::service::{DraftService, read_service};
use super::walk::{Ctx, Field, Locations, Table, Value, join};
use super::{Config, ConfigError, Diagnostic, Family, Interface, IpNet, LinkMatch, Route};
use super::{addr, validate};

/// The hostname when the file sets none.
pub const DEFAULT_HOSTNAME: &str = "lvs-router";

/// Parse and validate `text` (read from `file`, a display name such as
/// "/etc/lvsinit/router.toml").
///
/// Ok: the config plus warnings (`Severity::Warning` diagnostics).
/// Err: every error at once, in file order.
pub fn load(file: &str, text: &str) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
    let mut ctx = Ctx {
        report: Reporter::new(file, text),
        locations: Locations::default(),
    };
    let (root, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        // The tree after a syntax error is a guess; checking it would only
        // add confusing follow-up errors.
        for error in syntax_errors {
            let span = error.span().unwrap_or(0..0);
            let mut message = format!("TOML syntax: {}", error.message());
            if error.message() == "duplicate key"
                && let Some(key) = text.get(span.clone())
            {
                message = format!("TOML syntax: duplicate key {key}");
            }
            ctx.report.error(&span, "", message);
        }
        return Err(ConfigError {
            diagnostics: ctx.report.finish_errors(),
        });
    }
    let draft = read_document(&mut ctx, root.get_ref());
    validate::check(&mut ctx, &draft);
    if ctx.report.has_errors() {
        return Err(ConfigError {
            diagnostics: ctx.report.finish_errors(),
        });
    }
    let warnings = ctx.report.finish();
    debug_assert!(warnings.iter().all(|d| d.severity == Severity::Warning));
    Ok((draft.into_config(), warnings))
}

/// What the walk produced: the entries that parsed, with their indices.
pub(super) struct Draft {
    pub(super) hostname: String,
    pub(super) sysctls: Vec<(String, String)>,
    pub(super) interfaces: Vec<(usize, Interface)>,
    /// Every interface `name` given, also of entries with other errors, so
    /// a route's `device` is not reported as unknown because of them.
    pub(super) interface_names: Vec<String>,
    pub(super) routes: Vec<(usize, Route)>,
    pub(super) services: Vec<DraftService>,
}

impl Draft {
    fn into_config(self) -> Config {
        Config {
            hostname: self.hostname,
            sysctls: self.sysctls,
            interfaces: self.interfaces.into_iter().map(|(_, i)| i).collect(),
            routes: self.routes.into_iter().map(|(_, r)| r).collect(),
            services: self.services.into_iter().map(|s| s.service).collect(),
        }
    }
}

const TOP_KEYS: &[&str] = &["hostname", "sysctl", "interface", "route", "service"];

fn read_document(ctx: &mut Ctx, root: &DeTable<'_>) -> Draft {
    let mut top = Table::from_de(ctx, "", 0..0, root, TOP_KEYS);
    let mut draft = Draft {
        hostname: DEFAULT_HOSTNAME.to_string(),
        sysctls: Vec::new(),
        interfaces: Vec::new(),
        interface_names: Vec::new(),
        routes: Vec::new(),
        services: Vec::new(),
    };
    if let Some(field) = top.get(ctx, "hostname") {
        let hostname = ctx.parsed(&field, |s| check_hostname(s).map(|()| s.to_string()));
        if let Some(hostname) = hostname {
            draft.hostname = hostname;
        }
    }
    if let Some(field) = top.get(ctx, "sysctl") {
        draft.sysctls = read_sysctls(ctx, &field);
    }
    if let Some(field) = top.get(ctx, "interface") {
        for (index, item) in array_of_tables(ctx, &field) {
            if let Some(interface) = read_interface(ctx, &item, &mut draft.interface_names) {
                draft.interfaces.push((index, interface));
            }
        }
    }
    if let Some(field) = top.get(ctx, "route") {
        for (index, item) in array_of_tables(ctx, &field) {
            if let Some(route) = read_route(ctx, &item) {
                draft.routes.push((index, route));
            }
        }
    }
    if let Some(field) = top.get(ctx, "service") {
        for (index, item) in array_of_tables(ctx, &field) {
            if let Some(service) = read_service(ctx, &item, index) {
                draft.services.push(service);
            }
        }
    }
    top.finish(ctx);
    draft
}

/// The elements of a `[[name]]` array, with their indices.
pub(super) fn array_of_tables<'a, 'i>(
    ctx: &mut Ctx,
    field: &Field<'a, 'i>,
) -> Vec<(usize, Field<'a, 'i>)> {
    // The header as written: `service[0].real_server` is `[[service.real_server]]`.
    let mut header = String::new();
    let mut in_index = false;
    for c in field.path.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            _ if !in_index => header.push(c),
            _ => {}
        }
    }
    let expected = format!("an array of tables ([[{header}]])");
    let Some(items) = ctx.array(field, &expected) else {
        return Vec::new();
    };
    items.into_iter().enumerate().collect()
}

/// `[sysctl]`: free-form names with integer, string or boolean values.
/// Unquoted dotted keys (`net.ipv4.vs.conntrack = 1`) make nested tables in
/// TOML; they are flattened back into dotted names.
fn read_sysctls(ctx: &mut Ctx, field: &Field<'_, '_>) -> Vec<(String, String)> {
    let mut found: Vec<(String, String, std::ops::Range<usize>)> = Vec::new();
    if let DeValue::Table(_) = field.value.get_ref() {
        collect_sysctls(ctx, "", field.value, &mut found);
    } else {
        ctx.type_error(field, "a table ([sysctl])");
    }
    // Dotted keys sharing a prefix are merged into one nested table by
    // TOML; the leaf keys' positions give back the file order.
    found.sort_by_key(|(_, _, span)| span.start);
    let mut sysctls: Vec<(String, String)> = Vec::new();
    for (i, (name, value, span)) in found.iter().enumerate() {
        if let Some(first) = found[..i].iter().find(|(n, _, _)| n == name) {
            let (line, _) = ctx.report.position(first.2.start);
            ctx.report.error(
                span,
                &join("sysctl", name),
                format!("set twice; it is first set on line {line}"),
            );
        } else {
            sysctls.push((name.clone(), value.clone()));
        }
    }
    sysctls
}

fn collect_sysctls(
    ctx: &mut Ctx,
    prefix: &str,
    table: &Value<'_>,
    found: &mut Vec<(String, String, std::ops::Range<usize>)>,
) {
    let DeValue::Table(table) = table.get_ref() else {
        return;
    };
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (key, value) in entries {
        let name = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        if let DeValue::Table(_) = value.get_ref() {
            collect_sysctls(ctx, &name, value, found);
            continue;
        }
        let path = join("sysctl", &name);
        ctx.locations.record(&path, value.span());
        // For a dotted key (`net.ipv4.vs.conntrack = 1`) TOML gives the span
        // of its last word only; point at the whole key instead.
        let key_span = ctx.report.key_start(key.span().start)..key.span().end;
        if let Err(message) = check_sysctl_name(&name) {
            ctx.report.error(&key_span, &path, message);
            continue;
        }
        let field = Field {
            path: path.clone(),
            key_span: key_span.clone(),
            value,
        };
        let text = match value.get_ref() {
            DeValue::Integer(_) => ctx
                .integer(&field, i128::from(i64::MIN), i128::from(u64::MAX))
                .map(|n| n.to_string()),
            DeValue::Boolean(b) => Some(if *b { "1" } else { "0" }.to_string()),
            DeValue::String(s) if s.contains(['\n', '\r']) => {
                ctx.report
                    .error(&value.span(), &path, "a sysctl value must be one line");
                None
            }
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                ctx.type_error(&field, "a string, integer or boolean");
                None
            }
        };
        let Some(text) = text else { continue };
        if name == "net.ipv4.ip_forward" && text.trim() != "1" {
            ctx.report.error(
                &value.span(),
                &path,
                "is always 1 on this appliance (it forwards packets for IPVS); remove this line",
            );
            continue;
        }
        found.push((name, text, key_span));
    }
}

const INTERFACE_KEYS: &[&str] = &["name", "mac", "device", "addresses", "mtu"];

fn read_interface(
    ctx: &mut Ctx,
    item: &Field<'_, '_>,
    names: &mut Vec<String>,
) -> Option<Interface> {
    let mut table = Table::new(ctx, &item.path, item.value, INTERFACE_KEYS)?;
    let name = table
        .require(ctx, "name", "the name the link gets, like name = \"wan\"")
        .and_then(|f| ctx.parsed(&f, |s| check_ifname(s).map(|()| s.to_string())));
    if let Some(name) = &name {
        if name == "lo" {
            let span = ctx.locations.get(&join(table.path(), "name"));
            ctx.report.error(
                &span,
                &join(table.path(), "name"),
                "\"lo\" is the loopback interface's name; choose another",
            );
        }
        names.push(name.clone());
    }
    let mac = table.get(ctx, "mac");
    let device = table.get(ctx, "device");
    let by_mac = mac
        .as_ref()
        .and_then(|f| ctx.parsed(f, addr::parse_mac))
        .map(LinkMatch::Mac);
    let by_device = device
        .as_ref()
        .and_then(|f| ctx.parsed(f, |s| check_ifname(s).map(|()| s.to_string())))
        .map(LinkMatch::Device);
    let matcher = match (&mac, &device) {
        (Some(_), Some(device)) => {
            ctx.report.error(
                &device.key_span,
                &device.path,
                "give either `mac` or `device`, not both",
            );
            None
        }
        (None, None) => {
            ctx.report.error(
                &table.span(),
                table.path(),
                "missing `mac` or `device`: say which link this is, by MAC address \
                 (mac = \"52:54:00:00:01:01\") or by the kernel's name (device = \"eth0\")",
            );
            None
        }
        (Some(_), None) => by_mac,
        (None, Some(_)) => by_device,
    };
    let mut addresses = Some(Vec::new());
    if let Some(field) = table.get(ctx, "addresses") {
        addresses = read_addresses(ctx, &field);
    }
    let mut mtu = None;
    let mut mtu_ok = true;
    if let Some(field) = table.get(ctx, "mtu") {
        mtu = ctx.u32(&field, 68, 65535);
        mtu_ok = mtu.is_some();
        let has_ipv6 = addresses
            .iter()
            .flatten()
            .any(|a| Family::of(a.addr) == Family::Inet6);
        if let Some(value) = mtu.filter(|m| *m < 1280 && has_ipv6) {
            ctx.report.error(
                &field.span(),
                &field.path,
                format!("{value} is too small for the IPv6 addresses here; IPv6 needs an MTU of at least 1280"),
            );
            mtu_ok = false;
        }
    }
    table.finish(ctx);
    if !mtu_ok {
        return None;
    }
    Some(Interface {
        name: name?,
        matcher: matcher?,
        addresses: addresses?,
        mtu,
    })
}

/// `addresses = ["192.168.1.1/24", ...]`; the same address twice is an error.
fn read_addresses(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<Vec<IpNet>> {
    let items = ctx.array(field, "an array of strings like [\"192.168.1.1/24\"]")?;
    let mut ok = true;
    let mut addresses: Vec<IpNet> = Vec::new();
    for item in items {
        let Some(net) = ctx.parsed(&item, parse_cidr) else {
            ok = false;
            continue;
        };
        if let Some(i) = addresses.iter().position(|a| a.addr == net.addr) {
            ctx.report.error(
                &item.span(),
                &item.path,
                format!("{} is already listed as {}[{i}]", net.addr, field.path),
            );
            ok = false;
            continue;
        }
        addresses.push(net);
    }
    ok.then_some(addresses)
}

const ROUTE_KEYS: &[&str] = &["destination", "gateway", "device", "metric", "table"];

fn read_route(ctx: &mut Ctx, item: &Field<'_, '_>) -> Option<Route> {
    let mut table = Table::new(ctx, &item.path, item.value, ROUTE_KEYS)?;
    let mut ok = true;
    let destination = table
        .require(
            ctx,
            "destination",
            "a subnet like \"10.0.0.0/8\", or \"default\"",
        )
        .and_then(|f| ctx.parsed(&f, parse_destination));
    let gateway_field = table.get(ctx, "gateway");
    let gateway = gateway_field.as_ref().and_then(|f| ctx.parsed(f, parse_ip));
    ok &= gateway.is_some() == gateway_field.is_some();
    if let (Some(dest), Some(gw), Some(field)) = (destination, gateway, &gateway_field)
        && Family::of(dest.addr) != Family::of(gw)
    {
        let hint = if dest.prefix_len == 0 && Family::of(gw) == Family::Inet6 {
            "; for the IPv6 default route write destination = \"default6\""
        } else {
            ""
        };
        ctx.report.error(
            &field.span(),
            &field.path,
            format!(
                "{gw} is {} but the destination {dest} is {}{hint}",
                family_name(Family::of(gw)),
                family_name(Family::of(dest.addr))
            ),
        );
        ok = false;
    }
    let device_field = table.get(ctx, "device");
    let device = device_field
        .as_ref()
        .and_then(|f| ctx.parsed(f, |s| check_ifname(s).map(|()| s.to_string())));
    ok &= device.is_some() == device_field.is_some();
    if gateway_field.is_none() && device_field.is_none() {
        ctx.report.error(
            &table.span(),
            table.path(),
            "a route needs a `gateway`, a `device`, or both",
        );
        ok = false;
    }
    let mut metric = None;
    if let Some(field) = table.get(ctx, "metric") {
        metric = ctx.u32(&field, 0, u32::MAX);
        ok &= metric.is_some();
    }
    let mut route_table = None;
    if let Some(field) = table.get(ctx, "table") {
        route_table = ctx.u32(&field, 1, u32::MAX);
        ok &= route_table.is_some();
    }
    table.finish(ctx);
    if !ok {
        return None;
    }
    Some(Route {
        destination: destination?,
        gateway,
        device,
        metric,
        table: route_table,
    })
}

/// `"10.0.0.0/8"`, `"default"` (IPv4) or `"default6"` (IPv6). Host bits
/// must be clear, as `ip route` requires.
fn parse_destination(text: &str) -> Result<IpNet, String> {
    let net = match text {
        "default" => parse_cidr("0.0.0.0/0")?,
        "default6" => parse_cidr("::/0")?,
        _ => parse_cidr(text)?,
    };
    let subnet = network(net);
    if subnet != net {
        return Err(format!(
            "{text:?} has host bits set; the subnet is \"{subnet}\""
        ));
    }
    Ok(net)
}

/// "IPv4" or "IPv6".
pub(super) fn family_name(family: Family) -> &'static str {
    match family {
        Family::Inet => "IPv4",
        Family::Inet6 => "IPv6",
    }
}

/// Helpers shared by the config tests.
#[cfg(test)]
pub(super) mod test_support {
    use super::load;

    /// The displayed diagnostics of a file that must be rejected.
    pub(in crate::config) fn errors(text: &str) -> Vec<String> {
        match load("router.toml", text) {
            Ok((config, _)) => panic!("accepted as {config:#?}:\n{text}"),
            Err(err) => err.diagnostics.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// The displayed warnings of a file that must be accepted.
    pub(in crate::config) fn warnings(text: &str) -> Vec<String> {
        match load("router.toml", text) {
            Ok((_, warnings)) => warnings.iter().map(|d| d.to_string()).collect(),
            Err(err) => panic!("rejected:\n{err}\n{text}"),
        }
    }

    /// Check a table of (file text, expected diagnostics) cases.
    pub(in crate::config) fn check_cases(cases: &[(&str, &[&str])]) {
        for (text, expected) in cases {
            assert_eq!(&errors(text), expected, "for:\n{text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::test_support::{check_cases, errors, warnings};
    use super::*;
    use crate::config::{
        Forwarding, MacAddr, Protocol, RealServer, Scheduler, SchedulerFlags, Service, ServiceKey,
    };

    fn net(text: &str) -> IpNet {
        parse_cidr(text).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// The built-in default is the classic lab setup, and has no warnings.
    #[test]
    fn default_router_toml() {
        let text = include_str!("../../image/router.toml");
        let (config, warnings) = load("router.toml", text).unwrap();
        assert_eq!(warnings, []);
        let real = |a: &str| RealServer {
            address: a.parse().unwrap(),
            weight: 1,
            forwarding: Forwarding::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
        };
        let expected = Config {
            hostname: "lvs-router".into(),
            sysctls: vec![
                ("net.ipv4.vs.expire_nodest_conn".into(), "1".into()),
                ("net.ipv4.vs.conntrack".into(), "1".into()),
            ],
            interfaces: vec![
                Interface {
                    name: "wan".into(),
                    matcher: LinkMatch::Mac(MacAddr([0x52, 0x54, 0, 0, 1, 1])),
                    addresses: vec![net("192.168.1.1/24"), net("192.168.1.100/24")],
                    mtu: None,
                },
                Interface {
                    name: "lan".into(),
                    matcher: LinkMatch::Mac(MacAddr([0x52, 0x54, 0, 0, 3, 1])),
                    addresses: vec![net("192.168.3.1/24")],
                    mtu: None,
                },
            ],
            routes: vec![],
            services: vec![Service {
                name: "postgres".into(),
                key: ServiceKey::Addr {
                    protocol: Protocol::Tcp,
                    address: "192.168.1.100:5432".parse().unwrap(),
                },
                scheduler: Scheduler::Rr,
                flags: SchedulerFlags::default(),
                forwarding: Forwarding::Nat,
                persistence: None,
                persistence_netmask: None,
                real_servers: vec![real("192.168.3.2:5432"), real("192.168.3.3:5432")],
            }],
        };
        assert_eq!(config, expected);
    }

    /// Un-comment every line of `text` whose commented part is TOML (a
    /// key = value line, a table header, or a nested comment), except the
    /// keys starting with one of `skip`.
    fn uncomment(text: &str, skip: &[&str]) -> String {
        let is_toml = |rest: &str| {
            rest.starts_with('#') || DeTable::parse(rest).is_ok_and(|t| !t.get_ref().is_empty())
        };
        let lines: Vec<String> = text
            .lines()
            .map(|line| {
                let indent = &line[..line.len() - line.trim_start().len()];
                match line.trim_start().strip_prefix("# ") {
                    Some(rest) if is_toml(rest) && !skip.iter().any(|k| rest.starts_with(k)) => {
                        format!("{indent}{rest}")
                    }
                    _ => line.to_string(),
                }
            })
            .collect();
        lines.join("\n")
    }

    /// Every commented-out key of the default file is valid when enabled.
    #[test]
    fn default_router_toml_commented_keys_are_valid() {
        let text = include_str!("../../image/router.toml");
        // fwmark and family replace protocol and address; device replaces
        // mac; persistence_netmask needs persistence on.
        let skip = ["fwmark", "family", "device = \"eth0\""];
        let enabled = uncomment(&uncomment(text, &skip), &skip)
            .replace("persistence = \"0s\"", "persistence = \"300s\"");
        let (config, warnings) =
            load("router.toml", &enabled).unwrap_or_else(|e| panic!("{e}\n{enabled}"));
        assert_eq!(warnings, []);
        assert_eq!(config.sysctls.len(), 4);
        assert_eq!(config.interfaces[0].mtu, Some(1500));
        assert_eq!(
            config.routes,
            [Route {
                destination: net("0.0.0.0/0"),
                gateway: Some(ip("192.168.1.254")),
                device: Some("wan".into()),
                metric: Some(100),
                table: Some(100),
            }]
        );
        let service = &config.services[0];
        assert_eq!(
            service.persistence,
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(service.persistence_netmask, Some(32));
        assert_eq!(service.flags, SchedulerFlags::default());
        assert_eq!(service.real_servers[0].forwarding, Forwarding::Nat);
    }

    const WAN: &str = "[[interface]]\nname = \"wan\"\nmac = \"52:54:00:00:01:01\"\naddresses = [\"192.168.1.1/24\"]\n";

    #[test]
    fn minimal_file_takes_defaults() {
        let (config, warnings) = load("router.toml", "").unwrap();
        assert_eq!(warnings, []);
        assert_eq!(
            config,
            Config {
                hostname: DEFAULT_HOSTNAME.into(),
                sysctls: vec![],
                interfaces: vec![],
                routes: vec![],
                services: vec![],
            }
        );
    }

    #[test]
    fn syntax_errors() {
        check_cases(&[
            (
                "hostname = \"lvs\n",
                &["router.toml:1:16: error: TOML syntax: invalid basic string, expected `\"`"],
            ),
            (
                "[[interface]]\nname = wan\n",
                &[
                    "router.toml:2:8: error: TOML syntax: string values must be quoted, expected literal string",
                ],
            ),
            (
                "[[interface]]\nmtu = 1500\nmtu = 1400\n",
                &["router.toml:3:1: error: TOML syntax: duplicate key mtu"],
            ),
        ]);
    }

    #[test]
    fn top_level_errors() {
        check_cases(&[
            (
                "hostnme = \"a\"\n",
                &[
                    "router.toml:1:1: error: hostnme: unknown key; did you mean `hostname`? \
                   Valid keys here: hostname, sysctl, interface, route, service",
                ],
            ),
            (
                "\n[global]\nx = 1\n",
                &["router.toml:2:2: error: global: unknown key; \
                   valid keys here: hostname, sysctl, interface, route, service"],
            ),
            (
                "hostname = 5\n",
                &["router.toml:1:12: error: hostname: expected a string, found an integer"],
            ),
            (
                "hostname = \"lvs_1\"\n",
                &[
                    "router.toml:1:12: error: hostname: \"lvs_1\" contains '_'; \
                   a hostname has only letters, digits, '-' and '.'",
                ],
            ),
            (
                "[interface]\nname = \"wan\"\n",
                &[
                    "router.toml:1:1: error: interface: expected an array of tables ([[interface]]), found a table",
                ],
            ),
            (
                "service = 1\n",
                &[
                    "router.toml:1:11: error: service: expected an array of tables ([[service]]), found an integer",
                ],
            ),
            (
                "route = [1]\n",
                &["router.toml:1:10: error: route[0]: expected a table, found an integer"],
            ),
            (
                "sysctl = [1]\n",
                &["router.toml:1:10: error: sysctl: expected a table ([sysctl]), found an array"],
            ),
        ]);
    }

    #[test]
    fn sysctls() {
        let text = "[sysctl]\n\"net.ipv4.vs.conntrack\" = 1\nnet.ipv4.vs.expire_nodest_conn = true\n\
                    \"net.ipv4.ip_local_port_range\" = \"32768 60999\"\n\
                    [sysctl.net.ipv4.conf.wan]\nrp_filter = 0x2\n";
        let (config, _) = load("router.toml", text).unwrap();
        assert_eq!(
            config.sysctls,
            [
                ("net.ipv4.vs.conntrack".to_string(), "1".to_string()),
                ("net.ipv4.vs.expire_nodest_conn".into(), "1".into()),
                ("net.ipv4.ip_local_port_range".into(), "32768 60999".into()),
                ("net.ipv4.conf.wan.rp_filter".into(), "2".into()),
            ]
        );
        check_cases(&[
            (
                "[sysctl]\n\"net.ipv4.vs.foo/bar\" = 1\n",
                &[
                    "router.toml:2:1: error: sysctl.\"net.ipv4.vs.foo/bar\": \"net.ipv4.vs.foo/bar\" \
                   is not a sysctl name: expected dot-separated words of a-z, 0-9, '_' and '-', \
                   like \"net.ipv4.vs.conntrack\"",
                ],
            ),
            (
                "[sysctl]\n\"net..ipv4\" = 1\nkernel = 1\n",
                &[
                    "router.toml:2:1: error: sysctl.\"net..ipv4\": \"net..ipv4\" is not a sysctl name: \
                     expected dot-separated words of a-z, 0-9, '_' and '-', like \"net.ipv4.vs.conntrack\"",
                    "router.toml:3:1: error: sysctl.kernel: \"kernel\" is not a sysctl name: \
                     expected dot-separated words of a-z, 0-9, '_' and '-', like \"net.ipv4.vs.conntrack\"",
                ],
            ),
            (
                "[sysctl]\n\"net.ipv4.vs.conntrack\" = 1.5\n",
                &[
                    "router.toml:2:27: error: sysctl.\"net.ipv4.vs.conntrack\": \
                   expected a string, integer or boolean, found a float",
                ],
            ),
            (
                "[sysctl]\n\"net.ipv4.ip_forward\" = 0\n",
                &[
                    "router.toml:2:25: error: sysctl.\"net.ipv4.ip_forward\": is always 1 on this \
                   appliance (it forwards packets for IPVS); remove this line",
                ],
            ),
            (
                "[sysctl]\n\"net.ipv4.vs.conntrack\" = 1\nnet.ipv4.vs.conntrack = 0\n",
                &[
                    "router.toml:3:1: error: sysctl.\"net.ipv4.vs.conntrack\": set twice; it is first set on line 2",
                ],
            ),
        ]);
    }

    #[test]
    fn interfaces() {
        let text = "[[interface]]\nname = \"wan\"\ndevice = \"eth0\"\nmtu = 9000\n\
                    addresses = [\"192.168.1.1/24\", \"2001:db8::1/64\"]\n";
        let (config, _) = load("router.toml", text).unwrap();
        assert_eq!(
            config.interfaces,
            [Interface {
                name: "wan".into(),
                matcher: LinkMatch::Device("eth0".into()),
                addresses: vec![net("192.168.1.1/24"), net("2001:db8::1/64")],
                mtu: Some(9000),
            }]
        );
        check_cases(&[
            (
                "[[interface]]\nname = \"wan\"\nmac = \"52:54:00:00:01:01\"\ndevice = \"eth0\"\n",
                &[
                    "router.toml:4:1: error: interface[0].device: give either `mac` or `device`, not both",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\n",
                &[
                    "router.toml:1:1: error: interface[0]: missing `mac` or `device`: say which link \
                   this is, by MAC address (mac = \"52:54:00:00:01:01\") or by the kernel's name \
                   (device = \"eth0\")",
                ],
            ),
            (
                "[[interface]]\nmac = \"52:54:00:00:01:01\"\n",
                &[
                    "router.toml:1:1: error: interface[0].name: missing key `name`; the name the \
                   link gets, like name = \"wan\"",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\nmac = \"52:54:00:00:01\"\n",
                &[
                    "router.toml:3:7: error: interface[0].mac: \"52:54:00:00:01\" is not a MAC \
                   address (expected six hex pairs like \"52:54:00:00:01:01\")",
                ],
            ),
            (
                "[[interface]]\nname = \"wide area net\"\ndevice = \"eth0\"\n",
                &[
                    "router.toml:2:8: error: interface[0].name: \"wide area net\" is not an \
                   interface name: it contains ' '",
                ],
            ),
            (
                "[[interface]]\nname = \"lo\"\ndevice = \"eth0\"\n",
                &[
                    "router.toml:2:8: error: interface[0].name: \"lo\" is the loopback interface's name; choose another",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\ndevice = \"eth0\"\naddresses = [\"192.168.1.1/24\", \"192.168.1.300/24\", \"10.0.0.1\"]\n",
                &[
                    "router.toml:4:32: error: interface[0].addresses[1]: \"192.168.1.300/24\" is not \
                     an address with prefix length like \"192.168.1.1/24\" or \"2001:db8::1/64\"",
                    "router.toml:4:52: error: interface[0].addresses[2]: \"10.0.0.1\" has no prefix \
                     length; write it like \"10.0.0.1/24\"",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\ndevice = \"eth0\"\naddresses = \"192.168.1.1/24\"\n",
                &[
                    "router.toml:4:13: error: interface[0].addresses: expected an array of strings \
                   like [\"192.168.1.1/24\"], found a string",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\ndevice = \"eth0\"\naddresses = [\"10.0.0.1/8\", \"10.0.0.1/24\"]\n",
                &[
                    "router.toml:4:28: error: interface[0].addresses[1]: 10.0.0.1 is already listed \
                   as interface[0].addresses[0]",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\ndevice = \"eth0\"\nmtu = 65536\n",
                &[
                    "router.toml:4:7: error: interface[0].mtu: 65536 is out of range; expected 68..=65535",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\ndevice = \"eth0\"\nmtu = 1000\naddresses = [\"2001:db8::1/64\"]\n",
                &[
                    "router.toml:4:7: error: interface[0].mtu: 1000 is too small for the IPv6 \
                   addresses here; IPv6 needs an MTU of at least 1280",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\ndevice = \"eth0\"\nmtu = \"1500\"\n",
                &["router.toml:4:7: error: interface[0].mtu: expected an integer, found a string"],
            ),
            (
                "[[interface]]\nname = \"wan\"\ndevice = \"eth0\"\nmacaddr = \"52:54:00:00:01:01\"\n",
                &[
                    "router.toml:4:1: error: interface[0].macaddr: unknown key; valid keys here: \
                   name, mac, device, addresses, mtu",
                ],
            ),
        ]);
    }

    #[test]
    fn routes() {
        let text = format!(
            "{WAN}[[route]]\ndestination = \"default\"\ngateway = \"192.168.1.254\"\n\
             [[route]]\ndestination = \"10.1.0.0/16\"\ndevice = \"wan\"\nmetric = 0\ntable = 4294967295\n\
             [[route]]\ndestination = \"default6\"\ngateway = \"fe80::1\"\ndevice = \"wan\"\n"
        );
        let (config, warnings) = load("router.toml", &text).unwrap();
        assert_eq!(warnings, []);
        assert_eq!(
            config.routes,
            [
                Route {
                    destination: net("0.0.0.0/0"),
                    gateway: Some(ip("192.168.1.254")),
                    device: None,
                    metric: None,
                    table: None,
                },
                Route {
                    destination: net("10.1.0.0/16"),
                    gateway: None,
                    device: Some("wan".into()),
                    metric: Some(0),
                    table: Some(u32::MAX),
                },
                Route {
                    destination: net("::/0"),
                    gateway: Some(ip("fe80::1")),
                    device: Some("wan".into()),
                    metric: None,
                    table: None,
                },
            ]
        );
        // WAN takes lines 1 to 4; each [[route]] below starts on line 5.
        let cases: &[(&str, &[&str])] = &[
            (
                "destination = \"default\"\ndevice = \"wan2\"\n",
                &[
                    "router.toml:7:10: error: route[0].device: \"wan2\" is not the name of any \
                   [[interface]] (configured: wan)",
                ],
            ),
            (
                "destination = \"10.1.2.3/16\"\ndevice = \"wan\"\n",
                &[
                    "router.toml:6:15: error: route[0].destination: \"10.1.2.3/16\" has host bits \
                   set; the subnet is \"10.1.0.0/16\"",
                ],
            ),
            (
                "destination = \"default\"\ngateway = \"2001:db8::1\"\n",
                &[
                    "router.toml:7:11: error: route[0].gateway: 2001:db8::1 is IPv6 but the \
                   destination 0.0.0.0/0 is IPv4; for the IPv6 default route write \
                   destination = \"default6\"",
                ],
            ),
            (
                "destination = \"default\"\n",
                &[
                    "router.toml:5:1: error: route[0]: a route needs a `gateway`, a `device`, or both",
                ],
            ),
            (
                "gateway = \"192.168.1.254\"\n",
                &[
                    "router.toml:5:1: error: route[0].destination: missing key `destination`; \
                   a subnet like \"10.0.0.0/8\", or \"default\"",
                ],
            ),
            (
                "destination = \"default\"\ndevice = \"wan\"\ntable = 0\nmetric = -1\n",
                &[
                    "router.toml:8:9: error: route[0].table: 0 is out of range; expected 1..=4294967295",
                    "router.toml:9:10: error: route[0].metric: -1 is out of range; expected 0..=4294967295",
                ],
            ),
            (
                "destination = \"default\"\ndevice = \"wan\"\n[[route]]\ndestination = \"0.0.0.0/0\"\ngateway = \"192.168.1.254\"\n",
                &[
                    "router.toml:9:15: error: route[1].destination: route[0] already has destination \
                   0.0.0.0/0, the same table and the same metric",
                ],
            ),
        ];
        for (route, expected) in cases {
            assert_eq!(
                &errors(&format!("{WAN}[[route]]\n{route}")),
                expected,
                "for {route}"
            );
        }
    }

    #[test]
    fn gateway_outside_every_subnet_is_a_warning() {
        let lan = "[[interface]]\nname = \"lan\"\nmac = \"52:54:00:00:03:01\"\naddresses = [\"192.168.3.1/24\"]\n";
        assert_eq!(
            warnings(&format!(
                "{WAN}{lan}[[route]]\ndestination = \"10.0.0.0/8\"\ngateway = \"192.168.9.1\"\n"
            )),
            [
                "router.toml:11:11: warning: route[0].gateway: 192.168.9.1 is not in any configured \
              subnet (wan 192.168.1.0/24, lan 192.168.3.0/24); the kernel refuses a gateway it \
              cannot reach directly"
            ]
        );
        assert_eq!(
            warnings(&format!(
                "{WAN}{lan}[[route]]\ndestination = \"10.0.0.0/8\"\ngateway = \"192.168.3.254\"\ndevice = \"wan\"\n"
            )),
            [
                "router.toml:11:11: warning: route[0].gateway: 192.168.3.254 is not in a subnet of \
              \"wan\" (wan 192.168.1.0/24); the kernel refuses a gateway it cannot reach directly"
            ]
        );
        // A rejected file reports its errors only.
        assert_eq!(
            errors(&format!(
                "{WAN}[[route]]\ndestination = \"10.0.0.0/8\"\ngateway = \"192.168.9.1\"\n\
                 [[route]]\ndestination = \"default\"\ndevice = \"wan\"\nmetric = \"x\"\n"
            )),
            ["router.toml:11:10: error: route[1].metric: expected an integer, found a string"]
        );
    }
}
