//! Write a [`Doc`] as router.toml: every piece under a comment saying
//! where it came from, every left-out piece a `LEFT OUT` comment there.

use std::fmt::Write;
use std::time::Duration;

use crate::config::{CheckKind, Family, OnFailure, SchedulerFlags};

use super::model::{CheckOut, Doc, Key, RealOut, ServiceOut, VrrpOut};

/// The router.toml text of `doc`.
pub fn render(doc: &Doc) -> String {
    let mut out = String::new();
    let o = &mut out;
    line(
        o,
        &format!(
            "# router.toml imported by `lvsinit import` from {} ({}).",
            doc.source, doc.format
        ),
    );
    line(
        o,
        "# Each piece says where it came from; LEFT OUT marks what could not be carried",
    );
    line(
        o,
        "# over (also printed as a warning). Check it with: lvsinit check router.toml",
    );
    line(o, "");
    for note in &doc.notes {
        comment(o, "", note);
    }
    if !doc.notes.is_empty() {
        line(o, "");
    }
    if let Some((name, origin)) = &doc.hostname {
        comment(o, "", &origin.to_string());
        line(o, &format!("hostname = {}", quote(name)));
        line(o, "");
    }
    for i in &doc.interfaces {
        for note in &i.notes {
            comment(o, "", note);
        }
        line(o, "[[interface]]");
        line(o, &format!("name = {}", quote(&i.name)));
        line(o, &format!("device = {}", quote(&i.name)));
        let addresses: Vec<String> = i.addresses.iter().map(|a| quote(&a.to_string())).collect();
        line(o, &format!("addresses = [{}]", addresses.join(", ")));
        line(o, "");
    }
    for s in &doc.services {
        service(o, s);
    }
    if let Some(v) = &doc.vrrp {
        vrrp(o, v);
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

/// `text` as comment lines (a note may hold several).
fn comment(out: &mut String, indent: &str, text: &str) {
    for l in text.lines() {
        let _ = writeln!(out, "{indent}# {l}");
    }
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(q, "\\u{:04X}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// "5s", "1500ms", "2m" is not used: seconds or milliseconds, exact.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("\"{}s\"", ms / 1000)
    } else {
        format!("\"{ms}ms\"")
    }
}

fn flag_names(flags: SchedulerFlags) -> Vec<&'static str> {
    let mut names = Vec::new();
    for (on, name) in [
        (flags.sh_fallback, "sh-fallback"),
        (flags.sh_port, "sh-port"),
        (flags.mh_fallback, "mh-fallback"),
        (flags.mh_port, "mh-port"),
    ] {
        if on {
            names.push(name);
        }
    }
    names
}

fn service(o: &mut String, s: &ServiceOut) {
    for origin in &s.origins {
        comment(o, "", &origin.to_string());
    }
    for note in &s.notes {
        comment(o, "", note);
    }
    line(o, "[[service]]");
    match s.key {
        Key::Addr(protocol, address) => {
            line(o, &format!("protocol = {}", quote(protocol.name())));
            line(o, &format!("address = {}", quote(&address.to_string())));
        }
        Key::Fwmark(mark, family) => {
            line(o, &format!("fwmark = {mark}"));
            if let Some(family) = family {
                let name = match family {
                    Family::Inet => "inet",
                    Family::Inet6 => "inet6",
                };
                line(o, &format!("family = {}", quote(name)));
            }
        }
    }
    line(o, &format!("scheduler = {}", quote(s.scheduler.name())));
    let flags = flag_names(s.flags);
    if !flags.is_empty() {
        let flags: Vec<String> = flags.iter().map(|f| quote(f)).collect();
        line(o, &format!("scheduler_flags = [{}]", flags.join(", ")));
    }
    line(o, &format!("forwarding = {}", quote(s.forwarding.name())));
    if let Some(p) = s.persistence {
        line(o, &format!("persistence = \"{p}s\""));
        if let Some(mask) = &s.persistence_netmask {
            line(o, &format!("persistence_netmask = {}", quote(mask)));
        }
    }
    if let Some(sorry) = s.sorry_server {
        line(o, &format!("sorry_server = {}", quote(&sorry.to_string())));
    }
    // One check for the whole service when every real server has the same.
    let shared = match s.real_servers.split_first() {
        None => Some(&s.check),
        Some((first, rest)) => rest
            .iter()
            .all(|r| r.check.same_as(&first.check))
            .then_some(&first.check),
    };
    if let Some(check) = shared {
        line(o, "");
        for e in &check.explain {
            comment(o, "  ", e);
        }
        line(o, "  [service.health_check]");
        for (key, value) in check_keys(check) {
            line(o, &format!("  {key} = {value}"));
        }
    }
    for r in &s.real_servers {
        real_server(o, s, r, shared.is_none());
    }
    line(o, "");
}

fn real_server(o: &mut String, s: &ServiceOut, r: &RealOut, own_check: bool) {
    line(o, "");
    for origin in &r.origins {
        comment(o, "  ", &origin.to_string());
    }
    for note in &r.notes {
        comment(o, "  ", note);
    }
    if own_check {
        for e in &r.check.explain {
            comment(o, "  ", e);
        }
    }
    line(o, "  [[service.real_server]]");
    line(o, &format!("  address = {}", quote(&r.address.to_string())));
    line(o, &format!("  weight = {}", r.weight));
    if r.forwarding != s.forwarding {
        line(o, &format!("  forwarding = {}", quote(r.forwarding.name())));
    }
    if r.upper_threshold != 0 {
        line(o, &format!("  upper_threshold = {}", r.upper_threshold));
    }
    if r.lower_threshold != 0 {
        line(o, &format!("  lower_threshold = {}", r.lower_threshold));
    }
    if own_check {
        let keys: Vec<String> = check_keys(&r.check)
            .into_iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        line(o, &format!("  health_check = {{ {} }}", keys.join(", ")));
    }
}

/// The keys of a check, in router.toml's order.
fn check_keys(c: &CheckOut) -> Vec<(&'static str, String)> {
    let mut keys = vec![("type", quote(c.kind.name()))];
    if c.kind == CheckKind::None {
        return keys;
    }
    if let Some(port) = c.port {
        keys.push(("port", port.to_string()));
    }
    keys.push(("interval", duration(c.interval)));
    keys.push(("timeout", duration(c.timeout)));
    keys.push(("fall", c.fall.to_string()));
    keys.push(("rise", c.rise.to_string()));
    let on_failure = match c.on_failure {
        OnFailure::Quiesce => "quiesce",
        OnFailure::Remove => "remove",
    };
    keys.push(("on_failure", quote(on_failure)));
    match &c.kind {
        CheckKind::Http { path, host, status } => {
            keys.push(("path", quote(path)));
            if let Some(host) = host {
                keys.push(("host", quote(host)));
            }
            keys.push(("status", status.to_string()));
        }
        CheckKind::Postgres { user, database } => {
            keys.push(("user", quote(user)));
            keys.push(("database", quote(database)));
        }
        CheckKind::None | CheckKind::Tcp => {}
    }
    keys
}

fn vrrp(o: &mut String, v: &VrrpOut) {
    for origin in &v.origins {
        comment(o, "", &origin.to_string());
    }
    for note in &v.notes {
        comment(o, "", note);
    }
    line(o, "[vrrp]");
    line(o, &format!("interface = {}", quote(&v.interface)));
    line(o, &format!("virtual_router_id = {}", v.virtual_router_id));
    line(o, &format!("priority = {}", v.priority));
    line(
        o,
        &format!("advert_interval = {}", duration(v.advert_interval)),
    );
    line(o, &format!("preempt = {}", v.preempt));
    if !v.preempt_delay.is_zero() {
        line(o, &format!("preempt_delay = {}", duration(v.preempt_delay)));
    }
    if !v.unicast_peers.is_empty() {
        let peers: Vec<String> = v
            .unicast_peers
            .iter()
            .map(|p| quote(&p.to_string()))
            .collect();
        line(o, &format!("unicast_peers = [{}]", peers.join(", ")));
    }
    line(o, "virtual_addresses = [");
    for vip in &v.virtual_addresses {
        comment(o, "  ", &vip.origin.to_string());
        line(
            o,
            &format!(
                "  {{ interface = {}, address = {} }},",
                quote(&vip.interface),
                quote(&vip.address.to_string())
            ),
        );
    }
    line(o, "]");
    if let Some((sync, origin)) = &v.sync_interface {
        comment(o, "", &origin.to_string());
        line(o, &format!("sync_interface = {}", quote(sync)));
        if let Some(id) = v.sync_id {
            line(o, &format!("sync_id = {id}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_durations_are_written_as_router_toml_reads_them() {
        assert_eq!(quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(quote("\u{7}"), r#""\u0007""#);
        assert_eq!(duration(Duration::from_secs(6)), "\"6s\"");
        assert_eq!(duration(Duration::from_millis(1500)), "\"1500ms\"");
        assert_eq!(duration(Duration::ZERO), "\"0s\"");
    }
}
