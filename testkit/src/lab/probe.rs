//! A client's view of a virtual service: connection attempts from a
//! namespace, and the outages they saw (a VRRP failover, an update's
//! reboot).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Connection attempts to the VIP from the client namespace: one starts
/// every 100 ms, each given 2 s to connect, so a slow answer on a loaded
/// host is not taken for an outage and the resolution stays 100 ms. Says
/// when the virtual service answered, as the client sees it.
pub struct Probe {
    stop: Arc<AtomicBool>,
    /// (when the attempt ended, whether it connected), in that order. A
    /// connection's end is when the service answered; an attempt's start
    /// is no measure (its SYN may be retransmitted into the new master's
    /// time).
    results: Arc<Mutex<Vec<(Instant, bool)>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Probe {
    pub fn start(netns: &str, target: SocketAddr) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let results = Arc::new(Mutex::new(Vec::new()));
        let (stop2, results2) = (Arc::clone(&stop), Arc::clone(&results));
        // The thread is in the client namespace; the current-thread
        // runtime opens every socket from it.
        let thread = crate::netns::spawn_in(netns, move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                while !stop2.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let results = Arc::clone(&results2);
                    tokio::spawn(async move {
                        let connect = tokio::net::TcpStream::connect(target);
                        let ok = matches!(
                            tokio::time::timeout(Duration::from_secs(2), connect).await,
                            Ok(Ok(_))
                        );
                        results
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((Instant::now(), ok));
                    });
                }
            });
        });
        Probe {
            stop,
            results,
            thread: Some(thread),
        }
    }

    /// The outage around `at`: from the last connection made at or before
    /// it to the first made after it. None until the service answered
    /// again.
    pub fn outage(&self, at: Instant) -> Option<(Instant, Instant)> {
        let results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        let ok = || results.iter().filter(|(_, ok)| *ok).map(|(t, _)| *t);
        let last_ok = ok().filter(|t| *t <= at).max()?;
        let first_ok = ok().filter(|t| *t > at).min()?;
        Some((last_ok, first_ok))
    }

    /// Wait until the service answered after `at`; the outage then.
    pub fn wait_outage(&self, at: Instant, timeout: Duration) -> Option<(Instant, Instant)> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(o) = self.outage(at) {
                return Some(o);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The longest time between two connections made in `from..=to`, as
    /// (the last before it, the first after it); None with fewer than two.
    pub fn longest_outage(&self, from: Instant, to: Instant) -> Option<(Instant, Instant)> {
        let results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        let mut ok: Vec<Instant> = results
            .iter()
            .filter(|(t, ok)| *ok && *t >= from && *t <= to)
            .map(|(t, _)| *t)
            .collect();
        ok.sort();
        ok.windows(2)
            .map(|w| (w[0], w[1]))
            .max_by_key(|(a, b)| *b - *a)
    }

    /// Attempts ended so far.
    pub fn attempts(&self) -> usize {
        self.results.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Attempts so far that did not connect.
    pub fn failures(&self) -> usize {
        let results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        results.iter().filter(|(_, ok)| !ok).count()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
