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
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::ifaddrs::getifaddrs;
use nix::libc;
use nix::net::if_::if_nametoindex;

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

    // SAFETY: socket() takes no pointers; the result is checked below.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(ETH_P_ARP.to_be()),
        )
    };
    if raw < 0 {
        return Err(VrrpError::last_os(format!(
            "opening a packet socket for ARP on {ifname}"
        )));
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };

    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut to: libc::sockaddr_ll = unsafe { mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_protocol = ETH_P_ARP.to_be();
    to.sll_ifindex = ifindex as i32;
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(&BROADCAST);

    for _ in 0..BURST {
        for addr in addrs {
            let frame = frame(mac, *addr);
            // SAFETY: `frame` and `to` are valid for the lengths given for
            // the duration of the call.
            let rc = unsafe {
                libc::sendto(
                    fd.as_raw_fd(),
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    (&to as *const libc::sockaddr_ll).cast(),
                    mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if rc < 0 {
                return Err(VrrpError::last_os(format!(
                    "sending gratuitous ARP for {addr} on {ifname}"
                )));
            }
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
