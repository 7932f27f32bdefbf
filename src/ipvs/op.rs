//! One change to the IPVS table: what [`super::diff()`] produces and
//! [`super::Ipvs::execute`] sends.
//!
//! An `Op` displays as the `ipvsadm` command line that would make the same
//! change (`-a -t 192.168.1.100:5432 -r 192.168.3.2:5432 -m -w 1`), which
//! is what logs and failure reports show.

use std::fmt;
use std::net::Ipv4Addr;

use super::cmd::{
    CMD_DEL_DEST, CMD_DEL_SERVICE, CMD_NEW_DEST, CMD_NEW_SERVICE, CMD_SET_DEST, CMD_SET_SERVICE,
};
use super::dest::Dest;
use super::error::IpvsError;
use super::message::CmdAttr;
use super::service::{SVC_F_ONEPACKET, VirtualService, key_attrs};
use crate::config::{Family, Protocol, ServiceKey};

/// A change to the kernel's IPVS table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `ipvsadm -A`
    AddService(VirtualService),
    /// `ipvsadm -E`: scheduler, flags, persistence; keeps connections.
    EditService(VirtualService),
    /// `ipvsadm -D` (its real servers go with it).
    DelService(ServiceKey),
    /// `ipvsadm -a`
    AddDest(ServiceKey, Dest),
    /// `ipvsadm -e`: weight, forwarding method, thresholds.
    EditDest(ServiceKey, Dest),
    /// `ipvsadm -d`
    DelDest(ServiceKey, Dest),
}

impl Op {
    /// The `IPVS_CMD_*` this op is sent as.
    pub fn cmd(&self) -> u8 {
        match self {
            Op::AddService(_) => CMD_NEW_SERVICE,
            Op::EditService(_) => CMD_SET_SERVICE,
            Op::DelService(_) => CMD_DEL_SERVICE,
            Op::AddDest(..) => CMD_NEW_DEST,
            Op::EditDest(..) => CMD_SET_DEST,
            Op::DelDest(..) => CMD_DEL_DEST,
        }
    }

    /// The request's attributes: the service nest (full for add/edit of a
    /// service, identifying otherwise) and, for real-server ops, the dest
    /// nest.
    pub(crate) fn attrs(&self) -> Vec<CmdAttr<'_>> {
        match self {
            Op::AddService(s) | Op::EditService(s) => vec![CmdAttr::Service(s.full_attrs())],
            Op::DelService(key) => vec![CmdAttr::Service(key_attrs(key))],
            Op::AddDest(key, d) | Op::EditDest(key, d) => vec![
                CmdAttr::Service(key_attrs(key)),
                CmdAttr::Dest(d.full_attrs()),
            ],
            Op::DelDest(key, d) => vec![
                CmdAttr::Service(key_attrs(key)),
                CmdAttr::Dest(d.key_attrs()),
            ],
        }
    }

    /// True when `error` means the table already is as this op wants it:
    /// adding what exists, deleting what is gone (keepalived counts these
    /// as success too). Only possible when something else changed the
    /// table between our dump and our change.
    pub fn already_done(&self, error: &IpvsError) -> bool {
        const ENOENT: i32 = 2;
        const ESRCH: i32 = 3;
        const EEXIST: i32 = 17;
        matches!(
            (self, error.errno()),
            (Op::AddService(_) | Op::AddDest(..), Some(EEXIST))
                | (Op::DelService(_), Some(ESRCH))
                | (Op::DelDest(..), Some(ENOENT | ESRCH))
        )
    }
}

/// `-t 192.168.1.100:5432`, `-u [2001:db8::1]:53`, `-f 7 -6`.
pub struct ServiceSpec<'a>(pub &'a ServiceKey);

impl fmt::Display for ServiceSpec<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ServiceKey::Addr { protocol, address } => {
                let switch = match protocol {
                    Protocol::Tcp => "-t",
                    Protocol::Udp => "-u",
                    Protocol::Sctp => "--sctp-service",
                };
                write!(f, "{switch} {address}")
            }
            ServiceKey::Fwmark { mark, family } => {
                write!(f, "-f {mark}")?;
                if *family == Family::Inet6 {
                    f.write_str(" -6")?;
                }
                Ok(())
            }
        }
    }
}

fn write_service_options(f: &mut fmt::Formatter<'_>, s: &VirtualService) -> fmt::Result {
    write!(f, " -s {}", s.scheduler)?;
    if s.persistent() {
        write!(f, " -p {}", s.timeout)?;
        let family = s.key.family();
        if s.netmask != VirtualService::default_netmask(family) {
            match family {
                Family::Inet => write!(f, " -M {}", Ipv4Addr::from(s.netmask))?,
                Family::Inet6 => write!(f, " -M {}", s.netmask)?,
            }
        }
    }
    let flags = s.sched_flag_names();
    if !flags.is_empty() {
        write!(f, " -b {}", flags.join(","))?;
    }
    if s.flags & SVC_F_ONEPACKET != 0 {
        f.write_str(" -o")?;
    }
    if let Some(pe) = &s.pe_name {
        write!(f, " --pe {pe}")?;
    }
    Ok(())
}

fn write_dest_options(f: &mut fmt::Formatter<'_>, d: &Dest) -> fmt::Result {
    write!(f, " {} -w {}", d.forward.switch(), d.weight)?;
    if d.upper_threshold != 0 {
        write!(f, " -x {}", d.upper_threshold)?;
    }
    if d.lower_threshold != 0 {
        write!(f, " -y {}", d.lower_threshold)?;
    }
    Ok(())
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddService(s) => {
                write!(f, "-A {}", ServiceSpec(&s.key))?;
                write_service_options(f, s)
            }
            Op::EditService(s) => {
                write!(f, "-E {}", ServiceSpec(&s.key))?;
                write_service_options(f, s)
            }
            Op::DelService(key) => write!(f, "-D {}", ServiceSpec(key)),
            Op::AddDest(key, d) => {
                write!(f, "-a {} -r {}", ServiceSpec(key), d.address)?;
                write_dest_options(f, d)
            }
            Op::EditDest(key, d) => {
                write!(f, "-e {} -r {}", ServiceSpec(key), d.address)?;
                write_dest_options(f, d)
            }
            Op::DelDest(key, d) => write!(f, "-d {} -r {}", ServiceSpec(key), d.address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::attr::emit_all;
    use crate::ipvs::dest::Forward;
    use crate::ipvs::service::tests::{service, tcp};
    use crate::ipvs::service::{SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2};

    fn dest(addr: &str, forward: Forward, weight: u32) -> Dest {
        Dest {
            address: addr.parse().unwrap(),
            forward,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    fn fwmark6(mark: u32) -> ServiceKey {
        ServiceKey::Fwmark {
            mark,
            family: Family::Inet6,
        }
    }

    /// The full request body (after the generic header): every byte laid
    /// out by hand from ip_vs.h, little-endian host.
    #[cfg(target_endian = "little")]
    #[test]
    fn request_bodies_byte_for_byte() {
        let mut persistent = service(tcp("192.168.1.100:443"), "wlc");
        persistent.flags = SVC_F_PERSISTENT;
        persistent.timeout = 300;
        persistent.netmask = 0xffff_ff00;

        let mut fwm = service(fwmark6(7), "sh");
        fwm.flags = SVC_F_SCHED1 | SVC_F_SCHED2;

        let v6_droute = Dest {
            address: "[2001:db8::5]:80".parse().unwrap(),
            forward: Forward::Route,
            weight: 10,
            upper_threshold: 200,
            lower_threshold: 100,
        };

        #[rustfmt::skip]
        let cases: Vec<(&str, Op, u8, Vec<u8>)> = vec![
            (
                "NEW_SERVICE tcp v4",
                Op::AddService(service(tcp("192.168.1.100:5432"), "rr")),
                1,
                vec![
                    72, 0, 1, 0x80,                 // CMD_ATTR_SERVICE, nested, 72 bytes
                    6, 0, 1, 0, 2, 0, 0, 0,         // AF = AF_INET
                    6, 0, 2, 0, 6, 0, 0, 0,         // PROTOCOL = TCP
                    8, 0, 3, 0, 192, 168, 1, 100,   // ADDR, 4 bytes
                    6, 0, 4, 0, 0x15, 0x38, 0, 0,   // PORT 5432, big-endian
                    7, 0, 6, 0, b'r', b'r', 0, 0,   // SCHED_NAME "rr\0"
                    12, 0, 7, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // FLAGS {0, ~0}
                    8, 0, 8, 0, 0, 0, 0, 0,         // TIMEOUT 0
                    8, 0, 9, 0, 0xff, 0xff, 0xff, 0xff, // NETMASK 255.255.255.255
                ],
            ),
            (
                "SET_SERVICE persistent with netmask",
                Op::EditService(persistent),
                2,
                vec![
                    72, 0, 1, 0x80,
                    6, 0, 1, 0, 2, 0, 0, 0,
                    6, 0, 2, 0, 6, 0, 0, 0,
                    8, 0, 3, 0, 192, 168, 1, 100,
                    6, 0, 4, 0, 0x01, 0xbb, 0, 0,   // PORT 443
                    8, 0, 6, 0, b'w', b'l', b'c', 0,
                    12, 0, 7, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // PERSISTENT
                    8, 0, 8, 0, 0x2c, 0x01, 0, 0,   // TIMEOUT 300
                    8, 0, 9, 0, 0xff, 0xff, 0xff, 0x00, // NETMASK 255.255.255.0, network order
                ],
            ),
            (
                "NEW_SERVICE fwmark v6 with sh flags",
                Op::AddService(fwm),
                1,
                vec![
                    56, 0, 1, 0x80,
                    6, 0, 1, 0, 10, 0, 0, 0,        // AF = AF_INET6
                    8, 0, 5, 0, 7, 0, 0, 0,         // FWMARK 7
                    7, 0, 6, 0, b's', b'h', 0, 0,
                    12, 0, 7, 0, 0x18, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // SCHED1|SCHED2
                    8, 0, 8, 0, 0, 0, 0, 0,
                    8, 0, 9, 0, 128, 0, 0, 0,       // NETMASK: prefix length 128, host order
                ],
            ),
            (
                "NEW_DEST v4 masq",
                Op::AddDest(tcp("192.168.1.100:5432"), dest("192.168.3.2:5432", Forward::Masq, 1)),
                5,
                vec![
                    36, 0, 1, 0x80,                 // service, identifying part only
                    6, 0, 1, 0, 2, 0, 0, 0,
                    6, 0, 2, 0, 6, 0, 0, 0,
                    8, 0, 3, 0, 192, 168, 1, 100,
                    6, 0, 4, 0, 0x15, 0x38, 0, 0,
                    60, 0, 2, 0x80,                 // CMD_ATTR_DEST, nested
                    8, 0, 1, 0, 192, 168, 3, 2,     // ADDR
                    6, 0, 2, 0, 0x15, 0x38, 0, 0,   // PORT 5432
                    6, 0, 11, 0, 2, 0, 0, 0,        // ADDR_FAMILY AF_INET
                    8, 0, 3, 0, 0, 0, 0, 0,         // FWD_METHOD masq
                    8, 0, 4, 0, 1, 0, 0, 0,         // WEIGHT 1
                    8, 0, 5, 0, 0, 0, 0, 0,         // U_THRESH
                    8, 0, 6, 0, 0, 0, 0, 0,         // L_THRESH
                ],
            ),
            (
                "SET_DEST v6 droute with thresholds",
                Op::EditDest(fwmark6(7), v6_droute),
                6,
                vec![
                    20, 0, 1, 0x80,
                    6, 0, 1, 0, 10, 0, 0, 0,
                    8, 0, 5, 0, 7, 0, 0, 0,
                    72, 0, 2, 0x80,
                    20, 0, 1, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5,
                    6, 0, 2, 0, 0, 80, 0, 0,        // PORT 80
                    6, 0, 11, 0, 10, 0, 0, 0,       // ADDR_FAMILY AF_INET6
                    8, 0, 3, 0, 3, 0, 0, 0,         // FWD_METHOD droute
                    8, 0, 4, 0, 10, 0, 0, 0,        // WEIGHT 10
                    8, 0, 5, 0, 200, 0, 0, 0,       // U_THRESH 200
                    8, 0, 6, 0, 100, 0, 0, 0,       // L_THRESH 100
                ],
            ),
            (
                "DEL_DEST",
                Op::DelDest(tcp("10.0.0.1:80"), dest("10.0.1.1:8080", Forward::Route, 5)),
                7,
                vec![
                    36, 0, 1, 0x80,
                    6, 0, 1, 0, 2, 0, 0, 0,
                    6, 0, 2, 0, 6, 0, 0, 0,
                    8, 0, 3, 0, 10, 0, 0, 1,
                    6, 0, 4, 0, 0, 80, 0, 0,
                    28, 0, 2, 0x80,                 // dest: identifying part only
                    8, 0, 1, 0, 10, 0, 1, 1,
                    6, 0, 2, 0, 0x1f, 0x90, 0, 0,   // PORT 8080
                    6, 0, 11, 0, 2, 0, 0, 0,
                ],
            ),
            (
                "DEL_SERVICE udp",
                Op::DelService(ServiceKey::Addr {
                    protocol: Protocol::Udp,
                    address: "10.0.0.1:53".parse().unwrap(),
                }),
                3,
                vec![
                    36, 0, 1, 0x80,
                    6, 0, 1, 0, 2, 0, 0, 0,
                    6, 0, 2, 0, 17, 0, 0, 0,        // PROTOCOL = UDP
                    8, 0, 3, 0, 10, 0, 0, 1,
                    6, 0, 4, 0, 0, 53, 0, 0,
                ],
            ),
        ];
        for (name, op, cmd, want) in cases {
            assert_eq!(op.cmd(), cmd, "case {name}");
            assert_eq!(emit_all(&op.attrs()), want, "case {name}");
        }
    }

    #[test]
    fn ops_display_as_ipvsadm_commands() {
        let mut persistent = service(tcp("192.168.1.100:443"), "wlc");
        persistent.flags = SVC_F_PERSISTENT;
        persistent.timeout = 300;
        persistent.netmask = 0xffff_ff00;
        let mut sh = service(fwmark6(7), "sh");
        sh.flags = SVC_F_SCHED1 | SVC_F_SCHED2;
        let mut thresholds = dest("[2001:db8::5]:80", Forward::Tunnel, 0);
        thresholds.upper_threshold = 200;
        thresholds.lower_threshold = 100;

        let cases = [
            (
                Op::AddService(service(tcp("192.168.1.100:5432"), "rr")),
                "-A -t 192.168.1.100:5432 -s rr",
            ),
            (
                Op::EditService(persistent),
                "-E -t 192.168.1.100:443 -s wlc -p 300 -M 255.255.255.0",
            ),
            (
                Op::AddService(sh),
                "-A -f 7 -6 -s sh -b sh-fallback,sh-port",
            ),
            (
                Op::DelService(ServiceKey::Addr {
                    protocol: Protocol::Sctp,
                    address: "10.0.0.1:9".parse().unwrap(),
                }),
                "-D --sctp-service 10.0.0.1:9",
            ),
            (
                Op::AddDest(
                    tcp("192.168.1.100:5432"),
                    dest("192.168.3.2:5432", Forward::Masq, 1),
                ),
                "-a -t 192.168.1.100:5432 -r 192.168.3.2:5432 -m -w 1",
            ),
            (
                Op::EditDest(fwmark6(7), thresholds),
                "-e -f 7 -6 -r [2001:db8::5]:80 -i -w 0 -x 200 -y 100",
            ),
            (
                Op::DelDest(tcp("10.0.0.1:80"), dest("10.0.1.1:80", Forward::Route, 1)),
                "-d -t 10.0.0.1:80 -r 10.0.1.1:80",
            ),
        ];
        for (op, want) in cases {
            assert_eq!(op.to_string(), want);
        }
    }

    #[test]
    fn already_done_only_for_add_exists_and_delete_gone() {
        let key = tcp("10.0.0.1:80");
        let d = dest("10.0.1.1:80", Forward::Route, 1);
        let err = |cmd, errno| IpvsError::Kernel { cmd, errno };
        assert!(Op::AddService(service(key, "rr")).already_done(&err(1, 17)));
        assert!(Op::AddDest(key, d).already_done(&err(5, 17)));
        assert!(Op::DelService(key).already_done(&err(3, 3)));
        assert!(Op::DelDest(key, d).already_done(&err(7, 2)));
        assert!(
            !Op::AddDest(key, d).already_done(&err(5, 3)),
            "service missing is real"
        );
        assert!(!Op::EditDest(key, d).already_done(&err(6, 2)));
        assert!(!Op::AddService(service(key, "rr")).already_done(&err(1, 2)));
        assert!(!Op::DelDest(key, d).already_done(&IpvsError::NoAck));
    }
}
