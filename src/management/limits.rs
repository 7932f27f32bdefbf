//! Every bound of the management subsystem, in one place, and the
//! counters of the times one was hit (each is a metric).
//!
//! A limit that is hit is never an error on the console (a scanner would
//! fill it): it closes the connection or answers with an error status,
//! and counts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a client has to send a request's whole head (request line
/// and headers) once connected: a slowloris client that dribbles bytes
/// is cut off after this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The most bytes a request's head may take (hyper's read buffer; its
/// minimum is 8 KiB). A longer head is refused with 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The most header fields in a request.
pub const MAX_HEADERS: usize = 64;

/// Open connections from one client address at once; more are closed
/// as soon as accepted.
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 16;

/// Open connections in all at once; more are closed as soon as accepted.
pub const MAX_CONNECTIONS: usize = 256;

/// Bytes of a streamed response (a scrape, the page) gathered before
/// they are handed to the connection.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks of a streamed response waiting for a slow client; the
/// renderer waits when they are all taken, so a response costs at most
/// `CHUNK_BYTES × CHUNKS_IN_FLIGHT` of memory however big it is.
pub const CHUNKS_IN_FLIGHT: usize = 4;

/// How long a streamed answer waits for a client to take its next chunk
/// before it is cut off (a reader that stalls holds a renderer).
pub const SLOW_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Renderers (threads of the blocking pool) working at once; more
/// requests wait for one.
pub const RENDERERS: usize = 4;

/// How long a request waits for the director's snapshot.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);

/// Events waiting per webhook target; a newer event is dropped (and
/// counted) when the queue is full.
pub const WEBHOOK_QUEUE: usize = 256;

/// How long one webhook delivery may take (connect, send, answer).
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a TCP syslog connection may take to open.
pub const SYSLOG_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a stopping subsystem lets answers to changes finish being
/// written (the answer to the push that restarts it among them).
pub const DRAIN_ON_STOP: Duration = Duration::from_secs(1);

/// How long a config push's body may take to arrive (4 MiB over a slow
/// management link).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest syslog message sent (RFC 5424 asks receivers to take at
/// least 480 bytes and recommends 2048); the text is cut to fit.
pub const SYSLOG_MAX: usize = 2048;

/// The first and the longest wait before a retry (webhook delivery,
/// syslog reconnect); each failure doubles the wait.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The wait after `failures` failures in a row: 1 s, 2 s, 4 s, ... up to
/// [`BACKOFF_MAX`].
pub fn backoff(failures: u32) -> Duration {
    let doubled = BACKOFF_FIRST.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(BACKOFF_MAX)
}

/// The server's limits, [`Limits::default`] being the constants above;
/// tests shorten the timeout.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub slow_client_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            slow_client_timeout: SLOW_CLIENT_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            max_connections_per_client: MAX_CONNECTIONS_PER_CLIENT,
        }
    }
}

/// How often each limit was hit, and what got through; shared by the
/// server, the webhooks and the syslog senders, shown by `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections closed at once: client not in `allow`.
    pub refused_allow: AtomicU64,
    /// ... the client had [`MAX_CONNECTIONS_PER_CLIENT`] open.
    pub refused_client_limit: AtomicU64,
    /// ... [`MAX_CONNECTIONS`] were open.
    pub refused_total_limit: AtomicU64,
    /// Connections cut: no full request head within the timeout.
    pub header_timeouts: AtomicU64,
    /// Streamed answers cut off: the client took no chunk for
    /// [`SLOW_CLIENT_TIMEOUT`].
    pub slow_clients: AtomicU64,
    /// Requests refused: head over [`MAX_HEADER_BYTES`] (431).
    pub header_too_large: AtomicU64,
    /// ... not GET (405).
    pub bad_method: AtomicU64,
    /// ... with a body (413).
    pub with_body: AtomicU64,
    /// ... unknown path (404).
    pub not_found: AtomicU64,
    /// Requests answered.
    pub requests: AtomicU64,
    /// Snapshots asked of the director (one per scrape at most, shared
    /// by concurrent requests).
    pub snapshots: AtomicU64,
    /// Snapshots not had: the director did not answer within
    /// [`SNAPSHOT_TIMEOUT`], dropped the request, or was not reading
    /// (answered 503).
    pub snapshot_failures: AtomicU64,
    /// Lines a `/log?follow=1` client lost by reading too slowly.
    pub follow_lost: AtomicU64,
    /// TLS handshakes that failed.
    pub tls_failures: AtomicU64,
    /// Pushes whose body did not arrive within the body timeout.
    pub body_timeouts: AtomicU64,
    /// Wrong credentials for a write endpoint (or a read one without
    /// `public_read`).
    pub auth_failures: AtomicU64,
    /// Requests refused while the client waits out its failures (429).
    pub auth_waits: AtomicU64,
    /// Write requests answered (whatever their outcome).
    pub control_requests: AtomicU64,
    pub webhook_delivered: AtomicU64,
    /// Events dropped: the target's queue was full.
    pub webhook_dropped: AtomicU64,
    /// Events given up: the receiver refused them (4xx).
    pub webhook_rejected: AtomicU64,
    /// Deliveries tried again after a failure.
    pub webhook_retries: AtomicU64,
    pub syslog_sent: AtomicU64,
    /// Lines not sent: the sender fell behind, or could not send.
    pub syslog_dropped: AtomicU64,
}

impl Counters {
    /// Count one more.
    pub fn hit(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Count `n` more.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The value now.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(1000), BACKOFF_MAX);
    }
}
