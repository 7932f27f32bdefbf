//! Address strings of `router.toml`: MACs, CIDRs, IPs, `IP:port`, netmasks.
//!
//! Each parser returns the message the user sees when the text is wrong,
//! quoting the text and showing the expected shape. The caller adds file,
//! line, column and key path.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use super::error::quote;
use super::{Family, IpNet, MacAddr};

/// `52:54:00:00:01:01` (or with `-`): six pairs of hex digits. Multicast
/// addresses are refused, as no network card has one.
pub(super) fn parse_mac(text: &str) -> Result<MacAddr, String> {
    let q = quote(text);
    let bad =
        || format!("{q} is not a MAC address (expected six hex pairs like \"52:54:00:00:01:01\")");
    let separator = if text.contains('-') { '-' } else { ':' };
    let mut bytes = [0u8; 6];
    let mut parts = text.split(separator);
    for byte in &mut bytes {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if bytes[0] & 1 == 1 {
        return Err(format!(
            "{q} is a multicast address; a network card's MAC is unicast"
        ));
    }
    Ok(MacAddr(bytes))
}

/// An IPv4 or IPv6 address.
pub(super) fn parse_ip(text: &str) -> Result<IpAddr, String> {
    let q = quote(text);
    IpAddr::from_str(text).map_err(|_| format!("{q} is not an IP address"))
}

/// `192.168.1.1/24` or `2001:db8::1/64`: an address with its prefix length.
pub(super) fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let q = quote(text);
    let Some((addr, len)) = text.split_once('/') else {
        return Err(match IpAddr::from_str(text) {
            Ok(IpAddr::V4(_)) => {
                format!("{q} has no prefix length; write it like \"{text}/24\"")
            }
            Ok(IpAddr::V6(_)) => {
                format!("{q} has no prefix length; write it like \"{text}/64\"")
            }
            Err(_) => not_cidr(text),
        });
    };
    let addr = IpAddr::from_str(addr).map_err(|_| not_cidr(text))?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_cidr(text));
    }
    let max = max_prefix(Family::of(addr));
    match len.parse::<u8>() {
        Ok(prefix_len) if prefix_len <= max => Ok(IpNet { addr, prefix_len }),
        _ => Err(format!("{q}: prefix length {len} is longer than {max}")),
    }
}

fn not_cidr(text: &str) -> String {
    let q = quote(text);
    format!(
        "{q} is not an address with prefix length like \"192.168.1.1/24\" or \"2001:db8::1/64\""
    )
}

/// 32 for IPv4, 128 for IPv6.
pub(super) fn max_prefix(family: Family) -> u8 {
    match family {
        Family::Inet => 32,
        Family::Inet6 => 128,
    }
}

/// The subnet `net` lies in, host bits cleared: `192.168.1.7/24` gives
/// `192.168.1.0/24`.
pub(super) fn network(net: IpNet) -> IpNet {
    let addr = match net.addr {
        IpAddr::V4(v4) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(net.prefix_len))
                .unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(net.prefix_len))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    };
    IpNet {
        addr,
        prefix_len: net.prefix_len,
    }
}

/// `192.168.1.100:5432` or `[2001:db8::10]:5432`, port 1..=65535.
pub(super) fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    let q = quote(text);
    match SocketAddr::from_str(text) {
        Ok(addr) if addr.port() == 0 => Err(format!("{q}: port 0 is not a port; use 1..=65535")),
        Ok(addr) => Ok(addr),
        Err(_) => Err(match parse_bare_ip(text) {
            Some(IpAddr::V4(ip)) => {
                format!("{q} has no port; write it like \"{ip}:80\"")
            }
            Some(IpAddr::V6(ip)) => {
                format!("{q} has no port; write it like \"[{ip}]:80\"")
            }
            None => format!("{q} is not an IP address and port"),
        }),
    }
}

/// A real server of a firewall-mark service: `IP:port`, or a bare IP
/// (`192.168.3.2`, `2001:db8::2`, `[2001:db8::2]`) meaning port 0.
pub(super) fn parse_socket_addr_or_ip(text: &str) -> Result<SocketAddr, String> {
    let q = quote(text);
    if let Ok(addr) = SocketAddr::from_str(text) {
        return Ok(addr);
    }
    parse_bare_ip(text)
        .map(|ip| SocketAddr::new(ip, 0))
        .ok_or_else(|| format!("{q} is not an IP address (with or without a port)"))
}

/// `192.168.3.2`, `2001:db8::2` or `[2001:db8::2]`.
fn parse_bare_ip(text: &str) -> Option<IpAddr> {
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return Ipv6Addr::from_str(inner).ok().map(IpAddr::V6);
    }
    IpAddr::from_str(text).ok()
}

/// `ipvsadm -M`: a netmask as a prefix length. IPv4 takes a dotted mask
/// (`255.255.255.0`) or a length (`24`, `/24`); IPv6 a length (`64`, `/64`).
pub(super) fn parse_netmask(text: &str, family: Family) -> Result<u8, String> {
    let q = quote(text);
    let max = max_prefix(family);
    let digits = text.strip_prefix('/').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match digits.parse::<u8>() {
            Ok(len) if len <= max => Ok(len),
            _ => Err(format!("{q}: prefix length must be 0..={max}")),
        };
    }
    match (family, IpAddr::from_str(text)) {
        (Family::Inet, Ok(IpAddr::V4(mask))) => {
            let bits = u32::from(mask);
            let len = bits.leading_ones();
            if bits.checked_shl(len).unwrap_or(0) != 0 {
                return Err(format!(
                    "{q} is not a netmask: its one bits are not contiguous"
                ));
            }
            Ok(len as u8)
        }
        (Family::Inet, _) => Err(format!(
            "{q} is not a netmask like \"255.255.255.0\" or \"24\""
        )),
        (Family::Inet6, _) => Err(format!(
            "{q} is not an IPv6 prefix length like \"64\" or \"/64\""
        )),
    }
}

/// "IPv4" or "IPv6".
pub(super) fn family_name(family: Family) -> &'static str {
    match family {
        Family::Inet => "IPv4",
        Family::Inet6 => "IPv6",
    }
}

/// A real or sorry server's address: of a fwmark service, the port may be
/// left out.
pub(super) fn parse_server(is_fwmark: bool) -> fn(&str) -> Result<SocketAddr, String> {
    match is_fwmark {
        true => parse_socket_addr_or_ip,
        false => parse_socket_addr,
    }
}

/// `"10.0.0.0/8"`, `"default"` (IPv4) or `"default6"` (IPv6). Host bits
/// must be clear, as `ip route` requires.
pub(super) fn parse_destination(text: &str) -> Result<IpNet, String> {
    let net = match text {
        "default" => parse_cidr("0.0.0.0/0")?,
        "default6" => parse_cidr("::/0")?,
        _ => parse_cidr(text)?,
    };
    let subnet = network(net);
    if subnet != net {
        return Err(format!(
            "{text:?} has host bits set; the subnet is \"{subnet}\""
        ));
    }
    Ok(net)
}

/// This instance speaks VRRP for IPv4: its adverts list IPv4 addresses.
pub(super) fn ipv4_only(ip: IpAddr) -> Result<IpAddr, String> {
    match Family::of(ip) {
        Family::Inet => Ok(ip),
        Family::Inet6 => Err(format!(
            "{ip} is IPv6; this VRRP instance is IPv4 (VRRPv3 for IPv6 is not supported yet)"
        )),
    }
}

/// A PCI function as `lspci -D` and sysfs write it, `0000:01:00.0`
/// (domain, bus, slot, function), or without the domain, `01:00.0`
/// (domain 0): kept in the full, lower-case form.
pub(super) fn parse_pci(text: &str) -> Result<String, String> {
    let wrong = || {
        format!(
            "{} is not a PCI address; write it as `lspci -D` shows it, like \"0000:01:00.0\"",
            quote(text)
        )
    };
    let hex = |part: &str, digits: usize| {
        (part.len() == digits && part.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(part, 16).ok())
            .flatten()
    };
    let parts: Vec<&str> = text.split(':').collect();
    let (domain, bus, rest) = match parts.as_slice() {
        [domain, bus, rest] => (hex(domain, 4), hex(bus, 2), *rest),
        [bus, rest] => (Some(0), hex(bus, 2), *rest),
        _ => return Err(wrong()),
    };
    let (slot, function) = rest.split_once('.').ok_or_else(wrong)?;
    match (domain, bus, hex(slot, 2), hex(function, 1)) {
        (Some(d), Some(b), Some(s), Some(f)) if s <= 0x1f && f <= 7 => {
            Ok(format!("{d:04x}:{b:02x}:{s:02x}.{f}"))
        }
        _ => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("52:54:00:00:01:0A"),
            Ok(MacAddr([0x52, 0x54, 0, 0, 1, 0x0a]))
        );
        assert_eq!(
            parse_mac("52-54-00-00-01-0a"),
            Ok(MacAddr([0x52, 0x54, 0, 0, 1, 0x0a]))
        );
        let bad = " is not a MAC address (expected six hex pairs like \"52:54:00:00:01:01\")";
        for text in [
            "",
            "52:54:00:00:01",
            "52:54:00:00:01:01:02",
            "52:54:00:00:1:01",
            "52:54:00:00:01:0g",
            "52:54:00-00:01:01",
            "+2:54:00:00:01:01",
        ] {
            assert_eq!(parse_mac(text), Err(format!("{text:?}{bad}")), "{text}");
        }
        assert_eq!(
            parse_mac("01:00:5e:00:00:01"),
            Err(
                "\"01:00:5e:00:00:01\" is a multicast address; a network card's MAC is unicast"
                    .into()
            )
        );
    }

    #[test]
    fn cidrs() {
        let net = |a: &str, l| IpNet {
            addr: a.parse().unwrap(),
            prefix_len: l,
        };
        assert_eq!(parse_cidr("192.168.1.1/24"), Ok(net("192.168.1.1", 24)));
        assert_eq!(parse_cidr("2001:db8::1/64"), Ok(net("2001:db8::1", 64)));
        assert_eq!(parse_cidr("0.0.0.0/0"), Ok(net("0.0.0.0", 0)));
        assert_eq!(
            parse_cidr("192.168.1.1"),
            Err("\"192.168.1.1\" has no prefix length; write it like \"192.168.1.1/24\"".into())
        );
        assert_eq!(
            parse_cidr("2001:db8::1"),
            Err("\"2001:db8::1\" has no prefix length; write it like \"2001:db8::1/64\"".into())
        );
        assert_eq!(
            parse_cidr("192.168.1.1/33"),
            Err("\"192.168.1.1/33\": prefix length 33 is longer than 32".into())
        );
        assert_eq!(
            parse_cidr("2001:db8::1/129"),
            Err("\"2001:db8::1/129\": prefix length 129 is longer than 128".into())
        );
        for text in [
            "192.168.1/24",
            "x/24",
            "192.168.1.1/",
            "192.168.1.1/+4",
            "lan",
        ] {
            assert_eq!(
                parse_cidr(text),
                Err(format!(
                    "{text:?} is not an address with prefix length like \"192.168.1.1/24\" or \"2001:db8::1/64\""
                ))
            );
        }
    }

    #[test]
    fn networks() {
        let n = |t: &str| parse_cidr(t).unwrap();
        assert_eq!(network(n("192.168.1.7/24")), n("192.168.1.0/24"));
        assert_eq!(network(n("192.168.1.7/32")), n("192.168.1.7/32"));
        assert_eq!(network(n("192.168.1.7/0")), n("0.0.0.0/0"));
        assert_eq!(network(n("2001:db8::1/64")), n("2001:db8::/64"));
        assert_eq!(network(n("2001:db8::1/0")), n("::/0"));
    }

    #[test]
    fn socket_addrs() {
        assert_eq!(
            parse_socket_addr("192.168.1.100:5432"),
            Ok("192.168.1.100:5432".parse().unwrap())
        );
        assert_eq!(
            parse_socket_addr("[2001:db8::10]:5432"),
            Ok("[2001:db8::10]:5432".parse().unwrap())
        );
        assert_eq!(
            parse_socket_addr("192.168.3.300:5432"),
            Err("\"192.168.3.300:5432\" is not an IP address and port".into())
        );
        assert_eq!(
            parse_socket_addr("192.168.3.3:65536"),
            Err("\"192.168.3.3:65536\" is not an IP address and port".into())
        );
        assert_eq!(
            parse_socket_addr("192.168.3.3"),
            Err("\"192.168.3.3\" has no port; write it like \"192.168.3.3:80\"".into())
        );
        assert_eq!(
            parse_socket_addr("2001:db8::3"),
            Err("\"2001:db8::3\" has no port; write it like \"[2001:db8::3]:80\"".into())
        );
        assert_eq!(
            parse_socket_addr("192.168.3.3:0"),
            Err("\"192.168.3.3:0\": port 0 is not a port; use 1..=65535".into())
        );
    }

    #[test]
    fn socket_addrs_or_ips() {
        let sa = |t: &str| t.parse::<SocketAddr>().unwrap();
        assert_eq!(parse_socket_addr_or_ip("10.0.0.1"), Ok(sa("10.0.0.1:0")));
        assert_eq!(
            parse_socket_addr_or_ip("10.0.0.1:80"),
            Ok(sa("10.0.0.1:80"))
        );
        assert_eq!(
            parse_socket_addr_or_ip("2001:db8::2"),
            Ok(sa("[2001:db8::2]:0"))
        );
        assert_eq!(
            parse_socket_addr_or_ip("[2001:db8::2]"),
            Ok(sa("[2001:db8::2]:0"))
        );
        assert_eq!(
            parse_socket_addr_or_ip("[2001:db8::2]:8080"),
            Ok(sa("[2001:db8::2]:8080"))
        );
        assert_eq!(
            parse_socket_addr_or_ip("[10.0.0.1]"),
            Err("\"[10.0.0.1]\" is not an IP address (with or without a port)".into())
        );
    }

    #[test]
    fn netmasks() {
        assert_eq!(parse_netmask("255.255.255.0", Family::Inet), Ok(24));
        assert_eq!(parse_netmask("255.255.255.255", Family::Inet), Ok(32));
        assert_eq!(parse_netmask("0.0.0.0", Family::Inet), Ok(0));
        assert_eq!(parse_netmask("/16", Family::Inet), Ok(16));
        assert_eq!(parse_netmask("64", Family::Inet6), Ok(64));
        assert_eq!(parse_netmask("/128", Family::Inet6), Ok(128));
        assert_eq!(
            parse_netmask("255.0.255.0", Family::Inet),
            Err("\"255.0.255.0\" is not a netmask: its one bits are not contiguous".into())
        );
        assert_eq!(
            parse_netmask("33", Family::Inet),
            Err("\"33\": prefix length must be 0..=32".into())
        );
        assert_eq!(
            parse_netmask("/129", Family::Inet6),
            Err("\"/129\": prefix length must be 0..=128".into())
        );
        assert_eq!(
            parse_netmask("ffff:ffff::", Family::Inet6),
            Err("\"ffff:ffff::\" is not an IPv6 prefix length like \"64\" or \"/64\"".into())
        );
        assert_eq!(
            parse_netmask("255.255.255.0/", Family::Inet),
            Err("\"255.255.255.0/\" is not a netmask like \"255.255.255.0\" or \"24\"".into())
        );
    }
}
