//! The standard `process_*` metrics of PID 1, read from `/proc`.

use std::fs;

/// What Prometheus client libraries report about their process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Process {
    pub resident_memory_bytes: u64,
    pub virtual_memory_bytes: u64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
    pub cpu_seconds: f64,
    /// Since the Unix epoch (the kernel's boot time plus the process's
    /// start); 0 when `/proc` cannot say.
    pub start_time_seconds: f64,
}

/// The kernel's clock tick (`sysconf(_SC_CLK_TCK)`, 100 on Linux for
/// every architecture we run on).
const CLK_TCK: f64 = 100.0;
const PAGE_SIZE: u64 = 4096;

impl Process {
    /// Read `/proc/self`; what cannot be read stays 0.
    pub fn read() -> Process {
        let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let btime = fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| parse_btime(&s))
            .unwrap_or(0);
        let mut p = parse_stat(&stat, btime).unwrap_or_default();
        p.open_fds = fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        p.max_fds = fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| parse_max_fds(&s));
        p
    }
}

/// From `/proc/self/stat`: fields after the `(comm)`, which may contain
/// spaces and parentheses, so it is split at the last `)`.
fn parse_stat(stat: &str, btime: u64) -> Option<Process> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest's fields start at field 3 (state); proc(5) numbers from 1.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { f.get(n - 3)?.parse().ok() };
    let utime = field(14)?;
    let stime = field(15)?;
    let start = field(22)?;
    Some(Process {
        resident_memory_bytes: field(24)? * PAGE_SIZE,
        virtual_memory_bytes: field(23)?,
        open_fds: 0,
        max_fds: None,
        cpu_seconds: (utime + stime) as f64 / CLK_TCK,
        start_time_seconds: btime as f64 + start as f64 / CLK_TCK,
    })
}

fn parse_btime(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

fn parse_max_fds(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_strange_name() {
        let stat = "1 (lv si) t) S 0 1 1 0 -1 4194560 1000 0 0 0 150 50 0 0 20 0 3 0 12 \
                    20000000 1500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let p = parse_stat(stat, 1_700_000_000).unwrap();
        assert_eq!(p.resident_memory_bytes, 1500 * 4096);
        assert_eq!(p.virtual_memory_bytes, 20_000_000);
        assert_eq!(p.cpu_seconds, 2.0);
        assert_eq!(p.start_time_seconds, 1_700_000_000.12);
    }

    #[test]
    fn parses_limits_and_btime() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024));
        assert_eq!(
            parse_btime("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn reads_this_process() {
        let p = Process::read();
        assert!(p.resident_memory_bytes > 0);
        assert!(p.open_fds > 0);
        assert!(p.start_time_seconds > 0.0);
    }
}
