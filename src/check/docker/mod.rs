//! The Docker backend of checks: one long-running environment container per (image,
//! mounts, env), shared by every entity that needs it ([`pool`]), held by a lease per
//! run ([`lease`]), its files bind-mounted or copied as the daemon's place decides once
//! ([`staging`]).

pub mod lease;
pub mod pool;
mod staging;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use globset::GlobSet;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use super::artifacts::Copied;
use super::backend::{Backend, EnvHandle, EnvImage, EnvKey};
use super::error::CheckError;
use crate::docker::{Daemon, ExecOutcome, ExecRequest, TAIL_LINES, labels};
use crate::job::CappedLog;
use crate::model::{Check, CheckId, Workspace};
use lease::Leases;
use pool::{Pool, owner};
pub use staging::Staging;

pub struct DockerBackend {
    daemon: Daemon,
    pool: Pool,
    /// Decided by the first check prepared (or the first container started).
    staging: OnceCell<Staging>,
    /// kiln's own folders, never copied into a container.
    own_dirs: Vec<PathBuf>,
}

impl DockerBackend {
    /// Environments of `workspace` on `daemon`; `keep`: left running when the run ends
    /// (`--keep-env`).
    pub fn new(daemon: &Daemon, workspace: &Workspace, keep: bool) -> Self {
        Self {
            daemon: daemon.clone(),
            pool: Pool::new(
                daemon.clone(),
                owner(&workspace.root),
                keep,
                Leases::of_workspace(&workspace.settings.state_dir),
                workspace.settings.lock_dir(),
            ),
            staging: OnceCell::new(),
            own_dirs: workspace.settings.own_dirs(),
        }
    }

    /// Bind mounts with a daemon on this machine, else copies.
    async fn staging(&self) -> Result<&Staging, CheckError> {
        self.staging
            .get_or_try_init(|| async {
                if self.daemon.on_this_machine().await? {
                    return Ok(Staging::BindMounts);
                }
                tracing::info!(
                    "the daemon at {} is not on this machine: checks copy their files into their containers",
                    self.daemon.address()
                );
                Ok(Staging::Copies {
                    skip: self.own_dirs.clone(),
                })
            })
            .await
    }
}

#[async_trait]
impl Backend for DockerBackend {
    /// With copies, every mount must be a folder or a file.
    async fn prepare(&self, check: &CheckId, declaration: &Check) -> Result<(), CheckError> {
        if let Staging::BindMounts = self.staging().await? {
            return Ok(());
        }
        for mount in &declaration.mounts {
            let source = &mount.source.value;
            let copyable =
                std::fs::symlink_metadata(source).is_ok_and(|meta| meta.is_dir() || meta.is_file());
            if !copyable {
                return Err(CheckError::MountNotCopyable {
                    check: check.to_string(),
                    source_path: source.display().to_string(),
                    address: self.daemon.address().to_owned(),
                });
            }
        }
        Ok(())
    }

    async fn image(&self, image: &str) -> Result<Option<EnvImage>, CheckError> {
        Ok(self.daemon.inspect(image).await?.map(|info| EnvImage {
            hash: info.labels.get(labels::HASH).cloned(),
            id: info.id,
        }))
    }

    async fn environment(&self, key: &EnvKey) -> Result<EnvHandle, CheckError> {
        let staging = self.staging().await?;
        Ok(self.pool.container(key, staging).await?)
    }

    async fn stage(&self, env: &EnvHandle, folder: &Path, inside: &str) -> Result<(), CheckError> {
        let staging = self.staging().await?;
        staging.stage(&self.daemon, env, folder, inside).await
    }

    async fn exec(
        &self,
        env: &EnvHandle,
        request: ExecRequest,
        log: &mut CappedLog,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<ExecOutcome, CheckError> {
        Ok(self
            .daemon
            .exec(env, request, log, TAIL_LINES, Some(timeout), cancel)
            .await?)
    }

    /// The daemon may still call the container running for a moment after it killed
    /// its processes, so it is asked for up to a second.
    async fn lost(&self, env: &EnvHandle) -> Result<bool, CheckError> {
        for _ in 0..20 {
            if !self.daemon.container_running(env).await? {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(false)
    }

    async fn discard(&self, key: &EnvKey) {
        self.pool.invalidate(key).await;
    }

    async fn collect(
        &self,
        env: &EnvHandle,
        folder: &Path,
        inside: Option<&str>,
        globs: GlobSet,
        target: PathBuf,
        cancel: &CancellationToken,
    ) -> Result<Copied, CheckError> {
        let staging = self.staging().await?;
        staging
            .collect(&self.daemon, env, folder, inside, globs, target, cancel)
            .await
    }

    async fn shutdown(&self) {
        self.pool.shutdown().await;
    }
}

/// Removes the environment containers of the workspace at `root` (state folder
/// `state_dir`) whose image belongs to one of `flavors` (all when `None`) that no
/// running kiln uses (`kiln clean`, the end of `kiln watch`); how many.
pub async fn remove_environments(
    daemon: &Daemon,
    root: &Path,
    state_dir: &Path,
    flavors: Option<&[String]>,
) -> Result<usize, CheckError> {
    Ok(Pool::remove_of(
        daemon,
        &owner(root),
        flavors,
        &Leases::of_workspace(state_dir),
    )
    .await?)
}
