//! End-to-end test of the box seen from the network (issue 11), on one
//! booted VM: the director boots from a boot partition holding
//! `testkit/configs/management-off.toml` (PostgreSQL health checks,
//! `[[syslog]]` and `[[webhook]]` towards the client namespace, no
//! `[management]`), then the operator puts `management.toml` in its place
//! (the same plus `[management] listen = ["192.168.1.1:9100"]`) and sends
//! SIGHUP.
//!
//! Checked, in order, on that one boot:
//! - syslog: the `ready` line reaches a real rsyslog in the client
//!   namespace, by UDP (RFC 5424) and by TCP (RFC 6587 octet counting),
//!   and rsyslog parses its priority, hostname and app-name;
//! - without `[management]` the box has no listening TCP socket at all;
//! - after the reload it listens on exactly the address configured;
//! - `/metrics` passes `promtool check metrics`;
//! - a real Prometheus server scrapes the box; a real server's PostgreSQL
//!   stopped: `lvsinit_real_server_up` goes 0 (scraped directly, and by a
//!   PromQL query through Prometheus's HTTP API), `/status` (valid against
//!   `src/management/status.schema.json`) says it is down, headless
//!   Chromium renders the status page with it down (the DOM checked, a
//!   screenshot kept in `target/e2e-artifacts/`), and after the restart it
//!   is 1 again;
//! - the webhook receiver got `config_reload`, then `real_server_down`,
//!   then `real_server_up`, in order, with the `Authorization` header;
//! - a reload of an invalid file keeps the running config and says so:
//!   `/status`'s `last_apply`, the reload counters, a `config_reload`
//!   event with the diagnostics;
//! - `/log`, `/` and an unknown path answer as they should.
//!
//! Needs root, QEMU, PostgreSQL 15, curl, rsyslog, Prometheus and promtool
//! (Debian `prometheus`), Chromium, /usr/bin/python3 with
//! python3-jsonschema, and a built image
//! (`image/build --test-layer`); it fails loudly, never skips, when one is
//! missing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
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
const SYSLOG_UDP_PORT: u16 = 5514;
const SYSLOG_TCP_PORT: u16 = 5515;
const WEBHOOK_AT: &str = "192.168.1.10:8080";
/// Prometheus's HTTP API, on the client namespace's loopback.
const PROMETHEUS: &str = "127.0.0.1:9090";
/// The real server stopped and restarted.
const STOPPED: &str = "192.168.3.3";

/// What a receiver got, shared with its thread.
type Inbox = Arc<Mutex<Vec<String>>>;

/// A program run in a lab namespace, killed (by its pid) when dropped.
struct Daemon {
    name: &'static str,
    child: Child,
}

impl Daemon {
    fn start(ns: &testkit::Netns, name: &'static str, args: &[&str], log: &Path) -> Daemon {
        let log = std::fs::File::create(log).expect("create the daemon's log");
        let mut command = ns.command(name);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log"))
            .stderr(log);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} (is it installed?): {e}"));
        Daemon { name, child }
    }

    /// Fail when it has exited.
    fn running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited: {status}", self.name);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's rsyslog in the client namespace, receiving on UDP and TCP
/// and writing each message as `INPUT|PRI|HOSTNAME|APP-NAME|RAW` (what
/// it parsed, and the message as it arrived) to `syslog.txt`.
fn rsyslog(lab: &Lab) -> (Daemon, std::path::PathBuf) {
    let dir = lab.dir().join("rsyslog");
    std::fs::create_dir_all(&dir).expect("create rsyslog's dir");
    let out = dir.join("syslog.txt");
    let conf = format!(
        "global(workDirectory=\"{dir}\")\n\
         module(load=\"imudp\")\n\
         module(load=\"imtcp\")\n\
         input(type=\"imudp\" address=\"192.168.1.10\" port=\"{SYSLOG_UDP_PORT}\")\n\
         input(type=\"imtcp\" address=\"192.168.1.10\" port=\"{SYSLOG_TCP_PORT}\")\n\
         template(name=\"fields\" type=\"string\" \
         string=\"%inputname%|%pri%|%hostname%|%app-name%|%rawmsg%\\n\")\n\
         *.* action(type=\"omfile\" file=\"{out}\" template=\"fields\")\n",
        dir = dir.display(),
        out = out.display()
    );
    let conf_file = dir.join("rsyslog.conf");
    std::fs::write(&conf_file, conf).expect("write rsyslog.conf");
    let conf_arg = conf_file.display().to_string();
    let mut daemon = Daemon::start(
        lab.client.ns(),
        "rsyslogd",
        &["-n", "-iNONE", "-f", &conf_arg],
        &dir.join("rsyslogd.log"),
    );
    // Ready once both ports are open (UDP lines sent before would be lost).
    let deadline = Instant::now() + CHANGE_TIMEOUT;
    loop {
        daemon.running();
        let ss = lab.client.ns().exec(&["ss", "-Hlntu"]);
        let ss = String::from_utf8_lossy(&ss.stdout);
        let open = |port: u16| ss.contains(&format!("192.168.1.10:{port} "));
        if open(SYSLOG_UDP_PORT) && open(SYSLOG_TCP_PORT) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rsyslog did not open its ports:\n{ss}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    (daemon, out)
}

/// Debian's Prometheus in the client namespace, scraping the box every
/// second; ready when its API answers.
fn prometheus(lab: &Lab) -> Daemon {
    let dir = lab.dir().join("prometheus");
    std::fs::create_dir_all(&dir).expect("create prometheus's dir");
    let conf = dir.join("prometheus.yml");
    std::fs::write(
        &conf,
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n  - job_name: lvs\n    static_configs:\n\
         \x20     - targets: [\"192.168.1.1:9100\"]\n",
    )
    .expect("write prometheus.yml");
    let config = format!("--config.file={}", conf.display());
    let storage = format!("--storage.tsdb.path={}", dir.join("data").display());
    let listen = format!("--web.listen-address={PROMETHEUS}");
    let mut daemon = Daemon::start(
        lab.client.ns(),
        "prometheus",
        &[&config, &storage, &listen],
        &dir.join("prometheus.log"),
    );
    let deadline = Instant::now() + CHANGE_TIMEOUT;
    while curl(lab, &format!("http://{PROMETHEUS}/-/ready"), &[]).map(|(c, _)| c) != Ok(200) {
        daemon.running();
        assert!(Instant::now() < deadline, "prometheus did not get ready");
        thread::sleep(Duration::from_millis(200));
    }
    daemon
}

/// `lvsinit_real_server_up` of the stopped server, by PromQL through
/// Prometheus's HTTP API; `None` before a scrape has it.
fn promql_up(lab: &Lab) -> Option<String> {
    let query = format!("query=lvsinit_real_server_up{{remote_address=\"{STOPPED}\"}}");
    let url = format!("http://{PROMETHEUS}/api/v1/query");
    let (_, body) = curl(lab, &url, &["--get", "--data-urlencode", &query]).ok()?;
    let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
    let value = &answer["data"]["result"][0]["value"][1];
    value.as_str().map(str::to_string)
}

/// Headless Chromium in the client namespace loads the status page: the
/// DOM it rendered; a screenshot goes to `screenshot`.
fn chromium(lab: &Lab, screenshot: &Path) -> String {
    let profile = lab.dir().join("chromium");
    let profile = format!("--user-data-dir={}", profile.display());
    let flags = ["--headless", "--no-sandbox", "--disable-gpu", &profile];
    let page = format!("{API}/");
    let mut dump = lab.client.ns().command("chromium");
    dump.args(flags).args(["--dump-dom", &page]);
    let dom = testkit::cmd::output_with_timeout(&mut dump, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("chromium --dump-dom: {e}"));
    assert!(
        dom.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let shot = format!("--screenshot={}", screenshot.display());
    let mut take = lab.client.ns().command("chromium");
    take.args(flags)
        .args([&shot, "--window-size=1280,1400", &page]);
    let taken = testkit::cmd::output_with_timeout(&mut take, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("chromium --screenshot: {e}"));
    assert!(
        taken.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&taken.stderr)
    );
    String::from_utf8_lossy(&dom.stdout).into_owned()
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

/// `curl` `url` (with `args`) from the client namespace: the status code
/// and the body.
fn curl(lab: &Lab, url: &str, args: &[&str]) -> Result<(u16, String), String> {
    let mut command = vec!["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}"];
    command.extend_from_slice(args);
    command.push(url);
    let out = lab.client.ns().exec(&command);
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

/// GET `path` of the API from the client namespace.
fn get(lab: &Lab, path: &str) -> Result<(u16, String), String> {
    curl(lab, &format!("{API}{path}"), &[])
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

/// Validate a `/status` answer against the schema: [`testkit::status::valid`].
fn valid_status(dir: &Path, body: &str) -> serde_json::Value {
    testkit::status::valid(dir, body)
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
    let (_rsyslog, syslog) = rsyslog(&lab);
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

    // Syslog from boot: the `ready` line, by UDP and by TCP, framed as
    // RFC 5424 (facility daemon 3 x 8 + severity info 6 = PRI 30, no
    // TIMESTAMP before NTP) and parsed as such by rsyslog.
    for input in ["imudp", "imtcp"] {
        let mut ready = None;
        vm.wait_until(
            CHANGE_TIMEOUT,
            &format!("rsyslog ({input}) has the ready line"),
            || {
                let got = std::fs::read_to_string(&syslog).unwrap_or_default();
                ready = got
                    .lines()
                    .find(|l| l.starts_with(input) && l.contains(" ready boot_ms="))
                    .map(str::to_string);
                ready.is_some()
            },
        );
        let ready = ready.unwrap();
        let raw = ready
            .strip_prefix(&format!("{input}|30|lab-mgmt|lvsinit|"))
            .unwrap_or_else(|| panic!("rsyslog parsed it otherwise: {ready:?}"));
        let rest = raw
            .strip_prefix("<30>1 - lab-mgmt lvsinit - - - ready boot_ms=")
            .unwrap_or_else(|| panic!("not an RFC 5424 message of the ready line: {raw:?}"));
        let (boot_ms, apply_ms) = rest
            .split_once(" apply_ms=")
            .unwrap_or_else(|| panic!("{raw:?}"));
        assert!(
            boot_ms.parse::<u64>().is_ok() && apply_ms.parse::<u64>().is_ok(),
            "{raw:?}"
        );
    }

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
    vm.wait_until(CHANGE_TIMEOUT, "the webhook has the reload", || {
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

    // A real Prometheus scrapes it.
    let mut prometheus = prometheus(&lab);
    vm.wait_until(
        CHANGE_TIMEOUT,
        "Prometheus has lvsinit_real_server_up 1",
        || promql_up(&lab).as_deref() == Some("1"),
    );

    // Its PostgreSQL stopped: down in /metrics, Prometheus, /status, the
    // page and the webhook.
    lab.servers[1].stop(Duration::from_secs(10));
    vm.wait_until(CHANGE_TIMEOUT, "lvsinit_real_server_up is 0", || {
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
    vm.wait_until(
        CHANGE_TIMEOUT,
        "Prometheus has lvsinit_real_server_up 0",
        || {
            prometheus.running();
            promql_up(&lab).as_deref() == Some("0")
        },
    );
    let artifacts = repo().join("target/e2e-artifacts");
    std::fs::create_dir_all(&artifacts).expect("create target/e2e-artifacts");
    let screenshot = artifacts.join("management-status-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let dom = chromium(&lab, &screenshot);
    for row in [
        "<td>192.168.3.3:5432</td><td class=\"down\">down",
        "<td>192.168.3.2:5432</td><td class=\"up\">up",
    ] {
        assert!(dom.contains(row), "no {row} in the rendered page:\n{dom}");
    }
    let png = std::fs::read(&screenshot).expect("chromium saved no screenshot");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    eprintln!("status page screenshot: {}", screenshot.display());
    vm.wait_until(CHANGE_TIMEOUT, "the webhook has real_server_down", || {
        has_event(&webhooks, "real_server_down", Some("192.168.3.3:5432"))
    });

    // Restarted: up again.
    lab.servers[1].start();
    vm.wait_until(CHANGE_TIMEOUT, "lvsinit_real_server_up is 1 again", || {
        get(&lab, "/metrics")
            .ok()
            .and_then(|(_, m)| real_server_up(&m))
            .as_deref()
            == Some("1")
    });
    vm.wait_until(
        CHANGE_TIMEOUT,
        "Prometheus has lvsinit_real_server_up 1 again",
        || promql_up(&lab).as_deref() == Some("1"),
    );
    vm.wait_until(CHANGE_TIMEOUT, "the webhook has real_server_up", || {
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

    // A reload of a broken file: the running config stays, and every
    // place that reports on reloads says so.
    let sha256 = status["config"]["sha256"].clone();
    let mark = vm.mark();
    vm.shell_ok("echo 'hostname = 5' > /boot/router.toml && sync && kill -HUP 1");
    vm.wait_for_after(mark, "reload: the new config is invalid", CHANGE_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let status = valid_status(lab.dir(), &get_ok(&lab, "/status"));
    assert_eq!(status["last_apply"]["result"], "invalid", "{status}");
    let errors = status["last_apply"]["errors"].to_string();
    assert!(errors.contains("hostname: expected a string"), "{errors}");
    assert_eq!(
        status["config"]["sha256"], sha256,
        "the running config changed"
    );
    assert_eq!(health_of(&status, "pg", &format!("{STOPPED}:5432")), "up");
    let metrics = get_ok(&lab, "/metrics");
    for sample in [
        "lvsinit_config_reloads_total{result=\"ok\"} 1",
        "lvsinit_config_reloads_total{result=\"invalid\"} 1",
        "lvsinit_config_last_reload_successful 0",
    ] {
        assert!(metrics.contains(sample), "no {sample} in:\n{metrics}");
    }
    vm.wait_until(CHANGE_TIMEOUT, "the webhook has the invalid reload", || {
        events(&webhooks)
            .iter()
            .any(|(_, e)| e["event"] == "config_reload" && e["result"] == "invalid")
    });

    // For the record (not asserted under a VM): a scrape's time and PID
    // 1's memory after all of the above.
    let started = Instant::now();
    let scraped = get_ok(&lab, "/metrics").len();
    eprintln!(
        "a /metrics scrape ({scraped} bytes, through curl in the client namespace) took {:?}",
        started.elapsed()
    );
    let memory = vm.shell_ok("grep -E '^Vm(RSS|HWM)' /proc/1/status");
    eprintln!(
        "PID 1: {}",
        memory.split_whitespace().collect::<Vec<_>>().join(" ")
    );

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
