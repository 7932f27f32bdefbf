//! End-to-end acceptance tests of the classic setup: the director booted
//! in QEMU, balancing real PostgreSQL servers in network namespaces (see
//! `testkit/src/lab/`), driven from a client namespace through the VIP.
//!
//! Needs root, QEMU, PostgreSQL 15 and a built image (`image/build
//! --test-layer`); each test fails loudly, never skips, when one is missing.
//! The configs booted are in `testkit/configs/`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use testkit::config;
use testkit::lab;
use testkit::lab::ipvsadm::{self, IpvsService};
use testkit::lab::{Lab, VIP, VmOptions};

/// How long a `-kernel` boot under TCG may take to reach `ready`.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// UEFI firmware under TCG is much slower.
const UEFI_BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// VMs under TCG on two cores: one lab at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A lab with two real servers (192.168.3.2, .3) and the director booted
/// by fw_cfg with `config_name`, up to its `ready` line.
fn director_lab(config_name: &str) -> Lab {
    let mut lab = Lab::new();
    // The VM boots while the databases initialise.
    lab.start_vm(VmOptions::director(config(config_name)));
    lab.add_real_servers(2);
    let vm = &lab.vms[0];
    vm.wait_for("ready boot_ms=", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_config_source(vm, "config: fw_cfg");
    lab
}

/// The console names where the config came from.
fn assert_config_source(vm: &lab::Vm, expected: &str) {
    let console = vm.console();
    assert!(
        console.lines().any(|l| l.contains(expected)),
        "no `{expected}` line: the config came from elsewhere:\n{console}"
    );
}

/// The VM's IPVS table as the real `ipvsadm -Ln` reads it, services and
/// real servers sorted (the kernel lists them in hash order).
fn ipvs_table(lab: &Lab) -> Vec<IpvsService> {
    let out = lab.vms[0].shell_ok("ipvsadm -Ln");
    let mut services = ipvsadm::parse(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    for s in &mut services {
        s.real_servers.sort_by(|a, b| a.address.cmp(&b.address));
    }
    services.sort_by(|a, b| (&a.kind, &a.key).cmp(&(&b.kind, &b.key)));
    services
}

/// `n` new connections to `host`, one after the other: who answered each.
fn answers(lab: &Lab, host: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            lab.client.server_addr(host).unwrap_or_else(|e| {
                panic!(
                    "connection {i} to {host}: {e}\nconsole:\n{}",
                    lab.vms[0].console()
                )
            })
        })
        .collect()
}

fn count(answers: &[String]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for a in answers {
        *counts.entry(a.as_str()).or_insert(0) += 1;
    }
    counts
}

/// Console lines that should never appear on a healthy director.
fn alarming(console: &str) -> Vec<&str> {
    console
        .lines()
        .filter(|l| {
            let lower = l.to_lowercase();
            lower.contains("panic")
                || l.contains("BUG")
                || l.contains("WARNING:")
                || l.contains("Oops")
                || lower.contains("error")
                || l.starts_with("qemu: ")
        })
        .collect()
}

/// Check 1: sequential connections through the VIP follow the scheduler: rr
/// alternates strictly, wrr 3:1 splits 8 connections 6:2, a persistent
/// service keeps a client on one real server.
#[test]
fn vip_balances_as_the_scheduler_says() {
    let _serial = one_at_a_time();
    let lab = director_lab("classic.toml");

    let rr = answers(&lab, VIP, 10);
    assert_eq!(
        count(&rr).keys().copied().collect::<Vec<_>>(),
        ["192.168.3.2", "192.168.3.3"],
        "rr: {rr:?}"
    );
    for pair in rr.windows(2) {
        assert_ne!(pair[0], pair[1], "rr must alternate: {rr:?}");
    }

    let wrr = answers(&lab, "192.168.1.101", 8);
    assert_eq!(
        count(&wrr),
        BTreeMap::from([("192.168.3.2", 6), ("192.168.3.3", 2)]),
        "wrr 3:1 over 8 connections: {wrr:?}"
    );

    let sticky = answers(&lab, "192.168.1.102", 4);
    assert_eq!(
        count(&sticky).len(),
        1,
        "persistence 300s: one real server for one client: {sticky:?}"
    );
}

/// Check 2: the kernel's IPVS table inside the VM, read by the real ipvsadm,
/// is what the config asked for: schedulers, scheduler flags, forwarding
/// methods, weights, persistence, thresholds.
#[test]
fn ipvs_table_matches_the_config() {
    let _serial = one_at_a_time();
    let lab = director_lab("classic.toml");
    assert_eq!(
        IpvsService::render(&ipvs_table(&lab)),
        EXPECTED_TABLE,
        "ipvsadm -Ln in the VM"
    );
    let thresholds = lab.vms[0].shell_ok("ipvsadm -Ln --thresholds");
    let tunnelled = thresholds
        .lines()
        .find(|l| l.contains("192.168.3.3:0"))
        .unwrap_or_else(|| panic!("no 192.168.3.3:0 in\n{thresholds}"));
    assert_eq!(
        // `-> RemoteAddress:Port Uthreshold Lthreshold ActiveConn InActConn`
        tunnelled.split_whitespace().collect::<Vec<_>>()[..4],
        ["->", "192.168.3.3:0", "100", "50"],
        "thresholds of the tunnelled real server"
    );
}

/// `ipvsadm -Ln` of `classic.toml`, sorted, counters left out.
const EXPECTED_TABLE: &str = "\
FWM 1 wlc persistent 60 mask 255.255.255.0
  -> 192.168.3.2:0 Route 2
  -> 192.168.3.3:0 Tunnel 1
TCP 192.168.1.100:5432 rr
  -> 192.168.3.2:5432 Masq 1
  -> 192.168.3.3:5432 Masq 1
TCP 192.168.1.101:5432 wrr
  -> 192.168.3.2:5432 Masq 3
  -> 192.168.3.3:5432 Masq 1
TCP 192.168.1.102:5432 rr persistent 300
  -> 192.168.3.2:5432 Masq 1
  -> 192.168.3.3:5432 Masq 1
UDP 192.168.1.100:53 sh (sh-fallback,sh-port)
  -> 192.168.3.2:53 Masq 1
  -> 192.168.3.3:53 Masq 0
";

/// Check 3: pgbench through the VIP for 20 s: no failed transaction, both real
/// servers used, and nothing alarming on the console.
#[test]
fn pgbench_through_the_vip() {
    let _serial = one_at_a_time();
    let lab = director_lab("classic.toml");
    // Both servers need the pgbench tables: made from inside each one.
    thread::scope(|scope| {
        for server in &lab.servers {
            scope.spawn(move || server.pgbench_init(1));
        }
    });
    let out = lab.client.pgbench(
        &["-h", VIP, "-S", "-T", "20", "-c", "4", "-j", "2", "-n"],
        Duration::from_secs(90),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(out.status.success(), "pgbench failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("number of failed transactions: 0 "),
        "pgbench reports failures:\n{stdout}\n{stderr}"
    );
    let tps: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no tps line:\n{stdout}"));
    assert!(tps > 0.0, "tps = {tps}");

    // The 4 client connections went to both real servers.
    let stats = lab.vms[0].shell_ok("ipvsadm -Ln --stats -t 192.168.1.100:5432");
    for server in ["192.168.3.2:5432", "192.168.3.3:5432"] {
        let conns: u64 = stats
            .lines()
            .find(|l| l.contains(server))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no stats for {server}:\n{stats}"));
        assert!(conns >= 1, "{server} got no connection:\n{stats}");
    }

    let console = lab.vms[0].console();
    let bad = alarming(&console);
    assert!(
        bad.is_empty(),
        "alarming console lines {bad:#?}\nconsole:\n{console}"
    );
}

/// SIGHUP to PID 1 in `vm`: its `reload: ...` console line.
fn reload(vm: &lab::Vm) -> String {
    let mark = vm.mark();
    vm.shell_ok("kill -HUP 1");
    vm.wait_for_after(mark, "reload: ", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Check 4: sIGHUP re-applies the unchanged config: nothing changes in the
/// kernel, and a session open across the reload keeps working on the same
/// backend.
#[test]
fn reload_of_unchanged_config_keeps_connections() {
    let _serial = one_at_a_time();
    let lab = director_lab("classic.toml");
    let vm = &lab.vms[0];
    let before = ipvs_table(&lab);

    let mut session = lab.client.session(VIP).unwrap_or_else(|e| panic!("{e}"));
    let query = "select inet_server_addr() || ' ' || pg_backend_pid()";
    let first = session.query(query).unwrap_or_else(|e| panic!("{e}"));

    let line = reload(vm);
    assert!(line.contains("reload: no change"), "{line}");

    let second = session
        .query(query)
        .unwrap_or_else(|e| panic!("session after reload: {e}"));
    assert_eq!(
        first, second,
        "the same connection and backend after the reload"
    );
    // Counters left out: the session held open across the reload is an
    // active connection now.
    assert_eq!(
        IpvsService::render(&ipvs_table(&lab)),
        IpvsService::render(&before),
        "IPVS table changed by a no-op reload"
    );
    // And new connections are still balanced.
    assert_eq!(count(&answers(&lab, VIP, 4)).len(), 2);
}

/// Check 5: a bad config boots to a console that names file, line, column and
/// key of every error; the VM stays up and the VIP does not answer.
fn assert_bad_config_reported(config_name: &str, expected: &[&str]) {
    let lab = director_lab_unready(config_name);
    let vm = &lab.vms[0];
    for diagnostic in expected {
        vm.wait_for(diagnostic, BOOT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    thread::sleep(Duration::from_secs(3));
    assert!(
        vm.is_running(),
        "the VM went down after a bad config:\n{}",
        vm.console()
    );
    let console = vm.console();
    assert!(!console.contains("Kernel panic"), "{console}");
    assert!(
        !console.contains("ready boot_ms="),
        "a bad config must not reach ready:\n{console}"
    );
    let err = lab
        .client
        .server_addr(VIP)
        .expect_err("the VIP answered although the config is invalid");
    eprintln!("VIP, as expected, does not answer: {err}");
}

/// Like [`director_lab`] but without waiting for `ready`.
fn director_lab_unready(config_name: &str) -> Lab {
    let mut lab = Lab::new();
    lab.start_vm(VmOptions::director(config(config_name)));
    lab.add_real_servers(2);
    lab
}

#[test]
fn syntax_error_is_reported_with_its_place() {
    let _serial = one_at_a_time();
    assert_bad_config_reported(
        "bad-syntax.toml",
        &["router.toml:17:13: error: TOML syntax: string values must be quoted"],
    );
}

#[test]
fn every_config_error_is_reported_at_once() {
    let _serial = one_at_a_time();
    assert_bad_config_reported(
        "bad-keys.toml",
        &[
            "router.toml:23:3: error: service[0].real_server[0].wieght: unknown key",
            "router.toml:26:13: error: service[0].real_server[1].address: \"192.168.3.300:5432\" is not an IP address",
            "router.toml:30:11: error: service[1].address: TCP 192.168.1.100:5432 is already service[0]",
        ],
    );
}

/// The lab's own plumbing, checked through the TEST-ONLY stand-in router
/// (the host kernel has no IPVS): real servers reachable from the client,
/// and every helper that breaks a server does break it and can undo it.
#[test]
fn lab_plumbing_with_stand_in_router() {
    let _serial = one_at_a_time();
    let mut lab = Lab::new();
    lab.add_real_servers(2);
    lab.start_standin_router();

    for server in ["192.168.3.2", "192.168.3.3"] {
        assert_eq!(lab.client.server_addr(server).unwrap(), server);
    }

    // One session, one connection: the same backend answers twice.
    let mut session = lab.client.session("192.168.3.3").unwrap();
    let first = session.query("select pg_backend_pid()").unwrap();
    let second = session.query("select pg_backend_pid()").unwrap();
    assert_eq!(first, second);
    drop(session);

    // Cut link: no answer; restored: answers again.
    lab.servers[0].cut_link();
    let err = lab.client.server_addr("192.168.3.2").unwrap_err();
    assert!(err.contains("timeout") || err.contains("No route"), "{err}");
    lab.servers[0].restore_link();
    assert_eq!(
        lab.client.server_addr("192.168.3.2").unwrap(),
        "192.168.3.2"
    );

    // Stopped: refused; started again: answers.
    lab.servers[1].stop(Duration::from_secs(10));
    let err = lab.client.server_addr("192.168.3.3").unwrap_err();
    assert!(err.contains("refused"), "{err}");
    lab.servers[1].start();
    assert_eq!(
        lab.client.server_addr("192.168.3.3").unwrap(),
        "192.168.3.3"
    );

    // Killed with backends open: gone, and restartable.
    let session = lab.client.session("192.168.3.2").unwrap();
    let pid = lab.servers[0].pid().unwrap() as i32;
    lab.servers[0].kill();
    assert!(!testkit::netns::alive(pid));
    assert!(lab.servers[0].ns().pids().is_empty());
    drop(session);
    assert!(lab.client.server_addr("192.168.3.2").is_err());
    lab.servers[0].start();

    // pgbench: tables made from inside the server, load from the client.
    lab.servers[0].pgbench_init(1);
    let out = lab.client.pgbench(
        &["-h", "192.168.3.2", "-S", "-T", "2", "-c", "2", "-j", "2"],
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Drop removes every namespace and process of the lab.
    let names = lab.namespaces();
    let pids: Vec<i32> = names
        .iter()
        .flat_map(|n| testkit::netns::Netns::pids_of(n))
        .collect();
    assert!(!pids.is_empty());
    drop(lab);
    let left = testkit::netns::list();
    for name in &names {
        assert!(!left.contains(name), "namespace {name} left behind");
    }
    for pid in pids {
        assert!(!testkit::netns::alive(pid), "pid {pid} left running");
    }
}

/// A run killed before its Drop guards ran leaves namespaces, processes
/// and a temp dir behind; the next lab removes them.
#[test]
fn lab_sweeps_what_an_interrupted_run_left() {
    let _serial = one_at_a_time();
    // A pid that is certainly dead: a child that already exited.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let dead = gone.id();
    let name = format!("{}-{dead}-0-lab", lab::PREFIX);
    let dir = std::env::temp_dir().join(format!("{}-{dead}-0", lab::PREFIX));
    std::fs::create_dir_all(dir.join("rs1")).unwrap();
    let ns = testkit::netns::Netns::create(&name);
    let mut sleeper = ns.command("sleep").arg("600").spawn().unwrap();
    // Forget the guard: this namespace stands for one nobody cleaned up.
    std::mem::forget(ns);
    let sleeper_pid = sleeper.id() as i32;

    let lab = Lab::new();
    assert!(
        !testkit::netns::list().contains(&name),
        "stale namespace {name} kept"
    );
    assert!(!dir.exists(), "stale dir {} kept", dir.display());
    // The leftover process was killed (reap it: it is our child here).
    sleeper.wait().unwrap();
    assert!(!testkit::netns::alive(sleeper_pid));
    drop(lab);
}

/// Check 6: a UEFI boot of a copy of `out/router.img`, with a drop-in
/// `router.toml` written onto its boot partition, serves that config's VIP.
#[test]
fn uefi_boot_with_drop_in_config_serves_its_vip() {
    let _serial = one_at_a_time();
    let mut lab = Lab::new();
    let image = lab.router_img_with(&[(config("dropin.toml"), "router.toml")]);

    let mut options = VmOptions::director(config("dropin.toml"));
    options.config = None;
    options.test_layer = false;
    options.uefi_image = Some(image);
    serve_from_boot_partition(&mut lab, options, UEFI_BOOT_TIMEOUT);
    assert!(
        lab.client.server_addr(VIP).is_err(),
        "the built-in default's VIP answers: the drop-in did not replace it"
    );
}

/// Check 6, the same by legacy BIOS: SeaBIOS runs the image's MBR code,
/// SYSLINUX on the boot partition loads the same kernel, and the drop-in
/// serves its VIP (the older router boards boot this way). The drop-in
/// finds its lan link by PCI slot, not MAC: the lan NIC sits at slot 10.0
/// and only that match makes the real servers reachable.
#[test]
fn bios_boot_with_drop_in_config_serves_its_vip() {
    let _serial = one_at_a_time();
    let mut lab = Lab::new();
    let image = lab.router_img_with(&[(config("dropin-pci.toml"), "router.toml")]);

    let mut options = VmOptions::director(config("dropin-pci.toml"));
    options.config = None;
    options.test_layer = false;
    options.bios_image = Some(image);
    // Another MAC than the one the lab's lan NIC usually has: the match
    // is the slot's.
    options.nics[1].mac = "52:54:00:00:03:99".into();
    options.nics[1].slot = Some("10.0");
    serve_from_boot_partition(&mut lab, options, UEFI_BOOT_TIMEOUT);
    let console = lab.vms[0].console();
    assert!(
        console.contains("SYSLINUX"),
        "no SYSLINUX banner: not booted by the legacy BIOS path?\n{console}"
    );
}

/// Boot `options` (a copy of router.img holding `dropin.toml` as its
/// router.toml) with two real servers, up to `ready`: the config came from
/// the boot partition and its VIP 192.168.1.200 balances over both.
fn serve_from_boot_partition(lab: &mut Lab, options: VmOptions, timeout: Duration) {
    lab.start_vm(options);
    lab.add_real_servers(2);
    let vm = &lab.vms[0];
    vm.wait_for("ready boot_ms=", timeout)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_config_source(vm, "config: boot partition");
    let rr = answers(lab, "192.168.1.200", 4);
    assert_eq!(count(&rr).len(), 2, "rr over both real servers: {rr:?}");
}

/// Check 4, continued: the operator edits router.toml on the boot
/// partition of the running box and sends SIGHUP: only the difference is
/// applied (rr becomes wrr 3:1, a second virtual port appears), a session
/// open across it keeps working, and a second reload with nothing edited
/// changes nothing.
#[test]
fn reload_of_an_edited_config_applies_the_difference() {
    let _serial = one_at_a_time();
    let mut lab = Lab::new();
    let image = lab.router_img_with(&[
        (config("dropin.toml"), "router.toml"),
        (config("dropin-edited.toml"), "edited.toml"),
    ]);
    let mut options = VmOptions::director(config("dropin.toml"));
    options.config = None;
    options.disk_image = Some(image);
    serve_from_boot_partition(&mut lab, options, BOOT_TIMEOUT);
    let vm = &lab.vms[0];
    let vip = "192.168.1.200";

    let mut session = lab.client.session(vip).unwrap_or_else(|e| panic!("{e}"));
    let query = "select inet_server_addr() || ' ' || pg_backend_pid()";
    let first = session.query(query).unwrap_or_else(|e| panic!("{e}"));

    vm.shell_ok("mount -o remount,rw /boot && cp /boot/edited.toml /boot/router.toml && sync");
    let line = reload(vm);
    // Edit the scheduler and both weights, add a service and its real server.
    assert!(line.contains("reload: 4 IPVS changes"), "{line}");
    assert_eq!(
        IpvsService::render(&ipvs_table(&lab)),
        "\
TCP 192.168.1.200:5432 wrr
  -> 192.168.3.2:5432 Masq 3
  -> 192.168.3.3:5432 Masq 1
TCP 192.168.1.200:6432 rr
  -> 192.168.3.3:5432 Masq 1
",
        "ipvsadm -Ln after the edited reload"
    );
    assert_eq!(
        session
            .query(query)
            .unwrap_or_else(|e| panic!("session after the edited reload: {e}")),
        first,
        "the same connection and backend after the edited reload"
    );
    let wrr = answers(&lab, vip, 8);
    assert_eq!(
        count(&wrr),
        BTreeMap::from([("192.168.3.2", 6), ("192.168.3.3", 2)]),
        "wrr 3:1 after the reload: {wrr:?}"
    );
    for i in 0..2 {
        assert_eq!(
            lab.client
                .psql_on_port(vip, 6432, "select inet_server_addr()")
                .unwrap_or_else(|e| panic!("connection {i} to the new virtual port: {e}")),
            "192.168.3.3",
            "the new virtual port has one real server"
        );
    }

    let line = reload(vm);
    assert!(line.contains("reload: no change to IPVS"), "{line}");
}
