//! The payload type that plugs IPVS requests into `netlink-packet-generic`:
//! a command and its attributes, behind the generic header
//! (`struct genlmsghdr`: command, version 1, reserved).

use netlink_packet_core::Emitable;
use netlink_packet_generic::GenlFamily;

use super::attr::{Attr, GENL_NAME, GENL_VERSION};

/// One IPVS request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsRequest {
    /// `IPVS_CMD_*`.
    pub cmd: u8,
    pub attrs: Vec<Attr>,
}

impl GenlFamily for IpvsRequest {
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

impl Emitable for IpvsRequest {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}
