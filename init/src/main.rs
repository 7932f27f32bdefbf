//! `lvsinit`: PID 1 of the appliance, and the same binary as a tool.
//!
//! As PID 1 it boots the appliance (see `lvsinit::pid1`). Otherwise:
//!
//! ```text
//! lvsinit check FILE...            validate config files, print every error and warning
//! lvsinit apply [OPTIONS] FILE     apply a config to the current network namespace
//! lvsinit list                     print the kernel's IPVS table, like ipvsadm -Ln
//! lvsinit import [OPTIONS] FILE    a router.toml from keepalived.conf or ipvsadm rules
//! lvsinit remote --url URL ... COMMAND   a box's control API, from a PC
//! lvsinit password                 an argon2id hash for [management] password_hash
//! lvsinit keygen PREFIX            a key pair for signing system updates
//! lvsinit sign [--out SIG] KEYFILE FILE   FILE's signature, for remote update
//! lvsinit help | version
//! ```

use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use lvsinit::apply::{Applier, Options, Parts};
use lvsinit::import::{self, Format, GivenInterface, ImportError};
use lvsinit::ipvs::IpvsError;
use lvsinit::update::signature::{self, SignatureError};
use lvsinit::{config, console, remote};

const USAGE: &str = "\
usage: lvsinit check FILE...
       lvsinit apply [--only network|ipvs|sysctl]... [--link-wait SECONDS] FILE
       lvsinit list
       lvsinit import [--from keepalived|ipvsadm] [--interface NAME=CIDR[,CIDR...]]...
                      [--config-id ID] FILE
       lvsinit remote --url https://IP:PORT [--fingerprint SHA256:HEX | --ca FILE]
                      [--password-file FILE] COMMAND
       lvsinit password
       lvsinit keygen PREFIX
       lvsinit sign [--out SIG] KEYFILE FILE
       lvsinit help | version

As PID 1, lvsinit boots the appliance: it reads router.toml (fw_cfg, then the
LVSBOOT partition, then the built-in default) and turns it into a running LVS
director. As a command it is a tool:

  check   Validate config files without touching the kernel; every error is
          printed as FILE:LINE:COLUMN: error: KEY.PATH: message. Exits 1 when
          any file has errors (warnings alone exit 0), as keepalived -t does.
  apply   Validate FILE, then reconcile the current network namespace with
          it: interfaces, routes, IPVS services and real servers, sysctls.
          Only the difference is changed; applying twice changes nothing.
          --only limits it to some parts (repeatable); --link-wait bounds how
          long to wait for configured links that are missing (default 0).
          Exits 1 when anything failed.
  list    Print the IPVS virtual services and real servers of the current
          network namespace, laid out like ipvsadm -Ln.
  import  Write a router.toml on stdout from what a director runs today:
          keepalived.conf (the default; includes, @conditional lines and
          $PARAMETERs as keepalived reads them) or, with --from ipvsadm,
          ipvsadm-save -n output or a script of ipvsadm lines. Neither says
          the box's own addresses: give each interface the source names with
          --interface NAME=CIDR[,CIDR...] (repeatable). --config-id is
          keepalived's -i, for @ID lines. Whatever cannot be carried over is
          a warning here (FILE:LINE: warning: KEYWORD: ...) and a comment in
          the output. Exits 0 when everything was carried, 3 when something
          was left out, 1 when FILE cannot be read as its format.
  remote  Talk to a running box's control API over HTTPS, from a PC:
          status, config get|push FILE|confirm, drain|enable SERVICE IP:PORT,
          reload, reboot, poweroff, log [--follow], update FILE [--signature
          SIG], rollback. The box's certificate is
          checked by --fingerprint (printed on its console) or --ca. The
          admin's password comes from --password-file, LVSINIT_PASSWORD or a
          prompt. `lvsinit remote help` has the details. Exits 0 done, 1
          refused by the box, 2 usage, 3 cannot connect or verify.
  password
          Read a password (asked for without echo at a terminal, else the
          first line of standard input) and print its argon2id hash in PHC
          format, for [management] password_hash. The management API then
          takes changes from user admin with it.
  keygen  Make an Ed25519 key pair for signing new systems: PREFIX.key, the
          private key (PEM, mode 0600; it stays on this PC), and PREFIX.pub.
          Prints the line to put in router.toml's [management]:
          update_public_key = \"ed25519:...\". Never overwrites a key.
  sign    Sign FILE (a bzImage, as image/build makes it) with KEYFILE, a key
          from keygen (or OpenSSL's genpkey -algorithm ed25519), and write
          ed25519:BASE64 to FILE.sig (or --out SIG), which `lvsinit remote
          ... update FILE` sends with it. The box takes the system only if
          its update_public_key verifies the signature.
";

/// Everything the tool can fail with. Each says on stderr what it has
/// not said already ([`MainError::report`]) and has its exit code.
#[derive(Debug)]
enum MainError {
    /// The command line is wrong: this text, often the usage.
    Usage(String),
    /// A config file could not be read or is invalid (each error already
    /// printed with its file, line and column).
    Config,
    /// `apply`: some pieces could not be applied (each already printed).
    Apply,
    /// The async runtime `apply` drives netlink with could not start.
    Runtime(io::Error),
    /// `list`: the IPVS table could not be read.
    Ipvs(IpvsError),
    /// `import`: the source cannot be read as its format.
    Import(ImportError),
    /// `import`: the output was written, but something was left out (each
    /// already printed as a warning).
    Incomplete,
    /// `remote` failed, and said why; its own exit code.
    Remote(remote::Exit),
    /// `keygen` or `sign`: a file cannot be read or written; the text
    /// names it and says why.
    File(String),
    /// `sign`: the key file is not a key that can sign.
    Key { path: String, error: SignatureError },
}

impl MainError {
    /// Say on stderr what has not been said yet.
    fn report(&self) {
        match self {
            MainError::Usage(text) => eprint!("{text}"),
            MainError::Config | MainError::Apply | MainError::Incomplete | MainError::Remote(_) => {
            }
            MainError::Runtime(e) => eprintln!("cannot start the async runtime: {e}"),
            MainError::Ipvs(e) => eprintln!("error: {e}"),
            MainError::Import(e) => eprintln!("{e}"),
            MainError::File(text) => eprintln!("error: {text}"),
            MainError::Key { path, error } => eprintln!("error: {path}: {error}"),
        }
    }
}

/// The exit codes: 2 for a wrong command line, 3 for an import that left
/// something out, 1 for everything else that failed (as keepalived -t and
/// ipvsadm do); `remote` has its own (see [`remote::Exit`]).
impl From<&MainError> for ExitCode {
    fn from(error: &MainError) -> ExitCode {
        match error {
            MainError::Usage(_) => ExitCode::from(2),
            MainError::Incomplete => ExitCode::from(3),
            MainError::Remote(exit) => ExitCode::from(exit.code()),
            MainError::Import(_)
            | MainError::Config
            | MainError::Apply
            | MainError::Runtime(_)
            | MainError::Ipvs(_)
            | MainError::File(_)
            | MainError::Key { .. } => ExitCode::FAILURE,
        }
    }
}

fn main() -> ExitCode {
    if std::process::id() == 1 {
        lvsinit::pid1::run();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    console::init_tool();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error.report();
            ExitCode::from(&error)
        }
    }
}

/// `lvsinit password`: the hash of the first line of standard input.
fn password() -> Result<(), MainError> {
    use std::io::IsTerminal as _;
    let cannot = |e: io::Error| MainError::Usage(format!("cannot read the password: {e}\n"));
    // At a terminal: asked for without echo; else the first line of stdin.
    let line = match io::stdin().is_terminal() {
        true => remote::password::ask("Password: ").map_err(cannot)?,
        false => {
            let mut line = String::new();
            io::stdin().read_line(&mut line).map_err(cannot)?;
            line
        }
    };
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(MainError::Usage(
            "no password: write it on standard input, like: echo 'PASSWORD' | lvsinit password\n"
                .into(),
        ));
    }
    let hash = lvsinit::management::auth::hash(password)
        .map_err(|e| MainError::Usage(format!("cannot hash the password: {e}\n")))?;
    println!("{hash}");
    Ok(())
}

fn run(args: &[String]) -> Result<(), MainError> {
    match args.first().map(String::as_str) {
        Some("check") if args.len() > 1 => check(&args[1..]),
        Some("apply") => apply(&args[1..]),
        Some("list") if args.len() == 1 => list(),
        Some("import") => import(&args[1..]),
        Some("remote") => remote(&args[1..]),
        Some("password") if args.len() == 1 => password(),
        Some("keygen") => keygen(&args[1..]),
        Some("sign") => sign(&args[1..]),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        Some("version" | "--version" | "-V") => {
            println!("lvsinit {}", lvsinit::VERSION);
            Ok(())
        }
        _ => Err(MainError::Usage(USAGE.to_string())),
    }
}

/// Read and validate one file; errors and warnings go to stderr.
fn load(path: &str) -> Option<config::Config> {
    let text = match config::read_file(std::path::Path::new(path)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            return None;
        }
    };
    match config::load(path, &text) {
        Ok((config, warnings)) => {
            for w in warnings {
                eprintln!("{w}");
            }
            Some(config)
        }
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

fn check(files: &[String]) -> Result<(), MainError> {
    let mut ok = true;
    for path in files {
        match load(path) {
            Some(c) => println!(
                "{path}: ok ({} interface{}, {} route{}, {} service{}{})",
                c.interfaces.len(),
                plural(c.interfaces.len()),
                c.routes.len(),
                plural(c.routes.len()),
                c.services.len(),
                plural(c.services.len()),
                match &c.vrrp {
                    Some(v) => format!(
                        ", VRRP router {} on {} with {} virtual address{}",
                        v.virtual_router_id,
                        v.interface,
                        v.virtual_addresses.len(),
                        if v.virtual_addresses.len() == 1 {
                            ""
                        } else {
                            "es"
                        }
                    ),
                    None => String::new(),
                },
            ),
            None => ok = false,
        }
    }
    if ok { Ok(()) } else { Err(MainError::Config) }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn apply(args: &[String]) -> Result<(), MainError> {
    let mut parts = Parts::NONE;
    let mut link_wait = Duration::ZERO;
    let mut file = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--only" => {
                let Some(part) = it.next() else {
                    return Err(MainError::Usage(
                        "--only needs a part: network, ipvs or sysctl\n".into(),
                    ));
                };
                parts
                    .enable(part)
                    .map_err(|e| MainError::Usage(format!("{e}\n")))?;
            }
            "--link-wait" => {
                let Some(secs) = it.next().and_then(|s| s.parse::<f64>().ok()) else {
                    return Err(MainError::Usage(
                        "--link-wait needs a number of seconds\n".into(),
                    ));
                };
                link_wait = Duration::from_secs_f64(secs.max(0.0));
            }
            f if file.is_none() && !f.starts_with('-') => file = Some(f.to_string()),
            other => {
                return Err(MainError::Usage(format!(
                    "apply: unexpected argument {other:?}\n{USAGE}\n"
                )));
            }
        }
    }
    let Some(file) = file else {
        return Err(MainError::Usage(USAGE.to_string()));
    };
    if parts == Parts::NONE {
        parts = Parts::ALL;
    }
    let config = load(&file).ok_or(MainError::Config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(MainError::Runtime)?;
    let outcome = runtime.block_on(async {
        let mut applier = Applier::new();
        applier.apply(&config, &Options { link_wait, parts }).await
    });
    for f in &outcome.failures {
        eprintln!("error: {f}");
    }
    println!(
        "applied {file} in {} ms: {} IPVS change{}, {} failure{}",
        outcome.elapsed.as_millis(),
        outcome.ipvs_changes,
        plural(outcome.ipvs_changes),
        outcome.failures.len(),
        plural(outcome.failures.len()),
    );
    if outcome.failures.is_empty() {
        Ok(())
    } else {
        Err(MainError::Apply)
    }
}

fn list() -> Result<(), MainError> {
    let table = Applier::new()
        .ipvs_table(usize::MAX)
        .map_err(MainError::Ipvs)?;
    print!("{table}");
    Ok(())
}

fn import(args: &[String]) -> Result<(), MainError> {
    let mut format = Format::Keepalived;
    let mut options = import::Options::default();
    let mut file = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |what: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| MainError::Usage(format!("{arg} needs {what}\n")))
        };
        match arg.as_str() {
            "--from" => {
                format = match value("keepalived or ipvsadm")?.as_str() {
                    "keepalived" => Format::Keepalived,
                    "ipvsadm" => Format::Ipvsadm,
                    other => {
                        return Err(MainError::Usage(format!(
                            "--from {other:?}: expected keepalived or ipvsadm\n"
                        )));
                    }
                }
            }
            "--interface" => {
                let given = GivenInterface::parse(&value("NAME=CIDR[,CIDR...]")?)
                    .map_err(|e| MainError::Usage(format!("{e}\n")))?;
                options.interfaces.push(given);
            }
            "--config-id" => options.config_id = Some(value("an ID")?),
            f if file.is_none() && !f.starts_with('-') => file = Some(f.to_string()),
            other => {
                return Err(MainError::Usage(format!(
                    "import: unexpected argument {other:?}\n{USAGE}"
                )));
            }
        }
    }
    let Some(file) = file else {
        return Err(MainError::Usage(USAGE.to_string()));
    };
    let done =
        import::import(format, std::path::Path::new(&file), &options).map_err(MainError::Import)?;
    print!("{}", done.toml);
    for w in &done.warnings {
        eprintln!("{w}");
    }
    if done.complete() {
        Ok(())
    } else {
        eprintln!(
            "{file}: {} piece{} left out (marked LEFT OUT in the output)",
            done.warnings.len(),
            plural(done.warnings.len())
        );
        Err(MainError::Incomplete)
    }
}

fn remote(args: &[String]) -> Result<(), MainError> {
    let mut env = remote::Env::process();
    match remote::run(
        args,
        &mut env,
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    ) {
        remote::Exit::Done => Ok(()),
        failed => Err(MainError::Remote(failed)),
    }
}

/// `lvsinit keygen PREFIX`: a new key pair in PREFIX.key and PREFIX.pub,
/// and the line router.toml takes. Neither file is overwritten: a key
/// lost is every box that trusts it refusing the next update.
fn keygen(args: &[String]) -> Result<(), MainError> {
    let [prefix] = args else {
        return Err(MainError::Usage(format!(
            "keygen needs one PREFIX: it writes PREFIX.key and PREFIX.pub\n{USAGE}"
        )));
    };
    if prefix.starts_with('-') {
        return Err(MainError::Usage(format!(
            "keygen: unexpected option {prefix:?}\n{USAGE}"
        )));
    }
    let (key_path, pub_path) = (format!("{prefix}.key"), format!("{prefix}.pub"));
    for path in [&key_path, &pub_path] {
        if Path::new(path).symlink_metadata().is_ok() {
            return Err(MainError::File(format!(
                "{path} exists; a key is never overwritten (the boxes that trust it would \
                 refuse the next update): give another PREFIX, or remove the old files first"
            )));
        }
    }
    let pkcs8 = signature::generate().map_err(|error| MainError::Key {
        path: key_path.clone(),
        error,
    })?;
    let public = signature::public_key(&pkcs8).map_err(|error| MainError::Key {
        path: key_path.clone(),
        error,
    })?;
    let public = signature::text(&public);
    // Readable by its owner only from the moment it exists.
    write_new(&key_path, 0o600, signature::key_file(&pkcs8).as_bytes())?;
    write_new(&pub_path, 0o644, format!("{public}\n").as_bytes())?;
    eprintln!(
        "wrote {key_path} (the private key: keep it on this PC, off the box) and {pub_path}; \
         put this line in router.toml's [management]:"
    );
    println!("update_public_key = \"{public}\"");
    Ok(())
}

/// Write a file that must not exist yet, with `mode`.
fn write_new(path: &str, mode: u32, contents: &[u8]) -> Result<(), MainError> {
    let cannot = |e: io::Error| MainError::File(format!("cannot write {path}: {e}"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(cannot)?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(cannot)
}

/// The most `sign` reads of a key file: a PEM Ed25519 key is about 150
/// bytes; anything near this is not one.
const MAX_KEY_FILE: u64 = 64 << 10;

/// `lvsinit sign [--out SIG] KEYFILE FILE`: FILE's signature, as
/// `ed25519:BASE64` and a newline, in FILE.sig or SIG.
fn sign(args: &[String]) -> Result<(), MainError> {
    let mut out = None;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => {
                let Some(path) = it.next() else {
                    return Err(MainError::Usage(
                        "--out needs a file, where the signature goes\n".into(),
                    ));
                };
                out = Some(path.clone());
            }
            f if !f.starts_with('-') => files.push(f),
            other => {
                return Err(MainError::Usage(format!(
                    "sign: unexpected argument {other:?}\n{USAGE}"
                )));
            }
        }
    }
    let [key_path, file] = files.as_slice() else {
        return Err(MainError::Usage(format!(
            "sign needs KEYFILE and FILE: the key from `lvsinit keygen`, and what to sign\n{USAGE}"
        )));
    };
    let key_text = read_bounded(key_path, MAX_KEY_FILE, "a key file")?;
    let key = signature::read_key_file(&key_text).map_err(|error| MainError::Key {
        path: key_path.to_string(),
        error,
    })?;
    let image = read_bounded(file, signature::MAX_IMAGE_BYTES, "a system image")?;
    let signed = signature::sign(&key, &image).map_err(|error| MainError::Key {
        path: key_path.to_string(),
        error,
    })?;
    let out = out.unwrap_or_else(|| format!("{file}.sig"));
    std::fs::write(&out, format!("{signed}\n"))
        .map_err(|e| MainError::File(format!("cannot write {out}: {e}")))?;
    let public = signature::public_key(&key).map_err(|error| MainError::Key {
        path: key_path.to_string(),
        error,
    })?;
    eprintln!(
        "wrote {out}: the signature of {file} ({} bytes) by the key {}",
        image.len(),
        signature::text(&public)
    );
    Ok(())
}

/// The whole of `path`, refused when it is over `limit` bytes (`what` it
/// should be says why).
fn read_bounded(path: &str, limit: u64, what: &str) -> Result<Vec<u8>, MainError> {
    let cannot = |e: io::Error| MainError::File(format!("cannot read {path}: {e}"));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limit {
        return Err(MainError::File(format!(
            "{path} is over {limit} bytes, too big for {what}"
        )));
    }
    Ok(bytes)
}
