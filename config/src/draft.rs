//! What the walk hands to the cross-entry checks: every entry that read,
//! with its index in the file, and what the checks need to know about it.
//!
//! A service stays in the draft when only some of its keys are wrong, so
//! that its real servers are still checked against each other; the keys
//! that did not read hold stand-ins then, which never reach a [`Config`]:
//! an error was reported, so the file is rejected.

use super::{
    Config, Interface, Management, Protocol, RealServer, Route, Service, ServiceKey, Syslog, Time,
    Vrrp, Watchdog, Webhook,
};

/// What the walk produced.
pub(super) struct Draft {
    pub(super) hostname: String,
    pub(super) sysctls: Vec<(String, String)>,
    pub(super) interfaces: Vec<(usize, Interface)>,
    /// Every interface `name` given, also of entries with other errors, so
    /// a route's `device` is not reported as unknown because of them.
    pub(super) interface_names: Vec<String>,
    pub(super) routes: Vec<(usize, Route)>,
    pub(super) services: Vec<(usize, DraftService)>,
    pub(super) vrrp: Option<Vrrp>,
    pub(super) watchdog: Watchdog,
    pub(super) time: Time,
    pub(super) management: Option<Management>,
    pub(super) syslog: Vec<Syslog>,
    pub(super) webhooks: Vec<Webhook>,
}

/// A service whose key read, with the real servers that read.
pub(super) struct DraftService {
    /// Its `real_servers` are in [`DraftService::real_servers`].
    pub(super) service: Service,
    /// Each with its index among the `[[service.real_server]]` tables.
    pub(super) real_servers: Vec<(usize, DraftReal)>,
    /// Why the service has its address family, for messages: "the
    /// service address is", "the service's `family` is", ...
    pub(super) family_why: &'static str,
    /// Whether its own `[service.health_check]` sets `type`.
    pub(super) typed_check: bool,
}

/// A real server that read.
pub(super) struct DraftReal {
    pub(super) server: RealServer,
    /// Whether its own `health_check` sets `type`.
    pub(super) typed_check: bool,
    /// Whether `server.forwarding` is known (its own, or the service's read).
    pub(super) forwarding_known: bool,
}

impl Draft {
    pub(super) fn into_config(self) -> Config {
        let services = self.services.into_iter().map(|(_, s)| Service {
            real_servers: s.real_servers.into_iter().map(|(_, r)| r.server).collect(),
            ..s.service
        });
        Config {
            hostname: self.hostname,
            sysctls: self.sysctls,
            interfaces: self.interfaces.into_iter().map(|(_, i)| i).collect(),
            routes: self.routes.into_iter().map(|(_, r)| r).collect(),
            services: services.collect(),
            vrrp: self.vrrp,
            watchdog: self.watchdog,
            time: self.time,
            management: self.management,
            syslog: self.syslog,
            webhooks: self.webhooks,
        }
    }
}

/// The service as `ipvsadm -L -n` names it: `TCP 192.168.1.100:5432`,
/// `UDP [2001:db8::10]:53`, `FWM 1`.
/// Written into a string of its final size (a thousand services are
/// labelled at every load).
pub(super) fn label(key: &ServiceKey) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(56);
    let _ = match key {
        ServiceKey::Addr { protocol, address } => {
            out.push_str(match protocol {
                Protocol::Tcp => "TCP ",
                Protocol::Udp => "UDP ",
                Protocol::Sctp => "SCTP ",
            });
            write!(out, "{address}")
        }
        ServiceKey::Fwmark { mark, .. } => write!(out, "FWM {mark}"),
    };
    out
}
