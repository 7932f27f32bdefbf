//! The one error type of the VRRP module: what stops an instance from
//! starting or an announcement from going out. (A received packet that
//! fails the RFC's checks is not an error of ours: it is dropped with a
//! [`super::packet::PacketError`] as the reason.)

use std::io;

/// Everything that can go wrong opening VRRP's sockets or sending on them.
#[derive(Debug, thiserror::Error)]
pub enum VrrpError {
    /// The configured interface does not exist in this namespace.
    #[error("no interface {name}: {source}")]
    NoInterface {
        name: String,
        #[source]
        source: io::Error,
    },

    /// Adverts need a source address, and it is the tie-break between
    /// equal priorities.
    #[error("interface {0} has no IPv4 address to send VRRP adverts from")]
    NoAddress(String),

    /// Gratuitous ARP needs the interface's own hardware address.
    #[error("interface {0} has no Ethernet address to send gratuitous ARP from")]
    NoHardwareAddress(String),

    /// The `[vrrp]` section cannot run as given (the config checks should
    /// have refused it already).
    #[error("invalid VRRP instance: {0}")]
    Invalid(String),

    /// A socket call failed; `action` says which, as a user would put it.
    #[error("{action}: {source}")]
    Socket {
        action: String,
        #[source]
        source: io::Error,
    },
}

impl VrrpError {
    /// A failed socket call, with the errno just set.
    pub(crate) fn last_os(action: impl Into<String>) -> VrrpError {
        VrrpError::Socket {
            action: action.into(),
            source: io::Error::last_os_error(),
        }
    }
}
