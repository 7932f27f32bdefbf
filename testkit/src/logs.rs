//! What the library logs, kept with the thread that logged it, so that a
//! test reads exactly what its own code said even with tests running in
//! parallel (each test runs the library in a thread of its own).
//!
//! ```
//! testkit::logs::init(log::LevelFilter::Info);
//! let worker = std::thread::spawn(|| log::info!("wan: link set up"));
//! let thread = worker.thread().id();
//! worker.join().unwrap();
//! assert_eq!(testkit::logs::of(thread), ["wan: link set up"]);
//! ```

use std::sync::Mutex;
use std::thread::{self, ThreadId};

use log::{LevelFilter, Log, Metadata, Record};

struct Capture;

static LINES: Mutex<Vec<(ThreadId, String)>> = Mutex::new(Vec::new());
static CAPTURE: Capture = Capture;

impl Log for Capture {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    /// Keep the line, and echo it to stderr (shown for a failed test).
    fn log(&self, record: &Record) {
        let line = record.args().to_string();
        eprintln!("[{}] {line}", record.level());
        LINES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((thread::current().id(), line));
    }

    fn flush(&self) {}
}

/// Install the capture as the logger, keeping lines up to `level`. Every
/// test calls it; the first call installs it, the others find it there.
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(level);
}

/// Every line `thread` has logged so far, oldest first.
pub fn of(thread: ThreadId) -> Vec<String> {
    LINES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(t, _)| *t == thread)
        .map(|(_, line)| line.clone())
        .collect()
}
