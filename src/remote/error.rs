//! Everything `lvsinit remote` can fail with, and the exit code of each.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::StatusCode;

use super::tls::Fingerprint;

/// How `lvsinit remote` ends, as its exit code says it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Exit {
    /// 0: the box did what was asked.
    Done,
    /// 1: the box refused (a non-2xx answer, printed), or its answer
    /// could not be read or written out, or the runtime did not start.
    Refused,
    /// 2: the command line is wrong, or a file it names cannot be read.
    Usage,
    /// 3: the box cannot be reached, or its certificate is not the one
    /// trusted.
    Unreachable,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::Refused => 1,
            Exit::Usage => 2,
            Exit::Unreachable => 3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The command line is wrong; the text says how.
    #[error("{0}")]
    Usage(String),
    #[error("cannot read {path}: {source}")]
    File { path: String, source: io::Error },
    #[error("--ca {path}: {why}; give the box's certificate or its CA, in PEM")]
    Ca { path: String, why: String },
    #[error(
        "no password: {0}; give --password-file FILE or set LVSINIT_PASSWORD \
         (or run it on a terminal to be asked)"
    )]
    NoPassword(io::Error),
    #[error("cannot set up TLS: {0}")]
    TlsSetup(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    #[error(
        "cannot connect to {addr}: {source} (is the box up, and the control API listening there?)"
    )]
    Connect { addr: SocketAddr, source: io::Error },
    #[error("{addr}: no {what} within {} s", after.as_secs())]
    Timeout {
        addr: SocketAddr,
        what: &'static str,
        after: Duration,
    },
    #[error(
        "{addr}: TLS handshake failed: {source}{}",
        if *with_ca { " (is --ca the box's certificate, or the CA that signed it?)" } else { "" }
    )]
    Tls {
        addr: SocketAddr,
        source: io::Error,
        with_ca: bool,
    },
    #[error(
        "the box at {addr} presented the certificate {presented}, not {expected} as \
         --fingerprint says; nothing was sent. If the box made a new certificate, \
         compare this one with the fingerprint on its console before using it"
    )]
    Mismatch {
        addr: SocketAddr,
        expected: Fingerprint,
        presented: Fingerprint,
    },
    #[error(
        "the box at {addr} presented the certificate {presented}, and nothing says to \
         trust it; nothing was sent. Compare it with the fingerprint on the box's \
         console (or in its /status), then run again with --fingerprint {presented}"
    )]
    Unpinned {
        addr: SocketAddr,
        presented: Fingerprint,
    },
    #[error("{addr}: HTTP failed: {source}")]
    Http {
        addr: SocketAddr,
        source: hyper::Error,
    },
    /// A non-2xx answer; `text` is its body, shortened to what says why.
    #[error(
        "the box answered {} {}: {text}{}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        refusal_hint(*status, retry_after.as_deref())
    )]
    Refused {
        status: StatusCode,
        text: String,
        retry_after: Option<String>,
    },
    /// `config push`: the box found errors in the file (each printed as
    /// the box wrote it, before this).
    #[error("the box refused {file}: the errors above; nothing was applied")]
    Invalid { file: String },
    /// A 2xx answer this client cannot read.
    #[error(
        "the box's answer is not what this lvsinit understands: {0} (are both the same version?)"
    )]
    Answer(String),
    #[error("cannot write the answer out: {0}")]
    Output(io::Error),
}

impl RemoteError {
    pub fn exit(&self) -> Exit {
        match self {
            RemoteError::Usage(_)
            | RemoteError::File { .. }
            | RemoteError::Ca { .. }
            | RemoteError::NoPassword(_) => Exit::Usage,
            RemoteError::TlsSetup(_)
            | RemoteError::Connect { .. }
            | RemoteError::Timeout { .. }
            | RemoteError::Tls { .. }
            | RemoteError::Mismatch { .. }
            | RemoteError::Unpinned { .. }
            | RemoteError::Http { .. } => Exit::Unreachable,
            RemoteError::Refused { .. }
            | RemoteError::Invalid { .. }
            | RemoteError::Answer(_)
            | RemoteError::Runtime(_)
            | RemoteError::Output(_) => Exit::Refused,
        }
    }
}

/// What to do about a refusal, when its status says it.
fn refusal_hint(status: StatusCode, retry_after: Option<&str>) -> String {
    match (status, retry_after) {
        (_, Some(after)) if after.bytes().all(|b| b.is_ascii_digit()) => {
            format!(" (try again in {after} s)")
        }
        (_, Some(after)) => format!(" (try again after {after})"),
        (StatusCode::UNAUTHORIZED, None) => {
            " (is it the admin's password? --password-file FILE or LVSINIT_PASSWORD)".into()
        }
        _ => String::new(),
    }
}
