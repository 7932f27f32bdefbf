//! End-to-end tests of the health checks (issue 5): the director booted in
//! QEMU with `testkit/configs/health.toml`, two PostgreSQL real servers
//! (192.168.3.2, .3) checked with `type = "postgres"`, and a third
//! PostgreSQL (192.168.3.4) as the sorry server.
//!
//! A client keeps connecting through the VIP while a real server is
//! stopped or cut off: once the director has logged the change and
//! quiesced the server, every new connection succeeds; when the server is
//! back, it is back in the table. Detection times are printed (the
//! benchmark measures them; tests never assert on timing under TCG).
//!
//! Needs root, QEMU, PostgreSQL 15 and a built image (`image/build
//! --test-layer`); each test fails loudly, never skips, when one is missing.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use testkit::config;
use testkit::lab::ipvsadm::{self, IpvsService};
use testkit::lab::{Client, Lab, VIP, Vm, VmOptions};

/// How long a `-kernel` boot under TCG may take to reach `ready`.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a state change may take to show on the console: far more
/// than fall × interval + timeout (4 s), for a loaded TCG guest.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);
/// The second VIP, whose service shares the real servers.
const VIP2: &str = "192.168.1.101";
const SORRY: &str = "192.168.3.4";

/// VMs under TCG on two cores: one lab at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The lab of these tests, booted to `ready`, with both real servers in
/// the rotation (they may have come up after the director's first probes).
fn health_lab() -> Lab {
    let mut lab = Lab::new();
    lab.start_vm(VmOptions::director(config("health.toml")));
    // .2 and .3 are the real servers, .4 the sorry server.
    lab.add_real_servers(3);
    lab.vms[0]
        .wait_for("ready boot_ms=", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    lab.vms[0].wait_until(
        CHANGE_TIMEOUT,
        "both real servers answer through the VIP",
        || {
            let seen: BTreeSet<String> = (0..4)
                .filter_map(|_| lab.client.server_addr(VIP).ok())
                .collect();
            seen == BTreeSet::from(["192.168.3.2".to_string(), "192.168.3.3".to_string()])
        },
    );
    lab
}

/// The service on `vip` (port 5432) as `ipvsadm -Ln` in the VM shows it.
fn service(vm: &Vm, vip: &str) -> IpvsService {
    let out = vm.shell_ok("ipvsadm -Ln");
    let services = ipvsadm::parse(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let key = format!("{vip}:5432");
    services
        .into_iter()
        .find(|s| s.kind == "TCP" && s.key == key)
        .unwrap_or_else(|| panic!("no service {key} in:\n{out}"))
}

/// The weight of `server` in the service on `vip`; `None` when absent.
fn weight(vm: &Vm, vip: &str, server: &str) -> Option<u32> {
    let address = format!("{server}:5432");
    service(vm, vip)
        .real_servers
        .iter()
        .find(|d| d.address == address)
        .map(|d| d.weight)
}

/// Console lines after `mark` that contain `pattern`.
fn lines_with(vm: &Vm, mark: usize, pattern: &str) -> Vec<String> {
    vm.lines_after(mark)
        .into_iter()
        .filter(|l| l.contains(pattern))
        .collect()
}

/// The `down` line of `server`, waited for after `mark`; with the time it
/// took from `since`.
fn wait_down(vm: &Vm, mark: usize, server: &str, since: Instant) -> String {
    let pattern = format!("health: postgres {server}:5432 down");
    let line = vm
        .wait_for_after(mark, &pattern, CHANGE_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("detected in {:?}: {line}", since.elapsed());
    line
}

fn wait_up(vm: &Vm, mark: usize, server: &str, since: Instant) -> String {
    let pattern = format!("health: postgres {server}:5432 up");
    let line = vm
        .wait_for_after(mark, &pattern, CHANGE_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("back in {:?}: {line}", since.elapsed());
    line
}

/// A client connecting through the VIP in a loop, one new connection
/// after the other, until dropped: when each started and who answered.
struct ClientLoop<'s> {
    stop: &'s AtomicBool,
    handle: thread::ScopedJoinHandle<'s, Vec<(Instant, Result<String, String>)>>,
}

impl<'s> ClientLoop<'s> {
    fn start(scope: &'s thread::Scope<'s, '_>, client: &'s Client, stop: &'s AtomicBool) -> Self {
        let handle = scope.spawn(move || {
            let mut results = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let start = Instant::now();
                results.push((start, client.server_addr(VIP)));
            }
            results
        });
        ClientLoop { stop, handle }
    }

    fn finish(self) -> Vec<(Instant, Result<String, String>)> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().expect("client loop panicked")
    }
}

/// Every connection the loop started at or after `from` succeeded, and
/// there were some.
fn all_succeeded_after(results: &[(Instant, Result<String, String>)], from: Instant) {
    let after: Vec<_> = results.iter().filter(|(t, _)| *t >= from).collect();
    assert!(
        !after.is_empty(),
        "the client loop made no connection after the change"
    );
    for (_, r) in &after {
        if let Err(e) = r {
            panic!("a new connection failed after the server left the table: {e}");
        }
    }
}

/// A stopped PostgreSQL leaves the rotation of both services sharing it
/// (logged once), every new connection succeeds; restarted, it comes back.
/// With every real server stopped, the sorry server answers.
#[test]
fn a_stopped_server_leaves_and_comes_back_and_the_sorry_server_stands_in() {
    let _serial = one_at_a_time();
    let mut lab = health_lab();
    // Disjoint borrows: the client loop reads `client` while a server is
    // stopped.
    let Lab {
        vms,
        servers,
        client,
        ..
    } = &mut lab;
    let (vm, client) = (&vms[0], &*client);
    assert_eq!(
        weight(vm, VIP, SORRY),
        None,
        "sorry server in the table while all is well"
    );

    // Stop .3 while a client keeps connecting.
    let stop = AtomicBool::new(false);
    let mark = vm.mark();
    let (results, quiesced) = thread::scope(|scope| {
        let client_loop = ClientLoop::start(scope, client, &stop);
        thread::sleep(Duration::from_secs(2));
        let stopped = Instant::now();
        servers[1].stop(Duration::from_secs(10));
        wait_down(vm, mark, "192.168.3.3", stopped);
        vm.wait_until(CHANGE_TIMEOUT, "192.168.3.3 is quiesced", || {
            weight(vm, VIP, "192.168.3.3") == Some(0)
        });
        let quiesced = Instant::now();
        thread::sleep(Duration::from_secs(5));
        (client_loop.finish(), quiesced)
    });
    all_succeeded_after(&results, quiesced);
    // Quiesced in the other service too, by the same probe, logged once.
    assert_eq!(weight(vm, VIP2, "192.168.3.3"), Some(0));
    assert_eq!(weight(vm, VIP, "192.168.3.2"), Some(1));
    let downs = lines_with(vm, mark, "health: postgres 192.168.3.3:5432 down");
    assert_eq!(downs.len(), 1, "the change is logged once: {downs:?}");
    for _ in 0..6 {
        assert_eq!(client.server_addr(VIP).unwrap(), "192.168.3.2");
    }

    // Restart it: back in both services.
    let mark = vm.mark();
    let started = Instant::now();
    servers[1].start();
    wait_up(vm, mark, "192.168.3.3", started);
    vm.wait_until(CHANGE_TIMEOUT, "192.168.3.3 has its weight back", || {
        weight(vm, VIP, "192.168.3.3") == Some(1)
    });
    assert_eq!(weight(vm, VIP2, "192.168.3.3"), Some(1));
    let seen: BTreeSet<String> = (0..4).map(|_| client.server_addr(VIP).unwrap()).collect();
    assert!(seen.contains("192.168.3.3"), "{seen:?}");

    // Every real server down: the sorry server stands in, on its service
    // only.
    let mark = vm.mark();
    let stopped = Instant::now();
    servers[0].stop(Duration::from_secs(10));
    servers[1].stop(Duration::from_secs(10));
    wait_down(vm, mark, "192.168.3.2", stopped);
    wait_down(vm, mark, "192.168.3.3", stopped);
    vm.wait_until(CHANGE_TIMEOUT, "the sorry server is in the table", || {
        weight(vm, VIP, SORRY) == Some(1)
    });
    for _ in 0..3 {
        assert_eq!(client.server_addr(VIP).unwrap(), SORRY);
    }
    assert_eq!(weight(vm, VIP2, SORRY), None, "pg-wrr has no sorry server");

    // One real server back: the sorry server leaves.
    let mark = vm.mark();
    let started = Instant::now();
    servers[0].start();
    wait_up(vm, mark, "192.168.3.2", started);
    vm.wait_until(CHANGE_TIMEOUT, "the sorry server left the table", || {
        weight(vm, VIP, SORRY).is_none()
    });
    assert_eq!(client.server_addr(VIP).unwrap(), "192.168.3.2");
}

/// A real server whose link is cut (packets dropped: probes time out)
/// leaves the rotation, stays out across a reload, and comes back when
/// the link is restored.
#[test]
fn a_cut_off_server_leaves_stays_out_across_a_reload_and_comes_back() {
    let _serial = one_at_a_time();
    let lab = health_lab();
    let (vm, client) = (&lab.vms[0], &lab.client);

    let stop = AtomicBool::new(false);
    let mark = vm.mark();
    let (results, quiesced, line) = thread::scope(|scope| {
        let client_loop = ClientLoop::start(scope, client, &stop);
        thread::sleep(Duration::from_secs(2));
        let cut = Instant::now();
        lab.servers[0].cut_link();
        let line = wait_down(vm, mark, "192.168.3.2", cut);
        vm.wait_until(CHANGE_TIMEOUT, "192.168.3.2 is quiesced", || {
            weight(vm, VIP, "192.168.3.2") == Some(0)
        });
        let quiesced = Instant::now();
        thread::sleep(Duration::from_secs(5));
        (client_loop.finish(), quiesced, line)
    });
    assert!(
        line.contains("timeout after 1s") || line.contains("no route to host"),
        "a cut link is a timeout: {line}"
    );
    all_succeeded_after(&results, quiesced);
    assert_eq!(weight(vm, VIP2, "192.168.3.2"), Some(0));
    let downs = lines_with(vm, mark, "health: postgres 192.168.3.2:5432 down");
    assert_eq!(downs.len(), 1, "the change is logged once: {downs:?}");

    // A reload of the same config keeps the state: still out.
    let reload = vm.mark();
    vm.shell_ok("kill -HUP 1");
    let line = vm
        .wait_for_after(reload, "reload: ", CHANGE_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(line.contains("reload: no change"), "{line}");
    assert_eq!(weight(vm, VIP, "192.168.3.2"), Some(0));
    assert!(lines_with(vm, reload, "health: postgres 192.168.3.2:5432 up").is_empty());

    let mark = vm.mark();
    let restored = Instant::now();
    lab.servers[0].restore_link();
    wait_up(vm, mark, "192.168.3.2", restored);
    vm.wait_until(CHANGE_TIMEOUT, "192.168.3.2 has its weight back", || {
        weight(vm, VIP, "192.168.3.2") == Some(1)
    });
    assert_eq!(weight(vm, VIP2, "192.168.3.2"), Some(2));
    let seen: BTreeSet<String> = (0..4).map(|_| client.server_addr(VIP).unwrap()).collect();
    assert!(seen.contains("192.168.3.2"), "{seen:?}");
}
