//! `lvsinit remote` against a real TLS server in the test: rcgen's
//! self-signed certificate for 127.0.0.1, tokio-rustls and hyper's
//! server on a thread of their own, answering what each test says and
//! keeping what the client sent.

use std::convert::Infallible;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::AUTHORIZATION;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, SupportedProtocolVersion};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use super::*;
use crate::management::snapshot::tests::sample;
use crate::management::status;

/// What the client sent, as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    authorization: Option<String>,
    content_type: Option<String>,
    /// `Lvsinit-Signature`, sent with `update`.
    signature: Option<String>,
    body: Vec<u8>,
}

type Answer = Response<BoxBody<Bytes, Infallible>>;

fn answer(status: u16, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r
}

/// A certificate for 127.0.0.1 and its key.
struct Cert {
    der: CertificateDer<'static>,
    key: Vec<u8>,
    pem: String,
}

fn cert() -> Cert {
    cert_for("127.0.0.1")
}

fn cert_for(san: &str) -> Cert {
    let made = rcgen::generate_simple_self_signed(vec![san.to_string()]).unwrap();
    Cert {
        der: made.cert.der().clone(),
        key: made.signing_key.serialize_der(),
        pem: made.cert.pem(),
    }
}

/// The test box: its address, its certificate, what it was sent.
struct TestBox {
    addr: SocketAddr,
    cert: Cert,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestBox {
    fn start(answers: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> TestBox {
        TestBox::build(
            "127.0.0.1",
            &[&rustls::version::TLS13, &rustls::version::TLS12],
            answers,
        )
    }

    /// A box with a certificate for `san`, speaking `versions`.
    fn build(
        san: &str,
        versions: &[&'static SupportedProtocolVersion],
        answers: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
    ) -> TestBox {
        let cert = cert_for(san);
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![cert.der.clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key.clone())),
                )
                .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = oneshot::channel();
        let answers = Arc::new(answers);
        let kept = Arc::clone(&seen);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(serve(listener, acceptor, kept, answers, stopped));
        });
        TestBox {
            addr,
            cert,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn fingerprint(&self) -> String {
        Fingerprint::of(&self.cert.der).to_string()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for TestBox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: TlsAcceptor,
    seen: Arc<Mutex<Vec<Seen>>>,
    answers: Arc<dyn Fn(&Seen) -> Answer + Send + Sync>,
    mut stopped: oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => accepted.unwrap().0,
            _ = &mut stopped => return,
        };
        let acceptor = acceptor.clone();
        let seen = Arc::clone(&seen);
        let answers = Arc::clone(&answers);
        tokio::spawn(async move {
            // A client that refuses the certificate ends the handshake.
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let seen = Arc::clone(&seen);
                let answers = Arc::clone(&answers);
                async move {
                    let header = |name| {
                        req.headers()
                            .get(name)
                            .map(|v: &hyper::header::HeaderValue| v.to_str().unwrap().to_string())
                    };
                    let mut request = Seen {
                        method: req.method().to_string(),
                        path: req.uri().path().to_string(),
                        query: req.uri().query().map(str::to_string),
                        authorization: header(AUTHORIZATION),
                        content_type: header(hyper::header::CONTENT_TYPE),
                        signature: header(hyper::header::HeaderName::from_static(
                            "lvsinit-signature",
                        )),
                        body: Vec::new(),
                    };
                    request.body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                    seen.lock().unwrap().push(request.clone());
                    Ok::<_, Infallible>(answers(&request))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

/// A `Write` the test can read while the client still runs.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// One run of the command, and what it printed.
struct Ran {
    exit: Exit,
    out: Vec<u8>,
    err: String,
    asked: usize,
}

impl Ran {
    fn out(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }
}

/// Run `lvsinit remote` with `args`; `env_password` stands for
/// `LVSINIT_PASSWORD`, and a prompt would answer `typed`.
fn remote(args: &[&str], env_password: Option<&str>, typed: &str) -> Ran {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let typed = typed.to_string();
    let mut env = Env {
        password: env_password.map(str::to_string),
        ask: Box::new(move |prompt| {
            assert!(
                prompt.starts_with("Password for admin at 127.0.0.1:"),
                "{prompt}"
            );
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(typed.clone())
        }),
    };
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = run(&args, &mut env, &mut out, &mut err);
    Ran {
        exit,
        out,
        err: String::from_utf8_lossy(&err).into_owned(),
        asked: asked.load(Ordering::SeqCst),
    }
}

fn status_json() -> Vec<u8> {
    let mut out = Vec::new();
    status::render(&mut out, &sample(), "0.1.0").unwrap();
    out
}

fn temp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lvsinit-remote-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn status_with_the_fingerprint() {
    let json = status_json();
    let b = TestBox::start(move |_| answer(200, json.clone()));
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &b.fingerprint(),
            "status",
        ],
        None,
        "x",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
    assert_eq!(
        ran.out(),
        table::render(&serde_json::from_slice(&status_json()).unwrap())
    );
    assert!(
        ran.out().starts_with("hostname    lvs-a\n"),
        "{}",
        ran.out()
    );
    let seen = b.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/status")
    );
    // A read with no password at hand goes without, and asks nobody.
    assert_eq!(seen[0].authorization, None);
    assert_eq!(ran.asked, 0);
}

/// The fingerprint verifier checks TLS 1.2's handshake signature too.
#[test]
fn tls12_only_box() {
    let b = TestBox::build("127.0.0.1", &[&rustls::version::TLS12], |_| {
        answer(200, "{}")
    });
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &b.fingerprint(),
            "status",
        ],
        None,
        "x",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
    assert_eq!(b.seen().len(), 1);
}

#[test]
fn fingerprint_with_colons_and_capitals() {
    let b = TestBox::start(|_| answer(200, "{}"));
    let hex = b.fingerprint()["SHA256:".len()..].to_uppercase();
    let pairs: Vec<&str> = (0..32).map(|i| &hex[2 * i..2 * i + 2]).collect();
    let pin = format!("sha256:{}", pairs.join(":"));
    let ran = remote(
        &["--url", &b.url(), "--fingerprint", &pin, "status"],
        None,
        "x",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
}

#[test]
fn fingerprint_mismatch() {
    let b = TestBox::start(|_| answer(200, "{}"));
    let other = Fingerprint::of(&cert().der).to_string();
    let ran = remote(
        &["--url", &b.url(), "--fingerprint", &other, "status"],
        Some("secret"),
        "x",
    );
    assert_eq!(ran.exit, Exit::Unreachable);
    assert!(ran.err.contains(&b.fingerprint()), "{}", ran.err);
    assert!(ran.err.contains(&other), "{}", ran.err);
    assert!(
        ran.err.starts_with("lvsinit remote: the box at 127.0.0.1:"),
        "{}",
        ran.err
    );
    // Nothing, and no password, went to the wrong box.
    assert!(b.seen().is_empty());
}

#[test]
fn no_trust_shows_the_fingerprint() {
    let b = TestBox::start(|_| answer(200, "{}"));
    let ran = remote(&["--url", &b.url(), "status"], Some("secret"), "x");
    assert_eq!(ran.exit, Exit::Unreachable);
    let fingerprint = b.fingerprint();
    assert_eq!(fingerprint.len(), "SHA256:".len() + 64);
    assert!(
        ran.err
            .contains(&format!("presented the certificate {fingerprint}")),
        "{}",
        ran.err
    );
    assert!(
        ran.err.contains(&format!("--fingerprint {fingerprint}")),
        "{}",
        ran.err
    );
    assert!(ran.err.contains("console"), "{}", ran.err);
    assert!(b.seen().is_empty());
}

#[test]
fn ca_file_for_an_ip_address() {
    let b = TestBox::start(|_| answer(200, "{}"));
    let ca = temp_file("ca.pem", b.cert.pem.as_bytes());
    let ran = remote(
        &["--url", &b.url(), "--ca", ca.to_str().unwrap(), "status"],
        None,
        "x",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
    assert_eq!(b.seen().len(), 1);

    // Another certificate as the CA: the box's is not trusted.
    let wrong = temp_file("wrong-ca.pem", cert().pem.as_bytes());
    let ran = remote(
        &["--url", &b.url(), "--ca", wrong.to_str().unwrap(), "status"],
        None,
        "x",
    );
    assert_eq!(ran.exit, Exit::Unreachable);
    assert!(ran.err.contains("TLS handshake failed"), "{}", ran.err);
    assert!(ran.err.contains("--ca"), "{}", ran.err);
    assert_eq!(b.seen().len(), 1);
}

/// With `--ca` the certificate must be for the URL's IP address: the
/// box's own certificate, trusted, but made for 127.0.0.2, is refused
/// at 127.0.0.1.
#[test]
fn ca_checks_the_ip_address() {
    let b = TestBox::build("127.0.0.2", &[&rustls::version::TLS13], |_| {
        answer(200, "{}")
    });
    let ca = temp_file("other-ip.pem", b.cert.pem.as_bytes());
    let ran = remote(
        &["--url", &b.url(), "--ca", ca.to_str().unwrap(), "status"],
        None,
        "x",
    );
    assert_eq!(ran.exit, Exit::Unreachable, "{}", ran.err);
    assert!(ran.err.contains("TLS handshake failed"), "{}", ran.err);
    assert!(b.seen().is_empty());
    // The same box by fingerprint: names do not matter.
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &b.fingerprint(),
            "status",
        ],
        None,
        "x",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
}

#[test]
fn basic_credentials_from_the_environment_and_a_file() {
    let b = TestBox::start(|_| answer(200, "{}"));
    let pin = b.fingerprint();
    let ran = remote(
        &["--url", &b.url(), "--fingerprint", &pin, "status"],
        Some("s3cret"),
        "x",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
    let file = temp_file("password", b"from file\nsecond line\n");
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &pin,
            "--password-file",
            file.to_str().unwrap(),
            "status",
        ],
        Some("s3cret"),
        "x",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
    let seen = b.seen();
    // base64("admin:s3cret"), base64("admin:from file").
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Basic YWRtaW46czNjcmV0")
    );
    assert_eq!(
        seen[1].authorization.as_deref(),
        Some("Basic YWRtaW46ZnJvbSBmaWxl")
    );
    assert_eq!(ran.asked, 0);
}

#[test]
fn drain_and_enable_encode_their_names() {
    let b = TestBox::start(|_| answer(200, r#"{"message": "drained"}"#));
    let pin = b.fingerprint();
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &pin,
            "drain",
            "web/eu 1",
            "[2001:db8::2]:80",
        ],
        None,
        "typed pw",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
    assert_eq!(ran.out(), "drained\n");
    // A write asks for the password before sending anything.
    assert_eq!(ran.asked, 1);
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &pin,
            "enable",
            "postgres",
            "192.168.3.2:5432",
        ],
        Some("pw"),
        "x",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
    assert_eq!(ran.asked, 0);
    let seen = b.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(
        seen[0].path,
        "/services/web%2Feu%201/real-servers/%5B2001%3Adb8%3A%3A2%5D%3A80/drain"
    );
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Basic YWRtaW46dHlwZWQgcHc=")
    );
    assert_eq!(
        seen[1].path,
        "/services/postgres/real-servers/192.168.3.2%3A5432/enable"
    );
}

#[test]
fn a_read_asks_for_the_password_after_401() {
    let b = TestBox::start(|seen| match &seen.authorization {
        None => answer(401, "the password is needed"),
        Some(_) => answer(200, "[service]\n"),
    });
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &b.fingerprint(),
            "config",
            "get",
        ],
        None,
        "pw",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
    assert_eq!(ran.out(), "[service]\n");
    assert_eq!(ran.asked, 1);
    let seen = b.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].authorization, None);
    assert_eq!(seen[1].authorization.as_deref(), Some("Basic YWRtaW46cHc="));
}

#[test]
fn wrong_password_is_refused() {
    let b = TestBox::start(|_| answer(401, r#"{"error": "wrong password"}"#));
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &b.fingerprint(),
            "reload",
        ],
        Some("bad"),
        "x",
    );
    assert_eq!(ran.exit, Exit::Refused);
    assert!(
        ran.err
            .starts_with("lvsinit remote: the box answered 401 Unauthorized: wrong password"),
        "{}",
        ran.err
    );
    assert_eq!((ran.asked, b.seen().len()), (0, 1));
    assert_eq!(b.seen()[0].path, "/reload");
}

#[test]
fn too_many_requests_says_when_to_retry() {
    let b = TestBox::start(|_| {
        let mut a = answer(429, "slow down");
        a.headers_mut()
            .insert(hyper::header::RETRY_AFTER, "30".parse().unwrap());
        a
    });
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &b.fingerprint(),
            "reboot",
        ],
        Some("pw"),
        "x",
    );
    assert_eq!(ran.exit, Exit::Refused);
    assert_eq!(
        ran.err,
        "lvsinit remote: the box answered 429 Too Many Requests: slow down (try again in 30 s)\n"
    );
}

#[test]
fn config_push_prints_the_changes() {
    let b = TestBox::start(|seen| {
        let body = if seen.query.as_deref() == Some("dry_run=1") {
            r#"{"changes": ["-E -t 192.168.1.100:5432 -s wrr"], "persisted": false, "confirm_by": null}"#
        } else {
            r#"{"changes": ["-A -t 192.168.1.100:5432 -s wrr", "-a -t 192.168.1.100:5432 -r 192.168.3.2:5432 -m -w 1"],
                "persisted": true, "confirm_by": "2026-12-04T19:00:00Z"}"#
        };
        answer(200, body)
    });
    let toml = b"[[service]]\nname = \"postgres\"\r\n\xff";
    let file = temp_file("push.toml", toml);
    let file = file.to_str().unwrap();
    let pin = b.fingerprint();
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &pin,
            "config",
            "push",
            file,
            "--confirm",
            "60s",
        ],
        Some("pw"),
        "x",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
    assert_eq!(
        ran.out(),
        "-A -t 192.168.1.100:5432 -s wrr\n-a -t 192.168.1.100:5432 -r 192.168.3.2:5432 -m -w 1\n\
         persisted: yes\nconfirm by: 2026-12-04T19:00:00Z \
         (lvsinit remote ... config confirm; else the box goes back)\n"
    );
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &pin,
            "--dry-run",
            "config",
            "push",
            file,
        ],
        Some("pw"),
        "x",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
    assert_eq!(
        ran.out(),
        "-E -t 192.168.1.100:5432 -s wrr\ndry run: nothing was applied\n"
    );
    let seen = b.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("PUT", "/config")
    );
    assert_eq!(seen[0].query.as_deref(), Some("confirm=60s"));
    assert_eq!(seen[0].body, toml);
    assert_eq!(seen[0].content_type.as_deref(), Some("application/toml"));
    assert_eq!(seen[1].query.as_deref(), Some("dry_run=1"));
    assert_eq!(seen[1].body, toml);
}

#[test]
fn config_push_refused_with_diagnostics() {
    let diagnostics = "router.toml:12:5: error: service[0].scheduler: unknown scheduler \"wrrr\", did you mean \"wrr\"?\n";
    let b = TestBox::start(move |_| answer(422, diagnostics));
    let file = temp_file("bad.toml", b"[[service]]\n");
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &b.fingerprint(),
            "config",
            "push",
            file.to_str().unwrap(),
        ],
        Some("pw"),
        "x",
    );
    assert_eq!(ran.exit, Exit::Refused);
    assert!(ran.out.is_empty());
    assert!(ran.err.starts_with(diagnostics), "{}", ran.err);
    assert!(ran.err.ends_with("nothing was applied\n"), "{}", ran.err);
}

#[test]
fn config_get_is_byte_for_byte() {
    let body: &[u8] = b"# router.toml\r\n\x00\xfe no newline at the end";
    let b = TestBox::start(move |_| answer(200, body));
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &b.fingerprint(),
            "config",
            "get",
        ],
        Some("pw"),
        "x",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
    assert_eq!(ran.out, body);
    assert_eq!(b.seen()[0].path, "/config");
}

#[test]
fn posts_say_what_the_box_said() {
    let b = TestBox::start(|seen| match seen.path.as_str() {
        "/config/confirm" => answer(200, r#"{"persisted": true}"#),
        "/poweroff" => answer(202, ""),
        _ => answer(404, "no such thing"),
    });
    let pin = b.fingerprint();
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &pin,
            "config",
            "confirm",
        ],
        Some("pw"),
        "x",
    );
    assert_eq!(
        (ran.exit, ran.out().as_str()),
        (Exit::Done, "persisted: yes\n"),
        "{}",
        ran.err
    );
    let ran = remote(
        &["--url", &b.url(), "--fingerprint", &pin, "poweroff"],
        Some("pw"),
        "x",
    );
    assert_eq!(
        (ran.exit, ran.out().as_str()),
        (Exit::Done, "done\n"),
        "{}",
        ran.err
    );
    assert_eq!(b.seen()[0].method, "POST");
}

/// Each piece of a followed log is printed when it comes: the box sends
/// its second line only once the first is in the client's output.
#[test]
fn log_follow_streams() {
    let out = Shared::default();
    let watched = out.clone();
    let first_seen_in_time = Arc::new(Mutex::new(None));
    let result = Arc::clone(&first_seen_in_time);
    let b = TestBox::start(move |_| {
        let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
        let watched = watched.clone();
        let result = Arc::clone(&result);
        tokio::spawn(async move {
            use futures::SinkExt as _;
            tx.send(Ok(Frame::data(Bytes::from("boot: one\n"))))
                .await
                .unwrap();
            let mut waited = Duration::ZERO;
            while !watched.text().contains("boot: one\n") && waited < Duration::from_secs(5) {
                tokio::time::sleep(Duration::from_millis(10)).await;
                waited += Duration::from_millis(10);
            }
            *result.lock().unwrap() = Some(watched.text() == "boot: one\n");
            tx.send(Ok(Frame::data(Bytes::from("boot: two\n"))))
                .await
                .unwrap();
        });
        Response::new(BodyExt::boxed(StreamBody::new(rx)))
    });
    let args: Vec<String> = [
        "--url",
        &b.url(),
        "--fingerprint",
        &b.fingerprint(),
        "log",
        "--follow",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let mut env = Env {
        password: Some("pw".into()),
        ask: Box::new(|_| panic!("not asked")),
    };
    let mut err = Vec::new();
    let exit = run(&args, &mut env, &mut out.clone(), &mut err);
    assert_eq!(exit, Exit::Done, "{}", String::from_utf8_lossy(&err));
    assert_eq!(*first_seen_in_time.lock().unwrap(), Some(true));
    assert_eq!(out.text(), "boot: one\nboot: two\n");
    assert_eq!(b.seen()[0].query.as_deref(), Some("follow=1"));
}

#[test]
fn usage_errors_exit_2() {
    for (args, says) in [
        (
            vec!["--url", "http://127.0.0.1:8443", "status"],
            "never sent in clear",
        ),
        (
            vec!["--url", "https://127.0.0.1:8443", "frobnicate"],
            "unknown command",
        ),
        (
            vec![
                "--url",
                "https://127.0.0.1:8443",
                "drain",
                "web",
                "10.0.0.1",
            ],
            "IP:PORT",
        ),
        (
            vec![
                "--url",
                "https://127.0.0.1:8443",
                "status",
                "--password-file",
                "/nonexistent/pw",
            ],
            "/nonexistent/pw",
        ),
        (
            vec![
                "--url",
                "https://127.0.0.1:8443",
                "--ca",
                "/nonexistent/ca.pem",
                "status",
            ],
            "/nonexistent/ca.pem",
        ),
        (vec![], "--url https://IP:PORT is required"),
    ] {
        let ran = remote(&args, None, "x");
        assert_eq!(ran.exit, Exit::Usage, "{args:?}: {}", ran.err);
        assert!(ran.err.starts_with("lvsinit remote: "), "{}", ran.err);
        assert!(ran.err.contains(says), "{args:?}: {}", ran.err);
    }
    let ran = remote(&["--url", "https://127.0.0.1:8443", "bogus"], None, "x");
    assert!(ran.err.contains(USAGE), "{}", ran.err);
    let ran = remote(&["--help"], None, "x");
    assert_eq!((ran.exit, ran.out()), (Exit::Done, USAGE.to_string()));
}

#[test]
fn nothing_listening_exits_3() {
    // A port that was just free: nothing listens on it now.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let pin = Fingerprint::of(b"").to_string();
    let ran = remote(
        &[
            "--url",
            &format!("https://{addr}"),
            "--fingerprint",
            &pin,
            "status",
        ],
        None,
        "x",
    );
    assert_eq!(ran.exit, Exit::Unreachable);
    assert!(
        ran.err.contains(&format!("cannot connect to {addr}")),
        "{}",
        ran.err
    );
}

/// A box that accepts the connection and never answers: the client
/// gives up at the connect timeout instead of hanging.
#[test]
fn a_silent_box_times_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let pin = Fingerprint::of(b"").to_string();
    let started = std::time::Instant::now();
    let ran = remote(
        &[
            "--url",
            &format!("https://{addr}"),
            "--fingerprint",
            &pin,
            "status",
        ],
        None,
        "x",
    );
    assert_eq!(ran.exit, Exit::Unreachable);
    assert!(ran.err.contains("no connection within 10 s"), "{}", ran.err);
    assert!(started.elapsed() >= http::CONNECT_TIMEOUT);
    drop(listener);
}

/// A directory of its own for one test's files.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lvsinit-remote-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A signature file's line: well formed (the box, not the client,
/// checks that it matches).
fn signature_line(byte: u8) -> String {
    crate::update::signature::text(&[byte; 64])
}

/// `update FILE`: the image byte for byte as the body of PUT /update,
/// the signature from FILE.sig (said on stderr) trimmed in its header,
/// and the box's answer in words.
#[test]
fn update_sends_the_image_and_its_signature() {
    let b = TestBox::start(|seen| match (seen.method.as_str(), seen.path.as_str()) {
        ("PUT", "/update") => answer(
            200,
            r#"{"message": "written to slot B; reboot to try 0.2.0 for 120s"}"#,
        ),
        _ => answer(404, "no such thing"),
    });
    let dir = temp_dir("update");
    let image: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 256) as u8).collect();
    let file = dir.join("bzImage");
    std::fs::write(&file, &image).unwrap();
    let line = signature_line(7);
    std::fs::write(dir.join("bzImage.sig"), format!("{line}\n")).unwrap();
    let file = file.to_str().unwrap();
    let pin = b.fingerprint();
    let ran = remote(
        &["--url", &b.url(), "--fingerprint", &pin, "update", file],
        None,
        "pw",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
    assert_eq!(
        ran.out(),
        "written to slot B; reboot to try 0.2.0 for 120s\n"
    );
    assert_eq!(
        ran.err,
        format!("lvsinit remote: signature from {file}.sig\n")
    );
    // A write: the password was asked for before anything was sent.
    assert_eq!(ran.asked, 1);
    let seen = b.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("PUT", "/update")
    );
    assert_eq!(seen[0].body, image);
    assert_eq!(seen[0].signature.as_deref(), Some(line.as_str()));
    assert_eq!(
        seen[0].content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert!(seen[0].authorization.is_some());
    // --signature wins over FILE.sig, and says nothing of it.
    let other = dir.join("other.sig");
    std::fs::write(&other, format!("  {}\r\n", signature_line(9))).unwrap();
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &pin,
            "update",
            file,
            "--signature",
            other.to_str().unwrap(),
        ],
        Some("pw"),
        "x",
    );
    assert_eq!(ran.exit, Exit::Done, "{}", ran.err);
    assert_eq!(ran.err, "");
    assert_eq!(
        b.seen()[1].signature.as_deref(),
        Some(signature_line(9).as_str())
    );
}

/// The box's refusal (a signature that does not verify) is its text,
/// exit 1.
#[test]
fn update_refused_by_the_box() {
    let b = TestBox::start(|_| {
        answer(
            403,
            r#"{"error": "the signature does not match: the image is not the one that was signed, or it was signed with another key than the box's update_public_key"}"#,
        )
    });
    let dir = temp_dir("update-refused");
    let file = dir.join("bzImage");
    std::fs::write(&file, b"MZ not really a kernel").unwrap();
    let sig = dir.join("b.sig");
    std::fs::write(&sig, signature_line(1)).unwrap();
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &b.fingerprint(),
            "update",
            file.to_str().unwrap(),
            "--signature",
            sig.to_str().unwrap(),
        ],
        Some("pw"),
        "x",
    );
    assert_eq!(ran.exit, Exit::Refused);
    assert_eq!(
        ran.err,
        "lvsinit remote: the box answered 403 Forbidden: the signature does not match: the \
         image is not the one that was signed, or it was signed with another key than the box's \
         update_public_key\n"
    );
}

/// What the client can tell before sending: no signature, a file that is
/// not one, an image over 64 MiB. Nothing reaches the box.
#[test]
fn update_checks_its_files_first() {
    let b = TestBox::start(|_| answer(200, ""));
    let dir = temp_dir("update-files");
    let file = dir.join("bzImage");
    std::fs::write(&file, b"kernel").unwrap();
    let file = file.to_str().unwrap().to_string();
    let wrong = dir.join("wrong.sig");
    std::fs::write(&wrong, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    let short = dir.join("short.sig");
    std::fs::write(&short, crate::update::signature::text(&[0; 32])).unwrap();
    let big = dir.join("big");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    std::fs::write(dir.join("big.sig"), signature_line(2)).unwrap();
    let pin = b.fingerprint();
    let url = b.url();
    let base = [
        "--url",
        url.as_str(),
        "--fingerprint",
        pin.as_str(),
        "update",
    ];
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec![&file, "--signature", wrong.to_str().unwrap()],
            format!(
                "{}: the signature does not start with \"ed25519:\"",
                wrong.display()
            ),
        ),
        (
            vec![&file, "--signature", short.to_str().unwrap()],
            format!(
                "{}: the signature holds 32 bytes; an Ed25519 signature is 64",
                short.display()
            ),
        ),
        (
            vec![&file, "--signature", "/nonexistent/b.sig"],
            "cannot read /nonexistent/b.sig: ".to_string(),
        ),
        (
            vec![big.to_str().unwrap()],
            format!(
                "{} is over 64 MiB, too big for a system image",
                big.display()
            ),
        ),
    ];
    for (words, says) in cases {
        let args: Vec<&str> = base.iter().copied().chain(words).collect();
        let ran = remote(&args, Some("pw"), "x");
        assert_eq!(ran.exit, Exit::Usage, "{args:?}: {}", ran.err);
        assert!(
            ran.err.starts_with(&format!("lvsinit remote: {says}")),
            "{args:?}: {}",
            ran.err
        );
    }
    assert!(b.seen().is_empty());
}

#[test]
fn rollback_posts() {
    let b = TestBox::start(|seen| match seen.path.as_str() {
        "/rollback" => answer(200, r#"{"message": "slot A on the next boot; rebooting"}"#),
        _ => answer(404, "no such thing"),
    });
    let ran = remote(
        &[
            "--url",
            &b.url(),
            "--fingerprint",
            &b.fingerprint(),
            "rollback",
        ],
        None,
        "pw",
    );
    assert_eq!(
        (ran.exit, ran.out().as_str()),
        (Exit::Done, "slot A on the next boot; rebooting\n"),
        "{}",
        ran.err
    );
    assert_eq!(ran.asked, 1);
    let seen = b.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/rollback")
    );
    assert!(seen[0].body.is_empty() && seen[0].signature.is_none());
}
