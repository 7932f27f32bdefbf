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
//! this test only) loads a config with its checkers, its real servers
//! answering on the VM's loopback (busybox httpd), and its `ipvsadm -S -n`
//! must be what `lvsinit apply` makes of the import.
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

/// The test layer with keepalived and the libraries `ldd` lists appended:
/// an initrd for `-initrd`, which qemu takes from the last one given.
fn keepalived_initrd(dir: &Path) -> PathBuf {
    let keepalived = Path::new("/usr/sbin/keepalived");
    assert!(
        keepalived.exists(),
        "this test needs Debian's keepalived on the host (apt-get install keepalived)"
    );
    let ldd = Command::new("ldd").arg(keepalived).output().expect("ldd");
    assert!(ldd.status.success(), "ldd {}", keepalived.display());
    let mut cpio = Cpio::default();
    cpio.file("/usr/sbin/keepalived", keepalived).unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let lib = match words.as_slice() {
            [_, "=>", path, ..] if path.starts_with('/') => *path,
            [path, ..] if path.starts_with('/') => *path,
            _ => continue,
        };
        cpio.file(lib, Path::new(lib))
            .unwrap_or_else(|e| panic!("{lib}: {e}"));
    }
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

/// Load `conf` with keepalived's checker (its real servers answering on
/// the VM's loopback), wait for `lines` lines of `ipvsadm -S -n`, and
/// return them after stopping keepalived.
fn keepalived_table(vm: &Vm, conf: &str, lines: usize, real_servers: &[&str]) -> Vec<String> {
    vm.shell_ok("ipvsadm -C");
    for ip in real_servers {
        vm.shell_ok(&format!("ip addr add {ip}/32 dev lo 2>/dev/null; true"));
    }
    vm.shell_ok("ip link set lo up");
    vm.shell_ok("mkdir -p /tmp/www && echo ok > /tmp/www/health && echo ok > /tmp/www/index.html");
    // Two busybox httpd daemons, once per VM; they end with it.
    vm.shell_ok("[ -f /tmp/httpd.started ] || { httpd -p 80 -h /tmp/www && httpd -p 8080 -h /tmp/www && touch /tmp/httpd.started; }");
    vm.shell_ok(&format!(
        "keepalived -C -n -l -D -f {conf} -p /tmp/keepalived.run.pid -c /tmp/checkers.pid > /tmp/keepalived.log 2>&1 & echo $! > /tmp/keepalived.pid"
    ));
    let wait = format!(
        "for i in $(seq 1 60); do [ $(ipvsadm -S -n | wc -l) -ge {lines} ] && exit 0; sleep 0.5; done; exit 1"
    );
    let (out, status) = vm
        .shell(&format!("( {wait} )"), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    let log = vm.shell_ok("cat /tmp/keepalived.log");
    assert_eq!(
        status,
        0,
        "keepalived made no table of {lines} lines:\n{out}\n{}\nlog:\n{log}",
        vm.shell_ok("ipvsadm -S -n")
    );
    // Its checks run a few rounds: a server it would take out is out.
    std::thread::sleep(Duration::from_secs(3));
    let table = saved(vm);
    vm.shell_ok("kill $(cat /tmp/keepalived.pid); ( for i in $(seq 1 40); do [ -d /proc/$(cat /tmp/keepalived.pid) ] || exit 0; sleep 0.25; done; exit 1 )");
    assert_eq!(
        table.len(),
        lines,
        "keepalived's table:\n{table:#?}\nlog:\n{log}"
    );
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

#[test]
fn keepalived_tables_survive_import_and_apply() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("import-keepalived");
    let initrd = keepalived_initrd(dir.path());
    let lab = boot(vec!["-initrd".into(), initrd.display().to_string()]);
    let vm = &lab.vms[0];
    vm.shell_ok("keepalived --version");

    // keepalived's own fwmark sample, unchanged; its real servers have
    // their addresses on lo and busybox httpd answers on port 80.
    let sample = std::fs::read_to_string(config("keepalived/keepalived.conf.fwmark")).unwrap();
    write_file(vm, "/tmp/fwmark.conf", &sample);
    let fwmark = keepalived_table(
        vm,
        "/tmp/fwmark.conf",
        3,
        &["192.168.201.100", "192.168.201.101"],
    );
    assert_eq!(
        import_and_apply(vm, dir.path(), Format::Keepalived, &sample),
        fwmark
    );

    write_file(vm, "/tmp/tutorial.conf", TUTORIAL);
    let tutorial = keepalived_table(vm, "/tmp/tutorial.conf", 5, &["192.168.3.2", "192.168.3.3"]);
    assert_eq!(
        import_and_apply(vm, dir.path(), Format::Keepalived, TUTORIAL),
        tutorial
    );
}
