//! Item 2, apply speed: our apply against the classic tools, in the same VM
//! on the same kernel, for 100 × 10, 1,000 × 10 and 10,000 × 1 virtual
//! services × real servers.
//!
//! For each size the host writes three equivalent inputs: a router.toml,
//! the `ipvsadm -R` restore file with exactly the same rules, and the
//! classic shell setup with one `ipvsadm` process per rule. They travel to
//! the VM as one gzipped tar in a fw_cfg file and are unpacked in its
//! tmpfs. Each is timed inside the VM (from /proc/uptime around the
//! command, so the serial line's latency is not counted) on an empty table
//! (`ipvsadm -C` between runs), and the resulting tables are compared with
//! `ipvsadm -Sn` to show both sides really built the same thing. Then our
//! apply runs again with no change, and with one weight changed, ten times
//! each (averaged: /proc/uptime counts in 10 ms steps).

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::report::{Row, Section};
use testkit::lab::{Lab, Vm, VmOptions};

const ITEM: &str = "2 apply";
/// The fw_cfg name of the tar the VM unpacks.
pub const FW_CFG_NAME: &str = "opt/lvsinit/bench/files.tar.gz";
/// Where the VM unpacks it.
const DIR: &str = "/tmp/bench";
/// Target: 1,000 × 10 at least this many times faster than `ipvsadm -R`.
const TARGET_SPEEDUP: f64 = 5.0;
/// Target: a no-change re-apply.
const TARGET_NO_CHANGE_MS: f64 = 20.0;
/// Repetitions of the re-apply measurements.
const REPEAT: usize = 4;
/// Fresh applies per side; the best counts.
const FRESH_ROUNDS: usize = 2;
/// One-process-per-rule setups longer than this are timed over their first
/// [`PER_RULE_PART`] commands and extrapolated, unless LVSINIT_BENCH_FULL is
/// set (under TCG one `ipvsadm` process takes about 70 ms).
const PER_RULE_SAMPLE: usize = 1100;
/// How many of the big setups' commands are timed.
const PER_RULE_PART: usize = 220;
/// Limit for one timed command in the VM.
const LIMIT: Duration = Duration::from_secs(900);

/// One table size.
#[derive(Debug, Clone, Copy)]
struct Size {
    services: usize,
    real_servers: usize,
}

impl Size {
    fn name(self) -> String {
        format!("s{}x{}", self.services, self.real_servers)
    }

    fn label(self) -> String {
        format!("{} × {}", group(self.services), self.real_servers)
    }

    /// Rules: one per virtual service plus one per real server.
    fn rules(self) -> usize {
        self.services * (1 + self.real_servers)
    }
}

const SIZES: [Size; 3] = [
    Size {
        services: 100,
        real_servers: 10,
    },
    Size {
        services: 1000,
        real_servers: 10,
    },
    Size {
        services: 10000,
        real_servers: 1,
    },
];

/// `1000` → `1,000`.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The VIP of service `i`: 10.1.0.1, 10.1.0.2, ... 250 per /24.
fn vip(i: usize) -> String {
    format!(
        "10.{}.{}.{}:80",
        1 + i / 62500,
        (i / 250) % 250,
        1 + i % 250
    )
}

/// Real server `j`: 192.168.3.2:80, 192.168.3.3:80, ...
fn real_server(j: usize) -> String {
    format!("192.168.3.{}:80", 2 + j)
}

/// The 1,000 × 10 router.toml (item 7 reads it natively).
pub fn big_router_toml() -> String {
    router_toml(SIZES[1], false)
}

/// The 1,000 × 10 services as PID 1 runs them (checks off), for item 8.
pub fn big_director_toml() -> String {
    director_toml(SIZES[1])
}

/// router.toml for `size`; `bumped` gives service 0's first real server
/// weight 2 instead of 1.
fn router_toml(size: Size, bumped: bool) -> String {
    services_toml(size, bumped, "")
}

/// router.toml for PID 1 itself: the same services, unchecked (the real
/// servers' port 80 answers nobody in the lab, and a check that fails
/// would quiesce them all and change the table under the measurement).
fn director_toml(size: Size) -> String {
    services_toml(
        size,
        false,
        "\n  [service.health_check]\n  type = \"none\"\n",
    )
}

fn services_toml(size: Size, bumped: bool, per_service: &str) -> String {
    let mut out = format!(
        "# {} virtual services x {} real servers (benches/appliance/apply.rs)\n",
        size.services, size.real_servers
    );
    for i in 0..size.services {
        let _ = write!(
            out,
            "\n[[service]]\nprotocol = \"tcp\"\naddress = \"{}\"\nscheduler = \"rr\"\nforwarding = \"nat\"\n{per_service}",
            vip(i)
        );
        for j in 0..size.real_servers {
            let weight = if bumped && i == 0 && j == 0 { 2 } else { 1 };
            let _ = write!(
                out,
                "\n  [[service.real_server]]\n  address = \"{}\"\n  weight = {weight}\n",
                real_server(j)
            );
        }
    }
    out
}

/// The same rules as `ipvsadm` arguments, one rule per line.
fn ipvsadm_rules(size: Size) -> Vec<String> {
    let mut rules = Vec::with_capacity(size.rules());
    for i in 0..size.services {
        rules.push(format!("-A -t {} -s rr", vip(i)));
        for j in 0..size.real_servers {
            rules.push(format!("-a -t {} -r {} -m -w 1", vip(i), real_server(j)));
        }
    }
    rules
}

/// Write every input file into a fresh dir in the lab and pack them:
/// the path of the tar for fw_cfg.
pub fn bench_files(lab: &Lab) -> PathBuf {
    let dir = lab.dir().join("bench-files");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create bench-files dir");
    for size in SIZES {
        let name = size.name();
        let write = |file: String, text: String| {
            fs::write(dir.join(&file), text).unwrap_or_else(|e| panic!("write {file}: {e}"))
        };
        write(format!("{name}.toml"), router_toml(size, false));
        write(format!("{name}-w.toml"), router_toml(size, true));
        let rules = ipvsadm_rules(size);
        write(format!("{name}.restore"), rules.join("\n") + "\n");
        let script: String = rules.iter().map(|r| format!("ipvsadm {r}\n")).collect();
        write(format!("{name}.sh"), script);
    }
    let tar = lab.dir().join("bench-files.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&tar)
        .arg("-C")
        .arg(&dir)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(
        status.success(),
        "tar -czf {} failed: {status}",
        tar.display()
    );
    tar
}

/// A command's time inside the VM, its exit status and what it printed.
struct Timed {
    seconds: f64,
    status: i32,
    log: String,
}

/// Run `command` (shell text, may contain a redirect and a loop) in the
/// VM, timing it with /proc/uptime around it; its output goes to a log
/// file that is read back afterwards.
fn timed(vm: &Vm, command: &str) -> Result<Timed, String> {
    let script = format!(
        "read a _ </proc/uptime; {{ {command} ; }} >{DIR}/log 2>&1; rc=$?; \
         read b _ </proc/uptime; echo \"TIMED $a $b $rc\""
    );
    let (out, _) = vm.shell(&script, LIMIT)?;
    let line = out
        .lines()
        .find(|l| l.starts_with("TIMED "))
        .ok_or_else(|| format!("no TIMED line from `{command}`: {out}"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let parse = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| format!("bad TIMED line {line:?}"))
    };
    let seconds = parse(2)? - parse(1)?;
    let status = parse(3)? as i32;
    let (log, _) = vm.shell(&format!("tail -c 4000 {DIR}/log"), Duration::from_secs(30))?;
    Ok(Timed {
        seconds,
        status,
        log,
    })
}

/// Like [`timed`], but the command must exit 0.
fn timed_ok(vm: &Vm, command: &str) -> Result<Timed, String> {
    let t = timed(vm, command)?;
    if t.status == 0 {
        Ok(t)
    } else {
        Err(format!(
            "`{command}` exited {} in the VM: {}",
            t.status,
            t.log.trim()
        ))
    }
}

fn shell_ok(vm: &Vm, command: &str) -> Result<String, String> {
    match vm.shell(command, LIMIT)? {
        (out, 0) => Ok(out),
        (out, status) => Err(format!("`{command}` exited {status} in the VM: {out}")),
    }
}

/// Sum of the `in N ms` figures our apply printed, and how many there were.
fn apply_ms(log: &str) -> (f64, usize) {
    log.lines()
        .filter(|l| l.starts_with("applied "))
        .filter_map(|l| crate::number_after(l, " in "))
        .fold((0.0, 0), |(sum, n), ms| (sum + ms, n + 1))
}

/// The figures for one size.
struct Figures {
    size: Size,
    ours: f64,
    ours_internal_ms: f64,
    /// `lvsinit check FILE`: reading and validating alone.
    check: f64,
    restore: f64,
    per_rule: f64,
    per_rule_extrapolated: Option<usize>,
    same_table: bool,
    no_change: f64,
    no_change_internal_ms: f64,
    one_weight: f64,
    one_weight_internal_ms: f64,
    classic_edit: f64,
}

pub fn run(vm: &Vm) -> Section {
    shell_ok(
        vm,
        &format!("mkdir -p {DIR} && cd {DIR} && tar -xzf /sys/firmware/qemu_fw_cfg/by_name/{FW_CFG_NAME}/raw && cd /"),
    )
    .unwrap_or_else(|e| panic!("unpack the inputs in the VM: {e}"));
    let mut section = Section::default();
    section.rows.push(director_reload(vm));
    let mut all = Vec::new();
    for size in SIZES {
        match one_size(vm, size) {
            Ok(f) => all.push(f),
            Err(why) => {
                eprintln!("bench: apply {}: {why}", size.label());
                section
                    .rows
                    .push(Row::not_measured(ITEM, size.label(), &why));
            }
        }
        // Leave an empty table whatever happened.
        let _ = vm.shell("ipvsadm -C", Duration::from_secs(60));
    }
    for f in &all {
        rows(&mut section, f);
    }
    if let Some(f) = all
        .iter()
        .find(|f| f.size.services == 1000 && f.size.real_servers == 10)
    {
        section.notes.push(holding_back(f));
    }
    section.notes.push(format!(
        "Method: in one VM (the test layer's shell on the second serial port), the \
         inputs are unpacked into tmpfs; each setup starts from an empty table \
         (`ipvsadm -C`) and is timed with /proc/uptime (10 ms steps) around the \
         whole command, process start and file parsing included, for every side; \
         fresh applies alternate between the sides, best of {FRESH_ROUNDS} each. \
         \"ours\" is `lvsinit apply --only ipvs FILE` (the same code PID 1 runs at \
         boot and on SIGHUP; `applied ... in N ms` is its own figure without \
         process start and TOML parsing; \"reading the file\" is `lvsinit check \
         FILE`, the parsing and validation alone). \"ipvsadm -R\" restores exactly the same \
         rules from a file; \"one process per rule\" runs `sh` over one `ipvsadm -A`/`-a` \
         line per rule, as a classic setup script does (those over {PER_RULE_SAMPLE} \
         rules: the first {PER_RULE_PART} commands timed and scaled up linearly unless \
         LVSINIT_BENCH_FULL=1). \"same table\" compares `ipvsadm -Sn` after both. \
         Re-applies are {REPEAT} runs each, averaged: \"one weight\" alternates between \
         two files that differ in one real server's weight; `ipvsadm -e` is the \
         classic way to make that one change, for comparison."
    ));
    section
}

/// PID 1's own re-apply of its unchanged config on SIGHUP, as an operator
/// reloads it: the `reload: no change to IPVS (apply_ms=N)` figure,
/// median of three.
fn director_reload(vm: &Vm) -> Row {
    let what = "director reload (SIGHUP), no change, its own config";
    let mut times = Vec::new();
    for _ in 0..3 {
        let mark = vm.mark();
        if let Err(e) = shell_ok(vm, "kill -HUP 1") {
            return Row::not_measured(ITEM, what, &e);
        }
        match vm.wait_for_after(mark, "reload: ", Duration::from_secs(60)) {
            Ok(line) => match crate::number_after(&line, "apply_ms=") {
                Some(ms) => times.push(ms),
                None => return Row::not_measured(ITEM, what, &format!("no apply_ms in {line:?}")),
            },
            Err(e) => return Row::not_measured(ITEM, what, e.lines().next().unwrap_or("")),
        }
    }
    Row::info(
        ITEM,
        format!("{what} (2 services, 3 real servers, 2 addresses)"),
        format!("apply_ms {}", crate::report::spread(&times, "ms", 0)),
    )
}

/// PID 1 with the 1,000 × 10 table as its own router.toml (fw_cfg, checks
/// off): its boot apply, then SIGHUP reloads of the unchanged file, each
/// the `apply_ms` of its `reload:` line and the whole reload from the
/// `SIGHUP` line (reading and validating the 780 kB file included).
pub fn director_big(lab: &mut Lab) -> Section {
    let size = SIZES[1];
    let label = size.label();
    let mut section = Section::default();
    let path = lab.write_file(
        &format!("{}-director.toml", size.name()),
        &director_toml(size),
    );
    // On the boot partition, as a flashed box has it: fw_cfg is read by
    // the kernel a page at a time, each read starting over from the first
    // byte, which for 780 kB under TCG takes seconds.
    let image = lab.router_img_with(&[(path.clone(), "router.toml")]);
    let mut options = VmOptions::director(path);
    options.config = None;
    options.disk_image = Some(image);
    options.nics.clear();
    let index = lab.start_vm(options);
    let vm = &lab.vms[index];
    let ready = match vm.wait_for("ready boot_ms=", LIMIT) {
        Ok(line) => line,
        Err(e) => {
            vm.kill();
            section.rows.push(Row::not_measured(
                ITEM,
                format!("director reload (SIGHUP), no change, {label}"),
                e.lines().next().unwrap_or(""),
            ));
            return section;
        }
    };
    if let Some(ms) = crate::number_after(&ready, "apply_ms=") {
        section.rows.push(Row::info(
            ITEM,
            format!("{label}: PID 1's boot apply (empty table, its own config)"),
            format!("apply_ms {ms:.0} ms"),
        ));
    }
    let mut apply_ms = Vec::new();
    let mut whole_ms = Vec::new();
    let mut problem = None;
    for _ in 0..3 {
        let mark = vm.mark();
        if let Err(e) = shell_ok(vm, "kill -HUP 1") {
            problem = Some(e);
            break;
        }
        let lines = vm
            .wait_for_after(mark, "SIGHUP", Duration::from_secs(60))
            .and_then(|start| {
                vm.wait_for_after(mark, "reload: ", LIMIT)
                    .map(|end| (start, end))
            });
        match lines {
            Ok((start, end)) => {
                if let Some(ms) = crate::number_after(&end, "apply_ms=") {
                    apply_ms.push(ms);
                }
                if let (Some(a), Some(b)) = (uptime_stamp(&start), uptime_stamp(&end)) {
                    whole_ms.push((b - a) * 1000.0);
                }
            }
            Err(e) => {
                problem = Some(e.lines().next().unwrap_or("").to_string());
                break;
            }
        }
    }
    vm.kill();
    let what = format!("{label}: director reload (SIGHUP), no change");
    match problem {
        Some(e) if apply_ms.is_empty() => section.rows.push(Row::not_measured(ITEM, what, &e)),
        _ => {
            let median = crate::report::median(&apply_ms);
            section.rows.push(Row::judged(
                ITEM,
                what,
                format!(
                    "apply_ms {}; whole reload {} (reading the file included)",
                    crate::report::spread(&apply_ms, "ms", 0),
                    crate::report::spread(&whole_ms, "ms", 0)
                ),
                format!("≤ {TARGET_NO_CHANGE_MS:.0} ms"),
                median <= TARGET_NO_CHANGE_MS,
            ));
        }
    }
    section.notes.push(format!(
        "Method (director reload, {label}): a VM of its own boots with the {label} \
         services as its router.toml (on the boot partition of a copy of router.img, \
         as on a flashed box; `[service.health_check] type = \"none\"`, \
         since nothing in the lab answers on the real servers' port 80), then gets \
         SIGHUP three times with the file unchanged. `apply_ms` is PID 1's own figure \
         on its `reload:` line (links, addresses, IPVS, sysctls); PID 1 is the only \
         writer of the box's IPVS table, so when the services are those it last put \
         in place in full it neither reads the table back nor sends anything. \
         \"Whole reload\" is from the `SIGHUP` console line to the `reload:` line, \
         reading and validating the file included."
    ));
    section
}

/// The guest uptime of a console line (`[    1.234] ...` → 1.234).
fn uptime_stamp(line: &str) -> Option<f64> {
    let inside = line.strip_prefix('[')?.split(']').next()?;
    inside.trim().parse().ok()
}

fn one_size(vm: &Vm, size: Size) -> Result<Figures, String> {
    let name = size.name();
    let path = |suffix: &str| format!("{DIR}/{name}{suffix}");
    // Fresh applies, ipvsadm -R and ours alternating, best of
    // FRESH_ROUNDS each: other work on the host slows an emulated CPU down
    // for seconds at a time, and the best run is the one least disturbed.
    let mut restore = f64::INFINITY;
    let mut ours = f64::INFINITY;
    let mut ours_internal_ms = f64::INFINITY;
    let mut same_table = true;
    for round in 0..FRESH_ROUNDS {
        eprintln!("bench: apply {}: ipvsadm -R", size.label());
        shell_ok(vm, "ipvsadm -C")?;
        let t = timed_ok(vm, &format!("ipvsadm -R <{}", path(".restore")))?;
        restore = restore.min(t.seconds);
        if round == 0 {
            shell_ok(vm, &format!("ipvsadm -Sn | sort >{}", path(".classic")))?;
        }
        eprintln!("bench: apply {}: lvsinit apply", size.label());
        shell_ok(vm, "ipvsadm -C")?;
        let t = timed_ok(vm, &format!("lvsinit apply --only ipvs {}", path(".toml")))?;
        ours = ours.min(t.seconds);
        ours_internal_ms = ours_internal_ms.min(apply_ms(&t.log).0);
        if round == 0 {
            shell_ok(vm, &format!("ipvsadm -Sn | sort >{}", path(".ours")))?;
            same_table = vm
                .shell(
                    &format!("cmp -s {} {}", path(".classic"), path(".ours")),
                    LIMIT,
                )
                .map(|(_, status)| status == 0)?;
        }
    }
    // Reading and checking the file alone: what the whole command spends
    // before it talks to the kernel.
    let check = timed_ok(vm, &format!("lvsinit check {}", path(".toml")))?;
    let (lines, _) = vm.shell(&format!("wc -l <{}", path(".ours")), LIMIT)?;
    let lines: usize = lines.trim().parse().unwrap_or(0);
    if lines != size.rules() {
        return Err(format!(
            "our apply left {lines} rules in the table, expected {}",
            size.rules()
        ));
    }

    eprintln!("bench: apply {}: re-apply, no change", size.label());
    let apply = |file: &str| format!("lvsinit apply --only ipvs {file}");
    let loop_of = |body: String| {
        format!("i=0; while [ $i -lt {REPEAT} ]; do {body} || exit 1; i=$((i+1)); done")
    };
    let no_change = timed_ok(vm, &loop_of(apply(&path(".toml"))))?;
    let (no_change_ms_sum, n) = apply_ms(&no_change.log);
    let no_change_internal_ms = no_change_ms_sum / n.max(1) as f64;

    eprintln!("bench: apply {}: re-apply, one weight", size.label());
    let one_weight = timed_ok(
        vm,
        &loop_of(format!(
            "if [ $((i % 2)) -eq 0 ]; then {}; else {}; fi",
            apply(&path("-w.toml")),
            apply(&path(".toml"))
        )),
    )?;
    let (one_weight_ms_sum, n) = apply_ms(&one_weight.log);
    let one_weight_internal_ms = one_weight_ms_sum / n.max(1) as f64;
    let edit = |w: u32| format!("ipvsadm -e -t {} -r {} -m -w {w}", vip(0), real_server(0));
    let classic_edit = timed_ok(
        vm,
        &loop_of(format!(
            "if [ $((i % 2)) -eq 0 ]; then {}; else {}; fi",
            edit(2),
            edit(1)
        )),
    )?;

    eprintln!("bench: apply {}: one ipvsadm per rule", size.label());
    shell_ok(vm, "ipvsadm -C")?;
    let full = std::env::var_os("LVSINIT_BENCH_FULL").is_some() || size.rules() <= PER_RULE_SAMPLE;
    let per_rule = if full {
        timed_ok(vm, &format!("sh {}", path(".sh")))?.seconds
    } else {
        shell_ok(
            vm,
            &format!(
                "head -n {PER_RULE_SAMPLE} {} >{}",
                path(".sh"),
                path(".part.sh")
            ),
        )?;
        let part = timed_ok(vm, &format!("sh {}", path(".part.sh")))?;
        part.seconds * size.rules() as f64 / PER_RULE_SAMPLE as f64
    };
    shell_ok(vm, "ipvsadm -C")?;

    Ok(Figures {
        size,
        ours,
        ours_internal_ms,
        check: check.seconds,
        restore,
        per_rule,
        per_rule_extrapolated: (!full).then_some(PER_RULE_PART),
        same_table,
        no_change: no_change.seconds / REPEAT as f64,
        no_change_internal_ms,
        one_weight: one_weight.seconds / REPEAT as f64,
        one_weight_internal_ms,
        classic_edit: classic_edit.seconds / REPEAT as f64,
    })
}

/// What the 1,000 × 10 figures say about the targets.
fn holding_back(f: &Figures) -> String {
    let speedup = f.restore / f.ours;
    let without_reading = f.restore / (f.ours_internal_ms / 1000.0);
    format!(
        "What holds it back (1,000 × 10). Ours took {} against {} for `ipvsadm -R` \
         ({speedup:.1}×). Of ours, {} is reading and validating the 780 kB router.toml \
         (`lvsinit check` alone) and {:.0} ms the apply itself; even with the file read \
         for free the ratio would be {without_reading:.1}×. The apply already sends its \
         11,000 requests pipelined, hundreds per system call, where `ipvsadm -R` waits \
         for each rule's acknowledgement; what is left is mostly the emulated kernel's \
         own work per rule (allocating each service and real server with its per-CPU \
         counters, whose allocator's search showed in a guest profile, hashing it, \
         starting its rate estimator), which `ipvsadm -R` pays too. Reading the file \
         is the TOML parser and the config walk: natively `lvsinit check` of this file \
         is 220 M instructions (callgrind), about a third in the TOML parser, the rest \
         key paths, their positions for diagnostics and allocation. A re-apply by \
         `lvsinit apply` with no change ({:.0} ms) reads the whole table back first: \
         one dump request per virtual service for its real servers, 11,000 entries \
         decoded and compared; PID 1's own reload (the row \"director reload\") \
         skips that when the services are those it put in place last.",
        ms(f.ours),
        ms(f.restore),
        ms(f.check),
        f.ours_internal_ms,
        f.no_change_internal_ms,
    )
}

fn ms(seconds: f64) -> String {
    format!("{:.0} ms", seconds * 1000.0)
}

fn rows(section: &mut Section, f: &Figures) {
    let label = f.size.label();
    let speedup = f.restore / f.ours;
    let per_rule_speedup = f.per_rule / f.ours;
    let per_rule = match f.per_rule_extrapolated {
        Some(n) => format!("≈{} (from the first {n} commands)", ms(f.per_rule)),
        None => ms(f.per_rule),
    };
    let result = format!(
        "ours {} (apply itself {:.0} ms, reading the file {}); ipvsadm -R {} \
         ({speedup:.1}× ours); one process per rule {per_rule} ({per_rule_speedup:.0}× \
         ours); same table: {}",
        ms(f.ours),
        f.ours_internal_ms,
        ms(f.check),
        ms(f.restore),
        if f.same_table { "yes" } else { "NO" }
    );
    let what = format!("{label}: fresh apply, ours vs ipvsadm -R vs per rule");
    if f.size.services == 1000 && f.size.real_servers == 10 {
        section.rows.push(Row::judged(
            ITEM,
            what,
            result,
            format!("≥ {TARGET_SPEEDUP}× faster than ipvsadm -R"),
            speedup >= TARGET_SPEEDUP,
        ));
    } else {
        section.rows.push(Row::info(ITEM, what, result));
    }
    let what = format!("{label}: re-apply, no change");
    let result = format!(
        "apply itself {:.1} ms; whole command {} (parse, dump, compare)",
        f.no_change_internal_ms,
        ms(f.no_change)
    );
    if f.size.services == 1000 && f.size.real_servers == 10 {
        section.rows.push(Row::judged(
            ITEM,
            what,
            result,
            format!("≤ {TARGET_NO_CHANGE_MS} ms"),
            f.no_change_internal_ms <= TARGET_NO_CHANGE_MS,
        ));
    } else {
        section.rows.push(Row::info(ITEM, what, result));
    }
    section.rows.push(Row::info(
        ITEM,
        format!("{label}: re-apply, one weight changed"),
        format!(
            "apply itself {:.1} ms; whole command {}; classic `ipvsadm -e` {}",
            f.one_weight_internal_ms,
            ms(f.one_weight),
            ms(f.classic_edit)
        ),
    ));
}
