//! `[[interface]]`: which link (by `mac`, kernel `device` name or `pci`
//! slot), the
//! name it is renamed to, its addresses and MTU.

use super::addr::{parse_cidr, parse_mac, parse_pci};
use super::names::check_ifname;
use super::walk::{Ctx, Earlier, Field, Path, Table, array_of, checked, int, string};
use super::{Interface, IpNet, LinkMatch};

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
    let (mac, by_mac) = t.opt_field(ctx, "mac", string(parse_mac));
    let (device, by_device) = t.opt_field(ctx, "device", checked(check_ifname));
    let (pci, by_pci) = t.opt_field(ctx, "pci", string(parse_pci));
    // The first written stands; the others are the mistake.
    let mut given: Vec<&Field<'_, '_>> = [&mac, &device, &pci].into_iter().flatten().collect();
    given.sort_by_key(|f| f.key_span.start);
    for extra in given.iter().skip(1) {
        ctx.key_error(extra, "give one of `mac`, `device` or `pci`, not two");
    }
    let matcher = match (by_mac, by_device, by_pci) {
        _ if given.len() > 1 => None,
        _ if given.is_empty() => {
            let message = "missing `mac`, `device` or `pci`: say which link this is, by MAC \
                 address (mac = \"52:54:00:00:01:01\"), by the kernel's name (device = \"eth0\") \
                 or by PCI slot (pci = \"0000:01:00.0\")";
            ctx.report.error(&t.span(), t.path(), message);
            None
        }
        (Some(mac), _, _) => Some(LinkMatch::Mac(mac)),
        (_, Some(device), _) => Some(LinkMatch::Device(device)),
        (_, _, Some(pci)) => Some(LinkMatch::Pci(pci)),
        // The one given did not read (reported).
        _ => None,
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
                   kernel's name (device = \"eth0\") or by PCI slot (pci = \"0000:01:00.0\")",
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
                   name, mac, device, pci, addresses, mtu",
                ],
            ),
        ]);
    }
}
