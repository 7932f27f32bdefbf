//! `type = "postgres"`: the real server speaks the PostgreSQL protocol and
//! takes sessions.
//!
//! A probe is one connection:
//! 1. an SSLRequest; the server answers one byte, `S` or `N`, and waits.
//!    `S` ends the probe as up (we speak no TLS, but only PostgreSQL
//!    answers that way);
//! 2. after `N`, a startup message (protocol 3.0, `user`, `database`); the
//!    server answers an authentication request (`R`: up) or an error
//!    (`E`). An error is up too (unknown role, no pg_hba line: the server
//!    is alive and deciding), except SQLSTATE class 57P03
//!    (cannot_connect_now: starting up, shutting down, in recovery) and
//!    53300 (too_many_connections), which mean it takes no sessions now.
//!
//! Anything else is `unexpected reply`: a port that accepts but does not
//! speak PostgreSQL is down. No password is ever sent: with password
//! authentication the probe ends at the server's request, and PostgreSQL
//! does not log a client that leaves there. With `trust` the probe logs
//! in, and ends with a Terminate message.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Check, ProbeError, ProbeFuture};

/// The SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
/// Terminate: `X`, length 4.
const TERMINATE: [u8; 5] = [b'X', 0, 0, 0, 4];
/// Protocol 3.0.
const PROTOCOL_3_0: u32 = 3 << 16;
/// How much of an ErrorResponse is read; its code comes early.
const ERROR_READ: usize = 512;
/// SQLSTATEs of a server that is up but takes no sessions.
const NOT_ACCEPTING: [&[u8]; 2] = [b"57P03", b"53300"];

/// The PostgreSQL check, with its startup message built once.
pub struct Postgres {
    startup: Vec<u8>,
}

impl Postgres {
    pub fn new(user: &str, database: &str) -> Postgres {
        let mut body = Vec::new();
        body.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
        for (key, value) in [
            ("user", user),
            ("database", database),
            ("application_name", "lvsinit health check"),
        ] {
            body.extend_from_slice(key.as_bytes());
            body.push(0);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut startup = Vec::with_capacity(body.len() + 4);
        startup.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        startup.extend_from_slice(&body);
        Postgres { startup }
    }
}

impl Check for Postgres {
    fn probe(&self, target: SocketAddr) -> ProbeFuture<'_> {
        Box::pin(async move {
            let mut stream = TcpStream::connect(target).await?;
            stream.write_all(&SSL_REQUEST).await?;
            // PostgreSQL answers exactly one byte and waits; more is some
            // other server's banner (`SSH-2.0-...` starts with an S too).
            let mut answer = [0u8; 16];
            match stream.read(&mut answer).await? {
                0 => return Err(ProbeError::Closed),
                1 => {}
                _ => return Err(ProbeError::UnexpectedReply),
            }
            match answer[0] {
                b'S' => return Ok(()),
                b'N' => {}
                _ => return Err(ProbeError::UnexpectedReply),
            }
            stream.write_all(&self.startup).await?;
            let mut header = [0u8; 5];
            stream.read_exact(&mut header).await?;
            let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
            if !(4..=1 << 20).contains(&len) {
                return Err(ProbeError::UnexpectedReply);
            }
            match header[0] {
                b'R' => {
                    // Polite end of a session `trust` may have opened.
                    let _ = stream.write_all(&TERMINATE).await;
                    Ok(())
                }
                b'E' => {
                    let mut body = [0u8; ERROR_READ];
                    let n = (len - 4).min(ERROR_READ);
                    stream.read_exact(&mut body[..n]).await?;
                    match refusal(&body[..n]) {
                        Some(message) => Err(ProbeError::NotAccepting(message)),
                        None => Ok(()),
                    }
                }
                _ => Err(ProbeError::UnexpectedReply),
            }
        })
    }
}

/// The server's message when an ErrorResponse body says it takes no
/// sessions now; `None` for any other error.
fn refusal(body: &[u8]) -> Option<String> {
    let mut code: &[u8] = b"";
    let mut message: &[u8] = b"";
    let mut rest = body;
    // Fields: a type byte, then a NUL-terminated string; a 0 type ends.
    while let Some((&kind, tail)) = rest.split_first() {
        if kind == 0 {
            break;
        }
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        match kind {
            b'C' => code = &tail[..end],
            b'M' => message = &tail[..end],
            _ => {}
        }
        rest = tail.get(end + 1..).unwrap_or_default();
    }
    NOT_ACCEPTING
        .contains(&code)
        .then(|| String::from_utf8_lossy(message).into_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{probe, test_servers};
    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(300);

    fn check() -> Postgres {
        Postgres::new("postgres", "postgres")
    }

    /// An ErrorResponse with `code` and `message` (leaked: the test
    /// servers answer static bytes).
    fn error_response(code: &str, message: &str) -> &'static [u8] {
        let body = format!("SFATAL\0C{code}\0M{message}\0\0");
        let mut reply = b"E".to_vec();
        reply.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        reply.extend_from_slice(body.as_bytes());
        Vec::leak(reply)
    }

    #[test]
    fn startup_message_layout() {
        let m = Postgres::new("u", "d").startup;
        let expected: &[u8] = b"\x00\x00\x00\x41\x00\x03\x00\x00user\0u\0database\0d\0\
                                application_name\0lvsinit health check\0\0";
        assert_eq!(m, expected);
        assert_eq!(m.len(), 0x41);
    }

    #[tokio::test]
    async fn refusing_silent_and_wrong_protocol_are_down() {
        let err = probe(&check(), test_servers::refusing(), TIMEOUT)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "connection refused");

        let (silent, _task) = test_servers::silent().await;
        let err = probe(&check(), silent, TIMEOUT).await.unwrap_err();
        assert_eq!(err.to_string(), "timeout after 300ms");

        // An SSH server's banner, an HTTP server's error, a closed mouth.
        for (reply, reason) in [
            (&b"X"[..], "unexpected reply"),
            (b"SSH-2.0-OpenSSH_9.2\r\n", "unexpected reply"),
            (b"HTTP/1.1 400 Bad Request\r\n\r\n", "unexpected reply"),
            (b"", "connection closed"),
            // More than the one byte PostgreSQL answers.
            (b"Nhello world", "unexpected reply"),
        ] {
            let (addr, _task) = test_servers::replying(reply).await;
            let err = probe(&check(), addr, TIMEOUT).await.unwrap_err();
            assert_eq!(err.to_string(), reason, "{reply:?}");
        }
        // `N`, then something that is not a PostgreSQL message.
        let (addr, _task) = test_servers::conversing(&[b"N", b"<html>oops</html>"]).await;
        let err = probe(&check(), addr, TIMEOUT).await.unwrap_err();
        assert_eq!(err.to_string(), "unexpected reply");
    }

    #[tokio::test]
    async fn speaking_postgres_is_up() {
        // SSL offered; trust login (AuthenticationOk); md5 password asked;
        // a role that does not exist (an error, but a live server).
        for replies in [
            vec![&b"S"[..]],
            vec![b"N", b"R\x00\x00\x00\x08\x00\x00\x00\x00"],
            vec![b"N", b"R\x00\x00\x00\x0c\x00\x00\x00\x05salt"],
            vec![
                b"N",
                error_response("28000", "role \"postgres\" does not exist"),
            ],
        ] {
            let (addr, _task) = test_servers::conversing(Vec::leak(replies.clone())).await;
            probe(&check(), addr, TIMEOUT)
                .await
                .unwrap_or_else(|e| panic!("{replies:?}: {e}"));
        }
    }

    #[tokio::test]
    async fn a_server_taking_no_sessions_is_down() {
        let reply = error_response("57P03", "the database system is shutting down");
        let (addr, _task) = test_servers::conversing(Vec::leak(vec![b"N", reply])).await;
        let err = probe(&check(), addr, TIMEOUT).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "not accepting connections: the database system is shutting down"
        );
    }
}
