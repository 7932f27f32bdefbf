//! The client: a namespace on the client bridge (192.168.1.10/24) running
//! `psql` and `pgbench` against the VIP the way a user's application would.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::postgres::PG_BIN;
use crate::cmd;
use crate::netns::Netns;

/// The client's namespace and the commands run from it.
pub struct Client {
    /// Its address on the client bridge.
    pub addr: &'static str,
    ns: Netns,
}

impl Client {
    pub(crate) fn new(ns: Netns, addr: &'static str) -> Client {
        Client { addr, ns }
    }

    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    /// A libpq program (`psql`, `pgbench`) run inside the client namespace
    /// with a 3 s connect timeout and neither SSL nor GSS negotiation, so
    /// one invocation is exactly one TCP connection.
    pub fn pg_command(&self, program: &str) -> Command {
        let mut c = self.ns.command(Path::new(PG_BIN).join(program));
        c.env("PGCONNECT_TIMEOUT", "3")
            .env("PGSSLMODE", "disable")
            .env("PGGSSENCMODE", "disable")
            .env("PGUSER", "postgres")
            .env("PGDATABASE", "postgres");
        c
    }

    /// `psql -h HOST -Atc SQL` from the client, one new connection.
    /// Ok: psql's trimmed output; Err: its error message.
    pub fn psql(&self, host: &str, sql: &str) -> Result<String, String> {
        self.psql_on_port(host, 5432, sql)
    }

    /// [`Client::psql`] to another port than PostgreSQL's 5432.
    pub fn psql_on_port(&self, host: &str, port: u16, sql: &str) -> Result<String, String> {
        let mut c = self.pg_command("psql");
        c.args(["-X", "-At", "-h", host, "-p", &port.to_string(), "-c", sql]);
        let out = cmd::output_with_timeout(&mut c, Duration::from_secs(20))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "psql -h {host} ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Which real server answered: `select inet_server_addr()` through
    /// `host` (the VIP), one new connection.
    pub fn server_addr(&self, host: &str) -> Result<String, String> {
        self.psql(host, "select inet_server_addr()")
    }

    /// `pgbench ARGS...` from the client (PG* defaults as in
    /// [`Client::pg_command`]); fails only if it cannot be run at all.
    pub fn pgbench(&self, args: &[&str], timeout: Duration) -> Output {
        let mut c = self.pg_command("pgbench");
        c.args(args);
        cmd::output_with_timeout(&mut c, timeout).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Open a long-lived psql session to `host`: one TCP connection that
    /// stays open while queries are sent to it one by one.
    pub fn session(&self, host: &str) -> Result<PsqlSession, String> {
        let mut c = self.pg_command("psql");
        c.args(["-X", "-At", "-h", host])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c
            .spawn()
            .map_err(|e| format!("cannot run `{}`: {e}", cmd::describe(&c)))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let errors = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&errors);
        thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdin = child.stdin.take();
        let mut session = PsqlSession {
            child,
            stdin,
            lines,
            errors,
        };
        // The first answer proves the connection is up.
        session.query("select 1")?;
        Ok(session)
    }
}

/// A psql process with piped stdin/stdout: one connection, many queries.
pub struct PsqlSession {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    errors: Arc<Mutex<String>>,
}

impl PsqlSession {
    /// Send one single-row, single-column query and return its answer.
    pub fn query(&mut self, sql: &str) -> Result<String, String> {
        let stdin = self.stdin.as_mut().ok_or("session closed")?;
        writeln!(stdin, "{};", sql.trim_end_matches(';'))
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("psql session gone: {e}; {}", self.errors()))?;
        match self.lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("no answer to `{sql}` in 20 s; {}", self.errors()))
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(format!("psql session ended: {}", self.errors()))
            }
        }
    }

    /// What psql wrote to stderr so far.
    pub fn errors(&self) -> String {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PsqlSession {
    fn drop(&mut self) {
        // Closing stdin ends psql cleanly; kill it if it does not go.
        self.stdin = None;
        if cmd::wait_timeout(&mut self.child, Duration::from_secs(2)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
