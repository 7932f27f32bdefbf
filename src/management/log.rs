//! The console's last lines, kept in memory for `/log`, and followed by
//! `/log?follow=1` and the syslog senders.
//!
//! [`LogRing::push`] is called by the console's hook for every line
//! (see [`crate::console::set_hook`]); it never blocks on a reader: the
//! ring keeps the last [`LOG_LINES`], and followers read from a broadcast
//! channel of [`FOLLOW_BUFFER`] lines. A follower that falls further
//! behind loses lines and is told how many.
//!
//! Memory: at most `LOG_LINES × (LINE_MAX + ~64)` bytes, about 1.1 MB,
//! plus the follow buffer's `FOLLOW_BUFFER` shared lines.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;

/// Lines the ring keeps (`/log` shows them all).
pub const LOG_LINES: usize = 1000;
/// Bytes of a line kept; a longer line is cut at a character boundary
/// and ends in `...`.
pub const LINE_MAX: usize = 1024;
/// Lines a follower (a `/log?follow=1` client, a syslog sender) may fall
/// behind before it loses some.
pub const FOLLOW_BUFFER: usize = 1024;

/// A line's severity, with RFC 5424's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error = 3,
    Warning = 4,
    Info = 6,
    Debug = 7,
}

impl Severity {
    /// RFC 5424's severity number.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The console's prefix for it (`error: `, `warning: ` or nothing).
    pub fn prefix(self) -> &'static str {
        match self {
            Severity::Error => "error: ",
            Severity::Warning => "warning: ",
            Severity::Info | Severity::Debug => "",
        }
    }
}

impl From<log::Level> for Severity {
    fn from(level: log::Level) -> Severity {
        match level {
            log::Level::Error => Severity::Error,
            log::Level::Warn => Severity::Warning,
            log::Level::Info => Severity::Info,
            log::Level::Debug | log::Level::Trace => Severity::Debug,
        }
    }
}

/// One console line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Counts every line since boot (gaps show lines lost).
    pub seq: u64,
    /// Time since boot.
    pub at: Duration,
    pub severity: Severity,
    /// The message, without the severity prefix.
    pub text: String,
}

impl Line {
    /// The line as the console shows it: `[    1.234] warning: text\n`.
    pub fn console(&self) -> String {
        format!(
            "[{:>5}.{:03}] {}{}\n",
            self.at.as_secs(),
            self.at.subsec_millis(),
            self.severity.prefix(),
            self.text
        )
    }
}

/// The ring of the last console lines, with followers.
pub struct LogRing {
    inner: Mutex<Inner>,
    follow: broadcast::Sender<Arc<Line>>,
}

struct Inner {
    lines: VecDeque<Arc<Line>>,
    next_seq: u64,
}

impl Default for LogRing {
    fn default() -> LogRing {
        LogRing::new()
    }
}

impl LogRing {
    pub fn new() -> LogRing {
        LogRing {
            inner: Mutex::new(Inner {
                lines: VecDeque::with_capacity(LOG_LINES),
                next_seq: 0,
            }),
            follow: broadcast::channel(FOLLOW_BUFFER).0,
        }
    }

    /// Keep a line and hand it to the followers. Never blocks on them.
    pub fn push(&self, severity: Severity, at: Duration, text: &str) {
        let mut text = text.to_string();
        cut(&mut text, LINE_MAX);
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let line = Arc::new(Line {
            seq: inner.next_seq,
            at,
            severity,
            text,
        });
        inner.next_seq += 1;
        if inner.lines.len() == LOG_LINES {
            inner.lines.pop_front();
        }
        inner.lines.push_back(Arc::clone(&line));
        // Under the lock, so that `follow` sees each line exactly once.
        // No follower is not an error.
        let _ = self.follow.send(line);
    }

    /// The lines kept, oldest first.
    pub fn lines(&self) -> Vec<Arc<Line>> {
        match self.inner.lock() {
            Ok(inner) => inner.lines.iter().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The lines kept and a receiver of every later one, with no gap
    /// and no line twice.
    pub fn follow(&self) -> (Vec<Arc<Line>>, broadcast::Receiver<Arc<Line>>) {
        match self.inner.lock() {
            Ok(inner) => (
                inner.lines.iter().cloned().collect(),
                self.follow.subscribe(),
            ),
            Err(_) => (Vec::new(), self.follow.subscribe()),
        }
    }

    /// A receiver of the lines from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Line>> {
        self.follow.subscribe()
    }

    /// The console hook that copies every line here.
    pub fn hook(self: &Arc<Self>) -> crate::console::Hook {
        let ring = Arc::clone(self);
        Box::new(move |level, at, text| ring.push(level.into(), at, text))
    }
}

/// Cut `text` to at most `max` bytes at a character boundary, marking the
/// cut with `...`.
pub(crate) fn cut(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str("...");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines() {
        let ring = LogRing::new();
        for i in 0..LOG_LINES + 5 {
            ring.push(
                Severity::Info,
                Duration::from_millis(i as u64),
                &format!("line {i}"),
            );
        }
        let lines = ring.lines();
        assert_eq!(lines.len(), LOG_LINES);
        assert_eq!(lines[0].text, "line 5");
        assert_eq!(lines[0].seq, 5);
        assert_eq!(
            lines.last().unwrap().text,
            format!("line {}", LOG_LINES + 4)
        );
    }

    #[test]
    fn console_form() {
        let line = Line {
            seq: 0,
            at: Duration::from_millis(12_345),
            severity: Severity::Warning,
            text: "health: tcp 10.0.0.2:80 down (connection refused)".into(),
        };
        assert_eq!(
            line.console(),
            "[   12.345] warning: health: tcp 10.0.0.2:80 down (connection refused)\n"
        );
    }

    #[test]
    fn long_lines_are_cut_on_a_character() {
        let ring = LogRing::new();
        ring.push(Severity::Error, Duration::ZERO, &"é".repeat(LINE_MAX));
        let text = &ring.lines()[0].text;
        assert!(text.len() <= LINE_MAX);
        assert!(text.ends_with("é..."));
    }

    #[test]
    fn followers_get_every_later_line_once() {
        let ring = LogRing::new();
        ring.push(Severity::Info, Duration::ZERO, "before");
        let (kept, mut rx) = ring.follow();
        ring.push(Severity::Info, Duration::ZERO, "after");
        assert_eq!(kept.len(), 1);
        assert_eq!(rx.try_recv().unwrap().text, "after");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_slow_follower_loses_lines_and_is_told() {
        let ring = LogRing::new();
        let mut rx = ring.subscribe();
        for _ in 0..FOLLOW_BUFFER + 3 {
            ring.push(Severity::Info, Duration::ZERO, "x");
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(3))
        ));
    }
}
