//! `[[interface]]`: which link (by `mac` or kernel `device` name), the
//! name it is renamed to, its addresses and MTU.

use super::addr::{parse_cidr, parse_mac};
use super::names::check_ifname;
use super::walk::{Ctx, Field, Path, Table, array_of, checked, int, string};
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
    let matcher = match (&mac, &device) {
        (Some(_), Some(device)) => {
            ctx.key_error(device, "give either `mac` or `device`, not both");
            None
        }
        (None, None) => {
            let message = "missing `mac` or `device`: say which link this is, by MAC address \
                 (mac = \"52:54:00:00:01:01\") or by the kernel's name (device = \"eth0\")";
            ctx.report.error(&t.span(), t.path(), message);
            None
        }
        (Some(_), None) => by_mac.map(LinkMatch::Mac),
        (None, Some(_)) => by_device.map(LinkMatch::Device),
    };
    let expected = "an array of strings like [\"192.168.1.1/24\"]";
    let listed = |net: &IpNet, earlier: &[IpNet], path: &Path<'_>| {
        let i = earlier.iter().position(|a| a.addr == net.addr)?;
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
                "[[interface]]\nname = \"wan\"\nmac = \"52:54:00:00:01:01\"\ndevice = \"eth0\"\n",
                &[
                    "router.toml:4:1: error: interface[0].device: give either `mac` or `device`, not both",
                ],
            ),
            (
                "[[interface]]\nname = \"wan\"\n",
                &[
                    "router.toml:1:1: error: interface[0]: missing `mac` or `device`: say which link \
                   this is, by MAC address (mac = \"52:54:00:00:01:01\") or by the kernel's name \
                   (device = \"eth0\")",
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
                   name, mac, device, addresses, mtu",
                ],
            ),
        ]);
    }
}
