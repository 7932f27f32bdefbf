//! The box seen from the network: Prometheus metrics, a status page, its
//! log, remote syslog and event webhooks (issue 11).
//!
//! Files: `config` (what `[management]`, `[[syslog]]`, `[[webhook]]` say),
//! `snapshot` (what the director publishes), `clock` (UTC once the clock
//! is set), `log` (the ring of console lines), `metrics`, `status`
//! (JSON), `page` (HTML and SVG), `history` (10 s samples of the last
//! hour), `process` (PID 1's `process_*`), `limits` (every bound and the
//! counters of hitting them), `server` (hyper, on its own thread),
//! `syslog`, `webhook`.

pub mod clock;
pub mod config;
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
    pub fn start(
        setup: Setup,
        keep: &Keep,
    ) -> io::Result<(Handle, mpsc::Receiver<SnapshotRequest>)> {
        let (fresh, requests) = fresh::Fresh::new(Arc::clone(&keep.counters));
        let (webhooks, workers) = webhook::Webhooks::new(
            &setup.webhooks,
            Arc::clone(&keep.webhook_seq),
            Arc::clone(&keep.counters),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let keep = keep.clone();
        let thread = std::thread::Builder::new()
            .name("management".into())
            .spawn(move || run(setup, keep, fresh, workers, stopped))?;
        Ok((
            Handle {
                stop: Some(stop),
                thread: Some(thread),
                webhooks,
            },
            requests,
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
    setup: Setup,
    keep: Keep,
    fresh: fresh::Fresh,
    workers: Vec<webhook::Worker>,
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
        for target in setup.syslog {
            tokio::spawn(syslog::run(
                target,
                keep.log.subscribe(),
                Arc::clone(&keep.counters),
            ));
        }
        if let Some(management) = setup.management {
            let context = Arc::new(server::Context::new(
                management,
                setup.limits,
                fresh,
                Arc::clone(&keep.log),
                Arc::clone(&keep.history),
                Arc::clone(&keep.counters),
                setup.version,
            ));
            for listener in setup.listeners {
                match listener
                    .set_nonblocking(true)
                    .and_then(|()| tokio::net::TcpListener::from_std(listener))
                {
                    Ok(l) => {
                        tokio::spawn(server::serve(l, Arc::clone(&context)));
                    }
                    Err(e) => ::log::error!("management: listener: {e}"),
                }
            }
            tokio::spawn(server::sample_history(context));
        }
        // Stop when told, or when the handle is gone.
        let _ = stopped.await;
    });
    // Dropping the runtime ends every task; renderers on the blocking
    // pool end when their client is gone.
    runtime.shutdown_background();
}
