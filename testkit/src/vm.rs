//! The appliance under test: `qemu/run --no-build ... -- -no-reboot`, its
//! serial console collected line by line (QEMU's own stderr lines among
//! them, prefixed `qemu: `), its test layer's debug shell, killed by its
//! pid when dropped.
//!
//! Booted two ways: in the host's namespace with no NICs ([`Vm::boot`], the
//! boot tests), or inside the lab namespace where its taps live
//! ([`crate::lab::Lab::start_vm`]). `ip netns exec` and `qemu/run` both
//! exec, so the child pid held here is QEMU's own. `-no-reboot` makes a
//! guest that panics or reboots end QEMU, so a wait fails at once with the
//! console in its message instead of running into its timeout.
//!
//! ```no_run
//! # use std::time::Duration;
//! # use testkit::{Vm, VmOptions};
//! testkit::image::build();
//! let vm = Vm::boot(&VmOptions::default());
//! let line = vm.wait_next("ready", Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
//! ```

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::netns::Netns;
use crate::paths::repo;
use crate::serial::DebugShell;

/// One NIC of a VM: a tap on one of the lab's bridges, with a MAC.
#[derive(Debug, Clone)]
pub struct Nic {
    pub bridge: &'static str,
    pub mac: String,
    /// Its PCI slot on the VM's root bus (`"10.0"`: the box sees it as
    /// `0000:00:10.0`); `None`: QEMU picks one.
    pub slot: Option<&'static str>,
}

/// How to boot a VM.
#[derive(Debug, Clone, Default)]
pub struct VmOptions {
    /// router.toml passed by fw_cfg (`--config`).
    pub config: Option<PathBuf>,
    pub nics: Vec<Nic>,
    /// Boot with the test layer (`--test-layer`) and its shell on the
    /// debug serial socket.
    pub test_layer: bool,
    /// Boot this copy of router.img by UEFI (`--uefi --image FILE`).
    pub uefi_image: Option<PathBuf>,
    /// Boot this copy of router.img by legacy BIOS, SeaBIOS and the
    /// image's SYSLINUX (`--bios --image FILE`).
    pub bios_image: Option<PathBuf>,
    /// Attach this copy of router.img as the disk of a `-kernel` boot
    /// (`--image FILE`): its boot partition holds the config.
    pub disk_image: Option<PathBuf>,
    /// Writes to the disk image reach its file (`--writable`), as on a
    /// box's own disk; else they vanish with QEMU.
    pub disk_writable: bool,
    /// More QEMU arguments (after qemu/run's `--`).
    pub extra_args: Vec<String>,
    /// A guest reset reboots it, as on a box, instead of ending QEMU
    /// (`-no-reboot`, the default): for the watchdog's reset.
    pub reboot: bool,
}

/// The built image must be there: fail loudly (never skip) when it is not.
///
/// A VM never builds it itself (`qemu/run --no-build`): `tests/run` builds
/// first, the boot tests call [`crate::image::build`]; by hand, run
/// `image/build --test-layer`.
pub fn require_image(options: &VmOptions) {
    let out = repo().join("out");
    let mut needed = vec![
        if options.uefi_image.is_some() || options.bios_image.is_some() {
            "router.img"
        } else {
            "bzImage"
        },
    ];
    if options.test_layer {
        needed.push("test-layer.cpio.gz");
    }
    for file in needed {
        assert!(
            out.join(file).exists(),
            "{} is missing: run `image/build --test-layer` first (tests/run does)",
            out.join(file).display()
        );
    }
}

/// Console lines so far, and a condition variable signalled on each.
type Console = Arc<(Mutex<ConsoleState>, Condvar)>;

#[derive(Default)]
struct ConsoleState {
    lines: Vec<String>,
    /// Pipes (qemu's stdout and stderr) still being read.
    open_pipes: usize,
}

/// A running VM.
pub struct Vm {
    child: Mutex<Child>,
    // Held open so qemu's stdio serial never sees end-of-file.
    _stdin: Option<ChildStdin>,
    console: Console,
    /// Index of the first console line [`Vm::wait_next`] has not looked at.
    next: Mutex<usize>,
    debug_socket: Option<PathBuf>,
    shell: Mutex<Option<DebugShell>>,
}

impl Vm {
    /// Boot `options` in the host's namespace: no NICs (they need the
    /// lab's taps: [`crate::lab::Lab::start_vm`]) and no test layer.
    pub fn boot(options: &VmOptions) -> Vm {
        assert!(
            options.nics.is_empty() && !options.test_layer,
            "NICs and the debug shell need the lab: boot by Lab::start_vm"
        );
        Vm::spawn(Command::new(repo().join("qemu/run")), options, &[], None)
    }

    /// Start `qemu/run` with `options` inside namespace `ns`; `taps` are
    /// the tap devices (already created there) matching `options.nics`.
    pub(crate) fn start_in(
        ns: &Netns,
        options: &VmOptions,
        taps: &[String],
        debug_socket: &Path,
    ) -> Vm {
        let debug_socket = options.test_layer.then_some(debug_socket);
        Vm::spawn(
            ns.command(repo().join("qemu/run")),
            options,
            taps,
            debug_socket,
        )
    }

    /// Spawn `command` (a `qemu/run`) with the arguments `options` say.
    fn spawn(
        mut command: Command,
        options: &VmOptions,
        taps: &[String],
        debug_socket: Option<&Path>,
    ) -> Vm {
        let run = repo().join("qemu/run");
        assert!(run.exists(), "{} is missing", run.display());
        require_image(options);
        command.arg("--no-build");
        if let Some(config) = &options.config {
            command.arg("--config").arg(config);
        }
        // NICs of the test's own making (a -netdev in the extra arguments)
        // instead of qemu/run's user-mode ones.
        if options.nics.is_empty() && options.extra_args.iter().any(|a| a == "-netdev") {
            command.arg("--no-nic");
        }
        for (nic, tap) in options.nics.iter().zip(taps) {
            let slot = nic.slot.map(|s| format!(",{s}")).unwrap_or_default();
            command.arg("--nic").arg(format!("{tap},{}{slot}", nic.mac));
        }
        if let Some(socket) = debug_socket {
            command
                .arg("--test-layer")
                .arg("--debug-serial")
                .arg(socket);
        }
        if let Some(image) = &options.uefi_image {
            command.arg("--uefi").arg("--image").arg(image);
        } else if let Some(image) = &options.bios_image {
            command.arg("--bios").arg("--image").arg(image);
        } else if let Some(image) = &options.disk_image {
            command.arg("--image").arg(image);
        }
        if options.disk_writable {
            command.arg("--writable");
        }
        // A kernel panic ends qemu at once instead of rebooting into the
        // same panic: waits fail fast with the panic on the console.
        command.arg("--");
        if !options.reboot {
            command.arg("-no-reboot");
        }
        command.args(&options.extra_args);
        command
            .current_dir(repo())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start qemu/run: {e}"));
        let console: Console = Arc::default();
        console
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open_pipes = 2;
        spawn_reader(
            child.stdout.take().expect("piped"),
            Arc::clone(&console),
            "",
        );
        spawn_reader(
            child.stderr.take().expect("piped"),
            Arc::clone(&console),
            "qemu: ",
        );
        Vm {
            _stdin: child.stdin.take(),
            child: Mutex::new(child),
            console,
            next: Mutex::new(0),
            debug_socket: debug_socket.map(Path::to_path_buf),
            shell: Mutex::new(None),
        }
    }

    /// qemu's pid.
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap_or_else(|e| e.into_inner()).id()
    }

    /// True while qemu has not exited.
    pub fn is_running(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        matches!(child.try_wait(), Ok(None))
    }

    /// The whole console so far (qemu's own stderr lines prefixed `qemu: `).
    pub fn console(&self) -> String {
        let (state, _) = &*self.console;
        let state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.lines.join("\n")
    }

    /// Number of console lines so far: a mark for [`Vm::wait_for_after`].
    pub fn mark(&self) -> usize {
        let (state, _) = &*self.console;
        state.lock().unwrap_or_else(|e| e.into_inner()).lines.len()
    }

    /// Console lines from index `from` on.
    pub fn lines_after(&self, from: usize) -> Vec<String> {
        let (state, _) = &*self.console;
        let state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.lines.get(from..).unwrap_or_default().to_vec()
    }

    /// Poll `cond` every half second until it holds; panic after
    /// `timeout`, saying what was awaited, with the console.
    pub fn wait_until(&self, timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}; console:\n{}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Wait for a console line containing `pattern` (any line since boot).
    /// Ok: that line. Err: why not, with the whole console.
    pub fn wait_for(&self, pattern: &str, timeout: Duration) -> Result<String, String> {
        self.wait_for_after(0, pattern, timeout)
    }

    /// Wait for a console line containing `pattern` at index `from` or later.
    pub fn wait_for_after(
        &self,
        from: usize,
        pattern: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        self.find(from, pattern, timeout).map(|(_, line)| line)
    }

    /// Wait for a console line containing `pattern` after the line the last
    /// `wait_next` returned (from the first line on the first call): a
    /// boot's lines in the order they must come.
    pub fn wait_next(&self, pattern: &str, timeout: Duration) -> Result<String, String> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let (index, line) = self.find(*next, pattern, timeout)?;
        *next = index + 1;
        Ok(line)
    }

    /// The first console line at index `from` or later containing
    /// `pattern`, waited for up to `timeout`: its index and text. Err: why
    /// not, with the whole console.
    fn find(
        &self,
        from: usize,
        pattern: &str,
        timeout: Duration,
    ) -> Result<(usize, String), String> {
        let deadline = Instant::now() + timeout;
        let (state, signal) = &*self.console;
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = from;
        loop {
            while next < state.lines.len() {
                if state.lines[next].contains(pattern) {
                    return Ok((next, state.lines[next].clone()));
                }
                next += 1;
            }
            let now = Instant::now();
            let closed = state.open_pipes == 0;
            if closed || now >= deadline {
                let why = if closed { "qemu exited" } else { "timed out" };
                return Err(format!(
                    "no console line with `{pattern}` ({why} after {:?}); console:\n{}",
                    timeout.saturating_sub(deadline.saturating_duration_since(now)),
                    state.lines.join("\n")
                ));
            }
            state = signal
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Run a shell command in the VM over the debug serial (test layer
    /// only). Ok: its output and exit status.
    pub fn shell(&self, command: &str, timeout: Duration) -> Result<(String, i32), String> {
        let socket = self
            .debug_socket
            .as_ref()
            .ok_or("VM booted without --test-layer: no debug shell")?;
        let mut shell = self.shell.lock().unwrap_or_else(|e| e.into_inner());
        if shell.is_none() {
            *shell = Some(DebugShell::connect(socket, Duration::from_secs(60))?);
        }
        shell.as_mut().expect("connected").run(command, timeout)
    }

    /// Drop the debug shell's connection: after the VM rebooted, the next
    /// [`Vm::shell`] connects again and sets up the new boot's shell.
    pub fn forget_shell(&self) {
        *self.shell.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Like [`Vm::shell`], but the command must succeed: its output.
    pub fn shell_ok(&self, command: &str) -> String {
        match self.shell(command, Duration::from_secs(30)) {
            Ok((out, 0)) => out,
            Ok((out, status)) => panic!("`{command}` in the VM exited {status}:\n{out}"),
            Err(e) => panic!("`{command}` in the VM: {e}\nconsole:\n{}", self.console()),
        }
    }

    /// Kill qemu (by its pid) and reap it.
    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Collect `pipe` into the console, line by line, `\r` removed.
fn spawn_reader(pipe: impl Read + Send + 'static, console: Console, prefix: &'static str) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&raw);
                    let line = format!(
                        "{prefix}{}",
                        text.trim_end_matches(['\n', '\r']).replace('\r', "")
                    );
                    if std::env::var_os("LAB_ECHO_CONSOLE").is_some() {
                        eprintln!("console| {line}");
                    }
                    let (state, signal) = &*console;
                    state
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .lines
                        .push(line);
                    signal.notify_all();
                }
            }
        }
        let (state, signal) = &*console;
        state.lock().unwrap_or_else(|e| e.into_inner()).open_pipes -= 1;
        signal.notify_all();
    });
}

/// Send `command` to the QEMU monitor listening on `socket` (a VM started
/// with `-monitor unix:SOCKET,server=on,wait=off` among its extra
/// arguments) and return what it answered, up to its next prompt.
pub fn qemu_monitor(socket: &Path, command: &str) -> Result<String, String> {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let mut stream =
        UnixStream::connect(socket).map_err(|e| format!("monitor {}: {e}", socket.display()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let prompt = |stream: &mut UnixStream| -> Result<String, String> {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.ends_with(b"(qemu) ") {
            let n = stream.read(&mut buf).map_err(|e| {
                format!("monitor: {e}; so far {:?}", String::from_utf8_lossy(&seen))
            })?;
            if n == 0 {
                return Err("monitor closed".into());
            }
            seen.extend_from_slice(&buf[..n]);
        }
        Ok(String::from_utf8_lossy(&seen).into_owned())
    };
    prompt(&mut stream)?;
    stream
        .write_all(format!("{command}\n").as_bytes())
        .map_err(|e| format!("monitor: {e}"))?;
    prompt(&mut stream)
}
