//! The operator at the client's desk: `lvsinit remote` (the image's own
//! static binary) and curl, run from the client namespace against the
//! box's management API, and the certificate fingerprint the box's
//! console printed.

use std::time::Duration;

use super::Client;
use crate::repo;
use crate::vm::Vm;

/// What one `lvsinit remote` run gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Its standard output; panics with both outputs unless it exited 0.
    pub fn ok(self, what: &str) -> String {
        assert_eq!(
            self.code, 0,
            "{what}: exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self.stdout
    }
}

impl Client {
    /// `lvsinit remote ARGS...` from here (no LVSINIT_PASSWORD from the
    /// test's own environment).
    pub fn remote(&self, args: &[&str]) -> Run {
        let binary = repo().join(".cache/stage/lvsinit");
        assert!(binary.exists(), "no {}: run image/build", binary.display());
        let mut command = self.ns().command(binary.to_str().unwrap());
        command.arg("remote").args(args);
        command.env_remove("LVSINIT_PASSWORD");
        let out = command.output().expect("run lvsinit remote");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// curl ARGS... from here, TLS not verified (the client's own check of
    /// the certificate is tested apart): the HTTP status and the body; 0
    /// when no answer came (curl's exit code is then in the body).
    pub fn curl(&self, args: &[&str]) -> (u16, String) {
        let mut command = vec![
            "curl",
            "-sS",
            "-k",
            "--max-time",
            "60",
            "-w",
            "\n%{http_code}",
        ];
        command.extend_from_slice(args);
        let out = self.ns().exec(&command);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        let code = code.trim().parse().unwrap_or_else(|_| {
            panic!(
                "curl {args:?}: no status: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        if code == 0 {
            let why = format!(
                "curl exit {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            );
            return (0, why);
        }
        (code, body.to_string())
    }
}

/// The management certificate's fingerprint (`SHA256:...`) the console
/// printed last, waiting up to `timeout` for one after line `from`.
pub fn console_fingerprint(vm: &Vm, from: usize, timeout: Duration) -> String {
    let line = vm
        .wait_for_after(from, "management: TLS certificate fingerprint ", timeout)
        .unwrap_or_else(|e| panic!("{e}"));
    let at = line.find("SHA256:").expect("a fingerprint");
    line[at..].split_whitespace().next().unwrap().to_string()
}
