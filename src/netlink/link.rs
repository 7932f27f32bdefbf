//! Links, as `ip link` shows them: finding the NIC an `[[interface]]` means,
//! renaming it, setting its MTU and bringing it up.
//!
//! Every step reads the kernel's state first and changes only what differs,
//! so applying the same config twice changes (and logs) nothing.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::{Handle, LinkUnspec};

use super::NetlinkError;
use crate::config::{Interface, LinkMatch, MacAddr};

/// What we need to know about one kernel link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub index: u32,
    pub name: String,
    /// Current hardware address (`link/ether`).
    pub mac: Option<MacAddr>,
    /// Permanent hardware address (`permaddr`), when the driver reports one;
    /// it survives bonding and MAC changes.
    pub perm_mac: Option<MacAddr>,
    pub mtu: Option<u32>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// The link's type when it is a software device (`bridge`, `vlan`, ...).
    pub kind: Option<InfoKind>,
    /// The PCI function of its NIC (`0000:01:00.0`), from sysfs; read only
    /// when an interface is matched by slot ([`read_pci_slots`]).
    pub pci: Option<String>,
    /// The link it is on (`IFLA_LINK`: a VLAN's parent).
    pub parent: Option<u32>,
    /// Its bond or bridge (`IFLA_MASTER`, `ip link` shows `master X`).
    pub controller: Option<u32>,
    /// `ip link set X alias ...`: marks the links the box made.
    pub alias: Option<String>,
    /// The kind's own settings (VLAN id, bond mode, bridge STP).
    pub data: Option<InfoData>,
}

impl Link {
    fn from_message(msg: &LinkMessage) -> Link {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            mac: None,
            perm_mac: None,
            mtu: None,
            up: msg.header.flags.contains(LinkFlags::Up),
            kind: None,
            pci: None,
            parent: None,
            controller: None,
            alias: None,
            data: None,
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name = name.clone(),
                LinkAttribute::Address(bytes) => link.mac = mac_from(bytes),
                LinkAttribute::PermAddress(bytes) => link.perm_mac = mac_from(bytes),
                LinkAttribute::Mtu(mtu) => link.mtu = Some(*mtu),
                LinkAttribute::Link(index) => link.parent = Some(*index),
                LinkAttribute::Controller(index) => link.controller = Some(*index),
                LinkAttribute::IfAlias(alias) => link.alias = Some(alias.clone()),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        match info {
                            LinkInfo::Kind(kind) => link.kind = Some(kind.clone()),
                            LinkInfo::Data(data) => link.data = Some(data.clone()),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }

    /// "eth0 (52:54:00:00:01:01)", or just the name when it has no MAC.
    pub fn describe(&self) -> String {
        match self.mac {
            Some(mac) => format!("{} ({mac})", self.name),
            None => self.name.clone(),
        }
    }

    /// Devices that take over a port's MAC (a bridge gets its first port's
    /// address, a VLAN its parent's): never what a MAC in the config means.
    fn is_stacked(&self) -> bool {
        matches!(
            self.kind,
            Some(
                InfoKind::Bridge
                    | InfoKind::Bond
                    | InfoKind::Team
                    | InfoKind::Vlan
                    | InfoKind::MacVlan
                    | InfoKind::MacVtap
                    | InfoKind::IpVlan
                    | InfoKind::IpVtap
                    | InfoKind::Vrf
                    | InfoKind::MacSec
            )
        )
    }
}

/// A 6-byte Ethernet address, or `None` for anything else (tunnels, lo's zeros).
fn mac_from(bytes: &[u8]) -> Option<MacAddr> {
    let arr: [u8; 6] = bytes.try_into().ok()?;
    (arr != [0; 6]).then_some(MacAddr(arr))
}

/// "mac 52:54:00:00:01:01" / "device eth0": how an interface finds its link.
pub(crate) fn describe_match(matcher: &LinkMatch) -> String {
    match matcher {
        LinkMatch::Mac(mac) => format!("mac {mac}"),
        LinkMatch::Device(dev) => format!("device {dev}"),
        LinkMatch::Pci(slot) => format!("pci {slot}"),
        LinkMatch::Made(made) => super::link_kinds::describe(made),
    }
}

/// Where the kernel lists network links in sysfs.
const SYS_CLASS_NET: &str = "/sys/class/net";

/// The PCI function link `name`'s NIC sits on: the deepest `DDDD:BB:SS.F`
/// on the path of its sysfs device (`/sys/class/net/eth0/device` is
/// `/sys/devices/pci0000:00/0000:00:03.0/virtio0` for a virtio NIC, the
/// function itself for most others). `None` for links without one
/// (loopback, veth, bridges). `sys_class_net` is `/sys/class/net` but in
/// tests.
pub(crate) fn pci_slot(sys_class_net: &Path, name: &str) -> Option<String> {
    let device = fs::canonicalize(sys_class_net.join(name).join("device")).ok()?;
    let is_pci = |c: &str| {
        let b = c.as_bytes();
        b.len() == 12
            && b[4] == b':'
            && b[7] == b':'
            && b[10] == b'.'
            && b.iter()
                .enumerate()
                .all(|(i, x)| matches!(i, 4 | 7 | 10) || x.is_ascii_hexdigit())
    };
    let found = device
        .ancestors()
        .filter_map(|p| p.file_name()?.to_str())
        .find(|c| is_pci(c));
    found.map(str::to_ascii_lowercase)
}

/// All links of the namespace (`ip link show`).
pub(crate) async fn dump(handle: &Handle) -> Result<Vec<Link>, NetlinkError> {
    let msgs: Vec<LinkMessage> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| NetlinkError::from_rtnetlink("listing links", e))?;
    Ok(msgs.iter().map(Link::from_message).collect())
}

/// Fill in the links' PCI slots from sysfs, when one of `interfaces` is
/// found by slot: a few file lookups per link that no other match needs,
/// so a boot waiting for its NICs (a dump every 100 ms) does not pay them.
pub(crate) fn read_pci_slots(links: &mut [Link], interfaces: &[Interface]) {
    if !interfaces
        .iter()
        .any(|i| matches!(i.matcher, LinkMatch::Pci(_)))
    {
        return;
    }
    for link in links {
        link.pci = pci_slot(Path::new(SYS_CLASS_NET), &link.name);
    }
}

/// The link an interface means, if it exists yet.
///
/// By MAC: the link whose permanent address is that MAC, else the one whose
/// current address is; stacked devices sharing the MAC (bridge, VLAN) are
/// passed over. By device: the link with that kernel name, or, once a
/// previous apply renamed it, the link already carrying the configured name.
pub(crate) fn find<'a>(
    iface: &Interface,
    links: &'a [Link],
) -> Result<Option<&'a Link>, NetlinkError> {
    match &iface.matcher {
        LinkMatch::Made(_) => Ok(links.iter().find(|l| l.name == iface.name)),
        LinkMatch::Device(dev) => Ok(links
            .iter()
            .find(|l| &l.name == dev)
            .or_else(|| links.iter().find(|l| l.name == iface.name))),
        LinkMatch::Pci(slot) => {
            let on_slot: Vec<&Link> = links
                .iter()
                .filter(|l| l.pci.as_ref() == Some(slot) && !l.is_stacked())
                .collect();
            match on_slot.as_slice() {
                [] => Ok(None),
                [one] => Ok(Some(*one)),
                many => Err(NetlinkError::AmbiguousMatch {
                    matcher: describe_match(&iface.matcher),
                    links: many.iter().map(|l| l.name.clone()).collect(),
                }),
            }
        }
        LinkMatch::Mac(mac) => {
            let mut candidates: Vec<&Link> =
                links.iter().filter(|l| l.perm_mac == Some(*mac)).collect();
            if candidates.is_empty() {
                candidates = links.iter().filter(|l| l.mac == Some(*mac)).collect();
            }
            if candidates.len() > 1 {
                let plain: Vec<&Link> = candidates
                    .iter()
                    .copied()
                    .filter(|l| !l.is_stacked())
                    .collect();
                if plain.len() == 1 {
                    candidates = plain;
                }
            }
            match candidates.as_slice() {
                [] => Ok(None),
                [one] => Ok(Some(*one)),
                many => Err(NetlinkError::AmbiguousMatch {
                    matcher: describe_match(&iface.matcher),
                    links: many.iter().map(|l| l.name.clone()).collect(),
                }),
            }
        }
    }
}

/// Send one `ip link set` style change.
pub(super) async fn change(
    handle: &Handle,
    msg: LinkMessage,
    action: String,
) -> Result<(), NetlinkError> {
    handle
        .link()
        .change(msg)
        .execute()
        .await
        .map_err(|e| NetlinkError::from_rtnetlink(action, e))
}

/// `ip link set dev X up`, unless it already is.
pub(crate) async fn set_up(handle: &Handle, link: &mut Link) -> Result<(), NetlinkError> {
    if link.up {
        return Ok(());
    }
    let msg = LinkUnspec::new_with_index(link.index).up().build();
    change(handle, msg, format!("setting link {} up", link.name)).await?;
    link.up = true;
    log::info!("{}: link set up", link.name);
    Ok(())
}

pub(super) async fn set_down(handle: &Handle, link: &mut Link) -> Result<(), NetlinkError> {
    if !link.up {
        return Ok(());
    }
    let msg = LinkUnspec::new_with_index(link.index).down().build();
    change(handle, msg, format!("setting link {} down", link.name)).await?;
    link.up = false;
    Ok(())
}

/// `ip link set dev X mtu N`, unless it already is.
pub(crate) async fn set_mtu(
    handle: &Handle,
    link: &mut Link,
    mtu: u32,
) -> Result<(), NetlinkError> {
    if link.mtu == Some(mtu) {
        return Ok(());
    }
    let msg = LinkUnspec::new_with_index(link.index).mtu(mtu).build();
    change(
        handle,
        msg,
        format!("setting MTU {mtu} on link {}", link.name),
    )
    .await?;
    match link.mtu {
        Some(old) => log::info!("{}: MTU set to {mtu} (was {old})", link.name),
        None => log::info!("{}: MTU set to {mtu}", link.name),
    }
    link.mtu = Some(mtu);
    Ok(())
}

/// Rename one link. The kernel refuses to rename a running link, so it is
/// taken down first; on failure it is brought back up as it was.
async fn rename(handle: &Handle, link: &mut Link, to: &str) -> Result<(), NetlinkError> {
    let was_up = link.up;
    set_down(handle, link).await?;
    let msg = LinkUnspec::new_with_index(link.index)
        .name(to.to_string())
        .build();
    let result = change(
        handle,
        msg,
        format!("renaming link {} to {to}", link.describe()),
    )
    .await;
    if let Err(err) = result {
        if was_up {
            // Best effort: leave the link as we found it; the rename error is
            // the one worth reporting.
            let _ = set_up(handle, link).await;
        }
        return Err(err);
    }
    log::info!("link {} renamed to {to}", link.describe());
    link.name = to.to_string();
    Ok(())
}

/// One link and the name it should carry.
pub(crate) struct Rename<'a> {
    pub link: &'a mut Link,
    pub to: &'a str,
}

/// Give every link its configured name.
///
/// `names` is the namespace's name → index table, kept up to date as links
/// move. A name held by a link that is itself about to be renamed is waited
/// for; a cycle (swapping eth0 and eth1) is broken by parking one link under
/// a temporary name. A name held by any other link is an error naming both.
/// Returns the failures by position in `plan`.
pub(crate) async fn rename_all(
    handle: &Handle,
    plan: &mut [Rename<'_>],
    names: &mut HashMap<String, u32>,
) -> Vec<(usize, NetlinkError)> {
    let mut failures: Vec<(usize, NetlinkError)> = Vec::new();
    let mut todo: Vec<usize> = (0..plan.len())
        .filter(|&i| plan[i].link.name != plan[i].to)
        .collect();
    let mut passes = 0;
    while !todo.is_empty() {
        let mut progressed = false;
        let mut waiting = Vec::new();
        for &i in &todo {
            let holder = names.get(plan[i].to).copied();
            let moving_away =
                |index: u32| todo.iter().any(|&j| j != i && plan[j].link.index == index);
            match holder {
                Some(h) if h == plan[i].link.index => progressed = true,
                Some(h)
                    if moving_away(h)
                        && !failures.iter().any(|(j, _)| plan[*j].link.index == h) =>
                {
                    waiting.push(i);
                }
                Some(_) => {
                    failures.push((i, name_taken(&plan[i], names)));
                    progressed = true;
                }
                None => {
                    let old = plan[i].link.name.clone();
                    let to = plan[i].to;
                    match rename(handle, plan[i].link, to).await {
                        Ok(()) => {
                            names.remove(&old);
                            names.insert(to.to_string(), plan[i].link.index);
                        }
                        Err(err) => failures.push((i, err)),
                    }
                    progressed = true;
                }
            }
        }
        todo = waiting;
        passes += 1;
        if !todo.is_empty() && passes > plan.len() * 2 + 2 {
            // Cannot happen with the parking below; a bound beats a hang in PID 1.
            for i in todo.drain(..) {
                failures.push((i, name_taken(&plan[i], names)));
            }
            break;
        }
        if !progressed {
            // Every remaining link waits on another remaining link: a cycle.
            // Park the link the first one waits on under a name nobody has or
            // wants, which frees the name; then go round again.
            let first = todo[0];
            let holder = names.get(plan[first].to).copied();
            let i = todo
                .iter()
                .copied()
                .find(|&j| Some(plan[j].link.index) == holder)
                .unwrap_or(first);
            // At most names.len() + plan.len() candidates are taken, so one
            // of the first that many + 1 is free.
            let parked = (0..=names.len() + plan.len())
                .map(|n| format!("lvsinit{n}"))
                .find(|n| !names.contains_key(n) && !plan.iter().any(|r| r.to == n))
                .unwrap_or_else(|| format!("lvsinit{}", plan[i].link.index));
            let old = plan[i].link.name.clone();
            match rename(handle, plan[i].link, &parked).await {
                Ok(()) => {
                    names.remove(&old);
                    names.insert(parked, plan[i].link.index);
                }
                Err(err) => {
                    failures.push((i, err));
                    todo.retain(|&j| j != i);
                }
            }
        }
    }
    failures
}

/// The error for a link whose wanted name another link holds.
fn name_taken(r: &Rename<'_>, names: &HashMap<String, u32>) -> NetlinkError {
    let holder = match names.get(r.to) {
        Some(&index) => format!("{} (index {index})", r.to),
        None => r.to.to_string(),
    };
    NetlinkError::NameTaken {
        link: r.link.describe(),
        name: r.to.to_string(),
        holder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(
        index: u32,
        name: &str,
        mac: Option<[u8; 6]>,
        perm: Option<[u8; 6]>,
        kind: Option<InfoKind>,
    ) -> Link {
        Link {
            index,
            name: name.into(),
            mac: mac.map(MacAddr),
            perm_mac: perm.map(MacAddr),
            mtu: Some(1500),
            up: false,
            kind,
            pci: None,
            parent: None,
            controller: None,
            alias: None,
            data: None,
        }
    }

    fn iface(name: &str, matcher: LinkMatch) -> Interface {
        Interface {
            name: name.into(),
            matcher,
            addresses: vec![],
            mtu: None,
        }
    }

    const A: [u8; 6] = [0x52, 0x54, 0, 0, 1, 1];
    const B: [u8; 6] = [0x52, 0x54, 0, 0, 1, 2];

    #[test]
    fn find_cases() {
        const C: [u8; 6] = [0x52, 0x54, 0, 0, 1, 3];
        let links = vec![
            link(1, "lo", None, None, None),
            link(2, "eth0", Some(A), None, None),
            link(4, "wan", Some(B), None, None),
            // A bonded NIC: its current MAC is the bond's (B), its own is C.
            link(5, "eth2", Some(B), Some(C), None),
        ];
        let cases: Vec<(&str, Interface, Option<&str>)> = vec![
            (
                "device by kernel name",
                iface("lan", LinkMatch::Device("eth0".into())),
                Some("eth0"),
            ),
            (
                "device already renamed",
                iface("wan", LinkMatch::Device("eth9".into())),
                Some("wan"),
            ),
            (
                "device absent",
                iface("x", LinkMatch::Device("eth9".into())),
                None,
            ),
            (
                "mac absent",
                iface("x", LinkMatch::Mac(MacAddr([2, 0, 0, 0, 0, 9]))),
                None,
            ),
            (
                "mac by current address",
                iface("x", LinkMatch::Mac(MacAddr(A))),
                Some("eth0"),
            ),
            (
                "mac by permanent address",
                iface("x", LinkMatch::Mac(MacAddr(C))),
                Some("eth2"),
            ),
        ];
        for (name, i, want) in cases {
            let got = find(&i, &links).unwrap().map(|l| l.name.as_str());
            assert_eq!(got, want, "case {name}");
        }
    }

    /// By slot: the link on that PCI function; a bridge or VLAN on top is
    /// not the NIC; two links on one function cannot be told apart.
    #[test]
    fn find_by_pci_slot() {
        let slot = "0000:01:00.0";
        let on = |mut l: Link, pci: &str| {
            l.pci = Some(pci.into());
            l
        };
        let links = vec![
            on(link(2, "eth0", Some(A), None, None), "0000:00:03.0"),
            on(link(3, "eth1", Some(B), None, None), slot),
            on(link(4, "br0", Some(B), None, Some(InfoKind::Bridge)), slot),
        ];
        let lan = iface("lan", LinkMatch::Pci(slot.into()));
        assert_eq!(find(&lan, &links).unwrap().map(|l| l.index), Some(3));
        let none = iface("lan", LinkMatch::Pci("0000:02:00.0".into()));
        assert_eq!(find(&none, &links).unwrap(), None);
        let mut two = links.clone();
        two.push(on(link(5, "eth2", None, None, None), slot));
        assert!(matches!(
            find(&lan, &two),
            Err(NetlinkError::AmbiguousMatch { .. })
        ));
    }

    /// The slot is read from sysfs: the deepest PCI function on the path
    /// of the link's device, as for a virtio NIC or one behind a bridge.
    #[test]
    fn pci_slot_from_sysfs() {
        let root = std::env::temp_dir().join(format!("lvsinit-pci-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let class = root.join("class/net");
        let virtio = root.join("devices/pci0000:00/0000:00:03.0/virtio0");
        let behind = root.join("devices/pci0000:00/0000:00:1c.0/0000:01:00.0");
        for dir in [
            &virtio,
            &behind,
            &class.join("eth0"),
            &class.join("eth1"),
            &class.join("veth0"),
        ] {
            fs::create_dir_all(dir).unwrap();
        }
        std::os::unix::fs::symlink(&virtio, class.join("eth0/device")).unwrap();
        std::os::unix::fs::symlink(&behind, class.join("eth1/device")).unwrap();
        assert_eq!(pci_slot(&class, "eth0").as_deref(), Some("0000:00:03.0"));
        assert_eq!(pci_slot(&class, "eth1").as_deref(), Some("0000:01:00.0"));
        assert_eq!(pci_slot(&class, "veth0"), None);
        assert_eq!(pci_slot(&class, "missing"), None);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn find_mac_prefers_the_nic_over_its_bridge() {
        let links = vec![
            link(2, "eth0", Some(A), None, None),
            link(3, "br0", Some(A), None, Some(InfoKind::Bridge)),
        ];
        let got = find(&iface("lan", LinkMatch::Mac(MacAddr(A))), &links).unwrap();
        assert_eq!(got.map(|l| l.index), Some(2));
    }

    #[test]
    fn find_mac_on_two_nics_is_ambiguous() {
        let links = vec![
            link(2, "eth0", Some(A), None, None),
            link(3, "eth1", Some(A), None, None),
        ];
        let err = find(&iface("lan", LinkMatch::Mac(MacAddr(A))), &links).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("eth0") && text.contains("eth1"), "{text}");
    }

    #[test]
    fn mac_from_rejects_non_ethernet() {
        assert_eq!(mac_from(&[0; 6]), None);
        assert_eq!(mac_from(&[1, 2, 3, 4]), None);
        assert_eq!(mac_from(&A), Some(MacAddr(A)));
    }
}
