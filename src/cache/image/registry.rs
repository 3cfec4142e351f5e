//! The last tier: the registry kiln.kdl names, asked without pulling (the daemon's
//! distribution inspect). A pulled image is the step's only when its `io.kiln.hash`
//! label is the step's hash; otherwise the tag the pull applied is removed again.

use async_trait::async_trait;

use super::tier::{Fetched, ImageTier, Probe, Tier, Want};
use crate::cache::CacheError;
use crate::docker::{Daemon, StatusSink, labels};

pub struct RegistryTier {
    pub daemon: Daemon,
    /// `host:port/name`; `None`: no registry set (every probe a miss).
    pub repository: Option<String>,
}

impl RegistryTier {
    /// Pulls `remote` and tags it as the step's image, if it is the step's image.
    async fn pull(
        &self,
        remote: &str,
        want: &Want<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<(), CacheError> {
        self.daemon.pull(remote).await?;
        let found = self
            .daemon
            .inspect(remote)
            .await?
            .and_then(|info| info.labels.get(labels::HASH).cloned());
        if found.as_deref() != Some(want.hash) {
            // Only the tag: the image stays if another tag or a container uses it.
            if let Err(e) = self.daemon.remove(remote, false).await {
                warnings.push(format!(
                    "registry: the tag {remote} the pull gave another image stays: {e}"
                ));
            }
            return Err(CacheError::WrongImage {
                image: remote.to_owned(),
                expected: want.hash.to_owned(),
                found,
            });
        }
        self.daemon.tag(remote, want.image).await?;
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
        match self.daemon.registry_has(remote).await {
            Ok(true) => Ok(Probe::Hit {
                detail: format!("has {remote}"),
                image_id: None,
            }),
            Ok(false) => Ok(Probe::Miss(format!("not in {repository}"))),
            Err(e) => Err(e.into()),
        }
    }

    async fn fetch(&self, want: &Want<'_>, status: &StatusSink) -> Fetched {
        let mut fetched = Fetched::default();
        let Some(remote) = want.remote else {
            return fetched;
        };
        status.tell("pulling from the registry");
        match self.pull(remote, want, &mut fetched.warnings).await {
            Ok(()) => fetched.got = true,
            Err(e) => fetched.warnings.push(self.tier().skipped(&e)),
        }
        fetched
    }

    /// Pushes the image unless the registry has it.
    async fn store(&self, want: &Want<'_>) -> Result<bool, CacheError> {
        let Some(remote) = want.remote else {
            return Ok(false);
        };
        if self.daemon.registry_has(remote).await? {
            return Ok(false);
        }
        self.daemon.tag(want.image, remote).await?;
        self.daemon.push(remote).await?;
        Ok(true)
    }
}
