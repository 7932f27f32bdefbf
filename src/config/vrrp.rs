//! `[vrrp]`: one VRRPv3 instance (RFC 5798) that moves the virtual
//! addresses between two directors, in keepalived's words
//! (`vrrp_instance`, `virtual_router_id`, `priority`, `advert_int`,
//! `preempt_delay`, `unicast_peer`, `lvs_sync_daemon`).
//!
//! Read in two steps like the other sections: [`read_vrrp`] checks the
//! table on its own (ranges, types, duplicates), [`check_vrrp`] checks it
//! against the interfaces and services once every entry is known.

use std::net::IpAddr;
use std::time::Duration;

use toml::de::DeValue;

use super::addr::{parse_cidr, parse_ip};
use super::duration::parse_duration;
use super::names::check_ifname;
use super::parse::Draft;
use super::walk::{Ctx, Field, Table, join};
use super::{Family, VirtualAddress, Vrrp};

const VRRP_KEYS: &[&str] = &[
    "interface",
    "virtual_router_id",
    "priority",
    "advert_interval",
    "preempt",
    "preempt_delay",
    "unicast_peers",
    "virtual_addresses",
    "sync_interface",
    "sync_id",
    "track_services",
    "track_priority_delta",
];

const VIRTUAL_ADDRESS_KEYS: &[&str] = &["interface", "address"];

/// keepalived's default priority for a backup.
pub const DEFAULT_PRIORITY: u8 = 100;
/// RFC 5798's default advertisement interval.
pub const DEFAULT_ADVERT_INTERVAL: Duration = Duration::from_secs(1);
/// How much tracking lowers the priority when `track_priority_delta` is
/// not given.
pub const DEFAULT_TRACK_PRIORITY_DELTA: u8 = 50;
/// The address owner's priority: it never gives the addresses up.
const OWNER_PRIORITY: u8 = 255;
/// The advert carries the interval in centiseconds in 12 bits.
const MAX_ADVERT_CENTISECONDS: u128 = 4095;

/// Read `[vrrp]`; `None` (with diagnostics) when anything in it is wrong.
/// Whether the interfaces and services it names exist is checked later,
/// by [`check_vrrp`].
pub(super) fn read_vrrp(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<Vrrp> {
    if !matches!(field.value.get_ref(), DeValue::Table(_)) {
        ctx.type_error(field, "a table ([vrrp])");
        return None;
    }
    let mut table = Table::new(ctx, &field.path, field.value, VRRP_KEYS)?;
    let mut ok = true;

    let interface = table
        .require(
            ctx,
            "interface",
            "the configured interface adverts are sent on, like interface = \"wan\"",
        )
        .and_then(|f| ifname(ctx, &f));
    let virtual_router_id = table
        .require(
            ctx,
            "virtual_router_id",
            "1..=255, the same on both directors, like virtual_router_id = 51",
        )
        .and_then(|f| small(ctx, &f, 1, 255));

    let mut priority = Some(DEFAULT_PRIORITY);
    if let Some(f) = table.get(ctx, "priority") {
        priority = small(ctx, &f, 1, 255);
    }
    let mut advert_interval = Some(DEFAULT_ADVERT_INTERVAL);
    if let Some(f) = table.get(ctx, "advert_interval") {
        advert_interval = ctx.parsed(&f, parse_advert_interval);
    }
    let mut preempt = Some(true);
    if let Some(f) = table.get(ctx, "preempt") {
        preempt = boolean(ctx, &f);
    }
    let mut preempt_delay = Some(Duration::ZERO);
    if let Some(f) = table.get(ctx, "preempt_delay") {
        preempt_delay = ctx.parsed(&f, parse_duration);
    }
    let mut unicast_peers = Some(Vec::new());
    if let Some(f) = table.get(ctx, "unicast_peers") {
        unicast_peers = read_peers(ctx, &f);
    }
    let virtual_addresses = table
        .require(
            ctx,
            "virtual_addresses",
            "the addresses the master holds, like \
             virtual_addresses = [{ interface = \"wan\", address = \"192.168.1.100/24\" }]",
        )
        .and_then(|f| read_virtual_addresses(ctx, &f));

    let mut sync_interface = Some(None);
    let sync_interface_field = table.get(ctx, "sync_interface");
    if let Some(f) = &sync_interface_field {
        sync_interface = ifname(ctx, f).map(Some);
    }
    let mut sync_id = virtual_router_id;
    if let Some(f) = table.get(ctx, "sync_id") {
        sync_id = small(ctx, &f, 0, 255);
        if sync_interface_field.is_none() {
            ctx.report.error(
                &f.key_span,
                &f.path,
                "has no effect without sync_interface (the interface of the IPVS \
                 connection sync daemon)",
            );
            ok = false;
        }
    }

    let mut track_services = Some(Vec::new());
    let track_field = table.get(ctx, "track_services");
    if let Some(f) = &track_field {
        track_services = read_names(ctx, f);
    }
    let mut track_priority_delta = Some(DEFAULT_TRACK_PRIORITY_DELTA);
    let delta_field = table.get(ctx, "track_priority_delta");
    if let Some(f) = &delta_field {
        track_priority_delta = small(ctx, f, 1, 254);
        if track_field.is_none() {
            ctx.report
                .error(&f.key_span, &f.path, "has no effect without track_services");
            ok = false;
        }
    }
    if let (Some(f), Some(priority), Some(delta)) = (&track_field, priority, track_priority_delta) {
        let tracks = track_services.as_ref().is_some_and(|t| !t.is_empty());
        if tracks && priority == OWNER_PRIORITY {
            ctx.report.error(
                &f.key_span,
                &f.path,
                "priority 255 is the address owner's, which tracking cannot lower; \
                 give this director a priority of 254 or less",
            );
            ok = false;
        } else if tracks && delta >= priority {
            let (span, path) = match &delta_field {
                Some(d) => (d.span(), d.path.clone()),
                None => (f.key_span.clone(), f.path.clone()),
            };
            ctx.report.error(
                &span,
                &path,
                format!(
                    "priority {priority} lowered by {delta} would leave no priority \
                     (1 is the lowest); set track_priority_delta below {priority}"
                ),
            );
            ok = false;
        }
    }
    table.finish(ctx);
    if !ok {
        return None;
    }
    Some(Vrrp {
        interface: interface?,
        virtual_router_id: virtual_router_id?,
        priority: priority?,
        advert_interval: advert_interval?,
        preempt: preempt?,
        preempt_delay: preempt_delay?,
        unicast_peers: unicast_peers?,
        virtual_addresses: virtual_addresses?,
        sync_interface: sync_interface?,
        sync_id: sync_id?,
        track_services: track_services?,
        track_priority_delta: track_priority_delta?,
    })
}

/// An interface name (whether it is configured is checked later).
fn ifname(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<String> {
    ctx.parsed(field, |s| check_ifname(s).map(|()| s.to_string()))
}

/// An integer in `min..=max` (both within `u8`).
fn small(ctx: &mut Ctx, field: &Field<'_, '_>, min: u8, max: u8) -> Option<u8> {
    ctx.integer(field, min.into(), max.into())
        .and_then(|n| u8::try_from(n).ok())
}

fn boolean(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<bool> {
    match field.value.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        _ => {
            ctx.type_error(field, "true or false");
            None
        }
    }
}

/// `"1s"`, `"100ms"`: 10 ms to 40.95 s in whole centiseconds, what the
/// advert's 12-bit field can carry.
fn parse_advert_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text)?;
    let millis = interval.as_millis();
    if millis % 10 != 0 {
        return Err(format!(
            "{text:?} is not a whole number of centiseconds; adverts carry the interval \
             in steps of 10ms"
        ));
    }
    let centiseconds = millis / 10;
    if !(1..=MAX_ADVERT_CENTISECONDS).contains(&centiseconds) {
        return Err(format!(
            "{text:?} is out of range; an advert interval is 10ms to 40950ms"
        ));
    }
    Ok(interval)
}

/// `unicast_peers = ["192.168.1.3"]`: IPv4 (the adverts are), no repeats.
fn read_peers(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<Vec<IpAddr>> {
    let items = ctx.array(field, "an array of addresses like [\"192.168.1.3\"]")?;
    let mut ok = true;
    let mut peers: Vec<IpAddr> = Vec::new();
    for item in items {
        let Some(ip) = ctx.parsed(&item, parse_ip) else {
            ok = false;
            continue;
        };
        if let Err(message) = ipv4_only(ip) {
            ctx.report.error(&item.span(), &item.path, message);
            ok = false;
        } else if let Some(i) = peers.iter().position(|p| *p == ip) {
            ctx.report.error(
                &item.span(),
                &item.path,
                format!("{ip} is already listed as {}[{i}]", field.path),
            );
            ok = false;
        } else {
            peers.push(ip);
        }
    }
    ok.then_some(peers)
}

/// This instance speaks VRRP for IPv4: its adverts list IPv4 addresses.
fn ipv4_only(ip: IpAddr) -> Result<(), String> {
    match Family::of(ip) {
        Family::Inet => Ok(()),
        Family::Inet6 => Err(format!(
            "{ip} is IPv6; this VRRP instance is IPv4 (VRRPv3 for IPv6 is not supported yet)"
        )),
    }
}

/// `virtual_addresses = [{ interface = "wan", address = "192.168.1.100/24" }]`:
/// at least one, each address once.
fn read_virtual_addresses(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<Vec<VirtualAddress>> {
    let expected = "an array of tables like \
                    [{ interface = \"wan\", address = \"192.168.1.100/24\" }]";
    let items = ctx.array(field, expected)?;
    if items.is_empty() {
        ctx.report.error(
            &field.span(),
            &field.path,
            "is empty; list the addresses the master holds",
        );
        return None;
    }
    let mut ok = true;
    // With the index of each in the file.
    let mut addresses: Vec<(usize, VirtualAddress)> = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let Some(mut entry) = Table::new(ctx, &item.path, item.value, VIRTUAL_ADDRESS_KEYS) else {
            ok = false;
            continue;
        };
        let interface = entry
            .require(
                ctx,
                "interface",
                "the configured interface the address goes on, like interface = \"lan\"",
            )
            .and_then(|f| ifname(ctx, &f));
        let address_field = entry.require(
            ctx,
            "address",
            "the address with its prefix length, like address = \"192.168.1.100/24\"",
        );
        let mut address = address_field
            .as_ref()
            .and_then(|f| ctx.parsed(f, parse_cidr));
        if let (Some(net), Some(f)) = (address, &address_field) {
            if let Err(message) = ipv4_only(net.addr) {
                ctx.report.error(&f.span(), &f.path, message);
                address = None;
            } else if let Some((i, _)) = addresses.iter().find(|(_, a)| a.address.addr == net.addr)
            {
                ctx.report.error(
                    &f.span(),
                    &f.path,
                    format!(
                        "{} is already {}[{i}]; a virtual address is listed once",
                        net.addr, field.path
                    ),
                );
                address = None;
            }
        }
        entry.finish(ctx);
        match (interface, address) {
            (Some(interface), Some(address)) => {
                addresses.push((index, VirtualAddress { interface, address }))
            }
            _ => ok = false,
        }
    }
    ok.then(|| addresses.into_iter().map(|(_, a)| a).collect())
}

/// `track_services = ["postgres"]`: service names, each once.
fn read_names(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<Vec<String>> {
    let items = ctx.array(field, "an array of service names like [\"postgres\"]")?;
    let mut ok = true;
    let mut names: Vec<String> = Vec::new();
    for item in items {
        let Some(name) = ctx.string(&item) else {
            ok = false;
            continue;
        };
        if let Some(i) = names.iter().position(|n| n == name) {
            ctx.report.error(
                &item.span(),
                &item.path,
                format!("{name:?} is already listed as {}[{i}]", field.path),
            );
            ok = false;
            continue;
        }
        names.push(name.to_string());
    }
    ok.then_some(names)
}

/// Check `[vrrp]` against the rest of the file: every interface it names is
/// a configured `[[interface]]` (the advert and sync interfaces with a
/// static IPv4 address to send from), no virtual address is also a static
/// address (the master adds it, the backup removes it), and every tracked
/// service exists.
pub(super) fn check_vrrp(ctx: &mut Ctx, draft: &Draft) {
    let Some(vrrp) = &draft.vrrp else {
        return;
    };
    check_interface(
        ctx,
        draft,
        "vrrp.interface",
        &vrrp.interface,
        Some("adverts"),
    );
    if let Some(sync) = &vrrp.sync_interface {
        check_interface(
            ctx,
            draft,
            "vrrp.sync_interface",
            sync,
            Some("the sync daemon's messages"),
        );
    }
    for (i, vip) in vrrp.virtual_addresses.iter().enumerate() {
        let path = format!("vrrp.virtual_addresses[{i}]");
        check_interface(ctx, draft, &join(&path, "interface"), &vip.interface, None);
        for (j, interface) in &draft.interfaces {
            if let Some(k) = interface
                .addresses
                .iter()
                .position(|a| a.addr == vip.address.addr)
            {
                error(
                    ctx,
                    &join(&path, "address"),
                    format!(
                        "{} is also interface[{j}].addresses[{k}] ({}); a virtual address is \
                         added by the VRRP master only: remove it from the interface's addresses",
                        vip.address.addr, interface.name
                    ),
                );
            }
        }
    }
    for (i, name) in vrrp.track_services.iter().enumerate() {
        if !draft.services.iter().any(|s| &s.service.name == name) {
            let names: Vec<&str> = draft
                .services
                .iter()
                .map(|s| s.service.name.as_str())
                .collect();
            let known = if names.is_empty() {
                "none is configured".to_string()
            } else {
                format!("configured: {}", names.join(", "))
            };
            error(
                ctx,
                &format!("vrrp.track_services[{i}]"),
                format!("{name:?} is not the name of any [[service]] ({known})"),
            );
        }
    }
}

/// `name` must be a configured interface; with `sends` (what is sent from
/// it) it also needs a static IPv4 address as the source.
fn check_interface(ctx: &mut Ctx, draft: &Draft, path: &str, name: &str, sends: Option<&str>) {
    if !draft.interface_names.iter().any(|n| n == name) {
        let mut names: Vec<&str> = Vec::new();
        for n in &draft.interface_names {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
        let known = if names.is_empty() {
            "none is configured".to_string()
        } else {
            format!("configured: {}", names.join(", "))
        };
        error(
            ctx,
            path,
            format!("{name:?} is not the name of any [[interface]] ({known})"),
        );
        return;
    }
    let Some(what) = sends else {
        return;
    };
    let Some((_, interface)) = draft.interfaces.iter().find(|(_, i)| i.name == name) else {
        // The interface had errors of its own, already reported.
        return;
    };
    if !interface
        .addresses
        .iter()
        .any(|a| Family::of(a.addr) == Family::Inet)
    {
        error(
            ctx,
            path,
            format!(
                "{name:?} has no IPv4 address of its own in `addresses`; {what} are sent \
                 from it, so it needs one that does not move with VRRP"
            ),
        );
    }
}

/// Report at `path` (its recorded span).
fn error(ctx: &mut Ctx, path: &str, message: String) {
    let span = ctx.locations.get(path);
    ctx.report.error(&span, path, message);
}

#[cfg(test)]
mod tests {
    use super::super::load;
    use super::super::parse::test_support::{check_cases, errors};
    use super::*;
    use crate::config::IpNet;

    fn net(text: &str) -> IpNet {
        parse_cidr(text).unwrap()
    }

    const INTERFACES: &str = "\
[[interface]]
name = \"wan\"
mac = \"52:54:00:00:01:01\"
addresses = [\"192.168.1.2/24\"]

[[interface]]
name = \"lan\"
mac = \"52:54:00:00:03:01\"
addresses = [\"192.168.3.252/24\"]

[[service]]
name = \"postgres\"
protocol = \"tcp\"
address = \"192.168.1.100:5432\"
forwarding = \"nat\"
  [[service.real_server]]
  address = \"192.168.3.2:5432\"
";

    /// The file with `vrrp` appended; its `[vrrp]` starts on line 19.
    fn with(vrrp: &str) -> String {
        format!("{INTERFACES}\n{vrrp}")
    }

    #[test]
    fn the_issue_example_parses_to_the_model() {
        let text = with(
            "[vrrp]
interface = \"wan\"
virtual_router_id = 51
priority = 150
advert_interval = \"1s\"
preempt = true
virtual_addresses = [
  { interface = \"wan\", address = \"192.168.1.100/24\" },
  { interface = \"lan\", address = \"192.168.3.1/24\" },
]
sync_interface = \"lan\"
sync_id = 51
",
        );
        let (config, warnings) = load("router.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(warnings, []);
        assert_eq!(
            config.vrrp,
            Some(Vrrp {
                interface: "wan".into(),
                virtual_router_id: 51,
                priority: 150,
                advert_interval: Duration::from_secs(1),
                preempt: true,
                preempt_delay: Duration::ZERO,
                unicast_peers: vec![],
                virtual_addresses: vec![
                    VirtualAddress {
                        interface: "wan".into(),
                        address: net("192.168.1.100/24"),
                    },
                    VirtualAddress {
                        interface: "lan".into(),
                        address: net("192.168.3.1/24"),
                    },
                ],
                sync_interface: Some("lan".into()),
                sync_id: 51,
                track_services: vec![],
                track_priority_delta: DEFAULT_TRACK_PRIORITY_DELTA,
            })
        );
    }

    #[test]
    fn defaults_and_every_key() {
        let minimal = with(
            "[vrrp]\ninterface = \"wan\"\nvirtual_router_id = 7\n\
             virtual_addresses = [{ interface = \"wan\", address = \"192.168.1.100/24\" }]\n",
        );
        let vrrp = load("router.toml", &minimal).unwrap().0.vrrp.unwrap();
        assert_eq!(vrrp.priority, 100);
        assert_eq!(vrrp.advert_interval, Duration::from_secs(1));
        assert!(vrrp.preempt);
        assert_eq!(vrrp.preempt_delay, Duration::ZERO);
        assert_eq!(vrrp.sync_interface, None);
        assert_eq!(vrrp.sync_id, 7, "sync_id defaults to the router id");

        let full = with(
            "[vrrp]\ninterface = \"wan\"\nvirtual_router_id = 255\npriority = 254\n\
             advert_interval = \"40950ms\"\npreempt = false\npreempt_delay = \"30s\"\n\
             unicast_peers = [\"192.168.1.3\"]\n\
             virtual_addresses = [{ interface = \"lan\", address = \"192.168.3.1/24\" }]\n\
             sync_interface = \"lan\"\nsync_id = 0\n\
             track_services = [\"postgres\"]\ntrack_priority_delta = 253\n",
        );
        let vrrp = load("router.toml", &full)
            .unwrap_or_else(|e| panic!("{e}"))
            .0
            .vrrp
            .unwrap();
        assert_eq!(vrrp.virtual_router_id, 255);
        assert_eq!(vrrp.advert_interval, Duration::from_millis(40950));
        assert!(!vrrp.preempt);
        assert_eq!(vrrp.preempt_delay, Duration::from_secs(30));
        assert_eq!(
            vrrp.unicast_peers,
            ["192.168.1.3".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(vrrp.sync_id, 0);
        assert_eq!(vrrp.track_services, ["postgres"]);
        assert_eq!(vrrp.track_priority_delta, 253);
    }

    #[test]
    fn advert_intervals() {
        for (text, ms) in [
            ("10ms", 10),
            ("100ms", 100),
            ("1s", 1000),
            ("2s500ms", 2500),
        ] {
            assert_eq!(
                parse_advert_interval(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        assert_eq!(
            parse_advert_interval("15ms"),
            Err(
                "\"15ms\" is not a whole number of centiseconds; adverts carry the interval \
                 in steps of 10ms"
                    .into()
            )
        );
        for text in ["0s", "41s"] {
            assert_eq!(
                parse_advert_interval(text),
                Err(format!(
                    "{text:?} is out of range; an advert interval is 10ms to 40950ms"
                ))
            );
        }
        assert!(parse_advert_interval("1").unwrap_err().contains("no unit"));
    }

    const VIP: &str =
        "virtual_addresses = [{ interface = \"wan\", address = \"192.168.1.100/24\" }]";

    #[test]
    fn table_errors_name_their_place() {
        check_cases(&[
            (
                &with("vrrp = 1\n"),
                &[
                    "router.toml:19:1: error: service[0].real_server[0].vrrp: unknown key; valid \
                   keys here: address, weight, forwarding, upper_threshold, lower_threshold, \
                   health_check",
                ],
            ),
            (
                &format!("vrrp = 1\n{INTERFACES}"),
                &["router.toml:1:8: error: vrrp: expected a table ([vrrp]), found an integer"],
            ),
            (
                &with(&format!("[vrrp]\n{VIP}\n")),
                &[
                    "router.toml:19:1: error: vrrp.interface: missing key `interface`; the \
                     configured interface adverts are sent on, like interface = \"wan\"",
                    "router.toml:19:1: error: vrrp.virtual_router_id: missing key \
                     `virtual_router_id`; 1..=255, the same on both directors, like \
                     virtual_router_id = 51",
                ],
            ),
            (
                &with(&format!(
                    "[vrrp]\ninterface = \"wan\"\nvirtual_router_id = 0\npriority = 256\n\
                     advert_interval = \"5ms\"\npreempt = \"yes\"\n{VIP}\nsync_id = 1\n\
                     track_priority_delta = 10\nadvert_int = 1\n"
                )),
                &[
                    "router.toml:21:21: error: vrrp.virtual_router_id: 0 is out of range; \
                     expected 1..=255",
                    "router.toml:22:12: error: vrrp.priority: 256 is out of range; expected 1..=255",
                    "router.toml:23:19: error: vrrp.advert_interval: \"5ms\" is not a whole \
                     number of centiseconds; adverts carry the interval in steps of 10ms",
                    "router.toml:24:11: error: vrrp.preempt: expected true or false, found a string",
                    "router.toml:26:1: error: vrrp.sync_id: has no effect without sync_interface \
                     (the interface of the IPVS connection sync daemon)",
                    "router.toml:27:1: error: vrrp.track_priority_delta: has no effect without \
                     track_services",
                    "router.toml:28:1: error: vrrp.advert_int: unknown key; valid keys here: \
                     interface, virtual_router_id, priority, advert_interval, preempt, \
                     preempt_delay, unicast_peers, virtual_addresses, sync_interface, sync_id, \
                     track_services, track_priority_delta",
                ],
            ),
        ]);
    }

    #[test]
    fn address_errors() {
        let head = "[vrrp]\ninterface = \"wan\"\nvirtual_router_id = 51\n";
        check_cases(&[
            (
                &with(&format!("{head}virtual_addresses = []\n")),
                &[
                    "router.toml:22:21: error: vrrp.virtual_addresses: is empty; list the \
                   addresses the master holds",
                ],
            ),
            (
                &with(&format!(
                    "{head}virtual_addresses = [\n  {{ interface = \"wan\", address = \"192.168.1.100\" }},\n  \
                     {{ interface = \"wan\", address = \"2001:db8::1/64\" }},\n  \
                     {{ interface = \"lan\", address = \"192.168.1.101/24\", dev = \"x\" }},\n  \
                     {{ interface = \"lan\", address = \"192.168.1.101/32\" }},\n  \
                     {{ address = \"192.168.1.102/24\" }},\n]\n"
                )),
                &[
                    "router.toml:23:34: error: vrrp.virtual_addresses[0].address: \
                     \"192.168.1.100\" has no prefix length; write it like \"192.168.1.100/24\"",
                    "router.toml:24:34: error: vrrp.virtual_addresses[1].address: 2001:db8::1 is \
                     IPv6; this VRRP instance is IPv4 (VRRPv3 for IPv6 is not supported yet)",
                    "router.toml:25:54: error: vrrp.virtual_addresses[2].dev: unknown key; valid \
                     keys here: interface, address",
                    "router.toml:26:34: error: vrrp.virtual_addresses[3].address: 192.168.1.101 \
                     is already vrrp.virtual_addresses[2]; a virtual address is listed once",
                    "router.toml:27:3: error: vrrp.virtual_addresses[4].interface: missing key \
                     `interface`; the configured interface the address goes on, like \
                     interface = \"lan\"",
                ],
            ),
            (
                &with(&format!(
                    "{head}{VIP}\nunicast_peers = [\"192.168.1.3\", \"fe80::1\", \"192.168.1.3\", \"x\"]\n"
                )),
                &[
                    "router.toml:23:33: error: vrrp.unicast_peers[1]: fe80::1 is IPv6; this VRRP \
                     instance is IPv4 (VRRPv3 for IPv6 is not supported yet)",
                    "router.toml:23:44: error: vrrp.unicast_peers[2]: 192.168.1.3 is already \
                     listed as vrrp.unicast_peers[0]",
                    "router.toml:23:59: error: vrrp.unicast_peers[3]: \"x\" is not an IP address",
                ],
            ),
        ]);
    }

    #[test]
    fn cross_checks() {
        let head = "[vrrp]\nvirtual_router_id = 51\n";
        check_cases(&[
            (
                &with(&format!(
                    "{head}interface = \"dmz\"\nsync_interface = \"lan0\"\n\
                     virtual_addresses = [\n  {{ interface = \"wan\", address = \"192.168.1.2/24\" }},\n  \
                     {{ interface = \"inside\", address = \"192.168.3.1/24\" }},\n]\n\
                     track_services = [\"postgres\", \"web\"]\n"
                )),
                &[
                    "router.toml:21:13: error: vrrp.interface: \"dmz\" is not the name of any \
                     [[interface]] (configured: wan, lan)",
                    "router.toml:22:18: error: vrrp.sync_interface: \"lan0\" is not the name of any \
                     [[interface]] (configured: wan, lan)",
                    "router.toml:24:34: error: vrrp.virtual_addresses[0].address: 192.168.1.2 is \
                     also interface[0].addresses[0] (wan); a virtual address is added by the VRRP \
                     master only: remove it from the interface's addresses",
                    "router.toml:25:17: error: vrrp.virtual_addresses[1].interface: \"inside\" is \
                     not the name of any [[interface]] (configured: wan, lan)",
                    "router.toml:27:31: error: vrrp.track_services[1]: \"web\" is not the name of \
                     any [[service]] (configured: postgres)",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\ndevice = \"eth0\"\naddresses = [\"2001:db8::1/64\"]\n\
                 [vrrp]\ninterface = \"wan\"\nvirtual_router_id = 1\n\
                 virtual_addresses = [{ interface = \"wan\", address = \"10.0.0.1/24\" }]\n",
                &[
                    "router.toml:6:13: error: vrrp.interface: \"wan\" has no IPv4 address of its \
                   own in `addresses`; adverts are sent from it, so it needs one that does not \
                   move with VRRP",
                ],
            ),
        ]);
    }

    #[test]
    fn tracking_limits() {
        let head = format!("[vrrp]\ninterface = \"wan\"\nvirtual_router_id = 51\n{VIP}\n");
        check_cases(&[
            (
                &with(&format!(
                    "{head}priority = 255\ntrack_services = [\"postgres\"]\n"
                )),
                &[
                    "router.toml:24:1: error: vrrp.track_services: priority 255 is the address \
                   owner's, which tracking cannot lower; give this director a priority of 254 \
                   or less",
                ],
            ),
            (
                &with(&format!(
                    "{head}priority = 40\ntrack_services = [\"postgres\"]\n"
                )),
                &[
                    "router.toml:24:1: error: vrrp.track_services: priority 40 lowered by 50 \
                   would leave no priority (1 is the lowest); set track_priority_delta below 40",
                ],
            ),
            (
                &with(&format!(
                    "{head}track_services = [\"postgres\", \"postgres\"]\n"
                )),
                &[
                    "router.toml:23:31: error: vrrp.track_services[1]: \"postgres\" is already \
                   listed as vrrp.track_services[0]",
                ],
            ),
        ]);
        // Without a track_services entry, the default delta is no problem.
        assert!(load("router.toml", &with(&format!("{head}priority = 1\n"))).is_ok());
        assert!(!errors(&with(&format!(
            "{head}priority = 100\ntrack_services = [\"postgres\"]\ntrack_priority_delta = 100\n"
        )))
        .is_empty());
    }
}
