//! Starting and stopping the kernel's IPVS connection sync daemons, as
//! `ipvsadm --start-daemon`, `--stop-daemon` and `-L --daemon` do, and
//! keeping exactly the one a director's VRRP role wants ([`Ipvs::sync_as`]).
//! The daemon and its attributes are in `daemon.rs`.

use super::cmd::{CMD_DEL_DAEMON, CMD_GET_DAEMON, CMD_NEW_DAEMON};
use super::daemon::{SyncDaemon, SyncRole, start_attrs, stop_attrs};
use super::error::IpvsError;
use super::message::CmdAttr;
use super::socket::Ipvs;

/// `ESRCH`: `DEL_DAEMON` of a daemon that is not running.
const ESRCH: i32 = 3;
/// `EEXIST`: `NEW_DAEMON` of a role that already runs.
const EEXIST: i32 = 17;

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
        self.command(
            CMD_NEW_DAEMON,
            vec![CmdAttr::Daemon(start_attrs(role, interface, sync_id))],
        )
    }

    /// `ipvsadm --stop-daemon ROLE`. Stopping one that does not run is
    /// success: the kernel is as asked.
    pub fn stop_daemon(&mut self, role: SyncRole) -> Result<(), IpvsError> {
        match self.command(CMD_DEL_DAEMON, vec![CmdAttr::Daemon(stop_attrs(role))]) {
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
        assert_eq!(
            emit_all(&[CmdAttr::Daemon(start_attrs(SyncRole::Master, "lan", 51))]),
            start
        );
        #[rustfmt::skip]
        let stop = vec![
            12, 0, 3, 0x80,
            8, 0, 1, 0, 2, 0, 0, 0,         // STATE = IP_VS_STATE_BACKUP
        ];
        assert_eq!(
            emit_all(&[CmdAttr::Daemon(stop_attrs(SyncRole::Backup))]),
            stop
        );
    }
}
