//! The build executor: runs one build node of the engine — analyse the step, then use,
//! load, pull or build its image, then save or push it if asked.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::engine::{Executor, Node, NodeError, RunContext, Step};
use crate::model::Workspace;
use crate::report::job::JobRecord;

use super::analysis::{Analysis, analyze};
use super::options::BuildOptions;
use super::source::Source;
use super::tiers::{NodePaths, Tiers};

/// A step of a flavor, as a node of the engine's graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BuildNode {
    pub flavor: String,
    pub step: String,
}

impl Node for BuildNode {
    fn id(&self) -> String {
        format!("{}/{}", self.flavor, self.step)
    }
}

/// What a build node leaves for its dependents and the summary.
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
    /// Nodes to build whatever the caches hold.
    pub forced: HashSet<BuildNode>,
}

#[async_trait]
impl Executor<BuildNode> for BuildExecutor {
    type Output = BuildOutput;

    async fn run(
        &self,
        node: &BuildNode,
        ctx: RunContext<'_, BuildOutput>,
    ) -> Result<Step<BuildNode, BuildOutput>, NodeError> {
        let flavor = self
            .workspace
            .flavor(&node.flavor)
            .ok_or_else(|| NodeError::message(format!("unknown flavor {}", node.flavor)))?;
        let step = flavor
            .step(&node.step)
            .ok_or_else(|| NodeError::message(format!("unknown step {}", node.id())))?
            .clone();
        // Each needed step's hash and image, by step name.
        let mut hashes = Vec::new();
        let mut images = Vec::new();
        for (_, output) in ctx.deps.iter() {
            hashes.push((output.analysis.step.clone(), output.analysis.hash.clone()));
            images.push((output.analysis.step.clone(), output.analysis.image.clone()));
        }
        let repository = self.workspace.settings.repository.clone();
        let flavor_name = node.flavor.clone();
        let analysis =
            tokio::task::spawn_blocking(move || analyze(&repository, &flavor_name, &step, &hashes))
                .await
                .map_err(NodeError::message)?
                .map_err(NodeError::from_diagnostic)?;
        let stem = JobRecord::stem(&node.flavor, &node.step);
        let _ = self
            .job
            .write_json(&self.job.manifest(&stem), &analysis.manifest);
        let step = flavor.step(&node.step).expect("checked above");
        let paths = NodePaths {
            log: self.job.log(&stem),
            rendered: self.job.rendered_dockerfile(&stem),
            dockerfile_shown: crate::config::display_path(
                &self.workspace.root,
                &step.dockerfile.value,
            ),
            description: step.description.clone(),
        };
        let forced = self.forced.contains(node);
        let (source, mut warnings) = self
            .tiers
            .obtain(
                &analysis,
                &images,
                forced,
                self.options.force_pull,
                self.options.no_build,
                &paths,
                &ctx.cancel,
            )
            .await
            .map_err(|e| NodeError::from_diagnostic(e).with_log(&paths.log))?;
        let mut saved = false;
        let mut pushed = false;
        if self.options.save {
            match self.tiers.save(&analysis).await {
                Ok(done) => saved = done,
                Err(e) => return Err(NodeError::from_diagnostic(e)),
            }
        }
        if self.options.push {
            if self.tiers.registry.is_none() {
                warnings.push("--push: no registry is set in kiln.kdl".to_owned());
            } else {
                pushed = self
                    .tiers
                    .push(&analysis)
                    .await
                    .map_err(NodeError::from_diagnostic)?;
            }
        }
        for warning in &warnings {
            tracing::warn!("{}: {warning}", node.id());
        }
        Ok(Step::Done(BuildOutput {
            analysis: Arc::new(analysis),
            source,
            saved,
            pushed,
            warnings,
        }))
    }
}
