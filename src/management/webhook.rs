//! Webhooks, the shell-less box's notify scripts: a JSON POST to each
//! `[[webhook]]` on every event worth telling (a real server down or
//! up, a VRRP state change, a reload, the sorry server standing in or
//! out):
//!
//! ```json
//! {"seq": 7, "host": "lvs-a", "boot_ms": 61234, "time": null,
//!  "event": "real_server_down", "service": "postgres",
//!  "real_server": "192.168.3.3:5432", "reason": "connection refused"}
//! ```
//!
//! [`Webhooks::send`] never blocks: it numbers the event, writes its JSON
//! once and `try_send`s it to each target's queue of [`WEBHOOK_QUEUE`];
//! a full queue drops the event (counted). Each target has one worker
//! ([`Worker::run`], on the management thread) delivering one event at a
//! time, in order: a 2xx answer is delivered; a 4xx other than 408 and
//! 429 is the receiver refusing it for good (counted, next); anything
//! else (5xx, no connection, a timeout) is tried again after a backoff
//! that doubles up to a minute ([`super::limits::backoff`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::clock;
use super::config::Webhook;
use super::limits::{Counters, WEBHOOK_QUEUE, WEBHOOK_TIMEOUT, backoff};
use super::snapshot::{ApplyResult, VrrpState};

/// Something a webhook receiver is told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    RealServerDown {
        service: String,
        real_server: SocketAddr,
        /// Why the check failed ("connection refused", ...).
        reason: String,
    },
    RealServerUp {
        service: String,
        real_server: SocketAddr,
    },
    VrrpState {
        interface: String,
        vrid: u8,
        from: VrrpState,
        to: VrrpState,
        reason: String,
    },
    ConfigReload {
        result: ApplyResult,
        errors: Vec<String>,
    },
    SorryServer {
        service: String,
        sorry_server: SocketAddr,
        /// True when it starts standing in, false when it steps back.
        active: bool,
    },
}

impl Event {
    /// The `event` field.
    pub fn name(&self) -> &'static str {
        match self {
            Event::RealServerDown { .. } => "real_server_down",
            Event::RealServerUp { .. } => "real_server_up",
            Event::VrrpState { .. } => "vrrp_state",
            Event::ConfigReload { .. } => "config_reload",
            Event::SorryServer { .. } => "sorry_server",
        }
    }

    /// The event's own fields, in the order they are written.
    fn details(&self) -> Vec<(&'static str, Value)> {
        match self {
            Event::RealServerDown {
                service,
                real_server,
                reason,
            } => vec![
                ("service", service.as_str().into()),
                ("real_server", real_server.to_string().into()),
                ("reason", reason.as_str().into()),
            ],
            Event::RealServerUp {
                service,
                real_server,
            } => vec![
                ("service", service.as_str().into()),
                ("real_server", real_server.to_string().into()),
            ],
            Event::VrrpState {
                interface,
                vrid,
                from,
                to,
                reason,
            } => vec![
                ("interface", interface.as_str().into()),
                ("vrid", (*vrid).into()),
                ("from", from.name().into()),
                ("to", to.name().into()),
                ("reason", reason.as_str().into()),
            ],
            Event::ConfigReload { result, errors } => vec![
                ("result", result.name().into()),
                ("errors", errors.clone().into()),
            ],
            Event::SorryServer {
                service,
                sorry_server,
                active,
            } => vec![
                ("service", service.as_str().into()),
                ("sorry_server", sorry_server.to_string().into()),
                ("active", (*active).into()),
            ],
        }
    }
}

/// Who sent an event, and when.
pub struct Stamp<'a> {
    pub seq: u64,
    pub host: &'a str,
    pub boot: Duration,
    /// The wall clock, once it is set.
    pub unix: Option<Duration>,
}

/// The JSON body of `event`: the stamp's fields, `event`, then the
/// event's own, in that order.
pub fn body(stamp: &Stamp<'_>, event: &Event) -> String {
    let time = stamp
        .unix
        .map(clock::rfc3339)
        .map_or(Value::Null, Value::from);
    let mut fields: Vec<(&str, Value)> = vec![
        ("seq", stamp.seq.into()),
        ("host", stamp.host.into()),
        ("boot_ms", (stamp.boot.as_millis() as u64).into()),
        ("time", time),
        ("event", event.name().into()),
    ];
    fields.extend(event.details());
    let mut out = String::from("{");
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // A name and a Value always serialise.
        out.push_str(&Value::from(*name).to_string());
        out.push(':');
        out.push_str(&value.to_string());
    }
    out.push('}');
    out
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// The receiver refuses this event for good: go on to the next.
    Rejected,
    /// Try the same event again after the backoff.
    Retry,
}

/// Judge an attempt by the answer's status (`None`: no answer at all).
pub fn judge(status: Option<StatusCode>) -> Outcome {
    match status {
        Some(s) if s.is_success() => Outcome::Delivered,
        Some(StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS) => Outcome::Retry,
        Some(s) if s.is_client_error() => Outcome::Rejected,
        _ => Outcome::Retry,
    }
}

/// The director's side: enqueue events, never waiting.
#[derive(Clone)]
pub struct Webhooks {
    queues: Vec<mpsc::Sender<Bytes>>,
    seq: Arc<AtomicU64>,
    counters: Arc<Counters>,
}

/// One target's delivery loop, run on the management thread.
pub struct Worker {
    target: Webhook,
    queue: mpsc::Receiver<Bytes>,
}

impl Webhooks {
    /// Queues for `targets` and the workers that empty them. `seq`
    /// numbers events (kept across restarts so receivers see it grow).
    pub fn new(
        targets: &[Webhook],
        seq: Arc<AtomicU64>,
        counters: Arc<Counters>,
    ) -> (Webhooks, Vec<Worker>) {
        let (queues, workers) = targets
            .iter()
            .map(|target| {
                let (tx, rx) = mpsc::channel(WEBHOOK_QUEUE);
                (
                    tx,
                    Worker {
                        target: target.clone(),
                        queue: rx,
                    },
                )
            })
            .unzip();
        (
            Webhooks {
                queues,
                seq,
                counters,
            },
            workers,
        )
    }

    /// Tell every target about `event`; a full queue drops it (counted).
    pub fn send(&self, event: &Event) {
        if self.queues.is_empty() {
            return;
        }
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        let stamp = Stamp {
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            host: &host,
            boot: crate::console::since_boot(),
            unix: clock::now_unix(),
        };
        let json = Bytes::from(body(&stamp, event));
        for queue in &self.queues {
            if queue.try_send(json.clone()).is_err() {
                Counters::hit(&self.counters.webhook_dropped);
            }
        }
    }
}

impl Worker {
    /// Deliver events one at a time, in order, until the queue closes.
    pub async fn run(mut self, counters: Arc<Counters>) {
        while let Some(json) = self.queue.recv().await {
            let mut failures = 0;
            loop {
                let status =
                    tokio::time::timeout(WEBHOOK_TIMEOUT, post(&self.target, json.clone()))
                        .await
                        .ok()
                        .flatten();
                match judge(status) {
                    Outcome::Delivered => {
                        Counters::hit(&counters.webhook_delivered);
                        break;
                    }
                    Outcome::Rejected => {
                        if Counters::get(&counters.webhook_rejected) == 0 {
                            log::warn!(
                                "webhook {}: the receiver refused an event ({}); it is not sent again",
                                self.target.url.text,
                                status.map(|s| s.to_string()).unwrap_or_default()
                            );
                        }
                        Counters::hit(&counters.webhook_rejected);
                        break;
                    }
                    Outcome::Retry => {
                        failures += 1;
                        Counters::hit(&counters.webhook_retries);
                        tokio::time::sleep(backoff(failures)).await;
                    }
                }
            }
        }
    }
}

/// One POST on a connection of its own; the answer's status, or `None`
/// when there was none.
async fn post(target: &Webhook, json: Bytes) -> Option<StatusCode> {
    let stream = TcpStream::connect(target.url.address).await.ok()?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    let connection = tokio::spawn(connection);
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(target.url.path.as_str())
        .header(HOST, target.url.address.to_string())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(json))
        .ok()?;
    if let Some(auth) = &target.authorization
        && let Ok(value) = HeaderValue::from_str(auth)
    {
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    let status = sender.send_request(request).await.ok().map(|r| r.status());
    connection.abort();
    status
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Mutex;

    use super::*;
    use crate::management::config::WebhookUrl;
    use http_body_util::BodyExt;

    #[test]
    fn bodies() {
        let stamp = Stamp {
            seq: 7,
            host: "lvs-a",
            boot: Duration::from_millis(61_234),
            unix: None,
        };
        let down = Event::RealServerDown {
            service: "postgres".into(),
            real_server: "192.168.3.3:5432".parse().unwrap(),
            reason: "connection refused".into(),
        };
        assert_eq!(
            body(&stamp, &down),
            r#"{"seq":7,"host":"lvs-a","boot_ms":61234,"time":null,"event":"real_server_down","service":"postgres","real_server":"192.168.3.3:5432","reason":"connection refused"}"#
        );
        let vrrp = Event::VrrpState {
            interface: "eth0".into(),
            vrid: 51,
            from: VrrpState::Backup,
            to: VrrpState::Master,
            reason: "no advert for 3.6 s".into(),
        };
        let v: Value = serde_json::from_str(&body(
            &Stamp {
                unix: Some(Duration::from_secs(1_796_283_402)),
                ..stamp
            },
            &vrrp,
        ))
        .unwrap();
        assert_eq!(v["time"], "2026-12-03T07:36:42.000Z");
        assert_eq!(v["event"], "vrrp_state");
        assert_eq!(
            (v["from"].as_str(), v["to"].as_str()),
            (Some("BACKUP"), Some("MASTER"))
        );
        let reload = Event::ConfigReload {
            result: ApplyResult::Invalid,
            errors: vec!["e".into()],
        };
        assert!(
            body(&stamp, &reload)
                .contains(r#""event":"config_reload","result":"invalid","errors":["e"]"#)
        );
        let sorry = Event::SorryServer {
            service: "web".into(),
            sorry_server: "10.0.0.99:80".parse().unwrap(),
            active: true,
        };
        assert!(body(&stamp, &sorry).ends_with(
            r#""event":"sorry_server","service":"web","sorry_server":"10.0.0.99:80","active":true}"#
        ));
    }

    #[test]
    fn judging_answers() {
        assert_eq!(judge(Some(StatusCode::OK)), Outcome::Delivered);
        assert_eq!(judge(Some(StatusCode::NO_CONTENT)), Outcome::Delivered);
        assert_eq!(
            judge(Some(StatusCode::INTERNAL_SERVER_ERROR)),
            Outcome::Retry
        );
        assert_eq!(judge(Some(StatusCode::TOO_MANY_REQUESTS)), Outcome::Retry);
        assert_eq!(judge(Some(StatusCode::NOT_FOUND)), Outcome::Rejected);
        assert_eq!(judge(None), Outcome::Retry);
    }

    fn target(addr: SocketAddr) -> Webhook {
        Webhook {
            url: WebhookUrl::parse(&format!("http://{addr}/hook")).unwrap(),
            authorization: Some("Bearer s3cret".into()),
        }
    }

    fn up(n: u16) -> Event {
        Event::RealServerUp {
            service: "postgres".into(),
            real_server: SocketAddr::from(([192, 168, 3, 2], n)),
        }
    }

    /// A full queue drops the newest event and counts it; the caller is
    /// never held.
    #[test]
    fn a_full_queue_drops_and_counts() {
        let counters = Arc::new(Counters::default());
        let (hooks, _workers) = Webhooks::new(
            &[target("127.0.0.1:9".parse().unwrap())],
            Arc::new(AtomicU64::new(0)),
            Arc::clone(&counters),
        );
        for i in 0..WEBHOOK_QUEUE + 5 {
            hooks.send(&up(i as u16));
        }
        assert_eq!(Counters::get(&counters.webhook_dropped), 5);
    }

    /// What the test receiver saw: each request's path, Authorization
    /// and body.
    type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

    /// A hyper server that answers 500 to the first request and 200 to
    /// every later one.
    async fn receiver(listener: tokio::net::TcpListener, seen: Seen) {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let seen = Arc::clone(&seen);
                        async move {
                            let path = req.uri().path().to_string();
                            let auth = req
                                .headers()
                                .get(AUTHORIZATION)
                                .map(|v| v.to_str().unwrap().to_string())
                                .unwrap_or_default();
                            let bytes = req.into_body().collect().await.unwrap().to_bytes();
                            let v: Value = serde_json::from_slice(&bytes).unwrap();
                            let first = {
                                let mut seen = seen.lock().unwrap();
                                seen.push((path, auth, v));
                                seen.len() == 1
                            };
                            let mut r = hyper::Response::new(Full::new(Bytes::new()));
                            if first {
                                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                            }
                            Ok::<_, Infallible>(r)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    /// Events reach a real HTTP receiver in order, the first one again
    /// after the receiver answered 500.
    #[test]
    fn delivered_in_order_with_a_retry() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let seen: Seen = Arc::default();
        let counters = Arc::new(Counters::default());
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(receiver(listener, Arc::clone(&seen)));
            let (hooks, workers) = Webhooks::new(
                &[target(addr)],
                Arc::new(AtomicU64::new(0)),
                Arc::clone(&counters),
            );
            for w in workers {
                tokio::spawn(w.run(Arc::clone(&counters)));
            }
            for n in 1..=3 {
                hooks.send(&up(n));
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while Counters::get(&counters.webhook_delivered) < 3 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "not delivered in 10 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let seen = seen.lock().unwrap();
        let seqs: Vec<u64> = seen
            .iter()
            .map(|(_, _, v)| v["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(
            seqs,
            [1, 1, 2, 3],
            "the first again after the 500, then in order"
        );
        assert!(
            seen.iter()
                .all(|(path, auth, _)| path == "/hook" && auth == "Bearer s3cret")
        );
        assert_eq!(seen[3].2["real_server"], "192.168.3.2:3");
        assert_eq!(seen[0].2["event"], "real_server_up");
        assert_eq!(Counters::get(&counters.webhook_retries), 1);
    }
}
