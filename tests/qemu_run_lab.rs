//! `qemu/run --lab`, run as a newcomer would: the status page answers on
//! this host's loopback through the lab's forwarder, the printed psql
//! command reaches a real server through the VIP, and quitting QEMU
//! (Ctrl-a x on its console) takes the lab down: no namespace of it left.
//!
//! Needs root, QEMU, PostgreSQL and the built image; fails, never skips.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use testkit::{netns, repo};

/// Everything the command printed, stdout and stderr together.
type Printed = Arc<(Mutex<String>, Condvar)>;

fn collect(from: impl Read + Send + 'static, into: Printed) {
    thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            eprintln!("lab| {line}");
            let (text, changed) = &*into;
            let mut text = text.lock().unwrap_or_else(|e| e.into_inner());
            text.push_str(&line);
            text.push('\n');
            changed.notify_all();
        }
    });
}

/// The first printed line containing `pattern`, waiting up to `timeout`.
fn wait_line(printed: &Printed, pattern: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let (text, changed) = &**printed;
    let mut text = text.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(line) = text.lines().find(|l| l.contains(pattern)) {
            return line.to_string();
        }
        let now = Instant::now();
        assert!(now < deadline, "no line with {pattern:?} in:\n{text}");
        text = changed
            .wait_timeout(text, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// `GET path` on `addr` (HTTP/1.0): the status code and the body.
fn get(addr: &str, path: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)
        .map_err(|e| format!("read {addr}{path}: {e}"))?;
    let code = reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line: {reply:?}"))?;
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((code, body.to_string()))
}

#[test]
fn qemu_run_lab_serves_the_status_page_on_loopback_and_goes_down_with_qemu() {
    testkit::require_root("qemu/run --lab (network namespaces)");
    let mut child = Command::new(repo().join("qemu/run"))
        .args(["--no-build", "--lab"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu/run --lab");
    let printed: Printed = Arc::default();
    collect(child.stdout.take().expect("piped"), Arc::clone(&printed));
    collect(child.stderr.take().expect("piped"), Arc::clone(&printed));
    // Until the end, a failing assertion must not leave the lab running.
    struct Kill(u32);
    impl Drop for Kill {
        fn drop(&mut self) {
            netns::kill_and_wait(&[self.0 as i32], Duration::from_secs(10));
            // Its namespaces, owner gone, and what runs in them.
            testkit::lab::remove_stale();
        }
    }
    let guard = Kill(child.id());

    let lab = wait_line(&printed, "namespaces lvslab-", Duration::from_secs(300));
    let id = lab
        .split_whitespace()
        .find(|w| w.starts_with("lvslab-"))
        .map(|w| w.trim_end_matches(':').to_string())
        .expect("the lab's id");
    let url = wait_line(&printed, "status page:", Duration::from_secs(120));
    let addr = url
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no URL in {url:?}"))
        .to_string();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "the forwarder is on loopback only: {url}"
    );
    wait_line(&printed, "ready boot_ms=", Duration::from_secs(180));

    // The page, once both real servers are checked up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let page = loop {
        match get(&addr, "/") {
            Ok((200, body))
                if ["192.168.3.2:5432", "192.168.3.3:5432"]
                    .iter()
                    .all(|rs| body.contains(&format!("<td>{rs}</td><td class=\"up\">up"))) =>
            {
                break body;
            }
            other => {
                assert!(Instant::now() < deadline, "status page: {other:?}");
                thread::sleep(Duration::from_secs(1));
            }
        }
    };
    assert!(page.contains("<html"), "{page}");
    let (code, metrics) = get(&addr, "/metrics").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code, 200);
    assert!(metrics.contains("lvsinit_real_server_up{"), "{metrics}");

    // The psql command it printed, run as printed.
    let psql = wait_line(&printed, "psql -h", Duration::ZERO);
    let out = Command::new("sh")
        .arg("-c")
        .arg(psql.trim())
        .output()
        .expect("run the printed psql command");
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && answer.trim().starts_with("192.168.3."),
        "{psql}: {answer} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Ctrl-a x quits QEMU; the lab goes down with it.
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(b"\x01x").expect("write to the console");
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for qemu/run --lab") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "qemu/run --lab still running after Ctrl-a x"
        );
        thread::sleep(Duration::from_millis(200));
    };
    std::mem::forget(guard);
    wait_line(&printed, "taking the lab down", Duration::ZERO);
    let left: Vec<String> = netns::list()
        .into_iter()
        .filter(|n| n.starts_with(&id))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    assert!(
        get(&addr, "/").is_err(),
        "the forwarder still answers after the lab went down"
    );
    eprintln!("qemu/run --lab ended: {status}");
}
