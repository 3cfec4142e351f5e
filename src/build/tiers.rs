//! A run's images: found in, or got from, the cache tiers of `cache::ImageLadder`
//! (daemon → file cache → registry, the order written there once), else built — the
//! last resort, which lives here, outside the ladder. An image is taken from a tier
//! only when its `io.kiln.hash` label is the step's hash; a tier that fails is a
//! warning and the next is asked, never fatal by itself.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::cache::image::{TierAnswer, Want};
use crate::cache::{ImageLadder, ImageTier};
use crate::docker::{Backend, BuildRequest, Daemon, DockerError, RelabelError, StatusSink, labels};
use crate::hash;
use crate::job::{CappedLog, LOG_LIMIT};
use crate::model::Workspace;

use super::analysis::Analysis;
use super::dockerfile::{self, RENDERED_PATH};
use super::error::BuildError;
use super::failure;
use super::naming::remote_name;
use super::secrets;
use super::source::Source;

/// The tiers available to a run, and the daemon's builder for what none has.
#[derive(Clone)]
pub struct Tiers {
    pub daemon: Daemon,
    ladder: Arc<ImageLadder>,
    /// Remote repository, e.g. `127.0.0.1:5000/kiln`.
    pub registry: Option<String>,
    /// The daemon's builder that builds images.
    pub backend: Backend,
}

/// Something a tier reported without failing the step.
pub type Warnings = Vec<String>;

impl Tiers {
    /// The tiers of `workspace` on `daemon`, building with `backend`.
    pub fn new(daemon: Daemon, backend: Backend, workspace: &Workspace) -> Self {
        Self {
            ladder: Arc::new(ImageLadder::new(&daemon, &workspace.settings)),
            registry: workspace
                .settings
                .registry
                .as_ref()
                .map(|r| r.value.clone()),
            daemon,
            backend,
        }
    }

    /// What the ladder is asked for: the step's image, hash and registry name.
    fn want<'a>(&self, analysis: &'a Analysis, remote: &'a Option<String>) -> Want<'a> {
        Want {
            image: &analysis.image,
            hash: &analysis.hash,
            remote: remote.as_deref(),
        }
    }

    fn remote(&self, analysis: &Analysis) -> Option<String> {
        self.registry
            .as_ref()
            .map(|registry| remote_name(registry, &analysis.image))
    }

    /// Where the image would come from, changing nothing (for `kiln plan` and
    /// `--no-build`), and its image id when the daemon has it.
    pub async fn locate(
        &self,
        analysis: &Analysis,
        forced: bool,
        force_pull: bool,
    ) -> (Source, Warnings, Option<String>) {
        if forced {
            return (Source::Built, Warnings::new(), None);
        }
        let remote = self.remote(analysis);
        let located = self
            .ladder
            .locate(&self.want(analysis, &remote), force_pull)
            .await;
        (located.tier.into(), located.warnings, located.image_id)
    }

    /// Each tier asked for the image of `analysis`, in order, changing nothing; each
    /// says hit or miss and why.
    pub async fn answers(&self, analysis: &Analysis) -> Vec<TierAnswer> {
        let remote = self.remote(analysis);
        self.ladder.answers(&self.want(analysis, &remote)).await
    }

    /// Gets the image into the daemon from `start` — the tier [`Tiers::locate`] chose —
    /// or the tiers after it; the last resort is a build, as `build` says.
    /// `dependencies` maps each needed step's name to its image name.
    pub async fn obtain(
        &self,
        analysis: &Analysis,
        start: Source,
        dependencies: &[(String, String)],
        build: Build,
        paths: &NodeOutputs,
        cancel: &CancellationToken,
    ) -> Result<(Source, Warnings), BuildError> {
        let remote = self.remote(analysis);
        let mut obtained = self
            .ladder
            .obtain(&self.want(analysis, &remote), start.tier(), &paths.status)
            .await?;
        let mut warnings = std::mem::take(&mut obtained.warnings);
        if let Some(tier) = obtained.tier {
            return Ok((Source::Tier(tier), warnings));
        }
        if build == Build::Forbidden {
            return Err(BuildError::NoBuild {
                images: vec![analysis.image.clone()],
            });
        }
        // Built under the image's lock, which `obtained` holds.
        let fresh = build == Build::Fresh;
        if let Some(retried) = self
            .build(analysis, dependencies, fresh, paths, cancel)
            .await?
        {
            warnings.push(retried);
        }
        drop(obtained);
        Ok((Source::Built, warnings))
    }

    /// Writes the image to the file cache unless it is there already.
    pub async fn save(&self, analysis: &Analysis) -> Result<bool, BuildError> {
        self.store(analysis, ImageTier::File).await
    }

    /// Pushes the image to the registry unless it is there already.
    pub async fn push(&self, analysis: &Analysis) -> Result<bool, BuildError> {
        self.store(analysis, ImageTier::Registry).await
    }

    async fn store(&self, analysis: &Analysis, tier: ImageTier) -> Result<bool, BuildError> {
        let remote = self.remote(analysis);
        Ok(self
            .ladder
            .store(&self.want(analysis, &remote), tier)
            .await?)
    }

    /// Builds the image of `analysis` and labels it; a note when a build had to be
    /// retried.
    ///
    /// The build runs without kiln's labels and without a tag; the image it made (named
    /// by the build's output) gets the labels by a config-only load
    /// ([`Daemon::label_image`], tens of milliseconds, where a `LABEL` instruction costs
    /// the classic builder a container and a commit, about a second), and the result the
    /// step's tag. The unlabelled image stays untagged, as the builder's instruction
    /// cache. Should the load not work (a daemon with the containerd image store wants
    /// the layers' blobs), the image is built again with a `LABEL` instruction appended
    /// — the builder's cache makes that the `LABEL` step only — and the log says why. The
    /// step's tag is never put on an image without the labels. `fresh`: the daemon's
    /// layer cache answers no instruction (a forced rebuild runs every `RUN` again).
    async fn build(
        &self,
        analysis: &Analysis,
        dependencies: &[(String, String)],
        fresh: bool,
        paths: &NodeOutputs,
        cancel: &CancellationToken,
    ) -> Result<Option<String>, BuildError> {
        let mut rendered = dockerfile::render(
            &analysis.step,
            &paths.dockerfile_shown,
            &analysis.dockerfile,
            dependencies,
        )?;
        if !rendered.ends_with('\n') {
            rendered.push('\n');
        }
        if analysis.build_info.is_some() {
            rendered.push_str(super::build_info::INSTRUCTION);
        }
        write(&paths.rendered, rendered.as_bytes())?;
        if let Some(dir) = paths.log.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let mut log = CappedLog::create(&paths.log, LOG_LIMIT).map_err(|e| io(&paths.log, e))?;
        let mut attempts = Attempts {
            fresh,
            ..Attempts::default()
        };
        let placed = |error: BuildError| match error {
            BuildError::Docker(failed @ DockerError::BuildFailed { .. }) => {
                failure::at_instruction(
                    failed,
                    &analysis.dockerfile,
                    &paths.dockerfile_shown,
                    &rendered,
                )
            }
            other => other,
        };
        let built = self
            .build_retrying(
                analysis,
                &rendered,
                None,
                BuildOutput {
                    log: &mut log,
                    status: &paths.status,
                },
                cancel,
                &mut attempts,
            )
            .await
            .map_err(placed)?;
        let labels = image_labels(analysis, &paths.description);
        let started = std::time::Instant::now();
        match self
            .daemon
            .label_image(&built, &labels, &analysis.image)
            .await
        {
            Ok(labelled) => {
                let _ = writeln!(
                    log,
                    "kiln: labels applied by a config-only load in {} ms: {labelled} (the build's {built} stays untagged, as the layer cache)",
                    started.elapsed().as_millis()
                );
            }
            Err(RelabelError::Docker(
                e @ (DockerError::Unreachable { .. } | DockerError::NotAnswering { .. }),
            )) => {
                let _ = writeln!(log, "kiln: labelling {built} failed: {e}");
                return Err(e.into());
            }
            Err(e) => {
                let _ = writeln!(
                    log,
                    "kiln: labels not applied to {built} by a config-only load ({e}); building again with a LABEL instruction"
                );
                tracing::debug!("{}: labelling by a LABEL instruction: {e}", analysis.image);
                rendered.push_str(&labels::instruction(&labels));
                write(&paths.rendered, rendered.as_bytes())?;
                // The layers were just made: only the LABEL step is new.
                attempts.fresh = false;
                self.build_retrying(
                    analysis,
                    &rendered,
                    Some(analysis.image.clone()),
                    BuildOutput {
                        log: &mut log,
                        status: &paths.status,
                    },
                    cancel,
                    &mut attempts,
                )
                .await?;
            }
        }
        Ok(attempts.note())
    }

    /// Builds `dockerfile` in the step's context, tagged `tag` (or untagged); the image
    /// id.
    ///
    /// A classic build fails now and then on a layer the daemon lost: when a
    /// concurrent removal pruned a cached parent layer mid-build (`unable to find
    /// image`), or on Docker's empty-layer bug, where a COPY follows one that changed
    /// nothing (`failed to get layer …: layer does not exist`, moby/moby#37965,
    /// #40591; kiln's contexts, all mtimes 0, make such COPYs common). Both succeed
    /// when tried again: the retry reuses the layers the failed attempt committed and
    /// gets past that instruction. A Dockerfile may hold several such spots, so kiln
    /// tries again as long as each attempt fails further on than the one before (a
    /// different instruction), at most [`LOST_LAYER_RETRIES`] times a step; `attempts`
    /// holds the note. A cached image removed mid-build may fail the next attempt at the
    /// same instruction while the daemon is still deleting it: that one is tried again
    /// at the same place too, after a moment that grows with each retry.
    async fn build_retrying(
        &self,
        analysis: &Analysis,
        dockerfile: &str,
        tag: Option<String>,
        out: BuildOutput<'_>,
        cancel: &CancellationToken,
        attempts: &mut Attempts,
    ) -> Result<String, BuildError> {
        if self.backend == Backend::Classic && !analysis.secrets.is_empty() {
            return Err(BuildError::SecretsNeedBuildKit {
                step: format!("{}/{}", analysis.flavor, analysis.step),
                ids: analysis
                    .secrets
                    .iter()
                    .map(|s| s.id.value.clone())
                    .collect(),
            });
        }
        let secrets = secrets::values(analysis)?;
        loop {
            let context = analysis.context.clone();
            let build_info = analysis.build_info.clone();
            let dockerfile = dockerfile.to_owned();
            let request = BuildRequest {
                name: analysis.image.clone(),
                tag: tag.clone(),
                dockerfile: RENDERED_PATH.to_owned(),
                args: analysis.build_args.iter().cloned().collect(),
                labels: HashMap::new(),
                // Only the first attempt: a retry takes the layers it just made.
                no_cache: attempts.fresh && attempts.retries == 0,
                context: Box::new(move |out| {
                    let mut extras = vec![(RENDERED_PATH, dockerfile.as_bytes())];
                    if let Some(info) = &build_info {
                        extras.extend(info.extras());
                    }
                    hash::write_tar(&context, &extras, out)
                }),
                backend: self.backend,
                secrets: secrets.clone(),
                on_step: out.status.clone(),
            };
            match self.daemon.build(request, out.log, cancel).await {
                Ok(id) => return Ok(id),
                Err(DockerError::BuildFailed {
                    message,
                    instruction,
                    ..
                }) if !cancel.is_cancelled()
                    && lost_layer(&message)
                    && attempts.retries < LOST_LAYER_RETRIES
                    && (attempts.retries == 0
                        || attempts.last_failed != instruction
                        || removed_meanwhile(&message)) =>
                {
                    let at = instruction.as_deref().unwrap_or("an instruction");
                    let _ = writeln!(
                        out.log,
                        "kiln: retried after the daemon lost a layer at `{at}`: {message}"
                    );
                    if removed_meanwhile(&message) {
                        let pause =
                            std::time::Duration::from_millis(250 * u64::from(attempts.retries + 1));
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {}
                            () = cancel.cancelled() => {}
                        }
                    }
                    attempts.retries += 1;
                    attempts.last_failed = instruction;
                    attempts.last_message = message;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// What a node's get writes and tells: its files in the job record, the names its
/// diagnostics show, and what it is on now.
#[derive(Debug, Clone)]
pub struct NodeOutputs {
    pub log: PathBuf,
    pub rendered: PathBuf,
    /// The Dockerfile's workspace-relative path, for diagnostics.
    pub dockerfile_shown: String,
    pub description: Option<String>,
    /// Hears the instruction a build is on, and a load or pull starting.
    pub status: StatusSink,
}

/// The labels kiln gives the image of `analysis`. A description's line breaks become
/// spaces: a label is one line, whether a config-only load or a `LABEL` instruction
/// puts it on the image.
pub(crate) fn image_labels(
    analysis: &Analysis,
    description: &Option<String>,
) -> HashMap<String, String> {
    let mut map = HashMap::from([
        (labels::MANAGED.to_owned(), "true".to_owned()),
        (labels::FLAVOR.to_owned(), analysis.flavor.clone()),
        (labels::STEP.to_owned(), analysis.step.clone()),
        (labels::HASH.to_owned(), analysis.hash.clone()),
        (
            labels::OCI_TITLE.to_owned(),
            format!("{}/{}", analysis.flavor, analysis.step),
        ),
        (labels::OCI_VERSION.to_owned(), analysis.hash.clone()),
        (labels::OCI_VENDOR.to_owned(), "kiln".to_owned()),
    ]);
    if let Some(manifest) = labels::manifest_value(&analysis.manifest) {
        map.insert(labels::MANIFEST.to_owned(), manifest);
    }
    if let Some(description) = description {
        map.insert(labels::OCI_DESCRIPTION.to_owned(), one_line(description));
    }
    map
}

/// `text` with each line break (`\n`, `\r`) a space.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn write(path: &Path, data: &[u8]) -> Result<(), BuildError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    std::fs::write(path, data).map_err(|e| io(path, e))
}

fn io(path: &Path, e: std::io::Error) -> BuildError {
    BuildError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

/// What getting a step's image may do once no tier has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// Fail (`--no-build`; an image `--shortcut` left in a tier).
    Forbidden,
    /// Build, the daemon's layer cache answering what it can.
    Cached,
    /// Build every instruction anew (`--force-rebuild`): the layer cache answers none.
    Fresh,
}

/// How often a step's build may be tried again after the daemon lost a layer.
const LOST_LAYER_RETRIES: u32 = 5;

/// Where a build's output goes: the node's log, and who hears the instruction it is on.
struct BuildOutput<'a> {
    log: &'a mut CappedLog,
    status: &'a StatusSink,
}

/// The attempts of one step's build.
#[derive(Debug, Default)]
struct Attempts {
    /// The first attempt builds without the daemon's layer cache.
    fresh: bool,
    /// Retries after the daemon lost a layer, so far.
    retries: u32,
    /// The instruction the last attempt failed at: the next must get further.
    last_failed: Option<String>,
    last_message: String,
}

impl Attempts {
    /// The warning a step gets when its build was retried.
    fn note(&self) -> Option<String> {
        (self.retries > 0).then(|| {
            format!(
                "retried {} after the daemon lost a layer (moby/moby#37965): {}",
                match self.retries {
                    1 => "once".to_owned(),
                    n => format!("{n} times"),
                },
                self.last_message
            )
        })
    }
}

/// Whether a build failed because the daemon lost a layer it had: worth a retry.
fn lost_layer(message: &str) -> bool {
    message.contains("layer does not exist") || removed_meanwhile(message)
}

/// Whether a cached image the build was using was removed under it (by another run, a
/// `docker image rm`, another workspace's clean-up).
fn removed_meanwhile(message: &str) -> bool {
    message.contains("unable to find image")
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn a_label_is_one_line() {
        assert_eq!(one_line("two\nlines\r\nhere"), "two lines  here");
    }
}
