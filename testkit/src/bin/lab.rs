//! `qemu/run --lab`: the classic lab for a person to look at. Two
//! PostgreSQL real servers and a client in network namespaces, the box
//! booted into them with `testkit/configs/lab.toml` (its status page on
//! 192.168.1.1:9100), a forwarder from this host's loopback into the lab
//! for a browser, and the box's console on this terminal. Quitting QEMU
//! (Ctrl-a x) takes the lab down.
//!
//! Usage: lab [--port N] (the forwarder's loopback port; default: any free
//! one, printed). Run as root, after image/build (qemu/run --lab does both).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{ExitCode, Stdio};
use std::thread;

use testkit::lab::{
    CLIENT_BRIDGE, DIRECTOR_OUTSIDE, LAN_MAC, Lab, Nic, SERVER_BRIDGE, VIP, WAN_MAC,
};
use testkit::{config, netns, repo};

/// The box's management listener (testkit/configs/lab.toml).
const STATUS_PORT: u16 = 9100;

fn main() -> ExitCode {
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(n)) if n.parse::<u16>().is_ok() => port = n.parse().unwrap_or(0),
            _ => {
                eprintln!("usage: qemu/run --lab [--port N]");
                return ExitCode::from(2);
            }
        }
    }
    // Bound first: a port in use fails before anything is built.
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lab: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    let local = listener
        .local_addr()
        .expect("a bound listener has an address");

    let mut lab = Lab::new();
    eprintln!("lab: starting two PostgreSQL real servers (192.168.3.2, 192.168.3.3)");
    lab.add_real_servers(2);
    let nics = [
        Nic {
            bridge: CLIENT_BRIDGE,
            mac: WAN_MAC.into(),
            slot: None,
        },
        Nic {
            bridge: SERVER_BRIDGE,
            mac: LAN_MAC.into(),
            slot: None,
        },
    ];
    let taps = lab.make_taps(&nics);
    let client_ns = lab.client.ns().name().to_string();
    let box_addr = SocketAddr::from((DIRECTOR_OUTSIDE, STATUS_PORT));
    {
        let client_ns = client_ns.clone();
        thread::spawn(move || forward(&listener, &client_ns, box_addr));
    }

    let line = "-".repeat(72);
    eprintln!(
        "{line}\n\
         lab: the box is booting; once it prints `ready`:\n\
         \x20 status page:  http://{local}/   (forwarded into the lab to {box_addr})\n\
         \x20 metrics:      curl http://{local}/metrics\n\
         \x20 through the VIP, from the lab's client:\n\
         \x20   ip netns exec {client_ns} psql -h {VIP} -U postgres -Atc 'select inet_server_addr()'\n\
         \x20 quit: Ctrl-a x (the lab goes down with QEMU)\n\
         {line}"
    );

    let mut qemu = lab.ns().command(repo().join("qemu/run"));
    qemu.arg("--no-build")
        .arg("--config")
        .arg(config("lab.toml"));
    for (nic, tap) in nics.iter().zip(&taps) {
        qemu.arg("--nic").arg(format!("{tap},{}", nic.mac));
    }
    qemu.stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let status = match qemu.status() {
        Ok(status) => status,
        Err(e) => {
            eprintln!("lab: cannot start qemu/run: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!("lab: QEMU ended ({status}); taking the lab down");
    drop(lab);
    match status.success() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    }
}

/// Accept on the loopback listener; each connection is joined to a new
/// connection to `to` made from inside namespace `ns`.
fn forward(listener: &TcpListener, ns: &str, to: SocketAddr) {
    for incoming in listener.incoming() {
        let Ok(outside) = incoming else { continue };
        let ns = ns.to_string();
        netns::spawn_in(&ns, move || {
            let inside = match TcpStream::connect(to) {
                Ok(s) => s,
                Err(e) => {
                    let _ = (&outside).write_all(
                        format!(
                            "HTTP/1.0 502 Bad Gateway\r\n\r\nthe box at {to} does not answer: {e}\n"
                        )
                        .as_bytes(),
                    );
                    return;
                }
            };
            let (Ok(a), Ok(b)) = (outside.try_clone(), inside.try_clone()) else {
                return;
            };
            let up = thread::spawn(move || pipe(a, b));
            pipe(inside, outside);
            let _ = up.join();
        });
    }
}

/// Copy `from` to `to` until end of file, then close `to`'s writing half.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16384];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = io::stderr().flush();
}
