//! Applying a validated config to the kernel: links, routes, IPVS, sysctls.
//!
//! Every step reconciles: it reads what the kernel has and changes only the
//! difference, so applying the same config twice changes nothing and never
//! drops an established connection. A piece that fails (a NIC that never
//! appears, a rule the kernel rejects) is reported with the kernel's own
//! error and the rest is applied anyway; the caller retries later by simply
//! applying again.
//!
//! One exception to reading everything back: an [`Applier`] remembers the
//! IPVS table it last put in place in full, and when the next apply wants
//! exactly that table again it sends nothing and reads nothing. On the
//! appliance PID 1 is the only writer of IPVS (there is no shell), so an
//! unchanged reload costs no dump of thousands of real servers; any change
//! to the services, any failure and every retry reads the kernel again.

pub mod changes;
mod error;

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::ipvs::{self, Ipvs, IpvsError};
use crate::netlink::{NetlinkError, Network};
use crate::sysctl;

pub use error::{ApplyError, Failure, Piece};

/// Which parts of the config to apply (`lvsinit apply --only ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// Interfaces, addresses, routes.
    pub network: bool,
    /// Virtual services and real servers.
    pub ipvs: bool,
    /// `[sysctl]` and `net.ipv4.ip_forward = 1`.
    pub sysctl: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        network: true,
        ipvs: true,
        sysctl: true,
    };
    pub const NONE: Parts = Parts {
        network: false,
        ipvs: false,
        sysctl: false,
    };

    /// Turn on one part by its command-line name.
    pub fn enable(&mut self, name: &str) -> Result<(), String> {
        match name {
            "network" => self.network = true,
            "ipvs" => self.ipvs = true,
            "sysctl" => self.sysctl = true,
            other => {
                return Err(format!(
                    "unknown part {other:?}: expected network, ipvs or sysctl"
                ));
            }
        }
        Ok(())
    }
}

/// How to apply.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long to wait for configured links that have not appeared yet.
    pub link_wait: Duration,
    pub parts: Parts,
}

/// What one apply did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub failures: Vec<Failure>,
    /// IPVS messages sent (0 when the kernel already matched the config).
    pub ipvs_changes: usize,
    /// Those messages.
    pub ipvs_ops: Vec<ipvs::Op>,
    /// Whether the IPVS table was read back from the kernel (false when it
    /// was left alone as the one put in place last time).
    pub ipvs_read: bool,
    pub elapsed: Duration,
}

/// Keeps the netlink connections open between applies (boot, reloads,
/// retries), opening each on first use.
#[derive(Default)]
pub struct Applier {
    network: Option<Network>,
    ipvs: Option<Ipvs>,
    /// The IPVS table the last apply put in place with nothing refused;
    /// `None` when unknown (never applied, a failure, or
    /// [`Applier::forget_table`]).
    ipvs_in_place: Option<ipvs::Desired>,
}

impl Applier {
    pub fn new() -> Applier {
        Applier::default()
    }

    /// The rtnetlink connection, opened on first use (needs a tokio runtime).
    pub async fn network(&mut self) -> Result<&Network, NetlinkError> {
        if self.network.is_none() {
            self.network = Some(Network::connect()?);
        }
        Ok(self.network.as_ref().expect("set just above"))
    }

    /// The IPVS generic-netlink socket, opened on first use, for what
    /// leaves the virtual services alone (the sync daemon, `info`, a
    /// dump): the table the last apply put in place stays remembered.
    /// Whoever changes the services through it calls
    /// [`Applier::forget_table`].
    pub fn ipvs(&mut self) -> Result<&mut Ipvs, IpvsError> {
        if self.ipvs.is_none() {
            self.ipvs = Some(Ipvs::open()?);
        }
        Ok(self.ipvs.as_mut().expect("set just above"))
    }

    /// Something other than [`Applier::apply`] may have changed the IPVS
    /// table: the next apply reads it back from the kernel.
    pub fn forget_table(&mut self) {
        self.ipvs_in_place = None;
    }

    /// Apply `config`: links and addresses, routes, IPVS, then sysctls
    /// (forwarding is turned on last, once the services are in place).
    pub async fn apply(&mut self, config: &Config, options: &Options) -> Outcome {
        let start = Instant::now();
        let mut outcome = Outcome::default();
        if options.parts.network {
            match self.network().await {
                Ok(net) => {
                    // The VRRP virtual addresses are the instance's to add
                    // and remove (on the master only): left as they are.
                    let keep = config
                        .vrrp
                        .as_ref()
                        .map_or(&[][..], |v| &v.virtual_addresses[..]);
                    let link_failures = net
                        .apply_interfaces_keeping(&config.interfaces, keep, options.link_wait)
                        .await;
                    let route_failures = net.apply_routes(&config.routes, &config.interfaces).await;
                    outcome
                        .failures
                        .extend(
                            link_failures
                                .into_iter()
                                .chain(route_failures)
                                .map(|f| Failure {
                                    piece: Piece::Network(f.what),
                                    error: f.error.into(),
                                }),
                        );
                }
                Err(error) => outcome.failures.push(Failure {
                    piece: Piece::Rtnetlink,
                    error: error.into(),
                }),
            }
        }
        if options.parts.ipvs {
            let want = ipvs::desired(&config.services);
            if self.ipvs_in_place.as_ref() == Some(&want) {
                log::debug!("ipvs: the table put in place last time is still wanted; not read");
            } else {
                self.apply_ipvs(want, &mut outcome);
            }
        }
        if options.parts.sysctl {
            outcome
                .failures
                .extend(
                    sysctl::apply(&config.sysctls)
                        .into_iter()
                        .map(|(name, e)| Failure {
                            piece: Piece::Sysctl(name),
                            error: e.into(),
                        }),
                );
        }
        outcome.elapsed = start.elapsed();
        outcome
    }

    /// Reconcile IPVS with `want`, and remember it when nothing was refused.
    fn apply_ipvs(&mut self, want: ipvs::Desired, outcome: &mut Outcome) {
        self.forget_table();
        outcome.ipvs_read = true;
        match self.ipvs().and_then(|ipvs| ipvs::reconcile_to(ipvs, &want)) {
            Ok(report) => {
                outcome.ipvs_changes = report.ops;
                outcome.ipvs_ops = report.sent;
                if report.failures.is_empty() {
                    self.ipvs_in_place = Some(want);
                }
                outcome
                    .failures
                    .extend(report.failures.into_iter().map(|(op, e)| Failure {
                        piece: Piece::IpvsChange(op),
                        error: e.into(),
                    }));
            }
            Err(e) => {
                // The socket may be broken: open a fresh one next time.
                self.ipvs = None;
                outcome.failures.push(Failure {
                    piece: Piece::Ipvs,
                    error: e.into(),
                });
            }
        }
    }

    /// The kernel's IPVS table laid out like `ipvsadm -Ln`, cut after
    /// `max_lines` lines with a line counting the rest
    /// ([`ipvs::format_table_cut`]; `usize::MAX` for all of it).
    pub fn ipvs_table(&mut self, max_lines: usize) -> Result<String, IpvsError> {
        let ipvs = self.ipvs()?;
        let info = ipvs.info()?;
        let table = ipvs.dump()?;
        Ok(ipvs::format_table_cut(&info, &table, max_lines))
    }
}
