//! What a new config changes, said as the commands a person would have
//! typed for it (`ip address add ...`, `sysctl -w ...`, `ipvsadm -a ...`):
//! the answer to a config push, and its dry run.
//!
//! The IPVS part is exact (the operations the director sends, or would
//! send, against the kernel's table); the network part compares the two
//! configs, which is what the director reconciles the links with.

use std::collections::BTreeMap;

use crate::config::{Config, Route};
use crate::ipvs::Op;

/// The network and system changes from `old` to `new`, in the order the
/// director makes them: hostname, links and addresses, routes, sysctls,
/// then the sections whose effect is not a command (VRRP, health checks,
/// the management API).
pub fn between(old: &Config, new: &Config) -> Vec<String> {
    let mut changes = Vec::new();
    if old.hostname != new.hostname {
        changes.push(format!("hostname {}", new.hostname));
    }
    let by_name = |c: &Config| {
        c.interfaces
            .iter()
            .map(|i| (i.name.clone(), i.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let (before, after) = (by_name(old), by_name(new));
    for (name, new_if) in &after {
        let old_if = before.get(name);
        if old_if.is_none() {
            changes.push(format!("ip link set dev {name} up"));
        }
        if let Some(mtu) = new_if.mtu
            && old_if.and_then(|o| o.mtu) != Some(mtu)
        {
            changes.push(format!("ip link set dev {name} mtu {mtu}"));
        }
        let had = old_if.map(|o| &o.addresses[..]).unwrap_or_default();
        for address in had.iter().filter(|a| !new_if.addresses.contains(a)) {
            changes.push(format!("ip address del {address} dev {name}"));
        }
        for address in new_if.addresses.iter().filter(|a| !had.contains(a)) {
            changes.push(format!("ip address add {address} dev {name}"));
        }
    }
    for (name, old_if) in &before {
        if !after.contains_key(name) {
            for address in &old_if.addresses {
                changes.push(format!("ip address del {address} dev {name}"));
            }
        }
    }
    for route in old.routes.iter().filter(|r| !new.routes.contains(r)) {
        changes.push(format!("ip route del {}", route_spec(route)));
    }
    for route in new.routes.iter().filter(|r| !old.routes.contains(r)) {
        changes.push(format!("ip route add {}", route_spec(route)));
    }
    for (name, value) in &new.sysctls {
        if !old.sysctls.iter().any(|(n, v)| n == name && v == value) {
            changes.push(format!("sysctl -w {name}={value}"));
        }
    }
    if old.vrrp != new.vrrp {
        changes.push("[vrrp] changed: the instance is updated or started again".into());
    }
    let checks = |c: &Config| {
        c.services
            .iter()
            .map(|s| (s.name.clone(), s.health_check.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let (checks_before, checks_after) = (checks(old), checks(new));
    for (name, check) in &checks_after {
        if checks_before.get(name).is_some_and(|c| c != check) {
            changes.push(format!("service {name}: its health check changed"));
        }
    }
    if old.management != new.management || old.syslog != new.syslog || old.webhooks != new.webhooks
    {
        changes.push(
            "[management], [[syslog]] or [[webhook]] changed: the management API starts again"
                .into(),
        );
    }
    changes
}

/// `ipvsadm ...` for each IPVS operation.
pub fn ipvsadm(ops: &[Op]) -> impl Iterator<Item = String> + '_ {
    ops.iter().map(|op| format!("ipvsadm {op}"))
}

/// A route as `ip route` writes it (after `ip route add`).
fn route_spec(route: &Route) -> String {
    let described = crate::netlink::describe_route(route);
    described
        .strip_prefix("route ")
        .unwrap_or(&described)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Config {
        crate::config::load("router.toml", text)
            .unwrap_or_else(|e| panic!("{e}"))
            .0
    }

    const BASE: &str = "hostname = \"lvs1\"\n\
        [[interface]]\nname = \"lan\"\nmac = \"52:54:00:00:03:01\"\naddresses = [\"192.168.3.1/24\"]\n\
        [[route]]\ndestination = \"10.0.0.0/8\"\ngateway = \"192.168.3.254\"\n";

    #[test]
    fn network_changes_as_commands() {
        let old = load(BASE);
        let new = load(
            &(BASE
                .replace("lvs1", "lvs2")
                .replace("\"192.168.3.1/24\"", "\"192.168.3.2/24\"")
                .replace("10.0.0.0/8", "10.1.0.0/16")
                + "[sysctl]\n\"net.ipv4.vs.expire_nodest_conn\" = 1\n"),
        );
        assert_eq!(
            between(&old, &new),
            [
                "hostname lvs2",
                "ip address del 192.168.3.1/24 dev lan",
                "ip address add 192.168.3.2/24 dev lan",
                "ip route del 10.0.0.0/8 via 192.168.3.254",
                "ip route add 10.1.0.0/16 via 192.168.3.254",
                "sysctl -w net.ipv4.vs.expire_nodest_conn=1",
            ]
        );
        assert!(between(&old, &old).is_empty());
    }
}
