//! The first tier: the daemon itself, asked for the step's tag (inspect); it has the
//! image only when the tag's `io.kiln.hash` label is the step's hash.

use async_trait::async_trait;

use super::tier::{Fetched, ImageTier, Probe, Tier, Want};
use crate::cache::CacheError;
use crate::docker::{Daemon, StatusSink};

pub struct DaemonTier {
    pub daemon: Daemon,
}

#[async_trait]
impl Tier for DaemonTier {
    fn tier(&self) -> ImageTier {
        ImageTier::Daemon
    }

    async fn probe(&self, want: &Want<'_>) -> Result<Probe, CacheError> {
        match self.daemon.inspect(want.image).await {
            Ok(Some(info)) if super::has_hash(&info.labels, want.hash) => Ok(Probe::Hit {
                detail: format!("has {}", want.image),
                image_id: Some(info.id),
            }),
            Ok(Some(_)) => Ok(Probe::Miss(format!(
                "{} is another image: its {} label is not this hash",
                want.image,
                crate::docker::labels::HASH
            ))),
            Ok(None) => Ok(Probe::Miss("no image with this hash".to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// Nothing to get: the probe found it there.
    async fn fetch(&self, _: &Want<'_>, _: &StatusSink) -> Fetched {
        Fetched {
            got: true,
            ..Fetched::default()
        }
    }

    /// The daemon is where every other tier stores from.
    async fn store(&self, _: &Want<'_>) -> Result<bool, CacheError> {
        Ok(false)
    }
}
