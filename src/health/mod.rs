//! Health checks: a dead real server leaves the rotation, a recovered one
//! comes back.
//!
//! Every real server whose `health_check.type` is not `none` is probed by a
//! [`Check`] (one file per kind: [`tcp`], [`postgres`], [`http`]) on its own
//! schedule. The [`Monitor`] counts consecutive results: `fall` failures
//! take an up server down, `rise` successes bring a down one back. What the
//! kernel gets is always [`effective`]`(config, health)`: the config with
//! down real servers quiesced (weight 0) or removed, per `on_failure`, and
//! each service's `sorry_server` added while none of its real servers is up.
//! It goes through the same reconcile as the boot, so only the changed real
//! server is touched.
//!
//! Real servers start as up at boot (and a new check on reload starts up),
//! so `ready` waits for no probe; one that is down from the start leaves
//! the table `fall × interval + timeout` later. A reload restarts the
//! probes, keeping the state of every check that did not change.
//!
//! A probe is identified by a [`CheckKey`]: the address and port probed and
//! the check itself. A real server shared by several services with the same
//! check is probed once; its state counts for every service.
//!
//! # Log lines
//!
//! Each state change is logged once, by the probe's task, in this format
//! (stable: the benchmark and the lab tests read it):
//!
//! ```text
//! health: <type> <ip>:<port> down (<reason>)
//! health: <type> <ip>:<port> up
//! ```
//!
//! `down` is logged at warning level, so the appliance's console shows it
//! as `[   12.345] warning: health: postgres 192.168.3.2:5432 down
//! (connection refused)`; `up` at info level, as `[   15.678] health:
//! postgres 192.168.3.2:5432 up`. Reasons include `connection refused`,
//! `timeout after 1s`, `unexpected reply`, `connection closed`,
//! `no route to host`, `HTTP status 503, expected 200` and
//! `not accepting connections: <server's message>`. A probe that keeps
//! failing the same way is not logged again.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use crate::config::{CheckKind, RealServer};

mod effective;
pub mod http;
mod monitor;
pub mod postgres;
pub mod tcp;
#[cfg(test)]
mod test_servers;

pub use effective::{all_down, effective};
pub use monitor::{Changed, Health, Monitor, Probed};

/// Why one probe failed. Displayed as the reason of a `down` line.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Nobody listens (the process died): RST to our SYN.
    #[error("connection refused")]
    Refused,
    /// No answer in time: host gone, link cut, or a server that hangs.
    #[error("timeout after {}", human(*.0))]
    Timeout(Duration),
    /// The peer closed before answering.
    #[error("connection closed")]
    Closed,
    /// Something answered, but not in the protocol checked.
    #[error("unexpected reply")]
    UnexpectedReply,
    /// An HTTP server answered with another status than expected.
    #[error("HTTP status {got}, expected {expected}")]
    Status { got: u16, expected: u16 },
    /// A PostgreSQL server that speaks but takes no sessions (starting up,
    /// shutting down, in recovery, too many connections).
    #[error("not accepting connections: {0}")]
    NotAccepting(String),
    /// Any other socket error (no route to host, ...).
    #[error("{}", io_reason(.0))]
    Io(#[source] io::Error),
}

impl From<io::Error> for ProbeError {
    fn from(e: io::Error) -> ProbeError {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => ProbeError::Refused,
            io::ErrorKind::UnexpectedEof => ProbeError::Closed,
            _ => ProbeError::Io(e),
        }
    }
}

/// `1s`, `1500ms`: durations as router.toml writes them.
fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// A socket error in the words of the `down` line: lower case, without the
/// `(os error N)` suffix.
fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::HostUnreachable => "no route to host".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        io::ErrorKind::ConnectionReset => "connection reset".into(),
        io::ErrorKind::ConnectionAborted => "connection aborted".into(),
        _ => {
            let text = e.to_string();
            let text = match text.find(" (os error") {
                Some(cut) => &text[..cut],
                None => &text,
            };
            text.to_lowercase()
        }
    }
}

/// The future of one probe.
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ProbeError>> + Send + 'a>>;

/// One kind of health check. Adding a kind is one file implementing this,
/// plus its line in [`checker`].
///
/// A probe runs to completion or is dropped by the monitor when the
/// check's `timeout` is up, so an implementation needs no deadline of its
/// own. It should allocate nothing that outlives it: the monitor runs it
/// every `interval` for the life of the appliance.
pub trait Check: Send + Sync {
    /// Probe `target` once: `Ok` when it answered as a healthy server does.
    fn probe(&self, target: SocketAddr) -> ProbeFuture<'_>;
}

/// The checker for `kind` probing `target`, or `None` for `type = "none"`.
/// Whatever can be prepared (request bytes) is prepared here, once.
pub fn checker(kind: &CheckKind, target: SocketAddr) -> Option<Box<dyn Check>> {
    match kind {
        CheckKind::None => None,
        CheckKind::Tcp => Some(Box::new(tcp::Tcp)),
        CheckKind::Postgres { user, database } => {
            Some(Box::new(postgres::Postgres::new(user, database)))
        }
        CheckKind::Http { path, host, status } => Some(Box::new(http::Http::new(
            path,
            host.as_deref(),
            *status,
            target,
        ))),
    }
}

/// One probe bounded by `timeout`, as the monitor runs it.
pub async fn probe(
    check: &dyn Check,
    target: SocketAddr,
    timeout: Duration,
) -> Result<(), ProbeError> {
    match tokio::time::timeout(timeout, check.probe(target)).await {
        Ok(result) => result,
        Err(_) => Err(ProbeError::Timeout(timeout)),
    }
}

/// What identifies one probe: the address probed and the check, without
/// what only matters to a service (`on_failure`). Real servers of several
/// services with equal keys share one probe and one state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckKey {
    /// The real server's IP with the check's port.
    pub target: SocketAddr,
    pub kind: CheckKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub fall: u32,
    pub rise: u32,
}

impl CheckKey {
    /// The probe of `real`, or `None` when it is not checked.
    pub fn of(real: &RealServer) -> Option<CheckKey> {
        let check = &real.health_check;
        if check.kind == CheckKind::None {
            return None;
        }
        let port = check.port.unwrap_or(real.address.port());
        Some(CheckKey {
            target: SocketAddr::new(real.address.ip(), port),
            kind: check.kind.clone(),
            interval: check.interval,
            timeout: check.timeout,
            fall: check.fall,
            rise: check.rise,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_the_log_line_says() {
        let cases: Vec<(ProbeError, &str)> = vec![
            (
                io::Error::from(io::ErrorKind::ConnectionRefused).into(),
                "connection refused",
            ),
            (
                ProbeError::Timeout(Duration::from_secs(1)),
                "timeout after 1s",
            ),
            (
                ProbeError::Timeout(Duration::from_millis(1500)),
                "timeout after 1500ms",
            ),
            (
                io::Error::from(io::ErrorKind::UnexpectedEof).into(),
                "connection closed",
            ),
            (io::Error::from_raw_os_error(113).into(), "no route to host"),
            (
                io::Error::from_raw_os_error(101).into(),
                "network unreachable",
            ),
            (io::Error::from_raw_os_error(104).into(), "connection reset"),
            (
                io::Error::from_raw_os_error(1).into(),
                "operation not permitted",
            ),
            (
                ProbeError::Status {
                    got: 503,
                    expected: 200,
                },
                "HTTP status 503, expected 200",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn key_takes_the_check_port_or_the_servers() {
        let mut real = RealServer {
            address: "192.168.3.2:5432".parse().unwrap(),
            weight: 1,
            forwarding: crate::config::Forwarding::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
            health_check: Default::default(),
        };
        assert_eq!(CheckKey::of(&real).unwrap().target, real.address);
        real.health_check.port = Some(8008);
        assert_eq!(
            CheckKey::of(&real).unwrap().target,
            "192.168.3.2:8008".parse().unwrap()
        );
        real.health_check.kind = CheckKind::None;
        assert_eq!(CheckKey::of(&real), None);
    }
}
