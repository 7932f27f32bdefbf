//! End-to-end test of the boot fallback, on one booted VM: a copy of
//! router.img whose boot partition holds an invalid router.toml
//! (`testkit/configs/bad-keys.toml`) and a valid router.toml.prev
//! (`fallback-previous.toml`, with `[management]`), written there with
//! mtools.
//!
//! Checked, in order, on that one boot:
//! - the console shows router.toml's diagnostics and the loud fallback
//!   line, and the box runs router.toml.prev: its hostname, its virtual
//!   service in the kernel's IPVS table, `ready`;
//! - `/status` (valid against `src/management/status.schema.json`) has
//!   `config.fallback` with router.toml's diagnostics, and `/metrics` has
//!   `lvsinit_config_fallback 1`;
//! - the operator puts a valid router.toml in place and sends SIGHUP: the
//!   reload clears the fallback in `/status` and `/metrics`.
//!
//! Needs root, QEMU, curl, /usr/bin/python3 with python3-jsonschema, mtools
//! and gdisk, and a built image (`image/build --test-layer`); it fails
//! loudly, never skips, when one is missing.

use std::path::Path;
use std::time::Duration;

use testkit::config;
use testkit::lab::{Lab, VmOptions};

/// How long a `-kernel` boot under TCG may take to reach `ready`.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a reload may take to show under a loaded TCG guest.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);
/// The API of `fallback-previous.toml`.
const API: &str = "http://192.168.1.1:9100";

/// GET `path` of the API with curl from the client namespace; must
/// answer 200.
fn get_ok(lab: &Lab, path: &str) -> String {
    let url = format!("{API}{path}");
    let out = lab.client.ns().exec(&[
        "curl",
        "-sS",
        "--fail",
        "--retry",
        "5",
        "--retry-connrefused",
        "--max-time",
        "20",
        &url,
    ]);
    assert!(
        out.status.success(),
        "GET {url}: {}\nconsole:\n{}",
        String::from_utf8_lossy(&out.stderr).trim(),
        lab.vms[0].console()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Validate a `/status` answer against the schema: [`testkit::status::valid`].
fn valid_status(dir: &Path, body: &str) -> serde_json::Value {
    testkit::status::valid(dir, body)
}

/// The value of the sample `name` (no labels) in a scrape.
fn sample(metrics: &str, name: &str) -> Option<String> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .map(str::to_string)
}

#[test]
fn an_invalid_router_toml_falls_back_to_the_previous_one() {
    let mut lab = Lab::new();
    let image = lab.router_img_with(&[
        (config("bad-keys.toml"), "router.toml"),
        (config("fallback-previous.toml"), "router.toml.prev"),
    ]);
    let mut options = VmOptions::director(config("fallback-previous.toml"));
    options.config = None;
    options.disk_image = Some(image);
    lab.start_vm(options);
    let vm = &lab.vms[0];
    vm.wait_for("ready boot_ms=", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));

    // Loud on the console: router.toml's own diagnostics, then the line.
    let console = vm.console();
    let fallback = console
        .lines()
        .find(|l| l.contains("config: FALLBACK: router.toml is invalid ("))
        .unwrap_or_else(|| panic!("no fallback line:\n{console}"));
    assert!(
        fallback.contains("running LVSBOOT:/router.toml.prev instead"),
        "{fallback}"
    );
    assert!(
        console.contains("LVSBOOT:/router.toml:") && console.contains("wieght"),
        "router.toml's diagnostics are not on the console:\n{console}"
    );
    assert!(
        !console.contains("config: invalid ("),
        "the box says nothing runs:\n{console}"
    );
    // It runs router.toml.prev.
    assert!(
        console.contains("hostname: lab-previous"),
        "not router.toml.prev's hostname:\n{console}"
    );
    let table = vm.shell_ok("ipvsadm -Ln");
    assert!(
        table.contains("TCP  192.168.1.201:5432 rr"),
        "router.toml.prev's service is not in IPVS:\n{table}"
    );

    // /status and /metrics say so, with router.toml's diagnostics.
    let status = valid_status(lab.dir(), &get_ok(&lab, "/status"));
    assert_eq!(status["hostname"], "lab-previous");
    assert_eq!(status["config"]["source"], "boot");
    let fallback = &status["config"]["fallback"];
    assert_eq!(fallback["reason"], "router.toml is invalid", "{status}");
    let errors = fallback["errors"].as_array().expect("errors");
    assert!(
        errors.iter().any(|e| e
            .as_str()
            .is_some_and(|e| e.starts_with("LVSBOOT:/router.toml:") && e.contains("wieght"))),
        "{fallback}"
    );
    let metrics = get_ok(&lab, "/metrics");
    assert_eq!(
        sample(&metrics, "lvsinit_config_fallback").as_deref(),
        Some("1"),
        "{metrics}"
    );

    // The operator fixes router.toml and reloads: the fallback is over.
    let mark = vm.mark();
    vm.shell_ok(
        "mount -o remount,rw /boot && cp /boot/router.toml.prev /boot/router.toml && \
         mount -o remount,ro /boot && kill -HUP 1",
    );
    vm.wait_for_after(mark, "reload: ", CHANGE_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let status = valid_status(lab.dir(), &get_ok(&lab, "/status"));
    assert_eq!(
        status["config"]["fallback"],
        serde_json::Value::Null,
        "{status}"
    );
    let metrics = get_ok(&lab, "/metrics");
    assert_eq!(
        sample(&metrics, "lvsinit_config_fallback").as_deref(),
        Some("0"),
        "{metrics}"
    );
}
