//! The VRRPv3 advertisement (RFC 5798 §5) for IPv4: encoding, decoding and
//! the receiver's checks of §7.1.
//!
//! An advert is IP protocol 112, sent with TTL 255 to 224.0.0.18 (or to a
//! unicast peer). Its body is 8 bytes plus 4 per virtual address:
//!
//! ```text
//!  0                   1                   2                   3
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! |                       IPv4 Address(es)                        |
//! ```
//!
//! The checksum covers an IPv4 pseudo-header (source, destination, zero,
//! protocol 112, VRRP length) followed by the VRRP message (§5.2.8), which
//! is how keepalived computes it for `vrrp_version 3`; VRRPv2's checksum
//! had no pseudo-header, so a v2 peer's adverts fail here and vice versa.
//!
//! The IPv4 header is ours too ([`build_ipv4`], for an `IP_HDRINCL` socket)
//! so that TTL, TOS and the source address the checksum covers are exactly
//! what we say, and so tests can build wrong packets on purpose.

use std::net::Ipv4Addr;
use std::time::Duration;

/// IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;

/// The IPv4 multicast group adverts go to.
pub const MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// The only TTL a VRRP router sends and accepts: a packet that crossed a
/// router arrives with less, so 255 proves it came from the segment.
pub const TTL: u8 = 255;

/// The protocol version this module speaks.
pub const VERSION: u8 = 3;

/// Type 1, the only one RFC 5798 defines.
pub const TYPE_ADVERTISEMENT: u8 = 1;

/// Type of service of our adverts: precedence "internetwork control", as
/// keepalived sends them, so QoS on the segment does not delay them.
pub const TOS: u8 = 0xc0;

/// Size of the fixed part of the VRRP message.
pub const HEADER_LEN: usize = 8;

/// Size of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;

/// Largest advert interval the 12-bit field holds: 4095 centiseconds.
pub const MAX_INTERVAL_CENTIS: u16 = 0x0fff;

/// Why a received packet is not an advert we act on. Each one is a rule of
/// RFC 5798 §7.1 (or a plainly malformed IPv4 header); the receiver drops
/// the packet and logs the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("{len}-byte packet is shorter than {needed} bytes")]
    Truncated { len: usize, needed: usize },

    #[error("not an IPv4 header (version {0})")]
    NotIpv4(u8),

    #[error("IPv4 header length {0} is invalid")]
    BadHeaderLength(usize),

    #[error("IP protocol {0} is not VRRP (112)")]
    NotVrrp(u8),

    #[error("fragmented packet")]
    Fragment,

    #[error("TTL {0} is not 255: the packet did not come from this segment")]
    BadTtl(u8),

    #[error("VRRP version {0}, expected 3 (is the peer set to vrrp_version 3?)")]
    BadVersion(u8),

    #[error("VRRP type {0} is not an advertisement (1)")]
    BadType(u8),

    #[error("VRRP length {len} does not match its count of {count} IPv4 addresses")]
    BadLength { len: usize, count: u8 },

    #[error("bad checksum {found:#06x} (expected {expected:#06x})")]
    BadChecksum { found: u16, expected: u16 },

    #[error("advert interval of 0 centiseconds")]
    ZeroInterval,
}

/// One VRRPv3 advertisement, as sent or as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// Virtual router id, 1..=255.
    pub vrid: u8,
    /// 0 = the master is leaving; 255 = the address owner.
    pub priority: u8,
    /// Max Adver Int, in centiseconds (12 bits).
    pub interval_centis: u16,
    /// The virtual IPv4 addresses the sender protects.
    pub addresses: Vec<Ipv4Addr>,
}

impl Advert {
    /// The advert interval as a duration.
    pub fn interval(&self) -> Duration {
        centis_to_duration(self.interval_centis)
    }

    /// The VRRP message (no IP header), checksummed for a packet from `src`
    /// to `dst`. At most 255 addresses are carried (the count is a byte).
    pub fn encode(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let addresses = &self.addresses[..self.addresses.len().min(255)];
        let mut out = Vec::with_capacity(HEADER_LEN + 4 * addresses.len());
        out.push((VERSION << 4) | TYPE_ADVERTISEMENT);
        out.push(self.vrid);
        out.push(self.priority);
        out.push(addresses.len() as u8);
        out.extend_from_slice(&(self.interval_centis & MAX_INTERVAL_CENTIS).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        for a in addresses {
            out.extend_from_slice(&a.octets());
        }
        let sum = checksum(src, dst, &out);
        out[6..8].copy_from_slice(&sum.to_be_bytes());
        out
    }

    /// Parse and check a VRRP message that came from `src` to `dst` (the
    /// addresses its IPv4 header carried, which the checksum covers).
    ///
    /// Checks version 3, type 1, that the length holds exactly the
    /// addresses counted, the checksum, and a non-zero interval. The VRID
    /// and the address list are the caller's to compare with its own.
    pub fn decode(payload: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<Advert, PacketError> {
        if payload.len() < HEADER_LEN {
            return Err(PacketError::Truncated {
                len: payload.len(),
                needed: HEADER_LEN,
            });
        }
        let version = payload[0] >> 4;
        if version != VERSION {
            return Err(PacketError::BadVersion(version));
        }
        let kind = payload[0] & 0x0f;
        if kind != TYPE_ADVERTISEMENT {
            return Err(PacketError::BadType(kind));
        }
        let count = payload[3];
        if payload.len() != HEADER_LEN + 4 * usize::from(count) {
            return Err(PacketError::BadLength {
                len: payload.len(),
                count,
            });
        }
        let found = u16::from_be_bytes([payload[6], payload[7]]);
        // Summing a message with its checksum in place gives 0 when it is right.
        if checksum(src, dst, payload) != 0 {
            let mut zeroed = payload.to_vec();
            zeroed[6..8].copy_from_slice(&[0, 0]);
            return Err(PacketError::BadChecksum {
                found,
                expected: checksum(src, dst, &zeroed),
            });
        }
        let interval_centis = u16::from_be_bytes([payload[4], payload[5]]) & MAX_INTERVAL_CENTIS;
        if interval_centis == 0 {
            return Err(PacketError::ZeroInterval);
        }
        let addresses = payload[HEADER_LEN..]
            .chunks_exact(4)
            .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
            .collect();
        Ok(Advert {
            vrid: payload[1],
            priority: payload[2],
            interval_centis,
            addresses,
        })
    }
}

/// The parts of a received IPv4 header the VRRP checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Datagram<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub protocol: u8,
    /// What follows the header, cut to the header's total length.
    pub payload: &'a [u8],
}

/// Split what a raw IPv4 socket returns (header included) into header
/// fields and payload. Fragments are refused: an advert always fits in one.
pub fn parse_ipv4(buf: &[u8]) -> Result<Ipv4Datagram<'_>, PacketError> {
    if buf.len() < IPV4_HEADER_LEN {
        return Err(PacketError::Truncated {
            len: buf.len(),
            needed: IPV4_HEADER_LEN,
        });
    }
    let version = buf[0] >> 4;
    if version != 4 {
        return Err(PacketError::NotIpv4(version));
    }
    let header_len = usize::from(buf[0] & 0x0f) * 4;
    if header_len < IPV4_HEADER_LEN {
        return Err(PacketError::BadHeaderLength(header_len));
    }
    let total = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if total < header_len {
        return Err(PacketError::BadHeaderLength(header_len));
    }
    if buf.len() < total {
        return Err(PacketError::Truncated {
            len: buf.len(),
            needed: total,
        });
    }
    let frag = u16::from_be_bytes([buf[6], buf[7]]);
    // More-fragments set, or a non-zero offset.
    if frag & 0x3fff != 0 {
        return Err(PacketError::Fragment);
    }
    Ok(Ipv4Datagram {
        src: Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]),
        dst: Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]),
        ttl: buf[8],
        protocol: buf[9],
        payload: &buf[header_len..total],
    })
}

/// A received advert with the addresses of its IP header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub advert: Advert,
}

/// Every check of RFC 5798 §7.1 that needs only the packet: IPv4,
/// protocol 112, TTL 255, then [`Advert::decode`].
pub fn receive(buf: &[u8]) -> Result<Received, PacketError> {
    let ip = parse_ipv4(buf)?;
    if ip.protocol != PROTOCOL {
        return Err(PacketError::NotVrrp(ip.protocol));
    }
    if ip.ttl != TTL {
        return Err(PacketError::BadTtl(ip.ttl));
    }
    let advert = Advert::decode(ip.payload, ip.src, ip.dst)?;
    Ok(Received {
        src: ip.src,
        dst: ip.dst,
        advert,
    })
}

/// A whole IPv4 packet around `payload`: 20-byte header, no options, TOS
/// [`TOS`], no fragmentation, protocol 112, header checksum filled in.
pub fn build_ipv4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, id: u16, payload: &[u8]) -> Vec<u8> {
    let total = (IPV4_HEADER_LEN + payload.len()) as u16;
    let mut out = Vec::with_capacity(usize::from(total));
    out.push(0x45);
    out.push(TOS);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.push(ttl);
    out.push(PROTOCOL);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    let sum = fold(sum_words(0, &out));
    out[10..12].copy_from_slice(&(!sum).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// RFC 5798 §5.2.8 checksum of `message` sent from `src` to `dst`: the
/// Internet checksum of the pseudo-header followed by the message. Over a
/// message whose checksum field is zero this is the value to put there;
/// over one with a correct checksum in place it is 0.
pub fn checksum(src: Ipv4Addr, dst: Ipv4Addr, message: &[u8]) -> u16 {
    let mut pseudo = [0u8; 12];
    pseudo[0..4].copy_from_slice(&src.octets());
    pseudo[4..8].copy_from_slice(&dst.octets());
    pseudo[9] = PROTOCOL;
    pseudo[10..12].copy_from_slice(&(message.len() as u16).to_be_bytes());
    !fold(sum_words(sum_words(0, &pseudo), message))
}

/// Add `bytes` as big-endian 16-bit words (an odd last byte padded with 0).
fn sum_words(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut words = bytes.chunks_exact(2);
    for w in &mut words {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Fold the carries of a 32-bit one's-complement sum into 16 bits.
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// An interval in whole centiseconds, rounded to the nearest and kept in
/// the field's 1..=4095 range.
pub fn duration_to_centis(d: Duration) -> u16 {
    let centis = (d.as_millis() + 5) / 10;
    centis.clamp(1, u128::from(MAX_INTERVAL_CENTIS)) as u16
}

/// Centiseconds as a duration.
pub fn centis_to_duration(centis: u16) -> Duration {
    Duration::from_millis(u64::from(centis) * 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adverts sent by Debian 12's keepalived 2.2.7 (`vrrp_version 3`),
    /// whole IPv4 packets as a raw socket returns them. Captured on a veth
    /// pair between two network namespaces: keepalived in one
    /// (`keepalived -n -l -D -f k.conf`, interface address 10.77.0.1/24), in
    /// the other a Python `socket(AF_INET, SOCK_RAW, 112)` joined to
    /// 224.0.0.18 on its end of the pair printing `recvfrom()` as hex.
    ///
    /// VRID 51, priority 150, `advert_int 1`, `virtual_ipaddress {
    /// 10.77.0.100/24; 192.168.3.1/24 dev vk1 }`: keepalived lists the
    /// address on the other interface too.
    const KEEPALIVED_MASTER: &str = "45c0002400110000ff70d0380a4d0001e0000012\
                                     3133960200647f2a0a4d0064c0a80301";
    /// The same instance after SIGTERM: the priority-0 advert it sends as
    /// it gives up the master role.
    const KEEPALIVED_RESIGN: &str = "45c0002400170000ff70d0320a4d0001e0000012\
                                     313300020064152b0a4d0064c0a80301";
    /// VRID 7, priority 100, `advert_int 0.35`, one address 10.77.0.100/24.
    const KEEPALIVED_SUBSECOND: &str = "45c0002000010000ff70d04c0a4d0001e0000012\
                                        31076401002375460a4d0064";

    const KEEPALIVED_SRC: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn decodes_keepalived_adverts() {
        let cases = [
            (
                KEEPALIVED_MASTER,
                Advert {
                    vrid: 51,
                    priority: 150,
                    interval_centis: 100,
                    addresses: vec![Ipv4Addr::new(10, 77, 0, 100), Ipv4Addr::new(192, 168, 3, 1)],
                },
            ),
            (
                KEEPALIVED_RESIGN,
                Advert {
                    vrid: 51,
                    priority: 0,
                    interval_centis: 100,
                    addresses: vec![Ipv4Addr::new(10, 77, 0, 100), Ipv4Addr::new(192, 168, 3, 1)],
                },
            ),
            (
                KEEPALIVED_SUBSECOND,
                Advert {
                    vrid: 7,
                    priority: 100,
                    interval_centis: 35,
                    addresses: vec![Ipv4Addr::new(10, 77, 0, 100)],
                },
            ),
        ];
        for (bytes, want) in cases {
            let got = receive(&hex(bytes)).unwrap_or_else(|e| panic!("{bytes}: {e}"));
            assert_eq!(got.src, KEEPALIVED_SRC);
            assert_eq!(got.dst, MULTICAST_GROUP);
            assert_eq!(got.advert, want);
        }
    }

    #[test]
    fn encodes_what_keepalived_sends() {
        for bytes in [KEEPALIVED_MASTER, KEEPALIVED_RESIGN, KEEPALIVED_SUBSECOND] {
            let packet = hex(bytes);
            let advert = receive(&packet).unwrap().advert;
            let ours = advert.encode(KEEPALIVED_SRC, MULTICAST_GROUP);
            assert_eq!(ours, packet[IPV4_HEADER_LEN..], "{bytes}");
        }
    }

    #[test]
    fn ipv4_header_matches_keepalived() {
        // Same id as the capture; everything else is what we always send.
        let packet = hex(KEEPALIVED_MASTER);
        let built = build_ipv4(
            KEEPALIVED_SRC,
            MULTICAST_GROUP,
            TTL,
            0x0011,
            &packet[IPV4_HEADER_LEN..],
        );
        assert_eq!(built, packet);
    }

    #[test]
    fn checksum_depends_on_the_pseudo_header() {
        let packet = hex(KEEPALIVED_MASTER);
        let vrrp = &packet[IPV4_HEADER_LEN..];
        assert_eq!(checksum(KEEPALIVED_SRC, MULTICAST_GROUP, vrrp), 0);
        // Sent by another source, the same bytes no longer add up.
        let err = Advert::decode(vrrp, Ipv4Addr::new(10, 77, 0, 2), MULTICAST_GROUP).unwrap_err();
        assert!(
            matches!(err, PacketError::BadChecksum { found: 0x7f2a, .. }),
            "{err}"
        );
        // Unicast: the destination counts too.
        let advert = Advert::decode(vrrp, KEEPALIVED_SRC, MULTICAST_GROUP).unwrap();
        let peer = Ipv4Addr::new(10, 77, 0, 2);
        let unicast = advert.encode(KEEPALIVED_SRC, peer);
        assert_ne!(unicast[6..8], vrrp[6..8]);
        assert_eq!(
            Advert::decode(&unicast, KEEPALIVED_SRC, peer).unwrap(),
            advert
        );
    }

    #[test]
    fn receiver_rejects_what_section_7_1_rejects() {
        let good = hex(KEEPALIVED_MASTER);
        let with = |offset: usize, value: u8| {
            let mut p = good.clone();
            p[offset] = value;
            p
        };
        let vrrp = IPV4_HEADER_LEN;
        let cases: Vec<(Vec<u8>, PacketError)> = vec![
            (with(8, 64), PacketError::BadTtl(64)),
            (with(8, 254), PacketError::BadTtl(254)),
            (with(9, 17), PacketError::NotVrrp(17)),
            (with(0, 0x65), PacketError::NotIpv4(6)),
            (with(0, 0x44), PacketError::BadHeaderLength(16)),
            (with(6, 0x20), PacketError::Fragment),
            (with(vrrp, 0x21), PacketError::BadVersion(2)),
            (with(vrrp, 0x32), PacketError::BadType(2)),
            (
                with(vrrp + 3, 3),
                PacketError::BadLength { len: 16, count: 3 },
            ),
            (
                with(vrrp + 2, 151),
                PacketError::BadChecksum {
                    found: 0x7f2a,
                    expected: 0x7e2a,
                },
            ),
            (
                good[..30].to_vec(),
                PacketError::Truncated {
                    len: 30,
                    needed: 36,
                },
            ),
            (
                good[..10].to_vec(),
                PacketError::Truncated {
                    len: 10,
                    needed: 20,
                },
            ),
        ];
        for (packet, want) in cases {
            assert_eq!(receive(&packet), Err(want.clone()), "{want}");
        }
    }

    #[test]
    fn zero_interval_is_refused() {
        let advert = Advert {
            vrid: 1,
            priority: 100,
            interval_centis: 0,
            addresses: vec![],
        };
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let bytes = advert.encode(src, MULTICAST_GROUP);
        assert_eq!(
            Advert::decode(&bytes, src, MULTICAST_GROUP),
            Err(PacketError::ZeroInterval)
        );
    }

    #[test]
    fn round_trips_odd_cases() {
        let src = Ipv4Addr::new(192, 168, 1, 2);
        for advert in [
            Advert {
                vrid: 255,
                priority: 255,
                interval_centis: MAX_INTERVAL_CENTIS,
                addresses: vec![],
            },
            Advert {
                vrid: 1,
                priority: 1,
                interval_centis: 1,
                addresses: (0..20).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect(),
            },
        ] {
            let bytes = advert.encode(src, MULTICAST_GROUP);
            let packet = build_ipv4(src, MULTICAST_GROUP, TTL, 7, &bytes);
            assert_eq!(receive(&packet).unwrap().advert, advert);
        }
    }

    #[test]
    fn intervals_in_centiseconds() {
        let cases = [
            (Duration::from_secs(1), 100),
            (Duration::from_millis(100), 10),
            (Duration::from_millis(350), 35),
            (Duration::from_millis(10), 1),
            (Duration::from_millis(4), 1),
            (Duration::from_millis(40_950), 4095),
            (Duration::from_secs(60), 4095),
        ];
        for (d, centis) in cases {
            assert_eq!(duration_to_centis(d), centis, "{d:?}");
        }
        assert_eq!(centis_to_duration(35), Duration::from_millis(350));
    }
}
