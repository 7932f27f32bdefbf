//! `type = "tcp"`: the real server accepts a TCP connection.
//!
//! The connection is closed as soon as it is established, without a byte
//! sent: servers such as PostgreSQL do not log a connection that sent
//! nothing. A refused connection (the process died) fails at once; a host
//! that is gone or cut off fails at the check's timeout.

use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::{Check, ProbeError, ProbeFuture};

/// The TCP connect check.
pub struct Tcp;

impl Check for Tcp {
    fn probe(&self, target: SocketAddr) -> ProbeFuture<'_> {
        Box::pin(async move {
            let stream = TcpStream::connect(target).await.map_err(ProbeError::from)?;
            drop(stream);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{probe, test_servers};
    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn refused_silent_dropped_and_answering() {
        let err = probe(&Tcp, test_servers::refusing(), TIMEOUT)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "connection refused");

        // A mute server still accepts: for a TCP check it is up.
        let (silent, _task) = test_servers::silent().await;
        probe(&Tcp, silent, TIMEOUT).await.unwrap();

        let (answering, _task) = test_servers::replying(b"hello\n").await;
        probe(&Tcp, answering, TIMEOUT).await.unwrap();

        let (hole, _listener, _held) = test_servers::black_hole();
        let err = probe(&Tcp, hole, TIMEOUT).await.unwrap_err();
        assert_eq!(err.to_string(), "timeout after 300ms");
    }
}
