//! The executor of every run: what each kind of node does.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::build::{Builder, Cleaned, Image, Located};
use crate::check::docker::remove_environments;
use crate::check::results::NotDone;
use crate::check::{CheckRunner, EntityTask};
use crate::docker::StatusSink;
use crate::engine::{self, Expansion, NodeError, NodeId, RunContext, Step};
use crate::model::{CheckId, StepId};
use crate::plan::{CleanScope, Graph, Node, Output};

/// Runs the nodes of one graph.
pub struct Executor {
    pub builder: Builder,
    /// `None` when the graph has no checks (nothing to run entities with).
    pub checks: Option<Arc<CheckRunner>>,
    /// The step node of each step, for entity nodes to depend on their environment.
    environments: HashMap<StepId, NodeId>,
}

impl Executor {
    pub fn new(builder: Builder, checks: Option<Arc<CheckRunner>>, graph: &Graph) -> Self {
        let environments = graph
            .node_ids()
            .filter_map(|id| match graph.node(id) {
                Some(Node::Step { step, .. }) => Some((step.clone(), id)),
                _ => None,
            })
            .collect();
        Self {
            builder,
            checks,
            environments,
        }
    }

    fn checks(&self) -> Result<&Arc<CheckRunner>, NodeError> {
        self.checks
            .as_ref()
            .ok_or_else(|| NodeError::message("this run was not set up to run checks"))
    }
}

type Ran = Result<Step<Node, Output>, NodeError>;

#[async_trait]
impl engine::Executor<Node> for Executor {
    type Output = Output;

    async fn run(&self, node: &Node, ctx: RunContext<'_, Output>) -> Ran {
        match node {
            Node::Step {
                step,
                forced,
                wanted,
            } => self.step(step, *forced, *wanted, &ctx).await,
            Node::Obtain(obtain) => {
                let status = ctx.status.clone();
                let status = StatusSink::new(move |message| status.say(message));
                Ok(Step::Done(Output::Image(
                    self.builder.obtain(obtain, status, &ctx.cancel).await?,
                )))
            }
            Node::Discover(check) => self.discover(check).await,
            Node::Entity(task) => self.entity(task, &ctx).await,
            Node::Record(check) => self.record(check, &ctx),
            Node::Save(_) | Node::Push(_) | Node::Export { .. } => {
                let image = needed_image(node, &ctx)?;
                // Interrupted, the task is dropped: a half-written file goes with it.
                ctx.cancel
                    .run_until_cancelled(self.image_task(node, image))
                    .await
                    .ok_or_else(NodeError::cancelled)?
                    .map(Step::Done)
            }
            Node::Clean(scope) => self.clean(scope).await.map(Step::Done),
        }
    }
}

impl Executor {
    /// Analyses a step; unless its image is at hand, the step continues as the node that
    /// loads, pulls or builds it.
    async fn step(
        &self,
        step: &StepId,
        forced: bool,
        wanted: bool,
        ctx: &RunContext<'_, Output>,
    ) -> Ran {
        let needs: Vec<&Image> = ctx.deps.iter().filter_map(|(_, o)| o.image()).collect();
        Ok(
            match self
                .builder
                .analyze(step, forced, wanted, &needs, &ctx.cancel)
                .await?
            {
                Located::Done(image) if self.builder.policy.plan_only => {
                    Step::Done(Output::Planned(image))
                }
                Located::Done(image) => Step::Done(Output::Image(image)),
                Located::Obtain(obtain) => Step::Expand(Expansion {
                    nodes: Vec::new(),
                    join: Node::Obtain(Arc::new(obtain)),
                }),
            },
        )
    }

    /// Reads a check's entities: one node each, after its environment's step, and the
    /// join that records their results.
    async fn discover(&self, check: &CheckId) -> Ran {
        let runner = Arc::clone(self.checks()?);
        runner
            .prepare(check)
            .await
            .map_err(NodeError::from_diagnostic)?;
        let id = check.clone();
        let tasks = tokio::task::spawn_blocking(move || runner.discover(&id))
            .await
            .map_err(NodeError::message)?
            .map_err(NodeError::from_diagnostic)?;
        let mut nodes = Vec::with_capacity(tasks.len());
        for task in tasks {
            let environment = *self.environments.get(&task.environment).ok_or_else(|| {
                NodeError::message(format!(
                    "{}: no build of environment {}",
                    task.id, task.environment
                ))
            })?;
            nodes.push((Node::Entity(Arc::new(task)), vec![environment]));
        }
        Ok(Step::Expand(Expansion {
            nodes,
            join: Node::Record(check.clone()),
        }))
    }

    async fn entity(&self, task: &EntityTask, ctx: &RunContext<'_, Output>) -> Ran {
        let image = ctx
            .deps
            .iter()
            .filter_map(|(_, o)| o.image())
            .find(|image| image.step == task.environment)
            .ok_or_else(|| {
                NodeError::message(format!("{}: its environment image is missing", task.id))
            })?;
        if self.builder.policy.plan_only {
            let planned = self
                .checks()?
                .plan(task, &image.tag, &image.hash, &ctx.cancel)
                .await
                .map_err(NodeError::from_diagnostic)?;
            return Ok(Step::Done(Output::PlannedEntity(planned)));
        }
        let result = self
            .checks()?
            .run(task, &image.tag, &ctx.cancel)
            .await
            .map_err(NodeError::from_diagnostic)?;
        Ok(Step::Done(Output::Entity(result)))
    }

    /// Records the entities that finished and lists those that did not.
    fn record(&self, check: &CheckId, ctx: &RunContext<'_, Output>) -> Ran {
        // A plan records nothing: it counts what it planned.
        if self.builder.policy.plan_only {
            let planned = ctx
                .deps
                .iter()
                .filter(|(_, o)| matches!(o, Output::PlannedEntity(_)))
                .count();
            return Ok(Step::Done(Output::Recorded(crate::check::Recorded {
                check: check.clone(),
                results: planned,
                history: None,
                not_done: Vec::new(),
            })));
        }
        let results = ctx
            .deps
            .iter()
            .filter_map(|(_, output)| match output {
                Output::Entity(result) => Some(result.clone()),
                _ => None,
            })
            .collect();
        let not_done = ctx
            .unfinished
            .iter()
            .map(|u| NotDone {
                node: u.id.clone(),
                why: u.why.clone(),
            })
            .collect();
        let recorded = self
            .checks()?
            .record(check, results, not_done)
            .map_err(NodeError::from_diagnostic)?;
        Ok(Step::Done(Output::Recorded(recorded)))
    }

    /// Save, push or export `image`.
    async fn image_task(&self, node: &Node, image: &Image) -> Result<Output, NodeError> {
        let tiers = &self.builder.tiers;
        let step = image.step.clone();
        let tag = image.tag.clone();
        match node {
            Node::Save(_) => {
                let written = tiers
                    .save(&image.analysis)
                    .await
                    .map_err(NodeError::from_diagnostic)?;
                Ok(Output::Saved { step, tag, written })
            }
            Node::Push(_) => {
                if tiers.registry.is_none() {
                    return Err(
                        NodeError::message("cannot push: kiln.kdl names no registry")
                            .with_help("add `registry \"host:port/repository\"` to kiln.kdl"),
                    );
                }
                let written = tiers
                    .push(&image.analysis)
                    .await
                    .map_err(NodeError::from_diagnostic)?;
                Ok(Output::Pushed { step, tag, written })
            }
            Node::Export { dir, .. } => {
                let dir = self.builder.workspace.root.join(dir);
                let exported = crate::build::export(&tiers.daemon, &step, &tag, &dir)
                    .await
                    .map_err(NodeError::from_diagnostic)?;
                Ok(Output::Exported(exported))
            }
            _ => Err(NodeError::message(format!(
                "{}: not an image task",
                engine::Node::id(node)
            ))),
        }
    }

    /// Removes the workspace's environment containers first (an image a container uses
    /// cannot be removed), then its images; lists every tag that stayed.
    async fn clean(&self, scope: &CleanScope) -> Result<Output, NodeError> {
        let daemon = &self.builder.tiers.daemon;
        let workspace = &self.builder.workspace;
        let mut cleaned = Cleaned {
            containers: remove_environments(
                daemon,
                &workspace.root,
                &workspace.settings.state_dir,
                scope.flavors(),
            )
            .await
            .map_err(NodeError::from_diagnostic)?,
            ..Cleaned::default()
        };
        crate::build::remove_images(daemon, workspace, scope.flavors(), &mut cleaned)
            .await
            .map_err(NodeError::from_diagnostic)?;
        Ok(Output::Cleaned(cleaned))
    }
}

/// The image of the step a save, push or export waits for.
fn needed_image<'a>(node: &Node, ctx: &'a RunContext<'_, Output>) -> Result<&'a Image, NodeError> {
    ctx.deps.iter().find_map(|(_, o)| o.image()).ok_or_else(|| {
        NodeError::message(format!(
            "{}: the image it needs is missing",
            engine::Node::id(node)
        ))
    })
}
