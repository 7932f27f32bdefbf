//! The command line of `lvsinit remote`, read into an [`Invocation`].
//!
//! Options may come before or after the command's words, as with
//! ipvsadm; every mistake is a usage error (exit 2) that says the fix.

use std::net::SocketAddr;

use super::error::RemoteError;
use super::tls::{Fingerprint, Trust};

/// The usage of `lvsinit remote`, printed after a usage error.
pub const USAGE: &str = "\
usage: lvsinit remote --url https://IP:PORT [--fingerprint SHA256:HEX | --ca FILE]
                      [--password-file FILE] COMMAND

commands:
  status                          the box's state: config, VRRP, services, real servers
  config get                      the running router.toml, on stdout
  config push FILE [--confirm 60s] [--dry-run]
                                  apply FILE on the box and keep it (--dry-run: only
                                  show the changes; --confirm: undone unless confirmed
                                  in time)
  config confirm                  keep a config pushed with --confirm
  drain SERVICE IP:PORT           weight 0 for a real server, connections stay
  enable SERVICE IP:PORT          undo drain
  reload                          read the box's config again and apply it
  reboot | poweroff
  log [--follow]                  the box's console log (--follow: keep reading)
  update FILE [--signature SIG]   send a new system (a bzImage) to the box's other
                                  slot, tried on its next boot; SIG defaults to
                                  FILE.sig, as `lvsinit sign` writes it
  rollback                        boot the system of the other slot again

--fingerprint pins the box's certificate (its console prints it); --ca trusts a
CA (or the certificate itself) for the URL's IP. The password is the admin's:
--password-file (its first line), else LVSINIT_PASSWORD, else asked on the
terminal when needed. IPv6: --url https://[2001:db8::1]:8443, real servers
[2001:db8::2]:80. Exits 0 done, 1 refused by the box, 2 usage, 3 cannot connect
or verify.
";

/// A whole `lvsinit remote` command line.
#[derive(Debug)]
pub struct Invocation {
    /// The box: an IP address and a port, from `--url`.
    pub addr: SocketAddr,
    pub trust: Trust,
    pub password_file: Option<String>,
    pub command: Command,
}

/// What to ask the box; each is one request (see `request.rs`).
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Status,
    ConfigGet,
    ConfigPush {
        file: String,
        /// How long the box waits for `config confirm`, as given (`60s`).
        confirm: Option<String>,
        dry_run: bool,
    },
    ConfigConfirm,
    Drain {
        service: String,
        address: SocketAddr,
    },
    Enable {
        service: String,
        address: SocketAddr,
    },
    Reload,
    Reboot,
    Poweroff,
    Log {
        follow: bool,
    },
    /// `update FILE [--signature SIG]`: the new system and, when given,
    /// the file its signature is in (else `FILE.sig`, see `request.rs`).
    Update {
        file: String,
        signature: Option<String>,
    },
    Rollback,
}

fn usage(text: impl Into<String>) -> RemoteError {
    RemoteError::Usage(text.into())
}

impl Invocation {
    pub fn parse(args: &[String]) -> Result<Invocation, RemoteError> {
        let mut url = None;
        let mut fingerprint = None;
        let mut ca = None;
        let mut password_file = None;
        let mut confirm = None;
        let mut dry_run = false;
        let mut follow = false;
        let mut signature = None;
        let mut words = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |what: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| usage(format!("{arg} needs {what}")))
            };
            match arg.as_str() {
                "--url" => url = Some(value("https://IP:PORT")?),
                "--fingerprint" => fingerprint = Some(value("SHA256:HEX")?),
                "--ca" => ca = Some(value("a PEM file")?),
                "--password-file" => password_file = Some(value("a file")?),
                "--confirm" => confirm = Some(value("a time such as 60s")?),
                "--dry-run" => dry_run = true,
                "--follow" | "-f" => follow = true,
                "--signature" => signature = Some(value("a file, as `lvsinit sign` writes it")?),
                other if other.starts_with('-') && other.len() > 1 => {
                    return Err(usage(format!("unknown option {other:?}")));
                }
                word => words.push(word),
            }
        }
        let Some(url) = url else {
            return Err(usage(
                "--url https://IP:PORT is required: the box's control API",
            ));
        };
        let addr = parse_url(&url)?;
        let trust = match (fingerprint, ca) {
            (Some(_), Some(_)) => {
                return Err(usage("give --fingerprint or --ca, not both"));
            }
            (Some(f), None) => Trust::Pinned(f.parse::<Fingerprint>().map_err(usage)?),
            (None, Some(path)) => Trust::read_ca(&path)?,
            (None, None) => Trust::Nobody,
        };
        let options = Options {
            confirm,
            dry_run,
            follow,
            signature,
        };
        let command = parse_command(&words, options)?;
        Ok(Invocation {
            addr,
            trust,
            password_file,
            command,
        })
    }
}

/// `https://IP:PORT`, IPv6 in brackets, an optional `/` after it. The
/// box has no DNS name, and plain HTTP would carry the password in clear.
fn parse_url(url: &str) -> Result<SocketAddr, RemoteError> {
    let scheme_end = url.find("://").map(|i| i + 3);
    let rest = match scheme_end {
        Some(end) if url[..end].eq_ignore_ascii_case("https://") => &url[end..],
        Some(end) if url[..end].eq_ignore_ascii_case("http://") => {
            return Err(usage(format!(
                "--url {url}: use https://; the control API only speaks TLS, \
                 so that the password is never sent in clear"
            )));
        }
        _ => {
            return Err(usage(format!("--url {url}: expected https://IP:PORT")));
        }
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.parse().map_err(|_| {
        usage(format!(
            "--url {url}: expected https://IP:PORT, an IP address and a port \
             (IPv6 in brackets: https://[2001:db8::1]:8443); the box has no DNS name"
        ))
    })
}

/// The options that belong to one command each.
struct Options {
    confirm: Option<String>,
    dry_run: bool,
    follow: bool,
    signature: Option<String>,
}

fn parse_command(words: &[&str], options: Options) -> Result<Command, RemoteError> {
    let Options {
        confirm,
        dry_run,
        follow,
        signature,
    } = options;
    let command = match words {
        ["status"] => Command::Status,
        ["config", "get"] => Command::ConfigGet,
        ["config", "push", file] => {
            if let Some(c) = &confirm
                && !is_duration(c)
            {
                return Err(usage(format!(
                    "--confirm {c:?}: expected a time such as 60s, 5m or 90"
                )));
            }
            Command::ConfigPush {
                file: file.to_string(),
                confirm: confirm.clone(),
                dry_run,
            }
        }
        ["config", "push"] => return Err(usage("config push needs a FILE (a router.toml)")),
        ["config", "confirm"] => Command::ConfigConfirm,
        ["config", ..] => {
            return Err(usage("config takes get, push FILE or confirm"));
        }
        ["drain", service, address] => Command::Drain {
            service: service.to_string(),
            address: parse_real_server(address)?,
        },
        ["enable", service, address] => Command::Enable {
            service: service.to_string(),
            address: parse_real_server(address)?,
        },
        ["drain" | "enable", ..] => {
            return Err(usage(format!(
                "{} needs SERVICE and IP:PORT, the service's name and the real server",
                words[0]
            )));
        }
        ["reload"] => Command::Reload,
        ["reboot"] => Command::Reboot,
        ["poweroff"] => Command::Poweroff,
        ["log"] => Command::Log { follow },
        ["update", file] => Command::Update {
            file: file.to_string(),
            signature: signature.clone(),
        },
        ["update", ..] => {
            return Err(usage(
                "update needs one FILE, the new system (out/bzImage from image/build)",
            ));
        }
        ["rollback"] => Command::Rollback,
        [] => return Err(usage("a COMMAND is needed after the options")),
        [word, ..]
            if ["status", "reload", "reboot", "poweroff", "log", "rollback"].contains(word) =>
        {
            return Err(usage(format!(
                "{word} takes no arguments: {:?}",
                &words[1..]
            )));
        }
        [word, ..] => return Err(usage(format!("unknown command {word:?}"))),
    };
    if (confirm.is_some() || dry_run) && !matches!(command, Command::ConfigPush { .. }) {
        return Err(usage("--confirm and --dry-run go with config push"));
    }
    if follow && !matches!(command, Command::Log { .. }) {
        return Err(usage("--follow goes with log"));
    }
    if signature.is_some() && !matches!(command, Command::Update { .. }) {
        return Err(usage("--signature goes with update"));
    }
    Ok(command)
}

/// A real server as the box names it: IP:PORT or [IPv6]:PORT (port 0
/// for a fwmark service's real server).
fn parse_real_server(text: &str) -> Result<SocketAddr, RemoteError> {
    text.parse().map_err(|_| {
        usage(format!(
            "{text:?}: expected a real server as IP:PORT or [IPv6]:PORT \
             (a fwmark service's real servers have port 0: 10.0.0.7:0)"
        ))
    })
}

/// What `--confirm` takes: seconds, or a number with s, m or h.
fn is_duration(text: &str) -> bool {
    let digits = text.strip_suffix(['s', 'm', 'h']).unwrap_or(text);
    !digits.is_empty() && digits.len() <= 9 && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "SHA256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(line: &str) -> Result<Invocation, RemoteError> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        Invocation::parse(&args)
    }

    fn usage_text(line: &str) -> String {
        match parse(line) {
            Err(RemoteError::Usage(text)) => text,
            other => panic!("{line}: expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn commands() {
        let base = format!("--url https://192.0.2.1:8443 --fingerprint {PIN}");
        let cases = [
            ("status", Command::Status),
            ("config get", Command::ConfigGet),
            (
                "config push r.toml --confirm 60s",
                Command::ConfigPush {
                    file: "r.toml".into(),
                    confirm: Some("60s".into()),
                    dry_run: false,
                },
            ),
            (
                "--dry-run config push r.toml",
                Command::ConfigPush {
                    file: "r.toml".into(),
                    confirm: None,
                    dry_run: true,
                },
            ),
            ("config confirm", Command::ConfigConfirm),
            (
                "drain postgres [2001:db8::2]:5432",
                Command::Drain {
                    service: "postgres".into(),
                    address: "[2001:db8::2]:5432".parse().unwrap(),
                },
            ),
            (
                "enable marked 10.0.0.7:0",
                Command::Enable {
                    service: "marked".into(),
                    address: "10.0.0.7:0".parse().unwrap(),
                },
            ),
            ("reload", Command::Reload),
            ("reboot", Command::Reboot),
            ("poweroff", Command::Poweroff),
            ("log", Command::Log { follow: false }),
            ("log -f", Command::Log { follow: true }),
            (
                "update out/bzImage",
                Command::Update {
                    file: "out/bzImage".into(),
                    signature: None,
                },
            ),
            (
                "--signature b.sig update out/bzImage",
                Command::Update {
                    file: "out/bzImage".into(),
                    signature: Some("b.sig".into()),
                },
            ),
            ("rollback", Command::Rollback),
        ];
        for (words, command) in cases {
            let inv = parse(&format!("{base} {words}")).unwrap();
            assert_eq!(inv.command, command, "{words}");
            assert_eq!(inv.addr, "192.0.2.1:8443".parse().unwrap());
        }
        let inv = parse(&format!(
            "status --url https://[2001:db8::1]:443/ --fingerprint {PIN}"
        ))
        .unwrap();
        assert_eq!(inv.addr, "[2001:db8::1]:443".parse().unwrap());
        assert!(matches!(inv.trust, Trust::Pinned(_)));
        let inv = parse("--url HTTPS://192.0.2.1:1 --password-file p status").unwrap();
        assert!(matches!(inv.trust, Trust::Nobody));
        assert_eq!(inv.password_file.as_deref(), Some("p"));
    }

    #[test]
    fn usage_errors_say_the_fix() {
        let base = "--url https://192.0.2.1:8443";
        for (line, says) in [
            ("status".to_string(), "--url https://IP:PORT is required"),
            (
                "--url http://192.0.2.1:80 status".into(),
                "never sent in clear",
            ),
            ("--url https://lvs-a:8443 status".into(), "no DNS name"),
            (
                "--url https://192.0.2.1 status".into(),
                "an IP address and a port",
            ),
            (
                "--url https://192.0.2.1:8443/status status".into(),
                "expected https://IP:PORT",
            ),
            (
                "--url 192.0.2.1:8443 status".into(),
                "expected https://IP:PORT",
            ),
            (
                format!("{base} frobnicate"),
                "unknown command \"frobnicate\"",
            ),
            (base.to_string(), "a COMMAND is needed"),
            (format!("{base} status now"), "status takes no arguments"),
            (
                format!("{base} --verbose status"),
                "unknown option \"--verbose\"",
            ),
            (
                format!("{base} drain postgres 192.168.3.2"),
                "IP:PORT or [IPv6]:PORT",
            ),
            (
                format!("{base} drain postgres 2001:db8::2:80"),
                "IP:PORT or [IPv6]:PORT",
            ),
            (
                format!("{base} enable postgres"),
                "needs SERVICE and IP:PORT",
            ),
            (format!("{base} config push"), "needs a FILE"),
            (
                format!("{base} config push r.toml --confirm soon"),
                "--confirm \"soon\"",
            ),
            (format!("{base} config frob"), "get, push FILE or confirm"),
            (format!("{base} status --dry-run"), "go with config push"),
            (format!("{base} status --follow"), "--follow goes with log"),
            (format!("{base} log --dry-run"), "go with config push"),
            (format!("{base} update"), "update needs one FILE"),
            (format!("{base} update a b"), "update needs one FILE"),
            (
                format!("{base} update a --signature"),
                "--signature needs a file",
            ),
            (
                format!("{base} status --signature a.sig"),
                "--signature goes with update",
            ),
            (
                format!("{base} rollback now"),
                "rollback takes no arguments",
            ),
            (
                format!("{base} status --fingerprint"),
                "--fingerprint needs SHA256:HEX",
            ),
            (
                format!("{base} --fingerprint SHA256:00 status"),
                "64 hex digits",
            ),
            (
                format!("{base} --fingerprint {PIN} --ca x.pem status"),
                "not both",
            ),
        ] {
            let text = usage_text(&line);
            assert!(text.contains(says), "{line}: {text}");
        }
    }

    #[test]
    fn durations() {
        for ok in ["60s", "5m", "1h", "90"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "s", "-5s", "1.5m", "60 s", "1d", "9999999999"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }
}
