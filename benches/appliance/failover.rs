//! Item 4, failover: the gap a client sees when the VRRP master dies.
//!
//! Two directors, A (priority 150) and B (priority 100), the VIP
//! 192.168.1.100 and the real servers' gateway
//! 192.168.3.1 held by the master. A client starts a connection to the VIP
//! every 10 ms (each given 300 ms, less than TCP's 1 s SYN retransmit, so a
//! SYN lost to the dead master is a failure, not a late success) while A's
//! QEMU is killed (SIGKILL: a power cut, no priority-0 advert). The gap is
//! from the start of the last attempt that connected before the kill to
//! the start of the first that connected after it.
//! A is then booted again, preempts, and is killed again: [`KILLS`] times.
//! The whole is run for each advert interval of [`INTERVALS`]: 100 ms (the
//! target's) and keepalived's default of 1 s.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::probe::{self, Watch};
use crate::report::{Row, Section, spread};
use crate::{BOOT_TIMEOUT, VIP_PORT};
use testkit::lab::{self, Lab, Nic, VmOptions};

const ITEM: &str = "4 failover";
/// Target: the client-observed gap at 100 ms adverts.
const TARGET: Duration = Duration::from_millis(500);
/// The advert intervals measured, in centiseconds, with how many times
/// the master is killed at each. The target is about the first.
const INTERVALS: [(u32, usize); 2] = [(10, 3), (100, 2)];
/// How long a VRRP state change may take under a loaded TCG.
const VRRP_TIMEOUT: Duration = Duration::from_secs(60);

/// One director: its name, MACs, own addresses and priority.
struct Director {
    name: &'static str,
    wan_mac: &'static str,
    lan_mac: &'static str,
    wan: &'static str,
    lan: &'static str,
    priority: u8,
}

const A: Director = Director {
    name: "a",
    wan_mac: "52:54:00:00:01:02",
    lan_mac: "52:54:00:00:03:02",
    wan: "192.168.1.2/24",
    lan: "192.168.3.252/24",
    priority: 150,
};
const B: Director = Director {
    name: "b",
    wan_mac: "52:54:00:00:01:03",
    lan_mac: "52:54:00:00:03:03",
    wan: "192.168.1.3/24",
    lan: "192.168.3.253/24",
    priority: 100,
};

/// An advert interval (centiseconds) as the config says it: "100ms", "1s".
fn interval_text(centis: u32) -> String {
    spaced_interval(centis).replace(' ', "")
}

fn config(d: &Director, centis: u32) -> String {
    format!(
        r#"# VRRP failover benchmark, director {name} (benches/appliance/failover.rs)
hostname = "lab-bench-vrrp-{name}"

[[interface]]
name = "wan"
mac = "{wan_mac}"
addresses = ["{wan}"]

[[interface]]
name = "lan"
mac = "{lan_mac}"
addresses = ["{lan}"]

[[service]]
protocol = "tcp"
address = "{vip}:5432"
scheduler = "rr"
forwarding = "nat"

  [[service.real_server]]
  address = "192.168.3.2:5432"

  [[service.real_server]]
  address = "192.168.3.3:5432"

[vrrp]
interface = "wan"
virtual_router_id = 52
priority = {priority}
advert_interval = "{interval}"
preempt = true
virtual_addresses = [
  {{ interface = "wan", address = "{vip}/24" }},
  {{ interface = "lan", address = "192.168.3.1/24" }},
]
"#,
        name = d.name,
        wan_mac = d.wan_mac,
        lan_mac = d.lan_mac,
        wan = d.wan,
        lan = d.lan,
        priority = d.priority,
        vip = lab::VIP,
        interval = interval_text(centis),
    )
}

fn boot(lab: &mut Lab, d: &Director, centis: u32) -> usize {
    let path = lab.write_file(
        &format!("bench-vrrp-{}-{centis}.toml", d.name),
        &config(d, centis),
    );
    lab.start_vm(VmOptions {
        config: Some(path),
        nics: vec![
            Nic {
                bridge: lab::CLIENT_BRIDGE,
                mac: d.wan_mac.to_string(),
                slot: None,
            },
            Nic {
                bridge: lab::SERVER_BRIDGE,
                mac: d.lan_mac.to_string(),
                slot: None,
            },
        ],
        test_layer: false,
        ..VmOptions::default()
    })
}

pub fn run(lab: &mut Lab) -> Section {
    let mut section = Section::default();
    for (centis, kills) in INTERVALS {
        let part = run_interval(lab, centis, kills);
        section.rows.extend(part.rows);
        section.notes.extend(part.notes);
    }
    section
}

/// Both directors booted with adverts every `centis` centiseconds, the
/// master killed `kills` times; every VM is gone afterwards.
fn run_interval(lab: &mut Lab, centis: u32, kills_wanted: usize) -> Section {
    let vip: SocketAddr = format!("{}:{VIP_PORT}", lab::VIP)
        .parse()
        .expect("VIP is an address");
    let a = boot(lab, &A, centis);
    let b = boot(lab, &B, centis);
    for i in [a, b] {
        lab.vms[i]
            .wait_for("ready boot_ms=", BOOT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    lab.vms[a]
        .wait_for("vrrp: MASTER", VRRP_TIMEOUT)
        .unwrap_or_else(|e| panic!("A never became master: {e}"));

    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let watcher = testkit::netns::spawn_in(lab.client.ns().name(), move || {
        probe::watch(
            vip,
            Duration::from_millis(10),
            Duration::from_millis(300),
            Duration::from_secs(600),
            flag,
        )
    });

    let mut a = a;
    let mut kills = Vec::new();
    let mut problems = Vec::new();
    for n in 0..kills_wanted {
        // A serves: wait until the client has connected for a while.
        thread::sleep(Duration::from_secs(2));
        let b_mark = lab.vms[b].mark();
        let killed = Instant::now();
        lab.vms[a].kill();
        let b_master = lab.vms[b].wait_for_after(b_mark, "vrrp: MASTER", VRRP_TIMEOUT);
        let b_master_at = b_master.as_ref().ok().map(|_| Instant::now() - killed);
        // Give the client time to get through B.
        thread::sleep(Duration::from_secs(2));
        kills.push((killed, b_master_at));
        eprintln!(
            "bench: failover at {}: kill {}: B master {:?} after it",
            interval_text(centis),
            n + 1,
            b_master_at
        );
        if let Err(e) = b_master {
            problems.push(e.lines().next().unwrap_or("").to_string());
            break;
        }
        if n + 1 < kills_wanted {
            // A comes back and preempts.
            a = boot(lab, &A, centis);
            let up = lab.vms[a]
                .wait_for("vrrp: MASTER", BOOT_TIMEOUT)
                .map_err(|e| e.lines().next().unwrap_or("").to_string());
            if let Err(e) = up {
                problems.push(format!("A did not come back as master: {e}"));
                break;
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    let watch = watcher.join().unwrap_or_default();
    for vm in &lab.vms {
        vm.kill();
    }
    report(&watch, &kills, &problems, centis)
}

/// The outage around `at`: last completed connection at or before it, first
/// completed after it.
fn gap(watch: &Watch, at: Instant) -> Option<Duration> {
    let last = watch
        .attempts
        .iter()
        .filter(|(t, ok)| *ok && *t <= at)
        .map(|(t, _)| *t)
        .next_back()?;
    let first = watch
        .attempts
        .iter()
        .find(|(t, ok)| *ok && *t > at)
        .map(|(t, _)| *t)?;
    Some(first - last)
}

fn report(
    watch: &Watch,
    kills: &[(Instant, Option<Duration>)],
    problems: &[String],
    centis: u32,
) -> Section {
    let mut section = Section::default();
    let interval_ms = f64::from(centis) * 10.0;
    let adverts = format!("{} adverts", spaced_interval(centis));
    let gaps: Vec<f64> = kills
        .iter()
        .filter_map(|(at, _)| gap(watch, *at))
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    let takeovers: Vec<f64> = kills
        .iter()
        .filter_map(|(_, b)| b.map(|d| d.as_secs_f64() * 1000.0))
        .collect();
    if gaps.is_empty() {
        let why = problems
            .first()
            .cloned()
            .unwrap_or_else(|| "the VIP never answered around a kill".into());
        section.rows.push(Row::not_measured(
            ITEM,
            format!("client-observed gap, {adverts}"),
            &why,
        ));
        return section;
    }
    let median = crate::report::median(&gaps);
    let what = format!("client-observed gap, master killed, {adverts}");
    if centis == 10 {
        section.rows.push(Row::judged(
            ITEM,
            what,
            spread(&gaps, "ms", 0),
            format!("≤ {} ms", TARGET.as_millis()),
            median <= TARGET.as_secs_f64() * 1000.0,
        ));
    } else {
        section
            .rows
            .push(Row::info(ITEM, what, spread(&gaps, "ms", 0)));
    }
    section.rows.push(Row::info(
        ITEM,
        format!("kill → `vrrp: MASTER` on B's console, {adverts}"),
        spread(&takeovers, "ms", 0),
    ));
    // RFC 5798: master-down = 3 × interval + skew, skew = (256 − prio)/256 × interval.
    let master_down = 3.0 * interval_ms + (256.0 - f64::from(B.priority)) / 256.0 * interval_ms;
    let mut note = format!(
        "Method ({adverts}): two directors (A priority 150, B 100, \
         `advert_interval = \"{interval}\"`, preempt) on the lab's bridges, production image, no test layer. A's QEMU is \
         killed {} time(s); after each, A is booted again and preempts. The client \
         starts a connection to the VIP every 10 ms, attempts side by side, each given \
         300 ms (under TCP's 1 s SYN retransmit); the gap is from the start of the \
         last attempt that connected before the kill to the start of the first that \
         connected after it. \
         B's master-down interval is 3 × {interval_ms:.0} ms + (256 − 100)/256 × \
         {interval_ms:.0} ms ≈ {master_down:.0} ms; the rest is B's gratuitous ARP \
         reaching the client and the real servers. {} client attempts, {} failed.",
        kills.len(),
        watch.attempts.len(),
        watch.failures(),
        interval = interval_text(centis),
    );
    for (n, (at, b)) in kills.iter().enumerate() {
        let _ = write!(
            note,
            " Kill {}: gap {}, B master {}.",
            n + 1,
            gap(watch, *at)
                .map(|d| format!("{} ms", d.as_millis()))
                .unwrap_or_else(|| "not seen".into()),
            b.map(|d| format!("{} ms after", d.as_millis()))
                .unwrap_or_else(|| "never".into())
        );
    }
    for p in problems {
        let _ = write!(note, " Problem: {p}.");
    }
    section.notes.push(note);
    section
}

/// An advert interval (centiseconds) as the table says it: "100 ms", "1 s".
fn spaced_interval(centis: u32) -> String {
    if centis.is_multiple_of(100) {
        format!("{} s", centis / 100)
    } else {
        format!("{} ms", centis * 10)
    }
}
