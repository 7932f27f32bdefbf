//! Routes, as `ip route` shows them.
//!
//! Routes we install carry `proto static` ([`OUR_PROTOCOL`]); on the
//! appliance nothing else installs static routes, so that label is how we
//! recognise our own earlier work. Reconciling only ever replaces or deletes
//! routes with that protocol: kernel (`proto kernel`), RA, DHCP and
//! hand-added (`proto boot`) routes are never touched.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use rtnetlink::{Handle, RouteMessageBuilder};

use super::NetlinkError;
use crate::config::{IpNet, Route};

/// The `rtm_protocol` marking routes this program installed (`RTPROT_STATIC`).
pub const OUR_PROTOCOL: RouteProtocol = RouteProtocol::Static;

/// `RT_TABLE_MAIN`.
const MAIN_TABLE: u32 = RouteHeader::RT_TABLE_MAIN as u32;
/// The metric the kernel gives an IPv6 route added without one.
const IPV6_DEFAULT_METRIC: u32 = 1024;

/// What identifies a route to the kernel (for `NLM_F_REPLACE` and delete):
/// table, destination and metric. (TOS is always 0 here.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RouteKey {
    pub table: u32,
    pub destination: IpNet,
    pub metric: u32,
}

/// One of our routes as the kernel holds it.
#[derive(Debug, Clone)]
struct Installed {
    key: RouteKey,
    gateway: Option<IpAddr>,
    oif: Option<u32>,
    msg: RouteMessage,
}

/// The key a configured route will have in the kernel, with the kernel's
/// defaults filled in: no table (or table 0) is main; IPv4 without a metric
/// is metric 0; IPv6 without one, or with 0, is 1024 (the kernel turns an
/// IPv6 metric of 0 into 1024).
pub(crate) fn key_of(route: &Route) -> RouteKey {
    let metric = match route.destination.addr {
        IpAddr::V4(_) => route.metric.unwrap_or(0),
        IpAddr::V6(_) => route
            .metric
            .filter(|&m| m != 0)
            .unwrap_or(IPV6_DEFAULT_METRIC),
    };
    RouteKey {
        table: route.table.filter(|&t| t != 0).unwrap_or(MAIN_TABLE),
        destination: route.destination,
        metric,
    }
}

/// "route 0.0.0.0/0 via 192.168.1.254 dev wan table 100 metric 10": the
/// route as an `ip route` user would write it, for logs and failures.
pub(crate) fn describe(route: &Route) -> String {
    let mut text = format!("route {}", route.destination);
    if let Some(gw) = route.gateway {
        text.push_str(&format!(" via {gw}"));
    }
    if let Some(dev) = &route.device {
        text.push_str(&format!(" dev {dev}"));
    }
    if let Some(table) = route.table {
        text.push_str(&format!(" table {table}"));
    }
    if let Some(metric) = route.metric {
        text.push_str(&format!(" metric {metric}"));
    }
    text
}

fn describe_installed(route: &Installed, names: &HashMap<u32, String>) -> String {
    let mut text = format!("route {}", route.key.destination);
    if let Some(gw) = route.gateway {
        text.push_str(&format!(" via {gw}"));
    }
    if let Some(oif) = route.oif {
        match names.get(&oif) {
            Some(name) => text.push_str(&format!(" dev {name}")),
            None => text.push_str(&format!(" dev #{oif}")),
        }
    }
    if route.key.table != MAIN_TABLE {
        text.push_str(&format!(" table {}", route.key.table));
    }
    text.push_str(&format!(" metric {}", route.key.metric));
    text
}

fn ip_of(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// Read one dumped route; `None` for routes that are not ours or are not
/// plain unicast routes we could have made.
fn installed_from(msg: RouteMessage) -> Option<Installed> {
    let h = &msg.header;
    if h.protocol != OUR_PROTOCOL
        || h.kind != RouteType::Unicast
        || h.flags.contains(RouteFlags::Cloned)
    {
        return None;
    }
    let unspecified = match h.address_family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let mut destination = unspecified;
    let mut table = u32::from(h.table);
    let mut metric = 0;
    let mut gateway = None;
    let mut oif = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => destination = ip_of(a)?,
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Gateway(a) => gateway = ip_of(a),
            RouteAttribute::Oif(i) => oif = Some(*i),
            _ => {}
        }
    }
    let key = RouteKey {
        table,
        destination: IpNet {
            addr: destination,
            prefix_len: h.destination_prefix_length,
        },
        metric,
    };
    Some(Installed {
        key,
        gateway,
        oif,
        msg,
    })
}

/// Our routes in every table, IPv4 and IPv6.
async fn ours(handle: &Handle) -> Result<Vec<Installed>, NetlinkError> {
    let mut found = Vec::new();
    for filter in [
        RouteMessageBuilder::<Ipv4Addr>::new().build(),
        RouteMessageBuilder::<Ipv6Addr>::new().build(),
    ] {
        let msgs: Vec<RouteMessage> = handle
            .route()
            .get(filter)
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetlinkError::from_rtnetlink("listing routes", e))?;
        found.extend(msgs.into_iter().filter_map(installed_from));
    }
    Ok(found)
}

/// The route message for a configured route. `oif` is the resolved index of
/// its `device`, if it names one.
fn message_for(route: &Route, oif: Option<u32>) -> Result<RouteMessage, NetlinkError> {
    let key = key_of(route);
    let mut builder = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(route.destination.addr, route.destination.prefix_len)
        .map_err(|e| invalid(route, e))?
        .protocol(OUR_PROTOCOL)
        .table_id(key.table)
        .priority(key.metric);
    if let Some(gw) = route.gateway {
        builder = builder.gateway(gw).map_err(|e| invalid(route, e))?;
    } else {
        // Without a gateway the destination is on the wire: `scope link`,
        // as `ip route add 10.0.0.0/8 dev lan` does.
        builder = builder.scope(RouteScope::Link);
    }
    if let Some(index) = oif {
        builder = builder.output_interface(index);
    }
    Ok(builder.build())
}

fn invalid(route: &Route, reason: impl std::fmt::Display) -> NetlinkError {
    NetlinkError::InvalidRoute {
        route: describe(route),
        reason: reason.to_string(),
    }
}

/// Install every configured route and remove our routes no longer
/// configured. `link_index` maps device names to link indexes, `names`
/// link indexes to their current names (for messages).
///
/// A configured route already present with the same gateway and device is
/// left alone (nothing logged). One that differs is replaced in place
/// (`ip route replace`). Returns one entry per route that failed, keyed by
/// its description.
pub(crate) async fn reconcile(
    handle: &Handle,
    routes: &[Route],
    link_index: &HashMap<String, u32>,
    names: &HashMap<u32, String>,
) -> Vec<(String, NetlinkError)> {
    let mut failures = Vec::new();
    let installed = match ours(handle).await {
        Ok(v) => v,
        Err(err) => {
            // Without the current state nothing can be reconciled safely.
            failures.push(("routes".to_string(), err));
            return failures;
        }
    };

    for route in routes {
        let what = describe(route);
        let oif = match &route.device {
            Some(dev) => match link_index.get(dev) {
                Some(&index) => Some(index),
                None => {
                    failures.push((what, NetlinkError::NoSuchDevice(dev.clone())));
                    continue;
                }
            },
            None => None,
        };
        let key = key_of(route);
        let same_key: Vec<&Installed> = installed.iter().filter(|r| r.key == key).collect();
        let up_to_date = same_key
            .iter()
            .any(|r| r.gateway == route.gateway && (oif.is_none() || r.oif == oif));
        if up_to_date && same_key.len() == 1 {
            continue;
        }
        let msg = match message_for(route, oif) {
            Ok(msg) => msg,
            Err(err) => {
                failures.push((what, err));
                continue;
            }
        };
        match handle.route().add(msg).replace().execute().await {
            Ok(()) if same_key.is_empty() => log::info!("{what}: added"),
            Ok(()) => log::info!(
                "{what}: replaced {}",
                describe_installed(same_key[0], names)
            ),
            Err(e) => {
                let action = if same_key.is_empty() {
                    "adding route"
                } else {
                    "replacing route"
                };
                failures.push((what, NetlinkError::from_rtnetlink(action, e)));
            }
        }
    }

    // Our routes whose key no configured route has any more. Re-read: a
    // replace above may have merged several into one.
    let wanted: HashSet<RouteKey> = routes.iter().map(key_of).collect();
    let installed = match ours(handle).await {
        Ok(v) => v,
        Err(err) => {
            failures.push(("routes".to_string(), err));
            return failures;
        }
    };
    for stale in installed.into_iter().filter(|r| !wanted.contains(&r.key)) {
        let what = describe_installed(&stale, names);
        match handle.route().del(stale.msg).execute().await {
            Ok(()) => log::info!("{what}: removed (no longer configured)"),
            Err(e) => failures.push((what, NetlinkError::from_rtnetlink("removing route", e))),
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(
        dst: &str,
        gw: Option<&str>,
        dev: Option<&str>,
        table: Option<u32>,
        metric: Option<u32>,
    ) -> Route {
        let (a, p) = dst.split_once('/').unwrap();
        Route {
            destination: IpNet {
                addr: a.parse().unwrap(),
                prefix_len: p.parse().unwrap(),
            },
            gateway: gw.map(|g| g.parse().unwrap()),
            device: dev.map(String::from),
            metric,
            table,
        }
    }

    #[test]
    fn describe_cases() {
        let cases = [
            (
                route("0.0.0.0/0", Some("192.168.1.254"), None, None, None),
                "route 0.0.0.0/0 via 192.168.1.254",
            ),
            (
                route("10.0.0.0/8", None, Some("lan"), Some(100), Some(5)),
                "route 10.0.0.0/8 dev lan table 100 metric 5",
            ),
            (
                route("2001:db8::/32", Some("fe80::1"), Some("wan"), None, None),
                "route 2001:db8::/32 via fe80::1 dev wan",
            ),
        ];
        for (r, want) in cases {
            assert_eq!(describe(&r), want);
        }
    }

    #[test]
    fn key_defaults_match_the_kernel() {
        let v4 = key_of(&route("0.0.0.0/0", Some("192.0.2.1"), None, None, None));
        assert_eq!((v4.table, v4.metric), (254, 0));
        let v6 = key_of(&route("::/0", Some("2001:db8::1"), None, None, None));
        assert_eq!((v6.table, v6.metric), (254, 1024));
        let custom = key_of(&route(
            "10.0.0.0/8",
            Some("192.0.2.1"),
            None,
            Some(1000),
            Some(7),
        ));
        assert_eq!((custom.table, custom.metric), (1000, 7));
        let v6_zero = key_of(&route("2001:db8::/32", None, Some("wan"), Some(0), Some(0)));
        assert_eq!((v6_zero.table, v6_zero.metric), (254, 1024));
        let v4_zero = key_of(&route("10.0.0.0/8", None, Some("wan"), None, Some(0)));
        assert_eq!(v4_zero.metric, 0);
    }

    #[test]
    fn message_round_trips_through_installed() {
        let r = route(
            "10.20.0.0/16",
            Some("192.168.1.254"),
            Some("wan"),
            Some(300),
            None,
        );
        let msg = message_for(&r, Some(7)).unwrap();
        assert_eq!(msg.header.protocol, OUR_PROTOCOL);
        // A table above 255 travels in RTA_TABLE, as the kernel reports it.
        let back = installed_from(msg).unwrap();
        assert_eq!(back.key, key_of(&r));
        assert_eq!(back.gateway, r.gateway);
        assert_eq!(back.oif, Some(7));
    }

    #[test]
    fn routes_of_other_protocols_are_not_ours() {
        let r = route("10.0.0.0/8", None, Some("lan"), None, None);
        for proto in [
            RouteProtocol::Kernel,
            RouteProtocol::Boot,
            RouteProtocol::Dhcp,
            RouteProtocol::Ra,
        ] {
            let mut msg = message_for(&r, Some(2)).unwrap();
            msg.header.protocol = proto;
            assert!(installed_from(msg).is_none(), "{proto:?}");
        }
        let mut cloned = message_for(&r, Some(2)).unwrap();
        cloned.header.flags |= RouteFlags::Cloned;
        assert!(installed_from(cloned).is_none());
    }
}
