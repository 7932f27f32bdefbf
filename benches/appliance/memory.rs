//! Item 6, memory: the init's resident memory (VmRSS of PID 1, read over
//! the test layer's debug shell) right after boot, and sampled over a run
//! of health checks on 100 real servers, to show whether it grows.
//!
//! The 100 real servers are lab addresses that exist and answer: 50 extra
//! addresses on each real server's namespace (192.168.3.10 to .109), with
//! a TCP listener on port 9000 in each namespace, behind 10 virtual
//! services of 10 real servers each, checked by the default `tcp` check
//! every second: 100 probes a second.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use crate::BOOT_TIMEOUT;
use crate::report::{Row, Section};
use testkit::lab::{Lab, Vm, VmOptions};

const ITEM: &str = "6 size";
/// Target: the init's resident memory.
const TARGET_RSS_KIB: u64 = 4 * 1024;
/// How much VmRSS may rise over the run and still count as flat: a few
/// pages of allocator slack, not a leak.
const FLAT_KIB: u64 = 64;
/// The run with checks, and how often it is sampled.
const RUN: Duration = Duration::from_secs(150);
const EVERY: Duration = Duration::from_secs(15);
/// Port the real servers' listeners use.
const PORT: u16 = 9000;
const SERVICES: usize = 10;
const PER_SERVICE: usize = 10;

/// `VmRSS` and `VmHWM` of PID 1, in KiB.
pub fn pid1_memory(vm: &Vm) -> Result<(u64, u64), String> {
    let (out, status) = vm.shell("cat /proc/1/status", Duration::from_secs(30))?;
    if status != 0 {
        return Err(format!("cat /proc/1/status exited {status}: {out}"));
    }
    let field = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("no {key} in /proc/1/status:\n{out}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// The init's resident memory right after `ready`.
pub fn after_boot(vm: &Vm) -> Section {
    let mut section = Section::default();
    match pid1_memory(vm) {
        Ok((rss, hwm)) => section.rows.push(Row::judged(
            ITEM,
            "init RSS after boot (VmRSS of PID 1)",
            format!("{rss} KiB (peak VmHWM {hwm} KiB)"),
            "≤ 4 MiB",
            rss <= TARGET_RSS_KIB,
        )),
        Err(why) => section
            .rows
            .push(Row::not_measured(ITEM, "init RSS after boot", &why)),
    }
    section
}

/// The address of real server `n` (0..100).
fn server_addr(n: usize) -> String {
    format!("192.168.3.{}", 10 + n)
}

/// The director config: the lab's interfaces, 10 services × 10 servers.
fn config() -> String {
    let mut out = format!(
        "# 100 real servers under health checks (benches/appliance/memory.rs)\n\
         hostname = \"lab-bench-100\"\n\n\
         [[interface]]\nname = \"wan\"\nmac = \"{}\"\naddresses = [\"192.168.1.1/24\", \"192.168.1.100/24\"]\n\n\
         [[interface]]\nname = \"lan\"\nmac = \"{}\"\naddresses = [\"192.168.3.1/24\"]\n",
        testkit::lab::WAN_MAC,
        testkit::lab::LAN_MAC
    );
    for s in 0..SERVICES {
        let _ = write!(
            out,
            "\n[[service]]\nprotocol = \"tcp\"\naddress = \"192.168.1.100:{}\"\nscheduler = \"rr\"\nforwarding = \"nat\"\n",
            9001 + s
        );
        for r in 0..PER_SERVICE {
            let _ = write!(
                out,
                "\n  [[service.real_server]]\n  address = \"{}:{PORT}\"\n",
                server_addr(s * PER_SERVICE + r)
            );
        }
    }
    out
}

/// Give the real servers' namespaces the 100 addresses and a listener.
fn prepare_servers(lab: &Lab) {
    assert!(lab.servers.len() >= 2, "needs the lab's two real servers");
    let total = SERVICES * PER_SERVICE;
    for n in 0..total {
        let server = &lab.servers[n * 2 / total];
        server.ns().ip(&[
            "addr",
            "add",
            &format!("{}/24", server_addr(n)),
            "dev",
            "eth0",
        ]);
    }
    for server in &lab.servers[..2] {
        // Runs until the benchmark exits: accept and close, as a health
        // check needs.
        let _detached = testkit::netns::spawn_in(server.ns().name(), || {
            let listener = TcpListener::bind(("0.0.0.0", PORT))
                .unwrap_or_else(|e| panic!("listen on port {PORT}: {e}"));
            for stream in listener.incoming() {
                drop(stream);
            }
        });
    }
}

/// Boot a director checking 100 real servers and sample PID 1's VmRSS.
pub fn with_checks(lab: &mut Lab) -> Section {
    prepare_servers(lab);
    let config = lab.write_file("bench-100.toml", &config());
    let index = lab.start_vm(VmOptions::director(config));
    let vm = &lab.vms[index];
    vm.wait_for("ready boot_ms=", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    // Let the first round of probes run.
    thread::sleep(Duration::from_secs(5));
    let start = Instant::now();
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    let mut errors = Vec::new();
    while start.elapsed() <= RUN {
        match pid1_memory(vm) {
            Ok((rss, _)) => samples.push((start.elapsed(), rss)),
            Err(e) => errors.push(e),
        }
        let next = EVERY * samples.len().max(1) as u32;
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            thread::sleep(wait);
        }
    }
    let console = vm.console();
    let downs = console
        .lines()
        .filter(|l| l.contains("health: ") && l.contains(" down"))
        .count();
    let checking = console
        .lines()
        .find(|l| l.contains("health: checking"))
        .map(|l| l.split("health: ").nth(1).unwrap_or("").to_string())
        .unwrap_or_else(|| "no `health: checking` line".into());
    let hwm = pid1_memory(vm).map(|(_, hwm)| hwm).ok();
    vm.kill();

    let mut section = Section::default();
    if samples.is_empty() {
        let why = errors
            .first()
            .cloned()
            .unwrap_or_else(|| "no sample".into());
        section.rows.push(Row::not_measured(
            ITEM,
            "init RSS with 100 checked real servers",
            &why,
        ));
        return section;
    }
    let first = samples[0].1;
    let last = samples[samples.len() - 1].1;
    let max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let flat = last <= first + FLAT_KIB;
    section.rows.push(Row::judged(
        ITEM,
        format!(
            "init RSS, health checks on 100 real servers, {} s",
            RUN.as_secs()
        ),
        format!(
            "{first} KiB at start, {last} KiB at end, max {max} KiB{}; {}",
            hwm.map(|h| format!(" (VmHWM {h} KiB)")).unwrap_or_default(),
            if flat { "flat" } else { "GROWS" }
        ),
        "≤ 4 MiB and flat",
        max <= TARGET_RSS_KIB && flat,
    ));
    let series: Vec<String> = samples
        .iter()
        .map(|(t, rss)| format!("{:.0} s: {rss}", t.as_secs_f64()))
        .collect();
    section.notes.push(format!(
        "Memory run: {checking}; {downs} `down` line(s) on the console (0 means every \
         probe succeeded). VmRSS of PID 1 in KiB every {} s: {}. \"Flat\" means it \
         rose by at most {FLAT_KIB} KiB from the first sample to the last. The issue \
         asks for an hour; this shorter run shows the trend.",
        EVERY.as_secs(),
        series.join(", ")
    ));
    section
}
