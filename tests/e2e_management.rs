//! End-to-end test of the box seen from the network (issue 11), on one
//! booted VM: the director boots from a boot partition holding
//! `testkit/configs/management-off.toml` (PostgreSQL health checks,
//! `[[syslog]]` and `[[webhook]]` towards the client namespace, no
//! `[management]`), then the operator puts `management.toml` in its place
//! (the same plus `[management] listen = ["192.168.1.1:9100"]`) and sends
//! SIGHUP.
//!
//! Checked, in order, on that one boot:
//! - syslog: the `ready` line arrives at a UDP receiver in the client
//!   namespace as an RFC 5424 message;
//! - without `[management]` the box has no listening TCP socket at all;
//! - after the reload it listens on exactly the address configured;
//! - `/metrics` passes `promtool check metrics`;
//! - a real server's PostgreSQL stopped: `lvsinit_real_server_up` goes 0,
//!   `/status` (valid against `src/management/status.schema.json`) says
//!   it is down, and after the restart `lvsinit_real_server_up` is 1 again;
//! - the webhook receiver got `config_reload`, then `real_server_down`,
//!   then `real_server_up`, in order, with the `Authorization` header;
//! - `/log`, `/` and an unknown path answer as they should.
//!
//! Needs root, QEMU, PostgreSQL 15, curl, promtool (Debian `prometheus`),
//! /usr/bin/python3 with python3-jsonschema, and a built image
//! (`image/build --test-layer`); it fails loudly, never skips, when one is
//! missing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use testkit::lab::{Lab, Vm, VmOptions};
use testkit::{config, repo};

/// How long a `-kernel` boot under TCG may take to reach `ready`.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a change may take to show: far more than fall × interval +
/// timeout (4 s), for a loaded TCG guest.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);
const API: &str = "http://192.168.1.1:9100";
/// The receivers, in the client namespace (the configs name them).
const SYSLOG_AT: &str = "192.168.1.10:5514";
const WEBHOOK_AT: &str = "192.168.1.10:8080";
/// The real server stopped and restarted.
const STOPPED: &str = "192.168.3.3";

/// What a receiver got, shared with its thread.
type Inbox = Arc<Mutex<Vec<String>>>;

/// A UDP syslog receiver: every datagram, as text.
fn syslog_receiver(lab: &Lab) -> Inbox {
    let socket = lab
        .client
        .ns()
        .run(|| UdpSocket::bind(SYSLOG_AT))
        .unwrap_or_else(|e| panic!("bind the syslog receiver on {SYSLOG_AT}: {e}"));
    let inbox = Inbox::default();
    let got = Arc::clone(&inbox);
    thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            got.lock().unwrap().push(text);
        }
    });
    inbox
}

/// A webhook receiver: each request's `Authorization` header and body,
/// as `AUTHORIZATION\nBODY`, answered 204. A plain HTTP/1.1 reader is
/// enough for the one client it serves (keep-alive, Content-Length).
fn webhook_receiver(lab: &Lab) -> Inbox {
    let listener = lab
        .client
        .ns()
        .run(|| TcpListener::bind(WEBHOOK_AT))
        .unwrap_or_else(|e| panic!("bind the webhook receiver on {WEBHOOK_AT}: {e}"));
    let inbox = Inbox::default();
    let got = Arc::clone(&inbox);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let got = Arc::clone(&got);
            thread::spawn(move || serve_webhook(stream, &got));
        }
    });
    inbox
}

fn serve_webhook(stream: TcpStream, got: &Inbox) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let (mut length, mut authorization) = (0usize, String::new());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "authorization" => authorization = value.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        got.lock().unwrap().push(format!(
            "{}\n{}",
            authorization,
            String::from_utf8_lossy(&body)
        ));
        if writer
            .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// Poll `cond` every half second until it holds, or fail after
/// [`CHANGE_TIMEOUT`] with the console.
fn wait_until(vm: &Vm, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + CHANGE_TIMEOUT;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}; console:\n{}",
            vm.console()
        );
        thread::sleep(Duration::from_millis(500));
    }
}

/// GET `path` of the API from the client namespace: the status code and
/// the body.
fn get(lab: &Lab, path: &str) -> Result<(u16, String), String> {
    let url = format!("{API}{path}");
    let out = lab.client.ns().exec(&[
        "curl",
        "-sS",
        "--max-time",
        "20",
        "-w",
        "\n%{http_code}",
        &url,
    ]);
    if !out.status.success() {
        return Err(format!(
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let code = code
        .trim()
        .parse()
        .map_err(|_| format!("no status: {text}"))?;
    Ok((code, body.to_string()))
}

/// GET `path`, which must answer 200.
fn get_ok(lab: &Lab, path: &str) -> String {
    match get(lab, path) {
        Ok((200, body)) => body,
        Ok((code, body)) => panic!("GET {path}: {code}\n{body}"),
        Err(e) => panic!("GET {path}: {e}\nconsole:\n{}", lab.vms[0].console()),
    }
}

/// `lvsinit_real_server_up` of the stopped real server, as scraped.
fn real_server_up(metrics: &str) -> Option<String> {
    let labels = format!(
        "lvsinit_real_server_up{{local_address=\"192.168.1.100\",local_mark=\"\",\
         local_port=\"5432\",proto=\"TCP\",remote_address=\"{STOPPED}\",remote_port=\"5432\",\
         service=\"pg\"}} "
    );
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&labels))
        .map(str::to_string)
}

/// The TCP sockets in LISTEN state in the VM, as `/proc/net/tcp{,6}`
/// write their local address (hex).
fn listening(vm: &Vm) -> Vec<String> {
    let out = vm.shell_ok("cat /proc/net/tcp /proc/net/tcp6");
    out.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st ...; LISTEN is 0A.
            (fields.len() > 3 && fields[3] == "0A").then(|| fields[1].to_string())
        })
        .collect()
}

/// `promtool check metrics` on a scrape: its complaints, if any.
fn promtool(dir: &Path, metrics: &str) {
    let file = dir.join("metrics.txt");
    std::fs::write(&file, metrics).expect("write the scrape");
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).expect("open the scrape"))
        .output()
        .expect("promtool is required (apt-get install prometheus)");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Validate a `/status` answer against the schema with Debian's
/// python3-jsonschema; the answer parsed.
fn valid_status(dir: &Path, body: &str) -> serde_json::Value {
    let file = dir.join("status.json");
    std::fs::write(&file, body).expect("write the answer");
    let schema = repo().join("src/management/status.schema.json");
    let script = "import json, sys, jsonschema\n\
                  schema = json.load(open(sys.argv[1]))\n\
                  jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))\n\
                  print('ok')\n";
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(&schema)
        .arg(&file)
        .output()
        .expect("/usr/bin/python3 is required (with python3-jsonschema)");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "/status does not match the schema:\n{}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(body).expect("/status is JSON")
}

/// The health of real server `address` of service `name` in a `/status`.
fn health_of(status: &serde_json::Value, name: &str, address: &str) -> String {
    let services = status["services"].as_array().expect("services");
    let service = services
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no service {name} in {status}"));
    let real = service["real_servers"]
        .as_array()
        .expect("real_servers")
        .iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("no real server {address} in {service}"));
    real["health"].as_str().expect("health").to_string()
}

/// The events the webhook receiver got, as (authorization, JSON).
fn events(inbox: &Inbox) -> Vec<(String, serde_json::Value)> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            let (auth, body) = r.split_once('\n').expect("authorization, then body");
            let json = serde_json::from_str(body)
                .unwrap_or_else(|e| panic!("webhook body is not JSON ({e}): {body}"));
            (auth.to_string(), json)
        })
        .collect()
}

fn has_event(inbox: &Inbox, name: &str, server: Option<&str>) -> bool {
    events(inbox)
        .iter()
        .any(|(_, e)| e["event"] == name && server.is_none_or(|s| e["real_server"] == s))
}

#[test]
fn the_box_seen_from_the_network() {
    let mut lab = Lab::new();
    let syslog = syslog_receiver(&lab);
    let webhooks = webhook_receiver(&lab);
    let image = lab.router_img_with(&[
        (config("management-off.toml"), "router.toml"),
        (config("management.toml"), "management.toml"),
    ]);
    let mut options = VmOptions::director(config("management-off.toml"));
    options.config = None;
    options.disk_image = Some(image);
    lab.start_vm(options);
    lab.add_real_servers(2);
    lab.vms[0]
        .wait_for("ready boot_ms=", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let vm = &lab.vms[0];

    // Syslog from boot: the `ready` line, framed as RFC 5424 (facility
    // daemon 3 x 8 + severity info 6 = PRI 30, no TIMESTAMP before NTP).
    let mut ready = None;
    wait_until(vm, "syslog has the ready line", || {
        ready = syslog
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.contains(" ready boot_ms="))
            .cloned();
        ready.is_some()
    });
    let ready = ready.unwrap();
    let rest = ready
        .strip_prefix("<30>1 - lab-mgmt lvsinit - - - ready boot_ms=")
        .unwrap_or_else(|| panic!("not an RFC 5424 message of the ready line: {ready:?}"));
    let (boot_ms, apply_ms) = rest
        .split_once(" apply_ms=")
        .unwrap_or_else(|| panic!("{ready:?}"));
    assert!(
        boot_ms.parse::<u64>().is_ok() && apply_ms.parse::<u64>().is_ok(),
        "{ready:?}"
    );

    // Without [management]: no listening socket at all.
    assert_eq!(listening(vm), Vec::<String>::new(), "a socket listens");
    assert!(get(&lab, "/metrics").is_err(), "something answers on 9100");

    // The operator adds [management] and reloads: it listens, on exactly
    // the address configured (192.168.1.1:9100 as /proc writes it).
    let mark = vm.mark();
    vm.shell_ok("mount -o remount,rw /boot && cp /boot/management.toml /boot/router.toml && sync");
    vm.shell_ok("kill -HUP 1");
    vm.wait_for_after(
        mark,
        "management: listening on 192.168.1.1:9100",
        CHANGE_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    vm.wait_for_after(mark, "reload: ", CHANGE_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listening(vm), ["0101A8C0:238C"]);
    wait_until(vm, "the webhook has the reload", || {
        has_event(&webhooks, "config_reload", None)
    });

    // /metrics: valid for promtool, with the stopped server up for now.
    let metrics = get_ok(&lab, "/metrics");
    promtool(lab.dir(), &metrics);
    for name in [
        "node_ipvs_connections_total",
        "node_ipvs_backend_weight",
        "lvsinit_config_info",
        "lvsinit_build_info",
        "process_resident_memory_bytes",
    ] {
        assert!(metrics.contains(name), "no {name} in:\n{metrics}");
    }
    assert_eq!(real_server_up(&metrics).as_deref(), Some("1"), "{metrics}");
    assert!(
        metrics.contains("lvsinit_config_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );

    // Its PostgreSQL stopped: down in /metrics, /status and the webhook.
    lab.servers[1].stop(Duration::from_secs(10));
    wait_until(vm, "lvsinit_real_server_up is 0", || {
        get(&lab, "/metrics")
            .ok()
            .and_then(|(_, m)| real_server_up(&m))
            .as_deref()
            == Some("0")
    });
    let status = valid_status(lab.dir(), &get_ok(&lab, "/status"));
    assert_eq!(health_of(&status, "pg", &format!("{STOPPED}:5432")), "down");
    assert_eq!(health_of(&status, "pg", "192.168.3.2:5432"), "up");
    assert_eq!(status["hostname"], "lab-mgmt");
    assert_eq!(status["config"]["source"], "boot");
    wait_until(vm, "the webhook has real_server_down", || {
        has_event(&webhooks, "real_server_down", Some("192.168.3.3:5432"))
    });

    // Restarted: up again.
    lab.servers[1].start();
    wait_until(vm, "lvsinit_real_server_up is 1 again", || {
        get(&lab, "/metrics")
            .ok()
            .and_then(|(_, m)| real_server_up(&m))
            .as_deref()
            == Some("1")
    });
    wait_until(vm, "the webhook has real_server_up", || {
        has_event(&webhooks, "real_server_up", Some("192.168.3.3:5432"))
    });
    let got = events(&webhooks);
    let names: Vec<&str> = got
        .iter()
        .map(|(_, e)| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["config_reload", "real_server_down", "real_server_up"],
        "{got:?}"
    );
    let seqs: Vec<u64> = got
        .iter()
        .map(|(_, e)| e["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seq grows: {seqs:?}");
    for (auth, event) in &got {
        assert_eq!(auth, "Bearer lab", "{event}");
        assert_eq!(event["host"], "lab-mgmt", "{event}");
    }
    assert_eq!(got[1].1["service"], "pg");

    // The log, the page, and a path that is not there.
    let log = get_ok(&lab, "/log");
    assert!(log.contains("ready boot_ms="), "{log}");
    assert!(
        log.contains("health: postgres 192.168.3.3:5432 down"),
        "{log}"
    );
    let page = get_ok(&lab, "/");
    assert!(
        page.contains("192.168.3.3:5432") && page.contains("<svg"),
        "{page}"
    );
    assert_eq!(get(&lab, "/nope").map(|(code, _)| code), Ok(404));
}
