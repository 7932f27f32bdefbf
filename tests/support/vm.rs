//! A booted appliance for tests: `qemu/run` as a child process, its serial
//! console collected line by line, killed by its pid when dropped.
//!
//! ```ignore
//! mod support;
//! use support::vm::Vm;
//! let mut vm = Vm::start(&["--uefi"]);
//! let line = vm.wait_for("ready", Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
//! ```
//!
//! `Vm::start` builds the image once per test binary (`image/build
//! --test-layer`, which rebuilds only what is stale), then starts
//! `qemu/run --no-build ARGS -- -no-reboot`: a guest that panics or reboots
//! ends QEMU, so a wait fails at once with the console in its message
//! instead of running into its timeout.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The repository root (where `qemu/run`, `image/` and `out/` are).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `image/build --test-layer` once for this test binary; panics with
/// its output if the build fails (a boot test cannot run without it).
pub fn build_image() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        let output = Command::new(repo().join("image/build"))
            .arg("--test-layer")
            .output()
            .map_err(|e| format!("cannot run image/build: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "image/build --test-layer failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// What the reader threads have collected so far.
#[derive(Default)]
struct Output {
    /// Console lines (QEMU's stdout), without line endings.
    lines: Vec<String>,
    /// QEMU's own messages (its stderr).
    stderr: String,
    /// Pipes still open; 0 once QEMU has exited.
    open: usize,
}

type Shared = Arc<(Mutex<Output>, Condvar)>;

/// A running appliance in QEMU.
pub struct Vm {
    child: Child,
    /// Kept open so the console's stdin never reaches end-of-file.
    _stdin: Option<ChildStdin>,
    output: Shared,
    /// Index of the first console line `wait_for` has not looked at yet.
    next: usize,
}

impl Vm {
    /// Build the image if needed and boot it with `qemu/run ARGS` (see
    /// `qemu/run --help`). Panics if QEMU cannot be started.
    pub fn start(args: &[&str]) -> Vm {
        build_image();
        let mut command = Command::new(repo().join("qemu/run"));
        command.arg("--no-build").args(args);
        // Guest reboots and panics end QEMU rather than boot again.
        if !args.contains(&"--") {
            command.arg("--");
        }
        command.arg("-no-reboot");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start qemu/run: {e}"));
        let output: Shared = Arc::new((
            Mutex::new(Output {
                open: 2,
                ..Output::default()
            }),
            Condvar::new(),
        ));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        spawn_reader(stdout, output.clone(), false);
        spawn_reader(stderr, output.clone(), true);
        Vm {
            _stdin: child.stdin.take(),
            child,
            output,
            next: 0,
        }
    }

    /// QEMU's pid (`qemu/run` execs QEMU).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait until a console line after the last match contains `pattern`
    /// and return that line. Fails, with the console so far, on timeout or
    /// when QEMU exits first.
    pub fn wait_for(&mut self, pattern: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let (lock, signal) = &*self.output;
        let mut output = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            while self.next < output.lines.len() {
                let line = &output.lines[self.next];
                self.next += 1;
                if line.contains(pattern) {
                    return Ok(line.clone());
                }
            }
            let why = if output.open == 0 {
                "QEMU exited"
            } else if Instant::now() >= deadline {
                "timed out"
            } else {
                let left = deadline.saturating_duration_since(Instant::now());
                output = signal
                    .wait_timeout(output, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                continue;
            };
            return Err(format!(
                "{why} while waiting (up to {timeout:?}) for a console line containing {pattern:?}\n\
                 --- console ---\n{}\n--- qemu stderr ---\n{}",
                output.lines.join("\n"),
                output.stderr
            ));
        }
    }

    /// The whole console so far, one line per line.
    pub fn console(&self) -> String {
        let output = self.output.0.lock().unwrap_or_else(|e| e.into_inner());
        output.lines.join("\n")
    }
}

impl Drop for Vm {
    /// Kill QEMU by its pid and reap it.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read `pipe` until end-of-file into `output`: console lines, or QEMU's
/// stderr text. Carriage returns (serial line endings) are dropped.
fn spawn_reader(pipe: impl Read + Send + 'static, output: Shared, is_stderr: bool) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).unwrap_or(0);
            let (lock, signal) = &*output;
            let mut out = lock.lock().unwrap_or_else(|e| e.into_inner());
            if n == 0 {
                out.open -= 1;
                signal.notify_all();
                return;
            }
            let text = String::from_utf8_lossy(&buf).replace('\r', "");
            if is_stderr {
                out.stderr.push_str(&text);
            } else {
                out.lines.push(text.trim_end_matches('\n').to_string());
            }
            signal.notify_all();
        }
    });
}

/// A directory under the system temp dir, removed with everything in it
/// when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory named after `name` and this process.
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("lvsinit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
