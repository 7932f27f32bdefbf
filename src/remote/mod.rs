//! `lvsinit remote`: the operator's client of a box's control API, run
//! on a PC (issue 12).
//!
//! ```text
//! lvsinit remote --url https://IP:PORT [--fingerprint SHA256:HEX | --ca FILE]
//!                [--password-file FILE] COMMAND
//! ```
//!
//! Each command is one HTTPS request ([`request`]) on a connection of
//! its own ([`http`]), to a box whose certificate is checked by
//! fingerprint or CA ([`tls`]) before anything is sent. The answer is
//! turned into words ([`answer`], [`table`] for `/status`) or copied
//! byte for byte (`config get`, `log`).
//!
//! The password is the admin's, over HTTP Basic: from `--password-file`,
//! else `LVSINIT_PASSWORD`, else asked for ([`password`]) when a command
//! writes, or when the box answers a read with 401.
//!
//! [`run`] is the whole command with its output streams given, so that
//! the tests drive it as `main` does, against a TLS server in the test.

pub mod answer;
pub mod args;
pub mod error;
pub mod http;
pub mod password;
pub mod request;
pub mod table;
pub mod tls;

#[cfg(test)]
mod tests;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::StatusCode;
use hyper::body::Incoming;
use tokio::time::Instant;

pub use args::{Command, Invocation, USAGE};
pub use error::{Exit, RemoteError};
pub use tls::{Fingerprint, Trust};

use request::Request;
use tls::Tls;

/// How long one request may take, from connecting to the answer's last
/// byte; `log --follow` has no end.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `update` may take: up to 64 MiB to send, over whatever link
/// the operator has, and the box writing it to its boot partition and
/// reading it back before it answers.
pub const UPDATE_TIMEOUT: Duration = Duration::from_secs(600);

/// The largest `/status` read: 1,000 services of 10 real servers are
/// about 4 MB of JSON.
const STATUS_LIMIT: usize = 64 << 20;

/// The largest answer read to print it in words (a POST's, `config
/// push`'s with one line per change, a refusal's).
const ANSWER_LIMIT: usize = 4 << 20;

/// How to ask the operator for the password, given the prompt.
pub type Ask = Box<dyn FnMut(&str) -> io::Result<String>>;

/// The process's side of the command: the password in the environment,
/// and how to ask for one.
pub struct Env {
    /// `LVSINIT_PASSWORD`.
    pub password: Option<String>,
    /// Ask the operator, with this prompt; called at most once.
    pub ask: Ask,
}

impl Env {
    /// The real process: its environment and its terminal.
    pub fn process() -> Env {
        Env {
            password: std::env::var("LVSINIT_PASSWORD").ok(),
            ask: Box::new(password::ask),
        }
    }
}

/// `lvsinit remote ARGS...`: answers and tables to `out`, errors to
/// `err` (each starting `lvsinit remote: `), and how it ended.
pub fn run(args: &[String], env: &mut Env, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let done = match args.first().map(String::as_str) {
        Some("help" | "--help" | "-h") => {
            out.write_all(USAGE.as_bytes()).map_err(RemoteError::Output)
        }
        _ => command(args, env, out, err),
    };
    match done {
        Ok(()) => Exit::Done,
        // The reader went away (`log --follow | head`): what it wanted
        // was written.
        Err(RemoteError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => Exit::Done,
        Err(e) => {
            let _ = writeln!(err, "lvsinit remote: {e}");
            if let RemoteError::Usage(_) = e {
                let _ = write!(err, "\n{USAGE}");
            }
            e.exit()
        }
    }
}

fn command(
    args: &[String],
    env: &mut Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), RemoteError> {
    let invocation = Invocation::parse(args)?;
    let request = Request::of(&invocation.command)?;
    if let Some(note) = &request.note {
        writeln!(err, "lvsinit remote: {note}").map_err(RemoteError::Output)?;
    }
    let tls = Tls::new(invocation.trust)?;
    let addr = invocation.addr;
    let mut password = match &invocation.password_file {
        Some(path) => Some(password::read_file(path)?),
        None => env.password.clone(),
    };
    if password.is_none() && request.writes {
        password = Some(ask(env, addr)?);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RemoteError::Runtime)?;
    let limit = match invocation.command {
        Command::Log { follow: true } => None,
        Command::Update { .. } => Some(UPDATE_TIMEOUT),
        _ => Some(REQUEST_TIMEOUT),
    };
    let command = &invocation.command;
    runtime.block_on(async {
        let deadline = limit.map(|l| (Instant::now() + l, l));
        let auth = password.as_deref().map(http::basic);
        let mut answer = within(
            deadline,
            addr,
            http::send(addr, &tls, &request, auth.as_deref()),
        )
        .await?;
        if answer.status() == StatusCode::UNAUTHORIZED && password.is_none() {
            // The box wants the password for this read too: ask, then
            // once more, with the time asking took not counted.
            drop(answer);
            let auth = http::basic(&ask(env, addr)?);
            let deadline = limit.map(|l| (Instant::now() + l, l));
            answer = within(
                deadline,
                addr,
                http::send(addr, &tls, &request, Some(&auth)),
            )
            .await?;
            return within(deadline, addr, handle(command, addr, answer, out, err)).await;
        }
        within(deadline, addr, handle(command, addr, answer, out, err)).await
    })
}

fn ask(env: &mut Env, addr: SocketAddr) -> Result<String, RemoteError> {
    (env.ask)(&format!("Password for {} at {addr}: ", http::USER)).map_err(RemoteError::NoPassword)
}

/// `work`, unless `deadline` (the instant, and the time it allows)
/// passes first.
async fn within<T>(
    deadline: Option<(Instant, Duration)>,
    addr: SocketAddr,
    work: impl Future<Output = Result<T, RemoteError>>,
) -> Result<T, RemoteError> {
    match deadline {
        None => work.await,
        Some((at, after)) => {
            tokio::time::timeout_at(at, work)
                .await
                .map_err(|_| RemoteError::Timeout {
                    addr,
                    what: "complete answer",
                    after,
                })?
        }
    }
}

/// Read the box's answer to `command` and say it.
async fn handle(
    command: &Command,
    addr: SocketAddr,
    answer: hyper::Response<Incoming>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), RemoteError> {
    let status = answer.status();
    if !status.is_success() {
        let retry_after = http::retry_after(&answer);
        let body = http::read_body(addr, answer.into_body(), ANSWER_LIMIT).await?;
        if let (StatusCode::UNPROCESSABLE_ENTITY, Command::ConfigPush { file, .. }) =
            (status, command)
        {
            // The diagnostics, as `lvsinit check` would print them.
            err.write_all(&body).map_err(RemoteError::Output)?;
            if !body.ends_with(b"\n") {
                writeln!(err).map_err(RemoteError::Output)?;
            }
            return Err(RemoteError::Invalid { file: file.clone() });
        }
        return Err(RemoteError::Refused {
            status,
            text: answer::refusal_text(&body),
            retry_after,
        });
    }
    let say = |out: &mut dyn Write, text: &str| {
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(RemoteError::Output)
    };
    match command {
        Command::Status => {
            let body = http::read_body(addr, answer.into_body(), STATUS_LIMIT).await?;
            let status: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| RemoteError::Answer(format!("/status is not JSON: {e}")))?;
            say(out, &table::render(&status))
        }
        Command::ConfigGet | Command::Log { .. } => copy(addr, answer.into_body(), out).await,
        Command::ConfigPush { dry_run, .. } => {
            let body = http::read_body(addr, answer.into_body(), ANSWER_LIMIT).await?;
            let text = answer::pushed(&body, *dry_run)
                .map_err(|e| RemoteError::Answer(format!("config push: {e}")))?;
            say(out, &text)
        }
        Command::ConfigConfirm
        | Command::Drain { .. }
        | Command::Enable { .. }
        | Command::Reload
        | Command::Reboot
        | Command::Poweroff
        | Command::Update { .. }
        | Command::Rollback => {
            let body = http::read_body(addr, answer.into_body(), ANSWER_LIMIT).await?;
            say(out, &answer::posted(&body))
        }
    }
}

/// The body to `out` as it arrives, each piece flushed (a followed log
/// shows each line when the box writes it).
async fn copy(
    addr: SocketAddr,
    mut body: Incoming,
    out: &mut dyn Write,
) -> Result<(), RemoteError> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|source| RemoteError::Http { addr, source })?;
        if let Ok(data) = frame.into_data() {
            out.write_all(&data)
                .and_then(|()| out.flush())
                .map_err(RemoteError::Output)?;
        }
    }
    Ok(())
}
