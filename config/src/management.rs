//! `[management]`, `[[syslog]]` and `[[webhook]]`: the box seen from the
//! network (issue 11). The values are the types of `management_config.rs`;
//! whether each `listen` address is one of the box's own is checked
//! later, by `validate.rs`, once every interface and `[vrrp]` are read.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;

use super::{Management, Syslog, TlsFiles, Transport, Webhook, WebhookUrl};

use super::addr::{network, parse_cidr, parse_socket_addr};
use super::duration::parse_duration;
use super::error::quote;
use super::walk::{
    Ctx, Earlier, Field, Path, Table, array_of, boolean, one_of, string, typed_string,
};

/// The most memory one password check may take, in KiB: the box runs
/// one at a time, beside everything else PID 1 holds.
const MAX_ARGON2_KIB: u32 = 64 * 1024;
/// The most passes over that memory one check may make.
const MAX_ARGON2_PASSES: u32 = 10;

/// Read `[management]`; `None` (with diagnostics) when anything in it is
/// wrong.
pub(super) fn read_management(ctx: &mut Ctx, field: &Field<'_, '_>) -> Option<Management> {
    let mut t = Table::new(ctx, field, "a table ([management])")?;
    let listed = |addr: &SocketAddr, earlier: &Earlier<'_, SocketAddr>, path: &Path<'_>| {
        let i = earlier.position(|e| e == addr)?;
        Some(format!("{addr} is already listed as {path}[{i}]"))
    };
    let expected = "an array of addresses like [\"192.168.3.1:9100\"]";
    let listen = array_of(expected, string(parse_listen), listed);
    let help = "where the HTTP API listens, like listen = [\"192.168.3.1:9100\"]";
    let (listen_field, listen) = match t.field("listen") {
        Some(f) => {
            let value = listen(ctx, &f);
            (Some(f), value)
        }
        None => (None, t.missing(ctx, "listen", help)),
    };
    if let (Some(f), Some(addrs)) = (&listen_field, &listen)
        && addrs.is_empty()
    {
        ctx.error(f, format!("is empty; {help}"));
    }
    let nets = |net: &ipnet::IpNet, earlier: &Earlier<'_, ipnet::IpNet>, path: &Path<'_>| {
        let i = earlier.position(|e| e == net)?;
        Some(format!("{net} is already listed as {path}[{i}]"))
    };
    let expected = "an array of networks like [\"192.168.3.0/24\"]";
    let allow = t.or(
        ctx,
        "allow",
        Vec::new(),
        array_of(expected, string(parse_network), nets),
    );
    let tls = t.or(ctx, "tls", true, boolean);
    let (cert_field, certificate) = t.opt_field(ctx, "tls_certificate", string(parse_file_name));
    let (key_field, key) = t.opt_field(ctx, "tls_key", string(parse_file_name));
    // Each `None` below is an error already reported.
    let tls_files: Option<Option<TlsFiles>> = match (&cert_field, &key_field) {
        (Some(_), Some(_)) => certificate
            .zip(key)
            .map(|(certificate, key)| Some(TlsFiles { certificate, key })),
        (None, None) => Some(None),
        (Some(f), None) | (None, Some(f)) => {
            let (has, lacks) = if cert_field.is_some() {
                ("tls_certificate", "tls_key")
            } else {
                ("tls_key", "tls_certificate")
            };
            ctx.error(
                f,
                format!(
                    "{has} needs {lacks} too; give both, or neither and the box makes a \
                     self-signed certificate on first boot"
                ),
            );
            None
        }
    };
    let (hash_field, password_hash) =
        t.opt_field(ctx, "password_hash", string(parse_password_hash));
    let password_hash: Option<Option<String>> = match &hash_field {
        Some(_) => password_hash.map(Some),
        None => Some(None),
    };
    let mut clear = Some(());
    if tls == Some(false) {
        if let Some(f) = &hash_field {
            ctx.error(
                f,
                "needs tls = true: a password is never sent in clear; remove tls = false \
                 (TLS is the default)"
                    .to_string(),
            );
            clear = None;
        }
        if let Some(f) = cert_field.as_ref().or(key_field.as_ref()) {
            ctx.error(
                f,
                "is for tls = true; remove it, or tls = false".to_string(),
            );
            clear = None;
        }
    }
    let (read_field, public_read) = t.or_field(ctx, "public_read", true, boolean);
    if let (Some(f), Some(false), None) = (&read_field, public_read, &hash_field) {
        ctx.error(
            f,
            "= false needs a password_hash: without one nobody could read anything; set \
             password_hash (from `lvsinit password`), or remove public_read"
                .to_string(),
        );
        clear = None;
    }
    let (key_field, update_public_key) =
        t.opt_field(ctx, "update_public_key", string(parse_update_public_key));
    let update_public_key: Option<Option<[u8; 32]>> = match &key_field {
        Some(_) => update_public_key.map(Some),
        None => Some(None),
    };
    // A key without a password is not wrong, only idle: the API takes no
    // write, so no update either, until a password_hash is set.
    if let (Some(f), None) = (&key_field, &hash_field) {
        ctx.warning_at(
            &f.path,
            "has no effect without a password_hash: an update is a write, and without a \
             password the API takes none; set password_hash (from `lvsinit password`)",
        );
    }
    let trial = typed_string("a duration string like \"120s\"", parse_update_trial);
    let update_trial = t.or(ctx, "update_trial", Management::DEFAULT_UPDATE_TRIAL, trial);
    t.finish(ctx)?;
    clear?;
    Some(Management {
        listen: listen?,
        allow: allow?,
        tls: tls?,
        tls_files: tls_files?,
        password_hash: password_hash?,
        public_read: public_read?,
        update_public_key: update_public_key?,
        update_trial: update_trial?,
    })
}

/// The prefix of a key or signature's text: the algorithm, so that
/// another one can come later without guessing what a string is.
const ED25519: &str = "ed25519:";

/// `"ed25519:BASE64"`, as `lvsinit keygen` prints it: the 32 bytes of an
/// Ed25519 public key in standard base64 (44 characters with padding).
fn parse_update_public_key(text: &str) -> Result<[u8; 32], String> {
    let help = "write the line `lvsinit keygen` prints, like \"ed25519:\" and 44 base64 \
                characters";
    if text.starts_with("-----BEGIN") {
        return Err("is a PEM key file; the box needs the public key, the line \
                    `lvsinit keygen` prints (also in PREFIX.pub): keep the private key off \
                    the box"
            .to_string());
    }
    let Some(encoded) = text.strip_prefix(ED25519) else {
        return Err(format!("does not start with \"{ED25519}\"; {help}"));
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| format!("is not base64 after \"{ED25519}\"; {help}"))?;
    bytes.as_slice().try_into().map_err(|_| {
        // A private key in any of its forms is longer than 32 bytes.
        let private = match bytes.len() > 32 {
            true => " (is it the private key? that stays on the PC that signs)",
            false => "",
        };
        format!(
            "holds {} bytes; an Ed25519 public key is 32{private}; {help}",
            bytes.len()
        )
    })
}

/// `update_trial = "120s"`: between [`Management::MIN_UPDATE_TRIAL`] and
/// [`Management::MAX_UPDATE_TRIAL`].
fn parse_update_trial(text: &str) -> Result<Duration, String> {
    let trial = parse_duration(text)?;
    if trial < Management::MIN_UPDATE_TRIAL {
        return Err(format!(
            "{} is shorter than {}s: a new system needs that long to boot and apply its \
             config before it can say it is good",
            quote(text),
            Management::MIN_UPDATE_TRIAL.as_secs()
        ));
    }
    if trial > Management::MAX_UPDATE_TRIAL {
        return Err(format!(
            "{} is longer than {}m: for that long the box runs a system nobody has vouched for",
            quote(text),
            Management::MAX_UPDATE_TRIAL.as_secs() / 60
        ));
    }
    Ok(trial)
}

/// A file at the root of the boot partition: a plain name like
/// `mgmt.crt` (letters, digits, `.`, `-`, `_`), as the box reads and
/// writes its files there.
fn parse_file_name(text: &str) -> Result<String, String> {
    let plain = !text.is_empty()
        && text.len() <= 64
        && !text.starts_with('.')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !plain {
        return Err(format!(
            "{} is not a file name at the root of the boot partition; write a plain name \
             (letters, digits, '.', '-', '_'), like \"mgmt.crt\"",
            quote(text)
        ));
    }
    Ok(text.to_string())
}

/// An argon2id hash in PHC format, as `lvsinit password` prints it:
/// `$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH`. Checked here for its form
/// and its cost; the box verifies passwords against it.
fn parse_password_hash(text: &str) -> Result<String, String> {
    let help = "write the line `lvsinit password` prints, like \
                \"$argon2id$v=19$m=19456,t=2,p=1$...$...\"";
    let parts: Vec<&str> = text.split('$').collect();
    let [empty, id, version, params, salt, hash] = parts.as_slice() else {
        return Err(format!("is not an argon2id hash in PHC format; {help}"));
    };
    if !empty.is_empty() || *id != "argon2id" {
        return Err(format!(
            "is not an argon2id hash (it must start with $argon2id$); {help}"
        ));
    }
    if *version != "v=19" {
        return Err(format!(
            "has version {version}; argon2 hashes are v=19; {help}"
        ));
    }
    let mut cost = (None, None, None);
    for param in params.split(',') {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        let value: Option<u32> = value.parse().ok().filter(|v| *v > 0);
        let slot = match name {
            "m" => &mut cost.0,
            "t" => &mut cost.1,
            "p" => &mut cost.2,
            _ => return Err(format!("has an unknown parameter {param:?}; {help}")),
        };
        *slot = Some(value.ok_or_else(|| format!("has a bad parameter {param:?}; {help}"))?);
    }
    let (Some(m), Some(t), Some(_)) = cost else {
        return Err(format!("lacks one of its parameters m, t, p; {help}"));
    };
    if t > MAX_ARGON2_PASSES {
        return Err(format!(
            "makes {t} passes for each check; the box allows at most {MAX_ARGON2_PASSES}: make \
             it again with `lvsinit password`"
        ));
    }
    if m > MAX_ARGON2_KIB {
        return Err(format!(
            "needs {} MiB for each check (m={m}); the box allows at most {} MiB: \
             make it again with `lvsinit password`",
            m / 1024,
            MAX_ARGON2_KIB / 1024
        ));
    }
    let b64 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    };
    if !b64(salt) || !b64(hash) || hash.len() < 22 {
        return Err(format!(
            "has a bad salt or hash (base64 without padding); {help}"
        ));
    }
    Ok(text.to_string())
}

/// `"192.168.3.1:9100"`: a specific address (the box's own, checked
/// later) and a port.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let addr = parse_socket_addr(text)?;
    if addr.ip().is_unspecified() {
        return Err(format!(
            "{} listens on every address; write one of the box's own addresses, \
             so that the API is reachable only where you mean it",
            quote(text)
        ));
    }
    Ok(addr)
}

/// `"192.168.3.0/24"`: a client network, host bits clear.
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    let net = parse_cidr(text)?;
    let subnet = network(net);
    if subnet != net {
        return Err(format!(
            "{} has host bits set; the network is \"{subnet}\"",
            quote(text)
        ));
    }
    ipnet::IpNet::new(net.addr, net.prefix_len).map_err(|e| format!("{}: {e}", quote(text)))
}

/// Read one `[[syslog]]`.
pub(super) fn read_syslog(ctx: &mut Ctx, item: &Field<'_, '_>) -> Option<Syslog> {
    let mut t = Table::new(ctx, item, "a table")?;
    let help = "the receiver's address and port, like target = \"192.168.3.9:514\"";
    let target = t.req(ctx, "target", help, string(parse_socket_addr));
    let transports = &[
        ("udp (RFC 5424 over UDP)", Transport::Udp),
        ("tcp (RFC 6587 octet counting)", Transport::Tcp),
    ];
    let transport = t.or(
        ctx,
        "transport",
        Transport::Udp,
        one_of("a syslog transport", transports),
    );
    t.finish(ctx)?;
    Some(Syslog {
        target: target?,
        transport: transport?,
    })
}

/// Read one `[[webhook]]`.
pub(super) fn read_webhook(ctx: &mut Ctx, item: &Field<'_, '_>) -> Option<Webhook> {
    let mut t = Table::new(ctx, item, "a table")?;
    let help = "where events are POSTed, like url = \"http://192.168.3.9:8080/lvs\"";
    let url = t.req(
        ctx,
        "url",
        help,
        string(|s| WebhookUrl::parse(s).map_err(|e| format!("{}: {e}", quote(s)))),
    );
    let authorization = t.opt(ctx, "authorization", string(parse_authorization));
    t.finish(ctx)?;
    Some(Webhook {
        url: url?,
        authorization,
    })
}

/// An `Authorization` header value: visible ASCII and blanks, no line
/// breaks.
fn parse_authorization(text: &str) -> Result<String, String> {
    match http::HeaderValue::from_str(text) {
        Ok(_) if !text.trim().is_empty() => Ok(text.to_string()),
        Ok(_) => Err("is empty; write the header's value, like \"Bearer TOKEN\"".to_string()),
        Err(_) => Err(
            "has a character a header cannot carry (a line break or a control character); \
             write the value on one line, like \"Bearer TOKEN\""
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::load;
    use super::super::test_support::{check_cases, warnings};
    use super::*;

    const LAN: &str = "[[interface]]\nname = \"lan\"\nmac = \"52:54:00:00:03:01\"\n\
                       addresses = [\"192.168.3.1/24\"]\n";

    #[test]
    fn sections_read() {
        let text = format!(
            "{LAN}[management]\nlisten = [\"192.168.3.1:9100\"]\nallow = [\"192.168.3.0/24\"]\n\
             tls = false\n\
             [[syslog]]\ntarget = \"192.168.3.9:514\"\n\
             [[syslog]]\ntarget = \"192.168.3.9:601\"\ntransport = \"tcp\"\n\
             [[webhook]]\nurl = \"http://192.168.3.9:8080/lvs\"\nauthorization = \"Bearer x\"\n"
        );
        let (config, warnings) = load("router.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(warnings, []);
        let m = config.management.unwrap();
        assert_eq!(m.listen, ["192.168.3.1:9100".parse().unwrap()]);
        assert_eq!(m.allow, ["192.168.3.0/24".parse::<ipnet::IpNet>().unwrap()]);
        assert!(!m.tls);
        assert_eq!(
            config
                .syslog
                .iter()
                .map(|s| (s.target.to_string(), s.transport))
                .collect::<Vec<_>>(),
            [
                ("192.168.3.9:514".to_string(), Transport::Udp),
                ("192.168.3.9:601".to_string(), Transport::Tcp)
            ]
        );
        assert_eq!(config.webhooks[0].url.path, "/lvs");
        assert_eq!(
            config.webhooks[0].authorization.as_deref(),
            Some("Bearer x")
        );
    }

    /// TLS is the default; the password and certificate files are read.
    #[test]
    fn tls_and_the_password() {
        let text = format!(
            "{LAN}[management]\nlisten = [\"192.168.3.1:8443\"]\n\
             tls_certificate = \"box.crt\"\ntls_key = \"mgmt.key\"\n\
             password_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g\"\npublic_read = false\n"
        );
        let (config, warnings) = load("router.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(warnings, []);
        let m = config.management.unwrap();
        assert!(m.tls && !m.public_read);
        let files = m.tls_files.unwrap();
        assert_eq!((&*files.certificate, &*files.key), ("box.crt", "mgmt.key"));
        assert_eq!(
            m.password_hash.as_deref(),
            Some(
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
            )
        );
        let (config, _) = load(
            "router.toml",
            &format!("{LAN}[management]\nlisten = [\"192.168.3.1:8443\"]\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let m = config.management.unwrap();
        assert!(m.tls && m.public_read && m.tls_files.is_none() && m.password_hash.is_none());
    }

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

    /// The update key comes out as its 32 bytes; the trial defaults to
    /// two minutes.
    #[test]
    fn update_key_and_trial() {
        let text = format!(
            "{LAN}[management]\nlisten = [\"192.168.3.1:8443\"]\npassword_hash = \"{HASH}\"\n\
             update_public_key = \"ed25519:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n\
             update_trial = \"5m\"\n"
        );
        let (config, warnings) = load("router.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(warnings, []);
        let m = config.management.unwrap();
        let key: Vec<u8> = (0..32).collect();
        assert_eq!(m.update_public_key.map(Vec::from), Some(key));
        assert_eq!(m.update_trial, Duration::from_secs(300));
        let (config, _) = load(
            "router.toml",
            &format!("{LAN}[management]\nlisten = [\"192.168.3.1:8443\"]\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let m = config.management.unwrap();
        assert_eq!(m.update_public_key, None);
        assert_eq!(m.update_trial, Duration::from_secs(120));
        for (trial, secs) in [("30s", 30), ("30m", 1800), ("1m30s", 90)] {
            let text = format!(
                "{LAN}[management]\nlisten = [\"192.168.3.1:8443\"]\nupdate_trial = \"{trial}\"\n"
            );
            let (config, _) = load("router.toml", &text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                config.management.unwrap().update_trial,
                Duration::from_secs(secs)
            );
        }
    }

    /// A key on a box without a password is kept, with a warning that
    /// nothing can use it yet.
    #[test]
    fn update_key_without_a_password_warns() {
        let text = format!(
            "{LAN}[management]\nlisten = [\"192.168.3.1:8443\"]\n\
             update_public_key = \"ed25519:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n"
        );
        assert_eq!(
            warnings(&text),
            [
                "router.toml:7:21: warning: management.update_public_key: has no effect without \
                 a password_hash: an update is a write, and without a password the API takes \
                 none; set password_hash (from `lvsinit password`)"
            ]
        );
    }

    #[test]
    fn update_errors() {
        let help = "write the line `lvsinit keygen` prints, like \"ed25519:\" and 44 base64 \
                    characters";
        let key = |value: &str| {
            format!(
                "{LAN}[management]\nlisten = [\"192.168.3.1:8443\"]\npassword_hash = \"{HASH}\"\n\
                 update_public_key = {value}\n"
            )
        };
        let trial = |value: &str| {
            format!("{LAN}[management]\nlisten = [\"192.168.3.1:8443\"]\nupdate_trial = {value}\n")
        };
        let at_key = |message: &str| {
            format!("router.toml:8:21: error: management.update_public_key: {message}")
        };
        let at_trial =
            |message: &str| format!("router.toml:7:16: error: management.update_trial: {message}");
        let cases: Vec<(String, String)> = vec![
            (
                key("\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\""),
                at_key(&format!("does not start with \"ed25519:\"; {help}")),
            ),
            (
                key("\"ed25519:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\""),
                at_key(&format!("is not base64 after \"ed25519:\"; {help}")),
            ),
            (
                key("\"ed25519:AAEC*wQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\""),
                at_key(&format!("is not base64 after \"ed25519:\"; {help}")),
            ),
            (
                key("\"ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\""),
                at_key(&format!(
                    "holds 31 bytes; an Ed25519 public key is 32; {help}"
                )),
            ),
            (
                key(&format!("\"ed25519:{}AA==\"", "A".repeat(112))),
                at_key(&format!(
                    "holds 85 bytes; an Ed25519 public key is 32 (is it the private key? that \
                     stays on the PC that signs); {help}"
                )),
            ),
            (
                key("\"-----BEGIN PRIVATE KEY-----\""),
                at_key(
                    "is a PEM key file; the box needs the public key, the line `lvsinit keygen` \
                     prints (also in PREFIX.pub): keep the private key off the box",
                ),
            ),
            (
                key("32"),
                "router.toml:8:21: error: management.update_public_key: expected a string, \
                 found an integer"
                    .into(),
            ),
            (
                trial("\"10s\""),
                at_trial(
                    "\"10s\" is shorter than 30s: a new system needs that long to boot and \
                     apply its config before it can say it is good",
                ),
            ),
            (
                trial("\"1h\""),
                at_trial(
                    "\"1h\" is longer than 30m: for that long the box runs a system nobody has \
                     vouched for",
                ),
            ),
            (
                trial("\"120\""),
                at_trial("\"120\" has no unit; write it like \"120s\""),
            ),
            (
                trial("120"),
                at_trial("expected a duration string like \"120s\", found an integer"),
            ),
        ];
        for (text, expected) in &cases {
            check_cases(&[(text, &[expected.as_str()])]);
        }
    }

    #[test]
    fn without_the_sections_nothing_is_configured() {
        let (config, _) = load("router.toml", LAN).unwrap();
        assert_eq!(config.management, None);
        assert!(config.syslog.is_empty() && config.webhooks.is_empty());
    }

    #[test]
    fn management_errors() {
        let cases: Vec<(String, Vec<&str>)> = vec![
            (
                "[management]\nlisten = [\"192.168.3.1:8443\"]\ntls = false\n\
                 password_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g\"\n"
                    .into(),
                vec![
                    "router.toml:8:17: error: management.password_hash: needs tls = true: a \
                     password is never sent in clear; remove tls = false (TLS is the default)",
                ],
            ),
            (
                "[management]\nlisten = [\"192.168.3.1:8443\"]\ntls_certificate = \"mgmt.crt\"\n"
                    .into(),
                vec![
                    "router.toml:7:19: error: management.tls_certificate: tls_certificate needs \
                     tls_key too; give both, or neither and the box makes a self-signed \
                     certificate on first boot",
                ],
            ),
            (
                "[management]\nlisten = [\"192.168.3.1:8443\"]\ntls = false\n\
                 tls_certificate = \"a.crt\"\ntls_key = \"/etc/a.key\"\n"
                    .into(),
                vec![
                    "router.toml:8:19: error: management.tls_certificate: is for tls = true; \
                     remove it, or tls = false",
                    "router.toml:9:11: error: management.tls_key: \"/etc/a.key\" is not a file \
                     name at the root of the boot partition; write a plain name (letters, digits, \
                     '.', '-', '_'), like \"mgmt.crt\"",
                ],
            ),
            (
                "[management]\nlisten = [\"192.168.3.1:8443\"]\npublic_read = false\n".into(),
                vec![
                    "router.toml:7:15: error: management.public_read: = false needs a \
                     password_hash: without one nobody could read anything; set password_hash \
                     (from `lvsinit password`), or remove public_read",
                ],
            ),
            (
                "[management]\nlisten = [\"192.168.3.1:8443\"]\npassword_hash = \"hunter2\"\n".into(),
                vec![
                    "router.toml:7:17: error: management.password_hash: is not an argon2id hash \
                     in PHC format; write the line `lvsinit password` prints, like \
                     \"$argon2id$v=19$m=19456,t=2,p=1$...$...\"",
                ],
            ),
            (
                "[management]\nlisten = [\"192.168.3.1:8443\"]\n\
                 password_hash = \"$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA\"\n"
                    .into(),
                vec![
                    "router.toml:7:17: error: management.password_hash: is not an argon2id hash \
                     (it must start with $argon2id$); write the line `lvsinit password` prints, \
                     like \"$argon2id$v=19$m=19456,t=2,p=1$...$...\"",
                ],
            ),
            (
                "[management]\nlisten = [\"192.168.3.1:8443\"]\n\
                 password_hash = \"$argon2id$v=19$m=1048576,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g\"\n"
                    .into(),
                vec![
                    "router.toml:7:17: error: management.password_hash: needs 1024 MiB for each \
                     check (m=1048576); the box allows at most 64 MiB: make it again with \
                     `lvsinit password`",
                ],
            ),
            (
                "[management]\ntls = false\n".into(),
                vec![
                    "router.toml:5:1: error: management.listen: missing key `listen`; where the \
                     HTTP API listens, like listen = [\"192.168.3.1:9100\"]",
                ],
            ),
            (
                "[management]\nlisten = []\ntls = false\n".into(),
                vec![
                    "router.toml:6:10: error: management.listen: is empty; where the HTTP API \
                     listens, like listen = [\"192.168.3.1:9100\"]",
                ],
            ),
            (
                "[management]\nlisten = [\"0.0.0.0:9100\", \"192.168.3.1\"]\ntls = false\n".into(),
                vec![
                    "router.toml:6:11: error: management.listen[0]: \"0.0.0.0:9100\" listens on \
                     every address; write one of the box's own addresses, so that the API is \
                     reachable only where you mean it",
                    "router.toml:6:27: error: management.listen[1]: \"192.168.3.1\" has no port; \
                     write it like \"192.168.3.1:80\"",
                ],
            ),
            (
                "[management]\nlisten = [\"192.168.3.1:9100\", \"192.168.3.1:9100\"]\n\
                 tls = false\n"
                    .into(),
                vec![
                    "router.toml:6:31: error: management.listen[1]: 192.168.3.1:9100 is already \
                     listed as management.listen[0]",
                ],
            ),
            (
                "[management]\nlisten = [\"192.168.3.1:9100\"]\n\
                 allow = [\"10.0.0.0/8\", \"192.168.3.7/24\", \"10.0.0.0/8\"]\ntls = false\n"
                    .into(),
                vec![
                    "router.toml:7:24: error: management.allow[1]: \"192.168.3.7/24\" has host \
                     bits set; the network is \"192.168.3.0/24\"",
                    "router.toml:7:42: error: management.allow[2]: 10.0.0.0/8 is already listed \
                     as management.allow[0]",
                ],
            ),
            (
                "[management]\nlisten = [\"192.168.3.1:9100\"]\ntls = false\nport = 9100\n".into(),
                vec![
                    "router.toml:8:1: error: management.port: unknown key; valid keys here: \
                     listen, allow, tls, tls_certificate, tls_key, password_hash, public_read, \
                     update_public_key, update_trial",
                ],
            ),
        ];
        let cases: Vec<(String, Vec<&str>)> = cases
            .into_iter()
            .map(|(text, expected)| (format!("{LAN}{text}"), expected))
            .collect();
        let cases: Vec<(&str, &[&str])> = cases
            .iter()
            .map(|(t, e)| (t.as_str(), e.as_slice()))
            .collect();
        check_cases(&cases);
        check_cases(&[(
            "management = 1\n",
            &[
                "router.toml:1:14: error: management: expected a table ([management]), found an \
               integer",
            ],
        )]);
    }

    /// A listener must be on one of the box's own addresses: an
    /// interface's, or a [vrrp] virtual address.
    #[test]
    fn listen_on_the_box_own_addresses() {
        let vrrp = "[vrrp]\ninterface = \"lan\"\nvirtual_router_id = 51\n\
                    virtual_addresses = [{ interface = \"lan\", address = \"192.168.3.254/24\" }]\n";
        let text = format!(
            "{LAN}{vrrp}[management]\nlisten = [\"192.168.3.1:9100\", \"192.168.3.254:9100\"]\n\
             tls = false\n"
        );
        let (config, _) = load("router.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.management.unwrap().listen.len(), 2);
        let text = format!(
            "{LAN}{vrrp}[management]\nlisten = [\"192.168.3.1:9100\", \"192.168.4.1:9100\"]\n\
             tls = false\n"
        );
        check_cases(&[
            (
                &text,
                &[
                    "router.toml:10:31: error: management.listen[1]: 192.168.4.1 is not an address \
                     of this box (configured: 192.168.3.1, 192.168.3.254); listen on an \
                     interface's `addresses` or a [vrrp] virtual address",
                ],
            ),
            (
                "[management]\nlisten = [\"[2001:db8::1]:9100\"]\ntls = false\n",
                &[
                    "router.toml:2:11: error: management.listen[0]: 2001:db8::1 is not an address \
                     of this box (none is configured); listen on an interface's `addresses` or a \
                     [vrrp] virtual address",
                ],
            ),
        ]);
    }

    #[test]
    fn syslog_and_webhook_errors() {
        check_cases(&[
            (
                "[[syslog]]\ntransport = \"tls\"\n",
                &[
                    "router.toml:1:1: error: syslog[0].target: missing key `target`; the \
                     receiver's address and port, like target = \"192.168.3.9:514\"",
                    "router.toml:2:13: error: syslog[0].transport: \"tls\" is not a syslog \
                     transport; expected \"udp\" (RFC 5424 over UDP) or \"tcp\" (RFC 6587 octet \
                     counting)",
                ],
            ),
            (
                "[[syslog]]\ntarget = \"192.168.3.9\"\n",
                &[
                    "router.toml:2:10: error: syslog[0].target: \"192.168.3.9\" has no port; \
                     write it like \"192.168.3.9:80\"",
                ],
            ),
            (
                "[syslog]\ntarget = \"192.168.3.9:514\"\n",
                &[
                    "router.toml:1:1: error: syslog: expected an array of tables ([[syslog]]), \
                     found a table",
                ],
            ),
            (
                "[[webhook]]\nauthorization = \"Bearer x\"\n",
                &[
                    "router.toml:1:1: error: webhook[0].url: missing key `url`; where events are \
                     POSTed, like url = \"http://192.168.3.9:8080/lvs\"",
                ],
            ),
            (
                "[[webhook]]\nurl = \"https://192.168.3.9/x\"\n\
                 [[webhook]]\nurl = \"http://hooks.example/x\"\n\
                 [[webhook]]\nurl = \"http://192.168.3.9/x\"\nauthorization = \"Bearer x\\r\\nX: y\"\n",
                &[
                    "router.toml:2:7: error: webhook[0].url: \"https://192.168.3.9/x\": https:// \
                     needs TLS, which the box does not have yet; write http://",
                    "router.toml:4:7: error: webhook[1].url: \"http://hooks.example/x\": \
                     \"hooks.example\" is not an IP address (the box has no DNS); write the \
                     receiver's address",
                    "router.toml:7:17: error: webhook[2].authorization: has a character a header \
                     cannot carry (a line break or a control character); write the value on one \
                     line, like \"Bearer TOKEN\"",
                ],
            ),
        ]);
    }
}
