//! The VRRPv3 state machine of RFC 5798 §6.4, with no sockets and no clock.
//!
//! Inputs are [`Event`]s, each handed in with the time it happened; outputs
//! are [`Action`]s (send an advert, enter a state). The only timer is the
//! RFC's single one, Master_Down_Timer in Backup and Adver_Timer in Master:
//! [`Machine::deadline`] says when it is due and the caller hands in
//! [`Event::Timer`] then. Tests drive it with made-up instants.
//!
//! States are the RFC's Initialize, Backup and Master, plus Fault (as
//! keepalived has it) while the advert interface is down: a router that
//! cannot hear its peer must not claim the addresses.
//!
//! Timing, as in §6.1 for version 3:
//! - Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256
//! - Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time
//!
//! where Master_Adver_Interval is learned from the master's adverts. The
//! skew makes the highest-priority backup take over first.
//!
//! Beyond the RFC, as keepalived does it:
//! - `preempt_delay`: a backup that sees a lower-priority master keeps
//!   accepting its adverts until this long after it first saw one, then
//!   stops (and takes over when the master-down timer runs out).
//! - A priority delta from tracking lowers the priority sent and compared
//!   (never below 1); a master sends an advert at once when it changes so a
//!   backup with preemption sees the new priority without waiting.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// The address owner's priority: it holds the addresses as its own.
pub const OWNER_PRIORITY: u8 = 255;

/// Priority of the advert a master sends when it stops.
pub const RESIGN_PRIORITY: u8 = 0;

/// What does not change while an instance runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Virtual router id (for messages only; the socket filters on it).
    pub vrid: u8,
    /// Configured priority, 1..=255.
    pub priority: u8,
    /// Advertisement_Interval: how often we send as master.
    pub interval: Duration,
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// Our own address on the advert interface: the tie-break between
    /// equal priorities (the higher address wins).
    pub address: Ipv4Addr,
}

/// RFC 5798 states, plus Fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started, or stopped.
    Initialize,
    Backup,
    Master,
    /// The advert interface is down.
    Fault,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The instance starts (leaves Initialize).
    Startup,
    /// A valid advert for our VRID arrived (the packet checks are done).
    Advert {
        from: Ipv4Addr,
        priority: u8,
        interval: Duration,
    },
    /// [`Machine::deadline`] has come.
    Timer,
    /// The advert interface went up (`true`) or down (`false`).
    InterfaceUp(bool),
    /// Tracking lowers the priority by this much (0 = back to configured).
    PriorityDelta(u8),
    /// Stop: a master says so with a priority-0 advert.
    Shutdown,
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send an advert with this priority now.
    Send { priority: u8 },
    /// The machine entered `state`; `reason` says why, for the log.
    Enter { state: State, reason: String },
}

/// One VRRP instance's protocol state.
#[derive(Debug, Clone)]
pub struct Machine {
    params: Params,
    state: State,
    delta: u8,
    interface_up: bool,
    /// Master_Adver_Interval: the current master's interval, as learned.
    master_interval: Duration,
    /// The one timer (Master_Down_Timer or Adver_Timer), when armed.
    deadline: Option<Instant>,
    /// Why the master-down timer will fire, said when it does.
    down_reason: String,
    /// While preempt_delay holds back preemption: until when.
    preempt_after: Option<Instant>,
}

impl Machine {
    /// A machine in Initialize; hand it [`Event::Startup`] to start.
    pub fn new(params: Params) -> Machine {
        let master_interval = params.interval;
        Machine {
            params,
            state: State::Initialize,
            delta: 0,
            interface_up: true,
            master_interval,
            deadline: None,
            down_reason: String::new(),
            preempt_after: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The priority we advertise and compare: configured minus the
    /// tracking delta, at least 1.
    pub fn priority(&self) -> u8 {
        if self.delta == 0 {
            self.params.priority
        } else {
            self.params.priority.saturating_sub(self.delta).max(1)
        }
    }

    /// When [`Event::Timer`] is due, if a timer runs.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Skew_Time for our priority and the learned master interval.
    pub fn skew_time(&self) -> Duration {
        self.master_interval * (256 - u32::from(self.priority())) / 256
    }

    /// Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        self.master_interval * 3 + self.skew_time()
    }

    /// Feed one event that happened at `now`; what to do about it.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        match event {
            Event::Startup => match self.state {
                State::Initialize => self.start(now, "startup"),
                _ => Vec::new(),
            },
            Event::Advert {
                from,
                priority,
                interval,
            } => self.advert(now, from, priority, interval),
            Event::Timer => self.timer(now),
            Event::InterfaceUp(up) => self.interface(now, up),
            Event::PriorityDelta(delta) => {
                if delta == self.delta {
                    return Vec::new();
                }
                self.delta = delta;
                if self.state == State::Master {
                    self.deadline = Some(now + self.params.interval);
                    vec![Action::Send {
                        priority: self.priority(),
                    }]
                } else {
                    Vec::new()
                }
            }
            Event::Shutdown => {
                let was = self.state;
                self.state = State::Initialize;
                self.deadline = None;
                self.preempt_after = None;
                if was == State::Master {
                    vec![Action::Send {
                        priority: RESIGN_PRIORITY,
                    }]
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// Leave Initialize or Fault (§6.4.1): the owner becomes master at once,
    /// anyone else listens for a master first.
    fn start(&mut self, now: Instant, why: &str) -> Vec<Action> {
        if !self.interface_up {
            return self.enter(State::Fault, format!("{why}: interface is down"));
        }
        self.preempt_after = None;
        if self.priority() == OWNER_PRIORITY {
            let mut actions = self.enter(
                State::Master,
                format!("{why}: address owner (priority 255)"),
            );
            actions.extend(self.become_master(now));
            return actions;
        }
        self.master_interval = self.params.interval;
        self.arm_master_down(now);
        self.down_reason = format!(
            "no master heard for {} ms after {why}",
            self.master_down_interval().as_millis()
        );
        self.enter(State::Backup, why.to_string())
    }

    fn advert(
        &mut self,
        now: Instant,
        from: Ipv4Addr,
        priority: u8,
        interval: Duration,
    ) -> Vec<Action> {
        // §7.1: the address owner discards every advert.
        if self.priority() == OWNER_PRIORITY {
            return Vec::new();
        }
        let ours = self.priority();
        match self.state {
            State::Backup => {
                if priority == RESIGN_PRIORITY {
                    // §6.4.2: the master resigned; take over after the skew only.
                    self.deadline = Some(now + self.skew_time());
                    self.down_reason = format!("master {from} resigned (priority 0)");
                    return Vec::new();
                }
                let lower = priority < ours;
                if self.params.preempt && lower {
                    if self.params.preempt_delay.is_zero() {
                        self.discard_lower(from, priority);
                        return Vec::new();
                    }
                    let after = *self
                        .preempt_after
                        .get_or_insert(now + self.params.preempt_delay);
                    if now >= after {
                        self.discard_lower(from, priority);
                        return Vec::new();
                    }
                } else {
                    self.preempt_after = None;
                }
                self.master_interval = interval;
                self.arm_master_down(now);
                self.down_reason = format!(
                    "master down timer expired: no advert from {from} for {} ms",
                    self.master_down_interval().as_millis()
                );
                Vec::new()
            }
            State::Master => {
                if priority == RESIGN_PRIORITY {
                    // §6.4.3: someone else resigned; show at once who is master.
                    self.deadline = Some(now + self.params.interval);
                    return vec![Action::Send { priority: ours }];
                }
                let wins = priority > ours || (priority == ours && from > self.params.address);
                if !wins {
                    return Vec::new();
                }
                let reason = if priority > ours {
                    format!("higher priority {priority} from {from} (ours {ours})")
                } else {
                    format!("same priority {priority} from higher address {from}")
                };
                self.master_interval = interval;
                self.arm_master_down(now);
                self.down_reason = format!(
                    "master down timer expired: no advert from {from} for {} ms",
                    self.master_down_interval().as_millis()
                );
                self.enter(State::Backup, reason)
            }
            State::Initialize | State::Fault => Vec::new(),
        }
    }

    /// Preemption: a lower-priority master's advert is ignored, so the
    /// master-down timer runs out and we take over.
    fn discard_lower(&mut self, from: Ipv4Addr, priority: u8) {
        self.down_reason = format!(
            "preempting lower priority master {from} ({priority} < {})",
            self.priority()
        );
    }

    fn timer(&mut self, now: Instant) -> Vec<Action> {
        match self.deadline {
            Some(due) if now >= due => {}
            _ => return Vec::new(),
        }
        match self.state {
            State::Backup => {
                let reason = std::mem::take(&mut self.down_reason);
                let mut actions = self.enter(State::Master, reason);
                actions.extend(self.become_master(now));
                actions
            }
            State::Master => {
                self.deadline = Some(now + self.params.interval);
                vec![Action::Send {
                    priority: self.priority(),
                }]
            }
            State::Initialize | State::Fault => {
                self.deadline = None;
                Vec::new()
            }
        }
    }

    fn interface(&mut self, now: Instant, up: bool) -> Vec<Action> {
        if up == self.interface_up {
            return Vec::new();
        }
        self.interface_up = up;
        match (self.state, up) {
            (State::Initialize, _) => Vec::new(),
            (State::Fault, true) => self.start(now, "interface up"),
            (_, false) => {
                // A master resigns on its way out (priority 0), as keepalived
                // does, so the backup takes over after its skew time instead
                // of the whole master-down interval. When the advert
                // interface itself is the one down the send fails, and the
                // backup times out as usual.
                let mut actions = if self.state == State::Master {
                    vec![Action::Send { priority: 0 }]
                } else {
                    Vec::new()
                };
                self.deadline = None;
                self.preempt_after = None;
                actions.extend(self.enter(State::Fault, "interface down".to_string()));
                actions
            }
            (_, true) => Vec::new(),
        }
    }

    /// Send the first advert and arm Adver_Timer.
    fn become_master(&mut self, now: Instant) -> Vec<Action> {
        self.preempt_after = None;
        self.deadline = Some(now + self.params.interval);
        vec![Action::Send {
            priority: self.priority(),
        }]
    }

    fn arm_master_down(&mut self, now: Instant) {
        self.deadline = Some(now + self.master_down_interval());
    }

    fn enter(&mut self, state: State, reason: String) -> Vec<Action> {
        self.state = state;
        if state == State::Fault || state == State::Initialize {
            self.deadline = None;
        }
        vec![Action::Enter { state, reason }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
    const PEER_LOW: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const PEER_HIGH: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 3);
    const SECOND: Duration = Duration::from_secs(1);

    /// A fake clock: instants are offsets in milliseconds from one origin.
    /// Deadlines keep the skew's fraction of a millisecond (609.375 ms for
    /// priority 100 at 1 s), so a timer is fired at the next whole one.
    struct Clock(Instant);

    impl Clock {
        fn new() -> Clock {
            Clock(Instant::now())
        }
        fn at(&self, ms: u64) -> Instant {
            self.0 + Duration::from_millis(ms)
        }
        fn ms(&self, t: Instant) -> u64 {
            t.duration_since(self.0).as_millis() as u64
        }
    }

    fn params(priority: u8) -> Params {
        Params {
            vrid: 51,
            priority,
            interval: SECOND,
            preempt: true,
            preempt_delay: Duration::ZERO,
            address: US,
        }
    }

    fn advert(from: Ipv4Addr, priority: u8) -> Event {
        Event::Advert {
            from,
            priority,
            interval: SECOND,
        }
    }

    fn entered(actions: &[Action]) -> Option<State> {
        actions.iter().find_map(|a| match a {
            Action::Enter { state, .. } => Some(*state),
            Action::Send { .. } => None,
        })
    }

    fn sent(actions: &[Action]) -> Option<u8> {
        actions.iter().find_map(|a| match a {
            Action::Send { priority } => Some(*priority),
            Action::Enter { .. } => None,
        })
    }

    fn reason(actions: &[Action]) -> String {
        actions
            .iter()
            .find_map(|a| match a {
                Action::Enter { reason, .. } => Some(reason.clone()),
                Action::Send { .. } => None,
            })
            .unwrap_or_default()
    }

    #[test]
    fn skew_and_master_down_follow_rfc_5798() {
        // (priority, interval ms) -> (skew ms, master down ms)
        let cases = [
            (100, 1000, 609, 3609), // 156 * 1000 / 256 = 609.375
            (150, 1000, 414, 3414),
            (254, 1000, 7, 3007),
            (1, 1000, 996, 3996),
            (100, 100, 60, 360),
            (200, 35, 7, 112),
        ];
        for (priority, interval, skew, down) in cases {
            let mut p = params(priority);
            p.interval = Duration::from_millis(interval);
            let m = Machine::new(p);
            assert_eq!(
                m.skew_time().as_millis(),
                skew,
                "skew for {priority}/{interval}"
            );
            assert_eq!(
                m.master_down_interval().as_millis(),
                down,
                "down for {priority}/{interval}"
            );
        }
    }

    #[test]
    fn alone_a_backup_becomes_master_after_master_down_interval() {
        let c = Clock::new();
        let mut m = Machine::new(params(100));
        let a = m.handle(c.at(0), Event::Startup);
        assert_eq!(entered(&a), Some(State::Backup));
        assert_eq!(sent(&a), None);
        assert_eq!(c.ms(m.deadline().unwrap()), 3609);
        // Early timer events change nothing.
        assert!(m.handle(c.at(3609), Event::Timer).is_empty());
        assert_eq!(m.state(), State::Backup);
        let a = m.handle(c.at(3610), Event::Timer);
        assert_eq!(entered(&a), Some(State::Master));
        assert_eq!(sent(&a), Some(100));
        assert!(reason(&a).contains("no master heard"), "{a:?}");
        // Then an advert every interval.
        assert_eq!(c.ms(m.deadline().unwrap()), 4610);
        assert_eq!(
            m.handle(c.at(4610), Event::Timer),
            vec![Action::Send { priority: 100 }]
        );
        assert_eq!(c.ms(m.deadline().unwrap()), 5610);
    }

    #[test]
    fn owner_is_master_at_once_and_ignores_adverts() {
        let c = Clock::new();
        let mut m = Machine::new(params(255));
        let a = m.handle(c.at(0), Event::Startup);
        assert_eq!(entered(&a), Some(State::Master));
        assert_eq!(sent(&a), Some(255));
        assert!(m.handle(c.at(10), advert(PEER_HIGH, 255)).is_empty());
        assert_eq!(m.state(), State::Master);
    }

    #[test]
    fn backup_stays_while_a_higher_master_adverts() {
        let c = Clock::new();
        let mut m = Machine::new(params(100));
        m.handle(c.at(0), Event::Startup);
        for t in (500..20_000).step_by(1000) {
            assert!(m.handle(c.at(t), advert(PEER_LOW, 200)).is_empty());
            assert!(m.handle(c.at(t + 999), Event::Timer).is_empty());
            assert_eq!(m.state(), State::Backup);
        }
        // The master stops: takeover 3 × interval + skew after its last advert.
        let last = 19_500;
        assert_eq!(c.ms(m.deadline().unwrap()), last + 3609);
        let a = m.handle(c.at(last + 3610), Event::Timer);
        assert_eq!(entered(&a), Some(State::Master));
        assert!(reason(&a).contains("master down timer expired"), "{a:?}");
    }

    #[test]
    fn backup_learns_the_masters_interval() {
        let c = Clock::new();
        let mut m = Machine::new(params(100));
        m.handle(c.at(0), Event::Startup);
        m.handle(
            c.at(100),
            Event::Advert {
                from: PEER_LOW,
                priority: 200,
                interval: Duration::from_millis(100),
            },
        );
        // 3 × 100 ms + (156 × 100 / 256) ms
        assert_eq!(c.ms(m.deadline().unwrap()), 100 + 360);
    }

    #[test]
    fn master_yields_to_higher_priority_and_to_a_higher_address_on_a_tie() {
        let c = Clock::new();
        for (from, priority, yields) in [
            (PEER_LOW, 200, true),
            (PEER_HIGH, 100, true),
            (PEER_LOW, 100, false),
            (PEER_HIGH, 99, false),
        ] {
            let mut m = Machine::new(params(100));
            m.handle(c.at(0), Event::Startup);
            m.handle(c.at(3610), Event::Timer);
            assert_eq!(m.state(), State::Master);
            let a = m.handle(c.at(4000), advert(from, priority));
            if yields {
                assert_eq!(entered(&a), Some(State::Backup), "{from} {priority}");
                assert_eq!(sent(&a), None);
                assert_eq!(c.ms(m.deadline().unwrap()), 4000 + 3609);
            } else {
                assert!(a.is_empty(), "{from} {priority}: {a:?}");
                assert_eq!(m.state(), State::Master);
            }
        }
    }

    #[test]
    fn preempt_takes_over_from_a_lower_master() {
        let c = Clock::new();
        let mut m = Machine::new(params(200));
        m.handle(c.at(0), Event::Startup);
        // The lower master's adverts are discarded: the first one does not
        // even reset the timer armed at startup (3 s + 218 ms skew).
        for t in [100, 1100, 2100, 3100] {
            assert!(m.handle(c.at(t), advert(PEER_LOW, 100)).is_empty());
        }
        assert_eq!(c.ms(m.deadline().unwrap()), 3218);
        let a = m.handle(c.at(3219), Event::Timer);
        assert_eq!(entered(&a), Some(State::Master));
        assert!(
            reason(&a).contains("preempting lower priority master 192.168.1.1"),
            "{a:?}"
        );
    }

    #[test]
    fn without_preempt_a_lower_master_keeps_the_role() {
        let c = Clock::new();
        let mut p = params(200);
        p.preempt = false;
        let mut m = Machine::new(p);
        m.handle(c.at(0), Event::Startup);
        for t in (100..30_000).step_by(1000) {
            m.handle(c.at(t), advert(PEER_LOW, 100));
            assert!(m.handle(c.at(t + 999), Event::Timer).is_empty());
        }
        assert_eq!(m.state(), State::Backup);
    }

    #[test]
    fn preempt_delay_holds_back_preemption() {
        let c = Clock::new();
        let mut p = params(200);
        p.preempt_delay = Duration::from_secs(10);
        let mut m = Machine::new(p);
        m.handle(c.at(0), Event::Startup);
        // Accepted as master for 10 s from the first advert seen at 100 ms.
        let mut t = 100;
        while t < 10_100 {
            m.handle(c.at(t), advert(PEER_LOW, 100));
            assert!(m.handle(c.at(t + 999), Event::Timer).is_empty(), "at {t}");
            t += 1000;
        }
        assert_eq!(m.state(), State::Backup);
        // From 10 100 ms on its adverts are ignored; the last accepted one
        // was at 9 100 ms, so takeover is 3 218 ms after it.
        m.handle(c.at(10_100), advert(PEER_LOW, 100));
        assert_eq!(c.ms(m.deadline().unwrap()), 9_100 + 3_218);
        let a = m.handle(c.at(12_319), Event::Timer);
        assert_eq!(entered(&a), Some(State::Master));
    }

    #[test]
    fn preempt_delay_restarts_after_a_higher_master() {
        let c = Clock::new();
        let mut p = params(200);
        p.preempt_delay = Duration::from_secs(5);
        let mut m = Machine::new(p);
        m.handle(c.at(0), Event::Startup);
        m.handle(c.at(100), advert(PEER_LOW, 100));
        // A higher master shows up: the pending preemption is forgotten.
        m.handle(c.at(1100), advert(PEER_HIGH, 250));
        m.handle(c.at(7000), advert(PEER_LOW, 100));
        assert_eq!(c.ms(m.deadline().unwrap()), 7000 + 3218);
    }

    #[test]
    fn priority_zero_makes_the_backup_take_over_after_the_skew() {
        let c = Clock::new();
        let mut m = Machine::new(params(100));
        m.handle(c.at(0), Event::Startup);
        m.handle(c.at(500), advert(PEER_LOW, 200));
        assert!(m.handle(c.at(900), advert(PEER_LOW, 0)).is_empty());
        assert_eq!(c.ms(m.deadline().unwrap()), 900 + 609);
        let a = m.handle(c.at(1510), Event::Timer);
        assert_eq!(entered(&a), Some(State::Master));
        assert_eq!(sent(&a), Some(100));
        assert!(reason(&a).contains("resigned"), "{a:?}");
    }

    #[test]
    fn shutdown_sends_priority_zero_only_as_master() {
        let c = Clock::new();
        let mut m = Machine::new(params(100));
        m.handle(c.at(0), Event::Startup);
        assert!(m.handle(c.at(10), Event::Shutdown).is_empty());
        assert_eq!(m.state(), State::Initialize);
        assert_eq!(m.deadline(), None);

        let mut m = Machine::new(params(255));
        m.handle(c.at(0), Event::Startup);
        assert_eq!(
            m.handle(c.at(10), Event::Shutdown),
            vec![Action::Send { priority: 0 }]
        );
        assert_eq!(m.state(), State::Initialize);
        assert_eq!(m.deadline(), None);
    }

    #[test]
    fn master_answers_a_priority_zero_at_once() {
        let c = Clock::new();
        let mut m = Machine::new(params(255));
        m.handle(c.at(0), Event::Startup);
        // Owner: adverts are ignored, even priority 0.
        assert!(m.handle(c.at(300), advert(PEER_LOW, 0)).is_empty());

        let mut m = Machine::new(params(100));
        m.handle(c.at(0), Event::Startup);
        m.handle(c.at(3610), Event::Timer);
        let a = m.handle(c.at(4000), advert(PEER_LOW, 0));
        assert_eq!(a, vec![Action::Send { priority: 100 }]);
        assert_eq!(c.ms(m.deadline().unwrap()), 5000);
    }

    #[test]
    fn interface_down_is_fault_and_up_starts_over() {
        let c = Clock::new();
        let mut m = Machine::new(params(100));
        m.handle(c.at(0), Event::Startup);
        m.handle(c.at(3610), Event::Timer);
        assert_eq!(m.state(), State::Master);
        let a = m.handle(c.at(4000), Event::InterfaceUp(false));
        assert_eq!(entered(&a), Some(State::Fault));
        assert_eq!(sent(&a), Some(0), "a master resigns on its way to FAULT");
        assert_eq!(m.deadline(), None);
        // No advert, no timer, no takeover while down.
        assert!(m.handle(c.at(5000), advert(PEER_LOW, 50)).is_empty());
        assert!(m.handle(c.at(60_000), Event::Timer).is_empty());
        assert_eq!(m.state(), State::Fault);
        let a = m.handle(c.at(61_000), Event::InterfaceUp(true));
        assert_eq!(entered(&a), Some(State::Backup));
        assert_eq!(c.ms(m.deadline().unwrap()), 61_000 + 3609);
        // Down before startup: startup goes straight to Fault.
        let mut m = Machine::new(params(255));
        assert!(m.handle(c.at(0), Event::InterfaceUp(false)).is_empty());
        let a = m.handle(c.at(1), Event::Startup);
        assert_eq!(entered(&a), Some(State::Fault));
        let a = m.handle(c.at(2), Event::InterfaceUp(true));
        assert_eq!(entered(&a), Some(State::Master));
    }

    #[test]
    fn a_backup_going_to_fault_sends_nothing() {
        let c = Clock::new();
        let mut m = Machine::new(params(100));
        m.handle(c.at(0), Event::Startup);
        assert_eq!(m.state(), State::Backup);
        let a = m.handle(c.at(1000), Event::InterfaceUp(false));
        assert_eq!(entered(&a), Some(State::Fault));
        assert_eq!(sent(&a), None);
    }

    #[test]
    fn tracking_lowers_the_priority_and_lets_the_backup_preempt() {
        let c = Clock::new();
        // We are master at 150; the peer waits as backup at 120.
        let mut m = Machine::new(params(150));
        m.handle(c.at(0), Event::Startup);
        m.handle(c.at(3415), Event::Timer);
        assert_eq!(m.state(), State::Master);
        let a = m.handle(c.at(4000), Event::PriorityDelta(50));
        assert_eq!(a, vec![Action::Send { priority: 100 }]);
        assert_eq!(m.priority(), 100);
        // The backup now preempts; its adverts at 120 make us backup.
        let a = m.handle(c.at(7500), advert(PEER_LOW, 120));
        assert_eq!(entered(&a), Some(State::Backup));
        // Skew uses the lowered priority: 156 × 1000 / 256.
        assert_eq!(m.skew_time().as_millis(), 609);
        // The same delta again is no event; back to 0 restores 150.
        assert!(m.handle(c.at(8000), Event::PriorityDelta(50)).is_empty());
        m.handle(c.at(8000), Event::PriorityDelta(0));
        assert_eq!(m.priority(), 150);
        // Never below 1.
        m.handle(c.at(8000), Event::PriorityDelta(255));
        assert_eq!(m.priority(), 1);
    }

    /// Fire `me`'s timer if due at `now` and hand its adverts to `other`.
    fn step(c: &Clock, now: u64, me: &mut Machine, other: &mut Machine) {
        if me.deadline().is_none_or(|d| c.ms(d) > now) {
            return;
        }
        let from = me.params().address;
        for a in me.handle(c.at(now), Event::Timer) {
            if let Action::Send { priority } = a {
                other.handle(c.at(now), advert(from, priority));
            }
        }
    }

    #[test]
    fn two_machines_elect_the_higher_priority() {
        // Both start together, each one's adverts delivered to the other.
        let c = Clock::new();
        let mut high = Machine::new(Params {
            address: PEER_LOW,
            ..params(200)
        });
        let mut low = Machine::new(params(100));
        high.handle(c.at(0), Event::Startup);
        low.handle(c.at(0), Event::Startup);
        for now in 0..20_000 {
            step(&c, now, &mut high, &mut low);
            step(&c, now, &mut low, &mut high);
        }
        assert_eq!(high.state(), State::Master);
        assert_eq!(low.state(), State::Backup);
        // The high one stops; the low one takes over after its skew.
        let resign = high.handle(c.at(20_000), Event::Shutdown);
        assert_eq!(resign, vec![Action::Send { priority: 0 }]);
        low.handle(c.at(20_000), advert(PEER_LOW, 0));
        assert_eq!(c.ms(low.deadline().unwrap()), 20_609);
        let a = low.handle(c.at(20_610), Event::Timer);
        assert_eq!(entered(&a), Some(State::Master));
    }
}
