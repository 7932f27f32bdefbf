//! Links, addresses, routes and sysctls against the real kernel.
//!
//! Every test makes its own network namespace (`lvsinit-t-<test>-<pid>`),
//! fills it with veth pairs with fixed MACs, and runs the library in a thread
//! that has `setns()`ed into it; results are read back with `ip -j`. The
//! host's own namespace is never touched. A guard deletes the namespace even
//! when a test fails.
//!
//! These tests need root and iproute2's `ip`. Without them they FAIL with a
//! message saying so: they never skip quietly.

use std::collections::BTreeSet;
use std::future::Future;
use std::process::Command;
use std::time::{Duration, Instant};

use lvsinit::config::{Interface, IpNet, LinkMatch, MacAddr, MadeLink, Route, VirtualAddress};
use lvsinit::netlink::{Failure, NetlinkError, Network};
use lvsinit::sysctl;
use serde_json::Value;
use testkit::Netns;

const MAC_A: &str = "52:54:00:00:01:01";
const MAC_B: &str = "52:54:00:00:01:02";
const MAC_C: &str = "52:54:00:00:01:03";

// ---------------------------------------------------------------------------
// The config pieces.

fn net(s: &str) -> IpNet {
    let (addr, len) = s.split_once('/').expect("addr/len");
    IpNet {
        addr: addr.parse().expect("address"),
        prefix_len: len.parse().expect("prefix length"),
    }
}

fn mac(s: &str) -> MacAddr {
    let mut bytes = [0u8; 6];
    for (b, part) in bytes.iter_mut().zip(s.split(':')) {
        *b = u8::from_str_radix(part, 16).expect("hex");
    }
    MacAddr(bytes)
}

fn by_mac(name: &str, m: &str, addrs: &[&str], mtu: Option<u32>) -> Interface {
    Interface {
        name: name.into(),
        matcher: LinkMatch::Mac(mac(m)),
        addresses: addrs.iter().map(|a| net(a)).collect(),
        mtu,
    }
}

fn by_device(name: &str, dev: &str, addrs: &[&str]) -> Interface {
    Interface {
        name: name.into(),
        matcher: LinkMatch::Device(dev.into()),
        addresses: addrs.iter().map(|a| net(a)).collect(),
        mtu: None,
    }
}

fn route(
    dst: &str,
    via: Option<&str>,
    dev: Option<&str>,
    table: Option<u32>,
    metric: Option<u32>,
) -> Route {
    Route {
        destination: net(dst),
        gateway: via.map(|g| g.parse().expect("gateway")),
        device: dev.map(String::from),
        metric,
        table,
    }
}

// ---------------------------------------------------------------------------
// The namespaces.

/// A fresh namespace for `test` (`lvsinit-t-<test>-<pid>`), with the log
/// capture installed; deleted when dropped, even when the test fails.
fn netns(test: &str) -> Netns {
    testkit::logs::init(log::LevelFilter::Info);
    Netns::create(&format!("lvsinit-t-{test}-{}", std::process::id()))
}

/// What `ip` shows, reduced to what the config decides: link names, MACs,
/// MTUs and up flags; addresses; unicast routes of every table. (Lifetimes,
/// DAD flags and carrier come and go on their own.)
#[derive(Debug, PartialEq, Eq)]
struct State {
    links: BTreeSet<String>,
    addrs: BTreeSet<String>,
    routes: BTreeSet<String>,
}

/// What the tests read back from, and do in, one of their namespaces.
trait Kernel {
    fn enter<F, Fut>(&self, make: F) -> (Fut::Output, Vec<String>)
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future,
        Fut::Output: Send;
    fn apply(
        &self,
        interfaces: &[Interface],
        routes: Option<&[Route]>,
        wait: Duration,
    ) -> (Vec<Failure>, Vec<String>);
    fn link(&self, name: &str) -> Option<Value>;
    fn addrs(&self, dev: &str) -> BTreeSet<String>;
    fn routes(&self) -> BTreeSet<String>;
    fn state(&self) -> State;
    fn wait_for_link_local(&self, dev: &str);
}

impl Kernel for Netns {
    /// Run the future `make()` builds in a thread that has entered this
    /// namespace, on a current-thread tokio runtime. Returns its output and
    /// the lines that thread logged.
    fn enter<F, Fut>(&self, make: F) -> (Fut::Output, Vec<String>)
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future,
        Fut::Output: Send,
    {
        self.run(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            let out = runtime.block_on(make());
            drop(runtime);
            (out, testkit::logs::of(std::thread::current().id()))
        })
    }

    /// Connect, apply the interfaces and then, if given, the routes.
    fn apply(
        &self,
        interfaces: &[Interface],
        routes: Option<&[Route]>,
        wait: Duration,
    ) -> (Vec<Failure>, Vec<String>) {
        self.enter(move || async move {
            let net = Network::connect().expect("rtnetlink connection");
            let mut failures = net.apply_interfaces(interfaces, wait).await;
            if let Some(routes) = routes {
                failures.extend(net.apply_routes(routes, interfaces).await);
            }
            failures
        })
    }

    fn link(&self, name: &str) -> Option<Value> {
        self.ip_json(&["link", "show"])
            .into_iter()
            .find(|l| l["ifname"] == name)
    }

    /// "192.168.1.1/24" for each address on `dev`.
    fn addrs(&self, dev: &str) -> BTreeSet<String> {
        self.ip_json(&["addr", "show", "dev", dev])
            .iter()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or("?"), a["prefixlen"]))
            .collect()
    }

    /// Unicast routes of all tables, both families, written as
    /// "DST [via GW] [dev DEV] [table T] proto P [metric M]".
    fn routes(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for family in ["-4", "-6"] {
            for r in self.ip_json(&[family, "route", "show", "table", "all"]) {
                if r.get("type").is_some() {
                    continue; // local, broadcast, multicast: the kernel's own
                }
                let mut s = r["dst"].as_str().unwrap_or("?").to_string();
                if let Some(gw) = r["gateway"].as_str() {
                    s += &format!(" via {gw}");
                }
                if let Some(dev) = r["dev"].as_str() {
                    s += &format!(" dev {dev}");
                }
                match &r["table"] {
                    Value::Null => {}
                    Value::String(t) if t == "main" => {}
                    Value::String(t) => s += &format!(" table {t}"),
                    other => s += &format!(" table {other}"),
                }
                // `ip -j` leaves out the default, `proto boot`.
                s += &format!(" proto {}", r["protocol"].as_str().unwrap_or("boot"));
                if let Some(m) = r["metric"].as_u64().filter(|m| *m != 0) {
                    s += &format!(" metric {m}");
                }
                out.insert(s);
            }
        }
        out
    }

    fn state(&self) -> State {
        let links = self
            .ip_json(&["link", "show"])
            .iter()
            .map(|l| {
                let up = l["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "UP"));
                format!("{} {} mtu {} up {up}", l["ifname"], l["address"], l["mtu"])
            })
            .collect();
        let addrs = self
            .ip_json(&["addr", "show"])
            .iter()
            .flat_map(|l| {
                let dev = l["ifname"].as_str().unwrap_or("?").to_string();
                l["addr_info"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |a| {
                        format!(
                            "{dev} {}/{}",
                            a["local"].as_str().unwrap_or("?"),
                            a["prefixlen"]
                        )
                    })
            })
            .collect();
        State {
            links,
            addrs,
            routes: self.routes(),
        }
    }

    /// Wait until `dev` has an IPv6 link-local address (the kernel adds one
    /// shortly after the link comes up with carrier).
    fn wait_for_link_local(&self, dev: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.addrs(dev).iter().any(|a| a.starts_with("fe80:")) {
            assert!(
                Instant::now() < deadline,
                "{dev} got no fe80:: address: {:?}",
                self.addrs(dev)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn assert_no_failures(failures: &[Failure]) {
    let text: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
    assert!(failures.is_empty(), "unexpected failures: {text:#?}");
}

fn assert_logged(logs: &[String], line: &str) {
    assert!(
        logs.iter().any(|l| l == line),
        "expected log line {line:?} in {logs:#?}"
    );
}

// ---------------------------------------------------------------------------
// Interfaces.

#[test]
fn interfaces_by_mac_and_by_device_renamed_with_mtu_and_addresses() {
    let ns = netns("ifaces");
    ns.veth("eth0", MAC_A, "peer0");
    ns.veth("eth1", MAC_B, "peer1");
    ns.ip(&["addr", "add", "172.16.0.9/16", "dev", "eth0"]);
    ns.ip(&["addr", "add", "2001:db8:ff::9/64", "dev", "eth0", "nodad"]);
    ns.ip(&["addr", "add", "10.0.0.1/24", "dev", "eth1"]);
    ns.ip(&["addr", "add", "10.9.9.9/24", "dev", "eth1"]);
    ns.ip(&["link", "set", "eth1", "up"]);

    let interfaces = [
        by_mac(
            "wan",
            MAC_A,
            &["192.168.1.1/24", "2001:db8:1::1/64"],
            Some(1400),
        ),
        by_device("lan", "eth1", &["10.0.0.1/24"]),
    ];
    let (failures, logs) = ns.apply(&interfaces, None, Duration::ZERO);
    assert_no_failures(&failures);

    assert_logged(&logs, "link eth0 (52:54:00:00:01:01) renamed to wan");
    assert_logged(&logs, "link eth1 (52:54:00:00:01:02) renamed to lan");
    assert_logged(&logs, "wan: MTU set to 1400 (was 1500)");
    assert_logged(&logs, "wan: added 192.168.1.1/24");
    assert_logged(&logs, "wan: added 2001:db8:1::1/64");
    assert_logged(&logs, "wan: removed 172.16.0.9/16");
    assert_logged(&logs, "wan: removed 2001:db8:ff::9/64");
    assert_logged(&logs, "lan: removed 10.9.9.9/24");
    assert_logged(&logs, "wan: link set up");
    assert_logged(&logs, "lan: link set up");
    assert!(
        !logs.iter().any(|l| l.contains("added 10.0.0.1/24")),
        "10.0.0.1/24 was already there: {logs:#?}"
    );

    assert!(ns.link("eth0").is_none() && ns.link("eth1").is_none());
    let wan = ns.link("wan").expect("wan exists");
    assert_eq!(wan["address"], MAC_A);
    assert_eq!(wan["mtu"], 1400);
    assert!(
        wan["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "{wan}"
    );
    let lan = ns.link("lan").expect("lan exists");
    assert_eq!(lan["address"], MAC_B);
    assert_eq!(lan["mtu"], 1500);

    ns.wait_for_link_local("wan");
    ns.wait_for_link_local("lan");
    let wan_addrs = ns.addrs("wan");
    assert!(
        wan_addrs.contains("192.168.1.1/24") && wan_addrs.contains("2001:db8:1::1/64"),
        "{wan_addrs:?}"
    );
    assert!(!wan_addrs.contains("172.16.0.9/16"), "{wan_addrs:?}");
    let lan_addrs = ns.addrs("lan");
    assert!(
        lan_addrs.contains("10.0.0.1/24") && !lan_addrs.contains("10.9.9.9/24"),
        "{lan_addrs:?}"
    );

    // Applying again changes and logs nothing, and keeps fe80:: addresses.
    let before = ns.state();
    let (failures, logs) = ns.apply(&interfaces, None, Duration::ZERO);
    assert_no_failures(&failures);
    assert!(logs.is_empty(), "second apply logged {logs:#?}");
    assert_eq!(ns.state(), before);
    assert!(ns.addrs("wan").iter().any(|a| a.starts_with("fe80:")));
}

fn bridge(name: &str, members: &[&str], stp: bool, addrs: &[&str]) -> Interface {
    Interface {
        name: name.into(),
        matcher: LinkMatch::Made(MadeLink::Bridge {
            members: members.iter().map(|m| m.to_string()).collect(),
            stp,
        }),
        addresses: addrs.iter().map(|a| net(a)).collect(),
        mtu: None,
    }
}

/// `ip -d -j link show NAME`: kind, alias, master and the kind's settings.
fn details(ns: &Netns, name: &str) -> Option<Value> {
    ns.ip_json(&["-d", "link", "show"])
        .into_iter()
        .find(|l| l["ifname"] == name)
}

/// The host kernel has bridges (VLANs and bonds are tested in the VM,
/// tests/e2e_links.rs): a bridge is made with its members and address,
/// applying again changes nothing, a reload changes STP in place and
/// releases a member it no longer lists, and one that drops the bridge
/// removes it. A bridge made by someone else is left alone; a name held
/// by another kind of link is an error that says so.
#[test]
fn a_bridge_is_made_changed_and_removed_by_reconcile() {
    let ns = netns("bridge");
    ns.veth("eth0", MAC_A, "peer0");
    ns.veth("eth1", MAC_B, "peer1");
    ns.ip(&["link", "add", "theirs", "type", "bridge"]);
    let nics = [
        by_mac("lan0", MAC_A, &[], None),
        by_mac("lan1", MAC_B, &[], None),
    ];
    let mut interfaces = nics.to_vec();
    interfaces.push(bridge("br0", &["lan0", "lan1"], false, &["10.0.0.1/24"]));

    let (failures, logs) = ns.apply(&interfaces, None, Duration::ZERO);
    assert_no_failures(&failures);
    assert_logged(&logs, "link br0 added (bridge of lan0, lan1)");
    assert_logged(&logs, "lan0: master br0");
    assert_logged(&logs, "lan1: master br0");
    let br = details(&ns, "br0").expect("br0 made");
    assert_eq!(br["linkinfo"]["info_kind"], "bridge", "{br}");
    assert_eq!(br["ifalias"], "lvsinit", "{br}");
    assert_eq!(br["linkinfo"]["info_data"]["stp_state"], 0, "{br}");
    assert!(
        br["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "{br}"
    );
    for member in ["lan0", "lan1"] {
        let l = details(&ns, member).expect(member);
        assert_eq!(l["master"], "br0", "{l}");
        assert!(
            l["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
            "{l}"
        );
    }
    assert!(ns.addrs("br0").contains("10.0.0.1/24"));
    assert!(ns.addrs("lan0").iter().all(|a| a.starts_with("fe80:")));

    let before = ns.state();
    let (failures, logs) = ns.apply(&interfaces, None, Duration::ZERO);
    assert_no_failures(&failures);
    assert!(logs.is_empty(), "second apply logged {logs:#?}");
    assert_eq!(ns.state(), before);

    // lan1 leaves, STP goes on: the same bridge, changed.
    let index = details(&ns, "br0").unwrap()["ifindex"].clone();
    interfaces[2] = bridge("br0", &["lan0"], true, &["10.0.0.1/24"]);
    let (failures, logs) = ns.apply(&interfaces, None, Duration::ZERO);
    assert_no_failures(&failures);
    assert_logged(&logs, "link br0 changed (bridge of lan0)");
    assert_logged(&logs, "lan1: no longer a member of br0");
    let br = details(&ns, "br0").unwrap();
    assert_eq!(br["ifindex"], index, "br0 kept, not made anew");
    assert_eq!(br["linkinfo"]["info_data"]["stp_state"], 1, "{br}");
    assert!(details(&ns, "lan1").unwrap().get("master").is_none());
    assert_eq!(details(&ns, "lan0").unwrap()["master"], "br0");

    // The bridge leaves the config: removed; theirs stays.
    let (failures, logs) = ns.apply(&nics, None, Duration::ZERO);
    assert_no_failures(&failures);
    assert_logged(&logs, "link br0 removed");
    assert!(details(&ns, "br0").is_none());
    let lan0 = details(&ns, "lan0").unwrap();
    assert!(lan0.get("master").is_none(), "{lan0}");
    assert!(
        lan0["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "a released member is up again: {lan0}"
    );
    assert!(
        details(&ns, "theirs").is_some(),
        "a bridge not ours was removed"
    );

    // A name held by a veth: an error naming it; nothing made.
    let mut interfaces = nics.to_vec();
    interfaces.push(bridge("peer1", &["lan0"], false, &[]));
    let (failures, _) = ns.apply(&interfaces, None, Duration::ZERO);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(failures[0].what, "interface peer1 (bridge of lan0)");
    assert!(
        matches!(failures[0].error, NetlinkError::NotOurs { .. }),
        "{}",
        failures[0]
    );
    assert!(details(&ns, "lan0").unwrap().get("master").is_none());

    // So is a bridge of that name the box did not make: not taken over.
    let mut interfaces = nics.to_vec();
    interfaces.push(bridge("theirs", &["lan0"], true, &[]));
    let (failures, _) = ns.apply(&interfaces, None, Duration::ZERO);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(
        matches!(failures[0].error, NetlinkError::NotOurs { .. }),
        "{}",
        failures[0]
    );
    let theirs = details(&ns, "theirs").expect("theirs kept");
    assert!(theirs.get("ifalias").is_none(), "{theirs}");
    assert!(details(&ns, "lan0").unwrap().get("master").is_none());
}

#[test]
fn swapping_two_names_works() {
    let ns = netns("swap");
    ns.veth("eth0", MAC_A, "peer0");
    ns.veth("eth1", MAC_B, "peer1");
    let interfaces = [
        by_mac("eth1", MAC_A, &[], None),
        by_mac("eth0", MAC_B, &[], None),
    ];
    let (failures, _) = ns.apply(&interfaces, None, Duration::ZERO);
    assert_no_failures(&failures);
    assert_eq!(ns.link("eth1").expect("eth1")["address"], MAC_A);
    assert_eq!(ns.link("eth0").expect("eth0")["address"], MAC_B);
    assert!(
        ns.state().links.iter().all(|l| !l.contains("lvsinit")),
        "a parked name was left behind"
    );

    let (failures, logs) = ns.apply(&interfaces, None, Duration::ZERO);
    assert_no_failures(&failures);
    assert!(logs.is_empty(), "second apply logged {logs:#?}");
}

#[test]
fn renaming_onto_a_taken_name_fails_naming_both_links() {
    let ns = netns("taken");
    ns.veth("eth0", MAC_A, "peer0");
    ns.veth("wan", MAC_C, "peer9"); // not in the config: nobody renames it away
    let interfaces = [
        by_mac("wan", MAC_A, &["192.168.1.1/24"], None),
        by_device("lan", "peer9", &["10.0.0.1/24"]),
    ];
    let (failures, _) = ns.apply(&interfaces, None, Duration::ZERO);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(failures[0].what, "interface wan (mac 52:54:00:00:01:01)");
    assert!(
        matches!(failures[0].error, NetlinkError::NameTaken { .. }),
        "{}",
        failures[0]
    );
    let text = failures[0].error.to_string();
    assert!(
        text.contains("eth0 (52:54:00:00:01:01)") && text.contains("link wan"),
        "{text}"
    );

    // Neither link was touched; the other interface was still configured.
    assert_eq!(
        ns.link("eth0").expect("eth0 kept its name")["address"],
        MAC_A
    );
    assert_eq!(ns.link("wan").expect("wan still there")["address"], MAC_C);
    assert!(ns.addrs("eth0").is_empty());
    assert!(ns.addrs("lan").contains("10.0.0.1/24"));
}

#[test]
fn one_link_cannot_serve_two_interfaces() {
    let ns = netns("claimed");
    ns.veth("eth0", MAC_A, "peer0");
    let interfaces = [
        by_mac("wan", MAC_A, &["192.168.1.1/24"], None),
        by_device("lan", "eth0", &["10.0.0.1/24"]),
    ];
    let (failures, _) = ns.apply(&interfaces, None, Duration::ZERO);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(failures[0].what, "interface lan (device eth0)");
    assert!(
        matches!(failures[0].error, NetlinkError::LinkClaimed { .. }),
        "{}",
        failures[0]
    );
    // The first claim stands; the second interface changed nothing.
    let wan = ns.addrs("wan");
    assert!(
        wan.contains("192.168.1.1/24") && !wan.contains("10.0.0.1/24"),
        "{wan:?}"
    );
}

#[test]
fn late_link_is_found_within_the_wait() {
    let ns = netns("late");
    ns.veth("eth0", MAC_A, "peer0");
    let interfaces = [
        by_mac("wan", MAC_A, &["192.168.1.1/24"], None),
        by_mac("lan", MAC_B, &["10.0.0.1/24"], Some(1400)),
    ];
    let name = ns.name().to_string();
    let hotplug = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        let args = [
            "-n", &name, "link", "add", "eth1", "address", MAC_B, "type", "veth", "peer", "name",
            "peer1",
        ];
        testkit::cmd::check(Command::new("ip").args(args));
    });
    let started = Instant::now();
    let (failures, logs) = ns.apply(&interfaces, None, Duration::from_secs(10));
    let took = started.elapsed();
    hotplug.join().expect("hotplug thread");
    assert_no_failures(&failures);
    assert!(
        took >= Duration::from_millis(900),
        "returned before the link existed: {took:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "took {took:?} for a link that came after 1 s"
    );
    assert_logged(&logs, "link eth1 (52:54:00:00:01:02) renamed to lan");
    let lan = ns.link("lan").expect("lan exists");
    assert_eq!(lan["mtu"], 1400);
    assert!(ns.addrs("lan").contains("10.0.0.1/24"));
    assert!(ns.addrs("wan").contains("192.168.1.1/24"));
}

#[test]
fn missing_link_fails_after_the_wait_and_the_others_are_configured() {
    let ns = netns("missing");
    ns.veth("eth0", MAC_A, "peer0");
    let interfaces = [
        by_mac("wan", MAC_A, &["192.168.1.1/24"], None),
        by_mac("lan", MAC_C, &["10.0.0.1/24"], None),
    ];
    let wait = Duration::from_millis(1500);
    let started = Instant::now();
    let (failures, _) = ns.apply(&interfaces, None, wait);
    let took = started.elapsed();
    assert!(
        took >= wait,
        "gave up after {took:?}, before the {wait:?} bound"
    );
    assert!(took < wait + Duration::from_secs(2), "took {took:?}");
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(failures[0].what, "interface lan (mac 52:54:00:00:01:03)");
    assert!(
        matches!(failures[0].error, NetlinkError::LinkNotFound { .. }),
        "{}",
        failures[0]
    );

    let wan = ns.link("wan").expect("wan configured anyway");
    assert!(
        wan["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "{wan}"
    );
    assert!(ns.addrs("wan").contains("192.168.1.1/24"));
}

#[test]
fn loopback_comes_up_once() {
    let ns = netns("lo");
    let lo_up = |ns: &Netns| {
        let lo = ns.link("lo").expect("lo");
        lo["flags"].as_array().unwrap().iter().any(|f| f == "UP")
    };
    assert!(!lo_up(&ns), "a new namespace starts with lo down");
    let (result, logs) =
        ns.enter(|| async { Network::connect().expect("connect").loopback_up().await });
    result.expect("loopback_up");
    assert!(lo_up(&ns));
    assert_eq!(logs, ["lo: link set up"]);
    let (result, logs) =
        ns.enter(|| async { Network::connect().expect("connect").loopback_up().await });
    result.expect("loopback_up again");
    assert!(logs.is_empty(), "{logs:?}");
}

// ---------------------------------------------------------------------------
// Routes.

/// One link `wan` (MAC A) with IPv4 and IPv6 addresses, its peer up.
fn wan_namespace(test: &str) -> (Netns, Vec<Interface>) {
    let ns = netns(test);
    ns.veth("eth0", MAC_A, "peer0");
    let interfaces = vec![by_mac(
        "wan",
        MAC_A,
        &["192.168.1.1/24", "2001:db8:1::1/64"],
        None,
    )];
    (ns, interfaces)
}

#[test]
fn routes_are_added_replaced_and_removed_and_others_are_left_alone() {
    let (ns, interfaces) = wan_namespace("routes");
    let mut routes = vec![
        route("0.0.0.0/0", Some("192.168.1.254"), None, None, None),
        route(
            "10.20.0.0/16",
            Some("192.168.1.254"),
            Some("wan"),
            Some(100),
            None,
        ),
        route("10.30.0.0/16", None, Some("wan"), None, Some(50)),
        route(
            "2001:db8:99::/48",
            Some("2001:db8:1::fe"),
            Some("wan"),
            None,
            None,
        ),
        route("::/0", Some("2001:db8:1::fe"), None, None, None),
        // A link-local gateway needs its device; IPv6 metric 0 means 1024.
        route("::/0", Some("fe80::1"), Some("wan"), Some(200), None),
        route("2001:db8:77::/48", None, Some("wan"), None, Some(0)),
    ];
    let (failures, logs) = ns.apply(&interfaces, Some(&routes), Duration::ZERO);
    assert_no_failures(&failures);
    assert_logged(&logs, "route 0.0.0.0/0 via 192.168.1.254: added");
    assert_logged(
        &logs,
        "route 10.20.0.0/16 via 192.168.1.254 dev wan table 100: added",
    );

    let got = ns.routes();
    for want in [
        "default via 192.168.1.254 dev wan proto static",
        "10.20.0.0/16 via 192.168.1.254 dev wan table 100 proto static",
        "10.30.0.0/16 dev wan proto static metric 50",
        "2001:db8:99::/48 via 2001:db8:1::fe dev wan proto static metric 1024",
        "default via 2001:db8:1::fe dev wan proto static metric 1024",
        "default via fe80::1 dev wan table 200 proto static metric 1024",
        "2001:db8:77::/48 dev wan proto static metric 1024",
        "192.168.1.0/24 dev wan proto kernel",
    ] {
        assert!(got.contains(want), "missing {want:?} in {got:#?}");
    }

    // A route someone added by hand (proto boot) is not ours.
    ns.ip(&["route", "add", "10.40.0.0/16", "via", "192.168.1.254"]);

    // Same config again: nothing changes, nothing is logged.
    let before = ns.state();
    let (failures, logs) = ns.apply(&interfaces, Some(&routes), Duration::ZERO);
    assert_no_failures(&failures);
    assert!(logs.is_empty(), "second apply logged {logs:#?}");
    assert_eq!(ns.state(), before);

    // New gateways for both default routes; the table-100 route is dropped.
    routes[0] = route("0.0.0.0/0", Some("192.168.1.253"), None, None, None);
    routes[4] = route("::/0", Some("2001:db8:1::fd"), None, None, None);
    routes.remove(1);
    let (failures, logs) = ns.apply(&interfaces, Some(&routes), Duration::ZERO);
    assert_no_failures(&failures);
    assert_eq!(logs.len(), 3, "{logs:#?}");
    assert!(
        logs.iter()
            .any(|l| l.starts_with("route ::/0 via 2001:db8:1::fd: replaced")),
        "{logs:#?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.starts_with("route 0.0.0.0/0 via 192.168.1.253: replaced")),
        "{logs:#?}"
    );
    assert_logged(
        &logs,
        "route 10.20.0.0/16 via 192.168.1.254 dev wan table 100 metric 0: removed (no longer configured)",
    );

    let got = ns.routes();
    assert!(
        got.contains("default via 192.168.1.253 dev wan proto static"),
        "{got:#?}"
    );
    assert!(
        got.contains("default via 2001:db8:1::fd dev wan proto static metric 1024"),
        "{got:#?}"
    );
    assert!(
        !got.iter()
            .any(|r| r.starts_with("default via 2001:db8:1::fe")),
        "{got:#?}"
    );
    assert!(
        !got.iter()
            .any(|r| r.contains("192.168.1.254 dev wan proto static")),
        "{got:#?}"
    );
    assert!(
        !got.iter().any(|r| r.starts_with("10.20.0.0/16")),
        "{got:#?}"
    );
    assert!(
        got.contains("10.40.0.0/16 via 192.168.1.254 dev wan proto boot"),
        "{got:#?}"
    );
    assert!(
        got.contains("192.168.1.0/24 dev wan proto kernel"),
        "{got:#?}"
    );
    assert!(
        got.contains("10.30.0.0/16 dev wan proto static metric 50"),
        "{got:#?}"
    );
}

#[test]
fn a_bad_route_fails_alone() {
    let (ns, interfaces) = wan_namespace("badroute");
    let routes = [
        route("10.1.0.0/16", Some("10.99.99.1"), None, None, None),
        route("10.2.0.0/16", None, Some("nosuch"), None, None),
        route("10.3.0.0/16", Some("192.168.1.254"), None, None, None),
    ];
    let (failures, _) = ns.apply(&interfaces, Some(&routes), Duration::ZERO);
    for f in &failures {
        eprintln!("{f}");
    }
    assert_eq!(failures.len(), 2, "{failures:#?}");
    assert_eq!(failures[0].what, "route 10.1.0.0/16 via 10.99.99.1");
    assert_eq!(
        failures[0].error.errno(),
        Some(libc_enetunreach()),
        "{}",
        failures[0]
    );
    assert_eq!(failures[1].what, "route 10.2.0.0/16 dev nosuch");
    assert!(
        matches!(failures[1].error, NetlinkError::NoSuchDevice(_)),
        "{}",
        failures[1]
    );
    let got = ns.routes();
    assert!(
        got.contains("10.3.0.0/16 via 192.168.1.254 dev wan proto static"),
        "{got:#?}"
    );
    assert!(
        !got.iter()
            .any(|r| r.starts_with("10.1.0.0/16") || r.starts_with("10.2.0.0/16")),
        "{got:#?}"
    );
}

/// ENETUNREACH: what the kernel says about a gateway on no connected subnet.
fn libc_enetunreach() -> i32 {
    nix::errno::Errno::ENETUNREACH as i32
}

// ---------------------------------------------------------------------------
// Sysctls: /proc/sys/net belongs to the namespace of the thread opening it.

/// Read a file as a process inside the namespace sees it.
fn cat_in(ns: &Netns, file: &str) -> String {
    testkit::cmd::check(ns.command("cat").arg(file))
        .trim()
        .to_string()
}

#[test]
fn sysctls_apply_inside_the_namespace_only() {
    let ns = netns("sysctl");
    let host_forward = sysctl::get("net.ipv4.ip_forward").expect("host ip_forward");
    let host_rp = sysctl::get("net.ipv4.conf.default.rp_filter").expect("host rp_filter");
    let ns_before = cat_in(&ns, "/proc/sys/net/ipv4/ip_forward");

    let config = vec![
        (
            "net.ipv4.conf.default.rp_filter".to_string(),
            "2".to_string(),
        ),
        ("net.ipv4.no_such_parameter".to_string(), "1".to_string()),
        ("net/ipv4/conf/all/arp_ignore".to_string(), "1".to_string()),
    ];
    let config = &config;
    let ((seen_before, failures, seen_after), logs) = ns.enter(move || async move {
        let before = sysctl::get("net.ipv4.ip_forward").expect("get in namespace");
        let failures = sysctl::apply(config);
        let after = sysctl::get("net.ipv4.ip_forward").expect("get in namespace");
        (before, failures, after)
    });
    // The thread read its namespace's value, not the host's.
    assert_eq!(seen_before, ns_before);
    assert_eq!(seen_after, "1");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0, "net.ipv4.no_such_parameter");
    assert!(
        matches!(failures[0].1, sysctl::SysctlError::Unknown { .. }),
        "{:?}",
        failures[0].1
    );

    assert_eq!(cat_in(&ns, "/proc/sys/net/ipv4/ip_forward"), "1");
    assert_eq!(
        cat_in(&ns, "/proc/sys/net/ipv4/conf/default/rp_filter"),
        "2"
    );
    assert_eq!(cat_in(&ns, "/proc/sys/net/ipv4/conf/all/arp_ignore"), "1");
    assert_logged(&logs, "sysctl net.ipv4.conf.default.rp_filter = 2");
    if ns_before != "1" {
        assert_logged(&logs, "sysctl net.ipv4.ip_forward = 1");
    }

    // The host's namespace is untouched.
    assert_eq!(sysctl::get("net.ipv4.ip_forward").unwrap(), host_forward);
    assert_eq!(
        sysctl::get("net.ipv4.conf.default.rp_filter").unwrap(),
        host_rp
    );

    // Again: every value is already there, nothing is written or logged.
    let (failures, logs) = ns.enter(move || async move { sysctl::apply(config) });
    assert_eq!(failures.len(), 1);
    assert!(logs.is_empty(), "{logs:?}");
}

// ---------------------------------------------------------------------------
// VRRP virtual addresses.

/// The virtual addresses belong to VRRP: a re-apply (reload, retry) neither
/// adds nor removes them, the master adds them and the backup removes them,
/// each change once. A config without `[vrrp]` removes a stray one.
#[test]
fn virtual_addresses_are_left_to_vrrp() {
    let ns = netns("vips");
    ns.veth("eth0", MAC_A, "peer0");
    let interfaces = [by_mac("wan", MAC_A, &["192.168.1.2/24"], None)];
    let vips = [VirtualAddress {
        interface: "wan".into(),
        address: net("192.168.1.100/24"),
    }];
    let (interfaces, vips) = (&interfaces, &vips);
    let zero = Duration::ZERO;

    let (failures, logs) = ns.enter(move || async move {
        let net = Network::connect().expect("rtnetlink connection");
        let mut failures = net.apply_interfaces_keeping(interfaces, vips, zero).await;
        failures.extend(net.add_virtual_addresses(vips).await);
        failures.extend(net.add_virtual_addresses(vips).await);
        failures.extend(net.apply_interfaces_keeping(interfaces, vips, zero).await);
        failures
    });
    assert_no_failures(&failures);
    let added: Vec<_> = logs
        .iter()
        .filter(|l| *l == "wan: added 192.168.1.100/24")
        .collect();
    assert_eq!(added.len(), 1, "{logs:#?}");
    assert!(!logs.iter().any(|l| l.contains("removed")), "{logs:#?}");
    let addrs = ns.addrs("wan");
    assert!(
        addrs.contains("192.168.1.2/24") && addrs.contains("192.168.1.100/24"),
        "{addrs:?}"
    );

    let (failures, logs) = ns.enter(move || async move {
        let net = Network::connect().expect("rtnetlink connection");
        let mut failures = net.remove_virtual_addresses(vips).await;
        failures.extend(net.remove_virtual_addresses(vips).await);
        failures.extend(net.apply_interfaces_keeping(interfaces, vips, zero).await);
        failures
    });
    assert_no_failures(&failures);
    assert_eq!(logs, ["wan: removed 192.168.1.100/24"]);
    assert!(!ns.addrs("wan").contains("192.168.1.100/24"));

    // Left behind by a config that had [vrrp]: the next plain apply removes it.
    ns.ip(&["addr", "add", "192.168.1.100/24", "dev", "wan"]);
    let (failures, logs) = ns.apply(interfaces, None, zero);
    assert_no_failures(&failures);
    assert_eq!(logs, ["wan: removed 192.168.1.100/24"]);

    // A virtual address on an interface that does not exist is a failure
    // naming it.
    let missing = [VirtualAddress {
        interface: "lan".into(),
        address: net("192.168.3.1/24"),
    }];
    let missing = &missing;
    let (failures, _) = ns.enter(move || async move {
        Network::connect()
            .unwrap()
            .add_virtual_addresses(missing)
            .await
    });
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].what, "virtual address 192.168.3.1/24 on lan");
}
