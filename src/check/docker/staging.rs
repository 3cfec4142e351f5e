//! How an environment container sees an entity's files, chosen once per run: bind
//! mounts when the daemon is on this machine; copies when it is elsewhere (a bind mount
//! would name paths it does not have) — the check's mounts copied into each container
//! when it starts, the entity's folder again before it runs, its artifacts copied back
//! out after.

use std::path::{Path, PathBuf};

use globset::GlobSet;
use tokio_util::sync::CancellationToken;

use crate::check::artifacts::{self, Copied, Limits};
use crate::check::error::CheckError;
use crate::check::transfer;
use crate::docker::{Daemon, DockerError, MountSpec};

#[derive(Debug, Clone)]
pub enum Staging {
    /// The container bind-mounts the check's mounts: it sees the host's files.
    BindMounts,
    /// The container gets copies; kiln's own folders (`skip`) are left out of them.
    Copies { skip: Vec<PathBuf> },
}

impl Staging {
    /// The mounts a new container is created with.
    pub fn mounts(&self, mounts: &[MountSpec]) -> Vec<MountSpec> {
        match self {
            Staging::BindMounts => mounts.to_vec(),
            Staging::Copies { .. } => Vec::new(),
        }
    }

    /// Fills a new container `id`: with copies, each mount's host folder (or file) at
    /// its target.
    pub async fn populate(
        &self,
        daemon: &Daemon,
        id: &str,
        mounts: &[MountSpec],
    ) -> Result<(), DockerError> {
        let Staging::Copies { skip } = self else {
            return Ok(());
        };
        for mount in mounts {
            let io = |source| DockerError::Io {
                path: mount.host.display().to_string(),
                source,
            };
            let archive = pack(&mount.host, &mount.target, skip).await.map_err(io)?;
            daemon.copy_in(id, archive).await?;
        }
        Ok(())
    }

    /// With copies, the entity's folder as it is now, copied to `inside`.
    pub async fn stage(
        &self,
        daemon: &Daemon,
        id: &str,
        folder: &Path,
        inside: &str,
    ) -> Result<(), CheckError> {
        let Staging::Copies { skip } = self else {
            return Ok(());
        };
        let archive = pack(folder, inside, skip)
            .await
            .map_err(|source| CheckError::Io {
                path: folder.display().to_string(),
                source,
            })?;
        Ok(daemon.copy_in(id, archive).await?)
    }

    /// The entity's artifacts into `target`: read from the host folder with bind
    /// mounts, copied out of the container with copies.
    #[allow(clippy::too_many_arguments)]
    pub async fn collect(
        &self,
        daemon: &Daemon,
        id: &str,
        folder: &Path,
        inside: Option<&str>,
        globs: GlobSet,
        target: PathBuf,
        cancel: &CancellationToken,
    ) -> Result<Copied, CheckError> {
        let joined = |e: tokio::task::JoinError| CheckError::Io {
            path: target.display().to_string(),
            source: std::io::Error::other(e),
        };
        match (self, inside) {
            (Staging::Copies { .. }, Some(inside)) => {
                let inside = Path::new(inside);
                let archive = daemon.copy_out(id, inside).await?;
                let top = inside
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let to = target.clone();
                tokio::task::spawn_blocking(move || {
                    transfer::artifacts(&archive, &top, &globs, &to, Limits::default())
                })
                .await
                .map_err(joined)?
            }
            _ => {
                let (folder, to, stop) = (folder.to_owned(), target.clone(), cancel.clone());
                tokio::task::spawn_blocking(move || {
                    artifacts::copy(&folder, &globs, &to, Limits::default(), &stop)
                })
                .await
                .map_err(joined)?
            }
        }
    }
}

/// A tar of `host` with its entries under `target`, packed on a blocking thread.
async fn pack(host: &Path, target: &str, skip: &[PathBuf]) -> std::io::Result<Vec<u8>> {
    let (host, target, skip) = (host.to_owned(), target.to_owned(), skip.to_vec());
    tokio::task::spawn_blocking(move || transfer::pack(&host, &target, &skip, Limits::default()))
        .await
        .map_err(std::io::Error::other)?
}
