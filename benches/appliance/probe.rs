//! TCP probes run from inside a lab namespace (the client's), the way a
//! client application sees the VIP: a connection either completes its
//! handshake with a real server or it does not.
//!
//! Each probe runs on a thread of its own that first joins the namespace
//! (`testkit::netns::spawn_in`): the network namespace is per thread, so
//! the rest of the benchmark stays in the host's namespace.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long one connection attempt may wait for its handshake.
const ATTEMPT: Duration = Duration::from_millis(200);
/// How often a new attempt starts.
const EVERY: Duration = Duration::from_millis(5);

/// Start a connection attempt to `addr` every [`EVERY`], side by side (an
/// attempt whose SYN went nowhere waits out its [`ATTEMPT`] while later
/// ones go on), until one completes or `deadline` passes: the moment the
/// first one completed. The moment is seen to within [`EVERY`].
pub fn first_connect(addr: SocketAddr, deadline: Instant) -> Option<Instant> {
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    let seen = |first: &Mutex<Option<Instant>>| *first.lock().unwrap_or_else(|e| e.into_inner());
    let mut running: Vec<JoinHandle<()>> = Vec::new();
    let mut next = Instant::now();
    while Instant::now() < deadline && seen(&first).is_none() {
        running.retain(|h| !h.is_finished());
        let first = Arc::clone(&first);
        running.push(thread::spawn(move || {
            if TcpStream::connect_timeout(&addr, ATTEMPT).is_ok() {
                let done = Instant::now();
                let mut first = first.lock().unwrap_or_else(|e| e.into_inner());
                *first = Some(first.map_or(done, |t| t.min(done)));
            }
        }));
        next += EVERY;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
    }
    for h in running {
        let _ = h.join();
    }
    seen(&first)
}

/// What a client saw while connecting to `addr` over and over: when each
/// attempt started and whether it completed, in order of their start.
#[derive(Debug, Default, Clone)]
pub struct Watch {
    pub attempts: Vec<(Instant, bool)>,
}

impl Watch {
    /// Number of failed attempts.
    pub fn failures(&self) -> usize {
        self.attempts.iter().filter(|(_, ok)| !*ok).count()
    }
}

/// Start a connection attempt to `addr` every `every` (one short-lived
/// connection each, each given up after `attempt_timeout`) until `stop`
/// says so or `limit` passes. Attempts run side by side on threads of
/// their own (created here, so inside this thread's namespace): a
/// connection that hangs does not delay the next attempt, and the moment
/// service comes back is seen to within `every`, not `attempt_timeout`.
pub fn watch(
    addr: SocketAddr,
    every: Duration,
    attempt_timeout: Duration,
    limit: Duration,
    stop: Arc<AtomicBool>,
) -> Watch {
    let results: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::default();
    let end = Instant::now() + limit;
    let mut next = Instant::now();
    let mut running: Vec<JoinHandle<()>> = Vec::new();
    while Instant::now() < end && !stop.load(Ordering::SeqCst) {
        let results = Arc::clone(&results);
        running.retain(|h| !h.is_finished());
        running.push(thread::spawn(move || {
            let start = Instant::now();
            let ok = TcpStream::connect_timeout(&addr, attempt_timeout).is_ok();
            results
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((start, ok));
        }));
        next += every;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
    }
    for h in running {
        let _ = h.join();
    }
    let mut attempts = std::mem::take(&mut *results.lock().unwrap_or_else(|e| e.into_inner()));
    attempts.sort_by_key(|(t, _)| *t);
    Watch { attempts }
}
