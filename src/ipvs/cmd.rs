//! The IPVS generic-netlink family and its commands, and the first-level
//! attributes that hold each command's nest.
//!
//! Every number here is from the kernel's `include/uapi/linux/ip_vs.h`
//! (checked against Linux 6.12). The attributes inside each nest are
//! numbered in the file of that nest (`service`, `dest`, `daemon`,
//! `stats`, `info`).

/// `IPVS_GENL_NAME`: the family name the generic-netlink controller knows.
pub const GENL_NAME: &str = "IPVS";
/// `IPVS_GENL_VERSION`, put in every request's generic header.
pub const GENL_VERSION: u8 = 1;

// Commands (`IPVS_CMD_*`).
pub const CMD_NEW_SERVICE: u8 = 1;
pub const CMD_SET_SERVICE: u8 = 2;
pub const CMD_DEL_SERVICE: u8 = 3;
pub const CMD_GET_SERVICE: u8 = 4;
pub const CMD_NEW_DEST: u8 = 5;
pub const CMD_SET_DEST: u8 = 6;
pub const CMD_DEL_DEST: u8 = 7;
pub const CMD_GET_DEST: u8 = 8;
/// Start a sync daemon (also the command of each `GET_DAEMON` reply).
pub const CMD_NEW_DAEMON: u8 = 9;
/// Stop one.
pub const CMD_DEL_DAEMON: u8 = 10;
/// A dump of the running ones.
pub const CMD_GET_DAEMON: u8 = 11;
/// The command of a `GET_INFO` reply.
pub const CMD_SET_INFO: u8 = 14;
pub const CMD_GET_INFO: u8 = 15;
/// `ipvsadm -C`; we never flush (only tests build one).
#[cfg(test)]
pub const CMD_FLUSH: u8 = 17;

// First-level attributes (`IPVS_CMD_ATTR_*`), each a nest.
pub const CMD_ATTR_SERVICE: u16 = 1;
pub const CMD_ATTR_DEST: u16 = 2;
pub const CMD_ATTR_DAEMON: u16 = 3;
