//! The one HTTP request each command makes, and the percent-encoding of
//! the names put in its path.

use std::io::Read as _;
use std::path::Path;

use bytes::Bytes;
use hyper::Method;

use super::args::Command;
use super::error::RemoteError;
use crate::update::signature::{self, MAX_IMAGE_BYTES};

/// The most read of a signature file: its one line is 97 bytes.
const MAX_SIGNATURE_FILE: u64 = 4 << 10;

/// A request before it meets a connection: no host, no credentials yet.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path and query, each name in it percent-encoded.
    pub target: String,
    pub body: Bytes,
    /// The body's `Content-Type`, when there is a body.
    pub content_type: Option<&'static str>,
    /// More headers: the signature of `update`.
    pub headers: Vec<(&'static str, String)>,
    /// What the client chose on its own and tells the operator before
    /// sending (which signature file `update` took).
    pub note: Option<String>,
    /// Whether the box will want the password for it. Read commands are
    /// tried without one when none is at hand (the box may allow them
    /// from the operator's network); writes always carry it.
    pub writes: bool,
}

impl Request {
    /// The request for `command`; `config push` reads its file here.
    pub fn of(command: &Command) -> Result<Request, RemoteError> {
        let read = |target: &str| Request {
            method: Method::GET,
            target: target.to_string(),
            body: Bytes::new(),
            content_type: None,
            headers: Vec::new(),
            note: None,
            writes: false,
        };
        let post = |target: String| Request {
            method: Method::POST,
            target,
            body: Bytes::new(),
            content_type: None,
            headers: Vec::new(),
            note: None,
            writes: true,
        };
        let real_server = |service: &str, address: &std::net::SocketAddr, what: &str| {
            format!(
                "/services/{}/real-servers/{}/{what}",
                percent_encode(service),
                percent_encode(&address.to_string())
            )
        };
        Ok(match command {
            Command::Status => read("/status"),
            Command::ConfigGet => read("/config"),
            Command::Log { follow: false } => read("/log"),
            Command::Log { follow: true } => read("/log?follow=1"),
            Command::ConfigPush {
                file,
                confirm,
                dry_run,
            } => {
                let body = std::fs::read(file).map_err(|source| RemoteError::File {
                    path: file.clone(),
                    source,
                })?;
                let mut query = Vec::new();
                if *dry_run {
                    query.push("dry_run=1".to_string());
                }
                if let Some(c) = confirm {
                    query.push(format!("confirm={}", percent_encode(c)));
                }
                let mut target = "/config".to_string();
                if !query.is_empty() {
                    target.push('?');
                    target.push_str(&query.join("&"));
                }
                Request {
                    method: Method::PUT,
                    target,
                    body: Bytes::from(body),
                    content_type: Some("application/toml"),
                    headers: Vec::new(),
                    note: None,
                    writes: true,
                }
            }
            Command::Update { file, signature } => update(file, signature.as_deref())?,
            Command::Rollback => post("/rollback".into()),
            Command::ConfigConfirm => post("/config/confirm".into()),
            Command::Drain { service, address } => post(real_server(service, address, "drain")),
            Command::Enable { service, address } => post(real_server(service, address, "enable")),
            Command::Reload => post("/reload".into()),
            Command::Reboot => post("/reboot".into()),
            Command::Poweroff => post("/poweroff".into()),
        })
    }
}

/// `PUT /update`: the image whole as the body (bounded: the box takes
/// no more either), its signature in the header, read and checked for
/// its form here so that a wrong file is found before 64 MiB travel.
fn update(file: &str, signature_file: Option<&str>) -> Result<Request, RemoteError> {
    let (signature_file, note) = match signature_file {
        Some(path) => (Some(path.to_string()), None),
        None => {
            let beside = format!("{file}.sig");
            if Path::new(&beside).exists() {
                let note = format!("signature from {beside}");
                (Some(beside), Some(note))
            } else {
                // A box without update_public_key takes it on the password
                // alone; one with a key refuses it (403) and says why.
                let note = format!(
                    "no --signature and no {beside}: sent unsigned (a box with \
                     update_public_key refuses it)"
                );
                (None, Some(note))
            }
        }
    };
    let mut headers = Vec::new();
    if let Some(signature_file) = &signature_file {
        let text = read_bounded(signature_file, MAX_SIGNATURE_FILE, "a signature file")?;
        let text = String::from_utf8_lossy(&text);
        let text = text.trim();
        signature::parse_signature(text)
            .map_err(|e| RemoteError::Usage(format!("{signature_file}: {e}")))?;
        headers.push((signature::HEADER, text.to_string()));
    }
    let body = read_bounded(
        file,
        MAX_IMAGE_BYTES,
        "a system image (a bzImage is about 10 MiB)",
    )?;
    Ok(Request {
        method: Method::PUT,
        target: "/update".into(),
        body: Bytes::from(body),
        content_type: Some("application/octet-stream"),
        headers,
        note,
        writes: true,
    })
}

/// The whole of `path`, refused when it is over `limit` bytes: `what` it
/// should be says why.
fn read_bounded(path: &str, limit: u64, what: &str) -> Result<Vec<u8>, RemoteError> {
    let cannot = |source| RemoteError::File {
        path: path.to_string(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limit {
        let size = match limit >> 20 {
            0 => format!("{} KiB", limit >> 10),
            mib => format!("{mib} MiB"),
        };
        return Err(RemoteError::Usage(format!(
            "{path} is over {size}, too big for {what}"
        )));
    }
    Ok(bytes)
}

/// One path segment or query value, percent-encoded: RFC 3986's
/// unreserved characters kept, every other byte of the UTF-8 as `%XX`,
/// so `/`, `:` and the brackets of an IPv6 address cannot split or end
/// a segment.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("postgres-1.a_b~"), "postgres-1.a_b~");
        assert_eq!(
            percent_encode("[2001:db8::1]:80"),
            "%5B2001%3Adb8%3A%3A1%5D%3A80"
        );
        assert_eq!(percent_encode("web/eu west"), "web%2Feu%20west");
        assert_eq!(percent_encode("%?#&="), "%25%3F%23%26%3D");
        assert_eq!(percent_encode("dns-é"), "dns-%C3%A9");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn targets() {
        let drain = Command::Drain {
            service: "web eu".into(),
            address: "[2001:DB8:0::2]:80".parse().unwrap(),
        };
        let r = Request::of(&drain).unwrap();
        assert_eq!(r.method, Method::POST);
        // The address as the box prints it: IPv6 in its short form.
        assert_eq!(
            r.target,
            "/services/web%20eu/real-servers/%5B2001%3Adb8%3A%3A2%5D%3A80/drain"
        );
        assert!(r.writes);
        let r = Request::of(&Command::Log { follow: true }).unwrap();
        assert_eq!(
            (r.method, r.target.as_str(), r.writes),
            (Method::GET, "/log?follow=1", false)
        );
        let e = Request::of(&Command::ConfigPush {
            file: "/nonexistent/router.toml".into(),
            confirm: None,
            dry_run: false,
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read /nonexistent/router.toml: "),
            "{e}"
        );
    }
}
