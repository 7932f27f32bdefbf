//! Item 8, management: the 1,000 × 10 table seen from the network. PID 1
//! boots with the 1,000 × 10 services of item 2 (checks off) and a
//! `[management]` listener on its wan address; the client scrapes
//! `/metrics` and reads `/status` with curl, each timed, and PID 1's
//! memory is read after them (the history of 1,000 services included).

use std::time::Duration;

use crate::report::{self, Row, Section};
use testkit::lab::{Lab, VmOptions};

const ITEM: &str = "8 management";
/// Targets of issue 11.
const TARGET_SCRAPE_MS: f64 = 300.0;
const TARGET_RSS_KIB: u64 = 16 * 1024;
/// Scrapes timed.
const SCRAPES: usize = 10;
/// A boot with a 780 kB config, under TCG.
const LIMIT: Duration = Duration::from_secs(900);
const API: &str = "http://192.168.1.1:9100";

/// The lab's interfaces, the 1,000 × 10 services, and the listener.
fn config() -> String {
    format!(
        "# 1,000 x 10 services seen by the management API (benches/appliance/management.rs)\n\
         hostname = \"lab-bench-mgmt\"\n\n\
         [[interface]]\nname = \"wan\"\nmac = \"{}\"\naddresses = [\"192.168.1.1/24\"]\n\n\
         [[interface]]\nname = \"lan\"\nmac = \"{}\"\naddresses = [\"192.168.3.1/24\"]\n\n\
         [management]\nlisten = [\"192.168.1.1:9100\"]\ntls = false\n\n{}",
        testkit::lab::WAN_MAC,
        testkit::lab::LAN_MAC,
        crate::apply::big_director_toml()
    )
}

/// `curl` of `path` from the client: seconds taken, bytes received, and
/// seconds to the first byte.
fn timed_get(lab: &Lab, path: &str) -> Result<(f64, f64, f64), String> {
    let url = format!("{API}{path}");
    let out = lab.client.ns().exec(&[
        "curl",
        "-sSf",
        "--max-time",
        "60",
        "-o",
        "/dev/null",
        "-w",
        "%{time_total} %{size_download} %{time_starttransfer}",
        &url,
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    match (fields.next(), fields.next(), fields.next()) {
        (Some(Ok(t)), Some(Ok(n)), Some(Ok(first))) => Ok((t, n, first)),
        _ => Err(format!("curl {url} wrote {text:?}")),
    }
}

/// One more scrape, read whole: how long its snapshot took, the
/// director's part and the kernel's (lvsinit_management_snapshot_seconds).
fn snapshot_parts(lab: &Lab) -> Result<(f64, f64), String> {
    let url = format!("{API}/metrics");
    let out = lab
        .client
        .ns()
        .exec(&["curl", "-sSf", "--max-time", "60", &url]);
    if !out.status.success() {
        return Err(format!(
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let part = |name: &str| {
        let prefix = format!("lvsinit_management_snapshot_seconds{{part=\"{name}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .ok_or_else(|| format!("no {prefix}in the scrape"))
    };
    Ok((part("director")?, part("kernel")?))
}

/// Boot a VM of its own with `config` as router.toml on the boot
/// partition of a copy of router.img (as item 2's director: fw_cfg reads
/// a page at a time), up to `ready`: its index, or the first line of why
/// not (the VM then killed).
pub fn boot_from_disk(lab: &mut Lab, config: &std::path::Path) -> Result<usize, String> {
    let image = lab.router_img_with(&[(config.to_path_buf(), "router.toml")]);
    let mut options = VmOptions::director(config.to_path_buf());
    options.config = None;
    options.disk_image = Some(image);
    let index = lab.start_vm(options);
    match lab.vms[index].wait_for("ready boot_ms=", LIMIT) {
        Ok(_) => Ok(index),
        Err(e) => {
            lab.vms[index].kill();
            Err(e.lines().next().unwrap_or("").to_string())
        }
    }
}

pub fn run(lab: &mut Lab) -> Section {
    let mut section = Section::default();
    let path = lab.write_file("management-1000x10.toml", &config());
    let index = match boot_from_disk(lab, &path) {
        Ok(index) => index,
        Err(e) => {
            section
                .rows
                .push(Row::not_measured(ITEM, "1,000 × 10: /metrics", &e));
            return section;
        }
    };
    let mut times = Vec::new();
    let mut firsts = Vec::new();
    let mut size = 0.0;
    let mut problem = None;
    for _ in 0..SCRAPES {
        match timed_get(lab, "/metrics") {
            Ok((t, n, first)) => {
                times.push(t * 1000.0);
                firsts.push(first * 1000.0);
                size = n;
            }
            Err(e) => {
                problem = Some(e);
                break;
            }
        }
    }
    let parts = snapshot_parts(lab);
    let status = timed_get(lab, "/status");
    let memory = crate::memory::pid1_memory(&lab.vms[index]);
    lab.vms[index].kill();
    let scraped = problem.is_none();
    let what = "1,000 × 10: one /metrics scrape (curl from the client)";
    match problem {
        Some(e) => section.rows.push(Row::not_measured(ITEM, what, &e)),
        None => section.rows.push(Row::judged(
            ITEM,
            what,
            format!(
                "{} for {:.1} MB",
                report::spread(&times, "ms", 0),
                size / 1e6
            ),
            format!("≤ {TARGET_SCRAPE_MS:.0} ms"),
            report::median(&times) <= TARGET_SCRAPE_MS,
        )),
    }
    if scraped {
        let what = "1,000 × 10: /metrics, time to the first byte; the snapshot's parts (of one more scrape)";
        let result = match parts {
            Ok((director, kernel)) => format!(
                "{}; director {:.1} ms, kernel (IPVS dump and totals) {:.1} ms",
                report::spread(&firsts, "ms", 0),
                director * 1000.0,
                kernel * 1000.0
            ),
            Err(e) => format!("{}; parts: {e}", report::spread(&firsts, "ms", 0)),
        };
        section.rows.push(Row::info(ITEM, what, result));
    }
    let what = "1,000 × 10: one /status (curl from the client)";
    match status {
        Ok((t, n, _)) => section.rows.push(Row::info(
            ITEM,
            what,
            format!("{:.0} ms for {:.1} MB", t * 1000.0, n / 1e6),
        )),
        Err(e) => section.rows.push(Row::not_measured(ITEM, what, &e)),
    }
    let what = "1,000 × 10: PID 1 RSS after the scrapes (VmRSS)";
    match memory {
        Ok((rss, hwm)) => section.rows.push(Row::judged(
            ITEM,
            what,
            format!("{rss} KiB (peak VmHWM {hwm} KiB)"),
            "≤ 16 MiB",
            rss <= TARGET_RSS_KIB,
        )),
        Err(e) => section.rows.push(Row::not_measured(ITEM, what, &e)),
    }
    section.notes.push(format!(
        "Method (management): a VM of its own boots with item 2's 1,000 × 10 services \
         (checks off) and `[management] listen = [\"192.168.1.1:9100\"]` on the boot \
         partition; the client namespace's curl scrapes `/metrics` {SCRAPES} times in a \
         row (each a fresh snapshot: one IPVS dump on PID 1's blocking thread, the text \
         streamed), then reads `/status` once; PID 1's VmRSS is read after them."
    ));
    section
}
