//! What a running instance counts, for `/metrics` and `/status`: adverts
//! sent and received, and the packets dropped by the reason RFC 5798 §7.1
//! gives. Atomics, written by the instance's task, read by whoever takes a
//! snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

use super::packet::PacketError;

#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    /// Adverts of our VRID from a peer, acted on.
    pub received: AtomicU64,
    pub ttl: AtomicU64,
    pub checksum: AtomicU64,
    /// Not a VRRPv3 advertisement (another version or type).
    pub version: AtomicU64,
    /// An advert of another virtual router.
    pub vrid: AtomicU64,
    /// Malformed: truncated, lengths that do not add up, a zero interval.
    pub length: AtomicU64,
    /// Not from a configured unicast peer.
    pub peer: AtomicU64,
}

impl Counters {
    pub fn hit(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// The counter a packet refused for `error` goes to.
    pub fn of(&self, error: &PacketError) -> &AtomicU64 {
        match error {
            PacketError::BadTtl(_) => &self.ttl,
            PacketError::BadChecksum { .. } => &self.checksum,
            PacketError::BadVersion(_) | PacketError::BadType(_) | PacketError::NotVrrp(_) => {
                &self.version
            }
            PacketError::Truncated { .. }
            | PacketError::NotIpv4(_)
            | PacketError::BadHeaderLength(_)
            | PacketError::Fragment
            | PacketError::BadLength { .. }
            | PacketError::ZeroInterval => &self.length,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_reason() {
        let c = Counters::default();
        Counters::hit(c.of(&PacketError::BadTtl(64)));
        Counters::hit(c.of(&PacketError::BadVersion(2)));
        Counters::hit(c.of(&PacketError::BadLength { len: 9, count: 1 }));
        Counters::hit(c.of(&PacketError::BadChecksum {
            found: 1,
            expected: 2,
        }));
        let got = [&c.ttl, &c.version, &c.length, &c.checksum, &c.vrid, &c.peer].map(Counters::get);
        assert_eq!(got, [1, 1, 1, 1, 0, 0]);
    }
}
