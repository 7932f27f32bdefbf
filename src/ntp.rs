//! NTP as a client speaks it (RFC 5905, the SNTP subset of RFC 4330): one
//! 48-byte request, one reply checked and turned into the clock's offset
//! from the server and the round trip's delay. No sockets and no clocks
//! here: the caller passes the instants (see `pid1/clock.rs`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// NTP's port.
pub const PORT: u16 = 123;
/// Seconds from NTP's era (1900-01-01) to the Unix epoch (1970-01-01).
const UNIX_FROM_NTP: u64 = 2_208_988_800;

/// An NTP timestamp: seconds since 1900 and a binary fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(u64);

impl Timestamp {
    pub fn from_system(time: SystemTime) -> Timestamp {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let seconds = since.as_secs() + UNIX_FROM_NTP;
        let fraction = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
        Timestamp((seconds << 32) | fraction)
    }

    /// Seconds since the Unix epoch, as a float (for offsets).
    fn unix_seconds(self) -> f64 {
        let seconds = (self.0 >> 32) as f64 - UNIX_FROM_NTP as f64;
        seconds + (self.0 & 0xffff_ffff) as f64 / 4_294_967_296.0
    }

    fn read(bytes: &[u8]) -> Timestamp {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[..8]);
        Timestamp(u64::from_be_bytes(b))
    }
}

/// A client request (version 4, mode 3) whose transmit timestamp is
/// `sent`: the server echoes it back as the reply's origin, which ties the
/// reply to this request.
pub fn request(sent: Timestamp) -> [u8; 48] {
    let mut packet = [0u8; 48];
    packet[0] = (4 << 3) | 3;
    packet[40..48].copy_from_slice(&sent.0.to_be_bytes());
    packet
}

/// Why a reply is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0} bytes; an NTP reply has at least 48")]
    Short(usize),
    #[error("mode {0}, not a server's (4)")]
    Mode(u8),
    #[error("version {0}")]
    Version(u8),
    #[error("the server is not synchronised (stratum {0}, leap indicator {1})")]
    Unsynchronised(u8, u8),
    #[error("kiss-o'-death {0:?}")]
    Kiss(String),
    #[error("its origin timestamp is not our request's")]
    NotOurs,
}

/// What a good reply says, with the instants of the exchange.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// How far the local clock is behind the server's: add it to be right.
    pub offset: f64,
    /// The round trip, less the server's own time.
    pub delay: f64,
    pub stratum: u8,
}

/// Check `reply` to the request sent at `sent`, received at `received`
/// (local clock), and work out the offset and delay.
pub fn sample(reply: &[u8], sent: Timestamp, received: Timestamp) -> Result<Sample, Refused> {
    if reply.len() < 48 {
        return Err(Refused::Short(reply.len()));
    }
    let (leap, version, mode) = (reply[0] >> 6, (reply[0] >> 3) & 7, reply[0] & 7);
    let stratum = reply[1];
    if mode != 4 {
        return Err(Refused::Mode(mode));
    }
    if !(3..=4).contains(&version) {
        return Err(Refused::Version(version));
    }
    if stratum == 0 {
        let code = String::from_utf8_lossy(&reply[12..16]).into_owned();
        return Err(Refused::Kiss(code));
    }
    if leap == 3 || stratum >= 16 {
        return Err(Refused::Unsynchronised(stratum, leap));
    }
    if Timestamp::read(&reply[24..32]) != sent {
        return Err(Refused::NotOurs);
    }
    let t1 = sent.unix_seconds();
    let t2 = Timestamp::read(&reply[32..40]).unix_seconds();
    let t3 = Timestamp::read(&reply[40..48]).unix_seconds();
    let t4 = received.unix_seconds();
    Ok(Sample {
        offset: ((t2 - t1) + (t3 - t4)) / 2.0,
        delay: ((t4 - t1) - (t3 - t2)).max(0.0),
        stratum,
    })
}

/// `offset` seconds as a signed duration: (behind, how much).
pub fn split(offset: f64) -> (bool, Duration) {
    (
        offset < 0.0,
        Duration::from_secs_f64(offset.abs().min(1e12)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: f64) -> Timestamp {
        Timestamp::from_system(UNIX_EPOCH + Duration::from_secs_f64(unix))
    }

    /// A server reply to `sent`, received at t2 and sent at t3.
    fn reply(sent: Timestamp, t2: Timestamp, t3: Timestamp) -> [u8; 48] {
        let mut r = [0u8; 48];
        r[0] = (4 << 3) | 4;
        r[1] = 2;
        r[24..32].copy_from_slice(&sent.0.to_be_bytes());
        r[32..40].copy_from_slice(&t2.0.to_be_bytes());
        r[40..48].copy_from_slice(&t3.0.to_be_bytes());
        r
    }

    #[test]
    fn request_is_a_v4_client_packet_carrying_its_time() {
        let t = at(1_700_000_000.5);
        let p = request(t);
        assert_eq!(p[0], 0x23);
        assert_eq!(&p[1..40], &[0u8; 39][..]);
        assert_eq!(Timestamp::read(&p[40..48]), t);
        // 2023-11-14T22:13:20.5Z in NTP seconds and half a second.
        assert_eq!(t.0 >> 32, 1_700_000_000 + UNIX_FROM_NTP);
        assert_eq!(t.0 & 0xffff_ffff, 1 << 31);
    }

    #[test]
    fn offset_and_delay() {
        // Local clock 100 s behind; 20 ms each way, 2 ms in the server.
        let t1 = at(1000.0);
        let t2 = at(1100.020);
        let t3 = at(1100.022);
        let t4 = at(1000.042);
        let s = sample(&reply(t1, t2, t3), t1, t4).unwrap();
        assert!((s.offset - 100.0).abs() < 1e-6, "{s:?}");
        assert!((s.delay - 0.040).abs() < 1e-6, "{s:?}");
        assert_eq!(s.stratum, 2);
        let (behind, by) = split(-1.5);
        assert!(behind);
        assert_eq!(by, Duration::from_millis(1500));
    }

    #[test]
    fn replies_refused() {
        let t = at(1000.0);
        let good = reply(t, t, t);
        let mut cases: Vec<(Vec<u8>, Refused)> = vec![(good[..47].to_vec(), Refused::Short(47))];
        let mut m = good;
        m[0] = (4 << 3) | 3;
        cases.push((m.to_vec(), Refused::Mode(3)));
        let mut v = good;
        v[0] = (1 << 3) | 4;
        cases.push((v.to_vec(), Refused::Version(1)));
        let mut k = good;
        k[1] = 0;
        k[12..16].copy_from_slice(b"RATE");
        cases.push((k.to_vec(), Refused::Kiss("RATE".into())));
        let mut u = good;
        u[0] |= 3 << 6;
        cases.push((u.to_vec(), Refused::Unsynchronised(2, 3)));
        let mut s16 = good;
        s16[1] = 16;
        cases.push((s16.to_vec(), Refused::Unsynchronised(16, 0)));
        for (packet, why) in cases {
            assert_eq!(sample(&packet, t, t), Err(why));
        }
        assert_eq!(sample(&good, at(999.0), t), Err(Refused::NotOurs));
    }
}
