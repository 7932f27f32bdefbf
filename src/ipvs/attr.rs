//! The numbers of the IPVS generic-netlink protocol, and the attribute
//! plumbing (build and read `struct nlattr` lists) the other files share.
//!
//! Every number here is from the kernel's `include/uapi/linux/ip_vs.h`
//! (checked against Linux 6.12). The kernel parses our requests in
//! `net/netfilter/ipvs/ip_vs_ctl.c` with the deprecated (non-strict) nested
//! parser, so attribute order is free and unknown attributes are ignored;
//! we do the same when reading its replies.

use netlink_packet_core::{Emitable, NLA_F_NESTED, NLA_HEADER_SIZE, Nla, NlasIterator};

use super::IpvsError;

/// `IPVS_GENL_NAME`: the family name the generic-netlink controller knows.
pub const GENL_NAME: &str = "IPVS";
/// `IPVS_GENL_VERSION`, put in every request's generic header.
pub const GENL_VERSION: u8 = 1;

// Commands (`IPVS_CMD_*`).
pub const CMD_NEW_SERVICE: u8 = 1;
pub const CMD_SET_SERVICE: u8 = 2;
pub const CMD_DEL_SERVICE: u8 = 3;
pub const CMD_GET_SERVICE: u8 = 4;
pub const CMD_NEW_DEST: u8 = 5;
pub const CMD_SET_DEST: u8 = 6;
pub const CMD_DEL_DEST: u8 = 7;
pub const CMD_GET_DEST: u8 = 8;
/// The command of a `GET_INFO` reply.
pub const CMD_SET_INFO: u8 = 14;
pub const CMD_GET_INFO: u8 = 15;
pub const CMD_FLUSH: u8 = 17;

// First-level attributes (`IPVS_CMD_ATTR_*`).
pub const CMD_ATTR_SERVICE: u16 = 1;
pub const CMD_ATTR_DEST: u16 = 2;

// Inside `IPVS_CMD_ATTR_SERVICE` (`IPVS_SVC_ATTR_*`).
pub const SVC_ATTR_AF: u16 = 1;
pub const SVC_ATTR_PROTOCOL: u16 = 2;
pub const SVC_ATTR_ADDR: u16 = 3;
pub const SVC_ATTR_PORT: u16 = 4;
pub const SVC_ATTR_FWMARK: u16 = 5;
pub const SVC_ATTR_SCHED_NAME: u16 = 6;
pub const SVC_ATTR_FLAGS: u16 = 7;
pub const SVC_ATTR_TIMEOUT: u16 = 8;
pub const SVC_ATTR_NETMASK: u16 = 9;
pub const SVC_ATTR_STATS: u16 = 10;
pub const SVC_ATTR_PE_NAME: u16 = 11;
pub const SVC_ATTR_STATS64: u16 = 12;

// Inside `IPVS_CMD_ATTR_DEST` (`IPVS_DEST_ATTR_*`).
pub const DEST_ATTR_ADDR: u16 = 1;
pub const DEST_ATTR_PORT: u16 = 2;
pub const DEST_ATTR_FWD_METHOD: u16 = 3;
pub const DEST_ATTR_WEIGHT: u16 = 4;
pub const DEST_ATTR_U_THRESH: u16 = 5;
pub const DEST_ATTR_L_THRESH: u16 = 6;
pub const DEST_ATTR_ACTIVE_CONNS: u16 = 7;
pub const DEST_ATTR_INACT_CONNS: u16 = 8;
pub const DEST_ATTR_PERSIST_CONNS: u16 = 9;
pub const DEST_ATTR_STATS: u16 = 10;
pub const DEST_ATTR_ADDR_FAMILY: u16 = 11;
pub const DEST_ATTR_STATS64: u16 = 12;

// Inside the stats nests (`IPVS_STATS_ATTR_*`).
pub const STATS_ATTR_CONNS: u16 = 1;
pub const STATS_ATTR_INPKTS: u16 = 2;
pub const STATS_ATTR_OUTPKTS: u16 = 3;
pub const STATS_ATTR_INBYTES: u16 = 4;
pub const STATS_ATTR_OUTBYTES: u16 = 5;
pub const STATS_ATTR_CPS: u16 = 6;
pub const STATS_ATTR_INPPS: u16 = 7;
pub const STATS_ATTR_OUTPPS: u16 = 8;
pub const STATS_ATTR_INBPS: u16 = 9;
pub const STATS_ATTR_OUTBPS: u16 = 10;

// In a `GET_INFO` reply (`IPVS_INFO_ATTR_*`).
pub const INFO_ATTR_VERSION: u16 = 1;
pub const INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

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

// Forwarding methods (`IP_VS_CONN_F_*` under `IP_VS_CONN_F_FWD_MASK`).
pub const CONN_F_FWD_MASK: u32 = 0x0007;
pub const CONN_F_MASQ: u32 = 0x0000;
pub const CONN_F_LOCALNODE: u32 = 0x0001;
pub const CONN_F_TUNNEL: u32 = 0x0002;
pub const CONN_F_DROUTE: u32 = 0x0003;

/// Address families as the kernel numbers them (`AF_INET`, `AF_INET6`).
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// One attribute of a request we build.
///
/// Integers are in host order unless the variant says otherwise: the
/// kernel reads `NLA_U16`/`NLA_U32` natively, while ports and IPv4 masks
/// are `__be` values it copies raw, so they go in as [`Attr::Bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    U16(u16, u16),
    U32(u16, u32),
    /// Raw bytes: addresses, big-endian ports and masks, `struct ip_vs_flags`.
    Bytes(u16, Vec<u8>),
    /// A NUL-terminated string (`NLA_NUL_STRING`).
    Str(u16, String),
    /// A nest, sent with `NLA_F_NESTED` set.
    Nested(u16, Vec<Attr>),
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        match self {
            Attr::U16(..) => 2,
            Attr::U32(..) => 4,
            Attr::Bytes(_, b) => b.len(),
            Attr::Str(_, s) => s.len() + 1,
            Attr::Nested(_, inner) => inner.as_slice().buffer_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Attr::U16(k, _) | Attr::U32(k, _) | Attr::Bytes(k, _) | Attr::Str(k, _) => *k,
            Attr::Nested(k, _) => *k | NLA_F_NESTED,
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Attr::U16(_, v) => buffer[..2].copy_from_slice(&v.to_ne_bytes()),
            Attr::U32(_, v) => buffer[..4].copy_from_slice(&v.to_ne_bytes()),
            Attr::Bytes(_, b) => buffer[..b.len()].copy_from_slice(b),
            Attr::Str(_, s) => {
                buffer[..s.len()].copy_from_slice(s.as_bytes());
                buffer[s.len()] = 0;
            }
            Attr::Nested(_, inner) => inner.as_slice().emit(buffer),
        }
    }
}

/// The attributes of one level of a reply, indexed by type.
///
/// Types above the largest we read are skipped, like the kernel's own
/// parser does with attributes newer than its policy.
pub struct Attrs<'a> {
    /// Which nest this is, for error messages ("IPVS_CMD_ATTR_SERVICE").
    nest: &'static str,
    slots: [Option<&'a [u8]>; 16],
}

impl<'a> Attrs<'a> {
    /// Index the attributes in `buf` (a message body or a nest's value).
    pub fn parse(nest: &'static str, buf: &'a [u8]) -> Result<Attrs<'a>, IpvsError> {
        let mut slots = [None; 16];
        for nla in NlasIterator::new(buf) {
            let nla = nla.map_err(|e| IpvsError::Malformed(format!("{nest}: {e}")))?;
            let kind = usize::from(nla.kind());
            let len = usize::from(nla.length());
            if kind < slots.len() {
                // The iterator checked that `len` bytes are there.
                let whole: &'a [u8] = nla.into_inner();
                slots[kind] = Some(&whole[NLA_HEADER_SIZE..len]);
            }
        }
        Ok(Attrs { nest, slots })
    }

    /// The value of attribute `kind`, if present.
    pub fn get(&self, kind: u16) -> Option<&'a [u8]> {
        self.slots.get(usize::from(kind)).copied().flatten()
    }

    /// The value of attribute `kind`, which the kernel always sends.
    pub fn require(&self, kind: u16, name: &'static str) -> Result<&'a [u8], IpvsError> {
        self.get(kind)
            .ok_or_else(|| IpvsError::Malformed(format!("{}: no {name}", self.nest)))
    }

    /// A required `NLA_U16`.
    pub fn u16(&self, kind: u16, name: &'static str) -> Result<u16, IpvsError> {
        let v = self.require(kind, name)?;
        Ok(u16::from_ne_bytes(self.fixed(v, name)?))
    }

    /// A required `NLA_U32`.
    pub fn u32(&self, kind: u16, name: &'static str) -> Result<u32, IpvsError> {
        let v = self.require(kind, name)?;
        Ok(u32::from_ne_bytes(self.fixed(v, name)?))
    }

    /// A required big-endian 16-bit value (a port).
    pub fn be16(&self, kind: u16, name: &'static str) -> Result<u16, IpvsError> {
        let v = self.require(kind, name)?;
        Ok(u16::from_be_bytes(self.fixed(v, name)?))
    }

    /// A required NUL-terminated string.
    pub fn string(&self, kind: u16, name: &'static str) -> Result<String, IpvsError> {
        let v = self.require(kind, name)?;
        let text = v.split(|&b| b == 0).next().unwrap_or(v);
        String::from_utf8(text.to_vec())
            .map_err(|_| IpvsError::Malformed(format!("{}: {name} is not UTF-8", self.nest)))
    }

    /// The first `N` bytes of `v`, or a clear error when it is shorter.
    pub fn fixed<const N: usize>(
        &self,
        v: &[u8],
        name: &'static str,
    ) -> Result<[u8; N], IpvsError> {
        v.get(..N)
            .and_then(|b| <[u8; N]>::try_from(b).ok())
            .ok_or_else(|| {
                IpvsError::Malformed(format!(
                    "{}: {name} has {} bytes, expected {N}",
                    self.nest,
                    v.len()
                ))
            })
    }
}

/// Encode `attrs` back to back, as a message body or a nest's value.
#[cfg(test)]
pub fn emit_all(attrs: &[Attr]) -> Vec<u8> {
    let mut out = vec![0u8; attrs.buffer_len()];
    attrs.emit(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // The byte layouts below are little-endian (x86_64, the appliance).
    #[cfg(target_endian = "little")]
    #[test]
    fn attributes_are_padded_to_four_bytes() {
        let cases: Vec<(&str, Attr, Vec<u8>)> = vec![
            ("u16", Attr::U16(1, 2), vec![6, 0, 1, 0, 2, 0, 0, 0]),
            ("u32", Attr::U32(8, 300), vec![8, 0, 8, 0, 0x2c, 1, 0, 0]),
            (
                "string with its NUL",
                Attr::Str(6, "wlc".into()),
                vec![8, 0, 6, 0, b'w', b'l', b'c', 0],
            ),
            (
                "string padded",
                Attr::Str(6, "rr".into()),
                vec![7, 0, 6, 0, b'r', b'r', 0, 0],
            ),
            (
                "nested sets NLA_F_NESTED",
                Attr::Nested(1, vec![Attr::U16(1, 2)]),
                vec![12, 0, 1, 0x80, 6, 0, 1, 0, 2, 0, 0, 0],
            ),
        ];
        for (name, attr, want) in cases {
            assert_eq!(emit_all(&[attr]), want, "case {name}");
        }
    }

    #[test]
    fn attrs_index_by_type_and_skip_unknown() {
        let body = emit_all(&[
            Attr::U16(1, 10),
            Attr::Bytes(4, vec![0x1f, 0x90]),
            Attr::U32(40, 7), // beyond what we read: skipped
            Attr::Str(6, "rr".into()),
        ]);
        let attrs = Attrs::parse("test", &body).unwrap();
        assert_eq!(attrs.u16(1, "AF").unwrap(), 10);
        assert_eq!(attrs.be16(4, "PORT").unwrap(), 8080);
        assert_eq!(attrs.string(6, "SCHED_NAME").unwrap(), "rr");
        assert!(attrs.get(5).is_none());
        let missing = attrs.u32(5, "FWMARK").unwrap_err().to_string();
        assert!(missing.contains("test: no FWMARK"), "{missing}");
    }

    #[test]
    fn short_values_are_errors_not_panics() {
        let body = emit_all(&[Attr::Bytes(2, vec![1])]);
        let attrs = Attrs::parse("svc", &body).unwrap();
        let err = attrs.u32(2, "PROTOCOL").unwrap_err().to_string();
        assert!(err.contains("PROTOCOL has 1 bytes, expected 4"), "{err}");
    }

    #[test]
    fn truncated_attribute_is_malformed() {
        // Claims 12 bytes, only 6 present.
        let body = [12u8, 0, 1, 0, 2, 0];
        assert!(Attrs::parse("svc", &body).is_err());
    }
}
