//! The cache tiers, asked in order for a step's image: daemon (inspect by tag) → file
//! cache (tarball + checksum) → registry (asked without pulling) → build. An image is
//! taken from a tier only when its `io.kiln.hash` label is the step's hash: a tarball or
//! a registry tag holding another image is rejected (the tarball moved aside, the tag a
//! pull applied removed). A tier that fails — a corrupt tarball, another image, a
//! registry that is down — is reported as a warning and skipped, never fatal by itself.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use crate::cache::file::{self, Lookup};
use crate::docker::{Backend, BuildRequest, Daemon, DockerError, RelabelError, StatusSink, labels};
use crate::hash;
use crate::job::{CappedLog, LOG_LIMIT};

use super::analysis::Analysis;
use super::dockerfile::{self, RENDERED_PATH};
use super::error::BuildError;
use super::failure;
use super::naming::remote_name;
use super::secrets;
use super::source::Source;

/// The tiers available to a run.
#[derive(Debug, Clone)]
pub struct Tiers {
    pub daemon: Daemon,
    /// File cache folder.
    pub cache_dir: PathBuf,
    /// Remote repository, e.g. `127.0.0.1:5000/kiln`.
    pub registry: Option<String>,
    /// The first failure to ask the registry in this run: a registry that is down (or
    /// hangs until the daemon's timeout) is not asked again for every step.
    pub registry_failed: Arc<OnceLock<String>>,
    /// Set once the first registry question of the run was answered: until then the
    /// others wait, so steps asking at once do not all hit a registry that is down.
    pub registry_asked: Arc<tokio::sync::OnceCell<()>>,
    /// Where a run holds a lock for each image it is getting (`.kiln/locks`): a second
    /// run on the workspace (two `kiln build --save` at once) waits for the first and
    /// reuses its image instead of building it again.
    pub lock_dir: PathBuf,
    /// The daemon's builder that builds images.
    pub backend: Backend,
}

/// Something a tier reported without failing the step.
pub type Warnings = Vec<String>;

/// What one tier says of an image (`kiln explain`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TierAnswer {
    /// `daemon`, `file` or `registry`.
    pub tier: &'static str,
    pub hit: bool,
    /// What it has, or why not.
    pub detail: String,
}

impl Tiers {
    /// Where the image would come from, changing nothing (for `kiln plan` and
    /// `--no-build`), and its image id when the daemon has it.
    pub async fn locate(
        &self,
        analysis: &Analysis,
        forced: bool,
        force_pull: bool,
    ) -> (Source, Warnings, Option<String>) {
        let (source, warnings) = self.find(analysis, forced, force_pull).await;
        match source {
            Ok(id) => (Source::Daemon, warnings, Some(id)),
            Err(source) => (source, warnings, None),
        }
    }

    /// Each tier asked for the image of `analysis`, in order, changing nothing; each
    /// says hit or miss and why.
    pub async fn answers(&self, analysis: &Analysis) -> Vec<TierAnswer> {
        let answer = |tier, hit, detail: String| TierAnswer { tier, hit, detail };
        let daemon = match self.daemon.inspect(&analysis.image).await {
            Ok(Some(info)) if has_hash(&info.labels, &analysis.hash) => {
                answer("daemon", true, format!("has {}", analysis.image))
            }
            Ok(Some(_)) => answer(
                "daemon",
                false,
                format!(
                    "{} is another image: its {} label is not this hash",
                    analysis.image,
                    labels::HASH
                ),
            ),
            Ok(None) => answer("daemon", false, "no image with this hash".to_owned()),
            Err(e) => answer("daemon", false, format!("not asked: {e}")),
        };
        let entry = file::Entry::new(&self.cache_dir, &analysis.image);
        let file = if entry.present() {
            answer("file", true, format!("has {}", entry.tarball.display()))
        } else if entry.tarball.is_file() {
            answer(
                "file",
                false,
                format!(
                    "{} has no checksum beside it: not trusted",
                    entry.tarball.display()
                ),
            )
        } else {
            answer("file", false, "no tarball".to_owned())
        };
        let registry = match &self.registry {
            None => answer("registry", false, "no registry set".to_owned()),
            Some(registry) => {
                let remote = remote_name(registry, &analysis.image);
                match self.registry_lookup(&remote).await {
                    Ok(true) => answer("registry", true, format!("has {remote}")),
                    Ok(false) => answer("registry", false, format!("not in {registry}")),
                    Err(e) => answer("registry", false, format!("unreachable: {e}")),
                }
            }
        };
        vec![daemon, file, registry]
    }

    /// `Ok(image id)` when the daemon has the image, else the tier it would come from.
    async fn find(
        &self,
        analysis: &Analysis,
        forced: bool,
        force_pull: bool,
    ) -> (Result<String, Source>, Warnings) {
        let mut warnings = Warnings::new();
        if forced {
            return (Err(Source::Built), warnings);
        }
        if !force_pull {
            match self.daemon.inspect(&analysis.image).await {
                Ok(Some(info)) if has_hash(&info.labels, &analysis.hash) => {
                    return (Ok(info.id), warnings);
                }
                Ok(_) => {}
                Err(e) => warnings.push(format!("daemon: {e}")),
            }
            if file::Entry::new(&self.cache_dir, &analysis.image).present() {
                return (Err(Source::File), warnings);
            }
        }
        if let Some(registry) = &self.registry {
            match self
                .registry_lookup(&remote_name(registry, &analysis.image))
                .await
            {
                Ok(true) => return (Err(Source::Registry), warnings),
                Ok(false) => {}
                Err(e) => warnings.push(format!("registry skipped: {e}")),
            }
        }
        (Err(Source::Built), warnings)
    }

    /// Gets the image into the daemon from `start` — the tier [`Tiers::locate`] chose —
    /// or the tiers after it: a tier that fails is a warning and the next is asked; the
    /// last is a build, as `build` says. `dependencies` maps each needed step's name to
    /// its image name.
    pub async fn obtain(
        &self,
        analysis: &Analysis,
        start: Source,
        dependencies: &[(String, String)],
        build: Build,
        paths: &NodeOutputs,
        cancel: &CancellationToken,
    ) -> Result<(Source, Warnings), BuildError> {
        let mut warnings = Warnings::new();
        let (_held, waited) = self.hold(&analysis.image).await?;
        // Another run got the image while this one waited: the daemon has it now.
        if start == Source::Daemon || waited {
            match self.daemon.inspect(&analysis.image).await {
                Ok(Some(info)) if has_hash(&info.labels, &analysis.hash) => {
                    return Ok((Source::Daemon, warnings));
                }
                Ok(_) => {}
                Err(e) => warnings.push(format!("daemon: {e}")),
            }
        }
        if matches!(start, Source::Daemon | Source::File) {
            paths.status.tell("loading from the file cache");
            let loaded = file::load(
                &self.daemon,
                &self.cache_dir,
                &analysis.image,
                &analysis.hash,
            );
            match loaded.await {
                Ok(Lookup::Loaded) => return Ok((Source::File, warnings)),
                Ok(Lookup::Missing) => {}
                Ok(Lookup::Corrupt {
                    problem,
                    moved_to,
                    untag_failed,
                }) => {
                    warnings.push(format!(
                        "file cache: the tarball of {} is {} ({problem}); moved to {}",
                        analysis.image,
                        if problem.is_corrupt() {
                            "corrupt"
                        } else {
                            "not used"
                        },
                        moved_to
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| "nowhere (could not move it)".to_owned())
                    ));
                    if let Some(e) = untag_failed {
                        warnings.push(format!(
                            "file cache: the tag {} the load gave another image stays: {e}",
                            analysis.image
                        ));
                    }
                }
                Err(e) => warnings.push(format!("file cache skipped: {e}")),
            }
        }
        if start != Source::Built
            && let Some(registry) = &self.registry
        {
            let remote = remote_name(registry, &analysis.image);
            match self.registry_lookup(&remote).await {
                Ok(true) => {
                    paths.status.tell("pulling from the registry");
                    match self.pull(&remote, analysis, &mut warnings).await {
                        Ok(()) => return Ok((Source::Registry, warnings)),
                        Err(e) => warnings.push(format!("registry skipped: {e}")),
                    }
                }
                Ok(false) => {}
                Err(e) => warnings.push(format!("registry skipped: {e}")),
            }
        }
        if build == Build::Forbidden {
            return Err(BuildError::NoBuild {
                images: vec![analysis.image.clone()],
            });
        }
        let fresh = build == Build::Fresh;
        if let Some(retried) = self
            .build(analysis, dependencies, fresh, paths, cancel)
            .await?
        {
            warnings.push(retried);
        }
        Ok((Source::Built, warnings))
    }

    /// The lock of `image`, waiting while another run holds it; whether it waited.
    /// (Dropping the future, as cancellation does, stops the wait.)
    async fn hold(&self, image: &str) -> Result<(std::fs::File, bool), BuildError> {
        std::fs::create_dir_all(&self.lock_dir).map_err(|e| io(&self.lock_dir, e))?;
        let path = self
            .lock_dir
            .join(format!("{}.lock", crate::cache::file::file_stem(image)));
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
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
                Err(std::fs::TryLockError::Error(e)) => return Err(io(&path, e)),
            }
        }
    }

    /// Pulls `remote` and tags it as the step's image, if it is the step's image: its
    /// `io.kiln.hash` label is the step's hash. Otherwise the tag the pull applied is
    /// removed again (only the tag: the image stays if another tag or a container uses
    /// it) and the step's image is left alone.
    async fn pull(
        &self,
        remote: &str,
        analysis: &Analysis,
        warnings: &mut Warnings,
    ) -> Result<(), BuildError> {
        self.daemon.pull(remote).await?;
        let found = self
            .daemon
            .inspect(remote)
            .await?
            .and_then(|info| info.labels.get(labels::HASH).cloned());
        if found.as_deref() != Some(analysis.hash.as_str()) {
            if let Err(e) = self.daemon.remove(remote, false).await {
                warnings.push(format!(
                    "registry: the tag {remote} the pull gave another image stays: {e}"
                ));
            }
            return Err(BuildError::WrongImage {
                image: remote.to_owned(),
                expected: analysis.hash.clone(),
                found,
            });
        }
        self.daemon.tag(remote, &analysis.image).await?;
        Ok(())
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

    /// Writes the image to the file cache unless it is there already (also when
    /// another run saved it while this one waited for the image's lock).
    pub async fn save(&self, analysis: &Analysis) -> Result<bool, BuildError> {
        let _held = self.hold(&analysis.image).await?;
        if file::Entry::new(&self.cache_dir, &analysis.image).present() {
            return Ok(false);
        }
        file::store(&self.daemon, &self.cache_dir, &analysis.image).await?;
        Ok(true)
    }

    /// Whether the registry has `remote`; once asking failed in this run, the first
    /// failure again without asking.
    async fn registry_lookup(&self, remote: &str) -> Result<bool, String> {
        let earlier = |first: &String| format!("it failed earlier in this run: {first}");
        if let Some(first) = self.registry_failed.get() {
            return Err(earlier(first));
        }
        let mut first_answer = None;
        self.registry_asked
            .get_or_init(|| async {
                first_answer = Some(self.ask_registry(remote).await);
            })
            .await;
        if let Some(answer) = first_answer {
            return answer;
        }
        if let Some(first) = self.registry_failed.get() {
            return Err(earlier(first));
        }
        self.ask_registry(remote).await
    }

    /// Asks the registry; a failure is remembered for the rest of the run.
    async fn ask_registry(&self, remote: &str) -> Result<bool, String> {
        self.daemon.registry_has(remote).await.map_err(|e| {
            let text = e.to_string();
            let _ = self.registry_failed.set(text.clone());
            text
        })
    }

    /// Pushes the image to the registry unless it is there already.
    pub async fn push(&self, analysis: &Analysis) -> Result<bool, BuildError> {
        let Some(registry) = &self.registry else {
            return Ok(false);
        };
        let remote = remote_name(registry, &analysis.image);
        if self.daemon.registry_has(&remote).await? {
            return Ok(false);
        }
        self.daemon.tag(&analysis.image, &remote).await?;
        self.daemon.push(&remote).await?;
        Ok(true)
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

fn has_hash(labels: &HashMap<String, String>, hash: &str) -> bool {
    labels.get(labels::HASH).map(String::as_str) == Some(hash)
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
