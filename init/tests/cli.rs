//! The `lvsinit` binary as a tool: `check` on good and bad files, and
//! `apply` run in a throwaway network namespace, twice.
//!
//! The `apply` tests need root and `ip`; without them they fail, loudly.

use std::path::PathBuf;
use std::process::{Command, Output};

use testkit::{Netns, repo};

const BIN: &str = env!("CARGO_BIN_EXE_lvsinit");

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn temp_file(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lvsinit-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn check_accepts_the_default_config() {
    let out = run(Command::new(BIN)
        .arg("check")
        .arg(repo().join("image/router.toml")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("ok (2 interfaces, 0 routes, 1 service)"),
        "{}",
        text(&out.stdout)
    );
}

/// A two-director config says what its `[vrrp]` moves.
#[test]
fn check_summarises_vrrp() {
    let out = run(Command::new(BIN)
        .arg("check")
        .arg(testkit::config("vrrp-a.toml")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(
            "ok (2 interfaces, 0 routes, 1 service, VRRP router 51 on wan with 2 virtual addresses)"
        ),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_reports_every_error_with_its_place_and_fails() {
    let bad = temp_file(
        "bad.toml",
        r#"hostname = "x"

[[service]]
protocol = "tcp"
address = "192.168.1.100:5432"
scheduler = "roundrobin"
forwarding = "nat"

  [[service.real_server]]
  address = "192.168.3.300:5432"
  wieght = 1
"#,
    );
    let out = run(Command::new(BIN).arg("check").arg(&bad));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let file = bad.display().to_string();
    for expected in [
        format!("{file}:6:13: error: service[0].scheduler:"),
        format!("{file}:10:13: error: service[0].real_server[0].address:"),
        format!("{file}:11:3: error: service[0].real_server[0].wieght:"),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
}

/// A file over 4 MiB is refused before it is parsed, and in little memory
/// (the bound: the tool never holds more than 4 MiB of it).
#[test]
fn check_refuses_a_file_over_4_mib() {
    let big = temp_file("big.toml", &"#".repeat(5 << 20));
    let out = run(Command::new(BIN).arg("check").arg(&big));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the file is 4194305 bytes or more; a router.toml may have at most 4 MiB"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = run(Command::new(BIN).arg("frobnicate"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("usage: lvsinit check FILE"));
}

const NETWORK_CONFIG: &str = r#"
hostname = "cli-test"

[sysctl]
"net.ipv4.conf.all.rp_filter" = 0

[[interface]]
name = "wan"
mac = "52:54:00:00:01:01"
addresses = ["192.168.1.1/24", "192.168.1.100/24"]
mtu = 1400

[[interface]]
name = "lan"
device = "eth1"
addresses = ["192.168.3.1/24"]

[[route]]
destination = "10.20.0.0/16"
gateway = "192.168.3.254"

[[service]]
protocol = "tcp"
address = "192.168.1.100:5432"
scheduler = "rr"
forwarding = "nat"

  [[service.real_server]]
  address = "192.168.3.2:5432"
"#;

/// A namespace that is deleted when the test ends, pass or fail, with
/// the config's two NICs: `eth0` (the `wan` MAC) and `eth1`.
fn lab(tag: &str) -> Netns {
    let ns = Netns::create(&format!("lvsinit-cli-{tag}-{}", std::process::id()));
    ns.veth("eth0", "52:54:00:00:01:01", "peer0");
    ns.veth("eth1", "52:54:00:00:03:01", "peer1");
    ns
}

/// The state `ip` shows, minus counters that move on their own.
fn snapshot(ns: &Netns) -> String {
    let links = ns.ip(&["-br", "link"]);
    let addrs = ns.ip(&["-br", "addr"]);
    let routes = ns.ip(&["route", "show", "table", "all"]);
    format!("{links}\n{addrs}\n{routes}")
}

#[test]
fn apply_configures_a_namespace_and_twice_changes_nothing() {
    let ns = lab("net");
    let config = temp_file("net.toml", NETWORK_CONFIG);
    let cfg = config.to_str().unwrap();
    let first = ns.exec(&[BIN, "apply", "--only", "network", "--only", "sysctl", cfg]);
    assert!(
        first.status.success(),
        "{}{}",
        text(&first.stdout),
        text(&first.stderr)
    );
    let links = ns.ip(&["-br", "link"]);
    assert!(links.contains("wan@peer0"), "{links}");
    assert!(links.contains("lan@peer1"), "{links}");
    let addrs = ns.ip(&["-br", "addr"]);
    let wan = addrs.lines().find(|l| l.starts_with("wan@")).unwrap();
    assert!(
        wan.contains("192.168.1.1/24") && wan.contains("192.168.1.100/24"),
        "{addrs}"
    );
    assert!(ns.ip(&["link", "show", "wan"]).contains("mtu 1400"));
    let routes = ns.ip(&["route"]);
    assert!(
        routes.contains("10.20.0.0/16 via 192.168.3.254 dev lan proto static"),
        "{routes}"
    );
    let forward = ns.exec(&["cat", "/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(text(&forward.stdout).trim(), "1");

    let before = snapshot(&ns);
    let second = ns.exec(&[BIN, "apply", "--only", "network", "--only", "sysctl", cfg]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    // Nothing was changed, so nothing was logged.
    assert_eq!(text(&second.stderr), "", "second apply logged changes");
    assert!(text(&second.stdout).contains("0 IPVS changes, 0 failures"));
    assert_eq!(snapshot(&ns), before);
}

/// A NIC that never shows up fails on its own, after the bound, with a
/// message that names it; the exit status says so; the rest is applied.
#[test]
fn apply_reports_a_failed_piece_and_applies_the_rest() {
    let ns = lab("part");
    let body = format!("{NETWORK_CONFIG}\n[[interface]]\nname = \"mgmt\"\ndevice = \"eth9\"\n");
    let config = temp_file("part.toml", &body);
    let out = ns.exec(&[
        BIN,
        "apply",
        "--only",
        "network",
        "--link-wait",
        "0.3",
        config.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("eth9"), "{err}");
    assert!(
        text(&out.stdout).contains("1 failure"),
        "{}",
        text(&out.stdout)
    );
    assert!(ns.ip(&["-br", "addr"]).contains("192.168.1.100/24"));
    assert!(ns.ip(&["route"]).contains("10.20.0.0/16"));
}

// ---------------------------------------------------------------------------
// import

/// `lvsinit import ARGS...`, its stdout saved as `name` for `check`.
fn import(name: &str, args: &[&str]) -> (Output, PathBuf) {
    let out = run(Command::new(BIN).arg("import").args(args));
    let saved = temp_file(name, &text(&out.stdout));
    (out, saved)
}

/// The classic setup's commands, imported: exit 0, nothing on stderr, and
/// a router.toml that check accepts.
#[test]
fn import_of_the_classic_ipvsadm_commands_passes_check() {
    let rules = temp_file(
        "classic.sh",
        "ipvsadm -A -t 192.168.1.100:5432 -s rr\n\
         ipvsadm -a -t 192.168.1.100:5432 -r 192.168.3.2:5432 -m -w 1\n\
         ipvsadm -a -t 192.168.1.100:5432 -r 192.168.3.3:5432 -m -w 1\n",
    );
    let rules = rules.to_str().unwrap();
    let (out, toml) = import(
        "classic-imported.toml",
        &[
            "--from",
            "ipvsadm",
            "--interface",
            "wan=192.168.1.1/24,192.168.1.100/24",
            rules,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let check = run(Command::new(BIN).arg("check").arg(&toml));
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(
        text(&check.stdout).contains("ok (1 interface, 0 routes, 1 service)"),
        "{}",
        text(&check.stdout)
    );
}

/// Something left out: the output is still written, each piece is a
/// FILE:LINE: warning on stderr, and the exit status is 3.
#[test]
fn import_that_leaves_something_out_warns_and_exits_3() {
    let conf = temp_file(
        "left-out.conf",
        "global_defs {\n    notification_email {\n        ops@example.org\n    }\n}\n\
         virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_kind DR\n\
         \x20   real_server 10.0.1.2 80 {\n        MISC_CHECK {\n            misc_path /bin/true\n        }\n    }\n}\n",
    );
    let file = conf.to_str().unwrap();
    let (out, toml) = import("left-out.toml", &[file]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    for expected in [
        format!("{file}:2: warning: notification_email: no e-mail alerts"),
        format!("{file}:10: warning: MISC_CHECK: scripts are not run: no equivalent"),
        format!("{file}: 2 pieces left out"),
    ] {
        assert!(err.contains(&expected), "no {expected:?} in:\n{err}");
    }
    assert!(text(&out.stdout).contains(&format!("# LEFT OUT {file}:10 MISC_CHECK: ")));
    let check = run(Command::new(BIN).arg("check").arg(&toml));
    assert!(check.status.success(), "{}", text(&check.stderr));
}

/// A file that is not its format: exit 1, the line named, nothing on stdout.
#[test]
fn import_of_an_unreadable_file_exits_1_naming_the_line() {
    let rules = temp_file("named.save", "-A -t 192.168.1.100:postgresql -s rr\n");
    let file = rules.to_str().unwrap();
    let (out, _) = import("named.toml", &["--from", "ipvsadm", file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with(&format!(
            "{file}:1: error: -t 192.168.1.100:postgresql: \"postgresql\" is a name, not a port number"
        )),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "");
    let (out, _) = import("missing.toml", &["/nonexistent/keepalived.conf"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

#[test]
fn import_usage_errors_exit_2() {
    for args in [
        &["import"][..],
        &["import", "--from", "haproxy", "x"],
        &["import", "--interface", "eth0", "x"],
        &["import", "--interface", "eth0=10.0.0.1", "x"],
        &["import", "--frobnicate", "x"],
    ] {
        let out = run(Command::new(BIN).args(args));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// keepalived's own samples (testkit/configs/keepalived/): each imports,
/// says what it left out (all but the fwmark one use something we lack,
/// at least VRRPv2 or e-mail alerts), and with the box's addresses given
/// the output passes check.
#[test]
fn import_of_keepalived_samples_passes_check() {
    for sample in &testkit::keepalived_samples() {
        let name = sample.file_name().unwrap().to_string_lossy().into_owned();
        let (out, toml) = import(
            &format!("{name}.toml"),
            &[
                "--interface",
                "eth0=192.168.200.2/24",
                "--interface",
                "eth1=192.168.100.2/24",
                sample.to_str().unwrap(),
            ],
        );
        if name == "keepalived.conf.fwmark" {
            assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        } else {
            assert_eq!(out.status.code(), Some(3), "{name}: {}", text(&out.stderr));
            assert!(text(&out.stderr).contains(": warning: "), "{name}");
        }
        let check = run(Command::new(BIN).arg("check").arg(&toml));
        assert!(
            check.status.success(),
            "{name}: {}\n{}",
            text(&check.stderr),
            text(&out.stdout)
        );
    }
}

/// `lvsinit password` hashes the first line of stdin: an argon2id PHC
/// string that verifies the password (and not another) and that
/// `[management] password_hash` takes.
#[test]
fn password_prints_an_argon2id_hash() {
    use std::io::Write as _;
    let mut child = Command::new(BIN)
        .arg("password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = text(&out.stdout).trim().to_string();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(lvsinit::management::auth::verify(&hash, "correct horse"));
    assert!(!lvsinit::management::auth::verify(&hash, "correct horse\n"));
    let toml = format!(
        "[[interface]]\nname = \"lan\"\nmac = \"52:54:00:00:03:01\"\naddresses = [\"192.168.3.1/24\"]\n\
         [management]\nlisten = [\"192.168.3.1:8443\"]\npassword_hash = \"{hash}\"\n"
    );
    lvsinit::config::load("router.toml", &toml).unwrap_or_else(|e| panic!("{e}"));
}

/// The version printed is the library's one constant (what `/status`
/// and the boot banner say too).
#[test]
fn version_is_the_library_constant() {
    let out = run(Command::new(BIN).arg("version"));
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), format!("lvsinit {}\n", lvsinit::VERSION));
}

/// A directory of its own for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lvsinit-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The update key of a router.toml holding `line`, as the config reads
/// it.
fn configured_key(line: &str) -> [u8; 32] {
    let toml = format!(
        "[[interface]]\nname = \"lan\"\nmac = \"52:54:00:00:03:01\"\naddresses = [\"192.168.3.1/24\"]\n\
         [management]\nlisten = [\"192.168.3.1:8443\"]\n\
         password_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g\"\n\
         {line}\n"
    );
    let (config, warnings) =
        lvsinit::config::load("router.toml", &toml).unwrap_or_else(|e| panic!("{e}"));
    assert!(warnings.is_empty(), "{warnings:?}");
    config.management.unwrap().update_public_key.unwrap()
}

/// `keygen` writes the private key readable by its owner only, the
/// public one beside it, and prints the line router.toml takes; a
/// second run refuses to overwrite either file.
#[test]
fn keygen_writes_a_key_pair_once() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp_dir("keygen");
    let prefix = dir.join("update");
    let out = run(Command::new(BIN).arg("keygen").arg(&prefix));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    let line = line.trim_end();
    assert!(
        line.starts_with("update_public_key = \"ed25519:") && line.ends_with('"'),
        "{line}"
    );
    let key_file = dir.join("update.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let key = std::fs::read(&key_file).unwrap();
    assert!(key.starts_with(b"-----BEGIN PRIVATE KEY-----\n"));
    let public = std::fs::read_to_string(dir.join("update.pub")).unwrap();
    assert_eq!(
        format!("update_public_key = \"{}\"", public.trim_end()),
        line
    );
    // The printed line is what the config takes, and it is the key's.
    let pkcs8 = lvsinit::update::signature::read_key_file(&key).unwrap();
    assert_eq!(
        configured_key(line),
        lvsinit::update::signature::public_key(&pkcs8).unwrap()
    );
    let again = run(Command::new(BIN).arg("keygen").arg(&prefix));
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("update.key exists; a key is never overwritten"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::read(&key_file).unwrap(), key);
    // Nor is a lone PREFIX.pub replaced.
    std::fs::write(dir.join("other.pub"), "mine\n").unwrap();
    let out = run(Command::new(BIN).arg("keygen").arg(dir.join("other")));
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.join("other.key").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("other.pub")).unwrap(),
        "mine\n"
    );
}

/// `sign` writes FILE.sig (or --out), one line that the key's public half
/// verifies for FILE and for nothing else.
#[test]
fn sign_writes_a_signature_the_config_key_verifies() {
    use lvsinit::update::signature::{SignatureError, verify};
    let dir = temp_dir("sign");
    let out = run(Command::new(BIN).arg("keygen").arg(dir.join("k")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public = configured_key(text(&out.stdout).trim_end());
    let image: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let file = dir.join("bzImage");
    std::fs::write(&file, &image).unwrap();
    let out = run(Command::new(BIN)
        .arg("sign")
        .arg(dir.join("k.key"))
        .arg(&file));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("bzImage.sig: the signature of"),
        "{}",
        text(&out.stderr)
    );
    let signature = std::fs::read_to_string(dir.join("bzImage.sig")).unwrap();
    assert!(
        signature.starts_with("ed25519:") && signature.ends_with("==\n"),
        "{signature:?}"
    );
    assert_eq!(signature.lines().count(), 1);
    assert_eq!(verify(&public, &image, &signature), Ok(()));
    let mut changed = image.clone();
    changed[50_000] ^= 0x20;
    assert_eq!(
        verify(&public, &changed, &signature),
        Err(SignatureError::Mismatch)
    );
    // --out, before or after the files.
    let elsewhere = dir.join("elsewhere.sig");
    let out = run(Command::new(BIN)
        .arg("sign")
        .arg("--out")
        .arg(&elsewhere)
        .arg(dir.join("k.key"))
        .arg(&file));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Ed25519 is deterministic: the same key and file, the same signature.
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), signature);
}

#[test]
fn keygen_and_sign_errors() {
    let dir = temp_dir("sign-errors");
    let file = dir.join("img");
    std::fs::write(&file, "x").unwrap();
    for (args, code, says) in [
        (vec!["keygen"], 2, "keygen needs one PREFIX"),
        (vec!["keygen", "a", "b"], 2, "keygen needs one PREFIX"),
        (
            vec!["keygen", "--force"],
            2,
            "unexpected option \"--force\"",
        ),
        (vec!["sign"], 2, "sign needs KEYFILE and FILE"),
        (vec!["sign", "k.key"], 2, "sign needs KEYFILE and FILE"),
        (
            vec!["sign", "k.key", "img", "--out"],
            2,
            "--out needs a file",
        ),
        (
            vec!["sign", "-v", "k.key", "img"],
            2,
            "unexpected argument \"-v\"",
        ),
        (
            vec!["sign", "missing.key", "img"],
            1,
            "cannot read missing.key: ",
        ),
        (
            vec!["sign", "img", "img"],
            1,
            "img: not a private key file (no PRIVATE KEY block)",
        ),
    ] {
        let out = run(Command::new(BIN).args(&args).current_dir(&dir));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert!(!dir.join("img.sig").exists());
}
