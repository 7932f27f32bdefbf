//! The end-to-end lab: the classic LVS-NAT setup rebuilt from network
//! namespaces around the appliance running in QEMU.
//!
//! ```text
//!   client ns             lab ns (bridges, taps, qemu)             real server ns
//!  192.168.1.10 ─veth─ brc ── tap ─ [VM wan 192.168.1.1, VIP .100]
//!                      brs ── tap ─ [VM lan 192.168.3.1]
//!                      brs ─veth─────────────────────────── rs1 192.168.3.2 postgres
//!                      brs ─veth─────────────────────────── rs2 192.168.3.3 postgres
//! ```
//!
//! Every name is unique per test run (`lvslab-<pid>-<n>-...`), nothing is
//! routed from the host's own namespace, and dropping the [`Lab`] kills
//! every process it started (by pid, then whatever is left inside its
//! namespaces) and removes its namespaces and temp dir. A run that was
//! interrupted before it could clean up is swept by the next
//! [`Lab::new`]: namespaces and dirs whose owner pid is dead are removed.
//!
//! Used by every end-to-end test binary (classic setup, health checks,
//! VRRP, PID 1) and the benchmark, each using a part of it.

pub mod client;
pub mod ipvsadm;
pub mod operator;
pub mod postgres;
pub mod probe;
pub mod vlan_switch;

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

pub use client::{Client, PsqlSession};
pub use postgres::RealServer;
pub use probe::Probe;

use crate::netns::{self, Netns};
pub use crate::vm::{Nic, Vm, VmOptions};
use crate::{cmd, image};

/// Prefix of every namespace and temp dir the lab makes.
pub const PREFIX: &str = "lvslab";
/// Bridge of the client side (the director's `wan`).
pub const CLIENT_BRIDGE: &str = "brc";
/// Bridge of the real-server side (the director's `lan`).
pub const SERVER_BRIDGE: &str = "brs";
pub const CLIENT_ADDR: &str = "192.168.1.10";
/// The director's outside address and the client's default gateway.
pub const DIRECTOR_OUTSIDE: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
/// The director's inside address and the real servers' default gateway.
pub const DIRECTOR_INSIDE: Ipv4Addr = Ipv4Addr::new(192, 168, 3, 1);
/// The virtual IP of the default config.
pub const VIP: &str = "192.168.1.100";
/// MACs the default config matches its interfaces by.
pub const WAN_MAC: &str = "52:54:00:00:01:01";
pub const LAN_MAC: &str = "52:54:00:00:03:01";

/// The VM the lab boots most: its director.
impl VmOptions {
    /// The director of the classic setup: `wan` (52:54:00:00:01:01) on the
    /// client bridge, `lan` (52:54:00:00:03:01) on the server bridge, the
    /// test layer for the debug shell, and `config` by fw_cfg.
    pub fn director(config: PathBuf) -> VmOptions {
        VmOptions {
            config: Some(config),
            nics: vec![
                Nic {
                    bridge: CLIENT_BRIDGE,
                    mac: WAN_MAC.to_string(),
                    slot: None,
                },
                Nic {
                    bridge: SERVER_BRIDGE,
                    mac: LAN_MAC.to_string(),
                    slot: None,
                },
            ],
            test_layer: true,
            ..VmOptions::default()
        }
    }
}

static LABS: AtomicU32 = AtomicU32::new(0);

/// One lab: its namespaces, real servers, client and VMs.
pub struct Lab {
    /// `lvslab-<pid>-<n>`: the prefix of all its names.
    pub id: String,
    pub vms: Vec<Vm>,
    pub servers: Vec<RealServer>,
    pub client: Client,
    standin: Option<Netns>,
    taps: Vec<String>,
    ns: Netns,
    dir: PathBuf,
}

impl Lab {
    /// Build the lab namespace with both bridges and the client, after
    /// sweeping away what interrupted earlier runs left. No real servers
    /// or VMs yet. Fails loudly when not root or a tool is missing.
    // No `Default`: a lab is namespaces, bridges and a client, made here.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Lab {
        require_root_and_tools();
        remove_stale();
        let id = format!(
            "{PREFIX}-{}-{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::SeqCst)
        );
        let dir = std::env::temp_dir().join(&id);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create lab dir");
        eprintln!("lab {id}: namespaces {id}-*, files in {}", dir.display());

        let ns = Netns::with_loopback(&format!("{id}-lab"));
        for bridge in [CLIENT_BRIDGE, SERVER_BRIDGE] {
            // No STP and no multicast snooping: a plain switch, so VRRP
            // adverts and ARP reach every port at once.
            ns.ip(&["link", "add", bridge, "type", "bridge", "stp_state", "0"]);
            ns.ip(&[
                "link",
                "set",
                bridge,
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ]);
            ns.ip(&["link", "set", bridge, "up"]);
        }

        let client_ns = Netns::with_loopback(&format!("{id}-cl"));
        ns.plug(CLIENT_BRIDGE, "vcl", &client_ns, "eth0");
        client_ns.ip(&["addr", "add", &format!("{CLIENT_ADDR}/24"), "dev", "eth0"]);
        client_ns.ip(&["link", "set", "eth0", "up"]);
        client_ns.ip(&[
            "route",
            "add",
            "default",
            "via",
            &DIRECTOR_OUTSIDE.to_string(),
        ]);

        Lab {
            id,
            vms: Vec::new(),
            servers: Vec::new(),
            client: Client::new(client_ns, CLIENT_ADDR),
            standin: None,
            taps: Vec::new(),
            ns,
            dir,
        }
    }

    /// The lab namespace (bridges, taps, qemu).
    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    /// The lab's temp dir (configs, postgres data, debug sockets).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Write `contents` to `name` in the lab's temp dir.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// A copy of `out/router.img` in the lab's temp dir with `files`
    /// written onto its boot partition: `(file here, its name there)`, e.g.
    /// a drop-in `router.toml`.
    pub fn router_img_with(&self, files: &[(PathBuf, &str)]) -> PathBuf {
        let image = image::copy_router_img(&self.dir);
        image::put_on_boot_partition(&image, files);
        image
    }

    /// Add `n` real servers on the server bridge (192.168.3.2, .3, ... in
    /// order), each running its own PostgreSQL, and wait until all are
    /// ready. initdb and start run in parallel.
    pub fn add_real_servers(&mut self, n: usize) {
        let first = self.servers.len();
        for i in first..first + n {
            let addr = Ipv4Addr::new(192, 168, 3, 2 + i as u8);
            let server = RealServer::create(
                &self.ns,
                SERVER_BRIDGE,
                &format!("{}-rs{}", self.id, i + 1),
                &format!("vs{}", i + 1),
                addr,
                DIRECTOR_INSIDE,
                self.dir.join(format!("rs{}", i + 1)),
            );
            self.servers.push(server);
        }
        thread::scope(|scope| {
            for server in &mut self.servers[first..] {
                scope.spawn(move || {
                    server.initdb();
                    server.start();
                });
            }
        });
    }

    /// Boot a VM: create one tap per NIC on its bridge, then run
    /// `qemu/run` inside the lab namespace. Returns its index in `vms`.
    pub fn start_vm(&mut self, options: VmOptions) -> usize {
        let index = self.vms.len();
        let taps = self.make_taps(&options.nics);
        let socket = self.dir.join(format!("vm{index}.sock"));
        let _ = fs::remove_file(&socket);
        let vm = Vm::start_in(&self.ns, &options, &taps, &socket);
        eprintln!("lab {}: vm{index} is qemu pid {}", self.id, vm.pid());
        self.vms.push(vm);
        index
    }

    /// One tap per NIC, on its bridge and up, for the next VM (`t<vm>n<k>`);
    /// removed with the lab.
    pub fn make_taps(&mut self, nics: &[Nic]) -> Vec<String> {
        let index = self.vms.len();
        let mut taps = Vec::new();
        for (k, nic) in nics.iter().enumerate() {
            let tap = format!("t{index}n{k}");
            self.ns.ip(&["tuntap", "add", &tap, "mode", "tap"]);
            self.ns
                .ip(&["link", "set", &tap, "master", nic.bridge, "up"]);
            self.taps.push(tap.clone());
            taps.push(tap);
        }
        taps
    }

    /// TEST-ONLY stand-in for the director, used solely to check the lab's
    /// own plumbing on a host without IPVS: a namespace forwarding between
    /// 192.168.1.1/24 on the client bridge and 192.168.3.1/24 on the server
    /// bridge. It is not the product and no product test uses it.
    pub fn start_standin_router(&mut self) {
        assert!(self.standin.is_none(), "stand-in router already running");
        let rt = Netns::with_loopback(&format!("{}-rt", self.id));
        for (link, bridge, inner, addr) in [
            ("vrw", CLIENT_BRIDGE, "eth0", DIRECTOR_OUTSIDE),
            ("vrl", SERVER_BRIDGE, "eth1", DIRECTOR_INSIDE),
        ] {
            self.ns.plug(bridge, link, &rt, inner);
            rt.ip(&["addr", "add", &format!("{addr}/24"), "dev", inner]);
            rt.ip(&["link", "set", inner, "up"]);
        }
        rt.sysctl("net.ipv4.ip_forward", "1");
        self.standin = Some(rt);
    }

    /// Names of every namespace this lab made.
    pub fn namespaces(&self) -> Vec<String> {
        let mut names = vec![
            self.ns.name().to_string(),
            self.client.ns().name().to_string(),
        ];
        names.extend(self.servers.iter().map(|s| s.ns().name().to_string()));
        names.extend(self.standin.iter().map(|n| n.name().to_string()));
        names
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Processes first (each by its own pid), then the taps, then the
        // namespaces (their Drop sweeps anything left inside), then files.
        self.vms.clear();
        self.servers.clear();
        for tap in &self.taps {
            let _ = self.ns.try_ip(&["link", "del", tap]);
        }
        self.standin = None;
        self.client.ns().kill_all();
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("lab {}: remove {}: {e}", self.id, self.dir.display());
        }
    }
}

/// The pid that made a lab namespace or dir, from its name.
fn owner_pid(name: &str) -> Option<i32> {
    name.strip_prefix(PREFIX)?
        .strip_prefix('-')?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// Remove namespaces and temp dirs of earlier runs whose process is gone
/// (a test run interrupted by SIGINT/SIGTERM never ran its Drop guards).
/// Processes still inside those namespaces (a leftover qemu or postgres)
/// are lab processes of that dead run and are killed first.
pub fn remove_stale() {
    let me = std::process::id() as i32;
    let stale = |name: &str| owner_pid(name).is_some_and(|pid| pid != me && !netns::alive(pid));
    for name in netns::list() {
        if stale(&name) {
            eprintln!("lab: removing stale namespace {name}");
            netns::kill_all_in(&name);
            if let Err(e) = cmd::try_check(Command::new("ip").args(["netns", "del", &name])) {
                eprintln!("lab: {e}");
            }
        }
    }
    if let Ok(entries) = fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if stale(&name) {
                eprintln!("lab: removing stale dir {}", entry.path().display());
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// The lab needs root (namespaces, taps) and its tools: fail loudly, never
/// skip, when they are missing.
fn require_root_and_tools() {
    crate::host::require_root(
        "the end-to-end lab (network namespaces, taps, postgres user switch)",
    );
    for tool in [
        "/usr/sbin/ip".to_string(),
        "/usr/bin/setpriv".to_string(),
        "/usr/sbin/sysctl".to_string(),
        format!("{}/postgres", postgres::PG_BIN),
        format!("{}/initdb", postgres::PG_BIN),
        format!("{}/psql", postgres::PG_BIN),
        format!("{}/pgbench", postgres::PG_BIN),
    ] {
        assert!(
            Path::new(&tool).exists(),
            "{tool} is missing (apt-get install iproute2 util-linux procps postgresql-15)"
        );
    }
    fs::create_dir_all("/run/netns").expect("create /run/netns");
}
