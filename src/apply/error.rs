//! What [`super::Applier::apply`] reports: each [`Failure`] names the
//! [`Piece`] that could not be applied and keeps the subsystem's own error
//! ([`ApplyError`]), with the kernel's errno and words, until the line is
//! logged. The director tells a failure it has already reported from a new
//! one by these values ([`Failure::same_as`]), never by comparing text.

use std::fmt;
use std::io;

use crate::ipvs::{IpvsError, Op};
use crate::netlink::NetlinkError;
use crate::sysctl::SysctlError;

/// Which piece of the config could not be applied: the key the director
/// tells one failure from another by, and the first half of its log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// The rtnetlink socket itself: nothing of the network was applied.
    Rtnetlink,
    /// An interface, a route or a list read from the kernel, as
    /// [`crate::netlink`] names it ("interface wan (mac 52:54:00:00:01:01)",
    /// "route 10.20.0.0/16 via 192.168.3.254").
    Network(String),
    /// The IPVS socket, or reading its table: nothing of IPVS was applied.
    Ipvs,
    /// One change to a virtual service or real server that the kernel
    /// refused, shown as its `ipvsadm` command.
    IpvsChange(Op),
    /// One kernel parameter, by its sysctl name.
    Sysctl(String),
}

impl fmt::Display for Piece {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Piece::Rtnetlink => f.write_str("rtnetlink"),
            Piece::Network(what) => f.write_str(what),
            Piece::Ipvs => f.write_str("IPVS"),
            Piece::IpvsChange(op) => write!(f, "ipvsadm {op}"),
            Piece::Sysctl(name) => write!(f, "sysctl {name}"),
        }
    }
}

/// Why a piece could not be applied: the subsystem's own error, with the
/// kernel's errno and words, kept until the line is logged.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Network(#[from] NetlinkError),
    #[error(transparent)]
    Ipvs(#[from] IpvsError),
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
}

impl ApplyError {
    /// The kernel's errno, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            ApplyError::Network(e) => e.errno(),
            ApplyError::Ipvs(e) => e.errno(),
            ApplyError::Sysctl(
                SysctlError::Unknown { source, .. }
                | SysctlError::Read { source, .. }
                | SysctlError::Write { source, .. },
            ) => source.raw_os_error(),
            ApplyError::Sysctl(SysctlError::InvalidName(_)) => None,
        }
    }

    /// The same error as `other`: the same kind, asked the same thing,
    /// answered with the same errno and kernel message. (What a log reader
    /// would call the same line, decided on the values, not on the text.)
    pub fn same_as(&self, other: &ApplyError) -> bool {
        match (self, other) {
            (ApplyError::Network(a), ApplyError::Network(b)) => same_netlink(a, b),
            (ApplyError::Ipvs(a), ApplyError::Ipvs(b)) => same_ipvs(a, b),
            (ApplyError::Sysctl(a), ApplyError::Sysctl(b)) => same_sysctl(a, b),
            _ => false,
        }
    }
}

fn same_io(a: &io::Error, b: &io::Error) -> bool {
    match (a.raw_os_error(), b.raw_os_error()) {
        (Some(a), Some(b)) => a == b,
        (None, None) => a.kind() == b.kind(),
        _ => false,
    }
}

fn same_netlink(a: &NetlinkError, b: &NetlinkError) -> bool {
    use NetlinkError as E;
    match (a, b) {
        (E::Socket(a), E::Socket(b)) => same_io(a, b),
        (E::NoRuntime, E::NoRuntime) => true,
        (
            E::Kernel {
                action: a,
                source: ae,
                message: am,
            },
            E::Kernel {
                action: b,
                source: be,
                message: bm,
            },
        ) => a == b && same_io(ae, be) && am == bm,
        (
            E::Request {
                action: a,
                source: ae,
            },
            E::Request {
                action: b,
                source: be,
            },
        ) => a == b && std::mem::discriminant(ae) == std::mem::discriminant(be),
        (
            E::LinkNotFound {
                matcher: a,
                waited: aw,
            },
            E::LinkNotFound {
                matcher: b,
                waited: bw,
            },
        ) => a == b && aw == bw,
        (
            E::AmbiguousMatch {
                matcher: a,
                links: al,
            },
            E::AmbiguousMatch {
                matcher: b,
                links: bl,
            },
        ) => a == b && al == bl,
        (E::LinkClaimed { link: a, other: ao }, E::LinkClaimed { link: b, other: bo }) => {
            a == b && ao == bo
        }
        (
            E::NameTaken {
                link: a,
                name: an,
                holder: ah,
            },
            E::NameTaken {
                link: b,
                name: bn,
                holder: bh,
            },
        ) => (a, an, ah) == (b, bn, bh),
        (
            E::InvalidRoute {
                route: a,
                reason: ar,
            },
            E::InvalidRoute {
                route: b,
                reason: br,
            },
        ) => a == b && ar == br,
        (E::NoSuchDevice(a), E::NoSuchDevice(b)) => a == b,
        _ => false,
    }
}

fn same_ipvs(a: &IpvsError, b: &IpvsError) -> bool {
    use IpvsError as E;
    match (a, b) {
        (E::NotInKernel, E::NotInKernel) | (E::NoAck, E::NoAck) => true,
        (E::Socket(a), E::Socket(b))
        | (E::Family(a), E::Family(b))
        | (E::Send(a), E::Send(b))
        | (E::Receive(a), E::Receive(b)) => same_io(a, b),
        (E::Kernel { cmd: a, errno: ae }, E::Kernel { cmd: b, errno: be }) => a == b && ae == be,
        (E::Malformed(a), E::Malformed(b)) => a == b,
        _ => false,
    }
}

fn same_sysctl(a: &SysctlError, b: &SysctlError) -> bool {
    use SysctlError as E;
    match (a, b) {
        (E::InvalidName(a), E::InvalidName(b)) => a == b,
        (
            E::Unknown {
                name: a,
                source: ae,
                ..
            },
            E::Unknown {
                name: b,
                source: be,
                ..
            },
        )
        | (
            E::Read {
                name: a,
                source: ae,
                ..
            },
            E::Read {
                name: b,
                source: be,
                ..
            },
        ) => a == b && same_io(ae, be),
        (
            E::Write {
                name: a,
                value: av,
                source: ae,
                ..
            },
            E::Write {
                name: b,
                value: bv,
                source: be,
                ..
            },
        ) => a == b && av == bv && same_io(ae, be),
        _ => false,
    }
}

/// One piece that could not be applied, and why.
#[derive(Debug)]
pub struct Failure {
    pub piece: Piece,
    pub error: ApplyError,
}

impl Failure {
    /// The same piece failing the same way: the director reports a failure
    /// once, however often a retry meets it again.
    pub fn same_as(&self, other: &Failure) -> bool {
        self.piece == other.piece && self.error.same_as(&other.error)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.piece, self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Protocol, ServiceKey};
    use std::time::Duration;

    fn del_service() -> Op {
        Op::DelService(ServiceKey::Addr {
            protocol: Protocol::Tcp,
            address: "192.168.1.100:5432".parse().unwrap(),
        })
    }

    fn refused(op: &Op, errno: i32) -> Failure {
        Failure {
            piece: Piece::IpvsChange(op.clone()),
            error: IpvsError::Kernel {
                cmd: op.cmd(),
                errno,
            }
            .into(),
        }
    }

    fn missing(waited: Duration) -> Failure {
        Failure {
            piece: Piece::Network("interface wan (mac 52:54:00:00:01:01)".into()),
            error: NetlinkError::LinkNotFound {
                matcher: "mac 52:54:00:00:01:01".into(),
                waited,
            }
            .into(),
        }
    }

    /// The console lines read as they did when failures were text.
    #[test]
    fn lines_name_the_piece_then_the_error() {
        let op = del_service();
        let failure = refused(&op, 3);
        assert_eq!(
            failure.to_string(),
            "ipvsadm -D -t 192.168.1.100:5432: No such service (ESRCH)"
        );
        assert_eq!(failure.error.errno(), Some(3));
        assert_eq!(
            missing(Duration::from_secs(10)).to_string(),
            "interface wan (mac 52:54:00:00:01:01): no link with mac 52:54:00:00:01:01 appeared within 10.0s"
        );
        let sysctl = Failure {
            piece: Piece::Sysctl("net.ipv4.vs.conntrack".into()),
            error: SysctlError::InvalidName("net..x".into()).into(),
        };
        assert_eq!(
            sysctl.to_string(),
            "sysctl net.ipv4.vs.conntrack: \"net..x\" is not a sysctl name"
        );
        assert_eq!(Piece::Ipvs.to_string(), "IPVS");
        assert_eq!(Piece::Rtnetlink.to_string(), "rtnetlink");
    }

    /// Two failures are the same when the piece and every particular of
    /// the error are: another errno, another wait or another subsystem is
    /// a new failure.
    #[test]
    fn same_failure_by_value() {
        let op = del_service();
        assert!(refused(&op, 3).same_as(&refused(&op, 3)));
        assert!(!refused(&op, 3).same_as(&refused(&op, 1)));
        let ten = Duration::from_secs(10);
        assert!(missing(ten).same_as(&missing(ten)));
        assert!(!missing(ten).same_as(&missing(Duration::ZERO)));
        let other_piece = Failure {
            piece: Piece::Network("interface lan (mac 52:54:00:00:03:01)".into()),
            ..missing(ten)
        };
        assert!(!other_piece.same_as(&missing(ten)));
        let io =
            |errno| ApplyError::Network(NetlinkError::Socket(io::Error::from_raw_os_error(errno)));
        assert!(io(13).same_as(&io(13)));
        assert!(!io(13).same_as(&io(24)));
        assert!(!io(13).same_as(&ApplyError::Ipvs(IpvsError::NotInKernel)));
    }
}
