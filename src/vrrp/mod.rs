//! VRRP version 3 (RFC 5798) for IPv4: two directors elect a master that
//! holds the virtual addresses, as keepalived's `vrrp_instance` does, and
//! speaking the same packets so either side can be keepalived.
//!
//! - [`packet`]: the advert on the wire and the receiver's checks.
//! - [`state`]: the state machine, pure, driven by events and a clock.
//! - [`socket`]: the raw protocol-112 socket on the advert interface.
//! - [`arp`]: gratuitous ARP for addresses a new master takes.
//! - [`Instance`]: socket and state machine running on tokio.
//!
//! The instance only decides the role. Whoever runs it (the director)
//! adds or removes the virtual addresses and calls [`arp::announce`] on
//! each [`Transition`], and moves the IPVS sync daemon with it.
//!
//! Adverts carry every IPv4 virtual address of the instance, including
//! those on other interfaces than the advert interface, as keepalived does
//! for one `vrrp_instance`. IPv6 virtual addresses move with the role but
//! are not listed in the (IPv4) adverts.
//!
//! Like keepalived by default, a master answers for the virtual addresses
//! with its interface's own MAC, not the RFC's virtual MAC
//! 00:00:5e:00:01:VRID; that is why a new master sends gratuitous ARP.
//!
//! Working with keepalived: give its `vrrp_instance` the same IPv4 virtual
//! addresses (any order, `dev` for those on other interfaces), the same
//! `virtual_router_id` and `vrrp_version 3`. keepalived 2.2 drops adverts
//! whose address set differs from its own ("received an unexpected ip
//! number count", "ip address associated with VRID ... not present in
//! MASTER advert") and would then claim the addresses too; we log such a
//! mismatch ("address list mismatch") but still take part in the election.

pub mod arp;
pub mod counters;
mod error;
pub mod packet;
pub mod socket;
pub mod state;

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::config::Vrrp;

pub use counters::Counters;

pub use error::VrrpError;
use packet::Advert;
use socket::VrrpSocket;
use state::{Action, Event, Machine, Params, State};

/// How often the instance looks at the state of the links it depends on.
const LINK_POLL: Duration = Duration::from_millis(500);

/// Most packets already queued that are read before a timer is acted on
/// (bounded, so a flood cannot hold the timer back).
const DRAIN_BEFORE_TIMER: usize = 64;

/// At most one log line per this long for repeated dropped packets or
/// send failures (the rest are counted).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The role the instance has taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Not master: the virtual addresses must not be here. Also reported
    /// once when a master stops on [`Control::Shutdown`].
    Backup,
    /// Master: the virtual addresses belong here, announced by gratuitous ARP.
    Master,
    /// An interface is down: not master, and not competing to become it.
    Fault,
}

impl Role {
    /// The name keepalived users read in logs: `MASTER`, `BACKUP`, `FAULT`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Backup => "BACKUP",
            Role::Master => "MASTER",
            Role::Fault => "FAULT",
        }
    }
}

/// A role change and why it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub role: Role,
    /// For the log: "higher priority 200 from 192.168.1.2 (ours 150)",
    /// "master down timer expired: no advert from 192.168.1.2 for 3609 ms".
    pub reason: String,
}

/// What the director tells a running instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Stop; a master first sends a priority-0 advert so the backup takes
    /// over after its skew time instead of the whole master-down interval.
    Shutdown,
    /// Whether whatever else the caller watches for the instance is up.
    /// The instance watches its own links (the advert interface and those
    /// holding virtual addresses); any of them down, or this false, means
    /// FAULT.
    InterfaceUp(bool),
    /// Lower the priority by this much (tracking); 0 restores it.
    PriorityDelta(u8),
}

/// One VRRP instance with its socket open, ready to [`run`](Instance::run).
#[derive(Debug)]
pub struct Instance {
    socket: VrrpSocket,
    machine: Machine,
    interval_centis: u16,
    addresses: Vec<Ipv4Addr>,
    /// The interfaces holding virtual addresses, other than the advert
    /// interface, each once.
    others: Vec<String>,
    counters: Arc<Counters>,
}

impl Instance {
    /// Open the socket on `cfg.interface` (by name, in the current network
    /// namespace). Needs the interface to exist with an IPv4 address.
    pub fn new(cfg: &Vrrp) -> Result<Instance, VrrpError> {
        if cfg.virtual_router_id == 0 {
            return Err(VrrpError::Invalid("virtual_router_id 0".into()));
        }
        if cfg.priority == 0 {
            return Err(VrrpError::Invalid(
                "priority 0 (only a leaving master sends it)".into(),
            ));
        }
        let mut peers = Vec::new();
        for peer in &cfg.unicast_peers {
            match peer {
                IpAddr::V4(v4) => peers.push(*v4),
                IpAddr::V6(v6) => {
                    return Err(VrrpError::Invalid(format!(
                        "unicast peer {v6}: adverts are IPv4, peers must be too"
                    )));
                }
            }
        }
        let addresses: Vec<Ipv4Addr> = cfg
            .virtual_addresses
            .iter()
            .filter_map(|v| match v.address.addr {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            })
            .collect();
        let interval_centis = packet::duration_to_centis(cfg.advert_interval);
        let socket = VrrpSocket::open(&cfg.interface, &peers, &addresses)?;
        let machine = Machine::new(Params {
            vrid: cfg.virtual_router_id,
            priority: cfg.priority,
            interval: packet::centis_to_duration(interval_centis),
            preempt: cfg.preempt,
            preempt_delay: cfg.preempt_delay,
            address: socket.local_address(),
        });
        Ok(Instance {
            socket,
            machine,
            interval_centis,
            addresses,
            others: other_interfaces(cfg),
            counters: Arc::default(),
        })
    }

    /// What the instance counts while it runs.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// The source address of our adverts (the tie-break between equal
    /// priorities).
    pub fn local_address(&self) -> Ipv4Addr {
        self.socket.local_address()
    }

    /// Run until `control` says [`Control::Shutdown`] (or is closed): then
    /// send a priority-0 advert if master, and return.
    ///
    /// Role changes go to `transitions` (the caller logs them on the
    /// console, adds or removes the virtual addresses and calls
    /// [`arp::announce`]). The instance itself logs its start, its links'
    /// changes, priority changes and dropped packets.
    pub async fn run(
        self,
        transitions: UnboundedSender<Transition>,
        mut control: UnboundedReceiver<Control>,
    ) {
        let Instance {
            socket,
            machine,
            interval_centis,
            addresses,
            others,
            counters,
        } = self;
        let ifname = socket.interface().to_string();
        let mut run = Runner {
            label: format!("VRRP {} on {ifname}", machine.params().vrid),
            ifname,
            machine,
            interval_centis,
            addresses,
            transitions,
            link_up: true,
            others,
            others_up: true,
            told_up: true,
            drops: Throttle::default(),
            send_errors: Throttle::default(),
            mismatch: None,
            counters,
        };
        // SAFETY: a VrrpSocket owns its descriptor (an OwnedFd closed only
        // when the socket is dropped) and always returns that same one from
        // as_raw_fd(), so it stays valid for as long as the AsyncFd lives.
        let registered = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) };
        let fd = match registered {
            Ok(fd) => fd,
            Err(e) => {
                // Without a socket we can never hear a master: stay FAULT.
                log::error!("{}: cannot watch the VRRP socket: {e}", run.label);
                run.report(Role::Fault, format!("cannot watch the VRRP socket: {e}"));
                while let Some(c) = control.recv().await {
                    if c == Control::Shutdown {
                        break;
                    }
                }
                return;
            }
        };

        run.link_up = socket::link_up(&run.ifname).unwrap_or(false);
        log::info!(
            "{}: priority {}, advert interval {} ms, from {} to {}",
            run.label,
            run.machine.params().priority,
            u64::from(interval_centis) * 10,
            fd.get_ref().local_address(),
            join(&fd.get_ref().destinations()),
        );
        let now = Instant::now();
        let mut actions = run.machine.handle(now, Event::InterfaceUp(run.link_up));
        actions.extend(run.machine.handle(now, Event::Startup));
        run.perform(fd.get_ref(), actions);

        let mut buf = vec![0u8; socket::RECEIVE_BUFFER];
        let mut poll = tokio::time::interval(LINK_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = run.machine.deadline();
            let wake = tokio::select! {
                ready = fd.readable() => match ready {
                    Ok(mut guard) => match guard.try_io(|s| s.get_ref().try_recv(&mut buf)) {
                        Ok(Ok(n)) => Wake::Packet(n),
                        Ok(Err(e)) => Wake::ReceiveError(e),
                        Err(_would_block) => Wake::Nothing,
                    },
                    Err(e) => Wake::ReceiveError(e),
                },
                () = until(deadline) => Wake::Timer,
                c = control.recv() => Wake::Control(c),
                _ = poll.tick() => Wake::Poll,
            };
            let sock = fd.get_ref();
            match wake {
                Wake::Packet(n) => run.packet(sock, &buf[..n]),
                Wake::ReceiveError(e) => {
                    if let Some(more) = run.send_errors.allow() {
                        log::warn!("{}: receiving: {e}{}", run.label, suppressed(more));
                    }
                    // Do not spin on a socket that keeps failing.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Wake::Timer => {
                    // Adverts that arrived while this thread was not
                    // scheduled count before the timer does: a busy box
                    // must not take over from a master it has heard.
                    for _ in 0..DRAIN_BEFORE_TIMER {
                        match sock.try_recv(&mut buf) {
                            Ok(n) => run.packet(sock, &buf[..n]),
                            Err(_) => break,
                        }
                    }
                    let actions = run.machine.handle(Instant::now(), Event::Timer);
                    run.perform(sock, actions);
                }
                Wake::Poll => {
                    if run.poll_links() {
                        run.interfaces_changed(sock);
                    }
                }
                Wake::Control(Some(Control::InterfaceUp(up))) => {
                    run.told_up = up;
                    run.interfaces_changed(sock);
                }
                Wake::Control(Some(Control::PriorityDelta(delta))) => {
                    let before = run.machine.priority();
                    let actions = run
                        .machine
                        .handle(Instant::now(), Event::PriorityDelta(delta));
                    if run.machine.priority() != before {
                        log::info!(
                            "{}: priority {} -> {}",
                            run.label,
                            before,
                            run.machine.priority()
                        );
                    }
                    run.perform(sock, actions);
                }
                Wake::Control(None | Some(Control::Shutdown)) => {
                    run.shutdown(sock);
                    return;
                }
                Wake::Nothing => {}
            }
        }
    }
}

/// What woke the run loop.
enum Wake {
    Packet(usize),
    ReceiveError(io::Error),
    Timer,
    Control(Option<Control>),
    Poll,
    Nothing,
}

/// The run loop's state besides the socket.
struct Runner {
    label: String,
    ifname: String,
    machine: Machine,
    interval_centis: u16,
    addresses: Vec<Ipv4Addr>,
    transitions: UnboundedSender<Transition>,
    /// The advert interface, as last polled.
    link_up: bool,
    /// The other interfaces holding virtual addresses.
    others: Vec<String>,
    /// Whether all of `others` were up when last polled (a missing link
    /// counts as down).
    others_up: bool,
    /// What the caller last said by [`Control::InterfaceUp`].
    told_up: bool,
    drops: Throttle,
    send_errors: Throttle,
    /// The last peer address list we warned about, to warn once per change.
    mismatch: Option<(Ipv4Addr, Vec<Ipv4Addr>)>,
    counters: Arc<Counters>,
}

impl Runner {
    /// One received packet: the checks of RFC 5798 §7.1, then the machine.
    fn packet(&mut self, sock: &VrrpSocket, bytes: &[u8]) {
        let received = match packet::receive(bytes) {
            Ok(r) => r,
            Err(e) => {
                Counters::hit(self.counters.of(&e));
                let from = packet::parse_ipv4(bytes)
                    .map(|ip| ip.src.to_string())
                    .unwrap_or_else(|_| "?".into());
                if let Some(more) = self.drops.allow() {
                    log::warn!(
                        "{}: dropped a packet from {from}: {e}{}",
                        self.label,
                        suppressed(more)
                    );
                }
                return;
            }
        };
        let from = received.src;
        if from == sock.local_address() {
            return;
        }
        if !sock.peers().is_empty() && !sock.peers().contains(&from) {
            Counters::hit(&self.counters.peer);
            if let Some(more) = self.drops.allow() {
                log::warn!(
                    "{}: dropped an advert from {from}: not a unicast peer{}",
                    self.label,
                    suppressed(more)
                );
            }
            return;
        }
        let advert = received.advert;
        if advert.vrid != self.machine.params().vrid {
            Counters::hit(&self.counters.vrid);
            // Another virtual router on the same segment.
            log::debug!(
                "{}: advert for VRID {} from {from}",
                self.label,
                advert.vrid
            );
            return;
        }
        if !same_set(&advert.addresses, &self.addresses) {
            // RFC 5798 lets a receiver drop these (keepalived does); we say
            // so and still take part in the election, so that the two
            // directors never both hold the addresses over a config typo.
            let seen = (from, advert.addresses.clone());
            if self.mismatch.as_ref() != Some(&seen) {
                log::warn!(
                    "{}: address list mismatch: {from} sends [{}], ours is [{}]",
                    self.label,
                    join(&advert.addresses),
                    join(&self.addresses)
                );
                self.mismatch = Some(seen);
            }
        }
        Counters::hit(&self.counters.received);
        let actions = self.machine.handle(
            Instant::now(),
            Event::Advert {
                from,
                priority: advert.priority,
                interval: advert.interval(),
            },
        );
        self.perform(sock, actions);
    }

    /// Look at the advert interface and the others; true when either
    /// changed between up and not (each change logged).
    fn poll_links(&mut self) -> bool {
        let link_up = socket::link_up(&self.ifname).unwrap_or(false);
        let link_changed = link_up != self.link_up;
        if link_changed {
            log::info!(
                "{}: link {}",
                self.label,
                if link_up { "up" } else { "down" }
            );
            self.link_up = link_up;
        }
        let down: Vec<&str> = self
            .others
            .iter()
            .filter(|n| socket::link_up(n) != Some(true))
            .map(String::as_str)
            .collect();
        let others_up = down.is_empty();
        let others_changed = others_up != self.others_up;
        if others_changed {
            if others_up {
                log::info!("vrrp: {} up again", self.others.join(", "));
            } else {
                log::warn!("vrrp: {} down", down.join(", "));
            }
            self.others_up = others_up;
        }
        link_changed || others_changed
    }

    fn interfaces_changed(&mut self, sock: &VrrpSocket) {
        let up = self.link_up && self.others_up && self.told_up;
        let actions = self.machine.handle(Instant::now(), Event::InterfaceUp(up));
        self.perform(sock, actions);
    }

    fn shutdown(&mut self, sock: &VrrpSocket) {
        let was_master = self.machine.state() == State::Master;
        let actions = self.machine.handle(Instant::now(), Event::Shutdown);
        self.perform(sock, actions);
        if was_master {
            self.report(
                Role::Backup,
                "shutting down: sent priority 0 so the backup takes over".into(),
            );
        } else {
            log::info!("{}: stopped", self.label);
        }
    }

    fn perform(&mut self, sock: &VrrpSocket, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send { priority } => {
                    let advert = Advert {
                        vrid: self.machine.params().vrid,
                        priority,
                        interval_centis: self.interval_centis,
                        addresses: self.addresses.clone(),
                    };
                    match sock.send_advert(&advert) {
                        Ok(()) => Counters::hit(&self.counters.sent),
                        Err(e) => {
                            if let Some(more) = self.send_errors.allow() {
                                log::warn!("{}: {e}{}", self.label, suppressed(more));
                            }
                        }
                    }
                }
                Action::Enter { state, reason } => {
                    let role = match state {
                        State::Master => Role::Master,
                        State::Fault => Role::Fault,
                        State::Backup | State::Initialize => Role::Backup,
                    };
                    self.report(role, reason);
                }
            }
        }
    }

    /// Tell the caller; it logs the change on the console (as the director
    /// does), so here it is only a debug line.
    fn report(&mut self, role: Role, reason: String) {
        log::debug!("{}: entering {} state ({reason})", self.label, role.name());
        // A caller that stopped listening is shutting us down anyway.
        let _ = self.transitions.send(Transition { role, reason });
    }
}

/// The interfaces holding virtual addresses, other than the advert
/// interface, each once.
fn other_interfaces(config: &Vrrp) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for vip in &config.virtual_addresses {
        if vip.interface != config.interface && !names.contains(&vip.interface) {
            names.push(vip.interface.clone());
        }
    }
    names
}

/// Sleep until `deadline`, or forever without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// Lets one log line through per [`LOG_EVERY`], counting the rest.
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    suppressed: u32,
}

impl Throttle {
    /// `Some(n)` when a line may be logged now, `n` being how many were
    /// held back since the last one.
    fn allow(&mut self) -> Option<u32> {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < LOG_EVERY => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

fn suppressed(n: u32) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} more since the last message)")
    }
}

/// Equal as sets: the order of the addresses in an advert carries no meaning.
fn same_set(a: &[Ipv4Addr], b: &[Ipv4Addr]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    a.dedup();
    b.sort_unstable();
    b.dedup();
    a == b
}

fn join(addrs: &[Ipv4Addr]) -> String {
    addrs
        .iter()
        .map(Ipv4Addr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{IpNet, VirtualAddress};

    /// The director may `tokio::spawn` the instance: its future must be
    /// `Send`. The compiler checks this signature; it is never called.
    #[allow(dead_code)]
    fn run_is_send(
        instance: Instance,
        transitions: UnboundedSender<Transition>,
        control: UnboundedReceiver<Control>,
    ) -> impl Send {
        instance.run(transitions, control)
    }

    /// The links watched besides the advert interface: those holding
    /// virtual addresses, each once, in config order.
    #[test]
    fn other_interfaces_hold_virtual_addresses() {
        let vip = |interface: &str, last: u8| VirtualAddress {
            interface: interface.into(),
            address: IpNet {
                addr: IpAddr::V4(Ipv4Addr::new(10, 0, last, 1)),
                prefix_len: 24,
            },
        };
        let config = Vrrp {
            interface: "wan".into(),
            virtual_router_id: 51,
            priority: 100,
            advert_interval: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            unicast_peers: Vec::new(),
            virtual_addresses: vec![vip("wan", 1), vip("lan", 3), vip("dmz", 4), vip("lan", 5)],
            sync_interface: None,
            sync_id: 0,
            track_services: Vec::new(),
            track_priority_delta: 0,
        };
        assert_eq!(other_interfaces(&config), ["lan", "dmz"]);
    }

    #[test]
    fn address_sets_ignore_order_and_repeats() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 2);
        assert!(same_set(&[a, b], &[b, a]));
        assert!(same_set(&[a, b, a], &[b, a]));
        assert!(!same_set(&[a], &[a, b]));
        assert!(same_set(&[], &[]));
    }

    #[test]
    fn throttle_lets_one_line_through_and_counts_the_rest() {
        let mut t = Throttle::default();
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), None);
        assert_eq!(t.allow(), None);
        t.last = Some(Instant::now() - LOG_EVERY);
        assert_eq!(t.allow(), Some(2));
        assert_eq!(suppressed(2), " (2 more since the last message)");
        assert_eq!(suppressed(0), "");
    }
}
