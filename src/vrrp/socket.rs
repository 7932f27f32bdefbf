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

use std::io::{self, Read};
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

use nix::ifaddrs::getifaddrs;
use nix::libc;
use nix::net::if_::{InterfaceFlags, if_nametoindex};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use super::error::VrrpError;
use super::packet::{self, Advert};

/// Largest packet read: an advert with 255 addresses is 1048 bytes plus
/// the IP header; anything longer is truncated and fails its checks.
pub const RECEIVE_BUFFER: usize = 2048;

/// A VRRP socket on one interface.
#[derive(Debug)]
pub struct VrrpSocket {
    socket: Socket,
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

        let socket = Socket::new(
            Domain::IPV4,
            Type::RAW.nonblocking(),
            Some(Protocol::from(i32::from(packet::PROTOCOL))),
        )
        .map_err(|e| {
            sock_err(
                format!("opening a raw socket for IP protocol 112 (VRRP) on {ifname}"),
                e,
            )
        })?;
        let socket = VrrpSocket {
            socket,
            ifname: ifname.to_string(),
            ifindex,
            local,
            peers: peers.to_vec(),
        };
        socket.set_options()?;
        Ok(socket)
    }

    fn set_options(&self) -> Result<(), VrrpError> {
        let s = &self.socket;
        let name = &self.ifname;
        s.bind_device(Some(name.as_bytes()))
            .map_err(|e| sock_err(format!("binding the VRRP socket to {name}"), e))?;
        s.set_header_included_v4(true)
            .map_err(|e| sock_err(format!("setting IP_HDRINCL on {name}"), e))?;
        s.set_ttl_v4(u32::from(packet::TTL))
            .map_err(|e| sock_err(format!("setting TTL 255 on {name}"), e))?;
        s.set_multicast_ttl_v4(u32::from(packet::TTL))
            .map_err(|e| sock_err(format!("setting multicast TTL 255 on {name}"), e))?;
        s.set_multicast_loop_v4(false)
            .map_err(|e| sock_err(format!("turning multicast loop off on {name}"), e))?;
        self.set_multicast_interface()?;
        if self.peers.is_empty() {
            let on = InterfaceIndexOrAddress::Index(self.ifindex);
            s.join_multicast_v4_n(&packet::MULTICAST_GROUP, &on)
                .map_err(|e| sock_err(format!("joining 224.0.0.18 on {name}"), e))?;
        }
        Ok(())
    }

    /// `IP_MULTICAST_IF` our interface by index (an `ip_mreqn`, as for the
    /// membership). socket2 only sets it by address, which would also make
    /// that address the default source of the socket's multicast routes.
    fn set_multicast_interface(&self) -> Result<(), VrrpError> {
        let mreqn = libc::ip_mreqn {
            imr_multiaddr: in_addr(packet::MULTICAST_GROUP),
            imr_address: in_addr(Ipv4Addr::UNSPECIFIED),
            imr_ifindex: self.ifindex as libc::c_int,
        };
        // SAFETY: `mreqn` is a live ip_mreqn and the length passed is its
        // size, which is how the kernel tells this form of IP_MULTICAST_IF
        // from the in_addr one; setsockopt only reads it during the call.
        let rc = unsafe {
            libc::setsockopt(
                self.socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_MULTICAST_IF,
                (&raw const mreqn).cast(),
                mem::size_of::<libc::ip_mreqn>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(VrrpError::last_os(format!(
                "choosing {} for multicast",
                self.ifname
            )));
        }
        Ok(())
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
        let to = SockAddr::from(SocketAddrV4::new(dst, 0));
        self.socket.send_to(packet, &to).map_err(|e| {
            sock_err(
                format!("sending a VRRP advert to {dst} on {}", self.ifname),
                e,
            )
        })?;
        Ok(())
    }

    /// Read one packet (IP header included) without waiting:
    /// `WouldBlock` when none is queued. Returns its length.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.socket).read(buf)
    }
}

impl AsRawFd for VrrpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
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

fn sock_err(action: String, source: io::Error) -> VrrpError {
    VrrpError::Socket { action, source }
}
