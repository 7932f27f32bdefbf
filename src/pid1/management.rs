//! The director's side of the management subsystem (`src/management`):
//! it runs the [`Handle`] the config's `[management]`, `[[syslog]]` and
//! `[[webhook]]` ask for, answers its snapshot requests, and tells its
//! webhooks what happened.
//!
//! Answering costs the director a walk over the config's services (what
//! it already holds); the IPVS dump, the expensive part for a big table,
//! runs on a blocking thread with its own IPVS socket, so the director's
//! loop (and the VRRP adverts on it) never waits for it.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use super::boot_store::BootStore;
use crate::config::Config;
use crate::console;
use crate::health::{self, Changed, CheckKey, Health, Monitor};
use crate::ipvs::{Ipvs, Table};
use crate::management::config::{Management, Syslog, Webhook};
use crate::management::control::ControlRequest;
use crate::management::snapshot::{
    self, ApplyResult, BootReason, ConfigInfo, LastApply, Reloads, Snapshot,
};
use crate::management::webhook::Event;
use crate::management::{Handle, Inbox, Keep, Limits, Setup, SnapshotRequest, clock, server, tls};
use crate::vrrp::Role;

/// What the running subsystem was started with: a reload that changes
/// any of it restarts the subsystem.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Sections {
    management: Option<Management>,
    syslog: Vec<Syslog>,
    webhooks: Vec<Webhook>,
}

impl Sections {
    fn of(config: &Config) -> Sections {
        Sections {
            management: config.management.clone(),
            syslog: config.syslog.clone(),
            webhooks: config.webhooks.clone(),
        }
    }

    fn is_empty(&self) -> bool {
        self.management.is_none() && self.syslog.is_empty() && self.webhooks.is_empty()
    }
}

/// The subsystem while it runs.
struct Running {
    sections: Sections,
    /// Dropped first: its thread stops before the receiver goes.
    handle: Handle,
    inbox: Inbox,
}

/// What the management API asks of the director.
pub(super) enum Asked {
    Snapshot(SnapshotRequest),
    Control(ControlRequest),
}

/// What the director keeps for the management subsystem: the subsystem
/// itself, and what only the director knows (reloads, the last apply,
/// when each real server's health changed).
pub(super) struct Watch {
    keep: Keep,
    running: Option<Running>,
    boot_reason: BootReason,
    /// The running config's source and hash.
    pub(super) info: Option<ConfigInfo>,
    pub(super) last_apply: Option<LastApply>,
    pub(super) reloads: Reloads,
    /// Per check: when its state last changed (since boot), and how often.
    changes: HashMap<CheckKey, (Duration, u64)>,
    /// Per service name: whether its sorry server stands in.
    sorry: HashMap<String, bool>,
    /// The API certificate's fingerprint, once TLS runs.
    tls_fingerprint: Option<String>,
    /// Real servers an operator drained (service name, address): weight
    /// 0 until enabled again, kept across reloads that keep them, gone on
    /// reboot.
    pub(super) drained: BTreeSet<(String, SocketAddr)>,
    /// A pushed config waits for its confirmation until then.
    pub(super) confirm_by: Option<Duration>,
    /// The last repair of the IPVS table, and how many there were.
    drift: Option<snapshot::Drift>,
    /// The system slots, as the updater last told.
    pub(super) system: snapshot::System,
}

impl Watch {
    pub(super) fn new(keep: Keep, boot_reason: BootReason) -> Watch {
        Watch {
            keep,
            running: None,
            boot_reason,
            info: None,
            last_apply: None,
            reloads: Reloads::default(),
            changes: HashMap::new(),
            sorry: HashMap::new(),
            tls_fingerprint: None,
            drained: BTreeSet::new(),
            confirm_by: None,
            drift: None,
            system: snapshot::System::default(),
        }
    }

    /// Run what `config` asks for: nothing changes when its sections are
    /// those running; otherwise the old subsystem stops (its connections
    /// close) and a new one starts with the same [`Keep`].
    pub(super) fn follow(&mut self, config: &Config) {
        let wanted = Sections::of(config);
        if self.running.as_ref().map(|r| &r.sections) == Some(&wanted) {
            return;
        }
        if self.running.take().is_some() {
            log::info!("management: its config changed; restarting it");
        }
        if wanted.is_empty() {
            return;
        }
        let listen = wanted
            .management
            .as_ref()
            .map(|m| m.listen.clone())
            .unwrap_or_default();
        let listeners = match server::bind(&listen) {
            Ok(listeners) => listeners,
            Err(e) => {
                log::error!("management: cannot listen on {}: {e}", join(&listen));
                Vec::new()
            }
        };
        let bound = !listeners.is_empty();
        self.tls_fingerprint = None;
        let tls = wanted.management.as_ref().filter(|m| m.tls).and_then(|m| {
            let store = BootStore::mounted();
            match tls::identity(m, store.as_ref().map(|s| s as &dyn tls::Store))
                .and_then(|id| Ok((id.server_config()?, id.fingerprint)))
            {
                Ok((config, fingerprint)) => {
                    log::info!("management: TLS certificate fingerprint {fingerprint}");
                    self.tls_fingerprint = Some(fingerprint);
                    Some(config)
                }
                Err(e) => {
                    log::error!("management: no TLS, so the API does not listen: {e}");
                    None
                }
            }
        });
        // TLS asked for but not had: no plain HTTP in its place.
        let listeners = match wanted.management.as_ref() {
            Some(m) if m.tls && tls.is_none() => Vec::new(),
            _ => listeners,
        };
        let bound = bound && !listeners.is_empty();
        let setup = Setup {
            management: wanted.management.clone(),
            listeners,
            syslog: wanted.syslog.clone(),
            webhooks: wanted.webhooks.clone(),
            limits: Limits::default(),
            version: crate::VERSION.to_string(),
            tls,
        };
        match Handle::start(setup, &self.keep) {
            Ok((handle, inbox)) => {
                if bound {
                    log::info!("management: listening on {}", join(&listen));
                }
                self.running = Some(Running {
                    sections: wanted,
                    handle,
                    inbox,
                });
            }
            Err(e) => log::error!("management: cannot start its thread: {e}"),
        }
    }

    /// The next thing the API asks: a snapshot to read, or a change to
    /// make; never, while nothing runs.
    pub(super) async fn next(&mut self) -> Asked {
        let Some(running) = &mut self.running else {
            return std::future::pending().await;
        };
        let inbox = &mut running.inbox;
        tokio::select! {
            Some(request) = inbox.snapshots.recv() => Asked::Snapshot(request),
            Some(request) = inbox.controls.recv() => Asked::Control(request),
            // The subsystem's thread is gone (it logged why).
            else => std::future::pending().await,
        }
    }

    /// Whether running `config` restarts the subsystem (its sections
    /// changed): an answer to the API must go out before that.
    pub(super) fn restarts_for(&self, config: &Config) -> bool {
        self.running.as_ref().map(|r| &r.sections) != Some(&Sections::of(config))
            && !(self.running.is_none() && Sections::of(config).is_empty())
    }

    /// Tell the webhooks; never blocks.
    pub(super) fn event(&self, event: &Event) {
        if let Some(running) = &self.running {
            running.handle.event(event);
        }
    }

    /// A finished apply at boot or on reload: what `/status` shows and
    /// the reload's counters and webhook event.
    pub(super) fn applied(&mut self, reload: bool, failures: Vec<String>) {
        let result = match failures.is_empty() {
            true => ApplyResult::Ok,
            false => ApplyResult::Failed,
        };
        self.record(reload, result, failures);
    }

    /// A config that was invalid; on reload the running one stays.
    pub(super) fn invalid(&mut self, reload: bool, errors: Vec<String>) {
        self.record(reload, ApplyResult::Invalid, errors);
    }

    fn record(&mut self, reload: bool, result: ApplyResult, errors: Vec<String>) {
        if reload {
            match result {
                ApplyResult::Ok => self.reloads.ok += 1,
                ApplyResult::Invalid => self.reloads.invalid += 1,
                ApplyResult::Failed => self.reloads.failed += 1,
            }
            self.event(&Event::ConfigReload {
                result,
                errors: errors.clone(),
            });
        }
        self.last_apply = Some(LastApply {
            result,
            errors,
            at: console::since_boot(),
        });
    }

    /// The director put the IPVS table back: `changes` are the rules it
    /// found different.
    pub(super) fn drift_repaired(&mut self, changes: Vec<String>) {
        let repairs = self.drift.as_ref().map_or(0, |d| d.repairs) + 1;
        self.drift = Some(snapshot::Drift {
            at: console::since_boot(),
            changes,
            repairs,
        });
    }

    /// Health changes: when each happened, and the webhook events of the
    /// real servers they concern (a probe shared by services is one event
    /// per service).
    pub(super) fn health_changed(&mut self, changed: &[Changed], config: &Config) {
        let now = console::since_boot();
        for change in changed {
            let entry = self.changes.entry(change.key.clone()).or_insert((now, 0));
            *entry = (now, entry.1 + 1);
            for service in &config.services {
                let reals = service.real_servers.iter();
                for real in reals.filter(|r| CheckKey::of(r).as_ref() == Some(&change.key)) {
                    let (service, real_server) = (service.name.clone(), real.address);
                    self.event(&match change.up {
                        true => Event::RealServerUp {
                            service,
                            real_server,
                        },
                        false => Event::RealServerDown {
                            service,
                            real_server,
                            reason: change.reason.clone(),
                        },
                    });
                }
            }
        }
    }

    /// Whether each sorry server stands in now; an event for each change.
    pub(super) fn follow_sorry(&mut self, config: &Config, health: &Health) {
        for service in &config.services {
            let Some(sorry_server) = service.sorry_server else {
                continue;
            };
            let active = health::all_down(service, health);
            let before = self.sorry.insert(service.name.clone(), active);
            if before.unwrap_or(false) != active {
                self.event(&Event::SorryServer {
                    service: service.name.clone(),
                    sorry_server,
                    active,
                });
            }
        }
    }

    /// A VRRP role change, from the role before (`None`: the instance
    /// just started).
    pub(super) fn vrrp_changed(
        &self,
        vrrp: &crate::config::Vrrp,
        from: Option<Role>,
        to: Role,
        reason: &str,
    ) {
        let state = |role: Option<Role>| match role {
            None => snapshot::VrrpState::Init,
            Some(Role::Backup) => snapshot::VrrpState::Backup,
            Some(Role::Master) => snapshot::VrrpState::Master,
            Some(Role::Fault) => snapshot::VrrpState::Fault,
        };
        self.event(&Event::VrrpState {
            interface: vrrp.interface.clone(),
            vrid: vrrp.virtual_router_id,
            from: state(from),
            to: state(Some(to)),
            reason: reason.to_string(),
        });
    }

    /// The director's part of a snapshot (everything but the kernel's
    /// table): the running config's services with their health.
    pub(super) fn snapshot(
        &self,
        config: Option<&Config>,
        health: &Health,
        monitor: Option<&Monitor>,
        vrrp: Option<snapshot::Vrrp>,
        failures_pending: usize,
    ) -> Snapshot {
        let services = config.map(|c| &c.services[..]).unwrap_or_default();
        let services = services.iter().map(|service| {
            let real_servers = service
                .real_servers
                .iter()
                .map(|real| snapshot::RealServer {
                    address: real.address,
                    configured_weight: real.weight,
                    health: match CheckKey::of(real) {
                        None => snapshot::Health::unchecked(),
                        Some(key) => self.health_of(&key, health, monitor),
                    },
                    override_: self
                        .drained
                        .contains(&(service.name.clone(), real.address))
                        .then(|| "drain".to_string()),
                });
            snapshot::Service {
                name: service.name.clone(),
                key: service.key,
                scheduler: service.scheduler.name().to_string(),
                real_servers: real_servers.collect(),
                sorry_server: service.sorry_server,
                sorry_active: service.sorry_server.is_some() && health::all_down(service, health),
            }
        });
        Snapshot {
            boot: console::since_boot(),
            unix: clock::now_unix(),
            hostname: config.map(|c| c.hostname.clone()).unwrap_or_default(),
            boot_reason: self.boot_reason,
            config: self.info.clone(),
            last_apply: self.last_apply.clone(),
            reloads: self.reloads,
            failures_pending: failures_pending as u64,
            services: services.collect(),
            vrrp,
            table: Table::default(),
            totals: Default::default(),
            took: Default::default(),
            drift: self.drift.clone(),
            control: snapshot::Control {
                tls_fingerprint: self.tls_fingerprint.clone(),
                writable: self
                    .running
                    .as_ref()
                    .and_then(|r| r.sections.management.as_ref())
                    .is_some_and(|m| m.password_hash.is_some()),
                confirm_by: self.confirm_by,
            },
            system: self.system.clone(),
        }
    }

    fn health_of(
        &self,
        key: &CheckKey,
        health: &Health,
        monitor: Option<&Monitor>,
    ) -> snapshot::Health {
        let (since, transitions) = match self.changes.get(key) {
            Some((at, n)) => (Some(*at), *n),
            None => (None, 0),
        };
        let probe = monitor.and_then(|m| m.last_probe(key));
        snapshot::Health {
            state: match health.is_up(key) {
                true => snapshot::HealthState::Up,
                false => snapshot::HealthState::Down,
            },
            last_probe: probe.map(|p| snapshot::Probe {
                ok: p.ok,
                detail: p.detail,
                latency: p.latency,
                at: p.at,
            }),
            since,
            transitions,
        }
    }
}

/// Fill in the kernel's table and totals on a blocking thread with its
/// own IPVS socket, and answer. A dump that fails answers nothing (the
/// server says 503 and counts it).
pub(super) fn answer(request: SnapshotRequest, mut snapshot: Snapshot) {
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        match Ipvs::open().and_then(|mut ipvs| ipvs.dump()) {
            Ok(table) => {
                snapshot.totals =
                    snapshot::read_totals().unwrap_or_else(|| Snapshot::sum_totals(&table));
                snapshot.table = table;
                snapshot.took.kernel = started.elapsed();
                request.answer(snapshot);
            }
            Err(e) => log::warn!("management: cannot read the IPVS table: {e}"),
        }
    });
}

fn join(addrs: &[std::net::SocketAddr]) -> String {
    let listed: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    listed.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;
    use crate::management::snapshot::HealthState;

    const TEXT: &str = r#"
[[service]]
name = "pg"
protocol = "tcp"
address = "192.168.1.100:5432"
forwarding = "nat"
sorry_server = "192.168.3.9:5432"

  [[service.real_server]]
  address = "192.168.3.2:5432"

  [[service.real_server]]
  address = "192.168.3.3:5432"

[[service]]
name = "dns"
protocol = "udp"
address = "192.168.1.100:53"
forwarding = "nat"
health_check.type = "none"

  [[service.real_server]]
  address = "192.168.3.2:53"
"#;

    fn key(config: &Config, service: usize, real: usize) -> CheckKey {
        CheckKey::of(&config.services[service].real_servers[real]).unwrap()
    }

    /// The director's part of a snapshot: each real server's health as
    /// the checks see it, when it changed and how often, and the sorry
    /// server once every real server is down.
    #[test]
    fn snapshot_says_what_the_checks_see() {
        let (config, _) = load("router.toml", TEXT).unwrap();
        let mut watch = Watch::new(Keep::default(), BootReason::PowerOn);
        let mut health = Health::new();
        let down = |key: CheckKey| Changed {
            key,
            up: false,
            reason: "connection refused".into(),
        };
        health.set(key(&config, 0, 1), false);
        watch.health_changed(&[down(key(&config, 0, 1))], &config);
        let s = watch.snapshot(Some(&config), &health, None, None, 2);
        assert_eq!(s.failures_pending, 2);
        let pg = &s.services[0];
        let states: Vec<HealthState> = pg.real_servers.iter().map(|r| r.health.state).collect();
        assert_eq!(states, [HealthState::Up, HealthState::Down]);
        assert_eq!(pg.real_servers[1].health.transitions, 1);
        assert!(pg.real_servers[1].health.since.is_some());
        assert_eq!(pg.real_servers[0].health.since, None);
        assert!(!pg.sorry_active);
        assert_eq!(
            s.services[1].real_servers[0].health.state,
            HealthState::Unchecked
        );

        health.set(key(&config, 0, 0), false);
        watch.health_changed(&[down(key(&config, 0, 0))], &config);
        watch.follow_sorry(&config, &health);
        let s = watch.snapshot(Some(&config), &health, None, None, 0);
        assert!(s.services[0].sorry_active);
        assert_eq!(s.services[0].sorry_server, config.services[0].sorry_server);

        // No valid config: no services, no hostname.
        let s = watch.snapshot(None, &health, None, None, 0);
        assert!(s.services.is_empty() && s.hostname.is_empty());
    }

    /// Reloads are counted by result; the boot's apply is not a reload.
    #[test]
    fn reloads_counted_by_result() {
        let mut watch = Watch::new(Keep::default(), BootReason::PowerOn);
        watch.applied(false, vec![]);
        watch.applied(true, vec![]);
        watch.invalid(true, vec!["router.toml:1:1: error: x".into()]);
        watch.applied(true, vec!["sysctl x: refused".into()]);
        assert_eq!(
            watch.reloads,
            Reloads {
                ok: 1,
                invalid: 1,
                failed: 1
            }
        );
        let last = watch.last_apply.as_ref().unwrap();
        assert_eq!(last.result, ApplyResult::Failed);
        assert_eq!(last.errors, ["sysctl x: refused"]);
    }

    /// Nothing configured: nothing runs, so nothing can listen.
    #[test]
    fn nothing_runs_without_the_sections() {
        let (config, _) = load("router.toml", TEXT).unwrap();
        let mut watch = Watch::new(Keep::default(), BootReason::PowerOn);
        watch.follow(&config);
        assert!(watch.running.is_none());
    }
}
