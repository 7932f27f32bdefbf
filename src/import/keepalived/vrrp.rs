//! keepalived's VRRP side: `vrrp_instance`, `vrrp_sync_group`, and the
//! `global_defs` lines that belong to them (`vrrp_version`,
//! `lvs_sync_daemon`), into one `[vrrp]`.
//!
//! router.toml has one VRRPv3 instance per box. The instances of a
//! `vrrp_sync_group` move together, so they become one `[vrrp]` when they
//! agree on priority, advert interval and preemption: the first one's
//! adverts, every one's addresses. Any other instance is left out, warned.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::IpNet;

use super::super::model::{Doc, VipOut, VrrpOut};
use super::super::{ImportError, Origin, Warnings};
use super::tree::Node;
use super::value::{arg, number, timer, word};

/// One `vrrp_instance`, read.
pub struct Instance {
    pub name: String,
    pub vrrp: VrrpOut,
    /// `version` inside the instance.
    pub version: Option<(u8, Origin)>,
    /// The `interface` line.
    pub interface_origin: Origin,
}

impl Instance {
    /// Name every interface the carried instance uses.
    pub fn name_interfaces(&self, doc: &mut Doc) {
        doc.name_interface(&self.vrrp.interface, &self.interface_origin);
        for vip in &self.vrrp.virtual_addresses {
            doc.name_interface(&vip.interface, &vip.origin);
        }
        if let Some((sync, so)) = &self.vrrp.sync_interface {
            doc.name_interface(sync, so);
        }
    }
}

/// The scripts keepalived runs on state changes.
const NOTIFY: &str = "scripts are not run; a [[webhook]] can be told of VRRP state changes";

pub fn instance(node: &Node, warnings: &mut Warnings) -> Result<Instance, ImportError> {
    let o = &node.origin;
    let name = arg(node, 0, "an instance name")?.to_string();
    let mut v = VrrpOut {
        origins: vec![o.clone()],
        notes: Vec::new(),
        interface: String::new(),
        virtual_router_id: 0,
        priority: 100,
        advert_interval: Duration::from_secs(1),
        preempt: true,
        preempt_delay: Duration::ZERO,
        unicast_peers: Vec::new(),
        virtual_addresses: Vec::new(),
        sync_interface: None,
        sync_id: None,
    };
    let mut version = None;
    let mut interface_origin = None;
    let mut vips = Vec::new();
    let mut tracked = Vec::new();
    for child in node.block.iter().flatten() {
        let k = child.keyword.as_str();
        let co = &child.origin;
        match k {
            "interface" => {
                v.interface = arg(child, 0, "an interface")?.to_string();
                interface_origin = Some(co.clone());
            }
            "virtual_router_id" => {
                v.virtual_router_id = number(child, 0, "a router id", 1, 255)? as u8
            }
            "priority" => v.priority = number(child, 0, "a priority", 1, 255)? as u8,
            "advert_int" => v.advert_interval = timer(child)?,
            "nopreempt" => v.preempt = false,
            "preempt" => v.preempt = true,
            "preempt_delay" => v.preempt_delay = timer(child)?,
            "unicast_peer" => {
                for (peer, po) in child.values() {
                    let Ok(ip) = peer.parse::<IpAddr>() else {
                        // Options after a peer's address (min_ttl, ...).
                        v.notes.push(warnings.left_out(
                            po,
                            &peer,
                            "unicast peer options have no router.toml key",
                        ));
                        continue;
                    };
                    v.unicast_peers.push(ip);
                }
            }
            "virtual_ipaddress" | "virtual_ipaddress_excluded" => {
                for entry in child.block.iter().flatten() {
                    vips.push(entry.clone());
                }
            }
            "version" => version = Some((number(child, 0, "2 or 3", 2, 3)? as u8, co.clone())),
            "lvs_sync_daemon_interface" => {
                v.sync_interface = Some((arg(child, 0, "an interface")?.to_string(), co.clone()))
            }
            "track_interface" => tracked.push(child.clone()),
            "state" => {
                let message = "the starting state is not configured: both boxes start as backup and the higher priority becomes master";
                v.notes.push(warnings.left_out(
                    co,
                    &format!("state {}", child.arg(0).unwrap_or("")),
                    message,
                ));
            }
            "authentication" => {
                let message =
                    "VRRPv3 has no authentication: remove it from the peer's keepalived.conf too";
                v.notes.push(warnings.left_out(co, k, message));
            }
            "notify_master"
            | "notify_backup"
            | "notify_fault"
            | "notify_stop"
            | "notify"
            | "notify_master_rx_lower_pri" => {
                v.notes.push(warnings.left_out(co, k, NOTIFY));
            }
            "track_script" => {
                let message = "scripts are not run; [vrrp] track_services lowers the priority while a service is down";
                v.notes.push(warnings.left_out(co, k, message));
            }
            "smtp_alert" => v.notes.push(warnings.left_out(
                co,
                k,
                "no e-mail alerts; a [[webhook]] can be told of state changes",
            )),
            "unicast_src_ip" => v.notes.push(warnings.left_out(
                co,
                k,
                "adverts go out from the interface's own IPv4 address",
            )),
            _ => v.notes.push(warnings.left_out(
                co,
                k,
                "a vrrp_instance setting with no router.toml key",
            )),
        }
    }
    if v.interface.is_empty() {
        return Err(ImportError::syntax(
            o,
            format!("vrrp_instance {name} has no interface"),
        ));
    }
    if v.virtual_router_id == 0 {
        return Err(ImportError::syntax(
            o,
            format!("vrrp_instance {name} has no virtual_router_id"),
        ));
    }
    for entry in &vips {
        let Some(vip) = vip(entry, &v.interface, &mut v.notes, warnings)? else {
            continue;
        };
        match v
            .virtual_addresses
            .iter()
            .find(|e| e.address.addr == vip.address.addr)
        {
            Some(earlier) => {
                let message = format!("already listed at line {}", earlier.origin.line);
                v.notes
                    .push(warnings.left_out(&vip.origin, &entry.keyword, message));
            }
            None => v.virtual_addresses.push(vip),
        }
    }
    for t in &tracked {
        for (name, to) in t.values() {
            if name == "weight" || name.parse::<i64>().is_ok() {
                continue;
            }
            let weighted = t
                .block
                .iter()
                .flatten()
                .any(|n| n.keyword == name && !n.args.is_empty());
            if name == v.interface && !weighted {
                v.notes.push(format!(
                    "{to}: carried: [vrrp] goes to FAULT while {name} is down"
                ));
            } else {
                let message = format!(
                    "only the advert interface ({}) is watched: [vrrp] goes to FAULT while it is down",
                    v.interface
                );
                v.notes
                    .push(warnings.left_out(to, &format!("track_interface {name}"), message));
            }
        }
    }
    Ok(Instance {
        name,
        vrrp: v,
        version,
        interface_origin: interface_origin.unwrap_or_else(|| o.clone()),
    })
}

/// One line of `virtual_ipaddress`: `ADDR[/LEN] [dev IF] [...]`; IPv6
/// and the other options are warned about.
fn vip(
    entry: &Node,
    interface: &str,
    notes: &mut Vec<String>,
    warnings: &mut Warnings,
) -> Result<Option<VipOut>, ImportError> {
    let o = &entry.origin;
    let text = entry.keyword.as_str();
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr: IpAddr = word(entry, addr, "an address")?;
    if addr.is_ipv6() {
        let message = "[vrrp] moves IPv4 addresses only (one VRRPv3 instance of one family)";
        notes.push(warnings.left_out(o, text, message));
        return Ok(None);
    }
    // As keepalived: an address without a prefix is a /32.
    let prefix_len = match len {
        Some(l) => word::<u8>(entry, l, "a prefix length").and_then(|l| match l <= 32 {
            true => Ok(l),
            false => Err(ImportError::syntax(
                o,
                format!("/{l} is not an IPv4 prefix length"),
            )),
        })?,
        None => 32,
    };
    let mut dev = interface.to_string();
    let mut args = entry.args.iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "dev" => {
                dev = args
                    .next()
                    .ok_or_else(|| ImportError::syntax(o, "dev needs an interface"))?
                    .clone()
            }
            other => {
                let value = match other {
                    "brd" | "broadcast" | "label" | "scope" | "table" | "metric"
                    | "preferred_lft" => args.next().cloned(),
                    _ => None,
                };
                let keyword = match value {
                    Some(v) => format!("{other} {v}"),
                    None => other.to_string(),
                };
                notes.push(warnings.left_out(
                    o,
                    &keyword,
                    "an address option with no router.toml key",
                ));
            }
        }
    }
    Ok(Some(VipOut {
        origin: o.clone(),
        interface: dev,
        address: IpNet { addr, prefix_len },
    }))
}

/// `vrrp_sync_group NAME { group { A B } ... }`: its member names.
pub fn sync_group(
    node: &Node,
    notes: &mut Vec<String>,
    warnings: &mut Warnings,
) -> Result<(String, Vec<String>), ImportError> {
    let name = arg(node, 0, "a group name")?.to_string();
    let mut members = Vec::new();
    for child in node.block.iter().flatten() {
        match child.keyword.as_str() {
            "group" => members.extend(child.values().into_iter().map(|(m, _)| m)),
            k if k.starts_with("notify") => notes.push(warnings.left_out(&child.origin, k, NOTIFY)),
            k => notes.push(warnings.left_out(
                &child.origin,
                k,
                "a vrrp_sync_group setting with no router.toml key",
            )),
        }
    }
    Ok((name, members))
}

/// The one `[vrrp]`: the first instance, with the members of its sync
/// group merged in where they agree; every other instance warned about.
pub fn choose(
    mut instances: Vec<Instance>,
    groups: &[(String, Vec<String>)],
    warnings: &mut Warnings,
) -> Option<Instance> {
    if instances.is_empty() {
        return None;
    }
    let mut first = instances.remove(0);
    let group = groups.iter().find(|(_, m)| m.contains(&first.name));
    for other in instances {
        let o = other.vrrp.origins[0].clone();
        let agree = other.vrrp.priority == first.vrrp.priority
            && other.vrrp.advert_interval == first.vrrp.advert_interval
            && other.vrrp.preempt == first.vrrp.preempt;
        match group {
            Some((gname, members)) if members.contains(&other.name) && agree => {
                first.vrrp.notes.push(format!(
                    "{o}: merged: vrrp_sync_group {gname} moves its addresses with {}'s; only {}'s adverts \
                     are sent (interface {}, virtual_router_id {}), {}'s (on {}, id {}) are not",
                    first.name, first.name, first.vrrp.interface, first.vrrp.virtual_router_id,
                    other.name, other.vrrp.interface, other.vrrp.virtual_router_id
                ));
                first.vrrp.origins.push(o);
                first.vrrp.notes.extend(other.vrrp.notes);
                first
                    .vrrp
                    .virtual_addresses
                    .extend(other.vrrp.virtual_addresses);
                if first.vrrp.sync_interface.is_none() {
                    first.vrrp.sync_interface = other.vrrp.sync_interface;
                }
            }
            Some((gname, members)) if members.contains(&other.name) => {
                let message = format!(
                    "in vrrp_sync_group {gname} with {}, but with another priority, advert_int or preemption: one [vrrp] per box, so only {} is carried",
                    first.name, first.name
                );
                let note = warnings.left_out(&o, &format!("vrrp_instance {}", other.name), message);
                first.vrrp.notes.push(note);
                first.vrrp.notes.extend(other.vrrp.notes);
            }
            _ => {
                let message = format!(
                    "one [vrrp] instance per box: only {} is carried",
                    first.name
                );
                let note = warnings.left_out(&o, &format!("vrrp_instance {}", other.name), message);
                first.vrrp.notes.push(note);
                first.vrrp.notes.extend(other.vrrp.notes);
            }
        }
    }
    Some(first)
}
