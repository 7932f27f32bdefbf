//! Throwaway network namespaces: created by name, the `ip` commands run
//! inside them, the threads that enter them, and the sweep that leaves
//! nothing running when one is removed. The host's own namespace is never
//! touched.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Output};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::cmd;

/// A named network namespace (`ip netns add NAME`), removed on drop after
/// every process still inside it has been killed. It starts as the kernel
/// makes it: only `lo`, down.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create the namespace `name`; a leftover of that name (a run that
    /// died before its guard could remove it) is removed first. Fails,
    /// saying so, when not root.
    pub fn create(name: &str) -> Netns {
        crate::host::require_root("creating network namespaces");
        if Path::new("/run/netns").join(name).exists() {
            kill_all_in(name);
            let _ = cmd::try_check(Command::new("ip").args(["netns", "del", name]));
        }
        cmd::check(Command::new("ip").args(["netns", "add", name]));
        Netns {
            name: name.to_string(),
        }
    }

    /// [`Netns::create`] with `lo` up (PostgreSQL, keepalived and anything
    /// else listening locally needs it).
    pub fn with_loopback(name: &str) -> Netns {
        let ns = Netns::create(name);
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS...`; panics with ip's message on failure.
    pub fn ip(&self, args: &[&str]) -> String {
        cmd::check(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// `ip -n NAME ARGS...`, returning ip's message on failure.
    pub fn try_ip(&self, args: &[&str]) -> Result<String, String> {
        cmd::try_check(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// `ip -n NAME -j ARGS...`, parsed: one value per object ip shows.
    pub fn ip_json(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["-j"];
        all.extend_from_slice(args);
        let text = self.ip(&all);
        if text.trim().is_empty() {
            return Vec::new();
        }
        match serde_json::from_str(&text).expect("ip -j prints JSON") {
            Value::Array(items) => items,
            other => panic!("ip -j printed {other}"),
        }
    }

    /// A veth pair `name` (with MAC `mac`) / `peer`, both inside, the peer
    /// up so that `name` has carrier once it is up.
    pub fn veth(&self, name: &str, mac: &str, peer: &str) {
        self.ip(&[
            "link", "add", name, "address", mac, "type", "veth", "peer", "name", peer,
        ]);
        self.ip(&["link", "set", peer, "up"]);
    }

    /// A veth pair into `other`: `link` here, on `bridge` and up, and
    /// `inner` in `other`, down and without an address yet.
    pub fn plug(&self, bridge: &str, link: &str, other: &Netns, inner: &str) {
        self.ip(&[
            "link",
            "add",
            link,
            "type",
            "veth",
            "peer",
            "name",
            inner,
            "netns",
            other.name(),
        ]);
        self.ip(&["link", "set", link, "master", bridge, "up"]);
    }

    /// A command that runs `program` inside the namespace. `ip netns exec`
    /// exec's the program, so the spawned child's pid is the program's own.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Run `args` (program first) inside the namespace to completion,
    /// whatever its exit status; panics only when it cannot be started.
    pub fn exec(&self, args: &[&str]) -> Output {
        let (program, rest) = args.split_first().expect("a program to run");
        let mut c = self.command(program);
        c.args(rest);
        c.output()
            .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", cmd::describe(&c)))
    }

    /// Set a sysctl of this namespace (`net.*` keys are per namespace).
    pub fn sysctl(&self, key: &str, value: &str) {
        cmd::check(
            self.command("sysctl")
                .arg("-qw")
                .arg(format!("{key}={value}")),
        );
    }

    /// Run `f` in a thread that has entered this namespace, and wait for
    /// its result. A panic in `f` fails the caller.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        thread::scope(|scope| {
            scope
                .spawn(|| {
                    enter(&self.name);
                    f()
                })
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// Pids of every process whose network namespace is this one.
    pub fn pids(&self) -> Vec<i32> {
        pids_in(&self.name)
    }

    /// Pids of every process inside the namespace called `name`.
    pub fn pids_of(name: &str) -> Vec<i32> {
        pids_in(name)
    }

    /// SIGKILL every process inside and wait until they are gone.
    pub fn kill_all(&self) {
        kill_all_in(&self.name);
    }
}

/// Run `f` on a new thread (named after the namespace) inside the
/// namespace `name`. The thread panics (join fails) when the namespace
/// cannot be entered.
pub fn spawn_in<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let ns = name.to_string();
    thread::Builder::new()
        .name(format!("netns {name}"))
        .spawn(move || {
            enter(&ns);
            f()
        })
        .unwrap_or_else(|e| panic!("spawn a thread for namespace {name}: {e}"))
}

/// Move the calling thread, and only it, into the namespace `name`
/// (setns(2) on `/run/netns/NAME`): sockets it opens from then on are
/// that namespace's.
pub fn enter(name: &str) {
    let path = format!("/run/netns/{name}");
    let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)
        .unwrap_or_else(|e| panic!("setns into {path}: {e}"));
}

impl Drop for Netns {
    fn drop(&mut self) {
        kill_all_in(&self.name);
        if let Err(e) = cmd::try_check(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!("netns: {e}");
        }
    }
}

/// Names of all namespaces `ip netns` knows.
pub fn list() -> Vec<String> {
    let out = cmd::check(Command::new("ip").args(["netns", "list"]));
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn pids_in(name: &str) -> Vec<i32> {
    match cmd::try_check(Command::new("ip").args(["netns", "pids", name])) {
        Ok(out) => out
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Kill every process inside namespace `name` (all of them were started
/// by the tests: servers, their backends, qemu, psql) and wait for them.
pub fn kill_all_in(name: &str) {
    let pids = pids_in(name);
    kill_and_wait(&pids, Duration::from_secs(10));
}

/// SIGKILL `pids` and wait until none of them is alive any more.
pub fn kill_and_wait(pids: &[i32], timeout: Duration) {
    for &pid in pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + timeout;
    while pids.iter().any(|&p| alive(p)) {
        if Instant::now() > deadline {
            let left: Vec<_> = pids.iter().filter(|&&p| alive(p)).collect();
            eprintln!("netns: processes {left:?} still alive after SIGKILL");
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// True when `pid` exists and is not a zombie waiting to be reaped.
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !stat[i + 1..].trim_start().starts_with(['Z', 'X']),
            None => true,
        },
        Err(_) => false,
    }
}
