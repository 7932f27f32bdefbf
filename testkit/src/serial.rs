//! The test layer's root shell on the VM's second serial port (ttyS1),
//! reached through the unix socket `qemu/run --debug-serial PATH` makes.
//!
//! Protocol: switch the tty's echo and the prompt off, then send each
//! command followed by `echo __DONE_<n>__ $?` and read until that marker.
//! The marker is written as `__DONE_""<n>__` so that even an echoed command
//! line can never be mistaken for it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// A connected debug shell.
pub struct DebugShell {
    stream: UnixStream,
    pending: Vec<u8>,
    counter: u32,
}

impl DebugShell {
    /// Connect to the socket at `path` and wait, up to `timeout`, for the
    /// shell to answer.
    pub fn connect(path: &Path, timeout: Duration) -> Result<DebugShell, String> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("debug serial {}: {e}", path.display()));
                }
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        };
        let mut shell = DebugShell {
            stream,
            pending: Vec::new(),
            counter: 0,
        };
        // The shell may not be there yet (the VM is still booting): repeat
        // the handshake until it answers.
        loop {
            shell.counter += 1;
            let n = shell.counter;
            shell.send(&format!(
                "\nstty -echo; PS1=''; PS2=''; echo __SYNC_\"\"{n}__\n"
            ))?;
            match shell.read_until_line(&format!("__SYNC_{n}__"), Duration::from_secs(2)) {
                Ok(_) => return Ok(shell),
                Err(_) if Instant::now() < deadline => continue,
                Err(e) => return Err(format!("debug shell does not answer: {e}")),
            }
        }
    }

    /// Run `command` in the VM's shell. Ok: its output (stdout and
    /// stderr, `\r` removed) and exit status.
    pub fn run(&mut self, command: &str, timeout: Duration) -> Result<(String, i32), String> {
        self.counter += 1;
        let n = self.counter;
        self.send(&format!("{command} 2>&1\necho __DONE_\"\"{n}__ $?\n"))?;
        let (output, marker_line) = self.read_until_line(&format!("__DONE_{n}__"), timeout)?;
        let status = marker_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad marker line {marker_line:?}"))?;
        Ok((output, status))
    }

    fn send(&mut self, text: &str) -> Result<(), String> {
        self.stream
            .write_all(text.as_bytes())
            .map_err(|e| format!("debug serial write: {e}"))
    }

    /// Read lines until one starts with `marker`; return the lines before
    /// it (joined) and the marker line itself.
    fn read_until_line(
        &mut self,
        marker: &str,
        timeout: Duration,
    ) -> Result<(String, String), String> {
        let deadline = Instant::now() + timeout;
        let mut before = String::new();
        loop {
            while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.pending.drain(..=i).collect();
                let line = String::from_utf8_lossy(&raw).replace(['\r', '\n'], "");
                if line.starts_with(marker) {
                    return Ok((before, line));
                }
                before.push_str(&line);
                before.push('\n');
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("no `{marker}` within {timeout:?}; got:\n{before}"));
            }
            self.stream
                .set_read_timeout(Some(deadline - now))
                .map_err(|e| e.to_string())?;
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(format!("debug serial closed; got:\n{before}")),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(format!("debug serial read: {e}")),
            }
        }
    }
}
