//! Traffic counters of a virtual service or real server
//! (`ipvsadm -Ln --stats` / `--rate`).
//!
//! The kernel sends each counter set twice: `IPVS_*_ATTR_STATS` (32-bit
//! counters except the byte counts) for old tools and `..._STATS64` (all
//! 64-bit, kernel >= 4.1). We read the 64-bit nest when it is there and the
//! old one otherwise.

use super::attr::parse;
use super::error::IpvsError;

// Inside the stats nests (`IPVS_STATS_ATTR_*`, from `ip_vs.h`).
const STATS_ATTR_CONNS: u16 = 1;
const STATS_ATTR_INPKTS: u16 = 2;
const STATS_ATTR_OUTPKTS: u16 = 3;
const STATS_ATTR_INBYTES: u16 = 4;
const STATS_ATTR_OUTBYTES: u16 = 5;
const STATS_ATTR_CPS: u16 = 6;
const STATS_ATTR_INPPS: u16 = 7;
const STATS_ATTR_OUTPPS: u16 = 8;
const STATS_ATTR_INBPS: u16 = 9;
const STATS_ATTR_OUTBPS: u16 = 10;

/// Counters and rates, as `struct ip_vs_kstats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
    /// Current connection rate (per second).
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    /// Current byte rates (per second).
    pub inbps: u64,
    pub outbps: u64,
}

impl Stats {
    /// Read the stats of an entry: the value of `STATS64` when present,
    /// else of `STATS`, else zeros (a kernel that sends neither).
    pub(crate) fn from_nests(
        stats64: Option<&[u8]>,
        stats: Option<&[u8]>,
    ) -> Result<Stats, IpvsError> {
        match (stats64, stats) {
            (Some(nest), _) => Stats::decode("IPVS stats64", nest),
            (None, Some(nest)) => Stats::decode("IPVS stats", nest),
            (None, None) => Ok(Stats::default()),
        }
    }

    /// Decode one stats nest. Each counter is a u32 or u64 by its length,
    /// which covers both nests; a missing counter reads as 0, and
    /// `IPVS_STATS_ATTR_PAD` (and anything newer) is skipped. We never send
    /// stats, so there is no encoding side.
    fn decode(nest: &'static str, buf: &[u8]) -> Result<Stats, IpvsError> {
        let mut s = Stats::default();
        for attr in parse(nest, buf) {
            let (kind, v) = attr?;
            match kind {
                STATS_ATTR_CONNS => s.conns = v.counter("CONNS")?,
                STATS_ATTR_INPKTS => s.inpkts = v.counter("INPKTS")?,
                STATS_ATTR_OUTPKTS => s.outpkts = v.counter("OUTPKTS")?,
                STATS_ATTR_INBYTES => s.inbytes = v.counter("INBYTES")?,
                STATS_ATTR_OUTBYTES => s.outbytes = v.counter("OUTBYTES")?,
                STATS_ATTR_CPS => s.cps = v.counter("CPS")?,
                STATS_ATTR_INPPS => s.inpps = v.counter("INPPS")?,
                STATS_ATTR_OUTPPS => s.outpps = v.counter("OUTPPS")?,
                STATS_ATTR_INBPS => s.inbps = v.counter("INBPS")?,
                STATS_ATTR_OUTBPS => s.outbps = v.counter("OUTBPS")?,
                _ => {}
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stats nest's value as `ip_vs_genl_fill_stats` builds it: u32
    /// counters, u64 byte counts (no pad attribute on x86_64).
    pub(crate) fn stats32_bytes(values: [u64; 10]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let kind = (i + 1) as u16;
            if kind == STATS_ATTR_INBYTES || kind == STATS_ATTR_OUTBYTES {
                out.extend_from_slice(&12u16.to_ne_bytes());
                out.extend_from_slice(&kind.to_ne_bytes());
                out.extend_from_slice(&v.to_ne_bytes());
            } else {
                out.extend_from_slice(&8u16.to_ne_bytes());
                out.extend_from_slice(&kind.to_ne_bytes());
                out.extend_from_slice(&(*v as u32).to_ne_bytes());
            }
        }
        out
    }

    /// The same as `ip_vs_genl_fill_stats64` builds it: all u64.
    pub(crate) fn stats64_bytes(values: [u64; 10]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            out.extend_from_slice(&12u16.to_ne_bytes());
            out.extend_from_slice(&((i + 1) as u16).to_ne_bytes());
            out.extend_from_slice(&v.to_ne_bytes());
        }
        out
    }

    const VALUES: [u64; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

    fn expected() -> Stats {
        Stats {
            conns: 1,
            inpkts: 2,
            outpkts: 3,
            inbytes: 4,
            outbytes: 5,
            cps: 6,
            inpps: 7,
            outpps: 8,
            inbps: 9,
            outbps: 10,
        }
    }

    #[test]
    fn reads_the_32_bit_nest() {
        let s = Stats::from_nests(None, Some(&stats32_bytes(VALUES))).unwrap();
        assert_eq!(s, expected());
    }

    #[test]
    fn prefers_the_64_bit_nest() {
        let mut big = VALUES;
        big[0] = 5_000_000_000; // does not fit the 32-bit counter
        let s = Stats::from_nests(Some(&stats64_bytes(big)), Some(&stats32_bytes(VALUES))).unwrap();
        assert_eq!(s.conns, 5_000_000_000);
        assert_eq!(s.outbps, 10);
    }

    #[test]
    fn pad_attributes_are_ignored() {
        // IPVS_STATS_ATTR_PAD (11) may precede a u64 on strict-alignment arches.
        let mut buf = vec![4u8, 0, 11, 0];
        buf.extend(stats64_bytes(VALUES));
        let s = Stats::from_nests(Some(&buf), None).unwrap();
        assert_eq!(s, expected());
    }

    #[test]
    fn no_stats_is_zero() {
        assert_eq!(Stats::from_nests(None, None).unwrap(), Stats::default());
    }
}
