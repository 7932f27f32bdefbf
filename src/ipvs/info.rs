//! `IPVS_CMD_GET_INFO`: the IPVS version and the size of the connection
//! hash table, the first line of `ipvsadm -Ln`.

use std::fmt;

use super::attr::{need, parse};
use super::error::IpvsError;

// In a `GET_INFO` reply (`IPVS_INFO_ATTR_*`, from `ip_vs.h`).
const INFO_ATTR_VERSION: u16 = 1;
const INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

/// General facts about the kernel's IPVS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// `IP_VS_VERSION_CODE`: `0x010201` is 1.2.1.
    pub version_code: u32,
    /// Connection hash table size (`ip_vs_conn_tab_size`, module parameter
    /// `conn_tab_bits`).
    pub conn_tab_size: u32,
}

impl Info {
    /// The version as ipvsadm prints it: "1.2.1".
    pub fn version(&self) -> String {
        let v = self.version_code;
        format!("{}.{}.{}", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff)
    }

    /// Decode the attributes of a `GET_INFO` reply (after the genl header).
    /// We never send these, so there is no encoding side.
    pub(crate) fn decode(body: &[u8]) -> Result<Info, IpvsError> {
        const NEST: &str = "IPVS info";
        let (mut version_code, mut conn_tab_size) = (None, None);
        for attr in parse(NEST, body) {
            let (kind, v) = attr?;
            match kind {
                INFO_ATTR_VERSION => version_code = Some(v.u32("VERSION")?),
                INFO_ATTR_CONN_TAB_SIZE => conn_tab_size = Some(v.u32("CONN_TAB_SIZE")?),
                _ => {}
            }
        }
        Ok(Info {
            version_code: need(NEST, "VERSION", version_code)?,
            conn_tab_size: need(NEST, "CONN_TAB_SIZE", conn_tab_size)?,
        })
    }
}

/// `IP Virtual Server version 1.2.1 (size=4096)`, ipvsadm's header line.
impl fmt::Display for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IP Virtual Server version {} (size={})",
            self.version(),
            self.conn_tab_size
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_endian = "little")]
    #[test]
    fn decode_info_reply() {
        // IPVS_INFO_ATTR_VERSION = 0x010201, CONN_TAB_SIZE = 4096.
        let body = [
            8, 0, 1, 0, 0x01, 0x02, 0x01, 0x00, //
            8, 0, 2, 0, 0x00, 0x10, 0x00, 0x00,
        ];
        let info = Info::decode(&body).unwrap();
        assert_eq!(info.version(), "1.2.1");
        assert_eq!(info.conn_tab_size, 4096);
        assert_eq!(
            info.to_string(),
            "IP Virtual Server version 1.2.1 (size=4096)"
        );
    }

    #[test]
    fn decode_info_needs_both() {
        let body = [8, 0, 1, 0, 1, 2, 1, 0];
        assert!(Info::decode(&body).is_err());
    }
}
