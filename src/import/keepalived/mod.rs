//! keepalived.conf into router.toml.
//!
//! [`lexer`] reads the files as keepalived does (includes, `@` conditional
//! lines, `$PARAMETER`s), [`tree`] makes the blocks, and the sections are
//! mapped by [`check`] (virtual servers) and [`vrrp`] (VRRP instances);
//! this file walks the top level and `global_defs`.

mod check;
mod lexer;
mod tree;
mod value;
mod vrrp;

use std::collections::HashMap;
use std::path::Path;

use super::model::Doc;
use super::{ImportError, Options, Origin, Warnings};
use tree::Node;
use value::{arg, number};

/// Read `path` (and what it includes) into a [`Doc`].
pub fn read(path: &Path, options: &Options, warnings: &mut Warnings) -> Result<Doc, ImportError> {
    let (lines, notes) = lexer::read(path, options, warnings)?;
    let nodes = tree::parse(&lines)?;
    let mut doc = Doc {
        source: path.display().to_string(),
        format: "keepalived",
        notes,
        ..Doc::default()
    };
    map(&nodes, &mut doc, warnings)?;
    Ok(doc)
}

/// The global_defs lines that matter to `[vrrp]`.
#[derive(Default)]
struct Globals {
    vrrp_version: Option<(u8, Origin)>,
    /// `lvs_sync_daemon IF [INSTANCE] [id N] ...`
    sync: Option<(String, Option<String>, Option<u8>, Origin)>,
}

fn map(nodes: &[Node], doc: &mut Doc, warnings: &mut Warnings) -> Result<(), ImportError> {
    // Groups first: a virtual_server may name one defined after it.
    let mut groups = HashMap::new();
    for node in nodes.iter().filter(|n| n.keyword == "virtual_server_group") {
        check::group(node, &mut groups)?;
    }
    let mut globals = Globals::default();
    let mut instances = Vec::new();
    let mut sync_groups = Vec::new();
    for node in nodes {
        let k = node.keyword.as_str();
        let o = &node.origin;
        match k {
            "global_defs" => global_defs(node, doc, &mut globals, warnings)?,
            "virtual_server_group" => {}
            "virtual_server" => check::virtual_server(node, &groups, doc, warnings)?,
            "vrrp_instance" => instances.push(vrrp::instance(node, warnings)?),
            "vrrp_sync_group" => {
                sync_groups.push(vrrp::sync_group(node, &mut doc.notes, warnings)?)
            }
            "static_ipaddress" => {
                let message =
                    "the box's own addresses come from --interface NAME=CIDR: give these there";
                let note = warnings.left_out(o, k, message);
                doc.notes.push(note);
            }
            "vrrp_script" => {
                let message = "scripts are not run; [vrrp] track_services lowers the priority while a service is down";
                let note = warnings.left_out(o, k, message);
                doc.notes.push(note);
            }
            "static_routes" | "static_rules" | "virtual_routes" | "virtual_rules" => {
                let message = "routes are [[route]] tables in router.toml: write them by hand";
                let note = warnings.left_out(o, k, message);
                doc.notes.push(note);
            }
            _ => {
                let message = "a top-level keepalived section with no router.toml equivalent";
                let note = warnings.left_out(o, k, message);
                doc.notes.push(note);
            }
        }
    }
    let Some(mut chosen) = vrrp::choose(instances, &sync_groups, warnings) else {
        if let Some((interface, _, _, o)) = &globals.sync {
            let message =
                format!("no vrrp_instance, so no [vrrp] to hold sync_interface = {interface:?}");
            let note = warnings.left_out(o, "lvs_sync_daemon", message);
            doc.notes.push(note);
        }
        return Ok(());
    };
    // The version both boxes must speak.
    let (version, at) = match (&chosen.version, &globals.vrrp_version) {
        (Some((v, o)), _) | (None, Some((v, o))) => (*v, o.clone()),
        (None, None) => (2, chosen.vrrp.origins[0].clone()),
    };
    if version != 3 {
        let message = "keepalived speaks VRRPv2 unless told otherwise, lvsinit VRRPv3: the peer's keepalived.conf must say vrrp_version 3 (in global_defs)";
        let note = warnings.left_out(&at, "vrrp_version", message);
        chosen.vrrp.notes.push(note);
    }
    if let Some((interface, instance, id, o)) = globals.sync.take() {
        match instance {
            Some(name) if name != chosen.name => {
                let message = format!(
                    "its instance {name} is not the one carried ({})",
                    chosen.name
                );
                let note = warnings.left_out(&o, "lvs_sync_daemon", message);
                chosen.vrrp.notes.push(note);
            }
            _ => {
                chosen.vrrp.sync_interface = Some((interface, o));
                chosen.vrrp.sync_id = id;
            }
        }
    }
    chosen.name_interfaces(doc);
    doc.vrrp = Some(chosen.vrrp);
    Ok(())
}

fn global_defs(
    node: &Node,
    doc: &mut Doc,
    globals: &mut Globals,
    warnings: &mut Warnings,
) -> Result<(), ImportError> {
    for child in node.block.iter().flatten() {
        let k = child.keyword.as_str();
        let o = &child.origin;
        match k {
            "router_id" => {
                let id = arg(child, 0, "a name")?;
                let valid = (1..=64).contains(&id.len())
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
                if valid {
                    doc.hostname = Some((id.to_string(), o.clone()));
                } else {
                    let message = "not a host name (1 to 64 letters, digits, '-' and '.'): hostname is left at its default";
                    let note = warnings.left_out(o, k, message);
                    doc.notes.push(note);
                }
            }
            "vrrp_version" => {
                globals.vrrp_version = Some((number(child, 0, "2 or 3", 2, 3)? as u8, o.clone()))
            }
            "lvs_sync_daemon" => {
                let interface = arg(child, 0, "an interface")?.to_string();
                let mut instance = None;
                let mut id = None;
                let mut i = 1;
                while let Some(a) = child.arg(i) {
                    match a {
                        "id" => {
                            id = Some(number(child, i + 1, "a sync id", 0, 255)? as u8);
                            i += 2;
                        }
                        "inst" => {
                            instance = Some(arg(child, i + 1, "an instance")?.to_string());
                            i += 2;
                        }
                        "maxlen" | "port" | "ttl" | "group" => {
                            let value = child.arg(i + 1).unwrap_or("");
                            let message = "a sync daemon option with no router.toml key";
                            let note = warnings.left_out(
                                o,
                                &format!("lvs_sync_daemon {a} {value}"),
                                message,
                            );
                            doc.notes.push(note);
                            i += 2;
                        }
                        name if i == 1 => {
                            instance = Some(name.to_string());
                            i += 1;
                        }
                        other => {
                            return Err(ImportError::syntax(
                                o,
                                format!("lvs_sync_daemon: {other:?} is not one of its options"),
                            ));
                        }
                    }
                }
                globals.sync = Some((interface, instance, id, o.clone()));
            }
            "notification_email"
            | "notification_email_from"
            | "smtp_server"
            | "smtp_connect_timeout"
            | "smtp_helo_name" => {
                let message = "no e-mail alerts; a [[webhook]] can be told of state changes";
                let note = warnings.left_out(o, k, message);
                doc.notes.push(note);
            }
            "script_user" | "enable_script_security" => {
                let note = warnings.left_out(o, k, "scripts are not run");
                doc.notes.push(note);
            }
            _ => {
                let note = warnings.left_out(o, k, "a global setting with no router.toml key");
                doc.notes.push(note);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
