//! IPVS over generic netlink (family "IPVS"), as `ipvsadm` speaks it.
//!
//! - [`Ipvs`] is the socket: [`Ipvs::info`], [`Ipvs::dump`] (every virtual
//!   service with its real servers), [`Ipvs::execute`] (many changes,
//!   pipelined), [`Ipvs::sync_as`] (the connection sync daemon).
//! - [`desired`] turns the config's services into the kernel's terms,
//!   [`diff()`] computes the fewest [`Op`]s from the kernel's [`Table`] to
//!   them, and [`reconcile_to`] does dump, diff and execute in one call.
//! - [`format_table`] prints a [`Table`] exactly like `ipvsadm -Ln`.
//!
//! Files, each importing only files before it: `cmd` (the family and
//! its commands, from `ip_vs.h`), `error`, `attr` (the attribute plumbing:
//! wire forms, encoding, reading replies, address families), `stats`,
//! `info`, `dest`, `service` and `daemon` (each object with its typed nest
//! both ways), `message` (a request's first level, the generic-netlink
//! payload), `op` (a change, displayed as its ipvsadm command), `table`,
//! `socket`, `sync` (the sync daemons), `diff`, `reconcile`.

mod attr;
mod cmd;
mod daemon;
mod dest;
mod diff;
mod error;
mod info;
mod message;
mod op;
mod reconcile;
mod service;
mod socket;
mod stats;
mod sync;
mod table;

pub use daemon::{SyncDaemon, SyncRole};
pub use dest::{Dest, DestEntry, Forward};
pub use diff::{desired, diff};
pub use error::IpvsError;
pub use info::Info;
pub use op::Op;
pub use reconcile::{Desired, Report, reconcile_to};
pub use service::{ServiceEntry, VirtualService};
pub use socket::Ipvs;
pub use stats::Stats;
pub use table::{Table, format_table, format_table_cut};
