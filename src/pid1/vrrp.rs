//! The director's side of `[vrrp]`: it runs the VRRP instance as a task on
//! its runtime and does what each role asks of the box.
//!
//! - MASTER: add the virtual addresses, announce them by gratuitous ARP
//!   (a burst, and again two seconds later), run the IPVS sync daemon as
//!   master (and not as backup);
//! - BACKUP and FAULT: remove the virtual addresses, run the sync daemon as
//!   backup, so this box's connection table follows the master's.
//!
//! Every change is logged as `vrrp: MASTER (reason)`, `vrrp: BACKUP
//! (reason)` or `vrrp: FAULT (reason)`. The instance watches the links it
//! depends on itself (its advert interface and those holding virtual
//! addresses); [`Failover::track`] lowers the priority while every real
//! server of a tracked service is down.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

use crate::apply::Applier;
use crate::config::{Config, VirtualAddress, Vrrp};
use crate::health::{self, Health};
use crate::ipvs::SyncRole;
use crate::management::snapshot;
use crate::vrrp::{Control, Counters, Instance, Role, Transition, arp};

/// How long a stopping instance gets to send its priority-0 advert; the
/// signal loop gives the whole director one second.
const STOP_WAIT: Duration = Duration::from_millis(600);

/// A running VRRP instance and what the director keeps about it.
pub(super) struct Failover {
    config: Vrrp,
    control: UnboundedSender<Control>,
    transitions: UnboundedReceiver<Transition>,
    instance: JoinHandle<()>,
    /// The gratuitous ARP repeats of the current mastership.
    announcements: Vec<JoinHandle<()>>,
    /// The last role reported.
    role: Option<Role>,
    /// The priority delta the instance has from tracking; `None` when a
    /// reload changed it and the next [`Failover::track`] must send it.
    delta: Option<u8>,
    /// What the instance counts (adverts, drops).
    counters: Arc<Counters>,
    /// The source of our adverts: the master's address while we are it.
    local: Ipv4Addr,
    /// Role changes since it started.
    changes: u64,
}

impl Failover {
    /// Open the instance's socket and start it on the current runtime.
    /// `None` (logged) when the socket cannot be opened (say, the advert
    /// interface has no address yet); the director tries again later.
    /// `last_error` is the director's record of the last start error
    /// logged: the retries come every few seconds, and each distinct error
    /// is said once.
    pub(super) fn start(config: &Vrrp, last_error: &mut Option<String>) -> Option<Failover> {
        let instance = match Instance::new(config) {
            Ok(instance) => {
                *last_error = None;
                instance
            }
            Err(e) => {
                let message = format!("vrrp: cannot start on {}: {e}", config.interface);
                if last_error.as_deref() != Some(message.as_str()) {
                    log::error!("{message}; retrying every few seconds");
                    *last_error = Some(message);
                }
                return None;
            }
        };
        let (control, control_rx) = unbounded_channel();
        let (transitions_tx, transitions) = unbounded_channel();
        let (counters, local) = (instance.counters(), instance.local_address());
        let instance = tokio::spawn(instance.run(transitions_tx, control_rx));
        Some(Failover {
            config: config.clone(),
            control,
            transitions,
            instance,
            announcements: Vec::new(),
            role: None,
            delta: Some(0),
            counters,
            local,
            changes: 0,
        })
    }

    /// The last role reported; `None` before the first.
    pub(super) fn role(&self) -> Option<Role> {
        self.role
    }

    /// What `/metrics` and `/status` show of the instance.
    pub(super) fn view(&self) -> snapshot::Vrrp {
        let c = &self.counters;
        let state = match self.role {
            None => snapshot::VrrpState::Init,
            Some(Role::Backup) => snapshot::VrrpState::Backup,
            Some(Role::Master) => snapshot::VrrpState::Master,
            Some(Role::Fault) => snapshot::VrrpState::Fault,
        };
        snapshot::Vrrp {
            interface: self.config.interface.clone(),
            vrid: self.config.virtual_router_id,
            state,
            priority: self
                .config
                .priority
                .saturating_sub(self.delta.unwrap_or(0))
                .max(1),
            master_address: (self.role == Some(Role::Master)).then_some(IpAddr::V4(self.local)),
            adverts_sent: Counters::get(&c.sent),
            adverts_received: Counters::get(&c.received),
            dropped: snapshot::Dropped {
                ttl: Counters::get(&c.ttl),
                checksum: Counters::get(&c.checksum),
                version: Counters::get(&c.version),
                vrid: Counters::get(&c.vrid),
                length: Counters::get(&c.length),
                peer: Counters::get(&c.peer),
            },
            transitions: self.changes,
        }
    }

    /// The `[vrrp]` this instance runs.
    pub(super) fn config(&self) -> &Vrrp {
        &self.config
    }

    /// Take a reloaded `[vrrp]` without restarting the instance when it
    /// differs from the running one only in tracking or in the sync daemon
    /// (a restart would hand the addresses to the peer and back). False
    /// when the protocol itself changed and the caller must restart it.
    pub(super) fn update(&mut self, new: &Vrrp, applier: &mut Applier) -> bool {
        let same_protocol = Vrrp {
            sync_interface: new.sync_interface.clone(),
            sync_id: new.sync_id,
            track_services: new.track_services.clone(),
            track_priority_delta: new.track_priority_delta,
            ..self.config.clone()
        } == *new;
        if !same_protocol {
            return false;
        }
        let sync_changed = (&new.sync_interface, new.sync_id)
            != (&self.config.sync_interface, self.config.sync_id);
        let delta_changed = new.track_priority_delta != self.config.track_priority_delta;
        self.config = new.clone();
        if sync_changed {
            match (self.config.sync_interface.is_some(), self.role) {
                (false, _) => stop_sync_daemons(applier),
                (true, Some(Role::Master)) => self.sync_daemon(applier, SyncRole::Master),
                (true, Some(Role::Backup | Role::Fault)) => {
                    self.sync_daemon(applier, SyncRole::Backup)
                }
                (true, None) => {}
            }
        }
        if delta_changed && self.delta != Some(0) {
            // Lowered by the old delta: `track` sends the new one.
            self.delta = None;
        }
        true
    }

    /// The next role change of the instance in `slot`; pending forever when
    /// there is none. `None` when the instance has ended.
    pub(super) async fn next(slot: &mut Option<Failover>) -> Option<Transition> {
        match slot {
            Some(failover) => failover.transitions.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Do what the new role asks: log it, move the addresses, announce
    /// them, switch the sync daemon.
    pub(super) async fn on_transition(&mut self, transition: Transition, applier: &mut Applier) {
        let Transition { role, reason } = transition;
        log::info!("vrrp: {} ({reason})", role.name());
        let previous = self.role.replace(role);
        if previous != Some(role) {
            self.changes += 1;
        }
        match role {
            Role::Master => {
                self.add_addresses(applier).await;
                self.announce();
                self.sync_daemon(applier, SyncRole::Master);
            }
            Role::Backup | Role::Fault => {
                for task in self.announcements.drain(..) {
                    task.abort();
                }
                // At startup nothing is held yet, but a director restarted
                // by a reload may still hold them.
                if previous != Some(role) {
                    remove_addresses(&self.config.virtual_addresses, applier).await;
                }
                self.sync_daemon(applier, SyncRole::Backup);
            }
        }
    }

    /// Tracking: while every real server of one of the tracked services is
    /// down (by the health checks; a service without real servers counts
    /// as down, one with `type = "none"` servers never), lower the priority by
    /// `track_priority_delta`; restore it when one is back.
    pub(super) fn track(&mut self, config: &Config, health: &Health) {
        let down: Vec<&str> = config
            .services
            .iter()
            .filter(|s| self.config.track_services.contains(&s.name))
            .filter(|s| health::all_down(s, health))
            .map(|s| s.name.as_str())
            .collect();
        let delta = if down.is_empty() {
            0
        } else {
            self.config.track_priority_delta
        };
        if Some(delta) == self.delta {
            return;
        }
        if down.is_empty() {
            log::info!(
                "vrrp: tracked services up again: priority back to {}",
                self.config.priority
            );
        } else {
            log::warn!(
                "vrrp: every real server of {} is down: priority lowered by {delta}",
                down.join(", ")
            );
        }
        self.delta = Some(delta);
        let _ = self.control.send(Control::PriorityDelta(delta));
    }

    /// Stop the instance: a master sends its priority-0 advert (the backup
    /// takes over after its skew time) and gives the addresses up; the
    /// sync daemons stop. Waits at most [`STOP_WAIT`] for the instance.
    pub(super) async fn stop(mut self, applier: &mut Applier) {
        for task in self.announcements.drain(..) {
            task.abort();
        }
        let _ = self.control.send(Control::Shutdown);
        if tokio::time::timeout(STOP_WAIT, &mut self.instance)
            .await
            .is_err()
        {
            log::warn!("vrrp: the instance did not stop in time");
            self.instance.abort();
        }
        while let Ok(Transition { role, reason }) = self.transitions.try_recv() {
            log::info!("vrrp: {} ({reason})", role.name());
        }
        if self.role == Some(Role::Master) {
            remove_addresses(&self.config.virtual_addresses, applier).await;
        }
        if self.config.sync_interface.is_some() {
            stop_sync_daemons(applier);
        }
    }

    async fn add_addresses(&self, applier: &mut Applier) {
        match applier.network().await {
            Ok(net) => {
                for failure in net
                    .add_virtual_addresses(&self.config.virtual_addresses)
                    .await
                {
                    log::error!("vrrp: {failure}");
                }
            }
            Err(e) => log::error!("vrrp: cannot add the virtual addresses: rtnetlink: {e}"),
        }
    }

    /// Gratuitous ARP for the IPv4 virtual addresses, per interface: a
    /// burst now and one after [`arp::REPEAT_AFTER`], unless the role is
    /// lost in between.
    fn announce(&mut self) {
        for task in self.announcements.drain(..) {
            task.abort();
        }
        for (ifname, addrs) in ipv4_by_interface(&self.config.virtual_addresses) {
            self.announcements.push(tokio::spawn(async move {
                if let Err(e) = arp::announce_twice(&ifname, &addrs).await {
                    log::error!("vrrp: gratuitous ARP on {ifname}: {e}");
                }
            }));
        }
    }

    /// Run the sync daemon as `role` (stopping the other), when
    /// `sync_interface` is set.
    fn sync_daemon(&self, applier: &mut Applier, role: SyncRole) {
        let Some(interface) = &self.config.sync_interface else {
            return;
        };
        match applier
            .ipvs()
            .and_then(|ipvs| ipvs.sync_as(role, interface, self.config.sync_id))
        {
            Ok(done) => {
                for command in done {
                    log::info!("ipvsadm {command}");
                }
            }
            Err(e) => log::error!(
                "vrrp: IPVS sync daemon as {} on {interface}: {e}",
                role.name()
            ),
        }
    }
}

impl Drop for Failover {
    fn drop(&mut self) {
        for task in &self.announcements {
            task.abort();
        }
    }
}

/// Stop every IPVS sync daemon (`[vrrp]` gone, or without
/// `sync_interface` now).
fn stop_sync_daemons(applier: &mut Applier) {
    match applier.ipvs().and_then(|ipvs| ipvs.stop_daemons()) {
        Ok(done) => {
            for command in done {
                log::info!("ipvsadm {command}");
            }
        }
        Err(e) => log::error!("vrrp: stopping the IPVS sync daemon: {e}"),
    }
}

async fn remove_addresses(vips: &[VirtualAddress], applier: &mut Applier) {
    match applier.network().await {
        Ok(net) => {
            for failure in net.remove_virtual_addresses(vips).await {
                log::error!("vrrp: {failure}");
            }
        }
        Err(e) => log::error!("vrrp: cannot remove the virtual addresses: rtnetlink: {e}"),
    }
}

/// The IPv4 virtual addresses grouped by interface, in config order.
fn ipv4_by_interface(vips: &[VirtualAddress]) -> Vec<(String, Vec<Ipv4Addr>)> {
    let mut groups: Vec<(String, Vec<Ipv4Addr>)> = Vec::new();
    for vip in vips {
        let IpAddr::V4(addr) = vip.address.addr else {
            continue;
        };
        match groups.iter_mut().find(|(name, _)| *name == vip.interface) {
            Some((_, addrs)) => addrs.push(addr),
            None => groups.push((vip.interface.clone(), vec![addr])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;
    use crate::health::CheckKey;

    const TEXT: &str = r#"
[[interface]]
name = "wan"
device = "eth0"
addresses = ["192.168.1.2/24"]

[[interface]]
name = "lan"
device = "eth1"
addresses = ["192.168.3.252/24"]

[[interface]]
name = "dmz"
device = "eth2"
addresses = ["10.0.0.2/24"]

[[service]]
name = "pg"
protocol = "tcp"
address = "192.168.1.100:5432"
forwarding = "nat"
  [[service.real_server]]
  address = "192.168.3.2:5432"
  [[service.real_server]]
  address = "192.168.3.3:5432"

[vrrp]
interface = "wan"
virtual_router_id = 51
virtual_addresses = [
  { interface = "wan", address = "192.168.1.100/24" },
  { interface = "lan", address = "192.168.3.1/24" },
  { interface = "wan", address = "192.168.1.101/24" },
  { interface = "dmz", address = "10.0.0.1/24" },
  { interface = "lan", address = "192.168.3.4/24" },
]
track_services = ["pg"]
track_priority_delta = 60
"#;

    fn config() -> Config {
        load("router.toml", TEXT)
            .unwrap_or_else(|e| panic!("{e}"))
            .0
    }

    #[test]
    fn addresses_grouped_per_interface() {
        let config = config();
        let vrrp = config.vrrp.unwrap();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            ipv4_by_interface(&vrrp.virtual_addresses),
            [
                (
                    "wan".to_string(),
                    vec![ip("192.168.1.100"), ip("192.168.1.101")]
                ),
                (
                    "lan".to_string(),
                    vec![ip("192.168.3.1"), ip("192.168.3.4")]
                ),
                ("dmz".to_string(), vec![ip("10.0.0.1")]),
            ]
        );
    }

    /// A stand-in for a running instance: its control channel is returned
    /// to watch what it is told.
    fn failover(config: &Config) -> (Failover, UnboundedReceiver<Control>) {
        let (control, control_rx) = unbounded_channel();
        let (_tx, transitions) = unbounded_channel();
        let failover = Failover {
            config: config.vrrp.clone().unwrap(),
            control,
            transitions,
            instance: tokio::spawn(async {}),
            announcements: Vec::new(),
            role: None,
            delta: Some(0),
            counters: Arc::default(),
            local: Ipv4Addr::new(192, 168, 1, 2),
            changes: 0,
        };
        (failover, control_rx)
    }

    /// A reload that changes only tracking keeps the instance; one that
    /// changes the protocol (here the priority) needs a restart.
    #[tokio::test]
    async fn reload_updates_tracking_in_place() {
        let config = config();
        let (mut failover, mut control_rx) = failover(&config);
        let mut applier = Applier::new();
        let keys: Vec<CheckKey> = config.services[0]
            .real_servers
            .iter()
            .map(|r| CheckKey::of(r).unwrap())
            .collect();
        let mut health = Health::new();
        for key in &keys {
            health.set(key.clone(), false);
        }
        failover.track(&config, &health);
        assert_eq!(control_rx.try_recv(), Ok(Control::PriorityDelta(60)));

        let mut reloaded = config.clone();
        reloaded.vrrp.as_mut().unwrap().track_priority_delta = 20;
        assert!(failover.update(reloaded.vrrp.as_ref().unwrap(), &mut applier));
        assert_eq!(failover.config(), reloaded.vrrp.as_ref().unwrap());
        failover.track(&reloaded, &health);
        assert_eq!(control_rx.try_recv(), Ok(Control::PriorityDelta(20)));

        reloaded.vrrp.as_mut().unwrap().track_services.clear();
        assert!(failover.update(reloaded.vrrp.as_ref().unwrap(), &mut applier));
        failover.track(&reloaded, &health);
        assert_eq!(control_rx.try_recv(), Ok(Control::PriorityDelta(0)));

        reloaded.vrrp.as_mut().unwrap().priority = 120;
        assert!(!failover.update(reloaded.vrrp.as_ref().unwrap(), &mut applier));
    }

    /// Tracking sends a delta only when it changes, and only while every
    /// checked real server of a tracked service is down.
    #[tokio::test]
    async fn tracking_lowers_and_restores_the_priority() {
        let config = config();
        let (mut failover, mut control_rx) = failover(&config);
        let keys: Vec<CheckKey> = config.services[0]
            .real_servers
            .iter()
            .map(|r| CheckKey::of(r).unwrap())
            .collect();
        let mut health = Health::new();

        failover.track(&config, &health);
        assert!(control_rx.try_recv().is_err(), "all up: nothing to send");

        health.set(keys[0].clone(), false);
        failover.track(&config, &health);
        assert!(
            control_rx.try_recv().is_err(),
            "one of two down: nothing yet"
        );

        health.set(keys[1].clone(), false);
        failover.track(&config, &health);
        assert_eq!(control_rx.try_recv(), Ok(Control::PriorityDelta(60)));
        failover.track(&config, &health);
        assert!(control_rx.try_recv().is_err(), "sent once per change");

        health.set(keys[1].clone(), true);
        failover.track(&config, &health);
        assert_eq!(control_rx.try_recv(), Ok(Control::PriorityDelta(0)));
    }
}
