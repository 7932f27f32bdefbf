//! `/`: the status page for people. Server-rendered HTML that needs no
//! JavaScript and refreshes itself: the box, VRRP, the last apply, every
//! service with its real servers (health, weight, connections, the last
//! probe) and a small SVG chart of the last hour, and the recent log.
//! Everything that comes from outside (names, messages, log lines) is
//! HTML-escaped.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::history::{History, SAMPLE_EVERY, SAMPLES, Series};
use super::log::Line;
use super::snapshot::{Joined, Snapshot};
use crate::config::ServiceKey;

/// Seconds between the page's own refreshes.
pub const REFRESH_SECS: u32 = 10;
/// Log lines shown at the bottom (`/log` has them all).
pub const LOG_SHOWN: usize = 50;

/// The chart's drawing area, in SVG user units.
const CHART_W: f64 = 360.0;
const CHART_H: f64 = 60.0;

/// `text` with `&`, `<`, `>`, `"` and `'` escaped, for both element text
/// and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1em 2em;color:#222}\
table{border-collapse:collapse;margin:.3em 0 1em}td,th{padding:.15em .6em;text-align:left;border-bottom:1px solid #ddd}\
.up{color:#0a0;font-weight:bold}.down{color:#c00;font-weight:bold}.unchecked{color:#888}\
.MASTER{color:#0a0;font-weight:bold}.BACKUP{color:#06c;font-weight:bold}.FAULT,.INIT{color:#c00;font-weight:bold}\
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;font-size:90%}svg{background:#fafafa;border:1px solid #ddd}\
.service{margin-top:1.5em}.error{color:#c00}";

/// Write the page for `snapshot` to `w`.
pub fn render<W: Write>(
    w: &mut W,
    snapshot: &Snapshot,
    history: &Mutex<History>,
    log: &[Arc<Line>],
    version: &str,
) -> io::Result<()> {
    let host = escape(&snapshot.hostname);
    write!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{host}: lvsinit</title><style>{STYLE}</style></head><body>\n\
         <h1>{host}</h1>\n<p>lvsinit {} &middot; up {} &middot; booted by {} &middot; {}</p>\n",
        escape(version),
        duration(snapshot.boot),
        snapshot.boot_reason.name(),
        match snapshot.unix {
            Some(t) => super::clock::rfc3339(t),
            None => "clock not set".to_string(),
        },
    )?;
    write_vrrp(w, snapshot)?;
    write_apply(w, snapshot)?;
    let joined = snapshot.joined();
    writeln!(w, "<h2>Services ({})</h2>", joined.len())?;
    for j in &joined {
        write_service(w, snapshot, history, j)?;
    }
    let start = log.len().saturating_sub(LOG_SHOWN);
    writeln!(w, "<h2>Recent log</h2>\n<pre id=\"log\">")?;
    for line in &log[start..] {
        w.write_all(escape(&line.console()).as_bytes())?;
    }
    writeln!(
        w,
        "</pre>\n<p><a href=\"/log\">whole log</a> &middot; <a href=\"/status\">status JSON</a> &middot; <a href=\"/metrics\">metrics</a></p>\n</body></html>"
    )?;
    w.flush()
}

fn write_vrrp<W: Write>(w: &mut W, s: &Snapshot) -> io::Result<()> {
    match &s.vrrp {
        None => writeln!(w, "<p>VRRP: not configured</p>"),
        Some(v) => writeln!(
            w,
            "<p id=\"vrrp\">VRRP {} vrid {}: <span class=\"{state}\">{state}</span>, priority {}, master {}</p>",
            escape(&v.interface),
            v.vrid,
            v.priority,
            v.master_address
                .map(|a| a.to_string())
                .unwrap_or_else(|| "unknown".into()),
            state = v.state.name(),
        ),
    }
}

fn write_apply<W: Write>(w: &mut W, s: &Snapshot) -> io::Result<()> {
    match &s.config {
        Some(c) => writeln!(
            w,
            "<p>Config from {}, sha256 <code>{}</code></p>",
            c.source.name(),
            escape(&c.sha256)
        )?,
        None => writeln!(w, "<p class=\"error\">No valid config.</p>")?,
    }
    if let Some(f) = s.config.as_ref().and_then(|c| c.fallback.as_ref()) {
        writeln!(
            w,
            "<p id=\"fallback\" class=\"error\"><b>Running router.toml.prev: {}.</b> Fix router.toml and reload.</p>",
            escape(&f.reason)
        )?;
        writeln!(w, "<ul class=\"error\">")?;
        for e in &f.errors {
            writeln!(w, "<li><code>{}</code></li>", escape(e))?;
        }
        writeln!(w, "</ul>")?;
    }
    let Some(a) = &s.last_apply else {
        return Ok(());
    };
    writeln!(
        w,
        "<p id=\"last-apply\">Last apply at {}: <b class=\"{}\">{}</b>; reloads ok {}, invalid {}, failed {}</p>",
        duration(a.at),
        if a.errors.is_empty() { "up" } else { "down" },
        a.result.name(),
        s.reloads.ok,
        s.reloads.invalid,
        s.reloads.failed,
    )?;
    if !a.errors.is_empty() {
        writeln!(w, "<ul class=\"error\">")?;
        for e in &a.errors {
            writeln!(w, "<li><code>{}</code></li>", escape(e))?;
        }
        writeln!(w, "</ul>")?;
    }
    Ok(())
}

fn service_name(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { protocol, address } => format!("{} {address}", protocol.name()),
        ServiceKey::Fwmark { mark, .. } => format!("fwmark {mark}"),
    }
}

fn write_service<W: Write>(
    w: &mut W,
    s: &Snapshot,
    history: &Mutex<History>,
    j: &Joined<'_>,
) -> io::Result<()> {
    let svc = j.service;
    let name = escape(&svc.name);
    writeln!(
        w,
        "<div class=\"service\" id=\"service-{name}\"><h3>{name} <small>{} &middot; {} &middot; {} active{}</small></h3>",
        escape(&service_name(&svc.key)),
        escape(&svc.scheduler),
        j.active_connections(),
        if svc.sorry_active {
            " &middot; <span class=\"down\">sorry server standing in</span>"
        } else {
            ""
        },
    )?;
    // The lock is held for one chart only, never while writing to a
    // (maybe slow) client.
    let svg = history
        .lock()
        .ok()
        .and_then(|h| h.series(&svc.name).map(|series| chart(s, &h, series)));
    if let Some(svg) = svg {
        w.write_all(svg.as_bytes())?;
    }
    writeln!(
        w,
        "<table><tr><th>real server</th><th>health</th><th>since</th><th>weight</th><th>active</th><th>inactive</th><th>last probe</th></tr>"
    )?;
    for (rs, dest) in &j.real_servers {
        let health = rs.health.state.name();
        let probe = match &rs.health.last_probe {
            Some(p) => format!(
                "{} ({:.1} ms)",
                escape(&p.detail),
                p.latency.as_secs_f64() * 1000.0
            ),
            None => String::new(),
        };
        writeln!(
            w,
            "<tr class=\"real-server\"><td>{}</td><td class=\"{health}\">{health}{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>{probe}</td></tr>",
            rs.address,
            match &rs.override_ {
                Some(o) => format!(" ({})", escape(o)),
                None => String::new(),
            },
            rs.health.since.map(duration).unwrap_or_default(),
            dest.map(|d| d.dest.weight.to_string())
                .unwrap_or_else(|| "out".into()),
            rs.configured_weight,
            dest.map_or(0, |d| d.active_conns),
            dest.map_or(0, |d| d.inact_conns),
        )?;
    }
    writeln!(w, "</table></div>")
}

/// An SVG chart of a service's last hour: connections per second (blue,
/// filled) and active connections (orange), each on its own scale, with
/// a vertical mark where a real server went down (red) or came back
/// (green).
fn chart(s: &Snapshot, history: &History, series: &Series) -> String {
    let span = SAMPLE_EVERY.as_secs_f64() * SAMPLES as f64;
    let end = s.boot.as_secs_f64();
    let x =
        |at: Duration| CHART_W - ((end - at.as_secs_f64()) / span * CHART_W).clamp(0.0, CHART_W);
    let timed: Vec<_> = history.timed(series).collect();
    let max_cps = timed
        .iter()
        .map(|(_, p)| f64::from(p.cps))
        .fold(0.0, f64::max);
    let max_active = timed.iter().map(|(_, p)| p.active).max().unwrap_or(0);
    let y = |v: f64, max: f64| {
        if max > 0.0 {
            CHART_H - v / max * (CHART_H - 2.0)
        } else {
            CHART_H
        }
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">\
         <title>last hour: up to {max_cps:.1} connections/s (blue), up to {max_active} active (orange)</title>",
        w = CHART_W,
        h = CHART_H + 14.0,
    );
    if !timed.is_empty() {
        let mut cps = format!("{:.1},{CHART_H} ", x(timed[0].0));
        let mut active = String::new();
        for (at, p) in &timed {
            let _ = write!(cps, "{:.1},{:.1} ", x(*at), y(f64::from(p.cps), max_cps));
            let _ = write!(
                active,
                "{:.1},{:.1} ",
                x(*at),
                y(f64::from(p.active), f64::from(max_active))
            );
        }
        let _ = write!(cps, "{:.1},{CHART_H}", x(timed[timed.len() - 1].0));
        let _ = write!(
            svg,
            "<polygon points=\"{cps}\" fill=\"#9cf\" stroke=\"#06c\" stroke-width=\"1\"/>\
             <polyline points=\"{active}\" fill=\"none\" stroke=\"#f80\" stroke-width=\"1.5\"/>"
        );
    }
    for m in &series.marks {
        if end - m.at.as_secs_f64() > span {
            continue;
        }
        let (color, what) = if m.up {
            ("#0a0", "up")
        } else {
            ("#c00", "down")
        };
        let _ = write!(
            svg,
            "<line class=\"mark-{what}\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"0\" y2=\"{CHART_H}\" stroke=\"{color}\" stroke-width=\"1.5\">\
             <title>{} {what} at {}</title></line>",
            m.real_server,
            duration(m.at),
            x = x(m.at),
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"2\" y=\"{ty}\" font-size=\"10\" fill=\"#06c\">{max_cps:.1}/s max</text>\
         <text x=\"{CHART_W}\" y=\"{ty}\" font-size=\"10\" fill=\"#f80\" text-anchor=\"end\">{max_active} active max &#183; last hour</text></svg>",
        ty = CHART_H + 11.0,
    );
    svg
}

/// `1h 02m 03s`, `4m 05s`, `6.789s`.
fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{:.3}s", d.as_secs_f64()),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m {:02}s", secs / 3600, secs / 60 % 60, secs % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::log::Severity;
    use crate::management::snapshot::HealthState;
    use crate::management::snapshot::tests::sample;

    fn page() -> String {
        let mut h = History::new();
        let mut s = sample();
        for i in 0..30u64 {
            s.boot = Duration::from_secs(10 * i);
            s.table.services[0].stats.conns = i * i;
            let down = i >= 20;
            let rs = &mut s.services[0].real_servers[1].health;
            rs.state = if down {
                HealthState::Down
            } else {
                HealthState::Up
            };
            rs.since = Some(Duration::from_secs(if down { 195 } else { 0 }));
            h.record(&s);
        }
        let log = vec![Arc::new(Line {
            seq: 0,
            at: Duration::from_millis(1234),
            severity: Severity::Warning,
            text: "health: <script>alert(1)</script> down".into(),
        })];
        let mut out = Vec::new();
        render(&mut out, &s, &Mutex::new(h), &log, "0.1.0").unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn shows_services_health_vrrp_and_log() {
        let p = page();
        assert!(p.starts_with("<!DOCTYPE html>"));
        assert!(p.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
        assert!(p.contains("<h3>postgres <small>tcp 192.168.1.100:5432"));
        assert!(p.contains("<td>192.168.3.3:5432</td><td class=\"down\">down</td>"));
        assert!(p.contains("<td class=\"unchecked\">unchecked</td>"));
        assert!(p.contains("<span class=\"MASTER\">MASTER</span>"));
        assert!(p.contains("fwmark 5"));
        assert!(!p.contains("<script"), "nothing unescaped");
        assert!(p.contains("[    1.234] warning: health: &lt;script&gt;"));
        assert!(p.contains("connection refused &quot;quoted&quot; &lt;b&gt;"));
        assert!(p.ends_with("</body></html>\n"));
    }

    #[test]
    fn a_fallback_is_shown_with_router_toml_s_errors() {
        let mut s = sample();
        let render_of = |s: &Snapshot| {
            let mut out = Vec::new();
            render(&mut out, s, &Mutex::new(History::new()), &[], "0.1.0").unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(!render_of(&s).contains("id=\"fallback\""));
        if let Some(c) = &mut s.config {
            c.fallback = Some(crate::management::snapshot::Fallback {
                reason: "router.toml is invalid".into(),
                errors: vec!["LVSBOOT:/router.toml:1:1: error: <x>".into()],
            });
        }
        let p = render_of(&s);
        assert!(
            p.contains("<b>Running router.toml.prev: router.toml is invalid.</b>"),
            "{p}"
        );
        assert!(p.contains("<li><code>LVSBOOT:/router.toml:1:1: error: &lt;x&gt;</code></li>"));
    }

    #[test]
    fn charts_with_health_marks() {
        let p = page();
        assert_eq!(p.matches("<svg class=\"chart\"").count(), 3);
        assert!(p.contains("<polygon points=\""));
        assert!(p.contains("<line class=\"mark-down\""));
        assert!(p.contains("192.168.3.3:5432 down at 3m 15s"));
        // Every SVG element is closed.
        assert_eq!(p.matches("<svg").count(), p.matches("</svg>").count());
    }

    #[test]
    fn escapes_everything_that_matters() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_millis(6789)), "6.789s");
        assert_eq!(duration(Duration::from_secs(245)), "4m 05s");
        assert_eq!(duration(Duration::from_secs(3723)), "1h 02m 03s");
    }
}
