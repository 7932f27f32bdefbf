//! The box seen from the network: Prometheus metrics, a status page, its
//! log, remote syslog and event webhooks (issue 11).
//!
//! Files: `config` (what `[management]`, `[[syslog]]`, `[[webhook]]` say),
//! `snapshot` (what the director publishes), `clock` (UTC once the clock
//! is set), `log` (the ring of console lines), `metrics`, `status`
//! (JSON), `page` (HTML and SVG), `history` (10 s samples of the last
//! hour), `process` (PID 1's `process_*`), `limits` (every bound and the
//! counters of hitting them), `server` (hyper, on its own thread),
//! `syslog`, `webhook`.

pub mod clock;
pub mod config;
pub mod history;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod page;
pub mod process;
pub mod snapshot;
pub mod status;
