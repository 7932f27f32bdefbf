//! The appliance benchmark: `cargo bench --bench appliance` (as root).
//!
//! Builds the image with its test layer, sets up the end-to-end lab (network
//! namespaces, real PostgreSQL servers, QEMU under TCG) and measures, side by
//! side with the classic tools where there is something to compare with:
//!
//! 1. boot: QEMU start to the VIP answering, the init's own share;
//! 2. apply speed: our apply against `ipvsadm -R` and one `ipvsadm` per rule;
//! 3. health: detection time of a stopped and of a cut-off real server;
//! 4. failover: the gap a client sees when the VRRP master goes;
//! 5. data path: pgbench through the VIP against the same server directly;
//! 6. size: kernel, initramfs, disk image, init; the init's memory;
//! 7. config: `lvsinit check` of a 1,000 × 10 router.toml, instructions
//!    and peak memory;
//! 8. management: a `/metrics` scrape and a `/status` of the 1,000 × 10
//!    table, and PID 1's memory after them.
//!
//! It prints one table and writes `BENCHMARKS.md`. It is not a test: a
//! missed target is reported, never a failure. A part that cannot be
//! measured (a missing tool, a VM that does not boot) says why in its row
//! and the others still run.
//!
//! Environment: `LVSINIT_BENCH_NO_BUILD=1` skips `image/build` (use `out/`
//! as it is); `LVSINIT_BENCH_FULL=1` runs the one-process-per-rule setups of
//! the big tables in full instead of timing their first 1,100 commands;
//! `LVSINIT_BENCH_ONLY="1 4"` measures only those items (by number) and
//! prints their table without writing `BENCHMARKS.md`, which always holds
//! a whole run.

mod apply;
mod boot;
mod config;
mod control;
mod datapath;
mod director;
mod failover;
mod health;
mod jitter;
mod management;
mod memory;
mod probe;
mod report;
mod size;

use std::any::Any;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use report::{Machine, Row, Section};
use testkit::lab::{Lab, VmOptions};

/// How long a `-kernel` boot under TCG may take to reach `ready`.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// The PostgreSQL port every VIP balances.
pub const VIP_PORT: u16 = 5432;
/// Boots measured for item 1.
const BOOTS: usize = 5;

/// The items `LVSINIT_BENCH_ONLY` asks for (`None`: all of them).
fn only() -> Option<Vec<u32>> {
    let text = std::env::var("LVSINIT_BENCH_ONLY").ok()?;
    Some(
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter_map(|n| n.parse().ok())
            .collect(),
    )
}

/// Whether item `n` is measured in this run.
fn wanted(n: u32) -> bool {
    only().is_none_or(|items| items.contains(&n))
}

fn main() -> ExitCode {
    let started = Instant::now();
    let repo = testkit::repo();
    let machine = Machine::detect();
    let mut sections: Vec<(&str, Section)> = Vec::new();

    if std::env::var_os("LVSINIT_BENCH_NO_BUILD").is_none() {
        eprintln!("bench: image/build --test-layer");
        let built = Command::new(repo.join("image/build"))
            .arg("--test-layer")
            .status();
        match built {
            Ok(s) if s.success() => {}
            Ok(s) => eprintln!("bench: image/build exited {s}; measuring out/ as it is"),
            Err(e) => eprintln!("bench: cannot run image/build: {e}; measuring out/ as it is"),
        }
    }

    if wanted(6) {
        sections.push(("6. Size", measure("6 size", || size::files(&repo))));
    }
    if wanted(7) {
        sections.push((
            "7. Reading a big config",
            measure("7 config", || config::run(&repo)),
        ));
    }

    // The lab: two real servers with pgbench tables, the client.
    // Items 1 to 6 and 8 to 10 need the lab; item 7 runs on the host alone.
    let lab_items = (1..=6).chain([8, 9, 10]).any(wanted);
    let lab = if !lab_items {
        Err("not asked for".to_string())
    } else {
        catch(|| {
            let mut lab = Lab::new();
            lab.add_real_servers(2);
            for server in &lab.servers {
                server.pgbench_init(1);
            }
            lab
        })
    };
    let mut lab = match lab {
        Ok(lab) => Some(lab),
        Err(_) if !lab_items => None,
        Err(why) => {
            eprintln!("bench: no lab: {why}");
            sections.push((
                "Lab",
                section_of(Row::not_measured("lab", "lab setup", &why)),
            ));
            None
        }
    };

    if let Some(lab) = lab.as_mut() {
        let config = lab.write_file("bench.toml", &director::config());
        let vip: SocketAddr = format!("{}:{VIP_PORT}", director::VIP_BALANCED)
            .parse()
            .expect("VIP is an address");
        if wanted(1) {
            sections.push((
                "1. Boot",
                measure("1 boot", || boot::run(lab, &config, vip, BOOTS)),
            ));
        }

        // One VM with the test layer for items 2, 5 and the first of 6.
        let in_vm = [2, 3, 5, 6].into_iter().any(wanted);
        let files = if in_vm {
            catch(|| apply::bench_files(lab))
        } else {
            Err("not asked for".into())
        };
        let vm = files.and_then(|files| {
            catch(|| {
                let mut options = VmOptions::director(config.clone());
                options.extra_args = vec![
                    "-fw_cfg".into(),
                    format!("name={},file={}", apply::FW_CFG_NAME, files.display()),
                ];
                let index = lab.start_vm(options);
                lab.vms[index]
                    .wait_for("ready boot_ms=", BOOT_TIMEOUT)
                    .unwrap_or_else(|e| panic!("{e}"));
                index
            })
        });
        match vm {
            Ok(index) => {
                if wanted(6) {
                    sections.push((
                        "6. Size (memory after boot)",
                        measure("6 size", || memory::after_boot(&lab.vms[index])),
                    ));
                }
                if wanted(5) {
                    sections.push((
                        "5. Data path",
                        measure("5 data path", || datapath::run(lab)),
                    ));
                }
                if wanted(3) {
                    sections.push((
                        "3. Health",
                        measure("3 health", || health::run(lab, index, vip)),
                    ));
                }
                // Last in this VM: it replaces the director's IPVS table.
                if wanted(2) {
                    sections.push((
                        "2. Apply speed",
                        measure("2 apply", || apply::run(&lab.vms[index])),
                    ));
                }
                lab.vms[index].kill();
            }
            Err(_) if !in_vm => {}
            Err(why) => {
                for item in ["2 apply", "3 health", "5 data path", "6 size"] {
                    sections.push((item, section_of(Row::not_measured(item, "VM", &why))));
                }
            }
        }
        if wanted(2) {
            sections.push((
                "2. Apply speed (PID 1 reload)",
                measure("2 apply", || apply::director_big(lab)),
            ));
        }
        if wanted(6) {
            sections.push((
                "6. Size (memory under health checks)",
                measure("6 size", || memory::with_checks(lab)),
            ));
        }
        if wanted(8) {
            sections.push((
                "8. Management",
                measure("8 management", || management::run(lab)),
            ));
        }
        if wanted(9) {
            sections.push((
                "9. Serving never delays the director",
                measure("9 jitter", || jitter::run(lab)),
            ));
        }
        if wanted(10) {
            sections.push(("10. Control", measure("10 control", || control::run(lab))));
        }
        if wanted(4) {
            sections.push(("4. Failover", measure("4 failover", || failover::run(lab))));
        }
    }

    drop(lab);

    let table = report::text_table(&sections);
    println!("\n{table}");
    if only().is_some() {
        eprintln!("bench: LVSINIT_BENCH_ONLY is set: BENCHMARKS.md left as it is");
        return ExitCode::SUCCESS;
    }
    let text = report::markdown(&machine, started.elapsed(), &sections);
    match report::write(&repo, &text) {
        Ok(()) => eprintln!("bench: wrote {}", repo.join("BENCHMARKS.md").display()),
        Err(e) => eprintln!("bench: cannot write BENCHMARKS.md: {e}"),
    }
    ExitCode::SUCCESS
}

/// Run one benchmark item; a panic in it (a lab step that failed) becomes a
/// "not measured" row naming the reason.
fn measure(item: &'static str, f: impl FnOnce() -> Section) -> Section {
    match catch(f) {
        Ok(section) => section,
        Err(why) => section_of(Row::not_measured(item, "(all)", &why)),
    }
}

fn section_of(row: Row) -> Section {
    Section {
        rows: vec![row],
        notes: Vec::new(),
    }
}

/// `f()`, or the first line of its panic message.
fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|e| first_line(&panic_text(&*e)))
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > 200 {
        format!("{}...", line.chars().take(200).collect::<String>())
    } else {
        line.to_string()
    }
}

/// The number right after `key` in `line` (`boot_ms=1598` → 1598).
pub fn number_after(line: &str, key: &str) -> Option<f64> {
    let rest = &line[line.find(key)? + key.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}
