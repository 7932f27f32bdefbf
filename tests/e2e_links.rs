//! VLANs and bonds on the box, in the VM (the host kernel has neither; the
//! bridge is tested in tests/netns_network.rs):
//!
//! - wan and lan as VLANs 10 and 30 on one NIC, against real servers on
//!   VLAN 30, through the lab's user-space 802.1Q switch
//!   (`testkit::lab::vlan_switch`): the VIP answers (held by VRRP, on the
//!   VLAN), the real servers are health-checked over it, the tags on the
//!   wire are 10 and 30, and a reload that drops a VLAN removes it;
//! - lan as an active-backup bond of two NICs: the active NIC's link is
//!   cut (QEMU's `set_link`) during pgbench, and no client sees an error.
//!
//! Needs root, QEMU, PostgreSQL and the built image; fails, never skips.

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use testkit::config;
use testkit::lab::vlan_switch::VlanSwitch;
use testkit::lab::{CLIENT_BRIDGE, Lab, Nic, SERVER_BRIDGE, VIP, VmOptions, WAN_MAC};
use testkit::vm::qemu_monitor;

const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// VMs under TCG on two cores: one lab at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ask `host` which real server answers, until one does or `timeout` ends.
fn first_answer(lab: &Lab, host: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        match lab.client.server_addr(host) {
            Ok(answer) => return answer,
            Err(e) if Instant::now() >= deadline => panic!(
                "{host} never answered: {e}\nconsole:\n{}",
                lab.vms[0].console()
            ),
            Err(_) => thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// The real servers answering through the VIP, in `n` connections.
fn answers(lab: &Lab, n: usize) -> Vec<String> {
    let mut seen: Vec<String> = (0..n)
        .map(|i| {
            lab.client
                .server_addr(VIP)
                .unwrap_or_else(|e| panic!("connection {i} through the VIP: {e}"))
        })
        .collect();
    seen.sort();
    seen.dedup();
    seen
}

/// Wait until `cond` holds on `ipvsadm -Ln`'s text, or fail with it.
fn wait_for_table(lab: &Lab, what: &str, timeout: Duration, cond: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        let table = lab.vms[0].shell_ok("ipvsadm -Ln");
        if cond(&table) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: ipvsadm -Ln:\n{table}");
        thread::sleep(Duration::from_millis(500));
    }
}

/// The weight of real server `addr` in `ipvsadm -Ln`'s text.
fn weight(table: &str, addr: &str) -> Option<u32> {
    table.lines().find_map(|l| {
        let fields: Vec<&str> = l.split_whitespace().collect();
        match fields.as_slice() {
            ["->", a, _, w, ..] if *a == addr => w.parse().ok(),
            _ => None,
        }
    })
}

/// `pgbench -S` through the VIP: it ran and failed no transaction.
fn assert_pgbench_clean(out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pgbench failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("number of failed transactions: 0 "),
        "pgbench reports failures:\n{stdout}\n{stderr}"
    );
    assert!(
        !stderr.to_lowercase().contains("error"),
        "pgbench client errors:\n{stderr}"
    );
}

#[test]
fn wan_and_lan_as_vlans_on_one_nic() {
    let _serial = one_at_a_time();
    let mut lab = Lab::new();
    let switch = VlanSwitch::start(
        lab.ns(),
        47010,
        WAN_MAC,
        &[(10, CLIENT_BRIDGE), (30, SERVER_BRIDGE)],
    );
    let image = lab.router_img_with(&[
        (config("links-vlan.toml"), "router.toml"),
        (config("links-vlan-edited.toml"), "edited.toml"),
    ]);
    lab.start_vm(VmOptions {
        disk_image: Some(image),
        test_layer: true,
        extra_args: switch.qemu_args.clone(),
        ..VmOptions::default()
    });
    lab.add_real_servers(2);
    let vm = &lab.vms[0];
    vm.wait_for("ready boot_ms=", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));

    // The kernel's own list of VLANs: name, id, parent.
    let vlans = vm.shell_ok("cat /proc/net/vlan/config");
    for (name, id) in [("wan", 10), ("lan", 30), ("spare", 99)] {
        assert!(
            vlans
                .lines()
                .any(|l| l.split('|').map(str::trim).collect::<Vec<_>>()
                    == [name, &id.to_string(), "trunk"]),
            "{name} as VLAN {id} on trunk:\n{vlans}"
        );
    }
    assert!(vm.console().contains("link wan added (vlan 10 on trunk)"));

    // VRRP puts the VIP on wan (this box alone: master), IPVS balances it
    // over both real servers on VLAN 30.
    first_answer(&lab, VIP, Duration::from_secs(30));
    assert_eq!(answers(&lab, 4), ["192.168.3.2", "192.168.3.3"]);
    thread::scope(|scope| {
        for server in &lab.servers {
            scope.spawn(move || server.pgbench_init(1));
        }
    });
    let out = lab.client.pgbench(
        &["-h", VIP, "-S", "-T", "5", "-c", "2", "-n"],
        Duration::from_secs(60),
    );
    assert_pgbench_clean(&out);

    // Health checks over the VLAN: a stopped server is taken out (weight
    // 0), and put back.
    lab.servers[1].stop(Duration::from_secs(20));
    wait_for_table(
        &lab,
        "192.168.3.3 taken out",
        Duration::from_secs(20),
        |t| weight(t, "192.168.3.3:5432") == Some(0),
    );
    lab.servers[1].start();
    wait_for_table(&lab, "192.168.3.3 back", Duration::from_secs(30), |t| {
        weight(t, "192.168.3.3:5432") == Some(1)
    });

    // What was on the wire: frames tagged 10 and 30 both ways, and no
    // IPv4 or ARP frame untagged.
    let counts = switch.counts();
    for vlan in [10, 30] {
        assert!(
            counts.from_trunk.get(&vlan).copied().unwrap_or(0) > 10
                && counts.to_trunk.get(&vlan).copied().unwrap_or(0) > 10,
            "VLAN {vlan} traffic both ways: {counts:?}"
        );
    }
    for ethertype in [0x0800, 0x0806] {
        assert!(
            !counts.untagged.contains_key(&ethertype),
            "untagged frames of type {ethertype:#06x} on the trunk: {counts:?}"
        );
    }

    // A reload without the spare VLAN removes it; the rest is unchanged.
    vm.shell_ok("mount -o remount,rw /boot && cp /boot/edited.toml /boot/router.toml && sync");
    let mark = vm.mark();
    vm.shell_ok("kill -HUP 1");
    vm.wait_for_after(mark, "reload: ", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    vm.wait_for_after(mark, "link spare removed", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let vlans = vm.shell_ok("cat /proc/net/vlan/config");
    assert!(!vlans.contains("spare"), "{vlans}");
    assert!(vlans.contains("wan"), "{vlans}");
    let (_, gone) = vm
        .shell("test -e /sys/class/net/spare", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(gone, 0, "spare is still a link");
    let added = vm
        .lines_after(mark)
        .into_iter()
        .filter(|l| {
            ["link ", ": master ", "link set up", ": MTU set"]
                .iter()
                .any(|w| l.contains(w))
                && !l.contains("link spare removed")
        })
        .collect::<Vec<_>>();
    assert!(
        added.is_empty(),
        "the reload changed other links: {added:?}"
    );
    assert_eq!(answers(&lab, 2), ["192.168.3.2", "192.168.3.3"]);
}

#[test]
fn a_bond_keeps_serving_when_its_active_nic_loses_link() {
    let _serial = one_at_a_time();
    let mut lab = Lab::new();
    let monitor = lab.dir().join("monitor.sock");
    lab.start_vm(VmOptions {
        config: Some(config("links-bond.toml")),
        nics: vec![
            Nic {
                bridge: CLIENT_BRIDGE,
                mac: WAN_MAC.into(),
                slot: None,
            },
            Nic {
                bridge: SERVER_BRIDGE,
                mac: "52:54:00:00:03:01".into(),
                slot: None,
            },
            Nic {
                bridge: SERVER_BRIDGE,
                mac: "52:54:00:00:03:02".into(),
                slot: None,
            },
        ],
        test_layer: true,
        extra_args: vec![
            "-monitor".into(),
            format!("unix:{},server=on,wait=off", monitor.display()),
        ],
        ..VmOptions::default()
    });
    lab.add_real_servers(2);
    let vm = &lab.vms[0];
    vm.wait_for("ready boot_ms=", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let bonding = vm.shell_ok("cat /proc/net/bonding/lan");
    for line in [
        "Bonding Mode: fault-tolerance (active-backup)",
        "MII Polling Interval (ms): 100",
        "Currently Active Slave: lan0",
        "Slave Interface: lan1",
    ] {
        assert!(bonding.contains(line), "{line:?} in\n{bonding}");
    }
    assert_eq!(answers(&lab, 4), ["192.168.3.2", "192.168.3.3"]);
    thread::scope(|scope| {
        for server in &lab.servers {
            scope.spawn(move || server.pgbench_init(1));
        }
    });

    // pgbench for 12 s; lan0 (QEMU's netdev n1) loses its link 4 s in.
    let out = thread::scope(|scope| {
        let bench = scope.spawn(|| {
            lab.client.pgbench(
                &["-h", VIP, "-S", "-T", "12", "-c", "2", "-n"],
                Duration::from_secs(90),
            )
        });
        thread::sleep(Duration::from_secs(4));
        qemu_monitor(&monitor, "set_link n1 off").unwrap_or_else(|e| panic!("{e}"));
        bench.join().expect("pgbench thread")
    });
    assert_pgbench_clean(&out);
    let bonding = vm.shell_ok("cat /proc/net/bonding/lan");
    assert!(
        bonding.contains("Currently Active Slave: lan1"),
        "lan1 took over:\n{bonding}"
    );
    let lan0 = bonding
        .split("Slave Interface: lan0")
        .nth(1)
        .unwrap_or_else(|| panic!("lan0 still listed:\n{bonding}"));
    assert!(
        lan0.trim_start().starts_with("MII Status: down"),
        "lan0 down:\n{bonding}"
    );
    assert_eq!(answers(&lab, 2), ["192.168.3.2", "192.168.3.3"]);
}
