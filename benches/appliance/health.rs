//! Item 3, health: how long the director takes to notice a real server
//! that stopped (PostgreSQL shut down: connections refused) and one that
//! was cut off the network (its link down: probes time out), with the
//! default checks (`tcp`, interval 1 s, timeout 1 s, fall 3).
//!
//! Measured from the host: the moment the benchmark stopped or cut the
//! server, to the moment the console's `health: tcp ADDR down` line
//! arrived. At the same time a client connects to the VIP every 20 ms
//! (200 ms handshake limit), to show what a user sees: attempts that
//! land on the dead server fail until it is taken out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::probe::{self, Watch};
use crate::report::{Row, Section};
use testkit::lab::Lab;

const ITEM: &str = "3 health";
/// Target: detection with the default checks.
const TARGET: Duration = Duration::from_secs(4);
/// How long to wait for a console line about a change.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// What one failure showed.
struct Detection {
    /// Failure to the `down` line.
    detected: Result<Duration, String>,
    /// What the client saw from the failure until the `down` line.
    client: String,
}

/// Stop real server 2 and measure, bring it back; cut real server 1 off
/// and measure, bring it back. `vm` is the director's index in the lab.
pub fn run(lab: &mut Lab, vm: usize, vip: SocketAddr) -> Section {
    let mut section = Section::default();
    let stop = one(lab, vm, vip, 1, Failure::Stop);
    let cut = one(lab, vm, vip, 0, Failure::Cut);
    for (what, d) in [
        ("stopped real server (PostgreSQL shut down)", stop),
        ("cut-off real server (link down)", cut),
    ] {
        match d.detected {
            Ok(t) => section.rows.push(Row::judged(
                ITEM,
                format!("detection, {what}"),
                format!("{:.2} s; client: {}", t.as_secs_f64(), d.client),
                format!("≤ {} s", TARGET.as_secs()),
                t <= TARGET,
            )),
            Err(why) => {
                section
                    .rows
                    .push(Row::not_measured(ITEM, format!("detection, {what}"), &why))
            }
        }
    }
    section.notes.push(
        "Method: the benchmark's director config has no [service.health_check], so \
         every real server gets the default check (tcp, interval 1 s, timeout 1 s, \
         fall 3, rise 2: down at most 3 × 1 s + 1 s after it died). \"Stopped\" is a \
         smart shutdown of the PostgreSQL real server 192.168.3.3 (SIGTERM; timed from \
         before the signal, so its shutdown counts against us); \"cut off\" sets the \
         lab side of 192.168.3.2's veth down. Detection ends when the `health: tcp \
         ADDR down` line reaches the host. The client connects to VIP 192.168.1.100 \
         (rr over both servers) every 20 ms meanwhile; its failed attempts are the \
         ones rr sent to the dead server before it was quiesced."
            .to_string(),
    );
    section
}

#[derive(Clone, Copy)]
enum Failure {
    Stop,
    Cut,
}

fn one(lab: &mut Lab, vm: usize, vip: SocketAddr, server: usize, failure: Failure) -> Detection {
    let addr = lab.servers[server].addr;
    let down = format!("health: tcp {addr}:5432 down");
    let up = format!("health: tcp {addr}:5432 up");
    let mark = lab.vms[vm].mark();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let watcher = testkit::netns::spawn_in(lab.client.ns().name(), move || {
        probe::watch(
            vip,
            Duration::from_millis(20),
            Duration::from_millis(200),
            Duration::from_secs(120),
            flag,
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    match failure {
        Failure::Stop => lab.servers[server].stop(Duration::from_secs(10)),
        Failure::Cut => lab.servers[server].cut_link(),
    }
    let line = lab.vms[vm].wait_for_after(mark, &down, CHANGE_TIMEOUT);
    let detected_at = Instant::now();
    stop.store(true, Ordering::SeqCst);
    let watch = watcher.join().unwrap_or_default();
    eprintln!(
        "bench: health {addr}: {}",
        match &line {
            Ok(l) => format!("{l} after {:?}", detected_at - t0),
            Err(e) => e.lines().next().unwrap_or("").to_string(),
        }
    );

    // Bring it back and wait until the director has it again.
    let back = lab.vms[vm].mark();
    match failure {
        Failure::Stop => lab.servers[server].start(),
        Failure::Cut => lab.servers[server].restore_link(),
    }
    if let Err(e) = lab.vms[vm].wait_for_after(back, &up, CHANGE_TIMEOUT) {
        eprintln!(
            "bench: health {addr} not back up: {}",
            e.lines().next().unwrap_or("")
        );
    }

    Detection {
        detected: line
            .map(|_| detected_at - t0)
            .map_err(|e| e.lines().next().unwrap_or("no down line").to_string()),
        client: client_view(&watch, t0, detected_at),
    }
}

/// The client's attempts between the failure and its detection.
fn client_view(watch: &Watch, from: Instant, to: Instant) -> String {
    let during: Vec<&(Instant, bool)> = watch
        .attempts
        .iter()
        .filter(|(t, _)| *t >= from && *t <= to)
        .collect();
    let failed: Vec<Instant> = during
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(t, _)| *t)
        .collect();
    match failed.last() {
        Some(last) => format!(
            "{} of {} attempts failed meanwhile, the last {:.2} s after the failure",
            failed.len(),
            during.len(),
            (*last - from).as_secs_f64()
        ),
        None => format!("all {} attempts meanwhile connected", during.len()),
    }
}
