//! Item 5, data path: pgbench from the client through the VIP against
//! pgbench from the same client straight to the same real server, in the
//! same run, rounds alternating.
//!
//! "Straight to the real server" still crosses the director: the client's
//! default route is the director's outside address, which forwards to the
//! server subnet by plain IP routing (ip_forward) without IPVS. Both paths
//! therefore cross the same emulated NICs and the same guest kernel, and
//! the only difference is IPVS (NAT lookup and rewrite). A third figure,
//! pgbench from the other real server's namespace on the server bridge
//! (no VM at all), shows what the emulated director costs as a whole.

use std::path::Path;
use std::process::{Command, Output};

use crate::director::{SINGLE_SERVER, VIP_BALANCED, VIP_SINGLE};
use crate::report::{Row, Section, median};
use testkit::lab::Lab;
use testkit::lab::postgres::PG_BIN;

const ITEM: &str = "5 data path";
/// Target: TPS through the VIP relative to direct.
const TARGET_RATIO: f64 = 0.9;
/// Seconds per pgbench run.
const SECONDS: u32 = 10;
/// Seconds of the warm-up run on each path, not counted.
const WARM_UP: u32 = 3;
/// Alternating rounds of (VIP, direct).
const ROUNDS: usize = 2;
/// Clients and threads: a little concurrency, the way a pool would.
const CLIENTS: &str = "4";
const THREADS: &str = "2";

/// One pgbench run's figures.
#[derive(Debug, Clone, Copy)]
struct Run {
    tps: f64,
    latency_ms: f64,
}

pub fn run(lab: &Lab) -> Section {
    // Warm up both paths (connections, caches, ARP) before measuring.
    for host in [VIP_SINGLE, SINGLE_SERVER] {
        let _ = client_pgbench(lab, host, WARM_UP);
    }
    let mut vip = Vec::new();
    let mut direct = Vec::new();
    for round in 0..ROUNDS {
        // Alternate which goes first, so neither always runs on a warm cache.
        let order = if round % 2 == 0 {
            [VIP_SINGLE, SINGLE_SERVER]
        } else {
            [SINGLE_SERVER, VIP_SINGLE]
        };
        for host in order {
            let r = client_pgbench(lab, host, SECONDS);
            eprintln!("bench: pgbench -h {host}: {r:?}");
            if host == VIP_SINGLE {
                vip.push(r);
            } else {
                direct.push(r);
            }
        }
    }
    let balanced = client_pgbench(lab, VIP_BALANCED, SECONDS);
    eprintln!("bench: pgbench -h {VIP_BALANCED}: {balanced:?}");
    let local = lab
        .servers
        .get(1)
        .ok_or_else(|| "no second real server".to_string())
        .and_then(|rs2| {
            parse(&pgbench(
                rs2.ns().command(Path::new(PG_BIN).join("pgbench")),
                SINGLE_SERVER,
                SECONDS,
            ))
        });
    eprintln!("bench: pgbench from the server bridge: {local:?}");

    let mut section = Section::default();
    let ok = |runs: &[Result<Run, String>]| -> Result<Vec<Run>, String> {
        runs.iter().cloned().collect()
    };
    match (ok(&vip), ok(&direct)) {
        (Ok(vip), Ok(direct)) => {
            let tps_vip = median(&vip.iter().map(|r| r.tps).collect::<Vec<_>>());
            let tps_direct = median(&direct.iter().map(|r| r.tps).collect::<Vec<_>>());
            let lat_vip = median(&vip.iter().map(|r| r.latency_ms).collect::<Vec<_>>());
            let lat_direct = median(&direct.iter().map(|r| r.latency_ms).collect::<Vec<_>>());
            let ratio = tps_vip / tps_direct;
            section.rows.push(Row::judged(
                ITEM,
                format!("pgbench -S TPS, VIP {VIP_SINGLE} vs routed to {SINGLE_SERVER}"),
                format!("{tps_vip:.0} vs {tps_direct:.0} TPS: {ratio:.2} of direct"),
                format!("≥ {TARGET_RATIO} of direct"),
                ratio >= TARGET_RATIO,
            ));
            section.rows.push(Row::info(
                ITEM,
                "pgbench -S latency average, VIP vs routed",
                format!("{lat_vip:.2} ms vs {lat_direct:.2} ms"),
            ));
        }
        (vip, direct) => {
            let why = vip.err().or(direct.err()).unwrap_or_default();
            section
                .rows
                .push(Row::not_measured(ITEM, "pgbench VIP vs direct", &why));
        }
    }
    section.rows.push(match balanced {
        Ok(r) => Row::info(
            ITEM,
            format!("pgbench -S, VIP {VIP_BALANCED} (rr over 2 servers)"),
            format!("{:.0} TPS, {:.2} ms", r.tps, r.latency_ms),
        ),
        Err(why) => Row::not_measured(ITEM, "pgbench VIP rr over 2", &why),
    });
    section.rows.push(match local {
        Ok(r) => Row::info(
            ITEM,
            "pgbench -S on the server bridge (no director at all)",
            format!("{:.0} TPS, {:.2} ms", r.tps, r.latency_ms),
        ),
        Err(why) => Row::not_measured(ITEM, "pgbench on the server bridge", &why),
    });
    section.notes.push(format!(
        "Method: `pgbench -n -S -c {CLIENTS} -j {THREADS} -T {SECONDS}` (select-only, \
         scale 1, after a {WARM_UP} s warm-up of each path, {ROUNDS} alternating rounds, median) from the client namespace, \
         through VIP {VIP_SINGLE} (IPVS NAT to {SINGLE_SERVER} alone) and to \
         {SINGLE_SERVER} directly, which the director routes without IPVS: same \
         server, same emulated director, only IPVS differs. The run from the server \
         bridge bypasses the emulated director entirely and shows how much of the \
         cost is QEMU TCG forwarding rather than IPVS."
    ));
    section
}

fn client_pgbench(lab: &Lab, host: &str, seconds: u32) -> Result<Run, String> {
    parse(&pgbench(lab.client.pg_command("pgbench"), host, seconds))
}

/// Run pgbench (a command already set up for its namespace) against `host`.
fn pgbench(mut command: Command, host: &str, seconds: u32) -> Result<Output, String> {
    command
        .env("PGCONNECT_TIMEOUT", "3")
        .env("PGSSLMODE", "disable")
        .env("PGGSSENCMODE", "disable")
        .args(["-h", host, "-U", "postgres", "-n", "-S"])
        .args(["-c", CLIENTS, "-j", THREADS, "-T", &seconds.to_string()])
        .arg("postgres");
    command
        .output()
        .map_err(|e| format!("cannot run pgbench: {e}"))
}

/// TPS and average latency from pgbench's report.
fn parse(output: &Result<Output, String>) -> Result<Run, String> {
    let output = output.as_ref().map_err(String::clone)?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "pgbench exited {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let value = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l[prefix.len()..].split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| format!("no `{prefix}` in pgbench output:\n{text}"))
    };
    Ok(Run {
        tps: value("tps = ")?,
        latency_ms: value("latency average = ")?,
    })
}
