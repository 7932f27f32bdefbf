//! `[[interface]]`: which link (an Ethernet NIC by `mac`, kernel `device`
//! name or `pci` slot, or a VLAN, bond or bridge the box makes), the name
//! it gets, its addresses and MTU.

use super::addr::{parse_cidr, parse_mac, parse_pci};
use super::duration::parse_duration;
use super::names::check_ifname;
use super::walk::{
    Ctx, Earlier, Field, Path, Table, array_of, boolean, checked, int, one_of, string, typed_string,
};
use super::{Bond, BondMode, Interface, IpNet, LinkMatch, MadeLink, XmitHashPolicy};

/// What `kind` says: a NIC that is there, or a link to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ethernet,
    Vlan,
    Bond,
    Bridge,
}

const KINDS: &[(&str, Kind)] = &[
    ("ethernet", Kind::Ethernet),
    ("vlan", Kind::Vlan),
    ("bond", Kind::Bond),
    ("bridge", Kind::Bridge),
];

/// The keys of every kind but the common ones.
const KIND_KEYS: [&str; 10] = [
    "mac",
    "device",
    "pci",
    "parent",
    "vlan_id",
    "members",
    "mode",
    "miimon",
    "xmit_hash_policy",
    "stp",
];

const BOND_MODES: &[(&str, BondMode)] = &[
    ("balance-rr", BondMode::BalanceRr),
    ("active-backup", BondMode::ActiveBackup),
    ("balance-xor", BondMode::BalanceXor),
    ("broadcast", BondMode::Broadcast),
    ("802.3ad", BondMode::Ieee8023Ad),
    ("balance-tlb", BondMode::BalanceTlb),
    ("balance-alb", BondMode::BalanceAlb),
];

const XMIT_HASH_POLICIES: &[(&str, XmitHashPolicy)] = &[
    ("layer2", XmitHashPolicy::Layer2),
    ("layer3+4", XmitHashPolicy::Layer34),
    ("layer2+3", XmitHashPolicy::Layer23),
    ("encap2+3", XmitHashPolicy::Encap23),
    ("encap3+4", XmitHashPolicy::Encap34),
    ("vlan+srcmac", XmitHashPolicy::VlanSrcMac),
];

/// `miimon`: a whole number of milliseconds; "0s" turns monitoring off.
fn parse_miimon(text: &str) -> Result<u32, String> {
    let d = parse_duration(text)?;
    if d.subsec_nanos() % 1_000_000 != 0 {
        return Err(format!("{text:?} is not a whole number of milliseconds"));
    }
    u32::try_from(d.as_millis()).map_err(|_| format!("{text:?} is too long an interval"))
}

/// `members = ["lan0", "lan1"]`: configured interfaces, each once.
fn read_members(ctx: &mut Ctx, t: &mut Table<'_, '_>) -> Option<Vec<String>> {
    let listed = |name: &String, earlier: &Earlier<'_, String>, path: &Path<'_>| {
        let i = earlier.position(|n| n == name)?;
        Some(format!("{name:?} is already listed as {path}[{i}]"))
    };
    let help = "the configured interfaces it takes, like members = [\"lan0\", \"lan1\"]";
    let members = t.req(
        ctx,
        "members",
        help,
        array_of("an array of interface names", checked(check_ifname), listed),
    )?;
    if members.is_empty() {
        ctx.report.error(
            &t.span(),
            t.path().key("members"),
            format!("is empty; {help}"),
        );
        return None;
    }
    Some(members)
}

/// The keys of a made link (`kind` other than ethernet).
fn read_made(ctx: &mut Ctx, t: &mut Table<'_, '_>, kind: Kind) -> Option<MadeLink> {
    match kind {
        Kind::Ethernet => None,
        Kind::Vlan => {
            let help = "the interface the VLAN is on, like parent = \"trunk\"";
            let parent = t.req(ctx, "parent", help, checked(check_ifname));
            let help = "the 802.1Q VLAN id, 1..=4094, like vlan_id = 10";
            let id = t.req(ctx, "vlan_id", help, int(1u16, 4094));
            Some(MadeLink::Vlan {
                parent: parent?,
                id: id?,
            })
        }
        Kind::Bond => {
            let members = read_members(ctx, t);
            let help = "the bonding mode, like mode = \"active-backup\" (balance-rr, \
                        active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb)";
            let mode = t.req(ctx, "mode", help, one_of("a bonding mode", BOND_MODES));
            let miimon = t.or(
                ctx,
                "miimon",
                100,
                typed_string("a duration string like \"100ms\"", parse_miimon),
            );
            let policy = t.opt(
                ctx,
                "xmit_hash_policy",
                one_of("a transmit hash policy", XMIT_HASH_POLICIES),
            );
            Some(MadeLink::Bond(Bond {
                members: members?,
                mode: mode?,
                miimon_ms: miimon?,
                xmit_hash_policy: policy,
            }))
        }
        Kind::Bridge => {
            let members = read_members(ctx, t);
            let stp = t.or(ctx, "stp", false, boolean);
            Some(MadeLink::Bridge {
                members: members?,
                stp: stp?,
            })
        }
    }
}

/// Read one `[[interface]]`; `None` (with diagnostics) when anything is
/// wrong. Its `name`, when valid, goes into `names` in any case, so routes
/// naming it are not reported as pointing nowhere.
pub(super) fn read_interface(
    ctx: &mut Ctx,
    item: &Field<'_, '_>,
    names: &mut Vec<String>,
) -> Option<Interface> {
    let mut t = Table::new(ctx, item, "a table")?;
    let help = "the name the link gets, like name = \"wan\"";
    let name = t.req(ctx, "name", help, |ctx: &mut Ctx, f: &Field<'_, '_>| {
        let name = checked(check_ifname)(ctx, f)?;
        if name == "lo" {
            ctx.error(f, "\"lo\" is the loopback interface's name; choose another");
        }
        Some(name)
    });
    names.extend(name.clone());
    let kind = t.or(ctx, "kind", Kind::Ethernet, one_of("a link kind", KINDS));
    let matcher = match kind {
        Some(Kind::Ethernet) => read_ethernet(ctx, &mut t),
        Some(made) => read_made(ctx, &mut t, made).map(LinkMatch::Made),
        None => {
            // The kind is the mistake (reported): no key of any kind is
            // reported unknown on top of it.
            for key in KIND_KEYS {
                t.field(key);
            }
            None
        }
    };
    let expected = "an array of strings like [\"192.168.1.1/24\"]";
    let listed = |net: &IpNet, earlier: &Earlier<'_, IpNet>, path: &Path<'_>| {
        let i = earlier.position(|a| a.addr == net.addr)?;
        Some(format!("{} is already listed as {path}[{i}]", net.addr))
    };
    let addresses = t.or(
        ctx,
        "addresses",
        Vec::new(),
        array_of(expected, string(parse_cidr), listed),
    );
    let (mtu_field, mtu) = t.opt_field(ctx, "mtu", int(68, 65535));
    let has_ipv6 = addresses.iter().flatten().any(|a| a.addr.is_ipv6());
    if let (Some(mtu), Some(f)) = (mtu, &mtu_field)
        && mtu < 1280
        && has_ipv6
    {
        let message = format!(
            "{mtu} is too small for the IPv6 addresses here; IPv6 needs an MTU of at least 1280"
        );
        ctx.error(f, message);
    }
    t.finish(ctx)?;
    Some(Interface {
        name: name?,
        matcher: matcher?,
        addresses: addresses?,
        mtu,
    })
}

/// An Ethernet NIC: found by exactly one of `mac`, `device` or `pci`.
fn read_ethernet(ctx: &mut Ctx, t: &mut Table<'_, '_>) -> Option<LinkMatch> {
    let (mac, by_mac) = t.opt_field(ctx, "mac", string(parse_mac));
    let (device, by_device) = t.opt_field(ctx, "device", checked(check_ifname));
    let (pci, by_pci) = t.opt_field(ctx, "pci", string(parse_pci));
    // The first written stands; the others are the mistake.
    let mut given: Vec<&Field<'_, '_>> = [&mac, &device, &pci].into_iter().flatten().collect();
    given.sort_by_key(|f| f.key_span.start);
    for extra in given.iter().skip(1) {
        ctx.key_error(extra, "give one of `mac`, `device` or `pci`, not two");
    }
    match (by_mac, by_device, by_pci) {
        _ if given.len() > 1 => None,
        _ if given.is_empty() => {
            let message = "missing `mac`, `device` or `pci`: say which link this is, by MAC \
                 address (mac = \"52:54:00:00:01:01\"), by the kernel's name (device = \"eth0\") \
                 or by PCI slot (pci = \"0000:01:00.0\"), or make one with kind = \"vlan\", \
                 \"bond\" or \"bridge\"";
            ctx.report.error(&t.span(), t.path(), message);
            None
        }
        (Some(mac), _, _) => Some(LinkMatch::Mac(mac)),
        (_, Some(device), _) => Some(LinkMatch::Device(device)),
        (_, _, Some(pci)) => Some(LinkMatch::Pci(pci)),
        // The one given did not read (reported).
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::load;
    use super::super::test_support::check_cases;
    use super::*;

    fn net(text: &str) -> IpNet {
        parse_cidr(text).unwrap()
    }

    #[test]
    fn pci_addresses() {
        for (text, expected) in [
            ("0000:01:00.0", Ok("0000:01:00.0")),
            ("01:00.0", Ok("0000:01:00.0")),
            ("0000:00:1F.7", Ok("0000:00:1f.7")),
            ("ABCD:ff:1f.0", Ok("abcd:ff:1f.0")),
            ("0000:01:20.0", Err(())),
            ("0000:01:00.8", Err(())),
            ("0000:01:00", Err(())),
            ("0:01:00.0", Err(())),
            ("0000:01:00.0.1", Err(())),
            ("", Err(())),
        ] {
            assert_eq!(
                parse_pci(text).map_err(|_| ()),
                expected.map(String::from),
                "{text}"
            );
        }
    }

    #[test]
    fn vlans_bonds_and_bridges() {
        let text = "[[interface]]\nname = \"trunk\"\nmac = \"52:54:00:00:01:01\"\n\
                    [[interface]]\nname = \"wan\"\nkind = \"vlan\"\nparent = \"trunk\"\nvlan_id = 10\n\
                    addresses = [\"192.168.1.1/24\"]\n\
                    [[interface]]\nname = \"lan0\"\ndevice = \"eth1\"\n\
                    [[interface]]\nname = \"lan1\"\ndevice = \"eth2\"\n\
                    [[interface]]\nname = \"lan\"\nkind = \"bond\"\nmembers = [\"lan0\", \"lan1\"]\n\
                    mode = \"802.3ad\"\nmiimon = \"50ms\"\nxmit_hash_policy = \"layer3+4\"\n\
                    [[interface]]\nname = \"br0\"\nkind = \"bridge\"\nmembers = [\"lan\"]\nstp = true\n";
        let (config, _) = load("router.toml", text).unwrap();
        let made: Vec<&LinkMatch> = config.interfaces.iter().map(|i| &i.matcher).collect();
        assert_eq!(
            made[1],
            &LinkMatch::Made(MadeLink::Vlan {
                parent: "trunk".into(),
                id: 10
            })
        );
        assert_eq!(config.interfaces[1].addresses, [net("192.168.1.1/24")]);
        assert_eq!(
            made[4],
            &LinkMatch::Made(MadeLink::Bond(Bond {
                members: vec!["lan0".into(), "lan1".into()],
                mode: BondMode::Ieee8023Ad,
                miimon_ms: 50,
                xmit_hash_policy: Some(XmitHashPolicy::Layer34),
            }))
        );
        assert_eq!(
            made[5],
            &LinkMatch::Made(MadeLink::Bridge {
                members: vec!["lan".into()],
                stp: true
            })
        );
        // The defaults: miimon 100 ms, the kernel's hash policy, no STP.
        let text = "[[interface]]\nname = \"a\"\ndevice = \"eth1\"\n\
                    [[interface]]\nname = \"lan\"\nkind = \"bond\"\nmembers = [\"a\"]\nmode = \"active-backup\"\n\
                    [[interface]]\nname = \"br\"\nkind = \"bridge\"\nmembers = [\"lan\"]\n";
        let (config, _) = load("router.toml", text).unwrap();
        let LinkMatch::Made(MadeLink::Bond(bond)) = &config.interfaces[1].matcher else {
            panic!("not a bond: {:?}", config.interfaces[1]);
        };
        assert_eq!((bond.miimon_ms, bond.xmit_hash_policy), (100, None));
        assert!(matches!(
            config.interfaces[2].matcher,
            LinkMatch::Made(MadeLink::Bridge { stp: false, .. })
        ));
        check_cases(&[
            (
                "[[interface]]\nname = \"wan\"\nkind = \"vlan\"\nparent = \"trunk\"\nvlan_id = 4095\n",
                &[
                    "router.toml:5:11: error: interface[0].vlan_id: 4095 is out of range; expected 1..=4094",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\nkind = \"vlan\"\nvlan_id = 0\n",
                &[
                    "router.toml:1:1: error: interface[0].parent: missing key `parent`; the interface \
                     the VLAN is on, like parent = \"trunk\"",
                    "router.toml:4:11: error: interface[0].vlan_id: 0 is out of range; expected 1..=4094",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\nkind = \"vlan\"\nparent = \"trunk\"\nvlan_id = 10\nmac = \"52:54:00:00:01:01\"\n",
                &[
                    "router.toml:4:10: error: interface[0].parent: \"trunk\" is not the name of any \
                     [[interface]] (configured: wan)",
                    "router.toml:6:1: error: interface[0].mac: unknown key; valid keys here: name, kind, \
                     parent, vlan_id, addresses, mtu",
                ],
            ),
            (
                "[[interface]]\nname = \"lan\"\nkind = \"team\"\nmembers = [\"a\"]\n",
                &[
                    "router.toml:3:8: error: interface[0].kind: \"team\" is not a link kind; expected \
                     \"ethernet\", \"vlan\", \"bond\" or \"bridge\"",
                ],
            ),
            (
                "[[interface]]\nname = \"lan\"\nkind = \"bond\"\nmembers = []\nmode = \"lacp\"\nmiimon = \"1.5ms\"\n",
                &[
                    "router.toml:1:1: error: interface[0].members: is empty; the configured interfaces \
                     it takes, like members = [\"lan0\", \"lan1\"]",
                    "router.toml:5:8: error: interface[0].mode: \"lacp\" is not a bonding mode; expected \
                     one of: balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb",
                    "router.toml:6:10: error: interface[0].miimon: \"1.5ms\" is not a duration like \"300s\", \
                     \"5m\" or \"1h30m\"",
                ],
            ),
            (
                "[[interface]]\nname = \"br\"\nkind = \"bridge\"\nmembers = [\"a\", \"a\"]\nstp = \"on\"\n",
                &[
                    "router.toml:4:17: error: interface[0].members[1]: \"a\" is already listed as \
                     interface[0].members[0]",
                    "router.toml:5:7: error: interface[0].stp: expected true or false, found a string",
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
                // A repeat names the place of the first in the file, also
                // behind an element that did not read.
                "[[interface]]\nname = \"wan\"\ndevice = \"eth0\"\n\
                 addresses = [\"10.0.0.300/24\", \"10.0.0.1/24\", \"10.0.0.1/24\"]\n",
                &[
                    "router.toml:4:14: error: interface[0].addresses[0]: \"10.0.0.300/24\" is not an \
                     address with prefix length like \"192.168.1.1/24\" or \"2001:db8::1/64\"",
                    "router.toml:4:46: error: interface[0].addresses[2]: 10.0.0.1 is already listed as \
                     interface[0].addresses[1]",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\nmac = \"52:54:00:00:01:01\"\ndevice = \"eth0\"\n",
                &[
                    "router.toml:4:1: error: interface[0].device: give one of `mac`, `device` or `pci`, not two",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\n",
                &[
                    "router.toml:1:1: error: interface[0]: missing `mac`, `device` or `pci`: say \
                   which link this is, by MAC address (mac = \"52:54:00:00:01:01\"), by the \
                   kernel's name (device = \"eth0\") or by PCI slot (pci = \"0000:01:00.0\"), \
                   or make one with kind = \"vlan\", \"bond\" or \"bridge\"",
                ],
            ),
            (
                "[[interface]]\nname = \"lan\"\npci = \"0000:01:00.0\"\ndevice = \"eth1\"\nmac = \"52:54:00:00:03:01\"\n",
                &[
                    "router.toml:4:1: error: interface[0].device: give one of `mac`, `device` or `pci`, not two",
                    "router.toml:5:1: error: interface[0].mac: give one of `mac`, `device` or `pci`, not two",
                ],
            ),
            (
                "[[interface]]\nname = \"lan\"\npci = \"1:00.0\"\n",
                &[
                    "router.toml:3:7: error: interface[0].pci: \"1:00.0\" is not a PCI address; write it as \
                   `lspci -D` shows it, like \"0000:01:00.0\"",
                ],
            ),
            (
                "[[interface]]\nname = \"a\"\npci = \"01:00.0\"\n[[interface]]\nname = \"b\"\npci = \"0000:01:00.0\"\n",
                &[
                    "router.toml:6:7: error: interface[1].pci: \"0000:01:00.0\" is already matched by \
                   interface[0]; one link cannot be two interfaces",
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
                   name, kind, mac, device, pci, addresses, mtu",
                ],
            ),
        ]);
    }
}
