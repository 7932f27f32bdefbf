//! ipvsadm rules: `ipvsadm-save -n` / `ipvsadm -S -n` output, `ipvsadm -R`
//! input, or a shell script of `ipvsadm -A/-a/-E/-e` lines.
//!
//! Each line is one ipvsadm command, replayed onto a table as the kernel
//! would hold it (`-C` clears it, `-D`/`-d` delete, `-E`/`-e` edit). Names
//! where numbers belong (a save without `-n`) are an error naming the line:
//! the box resolves nothing. ipvsadm checks nothing, so every service is
//! imported with `type = "none"`: its real servers stay in the table as
//! given. A real server without `-g/-i/-m` gets ipvsadm's default, direct
//! routing (`-g`), and a comment saying so.

use std::net::{IpAddr, SocketAddr};

use crate::config::{Family, Forwarding, Protocol, Scheduler, SchedulerFlags};

use super::model::{CheckOut, Doc, Key, RealOut, ServiceOut, set_scheduler_flag};
use super::{ImportError, Origin, Warnings};

/// ipvsadm's default scheduler and persistence timeout.
const DEFAULT_SCHEDULER: Scheduler = Scheduler::Wlc;
const DEFAULT_PERSISTENCE: u32 = 300;

const NO_CHECK: &str = "ipvsadm checks nothing: the real servers stay in the table as given";

/// Read the rules in `text` (named `file` in comments and errors).
pub fn read(file: &str, text: &str, warnings: &mut Warnings) -> Result<Doc, ImportError> {
    let mut doc = Doc {
        source: file.to_string(),
        format: "ipvsadm",
        ..Doc::default()
    };
    for (n, raw) in text.lines().enumerate() {
        let words = split(raw);
        if words.is_empty() {
            continue;
        }
        let origin = Origin {
            file: file.to_string(),
            line: n + 1,
            text: words.join(" "),
        };
        let args = match command_words(&words) {
            Some(args) => args,
            None => {
                let message = "not an ipvsadm command; router.toml says only what ipvsadm does";
                let note = warnings.left_out(&origin, &words[0], message);
                doc.notes.push(note);
                continue;
            }
        };
        let command = parse_command(&origin, args)?;
        apply(&mut doc, &origin, command, warnings)?;
    }
    Ok(doc)
}

/// The line's words, without a trailing `# comment`.
fn split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    for w in line.split_whitespace() {
        if w.starts_with('#') {
            break;
        }
        words.push(w.trim_matches(|c| c == '"' || c == '\'').to_string());
    }
    words
}

/// The ipvsadm arguments of a line: all of a saved rule, or what follows
/// `ipvsadm` (`/sbin/ipvsadm`, `sudo ipvsadm`) in a script. `None` for any
/// other command.
fn command_words(words: &[String]) -> Option<&[String]> {
    if words[0].starts_with('-') {
        return Some(words);
    }
    let mut i = 0;
    if words[0] == "sudo" {
        i = 1;
    }
    let program = words.get(i)?;
    (program == "ipvsadm" || program.ends_with("/ipvsadm")).then(|| &words[i + 1..])
}

/// One parsed ipvsadm command line.
#[derive(Debug, Default)]
struct Command {
    /// The command letter (`A`, `E`, `D`, `a`, `e`, `d`, `C`) or long name.
    command: Option<String>,
    service: Option<Key>,
    family6: bool,
    scheduler: Option<Scheduler>,
    persistence: Option<u32>,
    netmask: Option<String>,
    flags: Vec<String>,
    server: Option<String>,
    forwarding: Option<Forwarding>,
    weight: Option<u32>,
    upper: Option<u32>,
    lower: Option<u32>,
    /// Options with no router.toml equivalent, with their values.
    unsupported: Vec<String>,
    mcast_interface: Option<String>,
    syncid: Option<String>,
}

fn parse_command(origin: &Origin, args: &[String]) -> Result<Command, ImportError> {
    let mut c = Command::default();
    // Short options run together, as `-Ln` or `-At`, one by one.
    let args: Vec<String> = args
        .iter()
        .flat_map(|a| match a.strip_prefix('-') {
            Some(letters)
                if letters.len() > 1 && letters.chars().all(|c| c.is_ascii_alphabetic()) =>
            {
                letters.chars().map(|c| format!("-{c}")).collect()
            }
            _ => vec![a.clone()],
        })
        .collect();
    let mut it = args.iter().peekable();
    let err = |m: String| ImportError::syntax(origin, m);
    while let Some(arg) = it.next() {
        let arg = arg.as_str();
        let mut value = |name: &str| -> Result<String, ImportError> {
            it.next()
                .cloned()
                .ok_or_else(|| ImportError::syntax(origin, format!("{name} needs a value")))
        };
        let set_command = |c: &mut Command, name: &str| -> Result<(), ImportError> {
            match &c.command {
                Some(other) => Err(ImportError::syntax(
                    origin,
                    format!("two commands on one line ({other} and {name})"),
                )),
                None => {
                    c.command = Some(name.to_string());
                    Ok(())
                }
            }
        };
        match arg {
            "-A" | "--add-service" => set_command(&mut c, "-A")?,
            "-E" | "--edit-service" => set_command(&mut c, "-E")?,
            "-D" | "--delete-service" => set_command(&mut c, "-D")?,
            "-a" | "--add-server" => set_command(&mut c, "-a")?,
            "-e" | "--edit-server" => set_command(&mut c, "-e")?,
            "-d" | "--delete-server" => set_command(&mut c, "-d")?,
            "-C" | "--clear" => set_command(&mut c, "-C")?,
            "-Z" | "--zero" | "-L" | "-l" | "--list" | "-S" | "--save" | "-n" | "--numeric" => {
                if !matches!(arg, "-n" | "--numeric") {
                    set_command(&mut c, arg)?;
                }
            }
            "--start-daemon" => {
                let state = value(arg)?;
                set_command(&mut c, &format!("--start-daemon {state}"))?;
            }
            "--stop-daemon" | "--set" | "-R" | "--restore" => {
                let text = match arg {
                    "--set" => format!("--set {} {} {}", value(arg)?, value(arg)?, value(arg)?),
                    "--stop-daemon" => format!("--stop-daemon {}", value(arg)?),
                    _ => arg.to_string(),
                };
                set_command(&mut c, &text)?;
            }
            "--mcast-interface" => c.mcast_interface = Some(value(arg)?),
            "--syncid" => c.syncid = Some(value(arg)?),
            "--mcast-group" | "--mcast-port" | "--mcast-ttl" | "--sync-maxlen" => {
                let v = value(arg)?;
                c.unsupported.push(format!("{arg} {v}"));
            }
            "-t" | "--tcp-service" => {
                c.service = Some(service_addr(origin, Protocol::Tcp, &value(arg)?)?)
            }
            "-u" | "--udp-service" => {
                c.service = Some(service_addr(origin, Protocol::Udp, &value(arg)?)?)
            }
            "--sctp-service" => {
                c.service = Some(service_addr(origin, Protocol::Sctp, &value(arg)?)?)
            }
            "-f" | "--fwmark-service" => {
                let v = value(arg)?;
                let mark = v.parse::<u32>().ok().filter(|m| *m > 0).ok_or_else(|| {
                    err(format!(
                        "-f {v:?}: a firewall mark is a number, 1 to 4294967295"
                    ))
                })?;
                c.service = Some(Key::Fwmark(mark, None));
            }
            "-6" | "--ipv6" => c.family6 = true,
            "-s" | "--scheduler" => {
                let v = value(arg)?;
                c.scheduler =
                    Some(Scheduler::from_name(&v).ok_or_else(|| {
                        err(format!("-s {v:?} is not a scheduler ipvsadm knows"))
                    })?);
            }
            "-p" | "--persistent" => {
                let timeout = match it.peek() {
                    Some(v) if !v.starts_with('-') => {
                        let v = it.next().unwrap();
                        number(origin, "-p", v)?
                    }
                    _ => DEFAULT_PERSISTENCE,
                };
                c.persistence = Some(timeout);
            }
            "-M" | "--netmask" => c.netmask = Some(value(arg)?),
            "-b" | "--sched-flags" => {
                let v = value(arg)?;
                c.flags
                    .extend(v.split(',').filter(|f| !f.is_empty()).map(str::to_string));
            }
            "-o" | "--ops" => c.unsupported.push(arg.to_string()),
            "--pe" => {
                let v = value(arg)?;
                c.unsupported.push(format!("--pe {v}"));
            }
            "-r" | "--real-server" => c.server = Some(value(arg)?),
            "-g" | "--gatewaying" => c.forwarding = Some(Forwarding::Direct),
            "-i" | "--ipip" => c.forwarding = Some(Forwarding::Tunnel),
            "-m" | "--masquerading" => c.forwarding = Some(Forwarding::Nat),
            "-w" | "--weight" => c.weight = Some(number(origin, "-w", &value(arg)?)?),
            "-x" | "--u-threshold" => c.upper = Some(number(origin, "-x", &value(arg)?)?),
            "-y" | "--l-threshold" => c.lower = Some(number(origin, "-y", &value(arg)?)?),
            "--tun-type" | "--tun-port" | "--tun-nocsum" | "--tun-csum" | "--tun-remcsum" => {
                let text = match arg {
                    "--tun-type" | "--tun-port" => format!("{arg} {}", value(arg)?),
                    _ => arg.to_string(),
                };
                // IP-in-IP is router.toml's "tunnel", and ipvsadm-save
                // writes it for every -i real server.
                if text != "--tun-type ipip" {
                    c.unsupported.push(text);
                }
            }
            other => return Err(err(format!("{other:?} is not an ipvsadm option"))),
        }
    }
    if c.family6
        && let Some(Key::Fwmark(mark, _)) = c.service
    {
        c.service = Some(Key::Fwmark(mark, Some(Family::Inet6)));
    }
    Ok(c)
}

fn number(origin: &Origin, option: &str, text: &str) -> Result<u32, ImportError> {
    text.parse()
        .map_err(|_| ImportError::syntax(origin, format!("{option} {text:?}: expected a number")))
}

/// `192.168.1.100:5432`, `[2001:db8::1]:80`; the port may be left out (0).
fn host_port(
    origin: &Origin,
    what: &str,
    text: &str,
) -> Result<(IpAddr, Option<u16>), ImportError> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        match rest.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, port)) => (host, Some(port.strip_prefix(':').unwrap_or(port))),
            None => (text, None),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            _ => (text, None),
        }
    };
    let name_help =
        "ipvsadm-save without -n writes names; the box resolves none: save with ipvsadm-save -n";
    let ip: IpAddr = host.parse().map_err(|_| {
        ImportError::syntax(
            origin,
            format!("{what} {text}: {host:?} is a name, not an address; {name_help}"),
        )
    })?;
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().map_err(|_| {
            ImportError::syntax(
                origin,
                format!("{what} {text}: {p:?} is a name, not a port number; {name_help}"),
            )
        })?),
    };
    Ok((ip, port))
}

fn service_addr(origin: &Origin, protocol: Protocol, text: &str) -> Result<Key, ImportError> {
    let option = match protocol {
        Protocol::Tcp => "-t",
        Protocol::Udp => "-u",
        Protocol::Sctp => "--sctp-service",
    };
    let (ip, port) = host_port(origin, option, text)?;
    Ok(Key::Addr(protocol, SocketAddr::new(ip, port.unwrap_or(0))))
}

/// The table as the commands so far left it.
fn apply(
    doc: &mut Doc,
    origin: &Origin,
    c: Command,
    warnings: &mut Warnings,
) -> Result<(), ImportError> {
    let Some(command) = c.command.clone() else {
        return Err(ImportError::syntax(
            origin,
            "no command (-A, -a, -E, -e, -D, -d, -C, ...)",
        ));
    };
    let need_service = |c: &Command| {
        c.service.ok_or_else(|| {
            ImportError::syntax(
                origin,
                format!("{command} needs a service (-t, -u, --sctp-service or -f)"),
            )
        })
    };
    match command.as_str() {
        "-C" => {
            doc.services.clear();
            doc.notes.push(format!(
                "{origin}: the table was cleared here; only what follows is imported"
            ));
        }
        "-A" | "-E" => {
            let key = need_service(&c)?;
            let position = find(doc, key);
            let mut service = match (command.as_str(), position) {
                ("-A", Some(_)) => {
                    return Err(ImportError::syntax(
                        origin,
                        "this service was already added (ipvsadm: service already exists)",
                    ));
                }
                ("-E", None) => return Err(ImportError::syntax(origin, "no such service to edit")),
                ("-E", Some(i)) => doc.services[i].clone(),
                _ => ServiceOut {
                    origins: Vec::new(),
                    notes: Vec::new(),
                    key,
                    scheduler: DEFAULT_SCHEDULER,
                    flags: SchedulerFlags::default(),
                    forwarding: Forwarding::Direct,
                    persistence: None,
                    persistence_netmask: None,
                    sorry_server: None,
                    check: CheckOut::none(NO_CHECK),
                    real_servers: Vec::new(),
                },
            };
            service.origins.push(origin.clone());
            service.key = merge_family(service.key, key);
            service.scheduler = c.scheduler.unwrap_or(DEFAULT_SCHEDULER);
            service.persistence = c.persistence;
            service.persistence_netmask = None;
            if let Some(mask) = &c.netmask {
                match (c.persistence, netmask(mask, service.key)) {
                    (_, None) => {
                        return Err(ImportError::syntax(
                            origin,
                            format!("-M {mask:?} is not a netmask"),
                        ));
                    }
                    (None, Some(_)) => {
                        let note = warnings.left_out(
                            origin,
                            "-M",
                            "a netmask without -p (persistence) does nothing",
                        );
                        service.notes.push(note);
                    }
                    (Some(_), Some(m)) => service.persistence_netmask = m,
                }
            }
            service.flags = SchedulerFlags::default();
            for flag in &c.flags {
                scheduler_flag(&mut service, origin, flag, warnings);
            }
            for option in &c.unsupported {
                let message = match option.as_str() {
                    "-o" | "--ops" => "one-packet scheduling: router.toml has no such key",
                    _ => "router.toml has no such key",
                };
                let note = warnings.left_out(origin, option, message);
                service.notes.push(note);
            }
            match position {
                Some(i) => doc.services[i] = service,
                None => doc.services.push(service),
            }
        }
        "-D" => {
            let key = need_service(&c)?;
            let i = find(doc, key)
                .ok_or_else(|| ImportError::syntax(origin, "no such service to delete"))?;
            doc.services.remove(i);
        }
        "-a" | "-e" | "-d" => {
            let key = need_service(&c)?;
            let i = find(doc, key).ok_or_else(|| {
                ImportError::syntax(origin, "no such service (add it with -A first)")
            })?;
            let Some(server) = c.server.clone() else {
                return Err(ImportError::syntax(
                    origin,
                    format!("{command} needs a real server (-r)"),
                ));
            };
            let (ip, port) = host_port(origin, "-r", &server)?;
            let port = match (port, key) {
                (Some(p), _) => p,
                // As ipvsadm: a real server without a port has the service's.
                (None, Key::Addr(_, vip)) => vip.port(),
                (None, Key::Fwmark(..)) => 0,
            };
            let address = SocketAddr::new(ip, port);
            let service = &mut doc.services[i];
            let existing = service
                .real_servers
                .iter()
                .position(|r| r.address == address);
            match (command.as_str(), existing) {
                ("-d", Some(j)) => {
                    service.real_servers.remove(j);
                }
                ("-d", None) | ("-e", None) => {
                    return Err(ImportError::syntax(
                        origin,
                        format!("{address} is not a real server of this service"),
                    ));
                }
                ("-a", Some(_)) => {
                    return Err(ImportError::syntax(
                        origin,
                        format!("{address} was already added to this service"),
                    ));
                }
                _ => {
                    let mut real = RealOut {
                        origins: Vec::new(),
                        notes: Vec::new(),
                        address,
                        weight: 1,
                        forwarding: Forwarding::Direct,
                        upper_threshold: 0,
                        lower_threshold: 0,
                        check: CheckOut::none(NO_CHECK),
                    };
                    if let Some(j) = existing {
                        real = service.real_servers[j].clone();
                        real.notes.clear();
                    }
                    real.origins.push(origin.clone());
                    real.weight = c.weight.unwrap_or(1);
                    real.upper_threshold = c.upper.unwrap_or(0);
                    real.lower_threshold = c.lower.unwrap_or(0);
                    real.forwarding = match c.forwarding {
                        Some(f) => f,
                        None => {
                            real.notes.push(
                                "no -g/-i/-m given: ipvsadm's default, direct routing (-g)"
                                    .to_string(),
                            );
                            Forwarding::Direct
                        }
                    };
                    for option in &c.unsupported {
                        let note = warnings.left_out(origin, option, "router.toml has no such key");
                        real.notes.push(note);
                    }
                    match existing {
                        Some(j) => service.real_servers[j] = real,
                        None => service.real_servers.push(real),
                    }
                }
            }
            // The service's forwarding is its first real server's; the
            // others say their own when it differs.
            if let Some(first) = service.real_servers.first() {
                service.forwarding = first.forwarding;
            }
        }
        other if other.starts_with("--start-daemon") => {
            let mut text = other.to_string();
            if let Some(i) = &c.mcast_interface {
                text.push_str(&format!(" --mcast-interface {i}"));
            }
            if let Some(id) = &c.syncid {
                text.push_str(&format!(" --syncid {id}"));
            }
            let message = "the connection sync daemon is [vrrp] sync_interface in router.toml, and ipvsadm rules have no [vrrp]: add one, with sync_interface";
            let note = warnings.left_out(origin, &text, message);
            doc.notes.push(note);
        }
        "-Z" | "-L" | "-l" | "--list" | "-S" | "--save" => {
            doc.notes
                .push(format!("{origin}: changes nothing in the table"));
        }
        other => {
            let message = match other {
                o if o.starts_with("--set") => {
                    "connection timeouts: router.toml has no such setting"
                }
                "-R" | "--restore" => "a restore reads another file: import that file",
                _ => "router.toml has no such setting",
            };
            let note = warnings.left_out(origin, other, message);
            doc.notes.push(note);
        }
    }
    Ok(())
}

/// The service with this key: fwmark services by mark and family.
fn find(doc: &Doc, key: Key) -> Option<usize> {
    doc.services.iter().position(|s| same_service(s.key, key))
}

fn same_service(a: Key, b: Key) -> bool {
    match (a, b) {
        (Key::Fwmark(m, f), Key::Fwmark(n, g)) => {
            m == n && f.unwrap_or(Family::Inet) == g.unwrap_or(Family::Inet)
        }
        _ => a == b,
    }
}

fn merge_family(old: Key, new: Key) -> Key {
    match (old, new) {
        (Key::Fwmark(m, f), Key::Fwmark(_, g)) => Key::Fwmark(m, g.or(f)),
        _ => new,
    }
}

/// `-M`: as `persistence_netmask` takes it; `Some(None)` is the default
/// (all ones), which needs no key.
fn netmask(text: &str, key: Key) -> Option<Option<String>> {
    let v6 = match key {
        Key::Addr(_, a) => a.is_ipv6(),
        Key::Fwmark(_, f) => f == Some(Family::Inet6),
    };
    if v6 {
        let len: u8 = text.parse().ok().filter(|l| *l <= 128)?;
        return Some((len != 128).then(|| len.to_string()));
    }
    let mask: std::net::Ipv4Addr = text.parse().ok()?;
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        return None;
    }
    Some((bits != u32::MAX).then(|| text.to_string()))
}

/// One `-b` flag onto the service, by its scheduler (`flag-1` is the
/// fallback flag, `flag-2` the port flag, of sh and of mh).
fn scheduler_flag(service: &mut ServiceOut, origin: &Origin, flag: &str, warnings: &mut Warnings) {
    let scheduler = service.scheduler;
    let done = set_scheduler_flag(&mut service.flags, scheduler, flag);
    if !done {
        let message = format!(
            "means nothing to the {} scheduler (router.toml has sh-fallback and sh-port for sh, mh-fallback and mh-port for mh)",
            scheduler.name()
        );
        let note = warnings.left_out(origin, &format!("-b {flag}"), message);
        service.notes.push(note);
    }
}

#[cfg(test)]
mod tests;
