//! A virtual service as the kernel sees it, and its nested
//! `IPVS_CMD_ATTR_SERVICE` attribute both ways.
//!
//! Encoding follows `ip_vs_genl_parse_service()`: the identifying part is
//! `AF` plus either `FWMARK` or `PROTOCOL`+`ADDR`+`PORT`; adding or editing
//! a service also needs `SCHED_NAME`, `FLAGS`, `TIMEOUT` and `NETMASK`.
//! Addresses go out at their exact size (4 or 16 bytes; the kernel
//! zero-fills the rest of its `union nf_inet_addr`) and come back as 16.

use std::net::{IpAddr, SocketAddr};

use super::attr::{Attribute, Value, Wire, af_of, family_of, need, parse};
use super::dest::DestEntry;
use super::error::IpvsError;
use super::stats::Stats;
use crate::config::{Family, Protocol, ServiceKey};

// Inside `IPVS_CMD_ATTR_SERVICE` (`IPVS_SVC_ATTR_*`, from `ip_vs.h`).
const SVC_ATTR_AF: u16 = 1;
const SVC_ATTR_PROTOCOL: u16 = 2;
const SVC_ATTR_ADDR: u16 = 3;
const SVC_ATTR_PORT: u16 = 4;
const SVC_ATTR_FWMARK: u16 = 5;
const SVC_ATTR_SCHED_NAME: u16 = 6;
const SVC_ATTR_FLAGS: u16 = 7;
const SVC_ATTR_TIMEOUT: u16 = 8;
const SVC_ATTR_NETMASK: u16 = 9;
const SVC_ATTR_STATS: u16 = 10;
const SVC_ATTR_PE_NAME: u16 = 11;
const SVC_ATTR_STATS64: u16 = 12;

// Virtual service flags (`IP_VS_SVC_F_*`).
pub const SVC_F_PERSISTENT: u32 = 0x0001;
/// Set by the kernel on every hashed (i.e. every live) service; never ours.
pub const SVC_F_HASHED: u32 = 0x0002;
pub const SVC_F_ONEPACKET: u32 = 0x0004;
/// `sh-fallback` for `sh`, `mh-fallback` for `mh`.
pub const SVC_F_SCHED1: u32 = 0x0008;
/// `sh-port` for `sh`, `mh-port` for `mh`.
pub const SVC_F_SCHED2: u32 = 0x0010;
pub const SVC_F_SCHED3: u32 = 0x0020;
/// The flags a user sets; anything else the kernel reports is its own.
pub const SVC_F_USER_MASK: u32 =
    SVC_F_PERSISTENT | SVC_F_ONEPACKET | SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;
const _: () = assert!(SVC_F_USER_MASK & SVC_F_HASHED == 0);

/// One attribute inside `IPVS_CMD_ATTR_SERVICE`, integers in host order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAttr<'a> {
    /// `AF_*` of the service.
    Af(u16),
    /// IP protocol number (the kernel reports TCP for fwmark services).
    Protocol(u16),
    /// The virtual address, 4 or 16 bytes as sent (16 as received).
    Addr(IpAddr),
    /// A `__be16` on the wire.
    Port(u16),
    FwMark(u32),
    SchedName(&'a str),
    /// `struct ip_vs_flags`: the bits of `flags` under `mask` are set to
    /// what `flags` says.
    Flags {
        flags: u32,
        mask: u32,
    },
    /// Persistence timeout in seconds.
    Timeout(u32),
    /// An IPv4 service's persistence mask (`255.255.255.0` is
    /// `0xffff_ff00`), a `__be32` on the wire.
    Netmask(u32),
    /// An IPv6 service's persistence prefix length, in the same attribute:
    /// the kernel reads the bits of its `__be32` field as a plain u32.
    Prefix6(u32),
    /// The 32-bit stats nest, read by [`Stats::from_nests`] (the kernel
    /// sends it without `NLA_F_NESTED`).
    Stats(&'a [u8]),
    /// Persistence engine (`sip`).
    PeName(&'a str),
    /// The 64-bit stats nest (kernel >= 4.1).
    Stats64(&'a [u8]),
    /// Any other attribute, as it came.
    Other(u16, &'a [u8]),
}

impl<'a> ServiceAttr<'a> {
    /// Read one attribute of a service nest of `family` (the `AF` in it).
    fn parse(kind: u16, v: Value<'a>, family: Family) -> Result<ServiceAttr<'a>, IpvsError> {
        Ok(match kind {
            SVC_ATTR_AF => ServiceAttr::Af(v.u16("AF")?),
            SVC_ATTR_PROTOCOL => ServiceAttr::Protocol(v.u16("PROTOCOL")?),
            SVC_ATTR_ADDR => ServiceAttr::Addr(v.addr(family, "ADDR")?),
            SVC_ATTR_PORT => ServiceAttr::Port(v.be16("PORT")?),
            SVC_ATTR_FWMARK => ServiceAttr::FwMark(v.u32("FWMARK")?),
            SVC_ATTR_SCHED_NAME => ServiceAttr::SchedName(v.string("SCHED_NAME")?),
            SVC_ATTR_FLAGS => {
                let (flags, mask) = v.u32_pair("FLAGS")?;
                ServiceAttr::Flags { flags, mask }
            }
            SVC_ATTR_TIMEOUT => ServiceAttr::Timeout(v.u32("TIMEOUT")?),
            SVC_ATTR_NETMASK => match family {
                Family::Inet => ServiceAttr::Netmask(v.be32("NETMASK")?),
                Family::Inet6 => ServiceAttr::Prefix6(v.u32("NETMASK")?),
            },
            SVC_ATTR_STATS => ServiceAttr::Stats(v.bytes()),
            SVC_ATTR_PE_NAME => ServiceAttr::PeName(v.string("PE_NAME")?),
            SVC_ATTR_STATS64 => ServiceAttr::Stats64(v.bytes()),
            other => ServiceAttr::Other(other, v.bytes()),
        })
    }
}

impl Attribute for ServiceAttr<'_> {
    fn wire(&self) -> (u16, Wire<'_>) {
        match *self {
            ServiceAttr::Af(af) => (SVC_ATTR_AF, Wire::U16(af)),
            ServiceAttr::Protocol(p) => (SVC_ATTR_PROTOCOL, Wire::U16(p)),
            ServiceAttr::Addr(ip) => (SVC_ATTR_ADDR, Wire::Addr(ip)),
            ServiceAttr::Port(port) => (SVC_ATTR_PORT, Wire::Be16(port)),
            ServiceAttr::FwMark(mark) => (SVC_ATTR_FWMARK, Wire::U32(mark)),
            ServiceAttr::SchedName(name) => (SVC_ATTR_SCHED_NAME, Wire::Str(name)),
            ServiceAttr::Flags { flags, mask } => (SVC_ATTR_FLAGS, Wire::U32Pair(flags, mask)),
            ServiceAttr::Timeout(t) => (SVC_ATTR_TIMEOUT, Wire::U32(t)),
            ServiceAttr::Netmask(mask) => (SVC_ATTR_NETMASK, Wire::Be32(mask)),
            ServiceAttr::Prefix6(prefix) => (SVC_ATTR_NETMASK, Wire::U32(prefix)),
            ServiceAttr::Stats(nest) => (SVC_ATTR_STATS, Wire::Bytes(nest)),
            ServiceAttr::PeName(name) => (SVC_ATTR_PE_NAME, Wire::Str(name)),
            ServiceAttr::Stats64(nest) => (SVC_ATTR_STATS64, Wire::Bytes(nest)),
            ServiceAttr::Other(kind, value) => (kind, Wire::Bytes(value)),
        }
    }
}

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
    pub(crate) fn full_attrs(&self) -> Vec<ServiceAttr<'_>> {
        let mut attrs = key_attrs(&self.key);
        attrs.push(ServiceAttr::SchedName(&self.scheduler));
        if let Some(pe) = &self.pe_name {
            attrs.push(ServiceAttr::PeName(pe));
        }
        // Mask ~0 sets every bit to what we say, as ipvsadm does.
        attrs.push(ServiceAttr::Flags {
            flags: self.flags,
            mask: u32::MAX,
        });
        attrs.push(ServiceAttr::Timeout(self.timeout));
        attrs.push(match self.key.family() {
            Family::Inet => ServiceAttr::Netmask(self.netmask),
            Family::Inet6 => ServiceAttr::Prefix6(self.netmask),
        });
        attrs
    }

    /// Decode the value of an `IPVS_CMD_ATTR_SERVICE` nest from a dump.
    pub(crate) fn decode(nest: &[u8]) -> Result<ServiceEntry, IpvsError> {
        const NEST: &str = "IPVS_CMD_ATTR_SERVICE";
        // The address and netmask are read by the family, so it comes first.
        let mut af = None;
        for attr in parse(NEST, nest) {
            let (kind, v) = attr?;
            if kind == SVC_ATTR_AF {
                af = Some(v.u16("AF")?);
            }
        }
        let family = family_of(need(NEST, "AF", af)?)?;
        let (mut protocol, mut addr, mut port, mut mark) = (None, None, None, None);
        let (mut scheduler, mut pe_name, mut flags) = (None, None, None);
        let (mut timeout, mut netmask) = (None, None);
        let (mut stats, mut stats64) = (None, None);
        for attr in parse(NEST, nest) {
            let (kind, v) = attr?;
            match ServiceAttr::parse(kind, v, family)? {
                ServiceAttr::Protocol(p) => protocol = Some(p),
                ServiceAttr::Addr(ip) => addr = Some(ip),
                ServiceAttr::Port(p) => port = Some(p),
                ServiceAttr::FwMark(m) => mark = Some(m),
                ServiceAttr::SchedName(name) => scheduler = Some(name),
                ServiceAttr::PeName(name) => pe_name = Some(name),
                ServiceAttr::Flags { flags: f, mask } => flags = Some(f & mask),
                ServiceAttr::Timeout(t) => timeout = Some(t),
                ServiceAttr::Netmask(m) | ServiceAttr::Prefix6(m) => netmask = Some(m),
                ServiceAttr::Stats(s) => stats = Some(s),
                ServiceAttr::Stats64(s) => stats64 = Some(s),
                ServiceAttr::Af(_) | ServiceAttr::Other(..) => {}
            }
        }
        let key = match mark {
            Some(mark) => ServiceKey::Fwmark { mark, family },
            None => {
                let protocol = protocol_of(need(NEST, "PROTOCOL", protocol)?)?;
                let ip = need(NEST, "ADDR", addr)?;
                let port = need(NEST, "PORT", port)?;
                ServiceKey::Addr {
                    protocol,
                    address: SocketAddr::new(ip, port),
                }
            }
        };
        let flags = need(NEST, "FLAGS", flags)?;
        let netmask = need(NEST, "NETMASK", netmask)?;
        let service = VirtualService {
            key,
            scheduler: need(NEST, "SCHED_NAME", scheduler)?.to_string(),
            flags: flags & SVC_F_USER_MASK,
            timeout: need(NEST, "TIMEOUT", timeout)?,
            netmask,
            pe_name: pe_name.filter(|s| !s.is_empty()).map(str::to_string),
        };
        Ok(ServiceEntry {
            service,
            dests: Vec::new(),
            stats: Stats::from_nests(stats64, stats)?,
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
pub(crate) fn key_attrs(key: &ServiceKey) -> Vec<ServiceAttr<'static>> {
    let mut attrs = vec![ServiceAttr::Af(af_of(key.family()))];
    match key {
        ServiceKey::Fwmark { mark, .. } => attrs.push(ServiceAttr::FwMark(*mark)),
        ServiceKey::Addr { protocol, address } => attrs.extend([
            ServiceAttr::Protocol(protocol.number()),
            ServiceAttr::Addr(address.ip()),
            ServiceAttr::Port(address.port()),
        ]),
    }
    attrs
}

fn protocol_of(number: u16) -> Result<Protocol, IpvsError> {
    [Protocol::Tcp, Protocol::Udp, Protocol::Sctp]
        .into_iter()
        .find(|p| p.number() == number)
        .ok_or_else(|| IpvsError::Malformed(format!("unknown IP protocol {number}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ipvs::attr::emit_all;
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
        let nest = kernel_nest();
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

    /// Mutated answers of the kernel decode or fail, never panic.
    #[cfg(target_endian = "little")]
    #[test]
    fn hostile_service_nests_never_panic() {
        crate::hostile_input::survive("service nest", &[kernel_nest()], &[], 20_000, |nest| {
            let _ = VirtualService::decode(nest);
        });
    }

    /// A TCP service's nest as the kernel sends it (little-endian host).
    #[cfg(target_endian = "little")]
    fn kernel_nest() -> Vec<u8> {
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
        nest
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn decode_fwmark_v6_service() {
        let nest = emit_all(&[
            ServiceAttr::Af(10),
            ServiceAttr::FwMark(7),
            ServiceAttr::SchedName("sh"),
            ServiceAttr::Other(SVC_ATTR_FLAGS, &[0x0a, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
            ServiceAttr::Timeout(0),
            ServiceAttr::Prefix6(128),
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

    /// Every service attribute on its own, byte for byte from ip_vs.h, and
    /// read back to itself (little-endian host).
    #[cfg(target_endian = "little")]
    #[test]
    fn each_attribute_both_ways() {
        let v6 = "2001:db8::1".parse().unwrap();
        #[rustfmt::skip]
        let cases: Vec<(Family, ServiceAttr, Vec<u8>)> = vec![
            (Family::Inet, ServiceAttr::Af(2), vec![6, 0, 1, 0, 2, 0, 0, 0]),
            (Family::Inet, ServiceAttr::Protocol(132), vec![6, 0, 2, 0, 132, 0, 0, 0]),
            (Family::Inet, ServiceAttr::Addr("10.1.2.3".parse().unwrap()),
                vec![8, 0, 3, 0, 10, 1, 2, 3]),
            (Family::Inet6, ServiceAttr::Addr(v6),
                vec![20, 0, 3, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            (Family::Inet, ServiceAttr::Port(443), vec![6, 0, 4, 0, 0x01, 0xbb, 0, 0]),
            (Family::Inet, ServiceAttr::FwMark(0x0102_0304), vec![8, 0, 5, 0, 4, 3, 2, 1]),
            (Family::Inet, ServiceAttr::SchedName("wrr"), vec![8, 0, 6, 0, b'w', b'r', b'r', 0]),
            (Family::Inet, ServiceAttr::Flags { flags: 0x11, mask: 0x19 },
                vec![12, 0, 7, 0, 0x11, 0, 0, 0, 0x19, 0, 0, 0]),
            (Family::Inet, ServiceAttr::Timeout(86_400), vec![8, 0, 8, 0, 0x80, 0x51, 0x01, 0]),
            (Family::Inet, ServiceAttr::Netmask(0xffff_f000), vec![8, 0, 9, 0, 0xff, 0xff, 0xf0, 0]),
            (Family::Inet6, ServiceAttr::Prefix6(48), vec![8, 0, 9, 0, 48, 0, 0, 0]),
            (Family::Inet, ServiceAttr::Stats(&[4, 0, 11, 0]), vec![8, 0, 10, 0, 4, 0, 11, 0]),
            (Family::Inet, ServiceAttr::PeName("sip"), vec![8, 0, 11, 0, b's', b'i', b'p', 0]),
            (Family::Inet, ServiceAttr::Stats64(&[]), vec![4, 0, 12, 0]),
            (Family::Inet, ServiceAttr::Other(13, &[9]), vec![5, 0, 13, 0, 9, 0, 0, 0]),
        ];
        for (family, attr, want) in cases {
            let bytes = emit_all(&[attr]);
            assert_eq!(bytes, want, "{attr:?}");
            let (kind, v) = parse("test", &bytes).next().unwrap().unwrap();
            assert_eq!(ServiceAttr::parse(kind, v, family).unwrap(), attr);
        }
    }

    /// The kernel sends the whole 16-byte union for an IPv4 address too.
    #[test]
    fn an_ipv4_address_reads_from_the_whole_union() {
        let mut union = vec![192, 0, 2, 7];
        union.extend([0; 12]);
        let bytes = emit_all(&[ServiceAttr::Other(SVC_ATTR_ADDR, &union)]);
        let (kind, v) = parse("test", &bytes).next().unwrap().unwrap();
        let attr = ServiceAttr::parse(kind, v, Family::Inet).unwrap();
        assert_eq!(attr, ServiceAttr::Addr("192.0.2.7".parse().unwrap()));
    }

    #[test]
    fn decode_rejects_what_it_cannot_read() {
        let cases: Vec<(&str, Vec<ServiceAttr>, &str)> = vec![
            ("no AF", vec![ServiceAttr::FwMark(1)], "no AF"),
            (
                "unknown family",
                vec![ServiceAttr::Af(7), ServiceAttr::FwMark(1)],
                "address family 7",
            ),
            (
                "unknown protocol",
                vec![
                    ServiceAttr::Af(2),
                    ServiceAttr::Protocol(1),
                    ServiceAttr::Addr("1.2.3.4".parse().unwrap()),
                    ServiceAttr::Port(80),
                ],
                "IP protocol 1",
            ),
            (
                "short address",
                vec![
                    ServiceAttr::Af(10),
                    ServiceAttr::Protocol(6),
                    ServiceAttr::Addr("1.2.3.4".parse().unwrap()),
                    ServiceAttr::Port(80),
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
