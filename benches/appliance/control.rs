//! Item 10, control: a config push to the 1,000 × 10 box. PID 1 boots
//! with item 2's 1,000 × 10 services (checks off) and `[management]` over
//! TLS with a password on its wan address; the client namespace's curl
//! PUTs router.toml with one real server's weight changed, timed from the
//! request to the answer, alternately 2 and 1 so that each push changes
//! one weight. The first push also pays the argon2id verification of the
//! password; the later ones find it remembered.

use crate::report::{self, Row, Section};
use testkit::lab::Lab;

const ITEM: &str = "10 control";
/// Target of issue 12.
const TARGET_PUSH_MS: f64 = 1000.0;
/// Pushes timed after the first.
const PUSHES: usize = 6;
const URL: &str = "https://192.168.1.1:8443/config";
const PASSWORD: &str = "bench-password";

fn config(password_hash: &str) -> String {
    format!(
        "# 1,000 x 10 services changed through the control API (benches/appliance/control.rs)\n\
         hostname = \"lab-bench-ctl\"\n\n\
         [[interface]]\nname = \"wan\"\nmac = \"{}\"\naddresses = [\"192.168.1.1/24\"]\n\n\
         [[interface]]\nname = \"lan\"\nmac = \"{}\"\naddresses = [\"192.168.3.1/24\"]\n\n\
         [management]\nlisten = [\"192.168.1.1:8443\"]\npassword_hash = \"{password_hash}\"\n\n{}",
        testkit::lab::WAN_MAC,
        testkit::lab::LAN_MAC,
        crate::apply::big_director_toml()
    )
}

/// One PUT of `file`: seconds to the answer, and the status.
fn push(lab: &Lab, file: &str) -> Result<(f64, u16), String> {
    let out = lab.client.ns().exec(&[
        "curl",
        "-sS",
        "-k",
        "--max-time",
        "120",
        "-u",
        &format!("admin:{PASSWORD}"),
        "-X",
        "PUT",
        "--data-binary",
        &format!("@{file}"),
        "-o",
        "/dev/null",
        "-w",
        "%{time_total} %{http_code}",
        URL,
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "curl: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut fields = text.split_whitespace();
    match (
        fields.next().and_then(|t| t.parse::<f64>().ok()),
        fields.next().and_then(|c| c.parse::<u16>().ok()),
    ) {
        (Some(t), Some(code)) => Ok((t, code)),
        _ => Err(format!("curl wrote {text:?}")),
    }
}

pub fn run(lab: &mut Lab) -> Section {
    let mut section = Section::default();
    let hash = match lvsinit::management::auth::hash(PASSWORD) {
        Ok(h) => h,
        Err(e) => {
            section
                .rows
                .push(Row::not_measured(ITEM, "1,000 × 10: config push", &e));
            return section;
        }
    };
    let text = config(&hash);
    let path = lab.write_file("control-1000x10.toml", &text);
    let bumped = lab.write_file(
        "control-1000x10-bumped.toml",
        &text.replacen("weight = 1\n", "weight = 2\n", 1),
    );
    let index = match crate::management::boot_from_disk(lab, &path) {
        Ok(index) => index,
        Err(e) => {
            section
                .rows
                .push(Row::not_measured(ITEM, "1,000 × 10: config push", &e));
            return section;
        }
    };
    let files = [bumped.display().to_string(), path.display().to_string()];
    let mut first = None;
    let mut times = Vec::new();
    let mut problem = None;
    for i in 0..=PUSHES {
        match push(lab, &files[i % 2]) {
            Ok((t, 200)) if i == 0 => first = Some(t * 1000.0),
            Ok((t, 200)) => times.push(t * 1000.0),
            Ok((_, code)) => {
                problem = Some(format!("push {i} answered {code}"));
                break;
            }
            Err(e) => {
                problem = Some(e);
                break;
            }
        }
    }
    lab.vms[index].kill();
    let what = "1,000 × 10 (783 kB): config push of a one-weight change, PUT to the answer (password remembered)";
    match problem {
        Some(e) => section.rows.push(Row::not_measured(ITEM, what, &e)),
        None => {
            section.rows.push(Row::judged(
                ITEM,
                what,
                report::spread(&times, "ms", 0),
                format!("≤ {TARGET_PUSH_MS:.0} ms"),
                report::median(&times) <= TARGET_PUSH_MS,
            ));
            section.rows.push(Row::info(
                ITEM,
                "1,000 × 10: the first push, with the argon2id verification (19 MiB, 2 passes)",
                format!("{:.0} ms", first.unwrap_or(f64::NAN)),
            ));
        }
    }
    section.notes.push(format!(
        "Method (control): a VM of its own boots with item 2's 1,000 × 10 services (checks \
         off) and `[management]` over TLS with a password_hash on the boot partition; the \
         client namespace's curl PUTs /config {} times, the file alternately with service 0's \
         first real server at weight 2 and at 1, so that each push is one `ipvsadm -e`. Each \
         push is validated, applied (the table read back once), written to the boot \
         partition (router.toml and router.toml.prev, fsynced) and answered with its changes.",
        PUSHES + 1
    ));
    section
}
