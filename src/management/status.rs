//! `/status`: the box's state as JSON, stable, described by
//! `status.schema.json` beside this file (a test validates answers
//! against it).
//!
//! Every moment is a [`Time`]: `{"boot_ms": N, "utc": "...Z" | null}`,
//! milliseconds since boot plus UTC once the clock is set.

use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use super::clock;
use super::snapshot::{Joined, Snapshot};
use crate::config::{Protocol, ServiceKey};

/// The schema of the answer, JSON Schema draft 2020-12.
pub const SCHEMA: &str = include_str!("status.schema.json");

#[derive(Serialize)]
struct Status<'a> {
    hostname: &'a str,
    version: &'a str,
    now: Time,
    uptime_ms: u64,
    boot_reason: &'static str,
    config: Option<Config<'a>>,
    last_apply: Option<LastApply<'a>>,
    services: Vec<Service<'a>>,
    vrrp: Option<Vrrp<'a>>,
    ipvs_drift: Option<Drift<'a>>,
    management: Management<'a>,
    system: System<'a>,
}

/// The system slots and the last update's trial.
#[derive(Serialize)]
struct System<'a> {
    slot: Option<&'a str>,
    other: Option<&'a str>,
    trial: Option<Trial<'a>>,
    updates_refused: Option<&'a str>,
}

#[derive(Serialize)]
struct Trial<'a> {
    slot: &'a str,
    version: Option<&'a str>,
    result: &'static str,
    reason: Option<&'a str>,
}

/// The last repair of the IPVS table.
#[derive(Serialize)]
struct Drift<'a> {
    at: Time,
    changes: &'a [String],
    repairs: u64,
}

/// The control half: how to trust the API, whether it takes changes, and
/// a pushed config that waits for its confirmation.
#[derive(Serialize)]
struct Management<'a> {
    tls_fingerprint: Option<&'a str>,
    writable: bool,
    confirm_by: Option<Time>,
}

/// A moment: since boot, and in UTC once the clock is set.
#[derive(Serialize)]
struct Time {
    boot_ms: u64,
    utc: Option<String>,
}

#[derive(Serialize)]
struct Config<'a> {
    source: &'static str,
    sha256: &'a str,
    /// Null unless the box runs router.toml.prev.
    fallback: Option<Fallback<'a>>,
}

/// Why the box runs router.toml.prev: router.toml's diagnostics.
#[derive(Serialize)]
struct Fallback<'a> {
    reason: &'a str,
    errors: &'a [String],
}

#[derive(Serialize)]
struct LastApply<'a> {
    result: &'static str,
    errors: &'a [String],
    at: Time,
}

#[derive(Serialize)]
struct Service<'a> {
    name: &'a str,
    protocol: &'static str,
    /// "IP:PORT", null for a fwmark service.
    address: Option<String>,
    /// The mark, null for an address service.
    fwmark: Option<u32>,
    family: &'static str,
    scheduler: &'a str,
    sorry_server: Option<String>,
    sorry_server_active: bool,
    real_servers: Vec<RealServer<'a>>,
}

#[derive(Serialize)]
struct RealServer<'a> {
    address: String,
    /// In the kernel now; null when the real server is not in it
    /// (removed while down).
    weight: Option<u32>,
    configured_weight: u32,
    health: &'static str,
    last_probe: Option<Probe<'a>>,
    since: Option<Time>,
    #[serde(rename = "override")]
    override_: Option<&'a str>,
    active_connections: u32,
    inactive_connections: u32,
}

#[derive(Serialize)]
struct Probe<'a> {
    ok: bool,
    detail: &'a str,
    latency_ms: f64,
    at: Time,
}

#[derive(Serialize)]
struct Vrrp<'a> {
    state: &'static str,
    priority: u8,
    master_address: Option<String>,
    interface: &'a str,
    vrid: u8,
}

/// Write `/status` for `snapshot` to `w`.
pub fn render<W: Write>(w: &mut W, snapshot: &Snapshot, version: &str) -> io::Result<()> {
    let time = |at: Duration| Time {
        boot_ms: at.as_millis() as u64,
        utc: snapshot.unix_of(at).map(clock::rfc3339),
    };
    let status = Status {
        hostname: &snapshot.hostname,
        version,
        now: time(snapshot.boot),
        uptime_ms: snapshot.boot_ms(),
        boot_reason: snapshot.boot_reason.name(),
        config: snapshot.config.as_ref().map(|c| Config {
            source: c.source.name(),
            sha256: &c.sha256,
            fallback: c.fallback.as_ref().map(|f| Fallback {
                reason: &f.reason,
                errors: &f.errors,
            }),
        }),
        last_apply: snapshot.last_apply.as_ref().map(|a| LastApply {
            result: a.result.name(),
            errors: &a.errors,
            at: time(a.at),
        }),
        services: snapshot
            .joined()
            .iter()
            .map(|j| service(j, &time))
            .collect(),
        vrrp: snapshot.vrrp.as_ref().map(|v| Vrrp {
            state: v.state.name(),
            priority: v.priority,
            master_address: v.master_address.map(|a| a.to_string()),
            interface: &v.interface,
            vrid: v.vrid,
        }),
        ipvs_drift: snapshot.drift.as_ref().map(|d| Drift {
            at: time(d.at),
            changes: &d.changes,
            repairs: d.repairs,
        }),
        management: Management {
            tls_fingerprint: snapshot.control.tls_fingerprint.as_deref(),
            writable: snapshot.control.writable,
            confirm_by: snapshot.control.confirm_by.map(time),
        },
        system: System {
            slot: snapshot.system.slot.as_deref(),
            other: snapshot.system.other.as_deref(),
            trial: snapshot.system.trial.as_ref().map(|t| Trial {
                slot: &t.slot,
                version: t.version.as_deref(),
                result: t.result,
                reason: t.reason.as_deref(),
            }),
            updates_refused: snapshot.system.updates_refused.as_deref(),
        },
    };
    serde_json::to_writer(&mut *w, &status).map_err(io::Error::other)?;
    w.write_all(b"\n")?;
    w.flush()
}

fn service<'a>(j: &Joined<'a>, time: &dyn Fn(Duration) -> Time) -> Service<'a> {
    let s = j.service;
    let (protocol, address, fwmark) = match &s.key {
        ServiceKey::Addr { protocol, address } => (
            match protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
            },
            Some(address.to_string()),
            None,
        ),
        ServiceKey::Fwmark { mark, .. } => ("fwmark", None, Some(*mark)),
    };
    Service {
        name: &s.name,
        protocol,
        address,
        fwmark,
        family: match s.key.family() {
            crate::config::Family::Inet => "ipv4",
            crate::config::Family::Inet6 => "ipv6",
        },
        scheduler: &s.scheduler,
        sorry_server: s.sorry_server.map(|a| a.to_string()),
        sorry_server_active: s.sorry_active,
        real_servers: j
            .real_servers
            .iter()
            .map(|(rs, dest)| RealServer {
                address: rs.address.to_string(),
                weight: dest.map(|d| d.dest.weight),
                configured_weight: rs.configured_weight,
                health: rs.health.state.name(),
                last_probe: rs.health.last_probe.as_ref().map(|p| Probe {
                    ok: p.ok,
                    detail: &p.detail,
                    latency_ms: p.latency.as_secs_f64() * 1000.0,
                    at: time(p.at),
                }),
                since: rs.health.since.map(time),
                override_: rs.override_.as_deref(),
                active_connections: dest.map_or(0, |d| d.active_conns),
                inactive_connections: dest.map_or(0, |d| d.inact_conns),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::snapshot::tests::sample;
    use crate::management::snapshot::{ApplyResult, LastApply as Apply};
    use std::process::Command;

    fn json(snapshot: &Snapshot) -> serde_json::Value {
        let mut out = Vec::new();
        render(&mut out, snapshot, "0.1.0").unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn fields() {
        let v = json(&sample());
        assert_eq!(v["hostname"], "lvs-a");
        assert_eq!(v["uptime_ms"], 60_000);
        assert_eq!(v["boot_reason"], "power_on");
        assert_eq!(v["config"]["source"], "boot");
        assert_eq!(v["config"]["fallback"], serde_json::Value::Null);
        assert_eq!(v["last_apply"]["result"], "ok");
        assert_eq!(v["now"]["utc"], serde_json::Value::Null);
        let pg = &v["services"][0];
        assert_eq!(pg["name"], "postgres");
        assert_eq!(pg["address"], "192.168.1.100:5432");
        let down = &pg["real_servers"][1];
        assert_eq!(down["health"], "down");
        assert_eq!(down["weight"], 0);
        assert_eq!(down["configured_weight"], 1);
        assert_eq!(down["since"]["boot_ms"], 40_000);
        assert_eq!(down["override"], serde_json::Value::Null);
        assert_eq!(pg["real_servers"][0]["last_probe"]["latency_ms"], 1.5);
        assert_eq!(v["services"][2]["fwmark"], 5);
        assert_eq!(v["services"][2]["address"], serde_json::Value::Null);
        assert_eq!(v["vrrp"]["state"], "MASTER");
    }

    /// A box running router.toml.prev: the sample with a fallback.
    fn fallen_back() -> Snapshot {
        let mut s = sample();
        if let Some(c) = &mut s.config {
            c.fallback = Some(crate::management::snapshot::Fallback {
                reason: "router.toml is invalid".into(),
                errors: vec![
                    "LVSBOOT:/router.toml:1:12: error: hostname: expected a string".into(),
                ],
            });
        }
        s
    }

    #[test]
    fn a_fallback_says_why_with_the_diagnostics() {
        let v = json(&fallen_back());
        let fallback = &v["config"]["fallback"];
        assert_eq!(fallback["reason"], "router.toml is invalid");
        assert_eq!(
            fallback["errors"][0],
            "LVSBOOT:/router.toml:1:12: error: hostname: expected a string"
        );
    }

    #[test]
    fn utc_once_the_clock_is_set() {
        let mut s = sample();
        s.unix = Some(Duration::from_millis(1_796_283_402_123));
        let v = json(&s);
        assert_eq!(v["now"]["utc"], "2026-12-03T07:36:42.123Z");
        assert_eq!(
            v["services"][0]["real_servers"][1]["since"]["utc"],
            "2026-12-03T07:36:22.123Z"
        );
    }

    /// Real answers, validated against the schema by Debian's
    /// python3-jsonschema (missing is a failure, not a skip): a full box,
    /// one with an invalid config and no VRRP, and one with nothing yet.
    #[test]
    fn answers_match_the_schema() {
        let mut invalid = sample();
        invalid.vrrp = None;
        invalid.config = None;
        invalid.services.clear();
        invalid.last_apply = Some(Apply {
            result: ApplyResult::Invalid,
            errors: vec!["router.toml:3:1: error: x: bad".into()],
            at: Duration::from_millis(900),
        });
        let mut clock_set = sample();
        clock_set.unix = Some(Duration::from_secs(1_796_283_402));
        let answers: Vec<serde_json::Value> = [
            sample(),
            invalid,
            clock_set,
            fallen_back(),
            Snapshot::default(),
        ]
        .iter()
        .map(json)
        .collect();
        let dir = std::env::temp_dir().join(format!("lvsinit-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let answers_file = dir.join("answers.json");
        std::fs::write(&answers_file, serde_json::to_vec(&answers).unwrap()).unwrap();
        let schema_file = dir.join("schema.json");
        std::fs::write(&schema_file, SCHEMA).unwrap();
        let script = "import json, sys, jsonschema\n\
                      schema = json.load(open(sys.argv[1]))\n\
                      jsonschema.Draft202012Validator.check_schema(schema)\n\
                      v = jsonschema.Draft202012Validator(schema)\n\
                      for a in json.load(open(sys.argv[2])):\n\
                      \x20   v.validate(a)\n\
                      bad = {'hostname': 1}\n\
                      assert not v.is_valid(bad)\n\
                      print('ok')\n";
        // Debian's python, which python3-jsonschema is for (not one a
        // PATH may put first).
        let done = Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(script)
            .arg(&schema_file)
            .arg(&answers_file)
            .output()
            .expect("python3 is required (with python3-jsonschema)");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            done.status.success(),
            "schema check failed (python3-jsonschema installed?): {}",
            String::from_utf8_lossy(&done.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&done.stdout).trim(), "ok");
    }
}
