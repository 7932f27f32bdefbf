//! The director thread: from `router.toml` to a serving LVS director, then
//! reloads on request and retries of whatever failed.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use super::Request;
use super::boot_store::BootStore;
use super::clock::Clock;
use super::management::{self, Asked, Watch};
use super::update::{self, Updates};
use super::vrrp::Failover;
use super::watchdog::Keeper;
use crate::apply::{Applier, Failure, Options, Parts, changes};
use crate::config::{self, Config};
use crate::console;
use crate::health::{self, Health, Monitor};
use crate::management::Keep;
use crate::management::control::{Answer, Control, ControlRequest, PowerAction};
use crate::management::snapshot::{ConfigInfo, ConfigSource};
use crate::source;

/// How long the first apply waits for configured NICs that are late.
const LINK_WAIT: Duration = Duration::from_secs(10);
/// How long to wait for the boot partition on a UEFI boot (USB sticks).
const DISK_WAIT: Duration = Duration::from_secs(5);
/// How often an invalid config's errors are shown again, for a console
/// attached late.
const REPEAT_ERRORS: Duration = Duration::from_secs(60);
/// How often failed pieces are retried.
const RETRY: Duration = Duration::from_secs(5);
/// How often the kernel's IPVS table is read back and compared with the
/// config (someone may have run ipvsadm behind the box's back).
const DRIFT_CHECK: Duration = Duration::from_secs(60);
/// The drifted rules the console shows, at most.
const DRIFT_SHOWN: usize = 10;
/// The timer of a director with nothing to retry: it just goes round.
const IDLE: Duration = Duration::from_secs(3600);

/// Where the director stands.
enum State {
    /// No valid config yet: nothing applied, forwarding off.
    Invalid { errors: Vec<String> },
    /// Applied, with the failed pieces still to retry (empty when ready).
    Running {
        /// Boxed: a config is large beside `Invalid`'s list of errors.
        config: Box<Config>,
        failures: Vec<Failure>,
    },
}

/// Why the director applies the running config: what it applies, and what
/// it says about it.
#[derive(Debug, Clone, Copy)]
enum Pass {
    /// The first apply after boot: waits for late NICs; `not ready` when
    /// something failed.
    Boot,
    /// The retry timer: failures already reported stay quiet.
    Retry,
    /// SIGHUP: every failure reported; when none, the reload line (and
    /// `ready` when the box was not).
    Reload { was_ready: bool },
    /// A health check changed: IPVS only; new failures join the ones the
    /// retry timer goes over.
    Health,
}

/// The director's state and the handles it works with.
struct Director {
    applier: Applier,
    state: State,
    /// When an invalid config's errors were last shown.
    last_shown: Instant,
    /// The health checks of the running config; `None` before one runs.
    monitor: Option<Monitor>,
    /// The running `[vrrp]` instance, if the config has one and it could
    /// start (else the retry timer tries again).
    vrrp: Option<Failover>,
    /// The last error a start of the `[vrrp]` instance logged, so that the
    /// retries say each distinct one once.
    vrrp_start_error: Option<String>,
    /// The hardware watchdog, petted by this loop.
    watchdog: Keeper,
    /// Network time, as the running config's `[time]` says.
    clock: Clock,
    /// `[management]`, `[[syslog]]`, `[[webhook]]`, and what they show.
    watch: Watch,
    /// A pushed config that waits for its confirmation.
    pending: Option<Pending>,
    /// The system slots, and this system's trial after an update.
    updates: Updates,
}

/// A config pushed with `?confirm=`: running, not yet on the disk.
struct Pending {
    /// What comes back unless the confirmation arrives.
    previous: (Config, ConfigInfo),
    /// The pushed file, to keep on the disk when confirmed.
    text: std::sync::Arc<str>,
    deadline: tokio::time::Instant,
}

/// Run the director until the machine goes down.
///
/// An event loop on a current-thread runtime: each turn waits for the next
/// request from the signal loop or the next timer (retry, repeat errors),
/// handles it, and goes round again. Subsystems that run beside it (health
/// checks, VRRP) are tasks on the same runtime that report through
/// channels; each gets its own branch in the `select!`.
pub fn serve(mut inbox: UnboundedReceiver<Request>, keep: Keep) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("cannot start the async runtime: {e}; nothing will be configured");
            return;
        }
    };
    runtime.block_on(async move {
        let mut applier = Applier::new();
        match applier.network().await {
            Ok(net) => {
                if let Err(e) = net.loopback_up().await {
                    log::error!("lo: {e}");
                }
            }
            Err(e) => log::error!("rtnetlink: {e}"),
        }
        // A UEFI boot came from a disk that may still be enumerating (USB).
        let disk_wait = if Path::new("/sys/firmware/efi").exists() {
            DISK_WAIT
        } else {
            Duration::ZERO
        };
        let watchdog = Keeper::start();
        let boot_reason = super::pstore::verdict(watchdog.fired_before()).reason;
        // Before the config is read: after a failed trial, the router.toml
        // of before the update comes back here.
        let updates = Updates::at_boot(disk_wait).await;
        let mut director = Director {
            applier,
            state: State::Invalid { errors: Vec::new() },
            last_shown: Instant::now(),
            monitor: None,
            vrrp: None,
            vrrp_start_error: None,
            watchdog,
            clock: Clock::default(),
            watch: Watch::new(keep, boot_reason),
            pending: None,
            updates,
        };
        director.watch.system = director.updates.status();
        director.boot(disk_wait).await;
        // Real servers start as up, so `ready` waits for no probe.
        if let State::Running { config, .. } = &director.state {
            director.monitor = Some(Monitor::start(config, &Health::new()));
        }
        director.follow_vrrp().await;
        // The first tick is a full period away: boot just applied.
        let mut drift = tokio::time::interval_at(tokio::time::Instant::now() + DRIFT_CHECK, DRIFT_CHECK);
        drift.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let wait = director.next_timer();
            tokio::select! {
                request = inbox.recv() => match request {
                    Some(Request::Reload) => {
                        // What it did is on the console already.
                        let _ = director.reload(true).await;
                        // The new config's reading: give its memory back.
                        crate::malloc::trim();
                    }
                    Some(Request::Shutdown(done)) => {
                        director.shutdown().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(Request::Wedge) => wedge(),
                    // The signal loop is gone: the machine is going down.
                    None => return,
                },
                () = director.watchdog.due() => director.watchdog.pet(),
                () = tokio::time::sleep(wait) => director.timer().await,
                changed = health_change(&mut director.monitor) => director.health_changed(changed).await,
                asked = director.watch.next() => match asked {
                    Asked::Snapshot(request) => director.answer(request),
                    Asked::Control(request) => director.control(request).await,
                },
                () = confirm_due(director.pending.as_ref()) => director.confirm_expired().await,
                _ = drift.tick() => director.check_drift().await,
                () = director.updates.trial_tick() => director.check_trial().await,
                transition = Failover::next(&mut director.vrrp) => match transition {
                    Some(t) => {
                        if let Some(vrrp) = &mut director.vrrp {
                            let from = vrrp.role();
                            let (to, reason) = (t.role, t.reason.clone());
                            vrrp.on_transition(t, &mut director.applier).await;
                            director.watch.vrrp_changed(vrrp.config(), from, to, &reason);
                        }
                    }
                    None => {
                        log::error!("vrrp: the instance stopped; starting it again");
                        director.vrrp = None;
                        director.follow_vrrp().await;
                    }
                },
            }
        }
    });
}

impl Director {
    /// How long until [`Director::timer`] has something to do.
    fn next_timer(&self) -> Duration {
        if self.vrrp_wanted().is_some() && self.vrrp.is_none() {
            return RETRY;
        }
        match &self.state {
            State::Invalid { .. } => REPEAT_ERRORS.saturating_sub(self.last_shown.elapsed()),
            State::Running { failures, .. } if !failures.is_empty() => RETRY,
            State::Running { .. } => IDLE,
        }
    }

    /// Show an invalid config's errors again, or retry what failed.
    async fn timer(&mut self) {
        match &self.state {
            State::Invalid { errors } => {
                show_invalid(errors);
                self.last_shown = Instant::now();
            }
            State::Running { failures, .. } if !failures.is_empty() => {
                self.apply(Pass::Retry).await;
            }
            State::Running { .. } => {}
        }
        self.follow_vrrp().await;
    }

    /// The `[vrrp]` of the running config.
    fn vrrp_wanted(&self) -> Option<&config::Vrrp> {
        match &self.state {
            State::Running { config, .. } => config.vrrp.as_ref(),
            State::Invalid { .. } => None,
        }
    }

    /// Make the VRRP instance match the running config: stop one whose
    /// `[vrrp]` is gone or changed, start the one configured, and give it
    /// the tracked services' state.
    async fn follow_vrrp(&mut self) {
        let wanted = self.vrrp_wanted().cloned();
        if self.vrrp.as_ref().map(Failover::config) != wanted.as_ref()
            && let Some(mut old) = self.vrrp.take()
        {
            match &wanted {
                Some(new) if old.update(new, &mut self.applier) => self.vrrp = Some(old),
                _ => old.stop(&mut self.applier).await,
            }
        }
        if self.vrrp.is_none()
            && let Some(wanted) = &wanted
        {
            self.vrrp = Failover::start(wanted, &mut self.vrrp_start_error);
        }
        let health = self.health();
        if let (Some(vrrp), State::Running { config, .. }) = (&mut self.vrrp, &self.state) {
            vrrp.track(config, &health);
        }
    }

    /// SIGHUP: read the config again; apply it when valid, keep the running
    /// state when not. `follow_management` false leaves the management
    /// subsystem for the caller to restart ([`Watch::follow`]) once it has
    /// answered the API; it gets the config back for that.
    async fn reload(&mut self, follow_management: bool) -> Result<Taken, Vec<String>> {
        self.last_shown = Instant::now();
        // router.toml.prev only stands in for an invalid router.toml when
        // nothing runs: a running config is better than an older one.
        let fall_back = matches!(self.state, State::Invalid { .. });
        let (config, info) = match read_config(Duration::ZERO, fall_back) {
            Ok(read) => read,
            Err(errors) => {
                self.watch.invalid(true, errors.clone());
                match &self.state {
                    State::Running { .. } => {
                        log::error!("reload: the new config is invalid; keeping the running one")
                    }
                    State::Invalid { .. } => {
                        self.state = State::Invalid {
                            errors: errors.clone(),
                        }
                    }
                }
                return Err(errors);
            }
        };
        Ok(self.take(config, info, follow_management).await)
    }

    /// Run `config`, valid and read from `info`'s place: what a reload
    /// does once it has the file, and what a push does with its body.
    async fn take(&mut self, config: Config, info: ConfigInfo, follow_management: bool) -> Taken {
        // Whatever waited for a confirmation is overtaken by this config
        // (a push sets its own wait again once this returns).
        if self.pending.take().is_some() {
            log::warn!("config: the pushed config that waited for its confirmation is replaced");
        }
        self.watch.confirm_by = None;
        let was_ready = match &self.state {
            State::Running {
                config: old,
                failures,
            } => {
                if old.hostname != config.hostname {
                    set_hostname(&config.hostname);
                }
                failures.is_empty()
            }
            State::Invalid { .. } => {
                set_hostname(&config.hostname);
                false
            }
        };
        self.follow_watchdog(&config.watchdog);
        self.clock.follow(&config.time);
        // New checks start up; a real server whose check did not change
        // keeps its state (a down one stays out of the table).
        self.monitor = Some(Monitor::start(&config, &self.health()));
        self.watch.info = Some(info);
        // A drained real server stays drained while the config keeps it.
        self.watch.drained.retain(|(service, address)| {
            config
                .services
                .iter()
                .any(|s| s.name == *service && s.real_servers.iter().any(|r| r.address == *address))
        });
        // Before the apply, so that the reload's event goes to the
        // webhooks of the new config.
        let restart = !follow_management && self.watch.restarts_for(&config);
        if follow_management {
            self.watch.follow(&config);
        }
        self.state = State::Running {
            config: Box::new(config),
            failures: Vec::new(),
        };
        let ops = self.apply(Pass::Reload { was_ready }).await;
        let mut failures = Vec::new();
        if let State::Running {
            config,
            failures: f,
        } = &self.state
        {
            failures = f.iter().map(ToString::to_string).collect();
            self.watch.applied(true, failures.clone());
            self.watch.follow_sorry(config, &self.health());
        }
        self.follow_vrrp().await;
        Taken {
            ops,
            failures,
            restart,
        }
    }

    /// A change the management API asks for; the request is answered
    /// here, before anything that would restart the API.
    async fn control(&mut self, request: ControlRequest) {
        match &request.control {
            Control::GetConfig => {
                let answer = match &self.watch.info {
                    Some(info) => Answer {
                        status: 200,
                        content_type: "application/toml; charset=utf-8",
                        body: info.text.to_string(),
                    },
                    None => Answer::text(404, "no config runs"),
                };
                request.answer(answer);
            }
            Control::Push { .. } => self.push(request).await,
            Control::Confirm => self.confirm(request).await,
            Control::Reload => {
                if let Some(refusal) = self.while_pending() {
                    return request.answer(refusal);
                }
                log::info!("reload: asked by the management API");
                match self.reload(false).await {
                    Err(errors) => request.answer(Answer::text(422, errors.join("\n"))),
                    Ok(taken) => {
                        let result = if taken.failures.is_empty() {
                            "ok"
                        } else {
                            "failed"
                        };
                        request.answer(Answer::json(
                            200,
                            &serde_json::json!({
                                "result": result,
                                "changes": changes::ipvsadm(&taken.ops).collect::<Vec<_>>(),
                                "errors": taken.failures,
                            }),
                        ));
                        self.restart_management(taken.restart);
                    }
                }
            }
            Control::Drain {
                service,
                real_server,
                drain,
            } => {
                let (service, real_server, drain) = (service.clone(), *real_server, *drain);
                self.drain(request, service, real_server, drain).await;
            }
            Control::Power(action) => {
                let action = *action;
                let word = match action {
                    PowerAction::Reboot => "reboot",
                    PowerAction::PowerOff => "poweroff",
                };
                log::warn!("{word}: asked by the management API");
                request.answer(Answer::json(202, &serde_json::json!({ "action": word })));
                go_down(action);
            }
            Control::Update { .. } => self.update(request).await,
            Control::Rollback => {
                if let Some(refusal) = self.while_pending() {
                    return request.answer(refusal);
                }
                let (answer, reboot) = self.updates.roll_back().await;
                request.answer(answer);
                self.watch.system = self.updates.status();
                if reboot {
                    go_down(PowerAction::Reboot);
                }
            }
        }
    }

    /// `PUT /update`: written to the other slot, then a reboot into it.
    async fn update(&mut self, request: ControlRequest) {
        let Control::Update { image, signature } = &request.control else {
            return;
        };
        if let Some(refusal) = self.while_pending() {
            return request.answer(refusal);
        }
        let (image, signature) = (image.clone(), signature.clone());
        let key = self.management_config().and_then(|m| m.update_public_key);
        let bound = self.update_trial();
        let (answer, reboot) = self
            .updates
            .install(image, signature, key.as_ref(), bound)
            .await;
        request.answer(answer);
        self.watch.system = self.updates.status();
        if reboot {
            go_down(PowerAction::Reboot);
        }
    }

    /// The watchdog as `wanted` says, except that a system on trial keeps
    /// it on (a hang must end in a reset, into the old system).
    fn follow_watchdog(&mut self, wanted: &config::Watchdog) {
        if self.updates.on_trial() && wanted.timeout.is_none() {
            log::warn!("watchdog: kept on while this system is on trial");
            return;
        }
        self.watchdog.follow(wanted);
    }

    /// The running config's `[management]`.
    fn management_config(&self) -> Option<&config::Management> {
        match &self.state {
            State::Running { config, .. } => config.management.as_ref(),
            State::Invalid { .. } => None,
        }
    }

    /// How long a new system has to get good: `[management]
    /// update_trial`, or its default without a valid config.
    fn update_trial(&self) -> Duration {
        match &self.state {
            State::Running { config, .. } => trial_bound(config),
            State::Invalid { .. } => config::Management::DEFAULT_UPDATE_TRIAL,
        }
    }

    /// On trial: the bound passed (reboot into the other slot), or every
    /// check passes (this system is the default from now on).
    async fn check_trial(&mut self) {
        let missing = self.trial_missing().await;
        match missing {
            None => {
                self.updates.commit().await;
                self.watch.system = self.updates.status();
            }
            Some(_) if !self.updates.timed_out() => {}
            Some(missing) => {
                self.updates.give_up(missing).await;
                go_down(PowerAction::Reboot);
            }
        }
    }

    /// What this system on trial still lacks; `None` when it is good:
    /// ready (everything applied), its links up, the kernel's IPVS table
    /// as the config says, its management API answering.
    async fn trial_missing(&mut self) -> Option<String> {
        let State::Running { config, failures } = &self.state else {
            return Some("no valid config runs (never ready)".into());
        };
        if !failures.is_empty() {
            return Some(format!("not ready: {} piece(s) failed", failures.len()));
        }
        for interface in &config.interfaces {
            if crate::vrrp::socket::link_up(&interface.name) != Some(true) {
                return Some(format!("link {} is not up", interface.name));
            }
        }
        let listen = config
            .management
            .as_ref()
            .map(|m| m.listen.clone())
            .unwrap_or_default();
        match self.table_drift().await {
            Ok(0) => {}
            Ok(n) => {
                return Some(format!(
                    "the IPVS table differs from the config in {n} rule(s)"
                ));
            }
            Err(e) => return Some(format!("the IPVS table cannot be read: {e}")),
        }
        update::answering(&listen).await.err()
    }

    /// `409` while a pushed config waits for its confirmation.
    fn while_pending(&self) -> Option<Answer> {
        let pending = self.pending.as_ref()?;
        let left = pending
            .deadline
            .saturating_duration_since(tokio::time::Instant::now());
        Some(Answer::text(
            409,
            format!(
                "a pushed config waits for its confirmation for {} s more: confirm it \
                 (POST /config/confirm) or let the previous one come back",
                left.as_secs()
            ),
        ))
    }

    /// `PUT /config`: validate, then (unless a dry run) run it and keep it.
    async fn push(&mut self, request: ControlRequest) {
        let Control::Push {
            text,
            dry_run,
            confirm,
        } = &request.control
        else {
            return;
        };
        let (text, dry_run, confirm) = (text.clone(), *dry_run, *confirm);
        if let Some(refusal) = self.while_pending() {
            return request.answer(refusal);
        }
        let (State::Running { config: old, .. }, Some(old_info)) = (&self.state, &self.watch.info)
        else {
            return request.answer(Answer::text(409, "no config runs to change"));
        };
        let (new, warnings) = match config::load("router.toml", &text) {
            Ok(loaded) => loaded,
            Err(e) => {
                let lines: Vec<String> = e.diagnostics.iter().map(|d| d.to_string()).collect();
                return request.answer(Answer::text(422, lines.join("\n")));
            }
        };
        let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        let mut changes = changes::between(old, &new);
        if dry_run {
            let mut effective = health::effective(&new, &self.health());
            drained(&mut effective, &self.watch.drained);
            // The table is read on a blocking thread with its own socket,
            // as every read of it off the director's loop.
            let want = crate::ipvs::desired(&effective.services);
            let planned = tokio::task::spawn_blocking(move || {
                let table = crate::ipvs::Ipvs::open()?.dump()?;
                Ok::<_, crate::ipvs::IpvsError>(crate::ipvs::diff(&want, &table))
            })
            .await;
            match planned {
                Ok(Ok(ops)) => changes.extend(changes::ipvsadm(&ops)),
                Ok(Err(e)) => changes.push(format!("(the IPVS table cannot be read: {e})")),
                Err(e) => changes.push(format!("(the IPVS table cannot be read: {e})")),
            }
            return request.answer(Answer::json(
                200,
                &serde_json::json!({
                    "dry_run": true,
                    "changes": changes,
                    "warnings": warnings,
                    "persisted": false,
                    "confirm_by": null,
                }),
            ));
        }
        let previous = ((**old).clone(), old_info.clone());
        let replaced_fallback = old_info.fallback.is_some();
        let info = ConfigInfo {
            source: old_info.source,
            sha256: sha256_hex(text.as_bytes()),
            fallback: None,
            text: text.as_str().into(),
        };
        log::info!(
            "config: a new config pushed by the management API{}",
            match confirm {
                Some(d) => format!(", to be confirmed within {} s", d.as_secs()),
                None => String::new(),
            }
        );
        let taken = self.take(new, info.clone(), false).await;
        changes.extend(changes::ipvsadm(&taken.ops));
        let (persisted, note) = match confirm {
            Some(within) => {
                let deadline = tokio::time::Instant::now() + within;
                self.pending = Some(Pending {
                    previous,
                    text: info.text.clone(),
                    deadline,
                });
                self.watch.confirm_by = Some(console::since_boot() + within);
                (
                    false,
                    Some(format!(
                        "not kept on the disk until confirmed: POST /config/confirm within {} s, or the previous config comes back",
                        within.as_secs()
                    )),
                )
            }
            None => self.persist(info.text.clone(), replaced_fallback).await,
        };
        let confirm_by = self.watch.confirm_by.map(|at| {
            serde_json::json!({
                "boot_ms": at.as_millis() as u64,
                "utc": crate::management::clock::now_unix().map(|now| {
                    let now_boot = console::since_boot();
                    crate::management::clock::rfc3339(now + at.saturating_sub(now_boot))
                }),
            })
        });
        request.answer(Answer::json(
            200,
            &serde_json::json!({
                "changes": changes,
                "warnings": warnings,
                "errors": taken.failures,
                "persisted": persisted,
                "note": note,
                "confirm_by": confirm_by,
            }),
        ));
        self.restart_management(taken.restart);
    }

    /// Read the kernel's IPVS table back (on a blocking thread with its
    /// own socket) and put back whatever differs from the config as the
    /// health checks and drains have it.
    /// The changes that would make the kernel's IPVS table what the
    /// running config (with its health and drains) says; `None` without
    /// a running config.
    async fn drifted(&self) -> Option<Result<Vec<crate::ipvs::Op>, String>> {
        let State::Running { config, .. } = &self.state else {
            return None;
        };
        let mut effective = health::effective(config, &self.health());
        drained(&mut effective, &self.watch.drained);
        let want = crate::ipvs::desired(&effective.services);
        let read = tokio::task::spawn_blocking(move || {
            let table = crate::ipvs::Ipvs::open()?.dump()?;
            Ok::<_, crate::ipvs::IpvsError>(crate::ipvs::diff(&want, &table))
        })
        .await;
        match read {
            Ok(result) => Some(result.map_err(|e| e.to_string())),
            Err(e) => Some(Err(e.to_string())),
        }
    }

    /// How many rules the kernel's table lacks or has too many.
    async fn table_drift(&self) -> Result<usize, String> {
        self.drifted()
            .await
            .unwrap_or(Ok(Vec::new()))
            .map(|ops| ops.len())
    }

    async fn check_drift(&mut self) {
        let State::Running { failures, .. } = &self.state else {
            return;
        };
        // The retry timer reconciles a table with failures anyway.
        if !failures.is_empty() {
            return;
        }
        let drifted = match self.drifted().await {
            Some(Ok(ops)) => ops,
            Some(Err(e)) => {
                log::warn!("ipvs: cannot read the table back to check it: {e}");
                return;
            }
            None => return,
        };
        if drifted.is_empty() {
            return;
        }
        log::warn!(
            "ipvs: the kernel's table differs from the config in {} rule{} (changed behind the box's back); putting it back",
            drifted.len(),
            if drifted.len() == 1 { "" } else { "s" }
        );
        let changes: Vec<String> = changes::ipvsadm(&drifted).collect();
        for change in changes.iter().take(DRIFT_SHOWN) {
            log::warn!("ipvs: drift repair: {change}");
        }
        if changes.len() > DRIFT_SHOWN {
            log::warn!(
                "ipvs: drift repair: and {} more",
                changes.len() - DRIFT_SHOWN
            );
        }
        self.applier.forget_table();
        self.apply(Pass::Health).await;
        self.watch.drift_repaired(changes);
    }

    /// `POST /config/confirm`: keep the pushed config.
    async fn confirm(&mut self, request: ControlRequest) {
        let Some(pending) = self.pending.take() else {
            return request.answer(Answer::text(409, "no pushed config waits for confirmation"));
        };
        self.watch.confirm_by = None;
        log::info!("config: the pushed config is confirmed");
        let replaced_fallback = pending.previous.1.fallback.is_some();
        let (persisted, note) = self.persist(pending.text, replaced_fallback).await;
        request.answer(Answer::json(
            200,
            &serde_json::json!({ "persisted": persisted, "note": note }),
        ));
    }

    /// The confirmation did not come: the previous config again.
    async fn confirm_expired(&mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        self.watch.confirm_by = None;
        log::warn!(
            "config: the pushed config was not confirmed in time; going back to the previous one"
        );
        let (config, info) = pending.previous;
        self.take(config, info, true).await;
    }

    /// Keep `text` as the boot partition's router.toml (the one before as
    /// router.toml.prev); whether it was kept, and what to tell when not.
    /// The write (a remount, fsyncs) runs on the blocking pool: the
    /// runtime's other tasks (VRRP adverts, health probes) go on meanwhile.
    /// `replaced_fallback`: the config before ran on router.toml.prev
    /// because router.toml was invalid; then router.toml.prev is the file
    /// to keep as it is, not the invalid one.
    async fn persist(
        &self,
        text: std::sync::Arc<str>,
        replaced_fallback: bool,
    ) -> (bool, Option<String>) {
        let source = self.watch.info.as_ref().map(|i| i.source);
        let keep_previous = (!replaced_fallback).then_some("router.toml.prev");
        if source != Some(ConfigSource::Boot) {
            let from = source.map_or("builtin", ConfigSource::name);
            let note = format!(
                "this box's config comes from {from}, not from the boot partition: the new one \
                 runs until the next reboot"
            );
            log::warn!("config: {note}");
            return (false, Some(note));
        }
        let written = tokio::task::spawn_blocking(move || {
            let Some(store) = BootStore::mounted() else {
                return Err("the boot partition is not mounted".to_string());
            };
            store
                .partition()
                .replace("router.toml", text.as_bytes(), keep_previous)
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("the write stopped: {e}")));
        match written {
            Ok(()) => {
                log::info!(
                    "config: kept as router.toml on the boot partition (the one before as router.toml.prev)"
                );
                (true, None)
            }
            Err(e) => {
                let note = format!(
                    "cannot keep it on the boot partition: {e}; it runs until the next reboot"
                );
                log::error!("config: {note}");
                (false, Some(note))
            }
        }
    }

    /// After answering: restart the management subsystem if the new
    /// config changed it.
    fn restart_management(&mut self, restart: bool) {
        if restart && let State::Running { config, .. } = &self.state {
            let config = config.clone();
            self.watch.follow(&config);
        }
    }

    /// `.../drain` and `.../enable`: weight 0 for a real server until
    /// enabled again, without touching the config.
    async fn drain(
        &mut self,
        request: ControlRequest,
        service: String,
        real_server: SocketAddr,
        drain: bool,
    ) {
        let State::Running { config, .. } = &self.state else {
            return request.answer(Answer::text(409, "no config runs"));
        };
        let Some(svc) = config.services.iter().find(|s| s.name == service) else {
            return request.answer(Answer::text(404, format!("no service {service:?}")));
        };
        if !svc.real_servers.iter().any(|r| r.address == real_server) {
            return request.answer(Answer::text(
                404,
                format!("service {service:?} has no real server {real_server}"),
            ));
        }
        let key = (service.clone(), real_server);
        let changed = match drain {
            true => self.watch.drained.insert(key),
            false => self.watch.drained.remove(&key),
        };
        let ops = if changed {
            log::info!(
                "{}: real server {real_server} of service {service} (asked by the management API)",
                if drain { "drain" } else { "enable" }
            );
            self.apply(Pass::Health).await
        } else {
            Vec::new()
        };
        request.answer(Answer::json(
            200,
            &serde_json::json!({
                "service": service,
                "real_server": real_server.to_string(),
                "drained": drain,
                "changes": changes::ipvsadm(&ops).collect::<Vec<_>>(),
            }),
        ));
    }

    /// A snapshot request of the management API: the director's state
    /// now, the kernel's table read off this loop.
    fn answer(&self, request: crate::management::SnapshotRequest) {
        let started = std::time::Instant::now();
        let (config, failures) = match &self.state {
            State::Running { config, failures } => (Some(&**config), failures.len()),
            State::Invalid { .. } => (None, 0),
        };
        let vrrp = self.vrrp.as_ref().map(Failover::view);
        let health = self.health();
        let mut snapshot =
            self.watch
                .snapshot(config, &health, self.monitor.as_ref(), vrrp, failures);
        snapshot.took.director = started.elapsed();
        management::answer(request, snapshot);
    }

    /// The health checks' states now (all up when none run).
    fn health(&self) -> Health {
        self.monitor
            .as_ref()
            .map(|m| m.health().clone())
            .unwrap_or_default()
    }

    /// A real server went down or came back: reconcile IPVS with the
    /// config as the checks see it, which touches only that real server.
    async fn health_changed(&mut self, changed: Vec<health::Changed>) {
        self.apply(Pass::Health).await;
        let health = self.health();
        if let State::Running { config, .. } = &self.state {
            self.watch.health_changed(&changed, config);
            self.watch.follow_sorry(config, &health);
        }
        if let (Some(vrrp), State::Running { config, .. }) = (&mut self.vrrp, &self.state) {
            vrrp.track(config, &health);
        }
    }

    /// The first configuration after boot.
    async fn boot(&mut self, disk_wait: Duration) {
        let (config, info) = match read_config(disk_wait, true) {
            Ok(read) => read,
            Err(errors) => {
                self.updates
                    .start_trial(config::Management::DEFAULT_UPDATE_TRIAL);
                self.watch.invalid(false, errors.clone());
                self.state = State::Invalid { errors };
                return;
            }
        };
        self.updates.start_trial(trial_bound(&config));
        if Path::new(update::NEVER_READY_HOOK).exists() {
            log::warn!("test hook: never ready; the config is not applied");
            self.state = State::Invalid {
                errors: vec!["test hook: never ready".into()],
            };
            return;
        }
        set_hostname(&config.hostname);
        self.follow_watchdog(&config.watchdog);
        self.clock.follow(&config.time);
        self.watch.info = Some(info);
        // Before the apply: `ready` and the table reach syslog, and the
        // API answers (unready) while the NICs come up.
        self.watch.follow(&config);
        self.state = State::Running {
            config: Box::new(config),
            failures: Vec::new(),
        };
        self.apply(Pass::Boot).await;
        if let State::Running { config, failures } = &self.state {
            let failures = failures.iter().map(ToString::to_string).collect();
            self.watch.applied(false, failures);
            self.watch.follow_sorry(config, &self.health());
        }
        // Reading and applying a big config is the biggest transient work
        // PID 1 does: give its memory back.
        crate::malloc::trim();
    }

    /// Apply the running config as the health checks see it (down real
    /// servers quiesced or removed) and report: each failure once, however
    /// many passes meet it again (the retry timer goes over them), and
    /// `ready` once nothing is left failing.
    async fn apply(&mut self, pass: Pass) -> Vec<crate::ipvs::Op> {
        let health = self.health();
        let State::Running { config, failures } = &mut self.state else {
            return Vec::new();
        };
        let options = Options {
            link_wait: match pass {
                Pass::Boot => LINK_WAIT,
                Pass::Retry | Pass::Reload { .. } | Pass::Health => Duration::ZERO,
            },
            parts: match pass {
                Pass::Health => Parts {
                    ipvs: true,
                    ..Parts::NONE
                },
                Pass::Boot | Pass::Retry | Pass::Reload { .. } => Parts::ALL,
            },
        };
        let mut effective = health::effective(config, &health);
        drained(&mut effective, &self.watch.drained);
        let outcome = self.applier.apply(&effective, &options).await;
        let (now, new) = merge_failures(pass, std::mem::take(failures), outcome.failures);
        for i in new {
            log::error!("{}", now[i]);
        }
        *failures = now;
        match pass {
            Pass::Boot if !failures.is_empty() => log::warn!(
                "not ready: {} piece{} failed; retrying every {} s",
                failures.len(),
                if failures.len() == 1 { "" } else { "s" },
                RETRY.as_secs()
            ),
            Pass::Boot | Pass::Retry if failures.is_empty() => {
                announce_ready(&mut self.applier, outcome.elapsed)
            }
            Pass::Reload { was_ready } if failures.is_empty() => {
                log_reload(outcome.ipvs_changes, outcome.ipvs_read, outcome.elapsed);
                if !was_ready {
                    announce_ready(&mut self.applier, outcome.elapsed);
                }
            }
            Pass::Boot | Pass::Retry | Pass::Reload { .. } | Pass::Health => {}
        }
        outcome.ipvs_ops
    }

    /// The machine is going down: tell whoever must know. Nothing is
    /// removed from the kernel; the reboot does that.
    async fn shutdown(&mut self) {
        log::info!("director: stopping");
        self.watchdog.disarm();
        if let Some(vrrp) = self.vrrp.take() {
            vrrp.stop(&mut self.applier).await;
        }
    }
}

/// How long a new system on `config` has to get good: `[management]
/// update_trial`, or its default.
fn trial_bound(config: &Config) -> Duration {
    config
        .management
        .as_ref()
        .map_or(config::Management::DEFAULT_UPDATE_TRIAL, |m| m.update_trial)
}

/// Go down as `action` says, a moment after the answer that says so left:
/// PID 1 goes the way the signal takes it (a VRRP master resigns first).
fn go_down(action: PowerAction) {
    let signal = match action {
        PowerAction::Reboot => nix::sys::signal::Signal::SIGTERM,
        PowerAction::PowerOff => nix::sys::signal::Signal::SIGUSR2,
    };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(1), signal);
    });
}

/// The test layer's hook (SIGWINCH there): the director's loop stops
/// dead, as a bug that wedges it would, so that the tests see the watchdog
/// reset the box.
fn wedge() -> ! {
    log::warn!("test hook: the director's loop stops here");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// What [`Director::take`] did: the IPVS changes it sent, what failed,
/// and whether the management subsystem is still to restart.
struct Taken {
    ops: Vec<crate::ipvs::Op>,
    failures: Vec<String>,
    restart: bool,
}

/// When a pushed config's time to be confirmed is up; never, with none.
async fn confirm_due(pending: Option<&Pending>) {
    match pending {
        Some(p) => tokio::time::sleep_until(p.deadline).await,
        None => std::future::pending().await,
    }
}

/// Weight 0 for the real servers an operator drained.
fn drained(config: &mut Config, drained: &std::collections::BTreeSet<(String, SocketAddr)>) {
    if drained.is_empty() {
        return;
    }
    for service in &mut config.services {
        for real in &mut service.real_servers {
            if drained.contains(&(service.name.clone(), real.address)) {
                real.weight = 0;
            }
        }
    }
}

/// The next state changes of the health checks; never, when none run.
async fn health_change(monitor: &mut Option<Monitor>) -> Vec<health::Changed> {
    match monitor {
        Some(monitor) => monitor.changed().await,
        None => std::future::pending().await,
    }
}

/// Read, validate and report the config, with where it came from and its
/// hash. Invalid: the errors, already shown on the console. With
/// `fall_back`, an invalid router.toml on the boot partition gives way to
/// a valid router.toml.prev there ([`source::load`]), loudly.
fn read_config(disk_wait: Duration, fall_back: bool) -> Result<(Config, ConfigInfo), Vec<String>> {
    let mut source = match source::find(disk_wait) {
        Ok(s) => s,
        Err(e) => {
            let errors = vec![format!("config: no router.toml anywhere: {e}")];
            show_invalid(&errors);
            return Err(errors);
        }
    };
    log::info!("config: {}", source.origin);
    if !fall_back {
        source.previous = None;
    }
    match source::load(&source) {
        Ok(loaded) => {
            if let Some(fallback) = &loaded.fallback {
                show_fallback(&fallback.errors);
            }
            for w in loaded.warnings {
                log::warn!("{w}");
            }
            let info = ConfigInfo {
                source: match source.origin {
                    source::Origin::FwCfg => ConfigSource::FwCfg,
                    source::Origin::BootPartition { .. } => ConfigSource::Boot,
                    source::Origin::BuiltIn => ConfigSource::Builtin,
                },
                sha256: sha256_hex(loaded.text.as_bytes()),
                fallback: loaded.fallback,
                text: loaded.text.as_str().into(),
            };
            Ok((loaded.config, info))
        }
        Err(errors) => {
            show_invalid(&errors);
            Err(errors)
        }
    }
}

/// router.toml's errors as an invalid config shows them, then the line
/// that says the box runs the file before it.
fn show_fallback(errors: &[String]) {
    for e in errors {
        log::error!("{e}");
    }
    log::error!(
        "config: FALLBACK: router.toml is invalid ({} error{}); running {}:/{} instead. Fix router.toml and reboot, or send SIGHUP",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" },
        source::BOOT_LABEL,
        source::PREVIOUS
    );
}

/// SHA-256 of `bytes`, lowercase hex.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    let digest = sha2::Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest.iter() {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

fn show_invalid(errors: &[String]) {
    for e in errors {
        log::error!("{e}");
    }
    log::error!(
        "config: invalid ({} error{}): nothing applied, forwarding stays off; fix router.toml and reboot, or send SIGHUP",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
}

fn set_hostname(name: &str) {
    match nix::unistd::sethostname(name) {
        Ok(()) => log::info!("hostname: {name}"),
        Err(e) => log::error!("hostname {name}: {e}"),
    }
}

/// The failures a pass leaves, and which of them it reports (their
/// positions, in the order found). A health pass adds to the `earlier`
/// ones those it finds that are new; any other pass replaces them and
/// reports only what was not among them (what a retry meets again was
/// reported when it first failed; boot and reload start from none).
fn merge_failures(
    pass: Pass,
    earlier: Vec<Failure>,
    found: Vec<Failure>,
) -> (Vec<Failure>, Vec<usize>) {
    let includes =
        |failures: &[Failure], failure: &Failure| failures.iter().any(|f| f.same_as(failure));
    let mut new = Vec::new();
    if let Pass::Health = pass {
        let mut now = earlier;
        for failure in found {
            if !includes(&now, &failure) {
                new.push(now.len());
                now.push(failure);
            }
        }
        (now, new)
    } else {
        for (i, failure) in found.iter().enumerate() {
            if !includes(&earlier, failure) {
                new.push(i);
            }
        }
        (found, new)
    }
}

/// The line of a reload that left nothing failing.
fn log_reload(ipvs_changes: usize, ipvs_read: bool, elapsed: Duration) {
    let apply_ms = elapsed.as_millis();
    match ipvs_changes {
        0 if ipvs_read => log::info!("reload: no change to IPVS (apply_ms={apply_ms})"),
        0 => log::info!(
            "reload: no change to IPVS (apply_ms={apply_ms}; services as last applied, table not read back)"
        ),
        n => log::info!(
            "reload: {n} IPVS change{} (apply_ms={apply_ms})",
            if n == 1 { "" } else { "s" }
        ),
    }
}

fn announce_ready(applier: &mut Applier, apply_time: Duration) {
    log::info!(
        "ready boot_ms={} apply_ms={}",
        console::since_boot().as_millis(),
        apply_time.as_millis()
    );
    // A console is a serial line: ten thousand real servers at 115200
    // baud would hold the director (and its VRRP adverts) for a minute.
    match applier.ipvs_table(READY_TABLE_LINES) {
        Ok(table) => {
            for line in table.lines() {
                log::info!("{line}");
            }
        }
        Err(e) => log::error!("cannot read the IPVS table back: {e}"),
    }
}

/// Lines of the `ipvsadm -Ln` table shown at `ready`.
const READY_TABLE_LINES: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::Piece;
    use crate::sysctl::SysctlError;

    fn failure(name: &str) -> Failure {
        Failure {
            piece: Piece::Sysctl(name.into()),
            error: SysctlError::InvalidName(name.into()).into(),
        }
    }

    fn names(failures: &[Failure]) -> Vec<String> {
        failures.iter().map(|f| f.piece.to_string()).collect()
    }

    /// A retry reports only what it had not met; what it no longer meets
    /// is gone. Boot and reload report everything.
    #[test]
    fn a_retry_reports_what_is_new_and_forgets_what_is_fixed() {
        let (now, new) = merge_failures(
            Pass::Retry,
            vec![failure("a"), failure("b")],
            vec![failure("b"), failure("c")],
        );
        assert_eq!(names(&now), ["sysctl b", "sysctl c"]);
        assert_eq!(new, [1]);
        for pass in [Pass::Boot, Pass::Reload { was_ready: true }] {
            let (now, new) = merge_failures(pass, Vec::new(), vec![failure("a"), failure("b")]);
            assert_eq!(names(&now), ["sysctl a", "sysctl b"]);
            assert_eq!(new, [0, 1]);
        }
    }

    /// A health pass (IPVS only) keeps the failures the retry timer goes
    /// over and adds only new ones, each once however often it comes back.
    #[test]
    fn a_health_pass_adds_new_failures_once() {
        let (now, new) = merge_failures(
            Pass::Health,
            vec![failure("a")],
            vec![failure("a"), failure("b")],
        );
        assert_eq!(names(&now), ["sysctl a", "sysctl b"]);
        assert_eq!(new, [1]);
        let (now, new) = merge_failures(Pass::Health, now, vec![failure("b")]);
        assert_eq!(names(&now), ["sysctl a", "sysctl b"]);
        assert!(new.is_empty());
    }
}
