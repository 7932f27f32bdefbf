//! Every ipvsadm option mapped, every warning, every error: each case is
//! imported, the output loaded by the config reader, and what it became
//! compared.

use super::super::{Warnings, interfaces, render};
use super::read;
use crate::config::{self, CheckKind, Config, Family, Forwarding, Protocol, Scheduler, ServiceKey};

/// Import `text` and load the router.toml made of it, which must be valid.
fn import(text: &str) -> (Config, String, Vec<String>) {
    let mut warnings = Warnings::default();
    let mut doc = read("rules.txt", text, &mut warnings).unwrap_or_else(|e| panic!("{e}"));
    interfaces::attach(&mut doc, &[], &mut warnings);
    let toml = render::render(&doc);
    let (config, diagnostics) =
        config::load("router.toml", &toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    // A service without real servers is a warning of check's, not ours.
    let others: Vec<_> = diagnostics
        .iter()
        .filter(|d| !d.message.starts_with("has no [[service.real_server]]"))
        .collect();
    assert!(others.is_empty(), "{others:?}\n{toml}");
    let warnings = warnings
        .into_vec()
        .iter()
        .map(ToString::to_string)
        .collect();
    (config, toml, warnings)
}

fn error(text: &str) -> String {
    let mut warnings = Warnings::default();
    match read("rules.txt", text, &mut warnings) {
        Ok(doc) => panic!("no error for {text:?}: {doc:?}"),
        Err(e) => e.to_string(),
    }
}

const CLASSIC: &str = "\
ipvsadm -A -t 192.168.1.100:5432 -s rr
ipvsadm -a -t 192.168.1.100:5432 -r 192.168.3.2:5432 -m -w 1
ipvsadm -a -t 192.168.1.100:5432 -r 192.168.3.3:5432 -m -w 1
";

#[test]
fn the_classic_setup_is_exactly_its_table() {
    let (config, toml, warnings) = import(CLASSIC);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.services.len(), 1);
    let s = &config.services[0];
    assert_eq!(
        s.key,
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            address: "192.168.1.100:5432".parse().unwrap()
        }
    );
    assert_eq!(s.scheduler, Scheduler::Rr);
    assert_eq!(s.persistence, None);
    let reals: Vec<_> = s
        .real_servers
        .iter()
        .map(|r| {
            (
                r.address.to_string(),
                r.weight,
                r.forwarding,
                r.health_check.kind.clone(),
            )
        })
        .collect();
    assert_eq!(
        reals,
        [
            (
                "192.168.3.2:5432".to_string(),
                1,
                Forwarding::Nat,
                CheckKind::None
            ),
            (
                "192.168.3.3:5432".to_string(),
                1,
                Forwarding::Nat,
                CheckKind::None
            ),
        ]
    );
    assert!(
        toml.contains("# rules.txt:1 ipvsadm -A -t 192.168.1.100:5432 -s rr\n[[service]]"),
        "{toml}"
    );
    assert!(
        toml.contains(
            "  # rules.txt:3 ipvsadm -a -t 192.168.1.100:5432 -r 192.168.3.3:5432 -m -w 1\n"
        ),
        "{toml}"
    );
    assert!(toml.contains(super::NO_CHECK), "{toml}");
}

/// ipvsadm-save -n output, as ipvsadm prints it.
#[test]
fn every_option_of_a_save_is_carried() {
    let (config, _, warnings) = import(
        "-A -t 10.0.0.1:80 -s wrr -p 600 -M 255.255.255.0\n\
         -a -t 10.0.0.1:80 -r 10.0.1.2:8080 -g -w 3 -x 100 -y 50\n\
         -a -t 10.0.0.1:80 -r 10.0.1.3:8080 -i -w 0 --tun-type ipip\n\
         -A -u 10.0.0.1:53 -s sh -b sh-port,flag-1\n\
         -a -u 10.0.0.1:53 -r 10.0.1.2 -m\n\
         --add-service --sctp-service [2001:db8::1]:9000 --scheduler mh -b mh-fallback,flag-2 --persistent\n\
         --add-server --sctp-service [2001:db8::1]:9000 --real-server [2001:db8::2]:9000 --masquerading --weight 2 --u-threshold 9 --l-threshold 3\n\
         -A -f 7 -6 -s lc\n\
         -a -f 7 -6 -r [2001:db8::9] -g\n\
         -A -f 8\n",
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    let s = &config.services;
    assert_eq!(s.len(), 5);
    assert_eq!(
        (
            s[0].scheduler,
            s[0].persistence.map(|d| d.as_secs()),
            s[0].persistence_netmask
        ),
        (Scheduler::Wrr, Some(600), Some(24))
    );
    let r = &s[0].real_servers;
    assert_eq!(
        (
            r[0].weight,
            r[0].forwarding,
            r[0].upper_threshold,
            r[0].lower_threshold
        ),
        (3, Forwarding::Direct, 100, 50)
    );
    assert_eq!((r[1].weight, r[1].forwarding), (0, Forwarding::Tunnel));
    assert!(s[1].flags.sh_port && s[1].flags.sh_fallback);
    assert_eq!(
        s[1].real_servers[0].address.to_string(),
        "10.0.1.2:53",
        "the service's port"
    );
    assert!(matches!(
        s[1].key,
        ServiceKey::Addr {
            protocol: Protocol::Udp,
            ..
        }
    ));
    assert!(s[2].flags.mh_fallback && s[2].flags.mh_port);
    assert_eq!(
        s[2].persistence.map(|d| d.as_secs()),
        Some(300),
        "-p without a value"
    );
    assert_eq!(
        (
            s[2].real_servers[0].upper_threshold,
            s[2].real_servers[0].lower_threshold
        ),
        (9, 3)
    );
    assert_eq!(
        s[3].key,
        ServiceKey::Fwmark {
            mark: 7,
            family: Family::Inet6
        }
    );
    assert_eq!(s[3].real_servers[0].address.to_string(), "[2001:db8::9]:0");
    assert_eq!(
        (s[4].scheduler, s[4].real_servers.len()),
        (Scheduler::Wlc, 0),
        "ipvsadm's default scheduler"
    );
}

#[test]
fn edits_deletes_and_clears_replay_onto_the_table() {
    let (config, toml, warnings) = import(
        "# a script\n\
         \n\
         /sbin/ipvsadm -A -t 10.0.0.9:25 -s rr\n\
         /sbin/ipvsadm -C\n\
         ipvsadm -A -t 10.0.0.1:80 -s rr\n\
         ipvsadm -a -t 10.0.0.1:80 -r 10.0.1.2:80 -m -w 1   # first\n\
         ipvsadm -a -t 10.0.0.1:80 -r 10.0.1.3:80 -m -w 1\n\
         ipvsadm -a -t 10.0.0.1:80 -r 10.0.1.4:80 -m\n\
         sudo ipvsadm -E -t 10.0.0.1:80 -s wlc -p 60\n\
         ipvsadm -e -t 10.0.0.1:80 -r 10.0.1.2:80 -m -w 5\n\
         ipvsadm -d -t 10.0.0.1:80 -r 10.0.1.3:80\n\
         ipvsadm -A -t 10.0.0.2:80\n\
         ipvsadm -D -t 10.0.0.2:80\n\
         ipvsadm -Ln\n",
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.services.len(), 1);
    let s = &config.services[0];
    assert_eq!(
        (s.scheduler, s.persistence.map(|d| d.as_secs())),
        (Scheduler::Wlc, Some(60))
    );
    let reals: Vec<_> = s
        .real_servers
        .iter()
        .map(|r| (r.address.to_string(), r.weight))
        .collect();
    assert_eq!(
        reals,
        [
            ("10.0.1.2:80".to_string(), 5),
            ("10.0.1.4:80".to_string(), 1)
        ]
    );
    assert!(
        toml.contains("rules.txt:4 /sbin/ipvsadm -C: the table was cleared here"),
        "{toml}"
    );
    assert!(toml.contains("  # rules.txt:6 ipvsadm -a -t 10.0.0.1:80 -r 10.0.1.2:80 -m -w 1\n  # rules.txt:10 ipvsadm -e"), "{toml}");
}

#[test]
fn ipvsadms_default_forwarding_is_applied_and_said() {
    let (config, toml, warnings) = import(
        "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.2:80\n-a -t 10.0.0.1:80 -r 10.0.1.3:80 -m\n",
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    let s = &config.services[0];
    assert_eq!(s.forwarding, Forwarding::Direct);
    assert_eq!(s.real_servers[1].forwarding, Forwarding::Nat);
    assert!(
        toml.contains("# no -g/-i/-m given: ipvsadm's default, direct routing (-g)"),
        "{toml}"
    );
    assert!(toml.contains("  forwarding = \"nat\""), "{toml}");
}

/// Each case: rules, then the warning printed for it, which the output
/// also holds as a LEFT OUT comment.
#[test]
fn what_cannot_be_carried_is_warned_about() {
    let cases: &[(&str, &str)] = &[
        (
            "-A -u 10.0.0.1:53 -s rr -o\n",
            "rules.txt:1: warning: -o: one-packet scheduling: router.toml has no such key",
        ),
        (
            "-A -t 10.0.0.1:80 -s rr --pe sip\n",
            "rules.txt:1: warning: --pe sip: router.toml has no such key",
        ),
        (
            "-A -t 10.0.0.1:80 -s rr -b sh-port\n",
            "rules.txt:1: warning: -b sh-port: means nothing to the rr scheduler",
        ),
        (
            "-A -t 10.0.0.1:80 -s sh -b flag-3\n",
            "rules.txt:1: warning: -b flag-3: means nothing to the sh scheduler",
        ),
        (
            "-A -t 10.0.0.1:80 -s rr -M 255.255.0.0\n",
            "rules.txt:1: warning: -M: a netmask without -p (persistence) does nothing",
        ),
        (
            "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.2 -i --tun-type gre\n",
            "rules.txt:2: warning: --tun-type gre: router.toml has no such key",
        ),
        (
            "--start-daemon master --mcast-interface eth1 --syncid 5\n",
            "rules.txt:1: warning: --start-daemon master --mcast-interface eth1 --syncid 5: the connection sync daemon is [vrrp] sync_interface",
        ),
        (
            "ipvsadm --set 900 120 300\n",
            "rules.txt:1: warning: --set 900 120 300: connection timeouts",
        ),
        (
            "echo 1 > /proc/sys/net/ipv4/ip_forward\n",
            "rules.txt:1: warning: echo: not an ipvsadm command",
        ),
    ];
    for (rules, expected) in cases {
        let (_, toml, warnings) = import(rules);
        assert_eq!(warnings.len(), 1, "{rules}: {warnings:?}");
        assert!(
            warnings[0].starts_with(expected),
            "{rules}: {}",
            warnings[0]
        );
        let keyword = expected.split(": ").nth(2).unwrap();
        assert!(
            toml.contains(&format!(
                "# LEFT OUT rules.txt:{} {keyword}: ",
                expected.split(':').nth(1).unwrap()
            )),
            "{rules}:\n{toml}"
        );
    }
}

#[test]
fn unreadable_lines_are_errors_with_their_line() {
    let cases: &[(&str, &str)] = &[
        (
            "-A -t 10.0.0.1:http -s rr\n",
            "rules.txt:1: error: -t 10.0.0.1:http: \"http\" is a name, not a port number",
        ),
        (
            "\n-A -t www.example.org:80 -s rr\n",
            "rules.txt:2: error: -t www.example.org:80: \"www.example.org\" is a name, not an address",
        ),
        (
            "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r web1:80 -m\n",
            "rules.txt:2: error: -r web1:80: \"web1\" is a name",
        ),
        (
            "-A -t 10.0.0.1:80 -s roundrobin\n",
            "rules.txt:1: error: -s \"roundrobin\" is not a scheduler",
        ),
        (
            "-A -t 10.0.0.1:80 --frobnicate\n",
            "rules.txt:1: error: \"--frobnicate\" is not an ipvsadm option",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.2:80\n",
            "rules.txt:1: error: no such service (add it with -A first)",
        ),
        (
            "-A -t 10.0.0.1:80\n-A -t 10.0.0.1:80\n",
            "rules.txt:2: error: this service was already added",
        ),
        (
            "-A -t 10.0.0.1:80 -w\n",
            "rules.txt:1: error: -w needs a value",
        ),
        ("-A -s rr\n", "rules.txt:1: error: -A needs a service"),
        ("-t 10.0.0.1:80\n", "rules.txt:1: error: no command"),
        (
            "-A -t 10.0.0.1:80 -p 300 -M 255.0.255.0\n",
            "rules.txt:1: error: -M \"255.0.255.0\" is not a netmask",
        ),
        (
            "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.2:80 -w heavy\n",
            "rules.txt:2: error: -w \"heavy\": expected a number",
        ),
    ];
    for (rules, expected) in cases {
        let e = error(rules);
        assert!(e.starts_with(expected), "{rules}: {e}");
    }
}
