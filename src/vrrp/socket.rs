//! The raw IPv4 socket VRRP speaks on: IP protocol 112 on one interface.
//!
//! - Bound to the interface (`SO_BINDTODEVICE`), so only that segment's
//!   adverts come in and ours leave only there.
//! - Joined to 224.0.0.18 on it (`IP_ADD_MEMBERSHIP` by interface index),
//!   unless unicast peers are configured.
//! - `IP_MULTICAST_IF` the interface, `IP_MULTICAST_TTL` and `IP_TTL` 255,
//!   `IP_MULTICAST_LOOP` off: we never hear ourselves.
//! - `IP_HDRINCL`: we write the IPv4 header ([`packet::build_ipv4`]) so the
//!   source address the checksum covers is the one that goes out, and TTL
//!   and TOS are what the RFC and keepalived use. The kernel still fills in
//!   the id and the header checksum.
//!
//! A raw IPv4 socket hands each received packet over with its IP header, so
//! the receiver can check the TTL and the source itself.

use std::io;
use std::mem;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::ifaddrs::getifaddrs;
use nix::libc;
use nix::net::if_::{InterfaceFlags, if_nametoindex};

use super::error::VrrpError;
use super::packet::{self, Advert};

/// Largest packet read: an advert with 255 addresses is 1048 bytes plus
/// the IP header; anything longer is truncated and fails its checks.
pub const RECEIVE_BUFFER: usize = 2048;

/// A VRRP socket on one interface.
#[derive(Debug)]
pub struct VrrpSocket {
    fd: OwnedFd,
    ifname: String,
    ifindex: u32,
    local: Ipv4Addr,
    /// Unicast peers; empty = multicast to 224.0.0.18.
    peers: Vec<Ipv4Addr>,
}

impl VrrpSocket {
    /// Open the socket on `ifname` in the current network namespace.
    ///
    /// The source address is the interface's first IPv4 address that is
    /// not in `exclude` (the virtual addresses, which a master adds to the
    /// same interface). The socket is non-blocking.
    pub fn open(
        ifname: &str,
        peers: &[Ipv4Addr],
        exclude: &[Ipv4Addr],
    ) -> Result<VrrpSocket, VrrpError> {
        let ifindex = if_nametoindex(ifname).map_err(|e| VrrpError::NoInterface {
            name: ifname.to_string(),
            source: io::Error::from(e),
        })?;
        let local = interface_ipv4(ifname, exclude)?
            .ok_or_else(|| VrrpError::NoAddress(ifname.to_string()))?;

        // SAFETY: socket() takes no pointers; the result is checked below.
        let raw = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                i32::from(packet::PROTOCOL),
            )
        };
        if raw < 0 {
            return Err(VrrpError::last_os(format!(
                "opening a raw socket for IP protocol 112 (VRRP) on {ifname}"
            )));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let socket = VrrpSocket {
            fd,
            ifname: ifname.to_string(),
            ifindex,
            local,
            peers: peers.to_vec(),
        };
        socket.set_options()?;
        Ok(socket)
    }

    fn set_options(&self) -> Result<(), VrrpError> {
        let fd = self.fd.as_raw_fd();
        let name = &self.ifname;
        let mut device = self.ifname.as_bytes().to_vec();
        device.push(0);
        // SAFETY: `device` is a NUL-terminated name that outlives the call;
        // the length passed is its length.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                device.as_ptr().cast(),
                device.len() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(VrrpError::last_os(format!(
                "binding the VRRP socket to {name}"
            )));
        }
        set_int(fd, libc::IPPROTO_IP, libc::IP_HDRINCL, 1)
            .map_err(|e| sock_err(format!("setting IP_HDRINCL on {name}"), e))?;
        set_int(fd, libc::IPPROTO_IP, libc::IP_TTL, i32::from(packet::TTL))
            .map_err(|e| sock_err(format!("setting TTL 255 on {name}"), e))?;
        set_int(
            fd,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_TTL,
            i32::from(packet::TTL),
        )
        .map_err(|e| sock_err(format!("setting multicast TTL 255 on {name}"), e))?;
        set_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, 0)
            .map_err(|e| sock_err(format!("turning multicast loop off on {name}"), e))?;
        let mreqn = self.mreqn();
        set_struct(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreqn)
            .map_err(|e| sock_err(format!("choosing {name} for multicast"), e))?;
        if self.peers.is_empty() {
            set_struct(fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreqn)
                .map_err(|e| sock_err(format!("joining 224.0.0.18 on {name}"), e))?;
        }
        Ok(())
    }

    /// The group 224.0.0.18 on our interface, by index.
    fn mreqn(&self) -> libc::ip_mreqn {
        libc::ip_mreqn {
            imr_multiaddr: in_addr(packet::MULTICAST_GROUP),
            imr_address: in_addr(Ipv4Addr::UNSPECIFIED),
            imr_ifindex: self.ifindex as libc::c_int,
        }
    }

    /// The interface's name.
    pub fn interface(&self) -> &str {
        &self.ifname
    }

    /// The source address of our adverts.
    pub fn local_address(&self) -> Ipv4Addr {
        self.local
    }

    /// The unicast peers (empty for multicast).
    pub fn peers(&self) -> &[Ipv4Addr] {
        &self.peers
    }

    /// Where adverts go: 224.0.0.18, or every unicast peer.
    pub fn destinations(&self) -> Vec<Ipv4Addr> {
        if self.peers.is_empty() {
            vec![packet::MULTICAST_GROUP]
        } else {
            self.peers.clone()
        }
    }

    /// Send `advert` to every destination, each copy checksummed for its
    /// own destination. A destination that fails does not stop the others;
    /// the first failure is returned.
    pub fn send_advert(&self, advert: &Advert) -> Result<(), VrrpError> {
        let mut first_error = None;
        for dst in self.destinations() {
            let body = advert.encode(self.local, dst);
            let packet = packet::build_ipv4(self.local, dst, packet::TTL, 0, &body);
            if let Err(e) = self.send_packet(&packet, dst) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Send a whole IPv4 packet (header included) to `dst`. Public so tests
    /// can send packets that break the rules.
    pub fn send_packet(&self, packet: &[u8], dst: Ipv4Addr) -> Result<(), VrrpError> {
        let addr = sockaddr_in(dst);
        // SAFETY: `packet` and `addr` are valid for the lengths given for the
        // duration of the call.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&addr as *const libc::sockaddr_in).cast(),
                mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(VrrpError::last_os(format!(
                "sending a VRRP advert to {dst} on {}",
                self.ifname
            )));
        }
        Ok(())
    }

    /// Read one packet (IP header included) without waiting:
    /// `WouldBlock` when none is queued. Returns its length.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of its length for the call.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl AsRawFd for VrrpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Whether `ifname` is up with a carrier (`IFF_UP` and `IFF_RUNNING`);
/// `None` when there is no such interface.
pub fn link_up(ifname: &str) -> Option<bool> {
    let addrs = getifaddrs().ok()?;
    let mut found = None;
    for a in addrs.filter(|a| a.interface_name == ifname) {
        let up = a
            .flags
            .contains(InterfaceFlags::IFF_UP | InterfaceFlags::IFF_RUNNING);
        found = Some(found.unwrap_or(false) || up);
    }
    found
}

/// The first IPv4 address of `ifname` not in `exclude`.
fn interface_ipv4(ifname: &str, exclude: &[Ipv4Addr]) -> Result<Option<Ipv4Addr>, VrrpError> {
    let addrs = getifaddrs().map_err(|e| VrrpError::Socket {
        action: format!("listing the addresses of {ifname}"),
        source: io::Error::from(e),
    })?;
    Ok(addrs
        .filter(|a| a.interface_name == ifname)
        .filter_map(|a| a.address?.as_sockaddr_in().map(|s| s.ip()))
        .find(|ip| !exclude.contains(ip)))
}

fn in_addr(ip: Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from_ne_bytes(ip.octets()),
    }
}

fn sockaddr_in(ip: Ipv4Addr) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: in_addr(ip),
        sin_zero: [0; 8],
    }
}

fn set_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    set_struct(fd, level, name, &value)
}

fn set_struct<T>(fd: RawFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the size passed; setsockopt
    // only reads it during the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn sock_err(action: String, source: io::Error) -> VrrpError {
    VrrpError::Socket { action, source }
}
