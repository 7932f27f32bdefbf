//! The director thread: from `router.toml` to a serving LVS director, then
//! reloads on request and retries of whatever failed.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use super::Request;
use super::clock::Clock;
use super::management::{self, Watch};
use super::vrrp::Failover;
use super::watchdog::Keeper;
use crate::apply::{Applier, Failure, Options, Parts};
use crate::config::{self, Config};
use crate::console;
use crate::health::{self, Health, Monitor};
use crate::management::Keep;
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
        };
        director.boot(disk_wait).await;
        // Real servers start as up, so `ready` waits for no probe.
        if let State::Running { config, .. } = &director.state {
            director.monitor = Some(Monitor::start(config, &Health::new()));
        }
        director.follow_vrrp().await;
        loop {
            let wait = director.next_timer();
            tokio::select! {
                request = inbox.recv() => match request {
                    Some(Request::Reload) => {
                        director.reload().await;
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
                request = director.watch.next() => director.answer(request),
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
    /// state when not.
    async fn reload(&mut self) {
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
                    State::Invalid { .. } => self.state = State::Invalid { errors },
                }
                return;
            }
        };
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
        self.watchdog.follow(&config.watchdog);
        self.clock.follow(&config.time);
        // New checks start up; a real server whose check did not change
        // keeps its state (a down one stays out of the table).
        self.monitor = Some(Monitor::start(&config, &self.health()));
        self.watch.info = Some(info);
        // Before the apply, so that the reload's event goes to the
        // webhooks of the new config.
        self.watch.follow(&config);
        self.state = State::Running {
            config: Box::new(config),
            failures: Vec::new(),
        };
        self.apply(Pass::Reload { was_ready }).await;
        if let State::Running { config, failures } = &self.state {
            let failures = failures.iter().map(ToString::to_string).collect();
            self.watch.applied(true, failures);
            self.watch.follow_sorry(config, &self.health());
        }
        self.follow_vrrp().await;
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
                self.watch.invalid(false, errors.clone());
                self.state = State::Invalid { errors };
                return;
            }
        };
        set_hostname(&config.hostname);
        self.watchdog.follow(&config.watchdog);
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
    async fn apply(&mut self, pass: Pass) {
        let health = self.health();
        let State::Running { config, failures } = &mut self.state else {
            return;
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
        let outcome = self
            .applier
            .apply(&health::effective(config, &health), &options)
            .await;
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

/// The test layer's hook (SIGWINCH there): the director's loop stops
/// dead, as a bug that wedges it would, so that the tests see the watchdog
/// reset the box.
fn wedge() -> ! {
    log::warn!("test hook: the director's loop stops here");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
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
fn sha256_hex(bytes: &[u8]) -> String {
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
