//! The monitor: one tokio task per distinct probe, counting results.
//!
//! Each task probes its target every `interval` (measured from the start
//! of one probe to the start of the next; a probe that runs longer delays
//! the next instead of piling up), so there is at most one probe in flight
//! per [`CheckKey`] and a slow server delays nobody else. Tasks start
//! spread over their interval, so hundreds of real servers are not probed
//! in one burst. A task logs its state changes (see the module docs for the
//! format) and reports them to the [`Monitor`], which the director awaits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::{Check, CheckKey, checker, probe};
use crate::config::Config;

/// Which probes are down. A probe not listed is up (servers start up).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// `true`: up.
    states: HashMap<CheckKey, bool>,
}

impl Health {
    /// Nothing known: every real server up.
    pub fn new() -> Health {
        Health::default()
    }

    pub fn is_up(&self, key: &CheckKey) -> bool {
        self.states.get(key).copied().unwrap_or(true)
    }

    /// Record a state (the monitor does; tests and tools may too).
    pub fn set(&mut self, key: CheckKey, up: bool) {
        self.states.insert(key, up);
    }

    /// The probes that are down.
    pub fn down(&self) -> impl Iterator<Item = &CheckKey> {
        self.states.iter().filter(|(_, up)| !**up).map(|(k, _)| k)
    }
}

/// A state change reported by a task: its index, the new state, and why
/// (the failed probe's error when down).
type Change = (usize, bool, String);

/// The last probe of one check, for the management API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    pub ok: bool,
    /// "ok", or the probe's error.
    pub detail: String,
    pub latency: Duration,
    /// When it ended: time since boot.
    pub at: Duration,
}

/// A task's last probe, written by the task after each one.
type Slot = Arc<Mutex<Option<Probed>>>;

/// A state change as the director sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub key: CheckKey,
    pub up: bool,
    /// Why it went down ("connection refused", ...); empty when up.
    pub reason: String,
}

/// The running probes of one config. Dropping it stops them.
pub struct Monitor {
    /// Index of a task → what it probes.
    keys: Vec<CheckKey>,
    health: Health,
    changes: mpsc::UnboundedReceiver<Change>,
    /// Kept so that `changes` never reports closed (and so never wakes
    /// the director) when nothing is checked.
    _sender: mpsc::UnboundedSender<Change>,
    tasks: Vec<JoinHandle<()>>,
    /// Each key's last probe (by index).
    last: Vec<Slot>,
    /// What → its index, for [`Monitor::last_probe`] of ten thousand real
    /// servers in one snapshot.
    index: HashMap<CheckKey, usize>,
}

impl Monitor {
    /// Start probing every checked real server of `config`, one task per
    /// distinct [`CheckKey`], on the current tokio runtime. A probe already
    /// known to `previous` keeps its state (a reload that does not change
    /// a server's check does not bring it back); new ones start up.
    pub fn start(config: &Config, previous: &Health) -> Monitor {
        let mut keys: Vec<CheckKey> = Vec::new();
        let mut seen = HashMap::new();
        for real in config.services.iter().flat_map(|s| &s.real_servers) {
            if let Some(key) = CheckKey::of(real)
                && !seen.contains_key(&key)
            {
                seen.insert(key.clone(), keys.len());
                keys.push(key);
            }
        }
        let (sender, changes) = mpsc::unbounded_channel();
        let mut health = Health::new();
        let mut tasks = Vec::with_capacity(keys.len());
        let n = keys.len();
        let last: Vec<Slot> = (0..n).map(|_| Slot::default()).collect();
        for (index, key) in keys.iter().enumerate() {
            let up = previous.is_up(key);
            health.set(key.clone(), up);
            let Some(check) = checker(&key.kind, key.target) else {
                continue;
            };
            let slot = Arc::clone(&last[index]);
            let start = Instant::now() + key.interval.mul_f64(index as f64 / n as f64);
            tasks.push(tokio::spawn(watch(
                Arc::new(key.clone()),
                check,
                up,
                index,
                start,
                sender.clone(),
                slot,
            )));
        }
        if n > 0 {
            log::info!(
                "health: checking {n} real server{}",
                if n == 1 { "" } else { "s" }
            );
        }
        Monitor {
            keys,
            health,
            changes,
            _sender: sender,
            tasks,
            last,
            index: seen,
        }
    }

    /// The last probe of `key`, once one ran.
    pub fn last_probe(&self, key: &CheckKey) -> Option<Probed> {
        let index = *self.index.get(key)?;
        self.last[index].lock().ok()?.clone()
    }

    /// The states as last reported.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// How many distinct probes run.
    pub fn probes(&self) -> usize {
        self.keys.len()
    }

    /// Wait for the next state change, then take every change already
    /// pending too (a cut link downs several probes at once), so the
    /// caller applies them in one reconcile. Never returns when nothing
    /// is checked.
    pub async fn changed(&mut self) -> Vec<Changed> {
        let mut changed = Vec::new();
        if let Some(change) = self.changes.recv().await {
            changed.extend(self.record(change));
        }
        while let Ok(change) = self.changes.try_recv() {
            changed.extend(self.record(change));
        }
        changed
    }

    fn record(&mut self, (index, up, reason): Change) -> Option<Changed> {
        let key = self.keys.get(index)?;
        self.health.set(key.clone(), up);
        Some(Changed {
            key: key.clone(),
            up,
            reason,
        })
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// One probe's life: probe every interval, count, log and report changes.
async fn watch(
    key: Arc<CheckKey>,
    check: Box<dyn Check>,
    mut up: bool,
    index: usize,
    start: Instant,
    changes: mpsc::UnboundedSender<Change>,
    last: Slot,
) {
    let mut ticks = tokio::time::interval_at(start, key.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Consecutive results that disagree with the current state.
    let mut streak = 0u32;
    loop {
        ticks.tick().await;
        let began = Instant::now();
        let result = probe(&*check, key.target, key.timeout).await;
        let probed = Probed {
            ok: result.is_ok(),
            detail: match &result {
                Ok(()) => "ok".to_string(),
                Err(e) => e.to_string(),
            },
            latency: began.elapsed(),
            at: crate::console::since_boot(),
        };
        if let Ok(mut slot) = last.lock() {
            *slot = Some(probed);
        }
        match (up, result) {
            (true, Ok(())) | (false, Err(_)) => streak = 0,
            (true, Err(reason)) => {
                streak += 1;
                if streak >= key.fall {
                    up = false;
                    streak = 0;
                    log::warn!("health: {} {} down ({reason})", key.kind.name(), key.target);
                    let _ = changes.send((index, up, reason.to_string()));
                }
            }
            (false, Ok(())) => {
                streak += 1;
                if streak >= key.rise {
                    up = true;
                    streak = 0;
                    log::info!("health: {} {} up", key.kind.name(), key.target);
                    let _ = changes.send((index, up, String::new()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_servers;
    use super::*;
    use crate::config::{
        CheckKind, Forwarding, HealthCheck, Protocol, RealServer, Scheduler, SchedulerFlags,
        Service, ServiceKey,
    };

    const FAST: HealthCheck = HealthCheck {
        kind: CheckKind::Tcp,
        port: None,
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(200),
        fall: 3,
        rise: 2,
        on_failure: crate::config::OnFailure::Quiesce,
    };

    fn service(vip: &str, reals: &[std::net::SocketAddr], check: HealthCheck) -> Service {
        Service {
            name: vip.into(),
            key: ServiceKey::Addr {
                protocol: Protocol::Tcp,
                address: vip.parse().unwrap(),
            },
            scheduler: Scheduler::Rr,
            flags: SchedulerFlags::default(),
            forwarding: Forwarding::Nat,
            persistence: None,
            persistence_netmask: None,
            real_servers: reals
                .iter()
                .map(|a| RealServer {
                    address: *a,
                    weight: 1,
                    forwarding: Forwarding::Nat,
                    upper_threshold: 0,
                    lower_threshold: 0,
                    health_check: check.clone(),
                })
                .collect(),
            health_check: check,
            sorry_server: None,
        }
    }

    fn config(services: Vec<Service>) -> Config {
        Config {
            hostname: "t".into(),
            sysctls: vec![],
            interfaces: vec![],
            routes: vec![],
            services,
            vrrp: None,
            watchdog: Default::default(),
            time: Default::default(),
            management: None,
            syslog: vec![],
            webhooks: vec![],
        }
    }

    fn key(addr: std::net::SocketAddr) -> CheckKey {
        CheckKey {
            target: addr,
            kind: CheckKind::Tcp,
            interval: FAST.interval,
            timeout: FAST.timeout,
            fall: FAST.fall,
            rise: FAST.rise,
        }
    }

    /// Await the next change, failing the test after `limit`.
    async fn next_change(monitor: &mut Monitor, limit: Duration) {
        tokio::time::timeout(limit, monitor.changed())
            .await
            .expect("no state change in time");
    }

    #[tokio::test]
    async fn down_after_fall_failures_and_back_after_rise() {
        let (alive, _task) = test_servers::silent().await;
        // A port that refuses now and is listened on later.
        let flaky = test_servers::refusing();
        let mut monitor = Monitor::start(
            &config(vec![service("10.0.0.1:80", &[alive, flaky], FAST)]),
            &Health::new(),
        );
        assert_eq!(monitor.probes(), 2);
        assert!(monitor.health().is_up(&key(flaky)), "servers start up");

        next_change(&mut monitor, Duration::from_secs(5)).await;
        assert!(!monitor.health().is_up(&key(flaky)));
        assert!(monitor.health().is_up(&key(alive)));
        assert_eq!(monitor.health().down().count(), 1);

        let listener = tokio::net::TcpListener::bind(flaky).await.unwrap();
        next_change(&mut monitor, Duration::from_secs(5)).await;
        assert!(monitor.health().is_up(&key(flaky)));
        drop(listener);
    }

    #[tokio::test]
    async fn a_failing_server_is_reported_once() {
        let dead = test_servers::refusing();
        let mut monitor = Monitor::start(
            &config(vec![service("10.0.0.1:80", &[dead], FAST)]),
            &Health::new(),
        );
        next_change(&mut monitor, Duration::from_secs(5)).await;
        assert!(!monitor.health().is_up(&key(dead)));
        // Many more failing probes: no further change.
        let quiet = tokio::time::timeout(Duration::from_millis(600), monitor.changed()).await;
        assert!(quiet.is_err(), "a still-failing server reported again");
    }

    #[tokio::test]
    async fn shared_real_server_is_probed_once_per_distinct_check() {
        let (a, _ta) = test_servers::silent().await;
        let (b, _tb) = test_servers::silent().await;
        let slower = HealthCheck {
            fall: 5,
            ..FAST.clone()
        };
        let remove = HealthCheck {
            on_failure: crate::config::OnFailure::Remove,
            ..FAST.clone()
        };
        let config = config(vec![
            service("10.0.0.1:80", &[a, b], FAST),
            // Same checks, other service, other on_failure: shared.
            service("10.0.0.2:80", &[a, b], remove),
            // Another fall count on `a`: a probe of its own.
            service("10.0.0.3:80", &[a], slower),
        ]);
        let monitor = Monitor::start(&config, &Health::new());
        assert_eq!(monitor.probes(), 3);
    }

    #[tokio::test]
    async fn a_restart_keeps_known_states_and_nothing_checked_never_wakes() {
        let dead = test_servers::refusing();
        let mut previous = Health::new();
        previous.set(key(dead), false);
        let unchanged = config(vec![service("10.0.0.1:80", &[dead], FAST)]);
        let mut monitor = Monitor::start(&unchanged, &previous);
        assert!(!monitor.health().is_up(&key(dead)));
        // Still failing: it stays down without a change.
        let quiet = tokio::time::timeout(Duration::from_millis(400), monitor.changed()).await;
        assert!(quiet.is_err());

        let none = HealthCheck {
            kind: CheckKind::None,
            ..FAST.clone()
        };
        let mut idle = Monitor::start(
            &config(vec![service("10.0.0.1:80", &[dead], none)]),
            &previous,
        );
        assert_eq!(idle.probes(), 0);
        let quiet = tokio::time::timeout(Duration::from_millis(200), idle.changed()).await;
        assert!(quiet.is_err(), "an empty monitor woke its caller");
    }
}
