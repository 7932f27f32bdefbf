//! The kernel's IPVS connection sync daemon, as `ipvsadm --start-daemon`,
//! `--stop-daemon` and `-L --daemon` drive it.
//!
//! The master director's daemon multicasts every connection it balances
//! (to 224.0.0.81:8848 on the sync interface); the backup's daemon
//! receives them into its own connection table, so that when the backup
//! takes the virtual addresses over, established connections find their
//! real server there. Both kinds may run at once in one kernel; a director
//! that follows VRRP runs exactly one, by its role ([`Ipvs::sync_as`]).
//!
//! Numbers from `include/uapi/linux/ip_vs.h`; the kernel side is
//! `ip_vs_genl_set_daemon` and `ip_vs_genl_dump_daemons` in
//! `net/netfilter/ipvs/ip_vs_ctl.c` (checked against Linux 6.12).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::IpvsError;
use super::attr::{Attr, Attrs};
use super::socket::Ipvs;

/// `IPVS_CMD_NEW_DAEMON`: start a daemon (also the command of each
/// `GET_DAEMON` reply).
pub const CMD_NEW_DAEMON: u8 = 9;
/// `IPVS_CMD_DEL_DAEMON`: stop one.
pub const CMD_DEL_DAEMON: u8 = 10;
/// `IPVS_CMD_GET_DAEMON`: a dump of the running ones.
pub const CMD_GET_DAEMON: u8 = 11;
/// `IPVS_CMD_ATTR_DAEMON`: the nest holding the attributes below.
const CMD_ATTR_DAEMON: u16 = 3;

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

/// `ESRCH`: `DEL_DAEMON` of a daemon that is not running.
const ESRCH: i32 = 3;
/// `EEXIST`: `NEW_DAEMON` of a role that already runs.
const EEXIST: i32 = 17;

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
    fn decode(body: &[u8]) -> Result<SyncDaemon, IpvsError> {
        let outer = Attrs::parse("IPVS daemon reply", body)?;
        let nest = outer.require(CMD_ATTR_DAEMON, "IPVS_CMD_ATTR_DAEMON")?;
        let a = Attrs::parse("IPVS_CMD_ATTR_DAEMON", nest)?;
        let role = match a.u32(DAEMON_ATTR_STATE, "STATE")? {
            STATE_MASTER => SyncRole::Master,
            STATE_BACKUP => SyncRole::Backup,
            other => {
                return Err(IpvsError::Malformed(format!(
                    "IPVS_CMD_ATTR_DAEMON: unknown state {other}"
                )));
            }
        };
        let group = match (
            a.get(DAEMON_ATTR_MCAST_GROUP),
            a.get(DAEMON_ATTR_MCAST_GROUP6),
        ) {
            (Some(v4), _) => Some(IpAddr::V4(Ipv4Addr::from(a.fixed::<4>(v4, "MCAST_GROUP")?))),
            (None, Some(v6)) => Some(IpAddr::V6(Ipv6Addr::from(
                a.fixed::<16>(v6, "MCAST_GROUP6")?,
            ))),
            (None, None) => None,
        };
        let optional_u16 = |kind, name| -> Result<Option<u16>, IpvsError> {
            a.get(kind)
                .map(|v| a.fixed::<2>(v, name).map(u16::from_ne_bytes))
                .transpose()
        };
        Ok(SyncDaemon {
            role,
            interface: a.string(DAEMON_ATTR_MCAST_IFN, "MCAST_IFN")?,
            sync_id: a.u32(DAEMON_ATTR_SYNC_ID, "SYNC_ID")?,
            max_len: optional_u16(DAEMON_ATTR_SYNC_MAXLEN, "SYNC_MAXLEN")?,
            group,
            port: optional_u16(DAEMON_ATTR_MCAST_PORT, "MCAST_PORT")?,
            ttl: a
                .get(DAEMON_ATTR_MCAST_TTL)
                .map(|v| a.fixed::<1>(v, "MCAST_TTL").map(|[ttl]| ttl))
                .transpose()?,
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

/// The `NEW_DAEMON` attributes: role, interface and sync id; the kernel
/// picks the defaults for the rest (group 224.0.0.81, port 8848, TTL 1,
/// payload from the interface MTU).
fn start_attrs(role: SyncRole, interface: &str, sync_id: u8) -> Vec<Attr> {
    vec![Attr::Nested(
        CMD_ATTR_DAEMON,
        vec![
            Attr::U32(DAEMON_ATTR_STATE, role.state()),
            Attr::Str(DAEMON_ATTR_MCAST_IFN, interface.to_string()),
            Attr::U32(DAEMON_ATTR_SYNC_ID, sync_id.into()),
        ],
    )]
}

/// The `DEL_DAEMON` attributes: the role alone.
fn stop_attrs(role: SyncRole) -> Vec<Attr> {
    vec![Attr::Nested(
        CMD_ATTR_DAEMON,
        vec![Attr::U32(DAEMON_ATTR_STATE, role.state())],
    )]
}

impl Ipvs {
    /// `ipvsadm --start-daemon ROLE --mcast-interface IFN --syncid ID`.
    /// Fails with `EEXIST` when a daemon of that role already runs, and
    /// with `ENODEV` when the interface does not exist.
    pub fn start_daemon(
        &mut self,
        role: SyncRole,
        interface: &str,
        sync_id: u8,
    ) -> Result<(), IpvsError> {
        self.command(CMD_NEW_DAEMON, start_attrs(role, interface, sync_id))
    }

    /// `ipvsadm --stop-daemon ROLE`. Stopping one that does not run is
    /// success: the kernel is as asked.
    pub fn stop_daemon(&mut self, role: SyncRole) -> Result<(), IpvsError> {
        match self.command(CMD_DEL_DAEMON, stop_attrs(role)) {
            Err(e) if e.errno() == Some(ESRCH) => Ok(()),
            other => other,
        }
    }

    /// The running sync daemons (`ipvsadm -L --daemon`), master first.
    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        let mut daemons = Vec::new();
        self.dump_command(CMD_GET_DAEMON, |body| {
            daemons.push(SyncDaemon::decode(body)?);
            Ok(())
        })?;
        daemons.sort_by_key(|d| d.role);
        Ok(daemons)
    }

    /// Make `role` the only sync daemon, on `interface` with `sync_id`:
    /// the other role's daemon is stopped, and this one started, or
    /// restarted when it runs with another interface or id. Applying the
    /// same twice changes nothing. Returns what was done, as ipvsadm
    /// commands, for the log.
    pub fn sync_as(
        &mut self,
        role: SyncRole,
        interface: &str,
        sync_id: u8,
    ) -> Result<Vec<String>, IpvsError> {
        let running = self.daemons()?;
        let mut done = Vec::new();
        let other = role.other();
        if running.iter().any(|d| d.role == other) {
            self.stop_daemon(other)?;
            done.push(format!("--stop-daemon {}", other.name()));
        }
        let start = format!(
            "--start-daemon {} --mcast-interface {interface} --syncid {sync_id}",
            role.name()
        );
        match running.iter().find(|d| d.role == role) {
            Some(d) if d.interface == interface && d.sync_id == u32::from(sync_id) => {}
            Some(_) => {
                self.stop_daemon(role)?;
                done.push(format!("--stop-daemon {}", role.name()));
                self.start_daemon(role, interface, sync_id)?;
                done.push(start);
            }
            None => {
                match self.start_daemon(role, interface, sync_id) {
                    // Started by someone else since our dump: as asked
                    // unless its settings differ, which the next call sees.
                    Err(e) if e.errno() == Some(EEXIST) => {}
                    other => other?,
                }
                done.push(start);
            }
        }
        Ok(done)
    }

    /// Stop every sync daemon (a config without `[vrrp]` sync, or a
    /// director that left VRRP). Returns what was stopped, for the log.
    pub fn stop_daemons(&mut self) -> Result<Vec<String>, IpvsError> {
        let mut done = Vec::new();
        for daemon in self.daemons()? {
            self.stop_daemon(daemon.role)?;
            done.push(format!("--stop-daemon {}", daemon.role.name()));
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::attr::emit_all;

    /// Request bodies byte for byte, laid out by hand from ip_vs.h
    /// (little-endian host).
    #[cfg(target_endian = "little")]
    #[test]
    fn request_bodies() {
        #[rustfmt::skip]
        let start = vec![
            28, 0, 3, 0x80,                 // IPVS_CMD_ATTR_DAEMON, nested
            8, 0, 1, 0, 1, 0, 0, 0,         // STATE = IP_VS_STATE_MASTER
            8, 0, 2, 0, b'l', b'a', b'n', 0, // MCAST_IFN "lan\0"
            8, 0, 3, 0, 51, 0, 0, 0,        // SYNC_ID 51
        ];
        assert_eq!(emit_all(&start_attrs(SyncRole::Master, "lan", 51)), start);
        #[rustfmt::skip]
        let stop = vec![
            12, 0, 3, 0x80,
            8, 0, 1, 0, 2, 0, 0, 0,         // STATE = IP_VS_STATE_BACKUP
        ];
        assert_eq!(emit_all(&stop_attrs(SyncRole::Backup)), stop);
    }

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

    #[test]
    fn roles() {
        assert_eq!(SyncRole::Master.other(), SyncRole::Backup);
        assert_eq!(SyncRole::Backup.other(), SyncRole::Master);
        assert_eq!((SyncRole::Master.state(), SyncRole::Backup.state()), (1, 2));
    }
}
