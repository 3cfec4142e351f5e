//! The last tier: the registry kiln.kdl names. Beside each image kiln pushes, a record
//! (`record.rs`) as a small artifact tagged `record-<sha256 of the image's tag>`: asked first, in one
//! request, it says whether the registry has the step's image and which image that is.
//! A pulled image is the step's only when its `io.kiln.hash` label is the step's hash
//! and its id is the recorded one; otherwise the tag the pull applied is removed again.
//! Images pushed before records existed are asked for through the daemon (its
//! distribution inspect) and used on their label, unless kiln.kdl trusts keys.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use oci_client::manifest::OciManifest;

use super::record::{Record, registry_tag, unrecorded};
use super::tier::{Fetched, ImageTier, Probe, Tier, Want};
use crate::cache::oci::OciRepository;
use crate::cache::{CacheError, Refusal};
use crate::docker::{Daemon, StatusSink, labels};
use crate::signing::Trust;

/// The media type of a record artifact.
const RECORD_TYPE: &str = "application/vnd.kiln.image.record.v1+json";

pub struct RegistryTier {
    daemon: Daemon,
    /// `host:port/name`; `None`: no registry set (every probe a miss).
    repository: Option<OciRepository>,
    trust: Trust,
    /// The records probes found, by image, for the fetch that follows.
    records: Mutex<HashMap<String, Record>>,
    /// Records could not be read (without keys: the daemon is asked instead, and the
    /// records are not asked for again in the run).
    unreadable: std::sync::atomic::AtomicBool,
}

/// What the registry holds for a step.
enum Held {
    /// A record that vouches for an image of the step.
    Recorded(Record),
    /// No record, and none is needed: the image, if there, is used on its label.
    Unrecorded,
}

impl RegistryTier {
    pub fn new(daemon: Daemon, repository: Option<&str>, trust: Trust) -> Self {
        Self {
            daemon,
            repository: repository.map(|r| OciRepository::new(r, "registry")),
            trust,
            records: Mutex::default(),
            unreadable: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The registry's record of the image `want` names, if it vouches for it.
    async fn held(
        &self,
        repository: &OciRepository,
        want: &Want<'_>,
    ) -> Result<Result<Held, Refusal>, CacheError> {
        let annotations = match repository
            .manifest(&registry_tag(want.image), "asking for an image record")
            .await?
        {
            Some(OciManifest::Image(manifest)) => manifest.annotations.unwrap_or_default(),
            // Not an artifact kiln pushes: a record of nothing.
            Some(OciManifest::ImageIndex(_)) => BTreeMap::new(),
            None => return Ok(unrecorded(&self.trust).map(|()| Held::Unrecorded)),
        };
        Ok(Record::from_annotations(&annotations)
            .and_then(|record| {
                record
                    .vouches(want.image, want.hash, &self.trust)
                    .map(|()| record)
            })
            .map(Held::Recorded))
    }

    /// Pulls `remote` and tags it as the step's image, if it is the step's image.
    async fn pull(
        &self,
        remote: &str,
        want: &Want<'_>,
        fetched: &mut Fetched,
    ) -> Result<(), CacheError> {
        self.daemon.pull(remote).await?;
        let info = self.daemon.inspect(remote).await?;
        let found = info
            .as_ref()
            .and_then(|info| info.labels.get(labels::HASH).cloned());
        let record = self
            .records
            .lock()
            .ok()
            .and_then(|r| r.get(want.image).cloned());
        let refused = match (&record, &info) {
            (Some(record), Some(info)) => record.matches(&info.id).err(),
            (None, _) => unrecorded(&self.trust).err(),
            _ => None,
        };
        if found.as_deref() != Some(want.hash) || refused.is_some() {
            // Only the tag: the image stays if another tag or a container uses it.
            if let Err(e) = self.daemon.remove(remote, false).await {
                fetched.warnings.push(format!(
                    "registry: the tag {remote} the pull gave another image stays: {e}"
                ));
            }
            if let Some(why) = refused {
                fetched
                    .warnings
                    .push(ImageTier::Registry.refused(want.image, &why));
                fetched.refused = Some(why);
                return Ok(());
            }
            return Err(CacheError::WrongImage {
                image: remote.to_owned(),
                expected: want.hash.to_owned(),
                found,
            });
        }
        // By the id checked, not by the name: another job on a shared daemon may move
        // the name in between.
        let id = info.as_ref().map_or(remote, |info| info.id.as_str());
        self.daemon.tag(id, want.image).await?;
        fetched.got = true;
        Ok(())
    }
}

#[async_trait]
impl Tier for RegistryTier {
    fn tier(&self) -> ImageTier {
        ImageTier::Registry
    }

    async fn probe(&self, want: &Want<'_>) -> Result<Probe, CacheError> {
        let (Some(repository), Some(remote)) = (&self.repository, want.remote) else {
            return Ok(Probe::Miss("no registry set".to_owned()));
        };
        use std::sync::atomic::Ordering;
        let held = if self.unreadable.load(Ordering::Relaxed) {
            Ok(Held::Unrecorded)
        } else {
            match self.held(repository, want).await {
                Ok(held) => held,
                // A registry the daemon reaches but kiln's own client does not (one the
                // daemon's `insecure-registries` names): without keys the daemon's
                // answer is enough, as before records.
                Err(e) if !self.trust.checks() => {
                    if !self.unreadable.swap(true, Ordering::Relaxed) {
                        tracing::info!(
                            "registry: its image records cannot be read ({e}); asking the daemon for the rest of this run"
                        );
                    }
                    Ok(Held::Unrecorded)
                }
                Err(e) => return Err(e),
            }
        };
        match held {
            Ok(Held::Recorded(record)) => {
                let detail = format!("has {remote} (image {})", record.image_id);
                if let Ok(mut records) = self.records.lock() {
                    records.insert(want.image.to_owned(), record);
                }
                Ok(Probe::Hit {
                    detail,
                    image_id: None,
                })
            }
            Ok(Held::Unrecorded) => match self.daemon.registry_has(remote).await {
                Ok(true) => Ok(Probe::Hit {
                    detail: format!("has {remote} (pushed without a record)"),
                    image_id: None,
                }),
                Ok(false) => Ok(Probe::Miss(format!("not in {}", repository.repository()))),
                Err(e) => Err(e.into()),
            },
            // Where keys are trusted an image without a record is refused, but only
            // an image the registry has: a step it lacks is a plain miss.
            Err(Refusal::NoRecord) if !self.daemon.registry_has(remote).await? => {
                Ok(Probe::Miss(format!("not in {}", repository.repository())))
            }
            Err(why) => Ok(Probe::Refused(why)),
        }
    }

    async fn fetch(&self, want: &Want<'_>, status: &StatusSink) -> Fetched {
        let mut fetched = Fetched::default();
        let Some(remote) = want.remote else {
            return fetched;
        };
        status.tell("pulling from the registry");
        if let Err(e) = self.pull(remote, want, &mut fetched).await {
            fetched.warnings.push(self.tier().skipped(&e));
        }
        fetched
    }

    /// Pushes the image and its record, unless the registry has a record that vouches
    /// for an image of the step and holds that very image under the step's tag (an
    /// image built elsewhere from the same inputs is as good; pushing over it would only
    /// swap tags under readers). An image pushed over the recorded one is replaced.
    async fn store(&self, want: &Want<'_>) -> Result<bool, CacheError> {
        let (Some(repository), Some(remote)) = (&self.repository, want.remote) else {
            return Ok(false);
        };
        if !self.trust.may_write() {
            return Err(CacheError::CannotSign { tier: "registry" });
        }
        // The daemon asks first: what it says of a missing login names the fix.
        if self.daemon.registry_has(remote).await?
            && let Ok(Ok(Held::Recorded(record))) = self.held(repository, want).await
            && let Ok(Some(OciManifest::Image(manifest))) = repository
                .manifest(
                    crate::docker::split_reference(remote).1,
                    "asking for an image",
                )
                .await
            // The config's digest is the image id of an image the daemon pushed.
            && record.matches(&manifest.config.digest).is_ok()
        {
            return Ok(false);
        }
        let info = self.daemon.inspect(want.image).await?;
        let found = info
            .as_ref()
            .and_then(|info| info.labels.get(labels::HASH).cloned());
        let Some(info) = info.filter(|_| found.as_deref() == Some(want.hash)) else {
            return Err(CacheError::WrongImage {
                image: want.image.to_owned(),
                expected: want.hash.to_owned(),
                found,
            });
        };
        self.daemon.tag(want.image, remote).await?;
        self.daemon.push(remote).await?;
        let record = Record::new(want.image, want.hash, &info.id, &self.trust);
        let pushed = repository
            .push_annotated(
                &registry_tag(want.image),
                RECORD_TYPE,
                record.annotations(),
                "pushing an image record",
            )
            .await;
        match pushed {
            Ok(()) => Ok(true),
            // Without keys the image is used on its label where no record is.
            Err(e) if !self.trust.checks() => {
                tracing::warn!("registry: {} is pushed without its record: {e}", want.image);
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }
}
