//! `[time]`: the NTP servers PID 1 sets the clock from, by IP address
//! (the box resolves no names).

use std::net::IpAddr;

use super::Time;
use super::addr::parse_ip;
use super::walk::{Ctx, Earlier, Field, Path, Table, array_of, string};

/// Read `[time]`.
pub(super) fn read_time(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<Time> {
    let mut t = Table::new(ctx, field, "a table ([time])")?;
    let listed = |ip: &IpAddr, earlier: &Earlier<'_, IpAddr>, path: &Path<'_>| {
        let i = earlier.position(|e| e == ip)?;
        Some(format!("{ip} is already listed as {path}[{i}]"))
    };
    let expected = "an array of IP addresses like [\"192.168.3.9\"]";
    let servers = t.or(
        ctx,
        "ntp_servers",
        Vec::new(),
        array_of(expected, string(parse_ip), listed),
    );
    t.finish(ctx)?;
    Some(Time {
        ntp_servers: servers?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::load;
    use super::super::test_support::check_cases;
    use super::*;

    #[test]
    fn ntp_servers() {
        let time = |text: &str| load("router.toml", text).unwrap().0.time;
        assert_eq!(time(""), Time::default());
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            time("[time]\nntp_servers = [\"192.168.3.9\", \"2001:db8::9\"]\n").ntp_servers,
            [ip("192.168.3.9"), ip("2001:db8::9")]
        );
        check_cases(&[
            (
                "[time]\nntp_servers = [\"pool.ntp.org\"]\n",
                &[
                    "router.toml:2:16: error: time.ntp_servers[0]: \"pool.ntp.org\" is not an IP address",
                ],
            ),
            (
                "[time]\nntp_servers = [\"192.168.3.9\", \"192.168.3.9\"]\n",
                &[
                    "router.toml:2:31: error: time.ntp_servers[1]: 192.168.3.9 is already listed as \
                   time.ntp_servers[0]",
                ],
            ),
            (
                "[time]\nntp_servers = \"192.168.3.9\"\n",
                &[
                    "router.toml:2:15: error: time.ntp_servers: expected an array of IP addresses like \
                   [\"192.168.3.9\"], found a string",
                ],
            ),
            (
                "[time]\nntp_server = []\n",
                &[
                    "router.toml:2:1: error: time.ntp_server: unknown key; did you mean `ntp_servers`? \
                   Valid keys here: ntp_servers",
                ],
            ),
        ]);
    }
}
