//! Small local servers on 127.0.0.1 for the checkers' tests: one that
//! refuses, one that accepts and stays mute, one that drops connection
//! attempts (a full accept queue), and one that answers with given bytes.

use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A port on 127.0.0.1 where nobody listens: connections are refused.
pub fn refusing() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A server that accepts and never says a word; keep the handle alive.
pub async fn silent() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (addr, task)
}

/// A server that answers `reply` to each connection after the client's
/// first message (or after 100 ms of silence), then closes it.
pub async fn replying(reply: &'static [u8]) -> (SocketAddr, JoinHandle<()>) {
    conversing(Vec::leak(vec![reply])).await
}

/// A server that answers each of the client's messages with the next of
/// `replies` (waiting at most 100 ms for each message), then closes.
pub async fn conversing(replies: &'static [&'static [u8]]) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, replies));
        }
    });
    (addr, task)
}

async fn answer(mut stream: TcpStream, replies: &'static [&'static [u8]]) {
    let mut buf = [0u8; 1024];
    let wait = std::time::Duration::from_millis(100);
    for reply in replies {
        let _ = tokio::time::timeout(wait, stream.read(&mut buf)).await;
        let _ = stream.write_all(reply).await;
    }
}

/// A listening socket whose accept queue is full and never drained: the
/// kernel drops further SYNs, so a connect hangs as it does towards a host
/// whose link is cut. Keep the returned sockets alive.
pub fn black_hole() -> (SocketAddr, Socket, Vec<std::net::TcpStream>) {
    // socket2, not std: std's listen() has no backlog of our choosing.
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    listener.bind(&loopback.into()).unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    // With a backlog of 0 the queue holds one connection; fill it (and
    // any slack) until an attempt hangs.
    let mut filled = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)) {
            Ok(stream) => filled.push(stream),
            Err(_) => break,
        }
    }
    (addr, listener, filled)
}
