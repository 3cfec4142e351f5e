//! The image ladder: the tiers in the one order they are asked (daemon → file cache →
//! registry), each behind its breaker when others share it. Locating, explaining,
//! obtaining and storing all walk this order; building is the caller's last resort.

use std::path::PathBuf;

use serde::Serialize;

use super::daemon::DaemonTier;
use super::file::{FileTier, file_stem};
use super::registry::RegistryTier;
use super::tier::{ImageTier, Probe, Tier, Want};
use crate::cache::{Breaker, CacheError, Refusal};
use crate::docker::{Daemon, StatusSink};
use crate::model::Settings;

/// One tier and its breaker.
struct Rung {
    tier: Box<dyn Tier>,
    /// For a tier others share; `None` for one on this machine.
    breaker: Option<Breaker>,
}

impl Rung {
    fn name(&self) -> ImageTier {
        self.tier.tier()
    }

    /// The tier's answer; `Err`: why it could not be asked.
    async fn probe(&self, want: &Want<'_>) -> Result<Probe, String> {
        match &self.breaker {
            Some(breaker) => breaker
                .call(|| self.tier.probe(want))
                .await
                .map_err(|down| down.to_string()),
            None => self.tier.probe(want).await.map_err(|e| e.to_string()),
        }
    }
}

/// The tiers of a run.
pub struct ImageLadder {
    rungs: Vec<Rung>,
    /// An entry a tier has but whose record does not vouch for it fails the step
    /// (`require-signed`), instead of being passed over.
    require_signed: bool,
    /// Where a run holds a lock for each image it is getting (`.kiln/locks`): a second
    /// run on the workspace waits for the first and reuses its image.
    lock_dir: PathBuf,
}

/// Where an image would come from, changing nothing.
#[derive(Debug, Default)]
pub struct Located {
    /// The first tier that has it; `None`: no tier has it.
    pub tier: Option<ImageTier>,
    /// When the daemon has it.
    pub image_id: Option<String>,
    pub warnings: Vec<String>,
}

/// What one tier says of an image (`kiln explain`).
#[derive(Debug, Clone, Serialize)]
pub struct TierAnswer {
    pub tier: ImageTier,
    pub hit: bool,
    /// What it has, or why not.
    pub detail: String,
}

/// What getting an image from the tiers came to. The image's lock is held as long as
/// this is: a build after a miss happens under it.
#[derive(Debug)]
pub struct Obtained {
    /// The tier the image came from; `None`: none had it.
    pub tier: Option<ImageTier>,
    pub warnings: Vec<String>,
    _lock: std::fs::File,
}

impl ImageLadder {
    /// The workspace's tiers: its daemon, its file cache, its registry (if any).
    pub fn new(daemon: &Daemon, settings: &Settings) -> Self {
        let trust = crate::cache::trust::of(settings);
        let tiers: Vec<Box<dyn Tier>> = vec![
            Box::new(DaemonTier {
                daemon: daemon.clone(),
            }),
            Box::new(FileTier {
                daemon: daemon.clone(),
                dir: settings.cache_dir.clone(),
                scratch: settings.scratch_dir(),
                trust: trust.clone(),
            }),
            Box::new(RegistryTier::new(
                daemon.clone(),
                settings.registry.as_ref().map(|r| r.value.as_str()),
                trust.clone(),
            )),
        ];
        Self {
            rungs: tiers
                .into_iter()
                .map(|tier| Rung {
                    breaker: tier.tier().shared().then(Breaker::default),
                    tier,
                })
                .collect(),
            lock_dir: settings.lock_dir(),
            require_signed: trust.required(),
        }
    }

    /// The first tier that has the image, asking each in order and changing nothing;
    /// `force_pull` skips the tiers on this machine.
    pub async fn locate(&self, want: &Want<'_>, force_pull: bool) -> Located {
        let mut located = Located::default();
        for rung in &self.rungs {
            if force_pull && rung.name().local() {
                continue;
            }
            match rung.probe(want).await {
                Ok(Probe::Hit { image_id, .. }) => {
                    located.tier = Some(rung.name());
                    located.image_id = image_id;
                    return located;
                }
                Ok(Probe::Miss(_)) => {}
                Ok(Probe::Refused(why)) => {
                    located.warnings.push(rung.name().refused(want.image, &why))
                }
                Err(e) => located.warnings.push(rung.name().skipped(&e)),
            }
        }
        located
    }

    /// Each tier asked for the image, changing nothing; each says hit or miss and why.
    pub async fn answers(&self, want: &Want<'_>) -> Vec<TierAnswer> {
        let mut answers = Vec::new();
        for rung in &self.rungs {
            let (hit, detail) = match rung.probe(want).await {
                Ok(Probe::Hit { detail, .. }) => (true, detail),
                Ok(Probe::Miss(detail)) => (false, detail),
                Ok(Probe::Refused(why)) => (false, format!("not used: {why}")),
                Err(e) => (false, rung.name().not_answered(&e)),
            };
            answers.push(TierAnswer {
                tier: rung.name(),
                hit,
                detail,
            });
        }
        answers
    }

    /// Gets the image into the daemon from tier `from` (the one [`locate`](Self::locate)
    /// chose) or the tiers after it; a tier that fails is a warning and the next is
    /// asked. `from: None` asks none. Holds the image's lock, waiting while another run
    /// holds it; after such a wait the daemon is asked first (the other run may have got
    /// the image).
    pub async fn obtain(
        &self,
        want: &Want<'_>,
        from: Option<ImageTier>,
        status: &StatusSink,
    ) -> Result<Obtained, CacheError> {
        let (lock, waited) = self.hold(want.image).await?;
        let mut obtained = Obtained {
            tier: None,
            warnings: Vec::new(),
            _lock: lock,
        };
        // `from` and the tiers after it, in the order they are registered.
        let start = from.and_then(|from| self.rungs.iter().position(|r| r.name() == from));
        let asked = |(i, rung): &(usize, &Rung)| {
            start.is_some_and(|start| *i >= start) || (waited && rung.name() == ImageTier::Daemon)
        };
        for (_, rung) in self.rungs.iter().enumerate().filter(asked) {
            match rung.probe(want).await {
                Ok(Probe::Hit { .. }) => {
                    let fetched = rung.tier.fetch(want, status).await;
                    obtained.warnings.extend(fetched.warnings);
                    if let Some(why) = fetched.refused {
                        self.refuse(rung.name(), want, why)?;
                    }
                    if fetched.got {
                        obtained.tier = Some(rung.name());
                        return Ok(obtained);
                    }
                }
                Ok(Probe::Refused(why)) => {
                    obtained
                        .warnings
                        .push(rung.name().refused(want.image, &why));
                    self.refuse(rung.name(), want, why)?;
                }
                Ok(Probe::Miss(_)) => {}
                Err(e) => obtained.warnings.push(rung.name().skipped(&e)),
            }
        }
        Ok(obtained)
    }

    /// An entry of `tier` that is not used: the step's error where kiln.kdl requires
    /// signatures (the warning was given).
    fn refuse(&self, tier: ImageTier, want: &Want<'_>, why: Refusal) -> Result<(), CacheError> {
        match self.require_signed {
            true => Err(CacheError::Untrusted {
                tier: tier.name(),
                what: format!("the image of `{}`", want.image),
                why,
            }),
            false => Ok(()),
        }
    }

    /// Writes the image (in the daemon) into `tier` unless it has it already; into a
    /// tier on this machine under the image's lock (another run that stored it while
    /// this one waited is not stored again), into a shared one without (a push).
    pub async fn store(&self, want: &Want<'_>, tier: ImageTier) -> Result<bool, CacheError> {
        let _held = match tier.shared() {
            true => None,
            false => Some(self.hold(want.image).await?),
        };
        match self.rungs.iter().find(|r| r.name() == tier) {
            Some(rung) => rung.tier.store(want).await,
            None => Ok(false),
        }
    }

    /// The lock of `image`, waiting while another run holds it; whether it waited.
    /// (Dropping the future, as cancellation does, stops the wait.)
    async fn hold(&self, image: &str) -> Result<(std::fs::File, bool), CacheError> {
        std::fs::create_dir_all(&self.lock_dir).map_err(|e| CacheError::io(&self.lock_dir, e))?;
        let path = self.lock_dir.join(format!("{}.lock", file_stem(image)));
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| CacheError::io(&path, e))?;
        let mut waited = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok((file, waited)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !waited {
                        tracing::info!("{image}: another kiln is getting it; waiting");
                    }
                    waited = true;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(CacheError::io(&path, e)),
            }
        }
    }
}
