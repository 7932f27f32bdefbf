//! Network namespaces the lab creates, the `ip` commands run inside them,
//! and the sweep that leaves nothing running when one is removed.

use std::ffi::OsStr;
use std::fs;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::cmd;

/// A named network namespace (`ip netns add NAME`), removed on drop after
/// every process still inside it has been killed.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create the namespace and bring its loopback up (PostgreSQL and
    /// anything else listening locally needs `lo`).
    pub fn create(name: &str) -> Netns {
        cmd::check(Command::new("ip").args(["netns", "add", name]));
        let ns = Netns {
            name: name.to_string(),
        };
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

    /// A command that runs `program` inside the namespace. `ip netns exec`
    /// exec's the program, so the spawned child's pid is the program's own.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Set a sysctl of this namespace (`net.*` keys are per namespace).
    pub fn sysctl(&self, key: &str, value: &str) {
        cmd::check(
            self.command("sysctl")
                .arg("-qw")
                .arg(format!("{key}={value}")),
        );
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

impl Drop for Netns {
    fn drop(&mut self) {
        kill_all_in(&self.name);
        if let Err(e) = cmd::try_check(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!("lab: {e}");
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
/// by the lab: servers, their backends, qemu, psql) and wait for them.
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
            eprintln!("lab: processes {left:?} still alive after SIGKILL");
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
