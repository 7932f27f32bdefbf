//! Duration strings: `"500ms"`, `"2s"`, `"1m"`, `"1h"`, `"1d"`, and
//! combinations such as `"1m30s"`. A bare number has no unit and is refused,
//! so `persistence = "300"` cannot silently mean milliseconds.

use super::error::quote;
use std::time::Duration;

/// Parse a duration string such as `"1m30s"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let q = quote(text);
    let bad = || format!("{q} is not a duration like \"300s\", \"5m\" or \"1h30m\"");
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{q} has no unit; write it like {}",
            quote(&format!("{text}s"))
        ));
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Some(Duration::from_millis(number)),
            "s" => Some(Duration::from_secs(number)),
            "m" => number.checked_mul(60).map(Duration::from_secs),
            "h" => number.checked_mul(3600).map(Duration::from_secs),
            "d" => number.checked_mul(86400).map(Duration::from_secs),
            _ => return Err(bad()),
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(|| format!("{q} is too long a duration"))?;
    }
    Ok(total)
}

/// Maximum persistence timeout: the kernel keeps it in a signed 32-bit
/// number of seconds.
pub(super) const MAX_PERSISTENCE_SECS: u64 = (1 << 31) - 1;

/// `persistence = "300s"`: `None` when off (`"0s"`).
pub(super) fn parse_persistence(text: &str) -> Result<Option<Duration>, String> {
    let duration = parse_duration(text)?;
    if duration.subsec_nanos() != 0 {
        return Err(format!(
            "{} is not a whole number of seconds (ipvsadm -p counts seconds)",
            quote(text)
        ));
    }
    if duration.as_secs() > MAX_PERSISTENCE_SECS {
        return Err(format!(
            "{} is longer than the kernel's maximum of {MAX_PERSISTENCE_SECS}s",
            quote(text)
        ));
    }
    Ok((!duration.is_zero()).then_some(duration))
}

/// `interval` and `timeout`: a duration longer than zero.
pub(super) fn parse_period(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err(format!(
            "{} is zero; write a duration like \"1s\" or \"500ms\"",
            quote(text)
        ));
    }
    Ok(d)
}

/// The advert carries the interval in centiseconds in 12 bits.
pub(super) const MAX_ADVERT_CENTISECONDS: u128 = 4095;

/// `"1s"`, `"100ms"`: 10 ms to 40.95 s in whole centiseconds, what the
/// advert's 12-bit field can carry.
pub(super) fn parse_advert_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text)?;
    let millis = interval.as_millis();
    if millis % 10 != 0 {
        return Err(format!(
            "{} is not a whole number of centiseconds; adverts carry the interval in steps of 10ms",
            quote(text)
        ));
    }
    if !(1..=MAX_ADVERT_CENTISECONDS).contains(&(millis / 10)) {
        return Err(format!(
            "{} is out of range; an advert interval is 10ms to 40950ms",
            quote(text)
        ));
    }
    Ok(interval)
}

/// `[watchdog] timeout`: whole seconds up to an hour; `"0s"` is off
/// (`None`). The device may take less; PID 1 says so when it clamps.
pub(super) fn parse_watchdog_timeout(text: &str) -> Result<Option<Duration>, String> {
    let timeout = parse_duration(text)?;
    if timeout.subsec_nanos() != 0 {
        return Err(format!(
            "{} is not a whole number of seconds (a watchdog counts seconds)",
            quote(text)
        ));
    }
    if timeout.as_secs() > 3600 {
        return Err(format!(
            "{} is longer than an hour; watchdogs take at most 3600s (\"0s\" turns it off)",
            quote(text)
        ));
    }
    Ok((!timeout.is_zero()).then_some(timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_durations() {
        for (text, expected) in [
            ("0s", Duration::ZERO),
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            ("1m", Duration::from_secs(60)),
            ("1h", Duration::from_secs(3600)),
            ("1d", Duration::from_secs(86400)),
            ("1m30s", Duration::from_secs(90)),
            ("1h2m3s4ms", Duration::from_millis(3_723_004)),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn bad_durations() {
        assert_eq!(
            parse_duration("300"),
            Err("\"300\" has no unit; write it like \"300s\"".into())
        );
        for text in ["", "s", "5 s", "5x", "1.5s", "-1s", "1m30", "m5"] {
            assert_eq!(
                parse_duration(text),
                Err(format!(
                    "{text:?} is not a duration like \"300s\", \"5m\" or \"1h30m\""
                )),
                "{text}"
            );
        }
        assert_eq!(
            parse_duration("99999999999999999999d"),
            Err(
                "\"99999999999999999999d\" is not a duration like \"300s\", \"5m\" or \"1h30m\""
                    .into()
            )
        );
        assert_eq!(
            parse_duration("9999999999999999999d"),
            Err("\"9999999999999999999d\" is too long a duration".into())
        );
    }
}
