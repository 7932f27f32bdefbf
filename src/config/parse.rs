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
/// Err: every error at once (with the warnings, in file order).
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
            if error.message() == "duplicate key" {
                if let Some(key) = text.get(span.clone()) {
                    message = format!("TOML syntax: duplicate key {key}");
                }
            }
            ctx.report.error(&span, "", message);
        }
        return Err(ConfigError {
            diagnostics: ctx.report.finish(),
        });
    }
    let draft = read_document(&mut ctx, root.get_ref());
    validate::check(&mut ctx, &draft);
    if ctx.report.has_errors() {
        return Err(ConfigError {
            diagnostics: ctx.report.finish(),
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
    let name = field.path.rsplit('.').next().unwrap_or(&field.path);
    let expected = format!("an array of tables ([[{name}]])");
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
        if let Err(message) = check_sysctl_name(&name) {
            ctx.report.error(&key.span(), &path, message);
            continue;
        }
        let field = Field {
            path: path.clone(),
            key_span: key.span(),
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
        found.push((name, text, key.span()));
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
    if let (Some(dest), Some(gw), Some(field)) = (destination, gateway, &gateway_field) {
        if Family::of(dest.addr) != Family::of(gw) {
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
