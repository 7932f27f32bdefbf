//! Signed system images (issue 14): the box takes a new system over
//! `PUT /update` only with an Ed25519 signature of the whole image that
//! its `[management] update_public_key` verifies.
//!
//! The signature travels as text, `ed25519:BASE64` (64 bytes, standard
//! base64 with padding), in the `Lvsinit-Signature` header and in the
//! `.sig` file `lvsinit sign` writes beside the image. The algorithm is
//! in the text so that another can be added without guessing.
//!
//! The private key lives on the PC that signs, in a PEM file
//! (`-----BEGIN PRIVATE KEY-----`, RFC 7468) around a PKCS#8 document:
//! the v2 form with the public key inside, as ring makes it for
//! `lvsinit keygen` (OpenSSL 3.0 does not read that form). The v1 form
//! OpenSSL writes (`openssl genpkey -algorithm ed25519`) is taken too,
//! so a key kept with an existing tool can sign.
//!
//! Everything is ring's, the crate that already does the box's TLS and
//! HMAC: Ed25519 costs no new crate, and ring's Ed25519 code is linked
//! already for TLS certificates signed with it.

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject as _;

/// The request header that carries the signature of `PUT /update`'s body.
pub const HEADER: &str = "Lvsinit-Signature";

/// What a key's or a signature's text starts with.
pub const PREFIX: &str = "ed25519:";

/// The length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// The length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;

/// The largest system image `lvsinit sign` signs and `lvsinit remote
/// ... update` sends: a bzImage with its initramfs is about 10 MiB, and
/// a boot partition holds two of them beside the config.
pub const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// The PEM label of the private key file: PKCS#8, as RFC 7468 names it.
const PEM_LABEL: &str = "PRIVATE KEY";

/// Why an image, a signature or a key was refused. Each text says what
/// is wrong in the operator's words and, where there is one, the fix;
/// the box sends it back as the refusal of `PUT /update`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The text does not start with `ed25519:`.
    #[error(
        "the signature does not start with \"{PREFIX}\"; send the FILE.sig that \
         `lvsinit sign KEYFILE FILE` wrote"
    )]
    Prefix,
    /// What follows `ed25519:` is not standard base64.
    #[error(
        "the signature is not base64 after \"{PREFIX}\"; send the FILE.sig that \
         `lvsinit sign KEYFILE FILE` wrote, unchanged"
    )]
    Base64,
    /// The signature decodes to another length than 64 bytes.
    #[error("the signature holds {0} bytes; an Ed25519 signature is {SIGNATURE_LEN}")]
    Length(usize),
    /// A well-formed signature that the key does not verify for this
    /// image.
    #[error(
        "the signature does not match: the image is not the one that was signed, or it was \
         signed with another key than the box's update_public_key"
    )]
    Mismatch,
    /// The private key is not an Ed25519 key in PKCS#8.
    #[error("not an Ed25519 private key in PKCS#8 ({0}); make one with `lvsinit keygen PREFIX`")]
    Key(String),
    /// The private key file is not PEM with a PRIVATE KEY block.
    #[error(
        "not a private key file ({0}); expected the PEM \"-----BEGIN {PEM_LABEL}-----\" \
         block `lvsinit keygen PREFIX` writes to PREFIX.key"
    )]
    KeyFile(String),
    /// The system's random number generator failed.
    #[error("the system's random number generator failed; no key was made")]
    Random,
}

/// `ed25519:BASE64` for a key's or a signature's bytes.
pub fn text(bytes: &[u8]) -> String {
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The 64 bytes of `ed25519:BASE64`. Blanks and line ends around the
/// text are not part of it (a `.sig` file ends with a newline).
pub fn parse_signature(signature: &str) -> Result<[u8; SIGNATURE_LEN], SignatureError> {
    let encoded = signature
        .trim_ascii()
        .strip_prefix(PREFIX)
        .ok_or(SignatureError::Prefix)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| SignatureError::Base64)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| SignatureError::Length(bytes.len()))
}

/// Check that `signature` (`ed25519:BASE64`) is `public_key`'s signature
/// of the whole of `image`.
pub fn verify(
    public_key: &[u8; PUBLIC_KEY_LEN],
    image: &[u8],
    signature: &str,
) -> Result<(), SignatureError> {
    let signature = parse_signature(signature)?;
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(image, &signature)
        .map_err(|_| SignatureError::Mismatch)
}

/// The signature of `image` by the key in `key_pkcs8` (a PKCS#8
/// document, what [`read_key_file`] returns), as `ed25519:BASE64`.
pub fn sign(key_pkcs8: &[u8], image: &[u8]) -> Result<String, SignatureError> {
    Ok(text(key_pair(key_pkcs8)?.sign(image).as_ref()))
}

/// The public half of the key in `key_pkcs8`.
pub fn public_key(key_pkcs8: &[u8]) -> Result<[u8; PUBLIC_KEY_LEN], SignatureError> {
    let pair = key_pair(key_pkcs8)?;
    let bytes = pair.public_key().as_ref();
    // ring's Ed25519 public keys are always 32 bytes.
    bytes
        .try_into()
        .map_err(|_| SignatureError::Key(format!("a public key of {} bytes", bytes.len())))
}

/// A new private key, as a PKCS#8 v2 document, from the system's random
/// number generator.
pub fn generate() -> Result<Vec<u8>, SignatureError> {
    let document =
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| SignatureError::Random)?;
    Ok(document.as_ref().to_vec())
}

/// The private key file's text for `key_pkcs8`: a PEM `PRIVATE KEY`
/// block, base64 in lines of 64 characters as RFC 7468 writes them.
pub fn key_file(key_pkcs8: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(key_pkcs8);
    let mut out = format!("-----BEGIN {PEM_LABEL}-----\n");
    // Base64 is ASCII, so every 64-byte chunk is whole characters.
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {PEM_LABEL}-----\n"));
    out
}

/// The PKCS#8 document of a private key file (the first `PRIVATE KEY`
/// block in it), checked to be an Ed25519 key that can sign.
pub fn read_key_file(text: &[u8]) -> Result<Vec<u8>, SignatureError> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(text).map_err(|e| {
        SignatureError::KeyFile(match e {
            rustls::pki_types::pem::Error::NoItemsFound => format!("no {PEM_LABEL} block"),
            other => other.to_string(),
        })
    })?;
    let pkcs8 = der.secret_pkcs8_der().to_vec();
    key_pair(&pkcs8)?;
    Ok(pkcs8)
}

/// The key pair of a PKCS#8 document: v2 (ring's, the public key
/// checked against the private one) or v1 (OpenSSL's, the public key
/// derived).
fn key_pair(key_pkcs8: &[u8]) -> Result<Ed25519KeyPair, SignatureError> {
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(key_pkcs8)
        .map_err(|e| SignatureError::Key(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up system image: big enough to span several SHA-512
    /// blocks, with every byte value.
    fn image() -> Vec<u8> {
        (0..10_000u32).map(|i| (i * 7 % 256) as u8).collect()
    }

    fn new_key() -> (Vec<u8>, [u8; PUBLIC_KEY_LEN]) {
        let key = generate().unwrap();
        let public = public_key(&key).unwrap();
        (key, public)
    }

    #[test]
    fn a_signature_made_by_sign_verifies() {
        let (key, public) = new_key();
        let image = image();
        let signature = sign(&key, &image).unwrap();
        assert!(signature.starts_with("ed25519:"), "{signature}");
        // 64 bytes are 88 base64 characters with padding.
        assert_eq!(signature.len(), PREFIX.len() + 88, "{signature}");
        assert_eq!(verify(&public, &image, &signature), Ok(()));
        // As read from a .sig file, and from a header with blanks.
        assert_eq!(verify(&public, &image, &format!("{signature}\n")), Ok(()));
        assert_eq!(
            verify(&public, &image, &format!(" {signature}\r\n")),
            Ok(())
        );
        // The empty image can be signed too.
        assert_eq!(verify(&public, b"", &sign(&key, b"").unwrap()), Ok(()));
    }

    /// Any byte of the image changed, added or cut makes the signature
    /// fail.
    #[test]
    fn a_changed_image_fails() {
        let (key, public) = new_key();
        let image = image();
        let signature = sign(&key, &image).unwrap();
        for at in [0, 1, 4_999, image.len() - 1] {
            let mut changed = image.clone();
            changed[at] ^= 0x01;
            assert_eq!(
                verify(&public, &changed, &signature),
                Err(SignatureError::Mismatch),
                "byte {at}"
            );
        }
        let mut longer = image.clone();
        longer.push(0);
        assert_eq!(
            verify(&public, &longer, &signature),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&public, &image[..image.len() - 1], &signature),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_changed_signature_fails() {
        let (key, public) = new_key();
        let image = image();
        let bytes = parse_signature(&sign(&key, &image).unwrap()).unwrap();
        for at in [0, 31, 32, 63] {
            for bit in [0x01, 0x80] {
                let mut changed = bytes;
                changed[at] ^= bit;
                assert_eq!(
                    verify(&public, &image, &text(&changed)),
                    Err(SignatureError::Mismatch),
                    "byte {at}, bit {bit:#x}"
                );
            }
        }
    }

    #[test]
    fn another_key_fails() {
        let (key, _) = new_key();
        let (_, other) = new_key();
        let image = image();
        let signature = sign(&key, &image).unwrap();
        assert_eq!(
            verify(&other, &image, &signature),
            Err(SignatureError::Mismatch)
        );
        // Nor does a key that is not a point of the curve verify anything.
        assert_eq!(
            verify(&[0xff; 32], &image, &signature),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_signatures() {
        let (key, public) = new_key();
        let good = sign(&key, b"x").unwrap();
        let encoded = good.strip_prefix(PREFIX).unwrap();
        let cases = [
            (String::new(), SignatureError::Prefix),
            (encoded.to_string(), SignatureError::Prefix),
            (format!("ED25519:{encoded}"), SignatureError::Prefix),
            (format!("rsa:{encoded}"), SignatureError::Prefix),
            (PREFIX.to_string(), SignatureError::Length(0)),
            (format!("{PREFIX}{}", &encoded[1..]), SignatureError::Base64),
            (
                format!("{PREFIX}{}*", &encoded[..87]),
                SignatureError::Base64,
            ),
            (format!("{PREFIX} {encoded}"), SignatureError::Base64),
            (
                format!("{PREFIX}{}", encoded.trim_end_matches('=')),
                SignatureError::Base64,
            ),
            (text(&[0; 63]), SignatureError::Length(63)),
            (text(&[0; 65]), SignatureError::Length(65)),
            (text(&[0; 32]), SignatureError::Length(32)),
        ];
        for (signature, error) in cases {
            assert_eq!(
                verify(&public, b"x", &signature),
                Err(error.clone()),
                "{signature:?}"
            );
            assert_eq!(parse_signature(&signature), Err(error), "{signature:?}");
        }
    }

    /// The texts a user reads, with the fix in them.
    #[test]
    fn errors_say_what_to_do() {
        assert_eq!(
            SignatureError::Prefix.to_string(),
            "the signature does not start with \"ed25519:\"; send the FILE.sig that \
             `lvsinit sign KEYFILE FILE` wrote"
        );
        assert_eq!(
            SignatureError::Length(63).to_string(),
            "the signature holds 63 bytes; an Ed25519 signature is 64"
        );
        assert_eq!(
            SignatureError::Mismatch.to_string(),
            "the signature does not match: the image is not the one that was signed, or it was \
             signed with another key than the box's update_public_key"
        );
        assert_eq!(
            read_key_file(b"hello").unwrap_err().to_string(),
            "not a private key file (no PRIVATE KEY block); expected the PEM \
             \"-----BEGIN PRIVATE KEY-----\" block `lvsinit keygen PREFIX` writes to PREFIX.key"
        );
    }

    #[test]
    fn key_files() {
        let (key, public) = new_key();
        let file = key_file(&key);
        assert!(
            file.starts_with("-----BEGIN PRIVATE KEY-----\n")
                && file.ends_with("\n-----END PRIVATE KEY-----\n"),
            "{file}"
        );
        assert!(file.lines().all(|l| l.len() <= 64), "{file}");
        let read = read_key_file(file.as_bytes()).unwrap();
        assert_eq!(read, key);
        assert_eq!(public_key(&read).unwrap(), public);
        // A comment before the block, as PEM allows, and CRLF lines.
        let dos = format!("my update key\r\n{}", file.replace('\n', "\r\n"));
        assert_eq!(read_key_file(dos.as_bytes()).unwrap(), key);
        // Two keys made are two keys.
        assert_ne!(generate().unwrap(), key);
    }

    /// Another implementation agrees: a key OpenSSL made (`openssl
    /// genpkey -algorithm ed25519`, PKCS#8 v1), its public key and its
    /// signature of a message (`openssl pkeyutl -sign -rawin`), fixed
    /// here. Ed25519 signatures are deterministic, so ours is the same.
    #[test]
    fn openssl_agrees() {
        let file = "-----BEGIN PRIVATE KEY-----\n\
                    MC4CAQAwBQYDK2VwBCIEIErFFwHcO2FbeTfPz5L80PxCMqOa6zn94Hdm7ytwsapE\n\
                    -----END PRIVATE KEY-----\n";
        let public = "ed25519:7GPmvcbxjGD066ML9M2//hp9ZxCzwz9yT/1bJyshkW0=";
        let theirs = "ed25519:CVK7+JT6nW8JQrqYhUvyGgn6Q/5nYlIKekSaatzgsuZ3hcat30b3fZUpaqWt\
                      UF1dDXLTvSmtiqTLpPG1359QAg==";
        let message = b"lvsinit system image\n";
        let key = read_key_file(file.as_bytes()).unwrap();
        let public_bytes = public_key(&key).unwrap();
        assert_eq!(text(&public_bytes), public);
        assert_eq!(sign(&key, message).unwrap(), theirs);
        assert_eq!(verify(&public_bytes, message, theirs), Ok(()));
        assert_eq!(
            verify(&public_bytes, b"lvsinit system image", theirs),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn bad_key_files() {
        assert!(matches!(
            read_key_file(b""),
            Err(SignatureError::KeyFile(_))
        ));
        // A certificate is not a key.
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        assert!(matches!(
            read_key_file(made.cert.pem().as_bytes()),
            Err(SignatureError::KeyFile(_))
        ));
        // A PKCS#8 key of another algorithm (the TLS key, ECDSA P-256).
        let ecdsa = made.signing_key.serialize_pem();
        let e = read_key_file(ecdsa.as_bytes()).unwrap_err();
        assert!(matches!(e, SignatureError::Key(_)), "{e:?}");
        assert!(
            e.to_string()
                .ends_with("make one with `lvsinit keygen PREFIX`"),
            "{e}"
        );
        assert!(matches!(
            sign(b"not a key", b"x"),
            Err(SignatureError::Key(_))
        ));
        // The block cut short.
        let (key, _) = new_key();
        let file = key_file(&key);
        let cut = &file[..file.len() - 10];
        assert!(matches!(
            read_key_file(cut.as_bytes()),
            Err(SignatureError::KeyFile(_))
        ));
    }
}
