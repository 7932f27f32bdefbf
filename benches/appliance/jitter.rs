//! Item 9, serving never delays the director: PID 1 with the 1,000 × 10
//! table, VRRP adverts every 100 ms on wan and one real server probed every
//! 500 ms, first left alone, then with `/metrics` scraped every 100 ms
//! (back to back when a scrape takes longer). The peers measure what
//! leaves the box: the client namespace the adverts' intervals, the real
//! server the intervals between the probes' SYNs, each from a packet
//! socket, idle and under the scrapes side by side.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::libc;

use crate::report::{Row, Section};
use testkit::lab::{Lab, VmOptions};
use testkit::netns;

const ITEM: &str = "9 jitter";
const ADVERT: Duration = Duration::from_millis(100);
const PROBE: Duration = Duration::from_millis(500);
/// Scrapes are started this often (or back to back when slower).
const SCRAPE_EVERY: Duration = Duration::from_millis(100);
/// Each phase lasts this long.
const PHASE: Duration = Duration::from_secs(30);
const LIMIT: Duration = Duration::from_secs(900);
const DIRECTOR_WAN: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const DIRECTOR_LAN: Ipv4Addr = Ipv4Addr::new(192, 168, 3, 1);

fn config() -> String {
    format!(
        "# 1,000 x 10 services, VRRP at 100 ms and one probed service (benches/appliance/jitter.rs)\n\
         hostname = \"lab-bench-jitter\"\n\n\
         [[interface]]\nname = \"wan\"\nmac = \"{}\"\naddresses = [\"192.168.1.1/24\"]\n\n\
         [[interface]]\nname = \"lan\"\nmac = \"{}\"\naddresses = [\"192.168.3.1/24\"]\n\n\
         [management]\nlisten = [\"192.168.1.1:9100\"]\ntls = false\n\n\
         [vrrp]\ninterface = \"wan\"\nvirtual_router_id = 52\npriority = 150\n\
         advert_interval = \"100ms\"\n\
         virtual_addresses = [{{ interface = \"wan\", address = \"192.168.1.250/24\" }}]\n\n\
         [[service]]\nname = \"probed\"\nprotocol = \"tcp\"\naddress = \"192.168.1.250:5432\"\n\
         scheduler = \"rr\"\nforwarding = \"nat\"\n\
         health_check = {{ type = \"tcp\", interval = \"500ms\", timeout = \"400ms\", fall = 3, rise = 1 }}\n\n\
         \x20 [[service.real_server]]\n  address = \"192.168.3.2:5432\"\n\n{}",
        testkit::lab::WAN_MAC,
        testkit::lab::LAN_MAC,
        crate::apply::big_director_toml()
    )
}

/// Which packets a capture keeps.
#[derive(Clone, Copy)]
enum Want {
    /// VRRP adverts (IP protocol 112) from `from`.
    Vrrp { from: Ipv4Addr },
    /// TCP SYNs (no ACK) from `from` to `port`.
    Syn { from: Ipv4Addr, port: u16 },
}

fn matches(want: Want, ip: &[u8]) -> bool {
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return false;
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let header = usize::from(ip[0] & 0x0f) * 4;
    match want {
        Want::Vrrp { from } => ip[9] == 112 && src == from,
        Want::Syn { from, port } => {
            let Some(tcp) = ip.get(header..header + 14) else {
                return false;
            };
            let dst_port = u16::from_be_bytes([tcp[2], tcp[3]]);
            let flags = tcp[13];
            ip[9] == 6 && src == from && dst_port == port && flags & 0x02 != 0 && flags & 0x10 == 0
        }
    }
}

/// A packet socket in namespace `ns` noting when each wanted packet
/// arrives, until `stop`.
fn capture(
    ns: &str,
    want: Want,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Result<Vec<Instant>, String>> {
    netns::spawn_in(ns, move || {
        let proto = (libc::ETH_P_IP as u16).to_be();
        // SAFETY: plain socket(2); the fd is checked and closed below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from(proto)) };
        if fd < 0 {
            return Err(format!(
                "packet socket: {}",
                std::io::Error::last_os_error()
            ));
        }
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 200_000,
        };
        // SAFETY: a timeval for SO_RCVTIMEO on an open socket.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 2048];
        while !stop.load(Ordering::SeqCst) {
            // SAFETY: `buf` is valid for its length.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            let at = Instant::now();
            if n > 0 && matches(want, &buf[..n as usize]) {
                seen.push(at);
            }
        }
        // SAFETY: the fd is ours.
        unsafe { libc::close(fd) };
        Ok(seen)
    })
}

/// Scrape `/metrics` from namespace `ns` every [`SCRAPE_EVERY`] until
/// `stop`: the scrapes' times in ms and the bytes of the last.
fn scraper(ns: &str, stop: Arc<AtomicBool>) -> JoinHandle<Result<(Vec<f64>, usize), String>> {
    netns::spawn_in(ns, move || {
        let mut times = Vec::new();
        let mut bytes = 0;
        while !stop.load(Ordering::SeqCst) {
            let started = Instant::now();
            let mut s = TcpStream::connect((DIRECTOR_WAN, 9100)).map_err(|e| e.to_string())?;
            s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 192.168.1.1\r\n\r\n")
                .map_err(|e| e.to_string())?;
            let mut body = Vec::new();
            s.read_to_end(&mut body).map_err(|e| e.to_string())?;
            if !body.starts_with(b"HTTP/1.1 200") && !body.starts_with(b"HTTP/1.0 200") {
                return Err(format!(
                    "/metrics answered {:?}",
                    String::from_utf8_lossy(&body[..body.len().min(80)])
                ));
            }
            bytes = body.len();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            if let Some(rest) = SCRAPE_EVERY.checked_sub(started.elapsed()) {
                thread::sleep(rest);
            }
        }
        Ok((times, bytes))
    })
}

/// Intervals between `times`, in ms.
fn intervals(times: &[Instant]) -> Vec<f64> {
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0)
        .collect()
}

/// The `q` quantile (0..=1) of `values`.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n => v[((n - 1) as f64 * q).round() as usize],
    }
}

fn describe(values: &[f64]) -> String {
    format!(
        "median {:.1}, p99 {:.1}, max {:.1} ms (n={})",
        quantile(values, 0.5),
        quantile(values, 0.99),
        quantile(values, 1.0),
        values.len()
    )
}

/// One phase: captures of adverts and probes for [`PHASE`], with or
/// without the scraper. Intervals of adverts and of probes, and the
/// scrapes.
type Phase = (Vec<f64>, Vec<f64>, Option<(Vec<f64>, usize)>);

fn phase(lab: &Lab, scrape: bool) -> Result<Phase, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let client = lab.client.ns().name().to_string();
    let server = lab.servers[0].ns().name().to_string();
    let adverts = capture(
        &client,
        Want::Vrrp { from: DIRECTOR_WAN },
        Arc::clone(&stop),
    );
    let probes = capture(
        &server,
        Want::Syn {
            from: DIRECTOR_LAN,
            port: 5432,
        },
        Arc::clone(&stop),
    );
    let scrapes = scrape.then(|| scraper(&client, Arc::clone(&stop)));
    thread::sleep(PHASE);
    stop.store(true, Ordering::SeqCst);
    let join = |h: JoinHandle<Result<Vec<Instant>, String>>| {
        h.join()
            .map_err(|_| "capture thread panicked".to_string())?
    };
    let adverts = intervals(&join(adverts)?);
    let probes = intervals(&join(probes)?);
    let scrapes = match scrapes {
        Some(h) => Some(h.join().map_err(|_| "scraper panicked".to_string())??),
        None => None,
    };
    Ok((adverts, probes, scrapes))
}

pub fn run(lab: &mut Lab) -> Section {
    let mut section = Section::default();
    let path = lab.write_file("jitter-1000x10.toml", &config());
    let image = lab.router_img_with(&[(path.clone(), "router.toml")]);
    let mut options = VmOptions::director(path);
    options.config = None;
    options.disk_image = Some(image);
    let index = lab.start_vm(options);
    let vm = &lab.vms[index];
    let ready = vm
        .wait_for("ready boot_ms=", LIMIT)
        .and_then(|_| vm.wait_for("vrrp: MASTER", Duration::from_secs(60)));
    if let Err(e) = ready {
        vm.kill();
        section.rows.push(Row::not_measured(
            ITEM,
            "VM",
            e.lines().next().unwrap_or(""),
        ));
        return section;
    }
    let idle = phase(lab, false);
    let busy = phase(lab, true);
    lab.vms[index].kill();
    let (idle, busy) = match (idle, busy) {
        (Ok(idle), Ok(busy)) => (idle, busy),
        (Err(e), _) | (_, Err(e)) => {
            section.rows.push(Row::not_measured(ITEM, "captures", &e));
            return section;
        }
    };
    let advert_ms = ADVERT.as_secs_f64() * 1000.0;
    let probe_ms = PROBE.as_secs_f64() * 1000.0;
    if let Some((times, bytes)) = &busy.2 {
        section.rows.push(Row::info(
            ITEM,
            "the scrapes of 1,000 × 10 meanwhile (from the client)",
            format!(
                "{} scrapes of {:.1} MB, {}",
                times.len(),
                *bytes as f64 / 1e6,
                describe(times)
            ),
        ));
    }
    // Late: a backup takes over after 3 adverts missed (plus skew).
    section.rows.push(Row::judged(
        ITEM,
        "VRRP advert interval the peer sees (100 ms adverts): idle vs /metrics every 100 ms",
        format!(
            "idle {} vs scraped {}",
            describe(&idle.0),
            describe(&busy.0)
        ),
        "p99 ≤ 150 ms, max < 300 ms (3 adverts) under scrapes",
        quantile(&busy.0, 0.99) <= advert_ms * 1.5 && quantile(&busy.0, 1.0) < advert_ms * 3.0,
    ));
    section.rows.push(Row::judged(
        ITEM,
        "health probe interval the real server sees (500 ms tcp check): idle vs scraped",
        format!(
            "idle {} vs scraped {}",
            describe(&idle.1),
            describe(&busy.1)
        ),
        "p99 ≤ 750 ms under scrapes",
        quantile(&busy.1, 0.99) <= probe_ms * 1.5,
    ));
    section.notes.push(format!(
        "Method (jitter): a VM of its own boots item 2's 1,000 × 10 services (checks off), \
         one more service whose real server 192.168.3.2:5432 is probed by a tcp check every \
         500 ms, `[vrrp]` alone on wan with 100 ms adverts, and `[management]`. For {} s it \
         is left alone, then for {} s the client scrapes `/metrics` every 100 ms (back to \
         back when a scrape is slower). Packet sockets in the client's and the real \
         server's namespaces note when each advert and each probe's SYN arrives; the \
         intervals between them are compared.",
        PHASE.as_secs(),
        PHASE.as_secs()
    ));
    section
}
