//! Addresses on a configured interface, as `ip addr` shows them.
//!
//! The config is the whole truth for an interface it names: missing
//! addresses are added, others removed. IPv6 link-local addresses (fe80::/10)
//! are the kernel's own and are always kept.

use std::net::IpAddr;

use futures::TryStreamExt;
use rtnetlink::Handle;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};

use super::NetlinkError;
use crate::config::IpNet;

/// One address as the kernel holds it, with the message needed to delete it.
struct Held {
    net: IpNet,
    msg: AddressMessage,
}

/// The address an `RTM_NEWADDR` message is about: `IFA_LOCAL` when present
/// (on point-to-point links `IFA_ADDRESS` is the peer), else `IFA_ADDRESS`.
fn address_of(msg: &AddressMessage) -> Option<IpNet> {
    let mut local = None;
    let mut address = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            _ => {}
        }
    }
    local.or(address).map(|addr| IpNet {
        addr,
        prefix_len: msg.header.prefix_len,
    })
}

/// True for addresses we never remove: IPv6 link-local, fe80::/10.
fn is_link_local(net: &IpNet) -> bool {
    match net.addr {
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

async fn held(handle: &Handle, index: u32, name: &str) -> Result<Vec<Held>, NetlinkError> {
    let msgs: Vec<AddressMessage> = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect()
        .await
        .map_err(|e| NetlinkError::from_rtnetlink(format!("listing addresses of {name}"), e))?;
    Ok(msgs
        .into_iter()
        .filter_map(|msg| address_of(&msg).map(|net| Held { net, msg }))
        .collect())
}

/// Make the addresses of link `index` (named `name`, for messages) exactly
/// `want`, plus any IPv6 link-local ones. Addresses in `keep` (the VRRP
/// virtual addresses, which the master adds and the backup removes) are
/// left as they are: neither added nor removed.
///
/// Strays go first: deleting a primary IPv4 address also deletes the
/// secondaries of its subnet, so what to add is decided after the deletes,
/// from a fresh read. Every change is tried; the first error is returned.
pub(crate) async fn reconcile(
    handle: &Handle,
    index: u32,
    name: &str,
    want: &[IpNet],
    keep: &[IpNet],
) -> Result<(), NetlinkError> {
    let mut first_error = None;
    let kept = |net: &IpNet| keep.iter().any(|k| k.addr == net.addr);

    for stray in held(handle, index, name).await? {
        if want.contains(&stray.net) || is_link_local(&stray.net) || kept(&stray.net) {
            continue;
        }
        match handle.address().del(stray.msg).execute().await {
            Ok(()) => log::info!("{name}: removed {}", stray.net),
            Err(e) => {
                let err =
                    NetlinkError::from_rtnetlink(format!("removing {} from {name}", stray.net), e);
                first_error.get_or_insert(err);
            }
        }
    }

    let now: Vec<IpNet> = held(handle, index, name)
        .await?
        .into_iter()
        .map(|h| h.net)
        .collect();
    for net in want {
        if now.contains(net) || kept(net) {
            continue;
        }
        match handle
            .address()
            .add(index, net.addr, net.prefix_len)
            .execute()
            .await
        {
            Ok(()) => log::info!("{name}: added {net}"),
            Err(e) => {
                let err = NetlinkError::from_rtnetlink(format!("adding {net} to {name}"), e);
                first_error.get_or_insert(err);
            }
        }
    }

    match first_error {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// Add `net` to link `index` (named `name`) unless it is there already.
/// Ok(true) when it was added.
pub(crate) async fn add(
    handle: &Handle,
    index: u32,
    name: &str,
    net: IpNet,
) -> Result<bool, NetlinkError> {
    if held(handle, index, name)
        .await?
        .iter()
        .any(|h| h.net == net)
    {
        return Ok(false);
    }
    handle
        .address()
        .add(index, net.addr, net.prefix_len)
        .execute()
        .await
        .map_err(|e| NetlinkError::from_rtnetlink(format!("adding {net} to {name}"), e))?;
    Ok(true)
}

/// Remove the address `net.addr` (whatever its prefix length) from link
/// `index` (named `name`), if it is there. Ok(true) when it was removed.
pub(crate) async fn remove(
    handle: &Handle,
    index: u32,
    name: &str,
    net: IpNet,
) -> Result<bool, NetlinkError> {
    let mut removed = false;
    for h in held(handle, index, name).await? {
        if h.net.addr != net.addr {
            continue;
        }
        handle.address().del(h.msg).execute().await.map_err(|e| {
            NetlinkError::from_rtnetlink(format!("removing {} from {name}", h.net), e)
        })?;
        removed = true;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::AddressFamily;

    fn net(s: &str) -> IpNet {
        let (a, p) = s.split_once('/').unwrap();
        IpNet {
            addr: a.parse().unwrap(),
            prefix_len: p.parse().unwrap(),
        }
    }

    #[test]
    fn link_local_cases() {
        let cases = [
            ("fe80::1/64", true),
            ("febf:ffff::1/64", true),
            ("fec0::1/64", false),
            ("2001:db8::1/64", false),
            ("169.254.1.1/16", false),
            ("192.168.1.1/24", false),
        ];
        for (s, want) in cases {
            assert_eq!(is_link_local(&net(s)), want, "{s}");
        }
    }

    #[test]
    fn address_prefers_local_over_peer() {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = 32;
        msg.attributes
            .push(AddressAttribute::Address("10.0.0.2".parse().unwrap()));
        msg.attributes
            .push(AddressAttribute::Local("10.0.0.1".parse().unwrap()));
        assert_eq!(address_of(&msg), Some(net("10.0.0.1/32")));

        let mut v6 = AddressMessage::default();
        v6.header.prefix_len = 64;
        v6.attributes
            .push(AddressAttribute::Address("2001:db8::1".parse().unwrap()));
        assert_eq!(address_of(&v6), Some(net("2001:db8::1/64")));

        assert_eq!(address_of(&AddressMessage::default()), None);
    }
}
