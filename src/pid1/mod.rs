//! Being PID 1: the boot, the signals, the children, the way out.
//!
//! [`run`] is everything the appliance does, in order:
//! - mount proc, sysfs, devtmpfs, devpts, /run and /tmp (a table, safe to repeat);
//! - log to the console with the time since boot;
//! - take over the signals: SIGCHLD reaps, SIGHUP reloads the config,
//!   SIGTERM/SIGINT (ctrl-alt-del) reboot, SIGUSR1 halts, SIGUSR2/SIGPWR
//!   power off, each after a sync;
//! - in a worker thread ([`director`]): bring `lo` up, find `router.toml`,
//!   validate it, set the hostname, apply it, print `ready` and the table;
//!   then serve reloads and retry what failed, with the health checks and
//!   the `[vrrp]` instance (`vrrp.rs`: addresses, ARP and sync daemon by
//!   role) running beside it.
//!
//! PID 1 never returns and never panics on input; a bug's panic is logged
//! and the machine reboots after a delay instead of a kernel panic.

mod boot_store;
mod clock;
mod director;
mod management;
pub mod mount;
pub mod power;
pub mod pstore;
mod update;
mod vrrp;
mod watchdog;

use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

use crate::boot_reason::Marker;
use crate::console;
use power::Power;

/// How long other processes get to stop before a reboot.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How long a panic message stays on the console before the reboot.
const PANIC_REBOOT_DELAY: Duration = Duration::from_secs(10);

/// How long the director gets to finish its own shutdown work (a VRRP
/// master's priority-0 advert) before the machine goes down.
const DIRECTOR_GRACE: Duration = Duration::from_secs(1);

/// Open files PID 1 may hold: 10,000 real servers' probes, the API's 256
/// connections, netlink and VRRP sockets, with room to spare.
const OPEN_FILES: u64 = 65_536;

/// What the signal loop asks of the director thread.
#[derive(Debug)]
pub enum Request {
    /// SIGHUP: read the config again and reconcile.
    Reload,
    /// The machine is going down: finish what must be said to peers, then
    /// send on the channel (or drop it) and stop.
    Shutdown(mpsc::Sender<()>),
    /// The test layer's hook (SIGWINCH there): stop the director's loop
    /// for good, so that the watchdog's reset can be seen.
    Wedge,
}

/// The signals PID 1 handles, all taken synchronously by `sigwait`.
fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGHUP,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGPWR,
        Signal::SIGWINCH,
    ] {
        set.add(s);
    }
    set
}

/// Boot the appliance and serve it forever.
pub fn run() -> ! {
    let started = console::since_boot();
    // Before any thread: one arena for all of them.
    crate::malloc::tune();
    mount::mount_all();
    console::init_boot();
    // The ring of console lines for /log, the status page and syslog:
    // from here on it holds every line worth keeping.
    let keep = crate::management::Keep::default();
    console::set_hook(keep.log.hook());
    install_panic_hook();
    log::info!(
        "lvsinit {} started as PID 1 at boot_ms={}",
        crate::VERSION,
        started.as_millis()
    );
    let _ = raise_open_files();

    // Block the handled signals before any thread exists, so every thread
    // inherits the mask and only the loop below ever sees them.
    let test_hooks = std::env::var_os("LVSINIT_TEST_HOOKS").is_some();
    let signals = handled_signals();
    if let Err(e) = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&signals), None) {
        log::error!("cannot block signals: {e}");
    }
    // Ctrl-alt-del becomes SIGINT to us instead of an instant reboot.
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        log::warn!("cannot take over ctrl-alt-del: {e}");
    }

    let (requests, inbox) = tokio::sync::mpsc::unbounded_channel();
    let worker = std::thread::Builder::new()
        .name("director".into())
        .spawn(move || director::serve(inbox, keep));
    if let Err(e) = worker {
        log::error!("cannot start the director thread: {e}; rebooting");
        power::end(Power::Reboot);
    }

    loop {
        let signal = match signals.wait() {
            Ok(s) => s,
            Err(e) => {
                log::error!("sigwait: {e}");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        match signal {
            Signal::SIGCHLD => reap(),
            Signal::SIGHUP => {
                log::info!("SIGHUP: reloading the config");
                let _ = requests.send(Request::Reload);
            }
            // Only the test layer's /init sets LVSINIT_TEST_HOOKS; on a
            // real box SIGWINCH means nothing.
            Signal::SIGWINCH if test_hooks => {
                let _ = requests.send(Request::Wedge);
            }
            Signal::SIGWINCH => {}
            other => {
                if let Some(power) = Power::for_signal(other) {
                    log::info!("{other}: {power:?}");
                    let (done, finished) = mpsc::channel();
                    if requests.send(Request::Shutdown(done)).is_ok() {
                        // Ok or a dropped sender both mean it has finished.
                        let _ = finished.recv_timeout(DIRECTOR_GRACE);
                    }
                    power::shutdown(power, SHUTDOWN_GRACE);
                }
            }
        }
    }
}

/// The kernel starts PID 1 with 1,024 open files at most; every health
/// probe holds a socket while it runs and the API its connections, so a
/// table of 10,000 real servers needs many more. Up to [`OPEN_FILES`], or
/// the kernel's own ceiling (`fs.nr_open`) when that is lower; without
/// the right to raise the hard limit (`CAP_SYS_RESOURCE`, which PID 1 has
/// but a container may not), up to the hard limit. The soft limit set.
/// Public for tests/open_files.rs, which proves the figure.
pub fn raise_open_files() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(OPEN_FILES);
    let limit = OPEN_FILES.min(ceiling);
    if setrlimit(Resource::RLIMIT_NOFILE, limit, limit).is_ok() {
        return limit;
    }
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 0;
    };
    let allowed = limit.min(hard);
    match setrlimit(Resource::RLIMIT_NOFILE, allowed, hard) {
        Ok(()) if allowed < limit => {
            log::warn!("open files limited to {allowed} (the hard limit), not {limit}");
            allowed
        }
        Ok(()) => allowed,
        Err(e) => {
            log::warn!("cannot raise the open files limit to {allowed}: {e}");
            soft
        }
    }
}

/// Collect every child that has ended, until none is left.
fn reap() {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(status) => log::debug!("reaped {status:?}"),
        }
    }
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        log::error!("BUG: {info}");
        pstore::mark(Marker::Panic);
        log::error!("rebooting in {} s", PANIC_REBOOT_DELAY.as_secs());
        std::thread::sleep(PANIC_REBOOT_DELAY);
        power::end(Power::Reboot);
    }));
}
