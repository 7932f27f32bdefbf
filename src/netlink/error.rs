//! The one error type of the rtnetlink module.
//!
//! When the kernel refuses a request we keep what it said: the errno (as an
//! `io::Error`, so `EEXIST`/`EBUSY`/`ENETUNREACH` read as the text `ip`
//! prints) and, when the kernel attached one, its extended-ack message
//! ("Nexthop has invalid gateway", ...).

use std::io;
use std::time::Duration;

/// Everything that can go wrong configuring links, addresses and routes.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The rtnetlink socket could not be opened or set up.
    #[error("cannot open an rtnetlink socket: {0}")]
    Socket(#[source] io::Error),

    /// [`super::Network::connect`] was called outside a tokio runtime.
    #[error("rtnetlink needs a running tokio runtime to drive its socket")]
    NoRuntime,

    /// The kernel answered a request with an error.
    #[error("{action}: {source}{}", kernel_says(.message))]
    Kernel {
        /// What we asked for, as `ip` users would say it ("renaming link eth0 to wan").
        action: String,
        /// The kernel's errno, as an `io::Error` (`raw_os_error()` gives the number).
        #[source]
        source: io::Error,
        /// The kernel's extended-ack text, when it sent one.
        message: Option<String>,
    },

    /// The request failed before or after the kernel (socket closed,
    /// unparsable reply).
    #[error("{action}: {source}")]
    Request {
        action: String,
        #[source]
        source: rtnetlink::Error,
    },

    /// No link matched within the wait bound.
    #[error("no link with {matcher} appeared within {:.1}s", .waited.as_secs_f64())]
    LinkNotFound { matcher: String, waited: Duration },

    /// A MAC matched more than one link and none stands out as the NIC.
    #[error("{matcher} matches several links: {}", .links.join(", "))]
    AmbiguousMatch { matcher: String, links: Vec<String> },

    /// Two `[[interface]]` entries resolved to the same kernel link.
    #[error("link {link} is already used by interface {other}")]
    LinkClaimed { link: String, other: String },

    /// The wanted name is held by a link that is not being renamed away.
    #[error("cannot rename link {link} to {name}: link {holder} already has that name")]
    NameTaken {
        link: String,
        name: String,
        holder: String,
    },

    /// A VLAN, bond or bridge to make has a name a link the box did not
    /// make already has: that link is left alone.
    #[error(
        "link {holder} already has the name {name} and was not made by this box; remove it or choose another name"
    )]
    NotOurs { name: String, holder: String },

    /// A VLAN's parent or a bond's or bridge's member is not there (its
    /// interface failed or was not found), so the link cannot be made.
    #[error("needs {needs}, which is not there")]
    Needs { needs: String },

    /// A route that cannot be put into a route message (mixed families).
    #[error("{route}: {reason}")]
    InvalidRoute { route: String, reason: String },

    /// A route names a device that is not a link (its interface failed or
    /// is not configured).
    #[error("route device {0} does not exist")]
    NoSuchDevice(String),
}

impl NetlinkError {
    /// The kernel's errno, when the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// Wrap an rtnetlink error, keeping the kernel's errno and extended-ack
    /// message when that is what it is.
    pub(crate) fn from_rtnetlink(action: impl Into<String>, error: rtnetlink::Error) -> Self {
        let action = action.into();
        match error {
            rtnetlink::Error::NetlinkError(reply) => NetlinkError::Kernel {
                action,
                source: reply.to_io(),
                message: extack_message(&reply.header),
            },
            source => NetlinkError::Request { action, source },
        }
    }
}

fn kernel_says(message: &Option<String>) -> String {
    match message {
        Some(text) => format!(" (kernel: {text})"),
        None => String::new(),
    }
}

/// Length of a netlink message header (`struct nlmsghdr`).
const NLMSG_HDRLEN: usize = 16;
/// `NLMSGERR_ATTR_MSG`: the human-readable extended-ack string.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// Pull the extended-ack message out of what follows the errno in an
/// `NLMSG_ERROR` reply.
///
/// [`super::Network::connect`] sets `NETLINK_CAP_ACK`, so the echoed request
/// is only its 16-byte header; the TLV attributes start right after it.
/// Anything malformed yields `None` rather than a guess.
fn extack_message(after_errno: &[u8]) -> Option<String> {
    let mut rest = after_errno.get(NLMSG_HDRLEN..)?;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &rest[4..len];
            let text = text.split(|&b| b == 0).next().unwrap_or(text);
            let text = std::str::from_utf8(text).ok()?.trim();
            return (!text.is_empty()).then(|| text.to_string());
        }
        let padded = (len + 3) & !3;
        rest = rest.get(padded..).unwrap_or(&[]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(kind: u16, payload: &[u8]) -> Vec<u8> {
        let len = (4 + payload.len()) as u16;
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(payload);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    fn reply(tlvs: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![0u8; NLMSG_HDRLEN];
        for t in tlvs {
            out.extend_from_slice(t);
        }
        out
    }

    #[test]
    fn extack_message_cases() {
        let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
            ("no attributes", reply(&[]), None),
            ("too short for a header", vec![0u8; 8], None),
            (
                "message only",
                reply(&[tlv(1, b"Nexthop has invalid gateway\0")]),
                Some("Nexthop has invalid gateway"),
            ),
            (
                "offset attribute first",
                reply(&[tlv(2, &24u32.to_ne_bytes()), tlv(1, b"Invalid prefix\0")]),
                Some("Invalid prefix"),
            ),
            (
                "unterminated message",
                reply(&[tlv(1, b"abc")]),
                Some("abc"),
            ),
            ("empty message", reply(&[tlv(1, b"\0")]), None),
            (
                "length past the end",
                {
                    let mut r = reply(&[]);
                    r.extend_from_slice(&40u16.to_ne_bytes());
                    r.extend_from_slice(&1u16.to_ne_bytes());
                    r.extend_from_slice(b"abcd");
                    r
                },
                None,
            ),
            ("zero length", reply(&[vec![0, 0, 1, 0]]), None),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(extack_message(&bytes).as_deref(), want, "case {name}");
        }
    }

    #[test]
    fn kernel_error_keeps_errno_and_message() {
        let err = NetlinkError::Kernel {
            action: "adding route 10.0.0.0/8 via 192.0.2.1".into(),
            source: io::Error::from_raw_os_error(101),
            message: Some("Nexthop has invalid gateway".into()),
        };
        assert_eq!(err.errno(), Some(101));
        let text = err.to_string();
        assert!(
            text.starts_with("adding route 10.0.0.0/8 via 192.0.2.1: "),
            "{text}"
        );
        assert!(text.contains("os error 101"), "{text}");
        assert!(
            text.ends_with("(kernel: Nexthop has invalid gateway)"),
            "{text}"
        );
    }
}
