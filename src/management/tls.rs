//! The API's TLS (rustls on ring; TLS 1.2 and 1.3 only): the box's
//! certificate, from the boot partition's PEM files the config names, or
//! one the box makes itself on first boot and keeps there, so that its
//! fingerprint survives reboots and updates.
//!
//! The fingerprint is the SHA-256 of the certificate's DER bytes, written
//! `SHA256:` and 64 lowercase hex digits: the console, `/status` and
//! `lvsinit remote --fingerprint` all use that form.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::config::Management;

/// The names of the certificate the box makes, on the boot partition.
pub const SELF_SIGNED_CERTIFICATE: &str = "mgmt.crt";
pub const SELF_SIGNED_KEY: &str = "mgmt.key";

/// Where the box keeps and reads its files (the boot partition).
pub trait Store {
    /// The file's bytes; `Ok(None)` when it is not there.
    fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>>;
    /// Write the file so that a power cut leaves it whole or absent.
    fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()>;
}

/// The box's certificate chain and key, and the fingerprint people check.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    pub fingerprint: String,
}

impl Identity {
    /// From PEM text: the certificate chain (end-entity first) and its key.
    pub fn from_pem(certificate: &[u8], key: &[u8]) -> Result<Identity, String> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(certificate)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the certificate file is not PEM: {e}"))?;
        let Some(first) = chain.first() else {
            return Err("the certificate file has no CERTIFICATE block".into());
        };
        let fingerprint = fingerprint(first);
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| format!("the key file has no private key in PEM: {e}"))?;
        Ok(Identity {
            chain,
            key,
            fingerprint,
        })
    }

    /// rustls's server side with this identity: TLS 1.2 and 1.3, HTTP/1.1.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| format!("the certificate and key do not go together: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// `SHA256:` and the hex SHA-256 of the certificate's DER bytes: the
/// form `lvsinit remote --fingerprint` takes.
pub fn fingerprint(der: &[u8]) -> String {
    crate::remote::Fingerprint::of(der).to_string()
}

/// The identity `[management]` asks for: its `tls_certificate` and
/// `tls_key`, or the box's own (made now and kept in `store` when there is
/// none yet; when it cannot be kept, the next boot makes another, and the
/// console says so).
pub fn identity(management: &Management, store: Option<&dyn Store>) -> Result<Identity, String> {
    if let Some(files) = &management.tls_files {
        let store = store.ok_or_else(|| {
            format!(
                "tls_certificate = {:?}: the box has no boot partition to read it from",
                files.certificate
            )
        })?;
        let read = |name: &str| -> Result<Vec<u8>, String> {
            match store.read(name) {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => Err(format!("{name} is not on the boot partition")),
                Err(e) => Err(format!("{name}: {e}")),
            }
        };
        let certificate = read(&files.certificate)?;
        let key = read(&files.key)?;
        return Identity::from_pem(&certificate, &key)
            .map_err(|e| format!("{} / {}: {e}", files.certificate, files.key));
    }
    if let Some(store) = store {
        // A read that fails is no reason to replace the kept certificate
        // (its fingerprint is what operators check): no TLS this time.
        let read = |name: &str| store.read(name).map_err(|e| format!("{name}: {e}"));
        // None yet (or half of one, from a cut before both were kept):
        // made below.
        if let (Some(certificate), Some(key)) =
            (read(SELF_SIGNED_CERTIFICATE)?, read(SELF_SIGNED_KEY)?)
        {
            match Identity::from_pem(&certificate, &key) {
                Ok(identity) => return Ok(identity),
                Err(e) => log::warn!(
                    "management: the kept certificate {SELF_SIGNED_CERTIFICATE} is unusable \
                     ({e}); making a new one"
                ),
            }
        }
    }
    let (certificate, key) = self_signed(&management.listen)?;
    match store {
        // The key first: a certificate without its key is no use.
        Some(store) => match store
            .write(SELF_SIGNED_KEY, key.as_bytes())
            .and_then(|()| store.write(SELF_SIGNED_CERTIFICATE, certificate.as_bytes()))
        {
            Ok(()) => log::info!(
                "management: made a self-signed certificate, kept as {SELF_SIGNED_CERTIFICATE} \
                 on the boot partition"
            ),
            Err(e) => log::warn!(
                "management: made a self-signed certificate but cannot keep it ({e}); the next \
                 boot makes another, with another fingerprint"
            ),
        },
        None => log::warn!(
            "management: made a self-signed certificate; the box has no boot partition to keep \
             it on, so the next boot makes another, with another fingerprint"
        ),
    }
    Identity::from_pem(certificate.as_bytes(), key.as_bytes())
}

/// A self-signed certificate (ECDSA P-256) for the listen addresses, and
/// its key, both PEM. Valid from 1975 to 4096: the box may have no clock.
pub fn self_signed(listen: &[SocketAddr]) -> Result<(String, String), String> {
    let mut names: Vec<String> = listen.iter().map(|a| a.ip().to_string()).collect();
    names.dedup();
    let mut params =
        rcgen::CertificateParams::new(names).map_err(|e| format!("certificate: {e}"))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "lvsinit management API");
    let key = rcgen::KeyPair::generate().map_err(|e| format!("certificate key: {e}"))?;
    let certificate = params
        .self_signed(&key)
        .map_err(|e| format!("certificate: {e}"))?;
    Ok((certificate.pem(), key.serialize_pem()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A store in memory; `broken` refuses writes.
    #[derive(Default)]
    pub(crate) struct Memory {
        pub files: RefCell<HashMap<String, Vec<u8>>>,
        pub broken: bool,
    }

    impl Store for Memory {
        fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
            Ok(self.files.borrow().get(name).cloned())
        }
        fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
            if self.broken {
                return Err(io::Error::other("read-only"));
            }
            self.files.borrow_mut().insert(name.into(), bytes.to_vec());
            Ok(())
        }
    }

    fn management(files: Option<(&str, &str)>) -> Management {
        Management {
            listen: vec!["192.168.3.1:8443".parse().unwrap()],
            allow: vec![],
            tls: true,
            tls_files: files.map(|(c, k)| crate::config::TlsFiles {
                certificate: c.into(),
                key: k.into(),
            }),
            password_hash: None,
            public_read: true,
            update_public_key: None,
            update_trial: Management::DEFAULT_UPDATE_TRIAL,
        }
    }

    /// First boot makes and keeps a certificate; the next boot finds it:
    /// the same fingerprint.
    #[test]
    fn the_self_signed_certificate_is_kept() {
        let store = Memory::default();
        let first = identity(&management(None), Some(&store)).unwrap();
        assert!(store.files.borrow().contains_key(SELF_SIGNED_CERTIFICATE));
        assert!(store.files.borrow().contains_key(SELF_SIGNED_KEY));
        let again = identity(&management(None), Some(&store)).unwrap();
        assert_eq!(first.fingerprint, again.fingerprint);
        assert_eq!(first.fingerprint, fingerprint(&again.chain[0]));
        assert_eq!(first.fingerprint.len(), "SHA256:".len() + 64);
        first.server_config().unwrap();
        // Nowhere to keep it: a new one each time.
        let broken = Memory {
            broken: true,
            ..Memory::default()
        };
        let a = identity(&management(None), Some(&broken)).unwrap();
        let b = identity(&management(None), None).unwrap();
        assert_ne!(a.fingerprint, b.fingerprint);
    }

    /// The config's own files are used; missing or wrong ones are errors
    /// that name them.
    #[test]
    fn configured_files() {
        let (certificate, key) = self_signed(&["10.0.0.1:443".parse().unwrap()]).unwrap();
        let store = Memory::default();
        store
            .files
            .borrow_mut()
            .insert("tls/a.crt".into(), certificate.clone().into_bytes());
        let m = management(Some(("tls/a.crt", "a.key")));
        let e = identity(&m, Some(&store)).err().unwrap();
        assert_eq!(e, "a.key is not on the boot partition");
        store
            .files
            .borrow_mut()
            .insert("a.key".into(), b"not a key".to_vec());
        let e = identity(&m, Some(&store)).err().unwrap();
        assert!(
            e.starts_with("tls/a.crt / a.key: the key file has no private key"),
            "{e}"
        );
        store
            .files
            .borrow_mut()
            .insert("a.key".into(), key.into_bytes());
        let id = identity(&m, Some(&store)).unwrap();
        let der = CertificateDer::from_pem_slice(certificate.as_bytes()).unwrap();
        assert_eq!(id.fingerprint, fingerprint(&der));
        // Nothing was made.
        assert!(!store.files.borrow().contains_key(SELF_SIGNED_CERTIFICATE));
    }
}
