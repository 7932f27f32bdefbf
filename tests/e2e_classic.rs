//! End-to-end acceptance tests of the classic setup: a director in QEMU
//! balancing real PostgreSQL servers in network namespaces (see
//! `tests/lab/`).
//!
//! Needs root, QEMU, PostgreSQL 15 and a built image (`image/build
//! --test-layer`); each test fails loudly, never skips, when one is missing.

mod lab;

use std::sync::Mutex;
use std::time::Duration;

use lab::Lab;

/// VMs under TCG on two cores: one lab at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
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
    assert!(!lab::netns::alive(pid));
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
        .flat_map(|n| lab::netns::Netns::pids_of(n))
        .collect();
    assert!(!pids.is_empty());
    drop(lab);
    let left = lab::netns::list();
    for name in &names {
        assert!(!left.contains(name), "namespace {name} left behind");
    }
    for pid in pids {
        assert!(!lab::netns::alive(pid), "pid {pid} left running");
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
    let ns = lab::netns::Netns::create(&name);
    let mut sleeper = ns.command("sleep").arg("600").spawn().unwrap();
    // Forget the guard: this namespace stands for one nobody cleaned up.
    std::mem::forget(ns);
    let sleeper_pid = sleeper.id() as i32;

    let lab = Lab::new();
    assert!(
        !lab::netns::list().contains(&name),
        "stale namespace {name} kept"
    );
    assert!(!dir.exists(), "stale dir {} kept", dir.display());
    // The leftover process was killed (reap it: it is our child here).
    sleeper.wait().unwrap();
    assert!(!lab::netns::alive(sleeper_pid));
    drop(lab);
}
