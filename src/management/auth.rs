//! Who may change the box: HTTP Basic, user `admin`, checked by argon2id
//! verification against `[management] password_hash`.
//!
//! A verification costs tens of MiB and, under TCG, a noticeable time, so:
//! at most one runs at a time, on the blocking pool (never on the
//! director's loop); a success is remembered for [`REMEMBER`], keyed by an
//! HMAC of the credentials under a key made at start (the password itself
//! is never kept), so that a session of CLI calls pays it once. Wrong
//! credentials count per client address: after [`FREE_FAILURES`] each one
//! doubles how long that address must wait (`429` meanwhile).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::limits::Counters;

/// The user name the API knows.
pub const USER: &str = "admin";
/// How long a successful verification is remembered.
pub const REMEMBER: Duration = Duration::from_secs(300);
/// Wrong tries an address has before it must wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(300);
/// Remembered successes and failing addresses, at most.
const MAX_ENTRIES: usize = 1024;

/// What a request's credentials come to.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// None sent: ask for them (`401`), not counted.
    Missing,
    /// Wrong (`401`), counted.
    Wrong,
    /// This address failed too often: wait this long (`429`).
    Wait(Duration),
}

/// The password check and what it remembers.
pub struct Auth {
    hash: String,
    key: ring::hmac::Key,
    /// One verification at a time.
    verifying: tokio::sync::Semaphore,
    state: Mutex<State>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct State {
    /// HMAC of `user:password` → until when it is known good.
    good: HashMap<[u8; 32], Instant>,
    /// Per client: failures in a row, and when it may try again.
    failing: HashMap<IpAddr, (u32, Instant)>,
}

impl Auth {
    pub fn new(hash: String, counters: Arc<Counters>) -> Auth {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .expect("the kernel's random numbers");
        Auth {
            hash,
            key,
            verifying: tokio::sync::Semaphore::new(1),
            state: Mutex::new(State::default()),
            counters,
        }
    }

    /// Check the `Authorization` header `header` of a request from `client`.
    pub async fn check(&self, client: IpAddr, header: Option<&[u8]>) -> Verdict {
        if let Some(wait) = self.must_wait(client) {
            return Verdict::Wait(wait);
        }
        let Some(header) = header else {
            return Verdict::Missing;
        };
        let Some((user, password)) = basic(header) else {
            return self.failed(client);
        };
        let tag = self.tag(&user, &password);
        if self.known_good(&tag) {
            return Verdict::Allowed;
        }
        if user != USER {
            return self.failed(client);
        }
        let Ok(_permit) = self.verifying.acquire().await else {
            return Verdict::Wrong;
        };
        // Another request may have verified the same while this one
        // waited, or failed and made this address wait.
        if self.known_good(&tag) {
            return Verdict::Allowed;
        }
        if let Some(wait) = self.must_wait(client) {
            return Verdict::Wait(wait);
        }
        let hash = self.hash.clone();
        let ok = tokio::task::spawn_blocking(move || verify(&hash, &password))
            .await
            .unwrap_or(false);
        if !ok {
            return self.failed(client);
        }
        if let Ok(mut state) = self.state.lock() {
            let now = Instant::now();
            state.good.retain(|_, until| *until > now);
            if state.good.len() < MAX_ENTRIES {
                state.good.insert(tag, now + REMEMBER);
            }
            state.failing.remove(&client);
        }
        Verdict::Allowed
    }

    fn tag(&self, user: &str, password: &str) -> [u8; 32] {
        let mut context = ring::hmac::Context::with_key(&self.key);
        context.update(user.as_bytes());
        context.update(b":");
        context.update(password.as_bytes());
        let mut tag = [0u8; 32];
        tag.copy_from_slice(context.sign().as_ref());
        tag
    }

    fn known_good(&self, tag: &[u8; 32]) -> bool {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.good.get(tag).copied())
            .is_some_and(|until| until > Instant::now())
    }

    fn must_wait(&self, client: IpAddr) -> Option<Duration> {
        let state = self.state.lock().ok()?;
        let (_, until) = state.failing.get(&client)?;
        until.checked_duration_since(Instant::now())
    }

    fn failed(&self, client: IpAddr) -> Verdict {
        Counters::hit(&self.counters.auth_failures);
        if let Ok(mut state) = self.state.lock() {
            let now = Instant::now();
            if state.failing.len() >= MAX_ENTRIES && !state.failing.contains_key(&client) {
                state.failing.retain(|_, (_, until)| *until > now);
            }
            let (count, until) = state.failing.entry(client).or_insert((0, now));
            *count += 1;
            *until = now + wait_after(*count);
        }
        Verdict::Wrong
    }
}

/// How long an address waits after `failures` wrong tries in a row:
/// nothing for the first [`FREE_FAILURES`], then 1 s, 2 s, 4 s, … up to
/// [`MAX_WAIT`].
pub fn wait_after(failures: u32) -> Duration {
    match failures.checked_sub(FREE_FAILURES + 1) {
        None => Duration::ZERO,
        Some(n) => Duration::from_secs(1u64 << n.min(16)).min(MAX_WAIT),
    }
}

/// `Basic base64(user:password)`.
fn basic(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// argon2's own verification of `password` against the PHC `hash`.
pub fn verify(hash: &str, password: &str) -> bool {
    use argon2::PasswordVerifier as _;
    match argon2::PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// `lvsinit password`: an argon2id hash of `password` in PHC format, with
/// OWASP's parameters (19 MiB, 2 passes, 1 lane) and a random salt.
pub fn hash(password: &str) -> Result<String, String> {
    use argon2::PasswordHasher as _;
    let params = argon2::Params::new(19 * 1024, 2, 1, None).map_err(|e| e.to_string())?;
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    argon2
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> Vec<u8> {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}").into_bytes()
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        // What the config reader accepts.
        assert!(verify(&h, "s3cret"));
        assert!(!verify(&h, "s3cret "));
        assert!(!verify("not a hash", "s3cret"));
    }

    #[test]
    fn waits_grow_after_five_failures() {
        let waits: Vec<u64> = (1..=12).map(|n| wait_after(n).as_secs()).collect();
        assert_eq!(waits, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64]);
        assert_eq!(wait_after(40), MAX_WAIT);
    }

    #[test]
    fn basic_credentials() {
        assert_eq!(
            basic(&header("admin", "a:b")),
            Some(("admin".into(), "a:b".into()))
        );
        assert_eq!(basic(b"Bearer xyz"), None);
        assert_eq!(basic(b"Basic !!!"), None);
    }

    #[tokio::test]
    async fn right_wrong_and_too_many() {
        let counters = Arc::new(Counters::default());
        let auth = Auth::new(hash("pw").unwrap(), Arc::clone(&counters));
        let me: IpAddr = "192.168.3.9".parse().unwrap();
        let other: IpAddr = "192.168.3.10".parse().unwrap();
        assert_eq!(auth.check(me, None).await, Verdict::Missing);
        assert_eq!(
            auth.check(me, Some(&header("admin", "pw"))).await,
            Verdict::Allowed
        );
        // Remembered: no second verification (the key is the HMAC).
        assert_eq!(auth.state.lock().unwrap().good.len(), 1);
        assert_eq!(
            auth.check(me, Some(&header("admin", "pw"))).await,
            Verdict::Allowed
        );
        assert_eq!(
            auth.check(me, Some(&header("root", "pw"))).await,
            Verdict::Wrong
        );
        for _ in 1..FREE_FAILURES {
            assert_eq!(
                auth.check(me, Some(&header("admin", "nope"))).await,
                Verdict::Wrong
            );
        }
        // The sixth failure makes it wait; even the right password waits.
        assert_eq!(
            auth.check(me, Some(&header("admin", "nope"))).await,
            Verdict::Wrong
        );
        assert!(matches!(
            auth.check(me, Some(&header("admin", "pw"))).await,
            Verdict::Wait(w) if w <= Duration::from_secs(1)
        ));
        // Another address is not held up.
        assert_eq!(
            auth.check(other, Some(&header("admin", "pw"))).await,
            Verdict::Allowed
        );
        assert_eq!(
            counters
                .auth_failures
                .load(std::sync::atomic::Ordering::Relaxed),
            6
        );
    }
}
