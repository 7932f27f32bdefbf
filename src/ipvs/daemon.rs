//! The kernel's IPVS connection sync daemon as `ipvsadm -L --daemon`
//! reports it, and its nested `IPVS_CMD_ATTR_DAEMON` attribute both ways
//! (`sync.rs` starts and stops daemons with it).
//!
//! The master director's daemon multicasts every connection it balances
//! (to 224.0.0.81:8848 on the sync interface); the backup's daemon
//! receives them into its own connection table, so that when the backup
//! takes the virtual addresses over, established connections find their
//! real server there. Both kinds may run at once in one kernel; a director
//! that follows VRRP runs exactly one, by its role.
//!
//! Numbers from `include/uapi/linux/ip_vs.h`; the kernel side is
//! `ip_vs_genl_set_daemon` and `ip_vs_genl_dump_daemons` in
//! `net/netfilter/ipvs/ip_vs_ctl.c` (checked against Linux 6.12).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::attr::{Attribute, Value, Wire, find, need, parse};
use super::cmd::CMD_ATTR_DAEMON;
use super::error::IpvsError;

// Inside `IPVS_CMD_ATTR_DAEMON` (`IPVS_DAEMON_ATTR_*`).
const DAEMON_ATTR_STATE: u16 = 1;
const DAEMON_ATTR_MCAST_IFN: u16 = 2;
const DAEMON_ATTR_SYNC_ID: u16 = 3;
const DAEMON_ATTR_SYNC_MAXLEN: u16 = 4;
const DAEMON_ATTR_MCAST_GROUP: u16 = 5;
const DAEMON_ATTR_MCAST_GROUP6: u16 = 6;
const DAEMON_ATTR_MCAST_PORT: u16 = 7;
const DAEMON_ATTR_MCAST_TTL: u16 = 8;

/// `IP_VS_STATE_MASTER` and `IP_VS_STATE_BACKUP`.
const STATE_MASTER: u32 = 1;
const STATE_BACKUP: u32 = 2;

/// One attribute inside `IPVS_CMD_ATTR_DAEMON`, integers in host order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonAttr<'a> {
    /// `IP_VS_STATE_*`: master or backup.
    State(u32),
    /// `--mcast-interface`.
    McastIfn(&'a str),
    /// `--syncid` (the kernel keeps a u32; ipvsadm takes 0-255).
    SyncId(u32),
    /// UDP payload size.
    SyncMaxLen(u16),
    McastGroup(Ipv4Addr),
    McastGroup6(Ipv6Addr),
    /// Base UDP port: an `NLA_U16` in host order, unlike the services'
    /// ports.
    McastPort(u16),
    McastTtl(u8),
    /// Any other attribute, as it came.
    Other(u16, &'a [u8]),
}

impl<'a> DaemonAttr<'a> {
    /// Read one attribute of a daemon nest.
    fn parse(kind: u16, v: Value<'a>) -> Result<DaemonAttr<'a>, IpvsError> {
        Ok(match kind {
            DAEMON_ATTR_STATE => DaemonAttr::State(v.u32("STATE")?),
            DAEMON_ATTR_MCAST_IFN => DaemonAttr::McastIfn(v.string("MCAST_IFN")?),
            DAEMON_ATTR_SYNC_ID => DaemonAttr::SyncId(v.u32("SYNC_ID")?),
            DAEMON_ATTR_SYNC_MAXLEN => DaemonAttr::SyncMaxLen(v.u16("SYNC_MAXLEN")?),
            DAEMON_ATTR_MCAST_GROUP => DaemonAttr::McastGroup(v.ipv4("MCAST_GROUP")?),
            DAEMON_ATTR_MCAST_GROUP6 => DaemonAttr::McastGroup6(v.ipv6("MCAST_GROUP6")?),
            DAEMON_ATTR_MCAST_PORT => DaemonAttr::McastPort(v.u16("MCAST_PORT")?),
            DAEMON_ATTR_MCAST_TTL => DaemonAttr::McastTtl(v.u8("MCAST_TTL")?),
            other => DaemonAttr::Other(other, v.bytes()),
        })
    }
}

impl Attribute for DaemonAttr<'_> {
    fn wire(&self) -> (u16, Wire<'_>) {
        match *self {
            DaemonAttr::State(state) => (DAEMON_ATTR_STATE, Wire::U32(state)),
            DaemonAttr::McastIfn(name) => (DAEMON_ATTR_MCAST_IFN, Wire::Str(name)),
            DaemonAttr::SyncId(id) => (DAEMON_ATTR_SYNC_ID, Wire::U32(id)),
            DaemonAttr::SyncMaxLen(len) => (DAEMON_ATTR_SYNC_MAXLEN, Wire::U16(len)),
            DaemonAttr::McastGroup(g) => (DAEMON_ATTR_MCAST_GROUP, Wire::Addr(g.into())),
            DaemonAttr::McastGroup6(g) => (DAEMON_ATTR_MCAST_GROUP6, Wire::Addr(g.into())),
            DaemonAttr::McastPort(port) => (DAEMON_ATTR_MCAST_PORT, Wire::U16(port)),
            DaemonAttr::McastTtl(ttl) => (DAEMON_ATTR_MCAST_TTL, Wire::U8(ttl)),
            DaemonAttr::Other(kind, value) => (kind, Wire::Bytes(value)),
        }
    }
}

/// Which sync daemon: the master sends, the backup receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyncRole {
    Master,
    Backup,
}

impl SyncRole {
    /// `IP_VS_STATE_*`.
    fn state(self) -> u32 {
        match self {
            SyncRole::Master => STATE_MASTER,
            SyncRole::Backup => STATE_BACKUP,
        }
    }

    /// The other role.
    pub fn other(self) -> SyncRole {
        match self {
            SyncRole::Master => SyncRole::Backup,
            SyncRole::Backup => SyncRole::Master,
        }
    }

    /// As ipvsadm writes it (`--start-daemon master`).
    pub fn name(self) -> &'static str {
        match self {
            SyncRole::Master => "master",
            SyncRole::Backup => "backup",
        }
    }
}

/// A running sync daemon, as the kernel reports it (`ipvsadm -L --daemon`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemon {
    pub role: SyncRole,
    /// `--mcast-interface`: where sync messages are sent or received.
    pub interface: String,
    /// `--syncid`: the backup takes only messages with its own id.
    pub sync_id: u32,
    /// UDP payload size (`--sync-maxlen`), when reported.
    pub max_len: Option<u16>,
    /// Multicast group (`--mcast-group`), when reported.
    pub group: Option<IpAddr>,
    /// Base UDP port (`--mcast-port`), when reported.
    pub port: Option<u16>,
    /// Multicast TTL (`--mcast-ttl`), when reported.
    pub ttl: Option<u8>,
}

impl SyncDaemon {
    /// Decode one `GET_DAEMON` reply body (the attributes after the generic
    /// header: `IPVS_CMD_ATTR_DAEMON` and its nest).
    pub(super) fn decode(body: &[u8]) -> Result<SyncDaemon, IpvsError> {
        const NEST: &str = "IPVS_CMD_ATTR_DAEMON";
        let nest = find("IPVS daemon reply", body, CMD_ATTR_DAEMON, NEST)?;
        let (mut state, mut interface, mut sync_id) = (None, None, None);
        let (mut max_len, mut group4, mut group6) = (None, None, None);
        let (mut port, mut ttl) = (None, None);
        for attr in parse(NEST, nest.bytes()) {
            let (kind, v) = attr?;
            match DaemonAttr::parse(kind, v)? {
                DaemonAttr::State(s) => state = Some(s),
                DaemonAttr::McastIfn(name) => interface = Some(name),
                DaemonAttr::SyncId(id) => sync_id = Some(id),
                DaemonAttr::SyncMaxLen(len) => max_len = Some(len),
                DaemonAttr::McastGroup(g) => group4 = Some(IpAddr::V4(g)),
                DaemonAttr::McastGroup6(g) => group6 = Some(IpAddr::V6(g)),
                DaemonAttr::McastPort(p) => port = Some(p),
                DaemonAttr::McastTtl(t) => ttl = Some(t),
                DaemonAttr::Other(..) => {}
            }
        }
        let role = match need(NEST, "STATE", state)? {
            STATE_MASTER => SyncRole::Master,
            STATE_BACKUP => SyncRole::Backup,
            other => {
                return Err(IpvsError::Malformed(format!(
                    "{NEST}: unknown state {other}"
                )));
            }
        };
        Ok(SyncDaemon {
            role,
            interface: need(NEST, "MCAST_IFN", interface)?.to_string(),
            sync_id: need(NEST, "SYNC_ID", sync_id)?,
            max_len,
            group: group4.or(group6),
            port,
            ttl,
        })
    }
}

/// `master sync daemon (mcast=lan, syncid=51)`, as `ipvsadm -L --daemon`
/// begins its lines.
impl fmt::Display for SyncDaemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sync daemon (mcast={}, syncid={})",
            self.role.name(),
            self.interface,
            self.sync_id
        )
    }
}

/// The `NEW_DAEMON` nest: role, interface and sync id; the kernel picks
/// the defaults for the rest (group 224.0.0.81, port 8848, TTL 1, payload
/// from the interface MTU).
pub(super) fn start_attrs(role: SyncRole, interface: &str, sync_id: u8) -> Vec<DaemonAttr<'_>> {
    vec![
        DaemonAttr::State(role.state()),
        DaemonAttr::McastIfn(interface),
        DaemonAttr::SyncId(sync_id.into()),
    ]
}

/// The `DEL_DAEMON` nest: the role alone.
pub(super) fn stop_attrs(role: SyncRole) -> Vec<DaemonAttr<'static>> {
    vec![DaemonAttr::State(role.state())]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `GET_DAEMON` reply as `ip_vs_genl_fill_daemon` writes it: the
    /// nest without NLA_F_NESTED, every attribute of a Linux 6.x kernel.
    #[cfg(target_endian = "little")]
    #[test]
    fn decode_a_dump_reply() {
        #[rustfmt::skip]
        let body: Vec<u8> = vec![
            60, 0, 3, 0,                    // IPVS_CMD_ATTR_DAEMON
            8, 0, 1, 0, 2, 0, 0, 0,         // STATE backup
            7, 0, 2, 0, b'e', b'0', 0, 0,   // MCAST_IFN "e0"
            8, 0, 3, 0, 7, 0, 0, 0,         // SYNC_ID 7
            6, 0, 4, 0, 0xc8, 0x05, 0, 0,   // SYNC_MAXLEN 1480
            6, 0, 7, 0, 0x80, 0x22, 0, 0,   // MCAST_PORT 8832
            5, 0, 8, 0, 1, 0, 0, 0,         // MCAST_TTL 1
            8, 0, 5, 0, 224, 0, 0, 81,      // MCAST_GROUP 224.0.0.81
        ];
        let daemon = SyncDaemon::decode(&body).unwrap();
        assert_eq!(
            daemon,
            SyncDaemon {
                role: SyncRole::Backup,
                interface: "e0".into(),
                sync_id: 7,
                max_len: Some(1480),
                group: Some("224.0.0.81".parse().unwrap()),
                port: Some(8832),
                ttl: Some(1),
            }
        );
        assert_eq!(
            daemon.to_string(),
            "backup sync daemon (mcast=e0, syncid=7)"
        );
    }

    /// Older kernels send only state, interface and id.
    #[cfg(target_endian = "little")]
    #[test]
    fn decode_a_minimal_reply_and_reject_bad_ones() {
        #[rustfmt::skip]
        let minimal: Vec<u8> = vec![
            28, 0, 3, 0,
            8, 0, 1, 0, 1, 0, 0, 0,
            8, 0, 2, 0, b'l', b'a', b'n', 0,
            8, 0, 3, 0, 0, 1, 0, 0,         // SYNC_ID 256: the kernel keeps a u32
        ];
        let daemon = SyncDaemon::decode(&minimal).unwrap();
        assert_eq!(daemon.role, SyncRole::Master);
        assert_eq!(
            (daemon.sync_id, daemon.max_len, daemon.group),
            (256, None, None)
        );

        let mut bad_state = minimal.clone();
        bad_state[8] = 3;
        let err = SyncDaemon::decode(&bad_state).unwrap_err().to_string();
        assert!(err.contains("unknown state 3"), "{err}");

        let no_nest = &minimal[4..20]; // state and interface, without their nest
        let err = SyncDaemon::decode(no_nest).unwrap_err().to_string();
        assert!(err.contains("no IPVS_CMD_ATTR_DAEMON"), "{err}");
    }

    /// Every daemon attribute on its own, byte for byte from ip_vs.h, and
    /// read back to itself (little-endian host).
    #[cfg(target_endian = "little")]
    #[test]
    fn each_attribute_both_ways() {
        use crate::ipvs::attr::emit_all;
        #[rustfmt::skip]
        let cases: Vec<(DaemonAttr, Vec<u8>)> = vec![
            (DaemonAttr::State(2), vec![8, 0, 1, 0, 2, 0, 0, 0]),
            (DaemonAttr::McastIfn("sync0"), vec![10, 0, 2, 0, b's', b'y', b'n', b'c', b'0', 0, 0, 0]),
            (DaemonAttr::SyncId(51), vec![8, 0, 3, 0, 51, 0, 0, 0]),
            (DaemonAttr::SyncMaxLen(1472), vec![6, 0, 4, 0, 0xc0, 0x05, 0, 0]),
            (DaemonAttr::McastGroup("239.1.2.3".parse().unwrap()), vec![8, 0, 5, 0, 239, 1, 2, 3]),
            (DaemonAttr::McastGroup6("ff02::51".parse().unwrap()),
                vec![20, 0, 6, 0, 0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x51]),
            // Host order, unlike a service's port: 8848 is 0x2290.
            (DaemonAttr::McastPort(8848), vec![6, 0, 7, 0, 0x90, 0x22, 0, 0]),
            (DaemonAttr::McastTtl(3), vec![5, 0, 8, 0, 3, 0, 0, 0]),
            (DaemonAttr::Other(9, &[1, 2, 3, 4]), vec![8, 0, 9, 0, 1, 2, 3, 4]),
        ];
        for (attr, want) in cases {
            let bytes = emit_all(&[attr]);
            assert_eq!(bytes, want, "{attr:?}");
            let (kind, v) = parse("test", &bytes).next().unwrap().unwrap();
            assert_eq!(DaemonAttr::parse(kind, v).unwrap(), attr);
        }
    }

    #[test]
    fn roles() {
        assert_eq!(SyncRole::Master.other(), SyncRole::Backup);
        assert_eq!(SyncRole::Backup.other(), SyncRole::Master);
        assert_eq!((SyncRole::Master.state(), SyncRole::Backup.state()), (1, 2));
    }
}
