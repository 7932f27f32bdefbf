//! Boot tests of the built image under QEMU: the appliance reaches `ready`
//! booted directly (`-kernel`) and by UEFI from `out/router.img`, and takes
//! its router.toml from the right place: fw_cfg wins over the boot
//! partition, which wins over the built-in default.
//!
//! Needs QEMU, OVMF, gdisk and mtools (tests/run installs them); the image
//! is built by the first test to start (`image/build --test-layer`).
//! Nothing here is skipped: a missing tool fails the test.

use std::fs;
use std::time::Duration;

use testkit::image::{self, copy_router_img, put_on_boot_partition, read_boot_partition};
use testkit::{TempDir, Vm, VmOptions, repo};

/// `-kernel` boots under TCG take a few seconds; leave room for a busy host.
const KERNEL_BOOT: Duration = Duration::from_secs(60);
/// UEFI boots run the OVMF firmware first, slow under TCG.
const UEFI_BOOT: Duration = Duration::from_secs(120);

/// The init's last boot line, `ready boot_ms=N apply_ms=N` (plain "ready"
/// would also match kernel lines saying "already").
const READY: &str = "ready boot_ms=";

/// The next console line with `pattern`, after the last one waited for.
fn wait(vm: &Vm, pattern: &str, timeout: Duration) -> String {
    vm.wait_next(pattern, timeout)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The hostname set by image/router.toml, the built-in default.
fn default_hostname() -> String {
    let default = repo().join("image/router.toml");
    let text = fs::read_to_string(&default)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", default.display()));
    text.lines()
        .find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "hostname").then(|| value.trim().trim_matches('"').to_string())
        })
        .unwrap_or_else(|| panic!("{} sets no hostname", default.display()))
}

/// The default router.toml (the one built in) with its hostname replaced.
fn config_with_hostname(hostname: &str) -> String {
    let default = repo().join("image/router.toml");
    let text = fs::read_to_string(&default)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", default.display()));
    let mut replaced = false;
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            if !replaced && line.trim_start().starts_with("hostname") && line.contains('=') {
                replaced = true;
                format!("hostname = \"{hostname}\"")
            } else {
                line.to_string()
            }
        })
        .collect();
    if !replaced {
        // A top-level key must come before the first table.
        lines.insert(0, format!("hostname = \"{hostname}\""));
    }
    lines.join("\n") + "\n"
}

/// Boot directly with no disk and no fw_cfg: the built-in default config.
#[test]
fn kernel_boot_uses_built_in_default() {
    image::build();
    let vm = Vm::boot(&VmOptions::default());
    let source = wait(&vm, "config:", KERNEL_BOOT);
    assert!(
        source.contains("built-in /etc/lvsinit/router.toml"),
        "expected the built-in default, got {source:?}\n{}",
        vm.console()
    );
    wait(
        &vm,
        &format!("hostname: {}", default_hostname()),
        KERNEL_BOOT,
    );
    wait(&vm, READY, KERNEL_BOOT);
}

/// Boot out/router.img by UEFI firmware, no boot loader: BOOTX64.EFI is
/// the kernel. The image carries the default config on its boot partition.
#[test]
fn uefi_boot_of_router_img() {
    let dir = TempDir::new("uefi");
    image::build();
    let image = copy_router_img(dir.path());
    let vm = Vm::boot(&VmOptions {
        uefi_image: Some(image),
        ..VmOptions::default()
    });
    let source = wait(&vm, "config:", UEFI_BOOT);
    assert!(
        source.contains("boot partition"),
        "expected the boot partition's router.toml, got {source:?}\n{}",
        vm.console()
    );
    wait(&vm, READY, UEFI_BOOT);
}

/// A router.toml dropped onto the boot partition wins over the built-in one.
#[test]
fn boot_partition_config_wins_over_built_in() {
    let dir = TempDir::new("dropin");
    image::build();
    let image = copy_router_img(dir.path());
    let dropin = dir.path().join("router.toml");
    fs::write(&dropin, config_with_hostname("dropin-test")).unwrap();
    put_on_boot_partition(&image, &[(dropin, "router.toml")]);
    assert!(
        read_boot_partition(&image, "router.toml").contains("\"dropin-test\""),
        "mcopy did not replace router.toml"
    );

    let vm = Vm::boot(&VmOptions {
        disk_image: Some(image),
        ..VmOptions::default()
    });
    let source = wait(&vm, "config:", KERNEL_BOOT);
    assert!(
        source.contains("boot partition LVSBOOT"),
        "expected the boot partition, got {source:?}\n{}",
        vm.console()
    );
    wait(&vm, "hostname: dropin-test", KERNEL_BOOT);
    wait(&vm, READY, KERNEL_BOOT);
}

/// fw_cfg (`qemu/run --config`) wins over both the boot partition and the
/// built-in default.
#[test]
fn fw_cfg_config_wins_over_boot_partition() {
    let dir = TempDir::new("fwcfg");
    image::build();
    let image = copy_router_img(dir.path());
    let dropin = dir.path().join("dropin.toml");
    fs::write(&dropin, config_with_hostname("dropin-test")).unwrap();
    put_on_boot_partition(&image, &[(dropin, "router.toml")]);
    let fw_cfg = dir.path().join("fwcfg.toml");
    fs::write(&fw_cfg, config_with_hostname("fwcfg-test")).unwrap();

    let vm = Vm::boot(&VmOptions {
        config: Some(fw_cfg),
        disk_image: Some(image),
        ..VmOptions::default()
    });
    let source = wait(&vm, "config:", KERNEL_BOOT);
    assert!(
        source.contains("fw_cfg opt/lvsinit/router.toml"),
        "expected fw_cfg, got {source:?}\n{}",
        vm.console()
    );
    wait(&vm, "hostname: fwcfg-test", KERNEL_BOOT);
    wait(&vm, READY, KERNEL_BOOT);
}
