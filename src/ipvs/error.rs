//! The one error type of the IPVS module.
//!
//! When the kernel refuses a request we keep its errno and say what
//! `ipvsadm` would say for that command ("Destination already exists",
//! "Scheduler not found"), so the message reads the same to someone who
//! knows `ipvsadm`. Socket errors keep their `io::Error`.

use std::io;
use std::sync::Arc;

use nix::errno::Errno;

use super::cmd::{
    CMD_DEL_DEST, CMD_DEL_SERVICE, CMD_GET_DEST, CMD_GET_SERVICE, CMD_NEW_DEST, CMD_NEW_SERVICE,
    CMD_SET_DEST, CMD_SET_SERVICE,
};

/// Everything that can go wrong talking to IPVS.
///
/// `Clone` (the `io::Error`s are shared) because one socket failure in a
/// pipelined batch is the answer for every request still in flight.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IpvsError {
    /// The generic-netlink controller does not know the family "IPVS".
    #[error(
        "this kernel has no IPVS: generic netlink family \"IPVS\" is not registered \
         (kernel built without CONFIG_IP_VS, or the ip_vs module is not loaded)"
    )]
    NotInKernel,

    /// The generic-netlink socket could not be opened or set up.
    #[error("cannot open a generic netlink socket: {0}")]
    Socket(#[source] Arc<io::Error>),

    /// Looking up the "IPVS" family failed for another reason than absence.
    #[error("cannot look up generic netlink family \"IPVS\": {0}")]
    Family(#[source] Arc<io::Error>),

    /// `send()` on the socket failed; the request never reached the kernel.
    #[error("sending to the kernel failed: {0}")]
    Send(#[source] Arc<io::Error>),

    /// `recv()` on the socket failed; the request's outcome is unknown.
    #[error("receiving from the kernel failed: {0}")]
    Receive(#[source] Arc<io::Error>),

    /// The kernel answered the request with an errno.
    #[error("{} ({})", kernel_message(*.cmd, *.errno), errno_name(*.errno))]
    Kernel {
        /// The `IPVS_CMD_*` of the request.
        cmd: u8,
        /// The positive errno (`EEXIST` is 17).
        errno: i32,
    },

    /// The receive buffer overflowed and the kernel dropped this request's
    /// acknowledgement: it may or may not have been applied.
    #[error(
        "no acknowledgement from the kernel (receive buffer overrun); \
         the change may or may not be in place"
    )]
    NoAck,

    /// A reply we cannot read.
    #[error("unexpected reply from the kernel: {0}")]
    Malformed(String),
}

impl IpvsError {
    /// The kernel's errno, when the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            IpvsError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    pub(crate) fn io_socket(e: io::Error) -> IpvsError {
        IpvsError::Socket(Arc::new(e))
    }
    pub(crate) fn io_send(e: io::Error) -> IpvsError {
        IpvsError::Send(Arc::new(e))
    }
    pub(crate) fn io_receive(e: io::Error) -> IpvsError {
        IpvsError::Receive(Arc::new(e))
    }
}

/// `EEXIST` for 17: the symbolic name C programmers grep for.
fn errno_name(errno: i32) -> String {
    let e = Errno::from_raw(errno);
    if e == Errno::UnknownErrno {
        format!("errno {errno}")
    } else {
        format!("{e:?}")
    }
}

/// What `ipvsadm` prints for this errno from this command, falling back to
/// the C library's text (`strerror`).
fn kernel_message(cmd: u8, errno: i32) -> String {
    let e = Errno::from_raw(errno);
    let specific = match (cmd, e) {
        (CMD_NEW_SERVICE, Errno::EEXIST) => Some("Service already exists"),
        (CMD_NEW_SERVICE | CMD_SET_SERVICE, Errno::ENOENT) => Some("Scheduler not found"),
        (CMD_SET_SERVICE | CMD_DEL_SERVICE | CMD_GET_SERVICE | CMD_GET_DEST, Errno::ESRCH) => {
            Some("No such service")
        }
        (CMD_NEW_DEST | CMD_SET_DEST | CMD_DEL_DEST, Errno::ESRCH) => Some("Service not defined"),
        (CMD_NEW_DEST, Errno::EEXIST) => Some("Destination already exists"),
        (CMD_SET_DEST | CMD_DEL_DEST, Errno::ENOENT) => Some("No such destination"),
        (_, Errno::EPERM) => Some("Permission denied (you must be root)"),
        (_, Errno::EINVAL) => {
            Some("Invalid operation.  Possibly wrong module version, address not unicast, ...")
        }
        (_, Errno::ENOPROTOOPT) => Some("Protocol not available"),
        (_, Errno::ENOMEM) => Some("Memory allocation problem"),
        (_, Errno::EAFNOSUPPORT) => Some("Operation not supported with specified address family"),
        _ => None,
    };
    match specific {
        Some(text) => text.to_string(),
        None => io::Error::from_raw_os_error(errno).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_errors_read_like_ipvsadm() {
        let cases = [
            (CMD_NEW_SERVICE, 17, "Service already exists (EEXIST)"),
            (CMD_NEW_SERVICE, 2, "Scheduler not found (ENOENT)"),
            (CMD_SET_SERVICE, 3, "No such service (ESRCH)"),
            (CMD_NEW_DEST, 17, "Destination already exists (EEXIST)"),
            (CMD_NEW_DEST, 3, "Service not defined (ESRCH)"),
            (CMD_DEL_DEST, 2, "No such destination (ENOENT)"),
            (
                CMD_SET_DEST,
                34,
                "Numerical result out of range (os error 34) (ERANGE)",
            ),
            (
                CMD_DEL_SERVICE,
                1,
                "Permission denied (you must be root) (EPERM)",
            ),
        ];
        for (cmd, errno, want) in cases {
            let err = IpvsError::Kernel { cmd, errno };
            assert_eq!(err.to_string(), want, "cmd {cmd} errno {errno}");
            assert_eq!(err.errno(), Some(errno));
        }
    }

    #[test]
    fn socket_errors_keep_their_cause() {
        use std::error::Error;
        let err = IpvsError::io_send(io::Error::from_raw_os_error(105));
        assert!(
            err.to_string()
                .starts_with("sending to the kernel failed: ")
        );
        let cause = err.source().expect("keeps the io::Error");
        assert!(cause.to_string().contains("os error 105"), "{cause}");
        assert_eq!(err.errno(), None);
    }
}
