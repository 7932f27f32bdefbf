//! `[vrrp]`: one VRRPv3 instance (RFC 5798) that moves the virtual
//! addresses between two directors, in keepalived's words
//! (`vrrp_instance`, `virtual_router_id`, `priority`, `advert_int`,
//! `preempt_delay`, `unicast_peer`, `lvs_sync_daemon`).

use std::net::IpAddr;
use std::time::Duration;

use super::addr::{ipv4_only, parse_cidr, parse_ip};
use super::duration::{parse_advert_interval, parse_duration};
use super::error::quote;
use super::names::check_ifname;
use super::walk::{
    Ctx, Earlier, Field, Path, Table, array_of, boolean, checked, int, items, string,
};
use super::{VirtualAddress, Vrrp};

/// keepalived's default priority for a backup.
pub const DEFAULT_PRIORITY: u8 = 100;
/// RFC 5798's default advertisement interval.
pub const DEFAULT_ADVERT_INTERVAL: Duration = Duration::from_secs(1);
/// How much tracking lowers the priority when `track_priority_delta` is
/// not given.
pub const DEFAULT_TRACK_PRIORITY_DELTA: u8 = 50;
/// The address owner's priority: it never gives the addresses up.
const OWNER_PRIORITY: u8 = 255;
/// Read `[vrrp]`; `None` (with diagnostics) when anything in it is wrong.
/// Whether the interfaces and services it names exist is checked later,
/// by `validate.rs`.
pub(super) fn read_vrrp(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<Vrrp> {
    let mut t = Table::new(ctx, field, "a table ([vrrp])")?;
    let help = "the configured interface adverts are sent on, like interface = \"wan\"";
    let interface = t.req(ctx, "interface", help, checked(check_ifname));
    let help = "1..=255, the same on both directors, like virtual_router_id = 51";
    let virtual_router_id = t.req(ctx, "virtual_router_id", help, int(1, 255));
    let priority = t.or(ctx, "priority", DEFAULT_PRIORITY, int(1, 255));
    let interval = string(parse_advert_interval);
    let advert_interval = t.or(ctx, "advert_interval", DEFAULT_ADVERT_INTERVAL, interval);
    let preempt = t.or(ctx, "preempt", true, boolean);
    let preempt_delay = t.or(ctx, "preempt_delay", Duration::ZERO, string(parse_duration));
    let listed = |ip: &IpAddr, earlier: &Earlier<'_, IpAddr>, path: &Path<'_>| {
        let i = earlier.position(|p| p == ip)?;
        Some(format!("{ip} is already listed as {path}[{i}]"))
    };
    let peer = string(|s| ipv4_only(parse_ip(s)?));
    let peers = array_of("an array of addresses like [\"192.168.1.3\"]", peer, listed);
    let unicast_peers = t.or(ctx, "unicast_peers", Vec::new(), peers);
    let help = "the addresses the master holds, like \
         virtual_addresses = [{ interface = \"wan\", address = \"192.168.1.100/24\" }]";
    let virtual_addresses = t.req(ctx, "virtual_addresses", help, read_virtual_addresses);
    let (sync_field, sync_interface) = t.opt_field(ctx, "sync_interface", checked(check_ifname));
    let router_id = virtual_router_id.unwrap_or(0);
    let (sync_id_field, sync_id) = t.or_field(ctx, "sync_id", router_id, int(0, 255));
    if let (Some(f), None) = (&sync_id_field, &sync_field) {
        let message = "has no effect without sync_interface (the interface of the IPVS connection sync daemon)";
        ctx.key_error(f, message);
    }
    let names = |name: &String, earlier: &Earlier<'_, String>, path: &Path<'_>| {
        let i = earlier.position(|n| n == name)?;
        Some(format!("{} is already listed as {path}[{i}]", quote(name)))
    };
    let expected = "an array of service names like [\"postgres\"]";
    let names = array_of(expected, string(|s| Ok(s.to_string())), names);
    let (track_field, track_services) = t.or_field(ctx, "track_services", Vec::new(), names);
    let (delta_field, delta) = t.or_field(
        ctx,
        "track_priority_delta",
        DEFAULT_TRACK_PRIORITY_DELTA,
        int(1, 254),
    );
    if let (Some(f), None) = (&delta_field, &track_field) {
        ctx.key_error(f, "has no effect without track_services");
    }
    let tracks = track_services.as_ref().is_some_and(|t| !t.is_empty());
    if let (Some(f), Some(priority), Some(delta), true) = (&track_field, priority, delta, tracks) {
        if priority == OWNER_PRIORITY {
            let message = "priority 255 is the address owner's, which tracking cannot lower; \
                 give this director a priority of 254 or less";
            ctx.key_error(f, message);
        } else if delta >= priority {
            let message = format!(
                "priority {priority} lowered by {delta} would leave no priority \
                 (1 is the lowest); set track_priority_delta below {priority}"
            );
            match &delta_field {
                Some(d) => ctx.error(d, message),
                None => ctx.key_error(f, message),
            }
        }
    }
    t.finish(ctx)?;
    Some(Vrrp {
        interface: interface?,
        virtual_router_id: virtual_router_id?,
        priority: priority?,
        advert_interval: advert_interval?,
        preempt: preempt?,
        preempt_delay: preempt_delay?,
        unicast_peers: unicast_peers?,
        virtual_addresses: virtual_addresses?,
        sync_interface,
        sync_id: sync_id?,
        track_services: track_services?,
        track_priority_delta: delta?,
    })
}

/// `virtual_addresses = [{ interface = "wan", address = "192.168.1.100/24" }]`:
/// at least one, each address once.
fn read_virtual_addresses(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<Vec<VirtualAddress>> {
    let expected =
        "an array of tables like [{ interface = \"wan\", address = \"192.168.1.100/24\" }]";
    let items = items(ctx, field, expected)?;
    if items.is_empty() {
        ctx.error(field, "is empty; list the addresses the master holds");
        return None;
    }
    let errors = ctx.report.errors();
    // With the index of each in the file.
    let mut addresses: Vec<(usize, VirtualAddress)> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Some(mut t) = Table::new(ctx, item, "a table") else {
            continue;
        };
        let help = "the configured interface the address goes on, like interface = \"lan\"";
        let interface = t.req(ctx, "interface", help, checked(check_ifname));
        let help = "the address with its prefix length, like address = \"192.168.1.100/24\"";
        let address = t.req(ctx, "address", help, |ctx: &mut Ctx, f: &Field<'_, '_>| {
            let net = string(|s| parse_cidr(s).and_then(|n| ipv4_only(n.addr).map(|_| n)))(ctx, f)?;
            let Some((i, _)) = addresses.iter().find(|(_, a)| a.address.addr == net.addr) else {
                return Some(net);
            };
            ctx.error(
                f,
                format!(
                    "{} is already {}[{i}]; a virtual address is listed once",
                    net.addr, field.path
                ),
            );
            None
        });
        t.finish(ctx);
        if let (Some(interface), Some(address)) = (interface, address) {
            addresses.push((index, VirtualAddress { interface, address }));
        }
    }
    (ctx.report.errors() == errors).then(|| addresses.into_iter().map(|(_, a)| a).collect())
}

#[cfg(test)]
mod tests {
    use super::super::load;
    use super::super::test_support::{check_cases, errors};
    use super::*;
    use crate::IpNet;

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
