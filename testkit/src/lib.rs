//! The test kit of lvsinit, the one the tests (`tests/*.rs`,
//! `init/tests/cli.rs`) and the benchmark (`benches/appliance`) share:
//!
//! - [`Netns`]: a throwaway network namespace, the `ip` commands run in it,
//!   and [`netns::enter`] for a thread that works inside one;
//! - [`Vm`]: the appliance booted by `qemu/run`, its serial console
//!   collected line by line, its debug shell ([`serial`]);
//! - [`lab`]: the classic LVS-NAT setup around one or more VMs, with real
//!   PostgreSQL servers and a client;
//! - [`logs`]: what the library logs, kept per thread;
//! - [`config`]: the router.toml fixtures in `testkit/configs/`;
//! - [`image`]: building `out/` and writing onto a copy of its disk image.
//!
//! Nothing here skips: a missing tool, root or image fails loudly, saying
//! what to install or run.

pub mod cmd;
pub mod cpio;
mod host;
pub mod image;
pub mod lab;
pub mod logs;
pub mod netns;
mod paths;
pub mod serial;
pub mod status;
pub mod vm;

pub use host::{TempDir, require_root};
pub use netns::Netns;
pub use paths::{config, keepalived_samples, repo};
pub use vm::{Nic, Vm, VmOptions};
