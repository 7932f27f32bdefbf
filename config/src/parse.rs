//! From TOML text to a [`Config`]: syntax, then every table and key, then
//! the cross-entry checks of `validate.rs`.
//!
//! The walk keeps going after an error so that one run reports everything
//! wrong with the file. Entries that had errors are left out of the draft
//! (or, for a service, kept with stand-ins; see `draft.rs`); each one kept
//! has its index in the file so later diagnostics still name `service[2]`
//! even when `service[1]` was dropped.

use std::cell::RefCell;

use super::draft::Draft;
use super::error::{Reporter, Severity, cut};
use super::file::{MAX_BYTES, too_big};
use super::interface::read_interface;
use super::management::{read_management, read_syslog, read_webhook};
use super::names::check_hostname;
use super::route::read_route;
use super::service::read_service;
use super::sysctl::read_sysctls;
use super::time::read_time;
use super::tree;
use super::validate;
use super::vrrp::read_vrrp;
use super::walk::{Ctx, Field, Path, Table, checked, tables};
use super::watchdog::read_watchdog;
use super::{Config, ConfigError, Diagnostic};

/// The hostname when the file sets none.
pub const DEFAULT_HOSTNAME: &str = "lvs-router";

/// Parse and validate `text` (read from `file`, a display name such as
/// "/etc/lvsinit/router.toml").
///
/// Ok: the config plus warnings (`Severity::Warning` diagnostics).
/// Err: every error at once, in file order.
pub fn load(file: &str, text: &str) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
    if text.len() > MAX_BYTES {
        let mut report = Reporter::new(file, "");
        report.error(&(0..0), "", too_big(text.len()));
        return Err(ConfigError {
            diagnostics: report.finish_errors(),
        });
    }
    let (root, syntax_errors) = tree::parse(text);
    let mut ctx = Ctx {
        report: Reporter::new(file, text),
        root: root.root(),
    };
    if !syntax_errors.is_empty() {
        // The tree after a syntax error is a guess; checking it would only
        // add confusing follow-up errors.
        for error in syntax_errors {
            let span = error.span.unwrap_or(0..0);
            let mut message = format!("TOML syntax: {}", error.message);
            if error.message == "duplicate key"
                && let Some(key) = text.get(span.clone())
            {
                message = format!("TOML syntax: duplicate key {}", cut(key));
            }
            ctx.report.error(&span, "", message);
        }
        return Err(ConfigError {
            diagnostics: ctx.report.finish_errors(),
        });
    }
    let draft = read_document(&mut ctx);
    validate::check(&mut ctx, &draft);
    if ctx.report.has_errors() {
        return Err(ConfigError {
            diagnostics: ctx.report.finish_errors(),
        });
    }
    let warnings = ctx.report.finish();
    debug_assert!(warnings.iter().all(|d| d.severity == Severity::Warning));
    Ok((draft.into_config(), warnings))
}

fn read_document(ctx: &mut Ctx) -> Draft {
    let mut top = Table::of(ctx, &Path::ROOT, 0..0, ctx.root);
    let hostname = top.opt(ctx, "hostname", checked(check_hostname));
    let sysctls = top.opt(ctx, "sysctl", read_sysctls);
    let names = RefCell::new(Vec::new());
    let read =
        |ctx: &mut Ctx, f: &Field<'_, '_>, _| read_interface(ctx, f, &mut names.borrow_mut());
    let interfaces = top.opt(ctx, "interface", tables(read));
    let routes = top.opt(ctx, "route", tables(|ctx, f, _| read_route(ctx, f)));
    let services = top.opt(ctx, "service", tables(|ctx, f, _| read_service(ctx, f)));
    let vrrp = top.opt(ctx, "vrrp", read_vrrp);
    let management = top.opt(ctx, "management", read_management);
    let syslog = top.opt(ctx, "syslog", tables(|ctx, f, _| read_syslog(ctx, f)));
    let webhooks = top.opt(ctx, "webhook", tables(|ctx, f, _| read_webhook(ctx, f)));
    let watchdog = top.opt(ctx, "watchdog", read_watchdog);
    let time = top.opt(ctx, "time", read_time);
    top.finish(ctx);
    Draft {
        hostname: hostname.unwrap_or_else(|| DEFAULT_HOSTNAME.into()),
        sysctls: sysctls.unwrap_or_default(),
        interfaces: interfaces.unwrap_or_default(),
        interface_names: names.into_inner(),
        routes: routes.unwrap_or_default(),
        services: services.unwrap_or_default(),
        vrrp,
        watchdog: watchdog.unwrap_or_default(),
        time: time.unwrap_or_default(),
        management,
        syslog: unindexed(syslog),
        webhooks: unindexed(webhooks),
    }
}

/// The entries of `[[name]]` that read, without their indices.
fn unindexed<T>(entries: Option<Vec<(usize, T)>>) -> Vec<T> {
    entries.into_iter().flatten().map(|(_, x)| x).collect()
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::super::addr::parse_cidr;
    use super::super::test_support::check_cases;
    use super::*;
    use crate::{
        Forwarding, HealthCheck, Interface, IpNet, LinkMatch, MacAddr, Protocol, RealServer, Route,
        Scheduler, SchedulerFlags, Service, ServiceKey,
    };

    fn net(text: &str) -> IpNet {
        parse_cidr(text).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// The built-in default is the classic lab setup, and has no warnings.
    #[test]
    fn default_router_toml() {
        let text = include_str!("../../image/router.toml");
        let (config, warnings) = load("router.toml", text).unwrap();
        assert_eq!(warnings, []);
        let real = |a: &str| RealServer {
            address: a.parse().unwrap(),
            weight: 1,
            forwarding: Forwarding::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
            health_check: HealthCheck::default(),
        };
        let expected = Config {
            hostname: "lvs-router".into(),
            sysctls: vec![
                ("net.ipv4.vs.expire_nodest_conn".into(), "1".into()),
                ("net.ipv4.vs.conntrack".into(), "1".into()),
            ],
            interfaces: vec![
                Interface {
                    name: "wan".into(),
                    matcher: LinkMatch::Mac(MacAddr([0x52, 0x54, 0, 0, 1, 1])),
                    addresses: vec![net("192.168.1.1/24"), net("192.168.1.100/24")],
                    mtu: None,
                },
                Interface {
                    name: "lan".into(),
                    matcher: LinkMatch::Mac(MacAddr([0x52, 0x54, 0, 0, 3, 1])),
                    addresses: vec![net("192.168.3.1/24")],
                    mtu: None,
                },
            ],
            routes: vec![],
            services: vec![Service {
                name: "postgres".into(),
                key: ServiceKey::Addr {
                    protocol: Protocol::Tcp,
                    address: "192.168.1.100:5432".parse().unwrap(),
                },
                scheduler: Scheduler::Rr,
                flags: SchedulerFlags::default(),
                forwarding: Forwarding::Nat,
                persistence: None,
                persistence_netmask: None,
                real_servers: vec![real("192.168.3.2:5432"), real("192.168.3.3:5432")],
                health_check: HealthCheck::default(),
                sorry_server: None,
            }],
            vrrp: None,
            watchdog: Default::default(),
            time: Default::default(),
            management: None,
            syslog: vec![],
            webhooks: vec![],
        };
        assert_eq!(config, expected);
    }

    /// Un-comment every line of `text` whose commented part is TOML (a
    /// key = value line, a table header, or a nested comment), except the
    /// keys starting with one of `skip`.
    fn uncomment(text: &str, skip: &[&str]) -> String {
        let is_toml = |rest: &str| {
            let (table, errors) = tree::parse(rest);
            rest.starts_with('#') || (errors.is_empty() && !table.root().is_empty())
        };
        let lines: Vec<String> = text
            .lines()
            .map(|line| {
                let indent = &line[..line.len() - line.trim_start().len()];
                match line.trim_start().strip_prefix("# ") {
                    Some(rest) if is_toml(rest) && !skip.iter().any(|k| rest.starts_with(k)) => {
                        format!("{indent}{rest}")
                    }
                    _ => line.to_string(),
                }
            })
            .collect();
        lines.join("\n")
    }

    /// Every commented-out key of the default file is valid when enabled.
    #[test]
    fn default_router_toml_commented_keys_are_valid() {
        let text = include_str!("../../image/router.toml");
        // fwmark and family replace protocol and address; device and pci
        // replace mac; persistence_netmask needs persistence on.
        let skip = ["fwmark", "family", "device = \"eth0\"", "pci = "];
        // With [vrrp] on, the VIPs move out of the static addresses.
        let enabled = uncomment(&uncomment(text, &skip), &skip)
            .replace("persistence = \"0s\"", "persistence = \"300s\"")
            .replace(
                "addresses = [\"192.168.1.1/24\", \"192.168.1.100/24\"]",
                "addresses = [\"192.168.1.2/24\"]",
            )
            .replace(
                "addresses = [\"192.168.3.1/24\"]",
                "addresses = [\"192.168.3.252/24\"]",
            );
        let (config, warnings) =
            load("router.toml", &enabled).unwrap_or_else(|e| panic!("{e}\n{enabled}"));
        assert_eq!(warnings, []);
        assert_eq!(config.sysctls.len(), 4);
        assert_eq!(config.interfaces[0].mtu, Some(1500));
        assert_eq!(
            config.routes,
            [Route {
                destination: net("0.0.0.0/0"),
                gateway: Some(ip("192.168.1.254")),
                device: Some("wan".into()),
                metric: Some(100),
                table: Some(100),
            }]
        );
        let service = &config.services[0];
        assert_eq!(
            service.persistence,
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(service.persistence_netmask, Some(32));
        assert_eq!(service.flags, SchedulerFlags::default());
        assert_eq!(service.real_servers[0].forwarding, Forwarding::Nat);
        let vrrp = config.vrrp.expect("[vrrp] enabled");
        assert_eq!((vrrp.virtual_router_id, vrrp.priority), (51, 150));
        assert_eq!(
            vrrp.virtual_addresses
                .iter()
                .map(|v| format!("{} {}", v.interface, v.address))
                .collect::<Vec<_>>(),
            ["wan 192.168.1.100/24", "lan 192.168.3.1/24"]
        );
        assert_eq!(vrrp.sync_interface.as_deref(), Some("lan"));
        assert_eq!(vrrp.track_services, ["postgres"]);
        let management = config.management.expect("[management] enabled");
        assert_eq!(management.listen, ["192.168.3.1:9100".parse().unwrap()]);
        assert!(management.update_public_key.is_some());
        assert_eq!(management.update_trial, std::time::Duration::from_secs(120));
        assert_eq!((config.syslog.len(), config.webhooks.len()), (1, 1));
    }

    #[test]
    fn minimal_file_takes_defaults() {
        let (config, warnings) = load("router.toml", "").unwrap();
        assert_eq!(warnings, []);
        assert_eq!(
            config,
            Config {
                hostname: DEFAULT_HOSTNAME.into(),
                sysctls: vec![],
                interfaces: vec![],
                routes: vec![],
                services: vec![],
                vrrp: None,
                watchdog: Default::default(),
                time: Default::default(),
                management: None,
                syslog: vec![],
                webhooks: vec![],
            }
        );
    }

    /// A text over the bound is refused as it is, unparsed.
    #[test]
    fn a_file_over_4_mib_is_refused_unread() {
        let text = format!("hostname = \"lvs\"\n{}", "#".repeat(MAX_BYTES));
        let error = load("router.toml", &text).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "router.toml:1:1: error: the file is {} bytes or more; a router.toml may have at most 4 MiB (4194304 bytes)",
                text.len()
            )
        );
    }

    #[test]
    fn syntax_errors() {
        check_cases(&[
            (
                "hostname = \"lvs\n",
                &["router.toml:1:16: error: TOML syntax: invalid basic string, expected `\"`"],
            ),
            (
                "[[interface]]\nname = wan\n",
                &[
                    "router.toml:2:8: error: TOML syntax: string values must be quoted, expected literal string",
                ],
            ),
            (
                "[[interface]]\nmtu = 1500\nmtu = 1400\n",
                &["router.toml:3:1: error: TOML syntax: duplicate key mtu"],
            ),
        ]);
    }

    #[test]
    fn top_level_errors() {
        check_cases(&[
            (
                "hostnme = \"a\"\n",
                &[
                    "router.toml:1:1: error: hostnme: unknown key; did you mean `hostname`? \
                   Valid keys here: hostname, sysctl, interface, route, service, vrrp, management, syslog, webhook, watchdog, time",
                ],
            ),
            (
                "\n[global]\nx = 1\n",
                &["router.toml:2:2: error: global: unknown key; \
                   valid keys here: hostname, sysctl, interface, route, service, vrrp, management, syslog, webhook, watchdog, time"],
            ),
            (
                "hostname = 5\n",
                &["router.toml:1:12: error: hostname: expected a string, found an integer"],
            ),
            (
                "hostname = \"lvs_1\"\n",
                &[
                    "router.toml:1:12: error: hostname: \"lvs_1\" contains '_'; \
                   a hostname has only letters, digits, '-' and '.'",
                ],
            ),
            (
                "[interface]\nname = \"wan\"\n",
                &[
                    "router.toml:1:1: error: interface: expected an array of tables ([[interface]]), found a table",
                ],
            ),
            (
                "service = 1\n",
                &[
                    "router.toml:1:11: error: service: expected an array of tables ([[service]]), found an integer",
                ],
            ),
            (
                "route = [1]\n",
                &["router.toml:1:10: error: route[0]: expected a table, found an integer"],
            ),
            (
                "sysctl = [1]\n",
                &["router.toml:1:10: error: sysctl: expected a table ([sysctl]), found an array"],
            ),
        ]);
    }
}
