//! End-to-end test of the control half of the API (issue 12), booting
//! from a copy of router.img so that the boot partition is real: the box
//! runs `testkit/configs/control.toml` (two PostgreSQL real servers, rr,
//! the API over TLS on 192.168.1.1:8443 with the password
//! `lab-password`), and the operator drives it with `lvsinit remote` (the
//! static binary the image carries) from the client namespace.
//!
//! Checked on one boot, then after a reboot asked through the API (and, in
//! a VM of its own, the table put back after a change behind its back):
//! - the console prints the certificate's fingerprint; the client with
//!   neither `--fingerprint` nor `--ca` refuses and shows the same one; a
//!   wrong fingerprint is refused (exit 3);
//! - no password or a wrong one: 401; a body over 4 MiB: 413;
//! - `GET /config` is the file, byte for byte;
//! - an invalid push: 422 naming its line, nothing changed;
//! - a dry run answers the changes and changes nothing;
//! - a push of rr → wrr 3:1: the kernel's table follows, a psql session
//!   opened before stays up, new connections split 3:1;
//! - drain: new connections avoid the real server, weight 0 in the
//!   kernel, `override` "drain" in /status; enable: back;
//! - a push with `--confirm 10s` that moves the API elsewhere, not
//!   confirmed: the API is back on 8443 with the previous config after
//!   the window, and the disk still has the wrr config;
//! - reboot: the box comes back with the pushed config (and the same
//!   certificate);
//! - a power cut while a push writes the boot partition: QEMU is killed
//!   at each dangerous point of the write (a test-layer hook pauses it
//!   there), and the next boot finds router.toml whole, old or new, and
//!   runs it;
//! - a box whose config came by fw_cfg applies a push and says it will
//!   not survive a reboot.
//!
//! Needs root, QEMU, PostgreSQL 15, curl and a built image
//! (`image/build --test-layer`); fails loudly, never skips.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testkit::cpio::Cpio;
use testkit::lab::operator::{Run, console_fingerprint};
use testkit::lab::{Lab, Vm, VmOptions};
use testkit::{config, repo};

const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);
const URL: &str = "https://192.168.1.1:8443";
const PASSWORD: &str = "lab-password";

/// `lvsinit remote` with the fingerprint and the password file.
fn admin(lab: &Lab, fingerprint: &str, password_file: &str, args: &[&str]) -> Run {
    let mut all = vec![
        "--url",
        URL,
        "--fingerprint",
        fingerprint,
        "--password-file",
        password_file,
    ];
    all.extend_from_slice(args);
    lab.client.remote(&all)
}

fn ok(run: Run, what: &str) -> String {
    run.ok(what)
}

/// The kernel's table in the VM.
fn ipvsadm(vm: &Vm) -> String {
    vm.shell_ok("ipvsadm -Ln")
}

/// Which real server answers `n` new connections through the VIP.
fn split(lab: &Lab, n: usize) -> (usize, usize) {
    let (mut a, mut b) = (0, 0);
    for _ in 0..n {
        match lab.client.server_addr(testkit::lab::VIP).as_deref() {
            Ok("192.168.3.2") => a += 1,
            Ok("192.168.3.3") => b += 1,
            other => panic!("through the VIP: {other:?}"),
        }
    }
    (a, b)
}

/// The test layer with the boot partition's pause hook naming `point`
/// (`src/boot_partition.rs`): a write stops there for good.
fn pause_initrd(dir: &Path, point: &str) -> PathBuf {
    let hook = dir.join(format!("pause-{point}"));
    std::fs::write(&hook, point).unwrap();
    let mut cpio = Cpio::default();
    cpio.file("/etc/lvsinit/test-hooks/pause-write", &hook)
        .unwrap();
    let layer = repo().join("out/test-layer.cpio.gz");
    let mut initrd = std::fs::read(&layer).unwrap_or_else(|e| panic!("{}: {e}", layer.display()));
    while !initrd.len().is_multiple_of(4) {
        initrd.push(0);
    }
    initrd.extend(cpio.finish());
    let path = dir.join(format!("initrd-{point}"));
    std::fs::write(&path, initrd).unwrap();
    path
}

/// The hostname the box set at boot.
fn booted_hostname(vm: &Vm) -> String {
    let line = vm
        .wait_for("hostname: ", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    line.rsplit("hostname: ").next().unwrap().trim().to_string()
}

fn write(lab: &Lab, name: &str, text: &str) -> String {
    lab.write_file(name, text).to_string_lossy().into_owned()
}

#[test]
fn the_box_changed_from_the_network() {
    let mut lab = Lab::new();
    let rr = std::fs::read_to_string(config("control.toml")).unwrap();
    let image: PathBuf = lab.router_img_with(&[(config("control.toml"), "router.toml")]);
    let mut options = VmOptions::director(config("control.toml"));
    options.config = None;
    options.disk_image = Some(image.clone());
    options.disk_writable = true;
    lab.start_vm(options.clone());
    lab.add_real_servers(2);
    lab.vms[0]
        .wait_for("ready boot_ms=", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let fingerprint = console_fingerprint(&lab.vms[0], 0, BOOT_TIMEOUT);
    let password = write(&lab, "password", &format!("{PASSWORD}\n"));
    let wrong = write(&lab, "wrong", "not-the-password\n");

    // Trust: the client refuses without a fingerprint and shows the box's.
    let run = lab.client.remote(&["--url", URL, "status"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&fingerprint), "{}", run.stderr);
    let bad = format!("SHA256:{}", "00".repeat(32));
    let run = lab
        .client
        .remote(&["--url", URL, "--fingerprint", &bad, "status"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    let status = ok(
        lab.client
            .remote(&["--url", URL, "--fingerprint", &fingerprint, "status"]),
        "status",
    );
    assert!(status.contains("192.168.3.2:5432"), "{status}");

    // The password: none or wrong is 401; /config always needs it.
    assert_eq!(lab.client.curl(&[&format!("{URL}/config")]).0, 401);
    assert_eq!(
        lab.client
            .curl(&["-u", "admin:nope", &format!("{URL}/config")])
            .0,
        401
    );
    let run = admin(&lab, &fingerprint, &wrong, &["config", "get"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let got = ok(
        admin(&lab, &fingerprint, &password, &["config", "get"]),
        "config get",
    );
    assert_eq!(got, rr, "GET /config is the file byte for byte");
    // Over 4 MiB: 413, before anything is read.
    let big = write(&lab, "big.toml", &"#".repeat(5 * 1024 * 1024));
    let (code, _) = lab.client.curl(&[
        "-u",
        &format!("admin:{PASSWORD}"),
        "-X",
        "PUT",
        "--data-binary",
        &format!("@{big}"),
        &format!("{URL}/config"),
    ]);
    assert_eq!(code, 413);

    // An invalid push: 422 naming the line; nothing changed.
    let before = ipvsadm(&lab.vms[0]);
    let invalid = write(
        &lab,
        "invalid.toml",
        &rr.replace("scheduler = \"rr\"", "scheduler = \"fastest\""),
    );
    let run = admin(&lab, &fingerprint, &password, &["config", "push", &invalid]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("router.toml:21:"), "{}", run.stderr);
    assert_eq!(ipvsadm(&lab.vms[0]), before);

    // rr → wrr 3:1: a dry run first, then the push.
    let wrr_text = rr
        .replace("scheduler = \"rr\"", "scheduler = \"wrr\"")
        .replace(
            "address = \"192.168.3.2:5432\"\n",
            "address = \"192.168.3.2:5432\"\n  weight = 3\n",
        );
    let wrr = write(&lab, "wrr.toml", &wrr_text);
    let dry = ok(
        admin(
            &lab,
            &fingerprint,
            &password,
            &["config", "push", &wrr, "--dry-run"],
        ),
        "dry run",
    );
    assert!(dry.contains("-s wrr"), "{dry}");
    assert_eq!(ipvsadm(&lab.vms[0]), before, "a dry run changed the table");
    let mut session = lab.client.session(testkit::lab::VIP).unwrap();
    session.query("select 1").unwrap();
    let pushed = ok(
        admin(&lab, &fingerprint, &password, &["config", "push", &wrr]),
        "push",
    );
    assert!(
        pushed.contains("-s wrr") && pushed.contains("-w 3"),
        "{pushed}"
    );
    assert!(pushed.contains("persisted: yes"), "{pushed}");
    let table = ipvsadm(&lab.vms[0]);
    assert!(table.contains("wrr"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("192.168.3.2:5432") && l.split_whitespace().nth(3) == Some("3")),
        "{table}"
    );
    session
        .query("select 1")
        .unwrap_or_else(|e| panic!("the session opened before the push: {e}"));
    let (a, b) = split(&lab, 40);
    assert_eq!((a, b), (30, 10), "wrr 3:1");
    assert_eq!(
        testkit::image::read_boot_partition(&image, "router.toml.prev"),
        rr
    );

    // Drain 192.168.3.3: no new connections, weight 0; enable: back.
    ok(
        admin(
            &lab,
            &fingerprint,
            &password,
            &["drain", "pg", "192.168.3.3:5432"],
        ),
        "drain",
    );
    assert_eq!(split(&lab, 8), (8, 0), "drained");
    let (code, status) = lab.client.curl(&[&format!("{URL}/status")]);
    assert_eq!(code, 200);
    assert!(status.contains("\"override\":\"drain\""), "{status}");
    // A reload that keeps the real server keeps it drained.
    ok(admin(&lab, &fingerprint, &password, &["reload"]), "reload");
    let table = ipvsadm(&lab.vms[0]);
    assert!(
        table
            .lines()
            .any(|l| l.contains("192.168.3.3:5432") && l.split_whitespace().nth(3) == Some("0")),
        "drained after a reload: {table}"
    );
    ok(
        admin(
            &lab,
            &fingerprint,
            &password,
            &["enable", "pg", "192.168.3.3:5432"],
        ),
        "enable",
    );
    let (_, b) = split(&lab, 8);
    assert!(b > 0, "enabled again");
    let run = admin(
        &lab,
        &fingerprint,
        &password,
        &["drain", "pg", "192.168.3.9:5432"],
    );
    assert_eq!(
        run.code, 1,
        "an unknown real server: {}{}",
        run.stdout, run.stderr
    );

    // Commit confirmed: move the API to 8444 for 10 s, do not confirm.
    let moved = write(
        &lab,
        "moved.toml",
        &wrr_text.replace("192.168.1.1:8443", "192.168.1.1:8444"),
    );
    let mark = lab.vms[0].mark();
    let provisional = ok(
        admin(
            &lab,
            &fingerprint,
            &password,
            &["config", "push", &moved, "--confirm", "10s"],
        ),
        "push --confirm",
    );
    assert!(
        provisional.contains("persisted: no") && provisional.contains("confirm by: "),
        "{provisional}"
    );
    lab.vms[0]
        .wait_for_after(
            mark,
            "management: listening on 192.168.1.1:8444",
            CHANGE_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    lab.vms[0]
        .wait_for_after(mark, "not confirmed in time", CHANGE_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let back = Instant::now();
    loop {
        let run = lab
            .client
            .remote(&["--url", URL, "--fingerprint", &fingerprint, "status"]);
        if run.code == 0 {
            break;
        }
        assert!(
            back.elapsed() < CHANGE_TIMEOUT,
            "the API did not come back: {}",
            run.stderr
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        testkit::image::read_boot_partition(&image, "router.toml"),
        wrr_text,
        "the disk kept the confirmed config"
    );

    // Reboot through the API: the box comes back with the pushed config.
    ok(admin(&lab, &fingerprint, &password, &["reboot"]), "reboot");
    let gone = Instant::now();
    while lab.vms[0].is_running() {
        assert!(
            gone.elapsed() < CHANGE_TIMEOUT,
            "QEMU still runs after the reboot"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The next boot pauses its first write after the copy to .prev.
    let points = ["after-previous", "after-temporary", "after-rename"];
    let boot_pausing = |lab: &mut Lab, point: Option<&str>| {
        let mut options = options.clone();
        if let Some(point) = point {
            let initrd = pause_initrd(lab.dir(), point);
            options.extra_args = vec!["-initrd".into(), initrd.display().to_string()];
        }
        let index = lab.start_vm(options);
        lab.vms[index]
            .wait_for("ready boot_ms=", BOOT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
        index
    };
    let index = boot_pausing(&mut lab, Some(points[0]));
    assert_eq!(
        console_fingerprint(&lab.vms[index], 0, BOOT_TIMEOUT),
        fingerprint,
        "the certificate was kept"
    );
    let table = ipvsadm(&lab.vms[index]);
    assert!(table.contains("wrr"), "after the reboot: {table}");
    assert_eq!(booted_hostname(&lab.vms[index]), "lab-ctl");

    // Power cuts: at each point a push's write stops, QEMU is killed, and
    // the next boot must find router.toml whole (the old or the new file)
    // and run it.
    let mut old = wrr_text.clone();
    let mut index = index;
    for (i, point) in points.iter().enumerate() {
        let new = old.replace(
            &format!("hostname = \"{}\"", hostname_of(&old)),
            &format!("hostname = \"lab-cut-{i}\""),
        );
        let file = write(&lab, &format!("cut-{i}.toml"), &new);
        let mark = lab.vms[index].mark();
        // The answer never comes: the write is paused for good.
        let push = {
            let args: Vec<String> = [
                "--url",
                URL,
                "--fingerprint",
                &fingerprint,
                "--password-file",
                &password,
                "config",
                "push",
                &file,
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            let binary = repo().join(".cache/stage/lvsinit");
            let mut command = lab.client.ns().command(binary.to_str().unwrap());
            command.arg("remote").args(&args);
            command.spawn().expect("start the push")
        };
        lab.vms[index]
            .wait_for_after(
                mark,
                &format!("boot partition: paused at {point}"),
                CHANGE_TIMEOUT,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        lab.vms[index].kill();
        let mut push = push;
        let _ = push.kill();
        let _ = push.wait();
        let on_disk = testkit::image::read_boot_partition(&image, "router.toml");
        assert!(
            on_disk == old || on_disk == new,
            "after a cut at {point}, router.toml is neither the old file nor the new one:\n{on_disk}"
        );
        // Before the rename router.toml can only be the old file.
        if *point != "after-rename" {
            assert_eq!(
                on_disk, old,
                "after a cut at {point}, router.toml is not the old file"
            );
        }
        eprintln!(
            "e2e_control: cut at {point}: router.toml is the {} file",
            if on_disk == new { "new" } else { "old" }
        );
        let next = points.get(i + 1).copied();
        index = boot_pausing(&mut lab, next);
        let booted = booted_hostname(&lab.vms[index]);
        assert_eq!(
            booted,
            hostname_of(&on_disk),
            "after a cut at {point}, the box runs another file"
        );
        old = on_disk;
    }
    // After three cuts the partition still takes a write, cleanly.
    let last = write(
        &lab,
        "last.toml",
        &old.replace(&hostname_of(&old), "lab-ctl-last"),
    );
    let pushed = ok(
        admin(&lab, &fingerprint, &password, &["config", "push", &last]),
        "a push after the cuts",
    );
    assert!(pushed.contains("persisted: yes"), "{pushed}");
    for vm in &lab.vms {
        let console = vm.console();
        assert!(
            !console.contains("FAT-fs"),
            "the FAT driver complained:\n{console}"
        );
    }
    lab.vms[index].kill();
    assert_eq!(
        testkit::image::read_boot_partition(&image, "router.toml"),
        std::fs::read_to_string(&last).unwrap()
    );

    // A box whose config comes by fw_cfg applies a push and says it will
    // not outlive a reboot; its boot partition is left alone.
    let mut options = options.clone();
    options.config = Some(config("control.toml"));
    let index = lab.start_vm(options);
    lab.vms[index]
        .wait_for("ready boot_ms=", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    // Without the boot partition mounted it made a certificate of its own.
    let its_own = console_fingerprint(&lab.vms[index], 0, BOOT_TIMEOUT);
    let pushed = ok(
        admin(&lab, &its_own, &password, &["config", "push", &wrr]),
        "a push to a fw_cfg box",
    );
    assert!(
        pushed.contains("persisted: no") && pushed.contains("comes from fw_cfg"),
        "{pushed}"
    );
    assert!(ipvsadm(&lab.vms[index]).contains("wrr"));
    lab.vms[index].kill();
    assert_eq!(
        testkit::image::read_boot_partition(&image, "router.toml"),
        std::fs::read_to_string(&last).unwrap()
    );
}

/// The `hostname = "..."` of a config text.
fn hostname_of(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("hostname = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("a hostname line")
        .to_string()
}

/// Someone changes the IPVS table behind the box's back (ipvsadm in the
/// test layer): within the director's 60 s check it is put back, and the
/// console, `/status` (checked against its schema) and the metrics say so.
#[test]
fn a_table_changed_behind_its_back_is_put_back() {
    let mut lab = Lab::new();
    lab.start_vm(VmOptions::director(config("control.toml")));
    lab.add_real_servers(2);
    let vm = &lab.vms[0];
    vm.wait_for("ready boot_ms=", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let mark = vm.mark();
    vm.shell_ok("ipvsadm -d -t 192.168.1.100:5432 -r 192.168.3.3:5432");
    vm.shell_ok("ipvsadm -A -t 192.168.1.100:80 -s rr");
    vm.wait_for_after(mark, "putting it back", Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("{e}"));
    let table = ipvsadm(vm);
    assert!(table.contains("192.168.3.3:5432"), "not put back: {table}");
    assert!(
        !table.contains("192.168.1.100:80 "),
        "the stranger stayed: {table}"
    );
    let (code, body) = lab.client.curl(&[&format!("{URL}/status")]);
    assert_eq!(code, 200, "{body}");
    let status = testkit::status::valid(lab.dir(), &body);
    let drift = &status["ipvs_drift"];
    assert_eq!(drift["repairs"], 1, "{drift}");
    let changes: Vec<&str> = drift["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        changes.contains(&"ipvsadm -D -t 192.168.1.100:80")
            && changes
                .iter()
                .any(|c| c.starts_with("ipvsadm -a -t 192.168.1.100:5432 -r 192.168.3.3:5432")),
        "{changes:?}"
    );
    let (_, metrics) = lab.client.curl(&[&format!("{URL}/metrics")]);
    assert!(
        metrics.contains("\nlvsinit_ipvs_drift_repairs_total 1\n"),
        "{metrics}"
    );
}
