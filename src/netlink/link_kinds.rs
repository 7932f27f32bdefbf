//! The links the box makes itself: 802.1Q VLANs, bonds and bridges, as
//! `ip link add link trunk name wan type vlan id 10`, `ip link add lan type
//! bond mode active-backup miimon 100`, `ip link add br0 type bridge` and
//! `ip link set lan0 master lan` would make them.
//!
//! Each one made carries the alias [`MARK`] (`ip link show` prints
//! `alias lvsinit`), so a reload can tell its own links from any other and
//! remove those the config no longer has. A setting the kernel changes in
//! place (a bond's `miimon` and `xmit_hash_policy`, a bridge's STP) is
//! changed in place; one it does not (a VLAN's id or parent, a bond's mode)
//! makes the link again.

use rtnetlink::packet_route::link::{
    BondMode as KernelBondMode, BondXmitHashPolicy, BridgeStpState, InfoBond, InfoBridge, InfoData,
    InfoKind, InfoVlan,
};
use rtnetlink::{Handle, LinkBond, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVlan};

use super::NetlinkError;
use super::link::{self, Link};
use crate::config::{Bond, BondMode, MadeLink, XmitHashPolicy};

/// The alias of every link the box made.
pub(crate) const MARK: &str = "lvsinit";

/// "vlan 10 on trunk", "bond of lan0, lan1", "bridge of a, b".
pub(crate) fn describe(made: &MadeLink) -> String {
    match made {
        MadeLink::Vlan { parent, id } => format!("vlan {id} on {parent}"),
        MadeLink::Bond(bond) => format!("bond of {}", bond.members.join(", ")),
        MadeLink::Bridge { members, .. } => format!("bridge of {}", members.join(", ")),
    }
}

fn info_kind(made: &MadeLink) -> InfoKind {
    match made {
        MadeLink::Vlan { .. } => InfoKind::Vlan,
        MadeLink::Bond(_) => InfoKind::Bond,
        MadeLink::Bridge { .. } => InfoKind::Bridge,
    }
}

/// Whether `link` is one the box made (and may remove).
pub(crate) fn is_ours(link: &Link) -> bool {
    link.alias.as_deref() == Some(MARK)
        && matches!(
            link.kind,
            Some(InfoKind::Vlan | InfoKind::Bond | InfoKind::Bridge)
        )
}

/// Whether `link` is a VLAN.
pub(crate) fn is_vlan(link: &Link) -> bool {
    link.kind == Some(InfoKind::Vlan)
}

/// Whether `link` is of the kind `made` asks for.
pub(crate) fn same_kind(made: &MadeLink, link: &Link) -> bool {
    link.kind.as_ref() == Some(&info_kind(made))
}

fn kernel_mode(mode: BondMode) -> KernelBondMode {
    match mode {
        BondMode::BalanceRr => KernelBondMode::BalanceRr,
        BondMode::ActiveBackup => KernelBondMode::ActiveBackup,
        BondMode::BalanceXor => KernelBondMode::BalanceXor,
        BondMode::Broadcast => KernelBondMode::Broadcast,
        BondMode::Ieee8023Ad => KernelBondMode::Ieee8023Ad,
        BondMode::BalanceTlb => KernelBondMode::BalanceTlb,
        BondMode::BalanceAlb => KernelBondMode::BalanceAlb,
    }
}

fn kernel_policy(policy: XmitHashPolicy) -> BondXmitHashPolicy {
    match policy {
        XmitHashPolicy::Layer2 => BondXmitHashPolicy::Layer2,
        XmitHashPolicy::Layer34 => BondXmitHashPolicy::Layer34,
        XmitHashPolicy::Layer23 => BondXmitHashPolicy::Layer23,
        XmitHashPolicy::Encap23 => BondXmitHashPolicy::Encap23,
        XmitHashPolicy::Encap34 => BondXmitHashPolicy::Encap34,
        XmitHashPolicy::VlanSrcMac => BondXmitHashPolicy::VlanSrcMac,
    }
}

fn stp_state(on: bool) -> BridgeStpState {
    match on {
        true => BridgeStpState::KernelStp,
        false => BridgeStpState::Disabled,
    }
}

/// How an existing link of the right kind differs from what is wanted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Difference {
    None,
    /// Settings the kernel changes on the running link.
    InPlace,
    /// Only a new link will do (VLAN id or parent, bond mode).
    Remake,
}

/// Compare `link` (of `made`'s kind) with `made`; `parent` is the index of
/// the VLAN's parent as it is now.
pub(crate) fn compare(made: &MadeLink, link: &Link, parent: Option<u32>) -> Difference {
    match (made, &link.data) {
        (MadeLink::Vlan { id, .. }, Some(InfoData::Vlan(infos))) => {
            let same_id = infos.iter().any(|i| i == &InfoVlan::Id(*id));
            match same_id && link.parent == parent {
                true => Difference::None,
                false => Difference::Remake,
            }
        }
        (MadeLink::Bond(bond), Some(InfoData::Bond(infos))) => {
            if !infos.contains(&InfoBond::Mode(kernel_mode(bond.mode))) {
                return Difference::Remake;
            }
            let policy = kernel_policy(bond.xmit_hash_policy.unwrap_or(XmitHashPolicy::Layer2));
            let tuned = infos.contains(&InfoBond::MiiMon(bond.miimon_ms))
                && infos.contains(&InfoBond::XmitHashPolicy(policy));
            match tuned {
                true => Difference::None,
                false => Difference::InPlace,
            }
        }
        (MadeLink::Bridge { stp, .. }, Some(InfoData::Bridge(infos))) => {
            match infos.contains(&InfoBridge::StpState(stp_state(*stp))) {
                true => Difference::None,
                false => Difference::InPlace,
            }
        }
        // The kernel said nothing of its settings: make it anew.
        _ => Difference::Remake,
    }
}

fn bond_settings(
    builder: LinkMessageBuilder<LinkBond>,
    bond: &Bond,
) -> LinkMessageBuilder<LinkBond> {
    // Always sent: a policy dropped from the config goes back to the
    // kernel's default, layer2, which is what `compare` expects then.
    let policy = bond.xmit_hash_policy.unwrap_or(XmitHashPolicy::Layer2);
    builder
        .miimon(bond.miimon_ms)
        .xmit_hash_policy(kernel_policy(policy))
}

/// `ip link add`: make `name` as `made` says (`parent`: the VLAN's parent's
/// index), marked as ours.
pub(crate) async fn add(
    handle: &Handle,
    name: &str,
    made: &MadeLink,
    parent: Option<u32>,
) -> Result<(), NetlinkError> {
    let msg = match made {
        MadeLink::Vlan { id, .. } => LinkVlan::new(name, parent.unwrap_or(0), *id).build(),
        MadeLink::Bond(bond) => {
            bond_settings(LinkBond::new(name).mode(kernel_mode(bond.mode)), bond).build()
        }
        MadeLink::Bridge { stp, .. } => LinkBridge::new(name).stp_state(stp_state(*stp)).build(),
    };
    let action = format!("adding link {name} ({})", describe(made));
    handle
        .link()
        .add(msg)
        .execute()
        .await
        .map_err(|e| NetlinkError::from_rtnetlink(action, e))?;
    let msg = LinkUnspec::new_with_name(name).alias(MARK).build();
    link::change(handle, msg, format!("marking link {name} as the box's")).await?;
    log::info!("link {name} added ({})", describe(made));
    Ok(())
}

/// Change the settings the kernel changes in place, and mark the link ours.
pub(crate) async fn tune(
    handle: &Handle,
    link: &Link,
    made: &MadeLink,
) -> Result<(), NetlinkError> {
    let msg = match made {
        MadeLink::Bond(bond) => bond_settings(LinkBond::new(&link.name), bond)
            .index(link.index)
            .build(),
        MadeLink::Bridge { stp, .. } => LinkBridge::new(&link.name)
            .index(link.index)
            .stp_state(stp_state(*stp))
            .build(),
        MadeLink::Vlan { .. } => return Ok(()),
    };
    let action = format!("changing link {} ({})", link.name, describe(made));
    link::change(handle, msg, action).await?;
    log::info!("link {} changed ({})", link.name, describe(made));
    Ok(())
}

/// `ip link del`.
pub(crate) async fn delete(handle: &Handle, link: &Link) -> Result<(), NetlinkError> {
    handle
        .link()
        .del(link.index)
        .execute()
        .await
        .map_err(|e| NetlinkError::from_rtnetlink(format!("removing link {}", link.name), e))?;
    log::info!("link {} removed", link.name);
    Ok(())
}

/// `ip link set MEMBER master MASTER`. A bond takes its members down.
pub(crate) async fn enslave(
    handle: &Handle,
    member: &mut Link,
    master: &Link,
    bond: bool,
) -> Result<(), NetlinkError> {
    if member.controller == Some(master.index) {
        return Ok(());
    }
    if bond {
        link::set_down(handle, member).await?;
    }
    let msg = LinkUnspec::new_with_index(member.index)
        .controller(master.index)
        .build();
    let action = format!("setting link {} master {}", member.name, master.name);
    link::change(handle, msg, action).await?;
    member.controller = Some(master.index);
    // Leaving another master closed it; the caller brings it up again.
    member.up = false;
    log::info!("{}: master {}", member.name, master.name);
    Ok(())
}

/// `ip link set MEMBER nomaster`.
pub(crate) async fn release(
    handle: &Handle,
    member: &Link,
    master: &str,
) -> Result<(), NetlinkError> {
    let msg = LinkUnspec::new_with_index(member.index)
        .nocontroller()
        .build();
    let action = format!("setting link {} nomaster", member.name);
    link::change(handle, msg, action).await?;
    log::info!("{}: no longer a member of {master}", member.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(kind: InfoKind, data: InfoData, parent: Option<u32>) -> Link {
        Link {
            index: 7,
            name: "x".into(),
            mac: None,
            perm_mac: None,
            mtu: Some(1500),
            up: true,
            kind: Some(kind),
            pci: None,
            parent,
            controller: None,
            alias: Some(MARK.into()),
            data: Some(data),
        }
    }

    #[test]
    fn a_vlan_with_another_id_or_parent_is_made_anew() {
        let want = MadeLink::Vlan {
            parent: "trunk".into(),
            id: 10,
        };
        let have = |id| {
            link(
                InfoKind::Vlan,
                InfoData::Vlan(vec![InfoVlan::Id(id)]),
                Some(2),
            )
        };
        assert_eq!(compare(&want, &have(10), Some(2)), Difference::None);
        assert_eq!(compare(&want, &have(30), Some(2)), Difference::Remake);
        assert_eq!(compare(&want, &have(10), Some(3)), Difference::Remake);
    }

    #[test]
    fn a_bond_changes_miimon_in_place_and_its_mode_by_a_new_link() {
        let mut bond = Bond {
            members: vec!["lan0".into()],
            mode: BondMode::ActiveBackup,
            miimon_ms: 100,
            xmit_hash_policy: None,
        };
        let have = link(
            InfoKind::Bond,
            InfoData::Bond(vec![
                InfoBond::Mode(KernelBondMode::ActiveBackup),
                InfoBond::MiiMon(100),
                InfoBond::XmitHashPolicy(BondXmitHashPolicy::Layer2),
            ]),
            None,
        );
        assert_eq!(
            compare(&MadeLink::Bond(bond.clone()), &have, None),
            Difference::None
        );
        bond.miimon_ms = 50;
        assert_eq!(
            compare(&MadeLink::Bond(bond.clone()), &have, None),
            Difference::InPlace
        );
        bond.mode = BondMode::Ieee8023Ad;
        assert_eq!(
            compare(&MadeLink::Bond(bond), &have, None),
            Difference::Remake
        );
    }

    #[test]
    fn a_bridge_turns_stp_on_in_place() {
        let have = link(
            InfoKind::Bridge,
            InfoData::Bridge(vec![InfoBridge::StpState(BridgeStpState::Disabled)]),
            None,
        );
        let want = |stp| MadeLink::Bridge {
            members: vec!["a".into()],
            stp,
        };
        assert_eq!(compare(&want(false), &have, None), Difference::None);
        assert_eq!(compare(&want(true), &have, None), Difference::InPlace);
    }

    #[test]
    fn only_marked_links_are_ours() {
        let mut l = link(InfoKind::Bridge, InfoData::Bridge(vec![]), None);
        assert!(is_ours(&l));
        l.alias = None;
        assert!(!is_ours(&l));
    }
}
