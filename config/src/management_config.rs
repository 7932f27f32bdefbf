//! What `[management]`, `[[syslog]]` and `[[webhook]]` in `router.toml`
//! say, as plain values (`management.rs` reads them), and a webhook URL's
//! parser. The management subsystem (`src/management/`) uses them as
//! `lvsinit::management::config`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

/// `[management]`: the HTTP API's listeners and who may use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Management {
    /// Where to listen, each an address of the box.
    pub listen: Vec<SocketAddr>,
    /// Client networks that get an answer; empty means any.
    pub allow: Vec<IpNet>,
    /// HTTPS (the default). Plain HTTP only when the config says
    /// `tls = false`, and then without a password.
    pub tls: bool,
    /// The certificate and its key, PEM files on the boot partition
    /// (names relative to it); `None`: the box makes a self-signed one on
    /// first boot and keeps it there.
    pub tls_files: Option<TlsFiles>,
    /// The administrator's password as an argon2id PHC string; `None`:
    /// the API is read-only (every write endpoint answers 403).
    pub password_hash: Option<String>,
    /// Whether `/metrics`, `/status`, `/` and `/log` answer without the
    /// password (default true, as node_exporter scrapes).
    pub public_read: bool,
    /// The Ed25519 public key (`update_public_key`) a new system sent to
    /// `PUT /update` must be signed with; `None`: the box has nothing to
    /// check an update against, so it takes none.
    pub update_public_key: Option<[u8; 32]>,
    /// `update_trial`: how long a new system has, on the boot that tries
    /// it, to come up and declare itself good before the box goes back
    /// to the system it was running.
    pub update_trial: Duration,
}

/// `tls_certificate` and `tls_key`: file names on the boot partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub certificate: String,
    pub key: String,
}

impl Management {
    /// Without `update_trial`: time for a slow box to boot, find its
    /// links and apply its config, with room to spare.
    pub const DEFAULT_UPDATE_TRIAL: Duration = Duration::from_secs(120);
    /// The shortest trial: less would roll back a good system that only
    /// booted slowly (firmware alone can take 20 s).
    pub const MIN_UPDATE_TRIAL: Duration = Duration::from_secs(30);
    /// The longest trial: while it runs the box is on a system nobody has
    /// vouched for yet, and a broken one stays broken that long.
    pub const MAX_UPDATE_TRIAL: Duration = Duration::from_secs(30 * 60);

    /// True when `client` may talk to the API.
    pub fn allows(&self, client: IpAddr) -> bool {
        let client = canonical(client);
        self.allow.is_empty() || self.allow.iter().any(|net| net.contains(&client))
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack
/// listener reports for IPv4 clients) as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// How syslog lines travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// RFC 5426: one datagram per line (the default).
    Udp,
    /// RFC 6587 octet counting over one TCP connection.
    Tcp,
}

/// `[[syslog]]`: a remote syslog receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog {
    pub target: SocketAddr,
    pub transport: Transport,
}

/// `[[webhook]]`: where events are POSTed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: WebhookUrl,
    /// Sent as the `Authorization` header when given (`Bearer ...`).
    pub authorization: Option<String>,
}

/// A webhook URL: `http://IP:PORT/path` (an IP address, the box has no
/// DNS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    /// Where to connect.
    pub address: SocketAddr,
    /// The request target: path and query, `/` when the URL has none.
    pub path: String,
    /// The URL as written, for messages and metric labels.
    pub text: String,
}

/// Why a webhook URL is refused; the text says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// Not a URL at all.
    Syntax(String),
    /// `https://`: not until TLS lands.
    Https,
    /// Another scheme than `http`.
    Scheme(String),
    /// A host name: the box has no DNS.
    NotAnAddress(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Syntax(e) => write!(f, "not a URL ({e}); write \"http://IP:PORT/path\""),
            UrlError::Https => write!(
                f,
                "https:// needs TLS, which the box does not have yet; write http://"
            ),
            UrlError::Scheme(s) => write!(f, "scheme {s:?} is not supported; write http://"),
            UrlError::NotAnAddress(h) => write!(
                f,
                "{h:?} is not an IP address (the box has no DNS); write the receiver's address"
            ),
        }
    }
}

impl std::error::Error for UrlError {}

impl WebhookUrl {
    /// Parse `http://IP[:PORT][/path]`; the port defaults to 80.
    pub fn parse(text: &str) -> Result<WebhookUrl, UrlError> {
        let uri: http::Uri = text
            .parse()
            .map_err(|e: http::uri::InvalidUri| UrlError::Syntax(e.to_string()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(UrlError::Https),
            Some(other) => return Err(UrlError::Scheme(other.to_string())),
            None => return Err(UrlError::Syntax("no scheme".into())),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| UrlError::Syntax("no host".into()))?;
        let host = authority.host();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = bare
            .parse()
            .map_err(|_| UrlError::NotAnAddress(host.to_string()))?;
        let port = authority.port_u16().unwrap_or(80);
        let path = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/")
            .to_string();
        Ok(WebhookUrl {
            address: SocketAddr::new(ip, port),
            path,
            text: text.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls() {
        let u = WebhookUrl::parse("http://192.168.3.9:8080/hook?x=1").unwrap();
        assert_eq!(u.address, "192.168.3.9:8080".parse().unwrap());
        assert_eq!(u.path, "/hook?x=1");
        let u = WebhookUrl::parse("http://[2001:db8::9]").unwrap();
        assert_eq!(u.address, "[2001:db8::9]:80".parse().unwrap());
        assert_eq!(u.path, "/");
        assert_eq!(
            WebhookUrl::parse("https://10.0.0.1/x"),
            Err(UrlError::Https)
        );
        assert!(matches!(
            WebhookUrl::parse("http://hooks.example/x"),
            Err(UrlError::NotAnAddress(_))
        ));
        assert!(matches!(
            WebhookUrl::parse("ftp://10.0.0.1/x"),
            Err(UrlError::Scheme(_))
        ));
        assert!(WebhookUrl::parse("no url").is_err());
    }

    #[test]
    fn allow_list() {
        let any = Management {
            listen: vec![],
            allow: vec![],
            tls: false,
            tls_files: None,
            password_hash: None,
            public_read: true,
            update_public_key: None,
            update_trial: Management::DEFAULT_UPDATE_TRIAL,
        };
        assert!(any.allows("203.0.113.1".parse().unwrap()));
        let lan = Management {
            allow: vec!["192.168.3.0/24".parse().unwrap()],
            ..any
        };
        assert!(lan.allows("192.168.3.77".parse().unwrap()));
        assert!(lan.allows("::ffff:192.168.3.77".parse().unwrap()));
        assert!(!lan.allows("192.168.4.1".parse().unwrap()));
        assert!(!lan.allows("2001:db8::1".parse().unwrap()));
    }
}
