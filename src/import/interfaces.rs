//! `--interface NAME=CIDR[,CIDR...]`: the box's own addresses, which
//! neither keepalived.conf nor ipvsadm rules say, and the `[[interface]]`
//! tables made of them.

use std::net::IpAddr;

use crate::config::IpNet;

use super::Warnings;
use super::model::{Doc, InterfaceOut};

/// One `--interface`: an interface by the source's name for it, and the
/// addresses this box holds on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenInterface {
    pub name: String,
    pub addresses: Vec<IpNet>,
}

impl GivenInterface {
    /// Parse `eth0=192.168.1.2/24,2001:db8::2/64`. Every address needs its
    /// prefix length: the box's own subnets decide what it reaches.
    pub fn parse(text: &str) -> Result<GivenInterface, String> {
        let Some((name, list)) = text.split_once('=') else {
            return Err(format!(
                "--interface {text:?}: expected NAME=CIDR[,CIDR...], like eth0=192.168.1.2/24"
            ));
        };
        if name.is_empty()
            || name.len() > 15
            || name.contains(['/', ':'])
            || name.contains(char::is_whitespace)
        {
            return Err(format!(
                "--interface {text:?}: {name:?} is not an interface name (1 to 15 characters, no '/', ':' or spaces)"
            ));
        }
        let addresses = list
            .split(',')
            .filter(|a| !a.is_empty())
            .map(|a| parse_cidr(a).ok_or_else(|| format!("--interface {text:?}: {a:?} is not an address with a prefix length, like 192.168.1.2/24")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GivenInterface {
            name: name.to_string(),
            addresses,
        })
    }
}

/// `192.168.1.2/24` or `2001:db8::2/64`.
pub fn parse_cidr(text: &str) -> Option<IpNet> {
    let (addr, len) = text.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix_len: u8 = len.parse().ok()?;
    let width = if addr.is_ipv4() { 32 } else { 128 };
    (prefix_len <= width).then_some(IpNet { addr, prefix_len })
}

/// An `[[interface]]` for every interface the source names and every one
/// given; a named one without `--interface` gets no addresses, a comment
/// and a warning (check then fails on it, and only on it).
pub fn attach(doc: &mut Doc, given: &[GivenInterface], warnings: &mut Warnings) {
    for (name, origin) in doc.named_interfaces.clone() {
        let mut out = InterfaceOut {
            name: name.clone(),
            addresses: Vec::new(),
            notes: vec![format!("{origin} (first named here)")],
        };
        match given.iter().find(|g| g.name == name) {
            Some(g) => {
                out.addresses = g.addresses.clone();
                out.notes
                    .push(format!("addresses: from --interface {name}=..."));
            }
            None => {
                let message = format!(
                    "this box's own address on {name} is not in the source; give it with --interface {name}=CIDR"
                );
                out.notes.push(warnings.left_out(&origin, &name, message));
            }
        }
        doc.interfaces.push(out);
    }
    for g in given {
        if doc.interfaces.iter().any(|i| i.name == g.name) {
            continue;
        }
        doc.interfaces.push(InterfaceOut {
            name: g.name.clone(),
            addresses: g.addresses.clone(),
            notes: vec![format!("from --interface {}=...", g.name)],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_addresses() {
        let g = GivenInterface::parse("eth0=192.168.1.2/24,2001:db8::2/64").unwrap();
        assert_eq!(g.name, "eth0");
        assert_eq!(
            g.addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["192.168.1.2/24", "2001:db8::2/64"]
        );
        for bad in [
            "eth0",
            "=1.2.3.4/24",
            "eth0=1.2.3.4",
            "eth0=1.2.3.4/33",
            "averyveryverylongname=1.2.3.4/8",
        ] {
            assert!(GivenInterface::parse(bad).is_err(), "{bad}");
        }
    }
}
