//! Our VRRPv3 instance against Debian's keepalived, and against packets
//! that break RFC 5798 §7.1.
//!
//! Each test builds one Ethernet segment: a bridge in a "switch" network
//! namespace, and one namespace per router joined to it by a veth pair
//! (`eth0`, 10.99.0.0/24). Every router namespace also has a `lan0` link,
//! where the second virtual address of the instance lives (the NAT
//! director's inside gateway). Our [`Instance`] runs in a thread that has
//! `setns()`ed into its namespace; keepalived runs in its own with
//! `vrrp_version 3`, started as `keepalived -n -l -D -P -f CONF ...`, its
//! state read from the "Entering ... STATE" lines of its log and stopped
//! by its own pids. Namespaces, processes and files are removed even when
//! a test fails.
//!
//! These tests need root, iproute2 and keepalived; without them they FAIL
//! saying so, they never skip.

use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use lvsinit::config::{IpNet, VirtualAddress, Vrrp};
use lvsinit::vrrp::packet::{self, Advert};
use lvsinit::vrrp::socket::VrrpSocket;
use lvsinit::vrrp::{Control, Instance, Role, Transition};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::Netns;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Generous: the machine has two cores shared with VM tests. Elections
/// take about 3.6 s at a 1 s advert interval.
const WAIT: Duration = Duration::from_secs(40);

const VRID: u8 = 51;
const WAN_VIP: &str = "10.99.0.100/24";
const LAN_VIP: &str = "192.168.3.1/24";

/// Lines up to debug: the tests read the instance's reasons for ignoring
/// an advert.
fn init_logging() {
    testkit::logs::init(log::LevelFilter::Debug);
}

// ---------------------------------------------------------------------------
// Preconditions, commands, the segment.

fn require_tools() {
    testkit::require_root("these tests create network namespaces");
    for (tool, arg) in [("ip", "-V"), ("keepalived", "--version")] {
        let out = Command::new(tool).arg(arg).output();
        assert!(
            matches!(&out, Ok(o) if o.status.success()),
            "these tests need {tool} on PATH (apt-get install iproute2 keepalived): {out:?}"
        );
    }
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A bridge in its own namespace and router namespaces plugged into it.
/// Dropping it deletes every namespace it made.
struct Segment {
    prefix: String,
    switch: Netns,
    routers: Vec<Netns>,
}

impl Segment {
    fn new(tag: &str) -> Segment {
        let prefix = format!("lvv-{tag}-{}", std::process::id());
        let switch = Netns::create(&format!("{prefix}-sw"));
        switch.ip(&["link", "add", "br0", "type", "bridge"]);
        switch.ip(&["link", "set", "br0", "up"]);
        Segment {
            prefix,
            switch,
            routers: Vec::new(),
        }
    }

    /// A router namespace `NAME` with `eth0` (address `addr`) on the
    /// bridge and a `lan0` link of its own; its full namespace name.
    fn router(&mut self, name: &str, addr: &str) -> String {
        let ns = Netns::with_loopback(&format!("{}-{name}", self.prefix));
        let port = format!("p{name}");
        self.switch.plug("br0", &port, &ns, "eth0");
        ns.ip(&["addr", "add", addr, "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
        ns.ip(&[
            "link", "add", "lan0", "type", "veth", "peer", "name", "lan0p",
        ]);
        ns.ip(&["link", "set", "lan0", "up"]);
        ns.ip(&["link", "set", "lan0p", "up"]);
        let name = ns.name().to_string();
        self.routers.push(ns);
        name
    }
}

fn net(s: &str) -> IpNet {
    let (addr, len) = s.split_once('/').expect("addr/len");
    IpNet {
        addr: addr.parse().expect("address"),
        prefix_len: len.parse().expect("prefix length"),
    }
}

fn vrrp(priority: u8) -> Vrrp {
    Vrrp {
        interface: "eth0".into(),
        virtual_router_id: VRID,
        priority,
        advert_interval: Duration::from_secs(1),
        preempt: true,
        preempt_delay: Duration::ZERO,
        unicast_peers: Vec::new(),
        virtual_addresses: vec![
            VirtualAddress {
                interface: "eth0".into(),
                address: net(WAN_VIP),
            },
            VirtualAddress {
                interface: "lan0".into(),
                address: net(LAN_VIP),
            },
        ],
        sync_interface: None,
        sync_id: VRID,
        track_services: Vec::new(),
        track_priority_delta: 0,
    }
}

// ---------------------------------------------------------------------------
// Our instance, in a thread inside its namespace.

struct Ours {
    control: UnboundedSender<Control>,
    transitions: UnboundedReceiver<Transition>,
    history: Vec<Transition>,
    thread: Option<JoinHandle<()>>,
    tid: ThreadId,
}

impl Ours {
    fn start(ns: &str, cfg: Vrrp) -> Ours {
        let (transitions_tx, transitions) = unbounded_channel();
        let (control, control_rx) = unbounded_channel();
        let (opened_tx, opened) = std::sync::mpsc::channel();
        let thread = testkit::netns::spawn_in(ns, move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            match Instance::new(&cfg) {
                Ok(instance) => {
                    let _ = opened_tx.send(Ok(()));
                    runtime.block_on(instance.run(transitions_tx, control_rx));
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e.to_string()));
                }
            }
        });
        let tid = thread.thread().id();
        match opened.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("Instance::new in {ns}: {e}"),
            Err(_) => panic!("the instance thread in {ns} died before opening its socket"),
        }
        Ours {
            control,
            transitions,
            history: Vec::new(),
            thread: Some(thread),
            tid,
        }
    }

    /// Wait until the instance reports `role`; the transition.
    fn wait_role(&mut self, role: Role) -> Transition {
        let end = Instant::now() + WAIT;
        loop {
            while let Ok(t) = self.transitions.try_recv() {
                self.history.push(t);
            }
            if let Some(t) = self.history.last().filter(|t| t.role == role) {
                return t.clone();
            }
            assert!(
                Instant::now() < end,
                "our instance did not become {role:?} within {WAIT:?}; transitions: {:?}",
                self.history
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The roles reported so far.
    fn roles(&mut self) -> Vec<Role> {
        while let Ok(t) = self.transitions.try_recv() {
            self.history.push(t);
        }
        self.history.iter().map(|t| t.role).collect()
    }

    /// Shut down and wait for `run` to return.
    fn stop(&mut self) {
        let _ = self.control.send(Control::Shutdown);
        if let Some(t) = self.thread.take() {
            t.join().expect("the instance thread panicked");
        }
    }

    fn logs(&self) -> Vec<String> {
        testkit::logs::of(self.tid)
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// keepalived in its namespace.

struct Keepalived {
    dir: PathBuf,
    child: Option<Child>,
}

impl Keepalived {
    /// Start keepalived in `ns` with one `vrrp_version 3` instance on eth0.
    fn start(ns: &str, priority: u8, vips: &[&str]) -> Keepalived {
        Keepalived::start_with(ns, priority, vips, "advert_int 1", "")
    }

    /// The same with another `advert_int` line and `extra` lines in its
    /// `vrrp_instance` block.
    fn start_with(
        ns: &str,
        priority: u8,
        vips: &[&str],
        advert_int: &str,
        extra: &str,
    ) -> Keepalived {
        let dir = std::env::temp_dir().join(format!("lvsinit-{ns}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        let addresses: String = vips
            .iter()
            .map(|v| {
                if *v == LAN_VIP {
                    format!("    {v} dev lan0\n")
                } else {
                    format!("    {v}\n")
                }
            })
            .collect();
        let conf = format!(
            "global_defs {{\n  vrrp_version 3\n  router_id {ns}\n}}\n\
             vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  \
             virtual_router_id {VRID}\n  priority {priority}\n  {advert_int}\n  \
             virtual_ipaddress {{\n{addresses}  }}\n{extra}}}\n"
        );
        fs::write(dir.join("keepalived.conf"), conf).expect("write keepalived.conf");
        let log = File::create(dir.join("log")).expect("keepalived log");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-P",
                "-f",
            ])
            .arg(dir.join("keepalived.conf"))
            .arg("-p")
            .arg(dir.join("keepalived.pid"))
            .arg("-r")
            .arg(dir.join("vrrp.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start keepalived");
        Keepalived {
            dir,
            child: Some(child),
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// The state of its last "Entering X STATE" line.
    fn state(&self) -> Option<String> {
        self.log().lines().rev().find_map(|l| {
            let rest = l.split("Entering ").nth(1)?;
            Some(rest.split(' ').next()?.to_string())
        })
    }

    fn wait_state(&mut self, state: &str) {
        let end = Instant::now() + WAIT;
        while self.state().as_deref() != Some(state) {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!("keepalived exited ({status}); its log:\n{}", self.log());
            }
            assert!(
                Instant::now() < end,
                "keepalived did not enter {state} within {WAIT:?}; its log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL its VRRP child and itself: the master vanishes without a
    /// priority-0 advert, as when the machine dies.
    fn kill(&mut self) {
        if let Ok(pid) = fs::read_to_string(self.dir.join("vrrp.pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait: keepalived's clean stop (a master sends priority 0).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let end = Instant::now() + WAIT;
            while Instant::now() < end {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// The tests.

/// keepalived is master alone; ours, with a higher priority, preempts it;
/// when ours shuts down (priority-0 advert) keepalived takes over.
#[test]
fn ours_higher_preempts_keepalived_and_hands_back_on_shutdown() {
    require_tools();
    init_logging();
    let mut segment = Segment::new("a");
    let k_ns = segment.router("k", "10.99.0.1/24");
    let o_ns = segment.router("o", "10.99.0.2/24");

    let mut keepalived = Keepalived::start(&k_ns, 100, &[WAN_VIP, LAN_VIP]);
    keepalived.wait_state("MASTER");

    let mut ours = Ours::start(&o_ns, vrrp(200));
    let t = ours.wait_role(Role::Master);
    assert!(
        t.reason
            .contains("preempting lower priority master 10.99.0.1"),
        "{t:?}"
    );
    keepalived.wait_state("BACKUP");
    assert!(
        !keepalived.log().contains("mismatch"),
        "keepalived finds our address list differs:\n{}",
        keepalived.log()
    );

    ours.stop();
    keepalived.wait_state("MASTER");
    let log = keepalived.log();
    assert!(
        log.contains("priority 0"),
        "keepalived took over without noticing our priority-0 advert:\n{log}"
    );
    assert_eq!(
        ours.roles(),
        vec![Role::Backup, Role::Master, Role::Backup],
        "{:?}",
        ours.history
    );
    let logs = ours.logs();
    assert!(
        logs.iter().any(|l| l.contains("entering MASTER state")),
        "{logs:?}"
    );
}

/// Ours is master alone; keepalived, with a higher priority, preempts it;
/// when keepalived dies, ours takes over once the master-down timer runs out.
#[test]
fn keepalived_higher_preempts_ours_and_ours_takes_over_when_it_dies() {
    require_tools();
    init_logging();
    let mut segment = Segment::new("b");
    let k_ns = segment.router("k", "10.99.0.1/24");
    let o_ns = segment.router("o", "10.99.0.2/24");

    let mut ours = Ours::start(&o_ns, vrrp(100));
    ours.wait_role(Role::Master);

    let mut keepalived = Keepalived::start(&k_ns, 200, &[WAN_VIP, LAN_VIP]);
    keepalived.wait_state("MASTER");
    let t = ours.wait_role(Role::Backup);
    assert_eq!(t.reason, "higher priority 200 from 10.99.0.1 (ours 100)");

    keepalived.kill();
    let t = ours.wait_role(Role::Master);
    assert!(
        t.reason
            .starts_with("master down timer expired: no advert from 10.99.0.1"),
        "{t:?}"
    );
    ours.stop();
}

/// Equal priorities: a running master keeps the role (a tie is no reason
/// to preempt, RFC 5798 §6.4.2), even against a higher address.
#[test]
fn equal_priority_does_not_preempt_keepalived() {
    require_tools();
    init_logging();
    let mut segment = Segment::new("c");
    let k_ns = segment.router("k", "10.99.0.1/24");
    let o_ns = segment.router("o", "10.99.0.2/24");

    let mut keepalived = Keepalived::start(&k_ns, 150, &[WAN_VIP, LAN_VIP]);
    keepalived.wait_state("MASTER");
    let mut ours = Ours::start(&o_ns, vrrp(150));
    // Twice the master-down interval with keepalived's adverts arriving.
    thread::sleep(Duration::from_secs(8));
    assert_eq!(ours.roles(), vec![Role::Backup], "{:?}", ours.history);
    assert_eq!(keepalived.state().as_deref(), Some("MASTER"));
    // keepalived stops cleanly: its priority-0 advert hands over to ours.
    keepalived.stop();
    let t = ours.wait_role(Role::Master);
    assert_eq!(t.reason, "master 10.99.0.1 resigned (priority 0)");
    ours.stop();
}

/// keepalived lists the same addresses in the other order: the same set,
/// so neither side finds a mismatch and the election runs.
#[test]
fn address_order_does_not_matter_to_either_side() {
    require_tools();
    init_logging();
    let mut segment = Segment::new("d");
    let k_ns = segment.router("k", "10.99.0.1/24");
    let o_ns = segment.router("o", "10.99.0.2/24");

    let mut keepalived = Keepalived::start(&k_ns, 100, &[LAN_VIP, WAN_VIP]);
    keepalived.wait_state("MASTER");
    let mut ours = Ours::start(&o_ns, vrrp(200));
    ours.wait_role(Role::Master);
    keepalived.wait_state("BACKUP");
    ours.stop();
    let log = keepalived.log();
    assert!(
        !log.contains("unexpected ip number count") && !log.contains("not present"),
        "{log}"
    );
    let logs = ours.logs();
    assert!(
        !logs.iter().any(|l| l.contains("address list mismatch")),
        "{logs:?}"
    );
}

/// keepalived with only the WAN address drops our adverts (they list two)
/// and so claims the master role beside ours: the reason both sides must
/// list the same virtual addresses. Ours says what differs.
#[test]
fn a_different_address_set_is_reported_and_keepalived_ignores_us() {
    require_tools();
    init_logging();
    let mut segment = Segment::new("f");
    let k_ns = segment.router("k", "10.99.0.1/24");
    let o_ns = segment.router("o", "10.99.0.2/24");

    let mut keepalived = Keepalived::start(&k_ns, 100, &[WAN_VIP]);
    keepalived.wait_state("MASTER");
    let mut ours = Ours::start(&o_ns, vrrp(200));
    ours.wait_role(Role::Master);
    let end = Instant::now() + WAIT;
    while !keepalived
        .log()
        .contains("received an unexpected ip number count 2, expected 1")
    {
        assert!(Instant::now() < end, "{}", keepalived.log());
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(keepalived.state().as_deref(), Some("MASTER"));
    let logs = ours.logs();
    assert!(
        logs.iter().any(|l| l.contains(
            "address list mismatch: 10.99.0.1 sends [10.99.0.100], ours is [10.99.0.100, 192.168.3.1]"
        )),
        "{logs:?}"
    );
    ours.stop();
}

/// An injector on the segment sends adverts of priority 250 for our VRID
/// every 100 ms. With TTL 64 or a wrong checksum ours must ignore them and
/// become master; once they are valid, ours must yield to them.
#[test]
fn ignores_adverts_with_a_bad_ttl_or_checksum() {
    require_tools();
    init_logging();
    let mut segment = Segment::new("e");
    let i_ns = segment.router("i", "10.99.0.9/24");
    let o_ns = segment.router("o", "10.99.0.2/24");

    // 0: TTL 64; 1: bad checksum; 2: valid.
    let mode = Arc::new(std::sync::atomic::AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let injector = {
        let (mode, stop) = (mode.clone(), stop.clone());
        testkit::netns::spawn_in(&i_ns, move || {
            let socket = VrrpSocket::open("eth0", &[], &[]).expect("injector socket");
            let src = socket.local_address();
            let dst = packet::MULTICAST_GROUP;
            let advert = Advert {
                vrid: VRID,
                priority: 250,
                interval_centis: 100,
                addresses: vec![Ipv4Addr::new(10, 99, 0, 100), Ipv4Addr::new(192, 168, 3, 1)],
            };
            while !stop.load(Ordering::Relaxed) {
                let mut body = advert.encode(src, dst);
                let ttl = match mode.load(Ordering::Relaxed) {
                    0 => 64,
                    1 => {
                        body[7] ^= 0x5a;
                        packet::TTL
                    }
                    _ => packet::TTL,
                };
                let bytes = packet::build_ipv4(src, dst, ttl, 0, &body);
                socket.send_packet(&bytes, dst).expect("inject");
                thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let guard = StopOnDrop(stop.clone());

    let mut ours = Ours::start(&o_ns, vrrp(100));
    ours.wait_role(Role::Master);
    assert!(
        ours.logs().iter().any(|l| l.contains("TTL 64 is not 255")),
        "{:?}",
        ours.logs()
    );

    // Wrong checksums, with TTL 255: still master, and the drop is logged.
    // (Dropped-packet lines are throttled to one per 10 s, so wait for it.)
    mode.store(1, Ordering::Relaxed);
    let end = Instant::now() + WAIT;
    while !ours.logs().iter().any(|l| l.contains("bad checksum")) {
        assert!(
            Instant::now() < end,
            "no bad checksum logged: {:?}",
            ours.logs()
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        ours.roles(),
        vec![Role::Backup, Role::Master],
        "{:?}",
        ours.history
    );

    // The same adverts, valid: ours yields at once.
    mode.store(2, Ordering::Relaxed);
    let t = ours.wait_role(Role::Backup);
    assert_eq!(t.reason, "higher priority 250 from 10.99.0.9 (ours 100)");

    ours.stop();
    drop(guard);
    injector.join().expect("injector thread");
}

/// Unicast peers on both sides (no multicast at all): the same election,
/// with checksums over each peer's own address.
#[test]
fn unicast_peers_elect_and_take_over_with_keepalived() {
    require_tools();
    init_logging();
    let mut segment = Segment::new("u");
    let k_ns = segment.router("k", "10.99.0.1/24");
    let o_ns = segment.router("o", "10.99.0.2/24");

    let mut keepalived = Keepalived::start_with(
        &k_ns,
        100,
        &[WAN_VIP, LAN_VIP],
        "advert_int 1",
        "  unicast_src_ip 10.99.0.1\n  unicast_peer {\n    10.99.0.2\n  }\n",
    );
    keepalived.wait_state("MASTER");
    let mut cfg = vrrp(200);
    cfg.unicast_peers = vec![IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1))];
    let mut ours = Ours::start(&o_ns, cfg);
    ours.wait_role(Role::Master);
    keepalived.wait_state("BACKUP");
    ours.stop();
    keepalived.wait_state("MASTER");
    let log = keepalived.log();
    assert!(log.contains("priority 0"), "{log}");
    assert!(!log.contains("checksum"), "{log}");
}

/// Sub-second adverts (keepalived `advert_int 0.1`, 10 centiseconds): ours
/// as backup learns the master's interval, so its master-down interval is
/// 3 × 100 ms + skew, and takes over at that pace when keepalived dies.
#[test]
fn sub_second_interval_is_learned_from_keepalived() {
    require_tools();
    init_logging();
    let mut segment = Segment::new("s");
    let k_ns = segment.router("k", "10.99.0.1/24");
    let o_ns = segment.router("o", "10.99.0.2/24");

    let mut keepalived =
        Keepalived::start_with(&k_ns, 200, &[WAN_VIP, LAN_VIP], "advert_int 0.1", "");
    keepalived.wait_state("MASTER");
    // Ours is configured at 1 s: the 100 ms comes from keepalived's adverts.
    let mut ours = Ours::start(&o_ns, vrrp(100));
    thread::sleep(Duration::from_secs(5));
    assert_eq!(ours.roles(), vec![Role::Backup], "{:?}", ours.history);
    keepalived.kill();
    let t = ours.wait_role(Role::Master);
    // 3 × 100 ms + (256 − 100) × 100 ms / 256 = 360.9 ms.
    assert_eq!(
        t.reason,
        "master down timer expired: no advert from 10.99.0.1 for 360 ms"
    );
    ours.stop();
}

/// The advert interface going down puts ours in FAULT (it must not claim
/// the addresses while deaf); back up, it starts over as backup and, alone,
/// becomes master again. The director's report for the other interfaces
/// does the same.
#[test]
fn link_down_is_fault() {
    require_tools();
    init_logging();
    let mut segment = Segment::new("l");
    let o_ns = segment.router("o", "10.99.0.2/24");

    let mut ours = Ours::start(&o_ns, vrrp(100));
    ours.wait_role(Role::Master);
    run(&["ip", "-n", &o_ns, "link", "set", "eth0", "down"]);
    let t = ours.wait_role(Role::Fault);
    assert_eq!(t.reason, "interface down");
    run(&["ip", "-n", &o_ns, "link", "set", "eth0", "up"]);
    ours.wait_role(Role::Master);

    ours.control
        .send(Control::InterfaceUp(false))
        .expect("instance running");
    ours.wait_role(Role::Fault);
    ours.control
        .send(Control::InterfaceUp(true))
        .expect("instance running");
    ours.wait_role(Role::Master);
    assert_eq!(
        ours.roles(),
        vec![
            Role::Backup,
            Role::Master,
            Role::Fault,
            Role::Backup,
            Role::Master,
            Role::Fault,
            Role::Backup,
            Role::Master
        ]
    );
    ours.stop();
}

/// A neighbour that has the virtual address cached at another MAC moves it
/// to ours on our gratuitous ARP.
#[test]
fn gratuitous_arp_moves_a_neighbours_cache_entry() {
    require_tools();
    init_logging();
    let mut segment = Segment::new("g");
    let n_ns = segment.router("n", "10.99.0.5/24");
    let o_ns = segment.router("o", "10.99.0.2/24");
    // Updates within locktime (1 s by default) would be ignored.
    run(&[
        "ip",
        "netns",
        "exec",
        &n_ns,
        "sysctl",
        "-qw",
        "net.ipv4.neigh.eth0.locktime=0",
    ]);
    run(&[
        "ip",
        "-n",
        &n_ns,
        "neigh",
        "replace",
        "10.99.0.100",
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "eth0",
        "nud",
        "stale",
    ]);
    let ours_mac = Command::new("ip")
        .args(["-n", &o_ns, "-br", "link", "show", "eth0"])
        .output()
        .expect("ip link");
    let ours_mac = String::from_utf8_lossy(&ours_mac.stdout)
        .split_whitespace()
        .nth(2)
        .expect("MAC column")
        .to_string();

    testkit::netns::spawn_in(&o_ns, || {
        lvsinit::vrrp::arp::announce("eth0", &[Ipv4Addr::new(10, 99, 0, 100)])
    })
    .join()
    .expect("announce thread")
    .expect("announce");

    let end = Instant::now() + WAIT;
    loop {
        let out = Command::new("ip")
            .args(["-n", &n_ns, "neigh", "show", "10.99.0.100", "dev", "eth0"])
            .output()
            .expect("ip neigh");
        let line = String::from_utf8_lossy(&out.stdout).to_string();
        if line.contains(&ours_mac) {
            break;
        }
        assert!(
            Instant::now() < end,
            "the neighbour still has {line:?}, not {ours_mac}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// Stops the injector thread even when an assertion fails.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn an_unknown_interface_is_an_error() {
    init_logging();
    let mut cfg = vrrp(100);
    cfg.interface = "lvsinit-none0".into();
    let err = Instance::new(&cfg).unwrap_err();
    assert!(
        err.to_string().starts_with("no interface lvsinit-none0"),
        "{err}"
    );
    // An IPv6 unicast peer cannot be reached by IPv4 adverts.
    let mut cfg = vrrp(100);
    cfg.interface = "lo".into();
    cfg.unicast_peers = vec![IpAddr::V6("fe80::1".parse().unwrap())];
    let err = Instance::new(&cfg).unwrap_err();
    assert!(err.to_string().contains("unicast peer fe80::1"), "{err}");
}
