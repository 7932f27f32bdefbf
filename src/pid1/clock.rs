//! Network time: a task on the director's runtime that asks the
//! `[time] ntp_servers` in turn, sets the clock on the first good answer
//! (and writes it to the RTC, so the next boot starts close), then keeps it
//! by slewing (`adjtime`), stepping again only when it is off by more than
//! [`STEP_OVER`]. The console says when the clock was set and by how much.

use std::fs::OpenOptions;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::time::TimeSpec;
use nix::time::{ClockId, clock_settime};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::config;
use crate::management::clock::{self, civil_from_days};
use crate::ntp::{self, Sample, Timestamp};

/// How long one server has to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// How often the clock is checked once set (NTP's usual minimum poll).
const POLL: Duration = Duration::from_secs(64);
/// How soon to ask again when no server answered.
const RETRY: Duration = Duration::from_secs(5);
/// Off by more than this once set: stepped, not slewed (slewing runs at
/// 0.5 ms a second; half a second takes over a quarter of an hour).
const STEP_OVER: f64 = 0.5;
/// The RTC the kernel sets the clock from at boot.
const RTC: &str = "/dev/rtc0";

/// The director's clock keeper: the task following the running config's
/// servers, if it names any.
#[derive(Default)]
pub(super) struct Clock {
    servers: Vec<IpAddr>,
    task: Option<JoinHandle<()>>,
}

impl Clock {
    /// Follow `time`: a new task for other servers, none for none.
    pub(super) fn follow(&mut self, time: &config::Time) {
        if self.servers == time.ntp_servers && (self.task.is_some() || self.servers.is_empty()) {
            return;
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.servers = time.ntp_servers.clone();
        if !self.servers.is_empty() {
            self.task = Some(tokio::spawn(keep(self.servers.clone())));
        }
    }
}

impl Drop for Clock {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Ask the servers in turn, forever.
async fn keep(servers: Vec<IpAddr>) {
    let mut set = false;
    let mut silent_said = false;
    loop {
        let mut answered = None;
        for &server in &servers {
            match ask(server).await {
                Ok(sample) => {
                    answered = Some((server, sample));
                    break;
                }
                Err(why) => log::debug!("time: {server}: {why}"),
            }
        }
        match answered {
            Some((server, sample)) => {
                adjust(server, sample, &mut set);
                silent_said = false;
                tokio::time::sleep(POLL).await;
            }
            None => {
                if !silent_said {
                    let list: Vec<String> = servers.iter().map(IpAddr::to_string).collect();
                    log::warn!(
                        "time: no NTP server answered ({}); asking again",
                        list.join(", ")
                    );
                    silent_said = true;
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// One exchange with `server`.
async fn ask(server: IpAddr) -> Result<Sample, String> {
    let local: IpAddr = match server {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(local, 0))
        .await
        .map_err(|e| format!("socket: {e}"))?;
    socket
        .connect(SocketAddr::new(server, ntp::PORT))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let sent = Timestamp::from_system(SystemTime::now());
    socket
        .send(&ntp::request(sent))
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut reply = [0u8; 128];
    let n = tokio::time::timeout(ANSWER_WITHIN, socket.recv(&mut reply))
        .await
        .map_err(|_| format!("no answer within {} s", ANSWER_WITHIN.as_secs()))?
        .map_err(|e| format!("receive: {e}"))?;
    let received = Timestamp::from_system(SystemTime::now());
    ntp::sample(&reply[..n], sent, received).map_err(|e| e.to_string())
}

/// Set or slew the clock by `sample`'s offset.
fn adjust(server: IpAddr, sample: Sample, set: &mut bool) {
    let offset = sample.offset;
    if *set && offset.abs() <= STEP_OVER {
        if let Err(e) = slew(offset) {
            log::warn!("time: cannot slew the clock by {offset:+.3} s: {e}");
        }
        return;
    }
    match step(offset) {
        Ok(now) => {
            let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
            log::info!(
                "time: clock set to {} from {server} (stratum {}): it was {offset:+.3} s off",
                clock::rfc3339(since),
                sample.stratum
            );
            // From now on /status, syslog and webhooks carry UTC.
            clock::set(true);
            *set = true;
            if let Err(e) = write_rtc(now) {
                log::warn!("time: cannot write the clock to {RTC}: {e}");
            }
        }
        Err(e) => log::warn!("time: cannot set the clock ({offset:+.3} s off): {e}"),
    }
}

fn step(offset: f64) -> nix::Result<SystemTime> {
    let (behind, by) = ntp::split(offset);
    let now = SystemTime::now();
    let now = if behind { now - by } else { now + by };
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    clock_settime(ClockId::CLOCK_REALTIME, TimeSpec::from_duration(since))?;
    Ok(now)
}

fn slew(offset: f64) -> io::Result<()> {
    let micros = (offset * 1e6) as i64;
    let delta = nix::libc::timeval {
        tv_sec: micros.div_euclid(1_000_000),
        tv_usec: micros.rem_euclid(1_000_000),
    };
    // SAFETY: adjtime reads the timeval `delta` points at, alive for the
    // call; the old adjustment is not asked for (null).
    let done = unsafe { nix::libc::adjtime(&delta, std::ptr::null_mut()) };
    match done {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// `struct rtc_time` of linux/rtc.h.
#[repr(C)]
#[derive(Debug, Default, PartialEq, Eq)]
struct RtcTime {
    sec: i32,
    min: i32,
    hour: i32,
    mday: i32,
    /// 0..=11.
    mon: i32,
    /// Years since 1900.
    year: i32,
    wday: i32,
    yday: i32,
    isdst: i32,
}

/// `_IOW('p', 0x0a, struct rtc_time)`.
const RTC_SET_TIME: u64 = (1 << 30) | ((size_of::<RtcTime>() as u64) << 16) | (0x70 << 8) | 0x0a;

fn write_rtc(now: SystemTime) -> io::Result<()> {
    let rtc = OpenOptions::new().write(true).open(RTC)?;
    let time = rtc_time(now);
    // SAFETY: RTC_SET_TIME reads one struct rtc_time (repr(C), the
    // kernel's layout) through the pointer, which points at `time`.
    let done = unsafe { nix::libc::ioctl(rtc.as_raw_fd(), RTC_SET_TIME as _, &time) };
    match done {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

fn rtc_time(now: SystemTime) -> RtcTime {
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let yday = days - days_from_civil(year, 1, 1);
    RtcTime {
        sec: (rest % 60) as i32,
        min: (rest / 60 % 60) as i32,
        hour: (rest / 3600) as i32,
        mday: day as i32,
        mon: month as i32 - 1,
        year: (year - 1900) as i32,
        wday: (days + 4).rem_euclid(7) as i32,
        yday: yday as i32,
        isdst: 0,
    }
}

/// Days since 1970-01-01 of a civil date: [`civil`]'s inverse.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn calendar_both_ways() {
        for days in [-1, 0, 59, 60, 365, 10_957, 20_790, 47_482] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn rtc_fields_as_the_kernel_counts_them() {
        // 2026-12-03T13:30:00Z: a Thursday, day 336 of the year.
        let t = rtc_time(at(1_796_304_600));
        assert_eq!(
            t,
            RtcTime {
                sec: 0,
                min: 30,
                hour: 13,
                mday: 3,
                mon: 11,
                year: 126,
                wday: 4,
                yday: 336,
                isdst: 0,
            }
        );
        assert_eq!(RTC_SET_TIME, 0x4024_700a);
    }
}
