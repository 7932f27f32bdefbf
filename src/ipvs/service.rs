//! A virtual service as the kernel sees it, and its nested
//! `IPVS_CMD_ATTR_SERVICE` attribute both ways.
//!
//! Encoding follows `ip_vs_genl_parse_service()`: the identifying part is
//! `AF` plus either `FWMARK` or `PROTOCOL`+`ADDR`+`PORT`; adding or editing
//! a service also needs `SCHED_NAME`, `FLAGS`, `TIMEOUT` and `NETMASK`.
//! Addresses go out at their exact size (4 or 16 bytes; the kernel
//! zero-fills the rest of its `union nf_inet_addr`) and come back as 16.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::IpvsError;
use super::attr::{
    AF_INET, AF_INET6, Attr, Attrs, CMD_ATTR_SERVICE, SVC_ATTR_ADDR, SVC_ATTR_AF, SVC_ATTR_FLAGS,
    SVC_ATTR_FWMARK, SVC_ATTR_NETMASK, SVC_ATTR_PE_NAME, SVC_ATTR_PORT, SVC_ATTR_PROTOCOL,
    SVC_ATTR_SCHED_NAME, SVC_ATTR_STATS, SVC_ATTR_STATS64, SVC_ATTR_TIMEOUT, SVC_F_PERSISTENT,
    SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3, SVC_F_USER_MASK,
};
use super::dest::DestEntry;
use super::stats::Stats;
use crate::config::{Family, Protocol, ServiceKey};

/// A virtual service's settings, in the kernel's terms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VirtualService {
    /// What identifies it: protocol + address + port, or firewall mark.
    pub key: ServiceKey,
    /// Scheduler name (`rr`, `wlc`, ...; the kernel reports `none` for none).
    pub scheduler: String,
    /// `IP_VS_SVC_F_*` flags a user sets: persistent, one-packet, scheduler
    /// flags 1-3. The kernel's own bits (`HASHED`) are dropped on decode.
    pub flags: u32,
    /// Persistence timeout in seconds (meaningful with `SVC_F_PERSISTENT`).
    pub timeout: u32,
    /// Persistence granularity. IPv4: the mask as a number
    /// (`255.255.255.0` is `0xffff_ff00`); IPv6: the prefix length.
    pub netmask: u32,
    /// Persistence engine (`--pe sip`); we never set one.
    pub pe_name: Option<String>,
}

impl VirtualService {
    /// True when `-p` is on.
    pub fn persistent(&self) -> bool {
        self.flags & SVC_F_PERSISTENT != 0
    }

    /// The netmask the kernel uses when none is given: `/32` or `/128`.
    pub fn default_netmask(family: Family) -> u32 {
        match family {
            Family::Inet => 0xffff_ffff,
            Family::Inet6 => 128,
        }
    }

    /// The netmask for a persistence prefix length, in this module's form
    /// (see [`VirtualService::netmask`]).
    pub fn netmask_from_prefix(family: Family, prefix: u8) -> u32 {
        match family {
            Family::Inet => match prefix.min(32) {
                0 => 0,
                p => u32::MAX << (32 - u32::from(p)),
            },
            Family::Inet6 => u32::from(prefix.min(128)),
        }
    }

    /// The same service with what has no effect wiped: only user flags,
    /// and timeout and netmask at their defaults when not persistent.
    /// Two services that normalise equal behave the same.
    pub fn normalized(&self) -> VirtualService {
        let mut s = self.clone();
        s.flags &= SVC_F_USER_MASK;
        if !s.persistent() {
            s.timeout = 0;
            s.netmask = VirtualService::default_netmask(s.key.family());
        }
        s
    }

    /// The scheduler flags by the names `ipvsadm -b` takes, in ipvsadm's
    /// order: `sh-fallback`/`sh-port` for sh, `mh-fallback`/`mh-port` for
    /// mh, `flag-N` otherwise.
    pub fn sched_flag_names(&self) -> Vec<&'static str> {
        let names: [&'static str; 3] = match self.scheduler.as_str() {
            "sh" => ["sh-fallback", "sh-port", "flag-3"],
            "mh" => ["mh-fallback", "mh-port", "flag-3"],
            _ => ["flag-1", "flag-2", "flag-3"],
        };
        [SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3]
            .into_iter()
            .zip(names)
            .filter(|(bit, _)| self.flags & bit != 0)
            .map(|(_, name)| name)
            .collect()
    }

    /// The full `IPVS_CMD_ATTR_SERVICE` nest, for adding or editing.
    pub(crate) fn full_attr(&self) -> Attr {
        let mut attrs = key_attrs(&self.key);
        attrs.push(Attr::Str(SVC_ATTR_SCHED_NAME, self.scheduler.clone()));
        if let Some(pe) = &self.pe_name {
            attrs.push(Attr::Str(SVC_ATTR_PE_NAME, pe.clone()));
        }
        // struct ip_vs_flags { u32 flags; u32 mask; }: mask ~0 sets every bit
        // to what we say, as ipvsadm does.
        let mut flags = Vec::with_capacity(8);
        flags.extend_from_slice(&self.flags.to_ne_bytes());
        flags.extend_from_slice(&u32::MAX.to_ne_bytes());
        attrs.push(Attr::Bytes(SVC_ATTR_FLAGS, flags));
        attrs.push(Attr::U32(SVC_ATTR_TIMEOUT, self.timeout));
        attrs.push(match self.key.family() {
            // The kernel copies an IPv4 mask raw (`__be32`).
            Family::Inet => Attr::Bytes(SVC_ATTR_NETMASK, self.netmask.to_be_bytes().to_vec()),
            // For IPv6 it reads the prefix length as a plain u32.
            Family::Inet6 => Attr::U32(SVC_ATTR_NETMASK, self.netmask),
        });
        Attr::Nested(CMD_ATTR_SERVICE, attrs)
    }

    /// Decode the value of an `IPVS_CMD_ATTR_SERVICE` nest from a dump.
    pub(crate) fn decode(nest: &[u8]) -> Result<ServiceEntry, IpvsError> {
        let a = Attrs::parse("IPVS_CMD_ATTR_SERVICE", nest)?;
        let family = family_of(a.u16(SVC_ATTR_AF, "AF")?)?;
        let key = match a.get(SVC_ATTR_FWMARK) {
            Some(v) => ServiceKey::Fwmark {
                mark: u32::from_ne_bytes(a.fixed(v, "FWMARK")?),
                family,
            },
            None => {
                let number = a.u16(SVC_ATTR_PROTOCOL, "PROTOCOL")?;
                let protocol = protocol_of(number)?;
                let ip = addr_of(family, a.require(SVC_ATTR_ADDR, "ADDR")?)?;
                let port = a.be16(SVC_ATTR_PORT, "PORT")?;
                ServiceKey::Addr {
                    protocol,
                    address: SocketAddr::new(ip, port),
                }
            }
        };
        let flags_value = a.require(SVC_ATTR_FLAGS, "FLAGS")?;
        let raw: [u8; 8] = a.fixed(flags_value, "FLAGS")?;
        let flags = u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let mask = u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]);
        let netmask_value = a.require(SVC_ATTR_NETMASK, "NETMASK")?;
        let netmask_raw: [u8; 4] = a.fixed(netmask_value, "NETMASK")?;
        let netmask = match family {
            Family::Inet => u32::from_be_bytes(netmask_raw),
            Family::Inet6 => u32::from_ne_bytes(netmask_raw),
        };
        let pe_name = match a.get(SVC_ATTR_PE_NAME) {
            Some(_) => Some(a.string(SVC_ATTR_PE_NAME, "PE_NAME")?).filter(|s| !s.is_empty()),
            None => None,
        };
        let service = VirtualService {
            key,
            scheduler: a.string(SVC_ATTR_SCHED_NAME, "SCHED_NAME")?,
            flags: flags & mask & SVC_F_USER_MASK,
            timeout: a.u32(SVC_ATTR_TIMEOUT, "TIMEOUT")?,
            netmask,
            pe_name,
        };
        let stats = Stats::from_nests(a.get(SVC_ATTR_STATS64), a.get(SVC_ATTR_STATS))?;
        Ok(ServiceEntry {
            service,
            dests: Vec::new(),
            stats,
        })
    }
}

/// One virtual service read back from the kernel, with its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub service: VirtualService,
    pub dests: Vec<DestEntry>,
    pub stats: Stats,
}

/// The `IPVS_CMD_ATTR_SERVICE` nest naming a service (no settings): what
/// deleting it, and every real-server request, needs.
pub(crate) fn key_attr(key: &ServiceKey) -> Attr {
    Attr::Nested(CMD_ATTR_SERVICE, key_attrs(key))
}

fn key_attrs(key: &ServiceKey) -> Vec<Attr> {
    let mut attrs = vec![Attr::U16(SVC_ATTR_AF, af_of(key.family()))];
    match key {
        ServiceKey::Fwmark { mark, .. } => attrs.push(Attr::U32(SVC_ATTR_FWMARK, *mark)),
        ServiceKey::Addr { protocol, address } => {
            attrs.push(Attr::U16(SVC_ATTR_PROTOCOL, protocol.number()));
            attrs.push(Attr::Bytes(SVC_ATTR_ADDR, addr_bytes(address.ip())));
            attrs.push(Attr::Bytes(
                SVC_ATTR_PORT,
                address.port().to_be_bytes().to_vec(),
            ));
        }
    }
    attrs
}

/// `AF_INET`/`AF_INET6` for a family.
pub(crate) fn af_of(family: Family) -> u16 {
    match family {
        Family::Inet => AF_INET,
        Family::Inet6 => AF_INET6,
    }
}

/// The family of a kernel `AF_*` number.
pub(crate) fn family_of(af: u16) -> Result<Family, IpvsError> {
    match af {
        AF_INET => Ok(Family::Inet),
        AF_INET6 => Ok(Family::Inet6),
        other => Err(IpvsError::Malformed(format!(
            "unknown address family {other}"
        ))),
    }
}

fn protocol_of(number: u16) -> Result<Protocol, IpvsError> {
    [Protocol::Tcp, Protocol::Udp, Protocol::Sctp]
        .into_iter()
        .find(|p| p.number() == number)
        .ok_or_else(|| IpvsError::Malformed(format!("unknown IP protocol {number}")))
}

/// An address at its exact size: 4 or 16 bytes.
pub(crate) fn addr_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// An address from the kernel's `union nf_inet_addr` bytes.
pub(crate) fn addr_of(family: Family, bytes: &[u8]) -> Result<IpAddr, IpvsError> {
    let short = || IpvsError::Malformed(format!("address of {} bytes", bytes.len()));
    match family {
        Family::Inet => {
            let b: [u8; 4] = bytes
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(short)?;
            Ok(IpAddr::V4(Ipv4Addr::from(b)))
        }
        Family::Inet6 => {
            let b: [u8; 16] = bytes
                .get(..16)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(short)?;
            Ok(IpAddr::V6(Ipv6Addr::from(b)))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ipvs::attr::{SVC_F_HASHED, emit_all};
    use crate::ipvs::stats::tests::{stats32_bytes, stats64_bytes};

    pub(crate) fn tcp(addr: &str) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            address: addr.parse().unwrap(),
        }
    }

    pub(crate) fn service(key: ServiceKey, scheduler: &str) -> VirtualService {
        VirtualService {
            key,
            scheduler: scheduler.into(),
            flags: 0,
            timeout: 0,
            netmask: VirtualService::default_netmask(key.family()),
            pe_name: None,
        }
    }

    #[test]
    fn netmask_from_prefix() {
        let cases = [
            (Family::Inet, 24, 0xffff_ff00),
            (Family::Inet, 32, 0xffff_ffff),
            (Family::Inet, 0, 0),
            (Family::Inet, 1, 0x8000_0000),
            (Family::Inet6, 64, 64),
            (Family::Inet6, 128, 128),
        ];
        for (family, prefix, want) in cases {
            assert_eq!(
                VirtualService::netmask_from_prefix(family, prefix),
                want,
                "{family:?}/{prefix}"
            );
        }
    }

    #[test]
    fn sched_flag_names_follow_the_scheduler() {
        let cases = [
            (
                "sh",
                SVC_F_SCHED1 | SVC_F_SCHED2,
                vec!["sh-fallback", "sh-port"],
            ),
            ("mh", SVC_F_SCHED2, vec!["mh-port"]),
            ("mh", SVC_F_SCHED1 | SVC_F_PERSISTENT, vec!["mh-fallback"]),
            ("rr", SVC_F_SCHED3, vec!["flag-3"]),
            ("sh", 0, vec![]),
        ];
        for (sched, flags, want) in cases {
            let mut s = service(tcp("10.0.0.1:80"), sched);
            s.flags = flags;
            assert_eq!(s.sched_flag_names(), want, "{sched} {flags:#x}");
        }
    }

    #[test]
    fn normalized_drops_kernel_bits_and_unused_persistence() {
        let mut s = service(tcp("10.0.0.1:80"), "rr");
        s.flags = SVC_F_HASHED | SVC_F_SCHED1;
        s.timeout = 300;
        s.netmask = 0xffff_ff00;
        let n = s.normalized();
        assert_eq!(n.flags, SVC_F_SCHED1);
        assert_eq!(n.timeout, 0);
        assert_eq!(n.netmask, 0xffff_ffff);

        let mut p = service(tcp("10.0.0.1:80"), "rr");
        p.flags = SVC_F_PERSISTENT | SVC_F_HASHED;
        p.timeout = 300;
        p.netmask = 0xffff_ff00;
        let n = p.normalized();
        assert_eq!(
            (n.flags, n.timeout, n.netmask),
            (SVC_F_PERSISTENT, 300, 0xffff_ff00)
        );
    }

    /// A service nest as `ip_vs_genl_fill_service` builds it for
    /// TCP 192.168.1.100:5432 rr, hashed, with stats.
    #[cfg(target_endian = "little")]
    #[test]
    fn decode_service_as_the_kernel_sends_it() {
        let mut nest = Vec::new();
        nest.extend([6, 0, 1, 0, 2, 0, 0, 0]); // AF = AF_INET
        nest.extend([6, 0, 2, 0, 6, 0, 0, 0]); // PROTOCOL = 6
        nest.extend([20, 0, 3, 0, 192, 168, 1, 100]); // ADDR: 16 bytes of union
        nest.extend([0; 12]);
        nest.extend([6, 0, 4, 0, 0x15, 0x38, 0, 0]); // PORT 5432 big-endian
        nest.extend([7, 0, 6, 0, b'r', b'r', 0, 0]); // SCHED_NAME "rr"
        nest.extend([12, 0, 7, 0, 0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]); // FLAGS persistent|hashed, mask ~0
        nest.extend([8, 0, 8, 0, 0x2c, 0x01, 0, 0]); // TIMEOUT 300
        nest.extend([8, 0, 9, 0, 0xff, 0xff, 0xff, 0x00]); // NETMASK 255.255.255.0 (be)
        let s32 = stats32_bytes([7, 70, 60, 7000, 6000, 1, 2, 3, 4, 5]);
        nest.extend(((4 + s32.len()) as u16).to_ne_bytes());
        nest.extend(10u16.to_ne_bytes()); // STATS, kernel uses no NESTED flag
        nest.extend(&s32);
        let s64 = stats64_bytes([7, 70, 60, 7000, 6000, 1, 2, 3, 4, 5]);
        nest.extend(((4 + s64.len()) as u16).to_ne_bytes());
        nest.extend(12u16.to_ne_bytes()); // STATS64
        nest.extend(&s64);

        let entry = VirtualService::decode(&nest).unwrap();
        let mut want = service(tcp("192.168.1.100:5432"), "rr");
        want.flags = SVC_F_PERSISTENT; // HASHED dropped
        want.timeout = 300;
        want.netmask = 0xffff_ff00;
        assert_eq!(entry.service, want);
        assert_eq!(entry.stats.conns, 7);
        assert_eq!(entry.stats.inbytes, 7000);
        assert_eq!(entry.stats.outbps, 5);
        assert!(entry.dests.is_empty());
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn decode_fwmark_v6_service() {
        let nest = emit_all(&[
            Attr::U16(SVC_ATTR_AF, 10),
            Attr::U32(SVC_ATTR_FWMARK, 7),
            Attr::Str(SVC_ATTR_SCHED_NAME, "sh".into()),
            Attr::Bytes(SVC_ATTR_FLAGS, vec![0x0a, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
            Attr::U32(SVC_ATTR_TIMEOUT, 0),
            Attr::U32(SVC_ATTR_NETMASK, 128),
        ]);
        let entry = VirtualService::decode(&nest).unwrap();
        assert_eq!(
            entry.service.key,
            ServiceKey::Fwmark {
                mark: 7,
                family: Family::Inet6
            }
        );
        assert_eq!(entry.service.flags, SVC_F_SCHED1); // HASHED (0x2) dropped
        assert_eq!(entry.service.netmask, 128);
        assert_eq!(entry.stats, Stats::default());
    }

    #[test]
    fn decode_rejects_what_it_cannot_read() {
        let cases: Vec<(&str, Vec<Attr>, &str)> = vec![
            ("no AF", vec![Attr::U32(SVC_ATTR_FWMARK, 1)], "no AF"),
            (
                "unknown family",
                vec![Attr::U16(SVC_ATTR_AF, 7), Attr::U32(SVC_ATTR_FWMARK, 1)],
                "address family 7",
            ),
            (
                "unknown protocol",
                vec![
                    Attr::U16(SVC_ATTR_AF, 2),
                    Attr::U16(SVC_ATTR_PROTOCOL, 1),
                    Attr::Bytes(SVC_ATTR_ADDR, vec![1, 2, 3, 4]),
                    Attr::Bytes(SVC_ATTR_PORT, vec![0, 80]),
                ],
                "IP protocol 1",
            ),
            (
                "short address",
                vec![
                    Attr::U16(SVC_ATTR_AF, 10),
                    Attr::U16(SVC_ATTR_PROTOCOL, 6),
                    Attr::Bytes(SVC_ATTR_ADDR, vec![1, 2, 3, 4]),
                    Attr::Bytes(SVC_ATTR_PORT, vec![0, 80]),
                ],
                "address of 4 bytes",
            ),
        ];
        for (name, attrs, want) in cases {
            let err = VirtualService::decode(&emit_all(&attrs))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "case {name}: {err}");
        }
    }
}
