//! Reading the kernel's IPVS table as the real `ipvsadm -Ln` prints it, so
//! tests can compare it with what router.toml asked for.

/// One virtual service line of `ipvsadm -Ln` and its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsService {
    /// `TCP`, `UDP`, `SCTP` or `FWM`.
    pub kind: String,
    /// `192.168.1.100:5432`, `[2001:db8::10]:5432`, or the mark for FWM
    /// (with ` IPv6` appended for an IPv6 fwmark service).
    pub key: String,
    pub scheduler: String,
    /// The rest of the line: scheduler flags, `persistent 300`, `mask ...`, `ops`.
    pub flags: String,
    pub real_servers: Vec<IpvsDest>,
}

/// One `  -> ` real server line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsDest {
    pub address: String,
    /// `Masq`, `Route`, `Tunnel` or `Local`.
    pub forward: String,
    pub weight: u32,
    pub active: u64,
    pub inactive: u64,
}

impl IpvsService {
    /// The table without its counters, one line per service or real
    /// server: `TCP 192.168.1.100:5432 rr` / `  -> 192.168.3.2:5432 Masq 1`.
    pub fn render(services: &[IpvsService]) -> String {
        let mut out = String::new();
        for s in services {
            let mut head = format!("{} {} {}", s.kind, s.key, s.scheduler);
            if !s.flags.is_empty() {
                head.push(' ');
                head.push_str(&s.flags);
            }
            out.push_str(&head);
            out.push('\n');
            for d in &s.real_servers {
                out.push_str(&format!("  -> {} {} {}\n", d.address, d.forward, d.weight));
            }
        }
        out
    }
}

/// Parse the output of `ipvsadm -Ln` (also `-Ln` with header lines).
pub fn parse(text: &str) -> Result<Vec<IpvsService>, String> {
    let mut services: Vec<IpvsService> = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty()
            || line.starts_with("IP Virtual Server")
            || words[0] == "Prot"
            || (words[0] == "->" && words.get(1) == Some(&"RemoteAddress:Port"))
        {
            continue;
        }
        if words[0] == "->" {
            let bad = || format!("bad real server line {line:?}");
            if words.len() < 6 {
                return Err(bad());
            }
            let service = services.last_mut().ok_or_else(bad)?;
            service.real_servers.push(IpvsDest {
                address: words[1].to_string(),
                forward: words[2].to_string(),
                weight: words[3].parse().map_err(|_| bad())?,
                active: words[4].parse().map_err(|_| bad())?,
                inactive: words[5].parse().map_err(|_| bad())?,
            });
            continue;
        }
        match words[0] {
            "TCP" | "UDP" | "SCTP" | "FWM" if words.len() >= 3 => {
                let (key, rest) = if words[0] == "FWM" && words[2] == "IPv6" {
                    (format!("{} IPv6", words[1]), &words[3..])
                } else {
                    (words[1].to_string(), &words[2..])
                };
                let scheduler = rest
                    .first()
                    .ok_or_else(|| format!("no scheduler in {line:?}"))?;
                services.push(IpvsService {
                    kind: words[0].to_string(),
                    key,
                    scheduler: scheduler.to_string(),
                    flags: rest[1..].join(" "),
                    real_servers: Vec::new(),
                });
            }
            _ => return Err(format!("unexpected line in ipvsadm output: {line:?}")),
        }
    }
    Ok(services)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ipvsadm_listing() {
        let text = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.1.100:5432 rr
  -> 192.168.3.2:5432             Masq    1      0          3
  -> 192.168.3.3:5432             Masq    1      2          0
TCP  192.168.1.102:5432 rr persistent 300
FWM  1 wlc
  -> 192.168.3.2:0                Route   2      0          0
";
        let services = parse(text).unwrap();
        assert_eq!(services.len(), 3);
        assert_eq!(services[0].real_servers[1].active, 2);
        assert_eq!(services[0].real_servers[0].inactive, 3);
        assert_eq!(
            IpvsService::render(&services),
            "\
TCP 192.168.1.100:5432 rr
  -> 192.168.3.2:5432 Masq 1
  -> 192.168.3.3:5432 Masq 1
TCP 192.168.1.102:5432 rr persistent 300
FWM 1 wlc
  -> 192.168.3.2:0 Route 2
"
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("sh: ipvsadm: not found").is_err());
        assert!(parse("  -> 192.168.3.2:5432 Masq 1 0 0").is_err());
    }
}
