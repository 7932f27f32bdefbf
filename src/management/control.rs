//! The write half of the API (issue 12): what the server asks of the
//! director, and what the director answers. The server checks the
//! password and reads the request; the director does the work on its own
//! loop (a config push is a reload with a given text) and answers through
//! a oneshot, so the server never touches the running state.
//!
//! Endpoints and the [`Control`] each becomes:
//! - `GET /config` → [`Control::GetConfig`]
//! - `PUT /config[?dry_run=1][&confirm=60s]` → [`Control::Push`]
//! - `POST /config/confirm` → [`Control::Confirm`]
//! - `POST /reload` → [`Control::Reload`]
//! - `POST /services/{name}/real-servers/{ip:port}/drain` (and `/enable`)
//!   → [`Control::Drain`]
//! - `POST /reboot`, `POST /poweroff` → [`Control::Power`]
//! - `PUT /update` (the new system image; its signature in the
//!   [`SIGNATURE_HEADER`]) → [`Control::Update`]
//! - `POST /rollback` → [`Control::Rollback`]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// The biggest config a push may carry: what `lvsinit check` reads.
pub const MAX_CONFIG_BYTES: usize = crate::config::MAX_BYTES;
/// The biggest system image an update may carry.
pub const MAX_IMAGE_BYTES: usize = crate::boot_partition::MAX_IMAGE_BYTES;
/// The header that carries an image's detached signature
/// (`ed25519:BASE64`).
pub const SIGNATURE_HEADER: &str = "lvsinit-signature";
/// Control requests waiting for the director, at most.
pub const QUEUE: usize = 4;

/// How the box goes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Reboot,
    PowerOff,
}

/// One thing to change.
#[derive(Debug)]
pub enum Control {
    /// The running router.toml, byte for byte.
    GetConfig,
    /// A new router.toml: validated, applied like a reload, then kept on
    /// the boot partition (with `confirm`: kept only once confirmed, else
    /// the previous one comes back when the time is up).
    Push {
        text: String,
        dry_run: bool,
        confirm: Option<Duration>,
    },
    /// Keep the provisional config.
    Confirm,
    /// Read router.toml from where it came from and reconcile (SIGHUP).
    Reload,
    /// Weight 0 for a real server (`drain: true`), or its own weight again.
    Drain {
        service: String,
        real_server: SocketAddr,
        drain: bool,
    },
    Power(PowerAction),
    /// A new system for the other slot, and its signature if it came with
    /// one: written, then booted for a trial.
    Update {
        image: bytes::Bytes,
        signature: Option<String>,
    },
    /// Back to the other slot's system.
    Rollback,
}

/// The director's answer: an HTTP status and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Answer {
    pub fn json(status: u16, value: &serde_json::Value) -> Answer {
        let mut body = value.to_string();
        body.push('\n');
        Answer {
            status,
            content_type: "application/json",
            body,
        }
    }

    pub fn text(status: u16, text: impl Into<String>) -> Answer {
        let mut body = text.into();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }
}

/// A control and where its answer goes.
#[derive(Debug)]
pub struct ControlRequest {
    pub control: Control,
    reply: oneshot::Sender<Answer>,
}

impl ControlRequest {
    /// Answer it (the client may be gone: nothing to do then).
    pub fn answer(self, answer: Answer) {
        let _ = self.reply.send(answer);
    }
}

/// The server's side of the channel.
#[derive(Clone)]
pub struct Controls {
    tx: mpsc::Sender<ControlRequest>,
}

impl Controls {
    pub fn new() -> (Controls, mpsc::Receiver<ControlRequest>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Controls { tx }, rx)
    }

    /// Ask the director; `None` when it is gone or too busy to take it.
    pub async fn ask(&self, control: Control) -> Option<Answer> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(ControlRequest { control, reply }).ok()?;
        answer.await.ok()
    }
}

/// A write endpoint's path, decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Config,
    ConfirmConfig,
    Reload,
    Drain {
        service: String,
        real_server: SocketAddr,
        drain: bool,
    },
    Power(PowerAction),
    Update,
    Rollback,
}

/// Why a path is no write endpoint.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    /// Not one of the write endpoints at all.
    Unknown,
    /// A drain path whose real server is not `IP:PORT`.
    BadAddress(String),
}

/// Decode a write endpoint's path (percent-encoded segments).
pub fn route(path: &str) -> Result<Route, RouteError> {
    match path {
        "/config" => return Ok(Route::Config),
        "/config/confirm" => return Ok(Route::ConfirmConfig),
        "/reload" => return Ok(Route::Reload),
        "/reboot" => return Ok(Route::Power(PowerAction::Reboot)),
        "/poweroff" => return Ok(Route::Power(PowerAction::PowerOff)),
        "/update" => return Ok(Route::Update),
        "/rollback" => return Ok(Route::Rollback),
        _ => {}
    }
    let parts: Vec<&str> = path.split('/').collect();
    let ["", "services", service, "real-servers", address, action] = parts.as_slice() else {
        return Err(RouteError::Unknown);
    };
    let drain = match *action {
        "drain" => true,
        "enable" => false,
        _ => return Err(RouteError::Unknown),
    };
    let service = percent_decode(service).ok_or(RouteError::Unknown)?;
    let address = percent_decode(address).ok_or(RouteError::Unknown)?;
    let real_server = address
        .parse()
        .map_err(|_| RouteError::BadAddress(address.clone()))?;
    Ok(Route::Drain {
        service,
        real_server,
        drain,
    })
}

/// `%XX` decoded; `None` for a bad escape or text that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The query of a push: `dry_run=1`, `confirm=DURATION` (as router.toml
/// writes durations: `60s`, `2m`).
pub fn push_options(query: Option<&str>) -> Result<(bool, Option<Duration>), String> {
    let mut dry_run = false;
    let mut confirm = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "dry_run" => {
                dry_run = match value {
                    "1" | "true" | "" => true,
                    "0" | "false" => false,
                    _ => return Err(format!("dry_run={value}: write dry_run=1")),
                }
            }
            "confirm" => {
                let value = percent_decode(value).unwrap_or_default();
                let d = crate::config::parse_duration(&value)
                    .map_err(|e| format!("confirm={value}: {e}; write it like confirm=60s"))?;
                if d.is_zero() {
                    return Err("confirm=0: give the time to confirm in, like confirm=60s".into());
                }
                confirm = Some(d);
            }
            _ => {
                return Err(format!(
                    "unknown parameter {name:?}; a push takes dry_run=1 and confirm=DURATION"
                ));
            }
        }
    }
    Ok((dry_run, confirm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/config"), Ok(Route::Config));
        assert_eq!(route("/config/confirm"), Ok(Route::ConfirmConfig));
        assert_eq!(route("/poweroff"), Ok(Route::Power(PowerAction::PowerOff)));
        assert_eq!(
            route("/services/pg%20main/real-servers/192.168.3.2%3A5432/drain"),
            Ok(Route::Drain {
                service: "pg main".into(),
                real_server: "192.168.3.2:5432".parse().unwrap(),
                drain: true
            })
        );
        assert_eq!(
            route("/services/web/real-servers/%5B2001%3Adb8%3A%3A1%5D%3A80/enable"),
            Ok(Route::Drain {
                service: "web".into(),
                real_server: "[2001:db8::1]:80".parse().unwrap(),
                drain: false
            })
        );
        assert_eq!(
            route("/services/web/real-servers/192.168.3.2/drain"),
            Err(RouteError::BadAddress("192.168.3.2".into()))
        );
        assert_eq!(
            route("/services/web/real-servers/x/stop"),
            Err(RouteError::Unknown)
        );
        assert_eq!(
            route("/services/%zz/real-servers/1.2.3.4:1/drain"),
            Err(RouteError::Unknown)
        );
        assert_eq!(route("/metrics"), Err(RouteError::Unknown));
    }

    #[test]
    fn push_query() {
        assert_eq!(push_options(None), Ok((false, None)));
        assert_eq!(
            push_options(Some("dry_run=1&confirm=60s")),
            Ok((true, Some(Duration::from_secs(60))))
        );
        assert_eq!(
            push_options(Some("confirm=2m")),
            Ok((false, Some(Duration::from_secs(120))))
        );
        assert!(push_options(Some("confirm=soon")).is_err());
        assert!(push_options(Some("force=1")).is_err());
    }
}
