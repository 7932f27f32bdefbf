//! Where log lines go: the console, stamped with the time since boot, or
//! with UTC once the clock is known good (`[time]`, management/clock.rs).
//!
//! As PID 1 every record is written to `/dev/console` (our stderr) as
//! `[    1.234] message` (or `[2026-12-04T02:05:01.123Z] message`), and also
//! to `/dev/kmsg` so that `dmesg` keeps it.
//! The kernel prints kmsg records on the console only when their level is
//! more urgent than its `loglevel` (4 on the appliance's command line), and
//! we write ours at `info` or `warning`: no line is shown twice.
//!
//! As a command-line tool, records go to stderr as `level: message`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Time since the kernel started, counting suspend (CLOCK_BOOTTIME).
pub fn since_boot() -> Duration {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME) {
        Ok(ts) => Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32),
        Err(_) => Duration::ZERO,
    }
}

/// Gets a copy of every line logged: its level, the time since boot and
/// the message (without the `error: ` prefix). Set once, by
/// [`set_hook`]; it must not block (the management log ring is one).
pub type Hook = Box<dyn Fn(Level, Duration, &str) + Send + Sync>;

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Copy every later line to `hook` as well. Only the first call takes
/// effect; false for a later one.
pub fn set_hook(hook: Hook) -> bool {
    HOOK.set(hook).is_ok()
}

/// The two ways of writing log lines.
enum Style {
    /// PID 1: uptime stamp, console plus kmsg.
    Boot { kmsg: Option<Mutex<File>> },
    /// Tool: `level: message` on stderr.
    Tool,
}

struct Console {
    style: Style,
    level: LevelFilter,
}

impl Log for Console {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = match &self.style {
            Style::Boot { kmsg } => {
                let t = since_boot();
                let text = match record.level() {
                    Level::Error => format!("error: {}", record.args()),
                    Level::Warn => format!("warning: {}", record.args()),
                    _ => record.args().to_string(),
                };
                if let Some(kmsg) = kmsg
                    && let Ok(mut f) = kmsg.lock()
                {
                    // <6> is KERN_INFO, <4> KERN_WARNING. Errors go in as
                    // warnings too: the appliance's `loglevel=4` puts
                    // KERN_ERR records on the console, where this line is
                    // already; the text still begins with `error:`.
                    let prio = match record.level() {
                        Level::Error | Level::Warn => 4,
                        _ => 6,
                    };
                    let _ = f.write_all(format!("<{prio}>lvsinit: {text}\n").as_bytes());
                }
                match crate::management::clock::now_unix() {
                    Some(unix) => format!("[{}] {text}\n", crate::management::clock::rfc3339(unix)),
                    None => format!("[{:>5}.{:03}] {text}\n", t.as_secs(), t.subsec_millis()),
                }
            }
            Style::Tool => match record.level() {
                Level::Info => format!("{}\n", record.args()),
                level => format!("{}: {}\n", level.as_str().to_lowercase(), record.args()),
            },
        };
        // One write per line so that lines from two threads never interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
        if let Some(hook) = HOOK.get() {
            hook(record.level(), since_boot(), &record.args().to_string());
        }
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Log as PID 1: uptime stamps, console and kmsg.
pub fn init_boot() {
    let kmsg = OpenOptions::new()
        .write(true)
        .open("/dev/kmsg")
        .ok()
        .map(Mutex::new);
    install(Console {
        style: Style::Boot { kmsg },
        level: LevelFilter::Info,
    });
}

/// Log as a command-line tool.
pub fn init_tool() {
    install(Console {
        style: Style::Tool,
        level: LevelFilter::Info,
    });
}

fn install(console: Console) {
    let level = console.level;
    // A second call (tests, or a re-exec) keeps the first logger.
    if log::set_boxed_logger(Box::new(console)).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Every line logged also reaches the hook, with its level and
    /// without the console's prefix.
    #[test]
    fn the_hook_gets_every_line() {
        let seen: Arc<Mutex<Vec<(Level, String)>>> = Arc::default();
        let copy = Arc::clone(&seen);
        assert!(set_hook(Box::new(move |level, _, text| {
            copy.lock().unwrap().push((level, text.to_string()));
        })));
        init_tool();
        log::warn!("health: tcp 10.0.0.2:80 down (connection refused)");
        log::info!("ready");
        let seen = seen.lock().unwrap();
        assert!(seen.contains(&(
            Level::Warn,
            "health: tcp 10.0.0.2:80 down (connection refused)".to_string()
        )));
        assert!(seen.contains(&(Level::Info, "ready".to_string())));
    }
}
