//! The director's side of system updates (issue 14): the updater found at
//! boot, the trial of a new system (the checks it must pass within
//! `[management] update_trial`, or it reboots into the old one), and the
//! answers to `PUT /update` and `POST /rollback`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::boot_partition::BootPartition;
use crate::management::control::Answer;
use crate::management::snapshot;
use crate::update::system::Slot;
use crate::update::{UpdateError, Updater};

/// The test-only hook (a file only a test image carries) that makes a
/// system never get ready: its init stops before applying its config.
pub(super) const NEVER_READY_HOOK: &str = "/etc/lvsinit/test-hooks/never-ready";

/// How often a system on trial looks at its checks.
pub(super) const TRIAL_CHECK: Duration = Duration::from_secs(1);

/// What a box without updates says to `PUT /update`.
const NOT_UEFI: &str = "this box booted by legacy BIOS (or a direct kernel boot), where the \
    firmware has no one-shot boot entry to try a new system with: update it by flashing \
    router.img (the API updates UEFI boxes)";

/// The updater, if updates work on this box, and the trial in progress.
pub(super) struct Updates {
    updater: Option<Arc<Mutex<Updater>>>,
    /// Why `PUT /update` cannot work here.
    refused: Option<String>,
    /// When the director started: a trial's bound counts from there.
    started: Instant,
    /// Set while this system is on trial: when its time is up.
    deadline: Option<Instant>,
    /// The bound the trial started with (a config that later turns invalid
    /// does not change it).
    bound: Option<Duration>,
}

impl Updates {
    /// At boot, before the config is read: the boot partition, the
    /// firmware, the record (a failed trial puts router.toml back here).
    pub(super) async fn at_boot(disk_wait: Duration) -> Updates {
        let started = Instant::now();
        let found = tokio::task::spawn_blocking(move || find(disk_wait)).await;
        let (updater, refused) = match found {
            Ok(Ok(updater)) => (Some(Arc::new(Mutex::new(updater))), None),
            Ok(Err(refused)) => (None, Some(refused)),
            Err(e) => (None, Some(format!("the updater did not start: {e}"))),
        };
        Updates {
            updater,
            refused,
            started,
            deadline: None,
            bound: None,
        }
    }

    /// Whether this boot is a new system's trial.
    pub(super) fn on_trial(&self) -> bool {
        self.updater.as_ref().is_some_and(|u| lock(u).on_trial())
    }

    /// Start the trial's clock once the config says how long it has.
    pub(super) fn start_trial(&mut self, bound: Duration) {
        if self.on_trial() && self.deadline.is_none() {
            log::warn!(
                "update: on trial for {} s: ready, links up, the IPVS table in place and the \
                 management API answering, or back to the other slot",
                bound.as_secs()
            );
            self.deadline = Some(self.started + bound);
            self.bound = Some(bound);
        }
    }

    /// Wakes every [`TRIAL_CHECK`] while on trial; never otherwise.
    pub(super) async fn trial_tick(&self) {
        match self.deadline {
            Some(_) => tokio::time::sleep(TRIAL_CHECK).await,
            None => std::future::pending().await,
        }
    }

    /// The trial's time is up.
    pub(super) fn timed_out(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The checks passed: the new system is the default from now on.
    pub(super) async fn commit(&mut self) {
        let Some(updater) = self.updater.clone() else {
            return;
        };
        self.deadline = None;
        let done = tokio::task::spawn_blocking(move || lock(&updater).commit()).await;
        match done {
            Ok(Ok(())) => log::warn!(
                "update: {} in slot {} is good: it boots from now on",
                crate::VERSION,
                self.running().map(|s| s.to_string()).unwrap_or_default()
            ),
            Ok(Err(e)) => log::error!("update: cannot make this system the default: {e}"),
            Err(e) => log::error!("update: {e}"),
        }
    }

    /// The trial's time is up: keep what was missing, for the old system
    /// to report.
    pub(super) async fn give_up(&mut self, missing: String) {
        self.deadline = None;
        let bound = self.bound.map(|b| b.as_secs()).unwrap_or_default();
        let reason = format!("not good within {bound} s of its boot: {missing}");
        log::error!("update: the trial failed: {reason}; rebooting into the other slot");
        if let Some(updater) = self.updater.clone() {
            let _ = tokio::task::spawn_blocking(move || lock(&updater).time_out(reason)).await;
        }
    }

    fn running(&self) -> Option<Slot> {
        self.updater.as_ref().map(|u| lock(u).running())
    }

    /// What `/status` and `/metrics` show.
    pub(super) fn status(&self) -> snapshot::System {
        let Some(updater) = &self.updater else {
            return snapshot::System {
                updates_refused: self.refused.clone(),
                ..Default::default()
            };
        };
        let updater = lock(updater);
        let system = updater.system();
        let running = updater.running();
        snapshot::System {
            slot: Some(running.to_string()),
            other: system.version(running.other()).map(str::to_string),
            trial: system.trial.as_ref().map(|t| snapshot::Trial {
                slot: t.slot.to_string(),
                version: t.version.clone(),
                result: t.outcome.word(),
                reason: t.reason.clone(),
            }),
            updates_refused: None,
        }
    }

    /// `PUT /update`: check the signature (when the config has a key) and
    /// the image, write it to the other slot, have the firmware boot it
    /// once. The answer, and whether to reboot now.
    pub(super) async fn install(
        &self,
        image: bytes::Bytes,
        signature: Option<String>,
        public_key: Option<&[u8; 32]>,
        bound: Duration,
    ) -> (Answer, bool) {
        let Some(updater) = self.updater.clone() else {
            let reason = self.refused.clone().unwrap_or_default();
            return (Answer::text(409, reason), false);
        };
        match (public_key, &signature) {
            (Some(key), Some(signature)) => {
                if let Err(e) = crate::update::signature::verify(key, &image, signature) {
                    log::warn!("update: refused: {e}");
                    return (
                        Answer::text(403, format!("refused, nothing written: {e}")),
                        false,
                    );
                }
            }
            (Some(_), None) => {
                return (
                    Answer::text(
                        403,
                        "refused, nothing written: [management] update_public_key is set, and \
                         the image came without a signature (Lvsinit-Signature: ed25519:...; \
                         image/build --sign KEY makes one)",
                    ),
                    false,
                );
            }
            (None, _) => log::warn!(
                "update: no update_public_key in [management]: the image is taken on the \
                 password alone"
            ),
        }
        let bytes = image.len();
        let sha256 = super::director::sha256_hex(&image);
        let written = tokio::task::spawn_blocking(move || {
            let mut updater = lock(&updater);
            updater
                .install(&image)
                .map(|slot| (slot, updater.running()))
        })
        .await;
        match written {
            Ok(Ok((slot, running))) => {
                log::warn!(
                    "update: slot {slot} written ({bytes} bytes, SHA-256 {sha256}); rebooting \
                     into it for its trial"
                );
                let answer = Answer::json(
                    200,
                    &serde_json::json!({
                        "result": "written",
                        "slot": slot.to_string(),
                        "bytes": bytes,
                        "sha256": sha256,
                        "signed": signature.is_some() && public_key.is_some(),
                        "trial_s": bound.as_secs(),
                        "note": format!(
                            "the box reboots into slot {slot} once; unless the new system is \
                             ready with its links up, its IPVS table in place and this API \
                             answering within {} s, slot {running} boots again by itself",
                            bound.as_secs()
                        ),
                    }),
                );
                (answer, true)
            }
            Ok(Err(e)) => {
                log::error!("update: {e}");
                (refusal(&e), false)
            }
            Err(e) => (Answer::text(500, format!("update: {e}")), false),
        }
    }

    /// `POST /rollback`: the other slot's system by default, with the
    /// router.toml it ran. The answer, and whether to reboot now.
    pub(super) async fn roll_back(&self) -> (Answer, bool) {
        let Some(updater) = self.updater.clone() else {
            let reason = self.refused.clone().unwrap_or_default();
            return (Answer::text(409, reason), false);
        };
        let done = tokio::task::spawn_blocking(move || {
            let mut updater = lock(&updater);
            let target = updater.roll_back()?;
            let version = updater.system().version(target).map(str::to_string);
            Ok::<_, UpdateError>((target, version))
        })
        .await;
        match done {
            Ok(Ok((slot, version))) => {
                let version = version.unwrap_or_default();
                log::warn!("update: rolling back to {version} in slot {slot}; rebooting");
                let answer = Answer::json(
                    202,
                    &serde_json::json!({
                        "result": "rolling back",
                        "slot": slot.to_string(),
                        "version": version,
                    }),
                );
                (answer, true)
            }
            Ok(Err(e)) => (refusal(&e), false),
            Err(e) => (Answer::text(500, format!("rollback: {e}")), false),
        }
    }
}

/// The updater for this box, or why updates cannot work on it.
fn find(disk_wait: Duration) -> Result<Updater, String> {
    if !Path::new("/sys/firmware/efi").exists() {
        return Err(NOT_UEFI.into());
    }
    let Some(device) = crate::source::mount_boot_partition(disk_wait) else {
        return Err("the box has no LVSBOOT boot partition to keep a second system on".into());
    };
    let partition = match BootPartition::mounted() {
        Ok(Some(partition)) => partition,
        Ok(None) => return Err("the boot partition is not mounted".into()),
        Err(e) => return Err(e.to_string()),
    };
    let firmware = crate::update::firmware::Efi::open(Path::new(&device))
        .map_err(|e| format!("the firmware's boot variables cannot be used: {e}"))?;
    Ok(Updater::at_boot(
        partition,
        Box::new(firmware),
        crate::VERSION,
    ))
}

/// The HTTP answer to an update that did not happen.
fn refusal(e: &UpdateError) -> Answer {
    let status = match e {
        UpdateError::Image(_) => 422,
        UpdateError::Refused(_) => 409,
        UpdateError::Disk(crate::boot_partition::Error::NoSpace { .. }) => 507,
        UpdateError::Disk(crate::boot_partition::Error::ImageTooBig { .. }) => 413,
        UpdateError::Disk(_) | UpdateError::Firmware(_) => 500,
    };
    Answer::text(status, format!("not updated: {e}"))
}

fn lock(updater: &Mutex<Updater>) -> std::sync::MutexGuard<'_, Updater> {
    updater
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether something accepts connections on each of `listen` (the
/// management API's own check on a trial: connect, nothing more).
pub(super) async fn answering(listen: &[SocketAddr]) -> Result<(), String> {
    for addr in listen {
        let connect = tokio::net::TcpStream::connect(addr);
        match tokio::time::timeout(Duration::from_secs(1), connect).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("the management API on {addr} does not answer: {e}")),
            Err(_) => return Err(format!("the management API on {addr} does not answer")),
        }
    }
    Ok(())
}
