//! Cross-entry checks, run once every entry has been read on its own: the
//! rules between interfaces, routes, services and `[vrrp]`.
//!
//! Each finding points at the later of two clashing entries and names the
//! earlier one, so the user sees both places. A service whose own keys had
//! errors is still checked with what did read (see `draft.rs`).

use std::collections::HashMap;
use std::net::IpAddr;

use super::addr::{family_name, network};
use super::draft::{Draft, DraftService, label};
use super::error::quote;
use super::walk::{Ctx, Path};
use super::{Bond, CheckKind, Family, Interface, LinkMatch, MadeLink, Protocol, Route, ServiceKey};

/// Run every cross-entry check over `draft`, reporting into `ctx`.
pub(super) fn check(ctx: &mut Ctx, draft: &Draft) {
    check_interfaces(ctx, draft);
    check_routes(ctx, draft);
    check_services(ctx, &draft.services);
    check_vrrp(ctx, draft);
    check_service_names(ctx, &draft.services);
    check_listen(ctx, draft);
}

fn check_interfaces(ctx: &mut Ctx, draft: &Draft) {
    let interfaces = Path::ROOT.key("interface");
    for (n, (i, interface)) in draft.interfaces.iter().enumerate() {
        let at = interfaces.index(*i);
        let earlier = &draft.interfaces[..n];
        if let Some((j, _)) = earlier.iter().find(|(_, e)| e.name == interface.name) {
            let message = format!("{:?} is already the name of interface[{j}]", interface.name);
            ctx.error_at(&at.key("name"), message);
        }
        let found = match &interface.matcher {
            LinkMatch::Mac(mac) => Some(("mac", mac.to_string())),
            LinkMatch::Device(device) => Some(("device", device.clone())),
            LinkMatch::Pci(slot) => Some(("pci", slot.clone())),
            LinkMatch::Made(_) => None,
        };
        if let Some((key, what)) = found
            && let Some((j, _)) = earlier.iter().find(|(_, e)| e.matcher == interface.matcher)
        {
            let message = format!(
                "{what:?} is already matched by interface[{j}]; one link cannot be two interfaces"
            );
            ctx.error_at(&at.key(key), message);
        }
        if let LinkMatch::Made(made) = &interface.matcher {
            check_made_link(ctx, draft, n, made);
        }
    }
    check_link_cycles(ctx, draft);
}

/// A made link's parent or members: configured interfaces, not itself,
/// members without addresses of their own and in one bond or bridge only,
/// one VLAN id once per parent.
fn check_made_link(ctx: &mut Ctx, draft: &Draft, n: usize, made: &MadeLink) {
    let (i, interface) = &draft.interfaces[n];
    let at = Path::ROOT.key("interface");
    let at = at.index(*i);
    let by_name = |name: &str| draft.interfaces.iter().find(|(_, e)| e.name == name);
    match made {
        MadeLink::Vlan { parent, id } => {
            let key = at.key("parent");
            if parent == &interface.name {
                ctx.error_at(&key, format!("{parent:?} is this VLAN itself"));
            } else if check_interface_name(ctx, draft, &key, parent)
                && let Some((j, master)) = master_of(draft, parent)
            {
                let message = format!(
                    "{parent:?} is a member of {:?} (interface[{j}]); put the VLAN on {:?}",
                    master.name, master.name
                );
                ctx.error_at(&key, message);
            }
            let twin = draft.interfaces[..n].iter().find(|(_, e)| {
                matches!(&e.matcher, LinkMatch::Made(MadeLink::Vlan { parent: p, id: d })
                    if p == parent && d == id)
            });
            if let Some((j, _)) = twin {
                let message = format!("VLAN {id} on {parent:?} is already interface[{j}]");
                ctx.error_at(&at.key("vlan_id"), message);
            }
        }
        MadeLink::Bond(Bond { members, .. }) | MadeLink::Bridge { members, .. } => {
            let list = at.key("members");
            for (k, member) in members.iter().enumerate() {
                let key = list.index(k);
                if member == &interface.name {
                    ctx.error_at(&key, format!("{member:?} is this {} itself", made.kind()));
                    continue;
                }
                if !check_interface_name(ctx, draft, &key, member) {
                    continue;
                }
                let Some((_, m)) = by_name(member) else {
                    continue;
                };
                if let Some(first) = m.addresses.first() {
                    let message = format!(
                        "{member:?} has addresses of its own ({first}); a {} member has none: \
                         put them on {:?}",
                        made.kind(),
                        interface.name
                    );
                    ctx.error_at(&key, message);
                }
                if let LinkMatch::Made(MadeLink::Bond(_) | MadeLink::Bridge { .. }) = &m.matcher
                    && matches!(made, MadeLink::Bond(_))
                {
                    let message = format!(
                        "{member:?} is a {}; a bond takes NICs and VLANs",
                        kind_of(m)
                    );
                    ctx.error_at(&key, message);
                }
                if let LinkMatch::Made(MadeLink::Bridge { .. }) = &m.matcher
                    && matches!(made, MadeLink::Bridge { .. })
                {
                    let message = format!("{member:?} is a bridge; a bridge is no bridge's port");
                    ctx.error_at(&key, message);
                }
                if let Some(mtu) = m.mtu {
                    let message = format!(
                        "{member:?} has mtu = {mtu}; a {} sets its members' MTU: put it on {:?}",
                        made.kind(),
                        interface.name
                    );
                    ctx.error_at(&key, message);
                }
                let earlier = draft.interfaces[..n]
                    .iter()
                    .find(|(_, e)| match &e.matcher {
                        LinkMatch::Made(other) => {
                            !matches!(other, MadeLink::Vlan { .. })
                                && other.needs().contains(member)
                        }
                        _ => false,
                    });
                if let Some((j, other)) = earlier {
                    let message = format!(
                        "{member:?} is already a member of {:?} (interface[{j}]); a link has one master",
                        other.name
                    );
                    ctx.error_at(&key, message);
                }
            }
        }
    }
}

/// "vlan", "bond", "bridge" or "NIC".
fn kind_of(interface: &Interface) -> &'static str {
    match &interface.matcher {
        LinkMatch::Made(made) => made.kind(),
        _ => "NIC",
    }
}

/// The bond or bridge `name` is a member of, with its index.
fn master_of<'d>(draft: &'d Draft, name: &str) -> Option<(usize, &'d Interface)> {
    draft.interfaces.iter().find_map(|(j, e)| match &e.matcher {
        LinkMatch::Made(made @ (MadeLink::Bond(_) | MadeLink::Bridge { .. }))
            if made.needs().iter().any(|m| m == name) =>
        {
            Some((*j, e))
        }
        _ => None,
    })
}

/// Made links that need one another round in a circle (a VLAN on a bridge
/// that has the VLAN as a member): reported once, at the first of them.
fn check_link_cycles(ctx: &mut Ctx, draft: &Draft) {
    let by_name = |name: &str| draft.interfaces.iter().position(|(_, e)| e.name == name);
    let mut reported = vec![false; draft.interfaces.len()];
    for start in 0..draft.interfaces.len() {
        if reported[start] {
            continue;
        }
        // Depth-first from `start`, the path kept, looking for `start` again.
        let mut path = vec![start];
        let mut next: Vec<Vec<usize>> = vec![needs(draft, start, &by_name)];
        while let Some(options) = next.last_mut() {
            let Some(to) = options.pop() else {
                next.pop();
                path.pop();
                continue;
            };
            if to == start {
                let names: Vec<&str> = path
                    .iter()
                    .chain([&start])
                    .map(|&k| draft.interfaces[k].1.name.as_str())
                    .collect();
                for &k in &path {
                    reported[k] = true;
                }
                let (i, interface) = &draft.interfaces[start];
                let key = match &interface.matcher {
                    LinkMatch::Made(MadeLink::Vlan { .. }) => "parent",
                    _ => "members",
                };
                let message = format!("these links need one another: {}", names.join(" -> "));
                ctx.error_at(&Path::ROOT.key("interface").index(*i).key(key), message);
                break;
            }
            if path.contains(&to) || path.len() > draft.interfaces.len() {
                continue;
            }
            path.push(to);
            next.push(needs(draft, to, &by_name));
        }
    }
}

/// The positions of the interfaces interface `k` needs.
fn needs(draft: &Draft, k: usize, by_name: &impl Fn(&str) -> Option<usize>) -> Vec<usize> {
    match &draft.interfaces[k].1.matcher {
        // Itself as its own member is reported as that.
        LinkMatch::Made(made) => made
            .needs()
            .iter()
            .filter_map(|n| by_name(n))
            .filter(|&j| j != k)
            .collect(),
        _ => Vec::new(),
    }
}

/// "configured: wan, lan" (each name once), or "none is configured".
fn configured<'n>(names: impl Iterator<Item = &'n str>) -> String {
    let mut listed: Vec<&str> = Vec::new();
    for name in names {
        if !listed.contains(&name) {
            listed.push(name);
        }
    }
    match listed.is_empty() {
        true => "none is configured".to_string(),
        false => format!("configured: {}", listed.join(", ")),
    }
}

/// Report at `at` unless `name` is a configured interface's.
fn check_interface_name(ctx: &mut Ctx, draft: &Draft, at: &Path<'_>, name: &str) -> bool {
    if draft.interface_names.iter().any(|n| n == name) {
        return true;
    }
    let known = configured(draft.interface_names.iter().map(String::as_str));
    let message = format!("{name:?} is not the name of any [[interface]] ({known})");
    ctx.error_at(at, message);
    false
}

fn check_routes(ctx: &mut Ctx, draft: &Draft) {
    let routes = Path::ROOT.key("route");
    for (n, (i, route)) in draft.routes.iter().enumerate() {
        let at = routes.index(*i);
        if let Some(device) = &route.device {
            check_interface_name(ctx, draft, &at.key("device"), device);
        }
        let same = draft.routes[..n].iter().find(|(_, r)| {
            r.destination == route.destination && r.table == route.table && r.metric == route.metric
        });
        if let Some((j, _)) = same {
            let message = format!(
                "route[{j}] already has destination {}, the same table and the same metric",
                route.destination
            );
            ctx.error_at(&at.key("destination"), message);
        }
        check_gateway(ctx, draft, &at, route);
    }
}

/// Warn when no configured subnet (of `device`, when given) holds the
/// gateway: the kernel only accepts a gateway it reaches directly. IPv6
/// link-local gateways are on every link and always fine.
fn check_gateway(ctx: &mut Ctx, draft: &Draft, at: &Path<'_>, route: &Route) {
    let (Some(gateway), device) = (route.gateway, route.device.as_deref()) else {
        return;
    };
    if matches!(gateway, IpAddr::V6(v6) if v6.is_unicast_link_local()) {
        return;
    }
    let mut known = Vec::new();
    for (_, interface) in &draft.interfaces {
        if device.is_some_and(|d| interface.name != d) {
            continue;
        }
        for address in &interface.addresses {
            if address.contains(gateway) {
                return;
            }
            known.push(format!("{} {}", interface.name, network(*address)));
        }
    }
    let known = match known.is_empty() {
        true => "no subnets".to_string(),
        false => known.join(", "),
    };
    let place = match device {
        Some(device) => format!("a subnet of {device:?}"),
        None => "any configured subnet".to_string(),
    };
    let message = format!(
        "{gateway} is not in {place} ({known}); the kernel refuses a gateway it cannot reach directly"
    );
    ctx.warning_at(&at.key("gateway"), message);
}

fn check_services(ctx: &mut Ctx, services: &[(usize, DraftService)]) {
    // The first service of each key, so that a duplicate is found in one
    // pass (tens of thousands of services are fine).
    let mut seen: HashMap<ServiceKey, usize> = HashMap::with_capacity(services.len());
    let all = Path::ROOT.key("service");
    for (i, draft) in services {
        let at = all.index(*i);
        let key = draft.service.key;
        let first = *seen.entry(key).or_insert(*i);
        if first != *i {
            let key_path = match key {
                ServiceKey::Addr { .. } => at.key("address"),
                ServiceKey::Fwmark { .. } => at.key("fwmark"),
            };
            let message = format!(
                "{} is already service[{first}]; a virtual service is defined once, with all its real servers",
                label(&key)
            );
            ctx.error_at(&key_path, message);
        }
        check_real_servers(ctx, draft, &at);
    }
}

fn check_real_servers(ctx: &mut Ctx, draft: &DraftService, at: &Path<'_>) {
    let service = &draft.service;
    if draft.real_servers.is_empty() {
        let message = "has no [[service.real_server]]; connections to it will be refused";
        ctx.warning_at(at, message);
    }
    let family = service.key.family();
    let reals = at.key("real_server");
    for (n, (i, real)) in draft.real_servers.iter().enumerate() {
        let (server, ip) = (&real.server, real.server.address.ip());
        let index = reals.index(*i);
        let address = index.key("address");
        let earlier = draft.real_servers[..n]
            .iter()
            .find(|(_, r)| r.server.address == server.address);
        if let Some((j, _)) = earlier {
            let message = format!(
                "{} is already real_server[{j}] of this service",
                server.address
            );
            ctx.error_at(&address, message);
        }
        let real_family = Family::of(ip);
        if real_family != family {
            let with = match real.forwarding_known {
                true => format!("with {} forwarding ", server.forwarding.name()),
                false => String::new(),
            };
            let (why, real_family) = (draft.family_why, family_name(real_family));
            let message = format!(
                "{ip} is {real_family} but {why} {}; {with}a real server must have its service's \
                 address family",
                family_name(family)
            );
            ctx.error_at(&address, message);
        }
        let check = &server.health_check;
        if server.address.port() == 0 && check.kind != CheckKind::None && check.port.is_none() {
            let message = format!(
                "{ip} has no port to check: give the address a port, set health_check.port \
                 (in the service's or this real server's [health_check]), or \
                 health_check.type = \"none\""
            );
            ctx.error_at(&address, message);
        }
    }
    if let ServiceKey::Addr {
        protocol: protocol @ (Protocol::Udp | Protocol::Sctp),
        ..
    } = service.key
        && !draft.typed_check
        && draft.real_servers.iter().any(|(_, r)| !r.typed_check)
    {
        let name = protocol.name().to_uppercase();
        let message = format!(
            "a {name} service has no default health check (a TCP connect says nothing \
             about a {name} server): set [service.health_check] type = \"none\" to never \
             check its real servers, or a check of a TCP port they also serve, like \
             type = \"tcp\" with port = 53"
        );
        // At the service's header, whether or not it has a health_check table.
        let span = ctx.locate(at);
        ctx.report.error(&span, at.key("health_check"), message);
    }
    if let Some(sorry) = service.sorry_server {
        let (ip, reals) = (sorry.ip(), &draft.real_servers);
        let problem = if Family::of(ip) != family {
            format!(
                "{ip} is not of the service's address family; the sorry server stands in for its \
                 real servers and must be reachable the same way"
            )
        } else if reals.iter().any(|(_, r)| r.server.address == sorry) {
            format!(
                "{sorry} is also a real server of this service; a sorry server stands in when \
                 every real server is down, so it must be another one"
            )
        } else {
            return;
        };
        ctx.error_at(&at.key("sorry_server"), problem);
    }
}

/// `[vrrp]` against the rest of the file.
fn check_vrrp(ctx: &mut Ctx, draft: &Draft) {
    let Some(vrrp) = &draft.vrrp else {
        return;
    };
    let at = Path::ROOT.key("vrrp");
    check_sender(ctx, draft, &at.key("interface"), &vrrp.interface, "adverts");
    if let Some(sync) = &vrrp.sync_interface {
        let what = "the sync daemon's messages";
        check_sender(ctx, draft, &at.key("sync_interface"), sync, what);
    }
    let vips = at.key("virtual_addresses");
    for (i, vip) in vrrp.virtual_addresses.iter().enumerate() {
        let at = vips.index(i);
        check_interface_name(ctx, draft, &at.key("interface"), &vip.interface);
        for (j, interface) in &draft.interfaces {
            let same = interface
                .addresses
                .iter()
                .position(|a| a.addr == vip.address.addr);
            let Some(k) = same else { continue };
            let message = format!(
                "{} is also interface[{j}].addresses[{k}] ({}); a virtual address is \
                 added by the VRRP master only: remove it from the interface's addresses",
                vip.address.addr, interface.name
            );
            ctx.error_at(&at.key("address"), message);
        }
    }
    let tracked = at.key("track_services");
    for (i, name) in vrrp.track_services.iter().enumerate() {
        if !draft.services.iter().any(|(_, s)| &s.service.name == name) {
            let known = configured(draft.services.iter().map(|(_, s)| s.service.name.as_str()));
            let message = format!(
                "{} is not the name of any [[service]] ({known})",
                quote(name)
            );
            ctx.error_at(&tracked.index(i), message);
        }
    }
}

/// Service names label metrics and name API paths: each is given once.
/// A name left out is the service's key as ipvsadm prints it, unique with
/// the key.
fn check_service_names(ctx: &mut Ctx, services: &[(usize, DraftService)]) {
    let mut seen: HashMap<&str, (usize, ServiceKey)> = HashMap::with_capacity(services.len());
    let all = Path::ROOT.key("service");
    for (i, draft) in services {
        let service = &draft.service;
        let (first, key) = *seen
            .entry(service.name.as_str())
            .or_insert((*i, service.key));
        // The same key twice is reported as such by `check_services`.
        if first != *i && key != service.key {
            let message = format!(
                "{} is already the name of service[{first}]; a service's name labels its \
                 metrics and names it in the API, so each is given once",
                quote(&draft.service.name)
            );
            ctx.error_at(&all.index(*i).key("name"), message);
        }
    }
}

/// Each `[management] listen` address must be the box's own: an
/// interface address or a `[vrrp]` virtual address (a listener there
/// answers while this box is master).
fn check_listen(ctx: &mut Ctx, draft: &Draft) {
    let Some(management) = &draft.management else {
        return;
    };
    let statics = draft.interfaces.iter().flat_map(|(_, i)| &i.addresses);
    let virtuals = draft.vrrp.iter().flat_map(|v| &v.virtual_addresses);
    let own: Vec<IpAddr> = statics
        .map(|a| a.addr)
        .chain(virtuals.map(|v| v.address.addr))
        .collect();
    let management_path = Path::ROOT.key("management");
    let listen = management_path.key("listen");
    for (i, addr) in management.listen.iter().enumerate() {
        if own.contains(&addr.ip()) {
            continue;
        }
        let known = match own.is_empty() {
            true => "none is configured".to_string(),
            false => {
                let listed: Vec<String> = own.iter().map(IpAddr::to_string).collect();
                format!("configured: {}", listed.join(", "))
            }
        };
        let message = format!(
            "{} is not an address of this box ({known}); listen on an interface's \
             `addresses` or a [vrrp] virtual address",
            addr.ip()
        );
        ctx.error_at(&listen.index(i), message);
    }
}

/// `name` must be a configured interface, with a static IPv4 address to
/// send `what` from.
fn check_sender(ctx: &mut Ctx, draft: &Draft, at: &Path<'_>, name: &str, what: &str) {
    // An interface with errors of its own (reported) is not in the draft.
    let interface = draft.interfaces.iter().find(|(_, i)| i.name == name);
    if check_interface_name(ctx, draft, at, name)
        && let Some((_, interface)) = interface
        && !interface.addresses.iter().any(|a| a.addr.is_ipv4())
    {
        let message = format!(
            "{name:?} has no IPv4 address of its own in `addresses`; {what} are sent \
             from it, so it needs one that does not move with VRRP"
        );
        ctx.error_at(at, message);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_support::{check_cases, errors, warnings};
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
    fn made_links_need_configured_links_and_no_circle() {
        let nic = |name: &str, last: u8| {
            format!("[[interface]]\nname = \"{name}\"\nmac = \"52:54:00:00:01:{last:02x}\"\n")
        };
        let trunk = nic("trunk", 1);
        let lans = nic("lan0", 2) + &nic("lan1", 3);
        check_cases(&[
            (
                "[[interface]]\nname = \"wan\"\nkind = \"vlan\"\nparent = \"trunk\"\nvlan_id = 10\n",
                &[
                    "router.toml:4:10: error: interface[0].parent: \"trunk\" is not the name of any \
                     [[interface]] (configured: wan)",
                ],
            ),
            (
                &format!(
                    "{trunk}[[interface]]\nname = \"wan\"\nkind = \"vlan\"\nparent = \"trunk\"\nvlan_id = 10\n\
                     [[interface]]\nname = \"wan2\"\nkind = \"vlan\"\nparent = \"trunk\"\nvlan_id = 10\n"
                ),
                &[
                    "router.toml:13:11: error: interface[2].vlan_id: VLAN 10 on \"trunk\" is already interface[1]",
                ],
            ),
            (
                &format!(
                    "{lans}[[interface]]\nname = \"lan\"\nkind = \"bond\"\nmode = \"active-backup\"\n\
                     members = [\"lan0\", \"lan1\", \"lan\"]\n\
                     [[interface]]\nname = \"br\"\nkind = \"bridge\"\nmembers = [\"lan1\"]\n"
                ),
                &[
                    "router.toml:11:28: error: interface[2].members[2]: \"lan\" is this bond itself",
                    "router.toml:15:12: error: interface[3].members[0]: \"lan1\" is already a member of \
                     \"lan\" (interface[2]); a link has one master",
                ],
            ),
            (
                "[[interface]]\nname = \"lan0\"\nmac = \"52:54:00:00:01:02\"\naddresses = [\"10.0.0.1/24\"]\n\
                     [[interface]]\nname = \"lan\"\nkind = \"bond\"\nmode = \"802.3ad\"\nmembers = [\"lan0\"]\n",
                &[
                    "router.toml:9:12: error: interface[1].members[0]: \"lan0\" has addresses of its own \
                     (10.0.0.1/24); a bond member has none: put them on \"lan\"",
                ],
            ),
            (
                &format!(
                    "{lans}[[interface]]\nname = \"lan\"\nkind = \"bond\"\nmode = \"balance-xor\"\nmembers = [\"lan0\"]\n\
                     [[interface]]\nname = \"v5\"\nkind = \"vlan\"\nparent = \"lan0\"\nvlan_id = 5\n"
                ),
                &[
                    "router.toml:15:10: error: interface[3].parent: \"lan0\" is a member of \"lan\" \
                     (interface[2]); put the VLAN on \"lan\"",
                ],
            ),
            (
                "[[interface]]\nname = \"a\"\ndevice = \"eth1\"\nmtu = 9000\n\
                 [[interface]]\nname = \"br1\"\nkind = \"bridge\"\nmembers = [\"a\"]\n\
                 [[interface]]\nname = \"br2\"\nkind = \"bridge\"\nmembers = [\"br1\"]\n",
                &[
                    "router.toml:8:12: error: interface[1].members[0]: \"a\" has mtu = 9000; a bridge \
                     sets its members' MTU: put it on \"br1\"",
                    "router.toml:12:12: error: interface[2].members[0]: \"br1\" is a bridge; a bridge \
                     is no bridge's port",
                ],
            ),
            (
                // A VLAN on a bridge that has the VLAN as its port.
                "[[interface]]\nname = \"v\"\nkind = \"vlan\"\nparent = \"br\"\nvlan_id = 5\n\
                 [[interface]]\nname = \"br\"\nkind = \"bridge\"\nmembers = [\"v\"]\n",
                &[
                    "router.toml:4:10: error: interface[0].parent: these links need one another: v -> br -> v",
                ],
            ),
        ]);
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
                // An unknown key is reported but does not hide its entry.
                "[[interface]]\nname = \"wan\"\nmac = \"52:54:00:00:01:01\"\nmtuu = 1500\n\
                 [[interface]]\nname = \"wan\"\nmac = \"52:54:00:00:03:01\"\n",
                &[
                    "router.toml:4:1: error: interface[0].mtuu: unknown key; did you mean `mtu`? \
                   Valid keys here: name, kind, mac, device, pci, addresses, mtu",
                    "router.toml:6:8: error: interface[1].name: \"wan\" is already the name of interface[0]",
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

    /// A service with errors of its own is still checked with what did
    /// read: here its missing `forwarding` and its repeated real server
    /// are both reported.
    #[test]
    fn a_broken_service_still_has_its_real_servers_checked() {
        check_cases(&[
            (
                "[[service]]\nprotocol = \"tcp\"\naddress = \"192.168.1.100:5432\"\n\
                 [[service.real_server]]\naddress = \"192.168.3.2:5432\"\n\
                 [[service.real_server]]\naddress = \"192.168.3.2:5432\"\n",
                &[
                    "router.toml:1:1: error: service[0].forwarding: missing key `forwarding`; say \
                   how packets reach the real servers: \"nat\" (ipvsadm -m), \"direct\" (-g) or \
                   \"tunnel\" (-i). There is no default because ipvsadm defaults to -g and \
                   keepalived to NAT",
                    "router.toml:7:11: error: service[0].real_server[1].address: 192.168.3.2:5432 \
                   is already real_server[0] of this service",
                ],
            ),
            (
                "[[service]]\nprotocol = \"tcp\"\naddress = \"192.168.1.100:5432\"\nscheduler = \"x\"\n\
                 [[service.real_server]]\naddress = \"[2001:db8::2]:5432\"\n",
                &[
                    "router.toml:1:1: error: service[0].forwarding: missing key `forwarding`; say \
                   how packets reach the real servers: \"nat\" (ipvsadm -m), \"direct\" (-g) or \
                   \"tunnel\" (-i). There is no default because ipvsadm defaults to -g and \
                   keepalived to NAT",
                    "router.toml:4:13: error: service[0].scheduler: \"x\" is not a scheduler; \
                   expected one of: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos",
                    "router.toml:6:11: error: service[0].real_server[0].address: 2001:db8::2 is \
                   IPv6 but the service address is IPv4; a real server must have its service's \
                   address family",
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
             interface, route, service, vrrp, management, syslog, webhook, watchdog, time",
            "router.toml:5:1: error: sysctl.\"net/ipv4/ip_forward\": \"net/ipv4/ip_forward\" is not \
             a sysctl name: expected dot-separated words of a-z, 0-9, '_' and '-', like \
             \"net.ipv4.vs.conntrack\"",
            "router.toml:10:14: error: interface[0].addresses[0]: \"192.168.1.1/33\": prefix \
             length 33 is longer than 32",
            "router.toml:15:1: error: interface[1].device: give one of `mac`, `device` or `pci`, not two",
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
            watchdog: Default::default(),
            time: Default::default(),
            management: None,
            syslog: vec![],
            webhooks: vec![],
        };
        assert_eq!(config, expected);
    }

    /// Names label metrics and name API paths: each once, also against a
    /// name left to its default.
    #[test]
    fn service_names_are_unique() {
        check_cases(&[
            (
                &format!(
                    "{HEAD}name = \"pg\"\n{REAL}[[service]]\nname = \"pg\"\nprotocol = \"tcp\"\n\
                     address = \"192.168.1.100:5433\"\nforwarding = \"nat\"\n{REAL}"
                ),
                &[
                    "router.toml:9:8: error: service[1].name: \"pg\" is already the name of \
                   service[0]; a service's name labels its metrics and names it in the API, so \
                   each is given once",
                ],
            ),
            (
                &format!(
                    "{HEAD}{REAL}[[service]]\nname = \"TCP 192.168.1.100:5432\"\nfwmark = 1\n\
                     forwarding = \"nat\"\n{REAL}"
                ),
                &[
                    "router.toml:8:8: error: service[1].name: \"TCP 192.168.1.100:5432\" is \
                   already the name of service[0]; a service's name labels its metrics and names \
                   it in the API, so each is given once",
                ],
            ),
        ]);
    }
}
