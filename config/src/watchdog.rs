//! `[watchdog]`: the hardware watchdog PID 1 keeps from firing while its
//! event loop runs, so that a wedged director reboots the box.

use std::time::Duration;

use super::Watchdog;
use super::duration::parse_watchdog_timeout;
use super::walk::{Ctx, Field, Table, typed_string};

/// Read `[watchdog]`.
pub(super) fn read_watchdog(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<Watchdog> {
    let mut t = Table::new(ctx, field, "a table ([watchdog])")?;
    let seconds = typed_string("a duration string like \"60s\"", parse_watchdog_timeout);
    let timeout = t.or(ctx, "timeout", Some(Watchdog::DEFAULT_TIMEOUT), seconds);
    t.finish(ctx)?;
    Some(Watchdog { timeout: timeout? })
}

impl Watchdog {
    /// Without `[watchdog]`, or without `timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
}

impl Default for Watchdog {
    fn default() -> Watchdog {
        Watchdog {
            timeout: Some(Watchdog::DEFAULT_TIMEOUT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::load;
    use super::super::test_support::check_cases;
    use super::*;

    fn watchdog(text: &str) -> Watchdog {
        load("router.toml", text).unwrap().0.watchdog
    }

    #[test]
    fn timeouts() {
        assert_eq!(watchdog(""), Watchdog::default());
        assert_eq!(
            watchdog("[watchdog]\n").timeout,
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            watchdog("[watchdog]\ntimeout = \"2m\"\n").timeout,
            Some(Duration::from_secs(120))
        );
        assert_eq!(watchdog("[watchdog]\ntimeout = \"0s\"\n").timeout, None);
        check_cases(&[
            (
                "[watchdog]\ntimeout = \"1500ms\"\n",
                &[
                    "router.toml:2:11: error: watchdog.timeout: \"1500ms\" is not a whole number of \
                   seconds (a watchdog counts seconds)",
                ],
            ),
            (
                "[watchdog]\ntimeout = \"2h\"\n",
                &[
                    "router.toml:2:11: error: watchdog.timeout: \"2h\" is longer than an hour; \
                   watchdogs take at most 3600s (\"0s\" turns it off)",
                ],
            ),
            (
                "[watchdog]\ntimeout = 60\n",
                &[
                    "router.toml:2:11: error: watchdog.timeout: expected a duration string like \
                   \"60s\", found an integer",
                ],
            ),
            (
                "[watchdog]\ninterval = \"1s\"\n",
                &[
                    "router.toml:2:1: error: watchdog.interval: unknown key; valid keys here: timeout",
                ],
            ),
        ]);
    }
}
