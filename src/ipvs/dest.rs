//! A destination (real server) of a virtual service, and its nested
//! `IPVS_CMD_ATTR_DEST` attribute both ways.
//!
//! Adding or editing needs `ADDR`, `PORT`, `FWD_METHOD`, `WEIGHT`,
//! `U_THRESH` and `L_THRESH` (`ip_vs_genl_parse_dest()`); deleting needs
//! `ADDR` and `PORT`. We always send `ADDR_FAMILY` too (kernel >= 3.18):
//! without it the kernel assumes the service's family, which is wrong for
//! an IPv6 real server behind an IPv4 service (tunnel only).

use std::fmt;
use std::net::SocketAddr;

use super::IpvsError;
use super::attr::{
    Attr, Attrs, CMD_ATTR_DEST, CONN_F_DROUTE, CONN_F_FWD_MASK, CONN_F_LOCALNODE, CONN_F_MASQ,
    CONN_F_TUNNEL, DEST_ATTR_ACTIVE_CONNS, DEST_ATTR_ADDR, DEST_ATTR_ADDR_FAMILY,
    DEST_ATTR_FWD_METHOD, DEST_ATTR_INACT_CONNS, DEST_ATTR_L_THRESH, DEST_ATTR_PERSIST_CONNS,
    DEST_ATTR_PORT, DEST_ATTR_STATS, DEST_ATTR_STATS64, DEST_ATTR_U_THRESH, DEST_ATTR_WEIGHT,
};
use super::service::{addr_bytes, addr_of, af_of, family_of};
use super::stats::Stats;
use crate::config::{Family, Forwarding};

/// How packets reach a real server (`IP_VS_CONN_F_*` forwarding methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Forward {
    /// NAT (`-m`, "Masq").
    Masq,
    /// The director itself (kernel-internal; "Local").
    Local,
    /// IP-in-IP (`-i`, "Tunnel").
    Tunnel,
    /// Direct routing (`-g`, "Route").
    Route,
    /// Any other value under `IP_VS_CONN_F_FWD_MASK` (e.g. bypass, 4).
    Other(u32),
}

impl Forward {
    /// The kernel's number for it.
    pub fn bits(self) -> u32 {
        match self {
            Forward::Masq => CONN_F_MASQ,
            Forward::Local => CONN_F_LOCALNODE,
            Forward::Tunnel => CONN_F_TUNNEL,
            Forward::Route => CONN_F_DROUTE,
            Forward::Other(bits) => bits & CONN_F_FWD_MASK,
        }
    }

    /// From connection flags; bits outside the forwarding mask are ignored.
    pub fn from_bits(flags: u32) -> Forward {
        match flags & CONN_F_FWD_MASK {
            CONN_F_MASQ => Forward::Masq,
            CONN_F_LOCALNODE => Forward::Local,
            CONN_F_TUNNEL => Forward::Tunnel,
            CONN_F_DROUTE => Forward::Route,
            other => Forward::Other(other),
        }
    }

    /// The `ipvsadm` switch that selects it (`-m`, `-g`, `-i`).
    pub fn switch(self) -> &'static str {
        match self {
            Forward::Masq => "-m",
            Forward::Tunnel => "-i",
            // ipvsadm shows the local node as gatewaying, as it does here.
            Forward::Local | Forward::Route | Forward::Other(_) => "-g",
        }
    }
}

impl From<Forwarding> for Forward {
    fn from(f: Forwarding) -> Forward {
        match f {
            Forwarding::Nat => Forward::Masq,
            Forwarding::Direct => Forward::Route,
            Forwarding::Tunnel => Forward::Tunnel,
        }
    }
}

/// The column `ipvsadm -Ln` prints: Masq, Local, Tunnel, Route.
impl fmt::Display for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Forward::Masq => "Masq",
            Forward::Local => "Local",
            Forward::Tunnel => "Tunnel",
            Forward::Route => "Route",
            // ipvsadm hands a NULL name to printf, which glibc prints so.
            Forward::Other(_) => "(null)",
        })
    }
}

/// A real server's settings, in the kernel's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dest {
    /// Its address; the family is the address's (may differ from the
    /// service's for tunnelled real servers).
    pub address: SocketAddr,
    pub forward: Forward,
    /// 0 = quiesced.
    pub weight: u32,
    /// `-x`: upper connection threshold; 0 = none.
    pub upper_threshold: u32,
    /// `-y`: lower connection threshold; 0 = none.
    pub lower_threshold: u32,
}

impl Dest {
    /// The full `IPVS_CMD_ATTR_DEST` nest, for adding or editing.
    pub(crate) fn full_attr(&self) -> Attr {
        let mut attrs = self.key_attrs();
        attrs.push(Attr::U32(DEST_ATTR_FWD_METHOD, self.forward.bits()));
        attrs.push(Attr::U32(DEST_ATTR_WEIGHT, self.weight));
        attrs.push(Attr::U32(DEST_ATTR_U_THRESH, self.upper_threshold));
        attrs.push(Attr::U32(DEST_ATTR_L_THRESH, self.lower_threshold));
        Attr::Nested(CMD_ATTR_DEST, attrs)
    }

    /// The `IPVS_CMD_ATTR_DEST` nest naming it, for deleting.
    pub(crate) fn key_attr(&self) -> Attr {
        Attr::Nested(CMD_ATTR_DEST, self.key_attrs())
    }

    fn key_attrs(&self) -> Vec<Attr> {
        vec![
            Attr::Bytes(DEST_ATTR_ADDR, addr_bytes(self.address.ip())),
            Attr::Bytes(DEST_ATTR_PORT, self.address.port().to_be_bytes().to_vec()),
            Attr::U16(DEST_ATTR_ADDR_FAMILY, af_of(Family::of(self.address.ip()))),
        ]
    }

    /// Decode the value of an `IPVS_CMD_ATTR_DEST` nest from a dump of a
    /// service of `service_family` (used when the kernel predates
    /// `ADDR_FAMILY`).
    pub(crate) fn decode(nest: &[u8], service_family: Family) -> Result<DestEntry, IpvsError> {
        let a = Attrs::parse("IPVS_CMD_ATTR_DEST", nest)?;
        let family = match a.get(DEST_ATTR_ADDR_FAMILY) {
            Some(_) => family_of(a.u16(DEST_ATTR_ADDR_FAMILY, "ADDR_FAMILY")?)?,
            None => service_family,
        };
        let ip = addr_of(family, a.require(DEST_ATTR_ADDR, "ADDR")?)?;
        let port = a.be16(DEST_ATTR_PORT, "PORT")?;
        let dest = Dest {
            address: SocketAddr::new(ip, port),
            forward: Forward::from_bits(a.u32(DEST_ATTR_FWD_METHOD, "FWD_METHOD")?),
            weight: a.u32(DEST_ATTR_WEIGHT, "WEIGHT")?,
            upper_threshold: a.u32(DEST_ATTR_U_THRESH, "U_THRESH")?,
            lower_threshold: a.u32(DEST_ATTR_L_THRESH, "L_THRESH")?,
        };
        Ok(DestEntry {
            dest,
            active_conns: a.u32(DEST_ATTR_ACTIVE_CONNS, "ACTIVE_CONNS")?,
            inact_conns: a.u32(DEST_ATTR_INACT_CONNS, "INACT_CONNS")?,
            persist_conns: a.u32(DEST_ATTR_PERSIST_CONNS, "PERSIST_CONNS")?,
            stats: Stats::from_nests(a.get(DEST_ATTR_STATS64), a.get(DEST_ATTR_STATS))?,
        })
    }
}

/// One real server read back from the kernel, with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestEntry {
    pub dest: Dest,
    /// `ActiveConn`.
    pub active_conns: u32,
    /// `InActConn`.
    pub inact_conns: u32,
    /// `PersistConn`.
    pub persist_conns: u32,
    pub stats: Stats,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::attr::{DEST_ATTR_STATS, emit_all};
    use crate::ipvs::stats::tests::{stats32_bytes, stats64_bytes};

    #[test]
    fn forward_bits_round_trip() {
        let cases = [
            (Forward::Masq, 0),
            (Forward::Local, 1),
            (Forward::Tunnel, 2),
            (Forward::Route, 3),
        ];
        for (fwd, bits) in cases {
            assert_eq!(fwd.bits(), bits);
            assert_eq!(Forward::from_bits(bits), fwd);
            // Other connection flags (NOOUTPUT 0x80, INACTIVE 0x100) are ignored.
            assert_eq!(Forward::from_bits(bits | 0x180), fwd);
        }
        assert_eq!(Forward::from_bits(4), Forward::Other(4));
        assert_eq!(Forward::from(Forwarding::Nat), Forward::Masq);
        assert_eq!(Forward::from(Forwarding::Direct), Forward::Route);
        assert_eq!(Forward::from(Forwarding::Tunnel), Forward::Tunnel);
    }

    /// A dest nest as `ip_vs_genl_fill_dest` builds it: 16-byte address,
    /// tunnel info, counters, family, both stats nests.
    #[cfg(target_endian = "little")]
    #[test]
    fn decode_dest_as_the_kernel_sends_it() {
        let mut nest = Vec::new();
        nest.extend([20, 0, 1, 0, 192, 168, 3, 2]); // ADDR, 16 bytes
        nest.extend([0; 12]);
        nest.extend([6, 0, 2, 0, 0x15, 0x38, 0, 0]); // PORT 5432
        nest.extend([8, 0, 3, 0, 0, 0, 0, 0]); // FWD_METHOD masq
        nest.extend([8, 0, 4, 0, 3, 0, 0, 0]); // WEIGHT 3
        nest.extend([5, 0, 13, 0, 0, 0, 0, 0]); // TUN_TYPE (ignored)
        nest.extend([6, 0, 14, 0, 0, 0, 0, 0]); // TUN_PORT (ignored)
        nest.extend([6, 0, 15, 0, 0, 0, 0, 0]); // TUN_FLAGS (ignored)
        nest.extend([8, 0, 5, 0, 100, 0, 0, 0]); // U_THRESH 100
        nest.extend([8, 0, 6, 0, 50, 0, 0, 0]); // L_THRESH 50
        nest.extend([8, 0, 7, 0, 4, 0, 0, 0]); // ACTIVE_CONNS 4
        nest.extend([8, 0, 8, 0, 9, 0, 0, 0]); // INACT_CONNS 9
        nest.extend([8, 0, 9, 0, 1, 0, 0, 0]); // PERSIST_CONNS 1
        nest.extend([6, 0, 11, 0, 2, 0, 0, 0]); // ADDR_FAMILY AF_INET
        let s32 = stats32_bytes([11, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        nest.extend(((4 + s32.len()) as u16).to_ne_bytes());
        nest.extend(DEST_ATTR_STATS.to_ne_bytes());
        nest.extend(&s32);
        let s64 = stats64_bytes([12, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        nest.extend(((4 + s64.len()) as u16).to_ne_bytes());
        nest.extend(DEST_ATTR_STATS64.to_ne_bytes());
        nest.extend(&s64);

        let entry = Dest::decode(&nest, Family::Inet).unwrap();
        assert_eq!(
            entry.dest,
            Dest {
                address: "192.168.3.2:5432".parse().unwrap(),
                forward: Forward::Masq,
                weight: 3,
                upper_threshold: 100,
                lower_threshold: 50,
            }
        );
        assert_eq!(
            (entry.active_conns, entry.inact_conns, entry.persist_conns),
            (4, 9, 1)
        );
        assert_eq!(entry.stats.conns, 12, "STATS64 wins");
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn decode_v6_dest_without_family_uses_the_service_family() {
        let mut addr = vec![0x20, 0x01, 0x0d, 0xb8];
        addr.extend([0; 11]);
        addr.push(5);
        let nest = emit_all(&[
            Attr::Bytes(DEST_ATTR_ADDR, addr),
            Attr::Bytes(DEST_ATTR_PORT, vec![0, 80]),
            Attr::U32(DEST_ATTR_FWD_METHOD, 3 | 0x80),
            Attr::U32(DEST_ATTR_WEIGHT, 1),
            Attr::U32(DEST_ATTR_U_THRESH, 0),
            Attr::U32(DEST_ATTR_L_THRESH, 0),
            Attr::U32(DEST_ATTR_ACTIVE_CONNS, 0),
            Attr::U32(DEST_ATTR_INACT_CONNS, 0),
            Attr::U32(DEST_ATTR_PERSIST_CONNS, 0),
        ]);
        let entry = Dest::decode(&nest, Family::Inet6).unwrap();
        assert_eq!(entry.dest.address, "[2001:db8::5]:80".parse().unwrap());
        assert_eq!(entry.dest.forward, Forward::Route);
        assert_eq!(entry.stats, Stats::default());
    }

    #[test]
    fn decode_requires_the_counters() {
        let nest = emit_all(&[
            Attr::Bytes(DEST_ATTR_ADDR, vec![10, 0, 0, 1]),
            Attr::Bytes(DEST_ATTR_PORT, vec![0, 80]),
        ]);
        let err = Dest::decode(&nest, Family::Inet).unwrap_err().to_string();
        assert!(err.contains("no FWD_METHOD"), "{err}");
    }
}
