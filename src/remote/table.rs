//! `/status` as a table for a person: the box's facts, then its services
//! and real servers laid out as `ipvsadm -Ln` users read them, with the
//! health the director adds.
//!
//! It reads the JSON as a tree rather than into the server's types, so
//! that a field a newer box adds, or an older one lacks, does not stop
//! the table (a missing value shows as `-`). The fields are those of
//! `src/management/status.schema.json`.

use std::fmt::Write as _;

use serde_json::Value;

/// The table for a `/status` answer.
pub fn render(status: &Value) -> String {
    let mut out = String::new();
    let text = |v: &Value| v.as_str().map(str::to_string);
    let field = |label: &str, value: String, out: &mut String| {
        let _ = writeln!(out, "{label:<11} {value}");
    };
    field(
        "hostname",
        text(&status["hostname"]).unwrap_or_else(|| "-".into()),
        &mut out,
    );
    field(
        "version",
        text(&status["version"]).unwrap_or_else(|| "-".into()),
        &mut out,
    );
    system(status, &mut out);
    let mut uptime = status["uptime_ms"]
        .as_u64()
        .map_or_else(|| "-".into(), duration);
    if let Some(reason) = status["boot_reason"].as_str() {
        let _ = write!(uptime, " (last boot: {reason})");
    }
    field("uptime", uptime, &mut out);
    let config = &status["config"];
    field(
        "config",
        if config.is_object() {
            format!(
                "{}, sha256 {}",
                config["source"].as_str().unwrap_or("-"),
                config["sha256"].as_str().unwrap_or("-")
            )
        } else {
            "none: no valid config was ever read".into()
        },
        &mut out,
    );
    let apply = &status["last_apply"];
    if apply.is_object() {
        let mut line = apply["result"].as_str().unwrap_or("-").to_string();
        if let Some(utc) = apply["at"]["utc"].as_str() {
            let _ = write!(line, " at {utc}");
        }
        if let (Some(now), Some(at)) = (
            status["now"]["boot_ms"].as_u64(),
            apply["at"]["boot_ms"].as_u64(),
        ) {
            let _ = write!(line, ", {} ago", duration(now.saturating_sub(at)));
        }
        field("last apply", line, &mut out);
        for error in apply["errors"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "{:<11} {}", "", error.as_str().unwrap_or("-"));
        }
    } else {
        field("last apply", "none yet".into(), &mut out);
    }
    let vrrp = &status["vrrp"];
    if vrrp.is_object() {
        let mut line = format!(
            "{}, vrid {} on {}, priority {}",
            vrrp["state"].as_str().unwrap_or("-"),
            number(&vrrp["vrid"]),
            vrrp["interface"].as_str().unwrap_or("-"),
            number(&vrrp["priority"]),
        );
        match vrrp["master_address"].as_str() {
            Some(master) => {
                let _ = write!(line, ", master {master}");
            }
            None => line.push_str(", master unknown"),
        }
        field("vrrp", line, &mut out);
    }
    out.push('\n');
    let services = status["services"].as_array().map_or(&[][..], Vec::as_slice);
    if services.is_empty() {
        out.push_str("no services\n");
        return out;
    }
    services_table(&mut out, services);
    out
}

/// `system`, the A/B slots (issue 14), when the box has them: the slot
/// running, what the other holds, and the trial of a new system. A box
/// without updates sends no `system`, and the table says nothing.
/// `{"slot": "A", "other": "0.2.0" | null, "trial": null | {"version",
/// "slot", "result", "reason"}}`.
fn system(status: &Value, out: &mut String) {
    let system = &status["system"];
    if !system.is_object() {
        return;
    }
    let slot = system["slot"].as_str().unwrap_or("-");
    let other_slot = match slot {
        "A" => "B",
        "B" => "A",
        _ => "-",
    };
    let other = system["other"].as_str().unwrap_or("empty");
    let _ = writeln!(
        out,
        "{:<11} slot {slot}, other slot {other_slot}: {other}",
        "system"
    );
    let trial = &system["trial"];
    if trial.is_object() {
        let mut line = format!(
            "{} in slot {}: {}",
            trial["version"].as_str().unwrap_or("-"),
            trial["slot"].as_str().unwrap_or("-"),
            trial["result"].as_str().unwrap_or("-"),
        );
        if let Some(reason) = trial["reason"].as_str().filter(|r| !r.is_empty()) {
            let _ = write!(line, " ({reason})");
        }
        let _ = writeln!(out, "{:<11} {line}", "trial");
    }
}

/// The services and real servers, columns as wide as their widest cell.
fn services_table(out: &mut String, services: &[Value]) {
    const SERVICE_HEAD: [&str; 3] = ["Service", "Prot LocalAddress:Port", "Scheduler"];
    const REAL_HEAD: [&str; 6] = [
        "RemoteAddress:Port",
        "Weight",
        "Health",
        "ActiveConn",
        "InActConn",
        "Last probe",
    ];
    let service_rows: Vec<[String; 3]> = services.iter().map(service_row).collect();
    let real_rows: Vec<Vec<[String; 6]>> = services
        .iter()
        .map(|s| {
            s["real_servers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(real_server_row)
                .collect()
        })
        .collect();
    let mut service_widths = SERVICE_HEAD.map(str::len);
    for row in &service_rows {
        for (w, cell) in service_widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut real_widths = REAL_HEAD.map(str::len);
    for row in real_rows.iter().flatten() {
        for (w, cell) in real_widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    line(out, "", &SERVICE_HEAD.map(String::from), &service_widths);
    line(out, "  -> ", &REAL_HEAD.map(String::from), &real_widths);
    for (service, reals) in service_rows.iter().zip(&real_rows) {
        line(out, "", service, &service_widths);
        for real in reals {
            line(out, "  -> ", real, &real_widths);
        }
    }
}

/// One line of cells, each padded to its column, no trailing blanks.
fn line(out: &mut String, lead: &str, cells: &[String], widths: &[usize]) {
    let mut text = lead.to_string();
    for (cell, width) in cells.iter().zip(widths) {
        let _ = write!(text, "{cell:<width$} ");
    }
    out.push_str(text.trim_end());
    out.push('\n');
}

fn service_row(s: &Value) -> [String; 3] {
    let protocol = s["protocol"].as_str().unwrap_or("-");
    let mut local = if protocol == "fwmark" {
        format!("FWM  {}", number(&s["fwmark"]))
    } else {
        format!(
            "{:<4} {}",
            protocol.to_uppercase(),
            s["address"].as_str().unwrap_or("-")
        )
    };
    if protocol == "fwmark" && s["family"].as_str() == Some("ipv6") {
        local.push_str(" IPv6");
    }
    let mut scheduler = s["scheduler"].as_str().unwrap_or("-").to_string();
    if let Some(sorry) = s["sorry_server"].as_str() {
        let _ = write!(scheduler, "  sorry server {sorry}");
        if s["sorry_server_active"].as_bool() == Some(true) {
            scheduler.push_str(" (active)");
        }
    }
    [
        s["name"].as_str().unwrap_or("-").to_string(),
        local,
        scheduler,
    ]
}

fn real_server_row(r: &Value) -> [String; 6] {
    let weight = match (&r["weight"], &r["configured_weight"]) {
        // Not in the kernel (removed while down).
        (Value::Null, configured) => format!("-/{}", number(configured)),
        (now, configured) => format!("{}/{}", number(now), number(configured)),
    };
    let mut health = r["health"].as_str().unwrap_or("-").to_string();
    if let Some(o) = r["override"].as_str() {
        let _ = write!(health, " ({o})");
    }
    // The reason of a failing probe; a passing one says nothing new.
    let probe = &r["last_probe"];
    let last_probe = match probe["ok"].as_bool() {
        Some(false) => probe["detail"].as_str().unwrap_or("failed").to_string(),
        _ => String::new(),
    };
    [
        r["address"].as_str().unwrap_or("-").to_string(),
        weight,
        health,
        number(&r["active_connections"]),
        number(&r["inactive_connections"]),
        last_probe,
    ]
}

/// An integer as it is, anything else (missing, null) as `-`.
fn number(v: &Value) -> String {
    match v.as_u64() {
        Some(n) => n.to_string(),
        None => "-".into(),
    }
}

/// Milliseconds as a person reads an uptime: `3d 4h 5m 6s`, from the
/// largest unit that is not zero.
fn duration(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m {s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::snapshot::tests::sample;
    use crate::management::status;

    /// The server's own answer for its test snapshot: if `/status`
    /// changes shape, this table test notices.
    fn sample_json() -> Value {
        let mut out = Vec::new();
        status::render(&mut out, &sample(), "0.1.0").unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn the_sample_box() {
        let sha = "ab".repeat(32);
        let expected = format!(
            "\
hostname    lvs-a
version     0.1.0
system      slot B, other slot A: 0.0.9
trial       0.1.0 in slot B: good
uptime      1m 0s (last boot: power_on)
config      boot, sha256 {sha}
last apply  ok, 59s ago
vrrp        MASTER, vrid 51 on eth0, priority 150, master 192.168.1.2

Service  Prot LocalAddress:Port  Scheduler
  -> RemoteAddress:Port Weight Health    ActiveConn InActConn Last probe
postgres TCP  192.168.1.100:5432 rr
  -> 192.168.3.2:5432   1/1    up        3          6
  -> 192.168.3.3:5432   0/1    down      1          2         connection refused \"quoted\" <b>
dns      UDP  [2001:db8::53]:53  sh
  -> [2001:db8::2]:53   2/2    unchecked 0          0
marked   FWM  5                  wlc  sorry server 10.0.0.99:0
  -> 10.0.0.7:0         1/1    up        7          14
"
        );
        let got = render(&sample_json());
        assert_eq!(got, expected, "\n{got}");
    }

    /// A box with nothing yet, and fields a box may not send: the table
    /// still comes out, with `-` for what is missing.
    #[test]
    fn missing_fields() {
        let v: Value = serde_json::from_str(
            r#"{"hostname": "lvs-b", "config": null, "last_apply": null, "vrrp": null,
                "services": [{"name": "web", "protocol": "tcp", "address": "10.0.0.1:80",
                  "real_servers": [{"address": "10.0.1.1:80", "weight": null,
                    "configured_weight": 3, "health": "down", "override": "drain"}]}]}"#,
        )
        .unwrap();
        let got = render(&v);
        assert!(
            got.starts_with("hostname    lvs-b\nversion     -\nuptime      -\n"),
            "{got}"
        );
        assert!(
            got.contains("config      none: no valid config was ever read\n"),
            "{got}"
        );
        assert!(got.contains("last apply  none yet\n"), "{got}");
        assert!(!got.contains("vrrp"), "{got}");
        assert!(got.contains("web     TCP  10.0.0.1:80       -\n"), "{got}");
        assert!(
            got.contains("  -> 10.0.1.1:80        -/3    down (drain) -          -\n"),
            "{got}"
        );
        assert_eq!(
            render(&serde_json::json!({})).lines().last(),
            Some("no services")
        );
    }

    #[test]
    fn failed_apply_lists_its_errors() {
        let mut v = sample_json();
        v["last_apply"]["result"] = "invalid".into();
        v["last_apply"]["errors"] = serde_json::json!(["router.toml:3:1: error: x: bad"]);
        v["last_apply"]["at"]["utc"] = "2026-12-03T07:36:42.123Z".into();
        let got = render(&v);
        assert!(
            got.contains(
                "last apply  invalid at 2026-12-03T07:36:42.123Z, 59s ago\n            \
                 router.toml:3:1: error: x: bad\n"
            ),
            "{got}"
        );
    }

    /// A box with A/B slots: the slot it runs, the other's version, a
    /// trial's result and why; each missing piece as `-` or `empty`.
    #[test]
    fn system_slots_and_trial() {
        let mut v = sample_json();
        v["system"] = serde_json::json!({
            "slot": "A", "other": "0.2.0",
            "trial": {"version": "0.2.0", "slot": "B", "result": "failed",
                      "reason": "not ready within 120s"}});
        let got = render(&v);
        assert!(
            got.starts_with(
                "hostname    lvs-a\nversion     0.1.0\n\
                 system      slot A, other slot B: 0.2.0\n\
                 trial       0.2.0 in slot B: failed (not ready within 120s)\n\
                 uptime      1m 0s"
            ),
            "{got}"
        );
        v["system"] = serde_json::json!({"slot": "B", "other": null, "trial": null});
        let got = render(&v);
        assert!(
            got.contains("version     0.1.0\nsystem      slot B, other slot A: empty\nuptime"),
            "{got}"
        );
        v["system"] = serde_json::json!({"slot": "B", "other": "0.1.0",
            "trial": {"version": "0.3.0", "slot": "B", "result": "on trial", "reason": null}});
        let got = render(&v);
        assert!(
            got.contains(
                "system      slot B, other slot A: 0.1.0\ntrial       0.3.0 in slot B: on trial\n"
            ),
            "{got}"
        );
        v["system"] = serde_json::json!({"trial": {}});
        let got = render(&v);
        assert!(
            got.contains("system      slot -, other slot -: empty\ntrial       - in slot -: -\n"),
            "{got}"
        );
        // Absent (a box before updates) or null: no line at all.
        v["system"] = Value::Null;
        assert!(!render(&v).contains("system"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration(999), "0s");
        assert_eq!(duration(61_000), "1m 1s");
        assert_eq!(duration(3_600_000), "1h 0m 0s");
        assert_eq!(duration(90_061_000), "1d 1h 1m 1s");
    }
}
