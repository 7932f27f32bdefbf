//! `[[route]]`: static routes, as `ip route add` takes them.

use super::addr::{family_name, parse_destination, parse_ip};
use super::names::check_ifname;
use super::walk::{Ctx, Field, Table, checked, int, string};
use super::{Family, Route};

/// Read one `[[route]]`; `None` (with diagnostics) when anything is wrong.
/// Whether `device` names a configured interface is checked later, in
/// `validate.rs`, once every interface is known.
pub(super) fn read_route(ctx: &mut Ctx, item: &Field<'_, '_>) -> Option<Route> {
    let mut t = Table::new(ctx, item, "a table")?;
    let help = "a subnet like \"10.0.0.0/8\", or \"default\"";
    let destination = t.req(ctx, "destination", help, string(parse_destination));
    let (gateway_field, gateway) = t.opt_field(ctx, "gateway", string(parse_ip));
    if let (Some(dest), Some(gw), Some(f)) = (destination, gateway, &gateway_field)
        && Family::of(dest.addr) != Family::of(gw)
    {
        let hint = match dest.prefix_len == 0 && gw.is_ipv6() {
            true => "; for the IPv6 default route write destination = \"default6\"",
            false => "",
        };
        let gw_family = family_name(Family::of(gw));
        let dest_family = family_name(Family::of(dest.addr));
        let message =
            format!("{gw} is {gw_family} but the destination {dest} is {dest_family}{hint}");
        ctx.error(f, message);
    }
    let (device_field, device) = t.opt_field(ctx, "device", checked(check_ifname));
    if gateway_field.is_none() && device_field.is_none() {
        let message = "a route needs a `gateway`, a `device`, or both";
        ctx.report.error(&t.span(), t.path(), message);
    }
    let metric = t.opt(ctx, "metric", int(0, u32::MAX));
    let table = t.opt(ctx, "table", int(1, u32::MAX));
    t.finish(ctx)?;
    Some(Route {
        destination: destination?,
        gateway,
        device,
        metric,
        table,
    })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::super::addr::parse_cidr;
    use super::super::test_support::{errors, warnings};
    use super::super::{IpNet, load};
    use super::*;

    fn net(text: &str) -> IpNet {
        parse_cidr(text).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    const WAN: &str = "[[interface]]\nname = \"wan\"\nmac = \"52:54:00:00:01:01\"\naddresses = [\"192.168.1.1/24\"]\n";
    #[test]
    fn routes() {
        let text = format!(
            "{WAN}[[route]]\ndestination = \"default\"\ngateway = \"192.168.1.254\"\n\
             [[route]]\ndestination = \"10.1.0.0/16\"\ndevice = \"wan\"\nmetric = 0\ntable = 4294967295\n\
             [[route]]\ndestination = \"default6\"\ngateway = \"fe80::1\"\ndevice = \"wan\"\n"
        );
        let (config, warnings) = load("router.toml", &text).unwrap();
        assert_eq!(warnings, []);
        assert_eq!(
            config.routes,
            [
                Route {
                    destination: net("0.0.0.0/0"),
                    gateway: Some(ip("192.168.1.254")),
                    device: None,
                    metric: None,
                    table: None,
                },
                Route {
                    destination: net("10.1.0.0/16"),
                    gateway: None,
                    device: Some("wan".into()),
                    metric: Some(0),
                    table: Some(u32::MAX),
                },
                Route {
                    destination: net("::/0"),
                    gateway: Some(ip("fe80::1")),
                    device: Some("wan".into()),
                    metric: None,
                    table: None,
                },
            ]
        );
        // WAN takes lines 1 to 4; each [[route]] below starts on line 5.
        let cases: &[(&str, &[&str])] = &[
            (
                "destination = \"default\"\ndevice = \"wan2\"\n",
                &[
                    "router.toml:7:10: error: route[0].device: \"wan2\" is not the name of any \
                   [[interface]] (configured: wan)",
                ],
            ),
            (
                "destination = \"10.1.2.3/16\"\ndevice = \"wan\"\n",
                &[
                    "router.toml:6:15: error: route[0].destination: \"10.1.2.3/16\" has host bits \
                   set; the subnet is \"10.1.0.0/16\"",
                ],
            ),
            (
                "destination = \"default\"\ngateway = \"2001:db8::1\"\n",
                &[
                    "router.toml:7:11: error: route[0].gateway: 2001:db8::1 is IPv6 but the \
                   destination 0.0.0.0/0 is IPv4; for the IPv6 default route write \
                   destination = \"default6\"",
                ],
            ),
            (
                "destination = \"default\"\n",
                &[
                    "router.toml:5:1: error: route[0]: a route needs a `gateway`, a `device`, or both",
                ],
            ),
            (
                "gateway = \"192.168.1.254\"\n",
                &[
                    "router.toml:5:1: error: route[0].destination: missing key `destination`; \
                   a subnet like \"10.0.0.0/8\", or \"default\"",
                ],
            ),
            (
                "destination = \"default\"\ndevice = \"wan\"\ntable = 0\nmetric = -1\n",
                &[
                    "router.toml:8:9: error: route[0].table: 0 is out of range; expected 1..=4294967295",
                    "router.toml:9:10: error: route[0].metric: -1 is out of range; expected 0..=4294967295",
                ],
            ),
            (
                "destination = \"default\"\ndevice = \"wan\"\n[[route]]\ndestination = \"0.0.0.0/0\"\ngateway = \"192.168.1.254\"\n",
                &[
                    "router.toml:9:15: error: route[1].destination: route[0] already has destination \
                   0.0.0.0/0, the same table and the same metric",
                ],
            ),
        ];
        for (route, expected) in cases {
            assert_eq!(
                &errors(&format!("{WAN}[[route]]\n{route}")),
                expected,
                "for {route}"
            );
        }
    }
    #[test]
    fn gateway_outside_every_subnet_is_a_warning() {
        let lan = "[[interface]]\nname = \"lan\"\nmac = \"52:54:00:00:03:01\"\naddresses = [\"192.168.3.1/24\"]\n";
        assert_eq!(
            warnings(&format!(
                "{WAN}{lan}[[route]]\ndestination = \"10.0.0.0/8\"\ngateway = \"192.168.9.1\"\n"
            )),
            [
                "router.toml:11:11: warning: route[0].gateway: 192.168.9.1 is not in any configured \
              subnet (wan 192.168.1.0/24, lan 192.168.3.0/24); the kernel refuses a gateway it \
              cannot reach directly"
            ]
        );
        assert_eq!(
            warnings(&format!(
                "{WAN}{lan}[[route]]\ndestination = \"10.0.0.0/8\"\ngateway = \"192.168.3.254\"\ndevice = \"wan\"\n"
            )),
            [
                "router.toml:11:11: warning: route[0].gateway: 192.168.3.254 is not in a subnet of \
              \"wan\" (wan 192.168.1.0/24); the kernel refuses a gateway it cannot reach directly"
            ]
        );
        // A rejected file reports its errors only.
        assert_eq!(
            errors(&format!(
                "{WAN}[[route]]\ndestination = \"10.0.0.0/8\"\ngateway = \"192.168.9.1\"\n\
                 [[route]]\ndestination = \"default\"\ndevice = \"wan\"\nmetric = \"x\"\n"
            )),
            ["router.toml:11:10: error: route[1].metric: expected an integer, found a string"]
        );
    }
}
