//! Wall-clock time, trusted only once something has set the clock.
//!
//! A box boots with whatever its RTC says, or 1970. Times shown to people
//! and machines are milliseconds since boot, plus UTC once the clock is
//! known good (NTP, the field issue's): [`set`] says so. Until then every
//! UTC field is null and syslog's TIMESTAMP is `-`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static CLOCK_SET: AtomicBool = AtomicBool::new(false);

/// Declare the wall clock good (or not, again).
pub fn set(good: bool) {
    CLOCK_SET.store(good, Ordering::Relaxed);
}

/// Time since the Unix epoch, when the clock is good.
pub fn now_unix() -> Option<Duration> {
    if !CLOCK_SET.load(Ordering::Relaxed) {
        return None;
    }
    SystemTime::now().duration_since(UNIX_EPOCH).ok()
}

/// RFC 3339 in UTC with milliseconds: `2026-12-03T07:36:42.123Z`.
pub fn rfc3339(unix: Duration) -> String {
    let secs = unix.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        unix.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(Duration::from_millis(1_796_283_402_123)),
            "2026-12-03T07:36:42.123Z"
        );
        // A leap day.
        assert_eq!(
            rfc3339(Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
