//! Cross-entry checks, run once every entry has been read on its own.
//!
//! Each finding points at the later of two clashing entries and names the
//! earlier one, so the user sees both places:
//! - interfaces: duplicate names; one link matched twice (same `mac`, same
//!   `device`);
//! - routes: `device` must be a configured interface; the same route twice;
//!   a gateway outside every configured subnet (a warning);
//! - services: the same virtual service twice; the same real server twice
//!   in one service; a real server of another address family than its
//!   service; a service without real servers (a warning).

use std::net::IpAddr;

use super::parse::{Draft, family_name};
use super::service::{DraftService, FamilySource, label};
use super::walk::{Ctx, join};
use super::{Family, LinkMatch, ServiceKey};

/// Run every cross-entry check over `draft`, reporting into `ctx`.
pub(super) fn check(ctx: &mut Ctx, draft: &Draft) {
    check_interfaces(ctx, draft);
    check_routes(ctx, draft);
    check_services(ctx, &draft.services);
}

/// Report at `path` (its recorded span).
fn error(ctx: &mut Ctx, path: &str, message: String) {
    let span = ctx.locations.get(path);
    ctx.report.error(&span, path, message);
}

fn warning(ctx: &mut Ctx, path: &str, message: String) {
    let span = ctx.locations.get(path);
    ctx.report.warning(&span, path, message);
}

fn check_interfaces(ctx: &mut Ctx, draft: &Draft) {
    for (n, (i, interface)) in draft.interfaces.iter().enumerate() {
        let earlier = &draft.interfaces[..n];
        if let Some((j, _)) = earlier.iter().find(|(_, e)| e.name == interface.name) {
            error(
                ctx,
                &format!("interface[{i}].name"),
                format!("{:?} is already the name of interface[{j}]", interface.name),
            );
        }
        if let Some((j, _)) = earlier.iter().find(|(_, e)| e.matcher == interface.matcher) {
            let (key, what) = match &interface.matcher {
                LinkMatch::Mac(mac) => ("mac", mac.to_string()),
                LinkMatch::Device(device) => ("device", device.clone()),
            };
            error(
                ctx,
                &format!("interface[{i}].{key}"),
                format!(
                    "{what:?} is already matched by interface[{j}]; one link cannot be two interfaces"
                ),
            );
        }
    }
}

fn check_routes(ctx: &mut Ctx, draft: &Draft) {
    for (n, (i, route)) in draft.routes.iter().enumerate() {
        let path = format!("route[{i}]");
        if let Some(device) = &route.device {
            if !draft.interface_names.contains(device) {
                let names = if draft.interface_names.is_empty() {
                    "none is configured".to_string()
                } else {
                    format!("configured: {}", draft.interface_names.join(", "))
                };
                error(
                    ctx,
                    &join(&path, "device"),
                    format!("{device:?} is not the name of any [[interface]] ({names})"),
                );
            }
        }
        let same = draft.routes[..n].iter().find(|(_, r)| {
            r.destination == route.destination && r.table == route.table && r.metric == route.metric
        });
        if let Some((j, _)) = same {
            error(
                ctx,
                &join(&path, "destination"),
                format!(
                    "route[{j}] already has destination {}, the same table and the same metric",
                    route.destination
                ),
            );
        }
        if let Some(gateway) = route.gateway {
            check_gateway(ctx, draft, &path, gateway, route.device.as_deref());
        }
    }
}

/// Warn when no configured subnet (of `device`, when given) holds the
/// gateway: the kernel only accepts a gateway it reaches directly. IPv6
/// link-local gateways are on every link and always fine.
fn check_gateway(ctx: &mut Ctx, draft: &Draft, path: &str, gateway: IpAddr, device: Option<&str>) {
    if let IpAddr::V6(v6) = gateway {
        if v6.segments()[0] & 0xffc0 == 0xfe80 {
            return;
        }
    }
    let candidates: Vec<_> = draft
        .interfaces
        .iter()
        .filter(|(_, i)| device.is_none_or(|d| i.name == d))
        .collect();
    if candidates
        .iter()
        .any(|(_, i)| i.addresses.iter().any(|a| a.contains(gateway)))
    {
        return;
    }
    let subnets: Vec<String> = candidates
        .iter()
        .flat_map(|(_, i)| {
            i.addresses
                .iter()
                .map(move |a| format!("{} {}", i.name, super::addr::network(*a)))
        })
        .collect();
    let known = if subnets.is_empty() {
        "no subnets".to_string()
    } else {
        subnets.join(", ")
    };
    let place = match device {
        Some(device) => format!("a subnet of {device:?}"),
        None => "any configured subnet".to_string(),
    };
    warning(
        ctx,
        &join(path, "gateway"),
        format!(
            "{gateway} is not in {place} ({known}); the kernel refuses a gateway it cannot reach directly"
        ),
    );
}

fn check_services(ctx: &mut Ctx, services: &[DraftService]) {
    for (n, draft) in services.iter().enumerate() {
        let path = format!("service[{}]", draft.index);
        let key = draft.service.key;
        if let Some(first) = services[..n].iter().find(|s| s.service.key == key) {
            let key_path = match key {
                ServiceKey::Addr { .. } => join(&path, "address"),
                ServiceKey::Fwmark { .. } => join(&path, "fwmark"),
            };
            error(
                ctx,
                &key_path,
                format!(
                    "{} is already service[{}]; a virtual service is defined once, with all its real servers",
                    label(&key),
                    first.index
                ),
            );
        }
        check_real_servers(ctx, draft, &path);
    }
}

fn check_real_servers(ctx: &mut Ctx, draft: &DraftService, path: &str) {
    let service = &draft.service;
    if service.real_servers.is_empty() && draft.real_servers_complete {
        warning(
            ctx,
            path,
            "has no [[service.real_server]]; connections to it will be refused".to_string(),
        );
    }
    let family = service.key.family();
    for (n, real) in service.real_servers.iter().enumerate() {
        let real_path = format!("{path}.real_server[{}].address", draft.real_server_index[n]);
        let earlier = service.real_servers[..n]
            .iter()
            .position(|r| r.address == real.address);
        if let Some(e) = earlier {
            error(
                ctx,
                &real_path,
                format!(
                    "{} is already real_server[{}] of this service",
                    real.address, draft.real_server_index[e]
                ),
            );
        }
        let real_family = Family::of(real.address.ip());
        if real_family != family {
            let why = match draft.family_source {
                FamilySource::Address => "the service address is",
                FamilySource::Explicit => "the service's `family` is",
                FamilySource::FirstRealServer => "its first real server (and so the service) is",
                FamilySource::Default => "the service is",
            };
            error(
                ctx,
                &real_path,
                format!(
                    "{} is {} but {why} {}; with {} forwarding a real server must have its service's address family",
                    real.address.ip(),
                    family_name(real_family),
                    family_name(family),
                    real.forwarding.name()
                ),
            );
        }
    }
}
