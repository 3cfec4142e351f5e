//! Runs a [`WorkNode`]: builds through the [`BuildExecutor`], checks through the
//! [`CheckRunner`].

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::build::{BuildExecutor, BuildNode, BuildOutput};
use crate::check::CheckRunner;
use crate::engine::{Executor, Expansion, Node, NodeError, NodeId, RunContext, Step};
use crate::report::outputs::{BuiltStep, NotDone, write_reports};

use super::node::{WorkNode, WorkOutput};

pub struct WorkExecutor {
    pub build: BuildExecutor,
    pub check: Arc<CheckRunner>,
    /// The build node of each environment `flavor/step`, for entity nodes to depend on.
    pub environments: HashMap<String, NodeId>,
}

#[async_trait]
impl Executor<WorkNode> for WorkExecutor {
    type Output = WorkOutput;

    async fn run(
        &self,
        node: &WorkNode,
        ctx: RunContext<'_, WorkOutput>,
    ) -> Result<Step<WorkNode, WorkOutput>, NodeError> {
        match node {
            WorkNode::Build(build) => self.build(build, ctx).await,
            WorkNode::Discover { flavor, check } => {
                let runner = Arc::clone(&self.check);
                let (f, c) = (flavor.clone(), check.clone());
                let tasks = tokio::task::spawn_blocking(move || runner.discover(&f, &c))
                    .await
                    .map_err(NodeError::message)?
                    .map_err(NodeError::from_diagnostic)?;
                let mut nodes = Vec::with_capacity(tasks.len());
                for task in tasks {
                    let environment =
                        *self.environments.get(&task.environment).ok_or_else(|| {
                            NodeError::message(format!(
                                "{}: no build of environment {}",
                                task.id(),
                                task.environment
                            ))
                        })?;
                    nodes.push((WorkNode::Entity(Arc::new(task)), vec![environment]));
                }
                Ok(Step::Expand(Expansion {
                    nodes,
                    join: WorkNode::Record {
                        flavor: flavor.clone(),
                        check: check.clone(),
                    },
                }))
            }
            WorkNode::Entity(task) => {
                let image = ctx
                    .deps
                    .iter()
                    .find_map(|(_, output)| {
                        output.build().filter(|b| {
                            format!("{}/{}", b.analysis.flavor, b.analysis.step) == task.environment
                        })
                    })
                    .map(|b| b.analysis.image.clone())
                    .ok_or_else(|| {
                        NodeError::message(format!(
                            "{}: its environment image is missing",
                            task.id()
                        ))
                    })?;
                let result = self
                    .check
                    .run(task, &image, &ctx.cancel)
                    .await
                    .map_err(NodeError::from_diagnostic)?;
                Ok(Step::Done(WorkOutput::Entity(result)))
            }
            WorkNode::Save { .. } | WorkNode::Push { .. } | WorkNode::Export { .. } => {
                // Interrupted, the task is dropped: a half-written file goes with it.
                let text = ctx
                    .cancel
                    .run_until_cancelled(self.image_task(node, &ctx))
                    .await
                    .ok_or_else(NodeError::cancelled)??;
                Ok(Step::Done(WorkOutput::Task(text)))
            }
            WorkNode::Clean(flavors) => {
                let removed = crate::build::clean::remove_images(
                    &self.build.tiers.daemon,
                    &self.build.workspace,
                    Some(flavors),
                )
                .await
                .map_err(NodeError::from_diagnostic)?;
                Ok(Step::Done(WorkOutput::Task(format!(
                    "removed {} image tag{}",
                    removed.tags.len(),
                    if removed.tags.len() == 1 { "" } else { "s" }
                ))))
            }
            WorkNode::Report(outputs) => {
                let mut steps = Vec::new();
                let mut results = Vec::new();
                let mut entities_not_done = Vec::new();
                for (_, output) in &ctx.deps {
                    match output {
                        WorkOutput::Build(b) => steps.push(BuiltStep {
                            step: format!("{}/{}", b.analysis.flavor, b.analysis.step),
                            image: b.analysis.image.clone(),
                            source: b.source.to_string(),
                        }),
                        WorkOutput::Recorded {
                            results: r,
                            not_done: n,
                            ..
                        } => {
                            results.extend(r.iter().cloned());
                            entities_not_done.extend(n.iter().cloned());
                        }
                        _ => {}
                    }
                }
                steps.sort_by(|a, b| a.step.cmp(&b.step));
                let not_done: Vec<NotDone> = ctx
                    .unfinished
                    .iter()
                    .chain(&entities_not_done)
                    .map(|u| NotDone {
                        node: u.id.clone(),
                        why: u.why.clone(),
                    })
                    .collect();
                let written = write_reports(
                    &self.build.workspace.root,
                    outputs,
                    &steps,
                    &results,
                    &not_done,
                )
                .map_err(|e| NodeError::message(format!("cannot write the report: {e}")))?;
                let shown: Vec<String> = written
                    .iter()
                    .map(|p| crate::config::display_path(&self.build.workspace.root, p))
                    .collect();
                Ok(Step::Done(WorkOutput::Task(format!(
                    "wrote {}",
                    shown.join(", ")
                ))))
            }
            WorkNode::Record { flavor, check } => {
                let results: Vec<_> = ctx
                    .deps
                    .iter()
                    .filter_map(|(_, output)| match output {
                        WorkOutput::Entity(result) => Some(result.clone()),
                        _ => None,
                    })
                    .collect();
                let id = format!("{flavor}/{check}");
                // Entities that could not run are node failures, shown as such, and
                // passed on to the report; the others' results are recorded. With none,
                // there is no run to record.
                let history = if results.is_empty() && !ctx.unfinished.is_empty() {
                    None
                } else {
                    Some(
                        self.check
                            .record(&id, results.clone())
                            .map_err(NodeError::from_diagnostic)?,
                    )
                };
                Ok(Step::Done(WorkOutput::Recorded {
                    check: id,
                    results,
                    history,
                    not_done: ctx.unfinished.clone(),
                }))
            }
        }
    }
}

impl WorkExecutor {
    /// Save, push or export: the image of the build node this task depends on.
    async fn image_task(
        &self,
        node: &WorkNode,
        ctx: &RunContext<'_, WorkOutput>,
    ) -> Result<String, NodeError> {
        let analysis = ctx
            .deps
            .iter()
            .find_map(|(_, o)| o.build())
            .map(|b| Arc::clone(&b.analysis))
            .ok_or_else(|| {
                NodeError::message(format!("{}: the image it needs is missing", node.id()))
            })?;
        let tiers = &self.build.tiers;
        match node {
            WorkNode::Save { .. } => {
                let saved = tiers
                    .save(&analysis)
                    .await
                    .map_err(NodeError::from_diagnostic)?;
                Ok(format!(
                    "{} {}",
                    if saved { "saved" } else { "already saved:" },
                    analysis.image
                ))
            }
            WorkNode::Push { .. } => {
                if tiers.registry.is_none() {
                    return Err(
                        NodeError::message("cannot push: kiln.kdl names no registry")
                            .with_help("add `registry \"host:port/repository\"` to kiln.kdl"),
                    );
                }
                let pushed = tiers
                    .push(&analysis)
                    .await
                    .map_err(NodeError::from_diagnostic)?;
                Ok(format!(
                    "{} {}",
                    if pushed {
                        "pushed"
                    } else {
                        "already in the registry:"
                    },
                    analysis.image
                ))
            }
            WorkNode::Export { dir, .. } => {
                let dir = self.build.workspace.root.join(dir);
                let exported =
                    crate::build::export::export(&tiers.daemon, &node.id(), &analysis.image, &dir)
                        .await
                        .map_err(NodeError::from_diagnostic)?;
                Ok(format!(
                    "exported {} (sha256 {})",
                    exported.archive.display(),
                    exported.sha256
                ))
            }
            _ => unreachable!("only image tasks"),
        }
    }

    /// Runs a build node through the build executor, translating its dependencies'
    /// outputs and its own result.
    async fn build(
        &self,
        node: &BuildNode,
        ctx: RunContext<'_, WorkOutput>,
    ) -> Result<Step<WorkNode, WorkOutput>, NodeError> {
        let deps: Vec<(NodeId, &BuildOutput)> = ctx
            .deps
            .iter()
            .filter_map(|(id, output)| output.build().map(|b| (*id, b)))
            .collect();
        let step = self
            .build
            .run(
                node,
                RunContext {
                    node: ctx.node,
                    cancel: ctx.cancel.clone(),
                    deps,
                    unfinished: ctx.unfinished.clone(),
                },
            )
            .await?;
        Ok(match step {
            Step::Done(output) => Step::Done(WorkOutput::Build(output)),
            Step::Expand(expansion) => Step::Expand(Expansion {
                nodes: expansion
                    .nodes
                    .into_iter()
                    .map(|(node, deps)| (WorkNode::Build(node), deps))
                    .collect(),
                join: WorkNode::Build(expansion.join),
            }),
        })
    }
}
