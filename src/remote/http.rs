//! One HTTP/1.1 request over TLS, on a connection of its own: hyper's
//! client connection over a tokio-rustls stream.
//!
//! Each command makes one request (two when a 401 makes it ask for the
//! password), so there is no pool to keep.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, USER_AGENT};
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::error::RemoteError;
use super::request::Request;
use super::tls::Tls;

/// How long the TCP connection and the TLS handshake may take together.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The user name of the control API: the one administrator.
pub const USER: &str = "admin";

/// The value of `Authorization` for the admin's `password`.
pub fn basic(password: &str) -> String {
    let pair = format!("{USER}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Send `request` to the box at `addr`, with `authorization` when
/// given; the answer's head, its body still to be read.
pub async fn send(
    addr: SocketAddr,
    tls: &Tls,
    request: &Request,
    authorization: Option<&str>,
) -> Result<Response<Incoming>, RemoteError> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|source| RemoteError::Connect { addr, source })?;
        let _ = tcp.set_nodelay(true);
        tls.handshake(tcp, addr).await
    })
    .await
    .map_err(|_| RemoteError::Timeout {
        addr,
        what: "connection",
        after: CONNECT_TIMEOUT,
    })??;
    let http = |source| RemoteError::Http { addr, source };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http)?;
    // The connection's I/O runs beside the answer's reading; it ends
    // with the body, or with the runtime.
    tokio::spawn(connection);
    let mut builder = hyper::Request::builder()
        .method(request.method.clone())
        .uri(request.target.as_str())
        .header(HOST, addr.to_string())
        .header(USER_AGENT, format!("lvsinit/{}", crate::VERSION));
    if let Some(content_type) = request.content_type {
        builder = builder.header(CONTENT_TYPE, content_type);
    }
    for (name, value) in &request.headers {
        let value = HeaderValue::from_str(value).map_err(|_| {
            RemoteError::Usage(format!("{name} cannot be sent: it has a control character"))
        })?;
        builder = builder.header(*name, value);
    }
    if let Some(auth) = authorization {
        let mut value = HeaderValue::from_str(auth).map_err(|_| {
            RemoteError::Usage(
                "the password cannot be sent in a header: it has a control character".into(),
            )
        })?;
        value.set_sensitive(true);
        builder = builder.header(AUTHORIZATION, value);
    }
    let built = builder
        .body(Full::new(request.body.clone()))
        .map_err(|e| RemoteError::Usage(format!("cannot make the request: {e}")))?;
    sender.send_request(built).await.map_err(http)
}

/// The whole body of an answer, at most `limit` bytes (a bigger one is
/// an [`RemoteError::Answer`]).
pub async fn read_body(
    addr: SocketAddr,
    body: Incoming,
    limit: usize,
) -> Result<Bytes, RemoteError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => match e.downcast::<hyper::Error>() {
            Ok(source) => Err(RemoteError::Http {
                addr,
                source: *source,
            }),
            Err(_) => Err(RemoteError::Answer(format!("longer than {limit} bytes"))),
        },
    }
}

/// `Retry-After` of an answer, as its text, when there is one.
pub fn retry_after(answer: &Response<Incoming>) -> Option<String> {
    if answer.status() != StatusCode::TOO_MANY_REQUESTS
        && answer.status() != StatusCode::SERVICE_UNAVAILABLE
    {
        return None;
    }
    answer
        .headers()
        .get(hyper::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        // RFC 7617's example, with our user name.
        assert_eq!(basic("open sesame"), "Basic YWRtaW46b3BlbiBzZXNhbWU=");
        assert_eq!(basic(""), "Basic YWRtaW46");
        // A colon in the password stays (only the user name cannot have one).
        assert_eq!(basic("a:b"), "Basic YWRtaW46YTpi");
    }
}
