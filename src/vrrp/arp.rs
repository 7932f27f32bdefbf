//! Gratuitous ARP: telling the segment that a virtual address now lives at
//! this director's MAC, so clients and the router in front stop sending to
//! the old master at once instead of when their ARP cache expires.
//!
//! Each announcement is an ARP request for the address from the address
//! itself (sender and target protocol address both the VIP, target MAC
//! zero), broadcast, as keepalived and RFC 5227 §2.3 do. Hosts that have
//! the address in their cache update it; nobody answers.
//!
//! A new master should [`announce`] right away and once more
//! [`REPEAT_AFTER`] later (a switch or peer that was busy relearning the
//! first time hears the second); [`announce_twice`] does both.

use std::io;
use std::mem;
use std::net::Ipv4Addr;
use std::time::Duration;

use nix::ifaddrs::getifaddrs;
use nix::libc;
use nix::net::if_::if_nametoindex;
use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};

use super::error::VrrpError;

/// Copies of each announcement in one burst.
pub const BURST: usize = 3;

/// When the second burst goes out after the first.
pub const REPEAT_AFTER: Duration = Duration::from_secs(2);

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IP: u16 = 0x0800;
const BROADCAST: [u8; 6] = [0xff; 6];

/// Send one burst of gratuitous ARP for each of `addrs` on `ifname`.
pub fn announce(ifname: &str, addrs: &[Ipv4Addr]) -> Result<(), VrrpError> {
    if addrs.is_empty() {
        return Ok(());
    }
    let ifindex = if_nametoindex(ifname).map_err(|e| VrrpError::NoInterface {
        name: ifname.to_string(),
        source: io::Error::from(e),
    })?;
    let mac = hardware_address(ifname)?;

    let socket = Socket::new(
        Domain::PACKET,
        Type::RAW,
        Some(Protocol::from(i32::from(ETH_P_ARP.to_be()))),
    )
    .map_err(|source| VrrpError::Socket {
        action: format!("opening a packet socket for ARP on {ifname}"),
        source,
    })?;
    let to = broadcast_on(ifindex);
    for _ in 0..BURST {
        for addr in addrs {
            socket
                .send_to(&frame(mac, *addr), &to)
                .map_err(|source| VrrpError::Socket {
                    action: format!("sending gratuitous ARP for {addr} on {ifname}"),
                    source,
                })?;
        }
    }
    Ok(())
}

/// [`announce`] now and again after [`REPEAT_AFTER`]. Cancel (drop) the
/// future if the master role is lost in between.
pub async fn announce_twice(ifname: &str, addrs: &[Ipv4Addr]) -> Result<(), VrrpError> {
    announce(ifname, addrs)?;
    tokio::time::sleep(REPEAT_AFTER).await;
    announce(ifname, addrs)
}

/// The Ethernet frame of one announcement of `addr` from `mac`.
pub fn frame(mac: [u8; 6], addr: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    // Ethernet: broadcast destination, our source, type ARP.
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    // ARP: Ethernet/IPv4, 6/4-byte addresses, request.
    f.extend_from_slice(&1u16.to_be_bytes());
    f.extend_from_slice(&ETH_P_IP.to_be_bytes());
    f.push(6);
    f.push(4);
    f.extend_from_slice(&1u16.to_be_bytes());
    f.extend_from_slice(&mac);
    f.extend_from_slice(&addr.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&addr.octets());
    f
}

/// Where a frame to the Ethernet broadcast address on interface `ifindex`
/// goes: a `sockaddr_ll`, for which socket2 has no safe constructor.
fn broadcast_on(ifindex: u32) -> SockAddr {
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: sockaddr_ll is one of this platform's socket address types,
    // as view_as requires (it also checks that it fits the storage), and
    // every bit pattern is a valid sockaddr_ll, so the zeroed storage is one.
    let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_protocol = ETH_P_ARP.to_be();
    ll.sll_ifindex = ifindex as i32;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&BROADCAST);
    let len = mem::size_of::<libc::sockaddr_ll>() as socket2::socklen_t;
    // SAFETY: the storage holds an AF_PACKET address written as a whole
    // sockaddr_ll, and `len` is the size of a sockaddr_ll.
    unsafe { SockAddr::new(storage, len) }
}

/// The MAC of `ifname`, from its AF_PACKET entry in getifaddrs().
fn hardware_address(ifname: &str) -> Result<[u8; 6], VrrpError> {
    let addrs = getifaddrs().map_err(|e| VrrpError::Socket {
        action: format!("reading the hardware address of {ifname}"),
        source: io::Error::from(e),
    })?;
    addrs
        .filter(|a| a.interface_name == ifname)
        .find_map(|a| a.address?.as_link_addr()?.addr())
        .filter(|mac| *mac != [0; 6])
        .ok_or_else(|| VrrpError::NoHardwareAddress(ifname.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_a_broadcast_request_for_the_address_itself() {
        let mac = [0x52, 0x54, 0x00, 0x00, 0x01, 0x01];
        let f = frame(mac, Ipv4Addr::new(192, 168, 1, 100));
        let want: Vec<u8> = [
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
            &mac,
            &[0x08, 0x06],
            &[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01],
            &mac,
            &[192, 168, 1, 100],
            &[0, 0, 0, 0, 0, 0],
            &[192, 168, 1, 100],
        ]
        .concat();
        assert_eq!(f, want);
    }

    #[test]
    fn unknown_interface_is_an_error() {
        let err = announce("lvsinit-nonesuch0", &[Ipv4Addr::new(10, 0, 0, 1)]).unwrap_err();
        assert!(matches!(err, VrrpError::NoInterface { .. }), "{err}");
    }
}
