//! The HTTP API: hyper's HTTP/1 server on the management thread's
//! runtime, read-only, every limit of [`super::limits`] applied.
//!
//! Per connection, in this order: a client outside `allow` is closed at
//! once; so is one over the per-client or the total connection limit.
//! hyper then reads the request head within the header timeout (an idle
//! keep-alive connection is held to it too) and within
//! [`MAX_HEADER_BYTES`]. Only `GET` with no body is answered; unknown
//! paths get 404. Each refusal is counted.
//!
//! Big answers (`/metrics`, `/status`, `/`) are rendered on the blocking
//! pool into chunks the connection takes as the client reads them:
//! memory per answer stays at `CHUNK_BYTES × CHUNKS_IN_FLIGHT`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};

use super::auth::{Auth, Verdict};
use super::config::{self, Management};
use super::control::{self, Control, Controls, Route, RouteError};
use super::fresh::Fresh;
use super::history::History;
use super::limits::{
    CHUNK_BYTES, CHUNKS_IN_FLIGHT, Counters, Limits, MAX_HEADER_BYTES, MAX_HEADERS,
};
use super::log::LogRing;
use super::process::Process;
use super::snapshot::Snapshot;
use super::{metrics, page, status};

/// A body whose error (an answer cut short) makes hyper abort the
/// connection instead of ending the body as if it were whole.
type Body = UnsyncBoxBody<Bytes, io::Error>;

/// What every connection's handler reads.
pub struct Context {
    pub management: Management,
    pub limits: Limits,
    pub fresh: Fresh,
    pub log: Arc<LogRing>,
    pub history: Arc<Mutex<History>>,
    pub counters: Arc<Counters>,
    pub version: String,
    /// TLS, unless the config says `tls = false`.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The password check; `None`: no `password_hash`, the API is
    /// read-only.
    pub auth: Option<Auth>,
    /// Where write requests go (the director).
    pub controls: Controls,
    /// Answers to changes being written now.
    answering: std::sync::atomic::AtomicUsize,
    /// One system image read at a time: each may take
    /// [`control::MAX_IMAGE_BYTES`] of memory.
    uploads: tokio::sync::Semaphore,
    /// Open connections: in all and per client address.
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

impl Context {
    /// The context of `management` (from `setup`, with the listeners
    /// taken out), sharing what `keep` keeps.
    pub fn new(
        management: Management,
        setup: super::Setup,
        keep: &super::Keep,
        fresh: Fresh,
        controls: Controls,
    ) -> Context {
        let (log, history, counters) = (
            Arc::clone(&keep.log),
            Arc::clone(&keep.history),
            Arc::clone(&keep.counters),
        );
        let (limits, version, tls) = (setup.limits, setup.version, setup.tls);
        let auth = management
            .password_hash
            .clone()
            .map(|hash| Auth::new(hash, Arc::clone(&counters)));
        Context {
            management,
            limits,
            fresh,
            log,
            history,
            counters,
            version,
            tls: tls.map(tokio_rustls::TlsAcceptor::from),
            auth,
            controls,
            answering: std::sync::atomic::AtomicUsize::new(0),
            uploads: tokio::sync::Semaphore::new(1),
            open: Mutex::new(Open::default()),
        }
    }

    /// Connections carrying a change not yet done (answer unflushed).
    pub fn answers_in_flight(&self) -> usize {
        self.answering.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Count a new connection from `client`, or say which limit refuses
    /// it (counted).
    fn admit(self: &Arc<Self>, client: IpAddr) -> Option<Slot> {
        let client = config::canonical(client);
        if !self.management.allows(client) {
            Counters::hit(&self.counters.refused_allow);
            return None;
        }
        let mut open = self.open.lock().ok()?;
        if open.total >= self.limits.max_connections {
            Counters::hit(&self.counters.refused_total_limit);
            return None;
        }
        let mine = open.per_client.entry(client).or_insert(0);
        if *mine >= self.limits.max_connections_per_client {
            Counters::hit(&self.counters.refused_client_limit);
            return None;
        }
        *mine += 1;
        open.total += 1;
        Some(Slot {
            context: Arc::clone(self),
            client,
        })
    }
}

/// A connection's place in the counts, given back when dropped.
struct Slot {
    context: Arc<Context>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.context.open.lock() {
            open.total -= 1;
            if let Some(n) = open.per_client.get_mut(&self.client) {
                *n -= 1;
                if *n == 0 {
                    open.per_client.remove(&self.client);
                }
            }
        }
    }
}

/// Listening sockets for `[management] listen`. Each is bound with
/// `IP_FREEBIND`, so that an address that is not (yet) on the box, a
/// `[vrrp]` virtual address while backup, can be listened on: it answers
/// once the address arrives, while this box is master.
pub fn bind(listen: &[SocketAddr]) -> io::Result<Vec<std::net::TcpListener>> {
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, setsockopt, socket, sockopt,
    };
    listen
        .iter()
        .map(|addr| {
            let family = match addr {
                SocketAddr::V4(_) => AddressFamily::Inet,
                SocketAddr::V6(_) => AddressFamily::Inet6,
            };
            let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
            setsockopt(&fd, sockopt::ReuseAddr, &true)?;
            setsockopt(&fd, sockopt::IpFreebind, &true)?;
            if addr.is_ipv6() {
                setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
            }
            nix::sys::socket::bind(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                &SockaddrStorage::from(*addr),
            )?;
            nix::sys::socket::listen(&fd, Backlog::new(128)?)?;
            Ok(std::net::TcpListener::from(fd))
        })
        .collect::<Result<_, nix::Error>>()
        .map_err(io::Error::from)
}

/// Accept connections on `listener` and serve each on its own task,
/// until the runtime stops.
pub async fn serve(listener: TcpListener, context: Arc<Context>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors or memory: wait a little, go on.
                log::warn!("management: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // Refused: dropping the stream closes it.
        let Some(slot) = context.admit(peer.ip()) else {
            continue;
        };
        let context = Arc::clone(&context);
        tokio::spawn(async move {
            match context.tls.clone() {
                None => connection(stream, peer.ip(), context).await,
                Some(tls) => {
                    // The handshake is held to the header timeout too.
                    let timeout = context.limits.header_read_timeout;
                    match tokio::time::timeout(timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => connection(stream, peer.ip(), context).await,
                        Ok(Err(_)) => Counters::hit(&context.counters.tls_failures),
                        Err(_) => Counters::hit(&context.counters.header_timeouts),
                    }
                }
            }
            drop(slot);
        });
    }
}

async fn connection<S>(stream: S, client: IpAddr, context: Arc<Context>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(context.limits.header_read_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    let handler = Arc::clone(&context);
    // Set once this connection carries a change; held (through the
    // service, which hyper drops with the connection) until the answer is
    // flushed and the connection is done.
    let change = Arc::new(std::sync::OnceLock::new());
    let service = hyper::service::service_fn(move |request| {
        let context = Arc::clone(&handler);
        let change = Arc::clone(&change);
        async move { Ok::<_, Infallible>(respond(&context, &change, client, request).await) }
    });
    if let Err(e) = builder
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        if e.is_timeout() {
            Counters::hit(&context.counters.header_timeouts);
        } else if e.is_parse_too_large() {
            Counters::hit(&context.counters.header_too_large);
        }
    }
}

/// The paths of the read-only half.
const READ_PATHS: &[&str] = &["/", "/metrics", "/status", "/log"];

/// The answer to one request.
async fn respond(
    context: &Arc<Context>,
    change: &std::sync::OnceLock<Answering>,
    client: IpAddr,
    request: Request<Incoming>,
) -> Response<Body> {
    let counters = &context.counters;
    let path = request.uri().path().to_string();
    if !READ_PATHS.contains(&path.as_str()) {
        return write_request(context, change, client, request).await;
    }
    if request.method() != Method::GET {
        Counters::hit(&counters.bad_method);
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    if has_body(&request) {
        Counters::hit(&counters.with_body);
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "no request body here\n");
    }
    if !context.management.public_read
        && let Err(refused) = authorize(context, client, &request).await
    {
        return refused;
    }
    Counters::hit(&counters.requests);
    let follow = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "follow=1"));
    match path.as_str() {
        "/metrics" => {
            let Some(snapshot) = context.fresh.get().await else {
                return unavailable();
            };
            let c = Arc::clone(context);
            streamed(context, metrics::CONTENT_TYPE, move |w| {
                metrics::render(w, &snapshot, &c.counters, &Process::read(), &c.version)
            })
        }
        "/status" => {
            let Some(snapshot) = context.fresh.get().await else {
                return unavailable();
            };
            let c = Arc::clone(context);
            streamed(context, "application/json", move |w| {
                status::render(w, &snapshot, &c.version)
            })
        }
        "/" => {
            let Some(snapshot) = context.fresh.get().await else {
                return unavailable();
            };
            let c = Arc::clone(context);
            streamed(context, "text/html; charset=utf-8", move |w| {
                page::render(w, &snapshot, &c.history, &c.log.lines(), &c.version)
            })
        }
        "/log" if follow => follow_log(context),
        _ => {
            let text: String = context.log.lines().iter().map(|l| l.console()).collect();
            plain(StatusCode::OK, text)
        }
    }
}

/// The write half (and `GET /config`): the password, then the director.
async fn write_request(
    context: &Arc<Context>,
    change: &std::sync::OnceLock<Answering>,
    client: IpAddr,
    request: Request<Incoming>,
) -> Response<Body> {
    let counters = &context.counters;
    let route = match control::route(request.uri().path()) {
        Ok(route) => route,
        Err(RouteError::Unknown) => {
            Counters::hit(&counters.not_found);
            return plain(
                StatusCode::NOT_FOUND,
                "not found: try /, /status, /metrics, /log, or the control endpoints \
                 (/config, /reload, /services/NAME/real-servers/IP:PORT/drain, /update, \
                 /rollback)\n",
            );
        }
        Err(RouteError::BadAddress(address)) => {
            return plain(
                StatusCode::NOT_FOUND,
                format!(
                    "no real server {address:?}: write it as IP:PORT (IP:0 for fwmark services)\n"
                ),
            );
        }
    };
    let allowed: &'static str = match route {
        Route::Config => "GET, PUT",
        Route::Update => "PUT",
        _ => "POST",
    };
    let method = request.method().clone();
    let method_ok = match route {
        Route::Config => method == Method::GET || method == Method::PUT,
        Route::Update => method == Method::PUT,
        _ => method == Method::POST,
    };
    if !method_ok {
        Counters::hit(&counters.bad_method);
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, format!("only {allowed}\n"));
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allowed));
        return r;
    }
    let takes_body = method == Method::PUT;
    if !takes_body && has_body(&request) {
        Counters::hit(&counters.with_body);
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "no request body here\n");
    }
    // Too big by its own word: refused before the password costs anything.
    let limit = match route {
        Route::Update => control::MAX_IMAGE_BYTES,
        _ => control::MAX_CONFIG_BYTES,
    };
    if takes_body && declared_length(&request).is_some_and(|n| n > limit as u64) {
        Counters::hit(&counters.with_body);
        return too_large(limit);
    }
    if let Err(refused) = authorize(context, client, &request).await {
        return refused;
    }
    Counters::hit(&counters.control_requests);
    let mut upload = None;
    let control = match route {
        Route::Config if method == Method::GET => Control::GetConfig,
        Route::Config => {
            let (dry_run, confirm) = match control::push_options(request.uri().query()) {
                Ok(options) => options,
                Err(e) => return plain(StatusCode::BAD_REQUEST, format!("{e}\n")),
            };
            let text = match read_body(context, request).await {
                Ok(text) => text,
                Err(refused) => return refused,
            };
            Control::Push {
                text,
                dry_run,
                confirm,
            }
        }
        Route::ConfirmConfig => Control::Confirm,
        Route::Reload => Control::Reload,
        Route::Drain {
            service,
            real_server,
            drain,
        } => Control::Drain {
            service,
            real_server,
            drain,
        },
        Route::Power(action) => Control::Power(action),
        Route::Update => {
            let signature = match request.headers().get(control::SIGNATURE_HEADER) {
                None => None,
                Some(value) => match value.to_str() {
                    Ok(text) => Some(text.trim().to_string()),
                    Err(_) => {
                        return plain(
                            StatusCode::BAD_REQUEST,
                            "the Lvsinit-Signature header is not text\n",
                        );
                    }
                },
            };
            // Held until the director has answered.
            let Ok(permit) = context.uploads.try_acquire() else {
                return plain(
                    StatusCode::CONFLICT,
                    "another system image is being uploaded; try again when it is done\n",
                );
            };
            upload = Some(permit);
            let image = match read_bytes(context, request, limit).await {
                Ok(image) => image,
                Err(refused) => return refused,
            };
            Control::Update { image, signature }
        }
        Route::Rollback => Control::Rollback,
    };
    // Counted from before the director sees it until the connection is
    // done: a subsystem that the change stops waits for its answer to be
    // flushed (the director answers, then restarts the API at once).
    change.get_or_init(|| Answering::new(context));
    let answer = context.controls.ask(control).await;
    drop(upload);
    match answer {
        Some(answer) => {
            let length = answer.body.len();
            let body = Full::new(Bytes::from(answer.body))
                .map_err(|never| match never {})
                .boxed_unsync();
            let mut r = Response::new(body);
            *r.status_mut() =
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
            r.headers_mut()
                .insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(length));
            // No keep-alive: the answer's connection is done once written,
            // which ends the count above.
            r.headers_mut()
                .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
        None => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the director did not take the change (busy with another one, or the API is \
             restarting); try again\n",
        ),
    }
}

/// A connection carrying a change, from its request to its end: counted in
/// [`Context::answering`] while it lives.
struct Answering(Arc<Context>);

impl Answering {
    fn new(context: &Arc<Context>) -> Answering {
        context
            .answering
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Answering(Arc::clone(context))
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0
            .answering
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Let the request through, or the answer that refuses it: `403` with no
/// password configured, `429` while the client waits out its failures,
/// `401` for missing or wrong credentials.
async fn authorize(
    context: &Arc<Context>,
    client: IpAddr,
    request: &Request<Incoming>,
) -> Result<(), Response<Body>> {
    let Some(auth) = &context.auth else {
        return Err(plain(
            StatusCode::FORBIDDEN,
            "this box's API is read-only: [management] has no password_hash (make one with \
             `lvsinit password`)\n",
        ));
    };
    let header = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    match auth.check(config::canonical(client), header).await {
        Verdict::Allowed => Ok(()),
        Verdict::Wait(wait) => {
            Counters::hit(&context.counters.auth_waits);
            let seconds = wait.as_secs() + 1;
            let mut r = plain(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many wrong passwords from your address; try again in {seconds} s\n"),
            );
            r.headers_mut()
                .insert(hyper::header::RETRY_AFTER, HeaderValue::from(seconds));
            Err(r)
        }
        Verdict::Missing | Verdict::Wrong => {
            let mut r = plain(
                StatusCode::UNAUTHORIZED,
                "the password is missing or wrong (user admin, HTTP Basic)\n",
            );
            r.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"lvsinit\", charset=\"UTF-8\""),
            );
            Err(r)
        }
    }
}

/// A push's body: at most [`control::MAX_CONFIG_BYTES`], all of it within
/// the body timeout, UTF-8.
async fn read_body(
    context: &Arc<Context>,
    request: Request<Incoming>,
) -> Result<String, Response<Body>> {
    let collected = read_bytes(context, request, control::MAX_CONFIG_BYTES).await?;
    String::from_utf8(collected.to_vec()).map_err(|_| {
        plain(
            StatusCode::UNPROCESSABLE_ENTITY,
            "router.toml: error: the file is not UTF-8 text\n",
        )
    })
}

/// The whole body, at most `limit` bytes, within the body timeout; a body
/// cut short (the client gone half way) is an error, never a shorter body.
async fn read_bytes(
    context: &Arc<Context>,
    request: Request<Incoming>,
    limit: usize,
) -> Result<Bytes, Response<Body>> {
    let limited = http_body_util::Limited::new(request.into_body(), limit);
    let timeout = context.limits.body_read_timeout;
    let collected = match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => {
            Counters::hit(&context.counters.body_timeouts);
            return Err(plain(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {} s\n", timeout.as_secs()),
            ));
        }
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Counters::hit(&context.counters.with_body);
            return Err(too_large(limit));
        }
        Ok(Err(e)) => return Err(plain(StatusCode::BAD_REQUEST, format!("the body: {e}\n"))),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    Ok(collected)
}

fn too_large(limit: usize) -> Response<Body> {
    let what = match limit {
        control::MAX_IMAGE_BYTES => "a system image",
        _ => "a config",
    };
    plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{what} is at most {} MiB\n", limit / (1024 * 1024)),
    )
}

/// `Content-Length`, when the request gives one.
fn declared_length(request: &Request<Incoming>) -> Option<u64> {
    request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// True when the request says it carries a body.
fn has_body(request: &Request<Incoming>) -> bool {
    let headers = request.headers();
    headers.contains_key(hyper::header::TRANSFER_ENCODING)
        || headers
            .get(hyper::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

fn plain(status: StatusCode, text: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(
        Full::new(text.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn unavailable() -> Response<Body> {
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "the director did not answer in time; try again\n",
    )
}

/// A response whose body `render` writes on the blocking pool, in chunks
/// handed over as the client takes them.
fn streamed<F>(context: &Arc<Context>, content_type: &'static str, render: F) -> Response<Body>
where
    F: FnOnce(&mut Chunks) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let runtime = tokio::runtime::Handle::current();
    let timeout = context.limits.slow_client_timeout;
    let counters = Arc::clone(&context.counters);
    tokio::task::spawn_blocking(move || {
        let mut chunks = Chunks {
            buf: Vec::with_capacity(CHUNK_BYTES),
            tx,
            runtime,
            timeout,
            counters,
        };
        // An error is the client gone: nothing more to do.
        let _ = render(&mut chunks).and_then(|()| chunks.finish());
        // The snapshot went with `render` (unless another answer still
        // reads it): a big table's text and snapshot are worth giving back.
        drop(chunks);
        crate::malloc::trim();
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Some(Some(chunk)) => Some((Ok(Frame::data(chunk)), rx)),
            // The end, as the renderer marked it.
            Some(None) => None,
            // The renderer stopped short (an error, a stalled client):
            // abort, so the client cannot take half an answer for all.
            None => Some((Err(io::Error::from(io::ErrorKind::UnexpectedEof)), rx)),
        }
    });
    let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(stream)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A writer that hands [`CHUNK_BYTES`] at a time to the connection,
/// waiting while [`CHUNKS_IN_FLIGHT`] are not yet taken, and giving up
/// on a client that takes none for the slow-client timeout (so that a
/// few stalled readers cannot hold every renderer).
pub struct Chunks {
    buf: Vec<u8>,
    /// `None` marks the end: a channel closed without it is an answer
    /// cut short.
    tx: mpsc::Sender<Option<Bytes>>,
    runtime: tokio::runtime::Handle,
    timeout: std::time::Duration,
    counters: Arc<Counters>,
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.send(Some(chunk))
    }
}

impl Chunks {
    /// Hand over what is left and mark the end.
    fn finish(&mut self) -> io::Result<()> {
        self.flush()?;
        self.send(None)
    }

    fn send(&mut self, chunk: Option<Bytes>) -> io::Result<()> {
        // On the blocking pool: waiting here holds no runtime thread.
        match self
            .runtime
            .block_on(self.tx.send_timeout(chunk, self.timeout))
        {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                Counters::hit(&self.counters.slow_clients);
                Err(io::ErrorKind::TimedOut.into())
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }
}

/// `/log?follow=1`: the lines kept, then every new one as it comes; a
/// reader too slow for [`super::log::FOLLOW_BUFFER`] is told how many it
/// lost.
fn follow_log(context: &Arc<Context>) -> Response<Body> {
    let (kept, rx) = context.log.follow();
    let first: String = kept.iter().map(|l| l.console()).collect();
    let counters = Arc::clone(&context.counters);
    let stream = futures::stream::unfold(
        (Some(first), rx, counters),
        |(first, mut rx, counters)| async move {
            if let Some(first) = first {
                let first = Ok::<_, io::Error>(Frame::data(Bytes::from(first)));
                return Some((first, (None, rx, counters)));
            }
            let text = match rx.recv().await {
                Ok(line) => line.console(),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    Counters::add(&counters.follow_lost, n);
                    format!("... {n} lines lost (reading too slowly)\n")
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((
                Ok::<_, io::Error>(Frame::data(Bytes::from(text))),
                (None, rx, counters),
            ))
        },
    );
    let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(stream)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A snapshot every [`super::history::SAMPLE_EVERY`] for the charts.
pub async fn sample_history(context: Arc<Context>) {
    let mut tick = tokio::time::interval(super::history::SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(snapshot) = context.fresh.get().await {
            record(&context.history, &snapshot);
        }
    }
}

fn record(history: &Mutex<History>, snapshot: &Snapshot) {
    if let Ok(mut h) = history.lock() {
        h.record(snapshot);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write as _};
    use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::management::log::Severity;
    use crate::management::snapshot::tests::sample;
    use crate::management::{Handle, Keep, Setup};

    /// A server on 127.0.0.1 with a stand-in director answering every
    /// snapshot request with the sample box.
    struct Box_ {
        /// Shared with the stand-in director, which may stop the server.
        handle: Arc<std::sync::Mutex<Option<Handle>>>,
        addr: SocketAddr,
        keep: Keep,
        director: Option<std::thread::JoinHandle<()>>,
    }

    impl Drop for Box_ {
        fn drop(&mut self) {
            let handle = self.handle.lock().unwrap().take();
            drop(handle);
            if let Some(d) = self.director.take() {
                d.join().unwrap();
            }
        }
    }

    fn start(limits: Limits, allow: &[&str]) -> Box_ {
        start_slow(limits, allow, Duration::ZERO)
    }

    /// [`start`] with a director that takes `delay` to answer.
    fn start_slow(limits: Limits, allow: &[&str], delay: Duration) -> Box_ {
        start_with(limits, allow, delay, sample)
    }

    /// [`start_slow`] with the director's snapshots made by `make`.
    fn start_with(limits: Limits, allow: &[&str], delay: Duration, make: fn() -> Snapshot) -> Box_ {
        start_full(limits, allow, delay, make, None, None)
    }

    /// [`start_full`] whose stand-in director stops the server right
    /// after it answers a control, as a push of new `[management]` does.
    fn start_restarting(password_hash: String, answer_bytes: usize) -> Box_ {
        start_director(
            Limits::default(),
            &[],
            Duration::ZERO,
            sample,
            Some(password_hash),
            None,
            Some(answer_bytes),
        )
    }

    /// [`start_with`], writable with `password_hash`; the stand-in
    /// director answers each control with its debug form.
    fn start_full(
        limits: Limits,
        allow: &[&str],
        delay: Duration,
        make: fn() -> Snapshot,
        password_hash: Option<String>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Box_ {
        start_director(limits, allow, delay, make, password_hash, tls, None)
    }

    /// The server and its stand-in director; with `restart_answer`, each
    /// control is answered with that many bytes and the server stopped.
    fn start_director(
        limits: Limits,
        allow: &[&str],
        delay: Duration,
        make: fn() -> Snapshot,
        password_hash: Option<String>,
        tls: Option<Arc<rustls::ServerConfig>>,
        restart_answer: Option<usize>,
    ) -> Box_ {
        let listener = bind(&["127.0.0.1:0".parse().unwrap()]).unwrap().remove(0);
        let addr = listener.local_addr().unwrap();
        let keep = Keep::default();
        keep.log.push(
            Severity::Info,
            Duration::from_millis(980),
            "ready boot_ms=980",
        );
        let setup = Setup {
            management: Some(Management {
                listen: vec![addr],
                allow: allow.iter().map(|a| a.parse().unwrap()).collect(),
                tls: false,
                tls_files: None,
                password_hash,
                public_read: true,
                update_public_key: None,
                update_trial: Management::DEFAULT_UPDATE_TRIAL,
            }),
            listeners: vec![listener],
            syslog: vec![],
            webhooks: vec![],
            limits,
            version: "0.1.0".into(),
            tls,
        };
        let (handle, inbox) = Handle::start(setup, &keep).unwrap();
        let handle = Arc::new(std::sync::Mutex::new(Some(handle)));
        let stopper = Arc::clone(&handle);
        let crate::management::Inbox {
            mut snapshots,
            mut controls,
        } = inbox;
        let director = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                loop {
                    tokio::select! {
                        Some(request) = snapshots.recv() => {
                            tokio::time::sleep(delay).await;
                            request.answer(make());
                        }
                        Some(request) = controls.recv() => {
                            let text = format!("{:?}", request.control);
                            let Some(bytes) = restart_answer else {
                                request.answer(control::Answer::text(200, text));
                                continue;
                            };
                            request.answer(control::Answer::text(200, "x".repeat(bytes)));
                            // Stopped at once, as the director restarts
                            // the API a change moved.
                            let handle = stopper.lock().unwrap().take();
                            drop(handle);
                        }
                        else => break,
                    }
                }
            });
        });
        Box_ {
            handle,
            addr,
            keep,
            director: Some(director),
        }
    }

    /// A TCP connection to the server from `from` (a loopback address).
    fn connect_from(to: SocketAddr, from: Ipv4Addr) -> TcpStream {
        use nix::sys::socket::{
            AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, socket,
        };
        use std::os::fd::AsRawFd;
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .unwrap();
        bind(
            fd.as_raw_fd(),
            &SockaddrIn::from(SocketAddrV4::new(from, 0)),
        )
        .unwrap();
        let SocketAddr::V4(to) = to else {
            panic!("IPv4 only")
        };
        connect(fd.as_raw_fd(), &SockaddrIn::from(to)).unwrap();
        let stream = TcpStream::from(fd);
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// Send `request`, read the answer to the end: status and body
    /// (chunked encoding undone).
    fn exchange(stream: &mut TcpStream, request: &str) -> Option<(u16, String)> {
        stream.write_all(request.as_bytes()).ok()?;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw).to_string();
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split(' ').nth(1)?.parse().ok()?;
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        Some((status, body))
    }

    /// Undo chunked encoding; the body must end with its end mark.
    fn dechunk(mut body: &str) -> String {
        let mut out = String::new();
        loop {
            let (size, rest) = body.split_once("\r\n").expect("a chunk size line");
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                assert_eq!(rest, "\r\n", "the end mark ends the answer");
                return out;
            }
            out.push_str(&rest[..n]);
            body = &rest[n + 2..];
        }
    }

    fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut s = connect_from(addr, Ipv4Addr::LOCALHOST);
        exchange(
            &mut s,
            &format!("GET {path} HTTP/1.1\r\nHost: lvs\r\nConnection: close\r\n\r\n"),
        )
        .expect("an answer")
    }

    /// Wait up to a second for `done`.
    fn eventually(done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while !done() {
            assert!(Instant::now() < deadline, "not within a second");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// True when the server closes `stream` without answering.
    fn closed_unanswered(stream: &mut TcpStream) -> bool {
        let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: lvs\r\n\r\n");
        let mut buf = [0u8; 64];
        matches!(stream.read(&mut buf), Ok(0) | Err(_))
    }

    #[test]
    fn every_endpoint_answers() {
        let b = start(Limits::default(), &[]);
        let (code, page) = get(b.addr, "/");
        assert_eq!(code, 200);
        assert!(page.contains("<h3>postgres"), "{page}");
        let (code, status) = get(b.addr, "/status");
        assert_eq!(code, 200);
        let v: serde_json::Value = serde_json::from_str(&status).unwrap();
        assert_eq!(v["hostname"], "lvs-a");
        let (code, metrics) = get(b.addr, "/metrics");
        assert_eq!(code, 200);
        assert!(metrics.contains("\nnode_ipvs_connections_total 11\n"));
        let (code, log) = get(b.addr, "/log");
        assert_eq!(code, 200);
        assert_eq!(log, "[    0.980] ready boot_ms=980\n");
        assert_eq!(get(b.addr, "/nope").0, 404);
        let c = &b.keep.counters;
        assert_eq!(Counters::get(&c.not_found), 1);
        // The history sampler asked once at start; each page asked once.
        assert!(Counters::get(&c.snapshots) <= 4);
    }

    #[test]
    fn only_get_without_a_body() {
        let b = start(Limits::default(), &[]);
        let mut s = connect_from(b.addr, Ipv4Addr::LOCALHOST);
        let (code, _) = exchange(
            &mut s,
            "POST /metrics HTTP/1.1\r\nHost: lvs\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        assert_eq!(code, 405);
        let mut s = connect_from(b.addr, Ipv4Addr::LOCALHOST);
        let (code, _) = exchange(&mut s, "GET /status HTTP/1.1\r\nHost: lvs\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc").unwrap();
        assert_eq!(code, 413);
        let mut s = connect_from(b.addr, Ipv4Addr::LOCALHOST);
        let big = "x".repeat(MAX_HEADER_BYTES + 1);
        let answer = exchange(
            &mut s,
            &format!("GET / HTTP/1.1\r\nHost: lvs\r\nX-Big: {big}\r\n\r\n"),
        );
        assert_eq!(answer.map(|a| a.0), Some(431));
        let c = &b.keep.counters;
        assert_eq!(Counters::get(&c.bad_method), 1);
        assert_eq!(Counters::get(&c.with_body), 1);
        // Counted when the connection's task ends, maybe just after the
        // client saw it close.
        eventually(|| Counters::get(&c.header_too_large) == 1);
    }

    #[test]
    fn log_follow_streams_new_lines() {
        let b = start(Limits::default(), &[]);
        let mut s = connect_from(b.addr, Ipv4Addr::LOCALHOST);
        s.write_all(b"GET /log?follow=1 HTTP/1.1\r\nHost: lvs\r\n\r\n")
            .unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut pushed = false;
        while !seen.contains("a new line") && Instant::now() < deadline {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed early: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            if seen.contains("ready boot_ms=980") && !pushed {
                b.keep
                    .log
                    .push(Severity::Warning, Duration::from_secs(5), "a new line");
                pushed = true;
            }
        }
        assert!(seen.contains("[    5.000] warning: a new line\n"), "{seen}");
    }

    /// A client that sends half a request and waits, and one that sends
    /// nothing, are cut off after the header timeout.
    #[test]
    fn slowloris_is_cut_off() {
        let timeout = Duration::from_millis(400);
        let b = start(
            Limits {
                header_read_timeout: timeout,
                ..Limits::default()
            },
            &[],
        );
        let started = Instant::now();
        let mut slow = connect_from(b.addr, Ipv4Addr::LOCALHOST);
        slow.write_all(b"GET / HTTP/1.1\r\nHost: l").unwrap();
        let mut idle = connect_from(b.addr, Ipv4Addr::LOCALHOST);
        let mut buf = [0u8; 256];
        for s in [&mut slow, &mut idle] {
            // hyper may say 408 before closing; either way, then EOF.
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"))
                    }
                }
            }
        }
        let took = started.elapsed();
        assert!(took >= timeout, "cut after {took:?}");
        assert!(took < timeout * 5, "cut only after {took:?}");
        eventually(|| Counters::get(&b.keep.counters.header_timeouts) == 2);
        // The server still answers others.
        assert_eq!(get(b.addr, "/log").0, 200);
    }

    #[test]
    fn connection_limits() {
        let b = start(
            Limits {
                max_connections: 3,
                max_connections_per_client: 2,
                ..Limits::default()
            },
            &[],
        );
        let a = Ipv4Addr::new(127, 0, 0, 1);
        let held: Vec<TcpStream> = (0..2).map(|_| connect_from(b.addr, a)).collect();
        // Give the server time to count them.
        std::thread::sleep(Duration::from_millis(200));
        let mut third = connect_from(b.addr, a);
        assert!(
            closed_unanswered(&mut third),
            "a third from one client is closed"
        );
        let other = connect_from(b.addr, Ipv4Addr::new(127, 0, 0, 2));
        std::thread::sleep(Duration::from_millis(200));
        let mut fourth = connect_from(b.addr, Ipv4Addr::new(127, 0, 0, 3));
        assert!(closed_unanswered(&mut fourth), "a fourth in all is closed");
        let c = &b.keep.counters;
        assert_eq!(Counters::get(&c.refused_client_limit), 1);
        assert_eq!(Counters::get(&c.refused_total_limit), 1);
        // Closing them frees the slots.
        drop(held);
        drop(other);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(get(b.addr, "/log").0, 200);
    }

    #[test]
    fn allow_list_closes_others() {
        let b = start(Limits::default(), &["127.0.0.2/32"]);
        let mut outsider = connect_from(b.addr, Ipv4Addr::LOCALHOST);
        assert!(closed_unanswered(&mut outsider));
        let mut insider = connect_from(b.addr, Ipv4Addr::new(127, 0, 0, 2));
        let (code, _) = exchange(
            &mut insider,
            "GET /log HTTP/1.1\r\nHost: lvs\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        assert_eq!(code, 200);
        assert_eq!(Counters::get(&b.keep.counters.refused_allow), 1);
    }

    #[test]
    fn concurrent_scrapes_share_one_snapshot() {
        let b = start_slow(Limits::default(), &[], Duration::from_millis(300));
        // Let the history sampler's first question be answered.
        std::thread::sleep(Duration::from_millis(500));
        let before = Counters::get(&b.keep.counters.snapshots);
        let addr = b.addr;
        let scrapes: Vec<_> = (0..5)
            .map(|_| std::thread::spawn(move || get(addr, "/metrics")))
            .collect();
        for s in scrapes {
            let (code, text) = s.join().unwrap();
            assert_eq!(code, 200);
            assert!(text.contains("node_ipvs_backend_weight"));
        }
        let asked = Counters::get(&b.keep.counters.snapshots) - before;
        // Five scrapes within the director's 300 ms: one question, or two
        // when a scrape came just after the first answer.
        assert!((1..=2).contains(&asked), "{asked} snapshots for 5 scrapes");
    }

    /// The benchmark's 1,000 × 10 scrape over loopback, natively: the
    /// time from the request to the last byte (`cargo test --release
    /// --lib scrape_1000x10 -- --ignored --nocapture`).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn scrape_1000x10() {
        use std::sync::OnceLock;
        static TABLE: OnceLock<Snapshot> = OnceLock::new();
        TABLE.get_or_init(|| crate::management::snapshot::tests::big_table(1000, 10));
        let b = start_with(Limits::default(), &[], Duration::ZERO, || {
            TABLE.get().unwrap().clone()
        });
        let mut times = Vec::new();
        for _ in 0..7 {
            let started = Instant::now();
            let mut s = connect_from(b.addr, Ipv4Addr::LOCALHOST);
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: lvs\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0;
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
            times.push(started.elapsed());
            assert!(total > 30_000_000, "{total} bytes");
        }
        times.sort();
        println!("scrape 1000x10: median {:?} (min {:?})", times[3], times[0]);
    }

    /// A client that asks for a big scrape and reads nothing is cut off
    /// after the slow-client timeout; the renderer is free again.
    #[test]
    fn a_stalled_reader_is_cut_off() {
        let b = start_with(
            Limits {
                slow_client_timeout: Duration::from_millis(300),
                ..Limits::default()
            },
            &[],
            Duration::ZERO,
            || crate::management::snapshot::tests::big(10_000),
        );
        let mut s = connect_from(b.addr, Ipv4Addr::LOCALHOST);
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: lvs\r\n\r\n")
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Counters::get(&b.keep.counters.slow_clients) == 0 {
            assert!(
                Instant::now() < deadline,
                "the stalled reader was not cut off"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // What it gets now ends short, without chunked encoding's end
        // mark: no client can take it for the whole scrape.
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        assert!(got.len() < 8_000_000, "{} bytes", got.len());
        assert!(!got.ends_with(b"\r\n0\r\n\r\n"), "a cut answer looks whole");
        assert_eq!(get(b.addr, "/log").0, 200);
    }

    /// The answer to a change that restarts the API (the stand-in
    /// director stops the server the moment it has answered) arrives
    /// whole, every time.
    #[test]
    fn the_answer_to_a_change_that_restarts_the_api_arrives_whole() {
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode("admin:pw");
        let hash = crate::management::auth::hash("pw").unwrap();
        for _ in 0..20 {
            let b = start_restarting(hash.clone(), 300_000);
            let (code, body) = request(b.addr, "POST", "/reload", &basic, "");
            assert_eq!(code, 200);
            // Answer::text ends the text with a newline.
            assert_eq!(body.len(), 300_001, "the answer was cut short");
        }
    }

    /// The write half: 403 without a password_hash, 401 without or with
    /// wrong credentials (then 429), the director asked with the decoded
    /// request, 413 for a config over 4 MiB, 405 for a wrong method.
    #[test]
    fn writes_need_the_password() {
        use base64::Engine as _;
        let basic = |password: &str| {
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"))
        };
        let read_only = start(Limits::default(), &[]);
        let (code, body) = request(read_only.addr, "POST", "/reload", &basic("pw"), "");
        assert_eq!(code, 403, "{body}");
        drop(read_only);

        let b = start_full(
            Limits::default(),
            &[],
            Duration::ZERO,
            sample,
            Some(crate::management::auth::hash("pw").unwrap()),
            None,
        );
        let (code, body) = request(b.addr, "POST", "/reload", "", "");
        assert_eq!(code, 401, "{body}");
        let (code, body) = request(b.addr, "POST", "/reload", &basic("pw"), "");
        assert_eq!((code, body.as_str()), (200, "Reload\n"));
        let (code, body) = request(
            b.addr,
            "PUT",
            "/config?dry_run=1",
            &basic("pw"),
            "hostname = \"x\"\n",
        );
        assert_eq!(code, 200);
        assert!(
            body.starts_with(
                "Push { text: \"hostname = \\\"x\\\"\\n\", dry_run: true, confirm: None }"
            ),
            "{body}"
        );
        let (code, body) = request(
            b.addr,
            "POST",
            "/services/pg/real-servers/192.168.3.2%3A5432/drain",
            &basic("pw"),
            "",
        );
        assert_eq!(code, 200);
        assert!(body.contains("drain: true"), "{body}");
        let (code, _) = request(b.addr, "GET", "/reload", &basic("pw"), "");
        assert_eq!(code, 405);
        let (code, _) = request(b.addr, "POST", "/nothing", &basic("pw"), "");
        assert_eq!(code, 404);
        let big = "#".repeat(control::MAX_CONFIG_BYTES + 1);
        let (code, _) = request(b.addr, "PUT", "/config", &basic("pw"), &big);
        assert_eq!(code, 413);
        // Five wrong tries are free; the sixth makes the address wait.
        for _ in 0..6 {
            let (code, _) = request(b.addr, "POST", "/reload", &basic("nope"), "");
            assert_eq!(code, 401);
        }
        let (code, _) = request(b.addr, "POST", "/reload", &basic("pw"), "");
        assert_eq!(code, 429);
        assert_eq!(Counters::get(&b.keep.counters.auth_failures), 6);
    }

    /// Over TLS, with the operator's own client: the pinned fingerprint
    /// and the password get a change through; another fingerprint is
    /// refused before anything is sent; plain HTTP gets no answer.
    #[test]
    fn tls_with_the_client() {
        let management = Management {
            listen: vec!["127.0.0.1:8443".parse().unwrap()],
            allow: vec![],
            tls: true,
            tls_files: None,
            password_hash: None,
            public_read: true,
            update_public_key: None,
            update_trial: Management::DEFAULT_UPDATE_TRIAL,
        };
        let identity = super::super::tls::identity(&management, None).unwrap();
        let b = start_full(
            Limits::default(),
            &[],
            Duration::ZERO,
            sample,
            Some(crate::management::auth::hash("pw").unwrap()),
            Some(identity.server_config().unwrap()),
        );
        let url = format!("https://{}", b.addr);
        let run = |fingerprint: &str, command: &[&str]| {
            let mut env = crate::remote::Env {
                password: Some("pw".into()),
                ask: Box::new(|_| Err(io::Error::other("no terminal in a test"))),
            };
            let mut args: Vec<String> = ["--url", &url, "--fingerprint", fingerprint]
                .iter()
                .map(|a| a.to_string())
                .collect();
            args.extend(command.iter().map(|a| a.to_string()));
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let exit = crate::remote::run(&args, &mut env, &mut out, &mut err);
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
            (exit.code(), text)
        };
        let (code, text) = run(&identity.fingerprint, &["reload"]);
        assert_eq!(code, 0, "{text}");
        let (code, text) = run(&identity.fingerprint, &["status"]);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("lvs-a"), "{text}");
        let other = format!("SHA256:{}", "11".repeat(32));
        let (code, text) = run(&other, &["reload"]);
        assert_eq!(code, 3, "{text}");
        let mut s = TcpStream::connect(b.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(b"GET /status HTTP/1.1\r\nHost: lvs\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        assert!(
            !answer.starts_with(b"HTTP/"),
            "plain HTTP answered on a TLS port"
        );
        // Both handshakes failed: the client that refused the certificate
        // and the plain HTTP request (counted once the server sees each).
        let counted = Instant::now();
        while Counters::get(&b.keep.counters.tls_failures) < 2
            && counted.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(Counters::get(&b.keep.counters.tls_failures), 2);
    }

    /// One request with Basic credentials `basic` (none when empty).
    fn request(
        addr: SocketAddr,
        method: &str,
        path: &str,
        basic: &str,
        body: &str,
    ) -> (u16, String) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let auth = match basic {
            "" => String::new(),
            b => format!("Authorization: Basic {b}\r\n"),
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: lvs\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        // A refused body may be cut off: the answer still comes.
        let _ = s.write_all(body.as_bytes());
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer).into_owned();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status in {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }
}
