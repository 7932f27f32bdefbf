//! The attribute plumbing every nest shares: how one value goes on the
//! wire ([`Wire`], its width and byte order), encoding a list of typed
//! attributes ([`Attributes`]), reading a reply's attributes back
//! ([`parse`], [`Value`]), and the address families.
//!
//! Each nest has its own small enum of typed attributes in the file of the
//! object it describes (`ServiceAttr` in `service.rs`, `DestAttr` in
//! `dest.rs`, `DaemonAttr` in `daemon.rs`, `CmdAttr` in `message.rs`),
//! with the attribute numbers, the encoding ([`Attribute::wire`]) and the
//! decoding side by side, so that each attribute's width and byte order
//! are written once. An integer in a typed attribute is always in host
//! order; [`Wire::Be16`] and [`Wire::Be32`] turn it around on the way out
//! and [`Value::be16`] and [`Value::be32`] on the way in.
//!
//! The kernel parses our requests in `net/netfilter/ipvs/ip_vs_ctl.c`
//! with the deprecated (non-strict) nested parser, so attribute order is
//! free and unknown attributes are ignored; we do the same when reading
//! its replies (unknown types come back as each enum's `Other`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NLA_F_NESTED, NLA_HEADER_SIZE, NlasIterator};

use super::error::IpvsError;
use crate::config::Family;

/// Address families as the kernel numbers them (`AF_INET`, `AF_INET6`).
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// `AF_INET`/`AF_INET6` for a family.
pub fn af_of(family: Family) -> u16 {
    match family {
        Family::Inet => AF_INET,
        Family::Inet6 => AF_INET6,
    }
}

/// The family of a kernel `AF_*` number.
pub fn family_of(af: u16) -> Result<Family, IpvsError> {
    match af {
        AF_INET => Ok(Family::Inet),
        AF_INET6 => Ok(Family::Inet6),
        other => Err(IpvsError::Malformed(format!(
            "unknown address family {other}"
        ))),
    }
}

/// One attribute's value as it goes on the wire.
#[derive(Clone, Copy)]
pub enum Wire<'a> {
    /// `NLA_U8`.
    U8(u8),
    /// `NLA_U16`, host order.
    U16(u16),
    /// `NLA_U32`, host order.
    U32(u32),
    /// A `__be16` (ports), given in host order.
    Be16(u16),
    /// A `__be32` (IPv4 masks), given in host order.
    Be32(u32),
    /// Two host-order u32s (`struct ip_vs_flags { flags; mask; }`).
    U32Pair(u32, u32),
    /// An address at its exact size, 4 or 16 bytes in network order (the
    /// kernel zero-fills the rest of its `union nf_inet_addr`).
    Addr(IpAddr),
    /// `NLA_NUL_STRING`: the text and a NUL.
    Str(&'a str),
    /// Raw bytes, as they are.
    Bytes(&'a [u8]),
    /// A nest of attributes, sent with `NLA_F_NESTED` set.
    Nest(&'a dyn Attributes),
}

impl Wire<'_> {
    /// Bytes of the value, without header and padding.
    fn len(&self) -> usize {
        match self {
            Wire::U8(_) => 1,
            Wire::U16(_) | Wire::Be16(_) => 2,
            Wire::U32(_) | Wire::Be32(_) => 4,
            Wire::U32Pair(..) => 8,
            Wire::Addr(IpAddr::V4(_)) => 4,
            Wire::Addr(IpAddr::V6(_)) => 16,
            Wire::Str(s) => s.len() + 1,
            Wire::Bytes(b) => b.len(),
            Wire::Nest(inner) => inner.encoded_len(),
        }
    }

    /// Write the value into `buf`, exactly [`Wire::len`] bytes long.
    fn emit(&self, buf: &mut [u8]) {
        match self {
            Wire::U8(v) => buf[0] = *v,
            Wire::U16(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            Wire::U32(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            Wire::Be16(v) => buf.copy_from_slice(&v.to_be_bytes()),
            Wire::Be32(v) => buf.copy_from_slice(&v.to_be_bytes()),
            Wire::U32Pair(a, b) => {
                buf[..4].copy_from_slice(&a.to_ne_bytes());
                buf[4..].copy_from_slice(&b.to_ne_bytes());
            }
            Wire::Addr(IpAddr::V4(v4)) => buf.copy_from_slice(&v4.octets()),
            Wire::Addr(IpAddr::V6(v6)) => buf.copy_from_slice(&v6.octets()),
            Wire::Str(s) => {
                buf[..s.len()].copy_from_slice(s.as_bytes());
                buf[s.len()] = 0;
            }
            Wire::Bytes(b) => buf.copy_from_slice(b),
            Wire::Nest(inner) => inner.encode(buf),
        }
    }
}

/// A typed attribute: its number and how its value goes on the wire.
pub trait Attribute {
    fn wire(&self) -> (u16, Wire<'_>);
}

/// A list of attributes back to back (a message body or a nest's value),
/// each padded to four bytes.
pub trait Attributes {
    /// Bytes of the whole list.
    fn encoded_len(&self) -> usize;
    /// Write the list into `buf`, exactly [`Attributes::encoded_len`] long.
    fn encode(&self, buf: &mut [u8]);
}

impl<A: Attribute> Attributes for [A] {
    fn encoded_len(&self) -> usize {
        self.iter()
            .map(|a| NLA_HEADER_SIZE + a.wire().1.len().next_multiple_of(4))
            .sum()
    }

    fn encode(&self, buf: &mut [u8]) {
        let mut at = 0;
        for a in self {
            let (kind, value) = a.wire();
            let len = value.len();
            let kind = match value {
                Wire::Nest(_) => kind | NLA_F_NESTED,
                _ => kind,
            };
            // struct nlattr { u16 nla_len; u16 nla_type; }: the length
            // counts the header, not the padding.
            let header = (NLA_HEADER_SIZE + len) as u16;
            buf[at..at + 2].copy_from_slice(&header.to_ne_bytes());
            buf[at + 2..at + 4].copy_from_slice(&kind.to_ne_bytes());
            let start = at + NLA_HEADER_SIZE;
            value.emit(&mut buf[start..start + len]);
            let end = start + len.next_multiple_of(4);
            buf[start + len..end].fill(0);
            at = end;
        }
    }
}

impl<A: Attribute> Attributes for Vec<A> {
    fn encoded_len(&self) -> usize {
        self.as_slice().encoded_len()
    }

    fn encode(&self, buf: &mut [u8]) {
        self.as_slice().encode(buf)
    }
}

/// Encode `attrs` back to back, as a message body or a nest's value.
#[cfg(test)]
pub fn emit_all<A: Attribute>(attrs: &[A]) -> Vec<u8> {
    let mut out = vec![0u8; attrs.encoded_len()];
    attrs.encode(&mut out);
    out
}

/// The attributes of one level of a reply, in order, each as its type
/// (the nested and byte-order flags masked off) and its value. `nest`
/// names the level in error messages ("IPVS_CMD_ATTR_SERVICE").
pub fn parse<'a>(
    nest: &'static str,
    buf: &'a [u8],
) -> impl Iterator<Item = Result<(u16, Value<'a>), IpvsError>> + 'a {
    NlasIterator::new(buf).map(move |nla| {
        let nla = nla.map_err(|e| IpvsError::Malformed(format!("{nest}: {e}")))?;
        let kind = nla.kind();
        let len = usize::from(nla.length());
        // The iterator checked that `len` bytes are there.
        let whole: &'a [u8] = nla.into_inner();
        let bytes = &whole[NLA_HEADER_SIZE..len];
        Ok((kind, Value { nest, bytes }))
    })
}

/// The value of attribute `kind` of one level of a reply (the last, if it
/// is there twice), which the kernel always sends: the nest of a dump
/// message, a family id.
pub fn find<'a>(
    nest: &'static str,
    buf: &'a [u8],
    kind: u16,
    name: &'static str,
) -> Result<Value<'a>, IpvsError> {
    let mut found = None;
    for attr in parse(nest, buf) {
        let (k, value) = attr?;
        if k == kind {
            found = Some(value);
        }
    }
    need(nest, name, found)
}

/// `value`, or the error saying that `nest` came without `name`.
pub fn need<T>(nest: &'static str, name: &'static str, value: Option<T>) -> Result<T, IpvsError> {
    value.ok_or_else(|| IpvsError::Malformed(format!("{nest}: no {name}")))
}

/// One attribute's value from a reply, read at the width and byte order
/// its typed attribute says. Each reader takes the attribute's name for
/// its error message.
#[derive(Debug, Clone, Copy)]
pub struct Value<'a> {
    nest: &'static str,
    bytes: &'a [u8],
}

impl<'a> Value<'a> {
    /// The value as it came.
    pub fn bytes(self) -> &'a [u8] {
        self.bytes
    }

    /// The first `N` bytes, or a clear error when it is shorter.
    fn fixed<const N: usize>(self, name: &'static str) -> Result<[u8; N], IpvsError> {
        self.bytes
            .get(..N)
            .and_then(|b| <[u8; N]>::try_from(b).ok())
            .ok_or_else(|| {
                IpvsError::Malformed(format!(
                    "{}: {name} has {} bytes, expected {N}",
                    self.nest,
                    self.bytes.len()
                ))
            })
    }

    /// `NLA_U8`.
    pub fn u8(self, name: &'static str) -> Result<u8, IpvsError> {
        self.fixed(name).map(|[v]| v)
    }

    /// `NLA_U16`.
    pub fn u16(self, name: &'static str) -> Result<u16, IpvsError> {
        self.fixed(name).map(u16::from_ne_bytes)
    }

    /// `NLA_U32`.
    pub fn u32(self, name: &'static str) -> Result<u32, IpvsError> {
        self.fixed(name).map(u32::from_ne_bytes)
    }

    /// A `__be16` (a port), in host order.
    pub fn be16(self, name: &'static str) -> Result<u16, IpvsError> {
        self.fixed(name).map(u16::from_be_bytes)
    }

    /// A `__be32` (an IPv4 mask), in host order.
    pub fn be32(self, name: &'static str) -> Result<u32, IpvsError> {
        self.fixed(name).map(u32::from_be_bytes)
    }

    /// Two host-order u32s.
    pub fn u32_pair(self, name: &'static str) -> Result<(u32, u32), IpvsError> {
        let raw: [u8; 8] = self.fixed(name)?;
        let [a0, a1, a2, a3, b0, b1, b2, b3] = raw;
        Ok((
            u32::from_ne_bytes([a0, a1, a2, a3]),
            u32::from_ne_bytes([b0, b1, b2, b3]),
        ))
    }

    /// A counter sent as a u64 (8 bytes) or a u32 (anything else).
    pub fn counter(self, name: &'static str) -> Result<u64, IpvsError> {
        match self.bytes.len() {
            8 => self.fixed(name).map(u64::from_ne_bytes),
            _ => self.u32(name).map(u64::from),
        }
    }

    /// A NUL-terminated string (the text up to the first NUL).
    pub fn string(self, name: &'static str) -> Result<&'a str, IpvsError> {
        let v = self.bytes;
        let text = v.split(|&b| b == 0).next().unwrap_or(v);
        std::str::from_utf8(text)
            .map_err(|_| IpvsError::Malformed(format!("{}: {name} is not UTF-8", self.nest)))
    }

    /// An address of `family` from the first 4 or 16 bytes (the kernel
    /// sends its whole 16-byte `union nf_inet_addr`).
    pub fn addr(self, family: Family, name: &'static str) -> Result<IpAddr, IpvsError> {
        match family {
            Family::Inet => self.ipv4(name).map(IpAddr::V4),
            Family::Inet6 => self.ipv6(name).map(IpAddr::V6),
        }
    }

    /// An IPv4 address, network order.
    pub fn ipv4(self, name: &'static str) -> Result<Ipv4Addr, IpvsError> {
        self.octets(name).map(Ipv4Addr::from)
    }

    /// An IPv6 address, network order.
    pub fn ipv6(self, name: &'static str) -> Result<Ipv6Addr, IpvsError> {
        self.octets(name).map(Ipv6Addr::from)
    }

    /// The first `N` bytes of an address.
    fn octets<const N: usize>(self, name: &'static str) -> Result<[u8; N], IpvsError> {
        self.fixed(name).map_err(|_| {
            IpvsError::Malformed(format!(
                "{}: {name}: address of {} bytes, expected {N}",
                self.nest,
                self.bytes.len()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An attribute of any number and wire form, for the plumbing alone.
    struct Raw<'a>(u16, Wire<'a>);

    impl Attribute for Raw<'_> {
        fn wire(&self) -> (u16, Wire<'_>) {
            (self.0, self.1)
        }
    }

    // The byte layouts below are little-endian (x86_64, the appliance).
    #[cfg(target_endian = "little")]
    #[test]
    fn attributes_are_padded_to_four_bytes() {
        let inner = vec![Raw(1, Wire::U16(2))];
        let cases: Vec<(&str, Raw, Vec<u8>)> = vec![
            ("u8", Raw(8, Wire::U8(1)), vec![5, 0, 8, 0, 1, 0, 0, 0]),
            ("u16", Raw(1, Wire::U16(2)), vec![6, 0, 1, 0, 2, 0, 0, 0]),
            (
                "u32",
                Raw(8, Wire::U32(300)),
                vec![8, 0, 8, 0, 0x2c, 1, 0, 0],
            ),
            (
                "be16",
                Raw(4, Wire::Be16(5432)),
                vec![6, 0, 4, 0, 0x15, 0x38, 0, 0],
            ),
            (
                "be32",
                Raw(9, Wire::Be32(0xffff_ff00)),
                vec![8, 0, 9, 0, 0xff, 0xff, 0xff, 0],
            ),
            (
                "u32 pair",
                Raw(7, Wire::U32Pair(1, u32::MAX)),
                vec![12, 0, 7, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
            ),
            (
                "IPv4 address at its size",
                Raw(3, Wire::Addr("10.0.0.1".parse().unwrap())),
                vec![8, 0, 3, 0, 10, 0, 0, 1],
            ),
            (
                "string with its NUL",
                Raw(6, Wire::Str("wlc")),
                vec![8, 0, 6, 0, b'w', b'l', b'c', 0],
            ),
            (
                "string padded",
                Raw(6, Wire::Str("rr")),
                vec![7, 0, 6, 0, b'r', b'r', 0, 0],
            ),
            (
                "nested sets NLA_F_NESTED",
                Raw(1, Wire::Nest(&inner)),
                vec![12, 0, 1, 0x80, 6, 0, 1, 0, 2, 0, 0, 0],
            ),
        ];
        for (name, attr, want) in cases {
            assert_eq!(emit_all(&[attr]), want, "case {name}");
        }
    }

    #[test]
    fn values_read_at_their_width_and_unknown_types_pass() {
        let body = emit_all(&[
            Raw(1, Wire::U16(10)),
            Raw(4, Wire::Bytes(&[0x1f, 0x90])),
            Raw(40, Wire::U32(7)), // a type no nest of ours has
            Raw(6, Wire::Str("rr")),
        ]);
        let attrs: Vec<(u16, Value)> = parse("test", &body).map(Result::unwrap).collect();
        let kinds: Vec<u16> = attrs.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, [1, 4, 40, 6]);
        assert_eq!(attrs[0].1.u16("AF").unwrap(), 10);
        assert_eq!(attrs[1].1.be16("PORT").unwrap(), 8080);
        assert_eq!(attrs[3].1.string("SCHED_NAME").unwrap(), "rr");
        assert_eq!(find("test", &body, 40, "X").unwrap().u32("X").unwrap(), 7);
        let missing = find("test", &body, 5, "FWMARK").unwrap_err().to_string();
        assert!(missing.contains("test: no FWMARK"), "{missing}");
    }

    #[test]
    fn short_values_are_errors_not_panics() {
        let body = emit_all(&[Raw(2, Wire::Bytes(&[1]))]);
        let value = find("svc", &body, 2, "PROTOCOL").unwrap();
        let err = value.u32("PROTOCOL").unwrap_err().to_string();
        assert!(err.contains("PROTOCOL has 1 bytes, expected 4"), "{err}");
        let err = value.addr(Family::Inet, "ADDR").unwrap_err().to_string();
        assert!(err.contains("address of 1 bytes, expected 4"), "{err}");
    }

    #[test]
    fn truncated_attribute_is_malformed() {
        // Claims 12 bytes, only 6 present.
        let body = [12u8, 0, 1, 0, 2, 0];
        assert!(parse("svc", &body).any(|a| a.is_err()));
    }
}
