//! End-to-end: two directors, one VIP. VRRP version 3 elects the master,
//! which holds the virtual addresses (the VIP 192.168.1.100 and the real
//! servers' gateway 192.168.3.1); the kernel's IPVS sync daemon copies its
//! connections to the backup.
//!
//! ```text
//!   client 192.168.1.10 ─ brc ─┬─ A wan 192.168.1.2   (priority 150, preempt_delay 30s)
//!                              └─ B wan 192.168.1.3   (priority 100)
//!                        brs ─┬─ A lan 192.168.3.252
//!                             ├─ B lan 192.168.3.253
//!                             ├─ rs1 192.168.3.2 postgres   (gateway 192.168.3.1, a VIP)
//!                             └─ rs2 192.168.3.3 postgres
//! ```
//!
//! Configs: `testkit/configs/vrrp-a.toml` and `vrrp-b.toml`; each has a
//! `[management]` API on its own address and on the VIP, whose `/status`
//! must say each box's VRRP state, and whose VIP listener must be the
//! master's. Needs root,
//! QEMU, PostgreSQL 15 and a built image, like `e2e_classic.rs`; two TCG
//! VMs at once on two cores are slow, so every wait is generous (it ends
//! as soon as what it waits for happens). Timings are measured and
//! printed, never asserted tightly.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use testkit::config;
use testkit::lab;
use testkit::lab::{Lab, Nic, Probe, VIP, Vm, VmOptions};

/// The management API of A, of B, and on the VIP (whoever is master).
const API_A: &str = "192.168.1.2:9100";
const API_B: &str = "192.168.1.3:9100";
const API_VIP: &str = "192.168.1.100:9100";

/// Two VMs booting at once under TCG on two cores.
const BOOT_TIMEOUT: Duration = Duration::from_secs(420);
/// Waiting for a VRRP state change: the protocol needs seconds, the
/// preempt delay of A 30 s; TCG and a loaded host stretch both.
const VRRP_TIMEOUT: Duration = Duration::from_secs(180);
/// The configs' advert interval.
const ADVERT_INTERVAL: Duration = Duration::from_secs(1);
/// B's priority: its skew time is (256 - 100) / 256 of the interval.
const B_PRIORITY: u32 = 100;
/// A bound for a client-observed takeover gap that only a broken failover
/// exceeds (the protocol's own is 3 x 1 s + skew, about 3.6 s).
const GENEROUS_GAP: Duration = Duration::from_secs(45);
/// The virtual addresses of both configs, as `ip addr` shows them.
const VIPS: [&str; 2] = ["192.168.1.100/24", "192.168.3.1/24"];

/// VMs under TCG on two cores: one lab at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `/status` of the API at `api`, from the client: the hostname and the
/// VRRP state it reports; `None` when it does not answer.
fn vrrp_status(lab: &Lab, api: &str) -> Option<(String, String)> {
    let url = format!("http://{api}/status");
    let out = lab
        .client
        .ns()
        .exec(&["curl", "-sSf", "--max-time", "5", &url]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    Some((text(&status["hostname"])?, text(&status["vrrp"]["state"])?))
}

/// Poll until `/status` of A, of B and on the VIP say `expected`
/// (hostname and VRRP state each), or fail after [`VRRP_TIMEOUT`].
fn wait_for_status(lab: &Lab, expected: [(&str, &str); 3]) {
    let deadline = Instant::now() + VRRP_TIMEOUT;
    loop {
        let got = [API_A, API_B, API_VIP].map(|api| vrrp_status(lab, api));
        let want = expected.map(|(h, s)| Some((h.to_string(), s.to_string())));
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/status of A, B and the VIP say {got:?}, expected {want:?}"
        );
        thread::sleep(Duration::from_millis(500));
    }
}

/// One director of the pair: its config and its NICs' MACs.
struct Director {
    config: &'static str,
    wan_mac: &'static str,
    lan_mac: &'static str,
}

const A: Director = Director {
    config: "vrrp-a.toml",
    wan_mac: "52:54:00:00:01:02",
    lan_mac: "52:54:00:00:03:02",
};
const B: Director = Director {
    config: "vrrp-b.toml",
    wan_mac: "52:54:00:00:01:03",
    lan_mac: "52:54:00:00:03:03",
};

/// Boot `director` (test layer, config by fw_cfg); its index in `lab.vms`.
fn boot(lab: &mut Lab, director: &Director) -> usize {
    let options = VmOptions {
        config: Some(config(director.config)),
        nics: vec![
            Nic {
                bridge: lab::CLIENT_BRIDGE,
                mac: director.wan_mac.to_string(),
                slot: None,
            },
            Nic {
                bridge: lab::SERVER_BRIDGE,
                mac: director.lan_mac.to_string(),
                slot: None,
            },
        ],
        test_layer: true,
        ..VmOptions::default()
    };
    lab.start_vm(options)
}

fn wait(vm: &Vm, from: usize, pattern: &str, timeout: Duration) -> String {
    vm.wait_for_after(from, pattern, timeout)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The IPv4 addresses of every interface of the VM, as `ip addr` shows
/// them (`192.168.1.100/24`), read through the debug shell.
fn addresses(vm: &Vm) -> BTreeSet<String> {
    let out = vm.shell_ok("ip -o -4 addr show");
    out.split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "inet")
        .map(|w| w[1].to_string())
        .collect()
}

/// Which of the virtual addresses the VM holds.
fn vips_held(vm: &Vm) -> Vec<&'static str> {
    let held = addresses(vm);
    VIPS.into_iter().filter(|v| held.contains(*v)).collect()
}

/// Wait until the VM holds exactly `expected` of the virtual addresses
/// (the master adds them right after its console line, the backup removes
/// them right after its own).
fn wait_for_vips(vm: &Vm, name: &str, expected: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held = vips_held(vm);
        if held == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} holds {held:?} of the VIPs, expected {expected:?}; its addresses: {:?}\nconsole:\n{}",
            addresses(vm),
            vm.console()
        );
        thread::sleep(Duration::from_millis(500));
    }
}

/// The sync daemon lines of `ipvsadm -L --daemon` in the VM.
fn sync_daemons(vm: &Vm) -> String {
    vm.shell_ok("ipvsadm -L --daemon").trim().to_string()
}

/// Wait until the VM runs exactly one sync daemon, of `role`, on lan with
/// sync id 51.
fn wait_for_sync_daemon(vm: &Vm, name: &str, role: &str) {
    let expected = format!("{role} sync daemon (mcast=lan, syncid=51");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let daemons = sync_daemons(vm);
        if daemons.lines().count() == 1 && daemons.starts_with(&expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: expected only `{expected}...`, ipvsadm -L --daemon says:\n{daemons}\nconsole:\n{}",
            vm.console()
        );
        thread::sleep(Duration::from_millis(500));
    }
}

/// True when the VM's IPVS connection table (`ipvsadm -Lnc`) has the
/// connection from `client` (IP:port).
/// Filtered in the VM: the table also holds every short connection of the
/// probe, too long a listing for the serial line.
fn has_connection(vm: &Vm, client: &str) -> bool {
    connection_lines(vm, client)
        .lines()
        .any(|l| l.split_whitespace().any(|w| w == client))
}

/// The lines of `ipvsadm -Lnc` in the VM that mention `client`.
fn connection_lines(vm: &Vm, client: &str) -> String {
    let command = format!("ipvsadm -Lnc | grep -F ' {client} '");
    match vm.shell(&command, Duration::from_secs(30)) {
        // grep exits 1 when no line matches.
        Ok((out, 0 | 1)) => out,
        Ok((out, status)) => panic!("`{command}` in the VM exited {status}:\n{out}"),
        Err(e) => panic!("`{command}` in the VM: {e}\nconsole:\n{}", vm.console()),
    }
}

/// `3 × interval + skew` of B, the bound the protocol promises.
fn master_down_interval_of_b() -> Duration {
    ADVERT_INTERVAL * 3 + ADVERT_INTERVAL * (256 - B_PRIORITY) / 256
}

/// Every VM's `vrrp: ` console lines: who was what, when (each by its own
/// clock).
fn vrrp_history(lab: &Lab) -> String {
    let mut out = String::new();
    for (i, vm) in lab.vms.iter().enumerate() {
        for line in vm.lines_after(0).iter().filter(|l| l.contains("vrrp: ")) {
            out.push_str(&format!("vm{i} {line}\n"));
        }
    }
    out
}

/// Console lines that should never appear on a healthy director.
fn alarming(console: &str) -> Vec<&str> {
    console
        .lines()
        .filter(|l| {
            l.contains("Kernel panic")
                || l.contains("BUG")
                || l.contains("Oops")
                || l.contains("WARNING:")
        })
        .collect()
}

/// The whole story of a pair of directors:
/// 1. the higher priority (A) becomes master: console, VIPs on A only,
///    sync daemons master on A and backup on B; a reload of the same config
///    changes nothing; A's lan link down makes A FAULT and B master, and
///    back up A takes over again after its preempt_delay;
/// 2. a psql session is opened through the VIP and its connection reaches
///    B's connection table (connection sync);
/// 3. A's QEMU is killed: B serves the VIP after about 3 × interval + skew
///    (measured by a client probing every 50 ms, printed, asserted only
///    against a generous bound), and the session still answers on the
///    same backend;
/// 4. A boots again and, after its preempt_delay, takes the VIPs back; the
///    session still answers on the same backend. What holds here: a master's
///    sync daemon sends a connection when it becomes established and then
///    again every 50 packets (the kernel's default sync_threshold, 3 50), so
///    a director that joins later learns an open connection only once it
///    carries traffic. The test makes the session carry it during A's
///    preempt_delay and checks A's table has it before A takes over; a
///    session idle through that window would be reset by A (no entry);
/// 5. a clean shutdown of A (SIGTERM to PID 1) sends a priority-0 advert:
///    B takes over saying the master resigned.
#[test]
fn two_directors_fail_over_and_back_keeping_sessions() {
    let _serial = one_at_a_time();
    let mut lab = Lab::new();
    let a = boot(&mut lab, &A);
    let b = boot(&mut lab, &B);
    lab.add_real_servers(2);
    for (i, name) in [(a, "A"), (b, "B")] {
        let vm = &lab.vms[i];
        wait(vm, 0, "ready boot_ms=", BOOT_TIMEOUT);
        eprintln!("{name}: ready");
    }

    // 1. Election: A, with the higher priority, is master.
    let line = wait(&lab.vms[a], 0, "vrrp: MASTER", VRRP_TIMEOUT);
    eprintln!("A: {line}");
    wait_for_vips(&lab.vms[a], "A", &VIPS);
    wait_for_vips(&lab.vms[b], "B", &[]);
    let b_state = lab.vms[b]
        .lines_after(0)
        .into_iter()
        .rfind(|l| l.contains("vrrp: "))
        .unwrap_or_default();
    assert!(
        b_state.contains("vrrp: BACKUP"),
        "B's last VRRP line is {b_state:?}, expected BACKUP:\n{}",
        lab.vms[b].console()
    );
    wait_for_sync_daemon(&lab.vms[a], "A", "master");
    wait_for_sync_daemon(&lab.vms[b], "B", "backup");
    let rr: BTreeSet<String> = (0..4)
        .map(|_| {
            lab.client
                .server_addr(VIP)
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    assert_eq!(rr.len(), 2, "rr through A over both real servers: {rr:?}");
    // The management API says the same; the one on the VIP is A's.
    wait_for_status(
        &lab,
        [
            ("lab-vrrp-a", "MASTER"),
            ("lab-vrrp-b", "BACKUP"),
            ("lab-vrrp-a", "MASTER"),
        ],
    );

    // 1b. A reload of the unchanged config leaves VRRP alone: no new
    // state, the VIPs stay on A.
    let a_mark = lab.vms[a].mark();
    lab.vms[a].shell_ok("kill -HUP 1");
    let line = wait(&lab.vms[a], a_mark, "reload: ", Duration::from_secs(60));
    eprintln!("A: {line}");
    thread::sleep(ADVERT_INTERVAL * 3);
    let changes: Vec<String> = lab.vms[a]
        .lines_after(a_mark)
        .into_iter()
        .filter(|l| l.contains("vrrp: ") || l.contains("removed"))
        .collect();
    assert!(
        changes.is_empty(),
        "a no-op reload changed VRRP: {changes:#?}"
    );
    wait_for_vips(&lab.vms[a], "A", &VIPS);

    // 1c. One of A's interfaces goes down: A goes to FAULT and B takes
    // over; back up, A is backup, then master again after its
    // preempt_delay.
    let (a_mark, b_mark) = (lab.vms[a].mark(), lab.vms[b].mark());
    lab.vms[a].shell_ok("ip link set lan down");
    eprintln!(
        "A: {}",
        wait(&lab.vms[a], a_mark, "vrrp: FAULT", VRRP_TIMEOUT)
    );
    eprintln!(
        "B: {}",
        wait(&lab.vms[b], b_mark, "vrrp: MASTER", VRRP_TIMEOUT)
    );
    wait_for_vips(&lab.vms[a], "A", &[]);
    wait_for_vips(&lab.vms[b], "B", &VIPS);
    // /status after the failover: A in FAULT, the VIP's API is B's now.
    wait_for_status(
        &lab,
        [
            ("lab-vrrp-a", "FAULT"),
            ("lab-vrrp-b", "MASTER"),
            ("lab-vrrp-b", "MASTER"),
        ],
    );
    lab.vms[a].shell_ok("ip link set lan up");
    eprintln!(
        "A: {}",
        wait(&lab.vms[a], a_mark, "vrrp: BACKUP", VRRP_TIMEOUT)
    );
    eprintln!(
        "A: {}",
        wait(&lab.vms[a], a_mark, "vrrp: MASTER", VRRP_TIMEOUT)
    );
    eprintln!(
        "B: {}",
        wait(&lab.vms[b], b_mark, "vrrp: BACKUP", VRRP_TIMEOUT)
    );
    wait_for_vips(&lab.vms[a], "A", &VIPS);
    wait_for_vips(&lab.vms[b], "B", &[]);
    wait_for_sync_daemon(&lab.vms[a], "A", "master");
    wait_for_sync_daemon(&lab.vms[b], "B", "backup");

    // 2. A session through the VIP, synced to B.
    let mut session = lab.client.session(VIP).unwrap_or_else(|e| panic!("{e}"));
    let identify = "select inet_server_addr() || ' ' || pg_backend_pid()";
    let backend = session.query(identify).unwrap_or_else(|e| panic!("{e}"));
    let port = session
        .query("select inet_client_port()")
        .unwrap_or_else(|e| panic!("{e}"));
    let client = format!("{}:{port}", lab.client.addr);
    eprintln!("session {client} on backend {backend}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !has_connection(&lab.vms[b], &client) {
        assert!(
            Instant::now() < deadline,
            "B's connection table never got {client} from A's sync daemon:\n{}",
            lab.vms[b].shell_ok("ipvsadm -Lnc | head -20")
        );
        thread::sleep(Duration::from_secs(1));
    }
    eprintln!("B has the session's connection (synced)");

    // 3. Kill A: B takes over.
    let vip: SocketAddr = format!("{VIP}:5432").parse().unwrap();
    let probe = Probe::start(lab.client.ns().name(), vip);
    thread::sleep(Duration::from_secs(4));
    // A slow attempt on a loaded host is no failover: report, do not fail.
    eprintln!(
        "probe before the kill: {} of {} attempts did not connect",
        probe.failures(),
        probe.attempts()
    );
    assert!(
        probe.attempts() > probe.failures(),
        "the VIP never answered the probe before the kill; VRRP so far:\n{}",
        vrrp_history(&lab)
    );
    let b_mark = lab.vms[b].mark();
    let killed = Instant::now();
    lab.vms[a].kill();
    let line = wait(&lab.vms[b], b_mark, "vrrp: MASTER", VRRP_TIMEOUT);
    eprintln!("B: {line}");
    let (last_ok, first_ok) = probe
        .wait_outage(killed, VRRP_TIMEOUT)
        .unwrap_or_else(|| panic!("the VIP never answered again after A was killed"));
    let gap = first_ok - last_ok;
    eprintln!(
        "failover: client-observed gap {:.2}s (kill to first answer {:.2}s); \
         3 x interval + skew = {:.2}s",
        gap.as_secs_f64(),
        (first_ok - killed).as_secs_f64(),
        master_down_interval_of_b().as_secs_f64()
    );
    assert!(gap < GENEROUS_GAP, "failover took {gap:?}");
    wait_for_vips(&lab.vms[b], "B", &VIPS);
    wait_for_sync_daemon(&lab.vms[b], "B", "master");
    let after = session
        .query(identify)
        .unwrap_or_else(|e| panic!("the session broke in the failover: {e}"));
    assert_eq!(after, backend, "the same connection and backend through B");
    eprintln!("session survived the failover on backend {after}");

    // 4. A rejoins, gets the session's connection from B, and preempts.
    let b_mark = lab.vms[b].mark();
    let a = boot(&mut lab, &A);
    wait(&lab.vms[a], 0, "ready boot_ms=", BOOT_TIMEOUT);
    let line = wait(&lab.vms[a], 0, "vrrp: BACKUP", VRRP_TIMEOUT);
    eprintln!("A (rejoined): {line}");
    // Each query is a packet B's sync daemon counts; with the kernel's
    // default sync_threshold (3 50) the connection is sent again every 50,
    // and the master's sync daemon sends what it has at least every 2 s.
    let rejoined = Instant::now();
    let mut queries = 0;
    let synced = loop {
        for _ in 0..10 {
            session.query("select 1").unwrap_or_else(|e| panic!("{e}"));
        }
        queries += 10;
        if has_connection(&lab.vms[a], &client) {
            eprintln!(
                "A has the session's connection after {queries} queries in {:.1}s",
                rejoined.elapsed().as_secs_f64()
            );
            break true;
        }
        if queries >= 1000 || lab.vms[a].console().contains("vrrp: MASTER") {
            break false;
        }
    };
    assert!(
        synced,
        "A took over before B's sync daemon copied the session to it (or never got it):\n{}",
        lab.vms[a].shell_ok("ipvsadm -Lnc | head -20")
    );
    let failback_from = Instant::now();
    let line = wait(&lab.vms[a], 0, "vrrp: MASTER", VRRP_TIMEOUT);
    eprintln!("A: {line}");
    let line = wait(&lab.vms[b], b_mark, "vrrp: BACKUP", VRRP_TIMEOUT);
    eprintln!("B: {line}");
    wait_for_vips(&lab.vms[a], "A", &VIPS);
    wait_for_vips(&lab.vms[b], "B", &[]);
    wait_for_sync_daemon(&lab.vms[a], "A", "master");
    wait_for_sync_daemon(&lab.vms[b], "B", "backup");
    if let Some((last_ok, first_ok)) = probe.outage(failback_from) {
        eprintln!(
            "failback: client-observed gap {:.2}s",
            (first_ok - last_ok).as_secs_f64()
        );
    }
    let after = session
        .query(identify)
        .unwrap_or_else(|e| panic!("the session broke in the failback: {e}"));
    assert_eq!(
        after, backend,
        "the same connection and backend through A again"
    );
    eprintln!("session survived the failback on backend {after}");
    assert!(lab.client.server_addr(VIP).is_ok());

    // 5. A clean shutdown of the master hands over at once.
    let b_mark = lab.vms[b].mark();
    let stopped = Instant::now();
    lab.vms[a].shell_ok("kill -TERM 1");
    let line = wait(&lab.vms[b], b_mark, "vrrp: MASTER", VRRP_TIMEOUT);
    eprintln!("B: {line}");
    assert!(
        line.contains("resigned (priority 0)"),
        "B took over for another reason than A's priority-0 advert: {line}\nA's console:\n{}",
        lab.vms[a].console()
    );
    if let Some((last_ok, first_ok)) = probe.wait_outage(stopped, VRRP_TIMEOUT) {
        eprintln!(
            "clean handover: client-observed gap {:.2}s (skew time of B {:.2}s)",
            (first_ok - last_ok).as_secs_f64(),
            (ADVERT_INTERVAL * (256 - B_PRIORITY) / 256).as_secs_f64()
        );
    }
    wait_for_vips(&lab.vms[b], "B", &VIPS);
    drop(probe);
    drop(session);

    eprintln!("VRRP history:\n{}", vrrp_history(&lab));
    for (i, vm) in lab.vms.iter().enumerate() {
        let console = vm.console();
        let bad = alarming(&console);
        assert!(
            bad.is_empty(),
            "vm{i}: alarming console lines {bad:#?}\n{console}"
        );
    }
}
