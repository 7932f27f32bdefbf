//! The body of an IPVS request: a command and its first-level attributes,
//! each a nest of the typed attributes of its object, behind the generic
//! header (`struct genlmsghdr`: command, version 1, reserved). The type
//! plugs into `netlink-packet-generic`.
//!
//! Replies are read the other way by the object's own decoder, from the
//! nest [`super::attr::find`] picks out of the body.

use netlink_packet_core::Emitable;
use netlink_packet_generic::GenlFamily;

use super::attr::{Attribute, Attributes, Wire};
use super::cmd::{CMD_ATTR_DAEMON, CMD_ATTR_DEST, CMD_ATTR_SERVICE, GENL_NAME, GENL_VERSION};
use super::daemon::DaemonAttr;
use super::dest::DestAttr;
use super::service::ServiceAttr;

/// A first-level attribute (`IPVS_CMD_ATTR_*`) of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdAttr<'a> {
    Service(Vec<ServiceAttr<'a>>),
    Dest(Vec<DestAttr<'a>>),
    Daemon(Vec<DaemonAttr<'a>>),
}

impl Attribute for CmdAttr<'_> {
    fn wire(&self) -> (u16, Wire<'_>) {
        match self {
            CmdAttr::Service(nest) => (CMD_ATTR_SERVICE, Wire::Nest(nest)),
            CmdAttr::Dest(nest) => (CMD_ATTR_DEST, Wire::Nest(nest)),
            CmdAttr::Daemon(nest) => (CMD_ATTR_DAEMON, Wire::Nest(nest)),
        }
    }
}

/// One IPVS request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsRequest<'a> {
    /// `IPVS_CMD_*`.
    pub cmd: u8,
    pub attrs: Vec<CmdAttr<'a>>,
}

impl GenlFamily for IpvsRequest<'_> {
    fn family_name() -> &'static str {
        GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd
    }

    fn version(&self) -> u8 {
        GENL_VERSION
    }
}

impl Emitable for IpvsRequest<'_> {
    fn buffer_len(&self) -> usize {
        self.attrs.encoded_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.encode(buffer)
    }
}
