//! Names the kernel will take: hostnames, interface names, sysctl names.
//!
//! Checked here so a bad name is reported with its line instead of failing
//! later at boot with `EINVAL`.

use super::Scheduler;
use super::error::quote;

/// A hostname: 1..=64 characters, letters, digits, `-` and `.`, made of
/// non-empty labels that do not start with `-`.
pub(super) fn check_hostname(name: &str) -> Result<(), String> {
    let q = quote(name);
    if name.is_empty() || name.len() > 64 {
        return Err(format!("{q} must be 1 to 64 characters long"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(format!(
            "{q} contains {c:?}; a hostname has only letters, digits, '-' and '.'"
        ));
    }
    if name
        .split('.')
        .any(|label| label.is_empty() || label.starts_with('-'))
    {
        return Err(format!(
            "{q} is not a hostname: its dot-separated parts must be non-empty and not start with '-'"
        ));
    }
    Ok(())
}

/// A Linux interface name (the kernel's `dev_valid_name`): 1..=15 bytes,
/// no `/`, `:` or whitespace, not `.` or `..`.
pub(super) fn check_ifname(name: &str) -> Result<(), String> {
    let q = quote(name);
    if name.is_empty() || name.len() > 15 {
        return Err(format!(
            "{q} is not an interface name: it must be 1 to 15 characters long"
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("{q} is not an interface name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace())
    {
        return Err(format!("{q} is not an interface name: it contains {c:?}"));
    }
    Ok(())
}

/// A sysctl name as `sysctl -w` takes it: dot-separated words of
/// `[a-z0-9_-]`, at least two of them (`net.ipv4.vs.conntrack`).
/// No `/` and no empty word, so the name always stays under `/proc/sys`.
pub(super) fn check_sysctl_name(name: &str) -> Result<(), String> {
    let q = quote(name);
    let words: Vec<&str> = name.split('.').collect();
    let word_ok = |w: &&str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    if words.len() < 2 || !words.iter().all(word_ok) {
        return Err(format!(
            "{q} is not a sysctl name: expected dot-separated words of a-z, 0-9, '_' and '-', like \"net.ipv4.vs.conntrack\""
        ));
    }
    Ok(())
}

pub(super) fn parse_scheduler(text: &str) -> Result<Scheduler, String> {
    Scheduler::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = Scheduler::ALL.iter().map(|s| s.name()).collect();
        format!(
            "{} is not a scheduler; expected one of: {}",
            quote(text),
            names.join(", ")
        )
    })
}

/// An HTTP check's `path`: starting with `/`, without blanks.
pub(super) fn parse_path(text: &str) -> Result<String, String> {
    if text.starts_with('/') && !text.chars().any(char::is_whitespace) {
        return Ok(text.to_string());
    }
    Err(format!(
        "{} is not a request path; write it like \"/health\" (starting with /, no spaces)",
        quote(text)
    ))
}

/// A non-empty value without blanks or control characters (a role,
/// database or host name that goes into a request as is).
pub(super) fn plain_word(text: &str, key: &str) -> Result<String, String> {
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{} is not a valid {key}: it must be non-empty, without blanks or control \
             characters",
            quote(text)
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        for good in ["lvs-router", "a", "lvs1.example.org", &"x".repeat(64)] {
            assert_eq!(check_hostname(good), Ok(()), "{good}");
        }
        assert_eq!(
            check_hostname(""),
            Err("\"\" must be 1 to 64 characters long".into())
        );
        assert_eq!(
            check_hostname(&"x".repeat(65)),
            Err(format!(
                "{:?} must be 1 to 64 characters long",
                "x".repeat(65)
            ))
        );
        assert_eq!(
            check_hostname("lvs_router"),
            Err(
                "\"lvs_router\" contains '_'; a hostname has only letters, digits, '-' and '.'"
                    .into()
            )
        );
        for bad in ["-lvs", "lvs..x", ".lvs", "lvs."] {
            assert_eq!(
                check_hostname(bad),
                Err(format!(
                    "{bad:?} is not a hostname: its dot-separated parts must be non-empty and not start with '-'"
                ))
            );
        }
    }

    #[test]
    fn ifnames() {
        for good in ["wan", "eth0", "enp0s3", "br-lan.100", "a23456789012345"] {
            assert_eq!(check_ifname(good), Ok(()), "{good}");
        }
        assert_eq!(
            check_ifname("a234567890123456"),
            Err(
                "\"a234567890123456\" is not an interface name: it must be 1 to 15 characters long"
                    .into()
            )
        );
        assert_eq!(
            check_ifname(""),
            Err("\"\" is not an interface name: it must be 1 to 15 characters long".into())
        );
        assert_eq!(
            check_ifname(".."),
            Err("\"..\" is not an interface name".into())
        );
        assert_eq!(
            check_ifname("w an"),
            Err("\"w an\" is not an interface name: it contains ' '".into())
        );
        assert_eq!(
            check_ifname("eth0/1"),
            Err("\"eth0/1\" is not an interface name: it contains '/'".into())
        );
        assert_eq!(
            check_ifname("eth0:1"),
            Err("\"eth0:1\" is not an interface name: it contains ':'".into())
        );
    }

    #[test]
    fn sysctl_names() {
        for good in [
            "net.ipv4.vs.conntrack",
            "net.ipv4.conf.wan.rp_filter",
            "kernel.panic",
            "net.ipv4.conf.br-lan.arp_ignore",
        ] {
            assert_eq!(check_sysctl_name(good), Ok(()), "{good}");
        }
        for bad in [
            "net",
            "net..ipv4",
            "net/ipv4/ip_forward",
            "Net.ipv4",
            ".net.ipv4",
            "net.ipv4.",
            "net.ip v4",
            "../etc",
        ] {
            assert_eq!(
                check_sysctl_name(bad),
                Err(format!(
                    "{bad:?} is not a sysctl name: expected dot-separated words of a-z, 0-9, '_' and '-', like \"net.ipv4.vs.conntrack\""
                )),
                "{bad}"
            );
        }
    }
}
