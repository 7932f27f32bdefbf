//! An 802.1Q switch in user space, for a host kernel without VLANs: one
//! trunk port, a VM's NIC reached through QEMU's UDP socket netdev, and
//! one access port per VLAN, a tap on one of the lab's bridges.
//!
//! A tagged frame from the trunk leaves its access port untagged; a frame
//! from an access port goes to the trunk tagged with its VLAN. Untagged
//! frames from the trunk and unknown VLANs are dropped and counted, so a
//! test sees which tags the box really put on the wire.
//!
//! ```text
//!   VM NIC (trunk) ──udp 127.0.0.1── switch ── tap vl10 ── brc (client)
//!                                           └─ tap vl30 ── brs (real servers)
//! ```

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use nix::libc;

use crate::netns::{self, Netns};

const TPID: [u8; 2] = [0x81, 0x00];

/// Frames seen, by direction and VLAN.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Tagged frames from the trunk, by VLAN id (unknown ids too).
    pub from_trunk: BTreeMap<u16, u64>,
    /// Frames put on the trunk, by VLAN id.
    pub to_trunk: BTreeMap<u16, u64>,
    /// Untagged frames from the trunk, by EtherType.
    pub untagged: BTreeMap<u16, u64>,
}

/// A running switch; stopped (its thread joined) when dropped.
pub struct VlanSwitch {
    /// The `-netdev`/`-device` arguments that put a VM's NIC on the trunk.
    pub qemu_args: Vec<String>,
    counts: Arc<Mutex<Counts>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl VlanSwitch {
    /// Start a switch in `ns` (the lab namespace, where QEMU runs): a tap
    /// `vl<ID>` on each `(vlan id, bridge)`, the trunk on UDP port `port`
    /// of the namespace's loopback (QEMU's end is `port + 1`), for a NIC
    /// with `mac`.
    pub fn start(ns: &Netns, port: u16, mac: &str, vlans: &[(u16, &str)]) -> VlanSwitch {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let counts = Arc::new(Mutex::new(Counts::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let ids: Vec<u16> = vlans.iter().map(|(v, _)| *v).collect();
        let thread = {
            let (counts, stop) = (Arc::clone(&counts), Arc::clone(&stop));
            netns::spawn_in(ns.name(), move || {
                let socket = UdpSocket::bind(("127.0.0.1", port)).expect("bind the trunk's socket");
                let ports: Vec<(u16, File)> = ids
                    .iter()
                    .map(|vlan| (*vlan, open_tap(&format!("vl{vlan}"))))
                    .collect();
                ready_tx.send(()).expect("the test waits");
                run(&socket, port + 1, &ports, &counts, &stop);
            })
        };
        ready_rx.recv().expect("the switch started");
        for (vlan, bridge) in vlans {
            ns.ip(&["link", "set", &format!("vl{vlan}"), "master", bridge, "up"]);
        }
        VlanSwitch {
            qemu_args: vec![
                "-netdev".into(),
                format!(
                    "socket,id=trunk,udp=127.0.0.1:{port},localaddr=127.0.0.1:{}",
                    port + 1
                ),
                "-device".into(),
                format!("virtio-net-pci,netdev=trunk,mac={mac},romfile="),
            ],
            counts,
            stop,
            thread: Some(thread),
        }
    }

    /// The frames seen so far.
    pub fn counts(&self) -> Counts {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for VlanSwitch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Open (and so create) tap `name`, without packet information headers.
fn open_tap(name: &str) -> File {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .expect("open /dev/net/tun");
    // struct ifreq: the name, then the flags in the union.
    let mut req = [0u8; 40];
    req[..name.len()].copy_from_slice(name.as_bytes());
    let flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    req[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes a struct ifreq, which `req` is
    // big enough for; the fd is open.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF as _, req.as_mut_ptr()) };
    assert_eq!(
        rc,
        0,
        "TUNSETIFF {name}: {}",
        std::io::Error::last_os_error()
    );
    file
}

/// Move frames until `stop`; polls every 100 ms for it.
fn run(
    socket: &UdpSocket,
    qemu_port: u16,
    ports: &[(u16, File)],
    counts: &Mutex<Counts>,
    stop: &AtomicBool,
) {
    let mut fds: Vec<libc::pollfd> = std::iter::once(socket.as_raw_fd())
        .chain(ports.iter().map(|(_, f)| f.as_raw_fd()))
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut buf = vec![0u8; 65536];
    let qemu = ("127.0.0.1", qemu_port);
    while !stop.load(Ordering::SeqCst) {
        // SAFETY: `fds` is a valid array of pollfd of that length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        if n <= 0 {
            continue;
        }
        if fds[0].revents & libc::POLLIN != 0
            && let Ok(len) = socket.recv(&mut buf)
        {
            from_trunk(&buf[..len], ports, counts);
        }
        for (k, (vlan, tap)) in ports.iter().enumerate() {
            if fds[k + 1].revents & libc::POLLIN == 0 {
                continue;
            }
            let Ok(len) = (&*tap).read(&mut buf) else {
                continue;
            };
            if len < 14 {
                continue;
            }
            let mut frame = Vec::with_capacity(len + 4);
            frame.extend_from_slice(&buf[..12]);
            frame.extend_from_slice(&TPID);
            frame.extend_from_slice(&vlan.to_be_bytes());
            frame.extend_from_slice(&buf[12..len]);
            // QEMU not listening yet (still booting) loses the frame, as a
            // switch port without link would.
            let _ = socket.send_to(&frame, qemu);
            *lock(counts).to_trunk.entry(*vlan).or_insert(0) += 1;
        }
    }
}

/// One frame from the trunk: untagged onto its VLAN's tap, or counted.
fn from_trunk(frame: &[u8], ports: &[(u16, File)], counts: &Mutex<Counts>) {
    if frame.len() < 18 {
        return;
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    if ethertype != 0x8100 {
        *lock(counts).untagged.entry(ethertype).or_insert(0) += 1;
        return;
    }
    let vlan = u16::from_be_bytes([frame[14], frame[15]]) & 0x0fff;
    *lock(counts).from_trunk.entry(vlan).or_insert(0) += 1;
    if let Some((_, tap)) = ports.iter().find(|(v, _)| *v == vlan) {
        let mut out = Vec::with_capacity(frame.len() - 4);
        out.extend_from_slice(&frame[..12]);
        out.extend_from_slice(&frame[16..]);
        let _ = (&*tap).write(&out);
    }
}

fn lock(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    counts.lock().unwrap_or_else(|e| e.into_inner())
}
