//! One step, from inputs to image. As in EXASLCT, a step is done in two phases: the
//! analysis hashes the step and asks the tiers where its image is ([`Builder::analyze`]);
//! if the daemon has it that is the result, otherwise the step continues as one
//! [`Obtain`] that loads, pulls or builds it ([`Builder::obtain`]). The run's executor
//! turns the second phase into a node of its own, so the graph shows what happened.

use std::sync::Arc;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::docker::StatusSink;
use crate::engine::NodeError;
use crate::hash::HashError;
use crate::job::JobRecord;
use crate::model::{StepId, Workspace};

use super::analysis::{Analysis, analyze};
use super::bases::Bases;
use super::error::BuildError;
use super::preflight;
use super::source::Source;
use super::tiers::{Build, NodeOutputs, Tiers, Warnings};

/// What getting a step's image needs once the analysis is done.
#[derive(Debug)]
pub struct Obtain {
    pub step: StepId,
    pub analysis: Arc<Analysis>,
    /// The tier to start from (the first that has the image, or a build).
    pub source: Source,
    /// Each needed step's name and image, for the Dockerfile template.
    pub images: Vec<(String, String)>,
    /// Needed images `--shortcut` left where they are: a build loads them first.
    pub deferred: Vec<Arc<Obtain>>,
    /// `--force-rebuild`: a build runs every instruction anew.
    pub forced: bool,
    pub warnings: Warnings,
}

/// A step's image, as a run reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    pub step: StepId,
    /// Where it came from (or, when only planned, would come from).
    pub tier: Source,
    /// `<repository>:<flavor>-<step>_<hash prefix>`.
    pub tag: String,
    /// The full kiln hash of the step's inputs.
    pub hash: String,
    /// The daemon's image id; `None` when only planned and not in the daemon.
    pub image_id: Option<String>,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub analysis: Arc<Analysis>,
    /// `--shortcut` left the image in its tier (`tier` is the file cache or the
    /// registry): nothing needs it in the daemon unless a step built on it is built.
    /// Events show it as `"shortcut": true`.
    #[serde(
        rename = "shortcut",
        serialize_with = "left_in_tier",
        skip_serializing_if = "Option::is_none"
    )]
    pub deferred: Option<Arc<Obtain>>,
}

fn left_in_tier<S: serde::Serializer>(
    deferred: &Option<Arc<Obtain>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_bool(deferred.is_some())
}

/// What the analysis found.
#[derive(Debug)]
pub enum Located {
    /// The daemon has the image, or (planning only) where it would come from.
    Done(Image),
    /// It has to be loaded, pulled or built.
    Obtain(Obtain),
}

/// How a run may get images.
#[derive(Debug, Clone, Default)]
pub struct BuildPolicy {
    /// Pull from the registry even when the daemon or the file cache has the image.
    pub force_pull: bool,
    /// Fail instead of building.
    pub no_build: bool,
    /// Only say where each image would come from (`kiln plan`).
    pub plan_only: bool,
    /// Leave an image in the file cache or the registry when the plan does not want it
    /// itself and no step built on it is built (EXASLCT's behaviour).
    pub shortcut: bool,
}

/// Gets the images of steps, for every node of a run.
pub struct Builder {
    pub workspace: Arc<Workspace>,
    pub tiers: Tiers,
    pub policy: BuildPolicy,
    /// Where logs, rendered Dockerfiles and manifests go; `None` when only planning.
    pub job: Option<JobRecord>,
}

impl Builder {
    /// The identities of the external base images of `step` (see [`Bases`]); pulled
    /// first where the daemon lacks one and this run may build.
    async fn bases(
        &self,
        step: &crate::model::Step,
        cancel: &CancellationToken,
    ) -> Result<Bases, NodeError> {
        let mut bases = Bases::default();
        // An unreadable Dockerfile is the analysis's error to report.
        let Ok(template) = std::fs::read_to_string(&step.dockerfile.value) else {
            return Ok(bases);
        };
        let references = super::bases::of_step(step, &template);
        if references.is_empty() {
            return Ok(bases);
        }
        cancel
            .run_until_cancelled(bases.resolve(
                &self.tiers.daemon,
                references,
                !self.policy.plan_only,
            ))
            .await
            .ok_or_else(NodeError::cancelled)?
            .map_err(NodeError::from_diagnostic)?;
        Ok(bases)
    }

    /// The declaration of a step.
    fn declaration(&self, step: &StepId) -> Result<&crate::model::Step, NodeError> {
        self.workspace
            .find_step(step)
            .ok_or_else(|| NodeError::message(format!("no step {step} in the workspace")))
    }

    /// Hashes the step, given the images of the steps it needs, and decides where its
    /// image comes from.
    pub async fn analyze(
        &self,
        id: &StepId,
        forced: bool,
        wanted: bool,
        needs: &[&Image],
        cancel: &CancellationToken,
    ) -> Result<Located, NodeError> {
        let step = self.declaration(id)?.clone();
        let hashes: Vec<(String, String)> = needs
            .iter()
            .map(|i| (i.step.step.clone(), i.hash.clone()))
            .collect();
        let images: Vec<(String, String)> = needs
            .iter()
            .map(|i| (i.step.step.clone(), i.tag.clone()))
            .collect();
        let bases = self.bases(&step, cancel).await?;
        let workspace = Arc::clone(&self.workspace);
        let flavor = id.flavor.clone();
        let stop = cancel.clone();
        let analysis = tokio::task::spawn_blocking(move || {
            analyze(&workspace, &flavor, &step, &hashes, &bases, &stop)
        })
        .await
        .map_err(NodeError::message)?
        .map_err(|e| match e {
            BuildError::Hash(HashError::Cancelled) => NodeError::cancelled(),
            other => NodeError::from_diagnostic(other),
        })?;
        if let Some(job) = &self.job
            && let Err(e) = job.write_json(&job.manifest(&id.stem()), &analysis.manifest)
        {
            tracing::warn!("cannot record the manifest of {id}: {e}");
        }
        let (source, warnings, image_id) = self
            .tiers
            .locate(&analysis, forced, self.policy.force_pull)
            .await;
        let analysis = Arc::new(analysis);
        if source == Source::Built {
            self.preflight(id, &analysis, &images)?;
        }
        let deferred = needs.iter().filter_map(|i| i.deferred.clone()).collect();
        let obtain = Obtain {
            step: id.clone(),
            analysis: Arc::clone(&analysis),
            source,
            images,
            deferred,
            forced,
            warnings: warnings.clone(),
        };
        if self.policy.shortcut && !wanted && source.tier().is_some_and(|t| t.moves()) {
            let mut image = image(id, analysis, source, image_id, warnings);
            image.deferred = Some(Arc::new(obtain));
            return Ok(Located::Done(image));
        }
        if source == Source::DAEMON || self.policy.plan_only {
            return Ok(Located::Done(image(
                id, analysis, source, image_id, warnings,
            )));
        }
        if source == Source::Built && self.policy.no_build {
            return Err(NodeError::from_diagnostic(BuildError::NoBuild {
                images: vec![analysis.image.clone()],
            }));
        }
        Ok(Located::Obtain(obtain))
    }

    /// Checks the Dockerfile of a step about to be built (or that `kiln plan` says would
    /// be) against its context: a mistake fails the node before the build starts.
    fn preflight(
        &self,
        id: &StepId,
        analysis: &Analysis,
        images: &[(String, String)],
    ) -> Result<(), NodeError> {
        let step = self.declaration(id)?;
        let shown = crate::model::display_path(&self.workspace.root, &step.dockerfile.value);
        let secrets: Vec<String> = step.secrets.iter().map(|s| s.id.value.clone()).collect();
        let problems = preflight::check(
            &preflight::Dockerfile {
                step: &id.step,
                shown: &shown,
                template: &analysis.dockerfile,
                images,
                secrets: &secrets,
            },
            analysis.context.files.iter().map(|f| f.path.as_str()),
        );
        if problems.is_empty() {
            Ok(())
        } else {
            Err(NodeError::from_diagnostic(preflight::Problems {
                step: id.step.clone(),
                problems,
            }))
        }
    }

    /// Loads, pulls or builds the image; `status` hears what it is on.
    pub async fn obtain(
        &self,
        obtain: &Obtain,
        status: StatusSink,
        cancel: &CancellationToken,
    ) -> Result<Image, NodeError> {
        let stem = obtain.step.stem();
        let step = self.declaration(&obtain.step)?;
        let job = self
            .job
            .as_ref()
            .ok_or_else(|| NodeError::message("a run that gets images needs a job record"))?;
        let paths = NodeOutputs {
            log: job.log(&stem),
            rendered: job.rendered_dockerfile(&stem),
            dockerfile_shown: crate::model::display_path(
                &self.workspace.root,
                &step.dockerfile.value,
            ),
            description: step.description.clone(),
            status,
        };
        // A load or pull of a large image stops on an interrupt too (a build does by
        // itself, with the token).
        let (source, more) = cancel
            .run_until_cancelled(self.obtain_with_needs(obtain, &paths, cancel))
            .await
            .ok_or_else(NodeError::cancelled)?
            .map_err(|e| match e {
                BuildError::Docker(_) | BuildError::InstructionFailed(_) => {
                    NodeError::from_diagnostic(e).with_log(&paths.log)
                }
                other => NodeError::from_diagnostic(other),
            })?;
        let mut warnings = obtain.warnings.clone();
        warnings.extend(more);
        let image_id = match self.tiers.daemon.inspect(&obtain.analysis.image).await {
            Ok(info) => info.map(|i| i.id),
            Err(e) => {
                warnings.push(format!("daemon: {e}"));
                None
            }
        };
        Ok(image(
            &obtain.step,
            Arc::clone(&obtain.analysis),
            source,
            image_id,
            warnings,
        ))
    }
}

impl Builder {
    /// Gets the image; before a build, the needed images `--shortcut` left in their
    /// tiers are loaded or pulled (a build is `FROM` them). A step that could be loaded
    /// needs none of them, unless its tiers fail and it is built after all.
    async fn obtain_with_needs(
        &self,
        obtain: &Obtain,
        paths: &NodeOutputs,
        cancel: &CancellationToken,
    ) -> Result<(Source, Warnings), BuildError> {
        let tiers = &self.tiers;
        if obtain.source != Source::Built && !obtain.deferred.is_empty() {
            let only_load = tiers
                .obtain(
                    &obtain.analysis,
                    obtain.source,
                    &obtain.images,
                    Build::Forbidden,
                    paths,
                    cancel,
                )
                .await;
            match only_load {
                Err(BuildError::NoBuild { .. }) if !self.policy.no_build => {}
                done => return done,
            }
        }
        let mut warnings = Warnings::new();
        for need in &obtain.deferred {
            tracing::info!(
                "{}: loading {} first, which --shortcut had left in its tier",
                obtain.step,
                need.analysis.image
            );
            // Never built here: its tier had it when the run looked.
            let (_, more) = tiers
                .obtain(
                    &need.analysis,
                    Source::DAEMON,
                    &need.images,
                    Build::Forbidden,
                    paths,
                    cancel,
                )
                .await
                .map_err(|e| match e {
                    BuildError::NoBuild { .. } => BuildError::ShortcutGone {
                        image: need.analysis.image.clone(),
                        tier: need.source.place(),
                    },
                    other => other,
                })?;
            warnings.extend(more);
        }
        let build = if self.policy.no_build {
            Build::Forbidden
        } else if obtain.forced {
            Build::Fresh
        } else {
            Build::Cached
        };
        let (source, more) = tiers
            .obtain(
                &obtain.analysis,
                obtain.source,
                &obtain.images,
                build,
                paths,
                cancel,
            )
            .await?;
        warnings.extend(more);
        Ok((source, warnings))
    }
}

fn image(
    step: &StepId,
    analysis: Arc<Analysis>,
    tier: Source,
    image_id: Option<String>,
    warnings: Warnings,
) -> Image {
    for warning in &warnings {
        tracing::warn!("{step}: {warning}");
    }
    Image {
        step: step.clone(),
        tier,
        tag: analysis.image.clone(),
        hash: analysis.hash.clone(),
        image_id,
        warnings,
        analysis,
        deferred: None,
    }
}
