//! The generic-netlink socket to IPVS: family lookup, requests, dumps and
//! pipelined batches of changes.
//!
//! A blocking `NETLINK_GENERIC` socket is enough: the kernel handles every
//! request synchronously inside our `send()`, so speed comes from sending
//! many requests per `send()` (the kernel walks all messages of one
//! datagram), not from threads. Each change carries `NLM_F_ACK` and its own
//! sequence number; acknowledgements are matched back by sequence number.
//! The socket asks for a large receive buffer (`SO_RCVBUFFORCE`, root only)
//! because every acknowledgement of a batch sits there until we read it;
//! the batch size is derived from what the kernel actually granted, and
//! `NETLINK_CAP_ACK` keeps each acknowledgement small.
//!
//! Dumps cannot be pipelined on one socket: the kernel refuses a second
//! dump (`EBUSY`) until the first has sent `NLMSG_DONE`, and the first
//! part of a dump is already produced during `send()`. So
//! [`Ipvs::dump`] reads the services, then each service's real servers,
//! one request at a time (three system calls per service).

use std::io;

use netlink_packet_core::{
    DoneBuffer, ErrorBuffer, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR,
    NLMSG_NOOP, NLMSG_OVERRUN, NetlinkBuffer, NetlinkMessage,
};
use netlink_packet_generic::GenlMessage;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_sys::protocols::NETLINK_GENERIC;
use netlink_sys::{Socket, SocketAddr};
use nix::sys::socket::{setsockopt, sockopt};

use super::attr::find;
use super::cmd::{
    CMD_ATTR_DEST, CMD_ATTR_SERVICE, CMD_GET_DEST, CMD_GET_INFO, CMD_GET_SERVICE, CMD_SET_INFO,
    GENL_NAME,
};
use super::dest::{Dest, DestEntry};
use super::error::IpvsError;
use super::info::Info;
use super::message::{CmdAttr, IpvsRequest};
use super::op::Op;
use super::service::{ServiceEntry, VirtualService, key_attrs};
use super::table::Table;
use crate::config::Family;

/// Bytes one `recv()` can take: a dump part is at most 32 KiB.
const RECV_BUF: usize = 64 * 1024;
/// Receive buffer we ask for: room for a thousand acknowledgements.
const WANT_RCVBUF: usize = 4 << 20;
/// Bytes of requests per `send()`; well under the default send buffer.
const BATCH_BYTES: usize = 48 * 1024;
/// What one queued acknowledgement costs in the receive buffer (its skb's
/// truesize, rounded up), to size batches so none is dropped.
const ACK_COST: usize = 1024;
/// Bounds of the number of requests per batch.
const MIN_WINDOW: usize = 8;
const MAX_WINDOW: usize = 1024;
/// `CTRL_ATTR_FAMILY_ID` in an nlctrl reply.
const CTRL_ATTR_FAMILY_ID: u16 = 1;
/// nlctrl's own, fixed family id.
#[cfg(test)]
const GENL_ID_CTRL: u16 = 0x10;
/// Length of `struct genlmsghdr`.
const GENL_HDRLEN: usize = 4;

/// One received netlink message.
struct Reply<'a> {
    kind: u16,
    seq: u32,
    payload: &'a [u8],
}

impl Reply<'_> {
    /// For `NLMSG_ERROR`: 0 for an acknowledgement, else the positive errno.
    fn error_code(&self) -> Result<i32, IpvsError> {
        let buf = ErrorBuffer::new_checked(self.payload)
            .map_err(|e| IpvsError::Malformed(format!("NLMSG_ERROR: {e}")))?;
        Ok(buf.code().map_or(0, |c| -c.get()))
    }

    /// For `NLMSG_DONE`: 0, or the positive errno that ended the dump.
    fn done_code(&self) -> i32 {
        match DoneBuffer::new_checked(self.payload) {
            Ok(buf) => -buf.code(),
            // The kernel may send an empty NLMSG_DONE.
            Err(_) => 0,
        }
    }
}

/// Split a datagram into its netlink messages.
fn replies(buf: &[u8]) -> impl Iterator<Item = Result<Reply<'_>, IpvsError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let parsed = NetlinkBuffer::new_checked(rest)
            .map_err(|e| IpvsError::Malformed(format!("netlink header: {e}")));
        match parsed {
            Err(e) => {
                rest = &[];
                Some(Err(e))
            }
            Ok(nl) => {
                let len = nl.length() as usize;
                let reply = Reply {
                    kind: nl.message_type(),
                    seq: nl.sequence_number(),
                    payload: &rest[16..len],
                };
                rest = rest.get(len.next_multiple_of(4)..).unwrap_or(&[]);
                Some(Ok(reply))
            }
        }
    })
}

/// A generic-netlink socket with sequence numbers and a receive buffer.
struct GenlSocket {
    socket: Socket,
    seq: u32,
    rx: Vec<u8>,
    /// Requests per batch, from the granted receive buffer.
    window: usize,
}

impl GenlSocket {
    fn open() -> Result<GenlSocket, IpvsError> {
        let mut socket = Socket::new(NETLINK_GENERIC).map_err(IpvsError::io_socket)?;
        socket.bind_auto().map_err(IpvsError::io_socket)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(IpvsError::io_socket)?;
        // Acknowledgements echo only the request's header, not all of it.
        socket.set_cap_ack(true).map_err(IpvsError::io_socket)?;
        // FORCE goes past net.core.rmem_max (needs CAP_NET_ADMIN); else
        // take what the plain option gives.
        if setsockopt(&socket, sockopt::RcvBufForce, &WANT_RCVBUF).is_err() {
            let _ = socket.set_rx_buf_sz(WANT_RCVBUF);
        }
        let granted = socket.get_rx_buf_sz().map_err(IpvsError::io_socket)?;
        let window = (granted / ACK_COST).clamp(MIN_WINDOW, MAX_WINDOW);
        log::debug!("ipvs: receive buffer {granted} bytes, {window} requests per batch");
        Ok(GenlSocket {
            socket,
            seq: 0,
            rx: Vec::with_capacity(RECV_BUF),
            window,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Receive one datagram into `self.rx`. `MSG_TRUNC` makes the kernel
    /// report a datagram's full length, so one too big is noticed.
    fn recv(&mut self, flags: i32) -> io::Result<()> {
        loop {
            self.rx.clear();
            match self.socket.recv(&mut self.rx, flags | nix::libc::MSG_TRUNC) {
                Ok(n) if n > self.rx.capacity() => {
                    return Err(io::Error::other(format!(
                        "netlink message of {n} bytes does not fit {RECV_BUF}"
                    )));
                }
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn send(&self, buf: &[u8]) -> io::Result<()> {
        loop {
            match self.socket.send(buf, 0) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Send one request that expects one reply message; return the reply's
    /// payload (after the netlink header). `NLM_F_ACK` is set so a request
    /// with no reply still ends; errors come back as the errno.
    fn request(
        &mut self,
        encode: impl FnOnce(u32, u16, &mut Vec<u8>),
    ) -> Result<Result<Vec<u8>, i32>, IpvsError> {
        let seq = self.next_seq();
        let mut buf = Vec::new();
        encode(seq, NLM_F_REQUEST | NLM_F_ACK, &mut buf);
        self.send(&buf).map_err(IpvsError::io_send)?;
        let mut payload: Option<Vec<u8>> = None;
        loop {
            self.recv(0).map_err(IpvsError::io_receive)?;
            for reply in replies(&self.rx) {
                let reply = reply?;
                if reply.seq != seq {
                    log::debug!("ipvs: skipping a stale reply (seq {})", reply.seq);
                    continue;
                }
                match reply.kind {
                    NLMSG_ERROR => {
                        let errno = reply.error_code()?;
                        if errno != 0 {
                            return Ok(Err(errno));
                        }
                        return match payload {
                            Some(p) => Ok(Ok(p)),
                            None => {
                                Err(IpvsError::Malformed("acknowledged without a reply".into()))
                            }
                        };
                    }
                    NLMSG_NOOP => {}
                    _ => payload = Some(reply.payload.to_vec()),
                }
            }
        }
    }

    /// Run a dump request and hand each message's payload (after the
    /// netlink header) to `each`, until `NLMSG_DONE`. A failing `each`
    /// still lets the dump drain, so the socket stays usable.
    fn dump(
        &mut self,
        cmd: u8,
        encode: impl FnOnce(u32, u16, &mut Vec<u8>),
        mut each: impl FnMut(&[u8]) -> Result<(), IpvsError>,
    ) -> Result<(), IpvsError> {
        let seq = self.next_seq();
        let mut buf = Vec::new();
        encode(seq, NLM_F_REQUEST | NLM_F_DUMP, &mut buf);
        self.send(&buf).map_err(IpvsError::io_send)?;
        let mut first_error = None;
        loop {
            self.recv(0).map_err(IpvsError::io_receive)?;
            for reply in replies(&self.rx) {
                let reply = match reply {
                    Ok(reply) => reply,
                    Err(e) => {
                        // Skip the rest of this datagram but keep reading
                        // to NLMSG_DONE: an unfinished dump would make the
                        // kernel refuse the next one (EBUSY).
                        first_error.get_or_insert(e);
                        break;
                    }
                };
                if reply.seq != seq {
                    log::debug!("ipvs: skipping a stale reply (seq {})", reply.seq);
                    continue;
                }
                match reply.kind {
                    NLMSG_DONE => {
                        let errno = reply.done_code();
                        if errno != 0 && first_error.is_none() {
                            first_error = Some(IpvsError::Kernel { cmd, errno });
                        }
                        return first_error.map_or(Ok(()), Err);
                    }
                    NLMSG_ERROR => {
                        let errno = reply.error_code()?;
                        if errno == 0 {
                            continue;
                        }
                        // An error ends a dump that never started.
                        return Err(first_error.unwrap_or(IpvsError::Kernel { cmd, errno }));
                    }
                    NLMSG_NOOP => {}
                    NLMSG_OVERRUN => {
                        return Err(IpvsError::Malformed("NLMSG_OVERRUN in a dump".into()));
                    }
                    _ => {
                        if let Err(e) = each(reply.payload) {
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
        }
    }

    /// Send `count` requests in batches and collect their acknowledgements.
    /// `encode(i, seq, flags, buf)` appends request `i` and returns its
    /// command (for error messages). Results are in request order.
    fn pipeline(
        &mut self,
        count: usize,
        mut encode: impl FnMut(usize, u32, u16, &mut Vec<u8>) -> u8,
    ) -> Vec<Result<(), IpvsError>> {
        let mut results: Vec<Option<Result<(), IpvsError>>> = vec![None; count];
        let mut cmds = vec![0u8; count];
        let mut buf = Vec::with_capacity(BATCH_BYTES + 4096);
        let mut next = 0;
        while next < count {
            // Build one batch: consecutive sequence numbers from `first_seq`.
            buf.clear();
            let start = next;
            let first_seq = self.seq.wrapping_add(1);
            while next < count && next - start < self.window && buf.len() < BATCH_BYTES {
                let seq = self.next_seq();
                cmds[next] = encode(next, seq, NLM_F_REQUEST | NLM_F_ACK, &mut buf);
                next += 1;
            }
            let end = next;
            if let Err(e) = self.send(&buf) {
                let err = IpvsError::io_send(e);
                for r in &mut results[start..] {
                    *r = Some(Err(err.clone()));
                }
                break;
            }
            if let Err(err) =
                self.collect_acks(first_seq, &cmds[start..end], &mut results[start..end])
            {
                // The socket is unusable: what was not acknowledged failed
                // with this error, and nothing more is sent.
                for r in &mut results[start..] {
                    r.get_or_insert_with(|| Err(err.clone()));
                }
                break;
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(IpvsError::NoAck)))
            .collect()
    }

    /// Read acknowledgements for the batch whose first request has
    /// sequence number `first_seq`, until every request has one. On a
    /// receive-buffer overrun (`ENOBUFS`: the kernel dropped some) read what
    /// is queued, leave the rest unanswered (`NoAck`), and halve the batch.
    fn collect_acks(
        &mut self,
        first_seq: u32,
        cmds: &[u8],
        results: &mut [Option<Result<(), IpvsError>>],
    ) -> Result<(), IpvsError> {
        let mut pending = results.len();
        let mut overrun = false;
        while pending > 0 {
            let flags = if overrun { nix::libc::MSG_DONTWAIT } else { 0 };
            match self.recv(flags) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                    log::warn!("ipvs: receive buffer overrun; some acknowledgements were lost");
                    overrun = true;
                    self.window = (self.window / 2).max(MIN_WINDOW);
                    continue;
                }
                Err(e) if overrun && e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(IpvsError::io_receive(e)),
            }
            for reply in replies(&self.rx) {
                let reply = reply?;
                if reply.kind != NLMSG_ERROR {
                    continue;
                }
                let index = reply.seq.wrapping_sub(first_seq) as usize;
                let Some(slot) = results.get_mut(index) else {
                    log::debug!("ipvs: skipping a stale acknowledgement (seq {})", reply.seq);
                    continue;
                };
                if slot.is_some() {
                    continue;
                }
                *slot = Some(match reply.error_code()? {
                    0 => Ok(()),
                    errno => Err(IpvsError::Kernel {
                        cmd: cmds[index],
                        errno,
                    }),
                });
                pending -= 1;
            }
        }
        Ok(())
    }
}

/// Append one netlink message carrying an IPVS request to `buf`.
pub(crate) fn encode_request(
    family: u16,
    seq: u32,
    flags: u16,
    cmd: u8,
    attrs: Vec<CmdAttr>,
    buf: &mut Vec<u8>,
) {
    let mut genl = GenlMessage::from_payload(IpvsRequest { cmd, attrs });
    genl.set_resolved_family_id(family);
    let mut msg = NetlinkMessage::from(genl);
    msg.header.flags = flags;
    msg.header.sequence_number = seq;
    msg.finalize();
    let start = buf.len();
    buf.resize(start + msg.buffer_len(), 0);
    msg.serialize(&mut buf[start..]);
}

/// Append an nlctrl `GETFAMILY` request for `name` to `buf`.
fn encode_getfamily(name: &str, seq: u32, flags: u16, buf: &mut Vec<u8>) {
    let genl = GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(name.to_string())],
    });
    let mut msg = NetlinkMessage::from(genl);
    msg.header.flags = flags;
    msg.header.sequence_number = seq;
    msg.finalize();
    let start = buf.len();
    buf.resize(start + msg.buffer_len(), 0);
    msg.serialize(&mut buf[start..]);
}

/// The generic-netlink message body after its `genlmsghdr`.
fn genl_body(payload: &[u8]) -> Result<&[u8], IpvsError> {
    payload
        .get(GENL_HDRLEN..)
        .ok_or_else(|| IpvsError::Malformed("generic netlink message without its header".into()))
}

/// A service from one message of a `GET_SERVICE` dump (the payload after
/// the netlink header: generic header, then `IPVS_CMD_ATTR_SERVICE`).
fn service_from_reply(payload: &[u8]) -> Result<ServiceEntry, IpvsError> {
    let body = genl_body(payload)?;
    let nest = find(
        "IPVS service reply",
        body,
        CMD_ATTR_SERVICE,
        "IPVS_CMD_ATTR_SERVICE",
    )?;
    VirtualService::decode(nest.bytes())
}

/// A real server from one message of a `GET_DEST` dump of a service of
/// `service_family`.
fn dest_from_reply(payload: &[u8], service_family: Family) -> Result<DestEntry, IpvsError> {
    let body = genl_body(payload)?;
    let nest = find("IPVS dest reply", body, CMD_ATTR_DEST, "IPVS_CMD_ATTR_DEST")?;
    Dest::decode(nest.bytes(), service_family)
}

/// Look up the id of generic-netlink family `name`; `Ok(None)` when the
/// kernel has no such family.
fn resolve_family(sock: &mut GenlSocket, name: &str) -> Result<Option<u16>, IpvsError> {
    const ENOENT: i32 = 2;
    match sock.request(|seq, flags, buf| encode_getfamily(name, seq, flags, buf))? {
        Err(ENOENT) => Ok(None),
        Err(errno) => Err(IpvsError::Family(std::sync::Arc::new(
            io::Error::from_raw_os_error(errno),
        ))),
        Ok(payload) => {
            let body = genl_body(&payload)?;
            let id = find(
                "nlctrl reply",
                body,
                CTRL_ATTR_FAMILY_ID,
                "CTRL_ATTR_FAMILY_ID",
            )?;
            Ok(Some(id.u16("CTRL_ATTR_FAMILY_ID")?))
        }
    }
}

/// An open connection to the kernel's IPVS.
pub struct Ipvs {
    sock: GenlSocket,
    family: u16,
}

impl Ipvs {
    /// Open a generic-netlink socket and look up the "IPVS" family.
    ///
    /// Fails with [`IpvsError::NotInKernel`] when the kernel has no IPVS.
    pub fn open() -> Result<Ipvs, IpvsError> {
        let mut sock = GenlSocket::open()?;
        match resolve_family(&mut sock, GENL_NAME)? {
            Some(family) => Ok(Ipvs { sock, family }),
            None => Err(IpvsError::NotInKernel),
        }
    }

    /// Version and connection table size (`ipvsadm -Ln`'s first line).
    pub fn info(&mut self) -> Result<Info, IpvsError> {
        let family = self.family;
        let reply = self.sock.request(|seq, flags, buf| {
            encode_request(family, seq, flags, CMD_GET_INFO, Vec::new(), buf)
        })?;
        match reply {
            Ok(payload) if payload.first() == Some(&CMD_SET_INFO) => {
                Info::decode(genl_body(&payload)?)
            }
            Ok(payload) => Err(IpvsError::Malformed(format!(
                "GET_INFO answered with command {:?}",
                payload.first()
            ))),
            Err(errno) => Err(IpvsError::Kernel {
                cmd: CMD_GET_INFO,
                errno,
            }),
        }
    }

    /// Every virtual service with its real servers and counters.
    pub fn dump(&mut self) -> Result<Table, IpvsError> {
        let family = self.family;
        let mut services = Vec::new();
        self.sock.dump(
            CMD_GET_SERVICE,
            |seq, flags, buf| encode_request(family, seq, flags, CMD_GET_SERVICE, Vec::new(), buf),
            |payload| {
                services.push(service_from_reply(payload)?);
                Ok(())
            },
        )?;
        for entry in &mut services {
            let key = entry.service.key;
            let service_family = key.family();
            let dests = &mut entry.dests;
            self.sock.dump(
                CMD_GET_DEST,
                |seq, flags, buf| {
                    let attrs = vec![CmdAttr::Service(key_attrs(&key))];
                    encode_request(family, seq, flags, CMD_GET_DEST, attrs, buf)
                },
                |payload| {
                    dests.push(dest_from_reply(payload, service_family)?);
                    Ok(())
                },
            )?;
        }
        Ok(Table { services })
    }

    /// Apply `ops` in order, many requests per `send()`; one result per op,
    /// in the same order. Later ops are sent even when earlier ones fail
    /// (a real server whose service failed then fails with "Service not
    /// defined").
    pub fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), IpvsError>> {
        let family = self.family;
        self.sock.pipeline(ops.len(), |i, seq, flags, buf| {
            let op = &ops[i];
            encode_request(family, seq, flags, op.cmd(), op.attrs(), buf);
            op.cmd()
        })
    }

    /// Send one command that has no reply (`NEW_DAEMON`, `DEL_DAEMON`) and
    /// wait for the kernel's acknowledgement. For the sibling files that
    /// speak commands of their own (`daemon.rs`).
    pub(super) fn command(&mut self, cmd: u8, attrs: Vec<CmdAttr>) -> Result<(), IpvsError> {
        let family = self.family;
        let mut attrs = Some(attrs);
        self.sock
            .pipeline(1, |_, seq, flags, buf| {
                let attrs = attrs.take().unwrap_or_default();
                encode_request(family, seq, flags, cmd, attrs, buf);
                cmd
            })
            .remove(0)
    }

    /// Dump `cmd` (`GET_DAEMON`) and hand each reply's attributes (the
    /// body after the generic header) to `each`.
    pub(super) fn dump_command(
        &mut self,
        cmd: u8,
        mut each: impl FnMut(&[u8]) -> Result<(), IpvsError>,
    ) -> Result<(), IpvsError> {
        let family = self.family;
        self.sock.dump(
            cmd,
            |seq, flags, buf| encode_request(family, seq, flags, cmd, Vec::new(), buf),
            |payload| each(genl_body(payload)?),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::cmd::CMD_FLUSH;

    /// Opening agrees with the host kernel: a kernel without IPVS (this
    /// development machine's) must give exactly `NotInKernel`, not a panic
    /// or a generic socket error; one with IPVS (built in, or a module the
    /// family lookup loads) must open. `/proc/net/ip_vs` exists exactly
    /// when IPVS is loaded, so it is checked after the attempt.
    #[test]
    fn open_reports_whether_the_kernel_has_ipvs() {
        let opened = Ipvs::open();
        let loaded = std::path::Path::new("/proc/net/ip_vs").exists();
        match (opened, loaded) {
            (Err(IpvsError::NotInKernel), false) => {}
            (Ok(_), true) => {}
            (Err(e), loaded) => panic!("open failed with {e} (/proc/net/ip_vs exists: {loaded})"),
            (Ok(_), false) => panic!("opened, but /proc/net/ip_vs does not exist"),
        }
    }

    /// The real kernel answers family lookups: nlctrl has its fixed id,
    /// an unknown family is `None`.
    #[test]
    fn resolve_family_against_the_real_kernel() {
        let mut sock = GenlSocket::open().unwrap();
        assert_eq!(
            resolve_family(&mut sock, "nlctrl").unwrap(),
            Some(GENL_ID_CTRL)
        );
        assert_eq!(resolve_family(&mut sock, "nosuchfamily").unwrap(), None);
        // The socket stays usable after an error reply.
        assert_eq!(
            resolve_family(&mut sock, "nlctrl").unwrap(),
            Some(GENL_ID_CTRL)
        );
    }

    /// Pipelining against the real kernel, with nlctrl standing in for
    /// IPVS: thousands of acknowledged requests in batches, a failing one
    /// every 7th, results matched back in order.
    #[test]
    fn pipeline_matches_acks_in_order_against_the_real_kernel() {
        let mut sock = GenlSocket::open().unwrap();
        let count = 3000;
        let results = sock.pipeline(count, |i, seq, flags, buf| {
            let name = if i % 7 == 3 { "nosuchfamily" } else { "nlctrl" };
            encode_getfamily(name, seq, flags, buf);
            CMD_GET_SERVICE
        });
        assert_eq!(results.len(), count);
        for (i, r) in results.iter().enumerate() {
            if i % 7 == 3 {
                match r {
                    Err(IpvsError::Kernel { errno: 2, .. }) => {}
                    other => panic!("request {i}: expected ENOENT, got {other:?}"),
                }
            } else {
                assert!(r.is_ok(), "request {i}: {r:?}");
            }
        }
        // The socket still works after the batch.
        assert_eq!(
            resolve_family(&mut sock, "nlctrl").unwrap(),
            Some(GENL_ID_CTRL)
        );
    }

    /// When the receive buffer overflows, the kernel drops replies and
    /// reports ENOBUFS: the pipeline must not hang, must mark what it never
    /// heard about as NoAck, shrink its batches, and leave the socket usable.
    #[test]
    fn pipeline_survives_a_receive_buffer_overrun() {
        let mut sock = GenlSocket::open().unwrap();
        // Tiny buffer, huge batch: nlctrl's replies (a KiB or more each)
        // cannot all fit.
        sock.socket.set_rx_buf_sz(16 * 1024).unwrap();
        sock.window = MAX_WINDOW;
        let results = sock.pipeline(500, |_, seq, flags, buf| {
            encode_getfamily("nlctrl", seq, flags, buf);
            CMD_GET_SERVICE
        });
        assert_eq!(results.len(), 500);
        let lost = results
            .iter()
            .filter(|r| matches!(r, Err(IpvsError::NoAck)))
            .count();
        assert!(lost > 0, "expected lost acknowledgements: {results:?}");
        for r in &results {
            assert!(
                matches!(
                    r,
                    Ok(()) | Err(IpvsError::NoAck) | Err(IpvsError::Kernel { errno: 11, .. })
                ),
                "{r:?}"
            );
        }
        assert!(sock.window < MAX_WINDOW, "batch size shrank");
        assert_eq!(
            resolve_family(&mut sock, "nlctrl").unwrap(),
            Some(GENL_ID_CTRL)
        );
    }

    /// A multi-part dump against the real kernel: every registered family,
    /// over several datagrams, ends with NLMSG_DONE.
    #[test]
    fn dump_reads_every_part_against_the_real_kernel() {
        let mut sock = GenlSocket::open().unwrap();
        let mut names = Vec::new();
        sock.dump(
            0,
            |seq, flags, buf| {
                let genl = GenlMessage::from_payload(GenlCtrl {
                    cmd: GenlCtrlCmd::GetFamily,
                    nlas: vec![],
                });
                let mut msg = NetlinkMessage::from(genl);
                msg.header.flags = flags;
                msg.header.sequence_number = seq;
                msg.finalize();
                let start = buf.len();
                buf.resize(start + msg.buffer_len(), 0);
                msg.serialize(&mut buf[start..]);
            },
            |payload| {
                let name = find("nlctrl", genl_body(payload)?, 2, "CTRL_ATTR_FAMILY_NAME")?;
                names.push(name.string("CTRL_ATTR_FAMILY_NAME")?.to_string());
                Ok(())
            },
        )
        .unwrap();
        assert!(names.iter().any(|n| n == "nlctrl"), "{names:?}");
        assert!(!names.iter().any(|n| n == "IPVS"), "{names:?}");
        // Still in step: a plain request right after works.
        assert_eq!(
            resolve_family(&mut sock, "nlctrl").unwrap(),
            Some(GENL_ID_CTRL)
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn request_header_layout() {
        let mut buf = Vec::new();
        encode_request(
            0x1234,
            77,
            NLM_F_REQUEST | NLM_F_ACK,
            CMD_FLUSH,
            Vec::new(),
            &mut buf,
        );
        assert_eq!(
            buf,
            [
                20, 0, 0, 0, // nlmsg_len: 16 + genlmsghdr
                0x34, 0x12, // nlmsg_type: the family id
                5, 0, // NLM_F_REQUEST | NLM_F_ACK
                77, 0, 0, 0, // seq
                0, 0, 0, 0, // port id: the kernel fills it in
                17, 1, 0, 0, // cmd FLUSH, version 1, reserved
            ]
        );
    }

    /// One multipart message as the kernel's dump callbacks build it:
    /// nlmsghdr (NLM_F_MULTI), genlmsghdr, then `attr` holding `nest`
    /// (without NLA_F_NESTED, as `nla_nest_start_noflag` leaves it).
    fn kernel_message(family: u16, seq: u32, cmd: u8, attr: u16, nest: &[u8]) -> Vec<u8> {
        let len = 16 + 4 + 4 + nest.len();
        let mut m = Vec::new();
        m.extend((len as u32).to_ne_bytes());
        m.extend(family.to_ne_bytes());
        m.extend(2u16.to_ne_bytes()); // NLM_F_MULTI
        m.extend(seq.to_ne_bytes());
        m.extend(4242u32.to_ne_bytes()); // our port id
        m.extend([cmd, 1, 0, 0]);
        m.extend(((4 + nest.len()) as u16).to_ne_bytes());
        m.extend(attr.to_ne_bytes());
        m.extend(nest);
        m
    }

    fn done_message(seq: u32) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend(20u32.to_ne_bytes());
        m.extend(NLMSG_DONE.to_ne_bytes());
        m.extend(2u16.to_ne_bytes());
        m.extend(seq.to_ne_bytes());
        m.extend(4242u32.to_ne_bytes());
        m.extend(0i32.to_ne_bytes());
        m
    }

    /// A whole `GET_SERVICE` dump datagram, as the kernel sends it, read
    /// the way `Ipvs::dump` reads it.
    #[cfg(target_endian = "little")]
    #[test]
    fn decode_a_service_dump_datagram() {
        #[rustfmt::skip]
        let tcp_v4: Vec<u8> = vec![
            6, 0, 1, 0, 2, 0, 0, 0,                         // AF_INET
            6, 0, 2, 0, 6, 0, 0, 0,                         // TCP
            20, 0, 3, 0, 192, 168, 1, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            6, 0, 4, 0, 0x15, 0x38, 0, 0,                   // port 5432
            7, 0, 6, 0, b'r', b'r', 0, 0,                   // "rr"
            12, 0, 7, 0, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // HASHED, mask ~0
            8, 0, 8, 0, 0, 0, 0, 0,                         // timeout 0
            8, 0, 9, 0, 0xff, 0xff, 0xff, 0xff,             // netmask /32
            24, 0, 10, 0,                                   // STATS (u32 conns, u64 inbytes)
                8, 0, 1, 0, 42, 0, 0, 0,
                12, 0, 4, 0, 0x00, 0x10, 0, 0, 0, 0, 0, 0,
        ];
        #[rustfmt::skip]
        let fwmark_v6: Vec<u8> = vec![
            6, 0, 1, 0, 10, 0, 0, 0,                        // AF_INET6
            8, 0, 5, 0, 9, 0, 0, 0,                         // fwmark 9
            8, 0, 6, 0, b'w', b'l', b'c', 0,
            12, 0, 7, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // PERSISTENT|HASHED
            8, 0, 8, 0, 0x58, 0x02, 0, 0,                   // timeout 600
            8, 0, 9, 0, 64, 0, 0, 0,                        // prefix 64
        ];
        let mut dgram = kernel_message(0x1c, 9, 1, 1, &tcp_v4);
        dgram.extend(kernel_message(0x1c, 9, 1, 1, &fwmark_v6));
        dgram.extend(done_message(9));

        let mut services = Vec::new();
        let mut done = false;
        for r in replies(&dgram) {
            let r = r.unwrap();
            assert_eq!(r.seq, 9);
            match r.kind {
                NLMSG_DONE => done = r.done_code() == 0,
                _ => services.push(service_from_reply(r.payload).unwrap()),
            }
        }
        assert!(done);
        assert_eq!(services.len(), 2);
        let a = &services[0];
        assert_eq!(
            a.service.key,
            crate::ipvs::service::tests::tcp("192.168.1.100:5432")
        );
        assert_eq!((a.service.flags, a.service.timeout), (0, 0));
        assert_eq!((a.stats.conns, a.stats.inbytes), (42, 4096));
        let b = &services[1];
        assert_eq!(
            b.service.key,
            crate::config::ServiceKey::Fwmark {
                mark: 9,
                family: Family::Inet6
            }
        );
        assert_eq!(b.service.scheduler, "wlc");
        assert!(b.service.persistent());
        assert_eq!((b.service.timeout, b.service.netmask), (600, 64));
    }

    /// A `GET_DEST` dump message as the kernel sends it.
    #[cfg(target_endian = "little")]
    #[test]
    fn decode_a_dest_dump_message() {
        #[rustfmt::skip]
        let dest: Vec<u8> = vec![
            20, 0, 1, 0, 10, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            6, 0, 2, 0, 0, 80, 0, 0,
            8, 0, 3, 0, 0x83, 0, 0, 0,                      // DROUTE | NOOUTPUT
            8, 0, 4, 0, 5, 0, 0, 0,
            8, 0, 5, 0, 0, 0, 0, 0,
            8, 0, 6, 0, 0, 0, 0, 0,
            8, 0, 7, 0, 1, 0, 0, 0,
            8, 0, 8, 0, 2, 0, 0, 0,
            8, 0, 9, 0, 0, 0, 0, 0,
            6, 0, 11, 0, 2, 0, 0, 0,
            16, 0, 12, 0,                                   // STATS64 with conns only
                12, 0, 1, 0, 0, 0xf2, 0x05, 0x2a, 0x01, 0, 0, 0,
        ];
        let msg = kernel_message(0x1c, 10, 5, 2, &dest);
        let r = replies(&msg).next().unwrap().unwrap();
        let entry = dest_from_reply(r.payload, Family::Inet).unwrap();
        assert_eq!(entry.dest.address, "10.0.0.7:80".parse().unwrap());
        assert_eq!(entry.dest.forward, crate::ipvs::dest::Forward::Route);
        assert_eq!(entry.dest.weight, 5);
        assert_eq!((entry.active_conns, entry.inact_conns), (1, 2));
        assert_eq!(entry.stats.conns, 5_000_000_000);
    }

    #[test]
    fn replies_split_a_datagram() {
        // An ack (seq 5) followed by an error (seq 6, -EEXIST), as the
        // kernel queues them with NETLINK_CAP_ACK.
        let mut dgram = Vec::new();
        for (seq, code) in [(5u32, 0i32), (6, -17)] {
            dgram.extend(36u32.to_ne_bytes());
            dgram.extend(NLMSG_ERROR.to_ne_bytes());
            dgram.extend(0u16.to_ne_bytes());
            dgram.extend(seq.to_ne_bytes());
            dgram.extend(0u32.to_ne_bytes());
            dgram.extend(code.to_ne_bytes());
            dgram.extend([0u8; 16]); // echoed request header
        }
        let got: Vec<(u32, i32)> = replies(&dgram)
            .map(|r| {
                let r = r.unwrap();
                (r.seq, r.error_code().unwrap())
            })
            .collect();
        assert_eq!(got, [(5, 0), (6, 17)]);
        // A truncated tail is an error, not a panic.
        let cut = &dgram[..dgram.len() - 4];
        assert!(replies(cut).any(|r| r.is_err()));
    }
}
