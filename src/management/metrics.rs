//! `/metrics`: the Prometheus text format (version 0.0.4), written to a
//! sink as it goes, never built whole (10,000 real servers make about
//! 10 MB).
//!
//! Three kinds of names:
//! - node_exporter's IPVS collector, exactly: `node_ipvs_*` totals with no
//!   labels, and per real server `node_ipvs_backend_*` with the labels
//!   `local_address`, `local_mark`, `local_port`, `proto`,
//!   `remote_address`, `remote_port` (written in that order, as
//!   client_golang sorts them). Values as node_exporter takes them from
//!   `/proc/net/ip_vs`: `local_mark` is the kernel's `%08X` for fwmark
//!   services (whose `local_address` is "" and `local_port` "0"), else "";
//!   `proto` is TCP, UDP, SCTP or FWM; addresses without brackets. It
//!   lists every service in the kernel, configured or not.
//! - `lvsinit_*`: per service and real server what `ipvsadm --stats` and
//!   `--rate` show, the health checks, VRRP, the config, the build, and
//!   the management subsystem's own limits.
//! - the standard `process_*` of PID 1.

use std::fmt::Display;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::ops::Range;

use super::limits::Counters;
use super::process::Process;
use super::snapshot::{HealthState, Joined, RealServer, Snapshot, Took};
use crate::config::{Protocol, ServiceKey};
use crate::ipvs::{Stats, Table};

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// Writes families and samples; a family's samples must follow its head.
struct Out<'w, W: Write> {
    w: &'w mut W,
}

impl<W: Write> Out<'_, W> {
    fn head(&mut self, name: &str, kind: Kind, help: &str) -> io::Result<()> {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        writeln!(self.w, "# HELP {name} {help}\n# TYPE {name} {kind}")
    }

    /// A sample with plain labels.
    fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl Display,
    ) -> io::Result<()> {
        self.w.write_all(name.as_bytes())?;
        if !labels.is_empty() {
            self.w.write_all(b"{")?;
            write_labels(self.w, labels, false)?;
            self.w.write_all(b"}")?;
        }
        writeln!(self.w, " {value}")
    }

    /// A counter family with one label, a sample for each of its values.
    fn by_label(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        values: &[(&str, u64)],
    ) -> io::Result<()> {
        self.head(name, Kind::Counter, help)?;
        for (value, n) in values {
            self.sample(name, &[(label, value)], n)?;
        }
        Ok(())
    }

    /// A family with one unlabelled sample.
    fn single(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        value: impl Display,
    ) -> io::Result<()> {
        self.head(name, kind, help)?;
        self.sample(name, &[], value)
    }
}

/// `a="x",b="y"`, values escaped; `more` puts a comma first.
fn write_labels<W: Write>(w: &mut W, labels: &[(&str, &str)], more: bool) -> io::Result<()> {
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 || more {
            w.write_all(b",")?;
        }
        write!(w, "{name}=\"")?;
        escape_into(w, value)?;
        w.write_all(b"\"")?;
    }
    Ok(())
}

/// A label value as the text format wants it: `\`, `"` and newline
/// escaped.
fn escape_into<W: Write>(w: &mut W, value: &str) -> io::Result<()> {
    let mut start = 0;
    for (i, c) in value.char_indices() {
        let escaped: &[u8] = match c {
            '\\' => b"\\\\",
            '"' => b"\\\"",
            '\n' => b"\\n",
            _ => continue,
        };
        w.write_all(&value.as_bytes()[start..i])?;
        w.write_all(escaped)?;
        start = i + 1;
    }
    w.write_all(&value.as_bytes()[start..])
}

/// Label text made once per scrape and shared by every family that names
/// a real server (18 of them: with 1,000 × 10 that is 180,000 lines, so a
/// line must cost copies, not formatting): per service node_exporter's
/// four local labels and the `service` label, per real server its two
/// remote labels, all in one buffer.
#[derive(Default)]
struct Labels {
    text: Vec<u8>,
    services: Vec<ServiceLabels>,
    /// Each real server's `remote_address="…",remote_port="…"`, the
    /// services' in their order.
    remotes: Vec<Range<usize>>,
}

/// One service's spans in [`Labels::text`].
struct ServiceLabels {
    /// `local_address="…",local_mark="…",local_port="…",proto="…",`, in
    /// client_golang's (sorted) order, ready for the remote labels.
    local: Range<usize>,
    /// `,service="…"` (escaped), or empty.
    service: Range<usize>,
    /// Its real servers' indexes in [`Labels::remotes`].
    remotes: Range<usize>,
}

impl Labels {
    /// The labels of every real server of the kernel's table.
    fn of_table(table: &Table) -> Labels {
        let mut labels = Labels::default();
        for svc in &table.services {
            labels.service(
                &svc.service.key,
                None,
                svc.dests.iter().map(|d| d.dest.address),
            );
        }
        labels
    }

    /// The labels of every configured real server, with its service's
    /// name.
    fn of_joined(joined: &[Joined<'_>]) -> Labels {
        let mut labels = Labels::default();
        for j in joined {
            let remotes = j.real_servers.iter().map(|(rs, _)| rs.address);
            labels.service(&j.service.key, Some(&j.service.name), remotes);
        }
        labels
    }

    /// Add a service and its real servers. Values as node_exporter takes
    /// them from `/proc/net/ip_vs`: `local_mark` the kernel's `%08X` for
    /// fwmark services (`local_address` "" and `local_port` "0"), else "";
    /// addresses without brackets.
    fn service(
        &mut self,
        key: &ServiceKey,
        name: Option<&str>,
        remotes: impl Iterator<Item = SocketAddr>,
    ) {
        // Writing to a Vec cannot fail.
        let t = &mut self.text;
        let start = t.len();
        let _ = match key {
            ServiceKey::Addr { protocol, address } => write!(
                t,
                "local_address=\"{}\",local_mark=\"\",local_port=\"{}\",proto=\"{}\",",
                address.ip(),
                address.port(),
                match protocol {
                    Protocol::Tcp => "TCP",
                    Protocol::Udp => "UDP",
                    Protocol::Sctp => "SCTP",
                }
            ),
            ServiceKey::Fwmark { mark, .. } => write!(
                t,
                "local_address=\"\",local_mark=\"{mark:08X}\",local_port=\"0\",proto=\"FWM\","
            ),
        };
        let local = start..t.len();
        let start = t.len();
        if let Some(name) = name {
            t.extend_from_slice(b",service=\"");
            let _ = escape_into(t, name);
            t.push(b'"');
        }
        let service = start..t.len();
        let first = self.remotes.len();
        for remote in remotes {
            let start = t.len();
            let _ = write!(
                t,
                "remote_address=\"{}\",remote_port=\"{}\"",
                remote.ip(),
                remote.port()
            );
            self.remotes.push(start..t.len());
        }
        self.services.push(ServiceLabels {
            local,
            service,
            remotes: first..self.remotes.len(),
        });
    }

    /// Write `name{labels of real server `r` of service `s`` + `extra`
    /// (the `{` is in `open`); the caller ends the sample.
    fn write<W: Write>(
        &self,
        w: &mut W,
        open: &[u8],
        s: usize,
        r: usize,
        extra: &[u8],
    ) -> io::Result<()> {
        let svc = &self.services[s];
        let remote = self.remotes[svc.remotes.start + r].clone();
        w.write_all(open)?;
        w.write_all(&self.text[svc.local.clone()])?;
        w.write_all(&self.text[remote])?;
        w.write_all(&self.text[svc.service.clone()])?;
        w.write_all(extra)
    }
}

/// `} N\n`: a sample's end with an integer value, formatted by hand (the
/// formatting machinery costs more than the rest of the line).
fn end_u64<W: Write>(w: &mut W, mut n: u64) -> io::Result<()> {
    // 20 digits at most, and `} ` and the newline.
    let mut buf = [0u8; 23];
    let mut i = buf.len() - 1;
    buf[i] = b'\n';
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    i -= 2;
    buf[i] = b'}';
    buf[i + 1] = b' ';
    w.write_all(&buf[i..])
}

/// `} V\n` with a float value, as `Display` writes it.
fn end_f64<W: Write>(w: &mut W, v: f64) -> io::Result<()> {
    writeln!(w, "}} {v}")
}

/// `name{`, the start of every sample of a labelled family.
fn open(name: &str) -> Vec<u8> {
    let mut open = Vec::with_capacity(name.len() + 1);
    open.extend_from_slice(name.as_bytes());
    open.push(b'{');
    open
}

/// A kernel real server's value for node_exporter's backend families.
type DestValue = fn(&crate::ipvs::DestEntry) -> u64;

/// Write the whole exposition for `snapshot` to `w`.
pub fn render<W: Write>(
    w: &mut W,
    snapshot: &Snapshot,
    counters: &Counters,
    process: &Process,
    version: &str,
) -> io::Result<()> {
    let mut out = Out { w };
    node_ipvs(&mut out, snapshot)?;
    let joined = snapshot.joined();
    services(&mut out, &joined)?;
    real_servers(&mut out, &joined)?;
    vrrp(&mut out, snapshot)?;
    config(&mut out, snapshot, version)?;
    management(&mut out, counters, &snapshot.took)?;
    process_metrics(&mut out, process)?;
    out.w.flush()
}

fn node_ipvs<W: Write>(out: &mut Out<'_, W>, s: &Snapshot) -> io::Result<()> {
    let t = &s.totals;
    out.single(
        "node_ipvs_connections_total",
        Kind::Counter,
        "The total number of connections made.",
        t.conns,
    )?;
    out.single(
        "node_ipvs_incoming_packets_total",
        Kind::Counter,
        "The total number of incoming packets.",
        t.inpkts,
    )?;
    out.single(
        "node_ipvs_outgoing_packets_total",
        Kind::Counter,
        "The total number of outgoing packets.",
        t.outpkts,
    )?;
    out.single(
        "node_ipvs_incoming_bytes_total",
        Kind::Counter,
        "The total amount of incoming data.",
        t.inbytes,
    )?;
    out.single(
        "node_ipvs_outgoing_bytes_total",
        Kind::Counter,
        "The total amount of outgoing data.",
        t.outbytes,
    )?;
    let families: [(&str, &str, DestValue); 3] = [
        (
            "node_ipvs_backend_connections_active",
            "The current active connections by local and remote address.",
            |d| u64::from(d.active_conns),
        ),
        (
            "node_ipvs_backend_connections_inactive",
            "The current inactive connections by local and remote address.",
            |d| u64::from(d.inact_conns),
        ),
        (
            "node_ipvs_backend_weight",
            "The current backend weight by local and remote address.",
            |d| u64::from(d.dest.weight),
        ),
    ];
    let labels = Labels::of_table(&s.table);
    for (name, help, value) in families {
        out.head(name, Kind::Gauge, help)?;
        let open = open(name);
        for (i, svc) in s.table.services.iter().enumerate() {
            for (r, d) in svc.dests.iter().enumerate() {
                labels.write(out.w, &open, i, r, b"")?;
                end_u64(out.w, value(d))?;
            }
        }
    }
    Ok(())
}

/// The counters of `ipvsadm --stats` and the rates of `--rate`, as
/// families `<prefix>_connections_total`, `..._packets_total{direction}`,
/// `..._bytes_total{direction}`, `..._connections_per_second`,
/// `..._packets_per_second{direction}`, `..._bytes_per_second{direction}`.
/// `each(w, open, extra, get)` writes every entry's sample of one family:
/// `open` is `name{`, `extra` the labels after the entry's own, `get` reads
/// the value.
fn stats_families<W: Write>(
    out: &mut Out<'_, W>,
    prefix: &str,
    what: &str,
    mut each: impl FnMut(&mut W, &[u8], &[u8], Get) -> io::Result<()>,
) -> io::Result<()> {
    let plain: [(&str, Kind, &str, Get); 2] = [
        (
            "connections_total",
            Kind::Counter,
            "Connections scheduled",
            |s| s.conns,
        ),
        (
            "connections_per_second",
            Kind::Gauge,
            "Connection rate (the kernel's estimate)",
            |s| s.cps,
        ),
    ];
    for (suffix, kind, help, get) in plain {
        let name = format!("{prefix}_{suffix}");
        out.head(
            &name,
            kind,
            &format!("{help} to {what} (ipvsadm --stats/--rate)."),
        )?;
        each(out.w, &open(&name), b"", get)?;
    }
    let directed: [(&str, Kind, &str, Get, Get); 4] = [
        (
            "packets_total",
            Kind::Counter,
            "Packets",
            |s| s.inpkts,
            |s| s.outpkts,
        ),
        (
            "bytes_total",
            Kind::Counter,
            "Bytes",
            |s| s.inbytes,
            |s| s.outbytes,
        ),
        (
            "packets_per_second",
            Kind::Gauge,
            "Packet rate",
            |s| s.inpps,
            |s| s.outpps,
        ),
        (
            "bytes_per_second",
            Kind::Gauge,
            "Byte rate",
            |s| s.inbps,
            |s| s.outbps,
        ),
    ];
    for (suffix, kind, help, inbound, outbound) in directed {
        let name = format!("{prefix}_{suffix}");
        out.head(
            &name,
            kind,
            &format!(
                "{help} of {what} by direction, in (from clients) or out (ipvsadm --stats/--rate)."
            ),
        )?;
        let open = open(&name);
        each(out.w, &open, b",direction=\"in\"", inbound)?;
        each(out.w, &open, b",direction=\"out\"", outbound)?;
    }
    Ok(())
}

/// Reads one counter or rate.
type Get = fn(&Stats) -> u64;

fn services<W: Write>(out: &mut Out<'_, W>, joined: &[Joined<'_>]) -> io::Result<()> {
    // `service="…"` per service, escaped once.
    let names: Vec<Vec<u8>> = joined
        .iter()
        .map(|j| {
            let mut label = b"service=\"".to_vec();
            let _ = escape_into(&mut label, &j.service.name);
            label.push(b'"');
            label
        })
        .collect();
    stats_families(
        out,
        "lvsinit_service",
        "the virtual service",
        |w, open, extra, get| {
            for (j, name) in joined.iter().zip(&names) {
                if let Some(k) = j.kernel {
                    w.write_all(open)?;
                    w.write_all(name)?;
                    w.write_all(extra)?;
                    end_u64(w, get(&k.stats))?;
                }
            }
            Ok(())
        },
    )?;
    out.head(
        "lvsinit_sorry_server_active",
        Kind::Gauge,
        "1 while the service's sorry server stands in for its real servers, else 0.",
    )?;
    for j in joined {
        out.sample(
            "lvsinit_sorry_server_active",
            &[("service", &j.service.name)],
            u8::from(j.service.sorry_active),
        )?;
    }
    Ok(())
}

/// A configured real server's value for the health families: an integer,
/// a float, or none (no sample).
enum Value {
    Int(u64),
    Float(f64),
    None,
}

/// What a real server's health sample reads.
type Pick = fn(&RealServer) -> Value;

fn real_servers<W: Write>(out: &mut Out<'_, W>, joined: &[Joined<'_>]) -> io::Result<()> {
    let labels = Labels::of_joined(joined);
    stats_families(
        out,
        "lvsinit_real_server",
        "the real server",
        |w, open, extra, get| {
            for (s, j) in joined.iter().enumerate() {
                for (r, (_, dest)) in j.real_servers.iter().enumerate() {
                    if let Some(d) = dest {
                        labels.write(w, open, s, r, extra)?;
                        end_u64(w, get(&d.stats))?;
                    }
                }
            }
            Ok(())
        },
    )?;
    let families: [(&str, Kind, &str, Pick); 5] = [
        (
            "lvsinit_real_server_up",
            Kind::Gauge,
            "1 when the health check finds the real server up (or none checks it), 0 when down.",
            |rs| Value::Int(u64::from(rs.health.state != HealthState::Down)),
        ),
        (
            "lvsinit_real_server_probe_duration_seconds",
            Kind::Gauge,
            "How long the last health probe took.",
            |rs| match &rs.health.last_probe {
                Some(p) => Value::Float(p.latency.as_secs_f64()),
                None => Value::None,
            },
        ),
        (
            "lvsinit_real_server_transitions_total",
            Kind::Counter,
            "Times the health check took the real server down or brought it back.",
            |rs| Value::Int(rs.health.transitions),
        ),
        (
            "lvsinit_real_server_configured_weight",
            Kind::Gauge,
            "The weight router.toml gives the real server (the kernel's is node_ipvs_backend_weight).",
            |rs| Value::Int(u64::from(rs.configured_weight)),
        ),
        (
            "lvsinit_real_server_drained",
            Kind::Gauge,
            "1 while an operator has the real server drained (weight 0) through the API, else 0.",
            |rs| Value::Int(u64::from(rs.override_.as_deref() == Some("drain"))),
        ),
    ];
    for (name, kind, help, pick) in families {
        out.head(name, kind, help)?;
        let open = open(name);
        for (s, j) in joined.iter().enumerate() {
            for (r, (rs, _)) in j.real_servers.iter().enumerate() {
                match pick(rs) {
                    Value::Int(n) => {
                        labels.write(out.w, &open, s, r, b"")?;
                        end_u64(out.w, n)?;
                    }
                    Value::Float(v) => {
                        labels.write(out.w, &open, s, r, b"")?;
                        end_f64(out.w, v)?;
                    }
                    Value::None => {}
                }
            }
        }
    }
    Ok(())
}

fn vrrp<W: Write>(out: &mut Out<'_, W>, s: &Snapshot) -> io::Result<()> {
    let v = s.vrrp.as_ref();
    let vrid = v.map(|v| v.vrid.to_string()).unwrap_or_default();
    let labels: Vec<(&str, &str)> = match v {
        Some(v) => vec![("interface", &v.interface), ("vrid", &vrid)],
        None => vec![],
    };
    type Get = fn(&super::snapshot::Vrrp) -> u64;
    let families: [(&str, Kind, &str, Get); 5] = [
        (
            "lvsinit_vrrp_state",
            Kind::Gauge,
            "VRRP state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.",
            |v| u64::from(v.state.number()),
        ),
        (
            "lvsinit_vrrp_priority",
            Kind::Gauge,
            "The priority advertised now.",
            |v| u64::from(v.priority),
        ),
        (
            "lvsinit_vrrp_adverts_sent_total",
            Kind::Counter,
            "VRRP adverts sent.",
            |v| v.adverts_sent,
        ),
        (
            "lvsinit_vrrp_adverts_received_total",
            Kind::Counter,
            "VRRP adverts received and accepted.",
            |v| v.adverts_received,
        ),
        (
            "lvsinit_vrrp_transitions_total",
            Kind::Counter,
            "VRRP state changes.",
            |v| v.transitions,
        ),
    ];
    for (name, kind, help, get) in families {
        out.head(name, kind, help)?;
        if let Some(v) = v {
            out.sample(name, &labels, get(v))?;
        }
    }
    let name = "lvsinit_vrrp_adverts_dropped_total";
    out.head(name, Kind::Counter, "VRRP adverts dropped, by reason: ttl, checksum, version, vrid, length, peer (not a configured unicast peer).")?;
    if let Some(v) = v {
        for (reason, n) in v.dropped.by_reason() {
            let mut l = labels.clone();
            l.push(("reason", reason));
            out.sample(name, &l, n)?;
        }
    }
    Ok(())
}

fn config<W: Write>(out: &mut Out<'_, W>, s: &Snapshot, version: &str) -> io::Result<()> {
    out.by_label(
        "lvsinit_config_reloads_total",
        "Config reloads by result: ok, invalid (nothing applied), failed (applied in part, retrying).",
        "result",
        &[
            ("ok", s.reloads.ok),
            ("invalid", s.reloads.invalid),
            ("failed", s.reloads.failed),
        ],
    )?;
    let ok = s
        .last_apply
        .as_ref()
        .is_some_and(|a| a.result == super::snapshot::ApplyResult::Ok);
    out.single(
        "lvsinit_config_last_reload_successful",
        Kind::Gauge,
        "1 when the last apply (boot or reload) put everything in place.",
        u8::from(ok),
    )?;
    let name = "lvsinit_config_info";
    out.head(
        name,
        Kind::Gauge,
        "The running config: where it came from and its SHA-256 (value 1).",
    )?;
    if let Some(c) = &s.config {
        out.sample(
            name,
            &[("sha256", &c.sha256), ("source", c.source.name())],
            1,
        )?;
    }
    out.single(
        "lvsinit_config_fallback",
        Kind::Gauge,
        "1 while the box runs the boot partition's router.toml.prev because its router.toml is invalid (see /status config.fallback), else 0.",
        u8::from(s.config.as_ref().is_some_and(|c| c.fallback.is_some())),
    )?;
    out.single(
        "lvsinit_config_failures_pending",
        Kind::Gauge,
        "Pieces of the running config that failed and are retried.",
        s.failures_pending,
    )?;
    out.single(
        "lvsinit_ipvs_drift_repairs_total",
        Kind::Counter,
        "Times the director found the kernel's IPVS table changed behind its back (read back every 60 s) and put it back.",
        s.drift.as_ref().map_or(0, |d| d.repairs),
    )?;
    out.head(
        "lvsinit_build_info",
        Kind::Gauge,
        "The lvsinit build (value 1).",
    )?;
    out.sample("lvsinit_build_info", &[("version", version)], 1)?;
    let name = "lvsinit_system_info";
    out.head(
        name,
        Kind::Gauge,
        "The running system slot and the version the other slot holds (empty when none known) (value 1); none when the box did not boot from its boot partition.",
    )?;
    if let Some(slot) = &s.system.slot {
        let other = s.system.other.as_deref().unwrap_or("");
        out.sample(
            name,
            &[("slot", slot), ("version", version), ("other", other)],
            1,
        )?;
    }
    let name = "lvsinit_system_update_trial_info";
    out.head(
        name,
        Kind::Gauge,
        "The last update's trial: the slot written, the new version and what became of it (result: on trial, good, failed, rolled back) (value 1).",
    )?;
    if let Some(t) = &s.system.trial {
        let v = t.version.as_deref().unwrap_or("");
        out.sample(
            name,
            &[("slot", &t.slot), ("version", v), ("result", t.result)],
            1,
        )?;
    }
    Ok(())
}

fn management<W: Write>(out: &mut Out<'_, W>, c: &Counters, took: &Took) -> io::Result<()> {
    let get = Counters::get;
    out.by_label(
        "lvsinit_management_connections_refused_total",
        "Connections to the management API closed at once, by reason: allow (client not allowed), client_limit, total_limit.",
        "reason",
        &[
            ("allow", get(&c.refused_allow)),
            ("client_limit", get(&c.refused_client_limit)),
            ("total_limit", get(&c.refused_total_limit)),
        ],
    )?;
    out.by_label(
        "lvsinit_management_requests_refused_total",
        "Requests to the management API refused or cut, by reason: header_timeout, header_size, method, body, not_found, slow_client (took no data for the timeout).",
        "reason",
        &[
            ("header_timeout", get(&c.header_timeouts)),
            ("header_size", get(&c.header_too_large)),
            ("method", get(&c.bad_method)),
            ("body", get(&c.with_body)),
            ("not_found", get(&c.not_found)),
            ("slow_client", get(&c.slow_clients)),
        ],
    )?;
    let singles = [
        (
            "lvsinit_management_requests_total",
            "Requests to the management API answered.",
            &c.requests,
        ),
        (
            "lvsinit_management_snapshots_total",
            "Snapshots (IPVS dumps) asked of the director; concurrent requests share one.",
            &c.snapshots,
        ),
        (
            "lvsinit_management_snapshot_failures_total",
            "Snapshots the director did not give in time (the request answered 503).",
            &c.snapshot_failures,
        ),
        (
            "lvsinit_management_log_follow_lost_lines_total",
            "Log lines /log?follow=1 clients lost by reading too slowly.",
            &c.follow_lost,
        ),
        (
            "lvsinit_management_auth_failures_total",
            "Requests to the management API with wrong credentials (answered 401).",
            &c.auth_failures,
        ),
        (
            "lvsinit_management_auth_waits_total",
            "Requests refused while their client waits out its wrong tries (answered 429).",
            &c.auth_waits,
        ),
        (
            "lvsinit_management_control_requests_total",
            "Requests to change the box (config push, reload, drain, reboot) that got past the password.",
            &c.control_requests,
        ),
        (
            "lvsinit_webhook_retries_total",
            "Webhook deliveries tried again after a failure.",
            &c.webhook_retries,
        ),
    ];
    for (name, help, counter) in singles {
        out.single(name, Kind::Counter, help, get(counter))?;
    }
    out.head(
        "lvsinit_management_snapshot_seconds",
        Kind::Gauge,
        "How long this answer's snapshot took to make, by part: director (its own loop: the services and their health), kernel (the IPVS table and totals, read on a blocking thread).",
    )?;
    for (part, took) in [("director", took.director), ("kernel", took.kernel)] {
        out.sample(
            "lvsinit_management_snapshot_seconds",
            &[("part", part)],
            took.as_secs_f64(),
        )?;
    }
    out.by_label(
        "lvsinit_webhook_events_total",
        "Webhook events by result: delivered, dropped (queue full), rejected (4xx answer).",
        "result",
        &[
            ("delivered", get(&c.webhook_delivered)),
            ("dropped", get(&c.webhook_dropped)),
            ("rejected", get(&c.webhook_rejected)),
        ],
    )?;
    out.by_label(
        "lvsinit_syslog_lines_total",
        "Log lines for remote syslog by result: sent, dropped.",
        "result",
        &[
            ("sent", get(&c.syslog_sent)),
            ("dropped", get(&c.syslog_dropped)),
        ],
    )
}

fn process_metrics<W: Write>(out: &mut Out<'_, W>, p: &Process) -> io::Result<()> {
    out.single(
        "process_cpu_seconds_total",
        Kind::Counter,
        "Total user and system CPU time spent in seconds.",
        p.cpu_seconds,
    )?;
    out.single(
        "process_open_fds",
        Kind::Gauge,
        "Number of open file descriptors.",
        p.open_fds,
    )?;
    if let Some(max) = p.max_fds {
        out.single(
            "process_max_fds",
            Kind::Gauge,
            "Maximum number of open file descriptors.",
            max,
        )?;
    }
    out.single(
        "process_virtual_memory_bytes",
        Kind::Gauge,
        "Virtual memory size in bytes.",
        p.virtual_memory_bytes,
    )?;
    out.single(
        "process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory size in bytes.",
        p.resident_memory_bytes,
    )?;
    out.single(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since unix epoch in seconds.",
        p.start_time_seconds,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::snapshot::tests::sample;
    use std::process::{Command, Stdio};

    fn rendered() -> String {
        let mut out = Vec::new();
        let counters = Counters::default();
        Counters::hit(&counters.refused_allow);
        render(&mut out, &sample(), &counters, &Process::read(), "0.1.0").unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn node_exporter_names_and_labels() {
        let text = rendered();
        let has = |line: &str| assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        has("node_ipvs_connections_total 11");
        has("# TYPE node_ipvs_backend_connections_active gauge");
        has(
            r#"node_ipvs_backend_connections_active{local_address="192.168.1.100",local_mark="",local_port="5432",proto="TCP",remote_address="192.168.3.2",remote_port="5432"} 3"#,
        );
        has(
            r#"node_ipvs_backend_weight{local_address="",local_mark="00000005",local_port="0",proto="FWM",remote_address="10.0.0.7",remote_port="0"} 1"#,
        );
        has(
            r#"node_ipvs_backend_connections_inactive{local_address="2001:db8::53",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8::2",remote_port="53"} 0"#,
        );
        has(
            r#"lvsinit_real_server_up{local_address="192.168.1.100",local_mark="",local_port="5432",proto="TCP",remote_address="192.168.3.3",remote_port="5432",service="postgres"} 0"#,
        );
        has(
            r#"lvsinit_real_server_up{local_address="2001:db8::53",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8::2",remote_port="53",service="dns"} 1"#,
        );
        has(
            r#"lvsinit_real_server_probe_duration_seconds{local_address="192.168.1.100",local_mark="",local_port="5432",proto="TCP",remote_address="192.168.3.2",remote_port="5432",service="postgres"} 0.0015"#,
        );
        has(r#"lvsinit_service_packets_total{service="postgres",direction="in"} 40"#);
        has(
            r#"lvsinit_real_server_bytes_total{local_address="192.168.1.100",local_mark="",local_port="5432",proto="TCP",remote_address="192.168.3.2",remote_port="5432",service="postgres",direction="out"} 2700"#,
        );
        has(r#"lvsinit_vrrp_state{interface="eth0",vrid="51"} 2"#);
        has(r#"lvsinit_vrrp_adverts_dropped_total{interface="eth0",vrid="51",reason="peer"} 2"#);
        has(r#"lvsinit_config_reloads_total{result="invalid"} 1"#);
        has(&format!(
            r#"lvsinit_config_info{{sha256="{}",source="boot"}} 1"#,
            "ab".repeat(32)
        ));
        has(r#"lvsinit_build_info{version="0.1.0"} 1"#);
        has(r#"lvsinit_management_connections_refused_total{reason="allow"} 1"#);
        has(r#"lvsinit_management_snapshot_seconds{part="director"} 0.0015"#);
        has(r#"lvsinit_management_snapshot_seconds{part="kernel"} 0.012"#);
        has(r#"lvsinit_sorry_server_active{service="marked"} 0"#);
        assert!(text.contains("\nprocess_resident_memory_bytes "));
        assert!(text.contains("\nprocess_start_time_seconds "));
        assert!(text.contains("\nprocess_open_fds "));
    }

    #[test]
    fn the_fallback_gauge_follows_the_running_config() {
        let gauge = |s: &crate::management::snapshot::Snapshot| {
            let mut out = Vec::new();
            render(
                &mut out,
                s,
                &Counters::default(),
                &Process::default(),
                "0.1.0",
            )
            .unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.contains("# TYPE lvsinit_config_fallback gauge"),
                "{text}"
            );
            text.lines()
                .find_map(|l| l.strip_prefix("lvsinit_config_fallback "))
                .map(str::to_string)
        };
        let mut s = sample();
        assert_eq!(gauge(&s).as_deref(), Some("0"));
        if let Some(c) = &mut s.config {
            c.fallback = Some(crate::management::snapshot::Fallback {
                reason: "router.toml is invalid".into(),
                errors: vec![],
            });
        }
        assert_eq!(gauge(&s).as_deref(), Some("1"));
        s.config = None;
        assert_eq!(gauge(&s).as_deref(), Some("0"), "no config, no fallback");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Vec::new();
        escape_into(&mut out, "a\\b\"c\nd").unwrap();
        assert_eq!(out, b"a\\\\b\\\"c\\nd");
    }

    /// Debian's `promtool check metrics` (package `prometheus`) accepts the
    /// exposition: names, HELP and TYPE, counters' `_total`, no family
    /// twice. promtool missing is a failure, not a skip.
    #[test]
    fn promtool_accepts_the_exposition() {
        let text = rendered();
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool is required (apt-get install prometheus)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let done = child.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&done.stdout),
            String::from_utf8_lossy(&done.stderr)
        );
        assert!(done.status.success(), "promtool: {said}\n{text}");
        assert!(said.trim().is_empty(), "promtool lints: {said}");
    }

    /// Counts what is written, and the biggest single write.
    #[derive(Default)]
    struct Sink {
        total: usize,
        biggest: usize,
    }

    impl Write for Sink {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.total += data.len();
            self.biggest = self.biggest.max(data.len());
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The benchmark's 1,000 × 10 table, rendered natively: the time
    /// and the size (`cargo test --release --lib render_1000x10 --
    /// --ignored --nocapture`; under TCG it is several times slower).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn render_1000x10() {
        let s = crate::management::snapshot::tests::big_table(1000, 10);
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let mut sink = Sink::default();
            let started = std::time::Instant::now();
            render(
                &mut sink,
                &s,
                &Counters::default(),
                &Process::default(),
                "0.1.0",
            )
            .unwrap();
            times.push(started.elapsed());
            size = sink.total;
        }
        times.sort();
        println!(
            "render 1000x10: {size} bytes, median {:?} (min {:?})",
            times[2], times[0]
        );
    }

    /// 10,000 services of one real server each: about 10 MB, written in
    /// pieces of a line at most, never gathered whole.
    #[test]
    fn a_big_table_is_written_as_it_goes() {
        let s = crate::management::snapshot::tests::big(10_000);
        let mut sink = Sink::default();
        render(
            &mut sink,
            &s,
            &Counters::default(),
            &Process::default(),
            "0.1.0",
        )
        .unwrap();
        assert!(sink.total > 8_000_000, "{} bytes", sink.total);
        assert!(sink.biggest < 1024, "a write of {} bytes", sink.biggest);
    }
}
