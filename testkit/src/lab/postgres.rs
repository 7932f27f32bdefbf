//! Real servers: one network namespace each on the server bridge, running a
//! real PostgreSQL 15 from Debian as the `postgres` user.
//!
//! The postmaster is spawned through an exec chain (`ip netns exec` →
//! `setpriv` → `postgres`), so the child pid the lab holds is the
//! postmaster itself; [`RealServer::start`] checks that against
//! `postmaster.pid`.

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cmd;
use crate::netns::Netns;

/// Where Debian keeps the PostgreSQL 15 programs.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// `pg_hba.conf` of every real server: trust the client subnet and the
/// server subnet (the director's inside address and pgbench -i from the
/// server itself), nothing else.
const PG_HBA: &str = "\
local all all trust
host all all 127.0.0.1/32 trust
host all all 192.168.1.0/24 trust
host all all 192.168.3.0/24 trust
";

/// One real server: its namespace, data directory and postmaster.
pub struct RealServer {
    /// The address PostgreSQL listens on (192.168.3.2, 192.168.3.3, ...).
    pub addr: Ipv4Addr,
    /// The veth end in the lab namespace, on the server bridge; cutting
    /// the server off the network is `ip link set LINK down` on it.
    pub lab_link: String,
    lab_ns: String,
    dir: PathBuf,
    child: Option<Child>,
    // Declared last: dropped after the postmaster is gone.
    ns: Netns,
}

impl RealServer {
    /// Create the namespace `ns_name` connected to bridge `bridge` of the
    /// lab namespace by a veth (`lab_link` there, `eth0` inside), with
    /// `addr`/24 and a default route via `gateway`. No database yet.
    pub(crate) fn create(
        lab: &Netns,
        bridge: &str,
        ns_name: &str,
        lab_link: &str,
        addr: Ipv4Addr,
        gateway: Ipv4Addr,
        dir: PathBuf,
    ) -> RealServer {
        let ns = Netns::with_loopback(ns_name);
        lab.plug(bridge, lab_link, &ns, "eth0");
        ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
        ns.ip(&["route", "add", "default", "via", &gateway.to_string()]);
        fs::create_dir_all(dir.join("sock")).expect("create real server dir");
        RealServer {
            addr,
            lab_link: lab_link.to_string(),
            lab_ns: lab.name().to_string(),
            dir,
            child: None,
            ns,
        }
    }

    /// The real server's namespace, to run more commands inside it.
    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    /// Its data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The postmaster's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `initdb` a fresh cluster (superuser `postgres`, trust) and write
    /// its `pg_hba.conf`. Takes a few seconds; call for several servers in
    /// parallel threads.
    pub fn initdb(&self) {
        let (uid, gid) = postgres_ids();
        for path in [self.dir.as_path(), &self.dir.join("sock")] {
            chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o755))
            .expect("chmod real server dir");
        cmd::check(
            as_postgres(&mut Command::new("setpriv"))
                .arg(Path::new(PG_BIN).join("initdb"))
                .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
                .args(["--locale=C", "--no-instructions", "-D"])
                .arg(self.data_dir())
                .current_dir(&self.dir),
        );
        fs::write(self.data_dir().join("pg_hba.conf"), PG_HBA).expect("write pg_hba.conf");
    }

    /// Start the postmaster inside the namespace, listening on `addr:5432`
    /// only, and wait until `postmaster.pid` says it is ready.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.addr);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open postgres log");
        let mut command = self.ns.command("setpriv");
        as_postgres(&mut command)
            .arg(Path::new(PG_BIN).join("postgres"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-c", &format!("listen_addresses={}", self.addr)])
            .args(["-c", "port=5432"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.join("sock").display()
            ))
            // A throwaway cluster: trade durability for speed.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "shared_buffers=16MB"])
            .args(["-c", "max_connections=60"])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start postgres for {}: {e}", self.addr));
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(30));
    }

    /// Poll `postmaster.pid` until its status line reads `ready`.
    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let pid_file = self.data_dir().join("postmaster.pid");
        loop {
            let child = self.child.as_mut().expect("started");
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                panic!(
                    "postgres for {} exited ({status}) while starting:\n{}",
                    self.addr,
                    self.log()
                );
            }
            if let Ok(text) = fs::read_to_string(&pid_file) {
                let lines: Vec<&str> = text.lines().collect();
                // A file naming another pid is a stale one from before a
                // kill: the new postmaster has not replaced it yet.
                if lines.len() >= 8
                    && lines[0].trim() == child.id().to_string()
                    && lines[7].trim() == "ready"
                {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "postgres for {} not ready after {timeout:?}:\n{}",
                    self.addr,
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop it as an administrator would (`SIGTERM`: smart shutdown, new
    /// connections refused, open sessions may finish) and wait for the
    /// postmaster to exit. Escalates to a fast shutdown (SIGINT) after
    /// `timeout` and to SIGKILL after twice that.
    pub fn stop(&mut self, timeout: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        if cmd::wait_timeout(&mut child, timeout).is_none() {
            let _ = kill(pid, Signal::SIGINT);
            if cmd::wait_timeout(&mut child, timeout).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Backends exit with their postmaster; make sure none lingers.
        self.ns.kill_all();
    }

    /// Kill it like a machine losing power: SIGKILL the postmaster and
    /// every backend, and wait until they are all gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.ns.kill_all();
    }

    /// Cut its network link (`ip link set LINK down` on its veth in the
    /// lab namespace): the server keeps running but gets no packets.
    pub fn cut_link(&self) {
        self.set_lab_link("down");
    }

    /// Undo [`RealServer::cut_link`].
    pub fn restore_link(&self) {
        self.set_lab_link("up");
    }

    /// `ip link set LINK up|down` on its veth in the lab namespace.
    fn set_lab_link(&self, state: &str) {
        cmd::check(Command::new("ip").args([
            "-n",
            &self.lab_ns,
            "link",
            "set",
            &self.lab_link,
            state,
        ]));
    }

    /// `pgbench -i` against itself, from inside its own namespace (so it
    /// needs no route through the director).
    pub fn pgbench_init(&self, scale: u32) {
        cmd::check(
            self.ns
                .command(Path::new(PG_BIN).join("pgbench"))
                .args([
                    "-i",
                    "-q",
                    "-s",
                    &scale.to_string(),
                    "-h",
                    &self.addr.to_string(),
                ])
                .args(["-U", "postgres", "postgres"]),
        );
    }

    /// Run one SQL statement against itself from inside its namespace.
    pub fn psql_local(&self, sql: &str) -> String {
        cmd::check(
            self.ns
                .command(Path::new(PG_BIN).join("psql"))
                .args(["-X", "-At", "-h", &self.addr.to_string(), "-U", "postgres"])
                .args(["-d", "postgres", "-c", sql]),
        )
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// The server's log so far (stderr of the postmaster).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Make `command` (a `setpriv` command) switch to the postgres user before
/// exec'ing what follows: PostgreSQL refuses to run as root.
fn as_postgres(command: &mut Command) -> &mut Command {
    command.args([
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        "--",
    ])
}

/// uid and gid of the `postgres` user, from `getent passwd postgres`.
fn postgres_ids() -> (u32, u32) {
    let entry = cmd::try_check(Command::new("getent").args(["passwd", "postgres"]))
        .unwrap_or_else(|e| panic!("user `postgres` missing (apt-get install postgresql): {e}"));
    let fields: Vec<&str> = entry.trim().split(':').collect();
    let id = |i: usize| -> u32 {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .unwrap_or_else(|| panic!("bad passwd entry {entry:?}"))
    };
    (id(2), id(3))
}
