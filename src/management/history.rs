//! What the status page draws: per service, connections per second and
//! active connections every [`SAMPLE_EVERY`] over the last hour, and the
//! moments its real servers went down or came back.
//!
//! Fed one [`Snapshot`] per sample ([`History::record`], pure: no clock,
//! no I/O). All services are sampled at the same moments, so the times
//! are kept once and each service keeps 8 bytes a sample: with 1,000
//! services an hour is 360 × 8 × 1,000 ≈ 2.9 MB, plus at most
//! [`MARKS`] health marks a service. A service gone from the config
//! is forgotten at the next sample.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use super::snapshot::{HealthState, Snapshot};

/// How often a sample is taken.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Samples kept: one hour.
pub const SAMPLES: usize = 360;
/// Health marks kept per service (the newest).
pub const MARKS: usize = 64;

/// One sample of one service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// New connections per second since the previous sample.
    pub cps: f32,
    /// Active connections over its real servers.
    pub active: u32,
}

/// A real server went down or came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// When (time since boot).
    pub at: Duration,
    pub real_server: SocketAddr,
    pub up: bool,
}

/// One service's samples and marks.
#[derive(Debug, Default)]
pub struct Series {
    /// Newest last; aligned with [`History::times`] from the end.
    pub samples: VecDeque<Sample>,
    pub marks: VecDeque<Mark>,
    /// The connection counter at the previous sample.
    last_conns: Option<u64>,
    /// Each real server's health at the previous sample.
    health: HashMap<SocketAddr, HealthState>,
}

/// Every service's series.
#[derive(Debug, Default)]
pub struct History {
    /// When each sample was taken (time since boot), newest last.
    pub times: VecDeque<Duration>,
    series: HashMap<String, Series>,
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    /// Take one sample from `snapshot`.
    pub fn record(&mut self, snapshot: &Snapshot) {
        let elapsed = self
            .times
            .back()
            .map(|t| snapshot.boot.saturating_sub(*t).as_secs_f32());
        if self.times.len() == SAMPLES {
            self.times.pop_front();
        }
        self.times.push_back(snapshot.boot);
        let joined = snapshot.joined();
        self.series
            .retain(|name, _| joined.iter().any(|j| &j.service.name == name));
        for j in &joined {
            let series = self.series.entry(j.service.name.clone()).or_default();
            let conns = j.kernel.map(|k| k.stats.conns);
            let cps = match (series.last_conns, conns, elapsed) {
                (Some(before), Some(now), Some(dt)) if dt > 0.0 => {
                    // A counter that went back is a service made again.
                    let new = if now >= before { now - before } else { now };
                    new as f32 / dt
                }
                _ => 0.0,
            };
            series.last_conns = conns;
            if series.samples.len() == SAMPLES {
                series.samples.pop_front();
            }
            series.samples.push_back(Sample {
                cps,
                active: j.active_connections().min(u64::from(u32::MAX)) as u32,
            });
            let mut seen = HashMap::with_capacity(j.real_servers.len());
            for (rs, _) in &j.real_servers {
                let state = rs.health.state;
                let before = series.health.get(&rs.address).copied();
                if let Some(before) = before
                    && before != state
                    && state != HealthState::Unchecked
                {
                    if series.marks.len() == MARKS {
                        series.marks.pop_front();
                    }
                    series.marks.push_back(Mark {
                        at: rs.health.since.unwrap_or(snapshot.boot),
                        real_server: rs.address,
                        up: state == HealthState::Up,
                    });
                }
                seen.insert(rs.address, state);
            }
            series.health = seen;
        }
    }

    /// The series of the service named `name`.
    pub fn series(&self, name: &str) -> Option<&Series> {
        self.series.get(name)
    }

    /// A series' samples with their times, oldest first.
    pub fn timed<'a>(
        &'a self,
        series: &'a Series,
    ) -> impl Iterator<Item = (Duration, Sample)> + 'a {
        let skip = self.times.len().saturating_sub(series.samples.len());
        self.times
            .iter()
            .skip(skip)
            .copied()
            .zip(series.samples.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::snapshot::tests::sample;

    fn at(mut s: Snapshot, secs: u64, conns: u64) -> Snapshot {
        s.boot = Duration::from_secs(secs);
        s.table.services[0].stats.conns = conns;
        s
    }

    #[test]
    fn rates_and_active_connections() {
        let mut h = History::new();
        h.record(&at(sample(), 10, 100));
        h.record(&at(sample(), 20, 150));
        let pg = h.series("postgres").unwrap();
        let timed: Vec<_> = h.timed(pg).collect();
        assert_eq!(timed.len(), 2);
        assert_eq!(timed[0].1.cps, 0.0);
        assert_eq!(
            timed[1],
            (
                Duration::from_secs(20),
                Sample {
                    cps: 5.0,
                    active: 4
                }
            )
        );
    }

    #[test]
    fn keeps_an_hour() {
        let mut h = History::new();
        for i in 0..SAMPLES as u64 + 10 {
            h.record(&at(sample(), 10 * i, i));
        }
        assert_eq!(h.times.len(), SAMPLES);
        assert_eq!(h.series("postgres").unwrap().samples.len(), SAMPLES);
        assert_eq!(h.times[0], Duration::from_secs(100));
    }

    #[test]
    fn marks_health_changes() {
        let mut h = History::new();
        h.record(&sample());
        let mut later = sample();
        later.boot = Duration::from_secs(70);
        let rs = &mut later.services[0].real_servers[1].health;
        rs.state = HealthState::Up;
        rs.since = Some(Duration::from_secs(65));
        h.record(&later);
        let marks = &h.series("postgres").unwrap().marks;
        assert_eq!(
            marks.iter().copied().collect::<Vec<_>>(),
            [Mark {
                at: Duration::from_secs(65),
                real_server: "192.168.3.3:5432".parse().unwrap(),
                up: true
            }]
        );
    }

    #[test]
    fn forgets_removed_services() {
        let mut h = History::new();
        h.record(&sample());
        let mut fewer = sample();
        fewer.services.truncate(1);
        h.record(&fewer);
        assert!(h.series("postgres").is_some());
        assert!(h.series("dns").is_none());
    }
}
