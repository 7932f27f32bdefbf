//! keepalived.conf keywords mapped, warned about and refused: each case is
//! written to a file, imported, and the router.toml made of it loaded by
//! the config reader.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::super::{GivenInterface, Options, Warnings, interfaces, render};
use super::read;
use crate::config::{
    self, CheckKind, Config, Family, Forwarding, OnFailure, Protocol, Scheduler, ServiceKey,
};

/// A directory of its own for each case.
fn dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("lvsinit-keepalived-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn options(interfaces: &[&str], config_id: Option<&str>) -> Options {
    Options {
        interfaces: interfaces
            .iter()
            .map(|i| GivenInterface::parse(i).unwrap())
            .collect(),
        config_id: config_id.map(str::to_string),
    }
}

/// Import `conf` (with these other files beside it); the toml and the
/// warnings as printed, file names relative to the case's directory.
fn import_files(
    files: &[(&str, &str)],
    options: &Options,
) -> Result<(String, Vec<String>), String> {
    let dir = dir();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let mut warnings = Warnings::default();
    let main = dir.join(files[0].0);
    let mut doc = read(&main, options, &mut warnings)
        .map_err(|e| e.to_string().replace(&format!("{}/", dir.display()), ""))?;
    interfaces::attach(&mut doc, &options.interfaces, &mut warnings);
    let strip = |s: String| s.replace(&format!("{}/", dir.display()), "");
    let toml = strip(render::render(&doc));
    let warnings = warnings
        .into_vec()
        .iter()
        .map(|w| strip(w.to_string()))
        .collect();
    Ok((toml, warnings))
}

/// Import and load: the output must pass check.
fn import(conf: &str, interfaces: &[&str]) -> (Config, String, Vec<String>) {
    let (toml, warnings) = import_files(&[("keepalived.conf", conf)], &options(interfaces, None))
        .unwrap_or_else(|e| panic!("{e}"));
    let (config, _) = config::load("router.toml", &toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    (config, toml, warnings)
}

const FULL: &str = r#"
global_defs {
    router_id lvs-a
    vrrp_version 3
    lvs_sync_daemon eth1 VI_1 id 7
}

vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.5
    nopreempt
    preempt_delay 30
    unicast_peer {
        192.168.1.3
    }
    track_interface {
        eth0
    }
    virtual_ipaddress {
        192.168.1.100/24
        192.168.3.1/24 dev eth1
        192.168.1.101
    }
}

virtual_server 192.168.1.100 5432 {
    delay_loop 2
    lb_algo sh
    sh-port
    flag-1
    lb_kind NAT
    persistence_timeout 600
    persistence_granularity 255.255.255.0
    protocol TCP
    sorry_server 192.168.3.9 5432

    real_server 192.168.3.2 5432 {
        weight 3
        uthreshold 100
        lthreshold 50
        TCP_CHECK {
            connect_port 5433
            connect_timeout 1.5
            retry 2
            delay_before_retry 1
        }
    }
    real_server 192.168.3.3 5432 {
        inhibit_on_failure
        lvs_method DR
        HTTP_GET {
            url {
                path /health
                status_code 204
            }
            virtualhost db.example.org
            nb_get_retry 0
        }
    }
    real_server 192.168.3.4 5432 {
        weight 0
    }
}

virtual_server fwmark 7 {
    ip_family inet6
    lb_algo mh
    mh-fallback
    flag-2
    lb_kind TUN
    protocol TCP
    real_server 2001:db8::2 80 {
        TCP_CHECK {
        }
    }
}

virtual_server_group web {
    10.0.0.1-3 80
    fwmark 9
}

virtual_server group web {
    protocol UDP
    lb_algo wrr
    lb_kind DR
    persistence_timeout
    real_server 10.0.1.2 80 {
    }
}
"#;

#[test]
fn every_keyword_mapped_lands_in_router_toml() {
    let (c, toml, warnings) = import(FULL, &["eth0=192.168.1.2/24", "eth1=192.168.3.252/24"]);
    assert!(warnings.is_empty(), "{warnings:#?}\n{toml}");
    assert_eq!(c.hostname, "lvs-a");
    assert_eq!(
        c.interfaces
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>(),
        ["eth0", "eth1"]
    );
    let v = c.vrrp.as_ref().unwrap();
    assert_eq!(
        (v.interface.as_str(), v.virtual_router_id, v.priority),
        ("eth0", 51, 150)
    );
    assert_eq!(
        (v.advert_interval, v.preempt, v.preempt_delay),
        (Duration::from_millis(500), false, Duration::from_secs(30))
    );
    assert_eq!(
        v.unicast_peers,
        ["192.168.1.3".parse::<std::net::IpAddr>().unwrap()]
    );
    let vips: Vec<_> = v
        .virtual_addresses
        .iter()
        .map(|a| format!("{} {}", a.interface, a.address))
        .collect();
    assert_eq!(
        vips,
        [
            "eth0 192.168.1.100/24",
            "eth1 192.168.3.1/24",
            "eth0 192.168.1.101/32"
        ]
    );
    assert_eq!((v.sync_interface.as_deref(), v.sync_id), (Some("eth1"), 7));

    let s = &c.services;
    assert_eq!(s.len(), 6, "{toml}");
    let pg = &s[0];
    assert_eq!(
        pg.key,
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            address: "192.168.1.100:5432".parse().unwrap()
        }
    );
    assert_eq!(
        (pg.scheduler, pg.flags.sh_port, pg.flags.sh_fallback),
        (Scheduler::Sh, true, true)
    );
    assert_eq!(
        (pg.forwarding, pg.persistence, pg.persistence_netmask),
        (Forwarding::Nat, Some(Duration::from_secs(600)), Some(24))
    );
    assert_eq!(pg.sorry_server, Some("192.168.3.9:5432".parse().unwrap()));
    let [a, b, z] = &pg.real_servers[..] else {
        panic!("{toml}")
    };
    assert_eq!(
        (a.weight, a.upper_threshold, a.lower_threshold, a.forwarding),
        (3, 100, 50, Forwarding::Nat)
    );
    let ac = &a.health_check;
    assert_eq!(
        (ac.kind.clone(), ac.port, ac.interval, ac.timeout),
        (
            CheckKind::Tcp,
            Some(5433),
            Duration::from_secs(2),
            Duration::from_millis(1500)
        )
    );
    assert_eq!((ac.fall, ac.rise, ac.on_failure), (3, 1, OnFailure::Remove));
    assert_eq!((b.weight, b.forwarding), (1, Forwarding::Direct));
    let bc = &b.health_check;
    assert_eq!(
        bc.kind,
        CheckKind::Http {
            path: "/health".into(),
            host: Some("db.example.org".into()),
            status: 204
        }
    );
    assert_eq!(
        (bc.fall, bc.rise, bc.on_failure, bc.timeout),
        (1, 1, OnFailure::Quiesce, Duration::from_secs(5))
    );
    assert_eq!(
        (z.weight, z.health_check.kind.clone()),
        (0, CheckKind::None)
    );

    let fw = &s[1];
    assert_eq!(
        fw.key,
        ServiceKey::Fwmark {
            mark: 7,
            family: Family::Inet6
        }
    );
    assert_eq!(
        (
            fw.scheduler,
            fw.flags.mh_fallback,
            fw.flags.mh_port,
            fw.forwarding
        ),
        (Scheduler::Mh, true, true, Forwarding::Tunnel)
    );
    assert_eq!(
        fw.real_servers[0].health_check.interval,
        Duration::from_secs(60),
        "keepalived's delay_loop"
    );

    let group: Vec<_> = s[2..]
        .iter()
        .map(|s| (s.key, s.scheduler, s.persistence))
        .collect();
    let udp = |a: &str| ServiceKey::Addr {
        protocol: Protocol::Udp,
        address: a.parse().unwrap(),
    };
    let p = Some(Duration::from_secs(360));
    assert_eq!(
        group,
        [
            (udp("10.0.0.1:80"), Scheduler::Wrr, p),
            (udp("10.0.0.2:80"), Scheduler::Wrr, p),
            (udp("10.0.0.3:80"), Scheduler::Wrr, p),
            (
                ServiceKey::Fwmark {
                    mark: 9,
                    family: Family::Inet
                },
                Scheduler::Wrr,
                p
            ),
        ]
    );
    assert!(
        toml.contains("# keepalived.conf:28 virtual_server 192.168.1.100 5432\n"),
        "{toml}"
    );
    assert!(
        toml.contains(
            "# keepalived.conf:85 virtual_server group web\n# keepalived.conf:81 10.0.0.1-3 80\n"
        ),
        "{toml}"
    );
    assert!(toml.contains("fall = retry 2 + 1"), "{toml}");
    assert!(
        toml.contains("keepalived.conf:19 eth0: carried: [vrrp] goes to FAULT while eth0 is down"),
        "{toml}"
    );
}

#[test]
fn keepalived_defaults_are_carried_and_said() {
    let (c, toml, warnings) = import(
        "virtual_server 10.0.0.1 53 {\n  real_server 10.0.1.2 53 {\n    TCP_CHECK {\n    }\n  }\n}\n",
        &[],
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    let s = &c.services[0];
    assert_eq!(
        (s.scheduler, s.forwarding),
        (Scheduler::Wlc, Forwarding::Nat)
    );
    assert!(matches!(
        s.key,
        ServiceKey::Addr {
            protocol: Protocol::Udp,
            ..
        }
    ));
    let h = &s.real_servers[0].health_check;
    assert_eq!(
        (h.interval, h.timeout, h.fall, h.rise, h.on_failure),
        (
            Duration::from_secs(60),
            Duration::from_secs(5),
            2,
            1,
            OnFailure::Remove
        )
    );
    assert!(
        toml.contains("no protocol: keepalived's default, UDP"),
        "{toml}"
    );
    assert!(
        toml.contains("# no lb_kind: keepalived's default, NAT"),
        "{toml}"
    );
}

#[test]
fn includes_conditionals_and_parameters_are_read_as_keepalived_does() {
    let files = [
        (
            "keepalived.conf",
            "$VIP=10.0.0.1\n$PORT=80\n@lvs-a $WEIGHT=3\n@^lvs-a $WEIGHT=1\ninclude conf.d/*.conf\n",
        ),
        ("vs.conf", "unused\n"),
    ];
    let dir_files = [
        (
            "conf.d/a.conf",
            "virtual_server $VIP ${PORT} {\n  protocol TCP\n  real_server 10.0.1.2 $PORT {\n    weight $WEIGHT\n  }\n",
        ),
        ("conf.d/b.conf", "}  ! closes a.conf's block\n"),
        ("conf.d/c.txt", "not included\n"),
    ];
    let read_with = |id: Option<&str>| {
        let dir = dir();
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        for (name, text) in files.iter().chain(&dir_files) {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let mut warnings = Warnings::default();
        let doc = read(
            &dir.join("keepalived.conf"),
            &options(&[], id),
            &mut warnings,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let toml = render::render(&doc);
        let (c, _) = config::load("router.toml", &toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        (
            c,
            toml.replace(&format!("{}/", dir.display()), ""),
            warnings.into_vec(),
        )
    };
    let (c, toml, warnings) = read_with(Some("lvs-a"));
    assert!(warnings.is_empty(), "{warnings:?}");
    let s = &c.services[0];
    assert_eq!(
        s.key,
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            address: "10.0.0.1:80".parse().unwrap()
        }
    );
    assert_eq!(s.real_servers[0].weight, 3);
    assert!(
        toml.contains("# conf.d/a.conf:1 virtual_server 10.0.0.1 80\n"),
        "{toml}"
    );
    let (c, _, _) = read_with(Some("lvs-b"));
    assert_eq!(c.services[0].real_servers[0].weight, 1);
    let (c, _, warnings) = read_with(None);
    assert_eq!(
        c.services[0].real_servers[0].weight, 1,
        "@^lvs-a kept, @lvs-a left out"
    );
    let said: Vec<_> = warnings
        .iter()
        .map(|w| (w.line, w.keyword.as_str()))
        .collect();
    assert_eq!(said, [(3, "@lvs-a"), (4, "@^lvs-a")]);
}

/// Each case: a keepalived.conf, and the start of the one warning it
/// gives; the output holds it as a LEFT OUT comment and still loads.
#[test]
fn what_cannot_be_carried_is_warned_about() {
    let vs = |inner: &str| {
        format!("virtual_server 10.0.0.1 80 {{\n protocol TCP\n lb_kind NAT\n{inner}\n}}\n")
    };
    let rs = |inner: &str| vs(&format!(" real_server 10.0.1.2 80 {{\n{inner}\n }}"));
    let vi = |inner: &str| {
        format!(
            "global_defs {{\n vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {{\n  10.0.0.1/24\n }}\n{inner}\n}}\n"
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (rs(" MISC_CHECK {\n  misc_path /bin/true\n }"), "keepalived.conf:5: warning: MISC_CHECK: scripts are not run: no equivalent"),
        (rs(" SMTP_CHECK {\n }"), "keepalived.conf:5: warning: SMTP_CHECK: no SMTP check: no equivalent"),
        (rs(" DNS_CHECK {\n }"), "keepalived.conf:5: warning: DNS_CHECK: no equivalent check"),
        (rs(" SSL_GET {\n  url {\n   path /\n   status_code 200\n  }\n }"), "keepalived.conf:5: warning: SSL_GET: TLS is not spoken by checks here"),
        (rs(" TCP_CHECK {\n }\n HTTP_GET {\n  url {\n   path /\n   status_code 200\n  }\n }"), "keepalived.conf:7: warning: HTTP_GET: keepalived wants every checker to pass"),
        (rs(" HTTP_GET {\n  url {\n   path /\n  }\n }"), "keepalived.conf:6: warning: status_code: keepalived accepts any 2xx"),
        (rs(" HTTP_GET {\n  url {\n   path /\n   status_code 200-299\n  }\n }"), "keepalived.conf:8: warning: status_code: a check wants one status here: 200"),
        (rs(" HTTP_GET {\n  url {\n   path /\n   status_code 200\n   digest 9b3a0c85a887a256d6939da88aabd8cd\n  }\n }"), "keepalived.conf:9: warning: digest: the body is not hashed"),
        (rs(" HTTP_GET {\n  url {\n   path /\n   status_code 200\n  }\n  url {\n   path /b\n   status_code 200\n  }\n }"), "keepalived.conf:10: warning: url: a check GETs one path here"),
        (rs(" TCP_CHECK {\n  connect_ip 10.0.1.9\n }"), "keepalived.conf:6: warning: connect_ip: a check always probes"),
        (rs(" TCP_CHECK {\n  bindto 10.0.0.2\n }"), "keepalived.conf:6: warning: bindto: probes go out from"),
        (rs(" notify_down /bin/alert"), "keepalived.conf:5: warning: notify_down: scripts are not run; a [[webhook]]"),
        (rs(" frobnicate 1"), "keepalived.conf:5: warning: frobnicate: not a real_server keyword"),
        (vs(" ops\n real_server 10.0.1.2 80 {\n }"), "keepalived.conf:4: warning: ops: one-packet scheduling"),
        (vs(" quorum 2\n real_server 10.0.1.2 80 {\n }"), "keepalived.conf:4: warning: quorum: no quorum"),
        (vs(" alpha\n real_server 10.0.1.2 80 {\n }"), "keepalived.conf:4: warning: alpha: real servers start as up"),
        (vs(" persistence_engine sip\n real_server 10.0.1.2 80 {\n }"), "keepalived.conf:4: warning: persistence_engine: router.toml has no"),
        (vs(" lb_algo rr\n sh-port\n real_server 10.0.1.2 80 {\n }"), "keepalived.conf:5: warning: sh-port: means nothing to the rr scheduler"),
        (vs(" flag-3\n real_server 10.0.1.2 80 {\n }"), "keepalived.conf:4: warning: flag-3: this scheduler flag"),
        (vs(" sorry_server 10.0.1.9 80\n sorry_server_lvs_method DR\n real_server 10.0.1.2 80 {\n }"), "keepalived.conf:5: warning: sorry_server_lvs_method: the sorry server"),
        (vs(""), "keepalived.conf:1: warning: virtual_server: keepalived ignores a virtual_server with no real_server"),
        (vi(" state MASTER"), "keepalived.conf:10: warning: state MASTER: the starting state"),
        (vi(" authentication {\n  auth_type PASS\n }"), "keepalived.conf:10: warning: authentication: VRRPv3 has no authentication"),
        (vi(" notify_master /bin/up"), "keepalived.conf:10: warning: notify_master: scripts are not run; a [[webhook]]"),
        (vi(" track_script {\n  chk\n }"), "keepalived.conf:10: warning: track_script: scripts are not run"),
        (vi(" track_interface {\n  eth2\n }"), "keepalived.conf:11: warning: track_interface eth2: only the advert interface"),
        (vi(" unicast_src_ip 10.0.0.2"), "keepalived.conf:10: warning: unicast_src_ip: adverts go out"),
        (vi(" garp_master_delay 5"), "keepalived.conf:10: warning: garp_master_delay: a vrrp_instance setting"),
        (vi(" virtual_ipaddress_excluded {\n  10.0.0.7 label eth0:7\n }"), "keepalived.conf:11: warning: label eth0:7: an address option"),
        (vi(" virtual_ipaddress_excluded {\n  2001:db8::1/64\n }"), "keepalived.conf:11: warning: 2001:db8::1/64: [vrrp] moves IPv4 addresses only"),
        (vi(" virtual_ipaddress_excluded {\n  10.0.0.1\n }"), "keepalived.conf:11: warning: 10.0.0.1: already listed at line 8"),
        (vi("}\nvrrp_instance VI_2 {\n interface eth0\n virtual_router_id 52"), "keepalived.conf:11: warning: vrrp_instance VI_2: one [vrrp] instance per box"),
        (vi("}\nvrrp_instance VI_2 {\n interface eth0\n virtual_router_id 52\n priority 50\n}\nvrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n }"), "keepalived.conf:11: warning: vrrp_instance VI_2: in vrrp_sync_group G with VI_1, but with another priority"),
        ("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  10.0.0.1/24\n }\n}\n".to_string(), "keepalived.conf:1: warning: vrrp_version: keepalived speaks VRRPv2"),
        ("global_defs {\n vrrp_version 2\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  10.0.0.1/24\n }\n}\n".to_string(), "keepalived.conf:2: warning: vrrp_version: keepalived speaks VRRPv2"),
        ("global_defs {\n lvs_sync_daemon eth1\n}\n".to_string(), "keepalived.conf:2: warning: lvs_sync_daemon: no vrrp_instance"),
        ("global_defs {\n router_id LVS_DEVEL\n}\n".to_string(), "keepalived.conf:2: warning: router_id: not a host name"),
        ("global_defs {\n notification_email {\n  a@b\n }\n}\n".to_string(), "keepalived.conf:2: warning: notification_email: no e-mail alerts"),
        ("global_defs {\n enable_script_security\n}\n".to_string(), "keepalived.conf:2: warning: enable_script_security: scripts are not run"),
        ("global_defs {\n max_auto_priority\n}\n".to_string(), "keepalived.conf:2: warning: max_auto_priority: a global setting"),
        ("vrrp_script chk {\n script /bin/true\n}\n".to_string(), "keepalived.conf:1: warning: vrrp_script: scripts are not run"),
        ("static_ipaddress {\n 10.0.0.2/24 dev eth0\n}\n".to_string(), "keepalived.conf:1: warning: static_ipaddress: the box's own addresses come from --interface"),
        ("static_routes {\n 0.0.0.0/0 via 10.0.0.254\n}\n".to_string(), "keepalived.conf:1: warning: static_routes: routes are [[route]]"),
        ("linkbeat_use_polling\n".to_string(), "keepalived.conf:1: warning: linkbeat_use_polling: a top-level keepalived section"),
        ("include conf.d/*.conf\n".to_string(), "keepalived.conf:1: warning: include conf.d/*.conf: no file matches"),
    ];
    for (conf, expected) in &cases {
        let (toml, warnings) = import_files(
            &[("keepalived.conf", conf)],
            &options(&["eth0=10.0.0.2/24"], None),
        )
        .unwrap_or_else(|e| panic!("{conf}\n{e}"));
        assert_eq!(warnings.len(), 1, "{conf}\n{warnings:#?}");
        assert!(warnings[0].starts_with(expected), "{conf}\n{}", warnings[0]);
        let keyword = expected.split(": ").nth(2).unwrap();
        let line = expected.split(':').nth(1).unwrap();
        assert!(
            toml.contains(&format!("# LEFT OUT keepalived.conf:{line} {keyword}: ")),
            "{conf}\n{toml}"
        );
        config::load("router.toml", &toml).unwrap_or_else(|e| panic!("{conf}\n{e}\n{toml}"));
    }
}

#[test]
fn a_named_interface_without_addresses_is_warned_and_fails_check_only_there() {
    let conf = "global_defs {\n vrrp_version 3\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  10.0.0.1/24 dev eth1\n }\n}\n";
    let (toml, warnings) = import_files(
        &[("keepalived.conf", conf)],
        &options(&["eth1=10.0.1.2/24"], None),
    )
    .unwrap();
    assert_eq!(
        warnings,
        [
            "keepalived.conf:5: warning: eth0: this box's own address on eth0 is not in the source; give it with --interface eth0=CIDR"
        ]
    );
    let errors = config::load("router.toml", &toml).unwrap_err().to_string();
    assert_eq!(errors.lines().count(), 1, "{errors}");
    assert!(
        errors.contains("vrrp.interface: \"eth0\" has no IPv4 address of its own"),
        "{errors}"
    );
}

#[test]
fn unreadable_files_are_errors_with_their_line() {
    let cases: &[(&str, &str)] = &[
        (
            "virtual_server 10.0.0.1 80 {\n",
            "keepalived.conf:1: error: virtual_server { is never closed",
        ),
        ("}\n", "keepalived.conf:1: error: a } that closes no block"),
        (
            "virtual_server $VIP 80 {\n}\n",
            "keepalived.conf:1: error: $VIP is not defined",
        ),
        (
            "include missing.conf\nvirtual_server 10.0.0.1 80 {\n lb_algo fastest\n}\n",
            "keepalived.conf:3: error: \"fastest\" is not a scheduler",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n lb_kind MAGIC\n}\n",
            "keepalived.conf:2: error: \"MAGIC\" is not NAT, DR or TUN",
        ),
        (
            "virtual_server www 80 {\n}\n",
            "keepalived.conf:1: error: \"www\" is not an IP address",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n real_server 10.0.1.2 80 {\n  weight heavy\n }\n}\n",
            "keepalived.conf:3: error: weight \"heavy\": expected a weight",
        ),
        (
            "virtual_server group nope {\n}\n",
            "keepalived.conf:1: error: virtual_server_group nope is not defined",
        ),
        (
            "vrrp_instance VI_1 {\n virtual_router_id 51\n}\n",
            "keepalived.conf:1: error: vrrp_instance VI_1 has no interface",
        ),
        (
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 300\n}\n",
            "keepalived.conf:3: error: virtual_router_id \"300\": expected a router id, 1 to 255",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n real_server 10.0.1.2 80 {\n  HTTP_GET {\n  }\n }\n}\n",
            "keepalived.conf:3: error: HTTP_GET needs a url",
        ),
        (
            "notification_email \"a@b\n",
            "keepalived.conf:1: error: a \" without its closing \"",
        ),
    ];
    for (conf, expected) in cases {
        let e = import_files(&[("keepalived.conf", conf)], &Options::default()).unwrap_err();
        assert!(e.starts_with(expected), "{conf}\n{e}");
    }
    let e = import_files(
        &[
            ("keepalived.conf", "include loop.conf\n"),
            ("loop.conf", "include loop.conf\n"),
        ],
        &Options::default(),
    )
    .unwrap_err();
    assert!(
        e.starts_with("loop.conf:1: error: includes nest deeper than 16"),
        "{e}"
    );
}

#[test]
fn a_sync_groups_agreeing_instances_become_one_vrrp() {
    let conf = "\
global_defs {
    vrrp_version 3
}
vrrp_sync_group G {
    group {
        VI_WAN
        VI_LAN
    }
}
vrrp_instance VI_WAN {
    interface eth0
    virtual_router_id 51
    priority 150
    virtual_ipaddress {
        192.168.1.100/24
    }
}
vrrp_instance VI_LAN {
    interface eth1
    virtual_router_id 52
    priority 150
    lvs_sync_daemon_interface eth1
    virtual_ipaddress {
        192.168.3.1/24
    }
}
";
    let (c, toml, warnings) = import(conf, &["eth0=192.168.1.2/24", "eth1=192.168.3.252/24"]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let v = c.vrrp.unwrap();
    assert_eq!((v.interface.as_str(), v.virtual_router_id), ("eth0", 51));
    let vips: Vec<_> = v
        .virtual_addresses
        .iter()
        .map(|a| format!("{} {}", a.interface, a.address))
        .collect();
    assert_eq!(vips, ["eth0 192.168.1.100/24", "eth1 192.168.3.1/24"]);
    assert_eq!(v.sync_interface.as_deref(), Some("eth1"));
    assert!(
        toml.contains("keepalived.conf:18 vrrp_instance VI_LAN: merged: vrrp_sync_group G"),
        "{toml}"
    );
}
