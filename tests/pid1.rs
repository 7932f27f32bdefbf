//! The init's PID-1 duties, checked inside the booted appliance: what it
//! mounts, that it adopts and reaps orphans, that the classic init
//! signals end the machine the classic way (SIGTERM reboots, SIGUSR1 halts,
//! SIGUSR2 powers off), each after telling the console, that the
//! hardware watchdog resets a box whose director stops, that the next
//! boot knows why the last one ended, and that the clock is set from NTP.
//!
//! Each test boots the director of the lab (test layer, debug shell on the
//! second serial port) with `testkit/configs/classic.toml`; no real
//! servers are needed. Needs root, QEMU and a built image (`image/build
//! --test-layer`); fails loudly, never skips, when one is missing.

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use testkit::Netns;
use testkit::lab::{Lab, SERVER_BRIDGE, VmOptions};

const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// UEFI firmware under TCG is much slower.
const UEFI_BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// VMs under TCG on two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A lab with just the director, booted to `ready`.
fn booted() -> Lab {
    let mut lab = Lab::new();
    let config = testkit::config("classic.toml");
    lab.start_vm(VmOptions::director(config));
    lab.vms[0]
        .wait_for("ready boot_ms=", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    lab
}

/// Fields of `/proc/PID/stat` after the command name: state, ppid, ...
fn stat_fields(stat: &str) -> Vec<String> {
    let after = stat.rfind(')').map_or(stat, |i| &stat[i + 1..]);
    after.split_whitespace().map(str::to_string).collect()
}

#[test]
fn boot_mounts_are_in_place() {
    let _serial = one_at_a_time();
    let lab = booted();
    // The open files limit is raised from the kernel's 1,024 (enough for
    // the probes of 10,000 real servers and the API).
    let limits = lab.vms[0].shell_ok("cat /proc/1/limits");
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("no open files limit in {limits}"))
        .split_whitespace()
        .collect();
    assert_eq!(open_files[3..5], ["65536", "65536"], "{limits}");
    let mounts = lab.vms[0].shell_ok("cat /proc/mounts");
    for (target, fstype) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev", "devtmpfs"),
        ("/dev/pts", "devpts"),
        ("/run", "tmpfs"),
        ("/tmp", "tmpfs"),
    ] {
        assert!(
            mounts.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 2 && f[1] == target && f[2] == fstype
            }),
            "{fstype} not mounted on {target}:\n{mounts}"
        );
    }
    // A -kernel boot under SeaBIOS has no UEFI: efivarfs is left out.
    assert!(
        !mounts.contains("efivarfs"),
        "efivarfs mounted without UEFI:\n{mounts}"
    );
    let lo = lab.vms[0].shell_ok("cat /sys/class/net/lo/flags");
    let flags = u32::from_str_radix(lo.trim().trim_start_matches("0x"), 16)
        .unwrap_or_else(|e| panic!("lo flags {lo:?}: {e}"));
    assert_eq!(flags & 1, 1, "lo is not up (flags {lo})");
}

/// On a UEFI boot PID 1 mounts efivarfs, where A/B updates read and write
/// the boot manager's variables (src/update/efi.rs). OVMF boots the
/// test layer's `-kernel` (its own loader, through the EFI stub), so the
/// box is a UEFI one and the debug shell is there to look.
#[test]
fn efivarfs_is_mounted_on_a_uefi_boot() {
    let _serial = one_at_a_time();
    let mut lab = Lab::new();
    let code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
    // The firmware writes its variable store: a copy of its own.
    let vars = lab.dir().join("OVMF_VARS_4M.fd");
    std::fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &vars)
        .unwrap_or_else(|e| panic!("OVMF's variable store (apt-get install ovmf): {e}"));
    let mut options = VmOptions::director(testkit::config("classic.toml"));
    options.extra_args = vec![
        "-drive".into(),
        format!("if=pflash,format=raw,unit=0,readonly=on,file={code}"),
        "-drive".into(),
        format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
    ];
    lab.start_vm(options);
    let vm = &lab.vms[0];
    vm.wait_for("ready boot_ms=", UEFI_BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let mounts = vm.shell_ok("cat /proc/mounts");
    assert!(
        mounts.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3
                && f[..3] == ["efivarfs", "/sys/firmware/efi/efivars", "efivarfs"]
                && f[3].split(',').any(|o| o == "rw")
        }),
        "efivarfs not mounted read-write on /sys/firmware/efi/efivars:\n{mounts}"
    );
    // The firmware's own variables are there, under their names.
    let names = vm.shell_ok("ls /sys/firmware/efi/efivars");
    assert!(
        names
            .lines()
            .any(|n| n == "BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c"),
        "no BootOrder among the firmware's variables:\n{names}"
    );
}

/// An orphan is adopted by PID 1 and, once it ends, reaped: no zombie is
/// left behind.
#[test]
fn orphans_are_adopted_and_reaped() {
    let _serial = one_at_a_time();
    let lab = booted();
    let vm = &lab.vms[0];
    // The subshell exits at once, leaving its background sleeps orphaned.
    let pids = vm.shell_ok("sh -c 'sleep 2 & echo $!; sleep 2 & echo $!; exit 0'");
    let pids: Vec<u32> = pids
        .split_whitespace()
        .map(|p| p.parse().unwrap_or_else(|e| panic!("pid {p:?}: {e}")))
        .collect();
    assert_eq!(pids.len(), 2, "two background pids");
    for pid in &pids {
        let stat = vm.shell_ok(&format!("cat /proc/{pid}/stat"));
        let fields = stat_fields(&stat);
        assert_eq!(fields[1], "1", "orphan {pid} not adopted by PID 1: {stat}");
    }
    // After they end, nothing of them is left: not even a zombie.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: Vec<String> = pids
            .iter()
            .filter_map(|pid| {
                let (out, status) = vm
                    .shell(&format!("cat /proc/{pid}/stat"), Duration::from_secs(30))
                    .unwrap_or_else(|e| panic!("{e}"));
                (status == 0).then_some(out)
            })
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "not reaped after 30 s: {left:?}");
        thread::sleep(Duration::from_millis(500));
    }
    let zombies = vm.shell_ok("for f in /proc/[0-9]*/stat; do read -r l < $f && echo \"$l\"; done");
    let zombies: Vec<&str> = zombies
        .lines()
        .filter(|l| stat_fields(l).first().map(String::as_str) == Some("Z"))
        .collect();
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
}

/// Send `signal` to PID 1 and wait for the console to say `announced` and
/// the kernel to say `kernel_says`. `exits`: whether QEMU then ends (it is
/// started with -no-reboot, so a reboot ends it too; a halt leaves it up).
fn signal_ends_machine(signal: &str, announced: &str, kernel_says: &str, exits: bool) {
    let _serial = one_at_a_time();
    let lab = booted();
    let vm = &lab.vms[0];
    let mark = vm.mark();
    // The shell may not get to answer: the machine is going down.
    let _ = vm.shell(&format!("kill -{signal} 1"), Duration::from_secs(5));
    vm.wait_for_after(mark, announced, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    vm.wait_for_after(mark, kernel_says, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while exits && vm.is_running() {
        assert!(
            Instant::now() < deadline,
            "qemu still running 30 s after `{kernel_says}`:\n{}",
            vm.console()
        );
        thread::sleep(Duration::from_millis(200));
    }
    let console = vm.console();
    assert!(
        !console.contains("Kernel panic"),
        "the kernel panicked instead:\n{console}"
    );
}

#[test]
fn sigterm_reboots() {
    signal_ends_machine(
        "TERM",
        "shutdown: Reboot",
        "reboot: Restarting system",
        true,
    );
}

#[test]
fn sigusr1_halts() {
    signal_ends_machine("USR1", "shutdown: Halt", "reboot: System halted", false);
}

#[test]
fn sigusr2_powers_off() {
    signal_ends_machine("USR2", "shutdown: PowerOff", "reboot: Power down", true);
}

/// Ctrl-alt-del reaches PID 1 as SIGINT: a clean reboot, not the kernel's
/// instant one.
#[test]
fn sigint_reboots() {
    signal_ends_machine("INT", "shutdown: Reboot", "reboot: Restarting system", true);
}

/// `[watchdog]` with QEMU's i6300ESB: while the director's loop runs, three
/// timeouts go by without a reset; the test layer's hook stops the loop,
/// and the watchdog resets the box, which boots again to `ready`.
#[test]
fn watchdog_resets_a_wedged_director() {
    let _serial = one_at_a_time();
    let mut lab = Lab::new();
    let classic = std::fs::read_to_string(testkit::config("classic.toml")).unwrap();
    let config = lab.write_file(
        "watchdog.toml",
        &format!("{classic}\n[watchdog]\ntimeout = \"5s\"\n"),
    );
    let mut options = VmOptions::director(config);
    options.extra_args = vec!["-device".into(), "i6300esb".into()];
    options.reboot = true;
    lab.start_vm(options);
    let vm = &lab.vms[0];
    let step = |pattern: &str, timeout: Duration| {
        vm.wait_next(pattern, timeout)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    step("started as PID 1", BOOT_TIMEOUT);
    step("watchdog: /dev/watchdog armed, 60 s", BOOT_TIMEOUT);
    step("watchdog: 5 s", BOOT_TIMEOUT);
    step("ready boot_ms=", BOOT_TIMEOUT);

    // Three timeouts and more, petted: no second boot.
    let mark = vm.mark();
    thread::sleep(Duration::from_secs(16));
    let again: Vec<String> = vm
        .lines_after(mark)
        .into_iter()
        .filter(|l| l.contains("started as PID 1"))
        .collect();
    assert!(
        again.is_empty(),
        "a reset while petted: {again:?}\n{}",
        vm.console()
    );

    let (_, code) = vm
        .shell("kill -WINCH 1", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code, 0);
    step(
        "test hook: the director's loop stops here",
        Duration::from_secs(10),
    );
    let wedged = Instant::now();
    // The i6300ESB's two stages of 5 s each, then the firmware and kernel.
    step("started as PID 1", BOOT_TIMEOUT);
    let reset_after = wedged.elapsed();
    step("boot: why: watchdog", BOOT_TIMEOUT);
    assert!(
        reset_after < Duration::from_secs(60),
        "the reset took {reset_after:?} (two 5 s stages and a boot)"
    );
    step("ready boot_ms=", BOOT_TIMEOUT);
    eprintln!("watchdog: reset and booted again {reset_after:?} after the wedge");
}

/// Why the box last booted, from what pstore kept in RAM over a reset
/// (`src/boot_reason.rs`): one VM, three boots. A cold start says
/// power_on; after SIGTERM (a reboot asked for) the next boot says reboot;
/// after the kernel panics (sysrq `c`; `panic=10` reboots it) the next
/// boot says panic and quotes the kernel's panic line.
#[test]
fn boot_reason_tells_power_on_reboot_and_panic_apart() {
    let _serial = one_at_a_time();
    let mut lab = Lab::new();
    let mut options = VmOptions::director(testkit::config("classic.toml"));
    options.reboot = true;
    lab.start_vm(options);
    let vm = &lab.vms[0];
    let step = |pattern: &str| {
        vm.wait_next(pattern, BOOT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    step("started as PID 1");
    step("boot: why: power_on");
    step("ready boot_ms=");

    // The shell may not get to answer: the machine is going down.
    let _ = vm.shell("kill -TERM 1", Duration::from_secs(5));
    step("shutdown: Reboot");
    step("started as PID 1");
    step("boot: why: reboot");
    step("ready boot_ms=");

    // A new boot, a new shell on the debug serial.
    vm.forget_shell();
    let _ = vm.shell("echo c > /proc/sysrq-trigger", Duration::from_secs(5));
    step("Kernel panic - not syncing");
    let line = step("boot: why: panic");
    assert!(
        line.contains("(Kernel panic - not syncing: sysrq triggered crash)"),
        "the panic's line is not quoted: {line}"
    );
    step("ready boot_ms=");
    let again: Vec<String> = vm
        .console()
        .lines()
        .filter(|l| l.contains("boot: why:"))
        .map(str::to_string)
        .collect();
    assert_eq!(again.len(), 3, "one verdict per boot: {again:?}");
}

/// `[time]`: a real NTP server (Debian's chrony, serving its own clock,
/// `-x`: it never touches the host's) on the lan side, and a box whose RTC
/// starts in 2020. The director sets the clock from the server, says by
/// how much, and writes it back to the RTC; console lines carry UTC after.
#[test]
fn ntp_sets_a_clock_that_was_years_off() {
    let _serial = one_at_a_time();
    let mut lab = Lab::new();
    let ntp = Netns::with_loopback(&lab.ns().name().replace("-lab", "-ntp"));
    lab.ns().plug(SERVER_BRIDGE, "vntp", &ntp, "eth0");
    ntp.ip(&["addr", "add", "192.168.3.9/24", "dev", "eth0"]);
    ntp.ip(&["link", "set", "eth0", "up"]);
    let dir = lab.dir().to_path_buf();
    let conf = lab.write_file(
        "chrony.conf",
        &format!(
            "local stratum 8\nallow 192.168.3.0/24\nport 123\ncmdport 0\npidfile {}\n",
            dir.join("chronyd.pid").display()
        ),
    );
    let log = std::fs::File::create(dir.join("chronyd.log")).unwrap();
    let mut chronyd = ntp
        .command("chronyd")
        .args(["-d", "-x", "-u", "root", "-f"])
        .arg(&conf)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("chronyd (apt-get install chrony)");

    let classic = std::fs::read_to_string(testkit::config("classic.toml")).unwrap();
    let config = lab.write_file(
        "time.toml",
        &format!("{classic}\n[time]\nntp_servers = [\"192.168.3.9\"]\n"),
    );
    let mut options = VmOptions::director(config);
    options.extra_args = vec!["-rtc".into(), "base=2020-01-01T00:00:00".into()];
    lab.start_vm(options);
    let vm = &lab.vms[0];
    let set = vm
        .wait_for("time: clock set to ", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(set.contains("from 192.168.3.9 (stratum "), "{set}");
    // It was about seven years behind.
    let off: f64 = set
        .rsplit("it was ")
        .next()
        .and_then(|t| t.trim_end_matches(" s off").parse().ok())
        .unwrap_or_else(|| panic!("no offset in {set:?}"));
    assert!(off > 5.0 * 365.0 * 86_400.0, "{set}");

    let host = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let read = |command: &str| -> i64 {
        let out = vm.shell_ok(command);
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{command}: {out:?}"))
    };
    let clock = read("date -u +%s");
    assert!(
        (clock - host()).abs() < 30,
        "clock {clock}, host {}",
        host()
    );
    let rtc = read("cat /sys/class/rtc/rtc0/since_epoch");
    assert!((rtc - host()).abs() < 30, "RTC {rtc}, host {}", host());

    // From now on console lines carry UTC instead of seconds since boot.
    let mark = vm.mark();
    vm.shell_ok("kill -HUP 1");
    let line = vm
        .wait_for_after(mark, "SIGHUP: reloading the config", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let stamp = line
        .strip_prefix('[')
        .and_then(|l| l.split_once("] "))
        .map(|(s, _)| s)
        .unwrap_or_else(|| panic!("no stamp on {line:?}"));
    let year: i64 = stamp.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0);
    assert!(
        stamp.len() == 24 && stamp.ends_with('Z') && &stamp[10..11] == "T" && year >= 2026,
        "not a UTC stamp after the clock was set: {line:?}"
    );

    let _ = chronyd.kill();
    let _ = chronyd.wait();
    drop(ntp);
}
