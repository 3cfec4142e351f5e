//! The build executor. As in EXASLCT, a step is two nodes: the planned node analyses the
//! step (hash, image name) and asks the tiers where its image is; if the daemon has it,
//! that is the node's output. Otherwise it expands (fork-join) into one node that loads,
//! pulls or builds the image, and its dependents wait for that node instead.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::engine::{Executor, Expansion, Node, NodeError, RunContext, Step};
use crate::model::Workspace;
use crate::report::job::JobRecord;

use super::analysis::{Analysis, analyze};
use super::error::BuildError;
use super::options::BuildOptions;
use super::source::Source;
use super::tiers::{NodePaths, Tiers, Warnings};

/// A node of the build graph: one phase of one step of a flavor.
#[derive(Debug, Clone)]
pub struct BuildNode {
    pub flavor: String,
    pub step: String,
    pub phase: Phase,
}

/// What a build node does.
#[derive(Debug, Clone)]
pub enum Phase {
    /// Hash the step and find its image: the planned graph's nodes.
    Analyze,
    /// Get the image from `source` (or the tiers after it): added by the analysis.
    Obtain(Arc<Obtain>),
}

/// What the analysis hands to the node that gets the image.
#[derive(Debug)]
pub struct Obtain {
    pub analysis: Arc<Analysis>,
    pub source: Source,
    /// Each needed step's name and image, for the Dockerfile template.
    pub images: Vec<(String, String)>,
    pub warnings: Warnings,
}

impl BuildNode {
    /// The planned node of `flavor/step`.
    pub fn analyze(flavor: &str, step: &str) -> Self {
        Self {
            flavor: flavor.to_owned(),
            step: step.to_owned(),
            phase: Phase::Analyze,
        }
    }

    /// `flavor/step`, whatever the phase.
    pub fn step_id(&self) -> String {
        format!("{}/{}", self.flavor, self.step)
    }
}

impl Node for BuildNode {
    /// `slc/release` for the analysis, `slc/release:build` (`:load`, `:pull`) after it.
    fn id(&self) -> String {
        match &self.phase {
            Phase::Analyze => self.step_id(),
            Phase::Obtain(obtain) => format!(
                "{}:{}",
                self.step_id(),
                match obtain.source {
                    Source::Daemon | Source::File => "load",
                    Source::Registry => "pull",
                    Source::Built => "build",
                }
            ),
        }
    }
}

/// What a step leaves for its dependents and the summary.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    pub analysis: Arc<Analysis>,
    pub source: Source,
    pub saved: bool,
    pub pushed: bool,
    pub warnings: Vec<String>,
}

pub struct BuildExecutor {
    pub workspace: Arc<Workspace>,
    pub tiers: Tiers,
    pub options: BuildOptions,
    pub job: JobRecord,
    /// `flavor/step` of the steps to build whatever the caches hold.
    pub forced: HashSet<String>,
}

#[async_trait]
impl Executor<BuildNode> for BuildExecutor {
    type Output = BuildOutput;

    async fn run(
        &self,
        node: &BuildNode,
        ctx: RunContext<'_, BuildOutput>,
    ) -> Result<Step<BuildNode, BuildOutput>, NodeError> {
        match &node.phase {
            Phase::Analyze => self.analyze(node, &ctx).await,
            Phase::Obtain(obtain) => self.obtain(node, obtain, &ctx).await.map(Step::Done),
        }
    }
}

impl BuildExecutor {
    /// The declaration of `node`'s step.
    fn step(&self, node: &BuildNode) -> Result<&crate::model::Step, NodeError> {
        self.workspace
            .flavor(&node.flavor)
            .and_then(|f| f.step(&node.step))
            .ok_or_else(|| {
                NodeError::message(format!("no step {} in the workspace", node.step_id()))
            })
    }

    /// Hashes the step and decides where its image comes from.
    async fn analyze(
        &self,
        node: &BuildNode,
        ctx: &RunContext<'_, BuildOutput>,
    ) -> Result<Step<BuildNode, BuildOutput>, NodeError> {
        let step = self.step(node)?.clone();
        // Each needed step's hash and image, by step name.
        let mut hashes = Vec::new();
        let mut images = Vec::new();
        for (_, output) in &ctx.deps {
            hashes.push((output.analysis.step.clone(), output.analysis.hash.clone()));
            images.push((output.analysis.step.clone(), output.analysis.image.clone()));
        }
        let repository = self.workspace.settings.repository.clone();
        let skip = self.workspace.settings.own_dirs();
        let flavor = node.flavor.clone();
        let analysis = tokio::task::spawn_blocking(move || {
            analyze(&repository, &flavor, &step, &hashes, skip)
        })
        .await
        .map_err(NodeError::message)?
        .map_err(NodeError::from_diagnostic)?;
        let stem = JobRecord::stem(&node.flavor, &node.step);
        if let Err(e) = self
            .job
            .write_json(&self.job.manifest(&stem), &analysis.manifest)
        {
            tracing::warn!("cannot record the manifest of {}: {e}", node.step_id());
        }
        let forced = self.forced.contains(&node.step_id());
        let (source, warnings) = self
            .tiers
            .locate(&analysis, forced, self.options.force_pull)
            .await;
        let analysis = Arc::new(analysis);
        if source == Source::Daemon {
            return self
                .finish(node, analysis, source, warnings, &ctx.cancel)
                .await
                .map(Step::Done);
        }
        if source == Source::Built && self.options.no_build {
            return Err(NodeError::from_diagnostic(BuildError::NoBuild {
                images: vec![analysis.image.clone()],
            }));
        }
        Ok(Step::Expand(Expansion {
            nodes: Vec::new(),
            join: BuildNode {
                flavor: node.flavor.clone(),
                step: node.step.clone(),
                phase: Phase::Obtain(Arc::new(Obtain {
                    analysis,
                    source,
                    images,
                    warnings,
                })),
            },
        }))
    }

    /// Loads, pulls or builds the image.
    async fn obtain(
        &self,
        node: &BuildNode,
        obtain: &Obtain,
        ctx: &RunContext<'_, BuildOutput>,
    ) -> Result<BuildOutput, NodeError> {
        let stem = JobRecord::stem(&node.flavor, &node.step);
        let step = self.step(node)?;
        let paths = NodePaths {
            log: self.job.log(&stem),
            rendered: self.job.rendered_dockerfile(&stem),
            dockerfile_shown: crate::config::display_path(
                &self.workspace.root,
                &step.dockerfile.value,
            ),
            description: step.description.clone(),
        };
        let obtained = self.tiers.obtain(
            &obtain.analysis,
            obtain.source,
            &obtain.images,
            self.options.no_build,
            &paths,
            &ctx.cancel,
        );
        // A load or pull of a large image stops on an interrupt too (a build does by
        // itself, with the token).
        let (source, more) = ctx
            .cancel
            .run_until_cancelled(obtained)
            .await
            .ok_or_else(NodeError::cancelled)?
            .map_err(|e| match e {
                BuildError::Docker(_) => NodeError::from_diagnostic(e).with_log(&paths.log),
                other => NodeError::from_diagnostic(other),
            })?;
        let mut warnings = obtain.warnings.clone();
        warnings.extend(more);
        self.finish(
            node,
            Arc::clone(&obtain.analysis),
            source,
            warnings,
            &ctx.cancel,
        )
        .await
    }

    /// Saves and pushes the image if asked; the step's output.
    async fn finish(
        &self,
        node: &BuildNode,
        analysis: Arc<Analysis>,
        source: Source,
        mut warnings: Warnings,
        cancel: &CancellationToken,
    ) -> Result<BuildOutput, NodeError> {
        let saved = if self.options.save {
            // Interrupted, the save is dropped: its temporary file goes with it.
            cancel
                .run_until_cancelled(self.tiers.save(&analysis))
                .await
                .ok_or_else(NodeError::cancelled)?
                .map_err(NodeError::from_diagnostic)?
        } else {
            false
        };
        let mut pushed = false;
        if self.options.push {
            if self.tiers.registry.is_none() {
                warnings.push("--push: kiln.kdl names no registry".to_owned());
            } else {
                pushed = cancel
                    .run_until_cancelled(self.tiers.push(&analysis))
                    .await
                    .ok_or_else(NodeError::cancelled)?
                    .map_err(NodeError::from_diagnostic)?;
            }
        }
        for warning in &warnings {
            tracing::warn!("{}: {warning}", node.step_id());
        }
        Ok(BuildOutput {
            analysis,
            source,
            saved,
            pushed,
            warnings,
        })
    }
}
