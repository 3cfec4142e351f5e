//! The seam between the check runner and where commands run. The runner keeps
//! discovery, templating, classification and recording; a backend prepares
//! environments, stages an entity's files, runs a command with a capped log, a timeout
//! and cancellation, collects artifacts, tells a lost environment, and removes what it
//! started. Docker's (`docker/`) is the one backend today; another (Kubernetes Jobs,
//! say) is a folder of its own implementing this trait, chosen in [`open`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use globset::GlobSet;
use tokio_util::sync::CancellationToken;

use super::artifacts::Copied;
use super::error::CheckError;
use crate::docker::{Daemon, ExecOutcome, ExecRequest, MountSpec};
use crate::job::CappedLog;
use crate::model::{Check, CheckId, Workspace};

/// What an environment is started from: entities that need the same share it.
#[derive(Debug, Clone)]
pub struct EnvKey {
    /// `flavor/step` of the environment.
    pub slot: String,
    pub image: String,
    pub image_id: String,
    pub mounts: Vec<MountSpec>,
    pub env: Vec<(String, String)>,
}

impl EnvKey {
    /// sha256 hex over the image id, the mounts and the env, each sorted.
    pub fn fingerprint(&self) -> String {
        let mut mounts = self.mounts.clone();
        mounts.sort();
        let mut env = self.env.clone();
        env.sort();
        let mut text = format!("kiln-env 1\0{}\0", self.image_id);
        for m in &mounts {
            text.push_str(&format!(
                "mount\0{}\0{}\0{}\0",
                m.host.display(),
                m.target,
                m.readonly
            ));
        }
        for (k, v) in &env {
            text.push_str(&format!("env\0{k}\0{v}\0"));
        }
        crate::hash::sha256_hex(text.as_bytes())
    }
}

/// An environment image as the backend has it.
#[derive(Debug, Clone)]
pub struct EnvImage {
    pub id: String,
    /// Its `io.kiln.hash` label: the hash of the step that built it.
    pub hash: Option<String>,
}

/// A started environment, as the backend names it (a container id).
pub type EnvHandle = String;

#[async_trait]
pub trait Backend: Send + Sync {
    /// Before `check`'s entities run: decides how they see their files, or says why
    /// they cannot.
    async fn prepare(&self, check: &CheckId, declaration: &Check) -> Result<(), CheckError>;

    /// The image `image`, if the backend has it.
    async fn image(&self, image: &str) -> Result<Option<EnvImage>, CheckError>;

    /// The environment of `key`, started once however many entities ask at once.
    async fn environment(&self, key: &EnvKey) -> Result<EnvHandle, CheckError>;

    /// The entity's folder `folder`, as it is now, where the environment sees it
    /// (`inside`).
    async fn stage(&self, env: &EnvHandle, folder: &Path, inside: &str) -> Result<(), CheckError>;

    /// Runs a command, its output into `log`; stopped at `timeout` or on `cancel`.
    async fn exec(
        &self,
        env: &EnvHandle,
        request: ExecRequest,
        log: &mut CappedLog,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<ExecOutcome, CheckError>;

    /// Whether the environment went away under a command (stopped, removed).
    async fn lost(&self, env: &EnvHandle) -> Result<bool, CheckError>;

    /// The environment of `key` is not used again (a command in it could not be
    /// killed): the next entity gets a fresh one.
    async fn discard(&self, key: &EnvKey);

    /// The files of the entity's folder (`folder` here, `inside` in the environment)
    /// matching `globs`, copied into `target` as what they are.
    async fn collect(
        &self,
        env: &EnvHandle,
        folder: &Path,
        inside: Option<&str>,
        globs: GlobSet,
        target: PathBuf,
        cancel: &CancellationToken,
    ) -> Result<Copied, CheckError>;

    /// The run is over: what it started is removed (unless kept).
    async fn shutdown(&self);
}

/// The backend checks of `workspace` run on: its Docker daemon. (The switch a second
/// backend would add a case to.)
pub fn open(daemon: &Daemon, workspace: &Workspace, keep: bool) -> Arc<dyn Backend> {
    Arc::new(super::docker::DockerBackend::new(daemon, workspace, keep))
}
