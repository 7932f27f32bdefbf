//! Whom `lvsinit remote` trusts: the box's certificate by its SHA-256
//! fingerprint (`--fingerprint`), a CA file (`--ca`), or nobody yet.
//!
//! A box makes a self-signed certificate on first boot and prints its
//! fingerprint on the console; pinning that fingerprint is the usual
//! way in, as with an SSH host key. Without either flag the client
//! still shakes hands, only to show the operator what the box presented,
//! and then refuses: the password is never sent to an unchecked peer.
//!
//! rustls on ring, TLS 1.3 and 1.2 only, the provider passed explicitly
//! (no process-wide default to depend on).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::Digest as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::error::RemoteError;

/// The SHA-256 of a certificate's DER, as the box shows it:
/// `SHA256:` and 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of(der: &[u8]) -> Fingerprint {
        Fingerprint(sha2::Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHA256:")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// What `--fingerprint` accepts: `SHA256:` then 64 hex digits, either
/// run together or as 32 colon-separated pairs (as `openssl x509
/// -fingerprint` prints them), in either case.
impl FromStr for Fingerprint {
    type Err = String;

    fn from_str(text: &str) -> Result<Fingerprint, String> {
        let bad = || {
            format!(
                "--fingerprint {text:?}: expected SHA256: and 64 hex digits \
                 (colons between pairs allowed), as the box prints it on its console"
            )
        };
        let hex = text
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("sha256:"))
            .map(|_| &text[7..])
            .ok_or_else(bad)?;
        let pairs: Vec<&str> = if hex.contains(':') {
            hex.split(':').collect()
        } else if hex.len() == 64 && hex.is_ascii() {
            (0..32).map(|i| &hex[2 * i..2 * i + 2]).collect()
        } else {
            return Err(bad());
        };
        if pairs.len() != 32 {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(pairs) {
            if pair.len() != 2 || !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Fingerprint(bytes))
    }
}

/// Whom to trust, from the command line.
#[derive(Debug)]
pub enum Trust {
    /// `--fingerprint`: exactly this end-entity certificate, whatever its
    /// names, dates and issuer.
    Pinned(Fingerprint),
    /// `--ca FILE`: these roots, with the usual WebPKI checks against the
    /// URL's IP address.
    Roots(Vec<CertificateDer<'static>>),
    /// Neither: shake hands to learn the fingerprint, then refuse.
    Nobody,
}

impl Trust {
    /// The certificates of a PEM file for `--ca`: a CA, or the box's
    /// self-signed certificate itself.
    pub fn read_ca(path: &str) -> Result<Trust, RemoteError> {
        let text = std::fs::read(path).map_err(|source| RemoteError::File {
            path: path.to_string(),
            source,
        })?;
        let certs = CertificateDer::pem_slice_iter(&text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RemoteError::Ca {
                path: path.to_string(),
                why: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(RemoteError::Ca {
                path: path.to_string(),
                why: "no CERTIFICATE block in it".into(),
            });
        }
        Ok(Trust::Roots(certs))
    }
}

/// A TLS client for one box: the rustls config and what the handshake
/// saw, so that a refusal can name the certificate presented.
pub struct Tls {
    config: Arc<ClientConfig>,
    /// What [`Recorder`] saw, for a pinned or unpinned client; `None`
    /// with `--ca`.
    presented: Option<Arc<Mutex<Option<Fingerprint>>>>,
    expected: Option<Fingerprint>,
}

impl Tls {
    pub fn new(trust: Trust) -> Result<Tls, RemoteError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| RemoteError::TlsSetup(e.to_string()))?;
        let (builder, presented, expected) = match trust {
            Trust::Roots(certs) => {
                let mut roots = RootCertStore::empty();
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        RemoteError::TlsSetup(format!(
                            "--ca: the certificate cannot be a root: {e}"
                        ))
                    })?;
                }
                (builder.with_root_certificates(roots), None, None)
            }
            Trust::Pinned(fingerprint) => {
                let recorder = Recorder::new(Some(fingerprint), &provider);
                let seen = Arc::clone(&recorder.presented);
                let builder = builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(recorder));
                (builder, Some(seen), Some(fingerprint))
            }
            Trust::Nobody => {
                let recorder = Recorder::new(None, &provider);
                let seen = Arc::clone(&recorder.presented);
                let builder = builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(recorder));
                (builder, Some(seen), None)
            }
        };
        let mut config = builder.with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            config: Arc::new(config),
            presented,
            expected,
        })
    }

    /// The TLS handshake on `tcp` with the box at `addr`. A certificate
    /// refused by fingerprint becomes [`RemoteError::Mismatch`] or
    /// [`RemoteError::Unpinned`], naming what the box presented.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
    ) -> Result<TlsStream<TcpStream>, RemoteError> {
        if let Some(seen) = &self.presented {
            *seen.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        let name = ServerName::IpAddress(addr.ip().into());
        let outcome = TlsConnector::from(Arc::clone(&self.config))
            .connect(name, tcp)
            .await;
        let source = match outcome {
            Ok(stream) => return Ok(stream),
            Err(e) => e,
        };
        let presented = self
            .presented
            .as_ref()
            .and_then(|seen| *seen.lock().unwrap_or_else(|p| p.into_inner()));
        Err(match (presented, self.expected) {
            (Some(presented), Some(expected)) if presented != expected => RemoteError::Mismatch {
                addr,
                expected,
                presented,
            },
            (Some(presented), None) => RemoteError::Unpinned { addr, presented },
            _ => RemoteError::Tls {
                addr,
                source,
                with_ca: self.presented.is_none(),
            },
        })
    }
}

/// A verifier that accepts the one end-entity certificate whose
/// fingerprint is `expected` (none at all when `None`), and remembers
/// what it was shown. The handshake's signatures are still checked with
/// the certificate's key, so a peer must hold the key it presents.
#[derive(Debug)]
struct Recorder {
    expected: Option<Fingerprint>,
    presented: Arc<Mutex<Option<Fingerprint>>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Recorder {
    fn new(expected: Option<Fingerprint>, provider: &CryptoProvider) -> Recorder {
        Recorder {
            expected,
            presented: Arc::new(Mutex::new(None)),
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of(end_entity);
        *self.presented.lock().unwrap_or_else(|p| p.into_inner()) = Some(presented);
        if self.expected == Some(presented) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn fingerprint_forms() {
        let plain: Fingerprint = format!("SHA256:{HEX}").parse().unwrap();
        assert_eq!(plain.to_string(), format!("SHA256:{HEX}"));
        assert_eq!(plain.0[0], 0x01);
        assert_eq!(plain.0[31], 0xef);
        let colons = HEX
            .as_bytes()
            .chunks(2)
            .map(|p| std::str::from_utf8(p).unwrap().to_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(format!("sha256:{colons}").parse::<Fingerprint>(), Ok(plain));
        assert_eq!(
            format!("SHA256:{}", HEX.to_uppercase()).parse::<Fingerprint>(),
            Ok(plain)
        );
    }

    #[test]
    fn fingerprint_refusals() {
        for bad in [
            HEX.to_string(),                               // no SHA256:
            format!("SHA1:{HEX}"),                         // another hash
            format!("SHA256:{}", &HEX[2..]),               // 62 digits
            format!("SHA256:{HEX}00"),                     // 66 digits
            format!("SHA256:{}g", &HEX[1..]),              // not hex
            format!("SHA256:{}:{}", &HEX[..3], &HEX[3..]), // a colon inside a pair
            format!("SHA256::{HEX}"),
            "SHA256:".into(),
            "SHA256:é".repeat(2),
        ] {
            let e = bad.parse::<Fingerprint>().unwrap_err();
            assert!(e.contains("64 hex digits"), "{bad}: {e}");
        }
    }

    #[test]
    fn fingerprint_of_der() {
        // SHA-256 of the empty string.
        assert_eq!(
            Fingerprint::of(b"").to_string(),
            "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn ca_file_without_certificates() {
        let dir = std::env::temp_dir().join(format!("lvsinit-remote-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = Trust::read_ca(path.to_str().unwrap()).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(e.to_string().contains("no CERTIFICATE block"), "{e}");
        let e = Trust::read_ca("/nonexistent/ca.pem").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
