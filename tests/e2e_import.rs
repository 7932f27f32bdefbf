//! `lvsinit import` against the real kernel and the real ipvsadm, inside
//! the VM (the host may have no IPVS at all): a table is made by ipvsadm,
//! saved with `ipvsadm -S -n`, cleared, imported, applied with `lvsinit
//! apply --only ipvs`, and saved again: the two saves must be the same.
//! The import runs here, through the library `lvsinit import` calls (so
//! that the importer under test is this tree's, whatever image is built);
//! check and apply run in the VM.
//!
//! The same for keepalived: Debian's keepalived (from this machine, with
//! its libraries, in an archive appended to the test layer's initrd for
//! this test only) loads each of keepalived's own samples (vendored in
//! testkit/configs/keepalived/) and a config in the shape of the common
//! tutorials, with its checkers, its real servers answering on the VM's
//! loopback (busybox httpd, socat for TLS), and its `ipvsadm -S -n` must be
//! what `lvsinit apply` makes of the import.
//!
//! Needs QEMU, keepalived and a built image (`image/build --test-layer`);
//! fails loudly, never skips, when one is missing. One VM per test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use lvsinit::import::{Format, Options, import};
use testkit::cpio::Cpio;
use testkit::lab::Lab;
use testkit::{TempDir, Vm, VmOptions, config, repo};

/// VMs under TCG on two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A `-kernel` boot under TCG on a busy host.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Write `text` to `path` in the VM through the debug shell, a few lines
/// per command (the serial line takes at most 4095 bytes at once).
fn write_file(vm: &Vm, path: &str, text: &str) {
    vm.shell_ok(&format!(": > {path}"));
    let mut chunk = String::new();
    for line in text.lines() {
        chunk.push_str(&format!(" '{}'", line.replace('\'', r"'\''")));
        if chunk.len() > 600 {
            vm.shell_ok(&format!("printf '%s\\n'{chunk} >> {path}"));
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        vm.shell_ok(&format!("printf '%s\\n'{chunk} >> {path}"));
    }
}

/// `ipvsadm -S -n`, its lines sorted (the kernel lists in hash order).
fn saved(vm: &Vm) -> Vec<String> {
    let mut lines: Vec<String> = vm
        .shell_ok("ipvsadm -S -n")
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// Import `source` (text of `format`) here, with the library, as
/// `lvsinit import` does; everything must be carried. Then, in the VM:
/// clear the table, `lvsinit check` and `lvsinit apply --only ipvs` the
/// import. The table it leaves.
fn import_and_apply(vm: &Vm, dir: &Path, format: Format, source: &str) -> Vec<String> {
    let file = dir.join("source");
    std::fs::write(&file, source).unwrap();
    let done =
        import(format, &file, &Options::default()).unwrap_or_else(|e| panic!("{e}\n{source}"));
    let warnings: Vec<String> = done.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings.is_empty(),
        "import left something out: {warnings:#?}\n{source}"
    );
    write_file(vm, "/tmp/imported.toml", &done.toml);
    vm.shell_ok("ipvsadm -C");
    assert_eq!(saved(vm), Vec::<String>::new(), "ipvsadm -C left a table");
    vm.shell_ok("lvsinit check /tmp/imported.toml");
    vm.shell_ok("lvsinit apply --only ipvs /tmp/imported.toml");
    saved(vm)
}

/// A lab with only the VM (no NICs: nothing here leaves the VM), booted
/// to `ready` with its debug shell.
fn boot(extra_args: Vec<String>) -> Lab {
    let options = VmOptions {
        config: Some(config("import-vm.toml")),
        test_layer: true,
        extra_args,
        ..VmOptions::default()
    };
    testkit::vm::require_image(&options);
    let mut lab = Lab::new();
    lab.start_vm(options);
    let vm = &lab.vms[0];
    vm.wait_for("ready boot_ms=", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    vm.shell_ok("mkdir -p /tmp");
    lab
}

/// Every ipvsadm option router.toml holds, restored by `ipvsadm -R`.
const TABLE: &str = "\
-A -t 192.168.1.100:5432 -s rr
-a -t 192.168.1.100:5432 -r 192.168.3.2:5432 -m -w 1
-a -t 192.168.1.100:5432 -r 192.168.3.3:5432 -m -w 1
-A -t 192.168.1.101:80 -s wrr -p 600 -M 255.255.255.0
-a -t 192.168.1.101:80 -r 192.168.3.2:8080 -m -w 3 -x 100 -y 50
-a -t 192.168.1.101:80 -r 192.168.3.3:8080 -m -w 0
-A -u 192.168.1.100:53 -s sh -b sh-fallback,sh-port
-a -u 192.168.1.100:53 -r 192.168.3.2:53 -g -w 1
-a -u 192.168.1.100:53 -r 192.168.3.3:53 -i -w 2
-A --sctp-service 192.168.1.102:9000 -s mh -b mh-port
-a --sctp-service 192.168.1.102:9000 -r 192.168.3.4:9000 -m -w 1
-A -f 7 -s lc -p 300
-a -f 7 -r 192.168.3.2:0 -g -w 1
-A -f 8 -6 -s wlc
-a -f 8 -6 -r [2001:db8::2]:0 -g -w 1
-A -t [2001:db8::100]:443 -s nq
-a -t [2001:db8::100]:443 -r [2001:db8::3]:443 -m -w 5
";

/// The classic setup's commands, as a script.
const CLASSIC: &str = "\
#!/bin/sh
ipvsadm -A -t 192.168.1.100:5432 -s rr
ipvsadm -a -t 192.168.1.100:5432 -r 192.168.3.2:5432 -m -w 1
ipvsadm -a -t 192.168.1.100:5432 -r 192.168.3.3:5432 -m -w 1
";

#[test]
fn ipvsadm_tables_survive_import_and_apply() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = boot(Vec::new());
    let vm = &lab.vms[0];

    // ipvsadm-save -n of a table, imported and applied: the same save.
    write_file(vm, "/tmp/table.rules", TABLE);
    vm.shell_ok("ipvsadm -C && ipvsadm -R < /tmp/table.rules");
    let before = saved(vm);
    assert_eq!(
        before.len(),
        TABLE.lines().count(),
        "ipvsadm -R:\n{before:#?}"
    );
    let save = vm.shell_ok("ipvsadm -S -n");
    let dir = TempDir::new("import-ipvsadm");
    let after = import_and_apply(vm, dir.path(), Format::Ipvsadm, &save);
    assert_eq!(after, before, "ipvsadm -S -n after import and apply");

    // The classic commands, run and then imported as the script they are.
    write_file(vm, "/tmp/classic.sh", CLASSIC);
    vm.shell_ok("ipvsadm -C && sh /tmp/classic.sh");
    let classic = saved(vm);
    assert_eq!(
        classic,
        [
            "-A -t 192.168.1.100:5432 -s rr",
            "-a -t 192.168.1.100:5432 -r 192.168.3.2:5432 -m -w 1",
            "-a -t 192.168.1.100:5432 -r 192.168.3.3:5432 -m -w 1",
        ]
    );
    assert_eq!(
        import_and_apply(vm, dir.path(), Format::Ipvsadm, CLASSIC),
        classic
    );
}

/// Binaries of this machine the keepalived test runs in the VM, each with
/// the libraries `ldd` lists: keepalived, and socat for SSL_GET's TLS.
const VM_TOOLS: &[&str] = &["/usr/sbin/keepalived", "/usr/bin/socat"];

/// glibc loads these by name (getpwnam for MISC_CHECK's script user),
/// so `ldd` does not list them.
const VM_DLOPENED: &[&str] = &["/lib/x86_64-linux-gnu/libnss_files.so.2"];

/// Where the self-signed certificate and key socat serves TLS with are.
const VM_TLS_PEM: &str = "/etc/lvsinit-test/tls.pem";

/// A self-signed certificate and its key, made here, in one PEM file.
fn self_signed_pem(dir: &Path) -> PathBuf {
    let (key, cert) = (dir.join("tls.key"), dir.join("tls.crt"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=lvsinit-import-test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl (apt-get install openssl)");
    assert!(status.success(), "openssl req -x509 failed");
    let mut pem = std::fs::read(&cert).unwrap();
    pem.extend(std::fs::read(&key).unwrap());
    let path = dir.join("tls.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

/// The test layer with [`VM_TOOLS`], their libraries and a TLS certificate
/// appended: an initrd for `-initrd`, which qemu takes from the last one
/// given.
fn keepalived_initrd(dir: &Path) -> PathBuf {
    let mut cpio = Cpio::default();
    let mut added: Vec<String> = Vec::new();
    let mut add = |cpio: &mut Cpio, path: &str| {
        if !added.iter().any(|a| a == path) {
            cpio.file(path, Path::new(path))
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            added.push(path.to_string());
        }
    };
    for tool in VM_TOOLS {
        assert!(
            Path::new(tool).exists(),
            "this test needs {tool} on the host (apt-get install keepalived socat)"
        );
        add(&mut cpio, tool);
        let ldd = Command::new("ldd").arg(tool).output().expect("ldd");
        assert!(ldd.status.success(), "ldd {tool}");
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [_, "=>", path, ..] if path.starts_with('/') => add(&mut cpio, path),
                [path, ..] if path.starts_with('/') => add(&mut cpio, path),
                _ => {}
            }
        }
    }
    for lib in VM_DLOPENED {
        add(&mut cpio, lib);
    }
    cpio.file(VM_TLS_PEM, &self_signed_pem(dir)).unwrap();
    let layer = repo().join("out/test-layer.cpio.gz");
    let mut initrd = std::fs::read(&layer).unwrap_or_else(|e| panic!("{}: {e}", layer.display()));
    // The kernel finds an uncompressed archive after a compressed one only
    // at a 4-byte boundary; NULs between archives are skipped.
    while !initrd.len().is_multiple_of(4) {
        initrd.push(0);
    }
    initrd.extend(cpio.finish());
    let path = dir.join("initrd-with-keepalived");
    std::fs::write(&path, initrd).unwrap();
    path
}

/// Every URL `path` the samples and [`TUTORIAL`] check, as the files
/// busybox httpd serves for them; each holds "ok\n".
const SERVED_FILES: &[&str] = &[
    "index.html",
    "health",
    "mrtg/index.html",
    "testurl3/test.jsp",
];

/// MD5 of "ok\n", the body of every [`SERVED_FILES`].
const OK_MD5: &str = "eff5bc1ef8ec9d03e640fc4370f5eacd";

/// The ports the samples' and the tutorial's real servers and checks use:
/// plain HTTP on these, TLS (forwarded to port 80) on 443.
const HTTP_PORTS: &[u16] = &[80, 1358, 8080];

/// The real servers' side, once per VM: every file, an httpd per port,
/// socat terminating TLS on 443, and a passwd file for keepalived's
/// script user. They end with the VM.
fn serve_real_servers(vm: &Vm) {
    vm.shell_ok("ip link set lo up");
    vm.shell_ok("[ -s /etc/passwd ] || echo 'root:x:0:0:root:/:/bin/sh' > /etc/passwd; [ -s /etc/group ] || echo 'root:x:0:' > /etc/group");
    for file in SERVED_FILES {
        vm.shell_ok(&format!(
            "mkdir -p $(dirname /tmp/www/{file}) && echo ok > /tmp/www/{file}"
        ));
    }
    for port in HTTP_PORTS {
        vm.shell_ok(&format!("httpd -p {port} -h /tmp/www"));
    }
    vm.shell_ok(&format!(
        "socat OPENSSL-LISTEN:443,fork,reuseaddr,cert={VM_TLS_PEM},verify=0 TCP:127.0.0.1:80 > /tmp/socat.log 2>&1 &"
    ));
    // Both answer before keepalived asks them.
    let wait = "for i in $(seq 1 40); do wget -q -O - http://127.0.0.1:1358/health >/dev/null 2>&1 && netstat -ltn | grep -q ':443 ' && exit 0; sleep 0.25; done; exit 1";
    let (out, status) = vm
        .shell(&format!("( {wait} )"), Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        status,
        0,
        "the real servers do not answer:\n{out}\n{}",
        vm.shell_ok("cat /tmp/socat.log; netstat -ltn")
    );
}

/// The copy of `sample` keepalived loads: every `digest` is the MD5 of what
/// the real servers here serve, and `misc_path` is a script that succeeds,
/// so that keepalived keeps every real server in. The import reads the
/// sample unchanged.
fn as_served(sample: &str) -> String {
    let mut out = String::new();
    for line in sample.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if trimmed.starts_with("digest ") {
            out.push_str(&format!("{indent}digest {OK_MD5}\n"));
        } else if trimmed.starts_with("misc_path ") {
            out.push_str(&format!("{indent}misc_path /bin/true\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The real servers' addresses in a table (`-a ... -r IP:PORT ...`).
fn real_server_ips(table: &[String]) -> Vec<String> {
    let mut ips: Vec<String> = Vec::new();
    for line in table {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "-r") {
            let address = words[i + 1];
            let ip = address.rsplit_once(':').map_or(address, |(ip, _)| ip);
            let ip = ip.trim_start_matches('[').trim_end_matches(']').to_string();
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    ips
}

/// Load `conf` (a path in the VM) with keepalived's checker, wait for a
/// table of `lines` lines and let its checks run a few rounds; the table
/// it keeps, after stopping it. Its log must show no real server taken
/// out.
fn keepalived_table(vm: &Vm, conf: &str, lines: usize) -> Vec<String> {
    vm.shell_ok("ipvsadm -C");
    vm.shell_ok(&format!(
        "keepalived -C -n -l -D -f {conf} -p /tmp/keepalived.run.pid -c /tmp/checkers.pid > /tmp/keepalived.log 2>&1 & echo $! > /tmp/keepalived.pid"
    ));
    let wait = format!(
        "for i in $(seq 1 60); do [ $(ipvsadm -S -n | wc -l) -ge {lines} ] && exit 0; sleep 0.5; done; exit 1"
    );
    let (out, status) = vm
        .shell(&format!("( {wait} )"), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        status,
        0,
        "keepalived -f {conf} made no table of {lines} lines:\n{out}\n{}\nlog:\n{}",
        vm.shell_ok("ipvsadm -S -n"),
        vm.shell_ok("cat /tmp/keepalived.log")
    );
    // Its checks run a few rounds: a server it would take out is out.
    std::thread::sleep(Duration::from_secs(4));
    let table = saved(vm);
    // (A config with nothing for the checker may have ended it already.)
    vm.shell_ok("kill $(cat /tmp/keepalived.pid) 2>/dev/null; ( for i in $(seq 1 40); do [ -d /proc/$(cat /tmp/keepalived.pid) ] || exit 0; sleep 0.25; done; exit 1 )");
    let log = vm.shell_ok("cat /tmp/keepalived.log");
    assert_eq!(
        table.len(),
        lines,
        "keepalived -f {conf}: its table:\n{table:#?}\nlog:\n{log}"
    );
    for taken_out in ["Removing service", "Disabling service"] {
        assert!(
            !log.contains(taken_out),
            "keepalived -f {conf} took a real server out:\n{log}"
        );
    }
    eprintln!("keepalived -f {conf}: ipvsadm -S -n:\n{}", table.join("\n"));
    table
}

/// A director in the shape of the common tutorials: PostgreSQL and a web
/// service by NAT with HTTP and TCP checks, a sticky service by DR.
const TUTORIAL: &str = "\
global_defs {
    router_id lvs-a
}

virtual_server 192.168.1.100 80 {
    delay_loop 5
    lb_algo wrr
    lb_kind NAT
    protocol TCP

    real_server 192.168.3.2 80 {
        weight 3
        HTTP_GET {
            url {
                path /health
                status_code 200
            }
            connect_timeout 2
            retry 2
            delay_before_retry 2
        }
    }
    real_server 192.168.3.3 80 {
        weight 1
        inhibit_on_failure
        uthreshold 500
        lthreshold 400
        TCP_CHECK {
            connect_timeout 2
        }
    }
}

virtual_server 192.168.1.101 8080 {
    delay_loop 10
    lb_algo sh
    sh-port
    lb_kind DR
    persistence_timeout 120
    persistence_granularity 255.255.255.0
    protocol TCP

    real_server 192.168.3.2 8080 {
        weight 1
        TCP_CHECK {
            connect_port 8080
            connect_timeout 3
        }
    }
}
";

/// The box's addresses the samples do not say, as for `lvsinit import
/// --interface` (the same as init/tests/cli.rs gives them).
fn sample_options() -> Options {
    Options {
        interfaces: ["eth0=192.168.200.2/24", "eth1=192.168.100.2/24"]
            .iter()
            .map(|i| lvsinit::import::GivenInterface::parse(i).unwrap())
            .collect(),
        config_id: None,
    }
}

/// One keepalived.conf both ways: its import applied by lvsinit, then the
/// file loaded by keepalived; the two tables must be the same. `complete`:
/// whether the import must carry everything. The table.
fn compare(vm: &Vm, dir: &Path, name: &str, conf: &str, complete: bool) -> Vec<String> {
    let file = dir.join(name);
    std::fs::write(&file, conf).unwrap();
    let done = import(Format::Keepalived, &file, &sample_options())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        !complete || done.complete(),
        "{name}: the import left something out: {:#?}",
        done.warnings
    );
    write_file(vm, "/tmp/imported.toml", &done.toml);
    vm.shell_ok("ipvsadm -C");
    vm.shell_ok("lvsinit check /tmp/imported.toml");
    vm.shell_ok("lvsinit apply --only ipvs /tmp/imported.toml");
    let ours = saved(vm);
    eprintln!("{name}: lvsinit apply: ipvsadm -S -n:\n{}", ours.join("\n"));
    for ip in real_server_ips(&ours) {
        vm.shell_ok(&format!("ip addr add {ip}/32 dev lo 2>/dev/null; true"));
    }
    let served = format!("/tmp/{name}");
    write_file(vm, &served, &as_served(conf));
    let theirs = keepalived_table(vm, &served, ours.len());
    assert_eq!(
        ours, theirs,
        "{name}: lvsinit apply of the import (left) and keepalived (right)\n{}",
        done.toml
    );
    ours
}

#[test]
fn keepalived_tables_survive_import_and_apply() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("import-keepalived");
    let initrd = keepalived_initrd(dir.path());
    let lab = boot(vec!["-initrd".into(), initrd.display().to_string()]);
    let vm = &lab.vms[0];
    vm.shell_ok("keepalived --version");
    serve_real_servers(vm);

    // keepalived's own samples, each as it is.
    let mut with_services = 0;
    for sample in &testkit::keepalived_samples() {
        let name = sample.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(sample).unwrap();
        // Only the fwmark sample uses nothing the box lacks.
        let table = compare(
            vm,
            dir.path(),
            &name,
            &text,
            name == "keepalived.conf.fwmark",
        );
        if !table.is_empty() {
            with_services += 1;
        }
    }
    // Two samples are VRRP only: both tables empty.
    assert_eq!(with_services, 8, "samples with virtual servers");

    // The tutorial's config is carried whole.
    let tutorial = compare(vm, dir.path(), "tutorial.conf", TUTORIAL, true);
    assert_eq!(tutorial.len(), 5, "{tutorial:#?}");
}
