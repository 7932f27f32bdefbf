//! Remote syslog: every console line, with its severity, to each
//! `[[syslog]]` target, as RFC 5424 messages over UDP (RFC 5426, one
//! datagram a line) or TCP (RFC 6587 octet counting).
//!
//! A sender follows the log ring ([`LogRing::subscribe`]): its queue is
//! the ring's follow buffer, bounded, and a sender that falls behind (a
//! TCP target down, a slow link) loses the oldest lines and counts them.
//! A TCP sender reconnects with backoff ([`super::limits::backoff`]);
//! the lines that arrive meanwhile wait in the buffer.
//!
//! [`LogRing::subscribe`]: super::log::LogRing::subscribe

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::broadcast::{self, error::RecvError};

use super::clock;
use super::config::{Syslog, Transport};
use super::limits::{Counters, SYSLOG_CONNECT_TIMEOUT, SYSLOG_MAX, backoff};
use super::log::{Line, Severity, cut};

/// RFC 5424's facility `daemon`.
const FACILITY_DAEMON: u8 = 3;
/// APP-NAME.
const APP_NAME: &str = "lvsinit";

/// One RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME lvsinit - - - MSG`,
/// PRI from facility daemon and the line's severity, TIMESTAMP `-` until
/// the clock is set, the message cut to fit [`SYSLOG_MAX`] bytes.
pub fn format(severity: Severity, unix: Option<Duration>, hostname: &str, text: &str) -> String {
    let pri = FACILITY_DAEMON * 8 + severity.code();
    let timestamp = unix.map(clock::rfc3339).unwrap_or_else(|| "-".into());
    let mut message = format!(
        "<{pri}>1 {timestamp} {} {APP_NAME} - - - {text}",
        hostname_field(hostname)
    );
    cut(&mut message, SYSLOG_MAX);
    message
}

/// HOSTNAME: 1 to 255 printable US-ASCII characters, else `-` (NILVALUE).
fn hostname_field(name: &str) -> &str {
    let printable = name.bytes().all(|b| (33..=126).contains(&b));
    if name.is_empty() || name.len() > 255 || !printable {
        "-"
    } else {
        name
    }
}

/// RFC 6587 octet counting: `LEN SP MSG`.
pub fn frame(message: &str) -> Vec<u8> {
    let mut out = format!("{} ", message.len()).into_bytes();
    out.extend_from_slice(message.as_bytes());
    out
}

/// The box's hostname now (the director sets it from the config).
fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

fn message(line: &Line) -> String {
    format(line.severity, clock::now_unix(), &hostname(), &line.text)
}

/// Send every line from `lines` to `target` until the runtime stops.
pub async fn run(target: Syslog, lines: broadcast::Receiver<Arc<Line>>, counters: Arc<Counters>) {
    match target.transport {
        Transport::Udp => udp(target.target, lines, counters).await,
        Transport::Tcp => tcp(target.target, lines, counters).await,
    }
}

/// The next line, counting those lost by lagging; `None` when the ring
/// is gone.
async fn next(
    lines: &mut broadcast::Receiver<Arc<Line>>,
    counters: &Counters,
) -> Option<Arc<Line>> {
    loop {
        match lines.recv().await {
            Ok(line) => return Some(line),
            Err(RecvError::Lagged(n)) => Counters::add(&counters.syslog_dropped, n),
            Err(RecvError::Closed) => return None,
        }
    }
}

async fn udp(
    target: SocketAddr,
    mut lines: broadcast::Receiver<Arc<Line>>,
    counters: Arc<Counters>,
) {
    let any: IpAddr = match target {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let mut failures = 0;
    let socket = loop {
        match UdpSocket::bind((any, 0)).await {
            Ok(s) => break s,
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    log::warn!("syslog {target}: {e}");
                }
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    };
    while let Some(line) = next(&mut lines, &counters).await {
        // No route yet, or an ICMP error from an earlier datagram: this
        // line is lost, the next is tried.
        match socket.send_to(message(&line).as_bytes(), target).await {
            Ok(_) => Counters::hit(&counters.syslog_sent),
            Err(_) => Counters::hit(&counters.syslog_dropped),
        }
    }
}

async fn tcp(
    target: SocketAddr,
    mut lines: broadcast::Receiver<Arc<Line>>,
    counters: Arc<Counters>,
) {
    let mut failures = 0u32;
    loop {
        let stream =
            match tokio::time::timeout(SYSLOG_CONNECT_TIMEOUT, TcpStream::connect(target)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(_)) | Err(_) => {
                    failures += 1;
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
            };
        failures = 0;
        loop {
            let Some(line) = next(&mut lines, &counters).await else {
                return;
            };
            match write_all(&stream, &frame(&message(&line))).await {
                Ok(()) => Counters::hit(&counters.syslog_sent),
                Err(_) => {
                    Counters::hit(&counters.syslog_dropped);
                    break;
                }
            }
        }
    }
}

/// Write all of `buf` (tokio's `io-util` is not compiled in; the
/// readiness API is enough).
async fn write_all(stream: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        stream.writable().await?;
        match stream.try_write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::Instant;

    use super::*;
    use crate::management::log::LogRing;

    #[test]
    fn rfc5424_format() {
        assert_eq!(
            format(
                Severity::Info,
                None,
                "lvs-a",
                "ready boot_ms=980 apply_ms=12"
            ),
            "<30>1 - lvs-a lvsinit - - - ready boot_ms=980 apply_ms=12"
        );
        assert_eq!(
            format(
                Severity::Warning,
                Some(Duration::from_millis(1_796_283_402_123)),
                "lvs-a",
                "health: tcp 10.0.0.2:80 down (connection refused)"
            ),
            "<28>1 2026-12-03T07:36:42.123Z lvs-a lvsinit - - - health: tcp 10.0.0.2:80 down (connection refused)"
        );
        assert!(format(Severity::Error, None, "", "x").starts_with("<27>1 - - lvsinit"));
        assert!(format(Severity::Info, None, "bad host", "x").starts_with("<30>1 - - "));
        assert!(format(Severity::Info, None, "h", &"x".repeat(5000)).len() <= SYSLOG_MAX);
    }

    #[test]
    fn octet_counting() {
        assert_eq!(
            frame("<30>1 - h lvsinit - - - é"),
            b"26 <30>1 - h lvsinit - - - \xc3\xa9"
        );
    }

    /// Accept one connection, failing the test after 10 s (never hang).
    fn accept_within(listener: &std::net::TcpListener) -> std::net::TcpStream {
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match listener.accept() {
                Ok((conn, _)) => {
                    conn.set_nonblocking(false).unwrap();
                    conn.set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    return conn;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "no connection within 10 s");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A UDP and a TCP receiver on loopback each get the lines, in order.
    #[test]
    fn udp_and_tcp_receivers_get_the_lines() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ring = Arc::new(LogRing::new());
        let counters = Arc::new(Counters::default());
        let targets = [
            Syslog {
                target: udp.local_addr().unwrap(),
                transport: Transport::Udp,
            },
            Syslog {
                target: tcp.local_addr().unwrap(),
                transport: Transport::Tcp,
            },
        ];
        let rt = runtime();
        for target in targets {
            rt.spawn(run(target, ring.subscribe(), Arc::clone(&counters)));
        }
        let sender = std::thread::spawn(move || {
            rt.block_on(async {
                // Let the senders connect before the lines come.
                tokio::time::sleep(Duration::from_millis(300)).await;
                ring.push(Severity::Info, Duration::ZERO, "ready boot_ms=980");
                ring.push(
                    Severity::Warning,
                    Duration::ZERO,
                    "health: tcp 10.0.0.2:80 down",
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            });
        });
        let mut buf = [0u8; 4096];
        let n = udp.recv(&mut buf).unwrap();
        let first = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(first.starts_with("<30>1 - "), "{first}");
        assert!(
            first.ends_with(" lvsinit - - - ready boot_ms=980"),
            "{first}"
        );
        let n = udp.recv(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("<28>1 - "));

        let (mut conn, _) = tcp.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.iter().filter(|&&b| b == b'<').count() < 2 && Instant::now() < deadline {
            let n = conn.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8(got).unwrap();
        let (len, rest) = text.split_once(' ').unwrap();
        let len: usize = len.parse().unwrap();
        assert!(rest[..len].ends_with("ready boot_ms=980"), "{text}");
        let (len2, rest2) = rest[len..].split_once(' ').unwrap();
        assert_eq!(rest2.len(), len2.parse::<usize>().unwrap());
        assert!(rest2.starts_with("<28>1 "));
        sender.join().unwrap();
    }

    /// A TCP target that is down at first gets the lines once it is up:
    /// the sender tries again after its backoff.
    #[test]
    fn tcp_reconnects() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let target = SocketAddr::from(([127, 0, 0, 1], port));
        let ring = Arc::new(LogRing::new());
        let counters = Arc::new(Counters::default());
        let rt = runtime();
        rt.spawn(run(
            Syslog {
                target,
                transport: Transport::Tcp,
            },
            ring.subscribe(),
            Arc::clone(&counters),
        ));
        ring.push(Severity::Info, Duration::ZERO, "while down");
        let sender = std::thread::spawn(move || {
            rt.block_on(async { tokio::time::sleep(Duration::from_secs(4)).await });
        });
        std::thread::sleep(Duration::from_millis(300));
        let listener = std::net::TcpListener::bind(target).unwrap();
        let mut conn = accept_within(&listener);
        let mut buf = [0u8; 512];
        let n = conn.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("lvsinit - - - while down"));
        sender.join().unwrap();
        assert_eq!(Counters::get(&counters.syslog_sent), 1);
    }
}
