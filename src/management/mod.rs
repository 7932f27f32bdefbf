//! The box seen from the network: Prometheus metrics, a status page, its
//! log, remote syslog and event webhooks (issue 11).
//!
//! Everything runs on a thread of its own ([`Handle::start`]) with a
//! current-thread runtime: the HTTP server, the history sampler, the
//! syslog senders and the webhook workers. The director never waits on
//! it: it answers snapshot requests from a channel, enqueues webhook
//! events with a non-blocking send, and the console copies each line
//! into a ring under a short lock.
//!
//! # Wiring it into the director
//!
//! PID 1 does this in `src/pid1/management.rs` (and its calls from
//! `director.rs`), step by step:
//!
//! 1. At boot, before the first log line worth keeping:
//!    `let keep = Keep::default(); console::set_hook(keep.log.hook());`
//!    (the ring then holds the boot's lines for `/log`, `/` and syslog).
//! 2. Once the config is read: bind `[management] listen` (a listener on
//!    a `[vrrp]` virtual address needs `IP_FREEBIND`, see
//!    [`server::bind`]), then
//!    `let (handle, mut requests) = Handle::start(Setup { .. }, &keep)?;`
//!    With no `[management]`, pass `management: None` and no listeners:
//!    nothing listens, syslog and webhooks still run.
//! 3. In the director's `select!`:
//!    `Some(request) = requests.recv() => request.answer(snapshot)`,
//!    where the [`Snapshot`] is the director's state plus one IPVS dump
//!    (`Ipvs::dump`) and [`snapshot::read_totals`]. For a 1,000 × 10
//!    table the dump is the expensive part: do it on a blocking thread
//!    with its own IPVS socket and answer from there (a
//!    [`SnapshotRequest`] is `Send`), so VRRP adverts stay on time.
//!    Concurrent scrapes share one request; at most one is pending.
//! 4. On each event: `handle.event(&webhook::Event::RealServerDown { .. })`
//!    (and `RealServerUp`, `VrrpState`, `ConfigReload`, `SorryServer`).
//! 5. On a reload that changes `[management]`, `[[syslog]]` or
//!    `[[webhook]]`: drop the old [`Handle`] (its thread stops, every
//!    connection closes) and start a new one with the same [`Keep`]: the
//!    log, the charts' history, the counters and the webhook numbering
//!    carry over.
//! 6. When NTP has set the clock: [`clock::set`]`(true)`; UTC fields and
//!    syslog timestamps appear from then on (not yet: the box has no NTP
//!    until the field issue brings it).
//!
//! Files: `config` (what `[management]`, `[[syslog]]`, `[[webhook]]` say),
//! `snapshot` (what the director publishes), `fresh` (asking it for
//! one, shared by concurrent requests), `clock` (UTC once the clock is
//! set), `log` (the ring of console lines), `metrics`, `status` (JSON),
//! `page` (HTML and SVG), `history` (10 s samples of the last hour),
//! `process` (PID 1's `process_*`), `limits` (every bound and the
//! counters of hitting them), `server` (hyper), `syslog`, `webhook`.
//!
//! Memory, bounded: the log ring about 1.1 MB at most, the history about
//! 2.9 MB for 1,000 services, per open connection hyper's 16 KiB head
//! buffer and for a streamed answer 4 × 64 KiB chunks, 256 events per
//! webhook target, 1,024 lines of follow buffer shared by every follower.

pub mod auth;
pub mod clock;
pub mod config;
pub mod control;
pub mod fresh;
pub mod history;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod page;
pub mod process;
pub mod server;
pub mod snapshot;
pub mod status;
pub mod syslog;
pub mod tls;
pub mod webhook;

use std::io;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

pub use fresh::SnapshotRequest;
pub use limits::{Counters, Limits};
pub use snapshot::Snapshot;

/// What outlives a restart of the subsystem (a reload that changes
/// `[management]` stops it and starts another): the log, the charts'
/// history, the counters.
#[derive(Clone, Default)]
pub struct Keep {
    pub log: Arc<log::LogRing>,
    pub history: Arc<Mutex<history::History>>,
    pub counters: Arc<Counters>,
    /// The last webhook event's number.
    pub webhook_seq: Arc<std::sync::atomic::AtomicU64>,
}

/// What to run: the config's sections, and the listening sockets for
/// `[management] listen` (bound by the caller; see [`server`]).
pub struct Setup {
    pub management: Option<config::Management>,
    pub listeners: Vec<std::net::TcpListener>,
    /// `[[syslog]]`: every console line goes to each.
    pub syslog: Vec<config::Syslog>,
    /// `[[webhook]]`: every [`webhook::Event`] goes to each.
    pub webhooks: Vec<config::Webhook>,
    pub limits: Limits,
    /// The build, for `/status` and `lvsinit_build_info`.
    pub version: String,
    /// TLS for the listeners, unless `[management] tls = false`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// What the management thread asks of the director: snapshots to read
/// and changes to make.
pub struct Inbox {
    pub snapshots: mpsc::Receiver<SnapshotRequest>,
    pub controls: mpsc::Receiver<control::ControlRequest>,
}

/// The running subsystem: a thread with its own current-thread runtime.
/// Dropping it stops the thread (and closes every connection).
pub struct Handle {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    webhooks: webhook::Webhooks,
}

impl Handle {
    /// Start the management thread. The receiver is where snapshot
    /// requests arrive: the director answers each
    /// ([`SnapshotRequest::answer`]). Without `[management]` nothing
    /// listens.
    pub fn start(setup: Setup, keep: &Keep) -> io::Result<(Handle, Inbox)> {
        let (fresh, snapshots) = fresh::Fresh::new(Arc::clone(&keep.counters));
        let (controls, control_inbox) = control::Controls::new();
        let (webhooks, workers) = webhook::Webhooks::new(
            &setup.webhooks,
            Arc::clone(&keep.webhook_seq),
            Arc::clone(&keep.counters),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        // Subscribed here, not on the new thread: every line logged once
        // this returns reaches the syslog targets.
        let lines = setup.syslog.iter().map(|_| keep.log.subscribe()).collect();
        let keep = keep.clone();
        let thread = std::thread::Builder::new()
            .name("management".into())
            .spawn(move || run(setup, keep, fresh, controls, workers, lines, stopped))?;
        Ok((
            Handle {
                stop: Some(stop),
                thread: Some(thread),
                webhooks,
            },
            Inbox {
                snapshots,
                controls: control_inbox,
            },
        ))
    }

    /// Tell the webhooks about `event`; never blocks (a full queue drops
    /// it, counted).
    pub fn event(&self, event: &webhook::Event) {
        self.webhooks.send(event);
    }

    /// The webhooks' enqueueing side, to hand to whoever has events.
    pub fn webhooks(&self) -> &webhook::Webhooks {
        &self.webhooks
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The management thread: its runtime, the listeners and the sampler,
/// until told to stop.
fn run(
    mut setup: Setup,
    keep: Keep,
    fresh: fresh::Fresh,
    controls: control::Controls,
    workers: Vec<webhook::Worker>,
    lines: Vec<tokio::sync::broadcast::Receiver<Arc<log::Line>>>,
    stopped: oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(limits::RENDERERS)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            ::log::error!("management: cannot start its runtime: {e}");
            return;
        }
    };
    runtime.block_on(async move {
        for worker in workers {
            tokio::spawn(worker.run(Arc::clone(&keep.counters)));
        }
        for (target, lines) in std::mem::take(&mut setup.syslog).into_iter().zip(lines) {
            tokio::spawn(syslog::run(target, lines, Arc::clone(&keep.counters)));
        }
        let mut served = None;
        let mut tasks = Vec::new();
        if let Some(management) = setup.management.take() {
            let listeners = std::mem::take(&mut setup.listeners);
            let context = Arc::new(server::Context::new(
                management, setup, &keep, fresh, controls,
            ));
            served = Some(Arc::clone(&context));
            for listener in listeners {
                match listener
                    .set_nonblocking(true)
                    .and_then(|()| tokio::net::TcpListener::from_std(listener))
                {
                    Ok(l) => {
                        tasks.push(tokio::spawn(server::serve(l, Arc::clone(&context))));
                    }
                    Err(e) => ::log::error!("management: listener: {e}"),
                }
            }
            tasks.push(tokio::spawn(server::sample_history(context)));
        }
        // Stop when told, or when the handle is gone.
        let _ = stopped.await;
        // No new connections from now on; but the answer to the change
        // that restarts this subsystem (a push of new [management]) may
        // be being written: let answers to changes finish, for a moment at
        // most (the director waits for this thread).
        for task in tasks {
            task.abort();
        }
        if let Some(context) = served {
            let deadline = tokio::time::Instant::now() + limits::DRAIN_ON_STOP;
            while context.answers_in_flight() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    });
    // Dropping the runtime ends every task; renderers on the blocking
    // pool end when their client is gone.
    runtime.shutdown_background();
}
