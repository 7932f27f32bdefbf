//! rtnetlink: links, addresses, routes, as `ip link/addr/route` users know them.
//!
//! [`Network`] is the one entry point. It reads the kernel's state and
//! changes only what differs from the config, so applying twice is a no-op
//! that logs nothing. Each change made is logged at info level
//! ("link eth0 (52:54:00:00:01:01) renamed to wan", "wan: added 192.168.1.1/24").
//! A piece that fails (one interface, one route) is reported as a
//! [`Failure`] and does not stop the others.

use std::collections::HashMap;
use std::time::Duration;

use rtnetlink::sys::AsyncSocket;

use crate::config::{Interface, IpNet, LinkMatch, MadeLink, Route, VirtualAddress};

mod addr;
mod error;
mod link;
mod link_kinds;
mod route;
pub(crate) use route::describe as describe_route;

pub use error::NetlinkError;
pub use route::OUR_PROTOCOL;

/// How often the link list is re-read while waiting for late links.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// An open rtnetlink connection in the calling thread's network namespace.
pub struct Network {
    handle: rtnetlink::Handle,
}

/// What happened to one piece (one interface, one route): logged by the
/// caller; failed pieces are retried later.
#[derive(Debug)]
pub struct Failure {
    /// The piece, as the user wrote it: "interface wan (mac 52:54:00:00:01:01)",
    /// "route 0.0.0.0/0 via 192.168.1.254".
    pub what: String,
    pub error: NetlinkError,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.error)
    }
}

/// "interface wan (mac 52:54:00:00:01:01)".
fn describe_interface(iface: &Interface) -> String {
    format!(
        "interface {} ({})",
        iface.name,
        link::describe_match(&iface.matcher)
    )
}

impl Network {
    /// Open an rtnetlink socket and spawn its connection on the current tokio
    /// runtime. The socket belongs to the network namespace of the calling
    /// thread at this moment.
    ///
    /// Extended acks are turned on (with capped acks, so error replies stay
    /// small) to keep the kernel's own words in [`NetlinkError::Kernel`].
    pub fn connect() -> Result<Network, NetlinkError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NetlinkError::NoRuntime)?;
        let (mut connection, handle, _) =
            rtnetlink::new_connection().map_err(NetlinkError::Socket)?;
        let socket = connection.socket_mut().socket_mut();
        // Both or neither: the extended-ack parser relies on capped acks.
        // Old kernels without them still work, only with bare errnos.
        if socket.set_cap_ack(true).is_ok() {
            let _ = socket.set_ext_ack(true);
        }
        runtime.spawn(connection);
        Ok(Network { handle })
    }

    /// Bring `lo` up (PID 1 calls this at boot).
    pub async fn loopback_up(&self) -> Result<(), NetlinkError> {
        let links = link::dump(&self.handle).await?;
        let mut lo = links.into_iter().find(|l| l.name == "lo").ok_or_else(|| {
            NetlinkError::LinkNotFound {
                matcher: "device lo".into(),
                waited: Duration::ZERO,
            }
        })?;
        link::set_up(&self.handle, &mut lo).await
    }

    /// Find every configured interface (waiting up to `wait` for links that
    /// have not appeared yet — USB/hotplug NICs), rename, set MTU, reconcile
    /// addresses, set up. One failing interface does not stop the others.
    ///
    /// Links present at the start are configured at once; the rest are
    /// looked for every 100 ms and configured as they appear. Whatever has
    /// not appeared when `wait` runs out is a [`NetlinkError::LinkNotFound`].
    pub async fn apply_interfaces(&self, interfaces: &[Interface], wait: Duration) -> Vec<Failure> {
        self.apply_interfaces_keeping(interfaces, &[], wait).await
    }

    /// [`Network::apply_interfaces`], leaving the addresses in `keep` as
    /// they are on their interfaces: the VRRP virtual addresses, which only
    /// [`Network::add_virtual_addresses`] and
    /// [`Network::remove_virtual_addresses`] touch.
    pub async fn apply_interfaces_keeping(
        &self,
        interfaces: &[Interface],
        keep: &[VirtualAddress],
        wait: Duration,
    ) -> Vec<Failure> {
        let deadline = tokio::time::Instant::now() + wait;
        // NICs first: the links the box makes are made on them after.
        let mut pending: Vec<usize> = (0..interfaces.len())
            .filter(|&i| !matches!(interfaces[i].matcher, LinkMatch::Made(_)))
            .collect();
        // Link index → the interface that took it.
        let mut claimed: HashMap<u32, usize> = HashMap::new();
        let mut failures = Vec::new();
        let mut dump_error: Option<NetlinkError>;
        loop {
            match link::dump(&self.handle).await {
                Ok(mut links) => {
                    link::read_pci_slots(&mut links, interfaces);
                    dump_error = None;
                    let mut found = Vec::new();
                    pending.retain(|&i| {
                        let iface = &interfaces[i];
                        match link::find(iface, &links) {
                            Ok(None) => true,
                            Ok(Some(l)) => {
                                if let Some(&other) = claimed.get(&l.index) {
                                    failures.push(Failure {
                                        what: describe_interface(iface),
                                        error: NetlinkError::LinkClaimed {
                                            link: l.describe(),
                                            other: interfaces[other].name.clone(),
                                        },
                                    });
                                } else {
                                    claimed.insert(l.index, i);
                                    found.push((i, l.clone()));
                                }
                                false
                            }
                            Err(error) => {
                                failures.push(Failure {
                                    what: describe_interface(iface),
                                    error,
                                });
                                false
                            }
                        }
                    });
                    if !found.is_empty() {
                        failures.extend(self.configure(interfaces, keep, found, &links).await);
                    }
                }
                Err(err) => dump_error = Some(err),
            }
            let now = tokio::time::Instant::now();
            if pending.is_empty() || now >= deadline {
                break;
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
        }
        if let Some(error) = dump_error {
            failures.push(Failure {
                what: "links".into(),
                error,
            });
        }
        for i in pending {
            failures.push(Failure {
                what: describe_interface(&interfaces[i]),
                error: NetlinkError::LinkNotFound {
                    matcher: link::describe_match(&interfaces[i].matcher),
                    waited: wait,
                },
            });
        }
        failures.extend(self.apply_made(interfaces, keep).await);
        failures
    }

    /// Make, change and remove the VLANs, bonds and bridges: those of
    /// ours the config no longer has are removed first, then each wanted
    /// one after what it needs (its parent, its members), each configured
    /// as a NIC is (MTU, addresses, up) and its members enslaved.
    async fn apply_made(&self, interfaces: &[Interface], keep: &[VirtualAddress]) -> Vec<Failure> {
        let mut failures = Vec::new();
        let made: Vec<(&Interface, &MadeLink)> = interfaces
            .iter()
            .filter_map(|i| match &i.matcher {
                LinkMatch::Made(m) => Some((i, m)),
                _ => None,
            })
            .collect();
        let links = match link::dump(&self.handle).await {
            Ok(links) => links,
            Err(error) => {
                if !made.is_empty() {
                    failures.push(Failure {
                        what: "links".into(),
                        error,
                    });
                }
                return failures;
            }
        };
        // VLANs first: removing a bond or bridge would take the VLANs on
        // it along, and their own removal would then fail.
        let mut unwanted: Vec<&link::Link> = links
            .iter()
            .filter(|l| link_kinds::is_ours(l))
            .filter(|l| {
                !made
                    .iter()
                    .any(|(i, m)| i.name == l.name && link_kinds::same_kind(m, l))
            })
            .collect();
        unwanted.sort_by_key(|l| !link_kinds::is_vlan(l));
        for l in unwanted {
            if let Err(error) = link_kinds::delete(&self.handle, l).await {
                failures.push(Failure {
                    what: format!("link {}", l.name),
                    error,
                });
            }
        }
        // Each pass makes those whose needs are done; the config has no
        // cycles (validated), so every pass but the last makes one at least.
        let mut todo: Vec<usize> = (0..made.len()).collect();
        // Made links tried (well or not), by name.
        let mut done: Vec<&str> = Vec::new();
        while !todo.is_empty() {
            let before = todo.len();
            let mut later = Vec::new();
            for k in todo {
                let (iface, m) = made[k];
                let waits = m
                    .needs()
                    .iter()
                    .any(|n| made.iter().any(|(i, _)| &i.name == n) && !done.contains(&n.as_str()));
                if waits {
                    later.push(k);
                    continue;
                }
                if let Err(error) = self.apply_one_made(iface, m, keep).await {
                    failures.push(Failure {
                        what: describe_interface(iface),
                        error,
                    });
                }
                done.push(iface.name.as_str());
            }
            todo = later;
            if todo.len() == before {
                // Only a cycle leaves nothing to do; validation rejects them.
                for k in todo.drain(..) {
                    failures.push(Failure {
                        what: describe_interface(made[k].0),
                        error: NetlinkError::Needs {
                            needs: made[k].1.needs().join(", "),
                        },
                    });
                }
            }
        }
        // The kernel closes a link a bond or bridge lets go (a member
        // dropped, its master removed or changed): every configured link is
        // up again after this.
        match link::dump(&self.handle).await {
            Ok(mut links) => {
                for l in links.iter_mut().filter(|l| !l.up) {
                    let configured = interfaces.iter().any(|i| i.name == l.name);
                    if configured && let Err(error) = link::set_up(&self.handle, l).await {
                        failures.push(Failure {
                            what: format!("link {}", l.name),
                            error,
                        });
                    }
                }
            }
            Err(error) => failures.push(Failure {
                what: "links".into(),
                error,
            }),
        }
        failures
    }

    /// One VLAN, bond or bridge: made or changed, members enslaved (and
    /// released), then MTU, addresses and up.
    async fn apply_one_made(
        &self,
        iface: &Interface,
        made: &MadeLink,
        keep: &[VirtualAddress],
    ) -> Result<(), NetlinkError> {
        let links = link::dump(&self.handle).await?;
        let named = |name: &str| links.iter().find(|l| l.name == name);
        let mut needed = Vec::new();
        for name in made.needs() {
            match named(name) {
                Some(l) => needed.push(l.clone()),
                None => {
                    return Err(NetlinkError::Needs {
                        needs: name.clone(),
                    });
                }
            }
        }
        let parent = match made {
            MadeLink::Vlan { .. } => needed.first().map(|l| l.index),
            _ => None,
        };
        let mut fresh = true;
        if let Some(l) = named(&iface.name) {
            // A link the box did not make is never changed or removed.
            if !link_kinds::is_ours(l) {
                return Err(NetlinkError::NotOurs {
                    name: iface.name.clone(),
                    holder: l.describe(),
                });
            }
            if !link_kinds::same_kind(made, l) {
                link_kinds::delete(&self.handle, l).await?;
            } else {
                match link_kinds::compare(made, l, parent) {
                    link_kinds::Difference::None => fresh = false,
                    link_kinds::Difference::InPlace => {
                        link_kinds::tune(&self.handle, l, made).await?;
                        fresh = false;
                    }
                    link_kinds::Difference::Remake => link_kinds::delete(&self.handle, l).await?,
                }
            }
        }
        if fresh {
            link_kinds::add(&self.handle, &iface.name, made, parent).await?;
        }
        let links = link::dump(&self.handle).await?;
        let mut this = links
            .iter()
            .find(|l| l.name == iface.name)
            .cloned()
            .ok_or_else(|| NetlinkError::LinkNotFound {
                matcher: link::describe_match(&iface.matcher),
                waited: Duration::ZERO,
            })?;
        if let MadeLink::Bond(_) | MadeLink::Bridge { .. } = made {
            let bond = matches!(made, MadeLink::Bond(_));
            for l in links.iter().filter(|l| l.controller == Some(this.index)) {
                if !made.needs().contains(&l.name) {
                    link_kinds::release(&self.handle, l, &iface.name).await?;
                }
            }
            for name in made.needs() {
                if let Some(member) = links.iter().find(|l| &l.name == name) {
                    let mut member = member.clone();
                    link_kinds::enslave(&self.handle, &mut member, &this, bond).await?;
                    link::set_up(&self.handle, &mut member).await?;
                }
            }
        }
        if let Some(mtu) = iface.mtu {
            link::set_mtu(&self.handle, &mut this, mtu).await?;
        }
        let kept: Vec<IpNet> = keep
            .iter()
            .filter(|k| k.interface == iface.name)
            .map(|k| k.address)
            .collect();
        addr::reconcile(
            &self.handle,
            this.index,
            &this.name,
            &iface.addresses,
            &kept,
        )
        .await?;
        link::set_up(&self.handle, &mut this).await
    }

    /// Configure links just found: all renames first (they may depend on
    /// each other), then per link MTU, addresses and up. A failed rename
    /// skips the rest for that link; the later steps each report their own
    /// failure and do not stop one another.
    async fn configure(
        &self,
        interfaces: &[Interface],
        keep: &[VirtualAddress],
        mut found: Vec<(usize, link::Link)>,
        all: &[link::Link],
    ) -> Vec<Failure> {
        let mut failures = Vec::new();
        let mut names: HashMap<String, u32> =
            all.iter().map(|l| (l.name.clone(), l.index)).collect();
        let mut plan: Vec<link::Rename<'_>> = found
            .iter_mut()
            .map(|(i, l)| link::Rename {
                link: l,
                to: interfaces[*i].name.as_str(),
            })
            .collect();
        let rename_failures = link::rename_all(&self.handle, &mut plan, &mut names).await;
        drop(plan);
        let mut renamed_ok = vec![true; found.len()];
        for (pos, error) in rename_failures {
            renamed_ok[pos] = false;
            failures.push(Failure {
                what: describe_interface(&interfaces[found[pos].0]),
                error,
            });
        }

        for ((i, l), ok) in found.iter_mut().zip(renamed_ok) {
            if !ok {
                continue;
            }
            let iface = &interfaces[*i];
            let mut fail = |error| {
                failures.push(Failure {
                    what: describe_interface(iface),
                    error,
                })
            };
            if let Some(mtu) = iface.mtu
                && let Err(e) = link::set_mtu(&self.handle, l, mtu).await
            {
                fail(e);
            }
            let kept: Vec<IpNet> = keep
                .iter()
                .filter(|k| k.interface == iface.name)
                .map(|k| k.address)
                .collect();
            if let Err(e) =
                addr::reconcile(&self.handle, l.index, &l.name, &iface.addresses, &kept).await
            {
                fail(e);
            }
            if let Err(e) = link::set_up(&self.handle, l).await {
                fail(e);
            }
        }
        failures
    }

    /// Add the VRRP virtual addresses (the master's). Each goes on the link
    /// named as its interface; one already there is left alone, and each
    /// one added is logged ("wan: added 192.168.1.100/24").
    pub async fn add_virtual_addresses(&self, vips: &[VirtualAddress]) -> Vec<Failure> {
        self.change_virtual_addresses(vips, true).await
    }

    /// Remove the VRRP virtual addresses (a backup's); those not there are
    /// no failure.
    pub async fn remove_virtual_addresses(&self, vips: &[VirtualAddress]) -> Vec<Failure> {
        self.change_virtual_addresses(vips, false).await
    }

    async fn change_virtual_addresses(&self, vips: &[VirtualAddress], add: bool) -> Vec<Failure> {
        let what =
            |vip: &VirtualAddress| format!("virtual address {} on {}", vip.address, vip.interface);
        let links = match link::dump(&self.handle).await {
            Ok(links) => links,
            Err(error) => {
                return vec![Failure {
                    what: "virtual addresses".into(),
                    error,
                }];
            }
        };
        let mut failures = Vec::new();
        for vip in vips {
            let Some(l) = links.iter().find(|l| l.name == vip.interface) else {
                failures.push(Failure {
                    what: what(vip),
                    error: NetlinkError::LinkNotFound {
                        matcher: format!("name {}", vip.interface),
                        waited: Duration::ZERO,
                    },
                });
                continue;
            };
            let result = if add {
                addr::add(&self.handle, l.index, &l.name, vip.address).await
            } else {
                addr::remove(&self.handle, l.index, &l.name, vip.address).await
            };
            match result {
                Ok(true) if add => log::info!("{}: added {}", l.name, vip.address),
                Ok(true) => log::info!("{}: removed {}", l.name, vip.address),
                Ok(false) => {}
                Err(error) => failures.push(Failure {
                    what: what(vip),
                    error,
                }),
            }
        }
        failures
    }

    /// Reconcile routes (after interfaces). Routes whose device/gateway is
    /// unreachable fail individually.
    ///
    /// A route's `device` is a configured interface name; it is resolved
    /// through that interface's match (so a route still finds its NIC when
    /// the rename failed), or else as a kernel link name.
    pub async fn apply_routes(&self, routes: &[Route], interfaces: &[Interface]) -> Vec<Failure> {
        let links = match link::dump(&self.handle).await {
            Ok(mut links) => {
                link::read_pci_slots(&mut links, interfaces);
                links
            }
            Err(error) => {
                return vec![Failure {
                    what: "routes".into(),
                    error,
                }];
            }
        };
        let mut index: HashMap<String, u32> =
            links.iter().map(|l| (l.name.clone(), l.index)).collect();
        for iface in interfaces {
            // The configured interface wins over a stray link of the same
            // name (a MAC- or PCI-matched one). A device-matched interface
            // whose link kept its kernel name is found by that name already.
            if !matches!(iface.matcher, LinkMatch::Device(_))
                && let Ok(Some(l)) = link::find(iface, &links)
            {
                index.insert(iface.name.clone(), l.index);
            }
        }
        let names: HashMap<u32, String> = links.iter().map(|l| (l.index, l.name.clone())).collect();
        route::reconcile(&self.handle, routes, &index, &names)
            .await
            .into_iter()
            .map(|(what, error)| Failure { what, error })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The apply orchestration may run these on a multi-threaded runtime:
    /// their futures must be `Send`. (Checked at compile time; the futures
    /// are built but never polled, so nothing is sent to the kernel.)
    #[test]
    fn futures_are_send() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let net = Network::connect().expect("an rtnetlink socket opens without privileges");
            assert_send(&net.loopback_up());
            assert_send(&net.apply_interfaces(&[], Duration::ZERO));
            assert_send(&net.add_virtual_addresses(&[]));
            assert_send(&net.remove_virtual_addresses(&[]));
            assert_send(&net.apply_routes(&[], &[]));
        });
    }

    #[test]
    fn connect_outside_a_runtime_is_an_error() {
        assert!(matches!(Network::connect(), Err(NetlinkError::NoRuntime)));
    }
}
