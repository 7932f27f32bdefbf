//! `type = "http"`: `GET path` is answered with the expected status code.
//!
//! The request is HTTP/1.0 with `Connection: close`, built once per real
//! server; `Host` is the configured `host`, or the real server's address.
//! Only the status line is read: the first line of the answer must be
//! `HTTP/1.x NNN ...`, anything else is `unexpected reply`, another code
//! is `HTTP status NNN, expected MMM`.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Check, ProbeError, ProbeFuture};

/// How much of the answer is read looking for the status line.
const STATUS_READ: usize = 256;

/// The HTTP check, with its request built once.
pub struct Http {
    request: Vec<u8>,
    status: u16,
}

impl Http {
    pub fn new(path: &str, host: Option<&str>, status: u16, target: SocketAddr) -> Http {
        let host = match host {
            Some(host) => host.to_string(),
            None => target.to_string(),
        };
        let request = format!(
            "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: lvsinit-health-check\r\n\
             Connection: close\r\n\r\n"
        );
        Http {
            request: request.into_bytes(),
            status,
        }
    }
}

impl Check for Http {
    fn probe(&self, target: SocketAddr) -> ProbeFuture<'_> {
        Box::pin(async move {
            let mut stream = TcpStream::connect(target).await?;
            stream.write_all(&self.request).await?;
            let mut buf = [0u8; STATUS_READ];
            let mut have = 0;
            // Up to the end of the status line, or as much as fits.
            while have < buf.len() && !buf[..have].contains(&b'\n') {
                match stream.read(&mut buf[have..]).await? {
                    0 if have == 0 => return Err(ProbeError::Closed),
                    0 => break,
                    n => have += n,
                }
            }
            let got = status_code(&buf[..have]).ok_or(ProbeError::UnexpectedReply)?;
            if got == self.status {
                Ok(())
            } else {
                Err(ProbeError::Status {
                    got,
                    expected: self.status,
                })
            }
        })
    }
}

/// The code of a status line `HTTP/1.x NNN reason`.
fn status_code(answer: &[u8]) -> Option<u16> {
    let rest = answer
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| answer.strip_prefix(b"HTTP/1.0 "))?;
    let digits = rest.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if rest
        .get(3)
        .is_some_and(|b| !matches!(b, b' ' | b'\r' | b'\n'))
    {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{probe, test_servers};
    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(300);

    fn check(status: u16, target: SocketAddr) -> Http {
        Http::new("/health", None, status, target)
    }

    #[test]
    fn request_and_status_line() {
        let target = "192.168.3.2:8080".parse().unwrap();
        let http = check(200, target);
        assert_eq!(
            String::from_utf8(http.request).unwrap(),
            "GET /health HTTP/1.0\r\nHost: 192.168.3.2:8080\r\nUser-Agent: \
             lvsinit-health-check\r\nConnection: close\r\n\r\n"
        );
        let named = Http::new("/", Some("db.example"), 200, target);
        assert!(
            String::from_utf8(named.request)
                .unwrap()
                .contains("\r\nHost: db.example\r\n")
        );
        for (line, code) in [
            (&b"HTTP/1.1 200 OK\r\n"[..], Some(200)),
            (b"HTTP/1.0 503 Service Unavailable\r\n", Some(503)),
            (b"HTTP/1.1 204\r\n", Some(204)),
            (b"HTTP/2 200\r\n", None),
            (b"HTTP/1.1 20x OK\r\n", None),
            (b"HTTP/1.1 2000 OK\r\n", None),
            (b"SSH-2.0-OpenSSH\r\n", None),
        ] {
            assert_eq!(status_code(line), code, "{line:?}");
        }
    }

    #[tokio::test]
    async fn each_kind_of_server() {
        let refusing = test_servers::refusing();
        let err = probe(&check(200, refusing), refusing, TIMEOUT)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "connection refused");

        let (silent, _task) = test_servers::silent().await;
        let err = probe(&check(200, silent), silent, TIMEOUT)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "timeout after 300ms");

        let (ssh, _task) = test_servers::replying(b"SSH-2.0-OpenSSH_9.2\r\n").await;
        let err = probe(&check(200, ssh), ssh, TIMEOUT).await.unwrap_err();
        assert_eq!(err.to_string(), "unexpected reply");

        let (busy, _task) =
            test_servers::replying(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
        let err = probe(&check(200, busy), busy, TIMEOUT).await.unwrap_err();
        assert_eq!(err.to_string(), "HTTP status 503, expected 200");
        probe(&check(503, busy), busy, TIMEOUT).await.unwrap();

        let (ok, _task) =
            test_servers::replying(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
        probe(&check(200, ok), ok, TIMEOUT).await.unwrap();
    }
}
