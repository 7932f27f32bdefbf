//! `[service.health_check]` and `[service.real_server.health_check]`: how
//! real servers are checked (`image/router.toml` explains every key and
//! its default).
//!
//! A service's table sets the check of all its real servers; a real
//! server's own table overrides key by key. Type-specific keys (`user`,
//! `path`, ...) belong to the type in force in their table; a real server
//! that changes `type` starts from that type's defaults instead of
//! inheriting the service's type-specific keys.

use super::duration::parse_period;
use super::names::{parse_path, plain_word};
use super::walk::{Ctx, Field, Read, Table, int, one_of, string};
use super::{CheckKind, HealthCheck, OnFailure};

/// Upper bound of `fall` and `rise`: beyond it a typo is likelier than intent.
const MAX_COUNT: u32 = 1000;

/// Makes a check of one type, with the type's defaults.
type NewCheck = fn() -> CheckKind;

/// The `type` names, in the order the message for a wrong one lists them.
const KINDS: &[(&str, NewCheck)] = &[
    ("tcp", || CheckKind::Tcp),
    ("postgres", || CheckKind::Postgres {
        user: "postgres".into(),
        database: "postgres".into(),
    }),
    ("http", || CheckKind::Http {
        path: "/".into(),
        host: None,
        status: 200,
    }),
    ("none", || CheckKind::None),
];

/// `on_failure`'s words.
const ACTIONS: &[(&str, OnFailure)] = &[
    (
        "quiesce (weight 0, existing connections drain)",
        OnFailure::Quiesce,
    ),
    ("remove", OnFailure::Remove),
];

/// Read one `health_check` table over `base` (the defaults for a
/// service's table, the service's check for a real server's): each key it
/// sets replaces `base`'s. With whether it sets `type`; `None` when
/// anything in it is wrong (reported).
pub(super) fn read_health_check(
    ctx: &mut Ctx,
    item: &Field<'_, '_>,
    base: &HealthCheck,
) -> Option<(HealthCheck, bool)> {
    let mut t = Table::new(ctx, item, "a table")?;
    let (type_field, typed) = t.opt_field(ctx, "type", one_of("a health check type", KINDS));
    let kind = match typed.map(|check| check()) {
        Some(kind) if kind.name() != base.kind.name() => kind,
        _ => base.kind.clone(),
    };
    let actions = one_of("a failure action", ACTIONS);
    let port = t.opt(ctx, "port", int(1, 65535));
    let interval = t.or(ctx, "interval", base.interval, string(parse_period));
    let timeout = t.or(ctx, "timeout", base.timeout, string(parse_period));
    let fall = t.or(ctx, "fall", base.fall, int(1, MAX_COUNT));
    let rise = t.or(ctx, "rise", base.rise, int(1, MAX_COUNT));
    let on_failure = t.or(ctx, "on_failure", base.on_failure, actions);
    // When `type` itself is wrong (reported), the type-specific keys are
    // not held against a type nobody meant.
    let in_force = (type_field.is_none() || typed.is_some()).then(|| kind.name());
    let word = |ctx: &mut Ctx, f: &Field<'_, '_>| string(|s| plain_word(s, f.path.name()))(ctx, f);
    let own_user = typed_key(ctx, &mut t, "user", "postgres", in_force, word);
    let own_database = typed_key(ctx, &mut t, "database", "postgres", in_force, word);
    let own_path = typed_key(ctx, &mut t, "path", "http", in_force, string(parse_path));
    let own_host = typed_key(ctx, &mut t, "host", "http", in_force, word);
    let own_status = typed_key(ctx, &mut t, "status", "http", in_force, int(100, 599));
    t.finish(ctx)?;
    // Every key read cleanly, so a type-specific one that is `None` is not
    // in this table: the base's (or the type's default) stays.
    let kind = match kind {
        CheckKind::Postgres { user, database } => CheckKind::Postgres {
            user: own_user.unwrap_or(user),
            database: own_database.unwrap_or(database),
        },
        CheckKind::Http { path, host, status } => CheckKind::Http {
            path: own_path.unwrap_or(path),
            host: own_host.or(host),
            status: own_status.unwrap_or(status),
        },
        other => other,
    };
    let check = HealthCheck {
        kind,
        port: port.or(base.port),
        interval: interval?,
        timeout: timeout?,
        fall: fall?,
        rise: rise?,
        on_failure: on_failure?,
    };
    Some((check, typed.is_some()))
}

/// `key`, which only checks of type `owner` have: reported at the key when
/// the type in force is another (`in_force`; `None` when unknown).
fn typed_key<T>(
    ctx: &mut Ctx,
    t: &mut Table<'_, '_>,
    key: &'static str,
    owner: &str,
    in_force: Option<&str>,
    read: impl Read<T>,
) -> Option<T> {
    let f = t.field(key)?;
    if let Some(kind) = in_force.filter(|k| *k != owner) {
        let message =
            format!("`{key}` is a key of type = \"{owner}\" checks, but this check is {kind}");
        ctx.key_error(&f, message);
        return None;
    }
    read(ctx, &f)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_support::errors;
    use super::super::{CheckKind, Config, HealthCheck, OnFailure, load};

    /// A TCP service with two real servers; `{S}` is put in the service
    /// table, `{R}` in the first real server's. Lines: the service header
    /// is line 1.
    fn config(service: &str, real: &str) -> String {
        format!(
            "[[service]]\nprotocol = \"tcp\"\naddress = \"192.168.1.100:5432\"\nforwarding = \"nat\"\n\
             {service}\
             [[service.real_server]]\naddress = \"192.168.3.2:5432\"\n{real}\
             [[service.real_server]]\naddress = \"192.168.3.3:5432\"\n"
        )
    }

    fn checks(text: &str) -> (HealthCheck, Vec<HealthCheck>) {
        let (config, _): (Config, _) = load("router.toml", text).unwrap_or_else(|e| panic!("{e}"));
        let s = config.services.into_iter().next().unwrap();
        (
            s.health_check,
            s.real_servers.into_iter().map(|r| r.health_check).collect(),
        )
    }

    #[test]
    fn defaults_are_a_tcp_connect_every_second() {
        let (service, reals) = checks(&config("", ""));
        assert_eq!(service, HealthCheck::default());
        assert_eq!(
            service,
            HealthCheck {
                kind: CheckKind::Tcp,
                port: None,
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                fall: 3,
                rise: 2,
                on_failure: OnFailure::Quiesce,
            }
        );
        assert_eq!(reals, [service.clone(), service]);
    }

    #[test]
    fn every_key() {
        let (service, reals) = checks(&config(
            "[service.health_check]\ntype = \"http\"\nport = 8080\ninterval = \"500ms\"\n\
             timeout = \"2s\"\nfall = 5\nrise = 1\non_failure = \"remove\"\npath = \"/ok\"\n\
             host = \"db.example\"\nstatus = 204\n",
            "",
        ));
        let expected = HealthCheck {
            kind: CheckKind::Http {
                path: "/ok".into(),
                host: Some("db.example".into()),
                status: 204,
            },
            port: Some(8080),
            interval: Duration::from_millis(500),
            timeout: Duration::from_secs(2),
            fall: 5,
            rise: 1,
            on_failure: OnFailure::Remove,
        };
        assert_eq!(service, expected);
        assert_eq!(reals, [expected.clone(), expected]);
    }

    #[test]
    fn real_server_overrides_key_by_key() {
        let (_, reals) = checks(&config(
            "[service.health_check]\ntype = \"postgres\"\nuser = \"probe\"\nfall = 4\n",
            "[service.real_server.health_check]\ndatabase = \"app\"\nrise = 5\n",
        ));
        assert_eq!(
            reals[0],
            HealthCheck {
                kind: CheckKind::Postgres {
                    user: "probe".into(),
                    database: "app".into(),
                },
                fall: 4,
                rise: 5,
                ..HealthCheck::default()
            }
        );
        assert_eq!(
            reals[1],
            HealthCheck {
                kind: CheckKind::Postgres {
                    user: "probe".into(),
                    database: "postgres".into(),
                },
                fall: 4,
                ..HealthCheck::default()
            }
        );
    }

    #[test]
    fn another_type_starts_from_its_own_defaults() {
        let (_, reals) = checks(&config(
            "[service.health_check]\ntype = \"http\"\npath = \"/ok\"\ninterval = \"2s\"\n",
            "[service.real_server.health_check]\ntype = \"none\"\n",
        ));
        assert_eq!(reals[0].kind, CheckKind::None);
        assert_eq!(reals[0].interval, Duration::from_secs(2));
        assert_eq!(
            reals[1].kind,
            CheckKind::Http {
                path: "/ok".into(),
                host: None,
                status: 200
            }
        );
    }

    #[test]
    fn errors_name_the_key() {
        // The service table starts at line 5.
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "[service.health_check]\ntype = \"ping\"\n",
                "",
                &[
                    "router.toml:6:8: error: service[0].health_check.type: \"ping\" is not a health \
                   check type; expected \"tcp\", \"postgres\", \"http\" or \"none\"",
                ],
            ),
            (
                "[service.health_check]\ninterval = \"0s\"\ntimeout = 1\n",
                "",
                &[
                    "router.toml:6:12: error: service[0].health_check.interval: \"0s\" is zero; \
                     write a duration like \"1s\" or \"500ms\"",
                    "router.toml:7:11: error: service[0].health_check.timeout: expected a string, \
                     found an integer",
                ],
            ),
            (
                "[service.health_check]\nfall = 0\nrise = 1001\nport = 0\n",
                "",
                &[
                    "router.toml:6:8: error: service[0].health_check.fall: 0 is out of range; \
                     expected 1..=1000",
                    "router.toml:7:8: error: service[0].health_check.rise: 1001 is out of range; \
                     expected 1..=1000",
                    "router.toml:8:8: error: service[0].health_check.port: 0 is out of range; \
                     expected 1..=65535",
                ],
            ),
            (
                "[service.health_check]\non_failure = \"drain\"\n",
                "",
                &[
                    "router.toml:6:14: error: service[0].health_check.on_failure: \"drain\" is not \
                   a failure action; expected \"quiesce\" (weight 0, existing connections drain) \
                   or \"remove\"",
                ],
            ),
            (
                "[service.health_check]\npath = \"/x\"\n",
                "",
                &[
                    "router.toml:6:1: error: service[0].health_check.path: `path` is a key of type \
                   = \"http\" checks, but this check is tcp",
                ],
            ),
            (
                "[service.health_check]\ntype = \"http\"\npath = \"health\"\nstatus = 42\n",
                "",
                &[
                    "router.toml:7:8: error: service[0].health_check.path: \"health\" is not a \
                     request path; write it like \"/health\" (starting with /, no spaces)",
                    "router.toml:8:10: error: service[0].health_check.status: 42 is out of range; \
                     expected 100..=599",
                ],
            ),
            (
                "[service.health_check]\ntype = \"postgres\"\n",
                "[service.real_server.health_check]\ntype = \"tcp\"\nuser = \"x y\"\n",
                &[
                    "router.toml:11:1: error: service[0].real_server[0].health_check.user: `user` \
                   is a key of type = \"postgres\" checks, but this check is tcp",
                ],
            ),
            (
                "[service.health_check]\ntype = \"postgres\"\n",
                "[service.real_server.health_check]\nuser = \"\"\nport = 6432\nretries = 3\n",
                &[
                    "router.toml:10:8: error: service[0].real_server[0].health_check.user: \"\" \
                     is not a valid user: it must be non-empty, without blanks or control \
                     characters",
                    "router.toml:12:1: error: service[0].real_server[0].health_check.retries: \
                     unknown key; valid keys here: type, port, interval, timeout, fall, rise, \
                     on_failure, user, database, path, host, status",
                ],
            ),
            (
                "health_check = \"tcp\"\n",
                "",
                &[
                    "router.toml:5:16: error: service[0].health_check: expected a table, found a \
                   string",
                ],
            ),
        ];
        for (service, real, expected) in cases {
            assert_eq!(
                &errors(&config(service, real)),
                expected,
                "for {service} / {real}"
            );
        }
    }

    /// The cases without a sensible default ask for an explicit check.
    #[test]
    fn no_default_for_udp_or_a_portless_real_server() {
        let udp = "[[service]]\nprotocol = \"udp\"\naddress = \"192.168.1.100:53\"\n\
                   forwarding = \"nat\"\n[[service.real_server]]\naddress = \"192.168.3.2:53\"\n";
        assert_eq!(
            errors(udp),
            [
                "router.toml:1:1: error: service[0].health_check: a UDP service has no default \
              health check (a TCP connect says nothing about a UDP server): set \
              [service.health_check] type = \"none\" to never check its real servers, or a \
              check of a TCP port they also serve, like type = \"tcp\" with port = 53"
            ]
        );
        for fix in [
            "[service.health_check]\ntype = \"none\"\n",
            "[service.real_server.health_check]\ntype = \"tcp\"\n",
        ] {
            let text = format!("{udp}{fix}");
            let (config, _) = load("router.toml", &text).unwrap_or_else(|e| panic!("{e}"));
            let kind = &config.services[0].real_servers[0].health_check.kind;
            assert_eq!(
                kind.name(),
                if fix.contains("none") { "none" } else { "tcp" }
            );
        }
        let fwmark = "[[service]]\nfwmark = 1\nforwarding = \"direct\"\n\
                      [[service.real_server]]\naddress = \"192.168.3.2\"\n";
        assert_eq!(
            errors(fwmark),
            [
                "router.toml:5:11: error: service[0].real_server[0].address: 192.168.3.2 has no \
              port to check: give the address a port, set health_check.port (in the service's \
              or this real server's [health_check]), or health_check.type = \"none\""
            ]
        );
        let text = format!("{fwmark}health_check.port = 80\n");
        let (config, _) = load("router.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.services[0].real_servers[0].health_check.port,
            Some(80)
        );
    }

    #[test]
    fn sorry_server() {
        let text = config("sorry_server = \"192.168.3.9:5432\"\n", "");
        let (config_, _) = load("router.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config_.services[0].sorry_server,
            Some("192.168.3.9:5432".parse().unwrap())
        );
        let cases: &[(&str, &str)] = &[
            (
                "sorry_server = \"192.168.3.3:5432\"\n",
                "router.toml:5:16: error: service[0].sorry_server: 192.168.3.3:5432 is also a \
                 real server of this service; a sorry server stands in when every real server \
                 is down, so it must be another one",
            ),
            (
                "sorry_server = \"[2001:db8::9]:5432\"\n",
                "router.toml:5:16: error: service[0].sorry_server: 2001:db8::9 is not of the \
                 service's address family; the sorry server stands in for its real servers and \
                 must be reachable the same way",
            ),
            (
                "sorry_server = \"192.168.3.9\"\n",
                "router.toml:5:16: error: service[0].sorry_server: \"192.168.3.9\" has no port; \
                 write it like \"192.168.3.9:80\"",
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(errors(&config(line, "")), [*expected], "{line}");
        }
    }

    #[test]
    fn a_wrong_type_does_not_also_reject_its_keys() {
        assert_eq!(
            errors(&config(
                "[service.health_check]\ntype = \"htp\"\npath = \"/\"\n",
                ""
            )),
            [
                "router.toml:6:8: error: service[0].health_check.type: \"htp\" is not a health \
              check type; expected \"tcp\", \"postgres\", \"http\" or \"none\""
            ]
        );
    }
}
