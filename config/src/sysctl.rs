//! `[sysctl]`: extra kernel settings, as `sysctl -w` names them.
//!
//! `net.ipv4.ip_forward = 1` is always applied by the appliance, so the
//! file may not turn it off.

use super::error::Span;
use super::names::check_sysctl_name;
use super::tree::{Kind, Table};
use super::walk::{Ctx, Field, Path, int};

/// `[sysctl]`: free-form names with integer, string or boolean values.
/// Unquoted dotted keys (`net.ipv4.vs.conntrack = 1`) make nested tables in
/// TOML; they are flattened back into dotted names.
pub(super) fn read_sysctls(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<Vec<(String, String)>> {
    let mut found = Vec::new();
    match field.value.kind() {
        Kind::Table(table) => collect(ctx, &field.path, "", table, &mut found),
        _ => ctx.type_error(field, "a table ([sysctl])"),
    }
    // Dotted keys sharing a prefix are merged into one nested table by
    // TOML; the leaf keys' positions give back the file order.
    found.sort_by_key(|(_, _, span)| span.start);
    let mut sysctls: Vec<(String, String)> = Vec::new();
    for (i, (name, value, span)) in found.iter().enumerate() {
        if let Some(first) = found[..i].iter().find(|(n, _, _)| n == name) {
            let (line, _) = ctx.report.position(first.2.start);
            let message = format!("set twice; it is first set on line {line}");
            ctx.report.error(span, field.path.key(name), message);
        } else {
            sysctls.push((name.clone(), value.clone()));
        }
    }
    Some(sysctls)
}

fn collect(
    ctx: &mut Ctx,
    at: &Path<'_>,
    prefix: &str,
    table: Table<'_, '_>,
    found: &mut Vec<(String, String, Span)>,
) {
    for value in table.iter() {
        let name = match prefix {
            "" => value.key().to_string(),
            _ => format!("{prefix}.{}", value.key()),
        };
        if let Kind::Table(table) = value.kind() {
            collect(ctx, at, &name, table, found);
            continue;
        }
        // For a dotted key (`net.ipv4.vs.conntrack = 1`) TOML gives the span
        // of its last word only; point at the whole key instead.
        let key_span = ctx.report.key_start(value.key_span().start)..value.key_span().end;
        let field = Field {
            path: at.key(&name),
            key_span: key_span.clone(),
            value,
        };
        if let Err(message) = check_sysctl_name(&name) {
            ctx.key_error(&field, message);
            continue;
        }
        let text = match value.kind() {
            Kind::Integer(_) => {
                int(i128::from(i64::MIN), i128::from(u64::MAX))(ctx, &field).map(|n| n.to_string())
            }
            Kind::Boolean(b) => Some(if b { "1" } else { "0" }.to_string()),
            Kind::String(s) if s.contains(['\n', '\r']) => {
                ctx.error(&field, "a sysctl value must be one line");
                None
            }
            Kind::String(s) => Some(s.to_string()),
            _ => {
                ctx.type_error(&field, "a string, integer or boolean");
                None
            }
        };
        let Some(text) = text else { continue };
        if name == "net.ipv4.ip_forward" && text.trim() != "1" {
            ctx.error(
                &field,
                "is always 1 on this appliance (it forwards packets for IPVS); remove this line",
            );
            continue;
        }
        found.push((name, text, key_span));
    }
}

#[cfg(test)]
mod tests {
    use super::super::load;
    use super::super::test_support::check_cases;

    #[test]
    fn sysctls() {
        let text = "[sysctl]\n\"net.ipv4.vs.conntrack\" = 1\nnet.ipv4.vs.expire_nodest_conn = true\n\
                    \"net.ipv4.ip_local_port_range\" = \"32768 60999\"\n\
                    [sysctl.net.ipv4.conf.wan]\nrp_filter = 0x2\n";
        let (config, _) = load("router.toml", text).unwrap();
        assert_eq!(
            config.sysctls,
            [
                ("net.ipv4.vs.conntrack".to_string(), "1".to_string()),
                ("net.ipv4.vs.expire_nodest_conn".into(), "1".into()),
                ("net.ipv4.ip_local_port_range".into(), "32768 60999".into()),
                ("net.ipv4.conf.wan.rp_filter".into(), "2".into()),
            ]
        );
        check_cases(&[
            (
                "[sysctl]\n\"net.ipv4.vs.foo/bar\" = 1\n",
                &[
                    "router.toml:2:1: error: sysctl.\"net.ipv4.vs.foo/bar\": \"net.ipv4.vs.foo/bar\" \
                   is not a sysctl name: expected dot-separated words of a-z, 0-9, '_' and '-', \
                   like \"net.ipv4.vs.conntrack\"",
                ],
            ),
            (
                "[sysctl]\n\"net..ipv4\" = 1\nkernel = 1\n",
                &[
                    "router.toml:2:1: error: sysctl.\"net..ipv4\": \"net..ipv4\" is not a sysctl name: \
                     expected dot-separated words of a-z, 0-9, '_' and '-', like \"net.ipv4.vs.conntrack\"",
                    "router.toml:3:1: error: sysctl.kernel: \"kernel\" is not a sysctl name: \
                     expected dot-separated words of a-z, 0-9, '_' and '-', like \"net.ipv4.vs.conntrack\"",
                ],
            ),
            (
                "[sysctl]\n\"net.ipv4.vs.conntrack\" = 1.5\n",
                &[
                    "router.toml:2:27: error: sysctl.\"net.ipv4.vs.conntrack\": \
                   expected a string, integer or boolean, found a float",
                ],
            ),
            (
                "[sysctl]\n\"net.ipv4.ip_forward\" = 0\n",
                &[
                    "router.toml:2:25: error: sysctl.\"net.ipv4.ip_forward\": is always 1 on this \
                   appliance (it forwards packets for IPVS); remove this line",
                ],
            ),
            (
                "[sysctl]\n\"net.ipv4.vs.conntrack\" = 1\nnet.ipv4.vs.conntrack = 0\n",
                &[
                    "router.toml:3:1: error: sysctl.\"net.ipv4.vs.conntrack\": set twice; it is first set on line 2",
                ],
            ),
        ]);
    }
}
